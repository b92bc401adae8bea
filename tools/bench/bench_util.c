/*
 * bench_util.c — see bench_util.h.
 */
#define _POSIX_C_SOURCE 199309L

#include "bench_util.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "ruv_blob.h"
#include "ruv_crc32.h"

ruv_attn_cfg_t bench_cfg_orig(void)
{
    ruv_attn_cfg_t c = ruv_attn_default();
    c.window = 16u;
    c.block_size = 32u;
    c.globals[0] = 0u;
    c.n_globals = 1u;
    c.causal = true;
    c.log_stride = true;
    c.landmarks = true;
    return c;
}

void bench_fill(float *x, size_t n, uint64_t *state, float scale)
{
    size_t i;
    for (i = 0u; i < n; i++) {
        x[i] = ruv_xorshift_weight(state) * scale;
    }
}

static void put32(uint8_t *b, uint32_t v)
{
    b[0] = (uint8_t)(v & 0xFFu);
    b[1] = (uint8_t)((v >> 8) & 0xFFu);
    b[2] = (uint8_t)((v >> 16) & 0xFFu);
    b[3] = (uint8_t)(v >> 24);
}

static uint32_t get32(const uint8_t *b)
{
    return (uint32_t)b[0] | ((uint32_t)b[1] << 8) | ((uint32_t)b[2] << 16) |
           ((uint32_t)b[3] << 24);
}

uint8_t *bench_blob(bool fp16_weights, size_t *len)
{
    size_t n32 = 0u, count, n16, i;
    uint8_t *b32, *b16;

    (void)ruv_temporal_init_random_blob(NULL, 0u, BENCH_D, BENCH_QH, BENCH_KVH, BENCH_HD,
                                        BENCH_L, BENCH_C, RUV_TEMPORAL_RANDOM_SEED, &n32);
    if (n32 == 0u) {
        return NULL;
    }
    b32 = (uint8_t *)malloc(n32);
    if (b32 == NULL || ruv_temporal_init_random_blob(b32, n32, BENCH_D, BENCH_QH, BENCH_KVH,
                                                     BENCH_HD, BENCH_L, BENCH_C,
                                                     RUV_TEMPORAL_RANDOM_SEED, &n32) != RUV_OK) {
        free(b32);
        return NULL;
    }
    if (!fp16_weights) {
        *len = n32;
        return b32;
    }
    /* FP16: same header with flags bit0, weights_len = 2 * count, each
     * weight rounded to binary16, CRC over the new bytes. */
    count = (n32 - RUV_BLOB_MIN_SIZE) / 4u;
    n16 = RUV_BLOB_MIN_SIZE + 2u * count;
    b16 = (uint8_t *)malloc(n16);
    if (b16 == NULL) {
        free(b32);
        return NULL;
    }
    memcpy(b16, b32, RUV_BLOB_HEADER_SIZE);
    b16[6] = (uint8_t)RUV_BLOB_FLAG_FP16;
    put32(b16 + 20, (uint32_t)(2u * count));
    for (i = 0u; i < count; i++) {
        uint32_t bits = get32(b32 + RUV_BLOB_HEADER_SIZE + 4u * i);
        float f;
        uint16_t h;
        memcpy(&f, &bits, sizeof f);
        h = ruv_f32_to_f16(f);
        b16[RUV_BLOB_HEADER_SIZE + 2u * i] = (uint8_t)(h & 0xFFu);
        b16[RUV_BLOB_HEADER_SIZE + 2u * i + 1u] = (uint8_t)(h >> 8);
    }
    put32(b16 + n16 - RUV_BLOB_CRC_SIZE, ruv_crc32(0u, b16, n16 - RUV_BLOB_CRC_SIZE));
    free(b32);
    *len = n16;
    return b16;
}

static float dot4(const float *a, const float *b, size_t dim)
{
    float s0 = 0.0f, s1 = 0.0f, s2 = 0.0f, s3 = 0.0f;
    size_t d = 0u;
    for (; d + 4u <= dim; d += 4u) {
        s0 += a[d] * b[d];
        s1 += a[d + 1u] * b[d + 1u];
        s2 += a[d + 2u] * b[d + 2u];
        s3 += a[d + 3u] * b[d + 3u];
    }
    for (; d < dim; d++) {
        s0 += a[d] * b[d];
    }
    return (s0 + s1) + (s2 + s3);
}

void bench_dense1(const float *q, const float *k, const float *v, size_t n, size_t q_heads,
                  size_t kv_heads, size_t dim, float *out, float *scores)
{
    const size_t qd = q_heads * dim, kvd = kv_heads * dim, group = q_heads / kv_heads;
    const float scale = 1.0f / sqrtf((float)dim);
    size_t i, h, j, d;
    for (i = 0u; i < n; i++) {
        for (h = 0u; h < q_heads; h++) {
            const float *qp = q + i * qd + h * dim;
            const float *kb = k + (h / group) * dim;
            const float *vb = v + (h / group) * dim;
            float *op = out + i * qd + h * dim;
            float m, den = 0.0f, inv;
            for (j = 0u; j <= i; j++) {
                scores[j] = dot4(qp, kb + j * kvd, dim) * scale;
            }
            m = scores[0];
            for (j = 1u; j <= i; j++) {
                if (scores[j] > m) {
                    m = scores[j];
                }
            }
            for (d = 0u; d < dim; d++) {
                op[d] = 0.0f;
            }
            for (j = 0u; j <= i; j++) {
                const float w = ruv_expf(scores[j] - m);
                const float *vr = vb + j * kvd;
                den += w;
                for (d = 0u; d < dim; d++) {
                    op[d] += w * vr[d];
                }
            }
            inv = 1.0f / den;
            for (d = 0u; d < dim; d++) {
                op[d] *= inv;
            }
        }
    }
}

double bench_now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

double bench_cpu(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

size_t bench_parse_list(const char *s, size_t *out, size_t cap)
{
    size_t count = 0u;
    while (*s != '\0') {
        char *end = NULL;
        unsigned long v = strtoul(s, &end, 10);
        if (end == s || count == cap || v == 0ul) {
            return 0u;
        }
        out[count++] = (size_t)v;
        s = end;
        if (*s == ',') {
            s++;
        } else if (*s != '\0') {
            return 0u;
        }
    }
    return count;
}

const char *bench_arg(int argc, char **argv, const char *name, const char *def)
{
    int i;
    for (i = 1; i + 1 < argc; i++) {
        if (strcmp(argv[i], name) == 0) {
            return argv[i + 1];
        }
    }
    return def;
}

size_t bench_arg_size(int argc, char **argv, const char *name, size_t def)
{
    const char *v = bench_arg(argc, argv, name, NULL);
    char *end = NULL;
    unsigned long x;
    if (v == NULL) {
        return def;
    }
    x = strtoul(v, &end, 10);
    if (end == v || *end != '\0') {
        fprintf(stderr, "bad value for %s: %s\n", name, v);
        exit(2);
    }
    return (size_t)x;
}

bool bench_flag(int argc, char **argv, const char *name)
{
    int i;
    for (i = 1; i < argc; i++) {
        if (strcmp(argv[i], name) == 0) {
            return true;
        }
    }
    return false;
}

void bench_check(ruv_status_t st, const char *what)
{
    if (st != RUV_OK) {
        fprintf(stderr, "%s failed: %s (0x%x)\n", what, ruv_status_name(st), (unsigned)st);
        exit(1);
    }
}

static int cmp_double(const void *a, const void *b)
{
    const double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : (x > y ? 1 : 0);
}

double bench_median(double *v, size_t n)
{
    if (n == 0u) {
        return 0.0;
    }
    qsort(v, n, sizeof *v, cmp_double);
    return n % 2u ? v[n / 2u] : 0.5 * (v[n / 2u - 1u] + v[n / 2u]);
}
