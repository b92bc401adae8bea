/*
 * ruv_model.h — model v1 (docs/spec.md §4) over a validated blob view. Internal to
 * the core (ruv_temporal.c is its only user besides the unit tests).
 *
 *   h = (x - mean) * inv_std                  (NORM section, if present)
 *   per layer l:  q = h·Wq (+bq), k = h·Wk (+bk), v = h·Wv (+bv)
 *                 a = causal sparse attention (docs/spec.md §3) of q over K, V
 *                 h = h + a·Wo (+bo)
 *   logits = h[T-1]·Wc (+bc)
 *
 * Weights are read in place from the blob (FP32, or FP16 converted as they
 * are used, exactly, by the inline conversion of ruv_fp16.h: the same bits
 * as an FP32 blob holding the rounded weights); x·W is an axpy loop:
 * out = bias (or 0), then out += x[i] * W[i][:] for i in order. No
 * allocation anywhere here.
 *
 * How the attention is evaluated. The forward runs layer by layer and, inside
 * a layer, row by row: row t's k, v are appended to a KV cache, then its
 * query is decoded with ruv_decode_step over the cache holding rows 0..t.
 * For a causal config the candidate set of query i does not depend on the
 * sequence length n (window, globals <= i, log-stride i-s with s <= i,
 * completed landmark blocks only), so this is the row i of
 * ruv_sparse_attention over all T rows — the kernel guarantees decode ==
 * prefill to <= 1e-6 (docs/spec.md §3; checked by ruv_temporal_self_test). It needs
 * one query row instead of Q/A activations of [T][q_heads·head_dim] each,
 * which is what makes N = 256 fit the ESP32-S3's internal RAM next to WiFi
 * (Q and A alone would be 256 KB at the default dims).
 * In the last layer only the newest row's query, attention and output
 * projection are computed (only h[T-1] is read); the K, V of every row are
 * still needed.
 */
#ifndef RUV_MODEL_H
#define RUV_MODEL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "ruv_blob.h"
#include "ruv_kernel.h"
#include "ruv_status.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct {
    size_t D, q_heads, kv_heads, head_dim, L, C;
    size_t qd, kvd;            /* q_heads·head_dim, kv_heads·head_dim */
    bool fp16;                 /* base weights binary16 */
    bool fp16_normal;          /* ... and every one of them normal (checked at init) */
    const uint8_t *weights;    /* base weights (4-byte aligned) */
    size_t layer_elems, wc_offset;
    const float *mean, *inv_std; /* NORM, or NULL */
    const float *bias;         /* BIAS, or NULL */
    size_t bias_layer;         /* floats per layer in BIAS: qd + 2·kvd + D */
    ruv_attn_cfg_t attn;
} ruv_model_t;

/* Binds a model to a parsed blob. The blob's bytes must be 4-byte aligned
 * (weights and f32 sections are read in place): INVALID_ARG
 * "blob_unaligned" otherwise. max_len: the longest sequence the model will
 * see (globals beyond it are dropped); NOT_SUPPORTED "too_many_globals"
 * when more than RUV_MAX_GLOBALS distinct globals < max_len remain. */
ruv_status_t ruv_model_init(ruv_model_t *m, const ruv_blob_t *blob, size_t max_len,
                            const char **reason);

/* Floats of the per-row scratch ruv_model_forward needs: q, k, v, a, proj. */
size_t ruv_model_row_floats(const ruv_model_t *m);

/* out[D] = normalised x[D] (a copy when there is no NORM). out may be x. */
void ruv_model_normalise(const ruv_model_t *m, const float *x, float *out);

/* logits[C] = h[D]·Wc (+bc). */
void ruv_model_readout(const ruv_model_t *m, const float *h, float *logits);

/* The forward over rows h[T][D] (normalised, oldest first), updated in place
 * to the residual stream after the last computed layer.
 *
 * KV caches: when `shared` != NULL it is the attention cache of every layer
 * (fp32, capacity >= T, cleared at the start of each layer), and each
 * layer's rows are also appended to caches[l] when caches != NULL (the FP16
 * stream prefill: attention over the unrounded rows, stored rounded). When
 * shared == NULL, caches[l] is layer l's attention cache and rows are
 * appended to what it holds (stream decode: T == 1; fp32 prefill: empty
 * caches, T rows). An fp32 prefill may find caches[0] already holding the
 * T rows of layer 0 and their block means (len == T; the rebase moves them
 * there with ruv_kv_cache_drop_front, as they depend only on the frames):
 * layer 0 then computes no K, V and decodes over those rows.
 *
 * prefill: the last layer only appends its K, V (nothing else of it is
 * needed); states and logits are then not written.
 * need: NULL, or (when not prefill) ruv_model_need_bytes(m, T) bytes of
 * scratch: the forward then computes only what the newest row's result
 * reads. Going down from the last layer, the rows whose output of layer l
 * is needed are those of layer l + 1's needed queries and every row those
 * queries' decode steps read (ruv_mark_decode_rows); layer l computes K, V
 * for those rows only and q, attention and Wo only for the rows layer l + 1
 * needs. Every value computed is the one the full forward computes (the
 * others are simply not computed), so the results are the same bits.
 * states: [L+1][D] newest-row stages (0 = input), or NULL. logits: [C] or
 * NULL. rows: ruv_model_row_floats() floats. */
ruv_status_t ruv_model_forward(const ruv_model_t *m, float *h, size_t T, ruv_kv_cache_t *shared,
                               ruv_kv_cache_t *caches, bool prefill, float *rows, uint8_t *need,
                               float *states, float *logits);

/* Bytes of the `need` scratch of ruv_model_forward for up to T rows:
 * (L + 1) bit sets of T bits; 0 when that overflows. */
size_t ruv_model_need_bytes(const ruv_model_t *m, size_t T);

#ifdef __cplusplus
}
#endif
#endif /* RUV_MODEL_H */
