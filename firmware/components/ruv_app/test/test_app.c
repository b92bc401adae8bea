/* test_app.c — ruv_app on an in-memory platform: slot selection at boot,
 * refusal of corrupt/mismatched slots, drift-free schedule, telemetry
 * encoding, protocol replies. Links the real core (ruv_temporal_core). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ruv_app.h"

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
static int g_lock_depth, g_lock_count, g_unlocked_calls;
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
static int g_sent;
static uint8_t g_last_pkt[40];
static int t_send(void *u, const uint8_t *pkt, size_t n)
{
    (void)u;
    CHECK(n == 40);
    g_unlocked_calls += g_lock_depth == 0;
    memcpy(g_last_pkt, pkt, 40);
    ++g_sent;
    return 0;
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
    .console_write = t_console, .log = t_log, .telemetry_send = t_send, .lock = t_lock, .unlock = t_unlock,
};

static const ruv_temporal_config_t g_cfg = {16, 64, 4, RUV_MODE_WINDOW, false};

/* `bench` clock: every read advances by 7, so every measured call counts 7. */
static uint32_t g_ticks;
static int g_yields;
static uint32_t t_cycles(void *u) { (void)u; CHECK(g_lock_depth == 1); return g_ticks += 7u; }
static void t_yield(void *u) { (void)u; CHECK(g_lock_depth == 1); ++g_yields; }
static const ruv_app_platform_t PLAT_BENCH = {
    .abi = RUV_APP_PLATFORM_ABI, .time_us = t_time, .slot_count = t_count, .slot_size = t_size,
    .erase_align = t_align, .slot_map = t_map, .slot_erase = t_erase, .slot_write = t_write,
    .console_write = t_console, .log = t_log, .telemetry_send = t_send, .lock = t_lock, .unlock = t_unlock,
    .cycle_count = t_cycles, .cycle_unit = "ticks", .yield = t_yield,
};

static int out_starts(const char *prefix)
{
    return strncmp(g_out, prefix, strlen(prefix)) == 0;
}

static void line(const char *s)
{
    g_out_len = 0;
    g_out[0] = '\0';
    ruv_app_handle_line(s, strlen(s));
}


/* A framed request "body *seq:crc" (docs/protocol.md, "Link layer"; the
 * CRC covers "body *seq"). */
static void framed(const char *body, uint32_t seq)
{
    static char buf[RUV_PROTO_LINE_MAX + 1];
    int n = snprintf(buf, sizeof buf, "%s *%lu", body, (unsigned long)seq);
    snprintf(buf + n, sizeof buf - (size_t)n, ":%08lx", (unsigned long)ruv_crc32(0, buf, (size_t)n));
    line(buf);
}

/* The last line in g_out (the reply; log lines may precede it) carries a
 * correct "*<crc>" trailer. */
static int sealed(void)
{
    size_t n = strlen(g_out);
    const char *ln = g_out;
    for (const char *p = g_out; p + 1 < g_out + n; ++p) {
        if (*p == '\n') {
            ln = p + 1;
        }
    }
    n -= (size_t)(ln - g_out);
    if (n < 12 || ln[n - 1] != '\n' || ln[n - 11] != ' ' || ln[n - 10] != '*') {
        return 0;
    }
    char want[16];
    snprintf(want, sizeof want, "%08lx", (unsigned long)ruv_crc32(0, ln, n - 11));
    return memcmp(ln + n - 9, want, 8) == 0;
}

static unsigned long stat_field(const char *key)
{
    line("stats");
    const char *p = strstr(g_out, key);
    return p != NULL ? strtoul(p + strlen(key), NULL, 10) : 999999ul;
}

/* Link layer through the app: a resend is answered from the cache and never
 * executed twice (push, load chunk, classify); gaps, bad checksums and a
 * reused number are refused without running anything. A model runs. */
static void test_link_app(const uint8_t *blob, size_t blob_len)
{
    static char saved[8192], saved2[8192];
    char body[600];

    framed("#n1 ping", 1);
    CHECK(strncmp(g_out, "@E n1 0x103 INVALID_STATE link: no session *", 44) == 0 && sealed());
    line("#l1 link 0");
    CHECK(strncmp(g_out, "@E l1 0x102", 11) == 0);
    framed("#l2 link 5", 1);
    CHECK(strncmp(g_out, "@E l2 0x103 INVALID_STATE link: no session", 42) == 0);
    line("#l3 link 10");
    CHECK(strcmp(g_out, "@R l3 link next=10 cache=32 cache_bytes=8192\n") == 0);
    const unsigned long rejected0 = stat_field(" rejected=");

    framed("#a10 reset", 10);
    CHECK(strncmp(g_out, "@R a10 reset", 12) == 0 && sealed());
    /* a push, then its resend: same reply bytes, one frame in the core */
    int h = snprintf(body, sizeof body, "#a11 push 1 ");
    for (int i = 0; i < 16; ++i) {
        h += snprintf(body + h, sizeof body - (size_t)h, "%08lx", 0x3f000000ul + (unsigned long)i * 0x10000ul);
    }
    framed(body, 11);
    CHECK(strncmp(g_out, "@R a11 push n=1 accepted=1 dropped=0 frames=1", 45) == 0 && sealed());
    strcpy(saved, g_out);
    framed(body, 11);
    CHECK(strcmp(g_out, saved) == 0);
    CHECK(stat_field(" frames=") == 1 && stat_field(" link_replayed=") == 1);

    /* classify, a push that changes the logits, then the classify resent:
     * the first logits again, not a second classification */
    framed("#a12 classify", 12);
    CHECK(strncmp(g_out, "@R a12 classify", 15) == 0 && sealed());
    strcpy(saved, g_out);
    body[2] = '1';
    body[3] = '3'; /* "#a13 push 1 ..." */
    memcpy(body + 12, "40400000", 8);
    framed(body, 13);
    CHECK(strncmp(g_out, "@R a13 push n=1 accepted=1 dropped=0 frames=2", 45) == 0);
    framed("#a12 classify", 12);
    CHECK(strcmp(g_out, saved) == 0);
    CHECK(stat_field(" classifications=") == 1);
    framed("#a14 classify", 14);
    CHECK(strncmp(g_out, "@R a14 classify", 15) == 0 && strcmp(strstr(g_out, "logits="), strstr(saved, "logits=")) != 0);

    /* a gap (15 lost): refused, not executed; expected number in the message */
    body[2] = '1';
    body[3] = '6';
    framed(body, 16);
    CHECK(strncmp(g_out, "@E a16 0x103 INVALID_STATE link: out of sequence, expected 15 *", 63) == 0 && sealed());
    /* a corrupted line (one hex digit): checksum refused, not executed */
    {
        static char bad[700];
        int n = snprintf(bad, sizeof bad, "%s *15", body);
        snprintf(bad + n, sizeof bad - (size_t)n, ":%08lx", (unsigned long)ruv_crc32(0, bad, (size_t)n));
        bad[20] = bad[20] == '0' ? '1' : '0';
        line(bad);
        CHECK(strncmp(g_out, "@E a16 0x109 INVALID_CRC link: line checksum *", 46) == 0 && sealed());
        line("#x ping *15:zz");
        CHECK(strncmp(g_out, "@E x 0x109 INVALID_CRC link: bad trailer *", 42) == 0 && sealed());
    }
    CHECK(stat_field(" frames=") == 2);
    framed(body, 15); /* now in sequence */
    CHECK(strncmp(g_out, "@R a16 push n=1 accepted=1 dropped=0 frames=3", 45) == 0);
    /* the same number with another line: refused, never replayed or run */
    framed("#a15 reset", 15);
    CHECK(strncmp(g_out, "@E a15 0x103 INVALID_STATE link: reply no longer cached", 55) == 0);
    CHECK(stat_field(" frames=") == 3);
    /* a request the app refuses is cached like any answer: its resend gets
     * the same error and is counted once */
    framed("#a16 bogus", 16);
    strcpy(saved, g_out);
    CHECK(strncmp(g_out, "@E a16 0x106 NOT_SUPPORTED unknown command *", 44) == 0 && sealed());
    framed("#a16 bogus", 16);
    CHECK(strcmp(g_out, saved) == 0);
    /* rejected: no session, bad link usage x2 before rejected0; after it:
     * gap, checksum, bad trailer, reused number, unknown command */
    CHECK(stat_field(" rejected=") == rejected0 + 5 && stat_field(" link_refused=") == 6);

    /* a framed push whose trailer was hit ('*' changed): a plain line with
     * one token too many, refused by the push's argument count (nothing
     * runs outside the sequence); the session still expects 17 */
    {
        static char bad[700];
        int n = snprintf(bad, sizeof bad, "%s *17", body);
        snprintf(bad + n, sizeof bad - (size_t)n, ":%08lx", (unsigned long)ruv_crc32(0, bad, (size_t)n));
        *strchr(bad, '*') = '0';
        line(bad);
        CHECK(strncmp(g_out, "@E a16 0x102 INVALID_ARG", 24) == 0 && strstr(g_out, " *") == NULL);
        CHECK(stat_field(" frames=") == 3);
    }

    /* plain (v1) lines in between are untouched by the session */
    line("#a16 ping");
    CHECK(strcmp(g_out, "@R a16 ping\n") == 0);

    /* an upload whose every chunk is sent twice: each chunk appended once,
     * the commit sees the right length and CRC */
    uint32_t seq = 17;
    snprintf(body, sizeof body, "#u0 load begin %lu %08lx", (unsigned long)blob_len,
             (unsigned long)ruv_crc32(0, blob, blob_len));
    framed(body, seq++);
    CHECK(strstr(g_out, "\n@R u0 load begin slot=0 ") != NULL && sealed()); /* after a log line */
    static char chunk[RUV_PROTO_LINE_MAX + 1];
    for (size_t off = 0; off < blob_len; off += 900) {
        const size_t k = blob_len - off < 900 ? blob_len - off : 900;
        int c = snprintf(chunk, sizeof chunk, "#u%lu load chunk %lu %08lx ", (unsigned long)seq, (unsigned long)off,
                         (unsigned long)ruv_crc32(0, blob + off, k));
        for (size_t i = 0; i < k; ++i) {
            snprintf(chunk + c + 2 * i, 3, "%02x", blob[off + i]);
        }
        framed(chunk, seq);
        snprintf(saved2, sizeof saved2, "@R u%lu load chunk next=%lu *", (unsigned long)seq,
                 (unsigned long)(off + k));
        CHECK(strncmp(g_out, saved2, strlen(saved2)) == 0);
        strcpy(saved, g_out);
        framed(chunk, seq);
        CHECK(strcmp(g_out, saved) == 0);
        ++seq;
    }
    framed("#uc load commit", seq++);
    CHECK(strstr(g_out, " commit model=") != NULL && sealed());

    /* the cache keeps the newest 32 replies: the 33rd-newest is gone */
    const uint32_t first = seq;
    for (int i = 0; i < 33; ++i) {
        snprintf(body, sizeof body, "#e%d ping", i);
        framed(body, seq++);
    }
    framed("#e1 ping", first + 1);
    CHECK(strncmp(g_out, "@R e1 ping *", 12) == 0);
    framed("#e0 ping", first);
    CHECK(strncmp(g_out, "@E e0 0x103 INVALID_STATE link: reply no longer cached", 54) == 0);

    /* a reboot ends the session */
    CHECK(ruv_app_init(&PLAT, &g_cfg) == RUV_OK);
    framed("#z ping", seq);
    CHECK(strncmp(g_out, "@E z 0x103 INVALID_STATE link: no session", 41) == 0);
    CHECK(stat_field(" link_replayed=") == 0);
}

int main(void)
{
    static uint8_t b1[32768], b2[32768], b3[32768];
    size_t n1 = make_blob(b1, 16, 1), n2 = make_blob(b2, 16, 2), n3 = make_blob(b3, 8, 3);
    char want[64];
    const ruv_temporal_config_t cfg = {16, 64, 4, RUV_MODE_WINDOW, false};

    /* blank slots: runs, NOT_FOUND */
    memset(g_slot, 0xFF, sizeof g_slot);
    CHECK(ruv_app_init(&PLAT, &cfg) == RUV_ERR_NOT_FOUND);
    CHECK(strstr(g_out, "@B ruv-temporal") != NULL && strstr(g_out, "model=none") != NULL);
    line("#q classify");
    CHECK(strncmp(g_out, "@E q 0x105 NOT_FOUND", 20) == 0);

    /* two valid slots: highest generation wins */
    CHECK(ruv_app_slot_image(g_slot[0], SLOT_SIZE, b1, n1, 5, 4096) == 4096 + n1);
    CHECK(ruv_app_slot_image(g_slot[1], SLOT_SIZE, b2, n2, 6, 4096) == 4096 + n2);
    g_out_len = 0;
    CHECK(ruv_app_init(&PLAT, &cfg) == RUV_OK);
    snprintf(want, sizeof want, "model=%08lx slot=1 gen=6", (unsigned long)blob_crc(b2, n2));
    CHECK(strstr(g_out, want) != NULL);

    /* corrupt the newer blob: falls back to the older slot, with a log line */
    g_slot[1][4096 + 100] ^= 0x40;
    g_out_len = 0;
    CHECK(ruv_app_init(&PLAT, &cfg) == RUV_OK);
    snprintf(want, sizeof want, "model=%08lx slot=0 gen=5", (unsigned long)blob_crc(b1, n1));
    CHECK(strstr(g_out, want) != NULL);
    CHECK(strstr(g_out, "slot 1 (generation 6) refused: slot CRC mismatch") != NULL);

    /* a model for another input dim is refused clearly */
    CHECK(ruv_app_slot_image(g_slot[1], SLOT_SIZE, b3, n3, 9, 4096) == 4096 + n3);
    g_out_len = 0;
    CHECK(ruv_app_init(&PLAT, &cfg) == RUV_OK);
    CHECK(strstr(g_out, "refused: model input_dim differs") != NULL);
    CHECK(strstr(g_out, "slot=0 gen=5") != NULL);

    /* torn header (header CRC) -> ignored */
    CHECK(ruv_app_slot_image(g_slot[1], SLOT_SIZE, b2, n2, 7, 4096) == 4096 + n2);
    g_slot[1][8] ^= 1;
    g_out_len = 0;
    CHECK(ruv_app_init(&PLAT, &cfg) == RUV_OK);
    CHECK(strstr(g_out, "slot=0 gen=5") != NULL);

    /* upload via the protocol goes to slot 1, generation 6 */
    char cmd[256];
    snprintf(cmd, sizeof cmd, "load begin %lu %08lx", (unsigned long)n2, (unsigned long)ruv_crc32(0, b2, n2));
    line(cmd);
    CHECK(strstr(g_out, "@R - load begin slot=1") != NULL);
    static char big[RUV_PROTO_LINE_MAX + 1];
    for (size_t off = 0; off < n2; off += 1000) {
        size_t k = n2 - off < 1000 ? n2 - off : 1000;
        int h = snprintf(big, sizeof big, "load chunk %lu %08lx ", (unsigned long)off,
                         (unsigned long)ruv_crc32(0, b2 + off, k));
        for (size_t i = 0; i < k; ++i) {
            snprintf(big + h + 2 * i, 3, "%02x", b2[off + i]);
        }
        line(big);
        CHECK(strncmp(g_out, "@R - load chunk", 15) == 0);
    }
    uint8_t slot0_before[4096];
    memcpy(slot0_before, g_slot[0], sizeof slot0_before);
    line("load commit");
    snprintf(want, sizeof want, "commit model=%08lx slot=1 gen=6", (unsigned long)blob_crc(b2, n2));
    CHECK(strstr(g_out, want) != NULL);
    CHECK(memcmp(slot0_before, g_slot[0], sizeof slot0_before) == 0);

    /* push + classify: logits hex of n_classes, layer replies */
    char push[600];
    int h = snprintf(push, sizeof push, "#p push 2 ");
    for (int i = 0; i < 32; ++i) {
        h += snprintf(push + h, sizeof push - (size_t)h, "%s", (i & 1) ? "3f800000" : "bf000000");
    }
    line(push);
    CHECK(strncmp(g_out, "@R p push n=2 accepted=2 dropped=0 frames=2", 43) == 0);
    /* push count whose hex length n*D*8 wraps a 32-bit size_t to one frame
     * (33554433 * 16 * 8 = 2^32 + 128): refused by size, nothing pushed. */
    h = snprintf(push, sizeof push, "#w push 33554433 ");
    for (int i = 0; i < 16; ++i) {
        h += snprintf(push + h, sizeof push - (size_t)h, "3f800000");
    }
    line(push);
    CHECK(strncmp(g_out, "@E w 0x104 INVALID_SIZE", 23) == 0);
    line("stats");
    CHECK(strstr(g_out, " frames=2 ") != NULL);
    line("classify");
    const char *lg = strstr(g_out, "logits=");
    CHECK(lg != NULL && strlen(lg) == 7 + 32 + 1);
    line("layer 2");
    const char *st = strstr(g_out, "state=");
    CHECK(st != NULL && strlen(st) == 6 + 16 * 8 + 1);

    /* telemetry encoding */
    uint8_t pkt[40];
    const float logits[4] = {0.5f, 2.0f, -1.0f, 1.25f};
    ruv_app_encode_telemetry(pkt, logits, 1, 0x0102030405060708ull, 1);
    CHECK(pkt[0] == 0x07 && pkt[1] == 0x00 && pkt[2] == 0x11 && pkt[3] == 0xC5 && pkt[4] == 1 && pkt[6] == 4);
    CHECK(pkt[12] == 0x08 && pkt[19] == 0x01 && pkt[20] == 1 && pkt[24] == 1);
    float top, gap;
    memcpy(&top, pkt + 28, 4);
    memcpy(&gap, pkt + 32, 4);
    CHECK(top == 2.0f && gap == 0.75f);
    CHECK(ruv_crc32(0, pkt, 36) == ((uint32_t)pkt[36] | (uint32_t)pkt[37] << 8 | (uint32_t)pkt[38] << 16 | (uint32_t)pkt[39] << 24));

    /* drift-free schedule: next += period, missed periods skipped */
    uint64_t wait = 0;
    ruv_app_set_classify_period_ms(100);
    CHECK(!ruv_app_classify_due(1000, &wait) && wait == 100000);
    CHECK(!ruv_app_classify_due(100999, &wait) && wait == 1);
    CHECK(ruv_app_classify_due(101000 + 7000, &wait) && wait == 93000); /* late tick: next stays on grid */
    CHECK(ruv_app_classify_due(201000 + 250000, &wait) && wait == 50000); /* two periods missed */
    line("stats");
    CHECK(strstr(g_out, "ticks_missed=2") != NULL);

    /* the temporal task's turn: schedule off until a period is set; then
     * classify + telemetry at each absolute deadline, missed deadlines
     * counted, frames pushed on every turn */
    CHECK(ruv_app_init(&PLAT, &cfg) == RUV_OK);
    g_sent = 0;
    g_now = 5000000;
    ruv_app_set_classify_period_ms(0);
    CHECK(ruv_app_temporal_turn(NULL) == RUV_APP_WAIT_FOREVER);
    line("info");
    CHECK(strstr(g_out, " period_ms=100 sched=0 ") != NULL);
    ruv_app_set_classify_period_ms(250);
    CHECK(ruv_app_temporal_turn(NULL) == 250000); /* first deadline: now + period */
    float fr[16];
    for (int i = 0; i < 16; ++i) {
        fr[i] = 0.125f * (float)i;
    }
    g_now += 100000;
    CHECK(ruv_app_temporal_turn(fr) == 150000);
    CHECK(g_sent == 0);
    g_now += 150000; /* exactly on the deadline */
    CHECK(ruv_app_temporal_turn(NULL) == 250000);
    CHECK(g_sent == 1 && g_last_pkt[20] == 1); /* seq 1 */
    g_now += 250000 * 3 + 1000; /* 2 whole periods missed, 1 ms late for the 3rd */
    CHECK(ruv_app_temporal_turn(fr) == 249000);
    CHECK(g_sent == 2 && g_last_pkt[20] == 2);
    line("stats");
    CHECK(strstr(g_out, " frames=2 ") != NULL && strstr(g_out, "ticks_missed=2 ") != NULL &&
          strstr(g_out, "telemetry_sent=2 ") != NULL && strstr(g_out, "classifications=2 ") != NULL);
    /* without a model the schedule still runs (counts), nothing is sent */
    CHECK(g_unlocked_calls == 0 && g_lock_depth == 0);

    /* console input in arbitrary pieces through the app's line reader */
    g_out_len = 0;
    const char *script = "#c1 ping\r\n#c2 pi";
    ruv_app_console_input(script, strlen(script));
    CHECK(strcmp(g_out, "@R c1 ping\n") == 0);
    ruv_app_console_input("ng\n", 3);
    CHECK(strcmp(g_out, "@R c1 ping\n@R c2 ping\n") == 0);
    g_out_len = 0;
    static char longline[RUV_PROTO_LINE_MAX + 2];
    memset(longline, 'x', sizeof longline - 1);
    longline[sizeof longline - 1] = '\n';
    ruv_app_console_input(longline, sizeof longline);
    ruv_app_console_input("#c3 ping\n", 9);
    CHECK(strcmp(g_out, "@E - 0x104 INVALID_SIZE line too long\n@R c3 ping\n") == 0);
    CHECK(g_lock_depth == 0 && g_lock_count > 0);

    test_link_app(b1, n1);

    /* factory slot: a bare blob at offset 0 (what `idf.py flash` writes) is
     * generation 0; a header slot of any generation wins over it; a corrupt
     * bare blob is refused by its own CRC */
    memset(g_slot, 0xFF, sizeof g_slot);
    memcpy(g_slot[0], b1, n1);
    g_out_len = 0;
    CHECK(ruv_app_init(&PLAT, &cfg) == RUV_OK);
    snprintf(want, sizeof want, "model=%08lx slot=0 gen=0", (unsigned long)blob_crc(b1, n1));
    CHECK(strstr(g_out, want) != NULL);
    CHECK(ruv_app_slot_image(g_slot[1], SLOT_SIZE, b2, n2, 1, 4096) == 4096 + n2);
    g_out_len = 0;
    CHECK(ruv_app_init(&PLAT, &cfg) == RUV_OK);
    CHECK(strstr(g_out, "slot=1 gen=1") != NULL);
    memset(g_slot[1], 0xFF, SLOT_SIZE);
    g_slot[0][200] ^= 0x01;
    g_out_len = 0;
    CHECK(ruv_app_init(&PLAT, &cfg) == RUV_ERR_NOT_FOUND);
    CHECK(strstr(g_out, "slot 0 (generation 0) refused") != NULL && strstr(g_out, "INVALID_CRC") != NULL);
    g_slot[0][20] = 0xFF; /* weights_len beyond the slot: not a blob at all */
    g_slot[0][21] = 0xFF;
    g_slot[0][22] = 0xFF;
    g_out_len = 0;
    CHECK(ruv_app_init(&PLAT, &cfg) == RUV_ERR_NOT_FOUND);

    /* bench: a scratch context; the live model's state and counters untouched */
    memset(g_slot, 0xFF, sizeof g_slot);
    CHECK(ruv_app_slot_image(g_slot[0], SLOT_SIZE, b1, n1, 1, 4096) == 4096 + n1);
    g_out_len = 0;
    CHECK(ruv_app_init(&PLAT, &cfg) == RUV_OK);
    line("bench window");
    CHECK(strncmp(g_out, "@E - 0x106 NOT_SUPPORTED", 24) == 0); /* no cycle counter */
    g_out_len = 0;
    CHECK(ruv_app_init(&PLAT_BENCH, &cfg) == RUV_OK);
    h = snprintf(push, sizeof push, "push 3 ");
    for (int i = 0; i < 48; ++i) {
        h += snprintf(push + h, sizeof push - (size_t)h, "%s", (i % 3) ? "3f800000" : "bf400000");
    }
    line(push);
    CHECK(strstr(g_out, "accepted=3") != NULL);
    char before[2][600], after[2][600];
    line("classify");
    snprintf(before[0], sizeof before[0], "%s", strstr(g_out, "logits="));
    line("layer 1");
    snprintf(before[1], sizeof before[1], "%s", strstr(g_out, "state="));
    line("#b bench stream 200");
    /* N = 64: 64 fill pushes, then the first push rebases and every 32nd after it */
    CHECK(out_starts("@R b bench what=stream N=64 fp16=0 frames=200 rebases=7 unit=ticks amortised=7 steady=7 "
                     "steady_min=7 steady_n=193 rebase=7 rebase_max=7 fill=7 "));
    snprintf(want, sizeof want, "model=%08lx arena=", (unsigned long)blob_crc(b1, n1));
    CHECK(strstr(g_out, want) != NULL);
    CHECK(g_yields == 2 + 6);
    line("bench stream 40 fp16=1");
    CHECK(strstr(g_out, "what=stream N=64 fp16=1 frames=40 rebases=2 ") != NULL);
    line("bench window 2");
    CHECK(out_starts("@R - bench what=window N=64 reps=2 unit=ticks classify=7 classify_min=7 classify_max=7 push=7 "));
    const char *bad[] = {"bench", "bench stream", "bench stream 0", "bench stream 100001", "bench window 0",
                         "bench window 101", "bench stream 5 fp16=2", "bench window 2 x", "bench walk"};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; ++i) {
        line(bad[i]);
        CHECK(out_starts("@E - 0x102 INVALID_ARG usage: bench"));
    }
    line("classify");
    snprintf(after[0], sizeof after[0], "%s", strstr(g_out, "logits="));
    CHECK(strstr(g_out, "frames=3 ") != NULL);
    line("layer 1");
    snprintf(after[1], sizeof after[1], "%s", strstr(g_out, "state="));
    CHECK(strcmp(before[0], after[0]) == 0 && strcmp(before[1], after[1]) == 0);
    line("stats");
    CHECK(strstr(g_out, "frames=3 ") != NULL && strstr(g_out, "classifications=2 ") != NULL &&
          strstr(g_out, "rebases=0 ") != NULL);
    memset(g_slot, 0xFF, sizeof g_slot);
    g_out_len = 0;
    CHECK(ruv_app_init(&PLAT_BENCH, &cfg) == RUV_ERR_NOT_FOUND);
    line("bench window");
    CHECK(strncmp(g_out, "@E - 0x105 NOT_FOUND", 20) == 0);

    ruv_app_deinit();
    if (g_fail) {
        fprintf(stderr, "test_app: %d failures\n", g_fail);
        return 1;
    }
    printf("test_app: ok\n");
    return 0;
}
