/*
 * ruv_app_fleet.h — the fleet side of the portable app (docs/fleet.md):
 * signed models (one update path for network and console uploads) and the
 * MQTT logic (topics, state JSON, Home Assistant discovery, model/set,
 * availability). The MQTT client itself is the platform's: esp-mqtt on the
 * chip (firmware/main/mqtt_idf.c), libmosquitto in the virtual device
 * (firmware/host/vdev/vdev_mqtt.c); both call in here, serialised like
 * every ruv_app_* call (ruv_app_platform.h).
 *
 * Secure by default: without ruv_app_set_model_key() the node takes no
 * model from the network at all (model/status answers `no_key`).
 */
#ifndef RUV_APP_FLEET_H
#define RUV_APP_FLEET_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "ruv_sign.h"
#include "ruv_status.h"

#ifdef __cplusplus
extern "C" {
#endif

#define RUV_APP_MQTT_TOPIC_MAX 128
#define RUV_APP_MQTT_PREFIX_MAX 48
#define RUV_APP_MQTT_NODE_MAX 32

/* ---- signing ---------------------------------------------------------- */

/* The node's public key as a crypto backend (ruv_sign_mbedtls_load) and its
 * key id; NULL disables network models. `crypto` must outlive the app. */
void ruv_app_set_model_key(const ruv_sign_crypto_t *crypto, const uint8_t key_id[RUV_SIGN_KEY_ID_LEN]);

/* Locked: console `load` takes signed envelopes only (same checks as the
 * network). Without a key a locked node takes no upload at all. */
void ruv_app_set_locked(bool locked);

/* ---- MQTT ------------------------------------------------------------- */

typedef struct {
    void *user;
    /* Hand one message to the client without blocking. Returns 0 when
     * queued, -1 when it was not (disconnected, outbox full): the app counts
     * a drop — classification never waits for the network. */
    int (*publish)(void *user, const char *topic, const void *payload, size_t len, int qos, bool retain);
} ruv_app_mqtt_port_t;

/* Topic prefix (default "ruv") and node id (decimal string of the node
 * id when NULL). Copies both. INVALID_ARG for an empty / too long one or a
 * prefix with MQTT wildcards. */
ruv_status_t ruv_app_mqtt_init(const ruv_app_mqtt_port_t *port, const char *prefix, const char *node);

/* Topics the client needs: the availability topic (last will: "offline",
 * retained, QoS 1) and model/set (subscribe QoS 1). */
const char *ruv_app_mqtt_availability_topic(void);
const char *ruv_app_mqtt_model_set_topic(void);

/* Connection events from the client. connected() publishes availability
 * "online" and the discovery configs (retained). refused() records why
 * the broker said no (bad credentials, TLS) for `stats` and logs it. */
void ruv_app_mqtt_connected(void);
void ruv_app_mqtt_disconnected(void);
void ruv_app_mqtt_refused(const char *why);

/* A piece of a model/set message: `offset` of this piece in a message of
 * `total` bytes (esp-mqtt delivers large messages in pieces; libmosquitto
 * in one). The envelope streams into the inactive slot; the last piece
 * commits or refuses, and model/status answers. */
void ruv_app_mqtt_model_data(const uint8_t *data, size_t len, size_t offset, size_t total);

/* Counters for `stats` and the benchmark. */
typedef struct {
    bool enabled, connected;
    uint32_t published; /* state messages handed to the client */
    uint32_t dropped;   /* state messages the client could not take */
    uint32_t connects, disconnects, refusals;
    uint32_t models_ok, models_refused;
    const char *last_refusal; /* static; "" when none */
} ruv_app_mqtt_stats_t;
void ruv_app_mqtt_get_stats(ruv_app_mqtt_stats_t *out);

/* Formats the state JSON of one classification (docs/fleet.md) into out;
 * returns its length, or 0 when cap is too small. Exposed for tests. */
size_t ruv_app_mqtt_format_state(char *out, size_t cap, const float *logits, uint32_t n, uint32_t argmax,
                                 uint32_t seq, uint64_t ts_us, uint32_t model_crc);

#ifdef __cplusplus
}
#endif
#endif /* RUV_APP_FLEET_H */
