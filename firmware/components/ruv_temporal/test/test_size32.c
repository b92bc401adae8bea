/*
 * test_size32.c — size arithmetic at the limits of a 32-bit size_t (the
 * ESP32-S3's), run by ctest in the 64-bit and in the 32-bit (-m32) build.
 *
 * Every case states the exact size in uint64_t and expects: the size itself
 * when it fits this build's size_t, the documented overflow answer (0,
 * SIZE_MAX, INVALID_SIZE, "arena_overflow", "weights_overrun") when it does
 * not. On a 64-bit build most of them take the "fits" branch; the 32-bit
 * build is where a product written in size_t would wrap to a small number
 * and pass a check. Cases that could only be reached with a 32-bit size_t
 * (no memory is touched because the check must fail first) are compiled
 * only there.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ruv_blob.h"
#include "ruv_kernel.h"
#include "ruv_temporal.h"
#include "test_blob_util.h"

#define SIZE_IS_32 (SIZE_MAX == 0xFFFFFFFFu)

static bool fits(uint64_t x)
{
    return x <= (uint64_t)SIZE_MAX;
}

/* A header-only blob (weights zero) of `wlen` weight bytes with the given
 * dims and flags; CRC fixed so the parser reaches the shape checks. */
static uint8_t *header_blob(tb_dims_t m, uint8_t flags, uint32_t wlen, size_t *len)
{
    size_t n = 28u + wlen;
    uint8_t *b = (uint8_t *)calloc(n, 1);
    tb_put32(b, 0x52564E45u);
    tb_put16(b + 4, 1);
    b[6] = flags;
    tb_put16(b + 8, m.D);
    tb_put16(b + 10, m.q);
    tb_put16(b + 12, m.kv);
    tb_put16(b + 14, m.d);
    tb_put16(b + 16, m.L);
    tb_put16(b + 18, m.C);
    tb_put32(b + 20, wlen);
    tb_fix_crc(b, n);
    *len = n;
    return b;
}

/* Base weights whose byte count is 2^32 + a small remainder: the header's
 * weights_len is set to that remainder, the length a 32-bit product would
 * compute. The parser must say weights_overrun, in both builds. */
static void test_blob_weight_bytes_past_4g(void)
{
    /* q = kv = 1: count = L * 4*D*d + D*C. D = d = 2^14, L = 1, C = 2:
     * count = 2^30 + 2^15, FP32 bytes = 2^32 + 2^17. */
    const tb_dims_t fp32 = {16384, 1, 1, 16384, 1, 2};
    /* FP16, L = 2: count = 2^31 + 2^15, bytes = 2^32 + 2^16. */
    const tb_dims_t fp16 = {16384, 1, 1, 16384, 2, 2};
    const struct {
        tb_dims_t m;
        uint8_t flags;
        uint64_t bytes;
    } cases[] = {
        {fp32, 0u, ((uint64_t)1 << 32) + ((uint64_t)1 << 17)},
        {fp32, 2u, ((uint64_t)1 << 32) + ((uint64_t)1 << 17)},
        {fp16, 1u, ((uint64_t)1 << 32) + ((uint64_t)1 << 16)},
        {fp16, 3u, ((uint64_t)1 << 32) + ((uint64_t)1 << 16)},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; ++i) {
        const tb_dims_t m = cases[i].m;
        const uint64_t count = ruv_blob_base_count(m.D, m.q, m.kv, m.d, m.L, m.C);
        CHECK(count * ((cases[i].flags & 1u) ? 2u : 4u) == cases[i].bytes);
        size_t len;
        uint8_t *b = header_blob(m, cases[i].flags, (uint32_t)cases[i].bytes, &len);
        const char *reason = NULL;
        ruv_blob_t view;
        CHECK_ST(ruv_blob_parse(b, len, &view, &reason), RUV_ERR_INVALID_SIZE);
        CHECK(reason != NULL && strcmp(reason, "weights_overrun") == 0);
        ruv_temporal_config_t cfg = {m.D, 64, m.C, RUV_MODE_WINDOW, false};
        size_t bytes = 1;
        CHECK_ST(ruv_temporal_check_config(b, len, &cfg, &bytes, &reason), RUV_ERR_INVALID_SIZE);
        CHECK(bytes == 0);
        free(b);
    }
}

/* The smallest valid blob of input_dim D (q = kv = d = L = 1, C = 2) and
 * a window_len N whose frame ring (N floats of D in window mode, N/2 in
 * stream mode) is just past 2^32 bytes: a planner that multiplied in size_t
 * would get a small arena (131072 and 196604 bytes here) and pass. It must
 * refuse ("arena_overflow") with a 32-bit size_t. */
static void test_arena_past_4g(void)
{
    const struct {
        uint16_t D, N;
        ruv_run_mode_t mode;
        uint64_t ring_floats;
    } cases[] = {
        {32768, 32769, RUV_MODE_WINDOW, 32769u * 32768u},   /* 2^30 + 2^15 */
        {65535, 32770, RUV_MODE_STREAM, 16385u * 65535u},   /* 2^30 + 49151 */
        {65535, 65535, RUV_MODE_WINDOW, 65535u * 65535u},   /* 2^32 - 131071 */
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; ++i) {
        const tb_dims_t m = {cases[i].D, 1, 1, 1, 1, 2};
        const uint64_t count = ruv_blob_base_count(m.D, m.q, m.kv, m.d, m.L, m.C);
        size_t len;
        uint8_t *b = header_blob(m, 0u, (uint32_t)(4u * count), &len);
        const char *reason = NULL;
        ruv_blob_t view;
        CHECK_ST(ruv_blob_parse(b, len, &view, &reason), RUV_OK);
        ruv_temporal_config_t cfg = {m.D, cases[i].N, m.C, cases[i].mode,
                                     cases[i].mode == RUV_MODE_STREAM};
        const uint64_t lower = 2u * cases[i].ring_floats * 4u; /* ring + h rows */
        size_t bytes = 0;
        ruv_status_t st = ruv_temporal_check_config(b, len, &cfg, &bytes, &reason);
        if (fits(lower)) {
            CHECK_ST(st, RUV_OK);
            CHECK((uint64_t)bytes >= lower);
        } else {
            CHECK_ST(st, RUV_ERR_NO_MEM);
            CHECK(reason != NULL && strcmp(reason, "arena_overflow") == 0);
            CHECK(bytes == 0);
            ruv_temporal_ctx_t *ctx = (ruv_temporal_ctx_t *)1;
            CHECK_ST(ruv_temporal_init_ex(b, len, &cfg, &ctx), RUV_ERR_NO_MEM);
            CHECK(ctx == NULL);
        }
        /* a window that fits in 32 bits still plans */
        ruv_temporal_config_t small = {m.D, 8, m.C, cases[i].mode, false};
        CHECK_ST(ruv_temporal_check_config(b, len, &small, &bytes, &reason), RUV_OK);
        CHECK(bytes >= 4u * 4u * (uint64_t)m.D);
        free(b);
    }
}

/* Kernel sizing functions: exact value or their overflow answer. */
static void test_kernel_sizes(void)
{
    const struct {
        size_t cap, kvh, dim, bs;
        bool fp16;
    } kv[] = {
        {65536, 256, 256, 16, false}, /* rows 2^32 floats */
        {65536, 256, 64, 16, true},   /* rows 2^30 halfs * 2 * 2 = 2^32 bytes */
        {1024, 64, 64, 16, false},    /* fits everywhere */
        {4096, 512, 256, 1, false},   /* means alone 2^31 floats */
    };
    for (size_t i = 0; i < sizeof kv / sizeof kv[0]; ++i) {
        const uint64_t elems = (uint64_t)kv[i].cap * kv[i].kvh * kv[i].dim;
        const uint64_t nb = (kv[i].cap + kv[i].bs - 1u) / kv[i].bs;
        const uint64_t exact =
            2u * elems * (kv[i].fp16 ? 2u : 4u) + 2u * nb * kv[i].kvh * kv[i].dim * 4u;
        const size_t got = ruv_kv_cache_bytes(kv[i].cap, kv[i].kvh, kv[i].dim, kv[i].bs, kv[i].fp16);
        if (fits(exact)) {
            CHECK((uint64_t)got == exact);
        } else {
            CHECK(got == 0u);
        }
    }

    ruv_attn_cfg_t cfg = ruv_attn_default();
    cfg.block_size = 1;
    {
        /* 2 * n * kv * dim floats; n = 2^20, kv*dim = 2^11 -> 2^32 */
        const size_t n = (size_t)1 << 20;
        const uint64_t exact = 2u * (uint64_t)n * 8u * 256u;
        const size_t got = ruv_sparse_scratch_floats(&cfg, n, 8, 256);
        CHECK(fits(exact) ? (uint64_t)got == exact : got == SIZE_MAX);
    }

    /* FastGRNN scratch dim + 4*hidden: hidden = 2^30 wraps 4*hidden to 0 in
     * 32 bits; either way a 16-float scratch is too small. */
    {
        const float w = 0.0f, k = 0.0f;
        float sal = 0.0f, scratch[16];
        ruv_fastgrnn_t cell = {1, (size_t)1 << 30, &w, &w, NULL, &w, &w, NULL};
        CHECK_ST(ruv_fastgrnn_salience(&cell, &k, 1, 1, &sal, scratch, 16), RUV_ERR_INVALID_SIZE);
    }

    /* Candidate sets at the largest n the uint32 indices allow: the last
     * query of n = 2^32 - 1 (reachable with any size_t). */
    {
        const uint32_t n = UINT32_MAX, i = n - 1u;
        ruv_attn_cfg_t c = ruv_attn_aether(); /* W 32, B 16, globals [0] */
        uint32_t tokens[128], blocks[128];
        size_t nt = 0, nbk = 0;
        CHECK(ruv_candidate_tokens_cap(&c, n) <= 128u);
        CHECK_ST(ruv_candidates(&c, i, n, tokens, &nt, blocks, &nbk), RUV_OK);
        /* window 33 tokens, global 0, log-stride s = 64 .. 2^31 (26 values;
         * s = 1..32 fall in the window) */
        CHECK(nt == 33u + 1u + 26u);
        CHECK(tokens[0] == i - 32u && tokens[32] == i && tokens[33] == 0u);
        CHECK(tokens[34] == i - 64u && tokens[nt - 1u] == i - 0x80000000u);
        /* causal: avail = (i+1)/16 = 2^28 - 1 blocks, pivot 2^28 - 2 */
        CHECK(nbk >= 2u && blocks[0] == 0x0FFFFFFDu && blocks[1] == 0x0FFFFFFEu);
    }
#if !SIZE_IS_32
    CHECK(ruv_estimate_sparse_edges(&cfg, (size_t)UINT32_MAX + 1u) == 0u);
#endif
}

#if SIZE_IS_32
/* Products of caller sizes that wrap only in 32 bits: the kernel must
 * report INVALID_SIZE before it touches the (small) buffers. */
static void test_kernel_products_wrap(void)
{
    float buf[64] = {0};
    ruv_attn_cfg_t cfg = ruv_attn_default();
    cfg.landmarks = false;
    /* n * q_heads * dim = 2^16 * 2^8 * 2^8 = 2^32 */
    CHECK_ST(ruv_dense_attention(buf, buf, buf, (size_t)1 << 16, 256, 256, 256, true, buf),
             RUV_ERR_INVALID_SIZE);
    CHECK_ST(ruv_sparse_attention(&cfg, buf, buf, buf, (size_t)1 << 16, 256, 256, 256, buf,
                                  NULL, 0),
             RUV_ERR_INVALID_SIZE);
    /* q_heads * dim itself wraps */
    CHECK_ST(ruv_dense_attention(buf, buf, buf, 1, (size_t)1 << 16, 1, (size_t)1 << 16, true, buf),
             RUV_ERR_INVALID_SIZE);
}
#endif

int main(void)
{
    test_blob_weight_bytes_past_4g();
    test_arena_past_4g();
    test_kernel_sizes();
#if SIZE_IS_32
    test_kernel_products_wrap();
#endif
    if (g_failures) {
        fprintf(stderr, "test_size32 (%u-bit size_t): %d failure(s)\n",
                (unsigned)(sizeof(size_t) * 8u), g_failures);
        return 1;
    }
    printf("test_size32 (%u-bit size_t): ok\n", (unsigned)(sizeof(size_t) * 8u));
    return 0;
}
