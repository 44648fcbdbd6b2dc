/*
 * cf_lru.c - a hash table of entries threaded on a doubly linked LRU list.
 *
 * Every field of struct cf_lru is guarded by its lock. Entries carry their value inline and
 * are cleansed whole before free().
 */
#include "cf_lru.h"

#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/crypto.h>

#include "cf_mem.h"

struct entry {
    uint8_t key[CF_LRU_KEY_LEN];
    int64_t expires_at;
    struct entry *prev, *next; /* LRU list: head = most recently used */
    struct entry *chain;       /* hash bucket chain */
    size_t size;               /* of this allocation, for the wipe */
    uint8_t value[];
};

struct cf_lru {
    pthread_mutex_t lock; /* guards every field below */
    struct entry **buckets;
    size_t nbuckets; /* a power of two */
    struct entry *head, *tail;
    size_t entries, max_entries, value_len;
    uint64_t hits, misses, evictions;
};

int cf_lru_new(size_t max_entries, size_t value_len, struct cf_lru **out)
{
    *out = NULL;
    if (max_entries > 100000000 || value_len == 0 || value_len > 65536)
        return CF_EINVAL;
    struct cf_lru *m = cf_xcalloc(1, sizeof(*m));
    m->max_entries = max_entries;
    m->value_len = value_len;
    m->nbuckets = 16;
    while (m->nbuckets < max_entries * 2)
        m->nbuckets *= 2;
    m->buckets = cf_xcalloc(m->nbuckets, sizeof(struct entry *));
    pthread_mutex_init(&m->lock, NULL);
    *out = m;
    return 0;
}

static size_t bucket_of(const struct cf_lru *m, const uint8_t *key)
{
    uint64_t h;
    memcpy(&h, key, sizeof(h)); /* keys are digests: their first bytes are uniform */
    return (size_t)(h & (m->nbuckets - 1));
}

static void lru_unlink(struct cf_lru *m, struct entry *e)
{
    if (e->prev != NULL) {
        e->prev->next = e->next;
    } else {
        m->head = e->next;
    }
    if (e->next != NULL) {
        e->next->prev = e->prev;
    } else {
        m->tail = e->prev;
    }
    e->prev = e->next = NULL;
}

static void lru_push_front(struct cf_lru *m, struct entry *e)
{
    e->prev = NULL;
    e->next = m->head;
    if (m->head != NULL)
        m->head->prev = e;
    m->head = e;
    if (m->tail == NULL)
        m->tail = e;
}

static struct entry *find(const struct cf_lru *m, const uint8_t *key)
{
    /* keys are digests of bearer tokens and of kmsauth tokens: compared in constant time */
    for (struct entry *e = m->buckets[bucket_of(m, key)]; e != NULL; e = e->chain) {
        if (CRYPTO_memcmp(e->key, key, CF_LRU_KEY_LEN) == 0)
            return e;
    }
    return NULL;
}

/* Unlinks e from its bucket and the list, cleanses and frees it. */
static void remove_entry(struct cf_lru *m, struct entry *e)
{
    struct entry **pp = &m->buckets[bucket_of(m, e->key)];
    while (*pp != e)
        pp = &(*pp)->chain;
    *pp = e->chain;
    lru_unlink(m, e);
    m->entries--;
    OPENSSL_cleanse(e, e->size);
    free(e);
}

void cf_lru_free(struct cf_lru *m)
{
    if (m == NULL)
        return;
    cf_lru_clear(m);
    pthread_mutex_destroy(&m->lock);
    free(m->buckets);
    free(m);
}

int cf_lru_get(struct cf_lru *m, const uint8_t key[CF_LRU_KEY_LEN], int64_t now, void *value_out)
{
    int r = CF_ENOTFOUND;

    pthread_mutex_lock(&m->lock);
    struct entry *e = find(m, key);
    if (e != NULL && now >= e->expires_at) {
        remove_entry(m, e);
        m->evictions++;
        e = NULL;
    }
    if (e != NULL) {
        lru_unlink(m, e);
        lru_push_front(m, e);
        memcpy(value_out, e->value, m->value_len);
        r = 0;
        m->hits++;
    } else {
        m->misses++;
    }
    pthread_mutex_unlock(&m->lock);
    return r;
}

void cf_lru_put(struct cf_lru *m, const uint8_t key[CF_LRU_KEY_LEN], const void *value,
                int64_t expires_at)
{
    if (m == NULL || m->max_entries == 0)
        return;
    size_t size = sizeof(struct entry) + m->value_len;
    struct entry *fresh = cf_xcalloc(1, size);
    memcpy(fresh->key, key, CF_LRU_KEY_LEN);
    memcpy(fresh->value, value, m->value_len);
    fresh->expires_at = expires_at;
    fresh->size = size;
    pthread_mutex_lock(&m->lock);
    struct entry *old = find(m, key);
    if (old != NULL)
        remove_entry(m, old);
    while (m->entries >= m->max_entries && m->tail != NULL) {
        remove_entry(m, m->tail);
        m->evictions++;
    }
    size_t b = bucket_of(m, key);
    fresh->chain = m->buckets[b];
    m->buckets[b] = fresh;
    lru_push_front(m, fresh);
    m->entries++;
    pthread_mutex_unlock(&m->lock);
}

void cf_lru_remove(struct cf_lru *m, const uint8_t key[CF_LRU_KEY_LEN])
{
    if (m == NULL)
        return;
    pthread_mutex_lock(&m->lock);
    struct entry *e = find(m, key);
    if (e != NULL)
        remove_entry(m, e);
    pthread_mutex_unlock(&m->lock);
}

void cf_lru_clear(struct cf_lru *m)
{
    if (m == NULL)
        return;
    pthread_mutex_lock(&m->lock);
    while (m->head != NULL)
        remove_entry(m, m->head);
    pthread_mutex_unlock(&m->lock);
}

void cf_lru_stats(struct cf_lru *m, struct cf_lru_stats *out)
{
    *out = (struct cf_lru_stats){ 0 };
    if (m == NULL)
        return;
    pthread_mutex_lock(&m->lock);
    out->hits = m->hits;
    out->misses = m->misses;
    out->evictions = m->evictions;
    out->entries = m->entries;
    pthread_mutex_unlock(&m->lock);
}
