/*
 * test_kill_during_writes.c - kill -9 of cofferd in the middle of credential writes (issue
 * 12). Four writer threads update four credentials as fast as they can; once each has some
 * answers, cofferd is killed with SIGKILL while writes are in flight. Then:
 * - no partial revision: each credential's revision is its newest stored revision, the
 *   revisions are 1..n without a gap, and every one of them opens (its pairs are what was
 *   written, which the writers recorded);
 * - every write answered 200 is stored, and no stored revision lacks its access-log row;
 * - the access log's chain verifies (in the database, with cofferd down);
 * - the next cofferd on the same database serves at once: its first bundle fetch is a 200.
 */
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
#include <sys/wait.h>

#include <cmocka.h>
#include <curl/curl.h>
#include <jansson.h>

#include "cf_json.h"
#include "taudit.h"

#define WRITERS   4
#define MAX_WRITE 2000 /* a bound, never reached */

struct writer {
    const struct tapi *api;
    char id[TAPI_ID_LEN];
    size_t index;        /* its pair key is v<index>: keys differ across one service */
    _Atomic int ok;      /* writes answered 200: values v1..v<ok> are stored */
    _Atomic int stopped; /* the thread saw the server go */
};

static _Atomic int stop_writers;

static size_t discard(char *p, size_t size, size_t n, void *userdata)
{
    (void)p;
    (void)userdata;
    return size * n;
}

/* One PUT with libcurl: the status, or -1 with no answer (the server died). The tapi helpers
 * fail the test, which a thread may not do. */
static long put(const struct writer *w, const char *body)
{
    char url[256];
    struct curl_slist *hl = curl_slist_append(NULL, w->api->admin);
    hl = curl_slist_append(hl, "Content-Type: application/json");
    CURL *h = curl_easy_init();
    long status = -1;

    snprintf(url, sizeof(url), "%s/v1/credentials/%s", w->api->d.base_url, w->id);
    curl_easy_setopt(h, CURLOPT_URL, url);
    curl_easy_setopt(h, CURLOPT_CUSTOMREQUEST, "PUT");
    curl_easy_setopt(h, CURLOPT_POSTFIELDS, body);
    curl_easy_setopt(h, CURLOPT_HTTPHEADER, hl);
    curl_easy_setopt(h, CURLOPT_TIMEOUT, 30L);
    curl_easy_setopt(h, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(h, CURLOPT_WRITEFUNCTION, discard);
    if (curl_easy_perform(h) == CURLE_OK)
        curl_easy_getinfo(h, CURLINFO_RESPONSE_CODE, &status);
    curl_easy_cleanup(h);
    curl_slist_free_all(hl);
    return status;
}

/* Writes values <id>-<n> for n = 2, 3, ... (revision 1 is the creation). No cmocka here. */
static void *writer_run(void *arg)
{
    struct writer *w = arg;
    for (int n = 2; n < MAX_WRITE && !atomic_load(&stop_writers); n++) {
        char body[128];
        snprintf(body, sizeof(body), "{\"credential_pairs\": {\"v%zu\": \"%s-%d\"}}", w->index,
                 w->id, n);
        long status = put(w, body);
        if (status == 200) {
            atomic_store(&w->ok, n);
        } else {
            break; /* the server is gone (or refused): stop */
        }
    }
    atomic_store(&w->stopped, 1);
    return NULL;
}

static bool all_wrote(void *arg)
{
    struct writer *w = arg;
    for (size_t i = 0; i < WRITERS; i++)
        if (atomic_load(&w[i].ok) < 5)
            return false;
    return true;
}

static bool all_stopped(void *arg)
{
    struct writer *w = arg;
    for (size_t i = 0; i < WRITERS; i++)
        if (!atomic_load(&w[i].stopped))
            return false;
    return true;
}

static void test_kill_9_during_writes_leaves_whole_revisions_and_a_sound_chain(void **state)
{
    struct taudit *f = *state;
    struct writer w[WRITERS];
    pthread_t tid[WRITERS];
    struct cf_buf problems = { 0 };
    char name[64], sid[64];

    for (size_t i = 0; i < WRITERS; i++) {
        w[i] = (struct writer){ .api = &f->api, .index = i, .ok = 1 };
        tapi_name(name, sizeof(name), "kill-");
        char pairs[64];
        snprintf(pairs, sizeof(pairs), "{\"v%zu\": \"first-%zu\"}", i, i);
        tapi_cred_new(&f->api, name, pairs, w[i].id);
    }
    tapi_name(sid, sizeof(sid), "kill-svc-");
    const char *ids[] = { w[0].id, w[1].id, w[2].id, w[3].id, NULL };
    tapi_svc_map(&f->api, sid, ids);
    atomic_store(&stop_writers, 0);
    curl_global_init(CURL_GLOBAL_DEFAULT);
    for (size_t i = 0; i < WRITERS; i++)
        assert_int_equal(pthread_create(&tid[i], NULL, writer_run, &w[i]), 0);
    bool wrote = t_wait_until(all_wrote, w, 60);

    /* SIGKILL: no drain, no goodbye, writes in flight */
    assert_int_equal(kill(f->api.d.pid, SIGKILL), 0);
    int status;
    waitpid(f->api.d.pid, &status, 0);
    f->api.d.pid = -1;
    bool stopped = t_wait_until(all_stopped, w, 60);
    atomic_store(&stop_writers, 1);
    for (size_t i = 0; i < WRITERS; i++)
        pthread_join(tid[i], NULL);
    assert_true(wrote);
    assert_true(stopped);

    for (size_t i = 0; i < WRITERS; i++) {
        char sql[512];
        snprintf(sql, sizeof(sql),
                 "SELECT c.revision = max(r.revision) AND count(*) = max(r.revision) AND "
                 "min(r.revision) = 1 FROM credentials c JOIN credential_revisions r ON "
                 "r.credential_id = c.id WHERE c.id = '%s' GROUP BY c.revision",
                 w[i].id);
        char *whole = tapi_sql(&f->api, sql);
        if (strcmp(whole, "t") != 0)
            tapi_collect(&problems, w[i].id, strdup("revisions are not 1..n ending at the row's"));
        free(whole);
        snprintf(sql, sizeof(sql), "SELECT revision FROM credentials WHERE id = '%s'", w[i].id);
        long rev = tapi_count(&f->api, sql);
        /* what was answered 200 is there; at most the one write in flight is there unanswered */
        if (rev < atomic_load(&w[i].ok) || rev > atomic_load(&w[i].ok) + 1)
            tapi_collect(
                &problems, w[i].id,
                tapi_printf("revision %ld after %d answered writes", rev, atomic_load(&w[i].ok)));
        /* every stored update has its access-log row (the row commits with the change) */
        snprintf(sql, sizeof(sql),
                 "SELECT count(*) FROM audit_log WHERE action = 'credential.update' AND "
                 "resource_id = '%s' AND result = 'allowed'",
                 w[i].id);
        long rows = tapi_count(&f->api, sql);
        print_message("credential %zu: %d writes answered 200, revision %ld stored, %ld update "
                      "rows\n",
                      i, atomic_load(&w[i].ok) - 1, rev, rows);
        if (rows != rev - 1)
            tapi_collect(&problems, w[i].id,
                         tapi_printf("%ld update rows for revision %ld", rows, rev));
    }
    tapi_collect_end(&problems);
    /* the chain verifies in the database, with no cofferd running */
    assert_int_equal(taudit_cli_verify(&f->api.db, NULL, NULL), 0);

    /* the next start serves at once, and every revision opens to what was written */
    t_cofferd_start(&f->api.d, &f->api.db, (char *const[]){ f->env_keys, NULL });
    for (size_t i = 0; i < WRITERS; i++) {
        char sql[256];
        snprintf(sql, sizeof(sql), "SELECT revision FROM credentials WHERE id = '%s'", w[i].id);
        long rev = tapi_count(&f->api, sql);
        json_t *pairs = tapi_cred_pairs(&f->api, w[i].id);
        char want[128];
        if (rev == 1)
            snprintf(want, sizeof(want), "first-%zu", i);
        else
            snprintf(want, sizeof(want), "%s-%ld", w[i].id, rev);
        char key[16];
        snprintf(key, sizeof(key), "v%zu", i);
        assert_string_equal(tapi_str(pairs, key), want);
        json_decref(pairs);
        for (long r = 1; r < rev; r++) { /* a diff opens both of its revisions */
            struct t_resp resp;
            tapi_send(&f->api, f->api.admin, "GET", NULL, &resp, "/v1/credentials/%s/%ld/%ld",
                      w[i].id, r, r + 1);
            json_decref(tapi_ok(&resp));
            t_resp_free(&resp);
        }
    }
    struct t_resp r;
    tapi_send(&f->api, f->api.admin, "GET", NULL, &r, "/v1/services/%s", sid);
    json_decref(tapi_ok(&r));
    t_resp_free(&r);
    json_t *v = taudit_verify(f, "");
    assert_true(tapi_bool(v, "ok"));
    json_decref(v);
}

int main(void)
{
    cf_json_init();
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_kill_9_during_writes_leaves_whole_revisions_and_a_sound_chain),
    };
    return t_run_group_tests(tests, taudit_setup, taudit_teardown);
}
