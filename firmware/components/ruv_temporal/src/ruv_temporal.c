/*
 * ruv_temporal.c — the C ABI of the temporal head (ruv_temporal.h): context
 * lifecycle, frame ring, window and stream run modes (docs/spec.md §4), the
 * deterministic random blob (docs/spec.md §5) and the self-test.
 *
 * Memory: one arena per context, malloc'ed once in init and laid out by
 * plan_arena() — the same function ruv_temporal_required_bytes() reports,
 * so the two always agree. push/classify never allocate. The blob is
 * borrowed (weights read in place) and must outlive the context; it must be
 * 4-byte aligned (an mmapped partition or a malloc'ed buffer is).
 *
 * Arena (window mode):  ctx | ring [N][D] | fp32 KV cache (capacity N) |
 *                       h [N][D] | row scratch | logits [C] | states [L+1][D] |
 *                       needed-row bit sets [L+1][N/8] (ruv_model_forward)
 * Arena (stream mode):  ctx | ring [N/2][D] | L cache structs | L KV caches
 *                       (capacity N, FP32 or FP16) | FP16 only: fp32 prefill
 *                       cache (capacity N/2) | h [N/2][D] | row scratch |
 *                       logits | states
 * The stream ring only needs the N/2 frames a rebase refills the caches from.
 */
#include "ruv_temporal.h"

#include <stdlib.h>
#include <string.h>

#include "ruv_blob.h"
#include "ruv_crc32.h"
#include "ruv_model.h"

struct ruv_temporal_ctx {
    ruv_temporal_config_t cfg;
    ruv_blob_t blob;
    ruv_model_t model;
    ruv_model_info_t info;
    size_t arena_bytes;

    float *ring; /* [ring_cap][D] raw frames */
    size_t ring_cap, ring_head, ring_filled;

    ruv_kv_cache_t *caches; /* stream: [L], capacity N */
    ruv_kv_cache_t work;    /* window: capacity N; stream FP16: N/2 */
    bool has_work;

    float *h; /* [h_rows][D] forward rows; stream decode uses row 0 */
    size_t h_rows;
    float *rows;
    float *logits;
    float *states; /* [L+1][D] */
    uint8_t *need; /* window mode: ruv_model_forward's needed-row bit sets */

    bool have_logits; /* logits/states valid (classify in window, push in stream) */
    bool broken;      /* a kernel call failed mid-update: reset needed */
    uint32_t frames_pushed, classifications, rebases;
};

/* ---- status names ----------------------------------------------------------- */

const char *ruv_status_name(ruv_status_t status)
{
    switch (status) {
    case RUV_OK:
        return "OK";
    case RUV_ERR_NO_MEM:
        return "NO_MEM";
    case RUV_ERR_INVALID_ARG:
        return "INVALID_ARG";
    case RUV_ERR_INVALID_STATE:
        return "INVALID_STATE";
    case RUV_ERR_INVALID_SIZE:
        return "INVALID_SIZE";
    case RUV_ERR_NOT_FOUND:
        return "NOT_FOUND";
    case RUV_ERR_NOT_SUPPORTED:
        return "NOT_SUPPORTED";
    case RUV_ERR_TIMEOUT:
        return "TIMEOUT";
    case RUV_ERR_INVALID_CRC:
        return "INVALID_CRC";
    case RUV_ERR_INVALID_VERSION:
        return "INVALID_VERSION";
    default:
        return "UNKNOWN";
    }
}

/* ---- checked size arithmetic -------------------------------------------------- */

static bool mul_ok(size_t a, size_t b, size_t *out)
{
    if (b != 0u && a > SIZE_MAX / b) {
        return false;
    }
    *out = a * b;
    return true;
}

/* Reserves `bytes` at the (8-aligned) end of the arena; returns the offset. */
static bool reserve(size_t *end, size_t bytes, size_t *offset)
{
    size_t at = *end;
    if (at > SIZE_MAX - 7u) {
        return false;
    }
    at = (at + 7u) & ~(size_t)7u;
    if (bytes > SIZE_MAX - at) {
        return false;
    }
    *offset = at;
    *end = at + bytes;
    return true;
}

static bool reserve_floats(size_t *end, size_t count, size_t *offset)
{
    size_t bytes;
    return mul_ok(count, sizeof(float), &bytes) && reserve(end, bytes, offset);
}

typedef struct {
    size_t total;
    size_t ring_cap, h_rows, work_cap, cache_bytes, work_bytes;
    size_t off_ring, off_cache_structs, off_caches, off_work, off_h, off_rows, off_logits,
        off_states, off_need, need_bytes;
    bool has_work;
} arena_plan_t;

static ruv_status_t plan_arena(const ruv_model_t *m, const ruv_temporal_config_t *cfg,
                               arena_plan_t *p, const char **reason)
{
    memset(p, 0, sizeof *p);
    const size_t N = cfg->window_len;
    const bool stream = cfg->mode == RUV_MODE_STREAM;
    const size_t B = m->attn.block_size;
    size_t end = sizeof(struct ruv_temporal_ctx);
    size_t n;
    bool ok = true;

    p->ring_cap = stream ? N / 2u : N;
    p->h_rows = stream ? N / 2u : N;
    ok = ok && mul_ok(p->ring_cap, m->D, &n) && reserve_floats(&end, n, &p->off_ring);
    if (stream) {
        p->cache_bytes = ruv_kv_cache_bytes(N, m->kv_heads, m->head_dim, B, cfg->kv_fp16);
        ok = ok && p->cache_bytes != 0u && p->cache_bytes <= SIZE_MAX - 7u;
        size_t per = (p->cache_bytes + 7u) & ~(size_t)7u;
        ok = ok && mul_ok(m->L, sizeof(ruv_kv_cache_t), &n) &&
             reserve(&end, n, &p->off_cache_structs);
        ok = ok && mul_ok(m->L, per, &n) && reserve(&end, n, &p->off_caches);
        p->cache_bytes = per;
        p->has_work = cfg->kv_fp16;
        p->work_cap = N / 2u;
    } else {
        p->has_work = true;
        p->work_cap = N;
    }
    if (p->has_work) {
        p->work_bytes = ruv_kv_cache_bytes(p->work_cap, m->kv_heads, m->head_dim, B, false);
        ok = ok && p->work_bytes != 0u && reserve(&end, p->work_bytes, &p->off_work);
    }
    ok = ok && mul_ok(p->h_rows, m->D, &n) && reserve_floats(&end, n, &p->off_h);
    ok = ok && reserve_floats(&end, ruv_model_row_floats(m), &p->off_rows);
    ok = ok && reserve_floats(&end, m->C, &p->off_logits);
    ok = ok && m->L < SIZE_MAX && mul_ok(m->L + 1u, m->D, &n) &&
         reserve_floats(&end, n, &p->off_states);
    if (!stream) {
        p->need_bytes = ruv_model_need_bytes(m, N);
        ok = ok && p->need_bytes != 0u && reserve(&end, p->need_bytes, &p->off_need);
    }
    if (!ok) {
        *reason = "arena_overflow";
        return RUV_ERR_NO_MEM;
    }
    p->total = end;
    return RUV_OK;
}

/* ---- info ------------------------------------------------------------------------ */

static void fill_info(const ruv_blob_t *b, const ruv_attn_cfg_t *attn, ruv_model_info_t *info)
{
    memset(info, 0, sizeof *info);
    info->input_dim = b->input_dim;
    info->n_q_heads = b->n_q_heads;
    info->n_kv_heads = b->n_kv_heads;
    info->head_dim = b->head_dim;
    info->n_layers = b->n_layers;
    info->n_classes = b->n_classes;
    info->fp16_weights = b->fp16;
    info->has_norm = b->norm != NULL;
    info->has_bias = b->bias != NULL;
    info->has_attn = b->has_attn;
    info->has_input = b->has_input;
    info->has_labels = b->labels != NULL;
    info->attn = *attn;
    info->feature_set = b->feature_set;
    info->frame_rate_x100 = b->frame_rate_x100;
    info->crc32 = b->crc32;
    info->blob_len = (uint32_t)b->len;
    info->labels = (const char *)(const void *)b->labels;
    info->labels_len = b->labels_len;
    info->meta = b->has_meta ? (const char *)(const void *)b->meta : NULL;
    info->meta_len = b->meta_len;
}

ruv_status_t ruv_temporal_blob_info(const uint8_t *blob, size_t len, ruv_model_info_t *info,
                                    const char **reason)
{
    const char *dummy;
    if (reason == NULL) {
        reason = &dummy;
    }
    ruv_blob_t b;
    ruv_status_t st = ruv_blob_parse(blob, len, &b, reason);
    if (st != RUV_OK) {
        if (info != NULL) {
            memset(info, 0, sizeof *info);
        }
        return st;
    }
    if (info != NULL) {
        /* Globals: duplicates dropped, the first RUV_MAX_GLOBALS distinct ones
         * kept (the blob stays valid; init refuses more than that). */
        ruv_attn_cfg_t attn;
        (void)ruv_blob_attn_cfg(&b, (size_t)UINT16_MAX + 1u, &attn);
        fill_info(&b, &attn, info);
    }
    return RUV_OK;
}

/* ---- config check ------------------------------------------------------------------ */

typedef struct {
    ruv_blob_t blob;
    ruv_model_t model;
    arena_plan_t plan;
} checked_t;

static ruv_status_t check_all(const uint8_t *blob, size_t len, const ruv_temporal_config_t *cfg,
                              checked_t *c, const char **reason)
{
    if (cfg == NULL) {
        *reason = "no_config";
        return RUV_ERR_INVALID_ARG;
    }
    ruv_status_t st = ruv_blob_parse(blob, len, &c->blob, reason);
    if (st != RUV_OK) {
        return st;
    }
    if (cfg->mode != RUV_MODE_WINDOW && cfg->mode != RUV_MODE_STREAM) {
        *reason = "bad_mode";
        return RUV_ERR_INVALID_ARG;
    }
    if (cfg->input_dim != c->blob.input_dim) {
        *reason = "input_dim_mismatch";
        return RUV_ERR_INVALID_SIZE;
    }
    if (cfg->n_classes != c->blob.n_classes) {
        *reason = "n_classes_mismatch";
        return RUV_ERR_INVALID_SIZE;
    }
    if (cfg->window_len < (cfg->mode == RUV_MODE_STREAM ? 2u : 1u)) {
        *reason = "bad_window_len";
        return RUV_ERR_INVALID_ARG;
    }
    st = ruv_model_init(&c->model, &c->blob, cfg->window_len, reason);
    if (st != RUV_OK) {
        return st;
    }
    return plan_arena(&c->model, cfg, &c->plan, reason);
}

ruv_status_t ruv_temporal_check_config(const uint8_t *blob, size_t len,
                                       const ruv_temporal_config_t *cfg, size_t *bytes,
                                       const char **reason)
{
    const char *dummy;
    if (reason == NULL) {
        reason = &dummy;
    }
    checked_t c;
    ruv_status_t st = check_all(blob, len, cfg, &c, reason);
    if (bytes != NULL) {
        *bytes = st == RUV_OK ? c.plan.total : 0u;
    }
    if (st == RUV_OK) {
        *reason = "ok";
    }
    return st;
}

ruv_status_t ruv_temporal_required_bytes(const uint8_t *blob, size_t len,
                                         const ruv_temporal_config_t *cfg, size_t *bytes)
{
    if (bytes == NULL) {
        return RUV_ERR_INVALID_ARG;
    }
    return ruv_temporal_check_config(blob, len, cfg, bytes, NULL);
}

/* ---- lifecycle ------------------------------------------------------------------------ */

static void clear_state(ruv_temporal_ctx_t *ctx)
{
    ctx->ring_head = 0;
    ctx->ring_filled = 0;
    if (ctx->caches != NULL) {
        for (size_t l = 0; l < ctx->model.L; ++l) {
            ruv_kv_cache_clear(&ctx->caches[l]);
        }
    }
    if (ctx->has_work) {
        ruv_kv_cache_clear(&ctx->work);
    }
    ctx->have_logits = false;
    ctx->broken = false;
    ctx->frames_pushed = 0;
    ctx->classifications = 0;
    ctx->rebases = 0;
}

ruv_status_t ruv_temporal_init_ex(const uint8_t *blob, size_t len,
                                  const ruv_temporal_config_t *cfg, ruv_temporal_ctx_t **out)
{
    if (out == NULL) {
        return RUV_ERR_INVALID_ARG;
    }
    *out = NULL;
    const char *reason = NULL;
    checked_t c;
    ruv_status_t st = check_all(blob, len, cfg, &c, &reason);
    if (st != RUV_OK) {
        return st;
    }
    const arena_plan_t *p = &c.plan;
    uint8_t *arena = (uint8_t *)malloc(p->total);
    if (arena == NULL) {
        return RUV_ERR_NO_MEM;
    }
    memset(arena, 0, p->total);
    ruv_temporal_ctx_t *ctx = (ruv_temporal_ctx_t *)(void *)arena;
    ctx->cfg = *cfg;
    ctx->blob = c.blob;
    ctx->model = c.model;
    ctx->arena_bytes = p->total;
    fill_info(&ctx->blob, &ctx->model.attn, &ctx->info);

    const ruv_model_t *m = &ctx->model;
    const size_t B = m->attn.block_size;
    ctx->ring = (float *)(void *)(arena + p->off_ring);
    ctx->ring_cap = p->ring_cap;
    if (cfg->mode == RUV_MODE_STREAM) {
        ctx->caches = (ruv_kv_cache_t *)(void *)(arena + p->off_cache_structs);
        for (size_t l = 0; l < m->L && st == RUV_OK; ++l) {
            st = ruv_kv_cache_init(&ctx->caches[l], arena + p->off_caches + l * p->cache_bytes,
                                   p->cache_bytes, cfg->window_len, m->kv_heads, m->head_dim, B,
                                   cfg->kv_fp16);
        }
    }
    ctx->has_work = p->has_work;
    if (st == RUV_OK && p->has_work) {
        st = ruv_kv_cache_init(&ctx->work, arena + p->off_work, p->work_bytes, p->work_cap,
                               m->kv_heads, m->head_dim, B, false);
    }
    if (st != RUV_OK) {
        free(arena);
        return st;
    }
    ctx->h = (float *)(void *)(arena + p->off_h);
    ctx->h_rows = p->h_rows;
    ctx->rows = (float *)(void *)(arena + p->off_rows);
    ctx->logits = (float *)(void *)(arena + p->off_logits);
    ctx->states = (float *)(void *)(arena + p->off_states);
    ctx->need = p->need_bytes != 0u ? arena + p->off_need : NULL;
    clear_state(ctx);
    *out = ctx;
    return RUV_OK;
}

ruv_status_t ruv_temporal_init(const uint8_t *blob, size_t len, uint16_t input_dim,
                               uint16_t window_len, uint16_t n_classes, ruv_temporal_ctx_t **ctx)
{
    ruv_temporal_config_t cfg;
    cfg.input_dim = input_dim;
    cfg.window_len = window_len;
    cfg.n_classes = n_classes;
    cfg.mode = RUV_MODE_WINDOW;
    cfg.kv_fp16 = false;
    return ruv_temporal_init_ex(blob, len, &cfg, ctx);
}

void ruv_temporal_destroy(ruv_temporal_ctx_t *ctx)
{
    free(ctx); /* the context is the start of its arena */
}

ruv_status_t ruv_temporal_reset(ruv_temporal_ctx_t *ctx)
{
    if (ctx == NULL) {
        return RUV_ERR_INVALID_ARG;
    }
    clear_state(ctx);
    return RUV_OK;
}

/* ---- per frame -------------------------------------------------------------------------- */

static void ring_push(ruv_temporal_ctx_t *ctx, const float *frame)
{
    const size_t D = ctx->model.D;
    memcpy(ctx->ring + ctx->ring_head * D, frame, D * sizeof *frame);
    ctx->ring_head = ctx->ring_head + 1u == ctx->ring_cap ? 0u : ctx->ring_head + 1u;
    if (ctx->ring_filled < ctx->ring_cap) {
        ++ctx->ring_filled;
    }
}

/* h[0..count) = normalised newest `count` (<= filled) ring frames, oldest first. */
static void ring_newest_normalised(const ruv_temporal_ctx_t *ctx, size_t count, float *h)
{
    const size_t D = ctx->model.D;
    size_t idx = ctx->ring_head >= count ? ctx->ring_head - count
                                         : ctx->ring_head + ctx->ring_cap - count;
    for (size_t t = 0; t < count; ++t) {
        ruv_model_normalise(&ctx->model, ctx->ring + idx * D, h + t * D);
        idx = idx + 1u == ctx->ring_cap ? 0u : idx + 1u;
    }
}

/* Stream mode: caches full -> clear, prefill over the N/2 newest ring frames.
 * Layer 0's K, V rows depend only on the frames, so with FP32 caches those
 * of the newest N/2 frames are moved to the front instead of recomputed
 * (same bits); the prefill then starts at layer 0's attention. An FP16
 * cache holds rounded rows, and its prefill attends over unrounded ones:
 * recomputed. */
static ruv_status_t rebase(ruv_temporal_ctx_t *ctx)
{
    const ruv_model_t *m = &ctx->model;
    size_t keep = ctx->cfg.window_len / 2u;
    for (size_t l = 0; l < m->L; ++l) {
        ruv_kv_cache_t *c = &ctx->caches[l];
        if (l == 0u && !ctx->has_work && c->len >= keep) {
            ruv_status_t st = ruv_kv_cache_drop_front(c, c->len - keep);
            if (st != RUV_OK) {
                return st;
            }
        } else {
            ruv_kv_cache_clear(c);
        }
    }
    ring_newest_normalised(ctx, keep, ctx->h);
    ruv_status_t st = ruv_model_forward(m, ctx->h, keep, ctx->has_work ? &ctx->work : NULL,
                                        ctx->caches, true, ctx->rows, NULL, NULL, NULL);
    if (st == RUV_OK) {
        ++ctx->rebases;
    }
    return st;
}

ruv_status_t ruv_temporal_push(ruv_temporal_ctx_t *ctx, const float *frame)
{
    if (ctx == NULL || frame == NULL) {
        return RUV_ERR_INVALID_ARG;
    }
    if (ctx->broken) {
        return RUV_ERR_INVALID_STATE;
    }
    if (ctx->cfg.mode == RUV_MODE_STREAM) {
        ruv_status_t st = RUV_OK;
        if (ctx->caches[0].len >= ctx->cfg.window_len) {
            st = rebase(ctx);
        }
        if (st == RUV_OK) {
            ruv_model_normalise(&ctx->model, frame, ctx->h);
            st = ruv_model_forward(&ctx->model, ctx->h, 1u, NULL, ctx->caches, false, ctx->rows,
                                   NULL, ctx->states, ctx->logits);
        }
        if (st != RUV_OK) {
            ctx->broken = true;
            ctx->have_logits = false;
            return st;
        }
        ctx->have_logits = true;
    }
    ring_push(ctx, frame);
    ++ctx->frames_pushed;
    return RUV_OK;
}

ruv_status_t ruv_temporal_classify(ruv_temporal_ctx_t *ctx, float *logits, size_t n)
{
    if (ctx == NULL || logits == NULL) {
        return RUV_ERR_INVALID_ARG;
    }
    if (n != ctx->model.C) {
        return RUV_ERR_INVALID_SIZE;
    }
    if (ctx->broken) {
        return RUV_ERR_INVALID_STATE;
    }
    if (ctx->cfg.mode == RUV_MODE_WINDOW) {
        if (ctx->ring_filled == 0u) {
            return RUV_ERR_INVALID_STATE;
        }
        size_t T = ctx->ring_filled;
        ring_newest_normalised(ctx, T, ctx->h);
        ruv_status_t st = ruv_model_forward(&ctx->model, ctx->h, T, &ctx->work, NULL, false,
                                            ctx->rows, ctx->need, ctx->states, ctx->logits);
        if (st != RUV_OK) {
            ctx->have_logits = false;
            return st;
        }
        ctx->have_logits = true;
    } else if (!ctx->have_logits) {
        return RUV_ERR_INVALID_STATE;
    }
    memcpy(logits, ctx->logits, n * sizeof *logits);
    ++ctx->classifications;
    return RUV_OK;
}

ruv_status_t ruv_temporal_layer_state(const ruv_temporal_ctx_t *ctx, uint16_t stage, float *out,
                                      size_t n)
{
    if (ctx == NULL || out == NULL) {
        return RUV_ERR_INVALID_ARG;
    }
    if (stage > ctx->model.L) {
        return RUV_ERR_INVALID_ARG;
    }
    if (n != ctx->model.D) {
        return RUV_ERR_INVALID_SIZE;
    }
    if (!ctx->have_logits) {
        return RUV_ERR_INVALID_STATE;
    }
    memcpy(out, ctx->states + (size_t)stage * ctx->model.D, n * sizeof *out);
    return RUV_OK;
}

ruv_status_t ruv_temporal_get_stats(const ruv_temporal_ctx_t *ctx, ruv_temporal_stats_t *stats)
{
    if (ctx == NULL || stats == NULL) {
        return RUV_ERR_INVALID_ARG;
    }
    memset(stats, 0, sizeof *stats);
    stats->frames_pushed = ctx->frames_pushed;
    stats->classifications = ctx->classifications;
    stats->rebases = ctx->rebases;
    stats->frames_in_ring = (uint32_t)ctx->ring_filled;
    stats->context_len = ctx->caches != NULL ? (uint32_t)ctx->caches[0].len : 0u;
    stats->arena_bytes = ctx->arena_bytes;
    return RUV_OK;
}

ruv_status_t ruv_temporal_get_info(const ruv_temporal_ctx_t *ctx, ruv_model_info_t *info)
{
    if (ctx == NULL || info == NULL) {
        return RUV_ERR_INVALID_ARG;
    }
    *info = ctx->info;
    return RUV_OK;
}

ruv_status_t ruv_temporal_get_config(const ruv_temporal_ctx_t *ctx, ruv_temporal_config_t *cfg)
{
    if (ctx == NULL || cfg == NULL) {
        return RUV_ERR_INVALID_ARG;
    }
    *cfg = ctx->cfg;
    return RUV_OK;
}

/* ---- deterministic random blob (docs/spec.md §5) ---------------------------------------------------- */

static void put16(uint8_t *b, uint16_t v)
{
    b[0] = (uint8_t)(v & 0xFFu);
    b[1] = (uint8_t)(v >> 8);
}

static void put32(uint8_t *b, uint32_t v)
{
    b[0] = (uint8_t)(v & 0xFFu);
    b[1] = (uint8_t)((v >> 8) & 0xFFu);
    b[2] = (uint8_t)((v >> 16) & 0xFFu);
    b[3] = (uint8_t)(v >> 24);
}

uint64_t ruv_xorshift64star(uint64_t *state)
{
    uint64_t x = *state;
    x ^= x << 13;
    x ^= x >> 7;
    x ^= x << 17;
    *state = x;
    return x * UINT64_C(0x2545F4914F6CDD1D);
}

float ruv_xorshift_weight(uint64_t *state)
{
    uint64_t out = ruv_xorshift64star(state);
    /* u = f32(out >> 32) / 2^32: the division by a power of two is exact,
     * so multiplying by 2^-32 gives the same bits */
    float u = (float)(uint32_t)(out >> 32) * 0x1p-32f;
    return (u - 0.5f) * 0.2f;
}

ruv_status_t ruv_temporal_init_random_blob(uint8_t *out, size_t cap, uint16_t input_dim,
                                           uint16_t n_q_heads, uint16_t n_kv_heads,
                                           uint16_t head_dim, uint16_t n_layers,
                                           uint16_t n_classes, uint64_t seed, size_t *len)
{
    if (len != NULL) {
        *len = 0;
    }
    if (input_dim == 0u || n_q_heads == 0u || n_kv_heads == 0u || head_dim == 0u ||
        n_layers == 0u || n_classes < 2u || n_q_heads % n_kv_heads != 0u) {
        return RUV_ERR_INVALID_ARG;
    }
    uint64_t count = ruv_blob_base_count(input_dim, n_q_heads, n_kv_heads, head_dim, n_layers,
                                         n_classes);
    if (count > (UINT64_C(0xFFFFFFFF) - RUV_BLOB_MIN_SIZE) / 4u ||
        (uint64_t)RUV_BLOB_MIN_SIZE + 4u * count > (uint64_t)SIZE_MAX) {
        return RUV_ERR_INVALID_SIZE;
    }
    size_t total = (size_t)(RUV_BLOB_MIN_SIZE + 4u * count);
    if (len != NULL) {
        *len = total;
    }
    if (out == NULL || cap < total) {
        return RUV_ERR_INVALID_SIZE;
    }
    put32(out, RUV_BLOB_MAGIC);
    put16(out + 4, RUV_BLOB_VERSION);
    out[6] = 0; /* flags: FP32, no sections */
    out[7] = 0;
    put16(out + 8, input_dim);
    put16(out + 10, n_q_heads);
    put16(out + 12, n_kv_heads);
    put16(out + 14, head_dim);
    put16(out + 16, n_layers);
    put16(out + 18, n_classes);
    put32(out + 20, (uint32_t)(4u * count));
    uint64_t state = seed;
    uint8_t *w = out + RUV_BLOB_HEADER_SIZE;
    for (size_t i = 0; i < (size_t)count; ++i) {
        float f = ruv_xorshift_weight(&state);
        uint32_t bits;
        memcpy(&bits, &f, sizeof bits);
        put32(w + 4u * i, bits);
    }
    put32(out + total - RUV_BLOB_CRC_SIZE, ruv_crc32(0, out, total - RUV_BLOB_CRC_SIZE));
    return RUV_OK;
}

/* ---- self-test --------------------------------------------------------------------------------- */

static float absf(float x)
{
    return x < 0.0f ? -x : x;
}

static float max_abs_diff(const float *a, const float *b, size_t n)
{
    float worst = 0.0f;
    for (size_t i = 0; i < n; ++i) {
        float d = absf(a[i] - b[i]);
        if (!(d <= worst)) { /* NaN counts as a failure */
            worst = d != d ? 1e30f : d;
        }
    }
    return worst;
}

/* Kernel: decoding row by row through a KV cache reproduces every row of
 * the sparse prefill (docs/spec.md §3), GQA, landmarks and log-stride on. */
static ruv_status_t self_test_kernel(void)
{
    const size_t n = 40, qh = 4, kvh = 2, dim = 8;
    ruv_attn_cfg_t cfg = ruv_attn_aether();
    cfg.window = 5;
    cfg.block_size = 4;
    size_t scratch_n = ruv_sparse_scratch_floats(&cfg, n, kvh, dim);
    size_t cache_bytes = ruv_kv_cache_bytes(n, kvh, dim, cfg.block_size, false);
    size_t floats = n * qh * dim * 3u + n * kvh * dim * 2u + qh * dim + scratch_n;
    float *buf = (float *)malloc(floats * sizeof(float));
    void *cmem = malloc(cache_bytes == 0u ? 1u : cache_bytes);
    ruv_status_t st = RUV_ERR_NO_MEM;
    if (buf != NULL && cmem != NULL && cache_bytes != 0u) {
        float *q = buf, *out = q + n * qh * dim, *dec = out + n * qh * dim;
        float *k = dec + n * qh * dim, *v = k + n * kvh * dim, *row = v + n * kvh * dim;
        float *scratch = row + qh * dim;
        uint64_t s = UINT64_C(0x5E1F7E57C0DE0001);
        for (size_t i = 0; i < n * qh * dim; ++i) {
            q[i] = ruv_xorshift_weight(&s) * 10.0f;
        }
        for (size_t i = 0; i < n * kvh * dim; ++i) {
            k[i] = ruv_xorshift_weight(&s) * 10.0f;
            v[i] = ruv_xorshift_weight(&s) * 10.0f;
        }
        st = ruv_sparse_attention(&cfg, q, k, v, n, qh, kvh, dim, out, scratch, scratch_n);
        ruv_kv_cache_t cache;
        if (st == RUV_OK) {
            st = ruv_kv_cache_init(&cache, cmem, cache_bytes, n, kvh, dim, cfg.block_size, false);
        }
        for (size_t t = 0; t < n && st == RUV_OK; ++t) {
            st = ruv_kv_cache_append(&cache, k + t * kvh * dim, v + t * kvh * dim);
            if (st == RUV_OK) {
                st = ruv_decode_step(&cfg, &cache, q + t * qh * dim, qh, row);
            }
            if (st == RUV_OK && max_abs_diff(row, out + t * qh * dim, qh * dim) > 1e-5f) {
                st = RUV_ERR_INVALID_STATE;
            }
        }
    }
    free(buf);
    free(cmem);
    return st;
}

static const uint8_t k_spec_header[24] = {0x45, 0x4e, 0x56, 0x52, 0x01, 0x00, 0x00, 0x00,
                                          0x10, 0x00, 0x04, 0x00, 0x01, 0x00, 0x20, 0x00,
                                          0x02, 0x00, 0x04, 0x00, 0x00, 0xa1, 0x00, 0x00};

/* Model: the docs/spec.md §5 blob, window vs stream on generated frames. */
static ruv_status_t self_test_model(void)
{
    size_t len = 0;
    (void)ruv_temporal_init_random_blob(NULL, 0, 16, 4, 1, 32, 2, 4, RUV_TEMPORAL_RANDOM_SEED,
                                        &len);
    if (len != 41244u) {
        return RUV_ERR_INVALID_SIZE;
    }
    uint8_t *blob = (uint8_t *)malloc(len);
    if (blob == NULL) {
        return RUV_ERR_NO_MEM;
    }
    ruv_temporal_ctx_t *win = NULL, *str = NULL;
    ruv_status_t st = ruv_temporal_init_random_blob(blob, len, 16, 4, 1, 32, 2, 4,
                                                    RUV_TEMPORAL_RANDOM_SEED, &len);
    ruv_model_info_t info;
    if (st == RUV_OK) {
        st = ruv_temporal_blob_info(blob, len, &info, NULL);
    }
    if (st == RUV_OK && (info.crc32 != 0xDC807956u || memcmp(blob, k_spec_header, 24) != 0)) {
        st = RUV_ERR_INVALID_CRC;
    }
    if (st == RUV_OK) {
        /* one flipped weight bit must be caught by the CRC */
        blob[1000] ^= 0x10u;
        st = ruv_temporal_blob_info(blob, len, NULL, NULL) == RUV_ERR_INVALID_CRC
                 ? RUV_OK
                 : RUV_ERR_INVALID_CRC;
        blob[1000] ^= 0x10u;
    }
    const uint16_t N = 12;
    ruv_temporal_config_t cw = {16, N, 4, RUV_MODE_WINDOW, false};
    ruv_temporal_config_t cs = {16, N, 4, RUV_MODE_STREAM, false};
    if (st == RUV_OK) {
        st = ruv_temporal_init_ex(blob, len, &cw, &win);
    }
    if (st == RUV_OK) {
        st = ruv_temporal_init_ex(blob, len, &cs, &str);
    }
    uint64_t s = UINT64_C(0xF00DFACE12345678);
    float frame[16], lw[4], ls[4];
    /* N frames: before the first rebase stream == window over all frames */
    for (uint16_t t = 0; t < N && st == RUV_OK; ++t) {
        for (size_t i = 0; i < 16u; ++i) {
            frame[i] = ruv_xorshift_weight(&s) * 20.0f;
        }
        st = ruv_temporal_push(win, frame);
        if (st == RUV_OK) {
            st = ruv_temporal_push(str, frame);
        }
        if (st == RUV_OK) {
            st = ruv_temporal_classify(win, lw, 4);
        }
        if (st == RUV_OK) {
            st = ruv_temporal_classify(str, ls, 4);
        }
        if (st == RUV_OK && max_abs_diff(lw, ls, 4) > 1e-4f) {
            st = RUV_ERR_INVALID_STATE;
        }
    }
    /* one more frame rebases the stream context */
    if (st == RUV_OK) {
        st = ruv_temporal_push(str, frame);
    }
    ruv_temporal_stats_t stats;
    if (st == RUV_OK) {
        st = ruv_temporal_get_stats(str, &stats);
    }
    if (st == RUV_OK && (stats.rebases != 1u || stats.context_len != N / 2u + 1u)) {
        st = RUV_ERR_INVALID_STATE;
    }
    ruv_temporal_destroy(win);
    ruv_temporal_destroy(str);
    free(blob);
    return st;
}

ruv_status_t ruv_temporal_self_test(void)
{
    if (ruv_crc32(0, "123456789", 9) != 0xCBF43926u) {
        return RUV_ERR_INVALID_CRC;
    }
    ruv_status_t st = self_test_kernel();
    if (st == RUV_OK) {
        st = self_test_model();
    }
    return st;
}
