/*
 * ruv_kernel.h — sparse grouped-query attention kernel (docs/spec.md §3).
 *
 * Pure C99, no ESP-IDF header, no allocation: every function works on
 * caller-owned memory whose size the matching *_bytes or *_cap function gives.
 * Tensors are float32 [seq][heads][dim], row-major. GQA: query head h reads
 * kv head h / (q_heads / kv_heads); MHA is q_heads == kv_heads.
 *
 * Sources: ruv_kernel.c holds the hot path (candidate sets, sparse forward,
 * KV cache, decode step); ruv_kernel_extras.c the optional upstream APIs
 * (gated and dense attention, H2O eviction, FastGRNN gate, keep masks).
 *
 * Numerics (docs/spec.md §10): exp is ruv_expf (no libm expf); the core is built
 * with -ffp-contract=off and without fast-math, so host and ESP32-S3 builds
 * give identical bits. Inner loops multiply by reciprocals, never divide.
 */
#ifndef RUV_KERNEL_H
#define RUV_KERNEL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "ruv_status.h"

#ifdef __cplusplus
extern "C" {
#endif

#define RUV_MAX_GLOBALS 8 /* global tokens a config may list */

/* Attention config (docs/spec.md §3). Library default: W=128, B=64, globals {0},
 * causal, log_stride, landmarks (ruv_attn_default); the model's default
 * without an ATTN section is W=32, B=16 (ruv_attn_aether). */
typedef struct {
    uint32_t window;     /* W; 0 is legal (only self in the window) */
    uint32_t block_size; /* B; must be > 0 */
    uint16_t globals[RUV_MAX_GLOBALS];
    uint8_t n_globals;
    bool causal;
    bool log_stride;
    bool landmarks;
} ruv_attn_cfg_t;

ruv_attn_cfg_t ruv_attn_default(void);
ruv_attn_cfg_t ruv_attn_aether(void);
/* RUV_ERR_INVALID_ARG when block_size == 0 or n_globals > RUV_MAX_GLOBALS. */
ruv_status_t ruv_attn_check(const ruv_attn_cfg_t *cfg);

/* ---- numerics ------------------------------------------------------------ */

/* float32 exp, own routine (|rel err| < 2e-7 on [-87, 88]; 0 below -103.9,
 * +inf above 88.73, NaN in -> NaN out). Bit-identical on every IEEE-754
 * single-precision target without FP contraction. */
float ruv_expf(float x);
/* IEEE binary16 <-> float32; round-to-nearest-even, overflow -> inf, NaN kept. */
uint16_t ruv_f32_to_f16(float x);
float ruv_f16_to_f32(uint16_t h);

/* ---- candidate sets ------------------------------------------------------ */

/* Upper bounds of |tokens_i| and |blocks_i| over all i < n for this config
 * (0 for n == 0 or a bad cfg; blocks 0 without landmarks). */
size_t ruv_candidate_tokens_cap(const ruv_attn_cfg_t *cfg, size_t n);
size_t ruv_candidate_blocks_cap(const ruv_attn_cfg_t *cfg, size_t n);

/* Candidate set of query i in a sequence of n (docs/spec.md §3): tokens in insertion
 * order (window, globals, log-stride; duplicates dropped, first wins) and
 * landmark blocks (local, log-stride; deduplicated separately; like the
 * upstream kernel, log_stride = false drops the log-stride blocks too). Capacities
 * from the *_cap functions. Returns INVALID_ARG for i >= n, n > UINT32_MAX
 * or a bad cfg. blocks and n_blocks may be NULL when cfg->landmarks is
 * false. */
ruv_status_t ruv_candidates(const ruv_attn_cfg_t *cfg, size_t i, size_t n,
                            uint32_t *tokens, size_t *n_tokens,
                            uint32_t *blocks, size_t *n_blocks);

/* docs/spec.md §3: sum over i < n of |tokens_i| + |blocks_i| (0 for a bad cfg or
 * n > UINT32_MAX). */
uint64_t ruv_estimate_sparse_edges(const ruv_attn_cfg_t *cfg, size_t n);

/* Sets bit r (byte r / 8, bit r % 8) of `rows` for every row r that the
 * decode step of query i (causal, docs/spec.md §3.6: n = i + 1) reads: its
 * candidate tokens and every row of its candidate blocks. Other bits are
 * left as they are. Every such row is <= i: `rows` needs i / 8 + 1 bytes.
 * For callers that compute only the rows a result needs (the window-mode
 * forward). INVALID_ARG for a bad cfg, rows NULL or i >= UINT32_MAX. */
ruv_status_t ruv_mark_decode_rows(const ruv_attn_cfg_t *cfg, size_t i, uint8_t *rows);

/* ---- forward ------------------------------------------------------------- */

/* float32 elements of scratch ruv_sparse_attention needs (landmark means of
 * K and V: 2 * ceil(n/B) * kv_heads * dim, 0 without landmarks or for a
 * bad cfg, SIZE_MAX when the product overflows). */
size_t ruv_sparse_scratch_floats(const ruv_attn_cfg_t *cfg, size_t n, size_t kv_heads,
                                 size_t dim);

/* out[n][q_heads][dim] = sparse attention of q[n][q_heads][dim] over
 * k, v [n][kv_heads][dim]. INVALID_ARG: q_heads % kv_heads != 0, a zero
 * head count or dim, bad cfg, NULL pointers, n > UINT32_MAX; INVALID_SIZE:
 * scratch too small (scratch may be NULL when 0 floats are needed). n == 0
 * is a no-op. out must not alias the inputs.
 * Landmark means are running means in row order (mean = x_0, then
 * mean += (x_r - mean) * (1/(r+1))), the KV cache's formula, so a causal
 * decode step reproduces the forward row bit for bit with an FP32 cache.
 * The online softmax tests the running max per chunk of up to 32
 * candidates (in candidate order): at most one rescale per chunk. */
ruv_status_t ruv_sparse_attention(const ruv_attn_cfg_t *cfg, const float *q, const float *k,
                                  const float *v, size_t n, size_t q_heads, size_t kv_heads,
                                  size_t dim, float *out, float *scratch, size_t scratch_floats);

/* Optional API (ruv_kernel_extras.c, like dense attention, H2O and the
 * FastGRNN gate below). Same, but a log-stride token j is used only if keep_mask[j] != 0 (window,
 * globals, self and landmark blocks are always used): the FastGRNN-gated
 * forward. keep_mask has n entries (NULL: INVALID_ARG). A log-stride token
 * that is also a window or global token is kept. */
ruv_status_t ruv_sparse_attention_gated(const ruv_attn_cfg_t *cfg, const float *q,
                                        const float *k, const float *v, size_t n,
                                        size_t q_heads, size_t kv_heads, size_t dim,
                                        const uint8_t *keep_mask, float *out, float *scratch,
                                        size_t scratch_floats);

/* Plain softmax attention over j <= i (causal) or all j, same scale, MHA or
 * GQA. No scratch: two passes per (row, head), the max of the scores, then
 * the exp-weighted sum (the scores are computed twice). */
ruv_status_t ruv_dense_attention(const float *q, const float *k, const float *v, size_t n,
                                 size_t q_heads, size_t kv_heads, size_t dim, bool causal,
                                 float *out);

/* ---- KV cache and streaming decode -------------------------------------- */

/* Rows K/V [capacity][kv_heads][dim] in float32, or in binary16 (fp16);
 * landmark means [ceil(capacity/B)][kv_heads][dim] always float32, updated
 * as running means from the unrounded rows (n += 1; mean += (x-mean)*(1/n)). */
typedef struct {
    size_t capacity, kv_heads, dim, block_size;
    size_t len;          /* rows held */
    bool fp16;
    float *k, *v;        /* fp32 rows (NULL when fp16) */
    uint16_t *k16, *v16; /* fp16 rows (NULL when fp32) */
    float *k_mean, *v_mean;
} ruv_kv_cache_t;

/* Bytes of the memory block ruv_kv_cache_init carves the cache from
 * (0 when the size overflows or an argument is 0). */
size_t ruv_kv_cache_bytes(size_t capacity, size_t kv_heads, size_t dim, size_t block_size,
                          bool fp16);
/* mem: at least ruv_kv_cache_bytes(...) bytes, aligned to 4 (layout:
 * k_mean, v_mean, then the K and V rows). INVALID_ARG: NULL or misaligned
 * mem, a zero argument, capacity > UINT32_MAX; INVALID_SIZE: mem_bytes too
 * small. The cache starts empty. */
ruv_status_t ruv_kv_cache_init(ruv_kv_cache_t *cache, void *mem, size_t mem_bytes,
                               size_t capacity, size_t kv_heads, size_t dim,
                               size_t block_size, bool fp16);
void ruv_kv_cache_clear(ruv_kv_cache_t *cache);
/* Appends one row (k_row, v_row: [kv_heads][dim]). INVALID_STATE when full.
 * The first row of a block sets its means; later rows update them. */
ruv_status_t ruv_kv_cache_append(ruv_kv_cache_t *cache, const float *k_row, const float *v_row);
/* Appends a row that will never be read: len grows by one, the row and the
 * mean of its block keep whatever they held (a decode step that reads the
 * row or that block's mean gets undefined values). For a forward that
 * skips the rows no query it computes reads (ruv_mark_decode_rows).
 * INVALID_STATE when full. */
ruv_status_t ruv_kv_cache_skip(ruv_kv_cache_t *cache);
/* Drops the `count` oldest rows of an FP32 cache: rows count .. len-1 move
 * to 0 .. len-count-1 and every block mean is rebuilt from the moved rows
 * with the running-mean formula of append, so the cache is bit for bit the
 * one appending those rows to an empty cache gives. INVALID_ARG for
 * count > len; NOT_SUPPORTED for an FP16 cache (its means come from the
 * unrounded rows, which it does not keep). */
ruv_status_t ruv_kv_cache_drop_front(ruv_kv_cache_t *cache, size_t count);
/* Row t of K or V as float32 (fp16 caches convert): out[kv_heads][dim].
 * INVALID_ARG for t >= len. */
ruv_status_t ruv_kv_cache_row(const ruv_kv_cache_t *cache, size_t t, bool value, float *out);

/* out[q_heads][dim] = attention of q_row[q_heads][dim] (the query of the
 * newest row t = len-1) over the cache with the causal candidate set of
 * i = t, n = t+1 (cfg->causal is ignored: decode is causal). The cache's
 * block_size is used for landmarks (it must equal cfg->block_size:
 * INVALID_ARG otherwise). INVALID_STATE on an empty cache. */
ruv_status_t ruv_decode_step(const ruv_attn_cfg_t *cfg, const ruv_kv_cache_t *cache,
                             const float *q_row, size_t q_heads, float *out);

/* ---- optional upstream APIs (ruv_kernel_extras.c) ------------------------ */

/* H2O eviction (docs/spec.md §3): scores[len] from the caller. Positions
 * >= len - window and the global positions are protected; the unprotected
 * position with the lowest score (first on ties) is removed, later rows move
 * up one, landmark means are rebuilt from the rows (all blocks, running-mean
 * formula; an FP16 cache rebuilds from its rounded rows). *evicted (may be
 * NULL) receives the position. A NaN score counts as the lowest (numpy
 * argmin). When every position is protected, upstream's rule applies: the
 * first non-global position below len - window, else position 0 — which,
 * with this protection rule, is always position 0. INVALID_SIZE when
 * n_scores != len; INVALID_STATE when the cache is empty. The caller then
 * appends. */
ruv_status_t ruv_kv_cache_evict_h2o(ruv_kv_cache_t *cache, const ruv_attn_cfg_t *cfg,
                                    const float *scores, size_t n_scores, size_t *evicted);

/* ---- FastGRNN salience gate (optional, docs/spec.md §3) ------------------------- */

/* Cell weights, row-major [in][out] like the model: wg, wu [dim][hidden],
 * ug, uu [hidden][hidden], bg, bu [hidden] (bg, bu may be NULL: zero).
 * sigma(z) = 1/(1+exp(-z)) and tanh through ruv_expf. */
typedef struct {
    size_t dim, hidden;
    const float *wg, *ug, *bg, *wu, *uu, *bu;
} ruv_fastgrnn_t;

/* One cell step: h_out[hidden] from x[dim] and h[hidden] (h_out may not
 * alias h). scratch: 2*hidden floats. Does nothing on NULL arguments. */
void ruv_fastgrnn_step(const ruv_fastgrnn_t *cell, const float *x, const float *h, float *h_out,
                       float *scratch);
/* salience[n] = ||h_t|| where x_t is the mean over kv heads of k[t] and h
 * starts at 0; k is [n][kv_heads][cell->dim]. scratch: dim + 4*hidden
 * floats (INVALID_SIZE when smaller). */
ruv_status_t ruv_fastgrnn_salience(const ruv_fastgrnn_t *cell, const float *k, size_t n,
                                   size_t kv_heads, float *salience, float *scratch,
                                   size_t scratch_floats);

/* Upstream's deterministic default gate (docs/spec.md §3), hidden size H default
 * RUV_FASTGRNN_DEFAULT_HIDDEN: element i of upstream's Wg, Ug, Wu, Uu
 * ([H][in], [H][H] row-major) is
 *   (f32(u32(j * 2654435761 + 0x9E3779B9)) / 2^32 - 0.5) * 2 * sqrt(2/(in+H)) * 0.1
 * with j = i + 0, 1000, 2000, 3000 (u32 wrap-around), biases 0.
 * ruv_fastgrnn_default_floats(in, H) = 2*in*H + 2*H*H floats (0 for a zero
 * size or on overflow); ruv_fastgrnn_default fills w with them, transposed
 * to the cell's [in][out] layout (wg, ug, wu, uu in that order), and points
 * *cell at w (bg = bu = NULL). INVALID_ARG: NULL, a zero size;
 * INVALID_SIZE: w_floats too small. */
#define RUV_FASTGRNN_DEFAULT_HIDDEN 32u
size_t ruv_fastgrnn_default_floats(size_t in, size_t hidden);
ruv_status_t ruv_fastgrnn_default(ruv_fastgrnn_t *cell, size_t in, size_t hidden, float *w,
                                  size_t w_floats);

/* keep[n] (for ruv_sparse_attention_gated) = 1 for the k highest salience
 * values, 0 elsewhere: k = 0 keeps none, k >= n all; ties go to the lower
 * index; a NaN salience ranks below every number. O(n^2), no scratch.
 * INVALID_ARG: NULL pointers with n > 0. */
ruv_status_t ruv_keep_mask_top_k(const float *salience, size_t n, size_t k, uint8_t *keep);

#ifdef __cplusplus
}
#endif
#endif /* RUV_KERNEL_H */
