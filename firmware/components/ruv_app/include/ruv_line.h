/*
 * ruv_line.h — console line assembly (docs/protocol.md, "Framing"), the one
 * line reader of the board's console task and of the virtual device.
 *
 * Feed it whatever a read() returned — one byte or thousands, lines split
 * anywhere. Lines end in '\n'; '\r' is dropped wherever it appears (CRLF
 * terminals). A line longer than RUV_PROTO_LINE_MAX bytes is discarded up to
 * its '\n' and delivered as (NULL, 0), which ruv_app_handle_line answers
 * with "line too long"; the next line is read normally. Pure C99, no
 * allocation: the reader holds one line.
 */
#ifndef RUV_LINE_H
#define RUV_LINE_H

#include <stdbool.h>
#include <stddef.h>

#include "ruv_proto.h"

#ifdef __cplusplus
extern "C" {
#endif

/* Receives one complete line without its terminator (NUL-terminated too),
 * or (NULL, 0) for a line that was too long. */
typedef void (*ruv_line_fn)(void *user, const char *line, size_t len);

typedef struct {
    size_t len;    /* bytes of the current line so far */
    bool overflow; /* the current line passed RUV_PROTO_LINE_MAX */
    char buf[RUV_PROTO_LINE_MAX + 1];
} ruv_line_reader_t;

void ruv_line_reader_reset(ruv_line_reader_t *lr);

/* Consumes n bytes; calls fn for every line they complete. Returns the
 * number of lines delivered. */
size_t ruv_line_reader_feed(ruv_line_reader_t *lr, const char *data, size_t n, ruv_line_fn fn, void *user);

#ifdef __cplusplus
}
#endif
#endif /* RUV_LINE_H */
