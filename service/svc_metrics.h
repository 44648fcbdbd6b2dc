/*
 * svc_metrics.h - counters for GET /metrics (Prometheus text format 0.0.4, API.md 8.5).
 *
 * Labels carry route templates, never ids, names or actors. Counters are relaxed atomics.
 */
#ifndef SVC_METRICS_H
#define SVC_METRICS_H

#include <stdint.h>

#include "svc.h"

/* Counts a finished request (route may be NULL for unmatched paths) and its latency. */
void svc_metrics_request(const struct svc_route *route, const char *method, int status,
                         int64_t duration_us);

/* In-flight requests. */
void svc_metrics_in_flight(int delta);

/* An authentication outcome: method "kmsauth" or "api_token", ok or not, cache hit or not. */
void svc_metrics_auth(const char *method, bool ok, bool cache_hit);

/* An access-log row committed, by its result (allowed, denied, error). */
void svc_metrics_audit_event(const char *result);

/* A bundle answer (200 or 304). */
void svc_metrics_bundle(int status);

/* GET /metrics */
int svc_h_metrics(struct svc_req *req);

#endif
