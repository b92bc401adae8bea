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

/* app_fleet.c: publishes the MQTT state message of this classification
 * (no-op without an MQTT port); never blocks, counts drops. */
void fleet_publish_state(const float *logits, uint32_t argmax);

/* ruv_app_mqtt_get_stats without taking the lock (for `stats`). */
#include "ruv_app_fleet.h"
void fleet_get_stats(ruv_app_mqtt_stats_t *out);

#endif /* RUV_APP_TELEMETRY_H */
