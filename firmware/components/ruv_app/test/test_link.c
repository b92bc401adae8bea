/* test_link.c — the console link layer (ruv_link.h): trailer parsing, the
 * sequence verdicts and the reply cache (eviction by count and by bytes,
 * arena wrap, sequence wrap). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ruv_crc32.h"
#include "ruv_link.h"

static int g_fail;
#define CHECK(c)                                                                 \
    do {                                                                         \
        if (!(c)) {                                                              \
            fprintf(stderr, "%s:%d: CHECK(%s) failed\n", __FILE__, __LINE__, #c); \
            ++g_fail;                                                            \
        }                                                                        \
    } while (0)

static ruv_link_t g_lk;

/* "body *seq:crc(body *seq)" into out; returns its length. */
static size_t framed(char *out, size_t cap, const char *body, uint32_t seq)
{
    int n = snprintf(out, cap, "%s *%lu", body, (unsigned long)seq);
    const uint32_t crc = ruv_crc32(0, out, (size_t)n);
    return (size_t)snprintf(out + n, cap - (size_t)n, ":%08lx", (unsigned long)crc) + (size_t)n;
}

static ruv_link_frame_t parse(const char *line, size_t *body, uint32_t *seq, uint32_t *crc)
{
    return ruv_link_parse(line, strlen(line), body, seq, crc);
}

static void test_parse(void)
{
    char buf[256];
    size_t body;
    uint32_t seq, crc;

    CHECK(parse("#a push 1 3f800000", &body, &seq, &crc) == RUV_LINK_NONE && body == 18);
    CHECK(parse("ping", &body, &seq, &crc) == RUV_LINK_NONE && body == 4);
    CHECK(ruv_link_parse(NULL, 0, &body, &seq, &crc) == RUV_LINK_NONE);
    CHECK(parse("*1:00000000", &body, &seq, &crc) == RUV_LINK_NONE); /* no command before it */

    size_t n = framed(buf, sizeof buf, "#p7 push 1 3f800000", 7);
    CHECK(ruv_link_parse(buf, n, &body, &seq, &crc) == RUV_LINK_OK);
    CHECK(body == strlen("#p7 push 1 3f800000") && seq == 7 && crc == ruv_crc32(0, buf, body + 3));
    /* upper-case hex and trailing blanks are fine */
    for (char *c = strchr(buf, ':'); *c != '\0'; ++c) {
        if (*c >= 'a' && *c <= 'f') {
            *c = (char)(*c - 'a' + 'A');
        }
    }
    strcat(buf, " \t");
    CHECK(parse(buf, &body, &seq, &crc) == RUV_LINK_OK && seq == 7);

    /* one flipped bit anywhere in the body or the sequence number: BAD_CRC */
    n = framed(buf, sizeof buf, "#p8 classify", 8);
    for (size_t i = 0; i < strlen("#p8 classify"); ++i) {
        buf[i] ^= 0x01;
        CHECK(ruv_link_parse(buf, n, &body, &seq, &crc) == RUV_LINK_BAD_CRC && seq == 8);
        buf[i] ^= 0x01;
    }
    CHECK(ruv_link_parse(buf, n, &body, &seq, &crc) == RUV_LINK_OK);
    /* the sequence number is covered: "*8" -> "*9" (a digit hit on the
     * way) is a bad line, not request 9 */
    char *digit = strstr(buf, " *8:") + 2;
    *digit = '9';
    CHECK(ruv_link_parse(buf, n, &body, &seq, &crc) == RUV_LINK_BAD_CRC && seq == 9);
    *digit = '8';
    CHECK(ruv_link_parse(buf, n, &body, &seq, &crc) == RUV_LINK_OK && seq == 8);

    static const char *bad[] = {
        "ping *",           "ping *1",           "ping *:00000000",   "ping *0:00000000",
        "ping *1:0000000",  "ping *1:000000000", "ping *1:0000000g",  "ping *1;00000000",
        "ping *-1:00000000", "ping *+1:00000000", "ping *4294967296:00000000",
        "ping *12345678901:00000000", "ping *1:00000000x",
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; ++i) {
        const ruv_link_frame_t fr = parse(bad[i], &body, &seq, &crc);
        CHECK(fr == RUV_LINK_BAD_TRAILER);
        if (fr != RUV_LINK_BAD_TRAILER) {
            fprintf(stderr, "  trailer case %s\n", bad[i]);
        }
        CHECK(body == 4);
    }
    /* the largest sequence number parses */
    n = framed(buf, sizeof buf, "ping", 4294967295u);
    CHECK(ruv_link_parse(buf, n, &body, &seq, &crc) == RUV_LINK_OK && seq == 4294967295u);
}

static void test_seal(void)
{
    char buf[64] = "@R p1 ping";
    const size_t n = ruv_link_seal(buf, strlen(buf));
    CHECK(n == strlen("@R p1 ping") + RUV_LINK_REPLY_TRAILER && strlen(buf) == n);
    char want[64];
    snprintf(want, sizeof want, "@R p1 ping *%08lx\n", (unsigned long)ruv_crc32(0, "@R p1 ping", 10));
    CHECK(strcmp(buf, want) == 0);
}

static ruv_link_verdict_t check(uint32_t seq, uint32_t crc, const char **r, size_t *n)
{
    return ruv_link_check(&g_lk, seq, crc, r, n);
}

static void test_cache(void)
{
    const char *r;
    size_t n;
    char reply[64];

    ruv_link_reset(&g_lk);
    CHECK(check(1, 0, &r, &n) == RUV_LINK_NO_SESSION);
    ruv_link_start(&g_lk, 100);
    CHECK(check(99, 0, &r, &n) == RUV_LINK_TOO_OLD && r == NULL); /* before the session: never executed */
    CHECK(check(101, 0, &r, &n) == RUV_LINK_GAP);
    CHECK(check(100, 0, &r, &n) == RUV_LINK_EXECUTE);

    /* K + 8 requests executed: the newest K replay, the older ones are gone */
    const uint32_t k = RUV_LINK_CACHE_ENTRIES;
    for (uint32_t s = 100; s < 100 + k + 8; ++s) {
        CHECK(check(s, s * 7u, &r, &n) == RUV_LINK_EXECUTE);
        const int len = snprintf(reply, sizeof reply, "@R p%lu push n=1 *crc\n", (unsigned long)s);
        ruv_link_store(&g_lk, s, s * 7u, reply, (size_t)len);
        CHECK(g_lk.expect == s + 1);
    }
    for (uint32_t s = 100; s < 100 + k + 8; ++s) {
        const ruv_link_verdict_t v = check(s, s * 7u, &r, &n);
        if (s < 108) {
            CHECK(v == RUV_LINK_TOO_OLD);
        } else {
            CHECK(v == RUV_LINK_REPLAY);
            const int len = snprintf(reply, sizeof reply, "@R p%lu push n=1 *crc\n", (unsigned long)s);
            CHECK(v == RUV_LINK_REPLAY && n == (size_t)len && memcmp(r, reply, n) == 0);
        }
        /* same number, another line: refused, never replayed */
        CHECK(check(s, s * 7u + 1u, &r, &n) == RUV_LINK_TOO_OLD);
    }
    CHECK(check(100 + k + 9, 0, &r, &n) == RUV_LINK_GAP);

    /* eviction by bytes: replies of a third of the arena; only the newest
     * that fit replay, and the arena wraps without corrupting them */
    ruv_link_start(&g_lk, 1);
    static char big[RUV_LINK_CACHE_BYTES / 3 + 1];
    for (uint32_t s = 1; s <= 10; ++s) {
        memset(big, (int)('a' + s), sizeof big - 1);
        ruv_link_store(&g_lk, s, s, big, sizeof big - 1);
    }
    int replayable = 0;
    for (uint32_t s = 1; s <= 10; ++s) {
        if (check(s, s, &r, &n) == RUV_LINK_REPLAY) {
            ++replayable;
            CHECK(s >= 8 && n == sizeof big - 1);
            for (size_t i = 0; i < n; ++i) {
                if (r[i] != (char)('a' + s)) {
                    CHECK(r[i] == (char)('a' + s));
                    break;
                }
            }
        }
    }
    CHECK(replayable == 2 || replayable == 3);
    CHECK(check(10, 10, &r, &n) == RUV_LINK_REPLAY && check(9, 9, &r, &n) == RUV_LINK_REPLAY);

    /* a reply longer than the arena: the sequence advances, nothing kept */
    static char huge[RUV_LINK_CACHE_BYTES + 1];
    memset(huge, 'z', sizeof huge);
    ruv_link_store(&g_lk, 11, 11, huge, sizeof huge);
    CHECK(g_lk.expect == 12 && check(11, 11, &r, &n) == RUV_LINK_TOO_OLD);
    CHECK(check(10, 10, &r, &n) == RUV_LINK_REPLAY);
    /* a reply of exactly the arena's size is kept (and evicts the rest) */
    memset(huge, 'y', RUV_LINK_CACHE_BYTES);
    ruv_link_store(&g_lk, 12, 12, huge, RUV_LINK_CACHE_BYTES);
    CHECK(check(12, 12, &r, &n) == RUV_LINK_REPLAY && n == RUV_LINK_CACHE_BYTES && r[n - 1] == 'y');
    CHECK(check(10, 10, &r, &n) == RUV_LINK_TOO_OLD);

    /* the sequence wraps: after 2^32 - 1 comes 1 (0 means no session) */
    ruv_link_start(&g_lk, 4294967294u);
    ruv_link_store(&g_lk, 4294967294u, 1, "a\n", 2);
    ruv_link_store(&g_lk, 4294967295u, 2, "b\n", 2);
    CHECK(g_lk.expect == 1);
    CHECK(check(1, 3, &r, &n) == RUV_LINK_EXECUTE);
    CHECK(check(2, 3, &r, &n) == RUV_LINK_GAP);
    CHECK(check(4294967295u, 2, &r, &n) == RUV_LINK_REPLAY && n == 2 && r[0] == 'b');

    /* a new session forgets the old replies */
    ruv_link_start(&g_lk, 4294967295u);
    CHECK(check(4294967294u, 1, &r, &n) == RUV_LINK_TOO_OLD);
    ruv_link_reset(&g_lk);
    CHECK(check(4294967295u, 2, &r, &n) == RUV_LINK_NO_SESSION);
}

int main(void)
{
    test_parse();
    test_seal();
    test_cache();
    printf("test_link: sizeof(ruv_link_t) = %lu bytes (%d entries, %d-byte arena)\n",
           (unsigned long)sizeof(ruv_link_t), RUV_LINK_CACHE_ENTRIES, RUV_LINK_CACHE_BYTES);
    if (g_fail) {
        fprintf(stderr, "test_link: %d failures\n", g_fail);
        return 1;
    }
    printf("test_link: ok\n");
    return 0;
}
