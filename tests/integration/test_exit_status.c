/*
 * test_exit_status.c - a cofferd that fails on its way out fails the test binary that stopped
 * it: leaks (LeakSanitizer, ASan build), a data race (ThreadSanitizer, TSan build), an abort
 * after the drain, and a non-zero exit status. Each case runs exit_probe (a test binary built
 * as every other, stopping cofferd in its group teardown) with COFFER_TEST_EXIT_FAULT set, and
 * checks that it exits non-zero and says the teardown failed; the clean case exits 0.
 *
 * Without t_run_group_tests() (trun.h), cmocka 1.1.5 would let every faulty case exit 0.
 */
#include <stdio.h>
#include <string.h>

#include "tsupport.h"

#ifndef EXIT_PROBE
#error "EXIT_PROBE must name the exit_probe binary"
#endif

/* Runs the probe with COFFER_TEST_EXIT_FAULT=mode (NULL: unset); returns its exit status and
 * leaves what it printed in out. */
static int run_probe(const char *mode, struct cf_buf *out)
{
    char *argv[] = { EXIT_PROBE, NULL };
    char fault[64];
    char *env[] = { fault, NULL };

    snprintf(fault, sizeof(fault), "COFFER_TEST_EXIT_FAULT=%s", mode != NULL ? mode : "");
    return t_run_output(argv, mode != NULL ? env : NULL, out);
}

static void expect_red(const char *mode, const char *cofferd_said)
{
    struct cf_buf out = { 0 };
    int rc = run_probe(mode, &out);

    cf_buf_append(&out, "", 1);
    if (rc == 0 || strstr(out.data, "group teardown failed") == NULL ||
        strstr(out.data, cofferd_said) == NULL) {
        (void)fprintf(stderr, "--- exit_probe with COFFER_TEST_EXIT_FAULT=%s (exit %d):\n%s\n",
                      mode, rc, out.data);
        fail_msg("a cofferd with exit fault '%s' did not fail the binary that stopped it", mode);
    }
    cf_buf_free(&out);
}

/* The positive control: the same probe, cofferd exiting cleanly, passes. */
static void test_clean_exit_passes(void **state)
{
    (void)state;
    struct cf_buf out = { 0 };
    int rc = run_probe(NULL, &out);

    cf_buf_append(&out, "", 1);
    if (rc != 0)
        (void)fprintf(stderr, "--- exit_probe (exit %d):\n%s\n", rc, out.data);
    assert_int_equal(rc, 0);
    assert_null(strstr(out.data, "FAILED"));
    cf_buf_free(&out);
}

static void test_nonzero_exit_fails(void **state)
{
    (void)state;
    expect_red("exit", "exited with status 3");
}

static void test_abort_at_exit_fails(void **state)
{
    (void)state;
    expect_red("abort", "was killed by signal 6");
}

#if defined(__SANITIZE_ADDRESS__)
static void test_leak_fails(void **state)
{
    (void)state;
    expect_red("leak", "LeakSanitizer");
}
#endif

#if defined(__SANITIZE_THREAD__)
static void test_race_fails(void **state)
{
    (void)state;
    expect_red("race", "ThreadSanitizer: data race");
}
#endif

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_clean_exit_passes),
        cmocka_unit_test(test_nonzero_exit_fails),
        cmocka_unit_test(test_abort_at_exit_fails),
#if defined(__SANITIZE_ADDRESS__)
        cmocka_unit_test(test_leak_fails),
#endif
#if defined(__SANITIZE_THREAD__)
        cmocka_unit_test(test_race_fails),
#endif
    };
    return t_run_group_tests(tests, NULL, NULL);
}
