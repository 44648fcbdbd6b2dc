/* test_routes.c - path decoding and route matching of service/ (no server needed). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "cf_json.h"
#include "svc.h"
#include "trun.h"

struct match {
    int r;
    char allow[64];
    const char *pattern;
    const char *seg1;
};

static struct match match(const char *method, const char *path)
{
    struct svc_req req = { .parsed = true, .method = method, .raw_path = path };
    struct match m = { 0 };

    m.r = svc_path_split(&req);
    if (m.r == 0)
        m.r = svc_route_match(&req, m.allow, sizeof(m.allow));
    m.pattern = m.r == 0 ? req.route->pattern : NULL;
    static char seg1[256];
    snprintf(seg1, sizeof(seg1), "%s", req.nseg > 2 ? req.seg[2] : "");
    m.seg1 = seg1;
    for (size_t i = 0; i < req.nseg; i++)
        free(req.seg[i]);
    return m;
}

static void test_known_paths_match_their_routes(void **state)
{
    (void)state;
    struct match m = match("GET", "/healthcheck");
    assert_int_equal(m.r, 0);
    assert_string_equal(m.pattern, "/healthcheck");
    m = match("GET", "/v1/user/email");
    assert_int_equal(m.r, 0);
    m = match("POST", "/v1/user/email");
    assert_int_equal(m.r, 0);
    m = match("GET", "/v1/services/web-production");
    assert_int_equal(m.r, 0);
    assert_string_equal(m.pattern, "/v1/services/{id}");
    assert_string_equal(m.seg1, "web-production");
}

static void test_a_literal_segment_wins_over_a_wildcard(void **state)
{
    (void)state;
    struct match m = match("GET", "/v1/credentials/0123456789abcdef0123456789abcdef/services");
    assert_int_equal(m.r, 0);
    assert_string_equal(m.pattern, "/v1/credentials/{id}/services");
    m = match("PUT", "/v1/credentials/0123456789abcdef0123456789abcdef/3");
    assert_int_equal(m.r, 0);
    assert_string_equal(m.pattern, "/v1/credentials/{id}/{to_revision}");
}

static void test_unknown_paths_and_trailing_slashes_are_not_found(void **state)
{
    (void)state;
    assert_int_equal(match("GET", "/nope").r, CF_ENOTFOUND);
    assert_int_equal(match("GET", "/v1/services/").r, CF_ENOTFOUND);
    assert_int_equal(match("GET", "/healthcheck/").r, CF_ENOTFOUND);
    assert_int_equal(match("GET", "/v1//services").r, CF_ENOTFOUND);
    assert_int_equal(match("GET", "/v1/a/b/c/d/e/f/g/h/i").r, CF_ENOTFOUND);
}

static void test_a_known_path_with_another_method_lists_the_allowed_ones(void **state)
{
    (void)state;
    struct match m = match("DELETE", "/v1/services/web");
    assert_int_equal(m.r, CF_EDENIED);
    assert_string_equal(m.allow, "GET, PUT");
    m = match("PUT", "/healthcheck");
    assert_int_equal(m.r, CF_EDENIED);
    assert_string_equal(m.allow, "GET");
}

static void test_segments_are_percent_decoded_once(void **state)
{
    (void)state;
    struct match m = match("GET", "/v1/services/web%2dprod%2541");
    assert_int_equal(m.r, 0);
    assert_string_equal(m.seg1, "web-prod%41");
    m = match("GET", "/v1/%73ervices/x");
    assert_int_equal(m.r, 0);
}

static void test_decoded_slash_nul_or_bad_utf8_never_match_an_id(void **state)
{
    (void)state;
    assert_int_equal(match("GET", "/v1/services/a%2Fb").r, CF_ENOTFOUND);
    assert_int_equal(match("GET", "/v1/services/a%00b").r, CF_ENOTFOUND);
    assert_int_equal(match("GET", "/v1/services/a%ffb").r, CF_ENOTFOUND);
    assert_int_equal(match("GET", "/v1/services/a%zz").r, CF_EINVAL);
    assert_int_equal(match("GET", "/v1/services/a%4").r, CF_EINVAL);
}

int main(void)
{
    cf_json_init();
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_known_paths_match_their_routes),
        cmocka_unit_test(test_a_literal_segment_wins_over_a_wildcard),
        cmocka_unit_test(test_unknown_paths_and_trailing_slashes_are_not_found),
        cmocka_unit_test(test_a_known_path_with_another_method_lists_the_allowed_ones),
        cmocka_unit_test(test_segments_are_percent_decoded_once),
        cmocka_unit_test(test_decoded_slash_nul_or_bad_utf8_never_match_an_id),
    };
    return t_run_group_tests(tests, NULL, NULL);
}
