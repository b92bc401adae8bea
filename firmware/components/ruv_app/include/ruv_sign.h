/*
 * ruv_sign.h — verification of the signed model envelope ("RVSG",
 * docs/blob-format.md "Signed envelope"): 32-byte header, RVNE blob,
 * ECDSA P-256 signature (raw r||s) over SHA-256 of header + blob.
 *
 * Split in two so the envelope logic is pure C99 and testable anywhere:
 *  - ruv_sign.c: header parsing, check order, reason keys, streaming state.
 *  - a crypto backend (ruv_sign_crypto_t) doing SHA-256 and the ECDSA
 *    verify. ruv_sign_mbedtls.c implements it with mbedtls (ESP-IDF's
 *    component on the chip, hardware SHA/ECC; Debian's libmbedtls on the
 *    host) — the same source in both builds.
 *
 * Streaming: an envelope may arrive in pieces (an MQTT message larger than
 * the client's buffer). ruv_sign_begin() takes the total length, feed()
 * hands back the blob bytes as they pass (the caller writes them into the
 * inactive model slot), finish() checks the signature. Header checks (key,
 * generation, lengths) fail as soon as the 32 header bytes are in, before a
 * slot is touched. No allocation: the state is one caller-owned struct.
 */
#ifndef RUV_SIGN_H
#define RUV_SIGN_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "ruv_status.h"

#ifdef __cplusplus
extern "C" {
#endif

#define RUV_SIGN_MAGIC 0x47535652u /* "RVSG" on the wire */
#define RUV_SIGN_RVNE_MAGIC 0x52564E45u /* a bare blob: refused as "unsigned" */
#define RUV_SIGN_VERSION 1u
#define RUV_SIGN_HEADER_LEN 32u
#define RUV_SIGN_SIG_LEN 64u
#define RUV_SIGN_OVERHEAD (RUV_SIGN_HEADER_LEN + RUV_SIGN_SIG_LEN)
#define RUV_SIGN_KEY_ID_LEN 8u
#define RUV_SIGN_ALG_ECDSA_P256_SHA256 1u

/* Crypto backend. `user` is passed back. All return RUV_OK or a status. */
typedef struct ruv_sign_crypto {
    void *user;
    ruv_status_t (*sha256_start)(void *user);
    ruv_status_t (*sha256_update)(void *user, const uint8_t *data, size_t len);
    ruv_status_t (*sha256_finish)(void *user, uint8_t hash[32]);
    /* RUV_OK when sig (raw r||s) is a valid signature of hash under the
     * backend's public key; RUV_ERR_INVALID_CRC when it is not. */
    ruv_status_t (*verify)(void *user, const uint8_t hash[32], const uint8_t sig[RUV_SIGN_SIG_LEN]);
} ruv_sign_crypto_t;

typedef struct {
    uint32_t generation;
    uint32_t blob_len;
    uint8_t key_id[RUV_SIGN_KEY_ID_LEN];
    uint16_t sig_alg;
} ruv_sign_header_t;

typedef enum {
    RUV_SIGN_IDLE = 0,
    RUV_SIGN_HEADER,    /* collecting the 32 header bytes */
    RUV_SIGN_BLOB,      /* passing blob bytes through */
    RUV_SIGN_SIGNATURE, /* collecting the 64 signature bytes */
    RUV_SIGN_DONE,      /* all bytes in; finish() may run */
    RUV_SIGN_FAILED,
} ruv_sign_phase_t;

/* Verifier: the node's key identity, the replay floor and the state of the
 * envelope in flight. */
typedef struct {
    const ruv_sign_crypto_t *crypto; /* NULL: no key -> every envelope refused (no_key) */
    uint8_t key_id[RUV_SIGN_KEY_ID_LEN];
    uint32_t min_generation;         /* accept only generation > this */

    ruv_sign_phase_t phase;
    size_t total;                    /* announced envelope length */
    size_t seen;                     /* bytes fed so far */
    uint8_t hdr_buf[RUV_SIGN_HEADER_LEN];
    uint8_t sig[RUV_SIGN_SIG_LEN];
    ruv_sign_header_t hdr;
    const char *reason;              /* stable key of the last refusal, or NULL */
    ruv_status_t status;
    char message[96];
} ruv_sign_verifier_t;

/* Key identity: first 8 bytes of SHA-256 of the DER SubjectPublicKeyInfo. */
void ruv_sign_verifier_init(ruv_sign_verifier_t *v, const ruv_sign_crypto_t *crypto,
                            const uint8_t key_id[RUV_SIGN_KEY_ID_LEN], uint32_t min_generation);

/* Parses and checks a 32-byte header against the verifier's key and floor
 * (no signature). Sets v->reason/status/message on refusal. `total` is the
 * envelope length, or 0 when unknown (then the length checks are skipped). */
ruv_status_t ruv_sign_check_header(ruv_sign_verifier_t *v, const uint8_t *hdr, size_t total,
                                   ruv_sign_header_t *out);

/* Starts an envelope of `total` bytes (refuses too_short/truncated at once
 * when total < 96, and no_key without a backend). */
ruv_status_t ruv_sign_begin(ruv_sign_verifier_t *v, size_t total);

/* Feeds the next n bytes. Blob bytes are returned through *blob and *blob_len
 * (a pointer into `data`; length 0 when this piece has none) — a piece may
 * carry at most one contiguous blob run. Header refusals surface here. */
ruv_status_t ruv_sign_feed(ruv_sign_verifier_t *v, const uint8_t *data, size_t n, const uint8_t **blob,
                           size_t *blob_len);

/* After the last byte: truncated when bytes are missing, else SHA-256 over
 * header + blob must have been streamed — see ruv_sign_verify_buffer for
 * the one-shot form. The hash is computed incrementally by feed(). */
ruv_status_t ruv_sign_finish(ruv_sign_verifier_t *v);

/* One-shot: the whole envelope in memory. On RUV_OK *blob and *blob_len point
 * into env. */
ruv_status_t ruv_sign_verify_buffer(ruv_sign_verifier_t *v, const uint8_t *env, size_t len,
                                    const uint8_t **blob, size_t *blob_len);

/* Status code of a reason key (the table in docs/blob-format.md). */
ruv_status_t ruv_sign_reason_status(const char *reason);

/* ---- mbedtls backend (ruv_sign_mbedtls.c) ------------------------------ */

typedef struct ruv_sign_mbedtls ruv_sign_mbedtls_t; /* opaque, static storage */

/* Loads a P-256 public key (PEM, NUL-terminated and len including the NUL,
 * or DER) into the single static backend instance; fills `crypto` and the
 * key id. Returns RUV_ERR_INVALID_ARG for a key that is not EC P-256. */
ruv_status_t ruv_sign_mbedtls_load(const uint8_t *key, size_t len, ruv_sign_crypto_t *crypto,
                                   uint8_t key_id[RUV_SIGN_KEY_ID_LEN]);

/* Raw r||s (64 bytes) -> DER ECDSA-Sig-Value. Returns the DER length, or 0
 * when cap (>= 72 suffices) is too small. Portable (ruv_sign.c). */
size_t ruv_sign_raw_to_der(const uint8_t raw[RUV_SIGN_SIG_LEN], uint8_t *der, size_t cap);

#ifdef __cplusplus
}
#endif
#endif /* RUV_SIGN_H */
