/* trun.c - cmocka groups whose failing fixtures fail the binary (see trun.h). */
#include "trun.h"

#include <stdbool.h>
#include <stdio.h>

/* One group runs at a time (cmocka runs them one after the other, in one thread). */
static CMFixtureFunction group_teardown;
static bool teardown_ok;

/* The teardown cmocka is given: it records whether the real one returned 0. An assert in the
 * real one longjmps out past the assignment, which then stays false. (cmocka counts a failed
 * group setup itself.) */
static int wrapped_teardown(void **state)
{
    teardown_ok = false;
    int rc = group_teardown(state);
    teardown_ok = rc == 0;
    return rc;
}

int t_run_group(const char *name, const struct CMUnitTest *tests, size_t n, CMFixtureFunction setup,
                CMFixtureFunction teardown)
{
    group_teardown = teardown;
    teardown_ok = teardown == NULL;
    int failed =
        _cmocka_run_group_tests(name, tests, n, setup, teardown != NULL ? wrapped_teardown : NULL);
    if (!teardown_ok && failed == 0) {
        (void)fprintf(stderr,
                      "[  FAILED  ] %s: the group teardown failed (a cofferd that did not "
                      "exit 0, or a failed check): see above\n",
                      name);
        failed++;
    }
    return failed;
}
