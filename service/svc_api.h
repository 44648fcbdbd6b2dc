/*
 * svc_api.h - what the v1 API handlers share: a handler's result and its one exit (audit,
 * then answer), role checks, query parameters, JSON bodies, paging tokens, revisions.
 */
#ifndef SVC_API_H
#define SVC_API_H

#include <stdbool.h>
#include <stdint.h>

#include <jansson.h>

#include "audit.h"
#include "svc.h"

/* What a handler decided. Zero-initialise; svc_ok()/svc_fail() fill it; svc_finish() audits
 * it (unless the write already audited it in its own transaction) and answers. */
struct svc_result {
    int status;
    enum svc_code code;    /* when status >= 400 */
    char message[256];     /* "" = the code's default text */
    json_t *extra;         /* extra members of an error body (owned) */
    json_t *body;          /* the answer of a success (owned) */
    struct cf_buf raw;     /* or a success's serialised JSON body (owned, cleansed) */
    const char *action;    /* NULL = the route's action */
    char resource_id[256]; /* "" = the route's path segment */
    int64_t revision;
    bool has_revision;
    bool not_modified; /* a 304: no body; audited allowed with reason not_modified */
};

/* Success with body (owned by the result). */
void svc_ok(struct svc_result *res, json_t *body);

/* Failure with code; fmt (may be NULL) makes the message (never a secret). Returns
 * CF_EINVAL, a non-zero value, so that helpers can `return svc_fail(...)`. */
int svc_fail(struct svc_result *res, enum svc_code code, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

/* Failure for a cf_err from a lower layer (CF_EUNAVAIL -> 503 database_unavailable, ...). */
int svc_fail_err(struct svc_result *res, int err);

/* Sets the revision recorded in the access-log row. */
void svc_result_revision(struct svc_result *res, int64_t revision);

/* Audits (allowed for 2xx/304, denied for 401/403, error otherwise; reason "ok" or the code)
 * and answers: the body, the error, or 503 audit_unavailable if the row cannot be written.
 * Frees what res owns. Returns the status sent. */
int svc_finish(struct svc_req *req, struct svc_result *res);

/* Writes one access-log row through the group-commit writer (or, without one, in a
 * transaction of its own) and waits for its commit. 0 and *out (may be NULL), or an error:
 * fail closed. */
CF_MUST_CHECK int svc_audit_submit(struct svc_ctx *ctx, const struct audit_event *ev,
                                   struct audit_receipt *out);

/* The audit half of svc_finish(), for a handler that must know its row's catalog version
 * before it answers (the bundle cache): writes res's row now. 0 and *out; else res fails
 * with 503 audit_unavailable (svc_finish() then answers that and writes no second row). */
int svc_audit_now(struct svc_req *req, struct svc_result *res, struct audit_receipt *out);

/* svc_audit_now() for an answer built from catalog version catalog: the row is written only
 * if no later catalog write has committed. CF_ESTALE, with out->catalog the newer version,
 * nothing written and res untouched, if one has: build the answer again and call this again
 * (every row then describes the answer its request got). Otherwise as svc_audit_now(). */
int svc_audit_now_if_current(struct svc_req *req, struct svc_result *res, int64_t catalog,
                             struct audit_receipt *out);

/* Fills ev for res, for writes that append the row inside their own transaction. The strings
 * point into req and res. After the commit, set req->audited. */
void svc_audit_event(struct svc_req *req, const struct svc_result *res, struct audit_event *ev);

/* Role checks: 0, or a 403 forbidden in res (with reference = ref when not NULL). */
int svc_require_admin(struct svc_req *req, struct svc_result *res, const char *ref);
int svc_require_reader(struct svc_req *req, struct svc_result *res, const char *ref);
bool svc_is_admin(const struct svc_req *req);

/* True if every component of the query decodes to valid UTF-8 without U+0000: the dispatcher
 * refuses any other query (400 invalid_parameter) before a handler reads it, so no decoded
 * value can reach the database as text it refuses. */
bool svc_query_valid(const struct svc_req *req);

/* The first value of query parameter name, percent-decoded ('+' is a space), in a new
 * string (free it); NULL when absent. */
char *svc_query(const struct svc_req *req, const char *name);

/* Boolean query parameter (true/True/1, false/False/0); absent gives def. */
CF_MUST_CHECK int svc_query_bool(const struct svc_req *req, struct svc_result *res,
                                 const char *name, bool def, bool *out);

/* `limit` (1..1000; absent = -1, no paging) and `page` (an opaque token of a previous
 * next_page, decoded into its two keys; absent = NULL). */
CF_MUST_CHECK int svc_query_paging(const struct svc_req *req, struct svc_result *res,
                                   int64_t *limit, char **after_lower, char **after_id);

/* The next_page token after the last item of a page (lower key and id). */
json_t *svc_page_token(const char *lower_key, const char *id);

/* Reads and parses the request body into *out: NULL for an empty body, else a JSON object.
 * Refusals go into res: 413, 415, invalid_json (malformed, duplicate members),
 * invalid_request (not an object, or a string holding U+0000). */
CF_MUST_CHECK int svc_body_json(struct svc_req *req, struct svc_result *res, json_t **out);

/* A revision from a path segment: a positive decimal that fits 32 bits, else 400
 * invalid_revision. */
CF_MUST_CHECK int svc_parse_revision(const char *s, struct svc_result *res, int64_t *out);

/* `expected_revision` from the body (integer) or, when body is NULL, the query; absent = -1.
 * A wrong type is 400 invalid_request. */
CF_MUST_CHECK int svc_expected_revision(const struct svc_req *req, const json_t *body,
                                        struct svc_result *res, int64_t *out);

/* A connection from the pool, for reads: 0, or 503 in res. */
CF_MUST_CHECK int svc_conn(struct svc_req *req, struct svc_result *res, struct db_conn **c);

/* A connection inside a transaction, for writes: 0, or 503 in res. */
CF_MUST_CHECK int svc_tx_begin(struct svc_req *req, struct svc_result *res, struct db_conn **c);

/* Ends a write. When res holds a success: appends its access-log row, notifies
 * "<kind>:<id>" and commits, then marks the request audited; if any step fails, everything
 * is rolled back and res becomes 503. When res holds a failure: rolls back. Releases c. */
void svc_tx_end(struct svc_req *req, struct svc_result *res, struct db_conn *c, const char *kind,
                const char *id);

/* 409 revision_conflict with current_revision. */
int svc_fail_stale(struct svc_result *res, int64_t current);

#endif
