/*
 * app_console.h — console replies and the command table (internal to
 * ruv_app; docs/protocol.md).
 *
 * A command is one function and one row of app_commands[] (app_commands.c).
 * The function receives the tokenised request (tok[0] is the command) and
 * answers exactly once: reply_err(), or reply_head() + reply_append() +
 * reply_end(). The request id is echoed by the reply helpers.
 */
#ifndef RUV_APP_CONSOLE_H
#define RUV_APP_CONSOLE_H

#include <stddef.h>

#include "ruv_app.h"

typedef struct {
    const char *name;
    ruv_status_t (*run)(const ruv_request_t *req);
} app_command_t;

extern const app_command_t app_commands[];
extern const size_t app_command_count;

/* "@E <id> 0x<status> <NAME> <msg>"; counts the rejection; returns st. */
ruv_status_t reply_err(ruv_status_t st, const char *msg);
/* Starts "@R <id> <cmd>" in the reply buffer; returns the length so far. */
size_t reply_head(const char *cmd);
/* printf-style append at `at`; returns the new length (clamped). */
size_t reply_append(size_t at, const char *fmt, ...)
#if defined(__GNUC__)
    __attribute__((format(printf, 2, 3)))
#endif
    ;
/* Appends n float32 bit patterns as hex (8 digits each); clamped. */
size_t reply_append_f32_hex(size_t at, const float *v, size_t n);
/* Appends raw characters (already protocol-safe); clamped. */
size_t reply_append_char(size_t at, char c);
/* Terminates the line and writes it to the console. */
void reply_end(size_t at);
/* `link <first seq>`: starts a link session (ruv_link.h); a plain line only. */
ruv_status_t console_cmd_link(const ruv_request_t *req);
/* Ends the link session and empties the reply cache (boot). */
void console_link_reset(void);
/* A whole preformatted line (the boot banner). */
void console_emit(const char *text);
char *console_buffer(size_t *cap);

#endif /* RUV_APP_CONSOLE_H */
