/*
 * app_main.c — boot of the ruv temporal-head node (ESP-IDF glue only).
 *
 *  1. platform (platform_idf.c): locks, model slots found by label, console,
 *     time; the frame queue (frame_queue.c) when the head is enabled;
 *  2. the ruv_app core (console protocol, model slots with generation
 *     counter, temporal service, classify schedule) with the Kconfig run
 *     configuration; it loads the newest valid slot (CRC checked) or runs
 *     without a model;
 *  3. the temporal task (if TEMPORAL_HEAD_ENABLED), the console task and, in
 *     the CSI build, the WiFi CSI front-end.
 *
 * Calls go one way (docs/firmware.md): app_main -> tasks, platform, CSI
 * source -> frame queue / ruv_app. Nothing calls back into this file, and
 * the tasks never call each other: ruv_app serialises itself with the
 * platform's mutex.
 */
#include <stdio.h>
#include <string.h>

#include "sdkconfig.h"

#include "esp_log.h"
#include "esp_system.h"
#include "freertos/FreeRTOS.h"
#include "freertos/task.h"

#include "console_task.h"
#include "frame_queue.h"
#include "platform_idf.h"
#include "ruv_app.h"
#include "ruv_csi_features.h"
#include "temporal_task.h"
#if CONFIG_TEMPORAL_FRAME_SOURCE_CSI
#include "csi_source.h"
#include "fleet_idf.h"
#endif

static const char *TAG = "app";

#if CONFIG_TEMPORAL_RUN_MODE_STREAM
#define RUN_MODE RUV_MODE_STREAM
#else
#define RUN_MODE RUV_MODE_WINDOW
#endif
#ifdef CONFIG_TEMPORAL_KV_FP16
#define KV_FP16 true
#else
#define KV_FP16 false
#endif
#ifdef CONFIG_TEMPORAL_HEAD_ENABLED
#define HEAD_ENABLED 1
#else
#define HEAD_ENABLED 0
#endif

void app_main(void)
{
    ESP_LOGI(TAG, "ruv temporal node, ESP-IDF %s; D=%d N=%d C=%d mode=%s%s period=%d ms source=%s",
             esp_get_idf_version(), CONFIG_TEMPORAL_INPUT_DIM, CONFIG_TEMPORAL_WINDOW_LEN,
             CONFIG_TEMPORAL_N_CLASSES, RUN_MODE == RUV_MODE_STREAM ? "stream" : "window",
             KV_FP16 ? " (fp16 kv)" : "", CONFIG_TEMPORAL_CLASSIFY_PERIOD_MS,
#if CONFIG_TEMPORAL_FRAME_SOURCE_CSI
             "csi"
#else
             "console"
#endif
    );

    esp_err_t err = idf_platform_init();
    if (err == ESP_ERR_NO_MEM) {
        ESP_LOGE(TAG, "out of memory");
        return;
    }
    if (err != ESP_OK) {
        ESP_LOGE(TAG, "model slots unavailable (%s): check partitions.csv", esp_err_to_name(err));
    }
    /* Queue first: the console may submit frames as soon as it runs. */
    if (HEAD_ENABLED) {
        ESP_ERROR_CHECK(frame_queue_init());
    }

    const ruv_temporal_config_t cfg = {
        .input_dim = CONFIG_TEMPORAL_INPUT_DIM,
        .window_len = CONFIG_TEMPORAL_WINDOW_LEN,
        .n_classes = CONFIG_TEMPORAL_N_CLASSES,
        .mode = RUN_MODE,
        .kv_fp16 = KV_FP16,
    };
#if CONFIG_TEMPORAL_FRAME_SOURCE_CSI
    ruv_app_set_expected_feature_set(RUV_CSI_FEATURE_SET_STATS_V1); /* refuse other models */
#endif
    ruv_app_set_classify_period_ms(CONFIG_TEMPORAL_CLASSIFY_PERIOD_MS);
#if CONFIG_TEMPORAL_FRAME_SOURCE_CSI
    (void)fleet_idf_init_signing(); /* a bad key leaves network models off */
#endif
    /* Before any task runs: no lock needed yet. Prints the @B banner. */
    ruv_status_t st = ruv_app_init(idf_platform(HEAD_ENABLED != 0), &cfg);
    if (st != RUV_OK) {
        /* No valid model (blank slots, wrong dims): the console still runs
         * so a model can be uploaded. */
        ESP_LOGW(TAG, "temporal head not running yet (status 0x%x)", (unsigned)st);
    }

    static TaskHandle_t temporal, console; /* read by the platform's `stats` */
    idf_platform_watch_tasks(&temporal, &console);
    if (HEAD_ENABLED) {
        ESP_ERROR_CHECK(temporal_task_start(&temporal));
    }
    ESP_ERROR_CHECK(console_task_start(&console));
#if CONFIG_TEMPORAL_FRAME_SOURCE_CSI
    ESP_ERROR_CHECK(csi_source_start());
    ESP_ERROR_CHECK(fleet_idf_start());
#endif
}
