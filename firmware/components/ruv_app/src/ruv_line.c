/*
 * ruv_line.c — console line assembly (ruv_line.h).
 */
#include "ruv_line.h"

#include <string.h>

void ruv_line_reader_reset(ruv_line_reader_t *lr)
{
    lr->len = 0;
    lr->overflow = false;
    lr->buf[0] = '\0';
}

size_t ruv_line_reader_feed(ruv_line_reader_t *lr, const char *data, size_t n, ruv_line_fn fn, void *user)
{
    size_t lines = 0;
    size_t i = 0;
    while (i < n) {
        /* Copy the run of bytes up to the next '\n' (or the end of data). */
        const char *nl = memchr(data + i, '\n', n - i);
        const size_t end = nl != NULL ? (size_t)(nl - data) : n;
        for (; i < end; ++i) {
            const char c = data[i];
            if (c == '\r') {
                continue;
            }
            /* len <= RUV_PROTO_LINE_MAX always: compare, never add. */
            if (lr->len < RUV_PROTO_LINE_MAX) {
                lr->buf[lr->len++] = c;
            } else {
                lr->overflow = true;
            }
        }
        if (nl == NULL) {
            break;
        }
        ++i; /* the '\n' */
        if (lr->overflow) {
            fn(user, NULL, 0);
        } else {
            lr->buf[lr->len] = '\0';
            fn(user, lr->buf, lr->len);
        }
        ++lines;
        lr->len = 0;
        lr->overflow = false;
    }
    return lines;
}
