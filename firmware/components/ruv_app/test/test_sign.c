/*
 * test_sign.c — the portable envelope logic of ruv_sign.c on a fake crypto
 * backend (a toy digest; "signature" = digest twice): check order and
 * reasons, streaming at every split, the replay floor, raw->DER encoding.
 * Real ECDSA runs in the cross tests (tests/host/test_signing.py: Python
 * signs with `cryptography`, ruv_sign_verify checks with mbedtls).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ruv_sign.h"

static int g_fail;
#define CHECK(c)                                                                  \
    do {                                                                          \
        if (!(c)) {                                                               \
            fprintf(stderr, "%s:%d: CHECK failed: %s\n", __FILE__, __LINE__, #c); \
            g_fail++;                                                             \
        }                                                                         \
    } while (0)

/* Toy digest: 32 lanes of a multiplicative mix; order-sensitive. */
static uint8_t g_state[32];
static size_t g_pos;
static ruv_status_t f_start(void *u)
{
    (void)u;
    memset(g_state, 0x5A, sizeof g_state);
    g_pos = 0;
    return RUV_OK;
}
static ruv_status_t f_update(void *u, const uint8_t *d, size_t n)
{
    (void)u;
    for (size_t i = 0; i < n; i++, g_pos++) {
        size_t lane = g_pos % 32;
        g_state[lane] = (uint8_t)(g_state[lane] * 31u + d[i] + (uint8_t)g_pos);
    }
    return RUV_OK;
}
static ruv_status_t f_finish(void *u, uint8_t h[32])
{
    (void)u;
    memcpy(h, g_state, 32);
    return RUV_OK;
}
static ruv_status_t f_verify(void *u, const uint8_t h[32], const uint8_t sig[64])
{
    (void)u;
    return memcmp(h, sig, 32) == 0 && memcmp(h, sig + 32, 32) == 0 ? RUV_OK : RUV_ERR_INVALID_CRC;
}
static const ruv_sign_crypto_t k_fake = {NULL, f_start, f_update, f_finish, f_verify};
static const uint8_t k_key[8] = {1, 2, 3, 4, 5, 6, 7, 8};

static void put32(uint8_t *b, uint32_t v)
{
    b[0] = (uint8_t)v;
    b[1] = (uint8_t)(v >> 8);
    b[2] = (uint8_t)(v >> 16);
    b[3] = (uint8_t)(v >> 24);
}

/* Builds a "signed" envelope with the toy digest. */
static size_t make_env(uint8_t *out, const uint8_t *blob, size_t n, uint32_t gen, const uint8_t *key)
{
    uint8_t h[32];
    memset(out, 0, 32);
    put32(out, RUV_SIGN_MAGIC);
    out[4] = 1;
    out[6] = 32;
    put32(out + 8, gen);
    put32(out + 12, (uint32_t)n);
    memcpy(out + 16, key, 8);
    out[24] = 1;
    memcpy(out + 32, blob, n);
    f_start(NULL);
    f_update(NULL, out, 32 + n);
    f_finish(NULL, h);
    memcpy(out + 32 + n, h, 32);
    memcpy(out + 64 + n, h, 32);
    return 96 + n;
}

static const char *verify_buf(const uint8_t *env, size_t len, uint32_t floor_gen, const uint8_t **blob,
                              size_t *blob_len)
{
    static ruv_sign_verifier_t v;
    ruv_sign_verifier_init(&v, &k_fake, k_key, floor_gen);
    ruv_status_t st = ruv_sign_verify_buffer(&v, env, len, blob, blob_len);
    if (st == RUV_OK) return "ok";
    CHECK(v.reason != NULL);
    CHECK(st == ruv_sign_reason_status(v.reason));
    CHECK(v.message[0] != '\0');
    return v.reason;
}

static void test_reasons(void)
{
    uint8_t blob[300], env[400], bad[400];
    const uint8_t *b;
    size_t bl, n;
    for (size_t i = 0; i < sizeof blob; i++) blob[i] = (uint8_t)(i * 7 + 3);
    n = make_env(env, blob, sizeof blob, 5, k_key);
    CHECK(n == 396);

    CHECK(strcmp(verify_buf(env, n, 4, &b, &bl), "ok") == 0);
    CHECK(b == env + 32 && bl == sizeof blob);
    CHECK(strcmp(verify_buf(env, n, 0, &b, &bl), "ok") == 0);
    /* replay floor: equal and older refused */
    CHECK(strcmp(verify_buf(env, n, 5, &b, &bl), "old_generation") == 0);
    CHECK(strcmp(verify_buf(env, n, 9, &b, &bl), "old_generation") == 0);
    CHECK(b == NULL && bl == 0);
    /* truncated anywhere, too long */
    for (size_t cut = 0; cut < n; cut += 13) {
        const char *r = verify_buf(env, cut, 0, &b, &bl);
        CHECK(strcmp(r, cut < 4 ? "too_short" : "truncated") == 0);
    }
    memcpy(bad, env, n);
    bad[n] = 0;
    CHECK(strcmp(verify_buf(bad, n + 1, 0, &b, &bl), "length_mismatch") == 0);
    /* every flipped byte of blob or signature is a bad signature */
    for (size_t at = 32; at < n; at += 5) {
        memcpy(bad, env, n);
        bad[at] ^= 0x10;
        CHECK(strcmp(verify_buf(bad, n, 0, &b, &bl), "bad_signature") == 0);
    }
    /* header fields, in check order */
    memcpy(bad, env, n);
    bad[0] ^= 1;
    CHECK(strcmp(verify_buf(bad, n, 0, &b, &bl), "bad_magic") == 0);
    memcpy(bad, env, n);
    bad[4] = 2;
    CHECK(strcmp(verify_buf(bad, n, 0, &b, &bl), "bad_version") == 0);
    memcpy(bad, env, n);
    bad[29] = 1;
    CHECK(strcmp(verify_buf(bad, n, 0, &b, &bl), "bad_header") == 0);
    memcpy(bad, env, n);
    put32(bad + 8, 0);
    CHECK(strcmp(verify_buf(bad, n, 0, &b, &bl), "bad_header") == 0);
    memcpy(bad, env, n);
    bad[24] = 2;
    CHECK(strcmp(verify_buf(bad, n, 0, &b, &bl), "bad_alg") == 0);
    memcpy(bad, env, n);
    put32(bad + 12, 301);
    CHECK(strcmp(verify_buf(bad, n, 0, &b, &bl), "truncated") == 0);
    put32(bad + 12, 0xFFFFFFFFu);
    CHECK(strcmp(verify_buf(bad, n, 0, &b, &bl), "truncated") == 0);
    put32(bad + 12, 299);
    CHECK(strcmp(verify_buf(bad, n, 0, &b, &bl), "length_mismatch") == 0);
    {
        uint8_t other[8] = {1, 2, 3, 4, 5, 6, 7, 9};
        size_t m = make_env(bad, blob, sizeof blob, 5, other);
        CHECK(strcmp(verify_buf(bad, m, 0, &b, &bl), "key_mismatch") == 0);
    }
    /* a bare RVNE blob */
    memcpy(bad, blob, sizeof blob);
    put32(bad, RUV_SIGN_RVNE_MAGIC);
    CHECK(strcmp(verify_buf(bad, sizeof blob, 0, &b, &bl), "unsigned") == 0);
    CHECK(strcmp(verify_buf(bad, 40, 0, &b, &bl), "unsigned") == 0);
    /* no key at all */
    {
        ruv_sign_verifier_t v;
        ruv_sign_verifier_init(&v, NULL, NULL, 0);
        CHECK(ruv_sign_verify_buffer(&v, env, n, &b, &bl) == RUV_ERR_NOT_SUPPORTED);
        CHECK(strcmp(v.reason, "no_key") == 0);
    }
    /* an empty blob is structurally fine */
    n = make_env(env, blob, 0, 1, k_key);
    CHECK(strcmp(verify_buf(env, n, 0, &b, &bl), "ok") == 0 && bl == 0);
}

static void test_streaming(void)
{
    uint8_t blob[257], env[400], got[400];
    size_t n;
    for (size_t i = 0; i < sizeof blob; i++) blob[i] = (uint8_t)(i ^ 0xA5);
    n = make_env(env, blob, sizeof blob, 7, k_key);
    for (size_t chunk = 1; chunk <= n; chunk++) {
        ruv_sign_verifier_t v;
        size_t at = 0, out = 0;
        ruv_status_t st;
        ruv_sign_verifier_init(&v, &k_fake, k_key, 6);
        st = ruv_sign_begin(&v, n);
        while (st == RUV_OK && at < n) {
            const uint8_t *part;
            size_t part_len, take = n - at < chunk ? n - at : chunk;
            st = ruv_sign_feed(&v, env + at, take, &part, &part_len);
            if (part_len) {
                CHECK(part >= env + at && part + part_len <= env + at + take);
                memcpy(got + out, part, part_len);
                out += part_len;
            }
            at += take;
        }
        CHECK(st == RUV_OK);
        CHECK(ruv_sign_finish(&v) == RUV_OK);
        CHECK(out == sizeof blob && memcmp(got, blob, out) == 0);
    }
    /* header refusal arrives with the 32nd byte, before any blob byte */
    {
        ruv_sign_verifier_t v;
        const uint8_t *part;
        size_t part_len;
        ruv_sign_verifier_init(&v, &k_fake, k_key, 7);
        CHECK(ruv_sign_begin(&v, n) == RUV_OK);
        CHECK(ruv_sign_feed(&v, env, 31, &part, &part_len) == RUV_OK && part_len == 0);
        CHECK(ruv_sign_feed(&v, env + 31, 10, &part, &part_len) == RUV_ERR_INVALID_VERSION);
        CHECK(part_len == 0 && strcmp(v.reason, "old_generation") == 0);
        /* stays failed */
        CHECK(ruv_sign_feed(&v, env + 41, 1, &part, &part_len) == RUV_ERR_INVALID_VERSION);
        CHECK(ruv_sign_finish(&v) == RUV_ERR_INVALID_VERSION);
    }
    /* missing tail: finish() says truncated; extra bytes: length_mismatch */
    {
        ruv_sign_verifier_t v;
        const uint8_t *part;
        size_t part_len;
        ruv_sign_verifier_init(&v, &k_fake, k_key, 0);
        CHECK(ruv_sign_begin(&v, n) == RUV_OK);
        CHECK(ruv_sign_feed(&v, env, n - 1, &part, &part_len) == RUV_OK);
        CHECK(ruv_sign_finish(&v) == RUV_ERR_INVALID_SIZE && strcmp(v.reason, "truncated") == 0);
        ruv_sign_verifier_init(&v, &k_fake, k_key, 0);
        CHECK(ruv_sign_begin(&v, n) == RUV_OK);
        CHECK(ruv_sign_feed(&v, env, n, &part, &part_len) == RUV_OK);
        CHECK(ruv_sign_feed(&v, env, 1, &part, &part_len) == RUV_ERR_INVALID_SIZE);
        CHECK(strcmp(v.reason, "length_mismatch") == 0);
    }
}

static void test_der(void)
{
    uint8_t raw[64], der[72];
    size_t n;
    /* r with top bit set (33-byte INTEGER), s with leading zeros */
    memset(raw, 0, sizeof raw);
    raw[0] = 0x80;
    raw[31] = 1;
    raw[62] = 0x7F;
    raw[63] = 0x01;
    n = ruv_sign_raw_to_der(raw, der, sizeof der);
    CHECK(n == 2 + 2 + 33 + 2 + 2);
    CHECK(der[0] == 0x30 && der[1] == n - 2);
    CHECK(der[2] == 0x02 && der[3] == 33 && der[4] == 0x00 && der[5] == 0x80 && der[36] == 1);
    CHECK(der[37] == 0x02 && der[38] == 2 && der[39] == 0x7F && der[40] == 0x01);
    /* zero integer encodes as one 0x00 byte */
    memset(raw, 0, sizeof raw);
    n = ruv_sign_raw_to_der(raw, der, sizeof der);
    CHECK(n == 8 && der[3] == 1 && der[4] == 0 && der[6] == 1 && der[7] == 0);
    CHECK(ruv_sign_raw_to_der(raw, der, 71) == 0);
    /* maximum length */
    memset(raw, 0xFF, sizeof raw);
    CHECK(ruv_sign_raw_to_der(raw, der, sizeof der) == 72);
}

int main(void)
{
    test_reasons();
    test_streaming();
    test_der();
    if (g_fail) {
        fprintf(stderr, "test_sign: %d check(s) failed\n", g_fail);
        return 1;
    }
    printf("test_sign: ok\n");
    return 0;
}
