/*
 * app_update.c — the one model-update path: plain blob or signed envelope,
 * streamed into the inactive slot, committed through app_slots.c. The
 * envelope's header is checked (key, generation, lengths) before any slot
 * is erased; its signature is checked after the last byte and before the
 * slot header — the commit point — is written.
 */
#include "app_update.h"

#include <string.h>

#include "app_slots.h"
#include "app_state.h"
#include "ruv_sign.h"

static struct {
    bool active;
    bool envelope;
    bool have_crc;
    bool slot_begun;
    uint32_t total, crc, running_crc, next_off;
    uint32_t generation;
    const char *reason;
    ruv_sign_verifier_t ver;
} s_up = {false, false, false, false, 0, 0, 0, 0, 0, "ok", {0}};

const char *update_reason(void)
{
    return s_up.reason;
}

uint32_t update_next_offset(void)
{
    return s_up.next_off;
}

bool update_active(void)
{
    return s_up.active;
}

uint32_t update_generation(void)
{
    return s_up.generation;
}

static ruv_status_t fail(ruv_status_t st, const char *reason, const char **why, const char *message)
{
    s_up.active = false;
    (void)slots_upload_abort();
    s_up.reason = reason;
    *why = message;
    return st;
}

static ruv_status_t fail_sign(const char **why)
{
    return fail(s_up.ver.status, s_up.ver.reason ? s_up.ver.reason : "bad_signature", why, s_up.ver.message);
}

ruv_status_t update_begin(uint32_t total_len, bool envelope, bool have_crc, uint32_t crc, int *slot,
                          const char **why)
{
    if (s_up.active) {
        (void)update_abort(); /* a new begin replaces an unfinished upload */
    }
    s_up.envelope = envelope;
    s_up.have_crc = have_crc;
    s_up.crc = crc;
    s_up.total = total_len;
    s_up.running_crc = 0;
    s_up.next_off = 0;
    s_up.slot_begun = false;
    s_up.generation = 0;
    *slot = -1;
    if (envelope) {
        ruv_sign_verifier_init(&s_up.ver, (const ruv_sign_crypto_t *)g_app.sign_crypto, g_app.sign_key_id,
                               g_app.signed_gen);
        if (ruv_sign_begin(&s_up.ver, total_len) != RUV_OK) {
            return fail_sign(why);
        }
    } else {
        ruv_status_t st = slots_upload_begin(total_len, crc, slot, why);
        if (st != RUV_OK) {
            return fail(st, "slot_error", why, *why);
        }
        s_up.slot_begun = true;
    }
    s_up.active = true;
    s_up.reason = "in_progress";
    return RUV_OK;
}

ruv_status_t update_write(uint32_t off, const uint8_t *data, size_t n, const char **why)
{
    ruv_status_t st;
    if (!s_up.active) {
        *why = "no upload in progress (load begin first)";
        return RUV_ERR_INVALID_STATE;
    }
    if (off != s_up.next_off) {
        *why = "chunk out of order";
        return RUV_ERR_INVALID_STATE; /* the session stays open: resend */
    }
    if (n > (size_t)(s_up.total - s_up.next_off)) {
        *why = "chunk beyond the announced length";
        return RUV_ERR_INVALID_SIZE;
    }
    s_up.running_crc = ruv_crc32(s_up.running_crc, data, n);
    s_up.next_off += (uint32_t)n;
    if (!s_up.envelope) {
        st = slots_upload_write(data, n, why);
        return st == RUV_OK ? RUV_OK : fail(st, "slot_error", why, *why);
    }
    const uint8_t *blob = NULL;
    size_t blob_len = 0;
    if (ruv_sign_feed(&s_up.ver, data, n, &blob, &blob_len) != RUV_OK) {
        return fail_sign(why);
    }
    if (!s_up.slot_begun && s_up.ver.phase >= RUV_SIGN_BLOB && s_up.ver.phase != RUV_SIGN_FAILED) {
        /* The header passed (key, generation, lengths): only now touch a slot. */
        int slot = -1;
        s_up.generation = s_up.ver.hdr.generation;
        st = slots_upload_begin_stream(s_up.ver.hdr.blob_len, &slot, why);
        if (st != RUV_OK) {
            return fail(st, "slot_error", why, *why);
        }
        s_up.slot_begun = true;
    }
    if (blob_len > 0) {
        st = slots_upload_write(blob, blob_len, why);
        if (st != RUV_OK) {
            return fail(st, "slot_error", why, *why);
        }
    }
    return RUV_OK;
}

ruv_status_t update_commit(const char **why)
{
    if (!s_up.active) {
        *why = "no upload in progress";
        return RUV_ERR_INVALID_STATE;
    }
    if (s_up.next_off != s_up.total) {
        /* An early commit does not end the session: the upload can go on. */
        s_up.reason = "truncated";
        *why = "upload incomplete";
        return RUV_ERR_INVALID_SIZE;
    }
    if (s_up.have_crc && s_up.running_crc != s_up.crc) {
        return fail(RUV_ERR_INVALID_CRC, "crc_mismatch", why, "total CRC mismatch; old model kept");
    }
    uint32_t signed_gen = 0;
    if (s_up.envelope) {
        if (ruv_sign_finish(&s_up.ver) != RUV_OK) {
            return fail_sign(why);
        }
        signed_gen = s_up.ver.hdr.generation;
    }
    s_up.active = false;
    ruv_status_t st = slots_upload_commit_signed(signed_gen, why);
    s_up.reason = slots_last_reason();
    return st;
}

bool update_abort(void)
{
    const bool was = s_up.active;
    s_up.active = false;
    (void)slots_upload_abort();
    return was;
}
