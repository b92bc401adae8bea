/*
 * app_service.h — the temporal service (internal to ruv_app): frames into
 * the core, classification with argmax, the classify schedule.
 */
#ifndef RUV_APP_SERVICE_H
#define RUV_APP_SERVICE_H

#include <stdint.h>

#include "ruv_app.h"

/* Classifies the current window into logits[n_classes]; *argmax gets the
 * first index of the largest logit. NOT_FOUND without a model,
 * INVALID_STATE before the first frame. */
ruv_status_t service_classify(float *logits, uint32_t *argmax);

#endif /* RUV_APP_SERVICE_H */
