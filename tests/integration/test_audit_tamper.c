/* test_audit_tamper.c - the chain catches every edit (API.md 8.2, 9.3). As the database
 * superuser with the log's triggers turned off (session_replication_role = replica), a test
 * edits a field of one row, deletes a row, inserts a forged but self-consistent row in the
 * middle, reorders two rows, or appends a forged row past the head; each on a fresh database.
 * Then GET /v1/audit/verify, `cofferd audit verify` and a client walking the log must all name
 * the first bad row, with the right problem; sub-ranges before and after it still verify. */
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
#include "taudit.h"

/* A dozen rows or so of every kind: token creates, a credential written and read, who-am-I,
 * refusals. */
static void base_chain(const struct taudit *f)
{
    char name[64], id[TAPI_ID_LEN];
    struct t_resp r;

    tapi_name(name, sizeof(name), "tamper-");
    tapi_cred_new(&f->api, name, "{\"k\": \"tamper-value\"}", id);
    for (int i = 0; i < 3; i++) {
        tapi_send(&f->api, f->api.admin, "GET", NULL, &r, "/v1/credentials/%s", id);
        assert_int_equal(r.status, 200);
        t_resp_free(&r);
    }
    for (int i = 0; i < 4; i++) {
        tapi_send(&f->api, i % 2 ? f->api.admin : f->api.auditor, "GET", NULL, &r,
                  "/v1/user/email");
        assert_int_equal(r.status, 200);
        t_resp_free(&r);
    }
    tapi_send(&f->api, NULL, "GET", NULL, &r, "/v1/credentials/%s", id);
    assert_int_equal(r.status, 401);
    t_resp_free(&r);
    tapi_send(&f->api, f->api.auditor, "PUT", "{\"enabled\": false}", &r, "/v1/credentials/%s", id);
    assert_int_equal(r.status, 403);
    t_resp_free(&r);
    json_t *v = taudit_verify(f, "");
    assert_true(tapi_bool(v, "ok")); /* intact before anyone tampers */
    json_decref(v);
}

/* Checks one answer of GET /v1/audit/verify?query: broken at first_bad with one of problems
 * (alternatives "a|b"), having checked the rows from from_id before it. Returns the problem
 * named (static storage until the next call), or "" after collecting a difference. */
static const char *api_broken(const struct taudit *f, struct cf_buf *list, const char *label,
                              const char *query, int64_t first_bad, const char *problems,
                              int64_t from_id)
{
    static char named[64];
    struct t_resp r;

    named[0] = '\0';
    tapi_send(&f->api, f->api.auditor, "GET", NULL, &r, "/v1/audit/verify%s%s",
              *query != '\0' ? "?" : "", query);
    if (r.status != 200) {
        tapi_collect(list, label,
                     tapi_printf("verify?%s: %ld %.300s", query, r.status, r.body.data));
        t_resp_free(&r);
        return named;
    }
    json_t *b = tapi_json(&r);
    json_t *ok = json_object_get(b, "ok"), *bad = json_object_get(b, "first_bad_id");
    json_t *checked = json_object_get(b, "checked");
    const char *p = cf_json_str(b, "problem");
    char want[160];
    snprintf(want, sizeof(want), "|%s|", problems);
    char got[80];
    snprintf(got, sizeof(got), "|%s|", p != NULL ? p : "");
    if (!json_is_false(ok) || !json_is_integer(bad) || json_integer_value(bad) != first_bad ||
        p == NULL || strstr(want, got) == NULL || !json_is_integer(checked) ||
        json_integer_value(checked) != first_bad - from_id)
        tapi_collect(list, label,
                     tapi_printf("verify?%s answered %.300s; expected ok false, first_bad_id "
                                 "%lld, problem %s, checked %lld",
                                 query, r.body.data, (long long)first_bad, problems,
                                 (long long)(first_bad - from_id)));
    else
        snprintf(named, sizeof(named), "%s", p);
    if (*named != '\0' && strchr(problems, '|') != NULL) /* for the record: which one */
        print_message("%s: verify?%s names row %lld: %s\n", label, query, (long long)first_bad,
                      named);
    json_decref(b);
    t_resp_free(&r);
    return named;
}

/* Checks that GET /v1/audit/verify?query answers ok true. */
static void api_intact(const struct taudit *f, struct cf_buf *list, const char *label,
                       const char *query)
{
    struct t_resp r;

    tapi_send(&f->api, f->api.auditor, "GET", NULL, &r, "/v1/audit/verify?%s", query);
    json_t *b = r.status == 200 ? tapi_json(&r) : NULL;
    if (b == NULL || !json_is_true(json_object_get(b, "ok")))
        tapi_collect(list, label,
                     tapi_printf("verify?%s: expected ok true, got %ld %.300s", query, r.status,
                                 r.body.data));
    json_decref(b);
    t_resp_free(&r);
}

/* True if out names row id and one of the alternatives "a|b". */
static bool names_any(const char *out, int64_t id, const char *alternatives)
{
    char one[64];

    for (const char *p = alternatives; p != NULL;) {
        const char *bar = strchr(p, '|');
        snprintf(one, sizeof(one), "%.*s", bar != NULL ? (int)(bar - p) : (int)strlen(p), p);
        if (taudit_names_row(out, id, one))
            return true;
        p = bar != NULL ? bar + 1 : NULL;
    }
    return false;
}

/* Checks that `cofferd audit verify args` exits 1 naming first_bad and problem (the word the
 * API named, or alternatives "a|b" if it named none). */
static void cli_broken(const struct taudit *f, struct cf_buf *list, const char *label,
                       char *const args[], int64_t first_bad, const char *problem)
{
    struct cf_buf out = { 0 };
    int rc = taudit_cli_verify(&f->api.db, args, &out);

    if (rc != 1 || !names_any(out.data, first_bad, problem))
        tapi_collect(list, label,
                     tapi_printf("cofferd audit verify exited %d (expected 1) printing %.300s; "
                                 "expected it to name row %lld and %s",
                                 rc, out.data, (long long)first_bad, problem));
    cf_buf_free(&out);
}

static void cli_intact(const struct taudit *f, struct cf_buf *list, const char *label,
                       char *const args[])
{
    struct cf_buf out = { 0 };
    int rc = taudit_cli_verify(&f->api.db, args, &out);
    if (rc != 0)
        tapi_collect(
            list, label,
            tapi_printf("cofferd audit verify exited %d (expected 0): %.300s", rc, out.data));
    cf_buf_free(&out);
}

/* A client walking the whole log must stop at first_bad too. */
static void client_broken(const struct taudit *f, struct cf_buf *list, const char *label,
                          int64_t first_bad)
{
    json_t *evs = taudit_events_all(f, f->api.auditor, "order=asc", 1000, NULL);
    char *d = taudit_chain_diff(evs, 1, TAUDIT_ZEROS);
    long long at = -1;

    if (d == NULL || sscanf(d, "row %lld:", &at) != 1 || at != first_bad)
        tapi_collect(list, label,
                     tapi_printf("a client walk found %s; expected row %lld", d ? d : "no fault",
                                 (long long)first_bad));
    free(d);
    json_decref(evs);
}

/* Row id read straight from the table as an event of the API (so that reading it writes no
 * row). json_decref() it. */
static json_t *event_of(const struct taudit *f, int64_t id)
{
    json_error_t err;
    char *sql = tapi_printf(
        "SELECT json_build_object('id', id, 'time', to_char(time AT TIME ZONE 'UTC', "
        "'YYYY-MM-DD\"T\"HH24:MI:SS.US\"+00:00\"'), 'request_id', request_id, 'actor_type', "
        "actor_type, 'actor', actor, 'source_ip', source_ip, 'action', action, 'resource_type', "
        "resource_type, 'resource_id', resource_id, 'revision', revision, 'result', result, "
        "'reason', reason, 'prev_hash', prev_hash, 'hash', hash)::text FROM audit_log WHERE id = "
        "%lld",
        (long long)id);
    char *text = tapi_sql(&f->api, sql);
    json_t *ev = json_loads(text, 0, &err);
    if (ev == NULL)
        fail_msg("row %lld not found", (long long)id);
    free(text);
    free(sql);
    return ev;
}

/* A forged row that extends row prev (an event): a copy of it with a new id and request id,
 * prev_hash = prev's hash, hash computed here. json_decref() it. */
static json_t *forge_after(const json_t *prev, int64_t id)
{
    char rid[33], h[TAUDIT_HASH_HEX];
    json_t *row = json_deep_copy(prev);

    taudit_rand_hex32(rid);
    json_object_set_new(row, "id", json_integer(id));
    json_object_set_new(row, "request_id", json_string(rid));
    json_object_set_new(row, "actor", json_string("token:forger"));
    json_object_set_new(row, "prev_hash", json_string(tapi_str(prev, "hash")));
    assert_int_equal(taudit_hash(tapi_str(prev, "hash"), row, h), 0);
    json_object_set_new(row, "hash", json_string(h));
    return row;
}

/* --- edit one field ------------------------------------------------------------------------- */

static void test_editing_any_field_of_one_row_is_a_hash_mismatch_at_that_row(void **state)
{
    struct taudit *f = *state;
    struct cf_buf list = { 0 };
    char sql[512], q[128], from[32], to[32], k_s[32];

    base_chain(f);
    /* the second read of the credential: every field set, revision too */
    int64_t k = tapi_count(&f->api, "SELECT id FROM audit_log WHERE action = 'credential.get' "
                                    "ORDER BY id OFFSET 1 LIMIT 1");
    assert_true(k > 2);
    t_sql_ok(f->api.db.super_url, "CREATE TABLE audit_backup AS SELECT * FROM audit_log", NULL, 0);
    const struct {
        const char *field, *set, *problem;
    } edits[] = {
        { "time", "time = time + interval '1 microsecond'", "hash_mismatch" },
        { "request_id", "request_id = '0123456789abcdef0123456789abcdef'", "hash_mismatch" },
        { "actor_type", "actor_type = 'system'", "hash_mismatch" },
        { "actor", "actor = 'token:someone-else'", "hash_mismatch" },
        { "source_ip", "source_ip = '10.9.8.7'", "hash_mismatch" },
        { "action", "action = 'credential.get_metadata'", "hash_mismatch" },
        { "resource_type", "resource_type = 'service'", "hash_mismatch" },
        { "resource_id", "resource_id = 'ffffffffffffffffffffffffffffffff'", "hash_mismatch" },
        { "revision", "revision = revision + 1", "hash_mismatch" },
        { "revision to null", "revision = NULL", "hash_mismatch" },
        { "result", "result = 'denied'", "hash_mismatch" },
        { "reason", "reason = 'forbidden'", "hash_mismatch" },
        { "hash", "hash = repeat('b', 64)", "hash_mismatch" },
        { "prev_hash", "prev_hash = repeat('a', 64)", "prev_hash_mismatch|hash_mismatch" },
    };
    for (size_t i = 0; i < sizeof(edits) / sizeof(edits[0]); i++) {
        const char *label = edits[i].field;
        snprintf(sql, sizeof(sql), "UPDATE audit_log SET %s WHERE id = %lld", edits[i].set,
                 (long long)k);
        taudit_tamper(&f->api.db, sql, NULL);
        const char *named = api_broken(f, &list, label, "", k, edits[i].problem, 1);
        snprintf(q, sizeof(q), "from_id=%lld&to_id=%lld", (long long)k, (long long)k);
        api_broken(f, &list, label, q, k, edits[i].problem, k);
        snprintf(q, sizeof(q), "from_id=1&to_id=%lld", (long long)(k - 1));
        api_intact(f, &list, label, q);
        cli_broken(f, &list, label, NULL, k, *named != '\0' ? named : edits[i].problem);
        snprintf(to, sizeof(to), "%lld", (long long)(k - 1));
        char *const before[] = { "--to-id", to, NULL };
        cli_intact(f, &list, label, before);
        if (strcmp(edits[i].field, "hash") != 0) {
            /* the next row still names the stored hash of row k: from k + 1 all is well */
            snprintf(q, sizeof(q), "from_id=%lld", (long long)(k + 1));
            api_intact(f, &list, label, q);
            snprintf(from, sizeof(from), "%lld", (long long)(k + 1));
            char *const after[] = { "--from-id", from, NULL };
            cli_intact(f, &list, label, after);
        }
        snprintf(k_s, sizeof(k_s), "%lld", (long long)k);
        char *const only[] = { "--from-id", k_s, "--to-id", k_s, NULL };
        cli_broken(f, &list, label, only, k, *named != '\0' ? named : edits[i].problem);
        client_broken(f, &list, label, k);
        /* put the row back: the chain verifies again */
        snprintf(sql, sizeof(sql),
                 "UPDATE audit_log t SET time = b.time, request_id = b.request_id, actor_type = "
                 "b.actor_type, actor = b.actor, source_ip = b.source_ip, action = b.action, "
                 "resource_type = b.resource_type, resource_id = b.resource_id, revision = "
                 "b.revision, result = b.result, reason = b.reason, prev_hash = b.prev_hash, hash "
                 "= b.hash FROM audit_backup b WHERE t.id = b.id AND t.id = %lld",
                 (long long)k);
        taudit_tamper(&f->api.db, sql, NULL);
        api_intact(f, &list, label, "from_id=1");
    }
    cli_intact(f, &list, "restored", NULL);
    tapi_collect_end(&list);
}

/* --- delete a row --------------------------------------------------------------------------- */

static void test_deleting_a_row_is_a_missing_row(void **state)
{
    struct taudit *f = *state;
    struct cf_buf list = { 0 };
    char sql[128], q[128], arg[32];

    base_chain(f);
    int64_t k = taudit_max_id(f) / 2;
    snprintf(sql, sizeof(sql), "DELETE FROM audit_log WHERE id = %lld", (long long)k);
    taudit_tamper(&f->api.db, sql, NULL);
    const char *named = api_broken(f, &list, "whole chain", "", k, "missing_row", 1);
    cli_broken(f, &list, "cofferd audit verify", NULL, k, *named ? named : "missing_row");
    client_broken(f, &list, "client", k);
    snprintf(q, sizeof(q), "to_id=%lld", (long long)(k - 1));
    api_intact(f, &list, "before it", q);
    snprintf(q, sizeof(q), "from_id=%lld", (long long)(k + 2));
    api_intact(f, &list, "after it", q);
    snprintf(arg, sizeof(arg), "%lld", (long long)(k + 2));
    char *const after[] = { "--from-id", arg, NULL };
    cli_intact(f, &list, "cofferd audit verify after it", after);
    snprintf(q, sizeof(q), "from_id=%lld&to_id=%lld", (long long)(k - 2), (long long)(k + 3));
    api_broken(f, &list, "a range across it", q, k, "missing_row", k - 2);

    /* the first row too */
    taudit_tamper(&f->api.db, "DELETE FROM audit_log WHERE id = 1", NULL);
    api_broken(f, &list, "row 1", "", 1, "missing_row", 1);
    cli_broken(f, &list, "row 1 (cofferd audit verify)", NULL, 1, "missing_row");
    tapi_collect_end(&list);
}

/* --- insert a row in the middle ------------------------------------------------------------- */

static void test_a_forged_row_inserted_in_the_middle_breaks_the_chain_at_the_next_row(void **state)
{
    struct taudit *f = *state;
    struct cf_buf list = { 0 };
    char sql[256], q[128], arg[32];

    base_chain(f);
    int64_t k = taudit_max_id(f) / 2;
    json_t *prev = event_of(f, k - 1);
    json_t *forged = forge_after(prev, k);
    /* make room: ids k.. move up by one (in two steps, the primary key being immediate), and
     * the head with them, as a careful forger would */
    snprintf(sql, sizeof(sql), "UPDATE audit_log SET id = id + 1000000 WHERE id >= %lld",
             (long long)k);
    taudit_tamper(&f->api.db, sql, NULL);
    taudit_tamper(&f->api.db, "UPDATE audit_log SET id = id - 999999 WHERE id > 1000000", NULL);
    taudit_tamper(&f->api.db, "UPDATE audit_head SET id = id + 1", NULL);
    taudit_insert_raw(&f->api.db, forged);

    /* the forged row itself is consistent with its predecessor: a range ending at it passes */
    snprintf(q, sizeof(q), "from_id=1&to_id=%lld", (long long)k);
    api_intact(f, &list, "up to the forged row", q);
    const char *named =
        api_broken(f, &list, "whole chain", "", k + 1, "prev_hash_mismatch|hash_mismatch", 1);
    cli_broken(f, &list, "cofferd audit verify", NULL, k + 1,
               *named ? named : "prev_hash_mismatch|hash_mismatch");
    client_broken(f, &list, "client", k + 1);
    snprintf(arg, sizeof(arg), "%lld", (long long)k);
    char *const upto[] = { "--to-id", arg, NULL };
    cli_intact(f, &list, "cofferd audit verify up to the forged row", upto);
    json_decref(prev);
    json_decref(forged);
    tapi_collect_end(&list);
}

/* --- reorder two rows ----------------------------------------------------------------------- */

static void swap_rows(const struct taudit *f, int64_t a, int64_t b)
{
    char sql[1024];
    snprintf(sql, sizeof(sql),
             "UPDATE audit_log t SET time = s.time, request_id = s.request_id, actor_type = "
             "s.actor_type, actor = s.actor, source_ip = s.source_ip, action = s.action, "
             "resource_type = s.resource_type, resource_id = s.resource_id, revision = "
             "s.revision, result = s.result, reason = s.reason, prev_hash = s.prev_hash, hash = "
             "s.hash FROM audit_log s WHERE (t.id = %lld AND s.id = %lld) OR (t.id = %lld AND "
             "s.id = %lld)",
             (long long)a, (long long)b, (long long)b, (long long)a);
    taudit_tamper(&f->api.db, sql, NULL);
}

static void test_swapping_two_rows_breaks_the_chain_at_the_first_of_them(void **state)
{
    struct taudit *f = *state;
    struct cf_buf list = { 0 };
    char q[128], arg[32];

    base_chain(f);
    int64_t a = taudit_max_id(f) / 2;
    const int64_t gaps[] = { 1, 3 }; /* neighbours, then two rows apart */
    for (size_t i = 0; i < 2; i++) {
        char label[64];
        int64_t b = a + gaps[i];
        snprintf(label, sizeof(label), "rows %lld and %lld", (long long)a, (long long)b);
        swap_rows(f, a, b);
        const char *named =
            api_broken(f, &list, label, "", a, "prev_hash_mismatch|hash_mismatch", 1);
        cli_broken(f, &list, label, NULL, a, *named ? named : "prev_hash_mismatch|hash_mismatch");
        client_broken(f, &list, label, a);
        snprintf(q, sizeof(q), "to_id=%lld", (long long)(a - 1));
        api_intact(f, &list, label, q);
        /* row b now holds a's hash, so b + 1 is bad too; from b + 2 all is well */
        snprintf(q, sizeof(q), "from_id=%lld", (long long)(b + 2));
        api_intact(f, &list, label, q);
        snprintf(arg, sizeof(arg), "%lld", (long long)(b + 2));
        char *const after[] = { "--from-id", arg, NULL };
        cli_intact(f, &list, label, after);
        swap_rows(f, a, b); /* back in order: intact again */
        api_intact(f, &list, label, "from_id=1");
    }
    tapi_collect_end(&list);
}

/* --- a forged row past the head ------------------------------------------------------------- */

static void test_a_forged_row_past_the_head_is_a_head_mismatch(void **state)
{
    struct taudit *f = *state;
    struct cf_buf list = { 0 };
    struct cf_buf out = { 0 };
    char name[64], id[TAPI_ID_LEN], rid[64], sql[256];
    struct t_resp r;

    tapi_name(name, sizeof(name), "tail-");
    tapi_cred_new(&f->api, name, "{\"k\": \"tail-canary-6d1e\"}", id);
    base_chain(f);
    int64_t n = taudit_max_id(f);
    assert_int_equal(taudit_head_id(f), n);
    json_t *last = event_of(f, n);
    json_t *forged = forge_after(last, n + 1);
    taudit_insert_raw(&f->api.db, forged); /* audit_head stays at n */

    int rc = taudit_cli_verify(&f->api.db, NULL, &out);
    if (rc != 1 || !taudit_names_row(out.data, n + 1, "head_mismatch"))
        tapi_collect(&list, "cofferd audit verify",
                     tapi_printf("exited %d printing %.300s; expected 1, row %lld, head_mismatch",
                                 rc, out.data, (long long)(n + 1)));
    cf_buf_free(&out);

    /* the next row's id is taken: no request can have its row, so none may succeed; a verify
     * that answers 200 must have its row and report the mismatch */
    tapi_send(&f->api, f->api.auditor, "GET", NULL, &r, "/v1/audit/verify");
    print_message("GET /v1/audit/verify with a forged row past the head: %ld %.200s\n", r.status,
                  r.body.data);
    if (r.status == 200) {
        json_t *b = tapi_json(&r);
        if (!json_is_false(json_object_get(b, "ok")) ||
            strcmp(cf_json_str(b, "problem") ? cf_json_str(b, "problem") : "", "head_mismatch") !=
                0 ||
            tapi_int(b, "first_bad_id") != n + 1)
            tapi_collect(&list, "GET /v1/audit/verify",
                         tapi_printf("answered %.300s; expected head_mismatch at %lld", r.body.data,
                                     (long long)(n + 1)));
        json_decref(b);
        assert_true(t_resp_header(&r, "X-Request-Id", rid, sizeof(rid)));
        snprintf(sql, sizeof(sql), "SELECT count(*) FROM audit_log WHERE request_id = '%s'", rid);
        if (tapi_count(&f->api, sql) != 1)
            tapi_collect(&list, "GET /v1/audit/verify",
                         tapi_printf("answered 200 without its row"));
    } else {
        tapi_collect(&list, "GET /v1/audit/verify", tapi_error_diff(&r, 503, "audit_unavailable"));
    }
    t_resp_free(&r);
    tapi_send(&f->api, f->api.admin, "GET", NULL, &r, "/v1/credentials/%s", id);
    tapi_collect(&list, "a credential read", tapi_error_diff(&r, 503, "audit_unavailable"));
    tapi_assert_no_secret(r.body.data, "tail-canary-6d1e", "a read that has no row");
    t_resp_free(&r);
    assert_int_equal(taudit_max_id(f), n + 1);
    json_decref(last);
    json_decref(forged);
    tapi_collect_end(&list);
}

int main(void)
{
    cf_json_init();
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(
            test_editing_any_field_of_one_row_is_a_hash_mismatch_at_that_row, taudit_setup,
            taudit_teardown),
        cmocka_unit_test_setup_teardown(test_deleting_a_row_is_a_missing_row, taudit_setup,
                                        taudit_teardown),
        cmocka_unit_test_setup_teardown(
            test_a_forged_row_inserted_in_the_middle_breaks_the_chain_at_the_next_row, taudit_setup,
            taudit_teardown),
        cmocka_unit_test_setup_teardown(
            test_swapping_two_rows_breaks_the_chain_at_the_first_of_them, taudit_setup,
            taudit_teardown),
        cmocka_unit_test_setup_teardown(test_a_forged_row_past_the_head_is_a_head_mismatch,
                                        taudit_setup, taudit_teardown),
    };
    return t_run_group_tests(tests, NULL, NULL);
}
