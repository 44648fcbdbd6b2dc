/*
 * auth_cache.h - validated kmsauth tokens, so that a warm request makes no KMS call.
 *
 * Keyed by a SHA-256 over the token text, sender, receiver, user type and version; an LRU of
 * a fixed number of entries, each valid until its token's not_after. Failures are never
 * cached. Thread-safe (one mutex; entries are copied out).
 */
#ifndef AUTH_CACHE_H
#define AUTH_CACHE_H

#include <stddef.h>
#include <stdint.h>

#include "cf_crypto.h"
#include "cf_err.h"

#define AUTH_CACHE_ENTRIES 4096

/* What a validated token proved. */
struct auth_token_info {
    int version;   /* 1 or 2 */
    int user_type; /* enum auth_actor_type: AUTH_ACTOR_SERVICE or AUTH_ACTOR_USER */
    char from[129];
    int64_t not_before; /* epoch seconds */
    int64_t not_after;
};

struct auth_cache;

CF_MUST_CHECK int auth_cache_new(size_t max_entries, struct auth_cache **out);
void auth_cache_free(struct auth_cache *c);

/* Copies the entry for digest into *out if present and now <= not_after. CF_ENOTFOUND on a
 * miss (an entry past its not_after is dropped). */
CF_MUST_CHECK int auth_cache_get(struct auth_cache *c, const uint8_t digest[CF_SHA256_LEN],
                                 int64_t now, struct auth_token_info *out);

/* Stores info under digest (replacing), evicting the least recently used entry when full. */
void auth_cache_put(struct auth_cache *c, const uint8_t digest[CF_SHA256_LEN],
                    const struct auth_token_info *info);

/* Entries held, hits and misses, for tests and metrics. */
void auth_cache_counts(struct auth_cache *c, size_t *entries, uint64_t *hits, uint64_t *misses);

#endif
