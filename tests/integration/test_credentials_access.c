/* test_credentials_access.c - who may read and change credentials, and what is kept and told:
 * roles (API.md 2.5) with the auditor never seeing a value, pairs sealed at rest and never
 * logged, the access log failing closed (8.2), change notifications, and 405s (1.1). */
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
#include "tapi.h"
#include "tsupport.h"

static json_t *get_cred(const struct tapi *f, const char *auth, const char *id, const char *query,
                        struct t_resp *r)
{
    tapi_send(f, auth, "GET", NULL, r, "/v1/credentials/%s%s", id, query);
    return tapi_ok(r);
}

/* --- roles (API.md 2.5) -------------------------------------------------------------------- */

#define CANARY_ROLE "cnry-auditor-never-sees-5d1e8b"

static void test_an_auditor_reads_metadata_only_and_never_a_value(void **state)
{
    struct tapi *f = *state;
    char name[64], id[TAPI_ID_LEN];
    struct t_resp r;
    static const char *const queries[] = { "", "?metadata_only=False", "?metadata_only=true" };

    tapi_name(name, sizeof(name), "auditor-");
    tapi_cred_new(f, name, "{\"password\": \"" CANARY_ROLE "\", \"user\": \"u\"}", id);
    for (size_t i = 0; i < 3; i++) {
        json_t *b = get_cred(f, f->auditor, id, queries[i], &r);
        tapi_assert_members(b, TAPI_CRED_MEMBERS);
        tapi_assert_json(json_object_get(b, "credential_pairs"), "{}");
        tapi_assert_json(json_object_get(b, "credential_keys"), "[\"password\", \"user\"]");
        json_t *p = json_object_get(b, "permissions");
        assert_true(tapi_bool(p, "metadata"));
        assert_false(tapi_bool(p, "get"));
        assert_false(tapi_bool(p, "update"));
        tapi_assert_no_secret(r.body.data, CANARY_ROLE, "an auditor's credential");
        tapi_audit(f, &r, TAPI_AUDITOR_ACTOR,
                   i == 2 ? "credential.get_metadata" : "credential.get_metadata|credential.get",
                   "credential", id, 1, "allowed", "ok");
        json_decref(b);
        t_resp_free(&r);
    }
    tapi_send(f, f->auditor, "GET", NULL, &r, "/v1/credentials");
    json_decref(tapi_ok(&r));
    tapi_assert_no_secret(r.body.data, CANARY_ROLE, "an auditor's credential list");
    tapi_audit(f, &r, TAPI_AUDITOR_ACTOR, "credential.list", NULL, NULL, TAPI_ANY, "allowed", "ok");
    t_resp_free(&r);
    tapi_send(f, f->auditor, "GET", NULL, &r, "/v1/credentials?limit=1");
    json_decref(tapi_ok(&r));
    t_resp_free(&r);
}

static void test_an_auditor_may_not_write_and_gets_403_forbidden(void **state)
{
    struct tapi *f = *state;
    char name[64], id[TAPI_ID_LEN];
    struct t_resp r;

    tapi_name(name, sizeof(name), "auditor-write-");
    tapi_cred_new(f, name, "{\"k\": \"v\"}", id);
    tapi_cred_put(f, id, "{\"enabled\": false}");
    char *before = tapi_state(f);
    char *body = tapi_printf("{\"name\": \"%s-new\", \"credential_pairs\": {\"k\": \"v\"}}", name);
    tapi_send(f, f->auditor, "POST", body, &r, "/v1/credentials");
    tapi_check_error(&r, 403, "forbidden");
    tapi_audit(f, &r, TAPI_AUDITOR_ACTOR, "credential.create", NULL, NULL, TAPI_ANY, "denied",
               "forbidden");
    t_resp_free(&r);
    tapi_send(f, f->auditor, "PUT", "{\"enabled\": true}", &r, "/v1/credentials/%s", id);
    tapi_check_error(&r, 403, "forbidden");
    tapi_audit(f, &r, TAPI_AUDITOR_ACTOR, "credential.update", "credential", id, TAPI_ANY, "denied",
               "forbidden");
    t_resp_free(&r);
    tapi_revert(f, f->auditor, &r, "/v1/credentials/%s/1", id);
    tapi_check_error(&r, 403, "forbidden");
    tapi_audit(f, &r, TAPI_AUDITOR_ACTOR, "credential.revert", "credential", id, TAPI_ANY, "denied",
               "forbidden");
    t_resp_free(&r);
    tapi_assert_unchanged(f, before);
    free(body);
}

static void test_no_token_is_401_on_every_credential_endpoint(void **state)
{
    struct tapi *f = *state;
    struct t_resp r;
    char *before = tapi_state(f);

    tapi_send(f, NULL, "GET", NULL, &r, "/v1/credentials");
    tapi_check_error(&r, 401, "unauthenticated");
    t_resp_free(&r);
    tapi_send(f, NULL, "POST", "{\"name\": \"anon\", \"credential_pairs\": {\"k\": \"v\"}}", &r,
              "/v1/credentials");
    tapi_check_error(&r, 401, "unauthenticated");
    t_resp_free(&r);
    tapi_send(f, "Authorization: Bearer coffer_AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA", "GET",
              NULL, &r, "/v1/credentials/0123456789abcdef0123456789abcdef");
    tapi_check_error(&r, 401, "authentication_failed");
    t_resp_free(&r);
    tapi_assert_unchanged(f, before);
}

/* --- secrets at rest, logs, notifications -------------------------------------------------- */

static char *read_file(const char *path)
{
    struct cf_buf b = { 0 };
    char chunk[4096];
    size_t n;
    FILE *fp = fopen(path, "r");

    if (fp == NULL)
        fail_msg("cannot read %s", path);
    while ((n = fread(chunk, 1, sizeof(chunk), fp)) > 0)
        cf_buf_append(&b, chunk, n);
    fclose(fp);
    char *s = strdup(b.data != NULL ? b.data : "");
    cf_buf_free(&b);
    return s;
}

static void test_pairs_are_stored_sealed_and_never_logged(void **state)
{
    struct tapi *f = *state;
    char name[64], id[TAPI_ID_LEN], c1[40], c2[40], c3[40];
    struct t_resp r;
    static const char *const tables[] = { "credentials",       "credential_revisions",
                                          "audit_log",         "services",
                                          "service_revisions", "service_credentials" };

    tapi_name(c1, sizeof(c1), "canaryOneZq7w");
    tapi_name(c2, sizeof(c2), "canaryTwoXj4k");
    tapi_name(c3, sizeof(c3), "canaryThreeVb");
    tapi_name(name, sizeof(name), "at-rest-");
    char *pairs = tapi_printf("{\"password\": \"%s\"}", c1);
    tapi_cred_new(f, name, pairs, id);
    char *put = tapi_printf("{\"credential_pairs\": {\"password\": \"%s\"}}", c2);
    tapi_cred_put(f, id, put);
    tapi_revert(f, f->admin, &r, "/v1/credentials/%s/1", id); /* re-sealed copy of c1 */
    json_decref(tapi_ok(&r));
    t_resp_free(&r);
    json_t *p = tapi_cred_pairs(f, id);
    assert_string_equal(tapi_str(p, "password"), c1); /* the canary is real */
    json_decref(p);
    /* a refused body with a value in it (jansson's error text would quote it) */
    char *broken = tapi_printf("{\"name\": \"x\", \"credential_pairs\": {\"k\": \"%s\"", c3);
    tapi_send(f, f->admin, "POST", broken, &r, "/v1/credentials");
    tapi_check_error(&r, 400, "invalid_json");
    tapi_assert_no_secret(r.body.data, c3, "an invalid_json body");
    t_resp_free(&r);

    for (size_t i = 0; i < sizeof(tables) / sizeof(tables[0]); i++) {
        char sql[256];
        snprintf(sql, sizeof(sql), "SELECT string_agg(t::text, ' ') FROM %s t", tables[i]);
        char *dump = tapi_sql(f, sql);
        tapi_assert_no_secret(dump, c1, tables[i]);
        tapi_assert_no_secret(dump, c2, tables[i]);
        tapi_assert_no_secret(dump, c3, tables[i]);
        free(dump);
    }
    char sql[256];
    snprintf(sql, sizeof(sql),
             "SELECT count(*) FROM credential_revisions WHERE credential_id = '%s' AND "
             "octet_length(ciphertext) >= 16 AND octet_length(nonce) = 12 AND "
             "octet_length(data_key) > 0",
             id);
    assert_int_equal(tapi_count(f, sql), 3);
    /* every revision has its own data key and nonce */
    snprintf(sql, sizeof(sql),
             "SELECT count(DISTINCT data_key) + count(DISTINCT nonce) FROM credential_revisions "
             "WHERE credential_id = '%s'",
             id);
    assert_int_equal(tapi_count(f, sql), 6);
    char *log = read_file(f->d.log_path);
    tapi_assert_no_secret(log, c1, "cofferd's log");
    tapi_assert_no_secret(log, c2, "cofferd's log");
    tapi_assert_no_secret(log, c3, "cofferd's log");
    tapi_assert_absent(log, f->admin_token, "cofferd's log");
    free(log);
    free(pairs);
    free(put);
    free(broken);
}

static void test_every_write_sends_one_change_notification(void **state)
{
    struct tapi *f = *state;
    char name[64], id[TAPI_ID_LEN], payload[64];
    struct t_resp r;
    struct tapi_listener *l = tapi_listen(f);

    tapi_name(name, sizeof(name), "notify-");
    tapi_cred_new(f, name, "{\"k\": \"v\"}", id);
    snprintf(payload, sizeof(payload), "credential:%s", id);
    assert_int_equal(tapi_notified(l, payload, 1, 10), 1);
    tapi_cred_put(f, id, "{\"enabled\": false}");
    assert_int_equal(tapi_notified(l, payload, 2, 10), 2);
    /* a refused write notifies nothing: had it, that would arrive before the next one */
    tapi_send(f, f->admin, "PUT", "{\"credential_pairs\": {}}", &r, "/v1/credentials/%s", id);
    tapi_check_error(&r, 400, "empty_credential_pairs");
    t_resp_free(&r);
    tapi_send(f, f->admin, "PUT", "{\"expected_revision\": 1}", &r, "/v1/credentials/%s", id);
    tapi_check_error(&r, 409, "revision_conflict");
    t_resp_free(&r);
    tapi_revert(f, f->admin, &r, "/v1/credentials/%s/1", id);
    json_decref(tapi_ok(&r));
    t_resp_free(&r);
    assert_int_equal(tapi_notified(l, payload, 3, 10), 3);
    /* reads notify nothing */
    json_t *p = tapi_cred_pairs(f, id);
    json_decref(p);
    tapi_cred_put(f, id, "{}");
    assert_int_equal(tapi_notified(l, payload, 4, 10), 4);
    tapi_unlisten(l);
}

/* The access log fails closed (API.md 8.2): no row, no answer and no change. */
static void test_a_request_whose_audit_row_cannot_be_written_fails_closed(void **state)
{
    struct tapi *f = *state;
    char name[64], id[TAPI_ID_LEN];
    struct t_resp r;

    tapi_name(name, sizeof(name), "audit-fail-");
    tapi_cred_new(f, name, "{\"password\": \"" CANARY_ROLE "-audit\"}", id);
    tapi_cred_put(f, id, "{\"enabled\": false}"); /* so that a revert to 1 is a change */
    char *body = tapi_printf("{\"name\": \"%s-2\", \"credential_pairs\": {\"k\": \"v\"}}", name);
    char *before = tapi_state(f);

    t_sql_ok(f->db.super_url, "REVOKE INSERT ON audit_log FROM coffer_app", NULL, 0);
    tapi_send(f, f->admin, "GET", NULL, &r, "/v1/credentials/%s", id);
    struct t_resp w1, w2, w3;
    tapi_send(f, f->admin, "POST", body, &w1, "/v1/credentials");
    tapi_send(f, f->admin, "PUT", "{\"enabled\": true}", &w2, "/v1/credentials/%s", id);
    tapi_revert(f, f->admin, &w3, "/v1/credentials/%s/1", id);
    t_sql_ok(f->db.super_url, "GRANT INSERT ON audit_log TO coffer_app", NULL, 0);

    tapi_check_error(&r, 503, "audit_unavailable");
    tapi_assert_no_secret(r.body.data, CANARY_ROLE "-audit", "an audit_unavailable answer");
    tapi_check_error(&w1, 503, "audit_unavailable");
    tapi_check_error(&w2, 503, "audit_unavailable");
    tapi_check_error(&w3, 503, "audit_unavailable");
    tapi_assert_unchanged(f, before);
    t_resp_free(&r);
    t_resp_free(&w1);
    t_resp_free(&w2);
    t_resp_free(&w3);
    free(body);
}

static void assert_405(const struct tapi *f, const char *method, const char *path,
                       const char *const *allowed)
{
    struct t_resp r;
    char allow[128];

    tapi_send(f, f->admin, method, NULL, &r, "%s", path);
    tapi_check_error(&r, 405, "method_not_allowed");
    if (!t_resp_header(&r, "Allow", allow, sizeof(allow)))
        fail_msg("405 without Allow for %s %s", method, path);
    for (size_t i = 0; allowed[i] != NULL; i++)
        if (strstr(allow, allowed[i]) == NULL)
            fail_msg("Allow: %s lacks %s for %s", allow, allowed[i], path);
    t_resp_free(&r);
}

static void test_methods_not_listed_are_405_with_allow(void **state)
{
    struct tapi *f = *state;
    char name[64], id[TAPI_ID_LEN], path[128];
    static const char *const get_post[] = { "GET", "POST", NULL };
    static const char *const get_put[] = { "GET", "PUT", NULL };
    static const char *const put[] = { "PUT", NULL };

    tapi_name(name, sizeof(name), "methods-");
    tapi_cred_new(f, name, "{\"k\": \"v\"}", id);
    char *before = tapi_state(f);
    assert_405(f, "DELETE", "/v1/credentials", get_post);
    snprintf(path, sizeof(path), "/v1/credentials/%s", id);
    assert_405(f, "DELETE", path, get_put);
    assert_405(f, "POST", path, get_put);
    snprintf(path, sizeof(path), "/v1/credentials/%s/1", id);
    assert_405(f, "GET", path, put);
    tapi_assert_unchanged(f, before);
}

/* --- concurrent writers (API.md 4.1, 7 #9) ------------------------------------------------- */

#define WRITERS 8

static void test_concurrent_updates_each_get_their_own_revision(void **state)
{
    struct tapi *f = *state;
    char name[64], id[TAPI_ID_LEN], sql[256];
    struct tapi_call calls[WRITERS];
    static const char *const bodies[WRITERS] = {
        "{\"documentation\": \"writer-0\"}", "{\"documentation\": \"writer-1\"}",
        "{\"documentation\": \"writer-2\"}", "{\"documentation\": \"writer-3\"}",
        "{\"documentation\": \"writer-4\"}", "{\"documentation\": \"writer-5\"}",
        "{\"documentation\": \"writer-6\"}", "{\"documentation\": \"writer-7\"}",
    };
    bool seen[WRITERS + 2] = { false };
    const char *last = NULL;

    tapi_name(name, sizeof(name), "race-");
    tapi_cred_new(f, name, "{\"k\": \"v\"}", id);
    for (size_t i = 0; i < WRITERS; i++) {
        calls[i] = (struct tapi_call){ .method = "PUT", .body = bodies[i] };
        snprintf(calls[i].path, sizeof(calls[i].path), "/v1/credentials/%s", id);
    }
    tapi_concurrent(f, calls, WRITERS);
    for (size_t i = 0; i < WRITERS; i++) {
        if (calls[i].status != 200)
            fail_msg("concurrent PUT %zu: %ld %.300s", i, calls[i].status, calls[i].resp.data);
        json_t *b = json_loads(calls[i].resp.data, 0, NULL);
        assert_non_null(b);
        json_int_t rev = tapi_int(b, "revision");
        if (rev < 2 || rev > WRITERS + 1 || seen[rev])
            fail_msg("concurrent PUT %zu got revision %lld (taken twice or out of range)", i,
                     (long long)rev);
        seen[rev] = true;
        if (rev == WRITERS + 1)
            last = bodies[i];
        json_decref(b);
    }
    assert_int_equal(tapi_cred_revision(f, id), WRITERS + 1);
    snprintf(sql, sizeof(sql),
             "SELECT count(*) FROM credential_revisions WHERE credential_id = '%s'", id);
    assert_int_equal(tapi_count(f, sql), WRITERS + 1);
    struct t_resp r;
    json_t *b = get_cred(f, f->admin, id, "", &r);
    char *want = tapi_printf("{\"documentation\": \"%s\"}", tapi_str(b, "documentation"));
    assert_string_equal(want, last); /* the current row is the last revision written */
    free(want);
    json_decref(b);
    t_resp_free(&r);
    for (size_t i = 0; i < WRITERS; i++)
        cf_buf_free(&calls[i].resp);
}

/* Every call must be 200 exactly once, the others status/code; returns the winner's index. */
static size_t one_winner(struct tapi_call *calls, size_t n, long status, const char *code)
{
    size_t won = n;

    for (size_t i = 0; i < n; i++) {
        if (calls[i].status == 200) {
            if (won != n)
                fail_msg("calls %zu and %zu both succeeded", won, i);
            won = i;
            continue;
        }
        json_t *e = json_loads(calls[i].resp.data, 0, NULL);
        if (calls[i].status != status || e == NULL || strcmp(tapi_str(e, "code"), code) != 0)
            fail_msg("call %zu: expected %ld %s, got %ld %.300s", i, status, code, calls[i].status,
                     calls[i].resp.data);
        json_decref(e);
    }
    if (won == n)
        fail_msg("no call succeeded");
    return won;
}

static void test_concurrent_updates_from_one_expected_revision_let_exactly_one_win(void **state)
{
    struct tapi *f = *state;
    char name[64], id[TAPI_ID_LEN];
    struct tapi_call calls[WRITERS];
    char *bodies[WRITERS];

    tapi_name(name, sizeof(name), "race-expected-");
    tapi_cred_new(f, name, "{\"k\": \"v\"}", id);
    for (size_t i = 0; i < WRITERS; i++) {
        bodies[i] =
            tapi_printf("{\"expected_revision\": 1, \"credential_pairs\": {\"k\": \"v%zu\"}}", i);
        calls[i] = (struct tapi_call){ .method = "PUT", .body = bodies[i] };
        snprintf(calls[i].path, sizeof(calls[i].path), "/v1/credentials/%s", id);
    }
    tapi_concurrent(f, calls, WRITERS);
    size_t won = one_winner(calls, WRITERS, 409, "revision_conflict");
    for (size_t i = 0; i < WRITERS; i++) {
        if (i == won)
            continue;
        json_t *e = json_loads(calls[i].resp.data, 0, NULL);
        assert_int_equal(tapi_int(e, "current_revision"), 2);
        json_decref(e);
    }
    assert_int_equal(tapi_cred_revision(f, id), 2);
    json_t *pairs = tapi_cred_pairs(f, id);
    char *want = tapi_printf("{\"k\": \"v%zu\"}", won);
    tapi_assert_json(pairs, want);
    free(want);
    json_decref(pairs);
    for (size_t i = 0; i < WRITERS; i++) {
        cf_buf_free(&calls[i].resp);
        free(bodies[i]);
    }
}

static void test_concurrent_reverts_to_one_revision_write_it_once(void **state)
{
    struct tapi *f = *state;
    char name[64], id[TAPI_ID_LEN];
    struct tapi_call calls[WRITERS];

    tapi_name(name, sizeof(name), "race-revert-");
    tapi_cred_new(f, name, "{\"k\": \"v1\"}", id);
    tapi_cred_put(f, id, "{\"credential_pairs\": {\"k\": \"v2\"}}");
    for (size_t i = 0; i < WRITERS; i++) {
        calls[i] = (struct tapi_call){ .method = "PUT" };
        snprintf(calls[i].path, sizeof(calls[i].path), "/v1/credentials/%s/1", id);
    }
    tapi_concurrent(f, calls, WRITERS);
    /* the first revert writes revision 3; every later one finds nothing to change */
    (void)one_winner(calls, WRITERS, 400, "no_change");
    assert_int_equal(tapi_cred_revision(f, id), 3);
    json_t *pairs = tapi_cred_pairs(f, id);
    tapi_assert_json(pairs, "{\"k\": \"v1\"}");
    json_decref(pairs);
    for (size_t i = 0; i < WRITERS; i++)
        cf_buf_free(&calls[i].resp);
}

static void test_concurrent_creates_of_one_name_make_exactly_one_credential(void **state)
{
    struct tapi *f = *state;
    char name[64], sql[256];
    struct tapi_call calls[WRITERS];
    char *bodies[WRITERS];
    const char *created = NULL;
    size_t ok = 0;

    tapi_name(name, sizeof(name), "race-name-");
    for (size_t i = 0; i < WRITERS; i++) {
        bodies[i] =
            tapi_printf("{\"name\": \"%s\", \"credential_pairs\": {\"k%zu\": \"v\"}}", name, i);
        calls[i] =
            (struct tapi_call){ .method = "POST", .path = "/v1/credentials", .body = bodies[i] };
    }
    tapi_concurrent(f, calls, WRITERS);
    json_t *won = NULL;
    for (size_t i = 0; i < WRITERS; i++) {
        if (calls[i].status == 200) {
            ok++;
            won = json_loads(calls[i].resp.data, 0, NULL);
            assert_non_null(won);
            created = tapi_str(won, "id");
        }
    }
    assert_int_equal(ok, 1);
    for (size_t i = 0; i < WRITERS; i++) {
        if (calls[i].status == 200)
            continue;
        if (calls[i].status != 409)
            fail_msg("concurrent create %zu: expected 409, got %ld %.300s", i, calls[i].status,
                     calls[i].resp.data);
        json_t *e = json_loads(calls[i].resp.data, 0, NULL);
        assert_non_null(e);
        assert_string_equal(tapi_str(e, "code"), "name_conflict");
        assert_string_equal(tapi_str(e, "reference"), created);
        json_decref(e);
    }
    snprintf(sql, sizeof(sql), "SELECT count(*) FROM credentials WHERE name = '%s'", name);
    assert_int_equal(tapi_count(f, sql), 1);
    json_decref(won);
    for (size_t i = 0; i < WRITERS; i++) {
        cf_buf_free(&calls[i].resp);
        free(bodies[i]);
    }
}

int main(void)
{
    cf_json_init();
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_an_auditor_reads_metadata_only_and_never_a_value),
        cmocka_unit_test(test_an_auditor_may_not_write_and_gets_403_forbidden),
        cmocka_unit_test(test_no_token_is_401_on_every_credential_endpoint),
        cmocka_unit_test(test_pairs_are_stored_sealed_and_never_logged),
        cmocka_unit_test(test_every_write_sends_one_change_notification),
        cmocka_unit_test(test_a_request_whose_audit_row_cannot_be_written_fails_closed),
        cmocka_unit_test(test_methods_not_listed_are_405_with_allow),
        cmocka_unit_test(test_concurrent_updates_each_get_their_own_revision),
        cmocka_unit_test(test_concurrent_updates_from_one_expected_revision_let_exactly_one_win),
        cmocka_unit_test(test_concurrent_reverts_to_one_revision_write_it_once),
        cmocka_unit_test(test_concurrent_creates_of_one_name_make_exactly_one_credential),
    };
    return t_run_group_tests(tests, tapi_setup, tapi_teardown);
}
