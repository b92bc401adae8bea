/*
 * ruv_packets.c — encoders of the packet layouts in ruv_packets.h.
 */
#include "ruv_packets.h"

#include <string.h>

#include "ruv_crc32.h"

static void put_le16(uint8_t *b, uint16_t v)
{
    b[0] = (uint8_t)v;
    b[1] = (uint8_t)(v >> 8);
}

static void put_le32(uint8_t *b, uint32_t v)
{
    b[0] = (uint8_t)v;
    b[1] = (uint8_t)(v >> 8);
    b[2] = (uint8_t)(v >> 16);
    b[3] = (uint8_t)(v >> 24);
}

static void put_f32(uint8_t *b, float f)
{
    uint32_t u;
    memcpy(&u, &f, sizeof u); /* from memory: NaN payloads kept exactly */
    put_le32(b, u);
}

#define AT(type, field) (offsetof(type, field))

void ruv_pkt_result_encode(uint8_t out[RUV_PKT_RESULT_LEN], const ruv_pkt_result_t *r)
{
    typedef ruv_pkt_result_t T;
    put_le32(out + AT(T, magic), r->magic);
    put_le16(out + AT(T, version), r->version);
    put_le16(out + AT(T, n_classes), r->n_classes);
    out[AT(T, node_id)] = r->node_id;
    memcpy(out + AT(T, reserved0), r->reserved0, sizeof r->reserved0);
    put_le32(out + AT(T, ts_us_lo), r->ts_us_lo);
    put_le32(out + AT(T, ts_us_hi), r->ts_us_hi);
    put_le32(out + AT(T, seq), r->seq);
    out[AT(T, argmax)] = r->argmax;
    memcpy(out + AT(T, reserved1), r->reserved1, sizeof r->reserved1);
    put_f32(out + AT(T, top_logit), r->top_logit);
    put_f32(out + AT(T, top1_minus_top2), r->top1_minus_top2);
    put_le32(out + AT(T, crc32), ruv_crc32(0, out, RUV_PKT_RESULT_CRC_LEN));
}

void ruv_pkt_raw_csi_hdr_encode(uint8_t out[RUV_PKT_RAW_CSI_HDR_LEN], const ruv_pkt_raw_csi_hdr_t *h)
{
    typedef ruv_pkt_raw_csi_hdr_t T;
    put_le32(out + AT(T, magic), h->magic);
    out[AT(T, node_id)] = h->node_id;
    out[AT(T, n_antennas)] = h->n_antennas;
    put_le16(out + AT(T, n_subcarriers), h->n_subcarriers);
    put_le32(out + AT(T, freq_mhz), h->freq_mhz);
    put_le32(out + AT(T, seq), h->seq);
    out[AT(T, rssi)] = (uint8_t)h->rssi;
    out[AT(T, noise_floor)] = (uint8_t)h->noise_floor;
    put_le16(out + AT(T, reserved), h->reserved);
}
