/*
 * exit_probe.c - not a test of its own: the smallest test binary built as the suite's are (one
 * cofferd in the tapi fixture, its exit status checked in the group teardown), which
 * test_exit_status runs with a cofferd told to fail on its way out (COFFER_TEST_EXIT_FAULT,
 * passed on through the environment).
 */
#include "tapi.h"

static void test_cofferd_answers(void **state)
{
    struct tapi *f = *state;
    struct t_resp r;
    char url[T_URL_MAX];

    snprintf(url, sizeof(url), "%s/healthcheck", f->d.base_url);
    t_http("GET", url, NULL, NULL, &r);
    assert_int_equal(r.status, 200);
    t_resp_free(&r);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_cofferd_answers),
    };
    return t_run_group_tests(tests, tapi_setup, tapi_teardown);
}
