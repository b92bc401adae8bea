/*
 * app_telemetry.h — result telemetry (internal to ruv_app): one 0xC5110007
 * packet per scheduled classification, sent through the platform, counted.
 */
#ifndef RUV_APP_TELEMETRY_H
#define RUV_APP_TELEMETRY_H

#include <stdint.h>

/* Sends the packet for these logits when telemetry is on and the platform
 * has a sink; counts sent / failed. */
void telemetry_send_result(const float *logits, uint32_t argmax);

#endif /* RUV_APP_TELEMETRY_H */
