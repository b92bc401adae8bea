/*
 * app_console.c — one console line in, one reply line out (docs/protocol.md):
 * tokenise, look the command up in app_commands[], format the reply.
 */
#include "app_console.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "app_state.h"

/* One reply line: the longest (info with labels, classify/layer hex) fits
 * in a request line plus room for the fields. */
static char s_out[RUV_PROTO_LINE_MAX + 512];
static const ruv_request_t *s_req; /* the request being answered (its id) */

static void console_handle_line(const char *line, size_t len);

char *console_buffer(size_t *cap)
{
    *cap = sizeof s_out;
    return s_out;
}

void console_emit(const char *text)
{
    g_app.p->console_write(g_app.p->user, text, strlen(text));
}

static int id_fmt(char *dst, size_t cap)
{
    if (s_req != NULL && s_req->id.len > 0) {
        return snprintf(dst, cap, "%.*s", (int)s_req->id.len, s_req->id.ptr);
    }
    return snprintf(dst, cap, "-");
}

ruv_status_t reply_err(ruv_status_t st, const char *msg)
{
    char id[RUV_PROTO_ID_MAX + 2];
    id_fmt(id, sizeof id);
    snprintf(s_out, sizeof s_out, RUV_PROTO_ERROR " %s 0x%03x %s %s\n", id, (unsigned)st, ruv_status_name(st),
             msg);
    console_emit(s_out);
    ++g_app.rejected;
    return st;
}

size_t reply_head(const char *cmd)
{
    char id[RUV_PROTO_ID_MAX + 2];
    id_fmt(id, sizeof id);
    int n = snprintf(s_out, sizeof s_out, RUV_PROTO_REPLY " %s %s", id, cmd);
    return n < 0 ? 0 : (size_t)n;
}

size_t reply_append(size_t at, const char *fmt, ...)
{
    if (at >= sizeof s_out - 1) {
        return sizeof s_out - 1;
    }
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(s_out + at, sizeof s_out - at, fmt, ap);
    va_end(ap);
    if (n < 0) {
        return at;
    }
    /* Compare with the room left: at + n could exceed the buffer. */
    return (size_t)n < sizeof s_out - at ? at + (size_t)n : sizeof s_out - 1;
}

size_t reply_append_f32_hex(size_t at, const float *v, size_t n)
{
    /* Room for the hex plus "\n\0" (reply_end). */
    if (at >= sizeof s_out - 2 || n > (sizeof s_out - 2 - at) / 8u) {
        return at;
    }
    ruv_f32_to_hex(v, n, s_out + at);
    return at + 8u * n;
}

size_t reply_append_char(size_t at, char c)
{
    if (at >= sizeof s_out - 2) {
        return at;
    }
    s_out[at++] = c;
    s_out[at] = '\0';
    return at;
}

void reply_end(size_t at)
{
    if (at > sizeof s_out - 2) {
        at = sizeof s_out - 2;
    }
    s_out[at++] = '\n';
    s_out[at] = '\0';
    console_emit(s_out);
}

void ruv_app_handle_line(const char *line, size_t len)
{
    if (g_app.p == NULL) {
        return;
    }
    app_lock();
    console_handle_line(line, len);
    app_unlock();
}

static void on_line(void *user, const char *line, size_t len)
{
    (void)user;
    ruv_app_handle_line(line, len); /* the lock is taken per line */
}

void ruv_app_console_input(const char *data, size_t n)
{
    if (g_app.p == NULL || data == NULL) {
        return;
    }
    (void)ruv_line_reader_feed(&g_app.reader, data, n, on_line, NULL);
}

static void console_handle_line(const char *line, size_t len)
{
    ruv_request_t req;
    const char *why = "";
    s_req = NULL;
    ++g_app.commands;
    ruv_status_t st = ruv_proto_tokenize(line, len, &req, &why);
    if (st != RUV_OK) {
        /* The id may have parsed before the error; echo it when it did. */
        s_req = req.id.len > 0 ? &req : NULL;
        (void)reply_err(st, why);
        s_req = NULL;
        return;
    }
    s_req = &req;
    const app_command_t *cmd = NULL;
    for (size_t i = 0; i < app_command_count; ++i) {
        if (ruv_tok_eq(req.tok[0], app_commands[i].name)) {
            cmd = &app_commands[i];
            break;
        }
    }
    if (cmd != NULL) {
        (void)cmd->run(&req);
    } else {
        (void)reply_err(RUV_ERR_NOT_SUPPORTED, "unknown command");
    }
    s_req = NULL;
}
