/*
 * bench_core.c — wall-clock benchmarks of the C core on the host.
 *
 *   bench_core fwd    [--sizes 64,128,...] [--reps R] [--min-ms T]
 *   bench_core decode [--contexts 256,...] [--tokens M] [--reps R] [--min-ms T]
 *   bench_core model  [--N 256] [--frames F] [--reps R] [--min-ms T]
 *   bench_core mem    [--N 256]
 *
 * Every result is one JSON object per line on stdout (tools/bench_core.py
 * reads them and prints the tables). Method: inputs are generated once
 * (xorshift64*, fixed seeds) and shared by every variant of a measurement;
 * one warm-up call, then the number of calls per sample is calibrated so a
 * sample lasts >= min-ms; samples of the variants being compared are taken
 * interleaved (A B C A B C ...), and the median of `reps` samples is
 * reported (and the minimum). Single thread. Every sample is timed with two
 * clocks: CLOCK_THREAD_CPUTIME_ID ("cpu": the thread's CPU time, not
 * inflated when a loaded machine deschedules it) and CLOCK_MONOTONIC
 * ("wall"); tools/bench_core.py reports cpu by default. The clocks' own
 * cost (measured at start) is subtracted from every timed interval.
 *
 * fwd: ruv_sparse_attention vs ruv_dense_attention (the core's dense
 * reference, unchanged) with the original benchmark's config (4 q heads,
 * 4 kv heads, head dim 32, W=16, B=32, causal, globals [0], log_stride,
 * landmarks); also vs "dense1", a one-pass dense written here (scores of a
 * row computed once into a buffer, then max, exp, weighted sum) as a second,
 * stricter baseline: the core's dense computes every score twice.
 */
#define _POSIX_C_SOURCE 199309L

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "bench_util.h"
#include "ruv_kernel.h"
#include "ruv_temporal.h"

#define MAX_REPS 101u
#define MAX_LIST 32u
#define MAX_JOBS 4u

typedef void (*bench_fn_t)(void *arg);

typedef struct {
    const char *name;
    bench_fn_t fn;
    void *arg;
    size_t iters;
    double cpu[MAX_REPS], wall[MAX_REPS];
    double cpu_med, cpu_min, wall_med, wall_min;
} job_t;

/* Seconds one bench_cpu() + bench_now() pair costs (subtracted from every
 * timed interval). */
static double g_clock_cost;

typedef struct {
    double cpu, wall;
} stamp_t;

static stamp_t stamp(void)
{
    stamp_t t;
    t.wall = bench_now();
    t.cpu = bench_cpu();
    return t;
}

/* Elapsed since t0 (both clocks), minus the clocks' own cost. */
static stamp_t since(stamp_t t0)
{
    stamp_t t = stamp();
    t.cpu = t.cpu - t0.cpu - g_clock_cost;
    t.wall = t.wall - t0.wall - g_clock_cost;
    if (t.cpu < 0.0) {
        t.cpu = 0.0;
    }
    if (t.wall < 0.0) {
        t.wall = 0.0;
    }
    return t;
}

static void measure_clock_cost(void)
{
    double v[101];
    size_t r, i;
    for (r = 0u; r < 101u; r++) {
        double t0 = bench_now();
        for (i = 0u; i < 100u; i++) {
            (void)stamp();
        }
        v[r] = (bench_now() - t0) / 100.0;
    }
    g_clock_cost = bench_median(v, 101u);
}

static size_t clamp_reps(size_t reps)
{
    return reps < 1u ? 1u : (reps > MAX_REPS ? MAX_REPS : reps);
}

/* Warm-up, calibration (calls per sample so a sample lasts >= min_s of
 * CPU time), then reps interleaved samples of every job; median and min
 * seconds per call on both clocks. */
static void time_jobs(job_t *jobs, size_t n_jobs, size_t reps, double min_s)
{
    size_t j, r, i;
    reps = clamp_reps(reps);
    for (j = 0u; j < n_jobs; j++) {
        job_t *jb = &jobs[j];
        jb->fn(jb->arg); /* warm-up */
        jb->iters = 1u;
        for (;;) {
            stamp_t t0 = stamp(), dt;
            for (i = 0u; i < jb->iters; i++) {
                jb->fn(jb->arg);
            }
            dt = since(t0);
            if (dt.cpu >= min_s || jb->iters >= ((size_t)1 << 30)) {
                break;
            }
            if (dt.cpu <= min_s / 100.0) {
                jb->iters *= 100u;
            } else {
                jb->iters = (size_t)((double)jb->iters * (min_s * 1.2) / dt.cpu) + 1u;
            }
        }
    }
    for (r = 0u; r < reps; r++) {
        for (j = 0u; j < n_jobs; j++) {
            job_t *jb = &jobs[j];
            stamp_t t0 = stamp(), dt;
            for (i = 0u; i < jb->iters; i++) {
                jb->fn(jb->arg);
            }
            dt = since(t0);
            jb->cpu[r] = dt.cpu / (double)jb->iters;
            jb->wall[r] = dt.wall / (double)jb->iters;
        }
    }
    for (j = 0u; j < n_jobs; j++) {
        double tmp[MAX_REPS];
        memcpy(tmp, jobs[j].cpu, reps * sizeof tmp[0]);
        jobs[j].cpu_med = bench_median(tmp, reps);
        jobs[j].cpu_min = tmp[0];
        memcpy(tmp, jobs[j].wall, reps * sizeof tmp[0]);
        jobs[j].wall_med = bench_median(tmp, reps);
        jobs[j].wall_min = tmp[0];
    }
}

/* ,"<name>_s":cpu median,"<name>_min_s":..,"<name>_wall_s":..,"<name>_iters":.. */
static void print_job(const job_t *jb)
{
    printf(",\"%s_s\":%.9g,\"%s_min_s\":%.9g,\"%s_wall_s\":%.9g,\"%s_wall_min_s\":%.9g,"
           "\"%s_iters\":%zu",
           jb->name, jb->cpu_med, jb->name, jb->cpu_min, jb->name, jb->wall_med, jb->name,
           jb->wall_min, jb->name, jb->iters);
}

static float *alloc_floats(size_t n)
{
    float *p = (float *)calloc(n == 0u ? 1u : n, sizeof(float));
    if (p == NULL) {
        fprintf(stderr, "out of memory (%zu floats)\n", n);
        exit(1);
    }
    return p;
}

static float max_abs_diff(const float *a, const float *b, size_t n)
{
    float worst = 0.0f;
    size_t i;
    for (i = 0u; i < n; i++) {
        float d = fabsf(a[i] - b[i]);
        if (!(d <= worst)) {
            worst = d;
        }
    }
    return worst;
}

/* ---- fwd ------------------------------------------------------------------ */

typedef struct {
    ruv_attn_cfg_t cfg;
    const float *q, *k, *v;
    size_t n, qh, kvh, dim;
    float *out, *scratch, *scores;
    size_t scratch_floats;
} fwd_arg_t;

static void run_sparse(void *p)
{
    fwd_arg_t *a = (fwd_arg_t *)p;
    bench_check(ruv_sparse_attention(&a->cfg, a->q, a->k, a->v, a->n, a->qh, a->kvh, a->dim,
                                     a->out, a->scratch, a->scratch_floats),
                "ruv_sparse_attention");
}

static void run_dense(void *p)
{
    fwd_arg_t *a = (fwd_arg_t *)p;
    bench_check(ruv_dense_attention(a->q, a->k, a->v, a->n, a->qh, a->kvh, a->dim, true, a->out),
                "ruv_dense_attention");
}

static void run_dense1(void *p)
{
    fwd_arg_t *a = (fwd_arg_t *)p;
    bench_dense1(a->q, a->k, a->v, a->n, a->qh, a->kvh, a->dim, a->out, a->scores);
}

static int cmd_fwd(int argc, char **argv)
{
    size_t sizes[MAX_LIST], n_sizes, s;
    const size_t reps = bench_arg_size(argc, argv, "--reps", 7u);
    const double min_s = (double)bench_arg_size(argc, argv, "--min-ms", 50u) * 1e-3;
    const size_t qh = 4u, kvh = 4u, dim = 32u;
    const ruv_attn_cfg_t cfg = bench_cfg_orig();

    n_sizes = bench_parse_list(bench_arg(argc, argv, "--sizes", "64,128,256,512,1024,2048,4096"),
                               sizes, MAX_LIST);
    if (n_sizes == 0u) {
        fprintf(stderr, "bad --sizes\n");
        return 2;
    }
    for (s = 0u; s < n_sizes; s++) {
        const size_t n = sizes[s];
        uint64_t seed = UINT64_C(0xB3AC0DE000000001) ^ (uint64_t)n;
        fwd_arg_t base;
        fwd_arg_t a_sp, a_de, a_d1;
        job_t jobs[3];
        float *q = alloc_floats(n * qh * dim), *k = alloc_floats(n * kvh * dim);
        float *v = alloc_floats(n * kvh * dim);
        float *o_sp = alloc_floats(n * qh * dim), *o_de = alloc_floats(n * qh * dim);
        float *o_d1 = alloc_floats(n * qh * dim);
        const size_t nsc = ruv_sparse_scratch_floats(&cfg, n, kvh, dim);
        float *scratch = alloc_floats(nsc), *scores = alloc_floats(n);
        size_t tk_cap = ruv_candidate_tokens_cap(&cfg, n);
        const uint64_t edges = ruv_estimate_sparse_edges(&cfg, n);
        const uint64_t pairs = (uint64_t)n * ((uint64_t)n + 1u) / 2u;

        bench_fill(q, n * qh * dim, &seed, 10.0f);
        bench_fill(k, n * kvh * dim, &seed, 10.0f);
        bench_fill(v, n * kvh * dim, &seed, 10.0f);
        memset(&base, 0, sizeof base);
        base.cfg = cfg;
        base.q = q;
        base.k = k;
        base.v = v;
        base.n = n;
        base.qh = qh;
        base.kvh = kvh;
        base.dim = dim;
        base.scratch = scratch;
        base.scratch_floats = nsc;
        base.scores = scores;
        a_sp = base;
        a_sp.out = o_sp;
        a_de = base;
        a_de.out = o_de;
        a_d1 = base;
        a_d1.out = o_d1;
        memset(jobs, 0, sizeof jobs);
        jobs[0].name = "sparse";
        jobs[0].fn = run_sparse;
        jobs[0].arg = &a_sp;
        jobs[1].name = "dense";
        jobs[1].fn = run_dense;
        jobs[1].arg = &a_de;
        jobs[2].name = "dense1";
        jobs[2].fn = run_dense1;
        jobs[2].arg = &a_d1;
        time_jobs(jobs, 3u, reps, min_s);
        printf("{\"kind\":\"fwd\",\"n\":%zu,\"q_heads\":%zu,\"kv_heads\":%zu,\"dim\":%zu,"
               "\"window\":%u,\"block\":%u,\"reps\":%zu",
               n, qh, kvh, dim, (unsigned)cfg.window, (unsigned)cfg.block_size,
               clamp_reps(reps));
        print_job(&jobs[0]);
        print_job(&jobs[1]);
        print_job(&jobs[2]);
        printf(",\"sparse_edges\":%llu,\"dense_pairs\":%llu,\"tokens_cap\":%zu,"
               "\"dense_vs_dense1_maxdiff\":%.3g,\"sparse_vs_dense_maxdiff\":%.3g}\n",
               (unsigned long long)edges, (unsigned long long)pairs, tk_cap,
               (double)max_abs_diff(o_de, o_d1, n * qh * dim),
               (double)max_abs_diff(o_sp, o_de, n * qh * dim));
        fflush(stdout);
        free(q);
        free(k);
        free(v);
        free(o_sp);
        free(o_de);
        free(o_d1);
        free(scratch);
        free(scores);
    }
    return 0;
}

/* ---- decode ----------------------------------------------------------------- */

typedef struct {
    const char *name;
    size_t qh, kvh, dim;
    ruv_attn_cfg_t cfg;
} head_cfg_t;

/* Per-token cost of the last `m` tokens of a context of `ctx` rows: the cache
 * (capacity ctx) is cleared and refilled to ctx - m rows untimed, then m
 * times append + ruv_decode_step is timed; repeated until the timed CPU
 * time reaches min_s. Seconds per token (both clocks). */
static stamp_t decode_sample(const head_cfg_t *hc, ruv_kv_cache_t *cache, const float *k,
                             const float *v, const float *q, size_t ctx, size_t m, float *out,
                             double min_s)
{
    const size_t kvd = hc->kvh * hc->dim, qd = hc->qh * hc->dim;
    size_t t, rounds = 0u;
    stamp_t timed = {0.0, 0.0};
    do {
        stamp_t t0, dt;
        ruv_kv_cache_clear(cache);
        for (t = 0u; t < ctx - m; t++) {
            bench_check(ruv_kv_cache_append(cache, k + t * kvd, v + t * kvd), "append");
        }
        t0 = stamp();
        for (t = ctx - m; t < ctx; t++) {
            bench_check(ruv_kv_cache_append(cache, k + t * kvd, v + t * kvd), "append");
            bench_check(ruv_decode_step(&hc->cfg, cache, q + (t - (ctx - m)) * qd, hc->qh, out),
                        "ruv_decode_step");
        }
        dt = since(t0);
        timed.cpu += dt.cpu;
        timed.wall += dt.wall;
        rounds++;
    } while (timed.cpu < min_s);
    timed.cpu /= (double)(m * rounds);
    timed.wall /= (double)(m * rounds);
    return timed;
}

static int cmd_decode(int argc, char **argv)
{
    size_t ctxs[MAX_LIST], n_ctx, c, h, r, f;
    const size_t reps = clamp_reps(bench_arg_size(argc, argv, "--reps", 7u));
    const size_t tokens = bench_arg_size(argc, argv, "--tokens", 64u);
    const double min_s = (double)bench_arg_size(argc, argv, "--min-ms", 20u) * 1e-3;
    head_cfg_t heads[2];
    size_t max_ctx = 0u;

    n_ctx = bench_parse_list(bench_arg(argc, argv, "--contexts",
                                       "256,512,1024,2048,4096,8192,16384"),
                             ctxs, MAX_LIST);
    if (n_ctx == 0u || tokens == 0u) {
        fprintf(stderr, "bad --contexts or --tokens\n");
        return 2;
    }
    for (c = 0u; c < n_ctx; c++) {
        max_ctx = ctxs[c] > max_ctx ? ctxs[c] : max_ctx;
    }
    heads[0].name = "orig";
    heads[0].qh = 4u;
    heads[0].kvh = 4u;
    heads[0].dim = 32u;
    heads[0].cfg = bench_cfg_orig();
    heads[1].name = "device";
    heads[1].qh = BENCH_QH;
    heads[1].kvh = BENCH_KVH;
    heads[1].dim = BENCH_HD;
    heads[1].cfg = ruv_attn_aether();

    for (h = 0u; h < 2u; h++) {
        const head_cfg_t *hc = &heads[h];
        const size_t kvd = hc->kvh * hc->dim, qd = hc->qh * hc->dim;
        uint64_t seed = UINT64_C(0xDEC0DE0000000001) + h;
        float *k = alloc_floats(max_ctx * kvd), *v = alloc_floats(max_ctx * kvd);
        float *q = alloc_floats(tokens * qd), *out = alloc_floats(qd);
        bench_fill(k, max_ctx * kvd, &seed, 10.0f);
        bench_fill(v, max_ctx * kvd, &seed, 10.0f);
        bench_fill(q, tokens * qd, &seed, 10.0f);
        for (c = 0u; c < n_ctx; c++) {
            const size_t ctx = ctxs[c];
            const size_t m = tokens < ctx ? tokens : ctx;
            ruv_kv_cache_t caches[2];
            void *mem[2];
            double cpu[2][MAX_REPS], wall[2][MAX_REPS], med[2], wmed[2];
            uint32_t *tok = (uint32_t *)malloc(ruv_candidate_tokens_cap(&hc->cfg, ctx) * 4u + 4u);
            uint32_t *blk = (uint32_t *)malloc(ruv_candidate_blocks_cap(&hc->cfg, ctx) * 4u + 4u);
            size_t n_tok = 0u, n_blk = 0u;
            if (tok == NULL || blk == NULL) {
                fprintf(stderr, "out of memory\n");
                return 1;
            }
            bench_check(ruv_candidates(&hc->cfg, ctx - 1u, ctx, tok, &n_tok, blk, &n_blk),
                        "ruv_candidates");
            for (f = 0u; f < 2u; f++) {
                const size_t bytes = ruv_kv_cache_bytes(ctx, hc->kvh, hc->dim,
                                                        hc->cfg.block_size, f == 1u);
                mem[f] = malloc(bytes);
                if (mem[f] == NULL) {
                    fprintf(stderr, "out of memory\n");
                    return 1;
                }
                bench_check(ruv_kv_cache_init(&caches[f], mem[f], bytes, ctx, hc->kvh, hc->dim,
                                              hc->cfg.block_size, f == 1u),
                            "ruv_kv_cache_init");
                (void)decode_sample(hc, &caches[f], k, v, q, ctx, m, out, 0.0); /* warm-up */
            }
            for (r = 0u; r < reps; r++) {
                for (f = 0u; f < 2u; f++) {
                    const stamp_t x = decode_sample(hc, &caches[f], k, v, q, ctx, m, out, min_s);
                    cpu[f][r] = x.cpu;
                    wall[f][r] = x.wall;
                }
            }
            for (f = 0u; f < 2u; f++) {
                med[f] = bench_median(cpu[f], reps);
                wmed[f] = bench_median(wall[f], reps);
            }
            printf("{\"kind\":\"decode\",\"config\":\"%s\",\"q_heads\":%zu,\"kv_heads\":%zu,"
                   "\"dim\":%zu,\"window\":%u,\"block\":%u,\"ctx\":%zu,\"tokens\":%zu,"
                   "\"reps\":%zu,\"fp32_s\":%.9g,\"fp16_s\":%.9g,\"fp32_wall_s\":%.9g,"
                   "\"fp16_wall_s\":%.9g,\"cand_tokens\":%zu,"
                   "\"cand_blocks\":%zu,\"cache_bytes_fp32\":%zu,\"cache_bytes_fp16\":%zu}\n",
                   hc->name, hc->qh, hc->kvh, hc->dim, (unsigned)hc->cfg.window,
                   (unsigned)hc->cfg.block_size, ctx, m, reps, med[0], med[1], wmed[0], wmed[1],
                   n_tok, n_blk,
                   ruv_kv_cache_bytes(ctx, hc->kvh, hc->dim, hc->cfg.block_size, false),
                   ruv_kv_cache_bytes(ctx, hc->kvh, hc->dim, hc->cfg.block_size, true));
            fflush(stdout);
            free(mem[0]);
            free(mem[1]);
            free(tok);
            free(blk);
        }
        free(k);
        free(v);
        free(q);
        free(out);
    }
    return 0;
}

/* ---- model -------------------------------------------------------------------- */

typedef struct {
    ruv_temporal_ctx_t *ctx;
    float logits[BENCH_C];
} classify_arg_t;

static void run_classify(void *p)
{
    classify_arg_t *a = (classify_arg_t *)p;
    bench_check(ruv_temporal_classify(a->ctx, a->logits, BENCH_C), "ruv_temporal_classify");
}

/* Stream mode, one repeat: N warm-up pushes (caches full), then F pushes.
 * Which push rebases is known in advance (caches full before it: context
 * N, afterwards N/2 + 1), so runs of plain decode pushes are timed as one
 * interval and each rebasing push on its own; checked against the stats. */
typedef struct {
    stamp_t decode; /* per decode push (mean over the run) */
    stamp_t rebase; /* per rebasing push (mean) */
    stamp_t amortised;
    size_t n_rebase;
    double ctx_mean; /* mean context length before a decode push */
} stream_rep_t;

static stream_rep_t stream_rep(ruv_temporal_ctx_t *ctx, const float *frames, size_t N, size_t F)
{
    stream_rep_t out;
    ruv_temporal_stats_t st;
    stamp_t dec = {0.0, 0.0}, reb = {0.0, 0.0};
    size_t t = 0u, len, n_dec = 0u;
    uint32_t rebases0;
    double ctx_sum = 0.0;

    memset(&out, 0, sizeof out);
    bench_check(ruv_temporal_reset(ctx), "reset");
    for (t = 0u; t < N; t++) {
        bench_check(ruv_temporal_push(ctx, frames + t * BENCH_D), "push");
    }
    bench_check(ruv_temporal_get_stats(ctx, &st), "stats");
    rebases0 = st.rebases;
    len = st.context_len;
    frames += N * BENCH_D;
    t = 0u;
    while (t < F) {
        stamp_t t0, dt;
        if (len >= N) {
            t0 = stamp();
            bench_check(ruv_temporal_push(ctx, frames + t * BENCH_D), "push");
            dt = since(t0);
            reb.cpu += dt.cpu;
            reb.wall += dt.wall;
            out.n_rebase++;
            len = N / 2u + 1u;
            t++;
        } else {
            size_t run = N - len < F - t ? N - len : F - t, i;
            t0 = stamp();
            for (i = 0u; i < run; i++) {
                bench_check(ruv_temporal_push(ctx, frames + (t + i) * BENCH_D), "push");
            }
            dt = since(t0);
            dec.cpu += dt.cpu;
            dec.wall += dt.wall;
            ctx_sum += (double)run * ((double)len + (double)(run - 1u) * 0.5);
            n_dec += run;
            len += run;
            t += run;
        }
    }
    bench_check(ruv_temporal_get_stats(ctx, &st), "stats");
    if (st.rebases - rebases0 != out.n_rebase || st.context_len != len) {
        fprintf(stderr, "stream schedule mismatch: %u rebases (expected %zu), context %u (%zu)\n",
                (unsigned)(st.rebases - rebases0), out.n_rebase, (unsigned)st.context_len, len);
        exit(1);
    }
    out.amortised.cpu = (dec.cpu + reb.cpu) / (double)F;
    out.amortised.wall = (dec.wall + reb.wall) / (double)F;
    if (n_dec > 0u) {
        out.decode.cpu = dec.cpu / (double)n_dec;
        out.decode.wall = dec.wall / (double)n_dec;
        out.ctx_mean = ctx_sum / (double)n_dec;
    }
    if (out.n_rebase > 0u) {
        out.rebase.cpu = reb.cpu / (double)out.n_rebase;
        out.rebase.wall = reb.wall / (double)out.n_rebase;
    }
    return out;
}

static int cmd_model(int argc, char **argv)
{
    const size_t N = bench_arg_size(argc, argv, "--N", 256u);
    const size_t F = bench_arg_size(argc, argv, "--frames", 1000u);
    const size_t reps = clamp_reps(bench_arg_size(argc, argv, "--reps", 5u));
    const double min_s = (double)bench_arg_size(argc, argv, "--min-ms", 50u) * 1e-3;
    float *frames;
    uint64_t seed = UINT64_C(0xF4A3E5000000001);
    size_t w, mode, r, t;

    if (N < 2u || N > 65535u || F == 0u) {
        fprintf(stderr, "bad --N / --frames\n");
        return 2;
    }
    frames = alloc_floats((N + F) * BENCH_D);
    bench_fill(frames, (N + F) * BENCH_D, &seed, 20.0f);
    for (w = 0u; w < 2u; w++) {
        size_t blob_len = 0u;
        uint8_t *blob = bench_blob(w == 1u, &blob_len);
        if (blob == NULL) {
            fprintf(stderr, "blob\n");
            return 1;
        }
        /* window mode: classify over a full ring of N */
        {
            ruv_temporal_config_t cfg = {BENCH_D, (uint16_t)N, BENCH_C, RUV_MODE_WINDOW, false};
            classify_arg_t a;
            job_t job;
            bench_check(ruv_temporal_init_ex(blob, blob_len, &cfg, &a.ctx), "init window");
            for (t = 0u; t < N; t++) {
                bench_check(ruv_temporal_push(a.ctx, frames + t * BENCH_D), "push");
            }
            memset(&job, 0, sizeof job);
            job.name = "classify";
            job.fn = run_classify;
            job.arg = &a;
            time_jobs(&job, 1u, reps, min_s);
            printf("{\"kind\":\"model\",\"what\":\"classify\",\"weights\":\"%s\",\"N\":%zu,"
                   "\"reps\":%zu",
                   w ? "fp16" : "fp32", N, reps);
            print_job(&job);
            printf("}\n");
            fflush(stdout);
            ruv_temporal_destroy(a.ctx);
        }
        /* stream mode, FP32 and FP16 KV cache */
        for (mode = 0u; mode < 2u; mode++) {
            ruv_temporal_config_t cfg = {BENCH_D, (uint16_t)N, BENCH_C, RUV_MODE_STREAM,
                                         mode == 1u};
            ruv_temporal_ctx_t *ctx = NULL;
            double v[6][MAX_REPS];
            stream_rep_t x;
            memset(&x, 0, sizeof x);
            bench_check(ruv_temporal_init_ex(blob, blob_len, &cfg, &ctx), "init stream");
            (void)stream_rep(ctx, frames, N, F < N ? F : N); /* warm-up */
            for (r = 0u; r < reps; r++) {
                x = stream_rep(ctx, frames, N, F);
                v[0][r] = x.decode.cpu;
                v[1][r] = x.rebase.cpu;
                v[2][r] = x.amortised.cpu;
                v[3][r] = x.decode.wall;
                v[4][r] = x.rebase.wall;
                v[5][r] = x.amortised.wall;
            }
            printf("{\"kind\":\"model\",\"what\":\"stream\",\"weights\":\"%s\","
                   "\"kv\":\"%s\",\"N\":%zu,\"frames\":%zu,\"reps\":%zu,\"rebases\":%zu,"
                   "\"decode_ctx_mean\":%.1f,\"decode_push_s\":%.9g,\"rebase_push_s\":%.9g,"
                   "\"amortised_s\":%.9g,\"decode_push_wall_s\":%.9g,"
                   "\"rebase_push_wall_s\":%.9g,\"amortised_wall_s\":%.9g}\n",
                   w ? "fp16" : "fp32", mode ? "fp16" : "fp32", N, F, reps, x.n_rebase,
                   x.ctx_mean, bench_median(v[0], reps), bench_median(v[1], reps),
                   bench_median(v[2], reps), bench_median(v[3], reps),
                   bench_median(v[4], reps), bench_median(v[5], reps));
            fflush(stdout);
            ruv_temporal_destroy(ctx);
        }
        free(blob);
    }
    free(frames);
    return 0;
}

/* ---- mem ---------------------------------------------------------------------- */

static size_t round8(size_t x)
{
    return (x + 7u) & ~(size_t)7u;
}

static int cmd_mem(int argc, char **argv)
{
    const size_t N = bench_arg_size(argc, argv, "--N", 256u);
    size_t len32 = 0u, len16 = 0u, mode;
    uint8_t *b32 = bench_blob(false, &len32), *b16 = bench_blob(true, &len16);
    const ruv_attn_cfg_t attn = ruv_attn_aether(); /* the blob has no ATTN section */
    const size_t B = attn.block_size, D = BENCH_D, L = BENCH_L, C = BENCH_C;
    const size_t qd = BENCH_QH * BENCH_HD, kvd = BENCH_KVH * BENCH_HD;
    ruv_model_info_t info;

    if (b32 == NULL || b16 == NULL || N < 2u || N > 65535u) {
        fprintf(stderr, "blob / --N\n");
        return 1;
    }
    bench_check(ruv_temporal_blob_info(b16, len16, &info, NULL), "fp16 blob");
    bench_check(ruv_temporal_blob_info(b32, len32, &info, NULL), "fp32 blob");
    printf("{\"kind\":\"blob\",\"fp32_bytes\":%zu,\"fp16_bytes\":%zu,\"crc32\":\"0x%08X\","
           "\"window\":%u,\"block\":%u}\n",
           len32, len16, (unsigned)info.crc32, (unsigned)info.attn.window,
           (unsigned)info.attn.block_size);
    /* 0: window, 1: stream FP32 cache, 2: stream FP16 cache */
    for (mode = 0u; mode < 3u; mode++) {
        const bool stream = mode != 0u, fp16 = mode == 2u;
        ruv_temporal_config_t cfg = {BENCH_D, (uint16_t)N, BENCH_C,
                                     stream ? RUV_MODE_STREAM : RUV_MODE_WINDOW, fp16};
        ruv_temporal_ctx_t *ctx = NULL;
        ruv_temporal_stats_t st;
        size_t req = 0u;
        const size_t ring_rows = stream ? N / 2u : N;
        const size_t ring = ring_rows * D * 4u, h = ring_rows * D * 4u;
        const size_t rows = (2u * qd + 2u * kvd + D) * 4u, logits = C * 4u;
        const size_t states = (L + 1u) * D * 4u;
        size_t kv_structs = 0u, kv_caches = 0u, kv_rows = 0u, kv_means = 0u;
        size_t work = 0u, parts;
        /* window mode: the forward's needed-row bit sets, (L+1) x N bits */
        const size_t need = stream ? 0u : (L + 1u) * ((N + 7u) / 8u);
        if (stream) {
            const size_t one = ruv_kv_cache_bytes(N, BENCH_KVH, BENCH_HD, B, fp16);
            kv_structs = L * sizeof(ruv_kv_cache_t);
            kv_caches = L * round8(one);
            kv_means = L * 2u * ((N + B - 1u) / B) * kvd * 4u;
            kv_rows = L * 2u * N * kvd * (fp16 ? 2u : 4u);
            if (fp16) {
                work = ruv_kv_cache_bytes(N / 2u, BENCH_KVH, BENCH_HD, B, false);
            }
        } else {
            work = ruv_kv_cache_bytes(N, BENCH_KVH, BENCH_HD, B, false);
        }
        parts = ring + kv_structs + kv_caches + work + h + rows + logits + states + need;
        bench_check(ruv_temporal_required_bytes(b32, len32, &cfg, &req), "required_bytes");
        bench_check(ruv_temporal_init_ex(b32, len32, &cfg, &ctx), "init");
        bench_check(ruv_temporal_get_stats(ctx, &st), "stats");
        printf("{\"kind\":\"mem\",\"mode\":\"%s\",\"N\":%zu,\"required_bytes\":%zu,"
               "\"arena_bytes\":%zu,\"ring\":%zu,\"ring_rows\":%zu,\"kv_structs\":%zu,"
               "\"kv_caches\":%zu,\"kv_rows\":%zu,\"kv_means\":%zu,\"work_cache\":%zu,"
               "\"h\":%zu,\"row_scratch\":%zu,\"logits\":%zu,\"states\":%zu,\"need\":%zu,"
               "\"parts\":%zu,"
               "\"sizeof_kv_cache_t\":%zu}\n",
               stream ? (fp16 ? "stream_fp16" : "stream_fp32") : "window", N, req,
               st.arena_bytes, ring, ring_rows, kv_structs, kv_caches, kv_rows, kv_means, work,
               h, rows, logits, states, need, parts, sizeof(ruv_kv_cache_t));
        ruv_temporal_destroy(ctx);
    }
    free(b32);
    free(b16);
    return 0;
}

int main(int argc, char **argv)
{
    measure_clock_cost();
    if (argc >= 2 && strcmp(argv[1], "fwd") == 0) {
        return cmd_fwd(argc, argv);
    }
    if (argc >= 2 && strcmp(argv[1], "decode") == 0) {
        return cmd_decode(argc, argv);
    }
    if (argc >= 2 && strcmp(argv[1], "model") == 0) {
        return cmd_model(argc, argv);
    }
    if (argc >= 2 && strcmp(argv[1], "mem") == 0) {
        return cmd_mem(argc, argv);
    }
    fprintf(stderr,
            "usage: bench_core fwd [--sizes 64,...,4096] [--reps 7] [--min-ms 50]\n"
            "       bench_core decode [--contexts 256,...,16384] [--tokens 64] [--reps 7] [--min-ms 20]\n"
            "       bench_core model [--N 256] [--frames 1000] [--reps 5] [--min-ms 50]\n"
            "       bench_core mem [--N 256]\n"
            "One JSON object per line on stdout; see tools/bench_core.py.\n");
    return 2;
}
