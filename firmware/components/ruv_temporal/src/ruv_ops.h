/*
 * ruv_ops.h — the inner loops of the model and the attention, each in two
 * versions (esp-nn style): a plain reference, `_ansi` (ruv_ops_ansi.c, the
 * loops as docs/spec.md reads them), and the version the core runs
 * (ruv_ops.c). Both do the same float operations in the same order for every
 * output element; the optimised one only reorders the loops so that partial
 * sums stay in registers (fewer loads and stores per multiply-add, which is
 * what a scalar FPU such as the ESP32-S3's pays for). So the results are
 * identical bits, whatever the compiler: test_ops runs both on the same
 * random data and requires exactly that. Internal to the core.
 *
 * No argument may overlap an output.
 */
#ifndef RUV_OPS_H
#define RUV_OPS_H

#include <stddef.h>
#include <stdint.h>

/* y[out] = bias (or 0 when bias is NULL) + x[in]·W, W [in][out] row-major:
 * for each j, y[j] = b[j]; then y[j] += x[i]·W[i][j] for i = 0, 1, … */
void ruv_affine_f32_ansi(const float *w, size_t in, size_t out, const float *x,
                         const float *bias, float *y);
void ruv_affine_f32(const float *w, size_t in, size_t out, const float *x, const float *bias,
                    float *y);

/* The same over binary16 weights, each converted exactly (ruv_fp16.h): the
 * bits of ruv_affine_f32 over the rounded weights. */
void ruv_affine_f16_ansi(const uint16_t *w, size_t in, size_t out, const float *x,
                         const float *bias, float *y);
void ruv_affine_f16(const uint16_t *w, size_t in, size_t out, const float *x,
                    const float *bias, float *y);
/* ruv_affine_f16 for a matrix whose halfs are all normal (exponent 1..30;
 * the caller checked once, e.g. at model init): converts with the shift and
 * rebias alone. Same bits as ruv_affine_f16_ansi on such a matrix. */
void ruv_affine_f16_normal(const uint16_t *w, size_t in, size_t out, const float *x,
                           const float *bias, float *y);

/* s[c] = dot(q, rows[c]) · scale for c < cnt, the dot product with four
 * partial sums of ruv_kernel_priv.h (dot_f32). */
void ruv_dot_rows_ansi(const float *q, const float *const *rows, size_t cnt, size_t dim,
                       float scale, float *s);
void ruv_dot_rows(const float *q, const float *const *rows, size_t cnt, size_t dim, float scale,
                  float *s);

/* acc[d] += w[c] · rows[c][d] for c = 0, 1, … cnt−1 in that order, d < dim. */
void ruv_wsum_rows_ansi(const float *w, const float *const *rows, size_t cnt, size_t dim,
                        float *acc);
void ruv_wsum_rows(const float *w, const float *const *rows, size_t cnt, size_t dim, float *acc);

#endif /* RUV_OPS_H */
