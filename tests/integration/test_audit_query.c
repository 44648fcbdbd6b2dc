/* test_audit_query.c - the auditors' API (API.md 8.2): GET /v1/audit/events filters, order,
 * limit and keyset cursors compared row for row with the table itself; who may query; the
 * queries' own rows; and a client-side walk of the whole log that recomputes every hash from
 * the canonical form (checked first against API.md's two test vectors), trusting nothing the
 * server computed. One cofferd on a fresh database; the group setup writes a known set of rows
 * with actors of their own, so that each filter's expected rows come from SQL on the table. */
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
#include "taudit.h"

#define GEN_ADMIN   "token:gen-admin"
#define GEN_AUDITOR "token:gen-auditor"

/* What the group setup wrote. */
struct query_fixture {
    struct taudit a;
    char gen_admin[96];   /* Authorization header of the token gen-admin */
    char gen_auditor[96]; /* and of gen-auditor */
    char cred[3][TAPI_ID_LEN];
    char sid[64];
    char svc_auth[2048]; /* the service sid's kmsauth header */
    char one_rid[33];    /* the request id of one credential update */
};

/* Sends and forgets, asserting the status. */
static void call(const struct query_fixture *q, const char *auth, const char *method,
                 const char *body, long status, const char *path)
{
    struct t_resp r;

    tapi_send(&q->a.api, auth, method, body, &r, "%s", path);
    if (r.status != status)
        fail_msg("%s %s: expected %ld, got %ld: %.300s", method, path, status, r.status,
                 r.body.data);
    t_resp_free(&r);
}

static void write_dataset(struct query_fixture *q)
{
    char tok[64], name[64], path[160];
    struct t_resp r;

    t_token_create(&q->a.api.db, "admin", "gen-admin", tok);
    snprintf(q->gen_admin, sizeof(q->gen_admin), "Authorization: Bearer %s", tok);
    t_token_create(&q->a.api.db, "auditor", "gen-auditor", tok);
    snprintf(q->gen_auditor, sizeof(q->gen_auditor), "Authorization: Bearer %s", tok);
    for (size_t i = 0; i < 3; i++) {
        tapi_name(name, sizeof(name), "query-cred-");
        char *body =
            tapi_printf("{\"name\": \"%s\", \"credential_pairs\": {\"k%zu\": \"v\"}}", name, i);
        tapi_send(&q->a.api, q->gen_admin, "POST", body, &r, "/v1/credentials");
        json_t *c = tapi_ok(&r);
        snprintf(q->cred[i], TAPI_ID_LEN, "%s", tapi_str(c, "id"));
        json_decref(c);
        t_resp_free(&r);
        free(body);
    }
    snprintf(path, sizeof(path), "/v1/credentials/%s", q->cred[0]);
    call(q, q->gen_admin, "GET", NULL, 200, path);
    call(q, q->gen_admin, "GET", NULL, 200, path);
    tapi_send(&q->a.api, q->gen_admin, "PUT", "{\"credential_pairs\": {\"k0\": \"w\"}}", &r, "%s",
              path);
    assert_int_equal(r.status, 200);
    assert_true(t_resp_header(&r, "X-Request-Id", q->one_rid, sizeof(q->one_rid)));
    t_resp_free(&r);
    call(q, q->gen_auditor, "PUT", "{\"credential_pairs\": {\"k0\": \"x\"}}", 403, path);
    call(q, NULL, "GET", NULL, 401, path);
    call(q, "Authorization: Bearer coffer_unknownunknownunknownunknownunknownunknow", "GET", NULL,
         401, path);

    tapi_name(q->sid, sizeof(q->sid), "query-svc-");
    char *map = tapi_printf("{\"credentials\": [\"%s\", \"%s\"]}", q->cred[1], q->cred[2]);
    snprintf(path, sizeof(path), "/v1/services/%s", q->sid);
    call(q, q->gen_admin, "PUT", map, 200, path);
    free(map);
    call(q, q->gen_admin, "GET", NULL, 200, path);
    call(q, q->gen_auditor, "GET", NULL, 403, path);
    char *svc = taudit_service_auth(&q->a, q->sid);
    snprintf(q->svc_auth, sizeof(q->svc_auth), "%s", svc);
    free(svc);
    call(q, q->svc_auth, "GET", NULL, 200, path);
    call(q, q->svc_auth, "GET", NULL, 403, "/v1/services/some-other-service");
    call(q, NULL, "GET", NULL, 401, "/v1/services");
    call(q, q->gen_auditor, "GET", NULL, 200, "/v1/credentials");
    /* enough rows for the default limit to matter */
    for (int i = 0; i < 90; i++)
        call(q, q->gen_admin, "GET", NULL, 200, "/v1/user/email");
}

static int query_setup(void **state)
{
    struct query_fixture *q = calloc(1, sizeof(*q));
    assert_non_null(q);
    taudit_init(&q->a, NULL);
    write_dataset(q);
    *state = q;
    return 0;
}

static int query_teardown(void **state)
{
    struct query_fixture *q = *state;
    int rc = taudit_fini(&q->a);
    free(q);
    assert_int_equal(rc, 0);
    return 0;
}

/* --- helpers -------------------------------------------------------------------------------- */

/* "id,id,..." of events (an array). */
static char *id_list(const json_t *events)
{
    struct cf_buf b = { 0 };
    size_t i;
    json_t *ev;

    json_array_foreach(events, i, ev)
    {
        assert_int_equal(
            cf_buf_printf(&b, "%s%lld", i > 0 ? "," : "", (long long)tapi_int(ev, "id")), 0);
    }
    cf_buf_append(&b, "", 0);
    char *s = strdup(b.data);
    cf_buf_free(&b);
    return s;
}

/* "id,id,..." of the rows matching where, in id order (asc or desc). */
static char *sql_ids(const struct taudit *f, const char *where, bool asc)
{
    char *sql = tapi_printf("SELECT coalesce(string_agg(id::text, ',' ORDER BY id %s), '') FROM "
                            "audit_log WHERE %s",
                            asc ? "ASC" : "DESC", where);
    char *s = tapi_sql(&f->api, sql);
    free(sql);
    return s;
}

/* Pages through query with limit and compares the ids, in order, with SQL's where; collects a
 * difference under label. */
static void check_filter(const struct query_fixture *q, struct cf_buf *problems, const char *label,
                         const char *query, const char *where, int limit)
{
    for (int asc = 0; asc < 2; asc++) {
        char *full =
            tapi_printf("%s%sorder=%s", query, *query != '\0' ? "&" : "", asc ? "asc" : "desc");
        json_t *evs = taudit_events_all(&q->a, q->a.api.auditor, full, limit, NULL);
        char *got = id_list(evs), *want = sql_ids(&q->a, where, asc != 0);
        if (strcmp(got, want) != 0)
            tapi_collect(problems, label,
                         tapi_printf("?%s&limit=%d returned ids [%.600s], the table has [%.600s]",
                                     full, limit, got, want));
        else if (*want == '\0')
            tapi_collect(problems, label, tapi_printf("the test expects some rows: none match"));
        json_decref(evs);
        free(got);
        free(want);
        free(full);
    }
}

/* A value of row id formatted by SQL (fmt is a to_char pattern on time in UTC, + interval). */
static char *row_time(const struct taudit *f, int64_t id, const char *shift, const char *fmt)
{
    char *sql = tapi_printf("SELECT to_char((time AT TIME ZONE 'UTC') + interval '%s', '%s') FROM "
                            "audit_log WHERE id = %lld",
                            shift, fmt, (long long)id);
    char *s = tapi_sql(&f->api, sql);
    free(sql);
    return s;
}

static char *enc(const char *s)
{
    struct cf_buf b = { 0 };
    tapi_url_encode(s, &b);
    cf_buf_append(&b, "", 0);
    char *out = strdup(b.data);
    cf_buf_free(&b);
    return out;
}

/* --- filters -------------------------------------------------------------------------------- */

static void test_each_filter_returns_exactly_the_matching_rows_in_both_orders(void **state)
{
    struct query_fixture *q = *state;
    struct cf_buf problems = { 0 };
    char query[512], where[512];

    check_filter(q, &problems, "actor", "actor=token%3Agen-admin", "actor = '" GEN_ADMIN "'", 7);
    snprintf(query, sizeof(query), "actor=%s", q->sid);
    snprintf(where, sizeof(where), "actor = '%s'", q->sid);
    check_filter(q, &problems, "actor (a service)", query, where, 2);
    check_filter(q, &problems, "actor_type anonymous", "actor_type=anonymous",
                 "actor_type = 'anonymous'", 2);
    check_filter(q, &problems, "actor_type service", "actor_type=service", "actor_type = 'service'",
                 1);
    check_filter(q, &problems, "actor_type system", "actor_type=system", "actor_type = 'system'",
                 3);
    check_filter(q, &problems, "action", "action=credential.create", "action = 'credential.create'",
                 2);
    check_filter(q, &problems, "action list", "action=credential.create,service.get",
                 "action IN ('credential.create', 'service.get')", 3);
    check_filter(
        q, &problems, "action list (percent-encoded comma) and actor",
        "action=credential.get%2Ccredential.update%2Cidentity.get&actor=token%3Agen-admin",
        "action IN ('credential.get', 'credential.update', 'identity.get') AND actor = '" GEN_ADMIN
        "'",
        25);
    check_filter(q, &problems, "resource_type", "resource_type=credential",
                 "resource_type = 'credential'", 3);
    snprintf(query, sizeof(query), "resource_type=service&resource_id=%s", q->sid);
    snprintf(where, sizeof(where), "resource_type = 'service' AND resource_id = '%s'", q->sid);
    check_filter(q, &problems, "resource_type and resource_id", query, where, 2);
    snprintf(query, sizeof(query), "resource_id=%s", q->cred[0]);
    snprintf(where, sizeof(where), "resource_id = '%s'", q->cred[0]);
    check_filter(q, &problems, "resource_id", query, where, 3);
    check_filter(q, &problems, "result denied", "result=denied", "result = 'denied'", 3);
    check_filter(q, &problems, "result and actor_type", "result=denied&actor_type=token",
                 "result = 'denied' AND actor_type = 'token'", 1);
    check_filter(q, &problems, "result allowed and actor",
                 "result=allowed&actor=token%3Agen-auditor",
                 "result = 'allowed' AND actor = '" GEN_AUDITOR "'", 1);
    snprintf(query, sizeof(query), "request_id=%s", q->one_rid);
    snprintf(where, sizeof(where), "request_id = '%s'", q->one_rid);
    check_filter(q, &problems, "request_id", query, where, 1);
    tapi_collect_end(&problems);
}

static void test_since_is_inclusive_until_exclusive_in_any_rfc3339_form(void **state)
{
    struct query_fixture *q = *state;
    struct cf_buf problems = { 0 };
    const char *iso = "YYYY-MM-DD\"T\"HH24:MI:SS.US\"+00:00\"";
    const char *zulu = "YYYY-MM-DD\"T\"HH24:MI:SS.US\"Z\"";
    const char *plus2 = "YYYY-MM-DD\"T\"HH24:MI:SS.US\"+02:00\"";
    const char *minus5 = "YYYY-MM-DD\"T\"HH24:MI:SS.US\"-05:30\"";
    const char *gen = "actor = '" GEN_ADMIN "'";

    /* two rows of gen-admin's: the 4th and the 12th */
    int64_t a = tapi_count(&q->a.api, "SELECT id FROM audit_log WHERE actor = '" GEN_ADMIN
                                      "' ORDER BY id OFFSET 3 LIMIT 1");
    int64_t b = tapi_count(&q->a.api, "SELECT id FROM audit_log WHERE actor = '" GEN_ADMIN
                                      "' ORDER BY id OFFSET 11 LIMIT 1");
    assert_true(a > 0 && b > a);
    struct {
        const char *label, *shift, *fmt;
    } forms[] = {
        { "+00:00", "0 hours", iso },
        { "Z", "0 hours", zulu },
        { "+02:00", "2 hours", plus2 },
        { "-05:30", "-5 hours -30 minutes", minus5 },
    };
    for (size_t i = 0; i < sizeof(forms) / sizeof(forms[0]); i++) {
        char *since = row_time(&q->a, a, forms[i].shift, forms[i].fmt);
        char *until = row_time(&q->a, b, forms[i].shift, forms[i].fmt);
        char *es = enc(since), *eu = enc(until);
        char *t_a = row_time(&q->a, a, "0 hours", iso), *t_b = row_time(&q->a, b, "0 hours", iso);
        char label[64];

        char *query = tapi_printf("actor=token%%3Agen-admin&since=%s", es);
        char *where = tapi_printf("%s AND time >= '%s'::timestamptz", gen, t_a);
        snprintf(label, sizeof(label), "since (%s)", forms[i].label);
        check_filter(q, &problems, label, query, where, 5);
        free(query);
        free(where);
        query = tapi_printf("actor=token%%3Agen-admin&until=%s", eu);
        where = tapi_printf("%s AND time < '%s'::timestamptz", gen, t_b);
        snprintf(label, sizeof(label), "until (%s)", forms[i].label);
        check_filter(q, &problems, label, query, where, 5);
        free(query);
        free(where);
        query = tapi_printf("actor=token%%3Agen-admin&since=%s&until=%s", es, eu);
        where = tapi_printf("%s AND time >= '%s'::timestamptz AND time < '%s'::timestamptz", gen,
                            t_a, t_b);
        snprintf(label, sizeof(label), "since and until (%s)", forms[i].label);
        check_filter(q, &problems, label, query, where, 3);
        free(query);
        free(where);
        free(since);
        free(until);
        free(es);
        free(eu);
        free(t_a);
        free(t_b);
    }
    tapi_collect_end(&problems);
}

static void test_a_filter_nothing_matches_is_an_empty_page_without_cursor(void **state)
{
    struct query_fixture *q = *state;
    struct t_resp r;

    tapi_send(&q->a.api, q->a.api.auditor, "GET", NULL, &r,
              "/v1/audit/events?actor=nobody-at-all&limit=10");
    json_t *b = tapi_ok(&r);
    tapi_assert_json(b, "{\"events\": [], \"next_cursor\": null}");
    json_decref(b);
    t_resp_free(&r);
}

/* --- order, limit, cursors ------------------------------------------------------------------ */

static json_t *page(const struct query_fixture *q, const char *query, struct t_resp *r)
{
    tapi_send(&q->a.api, q->a.api.auditor, "GET", NULL, r, "/v1/audit/events?%s", query);
    json_t *b = tapi_ok(r);
    tapi_assert_members(b, "events,next_cursor");
    return b;
}

static void test_default_order_is_newest_first_with_a_default_limit_of_100(void **state)
{
    struct query_fixture *q = *state;
    struct t_resp r;

    int64_t max = taudit_max_id(&q->a);
    assert_true(max > 100);
    tapi_send(&q->a.api, q->a.api.auditor, "GET", NULL, &r, "/v1/audit/events");
    json_t *b = tapi_ok(&r);
    json_t *evs = json_object_get(b, "events");
    assert_int_equal(json_array_size(evs), 100);
    assert_true(json_is_string(json_object_get(b, "next_cursor")));
    json_int_t first = tapi_int(json_array_get(evs, 0), "id");
    assert_true(first >= max); /* the newest (its own row may be among them) */
    for (size_t i = 1; i < 100; i++)
        assert_int_equal(tapi_int(json_array_get(evs, i), "id"), first - (json_int_t)i);
    for (size_t i = 0; i < 100; i++)
        tapi_assert_members(json_array_get(evs, i), TAUDIT_EVENT_MEMBERS);
    json_decref(b);
    t_resp_free(&r);

    b = page(q, "order=asc&limit=1", &r);
    evs = json_object_get(b, "events");
    assert_int_equal(json_array_size(evs), 1);
    assert_int_equal(tapi_int(json_array_get(evs, 0), "id"), 1);
    assert_true(json_is_string(json_object_get(b, "next_cursor")));
    json_decref(b);
    t_resp_free(&r);

    b = page(q, "order=asc&limit=1000", &r);
    evs = json_object_get(b, "events");
    assert_true(json_array_size(evs) > 100 && json_array_size(evs) <= 1000);
    for (size_t i = 0; i < json_array_size(evs); i++)
        assert_int_equal(tapi_int(json_array_get(evs, i), "id"), (json_int_t)i + 1);
    json_decref(b);
    t_resp_free(&r);
}

static void test_bad_limits_orders_and_times_are_400_invalid_parameter(void **state)
{
    struct query_fixture *q = *state;
    struct cf_buf problems = { 0 };
    struct t_resp r;
    const char *bad[] = { "limit=0",          "limit=1001",
                          "limit=-1",         "limit=abc",
                          "limit=",           "limit=1.5",
                          "order=up",         "order=",
                          "since=yesterday",  "until=2025-13-01T00:00:00Z",
                          "since=2025-02-14", "until=12:00:00Z" };

    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        tapi_send(&q->a.api, q->a.api.auditor, "GET", NULL, &r, "/v1/audit/events?%s", bad[i]);
        tapi_collect(&problems, bad[i], tapi_error_diff(&r, 400, "invalid_parameter"));
        t_resp_free(&r);
    }
    tapi_collect_end(&problems);
}

static void test_paging_returns_every_row_once_in_order(void **state)
{
    struct query_fixture *q = *state;
    struct cf_buf problems = { 0 };
    size_t pages = 0;

    for (int limit = 1; limit <= 13; limit += 6) {
        char label[64];
        snprintf(label, sizeof(label), "actor gen-admin by %d", limit);
        check_filter(q, &problems, label, "actor=token%3Agen-admin", "actor = '" GEN_ADMIN "'",
                     limit);
    }
    json_t *evs = taudit_events_all(&q->a, q->a.api.auditor, "actor=token%3Agen-admin", 10, &pages);
    assert_true(pages >= 10); /* > 90 rows by 10: the cursor was followed */
    json_decref(evs);
    tapi_collect_end(&problems);
}

static void test_a_cursor_belongs_to_its_filters_and_order(void **state)
{
    struct query_fixture *q = *state;
    struct cf_buf problems = { 0 };
    struct t_resp r;

    json_t *b = page(q, "actor=token%3Agen-admin&order=desc&limit=5", &r);
    t_resp_free(&r);
    char *cursor = enc(json_string_value(json_object_get(b, "next_cursor")));
    json_decref(b);

    char *same = tapi_printf("actor=token%%3Agen-admin&order=desc&limit=5&cursor=%s", cursor);
    b = page(q, same, &r);
    assert_int_equal(json_array_size(json_object_get(b, "events")), 5);
    json_decref(b);
    t_resp_free(&r);

    const char *others[] = { "actor=token%3Agen-auditor&order=desc",
                             "order=desc",
                             "actor=token%3Agen-admin&order=asc",
                             "actor=token%3Agen-admin",
                             "actor=token%3Agen-admin&order=desc&result=allowed",
                             "actor=token%3Agen-admin&order=desc&action=identity.get" };
    for (size_t i = 0; i < sizeof(others) / sizeof(others[0]); i++) {
        tapi_send(&q->a.api, q->a.api.auditor, "GET", NULL, &r,
                  "/v1/audit/events?%s&limit=5&cursor=%s", others[i], cursor);
        /* "actor=token:gen-admin" alone is the same filters and the default order: valid */
        if (i == 3)
            tapi_collect(&problems, others[i],
                         r.status == 200 ? NULL : tapi_printf("expected 200, got %ld", r.status));
        else
            tapi_collect(&problems, others[i], tapi_error_diff(&r, 400, "invalid_cursor"));
        t_resp_free(&r);
    }
    const char *garbage[] = { "garbage", "AAAAAAAAAAAAAAAAAAAAAAAA", "%21%21%21", "0", "eyJ9" };
    for (size_t i = 0; i < sizeof(garbage) / sizeof(garbage[0]); i++) {
        tapi_send(&q->a.api, q->a.api.auditor, "GET", NULL, &r,
                  "/v1/audit/events?actor=token%%3Agen-admin&cursor=%s", garbage[i]);
        tapi_collect(&problems, garbage[i], tapi_error_diff(&r, 400, "invalid_cursor"));
        t_resp_free(&r);
    }
    free(same);
    free(cursor);
    tapi_collect_end(&problems);
}

/* Follows next_cursor from b's page to the end; returns every event (b's included). */
static json_t *rest_of_pages(const struct query_fixture *q, const char *query, json_t *b)
{
    json_t *all = json_array();
    json_array_extend(all, json_object_get(b, "events"));
    json_t *next = json_incref(json_object_get(b, "next_cursor"));
    for (int n = 0; json_is_string(next); n++) {
        struct t_resp r;
        char *c = enc(json_string_value(next));
        char *path = tapi_printf("%s&cursor=%s", query, c);
        assert_true(n < 1000);
        json_t *p = page(q, path, &r);
        json_array_extend(all, json_object_get(p, "events"));
        json_decref(next);
        next = json_incref(json_object_get(p, "next_cursor"));
        json_decref(p);
        t_resp_free(&r);
        free(path);
        free(c);
    }
    json_decref(next);
    return all;
}

static void test_rows_written_during_paging_never_shift_a_page(void **state)
{
    struct query_fixture *q = *state;
    struct t_resp r;
    const char *gen = "actor = '" GEN_ADMIN "'";

    /* newest first: the new rows are above the cursor and never appear */
    const char *desc = "actor=token%3Agen-admin&order=desc&limit=6";
    json_t *b = page(q, desc, &r);
    t_resp_free(&r);
    char *before = sql_ids(&q->a, gen, false);
    for (int i = 0; i < 4; i++)
        call(q, q->gen_admin, "GET", NULL, 200, "/v1/user/email");
    json_t *all = rest_of_pages(q, desc, b);
    char *got = id_list(all);
    assert_string_equal(got, before);
    json_decref(all);
    json_decref(b);
    free(got);
    free(before);

    /* oldest first: they arrive at the end, each once */
    const char *asc = "actor=token%3Agen-admin&order=asc&limit=6";
    b = page(q, asc, &r);
    t_resp_free(&r);
    for (int i = 0; i < 4; i++)
        call(q, q->gen_admin, "GET", NULL, 200, "/v1/user/email");
    all = rest_of_pages(q, asc, b);
    got = id_list(all);
    char *after = sql_ids(&q->a, gen, true);
    assert_string_equal(got, after);
    json_decref(all);
    json_decref(b);
    free(got);
    free(after);
}

/* --- who may query, and the queries' own rows ----------------------------------------------- */

static void test_only_auditors_and_admins_may_query_and_every_query_is_a_row(void **state)
{
    struct query_fixture *q = *state;
    struct cf_buf problems = { 0 };
    struct t_resp r;
    const char *paths[] = { "/v1/audit/events?limit=1", "/v1/audit/verify?to_id=2" };
    const char *actions[] = { "audit.query", "audit.verify" };

    for (size_t i = 0; i < 2; i++) {
        char label[128];
        struct taudit_want w = { "token", TAPI_AUDITOR_ACTOR, "127.0.0.1", actions[i], "audit",
                                 NULL,    TAPI_NULL,          "allowed",   "ok" };
        tapi_send(&q->a.api, q->a.api.auditor, "GET", NULL, &r, "%s", paths[i]);
        snprintf(label, sizeof(label), "auditor %s", paths[i]);
        tapi_collect(&problems, label,
                     r.status == 200 ? taudit_row_diff(&q->a, &r, &w)
                                     : tapi_printf("expected 200, got %ld", r.status));
        t_resp_free(&r);

        tapi_send(&q->a.api, q->a.api.admin, "GET", NULL, &r, "%s", paths[i]);
        w.actor = TAPI_ADMIN_ACTOR;
        snprintf(label, sizeof(label), "admin %s", paths[i]);
        tapi_collect(&problems, label,
                     r.status == 200 ? taudit_row_diff(&q->a, &r, &w)
                                     : tapi_printf("expected 200, got %ld", r.status));
        t_resp_free(&r);

        tapi_send(&q->a.api, q->svc_auth, "GET", NULL, &r, "%s", paths[i]);
        w = (struct taudit_want){ "service", q->sid,    "127.0.0.1", actions[i], "audit",
                                  NULL,      TAPI_NULL, "denied",    "forbidden" };
        snprintf(label, sizeof(label), "service %s", paths[i]);
        char *d = tapi_error_diff(&r, 403, "forbidden");
        tapi_collect(&problems, label, d != NULL ? d : taudit_row_diff(&q->a, &r, &w));
        t_resp_free(&r);

        tapi_send(&q->a.api, NULL, "GET", NULL, &r, "%s", paths[i]);
        snprintf(label, sizeof(label), "nobody %s", paths[i]);
        tapi_collect(&problems, label, tapi_error_diff(&r, 401, "unauthenticated"));
        t_resp_free(&r);

        tapi_send(&q->a.api,
                  "Authorization: Bearer coffer_notatokennotatokennotatokennotatokennota", "GET",
                  NULL, &r, "%s", paths[i]);
        snprintf(label, sizeof(label), "unknown token %s", paths[i]);
        tapi_collect(&problems, label, tapi_error_diff(&r, 401, "authentication_failed"));
        t_resp_free(&r);
    }
    tapi_collect_end(&problems);
}

/* --- the chain, recomputed by the client ---------------------------------------------------- */

static const char vector1[] =
    "{\"action\":\"service.get\",\"actor\":\"web-production\",\"actor_type\":\"service\",\"id\":1,"
    "\"reason\":\"ok\",\"request_id\":\"5f2b8c0e9d1a4b7c8e6f3a2d1c0b9a87\",\"resource_id\":\"web-"
    "production\",\"resource_type\":\"service\",\"result\":\"allowed\",\"revision\":3,\"source_"
    "ip\":\"10.0.3.17\",\"time\":\"2025-02-14T15:27:41.123456+00:00\"}";
static const char vector2[] =
    "{\"action\":\"service.get\",\"actor\":\"2/service/billing\",\"actor_type\":\"anonymous\","
    "\"id\":2,\"reason\":\"kmsauth_decrypt\",\"request_id\":\"0c1d2e3f405162738495a6b7c8d9eafb\","
    "\"resource_id\":\"web-production\",\"resource_type\":\"service\",\"result\":\"denied\","
    "\"revision\":null,\"source_ip\":\"10.0.3.18\",\"time\":\"2025-02-14T15:27:42.000001+00:00\"}";

static void test_the_canonical_form_here_matches_the_api_test_vectors(void **state)
{
    (void)state;
    json_error_t err;
    struct cf_buf b = { 0 };
    char h[TAUDIT_HASH_HEX];

    json_t *r1 = json_loads(vector1, 0, &err), *r2 = json_loads(vector2, 0, &err);
    assert_non_null(r1);
    assert_non_null(r2);
    assert_int_equal(taudit_canonical(r1, &b), 0);
    assert_string_equal(b.data, vector1);
    cf_buf_reset(&b);
    assert_int_equal(taudit_canonical(r2, &b), 0);
    assert_string_equal(b.data, vector2);
    cf_buf_free(&b);
    assert_int_equal(taudit_hash(TAUDIT_ZEROS, r1, h), 0);
    assert_string_equal(h, "89fe0e35455805ddc39bd193d65e2a7bccb745f21e2431f166dad973ddf971e3");
    char h2[TAUDIT_HASH_HEX];
    assert_int_equal(taudit_hash(h, r2, h2), 0);
    assert_string_equal(h2, "97cd65007af25ecbf8d0ebdfe0c5d395487d593a4101b98b4b7ab1d74524fe1b");

    /* escaping: the members of a row are copied with json_object_set, then one changes */
    json_t *odd = json_deep_copy(r2);
    json_object_set_new(odd, "actor", json_string("q\"b\\s\x01\x1f\t\n\r\b\f/\xc3\xa9\x7f"));
    assert_int_equal(taudit_canonical(odd, &b), 0);
    assert_non_null(
        strstr(b.data, "\"actor\":\"q\\\"b\\\\s\\u0001\\u001f\\t\\n\\r\\b\\f/\xc3\xa9\x7f\""));
    cf_buf_free(&b);
    json_decref(odd);
    json_decref(r1);
    json_decref(r2);
}

/* One string per row, from the table, for ids 1..max. */
static char *sql_rows_text(const struct taudit *f, int64_t max)
{
    char *sql = tapi_printf(
        "SELECT string_agg(concat_ws(chr(31), id, to_char(time AT TIME ZONE 'UTC', "
        "'YYYY-MM-DD\"T\"HH24:MI:SS.US\"+00:00\"'), request_id, actor_type, actor, source_ip, "
        "action, coalesce(resource_type, '<null>'), coalesce(resource_id, '<null>'), "
        "coalesce(revision::text, '<null>'), result, reason, prev_hash, hash), chr(30) ORDER BY "
        "id) FROM audit_log WHERE id <= %lld",
        (long long)max);
    char *s = tapi_sql(&f->api, sql);
    free(sql);
    return s;
}

/* The same text from the events of the API. */
static char *api_rows_text(const json_t *events, int64_t max)
{
    static const char *const names[] = { "time",      "request_id", "actor_type",    "actor",
                                         "source_ip", "action",     "resource_type", "resource_id",
                                         "revision",  "result",     "reason",        "prev_hash",
                                         "hash" };
    struct cf_buf b = { 0 };
    size_t i;
    json_t *ev;

    json_array_foreach(events, i, ev)
    {
        if (tapi_int(ev, "id") > max)
            break;
        assert_int_equal(
            cf_buf_printf(&b, "%s%lld", i > 0 ? "\x1e" : "", (long long)tapi_int(ev, "id")), 0);
        for (size_t k = 0; k < sizeof(names) / sizeof(names[0]); k++) {
            json_t *v = json_object_get(ev, names[k]);
            if (json_is_null(v))
                cf_buf_append_str(&b, "\x1f<null>");
            else if (json_is_integer(v))
                assert_int_equal(cf_buf_printf(&b, "\x1f%lld", (long long)json_integer_value(v)),
                                 0);
            else
                assert_int_equal(cf_buf_printf(&b, "\x1f%s", json_string_value(v)), 0);
        }
    }
    cf_buf_append(&b, "", 0);
    char *s = strdup(b.data);
    cf_buf_free(&b);
    return s;
}

static void test_a_client_walking_the_whole_log_recomputes_every_hash(void **state)
{
    struct query_fixture *q = *state;
    struct t_resp r;
    char sql[256];
    /* usernames that exercise the canonical escaping: quote, backslash, controls, DEL, é, €,
     * invalid UTF-8 (API.md 8.2: replaced by U+FFFD), and one over 128 bytes */
    const char *odd[] = { "2/service/q\"b\\s\x01\x1f\t\n\r\b\f/\xc3\xa9\x7f\xe2\x82\xac",
                          "\xff\xfeinvalid", NULL };
    const char *odd_actor[] = { odd[0], "\xef\xbf\xbd\xef\xbf\xbdinvalid" };
    char *longname = tapi_rep('n', 200);

    for (size_t i = 0; i < 2; i++) {
        char *h = taudit_basic_header(odd[i], "AAAA");
        tapi_send(&q->a.api, h, "GET", NULL, &r, "/v1/user/email");
        assert_int_equal(r.status, 401);
        struct taudit_want w = { "anonymous", odd_actor[i], "127.0.0.1", "identity.get", NULL, NULL,
                                 TAPI_ANY,    "denied",     NULL };
        taudit_row(&q->a, &r, &w);
        t_resp_free(&r);
        free(h);
    }
    char *h = taudit_basic_header(longname, "AAAA");
    tapi_send(&q->a.api, h, "GET", NULL, &r, "/v1/user/email");
    assert_true(t_resp_header(&r, "X-Request-Id", sql, sizeof(sql)));
    char *rid = strdup(sql);
    snprintf(sql, sizeof(sql), "SELECT actor FROM audit_log WHERE request_id = '%s'", rid);
    char *actor = tapi_sql(&q->a.api, sql);
    if (strlen(actor) > 128 || strncmp(actor, longname, strlen(actor)) != 0)
        fail_msg("a 200-byte claimed username is recorded as %zu bytes (API.md 8.2: at most 128 "
                 "bytes of it)",
                 strlen(actor));
    free(actor);
    free(rid);
    free(h);
    free(longname);
    t_resp_free(&r);

    json_t *v = taudit_verify(&q->a, "");
    assert_true(tapi_bool(v, "ok"));
    json_int_t head = tapi_int(v, "head_id");
    json_t *evs = taudit_events_all(&q->a, q->a.api.auditor, "order=asc", 1000, NULL);
    assert_true((json_int_t)json_array_size(evs) >= head);
    char *d = taudit_chain_diff(evs, 1, TAUDIT_ZEROS);
    if (d != NULL)
        fail_msg("the chain as a client recomputes it: %s", d);
    assert_string_equal(tapi_str(json_array_get(evs, (size_t)head - 1), "hash"),
                        tapi_str(v, "head_hash"));
    /* what the API shows is what the table holds */
    char *api = api_rows_text(evs, head), *table = sql_rows_text(&q->a, head);
    if (strcmp(api, table) != 0)
        fail_msg("the events differ from the table's rows");
    free(api);
    free(table);
    json_decref(evs);
    json_decref(v);
    assert_int_equal(taudit_cli_verify(&q->a.api.db, NULL, NULL), 0);
}

int main(void)
{
    cf_json_init();
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_each_filter_returns_exactly_the_matching_rows_in_both_orders),
        cmocka_unit_test(test_since_is_inclusive_until_exclusive_in_any_rfc3339_form),
        cmocka_unit_test(test_a_filter_nothing_matches_is_an_empty_page_without_cursor),
        cmocka_unit_test(test_default_order_is_newest_first_with_a_default_limit_of_100),
        cmocka_unit_test(test_bad_limits_orders_and_times_are_400_invalid_parameter),
        cmocka_unit_test(test_paging_returns_every_row_once_in_order),
        cmocka_unit_test(test_a_cursor_belongs_to_its_filters_and_order),
        cmocka_unit_test(test_rows_written_during_paging_never_shift_a_page),
        cmocka_unit_test(test_only_auditors_and_admins_may_query_and_every_query_is_a_row),
        cmocka_unit_test(test_the_canonical_form_here_matches_the_api_test_vectors),
        cmocka_unit_test(test_a_client_walking_the_whole_log_recomputes_every_hash),
    };
    return t_run_group_tests(tests, query_setup, query_teardown);
}
