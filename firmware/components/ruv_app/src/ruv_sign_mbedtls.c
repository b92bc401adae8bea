/*
 * ruv_sign_mbedtls.c — the crypto backend of ruv_sign.h on mbedtls: the
 * generic md (SHA-256) and pk (ECDSA verify) APIs, whose signatures are
 * the same in mbedtls 2.28 (Debian, host builds) and 3.x (ESP-IDF v5.x,
 * where SHA and ECC run on the ESP32-S3's accelerators).
 *
 * One static instance: a node verifies with one public key. Allocation
 * happens in ruv_sign_mbedtls_load() only (mbedtls' own context setup).
 */
#include "ruv_sign.h"

#include <string.h>

#include "mbedtls/md.h"
#include "mbedtls/pk.h"

/* DER SubjectPublicKeyInfo prefix of an uncompressed P-256 key:
 * SEQUENCE { SEQUENCE { id-ecPublicKey, prime256v1 }, BIT STRING 04||X||Y }. */
static const uint8_t k_p256_spki_prefix[] = {
    0x30, 0x59, 0x30, 0x13, 0x06, 0x07, 0x2a, 0x86, 0x48, 0xce, 0x3d, 0x02, 0x01,
    0x06, 0x08, 0x2a, 0x86, 0x48, 0xce, 0x3d, 0x03, 0x01, 0x07, 0x03, 0x42, 0x00, 0x04,
};
#define P256_SPKI_LEN 91

struct ruv_sign_mbedtls {
    mbedtls_pk_context pk;
    mbedtls_md_context_t md;
    bool loaded;
};

static struct ruv_sign_mbedtls s_backend;

static ruv_status_t sha_start(void *user)
{
    struct ruv_sign_mbedtls *b = user;
    return mbedtls_md_starts(&b->md) == 0 ? RUV_OK : RUV_ERR_INVALID_STATE;
}

static ruv_status_t sha_update(void *user, const uint8_t *data, size_t len)
{
    struct ruv_sign_mbedtls *b = user;
    return mbedtls_md_update(&b->md, data, len) == 0 ? RUV_OK : RUV_ERR_INVALID_STATE;
}

static ruv_status_t sha_finish(void *user, uint8_t hash[32])
{
    struct ruv_sign_mbedtls *b = user;
    return mbedtls_md_finish(&b->md, hash) == 0 ? RUV_OK : RUV_ERR_INVALID_STATE;
}

static ruv_status_t verify(void *user, const uint8_t hash[32], const uint8_t sig[RUV_SIGN_SIG_LEN])
{
    struct ruv_sign_mbedtls *b = user;
    uint8_t der[72];
    size_t n = ruv_sign_raw_to_der(sig, der, sizeof der);
    if (n == 0) return RUV_ERR_INVALID_STATE;
    /* Any failure (out-of-range r/s, wrong point) is a signature that does
     * not verify. */
    return mbedtls_pk_verify(&b->pk, MBEDTLS_MD_SHA256, hash, 32, der, n) == 0 ? RUV_OK : RUV_ERR_INVALID_CRC;
}

ruv_status_t ruv_sign_mbedtls_load(const uint8_t *key, size_t len, ruv_sign_crypto_t *crypto,
                                   uint8_t key_id[RUV_SIGN_KEY_ID_LEN])
{
    struct ruv_sign_mbedtls *b = &s_backend;
    const mbedtls_md_info_t *sha256 = mbedtls_md_info_from_type(MBEDTLS_MD_SHA256);
    uint8_t der[128], digest[32];
    int n;

    if (!key || !crypto || !key_id || !sha256) return RUV_ERR_INVALID_ARG;
    if (b->loaded) {
        mbedtls_pk_free(&b->pk);
        mbedtls_md_free(&b->md);
        b->loaded = false;
    }
    mbedtls_pk_init(&b->pk);
    mbedtls_md_init(&b->md);
    if (mbedtls_pk_parse_public_key(&b->pk, key, len) != 0) goto bad;
    /* Re-encode and compare with the P-256 SPKI prefix: checks type and
     * curve the same way on every mbedtls version, and the DER is what the
     * key id hashes. The writer fills the buffer from its end. */
    n = mbedtls_pk_write_pubkey_der(&b->pk, der, sizeof der);
    if (n != P256_SPKI_LEN || memcmp(der + sizeof der - P256_SPKI_LEN, k_p256_spki_prefix,
                                     sizeof k_p256_spki_prefix) != 0)
        goto bad;
    if (mbedtls_md(sha256, der + sizeof der - P256_SPKI_LEN, P256_SPKI_LEN, digest) != 0) goto bad;
    if (mbedtls_md_setup(&b->md, sha256, 0) != 0) goto bad;
    memcpy(key_id, digest, RUV_SIGN_KEY_ID_LEN);
    b->loaded = true;
    crypto->user = b;
    crypto->sha256_start = sha_start;
    crypto->sha256_update = sha_update;
    crypto->sha256_finish = sha_finish;
    crypto->verify = verify;
    return RUV_OK;
bad:
    mbedtls_pk_free(&b->pk);
    mbedtls_md_free(&b->md);
    return RUV_ERR_INVALID_ARG;
}
