/*
 * audit.h - the access log: the database's rows, their hashes, and appending.
 *
 * Every row carries hash = SHA-256(prev_hash_raw || canonical(row)) (API.md 8.2), computed by
 * the pure chain code of audit_chain.h; the functions here apply it to db/'s rows. Rows are
 * appended under the database's chain-head lock inside the caller's transaction, so all nodes
 * share one total order. A row never holds a secret value.
 */
#ifndef AUDIT_H
#define AUDIT_H

#include <stdbool.h>
#include <stdint.h>

#include "cf_crypto.h"
#include "cf_err.h"
#include "cf_str.h"
#include "db.h"
#include "db_audit.h"

/* What a caller knows about one decision; the chain fields are filled by audit_append(). */
struct audit_event {
    const char *request_id; /* 32 lowercase hex */
    const char *actor_type; /* service, user, token, system, anonymous */
    const char *actor;
    const char *source_ip;     /* the client's address */
    const char *peer_ip;       /* NULL, or the TCP peer's address when it is not the client's */
    const char *action;        /* e.g. "identity.get" */
    const char *resource_type; /* NULL or service, credential, token, principal, audit, identity */
    const char *resource_id;   /* NULL or the id */
    int64_t revision;
    bool has_revision;
    const char *result; /* allowed, denied, error */
    const char *reason; /* "ok", "not_modified", an error code or an auth reason */
    /* With has_catalog_limit, the row describes an answer built from catalog version
     * catalog_limit: it is written only if no later catalog write has committed (the version
     * read under the head's lock is at most catalog_limit); otherwise nothing is written and
     * the append returns CF_ESTALE with the newer version in the receipt, so that the caller
     * builds its answer again and logs that one instead. */
    int64_t catalog_limit;
    bool has_catalog_limit;
};

/* What a committed append tells its caller: the row's id, and the catalog version its
 * transaction read before locking the head (every catalog write whose row precedes this one
 * in the log has a version at most this). */
struct audit_receipt {
    int64_t id;
    int64_t catalog;
};

/* True if every field a row requires is present (resource type, id and revision may not be). */
bool audit_event_complete(const struct audit_event *ev);

/* Appends canonical(row) to out: the exact bytes that are hashed (audit_chain_canonical). */
void audit_canonical(const struct db_audit_row *row, struct cf_buf *out);

/* Computes row->hash from row->prev_hash and the row's other fields. */
CF_MUST_CHECK int audit_row_hash(struct db_audit_row *row);

/* Locks the head, builds the next row from ev (id, time from the database clock, prev_hash,
 * hash) and inserts it, inside the caller's open transaction. *out (may be NULL) gets the
 * row's id and catalog version. CF_EINVAL for an event with a missing required field;
 * CF_ESTALE, with nothing inserted and out->catalog set, for an event whose catalog_limit the
 * catalog has passed. */
CF_MUST_CHECK int audit_append(struct db_conn *c, const struct audit_event *ev,
                               struct audit_receipt *out);

/* Appends one event in a transaction of its own on a connection from the pool. */
CF_MUST_CHECK int audit_write(struct db_pool *pool, const struct audit_event *ev,
                              struct audit_receipt *out);

#endif
