/*
 * fuzz_blob.c — libFuzzer target of the RVNE blob view and the model on top.
 *
 *   cmake -S firmware/host -B .build/fuzz -G Ninja -DCMAKE_C_COMPILER=clang -DRUV_FUZZ=ON
 *   cmake --build .build/fuzz --target fuzz_blob
 *   ./.build/fuzz/fuzz_blob -max_total_time=60 tests/fuzz/corpus/blob
 *
 * Every input is copied into a heap buffer of exactly its size (ASan flags
 * any read past the end) and validated with ruv_temporal_blob_info; the
 * same bytes at an odd address must get the same verdict. An accepted blob
 * is then run: a context with a tiny window in window mode and in stream
 * mode (FP32 and FP16 KV), three pushes (the third rebases the stream
 * context), classify and every layer state. Each input is also tried with
 * its weights_len and CRC fixed up, so mutations get past checks 4 and 5.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "ruv_blob.h"
#include "ruv_crc32.h"
#include "ruv_temporal.h"

#define ARENA_LIMIT ((size_t)64 << 20) /* skip contexts above 64 MB */

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void run_model(const uint8_t *blob, size_t len, const ruv_model_info_t *info,
                      ruv_run_mode_t mode, bool kv16, uint8_t seed)
{
    ruv_temporal_config_t cfg = {info->input_dim, 2, info->n_classes, mode, kv16};
    size_t need = 0;
    if (ruv_temporal_required_bytes(blob, len, &cfg, &need) != RUV_OK || need > ARENA_LIMIT) {
        return;
    }
    ruv_temporal_ctx_t *ctx = NULL;
    if (ruv_temporal_init_ex(blob, len, &cfg, &ctx) != RUV_OK) {
        return;
    }
    size_t D = info->input_dim, C = info->n_classes;
    float *frame = (float *)malloc(D * sizeof(float));
    float *logits = (float *)malloc(C * sizeof(float));
    if (frame != NULL && logits != NULL) {
        for (int f = 0; f < 3; ++f) {
            for (size_t i = 0; i < D; ++i) {
                frame[i] = (float)((int)((seed + 31u * i + 7u * (unsigned)f) & 0xFFu) - 128) *
                           0.0625f;
            }
            if (ruv_temporal_push(ctx, frame) != RUV_OK) {
                abort(); /* a valid context accepts every frame */
            }
            if (ruv_temporal_classify(ctx, logits, C) != RUV_OK) {
                abort();
            }
        }
        for (uint32_t st = 0; st <= info->n_layers; ++st) {
            if (ruv_temporal_layer_state(ctx, (uint16_t)st, frame, D) != RUV_OK) {
                abort();
            }
        }
        ruv_temporal_stats_t stats;
        if (ruv_temporal_get_stats(ctx, &stats) != RUV_OK || stats.arena_bytes != need ||
            (mode == RUV_MODE_STREAM && stats.rebases != 1u)) {
            abort();
        }
    }
    free(frame);
    free(logits);
    ruv_temporal_destroy(ctx);
}

/* One blob through the view and, when accepted, the model. */
static void one_blob(const uint8_t *data, size_t size)
{
    uint8_t *buf = (uint8_t *)malloc(size == 0 ? 1 : size);
    uint8_t *odd = (uint8_t *)malloc(size + 1);
    if (buf == NULL || odd == NULL) {
        free(buf);
        free(odd);
        return;
    }
    if (size > 0) {
        memcpy(buf, data, size);
        memcpy(odd + 1, data, size);
    }
    ruv_model_info_t info;
    const char *reason = NULL;
    ruv_status_t st = ruv_temporal_blob_info(size == 0 ? NULL : buf, size, &info, &reason);
    if (reason == NULL || strcmp(ruv_blob_reason_text(reason), "unknown reason") == 0) {
        abort(); /* every verdict carries a table key */
    }
    const char *reason2 = NULL;
    ruv_status_t st2 = ruv_temporal_blob_info(odd + 1, size, NULL, &reason2);
    if (st2 != st || reason2 == NULL || strcmp(reason, reason2) != 0) {
        abort(); /* byte-wise parsing: alignment never matters */
    }
    if (st == RUV_OK) {
        if (info.blob_len != size || info.n_classes < 2u || info.input_dim == 0u) {
            abort();
        }
        uint8_t seed = size > 30 ? data[30] : 0;
        run_model(buf, size, &info, RUV_MODE_WINDOW, false, seed);
        run_model(buf, size, &info, RUV_MODE_STREAM, (seed & 1u) != 0u, seed);
    }
    free(buf);
    free(odd);
}

static void put32(uint8_t *b, uint32_t v)
{
    b[0] = (uint8_t)v;
    b[1] = (uint8_t)(v >> 8);
    b[2] = (uint8_t)(v >> 16);
    b[3] = (uint8_t)(v >> 24);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    one_blob(data, size);
    /* Mutations almost always break the length or the CRC; also run the
     * input with weights_len and the CRC made consistent, so the fuzzer
     * reaches the flag, shape and section checks and the model. */
    if (size >= RUV_BLOB_MIN_SIZE && size - RUV_BLOB_MIN_SIZE <= 0xFFFFFFFFu) {
        uint8_t *fixed = (uint8_t *)malloc(size);
        if (fixed != NULL) {
            memcpy(fixed, data, size);
            put32(fixed + 20, (uint32_t)(size - RUV_BLOB_MIN_SIZE));
            put32(fixed + size - 4, ruv_crc32(0, fixed, size - 4));
            one_blob(fixed, size);
            free(fixed);
        }
    }
    return 0;
}
