/*
 * ruv_model.c — model v1 forward and streaming decode (ruv_model.h).
 */
#include "ruv_model.h"

#include <string.h>

#include "ruv_fp16.h"
#include "ruv_ops.h"

/* ---- weights ------------------------------------------------------------- */

/* y[out] = bias (or 0) + x[in]·W, W [in][out] row-major at element offset
 * `off` of the base weights (FP32 or FP16). axpy order: for i, y += x[i]·W[i]
 * (ruv_ops.h; the FP16 weights converted exactly, the blob is 4-byte aligned
 * and every matrix starts at an even element offset from byte 24, so these
 * are aligned u16 reads). */
static void affine(const ruv_model_t *m, size_t off, size_t in, size_t out, const float *x,
                   const float *bias, float *y)
{
    if (m->fp16 && m->fp16_normal) {
        ruv_affine_f16_normal((const uint16_t *)(const void *)m->weights + off, in, out, x, bias,
                              y);
    } else if (m->fp16) {
        ruv_affine_f16((const uint16_t *)(const void *)m->weights + off, in, out, x, bias, y);
    } else {
        ruv_affine_f32((const float *)(const void *)m->weights + off, in, out, x, bias, y);
    }
}

/* Element offsets of layer l's matrices. */
static size_t off_wq(const ruv_model_t *m, size_t l)
{
    return l * m->layer_elems;
}
static size_t off_wk(const ruv_model_t *m, size_t l)
{
    return off_wq(m, l) + m->D * m->qd;
}
static size_t off_wv(const ruv_model_t *m, size_t l)
{
    return off_wk(m, l) + m->D * m->kvd;
}
static size_t off_wo(const ruv_model_t *m, size_t l)
{
    return off_wv(m, l) + m->D * m->kvd;
}

/* Bias vectors of layer l (NULL without a BIAS section). */
static const float *bias_at(const ruv_model_t *m, size_t l, size_t within)
{
    return m->bias == NULL ? NULL : m->bias + l * m->bias_layer + within;
}

/* ---- public --------------------------------------------------------------- */

ruv_status_t ruv_model_init(ruv_model_t *m, const ruv_blob_t *blob, size_t max_len,
                            const char **reason)
{
    const char *dummy;
    if (reason == NULL) {
        reason = &dummy;
    }
    memset(m, 0, sizeof *m);
    if (blob == NULL || blob->data == NULL) {
        *reason = "no_blob";
        return RUV_ERR_INVALID_ARG;
    }
    /* In-place f32/f16 reads need the blob 4-byte aligned (RVNE keeps every
     * matrix and f32 section 4-aligned relative to byte 0). */
    if (((uintptr_t)(const void *)blob->data & 3u) != 0u) {
        *reason = "blob_unaligned";
        return RUV_ERR_INVALID_ARG;
    }
    ruv_status_t st = ruv_blob_attn_cfg(blob, max_len, &m->attn);
    if (st != RUV_OK) {
        *reason = "too_many_globals";
        return st;
    }
    st = ruv_attn_check(&m->attn);
    if (st != RUV_OK) {
        *reason = "bad_attn";
        return st;
    }
    m->D = blob->input_dim;
    m->q_heads = blob->n_q_heads;
    m->kv_heads = blob->n_kv_heads;
    m->head_dim = blob->head_dim;
    m->L = blob->n_layers;
    m->C = blob->n_classes;
    m->qd = m->q_heads * m->head_dim;
    m->kvd = m->kv_heads * m->head_dim;
    m->fp16 = blob->fp16;
    m->weights = ruv_blob_weights(blob);
    m->layer_elems = blob->layer_elems;
    m->wc_offset = blob->wc_offset;
    /* FP16: whether every base weight is a normal half, once (nearly every
     * model): affine() then converts with the shift and rebias alone */
    m->fp16_normal = m->fp16 && ruv_h2f_all_normal((const uint16_t *)(const void *)m->weights,
                                                   m->wc_offset + m->D * m->C);
    if (blob->norm != NULL) {
        m->mean = (const float *)(const void *)blob->norm;
        m->inv_std = m->mean + m->D;
    }
    if (blob->bias != NULL) {
        m->bias = (const float *)(const void *)blob->bias;
    }
    m->bias_layer = m->qd + 2u * m->kvd + m->D;
    *reason = "ok";
    return RUV_OK;
}

size_t ruv_model_row_floats(const ruv_model_t *m)
{
    /* q, a: qd each; k, v: kvd each; proj: D */
    return 2u * m->qd + 2u * m->kvd + m->D;
}

void ruv_model_normalise(const ruv_model_t *m, const float *x, float *out)
{
    if (m->mean != NULL) {
        for (size_t i = 0; i < m->D; ++i) {
            out[i] = (x[i] - m->mean[i]) * m->inv_std[i];
        }
    } else if (out != x) {
        memcpy(out, x, m->D * sizeof *out);
    }
}

void ruv_model_readout(const ruv_model_t *m, const float *h, float *logits)
{
    const float *bc = m->bias == NULL ? NULL : m->bias + m->L * m->bias_layer;
    affine(m, m->wc_offset, m->D, m->C, h, bc, logits);
}

size_t ruv_model_need_bytes(const ruv_model_t *m, size_t T)
{
    const size_t per = T / 8u + (T % 8u != 0u ? 1u : 0u);
    if (m->L >= SIZE_MAX || (per != 0u && m->L + 1u > SIZE_MAX / per)) {
        return 0u;
    }
    return (m->L + 1u) * per;
}

static bool bit_at(const uint8_t *set, size_t t)
{
    return (((unsigned)set[t >> 3] >> (t & 7u)) & 1u) != 0u;
}

/* need[l] (l = 0..L, per bytes each): the rows whose input to layer l (for
 * l = L: the final output) the newest row's result reads. */
static ruv_status_t plan_needed_rows(const ruv_model_t *m, size_t T, size_t per, uint8_t *need)
{
    memset(need, 0, (m->L + 1u) * per);
    need[m->L * per + ((T - 1u) >> 3)] = (uint8_t)(1u << ((T - 1u) & 7u));
    for (size_t l = m->L; l-- > 0u;) {
        const uint8_t *above = need + (l + 1u) * per;
        uint8_t *here = need + l * per;
        for (size_t t = 0; t < T; ++t) {
            if (bit_at(above, t)) {
                /* the query itself (in its window) and what it reads */
                ruv_status_t st = ruv_mark_decode_rows(&m->attn, t, here);
                if (st != RUV_OK) {
                    return st;
                }
            }
        }
    }
    return RUV_OK;
}

ruv_status_t ruv_model_forward(const ruv_model_t *m, float *h, size_t T, ruv_kv_cache_t *shared,
                               ruv_kv_cache_t *caches, bool prefill, float *rows, uint8_t *need,
                               float *states, float *logits)
{
    if (T == 0u || (shared == NULL && caches == NULL)) {
        return RUV_ERR_INVALID_ARG;
    }
    const size_t D = m->D, qd = m->qd, kvd = m->kvd;
    const size_t per = T / 8u + (T % 8u != 0u ? 1u : 0u);
    float *q = rows;
    float *a = q + qd;
    float *k = a + qd;
    float *v = k + kvd;
    float *proj = v + kvd;
    float *newest = h + (T - 1u) * D;
    if (prefill) {
        need = NULL;
    }
    if (need != NULL) {
        ruv_status_t st = plan_needed_rows(m, T, per, need);
        if (st != RUV_OK) {
            return st;
        }
    }
    if (states != NULL && !prefill) {
        memcpy(states, newest, D * sizeof *states);
    }
    for (size_t l = 0; l < m->L; ++l) {
        ruv_kv_cache_t *attn_cache = shared != NULL ? shared : &caches[l];
        ruv_kv_cache_t *mirror = (shared != NULL && caches != NULL) ? &caches[l] : NULL;
        const bool last = l + 1u == m->L;
        const uint8_t *kv_rows = need != NULL ? need + l * per : NULL;
        const uint8_t *q_rows = need != NULL ? need + (l + 1u) * per : NULL;
        /* fp32 prefill with layer 0's rows in place: decode over them */
        const bool kv_ready = l == 0u && prefill && shared == NULL && caches[0].len == T;
        if (shared != NULL) {
            ruv_kv_cache_clear(shared);
        }
        if (kv_ready) {
            ruv_kv_cache_clear(attn_cache); /* rows and means stay; len grows again */
        }
        for (size_t t = 0; t < T; ++t) {
            float *x = h + t * D;
            ruv_status_t st;
            if (kv_ready || (kv_rows != NULL && !bit_at(kv_rows, t))) {
                /* kv_ready: the row is in place; else nothing computed later
                 * reads it (mirror is NULL: need is only used without one) */
                st = ruv_kv_cache_skip(attn_cache);
                if (st != RUV_OK) {
                    return st;
                }
                if (!kv_ready) {
                    continue;
                }
            } else {
                affine(m, off_wk(m, l), D, kvd, x, bias_at(m, l, qd), k);
                affine(m, off_wv(m, l), D, kvd, x, bias_at(m, l, qd + kvd), v);
                st = ruv_kv_cache_append(attn_cache, k, v);
                if (st == RUV_OK && mirror != NULL) {
                    st = ruv_kv_cache_append(mirror, k, v);
                }
                if (st != RUV_OK) {
                    return st;
                }
            }
            /* Last layer: only the newest row's output is read (and a
             * prefill needs none of it) — skip q, attention and Wo. */
            if (last && (prefill || t + 1u != T)) {
                continue;
            }
            if (q_rows != NULL && !bit_at(q_rows, t)) {
                continue;
            }
            affine(m, off_wq(m, l), D, qd, x, bias_at(m, l, 0), q);
            st = ruv_decode_step(&m->attn, attn_cache, q, m->q_heads, a);
            if (st != RUV_OK) {
                return st;
            }
            affine(m, off_wo(m, l), qd, D, a, bias_at(m, l, qd + 2u * kvd), proj);
            for (size_t j = 0; j < D; ++j) {
                x[j] += proj[j];
            }
        }
        if (states != NULL && !prefill) {
            memcpy(states + (l + 1u) * D, newest, D * sizeof *states);
        }
    }
    if (logits != NULL && !prefill) {
        ruv_model_readout(m, newest, logits);
    }
    return RUV_OK;
}
