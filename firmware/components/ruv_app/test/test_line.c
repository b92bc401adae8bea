/* test_line.c — the console line reader (ruv_line.h): the same lines come
 * out however the bytes are split across reads; CR dropped; the length
 * limit and the recovery after an over-long line. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ruv_line.h"

static int g_fail;
#define CHECK(c)                                                                 \
    do {                                                                         \
        if (!(c)) {                                                              \
            fprintf(stderr, "%s:%d: CHECK(%s) failed\n", __FILE__, __LINE__, #c); \
            ++g_fail;                                                            \
        }                                                                        \
    } while (0)

/* Collected lines: "<text>\n" each, "<TOO LONG>\n" for (NULL, 0). */
static char g_got[8 * RUV_PROTO_LINE_MAX];
static size_t g_got_len;
static size_t g_calls;

static void collect(void *user, const char *line, size_t len)
{
    (void)user;
    ++g_calls;
    const char *s = line != NULL ? line : "<TOO LONG>";
    size_t n = line != NULL ? len : strlen(s);
    if (line != NULL) {
        CHECK(line[len] == '\0'); /* NUL-terminated too */
        CHECK(memchr(line, '\r', len) == NULL && memchr(line, '\n', len) == NULL);
    }
    if (g_got_len + n + 1 < sizeof g_got) {
        memcpy(g_got + g_got_len, s, n);
        g_got_len += n;
        g_got[g_got_len++] = '\n';
        g_got[g_got_len] = '\0';
    }
}

static void reset_got(void)
{
    g_got_len = 0;
    g_got[0] = '\0';
    g_calls = 0;
}

/* Feeds `data` in pieces of the given sizes (cycled), returns the lines. */
static size_t feed_split(ruv_line_reader_t *lr, const char *data, size_t n, const size_t *sizes, size_t n_sizes)
{
    size_t lines = 0, at = 0, k = 0;
    while (at < n) {
        size_t piece = sizes[k++ % n_sizes];
        if (piece > n - at) {
            piece = n - at;
        }
        lines += ruv_line_reader_feed(lr, data + at, piece, collect, NULL);
        at += piece;
    }
    return lines;
}

int main(void)
{
    static ruv_line_reader_t lr;
    static char script[6 * RUV_PROTO_LINE_MAX + 256];
    static char want[sizeof script];

    /* basic lines, CRLF, empty line, a line without terminator stays pending */
    ruv_line_reader_reset(&lr);
    reset_got();
    const char *s1 = "ping\r\n#a1 info\n\nstats\rx\npartial";
    CHECK(ruv_line_reader_feed(&lr, s1, strlen(s1), collect, NULL) == 4);
    CHECK(strcmp(g_got, "ping\n#a1 info\n\nstatsx\n") == 0);
    CHECK(lr.len == 7);
    reset_got();
    CHECK(ruv_line_reader_feed(&lr, " line\n", 6, collect, NULL) == 1);
    CHECK(strcmp(g_got, "partial line\n") == 0);
    CHECK(ruv_line_reader_feed(&lr, "", 0, collect, NULL) == 0);

    /* a script with a line of exactly the limit, one over it, and a normal
     * line after: identical results for every split of the bytes */
    size_t n = 0;
    n += (size_t)sprintf(script + n, "#1 ping\r\n");
    memset(script + n, 'a', RUV_PROTO_LINE_MAX);
    n += RUV_PROTO_LINE_MAX;
    script[n++] = '\n';
    memset(script + n, 'b', RUV_PROTO_LINE_MAX + 1);
    n += RUV_PROTO_LINE_MAX + 1;
    script[n++] = '\r';
    script[n++] = '\n';
    memset(script + n, 'c', 2 * RUV_PROTO_LINE_MAX); /* far over, CRs inside */
    script[n + 100] = '\r';
    n += 2 * RUV_PROTO_LINE_MAX;
    script[n++] = '\n';
    n += (size_t)sprintf(script + n, "#2 stats\n");
    /* exactly the limit once CRs are dropped: accepted */
    memset(script + n, 'd', RUV_PROTO_LINE_MAX);
    script[n + 5] = '\r';
    n += RUV_PROTO_LINE_MAX;
    script[n++] = 'd';
    script[n++] = '\n';

    size_t w = 0;
    w += (size_t)sprintf(want + w, "#1 ping\n");
    memset(want + w, 'a', RUV_PROTO_LINE_MAX);
    w += RUV_PROTO_LINE_MAX;
    w += (size_t)sprintf(want + w, "\n<TOO LONG>\n<TOO LONG>\n#2 stats\n");
    memset(want + w, 'd', RUV_PROTO_LINE_MAX);
    w += RUV_PROTO_LINE_MAX;
    want[w++] = '\n';
    want[w] = '\0';

    const size_t splits[][4] = {{1, 1, 1, 1}, {2, 3, 5, 7}, {4096, 4096, 4096, 4096}, {4095, 1, 4097, 13},
                                {64, 64, 64, 64}, {100000, 1, 1, 1}};
    for (size_t k = 0; k < sizeof splits / sizeof splits[0]; ++k) {
        ruv_line_reader_reset(&lr);
        reset_got();
        CHECK(feed_split(&lr, script, n, splits[k], 4) == 6);
        CHECK(g_got_len == w && memcmp(g_got, want, w) == 0);
        CHECK(lr.len == 0 && !lr.overflow);
    }
    /* random splits */
    srand(7);
    for (int t = 0; t < 200; ++t) {
        size_t sz[4];
        for (int k = 0; k < 4; ++k) {
            sz[k] = 1u + (size_t)rand() % 700u;
        }
        ruv_line_reader_reset(&lr);
        reset_got();
        CHECK(feed_split(&lr, script, n, sz, 4) == 6);
        CHECK(g_got_len == w && memcmp(g_got, want, w) == 0);
    }
    if (g_fail) {
        fprintf(stderr, "test_line: %d failures\n", g_fail);
        return 1;
    }
    printf("test_line: ok\n");
    return 0;
}
