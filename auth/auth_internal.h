/*
 * auth_internal.h - what the files of auth/ share: the authenticator's state.
 */
#ifndef AUTH_INTERNAL_H
#define AUTH_INTERNAL_H

#include <pthread.h>
#include <stdbool.h>

#include "auth.h"
#include "auth_cache.h"
#include "cf_lru.h"
#include "kms.h"

/* The configured auth keys of one user type, and their ARNs once resolved. */
struct auth_keyset {
    char **names; /* as configured: id, alias, alias ARN or key ARN */
    size_t n;
    char **arns;   /* resolved ARNs (NULL entries for keys KMS does not know) */
    bool resolved; /* guarded by struct auth's key_lock */
};

struct auth {
    struct db_pool *pool;   /* borrowed */
    struct kms_client *kms; /* borrowed; NULL when no auth key is configured */
    char *to;               /* COFFER_AUTH_CONTEXT */
    int64_t max_lifetime_s; /* COFFER_KMSAUTH_MAX_LIFETIME in seconds */
    struct auth_keyset service_keys, user_keys;
    pthread_mutex_t key_lock;  /* guards the keysets' arns and resolved */
    struct auth_cache *tokens; /* kmsauth tokens */
    struct cf_lru *api_tokens; /* SHA-256 of an API token -> its principal, 10 s at most */
    struct cf_lru *roles;      /* SHA-256 of a principal name -> its role, 10 s at most */
    struct cf_lru *failed;     /* digest of a lastingly failed credential -> auth_failed_entry */
    _Atomic uint64_t failed_hits;
    _Atomic(int64_t (*)(void)) now; /* epoch seconds; tests may replace it */
};

/* Validates a kmsauth username and token (API.md 2.3) into *who. CF_EAUTH with why->reason
 * set, or CF_EUNAVAIL when KMS or the database cannot be reached. cheap_only: a token neither
 * cached nor remembered as failed fails with why->needs_verification, without a KMS call. */
CF_MUST_CHECK int auth_kmsauth(struct auth *a, const char *username, const char *token,
                               bool cheap_only, struct auth_principal *who,
                               struct auth_failure *why);

/* Failed credentials remembered at once; the least recently presented go first. */
#define AUTH_FAILED_ENTRIES 16384

/* What the failure memory holds for a credential: the reason it failed with (a string
 * literal), and for a kmsauth token that had expired, its not_after (the memory holds only
 * while the clock of token windows is past it). */
struct auth_failed_entry {
    const char *reason;
    int64_t expired_after; /* epoch seconds; 0: failed whatever the time */
};

/* True (and why filled) if the credential of digest failed before. */
bool auth_failed_recall(struct auth *a, const uint8_t digest[CF_SHA256_LEN],
                        struct auth_failure *why);

/* Remembers that the credential of digest failed for why->reason; expired_after as above. */
void auth_failed_remember(struct auth *a, const uint8_t digest[CF_SHA256_LEN],
                          const struct auth_failure *why, int64_t expired_after);

/* How long a cached API token or role may be used without a change notification: a lost
 * notification delays a revocation by at most this long (API.md 8.1). */
#define AUTH_STALE_MS 10000

/* What the role cache holds for a name. */
struct auth_role_entry {
    bool present; /* false: no such principal */
    enum auth_role role;
};

/* Parses "20250214T152441Z" (exactly 16 characters, UTC) into epoch seconds. */
CF_MUST_CHECK int auth_parse_token_time(const char *s, int64_t *out);

#endif
