/*
 * test_check.h — the C unit tests' CHECK: report a failed condition with
 * its file and line, count it, keep going (main returns g_failures != 0).
 * Header-only, one copy per test executable.
 */
#ifndef RUV_TEST_CHECK_H
#define RUV_TEST_CHECK_H

#include <stdio.h>

static int g_failures;

#define CHECK(cond, ...)                                              \
    do {                                                              \
        if (!(cond)) {                                                \
            fprintf(stderr, "FAIL %s:%d: ", __FILE__, __LINE__);      \
            fprintf(stderr, __VA_ARGS__);                             \
            fprintf(stderr, "\n");                                    \
            g_failures++;                                             \
        }                                                             \
    } while (0)

#endif /* RUV_TEST_CHECK_H */
