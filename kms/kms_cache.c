/*
 * kms_cache.c - the data-key cache: a hash table of entries threaded on an LRU list.
 *
 * Every field of struct kms_dkcache is guarded by its lock. Entries own their key bytes in a
 * fixed array that is cleansed before the entry is freed.
 */
#include "kms_cache.h"

#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/crypto.h>

#include "cf_mem.h"
#include "cf_time.h"

struct entry {
    uint8_t digest[CF_SHA256_LEN];
    uint8_t key[KMS_DATA_KEY_LEN];
    size_t key_len;
    int64_t born_ms;
    struct entry *prev, *next; /* LRU list: head = most recently used */
    struct entry *chain;       /* hash bucket chain */
};

struct kms_dkcache {
    pthread_mutex_t lock; /* guards every field below */
    struct entry **buckets;
    size_t nbuckets; /* a power of two */
    struct entry *head, *tail;
    size_t entries, max_entries;
    int64_t ttl_ms;
    uint64_t hits, misses, evictions;
    int64_t (*now_ms)(void);
};

int kms_dkcache_new(size_t max_entries, int64_t ttl_seconds, struct kms_dkcache **out)
{
    *out = NULL;
    if (ttl_seconds <= 0 || max_entries > 100000000)
        return CF_EINVAL;
    struct kms_dkcache *c = cf_xcalloc(1, sizeof(*c));
    c->max_entries = max_entries;
    c->ttl_ms = ttl_seconds * 1000;
    c->nbuckets = 16;
    while (c->nbuckets < max_entries * 2)
        c->nbuckets *= 2;
    c->buckets = cf_xcalloc(c->nbuckets, sizeof(*c->buckets));
    c->now_ms = cf_mono_ms;
    pthread_mutex_init(&c->lock, NULL);
    *out = c;
    return 0;
}

static void entry_free(struct entry *e)
{
    OPENSSL_cleanse(e, sizeof(*e)); /* the key bytes and the digest */
    free(e);
}

static size_t bucket_of(const struct kms_dkcache *c, const uint8_t *digest)
{
    uint64_t h;
    memcpy(&h, digest, sizeof(h)); /* a SHA-256 prefix is already uniform */
    return (size_t)(h & (c->nbuckets - 1));
}

static void lru_unlink(struct kms_dkcache *c, struct entry *e)
{
    if (e->prev != NULL)
        e->prev->next = e->next;
    else
        c->head = e->next;
    if (e->next != NULL)
        e->next->prev = e->prev;
    else
        c->tail = e->prev;
    e->prev = e->next = NULL;
}

static void lru_push_front(struct kms_dkcache *c, struct entry *e)
{
    e->prev = NULL;
    e->next = c->head;
    if (c->head != NULL)
        c->head->prev = e;
    c->head = e;
    if (c->tail == NULL)
        c->tail = e;
}

static struct entry *find(const struct kms_dkcache *c, const uint8_t *digest)
{
    for (struct entry *e = c->buckets[bucket_of(c, digest)]; e != NULL; e = e->chain) {
        if (memcmp(e->digest, digest, CF_SHA256_LEN) == 0)
            return e;
    }
    return NULL;
}

/* Unlinks e from its bucket and the LRU list and frees it (cleansed). */
static void remove_entry(struct kms_dkcache *c, struct entry *e)
{
    struct entry **pp = &c->buckets[bucket_of(c, e->digest)];
    while (*pp != e)
        pp = &(*pp)->chain;
    *pp = e->chain;
    lru_unlink(c, e);
    c->entries--;
    entry_free(e);
}

void kms_dkcache_free(struct kms_dkcache *c)
{
    if (c == NULL)
        return;
    kms_dkcache_clear(c);
    pthread_mutex_destroy(&c->lock);
    free(c->buckets);
    free(c);
}

int kms_dkcache_digest(const uint8_t *blob, size_t blob_len, const struct kms_context *ctx,
                       uint8_t out[CF_SHA256_LEN])
{
    struct cf_buf canon = { 0 };
    uint8_t len_be[8];

    for (size_t i = 0; i < 8; i++) /* the blob's length keeps blob || context unambiguous */
        len_be[i] = (uint8_t)(blob_len >> (56 - 8 * i));
    kms_context_canonical(ctx, &canon);
    const struct cf_sha256_part parts[] = { { len_be, sizeof(len_be) },
                                            { blob, blob_len },
                                            { canon.data, canon.len } };
    int r = cf_sha256_parts(parts, 3, out);
    cf_buf_free(&canon);
    return r;
}

int kms_dkcache_get(struct kms_dkcache *c, const uint8_t digest[CF_SHA256_LEN],
                    struct cf_secret *key_out)
{
    int r = CF_ENOTFOUND;

    *key_out = (struct cf_secret){ 0 };
    if (c == NULL)
        return CF_ENOTFOUND;
    pthread_mutex_lock(&c->lock);
    struct entry *e = find(c, digest);
    if (e != NULL && c->now_ms() - e->born_ms >= c->ttl_ms) {
        remove_entry(c, e); /* expired */
        c->evictions++;
        e = NULL;
    }
    if (e != NULL) {
        lru_unlink(c, e);
        lru_push_front(c, e);
        r = cf_secret_dup(key_out, e->key, e->key_len); /* a copy: nothing outlives the lock */
    }
    if (r == 0)
        c->hits++;
    else
        c->misses++;
    pthread_mutex_unlock(&c->lock);
    return r;
}

void kms_dkcache_put(struct kms_dkcache *c, const uint8_t digest[CF_SHA256_LEN],
                     const struct cf_secret *key)
{
    if (c == NULL || c->max_entries == 0 || key->len > KMS_DATA_KEY_LEN)
        return;
    struct entry *fresh = cf_xcalloc(1, sizeof(*fresh));
    memcpy(fresh->digest, digest, CF_SHA256_LEN);
    memcpy(fresh->key, key->data, key->len);
    fresh->key_len = key->len;
    pthread_mutex_lock(&c->lock);
    fresh->born_ms = c->now_ms();
    struct entry *old = find(c, digest);
    if (old != NULL)
        remove_entry(c, old);
    while (c->entries >= c->max_entries && c->tail != NULL) {
        remove_entry(c, c->tail);
        c->evictions++;
    }
    size_t b = bucket_of(c, digest);
    fresh->chain = c->buckets[b];
    c->buckets[b] = fresh;
    lru_push_front(c, fresh);
    c->entries++;
    pthread_mutex_unlock(&c->lock);
}

void kms_dkcache_clear(struct kms_dkcache *c)
{
    if (c == NULL)
        return;
    pthread_mutex_lock(&c->lock);
    while (c->head != NULL)
        remove_entry(c, c->head);
    pthread_mutex_unlock(&c->lock);
}

void kms_dkcache_stats(struct kms_dkcache *c, struct kms_dkcache_stats *out)
{
    *out = (struct kms_dkcache_stats){ 0 };
    if (c == NULL)
        return;
    pthread_mutex_lock(&c->lock);
    out->hits = c->hits;
    out->misses = c->misses;
    out->evictions = c->evictions;
    out->entries = c->entries;
    pthread_mutex_unlock(&c->lock);
}

void kms_dkcache_set_clock(struct kms_dkcache *c, int64_t (*now_ms)(void))
{
    pthread_mutex_lock(&c->lock);
    c->now_ms = now_ms != NULL ? now_ms : cf_mono_ms;
    pthread_mutex_unlock(&c->lock);
}
