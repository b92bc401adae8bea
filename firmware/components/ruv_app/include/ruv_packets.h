/*
 * ruv_packets.h — the wire layouts of the packets a node sends
 * (docs/telemetry.md), one header for the app (0xC5110007 temporal result)
 * and the CSI source (0xC5110001 raw CSI header). Little-endian, packed.
 *
 * Each struct mirrors its packet field by field; members are naturally
 * aligned at their wire offsets (the u64 timestamp is two u32 halves), so
 * the struct has no padding and its size and offsets are the packet's —
 * checked at compile time below. The encoders write the fields at those
 * offsets in little-endian order whatever the host's byte order; they are
 * checked byte for byte against the host's construct codecs
 * (tests/host/test_packets_c.py). Pure C99, no allocation.
 */
#ifndef RUV_PACKETS_H
#define RUV_PACKETS_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

/* Compile-time check: _Static_assert from C11, a negative array size in C99. */
#if defined(__cplusplus) && __cplusplus >= 201103L
#define RUV_PKT_STATIC_ASSERT(cond, name) static_assert(cond, #name)
#elif defined(__STDC_VERSION__) && __STDC_VERSION__ >= 201112L
#define RUV_PKT_STATIC_ASSERT(cond, name) _Static_assert(cond, #name)
#else
#define RUV_PKT_STATIC_ASSERT(cond, name) typedef char ruv_pkt_assert_##name[(cond) ? 1 : -1]
#endif

/* ---- 0xC5110007 temporal result (40 bytes) ------------------------------ */

#define RUV_PKT_RESULT_MAGIC 0xC5110007u
#define RUV_PKT_RESULT_VERSION 1u
#define RUV_PKT_RESULT_LEN 40u
#define RUV_PKT_RESULT_CRC_LEN 36u /* CRC-32 over bytes 0..35 */

typedef struct {
    uint32_t magic;        /*  0 RUV_PKT_RESULT_MAGIC */
    uint16_t version;      /*  4 RUV_PKT_RESULT_VERSION */
    uint16_t n_classes;    /*  6 */
    uint8_t node_id;       /*  8 */
    uint8_t reserved0[3];  /*  9 zero */
    uint32_t ts_us_lo;     /* 12 u64 ts_us, low half */
    uint32_t ts_us_hi;     /* 16 u64 ts_us, high half */
    uint32_t seq;          /* 20 first = 1 */
    uint8_t argmax;        /* 24 */
    uint8_t reserved1[3];  /* 25 zero */
    float top_logit;       /* 28 */
    float top1_minus_top2; /* 32 */
    uint32_t crc32;        /* 36 written by the encoder */
} ruv_pkt_result_t;

RUV_PKT_STATIC_ASSERT(sizeof(float) == 4, float_is_binary32);
RUV_PKT_STATIC_ASSERT(sizeof(ruv_pkt_result_t) == RUV_PKT_RESULT_LEN, result_len);
RUV_PKT_STATIC_ASSERT(offsetof(ruv_pkt_result_t, version) == 4, result_version_at_4);
RUV_PKT_STATIC_ASSERT(offsetof(ruv_pkt_result_t, n_classes) == 6, result_n_classes_at_6);
RUV_PKT_STATIC_ASSERT(offsetof(ruv_pkt_result_t, node_id) == 8, result_node_id_at_8);
RUV_PKT_STATIC_ASSERT(offsetof(ruv_pkt_result_t, ts_us_lo) == 12, result_ts_at_12);
RUV_PKT_STATIC_ASSERT(offsetof(ruv_pkt_result_t, seq) == 20, result_seq_at_20);
RUV_PKT_STATIC_ASSERT(offsetof(ruv_pkt_result_t, argmax) == 24, result_argmax_at_24);
RUV_PKT_STATIC_ASSERT(offsetof(ruv_pkt_result_t, top_logit) == 28, result_top_at_28);
RUV_PKT_STATIC_ASSERT(offsetof(ruv_pkt_result_t, top1_minus_top2) == 32, result_gap_at_32);
RUV_PKT_STATIC_ASSERT(offsetof(ruv_pkt_result_t, crc32) == RUV_PKT_RESULT_CRC_LEN, result_crc_at_36);

/* Writes the 40 wire bytes of r (every field as given, the CRC computed;
 * r->crc32 is ignored). */
void ruv_pkt_result_encode(uint8_t out[RUV_PKT_RESULT_LEN], const ruv_pkt_result_t *r);

/* ---- 0xC5110001 raw CSI header (20 bytes, then the CSI buffer) ------------ */

#define RUV_PKT_RAW_CSI_MAGIC 0xC5110001u
#define RUV_PKT_RAW_CSI_HDR_LEN 20u

typedef struct {
    uint32_t magic;         /*  0 RUV_PKT_RAW_CSI_MAGIC */
    uint8_t node_id;        /*  4 */
    uint8_t n_antennas;     /*  5 */
    uint16_t n_subcarriers; /*  6 entries of the buffer that follows (2 bytes each per antenna) */
    uint32_t freq_mhz;      /*  8 */
    uint32_t seq;           /* 12 */
    int8_t rssi;            /* 16 dBm */
    int8_t noise_floor;     /* 17 dBm */
    uint16_t reserved;      /* 18 zero */
} ruv_pkt_raw_csi_hdr_t;

RUV_PKT_STATIC_ASSERT(sizeof(ruv_pkt_raw_csi_hdr_t) == RUV_PKT_RAW_CSI_HDR_LEN, raw_csi_hdr_len);
RUV_PKT_STATIC_ASSERT(offsetof(ruv_pkt_raw_csi_hdr_t, n_subcarriers) == 6, raw_n_sub_at_6);
RUV_PKT_STATIC_ASSERT(offsetof(ruv_pkt_raw_csi_hdr_t, freq_mhz) == 8, raw_freq_at_8);
RUV_PKT_STATIC_ASSERT(offsetof(ruv_pkt_raw_csi_hdr_t, seq) == 12, raw_seq_at_12);
RUV_PKT_STATIC_ASSERT(offsetof(ruv_pkt_raw_csi_hdr_t, rssi) == 16, raw_rssi_at_16);
RUV_PKT_STATIC_ASSERT(offsetof(ruv_pkt_raw_csi_hdr_t, reserved) == 18, raw_reserved_at_18);

/* Writes the 20 header bytes of h (every field as given). */
void ruv_pkt_raw_csi_hdr_encode(uint8_t out[RUV_PKT_RAW_CSI_HDR_LEN], const ruv_pkt_raw_csi_hdr_t *h);

#ifdef __cplusplus
}
#endif
#endif /* RUV_PACKETS_H */
