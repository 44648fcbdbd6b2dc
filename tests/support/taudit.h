/*
 * taudit.h - what the access-log tests share (issue 7): a cofferd with service kmsauth on (local
 * KMS backend, so the `coffer` CLI makes service tokens), the access-log row of one request read
 * back through the auditors' API, the hash chain recomputed in the test from API.md 8.2's
 * canonical form (trusting nothing the server computed), both verifiers (GET /v1/audit/verify
 * and `cofferd audit verify`), tampering as the database superuser, and /metrics values.
 *
 * Every helper fails the running cmocka test on error, like tsupport's and tapi's; the ones
 * named *_diff return what is wrong instead (NULL if nothing), so table-driven tests can
 * collect every failing case with tapi_collect().
 */
#ifndef TAUDIT_H
#define TAUDIT_H

#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>
#include <jansson.h>

#include "tapi.h"
#include "tsupport.h"

#define TAUDIT_HASH_HEX 65 /* 64 lowercase hex and the NUL */
#define TAUDIT_ZEROS    "0000000000000000000000000000000000000000000000000000000000000000"

/* Every member of an event of GET /v1/audit/events (API.md 8.2), exactly; actor_proven (not
 * hashed) is false for the rows of failed authentication, whose actor was only claimed. */
#define TAUDIT_EVENT_MEMBERS                                                                       \
    "id,time,request_id,actor_type,actor,source_ip,peer_ip,action,resource_type,resource_id,"      \
    "revision,result,reason,prev_hash,hash,actor_proven"

/* The kmsauth server name (COFFER_AUTH_CONTEXT) of the fixture's cofferd. */
#define TAUDIT_CONTEXT "coffer-audit-test"

/* One cofferd on a fresh database, with an admin and an auditor token (tapi's fixture, so every
 * tapi_* helper works on &f->api) and service kmsauth on with the local key file key_file. */
struct taudit {
    struct tapi api;
    char key_file[256];
    char env_keys[300]; /* COFFER_LOCAL_KEY_FILE=key_file */
};

/* Creates the database and tokens and starts cofferd with the extra environment entries
 * ("NAME=value", NULL-terminated, may be NULL) on top of the kmsauth settings. */
void taudit_init(struct taudit *f, char *const extra_env[]);

/* Stops cofferd and drops the database; returns cofferd's exit status (0 when it drained). */
int taudit_fini(struct taudit *f);

/* Starts one more cofferd on the same database and key file (a second node). */
void taudit_start_node(const struct taudit *f, struct t_cofferd *d, char *const extra_env[]);

/* cmocka group setup and teardown with no extra environment: *state becomes a struct taudit. */
int taudit_setup(void **state);
int taudit_teardown(void **state);

/* The header "Authorization: Basic ..." of a fresh kmsauth v2 service token for from, made by
 * the `coffer` CLI with the fixture's key file (free() it). */
char *taudit_service_auth(const struct taudit *f, const char *from);

/* "Authorization: Basic base64(user:token)", any bytes in user (free() it). */
char *taudit_basic_header(const char *user, const char *token);

/* What one access-log row must hold. Strings: NULL = not checked, "<null>" = JSON null, "a|b" =
 * either; revision: TAPI_ANY = not checked, TAPI_NULL = null. */
struct taudit_want {
    const char *actor_type;
    const char *actor;
    const char *source_ip;
    const char *action;
    const char *resource_type;
    const char *resource_id;
    long revision;
    const char *result;
    const char *reason;
};

/* The one event of the request that r answered, read through GET /v1/audit/events?request_id=
 * as the auditor; NULL with *diff_out set if the table does not hold exactly one row with that
 * request id or the API does not return exactly that one. json_decref() the event. */
json_t *taudit_event_get(const struct taudit *f, const struct t_resp *r, char **diff_out);

/* Checks an event's shape (exactly the members of API.md 8.2; id >= 1; time in the 1.2 format;
 * request_id 32 lowercase hex; prev_hash and hash 64 lowercase hex, hash recomputed from
 * prev_hash and the row) and the wanted fields. NULL if all hold, else what differs. */
char *taudit_event_diff(const json_t *ev, const struct taudit_want *want);

/* taudit_event_get() and taudit_event_diff() together: NULL if the request has exactly one row
 * and it holds want, else what is wrong (free() it). */
char *taudit_row_diff(const struct taudit *f, const struct t_resp *r,
                      const struct taudit_want *want);

/* Asserts taudit_row_diff() is NULL. */
void taudit_row(const struct taudit *f, const struct t_resp *r, const struct taudit_want *want);

/* canonical(row) of API.md 8.2, computed here from an event's members: 0, or -1 if a member
 * is missing or of the wrong type. */
int taudit_canonical(const json_t *ev, struct cf_buf *out);

/* hash = SHA-256(prev raw bytes || canonical(ev)) as lowercase hex, with prev_hex given (64
 * hex); 0, or -1 if prev_hex is not 64 hex or the row has no canonical form. */
int taudit_hash(const char *prev_hex, const json_t *ev, char out[TAUDIT_HASH_HEX]);

/* Walks events (ascending) as a client that trusts nothing: ids contiguous from first_id,
 * prev_hash equal to the previous row's recomputed hash (prev_hex before the first), and every
 * hash recomputed. NULL if intact, else the first problem as "row <id>: what" (free() it),
 * where id is the first id at which the walk fails. */
char *taudit_chain_diff(const json_t *events, int64_t first_id, const char *prev_hex);

/* Every event of GET /v1/audit/events?<query>&limit=<limit> as auth, following next_cursor to
 * the end; asserts each page is 200 with exactly events and next_cursor, holds at most limit
 * events and that only the last may be empty. *pages_out = the pages read (may be NULL).
 * query may be "" and holds already-encoded parameters. json_decref() the array. */
json_t *taudit_events_all(const struct taudit *f, const char *auth, const char *query, int limit,
                          size_t *pages_out);

/* GET /v1/audit/verify?<query> (query may be "") as the auditor; asserts 200 and returns the
 * body (json_decref it). */
json_t *taudit_verify(const struct taudit *f, const char *query);

/* Runs `cofferd audit verify` plus args (NULL-terminated, may be NULL) on db's application
 * role, capturing stdout and stderr into out (may be NULL). Returns the exit status. */
int taudit_cli_verify(const struct t_db *db, char *const args[], struct cf_buf *out);

/* True if text mentions id as a whole number and problem as a whole word ("" = any). */
bool taudit_names_row(const char *text, int64_t id, const char *problem);

/* Runs sql (with $1 = param if param is not NULL) as the superuser in a session with
 * session_replication_role = replica, which turns the log's triggers off. */
void taudit_tamper(const struct t_db *db, const char *sql, const char *param);

/* Inserts an event (JSON object with every column of audit_log) as the superuser with the
 * triggers off. */
void taudit_insert_raw(const struct t_db *db, const json_t *ev);

/* audit_head's id, and the largest id in audit_log (0 if empty). */
int64_t taudit_head_id(const struct taudit *f);
int64_t taudit_max_id(const struct taudit *f);

/* The value of one series of GET /metrics, given exactly as it is printed before the value
 * (e.g. "coffer_audit_head_id" or "coffer_audit_events_total{result=\"allowed\"}"); false if
 * absent. */
bool taudit_metric(const struct t_cofferd *d, const char *series, double *value_out);

/* The whole text of GET /metrics (free with cf_buf_free()). */
void taudit_metrics_text(const struct t_cofferd *d, struct cf_buf *out);

/* A fresh random request-id-shaped string: 32 lowercase hex. */
void taudit_rand_hex32(char out[33]);

#endif
