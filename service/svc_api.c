/*
 * svc_api.c - the v1 handlers' shared parts: results and their single exit, roles, query
 * parameters, JSON bodies, paging tokens, revisions.
 */
#include "svc_api.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cf_codec.h"
#include "cf_json.h"
#include "cf_log.h"
#include "cf_mem.h"
#include "cf_str.h"
#include "db_credentials.h"
#include "svc_bundles.h"
#include "svc_metrics.h"

#define PAGE_TOKEN_MAX 2048

void svc_ok(struct svc_result *res, json_t *body)
{
    json_decref(res->body);
    res->status = 200;
    res->body = body;
}

int svc_fail(struct svc_result *res, enum svc_code code, const char *fmt, ...)
{
    res->status = svc_code_status(code);
    res->code = code;
    res->message[0] = '\0';
    if (fmt != NULL) {
        va_list ap;
        va_start(ap, fmt);
        int n = vsnprintf(res->message, sizeof(res->message), fmt, ap); /* cut is fine */
        va_end(ap);
        if (n < 0)
            res->message[0] = '\0';
    }
    json_decref(res->body);
    res->body = NULL;
    cf_buf_free(&res->raw);
    return CF_EINVAL;
}

int svc_fail_err(struct svc_result *res, int err)
{
    if (err == CF_EINTEGRITY)
        return svc_fail(res, SVC_DECRYPTION_FAILED, NULL);
    return svc_fail(res, svc_code_from_err(err), NULL);
}

void svc_result_revision(struct svc_result *res, int64_t revision)
{
    res->revision = revision;
    res->has_revision = true;
}

static const char *result_of(int status)
{
    if (status < 400)
        return "allowed";
    return status == 401 || status == 403 ? "denied" : "error";
}

int svc_audit_submit(struct svc_ctx *ctx, const struct audit_event *ev, struct audit_receipt *out)
{
    int r = ctx->audit != NULL ? audit_writer_submit(ctx->audit, ev, out)
                               : audit_write(ctx->pool, ev, out);
    if (r == 0)
        svc_metrics_audit_event(ev->result);
    return r;
}

void svc_audit_event(struct svc_req *req, const struct svc_result *res, struct audit_event *ev)
{
    const struct svc_route *rt = req->route;
    const char *rid =
        svc_audit_resource_id(req, res->resource_id[0] != '\0' ? res->resource_id : NULL);

    *ev = (struct audit_event){
        .request_id = req->request_id,
        .actor_type =
            auth_actor_type_name(req->authenticated ? req->who.type : AUTH_ACTOR_ANONYMOUS),
        .actor = req->authenticated ? req->who.actor : req->why.claimed,
        .source_ip = req->client_addr,
        .peer_ip = svc_client_peer_ip(req),
        .action = res->action != NULL ? res->action : svc_route_action(req),
        .resource_type = rt != NULL ? rt->resource_type : NULL,
        .resource_id = rid,
        .revision = res->revision,
        .has_revision = res->has_revision,
        .result = result_of(res->status),
        .reason = res->not_modified && res->status == 304 ? "not_modified"
                  : res->status < 400                     ? "ok"
                                                          : svc_code_name(res->code),
    };
}

/* Writes res's row; with limit, only while the catalog is at most *limit (CF_ESTALE). */
static int audit_now(struct svc_req *req, struct svc_result *res, const int64_t *limit,
                     struct audit_receipt *out)
{
    struct audit_event ev;

    if (res->status == 0)
        (void)svc_fail(res, SVC_INTERNAL_ERROR, NULL); /* a handler that decided nothing */
    svc_audit_event(req, res, &ev);
    if (limit != NULL) {
        ev.catalog_limit = *limit;
        ev.has_catalog_limit = true;
    }
    int r = svc_audit_submit(req->ctx, &ev, out);
    if (r == CF_ESTALE && limit != NULL)
        return CF_ESTALE; /* nothing written: the caller builds again */
    req->audit_tried = true;
    if (r != 0)
        return svc_fail(res, SVC_AUDIT_UNAVAILABLE, NULL); /* fail closed: no body leaves */
    req->audited = true;
    return 0;
}

int svc_audit_now(struct svc_req *req, struct svc_result *res, struct audit_receipt *out)
{
    return audit_now(req, res, NULL, out);
}

int svc_audit_now_if_current(struct svc_req *req, struct svc_result *res, int64_t catalog,
                             struct audit_receipt *out)
{
    return audit_now(req, res, &catalog, out);
}

int svc_finish(struct svc_req *req, struct svc_result *res)
{
    int status;

    if (!req->audited && !req->audit_tried)
        (void)svc_audit_now(req, res, NULL);
    if (res->status == 304) {
        status = svc_reply_not_modified(req);
    } else if (res->status < 400 && res->raw.len > 0) {
        status = svc_reply_text(req, res->status, "application/json", res->raw.data, res->raw.len);
    } else if (res->status < 400) {
        status = svc_reply_json(req, res->status, res->body);
    } else {
        status = svc_reply_error(req, res->code, res->message[0] ? res->message : NULL, res->extra);
    }
    json_decref(res->body);
    json_decref(res->extra);
    res->body = res->extra = NULL;
    cf_buf_free(&res->raw);
    return status;
}

bool svc_is_admin(const struct svc_req *req)
{
    return req->who.role == AUTH_ROLE_ADMIN;
}

static int forbid(struct svc_result *res, const char *ref)
{
    (void)svc_fail(res, SVC_FORBIDDEN, NULL);
    if (ref != NULL)
        res->extra = json_pack("{s:s}", "reference", ref);
    return CF_EDENIED;
}

int svc_require_admin(struct svc_req *req, struct svc_result *res, const char *ref)
{
    return svc_is_admin(req) ? 0 : forbid(res, ref);
}

int svc_require_reader(struct svc_req *req, struct svc_result *res, const char *ref)
{
    bool ok = req->who.role == AUTH_ROLE_ADMIN || req->who.role == AUTH_ROLE_AUDITOR;
    return ok ? 0 : forbid(res, ref);
}

/* Percent-decodes a query component ('+' is a space); a malformed escape stays as it is.
 * *len_out (may be NULL) gets the decoded length, which counts any NUL an escape made. */
static char *query_decode(const char *s, size_t len, size_t *len_out)
{
    char *d = cf_xmalloc(len + 1);
    size_t o = 0;

    for (size_t i = 0; i < len; i++) {
        if (s[i] == '+') {
            d[o++] = ' ';
        } else if (s[i] == '%' && len - i >= 3 && cf_hex_digit(s[i + 1]) >= 0 &&
                   cf_hex_digit(s[i + 2]) >= 0) {
            d[o++] = (char)(cf_hex_digit(s[i + 1]) << 4 | cf_hex_digit(s[i + 2]));
            i += 2;
        } else {
            d[o++] = s[i];
        }
    }
    d[o] = '\0';
    if (len_out != NULL)
        *len_out = o;
    return d;
}

/* True if s[0..len) decodes to valid UTF-8 without U+0000. */
static bool component_valid(const char *s, size_t len)
{
    size_t n;
    char *d = query_decode(s, len, &n);
    bool ok = strlen(d) == n && cf_utf8_valid((const uint8_t *)d, n);
    free(d);
    return ok;
}

bool svc_query_valid(const struct svc_req *req)
{
    const char *q = req->query;

    while (q != NULL && *q != '\0') {
        const char *amp = strchr(q, '&');
        size_t len = amp != NULL ? (size_t)(amp - q) : strlen(q); /* amp >= q */
        if (!component_valid(q, len))
            return false;
        q = amp != NULL ? amp + 1 : NULL;
    }
    return true;
}

char *svc_query(const struct svc_req *req, const char *name)
{
    const char *q = req->query;
    size_t nlen = strlen(name);

    while (q != NULL && *q != '\0') {
        const char *amp = strchr(q, '&');
        size_t len = amp != NULL ? (size_t)(amp - q) : strlen(q); /* amp >= q */
        const char *eq = memchr(q, '=', len);
        size_t klen = eq != NULL ? (size_t)(eq - q) : len;
        char *key = query_decode(q, klen, NULL);
        bool match = strlen(key) == nlen && memcmp(key, name, nlen) == 0;
        free(key);
        if (match)
            return eq != NULL ? query_decode(eq + 1, len - klen - 1, NULL) : cf_xstrdup("");
        q = amp != NULL ? amp + 1 : NULL;
    }
    return NULL;
}

int svc_query_bool(const struct svc_req *req, struct svc_result *res, const char *name, bool def,
                   bool *out)
{
    char *v = svc_query(req, name);
    int r = 0;

    *out = def;
    if (v == NULL)
        return 0;
    if (strcmp(v, "true") == 0 || strcmp(v, "True") == 0 || strcmp(v, "1") == 0) {
        *out = true;
    } else if (strcmp(v, "false") == 0 || strcmp(v, "False") == 0 || strcmp(v, "0") == 0) {
        *out = false;
    } else {
        r = svc_fail(res, SVC_INVALID_PARAMETER, "%s must be true or false", name);
    }
    free(v);
    return r;
}

json_t *svc_page_token(const char *lower_key, const char *id)
{
    json_t *pair = json_pack("[s, s]", lower_key, id);
    struct cf_buf b = { 0 };
    char tok[PAGE_TOKEN_MAX];
    json_t *out = json_null();

    if (pair != NULL && cf_json_dump_buf(pair, JSON_COMPACT, &b) == 0 &&
        cf_b64_encode(CF_B64_URL, (const uint8_t *)b.data, b.len, tok, sizeof(tok)) == 0)
        out = json_string(tok);
    json_decref(pair);
    cf_buf_free(&b);
    return out;
}

/* Decodes a page token into its two keys; false if it is not one of ours. */
static bool page_decode(const char *tok, char **after_lower, char **after_id)
{
    uint8_t raw[PAGE_TOKEN_MAX];
    size_t n = 0;
    bool ok = false;

    if (strlen(tok) >= PAGE_TOKEN_MAX ||
        cf_b64_decode(CF_B64_URL, tok, strlen(tok), raw, sizeof(raw), &n) != 0)
        return false;
    json_t *v = cf_json_parse(raw, n, JSON_REJECT_DUPLICATES, NULL);
    if (json_is_array(v) && json_array_size(v) == 2 && json_is_string(json_array_get(v, 0)) &&
        json_is_string(json_array_get(v, 1))) {
        *after_lower = cf_xstrdup(json_string_value(json_array_get(v, 0)));
        *after_id = cf_xstrdup(json_string_value(json_array_get(v, 1)));
        ok = true;
    }
    json_decref(v);
    return ok;
}

int svc_query_paging(const struct svc_req *req, struct svc_result *res, int64_t *limit,
                     char **after_lower, char **after_id)
{
    char *lim = svc_query(req, "limit");
    char *page = svc_query(req, "page");
    int r = 0;

    *limit = -1;
    *after_lower = *after_id = NULL;
    if (lim != NULL && cf_parse_i64(lim, 1, 1000, limit) != 0) {
        r = svc_fail(res, SVC_INVALID_PARAMETER, "limit must be an integer from 1 to 1000");
    } else if (page != NULL && !page_decode(page, after_lower, after_id)) {
        r = svc_fail(res, SVC_INVALID_PAGE, NULL);
    }
    free(lim);
    free(page);
    return r;
}

/* The values has_nul() has still to visit: it walks the tree with this stack, not by
 * recursion, so a deeply nested body cannot exhaust a worker thread's stack. */
struct json_todo {
    json_t **v;
    size_t n, cap;
};

static void todo_push(struct json_todo *t, json_t *v)
{
    if (t->n == t->cap) {
        /* at most one entry per value of a body of at most 1 MiB (max_body): cannot wrap */
        t->cap = t->cap == 0 ? 16 : t->cap * 2;
        t->v = cf_xrealloc(t->v, t->cap * sizeof(json_t *));
    }
    t->v[t->n++] = v;
}

/* Pushes the members of an object or the elements of an array; other values have none. */
static void todo_push_children(struct json_todo *t, json_t *v)
{
    const char *key;
    json_t *child;
    size_t i;

    if (json_is_object(v)) {
        json_object_foreach(v, key, child)
        {
            todo_push(t, child);
        }
    } else if (json_is_array(v)) {
        json_array_foreach(v, i, child)
        {
            todo_push(t, child);
        }
    }
}

/* True if a JSON value holds U+0000 in any string (the parser refuses it in member names). */
static bool has_nul(json_t *root)
{
    struct json_todo todo = { 0 };
    bool found = false;

    todo_push(&todo, root);
    while (todo.n > 0 && !found) {
        json_t *v = todo.v[--todo.n];
        if (json_is_string(v)) {
            found = strlen(json_string_value(v)) != json_string_length(v);
        } else {
            todo_push_children(&todo, v);
        }
    }
    free(todo.v); /* pointers into the tree, not values: nothing to wipe */
    return found;
}

int svc_body_json(struct svc_req *req, struct svc_result *res, json_t **out)
{
    struct cf_secret body;
    int r;

    *out = NULL;
    if ((r = svc_read_body(req, &body)) != 0) {
        if (r == CF_ETOOBIG)
            return svc_fail(res, SVC_BODY_TOO_LARGE, NULL);
        if (r == CF_EINVAL)
            return svc_fail(res, SVC_UNSUPPORTED_MEDIA_TYPE, NULL);
        if (r == CF_ETIMEOUT)
            return svc_fail(res, SVC_REQUEST_TIMEOUT, NULL);
        return svc_fail(res, SVC_INVALID_REQUEST, "the request body could not be read");
    }
    if (body.len == 0) {
        cf_secret_free(&body);
        return 0;
    }
    /* JSON_ALLOW_NUL: a U+0000 is reported as invalid_request below, not invalid_json */
    enum cf_json_error why;
    json_t *v = cf_json_parse(body.data, body.len,
                              JSON_REJECT_DUPLICATES | JSON_ALLOW_NUL | JSON_DECODE_ANY, &why);
    cf_secret_free(&body);
    if (why == CF_JSON_NUL_IN_KEY)
        return svc_fail(res, SVC_INVALID_REQUEST, "U+0000 is refused in member names");
    if (why == CF_JSON_TOO_DEEP) {
        return svc_fail(res, SVC_INVALID_JSON,
                        "the request body nests arrays and objects deeper "
                        "than %d levels",
                        CF_JSON_MAX_DEPTH);
    }
    if (v == NULL)
        return svc_fail(res, SVC_INVALID_JSON, NULL);
    if (!json_is_object(v) || has_nul(v)) {
        json_decref(v);
        return svc_fail(res, SVC_INVALID_REQUEST,
                        "the body must be a JSON object without U+0000 in its strings");
    }
    *out = v;
    return 0;
}

int svc_parse_revision(const char *s, struct svc_result *res, int64_t *out)
{
    if (cf_parse_i64(s, 1, INT32_MAX, out) != 0)
        return svc_fail(res, SVC_INVALID_REVISION, NULL);
    return 0;
}

int svc_expected_revision(const struct svc_req *req, const json_t *body, struct svc_result *res,
                          int64_t *out)
{
    *out = -1;
    if (body != NULL) {
        const json_t *v = json_object_get(body, "expected_revision");
        if (v == NULL)
            return 0;
        if (!json_is_integer(v) || json_integer_value(v) < 0) {
            return svc_fail(res, SVC_INVALID_REQUEST,
                            "expected_revision must be a non-negative integer");
        }
        *out = json_integer_value(v);
        return 0;
    }
    char *q = svc_query(req, "expected_revision");
    int r = 0;
    if (q != NULL && cf_parse_i64(q, 0, INT32_MAX, out) != 0)
        r = svc_fail(res, SVC_INVALID_PARAMETER, "expected_revision must be an integer");
    free(q);
    return r;
}

int svc_fail_stale(struct svc_result *res, int64_t current)
{
    (void)svc_fail(res, SVC_REVISION_CONFLICT, NULL);
    res->extra = json_pack("{s:I}", "current_revision", (json_int_t)current);
    return CF_ECONFLICT;
}

int svc_conn(struct svc_req *req, struct svc_result *res, struct db_conn **c)
{
    int r = db_acquire(req->ctx->pool, c);
    if (r != 0)
        return svc_fail_err(res, r);
    return 0;
}

int svc_tx_begin(struct svc_req *req, struct svc_result *res, struct db_conn **c)
{
    int r;

    if ((r = svc_conn(req, res, c)) != 0)
        return r;
    if ((r = db_tx_begin(*c)) != 0 || (r = db_write_lock(*c)) != 0) {
        db_release(req->ctx->pool, *c); /* a connection left in a transaction is dropped */
        *c = NULL;
        return svc_fail_err(res, r);
    }
    return 0;
}

void svc_tx_end(struct svc_req *req, struct svc_result *res, struct db_conn *c, const char *kind,
                const char *id)
{
    struct audit_event ev;
    int r = res->status > 0 && res->status < 400 ? 0 : CF_EINVAL;

    if (c == NULL)
        return;
    if (r == 0) {
        svc_audit_event(req, res, &ev);
        if ((r = audit_append(c, &ev, NULL)) != 0)
            (void)svc_fail(res, SVC_AUDIT_UNAVAILABLE, NULL); /* no row, no change */
    }
    if (r == 0 && (r = db_notify_change(c, kind, id)) != 0)
        (void)svc_fail_err(res, r);
    int cr = db_tx_end(c, r);
    if (r == 0 && cr != 0) {
        (void)svc_fail_err(res, cr);
    } else if (r == 0) {
        req->audited = true; /* the row committed with the change */
        svc_metrics_audit_event(ev.result);
    }
    db_release(req->ctx->pool, c);
    if (r == 0 && cr == 0) {
        /* this node drops what changed at once; the others when the notification arrives */
        char payload[300];
        if (cf_fmt(payload, sizeof(payload), "%s:%s", kind, id) == 0)
            auth_forget(req->ctx->auth, payload);
        if (strcmp(kind, "credential") == 0 || strcmp(kind, "service") == 0)
            svc_bundles_clear(req->ctx->bundles);
    }
}
