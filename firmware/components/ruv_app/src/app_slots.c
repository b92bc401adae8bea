/*
 * app_slots.c — model slots (docs/model-slots.md): slot header format, the
 * boot choice of the newest valid slot, uploads into the inactive slot.
 *
 * Size arithmetic here runs on a 32-bit size_t on the chip: every length
 * from a slot header or a console line is compared against what remains
 * (`len > size - off`), never added first.
 */
#include "app_slots.h"

#include <stdio.h>
#include <string.h>

#include "app_state.h"

#define SLOT_MAGIC 0x4C535652u /* "RVSL" little-endian */
#define SLOT_LAYOUT 1u
#define SLOT_HDR_LEN 32u
#define SLOT_STATE_VALID 0x56414C44u /* "DLAV" */

#define RVNE_MAGIC 0x52564E45u
#define RVNE_MIN_LEN 28u

/* A slot is either a header page + blob (uploads, vdev --model), or a bare
 * RVNE blob at offset 0 — what `idf.py flash` / parttool / esptool write
 * into model_a. A bare blob is generation 0 ("factory"): any upload wins
 * over it; its integrity is the blob's own trailing CRC. */
typedef struct {
    bool valid;
    bool raw;          /* bare RVNE blob at offset 0 */
    uint32_t generation;
    uint32_t blob_len;
    uint32_t blob_crc; /* CRC-32 of the blob bytes (header slots only) */
    uint32_t signed_gen; /* replay floor recorded with the slot (header slots only) */
    size_t blob_off;   /* offset of the blob in the slot */
} slot_hdr_t;

static uint8_t s_chunk[RUV_PROTO_LINE_MAX / 2]; /* a whole line of hex */

static void put_le32(uint8_t *b, uint32_t v)
{
    b[0] = (uint8_t)v;
    b[1] = (uint8_t)(v >> 8);
    b[2] = (uint8_t)(v >> 16);
    b[3] = (uint8_t)(v >> 24);
}

static uint32_t get_le32(const uint8_t *b)
{
    return (uint32_t)b[0] | ((uint32_t)b[1] << 8) | ((uint32_t)b[2] << 16) | ((uint32_t)b[3] << 24);
}

int slots_count(void)
{
    const ruv_app_platform_t *p = g_app.p;
    int n = p->slot_count != NULL ? p->slot_count(p->user) : 0;
    return n > RUV_APP_MAX_SLOTS ? RUV_APP_MAX_SLOTS : n;
}

static size_t slot_align(void)
{
    const ruv_app_platform_t *p = g_app.p;
    size_t a = p->erase_align != NULL ? p->erase_align(p->user) : 4096u;
    return a < SLOT_HDR_LEN ? 4096u : a;
}

static const char *s_reason = "ok";

const char *slots_last_reason(void)
{
    return s_reason;
}

/* Header word 24 (was reserved 0): the highest signed-envelope generation
 * this node had accepted when the slot was written — the replay floor
 * survives reboots and never goes down (docs/model-slots.md). */
static void make_hdr(uint8_t *hdr, uint32_t gen, uint32_t len, uint32_t crc, uint32_t signed_gen)
{
    memset(hdr, 0, SLOT_HDR_LEN);
    put_le32(hdr, SLOT_MAGIC);
    put_le32(hdr + 4, SLOT_LAYOUT);
    put_le32(hdr + 8, gen);
    put_le32(hdr + 12, len);
    put_le32(hdr + 16, crc);
    put_le32(hdr + 20, SLOT_STATE_VALID);
    put_le32(hdr + 24, signed_gen);
    put_le32(hdr + 28, ruv_crc32(0, hdr, 28));
}

size_t ruv_app_slot_image(uint8_t *out, size_t cap, const uint8_t *blob, size_t len, uint32_t generation,
                          size_t erase_align)
{
    if (erase_align < SLOT_HDR_LEN || len == 0 || ((len >> 16) >> 16) != 0u /* > 32 bits */ ||
        cap < erase_align || len > cap - erase_align) {
        return 0;
    }
    memset(out, 0xFF, erase_align);
    make_hdr(out, generation, (uint32_t)len, ruv_crc32(0, blob, len), 0);
    memcpy(out + erase_align, blob, len);
    return erase_align + len;
}

static slot_hdr_t read_hdr(int slot)
{
    const ruv_app_platform_t *p = g_app.p;
    slot_hdr_t h = {false, false, 0, 0, 0, 0, 0};
    const uint8_t *m = NULL;
    size_t size = 0;
    if (p->slot_map == NULL || p->slot_map(p->user, slot, &m, &size) != RUV_OK || m == NULL ||
        size < slot_align() + SLOT_HDR_LEN) {
        return h;
    }
    if (get_le32(m) == RVNE_MAGIC) {
        const uint32_t weights_len = get_le32(m + 20);
        if (weights_len > size - RVNE_MIN_LEN) {
            return h;
        }
        h.raw = true;
        h.blob_len = weights_len + RVNE_MIN_LEN;
        h.valid = true;
        return h;
    }
    if (get_le32(m) != SLOT_MAGIC || get_le32(m + 4) != SLOT_LAYOUT || get_le32(m + 20) != SLOT_STATE_VALID ||
        get_le32(m + 28) != ruv_crc32(0, m, 28)) {
        return h;
    }
    h.generation = get_le32(m + 8);
    h.blob_off = slot_align();
    h.blob_len = get_le32(m + 12);
    h.blob_crc = get_le32(m + 16);
    h.signed_gen = get_le32(m + 24);
    if (h.blob_len == 0 || h.blob_len > size - slot_align()) {
        return h;
    }
    h.valid = true;
    return h;
}

/* Full check of a blob for this device: RVNE validation (CRC included),
 * shape and feature set. */
static ruv_status_t check_blob(const uint8_t *blob, size_t len, ruv_model_info_t *info, const char **why)
{
    ruv_status_t st = ruv_temporal_blob_info(blob, len, info, why);
    if (st != RUV_OK) {
        return st;
    }
    if (info->input_dim != g_app.cfg.input_dim) {
        *why = "model input_dim differs from the device's";
        return RUV_ERR_INVALID_SIZE;
    }
    if (info->n_classes != g_app.cfg.n_classes) {
        *why = "model n_classes differs from the device's";
        return RUV_ERR_INVALID_SIZE;
    }
    if (g_app.expected_feature_set != 0 && info->feature_set != g_app.expected_feature_set) {
        *why = "model feature set differs from the device's";
        return RUV_ERR_NOT_SUPPORTED;
    }
    return RUV_OK;
}

static const uint8_t *slot_blob(int slot, const slot_hdr_t *h)
{
    const ruv_app_platform_t *p = g_app.p;
    const uint8_t *m = NULL;
    size_t size = 0;
    if (!h->valid || p->slot_map(p->user, slot, &m, &size) != RUV_OK || m == NULL) {
        return NULL;
    }
    return m + h->blob_off;
}

static ruv_status_t start_ctx(const uint8_t *blob, size_t len, const ruv_temporal_config_t *cfg,
                              ruv_temporal_ctx_t **out, ruv_model_info_t *info)
{
    ruv_status_t st = ruv_temporal_init_ex(blob, len, cfg, out);
    if (st != RUV_OK) {
        return st;
    }
    return ruv_temporal_get_info(*out, info);
}

/* ---- boot ------------------------------------------------------------------ */

ruv_status_t slots_boot_load(void)
{
    int n = slots_count();
    bool tried[RUV_APP_MAX_SLOTS] = {false};
    for (int i = 0; i < n; ++i) {
        slot_hdr_t h = read_hdr(i);
        if (h.valid && h.signed_gen > g_app.signed_gen) {
            g_app.signed_gen = h.signed_gen;
        }
    }
    for (;;) {
        int best = -1;
        slot_hdr_t bh = {false, false, 0, 0, 0, 0, 0};
        for (int i = 0; i < n; ++i) {
            if (tried[i]) {
                continue;
            }
            slot_hdr_t h = read_hdr(i);
            if (!h.valid) {
                continue;
            }
            if (best < 0 || h.generation > bh.generation) {
                best = i;
                bh = h;
            }
        }
        if (best < 0) {
            app_log(RUV_LOG_WARN, "no valid model slot; classify answers NOT_FOUND until a model is loaded");
            return RUV_ERR_NOT_FOUND;
        }
        tried[best] = true;
        const uint8_t *blob = slot_blob(best, &bh);
        const char *why = "";
        ruv_model_info_t info;
        ruv_status_t st = RUV_ERR_INVALID_STATE;
        if (blob == NULL) {
            why = "slot not mappable";
        } else if (!bh.raw && ruv_crc32(0, blob, bh.blob_len) != bh.blob_crc) {
            st = RUV_ERR_INVALID_CRC;
            why = "slot CRC mismatch";
        } else {
            st = check_blob(blob, bh.blob_len, &info, &why);
        }
        if (st == RUV_OK) {
            ruv_temporal_ctx_t *ctx = NULL;
            st = start_ctx(blob, bh.blob_len, &g_app.cfg, &ctx, &g_app.info);
            if (st == RUV_OK) {
                g_app.ctx = ctx;
                g_app.active_slot = best;
                g_app.active_gen = bh.generation;
                g_app.active_crc = g_app.info.crc32;
                app_log(RUV_LOG_INFO, "model %08lx from slot %d (generation %lu, %lu bytes)",
                        (unsigned long)g_app.active_crc, best, (unsigned long)bh.generation,
                        (unsigned long)bh.blob_len);
                return RUV_OK;
            }
            why = "context init failed";
        }
        app_log(RUV_LOG_ERROR, "slot %d (generation %lu) refused: %s (%s 0x%x)", best,
                (unsigned long)bh.generation, why, ruv_status_name(st), (unsigned)st);
    }
}

ruv_status_t slots_restart_active(const ruv_temporal_config_t *cfg, const char **why)
{
    if (g_app.ctx == NULL) {
        return RUV_OK; /* nothing runs: the new configuration applies at the next load */
    }
    slot_hdr_t h = read_hdr(g_app.active_slot);
    const uint8_t *blob = slot_blob(g_app.active_slot, &h);
    if (blob == NULL) {
        *why = "active slot unreadable";
        return RUV_ERR_INVALID_STATE;
    }
    /* Free the old context first: the arena is sized for one context. */
    ruv_temporal_ctx_t *ctx = NULL;
    ruv_model_info_t info;
    ruv_temporal_destroy(g_app.ctx);
    g_app.ctx = NULL;
    ruv_status_t st = start_ctx(blob, h.blob_len, cfg, &ctx, &info);
    if (st != RUV_OK) {
        /* Back to the previous configuration. */
        if (start_ctx(blob, h.blob_len, &g_app.cfg, &ctx, &info) == RUV_OK) {
            g_app.ctx = ctx;
        }
        *why = "mode switch failed; previous mode kept";
        return st;
    }
    g_app.ctx = ctx;
    g_app.info = info;
    return RUV_OK;
}

ruv_status_t slots_active_blob(const uint8_t **blob, size_t *len)
{
    if (g_app.ctx == NULL) {
        return RUV_ERR_NOT_FOUND;
    }
    slot_hdr_t h = read_hdr(g_app.active_slot);
    const uint8_t *b = slot_blob(g_app.active_slot, &h);
    if (b == NULL) {
        return RUV_ERR_INVALID_STATE;
    }
    *blob = b;
    *len = h.blob_len;
    return RUV_OK;
}

/* ---- upload ------------------------------------------------------------------ */

/* Target slot of an upload: never the active one; an invalid slot first,
 * else the oldest generation. */
static int pick_target(void)
{
    int n = slots_count();
    int best = -1;
    uint32_t best_gen = 0;
    for (int i = 0; i < n; ++i) {
        if (i == g_app.active_slot) {
            continue;
        }
        slot_hdr_t h = read_hdr(i);
        if (!h.valid) {
            return i;
        }
        if (best < 0 || h.generation < best_gen) {
            best = i;
            best_gen = h.generation;
        }
    }
    return best;
}

static uint32_t max_generation(void)
{
    uint32_t g = 0;
    for (int i = 0; i < slots_count(); ++i) {
        slot_hdr_t h = read_hdr(i);
        if (h.valid && h.generation > g) {
            g = h.generation;
        }
    }
    return g;
}

ruv_status_t slots_upload_begin(uint32_t len, uint32_t crc, int *slot, const char **why)
{
    const ruv_app_platform_t *p = g_app.p;
    if (p->slot_erase == NULL || p->slot_write == NULL || p->slot_size == NULL) {
        *why = "platform has no writable slots";
        return RUV_ERR_NOT_SUPPORTED;
    }
    int target = pick_target();
    if (target < 0) {
        *why = "no inactive slot to upload into";
        return RUV_ERR_NOT_SUPPORTED;
    }
    const size_t align = slot_align();
    const size_t size = p->slot_size(p->user, target);
    /* len <= size - align, so the rounded erase length below cannot wrap. */
    if (size < align || (size_t)len > size - align) {
        *why = "blob larger than the slot";
        return RUV_ERR_INVALID_SIZE;
    }
    const size_t erase_len = align + (((size_t)len + align - 1u) / align) * align;
    g_app.up.active = false;
    ruv_status_t st = p->slot_erase(p->user, target, 0, erase_len);
    if (st != RUV_OK) {
        *why = "slot erase failed";
        return st;
    }
    g_app.up.active = true;
    g_app.up.slot = target;
    g_app.up.total_len = len;
    g_app.up.total_crc = crc;
    g_app.up.next_off = 0;
    g_app.up.running_crc = 0;
    g_app.up.crc_known = true;
    app_log(RUV_LOG_INFO, "upload of %lu bytes into slot %d", (unsigned long)len, target);
    *slot = target;
    return RUV_OK;
}

ruv_status_t slots_upload_begin_stream(uint32_t len, int *slot, const char **why)
{
    ruv_status_t st = slots_upload_begin(len, 0, slot, why);
    g_app.up.crc_known = false;
    return st;
}

ruv_status_t slots_decode_chunk(uint32_t crc, const char *hex, size_t hex_len, const uint8_t **bytes,
                                size_t *n_out, const char **why)
{
    /* n from the hex length (a division): no overflow on a 32-bit size_t. */
    const size_t n = hex_len / 2u;
    if (n > sizeof s_chunk) {
        *why = "chunk longer than a line can carry";
        return RUV_ERR_INVALID_SIZE;
    }
    ruv_status_t st = ruv_hex_to_bytes(hex, hex_len, s_chunk, n);
    if (st != RUV_OK) {
        *why = "bad hex in chunk";
        return st;
    }
    if (ruv_crc32(0, s_chunk, n) != crc) {
        *why = "chunk CRC mismatch; resend the chunk";
        return RUV_ERR_INVALID_CRC;
    }
    *bytes = s_chunk;
    *n_out = n;
    return RUV_OK;
}

ruv_status_t slots_upload_write(const uint8_t *data, size_t n, const char **why)
{
    if (!g_app.up.active) {
        *why = "no upload in progress (load begin first)";
        return RUV_ERR_INVALID_STATE;
    }
    /* next_off <= total_len holds, so the remaining length cannot wrap. */
    if (n > (size_t)(g_app.up.total_len - g_app.up.next_off)) {
        *why = "chunk beyond the announced length";
        return RUV_ERR_INVALID_SIZE;
    }
    const ruv_app_platform_t *p = g_app.p;
    ruv_status_t st = p->slot_write(p->user, g_app.up.slot, slot_align() + g_app.up.next_off, data, n);
    if (st != RUV_OK) {
        g_app.up.active = false;
        *why = "slot write failed; upload aborted";
        return st;
    }
    g_app.up.next_off += (uint32_t)n;
    g_app.up.running_crc = ruv_crc32(g_app.up.running_crc, data, n);
    return RUV_OK;
}

ruv_status_t slots_upload_chunk(uint32_t off, uint32_t crc, const char *hex, size_t hex_len, const char **why)
{
    if (!g_app.up.active) {
        *why = "no upload in progress (load begin first)";
        return RUV_ERR_INVALID_STATE;
    }
    if (off != g_app.up.next_off) {
        *why = "chunk out of order";
        return RUV_ERR_INVALID_STATE;
    }
    if (hex_len / 2u > (size_t)(g_app.up.total_len - off)) {
        *why = "chunk beyond the announced length";
        return RUV_ERR_INVALID_SIZE;
    }
    const uint8_t *bytes = NULL;
    size_t n = 0;
    ruv_status_t st = slots_decode_chunk(crc, hex, hex_len, &bytes, &n, why);
    if (st != RUV_OK) {
        return st;
    }
    return slots_upload_write(bytes, n, why);
}

ruv_status_t slots_upload_commit(const char **why)
{
    return slots_upload_commit_signed(0, why);
}

ruv_status_t slots_upload_commit_signed(uint32_t signed_gen, const char **why)
{
    static char msg[160];
    const ruv_app_platform_t *p = g_app.p;
    s_reason = "upload_state";
    if (!g_app.up.active) {
        *why = "no upload in progress";
        return RUV_ERR_INVALID_STATE;
    }
    if (g_app.up.next_off != g_app.up.total_len) {
        s_reason = "truncated";
        *why = "upload incomplete";
        return RUV_ERR_INVALID_SIZE;
    }
    if (!g_app.up.crc_known) {
        g_app.up.total_crc = g_app.up.running_crc;
    }
    g_app.up.active = false; /* any failure below ends the session */
    const int slot = g_app.up.slot;
    const uint32_t len = g_app.up.total_len;
    const uint8_t *m = NULL;
    size_t size = 0;
    ruv_status_t st = p->slot_map(p->user, slot, &m, &size);
    if (st != RUV_OK || m == NULL) {
        *why = "slot not mappable";
        return st != RUV_OK ? st : RUV_ERR_INVALID_STATE;
    }
    const uint8_t *blob = m + slot_align();
    /* Verify what flash holds, not what we think we wrote. */
    const uint32_t crc = ruv_crc32(0, blob, len);
    s_reason = "crc_mismatch";
    if (crc != g_app.up.total_crc || g_app.up.running_crc != g_app.up.total_crc) {
        *why = "total CRC mismatch; old model kept";
        return RUV_ERR_INVALID_CRC;
    }
    ruv_model_info_t info;
    const char *reason = "";
    st = check_blob(blob, len, &info, &reason);
    if (st != RUV_OK) {
        /* blob_info's reasons are keys; the shape checks' are sentences */
        s_reason = strchr(reason, ' ') == NULL ? reason : "shape_mismatch";
        snprintf(msg, sizeof msg, "blob refused: %s; old model kept", reason);
        app_log(RUV_LOG_ERROR, "%s", msg);
        *why = msg;
        return st;
    }
    /* Bring the new model up while the old one is still intact. */
    ruv_temporal_ctx_t *old = g_app.ctx;
    ruv_temporal_ctx_t *ctx = NULL;
    ruv_model_info_t live;
    st = start_ctx(blob, len, &g_app.cfg, &ctx, &live);
    if (st == RUV_ERR_NO_MEM && old != NULL) {
        /* Not enough heap for two contexts: release the old, retry. */
        ruv_temporal_destroy(old);
        old = NULL;
        g_app.ctx = NULL;
        st = start_ctx(blob, len, &g_app.cfg, &ctx, &live);
        if (st != RUV_OK) {
            (void)slots_boot_load(); /* header not written yet: the old slot is still the newest */
            s_reason = "init_failed";
            *why = "context init failed; old model restored";
            return st;
        }
    } else if (st != RUV_OK) {
        s_reason = "init_failed";
        *why = "context init failed; old model kept";
        return st;
    }
    /* Commit point: the header (generation + 1) is written last. */
    uint8_t hdr[SLOT_HDR_LEN];
    const uint32_t gen = max_generation() + 1u;
    const uint32_t floor_gen = signed_gen > g_app.signed_gen ? signed_gen : g_app.signed_gen;
    make_hdr(hdr, gen, len, crc, floor_gen);
    st = p->slot_write(p->user, slot, 0, hdr, sizeof hdr);
    slot_hdr_t check = read_hdr(slot);
    if (st != RUV_OK || !check.valid || check.generation != gen) {
        ruv_temporal_destroy(ctx);
        if (old == NULL) {
            (void)slots_boot_load();
        }
        s_reason = "write_failed";
        *why = "slot header write failed; old model kept";
        return st != RUV_OK ? st : RUV_ERR_INVALID_STATE;
    }
    if (old != NULL) {
        ruv_temporal_destroy(old);
    }
    g_app.ctx = ctx;
    g_app.info = live;
    g_app.active_slot = slot;
    g_app.active_gen = gen;
    g_app.active_crc = live.crc32;
    g_app.signed_gen = floor_gen;
    s_reason = "ok";
    app_reset_counters();
    app_log(RUV_LOG_INFO, "model %08lx active from slot %d (generation %lu)", (unsigned long)g_app.active_crc,
            slot, (unsigned long)gen);
    return RUV_OK;
}

bool slots_upload_abort(void)
{
    const bool was = g_app.up.active;
    g_app.up.active = false;
    return was;
}
