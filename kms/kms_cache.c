/*
 * kms_cache.c - the data-key cache: cf_lru keyed by SHA-256(blob, context), holding data keys
 * until their age reaches the configured TTL.
 */
#include "kms_cache.h"

#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/crypto.h>

#include "cf_lru.h"
#include "cf_mem.h"
#include "cf_time.h"

/* What one entry holds: the data key (cleansed with the entry). */
struct dk_value {
    uint8_t key[KMS_DATA_KEY_LEN];
    size_t len;
};

struct kms_dkcache {
    struct cf_lru *lru;
    int64_t ttl_ms;
    int64_t (*_Atomic now_ms)(void); /* the clock: cf_mono_ms, or a test's */
};

int kms_dkcache_new(size_t max_entries, int64_t ttl_seconds, struct kms_dkcache **out)
{
    struct cf_lru *lru = NULL;
    int r;

    *out = NULL;
    if (ttl_seconds <= 0)
        return CF_EINVAL;
    if ((r = cf_lru_new(max_entries, sizeof(struct dk_value), &lru)) != 0)
        return r;
    struct kms_dkcache *c = cf_xcalloc(1, sizeof(*c));
    c->lru = lru;
    c->ttl_ms = ttl_seconds * 1000;
    atomic_store(&c->now_ms, cf_mono_ms);
    *out = c;
    return 0;
}

void kms_dkcache_free(struct kms_dkcache *c)
{
    if (c == NULL)
        return;
    cf_lru_free(c->lru);
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
    struct dk_value v;
    int r;

    *key_out = (struct cf_secret){ 0 };
    if (c == NULL)
        return CF_ENOTFOUND;
    r = cf_lru_get(c->lru, digest, atomic_load(&c->now_ms)(), &v);
    if (r == 0)
        r = cf_secret_dup(key_out, v.key, v.len);
    OPENSSL_cleanse(&v, sizeof(v));
    return r;
}

void kms_dkcache_put(struct kms_dkcache *c, const uint8_t digest[CF_SHA256_LEN],
                     const struct cf_secret *key)
{
    struct dk_value v = { .len = key->len };

    if (c == NULL || key->len > sizeof(v.key))
        return;
    memcpy(v.key, key->data, key->len);
    cf_lru_put(c->lru, digest, &v, atomic_load(&c->now_ms)() + c->ttl_ms);
    OPENSSL_cleanse(&v, sizeof(v));
}

void kms_dkcache_clear(struct kms_dkcache *c)
{
    if (c != NULL)
        cf_lru_clear(c->lru);
}

void kms_dkcache_stats(struct kms_dkcache *c, struct kms_dkcache_stats *out)
{
    struct cf_lru_stats s;

    *out = (struct kms_dkcache_stats){ 0 };
    if (c == NULL)
        return;
    cf_lru_stats(c->lru, &s);
    *out = (struct kms_dkcache_stats){
        .hits = s.hits, .misses = s.misses, .evictions = s.evictions, .entries = s.entries
    };
}

void kms_dkcache_set_clock(struct kms_dkcache *c, int64_t (*now_ms)(void))
{
    atomic_store(&c->now_ms, now_ms != NULL ? now_ms : cf_mono_ms);
}
