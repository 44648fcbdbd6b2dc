/*
 * test_two_nodes.c - two cofferd processes on one database and one set of KMS keys (API.md 8.3,
 * 8.4, 8.1, issue 6 "cache coherence across nodes"): whatever is written through node A, node
 * B's next bundle shows it, never a stale one; a principal's role changed or removed, and an API
 * token revoked, through A take effect on B (polled with a deadline; no timing asserted). A
 * credential write stalled on KMS on one node holds up no write on the other.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>
#include <jansson.h>

#include "cf_json.h"
#include "cf_log.h"
#include "tkms.h"
#include "tproxy.h"

#define POLL_SECONDS 30

struct nodes {
    struct tkms f; /* node A is f.api */
    struct t_cofferd d_b;
    struct tapi b; /* node B */
};

static int setup(void **state)
{
    struct nodes *n = calloc(1, sizeof(*n));
    assert_non_null(n);
    tkms_init(&n->f, NULL);
    tkms_start_node(&n->f, &n->d_b, NULL);
    n->b = tkms_node(&n->f, &n->d_b);
    *state = n;
    return 0;
}

static int teardown(void **state)
{
    struct nodes *n = *state;
    int rc_b = t_cofferd_stop(&n->d_b);
    int rc_a = tkms_fini(&n->f);
    free(n);
    assert_int_equal(rc_a, 0);
    assert_int_equal(rc_b, 0);
    return 0;
}

/* A service token and its Basic header. */
struct svc_token {
    char username[200];
    char *token;
    struct tkms_creds basic;
};

static void svc_token_new(const struct tkms *f, const char *sid, struct svc_token *t)
{
    tkms_username(2, "service", sid, t->username, sizeof(t->username));
    t->token = tkms_token(f, 2, "service", sid);
    tkms_creds(TKMS_BASIC, t->username, t->token, &t->basic);
}

static void svc_token_free(struct svc_token *t)
{
    free(t->token);
    tkms_creds_free(&t->basic);
}

/* The bundle of sid on node api as t (asserts 200; json_decref it); its ETag in etag. */
static json_t *bundle(const struct tapi *api, const struct svc_token *t, const char *sid,
                      const char *inm, char etag[64])
{
    struct t_resp r;
    const char *h[] = { t->basic.h[0], inm, NULL };

    tapi_send_h(api, h, "GET", NULL, &r, "/v1/services/%s?metadata_only=False", sid);
    json_t *b = tapi_ok(&r);
    if (etag != NULL && !t_resp_header(&r, "ETag", etag, 64))
        fail_msg("a bundle carries no ETag");
    t_resp_free(&r);
    return b;
}

/* Asserts that the credential named name holds exactly pairs in the bundle of sid on node B,
 * fetched right now (with If-None-Match: the tag B gave before, if any). */
static void b_sees(const struct nodes *n, const struct svc_token *t, const char *sid,
                   const char *name, const char *pairs, char etag[64])
{
    char inm[128];
    if (etag[0] != '\0')
        snprintf(inm, sizeof(inm), "If-None-Match: %s", etag);
    json_t *b = bundle(&n->b, t, sid, etag[0] != '\0' ? inm : NULL, etag);
    json_t *got = tkms_bundle_pairs(b, name);
    if (got == NULL)
        fail_msg("node B's bundle does not list %s", name);
    tapi_assert_json(got, pairs);
    json_decref(b);
}

static void test_credential_updates_through_a_are_in_bs_next_bundle(void **state)
{
    struct nodes *n = *state;
    struct tkms *f = &n->f;
    char sid[64], name[64], id[TAPI_ID_LEN], etag[64] = "";
    struct svc_token t;

    tapi_name(name, sizeof(name), "two-");
    tapi_cred_new(&f->api, name, "{\"pw\": \"value-0\"}", id);
    tapi_name(sid, sizeof(sid), "svc-two-");
    const char *ids[] = { id, NULL };
    tapi_svc_map(&f->api, sid, ids);
    svc_token_new(f, sid, &t);
    b_sees(n, &t, sid, name, "{\"pw\": \"value-0\"}", etag); /* B's caches are warm now */
    json_decref(bundle(&n->b, &t, sid, NULL, NULL));

    for (int i = 1; i <= 4; i++) {
        char body[128], want[64];
        snprintf(body, sizeof(body), "{\"credential_pairs\": {\"pw\": \"value-%d\"}}", i);
        snprintf(want, sizeof(want), "{\"pw\": \"value-%d\"}", i);
        tapi_cred_put(&f->api, id, body);
        print_message("update %d\n", i);
        b_sees(n, &t, sid, name, want, etag); /* never the old value, never a 304 */
    }
    /* a revert through A too */
    struct t_resp r;
    tapi_revert(&f->api, f->api.admin, &r, "/v1/credentials/%s/1", id);
    json_decref(tapi_ok(&r));
    t_resp_free(&r);
    b_sees(n, &t, sid, name, "{\"pw\": \"value-0\"}", etag);
    svc_token_free(&t);
}

static void test_mapping_changes_through_a_are_in_bs_next_bundle(void **state)
{
    struct nodes *n = *state;
    struct tkms *f = &n->f;
    char sid[64], n1[64], n2[64], a[TAPI_ID_LEN], b[TAPI_ID_LEN], etag[64];
    struct svc_token t;

    tapi_name(n1, sizeof(n1), "map-1-");
    tapi_cred_new(&f->api, n1, "{\"one\": \"mapped-1\"}", a);
    tapi_name(n2, sizeof(n2), "map-2-");
    tapi_cred_new(&f->api, n2, "{\"two\": \"mapped-2\"}", b);
    tapi_name(sid, sizeof(sid), "svc-map-");
    const char *only_a[] = { a, NULL }, *both[] = { a, b, NULL }, *only_b[] = { b, NULL };
    tapi_svc_map(&f->api, sid, only_a);
    svc_token_new(f, sid, &t);

    json_t *s = bundle(&n->b, &t, sid, NULL, etag);
    assert_null(tkms_bundle_pairs(s, n2));
    json_decref(s);

    tapi_svc_map(&f->api, sid, both);
    char inm[128];
    snprintf(inm, sizeof(inm), "If-None-Match: %s", etag);
    s = bundle(&n->b, &t, sid, inm, etag);
    tapi_assert_json(tkms_bundle_pairs(s, n1), "{\"one\": \"mapped-1\"}");
    tapi_assert_json(tkms_bundle_pairs(s, n2), "{\"two\": \"mapped-2\"}");
    json_decref(s);

    tapi_svc_map(&f->api, sid, only_b);
    snprintf(inm, sizeof(inm), "If-None-Match: %s", etag);
    s = bundle(&n->b, &t, sid, inm, etag);
    assert_null(tkms_bundle_pairs(s, n1));
    tapi_assert_json(tkms_bundle_pairs(s, n2), "{\"two\": \"mapped-2\"}");
    json_decref(s);

    /* both nodes compute the same tag from the database: A's tag is a 304 on B */
    char tag_a[64], tag_b[64];
    json_decref(bundle(&f->api, &t, sid, NULL, tag_a));
    json_decref(bundle(&n->b, &t, sid, NULL, tag_b));
    assert_string_equal(tag_a, tag_b);
    snprintf(inm, sizeof(inm), "If-None-Match: %s", tag_a);
    struct t_resp r;
    const char *h[] = { t.basic.h[0], inm, NULL };
    tapi_send_h(&n->b, h, "GET", NULL, &r, "/v1/services/%s?metadata_only=False", sid);
    assert_int_equal(r.status, 304);
    t_resp_free(&r);

    /* the kill switch: a credential disabled through A delivers nothing through B */
    tapi_cred_put(&f->api, b, "{\"enabled\": false}");
    snprintf(inm, sizeof(inm), "If-None-Match: %s", etag);
    s = bundle(&n->b, &t, sid, inm, etag);
    tapi_assert_json(tkms_bundle_pairs(s, n2), "{}");
    json_decref(s);
    svc_token_free(&t);
}

static void test_a_service_disabled_through_a_is_refused_by_b_at_once(void **state)
{
    struct nodes *n = *state;
    struct tkms *f = &n->f;
    char sid[64], name[64], id[TAPI_ID_LEN];
    struct svc_token t;
    struct t_resp r;

    tapi_name(name, sizeof(name), "dis-two-");
    tapi_cred_new(&f->api, name, "{\"pw\": \"disabled-on-b\"}", id);
    tapi_name(sid, sizeof(sid), "svc-dis-two-");
    const char *ids[] = { id, NULL };
    tapi_svc_map(&f->api, sid, ids);
    svc_token_new(f, sid, &t);
    json_decref(bundle(&n->b, &t, sid, NULL, NULL));

    tapi_svc_put(&f->api, sid, "{\"enabled\": false}");
    const char *h[] = { t.basic.h[0], "If-None-Match: *", NULL };
    tapi_send_h(&n->b, h, "GET", NULL, &r, "/v1/services/%s", sid);
    tapi_check_error(&r, 403, "service_disabled");
    tapi_assert_no_secret(r.body.data, "disabled-on-b", "a 403 body");
    tkms_audit(&n->b, &r, "service", sid, "service.get", sid, "denied", "service_disabled");
    t_resp_free(&r);

    tapi_svc_put(&f->api, sid, "{\"enabled\": true}");
    json_t *s = bundle(&n->b, &t, sid, NULL, NULL);
    tapi_assert_json(tkms_bundle_pairs(s, name), "{\"pw\": \"disabled-on-b\"}");
    json_decref(s);
    svc_token_free(&t);
}

static void test_a_principals_role_changed_or_removed_through_a_takes_effect_on_b(void **state)
{
    struct nodes *n = *state;
    struct tkms *f = &n->f;
    char sid[64], name[64], id[TAPI_ID_LEN], person[64], user[200], full[160], meta[160];
    struct tkms_creds c;
    struct t_resp r;

    tapi_name(name, sizeof(name), "role-two-");
    tapi_cred_new(&f->api, name, "{\"pw\": \"role-two-secret\"}", id);
    tapi_name(sid, sizeof(sid), "svc-role-two-");
    const char *ids[] = { id, NULL };
    tapi_svc_map(&f->api, sid, ids);
    tapi_name(person, sizeof(person), "pat-");
    tkms_username(2, "user", person, user, sizeof(user));
    char *tok = tkms_token(f, 2, "user", person);
    tkms_creds(TKMS_BASIC, user, tok, &c);
    const char *h[] = { c.h[0], NULL };
    snprintf(full, sizeof(full), "/v1/services/%s?metadata_only=False", sid);
    snprintf(meta, sizeof(meta), "/v1/services/%s?metadata_only=True", sid);

    /* B knows the person has no role (and may cache that) */
    tapi_send_h(&n->b, h, "GET", NULL, &r, "%s", meta);
    tapi_check_error(&r, 403, "forbidden");
    t_resp_free(&r);

    tapi_send(&f->api, f->api.admin, "PUT", "{\"role\": \"admin\"}", &r, "/v1/principals/%s",
              person);
    json_decref(tapi_ok(&r));
    t_resp_free(&r);
    long st = tkms_poll_status(&n->b, h, full, 200, POLL_SECONDS);
    if (st != 200)
        fail_msg("a role given through A never took effect on B (still %ld)", st);

    tapi_send(&f->api, f->api.admin, "PUT", "{\"role\": \"auditor\"}", &r, "/v1/principals/%s",
              person);
    json_decref(tapi_ok(&r));
    t_resp_free(&r);
    st = tkms_poll_status(&n->b, h, full, 403, POLL_SECONDS);
    if (st != 403)
        fail_msg("admin -> auditor through A never took effect on B (still %ld)", st);
    tapi_send_h(&n->b, h, "GET", NULL, &r, "%s", meta);
    json_decref(tapi_ok(&r));
    t_resp_free(&r);

    tapi_send(&f->api, f->api.admin, "DELETE", NULL, &r, "/v1/principals/%s", person);
    json_decref(tapi_ok(&r));
    t_resp_free(&r);
    st = tkms_poll_status(&n->b, h, meta, 403, POLL_SECONDS);
    if (st != 403)
        fail_msg("a principal removed through A kept its role on B (still %ld)", st);
    tapi_send_h(&n->b, h, "GET", NULL, &r, "%s", meta);
    tapi_check_error(&r, 403, "forbidden");
    t_resp_free(&r);

    tkms_creds_free(&c);
    free(tok);
}

static void test_an_api_token_revoked_through_a_stops_working_on_b(void **state)
{
    struct nodes *n = *state;
    struct tkms *f = &n->f;
    char name[64], auth[128];
    struct t_resp r;

    tapi_name(name, sizeof(name), "bot-");
    char *body = tapi_printf("{\"name\": \"%s\", \"role\": \"auditor\"}", name);
    tapi_send(&f->api, f->api.admin, "POST", body, &r, "/v1/tokens");
    free(body);
    if (r.status != 201)
        fail_msg("POST /v1/tokens: expected 201, got %ld: %.300s", r.status, r.body.data);
    json_t *tok = tapi_json(&r);
    t_resp_free(&r);
    snprintf(auth, sizeof(auth), "Authorization: Bearer %s", tapi_str(tok, "token"));
    const char *h[] = { auth, NULL };

    tapi_send_h(&n->b, h, "GET", NULL, &r, "/v1/services"); /* B knows the token now */
    json_decref(tapi_ok(&r));
    t_resp_free(&r);
    tapi_send(&f->api, f->api.admin, "DELETE", NULL, &r, "/v1/tokens/%s", tapi_str(tok, "id"));
    json_decref(tapi_ok(&r));
    t_resp_free(&r);
    long st = tkms_poll_status(&n->b, h, "/v1/services", 401, POLL_SECONDS);
    if (st != 401)
        fail_msg("a token revoked through A kept working on B (still %ld)", st);
    tapi_send_h(&n->b, h, "GET", NULL, &r, "/v1/services");
    tapi_check_error(&r, 401, "authentication_failed");
    t_resp_free(&r);
    json_decref(tok);
}

/* A credential write waits on KMS outside the catalog write lock (issue 5 review): while node
 * C's update is stalled inside a KMS call (its KMS traffic goes through a relay that holds it),
 * node A creates a credential and writes a service; then C's update completes. */
static void test_a_write_stalled_on_kms_holds_up_no_write_on_another_node(void **state)
{
    struct nodes *n = *state;
    struct tkms *f = &n->f;
    struct tproxy *px = tproxy_start(f->moto_url);
    char env[128], name[64], other[64], sid[64], id[TAPI_ID_LEN];
    struct t_cofferd d_c;
    struct t_resp created, put;

    snprintf(env, sizeof(env), "AWS_ENDPOINT_URL_KMS=%s", tproxy_url(px));
    char *const extra[] = { env, NULL };
    tkms_start_node(f, &d_c, extra);
    struct tapi c = tkms_node(f, &d_c);
    tapi_name(name, sizeof(name), "stall-");
    tapi_cred_new(&c, name, "{\"pw\": \"v1\"}", id); /* through the relay, not held yet */

    tproxy_hold(px);
    struct tapi_call upd = { .method = "PUT", .body = "{\"credential_pairs\": {\"pw\": \"v2\"}}" };
    snprintf(upd.path, sizeof(upd.path), "/v1/credentials/%s", id);
    struct tapi_async *pending = tapi_call_start(&c, &upd);
    bool stalled = tproxy_wait_held(px, POLL_SECONDS); /* C is inside a KMS call now */

    tapi_name(other, sizeof(other), "free-");
    char *body = tapi_printf("{\"name\": \"%s\", \"credential_pairs\": {\"k\": \"v\"}}", other);
    tapi_send(&f->api, f->api.admin, "POST", body, &created, "/v1/credentials");
    tapi_name(sid, sizeof(sid), "svc-free-");
    tapi_send(&f->api, f->api.admin, "PUT", "{\"credentials\": [], \"enabled\": true}", &put,
              "/v1/services/%s", sid);
    bool still_stalled = !tapi_call_done(pending);

    tproxy_release(px);
    tapi_call_wait(pending);
    int rc = t_cofferd_stop(&d_c);
    tproxy_stop(px);
    free(body);

    assert_true(stalled);
    if (created.status != 200 || put.status != 200)
        fail_msg("writes on A waited for C's KMS call: create %ld %.200s, service %ld %.200s",
                 created.status, (const char *)created.body.data, put.status,
                 (const char *)put.body.data);
    assert_true(still_stalled); /* A's writes did not wait for C's to finish */
    if (upd.status != 200)
        fail_msg("C's update after the stall: %ld %.300s", upd.status, upd.resp.data);
    assert_int_equal(tapi_cred_revision(&f->api, id), 2);
    json_t *pairs = tapi_cred_pairs(&f->api, id);
    tapi_assert_json(pairs, "{\"pw\": \"v2\"}");
    json_decref(pairs);
    assert_int_equal(rc, 0);
    cf_buf_free(&upd.resp);
    t_resp_free(&created);
    t_resp_free(&put);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_credential_updates_through_a_are_in_bs_next_bundle),
        cmocka_unit_test(test_mapping_changes_through_a_are_in_bs_next_bundle),
        cmocka_unit_test(test_a_service_disabled_through_a_is_refused_by_b_at_once),
        cmocka_unit_test(test_a_principals_role_changed_or_removed_through_a_takes_effect_on_b),
        cmocka_unit_test(test_an_api_token_revoked_through_a_stops_working_on_b),
        cmocka_unit_test(test_a_write_stalled_on_kms_holds_up_no_write_on_another_node),
    };

    cf_json_init();
    cf_log_set_level(CF_LOG_ERROR);
    return cmocka_run_group_tests(tests, setup, teardown);
}
