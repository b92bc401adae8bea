/*
 * temporal_task.c — the FreeRTOS temporal task (docs/firmware.md).
 *
 * Own task, 16 KB stack, pinned to core 1 (plain xTaskCreate on the linux
 * target and on single-core configs). Its whole job: wait on the frame
 * queue, at most until the next classify deadline, and hand what it got to
 * ruv_app_temporal_turn — the same loop body the virtual device runs. The
 * schedule (absolute deadlines on esp_timer µs, missed deadlines skipped and
 * counted in `stats ticks_missed`) lives in ruv_app, where it is tested.
 */
#include "temporal_task.h"

#include <stdint.h>

#include "sdkconfig.h"

#include "esp_log.h"

#include "frame_queue.h"
#include "ruv_app.h"

static const char *TAG = "temporal";

#if CONFIG_IDF_TARGET_LINUX
/* The linux port runs tasks as host threads whose libc (printf, locale)
 * needs more stack than newlib; the device value is 16 KB. */
#define TEMPORAL_STACK_BYTES (64 * 1024)
#else
#define TEMPORAL_STACK_BYTES (16 * 1024)
#endif
#define TEMPORAL_PRIORITY 5
#define TEMPORAL_CORE 1

/* µs to a queue timeout in ticks, rounded up: the task never wakes before
 * the deadline (ruv_app judges it on the µs clock, so a late tick costs at
 * most one tick of latency and never drift). */
static TickType_t wait_ticks(uint64_t wait_us)
{
    if (wait_us == RUV_APP_WAIT_FOREVER) {
        return portMAX_DELAY;
    }
    const uint64_t tick_us = 1000000u / (uint64_t)configTICK_RATE_HZ;
    const uint64_t ticks = (wait_us + tick_us - 1u) / tick_us;
    return ticks >= (uint64_t)portMAX_DELAY ? portMAX_DELAY - 1u : (TickType_t)ticks;
}

static void temporal_task(void *arg)
{
    (void)arg;
    static float frame[CONFIG_TEMPORAL_INPUT_DIM]; /* static: up to 1 KB off the stack */
    uint64_t wait_us = ruv_app_temporal_turn(NULL);
    for (;;) {
        const bool got = frame_queue_receive(frame, wait_ticks(wait_us));
        wait_us = ruv_app_temporal_turn(got ? frame : NULL);
        if (got) {
            frame_queue_release();
        }
    }
}

esp_err_t temporal_task_start(TaskHandle_t *task)
{
    BaseType_t ok;
#if CONFIG_IDF_TARGET_LINUX || CONFIG_FREERTOS_UNICORE
    /* No core pinning here. Depth is in StackType_t units (bytes on the
     * ESP targets, machine words on the linux port). */
    ok = xTaskCreate(temporal_task, "temporal",
                     (configSTACK_DEPTH_TYPE)(TEMPORAL_STACK_BYTES / sizeof(StackType_t)), NULL,
                     TEMPORAL_PRIORITY, task);
#else
    ok = xTaskCreatePinnedToCore(temporal_task, "temporal", TEMPORAL_STACK_BYTES, NULL,
                                 TEMPORAL_PRIORITY, task, TEMPORAL_CORE);
#endif
    if (ok != pdPASS) {
        return ESP_ERR_NO_MEM;
    }
    ESP_LOGI(TAG, "temporal task started: queue %d, period %d ms", FRAME_QUEUE_DEPTH,
             CONFIG_TEMPORAL_CLASSIFY_PERIOD_MS);
    return ESP_OK;
}
