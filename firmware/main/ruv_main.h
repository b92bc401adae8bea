/*
 * ruv_main.h — internal interface between the files of the app component
 * (ESP-IDF glue only; the logic lives in the portable ruv_app component).
 */
#ifndef RUV_MAIN_H
#define RUV_MAIN_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "esp_err.h"
#include "sdkconfig.h"

/* temporal_task.c: queue + task. submit never blocks (0 timeout); a full
 * queue drops the frame, counts it and logs at most once a second. */
esp_err_t temporal_task_start(void);
bool temporal_task_submit(const float *frame);
void temporal_task_get_counters(uint32_t *enqueued, uint32_t *dropped, uint32_t *waiting);
size_t temporal_task_stack_free_bytes(void);

/* console_task.c: stdin line reader feeding the console protocol. */
esp_err_t console_task_start(void);
size_t console_task_stack_free_bytes(void);

/* app_main.c: called by the temporal task (under the app lock inside). */
void ruv_main_push_frame(const float *frame);
void ruv_main_classify_tick(void);
/* app_main.c: one console line (no line terminator), called by the reader. */
void ruv_main_console_line(const char *line, size_t len);

#if CONFIG_TEMPORAL_FRAME_SOURCE_CSI
/* csi_source.c */
esp_err_t csi_source_start(void);
int csi_source_udp_send(const void *data, size_t len); /* 0 sent, -1 not */
uint8_t csi_source_node_id(void);
void csi_source_get_counters(uint32_t *callbacks, uint32_t *rejected, uint32_t *raw_dropped);
#endif

#endif /* RUV_MAIN_H */
