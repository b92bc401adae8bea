/*
 * app_main.c — boot of the ruv temporal-head node (ESP-IDF glue only).
 *
 *  1. platform (platform_idf.c): model slots found by label, console, time;
 *  2. the ruv_app core (console protocol, model slots with generation
 *     counter, temporal service) with the Kconfig run configuration; it
 *     loads the newest valid slot (CRC checked) or runs without a model;
 *  3. console reader task, temporal task (if TEMPORAL_HEAD_ENABLED) and, in
 *     the CSI build, the WiFi CSI front-end.
 *
 * ruv_app is not re-entrant: the console task and the temporal task call it
 * under one mutex (s_app_lock).
 */
#include <stdio.h>
#include <string.h>

#include "sdkconfig.h"

#include "esp_log.h"
#include "esp_system.h"
#include "freertos/FreeRTOS.h"
#include "freertos/semphr.h"
#include "freertos/task.h"

#include "platform_idf.h"
#include "ruv_app.h"
#include "ruv_csi_features.h"
#include "ruv_main.h"

static const char *TAG = "app";
static SemaphoreHandle_t s_app_lock;

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

static void app_lock(void)
{
    xSemaphoreTake(s_app_lock, portMAX_DELAY);
}

static void app_unlock(void)
{
    xSemaphoreGive(s_app_lock);
}

void ruv_main_push_frame(const float *frame)
{
    app_lock();
    ruv_app_push_frame(frame);
    app_unlock();
}

void ruv_main_classify_tick(void)
{
    app_lock();
    ruv_app_classify_tick();
    app_unlock();
}

void ruv_main_console_line(const char *line, size_t len)
{
    app_lock();
    ruv_app_handle_line(line, len);
    app_unlock();
}

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

    s_app_lock = xSemaphoreCreateMutex();
    if (s_app_lock == NULL) {
        ESP_LOGE(TAG, "out of memory");
        return;
    }
    esp_err_t err = idf_platform_init();
    if (err != ESP_OK) {
        ESP_LOGE(TAG, "model slots unavailable (%s): check partitions.csv", esp_err_to_name(err));
    }

    const ruv_temporal_config_t cfg = {
        .input_dim = CONFIG_TEMPORAL_INPUT_DIM,
        .window_len = CONFIG_TEMPORAL_WINDOW_LEN,
        .n_classes = CONFIG_TEMPORAL_N_CLASSES,
        .mode = RUN_MODE,
        .kv_fp16 = KV_FP16,
    };
    app_lock();
#if CONFIG_TEMPORAL_FRAME_SOURCE_CSI
    ruv_app_set_expected_feature_set(RUV_CSI_FEATURE_SET_STATS_V1); /* refuse other models */
#endif
    ruv_app_set_classify_period_ms(CONFIG_TEMPORAL_CLASSIFY_PERIOD_MS);
    ruv_status_t st = ruv_app_init(idf_platform(HEAD_ENABLED != 0), &cfg); /* prints the @B banner */
    app_unlock();
    if (st != RUV_OK) {
        /* No valid model (blank slots, wrong dims): the console still runs
         * so a model can be uploaded. */
        ESP_LOGW(TAG, "temporal head not running yet (status 0x%x)", (unsigned)st);
    }

    /* Queue first: the console may submit frames as soon as it runs. */
    if (HEAD_ENABLED) {
        ESP_ERROR_CHECK(temporal_task_start());
    }
    ESP_ERROR_CHECK(console_task_start());
#if CONFIG_TEMPORAL_FRAME_SOURCE_CSI
    ESP_ERROR_CHECK(csi_source_start());
#endif
}
