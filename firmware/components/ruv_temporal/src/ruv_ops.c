/*
 * ruv_ops.c — the inner loops the core runs (ruv_ops.h; plain references in
 * ruv_ops_ansi.c). Each output element gets exactly the float operations of
 * the reference, in the same order; what changes is only which loop is
 * inside:
 *
 *  - affine: blocks of 8 (then 4, then 1) outputs; the block's partial sums
 *    live in registers while the inputs are walked in order, so each
 *    multiply-add loads one weight instead of loading and storing y[j] too;
 *  - dot_rows: two rows per pass share each load of q (8 partial sums: the
 *    4 of dot_f32 for each row);
 *  - wsum_rows: blocks of 8 (4, 1) accumulator elements in registers while
 *    the rows are walked in order.
 *
 * A scalar FPU with 16 registers (the ESP32-S3's) holds every block; GCC
 * may also vectorise the independent lanes, which changes no bit.
 */
#include "ruv_ops.h"

#include <string.h>

#include "ruv_fp16.h"
#include "ruv_kernel_priv.h"

#if defined(__GNUC__)
#define RUV_ALWAYS_INLINE __attribute__((always_inline)) inline
#else
#define RUV_ALWAYS_INLINE inline
#endif

/* How affine_blocked reads a weight: float32, a half known to be normal,
 * or a half of a row that is all normal (nr != 0) or not. The kind is
 * constant at every call, so each call is its own loop. */
enum { W_F32, W_F16_NORMAL, W_F16 };

static RUV_ALWAYS_INLINE float wload(const void *w, size_t k, int kind, int nr)
{
    if (kind == W_F32) {
        return ((const float *)w)[k];
    }
    if (kind == W_F16_NORMAL || nr != 0) {
        return ruv_h2f_normal(((const uint16_t *)w)[k]);
    }
    return ruv_h2f(((const uint16_t *)w)[k]);
}

/* W_F16: bit i of row_ok says row i holds only normal halfs (rows beyond
 * RUV_F16_ROWS_FLAGGED are converted with the general ruv_h2f). */
#define RUV_F16_ROWS_FLAGGED 512u

static RUV_ALWAYS_INLINE int row_normal(const uint8_t *row_ok, size_t i, int kind)
{
    if (kind != W_F16) {
        return 1;
    }
    return i < RUV_F16_ROWS_FLAGGED && (((unsigned)row_ok[i >> 3] >> (i & 7u)) & 1u) != 0u;
}

static RUV_ALWAYS_INLINE void affine_blocked(const void *w, size_t in, size_t out,
                                             const float *x, const float *bias, float *y,
                                             int kind, const uint8_t *row_ok)
{
    size_t i, j = 0u;
    for (; j + 8u <= out; j += 8u) {
        float a0 = 0.0f, a1 = 0.0f, a2 = 0.0f, a3 = 0.0f;
        float a4 = 0.0f, a5 = 0.0f, a6 = 0.0f, a7 = 0.0f;
        size_t k = j;
        if (bias != NULL) {
            a0 = bias[j];
            a1 = bias[j + 1u];
            a2 = bias[j + 2u];
            a3 = bias[j + 3u];
            a4 = bias[j + 4u];
            a5 = bias[j + 5u];
            a6 = bias[j + 6u];
            a7 = bias[j + 7u];
        }
        for (i = 0u; i < in; i++, k += out) {
            const float xi = x[i];
            const int nr = row_normal(row_ok, i, kind);
            a0 += xi * wload(w, k, kind, nr);
            a1 += xi * wload(w, k + 1u, kind, nr);
            a2 += xi * wload(w, k + 2u, kind, nr);
            a3 += xi * wload(w, k + 3u, kind, nr);
            a4 += xi * wload(w, k + 4u, kind, nr);
            a5 += xi * wload(w, k + 5u, kind, nr);
            a6 += xi * wload(w, k + 6u, kind, nr);
            a7 += xi * wload(w, k + 7u, kind, nr);
        }
        y[j] = a0;
        y[j + 1u] = a1;
        y[j + 2u] = a2;
        y[j + 3u] = a3;
        y[j + 4u] = a4;
        y[j + 5u] = a5;
        y[j + 6u] = a6;
        y[j + 7u] = a7;
    }
    for (; j + 4u <= out; j += 4u) {
        float a0 = 0.0f, a1 = 0.0f, a2 = 0.0f, a3 = 0.0f;
        size_t k = j;
        if (bias != NULL) {
            a0 = bias[j];
            a1 = bias[j + 1u];
            a2 = bias[j + 2u];
            a3 = bias[j + 3u];
        }
        for (i = 0u; i < in; i++, k += out) {
            const float xi = x[i];
            const int nr = row_normal(row_ok, i, kind);
            a0 += xi * wload(w, k, kind, nr);
            a1 += xi * wload(w, k + 1u, kind, nr);
            a2 += xi * wload(w, k + 2u, kind, nr);
            a3 += xi * wload(w, k + 3u, kind, nr);
        }
        y[j] = a0;
        y[j + 1u] = a1;
        y[j + 2u] = a2;
        y[j + 3u] = a3;
    }
    for (; j < out; j++) {
        float a0 = bias != NULL ? bias[j] : 0.0f;
        size_t k = j;
        for (i = 0u; i < in; i++, k += out) {
            a0 += x[i] * wload(w, k, kind, row_normal(row_ok, i, kind));
        }
        y[j] = a0;
    }
}

void ruv_affine_f32(const float *w, size_t in, size_t out, const float *x, const float *bias,
                    float *y)
{
    affine_blocked(w, in, out, x, bias, y, W_F32, NULL);
}

void ruv_affine_f16(const uint16_t *w, size_t in, size_t out, const float *x,
                    const float *bias, float *y)
{
    /* One branch-free pass per row (ruv_h2f_all_normal) flags the rows of
     * normal halfs, which convert with the shift + rebias alone; a row
     * holding a zero, subnormal, inf or NaN takes the general conversion. */
    uint8_t row_ok[RUV_F16_ROWS_FLAGGED / 8u];
    size_t i;
    memset(row_ok, 0, sizeof row_ok);
    for (i = 0u; i < in && i < RUV_F16_ROWS_FLAGGED; i++) {
        if (ruv_h2f_all_normal(w + i * out, out)) {
            row_ok[i >> 3] = (uint8_t)((unsigned)row_ok[i >> 3] | (1u << (i & 7u)));
        }
    }
    affine_blocked(w, in, out, x, bias, y, W_F16, row_ok);
}

void ruv_affine_f16_normal(const uint16_t *w, size_t in, size_t out, const float *x,
                           const float *bias, float *y)
{
    affine_blocked(w, in, out, x, bias, y, W_F16_NORMAL, NULL);
}

void ruv_dot_rows(const float *q, const float *const *rows, size_t cnt, size_t dim, float scale,
                  float *s)
{
    size_t c = 0u, d;
    for (; c + 2u <= cnt; c += 2u) {
        const float *k0 = rows[c], *k1 = rows[c + 1u];
        float s00 = 0.0f, s01 = 0.0f, s02 = 0.0f, s03 = 0.0f;
        float s10 = 0.0f, s11 = 0.0f, s12 = 0.0f, s13 = 0.0f;
        for (d = 0u; d + 4u <= dim; d += 4u) {
            const float q0 = q[d], q1 = q[d + 1u], q2 = q[d + 2u], q3 = q[d + 3u];
            s00 += q0 * k0[d];
            s10 += q0 * k1[d];
            s01 += q1 * k0[d + 1u];
            s11 += q1 * k1[d + 1u];
            s02 += q2 * k0[d + 2u];
            s12 += q2 * k1[d + 2u];
            s03 += q3 * k0[d + 3u];
            s13 += q3 * k1[d + 3u];
        }
        for (; d < dim; d++) {
            s00 += q[d] * k0[d];
            s10 += q[d] * k1[d];
        }
        s[c] = ((s00 + s01) + (s02 + s03)) * scale;
        s[c + 1u] = ((s10 + s11) + (s12 + s13)) * scale;
    }
    if (c < cnt) {
        s[c] = dot_f32(q, rows[c], dim) * scale;
    }
}

void ruv_wsum_rows(const float *w, const float *const *rows, size_t cnt, size_t dim, float *acc)
{
    size_t c, d = 0u;
    for (; d + 8u <= dim; d += 8u) {
        float a0 = acc[d], a1 = acc[d + 1u], a2 = acc[d + 2u], a3 = acc[d + 3u];
        float a4 = acc[d + 4u], a5 = acc[d + 5u], a6 = acc[d + 6u], a7 = acc[d + 7u];
        for (c = 0u; c < cnt; c++) {
            const float wc = w[c];
            const float *r = rows[c] + d;
            a0 += wc * r[0];
            a1 += wc * r[1];
            a2 += wc * r[2];
            a3 += wc * r[3];
            a4 += wc * r[4];
            a5 += wc * r[5];
            a6 += wc * r[6];
            a7 += wc * r[7];
        }
        acc[d] = a0;
        acc[d + 1u] = a1;
        acc[d + 2u] = a2;
        acc[d + 3u] = a3;
        acc[d + 4u] = a4;
        acc[d + 5u] = a5;
        acc[d + 6u] = a6;
        acc[d + 7u] = a7;
    }
    for (; d + 4u <= dim; d += 4u) {
        float a0 = acc[d], a1 = acc[d + 1u], a2 = acc[d + 2u], a3 = acc[d + 3u];
        for (c = 0u; c < cnt; c++) {
            const float wc = w[c];
            const float *r = rows[c] + d;
            a0 += wc * r[0];
            a1 += wc * r[1];
            a2 += wc * r[2];
            a3 += wc * r[3];
        }
        acc[d] = a0;
        acc[d + 1u] = a1;
        acc[d + 2u] = a2;
        acc[d + 3u] = a3;
    }
    for (; d < dim; d++) {
        float a0 = acc[d];
        for (c = 0u; c < cnt; c++) {
            a0 += w[c] * rows[c][d];
        }
        acc[d] = a0;
    }
}
