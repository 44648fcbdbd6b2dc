/*
 * cf_lru.h - a thread-safe LRU map from 32-byte digests to fixed-size values with expiry.
 *
 * The caches of coffer (data keys, kmsauth tokens) are this map with their own keys, values
 * and clocks. Values are copied in and out under the lock, so no pointer into the map
 * outlives it; every entry is cleansed before its memory is freed, so the map may hold keys.
 */
#ifndef CF_LRU_H
#define CF_LRU_H

#include <stddef.h>
#include <stdint.h>

#include "cf_err.h"

#define CF_LRU_KEY_LEN 32

struct cf_lru;

struct cf_lru_stats {
    uint64_t hits;
    uint64_t misses;
    uint64_t evictions; /* removed for room or age */
    size_t entries;
};

/* A map of at most max_entries values of value_len bytes each (max_entries 0: it stores
 * nothing and every lookup misses). */
CF_MUST_CHECK int cf_lru_new(size_t max_entries, size_t value_len, struct cf_lru **out);

/* Cleanses every entry and frees the map. Safe with NULL. */
void cf_lru_free(struct cf_lru *m);

/* Copies the value of key into value_out when present and now < its expiry, and marks it
 * recently used; an expired entry is removed. CF_ENOTFOUND on a miss. Counts a hit or miss. */
CF_MUST_CHECK int cf_lru_get(struct cf_lru *m, const uint8_t key[CF_LRU_KEY_LEN], int64_t now,
                             void *value_out);

/* Stores a copy of value under key until expires_at (any clock the caller uses consistently),
 * replacing an entry with the same key and evicting the least recently used one when full. */
void cf_lru_put(struct cf_lru *m, const uint8_t key[CF_LRU_KEY_LEN], const void *value,
                int64_t expires_at);

/* Removes (and cleanses) the entry of key, if any. */
void cf_lru_remove(struct cf_lru *m, const uint8_t key[CF_LRU_KEY_LEN]);

/* Removes (and cleanses) every entry. */
void cf_lru_clear(struct cf_lru *m);

void cf_lru_stats(struct cf_lru *m, struct cf_lru_stats *out);

#endif
