/*
 * test_secret_hygiene.c - a credential's values are found nowhere they should not be (issue
 * 12). Two canary values are written (a credential and its next revision), read every way the
 * API allows (bundles by kmsauth and by admin, the credential, a diff), and sent where they are
 * refused (error bodies). Then the canaries are looked for, in clear and as hex and base64:
 * - in every error body;
 * - in every line cofferd logged;
 * - in the access log, every column of every row;
 * - in a pg_dump of the whole database (bytea comes out as hex);
 * - in cofferd's own memory, every writable mapping read through /proc/PID/mem, once every
 *   answer has been sent (only the values themselves are looked for there).
 * And the process is hardened: no core files (RLIMIT_CORE 0) and its memory locked (VmLck).
 */
#define _GNU_SOURCE /* memmem */
#include <errno.h>
#include <fcntl.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>
#include <jansson.h>

#include "cf_json.h"
#include "taudit.h"

struct canaries {
    char v1[64], v2[64];
};

static void check_text(const char *hay, const struct canaries *c, const char *what)
{
    tapi_assert_no_secret(hay, c->v1, what);
    tapi_assert_no_secret(hay, c->v2, what);
}

/* Sends what refuses to take a canary, and checks that no refusal repeats it. */
static void refusals(struct taudit *f, const char *id, const struct canaries *c)
{
    char *pad = tapi_rep('p', 70000);
    char *bodies[] = {
        tapi_printf("{\"credential_pairs\": {\"Bad Key\": \"%s\"}}", c->v1),
        tapi_printf("{\"credential_pairs\": {\"a\": \"%s\", \"A\": \"%s\"}}", c->v1, c->v2),
        tapi_printf("{\"credential_pairs\": {\"k\": \"%s%s\"}}", c->v1, pad),
        tapi_printf("{\"credential_pairs\": {\"k\": [\"%s\"]}}", c->v2),
        tapi_printf("{\"credential_pairs\": {\"k\": \"%s\"}, \"name\": 5}", c->v1),
        tapi_printf("{\"credential_pairs\": {\"k\": \"%s\"", c->v2), /* not JSON */
        tapi_printf("{\"credential_pairs\": {\"k\": \"%s\"}, \"metadata\": {\"m\": \"%s%s\"}}",
                    c->v1, c->v2, pad),
    };
    for (size_t i = 0; i < sizeof(bodies) / sizeof(bodies[0]); i++) {
        struct t_resp r;
        tapi_send(&f->api, f->api.admin, "PUT", bodies[i], &r, "/v1/credentials/%s", id);
        assert_true(r.status >= 400 && r.status < 500);
        check_text(r.body.data, c, "an error body");
        check_text(r.headers.data, c, "error headers");
        t_resp_free(&r);
        tapi_send(&f->api, f->api.admin, "POST", bodies[i], &r, "/v1/credentials");
        assert_true(r.status >= 400 && r.status < 500);
        check_text(r.body.data, c, "an error body");
        t_resp_free(&r);
        free(bodies[i]);
    }
    free(pad);
}

static char *read_file(const char *path)
{
    struct cf_buf b = { 0 };
    char chunk[65536];
    size_t n;
    FILE *fp = fopen(path, "r");
    assert_non_null(fp);
    while ((n = fread(chunk, 1, sizeof(chunk), fp)) > 0)
        cf_buf_append(&b, chunk, n);
    fclose(fp);
    cf_buf_append(&b, "", 0);
    return b.data;
}

/* Every writable mapping of pid, searched for each needle; "" if none is found, else where. */
static char *search_memory(pid_t pid, const char *const *needles, size_t n)
{
    char path[64], line[512];
    struct cf_buf found = { 0 };

    snprintf(path, sizeof(path), "/proc/%d/maps", (int)pid);
    FILE *maps = fopen(path, "r");
    assert_non_null(maps);
    snprintf(path, sizeof(path), "/proc/%d/mem", (int)pid);
    int mem = open(path, O_RDONLY);
    if (mem < 0)
        fail_msg("cannot open %s (errno %d)", path, errno);
    size_t regions = 0, bytes = 0;
    while (fgets(line, sizeof(line), maps) != NULL) {
        unsigned long lo, hi;
        char perms[8];
        if (sscanf(line, "%lx-%lx %7s", &lo, &hi, perms) != 3 || perms[0] != 'r' || perms[1] != 'w')
            continue;
        /* ASan's shadow and allocator reservations are huge and mostly never touched */
        if (hi - lo > (1ul << 32))
            continue;
        char *buf = malloc(hi - lo);
        assert_non_null(buf);
        ssize_t got = pread(mem, buf, hi - lo, (off_t)lo);
        if (got > 0) {
            regions++;
            bytes += (size_t)got;
            for (size_t k = 0; k < n; k++) {
                const char *at = memmem(buf, (size_t)got, needles[k], strlen(needles[k]));
                if (at != NULL) {
                    assert_int_equal(cf_buf_printf(&found, "%s at %#lx in %s", needles[k],
                                                   lo + (unsigned long)(at - buf), line),
                                     0);
                }
            }
        }
        free(buf);
    }
    fclose(maps);
    close(mem);
    print_message("searched %zu writable regions, %zu bytes, of cofferd's memory\n", regions,
                  bytes);
    cf_buf_append(&found, "", 0);
    return found.data;
}

static void test_canary_values_are_nowhere_but_their_answers(void **state)
{
    struct taudit *f = *state;
    struct canaries c;
    char name[64], sid[64], id[TAPI_ID_LEN], rnd[33];
    struct t_resp r;

    taudit_rand_hex32(rnd);
    snprintf(c.v1, sizeof(c.v1), "canary-one-%s", rnd);
    taudit_rand_hex32(rnd);
    snprintf(c.v2, sizeof(c.v2), "canary-two-%s", rnd);

    /* written, then read every way */
    tapi_name(name, sizeof(name), "hygiene-");
    char *pairs = tapi_printf("{\"secret\": \"%s\"}", c.v1);
    tapi_cred_new(&f->api, name, pairs, id);
    free(pairs);
    pairs = tapi_printf("{\"credential_pairs\": {\"secret\": \"%s\"}}", c.v2);
    tapi_cred_put(&f->api, id, pairs);
    free(pairs);
    tapi_name(sid, sizeof(sid), "hygiene-svc-");
    const char *ids[] = { id, NULL };
    tapi_svc_map(&f->api, sid, ids);
    char *svc = taudit_service_auth(f, sid);
    for (int i = 0; i < 3; i++) {
        tapi_send(&f->api, svc, "GET", NULL, &r, "/v1/services/%s", sid);
        assert_int_equal(r.status, 200);
        assert_non_null(strstr(r.body.data, c.v2));
        t_resp_free(&r);
    }
    tapi_send(&f->api, f->api.admin, "GET", NULL, &r, "/v1/credentials/%s", id);
    assert_non_null(strstr(r.body.data, c.v2));
    t_resp_free(&r);
    tapi_send(&f->api, f->api.admin, "GET", NULL, &r, "/v1/credentials/%s/1/2", id);
    assert_int_equal(r.status, 200);
    t_resp_free(&r);
    refusals(f, id, &c);
    /* the service asks for another service's bundle, and with a broken token */
    tapi_send(&f->api, svc, "GET", NULL, &r, "/v1/services/not-%s", sid);
    check_text(r.body.data, &c, "a refused bundle");
    t_resp_free(&r);
    free(svc);

    /* the access log, every column */
    char *rows = tapi_sql(&f->api, "SELECT string_agg(a::text, E'\\n') FROM audit_log a");
    check_text(rows, &c, "the access log");
    free(rows);
    /* every stored column of the database, as pg_dump writes it */
    char port[16], dump_cmd[1024];
    snprintf(port, sizeof(port), "%s", t_env("COFFER_TEST_PG_PORT"));
    snprintf(dump_cmd, sizeof(dump_cmd),
             "cd / && runuser -u postgres -- pg_dump -h 127.0.0.1 -p %s -d %s --data-only", port,
             f->api.db.name);
    char *argv[] = { "/bin/sh", "-c", dump_cmd, NULL };
    struct cf_buf dump = { 0 };
    assert_int_equal(t_run(argv, NULL, &dump), 0);
    cf_buf_append(&dump, "", 0);
    assert_non_null(strstr(dump.data, "COPY public.credential_revisions"));
    check_text(dump.data, &c, "pg_dump of the database");
    cf_buf_free(&dump);
    /* every line cofferd logged */
    char *log = read_file(f->api.d.log_path);
    check_text(log, &c, "cofferd's log");
    free(log);
    /* cofferd's memory, once every answer is out and the bundle cache, which holds the bundle
     * until the catalog changes, has dropped (and cleansed) it: a write on this node does that */
    char other[TAPI_ID_LEN], flush[64];
    tapi_name(flush, sizeof(flush), "hygiene-flush-");
    tapi_cred_new(&f->api, flush, "{\"k\": \"not a canary\"}", other);
    tapi_send(&f->api, NULL, "GET", NULL, &r, "/metrics");
    assert_non_null(strstr(r.body.data, "\ncoffer_bundle_cache_entries 0\n"));
    t_resp_free(&r);
    const char *needles[] = { c.v1, c.v2 };
    char *found = search_memory(f->api.d.pid, needles, 2);
    if (found[0] != '\0')
        fail_msg("a canary value is still in cofferd's memory: %s", found);
    free(found);
}

static void test_the_process_dumps_no_core_and_locks_its_memory(void **state)
{
    struct taudit *f = *state;
    char path[64];

    snprintf(path, sizeof(path), "/proc/%d/limits", (int)f->api.d.pid);
    char *limits = read_file(path);
    const char *core = strstr(limits, "Max core file size");
    assert_non_null(core);
    unsigned long soft = 1, hard = 1;
    assert_int_equal(sscanf(core + strlen("Max core file size"), " %lu %lu", &soft, &hard), 2);
    assert_int_equal(soft, 0);
    assert_int_equal(hard, 0);
    free(limits);
    snprintf(path, sizeof(path), "/proc/%d/status", (int)f->api.d.pid);
    char *status = read_file(path);
    const char *lck = strstr(status, "\nVmLck:");
    assert_non_null(lck);
    unsigned long kb = 0;
    assert_int_equal(sscanf(lck + 7, " %lu", &kb), 1);
    if (kb == 0)
        fail_msg("cofferd's memory is not locked: %s", status);
    free(status);
}

int main(void)
{
    cf_json_init();
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_canary_values_are_nowhere_but_their_answers),
        cmocka_unit_test(test_the_process_dumps_no_core_and_locks_its_memory),
    };
    return t_run_group_tests(tests, taudit_setup, taudit_teardown);
}
