/*
 * platform_idf.h — the ruv_app platform on ESP-IDF (platform_idf.c).
 * Called by app_main only; it calls down into the frame queue and, in the
 * CSI build, the UDP link of the CSI source — never into the tasks.
 */
#ifndef PLATFORM_IDF_H
#define PLATFORM_IDF_H

#include <stdbool.h>

#include "esp_err.h"
#include "freertos/FreeRTOS.h"
#include "freertos/task.h"

#include "ruv_app_platform.h"

#define IDF_SLOT_COUNT 2 /* partitions "model_a", "model_b" */

/* Locks (app, console), model slots by label. ESP_ERR_NO_MEM is fatal;
 * ESP_ERR_NOT_FOUND (a slot partition missing) is not: the app then runs
 * without a model and says so. */
esp_err_t idf_platform_init(void);

/* The ruv_app platform table; queue_frames: console frames go through the
 * frame queue (frame_queue.h) to the temporal task instead of inline. */
const ruv_app_platform_t *idf_platform(bool queue_frames);

/* Where the handles of the tasks whose stack high-water marks `stats`
 * reports will be stored (NULL: unknown). Given before the tasks are
 * created: xTaskCreate stores the handle before the task first runs, so a
 * `stats` answered by the console task already sees both. */
void idf_platform_watch_tasks(TaskHandle_t *temporal, TaskHandle_t *console);

#endif /* PLATFORM_IDF_H */
