/*
 * ruv_sign_verify — host command line around ruv_sign (the node's envelope
 * verifier on mbedtls), used by the cross tests (Python signs, C verifies)
 * and by people checking an envelope against a node's key:
 *
 *   ruv_sign_verify PUBKEY.pem ENVELOPE [MIN_GENERATION [CHUNK]]
 *
 * CHUNK > 0 feeds the envelope in pieces of that size (the streaming path
 * an MQTT message takes on the node). Prints one line:
 *   OK generation=<g> blob_len=<n> blob_crc=0x<crc>
 *   REJECTED <reason> 0x<status> <message>
 * Exit: 0 accepted, 1 refused, 2 usage or unreadable file / key.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ruv_crc32.h"
#include "ruv_sign.h"

static uint8_t *read_all(const char *path, size_t *len, int nul)
{
    FILE *f = fopen(path, "rb");
    uint8_t *buf = NULL;
    size_t cap = 0, n = 0;
    if (!f) return NULL;
    for (;;) {
        if (n + 4096 + 1 > cap) {
            uint8_t *nb;
            cap = cap ? cap * 2 : 65536;
            nb = realloc(buf, cap);
            if (!nb) {
                free(buf);
                fclose(f);
                return NULL;
            }
            buf = nb;
        }
        size_t got = fread(buf + n, 1, 4096, f);
        n += got;
        if (got < 4096) break;
    }
    fclose(f);
    if (nul) buf[n++] = 0; /* mbedtls wants PEM NUL-terminated, length incl. NUL */
    *len = n;
    return buf;
}

int main(int argc, char **argv)
{
    ruv_sign_crypto_t crypto;
    ruv_sign_verifier_t v;
    uint8_t key_id[RUV_SIGN_KEY_ID_LEN];
    size_t key_len = 0, env_len = 0, chunk = 0, blob_len = 0;
    uint8_t *key, *env;
    unsigned long min_gen = 0;
    uint32_t crc = 0;
    ruv_status_t st;

    if (argc < 3 || argc > 5) {
        fprintf(stderr, "usage: %s PUBKEY ENVELOPE [MIN_GENERATION [CHUNK]]\n", argv[0]);
        return 2;
    }
    if (argc > 3) min_gen = strtoul(argv[3], NULL, 0);
    if (argc > 4) chunk = (size_t)strtoul(argv[4], NULL, 0);
    key = read_all(argv[1], &key_len, 1);
    env = read_all(argv[2], &env_len, 0);
    if (!key || !env) {
        fprintf(stderr, "cannot read %s\n", key ? argv[2] : argv[1]);
        return 2;
    }
    /* A DER key has no terminator: drop the NUL we appended. */
    if (key_len > 1 && key[0] == 0x30) key_len--;
    if (ruv_sign_mbedtls_load(key, key_len, &crypto, key_id) != RUV_OK) {
        fprintf(stderr, "%s: not an ECDSA P-256 public key\n", argv[1]);
        return 2;
    }
    ruv_sign_verifier_init(&v, &crypto, key_id, (uint32_t)min_gen);
    if (chunk == 0) {
        const uint8_t *blob;
        st = ruv_sign_verify_buffer(&v, env, env_len, &blob, &blob_len);
        if (st == RUV_OK) crc = ruv_crc32(0, blob, blob_len);
    } else {
        size_t at = 0;
        st = ruv_sign_begin(&v, env_len);
        while (st == RUV_OK && at < env_len) {
            const uint8_t *part;
            size_t n = env_len - at < chunk ? env_len - at : chunk, part_len;
            st = ruv_sign_feed(&v, env + at, n, &part, &part_len);
            crc = ruv_crc32(crc, part, part_len);
            blob_len += part_len;
            at += n;
        }
        if (st == RUV_OK) st = ruv_sign_finish(&v);
    }
    if (st == RUV_OK) {
        printf("OK generation=%lu blob_len=%lu blob_crc=0x%08lX\n", (unsigned long)v.hdr.generation,
               (unsigned long)blob_len, (unsigned long)crc);
    } else {
        printf("REJECTED %s 0x%X %s\n", v.reason ? v.reason : "?", (unsigned)st, v.message);
    }
    free(key);
    free(env);
    return st == RUV_OK ? 0 : 1;
}
