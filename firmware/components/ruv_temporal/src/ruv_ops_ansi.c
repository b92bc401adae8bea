/*
 * ruv_ops_ansi.c — plain reference versions of the inner loops (ruv_ops.h).
 * The core runs ruv_ops.c; test_ops checks that both give identical bits.
 */
#include "ruv_ops.h"

#include "ruv_fp16.h"
#include "ruv_kernel_priv.h"

void ruv_affine_f32_ansi(const float *w, size_t in, size_t out, const float *x,
                         const float *bias, float *y)
{
    size_t i, j;
    for (j = 0u; j < out; j++) {
        y[j] = bias != NULL ? bias[j] : 0.0f;
    }
    for (i = 0u; i < in; i++) {
        for (j = 0u; j < out; j++) {
            y[j] += x[i] * w[i * out + j];
        }
    }
}

void ruv_affine_f16_ansi(const uint16_t *w, size_t in, size_t out, const float *x,
                         const float *bias, float *y)
{
    size_t i, j;
    for (j = 0u; j < out; j++) {
        y[j] = bias != NULL ? bias[j] : 0.0f;
    }
    for (i = 0u; i < in; i++) {
        for (j = 0u; j < out; j++) {
            y[j] += x[i] * ruv_h2f(w[i * out + j]);
        }
    }
}

void ruv_dot_rows_ansi(const float *q, const float *const *rows, size_t cnt, size_t dim,
                       float scale, float *s)
{
    size_t c;
    for (c = 0u; c < cnt; c++) {
        s[c] = dot_f32(q, rows[c], dim) * scale;
    }
}

void ruv_wsum_rows_ansi(const float *w, const float *const *rows, size_t cnt, size_t dim,
                        float *acc)
{
    size_t c, d;
    for (c = 0u; c < cnt; c++) {
        for (d = 0u; d < dim; d++) {
            acc[d] += w[c] * rows[c][d];
        }
    }
}
