/*
 * fleet_idf.h — the board's fleet glue (docs/fleet.md): esp-mqtt client,
 * embedded model-signing key, bounded outbox task. All MQTT logic is
 * ruv_app's (ruv_app_fleet.h); this is transport only.
 */
#pragma once

#include "esp_err.h"

/* Before ruv_app_init: loads the embedded public key (if configured) and
 * the locked option into ruv_app. */
esp_err_t fleet_idf_init_signing(void);

/* After ruv_app_init and the WiFi start: creates the outbox and the MQTT
 * client; connects once the station has an IP, reconnects with back-off. */
esp_err_t fleet_idf_start(void);
