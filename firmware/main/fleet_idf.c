/*
 * fleet_idf.c — esp-mqtt transport of ruv_app's fleet logic (docs/fleet.md).
 *
 * - The app publishes through port_publish() while it holds its lock, so
 *   that call only copies into a bounded outbox (a pool of buffers sized at
 *   start, two FreeRTOS queues) and never waits: a full outbox or a broker
 *   that is down makes it return -1 and the app counts a drop. The outbox
 *   task hands messages to esp-mqtt outside the app lock.
 * - Reconnects with exponential back-off (1 s doubling to
 *   CONFIG_RUV_MQTT_BACKOFF_MAX_MS) from an esp_timer; esp-mqtt's own fixed
 *   reconnect is off.
 * - model/set arrives in pieces when larger than the client buffer; each
 *   piece goes to ruv_app_mqtt_model_data with its offset.
 */
#include "fleet_idf.h"

#include <stdlib.h>
#include <string.h>

#include "sdkconfig.h"

#include "esp_event.h"
#include "esp_log.h"
#include "esp_timer.h"
#include "freertos/FreeRTOS.h"
#include "freertos/queue.h"
#include "freertos/task.h"
#include "ruv_app.h"
#include "ruv_app_fleet.h"
#include "ruv_sign.h"

#if CONFIG_RUV_FLEET_MQTT
#include "esp_netif.h"
#include "mqtt_client.h"
#endif

static const char *TAG = "fleet";

#if CONFIG_RUV_MODEL_SIGNING
/* CONFIG_RUV_MODEL_PUBKEY_FILE, embedded by main/CMakeLists.txt */
extern const uint8_t model_pubkey_pem_start[] asm("_binary_model_pubkey_pem_start");
extern const uint8_t model_pubkey_pem_end[] asm("_binary_model_pubkey_pem_end");
static ruv_sign_crypto_t s_crypto;
#endif

esp_err_t fleet_idf_init_signing(void)
{
#if CONFIG_RUV_MODEL_SIGNING
    uint8_t key_id[RUV_SIGN_KEY_ID_LEN];
    /* TEXT embedding adds the NUL mbedtls wants for PEM (counted). */
    const size_t len = (size_t)(model_pubkey_pem_end - model_pubkey_pem_start);
    if (ruv_sign_mbedtls_load(model_pubkey_pem_start, len, &s_crypto, key_id) != RUV_OK) {
        ESP_LOGE(TAG, "model-signing key (%s) is not an ECDSA P-256 public key: network models disabled",
                 CONFIG_RUV_MODEL_PUBKEY_FILE);
        return ESP_ERR_INVALID_ARG;
    }
    ruv_app_set_model_key(&s_crypto, key_id);
    ESP_LOGI(TAG, "model-signing key %02x%02x%02x%02x%02x%02x%02x%02x", key_id[0], key_id[1], key_id[2], key_id[3],
             key_id[4], key_id[5], key_id[6], key_id[7]);
#endif
#if CONFIG_RUV_MODEL_LOCKED
    ruv_app_set_locked(true);
#endif
    return ESP_OK;
}

#if CONFIG_RUV_FLEET_MQTT

#if CONFIG_RUV_MQTT_TLS_CA
extern const uint8_t mqtt_ca_pem_start[] asm("_binary_mqtt_ca_pem_start");
#endif

#define MSG_TOPIC_MAX (RUV_APP_MQTT_TOPIC_MAX + 64)
#define MSG_PAYLOAD_MAX CONFIG_RUV_MQTT_MSG_MAX

typedef struct {
    char topic[MSG_TOPIC_MAX];
    uint16_t len;
    uint8_t qos;
    bool retain;
    char payload[MSG_PAYLOAD_MAX];
} out_msg_t;

static struct {
    esp_mqtt_client_handle_t client;
    QueueHandle_t free_q, send_q; /* out_msg_t * */
    out_msg_t *pool;
    volatile bool connected;
    bool started;
    esp_timer_handle_t retry;
    uint32_t backoff_ms;
} s_f;

static int port_publish(void *user, const char *topic, const void *payload, size_t len, int qos, bool retain)
{
    out_msg_t *m = NULL;
    (void)user;
    if (!s_f.connected || len > MSG_PAYLOAD_MAX || strlen(topic) >= MSG_TOPIC_MAX ||
        xQueueReceive(s_f.free_q, &m, 0) != pdTRUE) {
        return -1; /* counted by the app; never blocks the temporal task */
    }
    strcpy(m->topic, topic);
    memcpy(m->payload, payload, len);
    m->len = (uint16_t)len;
    m->qos = (uint8_t)qos;
    m->retain = retain;
    if (xQueueSend(s_f.send_q, &m, 0) != pdTRUE) {
        (void)xQueueSend(s_f.free_q, &m, 0);
        return -1;
    }
    return 0;
}

static void outbox_task(void *arg)
{
    (void)arg;
    for (;;) {
        out_msg_t *m = NULL;
        if (xQueueReceive(s_f.send_q, &m, portMAX_DELAY) != pdTRUE) {
            continue;
        }
        if (s_f.connected) {
            (void)esp_mqtt_client_enqueue(s_f.client, m->topic, m->payload, m->len, m->qos, m->retain, true);
        }
        (void)xQueueSend(s_f.free_q, &m, 0);
    }
}

static void schedule_reconnect(void)
{
    ESP_LOGW(TAG, "reconnecting in %lu ms", (unsigned long)s_f.backoff_ms);
    esp_timer_stop(s_f.retry);
    esp_timer_start_once(s_f.retry, (uint64_t)s_f.backoff_ms * 1000u);
    s_f.backoff_ms = s_f.backoff_ms * 2u > CONFIG_RUV_MQTT_BACKOFF_MAX_MS ? CONFIG_RUV_MQTT_BACKOFF_MAX_MS
                                                                         : s_f.backoff_ms * 2u;
}

static void on_retry(void *arg)
{
    (void)arg;
    esp_mqtt_client_reconnect(s_f.client);
}

static const char *refusal_text(esp_mqtt_connect_return_code_t rc)
{
    switch (rc) {
    case MQTT_CONNECTION_REFUSE_PROTOCOL: return "unacceptable protocol version";
    case MQTT_CONNECTION_REFUSE_ID_REJECTED: return "identifier rejected";
    case MQTT_CONNECTION_REFUSE_SERVER_UNAVAILABLE: return "server unavailable";
    case MQTT_CONNECTION_REFUSE_BAD_USERNAME: return "bad user name or password";
    case MQTT_CONNECTION_REFUSE_NOT_AUTHORIZED: return "not authorised";
    default: return "refused";
    }
}

static void on_mqtt(void *arg, esp_event_base_t base, int32_t id, void *data)
{
    esp_mqtt_event_handle_t e = data;
    static bool s_in_set; /* the pieces of a message after the first carry no topic */
    (void)arg;
    (void)base;
    switch ((esp_mqtt_event_id_t)id) {
    case MQTT_EVENT_CONNECTED:
        s_f.connected = true;
        s_f.backoff_ms = 1000;
        esp_mqtt_client_subscribe(s_f.client, ruv_app_mqtt_model_set_topic(), 1);
        ruv_app_mqtt_connected();
        break;
    case MQTT_EVENT_DISCONNECTED:
        s_f.connected = false;
        ruv_app_mqtt_disconnected();
        schedule_reconnect();
        break;
    case MQTT_EVENT_ERROR:
        if (e->error_handle != NULL && e->error_handle->error_type == MQTT_ERROR_TYPE_CONNECTION_REFUSED) {
            ruv_app_mqtt_refused(refusal_text(e->error_handle->connect_return_code));
        }
        break;
    case MQTT_EVENT_DATA:
        if (e->current_data_offset == 0) {
            const char *t = ruv_app_mqtt_model_set_topic();
            s_in_set = e->topic_len == (int)strlen(t) && memcmp(e->topic, t, (size_t)e->topic_len) == 0;
        }
        if (s_in_set && e->data_len >= 0 && e->total_data_len >= 0) {
            ruv_app_mqtt_model_data((const uint8_t *)e->data, (size_t)e->data_len, (size_t)e->current_data_offset,
                                    (size_t)e->total_data_len);
        }
        break;
    default:
        break;
    }
}

static void on_got_ip(void *arg, esp_event_base_t base, int32_t id, void *data)
{
    (void)arg;
    (void)base;
    (void)id;
    (void)data;
    if (!s_f.started) {
        s_f.started = true;
        ESP_ERROR_CHECK(esp_mqtt_client_start(s_f.client));
    }
}

esp_err_t fleet_idf_start(void)
{
    static const ruv_app_mqtt_port_t port = {NULL, port_publish};
    const char *node = CONFIG_RUV_MQTT_NODE_ID[0] != '\0' ? CONFIG_RUV_MQTT_NODE_ID : NULL;
    if (ruv_app_mqtt_init(&port, CONFIG_RUV_MQTT_PREFIX, node) != RUV_OK) {
        ESP_LOGE(TAG, "bad MQTT topic prefix or node id");
        return ESP_ERR_INVALID_ARG;
    }
    /* The outbox: every buffer allocated here, once. */
    s_f.pool = calloc(CONFIG_RUV_MQTT_OUTBOX_LEN, sizeof(out_msg_t));
    s_f.free_q = xQueueCreate(CONFIG_RUV_MQTT_OUTBOX_LEN, sizeof(out_msg_t *));
    s_f.send_q = xQueueCreate(CONFIG_RUV_MQTT_OUTBOX_LEN, sizeof(out_msg_t *));
    if (s_f.pool == NULL || s_f.free_q == NULL || s_f.send_q == NULL) {
        return ESP_ERR_NO_MEM;
    }
    for (int i = 0; i < CONFIG_RUV_MQTT_OUTBOX_LEN; ++i) {
        out_msg_t *m = &s_f.pool[i];
        xQueueSend(s_f.free_q, &m, 0);
    }
    if (xTaskCreate(outbox_task, "mqtt_outbox", 4096, NULL, 4, NULL) != pdPASS) {
        return ESP_ERR_NO_MEM;
    }
    const esp_timer_create_args_t targs = {.callback = on_retry, .name = "mqtt_retry"};
    ESP_ERROR_CHECK(esp_timer_create(&targs, &s_f.retry));
    s_f.backoff_ms = 1000;

    esp_mqtt_client_config_t cfg = {
        .broker.address.uri = CONFIG_RUV_MQTT_BROKER_URI,
#if CONFIG_RUV_MQTT_TLS_CA
        .broker.verification.certificate = (const char *)mqtt_ca_pem_start,
#endif
        .credentials.username = CONFIG_RUV_MQTT_USERNAME[0] != '\0' ? CONFIG_RUV_MQTT_USERNAME : NULL,
        .credentials.authentication.password = CONFIG_RUV_MQTT_PASSWORD[0] != '\0' ? CONFIG_RUV_MQTT_PASSWORD : NULL,
        .session.keepalive = 15,
        .session.last_will.topic = ruv_app_mqtt_availability_topic(),
        .session.last_will.msg = "offline",
        .session.last_will.msg_len = 7,
        .session.last_will.qos = 1,
        .session.last_will.retain = 1,
        .network.disable_auto_reconnect = true,
        .buffer.size = CONFIG_RUV_MQTT_BUFFER_SIZE,
        .outbox.limit = CONFIG_RUV_MQTT_OUTBOX_BYTES,
    };
    s_f.client = esp_mqtt_client_init(&cfg);
    if (s_f.client == NULL) {
        return ESP_FAIL;
    }
    ESP_ERROR_CHECK(esp_mqtt_client_register_event(s_f.client, ESP_EVENT_ANY_ID, on_mqtt, NULL));
    ESP_ERROR_CHECK(esp_event_handler_register(IP_EVENT, IP_EVENT_STA_GOT_IP, on_got_ip, NULL));
    ESP_LOGI(TAG, "MQTT %s prefix %s; connecting once WiFi is up", CONFIG_RUV_MQTT_BROKER_URI, CONFIG_RUV_MQTT_PREFIX);
    return ESP_OK;
}

#else /* !CONFIG_RUV_FLEET_MQTT */

esp_err_t fleet_idf_start(void)
{
    return ESP_OK;
}

#endif
