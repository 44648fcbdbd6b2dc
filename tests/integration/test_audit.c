/* test_audit.c - the access log's rows (API.md 8.2): one row for every decision with every field
 * right, read back through the auditors' API; fail closed when the row cannot be written; the
 * access-log metrics (8.5); GET /v1/audit/verify on an intact chain and `cofferd audit verify`
 * (9.3). One cofferd on a fresh database for the whole file. */
#include <pwd.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>
#include <jansson.h>
#include <libpq-fe.h>

#include "cf_json.h"
#include "taudit.h"

#define ANON "anonymous"
#define TOKN "token"
#define LOOP "127.0.0.1"

/* A credential with canary values, and a service mapping it, made by the admin. */
struct fixture_data {
    char cred[TAPI_ID_LEN];
    char sid[64];
    char canary[64];
};

static void make_data(const struct taudit *f, struct fixture_data *d)
{
    char name[64];

    tapi_name(name, sizeof(name), "audit-cred-");
    tapi_name(d->canary, sizeof(d->canary), "canary-value-");
    char *pairs = tapi_printf("{\"user\": \"u\", \"password\": \"%s\"}", d->canary);
    tapi_cred_new(&f->api, name, pairs, d->cred);
    free(pairs);
    tapi_name(d->sid, sizeof(d->sid), "audit-svc-");
    const char *ids[] = { d->cred, NULL };
    tapi_svc_map(&f->api, d->sid, ids);
}

/* Checks the row of r and collects what differs under label. */
static void row_case(const struct taudit *f, struct cf_buf *problems, const char *label,
                     const struct t_resp *r, long status, const struct taudit_want *w)
{
    if (r->status != status) {
        tapi_collect(
            problems, label,
            tapi_printf("expected status %ld, got %ld: %.300s", status, r->status, r->body.data));
        return;
    }
    tapi_collect(problems, label, taudit_row_diff(f, r, w));
}

/* --- one row per decision, every field ------------------------------------------------------ */

static void test_credential_create_read_update_and_revert_are_rows_with_every_field(void **state)
{
    struct taudit *f = *state;
    struct cf_buf problems = { 0 };
    char name[64], id[TAPI_ID_LEN];
    struct t_resp r;

    tapi_name(name, sizeof(name), "rows-cred-");
    char *body =
        tapi_printf("{\"name\": \"%s\", \"credential_pairs\": {\"k\": \"v-93ksl2\"}}", name);
    tapi_send(&f->api, f->api.admin, "POST", body, &r, "/v1/credentials");
    json_t *c = tapi_ok(&r);
    snprintf(id, sizeof(id), "%s", tapi_str(c, "id"));
    json_decref(c);
    struct taudit_want w = { TOKN, TAPI_ADMIN_ACTOR, LOOP, "credential.create", "credential", id,
                             1,    "allowed",        "ok" };
    row_case(f, &problems, "credential create", &r, 200, &w);
    t_resp_free(&r);

    tapi_send(&f->api, f->api.admin, "GET", NULL, &r, "/v1/credentials/%s", id);
    assert_non_null(strstr(r.body.data, "v-93ksl2")); /* an allowed read of the pairs */
    w.action = "credential.get";
    row_case(f, &problems, "credential get (pairs)", &r, 200, &w);
    t_resp_free(&r);

    tapi_send(&f->api, f->api.admin, "PUT", "{\"credential_pairs\": {\"k\": \"v2-93ksl2\"}}", &r,
              "/v1/credentials/%s", id);
    w.action = "credential.update";
    w.revision = 2;
    row_case(f, &problems, "credential update", &r, 200, &w);
    t_resp_free(&r);

    tapi_revert(&f->api, f->api.admin, &r, "/v1/credentials/%s/1", id);
    w.action = "credential.revert";
    w.revision = 3; /* the revision written */
    row_case(f, &problems, "credential revert", &r, 200, &w);
    t_resp_free(&r);

    tapi_send(&f->api, f->api.admin, "GET", NULL, &r, "/v1/credentials/%s?metadata_only=true", id);
    w.action = "credential.get_metadata";
    row_case(f, &problems, "credential get metadata_only", &r, 200, &w);
    t_resp_free(&r);

    tapi_send(&f->api, f->api.admin, "GET", NULL, &r, "/v1/archive/credentials/%s", id);
    w = (struct taudit_want){
        TOKN,     TAPI_ADMIN_ACTOR, LOOP, "credential.revisions", "credential", id,
        TAPI_ANY, "allowed",        "ok"
    };
    row_case(f, &problems, "credential revisions", &r, 200, &w);
    t_resp_free(&r);
    free(body);
    tapi_collect_end(&problems);
}

static void test_service_writes_and_bundle_reads_are_rows(void **state)
{
    struct taudit *f = *state;
    struct cf_buf problems = { 0 };
    struct fixture_data d;
    char sid[64], etag[128], inm[160];
    struct t_resp r;

    make_data(f, &d);
    tapi_name(sid, sizeof(sid), "rows-svc-");
    tapi_send(&f->api, f->api.admin, "PUT", "{\"credentials\": []}", &r, "/v1/services/%s", sid);
    struct taudit_want w = { TOKN, TAPI_ADMIN_ACTOR, LOOP, "service.create", "service", sid,
                             1,    "allowed",        "ok" };
    row_case(f, &problems, "service create", &r, 200, &w);
    t_resp_free(&r);

    char *map = tapi_printf("{\"credentials\": [\"%s\"]}", d.cred);
    tapi_send(&f->api, f->api.admin, "PUT", map, &r, "/v1/services/%s", sid);
    w.action = "service.update";
    w.revision = 2;
    row_case(f, &problems, "service update", &r, 200, &w);
    t_resp_free(&r);

    tapi_send(&f->api, f->api.admin, "GET", NULL, &r, "/v1/services/%s", sid);
    assert_non_null(strstr(r.body.data, d.canary)); /* a decrypted bundle */
    if (!t_resp_header(&r, "ETag", etag, sizeof(etag)))
        fail_msg("a bundle without ETag");
    w.action = "service.get";
    row_case(f, &problems, "bundle read by the admin", &r, 200, &w);
    t_resp_free(&r);

    snprintf(inm, sizeof(inm), "If-None-Match: %s", etag);
    const char *h304[] = { f->api.admin, inm, NULL };
    tapi_send_h(&f->api, h304, "GET", NULL, &r, "/v1/services/%s", sid);
    w.reason = "not_modified"; /* API.md 8.3: the 304 is audited */
    row_case(f, &problems, "bundle 304", &r, 304, &w);
    t_resp_free(&r);

    char *svc = taudit_service_auth(f, sid);
    tapi_send(&f->api, svc, "GET", NULL, &r, "/v1/services/%s", sid);
    assert_non_null(strstr(r.body.data, d.canary));
    w = (struct taudit_want){ "service", sid, LOOP,      "service.get", "service",
                              sid,       2,   "allowed", "ok" };
    row_case(f, &problems, "bundle read by its own service", &r, 200, &w);
    t_resp_free(&r);

    tapi_send(&f->api, f->api.auditor, "GET", NULL, &r, "/v1/services/%s?metadata_only=true", sid);
    w = (struct taudit_want){
        TOKN, TAPI_AUDITOR_ACTOR, LOOP, "service.get_metadata", "service", sid, 2, "allowed", "ok"
    };
    row_case(f, &problems, "service metadata read by the auditor", &r, 200, &w);
    t_resp_free(&r);

    tapi_revert(&f->api, f->api.admin, &r, "/v1/services/%s/1", sid);
    w = (struct taudit_want){ TOKN, TAPI_ADMIN_ACTOR, LOOP, "service.revert", "service", sid,
                              3,    "allowed",        "ok" };
    row_case(f, &problems, "service revert", &r, 200, &w);
    t_resp_free(&r);

    tapi_send(&f->api, f->api.admin, "GET", NULL, &r, "/v1/services");
    w = (struct taudit_want){ TOKN,           TAPI_ADMIN_ACTOR, LOOP,
                              "service.list", "service|<null>", NULL,
                              TAPI_ANY,       "allowed",        "ok" };
    row_case(f, &problems, "service list", &r, 200, &w);
    t_resp_free(&r);
    free(svc);
    free(map);
    tapi_collect_end(&problems);
}

static void test_refused_requests_are_denied_rows(void **state)
{
    struct taudit *f = *state;
    struct cf_buf problems = { 0 };
    struct fixture_data d;
    char other[64];
    struct t_resp r;

    make_data(f, &d);
    /* an auditor may not read a decrypted bundle (API.md 2.5) */
    tapi_send(&f->api, f->api.auditor, "GET", NULL, &r, "/v1/services/%s", d.sid);
    tapi_assert_no_secret(r.body.data, d.canary, "a refused bundle");
    struct taudit_want w = { TOKN,  TAPI_AUDITOR_ACTOR, LOOP,     "service.get", "service",
                             d.sid, TAPI_ANY,           "denied", "forbidden" };
    row_case(f, &problems, "auditor's bundle read", &r, 403, &w);
    t_resp_free(&r);

    /* a service asking for another service's bundle */
    tapi_name(other, sizeof(other), "other-svc-");
    char *svc = taudit_service_auth(f, other);
    tapi_send(&f->api, svc, "GET", NULL, &r, "/v1/services/%s", d.sid);
    tapi_assert_no_secret(r.body.data, d.canary, "a refused bundle");
    w = (struct taudit_want){ "service", other,    LOOP,     "service.get", "service",
                              d.sid,     TAPI_ANY, "denied", "forbidden" };
    row_case(f, &problems, "another service's bundle", &r, 403, &w);
    t_resp_free(&r);

    tapi_send(&f->api, svc, "GET", NULL, &r, "/v1/credentials/%s", d.cred);
    tapi_assert_no_secret(r.body.data, d.canary, "a credential refused to a service");
    /* the full read was asked for (no metadata_only): credential.get, refused */
    w = (struct taudit_want){ "service", other,    LOOP,     "credential.get", "credential",
                              d.cred,    TAPI_ANY, "denied", "forbidden" };
    row_case(f, &problems, "a service reading a credential", &r, 403, &w);
    t_resp_free(&r);

    /* an auditor's writes */
    tapi_send(&f->api, f->api.auditor, "PUT", "{\"credential_pairs\": {\"k\": \"nope\"}}", &r,
              "/v1/credentials/%s", d.cred);
    w = (struct taudit_want){
        TOKN,   TAPI_AUDITOR_ACTOR, LOOP,     "credential.update", "credential",
        d.cred, TAPI_ANY,           "denied", "forbidden"
    };
    row_case(f, &problems, "auditor's credential update", &r, 403, &w);
    t_resp_free(&r);
    tapi_send(&f->api, f->api.auditor, "POST",
              "{\"name\": \"x\", \"credential_pairs\": {\"k\": 1}}", &r, "/v1/credentials");
    w.action = "credential.create";
    w.resource_id = NULL;
    row_case(f, &problems, "auditor's credential create", &r, 403, &w);
    t_resp_free(&r);
    tapi_send(&f->api, f->api.auditor, "PUT", "{\"credentials\": []}", &r, "/v1/services/%s",
              d.sid);
    w = (struct taudit_want){ TOKN,  TAPI_AUDITOR_ACTOR, LOOP,     "service.update", "service",
                              d.sid, TAPI_ANY,           "denied", "forbidden" };
    row_case(f, &problems, "auditor's service update", &r, 403, &w);
    t_resp_free(&r);

    /* nothing presented */
    tapi_send(&f->api, NULL, "GET", NULL, &r, "/v1/credentials/%s", d.cred);
    w = (struct taudit_want){ ANON,   "",       LOOP,     "credential.get", "credential",
                              d.cred, TAPI_ANY, "denied", "unauthenticated" };
    row_case(f, &problems, "unauthenticated credential read", &r, 401, &w);
    t_resp_free(&r);
    tapi_send(&f->api, NULL, "GET", NULL, &r, "/v1/services/%s", d.sid);
    w = (struct taudit_want){ ANON,  "",       LOOP,     "service.get",    "service",
                              d.sid, TAPI_ANY, "denied", "unauthenticated" };
    row_case(f, &problems, "unauthenticated bundle read", &r, 401, &w);
    t_resp_free(&r);
    free(svc);
    tapi_collect_end(&problems);
}

static void test_failed_authentications_are_anonymous_rows_without_token_material(void **state)
{
    struct taudit *f = *state;
    struct cf_buf problems = { 0 };
    struct fixture_data d;
    struct t_resp r;
    char *d_err = NULL;
    const char *bad = "coffer_QmFkVG9rZW5CYWRUb2tlbkJhZFRva2VuQmFkVG9rZW4x";
    char *bearer = tapi_printf("Authorization: Bearer %s", bad);

    make_data(f, &d);
    tapi_send(&f->api, bearer, "GET", NULL, &r, "/v1/credentials/%s", d.cred);
    tapi_check_error(&r, 401, "authentication_failed");
    tapi_assert_no_secret(r.body.data, d.canary, "a 401 body");
    struct taudit_want w = { ANON,   "",       LOOP,     "credential.get",   "credential",
                             d.cred, TAPI_ANY, "denied", "api_token_invalid" };
    row_case(f, &problems, "unknown API token", &r, 401, &w);
    json_t *ev = taudit_event_get(f, &r, &d_err);
    if (ev != NULL) {
        char *text = json_dumps(ev, JSON_COMPACT);
        tapi_assert_absent(text, bad, "the access-log row of a bad token");
        tapi_assert_absent(text, bad + 7, "the access-log row of a bad token");
        cf_json_free_str(text);
    }
    free(d_err);
    json_decref(ev);
    t_resp_free(&r);

    /* a kmsauth token that does not decrypt: the claimed username is the actor */
    char *basic = taudit_basic_header("2/service/forged-svc", "AAAAAAAAAAAAAAAAAAAAAAAA");
    tapi_send(&f->api, basic, "GET", NULL, &r, "/v1/services/%s", d.sid);
    tapi_check_error(&r, 401, "authentication_failed");
    w = (struct taudit_want){
        ANON,     "2/service/forged-svc", LOOP, "service.get", "service", d.sid, TAPI_NULL,
        "denied", "kmsauth_decrypt"
    };
    row_case(f, &problems, "kmsauth token that does not decrypt", &r, 401, &w);
    t_resp_free(&r);
    free(basic);

    basic = taudit_basic_header("a/b", "AAAA");
    tapi_send(&f->api, basic, "GET", NULL, &r, "/v1/user/email");
    w = (struct taudit_want){ ANON, "a/b",     LOOP,     "identity.get",        "identity",
                              NULL, TAPI_NULL, "denied", "kmsauth_bad_username" };
    row_case(f, &problems, "malformed kmsauth username", &r, 401, &w);
    t_resp_free(&r);
    free(basic);
    free(bearer);
    tapi_collect_end(&problems);
}

static void test_cofferd_token_create_and_the_token_api_are_rows(void **state)
{
    struct taudit *f = *state;
    struct cf_buf problems = { 0 };
    char name[64], tok[64], sql[256], actor[160];
    struct t_resp r;
    const struct passwd *pw = getpwuid(geteuid());

    assert_non_null(pw);
    snprintf(actor, sizeof(actor), "cofferd:%s", pw->pw_name);
    tapi_name(name, sizeof(name), "cli-tok-");
    t_token_create(&f->api.db, "auditor", name, tok);
    snprintf(sql, sizeof(sql), "SELECT id FROM api_tokens WHERE name = '%s'", name);
    char *tok_id = tapi_sql(&f->api, sql);
    tapi_send(&f->api, f->api.auditor, "GET", NULL, &r,
              "/v1/audit/events?action=token.create&resource_id=%s", tok_id);
    json_t *b = tapi_ok(&r);
    json_t *evs = json_object_get(b, "events");
    assert_int_equal(json_array_size(evs), 1);
    struct taudit_want w = { "system",  actor,     "local", "token.create", "token", tok_id,
                             TAPI_NULL, "allowed", "ok" };
    tapi_collect(&problems, "cofferd token create", taudit_event_diff(json_array_get(evs, 0), &w));
    char *text = json_dumps(evs, JSON_COMPACT);
    tapi_assert_absent(text, tok, "the row of cofferd token create");
    cf_json_free_str(text);
    json_decref(b);
    t_resp_free(&r);

    tapi_name(name, sizeof(name), "api-tok-");
    char *body = tapi_printf("{\"name\": \"%s\", \"role\": \"auditor\"}", name);
    tapi_send(&f->api, f->api.admin, "POST", body, &r, "/v1/tokens");
    assert_int_equal(r.status, 201);
    json_t *made = tapi_json(&r);
    char *made_id = strdup(tapi_str(made, "id"));
    char *log = tapi_sql(&f->api, "SELECT string_agg(t::text, ' ') FROM audit_log t");
    tapi_assert_absent(log, tapi_str(made, "token"), "audit_log");
    free(log);
    json_decref(made);
    w = (struct taudit_want){ TOKN,      TAPI_ADMIN_ACTOR, LOOP, "token.create", "token", made_id,
                              TAPI_NULL, "allowed",        "ok" };
    row_case(f, &problems, "POST /v1/tokens", &r, 201, &w);
    t_resp_free(&r);

    tapi_send(&f->api, f->api.admin, "GET", NULL, &r, "/v1/tokens");
    w = (struct taudit_want){ TOKN, TAPI_ADMIN_ACTOR, LOOP,      "token.list", "token",
                              NULL, TAPI_NULL,        "allowed", "ok" };
    row_case(f, &problems, "GET /v1/tokens", &r, 200, &w);
    t_resp_free(&r);

    tapi_send(&f->api, f->api.admin, "DELETE", NULL, &r, "/v1/tokens/%s", made_id);
    w = (struct taudit_want){ TOKN,      TAPI_ADMIN_ACTOR, LOOP, "token.revoke", "token", made_id,
                              TAPI_NULL, "allowed",        "ok" };
    row_case(f, &problems, "DELETE /v1/tokens/<id>", &r, 200, &w);
    t_resp_free(&r);

    tapi_send(&f->api, f->api.auditor, "POST", body, &r, "/v1/tokens");
    w = (struct taudit_want){ TOKN, TAPI_AUDITOR_ACTOR, LOOP,     "token.create", "token",
                              NULL, TAPI_ANY,           "denied", "forbidden" };
    row_case(f, &problems, "POST /v1/tokens by an auditor", &r, 403, &w);
    t_resp_free(&r);

    tapi_send(&f->api, f->api.admin, "PUT", "{\"role\": \"auditor\"}", &r,
              "/v1/principals/audit-person");
    w = (struct taudit_want){ TOKN,        TAPI_ADMIN_ACTOR, LOOP,     "principal.set",
                              "principal", "audit-person",   TAPI_ANY, "allowed",
                              "ok" };
    row_case(f, &problems, "PUT /v1/principals/<name>", &r, 200, &w);
    t_resp_free(&r);
    free(body);
    free(made_id);
    free(tok_id);
    tapi_collect_end(&problems);
}

/* --- exactly one row per request; none for health, metrics, unmatched paths ----------------- */

static void
test_every_request_writes_exactly_one_row_and_health_metrics_and_misses_none(void **state)
{
    struct taudit *f = *state;
    struct cf_buf problems = { 0 };
    struct t_resp r;
    const char *text_plain[] = { f->api.admin, "Content-Type: text/plain", NULL };
    const struct {
        const char *auth;
        const char *method;
        const char *path;
        long status;
    } calls[] = {
        { f->api.admin, "GET", "/v1/user/email", 200 },
        { f->api.admin, "POST", "/v1/user/email", 200 },
        { f->api.auditor, "GET", "/v1/client_config", 200 },
        { f->api.admin, "GET", "/v1/credentials", 200 },
        { f->api.admin, "GET", "/v1/services", 200 },
        { f->api.admin, "GET", "/v1/credentials/0123456789abcdef0123456789abcdef", 404 },
        { f->api.admin, "GET", "/v1/services/no-such-service-x1", 404 },
        { f->api.admin, "GET", "/v1/value_generator", 501 },
        { f->api.auditor, "GET", "/v1/tokens", 403 },
        { NULL, "GET", "/v1/services", 401 },
        { f->api.auditor, "GET", "/v1/audit/events?limit=1", 200 },
        { f->api.auditor, "GET", "/v1/audit/verify", 200 },
        { f->api.auditor, "GET", "/v1/audit/events?limit=0", 400 },
    };
    size_t n = sizeof(calls) / sizeof(calls[0]);

    int64_t before = taudit_max_id(f);
    for (size_t i = 0; i < n; i++) {
        char label[128], rid[64], sql[256];
        snprintf(label, sizeof(label), "%s %s", calls[i].method, calls[i].path);
        tapi_send(&f->api, calls[i].auth, calls[i].method, NULL, &r, "%s", calls[i].path);
        if (r.status != calls[i].status)
            tapi_collect(&problems, label,
                         tapi_printf("expected %ld, got %ld", calls[i].status, r.status));
        assert_true(t_resp_header(&r, "X-Request-Id", rid, sizeof(rid)));
        snprintf(sql, sizeof(sql), "SELECT count(*) FROM audit_log WHERE request_id = '%s'", rid);
        long rows = tapi_count(&f->api, sql);
        if (rows != 1)
            tapi_collect(&problems, label, tapi_printf("%ld rows for its request id", rows));
        t_resp_free(&r);
    }
    tapi_send_h(&f->api, text_plain, "POST", "{}", &r, "/v1/user/email");
    if (r.status != 415)
        tapi_collect(&problems, "415", tapi_printf("expected 415, got %ld", r.status));
    t_resp_free(&r);
    int64_t after = taudit_max_id(f);
    if (after - before != (int64_t)n + 1)
        tapi_collect(
            &problems, "row count",
            tapi_printf("%zu requests wrote %lld rows", n + 1, (long long)(after - before)));

    const char *silent[] = { "/healthcheck", "/healthcheck/ready", "/metrics", "/nope",
                             "/v1/services/" };
    for (size_t i = 0; i < sizeof(silent) / sizeof(silent[0]); i++) {
        tapi_send(&f->api, f->api.admin, "GET", NULL, &r, "%s", silent[i]);
        t_resp_free(&r);
    }
    if (taudit_max_id(f) != after)
        tapi_collect(&problems, "health, metrics and unmatched paths",
                     tapi_printf("wrote %lld rows; API.md 8.2: none",
                                 (long long)(taudit_max_id(f) - after)));
    tapi_collect_end(&problems);
}

static void test_no_row_holds_a_secret_value_or_a_token(void **state)
{
    struct taudit *f = *state;
    struct fixture_data d;
    struct t_resp r;

    make_data(f, &d);
    tapi_send(&f->api, f->api.admin, "GET", NULL, &r, "/v1/services/%s", d.sid);
    assert_int_equal(r.status, 200);
    t_resp_free(&r);
    tapi_send(&f->api, f->api.admin, "GET", NULL, &r, "/v1/credentials/%s", d.cred);
    assert_int_equal(r.status, 200);
    t_resp_free(&r);
    char *all = tapi_sql(&f->api, "SELECT string_agg(t::text, chr(10) ORDER BY id) FROM "
                                  "audit_log t");
    assert_true(strlen(all) > 0);
    tapi_assert_no_secret(all, d.canary, "audit_log");
    tapi_assert_absent(all, f->api.admin_token, "audit_log");
    tapi_assert_absent(all, f->api.auditor_token, "audit_log");
    tapi_assert_absent(all, f->api.admin_token + 7, "audit_log");
    free(all);
}

/* --- metrics (API.md 8.5) ------------------------------------------------------------------- */

static double metric_or_fail(const struct taudit *f, const char *series)
{
    double v;
    char name[128], seen[1024] = "";
    size_t used = 0;

    if (taudit_metric(&f->api.d, series, &v))
        return v;
    /* the lines of the same metric name, to show what is there instead */
    snprintf(name, sizeof(name), "%.*s", (int)strcspn(series, "{ "), series);
    struct cf_buf text = { 0 };
    taudit_metrics_text(&f->api.d, &text);
    for (const char *p = strstr(text.data, name); p != NULL; p = strstr(p + 1, name)) {
        size_t len = strcspn(p, "\n");
        if ((p == text.data || p[-1] == '\n') && used + len + 3 < sizeof(seen))
            used += (size_t)snprintf(seen + used, sizeof(seen) - used, "  %.*s\n", (int)len, p);
    }
    cf_buf_free(&text);
    fail_msg("GET /metrics has no series %s (API.md 8.5); it prints instead:\n%s", series, seen);
    return 0;
}

static void test_metrics_count_events_by_result(void **state)
{
    struct taudit *f = *state;
    struct t_resp r;

    /* one request of each result first, so that both series exist */
    tapi_send(&f->api, f->api.admin, "GET", NULL, &r, "/v1/user/email");
    t_resp_free(&r);
    tapi_send(&f->api, NULL, "GET", NULL, &r, "/v1/user/email");
    t_resp_free(&r);
    double allowed0 = metric_or_fail(f, "coffer_audit_events_total{result=\"allowed\"}");
    double denied0 = metric_or_fail(f, "coffer_audit_events_total{result=\"denied\"}");
    for (int i = 0; i < 3; i++) {
        tapi_send(&f->api, f->api.admin, "GET", NULL, &r, "/v1/user/email");
        t_resp_free(&r);
    }
    for (int i = 0; i < 2; i++) {
        tapi_send(&f->api, NULL, "GET", NULL, &r, "/v1/user/email");
        t_resp_free(&r);
    }
    double allowed1 = metric_or_fail(f, "coffer_audit_events_total{result=\"allowed\"}");
    double denied1 = metric_or_fail(f, "coffer_audit_events_total{result=\"denied\"}");
    assert_true(allowed1 - allowed0 == 3.0);
    assert_true(denied1 - denied0 == 2.0);
}

/* The teardown of the tests that revoke INSERT on the log (even when they fail half-way). */
static int grant_insert_back(void **state)
{
    struct taudit *f = *state;
    t_sql_ok(f->api.db.super_url, "GRANT INSERT ON audit_log TO coffer_app", NULL, 0);
    return 0;
}

static void test_metrics_show_the_head_failures_and_batch_sizes(void **state)
{
    struct taudit *f = *state;
    struct t_resp r;
    char rid[64], sql[256];

    /* a row the database refuses (INSERT revoked): exactly one more write failure */
    double failures0 = metric_or_fail(f, "coffer_audit_write_failures_total");
    t_sql_ok(f->api.db.super_url, "REVOKE INSERT ON audit_log FROM coffer_app", NULL, 0);
    tapi_send(&f->api, f->api.admin, "GET", NULL, &r, "/v1/client_config");
    char *refused = tapi_error_diff(&r, 503, "audit_unavailable");
    t_resp_free(&r);
    t_sql_ok(f->api.db.super_url, "GRANT INSERT ON audit_log TO coffer_app", NULL, 0);
    if (refused != NULL)
        fail_msg("a request whose row cannot be written: %s", refused);
    double failures1 = metric_or_fail(f, "coffer_audit_write_failures_total");
    if (failures1 != failures0 + 1)
        fail_msg("coffer_audit_write_failures_total went from %.0f to %.0f over one refused row",
                 failures0, failures1);

    double batches0 = metric_or_fail(f, "coffer_audit_batch_size_count");
    double rows0 = metric_or_fail(f, "coffer_audit_batch_size_sum");
    tapi_send(&f->api, f->api.admin, "GET", NULL, &r, "/v1/client_config");
    assert_true(t_resp_header(&r, "X-Request-Id", rid, sizeof(rid)));
    t_resp_free(&r);
    snprintf(sql, sizeof(sql), "SELECT id FROM audit_log WHERE request_id = '%s'", rid);
    long last = tapi_count(&f->api, sql);
    double head = metric_or_fail(f, "coffer_audit_head_id");
    if (head != (double)last)
        fail_msg("coffer_audit_head_id is %.0f; the last row this node wrote is %ld", head, last);
    /* one request alone: one more batch of one row, and no failure */
    assert_true(metric_or_fail(f, "coffer_audit_batch_size_count") == batches0 + 1);
    assert_true(metric_or_fail(f, "coffer_audit_batch_size_sum") == rows0 + 1);
    assert_true(metric_or_fail(f, "coffer_audit_write_failures_total") == failures1);
}

/* --- fail closed ---------------------------------------------------------------------------- */

/* Sends and checks a 503 audit_unavailable that holds none of the canaries. */
static void refused_503(const struct taudit *f, struct cf_buf *problems, const char *label,
                        const char *auth, const char *method, const char *body, const char *path,
                        const char *const *canaries)
{
    struct t_resp r;

    tapi_send(&f->api, auth, method, body, &r, "%s", path);
    tapi_collect(problems, label, tapi_error_diff(&r, 503, "audit_unavailable"));
    for (size_t i = 0; canaries[i] != NULL; i++)
        tapi_assert_no_secret(r.body.data, canaries[i], label);
    tapi_assert_no_secret(r.headers.data, canaries[0], label);
    t_resp_free(&r);
}

static void test_without_insert_on_the_log_reads_and_writes_fail_closed(void **state)
{
    struct taudit *f = *state;
    struct cf_buf problems = { 0 };
    struct fixture_data d;
    char path[160], cname[64];
    struct t_resp r;

    make_data(f, &d);
    char *svc = taudit_service_auth(f, d.sid);
    tapi_send(&f->api, svc, "GET", NULL, &r, "/v1/services/%s", d.sid); /* warm every cache */
    assert_int_equal(r.status, 200);
    t_resp_free(&r);
    long rev = tapi_cred_revision(&f->api, d.cred);
    char *state_before = tapi_state(&f->api);
    int64_t head = taudit_max_id(f);
    double failures0 = metric_or_fail(f, "coffer_audit_write_failures_total");
    tapi_name(cname, sizeof(cname), "never-");
    const char *canaries[] = { d.canary, "canary2-x8d7f6", NULL };
    char *update = tapi_printf("{\"credential_pairs\": {\"password\": \"%s\"}}", canaries[1]);
    char *create = tapi_printf("{\"name\": \"%s\", \"credential_pairs\": {\"p\": \"%s\"}}", cname,
                               canaries[1]);

    t_sql_ok(f->api.db.super_url, "REVOKE INSERT ON audit_log FROM coffer_app", NULL, 0);
    snprintf(path, sizeof(path), "/v1/credentials/%s", d.cred);
    refused_503(f, &problems, "admin credential read", f->api.admin, "GET", NULL, path, canaries);
    refused_503(f, &problems, "admin credential update", f->api.admin, "PUT", update, path,
                canaries);
    refused_503(f, &problems, "admin credential create", f->api.admin, "POST", create,
                "/v1/credentials", canaries);
    snprintf(path, sizeof(path), "/v1/services/%s", d.sid);
    refused_503(f, &problems, "admin bundle read", f->api.admin, "GET", NULL, path, canaries);
    refused_503(f, &problems, "service's own bundle read", svc, "GET", NULL, path, canaries);
    refused_503(f, &problems, "service remap", f->api.admin, "PUT", "{\"credentials\": []}", path,
                canaries);
    snprintf(path, sizeof(path), "/v1/credentials/%s/1", d.cred);
    refused_503(f, &problems, "credential revert", f->api.admin, "PUT", NULL, path, canaries);
    refused_503(f, &problems, "unauthenticated request", NULL, "GET", NULL, "/v1/user/email",
                canaries);
    double failures1 = metric_or_fail(f, "coffer_audit_write_failures_total");
    t_sql_ok(f->api.db.super_url, "GRANT INSERT ON audit_log TO coffer_app", NULL, 0);

    if (tapi_cred_revision(&f->api, d.cred) != rev)
        tapi_collect(&problems, "revision", tapi_printf("a refused write moved the revision"));
    tapi_collect(&problems, "stored state", tapi_unchanged_diff(&f->api, state_before));
    if (taudit_max_id(f) != head)
        tapi_collect(&problems, "log", tapi_printf("rows appeared while INSERT was revoked"));
    if (!(failures1 > failures0))
        tapi_collect(&problems, "coffer_audit_write_failures_total",
                     tapi_printf("did not grow (%.0f then %.0f)", failures0, failures1));
    tapi_collect_end(&problems);

    /* writable again: the next read succeeds and the chain has no gap */
    tapi_send(&f->api, f->api.admin, "GET", NULL, &r, "/v1/credentials/%s", d.cred);
    assert_int_equal(r.status, 200);
    assert_non_null(strstr(r.body.data, d.canary));
    t_resp_free(&r);
    assert_int_equal(tapi_count(&f->api, "SELECT count(*) FROM audit_log"), taudit_max_id(f));
    json_t *v = taudit_verify(f, "");
    assert_true(tapi_bool(v, "ok"));
    json_decref(v);
    free(update);
    free(create);
    free(svc);
}

/* The chain head held by another transaction: the row cannot commit in time, so the request
 * fails closed (503, no secret) after COFFER_AUDIT_TIMEOUT_MS; once the lock goes, requests
 * succeed again and the chain has no gap and no duplicate. A second node with a short timeout
 * on the same database does the serving. */
static void test_a_row_that_cannot_commit_in_time_fails_the_request_closed(void **state)
{
    struct taudit *f = *state;
    struct fixture_data d;
    struct t_cofferd node;
    struct t_resp r;
    char url[256], rid[64], sql[256];
    char *const quick[] = { "COFFER_AUDIT_TIMEOUT_MS=1000", NULL };
    const char *h[] = { f->api.admin, NULL };

    make_data(f, &d);
    taudit_start_node(f, &node, quick);
    snprintf(url, sizeof(url), "%s/v1/credentials/%s", node.base_url, d.cred);
    t_http("GET", url, h, NULL, &r); /* warm */
    assert_int_equal(r.status, 200);
    t_resp_free(&r);

    PGconn *pg = PQconnectdb(f->api.db.super_url);
    assert_int_equal(PQstatus(pg), CONNECTION_OK);
    PGresult *res = PQexec(pg, "BEGIN");
    PQclear(res);
    res = PQexec(pg, "SELECT id FROM audit_head FOR UPDATE");
    assert_int_equal(PQresultStatus(res), PGRES_TUPLES_OK);
    PQclear(res);
    t_http("GET", url, h, NULL, &r);
    res = PQexec(pg, "ROLLBACK");
    PQclear(res);
    PQfinish(pg);
    long status = r.status;
    char *body = strdup(r.body.data);
    bool has_rid = t_resp_header(&r, "X-Request-Id", rid, sizeof(rid));
    t_resp_free(&r);
    tapi_assert_no_secret(body, d.canary, "an answer whose row could not commit");
    if (status != 503 || strstr(body, "\"audit_unavailable\"") == NULL)
        fail_msg("with the chain head locked: %ld %.300s; expected 503 audit_unavailable", status,
                 body);
    free(body);

    /* the lock is gone: the same node answers again (the call fails softly, so that a node
     * that died is reported as such) */
    struct tapi on_node = f->api;
    on_node.d = node;
    struct tapi_call again = { .method = "GET" };
    snprintf(again.path, sizeof(again.path), "/v1/credentials/%s", d.cred);
    tapi_concurrent(&on_node, &again, 1);
    cf_buf_free(&again.resp);
    if (again.status != 200) {
        int rc = t_cofferd_stop(&node);
        fail_msg("after a row timed out and the head's lock went, the node answered %ld and "
                 "then exited %d (log above)",
                 again.status, rc);
    }
    assert_int_equal(t_cofferd_stop(&node), 0);
    assert_true(has_rid);
    snprintf(sql, sizeof(sql), "SELECT count(*) FROM audit_log WHERE request_id = '%s'", rid);
    assert_true(tapi_count(&f->api, sql) <= 1);
    assert_int_equal(tapi_count(&f->api, "SELECT count(*) FROM audit_log"), taudit_max_id(f));
    assert_int_equal(tapi_count(&f->api, "SELECT count(*) - count(DISTINCT request_id) FROM "
                                         "audit_log"),
                     0);
    json_t *v = taudit_verify(f, "");
    assert_true(tapi_bool(v, "ok"));
    json_decref(v);
}

/* The request id is the server's (API.md 1.1): a client cannot choose the id its row gets, nor
 * make two rows share one. */
static void test_a_request_id_sent_by_the_client_is_not_taken(void **state)
{
    struct taudit *f = *state;
    struct t_resp r;
    char first[64], second[64], hdr[96], sql[256];

    tapi_send(&f->api, f->api.admin, "GET", NULL, &r, "/v1/user/email");
    assert_true(t_resp_header(&r, "X-Request-Id", first, sizeof(first)));
    t_resp_free(&r);
    snprintf(hdr, sizeof(hdr), "X-Request-Id: %s", first);
    const char *h[] = { f->api.admin, hdr, NULL };
    tapi_send_h(&f->api, h, "GET", NULL, &r, "/v1/user/email");
    assert_true(t_resp_header(&r, "X-Request-Id", second, sizeof(second)));
    t_resp_free(&r);
    assert_string_not_equal(first, second);
    snprintf(sql, sizeof(sql), "SELECT count(*) FROM audit_log WHERE request_id = '%s'", first);
    assert_int_equal(tapi_count(&f->api, sql), 1);
}

/* --- verify on an intact chain -------------------------------------------------------------- */

static void test_verify_endpoint_checks_the_whole_chain_and_sub_ranges(void **state)
{
    struct taudit *f = *state;
    struct t_resp r;
    char sql[256];

    for (int i = 0; i < 5; i++) {
        tapi_send(&f->api, f->api.admin, "GET", NULL, &r, "/v1/user/email");
        t_resp_free(&r);
    }
    int64_t max_before = taudit_max_id(f);
    tapi_send(&f->api, f->api.auditor, "GET", NULL, &r, "/v1/audit/verify");
    json_t *v = tapi_ok(&r);
    tapi_assert_members(v, "ok,from_id,to_id,checked,head_id,head_hash");
    assert_true(tapi_bool(v, "ok"));
    assert_int_equal(tapi_int(v, "from_id"), 1);
    json_int_t head = tapi_int(v, "head_id");
    assert_true(head >= max_before && head <= taudit_max_id(f));
    assert_int_equal(tapi_int(v, "to_id"), head);
    assert_int_equal(tapi_int(v, "checked"), head);
    snprintf(sql, sizeof(sql), "SELECT hash FROM audit_log WHERE id = %lld", (long long)head);
    char *hash = tapi_sql(&f->api, sql);
    assert_string_equal(tapi_str(v, "head_hash"), hash);
    free(hash);
    json_decref(v);
    struct taudit_want w = { TOKN,      TAPI_AUDITOR_ACTOR, LOOP, "audit.verify", "audit", NULL,
                             TAPI_NULL, "allowed",          "ok" };
    taudit_row(f, &r, &w);
    t_resp_free(&r);

    v = taudit_verify(f, "from_id=2&to_id=5");
    assert_true(tapi_bool(v, "ok"));
    assert_int_equal(tapi_int(v, "from_id"), 2);
    assert_int_equal(tapi_int(v, "to_id"), 5);
    assert_int_equal(tapi_int(v, "checked"), 4);
    json_decref(v);
    v = taudit_verify(f, "from_id=3");
    assert_true(tapi_bool(v, "ok"));
    assert_int_equal(tapi_int(v, "to_id"), tapi_int(v, "head_id"));
    assert_int_equal(tapi_int(v, "checked"), tapi_int(v, "head_id") - 2);
    json_decref(v);
    v = taudit_verify(f, "to_id=1");
    assert_true(tapi_bool(v, "ok"));
    assert_int_equal(tapi_int(v, "checked"), 1);
    json_decref(v);
    v = taudit_verify(f, "from_id=4&to_id=4");
    assert_true(tapi_bool(v, "ok"));
    assert_int_equal(tapi_int(v, "checked"), 1);
    json_decref(v);

    tapi_send(&f->api, f->api.admin, "GET", NULL, &r, "/v1/audit/verify?to_id=3");
    v = tapi_ok(&r);
    assert_true(tapi_bool(v, "ok"));
    json_decref(v);
    t_resp_free(&r);
}

static void test_verify_endpoint_refuses_bad_parameters(void **state)
{
    struct taudit *f = *state;
    struct cf_buf problems = { 0 };
    struct t_resp r;
    const char *bad[] = {
        "from_id=0", "from_id=-1",  "from_id=abc", "from_id=",    "to_id=0",
        "to_id=x",   "from_id=1.5", "to_id=-5",    "from_id=1e3", "from_id=99999999999999999999999"
    };

    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        tapi_send(&f->api, f->api.auditor, "GET", NULL, &r, "/v1/audit/verify?%s", bad[i]);
        tapi_collect(&problems, bad[i], tapi_error_diff(&r, 400, "invalid_parameter"));
        t_resp_free(&r);
    }
    tapi_collect_end(&problems);
}

/* A range that reaches past the head asks about rows that do not exist yet: the chain is intact,
 * so the answer is ok or a refused parameter, never "broken". */
static void test_verify_past_the_head_never_calls_an_intact_chain_broken(void **state)
{
    struct taudit *f = *state;
    struct cf_buf problems = { 0 };
    struct cf_buf out = { 0 };
    struct t_resp r;
    char q[64], arg[32];

    json_t *v = taudit_verify(f, "");
    assert_true(tapi_bool(v, "ok")); /* intact */
    long long head = (long long)tapi_int(v, "head_id");
    json_decref(v);
    snprintf(q, sizeof(q), "to_id=%lld", head + 1000);
    tapi_send(&f->api, f->api.auditor, "GET", NULL, &r, "/v1/audit/verify?%s", q);
    v = r.status == 200 ? tapi_json(&r) : NULL;
    if (v != NULL && !json_is_true(json_object_get(v, "ok")))
        tapi_collect(&problems, q,
                     tapi_printf("an intact chain reported broken: %.300s", r.body.data));
    else if (v == NULL)
        tapi_collect(&problems, q, tapi_error_diff(&r, 400, "invalid_parameter"));
    json_decref(v);
    t_resp_free(&r);
    snprintf(arg, sizeof(arg), "%lld", head + 1000);
    char *const past[] = { "--to-id", arg, NULL };
    int rc = taudit_cli_verify(&f->api.db, past, &out);
    if (rc != 0 && rc != 2)
        tapi_collect(&problems, "cofferd audit verify --to-id past the head",
                     tapi_printf("exited %d: %.300s (an intact chain)", rc, out.data));
    cf_buf_free(&out);
    tapi_collect_end(&problems);
}

static void
test_cofferd_audit_verify_reports_intact_writes_no_row_and_refuses_bad_usage(void **state)
{
    struct taudit *f = *state;
    struct cf_buf out = { 0 };
    struct t_resp r;

    tapi_send(&f->api, f->api.admin, "GET", NULL, &r, "/v1/user/email");
    t_resp_free(&r);
    int64_t head = taudit_max_id(f);
    int rc = taudit_cli_verify(&f->api.db, NULL, &out);
    if (rc != 0)
        fail_msg("cofferd audit verify on an intact chain exited %d: %s", rc, out.data);
    if (!taudit_names_row(out.data, head, ""))
        fail_msg("cofferd audit verify does not print the count verified (%lld): %s",
                 (long long)head, out.data);
    cf_buf_free(&out);
    assert_int_equal(taudit_max_id(f), head); /* writes no audit row (API.md 9.3) */

    char *const sub[] = { "--from-id", "2", "--to-id", "4", NULL };
    rc = taudit_cli_verify(&f->api.db, sub, &out);
    assert_int_equal(rc, 0);
    if (!taudit_names_row(out.data, 3, ""))
        fail_msg("cofferd audit verify --from-id 2 --to-id 4 does not print 3 rows: %s", out.data);
    cf_buf_free(&out);
    assert_int_equal(taudit_max_id(f), head);

    char *const bad1[] = { "--from-id", "x", NULL };
    char *const bad2[] = { "--from-id", "0", NULL };
    char *const bad3[] = { "--bogus", NULL };
    char *const bad4[] = { "--to-id", NULL };
    char *const bad5[] = { "extra", NULL };
    char *const *bad[] = { bad1, bad2, bad3, bad4, bad5 };
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        rc = taudit_cli_verify(&f->api.db, bad[i], NULL);
        if (rc != 2)
            fail_msg("cofferd audit verify %s%s%s exited %d, expected 2 (usage)", bad[i][0],
                     bad[i][1] != NULL ? " " : "", bad[i][1] != NULL ? bad[i][1] : "", rc);
    }
    assert_int_equal(taudit_max_id(f), head);
}

int main(void)
{
    cf_json_init();
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_credential_create_read_update_and_revert_are_rows_with_every_field),
        cmocka_unit_test(test_service_writes_and_bundle_reads_are_rows),
        cmocka_unit_test(test_refused_requests_are_denied_rows),
        cmocka_unit_test(test_failed_authentications_are_anonymous_rows_without_token_material),
        cmocka_unit_test(test_cofferd_token_create_and_the_token_api_are_rows),
        cmocka_unit_test(
            test_every_request_writes_exactly_one_row_and_health_metrics_and_misses_none),
        cmocka_unit_test(test_no_row_holds_a_secret_value_or_a_token),
        cmocka_unit_test(test_metrics_count_events_by_result),
        cmocka_unit_test_teardown(test_metrics_show_the_head_failures_and_batch_sizes,
                                  grant_insert_back),
        cmocka_unit_test_teardown(test_without_insert_on_the_log_reads_and_writes_fail_closed,
                                  grant_insert_back),
        cmocka_unit_test(test_a_row_that_cannot_commit_in_time_fails_the_request_closed),
        cmocka_unit_test(test_a_request_id_sent_by_the_client_is_not_taken),
        cmocka_unit_test(test_verify_endpoint_checks_the_whole_chain_and_sub_ranges),
        cmocka_unit_test(test_verify_endpoint_refuses_bad_parameters),
        cmocka_unit_test(test_verify_past_the_head_never_calls_an_intact_chain_broken),
        cmocka_unit_test(
            test_cofferd_audit_verify_reports_intact_writes_no_row_and_refuses_bad_usage),
    };
    return t_run_group_tests(tests, taudit_setup, taudit_teardown);
}
