/*
 * frame_queue.c — the frame queue (frame_queue.h): a FreeRTOS queue of
 * CONFIG_TEMPORAL_INPUT_DIM floats per item, created once at boot.
 */
#include "frame_queue.h"

#include <stdatomic.h>
#include <string.h>

#include "sdkconfig.h"

#include "esp_log.h"
#include "freertos/queue.h"
#include "freertos/task.h"

static const char *TAG = "queue";

typedef struct {
    float v[CONFIG_TEMPORAL_INPUT_DIM];
} frame_t;

static QueueHandle_t s_queue;
static atomic_uint s_enqueued;
static atomic_uint s_dropped;
static frame_t s_discard; /* release() takes the peeked frame out here */
static atomic_uint s_last_drop_log_tick;
static atomic_bool s_logged_once;

esp_err_t frame_queue_init(void)
{
    if (s_queue == NULL) {
        s_queue = xQueueCreate(FRAME_QUEUE_DEPTH, sizeof(frame_t));
    }
    return s_queue != NULL ? ESP_OK : ESP_ERR_NO_MEM;
}

bool frame_queue_submit(const float *frame)
{
    if (s_queue == NULL || frame == NULL) {
        return false;
    }
    if (xQueueSend(s_queue, frame, 0) == pdTRUE) {
        atomic_fetch_add(&s_enqueued, 1u);
        return true;
    }
    const unsigned dropped = atomic_fetch_add(&s_dropped, 1u) + 1u;
    /* At most one log line a second (tick arithmetic wraps safely). */
    const unsigned now = (unsigned)xTaskGetTickCount();
    unsigned last = atomic_load(&s_last_drop_log_tick);
    const bool first = !atomic_exchange(&s_logged_once, true);
    if ((first || now - last >= (unsigned)pdMS_TO_TICKS(1000)) &&
        atomic_compare_exchange_strong(&s_last_drop_log_tick, &last, now)) {
        ESP_LOGW(TAG, "frame queue full: %u frames dropped so far", dropped);
    }
    return false;
}

bool frame_queue_receive(float *frame, TickType_t wait)
{
    if (s_queue == NULL) {
        vTaskDelay(wait);
        return false;
    }
    /* Peek, not receive: the frame stays counted as waiting until it was
     * pushed (one consumer, so the peeked frame is the one released). */
    return xQueuePeek(s_queue, frame, wait) == pdTRUE;
}

void frame_queue_release(void)
{
    if (s_queue != NULL) {
        (void)xQueueReceive(s_queue, &s_discard, 0);
    }
}

void frame_queue_counters(ruv_app_queue_t *out)
{
    memset(out, 0, sizeof *out);
    out->enqueued = atomic_load(&s_enqueued);
    out->dropped = atomic_load(&s_dropped);
    if (s_queue != NULL) {
        out->waiting = (uint32_t)uxQueueMessagesWaiting(s_queue);
        out->depth = FRAME_QUEUE_DEPTH;
    }
}
