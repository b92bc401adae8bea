/*
 * vdev_mqtt.h — the virtual device's MQTT client (libmosquitto) and key
 * loading (mbedtls), feeding ruv_app's fleet logic (ruv_app_fleet.h).
 */
#ifndef VDEV_MQTT_H
#define VDEV_MQTT_H

#include <stdint.h>

typedef struct {
    const char *url;       /* mqtt://[user[:pw]@]host[:port] or mqtts://... */
    const char *prefix;    /* NULL: "ruv" */
    const char *node;      /* NULL: the node id in decimal */
    const char *user, *password; /* override the URL's */
    const char *ca_file;   /* mqtts: CA certificate (PEM) */
    uint32_t outbox;       /* max messages handed to the client and not yet sent */
} vdev_mqtt_opts_t;

/* Loads a P-256 public key (PEM or DER file) and gives it to ruv_app.
 * Returns 0, or -1 with a message on stderr. Call before the tasks start. */
int vdev_load_pubkey(const char *path);

/* Starts the client (its own thread; reconnects with back-off). Call after
 * ruv_app_init. Returns 0, or -1 (bad URL, topics). */
int vdev_mqtt_start(const vdev_mqtt_opts_t *o);

/* Publishes availability "offline" and disconnects (clean shutdown). */
void vdev_mqtt_stop(void);

#endif /* VDEV_MQTT_H */
