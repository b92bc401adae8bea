/*
 * ruv_csi_features.h — the "csi-stats v1" feature front-end: one raw CSI
 * frame (interleaved I/Q int8 per subcarrier, as in the 0xC5110001 packet)
 * in, RUV_CSI_STATS_V1_DIM float features out. Pure C99, no ESP-IDF header;
 * mirrored in NumPy by ruv_temporal.features (parity-tested on raw CSI).
 * The feature definitions are documented in docs/features.md.
 */
#ifndef RUV_CSI_FEATURES_H
#define RUV_CSI_FEATURES_H

#include <stdbool.h>
#include <stdint.h>

#include "ruv_status.h"

#ifdef __cplusplus
extern "C" {
#endif

#define RUV_CSI_FEATURE_SET_STATS_V1 1 /* id carried in the blob's INPUT section */
#define RUV_CSI_STATS_V1_DIM 16
#define RUV_CSI_MAX_SUBCARRIERS 256

/* Per-link state (previous frame, running statistics). Statically sized. */
typedef struct {
    float prev_amp[RUV_CSI_MAX_SUBCARRIERS];
    uint16_t n_prev;
    bool has_prev;
    float motion_ema;
    float rssi_ema;
} ruv_csi_stats_t;

void ruv_csi_stats_init(ruv_csi_stats_t *st);

/* iq: 2*n_subcarriers int8 values, I then Q per subcarrier.
 * Returns RUV_ERR_INVALID_SIZE for 0 or > RUV_CSI_MAX_SUBCARRIERS. */
ruv_status_t ruv_csi_stats_compute(ruv_csi_stats_t *st, const int8_t *iq,
                                   uint16_t n_subcarriers, int8_t rssi,
                                   int8_t noise_floor,
                                   float out[RUV_CSI_STATS_V1_DIM]);

#ifdef __cplusplus
}
#endif
#endif /* RUV_CSI_FEATURES_H */
