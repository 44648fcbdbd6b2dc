/*
 * db_tokens.h - queries on api_tokens: the hashed bearer tokens of admins and auditors.
 */
#ifndef DB_TOKENS_H
#define DB_TOKENS_H

#include <stdbool.h>
#include <stdint.h>

#include <jansson.h>

#include "cf_crypto.h"
#include "cf_err.h"
#include "db.h"

#define DB_TOKEN_ID_LEN   20 /* "tok_" + 16 hex */
#define DB_TOKEN_NAME_MAX 64
#define DB_ACTOR_MAX      160 /* "token:<name>", "cofferd:<os user>", kmsauth names */

struct db_token {
    char id[DB_TOKEN_ID_LEN + 1];
    char name[DB_TOKEN_NAME_MAX + 1];
    char role[8]; /* "admin" or "auditor" */
    char created_by[DB_ACTOR_MAX + 1];
    char revoked_by[DB_ACTOR_MAX + 1]; /* "" when not revoked */
    int64_t created_at_us;
    int64_t expires_at_us;
    int64_t last_used_at_us; /* 0 when never used */
    int64_t revoked_at_us;   /* 0 when not revoked */
};

/* Inserts a token row: id, name, role, created_by from t; created_at = now() and expires_at =
 * now() + ttl_seconds on the database's clock (written back into t). CF_ECONFLICT when an
 * active token already has the name. */
CF_MUST_CHECK int db_token_insert(struct db_conn *c, struct db_token *t,
                                  const char sha256_hex[CF_SHA256_HEX_LEN + 1],
                                  int64_t ttl_seconds);

/* Finds the token whose SHA-256 is sha256_hex, revoked or expired ones included (the caller
 * decides). CF_ENOTFOUND if none. */
CF_MUST_CHECK int db_token_find_by_hash(struct db_conn *c,
                                        const char sha256_hex[CF_SHA256_HEX_LEN + 1],
                                        struct db_token *out);

/* A token's public row as JSON: id, name, role, created_at, created_by, expires_at,
 * last_used_at, revoked_at, revoked_by. CF_ENOTFOUND if absent. */
CF_MUST_CHECK int db_token_get_json(struct db_conn *c, const char *id, json_t **row_out);

/* Tokens newest first: active ones (not revoked, not expired), or all of them. */
CF_MUST_CHECK int db_token_list(struct db_conn *c, bool include_revoked, json_t **rows_out);

/* Revokes a token (a second revocation keeps the first's time and actor) and returns its row.
 * CF_ENOTFOUND if absent. */
CF_MUST_CHECK int db_token_revoke(struct db_conn *c, const char *id, const char *actor,
                                  json_t **row_out);

/* Sets last_used_at = now() unless it was set less than a minute ago. */
CF_MUST_CHECK int db_token_touch(struct db_conn *c, const char *id);

#endif
