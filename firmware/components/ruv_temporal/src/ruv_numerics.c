/*
 * ruv_numerics.c — float32 exp and IEEE binary16 conversion (SPEC §10).
 *
 * Single precision only (no double anywhere), no libm, bit manipulation via
 * memcpy (no type punning through unions or pointer casts). With
 * -ffp-contract=off every IEEE-754 single-precision target computes the
 * same bits.
 */
#include <string.h>

#include "ruv_kernel.h"

static uint32_t f32_bits(float x)
{
    uint32_t u;
    memcpy(&u, &x, sizeof u);
    return u;
}

static float bits_f32(uint32_t u)
{
    float x;
    memcpy(&x, &u, sizeof x);
    return x;
}

/* 2^k for k in [-126, 127] (a normal float, exact). */
static float pow2i(int32_t k)
{
    return bits_f32((uint32_t)(k + 127) << 23);
}

/*
 * exp(x) = 2^k * exp(r), k = round(x / ln2), r = x - k*ln2 in [-ln2/2, ln2/2].
 * ln2 is split Cody–Waite style into LN2_HI (9 significant bits, so k*LN2_HI
 * is exact for |k| <= 2^15 and x - k*LN2_HI is exact) and LN2_LO.
 * exp(r) = 1 + r + r^2 * P(r), P of degree 5: the Taylor polynomial of
 * degree 7 (truncation error < 6e-9 relative on the interval); the
 * remaining error is float rounding (measured max rel err ~1.2e-7 vs a
 * double-precision exp, see test_kernel.c).
 */
#define RUV_EXP_HI 88.72283172607421875f      /* largest x with finite exp(x) */
#define RUV_EXP_LO (-103.972084045410156250f) /* exp(x) < 2^-150 below: 0 */
#define RUV_LOG2E 1.44269502162933349609375f
#define RUV_LN2_HI 0.693359375f
#define RUV_LN2_LO (-2.12194440054690583e-4f) /* ln2 - RUV_LN2_HI */

float ruv_expf(float x)
{
    float t, r, z, p;
    int32_t k;

    if (x != x) {
        return x + x; /* NaN in -> (quiet) NaN out */
    }
    if (x > RUV_EXP_HI) {
        return bits_f32(0x7F800000u); /* +inf (also for x = +inf) */
    }
    if (x < RUV_EXP_LO) {
        return 0.0f; /* also for x = -inf */
    }

    /* k = round-half-away(x * log2(e)); |k| <= 150 here. */
    t = x * RUV_LOG2E;
    k = (int32_t)(t < 0.0f ? t - 0.5f : t + 0.5f);
    r = x - (float)k * RUV_LN2_HI;
    r = r - (float)k * RUV_LN2_LO;

    z = r * r;
    p = 1.98412698412698412698e-4f;           /* 1/5040 */
    p = p * r + 1.38888888888888888889e-3f;   /* 1/720 */
    p = p * r + 8.33333333333333333333e-3f;   /* 1/120 */
    p = p * r + 4.16666666666666666667e-2f;   /* 1/24 */
    p = p * r + 1.66666666666666666667e-1f;   /* 1/6 */
    p = p * r + 0.5f;
    p = p * z + r;
    p = p + 1.0f; /* exp(r) in [0.707, 1.415] */

    /* Scale by 2^k. Outside the normal exponent range split the scale so
     * every intermediate is a normal float and only the last multiply
     * rounds (into the subnormal range, or to inf at the boundary). */
    if (k > 127) {
        return p * pow2i(k - 1) * 2.0f;
    }
    if (k < -126) {
        return p * pow2i(k + 64) * 5.42101086242752217004e-20f; /* 2^-64 */
    }
    return p * pow2i(k);
}

uint16_t ruv_f32_to_f16(float x)
{
    const uint32_t u = f32_bits(x);
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

float ruv_f16_to_f32(uint16_t hv)
{
    const uint32_t h = (uint32_t)hv;
    const uint32_t sign = (h & 0x8000u) << 16;
    const uint32_t exp = (h >> 10) & 0x1Fu;
    uint32_t mant = h & 0x3FFu;

    if (exp == 0x1Fu) {
        return bits_f32(sign | 0x7F800000u | (mant << 13)); /* inf / NaN */
    }
    if (exp == 0u) {
        uint32_t e = 113u; /* float exponent of binary16 exponent 1 */
        if (mant == 0u) {
            return bits_f32(sign); /* +-0 */
        }
        while ((mant & 0x400u) == 0u) { /* normalise the subnormal */
            mant <<= 1;
            e -= 1u;
        }
        mant &= 0x3FFu;
        return bits_f32(sign | (e << 23) | (mant << 13));
    }
    return bits_f32(sign | ((exp + 112u) << 23) | (mant << 13));
}
