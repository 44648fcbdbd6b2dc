/*
 * test_bundle.c - the bundle a service fetches at boot with its kmsauth token (API.md 3.2, 2.5,
 * 6): its shape, the ACL (own service only, before the lookup; disabled services), the caches
 * (8.5, counted by /metrics), the strong ETag and 304 (8.3), and the default maximum token
 * lifetime (9.1).
 *
 * Three caches spare KMS calls on a warm fetch: the token cache (the token's Decrypt), the
 * bundle cache (service/svc_bundles.c: the whole answer, so no credential is opened at all) and
 * the data-key cache (kms/kms_cache.c: each credential is opened without a Decrypt). With the
 * bundle cache on, a warm fetch never reaches the data-key cache, so the data-key cache is
 * tested on nodes with the bundle cache off (COFFER_BUNDLE_CACHE_SIZE=0).
 */
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <cmocka.h>
#include <curl/curl.h>
#include <jansson.h>

#include "cf_codec.h"
#include "cf_json.h"
#include "cf_log.h"
#include "cf_str.h"
#include "cf_time.h"
#include "tkms.h"

#define SERVICE_PERMS "m=1,g=1,u=0" /* a service reading its own bundle */
#define ADMIN_PERMS   "m=1,g=1,u=1"
#define DECRYPT_OK    "coffer_kms_requests_total{op=\"Decrypt\",result=\"ok\"}"
#define HITS          "coffer_auth_total{method=\"kmsauth\",result=\"ok\",cache=\"hit\"}"
#define MISSES        "coffer_auth_total{method=\"kmsauth\",result=\"ok\",cache=\"miss\"}"
#define BUNDLES_200   "coffer_bundle_responses_total{status=\"200\"}"
#define BUNDLES_304   "coffer_bundle_responses_total{status=\"304\"}"
#define BC_HITS       "coffer_bundle_cache_hits_total"
#define BC_MISSES     "coffer_bundle_cache_misses_total"
#define BC_EVICTIONS  "coffer_bundle_cache_evictions_total"
#define BC_ENTRIES    "coffer_bundle_cache_entries"
#define DK_HITS       "coffer_datakey_cache_hits_total"
#define DK_MISSES     "coffer_datakey_cache_misses_total"

/* A service token for sid, its v2 username and its Basic header. */
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

/* GET path as t, with the header extra (may be NULL). */
static void get_as(const struct tapi *api, const struct svc_token *t, const char *extra,
                   struct t_resp *r, const char *path)
{
    const char *h[] = { t->basic.h[0], extra, NULL };
    tapi_send_h(api, h, "GET", NULL, r, "%s", path);
}

/* A new credential named prefix<8 hex> with pairs; its id in id, its name in name. */
static void cred(const struct tkms *f, const char *prefix, const char *pairs, char *name,
                 size_t cap, char id[TAPI_ID_LEN])
{
    tapi_name(name, cap, prefix);
    tapi_cred_new(&f->api, name, pairs, id);
}

/* The ETag of a 200 answer (fails without one). */
static void etag_of(const struct t_resp *r, char out[64])
{
    if (r->status != 200)
        fail_msg("expected 200, got %ld: %.300s", r->status, r->body.data);
    if (!t_resp_header(r, "ETag", out, 64))
        fail_msg("a bundle answer carries no ETag");
}

/* --- the caches as /metrics counts them ---------------------------------------------------- */

/* One scrape of what the cache tests read. */
struct counts {
    uint64_t bc_hits, bc_misses, bc_evictions, bc_entries; /* the bundle cache */
    uint64_t dk_hits, dk_misses;                           /* the data-key cache */
    uint64_t decrypt;                                      /* KMS Decrypt calls answered */
    uint64_t kms;                                          /* KMS calls of every kind */
};

/* The value of the sample series in a /metrics text (fails if it is absent). */
static uint64_t sample_in(const char *text, const char *series)
{
    size_t slen = strlen(series);

    for (const char *line = text; line != NULL && *line != '\0';) {
        const char *eol = strchr(line, '\n');
        if (strncmp(line, series, slen) == 0 && line[slen] == ' ')
            return strtoull(line + slen + 1, NULL, 10);
        line = eol != NULL ? eol + 1 : NULL;
    }
    fail_msg("GET /metrics has no sample %s", series);
    return 0;
}

static struct counts counts_of(const struct tapi *api)
{
    struct t_resp r;
    struct counts c;

    tkms_metrics(api, &r);
    c.bc_hits = sample_in(r.body.data, BC_HITS);
    c.bc_misses = sample_in(r.body.data, BC_MISSES);
    c.bc_evictions = sample_in(r.body.data, BC_EVICTIONS);
    c.bc_entries = sample_in(r.body.data, BC_ENTRIES);
    c.dk_hits = sample_in(r.body.data, DK_HITS);
    c.dk_misses = sample_in(r.body.data, DK_MISSES);
    c.decrypt = sample_in(r.body.data, DECRYPT_OK);
    t_resp_free(&r);
    c.kms = tkms_kms_calls(api);
    return c;
}

/* tkms_start_node(), then waits until the node's change listener has connected: it clears the
 * bundle cache when it connects, which would turn a hit the test expects into a miss. */
static void start_node(const struct tkms *f, struct t_cofferd *d, char *const extra[])
{
    tkms_start_node(f, d, extra);
    t_cofferd_wait_listening(d);
}

/* GET the full bundle of sid as t; the credential named name must hold pairs. */
static void fetch_pairs(const struct tapi *api, const struct svc_token *t, const char *sid,
                        const char *name, const char *pairs)
{
    char path[160];
    struct t_resp r;

    snprintf(path, sizeof(path), "/v1/services/%s?metadata_only=False", sid);
    get_as(api, t, NULL, &r, path);
    json_t *s = tapi_ok(&r);
    json_t *got = tkms_bundle_pairs(s, name);
    if (got == NULL)
        fail_msg("the bundle of %s does not list %s: %.300s", sid, name, r.body.data);
    tapi_assert_json(got, pairs);
    json_decref(s);
    t_resp_free(&r);
}

/* Sleeps at least ms milliseconds. */
static void sleep_past(int64_t ms)
{
    int64_t until = cf_mono_ms() + ms;
    for (int64_t now = cf_mono_ms(); now < until; now = cf_mono_ms()) {
        struct timespec ts = { (until - now) / 1000, ((until - now) % 1000) * 1000000L };
        nanosleep(&ts, NULL);
    }
}

/* --- shape --------------------------------------------------------------------------------- */

static void test_a_service_reads_its_own_bundle_in_the_shape_the_client_reads(void **state)
{
    struct tkms *f = *state;
    char sid[64], web[64], api_keys[64], old[64], a[TAPI_ID_LEN], b[TAPI_ID_LEN], c[TAPI_ID_LEN];
    struct svc_token t;
    struct t_resp r;

    tapi_name(web, sizeof(web), "Web database ");
    char *body = tapi_printf("{\"name\": \"%s\", \"credential_pairs\": {\"password\": "
                             "\"s3cr3t-web-pw\", \"username\": \"web\"}, \"metadata\": "
                             "{\"env_var_prefix\": \"DB_\"}, \"documentation\": \"Rotate it.\"}",
                             web);
    json_decref(tapi_cred_post(&f->api, body, a));
    free(body);
    cred(f, "api keys ", "{\"api_key\": \"k-1234567890\"}", api_keys, sizeof(api_keys), b);
    cred(f, "old cert ", "{\"cert\": \"old-cert-secret-value\"}", old, sizeof(old), c);
    tapi_cred_put(&f->api, c, "{\"enabled\": false}");
    tapi_name(sid, sizeof(sid), "web-production-");
    const char *ids[] = { a, b, c, NULL };
    tapi_svc_map(&f->api, sid, ids);
    svc_token_new(f, sid, &t);

    tkms_fetch(&f->api, t.username, t.token, sid, &r);
    json_t *s = tapi_ok(&r);
    tapi_assert_members(s, TAPI_SVC_MEMBERS);
    assert_string_equal(tapi_str(s, "id"), sid);
    assert_true(json_is_null(json_object_get(s, "account")));
    assert_true(tapi_bool(s, "enabled"));
    assert_int_equal(tapi_int(s, "revision"), tapi_svc_revision(&f->api, sid));
    assert_string_equal(tapi_str(s, "modified_by"), TAPI_ADMIN_ACTOR);
    tapi_assert_timestamp(tapi_str(s, "modified_date"));
    tapi_assert_json(json_object_get(s, "blind_credentials"), "[]");
    tapi_assert_json(json_object_get(s, "permissions"),
                     "{\"metadata\": true, \"get\": true, \"update\": false}");
    json_t *creds = json_object_get(s, "credentials");
    assert_int_equal(json_array_size(creds), 3);
    /* sorted by name case-insensitively: api keys, old cert, Web database */
    const char *order[] = { api_keys, old, web };
    for (size_t i = 0; i < 3; i++) {
        json_t *cr = json_array_get(creds, i);
        tapi_assert_members(cr, TAPI_CRED_MEMBERS);
        assert_string_equal(tapi_str(cr, "name"), order[i]);
        tapi_assert_json(json_object_get(cr, "permissions"), "{}");
        tapi_assert_timestamp(tapi_str(cr, "modified_date"));
    }
    json_t *w = json_array_get(creds, 2), *k = json_array_get(creds, 0),
           *o = json_array_get(creds, 1);
    assert_string_equal(tapi_str(w, "id"), a);
    tapi_assert_json(json_object_get(w, "credential_pairs"),
                     "{\"password\": \"s3cr3t-web-pw\", \"username\": \"web\"}");
    tapi_assert_json(json_object_get(w, "credential_keys"), "[\"password\", \"username\"]");
    tapi_assert_json(json_object_get(w, "metadata"), "{\"env_var_prefix\": \"DB_\"}");
    assert_string_equal(tapi_str(w, "documentation"), "Rotate it.");
    assert_true(tapi_bool(w, "enabled"));
    tapi_assert_json(json_object_get(k, "credential_pairs"), "{\"api_key\": \"k-1234567890\"}");
    /* a disabled credential stays listed, with its keys and no values */
    assert_false(tapi_bool(o, "enabled"));
    tapi_assert_json(json_object_get(o, "credential_pairs"), "{}");
    tapi_assert_json(json_object_get(o, "credential_keys"), "[\"cert\"]");
    tapi_assert_no_secret(r.body.data, "old-cert-secret-value", "a bundle");
    json_decref(s);
    t_resp_free(&r);

    /* metadata_only=True: keys, no values */
    tkms_get(&f->api, TKMS_BASIC, t.username, t.token, NULL, &r,
             "/v1/services/%s?metadata_only=True", sid);
    s = tapi_ok(&r);
    size_t i;
    json_t *cr;
    json_array_foreach(json_object_get(s, "credentials"), i, cr)
    {
        tapi_assert_json(json_object_get(cr, "credential_pairs"), "{}");
        assert_true(json_array_size(json_object_get(cr, "credential_keys")) > 0);
    }
    tapi_assert_no_secret(r.body.data, "s3cr3t-web-pw", "a metadata-only bundle");
    tapi_assert_no_secret(r.body.data, "k-1234567890", "a metadata-only bundle");
    tkms_audit(&f->api, &r, "service", sid, "service.get_metadata", sid, "allowed", "ok");
    json_decref(s);
    t_resp_free(&r);
    svc_token_free(&t);
}

/* --- ACL ----------------------------------------------------------------------------------- */

static void test_a_service_may_read_no_other_service_existing_or_not(void **state)
{
    struct tkms *f = *state;
    char sid_a[64], sid_b[64], ghost[64], name[64], a[TAPI_ID_LEN], b[TAPI_ID_LEN];
    struct svc_token t, g;
    struct t_resp r;

    cred(f, "acl-a-", "{\"password\": \"a-own-secret-value\"}", name, sizeof(name), a);
    cred(f, "acl-b-", "{\"password\": \"b-secret-never-for-a\"}", name, sizeof(name), b);
    tapi_name(sid_a, sizeof(sid_a), "svc-a-");
    tapi_name(sid_b, sizeof(sid_b), "svc-b-");
    const char *ids_a[] = { a, NULL }, *ids_b[] = { b, NULL };
    tapi_svc_map(&f->api, sid_a, ids_a);
    tapi_svc_map(&f->api, sid_b, ids_b);
    svc_token_new(f, sid_a, &t);

    char upper[64];
    snprintf(upper, sizeof(upper), "%s", sid_a);
    for (char *p = upper; *p != '\0'; p++)
        *p = (*p >= 'a' && *p <= 'z') ? (char)(*p - 'a' + 'A') : *p;
    struct {
        char path[160];
        const char *resource;
        const char *action;
    } cases[] = {
        { "", sid_b, "service.get" },
        { "", sid_b, "service.get_metadata" },
        { "", "no-such-service", "service.get" },
        { "", upper, "service.get" }, /* ids are case-sensitive, whole strings */
        { "", NULL, "service.get" },
    };
    char longer[80];
    snprintf(longer, sizeof(longer), "%s-x", sid_a);
    cases[4].resource = longer;
    struct cf_buf problems = { 0 };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        snprintf(cases[i].path, sizeof(cases[i].path), "/v1/services/%s%s", cases[i].resource,
                 strcmp(cases[i].action, "service.get") == 0 ? "?metadata_only=False"
                                                             : "?metadata_only=True");
        get_as(&f->api, &t, NULL, &r, cases[i].path);
        char *d = tapi_error_diff(&r, 403, "forbidden");
        if (d == NULL && strstr(r.body.data, "b-secret-never-for-a") != NULL)
            d = tapi_printf("the 403 body holds a secret of the other service");
        if (d == NULL)
            d = tkms_audit_diff(&f->api, &r, "service", sid_a, cases[i].action, cases[i].resource,
                                "denied", "forbidden");
        tapi_collect(&problems, cases[i].path, d);
        if (r.status == 403)
            tapi_assert_no_secret(r.body.data, "b-secret-never-for-a", "a 403 body");
        t_resp_free(&r);
    }
    tapi_collect_end(&problems);

    /* its own id, missing: the only 404 a service can see */
    tapi_name(ghost, sizeof(ghost), "svc-ghost-");
    svc_token_new(f, ghost, &g);
    char path[160];
    snprintf(path, sizeof(path), "/v1/services/%s?metadata_only=False", ghost);
    get_as(&f->api, &g, NULL, &r, path);
    tapi_check_error(&r, 404, "not_found");
    tkms_audit(&f->api, &r, "service", ghost, "service.get", ghost, TAPI_REFUSED, "not_found");
    t_resp_free(&r);
    svc_token_free(&g);
    svc_token_free(&t);
}

static void test_a_disabled_service_is_refused_to_itself_but_not_to_an_admin(void **state)
{
    struct tkms *f = *state;
    char sid[64], other[64], name[64], id[TAPI_ID_LEN], path[160];
    struct svc_token t, o;
    struct t_resp r;

    cred(f, "dis-", "{\"password\": \"disabled-service-secret\"}", name, sizeof(name), id);
    tapi_name(sid, sizeof(sid), "svc-dis-");
    const char *ids[] = { id, NULL };
    tapi_svc_map(&f->api, sid, ids);
    svc_token_new(f, sid, &t);
    tapi_svc_put(&f->api, sid, "{\"enabled\": false}");

    static const char *const queries[][2] = { { "?metadata_only=False", "service.get" },
                                              { "?metadata_only=True", "service.get_metadata" } };
    for (size_t i = 0; i < 2; i++) {
        snprintf(path, sizeof(path), "/v1/services/%s%s", sid, queries[i][0]);
        get_as(&f->api, &t, NULL, &r, path);
        tapi_check_error(&r, 403, "service_disabled");
        tapi_assert_no_secret(r.body.data, "disabled-service-secret", "a 403 body");
        tkms_audit(&f->api, &r, "service", sid, queries[i][1], sid, "denied", "service_disabled");
        t_resp_free(&r);
    }
    /* another service is refused by the ACL first */
    tapi_name(other, sizeof(other), "svc-other-");
    svc_token_new(f, other, &o);
    snprintf(path, sizeof(path), "/v1/services/%s", sid);
    get_as(&f->api, &o, NULL, &r, path);
    tapi_check_error(&r, 403, "forbidden");
    t_resp_free(&r);
    svc_token_free(&o);

    /* an admin still reads it, values and all */
    tapi_send(&f->api, f->api.admin, "GET", NULL, &r, "/v1/services/%s?metadata_only=False", sid);
    json_t *s = tapi_ok(&r);
    assert_false(tapi_bool(s, "enabled"));
    json_t *pairs = tkms_bundle_pairs(s, name);
    tapi_assert_json(pairs, "{\"password\": \"disabled-service-secret\"}");
    json_decref(s);
    t_resp_free(&r);

    /* enabled again: the service reads it again */
    tapi_svc_put(&f->api, sid, "{\"enabled\": true}");
    tkms_fetch(&f->api, t.username, t.token, sid, &r);
    s = tapi_ok(&r);
    tapi_assert_json(tkms_bundle_pairs(s, name), "{\"password\": \"disabled-service-secret\"}");
    json_decref(s);
    t_resp_free(&r);
    svc_token_free(&t);
}

static void test_a_fetch_whose_audit_row_cannot_be_written_fails_closed(void **state)
{
    struct tkms *f = *state;
    char sid[64], name[64], id[TAPI_ID_LEN], path[160], tag[64], inm[128];
    struct t_resp warm, full, cond, refused;
    struct svc_token t;
    int64_t now = tkms_now();

    cred(f, "closed-", "{\"pw\": \"fail-closed-secret\"}", name, sizeof(name), id);
    tapi_name(sid, sizeof(sid), "svc-closed-");
    const char *ids[] = { id, NULL };
    tapi_svc_map(&f->api, sid, ids);
    svc_token_new(f, sid, &t);
    snprintf(path, sizeof(path), "/v1/services/%s?metadata_only=False", sid);
    get_as(&f->api, &t, NULL, &warm, path); /* token and data key cached */
    etag_of(&warm, tag);
    snprintf(inm, sizeof(inm), "If-None-Match: %s", tag);
    char *expired =
        tkms_token_window(f, f->auth.alias, 2, "service", sid, f->context, now - 1200, now - 600);
    long rows = tapi_count(&f->api, "SELECT count(*) FROM audit_log");

    t_sql_ok(f->api.db.super_url, "REVOKE INSERT ON audit_log FROM coffer_app", NULL, 0);
    get_as(&f->api, &t, NULL, &full, path);
    get_as(&f->api, &t, inm, &cond, path);
    tkms_fetch(&f->api, t.username, expired, sid, &refused);
    t_sql_ok(f->api.db.super_url, "GRANT INSERT ON audit_log TO coffer_app", NULL, 0);

    tapi_check_error(&full, 503, "audit_unavailable");
    tapi_assert_no_secret(full.body.data, "fail-closed-secret", "an audit_unavailable answer");
    tapi_check_error(&cond, 503, "audit_unavailable"); /* not a 304 either */
    tapi_check_error(&refused, 503, "audit_unavailable");
    assert_int_equal(tapi_count(&f->api, "SELECT count(*) FROM audit_log"), rows);
    t_resp_free(&warm);
    t_resp_free(&full);
    t_resp_free(&cond);
    t_resp_free(&refused);
    free(expired);
    svc_token_free(&t);
}

/* --- caches -------------------------------------------------------------------------------- */

/* The bundle cache on (the default): a warm fetch is answered from it, so it opens no credential
 * and never reaches the data-key cache; with the token cached too, it makes no KMS call. */
static void test_a_warm_fetch_is_answered_from_the_bundle_cache_with_no_kms_call(void **state)
{
    struct tkms *f = *state;
    char sid[64], n1[64], n2[64], a[TAPI_ID_LEN], b[TAPI_ID_LEN], path[160];
    struct svc_token t, t2;
    struct t_cofferd d;
    struct t_resp r;

    cred(f, "cache-1-", "{\"one\": \"cached-value-1\"}", n1, sizeof(n1), a);
    cred(f, "cache-2-", "{\"two\": \"cached-value-2\"}", n2, sizeof(n2), b);
    tapi_name(sid, sizeof(sid), "svc-cache-");
    const char *ids[] = { a, b, NULL };
    tapi_svc_map(&f->api, sid, ids);
    svc_token_new(f, sid, &t);
    snprintf(path, sizeof(path), "/v1/services/%s?metadata_only=False", sid);

    start_node(f, &d, NULL); /* a node whose caches are cold */
    struct tapi n = tkms_node(f, &d);

    struct counts c0 = counts_of(&n);
    get_as(&n, &t, NULL, &r, path);
    json_t *s = tapi_ok(&r);
    tapi_assert_json(tkms_bundle_pairs(s, n1), "{\"one\": \"cached-value-1\"}");
    tapi_assert_json(tkms_bundle_pairs(s, n2), "{\"two\": \"cached-value-2\"}");
    json_decref(s);
    t_resp_free(&r);
    struct counts c1 = counts_of(&n);
    /* one Decrypt for the token (2.3 step 5) and one per credential (3.2) */
    assert_int_equal(c1.decrypt - c0.decrypt, 3);
    assert_int_equal(c1.dk_misses - c0.dk_misses, 2);
    assert_int_equal(c1.bc_misses - c0.bc_misses, 1); /* built, and cached */
    assert_int_equal(c1.bc_entries, 1);

    uint64_t hits = tkms_metric(&n, HITS), misses = tkms_metric(&n, MISSES);
    uint64_t ok200 = tkms_metric(&n, BUNDLES_200);
    get_as(&n, &t, NULL, &r, path);
    s = tapi_ok(&r);
    tapi_assert_json(tkms_bundle_pairs(s, n1), "{\"one\": \"cached-value-1\"}");
    tapi_assert_json(tkms_bundle_pairs(s, n2), "{\"two\": \"cached-value-2\"}");
    json_decref(s);
    tkms_audit(&n, &r, "service", sid, "service.get", sid, "allowed", "ok");
    t_resp_free(&r);
    struct counts c2 = counts_of(&n);
    assert_int_equal(c2.kms, c1.kms); /* no KMS call of any kind */
    assert_int_equal(tkms_metric(&n, HITS), hits + 1);
    assert_int_equal(tkms_metric(&n, MISSES), misses);
    assert_int_equal(tkms_metric(&n, BUNDLES_200), ok200 + 1);
    /* the bundle cache's doing: no credential was opened, not even from the data-key cache */
    assert_int_equal(c2.bc_hits - c1.bc_hits, 1);
    assert_int_equal(c2.bc_misses, c1.bc_misses);
    assert_int_equal(c2.dk_hits, c1.dk_hits);
    assert_int_equal(c2.dk_misses, c1.dk_misses);

    /* the cache does not depend on the wire form; metadata needs no KMS either */
    tkms_get(&n, TKMS_XAUTH, t.username, t.token, NULL, &r, "%s", path);
    json_decref(tapi_ok(&r));
    t_resp_free(&r);
    tkms_get(&n, TKMS_BASIC, t.username, t.token, NULL, &r, "/v1/services/%s?metadata_only=True",
             sid);
    json_decref(tapi_ok(&r));
    t_resp_free(&r);
    struct counts c3 = counts_of(&n);
    assert_int_equal(c3.kms, c1.kms);
    assert_int_equal(tkms_metric(&n, HITS), hits + 3);
    assert_int_equal(c3.bc_hits - c2.bc_hits, 1);     /* the full form, over X-Auth */
    assert_int_equal(c3.bc_misses - c2.bc_misses, 1); /* the metadata form is a bundle of its own */
    assert_int_equal(c3.dk_hits + c3.dk_misses, c1.dk_hits + c1.dk_misses);

    /* a new token of the same service: one Decrypt (the token); the bundle is cached (the key
     * is the service, the form and the role, not the token), so no data key is looked up */
    svc_token_new(f, sid, &t2);
    get_as(&n, &t2, NULL, &r, path);
    json_decref(tapi_ok(&r));
    t_resp_free(&r);
    struct counts c4 = counts_of(&n);
    assert_int_equal(c4.decrypt - c3.decrypt, 1);
    assert_int_equal(tkms_metric(&n, MISSES), misses + 1);
    assert_int_equal(c4.bc_hits - c3.bc_hits, 1);
    assert_int_equal(c4.dk_hits + c4.dk_misses, c1.dk_hits + c1.dk_misses);

    /* /metrics: Prometheus text, labels without ids or names (8.5) */
    char v[128];
    tkms_metrics(&n, &r);
    assert_true(t_resp_header(&r, "Content-Type", v, sizeof(v)));
    assert_string_equal(v, "text/plain; version=0.0.4; charset=utf-8");
    tapi_assert_absent(r.body.data, sid, "/metrics");
    tapi_assert_absent(r.body.data, n1, "/metrics");
    tapi_assert_absent(r.body.data, a, "/metrics");
    assert_non_null(strstr(r.body.data, "route=\"/v1/services/{")); /* a template */
    t_resp_free(&r);
    svc_token_free(&t2);
    svc_token_free(&t);
    assert_int_equal(t_cofferd_stop(&d), 0);
}

/* The data-key cache alone: with the bundle cache off (COFFER_BUNDLE_CACHE_SIZE=0) every fetch
 * builds the bundle and opens each credential, and it is the data-key cache that spares the KMS
 * Decrypt of each. A node with both caches off is the control: there, every fetch decrypts every
 * data key, as the same counters show. */
static void test_with_the_bundle_cache_off_the_data_key_cache_spares_the_decrypts(void **state)
{
    struct tkms *f = *state;
    char sid[64], n1[64], n2[64], a[TAPI_ID_LEN], b[TAPI_ID_LEN];
    struct svc_token t, t2;
    struct t_cofferd d, e;
    char *bundles_off[] = { "COFFER_BUNDLE_CACHE_SIZE=0", NULL };
    char *both_off[] = { "COFFER_BUNDLE_CACHE_SIZE=0", "COFFER_DATAKEY_CACHE_SIZE=0", NULL };
    const char *p1 = "{\"one\": \"datakey-value-1\"}", *p2 = "{\"two\": \"datakey-value-2\"}";

    cred(f, "dk-1-", p1, n1, sizeof(n1), a);
    cred(f, "dk-2-", p2, n2, sizeof(n2), b);
    tapi_name(sid, sizeof(sid), "svc-dk-");
    const char *ids[] = { a, b, NULL };
    tapi_svc_map(&f->api, sid, ids);
    svc_token_new(f, sid, &t);
    start_node(f, &d, bundles_off);
    start_node(f, &e, both_off);
    struct tapi on = tkms_node(f, &d), off = tkms_node(f, &e);

    /* cold: one Decrypt for the token and one per credential */
    struct counts c0 = counts_of(&on);
    fetch_pairs(&on, &t, sid, n1, p1);
    struct counts c1 = counts_of(&on);
    assert_int_equal(c1.decrypt - c0.decrypt, 3);
    assert_int_equal(c1.dk_misses - c0.dk_misses, 2);
    assert_int_equal(c1.dk_hits, c0.dk_hits);

    /* warm, three times: each fetch opens both credentials, with the data keys from the cache */
    for (int i = 0; i < 3; i++) {
        fetch_pairs(&on, &t, sid, n1, p1);
        fetch_pairs(&on, &t, sid, n2, p2);
    }
    struct counts c2 = counts_of(&on);
    assert_int_equal(c2.kms, c1.kms); /* no KMS call of any kind */
    assert_int_equal(c2.decrypt, c1.decrypt);
    assert_int_equal(c2.dk_hits - c1.dk_hits, 12);
    assert_int_equal(c2.dk_misses, c1.dk_misses);
    /* and the bundle cache had no part in it: it is off */
    assert_int_equal(c2.bc_hits, 0);
    assert_int_equal(c2.bc_misses, 0);
    assert_int_equal(c2.bc_entries, 0);

    /* a new token: one Decrypt, the token's; the data keys are still cached */
    svc_token_new(f, sid, &t2);
    fetch_pairs(&on, &t2, sid, n2, p2);
    struct counts c3 = counts_of(&on);
    assert_int_equal(c3.decrypt - c2.decrypt, 1);
    assert_int_equal(c3.dk_hits - c2.dk_hits, 2);
    assert_int_equal(c3.bc_hits + c3.bc_misses + c3.bc_entries, 0);

    /* the control, both caches off: the same fetches decrypt both data keys every time */
    c0 = counts_of(&off);
    fetch_pairs(&off, &t, sid, n1, p1);
    c1 = counts_of(&off);
    assert_int_equal(c1.decrypt - c0.decrypt, 3);
    for (int i = 0; i < 3; i++)
        fetch_pairs(&off, &t, sid, n2, p2);
    c2 = counts_of(&off);
    assert_int_equal(c2.decrypt - c1.decrypt, 6);
    assert_int_equal(c2.dk_hits + c2.bc_hits + c2.bc_entries, 0);

    svc_token_free(&t2);
    svc_token_free(&t);
    int rd = t_cofferd_stop(&d), re = t_cofferd_stop(&e);
    assert_int_equal(rd, 0);
    assert_int_equal(re, 0);
}

/* COFFER_BUNDLE_CACHE_TTL: after the same wait, a node with a TTL of 1 s rebuilds the bundle
 * (the expired entry dropped, a miss, the credential opened again) while a node with a TTL of a
 * day serves it from the cache. Only what happens past the TTL is asserted, never how soon. */
static void test_a_cached_bundle_older_than_its_ttl_is_rebuilt(void **state)
{
    struct tkms *f = *state;
    char sid[64], name[64], id[TAPI_ID_LEN];
    struct svc_token t;
    struct t_cofferd d[2];
    struct tapi n[2];
    struct counts before[2], after[2];
    char *ttls[2][2] = { { "COFFER_BUNDLE_CACHE_TTL=1", NULL },
                         { "COFFER_BUNDLE_CACHE_TTL=86400", NULL } };
    const char *pairs = "{\"pw\": \"ttl-secret\"}";

    cred(f, "ttl-", pairs, name, sizeof(name), id);
    tapi_name(sid, sizeof(sid), "svc-ttl-");
    const char *ids[] = { id, NULL };
    tapi_svc_map(&f->api, sid, ids);
    svc_token_new(f, sid, &t);
    for (size_t i = 0; i < 2; i++) {
        start_node(f, &d[i], ttls[i]);
        n[i] = tkms_node(f, &d[i]);
    }
    for (size_t i = 0; i < 2; i++) {
        fetch_pairs(&n[i], &t, sid, name, pairs); /* built and cached */
        before[i] = counts_of(&n[i]);
        assert_int_equal(before[i].bc_misses, 1);
        assert_int_equal(before[i].bc_entries, 1);
    }
    sleep_past(1500); /* both entries were made before their answers were sent */
    for (size_t i = 0; i < 2; i++) {
        fetch_pairs(&n[i], &t, sid, name, pairs);
        after[i] = counts_of(&n[i]);
    }

    /* TTL 1 s: expired, dropped, rebuilt (the data key from its cache: no Decrypt) */
    assert_int_equal(after[0].bc_hits, before[0].bc_hits);
    assert_int_equal(after[0].bc_misses - before[0].bc_misses, 1);
    assert_int_equal(after[0].bc_evictions - before[0].bc_evictions, 1);
    assert_int_equal(after[0].bc_entries, 1); /* cached again */
    assert_int_equal(after[0].dk_hits - before[0].dk_hits, 1);
    assert_int_equal(after[0].decrypt, before[0].decrypt);
    /* TTL a day: served from the cache, no credential opened */
    assert_int_equal(after[1].bc_hits - before[1].bc_hits, 1);
    assert_int_equal(after[1].bc_misses, before[1].bc_misses);
    assert_int_equal(after[1].bc_evictions, before[1].bc_evictions);
    assert_int_equal(after[1].dk_hits, before[1].dk_hits);
    assert_int_equal(after[1].decrypt, before[1].decrypt);

    svc_token_free(&t);
    int r0 = t_cofferd_stop(&d[0]), r1 = t_cofferd_stop(&d[1]);
    assert_int_equal(r0, 0);
    assert_int_equal(r1, 0);
}

/* COFFER_BUNDLE_CACHE_SIZE=2: the third bundle evicts the least recently fetched one, which is
 * not the first one fetched when that one was fetched again since. */
static void test_a_full_bundle_cache_evicts_the_least_recently_fetched_bundle(void **state)
{
    struct tkms *f = *state;
    char sid[3][64], name[3][64], id[3][TAPI_ID_LEN], pairs[3][64];
    struct svc_token t[3];
    struct t_cofferd d;
    char *two[] = { "COFFER_BUNDLE_CACHE_SIZE=2", NULL };
    static const struct {
        size_t svc;
        bool hit;
        uint64_t evictions; /* since the start */
        const char *why;
    } steps[] = {
        { 0, false, 0, "s0 cold" },
        { 1, false, 0, "s1 cold" },
        { 0, true, 0, "s0 cached, and now the most recently used" },
        { 2, false, 1, "s2 cold: the cache is full, s1 (not s0, the oldest) goes" },
        { 0, true, 1, "s0 still cached" },
        { 2, true, 1, "s2 cached" },
        { 1, false, 2, "s1 was evicted; rebuilt, it evicts s0" },
        { 2, true, 2, "s2 still cached" },
        { 0, false, 3, "s0 was evicted; rebuilt, it evicts s1" },
        { 2, true, 3, "s2 still cached" },
    };

    for (size_t i = 0; i < 3; i++) {
        snprintf(pairs[i], sizeof(pairs[i]), "{\"pw\": \"lru-value-%zu\"}", i);
        cred(f, "lru-", pairs[i], name[i], sizeof(name[i]), id[i]);
        tapi_name(sid[i], sizeof(sid[i]), "svc-lru-");
        const char *ids[] = { id[i], NULL };
        tapi_svc_map(&f->api, sid[i], ids);
        svc_token_new(f, sid[i], &t[i]);
    }
    start_node(f, &d, two);
    struct tapi n = tkms_node(f, &d);

    struct counts start = counts_of(&n), prev = start;
    for (size_t k = 0; k < sizeof(steps) / sizeof(steps[0]); k++) {
        size_t i = steps[k].svc;
        print_message("step %zu: %s\n", k, steps[k].why);
        fetch_pairs(&n, &t[i], sid[i], name[i], pairs[i]);
        struct counts now = counts_of(&n);
        assert_int_equal(now.bc_hits - prev.bc_hits, steps[k].hit ? 1 : 0);
        assert_int_equal(now.bc_misses - prev.bc_misses, steps[k].hit ? 0 : 1);
        assert_int_equal(now.bc_evictions - start.bc_evictions, steps[k].evictions);
        assert_int_equal(now.bc_entries, k == 0 ? 1 : 2);
        /* a hit opens no credential; a miss opens the service's one */
        assert_int_equal((now.dk_hits + now.dk_misses) - (prev.dk_hits + prev.dk_misses),
                         steps[k].hit ? 0 : 1);
        prev = now;
    }

    for (size_t i = 0; i < 3; i++)
        svc_token_free(&t[i]);
    assert_int_equal(t_cofferd_stop(&d), 0);
}

/* One fetch of test_concurrent_...(): plain libcurl, since cmocka may fail only on the main
 * thread. */
struct fetch_job {
    char url[256];
    const char *auth; /* the header line */
    pthread_barrier_t *start;
    long status;
    struct cf_buf body;
};

static size_t collect(char *p, size_t size, size_t n, void *userdata)
{
    cf_buf_append(userdata, p, size * n);
    return size * n;
}

static void *fetch_thread(void *arg)
{
    struct fetch_job *j = arg;
    struct curl_slist *hl = curl_slist_append(NULL, j->auth);
    CURL *h = curl_easy_init();

    j->status = -1;
    if (h != NULL) {
        curl_easy_setopt(h, CURLOPT_URL, j->url);
        curl_easy_setopt(h, CURLOPT_HTTPHEADER, hl);
        curl_easy_setopt(h, CURLOPT_TIMEOUT, 60L);
        curl_easy_setopt(h, CURLOPT_NOSIGNAL, 1L);
        curl_easy_setopt(h, CURLOPT_WRITEFUNCTION, collect);
        curl_easy_setopt(h, CURLOPT_WRITEDATA, &j->body);
    }
    pthread_barrier_wait(j->start);
    if (h != NULL && curl_easy_perform(h) == CURLE_OK)
        curl_easy_getinfo(h, CURLINFO_RESPONSE_CODE, &j->status);
    cf_buf_append(&j->body, "", 0);
    curl_slist_free_all(hl);
    curl_easy_cleanup(h);
    return NULL;
}

#define NJOBS 16

static void test_concurrent_first_fetches_each_get_their_own_bundle(void **state)
{
    struct tkms *f = *state;
    char sid[2][64], name[2][64], id[2][TAPI_ID_LEN];
    struct svc_token t[4];
    struct fetch_job jobs[NJOBS];
    pthread_t th[NJOBS];
    pthread_barrier_t start;
    struct t_cofferd d;

    for (size_t s = 0; s < 2; s++) {
        char pairs[64];
        snprintf(pairs, sizeof(pairs), "{\"pw\": \"concurrent-value-%zu\"}", s);
        cred(f, "conc-", pairs, name[s], sizeof(name[s]), id[s]);
        tapi_name(sid[s], sizeof(sid[s]), "svc-conc-");
        const char *ids[] = { id[s], NULL };
        tapi_svc_map(&f->api, sid[s], ids);
    }
    for (size_t k = 0; k < 4; k++)
        svc_token_new(f, sid[k % 2], &t[k]);
    tkms_start_node(f, &d, NULL); /* cold caches: every first fetch races */

    curl_global_init(CURL_GLOBAL_DEFAULT);
    assert_int_equal(pthread_barrier_init(&start, NULL, NJOBS), 0);
    for (size_t i = 0; i < NJOBS; i++) {
        jobs[i] = (struct fetch_job){ .auth = t[i % 4].basic.h[0], .start = &start };
        snprintf(jobs[i].url, sizeof(jobs[i].url), "%s/v1/services/%s?metadata_only=False",
                 d.base_url, sid[i % 2]);
        assert_int_equal(pthread_create(&th[i], NULL, fetch_thread, &jobs[i]), 0);
    }
    for (size_t i = 0; i < NJOBS; i++)
        pthread_join(th[i], NULL);
    pthread_barrier_destroy(&start);

    struct cf_buf problems = { 0 };
    for (size_t i = 0; i < NJOBS; i++) {
        char label[32], want[64];
        json_error_t jerr;
        snprintf(label, sizeof(label), "fetch %zu", i);
        snprintf(want, sizeof(want), "{\"pw\": \"concurrent-value-%zu\"}", i % 2);
        json_t *b = json_loads(jobs[i].body.data, 0, &jerr);
        json_t *pairs = tkms_bundle_pairs(b, name[i % 2]);
        json_t *expect = json_loads(want, 0, &jerr);
        if (jobs[i].status != 200 || pairs == NULL || !json_equal(pairs, expect) ||
            tkms_bundle_pairs(b, name[(i + 1) % 2]) != NULL)
            tapi_collect(&problems, label,
                         tapi_printf("%ld %.300s", jobs[i].status, jobs[i].body.data));
        json_decref(expect);
        json_decref(b);
        cf_buf_free(&jobs[i].body);
    }
    for (size_t k = 0; k < 4; k++)
        svc_token_free(&t[k]);
    int rc = t_cofferd_stop(&d);
    curl_global_cleanup();
    tapi_collect_end(&problems);
    assert_int_equal(rc, 0);
}

/* --- ETag and 304 -------------------------------------------------------------------------- */

static void test_a_bundle_has_the_documented_strong_etag_and_vary(void **state)
{
    struct tkms *f = *state;
    char sid[64], n1[64], n2[64], a[TAPI_ID_LEN], b[TAPI_ID_LEN], path[160], got[64], want[64];
    char v[128], full_tag[64];
    struct svc_token t;
    struct t_resp r;

    cred(f, "tag-1-", "{\"x\": \"1\"}", n1, sizeof(n1), a);
    cred(f, "tag-2-", "{\"y\": \"2\"}", n2, sizeof(n2), b);
    tapi_name(sid, sizeof(sid), "svc-tag-");
    const char *ids[] = { b, a, NULL };
    tapi_svc_map(&f->api, sid, ids);
    svc_token_new(f, sid, &t);

    snprintf(path, sizeof(path), "/v1/services/%s?metadata_only=False", sid);
    get_as(&f->api, &t, NULL, &r, path);
    etag_of(&r, got);
    tapi_bundle_etag(&f->api, sid, true, SERVICE_PERMS, want);
    assert_string_equal(got, want); /* strong: in quotes, no W/ */
    snprintf(full_tag, sizeof(full_tag), "%s", got);
    assert_true(t_resp_header(&r, "Vary", v, sizeof(v)));
    assert_string_equal(v, "Authorization, X-Auth-From, X-Auth-Token");
    t_resp_free(&r);

    snprintf(path, sizeof(path), "/v1/services/%s?metadata_only=True", sid);
    get_as(&f->api, &t, NULL, &r, path);
    etag_of(&r, got);
    tapi_bundle_etag(&f->api, sid, false, SERVICE_PERMS, want);
    assert_string_equal(got, want);
    assert_string_not_equal(got, full_tag); /* metadata_only and full differ */
    t_resp_free(&r);

    /* a v1 token of the same service sees the same bundle: the same tag */
    char *v1 = tkms_token(f, 1, "service", sid);
    tkms_get(&f->api, TKMS_XAUTH, sid, v1, NULL, &r, "/v1/services/%s", sid);
    etag_of(&r, got);
    assert_string_equal(got, full_tag);
    t_resp_free(&r);
    free(v1);

    /* an admin has other permissions: another tag */
    tapi_send(&f->api, f->api.admin, "GET", NULL, &r, "/v1/services/%s", sid);
    etag_of(&r, got);
    tapi_bundle_etag(&f->api, sid, true, ADMIN_PERMS, want);
    assert_string_equal(got, want);
    assert_string_not_equal(got, full_tag);
    t_resp_free(&r);
    svc_token_free(&t);
}

/* NULL if r is the 304 of API.md 8.3 for etag, else what is wrong (free() it). */
static char *not_modified_diff(const struct t_resp *r, const char *etag)
{
    char v[128];

    if (r->status != 304)
        return tapi_printf("expected 304, got %ld: %.300s", r->status, r->body.data);
    if (r->body.len != 0)
        return tapi_printf("a 304 has no body, got %zu bytes", r->body.len);
    if (!t_resp_header(r, "ETag", v, sizeof(v)) || strcmp(v, etag) != 0)
        return tapi_printf("a 304 carries the ETag %s", etag);
    if (!t_resp_header(r, "X-Request-Id", v, sizeof(v)) || !cf_is_lower_hex(v, 32))
        return tapi_printf("a 304 carries an X-Request-Id");
    if (!t_resp_header(r, "Cache-Control", v, sizeof(v)) || strcmp(v, "no-store") != 0)
        return tapi_printf("a 304 carries Cache-Control: no-store");
    return NULL;
}

static void test_if_none_match_answers_304_without_a_body_or_a_kms_call(void **state)
{
    struct tkms *f = *state;
    char sid[64], n1[64], a[TAPI_ID_LEN], path[160], tag[64], mtag[64], inm[256];
    struct svc_token t;
    struct t_resp r;

    cred(f, "inm-", "{\"pw\": \"conditional-secret\"}", n1, sizeof(n1), a);
    tapi_name(sid, sizeof(sid), "svc-inm-");
    const char *ids[] = { a, NULL };
    tapi_svc_map(&f->api, sid, ids);
    svc_token_new(f, sid, &t);
    snprintf(path, sizeof(path), "/v1/services/%s?metadata_only=False", sid);
    get_as(&f->api, &t, NULL, &r, path); /* warms the token cache */
    etag_of(&r, tag);
    t_resp_free(&r);
    tkms_get(&f->api, TKMS_BASIC, t.username, t.token, NULL, &r,
             "/v1/services/%s?metadata_only=True", sid);
    etag_of(&r, mtag);
    t_resp_free(&r);

    uint64_t calls = tkms_kms_calls(&f->api), n304 = tkms_metric(&f->api, BUNDLES_304);
    uint64_t n200 = tkms_metric(&f->api, BUNDLES_200);
    char *forms[] = {
        tapi_printf("If-None-Match: %s", tag),
        tapi_printf("If-None-Match: W/%s", tag),
        tapi_printf("If-None-Match: *"),
        tapi_printf("If-None-Match: \"00000000000000000000000000000000\", %s", tag),
        tapi_printf("If-None-Match: \"0123\",%s,\"4567\"", tag),
        tapi_printf("If-None-Match: \"00000000000000000000000000000000\", W/%s", tag),
    };
    size_t nforms = sizeof(forms) / sizeof(forms[0]);
    struct cf_buf problems = { 0 };
    for (size_t i = 0; i < nforms; i++) {
        get_as(&f->api, &t, forms[i], &r, path);
        char *d = not_modified_diff(&r, tag);
        if (d == NULL)
            d = tkms_audit_diff(&f->api, &r, "service", sid, "service.get", sid, "allowed",
                                "not_modified");
        tapi_collect(&problems, forms[i], d);
        t_resp_free(&r);
    }
    /* the header pair works the same way */
    snprintf(inm, sizeof(inm), "If-None-Match: %s", tag);
    tkms_get(&f->api, TKMS_XAUTH, t.username, t.token, inm, &r, "%s", path);
    tapi_collect(&problems, "X-Auth headers", not_modified_diff(&r, tag));
    t_resp_free(&r);
    /* metadata_only has its own tag */
    snprintf(inm, sizeof(inm), "If-None-Match: %s", mtag);
    tkms_get(&f->api, TKMS_BASIC, t.username, t.token, inm, &r,
             "/v1/services/%s?metadata_only=True", sid);
    tapi_collect(&problems, "metadata_only with its tag", not_modified_diff(&r, mtag));
    t_resp_free(&r);
    tapi_collect_end(&problems);
    assert_int_equal(tkms_kms_calls(&f->api), calls);
    assert_int_equal(tkms_metric(&f->api, BUNDLES_304), n304 + nforms + 2);
    assert_int_equal(tkms_metric(&f->api, BUNDLES_200), n200);

    /* tags that do not match: the full answer */
    char *misses[] = {
        tapi_printf("If-None-Match: \"00000000000000000000000000000000\""),
        tapi_printf("If-None-Match: %s", mtag),     /* the metadata tag for the full bundle */
        tapi_printf("If-None-Match: %.32s\"", tag), /* the tag with its last digit cut */
    };
    for (size_t i = 0; i < sizeof(misses) / sizeof(misses[0]); i++) {
        char got[64];
        get_as(&f->api, &t, misses[i], &r, path);
        etag_of(&r, got);
        assert_string_equal(got, tag);
        json_t *s = tapi_ok(&r);
        tapi_assert_json(tkms_bundle_pairs(s, n1), "{\"pw\": \"conditional-secret\"}");
        json_decref(s);
        t_resp_free(&r);
        free(misses[i]);
    }
    for (size_t i = 0; i < nforms; i++)
        free(forms[i]);
    svc_token_free(&t);
}

static void test_a_conditional_fetch_still_authenticates_authorises_and_looks_up_first(void **state)
{
    struct tkms *f = *state;
    char sid[64], other[64], ghost[64], n1[64], a[TAPI_ID_LEN], path[160];
    struct svc_token t, g;
    struct t_resp r;

    cred(f, "cond-", "{\"pw\": \"cond-secret\"}", n1, sizeof(n1), a);
    tapi_name(sid, sizeof(sid), "svc-cond-");
    tapi_name(other, sizeof(other), "svc-cond-other-");
    const char *ids[] = { a, NULL };
    tapi_svc_map(&f->api, sid, ids);
    tapi_svc_map(&f->api, other, ids);
    svc_token_new(f, sid, &t);

    /* a refused token */
    int64_t now = tkms_now();
    char *expired =
        tkms_token_window(f, f->auth.alias, 2, "service", sid, f->context, now - 1200, now - 600);
    tkms_get(&f->api, TKMS_BASIC, t.username, expired, "If-None-Match: *", &r, "/v1/services/%s",
             sid);
    tapi_check_error(&r, 401, "authentication_failed");
    t_resp_free(&r);
    free(expired);
    /* another service */
    snprintf(path, sizeof(path), "/v1/services/%s", other);
    get_as(&f->api, &t, "If-None-Match: *", &r, path);
    tapi_check_error(&r, 403, "forbidden");
    t_resp_free(&r);
    /* its own id, missing */
    tapi_name(ghost, sizeof(ghost), "svc-cond-ghost-");
    svc_token_new(f, ghost, &g);
    snprintf(path, sizeof(path), "/v1/services/%s", ghost);
    get_as(&f->api, &g, "If-None-Match: *", &r, path);
    tapi_check_error(&r, 404, "not_found");
    t_resp_free(&r);
    svc_token_free(&g);
    /* its own, disabled */
    tapi_svc_put(&f->api, sid, "{\"enabled\": false}");
    snprintf(path, sizeof(path), "/v1/services/%s", sid);
    get_as(&f->api, &t, "If-None-Match: *", &r, path);
    tapi_check_error(&r, 403, "service_disabled");
    t_resp_free(&r);
    svc_token_free(&t);
}

static void test_the_etag_changes_with_everything_the_bundle_shows(void **state)
{
    struct tkms *f = *state;
    char sid[64], n1[64], n2[64], a[TAPI_ID_LEN], b[TAPI_ID_LEN], path[160], inm[128];
    char prev[64], now_tag[64], want[64];
    struct svc_token t;
    struct t_resp r;

    cred(f, "chg-1-", "{\"k1\": \"first-value\"}", n1, sizeof(n1), a);
    cred(f, "chg-2-", "{\"k2\": \"second-value\"}", n2, sizeof(n2), b);
    tapi_name(sid, sizeof(sid), "svc-chg-");
    const char *only_a[] = { a, NULL }, *both[] = { a, b, NULL }, *only_b[] = { b, NULL };
    tapi_svc_map(&f->api, sid, only_a);
    svc_token_new(f, sid, &t);
    snprintf(path, sizeof(path), "/v1/services/%s?metadata_only=False", sid);
    get_as(&f->api, &t, NULL, &r, path);
    etag_of(&r, prev);
    t_resp_free(&r);

    static const char *const steps[] = { "credential values updated", "credential mapped",
                                         "credential unmapped", "credential disabled",
                                         "service updated (new revision)" };
    for (size_t i = 0; i < sizeof(steps) / sizeof(steps[0]); i++) {
        print_message("after: %s\n", steps[i]);
        switch (i) {
        case 0:
            tapi_cred_put(&f->api, a, "{\"credential_pairs\": {\"k1\": \"changed-value\"}}");
            break;
        case 1:
            tapi_svc_map(&f->api, sid, both);
            break;
        case 2:
            tapi_svc_map(&f->api, sid, only_b);
            break;
        case 3:
            tapi_cred_put(&f->api, b, "{\"enabled\": false}");
            break;
        default:
            tapi_svc_map(&f->api, sid, only_b);
            break;
        }
        snprintf(inm, sizeof(inm), "If-None-Match: %s", prev);
        get_as(&f->api, &t, inm, &r, path); /* the old tag: never a 304 now */
        etag_of(&r, now_tag);
        tapi_bundle_etag(&f->api, sid, true, SERVICE_PERMS, want);
        assert_string_equal(now_tag, want);
        assert_string_not_equal(now_tag, prev);
        json_t *s = tapi_ok(&r);
        switch (i) {
        case 0:
            tapi_assert_json(tkms_bundle_pairs(s, n1), "{\"k1\": \"changed-value\"}");
            break;
        case 1:
            tapi_assert_json(tkms_bundle_pairs(s, n2), "{\"k2\": \"second-value\"}");
            break;
        case 2:
            assert_null(tkms_bundle_pairs(s, n1));
            break;
        default:
            tapi_assert_json(tkms_bundle_pairs(s, n2), "{}");
            break;
        }
        json_decref(s);
        t_resp_free(&r);
        snprintf(prev, sizeof(prev), "%s", now_tag);
    }
    svc_token_free(&t);
}

/* --- configuration ------------------------------------------------------------------------- */

static void test_the_default_maximum_lifetime_is_60_minutes(void **state)
{
    struct tkms *f = *state;
    char sid[64], u2[200];
    int64_t now = tkms_now();
    struct t_resp r;

    tapi_name(sid, sizeof(sid), "svc-life-");
    tapi_svc_put(&f->api, sid, "{}");
    tkms_username(2, "service", sid, u2, sizeof(u2));
    char *sixty = tkms_token_window(f, f->auth.alias, 2, "service", sid, f->context, now - 180,
                                    now - 180 + 3600);
    char *more = tkms_token_window(f, f->auth.alias, 2, "service", sid, f->context, now - 180,
                                   now - 180 + 3601);
    tkms_fetch(&f->api, u2, sixty, sid, &r);
    json_decref(tapi_ok(&r));
    t_resp_free(&r);
    tkms_fetch(&f->api, u2, more, sid, &r);
    tapi_check_error(&r, 401, "authentication_failed");
    tkms_audit(&f->api, &r, "anonymous", u2, "service.get", sid, "denied", "kmsauth_lifetime");
    t_resp_free(&r);
    free(sixty);
    free(more);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_a_service_reads_its_own_bundle_in_the_shape_the_client_reads),
        cmocka_unit_test(test_a_service_may_read_no_other_service_existing_or_not),
        cmocka_unit_test(test_a_disabled_service_is_refused_to_itself_but_not_to_an_admin),
        cmocka_unit_test(test_a_fetch_whose_audit_row_cannot_be_written_fails_closed),
        cmocka_unit_test(test_a_warm_fetch_is_answered_from_the_bundle_cache_with_no_kms_call),
        cmocka_unit_test(test_with_the_bundle_cache_off_the_data_key_cache_spares_the_decrypts),
        cmocka_unit_test(test_a_cached_bundle_older_than_its_ttl_is_rebuilt),
        cmocka_unit_test(test_a_full_bundle_cache_evicts_the_least_recently_fetched_bundle),
        cmocka_unit_test(test_concurrent_first_fetches_each_get_their_own_bundle),
        cmocka_unit_test(test_a_bundle_has_the_documented_strong_etag_and_vary),
        cmocka_unit_test(test_if_none_match_answers_304_without_a_body_or_a_kms_call),
        cmocka_unit_test(
            test_a_conditional_fetch_still_authenticates_authorises_and_looks_up_first),
        cmocka_unit_test(test_the_etag_changes_with_everything_the_bundle_shows),
        cmocka_unit_test(test_the_default_maximum_lifetime_is_60_minutes),
    };

    cf_json_init();
    cf_log_set_level(CF_LOG_ERROR);
    return t_run_group_tests(tests, tkms_setup, tkms_teardown);
}
