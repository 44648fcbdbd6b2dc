/*
 * svc_metrics.c - the counters behind GET /metrics and their text exposition.
 *
 * Fixed arrays of relaxed atomics indexed by route and status class: no lock on the request
 * path. Gauges that other modules keep (KMS calls, data-key cache, pool) are read at scrape.
 */
#include "svc_metrics.h"

#include <stdatomic.h>
#include <string.h>

#include "cf_str.h"
#include "kms_cache.h"
#include "svc_admit.h"
#include "svc_bundles.h"
#include "svc_gate.h"
#include "svc_ratelimit.h"

#define MAX_ROUTES 128 /* the route table is smaller; the last slot counts unmatched paths */
#define NSTATUS    16
#define NBUCKETS   16

static const int statuses[NSTATUS] = { 200, 201, 304, 400, 401, 403, 404, 405,
                                       409, 413, 415, 431, 500, 501, 503, 0 };
/* microseconds: a warm fetch takes a fraction of a millisecond, a cold one up to seconds */
static const int64_t bucket_us[NBUCKETS] = { 100,     250,     500,     1000,    2500,   5000,
                                             10000,   25000,   50000,   100000,  250000, 500000,
                                             1000000, 2500000, 5000000, 10000000 };

static _Atomic uint64_t requests[MAX_ROUTES][NSTATUS];
static _Atomic uint64_t duration_buckets[MAX_ROUTES][NBUCKETS + 1];
static _Atomic uint64_t duration_sum_us[MAX_ROUTES];
static _Atomic int64_t in_flight;
static _Atomic uint64_t auth_counts[2][2][2]; /* method (kmsauth, api_token), ok, cache hit */
static _Atomic uint64_t bundles[2];           /* 200, 304 */
static _Atomic uint64_t audit_results[3];     /* allowed, denied, error */

static size_t route_slot(const struct svc_route *route)
{
    size_t i = route != NULL ? svc_route_index(route) : MAX_ROUTES - 1;
    return i < MAX_ROUTES - 1 ? i : MAX_ROUTES - 1;
}

static size_t status_slot(int status)
{
    for (size_t i = 0; i + 1 < NSTATUS; i++) {
        if (statuses[i] == status)
            return i;
    }
    return NSTATUS - 1; /* "other" */
}

void svc_metrics_request(const struct svc_route *route, const char *method, int status,
                         int64_t duration_us)
{
    size_t r = route_slot(route), b = 0;
    (void)method; /* a route has one method; unmatched paths are counted together */
    atomic_fetch_add_explicit(&requests[r][status_slot(status)], 1, memory_order_relaxed);
    while (b < NBUCKETS && duration_us > bucket_us[b])
        b++;
    atomic_fetch_add_explicit(&duration_buckets[r][b], 1, memory_order_relaxed);
    atomic_fetch_add_explicit(&duration_sum_us[r], (uint64_t)(duration_us > 0 ? duration_us : 0),
                              memory_order_relaxed);
}

void svc_metrics_in_flight(int delta)
{
    atomic_fetch_add_explicit(&in_flight, delta, memory_order_relaxed);
}

void svc_metrics_auth(const char *method, bool ok, bool cache_hit)
{
    size_t m = strcmp(method, "kmsauth") == 0 ? 0 : 1;
    atomic_fetch_add_explicit(&auth_counts[m][ok][cache_hit], 1, memory_order_relaxed);
}

void svc_metrics_audit_event(const char *result)
{
    size_t i = strcmp(result, "allowed") == 0 ? 0 : strcmp(result, "denied") == 0 ? 1 : 2;
    atomic_fetch_add_explicit(&audit_results[i], 1, memory_order_relaxed);
}

void svc_metrics_bundle(int status)
{
    atomic_fetch_add_explicit(&bundles[status == 304], 1, memory_order_relaxed);
}

static uint64_t load(_Atomic uint64_t *v)
{
    return atomic_load_explicit(v, memory_order_relaxed);
}

static int print_http(struct cf_buf *b)
{
    int r = cf_buf_printf(b, "# TYPE coffer_http_requests_total counter\n");
    for (size_t i = 0; i < MAX_ROUTES && r == 0; i++) {
        const struct svc_route *rt = svc_route_at(i);
        if (rt == NULL && i != MAX_ROUTES - 1)
            continue;
        for (size_t s = 0; s < NSTATUS && r == 0; s++) {
            uint64_t n = load(&requests[i][s]);
            if (n == 0)
                continue;
            r = cf_buf_printf(b,
                              "coffer_http_requests_total{route=\"%s\",method=\"%s\","
                              "code=\"%d\"} %llu\n",
                              rt != NULL ? rt->pattern : "unmatched", rt != NULL ? rt->method : "",
                              statuses[s], (unsigned long long)n);
        }
    }
    return r;
}

static int print_durations(struct cf_buf *b)
{
    int r = cf_buf_printf(b, "# TYPE coffer_http_request_duration_seconds histogram\n");
    for (size_t i = 0; i < MAX_ROUTES && r == 0; i++) {
        const struct svc_route *rt = svc_route_at(i);
        const char *name = rt != NULL ? rt->pattern : "unmatched";
        uint64_t cum = 0;
        for (size_t k = 0; k <= NBUCKETS; k++)
            cum += load(&duration_buckets[i][k]);
        if (cum == 0 || (rt == NULL && i != MAX_ROUTES - 1))
            continue;
        uint64_t acc = 0;
        for (size_t k = 0; k < NBUCKETS && r == 0; k++) {
            acc += load(&duration_buckets[i][k]);
            r = cf_buf_printf(b,
                              "coffer_http_request_duration_seconds_bucket{route=\"%s\","
                              "le=\"%g\"} %llu\n",
                              name, (double)bucket_us[k] / 1e6, (unsigned long long)acc);
        }
        if (r == 0) {
            r = cf_buf_printf(b,
                              "coffer_http_request_duration_seconds_bucket{route=\"%s\","
                              "le=\"+Inf\"} %llu\n"
                              "coffer_http_request_duration_seconds_sum{route=\"%s\"} %g\n"
                              "coffer_http_request_duration_seconds_count{route=\"%s\"} %llu\n",
                              name, (unsigned long long)cum, name,
                              (double)load(&duration_sum_us[i]) / 1e6, name,
                              (unsigned long long)cum);
        }
    }
    return r;
}

static const char *const kms_ops[KMS_OP_COUNT] = { "GenerateDataKey", "Decrypt", "Encrypt",
                                                   "DescribeKey" };

static int print_kms_durations(struct cf_buf *b, const char *op, const struct kms_stats *st,
                               size_t i)
{
    uint64_t acc = 0;
    int r = 0;

    for (size_t k = 0; k < KMS_DURATION_BUCKETS && r == 0; k++) {
        acc += st->duration_buckets[i][k];
        r = cf_buf_printf(b,
                          "coffer_kms_request_duration_seconds_bucket{op=\"%s\",le=\"%g\"} "
                          "%llu\n",
                          op, (double)kms_duration_bucket_ms[k] / 1000.0, (unsigned long long)acc);
    }
    acc += st->duration_buckets[i][KMS_DURATION_BUCKETS];
    if (r == 0) {
        r = cf_buf_printf(b,
                          "coffer_kms_request_duration_seconds_bucket{op=\"%s\",le=\"+Inf\"} "
                          "%llu\ncoffer_kms_request_duration_seconds_sum{op=\"%s\"} %g\n"
                          "coffer_kms_request_duration_seconds_count{op=\"%s\"} %llu\n",
                          op, (unsigned long long)acc, op, (double)st->duration_us[i] / 1e6, op,
                          (unsigned long long)acc);
    }
    return r;
}

static int print_kms(struct cf_buf *b, const struct svc_ctx *ctx)
{
    struct kms_stats st = { 0 };
    struct kms_dkcache_stats cs;
    int r = cf_buf_printf(b, "# TYPE coffer_kms_requests_total counter\n");

    if (ctx->kms != NULL)
        kms_client_stats(ctx->kms, &st);
    for (size_t i = 0; i < KMS_OP_COUNT && r == 0; i++) {
        r = cf_buf_printf(b,
                          "coffer_kms_requests_total{op=\"%s\",result=\"ok\"} %llu\n"
                          "coffer_kms_requests_total{op=\"%s\",result=\"error\"} %llu\n",
                          kms_ops[i], (unsigned long long)st.ok[i], kms_ops[i],
                          (unsigned long long)st.failed[i]);
    }
    if (r == 0)
        r = cf_buf_printf(b, "# TYPE coffer_kms_request_duration_seconds histogram\n");
    for (size_t i = 0; i < KMS_OP_COUNT && r == 0; i++)
        r = print_kms_durations(b, kms_ops[i], &st, i);
    kms_dkcache_stats(ctx->dkcache, &cs);
    if (r == 0) {
        r = cf_buf_printf(b,
                          "# TYPE coffer_datakey_cache_hits_total counter\n"
                          "coffer_datakey_cache_hits_total %llu\n"
                          "# TYPE coffer_datakey_cache_misses_total counter\n"
                          "coffer_datakey_cache_misses_total %llu\n",
                          (unsigned long long)cs.hits, (unsigned long long)cs.misses);
    }
    return r;
}

static int print_auth(struct cf_buf *b)
{
    static const char *const methods[2] = { "kmsauth", "api_token" };
    int r = cf_buf_printf(b, "# TYPE coffer_auth_total counter\n");

    for (size_t m = 0; m < 2; m++) {
        for (size_t ok = 0; ok < 2; ok++) {
            for (size_t hit = 0; hit < 2 && r == 0; hit++) {
                r = cf_buf_printf(b,
                                  "coffer_auth_total{method=\"%s\",result=\"%s\",cache=\"%s\"} "
                                  "%llu\n",
                                  methods[m], ok ? "ok" : "failed", hit ? "hit" : "miss",
                                  (unsigned long long)load(&auth_counts[m][ok][hit]));
            }
        }
    }
    return r;
}

static int print_misc(struct cf_buf *b, const struct svc_ctx *ctx)
{
    size_t idle = 0, busy = 0;
    struct svc_admit_counts adm;

    db_pool_counts(ctx->pool, &idle, &busy);
    svc_admit_counts(ctx->admit, &adm);
    return cf_buf_printf(
        b,
        "# TYPE coffer_build_info gauge\ncoffer_build_info{version=\"%s\"} 1\n"
        "# TYPE coffer_http_in_flight gauge\ncoffer_http_in_flight %lld\n"
        "# TYPE coffer_bundle_responses_total counter\n"
        "coffer_bundle_responses_total{status=\"200\"} %llu\n"
        "coffer_bundle_responses_total{status=\"304\"} %llu\n"
        "# TYPE coffer_db_pool_connections gauge\n"
        "coffer_db_pool_connections{state=\"idle\"} %zu\n"
        "coffer_db_pool_connections{state=\"busy\"} %zu\n"
        "# TYPE coffer_db_errors_total counter\ncoffer_db_errors_total %llu\n"
        "# TYPE coffer_connections_closed_waiting_total counter\n"
        "coffer_connections_closed_waiting_total{reason=\"room\"} %llu\n"
        "coffer_connections_closed_waiting_total{reason=\"busy_deadline\"} %llu\n"
        "coffer_connections_closed_waiting_total{reason=\"per_ip_cap\"} %llu\n"
        "# TYPE coffer_auth_rate_limited_total counter\ncoffer_auth_rate_limited_total %llu\n",
        COFFER_VERSION, (long long)atomic_load_explicit(&in_flight, memory_order_relaxed),
        (unsigned long long)load(&bundles[0]), (unsigned long long)load(&bundles[1]), idle, busy,
        (unsigned long long)db_error_count(), (unsigned long long)adm.room,
        (unsigned long long)adm.deadline, (unsigned long long)adm.per_ip,
        (unsigned long long)svc_ratelimit_refusals(ctx->ratelimit));
}

/* The verify gate (unproven credentials checked at once, fairly) and the failure memory. */
static int print_verify(struct cf_buf *b, const struct svc_ctx *ctx)
{
    struct svc_gate_stats g = { 0 };

    if (ctx->verify_gate != NULL)
        svc_gate_stats(ctx->verify_gate, &g);
    return cf_buf_printf(
        b,
        "# TYPE coffer_auth_verifications_total counter\n"
        "coffer_auth_verifications_total{turn=\"at_once\"} %llu\n"
        "coffer_auth_verifications_total{turn=\"after_waiting\"} %llu\n"
        "# TYPE coffer_auth_verify_overloaded_total counter\n"
        "coffer_auth_verify_overloaded_total %llu\n"
        "# TYPE coffer_auth_verifications_in_flight gauge\n"
        "coffer_auth_verifications_in_flight %zu\n"
        "# TYPE coffer_auth_failures_remembered_total counter\n"
        "coffer_auth_failures_remembered_total %llu\n",
        (unsigned long long)(g.passed - g.waited), (unsigned long long)g.waited,
        (unsigned long long)g.timed_out, g.inside,
        (unsigned long long)(ctx->auth != NULL ? auth_failures_remembered(ctx->auth) : 0));
}

static int print_audit(struct cf_buf *b, const struct svc_ctx *ctx)
{
    struct audit_writer_stats st = { 0 };
    uint64_t acc = 0;

    if (ctx->audit != NULL)
        audit_writer_stats(ctx->audit, &st);
    int r = cf_buf_printf(b,
                          "# TYPE coffer_audit_events_total counter\n"
                          "coffer_audit_events_total{result=\"allowed\"} %llu\n"
                          "coffer_audit_events_total{result=\"denied\"} %llu\n"
                          "coffer_audit_events_total{result=\"error\"} %llu\n"
                          "# TYPE coffer_audit_write_failures_total counter\n"
                          "coffer_audit_write_failures_total %llu\n"
                          "# TYPE coffer_audit_head_id gauge\ncoffer_audit_head_id %lld\n"
                          "# TYPE coffer_audit_batch_size histogram\n",
                          (unsigned long long)load(&audit_results[0]),
                          (unsigned long long)load(&audit_results[1]),
                          (unsigned long long)load(&audit_results[2]),
                          (unsigned long long)st.failures, (long long)st.head_id);
    for (size_t i = 0; i < AUDIT_BATCH_BUCKETS && r == 0; i++) {
        acc += st.batch_sizes[i];
        if (i + 1 < AUDIT_BATCH_BUCKETS) {
            r = cf_buf_printf(b, "coffer_audit_batch_size_bucket{le=\"%zu\"} %llu\n",
                              (size_t)1 << i, (unsigned long long)acc);
        }
    }
    if (r == 0) {
        r = cf_buf_printf(b,
                          "coffer_audit_batch_size_bucket{le=\"+Inf\"} %llu\n"
                          "coffer_audit_batch_size_sum %llu\n"
                          "coffer_audit_batch_size_count %llu\n",
                          (unsigned long long)acc, (unsigned long long)st.rows,
                          (unsigned long long)st.batches);
    }
    return r;
}

static int print_bundle_cache(struct cf_buf *b, const struct svc_ctx *ctx)
{
    struct svc_bundles_stats st;

    svc_bundles_stats(ctx->bundles, &st);
    return cf_buf_printf(
        b,
        "# TYPE coffer_bundle_cache_hits_total counter\ncoffer_bundle_cache_hits_total %llu\n"
        "# TYPE coffer_bundle_cache_misses_total counter\ncoffer_bundle_cache_misses_total %llu\n"
        "# TYPE coffer_bundle_cache_rebuilds_total counter\n"
        "coffer_bundle_cache_rebuilds_total{reason=\"catalog_version\"} %llu\n"
        "# TYPE coffer_bundle_cache_evictions_total counter\n"
        "coffer_bundle_cache_evictions_total %llu\n"
        "# TYPE coffer_bundle_cache_entries gauge\ncoffer_bundle_cache_entries %zu\n"
        "# TYPE coffer_bundle_cache_bytes gauge\ncoffer_bundle_cache_bytes %zu\n",
        (unsigned long long)st.hits, (unsigned long long)st.misses, (unsigned long long)st.rebuilds,
        (unsigned long long)st.evictions, st.entries, st.bytes);
}

int svc_h_metrics(struct svc_req *req)
{
    struct cf_buf b = { 0 };
    int r = print_misc(&b, req->ctx);

    if (r == 0)
        r = print_audit(&b, req->ctx);
    if (r == 0)
        r = print_bundle_cache(&b, req->ctx);
    if (r == 0)
        r = print_http(&b);
    if (r == 0)
        r = print_durations(&b);
    if (r == 0)
        r = print_auth(&b);
    if (r == 0)
        r = print_verify(&b, req->ctx);
    if (r == 0)
        r = print_kms(&b, req->ctx);
    if (r != 0) {
        cf_buf_free(&b);
        return svc_reply_error(req, SVC_INTERNAL_ERROR, NULL, NULL);
    }
    int status =
        svc_reply_text(req, 200, "text/plain; version=0.0.4; charset=utf-8", b.data, b.len);
    cf_buf_free(&b);
    return status;
}
