/*
 * app_slots.h — model slots (internal to ruv_app; docs/model-slots.md):
 * slot headers, the boot choice of the newest valid slot, and the upload
 * session that writes a new model into the inactive slot and switches to it
 * only once it is checked (the previous model keeps running otherwise).
 *
 * Failing calls return a status and set *why to a static reason, which the
 * console command (app_commands.c) turns into its @E line.
 */
#ifndef RUV_APP_SLOTS_H
#define RUV_APP_SLOTS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "ruv_app.h"

/* Bytes of payload one `load chunk` line can carry (hex doubles it; 64
 * bytes of the line are kept for the command, offset and CRC). */
#define APP_UPLOAD_CHUNK_MAX ((RUV_PROTO_LINE_MAX - 64) / 2)

int slots_count(void);

/* Boot / restore: loads the valid slot with the highest generation (CRC,
 * RVNE and shape checked), trying older ones when the newest is refused. */
ruv_status_t slots_boot_load(void);

/* Re-creates the context of the active model with another configuration
 * (mode switch); on failure the previous configuration is restored. */
ruv_status_t slots_restart_active(const ruv_temporal_config_t *cfg, const char **why);

/* The running model's blob (read in place from its slot) for a scratch
 * context (`bench`); NOT_FOUND without a model. */
ruv_status_t slots_active_blob(const uint8_t **blob, size_t *len);

/* Upload session. begin erases the target slot (never the active one);
 * chunk takes the hex of the next bytes and their CRC-32; commit verifies
 * what the slot holds, brings the new model up while the old one still
 * runs, then writes the slot header (generation + 1) as the commit point. */
ruv_status_t slots_upload_begin(uint32_t len, uint32_t crc, int *slot, const char **why);
ruv_status_t slots_upload_chunk(uint32_t off, uint32_t crc, const char *hex, size_t hex_len,
                                const char **why);
ruv_status_t slots_upload_commit(const char **why);

/* Streamed uploads (app_update.c: signed envelopes, network models): begin
 * without knowing the total CRC (taken from the bytes at commit), raw bytes
 * in order, commit recording the envelope generation in the slot header
 * (0 for an unsigned upload; the header keeps the highest one seen). */
ruv_status_t slots_upload_begin_stream(uint32_t len, int *slot, const char **why);
ruv_status_t slots_upload_write(const uint8_t *data, size_t n, const char **why);
ruv_status_t slots_upload_commit_signed(uint32_t signed_gen, const char **why);

/* Decodes one console chunk (hex + its CRC-32) into a static buffer. */
ruv_status_t slots_decode_chunk(uint32_t crc, const char *hex, size_t hex_len, const uint8_t **bytes,
                                size_t *n, const char **why);

/* Stable key of the last failed commit ("crc_mismatch", a blob reason of
 * docs/blob-format.md, "shape_mismatch", "init_failed", "write_failed"). */
const char *slots_last_reason(void);
bool slots_upload_abort(void); /* returns whether a session was active */

#endif /* RUV_APP_SLOTS_H */
