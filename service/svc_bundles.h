/*
 * svc_bundles.h - the bundle cache: serialised bundle answers (the JSON body and its ETag) of
 * recently fetched services, so that a warm fetch reads neither the database nor KMS.
 *
 * Each entry carries the catalog version it was built at (read before its rows were loaded,
 * so the entry shows every catalog write up to that version). A fetch answered from the cache
 * compares that version with the one its own access-log append read and rebuilds the bundle
 * when the entry is older (svc_services.c); the change listener clears the cache on every
 * notification besides. Bounded in entries, bytes and age; bodies are copied in and out
 * under the lock and cleansed when dropped (they hold credential values).
 */
#ifndef SVC_BUNDLES_H
#define SVC_BUNDLES_H

#include <stddef.h>
#include <stdint.h>

#include "cf_err.h"
#include "cf_str.h"

struct svc_bundles;

struct svc_bundles_limits {
    size_t max_entries; /* 0: the cache is off */
    size_t max_bytes;   /* sum of bodies */
    int64_t ttl_ms;     /* an entry's longest life */
};

/* A bundle answer as cached: body (cleansed when freed), ETag, versions. */
struct svc_bundle {
    struct cf_buf body;
    char etag[36];
    int64_t catalog;  /* the catalog version the bundle was built at */
    int64_t revision; /* the service's revision (for the access-log row) */
};

struct svc_bundles_stats {
    uint64_t hits, misses, rebuilds, evictions;
    size_t entries, bytes;
};

/* *out = NULL (the cache off) when max_entries or max_bytes is 0. */
CF_MUST_CHECK int svc_bundles_new(const struct svc_bundles_limits *lim, struct svc_bundles **out);

/* Cleanses and frees every entry and the cache. Safe with NULL. */
void svc_bundles_free(struct svc_bundles *c);

/* Copies the entry of key into *out (its body appended to out->body) when it is younger than
 * the TTL at now_ms; counts a hit or a miss. CF_ENOTFOUND on a miss or with c NULL. */
CF_MUST_CHECK int svc_bundles_get(struct svc_bundles *c, const char *key, int64_t now_ms,
                                  struct svc_bundle *out);

/* Stores a copy of b under key, unless an entry built at a later catalog version is there;
 * evicts the least recently used entries to stay within the limits. A body larger than a
 * quarter of max_bytes is not cached. No-op with c NULL. */
void svc_bundles_put(struct svc_bundles *c, const char *key, const struct svc_bundle *b,
                     int64_t now_ms);

/* Drops (and cleanses) every entry. */
void svc_bundles_clear(struct svc_bundles *c);

/* Counts a rebuild forced by the catalog version. */
void svc_bundles_count_rebuild(struct svc_bundles *c);

/* Zeroes *out when c is NULL. */
void svc_bundles_stats(struct svc_bundles *c, struct svc_bundles_stats *out);

/* Frees b's body (cleansed). */
void svc_bundle_free(struct svc_bundle *b);

#endif
