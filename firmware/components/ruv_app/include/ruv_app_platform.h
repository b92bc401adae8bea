/*
 * ruv_app_platform.h — what the portable app logic (ruv_app) needs from a
 * platform. Implemented by firmware/main/platform_idf.c on ESP-IDF and by
 * firmware/host/vdev/ on POSIX (the virtual device). See docs/app-platform.md.
 *
 * Pure C99, no ESP-IDF header. Every function receives `user` back.
 * Callbacks marked OPTIONAL may be NULL. The table must outlive the app.
 * ruv_app serialises its entry points with the platform's lock/unlock (one
 * mutex shared by the console task and the temporal task); without them
 * the platform must call ruv_app_* from one thread only.
 */
#ifndef RUV_APP_PLATFORM_H
#define RUV_APP_PLATFORM_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "ruv_status.h"

#ifdef __cplusplus
extern "C" {
#endif

#define RUV_APP_PLATFORM_ABI 2 /* 2: cycle_count, cycle_unit, yield */
#define RUV_APP_MAX_SLOTS 4
#define RUV_APP_TELEMETRY_LEN 40 /* 0xC5110007 packet (RUV_PKT_RESULT_LEN, ruv_packets.h) */

typedef enum {
    RUV_LOG_ERROR = 1,
    RUV_LOG_WARN = 2,
    RUV_LOG_INFO = 3,
    RUV_LOG_DEBUG = 4,
} ruv_log_level_t;

/* Memory high-water figures; unknown values are 0. */
typedef struct {
    uint32_t heap_free;          /* bytes free now */
    uint32_t heap_min_free;      /* low-water mark of heap_free since boot */
    uint32_t heap_largest_block; /* largest allocatable block now */
    uint32_t temporal_stack_free;/* min free stack bytes ever, temporal task */
    uint32_t console_stack_free; /* min free stack bytes ever, console task */
} ruv_app_mem_t;

/* Counters of the platform's frame queue (frame source -> temporal task). */
typedef struct {
    uint32_t enqueued; /* frames accepted into the queue */
    uint32_t dropped;  /* frames dropped because the queue was full */
    uint32_t waiting;  /* frames in the queue now (not yet pushed) */
    uint32_t depth;    /* queue capacity (32) */
} ruv_app_queue_t;

typedef struct ruv_app_platform {
    uint32_t abi;  /* RUV_APP_PLATFORM_ABI */
    void *user;    /* passed back to every callback */

    /* Monotonic microseconds since boot. Required. */
    uint64_t (*time_us)(void *user);

    /* ---- model slots ---------------------------------------------------
     * slot_count: number of slots (2 on the device; <= RUV_APP_MAX_SLOTS).
     * slot_size: usable bytes of slot i (0 if missing).
     * erase_align: erase granularity in bytes (4096 flash sector; a power
     *   of two; the host may report 4096 too). Slot sizes are multiples.
     * slot_map: read-only pointer to the whole slot i (slot_size bytes),
     *   valid until the next slot_erase/slot_write on that slot; the app
     *   calls slot_map again after writing (the platform may re-map).
     *   Erased bytes read as 0xFF.
     * slot_erase: erase [offset, offset+len) of slot i; offset and len are
     *   multiples of erase_align.
     * slot_write: program len bytes at offset into erased space (any
     *   alignment; the app only writes each byte once after an erase).
     * All return RUV_OK or a status (RUV_ERR_INVALID_ARG for a bad range,
     * RUV_ERR_NOT_FOUND for a missing slot, RUV_ERR_INVALID_STATE for an
     * I/O failure). */
    int (*slot_count)(void *user);
    size_t (*slot_size)(void *user, int slot);
    size_t (*erase_align)(void *user);
    ruv_status_t (*slot_map)(void *user, int slot, const uint8_t **data, size_t *size);
    ruv_status_t (*slot_erase)(void *user, int slot, size_t offset, size_t len);
    ruv_status_t (*slot_write)(void *user, int slot, size_t offset, const void *src, size_t len);

    /* ---- outputs --------------------------------------------------------
     * console_write: write text (one or more complete lines, each ending
     *   in '\n') atomically with respect to log lines. Required.
     * telemetry_send: send one 40-byte 0xC5110007 packet (UDP on the
     *   device, UDP/file on the host). Returns 0 when sent, -1 otherwise
     *   (counted, never fatal). OPTIONAL.
     * log: one log line without '\n' (ESP_LOG on the device, stderr on the
     *   host). Log lines must never start with '@'. Required. */
    void (*console_write)(void *user, const char *text, size_t len);
    int (*telemetry_send)(void *user, const uint8_t *packet, size_t len);
    void (*log)(void *user, ruv_log_level_t level, const char *msg);

    /* ---- introspection (OPTIONAL) ------------------------------------- */
    void (*mem_stats)(void *user, ruv_app_mem_t *out);
    void (*queue_stats)(void *user, ruv_app_queue_t *out);
    uint8_t (*node_id)(void *user); /* telemetry node id; NULL -> 0 */
    const char *(*platform_name)(void *user); /* "esp32s3 idf v5.x", "vdev" */

    /* ---- frame submission (OPTIONAL) ------------------------------------
     * Console `push` frames go through this when set: enqueue one frame of
     * input_dim floats (copied) for the temporal task, never blocking;
     * return false when the queue is full (the platform counts the drop and
     * logs at most once a second). The temporal task later calls
     * ruv_app_push_frame(). When NULL, console frames are pushed inline. */
    bool (*submit_frame)(void *user, const float *frame, size_t n);

    /* ---- serialisation (OPTIONAL, both or neither) ----------------------
     * A mutex (not recursive) taken by every ruv_app_* entry point after
     * ruv_app_init, so the console task and the temporal task may call the
     * app concurrently. Callbacks above run with it held: they must not
     * call back into ruv_app. */
    void (*lock)(void *user);
    void (*unlock)(void *user);

    /* ---- benchmark clock (OPTIONAL; the `bench` command) -----------------
     * cycle_count: a free-running 32-bit counter read before and after each
     *   measured call. The board: the CPU cycle counter of the core the
     *   console task is pinned to (esp_cpu_get_cycle_count; interrupts on
     *   that core are included); the virtual device and the linux target:
     *   the calling thread's CPU time in nanoseconds
     *   (CLOCK_THREAD_CPUTIME_ID). Differences are taken modulo 2^32, so one measured
     *   call must take fewer than 2^32 counts (17.9 s at 240 MHz, 4.29 s in
     *   ns). NULL: `bench` answers NOT_SUPPORTED.
     * cycle_unit: what one count is, one token: "cycles", "cpu_ns" (thread
     *   CPU time) or "ns" (wall time); NULL means "cycles".
     * yield: let lower-priority tasks run briefly (vTaskDelay(1) on the
     *   board), so a long bench does not starve the idle task the task
     *   watchdog watches; called between measured calls, never inside one.
     *   Runs with the app lock held. NULL: nothing to do. */
    uint32_t (*cycle_count)(void *user);
    const char *cycle_unit;
    void (*yield)(void *user);
} ruv_app_platform_t;

#ifdef __cplusplus
}
#endif
#endif /* RUV_APP_PLATFORM_H */
