/*
 * svc_bundles.c - the bundle cache (svc_bundles.h): a chained hash table of entries threaded on
 * a doubly linked recency list, one mutex. Lookups copy the body out under the lock (a few
 * kilobytes), so no pointer into the cache outlives the call.
 */
#include "svc_bundles.h"

#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/crypto.h>

#include "cf_mem.h"

struct entry {
    struct entry *next_in_bucket;
    struct entry *newer, *older; /* the recency list */
    char *key;
    char *body; /* cleansed when freed */
    size_t len;
    char etag[36];
    int64_t catalog, revision, born_ms;
};

struct svc_bundles {
    pthread_mutex_t lock; /* guards everything below but the counters */
    struct svc_bundles_limits lim;
    struct entry **buckets;
    size_t nbuckets; /* a power of two */
    struct entry *newest, *oldest;
    size_t entries, bytes;
    _Atomic uint64_t hits, misses, rebuilds, evictions;
};

/* FNV-1a: keys are service ids the caller has validated; the table is not exposed to
 * collisions an attacker could pick beyond making a few chains longer. */
static size_t hash_key(const char *k)
{
    uint64_t h = 1469598103934665603ULL;
    for (; *k != '\0'; k++) {
        h ^= (unsigned char)*k;
        h *= 1099511628211ULL;
    }
    return (size_t)h;
}

int svc_bundles_new(const struct svc_bundles_limits *lim, struct svc_bundles **out)
{
    *out = NULL;
    if (lim->max_entries == 0 || lim->max_bytes == 0)
        return 0;
    if (lim->ttl_ms <= 0)
        return CF_EINVAL;
    struct svc_bundles *c = cf_xcalloc(1, sizeof(*c));
    c->lim = *lim;
    c->nbuckets = 64;
    while (c->nbuckets < lim->max_entries && c->nbuckets < ((size_t)1 << 20))
        c->nbuckets <<= 1;
    c->buckets = cf_xcalloc(c->nbuckets, sizeof(struct entry *));
    pthread_mutex_init(&c->lock, NULL);
    *out = c;
    return 0;
}

static struct entry **slot_of(struct svc_bundles *c, const char *key)
{
    struct entry **p = &c->buckets[hash_key(key) & (c->nbuckets - 1)];
    while (*p != NULL && strcmp((*p)->key, key) != 0)
        p = &(*p)->next_in_bucket;
    return p;
}

static void unlink_recency(struct svc_bundles *c, struct entry *e)
{
    if (e->newer != NULL) {
        e->newer->older = e->older;
    } else {
        c->newest = e->older;
    }
    if (e->older != NULL) {
        e->older->newer = e->newer;
    } else {
        c->oldest = e->newer;
    }
    e->newer = e->older = NULL;
}

static void push_newest(struct svc_bundles *c, struct entry *e)
{
    e->older = c->newest;
    e->newer = NULL;
    if (c->newest != NULL)
        c->newest->newer = e;
    c->newest = e;
    if (c->oldest == NULL)
        c->oldest = e;
}

static void entry_free(struct entry *e)
{
    OPENSSL_cleanse(e->body, e->len);
    free(e->body);
    free(e->key);
    OPENSSL_cleanse(e, sizeof(*e));
    free(e);
}

/* Unlinks *slot's entry from both structures and frees it. Locked. */
static void drop(struct svc_bundles *c, struct entry **slot)
{
    struct entry *e = *slot;
    if (e == NULL)
        return;
    *slot = e->next_in_bucket;
    unlink_recency(c, e);
    c->entries--;
    c->bytes -= e->len;
    entry_free(e);
}

void svc_bundles_clear(struct svc_bundles *c)
{
    if (c == NULL)
        return;
    pthread_mutex_lock(&c->lock);
    for (size_t i = 0; i < c->nbuckets; i++) {
        while (c->buckets[i] != NULL)
            drop(c, &c->buckets[i]);
    }
    pthread_mutex_unlock(&c->lock);
}

void svc_bundles_free(struct svc_bundles *c)
{
    if (c == NULL)
        return;
    svc_bundles_clear(c);
    pthread_mutex_destroy(&c->lock);
    free(c->buckets);
    free(c);
}

int svc_bundles_get(struct svc_bundles *c, const char *key, int64_t now_ms, struct svc_bundle *out)
{
    int r = CF_ENOTFOUND;

    if (c == NULL)
        return CF_ENOTFOUND;
    pthread_mutex_lock(&c->lock);
    struct entry **slot = slot_of(c, key);
    if (*slot != NULL && now_ms - (*slot)->born_ms >= c->lim.ttl_ms) {
        drop(c, slot);
        atomic_fetch_add_explicit(&c->evictions, 1, memory_order_relaxed);
    } else if (*slot != NULL) {
        struct entry *e = *slot;
        unlink_recency(c, e);
        push_newest(c, e);
        cf_buf_append(&out->body, e->body, e->len);
        memcpy(out->etag, e->etag, sizeof(out->etag));
        out->catalog = e->catalog;
        out->revision = e->revision;
        r = 0;
    }
    pthread_mutex_unlock(&c->lock);
    atomic_fetch_add_explicit(r == 0 ? &c->hits : &c->misses, 1, memory_order_relaxed);
    return r;
}

void svc_bundles_put(struct svc_bundles *c, const char *key, const struct svc_bundle *b,
                     int64_t now_ms)
{
    if (c == NULL || b->body.len > c->lim.max_bytes / 4)
        return;
    struct entry *e = cf_xcalloc(1, sizeof(*e));
    e->key = cf_xstrdup(key);
    e->body = cf_xmalloc(b->body.len + 1);
    memcpy(e->body, b->body.data, b->body.len);
    e->len = b->body.len;
    memcpy(e->etag, b->etag, sizeof(e->etag));
    e->etag[sizeof(e->etag) - 1] = '\0';
    e->catalog = b->catalog;
    e->revision = b->revision;
    e->born_ms = now_ms;

    pthread_mutex_lock(&c->lock);
    struct entry **slot = slot_of(c, key);
    if (*slot != NULL && (*slot)->catalog > e->catalog) {
        pthread_mutex_unlock(&c->lock); /* a newer build is there already */
        entry_free(e);
        return;
    }
    if (*slot != NULL)
        drop(c, slot);
    while (c->oldest != NULL &&
           (c->entries + 1 > c->lim.max_entries || c->bytes + e->len > c->lim.max_bytes)) {
        drop(c, slot_of(c, c->oldest->key));
        atomic_fetch_add_explicit(&c->evictions, 1, memory_order_relaxed);
    }
    slot = slot_of(c, key); /* the chain may have changed */
    *slot = e;
    push_newest(c, e);
    c->entries++;
    c->bytes += e->len;
    pthread_mutex_unlock(&c->lock);
}

void svc_bundles_count_rebuild(struct svc_bundles *c)
{
    if (c != NULL)
        atomic_fetch_add_explicit(&c->rebuilds, 1, memory_order_relaxed);
}

void svc_bundles_stats(struct svc_bundles *c, struct svc_bundles_stats *out)
{
    *out = (struct svc_bundles_stats){ 0 };
    if (c == NULL)
        return;
    pthread_mutex_lock(&c->lock);
    out->entries = c->entries;
    out->bytes = c->bytes;
    pthread_mutex_unlock(&c->lock);
    out->hits = atomic_load(&c->hits);
    out->misses = atomic_load(&c->misses);
    out->rebuilds = atomic_load(&c->rebuilds);
    out->evictions = atomic_load(&c->evictions);
}

void svc_bundle_free(struct svc_bundle *b)
{
    cf_buf_free(&b->body);
}
