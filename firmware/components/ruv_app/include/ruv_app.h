/*
 * ruv_app.h — portable app logic shared by the ESP32-S3 firmware and the
 * host virtual device: model slots, temporal service, console protocol,
 * the classify schedule and the console line reader (docs/firmware.md).
 *
 * Threads: ruv_app_init and the setters run before the tasks start. After
 * that, every entry point takes the platform's lock (ruv_app_platform.h),
 * so the board's console task and temporal task call them directly.
 */
#ifndef RUV_APP_H
#define RUV_APP_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "ruv_app_platform.h"
#include "ruv_line.h"
#include "ruv_proto.h"
#include "ruv_status.h"
#include "ruv_temporal.h"

#ifdef __cplusplus
extern "C" {
#endif

#define RUV_APP_VERSION "1.0.0"
#define RUV_APP_QUEUE_DEPTH 32

/* Boot: keeps the platform and config, scans the slots, loads the valid
 * slot with the highest generation (CRC + shape checked). Returns RUV_OK
 * when a model runs; RUV_ERR_NOT_FOUND (or the load status) when none does
 * — the protocol still works then (classify answers NOT_FOUND). Allocates
 * (context) here and at mode switch / model switch only. */
ruv_status_t ruv_app_init(const ruv_app_platform_t *platform, const ruv_temporal_config_t *cfg);

/* Feature set the model must declare (INPUT section); 0 accepts any. Call
 * before ruv_app_init. */
void ruv_app_set_expected_feature_set(uint16_t feature_set);

/* Classification period of the schedule (default 1000 ms) and schedule on;
 * 0 turns the schedule of ruv_app_temporal_turn off (the default until this
 * is called) and keeps the period. Kept across ruv_app_init. */
void ruv_app_set_classify_period_ms(uint32_t period_ms);

/* Telemetry on/off (default on); also the `tx` console command. */
void ruv_app_set_telemetry(bool on);

/* Temporal task side: one frame of input_dim floats (from the queue). */
ruv_status_t ruv_app_push_frame(const float *frame);

/* Temporal task side: classify now and send a telemetry packet if enabled.
 * No-op (returns NOT_FOUND / INVALID_STATE) without model or frames. */
ruv_status_t ruv_app_classify_tick(void);

/* Drift-free schedule: returns true when the absolute deadline has passed
 * and advances it by whole periods (next += period; missed periods are
 * skipped and counted in `stats ticks_missed`, never "now + period").
 * *wait_us receives the time to the next deadline. The first call only
 * sets the first deadline (now + period). */
bool ruv_app_classify_due(uint64_t now_us, uint64_t *wait_us);

#define RUV_APP_WAIT_FOREVER UINT64_MAX

/* The temporal task's loop body, board and virtual device alike:
 *
 *     uint64_t wait = ruv_app_temporal_turn(NULL);
 *     for (;;) {
 *         frame = receive from the queue, waiting at most `wait` µs;
 *         wait = ruv_app_temporal_turn(got_one ? frame : NULL);
 *     }
 *
 * Pushes the frame (if any), classifies and sends telemetry when the
 * deadline has passed (ruv_app_classify_due with the platform's clock) and
 * returns the µs until the next deadline, or RUV_APP_WAIT_FOREVER while the
 * schedule is off (no ruv_app_set_classify_period_ms call). */
uint64_t ruv_app_temporal_turn(const float *frame);

/* Console side: one line without terminator; line == NULL means "the line
 * was longer than RUV_PROTO_LINE_MAX and was discarded" (error reply). */
void ruv_app_handle_line(const char *line, size_t len);

/* Console side: whatever bytes a read() returned. The app's line reader
 * (ruv_line.h) assembles lines and answers each complete one
 * (ruv_app_handle_line). One console reader thread only. */
void ruv_app_console_input(const char *data, size_t n);

/* Prints the boot banner (`@B ...` line + log lines) through the console. */
void ruv_app_banner(void);

/* Encodes a 40-byte 0xC5110007 packet (docs/spec.md §6) for these logits. */
void ruv_app_encode_telemetry(uint8_t *pkt, const float *logits, uint32_t argmax, uint64_t ts_us,
                              uint32_t seq);

/* Slot image for provisioning (vdev --model, host tools writing a flash
 * image): header page (erase_align bytes, 0xFF-padded) + blob, valid with
 * this generation. Returns the image length, or 0 when cap is too small. */
size_t ruv_app_slot_image(uint8_t *out, size_t cap, const uint8_t *blob, size_t len, uint32_t generation,
                          size_t erase_align);

/* Releases the context (host tests). */
void ruv_app_deinit(void);

#ifdef __cplusplus
}
#endif
#endif /* RUV_APP_H */
