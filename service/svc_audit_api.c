/*
 * svc_audit_api.c - the auditors' interface (API.md 8.2): GET /v1/audit/events (filters,
 * keyset paging with an opaque cursor) and GET /v1/audit/verify (the chain walk).
 */
#include <stdlib.h>
#include <string.h>

#include "audit_verify.h"
#include "cf_codec.h"
#include "cf_crypto.h"
#include "cf_json.h"
#include "cf_mem.h"
#include "cf_str.h"
#include "cf_time.h"
#include "db_audit.h"
#include "svc_api.h"

#define EVENTS_DEFAULT_LIMIT 100
#define CURSOR_MAX           512

/* The query parameters of /v1/audit/events, decoded (owned strings). */
struct events_query {
    char *p[10]; /* since, until, actor, actor_type, action, resource_type, resource_id,
                    result, request_id, order */
    char *cursor;
    json_t *actions;
};

static const char *const names[10] = { "since",      "until",         "actor",       "actor_type",
                                       "action",     "resource_type", "resource_id", "result",
                                       "request_id", "order" };

static void query_free(struct events_query *q)
{
    for (size_t i = 0; i < 10; i++)
        free(q->p[i]);
    free(q->cursor);
    json_decref(q->actions);
}

/* The first 16 hex of a SHA-256 over the filters: a cursor is valid for these only. */
static int filter_hash(const struct events_query *q, char out[17])
{
    struct cf_buf b = { 0 };
    char hex[CF_SHA256_HEX_LEN + 1];
    for (size_t i = 0; i < 9; i++) {
        cf_buf_append_str(&b, q->p[i] != NULL ? q->p[i] : "");
        cf_buf_append_char(&b, '\n');
    }
    int r = cf_sha256_hex(b.data, b.len, hex);
    cf_buf_free(&b);
    if (r == 0)
        r = cf_fmt(out, 17, "%.16s", hex);
    return r;
}

static bool one_of(const char *v, const char *const *set)
{
    for (; *set != NULL; set++) {
        if (strcmp(v, *set) == 0)
            return true;
    }
    return false;
}

/* Checks the filters' shapes. */
static int check_filters(struct events_query *q, struct svc_result *res)
{
    static const char *const types[] = { "service", "user", "token", "system", "anonymous", NULL };
    static const char *const results[] = { "allowed", "denied", "error", NULL };
    static const char *const orders[] = { "asc", "desc", NULL };
    int64_t t;

    for (size_t i = 0; i < 2; i++) {
        if (q->p[i] != NULL && cf_time_parse_rfc3339(q->p[i], &t) != 0) {
            return svc_fail(res, SVC_INVALID_PARAMETER, "%s must be an RFC 3339 date-time",
                            names[i]);
        }
    }
    if ((q->p[3] != NULL && !one_of(q->p[3], types)) ||
        (q->p[7] != NULL && !one_of(q->p[7], results)) ||
        (q->p[9] != NULL && !one_of(q->p[9], orders)))
        return svc_fail(res, SVC_INVALID_PARAMETER, "actor_type, result or order is unknown");
    if (q->p[4] != NULL) {
        q->actions = json_array();
        for (const char *s = q->p[4]; s != NULL; s = strchr(s, ',') ? strchr(s, ',') + 1 : NULL) {
            size_t n = strcspn(s, ",");
            if (n == 0 || strspn(s, "abcdefghijklmnopqrstuvwxyz_.") < n) {
                return svc_fail(res, SVC_INVALID_PARAMETER,
                                "action is a comma-separated list of action names");
            }
            json_array_append_new(q->actions, json_stringn(s, n));
        }
    }
    return 0;
}

static json_t *make_cursor(int64_t id, bool asc, const char *fhash)
{
    json_t *c =
        json_pack("{s:I, s:s, s:s}", "id", (json_int_t)id, "o", asc ? "asc" : "desc", "f", fhash);
    struct cf_buf b = { 0 };
    char tok[CURSOR_MAX];
    json_t *out = json_null();

    if (c != NULL && cf_json_dump_buf(c, JSON_COMPACT, &b) == 0 &&
        cf_b64_encode(CF_B64_URL, (const uint8_t *)b.data, b.len, tok, sizeof(tok)) == 0)
        out = json_string(tok);
    json_decref(c);
    cf_buf_free(&b);
    return out;
}

/* The id a cursor resumes after; invalid_cursor unless it was made for this order and
 * these filters. */
static int read_cursor(const char *tok, bool asc, const char *fhash, struct svc_result *res,
                       int64_t *after)
{
    uint8_t raw[CURSOR_MAX];
    size_t n = 0;
    json_t *c = NULL;

    if (strlen(tok) < CURSOR_MAX &&
        cf_b64_decode(CF_B64_URL, tok, strlen(tok), raw, sizeof(raw), &n) == 0)
        c = cf_json_parse(raw, n, JSON_REJECT_DUPLICATES, NULL);
    const json_t *id = json_object_get(c, "id");
    const char *o = cf_json_str(c, "o"), *f = cf_json_str(c, "f");
    bool ok = json_is_integer(id) && json_integer_value(id) > 0 && o != NULL && f != NULL &&
              strcmp(o, asc ? "asc" : "desc") == 0 && strcmp(f, fhash) == 0;
    if (ok)
        *after = json_integer_value(id);
    json_decref(c);
    return ok ? 0 : svc_fail(res, SVC_INVALID_CURSOR, NULL);
}

static int parse_events_query(struct svc_req *req, struct svc_result *res, struct events_query *q,
                              struct db_audit_filter *f, char fhash[17])
{
    char *lim = svc_query(req, "limit");
    int r = 0;

    for (size_t i = 0; i < 10; i++)
        q->p[i] = svc_query(req, names[i]);
    q->cursor = svc_query(req, "cursor");
    *f = (struct db_audit_filter){ .limit = EVENTS_DEFAULT_LIMIT };
    if (lim != NULL && cf_parse_i64(lim, 1, 1000, &f->limit) != 0)
        r = svc_fail(res, SVC_INVALID_PARAMETER, "limit must be an integer from 1 to 1000");
    free(lim);
    if (r != 0 || (r = check_filters(q, res)) != 0 || (r = filter_hash(q, fhash)) != 0)
        return r != 0 ? r : CF_EINVAL;
    f->ascending = q->p[9] != NULL && strcmp(q->p[9], "asc") == 0;
    if (q->cursor != NULL &&
        (r = read_cursor(q->cursor, f->ascending, fhash, res, &f->after_id)) != 0)
        return r;
    f->since = q->p[0];
    f->until = q->p[1];
    f->actor = q->p[2];
    f->actor_type = q->p[3];
    f->resource_type = q->p[5];
    f->resource_id = q->p[6];
    f->result = q->p[7];
    f->request_id = q->p[8];
    return 0;
}

/* GET /v1/audit/events: the page's rows go from the database's JSON into the answer as they
 * are, with no parse and no rebuild. */
int svc_h_audit_events(struct svc_req *req)
{
    struct svc_result res = { 0 };
    struct events_query q = { 0 };
    struct db_audit_filter f;
    struct db_audit_page page = { 0 };
    struct db_conn *c = NULL;
    json_t *next = NULL;
    char fhash[17], *actions = NULL, *next_text = NULL;
    int r;

    if (svc_require_reader(req, &res, NULL) != 0 ||
        parse_events_query(req, &res, &q, &f, fhash) != 0 || svc_conn(req, &res, &c) != 0)
        goto out;
    if (q.actions != NULL)
        f.actions_json = actions = json_dumps(q.actions, JSON_COMPACT);
    if ((r = db_audit_query(c, &f, &page)) != 0) {
        (void)svc_fail_err(&res, r);
        goto out;
    }
    next = page.more ? make_cursor(page.last_id, f.ascending, fhash) : json_null();
    next_text = json_dumps(next, JSON_COMPACT | JSON_ENCODE_ANY);
    if (next_text == NULL) {
        (void)svc_fail(&res, SVC_INTERNAL_ERROR, NULL);
        goto out;
    }
    res.status = 200;
    cf_buf_append_str(&res.raw, "{\"events\":");
    cf_buf_append(&res.raw, page.events, page.events_len);
    cf_buf_append_str(&res.raw, ",\"next_cursor\":");
    cf_buf_append_str(&res.raw, next_text);
    cf_buf_append_str(&res.raw, "}");
out:
    db_release(req->ctx->pool, c);
    db_audit_page_free(&page);
    json_decref(next);
    cf_json_free_str(next_text);
    cf_json_free_str(actions);
    query_free(&q);
    return svc_finish(req, &res);
}

/* GET /v1/audit/verify */
int svc_h_audit_verify(struct svc_req *req)
{
    struct svc_result res = { 0 };
    struct audit_verify_result v;
    struct db_conn *c = NULL;
    char *from = svc_query(req, "from_id"), *to = svc_query(req, "to_id");
    int64_t from_id = 1, to_id = 0;
    int r;

    if (svc_require_reader(req, &res, NULL) != 0)
        goto out;
    if ((from != NULL && cf_parse_i64(from, 1, INT64_MAX, &from_id) != 0) ||
        (to != NULL && cf_parse_i64(to, 1, INT64_MAX, &to_id) != 0)) {
        (void)svc_fail(&res, SVC_INVALID_PARAMETER, "from_id and to_id are positive integers");
        goto out;
    }
    if (svc_conn(req, &res, &c) != 0)
        goto out;
    if ((r = audit_verify(c, from_id, to_id, &v)) == CF_EINVAL) {
        (void)svc_fail(&res, SVC_INVALID_PARAMETER, "the range is empty or past the head");
    } else if (r != 0) {
        (void)svc_fail_err(&res, r);
    } else if (v.ok) {
        svc_ok(&res, json_pack("{s:b, s:I, s:I, s:I, s:I, s:s}", "ok", 1, "from_id",
                               (json_int_t)v.from_id, "to_id", (json_int_t)v.to_id, "checked",
                               (json_int_t)v.checked, "head_id", (json_int_t)v.head_id, "head_hash",
                               v.head_hash));
    } else {
        svc_ok(&res, json_pack("{s:b, s:I, s:I, s:s}", "ok", 0, "checked", (json_int_t)v.checked,
                               "first_bad_id", (json_int_t)v.first_bad_id, "problem", v.problem));
    }
out:
    db_release(req->ctx->pool, c);
    free(from);
    free(to);
    return svc_finish(req, &res);
}
