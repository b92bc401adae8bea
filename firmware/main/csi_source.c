/*
 * csi_source.c — the CSI frame source (compiled only when
 * CONFIG_TEMPORAL_FRAME_SOURCE_CSI): WiFi station (or promiscuous listener),
 * CSI receive callback -> csi-stats v1 features -> temporal queue, UDP
 * telemetry socket and the optional raw CSI stream (0xC5110001).
 *
 * The raw stream's payload is the driver's CSI buffer (wifi_csi_info_t.buf)
 * as it is, like every node of the 0xC5110001 family sends it; the front-end
 * (ruv_csi_stats_compute_esp) maps its layout to the ascending L-LTF. The
 * host does the same with the packet (docs/telemetry.md, docs/features.md).
 */
#include <errno.h>
#include <inttypes.h>
#include <stdatomic.h>
#include <string.h>

#include "sdkconfig.h"

#include "esp_event.h"
#include "esp_log.h"
#include "esp_netif.h"
#include "esp_timer.h"
#include "esp_wifi.h"
#include "freertos/FreeRTOS.h"
#include "freertos/queue.h"
#include "freertos/task.h"
#include "lwip/inet.h"
#include "lwip/sockets.h"
#include "nvs.h"
#include "nvs_flash.h"

#include "csi_source.h"
#include "frame_queue.h"
#include "ruv_csi_features.h"
#include "ruv_packets.h"

#if CONFIG_TEMPORAL_INPUT_DIM != RUV_CSI_STATS_V1_DIM
#error "The CSI frame source produces csi-stats v1 frames: set TEMPORAL_INPUT_DIM to 16"
#endif

#ifdef CONFIG_TEMPORAL_CSI_RAW_STREAM
#define RAW_STREAM 1
#else
#define RAW_STREAM 0
#endif

static const char *TAG = "csi";

#define RAW_HDR_LEN RUV_PKT_RAW_CSI_HDR_LEN /* layout: ruv_packets.h */
#define RAW_QUEUE_DEPTH 8
#define RAW_MAX_PAYLOAD 612 /* largest ESP32/ESP32-S3 CSI buffer (HT40 STBC) */

typedef struct {
    uint16_t len;
    uint8_t data[RAW_HDR_LEN + RAW_MAX_PAYLOAD];
} raw_pkt_t;

static struct {
    int sock;                      /* UDP socket, -1 until the station has an IP */
    struct sockaddr_in target;
    uint8_t node_id;
    ruv_csi_stats_t stats;         /* per-link state (one link: the AP / channel) */
    int64_t next_frame_us;         /* feature-rate limiter */
    uint32_t raw_seq;
    QueueHandle_t raw_queue;
    atomic_uint csi_callbacks;
    atomic_uint csi_rejected;
    atomic_uint raw_dropped;
} s_csi = {.sock = -1};

/* ---- NVS runtime overrides ---------------------------------------------- */

static void load_overrides(char *ip, size_t ip_len, uint16_t *port, uint8_t *node)
{
    esp_err_t err = nvs_flash_init();
    if (err == ESP_ERR_NVS_NO_FREE_PAGES || err == ESP_ERR_NVS_NEW_VERSION_FOUND) {
        ESP_ERROR_CHECK(nvs_flash_erase());
        err = nvs_flash_init();
    }
    ESP_ERROR_CHECK(err);

    nvs_handle_t h;
    if (nvs_open("ruv", NVS_READONLY, &h) != ESP_OK) {
        return; /* namespace absent: Kconfig values stand */
    }
    char buf[16];
    size_t len = sizeof buf;
    if (nvs_get_str(h, "udp_ip", buf, &len) == ESP_OK) {
        strlcpy(ip, buf, ip_len);
    }
    uint16_t p;
    if (nvs_get_u16(h, "udp_port", &p) == ESP_OK && p != 0) {
        *port = p;
    }
    uint8_t n;
    if (nvs_get_u8(h, "node_id", &n) == ESP_OK) {
        *node = n;
    }
    nvs_close(h);
}

/* ---- CSI callback (WiFi task context: no blocking) ---------------------- */

static uint32_t channel_to_mhz(unsigned ch)
{
    if (ch == 14) {
        return 2484u;
    }
    return 2407u + 5u * ch;
}

static void csi_rx_cb(void *ctx, wifi_csi_info_t *info)
{
    (void)ctx;
    static float feat[RUV_CSI_STATS_V1_DIM];

    atomic_fetch_add(&s_csi.csi_callbacks, 1u);
    if (info == NULL || info->buf == NULL || info->len < 4) {
        atomic_fetch_add(&s_csi.csi_rejected, 1u);
        return;
    }
    const int64_t now = esp_timer_get_time();
    const bool want_frame = now >= s_csi.next_frame_us;
    const bool want_raw = RAW_STREAM && s_csi.sock >= 0;
    if (!want_frame && !want_raw) {
        return;
    }

    const int8_t rssi = (int8_t)info->rx_ctrl.rssi;
    const int8_t noise = (int8_t)info->rx_ctrl.noise_floor;

    if (want_frame) {
        /* The host recorder applies this same limiter to raw packets
         * (ruv_temporal.recording.RateLimiter). */
        s_csi.next_frame_us = now + 1000000 / CONFIG_TEMPORAL_CSI_FEATURE_RATE_HZ;
        /* Any ESP32/ESP32-S3 layout -> L-LTF; an unknown one is rejected. */
        if (ruv_csi_stats_compute_esp(&s_csi.stats, info->buf, info->len,
                                      (uint8_t)info->rx_ctrl.secondary_channel,
                                      info->first_word_invalid, rssi, noise,
                                      feat) == RUV_OK) {
            (void)frame_queue_submit(feat); /* full queue: counted there */
        } else {
            atomic_fetch_add(&s_csi.csi_rejected, 1u);
        }
    }

    if (want_raw) {
        if (info->len > RAW_MAX_PAYLOAD) {
            atomic_fetch_add(&s_csi.raw_dropped, 1u);
            return;
        }
        raw_pkt_t pkt;
        uint8_t *p = pkt.data;
        const uint16_t n_entries = (uint16_t)(info->len / 2u);
        const ruv_pkt_raw_csi_hdr_t hdr = {
            .magic = RUV_PKT_RAW_CSI_MAGIC,
            .node_id = s_csi.node_id,
            .n_antennas = 1,
            .n_subcarriers = n_entries,
            .freq_mhz = channel_to_mhz(info->rx_ctrl.channel),
            .seq = ++s_csi.raw_seq,
            .rssi = rssi,
            .noise_floor = noise,
            .reserved = 0,
        };
        ruv_pkt_raw_csi_hdr_encode(p, &hdr);
        /* The driver's buffer unchanged; entries it flags invalid are sent as
         * (0, 0), the null the front-end makes of them, so host and device
         * compute the same features from this packet. */
        memcpy(p + RAW_HDR_LEN, info->buf, 2u * n_entries);
        if (info->first_word_invalid) {
            memset(p + RAW_HDR_LEN, 0, 4);
        }
        pkt.len = (uint16_t)(RAW_HDR_LEN + 2u * n_entries);
        if (xQueueSend(s_csi.raw_queue, &pkt, 0) != pdTRUE) {
            atomic_fetch_add(&s_csi.raw_dropped, 1u);
        }
    }
}

/* ---- UDP ------------------------------------------------------------------ */

int csi_source_udp_send(const void *data, size_t len)
{
    const int sock = s_csi.sock;
    if (sock < 0) {
        return -1;
    }
    const int rc = (int)sendto(sock, data, len, 0, (const struct sockaddr *)&s_csi.target,
                               sizeof s_csi.target);
    return rc == (int)len ? 0 : -1;
}

uint8_t csi_source_node_id(void)
{
    return s_csi.node_id;
}

static void raw_sender_task(void *arg)
{
    (void)arg;
    static raw_pkt_t pkt;
    for (;;) {
        if (xQueueReceive(s_csi.raw_queue, &pkt, portMAX_DELAY) == pdTRUE) {
            (void)csi_source_udp_send(pkt.data, pkt.len);
        }
    }
}

/* ---- WiFi ------------------------------------------------------------------ */

static void on_wifi_event(void *arg, esp_event_base_t base, int32_t id, void *data)
{
    (void)arg;
    (void)data;
    if (base == WIFI_EVENT && id == WIFI_EVENT_STA_START) {
        esp_wifi_connect();
    } else if (base == WIFI_EVENT && id == WIFI_EVENT_STA_DISCONNECTED) {
        ESP_LOGW(TAG, "disconnected; reconnecting");
        esp_wifi_connect();
    } else if (base == IP_EVENT && id == IP_EVENT_STA_GOT_IP) {
        if (s_csi.sock < 0) {
            s_csi.sock = socket(AF_INET, SOCK_DGRAM, IPPROTO_UDP);
            if (s_csi.sock < 0) {
                ESP_LOGE(TAG, "UDP socket: errno %d", errno);
            }
        }
        ESP_LOGI(TAG, "got IP; telemetry to %s:%u", inet_ntoa(s_csi.target.sin_addr),
                 (unsigned)ntohs(s_csi.target.sin_port));
    }
}

esp_err_t csi_source_start(void)
{
    char ip[16];
    uint16_t port = CONFIG_TEMPORAL_UDP_PORT;
    uint8_t node = CONFIG_TEMPORAL_NODE_ID;
    strlcpy(ip, CONFIG_TEMPORAL_UDP_TARGET_IP, sizeof ip);
    load_overrides(ip, sizeof ip, &port, &node);
    s_csi.node_id = node;
    memset(&s_csi.target, 0, sizeof s_csi.target);
    s_csi.target.sin_family = AF_INET;
    s_csi.target.sin_port = htons(port);
    if (inet_pton(AF_INET, ip, &s_csi.target.sin_addr) != 1) {
        ESP_LOGE(TAG, "bad UDP target address '%s'", ip);
        return ESP_ERR_INVALID_ARG;
    }
    ruv_csi_stats_init(&s_csi.stats);

    s_csi.raw_queue = xQueueCreate(RAW_QUEUE_DEPTH, sizeof(raw_pkt_t));
    if (s_csi.raw_queue == NULL) {
        return ESP_ERR_NO_MEM;
    }

    ESP_ERROR_CHECK(esp_netif_init());
    ESP_ERROR_CHECK(esp_event_loop_create_default());
    esp_netif_create_default_wifi_sta();
    wifi_init_config_t init = WIFI_INIT_CONFIG_DEFAULT();
    ESP_ERROR_CHECK(esp_wifi_init(&init));
    ESP_ERROR_CHECK(esp_wifi_set_storage(WIFI_STORAGE_RAM));
    ESP_ERROR_CHECK(esp_event_handler_register(WIFI_EVENT, ESP_EVENT_ANY_ID, on_wifi_event, NULL));
    ESP_ERROR_CHECK(esp_event_handler_register(IP_EVENT, IP_EVENT_STA_GOT_IP, on_wifi_event, NULL));
    ESP_ERROR_CHECK(esp_wifi_set_mode(WIFI_MODE_STA));

    const bool station = CONFIG_TEMPORAL_WIFI_SSID[0] != '\0';
    if (station) {
        wifi_config_t wc;
        memset(&wc, 0, sizeof wc);
        strlcpy((char *)wc.sta.ssid, CONFIG_TEMPORAL_WIFI_SSID, sizeof wc.sta.ssid);
        strlcpy((char *)wc.sta.password, CONFIG_TEMPORAL_WIFI_PASSWORD, sizeof wc.sta.password);
        ESP_ERROR_CHECK(esp_wifi_set_config(WIFI_IF_STA, &wc));
    } else {
        /* No AP configured: STA_START will still try to connect; stop that
         * by unregistering the connect handler and listen promiscuously. */
        ESP_ERROR_CHECK(esp_event_handler_unregister(WIFI_EVENT, ESP_EVENT_ANY_ID, on_wifi_event));
    }
    ESP_ERROR_CHECK(esp_wifi_start());
    if (!station) {
        ESP_ERROR_CHECK(esp_wifi_set_promiscuous(true));
        ESP_ERROR_CHECK(esp_wifi_set_channel(CONFIG_TEMPORAL_WIFI_CHANNEL, WIFI_SECOND_CHAN_NONE));
        ESP_LOGW(TAG, "no SSID configured: promiscuous on channel %d, UDP off",
                 CONFIG_TEMPORAL_WIFI_CHANNEL);
    }

    const wifi_csi_config_t csi = {
        .lltf_en = true,
        .htltf_en = false,
        .stbc_htltf2_en = false,
        .ltf_merge_en = false,
        .channel_filter_en = false, /* keep subcarriers independent */
        .manu_scale = false,
        .shift = 0,
    };
    ESP_ERROR_CHECK(esp_wifi_set_csi_config(&csi));
    ESP_ERROR_CHECK(esp_wifi_set_csi_rx_cb(csi_rx_cb, NULL));
    ESP_ERROR_CHECK(esp_wifi_set_csi(true));

    if (RAW_STREAM) {
        if (xTaskCreate(raw_sender_task, "csi_raw_udp", 3072, NULL, 4, NULL) != pdPASS) {
            return ESP_ERR_NO_MEM;
        }
    }
    ESP_LOGI(TAG, "CSI source up: node %u, %d feature frames/s max, raw stream %s", (unsigned)node,
             CONFIG_TEMPORAL_CSI_FEATURE_RATE_HZ, RAW_STREAM ? "on" : "off");
    return ESP_OK;
}

void csi_source_get_counters(uint32_t *callbacks, uint32_t *rejected, uint32_t *raw_dropped)
{
    *callbacks = atomic_load(&s_csi.csi_callbacks);
    *rejected = atomic_load(&s_csi.csi_rejected);
    *raw_dropped = atomic_load(&s_csi.raw_dropped);
}
