/*
 * ruv_kernel_extras.c — the optional upstream APIs of the kernel
 * (ruv_kernel.h): the FastGRNN-gated sparse forward, dense attention (the
 * reference the sparse kernel is measured against), H2O eviction from a KV
 * cache, the FastGRNN salience gate with upstream's deterministic default
 * weights, and top-K keep masks. None of it runs per frame on the device;
 * the hot path (candidate sets, sparse forward, KV cache, decode step) is
 * ruv_kernel.c. Same numerics (docs/spec.md §10): ruv_expf inline, no contraction.
 */
#include "ruv_kernel_priv.h"

/* ---- gated and dense attention ------------------------------------------- */

ruv_status_t ruv_sparse_attention_gated(const ruv_attn_cfg_t *cfg, const float *q,
                                        const float *k, const float *v, size_t n,
                                        size_t q_heads, size_t kv_heads, size_t dim,
                                        const uint8_t *keep_mask, float *out, float *scratch,
                                        size_t scratch_floats)
{
    if (keep_mask == NULL && n > 0u) {
        return RUV_ERR_INVALID_ARG;
    }
    return ruv_sparse_forward_masked(cfg, q, k, v, n, q_heads, kv_heads, dim, keep_mask, out,
                                     scratch, scratch_floats);
}

/* Plain (two-pass) softmax: m = max_j s_j, then out = sum_j exp(s_j - m) v_j
 * / sum_j exp(s_j - m). No scratch, so the scores are computed twice. */
ruv_status_t ruv_dense_attention(const float *q, const float *k, const float *v, size_t n,
                                 size_t q_heads, size_t kv_heads, size_t dim, bool causal,
                                 float *out)
{
    ruv_status_t st = check_heads(q_heads, kv_heads, dim);
    size_t kvd, qd, tmp, group, i, kvh, g, j, d;
    float scale;

    if (st != RUV_OK) {
        return st;
    }
    if (n == 0u) {
        return RUV_OK;
    }
    if (q == NULL || k == NULL || v == NULL || out == NULL) {
        return RUV_ERR_INVALID_ARG;
    }
    if (!mul_sz(kv_heads, dim, &kvd) || !mul_sz(q_heads, dim, &qd) || !mul_sz(n, qd, &tmp)) {
        return RUV_ERR_INVALID_SIZE;
    }
    group = q_heads / kv_heads;
    scale = inv_sqrt_dim(dim);
    for (i = 0u; i < n; i++) {
        const size_t jn = causal ? i + 1u : n;
        for (kvh = 0u; kvh < kv_heads; kvh++) {
            const float *kb = k + kvh * dim;
            const float *vb = v + kvh * dim;
            for (g = 0u; g < group; g++) {
                const size_t h = kvh * group + g;
                const float *qp = q + i * qd + h * dim;
                float *op = out + i * qd + h * dim;
                float m = dot_f32(qp, kb, dim) * scale, den = 0.0f;
                for (j = 1u; j < jn; j++) {
                    const float s = dot_f32(qp, kb + j * kvd, dim) * scale;
                    if (s > m) {
                        m = s;
                    }
                }
                for (d = 0u; d < dim; d++) {
                    op[d] = 0.0f;
                }
                for (j = 0u; j < jn; j++) {
                    const float w = exp_f(dot_f32(qp, kb + j * kvd, dim) * scale - m);
                    const float *vr = vb + j * kvd;
                    den += w;
                    for (d = 0u; d < dim; d++) {
                        op[d] += w * vr[d];
                    }
                }
                /* out = acc / den, or 0 when den <= 0 (NaN scores) */
                if (den > 0.0f) {
                    const float inv = 1.0f / den;
                    for (d = 0u; d < dim; d++) {
                        op[d] *= inv;
                    }
                } else {
                    for (d = 0u; d < dim; d++) {
                        op[d] = 0.0f;
                    }
                }
            }
        }
    }
    return RUV_OK;
}

/* ---- H2O eviction --------------------------------------------------------- */

ruv_status_t ruv_kv_cache_evict_h2o(ruv_kv_cache_t *cache, const ruv_attn_cfg_t *cfg,
                                    const float *scores, size_t n_scores, size_t *evicted)
{
    size_t len, p, best, kvd, b, nb, t, e;
    uint8_t a;
    bool found = false;

    if (ruv_attn_check(cfg) != RUV_OK || !cache_ok(cache) || scores == NULL) {
        return RUV_ERR_INVALID_ARG;
    }
    len = cache->len;
    if (len == 0u) {
        return RUV_ERR_INVALID_STATE;
    }
    if (n_scores != len) {
        return RUV_ERR_INVALID_SIZE;
    }
    best = 0u;
    for (p = 0u; p < len; p++) {
        bool prot = (len - p) <= (size_t)cfg->window; /* p >= len - window */
        for (a = 0u; a < cfg->n_globals && !prot; a++) {
            prot = (p == (size_t)cfg->globals[a]);
        }
        if (prot) {
            continue;
        }
        /* lowest score, first on ties; like numpy's argmin a NaN score
         * counts as the lowest (the first NaN wins) */
        if (!found || scores[p] < scores[best] ||
            (scores[p] != scores[p] && scores[best] == scores[best])) {
            best = p;
            found = true;
        }
    }
    if (!found) {
        /* Every position protected: upstream evicts the first non-global
         * position below len - window, else position 0. Below len - window
         * every position is protected only by being a global, so no such
         * position exists and the rule always lands on position 0 (a
         * global or a window row). */
        best = 0u;
    }

    kvd = cache->kv_heads * cache->dim;
    if (best + 1u < len) {
        const size_t count = (len - best - 1u) * kvd;
        if (cache->fp16) {
            memmove(cache->k16 + best * kvd, cache->k16 + (best + 1u) * kvd,
                    count * sizeof(uint16_t));
            memmove(cache->v16 + best * kvd, cache->v16 + (best + 1u) * kvd,
                    count * sizeof(uint16_t));
        } else {
            memmove(cache->k + best * kvd, cache->k + (best + 1u) * kvd, count * sizeof(float));
            memmove(cache->v + best * kvd, cache->v + (best + 1u) * kvd, count * sizeof(float));
        }
    }
    len -= 1u;
    cache->len = len;

    /* Rebuild every block mean from the stored rows (FP16 caches: from the
     * rounded rows, the only ones left, so every block is rebuilt the same
     * way), with the running-mean formula of append. */
    nb = ceil_div(len, cache->block_size);
    for (b = 0u; b < nb; b++) {
        const size_t t0 = b * cache->block_size;
        const size_t t1 = len - t0 > cache->block_size ? t0 + cache->block_size : len;
        float *km = cache->k_mean + b * kvd;
        float *vm = cache->v_mean + b * kvd;
        if (!cache->fp16) {
            for (t = t0; t < t1; t++) {
                mean_update(km, cache->k + t * kvd, kvd, t - t0);
                mean_update(vm, cache->v + t * kvd, kvd, t - t0);
            }
        } else {
            for (t = t0; t < t1; t++) {
                const uint16_t *kr = cache->k16 + t * kvd;
                const uint16_t *vr = cache->v16 + t * kvd;
                if (t == t0) {
                    for (e = 0u; e < kvd; e++) {
                        km[e] = ruv_h2f(kr[e]);
                        vm[e] = ruv_h2f(vr[e]);
                    }
                } else {
                    const float inv = 1.0f / (float)(t - t0 + 1u);
                    for (e = 0u; e < kvd; e++) {
                        km[e] += (ruv_h2f(kr[e]) - km[e]) * inv;
                        vm[e] += (ruv_h2f(vr[e]) - vm[e]) * inv;
                    }
                }
            }
        }
    }
    if (evicted != NULL) {
        *evicted = best;
    }
    return RUV_OK;
}

/* ---- FastGRNN gate ------------------------------------------------------ */

static float sigmoid_f(float z)
{
    return 1.0f / (1.0f + exp_f(-z));
}

/* tanh through ruv_expf: odd Taylor polynomial for |z| < 1/8 (no
 * cancellation near 0), (1 - e) / (1 + e) with e = exp(-2|z|) above. */
static float tanh_f(float z)
{
    const float a = z < 0.0f ? -z : z;
    float t;
    if (a < 0.125f) {
        const float z2 = z * z;
        float p = -5.39682539682539682540e-2f; /* -17/315 */
        p = p * z2 + 1.33333333333333333333e-1f; /* 2/15 */
        p = p * z2 - 3.33333333333333333333e-1f; /* -1/3 */
        return z + z * z2 * p;
    }
    {
        const float e = exp_f(-2.0f * a);
        t = (1.0f - e) / (1.0f + e);
    }
    return z < 0.0f ? -t : t;
}

void ruv_fastgrnn_step(const ruv_fastgrnn_t *cell, const float *x, const float *h, float *h_out,
                       float *scratch)
{
    size_t nh, nd, i, o;
    float *zg, *zu;

    if (cell == NULL || x == NULL || h == NULL || h_out == NULL || scratch == NULL ||
        cell->wg == NULL || cell->ug == NULL || cell->wu == NULL || cell->uu == NULL) {
        return;
    }
    nh = cell->hidden;
    nd = cell->dim;
    zg = scratch;
    zu = scratch + nh;
    for (o = 0u; o < nh; o++) {
        zg[o] = cell->bg != NULL ? cell->bg[o] : 0.0f;
        zu[o] = cell->bu != NULL ? cell->bu[o] : 0.0f;
    }
    for (i = 0u; i < nd; i++) {
        const float xi = x[i];
        const float *wg = cell->wg + i * nh;
        const float *wu = cell->wu + i * nh;
        for (o = 0u; o < nh; o++) {
            zg[o] += xi * wg[o];
            zu[o] += xi * wu[o];
        }
    }
    for (i = 0u; i < nh; i++) {
        const float hi = h[i];
        const float *ug = cell->ug + i * nh;
        const float *uu = cell->uu + i * nh;
        for (o = 0u; o < nh; o++) {
            zg[o] += hi * ug[o];
            zu[o] += hi * uu[o];
        }
    }
    for (o = 0u; o < nh; o++) {
        const float g = sigmoid_f(zg[o]);
        const float c = tanh_f(zu[o]);
        h_out[o] = g * h[o] + (1.0f - g) * c;
    }
}

ruv_status_t ruv_fastgrnn_salience(const ruv_fastgrnn_t *cell, const float *k, size_t n,
                                   size_t kv_heads, float *salience, float *scratch,
                                   size_t scratch_floats)
{
    size_t nd, nh, need, t, hh, d, o, kvd;
    float *x, *ha, *hb, *st;
    float inv_kv;

    if (cell == NULL || cell->dim == 0u || cell->hidden == 0u || kv_heads == 0u ||
        cell->wg == NULL || cell->ug == NULL || cell->wu == NULL || cell->uu == NULL) {
        return RUV_ERR_INVALID_ARG;
    }
    nd = cell->dim;
    nh = cell->hidden;
    if (!mul_sz(nh, 4u, &need) || !add_sz(need, nd, &need) || !mul_sz(kv_heads, nd, &kvd)) {
        return RUV_ERR_INVALID_SIZE;
    }
    if (n == 0u) {
        return RUV_OK;
    }
    if (k == NULL || salience == NULL || scratch == NULL) {
        return RUV_ERR_INVALID_ARG;
    }
    if (scratch_floats < need) {
        return RUV_ERR_INVALID_SIZE;
    }
    x = scratch;
    ha = x + nd;
    hb = ha + nh;
    st = hb + nh;
    for (o = 0u; o < nh; o++) {
        ha[o] = 0.0f;
    }
    inv_kv = 1.0f / (float)kv_heads;
    for (t = 0u; t < n; t++) {
        const float *kr = k + t * kvd;
        float ss = 0.0f, *tmp;
        for (d = 0u; d < nd; d++) {
            float s = kr[d];
            for (hh = 1u; hh < kv_heads; hh++) {
                s += kr[hh * nd + d];
            }
            x[d] = s * inv_kv;
        }
        ruv_fastgrnn_step(cell, x, ha, hb, st);
        for (o = 0u; o < nh; o++) {
            ss += hb[o] * hb[o];
        }
        salience[t] = sqrtf(ss);
        tmp = ha;
        ha = hb;
        hb = tmp;
    }
    return RUV_OK;
}

/* Element i of upstream's default weight matrix number `which` (0 Wg, 1 Ug,
 * 2 Wu, 3 Uu): a u32 hash of j = i + 1000 * which, mapped to [-1, 1) and
 * scaled by scale = sqrt(2/(in+H)) * 0.1, float32 left to right. */
static float default_weight(size_t i, uint32_t which, float scale)
{
    const uint32_t j = (uint32_t)i + 1000u * which; /* u32 wrap-around */
    const uint32_t hash = j * 2654435761u + 0x9E3779B9u;
    /* / 2^32 is exact: the same bits as multiplying by 2^-32 */
    const float u = (float)hash * 2.3283064365386962890625e-10f;
    return (u - 0.5f) * 2.0f * scale * 0.1f;
}

size_t ruv_fastgrnn_default_floats(size_t in, size_t hidden)
{
    size_t a, b;
    if (in == 0u || hidden == 0u || !mul_sz(in, hidden, &a) || !mul_sz(hidden, hidden, &b) ||
        !add_sz(a, b, &a) || !mul_sz(a, 2u, &a)) {
        return 0u;
    }
    return a;
}

ruv_status_t ruv_fastgrnn_default(ruv_fastgrnn_t *cell, size_t in, size_t hidden, float *w,
                                  size_t w_floats)
{
    const size_t need = ruv_fastgrnn_default_floats(in, hidden);
    const size_t nw = in * hidden, nu = hidden * hidden; /* fit: need != 0 */
    float *wg, *ug, *wu, *uu, scale;
    size_t r, c;

    if (cell == NULL || w == NULL || need == 0u) {
        return RUV_ERR_INVALID_ARG;
    }
    if (w_floats < need) {
        return RUV_ERR_INVALID_SIZE;
    }
    wg = w;
    ug = wg + nw;
    wu = ug + nu;
    uu = wu + nw;
    scale = sqrtf(2.0f / (float)(in + hidden));
    /* upstream element i of W [H][in] is W[r][c], i = r*in + c; the cell
     * stores [in][H] (x . W), so it lands at [c][r]; likewise U [H][H]. */
    for (r = 0u; r < hidden; r++) {
        for (c = 0u; c < in; c++) {
            wg[c * hidden + r] = default_weight(r * in + c, 0u, scale);
            wu[c * hidden + r] = default_weight(r * in + c, 2u, scale);
        }
        for (c = 0u; c < hidden; c++) {
            ug[c * hidden + r] = default_weight(r * hidden + c, 1u, scale);
            uu[c * hidden + r] = default_weight(r * hidden + c, 3u, scale);
        }
    }
    cell->dim = in;
    cell->hidden = hidden;
    cell->wg = wg;
    cell->ug = ug;
    cell->wu = wu;
    cell->uu = uu;
    cell->bg = NULL;
    cell->bu = NULL;
    return RUV_OK;
}

/* a ranks before b: higher salience first, NaN after every number, ties
 * (and NaN against NaN) to the lower index. */
static bool ranks_before(float a, size_t ia, float b, size_t ib)
{
    const bool a_nan = a != a, b_nan = b != b;
    if (a_nan != b_nan) {
        return b_nan;
    }
    if (!a_nan && a != b) {
        return a > b;
    }
    return ia < ib;
}

ruv_status_t ruv_keep_mask_top_k(const float *salience, size_t n, size_t k, uint8_t *keep)
{
    size_t i, j;
    if (n == 0u) {
        return RUV_OK;
    }
    if (salience == NULL || keep == NULL) {
        return RUV_ERR_INVALID_ARG;
    }
    for (i = 0u; i < n; i++) {
        /* rank of i = how many positions rank before it; O(n^2), no
         * scratch (the gate runs per window, not per frame) */
        size_t rank = 0u;
        if (k >= n) {
            keep[i] = 1u;
            continue;
        }
        for (j = 0u; j < n && rank < k; j++) {
            if (j != i && ranks_before(salience[j], j, salience[i], i)) {
                rank++;
            }
        }
        keep[i] = rank < k ? 1u : 0u;
    }
    return RUV_OK;
}
