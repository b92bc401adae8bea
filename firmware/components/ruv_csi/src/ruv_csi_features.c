/*
 * ruv_csi_features.c — "csi-stats v1" (docs/features.md).
 *
 * The order of every float32 operation below is part of the definition: the
 * NumPy mirror (ruv_temporal.features) performs the same operations in the
 * same order (sequential sums in ascending subcarrier order, one rounding per
 * operation, no contraction), so the two agree to a few ulp; the remaining
 * differences come from atan2f. Divisions happen once per frame, never per
 * subcarrier. Stack use: two float arrays of RUV_CSI_MAX_SUBCARRIERS (2 KiB).
 */
#include "ruv_csi_features.h"

#include <math.h>
#include <string.h>

void ruv_csi_stats_init(ruv_csi_stats_t *st)
{
    if (st == NULL) {
        return;
    }
    memset(st, 0, sizeof(*st));
}

size_t ruv_csi_stats_state_size(void)
{
    return sizeof(ruv_csi_stats_t);
}

static float abs_f(float x)
{
    return x < 0.0f ? -x : x;
}

ruv_status_t ruv_csi_stats_compute(ruv_csi_stats_t *st, const int8_t *iq,
                                   uint16_t n_subcarriers, int8_t rssi,
                                   int8_t noise_floor,
                                   float out[RUV_CSI_STATS_V1_DIM])
{
    float amp[RUV_CSI_MAX_SUBCARRIERS];
    float psi[RUV_CSI_MAX_SUBCARRIERS];
    const uint32_t n = n_subcarriers;
    uint32_t k;
    uint32_t nv = 0;
    float sum_a = 0.0f;
    float motion = 0.0f;
    const float rssi_f = (float)rssi;

    if (st == NULL || iq == NULL || out == NULL) {
        return RUV_ERR_INVALID_ARG;
    }
    if (n == 0 || n > RUV_CSI_MAX_SUBCARRIERS) {
        return RUV_ERR_INVALID_SIZE;
    }

    for (k = 0; k < RUV_CSI_STATS_V1_DIM; k++) {
        out[k] = 0.0f;
    }

    /* Amplitudes; (0, 0) marks a null subcarrier. */
    for (k = 0; k < n; k++) {
        const int32_t i = iq[2 * k];
        const int32_t q = iq[2 * k + 1];
        const int32_t p = i * i + q * q;
        float a = 0.0f;
        if (p > 0) {
            a = sqrtf((float)p);
            nv++;
        }
        amp[k] = a;
        sum_a += a;
    }

    /* RSSI features: independent of the subcarriers. */
    out[RUV_CSI_F_RSSI] = rssi_f;
    out[RUV_CSI_F_SNR] = (float)((int32_t)rssi - (int32_t)noise_floor);
    if (!st->has_rssi) {
        st->rssi_ema = rssi_f;
        st->has_rssi = true;
    }
    out[RUV_CSI_F_RSSI_DEV] = rssi_f - st->rssi_ema;
    st->rssi_ema = st->rssi_ema + RUV_CSI_RSSI_EMA_ALPHA * (rssi_f - st->rssi_ema);

    if (nv > 0) {
        const float inv_nv = 1.0f / (float)nv;
        const float mean = sum_a * inv_nv;
        const float inv_mean = 1.0f / mean; /* mean >= 1/nv > 0 */
        float sum_d2 = 0.0f;
        float std;
        uint32_t g;
        uint32_t prev_k = 0;
        bool have_first = false;

        for (k = 0; k < n; k++) {
            if (amp[k] > 0.0f) {
                const float d = amp[k] - mean;
                sum_d2 += d * d;
            }
        }
        std = sqrtf(sum_d2 * inv_nv);
        out[RUV_CSI_F_AMP_MEAN] = mean;
        out[RUV_CSI_F_AMP_CV] = std * inv_mean;

        /* Normalised amplitudes (gain invariant). */
        for (k = 0; k < n; k++) {
            amp[k] = amp[k] * inv_mean;
        }

        /* Motion vs the previous frame and deviation from the reference
         * profile, over subcarriers non-null in both; then the updates. */
        if (st->has_prev && st->n_prev == n_subcarriers) {
            float msum = 0.0f, dsum = 0.0f;
            uint32_t mcnt = 0, dcnt = 0;
            for (k = 0; k < n; k++) {
                if (amp[k] > 0.0f && st->prev_amp[k] > 0.0f) {
                    msum += abs_f(amp[k] - st->prev_amp[k]);
                    mcnt++;
                }
                if (amp[k] > 0.0f && st->ref_amp[k] > 0.0f) {
                    dsum += abs_f(amp[k] - st->ref_amp[k]);
                    dcnt++;
                }
            }
            if (mcnt > 0) {
                motion = msum * (1.0f / (float)mcnt);
            }
            if (dcnt > 0) {
                out[RUV_CSI_F_DEVIATION] = dsum * (1.0f / (float)dcnt);
            }
            for (k = 0; k < n; k++) {
                if (amp[k] > 0.0f) {
                    const float r = st->ref_amp[k];
                    st->ref_amp[k] = r > 0.0f ? r + RUV_CSI_REF_EMA_ALPHA * (amp[k] - r) : amp[k];
                }
            }
        } else {
            memcpy(st->ref_amp, amp, n * sizeof(float)); /* new chain: reference = frame */
        }
        memcpy(st->prev_amp, amp, n * sizeof(float));
        st->has_prev = true;

        /* Profile: mean normalised amplitude of contiguous subcarrier groups. */
        for (g = 0; g < RUV_CSI_PROFILE_GROUPS; g++) {
            const uint32_t lo = (g * n) / RUV_CSI_PROFILE_GROUPS;
            const uint32_t hi = ((g + 1) * n) / RUV_CSI_PROFILE_GROUPS;
            float s = 0.0f;
            uint32_t c = 0;
            for (k = lo; k < hi; k++) {
                if (amp[k] > 0.0f) {
                    s += amp[k];
                    c++;
                }
            }
            out[RUV_CSI_F_PROFILE0 + g] = c > 0 ? s * (1.0f / (float)c) : 0.0f;
        }

        /* Phase unwrapped across subcarriers from the exact integer products
         * z_k * conj(z_prev): the phase step is atan2f of integers, so the
         * unwrapping has no branch cut to disagree on. */
        for (k = 0; k < n; k++) {
            psi[k] = 0.0f;
            if (amp[k] > 0.0f) {
                if (have_first) {
                    const int32_t ik = iq[2 * k], qk = iq[2 * k + 1];
                    const int32_t ij = iq[2 * prev_k], qj = iq[2 * prev_k + 1];
                    const int32_t re = ik * ij + qk * qj;
                    const int32_t im = qk * ij - ik * qj;
                    psi[k] = psi[prev_k] + atan2f((float)im, (float)re);
                }
                have_first = true;
                prev_k = k;
            }
        }
        if (nv >= 2) {
            float sx = 0.0f, sy = 0.0f, sxx = 0.0f, sxy = 0.0f, srr = 0.0f;
            float mx, my, slope;
            for (k = 0; k < n; k++) {
                if (amp[k] > 0.0f) {
                    sx += (float)k;
                    sy += psi[k];
                }
            }
            mx = sx * inv_nv;
            my = sy * inv_nv;
            for (k = 0; k < n; k++) {
                if (amp[k] > 0.0f) {
                    const float dx = (float)k - mx;
                    const float dy = psi[k] - my;
                    sxx += dx * dx;
                    sxy += dx * dy;
                }
            }
            slope = sxy * (1.0f / sxx); /* sxx > 0: at least two distinct k */
            for (k = 0; k < n; k++) {
                if (amp[k] > 0.0f) {
                    const float r = (psi[k] - my) - slope * ((float)k - mx);
                    srr += r * r;
                }
            }
            out[RUV_CSI_F_PHASE_SLOPE] = slope;
            out[RUV_CSI_F_PHASE_RESID] = sqrtf(srr * inv_nv);
        }
    } else {
        st->has_prev = false; /* an all-null frame breaks the motion chain */
    }
    st->n_prev = n_subcarriers;

    out[RUV_CSI_F_MOTION] = motion;
    st->motion_ema = st->motion_ema + RUV_CSI_MOTION_EMA_ALPHA * (motion - st->motion_ema);
    out[RUV_CSI_F_MOTION_EMA] = st->motion_ema;
    st->frames++;
    return RUV_OK;
}

/* ---- ESP32 / ESP32-S3 CSI buffer -> ascending L-LTF ------------------------ */

ruv_csi_layout_t ruv_csi_esp_layout(uint32_t len_bytes, uint8_t secondary_channel)
{
    /* ESP-IDF "Wi-Fi Channel State Information" table (docs/features.md). */
    if (secondary_channel > RUV_CSI_SECOND_BELOW) {
        return RUV_CSI_LAYOUT_UNKNOWN;
    }
    switch (len_bytes) {
    case 128:
        return RUV_CSI_LAYOUT_NONHT20;
    case 256:
        return RUV_CSI_LAYOUT_HT20;
    case 384:
        return secondary_channel == RUV_CSI_SECOND_NONE ? RUV_CSI_LAYOUT_HT20_STBC
                                                        : RUV_CSI_LAYOUT_HT40;
    case 376:
        return secondary_channel == RUV_CSI_SECOND_ABOVE ? RUV_CSI_LAYOUT_HT20_STBC
                                                         : RUV_CSI_LAYOUT_UNKNOWN;
    case 380:
        return secondary_channel == RUV_CSI_SECOND_BELOW ? RUV_CSI_LAYOUT_HT20_STBC
                                                         : RUV_CSI_LAYOUT_UNKNOWN;
    case 612:
        return secondary_channel != RUV_CSI_SECOND_NONE ? RUV_CSI_LAYOUT_HT40_STBC
                                                        : RUV_CSI_LAYOUT_UNKNOWN;
    default:
        return RUV_CSI_LAYOUT_UNKNOWN;
    }
}

ruv_status_t ruv_csi_lltf_from_esp(const int8_t *buf, uint32_t len_bytes,
                                   uint8_t secondary_channel, bool first_word_invalid,
                                   int8_t iq[2 * RUV_CSI_LLTF_SUBCARRIERS])
{
    const uint32_t n = RUV_CSI_LLTF_SUBCARRIERS;
    /* 20 MHz channel: entries 0..31, -32..-1 -> start at entry 32 (subcarrier
     * -32). With a secondary channel the 64 entries are already ascending. */
    const uint32_t start = secondary_channel == RUV_CSI_SECOND_NONE ? n / 2u : 0u;
    uint32_t k;

    if (buf == NULL || iq == NULL) {
        return RUV_ERR_INVALID_ARG;
    }
    if (ruv_csi_esp_layout(len_bytes, secondary_channel) == RUV_CSI_LAYOUT_UNKNOWN) {
        return RUV_ERR_NOT_SUPPORTED;
    }
    for (k = 0; k < n; k++) {
        const uint32_t e = (k + start) % n; /* driver entry of subcarrier k */
        int8_t im = buf[2u * e];
        int8_t re = buf[2u * e + 1u];
        if (first_word_invalid && e < 2u) { /* the first 4 bytes are invalid */
            im = 0;
            re = 0;
        }
        iq[2u * k] = re;
        iq[2u * k + 1u] = im;
    }
    return RUV_OK;
}

ruv_status_t ruv_csi_stats_compute_esp(ruv_csi_stats_t *st, const int8_t *buf,
                                       uint32_t len_bytes, uint8_t secondary_channel,
                                       bool first_word_invalid, int8_t rssi,
                                       int8_t noise_floor, float out[RUV_CSI_STATS_V1_DIM])
{
    int8_t iq[2 * RUV_CSI_LLTF_SUBCARRIERS];
    ruv_status_t rc;

    if (st == NULL || out == NULL) {
        return RUV_ERR_INVALID_ARG;
    }
    rc = ruv_csi_lltf_from_esp(buf, len_bytes, secondary_channel, first_word_invalid, iq);
    if (rc != RUV_OK) {
        return rc;
    }
    return ruv_csi_stats_compute(st, iq, RUV_CSI_LLTF_SUBCARRIERS, rssi, noise_floor, out);
}
