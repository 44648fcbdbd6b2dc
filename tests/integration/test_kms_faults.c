/*
 * test_kms_faults.c - KMS stalls or goes away under load (issue 12). A cofferd on the aws
 * backend reaches moto through a relay the test controls (tproxy). While the relay holds
 * every KMS call (an answer that would come after any deadline) and after it is gone
 * (connection refused):
 * - a warm bundle (its kmsauth token and data keys cached) keeps coming, with no KMS call;
 * - a cold one (a data key not cached) fails closed: 503 kms_unavailable without the secret,
 *   and cofferd gives up by itself (before the relay lets anything through);
 * - twenty cold fetches at once do not take the workers: /healthcheck and /metrics answer
 *   while they wait;
 * - once KMS answers again the cold bundle comes, from the same process;
 * - with KMS attempts of 30 s each (the relay holds every one until curl gives up) and four
 *   of them, COFFER_REQUEST_DEADLINE_MS of 1.5 s ends the cold fetch first: 503
 *   kms_unavailable well within 10 s (a deadline that only stopped the retries would answer
 *   after one whole 30 s attempt), and its access-log row is written;
 * - with one check of a new credential allowed at once and that one stalled at KMS, a second
 *   new token is answered 503 overloaded with Retry-After after its second of waiting.
 */
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "cf_json.h"
#include "cf_log.h"
#include "cf_time.h"
#include "tkms.h"
#include "tproxy.h"

#define COLD_AT_ONCE 20

struct fixture {
    struct tkms f;
    struct tproxy *px;
    struct t_cofferd node; /* KMS through the relay, short KMS deadlines */
    struct tapi api;       /* speaks to node */
};

static int setup(void **state)
{
    struct fixture *x = calloc(1, sizeof(*x));
    char env[128];

    assert_non_null(x);
    tkms_init(&x->f, NULL);
    x->px = tproxy_start(x->f.moto_url);
    snprintf(env, sizeof(env), "AWS_ENDPOINT_URL_KMS=%s", tproxy_url(x->px));
    char *const extra[] = { env,
                            "COFFER_KMS_TIMEOUT_MS=1000",
                            "COFFER_KMS_CONNECT_TIMEOUT_MS=500",
                            "COFFER_KMS_MAX_ATTEMPTS=2",
                            "COFFER_KMS_BACKOFF_BASE_MS=50",
                            "COFFER_KMS_BACKOFF_MAX_MS=100",
                            NULL };
    tkms_start_node(&x->f, &x->node, extra);
    x->api = tkms_node(&x->f, &x->node);
    *state = x;
    return 0;
}

static int teardown(void **state)
{
    struct fixture *x = *state;
    int rc = t_cofferd_stop(&x->node);
    tproxy_stop(x->px);
    int rc2 = tkms_fini(&x->f);
    free(x);
    assert_int_equal(rc, 0);
    assert_int_equal(rc2, 0);
    return 0;
}

/* A service with one credential holding a canary, and a token for it. */
struct svc {
    char sid[64], username[128], canary[64], cred[TAPI_ID_LEN];
    char *token;
};

static void make_service(struct fixture *x, const char *prefix, struct svc *s)
{
    char name[64];

    tapi_name(s->sid, sizeof(s->sid), prefix);
    tapi_name(s->canary, sizeof(s->canary), "kms-canary-");
    tapi_name(name, sizeof(name), "kms-cred-");
    char *pairs = tapi_printf("{\"password\": \"%s\"}", s->canary);
    tapi_cred_new(&x->f.api, name, pairs, s->cred); /* through the fixture's cofferd */
    free(pairs);
    const char *ids[] = { s->cred, NULL };
    tapi_svc_map(&x->f.api, s->sid, ids);
    tkms_username(2, "service", s->sid, s->username, sizeof(s->username));
    s->token = tkms_token(&x->f, 2, "service", s->sid);
}

/* The error code of an answer ("" if it has none). */
static void resp_code(const struct t_resp *r, char *code, size_t cap)
{
    code[0] = '\0';
    const char *c = r->body.data != NULL ? strstr(r->body.data, "\"code\":\"") : NULL;
    if (c != NULL)
        snprintf(code, cap, "%.*s", (int)strcspn(c + 8, "\""), c + 8);
}

static long fetch(struct fixture *x, const struct svc *s, bool *saw_secret, char *code, size_t cap)
{
    struct t_resp r;
    tkms_fetch(&x->api, s->username, s->token, s->sid, &r);
    long status = r.status;
    *saw_secret = r.body.data != NULL && strstr(r.body.data, s->canary) != NULL;
    resp_code(&r, code, cap);
    t_resp_free(&r);
    return status;
}

struct cold_call {
    struct fixture *x;
    const struct svc *s;
    long status;
    bool secret;
    char code[64];
};

static void *cold_run(void *arg)
{
    struct cold_call *c = arg;
    c->status = fetch(c->x, c->s, &c->secret, c->code, sizeof(c->code));
    return NULL;
}

/* Checks warm, cold, and many cold at once, with the relay as it is now. */
static void check_kms_down(struct fixture *x, const struct svc *warm, const struct svc *cold,
                           const char *how)
{
    struct cf_buf problems = { 0 };
    bool secret = false;
    char code[64];

    uint64_t kms_before = tkms_kms_calls(&x->api);
    long st = fetch(x, warm, &secret, code, sizeof(code));
    if (st != 200 || !secret)
        tapi_collect(&problems, how, tapi_printf("the warm bundle: %ld %s", st, code));
    if (tkms_kms_calls(&x->api) != kms_before)
        tapi_collect(&problems, how, strdup("the warm bundle made a KMS call"));

    st = fetch(x, cold, &secret, code, sizeof(code));
    if (st != 503 || strcmp(code, "kms_unavailable") != 0 || secret)
        tapi_collect(
            &problems, how,
            tapi_printf("the cold bundle: %ld %s%s", st, code, secret ? " WITH THE SECRET" : ""));

    struct cold_call calls[COLD_AT_ONCE];
    pthread_t tid[COLD_AT_ONCE];
    for (size_t i = 0; i < COLD_AT_ONCE; i++) {
        calls[i] = (struct cold_call){ .x = x, .s = cold };
        assert_int_equal(pthread_create(&tid[i], NULL, cold_run, &calls[i]), 0);
    }
    /* while they wait on KMS, the server still answers */
    struct t_resp r;
    tapi_send(&x->api, NULL, "GET", NULL, &r, "/healthcheck");
    if (r.status != 200)
        tapi_collect(&problems, how, tapi_printf("/healthcheck: %ld", r.status));
    t_resp_free(&r);
    tkms_metrics(&x->api, &r);
    t_resp_free(&r);
    st = fetch(x, warm, &secret, code, sizeof(code));
    if (st != 200)
        tapi_collect(&problems, how, tapi_printf("the warm bundle beside them: %ld", st));
    for (size_t i = 0; i < COLD_AT_ONCE; i++) {
        pthread_join(tid[i], NULL);
        if (calls[i].status != 503 || strcmp(calls[i].code, "kms_unavailable") != 0 ||
            calls[i].secret)
            tapi_collect(
                &problems, how,
                tapi_printf("cold fetch %zu at once: %ld %s", i, calls[i].status, calls[i].code));
    }
    tapi_collect_end(&problems);
}

static void
test_warm_bundles_serve_and_cold_ones_fail_closed_while_kms_stalls_or_is_gone(void **state)
{
    struct fixture *x = *state;
    struct svc warm, cold;
    bool secret;
    char code[64];

    make_service(x, "kms-warm-", &warm);
    make_service(x, "kms-cold-", &cold);
    /* warm: fetched once, so its token and data key are cached; cold: its token is, but a
     * credential added since has a data key this node never decrypted */
    assert_int_equal(fetch(x, &warm, &secret, code, sizeof(code)), 200);
    assert_int_equal(fetch(x, &cold, &secret, code, sizeof(code)), 200);
    char extra_id[TAPI_ID_LEN], name[64];
    tapi_name(name, sizeof(name), "kms-cold-extra-");
    tapi_cred_new(&x->f.api, name, "{\"other\": \"value\"}", extra_id);
    const char *ids[] = { cold.cred, extra_id, NULL };
    tapi_svc_map(&x->f.api, cold.sid, ids);

    /* KMS stalls: every call waits in the relay, past any deadline */
    tproxy_hold(x->px);
    check_kms_down(x, &warm, &cold, "KMS stalled");
    assert_true(tproxy_wait_held(x->px, 1)); /* the cold calls did reach it */

    /* KMS answers again: the cold bundle comes from the same process */
    tproxy_release(x->px);
    assert_int_equal(fetch(x, &cold, &secret, code, sizeof(code)), 200);
    assert_true(secret);

    /* KMS is gone: connections are refused */
    tapi_svc_map(&x->f.api, cold.sid, (const char *[]){ cold.cred, NULL });
    tapi_name(name, sizeof(name), "kms-cold-extra2-");
    tapi_cred_new(&x->f.api, name, "{\"third\": \"value\"}", extra_id);
    const char *ids2[] = { cold.cred, extra_id, NULL };
    tapi_svc_map(&x->f.api, cold.sid, ids2);
    tproxy_stop(x->px);
    x->px = NULL;
    check_kms_down(x, &warm, &cold, "KMS gone");
    free(warm.token);
    free(cold.token);
}

/* The request deadline ends KMS's own timeouts and retries early: not only the retries (the
 * next attempt is not made) but the attempt under way (curl's timeout is cut to what is left
 * of the request's time). */
static void test_the_request_deadline_ends_a_stalled_kms_call(void **state)
{
    struct fixture *x = *state;
    struct tproxy *px = tproxy_start(x->f.moto_url);
    struct t_cofferd d;
    struct svc s;
    char env[128], code[64];

    snprintf(env, sizeof(env), "AWS_ENDPOINT_URL_KMS=%s", tproxy_url(px));
    /* the relay holds every attempt until curl gives up on it: 30 s each, four of them */
    char *const extra[] = { env,
                            "COFFER_KMS_TIMEOUT_MS=30000",
                            "COFFER_KMS_MAX_ATTEMPTS=4",
                            "COFFER_KMS_BACKOFF_BASE_MS=50",
                            "COFFER_REQUEST_DEADLINE_MS=1500",
                            NULL };
    tkms_start_node(&x->f, &d, extra);
    struct tapi api = tkms_node(&x->f, &d);
    make_service(x, "kms-deadline-", &s);
    tproxy_hold(px); /* the token itself needs KMS: the fetch stalls at once */
    int64_t t0 = cf_mono_ms();
    struct t_resp r;
    tkms_fetch(&api, s.username, s.token, s.sid, &r); /* the client gives up after 60 s */
    int64_t took = cf_mono_ms() - t0;
    bool reached_kms = tproxy_wait_held(px, 0); /* a KMS call is what stalled */
    tproxy_release(px);
    print_message("the stalled fetch was answered after %lld ms: %ld %.200s\n", (long long)took,
                  r.status, r.body.data != NULL ? r.body.data : "(no body)");
    resp_code(&r, code, sizeof(code));
    assert_int_equal(r.status, 503);
    assert_string_equal(code, "kms_unavailable");
    assert_false(r.body.data != NULL && strstr(r.body.data, s.canary) != NULL);
    assert_true(reached_kms);
    /* 1.5 s when the deadline ends the attempt under way; >= 30 s if it only stopped the
     * retries, >= 60 s (the client's own limit) if it did nothing. 10 s leaves a loaded
     * machine room, and no broken deadline gets under it. */
    if (took < 1400) /* it did wait for the deadline (less slack for clocks) */
        fail_msg("answered after %lld ms, before the 1500 ms deadline", (long long)took);
    if (took >= 10000)
        fail_msg("answered after %lld ms: the 1500 ms deadline did not end the KMS attempt",
                 (long long)took);
    /* the caller could not be authenticated (its token needs KMS): logged as who it claimed */
    char *d_row = tkms_audit_diff(&api, &r, "anonymous", s.username, "service.get", s.sid, "error",
                                  "kms_unavailable");
    if (d_row != NULL)
        fail_msg("its access-log row: %s", d_row);
    t_resp_free(&r);
    free(s.token);
    assert_int_equal(t_cofferd_stop(&d), 0);
    tproxy_stop(px);
}

struct fetch_call {
    struct tapi *api;
    const struct svc *s;
    struct t_resp r;
};

static void *fetch_run(void *arg)
{
    struct fetch_call *c = arg;
    tkms_fetch(c->api, c->s->username, c->s->token, c->s->sid, &c->r);
    return NULL;
}

/* The verify gate full: with one check allowed at once and KMS stalled under it, a second new
 * token waits its second and is answered 503 overloaded with Retry-After (coffer is busy, the
 * caller is not at fault: never a 429), with an access-log row; once KMS answers, both tokens
 * are taken. */
static void test_a_new_token_without_a_turn_in_time_is_answered_overloaded(void **state)
{
    struct fixture *x = *state;
    struct tproxy *px = tproxy_start(x->f.moto_url);
    struct t_cofferd d;
    struct svc a, b;
    char env[128], code[64], retry[16];

    snprintf(env, sizeof(env), "AWS_ENDPOINT_URL_KMS=%s", tproxy_url(px));
    char *const extra[] = { env,
                            "COFFER_KMS_TIMEOUT_MS=30000",
                            "COFFER_KMS_MAX_ATTEMPTS=1",
                            "COFFER_REQUEST_DEADLINE_MS=20000",
                            "COFFER_AUTH_VERIFY_CONCURRENCY=1",
                            "COFFER_AUTH_VERIFY_WAIT_MS=1000",
                            NULL };
    tkms_start_node(&x->f, &d, extra);
    struct tapi api = tkms_node(&x->f, &d);
    make_service(x, "gate-a-", &a);
    make_service(x, "gate-b-", &b);
    tproxy_hold(px);
    /* a's check takes the one turn and stalls at KMS */
    struct fetch_call ca = { .api = &api, .s = &a };
    pthread_t ta;
    assert_int_equal(pthread_create(&ta, NULL, fetch_run, &ca), 0);
    assert_true(tproxy_wait_held(px, 30));
    /* b gets no turn within its second */
    struct t_resp r;
    int64_t t0 = cf_mono_ms();
    tkms_fetch(&api, b.username, b.token, b.sid, &r);
    int64_t took = cf_mono_ms() - t0;
    resp_code(&r, code, sizeof(code));
    print_message("b answered after %lld ms: %ld %s\n", (long long)took, r.status, code);
    assert_int_equal(r.status, 503);
    assert_string_equal(code, "overloaded");
    assert_true(t_resp_header(&r, "Retry-After", retry, sizeof(retry)));
    assert_string_equal(retry, "1");
    assert_true(took >= 900); /* it did wait for its turn */
    char *d_row = tkms_audit_diff(&api, &r, "anonymous", b.username, "service.get", b.sid, "error",
                                  "overloaded");
    if (d_row != NULL)
        fail_msg("its access-log row: %s", d_row);
    t_resp_free(&r);
    assert_int_equal(tkms_metric(&api, "coffer_auth_verify_overloaded_total"), 1);
    /* KMS answers again: a's stalled check completes, and b is taken */
    tproxy_release(px);
    assert_int_equal(pthread_join(ta, NULL), 0);
    assert_int_equal(ca.r.status, 200);
    t_resp_free(&ca.r);
    tkms_fetch(&api, b.username, b.token, b.sid, &r);
    assert_int_equal(r.status, 200);
    t_resp_free(&r);
    free(a.token);
    free(b.token);
    assert_int_equal(t_cofferd_stop(&d), 0);
    tproxy_stop(px);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_a_new_token_without_a_turn_in_time_is_answered_overloaded),
        cmocka_unit_test(
            test_warm_bundles_serve_and_cold_ones_fail_closed_while_kms_stalls_or_is_gone),
        cmocka_unit_test(test_the_request_deadline_ends_a_stalled_kms_call),
    };
    cf_json_init();
    cf_log_set_level(CF_LOG_ERROR);
    return t_run_group_tests(tests, setup, teardown);
}
