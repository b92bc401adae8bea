/*
 * test_blob.c — the RVNE blob view (ruv_blob.h, ruv_temporal_blob_info):
 * the docs/spec.md §5 random blob, every rejection of docs/blob-format.md in table
 * order (reason key + status), check order inside a section, sections
 * accepted and decoded, truncation at every length. Each blob under test is
 * copied into a heap buffer of exactly its length, so a sanitizer build
 * (-DRUV_SANITIZE=ON) catches any read past the end.
 */
#include <stdio.h>
#include <string.h>

#include "ruv_blob.h"
#include "test_blob_util.h"

static ruv_status_t parse_copy(const uint8_t *b, size_t len, ruv_blob_t *out, const char **reason)
{
    uint8_t *p = tb_dup(b, len);
    ruv_status_t st = ruv_blob_parse(p, len, out, reason);
    free(p);
    return st;
}

static void expect_at(int line, const uint8_t *b, size_t len, ruv_status_t want,
                      const char *want_reason)
{
    const char *reason = NULL;
    ruv_blob_t view;
    ruv_status_t st = parse_copy(b, len, &view, &reason);
    /* the ABI entry point must agree */
    const char *reason2 = NULL;
    uint8_t *p = tb_dup(b, len);
    ruv_status_t st2 = ruv_temporal_blob_info(p, len, NULL, &reason2);
    free(p);
    if (st != want || reason == NULL || strcmp(reason, want_reason) != 0 || st2 != st ||
        reason2 == NULL || strcmp(reason2, reason) != 0) {
        fprintf(stderr, "test_blob.c:%d: got 0x%x %s (abi 0x%x %s), want 0x%x %s\n", line,
                (unsigned)st, reason ? reason : "(null)", (unsigned)st2,
                reason2 ? reason2 : "(null)", (unsigned)want, want_reason);
        ++g_failures;
    }
}
#define EXPECT(b, len, st, reason) expect_at(__LINE__, (b), (len), (st), (reason))

static const uint8_t k_spec_header[24] = {0x45, 0x4e, 0x56, 0x52, 0x01, 0x00, 0x00, 0x00,
                                          0x10, 0x00, 0x04, 0x00, 0x01, 0x00, 0x20, 0x00,
                                          0x02, 0x00, 0x04, 0x00, 0x00, 0xa1, 0x00, 0x00};

static uint8_t g_rand[41244];
static size_t g_rand_len;
static uint8_t g_buf[65536];

/* Small model for section tests: base count 135 (odd), so FP16 base
 * weights end 2 bytes before a 4-byte boundary. */
static const tb_dims_t S = {5, 2, 1, 4, 1, 3};
static float g_w[200];

static size_t build_s(uint8_t *out, bool fp16, const tb_section_t *secs, size_t n, bool force)
{
    return tb_build(out, sizeof g_buf, S, fp16, g_w, secs, n, force);
}

/* ---- the docs/spec.md §5 blob ------------------------------------------------------ */

static void test_random_blob(void)
{
    size_t len = 0;
    CHECK_ST(ruv_temporal_init_random_blob(NULL, 0, 16, 4, 1, 32, 2, 4, RUV_TEMPORAL_RANDOM_SEED,
                                           &len),
             RUV_ERR_INVALID_SIZE);
    CHECK(len == 41244u);
    CHECK_ST(ruv_temporal_init_random_blob(g_rand, 100, 16, 4, 1, 32, 2, 4,
                                           RUV_TEMPORAL_RANDOM_SEED, &len),
             RUV_ERR_INVALID_SIZE);
    CHECK_ST(ruv_temporal_init_random_blob(g_rand, sizeof g_rand, 16, 4, 1, 32, 2, 4,
                                           RUV_TEMPORAL_RANDOM_SEED, &g_rand_len),
             RUV_OK);
    CHECK(g_rand_len == 41244u);
    CHECK(memcmp(g_rand, k_spec_header, 24) == 0);
    CHECK(tb_get32(g_rand + g_rand_len - 4) == 0xDC807956u);
    CHECK(ruv_crc32(0, g_rand, g_rand_len - 4) == 0xDC807956u);
    /* zlib check value, chaining, empty input */
    CHECK(ruv_crc32(0, "123456789", 9) == 0xCBF43926u);
    CHECK(ruv_crc32(ruv_crc32(0, "1234", 4), "56789", 5) == 0xCBF43926u);
    CHECK(ruv_crc32(0, NULL, 0) == 0u);
    /* the first weight is the first xorshift64* output */
    uint64_t s = RUV_TEMPORAL_RANDOM_SEED;
    float w0 = ruv_xorshift_weight(&s);
    uint32_t bits;
    memcpy(&bits, &w0, 4);
    CHECK(tb_get32(g_rand + 24) == bits);
    /* bad dims are refused by the writer too */
    CHECK_ST(ruv_temporal_init_random_blob(g_buf, sizeof g_buf, 16, 3, 2, 32, 2, 4, 1, &len),
             RUV_ERR_INVALID_ARG);
    CHECK_ST(ruv_temporal_init_random_blob(g_buf, sizeof g_buf, 16, 4, 1, 32, 2, 1, 1, &len),
             RUV_ERR_INVALID_ARG);
    CHECK_ST(ruv_temporal_init_random_blob(NULL, 0, 0xFFFF, 0xFFFF, 1, 0xFFFF, 0xFFFF, 4, 1,
                                           &len),
             RUV_ERR_INVALID_SIZE);

    ruv_blob_t b;
    const char *reason = NULL;
    CHECK_ST(parse_copy(g_rand, g_rand_len, &b, &reason), RUV_OK);
    CHECK(reason != NULL && strcmp(reason, "ok") == 0);
    CHECK(b.input_dim == 16 && b.n_q_heads == 4 && b.n_kv_heads == 1 && b.head_dim == 32 &&
          b.n_layers == 2 && b.n_classes == 4 && !b.fp16 && b.crc32 == 0xDC807956u);
    CHECK(b.base_len == 41216u && b.weights_len == 41216u && b.n_sections == 0);
    CHECK(b.layer_elems == 16u * 128u + 2u * 16u * 32u + 128u * 16u);
    CHECK(b.wc_offset == 2u * b.layer_elems);

    ruv_model_info_t info;
    CHECK_ST(ruv_temporal_blob_info(g_rand, g_rand_len, &info, &reason), RUV_OK);
    CHECK(info.crc32 == 0xDC807956u && info.blob_len == 41244u && info.input_dim == 16 &&
          info.n_classes == 4 && !info.has_norm && !info.has_bias && !info.has_attn &&
          !info.has_input && !info.has_labels && info.labels == NULL && info.meta == NULL);
    /* aether default */
    CHECK(info.attn.window == 32 && info.attn.block_size == 16 && info.attn.n_globals == 1 &&
          info.attn.globals[0] == 0 && info.attn.causal && info.attn.log_stride &&
          info.attn.landmarks);
    /* an unaligned copy is fine for the view (byte-wise reads) */
    memcpy(g_buf + 1, g_rand, g_rand_len);
    CHECK_ST(ruv_temporal_blob_info(g_buf + 1, g_rand_len, NULL, NULL), RUV_OK);
    printf("OK random blob: 41244 bytes, CRC 0xDC807956, header bytes of docs/spec.md §5.5\n");
}

/* ---- rejections in table order ----------------------------------------------- */

static size_t copy_rand(void)
{
    memcpy(g_buf, g_rand, g_rand_len);
    return g_rand_len;
}

static void set_dims(uint8_t *b, uint16_t D, uint16_t q, uint16_t kv, uint16_t d, uint16_t L,
                     uint16_t C)
{
    tb_put16(b + 8, D);
    tb_put16(b + 10, q);
    tb_put16(b + 12, kv);
    tb_put16(b + 14, d);
    tb_put16(b + 16, L);
    tb_put16(b + 18, C);
}

static void test_header_rejections(void)
{
    size_t n;
    /* 1 too_short */
    EXPECT(NULL, 0, RUV_ERR_INVALID_SIZE, "too_short");
    EXPECT(g_rand, 27, RUV_ERR_INVALID_SIZE, "too_short");
    /* 2 bad_magic (also beats every later error) */
    n = copy_rand();
    g_buf[0] = 0x46;
    g_buf[4] = 9;
    EXPECT(g_buf, n, RUV_ERR_INVALID_ARG, "bad_magic");
    n = copy_rand();
    g_buf[3] = 0x51;
    EXPECT(g_buf, n, RUV_ERR_INVALID_ARG, "bad_magic");
    /* 3 bad_version */
    n = copy_rand();
    g_buf[4] = 2;
    EXPECT(g_buf, n, RUV_ERR_INVALID_VERSION, "bad_version");
    n = copy_rand();
    g_buf[4] = 0;
    g_buf[5] = 0;
    EXPECT(g_buf, n, RUV_ERR_INVALID_VERSION, "bad_version");
    n = copy_rand();
    g_buf[5] = 1; /* version 0x0101 */
    EXPECT(g_buf, n, RUV_ERR_INVALID_VERSION, "bad_version");
    /* 4 length_mismatch: header weights_len vs the real length, either way */
    n = copy_rand();
    tb_put32(g_buf + 20, 41217u);
    EXPECT(g_buf, n, RUV_ERR_INVALID_SIZE, "length_mismatch");
    tb_put32(g_buf + 20, 0xFFFFFFFFu); /* 28 + wlen overflows 32 bits */
    EXPECT(g_buf, n, RUV_ERR_INVALID_SIZE, "length_mismatch");
    n = copy_rand();
    EXPECT(g_buf, n - 1, RUV_ERR_INVALID_SIZE, "length_mismatch");
    EXPECT(g_buf, 28, RUV_ERR_INVALID_SIZE, "length_mismatch");
    /* 5 crc_mismatch: a weight, a header byte, the CRC itself; before flags */
    n = copy_rand();
    g_buf[5000] ^= 1u;
    EXPECT(g_buf, n, RUV_ERR_INVALID_CRC, "crc_mismatch");
    n = copy_rand();
    g_buf[n - 1] ^= 0x80u;
    EXPECT(g_buf, n, RUV_ERR_INVALID_CRC, "crc_mismatch");
    n = copy_rand();
    g_buf[6] = 0x80; /* bad flags, CRC not fixed: CRC is checked first */
    EXPECT(g_buf, n, RUV_ERR_INVALID_CRC, "crc_mismatch");
    /* 6 bad_flags (before bad_reserved) */
    for (unsigned bit = 2; bit < 8; ++bit) {
        n = copy_rand();
        g_buf[6] = (uint8_t)(1u << bit);
        g_buf[7] = 1;
        tb_fix_crc(g_buf, n);
        EXPECT(g_buf, n, RUV_ERR_NOT_SUPPORTED, "bad_flags");
    }
    /* 7 bad_reserved (before zero_dim) */
    n = copy_rand();
    g_buf[7] = 1;
    tb_put16(g_buf + 8, 0);
    tb_fix_crc(g_buf, n);
    EXPECT(g_buf, n, RUV_ERR_INVALID_ARG, "bad_reserved");
    /* 8 zero_dim: each of the six (n_layers == 0 included) */
    for (int i = 0; i < 6; ++i) {
        n = copy_rand();
        tb_put16(g_buf + 8 + 2 * i, 0);
        tb_fix_crc(g_buf, n);
        EXPECT(g_buf, n, RUV_ERR_INVALID_ARG, "zero_dim");
    }
    n = copy_rand(); /* zero_dim before bad_classes / bad_gqa */
    set_dims(g_buf, 16, 3, 2, 32, 0, 1);
    tb_fix_crc(g_buf, n);
    EXPECT(g_buf, n, RUV_ERR_INVALID_ARG, "zero_dim");
    /* 9 bad_classes (before bad_gqa) */
    n = copy_rand();
    set_dims(g_buf, 16, 3, 2, 32, 2, 1);
    tb_fix_crc(g_buf, n);
    EXPECT(g_buf, n, RUV_ERR_INVALID_ARG, "bad_classes");
    /* 10 bad_gqa (before weights_overrun) */
    n = copy_rand();
    set_dims(g_buf, 0xFFFF, 3, 2, 0xFFFF, 0xFFFF, 4);
    tb_fix_crc(g_buf, n);
    EXPECT(g_buf, n, RUV_ERR_INVALID_ARG, "bad_gqa");
    n = copy_rand();
    set_dims(g_buf, 16, 4, 3, 32, 2, 4);
    tb_fix_crc(g_buf, n);
    EXPECT(g_buf, n, RUV_ERR_INVALID_ARG, "bad_gqa");
    printf("OK header rejections 1-10 in table order\n");
}

static void test_size_rejections(void)
{
    size_t n;
    /* 11 weights_overrun: one more input dim; huge dims (the count overflows
     * 64 bits when computed naively: L·4·D·q·d ~ 2^66) */
    n = copy_rand();
    set_dims(g_buf, 17, 4, 1, 32, 2, 4);
    tb_fix_crc(g_buf, n);
    EXPECT(g_buf, n, RUV_ERR_INVALID_SIZE, "weights_overrun");
    const uint16_t huge[][6] = {
        {0xFFFF, 0xFFFF, 0xFFFF, 0xFFFF, 0xFFFF, 0xFFFF},
        {0xFFFF, 0xFFFF, 1, 0xFFFF, 0xFFFF, 2},
        {0x8000, 0x8000, 0x8000, 0x8000, 0x8000, 0x8000},
        {1, 0xFFFF, 0xFFFF, 0xFFFF, 0xFFFF, 2},
        {16, 4, 1, 32, 0xFFFF, 4},
        {0xFFFF, 1, 1, 1, 1, 0xFFFF}, /* D·C alone > region */
    };
    for (size_t i = 0; i < sizeof huge / sizeof huge[0]; ++i) {
        for (int flags = 0; flags < 4; ++flags) {
            n = copy_rand();
            set_dims(g_buf, huge[i][0], huge[i][1], huge[i][2], huge[i][3], huge[i][4],
                     huge[i][5]);
            g_buf[6] = (uint8_t)flags;
            tb_fix_crc(g_buf, n);
            EXPECT(g_buf, n, RUV_ERR_INVALID_SIZE, "weights_overrun");
        }
    }
    /* the header alone (weights_len 0) with real dims */
    memset(g_buf, 0, 28);
    memcpy(g_buf, g_rand, 20);
    tb_fix_crc(g_buf, 28);
    EXPECT(g_buf, 28, RUV_ERR_INVALID_SIZE, "weights_overrun");
    /* FP16 flag on an FP32-sized region without sections: trailing bytes */
    n = copy_rand();
    g_buf[6] = 1;
    tb_fix_crc(g_buf, n);
    EXPECT(g_buf, n, RUV_ERR_INVALID_SIZE, "trailing_bytes");
    /* 12 trailing_bytes: 4 more bytes, no sections flag */
    n = copy_rand();
    tb_put32(g_buf + 20, 41216u + 4u);
    memset(g_buf + n - 4, 0, 4);
    n += 4;
    tb_fix_crc(g_buf, n);
    EXPECT(g_buf, n, RUV_ERR_INVALID_SIZE, "trailing_bytes");
    /* ...the same bytes with the flag: a zero gap, then a header that does not fit */
    g_buf[6] = 2;
    tb_fix_crc(g_buf, n);
    EXPECT(g_buf, n, RUV_ERR_INVALID_SIZE, "section_overrun");
    printf("OK size rejections 11-12 (huge dims, no overflow)\n");
}

/* ---- sections ------------------------------------------------------------------- */

static uint8_t g_norm[40], g_bias[96];

static void make_payloads(void)
{
    float v[24];
    for (int i = 0; i < 10; ++i) {
        v[i] = i < 5 ? 0.5f * (float)i : 1.0f + 0.25f * (float)i;
    }
    tb_f32_bytes(g_norm, v, 10);
    for (int i = 0; i < 24; ++i) {
        v[i] = 0.01f * (float)(i - 12);
    }
    tb_f32_bytes(g_bias, v, 24);
}

static const uint8_t k_attn[] = {7, 0, 4, 0, 1, 0, 1, 3, 2, 0, 5, 0, 2, 0};
static const uint8_t k_input[] = {0x01, 0x00, 0xD0, 0x07};
static const char k_labels[] = "still\0walk\0fall";       /* 15 bytes, no trailing NUL */
static const char k_labels_nul[] = "still\0walk\0fall\0"; /* one trailing NUL */
static const uint8_t k_unknown[] = {0xAA, 0xBB, 0xCC};
static const char k_meta[] = "made by test_blob \xc3\xa9\xe2\x82\xac\xf0\x9f\x98\x80";

/* Offset of section `index` in a blob built by build_s. */
static size_t section_offset(const uint8_t *b, size_t index)
{
    size_t count = tb_base_count(S);
    size_t pos = 24 + count * ((b[6] & 1) ? 2u : 4u);
    pos = (pos + 3u) & ~(size_t)3u;
    for (size_t i = 0; i < index; ++i) {
        pos = (pos + 8 + tb_get32(b + pos + 4) + 3u) & ~(size_t)3u;
    }
    return pos;
}

static void test_sections_accepted(void)
{
    const tb_section_t all[] = {
        {1, g_norm, 40},
        {2, g_bias, 96},
        {3, k_attn, sizeof k_attn},
        {4, k_input, 4},
        {99, k_unknown, 3},
        {5, k_labels, sizeof k_labels - 1},
        {6, k_meta, sizeof k_meta - 1},
        {0, NULL, 0},
        {0xFFFF, k_unknown, 1},
    };
    for (int fp16 = 0; fp16 < 2; ++fp16) {
        size_t n = build_s(g_buf, fp16 != 0, all, sizeof all / sizeof all[0], false);
        CHECK(n > 0 && n % 4 == 0);
        ruv_blob_t b;
        const char *reason = NULL;
        CHECK_ST(parse_copy(g_buf, n, &b, &reason), RUV_OK);
        CHECK(b.fp16 == (fp16 != 0) && b.n_sections == 9 && b.n_unknown == 3);
        CHECK(b.base_len == 135u * (fp16 ? 2u : 4u));
        ruv_model_info_t info;
        uint8_t *p = tb_dup(g_buf, n);
        CHECK_ST(ruv_temporal_blob_info(p, n, &info, &reason), RUV_OK);
        CHECK(info.fp16_weights == (fp16 != 0) && info.has_norm && info.has_bias &&
              info.has_attn && info.has_input && info.has_labels);
        CHECK(info.attn.window == 7 && info.attn.block_size == 4 && info.attn.causal &&
              !info.attn.log_stride && info.attn.landmarks);
        /* globals [2, 5, 2] -> deduplicated [2, 5] */
        CHECK(info.attn.n_globals == 2 && info.attn.globals[0] == 2 && info.attn.globals[1] == 5);
        CHECK(info.feature_set == 1 && info.frame_rate_x100 == 2000);
        CHECK(info.labels_len == 15 && info.labels != NULL &&
              memcmp(info.labels, k_labels, 15) == 0);
        CHECK(info.meta_len == sizeof k_meta - 1 && info.meta != NULL &&
              memcmp(info.meta, k_meta, info.meta_len) == 0);
        CHECK(info.crc32 == tb_get32(g_buf + n - 4) && info.blob_len == n);
        free(p);
    }
    /* labels with one trailing NUL; an empty META; NORM alone */
    const tb_section_t some[] = {{5, k_labels_nul, sizeof k_labels_nul - 1}, {6, "", 0}};
    size_t n = build_s(g_buf, true, some, 2, false);
    ruv_model_info_t info;
    const char *reason = NULL;
    uint8_t *p = tb_dup(g_buf, n);
    CHECK_ST(ruv_temporal_blob_info(p, n, &info, &reason), RUV_OK);
    CHECK(info.has_labels && info.labels_len == 16 && info.meta != NULL && info.meta_len == 0);
    CHECK(!info.has_attn && info.attn.window == 32);
    free(p);
    /* empty labels ("", "", "") */
    const tb_section_t empties[] = {{5, "\0\0", 2}};
    n = build_s(g_buf, false, empties, 1, false);
    EXPECT(g_buf, n, RUV_OK, "ok");
    /* flag bit1 with no section at all (FP16: a 2-byte zero gap to the boundary) */
    n = build_s(g_buf, true, NULL, 0, true);
    CHECK(n == 24 + 272 + 4);
    EXPECT(g_buf, n, RUV_OK, "ok");
    n = build_s(g_buf, false, NULL, 0, true);
    EXPECT(g_buf, n, RUV_OK, "ok");
    /* ATTN with window 0 and 0 globals, and with 255 globals (>8 distinct:
     * a valid blob, the view keeps the first 8 distinct) */
    uint8_t attn0[8] = {0, 0, 1, 0, 1, 1, 1, 0};
    tb_section_t s1 = {3, attn0, 8};
    n = build_s(g_buf, false, &s1, 1, false);
    p = tb_dup(g_buf, n);
    CHECK_ST(ruv_temporal_blob_info(p, n, &info, NULL), RUV_OK);
    CHECK(info.attn.window == 0 && info.attn.block_size == 1 && info.attn.n_globals == 0);
    free(p);
    static uint8_t attn255[8 + 510];
    memcpy(attn255, attn0, 8);
    attn255[7] = 255;
    for (int i = 0; i < 255; ++i) {
        tb_put16(attn255 + 8 + 2 * i, (uint16_t)(1000 - i % 20));
    }
    tb_section_t s2 = {3, attn255, sizeof attn255};
    n = build_s(g_buf, false, &s2, 1, false);
    p = tb_dup(g_buf, n);
    CHECK_ST(ruv_temporal_blob_info(p, n, &info, NULL), RUV_OK);
    CHECK(info.attn.n_globals == RUV_MAX_GLOBALS && info.attn.globals[0] == 1000 &&
          info.attn.globals[7] == 993);
    free(p);
    printf("OK sections accepted: NORM BIAS ATTN INPUT LABELS META, unknown tags skipped\n");
}

static void test_section_rejections(void)
{
    size_t n, off;
    const tb_section_t norm_meta[] = {{1, g_norm, 40}, {6, "hello", 5}};
    /* 13 bad_padding: the gap after FP16 base weights, a payload's padding */
    n = build_s(g_buf, true, norm_meta, 2, false);
    EXPECT(g_buf, n, RUV_OK, "ok");
    g_buf[24 + 270 + 1] = 1;
    tb_fix_crc(g_buf, n);
    EXPECT(g_buf, n, RUV_ERR_INVALID_ARG, "bad_padding");
    n = build_s(g_buf, true, norm_meta, 2, false);
    off = section_offset(g_buf, 1);
    g_buf[off + 8 + 5 + 2] = 0x20;
    tb_fix_crc(g_buf, n);
    EXPECT(g_buf, n, RUV_ERR_INVALID_ARG, "bad_padding");
    /* unknown tags get the padding check too */
    const tb_section_t unk[] = {{77, k_unknown, 3}};
    n = build_s(g_buf, false, unk, 1, false);
    off = section_offset(g_buf, 0);
    g_buf[off + 8 + 3] = 1;
    tb_fix_crc(g_buf, n);
    EXPECT(g_buf, n, RUV_ERR_INVALID_ARG, "bad_padding");

    /* 14 section_overrun */
    /* (a) FP16 base ends 2 bytes before the boundary, region ends 1 byte after base */
    n = build_s(g_buf, true, NULL, 0, true); /* region = base + 2 gap */
    tb_put32(g_buf + 20, 271);
    n = 24 + 271 + 4;
    tb_fix_crc(g_buf, n);
    EXPECT(g_buf, n, RUV_ERR_INVALID_SIZE, "section_overrun");
    /* (b) section header does not fit (4 bytes left) */
    n = build_s(g_buf, false, NULL, 0, true);
    tb_put32(g_buf + 20, 540 + 4);
    n = 24 + 544 + 4;
    memset(g_buf + 24 + 540, 0, 4);
    tb_fix_crc(g_buf, n);
    EXPECT(g_buf, n, RUV_ERR_INVALID_SIZE, "section_overrun");
    /* (c) a payload length far past the region (u32 max: no wrap-around) */
    const uint32_t bad_lens[] = {0xFFFFFFFFu, 0xFFFFFFFCu, 0x80000000u, 41u, 44u};
    for (size_t i = 0; i < sizeof bad_lens / sizeof bad_lens[0]; ++i) {
        n = build_s(g_buf, false, norm_meta, 1, false);
        off = section_offset(g_buf, 0);
        tb_put32(g_buf + off + 4, bad_lens[i]);
        tb_fix_crc(g_buf, n);
        EXPECT(g_buf, n, RUV_ERR_INVALID_SIZE, "section_overrun");
    }
    /* (d) payload fits but its padding does not (region not 4-aligned) */
    const tb_section_t meta5[] = {{6, "hello", 5}};
    n = build_s(g_buf, false, meta5, 1, false); /* region: base + 8 + 5 + 3 */
    tb_put32(g_buf + 20, tb_get32(g_buf + 20) - 3);
    n -= 3;
    tb_fix_crc(g_buf, n);
    EXPECT(g_buf, n, RUV_ERR_INVALID_SIZE, "section_overrun");
    /* (e) overrun beats reserved/padding/length of the same section: header first */
    n = build_s(g_buf, false, norm_meta, 1, false);
    off = section_offset(g_buf, 0);
    tb_put16(g_buf + off + 2, 0); /* reserved fine */
    tb_put32(g_buf + off + 4, 1000);
    tb_fix_crc(g_buf, n);
    EXPECT(g_buf, n, RUV_ERR_INVALID_SIZE, "section_overrun");

    /* 15 section_size */
    const uint8_t zeros[200] = {0};
    const tb_section_t wrong[][1] = {
        {{1, g_norm, 36}},  {{1, zeros, 44}},  {{2, g_bias, 92}}, {{2, zeros, 100}},
        {{4, k_input, 2}},  {{4, zeros, 8}},   {{3, k_attn, 7}},  {{3, k_attn, 12}},
        {{3, k_attn, 0}},   {{1, NULL, 0}},
    };
    for (size_t i = 0; i < sizeof wrong / sizeof wrong[0]; ++i) {
        n = build_s(g_buf, false, wrong[i], 1, false);
        EXPECT(g_buf, n, RUV_ERR_INVALID_SIZE, "section_size");
    }
    /* padding (13) is checked before the length (15) */
    const tb_section_t norm37[] = {{1, g_norm, 37}};
    n = build_s(g_buf, false, norm37, 1, false);
    off = section_offset(g_buf, 0);
    g_buf[off + 8 + 37] = 9;
    tb_fix_crc(g_buf, n);
    EXPECT(g_buf, n, RUV_ERR_INVALID_ARG, "bad_padding");

    /* 16 bad_section */
    /* reserved u16 (checked before payload fit and length) */
    n = build_s(g_buf, false, norm_meta, 2, false);
    off = section_offset(g_buf, 0);
    tb_put16(g_buf + off + 2, 1);
    tb_put32(g_buf + off + 4, 39);
    tb_fix_crc(g_buf, n);
    EXPECT(g_buf, n, RUV_ERR_INVALID_ARG, "bad_section");
    n = build_s(g_buf, false, unk, 1, false);
    off = section_offset(g_buf, 0);
    tb_put16(g_buf + off + 2, 0x8000);
    tb_put32(g_buf + off + 4, 5000); /* also overruns, but reserved comes first */
    tb_fix_crc(g_buf, n);
    EXPECT(g_buf, n, RUV_ERR_INVALID_ARG, "bad_section");
    /* duplicate known tag (length checked before duplicate) */
    const tb_section_t dup[] = {{1, g_norm, 40}, {6, "x", 1}, {1, g_norm, 40}};
    n = build_s(g_buf, false, dup, 3, false);
    EXPECT(g_buf, n, RUV_ERR_INVALID_ARG, "bad_section");
    const tb_section_t dup_wrong[] = {{1, g_norm, 40}, {1, g_norm, 36}};
    n = build_s(g_buf, false, dup_wrong, 2, false);
    EXPECT(g_buf, n, RUV_ERR_INVALID_SIZE, "section_size");
    const tb_section_t dup_unknown[] = {{50, "a", 1}, {50, "b", 1}};
    n = build_s(g_buf, false, dup_unknown, 2, false);
    EXPECT(g_buf, n, RUV_OK, "ok"); /* unknown tags may repeat */
    /* ATTN contents: flags 0/1, block > 0 */
    const uint8_t attn_bad[][8] = {
        {1, 0, 4, 0, 2, 1, 1, 0}, /* causal 2 */
        {1, 0, 4, 0, 1, 2, 1, 0}, /* log_stride 2 */
        {1, 0, 4, 0, 1, 1, 7, 0}, /* landmarks 7 */
        {1, 0, 0, 0, 1, 1, 1, 0}, /* block 0 */
        {1, 0, 0, 0, 0, 1, 1, 0}, /* block 0 and not causal: bad_section first */
        {1, 0, 4, 0, 0, 5, 1, 0}, /* log_stride 5 and not causal: bad_section first */
    };
    for (size_t i = 0; i < sizeof attn_bad / sizeof attn_bad[0]; ++i) {
        tb_section_t s = {3, attn_bad[i], 8};
        n = build_s(g_buf, false, &s, 1, false);
        EXPECT(g_buf, n, RUV_ERR_INVALID_ARG, "bad_section");
    }
    /* LABELS: wrong count, bad UTF-8; META: bad UTF-8 */
    const struct {
        uint16_t tag;
        const char *s;
        uint32_t len;
    } bad_text[] = {
        {5, "a\0b", 3},         {5, "a\0b\0c\0d", 7},    {5, "a\0b\0c\0\0", 7},
        {5, "", 0},             {5, "abc", 3},           {5, "a\0b\0\xff", 5},
        {6, "\xc0\x80", 2},     {6, "\xed\xa0\x80", 3},  {6, "\xf4\x90\x80\x80", 4},
        {6, "ok\xe2\x82", 4},   {6, "\x80", 1},          {6, "\xf8\x88\x80\x80\x80", 5},
        {6, "\xe0\x9f\xbf", 3}, {6, "\xf0\x8f\xbf\xbf", 4}, {6, "\xc3\x28", 2},
    };
    for (size_t i = 0; i < sizeof bad_text / sizeof bad_text[0]; ++i) {
        tb_section_t s = {bad_text[i].tag, bad_text[i].s, bad_text[i].len};
        n = build_s(g_buf, false, &s, 1, false);
        EXPECT(g_buf, n, RUV_ERR_INVALID_ARG, "bad_section");
    }
    /* valid multi-byte edge cases */
    const tb_section_t good_meta[] = {{6, "\xed\x9f\xbf\xf4\x8f\xbf\xbf\xc2\x80\x00", 10}};
    n = build_s(g_buf, false, good_meta, 1, false);
    EXPECT(g_buf, n, RUV_OK, "ok");

    /* 17 attn_not_causal */
    const uint8_t attn_nc[10] = {1, 0, 4, 0, 0, 1, 1, 1, 0, 0};
    tb_section_t snc = {3, attn_nc, 10};
    n = build_s(g_buf, false, &snc, 1, false);
    EXPECT(g_buf, n, RUV_ERR_NOT_SUPPORTED, "attn_not_causal");
    /* a bad later section is found after valid earlier ones */
    const tb_section_t later[] = {{1, g_norm, 40}, {2, g_bias, 96}, {3, attn_nc, 10}};
    n = build_s(g_buf, true, later, 3, false);
    EXPECT(g_buf, n, RUV_ERR_NOT_SUPPORTED, "attn_not_causal");
    printf("OK section rejections 13-17 and the order inside a section\n");
}

/* ---- truncation, mutation --------------------------------------------------------- */

static void truncation_scan(const uint8_t *b, size_t len, const char *what)
{
    int bad = 0;
    for (size_t cut = 0; cut < len; ++cut) {
        const char *reason = NULL;
        ruv_status_t st = parse_copy(b, cut, NULL, &reason);
        const char *want = cut < 28 ? "too_short" : "length_mismatch";
        if (st != RUV_ERR_INVALID_SIZE || reason == NULL || strcmp(reason, want) != 0) {
            ++bad;
        }
    }
    CHECK(bad == 0);
    printf("OK truncation at every length < %zu rejected (%s)\n", len, what);
}

/* Truncate the weights region and fix up header + CRC: each such blob is
 * structurally "honest" but short, exercising the later checks. */
static void honest_truncation_scan(const uint8_t *b, size_t len)
{
    static uint8_t tmp[65536];
    int accepted_short = 0;
    for (size_t wl = 0; wl + 28 < len; ++wl) {
        memcpy(tmp, b, 24 + wl);
        tb_put32(tmp + 20, (uint32_t)wl);
        tb_fix_crc(tmp, 24 + wl + 4);
        if (parse_copy(tmp, 24 + wl + 4, NULL, NULL) == RUV_OK) {
            /* only the region ending exactly at a section boundary may pass */
            ++accepted_short;
        }
    }
    CHECK(accepted_short <= 8);
    printf("OK weights region cut at every length with a fixed-up header/CRC (%d accepted at "
           "section boundaries)\n",
           accepted_short);
}

static void mutation_scan(const uint8_t *b, size_t len)
{
    static uint8_t tmp[65536];
    int ok = 0, rejected = 0;
    for (size_t i = 0; i + 4 < len; ++i) {
        for (int v = 0; v < 3; ++v) {
            memcpy(tmp, b, len);
            tmp[i] = v == 0 ? (uint8_t)(tmp[i] ^ 0xFFu) : v == 1 ? 0u : 0x80u;
            tb_fix_crc(tmp, len);
            ruv_status_t st = parse_copy(tmp, len, NULL, NULL);
            if (st == RUV_OK) {
                ++ok;
            } else {
                ++rejected;
            }
        }
    }
    CHECK(rejected > 0 && ok > 0);
    printf("OK byte mutations with a fixed CRC: %d accepted, %d rejected, no crash\n", ok,
           rejected);
}

static void test_reason_text(void)
{
    CHECK(strcmp(ruv_blob_reason_text("crc_mismatch"), "CRC-32 mismatch") == 0);
    CHECK(strcmp(ruv_blob_reason_text("nope"), "unknown reason") == 0);
    CHECK(strcmp(ruv_blob_reason_text(NULL), "unknown reason") == 0);
    CHECK(strcmp(ruv_status_name(RUV_ERR_INVALID_CRC), "INVALID_CRC") == 0);
    CHECK(strcmp(ruv_status_name(RUV_OK), "OK") == 0);
    CHECK(strcmp(ruv_status_name(RUV_ERR_INVALID_VERSION), "INVALID_VERSION") == 0);
    CHECK(strcmp(ruv_status_name(0x108), "UNKNOWN") == 0);
    CHECK(strcmp(ruv_status_name(-1), "UNKNOWN") == 0);
    printf("OK reason texts and status names\n");
}

int main(void)
{
    tb_random_weights(g_w, sizeof g_w / sizeof g_w[0], 42);
    make_payloads();
    test_random_blob();
    test_header_rejections();
    test_size_rejections();
    test_sections_accepted();
    test_section_rejections();
    truncation_scan(g_rand, g_rand_len, "init blob");
    const tb_section_t all[] = {{1, g_norm, 40}, {2, g_bias, 96}, {3, k_attn, sizeof k_attn},
                                {4, k_input, 4}, {77, k_unknown, 3},
                                {5, k_labels, sizeof k_labels - 1}, {6, "meta", 4}};
    static uint8_t with_sections[4096];
    size_t n = tb_build(with_sections, sizeof with_sections, S, true, g_w, all, 7, false);
    truncation_scan(with_sections, n, "FP16 + all sections");
    honest_truncation_scan(with_sections, n);
    mutation_scan(with_sections, n);
    test_reason_text();
    if (g_failures != 0) {
        fprintf(stderr, "test_blob: %d failure(s)\n", g_failures);
        return 1;
    }
    printf("OK test_blob\n");
    return 0;
}
