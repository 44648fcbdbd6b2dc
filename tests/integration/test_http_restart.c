/* test_http_restart.c - cofferd keeps serving across a PostgreSQL outage and recovers without
 * a restart of its own (runs alone: it stops the cluster every other test uses). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>

#include "cf_json.h"
#include "tsupport.h"

struct probe {
    const char *url;
    const char *header;
    long want;
};

static bool answers(void *arg)
{
    const struct probe *p = arg;
    const char *headers[] = { p->header, NULL };
    struct t_resp r;

    t_http("GET", p->url, p->header != NULL ? headers : NULL, NULL, &r);
    bool ok = r.status == p->want;
    t_resp_free(&r);
    return ok;
}

static void test_cofferd_survives_a_postgresql_outage(void **state)
{
    (void)state;
    struct t_db db;
    struct t_cofferd d;
    char token[64], bearer[96], url[256], ready[256];
    struct t_resp r;

    t_db_create(&db, true);
    t_token_create(&db, "admin", "admin-1", token);
    snprintf(bearer, sizeof(bearer), "Authorization: Bearer %s", token);
    t_cofferd_start(&d, &db, NULL);
    snprintf(url, sizeof(url), "%s/v1/user/email", d.base_url);
    snprintf(ready, sizeof(ready), "%s/healthcheck/ready", d.base_url);
    struct probe ok = { url, bearer, 200 };
    assert_true(answers(&ok));

    t_pg_ctl("stop");
    const char *h[] = { bearer, NULL };
    t_http("GET", url, h, NULL, &r);
    assert_int_equal(r.status, 503); /* never a 5xx other than 503, never a secret */
    assert_null(strstr(r.body.data, "admin-1"));
    t_resp_free(&r);
    t_http("GET", ready, NULL, NULL, &r);
    assert_int_equal(r.status, 503);
    assert_non_null(strstr(r.body.data, "\"database\":\"failed\""));
    assert_non_null(strstr(r.body.data, "\"code\":\"not_ready\""));
    t_resp_free(&r);
    /* the process itself lives; even a refused caller gets 503: its row cannot be written */
    char health[256];
    snprintf(health, sizeof(health), "%s/healthcheck", d.base_url);
    struct probe live = { health, NULL, 200 };
    assert_true(answers(&live));
    struct probe refused = { url, NULL, 503 };
    assert_true(answers(&refused));

    t_pg_ctl("start");
    struct probe back = { ready, NULL, 200 };
    assert_true(t_wait_until(answers, &back, 30));
    assert_true(answers(&ok));
    assert_int_equal(t_cofferd_stop(&d), 0);
    t_db_drop(&db);
}

int main(void)
{
    cf_json_init();
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_cofferd_survives_a_postgresql_outage),
    };
    return t_run_group_tests(tests, NULL, NULL);
}
