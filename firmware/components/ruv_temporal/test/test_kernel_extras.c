/*
 * test_kernel_extras.c — the optional upstream APIs of ruv_kernel_extras.c
 * that test_kernel.c does not cover: upstream's default FastGRNN gate
 * (every weight against the docs/spec.md §3 formula evaluated independently in
 * uint64/double, layout transposed to [in][out]) and keep_mask_top_k
 * (edge cases; random salience, ties and NaNs against a qsort reference).
 * H2O, gated and dense attention and the FastGRNN cell are in test_kernel.c;
 * C vs NumPy parity in tests/parity/test_kernel_parity.py.
 */
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ruv_kernel.h"

#include "test_check.h"

/* docs/spec.md §3 default weight, independently: the hash in uint64 reduced mod
 * 2^32, the rest in double. */
static double spec_weight(uint64_t i, uint64_t which, size_t in, size_t hidden)
{
    const uint64_t j = (i + 1000u * which) & 0xFFFFFFFFu;
    const uint64_t hash = (j * 2654435761u + 0x9E3779B9u) & 0xFFFFFFFFu;
    return ((double)hash / 4294967296.0 - 0.5) * 2.0 * sqrt(2.0 / (double)(in + hidden)) * 0.1;
}

static void test_default_gate(void)
{
    const size_t shapes[][2] = {{16, 32}, {2, 3}, {64, 32}, {1, 1}, {200, 40}};
    size_t si;
    double worst = 0.0;
    for (si = 0; si < sizeof shapes / sizeof shapes[0]; si++) {
        const size_t in = shapes[si][0], hid = shapes[si][1];
        const size_t nf = ruv_fastgrnn_default_floats(in, hid);
        float *w = malloc(nf * sizeof *w);
        ruv_fastgrnn_t cell;
        size_t r, c;
        CHECK(nf == 2 * in * hid + 2 * hid * hid, "floats for (%zu, %zu)", in, hid);
        CHECK(ruv_fastgrnn_default(&cell, in, hid, w, nf - 1) == RUV_ERR_INVALID_SIZE,
              "short buffer");
        CHECK(ruv_fastgrnn_default(&cell, in, hid, w, nf) == RUV_OK, "default gate");
        CHECK(cell.dim == in && cell.hidden == hid && cell.bg == NULL && cell.bu == NULL &&
                  cell.wg == w && cell.ug == w + in * hid && cell.wu == cell.ug + hid * hid &&
                  cell.uu == cell.wu + in * hid,
              "cell layout");
        for (r = 0; r < hid; r++) {
            for (c = 0; c < in; c++) {
                const double eg = spec_weight(r * in + c, 0, in, hid);
                const double eu = spec_weight(r * in + c, 2, in, hid);
                const double dg = fabs((double)cell.wg[c * hid + r] - eg);
                const double du = fabs((double)cell.wu[c * hid + r] - eu);
                worst = fmax(worst, fmax(dg, du));
            }
            for (c = 0; c < hid; c++) {
                const double eg = spec_weight(r * hid + c, 1, in, hid);
                const double eu = spec_weight(r * hid + c, 3, in, hid);
                worst = fmax(worst, fabs((double)cell.ug[c * hid + r] - eg));
                worst = fmax(worst, fabs((double)cell.uu[c * hid + r] - eu));
            }
        }
        free(w);
    }
    /* |w| <= 0.1 * sqrt(2/2) = 0.1: float32 rounding of the chain < 3e-8 */
    CHECK(worst <= 3e-8, "default weights vs the spec formula: max abs diff %.3g", worst);
    printf("%s default_gate_vs_formula maxdiff=%.3g (bound 3e-08)\n", worst <= 3e-8 ? "OK" : "FAIL",
           worst);

    /* hand value: element 0 of Wg, in 16, H 32: hash 0x9E3779B9 */
    {
        float w[2 * 16 * 32 + 2 * 32 * 32];
        ruv_fastgrnn_t cell;
        const float want = (float)((2654435769.0 / 4294967296.0 - 0.5) * 2.0 *
                                   sqrt(2.0 / 48.0) * 0.1);
        CHECK(ruv_fastgrnn_default(&cell, 16, RUV_FASTGRNN_DEFAULT_HIDDEN, w,
                                   sizeof w / sizeof w[0]) == RUV_OK,
              "default 16x32");
        CHECK(fabsf(cell.wg[0] - want) <= 1e-8f, "Wg[0] = %.9g, want %.9g", (double)cell.wg[0],
              (double)want);
    }
    CHECK(ruv_fastgrnn_default_floats(0, 32) == 0 && ruv_fastgrnn_default_floats(16, 0) == 0,
          "zero sizes");
    CHECK(ruv_fastgrnn_default_floats(SIZE_MAX / 2, 4) == 0, "overflow");
    {
        float w[8];
        ruv_fastgrnn_t cell;
        CHECK(ruv_fastgrnn_default(NULL, 1, 1, w, 8) == RUV_ERR_INVALID_ARG, "NULL cell");
        CHECK(ruv_fastgrnn_default(&cell, 1, 1, NULL, 8) == RUV_ERR_INVALID_ARG, "NULL w");
        CHECK(ruv_fastgrnn_default(&cell, 0, 1, w, 8) == RUV_ERR_INVALID_ARG, "zero in");
    }
}

/* qsort reference of the top-K order */
static const float *g_sal;
static int cmp_rank(const void *pa, const void *pb)
{
    const size_t a = *(const size_t *)pa, b = *(const size_t *)pb;
    const float x = g_sal[a], y = g_sal[b];
    const int xn = isnan(x), yn = isnan(y);
    if (xn != yn) {
        return xn ? 1 : -1;
    }
    if (!xn && x != y) {
        return x > y ? -1 : 1;
    }
    return a < b ? -1 : (a > b ? 1 : 0);
}

static void test_top_k(void)
{
    uint8_t keep[64];
    const float s5[5] = {0.5f, 2.0f, 0.5f, 2.0f, -1.0f};
    size_t k, i, trial;
    uint32_t rng = 12345u;
    int bad = 0;

    CHECK(ruv_keep_mask_top_k(NULL, 0, 3, NULL) == RUV_OK, "n = 0");
    CHECK(ruv_keep_mask_top_k(NULL, 5, 3, keep) == RUV_ERR_INVALID_ARG, "NULL salience");
    CHECK(ruv_keep_mask_top_k(s5, 5, 3, NULL) == RUV_ERR_INVALID_ARG, "NULL keep");
    /* K = 0: none; K >= n: all; ties to the lower index */
    {
        const uint8_t want[7][5] = {
            {0, 0, 0, 0, 0}, {0, 1, 0, 0, 0}, {0, 1, 0, 1, 0}, {1, 1, 0, 1, 0},
            {1, 1, 1, 1, 0}, {1, 1, 1, 1, 1}, {1, 1, 1, 1, 1},
        };
        for (k = 0; k <= 6; k++) {
            memset(keep, 7, sizeof keep);
            CHECK(ruv_keep_mask_top_k(s5, 5, k, keep) == RUV_OK && memcmp(keep, want[k], 5) == 0,
                  "K = %zu: got %u%u%u%u%u", k, keep[0], keep[1], keep[2], keep[3], keep[4]);
            CHECK(keep[5] == 7, "writes only n entries");
        }
        CHECK(ruv_keep_mask_top_k(s5, 5, SIZE_MAX, keep) == RUV_OK && keep[4] == 1, "K max");
    }
    /* NaN ranks below every number, -inf included */
    {
        const float sn[4] = {NAN, -INFINITY, NAN, 1.0f};
        const uint8_t want2[4] = {0, 1, 0, 1}, want3[4] = {1, 1, 0, 1};
        CHECK(ruv_keep_mask_top_k(sn, 4, 2, keep) == RUV_OK && memcmp(keep, want2, 4) == 0,
              "NaN K=2");
        CHECK(ruv_keep_mask_top_k(sn, 4, 3, keep) == RUV_OK && memcmp(keep, want3, 4) == 0,
              "NaN K=3");
    }
    /* random, with many ties and a few NaNs, against the qsort order */
    for (trial = 0; trial < 300; trial++) {
        float sal[64];
        size_t order[64], n;
        rng = rng * 1664525u + 1013904223u;
        n = 1u + (rng >> 8) % 64u;
        for (i = 0; i < n; i++) {
            rng = rng * 1664525u + 1013904223u;
            sal[i] = (float)((rng >> 9) % 7u) * 0.25f - 0.5f; /* ties */
            if ((rng >> 20) % 17u == 0u) {
                sal[i] = NAN;
            }
            order[i] = i;
        }
        g_sal = sal;
        qsort(order, n, sizeof order[0], cmp_rank);
        k = (size_t)(rng >> 3) % (n + 2u);
        CHECK(ruv_keep_mask_top_k(sal, n, k, keep) == RUV_OK, "random");
        for (i = 0; i < n; i++) {
            size_t pos;
            for (pos = 0; order[pos] != i; pos++) {
            }
            if ((keep[i] != 0) != (pos < k)) {
                bad++;
            }
        }
    }
    CHECK(bad == 0, "random top-K vs qsort: %d mismatches", bad);
    printf("%s keep_mask_top_k (edge cases, 300 random vs qsort)\n", bad == 0 ? "OK" : "FAIL");
}

int main(void)
{
    test_default_gate();
    test_top_k();
    if (g_failures) {
        fprintf(stderr, "test_kernel_extras: %d FAILURE(S)\n", g_failures);
        return 1;
    }
    return 0;
}
