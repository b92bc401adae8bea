/*
 * ruv_kernel_priv.h — internal to the kernel: the inline helpers the hot
 * path (ruv_kernel.c) and the optional APIs (ruv_kernel_extras.c) share,
 * and the masked sparse forward both call. Not installed: the public API
 * is ruv_kernel.h.
 */
#ifndef RUV_KERNEL_PRIV_H
#define RUV_KERNEL_PRIV_H

#include <math.h>
#include <string.h>

#include "ruv_fp16.h"
#include "ruv_kernel.h"

/* ---- numerics (docs/spec.md §10) -------------------------------------------------
 *
 * float32 exp: single precision only, no libm, bit manipulation via memcpy
 * (no type punning through unions or pointer casts). With -ffp-contract=off
 * every IEEE-754 single-precision target computes the same bits. Inline
 * here so the inner loops of both kernel files inline it. The binary16
 * conversions are the inline functions of ruv_fp16.h (shared with
 * ruv_model.c).
 */
static inline float bits_f32(uint32_t u)
{
    float x;
    memcpy(&x, &u, sizeof x);
    return x;
}

/* 2^k for k in [-126, 127] (a normal float, exact). */
static inline float pow2i(int32_t k)
{
    return bits_f32((uint32_t)(k + 127) << 23);
}

/*
 * exp(x) = 2^k * exp(r), k = round(x / ln2), r = x - k*ln2 in [-ln2/2, ln2/2].
 * ln2 is split Cody–Waite style into LN2_HI (9 significant bits, so k*LN2_HI
 * is exact for |k| <= 2^15 and x - k*LN2_HI is exact) and LN2_LO.
 * exp(r) = 1 + r + r^2 * P(r), P of degree 5: the Taylor polynomial of
 * degree 7 (truncation error < 6e-9 relative on the interval); the
 * remaining error is float rounding: max rel err 8.5e-8 vs libm's double
 * exp over 2.5e7 points of [-87.3, 88.7] (test_kernel.c bounds it by 2e-7).
 */
#define RUV_EXP_HI 88.72283172607421875f      /* largest x with finite exp(x) */
#define RUV_EXP_LO (-103.972084045410156250f) /* exp(x) < 2^-150 below: 0 */
#define RUV_LOG2E 1.44269502162933349609375f
#define RUV_LN2_HI 0.693359375f
#define RUV_LN2_LO (-2.12194440054690583e-4f) /* ln2 - RUV_LN2_HI */

static inline float exp_f(float x)
{
    float t, r, z, p;
    int32_t k;

    if (x != x) {
        return x + x; /* NaN in -> (quiet) NaN out */
    }
    if (x > RUV_EXP_HI) {
        return bits_f32(0x7F800000u); /* +inf (also for x = +inf) */
    }
    if (x < RUV_EXP_LO) {
        return 0.0f; /* also for x = -inf */
    }

    /* k = round-half-away(x * log2(e)); |k| <= 150 here. */
    t = x * RUV_LOG2E;
    k = (int32_t)(t < 0.0f ? t - 0.5f : t + 0.5f);
    r = x - (float)k * RUV_LN2_HI;
    r = r - (float)k * RUV_LN2_LO;

    z = r * r;
    p = 1.98412698412698412698e-4f;           /* 1/5040 */
    p = p * r + 1.38888888888888888889e-3f;   /* 1/720 */
    p = p * r + 8.33333333333333333333e-3f;   /* 1/120 */
    p = p * r + 4.16666666666666666667e-2f;   /* 1/24 */
    p = p * r + 1.66666666666666666667e-1f;   /* 1/6 */
    p = p * r + 0.5f;
    p = p * z + r;
    p = p + 1.0f; /* exp(r) in [0.707, 1.415] */

    /* Scale by 2^k. Outside the normal exponent range split the scale so
     * every intermediate is a normal float and only the last multiply
     * rounds (into the subnormal range, or to inf at the boundary). */
    if (k > 127) {
        return p * pow2i(k - 1) * 2.0f;
    }
    if (k < -126) {
        return p * pow2i(k + 64) * 5.42101086242752217004e-20f; /* 2^-64 */
    }
    return p * pow2i(k);
}

/* exp_f for x <= 0 (or NaN): the softmax weights exp(score - running max).
 * The same bits as exp_f there, without what only x > 0 needs: the
 * overflow check, the rounding branch (k = round-half-away(t) is
 * (int32_t)(t - 0.5f) for t <= 0, also for t = -0: -0.5 truncates to 0 as
 * 0.5 does) and the k > 127 scaling. test_kernel compares both. */
static inline float exp_nonpos(float x)
{
    float t, r, z, p;
    int32_t k;

    if (x != x) {
        return x + x;
    }
    if (x < RUV_EXP_LO) {
        return 0.0f;
    }
    t = x * RUV_LOG2E;
    k = (int32_t)(t - 0.5f);
    r = x - (float)k * RUV_LN2_HI;
    r = r - (float)k * RUV_LN2_LO;

    z = r * r;
    p = 1.98412698412698412698e-4f;
    p = p * r + 1.38888888888888888889e-3f;
    p = p * r + 8.33333333333333333333e-3f;
    p = p * r + 4.16666666666666666667e-2f;
    p = p * r + 1.66666666666666666667e-1f;
    p = p * r + 0.5f;
    p = p * z + r;
    p = p + 1.0f;
    if (k < -126) {
        return p * pow2i(k + 64) * 5.42101086242752217004e-20f; /* 2^-64 */
    }
    return p * pow2i(k);
}

/* ---- size arithmetic ---------------------------------------------------- */

/* *r = a * b; false on overflow. */
static inline bool mul_sz(size_t a, size_t b, size_t *r)
{
    if (a != 0u && b > SIZE_MAX / a) {
        return false;
    }
    *r = a * b;
    return true;
}

static inline bool add_sz(size_t a, size_t b, size_t *r)
{
    if (b > SIZE_MAX - a) {
        return false;
    }
    *r = a + b;
    return true;
}

/* Indices are uint32_t: true when n fits. With a 32-bit size_t (the
 * ESP32-S3) every n fits, and the comparison is left out rather than
 * written as one that is always false (-Wtype-limits, an error with
 * ESP-IDF v6 defaults). */
static inline bool fits_u32(size_t n)
{
#if SIZE_MAX > 0xFFFFFFFFu
    return n <= (size_t)UINT32_MAX;
#else
    (void)n;
    return true;
#endif
}

static inline size_t ceil_div(size_t n, size_t b)
{
    return n / b + (n % b != 0u ? 1u : 0u);
}

/* ---- shared pieces of the forward and the KV cache ----------------------- */

/* Dot product with four partial sums (fixed order: identical bits on every
 * target; the partial sums give the FPU independent add chains). */
static inline float dot_f32(const float *a, const float *b, size_t dim)
{
    float s0 = 0.0f, s1 = 0.0f, s2 = 0.0f, s3 = 0.0f;
    size_t d = 0u;
    for (; d + 4u <= dim; d += 4u) {
        s0 += a[d] * b[d];
        s1 += a[d + 1u] * b[d + 1u];
        s2 += a[d + 2u] * b[d + 2u];
        s3 += a[d + 3u] * b[d + 3u];
    }
    for (; d < dim; d++) {
        s0 += a[d] * b[d];
    }
    return (s0 + s1) + (s2 + s3);
}

static inline float inv_sqrt_dim(size_t dim)
{
    return 1.0f / sqrtf((float)dim);
}

static inline ruv_status_t check_heads(size_t q_heads, size_t kv_heads, size_t dim)
{
    if (q_heads == 0u || kv_heads == 0u || dim == 0u || q_heads % kv_heads != 0u) {
        return RUV_ERR_INVALID_ARG;
    }
    return RUV_OK;
}

static inline bool cache_ok(const ruv_kv_cache_t *c)
{
    return c != NULL && c->kv_heads != 0u && c->dim != 0u && c->block_size != 0u &&
           c->k_mean != NULL && c->v_mean != NULL &&
           (c->fp16 ? (c->k16 != NULL && c->v16 != NULL) : (c->k != NULL && c->v != NULL)) &&
           c->len <= c->capacity;
}

/* Running-mean update of block t / B with row x (the block_means formula). */
static inline void mean_update(float *mean, const float *x, size_t elems, size_t r)
{
    size_t e;
    if (r == 0u) {
        memcpy(mean, x, elems * sizeof *mean);
    } else {
        const float inv = 1.0f / (float)(r + 1u);
        for (e = 0u; e < elems; e++) {
            mean[e] += (x[e] - mean[e]) * inv;
        }
    }
}

/* ruv_sparse_attention with an optional keep mask (NULL: none): a log-stride
 * token j is used only if keep[j] != 0 — ruv_sparse_attention_gated. */
ruv_status_t ruv_sparse_forward_masked(const ruv_attn_cfg_t *cfg, const float *q, const float *k,
                                       const float *v, size_t n, size_t q_heads, size_t kv_heads,
                                       size_t dim, const uint8_t *keep, float *out,
                                       float *scratch, size_t scratch_floats);

#endif /* RUV_KERNEL_PRIV_H */
