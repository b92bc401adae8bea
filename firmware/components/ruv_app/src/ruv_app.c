/*
 * ruv_app.c — the portable app shared by the ESP32-S3 firmware and the host
 * virtual device (docs/firmware.md, docs/protocol.md, docs/model-slots.md,
 * docs/app-platform.md): its state, boot, configuration and banner. Pure C99.
 *
 * The seams live in their own files, each with a small internal header:
 *   app_slots.c      model slots: headers, boot choice, uploads
 *   app_service.c    temporal service: push, classify, the classify schedule
 *   app_telemetry.c  0xC5110007 result packets
 *   app_console.c    line -> command table -> reply line
 *   app_commands.c   the console commands (one function + one table row each)
 *
 * Allocation happens only in ruv_app_init, on a model switch and on a mode
 * switch (ruv_temporal_init_ex); frames and commands never allocate.
 */
#include "ruv_app.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "app_console.h"
#include "app_slots.h"
#include "app_state.h"
#include "app_update.h"

app_state_t g_app = {
    .period_ms = 1000,
    .tx_on = true,
    .active_slot = -1,
};

void app_log(ruv_log_level_t level, const char *fmt, ...)
{
    char msg[200];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    if (g_app.p != NULL && g_app.p->log != NULL) {
        g_app.p->log(g_app.p->user, level, msg);
    }
}

uint64_t app_now_us(void)
{
    return g_app.p->time_us(g_app.p->user);
}

const char *app_platform_name(void)
{
    return g_app.p->platform_name != NULL ? g_app.p->platform_name(g_app.p->user) : "unknown";
}

void app_reset_counters(void)
{
    g_app.frames = 0;
    g_app.push_errors = 0;
    g_app.classifications = 0;
}

void app_lock(void)
{
    const ruv_app_platform_t *p = g_app.p;
    if (p != NULL && p->lock != NULL && p->unlock != NULL) {
        p->lock(p->user);
    }
}

void app_unlock(void)
{
    const ruv_app_platform_t *p = g_app.p;
    if (p != NULL && p->lock != NULL && p->unlock != NULL) {
        p->unlock(p->user);
    }
}

void ruv_app_set_expected_feature_set(uint16_t feature_set)
{
    g_app.expected_feature_set = feature_set;
}

void ruv_app_set_telemetry(bool on)
{
    g_app.tx_on = on;
}

void ruv_app_banner(void)
{
    app_lock();
    app_banner();
    app_unlock();
}

void app_banner(void)
{
    char model[16];
    if (g_app.ctx != NULL) {
        snprintf(model, sizeof model, "%08lx", (unsigned long)g_app.active_crc);
    } else {
        snprintf(model, sizeof model, "none");
    }
    size_t cap = 0;
    char *out = console_buffer(&cap);
    const ruv_temporal_config_t *c = &g_app.cfg;
    snprintf(out, cap,
             RUV_PROTO_BOOT " ruv-temporal app=%s core=%d.%d.%d proto=%d platform=%s D=%u N=%u C=%u mode=%s "
                            "fp16=%d model=%s slot=%d gen=%lu\n",
             RUV_APP_VERSION, RUV_TEMPORAL_VERSION_MAJOR, RUV_TEMPORAL_VERSION_MINOR, RUV_TEMPORAL_VERSION_PATCH,
             RUV_PROTO_VERSION, app_platform_name(), (unsigned)c->input_dim, (unsigned)c->window_len,
             (unsigned)c->n_classes, c->mode == RUV_MODE_STREAM ? "stream" : "window", c->kv_fp16 ? 1 : 0, model,
             g_app.active_slot, (unsigned long)g_app.active_gen);
    console_emit(out);
}

ruv_status_t ruv_app_init(const ruv_app_platform_t *platform, const ruv_temporal_config_t *cfg)
{
    if (platform == NULL || cfg == NULL || platform->time_us == NULL || platform->console_write == NULL ||
        cfg->input_dim == 0 || cfg->input_dim > APP_MAX_DIM || cfg->n_classes == 0 ||
        cfg->n_classes > APP_MAX_DIM) {
        return RUV_ERR_INVALID_ARG;
    }
    ruv_app_deinit();
    g_app.p = platform;
    g_app.cfg = *cfg;
    g_app.boot_us = app_now_us();
    g_app.initialised = true;
    ruv_line_reader_reset(&g_app.reader);
    console_link_reset(); /* a boot ends any link session */
    ruv_status_t st = slots_boot_load();
    app_banner();
    return st;
}

void ruv_app_deinit(void)
{
    if (g_app.ctx != NULL) {
        ruv_temporal_destroy(g_app.ctx);
        g_app.ctx = NULL;
    }
    g_app.active_slot = -1;
    g_app.active_gen = 0;
    g_app.active_crc = 0;
    g_app.signed_gen = 0; /* re-read from the slot headers at boot */
    (void)update_abort();
    memset(&g_app.up, 0, sizeof g_app.up);
    app_reset_counters();
    g_app.seq = 0;
    g_app.rejected = 0;
    g_app.commands = 0;
    g_app.telemetry_sent = 0;
    g_app.telemetry_failed = 0;
    g_app.ticks_missed = 0;
    g_app.batch_refused = 0;
    g_app.link_replayed = 0;
    g_app.link_refused = 0;
    g_app.next_due_us = 0;
    g_app.initialised = false;
}
