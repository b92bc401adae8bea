/*
 * app_service.h — the temporal service (internal to ruv_app): frames into
 * the core, classification with argmax, the classify schedule.
 */
#ifndef RUV_APP_SERVICE_H
#define RUV_APP_SERVICE_H

#include <stdbool.h>
#include <stdint.h>

#include "ruv_app.h"

/* The unlocked bodies of the public entry points (the console's inline
 * push path calls them with the lock already held). */
ruv_status_t service_push_frame(const float *frame);
ruv_status_t service_classify_tick(void);
bool service_classify_due(uint64_t now, uint64_t *wait_us);

/* Classifies the current window into logits[n_classes]; *argmax gets the
 * first index of the largest logit. NOT_FOUND without a model,
 * INVALID_STATE before the first frame. */
ruv_status_t service_classify(float *logits, uint32_t *argmax);

#endif /* RUV_APP_SERVICE_H */
