/*
 * callgrind_driver.c — one measured region per run, for
 *
 *   valgrind --tool=callgrind --collect-atstart=no --toggle-collect=cg_region \
 *       callgrind_driver MODE [options]
 *
 * Everything outside cg_region() (blob generation, init, warm-up pushes) is
 * not counted; cg_region() runs exactly the measured calls, so the collected
 * instruction count (Ir) is theirs plus cg_region's own loop (mode "empty"
 * measures that: a few instructions). cg_region is noinline/noclone and
 * called through a volatile pointer so the compiler keeps its name.
 * (valgrind/callgrind.h client requests would do the same; --toggle-collect
 * needs no header.)
 *
 * Model: the docs/spec.md §5 random blob (D=16, 4 q / 1 kv heads, d=32, L=2, C=4,
 * no ATTN section: W=32, B=16), FP32 weights or --fp16-weights.
 * Modes:
 *   frame      stream mode: one push at context length --context (default
 *              192: caches partly full, no rebase)
 *   amortised  stream mode: --frames F pushes (default 1000) after N warm-up
 *              pushes (caches full), rebases included
 *   rebase     stream mode: the one push that rebases (caches full)
 *   classify   window mode: one classify over a full ring of N
 *   empty      the region with nothing in it
 *   sparse, dense, dense1
 *              one forward of the kernel benchmark (bench_core fwd: 4 q /
 *              4 kv heads, d=32, W=16, B=32, same inputs) at --n (1024):
 *              ruv_sparse_attention, ruv_dense_attention, bench_dense1
 *   decode     the last --tokens (64) tokens of a context of --ctx rows
 *              (KV capacity = ctx, append + ruv_decode_step each), config
 *              --config orig (4q/4kv, W=16, B=32) or device (4q/1kv, W=32,
 *              B=16), inputs as bench_core decode makes them (rows for
 *              --max-ctx 16384 generated, the first ctx used); --fp16-cache
 * Options: --N 256 (window length), --fp16-cache (stream), --fp16-weights.
 * Prints one JSON line (mode, frames, rebases, context before/after).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "bench_util.h"
#include "ruv_temporal.h"

#if defined(__clang__)
#define CG_NOINLINE __attribute__((noinline))
#elif defined(__GNUC__)
#define CG_NOINLINE __attribute__((noinline, noclone))
#else
#define CG_NOINLINE
#endif

typedef enum {
    JOB_EMPTY,
    JOB_PUSH,
    JOB_CLASSIFY,
    JOB_SPARSE,
    JOB_DENSE,
    JOB_DENSE1,
    JOB_DECODE
} job_kind_t;

typedef struct {
    job_kind_t kind;
    ruv_temporal_ctx_t *ctx;
    const float *frames; /* JOB_PUSH: count frames of BENCH_D */
    size_t count;
    float logits[BENCH_C];
    /* forward jobs */
    ruv_attn_cfg_t cfg;
    const float *q, *k, *v;
    float *out, *scratch, *scores;
    size_t n, scratch_floats;
    /* decode job: rows [first, first + count) of k/v appended and decoded */
    ruv_kv_cache_t *cache;
    size_t first, q_heads, kvd, qd;
    ruv_status_t status;
} cg_job_t;

#define FWD_QH 4u
#define FWD_KVH 4u
#define FWD_DIM 32u

void cg_region(cg_job_t *job);

/* The counted region. */
CG_NOINLINE void cg_region(cg_job_t *job)
{
    size_t i;
    ruv_status_t st = RUV_OK;
    if (job->kind == JOB_PUSH) {
        for (i = 0u; i < job->count && st == RUV_OK; i++) {
            st = ruv_temporal_push(job->ctx, job->frames + i * BENCH_D);
        }
    } else if (job->kind == JOB_CLASSIFY) {
        st = ruv_temporal_classify(job->ctx, job->logits, BENCH_C);
    } else if (job->kind == JOB_SPARSE) {
        st = ruv_sparse_attention(&job->cfg, job->q, job->k, job->v, job->n, FWD_QH, FWD_KVH,
                                  FWD_DIM, job->out, job->scratch, job->scratch_floats);
    } else if (job->kind == JOB_DENSE) {
        st = ruv_dense_attention(job->q, job->k, job->v, job->n, FWD_QH, FWD_KVH, FWD_DIM, true,
                                 job->out);
    } else if (job->kind == JOB_DECODE) {
        for (i = 0u; i < job->count && st == RUV_OK; i++) {
            const size_t t = job->first + i;
            st = ruv_kv_cache_append(job->cache, job->k + t * job->kvd, job->v + t * job->kvd);
            if (st == RUV_OK) {
                st = ruv_decode_step(&job->cfg, job->cache, job->q + i * job->qd, job->q_heads,
                                     job->out);
            }
        }
    } else if (job->kind == JOB_DENSE1) {
        bench_dense1(job->q, job->k, job->v, job->n, FWD_QH, FWD_KVH, FWD_DIM, job->out,
                     job->scores);
    }
    job->status = st;
}

static void (*volatile region)(cg_job_t *) = cg_region;

/* One forward of the kernel benchmark, inputs as bench_core fwd makes them. */
static int run_forward(const char *mode, size_t n)
{
    cg_job_t job;
    uint64_t seed = UINT64_C(0xB3AC0DE000000001) ^ (uint64_t)n;
    float *q, *k, *v;
    if (n == 0u || n > ((size_t)1 << 20)) {
        fprintf(stderr, "bad --n\n");
        return 2;
    }
    memset(&job, 0, sizeof job);
    job.cfg = bench_cfg_orig();
    job.n = n;
    job.kind = strcmp(mode, "sparse") == 0 ? JOB_SPARSE
                                           : (strcmp(mode, "dense") == 0 ? JOB_DENSE : JOB_DENSE1);
    job.scratch_floats = ruv_sparse_scratch_floats(&job.cfg, n, FWD_KVH, FWD_DIM);
    q = (float *)malloc(n * FWD_QH * FWD_DIM * sizeof(float));
    k = (float *)malloc(n * FWD_KVH * FWD_DIM * sizeof(float));
    v = (float *)malloc(n * FWD_KVH * FWD_DIM * sizeof(float));
    job.out = (float *)malloc(n * FWD_QH * FWD_DIM * sizeof(float));
    job.scratch = (float *)malloc((job.scratch_floats + 1u) * sizeof(float));
    job.scores = (float *)malloc(n * sizeof(float));
    if (q == NULL || k == NULL || v == NULL || job.out == NULL || job.scratch == NULL ||
        job.scores == NULL) {
        fprintf(stderr, "out of memory\n");
        return 1;
    }
    bench_fill(q, n * FWD_QH * FWD_DIM, &seed, 10.0f);
    bench_fill(k, n * FWD_KVH * FWD_DIM, &seed, 10.0f);
    bench_fill(v, n * FWD_KVH * FWD_DIM, &seed, 10.0f);
    job.q = q;
    job.k = k;
    job.v = v;
    region(&job);
    bench_check(job.status, mode);
    printf("{\"kind\":\"callgrind\",\"mode\":\"%s\",\"n\":%zu,\"q_heads\":%u,"
           "\"kv_heads\":%u,\"dim\":%u,\"sparse_edges\":%llu,\"out0\":%.9g}\n",
           mode, n, FWD_QH, FWD_KVH, FWD_DIM,
           (unsigned long long)ruv_estimate_sparse_edges(&job.cfg, n), (double)job.out[0]);
    free(q);
    free(k);
    free(v);
    free(job.out);
    free(job.scratch);
    free(job.scores);
    return 0;
}

/* Decode cost of the last `tokens` tokens of a context of `ctx` rows. */
static int run_decode(int argc, char **argv)
{
    const size_t ctx = bench_arg_size(argc, argv, "--ctx", 1024u);
    const size_t max_ctx = bench_arg_size(argc, argv, "--max-ctx", 16384u);
    const size_t tokens = bench_arg_size(argc, argv, "--tokens", 64u);
    const char *config = bench_arg(argc, argv, "--config", "orig");
    const bool fp16 = bench_flag(argc, argv, "--fp16-cache");
    const bool orig = strcmp(config, "orig") == 0;
    const size_t qh = orig ? 4u : BENCH_QH, kvh = orig ? 4u : BENCH_KVH, dim = 32u;
    uint64_t seed = UINT64_C(0xDEC0DE0000000001) + (orig ? 0u : 1u);
    const size_t kvd = kvh * dim, qd = qh * dim;
    const size_t m = tokens < ctx ? tokens : ctx;
    cg_job_t job;
    ruv_kv_cache_t cache;
    size_t bytes, t;
    void *mem;
    float *k, *v, *q, *out;

    if (!orig && strcmp(config, "device") != 0) {
        fprintf(stderr, "--config orig|device\n");
        return 2;
    }
    if (ctx == 0u || tokens == 0u || max_ctx < ctx) {
        fprintf(stderr, "need 0 < --ctx <= --max-ctx, --tokens > 0\n");
        return 2;
    }
    memset(&job, 0, sizeof job);
    job.cfg = orig ? bench_cfg_orig() : ruv_attn_aether();
    k = (float *)malloc(max_ctx * kvd * sizeof(float));
    v = (float *)malloc(max_ctx * kvd * sizeof(float));
    q = (float *)malloc(tokens * qd * sizeof(float));
    out = (float *)malloc(qd * sizeof(float));
    bytes = ruv_kv_cache_bytes(ctx, kvh, dim, job.cfg.block_size, fp16);
    mem = malloc(bytes);
    if (k == NULL || v == NULL || q == NULL || out == NULL || mem == NULL) {
        fprintf(stderr, "out of memory\n");
        return 1;
    }
    bench_fill(k, max_ctx * kvd, &seed, 10.0f);
    bench_fill(v, max_ctx * kvd, &seed, 10.0f);
    bench_fill(q, tokens * qd, &seed, 10.0f);
    bench_check(ruv_kv_cache_init(&cache, mem, bytes, ctx, kvh, dim, job.cfg.block_size, fp16),
                "ruv_kv_cache_init");
    for (t = 0u; t < ctx - m; t++) {
        bench_check(ruv_kv_cache_append(&cache, k + t * kvd, v + t * kvd), "append");
    }
    job.kind = JOB_DECODE;
    job.cache = &cache;
    job.k = k;
    job.v = v;
    job.q = q;
    job.out = out;
    job.first = ctx - m;
    job.count = m;
    job.q_heads = qh;
    job.kvd = kvd;
    job.qd = qd;
    region(&job);
    bench_check(job.status, "decode");
    printf("{\"kind\":\"callgrind\",\"mode\":\"decode\",\"config\":\"%s\",\"ctx\":%zu,"
           "\"tokens\":%zu,\"fp16_cache\":%s}\n",
           config, ctx, m, fp16 ? "true" : "false");
    free(k);
    free(v);
    free(q);
    free(out);
    free(mem);
    return 0;
}

int main(int argc, char **argv)
{
    const char *mode = argc >= 2 ? argv[1] : "";
    const size_t N = bench_arg_size(argc, argv, "--N", 256u);
    const size_t F = bench_arg_size(argc, argv, "--frames", 1000u);
    const size_t context = bench_arg_size(argc, argv, "--context", 192u);
    const bool fp16_cache = bench_flag(argc, argv, "--fp16-cache");
    const bool fp16_weights = bench_flag(argc, argv, "--fp16-weights");
    const bool stream = strcmp(mode, "frame") == 0 || strcmp(mode, "amortised") == 0 ||
                        strcmp(mode, "rebase") == 0;
    size_t warm = 0u, n_frames, blob_len = 0u, t;
    uint8_t *blob;
    float *frames;
    uint64_t seed = UINT64_C(0xC0FFEE0000000001);
    ruv_temporal_config_t cfg;
    ruv_temporal_stats_t before, after;
    cg_job_t job;

    if (strcmp(mode, "sparse") == 0 || strcmp(mode, "dense") == 0 ||
        strcmp(mode, "dense1") == 0) {
        return run_forward(mode, bench_arg_size(argc, argv, "--n", 1024u));
    }
    if (strcmp(mode, "decode") == 0) {
        return run_decode(argc, argv);
    }
    if (!stream && strcmp(mode, "classify") != 0 && strcmp(mode, "empty") != 0) {
        fprintf(stderr,
                "usage: callgrind_driver frame|amortised|rebase|classify|empty [--N 256]\n"
                "       [--context 192] [--frames 1000] [--fp16-cache] [--fp16-weights]\n"
                "       callgrind_driver sparse|dense|dense1 [--n 1024]\n"
                "       callgrind_driver decode [--ctx 1024] [--config orig|device]\n"
                "                        [--tokens 64] [--max-ctx 16384] [--fp16-cache]\n");
        return 2;
    }
    if (N < 2u || N > 65535u || (strcmp(mode, "frame") == 0 && (context < 1u || context >= N))) {
        fprintf(stderr, "bad --N / --context (frame mode needs 1 <= context < N)\n");
        return 2;
    }
    memset(&job, 0, sizeof job);
    if (strcmp(mode, "frame") == 0) {
        warm = context;
        job.count = 1u;
    } else if (strcmp(mode, "amortised") == 0) {
        warm = N;
        job.count = F;
    } else if (strcmp(mode, "rebase") == 0) {
        warm = N;
        job.count = 1u;
    } else {
        warm = N; /* classify: full ring */
    }
    n_frames = warm + job.count;
    frames = (float *)malloc(n_frames * BENCH_D * sizeof(float));
    blob = bench_blob(fp16_weights, &blob_len);
    if (frames == NULL || blob == NULL) {
        fprintf(stderr, "out of memory\n");
        return 1;
    }
    bench_fill(frames, n_frames * BENCH_D, &seed, 20.0f);
    cfg.input_dim = BENCH_D;
    cfg.window_len = (uint16_t)N;
    cfg.n_classes = BENCH_C;
    cfg.mode = stream ? RUV_MODE_STREAM : RUV_MODE_WINDOW;
    cfg.kv_fp16 = fp16_cache;
    bench_check(ruv_temporal_init_ex(blob, blob_len, &cfg, &job.ctx), "ruv_temporal_init_ex");
    for (t = 0u; t < warm; t++) {
        bench_check(ruv_temporal_push(job.ctx, frames + t * BENCH_D), "warm-up push");
    }
    bench_check(ruv_temporal_get_stats(job.ctx, &before), "stats");
    if (strcmp(mode, "classify") == 0) {
        job.kind = JOB_CLASSIFY;
    } else if (strcmp(mode, "empty") == 0) {
        job.kind = JOB_EMPTY;
    } else {
        job.kind = JOB_PUSH;
        job.frames = frames + warm * BENCH_D;
    }
    region(&job);
    bench_check(job.status, mode);
    bench_check(ruv_temporal_get_stats(job.ctx, &after), "stats");
    printf("{\"kind\":\"callgrind\",\"mode\":\"%s\",\"N\":%zu,\"fp16_cache\":%s,"
           "\"fp16_weights\":%s,\"frames\":%zu,\"rebases\":%u,\"context_before\":%u,"
           "\"context_after\":%u,\"frames_in_ring\":%u}\n",
           mode, N, fp16_cache ? "true" : "false", fp16_weights ? "true" : "false",
           job.kind == JOB_PUSH ? job.count : 0u, (unsigned)(after.rebases - before.rebases),
           (unsigned)before.context_len, (unsigned)after.context_len,
           (unsigned)after.frames_in_ring);
    ruv_temporal_destroy(job.ctx);
    free(blob);
    free(frames);
    return 0;
}
