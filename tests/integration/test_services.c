/* test_services.c - the service endpoints of the v1 API over HTTP (API.md 4.2, 3.2, 3.3):
 * create and update with the official client's body, the bundle and its metadata-only form,
 * its ETag and 304 (8.3), list and paging, revisions, revert and diff, roles, the access log
 * failing closed, and change notifications. Key conflicts, the 100-credential limit, the
 * credential-to-services mapping and concurrent writers: test_services_mappings.c. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>
#include <jansson.h>

#include "cf_codec.h"
#include "cf_json.h"
#include "tapi.h"
#include "tsupport.h"

#define UNKNOWN_ID "0123456789abcdef0123456789abcdef"

/* The body the official client's add/remove-credentials sends (API.md 6). */
static char *client_body(const char *sid, bool enabled, const char *const *ids)
{
    struct cf_buf b = { 0 };

    assert_int_equal(cf_buf_printf(&b,
                                   "{\"id\": \"%s\", \"account\": null, \"enabled\": %s, "
                                   "\"credentials\": [",
                                   sid, enabled ? "true" : "false"),
                     0);
    for (size_t i = 0; ids != NULL && ids[i] != NULL; i++)
        assert_int_equal(cf_buf_printf(&b, "%s\"%s\"", i > 0 ? ", " : "", ids[i]), 0);
    cf_buf_append_str(&b, "], \"blind_credentials\": []}");
    char *s = strdup(b.data);
    cf_buf_free(&b);
    return s;
}

/* The ids of the expanded credentials of a service, in order, joined with commas. */
static char *cred_ids(const json_t *svc)
{
    struct cf_buf b = { 0 };
    json_t *v;
    size_t i;

    json_array_foreach(json_object_get(svc, "credentials"), i, v)
    {
        assert_int_equal(cf_buf_printf(&b, "%s%s", i > 0 ? "," : "", tapi_str(v, "id")), 0);
    }
    char *s = strdup(b.data != NULL ? b.data : "");
    cf_buf_free(&b);
    return s;
}

static json_t *get_svc(const struct tapi *f, const char *auth, const char *sid, const char *query,
                       struct t_resp *r)
{
    tapi_send(f, auth, "GET", NULL, r, "/v1/services/%s%s", sid, query);
    return tapi_ok(r);
}

static char *mapped_ids(const struct tapi *f, const char *sid)
{
    char sql[512];
    snprintf(sql, sizeof(sql),
             "SELECT coalesce(string_agg(credential_id, ',' ORDER BY credential_id), '') FROM "
             "service_credentials WHERE service_id = '%s'",
             sid);
    return tapi_sql(f, sql);
}

static long svc_revision_rows(const struct tapi *f, const char *sid)
{
    char sql[256];
    snprintf(sql, sizeof(sql), "SELECT count(*) FROM service_revisions WHERE service_id = '%s'",
             sid);
    return tapi_count(f, sql);
}

/* Asserts that a service answer is the metadata-only form of API.md 3.2. */
static void assert_metadata_form(const json_t *svc)
{
    json_t *c;
    size_t i;

    tapi_assert_members(svc, TAPI_SVC_MEMBERS);
    tapi_assert_json(json_object_get(svc, "blind_credentials"), "[]");
    json_array_foreach(json_object_get(svc, "credentials"), i, c)
    {
        tapi_assert_members(c, TAPI_CRED_MEMBERS);
        tapi_assert_json(json_object_get(c, "credential_pairs"), "{}");
        tapi_assert_json(json_object_get(c, "permissions"), "{}");
        assert_true(json_is_array(json_object_get(c, "credential_keys")));
    }
}

/* --- create and update --------------------------------------------------------------------- */

static void test_put_creates_a_service_from_the_clients_body(void **state)
{
    struct tapi *f = *state;
    char sid[64], na[64], nb[64], ida[TAPI_ID_LEN], idb[TAPI_ID_LEN];
    struct t_resp r;

    tapi_name(na, sizeof(na), "svc-create-a-");
    tapi_name(nb, sizeof(nb), "svc-create-b-");
    tapi_cred_new(f, na, "{\"a_key\": \"svc-create-value-a\"}", ida);
    tapi_cred_new(f, nb, "{\"b_key\": \"svc-create-value-b\"}", idb);
    tapi_name(sid, sizeof(sid), "web-create-");
    const char *ids[] = { idb, ida, idb, NULL }; /* duplicates are dropped */
    char *body = client_body(sid, true, ids);

    const char *h[] = { f->admin, "Content-Type: application/json", "Accept: text/plain", NULL };
    tapi_send_h(f, h, "PUT", body, &r, "/v1/services/%s", sid); /* as the client sends it */
    json_t *b = tapi_ok(&r);                                    /* 200, not 201 */
    assert_metadata_form(b);
    assert_string_equal(tapi_str(b, "id"), sid);
    assert_true(json_is_null(json_object_get(b, "account")));
    assert_true(tapi_bool(b, "enabled"));
    assert_int_equal(tapi_int(b, "revision"), 1);
    assert_string_equal(tapi_str(b, "modified_by"), TAPI_ADMIN_ACTOR);
    tapi_assert_timestamp(tapi_str(b, "modified_date"));
    tapi_assert_json(json_object_get(b, "permissions"),
                     "{\"create\": true, \"metadata\": true, \"get\": true, \"update\": true}");
    char *got = cred_ids(b), *want = tapi_printf("%s,%s", ida, idb); /* by name */
    assert_string_equal(got, want);
    json_t *a = json_array_get(json_object_get(b, "credentials"), 0);
    assert_string_equal(tapi_str(a, "name"), na);
    tapi_assert_json(json_object_get(a, "credential_keys"), "[\"a_key\"]");
    tapi_assert_absent(r.body.data, "svc-create-value", "a service PUT answer");
    tapi_audit(f, &r, TAPI_ADMIN_ACTOR, "service.create", "service", sid, 1, "allowed", "ok");
    json_decref(b);
    t_resp_free(&r);

    assert_int_equal(tapi_svc_revision(f, sid), 1);
    assert_int_equal(svc_revision_rows(f, sid), 1);
    char *mapped = mapped_ids(f, sid);
    char *sorted =
        strcmp(ida, idb) < 0 ? tapi_printf("%s,%s", ida, idb) : tapi_printf("%s,%s", idb, ida);
    assert_string_equal(mapped, sorted);
    free(mapped);
    free(sorted);
    free(got);
    free(want);
    free(body);
}

static void test_put_with_an_empty_body_object_creates_with_defaults(void **state)
{
    struct tapi *f = *state;
    char sid[64];
    struct t_resp r;

    tapi_name(sid, sizeof(sid), "web-defaults-");
    tapi_send(f, f->admin, "PUT", "{}", &r, "/v1/services/%s", sid);
    json_t *b = tapi_ok(&r);
    assert_metadata_form(b);
    assert_true(tapi_bool(b, "enabled"));
    assert_true(json_is_null(json_object_get(b, "account")));
    tapi_assert_json(json_object_get(b, "credentials"), "[]");
    assert_int_equal(tapi_int(b, "revision"), 1);
    json_decref(b);
    t_resp_free(&r);
}

static void
test_put_update_keeps_an_omitted_credentials_list_and_always_makes_a_revision(void **state)
{
    struct tapi *f = *state;
    char sid[64], name[64], id[TAPI_ID_LEN];
    struct t_resp r;

    tapi_name(name, sizeof(name), "svc-upd-");
    tapi_cred_new(f, name, "{\"upd_key\": \"v\"}", id);
    tapi_name(sid, sizeof(sid), "web-update-");
    const char *ids[] = { id, NULL };
    tapi_svc_map(f, sid, ids);

    tapi_send(f, f->admin, "PUT", "{\"enabled\": false}", &r, "/v1/services/%s", sid);
    json_t *b = tapi_ok(&r);
    assert_metadata_form(b);
    assert_int_equal(tapi_int(b, "revision"), 2);
    assert_false(tapi_bool(b, "enabled"));
    char *got = cred_ids(b);
    assert_string_equal(got, id);
    free(got);
    tapi_assert_json(json_object_get(b, "permissions"),
                     "{\"create\": true, \"metadata\": true, \"get\": true, \"update\": true}");
    tapi_audit(f, &r, TAPI_ADMIN_ACTOR, "service.update", "service", sid, 2, "allowed", "ok");
    json_decref(b);
    t_resp_free(&r);

    tapi_send(f, f->admin, "PUT", "{}", &r, "/v1/services/%s", sid); /* no change: a revision */
    b = tapi_ok(&r);
    assert_int_equal(tapi_int(b, "revision"), 3);
    assert_false(tapi_bool(b, "enabled"));
    got = cred_ids(b);
    assert_string_equal(got, id);
    free(got);
    json_decref(b);
    t_resp_free(&r);

    tapi_send(f, f->admin, "PUT", "{\"credentials\": []}", &r, "/v1/services/%s", sid);
    b = tapi_ok(&r);
    assert_int_equal(tapi_int(b, "revision"), 4);
    tapi_assert_json(json_object_get(b, "credentials"), "[]");
    assert_false(tapi_bool(b, "enabled"));
    json_decref(b);
    t_resp_free(&r);
    char *mapped = mapped_ids(f, sid);
    assert_string_equal(mapped, "");
    free(mapped);
    assert_int_equal(svc_revision_rows(f, sid), 4);
}

static void test_expected_revision_0_means_create_only_and_stale_ones_are_409(void **state)
{
    struct tapi *f = *state;
    char sid[64];
    struct t_resp r;

    tapi_name(sid, sizeof(sid), "web-expected-");
    tapi_svc_put(f, sid, "{\"expected_revision\": 0}");
    char *before = tapi_state(f);
    tapi_send(f, f->admin, "PUT", "{\"expected_revision\": 0, \"enabled\": false}", &r,
              "/v1/services/%s", sid);
    json_t *b = tapi_error(&r, 409, "revision_conflict");
    assert_int_equal(tapi_int(b, "current_revision"), 1);
    tapi_audit(f, &r, TAPI_ADMIN_ACTOR, "service.create|service.update", "service", sid, TAPI_ANY,
               TAPI_REFUSED, "revision_conflict");
    json_decref(b);
    t_resp_free(&r);
    tapi_send(f, f->admin, "PUT", "{\"expected_revision\": 2, \"enabled\": false}", &r,
              "/v1/services/%s", sid);
    b = tapi_error(&r, 409, "revision_conflict");
    assert_int_equal(tapi_int(b, "current_revision"), 1);
    json_decref(b);
    t_resp_free(&r);
    tapi_assert_unchanged(f, before);
    tapi_svc_put(f, sid, "{\"expected_revision\": 1, \"enabled\": false}");
    assert_int_equal(tapi_svc_revision(f, sid), 2);
}

struct svc_case {
    const char *body; /* "%s" stands for the service id, "%c" for a real credential id */
    const char *codes;
    const char *reference; /* expected "reference", or NULL */
};

/* Expands %s (service id) and %c (credential id) in a case body. */
static char *expand(const char *tmpl, const char *sid, const char *cid)
{
    struct cf_buf b = { 0 };
    for (const char *p = tmpl; *p != '\0'; p++) {
        if (p[0] == '%' && p[1] == 's') {
            cf_buf_append_str(&b, sid);
            p++;
        } else if (p[0] == '%' && p[1] == 'c') {
            cf_buf_append_str(&b, cid);
            p++;
        } else {
            cf_buf_append_char(&b, *p);
        }
    }
    char *s = strdup(b.data);
    cf_buf_free(&b);
    return s;
}

static const struct svc_case svc_cases[] = {
    { "{\"id\": \"other-service\", \"credentials\": []}", "id_mismatch", NULL },
    { "{\"id\": \"%s-x\"}", "id_mismatch", NULL },
    { "{\"credentials\": [\"%c\", \"" UNKNOWN_ID "\", \"fedcba9876543210fedcba9876543210\"]}",
      "unknown_credential", UNKNOWN_ID },
    { "{\"credentials\": [\"not-a-credential\"]}", "unknown_credential", "not-a-credential" },
    { "{\"id\": \"%s\", \"account\": null, \"enabled\": true, \"credentials\": [\"%c\"], "
      "\"blind_credentials\": [\"" UNKNOWN_ID "\"]}",
      "blind_credentials_unsupported", NULL },
    { "{\"account\": \"123456789012\"}", "invalid_account", NULL },
    { "{\"account\": 5}", "invalid_request|invalid_account", NULL },
    { "{\"credentials\": \"%c\"}", "invalid_request", NULL },
    { "{\"credentials\": {\"id\": \"%c\"}}", "invalid_request", NULL },
    { "{\"credentials\": null}", "invalid_request", NULL },
    { "{\"credentials\": [5]}", "invalid_request", NULL },
    { "{\"credentials\": [\"a\\u0000b\"]}", "invalid_request", NULL },
    { "{\"blind_credentials\": \"x\"}", "invalid_request|blind_credentials_unsupported", NULL },
    { "{\"enabled\": \"yes\"}", "invalid_request", NULL },
    { "{\"enabled\": null}", "invalid_request", NULL },
    { "{\"enabled\": 0}", "invalid_request", NULL },
    { "{\"id\": 5}", "invalid_request|id_mismatch", NULL },
    { "{\"expected_revision\": \"0\"}", "invalid_request", NULL },
    { "{\"enabled\": true", "invalid_json", NULL },
    { "{\"enabled\": true, \"enabled\": false}", "invalid_json", NULL },
    { "{\"credentials\": [], \"credentials\": [\"%c\"]}", "invalid_json", NULL },
    { "[]", "invalid_request", NULL },
    { "\"%s\"", "invalid_request", NULL },
    { "null", "invalid_request", NULL },
};

static void expect_svc_refused(const struct tapi *f, const char *sid, const char *cid,
                               const struct svc_case *c, bool exists, struct cf_buf *problems)
{
    struct t_resp r;
    char *body = expand(c->body, sid, cid);
    char *before = tapi_state(f);
    char label[300];

    snprintf(label, sizeof(label), "PUT %s service %.120s", exists ? "existing" : "new", c->body);
    tapi_send(f, f->admin, "PUT", body, &r, "/v1/services/%s", sid);
    char *d = tapi_error_diff(&r, 400, c->codes);
    if (d == NULL) {
        json_t *b = tapi_json(&r);
        const char *ref = cf_json_str(b, "reference");
        if (c->reference != NULL && (ref == NULL || strcmp(ref, c->reference) != 0))
            d = tapi_printf("reference should be %s: %.300s", c->reference, r.body.data);
        else
            d = tapi_audit_diff(f, &r, TAPI_ADMIN_ACTOR,
                                exists ? "service.update" : "service.create|service.update", NULL,
                                NULL, TAPI_ANY, TAPI_REFUSED, cf_json_str(b, "code"));
        json_decref(b);
    }
    tapi_collect(problems, label, d);
    tapi_collect(problems, label, tapi_unchanged_diff(f, before));
    t_resp_free(&r);
    free(body);
}

static void test_put_refuses_every_invalid_body_and_changes_nothing(void **state)
{
    struct tapi *f = *state;
    char name[64], cid[TAPI_ID_LEN], fresh[64], existing[64];

    tapi_name(name, sizeof(name), "svc-bad-");
    tapi_cred_new(f, name, "{\"bad_key\": \"v\"}", cid);
    tapi_name(existing, sizeof(existing), "web-bad-existing-");
    const char *ids[] = { cid, NULL };
    tapi_svc_map(f, existing, ids);
    struct cf_buf problems = { 0 };
    for (size_t i = 0; i < sizeof(svc_cases) / sizeof(svc_cases[0]); i++) {
        tapi_name(fresh, sizeof(fresh), "web-bad-new-");
        expect_svc_refused(f, fresh, cid, &svc_cases[i], false, &problems);
        expect_svc_refused(f, existing, cid, &svc_cases[i], true, &problems);
    }
    tapi_collect_end(&problems);
    assert_int_equal(tapi_svc_revision(f, existing), 1);
}

static void test_put_refuses_a_body_that_is_not_json(void **state)
{
    struct tapi *f = *state;
    char sid[64];
    struct t_resp r;
    const char *text[] = { f->admin, "Content-Type: text/plain", NULL };

    tapi_name(sid, sizeof(sid), "web-media-");
    char *before = tapi_state(f);
    tapi_send_h(f, text, "PUT", "{\"enabled\": true}", &r, "/v1/services/%s", sid);
    tapi_check_error(&r, 415, "unsupported_media_type");
    t_resp_free(&r);
    char *doc = tapi_rep('x', 300 * 1024);
    char *big = tapi_printf("{\"enabled\": true, \"padding\": \"%s\"}", doc);
    tapi_send(f, f->admin, "PUT", big, &r, "/v1/services/%s", sid);
    tapi_check_error(&r, 413, "body_too_large");
    t_resp_free(&r);
    tapi_assert_unchanged(f, before);
    free(doc);
    free(big);
}

static void test_service_ids_follow_the_documented_pattern(void **state)
{
    struct tapi *f = *state;
    char sid[200];
    struct t_resp r;
    static const char *const bad[] = { "-leading-dash", "a%20b",  "a*b",
                                       "%C3%A9t%C3%A9", "_under", "a%22b" };

    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        char *before = tapi_state(f);
        tapi_send(f, f->admin, "PUT", "{}", &r, "/v1/services/%s", bad[i]);
        if (r.status != 400)
            fail_msg("PUT /v1/services/%s: expected 400 invalid_id, got %ld %.300s", bad[i],
                     r.status, r.body.data);
        tapi_check_error(&r, 400, "invalid_id");
        t_resp_free(&r);
        tapi_assert_unchanged(f, before);
    }
    char *long_id = tapi_rep('s', 129);
    char *before = tapi_state(f);
    tapi_send(f, f->admin, "PUT", "{}", &r, "/v1/services/%s", long_id);
    tapi_check_error(&r, 400, "invalid_id");
    t_resp_free(&r);
    tapi_assert_unchanged(f, before);

    /* the longest id, and every punctuation character allowed */
    tapi_name(sid, sizeof(sid), "");
    memcpy(long_id, sid, 8);
    long_id[128] = '\0';
    tapi_svc_put(f, long_id, "{}");
    assert_int_equal(tapi_svc_revision(f, long_id), 1);
    tapi_name(sid, sizeof(sid), "Svc.test@x+y=z,w-v_u");
    tapi_send(f, f->admin, "PUT", "{}", &r, "/v1/services/%s", sid);
    json_t *b = tapi_ok(&r);
    assert_string_equal(tapi_str(b, "id"), sid);
    json_decref(b);
    t_resp_free(&r);
    assert_int_equal(tapi_svc_revision(f, sid), 1);
    b = get_svc(f, f->admin, sid, "?metadata_only=true", &r);
    assert_string_equal(tapi_str(b, "id"), sid);
    json_decref(b);
    t_resp_free(&r);
    /* path segments are percent-decoded once */
    char pct[64];
    tapi_name(pct, sizeof(pct), "web-pct-");
    tapi_svc_put(f, pct, "{}");
    tapi_send(f, f->admin, "GET", NULL, &r, "/v1/services/web%%2Dpct-%s?metadata_only=true",
              pct + 8);
    b = tapi_ok(&r);
    assert_string_equal(tapi_str(b, "id"), pct);
    json_decref(b);
    t_resp_free(&r);
    char *before2 = tapi_state(f);
    tapi_send(f, f->admin, "PUT", "{}", &r, "/v1/services/web%%252Dpct-%s", pct + 8);
    tapi_check_error(&r, 400, "invalid_id"); /* "web%2Dpct-…" after one decoding */
    t_resp_free(&r);
    tapi_assert_unchanged(f, before2);
    /* ids are case-sensitive: another case is another service */
    for (char *p = sid; *p != '\0'; p++)
        if (*p >= 'a' && *p <= 'z')
            *p = (char)(*p - 'a' + 'A');
    tapi_send(f, f->admin, "GET", NULL, &r, "/v1/services/%s?metadata_only=true", sid);
    tapi_check_error(&r, 404, "not_found");
    t_resp_free(&r);
    free(long_id);
}

/* --- the bundle ---------------------------------------------------------------------------- */

static void test_get_returns_the_bundle_sorted_with_disabled_credentials_emptied(void **state)
{
    struct tapi *f = *state;
    char prefix[32], n[64], sid[64];
    char zeta[TAPI_ID_LEN], alpha[TAPI_ID_LEN], beta[TAPI_ID_LEN], dup1[TAPI_ID_LEN],
        dup2[TAPI_ID_LEN];
    struct t_resp r;

    tapi_name(prefix, sizeof(prefix), "bundleq");
    snprintf(n, sizeof(n), "%sZeta", prefix);
    tapi_cred_new(f, n, "{\"zeta_key\": \"bundle-zeta-value\"}", zeta);
    snprintf(n, sizeof(n), "%salpha", prefix);
    char *body = tapi_printf("{\"name\": \"%s\", \"credential_pairs\": {\"alpha_key\": "
                             "\"bundle-alpha-value\"}, \"metadata\": {\"env_var_prefix\": \"A_\"}}",
                             n);
    json_decref(tapi_cred_post(f, body, alpha));
    snprintf(n, sizeof(n), "%sBeta", prefix);
    tapi_cred_new(f, n, "{\"beta_key\": \"bundle-beta-disabled-value\"}", beta);
    tapi_cred_put(f, beta, "{\"enabled\": false}");
    snprintf(n, sizeof(n), "%sdup", prefix);
    tapi_cred_new(f, n, "{\"dup_one\": \"bundle-dup-1\"}", dup1);
    snprintf(n, sizeof(n), "%sDUP", prefix);
    tapi_cred_new(f, n, "{\"dup_two\": \"bundle-dup-2\"}", dup2);
    tapi_name(sid, sizeof(sid), "web-bundle-");
    const char *ids[] = { zeta, dup2, beta, alpha, dup1, NULL };
    tapi_svc_map(f, sid, ids);

    json_t *b = get_svc(f, f->admin, sid, "", &r);
    tapi_assert_members(b, TAPI_SVC_MEMBERS);
    assert_string_equal(tapi_str(b, "id"), sid);
    assert_int_equal(tapi_int(b, "revision"), 1);
    assert_true(json_is_null(json_object_get(b, "account")));
    tapi_assert_json(json_object_get(b, "blind_credentials"), "[]");
    tapi_assert_json(json_object_get(b, "permissions"),
                     "{\"metadata\": true, \"get\": true, \"update\": true}");
    const char *d_first = strcmp(dup1, dup2) < 0 ? dup1 : dup2;
    const char *d_second = d_first == dup1 ? dup2 : dup1;
    char *want = tapi_printf("%s,%s,%s,%s,%s", alpha, beta, d_first, d_second, zeta);
    char *got = cred_ids(b);
    assert_string_equal(got, want);
    json_t *creds = json_object_get(b, "credentials");
    json_t *c = json_array_get(creds, 0);
    tapi_assert_members(c, TAPI_CRED_MEMBERS);
    tapi_assert_json(json_object_get(c, "credential_pairs"),
                     "{\"alpha_key\": \"bundle-alpha-value\"}");
    tapi_assert_json(json_object_get(c, "metadata"), "{\"env_var_prefix\": \"A_\"}");
    tapi_assert_json(json_object_get(c, "permissions"), "{}");
    assert_int_equal(tapi_int(c, "revision"), 1);
    c = json_array_get(creds, 1); /* disabled: listed, keys kept, values never delivered */
    tapi_assert_members(c, TAPI_CRED_MEMBERS);
    assert_false(tapi_bool(c, "enabled"));
    assert_int_equal(tapi_int(c, "revision"), 2);
    tapi_assert_json(json_object_get(c, "credential_keys"), "[\"beta_key\"]");
    tapi_assert_json(json_object_get(c, "credential_pairs"), "{}");
    tapi_assert_absent(r.body.data, "bundle-beta-disabled-value", "a bundle");
    tapi_assert_json(json_object_get(json_array_get(creds, 4), "credential_pairs"),
                     "{\"zeta_key\": \"bundle-zeta-value\"}");
    tapi_audit(f, &r, TAPI_ADMIN_ACTOR, "service.get", "service", sid, 1, "allowed", "ok");
    json_decref(b);
    t_resp_free(&r);

    /* an admin still reads a disabled service */
    tapi_svc_put(f, sid, "{\"enabled\": false}");
    b = get_svc(f, f->admin, sid, "", &r);
    assert_false(tapi_bool(b, "enabled"));
    assert_int_equal(tapi_int(b, "revision"), 2);
    tapi_assert_json(
        json_object_get(json_array_get(json_object_get(b, "credentials"), 0), "credential_pairs"),
        "{\"alpha_key\": \"bundle-alpha-value\"}");
    json_decref(b);
    t_resp_free(&r);
    free(want);
    free(got);
    free(body);
}

static void test_get_metadata_only_lists_keys_without_values(void **state)
{
    struct tapi *f = *state;
    char name[64], sid[64], id[TAPI_ID_LEN];
    struct t_resp r;
    static const char *const yes[] = { "True", "true", "1" };
    static const char *const no[] = { "False", "false", "0" };
    static const char *const bad[] = { "yes", "TRUE", "2" };

    tapi_name(name, sizeof(name), "svc-meta-");
    tapi_cred_new(f, name, "{\"meta_key\": \"svc-meta-value\"}", id);
    tapi_name(sid, sizeof(sid), "web-meta-");
    const char *ids[] = { id, NULL };
    tapi_svc_map(f, sid, ids);
    for (size_t i = 0; i < 3; i++) {
        char q[64];
        snprintf(q, sizeof(q), "?metadata_only=%s", yes[i]);
        json_t *b = get_svc(f, f->admin, sid, q, &r);
        assert_metadata_form(b);
        tapi_assert_json(json_object_get(json_array_get(json_object_get(b, "credentials"), 0),
                                         "credential_keys"),
                         "[\"meta_key\"]");
        tapi_assert_absent(r.body.data, "svc-meta-value", "a metadata_only bundle");
        tapi_audit(f, &r, TAPI_ADMIN_ACTOR, "service.get_metadata", "service", sid, 1, "allowed",
                   "ok");
        json_decref(b);
        t_resp_free(&r);

        snprintf(q, sizeof(q), "?metadata_only=%s", no[i]);
        b = get_svc(f, f->admin, sid, q, &r);
        tapi_assert_json(json_object_get(json_array_get(json_object_get(b, "credentials"), 0),
                                         "credential_pairs"),
                         "{\"meta_key\": \"svc-meta-value\"}");
        tapi_audit(f, &r, TAPI_ADMIN_ACTOR, "service.get", "service", sid, 1, "allowed", "ok");
        json_decref(b);
        t_resp_free(&r);

        tapi_send(f, f->admin, "GET", NULL, &r, "/v1/services/%s?metadata_only=%s", sid, bad[i]);
        tapi_check_error(&r, 400, "invalid_parameter");
        t_resp_free(&r);
    }
}

static void test_get_of_an_unknown_service_is_404(void **state)
{
    struct tapi *f = *state;
    struct t_resp r;

    tapi_send(f, f->admin, "GET", NULL, &r, "/v1/services/no-such-service");
    tapi_check_error(&r, 404, "not_found");
    t_resp_free(&r);
    tapi_send(f, f->auditor, "GET", NULL, &r, "/v1/services/no-such-service?metadata_only=True");
    tapi_check_error(&r, 404, "not_found");
    t_resp_free(&r);
}

/* --- list ---------------------------------------------------------------------------------- */

static void test_list_sorts_by_id_case_insensitively_and_pages_through_everything(void **state)
{
    struct tapi *f = *state;
    char prefix[32], sid[64], name[64], id[TAPI_ID_LEN];
    struct t_resp r;
    static const char *const suffixes[] = { "b", "A", "C", "e", "D" };
    static const int limits[] = { 2, 3, 1000 };

    tapi_name(name, sizeof(name), "svc-list-");
    tapi_cred_new(f, name, "{\"list_key\": \"svc-list-value\"}", id);
    tapi_name(prefix, sizeof(prefix), "lsq");
    for (size_t i = 0; i < 5; i++) {
        snprintf(sid, sizeof(sid), "%s%s", prefix, suffixes[i]);
        const char *ids[] = { id, NULL };
        tapi_svc_map(f, sid, i == 0 ? ids : ids + 1);
    }
    tapi_send(f, f->admin, "GET", NULL, &r, "/v1/services");
    json_t *b = tapi_ok(&r);
    tapi_assert_members(b, "services,next_page");
    assert_true(json_is_null(json_object_get(b, "next_page")));
    tapi_assert_absent(r.body.data, "svc-list-value", "a service list");
    tapi_audit(f, &r, TAPI_ADMIN_ACTOR, "service.list", NULL, NULL, TAPI_ANY, "allowed", "ok");
    json_t *all = json_object_get(b, "services"), *v;
    size_t i, k = 0;
    const char *order = "AbCDe";
    json_array_foreach(all, i, v)
    {
        const char *s = tapi_str(v, "id");
        if (strncmp(s, prefix, strlen(prefix)) != 0)
            continue;
        if (k >= 5 || s[strlen(prefix)] != order[k])
            fail_msg("service list order: %s at position %zu of mine", s, k);
        tapi_assert_members(v, TAPI_SVC_MEMBERS);
        tapi_assert_json(json_object_get(v, "permissions"), "{}");
        tapi_assert_json(json_object_get(v, "blind_credentials"), "[]");
        assert_int_equal(tapi_int(v, "revision"), 1);
        if (order[k] == 'b') { /* credential ids, not objects */
            json_t *want = json_pack("[s]", id);
            assert_true(json_equal(json_object_get(v, "credentials"), want));
            json_decref(want);
        } else {
            tapi_assert_json(json_object_get(v, "credentials"), "[]");
        }
        k++;
    }
    assert_int_equal(k, 5);
    char *want = tapi_ids_of(all);
    for (size_t l = 0; l < sizeof(limits) / sizeof(limits[0]); l++) {
        json_t *paged = tapi_list_all(f, "/v1/services", "services", limits[l]);
        char *got = tapi_ids_of(paged);
        assert_string_equal(got, want);
        free(got);
        json_decref(paged);
    }
    free(want);
    json_decref(b);
    t_resp_free(&r);
}

static void test_list_refuses_a_bad_page_or_limit(void **state)
{
    tapi_check_paging_refusals(*state, "/v1/services");
}

/* --- revisions, revert, diff --------------------------------------------------------------- */

/* A service with revisions: 1 = [a], 2 = [a, b], 3 = [a, b] disabled. */
static void history(const struct tapi *f, char *sid, size_t cap, char *a, char *b)
{
    char name[64];

    tapi_name(name, sizeof(name), "svc-hist-a-");
    tapi_cred_new(f, name, "{\"hist_a\": \"svc-hist-value-a\"}", a);
    tapi_name(name, sizeof(name), "svc-hist-b-");
    tapi_cred_new(f, name, "{\"hist_b\": \"svc-hist-value-b\"}", b);
    tapi_name(sid, cap, "web-hist-");
    const char *one[] = { a, NULL }, *two[] = { a, b, NULL };
    tapi_svc_map(f, sid, one);
    tapi_svc_map(f, sid, two);
    tapi_svc_put(f, sid, "{\"enabled\": false}");
}

static void test_revisions_list_every_revision_ascending(void **state)
{
    struct tapi *f = *state;
    char sid[64], a[TAPI_ID_LEN], b[TAPI_ID_LEN], item[128];
    struct t_resp r;

    history(f, sid, sizeof(sid), a, b);
    tapi_send(f, f->admin, "GET", NULL, &r, "/v1/archive/services/%s", sid);
    json_t *body = tapi_ok(&r);
    tapi_assert_members(body, "revisions,next_page");
    assert_true(json_is_null(json_object_get(body, "next_page")));
    tapi_audit(f, &r, TAPI_ADMIN_ACTOR, "service.revisions", "service", sid, TAPI_ANY, "allowed",
               "ok");
    json_t *revs = json_object_get(body, "revisions");
    assert_int_equal(json_array_size(revs), 3);
    for (size_t i = 0; i < 3; i++) {
        json_t *it = json_array_get(revs, i);
        tapi_assert_members(it, TAPI_SVC_MEMBERS);
        snprintf(item, sizeof(item), "%s-%zu", sid, i + 1);
        assert_string_equal(tapi_str(it, "id"), item);
        assert_int_equal(tapi_int(it, "revision"), (json_int_t)(i + 1));
        assert_int_equal(tapi_bool(it, "enabled"), i < 2);
        tapi_assert_json(json_object_get(it, "blind_credentials"), "[]");
        tapi_assert_json(json_object_get(it, "permissions"), "{}");
        json_t *creds = json_object_get(it, "credentials");
        assert_int_equal(json_array_size(creds), i == 0 ? 1 : 2);
        for (size_t k = 0; k < json_array_size(creds); k++)
            assert_true(json_is_string(json_array_get(creds, k))); /* ids */
    }
    json_decref(body);
    t_resp_free(&r);
    tapi_send(f, f->admin, "GET", NULL, &r, "/v1/archive/services/no-such-service");
    tapi_check_error(&r, 404, "not_found");
    t_resp_free(&r);
}

static void expect_svc_revert_refused(const struct tapi *f, const char *sid, const char *rev,
                                      long status, const char *code)
{
    struct t_resp r;
    char *before = tapi_state(f);

    tapi_revert(f, f->admin, &r, "/v1/services/%s/%s", sid, rev);
    if (r.status != status)
        fail_msg("service revert to %s: expected %ld %s, got %ld %.300s", rev, status, code,
                 r.status, r.body.data);
    tapi_check_error(&r, status, code);
    tapi_audit(f, &r, TAPI_ADMIN_ACTOR, "service.revert", NULL, NULL, TAPI_ANY, TAPI_REFUSED, code);
    t_resp_free(&r);
    tapi_assert_unchanged(f, before);
}

static void test_revert_copies_an_old_mapping_into_a_new_revision(void **state)
{
    struct tapi *f = *state;
    char sid[64], a[TAPI_ID_LEN], b[TAPI_ID_LEN];
    struct t_resp r;

    history(f, sid, sizeof(sid), a, b);
    tapi_revert(f, f->admin, &r, "/v1/services/%s/1", sid);
    json_t *s = tapi_ok(&r);
    assert_metadata_form(s);
    assert_int_equal(tapi_int(s, "revision"), 4);
    assert_true(tapi_bool(s, "enabled"));
    char *got = cred_ids(s);
    assert_string_equal(got, a);
    free(got);
    tapi_assert_json(json_object_get(s, "permissions"),
                     "{\"create\": true, \"metadata\": true, \"get\": true, \"update\": true}");
    tapi_assert_absent(r.body.data, "svc-hist-value", "a service revert answer");
    tapi_audit(f, &r, TAPI_ADMIN_ACTOR, "service.revert", "service", sid, 4, "allowed", "ok");
    json_decref(s);
    t_resp_free(&r);
    char *mapped = mapped_ids(f, sid);
    assert_string_equal(mapped, a);
    free(mapped);
    assert_int_equal(svc_revision_rows(f, sid), 4);

    expect_svc_revert_refused(f, sid, "4", 400, "no_change");
    expect_svc_revert_refused(f, sid, "1", 400, "no_change");
    /* enabled alone is a difference (Confidant ignores it, API.md 7 #11) */
    tapi_svc_put(f, sid, "{\"enabled\": false}"); /* 5 */
    tapi_revert(f, f->admin, &r, "/v1/services/%s/4", sid);
    s = tapi_ok(&r);
    assert_int_equal(tapi_int(s, "revision"), 6);
    assert_true(tapi_bool(s, "enabled"));
    json_decref(s);
    t_resp_free(&r);
    expect_svc_revert_refused(f, sid, "1", 400, "no_change");
    /* reverting onto a disabled revision disables */
    tapi_revert(f, f->admin, &r, "/v1/services/%s/3", sid);
    s = tapi_ok(&r);
    assert_int_equal(tapi_int(s, "revision"), 7);
    assert_false(tapi_bool(s, "enabled"));
    assert_int_equal(json_array_size(json_object_get(s, "credentials")), 2);
    json_decref(s);
    t_resp_free(&r);
}

static void test_revert_refuses_bad_revision_numbers_and_missing_revisions(void **state)
{
    struct tapi *f = *state;
    char sid[64], a[TAPI_ID_LEN], b[TAPI_ID_LEN];
    struct t_resp r;
    static const char *const invalid[] = { "0",    "-1",         "abc", "99999999999",
                                           "None", "2147483648", "1.0" };
    static const char *const missing[] = { "4", "99", "2147483647" };

    history(f, sid, sizeof(sid), a, b);
    for (size_t i = 0; i < sizeof(invalid) / sizeof(invalid[0]); i++)
        expect_svc_revert_refused(f, sid, invalid[i], 400, "invalid_revision");
    for (size_t i = 0; i < sizeof(missing) / sizeof(missing[0]); i++)
        expect_svc_revert_refused(f, sid, missing[i], 404, "not_found");
    expect_svc_revert_refused(f, "no-such-service", "1", 404, "not_found");

    char *before = tapi_state(f);
    tapi_revert(f, f->admin, &r, "/v1/services/%s/1?expected_revision=2", sid);
    json_t *e = tapi_error(&r, 409, "revision_conflict");
    assert_int_equal(tapi_int(e, "current_revision"), 3);
    json_decref(e);
    t_resp_free(&r);
    tapi_assert_unchanged(f, before);
    tapi_revert(f, f->admin, &r, "/v1/services/%s/1?expected_revision=3", sid);
    json_decref(tapi_ok(&r));
    t_resp_free(&r);
}

static json_t *svc_diff(const struct tapi *f, const char *auth, const char *sid, int from, int to,
                        struct t_resp *r)
{
    tapi_send(f, auth, "GET", NULL, r, "/v1/services/%s/%d/%d", sid, from, to);
    return tapi_ok(r);
}

static void test_diff_lists_only_what_changed(void **state)
{
    struct tapi *f = *state;
    char sid[64], a[TAPI_ID_LEN], b[TAPI_ID_LEN];
    struct t_resp r;

    history(f, sid, sizeof(sid), a, b);
    tapi_send(f, f->admin, "GET", NULL, &r, "/v1/archive/services/%s", sid);
    json_t *revs = tapi_ok(&r);
    t_resp_free(&r);
    const char *md[3];
    for (size_t i = 0; i < 3; i++)
        md[i] = tapi_str(json_array_get(json_object_get(revs, "revisions"), i), "modified_date");

    json_t *d = svc_diff(f, f->admin, sid, 1, 2, &r);
    tapi_audit(f, &r, TAPI_ADMIN_ACTOR, "service.diff", "service", sid, TAPI_ANY, "allowed", "ok");
    t_resp_free(&r);
    char *want =
        tapi_printf("{\"credentials\": {\"added\": [\"%s\"]}, \"modified_by\": {\"added\": "
                    "\"%s\", \"removed\": \"%s\"}, \"modified_date\": {\"added\": \"%s\", "
                    "\"removed\": \"%s\"}}",
                    b, TAPI_ADMIN_ACTOR, TAPI_ADMIN_ACTOR, md[1], md[0]);
    tapi_assert_json(d, want);
    free(want);
    json_decref(d);

    d = svc_diff(f, f->admin, sid, 3, 2, &r); /* the higher revision is new */
    t_resp_free(&r);
    tapi_assert_members(d, "enabled,modified_by,modified_date");
    tapi_assert_json(json_object_get(d, "enabled"), "{\"added\": false, \"removed\": true}");
    json_t *fwd = svc_diff(f, f->admin, sid, 2, 3, &r);
    t_resp_free(&r);
    assert_true(json_equal(d, fwd));
    json_decref(fwd);
    json_decref(d);

    d = svc_diff(f, f->admin, sid, 3, 1, &r);
    t_resp_free(&r);
    tapi_assert_members(d, "credentials,enabled,modified_by,modified_date");
    want = tapi_printf("{\"added\": [\"%s\"]}", b);
    tapi_assert_json(json_object_get(d, "credentials"), want);
    free(want);
    json_decref(d);

    tapi_svc_map(f, sid, (const char *[]){ b, NULL }); /* 4: [b], enabled */
    d = svc_diff(f, f->admin, sid, 3, 4, &r);
    t_resp_free(&r);
    want = tapi_printf("{\"removed\": [\"%s\"]}", a);
    tapi_assert_json(json_object_get(d, "credentials"), want);
    free(want);
    json_decref(d);

    d = svc_diff(f, f->admin, sid, 2, 2, &r);
    t_resp_free(&r);
    tapi_assert_json(d, "{}");
    json_decref(d);

    static const char *const missing[] = { "1/5", "5/1" };
    for (size_t i = 0; i < 2; i++) {
        tapi_send(f, f->admin, "GET", NULL, &r, "/v1/services/%s/%s", sid, missing[i]);
        tapi_check_error(&r, 404, "not_found");
        t_resp_free(&r);
    }
    tapi_send(f, f->admin, "GET", NULL, &r, "/v1/services/no-such-service/1/2");
    tapi_check_error(&r, 404, "not_found");
    t_resp_free(&r);
    json_decref(revs);
}

/* --- roles --------------------------------------------------------------------------------- */

#define CANARY_SVC "cnry-service-bundle-8e2f6a"

static void test_an_auditor_reads_metadata_but_is_refused_the_bundle_and_every_write(void **state)
{
    struct tapi *f = *state;
    char name[64], sid[64], id[TAPI_ID_LEN];
    struct t_resp r;

    tapi_name(name, sizeof(name), "svc-auditor-");
    tapi_cred_new(f, name, "{\"aud_key\": \"" CANARY_SVC "\"}", id);
    tapi_name(sid, sizeof(sid), "web-auditor-");
    const char *ids[] = { id, NULL };
    tapi_svc_map(f, sid, ids);
    tapi_svc_put(f, sid, "{\"enabled\": false}");

    json_t *b = get_svc(f, f->auditor, sid, "?metadata_only=True", &r);
    assert_metadata_form(b);
    tapi_assert_json(json_object_get(b, "permissions"),
                     "{\"metadata\": true, \"get\": false, \"update\": false}");
    tapi_assert_no_secret(r.body.data, CANARY_SVC, "an auditor's metadata_only bundle");
    tapi_audit(f, &r, TAPI_AUDITOR_ACTOR, "service.get_metadata", "service", sid, 2, "allowed",
               "ok");
    json_decref(b);
    t_resp_free(&r);
    char paths[4][256];
    snprintf(paths[0], sizeof(paths[0]), "/v1/services");
    snprintf(paths[1], sizeof(paths[1]), "/v1/services?limit=1");
    snprintf(paths[2], sizeof(paths[2]), "/v1/archive/services/%s", sid);
    snprintf(paths[3], sizeof(paths[3]), "/v1/services/%s/1/2", sid);
    for (size_t i = 0; i < 4; i++) {
        tapi_send(f, f->auditor, "GET", NULL, &r, "%s", paths[i]);
        json_decref(tapi_ok(&r));
        tapi_assert_no_secret(r.body.data, CANARY_SVC, paths[i]);
        t_resp_free(&r);
    }

    char *before = tapi_state(f);
    static const char *const full[] = { "", "?metadata_only=False", "?metadata_only=0" };
    for (size_t i = 0; i < 3; i++) {
        tapi_send(f, f->auditor, "GET", NULL, &r, "/v1/services/%s%s", sid, full[i]);
        tapi_check_error(&r, 403, "forbidden"); /* and no member named result */
        tapi_assert_no_secret(r.body.data, CANARY_SVC, "a 403 body");
        tapi_audit(f, &r, TAPI_AUDITOR_ACTOR, "service.get", "service", sid, TAPI_ANY, "denied",
                   "forbidden");
        t_resp_free(&r);
    }
    char *body = client_body(sid, true, ids);
    tapi_send(f, f->auditor, "PUT", body, &r, "/v1/services/%s", sid);
    tapi_check_error(&r, 403, "forbidden");
    tapi_audit(f, &r, TAPI_AUDITOR_ACTOR, "service.update|service.create", "service", sid, TAPI_ANY,
               "denied", "forbidden");
    t_resp_free(&r);
    tapi_send(f, f->auditor, "PUT", "{}", &r, "/v1/services/%s-new", sid);
    tapi_check_error(&r, 403, "forbidden");
    t_resp_free(&r);
    tapi_revert(f, f->auditor, &r, "/v1/services/%s/1", sid);
    tapi_check_error(&r, 403, "forbidden");
    tapi_audit(f, &r, TAPI_AUDITOR_ACTOR, "service.revert", "service", sid, TAPI_ANY, "denied",
               "forbidden");
    t_resp_free(&r);
    tapi_assert_unchanged(f, before);
    free(body);
}

static void test_every_service_write_sends_one_change_notification(void **state)
{
    struct tapi *f = *state;
    char sid[64], payload[128];
    struct t_resp r;
    struct tapi_listener *l = tapi_listen(f);

    tapi_name(sid, sizeof(sid), "web-notify-");
    snprintf(payload, sizeof(payload), "service:%s", sid);
    tapi_svc_put(f, sid, "{}");
    assert_int_equal(tapi_notified(l, payload, 1, 10), 1);
    tapi_svc_put(f, sid, "{\"enabled\": false}");
    assert_int_equal(tapi_notified(l, payload, 2, 10), 2);
    tapi_send(f, f->admin, "PUT", "{\"account\": \"123\"}", &r, "/v1/services/%s", sid);
    tapi_check_error(&r, 400, "invalid_account");
    t_resp_free(&r);
    tapi_revert(f, f->admin, &r, "/v1/services/%s/1", sid);
    json_decref(tapi_ok(&r));
    t_resp_free(&r);
    assert_int_equal(tapi_notified(l, payload, 3, 10), 3);
    tapi_unlisten(l);
}

/* --- ETag and conditional fetch (API.md 8.3) ---------------------------------------------- */

static void etag_of(const struct tapi *f, const char *auth, const char *sid, const char *query,
                    char out[64])
{
    struct t_resp r;
    json_decref(get_svc(f, auth, sid, query, &r));
    if (!t_resp_header(&r, "ETag", out, 64))
        fail_msg("GET /v1/services/%s%s carries no ETag", sid, query);
    t_resp_free(&r);
}

static void test_a_bundle_carries_the_documented_strong_etag(void **state)
{
    struct tapi *f = *state;
    char name[64], sid[64], a[TAPI_ID_LEN], b[TAPI_ID_LEN], got[64], want[64], vary[256];
    struct t_resp r;

    tapi_name(name, sizeof(name), "etag-a-");
    tapi_cred_new(f, name, "{\"etag_a\": \"v\"}", a);
    tapi_name(name, sizeof(name), "etag-b-");
    tapi_cred_new(f, name, "{\"etag_b\": \"v\"}", b);
    tapi_name(sid, sizeof(sid), "web-etag-");
    const char *ids[] = { b, a, NULL };
    tapi_svc_map(f, sid, ids);

    etag_of(f, f->admin, sid, "", got);
    tapi_bundle_etag(f, sid, true, "m=1,g=1,u=1", want);
    assert_string_equal(got, want);
    etag_of(f, f->admin, sid, "?metadata_only=true", got);
    tapi_bundle_etag(f, sid, false, "m=1,g=1,u=1", want);
    assert_string_equal(got, want);
    etag_of(f, f->auditor, sid, "?metadata_only=true", got);
    tapi_bundle_etag(f, sid, false, "m=1,g=0,u=0", want);
    assert_string_equal(got, want);

    json_decref(get_svc(f, f->admin, sid, "", &r));
    assert_true(t_resp_header(&r, "Vary", vary, sizeof(vary)));
    assert_non_null(strstr(vary, "Authorization"));
    assert_non_null(strstr(vary, "X-Auth-From"));
    assert_non_null(strstr(vary, "X-Auth-Token"));
    t_resp_free(&r);

    tapi_cred_put(f, a, "{\"enabled\": false}"); /* a credential's revision moves the tag */
    etag_of(f, f->admin, sid, "", got);
    tapi_bundle_etag(f, sid, true, "m=1,g=1,u=1", want);
    assert_string_equal(got, want);
}

static void test_if_none_match_with_the_current_tag_answers_304_without_a_body(void **state)
{
    struct tapi *f = *state;
    char name[64], sid[64], id[TAPI_ID_LEN], tag[64], v[128], header[160];
    struct t_resp r;

    tapi_name(name, sizeof(name), "etag304-");
    tapi_cred_new(f, name, "{\"etag304\": \"etag-304-value\"}", id);
    tapi_name(sid, sizeof(sid), "web-etag304-");
    const char *ids[] = { id, NULL };
    tapi_svc_map(f, sid, ids);
    etag_of(f, f->admin, sid, "", tag);

    const char *forms[] = { "%s", "W/%s", "\"0123\", %s", "*" };
    for (size_t i = 0; i < 4; i++) {
        char inm[128];
        if (strcmp(forms[i], "%s") == 0)
            snprintf(inm, sizeof(inm), "%s", tag);
        else if (strcmp(forms[i], "W/%s") == 0)
            snprintf(inm, sizeof(inm), "W/%s", tag);
        else if (forms[i][0] == '"')
            snprintf(inm, sizeof(inm), "\"0123\", %s", tag);
        else
            snprintf(inm, sizeof(inm), "*");
        snprintf(header, sizeof(header), "If-None-Match: %s", inm);
        const char *h[] = { f->admin, header, NULL };
        tapi_send_h(f, h, "GET", NULL, &r, "/v1/services/%s", sid);
        if (r.status != 304)
            fail_msg("If-None-Match: %s: expected 304, got %ld", inm, r.status);
        assert_int_equal(r.body.len, 0);
        assert_true(t_resp_header(&r, "ETag", v, sizeof(v)));
        assert_string_equal(v, tag);
        assert_true(t_resp_header(&r, "Cache-Control", v, sizeof(v)));
        assert_true(t_resp_header(&r, "X-Request-Id", v, sizeof(v)));
        tapi_audit(f, &r, TAPI_ADMIN_ACTOR, "service.get", "service", sid, 1, "allowed",
                   "not_modified");
        t_resp_free(&r);
    }
    snprintf(header, sizeof(header), "If-None-Match: \"00000000000000000000000000000000\"");
    const char *other[] = { f->admin, header, NULL };
    tapi_send_h(f, other, "GET", NULL, &r, "/v1/services/%s", sid);
    json_decref(tapi_ok(&r));
    t_resp_free(&r);
    /* after a change the old tag no longer matches */
    tapi_svc_put(f, sid, "{\"enabled\": false}");
    snprintf(header, sizeof(header), "If-None-Match: %s", tag);
    const char *old[] = { f->admin, header, NULL };
    tapi_send_h(f, old, "GET", NULL, &r, "/v1/services/%s", sid);
    json_t *b = tapi_ok(&r);
    assert_int_equal(tapi_int(b, "revision"), 2);
    json_decref(b);
    t_resp_free(&r);
}

/* --- failing closed, odd paths ------------------------------------------------------------- */

#define CANARY_CLOSED "cnry-service-fail-closed-61b0"

static void test_a_request_whose_audit_row_cannot_be_written_fails_closed(void **state)
{
    struct tapi *f = *state;
    char name[64], sid[64], id[TAPI_ID_LEN];
    struct t_resp get, put, rev;

    tapi_name(name, sizeof(name), "svc-closed-");
    tapi_cred_new(f, name, "{\"closed\": \"" CANARY_CLOSED "\"}", id);
    tapi_name(sid, sizeof(sid), "web-closed-");
    const char *ids[] = { id, NULL };
    tapi_svc_map(f, sid, ids);
    tapi_svc_put(f, sid, "{\"enabled\": false}");
    char *before = tapi_state(f);

    t_sql_ok(f->db.super_url, "REVOKE INSERT ON audit_log FROM coffer_app", NULL, 0);
    tapi_send(f, f->admin, "GET", NULL, &get, "/v1/services/%s", sid);
    tapi_send(f, f->admin, "PUT", "{\"enabled\": true}", &put, "/v1/services/%s", sid);
    tapi_revert(f, f->admin, &rev, "/v1/services/%s/1", sid);
    t_sql_ok(f->db.super_url, "GRANT INSERT ON audit_log TO coffer_app", NULL, 0);

    tapi_check_error(&get, 503, "audit_unavailable");
    tapi_assert_no_secret(get.body.data, CANARY_CLOSED, "an audit_unavailable answer");
    tapi_check_error(&put, 503, "audit_unavailable");
    tapi_check_error(&rev, 503, "audit_unavailable");
    tapi_assert_unchanged(f, before);
    t_resp_free(&get);
    t_resp_free(&put);
    t_resp_free(&rev);
}

static void test_paths_that_cannot_be_service_ids_are_404(void **state)
{
    struct tapi *f = *state;
    char sid[64];
    struct t_resp r;
    static const char *const odd[] = { "a%2Fb", "a%ffb" };

    char *before = tapi_state(f);
    for (size_t i = 0; i < 2; i++) {
        tapi_send(f, f->admin, "PUT", "{}", &r, "/v1/services/%s", odd[i]);
        tapi_check_error(&r, 404, "not_found");
        t_resp_free(&r);
        tapi_send(f, f->admin, "GET", NULL, &r, "/v1/services/%s", odd[i]);
        tapi_check_error(&r, 404, "not_found");
        t_resp_free(&r);
    }
    tapi_assert_unchanged(f, before);
    /* revision ids are not resource ids (API.md 7 #10) */
    tapi_name(sid, sizeof(sid), "web-revid-");
    tapi_svc_put(f, sid, "{}");
    tapi_svc_put(f, sid, "{}");
    tapi_send(f, f->admin, "GET", NULL, &r, "/v1/services/%s-1", sid);
    tapi_check_error(&r, 404, "not_found");
    t_resp_free(&r);
    tapi_send(f, f->admin, "GET", NULL, &r, "/v1/services/%s-2?metadata_only=true", sid);
    tapi_check_error(&r, 404, "not_found");
    t_resp_free(&r);
}

int main(void)
{
    cf_json_init();
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_put_creates_a_service_from_the_clients_body),
        cmocka_unit_test(test_put_with_an_empty_body_object_creates_with_defaults),
        cmocka_unit_test(
            test_put_update_keeps_an_omitted_credentials_list_and_always_makes_a_revision),
        cmocka_unit_test(test_expected_revision_0_means_create_only_and_stale_ones_are_409),
        cmocka_unit_test(test_put_refuses_every_invalid_body_and_changes_nothing),
        cmocka_unit_test(test_put_refuses_a_body_that_is_not_json),
        cmocka_unit_test(test_service_ids_follow_the_documented_pattern),
        cmocka_unit_test(test_get_returns_the_bundle_sorted_with_disabled_credentials_emptied),
        cmocka_unit_test(test_get_metadata_only_lists_keys_without_values),
        cmocka_unit_test(test_get_of_an_unknown_service_is_404),
        cmocka_unit_test(test_list_sorts_by_id_case_insensitively_and_pages_through_everything),
        cmocka_unit_test(test_list_refuses_a_bad_page_or_limit),
        cmocka_unit_test(test_revisions_list_every_revision_ascending),
        cmocka_unit_test(test_revert_copies_an_old_mapping_into_a_new_revision),
        cmocka_unit_test(test_revert_refuses_bad_revision_numbers_and_missing_revisions),
        cmocka_unit_test(test_diff_lists_only_what_changed),
        cmocka_unit_test(test_an_auditor_reads_metadata_but_is_refused_the_bundle_and_every_write),
        cmocka_unit_test(test_every_service_write_sends_one_change_notification),
        cmocka_unit_test(test_a_bundle_carries_the_documented_strong_etag),
        cmocka_unit_test(test_if_none_match_with_the_current_tag_answers_304_without_a_body),
        cmocka_unit_test(test_a_request_whose_audit_row_cannot_be_written_fails_closed),
        cmocka_unit_test(test_paths_that_cannot_be_service_ids_are_404),
    };
    return t_run_group_tests(tests, tapi_setup, tapi_teardown);
}
