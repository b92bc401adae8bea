/*
 * test_model.c — model v1 and the C ABI (docs/spec.md §4): window mode against an
 * independent reference forward written here from the docs/spec.md text (full
 * Q/K/V matrices and ruv_sparse_attention), window vs stream, stream after
 * rebases vs a forward over the rebased context, NORM/BIAS/ATTN sections,
 * GQA, FP16 weights and FP16 KV caches, required_bytes == the one
 * allocation, no allocation per frame, error paths, reset, self-test.
 */
#include <stdlib.h> /* before the hook below: defines __GLIBC__ */

#include <stdio.h>
#include <string.h>

#include "ruv_blob.h"
#include "test_blob_util.h"

/* ---- malloc/calloc hook (glibc, no sanitizer): counts calls, can fail one ---- */

#if defined(__has_feature)
#if __has_feature(address_sanitizer)
#define TEST_ASAN 1
#endif
#endif
#if defined(__SANITIZE_ADDRESS__)
#define TEST_ASAN 1
#endif

static size_t g_mallocs;

#if defined(__GLIBC__) && !defined(TEST_ASAN)
#define TEST_MALLOC_HOOK 1
static size_t g_malloc_last;
static int g_fail_next_malloc;
extern void *__libc_malloc(size_t size);
void *malloc(size_t size)
{
    ++g_mallocs;
    g_malloc_last = size;
    if (g_fail_next_malloc) {
        g_fail_next_malloc = 0;
        return NULL;
    }
    return __libc_malloc(size);
}
/* the compiler may turn malloc + memset(0) into calloc */
extern void *__libc_calloc(size_t n, size_t size);
void *calloc(size_t n, size_t size)
{
    ++g_mallocs;
    g_malloc_last = n * size;
    if (g_fail_next_malloc) {
        g_fail_next_malloc = 0;
        return NULL;
    }
    return __libc_calloc(n, size);
}
#endif

/* ---- a model described by its float weights (for the reference) ------------ */

typedef struct {
    tb_dims_t m;
    bool fp16;          /* blob stores the weights as FP16 */
    float *w;           /* base weights as the model sees them (FP16-rounded if fp16) */
    float *bias;        /* NULL or tb_bias_count floats */
    float *norm;        /* NULL or 2·D floats (mean, inv_std) */
    ruv_attn_cfg_t cfg; /* attention config the model must use */
    uint8_t *blob;      /* heap, 4-aligned */
    size_t len;
} model_t;

static float frand(uint64_t *s)
{
    return ruv_xorshift_weight(s) * 10.0f; /* [-1, 1) */
}

static void model_free(model_t *mo)
{
    free(mo->w);
    free(mo->bias);
    free(mo->norm);
    free(mo->blob);
    memset(mo, 0, sizeof *mo);
}

/* The docs/spec.md §5 random blob (default dims). */
static void model_spec(model_t *mo)
{
    memset(mo, 0, sizeof *mo);
    mo->m = (tb_dims_t){16, 4, 1, 32, 2, 4};
    size_t n = tb_base_count(mo->m);
    mo->w = (float *)malloc(n * sizeof(float));
    tb_random_weights(mo->w, n, RUV_TEMPORAL_RANDOM_SEED);
    mo->cfg = ruv_attn_aether();
    size_t len = 0;
    (void)ruv_temporal_init_random_blob(NULL, 0, 16, 4, 1, 32, 2, 4, RUV_TEMPORAL_RANDOM_SEED,
                                        &len);
    mo->blob = (uint8_t *)malloc(len);
    CHECK_ST(ruv_temporal_init_random_blob(mo->blob, len, 16, 4, 1, 32, 2, 4,
                                           RUV_TEMPORAL_RANDOM_SEED, &mo->len),
             RUV_OK);
}

/* A model with NORM, BIAS and an ATTN section (W=5, B=3, globals [1, 0, 1],
 * log-stride and landmarks on), GQA q=4/kv=2, 3 layers. */
static void model_sections(model_t *mo, bool fp16, bool norm, bool bias, bool attn)
{
    memset(mo, 0, sizeof *mo);
    mo->m = (tb_dims_t){6, 4, 2, 5, 3, 3};
    mo->fp16 = fp16;
    size_t n = tb_base_count(mo->m);
    mo->w = (float *)malloc(n * sizeof(float));
    tb_random_weights(mo->w, n, 7);
    for (size_t i = 0; i < n; ++i) {
        mo->w[i] *= 5.0f; /* |w| < 0.5: larger activations than the init blob */
        if (fp16) {
            mo->w[i] = ruv_f16_to_f32(ruv_f32_to_f16(mo->w[i]));
        }
    }
    tb_section_t secs[3];
    size_t n_sec = 0;
    static uint8_t norm_b[2 * 6 * 4], bias_b[4 * 200], attn_b[14];
    uint64_t s = 99;
    if (norm) {
        mo->norm = (float *)malloc(12 * sizeof(float));
        for (int i = 0; i < 6; ++i) {
            mo->norm[i] = frand(&s);
            mo->norm[6 + i] = 0.5f + 0.25f * (float)i;
        }
        tb_f32_bytes(norm_b, mo->norm, 12);
        secs[n_sec++] = (tb_section_t){1, norm_b, 48};
    }
    if (bias) {
        size_t nb = tb_bias_count(mo->m);
        mo->bias = (float *)malloc(nb * sizeof(float));
        for (size_t i = 0; i < nb; ++i) {
            mo->bias[i] = 0.3f * frand(&s);
        }
        tb_f32_bytes(bias_b, mo->bias, nb);
        secs[n_sec++] = (tb_section_t){2, bias_b, (uint32_t)(4 * nb)};
    }
    if (attn) {
        const uint8_t a[14] = {5, 0, 3, 0, 1, 1, 1, 3, 1, 0, 0, 0, 1, 0};
        memcpy(attn_b, a, sizeof a);
        secs[n_sec++] = (tb_section_t){3, attn_b, 14};
        memset(&mo->cfg, 0, sizeof mo->cfg);
        mo->cfg.window = 5;
        mo->cfg.block_size = 3;
        mo->cfg.globals[0] = 1;
        mo->cfg.globals[1] = 0;
        mo->cfg.n_globals = 2;
        mo->cfg.causal = mo->cfg.log_stride = mo->cfg.landmarks = true;
    } else {
        mo->cfg = ruv_attn_aether();
    }
    static uint8_t buf[65536];
    /* the builder rounds to FP16 itself; our w already holds rounded values */
    size_t len = tb_build(buf, sizeof buf, mo->m, fp16, mo->w, secs, n_sec, false);
    CHECK(len > 0);
    mo->blob = tb_dup(buf, len);
    mo->len = len;
}

/* ---- reference forward: docs/spec.md §4 literally ------------------------------------- */

static void ref_affine(const float *x, const float *W, const float *b, size_t in, size_t out,
                       float *y)
{
    for (size_t j = 0; j < out; ++j) {
        float acc = b != NULL ? b[j] : 0.0f;
        for (size_t i = 0; i < in; ++i) {
            acc += x[i] * W[i * out + j];
        }
        y[j] = acc;
    }
}

/* logits[C], states[(L+1)][D] of the newest of frames[T][D]. */
static void ref_forward(const model_t *mo, const float *frames, size_t T, float *logits,
                        float *states)
{
    const size_t D = mo->m.D, qd = (size_t)mo->m.q * mo->m.d, kvd = (size_t)mo->m.kv * mo->m.d;
    const size_t L = mo->m.L;
    float *h = (float *)malloc(T * D * sizeof(float));
    float *Q = (float *)malloc(T * qd * sizeof(float));
    float *A = (float *)malloc(T * qd * sizeof(float));
    float *K = (float *)malloc(T * kvd * sizeof(float));
    float *V = (float *)malloc(T * kvd * sizeof(float));
    float *o = (float *)malloc(D * sizeof(float));
    size_t sn = ruv_sparse_scratch_floats(&mo->cfg, T, mo->m.kv, mo->m.d);
    float *scratch = (float *)malloc((sn + 1) * sizeof(float));
    for (size_t t = 0; t < T; ++t) {
        for (size_t i = 0; i < D; ++i) {
            float x = frames[t * D + i];
            h[t * D + i] = mo->norm != NULL ? (x - mo->norm[i]) * mo->norm[D + i] : x;
        }
    }
    memcpy(states, h + (T - 1) * D, D * sizeof(float));
    size_t layer_elems = D * qd + 2 * D * kvd + qd * D;
    size_t bias_layer = qd + 2 * kvd + D;
    for (size_t l = 0; l < L; ++l) {
        const float *wq = mo->w + l * layer_elems, *wk = wq + D * qd, *wv = wk + D * kvd;
        const float *wo = wv + D * kvd;
        const float *b = mo->bias != NULL ? mo->bias + l * bias_layer : NULL;
        for (size_t t = 0; t < T; ++t) {
            ref_affine(h + t * D, wq, b, D, qd, Q + t * qd);
            ref_affine(h + t * D, wk, b ? b + qd : NULL, D, kvd, K + t * kvd);
            ref_affine(h + t * D, wv, b ? b + qd + kvd : NULL, D, kvd, V + t * kvd);
        }
        CHECK_ST(ruv_sparse_attention(&mo->cfg, Q, K, V, T, mo->m.q, mo->m.kv, mo->m.d, A,
                                      scratch, sn),
                 RUV_OK);
        for (size_t t = 0; t < T; ++t) {
            ref_affine(A + t * qd, wo, b ? b + qd + 2 * kvd : NULL, qd, D, o);
            for (size_t i = 0; i < D; ++i) {
                h[t * D + i] += o[i];
            }
        }
        memcpy(states + (l + 1) * D, h + (T - 1) * D, D * sizeof(float));
    }
    const float *bc = mo->bias != NULL ? mo->bias + L * bias_layer : NULL;
    ref_affine(h + (T - 1) * D, mo->w + L * layer_elems, bc, D, mo->m.C, logits);
    free(h);
    free(Q);
    free(A);
    free(K);
    free(V);
    free(o);
    free(scratch);
}

static float max_diff(const float *a, const float *b, size_t n)
{
    float worst = 0.0f;
    for (size_t i = 0; i < n; ++i) {
        float d = a[i] - b[i];
        d = d < 0.0f ? -d : d;
        if (!(d <= worst)) {
            worst = d == d ? d : 1e30f;
        }
    }
    return worst;
}

static float *make_frames(size_t n, size_t D, uint64_t seed, float scale)
{
    float *x = (float *)malloc(n * D * sizeof(float));
    uint64_t s = seed;
    for (size_t i = 0; i < n * D; ++i) {
        x[i] = frand(&s) * scale;
    }
    return x;
}

static ruv_temporal_ctx_t *open_ctx(const model_t *mo, uint16_t N, ruv_run_mode_t mode,
                                    bool kv16)
{
    ruv_temporal_config_t cfg = {mo->m.D, N, mo->m.C, mode, kv16};
    ruv_temporal_ctx_t *ctx = NULL;
    CHECK_ST(ruv_temporal_init_ex(mo->blob, mo->len, &cfg, &ctx), RUV_OK);
    return ctx;
}

/* states[(L+1)][D] via the ABI */
static void get_states(const ruv_temporal_ctx_t *ctx, const model_t *mo, float *states)
{
    for (uint16_t st = 0; st <= mo->m.L; ++st) {
        CHECK_ST(ruv_temporal_layer_state(ctx, st, states + (size_t)st * mo->m.D, mo->m.D),
                 RUV_OK);
    }
}

/* ---- tests --------------------------------------------------------------------- */

/* Window mode == the reference forward over the min(filled, N) newest frames. */
static void test_window_vs_reference(const model_t *mo, const char *what, uint16_t N,
                                     size_t frames)
{
    const size_t D = mo->m.D, C = mo->m.C, S = (size_t)(mo->m.L + 1) * D;
    float *x = make_frames(frames, D, 1234, 3.0f);
    float lg[16], ref[16], st[256], rst[256];
    ruv_temporal_ctx_t *ctx = open_ctx(mo, N, RUV_MODE_WINDOW, false);
    float worst = 0.0f, worst_st = 0.0f;
    for (size_t t = 0; t < frames && ctx != NULL; ++t) {
        CHECK_ST(ruv_temporal_push(ctx, x + t * D), RUV_OK);
        CHECK_ST(ruv_temporal_classify(ctx, lg, C), RUV_OK);
        size_t T = t + 1 < N ? t + 1 : N;
        ref_forward(mo, x + (t + 1 - T) * D, T, ref, rst);
        get_states(ctx, mo, st);
        float d = max_diff(lg, ref, C), ds = max_diff(st, rst, S);
        worst = d > worst ? d : worst;
        worst_st = ds > worst_st ? ds : worst_st;
    }
    CHECK(worst <= 1e-5f && worst_st <= 1e-5f);
    ruv_temporal_stats_t stats;
    CHECK_ST(ruv_temporal_get_stats(ctx, &stats), RUV_OK);
    CHECK(stats.frames_pushed == frames && stats.classifications == frames &&
          stats.frames_in_ring == (frames < N ? frames : N) && stats.context_len == 0 &&
          stats.rebases == 0);
    printf("OK window == reference forward (%s, N=%u, %zu frames): max |dlogit| %.3g, "
           "|dstate| %.3g\n",
           what, (unsigned)N, frames, (double)worst, (double)worst_st);
    ruv_temporal_destroy(ctx);
    free(x);
}

static void test_window_vs_stream(const model_t *mo, uint16_t N)
{
    const size_t D = mo->m.D, C = mo->m.C, S = (size_t)(mo->m.L + 1) * D;
    float *x = make_frames(N, D, 55, 2.0f);
    ruv_temporal_ctx_t *w = open_ctx(mo, N, RUV_MODE_WINDOW, false);
    ruv_temporal_ctx_t *s = open_ctx(mo, N, RUV_MODE_STREAM, false);
    float lw[16], ls[16], ls2[16], sw[256], ss[256];
    float worst = 0.0f;
    for (size_t t = 0; t < N && w != NULL && s != NULL; ++t) {
        CHECK_ST(ruv_temporal_push(w, x + t * D), RUV_OK);
        CHECK_ST(ruv_temporal_push(s, x + t * D), RUV_OK);
        CHECK_ST(ruv_temporal_classify(w, lw, C), RUV_OK);
        CHECK_ST(ruv_temporal_classify(s, ls, C), RUV_OK);
        CHECK_ST(ruv_temporal_classify(s, ls2, C), RUV_OK); /* stable between pushes */
        CHECK(memcmp(ls, ls2, sizeof(float) * C) == 0);
        get_states(w, mo, sw);
        get_states(s, mo, ss);
        float d = max_diff(lw, ls, C), ds = max_diff(sw, ss, S);
        d = ds > d ? ds : d;
        worst = d > worst ? d : worst;
        ruv_temporal_stats_t st;
        CHECK_ST(ruv_temporal_get_stats(s, &st), RUV_OK);
        CHECK(st.context_len == t + 1 && st.rebases == 0);
    }
    CHECK(worst <= 1e-5f);
    printf("OK stream == window before the first rebase (N=%u): max |d| %.3g\n", (unsigned)N,
           (double)worst);
    ruv_temporal_destroy(w);
    ruv_temporal_destroy(s);
    free(x);
}

/* Stream after rebases == forward over the frames since the last rebase's
 * prefill start (docs/spec.md §4: rebase when full, N/2 frames before the new one). */
static void test_stream_rebases(const model_t *mo, uint16_t N, size_t frames, bool kv16)
{
    const size_t D = mo->m.D, C = mo->m.C, S = (size_t)(mo->m.L + 1) * D;
    float *x = make_frames(frames, D, 77 + N, 2.0f);
    ruv_temporal_ctx_t *s = open_ctx(mo, N, RUV_MODE_STREAM, kv16);
    float ls[16], ref[16], st[256], rst[256];
    size_t start = 0, ctx_len = 0, rebases = 0;
    float worst = 0.0f, worst_win = 0.0f;
    bool differs_after_rebase = false;
    for (size_t t = 0; t < frames && s != NULL; ++t) {
        if (ctx_len == N) {
            start = t - N / 2;
            ctx_len = N / 2;
            ++rebases;
        }
        ++ctx_len;
        CHECK_ST(ruv_temporal_push(s, x + t * D), RUV_OK);
        CHECK_ST(ruv_temporal_classify(s, ls, C), RUV_OK);
        ruv_temporal_stats_t stats;
        CHECK_ST(ruv_temporal_get_stats(s, &stats), RUV_OK);
        CHECK(stats.context_len == ctx_len && stats.rebases == rebases &&
              stats.frames_pushed == t + 1);
        ref_forward(mo, x + start * D, t + 1 - start, ref, rst);
        get_states(s, mo, st);
        float d = max_diff(ls, ref, C), ds = max_diff(st, rst, S);
        d = ds > d ? ds : d;
        worst = d > worst ? d : worst;
        /* and a fresh window-mode context fed the same context frames */
        ruv_temporal_ctx_t *w = open_ctx(mo, N, RUV_MODE_WINDOW, false);
        float lw[16];
        for (size_t k = start; k <= t && w != NULL; ++k) {
            CHECK_ST(ruv_temporal_push(w, x + k * D), RUV_OK);
        }
        if (w != NULL) {
            CHECK_ST(ruv_temporal_classify(w, lw, C), RUV_OK);
            d = max_diff(ls, lw, C);
            worst_win = d > worst_win ? d : worst_win;
        }
        ruv_temporal_destroy(w);
        if (rebases == 1 && ctx_len == (size_t)N / 2 + 1 && N >= 4) {
            /* the rebase drops context: a forward over all frames so far differs */
            float full[16], fst[256];
            ref_forward(mo, x, t + 1, full, fst);
            differs_after_rebase = max_diff(ls, full, C) > 1e-4f;
        }
    }
    CHECK(rebases > 0);
    if (N >= 4) {
        CHECK(differs_after_rebase);
    }
    /* FP16 caches round K/V rows: close, not equal */
    float tol = kv16 ? 2e-2f : 1e-5f;
    CHECK(worst <= tol && worst_win <= tol);
    printf("OK stream after %zu rebases == forward over the rebased context (N=%u, kv %s): "
           "max |d| %.3g vs reference, %.3g vs a fresh window context\n",
           rebases, (unsigned)N, kv16 ? "fp16" : "fp32", (double)worst, (double)worst_win);
    ruv_temporal_destroy(s);
    free(x);
}

/* FP16 weights are FP32 weights rounded to binary16: identical bits. */
static void test_fp16_weights(void)
{
    model_t m16, m32;
    model_sections(&m16, true, true, true, true);
    model_sections(&m32, false, true, true, true); /* m32.w are full precision */
    /* an FP32 blob holding exactly the FP16-rounded weights */
    for (size_t i = 0; i < tb_base_count(m32.m); ++i) {
        m32.w[i] = m16.w[i];
    }
    free(m32.blob);
    {
        static uint8_t norm_b[48], bias_b[800];
        const uint8_t a[14] = {5, 0, 3, 0, 1, 1, 1, 3, 1, 0, 0, 0, 1, 0};
        tb_f32_bytes(norm_b, m16.norm, 12);
        tb_f32_bytes(bias_b, m16.bias, tb_bias_count(m16.m));
        tb_section_t secs[3] = {{1, norm_b, 48},
                                {2, bias_b, (uint32_t)(4 * tb_bias_count(m16.m))},
                                {3, a, 14}};
        static uint8_t buf[65536];
        m32.len = tb_build(buf, sizeof buf, m32.m, false, m32.w, secs, 3, false);
        m32.blob = tb_dup(buf, m32.len);
    }
    ruv_model_info_t info;
    CHECK_ST(ruv_temporal_blob_info(m16.blob, m16.len, &info, NULL), RUV_OK);
    CHECK(info.fp16_weights && info.has_norm && info.has_bias && info.has_attn);
    CHECK(m16.len < m32.len);
    const size_t D = m16.m.D, C = m16.m.C;
    float *x = make_frames(40, D, 3, 2.0f);
    for (int mode = 0; mode < 2; ++mode) {
        ruv_run_mode_t rm = mode == 0 ? RUV_MODE_WINDOW : RUV_MODE_STREAM;
        ruv_temporal_ctx_t *a = open_ctx(&m16, 12, rm, false);
        ruv_temporal_ctx_t *b = open_ctx(&m32, 12, rm, false);
        int same = 1;
        for (size_t t = 0; t < 40 && a != NULL && b != NULL; ++t) {
            float la[16], lb[16];
            CHECK_ST(ruv_temporal_push(a, x + t * D), RUV_OK);
            CHECK_ST(ruv_temporal_push(b, x + t * D), RUV_OK);
            CHECK_ST(ruv_temporal_classify(a, la, C), RUV_OK);
            CHECK_ST(ruv_temporal_classify(b, lb, C), RUV_OK);
            same &= memcmp(la, lb, C * sizeof(float)) == 0;
        }
        CHECK(same);
        ruv_temporal_destroy(a);
        ruv_temporal_destroy(b);
    }
    printf("OK FP16 weights == FP32 blob of the rounded weights, bit for bit (window, stream)\n");
    test_window_vs_reference(&m16, "FP16 weights + NORM/BIAS/ATTN, GQA 4/2, L=3", 10, 30);
    free(x);
    model_free(&m16);
    model_free(&m32);
}

static void test_fp16_kv(const model_t *mo)
{
    const size_t D = mo->m.D, C = mo->m.C;
    float *x = make_frames(50, D, 4, 2.0f);
    ruv_temporal_ctx_t *a = open_ctx(mo, 16, RUV_MODE_STREAM, false);
    ruv_temporal_ctx_t *b = open_ctx(mo, 16, RUV_MODE_STREAM, true);
    float worst = 0.0f;
    int exact = 1;
    for (size_t t = 0; t < 50 && a != NULL && b != NULL; ++t) {
        float la[16], lb[16];
        CHECK_ST(ruv_temporal_push(a, x + t * D), RUV_OK);
        CHECK_ST(ruv_temporal_push(b, x + t * D), RUV_OK);
        CHECK_ST(ruv_temporal_classify(a, la, C), RUV_OK);
        CHECK_ST(ruv_temporal_classify(b, lb, C), RUV_OK);
        float d = max_diff(la, lb, C);
        worst = d > worst ? d : worst;
        exact &= d == 0.0f;
        ruv_temporal_stats_t sa, sb;
        CHECK_ST(ruv_temporal_get_stats(a, &sa), RUV_OK);
        CHECK_ST(ruv_temporal_get_stats(b, &sb), RUV_OK);
        CHECK(sa.rebases == sb.rebases && sa.context_len == sb.context_len);
        CHECK(sb.arena_bytes < sa.arena_bytes);
    }
    CHECK(worst <= 1e-2f && !exact);
    printf("OK FP16 KV cache close to FP32 (max |dlogit| %.3g over 50 frames with rebases)\n",
           (double)worst);
    ruv_temporal_destroy(a);
    ruv_temporal_destroy(b);
    free(x);
}

static void test_memory(const model_t *mo)
{
    static const struct {
        uint16_t N;
        ruv_run_mode_t mode;
        bool kv16;
    } cfgs[] = {
        {1, RUV_MODE_WINDOW, false},  {256, RUV_MODE_WINDOW, false}, {256, RUV_MODE_STREAM, false},
        {256, RUV_MODE_STREAM, true}, {2, RUV_MODE_STREAM, false},   {3, RUV_MODE_STREAM, true},
        {1024, RUV_MODE_WINDOW, true}, {1024, RUV_MODE_STREAM, true},
    };
    const size_t D = mo->m.D, C = mo->m.C;
    float *x = make_frames(300, D, 8, 1.0f);
    for (size_t i = 0; i < sizeof cfgs / sizeof cfgs[0]; ++i) {
        ruv_temporal_config_t cfg = {mo->m.D, cfgs[i].N, mo->m.C, cfgs[i].mode, cfgs[i].kv16};
        size_t need = 0, need2 = 0;
        CHECK_ST(ruv_temporal_required_bytes(mo->blob, mo->len, &cfg, &need), RUV_OK);
        const char *reason = NULL;
        CHECK_ST(ruv_temporal_check_config(mo->blob, mo->len, &cfg, &need2, &reason), RUV_OK);
        CHECK(need == need2 && need > 0 && reason != NULL && strcmp(reason, "ok") == 0);
        size_t before = g_mallocs;
        ruv_temporal_ctx_t *ctx = NULL;
        CHECK_ST(ruv_temporal_init_ex(mo->blob, mo->len, &cfg, &ctx), RUV_OK);
#ifdef TEST_MALLOC_HOOK
        CHECK(g_mallocs == before + 1 && g_malloc_last == need);
#endif
        ruv_temporal_stats_t st;
        CHECK_ST(ruv_temporal_get_stats(ctx, &st), RUV_OK);
        CHECK(st.arena_bytes == need);
        /* no allocation per frame, through rebases and a reset */
        before = g_mallocs;
        float lg[16];
        for (size_t t = 0; t < 300; ++t) {
            CHECK_ST(ruv_temporal_push(ctx, x + t * D), RUV_OK);
            if (t % 7 == 0 || cfgs[i].N < 8) {
                CHECK_ST(ruv_temporal_classify(ctx, lg, C), RUV_OK);
            }
            if (t == 150) {
                CHECK_ST(ruv_temporal_reset(ctx), RUV_OK);
            }
        }
        CHECK(g_mallocs == before);
        ruv_temporal_destroy(ctx);
        if (cfgs[i].N == 256 && mo->m.D == 16) {
            printf("OK arena, default dims (D=16 q=4 kv=1 d=32 L=2 C=4), N=256, %s%s: %zu bytes\n",
                   cfgs[i].mode == RUV_MODE_STREAM ? "stream" : "window",
                   cfgs[i].mode == RUV_MODE_STREAM ? (cfgs[i].kv16 ? " FP16 KV" : " FP32 KV") : "",
                   need);
        }
    }
#ifdef TEST_MALLOC_HOOK
    printf("OK required_bytes == the one malloc of init; push/classify/reset never allocate\n");
#else
    printf("OK required_bytes == arena_bytes (malloc hook unavailable: not counted)\n");
#endif
    free(x);
}

static void test_errors(const model_t *mo)
{
    const size_t D = mo->m.D, C = mo->m.C;
    ruv_temporal_config_t cfg = {mo->m.D, 8, mo->m.C, RUV_MODE_WINDOW, false};
    ruv_temporal_ctx_t *ctx = (ruv_temporal_ctx_t *)(void *)&cfg; /* must be overwritten */
    const char *reason = NULL;
    size_t bytes = 1;

    /* init arguments */
    CHECK_ST(ruv_temporal_init_ex(mo->blob, mo->len, &cfg, NULL), RUV_ERR_INVALID_ARG);
    CHECK_ST(ruv_temporal_init_ex(mo->blob, mo->len, NULL, &ctx), RUV_ERR_INVALID_ARG);
    CHECK(ctx == NULL);
    CHECK_ST(ruv_temporal_required_bytes(mo->blob, mo->len, &cfg, NULL), RUV_ERR_INVALID_ARG);
    /* blob errors pass through with the blob's status and reason */
    uint8_t *bad = tb_dup(mo->blob, mo->len);
    bad[100] ^= 1u;
    CHECK_ST(ruv_temporal_init_ex(bad, mo->len, &cfg, &ctx), RUV_ERR_INVALID_CRC);
    CHECK_ST(ruv_temporal_check_config(bad, mo->len, &cfg, &bytes, &reason),
             RUV_ERR_INVALID_CRC);
    CHECK(reason != NULL && strcmp(reason, "crc_mismatch") == 0 && bytes == 0);
    CHECK_ST(ruv_temporal_init_ex(NULL, 0, &cfg, &ctx), RUV_ERR_INVALID_SIZE);
    CHECK_ST(ruv_temporal_init_ex(mo->blob, mo->len - 1, &cfg, &ctx), RUV_ERR_INVALID_SIZE);
    free(bad);
    /* config vs blob */
    struct {
        ruv_temporal_config_t c;
        ruv_status_t st;
        const char *reason;
    } cases[] = {
        {{(uint16_t)(D + 1), 8, (uint16_t)C, RUV_MODE_WINDOW, false}, RUV_ERR_INVALID_SIZE,
         "input_dim_mismatch"},
        {{(uint16_t)D, 8, (uint16_t)(C + 1), RUV_MODE_STREAM, false}, RUV_ERR_INVALID_SIZE,
         "n_classes_mismatch"},
        {{(uint16_t)D, 0, (uint16_t)C, RUV_MODE_WINDOW, false}, RUV_ERR_INVALID_ARG,
         "bad_window_len"},
        {{(uint16_t)D, 1, (uint16_t)C, RUV_MODE_STREAM, false}, RUV_ERR_INVALID_ARG,
         "bad_window_len"},
        {{(uint16_t)D, 1, (uint16_t)C, RUV_MODE_STREAM, true}, RUV_ERR_INVALID_ARG,
         "bad_window_len"},
        {{(uint16_t)D, 8, (uint16_t)C, (ruv_run_mode_t)7, false}, RUV_ERR_INVALID_ARG,
         "bad_mode"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; ++i) {
        ctx = NULL;
        CHECK_ST(ruv_temporal_init_ex(mo->blob, mo->len, &cases[i].c, &ctx), cases[i].st);
        CHECK(ctx == NULL);
        CHECK_ST(ruv_temporal_required_bytes(mo->blob, mo->len, &cases[i].c, &bytes),
                 cases[i].st);
        reason = NULL;
        CHECK_ST(ruv_temporal_check_config(mo->blob, mo->len, &cases[i].c, NULL, &reason),
                 cases[i].st);
        CHECK(reason != NULL && strcmp(reason, cases[i].reason) == 0);
    }
    ruv_temporal_config_t ok1 = {(uint16_t)D, 1, (uint16_t)C, RUV_MODE_WINDOW, false};
    CHECK_ST(ruv_temporal_init_ex(mo->blob, mo->len, &ok1, &ctx), RUV_OK);
    ruv_temporal_destroy(ctx);
    ok1.window_len = 2;
    ok1.mode = RUV_MODE_STREAM;
    CHECK_ST(ruv_temporal_init_ex(mo->blob, mo->len, &ok1, &ctx), RUV_OK);
    ruv_temporal_destroy(ctx);
    /* unaligned blob: INVALID_ARG "blob_unaligned" (blob_info itself is fine) */
    uint8_t *raw = (uint8_t *)malloc(mo->len + 4);
    memcpy(raw + 1, mo->blob, mo->len);
    CHECK_ST(ruv_temporal_blob_info(raw + 1, mo->len, NULL, NULL), RUV_OK);
    CHECK_ST(ruv_temporal_init_ex(raw + 1, mo->len, &cfg, &ctx), RUV_ERR_INVALID_ARG);
    CHECK_ST(ruv_temporal_check_config(raw + 1, mo->len, &cfg, NULL, &reason),
             RUV_ERR_INVALID_ARG);
    CHECK(strcmp(reason, "blob_unaligned") == 0);
    free(raw);
    /* malloc failure: NO_MEM, no context */
#ifdef TEST_MALLOC_HOOK
    g_fail_next_malloc = 1;
    ctx = (ruv_temporal_ctx_t *)(void *)&cfg;
    CHECK_ST(ruv_temporal_init_ex(mo->blob, mo->len, &cfg, &ctx), RUV_ERR_NO_MEM);
    CHECK(ctx == NULL);
    g_fail_next_malloc = 0;
    g_fail_next_malloc = 1;
    CHECK(ruv_temporal_self_test() == RUV_ERR_NO_MEM);
    g_fail_next_malloc = 0;
#endif

    /* per-frame calls */
    float frame[64] = {0}, lg[16], state[64];
    CHECK_ST(ruv_temporal_push(NULL, frame), RUV_ERR_INVALID_ARG);
    CHECK_ST(ruv_temporal_classify(NULL, lg, C), RUV_ERR_INVALID_ARG);
    CHECK_ST(ruv_temporal_layer_state(NULL, 0, state, D), RUV_ERR_INVALID_ARG);
    CHECK_ST(ruv_temporal_reset(NULL), RUV_ERR_INVALID_ARG);
    ruv_temporal_stats_t stats;
    ruv_model_info_t info;
    ruv_temporal_config_t got;
    CHECK_ST(ruv_temporal_get_stats(NULL, &stats), RUV_ERR_INVALID_ARG);
    CHECK_ST(ruv_temporal_get_info(NULL, &info), RUV_ERR_INVALID_ARG);
    CHECK_ST(ruv_temporal_get_config(NULL, &got), RUV_ERR_INVALID_ARG);
    ruv_temporal_destroy(NULL);
    for (int mode = 0; mode < 2; ++mode) {
        cfg.mode = mode == 0 ? RUV_MODE_WINDOW : RUV_MODE_STREAM;
        cfg.kv_fp16 = mode == 1;
        CHECK_ST(ruv_temporal_init_ex(mo->blob, mo->len, &cfg, &ctx), RUV_OK);
        CHECK_ST(ruv_temporal_get_stats(ctx, NULL), RUV_ERR_INVALID_ARG);
        CHECK_ST(ruv_temporal_get_info(ctx, NULL), RUV_ERR_INVALID_ARG);
        CHECK_ST(ruv_temporal_get_config(ctx, NULL), RUV_ERR_INVALID_ARG);
        CHECK_ST(ruv_temporal_get_config(ctx, &got), RUV_OK);
        CHECK(got.input_dim == D && got.window_len == 8 && got.n_classes == C &&
              got.mode == cfg.mode && got.kv_fp16 == cfg.kv_fp16);
        CHECK_ST(ruv_temporal_get_info(ctx, &info), RUV_OK);
        CHECK(info.input_dim == D && info.n_classes == C && info.crc32 == tb_get32(mo->blob +
                                                                                   mo->len - 4));
        CHECK_ST(ruv_temporal_classify(ctx, lg, C), RUV_ERR_INVALID_STATE);
        CHECK_ST(ruv_temporal_layer_state(ctx, 0, state, D), RUV_ERR_INVALID_STATE);
        CHECK_ST(ruv_temporal_push(ctx, NULL), RUV_ERR_INVALID_ARG);
        CHECK_ST(ruv_temporal_push(ctx, frame), RUV_OK);
        if (mode == 0) { /* window: the state comes with classify */
            CHECK_ST(ruv_temporal_layer_state(ctx, 0, state, D), RUV_ERR_INVALID_STATE);
        }
        CHECK_ST(ruv_temporal_classify(ctx, NULL, C), RUV_ERR_INVALID_ARG);
        CHECK_ST(ruv_temporal_classify(ctx, lg, C - 1), RUV_ERR_INVALID_SIZE);
        CHECK_ST(ruv_temporal_classify(ctx, lg, C + 1), RUV_ERR_INVALID_SIZE);
        CHECK_ST(ruv_temporal_classify(ctx, lg, C), RUV_OK);
        CHECK_ST(ruv_temporal_layer_state(ctx, 0, state, D), RUV_OK);
        CHECK_ST(ruv_temporal_layer_state(ctx, mo->m.L, state, D), RUV_OK);
        CHECK_ST(ruv_temporal_layer_state(ctx, (uint16_t)(mo->m.L + 1), state, D),
                 RUV_ERR_INVALID_ARG);
        CHECK_ST(ruv_temporal_layer_state(ctx, 0, state, D - 1), RUV_ERR_INVALID_SIZE);
        CHECK_ST(ruv_temporal_layer_state(ctx, 0, NULL, D), RUV_ERR_INVALID_ARG);
        CHECK_ST(ruv_temporal_get_stats(ctx, &stats), RUV_OK);
        CHECK(stats.frames_pushed == 1 && stats.classifications == 1);
        /* reset: back to "no frame", counters cleared, same results again */
        float first[16];
        memcpy(first, lg, sizeof first);
        CHECK_ST(ruv_temporal_reset(ctx), RUV_OK);
        CHECK_ST(ruv_temporal_classify(ctx, lg, C), RUV_ERR_INVALID_STATE);
        CHECK_ST(ruv_temporal_layer_state(ctx, 0, state, D), RUV_ERR_INVALID_STATE);
        CHECK_ST(ruv_temporal_get_stats(ctx, &stats), RUV_OK);
        CHECK(stats.frames_pushed == 0 && stats.classifications == 0 && stats.rebases == 0 &&
              stats.frames_in_ring == 0 && stats.context_len == 0 && stats.arena_bytes > 0);
        CHECK_ST(ruv_temporal_push(ctx, frame), RUV_OK);
        CHECK_ST(ruv_temporal_classify(ctx, lg, C), RUV_OK);
        CHECK(memcmp(first, lg, C * sizeof(float)) == 0);
        ruv_temporal_destroy(ctx);
    }
    /* the original entry point: window mode */
    CHECK_ST(ruv_temporal_init(mo->blob, mo->len, mo->m.D, 4, mo->m.C, &ctx), RUV_OK);
    CHECK_ST(ruv_temporal_get_config(ctx, &got), RUV_OK);
    CHECK(got.mode == RUV_MODE_WINDOW && !got.kv_fp16 && got.window_len == 4);
    ruv_temporal_destroy(ctx);
    CHECK_ST(ruv_temporal_init(mo->blob, mo->len, (uint16_t)(mo->m.D + 1), 4, mo->m.C, &ctx),
             RUV_ERR_INVALID_SIZE);
    printf("OK error paths: init/config checks with reasons, push/classify/layer_state, reset\n");
}

/* ATTN globals: more than RUV_MAX_GLOBALS distinct ones below N are refused;
 * globals >= N are irrelevant and dropped. */
static void test_globals(void)
{
    model_t mo;
    model_sections(&mo, false, false, false, false);
    uint8_t attn[8 + 2 * 12] = {4, 0, 2, 0, 1, 1, 1, 12};
    for (int i = 0; i < 12; ++i) {
        tb_put16(attn + 8 + 2 * i, (uint16_t)(i < 2 ? 3 : 10 + i)); /* 3, 3, 12..21 */
    }
    tb_section_t sec = {3, attn, sizeof attn};
    static uint8_t buf[65536];
    size_t len = tb_build(buf, sizeof buf, mo.m, false, mo.w, &sec, 1, false);
    uint8_t *b = tb_dup(buf, len);
    ruv_temporal_config_t cfg = {mo.m.D, 64, mo.m.C, RUV_MODE_WINDOW, false};
    ruv_temporal_ctx_t *ctx = NULL;
    const char *reason = NULL;
    /* distinct: 3, 12..21 = 11 > 8 below N=64 */
    CHECK_ST(ruv_temporal_check_config(b, len, &cfg, NULL, &reason), RUV_ERR_NOT_SUPPORTED);
    CHECK(strcmp(reason, "too_many_globals") == 0);
    CHECK_ST(ruv_temporal_init_ex(b, len, &cfg, &ctx), RUV_ERR_NOT_SUPPORTED);
    /* N=17: 3, 12..16 remain (6) */
    cfg.window_len = 17;
    CHECK_ST(ruv_temporal_init_ex(b, len, &cfg, &ctx), RUV_OK);
    ruv_model_info_t info;
    CHECK_ST(ruv_temporal_get_info(ctx, &info), RUV_OK);
    CHECK(info.attn.n_globals == 6 && info.attn.globals[0] == 3 && info.attn.globals[5] == 16 &&
          info.attn.window == 4 && info.attn.block_size == 2);
    /* and the model equals the reference with all 12 globals given to the kernel
     * would be impossible (RUV_MAX_GLOBALS); the reduced set is equivalent */
    mo.cfg = info.attn;
    free(mo.blob);
    mo.blob = b;
    mo.len = len;
    ruv_temporal_destroy(ctx);
    test_window_vs_reference(&mo, "ATTN globals beyond N dropped", 17, 25);
    model_free(&mo);
    printf("OK ATTN globals: > %d distinct below N refused (NOT_SUPPORTED), >= N dropped\n",
           RUV_MAX_GLOBALS);
}

int main(void)
{
    model_t spec;
    model_spec(&spec);
    CHECK_ST(ruv_temporal_self_test(), RUV_OK);
    printf("OK ruv_temporal_self_test\n");

    test_window_vs_reference(&spec, "init random blob", 16, 40);
    test_window_vs_reference(&spec, "init random blob", 1, 5);
    test_window_vs_stream(&spec, 16);
    test_stream_rebases(&spec, 16, 64, false);
    test_stream_rebases(&spec, 5, 40, false);
    test_stream_rebases(&spec, 2, 20, false);
    test_stream_rebases(&spec, 16, 64, true);

    model_t sec;
    model_sections(&sec, false, true, true, true);
    test_window_vs_reference(&sec, "NORM+BIAS+ATTN, GQA 4/2, L=3", 20, 45);
    test_window_vs_stream(&sec, 20);
    test_stream_rebases(&sec, 9, 50, false);
    test_stream_rebases(&sec, 8, 50, true);
    model_free(&sec);
    model_sections(&sec, false, true, false, false);
    test_window_vs_reference(&sec, "NORM only, aether attention", 33, 40);
    model_free(&sec);

    test_fp16_weights();
    test_fp16_kv(&spec);
    test_globals();
    test_memory(&spec);
    test_errors(&spec);
    model_free(&spec);

    if (g_failures != 0) {
        fprintf(stderr, "test_model: %d failure(s)\n", g_failures);
        return 1;
    }
    printf("OK test_model\n");
    return 0;
}
