// harness.h: the assertion harness of every C test (tests/test_*.c). A failed check prints where and
// why and the test carries on, so one run reports every failure; main ends with
// `return ms_test_summary("test_name");`, which prints the summary line and gives the exit status.
#ifndef MS_TEST_HARNESS_H
#define MS_TEST_HARNESS_H
#include <math.h>
#include <stdio.h>

static int ms_test_checks, ms_test_failures;

// CHECK(cond, printf-format, ...): counts a check; on failure prints file:line and the message.
#define CHECK(cond, ...)                                                                                               \
    do {                                                                                                               \
        ms_test_checks++;                                                                                              \
        if (!(cond)) {                                                                                                 \
            ms_test_failures++;                                                                                        \
            fprintf(stderr, "FAIL %s:%d: ", __FILE__, __LINE__);                                                       \
            fprintf(stderr, __VA_ARGS__);                                                                              \
            fputc('\n', stderr);                                                                                       \
        }                                                                                                              \
    } while (0)

// CHECK_NEAR(got, want, tol, printf-format, ...): |got - want| <= tol (NaN fails); prints both values.
#define CHECK_NEAR(got, want, tol, ...)                                                                                \
    do {                                                                                                               \
        const double got_ = (double)(got), want_ = (double)(want), tol_ = (double)(tol);                               \
        ms_test_checks++;                                                                                              \
        if (!(fabs(got_ - want_) <= tol_)) {                                                                           \
            ms_test_failures++;                                                                                        \
            fprintf(stderr, "FAIL %s:%d: %.9g vs %.9g (tolerance %.3g): ", __FILE__, __LINE__, got_, want_, tol_);     \
            fprintf(stderr, __VA_ARGS__);                                                                              \
            fputc('\n', stderr);                                                                                       \
        }                                                                                                              \
    } while (0)

// Prints "<name>: N checks, M failed" and returns the process exit status (0: all passed).
static inline int ms_test_summary(const char *name) {
    printf("%s: %d checks, %d failed\n", name, ms_test_checks, ms_test_failures);
    return ms_test_failures ? 1 : 0;
}
#endif
