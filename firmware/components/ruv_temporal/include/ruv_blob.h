/*
 * ruv_blob.h — zero-copy view of an RVNE weight blob (docs/spec.md §5).
 *
 * ruv_blob_parse() validates a borrowed buffer in exactly the order and with
 * exactly the reasons and statuses of docs/blob-format.md ("Check order and
 * error table"), the same rules as the Python reference ruv_temporal.rvne:
 *
 *   too_short, bad_magic, bad_version, length_mismatch, crc_mismatch,
 *   bad_flags, bad_reserved, zero_dim, bad_classes, bad_gqa,
 *   weights_overrun, trailing_bytes, bad_padding, section_overrun,
 *   section_size, bad_section, attn_not_causal
 *
 * The reason is a static string equal to the table's key. The header and
 * the section headers are read byte-wise (little-endian, any alignment);
 * nothing is read outside [data, data + len), whatever the header says, and
 * the base-weight size is computed with bounded uint64 arithmetic (no
 * overflow for any u16 dims). Nothing is allocated or copied: the view
 * points into the caller's buffer, which must outlive it.
 *
 * Pure C99, no ESP-IDF header.
 */
#ifndef RUV_BLOB_H
#define RUV_BLOB_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "ruv_kernel.h"
#include "ruv_status.h"

#ifdef __cplusplus
extern "C" {
#endif

#define RUV_BLOB_MAGIC 0x52564E45u /* bytes 45 4E 56 52 */
#define RUV_BLOB_VERSION 1u
#define RUV_BLOB_HEADER_SIZE 24u
#define RUV_BLOB_CRC_SIZE 4u
#define RUV_BLOB_MIN_SIZE 28u /* header + CRC */
#define RUV_BLOB_SECTION_HEADER_SIZE 8u

#define RUV_BLOB_FLAG_FP16 0x01u
#define RUV_BLOB_FLAG_SECTIONS 0x02u

/* Extension section tags (docs/spec.md §5). Other tags are skipped. */
#define RUV_SECTION_NORM 1u
#define RUV_SECTION_BIAS 2u
#define RUV_SECTION_ATTN 3u
#define RUV_SECTION_INPUT 4u
#define RUV_SECTION_LABELS 5u
#define RUV_SECTION_META 6u

/* A validated blob. Pointers borrow the parsed buffer. */
typedef struct {
    const uint8_t *data;
    size_t len;
    uint8_t flags;
    bool fp16; /* base weights are IEEE binary16 (else float32) */
    uint16_t input_dim, n_q_heads, n_kv_heads, head_dim, n_layers, n_classes;
    uint32_t weights_len; /* header field: bytes of the weights region */
    uint32_t base_len;    /* bytes of the base weights (<= weights_len) */
    uint32_t crc32;       /* the trailing CRC (the model id) */

    /* Element offsets into the base weights (elements, not bytes): layer l's
     * Wq starts at l * layer_elems; Wk, Wv, Wo follow; Wc at wc_offset. */
    size_t layer_elems;
    size_t wc_offset;

    /* Known sections; NULL / false when absent. NORM and BIAS payloads are
     * f32 little-endian, 4-byte aligned relative to data. */
    const uint8_t *norm; /* mean[D] then inv_std[D] */
    const uint8_t *bias; /* per layer bq, bk, bv, bo; then bc */
    bool has_attn;
    uint16_t attn_window, attn_block;
    bool attn_log_stride, attn_landmarks; /* causal is always 1 when accepted */
    uint8_t attn_n_globals;
    const uint8_t *attn_globals; /* attn_n_globals u16 LE, config order */
    bool has_input;
    uint16_t feature_set, frame_rate_x100;
    const uint8_t *labels; /* NUL-separated UTF-8 (not terminated) */
    uint32_t labels_len;
    bool has_meta;
    const uint8_t *meta; /* UTF-8 (not terminated); may be empty */
    uint32_t meta_len;
    uint32_t n_sections; /* all sections, known and unknown */
    uint32_t n_unknown;  /* skipped sections with unknown tags */
} ruv_blob_t;

/* Validates data[0..len) and fills *blob (zeroed on failure). On failure
 * returns the table's status and, when reason != NULL, the table's key;
 * on success *reason = "ok". data may be NULL only with len == 0. */
ruv_status_t ruv_blob_parse(const uint8_t *data, size_t len, ruv_blob_t *blob,
                            const char **reason);

/* A one-line English description of a reason key (for logs and CLIs);
 * "unknown reason" for anything else. Never NULL. */
const char *ruv_blob_reason_text(const char *reason);

/* Attention config of the model: the ATTN section or the "aether" default
 * (W=32, B=16, globals [0], causal, log_stride, landmarks). Globals are
 * reduced to what can matter for sequences of at most max_len rows:
 * duplicates dropped (first occurrence kept, as the kernel does) and
 * positions >= max_len dropped (they are never < n). NOT_SUPPORTED when
 * more than RUV_MAX_GLOBALS distinct globals remain (*cfg then holds the
 * first RUV_MAX_GLOBALS). */
ruv_status_t ruv_blob_attn_cfg(const ruv_blob_t *blob, size_t max_len, ruv_attn_cfg_t *cfg);

/* Base weights of the blob (FP32 or FP16 per blob->fp16), at byte 24. */
const uint8_t *ruv_blob_weights(const ruv_blob_t *blob);

/* Number of base weights for these dims: L·(D·q·d + 2·D·kv·d + q·d·D) + D·C.
 * Every term is bounded before it is multiplied, so nothing overflows; the
 * result saturates at UINT64_MAX when it would exceed 2^48 (no such blob can
 * exist: weights_len is a u32). */
uint64_t ruv_blob_base_count(uint16_t input_dim, uint16_t n_q_heads, uint16_t n_kv_heads,
                             uint16_t head_dim, uint16_t n_layers, uint16_t n_classes);

#ifdef __cplusplus
}
#endif
#endif /* RUV_BLOB_H */
