/*
 * vdev_main.c — the host-built "virtual device" (build/host/ruv_vdev): the
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
#include <poll.h>
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

static void *consumer(void *arg)
{
    (void)arg;
    float frame[256];
    for (;;) {
        pthread_mutex_lock(&V.q_lock);
        while (V.q_count == 0) {
            pthread_cond_wait(&V.q_cond, &V.q_lock);
        }
        memcpy(frame, V.q[V.q_head], V.dim * sizeof(float));
        pthread_mutex_unlock(&V.q_lock);
        struct timespec d = {(time_t)(V.consume_delay_us / 1000000u), (long)(V.consume_delay_us % 1000000u) * 1000L};
        nanosleep(&d, NULL); /* the emulated per-frame cost */
        pthread_mutex_lock(&V.app_lock);
        (void)ruv_app_push_frame(frame);
        pthread_mutex_unlock(&V.app_lock);
        /* The frame leaves the queue only once pushed, so "pending == 0"
         * means every accepted frame is in the core. */
        pthread_mutex_lock(&V.q_lock);
        V.q_head = (V.q_head + 1u) % QUEUE_DEPTH;
        --V.q_count;
        pthread_mutex_unlock(&V.q_lock);
    }
    return NULL;
}

/* ---- setup ------------------------------------------------------------------- */

static int open_slot(const char *dir, int i, size_t size)
{
    if (dir == NULL) {
        V.slot[i].map = malloc(size);
        if (V.slot[i].map == NULL) {
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
        fprintf(stderr, "ruv_vdev: cannot open %s: %s\n", path, strerror(errno));
        return -1;
    }
    struct stat st;
    if (fstat(fd, &st) != 0) {
        close(fd);
        return -1;
    }
    if (st.st_size == 0) { /* new slot file: erased flash */
        uint8_t page[4096];
        memset(page, 0xFF, sizeof page);
        for (size_t off = 0; off < size; off += sizeof page) {
            if (write(fd, page, sizeof page) != (ssize_t)sizeof page) {
                close(fd);
                return -1;
            }
        }
    } else if ((size_t)st.st_size != size) {
        fprintf(stderr, "ruv_vdev: %s is %lld bytes, expected %zu (--slot-size)\n", path, (long long)st.st_size,
                size);
        close(fd);
        return -1;
    }
    void *m = mmap(NULL, size, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
    close(fd);
    if (m == MAP_FAILED) {
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
        fprintf(stderr, "ruv_vdev: cannot open model %s: %s\n", path, strerror(errno));
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
        fprintf(stderr, "ruv_vdev: model %s is empty or larger than a slot\n", path);
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
    if (colon == NULL || (size_t)(colon - spec) >= sizeof host) {
        fprintf(stderr, "ruv_vdev: --udp wants HOST:PORT\n");
        return -1;
    }
    memcpy(host, spec, (size_t)(colon - spec));
    host[colon - spec] = '\0';
    long port = strtol(colon + 1, NULL, 10);
    struct addrinfo hints, *res = NULL;
    memset(&hints, 0, sizeof hints);
    hints.ai_family = AF_INET;
    hints.ai_socktype = SOCK_DGRAM;
    if (port <= 0 || port > 65535 || getaddrinfo(host, NULL, &hints, &res) != 0 || res == NULL) {
        fprintf(stderr, "ruv_vdev: bad --udp target %s\n", spec);
        return -1;
    }
    memcpy(&V.udp_to, res->ai_addr, sizeof V.udp_to);
    freeaddrinfo(res);
    if ((ntohl(V.udp_to.sin_addr.s_addr) >> 24) != 127u) {
        fprintf(stderr, "ruv_vdev: --udp target must be a loopback address\n");
        return -1;
    }
    V.udp_to.sin_port = htons((uint16_t)port);
    V.udp_fd = socket(AF_INET, SOCK_DGRAM, 0);
    if (V.udp_fd < 0) {
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
            "                [--node-id N] [--input-dim D] [--window-len N] [--n-classes C]\n"
            "                [--mode window|stream] [--fp16] [--period-ms MS] [--feature-set ID]\n"
            "                [--consume-delay-us US] [--log-stderr]\n");
}

int main(int argc, char **argv)
{
    const char *slots_dir = NULL, *model = NULL, *udp = NULL;
    bool use_pty = false;
    size_t slot_size = 1024u * 1024u;
    uint32_t period_ms = 0;
    uint16_t feature_set = 0;
    ruv_temporal_config_t cfg = {16, 256, 4, RUV_MODE_WINDOW, false};
    V.log_to_console = true;
    for (int i = 1; i < argc; ++i) {
        const char *a = argv[i];
        const char *v = (i + 1 < argc) ? argv[i + 1] : NULL;
#define TAKE() (v != NULL ? (++i, v) : (usage(), exit(2), ""))
        if (!strcmp(a, "--pty")) {
            use_pty = true;
        } else if (!strcmp(a, "--fp16")) {
            cfg.kv_fp16 = true;
        } else if (!strcmp(a, "--log-stderr")) {
            V.log_to_console = false;
        } else if (!strcmp(a, "--slots")) {
            slots_dir = TAKE();
        } else if (!strcmp(a, "--model")) {
            model = TAKE();
        } else if (!strcmp(a, "--udp")) {
            udp = TAKE();
        } else if (!strcmp(a, "--slot-size")) {
            slot_size = (size_t)strtoul(TAKE(), NULL, 10);
        } else if (!strcmp(a, "--node-id")) {
            V.node_id = (uint8_t)strtoul(TAKE(), NULL, 10);
        } else if (!strcmp(a, "--input-dim")) {
            cfg.input_dim = (uint16_t)strtoul(TAKE(), NULL, 10);
        } else if (!strcmp(a, "--window-len")) {
            cfg.window_len = (uint16_t)strtoul(TAKE(), NULL, 10);
        } else if (!strcmp(a, "--n-classes")) {
            cfg.n_classes = (uint16_t)strtoul(TAKE(), NULL, 10);
        } else if (!strcmp(a, "--period-ms")) {
            period_ms = (uint32_t)strtoul(TAKE(), NULL, 10);
        } else if (!strcmp(a, "--feature-set")) {
            feature_set = (uint16_t)strtoul(TAKE(), NULL, 10);
        } else if (!strcmp(a, "--consume-delay-us")) {
            V.consume_delay_us = (uint32_t)strtoul(TAKE(), NULL, 10);
        } else if (!strcmp(a, "--mode")) {
            const char *m = TAKE();
            if (!strcmp(m, "stream")) {
                cfg.mode = RUV_MODE_STREAM;
            } else if (!strcmp(m, "window")) {
                cfg.mode = RUV_MODE_WINDOW;
            } else {
                usage();
                return 2;
            }
        } else {
            usage();
            return 2;
        }
#undef TAKE
    }
    if (cfg.input_dim == 0 || cfg.input_dim > 256 || slot_size < 2 * VDEV_ALIGN || slot_size % VDEV_ALIGN) {
        fprintf(stderr, "ruv_vdev: input dim must be 1..256 and --slot-size a multiple of 4096 >= 8192\n");
        return 2;
    }
    V.dim = cfg.input_dim;
    V.t0 = mono_us();
    pthread_mutex_init(&V.app_lock, NULL);
    pthread_mutex_init(&V.out_lock, NULL);
    pthread_mutex_init(&V.q_lock, NULL);
    pthread_cond_init(&V.q_cond, NULL);
    if (slots_dir != NULL) {
        mkdir(slots_dir, 0755);
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
    int in_fd = 0, keep_slave = -1;
    if (use_pty) {
        int m = open_pty(&keep_slave);
        if (m < 0) {
            return 1;
        }
        in_fd = m;
        V.out_fd = m;
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

    pthread_mutex_lock(&V.app_lock);
    ruv_app_set_expected_feature_set(feature_set);
    if (period_ms > 0) {
        ruv_app_set_classify_period_ms(period_ms);
    }
    (void)ruv_app_init(&plat, &cfg);
    pthread_mutex_unlock(&V.app_lock);
    if (V.consume_delay_us > 0) {
        pthread_t th;
        pthread_create(&th, NULL, consumer, NULL);
        pthread_detach(th);
    }

    static char line[RUV_PROTO_LINE_MAX + 1];
    size_t len = 0;
    bool overflow = false;
    char buf[4096];
    if (period_ms > 0) {
        pthread_mutex_lock(&V.app_lock);
        (void)ruv_app_classify_due(p_time(NULL), NULL);
        pthread_mutex_unlock(&V.app_lock);
    }
    for (;;) {
        int timeout = -1;
        if (period_ms > 0) {
            uint64_t wait = 0;
            pthread_mutex_lock(&V.app_lock);
            if (ruv_app_classify_due(p_time(NULL), &wait)) {
                (void)ruv_app_classify_tick();
            }
            pthread_mutex_unlock(&V.app_lock);
            timeout = (int)((wait + 999u) / 1000u);
        }
        struct pollfd pfd = {in_fd, POLLIN, 0};
        int pr = poll(&pfd, 1, timeout);
        if (pr < 0 && errno != EINTR) {
            break;
        }
        if (pr <= 0) {
            continue;
        }
        ssize_t n = read(in_fd, buf, sizeof buf);
        if (n < 0 && (errno == EINTR || errno == EAGAIN || errno == EIO)) {
            if (errno == EIO) {
                struct timespec d = {0, 10000000L};
                nanosleep(&d, NULL);
            }
            continue;
        }
        if (n <= 0) {
            break; /* end of input: the host closed the console */
        }
        for (ssize_t k = 0; k < n; ++k) {
            char c = buf[k];
            if (c == '\r') {
                continue;
            }
            if (c != '\n') {
                if (len < RUV_PROTO_LINE_MAX) {
                    line[len++] = c;
                } else {
                    overflow = true;
                }
                continue;
            }
            pthread_mutex_lock(&V.app_lock);
            if (overflow) {
                ruv_app_handle_line(NULL, 0);
            } else {
                ruv_app_handle_line(line, len);
            }
            pthread_mutex_unlock(&V.app_lock);
            len = 0;
            overflow = false;
        }
    }
    if (keep_slave >= 0) {
        close(keep_slave);
    }
    return 0;
}
