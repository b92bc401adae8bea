/*
 * app_console.c — one console line in, one reply line out (docs/protocol.md):
 * tokenise, look the command up in app_commands[], format the reply. A line
 * with a link trailer (`*<seq>:<crc>`, ruv_link.h) is checked first: a bad
 * checksum or a sequence gap is refused without running anything, a resend
 * is answered from the reply cache, and the reply gets a `*<crc>` trailer.
 */
#include "app_console.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "app_state.h"
#include "ruv_link.h"

/* One reply line: the longest (info with labels, classify/layer hex) fits
 * in a request line plus room for the fields; then room for the link
 * trailer and the terminator. */
#define OUT_CAP (RUV_PROTO_LINE_MAX + 512)
static char s_out[OUT_CAP + RUV_LINK_REPLY_TRAILER + 1];
static const ruv_request_t *s_req; /* the request being answered (its id) */

/* The link session and its reply cache (ruv_link.h): zero-initialised
 * (.bss, no flash image), RUV_LINK_CACHE_ENTRIES x 16 + RUV_LINK_CACHE_BYTES
 * bytes. */
static ruv_link_t s_link;

/* The link frame of the request being answered. */
static struct {
    bool framed;    /* the request had a trailer: the reply gets one */
    bool executing; /* its reply goes into the cache (once) */
    uint32_t seq;
    uint32_t crc;
} s_frame;

static void console_handle_line(const char *line, size_t len);

char *console_buffer(size_t *cap)
{
    *cap = OUT_CAP;
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

/* Ends the reply in s_out[0..len) (no terminator yet): the link trailer
 * or a bare '\n', out to the console, into the reply cache when the request
 * was a framed one being executed. */
static void reply_emit(size_t len)
{
    if (len > OUT_CAP - 1) {
        len = OUT_CAP - 1;
    }
    if (s_frame.framed) {
        len = ruv_link_seal(s_out, len);
    } else {
        s_out[len++] = '\n';
        s_out[len] = '\0';
    }
    g_app.p->console_write(g_app.p->user, s_out, len);
    if (s_frame.executing) {
        ruv_link_store(&s_link, s_frame.seq, s_frame.crc, s_out, len);
        s_frame.executing = false;
    }
}

ruv_status_t reply_err(ruv_status_t st, const char *msg)
{
    char id[RUV_PROTO_ID_MAX + 2];
    id_fmt(id, sizeof id);
    int n = snprintf(s_out, OUT_CAP, RUV_PROTO_ERROR " %s 0x%03x %s %s", id, (unsigned)st, ruv_status_name(st),
                     msg);
    reply_emit(n < 0 ? 0 : (size_t)n);
    ++g_app.rejected;
    return st;
}

size_t reply_head(const char *cmd)
{
    char id[RUV_PROTO_ID_MAX + 2];
    id_fmt(id, sizeof id);
    int n = snprintf(s_out, OUT_CAP, RUV_PROTO_REPLY " %s %s", id, cmd);
    return n < 0 ? 0 : (size_t)n;
}

size_t reply_append(size_t at, const char *fmt, ...)
{
    if (at >= OUT_CAP - 1) {
        return OUT_CAP - 1;
    }
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(s_out + at, OUT_CAP - at, fmt, ap);
    va_end(ap);
    if (n < 0) {
        return at;
    }
    /* Compare with the room left: at + n could exceed the buffer. */
    return (size_t)n < OUT_CAP - at ? at + (size_t)n : OUT_CAP - 1;
}

size_t reply_append_f32_hex(size_t at, const float *v, size_t n)
{
    /* Room for the hex plus "\n\0" (reply_end). */
    if (at >= OUT_CAP - 2 || n > (OUT_CAP - 2 - at) / 8u) {
        return at;
    }
    ruv_f32_to_hex(v, n, s_out + at);
    return at + 8u * n;
}

size_t reply_append_char(size_t at, char c)
{
    if (at >= OUT_CAP - 2) {
        return at;
    }
    s_out[at++] = c;
    s_out[at] = '\0';
    return at;
}

void reply_end(size_t at)
{
    reply_emit(at);
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

/* The link layer's part of a framed request (ruv_link.h): true when the
 * request is to run (s_frame.executing set), false when it was answered
 * here (refusal or a cached reply). */
static bool link_admit(ruv_link_frame_t fr, uint32_t seq, uint32_t crc)
{
    s_frame.framed = true;
    if (fr != RUV_LINK_OK) {
        ++g_app.link_refused;
        (void)reply_err(RUV_ERR_INVALID_CRC, fr == RUV_LINK_BAD_CRC ? "link: line checksum" : "link: bad trailer");
        return false;
    }
    const char *cached = NULL;
    size_t cached_len = 0;
    char why[64];
    switch (ruv_link_check(&s_link, seq, crc, &cached, &cached_len)) {
    case RUV_LINK_EXECUTE:
        s_frame.executing = true;
        s_frame.seq = seq;
        s_frame.crc = crc;
        return true;
    case RUV_LINK_REPLAY:
        ++g_app.link_replayed;
        g_app.p->console_write(g_app.p->user, cached, cached_len);
        return false;
    case RUV_LINK_GAP:
        snprintf(why, sizeof why, "link: out of sequence, expected %lu", (unsigned long)s_link.expect);
        break;
    case RUV_LINK_TOO_OLD:
        snprintf(why, sizeof why, "link: reply no longer cached");
        break;
    case RUV_LINK_NO_SESSION:
    default:
        snprintf(why, sizeof why, "link: no session");
        break;
    }
    ++g_app.link_refused;
    (void)reply_err(RUV_ERR_INVALID_STATE, why);
    return false;
}

void console_link_reset(void)
{
    ruv_link_reset(&s_link);
}

ruv_status_t console_cmd_link(const ruv_request_t *r)
{
    uint32_t first = 0;
    if (s_frame.framed) {
        return reply_err(RUV_ERR_INVALID_ARG, "link: send link without a trailer");
    }
    if (r->n_tok != 2 || !ruv_tok_u32(r->tok[1], &first) || first == 0) {
        return reply_err(RUV_ERR_INVALID_ARG, "usage: link <first seq 1..4294967295>");
    }
    ruv_link_start(&s_link, first);
    size_t at = reply_head("link");
    at = reply_append(at, " next=%lu cache=%u cache_bytes=%u", (unsigned long)first, (unsigned)RUV_LINK_CACHE_ENTRIES,
                      (unsigned)RUV_LINK_CACHE_BYTES);
    reply_end(at);
    return RUV_OK;
}

static void console_handle_line(const char *line, size_t len)
{
    ruv_request_t req;
    const char *why = "";
    s_req = NULL;
    memset(&s_frame, 0, sizeof s_frame);
    ++g_app.commands;
    size_t body = len;
    uint32_t seq = 0;
    uint32_t crc = 0;
    const ruv_link_frame_t fr = ruv_link_parse(line, len, &body, &seq, &crc);
    ruv_status_t st = ruv_proto_tokenize(line, body, &req, &why);
    if (fr != RUV_LINK_NONE) {
        /* Refusals echo the id when it parsed (it may be corrupted too). */
        s_req = req.id.len > 0 ? &req : NULL;
        if (!link_admit(fr, seq, crc)) {
            s_req = NULL;
            return;
        }
    }
    if (st != RUV_OK) {
        /* The id may have parsed before the error; echo it when it did. */
        s_req = req.id.len > 0 ? &req : NULL;
        (void)reply_err(st, why);
    } else {
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
    }
    if (s_frame.executing) {
        /* A command that did not answer still used its sequence number. */
        ruv_link_store(&s_link, seq, crc, NULL, 0);
    }
    s_req = NULL;
    memset(&s_frame, 0, sizeof s_frame);
}
