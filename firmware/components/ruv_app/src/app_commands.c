/*
 * app_commands.c — the console commands (docs/protocol.md). Each command is
 * one function below and one row of app_commands[] at the end of the file.
 *
 * Counts and lengths from a line are checked by dividing what arrived,
 * never by multiplying the count: the chip's size_t is 32 bits.
 */
#include <stdio.h>
#include <string.h>

#include "app_console.h"
#include "app_service.h"
#include "app_slots.h"
#include "app_state.h"
#include "app_telemetry.h"
#include "app_update.h"
#include "ruv_app_fleet.h"

static const char *mode_name(ruv_run_mode_t mode)
{
    return mode == RUV_MODE_STREAM ? "stream" : "window";
}

static void queue_stats(ruv_app_queue_t *q)
{
    memset(q, 0, sizeof *q);
    if (g_app.p->queue_stats != NULL) {
        g_app.p->queue_stats(g_app.p->user, q);
    }
}

static ruv_status_t cmd_ping(const ruv_request_t *r)
{
    (void)r;
    reply_end(reply_head("ping"));
    return RUV_OK;
}

static ruv_status_t cmd_info(const ruv_request_t *r)
{
    (void)r;
    const ruv_app_platform_t *p = g_app.p;
    const ruv_temporal_config_t *c = &g_app.cfg;
    size_t at = reply_head("info");
    at = reply_append(at,
                      " proto=%d app=%s core=%d.%d.%d platform=%s D=%u N=%u C=%u mode=%s fp16=%d period_ms=%lu sched=%d "
                      "tx=%d",
                      RUV_PROTO_VERSION, RUV_APP_VERSION, RUV_TEMPORAL_VERSION_MAJOR, RUV_TEMPORAL_VERSION_MINOR,
                      RUV_TEMPORAL_VERSION_PATCH, app_platform_name(), (unsigned)c->input_dim,
                      (unsigned)c->window_len, (unsigned)c->n_classes, mode_name(c->mode), c->kv_fp16 ? 1 : 0,
                      (unsigned long)g_app.period_ms, g_app.sched_on ? 1 : 0, g_app.tx_on ? 1 : 0);
    at = reply_append(at, " node=%u slots=%d line_max=%d expect_fs=%u",
                      p->node_id != NULL ? (unsigned)p->node_id(p->user) : 0u, slots_count(), RUV_PROTO_LINE_MAX,
                      (unsigned)g_app.expected_feature_set);
    if (g_app.ctx == NULL) {
        at = reply_append(at, " model=none slot=-1 gen=0");
        reply_end(at);
        return RUV_OK;
    }
    const ruv_model_info_t *m = &g_app.info;
    at = reply_append(at,
                      " model=%08lx slot=%d gen=%lu blob_len=%lu feature_set=%u layers=%u q_heads=%u kv_heads=%u "
                      "head_dim=%u fp16_weights=%d",
                      (unsigned long)g_app.active_crc, g_app.active_slot, (unsigned long)g_app.active_gen,
                      (unsigned long)m->blob_len, (unsigned)m->feature_set, (unsigned)m->n_layers,
                      (unsigned)m->n_q_heads, (unsigned)m->n_kv_heads, (unsigned)m->head_dim,
                      m->fp16_weights ? 1 : 0);
    at = reply_append(at, " labels=");
    if (m->labels == NULL || m->labels_len == 0) {
        reply_end(reply_append(at, "-"));
        return RUV_OK;
    }
    size_t cap = 0;
    (void)console_buffer(&cap);
    /* Labels as one token: NUL -> ',', anything not printable -> '_'. */
    for (uint32_t i = 0; i < m->labels_len && at < cap - 64; ++i) {
        char ch = m->labels[i];
        if (ch == '\0') {
            ch = ',';
        } else if ((unsigned char)ch <= 0x20 || (unsigned char)ch >= 0x7f || ch == ',') {
            ch = '_';
        }
        at = reply_append_char(at, ch);
    }
    reply_end(at);
    return RUV_OK;
}

static ruv_status_t cmd_push(const ruv_request_t *r)
{
    uint32_t n = 0;
    if (r->n_tok != 3 || !ruv_tok_u32(r->tok[1], &n) || n == 0) {
        return reply_err(RUV_ERR_INVALID_ARG, "usage: push <n_frames> <hex of n*D float32 bit patterns>");
    }
    const size_t d = g_app.cfg.input_dim;
    const ruv_tok_t hex = r->tok[2];
    /* Divide, never multiply: n * D * 8 wraps on a 32-bit size_t (the chip's),
     * e.g. n = 33554433, D = 16 gives 128, one frame's worth of hex. */
    if (hex.len % (d * 8u) != 0u || hex.len / (d * 8u) != n) {
        return reply_err(RUV_ERR_INVALID_SIZE, "frame data length is not n_frames*D*8 hex digits");
    }
    /* Validate every digit before the first frame goes anywhere. */
    for (size_t i = 0; i < hex.len; ++i) {
        const char c = hex.ptr[i];
        if (!((c >= '0' && c <= '9') || (c >= 'a' && c <= 'f') || (c >= 'A' && c <= 'F'))) {
            return reply_err(RUV_ERR_INVALID_ARG, "bad hex digit in frame data");
        }
    }
    if (g_app.ctx == NULL) {
        return reply_err(RUV_ERR_NOT_FOUND, "no model loaded");
    }
    /* Once the queue refuses a frame, the rest of the batch is refused too
     * (and counted as dropped): accepted frames are always the first
     * `accepted` of the batch, so a host knows exactly which ones went in. */
    const ruv_app_platform_t *p = g_app.p;
    uint32_t accepted = 0, dropped = 0;
    for (uint32_t f = 0; f < n; ++f) {
        const char *frame_hex = hex.ptr + (size_t)f * d * 8u; /* f < n: within the token */
        if (p->submit_frame != NULL) {
            if (dropped == 0) {
                (void)ruv_hex_to_f32(frame_hex, d * 8u, g_app.frame, d);
            }
            if (dropped == 0 && p->submit_frame(p->user, g_app.frame, d)) {
                ++accepted;
            } else {
                g_app.batch_refused += dropped != 0 ? 1u : 0u; /* the first one the platform counted */
                ++dropped;
            }
        } else {
            (void)ruv_hex_to_f32(frame_hex, d * 8u, g_app.frame, d);
            ruv_status_t st = service_push_frame(g_app.frame);
            if (st != RUV_OK) {
                return reply_err(st, "core rejected the frame");
            }
            ++accepted;
        }
    }
    ruv_app_queue_t q;
    queue_stats(&q);
    size_t at = reply_head("push");
    at = reply_append(at, " n=%lu accepted=%lu dropped=%lu frames=%lu pending=%lu", (unsigned long)n,
                      (unsigned long)accepted, (unsigned long)dropped, (unsigned long)g_app.frames,
                      (unsigned long)q.waiting);
    reply_end(at);
    return RUV_OK;
}

static ruv_status_t cmd_classify(const ruv_request_t *r)
{
    if (r->n_tok != 1) {
        return reply_err(RUV_ERR_INVALID_ARG, "usage: classify");
    }
    uint32_t am = 0;
    ruv_status_t st = service_classify(g_app.vec, &am);
    if (st == RUV_ERR_NOT_FOUND) {
        return reply_err(st, "no model loaded");
    }
    if (st != RUV_OK) {
        return reply_err(st, st == RUV_ERR_INVALID_STATE ? "no frame pushed yet" : "classify failed");
    }
    size_t at = reply_head("classify");
    at = reply_append(at, " argmax=%lu n=%u frames=%lu logits=", (unsigned long)am, (unsigned)g_app.cfg.n_classes,
                      (unsigned long)g_app.frames);
    reply_end(reply_append_f32_hex(at, g_app.vec, g_app.cfg.n_classes));
    return RUV_OK;
}

static ruv_status_t cmd_layer(const ruv_request_t *r)
{
    uint32_t stage = 0;
    if (r->n_tok != 2 || !ruv_tok_u32(r->tok[1], &stage)) {
        return reply_err(RUV_ERR_INVALID_ARG, "usage: layer <stage 0..n_layers>");
    }
    if (g_app.ctx == NULL) {
        return reply_err(RUV_ERR_NOT_FOUND, "no model loaded");
    }
    if (stage > g_app.info.n_layers) {
        return reply_err(RUV_ERR_INVALID_ARG, "stage out of range");
    }
    ruv_status_t st = ruv_temporal_layer_state(g_app.ctx, (uint16_t)stage, g_app.vec, g_app.cfg.input_dim);
    if (st != RUV_OK) {
        return reply_err(st, "no layer state (classify or push first)");
    }
    size_t at = reply_head("layer");
    at = reply_append(at, " stage=%lu layers=%u n=%u state=", (unsigned long)stage, (unsigned)g_app.info.n_layers,
                      (unsigned)g_app.cfg.input_dim);
    reply_end(reply_append_f32_hex(at, g_app.vec, g_app.cfg.input_dim));
    return RUV_OK;
}

static ruv_status_t cmd_stats(const ruv_request_t *r)
{
    if (r->n_tok != 1) {
        return reply_err(RUV_ERR_INVALID_ARG, "usage: stats");
    }
    const ruv_app_platform_t *p = g_app.p;
    ruv_app_queue_t q;
    queue_stats(&q);
    ruv_app_mem_t m;
    memset(&m, 0, sizeof m);
    if (p->mem_stats != NULL) {
        p->mem_stats(p->user, &m);
    }
    ruv_temporal_stats_t ts;
    memset(&ts, 0, sizeof ts);
    if (g_app.ctx != NULL) {
        (void)ruv_temporal_get_stats(g_app.ctx, &ts);
    }
    const uint64_t up = app_now_us() - g_app.boot_us;
    size_t at = reply_head("stats");
    at = reply_append(at,
                      " frames=%lu push_errors=%lu classifications=%lu rebases=%lu ring=%lu context=%lu "
                      "queued=%lu dropped=%lu pending=%lu depth=%lu",
                      (unsigned long)g_app.frames, (unsigned long)g_app.push_errors,
                      (unsigned long)g_app.classifications, (unsigned long)ts.rebases,
                      (unsigned long)ts.frames_in_ring, (unsigned long)ts.context_len, (unsigned long)q.enqueued,
                      (unsigned long)(q.dropped + g_app.batch_refused), (unsigned long)q.waiting,
                      (unsigned long)q.depth);
    at = reply_append(at,
                      " telemetry_seq=%lu telemetry_sent=%lu telemetry_failed=%lu ticks_missed=%lu commands=%lu "
                      "rejected=%lu arena=%lu",
                      (unsigned long)g_app.seq, (unsigned long)g_app.telemetry_sent,
                      (unsigned long)g_app.telemetry_failed, (unsigned long)g_app.ticks_missed,
                      (unsigned long)g_app.commands, (unsigned long)g_app.rejected, (unsigned long)ts.arena_bytes);
    at = reply_append(at,
                      " heap_free=%lu heap_min_free=%lu heap_largest=%lu temporal_stack_free=%lu "
                      "console_stack_free=%lu uptime_us=%llu",
                      (unsigned long)m.heap_free, (unsigned long)m.heap_min_free,
                      (unsigned long)m.heap_largest_block, (unsigned long)m.temporal_stack_free,
                      (unsigned long)m.console_stack_free, (unsigned long long)up);
    ruv_app_mqtt_stats_t mq;
    fleet_get_stats(&mq);
    at = reply_append(at,
                      " mqtt=%s mqtt_published=%lu mqtt_dropped=%lu mqtt_connects=%lu mqtt_refusals=%lu "
                      "models_ok=%lu models_refused=%lu signed_gen=%lu locked=%d link_replayed=%lu link_refused=%lu",
                      !mq.enabled ? "off" : mq.connected ? "up" : mq.refusals > 0 ? "refused" : "down",
                      (unsigned long)mq.published, (unsigned long)mq.dropped, (unsigned long)mq.connects,
                      (unsigned long)mq.refusals, (unsigned long)mq.models_ok, (unsigned long)mq.models_refused,
                      (unsigned long)g_app.signed_gen, g_app.locked ? 1 : 0, (unsigned long)g_app.link_replayed,
                      (unsigned long)g_app.link_refused);
    reply_end(at);
    return RUV_OK;
}

static ruv_status_t cmd_reset(const ruv_request_t *r)
{
    if (r->n_tok != 1) {
        return reply_err(RUV_ERR_INVALID_ARG, "usage: reset");
    }
    if (g_app.ctx != NULL) {
        ruv_status_t st = ruv_temporal_reset(g_app.ctx);
        if (st != RUV_OK) {
            return reply_err(st, "reset failed");
        }
    }
    app_reset_counters();
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
    at = reply_append(at, " core=ok proto=ok model=%s", g_app.ctx != NULL ? "loaded" : "none");
    reply_end(at);
    return RUV_OK;
}

static ruv_status_t cmd_mode(const ruv_request_t *r)
{
    if (r->n_tok < 2 || r->n_tok > 3) {
        return reply_err(RUV_ERR_INVALID_ARG, "usage: mode window|stream [fp16=0|1]");
    }
    ruv_temporal_config_t cfg = g_app.cfg;
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
    const char *why = "";
    ruv_status_t st = slots_restart_active(&cfg, &why);
    if (st != RUV_OK) {
        return reply_err(st, why);
    }
    g_app.cfg = cfg;
    app_reset_counters();
    size_t at = reply_head("mode");
    at = reply_append(at, " mode=%s fp16=%d", mode_name(cfg.mode), cfg.kv_fp16 ? 1 : 0);
    reply_end(at);
    return RUV_OK;
}

static ruv_status_t cmd_tx(const ruv_request_t *r)
{
    if (r->n_tok != 2 || !(ruv_tok_eq(r->tok[1], "on") || ruv_tok_eq(r->tok[1], "off"))) {
        return reply_err(RUV_ERR_INVALID_ARG, "usage: tx on|off");
    }
    g_app.tx_on = ruv_tok_eq(r->tok[1], "on");
    size_t at = reply_head("tx");
    at = reply_append(at, " tx=%d", g_app.tx_on ? 1 : 0);
    reply_end(at);
    return RUV_OK;
}

/* ---- load begin|chunk|commit|abort ---------------------------------------------- */

static ruv_status_t load_begin(const ruv_request_t *r)
{
    uint32_t len = 0, crc = 0;
    if (r->n_tok != 4 || !ruv_tok_u32(r->tok[2], &len) || !ruv_tok_hex32(r->tok[3], &crc) || len == 0) {
        return reply_err(RUV_ERR_INVALID_ARG, "usage: load begin <total_len> <crc32 8 hex>");
    }
    const char *why = "";
    int slot = -1;
    /* Locked: the console takes signed envelopes only (docs/fleet.md). */
    ruv_status_t st = update_begin(len, g_app.locked, true, crc, &slot, &why);
    if (st != RUV_OK) {
        return reply_err(st, why);
    }
    size_t at = reply_head("load");
    at = reply_append(at, " begin slot=%d len=%lu chunk_max=%u", slot, (unsigned long)len,
                      (unsigned)APP_UPLOAD_CHUNK_MAX);
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
    const char *why = "";
    if (!update_active()) {
        return reply_err(RUV_ERR_INVALID_STATE, "no upload in progress (load begin first)");
    }
    if (off != update_next_offset()) {
        return reply_err(RUV_ERR_INVALID_STATE, "chunk out of order");
    }
    const uint8_t *bytes = NULL;
    size_t n = 0;
    ruv_status_t st = slots_decode_chunk(crc, r->tok[4].ptr, r->tok[4].len, &bytes, &n, &why);
    if (st == RUV_OK) {
        st = update_write(off, bytes, n, &why);
    }
    if (st != RUV_OK) {
        return reply_err(st, why);
    }
    size_t at = reply_head("load");
    at = reply_append(at, " chunk next=%lu", (unsigned long)update_next_offset());
    reply_end(at);
    return RUV_OK;
}

static ruv_status_t load_commit(const ruv_request_t *r)
{
    if (r->n_tok != 2) {
        return reply_err(RUV_ERR_INVALID_ARG, "usage: load commit");
    }
    const char *why = "";
    ruv_status_t st = update_commit(&why);
    if (st != RUV_OK) {
        return reply_err(st, why);
    }
    size_t at = reply_head("load");
    at = reply_append(at, " commit model=%08lx slot=%d gen=%lu", (unsigned long)g_app.active_crc, g_app.active_slot,
                      (unsigned long)g_app.active_gen);
    reply_end(at);
    return RUV_OK;
}

static ruv_status_t load_abort(const ruv_request_t *r)
{
    if (r->n_tok != 2) {
        return reply_err(RUV_ERR_INVALID_ARG, "usage: load abort");
    }
    const bool was = update_abort();
    size_t at = reply_head("load");
    at = reply_append(at, " abort was_active=%d", was ? 1 : 0);
    reply_end(at);
    return RUV_OK;
}

static ruv_status_t cmd_load(const ruv_request_t *r)
{
    static const app_command_t sub[] = {
        {"begin", load_begin},
        {"chunk", load_chunk},
        {"commit", load_commit},
        {"abort", load_abort},
    };
    for (size_t i = 0; r->n_tok >= 2 && i < sizeof sub / sizeof sub[0]; ++i) {
        if (ruv_tok_eq(r->tok[1], sub[i].name)) {
            return sub[i].run(r);
        }
    }
    return reply_err(RUV_ERR_INVALID_ARG, "usage: load begin|chunk|commit|abort ...");
}

/* ---- bench: what the core costs on this platform --------------------------------
 *
 * Runs the active model in a scratch context: one ruv_temporal_init_ex of
 * the same blob (read in place from its slot) with the device's N, created
 * for the command and destroyed before the reply (its arena is `arena`
 * bytes of heap for the duration; nothing is allocated per frame). The live
 * context, its ring/caches and every counter are untouched. Frames are
 * deterministic (docs/spec.md §5 xorshift64* values in [-1, 1)), generated
 * outside the measured calls. Each push/classify is measured alone with
 * the platform's cycle counter; the platform's yield runs between them.
 * The app lock is held throughout, so the temporal task and its schedule
 * wait (queued frames may be dropped, and are counted, meanwhile). */

#define BENCH_MAX_FRAMES 100000u
#define BENCH_MAX_REPS 100u
#define BENCH_YIELD_EVERY 32u

typedef struct {
    uint64_t sum;
    uint32_t n, min, max;
} bench_acc_t;

static void bench_add(bench_acc_t *a, uint32_t c)
{
    a->sum += c;
    a->min = a->n == 0 || c < a->min ? c : a->min;
    a->max = c > a->max ? c : a->max;
    ++a->n;
}

static unsigned long long bench_mean(const bench_acc_t *a)
{
    return a->n == 0 ? 0ull : (unsigned long long)((a->sum + a->n / 2u) / a->n);
}

/* Counts since t0 (modulo 2^32: one measured call stays below 2^32 counts). */
static uint32_t bench_since(const ruv_app_platform_t *p, uint32_t t0)
{
    return p->cycle_count(p->user) - t0;
}

static void bench_pause(const ruv_app_platform_t *p, uint32_t i)
{
    if (p->yield != NULL && i % BENCH_YIELD_EVERY == BENCH_YIELD_EVERY - 1u) {
        p->yield(p->user);
    }
}

static void bench_frame(uint64_t *seed, float *frame, size_t d)
{
    for (size_t i = 0; i < d; ++i) {
        frame[i] = ruv_xorshift_weight(seed) * 10.0f; /* [-0.1, 0.1) -> [-1, 1) */
    }
}

static ruv_status_t cmd_bench(const ruv_request_t *r)
{
    static const char usage[] = "usage: bench window [reps 1..100] | bench stream <frames 1..100000> [fp16=0|1]";
    const ruv_app_platform_t *p = g_app.p;
    ruv_temporal_config_t cfg = g_app.cfg;
    uint32_t count = 3;
    if (r->n_tok >= 2 && ruv_tok_eq(r->tok[1], "window") && r->n_tok <= 3) {
        cfg.mode = RUV_MODE_WINDOW;
        cfg.kv_fp16 = false;
        if (r->n_tok == 3 && (!ruv_tok_u32(r->tok[2], &count) || count < 1u || count > BENCH_MAX_REPS)) {
            return reply_err(RUV_ERR_INVALID_ARG, usage);
        }
    } else if (r->n_tok >= 3 && ruv_tok_eq(r->tok[1], "stream") && r->n_tok <= 4) {
        cfg.mode = RUV_MODE_STREAM;
        if (!ruv_tok_u32(r->tok[2], &count) || count < 1u || count > BENCH_MAX_FRAMES) {
            return reply_err(RUV_ERR_INVALID_ARG, usage);
        }
        if (r->n_tok == 4) {
            if (!ruv_tok_eq(r->tok[3], "fp16=0") && !ruv_tok_eq(r->tok[3], "fp16=1")) {
                return reply_err(RUV_ERR_INVALID_ARG, usage);
            }
            cfg.kv_fp16 = ruv_tok_eq(r->tok[3], "fp16=1");
        }
    } else {
        return reply_err(RUV_ERR_INVALID_ARG, usage);
    }
    if (p->cycle_count == NULL) {
        return reply_err(RUV_ERR_NOT_SUPPORTED, "no cycle counter on this platform");
    }
    const uint8_t *blob = NULL;
    size_t len = 0;
    if (slots_active_blob(&blob, &len) != RUV_OK) {
        return reply_err(RUV_ERR_NOT_FOUND, "no model loaded");
    }
    size_t arena = 0;
    ruv_temporal_ctx_t *ctx = NULL;
    ruv_status_t st = ruv_temporal_required_bytes(blob, len, &cfg, &arena);
    if (st == RUV_OK) {
        st = ruv_temporal_init_ex(blob, len, &cfg, &ctx);
    }
    if (st == RUV_ERR_NO_MEM) {
        static char why[64];
        (void)snprintf(why, sizeof why, "no heap for the scratch context (%lu bytes)", (unsigned long)arena);
        return reply_err(st, why);
    }
    if (st != RUV_OK) {
        return reply_err(st, "scratch context init failed");
    }
    const size_t d = cfg.input_dim;
    const uint32_t n = cfg.window_len;
    uint64_t seed = RUV_TEMPORAL_RANDOM_SEED;
    bench_acc_t fill = {0, 0, 0, 0}, main_acc = {0, 0, 0, 0}, steady = {0, 0, 0, 0}, rebase = {0, 0, 0, 0};
    uint32_t rebases = 0;
    /* Fill: N pushes (window: the full ring; stream: caches full, no rebase yet). */
    for (uint32_t t = 0; t < n && st == RUV_OK; ++t) {
        bench_frame(&seed, g_app.frame, d);
        const uint32_t t0 = p->cycle_count(p->user);
        st = ruv_temporal_push(ctx, g_app.frame);
        bench_add(&fill, bench_since(p, t0));
        bench_pause(p, t);
    }
    ruv_temporal_stats_t ts;
    memset(&ts, 0, sizeof ts);
    for (uint32_t i = 0; i < count && st == RUV_OK; ++i) {
        if (cfg.mode == RUV_MODE_WINDOW) {
            const uint32_t t0 = p->cycle_count(p->user);
            st = ruv_temporal_classify(ctx, g_app.vec, cfg.n_classes);
            bench_add(&main_acc, bench_since(p, t0));
        } else {
            bench_frame(&seed, g_app.frame, d);
            const uint32_t t0 = p->cycle_count(p->user);
            st = ruv_temporal_push(ctx, g_app.frame);
            const uint32_t c = bench_since(p, t0);
            bench_add(&main_acc, c);
            if (st == RUV_OK) {
                st = ruv_temporal_get_stats(ctx, &ts);
            }
            bench_add(ts.rebases != rebases ? &rebase : &steady, c);
            rebases = ts.rebases;
        }
        bench_pause(p, i);
    }
    ruv_temporal_destroy(ctx);
    if (st != RUV_OK) {
        return reply_err(st, "core failed during the bench");
    }
    const char *unit = p->cycle_unit != NULL ? p->cycle_unit : "cycles";
    size_t at = reply_head("bench");
    if (cfg.mode == RUV_MODE_WINDOW) {
        at = reply_append(at, " what=window N=%lu reps=%lu unit=%s classify=%llu classify_min=%lu classify_max=%lu",
                          (unsigned long)n, (unsigned long)count, unit, bench_mean(&main_acc),
                          (unsigned long)main_acc.min, (unsigned long)main_acc.max);
        at = reply_append(at, " push=%llu", bench_mean(&fill));
    } else {
        at = reply_append(at, " what=stream N=%lu fp16=%d frames=%lu rebases=%lu unit=%s amortised=%llu",
                          (unsigned long)n, cfg.kv_fp16 ? 1 : 0, (unsigned long)count, (unsigned long)rebase.n, unit,
                          bench_mean(&main_acc));
        at = reply_append(at, " steady=%llu steady_min=%lu steady_n=%lu rebase=%llu rebase_max=%lu fill=%llu",
                          bench_mean(&steady), (unsigned long)steady.min, (unsigned long)steady.n,
                          bench_mean(&rebase), (unsigned long)rebase.max, bench_mean(&fill));
    }
    at = reply_append(at, " model=%08lx arena=%lu", (unsigned long)g_app.active_crc, (unsigned long)arena);
    reply_end(at);
    return RUV_OK;
}

/* ---- the table ---------------------------------------------------------------- */

const app_command_t app_commands[] = {
    {"info", cmd_info},
    {"push", cmd_push},
    {"classify", cmd_classify},
    {"layer", cmd_layer},
    {"load", cmd_load},
    {"stats", cmd_stats},
    {"reset", cmd_reset},
    {"selftest", cmd_selftest},
    {"mode", cmd_mode},
    {"tx", cmd_tx},
    {"ping", cmd_ping},
    {"link", console_cmd_link},
    {"bench", cmd_bench},
};
const size_t app_command_count = sizeof app_commands / sizeof app_commands[0];
