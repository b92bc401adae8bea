/*
 * ruv_csi_features.h — the "csi-stats v1" feature front-end: one raw CSI
 * frame (interleaved I/Q int8 per subcarrier, as in the 0xC5110001 packet)
 * in, RUV_CSI_STATS_V1_DIM float features out. Pure C99, no ESP-IDF header;
 * mirrored in NumPy by ruv_temporal.features (parity-tested on raw CSI).
 * The feature definitions are documented in docs/features.md.
 *
 * ruv_csi_stats_compute takes subcarriers in ascending frequency order, I
 * then Q. The 0xC5110001 payload and the WiFi callback carry the ESP-IDF CSI
 * buffer instead (wifi_csi_info_t.buf: (imaginary, real) per entry, in the
 * driver's subcarrier order and LTF layout); ruv_csi_lltf_from_esp maps any
 * ESP32/ESP32-S3 layout to the L-LTF in ascending order, and
 * ruv_csi_stats_compute_esp does both steps. A subcarrier whose I and Q are
 * both 0 is treated as null (guard/DC/invalid) and left out of every
 * statistic. No allocation; libm use: sqrtf and atan2f only.
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

/* ---- The ESP32 / ESP32-S3 CSI buffer (docs/features.md, "Input") -------
 *
 * wifi_csi_info_t.buf holds int8 (imaginary, real) per entry; the L-LTF, when
 * enabled, is always the first 64 entries, in the order 0..31, -32..-1 on a
 * 20 MHz channel (no secondary channel) and in ascending order (0..63 or
 * -64..-1 of the 40 MHz channel) when the channel has a secondary channel.
 * The buffer does not say which: its length and rx_ctrl.secondary_channel
 * decide. Lengths the driver produces (bytes), per secondary channel:
 *   none  (0): 128 non-HT, 256 HT20, 384 HT20 STBC
 *   above (1): 128 non-HT, 256 HT20, 376 HT20 STBC, 384 HT40, 612 HT40 STBC
 *   below (2): 128 non-HT, 256 HT20, 380 HT20 STBC, 384 HT40, 612 HT40 STBC
 * Any other (length, secondary channel) is an unknown layout:
 * RUV_ERR_NOT_SUPPORTED, nothing guessed. */
#define RUV_CSI_LLTF_SUBCARRIERS 64
#define RUV_CSI_SECOND_NONE 0  /* = WIFI_SECOND_CHAN_NONE, rx_ctrl.secondary_channel */
#define RUV_CSI_SECOND_ABOVE 1 /* = WIFI_SECOND_CHAN_ABOVE */
#define RUV_CSI_SECOND_BELOW 2 /* = WIFI_SECOND_CHAN_BELOW */

/* Layout ids returned by ruv_csi_esp_layout (0 = unknown). */
typedef enum {
    RUV_CSI_LAYOUT_UNKNOWN = 0,
    RUV_CSI_LAYOUT_NONHT20 = 1,      /* L-LTF only (non-HT, or HT with only L-LTF on) */
    RUV_CSI_LAYOUT_HT20 = 2,         /* L-LTF + HT-LTF */
    RUV_CSI_LAYOUT_HT20_STBC = 3,    /* L-LTF + HT-LTF + STBC-HT-LTF */
    RUV_CSI_LAYOUT_HT40 = 4,         /* L-LTF + HT-LTF (128 entries) */
    RUV_CSI_LAYOUT_HT40_STBC = 5     /* L-LTF + HT-LTF + STBC-HT-LTF (121 each) */
} ruv_csi_layout_t;

/* The layout of a buffer of len_bytes on a channel with that secondary
 * channel, RUV_CSI_LAYOUT_UNKNOWN when the driver never produces it. */
ruv_csi_layout_t ruv_csi_esp_layout(uint32_t len_bytes, uint8_t secondary_channel);

/* buf: the driver's buffer (len_bytes). Writes the L-LTF as 64 (I, Q) pairs
 * in ascending frequency order (subcarrier -32 first); with
 * first_word_invalid the driver's first two entries become (0, 0) (null).
 * RUV_ERR_NOT_SUPPORTED for an unknown layout, RUV_ERR_INVALID_ARG for a
 * NULL pointer; on error iq is not written. */
ruv_status_t ruv_csi_lltf_from_esp(const int8_t *buf, uint32_t len_bytes,
                                   uint8_t secondary_channel, bool first_word_invalid,
                                   int8_t iq[2 * RUV_CSI_LLTF_SUBCARRIERS]);

/* ruv_csi_lltf_from_esp, then ruv_csi_stats_compute on the 64 subcarriers:
 * one frame as the WiFi callback (or a 0xC5110001 packet) delivers it. On
 * error neither the state nor out is modified. */
ruv_status_t ruv_csi_stats_compute_esp(ruv_csi_stats_t *st, const int8_t *buf,
                                       uint32_t len_bytes, uint8_t secondary_channel,
                                       bool first_word_invalid, int8_t rssi,
                                       int8_t noise_floor, float out[RUV_CSI_STATS_V1_DIM]);

/* sizeof(ruv_csi_stats_t), for foreign-function callers (ctypes). */
size_t ruv_csi_stats_state_size(void);

#ifdef __cplusplus
}
#endif
#endif /* RUV_CSI_FEATURES_H */
