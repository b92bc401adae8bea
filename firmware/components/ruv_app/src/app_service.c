/*
 * app_service.c — the temporal service: frames into the core, classify,
 * and the classify schedule that the board's temporal task and the virtual
 * device both run (absolute deadlines, missed deadlines counted).
 */
#include "app_service.h"

#include "app_state.h"
#include "app_telemetry.h"

ruv_status_t ruv_app_push_frame(const float *frame)
{
    app_lock();
    ruv_status_t st = service_push_frame(frame);
    app_unlock();
    return st;
}

ruv_status_t service_push_frame(const float *frame)
{
    if (g_app.ctx == NULL) {
        return RUV_ERR_NOT_FOUND;
    }
    ruv_status_t st = ruv_temporal_push(g_app.ctx, frame);
    if (st == RUV_OK) {
        ++g_app.frames;
    } else {
        ++g_app.push_errors;
    }
    return st;
}

ruv_status_t service_classify(float *logits, uint32_t *argmax)
{
    if (g_app.ctx == NULL) {
        return RUV_ERR_NOT_FOUND;
    }
    ruv_status_t st = ruv_temporal_classify(g_app.ctx, logits, g_app.cfg.n_classes);
    if (st != RUV_OK) {
        return st;
    }
    uint32_t best = 0;
    for (uint32_t i = 1; i < g_app.cfg.n_classes; ++i) {
        if (logits[i] > logits[best]) {
            best = i;
        }
    }
    *argmax = best;
    ++g_app.classifications;
    return RUV_OK;
}

ruv_status_t ruv_app_classify_tick(void)
{
    app_lock();
    ruv_status_t st = service_classify_tick();
    app_unlock();
    return st;
}

ruv_status_t service_classify_tick(void)
{
    uint32_t am = 0;
    ruv_status_t st = service_classify(g_app.vec, &am);
    if (st != RUV_OK) {
        return st;
    }
    telemetry_send_result(g_app.vec, am);
    fleet_publish_state(g_app.vec, am);
    return RUV_OK;
}

void ruv_app_set_classify_period_ms(uint32_t period_ms)
{
    if (period_ms != 0) {
        g_app.period_ms = period_ms;
    }
    g_app.next_due_us = 0;
    g_app.sched_on = period_ms != 0;
}

/* deadline_k = t0 + k * period. A deadline already passed by whole periods
 * (a long upload, a debugger stop) is skipped and counted in ticks_missed,
 * keeping the phase, instead of firing a burst of late classifications. */
bool ruv_app_classify_due(uint64_t now, uint64_t *wait_us)
{
    app_lock();
    const bool due = service_classify_due(now, wait_us);
    app_unlock();
    return due;
}

bool service_classify_due(uint64_t now, uint64_t *wait_us)
{
    const uint64_t period = (uint64_t)g_app.period_ms * 1000u;
    bool due = false;
    if (g_app.next_due_us == 0) {
        g_app.next_due_us = now + period;
    } else if (now >= g_app.next_due_us) {
        const uint64_t missed = (now - g_app.next_due_us) / period;
        g_app.ticks_missed += (uint32_t)missed;
        g_app.next_due_us += (missed + 1u) * period;
        due = true;
    }
    if (wait_us != NULL) {
        *wait_us = g_app.next_due_us > now ? g_app.next_due_us - now : 0;
    }
    return due;
}

uint64_t ruv_app_temporal_turn(const float *frame)
{
    uint64_t wait = RUV_APP_WAIT_FOREVER;
    app_lock();
    if (frame != NULL) {
        (void)service_push_frame(frame); /* errors are counted (push_errors) */
    }
    if (g_app.sched_on && g_app.p != NULL) {
        /* The clock is read under the lock: a deadline is never judged with
         * a time taken before a long command ran. */
        if (service_classify_due(app_now_us(), &wait)) {
            (void)service_classify_tick(); /* no model / no frame yet: nothing to send */
        }
    }
    app_unlock();
    return wait;
}
