/*
 * kms_cache.h - the data-key cache: decrypted data keys kept in memory so that a warm bundle
 * fetch makes no KMS call.
 *
 * Keyed by SHA-256(blob || canonical encryption context), bounded by entries and by age, least
 * recently used first out, thread-safe (one mutex; nothing is held across KMS calls). Evicted
 * and expired keys are cleansed before their memory is freed. A cache of size 0 is off: every
 * lookup misses and nothing is stored.
 */
#ifndef KMS_CACHE_H
#define KMS_CACHE_H

#include <stddef.h>
#include <stdint.h>

#include "cf_crypto.h"
#include "cf_err.h"
#include "cf_secret.h"
#include "kms.h"

struct kms_dkcache;

struct kms_dkcache_stats {
    uint64_t hits;
    uint64_t misses;
    uint64_t evictions;
    size_t entries;
};

/* Creates a cache of at most max_entries keys, each kept at most ttl_seconds. */
CF_MUST_CHECK int kms_dkcache_new(size_t max_entries, int64_t ttl_seconds,
                                  struct kms_dkcache **out);

/* Cleanses every key and frees the cache. Safe with NULL. */
void kms_dkcache_free(struct kms_dkcache *c);

/* The cache key of a blob under a context. */
CF_MUST_CHECK int kms_dkcache_digest(const uint8_t *blob, size_t blob_len,
                                     const struct kms_context *ctx, uint8_t out[CF_SHA256_LEN]);

/* Copies the cached key into *key_out (the caller frees it) and marks it recently used;
 * CF_ENOTFOUND on a miss (absent or expired). Counts a hit or a miss. Safe with NULL (miss). */
CF_MUST_CHECK int kms_dkcache_get(struct kms_dkcache *c, const uint8_t digest[CF_SHA256_LEN],
                                  struct cf_secret *key_out);

/* Stores a copy of key (at most KMS_DATA_KEY_LEN bytes), evicting the least recently used
 * entry when full. Replaces an existing entry. A no-op when the cache is off or NULL. */
void kms_dkcache_put(struct kms_dkcache *c, const uint8_t digest[CF_SHA256_LEN],
                     const struct cf_secret *key);

/* Drops (and cleanses) every entry. */
void kms_dkcache_clear(struct kms_dkcache *c);

void kms_dkcache_stats(struct kms_dkcache *c, struct kms_dkcache_stats *out);

/* For tests: the clock used for ages (monotonic milliseconds); NULL restores cf_mono_ms. */
void kms_dkcache_set_clock(struct kms_dkcache *c, int64_t (*now_ms)(void));

#endif
