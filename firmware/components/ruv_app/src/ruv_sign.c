/*
 * ruv_sign.c — the portable half of the signed envelope verifier: check
 * order, reasons, streaming. Crypto goes through ruv_sign_crypto_t.
 * Check order (same as ruv_temporal.signing in Python):
 *   too_short / truncated -> bad_magic -> bad_version -> bad_header ->
 *   bad_alg -> truncated / length_mismatch -> key_mismatch ->
 *   old_generation -> (all bytes) truncated -> bad_signature.
 */
#include "ruv_sign.h"

#include <stdio.h>
#include <string.h>

typedef struct {
    const char *reason;
    ruv_status_t status;
} reason_row_t;

static const reason_row_t k_reasons[] = {
    {"too_short", RUV_ERR_INVALID_SIZE},      {"bad_magic", RUV_ERR_INVALID_ARG},
    {"bad_version", RUV_ERR_INVALID_VERSION}, {"bad_header", RUV_ERR_INVALID_ARG},
    {"bad_alg", RUV_ERR_NOT_SUPPORTED},       {"truncated", RUV_ERR_INVALID_SIZE},
    {"length_mismatch", RUV_ERR_INVALID_SIZE}, {"key_mismatch", RUV_ERR_INVALID_ARG},
    {"old_generation", RUV_ERR_INVALID_VERSION}, {"bad_signature", RUV_ERR_INVALID_CRC},
    {"no_key", RUV_ERR_NOT_SUPPORTED},        {"unsigned", RUV_ERR_NOT_SUPPORTED},
    {"crypto_error", RUV_ERR_INVALID_STATE},
};

ruv_status_t ruv_sign_reason_status(const char *reason)
{
    size_t i;
    for (i = 0; reason && i < sizeof k_reasons / sizeof k_reasons[0]; i++) {
        if (strcmp(k_reasons[i].reason, reason) == 0) return k_reasons[i].status;
    }
    return RUV_ERR_INVALID_ARG;
}

static ruv_status_t refuse(ruv_sign_verifier_t *v, const char *reason, const char *message)
{
    v->phase = RUV_SIGN_FAILED;
    v->reason = reason;
    v->status = ruv_sign_reason_status(reason);
    snprintf(v->message, sizeof v->message, "%s", message);
    return v->status;
}

static uint32_t le32(const uint8_t *b)
{
    return (uint32_t)b[0] | ((uint32_t)b[1] << 8) | ((uint32_t)b[2] << 16) | ((uint32_t)b[3] << 24);
}

static uint16_t le16(const uint8_t *b)
{
    return (uint16_t)(b[0] | (b[1] << 8));
}

void ruv_sign_verifier_init(ruv_sign_verifier_t *v, const ruv_sign_crypto_t *crypto,
                            const uint8_t key_id[RUV_SIGN_KEY_ID_LEN], uint32_t min_generation)
{
    memset(v, 0, sizeof *v);
    v->crypto = crypto;
    if (key_id) memcpy(v->key_id, key_id, RUV_SIGN_KEY_ID_LEN);
    v->min_generation = min_generation;
}

ruv_status_t ruv_sign_check_header(ruv_sign_verifier_t *v, const uint8_t *h, size_t total,
                                   ruv_sign_header_t *out)
{
    ruv_sign_header_t hdr;
    char msg[96];
    uint16_t version = le16(h + 4), header_len = le16(h + 6);

    v->reason = NULL;
    v->status = RUV_OK;
    v->message[0] = '\0';
    if (le32(h) == RUV_SIGN_RVNE_MAGIC) return refuse(v, "unsigned", "a bare RVNE blob: the node takes signed models only");
    if (le32(h) != RUV_SIGN_MAGIC) return refuse(v, "bad_magic", "not a signed envelope (magic is not RVSG)");
    if (version != RUV_SIGN_VERSION) {
        snprintf(msg, sizeof msg, "envelope version %u (supported: 1)", (unsigned)version);
        return refuse(v, "bad_version", msg);
    }
    hdr.generation = le32(h + 8);
    hdr.blob_len = le32(h + 12);
    memcpy(hdr.key_id, h + 16, RUV_SIGN_KEY_ID_LEN);
    hdr.sig_alg = le16(h + 24);
    if (header_len != RUV_SIGN_HEADER_LEN || le16(h + 26) != 0 || le32(h + 28) != 0 || hdr.generation == 0)
        return refuse(v, "bad_header", "header_len, reserved fields or generation 0 invalid");
    if (hdr.sig_alg != RUV_SIGN_ALG_ECDSA_P256_SHA256) {
        snprintf(msg, sizeof msg, "signature algorithm %u (supported: 1 ECDSA P-256)", (unsigned)hdr.sig_alg);
        return refuse(v, "bad_alg", msg);
    }
    if (total != 0) {
        /* blob_len is u32: the sum cannot overflow a 64-bit count. */
        uint64_t want = (uint64_t)RUV_SIGN_OVERHEAD + hdr.blob_len;
        if ((uint64_t)total != want) {
            snprintf(msg, sizeof msg, "envelope has %lu bytes, header says %llu", (unsigned long)total,
                     (unsigned long long)want);
            return refuse(v, (uint64_t)total < want ? "truncated" : "length_mismatch", msg);
        }
    }
    if (memcmp(hdr.key_id, v->key_id, RUV_SIGN_KEY_ID_LEN) != 0)
        return refuse(v, "key_mismatch", "signed by another key than the node's");
    if (hdr.generation <= v->min_generation) {
        snprintf(msg, sizeof msg, "generation %lu is not newer than %lu", (unsigned long)hdr.generation,
                 (unsigned long)v->min_generation);
        return refuse(v, "old_generation", msg);
    }
    if (out) *out = hdr;
    return RUV_OK;
}

ruv_status_t ruv_sign_begin(ruv_sign_verifier_t *v, size_t total)
{
    char msg[96];
    v->reason = NULL;
    v->status = RUV_OK;
    v->message[0] = '\0';
    v->total = total;
    v->seen = 0;
    if (!v->crypto) return refuse(v, "no_key", "node holds no public key: network models are disabled");
    if (total == 0) {
        snprintf(msg, sizeof msg, "%lu bytes is shorter than an envelope (96)", (unsigned long)total);
        return refuse(v, "too_short", msg);
    }
    if (v->crypto->sha256_start(v->crypto->user) != RUV_OK) return refuse(v, "crypto_error", "sha256 start failed");
    v->phase = RUV_SIGN_HEADER;
    return RUV_OK;
}

/* An envelope announced shorter than header + signature: the reason depends
 * on what it starts with (decided as soon as 4 bytes, or all, are in). */
static ruv_status_t refuse_short(ruv_sign_verifier_t *v)
{
    char msg[96];
    uint32_t magic = v->seen >= 4 ? le32(v->hdr_buf) : 0;
    if (magic == RUV_SIGN_MAGIC) return refuse(v, "truncated", "envelope shorter than header + signature");
    if (magic == RUV_SIGN_RVNE_MAGIC)
        return refuse(v, "unsigned", "a bare RVNE blob: the node takes signed models only");
    snprintf(msg, sizeof msg, "%lu bytes is shorter than an envelope (96)", (unsigned long)v->total);
    return refuse(v, "too_short", msg);
}

static ruv_status_t hash(ruv_sign_verifier_t *v, const uint8_t *d, size_t n)
{
    if (n && v->crypto->sha256_update(v->crypto->user, d, n) != RUV_OK)
        return refuse(v, "crypto_error", "sha256 update failed");
    return RUV_OK;
}

ruv_status_t ruv_sign_feed(ruv_sign_verifier_t *v, const uint8_t *data, size_t n, const uint8_t **blob,
                           size_t *blob_len)
{
    *blob = NULL;
    *blob_len = 0;
    if (v->phase == RUV_SIGN_FAILED) return v->status;
    if (v->phase == RUV_SIGN_IDLE || v->phase == RUV_SIGN_DONE || n > v->total - v->seen)
        return refuse(v, "length_mismatch", "more bytes than the announced envelope length");
    while (n > 0) {
        if (v->phase == RUV_SIGN_HEADER) {
            size_t take = RUV_SIGN_HEADER_LEN - v->seen;
            if (take > n) take = n;
            memcpy(v->hdr_buf + v->seen, data, take);
            v->seen += take;
            data += take;
            n -= take;
            if (v->total < RUV_SIGN_OVERHEAD && (v->seen >= 4 || v->seen == v->total)) return refuse_short(v);
            if (v->seen == RUV_SIGN_HEADER_LEN) {
                if (ruv_sign_check_header(v, v->hdr_buf, v->total, &v->hdr) != RUV_OK) return v->status;
                if (hash(v, v->hdr_buf, RUV_SIGN_HEADER_LEN) != RUV_OK) return v->status;
                v->phase = v->hdr.blob_len ? RUV_SIGN_BLOB : RUV_SIGN_SIGNATURE;
            }
        } else if (v->phase == RUV_SIGN_BLOB) {
            size_t left = RUV_SIGN_HEADER_LEN + (size_t)v->hdr.blob_len - v->seen;
            size_t take = left < n ? left : n;
            if (*blob_len != 0) return refuse(v, "length_mismatch", "internal: two blob runs in one piece");
            if (hash(v, data, take) != RUV_OK) return v->status;
            *blob = data;
            *blob_len = take;
            v->seen += take;
            data += take;
            n -= take;
            if (take == left) v->phase = RUV_SIGN_SIGNATURE;
        } else if (v->phase == RUV_SIGN_SIGNATURE) {
            size_t at = v->seen - RUV_SIGN_HEADER_LEN - (size_t)v->hdr.blob_len;
            size_t take = RUV_SIGN_SIG_LEN - at;
            if (take > n) take = n;
            memcpy(v->sig + at, data, take);
            v->seen += take;
            data += take;
            n -= take;
            if (at + take == RUV_SIGN_SIG_LEN) v->phase = RUV_SIGN_DONE;
        } else {
            return refuse(v, "length_mismatch", "bytes after the signature");
        }
    }
    return RUV_OK;
}

ruv_status_t ruv_sign_finish(ruv_sign_verifier_t *v)
{
    uint8_t digest[32];
    ruv_status_t st;
    if (v->phase == RUV_SIGN_FAILED) return v->status;
    if (v->phase != RUV_SIGN_DONE) {
        if (v->total < RUV_SIGN_OVERHEAD) return refuse_short(v);
        return refuse(v, "truncated", "envelope ended before its signature");
    }
    if (v->crypto->sha256_finish(v->crypto->user, digest) != RUV_OK)
        return refuse(v, "crypto_error", "sha256 finish failed");
    st = v->crypto->verify(v->crypto->user, digest, v->sig);
    if (st == RUV_ERR_INVALID_CRC) return refuse(v, "bad_signature", "ECDSA P-256 signature does not verify");
    if (st != RUV_OK) return refuse(v, "crypto_error", "signature verification failed to run");
    v->phase = RUV_SIGN_IDLE;
    return RUV_OK;
}

ruv_status_t ruv_sign_verify_buffer(ruv_sign_verifier_t *v, const uint8_t *env, size_t len,
                                    const uint8_t **blob, size_t *blob_len)
{
    const uint8_t *b = NULL;
    size_t bl = 0;
    ruv_status_t st;
    *blob = NULL;
    *blob_len = 0;
    st = ruv_sign_begin(v, len);
    if (st != RUV_OK) return st;
    st = ruv_sign_feed(v, env, len, &b, &bl);
    if (st != RUV_OK) return st;
    st = ruv_sign_finish(v);
    if (st != RUV_OK) return st;
    *blob = b;
    *blob_len = bl;
    return RUV_OK;
}

size_t ruv_sign_raw_to_der(const uint8_t raw[RUV_SIGN_SIG_LEN], uint8_t *der, size_t cap)
{
    /* SEQUENCE { INTEGER r, INTEGER s }: minimal big-endian, a 0x00 prefix
     * when the top bit is set; at most 2 + 2 * (2 + 33) = 72 bytes. */
    size_t at = 2, k;
    if (cap < 72) return 0;
    for (k = 0; k < 2; k++) {
        const uint8_t *x = raw + 32 * k;
        size_t skip = 0, n;
        while (skip < 31 && x[skip] == 0) skip++;
        n = 32 - skip;
        der[at++] = 0x02;
        if (x[skip] & 0x80) {
            der[at++] = (uint8_t)(n + 1);
            der[at++] = 0x00;
        } else {
            der[at++] = (uint8_t)n;
        }
        memcpy(der + at, x + skip, n);
        at += n;
    }
    der[0] = 0x30;
    der[1] = (uint8_t)(at - 2);
    return at;
}
