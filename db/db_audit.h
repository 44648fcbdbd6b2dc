/*
 * db_audit.h - queries on the access log: lock the chain head, append a row.
 *
 * The chain itself (canonical rows, hashes) is computed in audit/; these functions only move
 * rows in and out. Both run inside the caller's transaction.
 */
#ifndef DB_AUDIT_H
#define DB_AUDIT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <jansson.h>

#include "cf_crypto.h"
#include "cf_err.h"
#include "cf_time.h"
#include "db.h"

/* One access-log row as stored; strings are borrowed. resource_type, resource_id may be NULL;
 * has_revision false stores NULL. */
struct db_audit_row {
    int64_t id;
    char time[CF_TIME_STR_LEN];
    const char *request_id;
    const char *actor_type;
    const char *actor;
    const char *source_ip;
    const char *peer_ip; /* NULL, or the TCP peer's when it is not the client's (0005) */
    const char *action;
    const char *resource_type;
    const char *resource_id;
    int64_t revision;
    bool has_revision;
    const char *result;
    const char *reason;
    char prev_hash[CF_SHA256_HEX_LEN + 1];
    char hash[CF_SHA256_HEX_LEN + 1];
};

/* Locks the chain head until the transaction ends and reads it, with the database's clock
 * (microseconds since the epoch) and the catalog version, which it holds FOR SHARE from before
 * the head is locked (migration 0003: no catalog write can commit between the read and the
 * append's commit). Must run inside a transaction. */
CF_MUST_CHECK int db_audit_lock_head(struct db_conn *c, int64_t *head_id,
                                     char head_hash[CF_SHA256_HEX_LEN + 1], int64_t *now_us,
                                     int64_t *catalog);

/* A batch appended in two round trips and one transaction (a pipeline, db_internal.h):
 * db_audit_append_lock() begins it and reads what db_audit_lock_head() reads, with the same
 * locks; db_audit_append_finish(c, rows, 0) then inserts rows (a JSON array of objects with the
 * audit_log columns, in id order, in one statement) and commits, while db_audit_append_finish(c,
 * NULL, r) with an error r ends the transaction without a row and returns r. Every successful _lock
 * is followed by one _finish; a failed _lock has ended its transaction itself. Not inside
 * db_tx_begin(). */
CF_MUST_CHECK int db_audit_append_lock(struct db_conn *c, int64_t *head_id,
                                       char head_hash[CF_SHA256_HEX_LEN + 1], int64_t *now_us,
                                       int64_t *catalog);
CF_MUST_CHECK int db_audit_append_finish(struct db_conn *c, const json_t *rows, int r);

/* Reads the chain head without locking it (readiness, verification). */
CF_MUST_CHECK int db_audit_head(struct db_conn *c, int64_t *head_id,
                                char head_hash[CF_SHA256_HEX_LEN + 1]);

/* Filters of the auditors' query (API.md 8.2); NULL members do not filter. */
struct db_audit_filter {
    const char *since; /* RFC 3339, inclusive */
    const char *until; /* RFC 3339, exclusive */
    const char *actor;
    const char *actor_type;
    const char *actions_json; /* a JSON array of action names */
    const char *resource_type;
    const char *resource_id;
    const char *result;
    const char *request_id;
    bool ascending;   /* by id; default descending */
    int64_t after_id; /* keyset: rows past this id in the order (0: from the start) */
    int64_t limit;
};

/* One page of rows matching f, in its order, at most f->limit. */
struct db_audit_page {
    char *events; /* the JSON array of the rows, every field of API.md 8.2 (time formatted),
                   * as the database wrote it: copied into the answer without a parse */
    size_t events_len;
    bool more;       /* rows past this page match too */
    int64_t last_id; /* the page's last row (0 if empty): where the next page starts */
};

CF_MUST_CHECK int db_audit_query(struct db_conn *c, const struct db_audit_filter *f,
                                 struct db_audit_page *out);

void db_audit_page_free(struct db_audit_page *p);

/* Rows with from_id <= id <= to_id, ascending, at most limit (the verifier's pages). */
CF_MUST_CHECK int db_audit_range(struct db_conn *c, int64_t from_id, int64_t to_id, int64_t limit,
                                 json_t **rows_out);

/* The number of rows with an id above id (rows past the head betray a forged tail). */
CF_MUST_CHECK int db_audit_count_after(struct db_conn *c, int64_t id, int64_t *count_out);

/* Inserts a complete row (the database refuses one that does not extend the head). */
CF_MUST_CHECK int db_audit_insert(struct db_conn *c, const struct db_audit_row *row);

#endif
