/*
 * fuzz_console.c — libFuzzer target of the console protocol: the bytes of
 * one input are a console session, fed to the app's own line reader
 * (ruv_app_console_input -> ruv_app_handle_line), on an in-memory platform
 * with two 16 KB model slots (uploads included: load begin/chunk/commit
 * write the inactive slot exactly as on flash, NOR semantics).
 *
 *   cmake -S firmware/host -B .build/fuzz -G Ninja -DCMAKE_C_COMPILER=clang -DRUV_FUZZ=ON
 *   cmake --build .build/fuzz --target fuzz_console
 *   ./.build/fuzz/fuzz_console -max_total_time=45 tests/fuzz/corpus/console
 *
 * Each input starts from the same boot: slot A holds model M0 (the docs/spec.md §5
 * random blob, D=4 q=2 kv=1 d=4 L=1 C=2, generation 1), slot B is erased,
 * window mode, N=32. Asserted (abort -> libFuzzer reports a crash):
 *   1. exactly one reply line per input line: the console receives as many
 *      lines as the input completes (a trailing partial line is completed
 *      with '\n' at the end), and every one is an `@R` or `@E` reply;
 *   2. the active model's logits are unchanged by anything but a committed
 *      upload: after the session, `mode window fp16=0`, `reset`, a fixed
 *      set of 12 frames and `classify` must give bit for bit the logits the
 *      core itself computes for M0 — or, when the session had a successful
 *      `load commit`, for the blob that commit activated (read back from
 *      its slot, CRC = the commit reply's model id).
 * Sanitizers (ASan, UBSan) catch memory errors on the way.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ruv_app.h"
#include "ruv_crc32.h"
#include "ruv_proto.h"
#include "ruv_temporal.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

enum { D = 4, Q = 2, KV = 1, HD = 4, L = 1, C = 2, N = 32, FRAMES = 12 };
#define SLOT_SIZE (16u * 1024u)
#define ALIGN 4096u
#define M0_SEED UINT64_C(0xC5110007DEADBEEF)

static uint8_t g_slot[2][SLOT_SIZE];
static uint8_t g_boot_slot[2][SLOT_SIZE];
static char g_out[1 << 20]; /* replies of one input */
static size_t g_out_len;
static int g_out_lost;
static uint64_t g_now;
static float g_frames[FRAMES * D];
static float g_m0_logits[C];
static const ruv_temporal_config_t g_cfg = {D, N, C, RUV_MODE_WINDOW, false};

#define FUZZ_ASSERT(cond, ...)                                      \
    do {                                                            \
        if (!(cond)) {                                              \
            fprintf(stderr, "fuzz_console: assertion failed: ");    \
            fprintf(stderr, __VA_ARGS__);                           \
            fprintf(stderr, "\n");                                  \
            abort();                                                \
        }                                                           \
    } while (0)

/* ---- in-memory platform -------------------------------------------------- */

static uint64_t p_time(void *u)
{
    (void)u;
    return g_now += 1000u; /* 1 ms per call: the schedule is off anyway */
}
static int p_count(void *u)
{
    (void)u;
    return 2;
}
static size_t p_size(void *u, int i)
{
    (void)u;
    return i >= 0 && i < 2 ? SLOT_SIZE : 0u;
}
static size_t p_align(void *u)
{
    (void)u;
    return ALIGN;
}
static ruv_status_t p_map(void *u, int i, const uint8_t **d, size_t *n)
{
    (void)u;
    if (i < 0 || i >= 2) {
        return RUV_ERR_NOT_FOUND;
    }
    *d = g_slot[i];
    *n = SLOT_SIZE;
    return RUV_OK;
}
static ruv_status_t p_erase(void *u, int i, size_t off, size_t len)
{
    (void)u;
    FUZZ_ASSERT(i >= 0 && i < 2 && off % ALIGN == 0 && len % ALIGN == 0 && off <= SLOT_SIZE &&
                    len <= SLOT_SIZE - off,
                "slot_erase(%d, %zu, %zu) out of range", i, off, len);
    memset(g_slot[i] + off, 0xFF, len);
    return RUV_OK;
}
static ruv_status_t p_write(void *u, int i, size_t off, const void *src, size_t len)
{
    (void)u;
    FUZZ_ASSERT(i >= 0 && i < 2 && off <= SLOT_SIZE && len <= SLOT_SIZE - off,
                "slot_write(%d, %zu, %zu) out of range", i, off, len);
    const uint8_t *s = (const uint8_t *)src;
    for (size_t k = 0; k < len; ++k) {
        g_slot[i][off + k] &= s[k]; /* NOR flash: writes only clear bits */
    }
    return RUV_OK;
}
static void p_console(void *u, const char *t, size_t n)
{
    (void)u;
    if (g_out_len + n < sizeof g_out) {
        memcpy(g_out + g_out_len, t, n);
        g_out_len += n;
        g_out[g_out_len] = '\0';
    } else {
        g_out_lost = 1;
    }
}
static void p_log(void *u, ruv_log_level_t l, const char *m)
{
    (void)u;
    (void)l;
    FUZZ_ASSERT(m != NULL && m[0] != '@', "log line starts with '@'");
}
static int p_send(void *u, const uint8_t *pkt, size_t n)
{
    (void)u;
    (void)pkt;
    FUZZ_ASSERT(n == RUV_APP_TELEMETRY_LEN, "telemetry packet of %zu bytes", n);
    return 0;
}

static const ruv_app_platform_t k_plat = {
    .abi = RUV_APP_PLATFORM_ABI,
    .time_us = p_time,
    .slot_count = p_count,
    .slot_size = p_size,
    .erase_align = p_align,
    .slot_map = p_map,
    .slot_erase = p_erase,
    .slot_write = p_write,
    .console_write = p_console,
    .telemetry_send = p_send,
    .log = p_log,
};

/* ---- reference logits from the core itself --------------------------------- */

static int core_logits(const uint8_t *blob, size_t len, float *logits)
{
    ruv_temporal_ctx_t *ctx = NULL;
    if (ruv_temporal_init_ex(blob, len, &g_cfg, &ctx) != RUV_OK) {
        return -1;
    }
    for (int f = 0; f < FRAMES; ++f) {
        FUZZ_ASSERT(ruv_temporal_push(ctx, g_frames + f * D) == RUV_OK, "core push");
    }
    FUZZ_ASSERT(ruv_temporal_classify(ctx, logits, C) == RUV_OK, "core classify");
    ruv_temporal_destroy(ctx);
    return 0;
}

static void setup_once(void)
{
    static int done;
    if (done) {
        return;
    }
    done = 1;
    uint8_t blob[2048];
    size_t len = 0;
    FUZZ_ASSERT(ruv_temporal_init_random_blob(blob, sizeof blob, D, Q, KV, HD, L, C, M0_SEED, &len) ==
                    RUV_OK,
                "M0");
    memset(g_boot_slot, 0xFF, sizeof g_boot_slot);
    FUZZ_ASSERT(ruv_app_slot_image(g_boot_slot[0], SLOT_SIZE, blob, len, 1u, ALIGN) > 0, "slot image");
    uint64_t s = UINT64_C(0x1234567);
    for (int i = 0; i < FRAMES * D; ++i) {
        g_frames[i] = ruv_xorshift_weight(&s) * 20.0f;
    }
    FUZZ_ASSERT(core_logits(blob, len, g_m0_logits) == 0, "M0 logits");
}

/* ---- the session --------------------------------------------------------------- */

static size_t count_lines(const char *p, size_t n)
{
    size_t c = 0;
    for (size_t i = 0; i < n; ++i) {
        c += p[i] == '\n';
    }
    return c;
}

/* Replies since `from`: every line is "@R " or "@E "; returns the count. */
static size_t check_replies(size_t from)
{
    size_t lines = 0;
    const char *p = g_out + from, *end = g_out + g_out_len;
    while (p < end) {
        const char *nl = memchr(p, '\n', (size_t)(end - p));
        FUZZ_ASSERT(nl != NULL, "console output ends without a newline");
        FUZZ_ASSERT(nl - p >= 3 && p[0] == '@' && (p[1] == 'R' || p[1] == 'E') && p[2] == ' ',
                    "not a reply line: %.60s", p);
        ++lines;
        p = nl + 1;
    }
    return lines;
}

/* One command of the verification epilogue; returns its reply line. */
static const char *command(const char *cmd)
{
    size_t from = g_out_len;
    ruv_app_console_input(cmd, strlen(cmd));
    FUZZ_ASSERT(check_replies(from) == 1, "one reply to '%.40s'", cmd);
    return g_out + from;
}

/* Model id of the last successful `load commit` in the session, or -1. */
static long last_commit(void)
{
    long crc = -1;
    const char *p = g_out;
    while ((p = strstr(p, " load commit model=")) != NULL) {
        p += strlen(" load commit model=");
        crc = strtol(p, NULL, 16);
    }
    return crc;
}

/* `selftest` runs the core's self-test (a D=16 model, window and stream):
 * ~0.7 s under the sanitizers and no input to parse. Sessions holding it
 * are rejected (return -1: not added to the corpus) to keep the exec rate. */
static int has_selftest(const uint8_t *data, size_t size)
{
    static const char k[] = "selftest";
    for (size_t i = 0; i + sizeof k - 1 <= size; ++i) {
        if (memcmp(data + i, k, sizeof k - 1) == 0) {
            return 1;
        }
    }
    return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (has_selftest(data, size)) {
        return -1;
    }
    setup_once();
    memcpy(g_slot, g_boot_slot, sizeof g_slot);
    g_out_len = 0;
    g_out[0] = '\0';
    g_out_lost = 0;
    ruv_app_deinit();
    ruv_app_set_telemetry(true);
    ruv_app_set_classify_period_ms(0);
    FUZZ_ASSERT(ruv_app_init(&k_plat, &g_cfg) == RUV_OK, "boot with M0");
    g_out_len = 0; /* the boot banner (`@B`) is not a reply */
    g_out[0] = '\0';

    /* 1. the session, through the app's line reader, in two reads split at
     * a data-dependent point (lines may straddle reads) */
    const char *in = (const char *)data;
    size_t cut = size > 0 ? data[0] % (size + 1u) : 0u;
    ruv_app_console_input(in, cut);
    ruv_app_console_input(in + cut, size - cut);
    size_t want = count_lines(in, size);
    if (size > 0 && data[size - 1] != '\n') {
        ruv_app_console_input("\n", 1); /* complete the trailing partial line */
        ++want;
    }
    if (g_out_lost) {
        return 0; /* more than 1 MB of replies: too long to check, not an error */
    }
    size_t got = check_replies(0);
    FUZZ_ASSERT(got == want, "%zu reply lines for %zu input lines", got, want);

    /* 2. the active model's logits */
    float want_logits[C];
    long crc = last_commit();
    if (crc < 0) {
        memcpy(want_logits, g_m0_logits, sizeof want_logits);
    } else {
        const char *info = command("info\n");
        const char *ps = strstr(info, " slot=");
        const char *pl = strstr(info, " blob_len=");
        FUZZ_ASSERT(ps != NULL && pl != NULL, "info after commit: %.80s", info);
        int slot = atoi(ps + 6);
        size_t len = (size_t)strtoul(pl + 10, NULL, 10);
        FUZZ_ASSERT(slot >= 0 && slot < 2 && len >= 28 && len <= SLOT_SIZE - ALIGN, "slot %d len %zu",
                    slot, len);
        const uint8_t *blob = g_slot[slot] + ALIGN;
        /* the model id is the blob's own CRC (over every byte before it) */
        FUZZ_ASSERT((long)ruv_crc32(0, blob, len - 4u) == crc, "committed blob CRC");
        static uint8_t copy[SLOT_SIZE];
        memcpy(copy, blob, len);
        FUZZ_ASSERT(core_logits(copy, len, want_logits) == 0, "committed model runs in the core");
    }
    FUZZ_ASSERT(strncmp(command("mode window fp16=0\n"), "@R ", 3) == 0, "mode window");
    FUZZ_ASSERT(strncmp(command("reset\n"), "@R ", 3) == 0, "reset");
    {
        static char line[64 + FRAMES * D * 8];
        int n = snprintf(line, sizeof line, "push %d ", FRAMES);
        ruv_f32_to_hex(g_frames, FRAMES * D, line + n);
        memcpy(line + n + FRAMES * D * 8, "\n", 2);
        FUZZ_ASSERT(strncmp(command(line), "@R ", 3) == 0, "push");
    }
    const char *r = command("classify\n");
    const char *hex = strstr(r, " logits=");
    FUZZ_ASSERT(strncmp(r, "@R ", 3) == 0 && hex != NULL, "classify: %.80s", r);
    float got_logits[C];
    FUZZ_ASSERT(ruv_hex_to_f32(hex + 8, 8u * C, got_logits, C) == RUV_OK, "logits hex");
    for (int c = 0; c < C; ++c) {
        FUZZ_ASSERT(ruv_f32_bits(got_logits[c]) == ruv_f32_bits(want_logits[c]),
                    "logit %d changed: %08x, want %08x (%s)", c, (unsigned)ruv_f32_bits(got_logits[c]),
                    (unsigned)ruv_f32_bits(want_logits[c]),
                    crc < 0 ? "no committed upload" : "committed model");
    }
    return 0;
}
