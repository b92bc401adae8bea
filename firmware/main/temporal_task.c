/*
 * temporal_task.c — the FreeRTOS temporal task (SPEC §7).
 *
 * Own task, 16 KB stack, pinned to core 1 (plain xTaskCreate on the linux
 * target and on single-core configs), fed by a 32-deep queue of frames.
 * Producers (CSI callback, console protocol) use xQueueSend with a zero
 * timeout: a full queue drops the frame and counts it; the drop is logged at
 * most once a second. Classification runs on an absolute schedule:
 * deadline_k = t0 + k * period (ticks); the task blocks on the queue until the
 * next deadline, so the period does not drift with the work done per frame.
 * A deadline that was missed entirely (e.g. a long model upload) is skipped,
 * keeping the phase, instead of firing a burst of late classifications.
 */
#include <inttypes.h>
#include <stdatomic.h>
#include <string.h>

#include "sdkconfig.h"

#include "esp_log.h"
#include "freertos/FreeRTOS.h"
#include "freertos/queue.h"
#include "freertos/task.h"

#include "platform_idf.h"
#include "ruv_main.h"

static const char *TAG = "temporal";

#define FRAME_QUEUE_DEPTH 32
#if CONFIG_IDF_TARGET_LINUX
/* The linux port runs tasks as host threads whose libc (printf, locale)
 * needs more stack than newlib; the device value is the SPEC's 16 KB. */
#define TEMPORAL_STACK_BYTES (64 * 1024)
#else
#define TEMPORAL_STACK_BYTES (16 * 1024)
#endif
#define TEMPORAL_PRIORITY 5
#define TEMPORAL_CORE 1

typedef struct {
    float v[CONFIG_TEMPORAL_INPUT_DIM];
} frame_t;

static QueueHandle_t s_queue;
static TaskHandle_t s_task;
static atomic_uint s_dropped;
static atomic_uint s_enqueued;
static atomic_llong s_last_drop_log_us;

bool temporal_task_submit(const float *frame)
{
    if (s_queue == NULL || frame == NULL) {
        return false;
    }
    if (xQueueSend(s_queue, frame, 0) == pdTRUE) {
        atomic_fetch_add(&s_enqueued, 1u);
        return true;
    }
    const unsigned dropped = atomic_fetch_add(&s_dropped, 1u) + 1u;
    const long long now = (long long)idf_time_us();
    long long last = atomic_load(&s_last_drop_log_us);
    if (now - last >= 1000000LL && atomic_compare_exchange_strong(&s_last_drop_log_us, &last, now)) {
        ESP_LOGW(TAG, "frame queue full: %u frames dropped so far", dropped);
    }
    return false;
}

void temporal_task_get_counters(uint32_t *enqueued, uint32_t *dropped, uint32_t *waiting)
{
    if (enqueued != NULL) {
        *enqueued = atomic_load(&s_enqueued);
    }
    if (dropped != NULL) {
        *dropped = atomic_load(&s_dropped);
    }
    if (waiting != NULL) {
        *waiting = s_queue != NULL ? (uint32_t)uxQueueMessagesWaiting(s_queue) : 0u;
    }
}

size_t temporal_task_stack_free_bytes(void)
{
    if (s_task == NULL) {
        return 0;
    }
    /* ESP-IDF's FreeRTOS counts the high-water mark in bytes (StackType_t is
     * uint8_t); the linux port counts words. */
    return (size_t)uxTaskGetStackHighWaterMark(s_task) * sizeof(StackType_t);
}

static void temporal_task(void *arg)
{
    (void)arg;
    static frame_t frame; /* static: keeps a frame (up to 1 KB) off the stack */
    const TickType_t period = pdMS_TO_TICKS(CONFIG_TEMPORAL_CLASSIFY_PERIOD_MS) > 0
                                  ? pdMS_TO_TICKS(CONFIG_TEMPORAL_CLASSIFY_PERIOD_MS)
                                  : 1;
    TickType_t deadline = xTaskGetTickCount() + period;

    for (;;) {
        /* Signed tick difference: wrap-safe. */
        const int32_t remaining = (int32_t)(deadline - xTaskGetTickCount());
        if (remaining > 0) {
            if (xQueueReceive(s_queue, &frame, (TickType_t)remaining) == pdTRUE) {
                ruv_main_push_frame(frame.v);
            }
            continue; /* frame handled or deadline reached: re-evaluate */
        }
        ruv_main_classify_tick();
        deadline += period;
        /* Deadlines missed by a full period or more (a long upload, a
         * debugger stop) are skipped, keeping the phase of the schedule. */
        while ((int32_t)(xTaskGetTickCount() - deadline) >= (int32_t)period) {
            deadline += period;
        }
    }
}

esp_err_t temporal_task_start(void)
{
    s_queue = xQueueCreate(FRAME_QUEUE_DEPTH, sizeof(frame_t));
    if (s_queue == NULL) {
        return ESP_ERR_NO_MEM;
    }
    BaseType_t ok;
#if CONFIG_IDF_TARGET_LINUX || CONFIG_FREERTOS_UNICORE
    /* No core pinning here. Depth is in StackType_t units (bytes on the
     * ESP targets, machine words on the linux port). */
    ok = xTaskCreate(temporal_task, "temporal",
                     (configSTACK_DEPTH_TYPE)(TEMPORAL_STACK_BYTES / sizeof(StackType_t)), NULL,
                     TEMPORAL_PRIORITY, &s_task);
#else
    ok = xTaskCreatePinnedToCore(temporal_task, "temporal", TEMPORAL_STACK_BYTES, NULL,
                                 TEMPORAL_PRIORITY, &s_task, TEMPORAL_CORE);
#endif
    if (ok != pdPASS) {
        return ESP_ERR_NO_MEM;
    }
    ESP_LOGI(TAG, "temporal task started: queue %d, period %d ms", FRAME_QUEUE_DEPTH,
             CONFIG_TEMPORAL_CLASSIFY_PERIOD_MS);
    return ESP_OK;
}
