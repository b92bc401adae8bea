/*
 * ruv_link.h — the console's optional link layer (docs/protocol.md, "Link
 * layer"): a request line may end in a trailer token `*<seq>:<crc>` (a
 * sequence number and the CRC-32 of every byte of the line before the ':',
 * the sequence number included). Such a request is executed only when `seq` is the
 * next one the device expects; its reply line gets a trailer `*<crc>` and
 * is kept in a reply cache, so a resent request (same seq, same CRC) is
 * answered again from the cache and never executed twice.
 *
 * Pure C99, no allocation: the cache is a fixed ring of entries indexing a
 * fixed byte arena (RAM: sizeof(ruv_link_t), ~8.7 KiB with the defaults).
 */
#ifndef RUV_LINK_H
#define RUV_LINK_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

/* Replies kept for resends: the newest RUV_LINK_CACHE_ENTRIES, as long as
 * they fit in RUV_LINK_CACHE_BYTES together. A host keeps at most that many
 * requests in flight. The arena holds at least one reply of any length the
 * app can send (RUV_PROTO_LINE_MAX + 512 + trailer). */
#ifndef RUV_LINK_CACHE_ENTRIES
#define RUV_LINK_CACHE_ENTRIES 32
#endif
#ifndef RUV_LINK_CACHE_BYTES
#define RUV_LINK_CACHE_BYTES 8192
#endif

/* " *" + 8 hex digits + "\n" appended to a reply. */
#define RUV_LINK_REPLY_TRAILER 11

typedef struct {
    uint32_t seq;
    uint32_t crc; /* CRC-32 of the request line (the cache key with seq) */
    uint32_t off; /* reply bytes in the arena */
    uint32_t len; /* 0: entry unused */
} ruv_link_entry_t;

typedef struct {
    ruv_link_entry_t ent[RUV_LINK_CACHE_ENTRIES];
    char arena[RUV_LINK_CACHE_BYTES];
    uint32_t slot;   /* entry the next reply goes into (ring) */
    uint32_t head;   /* arena offset of the next reply */
    uint32_t expect; /* next sequence number; 0 = no session */
    bool active;     /* a `link` command started a session */
} ruv_link_t;

/* What a request line carries at its end. */
typedef enum {
    RUV_LINK_NONE = 0, /* no trailer: a plain (v1) request */
    RUV_LINK_OK,       /* trailer present, CRC matches the line before it */
    RUV_LINK_BAD_CRC,  /* trailer present, CRC differs (line corrupted) */
    RUV_LINK_BAD_TRAILER, /* last token starts with '*' but is not `*<seq>:<8 hex>` */
} ruv_link_frame_t;

/* Looks at the last token of a request line. On RUV_LINK_OK /
 * RUV_LINK_BAD_CRC, *body_len is the length of the line before " *" (the
 * request itself) and *seq / *crc the trailer's values (*crc is the CRC the
 * line carries, over the bytes before the trailer's ':'). On
 * RUV_LINK_BAD_TRAILER *body_len is the length before the trailer too.
 * On RUV_LINK_NONE *body_len = len. */
ruv_link_frame_t ruv_link_parse(const char *line, size_t len, size_t *body_len, uint32_t *seq,
                                uint32_t *crc);

/* Verdict for a request that passed its CRC. */
typedef enum {
    RUV_LINK_EXECUTE = 0, /* seq is the expected one: run it, then ruv_link_store */
    RUV_LINK_REPLAY,      /* a resend of an executed request: *reply holds its reply */
    RUV_LINK_GAP,         /* seq is ahead: an earlier request was lost; not executed */
    RUV_LINK_TOO_OLD,     /* seq is behind but its reply left the cache (or differs) */
    RUV_LINK_NO_SESSION,  /* no `link` since boot */
} ruv_link_verdict_t;

/* Starts a session whose first request is `first_seq` (>= 1); clears the cache. */
void ruv_link_start(ruv_link_t *lk, uint32_t first_seq);
/* Ends the session (boot state). */
void ruv_link_reset(ruv_link_t *lk);

ruv_link_verdict_t ruv_link_check(const ruv_link_t *lk, uint32_t seq, uint32_t crc, const char **reply,
                                  size_t *reply_len);

/* Keeps the reply of the executed request `seq` (evicting the oldest
 * entries it overlaps) and expects seq + 1 next. A reply longer than the
 * arena is not kept (its resend then gets RUV_LINK_TOO_OLD). */
void ruv_link_store(ruv_link_t *lk, uint32_t seq, uint32_t crc, const char *reply, size_t len);

/* Writes " *<crc of text[0..len)>\n" at text + len (room for
 * RUV_LINK_REPLY_TRAILER bytes + NUL needed); returns the new length. */
size_t ruv_link_seal(char *text, size_t len);

#ifdef __cplusplus
}
#endif
#endif /* RUV_LINK_H */
