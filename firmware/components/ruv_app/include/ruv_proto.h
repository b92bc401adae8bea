/*
 * ruv_proto.h — pure helpers of the console protocol (docs/protocol.md):
 * tokenizer, IEEE-754 hex codecs, reply formatting (CRC-32: ruv_crc32.h). No state, no
 * platform: unit-tested on the host (firmware/host/app.cmake).
 */
#ifndef RUV_PROTO_H
#define RUV_PROTO_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "ruv_crc32.h" /* ruv_crc32(): CRC-32/IEEE, chainable, from the core */
#include "ruv_status.h"

#ifdef __cplusplus
extern "C" {
#endif

#define RUV_PROTO_VERSION 2 /* 2: the optional link layer (ruv_link.h) */
#define RUV_PROTO_LINE_MAX 4096 /* bytes of one request line, terminator excluded */
#define RUV_PROTO_MAX_TOKENS 8
#define RUV_PROTO_ID_MAX 16     /* request id: 1..16 chars of [A-Za-z0-9_-] */

/* Line prefixes (log lines never start with '@'). */
#define RUV_PROTO_REPLY "@R"
#define RUV_PROTO_ERROR "@E"
#define RUV_PROTO_BOOT  "@B"

typedef struct {
    const char *ptr;
    size_t len;
} ruv_tok_t;

/* A tokenised request: optional "#id" first token, then the command and
 * up to RUV_PROTO_MAX_TOKENS-1 arguments. Tokens point into the line. */
typedef struct {
    ruv_tok_t id;   /* len 0 when absent (replies then use "-") */
    ruv_tok_t tok[RUV_PROTO_MAX_TOKENS];
    size_t n_tok;   /* tok[0] is the command */
} ruv_request_t;

/* Splits a line on spaces/tabs. Errors: INVALID_SIZE (line longer than
 * RUV_PROTO_LINE_MAX or too many tokens), INVALID_ARG (empty line, bad id,
 * non-printable byte). *why receives a static reason. */
ruv_status_t ruv_proto_tokenize(const char *line, size_t len, ruv_request_t *req,
                                const char **why);

bool ruv_tok_eq(ruv_tok_t t, const char *s);

/* Decimal u32 (no sign, no leading '+', <= 10 digits, no overflow). */
bool ruv_tok_u32(ruv_tok_t t, uint32_t *out);
/* Exactly 8 hex digits (either case) -> u32. */
bool ruv_tok_hex32(ruv_tok_t t, uint32_t *out);

/* Hex of n float32 bit patterns, 8 digits each, most significant nibble
 * first (the u32 value of the bits, as printf("%08x")). Lengths must match
 * exactly (INVALID_SIZE) and every digit must be hex (INVALID_ARG). */
ruv_status_t ruv_hex_to_f32(const char *hex, size_t hex_len, float *out, size_t n);
/* Writes 8*n chars (no terminator). */
void ruv_f32_to_hex(const float *v, size_t n, char *out);
/* Bytes <-> hex pairs. */
ruv_status_t ruv_hex_to_bytes(const char *hex, size_t hex_len, uint8_t *out, size_t n);

/* Float bits helpers (no type punning through pointers). */
uint32_t ruv_f32_bits(float f);
float ruv_bits_f32(uint32_t u);

#ifdef __cplusplus
}
#endif
#endif /* RUV_PROTO_H */
