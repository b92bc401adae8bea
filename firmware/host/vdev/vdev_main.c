/*
 * vdev_main.c — the host-built "virtual device" (.build/host/ruv_vdev): the
 * portable ruv_app logic on a POSIX platform. Console on stdin/stdout or on a
 * pseudo-terminal (--pty), file-backed model slots (--slots DIR), UDP
 * telemetry to loopback (--udp), an emulated temporal task + 32-deep frame
 * queue (--consume-delay-us) and a drift-free classify timer (--period-ms).
 * See docs/protocol.md ("Virtual device").
 */
#define _DEFAULT_SOURCE 1
#define _XOPEN_SOURCE 700

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netdb.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <termios.h>
#include <time.h>
#include <unistd.h>

#if RUV_VDEV_MQTT
#include "ruv_app_fleet.h"
#include "vdev_mqtt.h"
#endif

#include "ruv_app.h"

#define VDEV_SLOTS 2
#define VDEV_ALIGN 4096u
#define QUEUE_DEPTH RUV_APP_QUEUE_DEPTH

typedef struct {
    uint8_t *map;
    size_t size;
} vslot_t;

static struct {
    vslot_t slot[VDEV_SLOTS];
    int out_fd;
    int udp_fd;
    struct sockaddr_in udp_to;
    bool udp_on;
    uint8_t node_id;
    uint64_t t0;
    pthread_mutex_t app_lock; /* serialises ruv_app_* (like the device's mutex) */
    pthread_mutex_t out_lock; /* keeps console lines whole */
    bool log_to_console;
    /* emulated queue + temporal task */
    uint32_t consume_delay_us;
    pthread_mutex_t q_lock;
    pthread_cond_t q_cond;
    float q[QUEUE_DEPTH][256];
    uint32_t q_head, q_count;
    uint32_t q_enqueued, q_dropped;
    uint64_t last_drop_log_us;
    size_t dim;
} V = {.out_fd = 1, .udp_fd = -1};

static uint64_t mono_us(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000u + (uint64_t)ts.tv_nsec / 1000u;
}

static void write_all(int fd, const char *p, size_t n)
{
    while (n > 0) {
        ssize_t w = write(fd, p, n);
        if (w < 0) {
            if (errno == EINTR) {
                continue;
            }
            return;
        }
        p += w;
        n -= (size_t)w;
    }
}

/* ---- platform callbacks ---------------------------------------------------- */

static uint64_t p_time(void *u)
{
    (void)u;
    return mono_us() - V.t0;
}

/* `bench` counter: CPU time of the calling (console) thread in ns, low 32
 * bits (the app takes differences modulo 2^32; one measured call is far
 * below 4.29 s). CPU time, not wall time: other processes on a busy host
 * do not inflate the figures (cache and frequency effects still do). */
static uint32_t p_cycles(void *u)
{
    (void)u;
    struct timespec ts;
    clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
    return (uint32_t)((uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec);
}

static int p_slot_count(void *u)
{
    (void)u;
    return VDEV_SLOTS;
}

static size_t p_slot_size(void *u, int i)
{
    (void)u;
    return (i >= 0 && i < VDEV_SLOTS) ? V.slot[i].size : 0;
}

static size_t p_align(void *u)
{
    (void)u;
    return VDEV_ALIGN;
}

static ruv_status_t p_map(void *u, int i, const uint8_t **d, size_t *n)
{
    (void)u;
    if (i < 0 || i >= VDEV_SLOTS || V.slot[i].map == NULL) {
        return RUV_ERR_NOT_FOUND;
    }
    *d = V.slot[i].map;
    *n = V.slot[i].size;
    return RUV_OK;
}

static ruv_status_t p_erase(void *u, int i, size_t off, size_t len)
{
    (void)u;
    if (i < 0 || i >= VDEV_SLOTS || V.slot[i].map == NULL) {
        return RUV_ERR_NOT_FOUND;
    }
    if (off % VDEV_ALIGN || len % VDEV_ALIGN || off > V.slot[i].size || len > V.slot[i].size - off) {
        return RUV_ERR_INVALID_ARG;
    }
    memset(V.slot[i].map + off, 0xFF, len);
    return RUV_OK;
}

static ruv_status_t p_write(void *u, int i, size_t off, const void *src, size_t len)
{
    (void)u;
    if (i < 0 || i >= VDEV_SLOTS || V.slot[i].map == NULL) {
        return RUV_ERR_NOT_FOUND;
    }
    if (off > V.slot[i].size || len > V.slot[i].size - off) {
        return RUV_ERR_INVALID_ARG;
    }
    /* NOR flash semantics: programming only clears bits. */
    const uint8_t *s = (const uint8_t *)src;
    for (size_t k = 0; k < len; ++k) {
        V.slot[i].map[off + k] &= s[k];
    }
    return RUV_OK;
}

static void p_console(void *u, const char *t, size_t n)
{
    (void)u;
    pthread_mutex_lock(&V.out_lock);
    write_all(V.out_fd, t, n);
    pthread_mutex_unlock(&V.out_lock);
}

static int p_telemetry(void *u, const uint8_t *pkt, size_t n)
{
    (void)u;
    if (!V.udp_on) {
        return -1;
    }
    ssize_t w = sendto(V.udp_fd, pkt, n, 0, (const struct sockaddr *)&V.udp_to, sizeof V.udp_to);
    return w == (ssize_t)n ? 0 : -1;
}

static void p_log(void *u, ruv_log_level_t lvl, const char *msg)
{
    (void)u;
    static const char tag[] = "?EWID";
    char line[320];
    int n = snprintf(line, sizeof line, "%c (%llu) ruv: %s\n", tag[((int)lvl >= 1 && (int)lvl <= 4) ? (int)lvl : 0],
                     (unsigned long long)(p_time(NULL) / 1000u), msg);
    if (n < 0) {
        return;
    }
    size_t len = (size_t)n < sizeof line ? (size_t)n : sizeof line - 1;
    if (V.log_to_console) {
        p_console(NULL, line, len);
    } else {
        write_all(2, line, len);
    }
}

static void p_mem(void *u, ruv_app_mem_t *m)
{
    (void)u;
    memset(m, 0, sizeof *m); /* not measured on the host */
}

static void p_queue(void *u, ruv_app_queue_t *q)
{
    (void)u;
    pthread_mutex_lock(&V.q_lock);
    q->enqueued = V.q_enqueued;
    q->dropped = V.q_dropped;
    q->waiting = V.q_count;
    q->depth = V.consume_delay_us > 0 ? QUEUE_DEPTH : 0;
    pthread_mutex_unlock(&V.q_lock);
}

static uint8_t p_node(void *u)
{
    (void)u;
    return V.node_id;
}

static const char *p_name(void *u)
{
    (void)u;
    return "vdev";
}

static void p_lock(void *u)
{
    (void)u;
    pthread_mutex_lock(&V.app_lock);
}

static void p_unlock(void *u)
{
    (void)u;
    pthread_mutex_unlock(&V.app_lock);
}

/* Called with the app lock held (from ruv_app_handle_line). */
static bool p_submit(void *u, const float *frame, size_t n)
{
    (void)u;
    if (n > 256) {
        return false;
    }
    pthread_mutex_lock(&V.q_lock);
    bool ok = V.q_count < QUEUE_DEPTH;
    if (ok) {
        uint32_t tail = (V.q_head + V.q_count) % QUEUE_DEPTH;
        memcpy(V.q[tail], frame, n * sizeof(float));
        ++V.q_count;
        ++V.q_enqueued;
        pthread_cond_signal(&V.q_cond);
    } else {
        ++V.q_dropped;
    }
    uint64_t now = p_time(NULL);
    bool log_drop = !ok && (V.last_drop_log_us == 0 || now - V.last_drop_log_us >= 1000000u);
    if (log_drop) {
        V.last_drop_log_us = now;
    }
    uint32_t dropped = V.q_dropped;
    pthread_mutex_unlock(&V.q_lock);
    if (log_drop) {
        char msg[96];
        snprintf(msg, sizeof msg, "frame queue full: %lu frames dropped so far", (unsigned long)dropped);
        p_log(NULL, RUV_LOG_WARN, msg);
    }
    return ok;
}

/* The emulated temporal task: the board's loop (firmware/main/
 * temporal_task.c) on a condition variable instead of a FreeRTOS queue —
 * wait for a frame at most until the next classify deadline, hand the frame
 * (or none) to ruv_app_temporal_turn, which pushes, classifies on schedule
 * and returns the next wait. */
static void *temporal_task(void *arg)
{
    (void)arg;
    static float frame[256];
    uint64_t wait = ruv_app_temporal_turn(NULL);
    for (;;) {
        pthread_mutex_lock(&V.q_lock);
        if (V.q_count == 0 && wait != RUV_APP_WAIT_FOREVER) {
            struct timespec until;
            clock_gettime(CLOCK_MONOTONIC, &until);
            uint64_t ns = (uint64_t)until.tv_nsec + (wait % 1000000u) * 1000u;
            until.tv_sec += (time_t)(wait / 1000000u + ns / 1000000000u);
            until.tv_nsec = (long)(ns % 1000000000u);
            while (V.q_count == 0) {
                if (pthread_cond_timedwait(&V.q_cond, &V.q_lock, &until) == ETIMEDOUT) {
                    break;
                }
            }
        } else {
            while (V.q_count == 0) {
                pthread_cond_wait(&V.q_cond, &V.q_lock);
            }
        }
        const bool got = V.q_count > 0;
        if (got) {
            memcpy(frame, V.q[V.q_head], V.dim * sizeof(float));
        }
        pthread_mutex_unlock(&V.q_lock);
        if (got && V.consume_delay_us > 0) {
            struct timespec d = {(time_t)(V.consume_delay_us / 1000000u),
                                 (long)(V.consume_delay_us % 1000000u) * 1000L};
            nanosleep(&d, NULL); /* the emulated per-frame cost */
        }
        wait = ruv_app_temporal_turn(got ? frame : NULL);
        if (got) {
            /* The frame leaves the queue only once pushed, so "pending == 0"
             * means every accepted frame is in the core. */
            pthread_mutex_lock(&V.q_lock);
            V.q_head = (V.q_head + 1u) % QUEUE_DEPTH;
            --V.q_count;
            pthread_mutex_unlock(&V.q_lock);
        }
    }
    return NULL;
}

static bool parse_u32(const char *s, uint32_t lo, uint32_t hi, uint32_t *out);

/* ---- setup ------------------------------------------------------------------- */

static int open_slot(const char *dir, int i, size_t size)
{
    if (dir == NULL) {
        V.slot[i].map = malloc(size);
        if (V.slot[i].map == NULL) {
            fprintf(stderr, "ruv_vdev: --slot-size %zu: out of memory\n", size);
            return -1;
        }
        memset(V.slot[i].map, 0xFF, size);
        V.slot[i].size = size;
        return 0;
    }
    char path[4096];
    snprintf(path, sizeof path, "%s/slot_%c.bin", dir, 'a' + i);
    int fd = open(path, O_RDWR | O_CREAT, 0644);
    if (fd < 0) {
        fprintf(stderr, "ruv_vdev: --slots %s: cannot open %s: %s\n", dir, path, strerror(errno));
        return -1;
    }
    struct stat st;
    if (fstat(fd, &st) != 0) {
        fprintf(stderr, "ruv_vdev: --slots %s: cannot stat %s: %s\n", dir, path, strerror(errno));
        close(fd);
        return -1;
    }
    if (st.st_size == 0) { /* new slot file: erased flash */
        uint8_t page[4096];
        memset(page, 0xFF, sizeof page);
        for (size_t off = 0; off < size; off += sizeof page) {
            if (write(fd, page, sizeof page) != (ssize_t)sizeof page) {
                fprintf(stderr, "ruv_vdev: --slots %s: cannot write %s\n", dir, path);
                close(fd);
                return -1;
            }
        }
    } else if ((size_t)st.st_size != size) {
        fprintf(stderr, "ruv_vdev: --slots %s: %s is %lld bytes, expected %zu (--slot-size)\n", dir, path,
                (long long)st.st_size, size);
        close(fd);
        return -1;
    }
    void *m = mmap(NULL, size, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
    close(fd);
    if (m == MAP_FAILED) {
        fprintf(stderr, "ruv_vdev: --slots %s: cannot map %s: %s\n", dir, path, strerror(errno));
        return -1;
    }
    V.slot[i].map = m;
    V.slot[i].size = size;
    return 0;
}

static bool any_slot_header(void)
{
    for (int i = 0; i < VDEV_SLOTS; ++i) {
        for (size_t k = 0; k < 32; ++k) {
            if (V.slot[i].map[k] != 0xFF) {
                return true;
            }
        }
    }
    return false;
}

static int seed_model(const char *path)
{
    FILE *f = fopen(path, "rb");
    if (f == NULL) {
        fprintf(stderr, "ruv_vdev: --model %s: %s\n", path, strerror(errno));
        return -1;
    }
    size_t cap = V.slot[0].size;
    uint8_t *img = malloc(cap);
    uint8_t *blob = malloc(cap);
    size_t n = img && blob ? fread(blob, 1, cap, f) : 0;
    int extra = fgetc(f);
    fclose(f);
    size_t len = (n > 0 && extra == EOF) ? ruv_app_slot_image(img, cap, blob, n, 1, VDEV_ALIGN) : 0;
    if (len == 0) {
        fprintf(stderr, "ruv_vdev: --model %s: empty or larger than a slot (--slot-size)\n", path);
        free(img);
        free(blob);
        return -1;
    }
    memcpy(V.slot[0].map, img, len);
    free(img);
    free(blob);
    return 0;
}

static int setup_udp(const char *spec)
{
    char host[256];
    const char *colon = strrchr(spec, ':');
    uint32_t port = 0;
    if (colon == NULL || (size_t)(colon - spec) >= sizeof host || !parse_u32(colon + 1, 1, 65535, &port)) {
        fprintf(stderr, "ruv_vdev: --udp %s: want HOST:PORT with a port in 1..65535\n", spec);
        return -1;
    }
    memcpy(host, spec, (size_t)(colon - spec));
    host[colon - spec] = '\0';
    struct addrinfo hints, *res = NULL;
    memset(&hints, 0, sizeof hints);
    hints.ai_family = AF_INET;
    hints.ai_socktype = SOCK_DGRAM;
    if (getaddrinfo(host, NULL, &hints, &res) != 0 || res == NULL) {
        fprintf(stderr, "ruv_vdev: --udp %s: unknown host\n", spec);
        return -1;
    }
    memcpy(&V.udp_to, res->ai_addr, sizeof V.udp_to);
    freeaddrinfo(res);
    if ((ntohl(V.udp_to.sin_addr.s_addr) >> 24) != 127u) {
        fprintf(stderr, "ruv_vdev: --udp %s: want a loopback address\n", spec);
        return -1;
    }
    V.udp_to.sin_port = htons((uint16_t)port);
    V.udp_fd = socket(AF_INET, SOCK_DGRAM, 0);
    if (V.udp_fd < 0) {
        fprintf(stderr, "ruv_vdev: --udp %s: socket: %s\n", spec, strerror(errno));
        return -1;
    }
    V.udp_on = true;
    return 0;
}

static int open_pty(int *keep_slave)
{
    int m = posix_openpt(O_RDWR | O_NOCTTY);
    if (m < 0 || grantpt(m) != 0 || unlockpt(m) != 0) {
        perror("ruv_vdev: posix_openpt");
        return -1;
    }
    const char *name = ptsname(m);
    if (name == NULL) {
        return -1;
    }
    /* Raw line discipline on the slave, and keep one slave fd open so the
     * master never sees EIO while a client reopens the port. */
    int s = open(name, O_RDWR | O_NOCTTY);
    if (s >= 0) {
        struct termios t;
        if (tcgetattr(s, &t) == 0) {
            cfmakeraw(&t);
            tcsetattr(s, TCSANOW, &t);
        }
    }
    *keep_slave = s;
    printf("PTY %s\n", name);
    fflush(stdout);
    return m;
}

static void usage(void)
{
    fprintf(stderr,
            "usage: ruv_vdev [--pty] [--slots DIR] [--slot-size BYTES] [--model FILE] [--udp HOST:PORT]\n"
            "                [--node-id 0..255] [--input-dim 1..256] [--window-len 32..1024]\n"
            "                [--n-classes 2..16] [--mode window|stream] [--fp16] [--period-ms 0|100..60000]\n"
            "                [--feature-set 0..65535] [--consume-delay-us 0..10000000]\n"
            "                [--read-size 1..4096] [--log-stderr]\n"
            "                [--mqtt mqtt[s]://[user[:pw]@]HOST[:PORT] [--mqtt-prefix P] [--mqtt-node N]\n"
            "                 [--mqtt-user U] [--mqtt-password PW] [--mqtt-ca CA.pem] [--mqtt-outbox N]]\n"
            "                [--pubkey KEY.pem] [--locked] [--host-clock]\n");
}

/* One error line naming the option, then exit status 2. */
static int bad_option(const char *name, const char *value, const char *want)
{
    fprintf(stderr, "ruv_vdev: %s %s: %s\n", name, value != NULL ? value : "(missing)", want);
    return 2;
}

/* Strict decimal: digits only (no sign, space or suffix), no overflow,
 * within [lo, hi]. */
static bool parse_u32(const char *s, uint32_t lo, uint32_t hi, uint32_t *out)
{
    if (s == NULL || *s < '0' || *s > '9') {
        return false;
    }
    uint64_t v = 0;
    for (const char *c = s; *c != '\0'; ++c) {
        if (*c < '0' || *c > '9') {
            return false;
        }
        v = v * 10u + (uint64_t)(*c - '0');
        if (v > hi) {
            return false;
        }
    }
    if (v < lo) {
        return false;
    }
    *out = (uint32_t)v;
    return true;
}

/* Numeric options: the limits of firmware/main/Kconfig.projbuild where the
 * board has the same setting. */
typedef struct {
    const char *name;
    uint32_t lo, hi;
    const char *want;
} num_opt_t;

static const num_opt_t NUM_OPTS[] = {
    {"--input-dim", 1, 256, "want an integer in 1..256 (TEMPORAL_INPUT_DIM)"},
    {"--window-len", 32, 1024, "want an integer in 32..1024 (TEMPORAL_WINDOW_LEN)"},
    {"--n-classes", 2, 16, "want an integer in 2..16 (TEMPORAL_N_CLASSES)"},
    {"--period-ms", 0, 60000, "want 0 (off) or an integer in 100..60000 (TEMPORAL_CLASSIFY_PERIOD_MS)"},
    {"--node-id", 0, 255, "want an integer in 0..255 (TEMPORAL_NODE_ID)"},
    {"--feature-set", 0, 65535, "want an integer in 0..65535 (0: any)"},
    {"--consume-delay-us", 0, 10000000, "want an integer in 0..10000000"},
    {"--slot-size", 2 * VDEV_ALIGN, 64u << 20, "want a multiple of 4096 in 8192..67108864"},
    {"--read-size", 1, 4096, "want an integer in 1..4096"},
};

int main(int argc, char **argv)
{
    const char *slots_dir = NULL, *model = NULL, *udp = NULL;
    bool use_pty = false;
    /* numeric options, in NUM_OPTS order, with their defaults */
    uint32_t num[sizeof NUM_OPTS / sizeof NUM_OPTS[0]] = {16, 256, 4, 0, 0, 0, 0, 1024u * 1024u, 4096};
    const char *raw[sizeof NUM_OPTS / sizeof NUM_OPTS[0]] = {NULL};
    enum { O_DIM, O_WIN, O_CLS, O_PERIOD, O_NODE, O_FS, O_DELAY, O_SLOT, O_READ };
    ruv_temporal_config_t cfg = {16, 256, 4, RUV_MODE_WINDOW, false};
    /* fleet (docs/fleet.md): MQTT client, model-signing key, locked console */
    const char *pubkey = NULL;
    bool locked = false, host_clock = false;
#if RUV_VDEV_MQTT
    vdev_mqtt_opts_t mq = {NULL, NULL, NULL, NULL, NULL, NULL, 16};
    const char **mq_str[] = {&mq.url, &mq.prefix, &mq.node, &mq.user, &mq.password, &mq.ca_file};
    static const char *const k_mq_opt[] = {"--mqtt", "--mqtt-prefix", "--mqtt-node", "--mqtt-user",
                                           "--mqtt-password", "--mqtt-ca"};
#endif
    V.log_to_console = true;
    for (int i = 1; i < argc; ++i) {
        const char *a = argv[i];
        const char *v = (i + 1 < argc) ? argv[i + 1] : NULL;
        bool numeric = false;
        for (size_t k = 0; k < sizeof NUM_OPTS / sizeof NUM_OPTS[0]; ++k) {
            if (strcmp(a, NUM_OPTS[k].name) == 0) {
                if (!parse_u32(v, NUM_OPTS[k].lo, NUM_OPTS[k].hi, &num[k])) {
                    return bad_option(a, v, NUM_OPTS[k].want);
                }
                raw[k] = v;
                ++i;
                numeric = true;
                break;
            }
        }
        if (numeric) {
            continue;
        }
        if (!strcmp(a, "--pty")) {
            use_pty = true;
        } else if (!strcmp(a, "--fp16")) {
            cfg.kv_fp16 = true;
        } else if (!strcmp(a, "--log-stderr")) {
            V.log_to_console = false;
        } else if (!strcmp(a, "--slots") || !strcmp(a, "--model") || !strcmp(a, "--udp")) {
            if (v == NULL || v[0] == '\0') {
                return bad_option(a, v, "want a value");
            }
            ++i;
            if (a[2] == 's') {
                slots_dir = v;
            } else if (a[2] == 'm') {
                model = v;
            } else {
                udp = v;
            }
        } else if (!strcmp(a, "--mode")) {
            if (v == NULL || (strcmp(v, "stream") != 0 && strcmp(v, "window") != 0)) {
                return bad_option(a, v, "want window or stream");
            }
            ++i;
            cfg.mode = !strcmp(v, "stream") ? RUV_MODE_STREAM : RUV_MODE_WINDOW;
        } else if (!strcmp(a, "--pubkey")) {
            if (v == NULL || v[0] == '\0') {
                return bad_option(a, v, "want a key file (PEM or DER)");
            }
            ++i;
            pubkey = v;
        } else if (!strcmp(a, "--locked")) {
            locked = true;
        } else if (!strcmp(a, "--host-clock")) {
            host_clock = true; /* time_us = CLOCK_MONOTONIC: latency benchmarks */
#if RUV_VDEV_MQTT
        } else if (!strcmp(a, "--mqtt-outbox")) {
            if (v == NULL || !parse_u32(v, 1, 100000, &mq.outbox)) {
                return bad_option(a, v, "want 1..100000");
            }
            ++i;
        } else if (!strncmp(a, "--mqtt", 6)) {
            size_t k = 0;
            while (k < sizeof k_mq_opt / sizeof k_mq_opt[0] && strcmp(a, k_mq_opt[k]) != 0) {
                ++k;
            }
            if (k == sizeof k_mq_opt / sizeof k_mq_opt[0]) {
                fprintf(stderr, "ruv_vdev: unknown option %s (ruv_vdev --help)\n", a);
                return 2;
            }
            if (v == NULL || v[0] == '\0') {
                return bad_option(a, v, "want a value");
            }
            ++i;
            *mq_str[k] = v;
#else
        } else if (!strncmp(a, "--mqtt", 6)) {
            fprintf(stderr, "ruv_vdev: built without MQTT (libmosquitto-dev / libmbedtls-dev missing)\n");
            return 2;
#endif
        } else if (!strcmp(a, "--help") || !strcmp(a, "-h")) {
            usage();
            return 0;
        } else {
            fprintf(stderr, "ruv_vdev: unknown option %s (ruv_vdev --help)\n", a);
            return 2;
        }
    }
    const uint32_t period_ms = num[O_PERIOD];
    if (period_ms != 0 && period_ms < 100) {
        return bad_option("--period-ms", raw[O_PERIOD], NUM_OPTS[O_PERIOD].want);
    }
    if (num[O_SLOT] % VDEV_ALIGN != 0) {
        return bad_option("--slot-size", raw[O_SLOT], NUM_OPTS[O_SLOT].want);
    }
    cfg.input_dim = (uint16_t)num[O_DIM];
    cfg.window_len = (uint16_t)num[O_WIN];
    cfg.n_classes = (uint16_t)num[O_CLS];
    V.node_id = (uint8_t)num[O_NODE];
    V.consume_delay_us = num[O_DELAY];
    const uint16_t feature_set = (uint16_t)num[O_FS];
    const size_t slot_size = num[O_SLOT];
    const size_t read_size = num[O_READ];

    V.dim = cfg.input_dim;
    V.t0 = host_clock ? 0 : mono_us();
    pthread_mutex_init(&V.app_lock, NULL);
    pthread_mutex_init(&V.out_lock, NULL);
    pthread_mutex_init(&V.q_lock, NULL);
    pthread_condattr_t ca;
    pthread_condattr_init(&ca);
    pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
    pthread_cond_init(&V.q_cond, &ca);
    if (slots_dir != NULL && mkdir(slots_dir, 0755) != 0 && errno != EEXIST) {
        fprintf(stderr, "ruv_vdev: --slots %s: %s\n", slots_dir, strerror(errno));
        return 1;
    }
    for (int i = 0; i < VDEV_SLOTS; ++i) {
        if (open_slot(slots_dir, i, slot_size) != 0) {
            return 1;
        }
    }
    if (model != NULL && !any_slot_header() && seed_model(model) != 0) {
        return 1;
    }
    if (udp != NULL && setup_udp(udp) != 0) {
        return 1;
    }
    static ruv_app_platform_t plat;
    plat.abi = RUV_APP_PLATFORM_ABI;
    plat.time_us = p_time;
    plat.slot_count = p_slot_count;
    plat.slot_size = p_slot_size;
    plat.erase_align = p_align;
    plat.slot_map = p_map;
    plat.slot_erase = p_erase;
    plat.slot_write = p_write;
    plat.console_write = p_console;
    plat.telemetry_send = p_telemetry;
    plat.log = p_log;
    plat.mem_stats = p_mem;
    plat.queue_stats = p_queue;
    plat.node_id = p_node;
    plat.platform_name = p_name;
    plat.submit_frame = V.consume_delay_us > 0 ? p_submit : NULL;
    plat.lock = p_lock;
    plat.unlock = p_unlock;
    plat.cycle_count = p_cycles;
    plat.cycle_unit = "cpu_ns";

    /* Everything that can fail on the options has been checked: only now
     * does the console (and its pty path) appear. */
    int in_fd = 0, keep_slave = -1;
    if (use_pty) {
        int m = open_pty(&keep_slave);
        if (m < 0) {
            return 1;
        }
        in_fd = m;
        V.out_fd = m;
    }

#if RUV_VDEV_MQTT
    if (pubkey != NULL && vdev_load_pubkey(pubkey) != 0) {
        return 2;
    }
    ruv_app_set_locked(locked);
#else
    if (pubkey != NULL || locked) {
        fprintf(stderr, "ruv_vdev: built without model signing (libmbedtls-dev missing)\n");
        return 2;
    }
#endif
    ruv_app_set_expected_feature_set(feature_set);
    ruv_app_set_classify_period_ms(period_ms); /* 0: no scheduled classification */
    if (ruv_app_init(&plat, &cfg) == RUV_ERR_INVALID_ARG) {
        fprintf(stderr, "ruv_vdev: the app refused the configuration\n");
        return 2;
    }
#if RUV_VDEV_MQTT
    if (mq.url != NULL && vdev_mqtt_start(&mq) != 0) {
        return 2;
    }
#endif
    /* The temporal task: drains the queue and/or runs the schedule. */
    if (V.consume_delay_us > 0 || period_ms > 0) {
        pthread_t th;
        if (pthread_create(&th, NULL, temporal_task, NULL) != 0) {
            fprintf(stderr, "ruv_vdev: cannot start the temporal task\n");
            return 1;
        }
        pthread_detach(th);
    }

    /* The console task: whatever read() returns goes to the app's line
     * reader (--read-size 1 emulates a reader taking one byte per call). */
    static char buf[4096];
    for (;;) {
        ssize_t n = read(in_fd, buf, read_size);
        if (n < 0 && (errno == EINTR || errno == EAGAIN || errno == EIO)) {
            if (errno != EINTR) {
                struct timespec d = {0, 10000000L};
                nanosleep(&d, NULL);
            }
            continue;
        }
        if (n <= 0) {
            break; /* end of input: the host closed the console */
        }
        ruv_app_console_input(buf, (size_t)n);
    }
    if (keep_slave >= 0) {
        close(keep_slave);
    }
#if RUV_VDEV_MQTT
    vdev_mqtt_stop();
#endif
    return 0;
}
