/*
 * ruv_link.c — the console's link layer: trailer parsing and the reply
 * cache (ruv_link.h, docs/protocol.md "Link layer").
 */
#include "ruv_link.h"

#include <stdio.h>
#include <string.h>

#include "ruv_crc32.h"
#include "ruv_proto.h"

/* `<seq>:<8 hex>` with seq decimal 1..4294967295: the protocol's own field
 * parsers (ruv_proto.h). */
static bool parse_trailer(const char *t, size_t n, uint32_t *seq, uint32_t *crc)
{
    const char *colon = memchr(t, ':', n);
    if (colon == NULL) {
        return false;
    }
    const size_t i = (size_t)(colon - t);
    const ruv_tok_t s_tok = { t, i };
    const ruv_tok_t c_tok = { colon + 1, n - i - 1 };
    uint32_t s = 0;
    if (!ruv_tok_u32(s_tok, &s) || s == 0 || !ruv_tok_hex32(c_tok, crc)) {
        return false;
    }
    *seq = s;
    return true;
}

ruv_link_frame_t ruv_link_parse(const char *line, size_t len, size_t *body_len, uint32_t *seq, uint32_t *crc)
{
    *body_len = len;
    *seq = 0;
    *crc = 0;
    if (line == NULL) {
        return RUV_LINK_NONE;
    }
    size_t end = len;
    while (end > 0 && (line[end - 1] == ' ' || line[end - 1] == '\t')) {
        --end;
    }
    size_t start = end;
    while (start > 0 && line[start - 1] != ' ' && line[start - 1] != '\t') {
        --start;
    }
    /* The trailer is never the only token: a command precedes it. */
    if (start == end || line[start] != '*' || start == 0) {
        return RUV_LINK_NONE;
    }
    *body_len = start - 1;
    if (!parse_trailer(line + start + 1, end - start - 1, seq, crc)) {
        return RUV_LINK_BAD_TRAILER;
    }
    /* The CRC covers the line up to the ':' — the sequence number too, so a
     * corrupted number is a bad line, never another request's number. */
    const size_t covered = end - 9;
    return ruv_crc32(0, line, covered) == *crc ? RUV_LINK_OK : RUV_LINK_BAD_CRC;
}

void ruv_link_reset(ruv_link_t *lk)
{
    memset(lk->ent, 0, sizeof lk->ent);
    lk->slot = 0;
    lk->head = 0;
    lk->expect = 0;
    lk->active = false;
}

void ruv_link_start(ruv_link_t *lk, uint32_t first_seq)
{
    ruv_link_reset(lk);
    lk->expect = first_seq;
    lk->active = first_seq != 0;
}

ruv_link_verdict_t ruv_link_check(const ruv_link_t *lk, uint32_t seq, uint32_t crc, const char **reply,
                                  size_t *reply_len)
{
    *reply = NULL;
    *reply_len = 0;
    if (!lk->active) {
        return RUV_LINK_NO_SESSION;
    }
    if (seq == lk->expect) {
        return RUV_LINK_EXECUTE;
    }
    /* Serial arithmetic: "ahead" and "behind" stay right across a wrap. */
    if ((int32_t)(seq - lk->expect) > 0) {
        return RUV_LINK_GAP;
    }
    for (size_t i = 0; i < RUV_LINK_CACHE_ENTRIES; ++i) {
        const ruv_link_entry_t *e = &lk->ent[i];
        if (e->len != 0 && e->seq == seq) {
            if (e->crc != crc) {
                return RUV_LINK_TOO_OLD; /* same number, other line: not ours to replay */
            }
            *reply = lk->arena + e->off;
            *reply_len = e->len;
            return RUV_LINK_REPLAY;
        }
    }
    return RUV_LINK_TOO_OLD;
}

void ruv_link_store(ruv_link_t *lk, uint32_t seq, uint32_t crc, const char *reply, size_t len)
{
    lk->expect = seq + 1u;
    if (lk->expect == 0) {
        lk->expect = 1; /* 0 means "no session" on the wire */
    }
    if (len == 0 || len > RUV_LINK_CACHE_BYTES) {
        return;
    }
    uint32_t off = lk->head;
    if (len > RUV_LINK_CACHE_BYTES - off) {
        off = 0; /* wrap: the arena's tail stays unused this round */
    }
    const uint32_t end = off + (uint32_t)len;
    /* Evict every entry whose bytes the new reply overwrites. */
    for (size_t i = 0; i < RUV_LINK_CACHE_ENTRIES; ++i) {
        ruv_link_entry_t *e = &lk->ent[i];
        if (e->len != 0 && e->off < end && off < e->off + e->len) {
            e->len = 0;
        }
    }
    ruv_link_entry_t *e = &lk->ent[lk->slot];
    memcpy(lk->arena + off, reply, len);
    e->seq = seq;
    e->crc = crc;
    e->off = off;
    e->len = (uint32_t)len;
    lk->slot = (lk->slot + 1u) % RUV_LINK_CACHE_ENTRIES;
    lk->head = end;
}

size_t ruv_link_seal(char *text, size_t len)
{
    const uint32_t crc = ruv_crc32(0, text, len);
    /* " *" + 8 hex + "\n" + NUL */
    (void)snprintf(text + len, RUV_LINK_REPLY_TRAILER + 1, " *%08lx\n", (unsigned long)crc);
    return len + RUV_LINK_REPLY_TRAILER;
}
