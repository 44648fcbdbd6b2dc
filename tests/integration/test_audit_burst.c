/* test_audit_burst.c - group commit under load (API.md 8.2, issue 7): client threads on
 * keep-alive connections make thousands of requests at once; afterwards there is exactly one row
 * per request, the chain verifies (GET /v1/audit/verify, `cofferd audit verify`, and a client
 * walk), and /metrics shows the batch sizes (printed, not asserted: they depend on timing). A
 * second node with COFFER_AUDIT_BATCH_WAIT_MS=50 appends to the same chain beside the first one,
 * and there some batch must hold more than one row. */
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <cmocka.h>
#include <curl/curl.h>
#include <jansson.h>

#include "cf_codec.h"
#include "cf_json.h"
#include "taudit.h"

#define THREADS           8
#define PER_THREAD        300 /* 2,400 requests in the burst */
#define TWO_NODE_PER_THR  40  /* 320 more, half of them on each node */
#define BATCH_BUCKETS_MAX 16

/* One client thread: n requests on one keep-alive handle, alternating who-am-I and a credential
 * read with its pairs. No cmocka call here: results are checked on the main thread. */
struct burst_thread {
    const char *base_url;
    const char *auth;
    const char *cred;
    size_t n;
    long *status;      /* n answers (-1: no answer) */
    char (*rid)[33];   /* n X-Request-Id values ("" if none) */
    size_t pairs_seen; /* credential reads whose body held the pairs */
    const char *canary;
    pthread_barrier_t *start;
};

struct header_sink {
    char rid[33];
};

static size_t on_header(char *p, size_t size, size_t n, void *userdata)
{
    struct header_sink *s = userdata;
    size_t len = size * n;
    static const char name[] = "X-Request-Id:";

    if (len > sizeof(name) - 1 && strncasecmp(p, name, sizeof(name) - 1) == 0) {
        const char *v = p + sizeof(name) - 1;
        while (v < p + len && *v == ' ')
            v++;
        size_t vlen = (size_t)(p + len - v);
        while (vlen > 0 && (v[vlen - 1] == '\r' || v[vlen - 1] == '\n'))
            vlen--;
        if (vlen == 32) {
            memcpy(s->rid, v, 32);
            s->rid[32] = '\0';
        }
    }
    return len;
}

static size_t on_body(char *p, size_t size, size_t n, void *userdata)
{
    cf_buf_append(userdata, p, size * n);
    return size * n;
}

static void *burst_run(void *arg)
{
    struct burst_thread *t = arg;
    struct curl_slist *hl = curl_slist_append(NULL, t->auth);
    char who[256], cred[256];
    struct cf_buf body = { 0 };
    CURL *h = curl_easy_init();

    snprintf(who, sizeof(who), "%s/v1/user/email", t->base_url);
    snprintf(cred, sizeof(cred), "%s/v1/credentials/%s", t->base_url, t->cred);
    curl_easy_setopt(h, CURLOPT_HTTPHEADER, hl);
    curl_easy_setopt(h, CURLOPT_TIMEOUT, 60L);
    curl_easy_setopt(h, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(h, CURLOPT_WRITEFUNCTION, on_body);
    curl_easy_setopt(h, CURLOPT_WRITEDATA, &body);
    curl_easy_setopt(h, CURLOPT_HEADERFUNCTION, on_header);
    pthread_barrier_wait(t->start);
    for (size_t i = 0; i < t->n; i++) {
        struct header_sink sink = { "" };
        long code = -1;
        curl_easy_setopt(h, CURLOPT_HEADERDATA, &sink);
        curl_easy_setopt(h, CURLOPT_URL, i % 2 == 0 ? who : cred);
        cf_buf_reset(&body);
        if (curl_easy_perform(h) == CURLE_OK)
            curl_easy_getinfo(h, CURLINFO_RESPONSE_CODE, &code);
        t->status[i] = code;
        memcpy(t->rid[i], sink.rid, sizeof(sink.rid));
        cf_buf_append(&body, "", 0);
        if (i % 2 == 1 && code == 200 && strstr(body.data, t->canary) != NULL)
            t->pairs_seen++;
    }
    cf_buf_free(&body);
    curl_slist_free_all(hl);
    curl_easy_cleanup(h);
    return NULL;
}

/* The requests of one burst and their answers. */
struct burst {
    size_t total;
    long *status;
    char (*rid)[33];
    size_t pairs_seen;
};

/* Runs THREADS threads, thread i against urls[i % nurls], per_thread requests each. */
static void burst_go(const char *const *urls, size_t nurls, const char *auth, const char *cred,
                     const char *canary, size_t per_thread, struct burst *b)
{
    struct burst_thread th[THREADS];
    pthread_t tid[THREADS];
    pthread_barrier_t start;

    b->total = THREADS * per_thread;
    b->status = calloc(b->total, sizeof(*b->status));
    b->rid = calloc(b->total, sizeof(*b->rid));
    b->pairs_seen = 0;
    assert_non_null(b->status);
    assert_non_null(b->rid);
    curl_global_init(CURL_GLOBAL_DEFAULT); /* before any thread, as libcurl asks */
    assert_int_equal(pthread_barrier_init(&start, NULL, THREADS), 0);
    for (size_t i = 0; i < THREADS; i++) {
        th[i] = (struct burst_thread){ .base_url = urls[i % nurls],
                                       .auth = auth,
                                       .cred = cred,
                                       .n = per_thread,
                                       .status = b->status + i * per_thread,
                                       .rid = b->rid + i * per_thread,
                                       .canary = canary,
                                       .start = &start };
        assert_int_equal(pthread_create(&tid[i], NULL, burst_run, &th[i]), 0);
    }
    for (size_t i = 0; i < THREADS; i++) {
        pthread_join(tid[i], NULL);
        b->pairs_seen += th[i].pairs_seen;
    }
    pthread_barrier_destroy(&start);
}

static void burst_free(struct burst *b)
{
    free(b->status);
    free(b->rid);
}

/* Every answer 200, every request id distinct, and the rows above before are exactly these
 * requests, one each. */
static void check_one_row_each(const struct taudit *f, const struct burst *b, int64_t before)
{
    struct cf_buf sql = { 0 };
    size_t bad = 0;

    for (size_t i = 0; i < b->total; i++)
        if (b->status[i] != 200 || !cf_is_lower_hex(b->rid[i], 32))
            bad++;
    if (bad > 0)
        fail_msg("%zu of %zu answers were not 200 with an X-Request-Id (first status %ld)", bad,
                 b->total, b->status[0]);
    assert_int_equal(b->pairs_seen, b->total / 2); /* every credential read held its pairs */
    int64_t after = taudit_max_id(f);
    if (after - before != (int64_t)b->total)
        fail_msg("%zu requests, %lld new rows (API.md 8.2: exactly one each)", b->total,
                 (long long)(after - before));
    assert_int_equal(cf_buf_printf(&sql,
                                   "SELECT count(DISTINCT request_id) FROM audit_log WHERE id > "
                                   "%lld AND request_id = ANY('{",
                                   (long long)before),
                     0);
    for (size_t i = 0; i < b->total; i++)
        assert_int_equal(cf_buf_printf(&sql, "%s%s", i > 0 ? "," : "", b->rid[i]), 0);
    cf_buf_append_str(&sql, "}'::text[])");
    long matched = tapi_count(&f->api, sql.data);
    cf_buf_free(&sql);
    if (matched != (long)b->total)
        fail_msg("%ld of the %zu request ids have a row among the new ones", matched, b->total);
    char *q = tapi_printf("SELECT count(*) FROM audit_log WHERE id > %lld AND actor = '%s' AND "
                          "result = 'allowed' AND action IN ('identity.get', 'credential.get')",
                          (long long)before, TAPI_ADMIN_ACTOR);
    assert_int_equal(tapi_count(&f->api, q), (long)b->total);
    free(q);
}

/* The whole chain verifies three ways: the server, cofferd audit verify, and a client walk. */
static void check_chain(const struct taudit *f)
{
    struct cf_buf out = { 0 };

    json_t *v = taudit_verify(f, "");
    if (!tapi_bool(v, "ok")) {
        char *s = json_dumps(v, JSON_COMPACT);
        fail_msg("GET /v1/audit/verify after the burst: %s", s);
    }
    json_decref(v);
    int rc = taudit_cli_verify(&f->api.db, NULL, &out);
    if (rc != 0)
        fail_msg("cofferd audit verify after the burst exited %d: %s", rc, out.data);
    cf_buf_free(&out);
    json_t *evs = taudit_events_all(f, f->api.auditor, "order=asc", 1000, NULL);
    char *d = taudit_chain_diff(evs, 1, TAUDIT_ZEROS);
    if (d != NULL)
        fail_msg("the chain as a client recomputes it: %s", d);
    json_decref(evs);
}

/* The batch-size histogram of a node: counts per bucket (cumulative), sum and count. */
struct batch_hist {
    double le[BATCH_BUCKETS_MAX];
    double cum[BATCH_BUCKETS_MAX];
    size_t n;
    double sum, count;
};

static void batch_hist(const struct t_cofferd *d, struct batch_hist *h)
{
    struct cf_buf text = { 0 };
    static const char bucket[] = "coffer_audit_batch_size_bucket{le=\"";

    *h = (struct batch_hist){ 0 };
    taudit_metrics_text(d, &text);
    for (const char *p = strstr(text.data, bucket); p != NULL; p = strstr(p + 1, bucket)) {
        const char *le = p + sizeof(bucket) - 1;
        const char *val = strstr(le, "} ");
        if (val == NULL || h->n >= BATCH_BUCKETS_MAX)
            break;
        h->le[h->n] = strncmp(le, "+Inf", 4) == 0 ? 1e300 : strtod(le, NULL);
        h->cum[h->n] = strtod(val + 2, NULL);
        h->n++;
    }
    cf_buf_free(&text);
    if (!taudit_metric(d, "coffer_audit_batch_size_sum", &h->sum) ||
        !taudit_metric(d, "coffer_audit_batch_size_count", &h->count) || h->n == 0)
        fail_msg("GET /metrics has no coffer_audit_batch_size histogram");
}

/* Prints the batches between two readings: how many had how many rows. */
static void print_batches(const char *what, const struct batch_hist *a, const struct batch_hist *b)
{
    char line[1024];
    size_t used = 0;
    double prev_a = 0, prev_b = 0, prev_le = 0;

    for (size_t i = 0; i < b->n && i < a->n; i++) {
        double n = (b->cum[i] - prev_b) - (a->cum[i] - prev_a);
        if (n > 0 && used < sizeof(line) - 64) {
            if (b->le[i] > 1e299)
                used +=
                    (size_t)snprintf(line + used, sizeof(line) - used, " >%.0f:%.0f", prev_le, n);
            else
                used += (size_t)snprintf(line + used, sizeof(line) - used, " %.0f-%.0f:%.0f",
                                         prev_le + 1, b->le[i], n);
        }
        prev_a = a->cum[i];
        prev_b = b->cum[i];
        prev_le = b->le[i];
    }
    line[used] = '\0';
    print_message("%s: %.0f rows in %.0f batches (mean %.2f); batches by rows:%s\n", what,
                  b->sum - a->sum, b->count - a->count,
                  b->count > a->count ? (b->sum - a->sum) / (b->count - a->count) : 0.0, line);
}

static void make_cred(const struct taudit *f, char id[TAPI_ID_LEN], char *canary, size_t cap)
{
    char name[64];
    tapi_name(name, sizeof(name), "burst-");
    tapi_name(canary, cap, "burst-canary-");
    char *pairs = tapi_printf("{\"password\": \"%s\"}", canary);
    tapi_cred_new(&f->api, name, pairs, id);
    free(pairs);
}

static void
test_a_burst_of_concurrent_requests_writes_one_row_each_and_the_chain_verifies(void **state)
{
    struct taudit *f = *state;
    char id[TAPI_ID_LEN], canary[64];
    struct batch_hist h0, h1;
    struct burst b;

    make_cred(f, id, canary, sizeof(canary));
    batch_hist(&f->api.d, &h0);
    int64_t before = taudit_max_id(f);
    const char *urls[] = { f->api.d.base_url };
    burst_go(urls, 1, f->api.admin, id, canary, PER_THREAD, &b);
    batch_hist(&f->api.d, &h1);
    print_batches("burst, COFFER_AUDIT_BATCH_WAIT_MS=0", &h0, &h1);
    check_one_row_each(f, &b, before);
    /* every row was counted in some batch of this node */
    assert_true(h1.sum - h0.sum == (double)b.total);
    burst_free(&b);
    check_chain(f);
}

static void test_two_nodes_append_to_one_chain_and_a_batch_wait_groups_rows(void **state)
{
    struct taudit *f = *state;
    char id[TAPI_ID_LEN], canary[64];
    char *const wait[] = { "COFFER_AUDIT_BATCH_WAIT_MS=50", NULL };
    struct t_cofferd second;
    struct batch_hist a0, a1, b0, b1;
    struct burst b;

    make_cred(f, id, canary, sizeof(canary));
    taudit_start_node(f, &second, wait);
    batch_hist(&f->api.d, &a0);
    batch_hist(&second, &b0);
    int64_t before = taudit_max_id(f);
    const char *urls[] = { f->api.d.base_url, second.base_url };
    burst_go(urls, 2, f->api.admin, id, canary, TWO_NODE_PER_THR, &b);
    batch_hist(&f->api.d, &a1);
    batch_hist(&second, &b1);
    print_batches("two nodes, first (wait 0)", &a0, &a1);
    print_batches("two nodes, second (COFFER_AUDIT_BATCH_WAIT_MS=50)", &b0, &b1);
    check_one_row_each(f, &b, before);
    burst_free(&b);
    assert_int_equal(t_cofferd_stop(&second), 0);
    check_chain(f);
    /* four clients in flight and a first row that waits 50 ms for company: some batch on the
     * second node held more than one row */
    assert_true(b1.sum - b0.sum == (double)(THREADS / 2 * TWO_NODE_PER_THR));
    if (!(b1.count - b0.count < b1.sum - b0.sum))
        fail_msg("with COFFER_AUDIT_BATCH_WAIT_MS=50 every one of %.0f batches held one row",
                 b1.count - b0.count);
}

/* Asks GET /v1/audit/verify again and again until told to stop (at most VERIFY_MAX times),
 * counting the answers that were not {"ok": true}. No cmocka call here. */
#define VERIFY_MAX 400

struct verify_thread {
    const char *base_url;
    const char *auth;
    volatile int stop; /* set by the main thread once the burst is over */
    size_t calls, not_ok;
    char first_bad[256];
};

static void *verify_run(void *arg)
{
    struct verify_thread *t = arg;
    struct curl_slist *hl = curl_slist_append(NULL, t->auth);
    struct cf_buf body = { 0 };
    char url[256];
    CURL *h = curl_easy_init();

    snprintf(url, sizeof(url), "%s/v1/audit/verify", t->base_url);
    curl_easy_setopt(h, CURLOPT_URL, url);
    curl_easy_setopt(h, CURLOPT_HTTPHEADER, hl);
    curl_easy_setopt(h, CURLOPT_TIMEOUT, 60L);
    curl_easy_setopt(h, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(h, CURLOPT_WRITEFUNCTION, on_body);
    curl_easy_setopt(h, CURLOPT_WRITEDATA, &body);
    while (!__atomic_load_n(&t->stop, __ATOMIC_ACQUIRE) && t->calls < VERIFY_MAX) {
        cf_buf_reset(&body);
        bool done = curl_easy_perform(h) == CURLE_OK;
        cf_buf_append(&body, "", 1);
        t->calls++;
        if (!done || strstr(body.data, "\"ok\":true") == NULL) {
            if (t->not_ok++ == 0)
                snprintf(t->first_bad, sizeof(t->first_bad), "%s", done ? body.data : "no answer");
        }
    }
    cf_buf_free(&body);
    curl_slist_free_all(hl);
    curl_easy_cleanup(h);
    return NULL;
}

/* The chain walk sees one snapshot: rows appended while it runs (its own row among them) never
 * make an intact log look broken (once the head moved on during the walk: head_mismatch). */
static void test_verify_while_rows_are_appended_says_intact_every_time(void **state)
{
    struct taudit *f = *state;
    char id[TAPI_ID_LEN], canary[64];
    struct verify_thread v = { .base_url = f->api.d.base_url, .auth = f->api.auditor };
    pthread_t tid;
    struct burst b;

    make_cred(f, id, canary, sizeof(canary));
    curl_global_init(CURL_GLOBAL_DEFAULT);
    assert_int_equal(pthread_create(&tid, NULL, verify_run, &v), 0);
    const char *urls[] = { f->api.d.base_url };
    burst_go(urls, 1, f->api.admin, id, canary, TWO_NODE_PER_THR, &b);
    __atomic_store_n(&v.stop, 1, __ATOMIC_RELEASE);
    pthread_join(tid, NULL);
    burst_free(&b);
    print_message("%zu verifications during the burst\n", v.calls);
    assert_true(v.calls > 0);
    if (v.not_ok > 0)
        fail_msg("%zu of %zu verifications during appends were not ok; the first: %s", v.not_ok,
                 v.calls, v.first_bad);
}

int main(void)
{
    cf_json_init();
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(
            test_a_burst_of_concurrent_requests_writes_one_row_each_and_the_chain_verifies),
        cmocka_unit_test(test_two_nodes_append_to_one_chain_and_a_batch_wait_groups_rows),
        cmocka_unit_test(test_verify_while_rows_are_appended_says_intact_every_time),
    };
    return t_run_group_tests(tests, taudit_setup, taudit_teardown);
}
