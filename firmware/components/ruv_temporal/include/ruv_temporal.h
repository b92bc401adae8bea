/*
 * ruv_temporal.h — public C ABI of the on-device temporal head (docs/spec.md §4, §7).
 *
 * Pure C99; no ESP-IDF header. The five original entry points keep their
 * names (init/push/classify/destroy/self_test); the *_ex and info/state
 * functions are what the firmware app and the host binding need on top.
 *
 * Memory: everything a context needs (frame ring, activations, KV caches,
 * scratch) is allocated once in init — one malloc of exactly
 * ruv_temporal_required_bytes() — sized from the blob header and the
 * config. push/classify never allocate. Weights are read in place from the
 * caller's blob buffer (a memory-mapped partition on the device), which must
 * outlive the context and be 4-byte aligned (init: INVALID_ARG,
 * reason "blob_unaligned", otherwise).
 *
 * Not thread-safe: one context is driven by one task at a time.
 */
#ifndef RUV_TEMPORAL_H
#define RUV_TEMPORAL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "ruv_kernel.h"
#include "ruv_status.h"

#ifdef __cplusplus
extern "C" {
#endif

#define RUV_TEMPORAL_VERSION_MAJOR 1
#define RUV_TEMPORAL_VERSION_MINOR 0
#define RUV_TEMPORAL_VERSION_PATCH 0

typedef enum {
    RUV_MODE_WINDOW = 0, /* ring of the last N frames; classify runs a forward */
    RUV_MODE_STREAM = 1, /* every push decodes through all layers (KV caches) */
} ruv_run_mode_t;

/* Runtime config chosen by the firmware (Kconfig) or the host. */
typedef struct {
    uint16_t input_dim;  /* must equal the blob's input_dim */
    uint16_t window_len; /* N: frames in the ring; KV capacity in stream mode */
    uint16_t n_classes;  /* must equal the blob's n_classes */
    ruv_run_mode_t mode;
    bool kv_fp16;        /* stream mode: K/V cache rows stored as binary16
                          * (window mode: ignored, its work cache is fp32) */
} ruv_temporal_config_t;

/* What a validated blob says about its model (borrowed pointers into blob). */
typedef struct {
    uint16_t input_dim, n_q_heads, n_kv_heads, head_dim, n_layers, n_classes;
    bool fp16_weights;
    bool has_norm, has_bias, has_attn, has_input, has_labels;
    ruv_attn_cfg_t attn;    /* from ATTN, or the aether default W=32,B=16,[0];
                             * globals deduplicated (first kept); a context's
                             * info also drops globals >= window_len */
    uint16_t feature_set;   /* INPUT section; 0 when absent */
    uint16_t frame_rate_x100;
    uint32_t crc32;         /* the blob's trailing CRC: the model id */
    uint32_t blob_len;
    const char *labels;     /* NUL-separated UTF-8, not terminated; or NULL */
    uint32_t labels_len;
    const char *meta;       /* META payload, not terminated; or NULL */
    uint32_t meta_len;
} ruv_model_info_t;

/* Counters of a context since init or the last reset. */
typedef struct {
    uint32_t frames_pushed;
    uint32_t classifications;
    uint32_t rebases;        /* stream mode: context rebases */
    uint32_t frames_in_ring; /* min(frames since reset, ring capacity): the
                              * ring holds window_len frames in window mode,
                              * window_len/2 in stream mode (all a rebase
                              * needs) */
    uint32_t context_len;    /* stream mode: rows in the KV caches */
    size_t arena_bytes;      /* bytes allocated at init (weights excluded) */
} ruv_temporal_stats_t;

typedef struct ruv_temporal_ctx ruv_temporal_ctx_t;

/* ---- Blob checks (no context needed) ---------------------------------- */

/* Validates an RVNE blob (docs/spec.md §5) with the check order, statuses and
 * reason keys of docs/blob-format.md and fills *info (may be NULL). If
 * reason != NULL it receives a static string: the table's key
 * ("too_short", "crc_mismatch", "section_overrun", ...) or "ok";
 * ruv_blob_reason_text() (ruv_blob.h) turns a key into a sentence. The
 * blob may have any alignment here. */
ruv_status_t ruv_temporal_blob_info(const uint8_t *blob, size_t len,
                                    ruv_model_info_t *info,
                                    const char **reason);

/* Bytes init would allocate for this blob + config (weights excluded), so
 * firmware can check its heap budget before init. Fails like init would. */
ruv_status_t ruv_temporal_required_bytes(const uint8_t *blob, size_t len,
                                         const ruv_temporal_config_t *cfg,
                                         size_t *bytes);

/* Every check init_ex makes, without allocating: the blob (reasons as
 * above), then the config and the blob/config match, each with a static
 * reason key: "no_config", "bad_mode" (INVALID_ARG), "input_dim_mismatch",
 * "n_classes_mismatch" (INVALID_SIZE), "bad_window_len" (INVALID_ARG:
 * window_len < 1, or < 2 in stream mode), "blob_unaligned" (INVALID_ARG),
 * "too_many_globals" (NOT_SUPPORTED: more than RUV_MAX_GLOBALS distinct
 * ATTN globals below window_len), "arena_overflow" (NO_MEM). On success
 * *bytes (may be NULL) = ruv_temporal_required_bytes and reason "ok". */
ruv_status_t ruv_temporal_check_config(const uint8_t *blob, size_t len,
                                       const ruv_temporal_config_t *cfg,
                                       size_t *bytes, const char **reason);

/* ---- Lifecycle ---------------------------------------------------------- */

/* Original entry point: window mode, FP32 cache. */
ruv_status_t ruv_temporal_init(const uint8_t *blob, size_t len,
                               uint16_t input_dim, uint16_t window_len,
                               uint16_t n_classes, ruv_temporal_ctx_t **ctx);

ruv_status_t ruv_temporal_init_ex(const uint8_t *blob, size_t len,
                                  const ruv_temporal_config_t *cfg,
                                  ruv_temporal_ctx_t **ctx);

void ruv_temporal_destroy(ruv_temporal_ctx_t *ctx);

/* Clears ring, caches and counters; keeps model and allocation. */
ruv_status_t ruv_temporal_reset(ruv_temporal_ctx_t *ctx);

/* ---- Per frame ------------------------------------------------------------ */

/* frame: input_dim floats (raw features; NORM is applied inside). In stream
 * mode this runs one decode step (or a rebase then a decode step). */
ruv_status_t ruv_temporal_push(ruv_temporal_ctx_t *ctx, const float *frame);

/* Writes n == n_classes logits for the newest frame. Window mode runs the
 * forward over the ring; stream mode returns the logits of the last push.
 * RUV_ERR_INVALID_STATE when no frame has been pushed. */
ruv_status_t ruv_temporal_classify(ruv_temporal_ctx_t *ctx, float *logits,
                                   size_t n);

/* Residual-stream row of the newest frame as of the last classify (window)
 * or push (stream): stage 0 is the normalised input, stage l (1..n_layers)
 * is the state after layer l. n must be input_dim. Used by the HIL test to
 * say which layer diverges first. */
ruv_status_t ruv_temporal_layer_state(const ruv_temporal_ctx_t *ctx,
                                      uint16_t stage, float *out, size_t n);

ruv_status_t ruv_temporal_get_stats(const ruv_temporal_ctx_t *ctx,
                                    ruv_temporal_stats_t *stats);
ruv_status_t ruv_temporal_get_info(const ruv_temporal_ctx_t *ctx,
                                   ruv_model_info_t *info);
ruv_status_t ruv_temporal_get_config(const ruv_temporal_ctx_t *ctx,
                                     ruv_temporal_config_t *cfg);

/* Built-in check of kernel and model on generated data (decode == prefill,
 * blob round trip, a known CRC). RUV_OK when every check holds. Allocates
 * (about 60 KB, all freed): not for the per-frame path. */
ruv_status_t ruv_temporal_self_test(void);

/* Short constant name of a status: ruv_status_name() in ruv_status.h. */

/* ---- Deterministic random blob (docs/spec.md §5 "init") --------------------------- */

#define RUV_TEMPORAL_RANDOM_SEED UINT64_C(0xC5110007DEADBEEF)

/* docs/spec.md §5's xorshift64*: x ^= x<<13; x ^= x>>7; x ^= x<<17; returns
 * x * 0x2545F4914F6CDD1D (wrapping) and updates *state. */
uint64_t ruv_xorshift64star(uint64_t *state);
/* Next init weight: (u - 0.5f) * 0.2f, u = f32(out >> 32) / 2^32. */
float ruv_xorshift_weight(uint64_t *state);

/* Writes the deterministic random blob (FP32, no sections, one weight per
 * xorshift64* output in blob order) into out[cap]; *len (may be NULL)
 * receives its size, also when out is NULL or cap too small (then
 * INVALID_SIZE) — call with out = NULL to size the buffer. INVALID_ARG for
 * dims the blob format rejects; INVALID_SIZE when it would exceed u32. For
 * D=16, q=4, kv=1, d=32, L=2, C=4 and RUV_TEMPORAL_RANDOM_SEED: 41,244
 * bytes, CRC 0xDC807956 (the Python rvne.init_random() bytes). */
ruv_status_t ruv_temporal_init_random_blob(uint8_t *out, size_t cap, uint16_t input_dim,
                                           uint16_t n_q_heads, uint16_t n_kv_heads,
                                           uint16_t head_dim, uint16_t n_layers,
                                           uint16_t n_classes, uint64_t seed, size_t *len);

#ifdef __cplusplus
}
#endif
#endif /* RUV_TEMPORAL_H */
