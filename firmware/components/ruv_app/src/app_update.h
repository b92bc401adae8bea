/*
 * app_update.h — the one model-update path (internal to ruv_app): a plain
 * RVNE blob (console, unlocked) or a signed envelope (network always;
 * console when locked) streamed into the inactive slot and committed by
 * app_slots.c's A/B commit. docs/fleet.md, docs/blob-format.md.
 */
#ifndef RUV_APP_UPDATE_H
#define RUV_APP_UPDATE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "ruv_status.h"

/* Starts an update of total_len bytes. envelope: the bytes are a signed
 * envelope (checked against the node's key and replay floor; the slot is
 * erased only once its header passes). have_crc: crc is the CRC-32 of all
 * total_len bytes (console), checked at commit. *slot gets the target slot,
 * or -1 while it is not chosen yet (envelope). */
ruv_status_t update_begin(uint32_t total_len, bool envelope, bool have_crc, uint32_t crc, int *slot,
                          const char **why);
/* The next bytes, at offset off (must be the next expected). */
ruv_status_t update_write(uint32_t off, const uint8_t *data, size_t n, const char **why);
/* Verifies (CRC, signature) and commits; on any failure the old model keeps
 * running. */
ruv_status_t update_commit(const char **why);
bool update_abort(void);
uint32_t update_next_offset(void);
bool update_active(void);
/* Stable key of the last refusal ("ok" after a commit). */
const char *update_reason(void);
/* Envelope generation of the update in flight / last committed. */
uint32_t update_generation(void);

#endif /* RUV_APP_UPDATE_H */
