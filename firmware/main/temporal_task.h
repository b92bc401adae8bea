/*
 * temporal_task.h — the FreeRTOS temporal task (docs/firmware.md).
 */
#ifndef TEMPORAL_TASK_H
#define TEMPORAL_TASK_H

#include "esp_err.h"
#include "freertos/FreeRTOS.h"
#include "freertos/task.h"

/* Starts the task (16 KB stack, core 1); the frame queue must exist. *task
 * receives its handle (stack statistics). */
esp_err_t temporal_task_start(TaskHandle_t *task);

#endif /* TEMPORAL_TASK_H */
