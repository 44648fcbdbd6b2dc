/*
 * auth_cache.c - the kmsauth token cache: cf_lru holding what a token proved until its
 * not_after (inclusive).
 */
#include "auth_cache.h"

#include <stdlib.h>

#include "cf_lru.h"
#include "cf_mem.h"

struct auth_cache {
    struct cf_lru *lru;
};

int auth_cache_new(size_t max_entries, struct auth_cache **out)
{
    struct cf_lru *lru = NULL;
    int r = cf_lru_new(max_entries, sizeof(struct auth_token_info), &lru);

    *out = NULL;
    if (r != 0)
        return r;
    *out = cf_xcalloc(1, sizeof(**out));
    (*out)->lru = lru;
    return 0;
}

void auth_cache_free(struct auth_cache *c)
{
    if (c == NULL)
        return;
    cf_lru_free(c->lru);
    free(c);
}

int auth_cache_get(struct auth_cache *c, const uint8_t digest[CF_SHA256_LEN], int64_t now,
                   struct auth_token_info *out)
{
    return cf_lru_get(c->lru, digest, now, out);
}

void auth_cache_put(struct auth_cache *c, const uint8_t digest[CF_SHA256_LEN],
                    const struct auth_token_info *info)
{
    cf_lru_put(c->lru, digest, info, info->not_after + 1); /* valid while now <= not_after */
}

void auth_cache_counts(struct auth_cache *c, size_t *entries, uint64_t *hits, uint64_t *misses)
{
    struct cf_lru_stats s;
    cf_lru_stats(c->lru, &s);
    *entries = s.entries;
    *hits = s.hits;
    *misses = s.misses;
}
