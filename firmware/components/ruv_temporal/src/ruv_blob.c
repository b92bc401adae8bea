/*
 * ruv_blob.c — RVNE blob view (ruv_blob.h). Check order, reasons and
 * statuses: docs/blob-format.md; reference: host/src/ruv_temporal/rvne.py.
 *
 * Every offset is a uint64_t compared against the buffer length before the
 * bytes behind it are touched, so a lying header can never make the parser
 * read past data + len (fuzzed by fuzz/fuzz_blob.c).
 */
#include "ruv_blob.h"

#include <string.h>

#include "ruv_crc32.h"

/* ---- little-endian readers (any alignment) -------------------------------- */

static uint16_t rd16(const uint8_t *p)
{
    return (uint16_t)((uint16_t)p[0] | (uint16_t)((uint16_t)p[1] << 8));
}

static uint32_t rd32(const uint8_t *p)
{
    return (uint32_t)p[0] | ((uint32_t)p[1] << 8) | ((uint32_t)p[2] << 16) | ((uint32_t)p[3] << 24);
}

static uint64_t align4_u64(uint64_t x)
{
    return (x + 3u) & ~(uint64_t)3u;
}

static bool all_zero(const uint8_t *p, size_t n)
{
    for (size_t i = 0; i < n; ++i) {
        if (p[i] != 0u) {
            return false;
        }
    }
    return true;
}

/* ---- reasons -------------------------------------------------------------- */

typedef struct {
    const char *key;
    const char *text;
} reason_t;

static const reason_t k_reasons[] = {
    {"ok", "valid blob"},
    {"too_short", "blob shorter than 28 bytes (header + CRC)"},
    {"bad_magic", "bad magic (expected 0x52564E45, bytes 'ENVR')"},
    {"bad_version", "unsupported blob version (this parser reads 1)"},
    {"length_mismatch", "blob length differs from 28 + weights_len"},
    {"crc_mismatch", "CRC-32 mismatch"},
    {"bad_flags", "unknown flag bits set"},
    {"bad_reserved", "reserved header byte is not 0"},
    {"zero_dim", "a model dimension is 0"},
    {"bad_classes", "n_classes < 2"},
    {"bad_gqa", "n_q_heads is not a multiple of n_kv_heads"},
    {"weights_overrun", "base weights larger than the weights region"},
    {"trailing_bytes", "bytes after the base weights but no sections flag"},
    {"bad_padding", "non-zero padding byte"},
    {"section_overrun", "section overruns the weights region"},
    {"section_size", "section length wrong for its tag"},
    {"bad_section", "malformed section"},
    {"attn_not_causal", "ATTN section is not causal"},
};

const char *ruv_blob_reason_text(const char *reason)
{
    if (reason != NULL) {
        for (size_t i = 0; i < sizeof k_reasons / sizeof k_reasons[0]; ++i) {
            if (strcmp(reason, k_reasons[i].key) == 0) {
                return k_reasons[i].text;
            }
        }
    }
    return "unknown reason";
}

/* ---- sizes ------------------------------------------------------------------ */

#define COUNT_LIMIT ((uint64_t)1 << 48)

uint64_t ruv_blob_base_count(uint16_t input_dim, uint16_t n_q_heads, uint16_t n_kv_heads,
                             uint16_t head_dim, uint16_t n_layers, uint16_t n_classes)
{
    /* Each product of u16 factors below is < 2^48, the per-layer sum < 2^50:
     * no overflow. Bound it before multiplying by n_layers. */
    uint64_t dd = input_dim;
    uint64_t qd = (uint64_t)n_q_heads * head_dim;
    uint64_t kvd = (uint64_t)n_kv_heads * head_dim;
    uint64_t per_layer = dd * qd + 2u * dd * kvd + qd * dd;
    if (per_layer > COUNT_LIMIT) {
        return UINT64_MAX;
    }
    uint64_t total = per_layer * n_layers + dd * n_classes; /* < 2^64 + 2^32: fine */
    return total > COUNT_LIMIT ? UINT64_MAX : total;
}

/* ---- UTF-8 (strict, as Python's decoder: no overlongs, no surrogates,
 * nothing above U+10FFFF) ---------------------------------------------------- */

static bool utf8_valid(const uint8_t *p, size_t n)
{
    size_t i = 0;
    while (i < n) {
        uint8_t c = p[i];
        if (c < 0x80u) {
            ++i;
            continue;
        }
        size_t need;
        uint8_t lo = 0x80u, hi = 0xBFu; /* range of the second byte */
        if (c >= 0xC2u && c <= 0xDFu) {
            need = 1;
        } else if (c >= 0xE0u && c <= 0xEFu) {
            need = 2;
            if (c == 0xE0u) {
                lo = 0xA0u;
            } else if (c == 0xEDu) {
                hi = 0x9Fu;
            }
        } else if (c >= 0xF0u && c <= 0xF4u) {
            need = 3;
            if (c == 0xF0u) {
                lo = 0x90u;
            } else if (c == 0xF4u) {
                hi = 0x8Fu;
            }
        } else {
            return false;
        }
        if (n - i <= need) {
            return false;
        }
        if (p[i + 1] < lo || p[i + 1] > hi) {
            return false;
        }
        for (size_t k = 2; k <= need; ++k) {
            if ((p[i + k] & 0xC0u) != 0x80u) {
                return false;
            }
        }
        i += need + 1;
    }
    return true;
}

/* ---- parse ------------------------------------------------------------------- */

#define FAIL(st, key)                                                                            \
    do {                                                                                         \
        *reason = (key);                                                                         \
        memset(blob, 0, sizeof *blob);                                                           \
        return (st);                                                                             \
    } while (0)

/* Known section's contents (length already checked). */
static ruv_status_t section_contents(ruv_blob_t *b, uint16_t tag, const uint8_t *pl, uint32_t len,
                                     const char **reason)
{
    switch (tag) {
    case RUV_SECTION_NORM:
        b->norm = pl;
        break;
    case RUV_SECTION_BIAS:
        b->bias = pl;
        break;
    case RUV_SECTION_ATTN: {
        uint8_t causal = pl[4], log_stride = pl[5], landmarks = pl[6];
        if (causal > 1u || log_stride > 1u || landmarks > 1u) {
            *reason = "bad_section";
            return RUV_ERR_INVALID_ARG;
        }
        uint16_t block = rd16(pl + 2);
        if (block == 0u) {
            *reason = "bad_section";
            return RUV_ERR_INVALID_ARG;
        }
        if (causal != 1u) {
            *reason = "attn_not_causal";
            return RUV_ERR_NOT_SUPPORTED;
        }
        b->has_attn = true;
        b->attn_window = rd16(pl);
        b->attn_block = block;
        b->attn_log_stride = log_stride != 0u;
        b->attn_landmarks = landmarks != 0u;
        b->attn_n_globals = pl[7];
        b->attn_globals = pl + 8;
        break;
    }
    case RUV_SECTION_INPUT:
        b->has_input = true;
        b->feature_set = rd16(pl);
        b->frame_rate_x100 = rd16(pl + 2);
        break;
    case RUV_SECTION_LABELS: {
        if (!utf8_valid(pl, len)) {
            *reason = "bad_section";
            return RUV_ERR_INVALID_ARG;
        }
        /* split on NUL: names = NULs + 1; one trailing NUL is ignored when
         * that makes the count right (Python: len == C + 1 and last == ""). */
        uint64_t names = 1;
        for (uint32_t i = 0; i < len; ++i) {
            if (pl[i] == 0u) {
                ++names;
            }
        }
        if (names == (uint64_t)b->n_classes + 1u && len > 0u && pl[len - 1u] == 0u) {
            --names;
        }
        if (names != b->n_classes) {
            *reason = "bad_section";
            return RUV_ERR_INVALID_ARG;
        }
        b->labels = pl;
        b->labels_len = len;
        break;
    }
    case RUV_SECTION_META:
        if (!utf8_valid(pl, len)) {
            *reason = "bad_section";
            return RUV_ERR_INVALID_ARG;
        }
        b->has_meta = true;
        b->meta = pl;
        b->meta_len = len;
        break;
    default:
        break;
    }
    return RUV_OK;
}

static ruv_status_t parse_sections(ruv_blob_t *b, const uint8_t *data, uint64_t base_end,
                                   uint64_t region_end, const char **reason)
{
    /* Sizes each known tag requires (ATTN depends on its n_globals). */
    uint64_t D = b->input_dim, q = b->n_q_heads, kv = b->n_kv_heads, d = b->head_dim;
    uint64_t L = b->n_layers, C = b->n_classes;
    uint64_t norm_size = 8u * D;
    uint64_t bias_size = 4u * (L * (q * d + 2u * kv * d + D) + C); /* < 2^53 */
    bool seen[7] = {false, false, false, false, false, false, false};

    uint64_t pos = align4_u64(base_end);
    if (pos > region_end) {
        *reason = "section_overrun";
        return RUV_ERR_INVALID_SIZE;
    }
    if (!all_zero(data + (size_t)base_end, (size_t)(pos - base_end))) {
        *reason = "bad_padding";
        return RUV_ERR_INVALID_ARG;
    }
    while (pos < region_end) {
        if (pos + RUV_BLOB_SECTION_HEADER_SIZE > region_end) {
            *reason = "section_overrun";
            return RUV_ERR_INVALID_SIZE;
        }
        const uint8_t *sh = data + (size_t)pos;
        uint16_t tag = rd16(sh);
        uint16_t reserved = rd16(sh + 2);
        uint32_t length = rd32(sh + 4);
        if (reserved != 0u) {
            *reason = "bad_section";
            return RUV_ERR_INVALID_ARG;
        }
        uint64_t start = pos + RUV_BLOB_SECTION_HEADER_SIZE;
        uint64_t end = start + length;
        uint64_t padded = align4_u64(end);
        if (padded > region_end) {
            *reason = "section_overrun";
            return RUV_ERR_INVALID_SIZE;
        }
        if (!all_zero(data + (size_t)end, (size_t)(padded - end))) {
            *reason = "bad_padding";
            return RUV_ERR_INVALID_ARG;
        }
        const uint8_t *pl = data + (size_t)start;
        pos = padded;
        ++b->n_sections;
        if (tag < RUV_SECTION_NORM || tag > RUV_SECTION_META) {
            ++b->n_unknown;
            continue;
        }
        uint64_t want = length;
        if (tag == RUV_SECTION_NORM) {
            want = norm_size;
        } else if (tag == RUV_SECTION_BIAS) {
            want = bias_size;
        } else if (tag == RUV_SECTION_INPUT) {
            want = 4u;
        } else if (tag == RUV_SECTION_ATTN) {
            want = length >= 8u ? 8u + 2u * (uint64_t)pl[7] : 8u;
        }
        if ((uint64_t)length != want) {
            *reason = "section_size";
            return RUV_ERR_INVALID_SIZE;
        }
        if (seen[tag]) {
            *reason = "bad_section";
            return RUV_ERR_INVALID_ARG;
        }
        seen[tag] = true;
        ruv_status_t st = section_contents(b, tag, pl, length, reason);
        if (st != RUV_OK) {
            return st;
        }
    }
    return RUV_OK;
}

ruv_status_t ruv_blob_parse(const uint8_t *data, size_t len, ruv_blob_t *blob, const char **reason)
{
    const char *dummy_reason;
    ruv_blob_t dummy_blob;
    if (reason == NULL) {
        reason = &dummy_reason;
    }
    if (blob == NULL) {
        blob = &dummy_blob;
    }
    memset(blob, 0, sizeof *blob);
    /* 1. too_short (a NULL buffer counts as empty) */
    if (data == NULL || len < RUV_BLOB_MIN_SIZE) {
        FAIL(RUV_ERR_INVALID_SIZE, "too_short");
    }
    /* 2. bad_magic */
    if (rd32(data) != RUV_BLOB_MAGIC) {
        FAIL(RUV_ERR_INVALID_ARG, "bad_magic");
    }
    /* 3. bad_version */
    if (rd16(data + 4) != RUV_BLOB_VERSION) {
        FAIL(RUV_ERR_INVALID_VERSION, "bad_version");
    }
    /* 4. length_mismatch (uint64: 28 + 0xFFFFFFFF overflows a 32-bit size_t) */
    uint32_t wlen = rd32(data + 20);
    if ((uint64_t)len != (uint64_t)RUV_BLOB_MIN_SIZE + wlen) {
        FAIL(RUV_ERR_INVALID_SIZE, "length_mismatch");
    }
    /* 5. crc_mismatch */
    uint32_t stored = rd32(data + len - RUV_BLOB_CRC_SIZE);
    if (ruv_crc32(0, data, len - RUV_BLOB_CRC_SIZE) != stored) {
        FAIL(RUV_ERR_INVALID_CRC, "crc_mismatch");
    }
    /* 6. bad_flags, 7. bad_reserved */
    uint8_t flags = data[6];
    if ((flags & (uint8_t)~(RUV_BLOB_FLAG_FP16 | RUV_BLOB_FLAG_SECTIONS)) != 0u) {
        FAIL(RUV_ERR_NOT_SUPPORTED, "bad_flags");
    }
    if (data[7] != 0u) {
        FAIL(RUV_ERR_INVALID_ARG, "bad_reserved");
    }
    /* 8. zero_dim, 9. bad_classes, 10. bad_gqa */
    uint16_t D = rd16(data + 8), q = rd16(data + 10), kv = rd16(data + 12);
    uint16_t d = rd16(data + 14), L = rd16(data + 16), C = rd16(data + 18);
    if (D == 0u || q == 0u || kv == 0u || d == 0u || L == 0u || C == 0u) {
        FAIL(RUV_ERR_INVALID_ARG, "zero_dim");
    }
    if (C < 2u) {
        FAIL(RUV_ERR_INVALID_ARG, "bad_classes");
    }
    if (q % kv != 0u) {
        FAIL(RUV_ERR_INVALID_ARG, "bad_gqa");
    }
    /* 11. weights_overrun, 12. trailing_bytes */
    bool fp16 = (flags & RUV_BLOB_FLAG_FP16) != 0u;
    uint64_t count = ruv_blob_base_count(D, q, kv, d, L, C);
    if (count > (uint64_t)wlen) { /* also covers the saturated UINT64_MAX */
        FAIL(RUV_ERR_INVALID_SIZE, "weights_overrun");
    }
    uint64_t base_len = count * (fp16 ? 2u : 4u);
    if (base_len > (uint64_t)wlen) {
        FAIL(RUV_ERR_INVALID_SIZE, "weights_overrun");
    }
    bool has_sections = (flags & RUV_BLOB_FLAG_SECTIONS) != 0u;
    if (!has_sections && base_len != (uint64_t)wlen) {
        FAIL(RUV_ERR_INVALID_SIZE, "trailing_bytes");
    }

    blob->data = data;
    blob->len = len;
    blob->flags = flags;
    blob->fp16 = fp16;
    blob->input_dim = D;
    blob->n_q_heads = q;
    blob->n_kv_heads = kv;
    blob->head_dim = d;
    blob->n_layers = L;
    blob->n_classes = C;
    blob->weights_len = wlen;
    blob->base_len = (uint32_t)base_len;
    blob->crc32 = stored;
    /* count <= wlen < 2^32, so these fit a 32-bit size_t */
    blob->layer_elems = (size_t)((uint64_t)D * q * d + 2u * (uint64_t)D * kv * d +
                                 (uint64_t)q * d * D);
    blob->wc_offset = blob->layer_elems * L;

    /* 13-17. sections */
    if (has_sections) {
        uint64_t base_end = RUV_BLOB_HEADER_SIZE + base_len;
        uint64_t region_end = RUV_BLOB_HEADER_SIZE + (uint64_t)wlen;
        ruv_status_t st = parse_sections(blob, data, base_end, region_end, reason);
        if (st != RUV_OK) {
            memset(blob, 0, sizeof *blob);
            return st;
        }
    }
    *reason = "ok";
    return RUV_OK;
}

/* ---- accessors ---------------------------------------------------------------- */

const uint8_t *ruv_blob_weights(const ruv_blob_t *blob)
{
    return blob->data + RUV_BLOB_HEADER_SIZE;
}

ruv_status_t ruv_blob_attn_cfg(const ruv_blob_t *blob, size_t max_len, ruv_attn_cfg_t *cfg)
{
    if (!blob->has_attn) {
        *cfg = ruv_attn_aether();
        /* the default's globals ([0]) go through the same reduction */
    } else {
        memset(cfg, 0, sizeof *cfg);
        cfg->window = blob->attn_window;
        cfg->block_size = blob->attn_block;
        cfg->causal = true;
        cfg->log_stride = blob->attn_log_stride;
        cfg->landmarks = blob->attn_landmarks;
        cfg->n_globals = 0;
    }
    uint16_t src[RUV_MAX_GLOBALS];
    size_t n_src = 0;
    const uint8_t *raw = NULL;
    size_t n_raw = 0;
    if (blob->has_attn) {
        raw = blob->attn_globals;
        n_raw = blob->attn_n_globals;
    } else {
        n_src = cfg->n_globals > RUV_MAX_GLOBALS ? RUV_MAX_GLOBALS : cfg->n_globals;
        memcpy(src, cfg->globals, n_src * sizeof src[0]);
    }
    size_t total = raw != NULL ? n_raw : n_src;
    uint8_t n_out = 0;
    bool overflow = false;
    for (size_t i = 0; i < total; ++i) {
        uint16_t g = raw != NULL ? rd16(raw + 2u * i) : src[i];
        if ((size_t)g >= max_len) {
            continue;
        }
        bool dup = false;
        for (uint8_t k = 0; k < n_out; ++k) {
            if (cfg->globals[k] == g) {
                dup = true;
                break;
            }
        }
        if (dup) {
            continue;
        }
        if (n_out == RUV_MAX_GLOBALS) {
            overflow = true;
            continue;
        }
        cfg->globals[n_out++] = g;
    }
    cfg->n_globals = n_out;
    for (uint8_t k = n_out; k < RUV_MAX_GLOBALS; ++k) {
        cfg->globals[k] = 0;
    }
    return overflow ? RUV_ERR_NOT_SUPPORTED : RUV_OK;
}
