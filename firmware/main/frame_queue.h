/*
 * frame_queue.h — the 32-deep frame queue between the frame sources (CSI
 * callback, console `push`) and the temporal task (docs/firmware.md).
 *
 * The bottom of firmware/main: it calls nothing else of the app. Producers
 * never block: a full queue drops the frame, counts it and logs at most once
 * a second. A received frame stays in the queue (counted as waiting) until
 * frame_queue_release(), so `pending=0` tells a host that every accepted
 * frame is in the core; the queue's 32 places include the frame being
 * pushed.
 */
#ifndef FRAME_QUEUE_H
#define FRAME_QUEUE_H

#include <stdbool.h>

#include "esp_err.h"
#include "freertos/FreeRTOS.h"

#include "ruv_app_platform.h" /* ruv_app_queue_t */

#define FRAME_QUEUE_DEPTH 32

esp_err_t frame_queue_init(void);

/* Producer side: copies one frame of CONFIG_TEMPORAL_INPUT_DIM floats;
 * false (dropped, counted) when the queue is full or not created. */
bool frame_queue_submit(const float *frame);

/* Temporal task: waits up to `wait` ticks for a frame; true when one was
 * copied into `frame`. Call frame_queue_release() once it was pushed. */
bool frame_queue_receive(float *frame, TickType_t wait);
void frame_queue_release(void);

void frame_queue_counters(ruv_app_queue_t *out);

#endif /* FRAME_QUEUE_H */
