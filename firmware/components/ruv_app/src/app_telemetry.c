/*
 * app_telemetry.c — the 0xC5110007 temporal result packet (docs/telemetry.md)
 * and its sending.
 */
#include "app_telemetry.h"

#include <string.h>

#include "app_state.h"

static void put_le32(uint8_t *b, uint32_t v)
{
    b[0] = (uint8_t)v;
    b[1] = (uint8_t)(v >> 8);
    b[2] = (uint8_t)(v >> 16);
    b[3] = (uint8_t)(v >> 24);
}

void ruv_app_encode_telemetry(uint8_t *pkt, const float *logits, uint32_t argmax, uint64_t ts_us,
                              uint32_t seq)
{
    const ruv_app_platform_t *p = g_app.p;
    const uint32_t n = g_app.cfg.n_classes;
    memset(pkt, 0, RUV_APP_TELEMETRY_LEN);
    put_le32(pkt, 0xC5110007u);
    pkt[4] = 1;
    pkt[5] = 0;
    pkt[6] = (uint8_t)n;
    pkt[7] = (uint8_t)(n >> 8);
    pkt[8] = p != NULL && p->node_id != NULL ? p->node_id(p->user) : 0;
    put_le32(pkt + 12, (uint32_t)ts_us);
    put_le32(pkt + 16, (uint32_t)(ts_us >> 32));
    put_le32(pkt + 20, seq);
    pkt[24] = (uint8_t)argmax;
    const float top = logits[argmax];
    float second = 0.0f;
    bool have_second = false;
    for (uint32_t i = 0; i < n; ++i) {
        if (i != argmax && (!have_second || logits[i] > second)) {
            second = logits[i];
            have_second = true;
        }
    }
    const float gap = have_second ? top - second : 0.0f;
    uint32_t bits;
    memcpy(&bits, &top, sizeof bits);
    put_le32(pkt + 28, bits);
    memcpy(&bits, &gap, sizeof bits);
    put_le32(pkt + 32, bits);
    put_le32(pkt + 36, ruv_crc32(0, pkt, 36));
}

void telemetry_send_result(const float *logits, uint32_t argmax)
{
    const ruv_app_platform_t *p = g_app.p;
    if (!g_app.tx_on || p->telemetry_send == NULL) {
        return;
    }
    uint8_t pkt[RUV_APP_TELEMETRY_LEN];
    ruv_app_encode_telemetry(pkt, logits, argmax, app_now_us(), ++g_app.seq);
    if (p->telemetry_send(p->user, pkt, sizeof pkt) == 0) {
        ++g_app.telemetry_sent;
    } else {
        ++g_app.telemetry_failed;
    }
}
