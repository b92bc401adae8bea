/*
 * ruv_fp16.h — IEEE binary16 <-> float32 conversion, inline. Internal to the
 * core: ruv_kernel.c (FP16 KV cache) and ruv_model.c (FP16 weights) use it;
 * the public ruv_f16_to_f32 / ruv_f32_to_f16 (ruv_kernel.h) call it.
 *
 * Bits move through memcpy (no union or pointer-cast punning). Every result
 * is exact and fixed by IEEE 754 (the one float operation, below, has an
 * exact result), so host and ESP32-S3 builds agree bit for bit (docs/spec.md §10);
 * test_kernel checks all 65,536 halfs.
 *
 * binary16 -> float32 is the shift + exponent-rebias trick. Shifted left by
 * 13, the half's exponent and mantissa land on the float's fields; a normal
 * half (exponent 1..30) then only needs its exponent rebiased by
 * 127 - 15 = 112: integer operations, no branch (ruv_h2f_normal). The two
 * other exponents (ruv_h2f_special):
 *   31 (inf, NaN): rebias by another 112, to 255; the mantissa (the NaN
 *       payload) is kept.
 *   0 (zero, subnormal m * 2^-24): the bits (m << 13) with exponent 113 are
 *       the float 2^-14 * (1 + m/1024); subtracting 2^-14 leaves exactly
 *       m * 2^-24 (0 for m = 0). Operands and result are normal floats, so
 *       neither denormal support nor a flush-to-zero mode matters.
 * The sign is ORed in last, so -0 stays -0.
 *
 * Loops over a row test the whole row first, branch-free (the minimum of a
 * per-element key, ruv_h2f_all_normal), then convert with ruv_h2f_normal
 * alone when every half is normal (a vectorising compiler turns both loops
 * into SIMD code) or with the general ruv_h2f otherwise.
 */
#ifndef RUV_FP16_H
#define RUV_FP16_H

#include <stddef.h>
#include <stdint.h>
#include <string.h>

static inline uint32_t ruv_fp16_bits(float x)
{
    uint32_t u;
    memcpy(&u, &x, sizeof u);
    return u;
}

static inline float ruv_fp16_float(uint32_t u)
{
    float x;
    memcpy(&x, &u, sizeof x);
    return x;
}

#define RUV_FP16_REBIAS (112u << 23)      /* 127 - 15, on the float exponent */
#define RUV_FP16_TWO_M14 6.103515625e-05f /* 2^-14 */

/* A normal half (exponent 1..30) only: the result is unspecified for the
 * others. The half sign-extended to 32 bits and shifted by 13 has the sign on
 * bits 28..31 and exponent and mantissa on 13..27; clearing bits 28..30 and
 * adding the rebias (no carry out of bit 30 for exponents <= 30) gives the
 * float. */
static inline float ruv_h2f_normal(uint16_t hv)
{
    const uint32_t sx = ((uint32_t)hv ^ 0x8000u) - 0x8000u;
    return ruv_fp16_float(((sx << 13) & 0x8FFFE000u) + RUV_FP16_REBIAS);
}

/* Exponent 0 or 31. */
static inline float ruv_h2f_special(uint16_t hv)
{
    const uint32_t h = (uint32_t)hv;
    const uint32_t em = (h & 0x7FFFu) << 13;
    const uint32_t sign = (h & 0x8000u) << 16;
    if ((h & 0x7C00u) != 0u) { /* inf / NaN */
        return ruv_fp16_float(sign | (em + 2u * RUV_FP16_REBIAS));
    }
    return ruv_fp16_float(
        sign | ruv_fp16_bits(ruv_fp16_float(em + RUV_FP16_REBIAS + (1u << 23)) - RUV_FP16_TWO_M14));
}

/* Exponent 1..30? (h & 0x7C00) - 0x0400 is then in [0, 0x7400]; 0 and 31
 * give 0xFFFFFC00 and 0x7800 (unsigned). */
static inline int ruv_h2f_is_normal(uint16_t hv)
{
    return ((uint32_t)hv & 0x7C00u) - 0x0400u < 0x7800u;
}

/* binary16 -> float32, exact for every half; one rarely taken branch. */
static inline float ruv_h2f(uint16_t hv)
{
    if (ruv_h2f_is_normal(hv)) {
        return ruv_h2f_normal(hv);
    }
    return ruv_h2f_special(hv);
}

/* Whether every half of src[0..n) is normal. Branch-free: the key
 * (h + 0x0400) & 0x7C00 is (exponent + 1) mod 32 on the exponent field
 * (the carry out goes into the masked-off sign bit), below 0x0800 exactly
 * for the exponents 31 and 0; its minimum over the row decides. */
static inline int ruv_h2f_all_normal(const uint16_t *src, size_t n)
{
    uint32_t lo = 0x7C00u;
    size_t i;
    for (i = 0u; i < n; i++) {
        const uint32_t key = ((uint32_t)src[i] + 0x0400u) & 0x7C00u;
        lo = key < lo ? key : lo;
    }
    return lo >= 0x0800u;
}

/* dst[0..n) = src[0..n) as float32 (no aliasing). One pass converts every
 * half as a normal one and computes the all_normal key; if the row holds a
 * zero, subnormal, inf or NaN, a second pass converts it again with ruv_h2f. */
static inline void ruv_h2f_row(const uint16_t *src, float *dst, size_t n)
{
    uint32_t lo = 0x7C00u;
    size_t i;
    for (i = 0u; i < n; i++) {
        const uint32_t key = ((uint32_t)src[i] + 0x0400u) & 0x7C00u;
        lo = key < lo ? key : lo;
        dst[i] = ruv_h2f_normal(src[i]);
    }
    if (lo < 0x0800u) {
        for (i = 0u; i < n; i++) {
            dst[i] = ruv_h2f(src[i]);
        }
    }
}

/* float32 -> binary16, round to nearest even; overflow -> inf; NaN stays a
 * (quiet) NaN with the top payload bits. */
static inline uint16_t ruv_f2h(float x)
{
    const uint32_t u = ruv_fp16_bits(x);
    const uint32_t sign = (u >> 16) & 0x8000u;
    const uint32_t exp = (u >> 23) & 0xFFu;
    const uint32_t mant = u & 0x7FFFFFu;
    int32_t e;
    uint32_t h, rem;

    if (exp == 0xFFu) {
        if (mant != 0u) {
            /* NaN: quiet it, keep the top payload bits. */
            return (uint16_t)(sign | 0x7E00u | (mant >> 13));
        }
        return (uint16_t)(sign | 0x7C00u); /* inf */
    }
    e = (int32_t)exp - 127 + 15; /* biased binary16 exponent */
    if (e >= 31) {
        return (uint16_t)(sign | 0x7C00u); /* overflow -> inf */
    }
    if (e <= 0) {
        /* binary16 subnormal (or zero): mantissa = m * 2^(e-14). */
        uint32_t m, shift, half;
        if (e < -10) {
            return (uint16_t)sign; /* < 2^-25 (or exactly, tie to even 0) */
        }
        m = mant | 0x800000u;
        shift = (uint32_t)(14 - e); /* 14 .. 24 */
        h = m >> shift;
        rem = m & ((1u << shift) - 1u);
        half = 1u << (shift - 1u);
        if (rem > half || (rem == half && (h & 1u) != 0u)) {
            h += 1u; /* may carry into the smallest normal: correct */
        }
        return (uint16_t)(sign | h);
    }
    h = ((uint32_t)e << 10) | (mant >> 13);
    rem = mant & 0x1FFFu;
    if (rem > 0x1000u || (rem == 0x1000u && (h & 1u) != 0u)) {
        h += 1u; /* a carry into the exponent is right, up to inf */
    }
    return (uint16_t)(sign | h);
}

#endif /* RUV_FP16_H */
