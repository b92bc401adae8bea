/*
 * ruv_app.c — model slots, temporal service and console protocol, shared by
 * the ESP32-S3 firmware and the host virtual device (docs/protocol.md,
 * docs/model-slots.md, docs/app-platform.md). Pure C99.
 *
 * Allocation happens only in ruv_app_init, on a model switch and on a mode
 * switch (ruv_temporal_init_ex); frames and commands never allocate.
 */
#include "ruv_app.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>

/* ---- slot header (docs/model-slots.md) ------------------------------------ */

#define SLOT_MAGIC 0x4C535652u /* "RVSL" little-endian */
#define SLOT_LAYOUT 1u
#define SLOT_HDR_LEN 32u
#define SLOT_STATE_VALID 0x56414C44u /* "DLAV" */

#define RVNE_MAGIC 0x52564E45u
#define RVNE_MIN_LEN 28u

/* A slot is either a header page + blob (uploads, vdev --model), or a bare
 * RVNE blob at offset 0 — what `idf.py flash` / parttool / esptool write
 * into model_a. A bare blob is generation 0 ("factory"): any upload wins
 * over it; its integrity is the blob's own trailing CRC. */
typedef struct {
    bool valid;
    bool raw;          /* bare RVNE blob at offset 0 */
    uint32_t generation;
    uint32_t blob_len;
    uint32_t blob_crc; /* CRC-32 of the blob bytes (header slots only) */
    size_t blob_off;   /* offset of the blob in the slot */
} slot_hdr_t;

/* ---- state ---------------------------------------------------------------- */

typedef struct {
    bool active;
    int slot;
    uint32_t total_len;
    uint32_t total_crc;
    uint32_t next_off;
    uint32_t running_crc;
} upload_t;

static struct {
    const ruv_app_platform_t *p;
    ruv_temporal_config_t cfg;
    uint16_t expected_feature_set;
    uint32_t period_ms;
    bool tx_on;
    bool initialised;

    ruv_temporal_ctx_t *ctx;
    ruv_model_info_t info;
    int active_slot;
    uint32_t active_gen;
    uint32_t active_crc;

    upload_t up;

    /* service counters */
    uint32_t frames;          /* frames pushed into the core since reset */
    uint32_t push_errors;
    uint32_t classifications; /* successful classify calls (tick + console) */
    uint32_t telemetry_sent;
    uint32_t telemetry_failed;
    uint32_t seq;
    uint32_t rejected;        /* console commands answered with @E */
    uint32_t commands;
    uint32_t ticks_missed;
    uint32_t batch_refused;   /* frames refused after a queue-full in the same push */
    uint64_t next_due_us;
    uint64_t boot_us;
} s = {
    .period_ms = 1000,
    .tx_on = true,
    .active_slot = -1,
};

static char s_out[RUV_PROTO_LINE_MAX + 512];
static uint8_t s_chunk[RUV_PROTO_LINE_MAX / 2];
static float s_frame[256];
static float s_vec[256];

/* ---- small helpers -------------------------------------------------------- */

static void app_log(ruv_log_level_t level, const char *fmt, ...)
{
    char msg[200];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    if (s.p != NULL && s.p->log != NULL) {
        s.p->log(s.p->user, level, msg);
    }
}

static uint64_t now_us(void)
{
    return s.p->time_us(s.p->user);
}

static void put_le32(uint8_t *b, uint32_t v)
{
    b[0] = (uint8_t)v;
    b[1] = (uint8_t)(v >> 8);
    b[2] = (uint8_t)(v >> 16);
    b[3] = (uint8_t)(v >> 24);
}

static uint32_t get_le32(const uint8_t *b)
{
    return (uint32_t)b[0] | ((uint32_t)b[1] << 8) | ((uint32_t)b[2] << 16) | ((uint32_t)b[3] << 24);
}

static int slot_count(void)
{
    int n = s.p->slot_count != NULL ? s.p->slot_count(s.p->user) : 0;
    return n > RUV_APP_MAX_SLOTS ? RUV_APP_MAX_SLOTS : n;
}

static size_t slot_align(void)
{
    size_t a = s.p->erase_align != NULL ? s.p->erase_align(s.p->user) : 4096u;
    return a < SLOT_HDR_LEN ? 4096u : a;
}

static void make_hdr(uint8_t *hdr, uint32_t gen, uint32_t len, uint32_t crc)
{
    memset(hdr, 0, SLOT_HDR_LEN);
    put_le32(hdr, SLOT_MAGIC);
    put_le32(hdr + 4, SLOT_LAYOUT);
    put_le32(hdr + 8, gen);
    put_le32(hdr + 12, len);
    put_le32(hdr + 16, crc);
    put_le32(hdr + 20, SLOT_STATE_VALID);
    put_le32(hdr + 24, 0);
    put_le32(hdr + 28, ruv_crc32(0, hdr, 28));
}

size_t ruv_app_slot_image(uint8_t *out, size_t cap, const uint8_t *blob, size_t len, uint32_t generation,
                          size_t erase_align)
{
    if (erase_align < SLOT_HDR_LEN || len == 0 || ((len >> 16) >> 16) != 0u /* > 32 bits */ || cap < erase_align ||
        len > cap - erase_align) {
        return 0;
    }
    memset(out, 0xFF, erase_align);
    make_hdr(out, generation, (uint32_t)len, ruv_crc32(0, blob, len));
    memcpy(out + erase_align, blob, len);
    return erase_align + len;
}

static slot_hdr_t read_hdr(int slot, const uint8_t **map_out)
{
    slot_hdr_t h = {false, false, 0, 0, 0, 0};
    const uint8_t *m = NULL;
    size_t size = 0;
    if (s.p->slot_map == NULL || s.p->slot_map(s.p->user, slot, &m, &size) != RUV_OK || m == NULL ||
        size < slot_align() + SLOT_HDR_LEN) {
        return h;
    }
    if (map_out != NULL) {
        *map_out = m;
    }
    if (get_le32(m) == RVNE_MAGIC) {
        const uint32_t weights_len = get_le32(m + 20);
        if (weights_len > size - RVNE_MIN_LEN) {
            return h;
        }
        h.raw = true;
        h.blob_len = weights_len + RVNE_MIN_LEN;
        h.valid = true;
        return h;
    }
    if (get_le32(m) != SLOT_MAGIC || get_le32(m + 4) != SLOT_LAYOUT || get_le32(m + 20) != SLOT_STATE_VALID ||
        get_le32(m + 28) != ruv_crc32(0, m, 28)) {
        return h;
    }
    h.generation = get_le32(m + 8);
    h.blob_off = slot_align();
    h.blob_len = get_le32(m + 12);
    h.blob_crc = get_le32(m + 16);
    if (h.blob_len == 0 || h.blob_len > size - slot_align()) {
        return h;
    }
    h.valid = true;
    return h;
}

/* Full check of a blob for this device: CRC-32 of the bytes (when crc !=
 * NULL), RVNE validation, shape and feature set. */
static ruv_status_t check_blob(const uint8_t *blob, size_t len, ruv_model_info_t *info, const char **why)
{
    ruv_status_t st = ruv_temporal_blob_info(blob, len, info, why);
    if (st != RUV_OK) {
        return st;
    }
    if (info->input_dim != s.cfg.input_dim) {
        *why = "model input_dim differs from the device's";
        return RUV_ERR_INVALID_SIZE;
    }
    if (info->n_classes != s.cfg.n_classes) {
        *why = "model n_classes differs from the device's";
        return RUV_ERR_INVALID_SIZE;
    }
    if (s.expected_feature_set != 0 && info->feature_set != s.expected_feature_set) {
        *why = "model feature set differs from the device's";
        return RUV_ERR_NOT_SUPPORTED;
    }
    return RUV_OK;
}

static const uint8_t *slot_blob(int slot, const slot_hdr_t *h)
{
    const uint8_t *m = NULL;
    size_t size = 0;
    if (s.p->slot_map(s.p->user, slot, &m, &size) != RUV_OK || m == NULL || !h->valid) {
        return NULL;
    }
    return m + h->blob_off;
}

/* ---- model (re)load ------------------------------------------------------- */

static ruv_status_t start_ctx(const uint8_t *blob, size_t len, const ruv_temporal_config_t *cfg,
                              ruv_temporal_ctx_t **out, ruv_model_info_t *info)
{
    ruv_status_t st = ruv_temporal_init_ex(blob, len, cfg, out);
    if (st != RUV_OK) {
        return st;
    }
    return ruv_temporal_get_info(*out, info);
}

static void reset_counters(void)
{
    s.frames = 0;
    s.push_errors = 0;
    s.classifications = 0;
}

static ruv_status_t boot_load(void)
{
    int n = slot_count();
    bool tried[RUV_APP_MAX_SLOTS] = {false};
    for (;;) {
        int best = -1;
        slot_hdr_t bh = {false, false, 0, 0, 0, 0};
        for (int i = 0; i < n; ++i) {
            if (tried[i]) {
                continue;
            }
            slot_hdr_t h = read_hdr(i, NULL);
            if (!h.valid) {
                continue;
            }
            if (best < 0 || h.generation > bh.generation) {
                best = i;
                bh = h;
            }
        }
        if (best < 0) {
            app_log(RUV_LOG_WARN, "no valid model slot; classify answers NOT_FOUND until a model is loaded");
            return RUV_ERR_NOT_FOUND;
        }
        tried[best] = true;
        const uint8_t *blob = slot_blob(best, &bh);
        const char *why = "";
        ruv_model_info_t info;
        ruv_status_t st = RUV_ERR_INVALID_STATE;
        if (blob == NULL) {
            why = "slot not mappable";
        } else if (!bh.raw && ruv_crc32(0, blob, bh.blob_len) != bh.blob_crc) {
            st = RUV_ERR_INVALID_CRC;
            why = "slot CRC mismatch";
        } else {
            st = check_blob(blob, bh.blob_len, &info, &why);
        }
        if (st == RUV_OK) {
            ruv_temporal_ctx_t *ctx = NULL;
            st = start_ctx(blob, bh.blob_len, &s.cfg, &ctx, &s.info);
            if (st == RUV_OK) {
                s.ctx = ctx;
                s.active_slot = best;
                s.active_gen = bh.generation;
                s.active_crc = s.info.crc32;
                app_log(RUV_LOG_INFO, "model %08lx from slot %d (generation %lu, %lu bytes)",
                        (unsigned long)s.active_crc, best, (unsigned long)bh.generation,
                        (unsigned long)bh.blob_len);
                return RUV_OK;
            }
            why = "context init failed";
        }
        app_log(RUV_LOG_ERROR, "slot %d (generation %lu) refused: %s (%s 0x%x)", best,
                (unsigned long)bh.generation, why, ruv_status_name(st), (unsigned)st);
    }
}

/* ---- public: config ------------------------------------------------------- */

void ruv_app_set_expected_feature_set(uint16_t feature_set)
{
    s.expected_feature_set = feature_set;
}

void ruv_app_set_classify_period_ms(uint32_t period_ms)
{
    s.period_ms = period_ms == 0 ? 1000u : period_ms;
    s.next_due_us = 0;
}

void ruv_app_set_telemetry(bool on)
{
    s.tx_on = on;
}

static void emit(const char *text)
{
    s.p->console_write(s.p->user, text, strlen(text));
}

static const char *plat_name(void)
{
    return s.p->platform_name != NULL ? s.p->platform_name(s.p->user) : "unknown";
}

void ruv_app_banner(void)
{
    char model[16];
    if (s.ctx != NULL) {
        snprintf(model, sizeof model, "%08lx", (unsigned long)s.active_crc);
    } else {
        snprintf(model, sizeof model, "none");
    }
    snprintf(s_out, sizeof s_out,
             RUV_PROTO_BOOT " ruv-temporal app=%s core=%d.%d.%d proto=%d platform=%s D=%u N=%u C=%u mode=%s "
                            "fp16=%d model=%s slot=%d gen=%lu\n",
             RUV_APP_VERSION, RUV_TEMPORAL_VERSION_MAJOR, RUV_TEMPORAL_VERSION_MINOR,
             RUV_TEMPORAL_VERSION_PATCH, RUV_PROTO_VERSION, plat_name(), (unsigned)s.cfg.input_dim,
             (unsigned)s.cfg.window_len, (unsigned)s.cfg.n_classes,
             s.cfg.mode == RUV_MODE_STREAM ? "stream" : "window", s.cfg.kv_fp16 ? 1 : 0, model,
             s.active_slot, (unsigned long)s.active_gen);
    emit(s_out);
}

ruv_status_t ruv_app_init(const ruv_app_platform_t *platform, const ruv_temporal_config_t *cfg)
{
    if (platform == NULL || cfg == NULL || platform->time_us == NULL || platform->console_write == NULL ||
        cfg->input_dim == 0 || cfg->input_dim > 256 || cfg->n_classes == 0 || cfg->n_classes > 256) {
        return RUV_ERR_INVALID_ARG;
    }
    ruv_app_deinit();
    s.p = platform;
    s.cfg = *cfg;
    s.boot_us = now_us();
    s.initialised = true;
    ruv_status_t st = boot_load();
    ruv_app_banner();
    return st;
}

void ruv_app_deinit(void)
{
    if (s.ctx != NULL) {
        ruv_temporal_destroy(s.ctx);
        s.ctx = NULL;
    }
    s.active_slot = -1;
    s.active_gen = 0;
    s.active_crc = 0;
    memset(&s.up, 0, sizeof s.up);
    reset_counters();
    s.seq = 0;
    s.rejected = 0;
    s.commands = 0;
    s.telemetry_sent = 0;
    s.telemetry_failed = 0;
    s.ticks_missed = 0;
    s.next_due_us = 0;
    s.initialised = false;
}

/* ---- temporal service ------------------------------------------------------ */

ruv_status_t ruv_app_push_frame(const float *frame)
{
    if (s.ctx == NULL) {
        return RUV_ERR_NOT_FOUND;
    }
    ruv_status_t st = ruv_temporal_push(s.ctx, frame);
    if (st == RUV_OK) {
        ++s.frames;
    } else {
        ++s.push_errors;
    }
    return st;
}

static ruv_status_t do_classify(float *logits, uint32_t *argmax)
{
    if (s.ctx == NULL) {
        return RUV_ERR_NOT_FOUND;
    }
    ruv_status_t st = ruv_temporal_classify(s.ctx, logits, s.cfg.n_classes);
    if (st != RUV_OK) {
        return st;
    }
    uint32_t best = 0;
    for (uint32_t i = 1; i < s.cfg.n_classes; ++i) {
        if (logits[i] > logits[best]) {
            best = i;
        }
    }
    *argmax = best;
    ++s.classifications;
    return RUV_OK;
}

void ruv_app_encode_telemetry(uint8_t *pkt, const float *logits, uint32_t argmax, uint64_t ts_us,
                              uint32_t seq)
{
    memset(pkt, 0, RUV_APP_TELEMETRY_LEN);
    put_le32(pkt, 0xC5110007u);
    pkt[4] = 1;
    pkt[5] = 0;
    pkt[6] = (uint8_t)s.cfg.n_classes;
    pkt[7] = (uint8_t)(s.cfg.n_classes >> 8);
    pkt[8] = s.p->node_id != NULL ? s.p->node_id(s.p->user) : 0;
    put_le32(pkt + 12, (uint32_t)ts_us);
    put_le32(pkt + 16, (uint32_t)(ts_us >> 32));
    put_le32(pkt + 20, seq);
    pkt[24] = (uint8_t)argmax;
    float top = logits[argmax];
    float second = 0.0f;
    bool have_second = false;
    for (uint32_t i = 0; i < s.cfg.n_classes; ++i) {
        if (i != argmax && (!have_second || logits[i] > second)) {
            second = logits[i];
            have_second = true;
        }
    }
    put_le32(pkt + 28, ruv_f32_bits(top));
    put_le32(pkt + 32, ruv_f32_bits(have_second ? top - second : 0.0f));
    put_le32(pkt + 36, ruv_crc32(0, pkt, 36));
}

ruv_status_t ruv_app_classify_tick(void)
{
    uint32_t am = 0;
    ruv_status_t st = do_classify(s_vec, &am);
    if (st != RUV_OK) {
        return st;
    }
    if (s.tx_on && s.p->telemetry_send != NULL) {
        uint8_t pkt[RUV_APP_TELEMETRY_LEN];
        ruv_app_encode_telemetry(pkt, s_vec, am, now_us(), ++s.seq);
        if (s.p->telemetry_send(s.p->user, pkt, sizeof pkt) == 0) {
            ++s.telemetry_sent;
        } else {
            ++s.telemetry_failed;
        }
    }
    return RUV_OK;
}

bool ruv_app_classify_due(uint64_t now, uint64_t *wait_us)
{
    const uint64_t period = (uint64_t)s.period_ms * 1000u;
    bool due = false;
    if (s.next_due_us == 0) {
        s.next_due_us = now + period;
    } else if (now >= s.next_due_us) {
        uint64_t missed = (now - s.next_due_us) / period; /* once per tick, not per frame */
        s.ticks_missed += (uint32_t)missed;
        s.next_due_us += (missed + 1u) * period;
        due = true;
    }
    if (wait_us != NULL) {
        *wait_us = s.next_due_us > now ? s.next_due_us - now : 0;
    }
    return due;
}

/* ---- console protocol ------------------------------------------------------ */

static const ruv_request_t *s_req;

static int id_fmt(char *dst, size_t cap)
{
    if (s_req != NULL && s_req->id.len > 0) {
        return snprintf(dst, cap, "%.*s", (int)s_req->id.len, s_req->id.ptr);
    }
    return snprintf(dst, cap, "-");
}

static ruv_status_t reply_err(ruv_status_t st, const char *msg)
{
    char id[RUV_PROTO_ID_MAX + 2];
    id_fmt(id, sizeof id);
    snprintf(s_out, sizeof s_out, RUV_PROTO_ERROR " %s 0x%03x %s %s\n", id, (unsigned)st, ruv_status_name(st),
             msg);
    emit(s_out);
    ++s.rejected;
    return st;
}

/* Starts "@R <id> <cmd>"; returns the length written. */
static size_t reply_head(const char *cmd)
{
    char id[RUV_PROTO_ID_MAX + 2];
    id_fmt(id, sizeof id);
    int n = snprintf(s_out, sizeof s_out, RUV_PROTO_REPLY " %s %s", id, cmd);
    return n < 0 ? 0 : (size_t)n;
}

static size_t append(size_t at, const char *fmt, ...)
{
    if (at >= sizeof s_out) {
        return at;
    }
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(s_out + at, sizeof s_out - at, fmt, ap);
    va_end(ap);
    if (n < 0) {
        return at;
    }
    at += (size_t)n;
    return at < sizeof s_out ? at : sizeof s_out - 1;
}

static void reply_end(size_t at)
{
    if (at > sizeof s_out - 2) {
        at = sizeof s_out - 2;
    }
    s_out[at++] = '\n';
    s_out[at] = '\0';
    emit(s_out);
}

static ruv_status_t cmd_info(void)
{
    size_t at = reply_head("info");
    at = append(at, " proto=%d app=%s core=%d.%d.%d platform=%s D=%u N=%u C=%u mode=%s fp16=%d period_ms=%lu tx=%d",
                RUV_PROTO_VERSION, RUV_APP_VERSION, RUV_TEMPORAL_VERSION_MAJOR, RUV_TEMPORAL_VERSION_MINOR,
                RUV_TEMPORAL_VERSION_PATCH, plat_name(), (unsigned)s.cfg.input_dim, (unsigned)s.cfg.window_len,
                (unsigned)s.cfg.n_classes, s.cfg.mode == RUV_MODE_STREAM ? "stream" : "window",
                s.cfg.kv_fp16 ? 1 : 0, (unsigned long)s.period_ms, s.tx_on ? 1 : 0);
    at = append(at, " node=%u slots=%d line_max=%d expect_fs=%u",
                s.p->node_id != NULL ? (unsigned)s.p->node_id(s.p->user) : 0u, slot_count(), RUV_PROTO_LINE_MAX,
                (unsigned)s.expected_feature_set);
    if (s.ctx == NULL) {
        at = append(at, " model=none slot=-1 gen=0");
    } else {
        at = append(at,
                    " model=%08lx slot=%d gen=%lu blob_len=%lu feature_set=%u layers=%u q_heads=%u kv_heads=%u "
                    "head_dim=%u fp16_weights=%d",
                    (unsigned long)s.active_crc, s.active_slot, (unsigned long)s.active_gen,
                    (unsigned long)s.info.blob_len, (unsigned)s.info.feature_set, (unsigned)s.info.n_layers,
                    (unsigned)s.info.n_q_heads, (unsigned)s.info.n_kv_heads, (unsigned)s.info.head_dim,
                    s.info.fp16_weights ? 1 : 0);
        at = append(at, " labels=");
        if (s.info.labels != NULL && s.info.labels_len > 0) {
            for (uint32_t i = 0; i < s.info.labels_len && at < sizeof s_out - 64; ++i) {
                char c = s.info.labels[i];
                if (c == '\0') {
                    c = ',';
                } else if ((unsigned char)c <= 0x20 || (unsigned char)c >= 0x7f || c == ',') {
                    c = '_';
                }
                s_out[at++] = c;
            }
            s_out[at] = '\0';
        } else {
            at = append(at, "-");
        }
    }
    reply_end(at);
    return RUV_OK;
}

static void queue_stats(ruv_app_queue_t *q)
{
    memset(q, 0, sizeof *q);
    if (s.p->queue_stats != NULL) {
        s.p->queue_stats(s.p->user, q);
    }
}

static ruv_status_t cmd_push(const ruv_request_t *r)
{
    uint32_t n = 0;
    if (r->n_tok != 3 || !ruv_tok_u32(r->tok[1], &n) || n == 0) {
        return reply_err(RUV_ERR_INVALID_ARG, "usage: push <n_frames> <hex of n*D float32 bit patterns>");
    }
    const size_t d = s.cfg.input_dim;
    /* Divide, never multiply: n * D * 8 wraps on a 32-bit size_t (the chip's),
     * e.g. n = 33554433, D = 16 gives 128, one frame's worth of hex. */
    if (r->tok[2].len % (d * 8u) != 0u || r->tok[2].len / (d * 8u) != n) {
        return reply_err(RUV_ERR_INVALID_SIZE, "frame data length is not n_frames*D*8 hex digits");
    }
    /* Validate every digit before the first frame goes anywhere. */
    for (size_t i = 0; i < r->tok[2].len; ++i) {
        char c = r->tok[2].ptr[i];
        if (!((c >= '0' && c <= '9') || (c >= 'a' && c <= 'f') || (c >= 'A' && c <= 'F'))) {
            return reply_err(RUV_ERR_INVALID_ARG, "bad hex digit in frame data");
        }
    }
    if (s.ctx == NULL) {
        return reply_err(RUV_ERR_NOT_FOUND, "no model loaded");
    }
    /* Once the queue refuses a frame, the rest of the batch is refused too
     * (and counted as dropped): accepted frames are always the first
     * `accepted` of the batch, so a host knows exactly which ones went in. */
    uint32_t accepted = 0, dropped = 0;
    for (uint32_t f = 0; f < n; ++f) {
        if (s.p->submit_frame != NULL) {
            if (dropped == 0) {
                (void)ruv_hex_to_f32(r->tok[2].ptr + (size_t)f * d * 8u, d * 8u, s_frame, d);
            }
            if (dropped == 0 && s.p->submit_frame(s.p->user, s_frame, d)) {
                ++accepted;
            } else {
                s.batch_refused += dropped != 0 ? 1u : 0u; /* the first one the platform counted */
                ++dropped;
            }
        } else {
            (void)ruv_hex_to_f32(r->tok[2].ptr + (size_t)f * d * 8u, d * 8u, s_frame, d);
            ruv_status_t st = ruv_app_push_frame(s_frame);
            if (st != RUV_OK) {
                return reply_err(st, "core rejected the frame");
            }
            ++accepted;
        }
    }
    ruv_app_queue_t q;
    queue_stats(&q);
    size_t at = reply_head("push");
    at = append(at, " n=%lu accepted=%lu dropped=%lu frames=%lu pending=%lu", (unsigned long)n,
                (unsigned long)accepted, (unsigned long)dropped, (unsigned long)s.frames, (unsigned long)q.waiting);
    reply_end(at);
    return RUV_OK;
}

static ruv_status_t cmd_classify(const ruv_request_t *r)
{
    if (r->n_tok != 1) {
        return reply_err(RUV_ERR_INVALID_ARG, "usage: classify");
    }
    uint32_t am = 0;
    ruv_status_t st = do_classify(s_vec, &am);
    if (st == RUV_ERR_NOT_FOUND) {
        return reply_err(st, "no model loaded");
    }
    if (st != RUV_OK) {
        return reply_err(st, st == RUV_ERR_INVALID_STATE ? "no frame pushed yet" : "classify failed");
    }
    size_t at = reply_head("classify");
    at = append(at, " argmax=%lu n=%u frames=%lu logits=", (unsigned long)am, (unsigned)s.cfg.n_classes,
                (unsigned long)s.frames);
    ruv_f32_to_hex(s_vec, s.cfg.n_classes, s_out + at);
    at += 8u * s.cfg.n_classes;
    reply_end(at);
    return RUV_OK;
}

static ruv_status_t cmd_layer(const ruv_request_t *r)
{
    uint32_t stage = 0;
    if (r->n_tok != 2 || !ruv_tok_u32(r->tok[1], &stage)) {
        return reply_err(RUV_ERR_INVALID_ARG, "usage: layer <stage 0..n_layers>");
    }
    if (s.ctx == NULL) {
        return reply_err(RUV_ERR_NOT_FOUND, "no model loaded");
    }
    if (stage > s.info.n_layers) {
        return reply_err(RUV_ERR_INVALID_ARG, "stage out of range");
    }
    ruv_status_t st = ruv_temporal_layer_state(s.ctx, (uint16_t)stage, s_vec, s.cfg.input_dim);
    if (st != RUV_OK) {
        return reply_err(st, "no layer state (classify or push first)");
    }
    size_t at = reply_head("layer");
    at = append(at, " stage=%lu layers=%u n=%u state=", (unsigned long)stage, (unsigned)s.info.n_layers,
                (unsigned)s.cfg.input_dim);
    ruv_f32_to_hex(s_vec, s.cfg.input_dim, s_out + at);
    at += 8u * s.cfg.input_dim;
    reply_end(at);
    return RUV_OK;
}

static ruv_status_t cmd_stats(const ruv_request_t *r)
{
    if (r->n_tok != 1) {
        return reply_err(RUV_ERR_INVALID_ARG, "usage: stats");
    }
    ruv_app_queue_t q;
    queue_stats(&q);
    ruv_app_mem_t m;
    memset(&m, 0, sizeof m);
    if (s.p->mem_stats != NULL) {
        s.p->mem_stats(s.p->user, &m);
    }
    ruv_temporal_stats_t ts;
    memset(&ts, 0, sizeof ts);
    if (s.ctx != NULL) {
        (void)ruv_temporal_get_stats(s.ctx, &ts);
    }
    uint64_t up = now_us() - s.boot_us;
    size_t at = reply_head("stats");
    at = append(at,
                " frames=%lu push_errors=%lu classifications=%lu rebases=%lu ring=%lu context=%lu "
                "queued=%lu dropped=%lu pending=%lu depth=%lu",
                (unsigned long)s.frames, (unsigned long)s.push_errors, (unsigned long)s.classifications,
                (unsigned long)ts.rebases, (unsigned long)ts.frames_in_ring, (unsigned long)ts.context_len,
                (unsigned long)q.enqueued, (unsigned long)(q.dropped + s.batch_refused), (unsigned long)q.waiting,
                (unsigned long)q.depth);
    at = append(at,
                " telemetry_seq=%lu telemetry_sent=%lu telemetry_failed=%lu ticks_missed=%lu commands=%lu "
                "rejected=%lu arena=%lu",
                (unsigned long)s.seq, (unsigned long)s.telemetry_sent, (unsigned long)s.telemetry_failed,
                (unsigned long)s.ticks_missed, (unsigned long)s.commands, (unsigned long)s.rejected,
                (unsigned long)ts.arena_bytes);
    at = append(at,
                " heap_free=%lu heap_min_free=%lu heap_largest=%lu temporal_stack_free=%lu "
                "console_stack_free=%lu uptime_us=%llu",
                (unsigned long)m.heap_free, (unsigned long)m.heap_min_free, (unsigned long)m.heap_largest_block,
                (unsigned long)m.temporal_stack_free, (unsigned long)m.console_stack_free,
                (unsigned long long)up);
    reply_end(at);
    return RUV_OK;
}

static ruv_status_t cmd_reset(const ruv_request_t *r)
{
    if (r->n_tok != 1) {
        return reply_err(RUV_ERR_INVALID_ARG, "usage: reset");
    }
    if (s.ctx != NULL) {
        ruv_status_t st = ruv_temporal_reset(s.ctx);
        if (st != RUV_OK) {
            return reply_err(st, "reset failed");
        }
    }
    reset_counters();
    reply_end(reply_head("reset"));
    return RUV_OK;
}

static ruv_status_t cmd_selftest(const ruv_request_t *r)
{
    if (r->n_tok != 1) {
        return reply_err(RUV_ERR_INVALID_ARG, "usage: selftest");
    }
    ruv_status_t st = ruv_temporal_self_test();
    if (st != RUV_OK) {
        return reply_err(st, "core self-test failed");
    }
    /* Protocol self-check: CRC-32 check value and a float hex round trip. */
    const float probe[2] = {-0.0f, 1.5f};
    char hex[16];
    float back[2];
    ruv_f32_to_hex(probe, 2, hex);
    if (ruv_crc32(0, "123456789", 9) != 0xCBF43926u || ruv_hex_to_f32(hex, 16, back, 2) != RUV_OK ||
        ruv_f32_bits(back[0]) != 0x80000000u || ruv_f32_bits(back[1]) != 0x3FC00000u) {
        return reply_err(RUV_ERR_INVALID_STATE, "protocol self-check failed");
    }
    size_t at = reply_head("selftest");
    at = append(at, " core=ok proto=ok model=%s", s.ctx != NULL ? "loaded" : "none");
    reply_end(at);
    return RUV_OK;
}

static ruv_status_t cmd_mode(const ruv_request_t *r)
{
    if (r->n_tok < 2 || r->n_tok > 3) {
        return reply_err(RUV_ERR_INVALID_ARG, "usage: mode window|stream [fp16=0|1]");
    }
    ruv_temporal_config_t cfg = s.cfg;
    if (ruv_tok_eq(r->tok[1], "window")) {
        cfg.mode = RUV_MODE_WINDOW;
    } else if (ruv_tok_eq(r->tok[1], "stream")) {
        cfg.mode = RUV_MODE_STREAM;
    } else {
        return reply_err(RUV_ERR_INVALID_ARG, "mode must be window or stream");
    }
    if (r->n_tok == 3) {
        if (ruv_tok_eq(r->tok[2], "fp16=1")) {
            cfg.kv_fp16 = true;
        } else if (ruv_tok_eq(r->tok[2], "fp16=0")) {
            cfg.kv_fp16 = false;
        } else {
            return reply_err(RUV_ERR_INVALID_ARG, "expected fp16=0 or fp16=1");
        }
    }
    if (s.ctx != NULL) {
        ruv_temporal_ctx_t *ctx = NULL;
        ruv_model_info_t info;
        const uint8_t *blob = (const uint8_t *)0;
        slot_hdr_t h = read_hdr(s.active_slot, NULL);
        blob = slot_blob(s.active_slot, &h);
        if (blob == NULL) {
            return reply_err(RUV_ERR_INVALID_STATE, "active slot unreadable");
        }
        /* Free the old context first: the arena is sized for one context. */
        ruv_temporal_destroy(s.ctx);
        s.ctx = NULL;
        ruv_status_t st = start_ctx(blob, h.blob_len, &cfg, &ctx, &info);
        if (st != RUV_OK) {
            /* Back to the previous configuration. */
            ruv_status_t st2 = start_ctx(blob, h.blob_len, &s.cfg, &ctx, &info);
            if (st2 == RUV_OK) {
                s.ctx = ctx;
            }
            return reply_err(st, "mode switch failed; previous mode kept");
        }
        s.ctx = ctx;
        s.info = info;
    }
    s.cfg = cfg;
    reset_counters();
    size_t at = reply_head("mode");
    at = append(at, " mode=%s fp16=%d", cfg.mode == RUV_MODE_STREAM ? "stream" : "window", cfg.kv_fp16 ? 1 : 0);
    reply_end(at);
    return RUV_OK;
}

static ruv_status_t cmd_tx(const ruv_request_t *r)
{
    if (r->n_tok != 2 || !(ruv_tok_eq(r->tok[1], "on") || ruv_tok_eq(r->tok[1], "off"))) {
        return reply_err(RUV_ERR_INVALID_ARG, "usage: tx on|off");
    }
    s.tx_on = ruv_tok_eq(r->tok[1], "on");
    size_t at = reply_head("tx");
    at = append(at, " tx=%d", s.tx_on ? 1 : 0);
    reply_end(at);
    return RUV_OK;
}

/* Target slot of an upload: never the active one. */
static int pick_target(void)
{
    int n = slot_count();
    int best = -1;
    uint32_t best_gen = 0;
    for (int i = 0; i < n; ++i) {
        if (i == s.active_slot) {
            continue;
        }
        slot_hdr_t h = read_hdr(i, NULL);
        uint32_t g = h.valid ? h.generation : 0;
        if (best < 0 || !h.valid || g < best_gen) {
            if (!h.valid) {
                return i;
            }
            best = i;
            best_gen = g;
        }
    }
    return best;
}

static uint32_t max_generation(void)
{
    uint32_t g = 0;
    for (int i = 0; i < slot_count(); ++i) {
        slot_hdr_t h = read_hdr(i, NULL);
        if (h.valid && h.generation > g) {
            g = h.generation;
        }
    }
    return g;
}

static ruv_status_t load_begin(const ruv_request_t *r)
{
    uint32_t len = 0, crc = 0;
    if (r->n_tok != 4 || !ruv_tok_u32(r->tok[2], &len) || !ruv_tok_hex32(r->tok[3], &crc) || len == 0) {
        return reply_err(RUV_ERR_INVALID_ARG, "usage: load begin <total_len> <crc32 8 hex>");
    }
    if (s.p->slot_erase == NULL || s.p->slot_write == NULL) {
        return reply_err(RUV_ERR_NOT_SUPPORTED, "platform has no writable slots");
    }
    int target = pick_target();
    if (target < 0) {
        return reply_err(RUV_ERR_NOT_SUPPORTED, "no inactive slot to upload into");
    }
    size_t align = slot_align();
    size_t size = s.p->slot_size(s.p->user, target);
    if (size < align || (size_t)len > size - align) {
        return reply_err(RUV_ERR_INVALID_SIZE, "blob larger than the slot");
    }
    size_t erase_len = align + (((size_t)len + align - 1u) / align) * align;
    s.up.active = false;
    ruv_status_t st = s.p->slot_erase(s.p->user, target, 0, erase_len);
    if (st != RUV_OK) {
        return reply_err(st, "slot erase failed");
    }
    s.up.active = true;
    s.up.slot = target;
    s.up.total_len = len;
    s.up.total_crc = crc;
    s.up.next_off = 0;
    s.up.running_crc = 0;
    app_log(RUV_LOG_INFO, "upload of %lu bytes into slot %d", (unsigned long)len, target);
    size_t at = reply_head("load");
    at = append(at, " begin slot=%d len=%lu chunk_max=%u", target, (unsigned long)len,
                (unsigned)((RUV_PROTO_LINE_MAX - 64) / 2));
    reply_end(at);
    return RUV_OK;
}

static ruv_status_t load_chunk(const ruv_request_t *r)
{
    uint32_t off = 0, crc = 0;
    if (r->n_tok != 5 || !ruv_tok_u32(r->tok[2], &off) || !ruv_tok_hex32(r->tok[3], &crc) ||
        r->tok[4].len == 0 || (r->tok[4].len & 1u) != 0) {
        return reply_err(RUV_ERR_INVALID_ARG, "usage: load chunk <offset> <crc32 8 hex> <hex bytes>");
    }
    if (!s.up.active) {
        return reply_err(RUV_ERR_INVALID_STATE, "no upload in progress (load begin first)");
    }
    size_t n = r->tok[4].len / 2u;
    if (off != s.up.next_off) {
        return reply_err(RUV_ERR_INVALID_STATE, "chunk out of order");
    }
    if ((uint64_t)off + n > s.up.total_len) {
        return reply_err(RUV_ERR_INVALID_SIZE, "chunk beyond the announced length");
    }
    ruv_status_t st = ruv_hex_to_bytes(r->tok[4].ptr, r->tok[4].len, s_chunk, n);
    if (st != RUV_OK) {
        return reply_err(st, "bad hex in chunk");
    }
    if (ruv_crc32(0, s_chunk, n) != crc) {
        return reply_err(RUV_ERR_INVALID_CRC, "chunk CRC mismatch; resend the chunk");
    }
    st = s.p->slot_write(s.p->user, s.up.slot, slot_align() + off, s_chunk, n);
    if (st != RUV_OK) {
        s.up.active = false;
        return reply_err(st, "slot write failed; upload aborted");
    }
    s.up.next_off += (uint32_t)n;
    s.up.running_crc = ruv_crc32(s.up.running_crc, s_chunk, n);
    size_t at = reply_head("load");
    at = append(at, " chunk next=%lu", (unsigned long)s.up.next_off);
    reply_end(at);
    return RUV_OK;
}

static ruv_status_t load_commit(const ruv_request_t *r)
{
    if (r->n_tok != 2) {
        return reply_err(RUV_ERR_INVALID_ARG, "usage: load commit");
    }
    if (!s.up.active) {
        return reply_err(RUV_ERR_INVALID_STATE, "no upload in progress");
    }
    if (s.up.next_off != s.up.total_len) {
        return reply_err(RUV_ERR_INVALID_SIZE, "upload incomplete");
    }
    s.up.active = false; /* any failure below ends the session */
    const int slot = s.up.slot;
    const uint8_t *m = NULL;
    size_t size = 0;
    ruv_status_t st = s.p->slot_map(s.p->user, slot, &m, &size);
    if (st != RUV_OK || m == NULL) {
        return reply_err(st != RUV_OK ? st : RUV_ERR_INVALID_STATE, "slot not mappable");
    }
    const uint8_t *blob = m + slot_align();
    /* Verify what flash holds, not what we think we wrote. */
    uint32_t crc = ruv_crc32(0, blob, s.up.total_len);
    if (crc != s.up.total_crc || s.up.running_crc != s.up.total_crc) {
        return reply_err(RUV_ERR_INVALID_CRC, "total CRC mismatch; old model kept");
    }
    ruv_model_info_t info;
    const char *why = "";
    st = check_blob(blob, s.up.total_len, &info, &why);
    if (st != RUV_OK) {
        char msg[160];
        snprintf(msg, sizeof msg, "blob refused: %s; old model kept", why);
        app_log(RUV_LOG_ERROR, "%s", msg);
        return reply_err(st, msg);
    }
    /* Bring the new model up while the old one is still intact. */
    ruv_temporal_ctx_t *old = s.ctx;
    ruv_temporal_ctx_t *ctx = NULL;
    ruv_model_info_t live;
    st = start_ctx(blob, s.up.total_len, &s.cfg, &ctx, &live);
    if (st == RUV_ERR_NO_MEM && old != NULL) {
        /* Not enough heap for two contexts: release the old, retry. */
        ruv_temporal_destroy(old);
        old = NULL;
        s.ctx = NULL;
        st = start_ctx(blob, s.up.total_len, &s.cfg, &ctx, &live);
        if (st != RUV_OK) {
            (void)boot_load(); /* header not written yet: the old slot is still the newest */
            return reply_err(st, "context init failed; old model restored");
        }
    } else if (st != RUV_OK) {
        return reply_err(st, "context init failed; old model kept");
    }
    /* Commit point: the header (generation + 1) is written last. */
    uint8_t hdr[SLOT_HDR_LEN];
    memset(hdr, 0, sizeof hdr);
    const uint32_t gen = max_generation() + 1u;
    make_hdr(hdr, gen, s.up.total_len, crc);
    st = s.p->slot_write(s.p->user, slot, 0, hdr, sizeof hdr);
    slot_hdr_t check = read_hdr(slot, NULL);
    if (st != RUV_OK || !check.valid || check.generation != gen) {
        ruv_temporal_destroy(ctx);
        if (old == NULL) {
            (void)boot_load();
        }
        return reply_err(st != RUV_OK ? st : RUV_ERR_INVALID_STATE, "slot header write failed; old model kept");
    }
    if (old != NULL) {
        ruv_temporal_destroy(old);
    }
    s.ctx = ctx;
    s.info = live;
    s.active_slot = slot;
    s.active_gen = gen;
    s.active_crc = live.crc32;
    reset_counters();
    app_log(RUV_LOG_INFO, "model %08lx active from slot %d (generation %lu)", (unsigned long)s.active_crc, slot,
            (unsigned long)gen);
    size_t at = reply_head("load");
    at = append(at, " commit model=%08lx slot=%d gen=%lu", (unsigned long)s.active_crc, slot, (unsigned long)gen);
    reply_end(at);
    return RUV_OK;
}

static ruv_status_t cmd_load(const ruv_request_t *r)
{
    if (r->n_tok < 2) {
        return reply_err(RUV_ERR_INVALID_ARG, "usage: load begin|chunk|commit|abort ...");
    }
    if (ruv_tok_eq(r->tok[1], "begin")) {
        return load_begin(r);
    }
    if (ruv_tok_eq(r->tok[1], "chunk")) {
        return load_chunk(r);
    }
    if (ruv_tok_eq(r->tok[1], "commit")) {
        return load_commit(r);
    }
    if (ruv_tok_eq(r->tok[1], "abort")) {
        if (r->n_tok != 2) {
            return reply_err(RUV_ERR_INVALID_ARG, "usage: load abort");
        }
        bool was = s.up.active;
        s.up.active = false;
        size_t at = reply_head("load");
        at = append(at, " abort was_active=%d", was ? 1 : 0);
        reply_end(at);
        return RUV_OK;
    }
    return reply_err(RUV_ERR_INVALID_ARG, "usage: load begin|chunk|commit|abort ...");
}

void ruv_app_handle_line(const char *line, size_t len)
{
    if (s.p == NULL) {
        return;
    }
    ruv_request_t req;
    const char *why = "";
    s_req = NULL;
    ++s.commands;
    ruv_status_t st = ruv_proto_tokenize(line, len, &req, &why);
    if (st != RUV_OK) {
        /* The id may have parsed before the error; echo it when it did. */
        s_req = req.id.len > 0 ? &req : NULL;
        (void)reply_err(st, why);
        return;
    }
    s_req = &req;
    ruv_tok_t c = req.tok[0];
    if (ruv_tok_eq(c, "info")) {
        (void)cmd_info();
    } else if (ruv_tok_eq(c, "push")) {
        (void)cmd_push(&req);
    } else if (ruv_tok_eq(c, "classify")) {
        (void)cmd_classify(&req);
    } else if (ruv_tok_eq(c, "layer")) {
        (void)cmd_layer(&req);
    } else if (ruv_tok_eq(c, "load")) {
        (void)cmd_load(&req);
    } else if (ruv_tok_eq(c, "stats")) {
        (void)cmd_stats(&req);
    } else if (ruv_tok_eq(c, "reset")) {
        (void)cmd_reset(&req);
    } else if (ruv_tok_eq(c, "selftest")) {
        (void)cmd_selftest(&req);
    } else if (ruv_tok_eq(c, "mode")) {
        (void)cmd_mode(&req);
    } else if (ruv_tok_eq(c, "tx")) {
        (void)cmd_tx(&req);
    } else if (ruv_tok_eq(c, "ping")) {
        reply_end(reply_head("ping"));
    } else {
        (void)reply_err(RUV_ERR_NOT_SUPPORTED, "unknown command");
    }
    s_req = NULL;
}
