/*
 * audit_chain.h - the access log's hash chain on its own: canonical rows, row hashes and a
 * walk that checks rows in order (API.md 8.2).
 *
 * This header includes nothing from db/: the coffer client recomputes the chain from the rows
 * GET /v1/audit/events returns with exactly the code cofferd writes it with, so an auditor
 * need not trust the server's own verify.
 *
 * hash(n) = SHA-256(prev(n) || canonical(row n)), prev(1) = 32 zero bytes, where canonical()
 * is the JSON object of the twelve fields from id to reason, members sorted by name, no
 * whitespace, minimal escaping (Python's json.dumps(row, sort_keys=True, separators=(",",
 * ":"), ensure_ascii=False)). A row whose peer_ip is not null (a request a trusted proxy
 * forwarded, migration 0005) has it as a thirteenth member; a null peer_ip is left out, so
 * the rows written before the column existed keep their hashes.
 */
#ifndef AUDIT_CHAIN_H
#define AUDIT_CHAIN_H

#include <stdbool.h>
#include <stdint.h>

#include <jansson.h>

#include "cf_crypto.h"
#include "cf_err.h"
#include "cf_str.h"

/* The prev_hash of row 1: 64 zeros. */
extern const char audit_chain_zero_hash[CF_SHA256_HEX_LEN + 1];

/* The hashed fields of one row, borrowed from whoever holds them. NULL strings are hashed as
 * null (only resource_type and resource_id may be null in a well-formed row), but for peer_ip,
 * which is then left out. */
struct audit_chain_row {
    int64_t id;
    const char *time;
    const char *request_id;
    const char *actor_type;
    const char *actor;
    const char *source_ip;
    const char *peer_ip; /* NULL: not a member of canonical() at all */
    const char *action;
    const char *resource_type;
    const char *resource_id;
    int64_t revision;
    bool has_revision;
    const char *result;
    const char *reason;
};

/* Appends canonical(row) to out: the exact bytes that are hashed. */
void audit_chain_canonical(const struct audit_chain_row *row, struct cf_buf *out);

/* hash_out = hex(SHA-256(raw(prev_hex) || canonical(row))). CF_EINVAL unless prev_hex is 64
 * hex digits. */
CF_MUST_CHECK int audit_chain_hash(const char *prev_hex, const struct audit_chain_row *row,
                                   char hash_out[CF_SHA256_HEX_LEN + 1]);

/* Borrows the fields of a row as the API and the database's JSON give it (strings stay owned
 * by j). A member of the wrong type is read as absent, so that its row fails to hash. */
void audit_chain_row_from_json(const json_t *j, struct audit_chain_row *row);

/* A walk over consecutive rows: each must have the next id, a prev_hash equal to the hash
 * before it, and a hash that recomputes. Once a row breaks the chain the walk stays broken. */
struct audit_chain_walk {
    int64_t next_id;                  /* the id the next row must have */
    char prev[CF_SHA256_HEX_LEN + 1]; /* the hash that row's prev_hash must equal */
    int64_t checked;                  /* rows that passed */
    int64_t first_bad_id;             /* 0 while intact */
    const char *problem;              /* missing_row, prev_hash_mismatch, hash_mismatch */
};

/* Starts a walk at from_id whose row before has the hash prev_hex (audit_chain_zero_hash
 * for row 1). CF_EINVAL for from_id < 1 or a prev_hex that is not 64 characters. */
CF_MUST_CHECK int audit_chain_walk_start(struct audit_chain_walk *w, int64_t from_id,
                                         const char *prev_hex);

/* Checks the next row (a JSON object with the fields and prev_hash and hash); false once the
 * chain is broken, with first_bad_id and problem set. */
bool audit_chain_walk_row(struct audit_chain_walk *w, const json_t *row);

/* Marks the walk broken at id with problem (for what only the caller sees: rows missing at
 * the end of a range, a head that disagrees). */
void audit_chain_walk_fail(struct audit_chain_walk *w, int64_t id, const char *problem);

#endif
