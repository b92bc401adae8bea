/*
 * app_fleet.c — MQTT logic of the node (docs/fleet.md): topics, the state
 * JSON of each classification, Home Assistant discovery, availability,
 * model/set through the one update path (app_update.c), model/status.
 * The client is the platform's (ruv_app_mqtt_port_t); every buffer here is
 * static and sized at build time — nothing is allocated per message.
 */
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "app_state.h"
#include "app_telemetry.h"
#include "app_update.h"
#include "ruv_app_fleet.h"

#define STATE_JSON_MAX (192 + 40 + 18 * APP_MAX_DIM)
#define DISCOVERY_JSON_MAX 2048
#define STATUS_JSON_MAX 192

static struct {
    bool enabled;
    bool connected;
    ruv_app_mqtt_port_t port;
    char prefix[RUV_APP_MQTT_PREFIX_MAX + 1];
    char node[RUV_APP_MQTT_NODE_MAX + 1];
    char t_state[RUV_APP_MQTT_TOPIC_MAX];
    char t_avail[RUV_APP_MQTT_TOPIC_MAX];
    char t_set[RUV_APP_MQTT_TOPIC_MAX];
    char t_status[RUV_APP_MQTT_TOPIC_MAX];
    uint32_t seq;
    ruv_app_mqtt_stats_t st;
    bool ignoring;   /* rest of a model/set message already refused */
    char last_refusal[64];
} s_mq;

static char s_json[STATE_JSON_MAX];
static char s_disc[DISCOVERY_JSON_MAX];

/* ---- signing ------------------------------------------------------------- */

void ruv_app_set_model_key(const ruv_sign_crypto_t *crypto, const uint8_t key_id[RUV_SIGN_KEY_ID_LEN])
{
    g_app.sign_crypto = crypto;
    if (crypto != NULL && key_id != NULL) {
        memcpy(g_app.sign_key_id, key_id, RUV_SIGN_KEY_ID_LEN);
    } else {
        memset(g_app.sign_key_id, 0, sizeof g_app.sign_key_id);
    }
}

void ruv_app_set_locked(bool locked)
{
    g_app.locked = locked;
}

/* ---- JSON helpers ---------------------------------------------------------- */

typedef struct {
    char *buf;
    size_t cap, at;
    bool overflow;
} jbuf_t;

static void jput(jbuf_t *j, const char *fmt, ...)
#if defined(__GNUC__)
    __attribute__((format(printf, 2, 3)))
#endif
    ;

static void jput(jbuf_t *j, const char *fmt, ...)
{
    va_list ap;
    if (j->overflow) {
        return;
    }
    va_start(ap, fmt);
    int n = vsnprintf(j->buf + j->at, j->cap - j->at, fmt, ap);
    va_end(ap);
    if (n < 0 || (size_t)n >= j->cap - j->at) {
        j->overflow = true;
        return;
    }
    j->at += (size_t)n;
}

/* A JSON string of len bytes (UTF-8 passes through; quotes, backslashes
 * and control bytes escaped). */
static void jstr(jbuf_t *j, const char *s, size_t len)
{
    jput(j, "\"");
    for (size_t i = 0; i < len && !j->overflow; ++i) {
        const unsigned char c = (unsigned char)s[i];
        if (c == '"' || c == '\\') {
            jput(j, "\\%c", c);
        } else if (c < 0x20) {
            jput(j, "\\u%04x", (unsigned)c);
        } else {
            jput(j, "%c", c);
        }
    }
    jput(j, "\"");
}

static void jfloat(jbuf_t *j, double v)
{
    if (v != v || v > 3.4e38 || v < -3.4e38) {
        jput(j, "null"); /* NaN / inf are not JSON */
    } else {
        jput(j, "%.9g", v); /* 9 significant digits: a float32 round-trips */
    }
}

/* Label i of the running model (LABELS section), else "class<i>". */
static void jlabel(jbuf_t *j, uint32_t index)
{
    const char *p = g_app.ctx != NULL && g_app.info.has_labels ? g_app.info.labels : NULL;
    if (p != NULL) {
        const char *end = p + g_app.info.labels_len;
        uint32_t k = 0;
        while (p < end) {
            const char *q = memchr(p, '\0', (size_t)(end - p));
            const char *stop = q != NULL ? q : end;
            if (k == index) {
                jstr(j, p, (size_t)(stop - p));
                return;
            }
            ++k;
            p = q != NULL ? q + 1 : end;
        }
    }
    char name[24];
    snprintf(name, sizeof name, "class%lu", (unsigned long)index);
    jstr(j, name, strlen(name));
}

size_t ruv_app_mqtt_format_state(char *out, size_t cap, const float *logits, uint32_t n, uint32_t argmax,
                                 uint32_t seq, uint64_t ts_us, uint32_t model_crc)
{
    jbuf_t j = {out, cap, 0, false};
    double den = 0.0;
    for (uint32_t i = 0; i < n; ++i) {
        den += exp((double)logits[i] - (double)logits[argmax]);
    }
    jput(&j, "{\"label\":");
    jlabel(&j, argmax);
    jput(&j, ",\"index\":%lu,\"confidence\":", (unsigned long)argmax);
    jfloat(&j, den > 0.0 ? 1.0 / den : 0.0);
    jput(&j, ",\"logits\":[");
    for (uint32_t i = 0; i < n; ++i) {
        if (i) {
            jput(&j, ",");
        }
        jfloat(&j, (double)logits[i]);
    }
    jput(&j, "],\"seq\":%lu,\"ts_us\":%llu,\"model_crc\":\"0x%08lX\"}", (unsigned long)seq,
         (unsigned long long)ts_us, (unsigned long)model_crc);
    return j.overflow ? 0 : j.at;
}

/* ---- publishing ------------------------------------------------------------ */

static int pub(const char *topic, const char *payload, size_t len, int qos, bool retain)
{
    if (!s_mq.enabled || s_mq.port.publish == NULL) {
        return -1;
    }
    return s_mq.port.publish(s_mq.port.user, topic, payload, len, qos, retain);
}

void fleet_publish_state(const float *logits, uint32_t argmax)
{
    if (!s_mq.enabled) {
        return;
    }
    ++s_mq.seq; /* counts every classification: a gap on the broker is a drop */
    size_t len = ruv_app_mqtt_format_state(s_json, sizeof s_json, logits, g_app.cfg.n_classes, argmax, s_mq.seq,
                                           app_now_us(), g_app.active_crc);
    if (len == 0 || !s_mq.connected || pub(s_mq.t_state, s_json, len, 0, false) != 0) {
        ++s_mq.st.dropped;
        return;
    }
    ++s_mq.st.published;
}

static void publish_status(bool ok, const char *reason)
{
    char js[STATUS_JSON_MAX];
    jbuf_t j = {js, sizeof js, 0, false};
    jput(&j, "{\"ok\":%s,\"reason\":", ok ? "true" : "false");
    jstr(&j, reason, strlen(reason));
    jput(&j, ",\"model_crc\":\"0x%08lX\",\"generation\":%lu}", (unsigned long)g_app.active_crc,
         (unsigned long)g_app.signed_gen);
    if (!j.overflow) {
        (void)pub(s_mq.t_status, js, j.at, 1, false);
    }
    if (ok) {
        ++s_mq.st.models_ok;
    } else {
        ++s_mq.st.models_refused;
    }
}

static void device_key(char *out, size_t cap)
{
    snprintf(out, cap, "ruv_%s_%s", s_mq.prefix, s_mq.node);
    for (char *p = out; *p; ++p) {
        if (*p == '/') {
            *p = '_';
        }
    }
}

/* One discovery config; entity "activity" or "confidence" (the same JSON
 * as ruv_temporal.fleet.discovery_configs). */
static void publish_discovery_one(const char *entity)
{
    char key[RUV_APP_MQTT_PREFIX_MAX + RUV_APP_MQTT_NODE_MAX + 8];
    char topic[RUV_APP_MQTT_TOPIC_MAX + 64];
    device_key(key, sizeof key);
    snprintf(topic, sizeof topic, "homeassistant/sensor/%s/%s/config", key, entity);
    jbuf_t j = {s_disc, sizeof s_disc, 0, false};
    if (strcmp(entity, "activity") == 0) {
        jput(&j, "{\"name\":\"Activity\",\"unique_id\":\"%s_activity\","
                 "\"value_template\":\"{{ value_json.label }}\",\"device_class\":\"enum\",\"options\":[",
             key);
        for (uint32_t i = 0; i < g_app.cfg.n_classes; ++i) {
            if (i) {
                jput(&j, ",");
            }
            jlabel(&j, i);
        }
        jput(&j, "],\"icon\":\"mdi:motion-sensor\"");
    } else {
        jput(&j, "{\"name\":\"Confidence\",\"unique_id\":\"%s_confidence\","
                 "\"value_template\":\"{{ (value_json.confidence * 100) | round(1) }}\","
                 "\"unit_of_measurement\":\"%%\",\"state_class\":\"measurement\"",
             key);
    }
    jput(&j, ",\"state_topic\":");
    jstr(&j, s_mq.t_state, strlen(s_mq.t_state));
    jput(&j, ",\"availability_topic\":");
    jstr(&j, s_mq.t_avail, strlen(s_mq.t_avail));
    jput(&j, ",\"payload_available\":\"online\",\"payload_not_available\":\"offline\","
             "\"device\":{\"identifiers\":[\"%s\"],\"name\":\"ruv-temporal %s\",\"model\":",
         key, s_mq.node);
    const char *model = app_platform_name();
    jstr(&j, model, strlen(model));
    jput(&j, ",\"manufacturer\":\"ruv-temporal\",\"sw_version\":\"%s\"}}", RUV_APP_VERSION);
    if (j.overflow) {
        app_log(RUV_LOG_WARN, "mqtt: discovery config too long (%s)", entity);
        return;
    }
    (void)pub(topic, s_disc, j.at, 1, true);
}

static void publish_discovery(void)
{
    publish_discovery_one("activity");
    publish_discovery_one("confidence");
}

/* ---- API ------------------------------------------------------------------- */

static bool topic_part_ok(const char *s, size_t max, bool allow_slash)
{
    size_t n = s != NULL ? strlen(s) : 0;
    if (n == 0 || n > max) {
        return false;
    }
    for (size_t i = 0; i < n; ++i) {
        if (s[i] == '+' || s[i] == '#' || (!allow_slash && s[i] == '/')) {
            return false;
        }
    }
    return true;
}

static ruv_status_t fleet_init(const ruv_app_mqtt_port_t *port, const char *prefix, const char *node)
{
    char node_buf[12];
    if (prefix == NULL) {
        prefix = "ruv";
    }
    if (node == NULL) {
        const ruv_app_platform_t *p = g_app.p;
        snprintf(node_buf, sizeof node_buf, "%u",
                 (unsigned)(p != NULL && p->node_id != NULL ? p->node_id(p->user) : 0));
        node = node_buf;
    }
    if (port == NULL || port->publish == NULL || !topic_part_ok(prefix, RUV_APP_MQTT_PREFIX_MAX, true) ||
        !topic_part_ok(node, RUV_APP_MQTT_NODE_MAX, false)) {
        return RUV_ERR_INVALID_ARG;
    }
    memset(&s_mq, 0, sizeof s_mq);
    s_mq.port = *port;
    snprintf(s_mq.prefix, sizeof s_mq.prefix, "%s", prefix);
    snprintf(s_mq.node, sizeof s_mq.node, "%s", node);
    snprintf(s_mq.t_state, sizeof s_mq.t_state, "%s/%s/state", prefix, node);
    snprintf(s_mq.t_avail, sizeof s_mq.t_avail, "%s/%s/availability", prefix, node);
    snprintf(s_mq.t_set, sizeof s_mq.t_set, "%s/%s/model/set", prefix, node);
    snprintf(s_mq.t_status, sizeof s_mq.t_status, "%s/%s/model/status", prefix, node);
    s_mq.st.last_refusal = s_mq.last_refusal;
    s_mq.enabled = true;
    if (g_app.sign_crypto == NULL) {
        app_log(RUV_LOG_WARN, "mqtt: no model-signing key: models from the network are refused (no_key)");
    }
    return RUV_OK;
}

const char *ruv_app_mqtt_availability_topic(void)
{
    return s_mq.t_avail;
}

const char *ruv_app_mqtt_model_set_topic(void)
{
    return s_mq.t_set;
}

static void fleet_connected(void)
{
    if (!s_mq.enabled) {
        return;
    }
    s_mq.connected = true;
    ++s_mq.st.connects;
    app_log(RUV_LOG_INFO, "mqtt: connected; publishing to %s", s_mq.t_state);
    (void)pub(s_mq.t_avail, "online", 6, 1, true);
    publish_discovery();
}

static void fleet_disconnected(void)
{
    if (s_mq.connected) {
        ++s_mq.st.disconnects;
        app_log(RUV_LOG_WARN, "mqtt: disconnected; reconnecting with back-off");
    }
    s_mq.connected = false;
}

static void fleet_refused(const char *why)
{
    s_mq.connected = false;
    ++s_mq.st.refusals;
    snprintf(s_mq.last_refusal, sizeof s_mq.last_refusal, "%s", why != NULL ? why : "refused");
    app_log(RUV_LOG_ERROR, "mqtt: broker refused the connection: %s", s_mq.last_refusal);
}

void fleet_get_stats(ruv_app_mqtt_stats_t *out)
{
    *out = s_mq.st;
    out->enabled = s_mq.enabled;
    out->connected = s_mq.connected;
    out->last_refusal = s_mq.last_refusal;
}

static void fleet_model_data(const uint8_t *data, size_t len, size_t offset, size_t total)
{
    const char *why = "";
    ruv_status_t st;
    if (!s_mq.enabled) {
        return;
    }
    const bool last = len <= total && offset == total - len;
    if (offset == 0) {
        int slot = -1;
        s_mq.ignoring = false;
        if (((total >> 16) >> 16) != 0u) {
            s_mq.ignoring = !last;
            publish_status(false, "too_long");
            return;
        }
        st = update_begin((uint32_t)total, true, false, 0, &slot, &why);
        if (st != RUV_OK) {
            app_log(RUV_LOG_ERROR, "mqtt: model refused: %s (%s)", update_reason(), why);
            s_mq.ignoring = !last;
            publish_status(false, update_reason());
            return;
        }
    } else if (s_mq.ignoring || !update_active()) {
        if (last) {
            s_mq.ignoring = false;
        }
        return;
    }
    st = update_write((uint32_t)offset, data, len, &why);
    if (st == RUV_OK && last) {
        st = update_commit(&why);
        if (st == RUV_OK) {
            app_log(RUV_LOG_INFO, "mqtt: model %08lx (generation %lu) committed", (unsigned long)g_app.active_crc,
                    (unsigned long)g_app.signed_gen);
            publish_status(true, "ok");
            publish_discovery(); /* the labels may have changed */
            return;
        }
    }
    if (st != RUV_OK) {
        const char *reason = update_active() ? "write_failed" : update_reason();
        (void)update_abort();
        app_log(RUV_LOG_ERROR, "mqtt: model refused: %s (%s); old model kept", reason, why);
        s_mq.ignoring = !last;
        publish_status(false, reason);
    }
}

/* ---- locked entry points (the client's thread calls these) ------------------ */

ruv_status_t ruv_app_mqtt_init(const ruv_app_mqtt_port_t *port, const char *prefix, const char *node)
{
    app_lock();
    ruv_status_t st = fleet_init(port, prefix, node);
    app_unlock();
    return st;
}

void ruv_app_mqtt_connected(void)
{
    app_lock();
    fleet_connected();
    app_unlock();
}

void ruv_app_mqtt_disconnected(void)
{
    app_lock();
    fleet_disconnected();
    app_unlock();
}

void ruv_app_mqtt_refused(const char *why)
{
    app_lock();
    fleet_refused(why);
    app_unlock();
}

void ruv_app_mqtt_get_stats(ruv_app_mqtt_stats_t *out)
{
    app_lock();
    fleet_get_stats(out);
    app_unlock();
}

void ruv_app_mqtt_model_data(const uint8_t *data, size_t len, size_t offset, size_t total)
{
    app_lock();
    fleet_model_data(data, len, offset, total);
    app_unlock();
}
