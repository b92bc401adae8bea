/*
 * test_blob_util.h — helpers shared by the core's C unit tests: CHECK
 * macros and an RVNE blob writer (base weights + extension sections,
 * padding and CRC as docs/spec.md §5 / docs/blob-format.md), independent of the
 * parser under test. Header-only (static functions).
 */
#ifndef TEST_BLOB_UTIL_H
#define TEST_BLOB_UTIL_H

#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ruv_crc32.h"
#include "ruv_kernel.h"
#include "ruv_temporal.h"

static int g_failures;

#define CHECK(cond)                                                                     \
    do {                                                                                \
        if (!(cond)) {                                                                  \
            fprintf(stderr, "%s:%d: CHECK failed: %s\n", __FILE__, __LINE__, #cond);   \
            ++g_failures;                                                               \
        }                                                                               \
    } while (0)

#define CHECK_ST(expr, want)                                                            \
    do {                                                                                \
        ruv_status_t st_ = (expr);                                                      \
        if (st_ != (want)) {                                                            \
            fprintf(stderr, "%s:%d: %s returned 0x%x (%s), want 0x%x (%s)\n", __FILE__, \
                    __LINE__, #expr, (unsigned)st_, ruv_status_name(st_),               \
                    (unsigned)(want), ruv_status_name(want));                           \
            ++g_failures;                                                               \
        }                                                                               \
    } while (0)

static inline void tb_put16(uint8_t *b, uint16_t v)
{
    b[0] = (uint8_t)v;
    b[1] = (uint8_t)(v >> 8);
}

static inline void tb_put32(uint8_t *b, uint32_t v)
{
    for (int i = 0; i < 4; ++i) {
        b[i] = (uint8_t)(v >> (8 * i));
    }
}

static inline uint32_t tb_get32(const uint8_t *b)
{
    return (uint32_t)b[0] | (uint32_t)b[1] << 8 | (uint32_t)b[2] << 16 | (uint32_t)b[3] << 24;
}

/* Rewrites the trailing CRC of a blob of `len` bytes. */
static inline void tb_fix_crc(uint8_t *b, size_t len)
{
    tb_put32(b + len - 4, ruv_crc32(0, b, len - 4));
}

typedef struct {
    uint16_t D, q, kv, d, L, C;
} tb_dims_t;

static inline size_t tb_base_count(tb_dims_t m)
{
    size_t D = m.D, qd = (size_t)m.q * m.d, kvd = (size_t)m.kv * m.d;
    return m.L * (D * qd + 2 * D * kvd + qd * D) + D * m.C;
}

static inline size_t tb_bias_count(tb_dims_t m)
{
    size_t qd = (size_t)m.q * m.d, kvd = (size_t)m.kv * m.d;
    return m.L * (qd + 2 * kvd + m.D) + m.C;
}

typedef struct {
    uint16_t tag;
    const void *payload;
    uint32_t len;
} tb_section_t;

/* Writes a blob into out (cap bytes); weights: tb_base_count floats (stored
 * as FP16 with ruv_f32_to_f16 when fp16). sections flag when n_sec > 0 or
 * force_flag. Returns the length (0 when cap is too small). */
static inline size_t tb_build(uint8_t *out, size_t cap, tb_dims_t m, bool fp16, const float *weights,
                       const tb_section_t *secs, size_t n_sec, bool force_flag)
{
    size_t count = tb_base_count(m);
    size_t pos = 24 + count * (fp16 ? 2u : 4u);
    bool sections = n_sec > 0 || force_flag;
    size_t need = pos + 4 + 4;
    for (size_t i = 0; i < n_sec; ++i) {
        need += 8 + secs[i].len + 3;
    }
    if (need > cap) {
        return 0;
    }
    memset(out, 0, need);
    tb_put32(out, 0x52564E45u);
    tb_put16(out + 4, 1);
    out[6] = (uint8_t)((fp16 ? 1 : 0) | (sections ? 2 : 0));
    tb_put16(out + 8, m.D);
    tb_put16(out + 10, m.q);
    tb_put16(out + 12, m.kv);
    tb_put16(out + 14, m.d);
    tb_put16(out + 16, m.L);
    tb_put16(out + 18, m.C);
    for (size_t i = 0; i < count; ++i) {
        if (fp16) {
            tb_put16(out + 24 + 2 * i, ruv_f32_to_f16(weights[i]));
        } else {
            uint32_t bits;
            memcpy(&bits, &weights[i], 4);
            tb_put32(out + 24 + 4 * i, bits);
        }
    }
    if (sections) {
        pos = (pos + 3u) & ~(size_t)3u;
        for (size_t i = 0; i < n_sec; ++i) {
            tb_put16(out + pos, secs[i].tag);
            tb_put16(out + pos + 2, 0);
            tb_put32(out + pos + 4, secs[i].len);
            if (secs[i].len > 0) {
                memcpy(out + pos + 8, secs[i].payload, secs[i].len);
            }
            pos = (pos + 8 + secs[i].len + 3u) & ~(size_t)3u;
        }
    }
    tb_put32(out + 20, (uint32_t)(pos - 24));
    tb_fix_crc(out, pos + 4);
    return pos + 4;
}

/* n weights of docs/spec.md §5's stream (the random blob's values). */
static inline void tb_random_weights(float *w, size_t n, uint64_t seed)
{
    uint64_t s = seed;
    for (size_t i = 0; i < n; ++i) {
        w[i] = ruv_xorshift_weight(&s);
    }
}

/* Little-endian f32 array -> bytes. */
static inline void tb_f32_bytes(uint8_t *out, const float *v, size_t n)
{
    for (size_t i = 0; i < n; ++i) {
        uint32_t bits;
        memcpy(&bits, &v[i], 4);
        tb_put32(out + 4 * i, bits);
    }
}

/* A 4-byte aligned heap copy (blobs for init must be aligned). */
static inline uint8_t *tb_dup(const uint8_t *b, size_t len)
{
    uint8_t *p = (uint8_t *)malloc(len == 0 ? 1 : len);
    if (p != NULL && len > 0) {
        memcpy(p, b, len);
    }
    return p;
}

#endif /* TEST_BLOB_UTIL_H */
