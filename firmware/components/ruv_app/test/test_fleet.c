/* test_fleet.c — ruv_app's fleet logic (app_fleet.c, app_update.c) on an
 * in-memory platform: topics, availability and discovery on connect, the
 * state JSON of each tick and its drop counting, model/set delivered in
 * pieces at arbitrary offsets (as esp-mqtt delivers a message larger than
 * its buffer) through the signed update path, refusals with the old model
 * kept, no key, and the lock discipline. Crypto is a fake backend (real
 * ECDSA: tests/host/test_signing.py, tests/fleet/). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ruv_app.h"
#include "ruv_app_fleet.h"

static int g_fail;
#define CHECK(c)                                                                 \
    do {                                                                         \
        if (!(c)) {                                                              \
            fprintf(stderr, "%s:%d: CHECK(%s) failed\n", __FILE__, __LINE__, #c); \
            ++g_fail;                                                            \
        }                                                                        \
    } while (0)

#define SLOT_SIZE (64u * 1024u)
static uint8_t g_slot[2][SLOT_SIZE];
static char g_out[65536];
static size_t g_out_len;
static uint64_t g_now;

static uint64_t t_time(void *u) { (void)u; return g_now; }
static int t_count(void *u) { (void)u; return 2; }
static size_t t_size(void *u, int i) { (void)u; (void)i; return SLOT_SIZE; }
static size_t t_align(void *u) { (void)u; return 4096; }
static ruv_status_t t_map(void *u, int i, const uint8_t **d, size_t *n)
{
    (void)u;
    *d = g_slot[i];
    *n = SLOT_SIZE;
    return RUV_OK;
}
static ruv_status_t t_erase(void *u, int i, size_t off, size_t len)
{
    (void)u;
    memset(g_slot[i] + off, 0xFF, len);
    return RUV_OK;
}
static ruv_status_t t_write(void *u, int i, size_t off, const void *src, size_t len)
{
    (void)u;
    memcpy(g_slot[i] + off, src, len);
    return RUV_OK;
}
static void t_console(void *u, const char *t, size_t n)
{
    (void)u;
    if (g_out_len + n < sizeof g_out) {
        memcpy(g_out + g_out_len, t, n);
        g_out_len += n;
        g_out[g_out_len] = '\0';
    }
}
static void t_log(void *u, ruv_log_level_t l, const char *m)
{
    (void)u;
    (void)l;
    char line[300];
    snprintf(line, sizeof line, "L %s\n", m);
    t_console(NULL, line, strlen(line));
}

/* Lock: never taken twice (the app's callbacks run with it held and must
 * not re-enter); every platform callback below runs with it held once the
 * app is initialised. */
static int g_lock_depth, g_lock_count;
static void t_lock(void *u)
{
    (void)u;
    CHECK(g_lock_depth == 0);
    ++g_lock_depth;
    ++g_lock_count;
}
static void t_unlock(void *u)
{
    (void)u;
    CHECK(g_lock_depth == 1);
    --g_lock_depth;
}

static void put16(uint8_t *b, uint16_t v) { b[0] = (uint8_t)v; b[1] = (uint8_t)(v >> 8); }
static void put32(uint8_t *b, uint32_t v) { put16(b, (uint16_t)v); put16(b + 2, (uint16_t)(v >> 16)); }

/* Valid RVNE v1 blob, FP32, no sections: D=16 q=2 kv=1 d=8 L=2 C=4. */
static size_t make_blob(uint8_t *b, uint16_t d, uint32_t seed)
{
    const uint16_t q = 2, kv = 1, hd = 8, layers = 2, c = 4;
    uint32_t n = layers * (uint32_t)(d * q * hd + 2 * d * kv * hd + q * hd * d) + (uint32_t)d * c;
    put32(b, 0x52564E45u);
    put16(b + 4, 1);
    b[6] = 0;
    b[7] = 0;
    put16(b + 8, d); put16(b + 10, q); put16(b + 12, kv); put16(b + 14, hd); put16(b + 16, layers); put16(b + 18, c);
    put32(b + 20, n * 4u);
    uint32_t x = seed * 2654435761u + 1u;
    for (uint32_t i = 0; i < n; ++i) {
        x ^= x << 13; x ^= x >> 17; x ^= x << 5;
        float w = ((float)(x >> 8) / 16777216.0f - 0.5f) * 0.2f;
        memcpy(b + 24 + 4 * i, &w, 4);
    }
    size_t len = 24 + 4u * n;
    put32(b + len, ruv_crc32(0, b, len));
    return len + 4;
}

static uint32_t blob_crc(const uint8_t *b, size_t len)
{
    return (uint32_t)b[len - 4] | (uint32_t)b[len - 3] << 8 | (uint32_t)b[len - 2] << 16 | (uint32_t)b[len - 1] << 24;
}

static const ruv_app_platform_t PLAT = {
    .abi = RUV_APP_PLATFORM_ABI, .time_us = t_time, .slot_count = t_count, .slot_size = t_size,
    .erase_align = t_align, .slot_map = t_map, .slot_erase = t_erase, .slot_write = t_write,
    .console_write = t_console, .log = t_log, .lock = t_lock, .unlock = t_unlock,
};


/* ---- fake crypto: toy digest, "signature" = digest twice ----------------- */
static uint8_t g_state[32];
static size_t g_pos;
static ruv_status_t f_start(void *u) { (void)u; memset(g_state, 0x5A, 32); g_pos = 0; return RUV_OK; }
static ruv_status_t f_update(void *u, const uint8_t *d, size_t n)
{
    (void)u;
    for (size_t i = 0; i < n; i++, g_pos++) {
        g_state[g_pos % 32] = (uint8_t)(g_state[g_pos % 32] * 31u + d[i] + (uint8_t)g_pos);
    }
    return RUV_OK;
}
static ruv_status_t f_finish(void *u, uint8_t h[32]) { (void)u; memcpy(h, g_state, 32); return RUV_OK; }
static ruv_status_t f_verify(void *u, const uint8_t h[32], const uint8_t s[64])
{
    (void)u;
    return memcmp(h, s, 32) == 0 && memcmp(h, s + 32, 32) == 0 ? RUV_OK : RUV_ERR_INVALID_CRC;
}
static const ruv_sign_crypto_t k_fake = {NULL, f_start, f_update, f_finish, f_verify};
static const uint8_t k_key[8] = {9, 8, 7, 6, 5, 4, 3, 2};

static size_t make_env(uint8_t *out, const uint8_t *blob, size_t n, uint32_t gen)
{
    uint8_t h[32];
    memset(out, 0, 32);
    put32(out, RUV_SIGN_MAGIC);
    out[4] = 1;
    out[6] = 32;
    put32(out + 8, gen);
    put32(out + 12, (uint32_t)n);
    memcpy(out + 16, k_key, 8);
    out[24] = 1;
    memcpy(out + 32, blob, n);
    f_start(NULL);
    f_update(NULL, out, 32 + n);
    f_finish(NULL, h);
    memcpy(out + 32 + n, h, 32);
    memcpy(out + 64 + n, h, 32);
    return 96 + n;
}

/* ---- MQTT port: records messages ------------------------------------------- */
typedef struct {
    char topic[160];
    char payload[4096];
    int qos;
    bool retain;
} msg_t;
static msg_t g_msgs[64];
static int g_nmsg;
static int g_port_result; /* what publish returns (0 queued, -1 refused) */
static int t_publish(void *u, const char *topic, const void *payload, size_t len, int qos, bool retain)
{
    (void)u;
    CHECK(g_lock_depth == 1); /* called from inside the app, lock held */
    if (g_port_result != 0) {
        return g_port_result;
    }
    if (g_nmsg < 64 && len < sizeof g_msgs[0].payload) {
        msg_t *m = &g_msgs[g_nmsg++];
        snprintf(m->topic, sizeof m->topic, "%s", topic);
        memcpy(m->payload, payload, len);
        m->payload[len] = '\0';
        m->qos = qos;
        m->retain = retain;
    }
    return 0;
}
static const ruv_app_mqtt_port_t PORT = {NULL, t_publish};

static const msg_t *last_on(const char *topic)
{
    for (int i = g_nmsg - 1; i >= 0; --i) {
        if (strcmp(g_msgs[i].topic, topic) == 0) {
            return &g_msgs[i];
        }
    }
    return NULL;
}

static int count_on(const char *topic)
{
    int n = 0;
    for (int i = 0; i < g_nmsg; ++i) {
        n += strcmp(g_msgs[i].topic, topic) == 0;
    }
    return n;
}

/* Delivers a model/set message in pieces of `piece` bytes. */
static void deliver(const uint8_t *data, size_t len, size_t piece)
{
    for (size_t off = 0; off < len || (len == 0 && off == 0); off += piece) {
        size_t n = len - off < piece ? len - off : piece;
        ruv_app_mqtt_model_data(data + off, n, off, len);
        if (len == 0) {
            break;
        }
    }
}

static void tick(void)
{
    float frame[16];
    for (int i = 0; i < 16; ++i) {
        frame[i] = (float)(i % 5) * 0.25f - 0.5f;
    }
    CHECK(ruv_app_push_frame(frame) == RUV_OK);
    CHECK(ruv_app_classify_tick() == RUV_OK);
}

int main(void)
{
    static uint8_t b1[32768], b2[32768], env[40000];
    const size_t n1 = make_blob(b1, 16, 1), n2 = make_blob(b2, 16, 2);
    memset(g_slot, 0xFF, sizeof g_slot);
    memcpy(g_slot[0], b1, n1); /* factory slot: a bare blob */
    ruv_temporal_config_t cfg = {16, 64, 4, RUV_MODE_WINDOW, false};
    ruv_app_set_model_key(&k_fake, k_key);
    CHECK(ruv_app_init(&PLAT, &cfg) == RUV_OK);

    CHECK(ruv_app_mqtt_init(&PORT, "a/b#", "1") == RUV_ERR_INVALID_ARG);
    CHECK(ruv_app_mqtt_init(&PORT, "ruv", "x/y") == RUV_ERR_INVALID_ARG);
    CHECK(ruv_app_mqtt_init(&PORT, "site1/ruv", "7") == RUV_OK);
    CHECK(strcmp(ruv_app_mqtt_availability_topic(), "site1/ruv/7/availability") == 0);
    CHECK(strcmp(ruv_app_mqtt_model_set_topic(), "site1/ruv/7/model/set") == 0);

    /* not connected: a tick counts a drop, publishes nothing */
    tick();
    ruv_app_mqtt_stats_t st;
    ruv_app_mqtt_get_stats(&st);
    CHECK(st.enabled && !st.connected && st.dropped == 1 && st.published == 0 && g_nmsg == 0);

    /* connect: availability + discovery, retained */
    ruv_app_mqtt_connected();
    const msg_t *m = last_on("site1/ruv/7/availability");
    CHECK(m != NULL && strcmp(m->payload, "online") == 0 && m->retain && m->qos == 1);
    m = last_on("homeassistant/sensor/ruv_site1_ruv_7/activity/config");
    CHECK(m != NULL && m->retain);
    CHECK(m != NULL && strstr(m->payload, "\"options\":[\"class0\",\"class1\",\"class2\",\"class3\"]") != NULL);
    CHECK(m != NULL && strstr(m->payload, "\"state_topic\":\"site1/ruv/7/state\"") != NULL);
    CHECK(last_on("homeassistant/sensor/ruv_site1_ruv_7/confidence/config") != NULL);

    /* state: seq 2 (the dropped one was 1), exact logits, model crc */
    tick();
    m = last_on("site1/ruv/7/state");
    CHECK(m != NULL && strstr(m->payload, "\"seq\":2,") != NULL && m->qos == 0 && !m->retain);
    char crc_txt[32];
    snprintf(crc_txt, sizeof crc_txt, "\"model_crc\":\"0x%08lX\"", (unsigned long)blob_crc(b1, n1));
    CHECK(m != NULL && strstr(m->payload, crc_txt) != NULL);
    CHECK(m != NULL && strncmp(m->payload, "{\"label\":\"class", 15) == 0);
    /* the port refusing (outbox full) is a drop, classification goes on */
    g_port_result = -1;
    tick();
    g_port_result = 0;
    ruv_app_mqtt_get_stats(&st);
    CHECK(st.published == 1 && st.dropped == 2);
    tick();
    m = last_on("site1/ruv/7/state");
    CHECK(m != NULL && strstr(m->payload, "\"seq\":4,") != NULL);

    /* a signed model in pieces of every awkward size: commits */
    const size_t ne = make_env(env, b2, n2, 3);
    deliver(env, ne, 1000);
    m = last_on("site1/ruv/7/model/status");
    char want[160];
    snprintf(want, sizeof want, "{\"ok\":true,\"reason\":\"ok\",\"model_crc\":\"0x%08lX\",\"generation\":3}",
             (unsigned long)blob_crc(b2, n2));
    CHECK(m != NULL && strcmp(m->payload, want) == 0);
    CHECK(count_on("site1/ruv/7/model/status") == 1);

    /* refusals: each answered once, old model (b2) kept */
    static const struct {
        size_t cut;    /* 0: whole */
        uint32_t gen;
        int flip;      /* byte index to flip, -1 none */
        size_t piece;
        const char *reason;
    } cases[] = {
        {0, 3, -1, 7, "old_generation"},   {0, 2, -1, 333, "old_generation"},
        {0, 4, 500, 31, "bad_signature"},  {10, 4, -1, 64, "truncated"},
        {0, 4, 17, 4096, "key_mismatch"},  {0, 4, 0, 1, "bad_magic"},
    };
    for (size_t k = 0; k < sizeof cases / sizeof cases[0]; ++k) {
        size_t n = make_env(env, b1, n1, cases[k].gen);
        if (cases[k].flip >= 0) {
            env[cases[k].flip] ^= 0x40;
        }
        if (cases[k].cut) {
            n -= cases[k].cut;
        }
        const int before = count_on("site1/ruv/7/model/status");
        deliver(env, n, cases[k].piece);
        CHECK(count_on("site1/ruv/7/model/status") == before + 1);
        m = last_on("site1/ruv/7/model/status");
        snprintf(want, sizeof want, "{\"ok\":false,\"reason\":\"%s\",\"model_crc\":\"0x%08lX\",\"generation\":3}",
                 cases[k].reason, (unsigned long)blob_crc(b2, n2));
        if (m == NULL || strcmp(m->payload, want) != 0) {
            fprintf(stderr, "case %zu: got %s\nwant %s\n", k, m ? m->payload : "(none)", want);
            ++g_fail;
        }
    }
    /* a bare blob */
    deliver(b1, n1, 2048);
    m = last_on("site1/ruv/7/model/status");
    CHECK(m != NULL && strstr(m->payload, "\"reason\":\"unsigned\"") != NULL);
    ruv_app_mqtt_get_stats(&st);
    CHECK(st.models_ok == 1 && st.models_refused == 7);

    /* the replay floor survives a reboot (slot header word 24) */
    ruv_app_deinit();
    CHECK(ruv_app_init(&PLAT, &cfg) == RUV_OK);
    CHECK(ruv_app_mqtt_init(&PORT, "site1/ruv", "7") == RUV_OK);
    ruv_app_mqtt_connected();
    deliver(env, make_env(env, b1, n1, 3), 5000);
    m = last_on("site1/ruv/7/model/status");
    CHECK(m != NULL && strstr(m->payload, "\"reason\":\"old_generation\"") != NULL);
    deliver(env, make_env(env, b1, n1, 4), 5000);
    m = last_on("site1/ruv/7/model/status");
    CHECK(m != NULL && strstr(m->payload, "\"ok\":true") != NULL && strstr(m->payload, "\"generation\":4") != NULL);

    /* no key: nothing from the network */
    ruv_app_set_model_key(NULL, NULL);
    deliver(env, make_env(env, b2, n2, 9), 5000);
    m = last_on("site1/ruv/7/model/status");
    CHECK(m != NULL && strstr(m->payload, "\"reason\":\"no_key\"") != NULL);

    /* refused connection is recorded */
    ruv_app_mqtt_disconnected();
    ruv_app_mqtt_refused("not authorised");
    ruv_app_mqtt_get_stats(&st);
    CHECK(!st.connected && st.refusals == 1 && strcmp(st.last_refusal, "not authorised") == 0);
    CHECK(g_lock_depth == 0 && g_lock_count > 0);

    ruv_app_deinit();
    if (g_fail) {
        fprintf(stderr, "test_fleet: %d check(s) failed\n", g_fail);
        return 1;
    }
    printf("test_fleet: ok\n");
    return 0;
}
