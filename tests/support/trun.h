/*
 * trun.h - runs a cmocka group so that every failure fails the test binary.
 *
 * cmocka 1.1.5 (Debian 12's) prints "[  FAILED  ] GROUP TEARDOWN" when a group teardown
 * asserts or returns non-zero, but leaves it out of the count that t_run_group_tests()
 * returns: the binary exits 0 and ctest says "Passed". The group teardowns are where the
 * fixtures stop cofferd and check its exit status (a LeakSanitizer report is 23, a
 * ThreadSanitizer report 66, a drain that never ends is -1), so every test binary runs its
 * groups through t_run_group_tests() instead, which counts a failed group teardown as a
 * failure. tests/lint.sh refuses a direct call.
 */
#ifndef TRUN_H
#define TRUN_H

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>

#include <cmocka.h>

/* Runs n tests as cmocka's _cmocka_run_group_tests() does; returns the number of failed
 * tests (a failed group setup counts, as in cmocka), and at least 1 if the group teardown
 * failed. */
int t_run_group(const char *name, const struct CMUnitTest *tests, size_t n, CMFixtureFunction setup,
                CMFixtureFunction teardown);

#define t_run_group_tests(tests, setup, teardown)                                                  \
    t_run_group(#tests, tests, sizeof(tests) / sizeof((tests)[0]), setup, teardown)

#define t_run_group_tests_name(name, tests, setup, teardown)                                       \
    t_run_group(name, tests, sizeof(tests) / sizeof((tests)[0]), setup, teardown)

#endif
