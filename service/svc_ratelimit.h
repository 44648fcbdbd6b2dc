/*
 * svc_ratelimit.h - failed authentication, counted per client (see svc_ratelimit.c), and the
 * key that names a client for every per-client limit.
 */
#ifndef SVC_RATELIMIT_H
#define SVC_RATELIMIT_H

#include <stdbool.h>
#include <stdint.h>

struct svc_ratelimit;

/* A client key: an IPv4 address as it is ("192.0.2.7"), an IPv6 address as its network of
 * v6_prefix bits ("2001:db8:1:2::/64"; an IPv4-mapped one as its IPv4 address), anything else
 * as it is (bounded). out holds SVC_LIMIT_KEY_MAX bytes. */
#define SVC_LIMIT_KEY_MAX 64
void svc_limit_key(const char *addr, int v6_prefix, char out[SVC_LIMIT_KEY_MAX]);

/* A limiter allowing each address burst failures at once and per_minute more a minute;
 * per_minute 0 turns it off (nothing is ever limited). Free with svc_ratelimit_free(). */
struct svc_ratelimit *svc_ratelimit_new(int64_t per_minute, int64_t burst);

void svc_ratelimit_free(struct svc_ratelimit *rl);

/* True if the client has used up its failures: its failures are then answered 429.
 * now_ms: a monotonic clock. Thread-safe. */
bool svc_ratelimit_limited(struct svc_ratelimit *rl, const char *client, int64_t now_ms);

/* Counts one failed authentication of the client. Thread-safe. */
void svc_ratelimit_failure(struct svc_ratelimit *rl, const char *client, int64_t now_ms);

/* Counts one failure answered 429 (for /metrics), and returns the seconds until the client
 * has a failure to spend again (for Retry-After). */
int64_t svc_ratelimit_refused(struct svc_ratelimit *rl);

/* Requests refused so far. */
uint64_t svc_ratelimit_refusals(const struct svc_ratelimit *rl);

#endif
