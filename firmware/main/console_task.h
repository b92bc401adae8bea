/*
 * console_task.h — the console reader task (docs/firmware.md).
 */
#ifndef CONSOLE_TASK_H
#define CONSOLE_TASK_H

#include "esp_err.h"
#include "freertos/FreeRTOS.h"
#include "freertos/task.h"

/* Installs the console driver (blocking reads) and starts the reader.
 * *task receives its handle (stack statistics). */
esp_err_t console_task_start(TaskHandle_t *task);

#endif /* CONSOLE_TASK_H */
