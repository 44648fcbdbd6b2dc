/*
 * svc_ratelimit.h - failed authentication, counted per client address (see svc_ratelimit.c).
 */
#ifndef SVC_RATELIMIT_H
#define SVC_RATELIMIT_H

#include <stdbool.h>
#include <stdint.h>

struct svc_ratelimit;

/* A limiter allowing each address burst failures at once and per_minute more a minute;
 * per_minute 0 turns it off (nothing is ever limited). Free with svc_ratelimit_free(). */
struct svc_ratelimit *svc_ratelimit_new(int64_t per_minute, int64_t burst);

void svc_ratelimit_free(struct svc_ratelimit *rl);

/* True if addr has used up its failures: its next credentials are then taken only if they are
 * already proven and cached. now_ms: a monotonic clock. Thread-safe. */
bool svc_ratelimit_limited(struct svc_ratelimit *rl, const char *addr, int64_t now_ms);

/* Counts one failed authentication of addr. Thread-safe. */
void svc_ratelimit_failure(struct svc_ratelimit *rl, const char *addr, int64_t now_ms);

/* Counts one request refused because its address was limited (for /metrics), and returns
 * the seconds until the address may try an unproven credential again. */
int64_t svc_ratelimit_refused(struct svc_ratelimit *rl);

/* Requests refused so far. */
uint64_t svc_ratelimit_refusals(const struct svc_ratelimit *rl);

#endif
