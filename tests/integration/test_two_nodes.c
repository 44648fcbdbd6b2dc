/*
 * test_two_nodes.c - two cofferd processes on one database and one set of KMS keys (API.md 8.3,
 * 8.4, 8.1, issue 6 "cache coherence across nodes"): whatever is written through node A, node
 * B's next bundle shows it, never a stale one; a principal's role changed or removed, and an API
 * token revoked, through A take effect on B (polled with a deadline; no timing asserted). A
 * credential write stalled on KMS on one node holds up no write on the other. Under concurrent
 * writes on both nodes, no fetch answers with a bundle older than a write logged before its
 * access-log row (issue 13: the bundle caches and the catalog version); and with B's change
 * listener held off, B's next fetch after a write through A rebuilds its cached bundle.
 */
#include <dirent.h>
#include <pthread.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/types.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>
#include <curl/curl.h>
#include <jansson.h>

#include "cf_json.h"
#include "cf_log.h"
#include "cf_time.h"
#include "tkms.h"
#include "tproxy.h"

#define POLL_SECONDS 30
#define FROZEN_MAX   4

struct nodes {
    struct tkms f; /* node A is f.api */
    struct t_cofferd d_b;
    struct tapi b;            /* node B */
    pid_t frozen[FROZEN_MAX]; /* PostgreSQL backends stopped with SIGSTOP by the running test */
    int nfrozen;
};

static int setup(void **state)
{
    struct nodes *n = calloc(1, sizeof(*n));
    assert_non_null(n);
    tkms_init(&n->f, NULL);
    tkms_start_node(&n->f, &n->d_b, NULL);
    n->b = tkms_node(&n->f, &n->d_b);
    /* both listeners connected (each clears its caches then): the tests count cache hits */
    t_cofferd_wait_listening(&n->f.api.d);
    t_cofferd_wait_listening(&n->d_b);
    *state = n;
    return 0;
}

static int teardown(void **state)
{
    struct nodes *n = *state;
    int rc_b = t_cofferd_stop(&n->d_b);
    int rc_a = tkms_fini(&n->f);
    free(n);
    assert_int_equal(rc_a, 0);
    assert_int_equal(rc_b, 0);
    return 0;
}

/* Resumes every backend the test stopped (SIGCONT). The normal path of a test calls it, and so
 * does thaw_teardown(), the test's own teardown, which cmocka runs after a failed test too: a
 * stopped backend could not exit, and DROP DATABASE ... WITH (FORCE) would fail. */
static void thaw(struct nodes *n)
{
    for (int i = 0; i < n->nfrozen; i++)
        (void)kill(n->frozen[i], SIGCONT);
    n->nfrozen = 0;
}

static int thaw_teardown(void **state)
{
    thaw(*state);
    return 0;
}

/* A service token and its Basic header. */
struct svc_token {
    char username[200];
    char *token;
    struct tkms_creds basic;
};

static void svc_token_new(const struct tkms *f, const char *sid, struct svc_token *t)
{
    tkms_username(2, "service", sid, t->username, sizeof(t->username));
    t->token = tkms_token(f, 2, "service", sid);
    tkms_creds(TKMS_BASIC, t->username, t->token, &t->basic);
}

static void svc_token_free(struct svc_token *t)
{
    free(t->token);
    tkms_creds_free(&t->basic);
}

/* The bundle of sid on node api as t (asserts 200; json_decref it); its ETag in etag. */
static json_t *bundle(const struct tapi *api, const struct svc_token *t, const char *sid,
                      const char *inm, char etag[64])
{
    struct t_resp r;
    const char *h[] = { t->basic.h[0], inm, NULL };

    tapi_send_h(api, h, "GET", NULL, &r, "/v1/services/%s?metadata_only=False", sid);
    json_t *b = tapi_ok(&r);
    if (etag != NULL && !t_resp_header(&r, "ETag", etag, 64))
        fail_msg("a bundle carries no ETag");
    t_resp_free(&r);
    return b;
}

/* Asserts that the credential named name holds exactly pairs in the bundle of sid on node B,
 * fetched right now (with If-None-Match: the tag B gave before, if any). */
static void b_sees(const struct nodes *n, const struct svc_token *t, const char *sid,
                   const char *name, const char *pairs, char etag[64])
{
    char inm[128];
    if (etag[0] != '\0')
        snprintf(inm, sizeof(inm), "If-None-Match: %s", etag);
    json_t *b = bundle(&n->b, t, sid, etag[0] != '\0' ? inm : NULL, etag);
    json_t *got = tkms_bundle_pairs(b, name);
    if (got == NULL)
        fail_msg("node B's bundle does not list %s", name);
    tapi_assert_json(got, pairs);
    json_decref(b);
}

static void test_credential_updates_through_a_are_in_bs_next_bundle(void **state)
{
    struct nodes *n = *state;
    struct tkms *f = &n->f;
    char sid[64], name[64], id[TAPI_ID_LEN], etag[64] = "";
    struct svc_token t;

    tapi_name(name, sizeof(name), "two-");
    tapi_cred_new(&f->api, name, "{\"pw\": \"value-0\"}", id);
    tapi_name(sid, sizeof(sid), "svc-two-");
    const char *ids[] = { id, NULL };
    tapi_svc_map(&f->api, sid, ids);
    svc_token_new(f, sid, &t);
    b_sees(n, &t, sid, name, "{\"pw\": \"value-0\"}", etag); /* B's caches are warm now */
    json_decref(bundle(&n->b, &t, sid, NULL, NULL));

    for (int i = 1; i <= 4; i++) {
        char body[128], want[64];
        snprintf(body, sizeof(body), "{\"credential_pairs\": {\"pw\": \"value-%d\"}}", i);
        snprintf(want, sizeof(want), "{\"pw\": \"value-%d\"}", i);
        tapi_cred_put(&f->api, id, body);
        print_message("update %d\n", i);
        b_sees(n, &t, sid, name, want, etag); /* never the old value, never a 304 */
    }
    /* a revert through A too */
    struct t_resp r;
    tapi_revert(&f->api, f->api.admin, &r, "/v1/credentials/%s/1", id);
    json_decref(tapi_ok(&r));
    t_resp_free(&r);
    b_sees(n, &t, sid, name, "{\"pw\": \"value-0\"}", etag);
    svc_token_free(&t);
}

static void test_mapping_changes_through_a_are_in_bs_next_bundle(void **state)
{
    struct nodes *n = *state;
    struct tkms *f = &n->f;
    char sid[64], n1[64], n2[64], a[TAPI_ID_LEN], b[TAPI_ID_LEN], etag[64];
    struct svc_token t;

    tapi_name(n1, sizeof(n1), "map-1-");
    tapi_cred_new(&f->api, n1, "{\"one\": \"mapped-1\"}", a);
    tapi_name(n2, sizeof(n2), "map-2-");
    tapi_cred_new(&f->api, n2, "{\"two\": \"mapped-2\"}", b);
    tapi_name(sid, sizeof(sid), "svc-map-");
    const char *only_a[] = { a, NULL }, *both[] = { a, b, NULL }, *only_b[] = { b, NULL };
    tapi_svc_map(&f->api, sid, only_a);
    svc_token_new(f, sid, &t);

    json_t *s = bundle(&n->b, &t, sid, NULL, etag);
    assert_null(tkms_bundle_pairs(s, n2));
    json_decref(s);

    tapi_svc_map(&f->api, sid, both);
    char inm[128];
    snprintf(inm, sizeof(inm), "If-None-Match: %s", etag);
    s = bundle(&n->b, &t, sid, inm, etag);
    tapi_assert_json(tkms_bundle_pairs(s, n1), "{\"one\": \"mapped-1\"}");
    tapi_assert_json(tkms_bundle_pairs(s, n2), "{\"two\": \"mapped-2\"}");
    json_decref(s);

    tapi_svc_map(&f->api, sid, only_b);
    snprintf(inm, sizeof(inm), "If-None-Match: %s", etag);
    s = bundle(&n->b, &t, sid, inm, etag);
    assert_null(tkms_bundle_pairs(s, n1));
    tapi_assert_json(tkms_bundle_pairs(s, n2), "{\"two\": \"mapped-2\"}");
    json_decref(s);

    /* both nodes compute the same tag from the database: A's tag is a 304 on B */
    char tag_a[64], tag_b[64];
    json_decref(bundle(&f->api, &t, sid, NULL, tag_a));
    json_decref(bundle(&n->b, &t, sid, NULL, tag_b));
    assert_string_equal(tag_a, tag_b);
    snprintf(inm, sizeof(inm), "If-None-Match: %s", tag_a);
    struct t_resp r;
    const char *h[] = { t.basic.h[0], inm, NULL };
    tapi_send_h(&n->b, h, "GET", NULL, &r, "/v1/services/%s?metadata_only=False", sid);
    assert_int_equal(r.status, 304);
    t_resp_free(&r);

    /* the kill switch: a credential disabled through A delivers nothing through B */
    tapi_cred_put(&f->api, b, "{\"enabled\": false}");
    snprintf(inm, sizeof(inm), "If-None-Match: %s", etag);
    s = bundle(&n->b, &t, sid, inm, etag);
    tapi_assert_json(tkms_bundle_pairs(s, n2), "{}");
    json_decref(s);
    svc_token_free(&t);
}

static void freeze_b_listener(struct nodes *n);
static void test_a_service_disabled_through_a_is_refused_by_b_at_once(void **state)
{
    struct nodes *n = *state;
    struct tkms *f = &n->f;
    char sid[64], name[64], id[TAPI_ID_LEN];
    struct svc_token t;
    struct t_resp r;

    tapi_name(name, sizeof(name), "dis-two-");
    tapi_cred_new(&f->api, name, "{\"pw\": \"disabled-on-b\"}", id);
    tapi_name(sid, sizeof(sid), "svc-dis-two-");
    const char *ids[] = { id, NULL };
    tapi_svc_map(&f->api, sid, ids);
    svc_token_new(f, sid, &t);
    json_decref(bundle(&n->b, &t, sid, NULL, NULL));

    /* B hears nothing of the disable: the refusal, and a row that says so (not the cached
     * answer's "allowed"), come from the catalog version its row's append reads */
    freeze_b_listener(n);
    tapi_svc_put(&f->api, sid, "{\"enabled\": false}");
    const char *h[] = { t.basic.h[0], "If-None-Match: *", NULL };
    tapi_send_h(&n->b, h, "GET", NULL, &r, "/v1/services/%s", sid);
    tapi_check_error(&r, 403, "service_disabled");
    tapi_assert_no_secret(r.body.data, "disabled-on-b", "a 403 body");
    tkms_audit(&n->b, &r, "service", sid, "service.get", sid, "denied", "service_disabled");
    t_resp_free(&r);

    tapi_svc_put(&f->api, sid, "{\"enabled\": true}");
    json_t *s = bundle(&n->b, &t, sid, NULL, NULL);
    tapi_assert_json(tkms_bundle_pairs(s, name), "{\"pw\": \"disabled-on-b\"}");
    json_decref(s);
    svc_token_free(&t);
}

static void test_a_principals_role_changed_or_removed_through_a_takes_effect_on_b(void **state)
{
    struct nodes *n = *state;
    struct tkms *f = &n->f;
    char sid[64], name[64], id[TAPI_ID_LEN], person[64], user[200], full[160], meta[160];
    struct tkms_creds c;
    struct t_resp r;

    tapi_name(name, sizeof(name), "role-two-");
    tapi_cred_new(&f->api, name, "{\"pw\": \"role-two-secret\"}", id);
    tapi_name(sid, sizeof(sid), "svc-role-two-");
    const char *ids[] = { id, NULL };
    tapi_svc_map(&f->api, sid, ids);
    tapi_name(person, sizeof(person), "pat-");
    tkms_username(2, "user", person, user, sizeof(user));
    char *tok = tkms_token(f, 2, "user", person);
    tkms_creds(TKMS_BASIC, user, tok, &c);
    const char *h[] = { c.h[0], NULL };
    snprintf(full, sizeof(full), "/v1/services/%s?metadata_only=False", sid);
    snprintf(meta, sizeof(meta), "/v1/services/%s?metadata_only=True", sid);

    /* B knows the person has no role (and may cache that) */
    tapi_send_h(&n->b, h, "GET", NULL, &r, "%s", meta);
    tapi_check_error(&r, 403, "forbidden");
    t_resp_free(&r);

    tapi_send(&f->api, f->api.admin, "PUT", "{\"role\": \"admin\"}", &r, "/v1/principals/%s",
              person);
    json_decref(tapi_ok(&r));
    t_resp_free(&r);
    long st = tkms_poll_status(&n->b, h, full, 200, POLL_SECONDS);
    if (st != 200)
        fail_msg("a role given through A never took effect on B (still %ld)", st);

    tapi_send(&f->api, f->api.admin, "PUT", "{\"role\": \"auditor\"}", &r, "/v1/principals/%s",
              person);
    json_decref(tapi_ok(&r));
    t_resp_free(&r);
    st = tkms_poll_status(&n->b, h, full, 403, POLL_SECONDS);
    if (st != 403)
        fail_msg("admin -> auditor through A never took effect on B (still %ld)", st);
    tapi_send_h(&n->b, h, "GET", NULL, &r, "%s", meta);
    json_decref(tapi_ok(&r));
    t_resp_free(&r);

    tapi_send(&f->api, f->api.admin, "DELETE", NULL, &r, "/v1/principals/%s", person);
    json_decref(tapi_ok(&r));
    t_resp_free(&r);
    st = tkms_poll_status(&n->b, h, meta, 403, POLL_SECONDS);
    if (st != 403)
        fail_msg("a principal removed through A kept its role on B (still %ld)", st);
    tapi_send_h(&n->b, h, "GET", NULL, &r, "%s", meta);
    tapi_check_error(&r, 403, "forbidden");
    t_resp_free(&r);

    tkms_creds_free(&c);
    free(tok);
}

static void test_an_api_token_revoked_through_a_stops_working_on_b(void **state)
{
    struct nodes *n = *state;
    struct tkms *f = &n->f;
    char name[64], auth[128];
    struct t_resp r;

    tapi_name(name, sizeof(name), "bot-");
    char *body = tapi_printf("{\"name\": \"%s\", \"role\": \"auditor\"}", name);
    tapi_send(&f->api, f->api.admin, "POST", body, &r, "/v1/tokens");
    free(body);
    if (r.status != 201)
        fail_msg("POST /v1/tokens: expected 201, got %ld: %.300s", r.status, r.body.data);
    json_t *tok = tapi_json(&r);
    t_resp_free(&r);
    snprintf(auth, sizeof(auth), "Authorization: Bearer %s", tapi_str(tok, "token"));
    const char *h[] = { auth, NULL };

    tapi_send_h(&n->b, h, "GET", NULL, &r, "/v1/services"); /* B knows the token now */
    json_decref(tapi_ok(&r));
    t_resp_free(&r);
    tapi_send(&f->api, f->api.admin, "DELETE", NULL, &r, "/v1/tokens/%s", tapi_str(tok, "id"));
    json_decref(tapi_ok(&r));
    t_resp_free(&r);
    long st = tkms_poll_status(&n->b, h, "/v1/services", 401, POLL_SECONDS);
    if (st != 401)
        fail_msg("a token revoked through A kept working on B (still %ld)", st);
    tapi_send_h(&n->b, h, "GET", NULL, &r, "/v1/services");
    tapi_check_error(&r, 401, "authentication_failed");
    t_resp_free(&r);
    json_decref(tok);
}

static size_t race_collect(char *p, size_t size, size_t n, void *buf)
{
    cf_buf_append(buf, p, size * n);
    return size * n;
}

/* One request with curl that never fails the test (so it may run on any thread, and while
 * another thread uses the caller's frame): the status, or -1 when no answer came. */
static long race_send(const char *method, const char *url, const char *const *headers,
                      const char *body, struct cf_buf *resp, struct cf_buf *head)
{
    CURL *h = curl_easy_init();
    struct curl_slist *hl = NULL;
    long status = -1;

    if (h == NULL)
        return -1;
    for (size_t i = 0; headers[i] != NULL; i++)
        hl = curl_slist_append(hl, headers[i]);
    curl_easy_setopt(h, CURLOPT_URL, url);
    curl_easy_setopt(h, CURLOPT_CUSTOMREQUEST, method);
    curl_easy_setopt(h, CURLOPT_HTTPHEADER, hl);
    curl_easy_setopt(h, CURLOPT_TIMEOUT, 60L);
    curl_easy_setopt(h, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(h, CURLOPT_WRITEFUNCTION, race_collect);
    curl_easy_setopt(h, CURLOPT_WRITEDATA, resp);
    curl_easy_setopt(h, CURLOPT_HEADERFUNCTION, race_collect);
    curl_easy_setopt(h, CURLOPT_HEADERDATA, head);
    if (body != NULL)
        curl_easy_setopt(h, CURLOPT_POSTFIELDS, body);
    if (curl_easy_perform(h) == CURLE_OK)
        curl_easy_getinfo(h, CURLINFO_RESPONSE_CODE, &status);
    curl_slist_free_all(hl);
    curl_easy_cleanup(h);
    return status;
}

/* A credential write waits on KMS outside the catalog write lock (issue 5 review): while node
 * C's update is stalled inside a KMS call (its KMS traffic goes through a relay that holds it),
 * node A creates a credential and writes a service; then C's update completes. */
static void test_a_write_stalled_on_kms_holds_up_no_write_on_another_node(void **state)
{
    struct nodes *n = *state;
    struct tkms *f = &n->f;
    struct tproxy *px = tproxy_start(f->moto_url);
    char env[128], name[64], other[64], sid[64], id[TAPI_ID_LEN];
    struct t_cofferd d_c;

    snprintf(env, sizeof(env), "AWS_ENDPOINT_URL_KMS=%s", tproxy_url(px));
    char *const extra[] = { env, NULL };
    tkms_start_node(f, &d_c, extra);
    struct tapi c = tkms_node(f, &d_c);
    tapi_name(name, sizeof(name), "stall-");
    tapi_cred_new(&c, name, "{\"pw\": \"v1\"}", id); /* through the relay, not held yet */

    /* everything the stall needs is made first: from tapi_call_start() to tapi_call_wait() no
     * call may fail the test, since cmocka would leave this frame while the update's thread
     * still writes its answer into upd (and reads c) */
    struct tapi_call upd = { .method = "PUT", .body = "{\"credential_pairs\": {\"pw\": \"v2\"}}" };
    snprintf(upd.path, sizeof(upd.path), "/v1/credentials/%s", id);
    tapi_name(other, sizeof(other), "free-");
    char *body = tapi_printf("{\"name\": \"%s\", \"credential_pairs\": {\"k\": \"v\"}}", other);
    tapi_name(sid, sizeof(sid), "svc-free-");
    char *create_url = tapi_printf("%s/v1/credentials", f->api.d.base_url);
    char *svc_url = tapi_printf("%s/v1/services/%s", f->api.d.base_url, sid);
    const char *h[] = { f->api.admin, "Content-Type: application/json", "Expect:", NULL };
    struct cf_buf created = { 0 }, put = { 0 }, head = { 0 };

    tproxy_hold(px);
    struct tapi_async *pending = tapi_call_start(&c, &upd);
    bool stalled = tproxy_wait_held(px, POLL_SECONDS); /* C is inside a KMS call now */
    long created_status = race_send("POST", create_url, h, body, &created, &head);
    long put_status =
        race_send("PUT", svc_url, h, "{\"credentials\": [], \"enabled\": true}", &put, &head);
    bool still_stalled = !tapi_call_done(pending);
    tproxy_release(px);
    tapi_call_wait(pending);

    int rc = t_cofferd_stop(&d_c);
    tproxy_stop(px);
    free(body);
    free(create_url);
    free(svc_url);
    cf_buf_free(&head);
    cf_buf_append(&created, "", 0);
    cf_buf_append(&put, "", 0);

    assert_true(stalled);
    if (created_status != 200 || put_status != 200)
        fail_msg("writes on A waited for C's KMS call: create %ld %.200s, service %ld %.200s",
                 created_status, created.data, put_status, put.data);
    assert_true(still_stalled); /* A's writes did not wait for C's to finish */
    if (upd.status != 200)
        fail_msg("C's update after the stall: %ld %.300s", upd.status, upd.resp.data);
    assert_int_equal(tapi_cred_revision(&f->api, id), 2);
    json_t *pairs = tapi_cred_pairs(&f->api, id);
    tapi_assert_json(pairs, "{\"pw\": \"v2\"}");
    json_decref(pairs);
    assert_int_equal(rc, 0);
    cf_buf_free(&upd.resp);
    cf_buf_free(&created);
    cf_buf_free(&put);
}

/* --- the catalog-version rebuild, with node B's change listener held off ------------------- */

static void sleep_ms(long ms)
{
    struct timespec ts = { ms / 1000, (ms % 1000) * 1000000L };
    nanosleep(&ts, NULL);
}

/* A TCP socket of this host's (IPv4) table, /proc/net/tcp. */
struct tcp_sock {
    unsigned lport, rport;
    unsigned long rx_queue; /* bytes received that its process has not read yet */
    unsigned long inode;
};

/* The socket with local port lport and remote port rport; false if there is none. */
static bool tcp_find(unsigned lport, unsigned rport, struct tcp_sock *out)
{
    FILE *fp = fopen("/proc/net/tcp", "r");
    char line[512];
    bool found = false;

    if (fp == NULL)
        fail_msg("cannot read /proc/net/tcp");
    while (!found && fgets(line, sizeof(line), fp) != NULL) {
        struct tcp_sock t;
        unsigned long tx;
        /* sl: local:port remote:port st tx_queue:rx_queue tr:when retrnsmt uid timeout inode */
        if (sscanf(line, " %*u: %*x:%x %*x:%x %*x %lx:%lx %*x:%*x %*x %*u %*u %lu", &t.lport,
                   &t.rport, &tx, &t.rx_queue, &t.inode) == 5 &&
            t.lport == lport && t.rport == rport) {
            *out = t;
            found = true;
        }
    }
    fclose(fp);
    return found;
}

/* True if process pid has the socket inode open. */
static bool pid_has_socket(pid_t pid, unsigned long inode)
{
    char dir[64], want[64];
    bool has = false;
    struct dirent *e;

    snprintf(dir, sizeof(dir), "/proc/%d/fd", (int)pid);
    snprintf(want, sizeof(want), "socket:[%lu]", inode);
    DIR *d = opendir(dir);
    if (d == NULL)
        return false;
    while (!has && (e = readdir(d)) != NULL) {
        char path[320], link[64];
        snprintf(path, sizeof(path), "%s/%s", dir, e->d_name);
        ssize_t len = readlink(path, link, sizeof(link) - 1);
        if (len > 0) {
            link[len] = '\0';
            has = strcmp(link, want) == 0;
        }
    }
    closedir(d);
    return has;
}

/* The state letter of process pid (/proc/<pid>/stat: 'T' once stopped), '?' if unknown. */
static char proc_state(pid_t pid)
{
    char path[64], buf[512];

    snprintf(path, sizeof(path), "/proc/%d/stat", (int)pid);
    FILE *fp = fopen(path, "r");
    if (fp == NULL)
        return '?';
    size_t len = fread(buf, 1, sizeof(buf) - 1, fp);
    fclose(fp);
    buf[len] = '\0';
    const char *p = strrchr(buf, ')'); /* after "pid (comm)" */
    return p != NULL && p[1] == ' ' && p[2] != '\0' ? p[2] : '?';
}

static unsigned pg_port(void)
{
    return (unsigned)strtoul(t_env("COFFER_TEST_PG_PORT"), NULL, 10);
}

/* The PostgreSQL backend of node B's change listener (svc_listen.c): the session of the test
 * database whose statement is its LISTEN and whose client socket is open in B's cofferd (A's
 * listener is another such session); 0 if there is none yet. Its client port in *port. */
static pid_t b_listener_backend(const struct nodes *n, unsigned *port)
{
    char *rows = tapi_sql(&n->f.api, "SELECT string_agg(pid || ' ' || client_port, ',') FROM "
                                     "pg_stat_activity WHERE datname = current_database() AND "
                                     "query = 'LISTEN coffer_changes'");
    pid_t found = 0;
    int matches = 0;

    for (char *row = strtok(rows, ","); row != NULL; row = strtok(NULL, ",")) {
        int pid;
        unsigned client;
        struct tcp_sock s;
        if (sscanf(row, "%d %u", &pid, &client) == 2 && tcp_find(client, pg_port(), &s) &&
            pid_has_socket(n->d_b.pid, s.inode)) {
            found = (pid_t)pid;
            *port = client;
            matches++;
        }
    }
    free(rows);
    if (matches > 1)
        fail_msg("node B has %d LISTEN sessions, expected one", matches);
    return found;
}

/* Holds off node B's change listener: stops its backend with SIGSTOP (thaw() resumes it), then
 * waits until B has read whatever the backend sent before it stopped, so that from now on no
 * notification reaches B's caches. */
static void freeze_b_listener(struct nodes *n)
{
    int64_t deadline = cf_mono_ms() + (int64_t)POLL_SECONDS * 1000;
    unsigned port = 0;
    pid_t pid;
    struct tcp_sock s;

    while ((pid = b_listener_backend(n, &port)) == 0 && cf_mono_ms() < deadline)
        sleep_ms(100);
    if (pid == 0)
        fail_msg("node B's change listener has no LISTEN session in the test database");
    assert_true(n->nfrozen < FROZEN_MAX);
    n->frozen[n->nfrozen++] = pid; /* first: a failure from here on still resumes it */
    if (kill(pid, SIGSTOP) != 0)
        fail_msg("SIGSTOP to backend %d failed", (int)pid);
    while (proc_state(pid) != 'T' && cf_mono_ms() < deadline)
        sleep_ms(10);
    if (proc_state(pid) != 'T')
        fail_msg("backend %d did not stop (state %c)", (int)pid, proc_state(pid));
    while (tcp_find(port, pg_port(), &s) && s.rx_queue > 0 && cf_mono_ms() < deadline)
        sleep_ms(10);
    if (!tcp_find(port, pg_port(), &s) || s.rx_queue > 0)
        fail_msg("node B did not read what its listener's backend had sent");
}

/* B's bundle cache counters, from its /metrics. */
struct cache_counts {
    uint64_t hits, misses, rebuilds;
};

#define REBUILDS_SERIES "coffer_bundle_cache_rebuilds_total{reason=\"catalog_version\"}"

static void cache_counts(const struct tapi *api, struct cache_counts *c)
{
    c->hits = tkms_metric(api, "coffer_bundle_cache_hits_total");
    c->misses = tkms_metric(api, "coffer_bundle_cache_misses_total");
    c->rebuilds = tkms_metric(api, REBUILDS_SERIES);
}

/* The revision of the credential named name in a bundle (-1 if not listed). */
static long bundle_revision(const json_t *bundle, const char *name)
{
    size_t i;
    json_t *c;

    json_array_foreach(json_object_get(bundle, "credentials"), i, c)
    {
        const char *cn = cf_json_str(c, "name");
        if (cn != NULL && strcmp(cn, name) == 0)
            return (long)json_integer_value(json_object_get(c, "revision"));
    }
    return -1;
}

/* The rebuild of issue 13 on its own: with node B's change listener held off (its backend
 * stopped), no notification clears B's bundle cache. B caches the bundle (a miss, then a hit),
 * a write goes through A, and B's next fetch finds the old bundle in its cache (a hit); the
 * catalog version its access-log row read is newer than the bundle's, so B must build again
 * and answer the new revision, counting one rebuild. The cache's TTL (300 s) cannot be what
 * refreshed it: an expired entry is dropped and counted as a miss, and this fetch is a hit. */
static void test_b_rebuilds_a_cached_bundle_older_than_the_catalog_version(void **state)
{
    struct nodes *n = *state;
    struct tkms *f = &n->f;
    char sid[64], name[64], id[TAPI_ID_LEN];
    struct svc_token t;
    struct cache_counts c0, c1, c2;

    freeze_b_listener(n); /* before this test's writes: none of their notifications reach B */
    tapi_name(name, sizeof(name), "rebuild-");
    tapi_cred_new(&f->api, name, "{\"pw\": \"before\"}", id);
    tapi_name(sid, sizeof(sid), "svc-rebuild-");
    const char *ids[] = { id, NULL };
    tapi_svc_map(&f->api, sid, ids);
    svc_token_new(f, sid, &t);

    cache_counts(&n->b, &c0);
    json_t *s = bundle(&n->b, &t, sid, NULL, NULL); /* a miss: built and cached */
    assert_int_equal(bundle_revision(s, name), 1);
    json_decref(s);
    json_decref(bundle(&n->b, &t, sid, NULL, NULL)); /* a hit: cached */
    cache_counts(&n->b, &c1);

    tapi_cred_put(&f->api, id, "{\"credential_pairs\": {\"pw\": \"after\"}}");
    s = bundle(&n->b, &t, sid, NULL, NULL);
    cache_counts(&n->b, &c2);
    thaw(n);

    print_message("B's cache: warm-up %+lld hits %+lld misses, the fetch after the write %+lld "
                  "hits %+lld misses %+lld rebuilds\n",
                  (long long)(c1.hits - c0.hits), (long long)(c1.misses - c0.misses),
                  (long long)(c2.hits - c1.hits), (long long)(c2.misses - c1.misses),
                  (long long)(c2.rebuilds - c1.rebuilds));
    /* the warm-up built the bundle once and then found it cached, without a rebuild */
    assert_int_equal(c1.misses - c0.misses, 1);
    assert_int_equal(c1.hits - c0.hits, 1);
    assert_int_equal(c1.rebuilds - c0.rebuilds, 0);
    /* the fetch after the write: the new revision, from the cached bundle rebuilt once */
    if (bundle_revision(s, name) != 2)
        fail_msg("B answered revision %ld of %s after revision 2 was written through A",
                 bundle_revision(s, name), name);
    tapi_assert_json(tkms_bundle_pairs(s, name), "{\"pw\": \"after\"}");
    assert_int_equal(c2.hits - c1.hits, 1);
    assert_int_equal(c2.misses - c1.misses, 0);
    assert_int_equal(c2.rebuilds - c1.rebuilds, 1);
    json_decref(s);
    svc_token_free(&t);
}

/* --- the consistency rule under concurrent writes ----------------------------------------- */

#define RACE_WRITES_EACH  40  /* per writer: one writer on each node */
#define RACE_FETCHES_EACH 120 /* per fetcher: two fetchers on each node */

struct race {
    const char *base[2]; /* node A, node B */
    const char *admin;   /* "Authorization: Bearer ..." */
    const char *service; /* the service's Basic header */
    const char *sid, *cid;
};

struct race_fetch {
    char rid[33];
    long revision; /* the credential's revision in the bundle the caller now holds */
    long status;
};

struct race_worker {
    const struct race *r;
    int node, index;
    struct race_fetch fetch[RACE_FETCHES_EACH];
    int failures;
    char problem[256];
};

/* The value of header name in a raw header block, or "" (case-insensitive name). */
static void race_header(const struct cf_buf *head, const char *name, char *out, size_t cap)
{
    size_t n = strlen(name);
    const char *p = head->data;

    out[0] = '\0';
    while (p != NULL && *p != '\0') {
        if (strncasecmp(p, name, n) == 0 && p[n] == ':') {
            p += n + 1;
            while (*p == ' ')
                p++;
            size_t len = strcspn(p, "\r\n");
            snprintf(out, cap, "%.*s", (int)(len < cap ? len : cap - 1), p);
            return;
        }
        p = strchr(p, '\n');
        if (p != NULL)
            p++;
    }
}

static void *race_writer(void *arg)
{
    struct race_worker *w = arg;
    const char *h[] = { w->r->admin, "Content-Type: application/json", NULL };
    char url[256], body[128];

    snprintf(url, sizeof(url), "%s/v1/credentials/%s", w->r->base[w->node], w->r->cid);
    for (int i = 0; i < RACE_WRITES_EACH; i++) {
        struct cf_buf resp = { 0 }, head = { 0 };
        snprintf(body, sizeof(body), "{\"credential_pairs\": {\"pw\": \"node%d-%d\"}}", w->node, i);
        long st = race_send("PUT", url, h, body, &resp, &head);
        if (st != 200 && w->failures++ == 0)
            snprintf(w->problem, sizeof(w->problem), "write %d on node %d: %ld %.150s", i, w->node,
                     st, resp.data != NULL ? resp.data : "");
        cf_buf_free(&resp);
        cf_buf_free(&head);
    }
    return NULL;
}

static void *race_fetcher(void *arg)
{
    struct race_worker *w = arg;
    char url[256], etag[64] = "", inm[96];
    long held = 0; /* the revision of the bundle last received */

    snprintf(url, sizeof(url), "%s/v1/services/%s?metadata_only=False", w->r->base[w->node],
             w->r->sid);
    for (int i = 0; i < RACE_FETCHES_EACH; i++) {
        struct race_fetch *f = &w->fetch[i];
        struct cf_buf resp = { 0 }, head = { 0 };
        bool revalidate = etag[0] != '\0' && i % 2 == 1;
        snprintf(inm, sizeof(inm), "If-None-Match: %s", etag);
        const char *h[] = { w->r->service, revalidate ? inm : NULL, NULL };
        f->status = race_send("GET", url, h, NULL, &resp, &head);
        race_header(&head, "X-Request-Id", f->rid, sizeof(f->rid));
        bool bad = f->status != 200 && f->status != 304;
        if (f->status == 200) {
            json_t *b = cf_json_parse(resp.data, resp.len, 0, NULL);
            json_t *c = json_array_get(json_object_get(b, "credentials"), 0);
            bad = !json_is_integer(json_object_get(c, "revision"));
            if (!bad)
                held = (long)json_integer_value(json_object_get(c, "revision"));
            race_header(&head, "ETag", etag, sizeof(etag));
            json_decref(b);
        }
        f->revision = held;
        if (bad && w->failures++ == 0)
            snprintf(w->problem, sizeof(w->problem), "fetch %d on node %d: %ld %.150s", i, w->node,
                     f->status, resp.data != NULL ? resp.data : "(no body)");
        cf_buf_free(&resp);
        cf_buf_free(&head);
    }
    return NULL;
}

/* The rule of issue 13: no fetch, on either node, answers with a bundle older than a write
 * whose access-log row precedes the fetch's row (a write's row commits with the write, so
 * such a write committed before the fetch's row). Two writers (one per node) update one
 * credential while four fetchers (two per node, half of them revalidating with If-None-Match)
 * read the service's bundle through the bundle caches; then every fetch is checked against
 * the log: its credential revision must be at least the highest one written before its row. */
static void test_no_fetch_returns_a_bundle_older_than_a_write_logged_before_it(void **state)
{
    struct nodes *n = *state;
    struct tkms *f = &n->f;
    char sid[64], name[64], id[TAPI_ID_LEN];
    struct svc_token t;

    tapi_name(name, sizeof(name), "race-");
    tapi_cred_new(&f->api, name, "{\"pw\": \"start\"}", id);
    tapi_name(sid, sizeof(sid), "svc-race-");
    const char *ids[] = { id, NULL };
    tapi_svc_map(&f->api, sid, ids);
    svc_token_new(f, sid, &t);
    json_decref(bundle(&f->api, &t, sid, NULL, NULL)); /* both caches warm */
    json_decref(bundle(&n->b, &t, sid, NULL, NULL));
    struct cache_counts before[2], after[2];
    cache_counts(&f->api, &before[0]);
    cache_counts(&n->b, &before[1]);

    struct race r = { .base = { f->api.d.base_url, n->b.d.base_url },
                      .admin = f->api.admin,
                      .service = t.basic.h[0],
                      .sid = sid,
                      .cid = id };
    struct race_worker *w = calloc(6, sizeof(*w));
    pthread_t th[6];
    assert_non_null(w);
    int started = 0; /* every thread started is joined before anything may fail the test */
    for (; started < 6; started++) {
        w[started] = (struct race_worker){ .r = &r, .node = started % 2, .index = started };
        if (pthread_create(&th[started], NULL, started < 2 ? race_writer : race_fetcher,
                           &w[started]) != 0)
            break;
    }
    for (int i = 0; i < started; i++)
        pthread_join(th[i], NULL);
    if (started < 6)
        fail_msg("pthread_create failed for worker %d", started);
    for (int i = 0; i < 6; i++) {
        if (w[i].failures > 0)
            fail_msg("%d requests failed; the first: %s", w[i].failures, w[i].problem);
    }

    /* the log in order: writes raise the floor; each fetch's row records the floor it met */
    char *sql = tapi_printf(
        "SELECT string_agg(action || ' ' || request_id || ' ' || coalesce(revision, 0), E'\\n'"
        " ORDER BY id) FROM audit_log WHERE (action IN ('credential.create', 'credential.update')"
        " AND resource_id = '%s') OR (action = 'service.get' AND resource_id = '%s')",
        id, sid);
    char *log = tapi_sql(&f->api, sql);
    long floor = 0, checked = 0, stale = 0, writes = 0;
    char first[256] = "";
    for (char *line = strtok(log, "\n"); line != NULL; line = strtok(NULL, "\n")) {
        char action[32], rid[33];
        long rev;
        if (sscanf(line, "%31s %32s %ld", action, rid, &rev) != 3)
            fail_msg("unreadable log line: %s", line);
        if (strcmp(action, "service.get") != 0) {
            floor = rev > floor ? rev : floor;
            writes++;
            continue;
        }
        for (int i = 2; i < 6; i++) {
            for (int k = 0; k < RACE_FETCHES_EACH; k++) {
                const struct race_fetch *x = &w[i].fetch[k];
                if (strcmp(x->rid, rid) != 0)
                    continue;
                checked++;
                if (x->revision < floor && stale++ == 0)
                    snprintf(first, sizeof(first),
                             "fetch %s on node %c answered %ld (%s) after revision %ld was logged",
                             rid, w[i].node == 0 ? 'A' : 'B', x->revision,
                             x->status == 304 ? "a 304" : "a 200", floor);
            }
        }
    }
    print_message("%ld writes and %ld fetches checked against the log\n", writes, checked);
    assert_int_equal(writes, 1 + 2 * RACE_WRITES_EACH);
    assert_int_equal(checked, 4 * RACE_FETCHES_EACH);
    if (stale > 0)
        fail_msg("%ld fetches were older than a write logged before them; the first: %s", stale,
                 first);

    /* and the caches were used: hits on both nodes. Each fetch looked the bundle up once (a
     * hit or a miss) and rebuilt it at most once; how many rebuilt depends on how the writes
     * fell between the fetches' builds and their log rows (the change listener clears the
     * caches too), so only that bound is certain here (the test above shows a rebuild) */
    cache_counts(&f->api, &after[0]);
    cache_counts(&n->b, &after[1]);
    for (int node = 0; node < 2; node++) {
        uint64_t lookups =
            after[node].hits + after[node].misses - before[node].hits - before[node].misses;
        uint64_t rebuilds = after[node].rebuilds - before[node].rebuilds;
        print_message("node %c: %llu hits, %llu misses, %llu rebuilds\n", node == 0 ? 'A' : 'B',
                      (unsigned long long)(after[node].hits - before[node].hits),
                      (unsigned long long)(after[node].misses - before[node].misses),
                      (unsigned long long)rebuilds);
        assert_true(after[node].hits > before[node].hits);
        assert_int_equal(lookups, 2 * RACE_FETCHES_EACH);
        assert_true(rebuilds <= lookups);
    }
    free(log);
    free(sql);
    free(w);
    svc_token_free(&t);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_credential_updates_through_a_are_in_bs_next_bundle),
        cmocka_unit_test(test_mapping_changes_through_a_are_in_bs_next_bundle),
        cmocka_unit_test_teardown(test_a_service_disabled_through_a_is_refused_by_b_at_once,
                                  thaw_teardown),
        cmocka_unit_test(test_a_principals_role_changed_or_removed_through_a_takes_effect_on_b),
        cmocka_unit_test(test_an_api_token_revoked_through_a_stops_working_on_b),
        cmocka_unit_test(test_a_write_stalled_on_kms_holds_up_no_write_on_another_node),
        cmocka_unit_test_teardown(test_b_rebuilds_a_cached_bundle_older_than_the_catalog_version,
                                  thaw_teardown),
        cmocka_unit_test(test_no_fetch_returns_a_bundle_older_than_a_write_logged_before_it),
    };

    cf_json_init();
    cf_log_set_level(CF_LOG_ERROR);
    return t_run_group_tests(tests, setup, teardown);
}
