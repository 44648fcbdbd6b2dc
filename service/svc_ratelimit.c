/*
 * svc_ratelimit.c - failed authentication per client: a token bucket each.
 *
 * Every failed authentication of a client takes one token from its bucket, which holds burst
 * tokens and refills at per_minute a minute. A client with an empty bucket is not locked out:
 * its credentials are still checked (svc_auth.c), and one that verifies is taken; what changes
 * is that its failures are answered 429 with Retry-After instead of 401. Buckets live in an LRU
 * map keyed by the SHA-256 of the client key, dropped once full again.
 *
 * The client key aggregates IPv6 per network (a /64 by default): a host that rotates its
 * address within its network is still one client.
 */
#include "svc_ratelimit.h"

#include <arpa/inet.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>

#include "cf_crypto.h"
#include "cf_lru.h"
#include "cf_mem.h"
#include "cf_str.h"

#define BUCKETS_MAX 65536 /* addresses tracked at once; the least recently seen go first */

static double dmin(double a, double b)
{
    return a < b ? a : b;
}

/* The smallest integer >= x, for 0 <= x < 2^62 (the times here are far below that). */
static int64_t ceil_pos(double x)
{
    int64_t i = (int64_t)x;
    return (double)i < x ? i + 1 : i;
}

void svc_limit_key(const char *addr, int v6_prefix, char out[SVC_LIMIT_KEY_MAX])
{
    unsigned char a6[16];
    char text[INET6_ADDRSTRLEN];

    if (inet_pton(AF_INET6, addr, a6) == 1) {
        static const unsigned char mapped[12] = { 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff };
        if (memcmp(a6, mapped, sizeof(mapped)) == 0 &&
            inet_ntop(AF_INET, a6 + 12, text, sizeof(text)) != NULL &&
            cf_fmt(out, SVC_LIMIT_KEY_MAX, "%s", text) == 0)
            return;
        int bits = v6_prefix < 0 ? 0 : v6_prefix > 128 ? 128 : v6_prefix;
        for (int i = 0; i < 16; i++) {
            int keep = bits - i * 8; /* bits of byte i inside the prefix */
            if (keep <= 0) {
                a6[i] = 0;
            } else if (keep < 8) {
                a6[i] &= (unsigned char)(0xff << (8 - keep));
            }
        }
        if (inet_ntop(AF_INET6, a6, text, sizeof(text)) != NULL &&
            cf_fmt(out, SVC_LIMIT_KEY_MAX, "%s/%d", text, bits) == 0)
            return;
    }
    /* IPv4 as it is; anything else (never expected) bounded */
    size_t n = strnlen(addr, SVC_LIMIT_KEY_MAX - 1);
    memcpy(out, addr, n);
    out[n] = '\0';
}

struct bucket {
    double tokens;
    int64_t at_ms; /* when tokens was last brought up to date */
};

struct svc_ratelimit {
    pthread_mutex_t lock; /* guards each read-modify-write of a bucket */
    struct cf_lru *buckets;
    double per_ms, burst;
    _Atomic uint64_t refused;
};

struct svc_ratelimit *svc_ratelimit_new(int64_t per_minute, int64_t burst)
{
    struct svc_ratelimit *rl = cf_xcalloc(1, sizeof(*rl));

    pthread_mutex_init(&rl->lock, NULL);
    rl->per_ms = (double)per_minute / 60000.0;
    rl->burst = (double)(burst > 0 ? burst : 1);
    if (per_minute > 0 && cf_lru_new(BUCKETS_MAX, sizeof(struct bucket), &rl->buckets) != 0)
        rl->buckets = NULL; /* cannot happen for these sizes; then nothing is limited */
    return rl;
}

void svc_ratelimit_free(struct svc_ratelimit *rl)
{
    if (rl == NULL)
        return;
    cf_lru_free(rl->buckets);
    pthread_mutex_destroy(&rl->lock);
    free(rl);
}

/* The bucket of key brought up to now (a new address has a full one). Under the lock. */
static struct bucket current(struct svc_ratelimit *rl, const uint8_t key[CF_SHA256_LEN],
                             int64_t now_ms)
{
    struct bucket b;

    if (cf_lru_get(rl->buckets, key, now_ms, &b) != 0)
        return (struct bucket){ .tokens = rl->burst, .at_ms = now_ms };
    if (now_ms > b.at_ms)
        b.tokens = dmin(rl->burst, b.tokens + (double)(now_ms - b.at_ms) * rl->per_ms);
    b.at_ms = now_ms;
    return b;
}

static bool digest_of(const char *client, uint8_t key[CF_SHA256_LEN])
{
    return cf_sha256(client, strlen(client), key) == 0;
}

bool svc_ratelimit_limited(struct svc_ratelimit *rl, const char *client, int64_t now_ms)
{
    uint8_t key[CF_SHA256_LEN];
    bool limited;

    if (rl == NULL || rl->buckets == NULL || !digest_of(client, key))
        return false;
    pthread_mutex_lock(&rl->lock);
    limited = current(rl, key, now_ms).tokens < 1.0;
    pthread_mutex_unlock(&rl->lock);
    return limited;
}

void svc_ratelimit_failure(struct svc_ratelimit *rl, const char *client, int64_t now_ms)
{
    uint8_t key[CF_SHA256_LEN];

    if (rl == NULL || rl->buckets == NULL || !digest_of(client, key))
        return;
    pthread_mutex_lock(&rl->lock);
    struct bucket b = current(rl, key, now_ms);
    b.tokens = b.tokens > 1.0 ? b.tokens - 1.0 : 0.0;
    /* kept until it would be full again: then it is the same as no entry */
    int64_t full_in = ceil_pos((rl->burst - b.tokens) / rl->per_ms);
    cf_lru_put(rl->buckets, key, &b, now_ms + full_in + 1);
    pthread_mutex_unlock(&rl->lock);
}

int64_t svc_ratelimit_refused(struct svc_ratelimit *rl)
{
    atomic_fetch_add_explicit(&rl->refused, 1, memory_order_relaxed);
    return ceil_pos(1.0 / (rl->per_ms * 1000.0));
}

uint64_t svc_ratelimit_refusals(const struct svc_ratelimit *rl)
{
    return rl != NULL ? atomic_load_explicit(&rl->refused, memory_order_relaxed) : 0;
}
