/* test_proto.c — unit test of the console protocol parser (ruv_proto.h). */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ruv_proto.h"

static int g_fail;

#define CHECK(cond)                                                      \
    do {                                                                 \
        if (!(cond)) {                                                   \
            fprintf(stderr, "%s:%d: CHECK(%s) failed\n", __FILE__, __LINE__, #cond); \
            ++g_fail;                                                    \
        }                                                                \
    } while (0)

static ruv_status_t tok(const char *line, ruv_request_t *r)
{
    const char *why = NULL;
    ruv_status_t st = ruv_proto_tokenize(line, strlen(line), r, &why);
    CHECK(why != NULL);
    return st;
}

int main(void)
{
    ruv_request_t r;
    /* well-formed */
    CHECK(tok("#a1 push 2 00ff", &r) == RUV_OK);
    CHECK(r.id.len == 2 && memcmp(r.id.ptr, "a1", 2) == 0);
    CHECK(r.n_tok == 3 && ruv_tok_eq(r.tok[0], "push") && ruv_tok_eq(r.tok[2], "00ff"));
    CHECK(tok("  info\t ", &r) == RUV_OK && r.n_tok == 1 && r.id.len == 0);
    /* malformed */
    CHECK(tok("", &r) == RUV_ERR_INVALID_ARG);
    CHECK(tok("   ", &r) == RUV_ERR_INVALID_ARG);
    CHECK(tok("#only", &r) == RUV_ERR_INVALID_ARG);
    CHECK(tok("# info", &r) == RUV_ERR_INVALID_ARG);
    CHECK(tok("#bad!id info", &r) == RUV_ERR_INVALID_ARG);
    CHECK(tok("#abcdefghijklmnopq info", &r) == RUV_ERR_INVALID_ARG); /* 17-char id */
    CHECK(tok("#abcdefghijklmnop info", &r) == RUV_OK);               /* 16-char id */
    CHECK(tok("info \x01", &r) == RUV_ERR_INVALID_ARG);
    CHECK(tok("info \xc3\xa9", &r) == RUV_ERR_INVALID_ARG);
    CHECK(tok("a b c d e f g h", &r) == RUV_OK);
    CHECK(tok("a b c d e f g h i", &r) == RUV_ERR_INVALID_SIZE);
    /* oversized */
    {
        size_t n = RUV_PROTO_LINE_MAX + 1;
        char *big = malloc(n + 1);
        memset(big, 'x', n);
        big[n] = '\0';
        CHECK(ruv_proto_tokenize(big, n, &r, NULL) == RUV_ERR_INVALID_SIZE);
        CHECK(ruv_proto_tokenize(big, n - 1, &r, NULL) == RUV_OK);
        free(big);
        CHECK(ruv_proto_tokenize(NULL, 0, &r, NULL) == RUV_ERR_INVALID_SIZE);
    }
    /* numbers */
    uint32_t u = 0;
    ruv_tok_t t;
    t.ptr = "4294967295"; t.len = 10;
    CHECK(ruv_tok_u32(t, &u) && u == 4294967295u);
    t.ptr = "4294967296"; t.len = 10;
    CHECK(!ruv_tok_u32(t, &u));
    t.ptr = "-1"; t.len = 2;
    CHECK(!ruv_tok_u32(t, &u));
    t.ptr = "12a"; t.len = 3;
    CHECK(!ruv_tok_u32(t, &u));
    t.ptr = "DEADbeef"; t.len = 8;
    CHECK(ruv_tok_hex32(t, &u) && u == 0xDEADBEEFu);
    t.ptr = "DEADbee"; t.len = 7;
    CHECK(!ruv_tok_hex32(t, &u));
    t.ptr = "DEADbeeg"; t.len = 8;
    CHECK(!ruv_tok_hex32(t, &u));
    /* float hex: wrong length, bad digit, exact round trip incl. -0, NaN payload, inf, subnormal */
    float f[4];
    CHECK(ruv_hex_to_f32("3f800000", 7, f, 1) == RUV_ERR_INVALID_SIZE);
    CHECK(ruv_hex_to_f32("3f8000003f80000", 15, f, 2) == RUV_ERR_INVALID_SIZE);
    CHECK(ruv_hex_to_f32("3f80000g", 8, f, 1) == RUV_ERR_INVALID_ARG);
    CHECK(ruv_hex_to_f32("3f800000", 8, f, 1) == RUV_OK && f[0] == 1.0f);
    const char *pats = "80000000" "7fc12345" "ff800000" "00000001";
    CHECK(ruv_hex_to_f32(pats, 32, f, 4) == RUV_OK);
    char out[33];
    ruv_f32_to_hex(f, 4, out);
    out[32] = '\0';
    CHECK(strcmp(out, pats) == 0);
    CHECK(ruv_f32_bits(f[1]) == 0x7fc12345u);
    /* signalling NaN bits survive decoding (x87 would quiet them) */
    uint32_t snan = 0;
    CHECK(ruv_hex_to_f32("7f800001", 8, f, 1) == RUV_OK);
    memcpy(&snan, &f[0], sizeof snan);
    CHECK(snan == 0x7f800001u);
    /* random round trip */
    srand(1234);
    for (int i = 0; i < 1000; ++i) {
        uint32_t bits = ((uint32_t)rand() << 17) ^ ((uint32_t)rand() << 3) ^ (uint32_t)rand();
        float v, back; /* via memcpy: see ruv_hex_to_f32 (signalling NaNs) */
        memcpy(&v, &bits, sizeof v);
        char h[8];
        ruv_f32_to_hex(&v, 1, h);
        /* v's bits, not `bits`: on i386 a float returned by ruv_bits_f32 passes
         * through an x87 register, which quiets a signalling NaN */
        CHECK(ruv_hex_to_f32(h, 8, &back, 1) == RUV_OK && ruv_f32_bits(back) == ruv_f32_bits(v));
    }
    /* bytes */
    uint8_t b[3];
    CHECK(ruv_hex_to_bytes("00aBff", 6, b, 3) == RUV_OK && b[0] == 0 && b[1] == 0xab && b[2] == 0xff);
    CHECK(ruv_hex_to_bytes("00aBf", 5, b, 3) == RUV_ERR_INVALID_SIZE);
    CHECK(ruv_hex_to_bytes("00aBfz", 6, b, 3) == RUV_ERR_INVALID_ARG);
    /* 32-bit size_t (the chip's): a count whose byte length wraps must be
     * refused by size, not accepted (old code: n * 8 == 8, 2 * n == 2, and
     * the decoder then wrote n outputs into a one-element buffer). */
    CHECK(ruv_hex_to_f32("3f800000", 8, f, SIZE_MAX / 8u + 2u) == RUV_ERR_INVALID_SIZE);
    CHECK(ruv_hex_to_bytes("00aB", 4, b, SIZE_MAX / 2u + 3u) == RUV_ERR_INVALID_SIZE);
    CHECK(ruv_hex_to_f32("3f800000", 8, f, 0) == RUV_ERR_INVALID_SIZE);
    CHECK(ruv_hex_to_bytes("", 0, b, 0) == RUV_OK);
    /* CRC-32 check value and chaining */
    CHECK(ruv_crc32(0, "123456789", 9) == 0xCBF43926u);
    CHECK(ruv_crc32(ruv_crc32(0, "1234", 4), "56789", 5) == 0xCBF43926u);
    CHECK(ruv_crc32(0, "", 0) == 0u);
    if (g_fail) {
        fprintf(stderr, "test_app_proto: %d failures\n", g_fail);
        return 1;
    }
    printf("test_app_proto: ok\n");
    return 0;
}
