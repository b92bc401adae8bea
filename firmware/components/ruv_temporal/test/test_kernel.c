/*
 * test_kernel.c — unit test of the attention kernel (ruv_kernel.h).
 *
 * Checks the docs/spec.md §3 edge counts, hand-worked candidate sets and a brute
 * force transcription of the candidate rules, ruv_expf against libm, the
 * binary16 conversion against known bit patterns (and every half through the
 * inline row, normal-only and cache-row forms), sparse vs dense and vs a
 * double-precision reference, decode token by token vs the forward (FP32
 * and FP16 caches, MHA and GQA), H2O eviction, the FastGRNN gate and the
 * size checks. Prints "OK <name> ..." per check; exits nonzero on failure.
 * (Tests may use double, libm and malloc; the kernel does not.)
 */
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ruv_fp16.h" /* internal: the inline conversions (src/ is on the path) */
#include "ruv_kernel.h"
#include "ruv_kernel_priv.h" /* internal: exp_nonpos against exp_f */

#include "test_check.h"

static void report(const char *name, int failures_before, double maxdiff, double bound)
{
    if (g_failures == failures_before && maxdiff <= bound) {
        printf("OK %s maxdiff=%.3g (bound %.3g)\n", name, maxdiff, bound);
    } else {
        if (maxdiff > bound) {
            g_failures++;
        }
        printf("FAIL %s maxdiff=%.3g (bound %.3g)\n", name, maxdiff, bound);
    }
}

/* ---- deterministic data ------------------------------------------------ */

static uint64_t g_rng = 0x9E3779B97F4A7C15ull;

static float frand(void) /* uniform in [-1, 1) */
{
    g_rng ^= g_rng << 13;
    g_rng ^= g_rng >> 7;
    g_rng ^= g_rng << 17;
    return (float)((double)(g_rng >> 40) / 8388608.0 - 1.0);
}

static float *rand_buf(size_t count, float amp)
{
    float *p = malloc(count * sizeof *p + 1);
    size_t a;
    if (p == NULL) {
        fprintf(stderr, "out of memory\n");
        exit(2);
    }
    for (a = 0; a < count; a++) {
        p[a] = frand() * amp;
    }
    return p;
}

static double max_abs_diff(const float *a, const float *b, size_t count)
{
    double m = 0.0;
    size_t i;
    for (i = 0; i < count; i++) {
        double d = fabs((double)a[i] - (double)b[i]);
        if (d != d) {
            return INFINITY;
        }
        if (d > m) {
            m = d;
        }
    }
    return m;
}

static ruv_attn_cfg_t mkcfg(uint32_t w, uint32_t b, bool causal, bool ls, bool lm,
                            int n_globals, const uint16_t *globals)
{
    ruv_attn_cfg_t c;
    int a;
    memset(&c, 0, sizeof c);
    c.window = w;
    c.block_size = b;
    c.causal = causal;
    c.log_stride = ls;
    c.landmarks = lm;
    c.n_globals = (uint8_t)n_globals;
    for (a = 0; a < n_globals; a++) {
        c.globals[a] = globals[a];
    }
    return c;
}

/* ---- edge counts --------------------------------------------------------- */

static void test_edges(void)
{
    int f0 = g_failures;
    ruv_attn_cfg_t d = ruv_attn_default();
    ruv_attn_cfg_t a = ruv_attn_aether();
    uint16_t g0[1] = {0};
    ruv_attn_cfg_t w32 = mkcfg(32, 16, true, true, true, 1, g0);
    uint64_t e;

    CHECK(d.window == 128 && d.block_size == 64 && d.n_globals == 1 && d.globals[0] == 0 &&
              d.causal && d.log_stride && d.landmarks,
          "ruv_attn_default fields");
    CHECK(a.window == 32 && a.block_size == 16 && a.n_globals == 1 && a.globals[0] == 0 &&
              a.causal && a.log_stride && a.landmarks,
          "ruv_attn_aether fields");
    e = ruv_estimate_sparse_edges(&d, 4096);
    CHECK(e == 560834u, "default n=4096: %llu != 560834", (unsigned long long)e);
    e = ruv_estimate_sparse_edges(&d, 8192);
    CHECK(e == 1146498u, "default n=8192: %llu != 1146498", (unsigned long long)e);
    e = ruv_estimate_sparse_edges(&w32, 64);
    CHECK(e == 1714u, "W32 B16 n=64: %llu != 1714", (unsigned long long)e);
    e = ruv_estimate_sparse_edges(&w32, 1000);
    CHECK(e == 42362u, "W32 B16 n=1000: %llu != 42362", (unsigned long long)e);
    e = ruv_estimate_sparse_edges(&a, 1000);
    CHECK(e == 42362u, "aether n=1000: %llu", (unsigned long long)e);
    CHECK(ruv_estimate_sparse_edges(&d, 0) == 0u, "n=0 has no edges");
    report("edge_counts (560834, 1146498, 1714, 42362)", f0, 0.0, 0.0);
}

/* ---- candidate sets ------------------------------------------------------ */

static int same_list(const uint32_t *got, size_t n_got, const uint32_t *want, size_t n_want)
{
    size_t a;
    if (n_got != n_want) {
        return 0;
    }
    for (a = 0; a < n_got; a++) {
        if (got[a] != want[a]) {
            return 0;
        }
    }
    return 1;
}

static void print_list(const char *what, const uint32_t *l, size_t n)
{
    size_t a;
    fprintf(stderr, "  %s [", what);
    for (a = 0; a < n; a++) {
        fprintf(stderr, "%s%u", a ? "," : "", (unsigned)l[a]);
    }
    fprintf(stderr, "]\n");
}

static void expect_cands(const char *name, const ruv_attn_cfg_t *cfg, size_t i, size_t n,
                         const uint32_t *tok, size_t n_tok, const uint32_t *blk, size_t n_blk)
{
    uint32_t t[256], b[256];
    size_t nt = 0, nb = 0;
    ruv_status_t st = ruv_candidates(cfg, i, n, t, &nt, b, &nb);
    CHECK(st == RUV_OK, "%s: status 0x%x", name, st);
    if (!same_list(t, nt, tok, n_tok) || !same_list(b, nb, blk, n_blk)) {
        CHECK(0, "%s: candidate set differs", name);
        print_list("tokens got ", t, nt);
        print_list("tokens want", tok, n_tok);
        print_list("blocks got ", b, nb);
        print_list("blocks want", blk, n_blk);
    }
}

/* Brute-force transcription of docs/spec.md §3 (generic dedup by linear search). */
static int ref_push(uint32_t *list, size_t *count, uint32_t x)
{
    size_t a;
    for (a = 0; a < *count; a++) {
        if (list[a] == x) {
            return 0;
        }
    }
    list[(*count)++] = x;
    return 1;
}

static void ref_cands(const ruv_attn_cfg_t *c, long i, long n, uint32_t *tok, size_t *nt,
                      uint32_t *blk, size_t *nb)
{
    long j, s, lo, hi, b;
    int a;
    *nt = 0;
    *nb = 0;
    lo = i - (long)c->window < 0 ? 0 : i - (long)c->window;
    hi = c->causal ? i : (i + (long)c->window < n - 1 ? i + (long)c->window : n - 1);
    for (j = lo; j <= hi; j++) {
        ref_push(tok, nt, (uint32_t)j);
    }
    for (a = 0; a < c->n_globals; a++) {
        long g = c->globals[a];
        if (g < n && (!c->causal || g <= i)) {
            ref_push(tok, nt, (uint32_t)g);
        }
    }
    if (c->log_stride) {
        for (s = 1; s < n; s *= 2) {
            if (i >= s) {
                ref_push(tok, nt, (uint32_t)(i - s));
            }
            if (!c->causal && i + s < n) {
                ref_push(tok, nt, (uint32_t)(i + s));
            }
        }
    }
    if (c->landmarks) {
        long B = c->block_size, nblk = (n + B - 1) / B, cur = i / B, avail, pivot;
        if (c->causal) {
            avail = (i + 1) / B;
            if (avail == 0) {
                return;
            }
            pivot = avail - 1;
        } else {
            avail = nblk;
            pivot = cur < nblk - 1 ? cur : nblk - 1;
        }
        lo = pivot - 1 < 0 ? 0 : pivot - 1;
        hi = pivot + 1 < avail - 1 ? pivot + 1 : avail - 1;
        for (b = lo; b <= hi; b++) {
            if (!c->causal && b == cur) {
                continue;
            }
            ref_push(blk, nb, (uint32_t)b);
        }
        for (s = 1; c->log_stride && s < nblk; s *= 2) {
            if (pivot >= s && (c->causal || pivot - s != cur)) {
                ref_push(blk, nb, (uint32_t)(pivot - s));
            }
            if (!c->causal && pivot + s < nblk && pivot + s != cur) {
                ref_push(blk, nb, (uint32_t)(pivot + s));
            }
        }
    }
}

static void test_candidates(void)
{
    int f0 = g_failures;
    const uint16_t g03[2] = {0, 3};
    const uint16_t g0[1] = {0};
    ruv_attn_cfg_t c;

    /* causal W=2 B=3 globals [0,3], n=10 */
    c = mkcfg(2, 3, true, true, true, 2, g03);
    {
        const uint32_t t[] = {5, 6, 7, 0, 3}, b[] = {0, 1};
        expect_cands("causal i=7", &c, 7, 10, t, 5, b, 2);
    }
    {
        /* i=8 ends block 2 (rows 6..8): it is a landmark too (quirk) */
        const uint32_t t[] = {6, 7, 8, 0, 3, 4}, b[] = {1, 2, 0};
        expect_cands("causal i=8 (block ending at i)", &c, 8, 10, t, 6, b, 3);
    }
    {
        const uint32_t t[] = {0, 1}, b[] = {0};
        expect_cands("causal i=1 n=10", &c, 1, 10, t, 0 + 2, b, 0);
    }
    /* noncausal W=1 B=3 globals [0,3], n=10, i=4 */
    c = mkcfg(1, 3, false, true, true, 2, g03);
    {
        const uint32_t t[] = {3, 4, 5, 0, 2, 6, 8}, b[] = {0, 2, 3};
        expect_cands("noncausal i=4", &c, 4, 10, t, 7, b, 3);
    }
    /* W=0 causal B=4 globals [0], n=16 */
    c = mkcfg(0, 4, true, true, true, 1, g0);
    {
        const uint32_t t[] = {5, 0, 4, 3, 1}, b[] = {0};
        expect_cands("W=0 causal i=5", &c, 5, 16, t, 5, b, 1);
    }
    {
        const uint32_t t[] = {0}, b[] = {0};
        expect_cands("W=0 causal i=0", &c, 0, 16, t, 1, b, 0);
    }
    {
        const uint32_t t[] = {15, 0, 14, 13, 11, 7}, b[] = {2, 3, 1};
        expect_cands("W=0 causal i=15", &c, 15, 16, t, 6, b, 3);
    }
    /* noncausal W=0, odd B=5, globals [0,3], n=12, i=11 (partial last block) */
    c = mkcfg(0, 5, false, true, true, 2, g03);
    {
        const uint32_t t[] = {11, 0, 3, 10, 9, 7}, b[] = {1, 0};
        expect_cands("W=0 noncausal B=5 i=11", &c, 11, 12, t, 6, b, 2);
    }
    /* causal: global 3 > i is not visible */
    c = mkcfg(1, 2, true, true, true, 2, g03);
    {
        const uint32_t t[] = {1, 2, 0}, b[] = {0};
        expect_cands("causal future global", &c, 2, 8, t, 3, b, 1);
    }
    /* noncausal: global 3 >= n dropped */
    c = mkcfg(1, 2, false, true, true, 2, g03);
    {
        const uint32_t t[] = {0, 1, 2}, b[] = {1};
        expect_cands("noncausal global >= n", &c, 0, 3, t, 3, b, 1);
    }
    /* log_stride off also drops the log-stride *blocks* (upstream) */
    c = mkcfg(0, 4, true, false, true, 1, g0);
    {
        const uint32_t t[] = {15, 0}, b[] = {2, 3};
        expect_cands("W=0 causal i=15, no log-stride", &c, 15, 16, t, 2, b, 2);
    }
    c = mkcfg(1, 3, false, false, true, 2, g03);
    {
        const uint32_t t[] = {3, 4, 5, 0}, b[] = {0, 2};
        expect_cands("noncausal i=4, no log-stride", &c, 4, 10, t, 4, b, 2);
    }
    /* log_stride and landmarks off: the window and globals only */
    c = mkcfg(2, 4, true, false, false, 2, g03);
    {
        const uint32_t t[] = {7, 8, 9, 0, 3}, b[] = {0};
        expect_cands("no log-stride, no landmarks", &c, 9, 10, t, 5, b, 0);
    }
    /* errors */
    {
        uint32_t t[64], b[64];
        size_t nt, nb;
        c = mkcfg(2, 4, true, true, true, 1, g0);
        CHECK(ruv_candidates(&c, 10, 10, t, &nt, b, &nb) == RUV_ERR_INVALID_ARG, "i >= n");
        c.block_size = 0;
        CHECK(ruv_candidates(&c, 0, 10, t, &nt, b, &nb) == RUV_ERR_INVALID_ARG, "B = 0");
        CHECK(ruv_attn_check(&c) == RUV_ERR_INVALID_ARG, "check B = 0");
        c.block_size = 4;
        c.n_globals = RUV_MAX_GLOBALS + 1;
        CHECK(ruv_attn_check(&c) == RUV_ERR_INVALID_ARG, "check n_globals");
        CHECK(ruv_attn_check(NULL) == RUV_ERR_INVALID_ARG, "check NULL");
    }
    report("candidates_hand_worked", f0, 0.0, 0.0);

    /* Brute force over many configs, every i; caps hold. */
    f0 = g_failures;
    {
        static const uint32_t windows[] = {0, 1, 2, 3, 5, 16, 40};
        static const uint32_t blocks[] = {1, 2, 3, 4, 5, 7, 16};
        static const long ns[] = {1, 2, 3, 7, 16, 17, 33, 64, 100};
        const uint16_t gl[4] = {0, 3, 3, 9};
        size_t wi, bi, ni, i;
        int flags, ng;
        uint32_t *t = malloc(4096 * sizeof *t), *b = malloc(4096 * sizeof *b);
        uint32_t *rt = malloc(4096 * sizeof *rt), *rb = malloc(4096 * sizeof *rb);
        long checked = 0;
        for (wi = 0; wi < sizeof windows / sizeof windows[0]; wi++) {
            for (bi = 0; bi < sizeof blocks / sizeof blocks[0]; bi++) {
                for (flags = 0; flags < 8; flags++) {
                    for (ng = 0; ng <= 4; ng += 2) {
                        for (ni = 0; ni < sizeof ns / sizeof ns[0]; ni++) {
                            const long n = ns[ni];
                            size_t tcap, bcap;
                            uint64_t edges = 0;
                            c = mkcfg(windows[wi], blocks[bi], flags & 1, (flags & 2) != 0,
                                      (flags & 4) != 0, ng, gl);
                            tcap = ruv_candidate_tokens_cap(&c, (size_t)n);
                            bcap = ruv_candidate_blocks_cap(&c, (size_t)n);
                            for (i = 0; i < (size_t)n; i++) {
                                size_t nt = 0, nb = 0, rnt, rnb;
                                ruv_status_t st =
                                    ruv_candidates(&c, i, (size_t)n, t, &nt, b, &nb);
                                ref_cands(&c, (long)i, n, rt, &rnt, rb, &rnb);
                                edges += rnt + rnb;
                                checked++;
                                if (st != RUV_OK || !same_list(t, nt, rt, rnt) ||
                                    !same_list(b, nb, rb, rnb) || nt > tcap || nb > bcap) {
                                    CHECK(0,
                                          "brute force W=%u B=%u flags=%d ng=%d n=%ld i=%zu "
                                          "(caps %zu/%zu)",
                                          (unsigned)c.window, (unsigned)c.block_size, flags,
                                          ng, n, i, tcap, bcap);
                                    print_list("tokens got ", t, nt);
                                    print_list("tokens want", rt, rnt);
                                    print_list("blocks got ", b, nb);
                                    print_list("blocks want", rb, rnb);
                                    if (g_failures > f0 + 5) {
                                        goto done;
                                    }
                                }
                            }
                            CHECK(ruv_estimate_sparse_edges(&c, (size_t)n) == edges,
                                  "edges W=%u B=%u n=%ld", (unsigned)c.window,
                                  (unsigned)c.block_size, n);
                        }
                    }
                }
            }
        }
    done:
        free(t);
        free(b);
        free(rt);
        free(rb);
        printf("   (%ld candidate sets vs brute force)\n", checked);
    }
    report("candidates_brute_force", f0, 0.0, 0.0);
}

/* ---- numerics ------------------------------------------------------------ */

static uint32_t fbits(float x)
{
    uint32_t u;
    memcpy(&u, &x, 4);
    return u;
}

static float bitsf(uint32_t u)
{
    float x;
    memcpy(&x, &u, 4);
    return x;
}

static void test_expf(void)
{
    int f0 = g_failures;
    double max_rel = 0.0, worst_x = 0.0;
    long count = 0;
    const long steps = 4000000;
    long s;

    /* dense uniform sweep over [-87.3, 88.7] plus a sweep of |x| < 1 */
    for (s = 0; s <= steps; s++) {
        float xs[2];
        int w;
        xs[0] = (float)(-87.3 + (88.7 + 87.3) * (double)s / (double)steps);
        xs[1] = (float)(-1.0 + 2.0 * (double)s / (double)steps);
        for (w = 0; w < 2; w++) {
            const float x = xs[w];
            const double ref = exp((double)x);
            const double rel = fabs((double)ruv_expf(x) - ref) / ref;
            if (rel > max_rel) {
                max_rel = rel;
                worst_x = x;
            }
            count++;
        }
    }
    /* every float in [1, 2) x 2^e for a few e, both signs (all mantissas) */
    {
        uint32_t m;
        static const int exps[] = {-20, -3, -1, 0, 1, 3, 5};
        size_t e;
        for (e = 0; e < sizeof exps / sizeof exps[0]; e++) {
            for (m = 0; m < (1u << 23); m += 7) {
                const uint32_t bits = ((uint32_t)(exps[e] + 127) << 23) | m;
                int sg;
                for (sg = 0; sg < 2; sg++) {
                    const float x = bitsf(bits | (sg ? 0x80000000u : 0u));
                    const double ref = exp((double)x);
                    const double rel = fabs((double)ruv_expf(x) - ref) / ref;
                    if (rel > max_rel) {
                        max_rel = rel;
                        worst_x = x;
                    }
                    count++;
                }
            }
        }
    }
    printf("   ruv_expf: max rel err %.3g at x=%.9g over %ld points\n", max_rel, worst_x,
           count);

    /* specials */
    CHECK(ruv_expf(0.0f) == 1.0f, "exp(0) == 1 exactly");
    CHECK(ruv_expf(-0.0f) == 1.0f, "exp(-0) == 1");
    CHECK(ruv_expf(NAN) != ruv_expf(NAN), "NaN -> NaN");
    CHECK(isinf(ruv_expf(INFINITY)) && ruv_expf(INFINITY) > 0, "exp(+inf) = inf");
    CHECK(ruv_expf(-INFINITY) == 0.0f, "exp(-inf) = 0");
    CHECK(isinf(ruv_expf(88.8f)), "exp(88.8) = inf");
    CHECK(isinf(ruv_expf(bitsf(0x42B17218u))), "exp(0x42B17218) overflows");
    CHECK(isfinite(ruv_expf(bitsf(0x42B17217u))) &&
              fabs((double)ruv_expf(bitsf(0x42B17217u)) / exp((double)bitsf(0x42B17217u)) -
                   1.0) < 3e-7,
          "exp(0x42B17217) finite and accurate: %g", (double)ruv_expf(bitsf(0x42B17217u)));
    CHECK(ruv_expf(-104.0f) == 0.0f, "exp(-104) = 0");
    CHECK(ruv_expf(-200.0f) == 0.0f, "exp(-200) = 0");
    /* subnormal results: within one subnormal ulp-ish relative to the ulp */
    {
        float x;
        double max_sub = 0.0;
        for (x = -103.9f; x < -87.4f; x += 0.01f) {
            const double ref = exp((double)x);
            const double err = fabs((double)ruv_expf(x) - ref);
            const double ulp = ref < 1.1754943508222875e-38 ? 1.401298464324817e-45
                                                            : ref * 1.1920928955078125e-7;
            if (err / ulp > max_sub) {
                max_sub = err / ulp;
            }
        }
        CHECK(max_sub <= 1.0, "subnormal range error %.3g ulp", max_sub);
        printf("   ruv_expf: subnormal/low range max err %.3g ulp\n", max_sub);
    }
    /* smooth monotone at the k boundaries */
    CHECK(ruv_expf(0.34657359f) <= ruv_expf(0.3465736f), "monotone at ln2/2");
    report("expf_vs_libm", f0, max_rel, 2.0e-7);
}

static void test_fp16(void)
{
    int f0 = g_failures;
    struct {
        float x;
        uint16_t h;
    } cases[] = {
        {0.0f, 0x0000},
        {-0.0f, 0x8000},
        {1.0f, 0x3C00},
        {-2.0f, 0xC000},
        {0.5f, 0x3800},
        {65504.0f, 0x7BFF},
        {65519.0f, 0x7BFF},               /* below the midpoint: stays max */
        {65520.0f, 0x7C00},               /* midpoint, tie to even -> inf */
        {1.0e6f, 0x7C00},                 /* overflow */
        {-1.0e6f, 0xFC00},
        {5.9604644775390625e-8f, 0x0001}, /* 2^-24 smallest subnormal */
        {2.98023223876953125e-8f, 0x0000}, /* 2^-25 tie -> even (0) */
        {2.9802326e-8f, 0x0001},          /* just above 2^-25 -> rounds up */
        {8.940696716308594e-8f, 0x0002},  /* 1.5 * 2^-24 tie -> even (2) */
        {6.103515625e-5f, 0x0400},        /* 2^-14 smallest normal */
        {6.0975551605224609375e-5f, 0x03FF}, /* largest subnormal */
        {1.00048828125f, 0x3C00},         /* 1 + 2^-11: tie -> even 0x3C00 */
        {1.00146484375f, 0x3C02},         /* 1 + 3*2^-11: tie -> even 0x3C02 */
        {1.0009765625f, 0x3C01},          /* 1 + 2^-10 exact */
        {1.000732421875f, 0x3C01},        /* 1 + 1.5*2^-11 -> nearest up */
        {0.333333343f, 0x3555},
        {3.14159274f, 0x4248},
    };
    size_t a;
    for (a = 0; a < sizeof cases / sizeof cases[0]; a++) {
        uint16_t h = ruv_f32_to_f16(cases[a].x);
        CHECK(h == cases[a].h, "f32_to_f16(%.10g) = 0x%04X, want 0x%04X", (double)cases[a].x,
              h, cases[a].h);
    }
    CHECK(ruv_f32_to_f16(INFINITY) == 0x7C00, "+inf");
    CHECK(ruv_f32_to_f16(-INFINITY) == 0xFC00, "-inf");
    {
        uint16_t h = ruv_f32_to_f16(NAN);
        CHECK((h & 0x7C00) == 0x7C00 && (h & 0x03FF) != 0, "NaN -> NaN (0x%04X)", h);
        h = ruv_f32_to_f16(bitsf(0x7F800001u)); /* signalling NaN, low payload */
        CHECK((h & 0x7C00) == 0x7C00 && (h & 0x03FF) != 0, "sNaN stays NaN (0x%04X)", h);
    }
    /* f16 -> f32 */
    CHECK(ruv_f16_to_f32(0x3C00) == 1.0f, "0x3C00");
    CHECK(ruv_f16_to_f32(0x7BFF) == 65504.0f, "0x7BFF");
    CHECK(ruv_f16_to_f32(0x0001) == 5.9604644775390625e-8f, "0x0001");
    CHECK(ruv_f16_to_f32(0x03FF) == 6.0975551605224609375e-5f, "0x03FF");
    CHECK(ruv_f16_to_f32(0x8000) == 0.0f && signbit(ruv_f16_to_f32(0x8000)), "-0");
    CHECK(isinf(ruv_f16_to_f32(0x7C00)) && ruv_f16_to_f32(0xFC00) < 0, "inf");
    CHECK(isnan(ruv_f16_to_f32(0x7E00)) && isnan(ruv_f16_to_f32(0x7C01)), "NaN");
    /* round trip of every binary16 value (NaNs stay NaN) */
    {
        uint32_t h;
        for (h = 0; h < 0x10000u; h++) {
            const float f = ruv_f16_to_f32((uint16_t)h);
            if ((h & 0x7C00u) == 0x7C00u && (h & 0x3FFu) != 0u) {
                CHECK(isnan(f), "0x%04X -> NaN", (unsigned)h);
                CHECK((ruv_f32_to_f16(f) & 0x7FFFu) >= 0x7C01u, "NaN round trip 0x%04X",
                      (unsigned)h);
            } else {
                CHECK(ruv_f32_to_f16(f) == h, "round trip 0x%04X", (unsigned)h);
                if (g_failures > f0 + 10) {
                    break;
                }
            }
        }
    }
    /* RNE against a double-precision reference on random floats */
    {
        long s;
        for (s = 0; s < 200000; s++) {
            const float x = frand() * 70000.0f * (float)((s % 7) == 0 ? 1e-5 : 1.0);
            const uint16_t h = ruv_f32_to_f16(x);
            const double fx = (double)x;
            const double got = (double)ruv_f16_to_f32(h);
            /* neighbours of h must not be closer */
            const double up = (double)ruv_f16_to_f32((uint16_t)(h + 1));
            const double dn = (h & 0x7FFF) ? (double)ruv_f16_to_f32((uint16_t)(h - 1)) : got;
            if (isinf(got)) {
                CHECK(fabs(fx) >= 65520.0, "inf only from >= 65520 (%g)", fx);
                continue;
            }
            CHECK(fabs(got - fx) <= fabs(up - fx) && fabs(got - fx) <= fabs(dn - fx),
                  "nearest for %.9g (0x%04X)", fx, h);
            if (fabs(got - fx) == fabs(up - fx) || fabs(got - fx) == fabs(dn - fx)) {
                CHECK((h & 1) == 0 || got == fx, "tie to even for %.9g", fx);
            }
            if (g_failures > f0 + 10) {
                break;
            }
        }
    }
    (void)fbits;
    report("fp16_bits", f0, 0.0, 0.0);
}

/* The float32 bits of binary16 h from its fields, in double (independent of
 * ruv_fp16.h): (-1)^s 2^(e-15) (1 + m/1024), subnormal m 2^-24, inf, and
 * NaN as sign | 0x7F800000 | m << 13 (payload kept). */
/* Bits of a float after it is returned by a (non-inlined) function. The
 * i386 ABI returns floats in an x87 register and loading a signalling NaN
 * there sets its quiet bit, so the 32-bit host build (-m32) sees quiet NaNs
 * from ruv_f16_to_f32; the ESP32-S3 returns floats in a general register
 * and keeps every bit, as do the 64-bit builds. */
static uint32_t returned_bits(uint32_t bits)
{
#if defined(__i386__)
    if ((bits & 0x7F800000u) == 0x7F800000u && (bits & 0x007FFFFFu) != 0u) {
        return bits | 0x00400000u;
    }
#endif
    return bits;
}

static uint32_t f16_ref_bits(uint32_t h)
{
    const uint32_t s = h >> 15, e = (h >> 10) & 31u, m = h & 0x3FFu;
    double v;
    if (e == 31u) {
        return (s << 31) | 0x7F800000u | (m << 13);
    }
    v = e == 0u ? ldexp((double)m, -24) : ldexp(1.0 + (double)m / 1024.0, (int)e - 15);
    return fbits((float)(s != 0u ? -v : v));
}

/* Every half through ruv_f16_to_f32, ruv_h2f, ruv_h2f_normal (normal halfs),
 * ruv_h2f_all_normal, ruv_h2f_row (rows with the special half anywhere, so
 * both passes run) and ruv_kv_cache_row of an FP16 cache. */
static void test_fp16_forms(void)
{
    int f0 = g_failures;
    uint32_t h;
    size_t t, d;
    enum { DIM = 64, ROWS = 65536 / DIM };
    uint16_t row[DIM + 3];
    float out[DIM + 3];
    ruv_kv_cache_t cache;
    const size_t bytes = ruv_kv_cache_bytes(ROWS, 1, DIM, 16, true);
    void *mem = malloc(bytes);
    float *zero = calloc(DIM, sizeof(float));

    for (h = 0; h < 0x10000u && g_failures < f0 + 10; h++) {
        const uint32_t want = f16_ref_bits(h);
        const uint32_t e = (h >> 10) & 31u;
        const int normal = e != 0u && e != 31u;
        const uint16_t hv = (uint16_t)h;
        size_t n, pos;
        CHECK(fbits(ruv_f16_to_f32(hv)) == returned_bits(want),
              "ruv_f16_to_f32(0x%04X) = 0x%08X, want 0x%08X", (unsigned)h,
              fbits(ruv_f16_to_f32(hv)), returned_bits(want));
        CHECK(fbits(ruv_h2f(hv)) == want, "ruv_h2f(0x%04X)", (unsigned)h);
        CHECK(!normal || fbits(ruv_h2f_normal(hv)) == want, "ruv_h2f_normal(0x%04X)", (unsigned)h);
        CHECK(ruv_h2f_all_normal(&hv, 1) == normal, "all_normal(0x%04X)", (unsigned)h);
        for (n = 1; n <= DIM + 3; n += 33) {
            for (pos = 0; pos < n; pos += 16) {
                for (d = 0; d < n; d++) {
                    /* normal halfs (exponent 1..30), both signs */
                    row[d] = (uint16_t)(((d & 1u) << 15) | (0x0400u + (d * 0x01C3u) % 0x7800u));
                }
                row[pos] = hv;
                CHECK(ruv_h2f_all_normal(row, n) == normal, "all_normal row 0x%04X", (unsigned)h);
                ruv_h2f_row(row, out, n);
                for (d = 0; d < n; d++) {
                    CHECK(fbits(out[d]) == f16_ref_bits(row[d]), "row 0x%04X n %zu pos %zu [%zu]",
                          (unsigned)h, n, pos, d);
                }
            }
        }
    }
    /* the cache's read-back: every half once, as K and as V */
    CHECK(mem != NULL && zero != NULL &&
              ruv_kv_cache_init(&cache, mem, bytes, ROWS, 1, DIM, 16, true) == RUV_OK,
          "fp16 cache init");
    for (t = 0; t < ROWS && g_failures == f0; t++) {
        CHECK(ruv_kv_cache_append(&cache, zero, zero) == RUV_OK, "append %zu", t);
    }
    for (h = 0; h < 0x10000u && g_failures == f0; h++) {
        cache.k16[h] = (uint16_t)h;
        cache.v16[h] = (uint16_t)(h ^ 0x8000u);
    }
    for (t = 0; t < ROWS && g_failures < f0 + 10; t++) {
        ruv_kv_cache_row(&cache, t, false, out);
        for (d = 0; d < DIM; d++) {
            CHECK(fbits(out[d]) == f16_ref_bits((uint32_t)(t * DIM + d)), "K row %zu [%zu]", t, d);
        }
        ruv_kv_cache_row(&cache, t, true, out);
        for (d = 0; d < DIM; d++) {
            CHECK(fbits(out[d]) == f16_ref_bits((uint32_t)(t * DIM + d) ^ 0x8000u), "V row %zu [%zu]",
                  t, d);
        }
    }
    free(mem);
    free(zero);
    report("fp16_inline_forms_all_halfs", f0, 0.0, 0.0);
}

/* ---- attention references ------------------------------------------------ */

/* Double-precision attention of one (i, h) over explicit candidate lists
 * with landmark means from `means` (float, [nb][kv][dim], or NULL). */
static void ref_attend(const float *q, const float *k, const float *v, const float *kmean,
                       const float *vmean, size_t qh, size_t kvh, size_t dim, size_t i,
                       size_t h, const uint32_t *tok, size_t nt, const uint32_t *blk,
                       size_t nb, float *out)
{
    const size_t group = qh / kvh, kv = h / group;
    double m = -INFINITY, den = 0.0, acc[256];
    double sc[1024];
    size_t a, d, total = nt + nb;
    const double scale = 1.0 / sqrt((double)dim);
    for (a = 0; a < total; a++) {
        const float *kr = a < nt ? k + ((size_t)tok[a] * kvh + kv) * dim
                                 : kmean + ((size_t)blk[a - nt] * kvh + kv) * dim;
        double s = 0.0;
        for (d = 0; d < dim; d++) {
            s += (double)q[(i * qh + h) * dim + d] * (double)kr[d];
        }
        sc[a] = s * scale;
        if (sc[a] > m) {
            m = sc[a];
        }
    }
    for (d = 0; d < dim; d++) {
        acc[d] = 0.0;
    }
    for (a = 0; a < total; a++) {
        const float *vr = a < nt ? v + ((size_t)tok[a] * kvh + kv) * dim
                                 : vmean + ((size_t)blk[a - nt] * kvh + kv) * dim;
        const double w = exp(sc[a] - m);
        den += w;
        for (d = 0; d < dim; d++) {
            acc[d] += w * (double)vr[d];
        }
    }
    for (d = 0; d < dim; d++) {
        out[(i * qh + h) * dim + d] = den > 0 ? (float)(acc[d] / den) : 0.0f;
    }
}

static void ref_means(const float *x, size_t n, size_t kvd, size_t B, float *mean)
{
    size_t nb = (n + B - 1) / B, b, t, e;
    for (b = 0; b < nb; b++) {
        size_t t1 = (b + 1) * B < n ? (b + 1) * B : n;
        for (e = 0; e < kvd; e++) {
            double s = 0.0;
            for (t = b * B; t < t1; t++) {
                s += (double)x[t * kvd + e];
            }
            mean[b * kvd + e] = (float)(s / (double)(t1 - b * B));
        }
    }
}

/* Sparse forward in double from ruv_candidates (keep: gate mask or NULL). */
static void ref_sparse(const ruv_attn_cfg_t *c, const float *q, const float *k, const float *v,
                       size_t n, size_t qh, size_t kvh, size_t dim, const uint8_t *keep,
                       float *out)
{
    const size_t nbk = (n + c->block_size - 1) / c->block_size;
    float *km = malloc((nbk * kvh * dim + 1) * sizeof *km);
    float *vm = malloc((nbk * kvh * dim + 1) * sizeof *vm);
    uint32_t *tok = malloc(4096 * sizeof *tok), *blk = malloc(4096 * sizeof *blk);
    uint32_t *ft = malloc(4096 * sizeof *ft);
    size_t i, h;
    ref_means(k, n, kvh * dim, c->block_size, km);
    ref_means(v, n, kvh * dim, c->block_size, vm);
    for (i = 0; i < n; i++) {
        size_t nt, nb, a, nf = 0;
        ruv_candidates(c, i, n, tok, &nt, blk, &nb);
        /* gate: drop log-stride tokens (not window, not global) with keep=0 */
        for (a = 0; a < nt; a++) {
            const uint32_t j = tok[a];
            long lo = (long)i - (long)c->window;
            long hi = c->causal ? (long)i : (long)i + (long)c->window;
            int is_global = 0, g;
            for (g = 0; g < c->n_globals; g++) {
                is_global |= (c->globals[g] == j);
            }
            if (keep != NULL && !((long)j >= lo && (long)j <= hi) && !is_global &&
                keep[j] == 0) {
                continue;
            }
            ft[nf++] = j;
        }
        for (h = 0; h < qh; h++) {
            ref_attend(q, k, v, km, vm, qh, kvh, dim, i, h, ft, nf, blk, nb, out);
        }
    }
    free(km);
    free(vm);
    free(tok);
    free(blk);
    free(ft);
}

static void ref_dense(const float *q, const float *k, const float *v, size_t n, size_t qh,
                      size_t kvh, size_t dim, int causal, float *out)
{
    uint32_t *tok = malloc((n + 1) * sizeof *tok);
    size_t i, h, j;
    for (i = 0; i < n; i++) {
        size_t nt = causal ? i + 1 : n;
        for (j = 0; j < nt; j++) {
            tok[j] = (uint32_t)j;
        }
        for (h = 0; h < qh; h++) {
            ref_attend(q, k, v, NULL, NULL, qh, kvh, dim, i, h, tok, nt, NULL, 0, out);
        }
    }
    free(tok);
}

static void run_sparse(const ruv_attn_cfg_t *c, const float *q, const float *k, const float *v,
                       size_t n, size_t qh, size_t kvh, size_t dim, float *out)
{
    size_t nf = ruv_sparse_scratch_floats(c, n, kvh, dim);
    float *scratch = malloc((nf + 1) * sizeof *scratch);
    ruv_status_t st = ruv_sparse_attention(c, q, k, v, n, qh, kvh, dim, out, scratch, nf);
    CHECK(st == RUV_OK, "ruv_sparse_attention status 0x%x", st);
    free(scratch);
}

static void test_sparse_vs_reference(void)
{
    static const struct {
        size_t n, qh, kvh, dim;
        uint32_t w, b;
        int causal;
    } cases[] = {
        {64, 4, 4, 16, 8, 8, 1},  {64, 4, 1, 32, 8, 16, 1}, {97, 8, 2, 8, 5, 7, 1},
        {64, 4, 2, 16, 8, 8, 0},  {57, 2, 1, 5, 3, 5, 0},   {33, 1, 1, 3, 0, 1, 1},
        {100, 4, 4, 32, 32, 16, 1}, {40, 6, 3, 12, 0, 3, 0},
    };
    const uint16_t gl[2] = {0, 3};
    size_t ci;
    double worst = 0.0;
    int f0 = g_failures;
    for (ci = 0; ci < sizeof cases / sizeof cases[0]; ci++) {
        const size_t n = cases[ci].n, qh = cases[ci].qh, kvh = cases[ci].kvh,
                     dim = cases[ci].dim;
        ruv_attn_cfg_t c = mkcfg(cases[ci].w, cases[ci].b, cases[ci].causal, true, true, 2, gl);
        float *q = rand_buf(n * qh * dim, 2.0f), *k = rand_buf(n * kvh * dim, 2.0f);
        float *v = rand_buf(n * kvh * dim, 1.0f);
        float *o = rand_buf(n * qh * dim, 1.0f), *r = rand_buf(n * qh * dim, 1.0f);
        double d;
        run_sparse(&c, q, k, v, n, qh, kvh, dim, o);
        ref_sparse(&c, q, k, v, n, qh, kvh, dim, NULL, r);
        d = max_abs_diff(o, r, n * qh * dim);
        CHECK(d <= 1e-6, "sparse vs double reference case %zu: %g", ci, d);
        if (d > worst) {
            worst = d;
        }
        free(q);
        free(k);
        free(v);
        free(o);
        free(r);
    }
    report("sparse_vs_double_reference (MHA/GQA, causal/noncausal, odd B, W=0)", f0, worst,
           1e-6);
}

static void test_dense(void)
{
    int f0 = g_failures;
    double worst_ref = 0.0, worst_sat = 0.0;
    static const size_t shapes[][4] = {{50, 4, 4, 16}, {70, 4, 1, 32}, {33, 6, 2, 7}};
    size_t si;
    int causal;
    for (si = 0; si < 3; si++) {
        for (causal = 0; causal < 2; causal++) {
            const size_t n = shapes[si][0], qh = shapes[si][1], kvh = shapes[si][2],
                         dim = shapes[si][3];
            float *q = rand_buf(n * qh * dim, 2.0f), *k = rand_buf(n * kvh * dim, 2.0f);
            float *v = rand_buf(n * kvh * dim, 1.0f);
            float *o = rand_buf(n * qh * dim, 1.0f), *r = rand_buf(n * qh * dim, 1.0f);
            float *s = rand_buf(n * qh * dim, 1.0f);
            ruv_attn_cfg_t c = mkcfg((uint32_t)n, 8, causal, false, false, 0, NULL);
            double d;
            CHECK(ruv_dense_attention(q, k, v, n, qh, kvh, dim, causal, o) == RUV_OK, "dense");
            ref_dense(q, k, v, n, qh, kvh, dim, causal, r);
            d = max_abs_diff(o, r, n * qh * dim);
            if (d > worst_ref) {
                worst_ref = d;
            }
            /* saturated sparse: W >= n, no landmarks, no log-stride == dense */
            run_sparse(&c, q, k, v, n, qh, kvh, dim, s);
            d = max_abs_diff(o, s, n * qh * dim);
            if (d > worst_sat) {
                worst_sat = d;
            }
            /* same with log-stride on: its tokens are all in the window */
            c.log_stride = true;
            c.n_globals = 1;
            c.globals[0] = 0;
            run_sparse(&c, q, k, v, n, qh, kvh, dim, s);
            d = max_abs_diff(o, s, n * qh * dim);
            if (d > worst_sat) {
                worst_sat = d;
            }
            free(q);
            free(k);
            free(v);
            free(o);
            free(r);
            free(s);
        }
    }
    report("dense_vs_double_reference", f0, worst_ref, 1e-6);
    f0 = g_failures;
    report("sparse_saturated_vs_dense (W>=n, no landmarks)", f0, worst_sat, 1e-6);

    /* with landmarks the saturated run differs (block ending at i counted) */
    {
        const size_t n = 32, qh = 2, kvh = 2, dim = 8;
        float *q = rand_buf(n * qh * dim, 2.0f), *k = rand_buf(n * kvh * dim, 2.0f);
        float *v = rand_buf(n * kvh * dim, 1.0f);
        float *o = rand_buf(n * qh * dim, 1.0f), *s = rand_buf(n * qh * dim, 1.0f);
        ruv_attn_cfg_t c = mkcfg(32, 32, true, true, true, 1, (const uint16_t[]){0});
        double d;
        f0 = g_failures;
        ruv_dense_attention(q, k, v, n, qh, kvh, dim, true, o);
        run_sparse(&c, q, k, v, n, qh, kvh, dim, s);
        d = max_abs_diff(o, s, (n - 1) * qh * dim); /* rows 0..30: identical */
        CHECK(d <= 1e-6, "rows before the first complete block: %g", d);
        d = max_abs_diff(o + (n - 1) * qh * dim, s + (n - 1) * qh * dim, qh * dim);
        CHECK(d > 0.0, "row 31 sees the landmark of block 0 (diff %g)", d);
        report("saturated_with_landmark_quirk", f0, 0.0, 0.0);
        free(q);
        free(k);
        free(v);
        free(o);
        free(s);
    }
}

static void test_gated(void)
{
    int f0 = g_failures;
    const size_t n = 150, qh = 4, kvh = 2, dim = 8;
    const uint16_t gl[2] = {0, 3};
    ruv_attn_cfg_t c = mkcfg(6, 8, true, true, true, 2, gl);
    float *q = rand_buf(n * qh * dim, 2.0f), *k = rand_buf(n * kvh * dim, 2.0f);
    float *v = rand_buf(n * kvh * dim, 1.0f);
    float *o = rand_buf(n * qh * dim, 1.0f), *g = rand_buf(n * qh * dim, 1.0f);
    float *r = rand_buf(n * qh * dim, 1.0f);
    uint8_t *keep = malloc(n);
    size_t nf = ruv_sparse_scratch_floats(&c, n, kvh, dim), i;
    float *scratch = malloc(nf * sizeof *scratch);
    double d, worst = 0.0;
    int pass;

    for (pass = 0; pass < 2; pass++) {
        c.causal = pass == 0;
        /* all kept == ungated, bit for bit */
        memset(keep, 1, n);
        ruv_sparse_attention(&c, q, k, v, n, qh, kvh, dim, o, scratch, nf);
        CHECK(ruv_sparse_attention_gated(&c, q, k, v, n, qh, kvh, dim, keep, g, scratch, nf) ==
                  RUV_OK,
              "gated status");
        CHECK(memcmp(o, g, n * qh * dim * sizeof *o) == 0, "all-kept gated == ungated");
        /* random mask vs double reference (with 3 masked: still a global) */
        for (i = 0; i < n; i++) {
            keep[i] = (uint8_t)((frand() > 0.0f) ? 1 : 0);
        }
        keep[3] = 0;
        ruv_sparse_attention_gated(&c, q, k, v, n, qh, kvh, dim, keep, g, scratch, nf);
        ref_sparse(&c, q, k, v, n, qh, kvh, dim, keep, r);
        d = max_abs_diff(g, r, n * qh * dim);
        if (d > worst) {
            worst = d;
        }
        CHECK(max_abs_diff(g, o, n * qh * dim) > 0.0, "the mask changes something");
    }
    CHECK(ruv_sparse_attention_gated(&c, q, k, v, n, qh, kvh, dim, NULL, g, scratch, nf) ==
              RUV_ERR_INVALID_ARG,
          "gated without mask");
    report("gated_vs_double_reference", f0, worst, 1e-6);
    free(q);
    free(k);
    free(v);
    free(o);
    free(g);
    free(r);
    free(keep);
    free(scratch);
}

/* ---- decode -------------------------------------------------------------- */

static float *round_f16(const float *x, size_t count)
{
    float *r = malloc(count * sizeof *r + 1);
    size_t a;
    for (a = 0; a < count; a++) {
        r[a] = ruv_f16_to_f32(ruv_f32_to_f16(x[a]));
    }
    return r;
}

static double decode_vs_forward(const ruv_attn_cfg_t *cfg, size_t n, size_t qh, size_t kvh,
                                size_t dim, int fp16)
{
    float *q = rand_buf(n * qh * dim, 2.0f), *k = rand_buf(n * kvh * dim, 2.0f);
    float *v = rand_buf(n * kvh * dim, 1.0f);
    float *fwd = rand_buf(n * qh * dim, 1.0f), *dec = rand_buf(qh * dim, 1.0f);
    float *kr = fp16 ? round_f16(k, n * kvh * dim) : k;
    float *vr = fp16 ? round_f16(v, n * kvh * dim) : v;
    ruv_attn_cfg_t c = *cfg;
    ruv_kv_cache_t cache;
    size_t bytes = ruv_kv_cache_bytes(n, kvh, dim, cfg->block_size, fp16 != 0), t;
    void *mem = malloc(bytes);
    double worst = 0.0;

    c.causal = true;
    run_sparse(&c, q, kr, vr, n, qh, kvh, dim, fwd);
    CHECK(ruv_kv_cache_init(&cache, mem, bytes, n, kvh, dim, cfg->block_size, fp16 != 0) ==
              RUV_OK,
          "cache init");
    c.causal = false; /* decode ignores it */
    for (t = 0; t < n; t++) {
        ruv_status_t st = ruv_kv_cache_append(&cache, k + t * kvh * dim, v + t * kvh * dim);
        double d;
        CHECK(st == RUV_OK, "append %zu", t);
        st = ruv_decode_step(&c, &cache, q + t * qh * dim, qh, dec);
        CHECK(st == RUV_OK, "decode %zu: 0x%x", t, st);
        d = max_abs_diff(dec, fwd + t * qh * dim, qh * dim);
        if (d > worst) {
            worst = d;
        }
    }
    CHECK(ruv_kv_cache_append(&cache, k, v) == RUV_ERR_INVALID_STATE, "append when full");
    /* FP32: means are those of the forward scratch (same formula) */
    if (!fp16) {
        size_t nf = ruv_sparse_scratch_floats(&c, n, kvh, dim);
        float *scratch = malloc(nf * sizeof *scratch);
        size_t full = n / cfg->block_size;
        c.causal = true;
        ruv_sparse_attention(&c, q, k, v, n, qh, kvh, dim, fwd, scratch, nf);
        CHECK(memcmp(scratch, cache.k_mean, full * kvh * dim * sizeof(float)) == 0,
              "cache K means == forward means");
        free(scratch);
    }
    free(mem);
    if (fp16) {
        free(kr);
        free(vr);
    }
    free(q);
    free(k);
    free(v);
    free(fwd);
    free(dec);
    return worst;
}

static void test_decode(void)
{
    static const struct {
        const char *name;
        size_t qh, kvh, dim, n;
        uint32_t w, b;
    } cases[] = {
        {"MHA 4:4", 4, 4, 16, 150, 8, 16},
        {"GQA 4:1", 4, 1, 32, 130, 32, 16},
        {"GQA 4:2", 4, 2, 8, 120, 5, 7},
        {"GQA 8:2 B=3", 8, 2, 16, 100, 4, 3},
    };
    const uint16_t gl[2] = {0, 3};
    size_t ci;
    char name[96];
    for (ci = 0; ci < sizeof cases / sizeof cases[0]; ci++) {
        ruv_attn_cfg_t c = mkcfg(cases[ci].w, cases[ci].b, true, true, true, 2, gl);
        int f0 = g_failures;
        double d = decode_vs_forward(&c, cases[ci].n, cases[ci].qh, cases[ci].kvh,
                                     cases[ci].dim, 0);
        snprintf(name, sizeof name, "decode_vs_forward FP32 %s", cases[ci].name);
        report(name, f0, d, 1e-6);

        /* FP16, no landmarks: exactly the forward over rounded K/V */
        f0 = g_failures;
        c.landmarks = false;
        d = decode_vs_forward(&c, cases[ci].n, cases[ci].qh, cases[ci].kvh, cases[ci].dim, 1);
        snprintf(name, sizeof name, "decode_vs_forward FP16 %s (no landmarks)", cases[ci].name);
        report(name, f0, d, 1e-6);

        /* FP16 with landmarks: means come from the unrounded rows */
        f0 = g_failures;
        c.landmarks = true;
        d = decode_vs_forward(&c, cases[ci].n, cases[ci].qh, cases[ci].kvh, cases[ci].dim, 1);
        snprintf(name, sizeof name, "decode_vs_forward FP16 %s (landmarks)", cases[ci].name);
        report(name, f0, d, 5e-4);
    }

    /* FP16 cache stores rounded rows, unrounded means */
    {
        int f0 = g_failures;
        ruv_kv_cache_t cache;
        const size_t kvh = 1, dim = 4;
        size_t bytes = ruv_kv_cache_bytes(4, kvh, dim, 2, true);
        void *mem = malloc(bytes);
        const float k0[4] = {1.0f, 1.00048828125f, 0.1f, -3.0f};
        const float k1[4] = {2.0f, 1.0f, 0.2f, -1.0f};
        float row[4];
        ruv_kv_cache_init(&cache, mem, bytes, 4, kvh, dim, 2, true);
        ruv_kv_cache_append(&cache, k0, k1);
        ruv_kv_cache_append(&cache, k1, k0);
        CHECK(cache.k16[1] == 0x3C00, "rounded row (0x%04X)", cache.k16[1]);
        ruv_kv_cache_row(&cache, 0, false, row);
        CHECK(row[1] == 1.0f && row[2] == ruv_f16_to_f32(ruv_f32_to_f16(0.1f)), "row 0 K");
        ruv_kv_cache_row(&cache, 1, true, row);
        CHECK(row[0] == 1.0f, "row 1 V");
        CHECK(cache.k_mean[2] == 0.1f + (0.2f - 0.1f) * 0.5f, "unrounded mean %.9g",
              (double)cache.k_mean[2]);
        CHECK(ruv_kv_cache_row(&cache, 2, false, row) == RUV_ERR_INVALID_ARG, "row >= len");
        ruv_kv_cache_clear(&cache);
        CHECK(cache.len == 0, "clear");
        CHECK(ruv_decode_step(&(ruv_attn_cfg_t){.window = 1, .block_size = 2}, &cache, k0, 1,
                              row) == RUV_ERR_INVALID_STATE,
              "decode on empty cache");
        ruv_kv_cache_append(&cache, k0, k1);
        CHECK(ruv_decode_step(&(ruv_attn_cfg_t){.window = 1, .block_size = 3}, &cache, k0, 1,
                              row) == RUV_ERR_INVALID_ARG,
              "decode with another block size");
        CHECK(ruv_decode_step(&(ruv_attn_cfg_t){.window = 1, .block_size = 2}, &cache, k0, 1,
                              row) == RUV_OK,
              "decode ok");
        for (size_t d = 0; d < 4; d++) {
            CHECK(row[d] == ruv_f16_to_f32(ruv_f32_to_f16(k1[d])), "single row: out = v");
        }
        free(mem);
        report("fp16_cache_rows_and_means", f0, 0.0, 0.0);
    }
}

/* ---- H2O eviction -------------------------------------------------------- */

static void test_h2o(void)
{
    int f0 = g_failures;
    const size_t cap = 12, kvh = 2, dim = 3, B = 4;
    const uint16_t gl[2] = {0, 3};
    ruv_attn_cfg_t c = mkcfg(3, (uint32_t)B, true, true, true, 2, gl);
    float *k = rand_buf(cap * kvh * dim, 1.0f), *v = rand_buf(cap * kvh * dim, 1.0f);
    size_t bytes = ruv_kv_cache_bytes(cap, kvh, dim, B, false);
    void *mem = malloc(bytes), *mem2 = malloc(bytes);
    ruv_kv_cache_t cache, fresh;
    size_t t, ev = 99;
    /* positions 0, 3 (globals) and 9..11 (window 3) protected */
    float scores[12] = {-9, 5, 2, -9, 7, 1, 1, 3, 8, -9, -9, -9};

    ruv_kv_cache_init(&cache, mem, bytes, cap, kvh, dim, B, false);
    for (t = 0; t < cap; t++) {
        ruv_kv_cache_append(&cache, k + t * kvh * dim, v + t * kvh * dim);
    }
    CHECK(ruv_kv_cache_evict_h2o(&cache, &c, scores, 11, &ev) == RUV_ERR_INVALID_SIZE,
          "short scores");
    CHECK(ruv_kv_cache_evict_h2o(&cache, &c, scores, 13, &ev) == RUV_ERR_INVALID_SIZE,
          "scores longer than the cache");
    CHECK(ruv_kv_cache_evict_h2o(&cache, &c, scores, 12, &ev) == RUV_OK, "evict");
    CHECK(ev == 5, "evicted %zu, want 5 (first of the tied lowest unprotected)", ev);
    CHECK(cache.len == 11, "len after eviction");
    /* compare with a cache built from the remaining rows */
    ruv_kv_cache_init(&fresh, mem2, bytes, cap, kvh, dim, B, false);
    for (t = 0; t < cap; t++) {
        if (t != 5) {
            ruv_kv_cache_append(&fresh, k + t * kvh * dim, v + t * kvh * dim);
        }
    }
    CHECK(memcmp(cache.k, fresh.k, 11 * kvh * dim * sizeof(float)) == 0, "rows compacted");
    CHECK(memcmp(cache.v, fresh.v, 11 * kvh * dim * sizeof(float)) == 0, "V rows compacted");
    CHECK(memcmp(cache.k_mean, fresh.k_mean, 3 * kvh * dim * sizeof(float)) == 0,
          "K means rebuilt");
    CHECK(memcmp(cache.v_mean, fresh.v_mean, 3 * kvh * dim * sizeof(float)) == 0,
          "V means rebuilt");
    /* append after eviction continues the running mean of the last block */
    ruv_kv_cache_append(&cache, k, v);
    ruv_kv_cache_append(&fresh, k, v);
    CHECK(memcmp(cache.k_mean, fresh.k_mean, 3 * kvh * dim * sizeof(float)) == 0,
          "means after append");
    /* everything protected: upstream's rule evicts position 0 (the first
     * non-global position below len - window does not exist), a global here;
     * once with len <= window, once with window = len - 1 and global 0 */
    {
        const uint32_t windows[2] = {100, 11};
        int w;
        for (w = 0; w < 2; w++) {
            ruv_attn_cfg_t all = c;
            float before[12 * 2 * 3], *kb = cache.k;
            all.window = windows[w];
            memcpy(before, kb, sizeof before);
            ev = 99;
            CHECK(ruv_kv_cache_evict_h2o(&cache, &all, scores, 12, &ev) == RUV_OK && ev == 0,
                  "all protected (window %u): evicts position 0 (got %zu)",
                  (unsigned)windows[w], ev);
            CHECK(cache.len == 11 &&
                      memcmp(cache.k, before + kvh * dim, 11 * kvh * dim * sizeof(float)) == 0,
                  "all protected: rows moved up");
            ruv_kv_cache_append(&cache, k, v); /* back to 12 rows */
        }
    }
    /* window 0: only globals protected; lowest is position 1 now? */
    {
        ruv_attn_cfg_t w0 = c;
        float s2[12] = {-5, 4, 4, -5, 4, 4, 4, 4, 4, 4, 4, 4};
        w0.window = 0;
        CHECK(ruv_kv_cache_evict_h2o(&cache, &w0, s2, 12, &ev) == RUV_OK && ev == 1,
              "ties: first unprotected (got %zu)", ev);
        s2[10] = 0.0f; /* len is 11 now: 10 is the newest row */
        CHECK(ruv_kv_cache_evict_h2o(&cache, &w0, s2, 11, &ev) == RUV_OK && ev == 10,
              "window 0 leaves the newest row unprotected (got %zu)", ev);
        s2[5] = NAN; /* len 10: NaN counts as the lowest, like numpy argmin */
        s2[7] = NAN;
        CHECK(ruv_kv_cache_evict_h2o(&cache, &w0, s2, 10, &ev) == RUV_OK && ev == 5,
              "first NaN score is evicted (got %zu)", ev);
    }
    ruv_kv_cache_clear(&cache);
    CHECK(ruv_kv_cache_evict_h2o(&cache, &c, scores, 0, &ev) == RUV_ERR_INVALID_STATE,
          "empty cache");

    /* FP16 cache: rows compacted, every mean rebuilt from the rounded rows
     * (== an FP32 cache filled with the rounded rows) */
    {
        size_t b16 = ruv_kv_cache_bytes(cap, kvh, dim, B, true);
        void *m16 = malloc(b16);
        ruv_kv_cache_t c16;
        float *kr = round_f16(k, cap * kvh * dim), *vr = round_f16(v, cap * kvh * dim);
        float row[6];
        size_t e;
        ruv_kv_cache_init(&c16, m16, b16, cap, kvh, dim, B, true);
        ruv_kv_cache_init(&fresh, mem2, bytes, cap, kvh, dim, B, false);
        for (t = 0; t < cap; t++) {
            ruv_kv_cache_append(&c16, k + t * kvh * dim, v + t * kvh * dim);
            if (t != 5) {
                ruv_kv_cache_append(&fresh, kr + t * kvh * dim, vr + t * kvh * dim);
            }
        }
        CHECK(ruv_kv_cache_evict_h2o(&c16, &c, scores, 12, &ev) == RUV_OK && ev == 5,
              "fp16 evict (got %zu)", ev);
        for (t = 0; t < 11; t++) {
            ruv_kv_cache_row(&c16, t, false, row);
            CHECK(memcmp(row, fresh.k + t * kvh * dim, sizeof row) == 0, "fp16 K row %zu", t);
            ruv_kv_cache_row(&c16, t, true, row);
            CHECK(memcmp(row, fresh.v + t * kvh * dim, sizeof row) == 0, "fp16 V row %zu", t);
        }
        for (e = 0; e < 3 * kvh * dim; e++) {
            CHECK(c16.k_mean[e] == fresh.k_mean[e] && c16.v_mean[e] == fresh.v_mean[e],
                  "fp16 means rebuilt from rounded rows (%zu)", e);
        }
        free(kr);
        free(vr);
        free(m16);
    }
    free(mem);
    free(mem2);
    free(k);
    free(v);
    report("h2o_eviction", f0, 0.0, 0.0);
}

/* ---- FastGRNN ------------------------------------------------------------- */

static void test_fastgrnn(void)
{
    int f0 = g_failures;
    const size_t dim = 6, hid = 5, n = 40, kvh = 3;
    float *wg = rand_buf(dim * hid, 0.8f), *wu = rand_buf(dim * hid, 0.8f);
    float *ug = rand_buf(hid * hid, 0.8f), *uu = rand_buf(hid * hid, 0.8f);
    float *bg = rand_buf(hid, 0.5f), *bu = rand_buf(hid, 0.5f);
    float *k = rand_buf(n * kvh * dim, 3.0f), *sal = rand_buf(n, 1.0f);
    float scratch[64];
    ruv_fastgrnn_t cell = {dim, hid, wg, ug, bg, wu, uu, bu};
    double h[16] = {0}, hn[16], worst = 0.0;
    size_t t, o, i;

    CHECK(ruv_fastgrnn_salience(&cell, k, n, kvh, sal, scratch, dim + 4 * hid) == RUV_OK,
          "salience");
    for (t = 0; t < n; t++) {
        double x[16], ss = 0.0;
        for (i = 0; i < dim; i++) {
            double s = 0.0;
            size_t hh;
            for (hh = 0; hh < kvh; hh++) {
                s += (double)k[(t * kvh + hh) * dim + i];
            }
            x[i] = s / (double)kvh;
        }
        for (o = 0; o < hid; o++) {
            double zg = bg[o], zu = bu[o], g, cc;
            for (i = 0; i < dim; i++) {
                zg += x[i] * (double)wg[i * hid + o];
                zu += x[i] * (double)wu[i * hid + o];
            }
            for (i = 0; i < hid; i++) {
                zg += h[i] * (double)ug[i * hid + o];
                zu += h[i] * (double)uu[i * hid + o];
            }
            g = 1.0 / (1.0 + exp(-zg));
            cc = tanh(zu);
            hn[o] = g * h[o] + (1.0 - g) * cc;
        }
        for (o = 0; o < hid; o++) {
            h[o] = hn[o];
            ss += hn[o] * hn[o];
        }
        if (fabs(sqrt(ss) - (double)sal[t]) > worst) {
            worst = fabs(sqrt(ss) - (double)sal[t]);
        }
    }
    CHECK(ruv_fastgrnn_salience(&cell, k, n, kvh, sal, scratch, dim + 4 * hid - 1) ==
              RUV_ERR_INVALID_SIZE,
          "salience scratch too small");
    /* saturation: huge pre-activations stay finite */
    {
        float big[6] = {1e30f, -1e30f, 1e30f, -1e30f, 1e30f, -1e30f};
        float h0[5] = {0}, h1[5];
        ruv_fastgrnn_step(&cell, big, h0, h1, scratch);
        for (o = 0; o < hid; o++) {
            CHECK(h1[o] >= -1.0f && h1[o] <= 1.0f, "saturated h in [-1,1]: %g", (double)h1[o]);
        }
    }
    free(wg);
    free(wu);
    free(ug);
    free(uu);
    free(bg);
    free(bu);
    free(k);
    free(sal);
    report("fastgrnn_salience_vs_double", f0, worst, 2e-6);
}

/* ---- sizes and argument checks ------------------------------------------ */

static void test_sizes(void)
{
    int f0 = g_failures;
    ruv_attn_cfg_t c = ruv_attn_aether();
    const size_t n = 40, qh = 4, kvh = 2, dim = 8;
    float *q = rand_buf(n * qh * dim, 1.0f), *k = rand_buf(n * kvh * dim, 1.0f);
    float *v = rand_buf(n * kvh * dim, 1.0f), *o = rand_buf(n * qh * dim, 1.0f);
    size_t nf = ruv_sparse_scratch_floats(&c, n, kvh, dim);
    float *scratch = malloc(nf * sizeof *scratch);
    ruv_kv_cache_t cache;
    size_t bytes;
    uint64_t mem64[256];

    CHECK(nf == 2 * 3 * kvh * dim, "scratch floats %zu", nf);
    CHECK(ruv_sparse_attention(&c, q, k, v, n, qh, kvh, dim, o, scratch, nf - 1) ==
              RUV_ERR_INVALID_SIZE,
          "scratch too small");
    CHECK(ruv_sparse_attention(&c, q, k, v, n, qh, kvh, dim, o, scratch, nf) == RUV_OK, "ok");
    CHECK(ruv_sparse_attention(&c, q, k, v, n, 3, kvh, dim, o, scratch, nf) ==
              RUV_ERR_INVALID_ARG,
          "q %% kv != 0");
    CHECK(ruv_sparse_attention(&c, q, k, v, n, qh, 0, dim, o, scratch, nf) ==
              RUV_ERR_INVALID_ARG,
          "kv 0");
    CHECK(ruv_sparse_attention(&c, q, k, v, n, qh, kvh, 0, o, scratch, nf) ==
              RUV_ERR_INVALID_ARG,
          "dim 0");
    CHECK(ruv_sparse_attention(&c, q, k, v, 0, qh, kvh, dim, o, NULL, 0) == RUV_OK, "n = 0");
    CHECK(ruv_dense_attention(q, k, v, n, 3, kvh, dim, true, o) == RUV_ERR_INVALID_ARG,
          "dense q %% kv");
    c.landmarks = false;
    CHECK(ruv_sparse_scratch_floats(&c, n, kvh, dim) == 0, "no landmarks: no scratch");
    CHECK(ruv_sparse_attention(&c, q, k, v, n, qh, kvh, dim, o, NULL, 0) == RUV_OK,
          "no scratch without landmarks");
    c.block_size = 0;
    CHECK(ruv_sparse_attention(&c, q, k, v, n, qh, kvh, dim, o, scratch, nf) ==
              RUV_ERR_INVALID_ARG,
          "bad cfg");

    /* KV cache sizes */
    bytes = ruv_kv_cache_bytes(10, 2, 4, 4, false);
    CHECK(bytes == 2 * 10 * 2 * 4 * 4 + 2 * 3 * 2 * 4 * 4, "fp32 cache bytes %zu", bytes);
    CHECK(ruv_kv_cache_bytes(10, 2, 4, 4, true) == 2 * 10 * 2 * 4 * 2 + 2 * 3 * 2 * 4 * 4,
          "fp16 cache bytes");
    CHECK(ruv_kv_cache_bytes(0, 2, 4, 4, false) == 0, "capacity 0");
    CHECK(ruv_kv_cache_bytes(10, 2, 4, 0, false) == 0, "block 0");
    CHECK(ruv_kv_cache_bytes(SIZE_MAX / 2, 4, 4, 4, false) == 0, "overflow");
    CHECK(ruv_kv_cache_init(&cache, mem64, bytes - 1, 10, 2, 4, 4, false) ==
              RUV_ERR_INVALID_SIZE,
          "cache memory too small");
    CHECK(ruv_kv_cache_init(&cache, mem64, sizeof mem64, 10, 2, 4, 4, false) == RUV_OK,
          "cache init");
    CHECK(ruv_kv_cache_init(&cache, (char *)mem64 + 2, sizeof mem64 - 2, 10, 2, 4, 4, false) ==
              RUV_ERR_INVALID_ARG,
          "misaligned memory");
    CHECK(ruv_kv_cache_init(&cache, mem64, sizeof mem64, 10, 2, 4, 0, false) ==
              RUV_ERR_INVALID_ARG,
          "cache block 0");

    /* candidate caps */
    c = ruv_attn_default();
    CHECK(ruv_candidate_tokens_cap(&c, 0) == 0 && ruv_candidate_blocks_cap(&c, 0) == 0,
          "caps n=0");
    CHECK(ruv_candidate_tokens_cap(&c, 5) == 5, "tokens cap bounded by n");
    CHECK(ruv_candidate_blocks_cap(&c, 100) == 2, "blocks cap bounded by nb");
    free(q);
    free(k);
    free(v);
    free(o);
    free(scratch);
    report("sizes_and_arguments", f0, 0.0, 0.0);
}

/* ruv_mark_decode_rows == the rows of ruv_candidates (causal, n = i + 1):
 * the tokens and every row of each block, nothing else; bits already set
 * stay set. ruv_kv_cache_skip: len + 1, INVALID_STATE when full. */
static void test_mark_decode_rows(void)
{
    const uint16_t g[3] = {0, 5, 40};
    const uint32_t shapes[][5] = {/* W, B, log_stride, landmarks, n_globals */
                                  {32, 16, 1, 1, 1}, {0, 1, 1, 1, 3}, {5, 3, 0, 1, 2},
                                  {7, 4, 1, 0, 0},  {128, 64, 1, 1, 1}, {3, 7, 1, 1, 3}};
    enum { NMAX = 300 };
    size_t si, i, r;
    int f0 = g_failures;
    for (si = 0; si < sizeof shapes / sizeof shapes[0]; si++) {
        const ruv_attn_cfg_t c = mkcfg(shapes[si][0], shapes[si][1], true, shapes[si][2] != 0u,
                                       shapes[si][3] != 0u, (uint8_t)shapes[si][4], g);
        for (i = 0; i < NMAX; i++) {
            uint8_t bits[NMAX / 8 + 1];
            uint8_t want[NMAX];
            uint32_t t[NMAX], b[NMAX];
            size_t nt = 0, nb = 0, a;
            memset(bits, 0, sizeof bits);
            memset(want, 0, sizeof want);
            if (i == 17) { /* a bit set before stays set */
                bits[NMAX / 8] = 0x08;
                want[(NMAX / 8) * 8 + 3] = 1;
            }
            CHECK(ruv_mark_decode_rows(&c, i, bits) == RUV_OK, "mark");
            CHECK(ruv_candidates(&c, i, i + 1, t, &nt, b, &nb) == RUV_OK, "candidates");
            for (a = 0; a < nt; a++) {
                want[t[a]] = 1;
            }
            for (a = 0; a < nb; a++) {
                for (r = b[a] * c.block_size; r < (b[a] + 1) * c.block_size; r++) {
                    CHECK(r <= i, "block row %zu beyond query %zu", r, i);
                    want[r] = 1;
                }
            }
            for (r = 0; r < (NMAX / 8 + 1) * 8 && r < NMAX; r++) {
                CHECK(((bits[r / 8] >> (r % 8)) & 1) == want[r], "shape %zu i=%zu row %zu", si,
                      i, r);
            }
        }
    }
    {
        ruv_attn_cfg_t bad = mkcfg(4, 0, true, true, true, 0, g);
        uint8_t bits[4] = {0};
        CHECK(ruv_mark_decode_rows(&bad, 3, bits) == RUV_ERR_INVALID_ARG, "B = 0");
        bad.block_size = 4;
        CHECK(ruv_mark_decode_rows(&bad, 3, NULL) == RUV_ERR_INVALID_ARG, "NULL rows");
    }
    {
        ruv_kv_cache_t kc;
        float mem[256];
        const float row[4] = {1.0f, 2.0f, 3.0f, 4.0f};
        CHECK(ruv_kv_cache_init(&kc, mem, sizeof mem, 3, 1, 4, 2, false) == RUV_OK, "init");
        CHECK(ruv_kv_cache_skip(&kc) == RUV_OK && kc.len == 1, "skip");
        CHECK(ruv_kv_cache_append(&kc, row, row) == RUV_OK && kc.len == 2, "append");
        CHECK(ruv_kv_cache_skip(&kc) == RUV_OK && kc.len == 3, "skip 2");
        CHECK(ruv_kv_cache_skip(&kc) == RUV_ERR_INVALID_STATE && kc.len == 3, "full");
        CHECK(ruv_kv_cache_skip(NULL) == RUV_ERR_INVALID_ARG, "NULL cache");
    }
    {   /* drop_front == appending the kept rows to an empty cache, bit for bit */
        enum { CAP = 50, KVD = 6 };
        static float mem_a[4096], mem_b[4096], rows_k[CAP * KVD], rows_v[CAP * KVD];
        const size_t bss[] = {1, 3, 4, 16};
        const size_t drops[] = {0, 1, 7, 16, 25, 49, 50};
        size_t bi, di, t;
        uint64_t seed = 99;
        for (t = 0; t < CAP * KVD; t++) {
            seed = seed * 6364136223846793005ull + 1442695040888963407ull;
            rows_k[t] = (float)(int32_t)(seed >> 40) * 1e-3f;
            rows_v[t] = (float)(int32_t)(seed >> 33 & 0xFFFFFF) * 1e-4f - 800.0f;
        }
        for (bi = 0; bi < 4; bi++) {
            for (di = 0; di < 7; di++) {
                ruv_kv_cache_t ca, cb;
                const size_t bs = bss[bi], drop = drops[di], keep = CAP - drop;
                const size_t used = (keep + bs - 1) / bs;
                CHECK(ruv_kv_cache_init(&ca, mem_a, sizeof mem_a, CAP, 2, 3, bs, false) == RUV_OK &&
                          ruv_kv_cache_init(&cb, mem_b, sizeof mem_b, CAP, 2, 3, bs, false) == RUV_OK,
                      "init");
                for (t = 0; t < CAP; t++) {
                    CHECK(ruv_kv_cache_append(&ca, rows_k + t * KVD, rows_v + t * KVD) == RUV_OK,
                          "append a");
                    if (t >= drop) {
                        CHECK(ruv_kv_cache_append(&cb, rows_k + t * KVD, rows_v + t * KVD) ==
                                  RUV_OK, "append b");
                    }
                }
                CHECK(ruv_kv_cache_drop_front(&ca, drop) == RUV_OK, "drop_front");
                CHECK(ca.len == keep && cb.len == keep, "len B=%zu drop=%zu", bs, drop);
                CHECK(memcmp(ca.k, cb.k, keep * KVD * sizeof(float)) == 0 &&
                          memcmp(ca.v, cb.v, keep * KVD * sizeof(float)) == 0,
                      "rows B=%zu drop=%zu", bs, drop);
                CHECK(memcmp(ca.k_mean, cb.k_mean, used * KVD * sizeof(float)) == 0 &&
                          memcmp(ca.v_mean, cb.v_mean, used * KVD * sizeof(float)) == 0,
                      "means B=%zu drop=%zu", bs, drop);
                CHECK(ruv_kv_cache_drop_front(&ca, keep + 1) == RUV_ERR_INVALID_ARG, "count > len");
            }
        }
        {
            ruv_kv_cache_t c16;
            CHECK(ruv_kv_cache_init(&c16, mem_a, sizeof mem_a, 8, 1, 4, 2, true) == RUV_OK, "fp16");
            CHECK(ruv_kv_cache_drop_front(&c16, 0) == RUV_ERR_NOT_SUPPORTED, "fp16 refused");
            CHECK(ruv_kv_cache_drop_front(NULL, 0) == RUV_ERR_INVALID_ARG, "NULL");
        }
    }
    if (g_failures == f0) {
        printf("OK ruv_mark_decode_rows == rows of ruv_candidates (6 configs, i < 300); "
               "ruv_kv_cache_skip; ruv_kv_cache_drop_front == appending the kept rows "
               "(rows and means bit for bit)\n");
    }
}

/* exp_nonpos (the softmax's exp) == exp_f bit for bit for every x <= 0 it
 * is used on: every 251st negative float, a dense sweep of the range where
 * k changes and the result goes subnormal, both zeros, -inf and NaNs. */
static void test_exp_nonpos(void)
{
    uint64_t u;
    size_t checked = 0, bad = 0;
    const uint32_t extra[] = {0x00000000u, 0x80000000u, 0xFF800000u, 0x7FC00000u,
                              0xFFC00001u, 0x7F800001u, 0x80000001u};
    for (u = 0x80000000u; u <= 0xFFFFFFFFu; u += 251u) {
        const float x = bits_f32((uint32_t)u), a = exp_f(x), b = exp_nonpos(x);
        bad += memcmp(&a, &b, sizeof a) != 0;
        checked++;
    }
    for (u = 0; u < 1000000u; u++) { /* x from 0 down to about -104 */
        const float x = -(float)u * 1.04e-4f, a = exp_f(x), b = exp_nonpos(x);
        bad += memcmp(&a, &b, sizeof a) != 0;
        checked++;
    }
    for (u = 0; u < sizeof extra / sizeof extra[0]; u++) {
        const float x = bits_f32(extra[u]), a = exp_f(x), b = exp_nonpos(x);
        bad += memcmp(&a, &b, sizeof a) != 0;
        checked++;
    }
    CHECK(bad == 0, "exp_nonpos differs from exp_f at %zu of %zu points", bad, checked);
    if (bad == 0) {
        printf("OK exp_nonpos == exp_f bit for bit at %zu points x <= 0 (and NaN)\n", checked);
    }
}

int main(void)
{
    test_exp_nonpos();
    test_edges();
    test_candidates();
    test_mark_decode_rows();
    test_expf();
    test_fp16();
    test_fp16_forms();
    test_sparse_vs_reference();
    test_dense();
    test_gated();
    test_decode();
    test_h2o();
    test_fastgrnn();
    test_sizes();
    if (g_failures != 0) {
        printf("test_kernel: %d FAILURE(S)\n", g_failures);
        return 1;
    }
    printf("test_kernel: all passed\n");
    return 0;
}
