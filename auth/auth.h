/*
 * auth.h - who is calling: credential sources, API tokens, kmsauth, roles.
 *
 * auth_authenticate() starts from denial and only its last step allows. It knows nothing of
 * HTTP: the caller hands it the raw values of the Authorization, X-Auth-From and X-Auth-Token
 * headers. On failure it reports the precise reason for the access log; the client only ever
 * learns that authentication failed.
 */
#ifndef AUTH_H
#define AUTH_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "cf_config.h"
#include "cf_err.h"
#include "db.h"
#include "db_tokens.h"
#include "kms.h"

#define AUTH_NAME_MAX     128
#define AUTH_ACTOR_MAX    DB_ACTOR_MAX
#define AUTH_TOKEN_LEN    50 /* "coffer_" + 43 base64url characters */
#define AUTH_TOKEN_PREFIX "coffer_"

enum auth_actor_type {
    AUTH_ACTOR_ANONYMOUS = 0,
    AUTH_ACTOR_SERVICE,
    AUTH_ACTOR_USER,
    AUTH_ACTOR_TOKEN,
    AUTH_ACTOR_SYSTEM,
};

enum auth_role {
    AUTH_ROLE_NONE = 0,
    AUTH_ROLE_SERVICE, /* may read its own bundle */
    AUTH_ROLE_AUDITOR, /* metadata and the access log, never secret values */
    AUTH_ROLE_ADMIN,   /* everything */
};

/* An authenticated caller. */
struct auth_principal {
    enum auth_actor_type type;
    enum auth_role role;
    char name[AUTH_NAME_MAX + 1];   /* kmsauth `from`, token name */
    char actor[AUTH_ACTOR_MAX + 1]; /* the access log's actor: `from`, "token:<name>" */
    char token_id[DB_TOKEN_ID_LEN + 1];
    int kmsauth_version; /* 1 or 2 for kmsauth callers */
    bool cache_hit;      /* a kmsauth token found in the token cache (no KMS call) */
};

/* The raw credential headers of a request (borrowed; NULL when absent). */
struct auth_creds {
    const char *authorization;
    const char *x_auth_from;
    const char *x_auth_token;
    bool cheap_only; /* decide only what costs nothing: a credential already proven and
                        cached, or one remembered as failed. Any other fails (CF_EAUTH) with
                        needs_verification set, before a KMS call or a database lookup */
};

/* Why authentication failed, for the access log (never for the client). */
struct auth_failure {
    bool presented;            /* false: no credentials at all (401 unauthenticated) */
    const char *reason;        /* "bad_auth_header", "api_token_invalid", "kmsauth_*" */
    char claimed[3 * 128 + 1]; /* claimed kmsauth username, sanitised, or "" */
    bool needs_verification;   /* cheap_only: deciding needs KMS or the database */
    bool remembered;           /* the credential failed before: decided without any cost */
};

struct auth;

/* Creates the authenticator over a database pool and a KMS client (both borrowed; kms may be
 * NULL when no auth key is configured). The auth keys, server name and lifetime come from
 * cfg. */
CF_MUST_CHECK int auth_new(struct db_pool *pool, struct kms_client *kms,
                           const struct cf_config *cfg, struct auth **out);
void auth_free(struct auth *a);

/* Resolves the configured auth keys to ARNs with DescribeKey (ARNs are used as they are).
 * CF_EUNAVAIL while KMS cannot answer: requests then retry it, answering 503 meanwhile. */
CF_MUST_CHECK int auth_resolve_keys(struct auth *a);

/* For tests: the clock of token windows (epoch seconds); NULL restores the wall clock. */
void auth_set_clock(struct auth *a, int64_t (*now)(void));

/* Drops what a change notification says changed ("token:<id>" -> every cached API token,
 * "principal:<name>" -> that role); NULL drops everything (notifications may have been
 * missed). Thread-safe. */
void auth_forget(struct auth *a, const char *payload);

/* Credentials that failed for a reason they cannot outgrow (a ciphertext KMS refuses, a token
 * that does not exist or has expired) are remembered by digest for AUTH_FAILED_MS, so that
 * presenting one again costs no KMS call and no database lookup. */
#define AUTH_FAILED_MS (INT64_C(10) * 60 * 1000)

/* Failures answered from that memory so far. */
uint64_t auth_failures_remembered(const struct auth *a);

/* The kmsauth token cache's entries, hits and misses. */
void auth_token_cache_counts(struct auth *a, size_t *entries, uint64_t *hits, uint64_t *misses);

/* Authenticates a request's credentials (API.md 2.1: Bearer, then Basic, then the X-Auth pair).
 * 0 and *who filled; CF_EAUTH with *why filled; CF_EUNAVAIL when the database (or KMS) cannot
 * answer. Thread-safe. */
CF_MUST_CHECK int auth_authenticate(struct auth *a, const struct auth_creds *creds,
                                    struct auth_principal *who, struct auth_failure *why);

/* Makes a new API token: token_out gets the plaintext (AUTH_TOKEN_LEN + 1 bytes, show once and
 * cleanse), sha_out its SHA-256 hex, id_out a fresh "tok_" id. */
CF_MUST_CHECK int auth_token_generate(char token_out[AUTH_TOKEN_LEN + 1],
                                      char sha_out[CF_SHA256_HEX_LEN + 1],
                                      char id_out[DB_TOKEN_ID_LEN + 1]);

/* True if s has an API token's exact shape. */
bool auth_token_well_formed(const char *s);

/* "admin", "auditor", "service" or "none". */
const char *auth_role_name(enum auth_role role);

/* Parses "admin" or "auditor" (the roles people and tokens may have). CF_EINVAL otherwise. */
CF_MUST_CHECK int auth_role_parse(const char *s, enum auth_role *out);

/* The access log's actor_type: "service", "user", "token", "system", "anonymous". */
const char *auth_actor_type_name(enum auth_actor_type t);

#endif
