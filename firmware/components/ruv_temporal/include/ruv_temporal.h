/*
 * ruv_temporal.h — public C ABI of the on-device temporal head (SPEC §4, §7).
 *
 * Pure C99; no ESP-IDF header. The five original entry points keep their
 * names (init/push/classify/destroy/self_test); the *_ex and info/state
 * functions are what the firmware app and the host binding need on top.
 *
 * Memory: everything a context needs (frame ring, activations, KV caches,
 * scratch) is allocated once in init, sized from the blob header and the
 * config. push/classify never allocate. Weights are read in place from the
 * caller's blob buffer (a memory-mapped partition on the device), which must
 * outlive the context.
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
    bool kv_fp16;        /* stream mode: K/V cache rows stored as binary16 */
} ruv_temporal_config_t;

/* What a validated blob says about its model (borrowed pointers into blob). */
typedef struct {
    uint16_t input_dim, n_q_heads, n_kv_heads, head_dim, n_layers, n_classes;
    bool fp16_weights;
    bool has_norm, has_bias, has_attn, has_input, has_labels;
    ruv_attn_cfg_t attn;    /* from ATTN, or the aether default W=32,B=16,[0] */
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
    uint32_t frames_in_ring; /* min(frames since reset, window_len) */
    uint32_t context_len;    /* stream mode: rows in the KV caches */
    size_t arena_bytes;      /* bytes allocated at init (weights excluded) */
} ruv_temporal_stats_t;

typedef struct ruv_temporal_ctx ruv_temporal_ctx_t;

/* ---- Blob checks (no context needed) ---------------------------------- */

/* Validates an RVNE blob (SPEC §5, in the SPEC's error order) and fills
 * *info. On failure returns the status and, if reason != NULL, a static
 * human-readable reason ("CRC mismatch", "section overruns weights", ...). */
ruv_status_t ruv_temporal_blob_info(const uint8_t *blob, size_t len,
                                    ruv_model_info_t *info,
                                    const char **reason);

/* Bytes init would allocate for this blob + config (weights excluded), so
 * firmware can check its heap budget before init. */
ruv_status_t ruv_temporal_required_bytes(const uint8_t *blob, size_t len,
                                         const ruv_temporal_config_t *cfg,
                                         size_t *bytes);

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
 * blob round trip, a known CRC). RUV_OK when every check holds. */
ruv_status_t ruv_temporal_self_test(void);

#ifdef __cplusplus
}
#endif
#endif /* RUV_TEMPORAL_H */
