/*
 * app_state.h — the one state of the portable app (internal to ruv_app).
 *
 * The app is a singleton, like the device it runs on: one console, one
 * model, one temporal service. Every file of the component reads and
 * writes this struct; each file owns the fields of its seam (noted below).
 * All calls are serialised by the platform (ruv_app_platform.h).
 */
#ifndef RUV_APP_STATE_H
#define RUV_APP_STATE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "ruv_app.h"

#define APP_MAX_DIM 256 /* input_dim / n_classes limit of ruv_app_init */

/* Upload session (app_slots.c). */
typedef struct {
    bool active;
    int slot;
    uint32_t total_len;
    uint32_t total_crc;
    uint32_t next_off;
    uint32_t running_crc;
    bool crc_known;      /* false: streamed upload, total CRC taken at commit */
} app_upload_t;

typedef struct {
    /* ruv_app.c: configuration */
    const ruv_app_platform_t *p;
    ruv_temporal_config_t cfg;
    uint16_t expected_feature_set;
    uint32_t period_ms;
    bool tx_on;
    bool initialised;
    uint64_t boot_us;

    /* app_slots.c: the running model and the upload session */
    ruv_temporal_ctx_t *ctx;
    ruv_model_info_t info;
    int active_slot;
    uint32_t active_gen;
    uint32_t active_crc;
    app_upload_t up;
    uint32_t signed_gen;       /* highest signed-envelope generation accepted (replay floor) */

    /* app_update.c / app_fleet.c: signing and MQTT (docs/fleet.md) */
    const void *sign_crypto;   /* ruv_sign_crypto_t of the node's public key; NULL: none */
    uint8_t sign_key_id[8];
    bool locked;               /* console uploads must be signed envelopes too */

    /* app_service.c: temporal service counters and schedule */
    uint32_t frames;          /* frames pushed into the core since reset */
    uint32_t push_errors;
    uint32_t classifications; /* successful classify calls (tick + console) */
    bool sched_on;            /* ruv_app_set_classify_period_ms was called */
    uint32_t ticks_missed;    /* classify deadlines skipped (late by a whole period) */
    uint64_t next_due_us;     /* absolute deadline of the next classification; 0 = unset */

    /* app_telemetry.c */
    uint32_t seq;
    uint32_t telemetry_sent;
    uint32_t telemetry_failed;

    /* app_console.c / app_commands.c */
    ruv_line_reader_t reader; /* the console's line reader (console thread only) */
    uint32_t rejected;        /* console commands answered with @E */
    uint32_t commands;
    uint32_t batch_refused;   /* frames refused after a queue-full in the same push */
    uint32_t link_replayed;   /* resent requests answered from the cache */
    uint32_t link_refused;    /* framed requests refused: checksum, sequence gap, too old */

    /* scratch vectors (logits, layer state, one decoded frame) */
    float vec[APP_MAX_DIM];
    float frame[APP_MAX_DIM];
} app_state_t;

extern app_state_t g_app;

/* ruv_app.c helpers used by every seam. */
void app_log(ruv_log_level_t level, const char *fmt, ...)
#if defined(__GNUC__)
    __attribute__((format(printf, 2, 3)))
#endif
    ;
uint64_t app_now_us(void);
const char *app_platform_name(void);
void app_reset_counters(void);
/* The platform's lock around an entry point (no-op without one). */
void app_lock(void);
void app_unlock(void);
void app_banner(void);

#endif /* RUV_APP_STATE_H */
