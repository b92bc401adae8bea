/*
 * test_ops.c — the optimised inner loops (src/ruv_ops.c) against their
 * plain references (src/ruv_ops_ansi.c) on the same random data: identical
 * bits required (same float operations in the same order per element).
 * Shapes cover every block remainder (8/4/1 outputs, 2/1 rows, 8/4/1
 * elements), bias present or not, FP16 weights with and without zeros,
 * subnormals, infinities and NaNs, and values spread over many binades so
 * that a changed summation order would show.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ruv_fp16.h" /* internal: ruv_h2f_all_normal */
#include "ruv_kernel.h"
#include "ruv_ops.h"

#include "test_check.h"

static uint64_t g_rng = 0x0DDB1A5E5BADC0DEull;

static uint32_t rnd32(void)
{
    g_rng ^= g_rng << 13;
    g_rng ^= g_rng >> 7;
    g_rng ^= g_rng << 17;
    return (uint32_t)((g_rng * 0x2545F4914F6CDD1Dull) >> 32);
}

/* Signed values over ~2^-12 .. 2^12, so rounding depends on the order. */
static float rnd_val(void)
{
    const float u = (float)(rnd32() >> 8) * (1.0f / 16777216.0f); /* [0, 1) */
    const int e = (int)(rnd32() % 25u) - 12;
    float x = 1.0f + u;
    int i;
    for (i = 0; i < (e < 0 ? -e : e); i++) {
        x = e < 0 ? x * 0.5f : x * 2.0f;
    }
    return (rnd32() & 1u) != 0u ? -x : x;
}

static void fill(float *a, size_t n)
{
    size_t i;
    for (i = 0; i < n; i++) {
        a[i] = rnd_val();
    }
}

static int same_bits(const float *a, const float *b, size_t n)
{
    return memcmp(a, b, n * sizeof *a) == 0;
}

static void test_affine(void)
{
    const size_t ins[] = {1, 3, 16, 37, 128};
    const size_t outs[] = {1, 2, 4, 5, 8, 11, 16, 32, 39, 128};
    size_t a, b, trial;
    for (a = 0; a < sizeof ins / sizeof ins[0]; a++) {
        for (b = 0; b < sizeof outs / sizeof outs[0]; b++) {
            const size_t in = ins[a], out = outs[b];
            float *w = malloc(in * out * sizeof *w);
            uint16_t *w16 = malloc(in * out * sizeof *w16);
            float *x = malloc(in * sizeof *x), *bias = malloc(out * sizeof *bias);
            float *y0 = malloc(out * sizeof *y0), *y1 = malloc(out * sizeof *y1);
            for (trial = 0; trial < 4; trial++) {
                const float *bp = (trial & 1u) != 0u ? bias : NULL;
                size_t i;
                fill(w, in * out);
                fill(x, in);
                fill(bias, out);
                for (i = 0; i < in * out; i++) {
                    w16[i] = ruv_f32_to_f16(w[i] * 0.25f); /* 2^-14 .. 2^11: normal */
                }
                if (trial >= 2u) { /* specials: zero, -0, subnormal, inf, NaN */
                    const uint16_t sp[] = {0x0000u, 0x8000u, 0x0001u, 0x83FFu, 0x7C00u, 0x7E01u};
                    for (i = 0; i < 6u && i < in * out; i++) {
                        w16[(rnd32() % (uint32_t)(in * out))] = sp[i];
                    }
                }
                memset(y0, 0xA5, out * sizeof *y0);
                memset(y1, 0x5A, out * sizeof *y1);
                ruv_affine_f32_ansi(w, in, out, x, bp, y0);
                ruv_affine_f32(w, in, out, x, bp, y1);
                CHECK(same_bits(y0, y1, out), "affine_f32 in=%zu out=%zu trial %zu", in, out,
                      trial);
                memset(y0, 0xA5, out * sizeof *y0);
                memset(y1, 0x5A, out * sizeof *y1);
                ruv_affine_f16_ansi(w16, in, out, x, bp, y0);
                ruv_affine_f16(w16, in, out, x, bp, y1);
                CHECK(same_bits(y0, y1, out), "affine_f16 in=%zu out=%zu trial %zu", in, out,
                      trial);
                if (trial < 2u) { /* no specials yet: every half normal */
                    CHECK(ruv_h2f_all_normal(w16, in * out), "test data not all normal");
                    memset(y1, 0x5A, out * sizeof *y1);
                    ruv_affine_f16_normal(w16, in, out, x, bp, y1);
                    CHECK(same_bits(y0, y1, out), "affine_f16_normal in=%zu out=%zu trial %zu",
                          in, out, trial);
                }
            }
            free(w);
            free(w16);
            free(x);
            free(bias);
            free(y0);
            free(y1);
        }
    }
}

static void test_rows(void)
{
    const size_t dims[] = {1, 3, 4, 7, 8, 12, 16, 31, 32, 64, 100};
    const size_t cnts[] = {1, 2, 3, 17, 32};
    enum { MAXROWS = 40 };
    size_t a, b, c;
    for (a = 0; a < sizeof dims / sizeof dims[0]; a++) {
        for (b = 0; b < sizeof cnts / sizeof cnts[0]; b++) {
            const size_t dim = dims[a], cnt = cnts[b];
            float *pool = malloc(MAXROWS * dim * sizeof *pool);
            float *q = malloc(dim * sizeof *q);
            float *acc0 = malloc(dim * sizeof *acc0), *acc1 = malloc(dim * sizeof *acc1);
            const float *rows[32];
            float w[32], s0[32], s1[32];
            fill(pool, MAXROWS * dim);
            fill(q, dim);
            fill(acc0, dim);
            memcpy(acc1, acc0, dim * sizeof *acc0);
            for (c = 0; c < cnt; c++) { /* rows in any order, repeats allowed */
                rows[c] = pool + (rnd32() % MAXROWS) * dim;
                w[c] = rnd_val();
            }
            ruv_dot_rows_ansi(q, rows, cnt, dim, 0.17677669f, s0);
            ruv_dot_rows(q, rows, cnt, dim, 0.17677669f, s1);
            CHECK(same_bits(s0, s1, cnt), "dot_rows dim=%zu cnt=%zu", dim, cnt);
            ruv_wsum_rows_ansi(w, rows, cnt, dim, acc0);
            ruv_wsum_rows(w, rows, cnt, dim, acc1);
            CHECK(same_bits(acc0, acc1, dim), "wsum_rows dim=%zu cnt=%zu", dim, cnt);
            free(pool);
            free(q);
            free(acc0);
            free(acc1);
        }
    }
}

int main(void)
{
    test_affine();
    test_rows();
    if (g_failures != 0) {
        fprintf(stderr, "test_ops: %d failure(s)\n", g_failures);
        return 1;
    }
    printf("test_ops: ok\n");
    return 0;
}
