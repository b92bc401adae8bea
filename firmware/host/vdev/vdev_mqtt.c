/*
 * vdev_mqtt.c — libmosquitto client of the virtual device. All MQTT logic
 * (topics, JSON, discovery, model/set, status) is ruv_app's (app_fleet.c),
 * the same code the board runs over esp-mqtt; this file only moves bytes
 * and connection events (ruv_app takes its own lock in each entry point).
 *
 * Outbox: at most `outbox` messages handed to libmosquitto and not yet
 * written to the socket; beyond that (or while disconnected) a state
 * message is refused and ruv_app counts the drop, so a dead broker never
 * stalls classification.
 */
#define _POSIX_C_SOURCE 200809L
#include "vdev_mqtt.h"

#include <mosquitto.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "ruv_app.h"
#include "ruv_app_fleet.h"
#include "ruv_sign.h"

static struct {
    struct mosquitto *mosq;
    pthread_mutex_t pend_lock;
    uint32_t pending, outbox;
    char set_topic[RUV_APP_MQTT_TOPIC_MAX];
    char avail_topic[RUV_APP_MQTT_TOPIC_MAX];
} M;

static ruv_sign_crypto_t s_crypto;

int vdev_load_pubkey(const char *path)
{
    uint8_t key[4096], key_id[RUV_SIGN_KEY_ID_LEN];
    FILE *f = fopen(path, "rb");
    size_t n;
    if (f == NULL) {
        fprintf(stderr, "ruv_vdev: cannot read --pubkey %s\n", path);
        return -1;
    }
    n = fread(key, 1, sizeof key - 1, f);
    fclose(f);
    if (n > 0 && key[0] != 0x30) {
        key[n++] = 0; /* PEM: mbedtls wants the terminating NUL counted */
    }
    if (ruv_sign_mbedtls_load(key, n, &s_crypto, key_id) != RUV_OK) {
        fprintf(stderr, "ruv_vdev: --pubkey %s is not an ECDSA P-256 public key\n", path);
        return -1;
    }
    ruv_app_set_model_key(&s_crypto, key_id);
    return 0;
}

static int port_publish(void *user, const char *topic, const void *payload, size_t len, int qos, bool retain)
{
    int mid = 0;
    (void)user;
    pthread_mutex_lock(&M.pend_lock);
    if (M.pending >= M.outbox) {
        pthread_mutex_unlock(&M.pend_lock);
        return -1;
    }
    ++M.pending;
    pthread_mutex_unlock(&M.pend_lock);
    int rc = mosquitto_publish(M.mosq, &mid, topic, (int)len, payload, qos, retain);
    if (rc != MOSQ_ERR_SUCCESS) {
        pthread_mutex_lock(&M.pend_lock);
        --M.pending;
        pthread_mutex_unlock(&M.pend_lock);
        return -1;
    }
    return 0;
}

static void on_publish(struct mosquitto *m, void *obj, int mid)
{
    (void)m;
    (void)obj;
    (void)mid;
    pthread_mutex_lock(&M.pend_lock);
    if (M.pending > 0) {
        --M.pending;
    }
    pthread_mutex_unlock(&M.pend_lock);
}

static void on_connect(struct mosquitto *m, void *obj, int rc)
{
    (void)obj;
    if (rc == 0) {
        mosquitto_subscribe(m, NULL, M.set_topic, 1);
            ruv_app_mqtt_connected();
        } else {
            ruv_app_mqtt_refused(mosquitto_connack_string(rc));
        }
}

static void on_disconnect(struct mosquitto *m, void *obj, int rc)
{
    (void)m;
    (void)obj;
    (void)rc;
    pthread_mutex_lock(&M.pend_lock);
    M.pending = 0; /* QoS 0 messages in flight are gone with the socket */
    pthread_mutex_unlock(&M.pend_lock);
    ruv_app_mqtt_disconnected();
}

static void on_message(struct mosquitto *m, void *obj, const struct mosquitto_message *msg)
{
    (void)m;
    (void)obj;
    if (msg->topic == NULL || strcmp(msg->topic, M.set_topic) != 0 || msg->payloadlen < 0) {
        return;
    }
    const size_t n = (size_t)msg->payloadlen;
    ruv_app_mqtt_model_data((const uint8_t *)msg->payload, n, 0, n);
}

/* mqtt[s]://[user[:password]@]host[:port] */
static int parse_url(const char *url, bool *tls, char *user, char *pw, char *host, int *port)
{
    const char *p;
    size_t cap = 128;
    user[0] = pw[0] = host[0] = '\0';
    if (strncmp(url, "mqtt://", 7) == 0) {
        *tls = false;
        p = url + 7;
        *port = 1883;
    } else if (strncmp(url, "mqtts://", 8) == 0) {
        *tls = true;
        p = url + 8;
        *port = 8883;
    } else {
        return -1;
    }
    const char *at = strrchr(p, '@');
    if (at != NULL) {
        const char *colon = memchr(p, ':', (size_t)(at - p));
        const char *uend = colon != NULL ? colon : at;
        if ((size_t)(uend - p) >= cap || (colon != NULL && (size_t)(at - colon - 1) >= cap)) {
            return -1;
        }
        memcpy(user, p, (size_t)(uend - p));
        user[uend - p] = '\0';
        if (colon != NULL) {
            memcpy(pw, colon + 1, (size_t)(at - colon - 1));
            pw[at - colon - 1] = '\0';
        }
        p = at + 1;
    }
    const char *colon = strchr(p, ':');
    size_t hl = colon != NULL ? (size_t)(colon - p) : strcspn(p, "/");
    if (hl == 0 || hl >= cap) {
        return -1;
    }
    memcpy(host, p, hl);
    host[hl] = '\0';
    if (colon != NULL) {
        char *end = NULL;
        long v = strtol(colon + 1, &end, 10);
        if (v <= 0 || v > 65535 || (end != NULL && *end != '\0' && *end != '/')) {
            return -1;
        }
        *port = (int)v;
    }
    return 0;
}

int vdev_mqtt_start(const vdev_mqtt_opts_t *o)
{
    char user[128], pw[128], host[128], client_id[RUV_APP_MQTT_TOPIC_MAX + 32];
    bool tls = false;
    int port = 0;
    if (parse_url(o->url, &tls, user, pw, host, &port) != 0) {
        fprintf(stderr, "ruv_vdev: --mqtt wants mqtt[s]://[user[:password]@]host[:port], got %s\n", o->url);
        return -1;
    }
    M.outbox = o->outbox > 0 ? o->outbox : 16;
    pthread_mutex_init(&M.pend_lock, NULL);
    static const ruv_app_mqtt_port_t k_port = {NULL, port_publish};
    ruv_status_t st = ruv_app_mqtt_init(&k_port, o->prefix, o->node);
    if (st == RUV_OK) {
        snprintf(M.set_topic, sizeof M.set_topic, "%s", ruv_app_mqtt_model_set_topic());
        snprintf(M.avail_topic, sizeof M.avail_topic, "%s", ruv_app_mqtt_availability_topic());
    }
    if (st != RUV_OK) {
        fprintf(stderr, "ruv_vdev: bad --mqtt-prefix or node id for MQTT topics\n");
        return -1;
    }
    mosquitto_lib_init();
    snprintf(client_id, sizeof client_id, "ruv-vdev-%s-%ld", M.set_topic, (long)getpid());
    for (char *c = client_id; *c; ++c) {
        if (*c == '/') {
            *c = '-';
        }
    }
    M.mosq = mosquitto_new(client_id, true, NULL);
    if (M.mosq == NULL) {
        fprintf(stderr, "ruv_vdev: mosquitto_new failed\n");
        return -1;
    }
    const char *u = o->user != NULL ? o->user : user;
    const char *p = o->password != NULL ? o->password : pw;
    if (u[0] != '\0') {
        mosquitto_username_pw_set(M.mosq, u, p[0] != '\0' ? p : NULL);
    }
    if (tls) {
        int rc = mosquitto_tls_set(M.mosq, o->ca_file, o->ca_file != NULL ? NULL : "/etc/ssl/certs", NULL, NULL,
                                   NULL);
        if (rc != MOSQ_ERR_SUCCESS) {
            fprintf(stderr, "ruv_vdev: TLS setup failed: %s\n", mosquitto_strerror(rc));
            return -1;
        }
    }
    mosquitto_will_set(M.mosq, M.avail_topic, 7, "offline", 1, true);
    mosquitto_reconnect_delay_set(M.mosq, 1, 16, true); /* 1, 2, 4 ... 16 s */
    mosquitto_connect_callback_set(M.mosq, on_connect);
    mosquitto_disconnect_callback_set(M.mosq, on_disconnect);
    mosquitto_message_callback_set(M.mosq, on_message);
    mosquitto_publish_callback_set(M.mosq, on_publish);
    int rc = mosquitto_connect_async(M.mosq, host, port, 10);
    if (rc != MOSQ_ERR_SUCCESS) {
        /* The loop thread keeps retrying with back-off. */
        fprintf(stderr, "ruv_vdev: mqtt: %s:%d not reachable yet (%s); retrying\n", host, port,
                mosquitto_strerror(rc));
    }
    rc = mosquitto_loop_start(M.mosq);
    if (rc != MOSQ_ERR_SUCCESS) {
        fprintf(stderr, "ruv_vdev: mosquitto_loop_start: %s\n", mosquitto_strerror(rc));
        return -1;
    }
    return 0;
}

void vdev_mqtt_stop(void)
{
    if (M.mosq == NULL) {
        return;
    }
    int mid = 0;
    mosquitto_publish(M.mosq, &mid, M.avail_topic, 7, "offline", 1, true);
    struct timespec d = {0, 200000000L};
    nanosleep(&d, NULL); /* let the loop thread write it */
    mosquitto_disconnect(M.mosq);
    mosquitto_loop_stop(M.mosq, false);
    mosquitto_destroy(M.mosq);
    M.mosq = NULL;
    mosquitto_lib_cleanup();
}
