/*
 * ruv_kernel.c — sparse grouped-query attention kernel (docs/spec.md §3): the hot
 * path. Candidate sets, the sparse forward, the KV cache and the decode step
 * the model runs per frame; the optional upstream APIs (gated and dense
 * attention, H2O eviction, FastGRNN gate) are in ruv_kernel_extras.c, the
 * helpers both share (ruv_expf inline, size arithmetic) in ruv_kernel_priv.h.
 *
 * Pure C99, single precision, no allocation, no libm exp (ruv_expf below);
 * sqrtf is the only libm function used. No division in
 * inner loops: 1/sqrt(dim), 1/den and the running-mean 1/n are computed
 * once and multiplied.
 *
 * Structure of the sparse forward, per query row i:
 *   - the candidate set is built once (row_set_t) and reused for all heads:
 *     the window is a contiguous index range [wlo, whi], the remaining
 *     tokens (globals, log-stride; deduplicated against the window and each
 *     other) a short list, the landmark blocks another short list;
 *   - for each kv head, for each query head of its group: one-pass online
 *     softmax over window, extra tokens, blocks (in that order), with the
 *     output row itself as accumulator.
 * Landmark means are computed once per forward into the caller's scratch,
 * with the same running-mean formula as the KV cache, so a causal decode
 * step reproduces the forward row bit for bit (FP32 cache).
 * A decode step over an FP16 cache converts each candidate K/V row once per
 * kv head and feeds it to all query heads of the group (attend_row_f16),
 * with every head's float operations in the same order as over FP32 rows
 * holding the same (exactly converted) values.
 */
#include <math.h>
#include <string.h>

#include "ruv_kernel_priv.h"
#include "ruv_ops.h"

/* s = 1, 2, 4, ... < n with n <= 2^32 (indices are uint32_t): <= 32 values. */
#define RUV_MAX_STRIDES 32u
#define RUV_MAX_EXTRA (RUV_MAX_GLOBALS + 2u * RUV_MAX_STRIDES)
#define RUV_MAX_BLOCKS (3u + 2u * RUV_MAX_STRIDES)

/* Public entry points (the kernel calls the inline versions). */
float ruv_expf(float x)
{
    return exp_f(x);
}

float ruv_f16_to_f32(uint16_t h)
{
    return ruv_h2f(h);
}

uint16_t ruv_f32_to_f16(float x)
{
    return ruv_f2h(x);
}

/* ---- config ------------------------------------------------------------- */

ruv_attn_cfg_t ruv_attn_default(void)
{
    ruv_attn_cfg_t c;
    memset(&c, 0, sizeof c);
    c.window = 128u;
    c.block_size = 64u;
    c.globals[0] = 0u;
    c.n_globals = 1u;
    c.causal = true;
    c.log_stride = true;
    c.landmarks = true;
    return c;
}

ruv_attn_cfg_t ruv_attn_aether(void)
{
    ruv_attn_cfg_t c = ruv_attn_default();
    c.window = 32u;
    c.block_size = 16u;
    return c;
}

ruv_status_t ruv_attn_check(const ruv_attn_cfg_t *cfg)
{
    if (cfg == NULL || cfg->block_size == 0u || cfg->n_globals > RUV_MAX_GLOBALS) {
        return RUV_ERR_INVALID_ARG;
    }
    return RUV_OK;
}

/* ---- size arithmetic (mul_sz, add_sz, fits_u32, ceil_div: ruv_kernel_priv.h) */

/* Number of s = 1, 2, 4, ... with s < n. */
static size_t n_strides(size_t n)
{
    size_t c = 0u;
    uint64_t s;
    for (s = 1u; s < (uint64_t)n; s <<= 1) {
        c++;
    }
    return c;
}

/* ---- candidate sets ----------------------------------------------------- */

typedef struct {
    uint32_t wlo, whi; /* window, inclusive; never empty (holds i) */
    uint32_t n_extra;  /* globals then log-stride tokens outside the window */
    uint32_t n_glob;   /* how many of extra[] are globals */
    uint32_t n_blocks; /* landmark blocks, insertion order */
    uint32_t extra[RUV_MAX_EXTRA];
    uint32_t blocks[RUV_MAX_BLOCKS];
} row_set_t;

static bool in_list(const uint32_t *list, uint32_t count, uint32_t x)
{
    uint32_t a;
    for (a = 0u; a < count; a++) {
        if (list[a] == x) {
            return true;
        }
    }
    return false;
}

/* A log-stride token j: dropped when the window or a global has it already
 * (log-stride tokens never repeat among themselves), or when the gate's
 * keep_mask clears it. */
static void add_stride_token(row_set_t *rs, uint32_t j, const uint8_t *keep)
{
    if (j >= rs->wlo && j <= rs->whi) {
        return;
    }
    if (in_list(rs->extra, rs->n_glob, j)) {
        return;
    }
    if (keep != NULL && keep[j] == 0u) {
        return;
    }
    rs->extra[rs->n_extra++] = j;
}

/* Candidate set of query i (< n <= 2^32) per docs/spec.md §3. cfg must be valid. */
static void row_set(const ruv_attn_cfg_t *cfg, bool causal, uint32_t i, uint32_t n,
                    const uint8_t *keep, row_set_t *rs)
{
    const uint32_t w = cfg->window;
    uint32_t a;
    uint64_t s;

    /* 1. window */
    rs->wlo = i > w ? i - w : 0u;
    if (causal) {
        rs->whi = i;
    } else {
        rs->whi = (n - 1u - i) > w ? i + w : n - 1u;
    }

    /* 2. globals, config order */
    rs->n_extra = 0u;
    for (a = 0u; a < cfg->n_globals; a++) {
        const uint32_t g = cfg->globals[a];
        if (g >= n || (causal && g > i)) {
            continue;
        }
        if ((g >= rs->wlo && g <= rs->whi) || in_list(rs->extra, rs->n_extra, g)) {
            continue;
        }
        rs->extra[rs->n_extra++] = g;
    }
    rs->n_glob = rs->n_extra;

    /* 3. log-stride tokens */
    if (cfg->log_stride) {
        for (s = 1u; s < (uint64_t)n; s <<= 1) {
            if ((uint64_t)i >= s) {
                add_stride_token(rs, i - (uint32_t)s, keep);
            }
            if (!causal && (uint64_t)(n - 1u - i) >= s) {
                add_stride_token(rs, i + (uint32_t)s, keep);
            }
        }
    }

    /* landmark blocks */
    rs->n_blocks = 0u;
    if (cfg->landmarks) {
        const uint32_t bs = cfg->block_size;
        const uint32_t nb = n / bs + (n % bs != 0u ? 1u : 0u);
        const uint32_t cur = i / bs;
        uint32_t avail, pivot, lo, hi, b;

        if (causal) {
            avail = (uint32_t)(((uint64_t)i + 1u) / bs);
            if (avail == 0u) {
                return;
            }
            pivot = avail - 1u;
        } else {
            avail = nb;
            pivot = cur < nb - 1u ? cur : nb - 1u;
        }
        lo = pivot > 0u ? pivot - 1u : 0u;
        hi = pivot + 1u < avail - 1u ? pivot + 1u : avail - 1u;
        for (b = lo; b <= hi; b++) {
            if (!causal && b == cur) {
                continue;
            }
            rs->blocks[rs->n_blocks++] = b;
        }
        /* log-stride blocks (only with log_stride, like the upstream
         * kernel): distinct among themselves, so only the local range can
         * duplicate them (cur is excluded before the check). */
        for (s = 1u; cfg->log_stride && s < (uint64_t)nb; s <<= 1) {
            const uint32_t su = (uint32_t)s;
            if (pivot >= su) {
                b = pivot - su;
                if ((causal || b != cur) && !(b >= lo && b <= hi)) {
                    rs->blocks[rs->n_blocks++] = b;
                }
            }
            if (!causal && (uint64_t)pivot + s < (uint64_t)nb) {
                b = pivot + su;
                if (b != cur && !(b >= lo && b <= hi)) {
                    rs->blocks[rs->n_blocks++] = b;
                }
            }
        }
    }
}

size_t ruv_candidate_tokens_cap(const ruv_attn_cfg_t *cfg, size_t n)
{
    uint64_t win, cap;
    if (ruv_attn_check(cfg) != RUV_OK || n == 0u) {
        return 0u;
    }
    win = cfg->causal ? (uint64_t)cfg->window + 1u : 2u * (uint64_t)cfg->window + 1u;
    cap = win < (uint64_t)n ? win : (uint64_t)n;
    cap += cfg->n_globals;
    if (cfg->log_stride) {
        cap += (uint64_t)n_strides(n) * (cfg->causal ? 1u : 2u);
    }
    return cap < (uint64_t)n ? (size_t)cap : n;
}

size_t ruv_candidate_blocks_cap(const ruv_attn_cfg_t *cfg, size_t n)
{
    size_t nb, cap;
    if (ruv_attn_check(cfg) != RUV_OK || n == 0u || !cfg->landmarks) {
        return 0u;
    }
    nb = ceil_div(n, cfg->block_size);
    cap = nb < 3u ? nb : 3u;
    if (cfg->log_stride) {
        cap += n_strides(nb) * (cfg->causal ? 1u : 2u);
    }
    return cap < nb ? cap : nb;
}

ruv_status_t ruv_candidates(const ruv_attn_cfg_t *cfg, size_t i, size_t n, uint32_t *tokens,
                            size_t *n_tokens, uint32_t *blocks, size_t *n_blocks)
{
    row_set_t rs;
    uint32_t j, a, c = 0u;

    if (ruv_attn_check(cfg) != RUV_OK || i >= n || !fits_u32(n) ||
        tokens == NULL || n_tokens == NULL) {
        return RUV_ERR_INVALID_ARG;
    }
    if (cfg->landmarks && (blocks == NULL || n_blocks == NULL)) {
        return RUV_ERR_INVALID_ARG;
    }
    row_set(cfg, cfg->causal, (uint32_t)i, (uint32_t)n, NULL, &rs);
    for (j = rs.wlo;; j++) {
        tokens[c++] = j;
        if (j == rs.whi) {
            break;
        }
    }
    for (a = 0u; a < rs.n_extra; a++) {
        tokens[c++] = rs.extra[a];
    }
    *n_tokens = c;
    if (n_blocks != NULL) {
        for (a = 0u; a < rs.n_blocks; a++) {
            blocks[a] = rs.blocks[a];
        }
        *n_blocks = rs.n_blocks;
    }
    return RUV_OK;
}

uint64_t ruv_estimate_sparse_edges(const ruv_attn_cfg_t *cfg, size_t n)
{
    row_set_t rs;
    uint64_t total = 0u;
    size_t i;

    if (ruv_attn_check(cfg) != RUV_OK || !fits_u32(n)) {
        return 0u;
    }
    for (i = 0u; i < n; i++) {
        row_set(cfg, cfg->causal, (uint32_t)i, (uint32_t)n, NULL, &rs);
        total += (uint64_t)(rs.whi - rs.wlo) + 1u + rs.n_extra + rs.n_blocks;
    }
    return total;
}

ruv_status_t ruv_mark_decode_rows(const ruv_attn_cfg_t *cfg, size_t i, uint8_t *rows)
{
    row_set_t rs;
    uint32_t j, a;
    if (ruv_attn_check(cfg) != RUV_OK || rows == NULL || !fits_u32(i) ||
        (uint64_t)i >= (uint64_t)UINT32_MAX) {
        return RUV_ERR_INVALID_ARG;
    }
    row_set(cfg, true, (uint32_t)i, (uint32_t)i + 1u, NULL, &rs);
    for (j = rs.wlo;; j++) {
        rows[j >> 3] = (uint8_t)((unsigned)rows[j >> 3] | (1u << (j & 7u)));
        if (j == rs.whi) {
            break;
        }
    }
    for (a = 0u; a < rs.n_extra; a++) {
        j = rs.extra[a];
        rows[j >> 3] = (uint8_t)((unsigned)rows[j >> 3] | (1u << (j & 7u)));
    }
    for (a = 0u; a < rs.n_blocks; a++) {
        /* causal: candidate blocks are complete, rows b*B .. b*B + B - 1 <= i */
        const uint32_t lo = rs.blocks[a] * cfg->block_size;
        for (j = lo; j - lo < cfg->block_size; j++) {
            rows[j >> 3] = (uint8_t)((unsigned)rows[j >> 3] | (1u << (j & 7u)));
        }
    }
    return RUV_OK;
}

/* ---- inner loops (dot_f32: ruv_kernel_priv.h) ----------------------------- */

/* The same sum over a binary16 row (converted element by element), so an
 * FP16 cache scores exactly like float32 rows holding the rounded values. */
static inline float dot_f16(const float *a, const uint16_t *b, size_t dim)
{
    float s0 = 0.0f, s1 = 0.0f, s2 = 0.0f, s3 = 0.0f;
    size_t d = 0u;
    for (; d + 4u <= dim; d += 4u) {
        s0 += a[d] * ruv_h2f(b[d]);
        s1 += a[d + 1u] * ruv_h2f(b[d + 1u]);
        s2 += a[d + 2u] * ruv_h2f(b[d + 2u]);
        s3 += a[d + 3u] * ruv_h2f(b[d + 3u]);
    }
    for (; d < dim; d++) {
        s0 += a[d] * ruv_h2f(b[d]);
    }
    return (s0 + s1) + (s2 + s3);
}

/*
 * One-pass online softmax of one (row, head), the output row itself being
 * the accumulator. Candidates are taken in chunks of up to RUV_CHUNK (in
 * candidate order): the chunk's scores are computed, and if the chunk's
 * max exceeds the running max m, den and acc are rescaled by
 * exp(m_old - m_new) once; then each weight exp(s - m) is added to den and
 * w * v to acc. This is the online softmax of docs/spec.md §3 with the max test
 * done per chunk: the scores and exps of a chunk are independent of each
 * other (pipelined FPU work) and there is at most one rescale per chunk.
 */
#define RUV_CHUNK 32u

typedef struct {
    float m;   /* running max of the scores */
    float den; /* sum of exp(score - m) */
    bool started;
} softmax_t;

/* Turns the chunk's scores w[0..cnt) into weights exp(s - m) after the
 * (possible) rescale, and adds them to den. */
static inline void sm_weights(softmax_t *st, float *w, size_t cnt, float *acc, size_t dim)
{
    float cm = w[0], den;
    size_t c, d;
    for (c = 1u; c < cnt; c++) {
        if (w[c] > cm) {
            cm = w[c];
        }
    }
    if (!st->started) {
        st->started = true;
        st->m = cm;
        st->den = 0.0f;
        for (d = 0u; d < dim; d++) {
            acc[d] = 0.0f;
        }
    } else if (cm > st->m) {
        const float f = exp_nonpos(st->m - cm); /* cm > m */
        st->den *= f;
        for (d = 0u; d < dim; d++) {
            acc[d] *= f;
        }
        st->m = cm;
    }
    den = st->den;
    for (c = 0u; c < cnt; c++) {
        w[c] = exp_nonpos(w[c] - st->m); /* m >= every score seen */
        den += w[c];
    }
    st->den = den;
}

/* A run of candidates over float32 rows: row j at base + j * stride with
 * j = idx[c] (a list) or j = first + c (a contiguous range, idx NULL). Per
 * chunk: the rows' addresses, the scores (ruv_dot_rows), the weights
 * (sm_weights), the weighted V sum (ruv_wsum_rows). */
static void sm_run_f32(softmax_t *st, const float *qp, const float *kb, const float *vb,
                       size_t stride, const uint32_t *idx, uint32_t first, size_t count,
                       size_t dim, float scale, float *acc)
{
    float w[RUV_CHUNK];
    const float *kr[RUV_CHUNK];
    const float *vr[RUV_CHUNK];
    size_t done, c;
    for (done = 0u; done < count; done += RUV_CHUNK) {
        const size_t cnt = count - done < RUV_CHUNK ? count - done : RUV_CHUNK;
        for (c = 0u; c < cnt; c++) {
            const size_t j = idx == NULL ? (size_t)first + done + c : (size_t)idx[done + c];
            kr[c] = kb + j * stride;
            vr[c] = vb + j * stride;
        }
        ruv_dot_rows(qp, kr, cnt, dim, scale, w);
        sm_weights(st, w, cnt, acc, dim);
        ruv_wsum_rows(w, vr, cnt, dim, acc);
    }
}

/* out = acc / den, or 0 when den <= 0 (never with a non-empty set). */
static void sm_finish(const softmax_t *st, float *acc, size_t dim)
{
    size_t d;
    if (st->started && st->den > 0.0f) {
        const float inv = 1.0f / st->den;
        for (d = 0u; d < dim; d++) {
            acc[d] *= inv;
        }
    } else {
        for (d = 0u; d < dim; d++) {
            acc[d] = 0.0f;
        }
    }
}

/*
 * FP16 cache. The query heads of a kv head read the same K and V rows, so
 * each candidate row is converted once (ruv_h2f_row) into a float32 row
 * buffer and used by up to RUV_GROUP_MAX query heads (a larger group runs in
 * batches of that many). Per query head the float operations and their
 * order are those of sm_run_f32 / attend over float32 rows holding the
 * converted values: the same chunks, the chunk's scores (dot_f32 over the
 * row), one sm_weights, then the V rows added in candidate order. Only the
 * interleaving of the heads' independent work changes, and the conversion
 * is exact, so an FP16 cache gives the bits of an FP32 cache holding the
 * rounded rows. Head dims above RUV_F16_ROW_MAX convert element by element
 * where the values are used (dot_f16, same sum order), per head.
 * Stack: f16_group_t, 2,144 bytes with these limits.
 */
#define RUV_GROUP_MAX 8u    /* query heads per batch */
#define RUV_F16_ROW_MAX 64u /* head dims converted row-wise */
#define RUV_F16_SUB 4u      /* rows converted at a time for ruv_dot_rows / ruv_wsum_rows */

typedef struct {
    softmax_t st[RUV_GROUP_MAX];
    float w[RUV_GROUP_MAX][RUV_CHUNK];
    float rows[RUV_F16_SUB][RUV_F16_ROW_MAX];
} f16_group_t;

/* A run of candidates (as sm_run_f32) over binary16 rows for the
 * nh <= RUV_GROUP_MAX query heads at qp (head g at qp + g * dim, its
 * accumulator and state at acc + g * dim and gs->st[g]). */
static void sm_run_f16_group(f16_group_t *gs, size_t nh, const float *qp, const uint16_t *kb,
                             const uint16_t *vb, size_t stride, const uint32_t *idx,
                             uint32_t first, size_t count, size_t dim, float scale, float *acc)
{
    const float *rp[RUV_F16_SUB];
    size_t done, c, d, g, s;
    for (done = 0u; done < count; done += RUV_CHUNK) {
        const size_t cnt = count - done < RUV_CHUNK ? count - done : RUV_CHUNK;
        if (dim <= RUV_F16_ROW_MAX) {
            /* RUV_F16_SUB rows converted at a time, then the heads' scores
             * (ruv_dot_rows: dot_f32's bits) and, after the weights, their V
             * sums (ruv_wsum_rows over consecutive runs of candidates keeps
             * each element's order) */
            for (c = 0u; c < cnt; c += RUV_F16_SUB) {
                const size_t sc = cnt - c < RUV_F16_SUB ? cnt - c : RUV_F16_SUB;
                for (s = 0u; s < sc; s++) {
                    const size_t j =
                        idx == NULL ? (size_t)first + done + c + s : (size_t)idx[done + c + s];
                    ruv_h2f_row(kb + j * stride, gs->rows[s], dim);
                    rp[s] = gs->rows[s];
                }
                for (g = 0u; g < nh; g++) {
                    ruv_dot_rows(qp + g * dim, rp, sc, dim, scale, &gs->w[g][c]);
                }
            }
            for (g = 0u; g < nh; g++) {
                sm_weights(&gs->st[g], gs->w[g], cnt, acc + g * dim, dim);
            }
            for (c = 0u; c < cnt; c += RUV_F16_SUB) {
                const size_t sc = cnt - c < RUV_F16_SUB ? cnt - c : RUV_F16_SUB;
                for (s = 0u; s < sc; s++) {
                    const size_t j =
                        idx == NULL ? (size_t)first + done + c + s : (size_t)idx[done + c + s];
                    ruv_h2f_row(vb + j * stride, gs->rows[s], dim);
                    rp[s] = gs->rows[s];
                }
                for (g = 0u; g < nh; g++) {
                    ruv_wsum_rows(&gs->w[g][c], rp, sc, dim, acc + g * dim);
                }
            }
            continue;
        }
        /* head dims above RUV_F16_ROW_MAX: element by element, same order */
        for (c = 0u; c < cnt; c++) {
            const size_t j = idx == NULL ? (size_t)first + done + c : (size_t)idx[done + c];
            for (g = 0u; g < nh; g++) {
                gs->w[g][c] = dot_f16(qp + g * dim, kb + j * stride, dim) * scale;
            }
        }
        for (g = 0u; g < nh; g++) {
            sm_weights(&gs->st[g], gs->w[g], cnt, acc + g * dim, dim);
        }
        for (c = 0u; c < cnt; c++) {
            const size_t j = idx == NULL ? (size_t)first + done + c : (size_t)idx[done + c];
            const uint16_t *vr = vb + j * stride;
            for (g = 0u; g < nh; g++) {
                float *ag = acc + g * dim;
                const float wc = gs->w[g][c];
                for (d = 0u; d < dim; d++) {
                    ag[d] += wc * ruv_h2f(vr[d]);
                }
            }
        }
    }
}

/* Rows of one kv head: row j at base + j * stride. */
typedef struct {
    const float *k, *v;           /* float32 rows, or NULL */
    const uint16_t *k16, *v16;    /* binary16 rows, or NULL */
    size_t stride;                /* floats/halves between rows */
    const float *k_mean, *v_mean; /* block b at + b * stride */
} kv_view_t;

/* One (row, query head) over float32 rows: window, extra tokens, blocks, in
 * that order. */
static void attend(const row_set_t *rs, const float *qp, const kv_view_t *kv, size_t dim,
                   float scale, float *acc)
{
    softmax_t st;
    const size_t nwin = (size_t)(rs->whi - rs->wlo) + 1u;

    st.m = 0.0f;
    st.den = 0.0f;
    st.started = false;
    sm_run_f32(&st, qp, kv->k, kv->v, kv->stride, NULL, rs->wlo, nwin, dim, scale, acc);
    sm_run_f32(&st, qp, kv->k, kv->v, kv->stride, rs->extra, 0u, rs->n_extra, dim, scale, acc);
    if (rs->n_blocks > 0u) {
        sm_run_f32(&st, qp, kv->k_mean, kv->v_mean, kv->stride, rs->blocks, 0u, rs->n_blocks,
                   dim, scale, acc);
    }
    sm_finish(&st, acc, dim);
}

/* attend() for nh <= RUV_GROUP_MAX query heads of one kv head over an FP16
 * cache: the token runs shared, then per head its blocks (the float32
 * means) and the finish. */
static void attend_f16_group(const row_set_t *rs, const float *qp, size_t nh,
                             const kv_view_t *kv, size_t dim, float scale, float *acc)
{
    f16_group_t gs;
    const size_t nwin = (size_t)(rs->whi - rs->wlo) + 1u;
    size_t g;

    for (g = 0u; g < nh; g++) {
        gs.st[g].m = 0.0f;
        gs.st[g].den = 0.0f;
        gs.st[g].started = false;
    }
    sm_run_f16_group(&gs, nh, qp, kv->k16, kv->v16, kv->stride, NULL, rs->wlo, nwin, dim,
                     scale, acc);
    sm_run_f16_group(&gs, nh, qp, kv->k16, kv->v16, kv->stride, rs->extra, 0u, rs->n_extra,
                     dim, scale, acc);
    for (g = 0u; g < nh; g++) {
        if (rs->n_blocks > 0u) {
            sm_run_f32(&gs.st[g], qp + g * dim, kv->k_mean, kv->v_mean, kv->stride, rs->blocks,
                       0u, rs->n_blocks, dim, scale, acc + g * dim);
        }
        sm_finish(&gs.st[g], acc + g * dim, dim);
    }
}

/* Query heads of the row at qrow, output row orow, all heads: kv head by
 * kv head, then the query heads of its group (float32 rows). */
static void attend_row(const row_set_t *rs, const float *qrow, const kv_view_t *kv_all,
                       size_t q_heads, size_t kv_heads, size_t dim, float scale, float *orow)
{
    const size_t group = q_heads / kv_heads;
    size_t kvh, g;
    for (kvh = 0u; kvh < kv_heads; kvh++) {
        kv_view_t kv = *kv_all;
        const size_t off = kvh * dim;
        kv.k += off;
        kv.v += off;
        if (kv.k_mean != NULL) {
            kv.k_mean += off;
            kv.v_mean += off;
        }
        for (g = 0u; g < group; g++) {
            const size_t h = kvh * group + g;
            attend(rs, qrow + h * dim, &kv, dim, scale, orow + h * dim);
        }
    }
}

/* attend_row over an FP16 cache: the query heads of each kv head in
 * batches of up to RUV_GROUP_MAX that share the row conversions. */
static void attend_row_f16(const row_set_t *rs, const float *qrow, const kv_view_t *kv_all,
                           size_t q_heads, size_t kv_heads, size_t dim, float scale,
                           float *orow)
{
    const size_t group = q_heads / kv_heads;
    size_t kvh, g;
    for (kvh = 0u; kvh < kv_heads; kvh++) {
        kv_view_t kv = *kv_all;
        const size_t off = kvh * dim;
        kv.k16 += off;
        kv.v16 += off;
        if (kv.k_mean != NULL) {
            kv.k_mean += off;
            kv.v_mean += off;
        }
        for (g = 0u; g < group; g += RUV_GROUP_MAX) {
            const size_t h = kvh * group + g;
            const size_t nh = group - g < RUV_GROUP_MAX ? group - g : RUV_GROUP_MAX;
            attend_f16_group(rs, qrow + h * dim, nh, &kv, dim, scale, orow + h * dim);
        }
    }
}

/* mean[b] over rows [b*B, min(n, (b+1)*B)) of x[n][row_elems], b < n_blocks,
 * as running means: mean = x_0; mean += (x_r - mean) * (1/(r+1)). */
static void block_means(const float *x, size_t n, size_t row_elems, size_t bs, size_t n_blocks,
                        float *mean)
{
    size_t b, t, e;
    for (b = 0u; b < n_blocks; b++) {
        float *mb = mean + b * row_elems;
        const size_t t0 = b * bs;
        const size_t t1 = n - t0 > bs ? t0 + bs : n;
        memcpy(mb, x + t0 * row_elems, row_elems * sizeof *mb);
        for (t = t0 + 1u; t < t1; t++) {
            const float inv = 1.0f / (float)(t - t0 + 1u);
            const float *xr = x + t * row_elems;
            for (e = 0u; e < row_elems; e++) {
                mb[e] += (xr[e] - mb[e]) * inv;
            }
        }
    }
}

/* ---- forward ------------------------------------------------------------ */

size_t ruv_sparse_scratch_floats(const ruv_attn_cfg_t *cfg, size_t n, size_t kv_heads,
                                 size_t dim)
{
    size_t r;
    if (ruv_attn_check(cfg) != RUV_OK || !cfg->landmarks || n == 0u) {
        return 0u;
    }
    if (!mul_sz(ceil_div(n, cfg->block_size), kv_heads, &r) || !mul_sz(r, dim, &r) ||
        !mul_sz(r, 2u, &r)) {
        return SIZE_MAX; /* no buffer is large enough */
    }
    return r;
}

ruv_status_t ruv_sparse_forward_masked(const ruv_attn_cfg_t *cfg, const float *q, const float *k,
                                   const float *v, size_t n, size_t q_heads, size_t kv_heads,
                                   size_t dim, const uint8_t *keep, float *out, float *scratch,
                                   size_t scratch_floats)
{
    ruv_status_t st;
    row_set_t rs;
    kv_view_t kv;
    size_t need, kvd, qd, i;
    float scale;

    st = ruv_attn_check(cfg);
    if (st == RUV_OK) {
        st = check_heads(q_heads, kv_heads, dim);
    }
    if (st != RUV_OK) {
        return st;
    }
    if (n == 0u) {
        return RUV_OK;
    }
    if (!fits_u32(n) || q == NULL || k == NULL || v == NULL ||
        out == NULL) {
        return RUV_ERR_INVALID_ARG;
    }
    if (!mul_sz(kv_heads, dim, &kvd) || !mul_sz(q_heads, dim, &qd) || !mul_sz(n, qd, &need)) {
        return RUV_ERR_INVALID_SIZE;
    }
    need = ruv_sparse_scratch_floats(cfg, n, kv_heads, dim);
    if (scratch_floats < need) {
        return RUV_ERR_INVALID_SIZE;
    }
    if (need > 0u && scratch == NULL) {
        return RUV_ERR_INVALID_ARG;
    }

    kv.k = k;
    kv.v = v;
    kv.k16 = NULL;
    kv.v16 = NULL;
    kv.stride = kvd;
    kv.k_mean = NULL;
    kv.v_mean = NULL;
    if (cfg->landmarks) {
        const size_t nb = ceil_div(n, cfg->block_size);
        /* causal rows only ever use complete blocks */
        const size_t used = cfg->causal ? n / cfg->block_size : nb;
        kv.k_mean = scratch;
        kv.v_mean = scratch + nb * kvd;
        block_means(k, n, kvd, cfg->block_size, used, scratch);
        block_means(v, n, kvd, cfg->block_size, used, scratch + nb * kvd);
    }
    scale = inv_sqrt_dim(dim);
    for (i = 0u; i < n; i++) {
        row_set(cfg, cfg->causal, (uint32_t)i, (uint32_t)n, keep, &rs);
        attend_row(&rs, q + i * qd, &kv, q_heads, kv_heads, dim, scale, out + i * qd);
    }
    return RUV_OK;
}

ruv_status_t ruv_sparse_attention(const ruv_attn_cfg_t *cfg, const float *q, const float *k,
                                  const float *v, size_t n, size_t q_heads, size_t kv_heads,
                                  size_t dim, float *out, float *scratch, size_t scratch_floats)
{
    return ruv_sparse_forward_masked(cfg, q, k, v, n, q_heads, kv_heads, dim, NULL, out, scratch,
                          scratch_floats);
}

/* ---- KV cache ----------------------------------------------------------- */

/* Layout of the cache block: k_mean, v_mean (float32), then the rows
 * (float32 or binary16). Sizes in bytes; false on overflow. */
static bool cache_layout(size_t capacity, size_t kv_heads, size_t dim, size_t block_size,
                         bool fp16, size_t *mean_bytes, size_t *row_bytes)
{
    size_t rows, means;
    if (capacity == 0u || kv_heads == 0u || dim == 0u || block_size == 0u) {
        return false;
    }
    if (!mul_sz(capacity, kv_heads, &rows) || !mul_sz(rows, dim, &rows) ||
        !mul_sz(rows, fp16 ? sizeof(uint16_t) : sizeof(float), &rows)) {
        return false;
    }
    if (!mul_sz(ceil_div(capacity, block_size), kv_heads, &means) ||
        !mul_sz(means, dim, &means) || !mul_sz(means, sizeof(float), &means)) {
        return false;
    }
    *mean_bytes = means;
    *row_bytes = rows;
    return true;
}

size_t ruv_kv_cache_bytes(size_t capacity, size_t kv_heads, size_t dim, size_t block_size,
                          bool fp16)
{
    size_t mb, rb, total;
    if (!cache_layout(capacity, kv_heads, dim, block_size, fp16, &mb, &rb) ||
        !mul_sz(mb, 2u, &mb) || !mul_sz(rb, 2u, &rb) || !add_sz(mb, rb, &total)) {
        return 0u;
    }
    return total;
}

ruv_status_t ruv_kv_cache_init(ruv_kv_cache_t *cache, void *mem, size_t mem_bytes,
                               size_t capacity, size_t kv_heads, size_t dim,
                               size_t block_size, bool fp16)
{
    size_t mb = 0u, rb = 0u, need;
    unsigned char *p = (unsigned char *)mem;

    if (cache == NULL || mem == NULL || ((uintptr_t)mem & 3u) != 0u) {
        return RUV_ERR_INVALID_ARG;
    }
    need = ruv_kv_cache_bytes(capacity, kv_heads, dim, block_size, fp16);
    if (need == 0u || !fits_u32(capacity)) {
        return RUV_ERR_INVALID_ARG;
    }
    if (mem_bytes < need) {
        return RUV_ERR_INVALID_SIZE;
    }
    if (!cache_layout(capacity, kv_heads, dim, block_size, fp16, &mb, &rb)) {
        return RUV_ERR_INVALID_ARG; /* not reached: need != 0 */
    }
    memset(cache, 0, sizeof *cache);
    cache->capacity = capacity;
    cache->kv_heads = kv_heads;
    cache->dim = dim;
    cache->block_size = block_size;
    cache->len = 0u;
    cache->fp16 = fp16;
    cache->k_mean = (float *)(void *)p;
    cache->v_mean = (float *)(void *)(p + mb);
    p += 2u * mb;
    if (fp16) {
        cache->k16 = (uint16_t *)(void *)p;
        cache->v16 = (uint16_t *)(void *)(p + rb);
    } else {
        cache->k = (float *)(void *)p;
        cache->v = (float *)(void *)(p + rb);
    }
    memset(mem, 0, need);
    return RUV_OK;
}

void ruv_kv_cache_clear(ruv_kv_cache_t *cache)
{
    if (cache != NULL) {
        cache->len = 0u; /* means restart at each block's first row */
    }
}

ruv_status_t ruv_kv_cache_append(ruv_kv_cache_t *cache, const float *k_row, const float *v_row)
{
    size_t kvd, t, e, b, r;
    if (!cache_ok(cache) || k_row == NULL || v_row == NULL) {
        return RUV_ERR_INVALID_ARG;
    }
    if (cache->len >= cache->capacity) {
        return RUV_ERR_INVALID_STATE;
    }
    kvd = cache->kv_heads * cache->dim;
    t = cache->len;
    if (cache->fp16) {
        uint16_t *kd = cache->k16 + t * kvd;
        uint16_t *vd = cache->v16 + t * kvd;
        for (e = 0u; e < kvd; e++) {
            kd[e] = ruv_f2h(k_row[e]);
            vd[e] = ruv_f2h(v_row[e]);
        }
    } else {
        memcpy(cache->k + t * kvd, k_row, kvd * sizeof(float));
        memcpy(cache->v + t * kvd, v_row, kvd * sizeof(float));
    }
    b = t / cache->block_size;
    r = t % cache->block_size;
    mean_update(cache->k_mean + b * kvd, k_row, kvd, r);
    mean_update(cache->v_mean + b * kvd, v_row, kvd, r);
    cache->len = t + 1u;
    return RUV_OK;
}

ruv_status_t ruv_kv_cache_skip(ruv_kv_cache_t *cache)
{
    if (!cache_ok(cache)) {
        return RUV_ERR_INVALID_ARG;
    }
    if (cache->len >= cache->capacity) {
        return RUV_ERR_INVALID_STATE;
    }
    cache->len++;
    return RUV_OK;
}

ruv_status_t ruv_kv_cache_drop_front(ruv_kv_cache_t *cache, size_t count)
{
    size_t kvd, keep;
    if (!cache_ok(cache) || count > cache->len) {
        return RUV_ERR_INVALID_ARG;
    }
    if (cache->fp16) {
        return RUV_ERR_NOT_SUPPORTED;
    }
    kvd = cache->kv_heads * cache->dim;
    keep = cache->len - count;
    if (count > 0u && keep > 0u) {
        memmove(cache->k, cache->k + count * kvd, keep * kvd * sizeof(float));
        memmove(cache->v, cache->v + count * kvd, keep * kvd * sizeof(float));
    }
    if (keep > 0u) {
        const size_t nb = ceil_div(keep, cache->block_size);
        block_means(cache->k, keep, kvd, cache->block_size, nb, cache->k_mean);
        block_means(cache->v, keep, kvd, cache->block_size, nb, cache->v_mean);
    }
    cache->len = keep;
    return RUV_OK;
}

ruv_status_t ruv_kv_cache_row(const ruv_kv_cache_t *cache, size_t t, bool value, float *out)
{
    size_t kvd;
    if (!cache_ok(cache) || out == NULL || t >= cache->len) {
        return RUV_ERR_INVALID_ARG;
    }
    kvd = cache->kv_heads * cache->dim;
    if (cache->fp16) {
        const uint16_t *src = (value ? cache->v16 : cache->k16) + t * kvd;
        ruv_h2f_row(src, out, kvd);
    } else {
        memcpy(out, (value ? cache->v : cache->k) + t * kvd, kvd * sizeof(float));
    }
    return RUV_OK;
}

ruv_status_t ruv_decode_step(const ruv_attn_cfg_t *cfg, const ruv_kv_cache_t *cache,
                             const float *q_row, size_t q_heads, float *out)
{
    ruv_status_t st = ruv_attn_check(cfg);
    row_set_t rs;
    kv_view_t kv;
    size_t t;

    if (st != RUV_OK) {
        return st;
    }
    if (!cache_ok(cache) || q_row == NULL || out == NULL ||
        cfg->block_size != cache->block_size) {
        return RUV_ERR_INVALID_ARG;
    }
    st = check_heads(q_heads, cache->kv_heads, cache->dim);
    if (st != RUV_OK) {
        return st;
    }
    if (cache->len == 0u) {
        return RUV_ERR_INVALID_STATE;
    }
    t = cache->len - 1u;
    row_set(cfg, true, (uint32_t)t, (uint32_t)(t + 1u), NULL, &rs);
    kv.k = cache->k;
    kv.v = cache->v;
    kv.k16 = cache->k16;
    kv.v16 = cache->v16;
    if (cache->fp16) {
        kv.k = NULL;
        kv.v = NULL;
    }
    kv.stride = cache->kv_heads * cache->dim;
    kv.k_mean = cache->k_mean;
    kv.v_mean = cache->v_mean;
    if (cache->fp16) {
        attend_row_f16(&rs, q_row, &kv, q_heads, cache->kv_heads, cache->dim,
                       inv_sqrt_dim(cache->dim), out);
    } else {
        attend_row(&rs, q_row, &kv, q_heads, cache->kv_heads, cache->dim,
                   inv_sqrt_dim(cache->dim), out);
    }
    return RUV_OK;
}
