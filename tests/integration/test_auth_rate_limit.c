/*
 * test_auth_rate_limit.c - failed authentication is limited per client address, without a
 * lock-out (issue 12). With a burst of 5 and 60 a minute: the sixth bad credential from
 * 127.0.0.1 in a row is answered 429 too_many_failures (Retry-After, an access-log row with
 * reason rate_limited, /metrics counting it); meanwhile a service whose token is proven and
 * cached goes on fetching its bundle from that same address, another address is not limited,
 * and a new valid credential from the limited address gets through once a token has come back
 * (about a second later).
 */
#define _GNU_SOURCE /* memmem */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "cf_json.h"
#include "taudit.h"
#include "traw.h"

#define BAD_BEARER "Authorization: Bearer coffer_AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA"

static int setup(void **state)
{
    struct taudit *f = calloc(1, sizeof(*f));
    char *const env[] = { "COFFER_AUTH_FAILURES_PER_MINUTE=60", "COFFER_AUTH_FAILURE_BURST=5",
                          NULL };
    assert_non_null(f);
    taudit_init(f, env);
    *state = f;
    return 0;
}

static int teardown(void **state)
{
    struct taudit *f = *state;
    int rc = taudit_fini(f);
    free(f);
    assert_int_equal(rc, 0);
    return 0;
}

/* GET path from the address from with one header line; the answer in *r (free it). */
static int get_from(const struct taudit *f, const char *from, const char *path, const char *header,
                    struct t_raw *r, struct t_raw_resp *resp)
{
    char *req =
        tapi_printf("GET %s HTTP/1.1\r\nHost: a\r\n%s\r\nConnection: close\r\n\r\n", path, header);
    int fd = t_raw_connect_from(f->api.d.port, from, 0);
    *r = (struct t_raw){ 0 };
    assert_int_equal(t_raw_send(fd, req, strlen(req)), strlen(req));
    free(req);
    t_raw_read(fd, 20000, r);
    close(fd);
    return t_raw_response(r, 0, resp) ? resp->status : 0;
}

static int status_from(const struct taudit *f, const char *from, const char *path,
                       const char *header)
{
    struct t_raw r;
    struct t_raw_resp resp;
    int s = get_from(f, from, path, header, &r, &resp);
    t_raw_free(&r);
    return s;
}

struct new_token {
    const struct taudit *f;
    const char *header;
};

static bool new_token_gets_through(void *arg)
{
    const struct new_token *n = arg;
    return status_from(n->f, "127.0.0.1", "/v1/user/email", n->header) == 200;
}

static void test_failures_are_limited_per_address_without_locking_anyone_out(void **state)
{
    struct taudit *f = *state;
    char name[64], sid[64], id[TAPI_ID_LEN], token[64], bearer[96];
    struct t_raw r;
    struct t_raw_resp resp;

    /* a service that fetched its bundle once: its token is proven and cached */
    tapi_name(name, sizeof(name), "limit-");
    tapi_cred_new(&f->api, name, "{\"pw\": \"limit-value\"}", id);
    tapi_name(sid, sizeof(sid), "limit-svc-");
    const char *ids[] = { id, NULL };
    tapi_svc_map(&f->api, sid, ids);
    char *svc = taudit_service_auth(f, sid);
    char *bundle = tapi_printf("/v1/services/%s", sid);
    assert_int_equal(status_from(f, "127.0.0.1", bundle, svc), 200);

    /* five failures are answered 401, the sixth 429 */
    for (int i = 0; i < 5; i++)
        assert_int_equal(status_from(f, "127.0.0.1", "/v1/user/email", BAD_BEARER), 401);
    assert_int_equal(get_from(f, "127.0.0.1", "/v1/user/email", BAD_BEARER, &r, &resp), 429);
    assert_non_null(memmem(resp.body, resp.body_len, "\"too_many_failures\"", 19));
    assert_non_null(strcasestr(r.bytes.data, "\r\nRetry-After: 1\r\n"));
    char rid[40];
    const char *h = strcasestr(r.bytes.data, "\r\nX-Request-Id: ");
    assert_non_null(h);
    snprintf(rid, sizeof(rid), "%.32s", h + 16);
    t_raw_free(&r);
    char *q =
        tapi_printf("SELECT result || '|' || reason FROM audit_log WHERE request_id = '%s'", rid);
    char *row = tapi_sql(&f->api, q);
    assert_string_equal(row, "denied|rate_limited");
    free(row);
    free(q);
    double refused = 0;
    assert_true(taudit_metric(&f->api.d, "coffer_auth_rate_limited_total", &refused));
    assert_true(refused >= 1);

    /* no lock-out: the cached service goes on, from the same address */
    assert_int_equal(status_from(f, "127.0.0.1", bundle, svc), 200);
    /* another address is not limited */
    assert_int_equal(status_from(f, "127.0.0.2", "/v1/user/email", BAD_BEARER), 401);
    /* a new credential, never seen: refused while the bucket is empty, through once a token
     * has come back (60 a minute: one a second) */
    t_token_create(&f->api.db, "admin", "limit-new", token);
    snprintf(bearer, sizeof(bearer), "Authorization: Bearer %s", token);
    struct new_token n = { f, bearer };
    assert_true(t_wait_until(new_token_gets_through, &n, 30));
    free(svc);
    free(bundle);
}

int main(void)
{
    cf_json_init();
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_failures_are_limited_per_address_without_locking_anyone_out),
    };
    return t_run_group_tests(tests, setup, teardown);
}
