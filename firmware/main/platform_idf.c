/*
 * platform_idf.c — the ruv_app platform interface on ESP-IDF.
 *
 *  lock        one FreeRTOS mutex serialising ruv_app (console + temporal task)
 *  time        esp_timer_get_time (µs since boot; CLOCK_MONOTONIC on linux)
 *  model slots partitions found by label (esp_partition_find_first), read in
 *              place (esp_partition_mmap), erased and written for uploads
 *  telemetry   UDP in the CSI build (csi_source.c), else the console only
 *  console     stdout (USB-Serial-JTAG / UART VFS; process stdout on linux)
 *  memory      free / minimum free heap, task stack high-water marks
 *  queue       the frame queue (frame_queue.c): submit, counters
 *  logging     ESP_LOG* under the tag "ruv"
 *  bench       esp_cpu_get_cycle_count (CCOUNT of the console task's core;
 *              the task is pinned, console_task.c), vTaskDelay(1) to yield;
 *              the thread's CPU time in ns on the linux target
 *
 * On the linux target, esp_partition emulates the flash in a memory-mapped
 * file; RUV_LINUX_FLASH_IMAGE names a prepared image (default model in
 * model_a, as `idf.py flash` leaves a chip), else ESP-IDF creates a blank
 * temporary one from the build's partition table.
 */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "sdkconfig.h"

#include "esp_heap_caps.h"
#include "esp_log.h"
#include "esp_partition.h"
#include "esp_system.h"
#include "esp_timer.h"
#include "freertos/FreeRTOS.h"
#include "freertos/semphr.h"
#include "freertos/task.h"
#if CONFIG_IDF_TARGET_LINUX
#include "esp_private/partition_linux.h"
#else
#include "esp_cpu.h"
#endif

#include "frame_queue.h"
#include "platform_idf.h"
#include "ruv_app.h"
#if CONFIG_TEMPORAL_FRAME_SOURCE_CSI && !CONFIG_IDF_TARGET_LINUX
#include "csi_source.h"
#endif

static const char *TAG = "ruv";

#define SLOT_ERASE_ALIGN 4096u /* flash sector */

typedef struct {
    const esp_partition_t *part;
    const void *map;
    esp_partition_mmap_handle_t map_handle;
    bool mapped;
} slot_t;

static slot_t s_slots[IDF_SLOT_COUNT];
static const char *const s_slot_labels[IDF_SLOT_COUNT] = {"model_a", "model_b"};
static SemaphoreHandle_t s_console_lock;
static SemaphoreHandle_t s_app_lock;
static TaskHandle_t *s_temporal_task; /* app_main's handle variables */
static TaskHandle_t *s_console_task;

/* ---- init ----------------------------------------------------------------- */

esp_err_t idf_platform_init(void)
{
#if CONFIG_IDF_TARGET_LINUX
    const char *image = getenv("RUV_LINUX_FLASH_IMAGE");
    if (image != NULL && image[0] != '\0') {
        esp_partition_file_mmap_ctrl_t *ctrl = esp_partition_get_file_mmap_ctrl_input();
        strlcpy(ctrl->flash_file_name, image, sizeof ctrl->flash_file_name);
        ctrl->remove_dump = false;
        ESP_LOGI(TAG, "emulated flash: %s", image);
    }
#endif
    s_console_lock = xSemaphoreCreateMutex();
    s_app_lock = xSemaphoreCreateMutex();
    if (s_console_lock == NULL || s_app_lock == NULL) {
        return ESP_ERR_NO_MEM;
    }
    int found = 0;
    for (int i = 0; i < IDF_SLOT_COUNT; ++i) {
        s_slots[i].part = esp_partition_find_first(ESP_PARTITION_TYPE_DATA, ESP_PARTITION_SUBTYPE_ANY,
                                                   s_slot_labels[i]);
        if (s_slots[i].part == NULL) {
            ESP_LOGE(TAG, "partition '%s' not found (partitions.csv)", s_slot_labels[i]);
        } else {
            ++found;
            ESP_LOGI(TAG, "slot %s: %" PRIu32 " bytes", s_slot_labels[i], (uint32_t)s_slots[i].part->size);
        }
    }
    return found == IDF_SLOT_COUNT ? ESP_OK : ESP_ERR_NOT_FOUND;
}

/* ---- time ----------------------------------------------------------------- */

static uint64_t idf_time_us(void)
{
#if CONFIG_IDF_TARGET_LINUX
    /* esp_timer is header-only on the linux target. */
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000u + (uint64_t)ts.tv_nsec / 1000u;
#else
    return (uint64_t)esp_timer_get_time();
#endif
}

/* ---- model slots ------------------------------------------------------------ */

static size_t idf_slot_size(int slot)
{
    if (slot < 0 || slot >= IDF_SLOT_COUNT || s_slots[slot].part == NULL) {
        return 0;
    }
    return (size_t)s_slots[slot].part->size;
}

static void slot_unmap(slot_t *s)
{
    if (s->mapped) {
        esp_partition_munmap(s->map_handle);
        s->mapped = false;
        s->map = NULL;
    }
}

static esp_err_t idf_slot_map(int slot, const uint8_t **data, size_t *size)
{
    if (slot < 0 || slot >= IDF_SLOT_COUNT || data == NULL || size == NULL) {
        return ESP_ERR_INVALID_ARG;
    }
    slot_t *s = &s_slots[slot];
    if (s->part == NULL) {
        return ESP_ERR_NOT_FOUND;
    }
    if (!s->mapped) {
        esp_err_t err = esp_partition_mmap(s->part, 0, s->part->size, ESP_PARTITION_MMAP_DATA, &s->map,
                                           &s->map_handle);
        if (err != ESP_OK) {
            ESP_LOGE(TAG, "mmap %s: %s", s->part->label, esp_err_to_name(err));
            return err;
        }
        s->mapped = true;
    }
    *data = (const uint8_t *)s->map;
    *size = (size_t)s->part->size;
    return ESP_OK;
}

static esp_err_t idf_slot_erase(int slot, size_t offset, size_t len)
{
    if (slot < 0 || slot >= IDF_SLOT_COUNT || s_slots[slot].part == NULL) {
        return ESP_ERR_NOT_FOUND;
    }
    slot_t *s = &s_slots[slot];
    /* A mapping of the slot being rewritten could serve stale cache lines on
     * the chip: drop it; the next map sees the new contents. */
    slot_unmap(s);
    const size_t start = offset - offset % SLOT_ERASE_ALIGN;
    size_t end = offset + len;
    end = (end + SLOT_ERASE_ALIGN - 1u) / SLOT_ERASE_ALIGN * SLOT_ERASE_ALIGN;
    if (end > s->part->size) {
        return ESP_ERR_INVALID_SIZE;
    }
    return esp_partition_erase_range(s->part, start, end - start);
}

static esp_err_t idf_slot_write(int slot, size_t offset, const void *src, size_t len)
{
    if (slot < 0 || slot >= IDF_SLOT_COUNT || s_slots[slot].part == NULL) {
        return ESP_ERR_NOT_FOUND;
    }
    slot_t *s = &s_slots[slot];
    slot_unmap(s);
    return esp_partition_write(s->part, offset, src, len);
}

/* ---- console ---------------------------------------------------------------- */

static void idf_console_write(const char *text, size_t len)
{
    /* One reply line is written whole: log lines from other tasks can come
     * before or after it, never inside it. */
    if (s_console_lock != NULL) {
        xSemaphoreTake(s_console_lock, portMAX_DELAY);
    }
    fwrite(text, 1, len, stdout);
    fflush(stdout);
    if (s_console_lock != NULL) {
        xSemaphoreGive(s_console_lock);
    }
}

/* ---- telemetry -------------------------------------------------------------- */

static int idf_telemetry_send(const uint8_t *packet, size_t len)
{
#if CONFIG_TEMPORAL_FRAME_SOURCE_CSI && !CONFIG_IDF_TARGET_LINUX
    return csi_source_udp_send(packet, len);
#else
    (void)packet;
    (void)len;
    return -1; /* no network in the console build: the console carries results */
#endif
}

static uint8_t idf_node_id(void)
{
#if CONFIG_TEMPORAL_FRAME_SOURCE_CSI && !CONFIG_IDF_TARGET_LINUX
    return csi_source_node_id();
#else
    return 0;
#endif
}

/* ---- memory ----------------------------------------------------------------- */

static uint32_t stack_free_bytes(TaskHandle_t *handle)
{
    const TaskHandle_t task = handle != NULL ? *(TaskHandle_t volatile *)handle : NULL;
    /* ESP-IDF's FreeRTOS counts the high-water mark in bytes (StackType_t is
     * uint8_t); the linux port counts words. */
    return task != NULL ? (uint32_t)(uxTaskGetStackHighWaterMark(task) * sizeof(StackType_t)) : 0u;
}

void idf_platform_watch_tasks(TaskHandle_t *temporal, TaskHandle_t *console)
{
    s_temporal_task = temporal;
    s_console_task = console;
}

/* ---- logging ---------------------------------------------------------------- */

static void idf_log(int level, const char *msg)
{
    switch (level) {
    case RUV_LOG_ERROR:
        ESP_LOGE(TAG, "%s", msg);
        break;
    case RUV_LOG_WARN:
        ESP_LOGW(TAG, "%s", msg);
        break;
    case RUV_LOG_INFO:
        ESP_LOGI(TAG, "%s", msg);
        break;
    default:
        ESP_LOGD(TAG, "%s", msg);
        break;
    }
}

/* ---- ruv_app_platform_t adapter ------------------------------------------- */

/* ESP-IDF error codes and ruv_status_t share their values (docs/spec.md §7); any
 * other I/O failure is reported as INVALID_STATE. */
static ruv_status_t to_status(esp_err_t err)
{
    switch (err) {
    case ESP_OK:
        return RUV_OK;
    case ESP_ERR_NO_MEM:
    case ESP_ERR_INVALID_ARG:
    case ESP_ERR_INVALID_STATE:
    case ESP_ERR_INVALID_SIZE:
    case ESP_ERR_NOT_FOUND:
    case ESP_ERR_NOT_SUPPORTED:
        return (ruv_status_t)err;
    default:
        return RUV_ERR_INVALID_STATE;
    }
}

static uint64_t p_time_us(void *user)
{
    (void)user;
    return idf_time_us();
}

static int p_slot_count(void *user)
{
    (void)user;
    return IDF_SLOT_COUNT;
}

static size_t p_slot_size(void *user, int slot)
{
    (void)user;
    return idf_slot_size(slot);
}

static size_t p_erase_align(void *user)
{
    (void)user;
    return SLOT_ERASE_ALIGN;
}

static ruv_status_t p_slot_map(void *user, int slot, const uint8_t **data, size_t *size)
{
    (void)user;
    return to_status(idf_slot_map(slot, data, size));
}

static ruv_status_t p_slot_erase(void *user, int slot, size_t offset, size_t len)
{
    (void)user;
    if (offset % SLOT_ERASE_ALIGN != 0u || len % SLOT_ERASE_ALIGN != 0u ||
        offset + len > idf_slot_size(slot) || offset + len < offset) {
        return RUV_ERR_INVALID_ARG;
    }
    return to_status(idf_slot_erase(slot, offset, len));
}

static ruv_status_t p_slot_write(void *user, int slot, size_t offset, const void *src, size_t len)
{
    (void)user;
    if (offset + len > idf_slot_size(slot) || offset + len < offset) {
        return RUV_ERR_INVALID_ARG;
    }
    return to_status(idf_slot_write(slot, offset, src, len));
}

static void p_console_write(void *user, const char *text, size_t len)
{
    (void)user;
    idf_console_write(text, len);
}

static int p_telemetry_send(void *user, const uint8_t *packet, size_t len)
{
    (void)user;
    return idf_telemetry_send(packet, len);
}

static void p_log(void *user, ruv_log_level_t level, const char *msg)
{
    (void)user;
    idf_log((int)level, msg);
}

static void p_mem_stats(void *user, ruv_app_mem_t *out)
{
    (void)user;
#if CONFIG_IDF_TARGET_LINUX
    /* the linux target has no heap_caps accounting: 0 = not measured */
    out->heap_free = out->heap_min_free = out->heap_largest_block = 0;
#else
    out->heap_free = (uint32_t)esp_get_free_heap_size();
    out->heap_min_free = (uint32_t)esp_get_minimum_free_heap_size();
    out->heap_largest_block = (uint32_t)heap_caps_get_largest_free_block(MALLOC_CAP_8BIT);
#endif
    out->temporal_stack_free = stack_free_bytes(s_temporal_task);
    out->console_stack_free = stack_free_bytes(s_console_task);
}

static void p_queue_stats(void *user, ruv_app_queue_t *out)
{
    (void)user;
    frame_queue_counters(out);
}

static uint8_t p_node_id(void *user)
{
    (void)user;
    return idf_node_id();
}

static const char *p_platform_name(void *user)
{
    (void)user;
    static char name[48];
    if (name[0] == '\0') {
        /* One protocol token (key=value fields are space separated). */
        snprintf(name, sizeof name, "%s-idf-%s", CONFIG_IDF_TARGET, esp_get_idf_version());
        for (char *c = name; *c != '\0'; ++c) {
            if (*c == ' ' || *c == '\t' || *c == '=') {
                *c = '_';
            }
        }
    }
    return name;
}

static bool p_submit_frame(void *user, const float *frame, size_t n)
{
    (void)user;
    if (n != (size_t)CONFIG_TEMPORAL_INPUT_DIM) {
        return false;
    }
    return frame_queue_submit(frame);
}

/* `bench` counter: CPU cycles of the core the console task is pinned to
 * (esp_cpu_get_cycle_count reads that core's CCOUNT; 32 bits, the app takes
 * differences modulo 2^32). The linux target has no cycle counter: the
 * calling thread's CPU time in ns, as on the virtual device. */
#if CONFIG_IDF_TARGET_LINUX
#define CYCLE_UNIT "cpu_ns"
#else
#define CYCLE_UNIT "cycles"
#endif

static uint32_t p_cycle_count(void *user)
{
    (void)user;
#if CONFIG_IDF_TARGET_LINUX
    struct timespec ts;
    clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
    return (uint32_t)((uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec);
#else
    return (uint32_t)esp_cpu_get_cycle_count();
#endif
}

/* Between measured calls of a long bench: one tick for the idle task, which
 * the task watchdog watches. */
static void p_yield(void *user)
{
    (void)user;
    vTaskDelay(1);
}

static void p_lock(void *user)
{
    (void)user;
    xSemaphoreTake(s_app_lock, portMAX_DELAY);
}

static void p_unlock(void *user)
{
    (void)user;
    xSemaphoreGive(s_app_lock);
}

const ruv_app_platform_t *idf_platform(bool queue_frames)
{
    static ruv_app_platform_t plat = {
        .abi = RUV_APP_PLATFORM_ABI,
        .user = NULL,
        .time_us = p_time_us,
        .slot_count = p_slot_count,
        .slot_size = p_slot_size,
        .erase_align = p_erase_align,
        .slot_map = p_slot_map,
        .slot_erase = p_slot_erase,
        .slot_write = p_slot_write,
        .console_write = p_console_write,
        .telemetry_send = p_telemetry_send,
        .log = p_log,
        .mem_stats = p_mem_stats,
        .queue_stats = p_queue_stats,
        .node_id = p_node_id,
        .platform_name = p_platform_name,
        .submit_frame = NULL,
        .lock = p_lock,
        .unlock = p_unlock,
        .cycle_count = p_cycle_count,
        .cycle_unit = CYCLE_UNIT,
        .yield = p_yield,
    };
    /* Without the temporal task nothing drains the queue: push inline. */
    plat.submit_frame = queue_frames ? p_submit_frame : NULL;
    return &plat;
}
