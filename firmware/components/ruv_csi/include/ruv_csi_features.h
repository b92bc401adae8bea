/*
 * ruv_csi_features.h — the "csi-stats v1" feature front-end: one raw CSI
 * frame (interleaved I/Q int8 per subcarrier, as in the 0xC5110001 packet)
 * in, RUV_CSI_STATS_V1_DIM float features out. Pure C99, no ESP-IDF header;
 * mirrored in NumPy by ruv_temporal.features (parity-tested on raw CSI).
 * The feature definitions are documented in docs/features.md.
 *
 * Subcarriers are expected in ascending frequency order (for the ESP32 LLTF
 * buffer, which starts at subcarrier 0, swap the two halves first). A
 * subcarrier whose I and Q are both 0 is treated as null (guard/DC) and left
 * out of every statistic. No allocation; libm use: sqrtf and atan2f only.
 */
#ifndef RUV_CSI_FEATURES_H
#define RUV_CSI_FEATURES_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "ruv_status.h"

#ifdef __cplusplus
extern "C" {
#endif

#define RUV_CSI_FEATURE_SET_STATS_V1 1 /* id carried in the blob's INPUT section */
#define RUV_CSI_STATS_V1_DIM 16
#define RUV_CSI_MAX_SUBCARRIERS 256

/* Subcarrier groups of the amplitude profile (features 5..10). */
#define RUV_CSI_PROFILE_GROUPS 6
/* EMA coefficients (x_ema += alpha * (x - x_ema)), float32. */
#define RUV_CSI_MOTION_EMA_ALPHA 0.25f
#define RUV_CSI_RSSI_EMA_ALPHA 0.0625f
#define RUV_CSI_REF_EMA_ALPHA 0.0625f /* reference amplitude profile */

/* Feature indices of csi-stats v1 (docs/features.md). */
enum {
    RUV_CSI_F_AMP_MEAN = 0,    /* mean amplitude of the non-null subcarriers */
    RUV_CSI_F_AMP_CV = 1,      /* population std / mean of the amplitudes */
    RUV_CSI_F_MOTION = 2,      /* mean |a/mean - a_prev/mean_prev| */
    RUV_CSI_F_MOTION_EMA = 3,  /* EMA of MOTION, alpha 0.25 */
    RUV_CSI_F_DEVIATION = 4,   /* mean |a/mean - reference profile| */
    RUV_CSI_F_PROFILE0 = 5,    /* 5..10: mean normalised amplitude per group */
    RUV_CSI_F_PHASE_SLOPE = 11,/* rad per subcarrier, unwrapped phase */
    RUV_CSI_F_PHASE_RESID = 12,/* rad, std of detrended unwrapped phase */
    RUV_CSI_F_RSSI = 13,       /* dBm */
    RUV_CSI_F_SNR = 14,        /* rssi - noise floor, dB */
    RUV_CSI_F_RSSI_DEV = 15    /* rssi - previous RSSI EMA, dB */
};

/* Per-link state (previous frame, running statistics). Statically sized;
 * one per (node, antenna) stream. Initialise with ruv_csi_stats_init. */
typedef struct {
    float prev_amp[RUV_CSI_MAX_SUBCARRIERS]; /* previous normalised amplitudes, 0 = null */
    float ref_amp[RUV_CSI_MAX_SUBCARRIERS];  /* EMA of normalised amplitudes, 0 = none */
    uint16_t n_prev;                         /* subcarrier count of that frame */
    bool has_prev;                           /* prev_amp holds a usable frame */
    bool has_rssi;                           /* rssi_ema is initialised */
    float motion_ema;
    float rssi_ema;
    uint32_t frames;                         /* frames accepted since init */
} ruv_csi_stats_t;

void ruv_csi_stats_init(ruv_csi_stats_t *st);

/* iq: 2*n_subcarriers int8 values, I then Q per subcarrier.
 * Returns RUV_ERR_INVALID_SIZE for 0 or > RUV_CSI_MAX_SUBCARRIERS,
 * RUV_ERR_INVALID_ARG for a NULL pointer; on error neither the state nor
 * out is modified. */
ruv_status_t ruv_csi_stats_compute(ruv_csi_stats_t *st, const int8_t *iq,
                                   uint16_t n_subcarriers, int8_t rssi,
                                   int8_t noise_floor,
                                   float out[RUV_CSI_STATS_V1_DIM]);

/* sizeof(ruv_csi_stats_t), for foreign-function callers (ctypes). */
size_t ruv_csi_stats_state_size(void);

#ifdef __cplusplus
}
#endif
#endif /* RUV_CSI_FEATURES_H */
