/*
 * platform_idf.h — ESP-IDF services behind the ruv_app platform interface
 * (platform_idf.c). Internal to the app component.
 */
#ifndef PLATFORM_IDF_H
#define PLATFORM_IDF_H

#include <stddef.h>
#include <stdint.h>

#include <stdbool.h>

#include "esp_err.h"
#include "ruv_app_platform.h"

#define IDF_SLOT_COUNT 2 /* partitions "model_a", "model_b" */

esp_err_t idf_platform_init(void);
uint64_t idf_time_us(void);

const char *idf_slot_label(int slot);
size_t idf_slot_size(int slot);
esp_err_t idf_slot_map(int slot, const uint8_t **data, size_t *size);
esp_err_t idf_slot_read(int slot, size_t offset, void *dst, size_t len);
esp_err_t idf_slot_erase(int slot, size_t offset, size_t len);
esp_err_t idf_slot_write(int slot, size_t offset, const void *src, size_t len);

void idf_console_write(const char *text, size_t len);
int idf_telemetry_send(const uint8_t *packet, size_t len);
uint8_t idf_node_id(void);
void idf_memory_stats(size_t *heap_free, size_t *heap_min_free, size_t *largest_block,
                      size_t *temporal_stack_free, size_t *console_stack_free);
void idf_log(int level, const char *msg);

/* The ruv_app platform table; queue_frames: console frames go through the
 * temporal task's queue (submit_frame) instead of being pushed inline. */
const ruv_app_platform_t *idf_platform(bool queue_frames);

#endif /* PLATFORM_IDF_H */
