/* test_audit_outage.c - fail closed through a PostgreSQL outage (API.md 8.2, issue 7): client
 * threads keep fetching a bundle that holds a canary secret while the cluster is stopped and
 * started again. Every answer is 200 with its row or 503 with no secret; every request made
 * entirely while the cluster was down is a 503; after the cluster starts, fetches succeed again
 * from the same cofferd process, and the chain still verifies. Runs alone (RUN_SERIAL): it stops
 * the cluster every other test uses. */
#include <pthread.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include <cmocka.h>
#include <curl/curl.h>
#include <jansson.h>

#include "cf_codec.h"
#include "cf_json.h"
#include "taudit.h"

#define CLIENTS     4
#define MAX_PER_CLI 4000 /* a bound, never reached: the phases end long before */

/* Where the cluster is; each request records the phase at its start and at its end. */
enum phase { UP = 0, STOPPING = 1, DOWN = 2, STARTING = 3, BACK = 4 };
static _Atomic int phase;
static _Atomic int stop_clients;

struct answer {
    int start_phase, end_phase;
    long status; /* -1: no answer */
    char rid[33];
    bool canary_seen; /* the canary in clear in the body */
    char *body;       /* kept for answers other than 200 (free() it) */
};

struct client {
    const char *url;
    const char *auth;
    const char *canary;
    struct answer *answers;
    _Atomic size_t n;
};

struct sink {
    char rid[33];
};

static size_t on_header(char *p, size_t size, size_t n, void *userdata)
{
    struct sink *s = userdata;
    size_t len = size * n;
    static const char name[] = "X-Request-Id:";

    if (len > sizeof(name) - 1 && strncasecmp(p, name, sizeof(name) - 1) == 0) {
        const char *v = p + sizeof(name) - 1;
        while (v < p + len && *v == ' ')
            v++;
        if ((size_t)(p + len - v) >= 32) {
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

static void pause_ms(long ms)
{
    struct timespec ts = { 0, ms * 1000000L };
    nanosleep(&ts, NULL);
}

/* A client thread: fetches until told to stop. No cmocka here. */
static void *client_run(void *arg)
{
    struct client *c = arg;
    struct curl_slist *hl = curl_slist_append(NULL, c->auth);
    struct cf_buf body = { 0 };
    CURL *h = curl_easy_init();

    curl_easy_setopt(h, CURLOPT_URL, c->url);
    curl_easy_setopt(h, CURLOPT_HTTPHEADER, hl);
    curl_easy_setopt(h, CURLOPT_TIMEOUT, 60L);
    curl_easy_setopt(h, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(h, CURLOPT_WRITEFUNCTION, on_body);
    curl_easy_setopt(h, CURLOPT_WRITEDATA, &body);
    curl_easy_setopt(h, CURLOPT_HEADERFUNCTION, on_header);
    while (!atomic_load(&stop_clients) && atomic_load(&c->n) < MAX_PER_CLI) {
        struct answer *a = &c->answers[atomic_load(&c->n)];
        struct sink s = { "" };
        *a = (struct answer){ .status = -1 };
        curl_easy_setopt(h, CURLOPT_HEADERDATA, &s);
        cf_buf_reset(&body);
        a->start_phase = atomic_load(&phase);
        if (curl_easy_perform(h) == CURLE_OK)
            curl_easy_getinfo(h, CURLINFO_RESPONSE_CODE, &a->status);
        a->end_phase = atomic_load(&phase);
        cf_buf_append(&body, "", 0);
        memcpy(a->rid, s.rid, sizeof(s.rid));
        a->canary_seen = strstr(body.data, c->canary) != NULL;
        if (a->status != 200)
            a->body = strdup(body.data);
        atomic_fetch_add(&c->n, 1);
        pause_ms(10); /* a steady trickle, not a flood */
    }
    cf_buf_free(&body);
    curl_slist_free_all(hl);
    curl_easy_cleanup(h);
    return NULL;
}

/* How many answers of c match status (or any, if 0) and started and ended in phase p (or any
 * phase >= p if at_least). */
static size_t count(struct client *c, long status, int p, bool at_least)
{
    size_t n = atomic_load(&c->n), k = 0;
    for (size_t i = 0; i < n; i++) {
        const struct answer *a = &c->answers[i];
        bool in = at_least ? a->start_phase >= p : (a->start_phase == p && a->end_phase == p);
        if (in && (status == 0 || a->status == status))
            k++;
    }
    return k;
}

struct wait_arg {
    struct client *c;
    long status;
    int phase;
    bool at_least;
    size_t want;
};

static bool every_client_has(void *arg)
{
    struct wait_arg *w = arg;
    for (size_t i = 0; i < CLIENTS; i++)
        if (count(&w->c[i], w->status, w->phase, w->at_least) < w->want)
            return false;
    return true;
}

/* Checks one non-200 answer: a 503 JSON error of the right kind with no secret in any form. */
static char *refusal_diff(const struct answer *a, const char *canary)
{
    json_error_t err;

    if (a->status != 503)
        return tapi_printf("status %ld (phase %d to %d): %.200s", a->status, a->start_phase,
                           a->end_phase, a->body != NULL ? a->body : "");
    tapi_assert_no_secret(a->body, canary, "a 503 during the outage");
    json_t *b = json_loads(a->body, 0, &err);
    const char *code = cf_json_str(b, "code"), *rid = cf_json_str(b, "request_id");
    char *d = NULL;
    if (code == NULL ||
        (strcmp(code, "audit_unavailable") != 0 && strcmp(code, "database_unavailable") != 0))
        d = tapi_printf("a 503 with code %s, expected audit_unavailable or database_unavailable",
                        code != NULL ? code : "(none)");
    else if (rid == NULL || strcmp(rid, a->rid) != 0)
        d = tapi_printf("a 503 whose request_id differs from its X-Request-Id");
    json_decref(b);
    return d;
}

/* Requests made by the main thread while the cluster is down. */
struct down_calls {
    struct t_resp cred_read, cred_write, bundle;
};

static void calls_while_down(const struct taudit *f, const char *cred, const char *sid,
                             struct down_calls *dc)
{
    tapi_send(&f->api, f->api.admin, "GET", NULL, &dc->cred_read, "/v1/credentials/%s", cred);
    tapi_send(&f->api, f->api.admin, "PUT", "{\"credential_pairs\": {\"p\": \"written-down\"}}",
              &dc->cred_write, "/v1/credentials/%s", cred);
    tapi_send(&f->api, f->api.admin, "GET", NULL, &dc->bundle, "/v1/services/%s", sid);
}

static void test_bundles_fail_closed_through_a_postgresql_outage_and_come_back(void **state)
{
    struct taudit *f = *state;
    struct cf_buf problems = { 0 };
    char name[64], cred[TAPI_ID_LEN], sid[64], canary[64], url[256], sql[256];
    struct client clients[CLIENTS];
    pthread_t tid[CLIENTS];
    struct down_calls dc;

    tapi_name(name, sizeof(name), "outage-");
    tapi_name(canary, sizeof(canary), "outage-canary-");
    char *pairs = tapi_printf("{\"password\": \"%s\"}", canary);
    tapi_cred_new(&f->api, name, pairs, cred);
    tapi_name(sid, sizeof(sid), "outage-svc-");
    const char *ids[] = { cred, NULL };
    tapi_svc_map(&f->api, sid, ids);
    long rev = tapi_cred_revision(&f->api, cred);
    char *svc = taudit_service_auth(f, sid);
    snprintf(url, sizeof(url), "%s/v1/services/%s", f->api.d.base_url, sid);
    pid_t pid = f->api.d.pid;

    atomic_store(&phase, UP);
    atomic_store(&stop_clients, 0);
    curl_global_init(CURL_GLOBAL_DEFAULT);
    for (size_t i = 0; i < CLIENTS; i++) {
        clients[i] = (struct client){ .url = url,
                                      .auth = i % 2 == 0 ? f->api.admin : svc,
                                      .canary = canary,
                                      .answers = calloc(MAX_PER_CLI, sizeof(struct answer)) };
        assert_non_null(clients[i].answers);
        assert_int_equal(pthread_create(&tid[i], NULL, client_run, &clients[i]), 0);
    }
    struct wait_arg up = { clients, 200, UP, false, 3 };
    bool warmed = t_wait_until(every_client_has, &up, 60);

    atomic_store(&phase, STOPPING);
    t_pg_ctl("stop");
    atomic_store(&phase, DOWN);
    struct wait_arg down = { clients, 0, DOWN, false, 5 };
    bool saw_down = t_wait_until(every_client_has, &down, 60);
    calls_while_down(f, cred, sid, &dc);
    atomic_store(&phase, STARTING);
    t_pg_ctl("start");
    atomic_store(&phase, BACK);
    /* back without a restart of cofferd: every client gets bundles again */
    struct wait_arg back = { clients, 200, BACK, true, 3 };
    bool recovered = t_wait_until(every_client_has, &back, 60);
    atomic_store(&stop_clients, 1);
    for (size_t i = 0; i < CLIENTS; i++)
        pthread_join(tid[i], NULL);

    /* the cluster is up again: now the checks */
    assert_true(warmed);
    assert_true(saw_down);
    if (!recovered)
        fail_msg("fetches did not succeed again within 60 s of the cluster's start");
    assert_int_equal(kill(pid, 0), 0); /* the same process served throughout */
    assert_int_equal(f->api.d.pid, pid);
    size_t total = 0, ok = 0, refused = 0, during = 0, audit_code = 0;
    struct cf_buf rids = { 0 };
    for (size_t i = 0; i < CLIENTS; i++) {
        for (size_t j = 0; j < atomic_load(&clients[i].n); j++) {
            struct answer *a = &clients[i].answers[j];
            char label[96];
            snprintf(label, sizeof(label), "client %zu answer %zu", i, j);
            total++;
            if (a->start_phase == DOWN && a->end_phase == DOWN) {
                during++;
                if (a->status != 503)
                    tapi_collect(
                        &problems, label,
                        tapi_printf("made while the cluster was down, answered %ld", a->status));
            }
            if (a->status == 200) {
                ok++;
                if (!a->canary_seen)
                    tapi_collect(&problems, label, tapi_printf("a 200 without the bundle"));
                if (!cf_is_lower_hex(a->rid, 32)) {
                    tapi_collect(&problems, label, tapi_printf("a 200 without X-Request-Id"));
                    continue;
                }
                assert_int_equal(cf_buf_printf(&rids, "%s%s", rids.len > 0 ? "," : "", a->rid), 0);
            } else {
                refused++;
                if (a->canary_seen)
                    tapi_collect(&problems, label,
                                 tapi_printf("the secret left in a %ld answer", a->status));
                tapi_collect(&problems, label, refusal_diff(a, canary));
                if (a->body != NULL && strstr(a->body, "\"audit_unavailable\"") != NULL)
                    audit_code++;
            }
            free(a->body);
        }
        free(clients[i].answers);
    }
    print_message("%zu fetches: %zu answered 200, %zu refused (%zu of them audit_unavailable, "
                  "the others database_unavailable), %zu made while the cluster was down\n",
                  total, ok, refused, audit_code, during);

    /* every 200 has exactly one row (API.md 8.2: nothing is answered 2xx without its row) */
    cf_buf_append(&rids, "", 0);
    char *q = tapi_printf("SELECT count(*) FROM audit_log WHERE request_id = ANY('{%s}'::text[])",
                          rids.data);
    long rows = tapi_count(&f->api, q);
    if (rows != (long)ok)
        tapi_collect(&problems, "rows of the 200s",
                     tapi_printf("%zu answers 200, %ld rows with their request ids", ok, rows));
    free(q);
    cf_buf_free(&rids);

    tapi_collect(&problems, "credential read while down",
                 tapi_error_diff(&dc.cred_read, 503, "audit_unavailable|database_unavailable"));
    tapi_assert_no_secret(dc.cred_read.body.data, canary, "a credential read while down");
    tapi_collect(&problems, "credential write while down",
                 tapi_error_diff(&dc.cred_write, 503, "audit_unavailable|database_unavailable"));
    tapi_collect(&problems, "admin bundle while down",
                 tapi_error_diff(&dc.bundle, 503, "audit_unavailable|database_unavailable"));
    tapi_assert_no_secret(dc.bundle.body.data, canary, "a bundle while down");
    t_resp_free(&dc.cred_read);
    t_resp_free(&dc.cred_write);
    t_resp_free(&dc.bundle);
    if (tapi_cred_revision(&f->api, cred) != rev)
        tapi_collect(&problems, "revision", tapi_printf("a write during the outage changed it"));
    tapi_collect_end(&problems);

    /* the chain has no gap and verifies, on the server, in the database and in the client */
    assert_int_equal(tapi_count(&f->api, "SELECT count(*) FROM audit_log"), taudit_max_id(f));
    json_t *v = taudit_verify(f, "");
    assert_true(tapi_bool(v, "ok"));
    json_decref(v);
    assert_int_equal(taudit_cli_verify(&f->api.db, NULL, NULL), 0);
    json_t *evs = taudit_events_all(f, f->api.auditor, "order=asc", 1000, NULL);
    char *d = taudit_chain_diff(evs, 1, TAUDIT_ZEROS);
    if (d != NULL)
        fail_msg("the chain as a client recomputes it: %s", d);
    json_decref(evs);
    snprintf(sql, sizeof(sql), "SELECT count(*) FROM audit_log WHERE resource_id = '%s'", sid);
    assert_true(tapi_count(&f->api, sql) >= (long)ok);
    free(svc);
    free(pairs);
}

int main(void)
{
    cf_json_init();
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_bundles_fail_closed_through_a_postgresql_outage_and_come_back),
    };
    return cmocka_run_group_tests(tests, taudit_setup, taudit_teardown);
}
