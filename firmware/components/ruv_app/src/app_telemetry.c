/*
 * app_telemetry.c — the 0xC5110007 temporal result packet (docs/telemetry.md;
 * layout in ruv_packets.h) and its sending.
 */
#include "app_telemetry.h"

#include <string.h>

#include "app_state.h"
#include "ruv_packets.h"

void ruv_app_encode_telemetry(uint8_t *pkt, const float *logits, uint32_t argmax, uint64_t ts_us,
                              uint32_t seq)
{
    const ruv_app_platform_t *p = g_app.p;
    const uint32_t n = g_app.cfg.n_classes;
    ruv_pkt_result_t r;
    memset(&r, 0, sizeof r);
    r.magic = RUV_PKT_RESULT_MAGIC;
    r.version = RUV_PKT_RESULT_VERSION;
    r.n_classes = (uint16_t)n;
    r.node_id = p != NULL && p->node_id != NULL ? p->node_id(p->user) : 0;
    r.ts_us_lo = (uint32_t)ts_us;
    r.ts_us_hi = (uint32_t)(ts_us >> 32);
    r.seq = seq;
    r.argmax = (uint8_t)argmax;
    /* top1 - top2: the best logit other than argmax's (0 with one class) */
    const float top = logits[argmax];
    float second = 0.0f;
    bool have_second = false;
    for (uint32_t i = 0; i < n; ++i) {
        if (i != argmax && (!have_second || logits[i] > second)) {
            second = logits[i];
            have_second = true;
        }
    }
    r.top_logit = top;
    r.top1_minus_top2 = have_second ? top - second : 0.0f;
    ruv_pkt_result_encode(pkt, &r);
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
