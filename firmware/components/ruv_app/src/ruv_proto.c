/*
 * ruv_proto.c — stateless helpers of the console protocol (ruv_proto.h).
 */
#include "ruv_proto.h"

#include <string.h>

static bool is_space(char c)
{
    return c == ' ' || c == '\t';
}

static bool is_id_char(char c)
{
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '_' ||
           c == '-';
}

ruv_status_t ruv_proto_tokenize(const char *line, size_t len, ruv_request_t *req, const char **why)
{
    const char *dummy;
    if (why == NULL) {
        why = &dummy;
    }
    memset(req, 0, sizeof *req);
    if (line == NULL) {
        *why = "line too long";
        return RUV_ERR_INVALID_SIZE;
    }
    if (len > RUV_PROTO_LINE_MAX) {
        *why = "line too long";
        return RUV_ERR_INVALID_SIZE;
    }
    size_t i = 0;
    bool first = true;
    while (i < len) {
        while (i < len && is_space(line[i])) {
            ++i;
        }
        if (i >= len) {
            break;
        }
        size_t start = i;
        while (i < len && !is_space(line[i])) {
            unsigned char c = (unsigned char)line[i];
            if (c < 0x21 || c > 0x7e) {
                *why = "non-printable byte in line";
                return RUV_ERR_INVALID_ARG;
            }
            ++i;
        }
        ruv_tok_t t = {line + start, i - start};
        if (first && t.ptr[0] == '#') {
            first = false;
            if (t.len < 2 || t.len - 1 > RUV_PROTO_ID_MAX) {
                *why = "bad request id";
                return RUV_ERR_INVALID_ARG;
            }
            for (size_t k = 1; k < t.len; ++k) {
                if (!is_id_char(t.ptr[k])) {
                    *why = "bad request id";
                    return RUV_ERR_INVALID_ARG;
                }
            }
            req->id.ptr = t.ptr + 1;
            req->id.len = t.len - 1;
            continue;
        }
        first = false;
        if (req->n_tok >= RUV_PROTO_MAX_TOKENS) {
            *why = "too many arguments";
            return RUV_ERR_INVALID_SIZE;
        }
        req->tok[req->n_tok++] = t;
    }
    if (req->n_tok == 0) {
        *why = "empty command";
        return RUV_ERR_INVALID_ARG;
    }
    *why = "";
    return RUV_OK;
}

bool ruv_tok_eq(ruv_tok_t t, const char *s)
{
    size_t n = strlen(s);
    return t.len == n && memcmp(t.ptr, s, n) == 0;
}

bool ruv_tok_u32(ruv_tok_t t, uint32_t *out)
{
    if (t.len == 0 || t.len > 10) {
        return false;
    }
    uint64_t v = 0;
    for (size_t i = 0; i < t.len; ++i) {
        char c = t.ptr[i];
        if (c < '0' || c > '9') {
            return false;
        }
        v = v * 10u + (uint64_t)(c - '0');
    }
    if (v > 0xFFFFFFFFu) {
        return false;
    }
    *out = (uint32_t)v;
    return true;
}

static int hexval(char c)
{
    if (c >= '0' && c <= '9') {
        return c - '0';
    }
    if (c >= 'a' && c <= 'f') {
        return c - 'a' + 10;
    }
    if (c >= 'A' && c <= 'F') {
        return c - 'A' + 10;
    }
    return -1;
}

static bool hex8(const char *p, uint32_t *out)
{
    uint32_t v = 0;
    for (int i = 0; i < 8; ++i) {
        int h = hexval(p[i]);
        if (h < 0) {
            return false;
        }
        v = (v << 4) | (uint32_t)h;
    }
    *out = v;
    return true;
}

bool ruv_tok_hex32(ruv_tok_t t, uint32_t *out)
{
    return t.len == 8 && hex8(t.ptr, out);
}

uint32_t ruv_f32_bits(float f)
{
    uint32_t u;
    memcpy(&u, &f, sizeof u);
    return u;
}

float ruv_bits_f32(uint32_t u)
{
    float f;
    memcpy(&f, &u, sizeof f);
    return f;
}

ruv_status_t ruv_hex_to_f32(const char *hex, size_t hex_len, float *out, size_t n)
{
    /* Divide, never multiply: n * 8 wraps on a 32-bit size_t. */
    if (hex_len % 8u != 0u || hex_len / 8u != n) {
        return RUV_ERR_INVALID_SIZE;
    }
    for (size_t i = 0; i < n; ++i) {
        uint32_t u;
        if (!hex8(hex + 8u * i, &u)) {
            return RUV_ERR_INVALID_ARG;
        }
        /* Bits straight into memory: a float passed through a return value
         * can be loaded into an x87 register (32-bit x86), which quiets a
         * signalling NaN and changes its bits. */
        memcpy(&out[i], &u, sizeof u);
    }
    return RUV_OK;
}

void ruv_f32_to_hex(const float *v, size_t n, char *out)
{
    static const char digits[] = "0123456789abcdef";
    for (size_t i = 0; i < n; ++i) {
        uint32_t u;
        memcpy(&u, &v[i], sizeof u); /* from memory: NaN payloads kept exactly */
        for (int k = 7; k >= 0; --k) {
            out[8u * i + (size_t)(7 - k)] = digits[(u >> (4 * k)) & 0xFu];
        }
    }
}

ruv_status_t ruv_hex_to_bytes(const char *hex, size_t hex_len, uint8_t *out, size_t n)
{
    if (hex_len % 2u != 0u || hex_len / 2u != n) { /* 2 * n could wrap */
        return RUV_ERR_INVALID_SIZE;
    }
    for (size_t i = 0; i < n; ++i) {
        int hi = hexval(hex[2 * i]);
        int lo = hexval(hex[2 * i + 1]);
        if (hi < 0 || lo < 0) {
            return RUV_ERR_INVALID_ARG;
        }
        out[i] = (uint8_t)((hi << 4) | lo);
    }
    return RUV_OK;
}
