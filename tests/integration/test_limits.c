/*
 * test_limits.c - every limit is configurable and answers with its own code (issue 12): the
 * request line, the headers' size and count, the body, pairs per credential, the size of a
 * credential, credentials per service. cofferd runs with each limit lowered, and each is
 * checked just under it (accepted) and just over it (refused, nothing stored); a limit out of
 * its range stops cofferd at start.
 */
#define _GNU_SOURCE /* memmem */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "tapi.h"
#include "traw.h"

static char *const limits_env[] = { "COFFER_MAX_REQUEST_LINE_BYTES=600",
                                    "COFFER_MAX_HEADER_BYTES=2000",
                                    "COFFER_MAX_HEADERS=12",
                                    "COFFER_MAX_BODY_BYTES=4096",
                                    "COFFER_MAX_PAIRS=3",
                                    "COFFER_MAX_CREDENTIAL_BYTES=1000",
                                    "COFFER_MAX_SERVICE_CREDENTIALS=2",
                                    NULL };

static int setup(void **state)
{
    return tapi_setup_env(state, limits_env);
}

/* The status of GET path with extra header lines (each ending in CR LF), and its code. */
static int get_raw(const struct tapi *f, const char *path, const char *headers, char *code,
                   size_t cap)
{
    char *req = tapi_printf("GET %s HTTP/1.1\r\nHost: a\r\n%s\r\n", path, headers);
    struct t_raw r;
    struct t_raw_resp resp;
    t_raw_send_str(f->d.port, req, &r);
    free(req);
    int status = t_raw_response(&r, 0, &resp) ? resp.status : 0;
    code[0] = '\0';
    const char *c = status >= 400 ? memmem(resp.body, resp.body_len, "\"code\":\"", 8) : NULL;
    if (c != NULL)
        snprintf(code, cap, "%.*s", (int)strcspn(c + 8, "\""), c + 8);
    t_raw_free(&r);
    return status;
}

static void test_the_request_line_limit(void **state)
{
    struct tapi *f = *state;
    char code[64];
    /* "GET " + path + " HTTP/1.1" and the 12 bytes civetweb's parse leaves: 600 in all */
    char *p_ok = tapi_rep('a', 560), *p_bad = tapi_rep('a', 600);
    char *ok = tapi_printf("/%s", p_ok), *bad = tapi_printf("/%s", p_bad);

    assert_int_equal(get_raw(f, ok, "", code, sizeof(code)), 404); /* read, and routed */
    assert_int_equal(get_raw(f, bad, "", code, sizeof(code)), 414);
    assert_string_equal(code, "uri_too_long");
    free(p_ok);
    free(p_bad);
    free(ok);
    free(bad);
}

static void test_the_header_size_and_count_limits(void **state)
{
    struct tapi *f = *state;
    char code[64];
    char *v = tapi_rep('v', 2100);
    char *big = tapi_printf("X-Pad: %s\r\n", v);
    struct cf_buf many = { 0 }, enough = { 0 };

    for (int i = 0; i < 13; i++) {
        char line[32];
        snprintf(line, sizeof(line), "X-H%d: v\r\n", i);
        cf_buf_append_str(&many, line);
        if (i < 10) /* with Host: 11 lines */
            cf_buf_append_str(&enough, line);
    }
    assert_int_equal(get_raw(f, "/healthcheck", enough.data, code, sizeof(code)), 200);
    assert_int_equal(get_raw(f, "/healthcheck", many.data, code, sizeof(code)), 431);
    assert_string_equal(code, "headers_too_large");
    v[1700] = '\0';
    char *fits = tapi_printf("X-Pad: %s\r\n", v);
    assert_int_equal(get_raw(f, "/healthcheck", fits, code, sizeof(code)), 200);
    assert_int_equal(get_raw(f, "/healthcheck", big, code, sizeof(code)), 431);
    assert_string_equal(code, "headers_too_large");
    free(v);
    free(big);
    free(fits);
    cf_buf_free(&many);
    cf_buf_free(&enough);
}

static void test_the_body_pairs_credential_and_service_limits(void **state)
{
    struct tapi *f = *state;
    struct t_resp r;
    char id1[TAPI_ID_LEN], id2[TAPI_ID_LEN], id3[TAPI_ID_LEN];
    char *before;

    /* pairs: 3 accepted, 4 refused */
    tapi_cred_new(f, "three pairs", "{\"a\":\"1\",\"b\":\"2\",\"c\":\"3\"}", id1);
    before = tapi_state(f);
    tapi_send(f, f->admin, "POST",
              "{\"name\":\"four\",\"credential_pairs\":{\"a\":\"1\",\"b\":\"2\","
              "\"c\":\"3\",\"d\":\"4\"}}",
              &r, "/v1/credentials");
    tapi_check_error(&r, 400, "limit_exceeded");
    t_resp_free(&r);
    tapi_assert_unchanged(f, before);

    /* a credential's size: about 900 bytes accepted, 1,100 refused */
    char *v = tapi_rep('x', 900);
    char *pairs = tapi_printf("{\"k\":\"%s\"}", v);
    tapi_cred_new(f, "near the limit", pairs, id2);
    free(pairs);
    free(v);
    v = tapi_rep('x', 1100);
    char *body = tapi_printf("{\"name\":\"too big\",\"credential_pairs\":{\"k\":\"%s\"}}", v);
    before = tapi_state(f);
    tapi_send(f, f->admin, "POST", body, &r, "/v1/credentials");
    tapi_check_error(&r, 413, "credential_too_large");
    t_resp_free(&r);
    tapi_assert_unchanged(f, before);
    free(v);
    free(body);

    /* the body: 4,096 bytes accepted, 4,097 refused before reading */
    v = tapi_rep('d', 4096 - 20);
    body = tapi_printf("{\"documentation\":\"%s\"}", v);
    assert_int_equal(strlen(body), 4096);
    tapi_send(f, f->admin, "PUT", body, &r, "/v1/credentials/%s", id1);
    json_decref(tapi_ok(&r));
    t_resp_free(&r);
    free(body);
    body = tapi_printf("{\"documentation\":\"%sx\"}", v);
    tapi_send(f, f->admin, "PUT", body, &r, "/v1/credentials/%s", id1);
    tapi_check_error(&r, 413, "body_too_large");
    t_resp_free(&r);
    free(body);
    free(v);

    /* credentials per service: 2 accepted, 3 refused */
    tapi_cred_new(f, "third", "{\"z\":\"1\"}", id3);
    const char *two[] = { id1, id2, NULL };
    tapi_svc_map(f, "limited", two);
    before = tapi_state(f);
    char *map = tapi_printf("{\"credentials\":[\"%s\",\"%s\",\"%s\"]}", id1, id2, id3);
    tapi_send(f, f->admin, "PUT", map, &r, "/v1/services/limited");
    tapi_check_error(&r, 400, "limit_exceeded");
    t_resp_free(&r);
    free(map);
    tapi_assert_unchanged(f, before);
}

/* Each limit out of its range: exit 2 naming the setting. */
static void test_limits_out_of_range_stop_cofferd(void **state)
{
    (void)state;
    static const char *const bad[] = { "COFFER_MAX_HEADERS=64",
                                       "COFFER_MAX_HEADERS=0",
                                       "COFFER_MAX_REQUEST_LINE_BYTES=10",
                                       "COFFER_MAX_HEADER_BYTES=1000000",
                                       "COFFER_MAX_PAIRS=0",
                                       "COFFER_MAX_CREDENTIAL_BYTES=2000000",
                                       "COFFER_MAX_SERVICE_CREDENTIALS=0",
                                       "COFFER_MAX_CONNECTIONS_PER_IP=-1" };

    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        struct cf_buf out = { 0 };
        char name[64];
        snprintf(name, sizeof(name), "%.*s", (int)strcspn(bad[i], "="), bad[i]);
        char *argv[] = { (char *)t_env("COFFER_TEST_COFFERD"), "serve", NULL };
        char *const env[] = { (char *)bad[i], NULL };
        int rc = t_run_output(argv, env, &out);
        cf_buf_append(&out, "", 0);
        if (rc != 2 || strstr(out.data, name) == NULL)
            fail_msg("%s: exit %d, %s", bad[i], rc, out.data);
        cf_buf_free(&out);
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_the_request_line_limit),
        cmocka_unit_test(test_the_header_size_and_count_limits),
        cmocka_unit_test(test_the_body_pairs_credential_and_service_limits),
        cmocka_unit_test(test_limits_out_of_range_stop_cofferd),
    };
    return t_run_group_tests(tests, setup, tapi_teardown);
}
