/*
 * bench_util.h — helpers shared by the host benchmark programs
 * (bench_core.c, callgrind_driver.c): deterministic inputs, the docs/spec.md §5
 * random blob in FP32 and FP16, the benchmark's attention configs, a
 * monotonic clock and small argv helpers. Host only (POSIX clock_gettime).
 */
#ifndef RUV_BENCH_UTIL_H
#define RUV_BENCH_UTIL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "ruv_kernel.h"
#include "ruv_temporal.h"

/* Default on-device model (docs/spec.md §5 "init" blob dims). */
#define BENCH_D 16u
#define BENCH_QH 4u
#define BENCH_KVH 1u
#define BENCH_HD 32u
#define BENCH_L 2u
#define BENCH_C 4u

/* The original (upstream Rust) benchmark's attention config: W=16, B=32,
 * globals [0], causal, log_stride, landmarks (used with 4 q / 4 kv heads,
 * head dim 32). */
ruv_attn_cfg_t bench_cfg_orig(void);

/* x[n] = xorshift64* weights ((u - 0.5) * 0.2) times `scale`. */
void bench_fill(float *x, size_t n, uint64_t *state, float scale);

/* The docs/spec.md §5 random blob for the default model (FP32, 41,244 bytes), or
 * its FP16 conversion (same weights rounded to binary16, flags bit0, fresh
 * CRC). Returns a malloc'ed, 4-byte aligned buffer (free()), *len its size;
 * NULL on failure. */
uint8_t *bench_blob(bool fp16_weights, size_t *len);

/* The benchmark's second dense baseline, "dense1": one-pass causal softmax
 * attention (MHA or GQA, scale 1/sqrt(dim)); per (row, head) the scores are
 * computed once into scores[n], then max, ruv_expf weights and the weighted
 * sum of V (the core's ruv_dense_attention computes each score twice). Same
 * dot-product order as the core, so the two agree to rounding. */
void bench_dense1(const float *q, const float *k, const float *v, size_t n, size_t q_heads,
                  size_t kv_heads, size_t dim, float *out, float *scores);

/* Seconds of CLOCK_MONOTONIC (wall) and of CLOCK_THREAD_CPUTIME_ID (this
 * thread's CPU time: what a shared, loaded machine does not inflate by
 * descheduling; ~1 us per call, so only around whole samples). */
double bench_now(void);
double bench_cpu(void);

/* "64,128,256" -> out[] (at most cap values); returns the count (0 on a
 * malformed list). */
size_t bench_parse_list(const char *s, size_t *out, size_t cap);

/* argv helpers: value of "--name" (next argument) or def; flag presence. */
const char *bench_arg(int argc, char **argv, const char *name, const char *def);
size_t bench_arg_size(int argc, char **argv, const char *name, size_t def);
bool bench_flag(int argc, char **argv, const char *name);

/* Exits with a message when st != RUV_OK. */
void bench_check(ruv_status_t st, const char *what);

/* Median of v[0..n) (sorts v in place); 0 when n == 0. */
double bench_median(double *v, size_t n);

#endif /* RUV_BENCH_UTIL_H */
