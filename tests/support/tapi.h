/*
 * tapi.h - what the HTTP tests of the credentials and services API share: one fixture (a fresh
 * database, an admin and an auditor token, one cofferd), JSON requests and answers, the access
 * log row of a request, a fingerprint of the stored state ("nothing changed"), and LISTEN.
 *
 * Every helper fails the running cmocka test on error, like tsupport's.
 */
#ifndef TAPI_H
#define TAPI_H

#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>
#include <jansson.h>

#include "tsupport.h"

#define TAPI_ID_LEN 33 /* a credential id and its NUL */

/* Every member of a credential (API.md 3.1) and of a service (3.2), exactly. */
#define TAPI_CRED_MEMBERS                                                                          \
    "id,name,revision,enabled,documentation,metadata,credential_keys,credential_pairs,tags,"       \
    "last_rotation_date,next_rotation_date,modified_date,modified_by,permissions"
#define TAPI_SVC_MEMBERS                                                                           \
    "id,account,enabled,revision,modified_date,modified_by,credentials,blind_credentials,"         \
    "permissions"

/* The access log's actors of the fixture's tokens, and the results of a refused request. */
#define TAPI_ADMIN_ACTOR   "token:admin-1"
#define TAPI_AUDITOR_ACTOR "token:auditor-1"
#define TAPI_REFUSED       "denied|error"

/* The fixture of one test binary. The tokens are named admin-1 and auditor-1, so the access
 * log's actors are "token:admin-1" and "token:auditor-1". */
struct tapi {
    struct t_db db;
    struct t_cofferd d;
    char admin_token[64];
    char auditor_token[64];
    char admin[96];   /* "Authorization: Bearer <admin token>" */
    char auditor[96]; /* the same for the auditor */
};

/* cmocka group setup and teardown: *state becomes a struct tapi. */
int tapi_setup(void **state);

/* tapi_setup() with cofferd started with the extra environment env (NULL-terminated). */
int tapi_setup_env(void **state, char *const env[]);
int tapi_teardown(void **state);

/* What tapi_setup_env() does, into *f: a database, the admin and auditor tokens, cofferd. */
void tapi_start(struct tapi *f, char *const env[]);

/* Stops cofferd and drops the database; returns cofferd's exit status (0: it drained). */
int tapi_stop(struct tapi *f);

/* A name nobody else uses: prefix followed by 8 random lowercase hex digits. */
void tapi_name(char *out, size_t cap, const char *prefix);

/* A string of n copies of c (free() it). */
char *tapi_rep(char c, size_t n);

/* A formatted string of any length (free() it). */
char *tapi_printf(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

/* Sends method to the path fmt formats, with the header auth (may be NULL) and body (may be
 * NULL; if not, with Content-Type: application/json). Free r with t_resp_free(). */
void tapi_send(const struct tapi *f, const char *auth, const char *method, const char *body,
               struct t_resp *r, const char *fmt, ...) __attribute__((format(printf, 6, 7)));

/* Like tapi_send() with the full header list (NULL-terminated) given by the caller. */
void tapi_send_h(const struct tapi *f, const char *const *headers, const char *method,
                 const char *body, struct t_resp *r, const char *fmt, ...)
    __attribute__((format(printf, 6, 7)));

/* A revert as the official client sends it: PUT, no body, Content-Type: application/json,
 * Accept: text/plain, Content-Length: 0. */
void tapi_revert(const struct tapi *f, const char *auth, struct t_resp *r, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));

/* The body as JSON (fails the test if it is not). json_decref() the result. */
json_t *tapi_json(const struct t_resp *r);

/* Asserts a 200 JSON answer with the /v1/ headers and returns its body (json_decref it). */
json_t *tapi_ok(const struct t_resp *r);

/* Asserts an error answer (API.md 1.3): status, code (one of "a|b" alternatives), error text,
 * request_id equal to the X-Request-Id header, the /v1/ headers, and for a 403 no member named
 * "result". Returns the body (json_decref it). */
json_t *tapi_error(const struct t_resp *r, long status, const char *codes);

/* The checks of tapi_error() without failing: NULL if all hold, else what is wrong (free() it). */
char *tapi_error_diff(const struct t_resp *r, long status, const char *codes);

/* tapi_error() without the body. */
void tapi_check_error(const struct t_resp *r, long status, const char *codes);

/* Member access that fails the test on a wrong type. */
const char *tapi_str(const json_t *obj, const char *key);
json_int_t tapi_int(const json_t *obj, const char *key);
bool tapi_bool(const json_t *obj, const char *key);

/* Asserts json_equal(actual, parse(expected)), printing both when they differ. */
void tapi_assert_json(const json_t *actual, const char *expected);

/* Asserts that obj is an object whose member names are exactly the comma-separated list. */
void tapi_assert_members(const json_t *obj, const char *csv);

/* Asserts the §1.2 timestamp format: YYYY-MM-DDTHH:MM:SS.ffffff+00:00. */
void tapi_assert_timestamp(const char *s);

/* Fails the test if hay contains needle (what names the haystack in the message). */
void tapi_assert_absent(const char *hay, const char *needle, const char *what);

/* Fails the test if hay contains the secret in clear, as lowercase or uppercase hex, or as
 * standard or URL-safe base64 at any of the three byte alignments. */
void tapi_assert_no_secret(const char *hay, const char *secret, const char *what);

/* The first value of the first row of sql run as the superuser, or "" (malloc'd: free it).
 * Unlike t_sql(), the value may be of any size. */
char *tapi_sql(const struct tapi *f, const char *sql);

/* The count(*) of sql (a complete SELECT count(*) statement). */
long tapi_count(const struct tapi *f, const char *sql);

/* A fingerprint of everything credentials and services store (all rows of credentials,
 * credential_revisions, services, service_revisions, service_credentials), to assert that a
 * refused request changed nothing. free() it. */
char *tapi_state(const struct tapi *f);

/* NULL if the state equals before (from tapi_state()), else what changed; frees before. */
char *tapi_unchanged_diff(const struct tapi *f, char *before);

/* Asserts that the state equals before (from tapi_state()), then frees before. */
void tapi_assert_unchanged(const struct tapi *f, char *before);

/* The access-log rows of a request, by its X-Request-Id: asserts there is exactly one, and
 * that each field matches. Strings: NULL = not checked, "<null>" = SQL NULL, "a|b" = either.
 * revision: TAPI_ANY = not checked, TAPI_NULL = SQL NULL. actor_type must be "token". */
#define TAPI_ANY  (-2)
#define TAPI_NULL (-1)
void tapi_audit(const struct tapi *f, const struct t_resp *r, const char *actor, const char *action,
                const char *resource_type, const char *resource_id, long revision,
                const char *result, const char *reason);

/* One column of a request's access-log row and what it must hold: name labels it in the diff,
 * column is the SQL expression read (NULL prints as text, see TAPI_AUDIT_SEALED), value is
 * '|'-separated alternatives or NULL for "not checked". */
struct tapi_audit_want {
    const char *name;
    const char *column;
    const char *value;
};

/* "t" when the row has a time and well-formed hash and prev_hash. */
#define TAPI_AUDIT_SEALED                                                                          \
    "(time IS NOT NULL AND hash ~ '^[0-9a-f]{64}$' AND prev_hash ~ '^[0-9a-f]{64}$')"

/* Reads the one access-log row of the request that r answered: NULL if there is exactly one and
 * every column holds its value, else what differs (free() it). */
char *tapi_audit_row_diff(const struct tapi *f, const struct t_resp *r,
                          const struct tapi_audit_want *want, size_t n);

/* True if actual is one of the '|'-separated alternatives. */
bool tapi_one_of(const char *alternatives, const char *actual);

/* The checks of tapi_audit() without failing: NULL if all hold, else what differs (free() it). */
char *tapi_audit_diff(const struct tapi *f, const struct t_resp *r, const char *actor,
                      const char *action, const char *resource_type, const char *resource_id,
                      long revision, const char *result, const char *reason);

/* Collects the problems of table-driven cases so that one run reports every case that fails:
 * adds "label: problem" to list and frees problem (a no-op when problem is NULL). */
void tapi_collect(struct cf_buf *list, const char *label, char *problem);

/* Fails the test listing every collected problem, if any; frees list first, so that a failure
 * leaks nothing (LeakSanitizer then reports only the failure). */
void tapi_collect_end(struct cf_buf *list);

/* Creates a credential as the admin from a full POST body; asserts 200 and copies the new id
 * into id. Returns the answer (json_decref it). */
json_t *tapi_cred_post(const struct tapi *f, const char *body, char id[TAPI_ID_LEN]);

/* Creates a credential named name with the pairs (a JSON object text); copies the id. */
void tapi_cred_new(const struct tapi *f, const char *name, const char *pairs, char id[TAPI_ID_LEN]);

/* The pairs of a credential as the admin reads them now (json_decref it). */
json_t *tapi_cred_pairs(const struct tapi *f, const char *id);

/* PUTs body to /v1/credentials/<id> as the admin and asserts 200. */
void tapi_cred_put(const struct tapi *f, const char *id, const char *body);

/* PUTs body to /v1/services/<id> as the admin and asserts 200. */
void tapi_svc_put(const struct tapi *f, const char *sid, const char *body);

/* Maps the credential ids (NULL-terminated) to a new or existing service with the body the
 * official client sends, as the admin; asserts 200. */
void tapi_svc_map(const struct tapi *f, const char *sid, const char *const *ids);

/* The current revision column of a credential or service (-1 if absent). */
long tapi_cred_revision(const struct tapi *f, const char *id);
long tapi_svc_revision(const struct tapi *f, const char *sid);

/* The ETag that API.md 8.3 defines for service sid's bundle (full or metadata form, with the
 * caller's permissions text perms), computed here from the database's rows. */
void tapi_bundle_etag(const struct tapi *f, const char *sid, bool full, const char *perms,
                      char out[64]);

/* The string ids of a list's items, in order, each followed by a comma (free() it). */
char *tapi_ids_of(const json_t *items);

/* Percent-encodes in (everything but RFC 3986's unreserved characters) onto out. */
void tapi_url_encode(const char *in, struct cf_buf *out);

/* A paged list: GET path (with its query, if any) plus limit, as auth; each page holds the
 * array member and the member next, which names the following page (passed back as the query
 * parameter param) or is null on the last. exact: the page holds those two members only. */
struct tapi_pager {
    const char *auth;
    const char *path;
    const char *member;
    const char *next;
    const char *param;
    int limit;
    bool exact;
};

/* Collects every item of a paged list into a new array (json_decref it). Asserts each page is
 * 200, holds at most limit items, and that only the last may be empty. *pages_out = the pages
 * read (may be NULL). */
json_t *tapi_page_all(const struct tapi *f, const struct tapi_pager *pg, size_t *pages_out);

/* Asserts that the list at path refuses bad limits (400 invalid_parameter) and bad page
 * tokens (400 invalid_page; invalid_parameter for one that is not UTF-8), as the admin. */
void tapi_check_paging_refusals(const struct tapi *f, const char *path);

/* tapi_page_all() as the admin, following next_page; member is "credentials" or "services". */
json_t *tapi_list_all(const struct tapi *f, const char *path, const char *member, int limit);

/* One request of tapi_concurrent(): filled in by the caller (method, path, body), answered
 * in status (-1 if no answer came) and resp (free with cf_buf_free()). */
struct tapi_call {
    const char *method;
    char path[256];
    const char *body;
    long status;
    struct cf_buf resp;
};

/* Sends every call as the admin at once, one thread each, all released together, and waits
 * for every answer. Safe to assert on the results afterwards (no cmocka call in the threads). */
void tapi_concurrent(const struct tapi *f, struct tapi_call *calls, size_t n);

/* Sends one call as the admin on a thread of its own and returns at once. tapi_call_done()
 * tells whether its answer has come; tapi_call_wait() waits for it and frees a. */
struct tapi_async;
struct tapi_async *tapi_call_start(const struct tapi *f, struct tapi_call *call);
bool tapi_call_done(const struct tapi_async *a);
void tapi_call_wait(struct tapi_async *a);

/* A libpq connection that LISTENs on coffer_changes in the test database. */
struct tapi_listener;
struct tapi_listener *tapi_listen(const struct tapi *f);

/* Waits (up to seconds) until at least n notifications with exactly this payload have arrived
 * since tapi_listen(); returns how many have (fewer than n if they did not come in time). */
int tapi_notified(struct tapi_listener *l, const char *payload, int n, int seconds);

/* How many notifications with this payload have arrived so far, without waiting. */
int tapi_notified_now(struct tapi_listener *l, const char *payload);

void tapi_unlisten(struct tapi_listener *l);

#endif
