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
 * This is done three times: cofferd on the local KMS backend over plain HTTP; the same over
 * HTTPS (so OpenSSL's record buffers, which decrypt requests in place, are searched too); and
 * cofferd on the aws KMS backend (moto), where the memory is also searched for every data key
 * it was given, in the base64 form that KMS's JSON answers carry them in (libcurl's receive
 * buffers, the response bodies, the parsed JSON). The test learns those keys by decrypting the
 * data_key blobs stored in the database with moto itself.
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
#include <sys/stat.h>
#include <unistd.h>

#include <cmocka.h>
#include <curl/curl.h>
#include <jansson.h>

#include "cf_codec.h"
#include "cf_crypto.h"
#include "cf_json.h"
#include "cf_secret.h"
#include "kms.h"
#include "taudit.h"
#include "tkms.h"

struct canaries {
    char v1[64], v2[64];
};

static void check_text(const char *hay, const struct canaries *c, const char *what)
{
    tapi_assert_no_secret(hay, c->v1, what);
    tapi_assert_no_secret(hay, c->v2, what);
}

/* Where the canaries go: a cofferd, how to reach it, and how a service authenticates to it. */
struct target {
    const struct tapi *api; /* its database, tokens and process */
    const char *cafile;     /* its self-signed certificate when it serves HTTPS, else NULL */
    char *(*service_auth)(const void *fx, const char *sid); /* "Authorization: ..." (free it) */
    const void *fx;
};

/* Sends method path (fmt) to the target with the header auth (may be NULL). */
static void send_to(const struct target *t, const char *auth, const char *method, const char *body,
                    struct t_resp *r, const char *fmt, ...) __attribute__((format(printf, 6, 7)));

static void send_to(const struct target *t, const char *auth, const char *method, const char *body,
                    struct t_resp *r, const char *fmt, ...)
{
    char path[1024];
    va_list ap;
    const char *headers[3] = { NULL, NULL, NULL };
    size_t nh = 0;

    if (auth != NULL)
        headers[nh++] = auth;
    if (body != NULL)
        headers[nh++] = "Content-Type: application/json";
    va_start(ap, fmt);
    int n = vsnprintf(path, sizeof(path), fmt, ap);
    va_end(ap);
    assert_true(n > 0 && (size_t)n < sizeof(path));
    char *url = tapi_printf("%s%s", t->api->d.base_url, path);
    t_http_ca(t->cafile, method, url, headers, body, r);
    free(url);
}

/* A new credential (name, pairs as JSON) as the admin: its id into id. */
static void cred_new(const struct target *t, const char *name, const char *pairs,
                     char id[TAPI_ID_LEN])
{
    struct t_resp r;
    char *body = tapi_printf("{\"name\": \"%s\", \"credential_pairs\": %s}", name, pairs);

    send_to(t, t->api->admin, "POST", body, &r, "/v1/credentials");
    free(body);
    json_t *b = tapi_ok(&r);
    const char *s = tapi_str(b, "id");
    if (!cf_is_lower_hex(s, TAPI_ID_LEN - 1))
        fail_msg("a new credential id must be 32 lowercase hex: %s", s);
    memcpy(id, s, TAPI_ID_LEN);
    json_decref(b);
    t_resp_free(&r);
}

/* PUT body to path (fmt) as the admin; asserts 200. */
static void admin_put(const struct target *t, const char *body, const char *path)
{
    struct t_resp r;

    send_to(t, t->api->admin, "PUT", body, &r, "%s", path);
    json_decref(tapi_ok(&r));
    t_resp_free(&r);
}

/* Sends what refuses to take a canary, and checks that no refusal repeats it. */
static void refusals(const struct target *t, const char *id, const struct canaries *c)
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
        send_to(t, t->api->admin, "PUT", bodies[i], &r, "/v1/credentials/%s", id);
        assert_true(r.status >= 400 && r.status < 500);
        check_text(r.body.data, c, "an error body");
        check_text(r.headers.data, c, "error headers");
        t_resp_free(&r);
        send_to(t, t->api->admin, "POST", bodies[i], &r, "/v1/credentials");
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

/* The bytes around a find, printable ASCII kept and the rest as '.', to tell whose buffer it
 * is (an HTTP exchange, JSON, ...). */
static void around(struct cf_buf *out, const char *buf, size_t len, size_t at)
{
    size_t from = at > 400 ? at - 400 : 0, to = len - at > 120 ? at + 120 : len;

    cf_buf_append_str(out, "  around it: ");
    for (size_t i = from; i < to; i++)
        cf_buf_append_char(out, buf[i] >= 0x20 && buf[i] < 0x7f ? buf[i] : '.');
    cf_buf_append_char(out, '\n');
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
                    around(&found, buf, (size_t)got, (size_t)(at - buf));
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

/* Writes the canaries, reads them back every way, sends them where they are refused, and checks
 * every answer, the log, the access log and the database. Leaves cofferd with every answer
 * sent and its bundle cache empty, ready for its memory to be searched. */
static void canary_flow(const struct target *t, struct canaries *c)
{
    const struct tapi *api = t->api;
    char name[64], sid[64], id[TAPI_ID_LEN], rnd[33];
    struct t_resp r;

    taudit_rand_hex32(rnd);
    snprintf(c->v1, sizeof(c->v1), "canary-one-%s", rnd);
    taudit_rand_hex32(rnd);
    snprintf(c->v2, sizeof(c->v2), "canary-two-%s", rnd);

    /* written, then read every way */
    tapi_name(name, sizeof(name), "hygiene-");
    char *pairs = tapi_printf("{\"secret\": \"%s\"}", c->v1);
    cred_new(t, name, pairs, id);
    free(pairs);
    char *path = tapi_printf("/v1/credentials/%s", id);
    pairs = tapi_printf("{\"credential_pairs\": {\"secret\": \"%s\"}}", c->v2);
    admin_put(t, pairs, path);
    free(pairs);
    free(path);
    tapi_name(sid, sizeof(sid), "hygiene-svc-");
    char *mapping = tapi_printf("{\"id\": \"%s\", \"account\": null, \"enabled\": true, "
                                "\"credentials\": [\"%s\"], \"blind_credentials\": []}",
                                sid, id);
    path = tapi_printf("/v1/services/%s", sid);
    admin_put(t, mapping, path);
    free(mapping);
    free(path);
    char *svc = t->service_auth(t->fx, sid);
    for (int i = 0; i < 3; i++) {
        send_to(t, svc, "GET", NULL, &r, "/v1/services/%s", sid);
        assert_int_equal(r.status, 200);
        assert_non_null(strstr(r.body.data, c->v2));
        t_resp_free(&r);
    }
    send_to(t, api->admin, "GET", NULL, &r, "/v1/credentials/%s", id);
    assert_int_equal(r.status, 200);
    assert_non_null(strstr(r.body.data, c->v2));
    t_resp_free(&r);
    send_to(t, api->admin, "GET", NULL, &r, "/v1/credentials/%s/1/2", id);
    assert_int_equal(r.status, 200);
    t_resp_free(&r);
    refusals(t, id, c);
    /* the service asks for another service's bundle */
    send_to(t, svc, "GET", NULL, &r, "/v1/services/not-%s", sid);
    check_text(r.body.data, c, "a refused bundle");
    t_resp_free(&r);
    free(svc);

    /* the access log, every column */
    char *rows = tapi_sql(api, "SELECT string_agg(a::text, E'\\n') FROM audit_log a");
    check_text(rows, c, "the access log");
    free(rows);
    /* every stored column of the database, as pg_dump writes it */
    char port[16], dump_cmd[1024];
    snprintf(port, sizeof(port), "%s", t_env("COFFER_TEST_PG_PORT"));
    snprintf(dump_cmd, sizeof(dump_cmd),
             "cd / && runuser -u postgres -- pg_dump -h 127.0.0.1 -p %s -d %s --data-only", port,
             api->db.name);
    char *argv[] = { "/bin/sh", "-c", dump_cmd, NULL };
    struct cf_buf dump = { 0 };
    assert_int_equal(t_run(argv, NULL, &dump), 0);
    cf_buf_append(&dump, "", 0);
    assert_non_null(strstr(dump.data, "COPY public.credential_revisions"));
    check_text(dump.data, c, "pg_dump of the database");
    cf_buf_free(&dump);
    /* every line cofferd logged */
    char *log = read_file(api->d.log_path);
    check_text(log, c, "cofferd's log");
    free(log);
    /* every answer is out; the bundle cache, which holds the bundle until the catalog changes,
     * is dropped (and cleansed) by a write on this node */
    char other[TAPI_ID_LEN], flush[64];
    tapi_name(flush, sizeof(flush), "hygiene-flush-");
    cred_new(t, flush, "{\"k\": \"not a canary\"}", other);
    send_to(t, NULL, "GET", NULL, &r, "/metrics");
    assert_int_equal(r.status, 200);
    assert_non_null(strstr(r.body.data, "\ncoffer_bundle_cache_entries 0\n"));
    t_resp_free(&r);
}

/* Fails the test if cofferd's memory holds any of the n needles. */
static void assert_memory_clean(const struct tapi *api, const char *const *needles, size_t n)
{
    char *found = search_memory(api->d.pid, needles, n);
    if (found[0] != '\0') {
        print_message("%s", found); /* whole: fail_msg() cuts long messages */
        free(found);
        fail_msg("a secret is still in cofferd's memory (where: above)");
    }
    free(found);
}

/* A kmsauth service token made by the coffer CLI with the local key file. */
static char *local_service_auth(const void *fx, const char *sid)
{
    return taudit_service_auth(fx, sid);
}

/* A kmsauth service token made through moto under the fixture's service key. */
static char *aws_service_auth(const void *fx, const char *sid)
{
    const struct tkms *f = fx;
    char user[128];
    struct tkms_creds creds;

    tkms_username(2, "service", sid, user, sizeof(user));
    char *token = tkms_token(f, 2, "service", sid);
    tkms_creds(TKMS_BASIC, user, token, &creds);
    char *h = strdup(creds.h[0]);
    assert_non_null(h);
    tkms_creds_free(&creds);
    free(token);
    return h;
}

static void test_canary_values_are_nowhere_but_their_answers(void **state)
{
    struct taudit *f = *state;
    struct canaries c;
    struct target t = { &f->api, NULL, local_service_auth, f };

    canary_flow(&t, &c);
    const char *needles[] = { c.v1, c.v2 };
    assert_memory_clean(&f->api, needles, 2);
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

/* --- over HTTPS ----------------------------------------------------------------------------- */

/* The local-backend fixture, with cofferd serving HTTPS under a self-signed ECDSA certificate. */
struct tls_fixture {
    struct taudit a; /* first: taudit_service_auth() takes the fixture */
    char dir[300], cert[400];
};

static int tls_setup(void **state)
{
    struct tls_fixture *f = calloc(1, sizeof(*f));
    char key[400], certenv[420], keyenv[420];

    assert_non_null(f);
    t_tls_cert_dir("hygiene-tls", f->dir, sizeof(f->dir));
    snprintf(f->cert, sizeof(f->cert), "%s/a.pem", f->dir);
    snprintf(key, sizeof(key), "%s/a.key", f->dir);
    snprintf(certenv, sizeof(certenv), "COFFER_TLS_CERT=%s", f->cert);
    snprintf(keyenv, sizeof(keyenv), "COFFER_TLS_KEY=%s", key);
    char *env[] = { certenv, keyenv, NULL };
    taudit_init(&f->a, env);
    assert_true(f->a.api.d.tls);
    *state = f;
    return 0;
}

static int tls_teardown(void **state)
{
    struct tls_fixture *f = *state;
    int rc = taudit_fini(&f->a);
    free(f);
    assert_int_equal(rc, 0);
    return 0;
}

static void test_over_tls_canary_values_are_nowhere_but_their_answers(void **state)
{
    struct tls_fixture *f = *state;
    struct canaries c;
    struct target t = { &f->a.api, f->cert, local_service_auth, &f->a };

    assert_true(cf_has_prefix(f->a.api.d.base_url, "https://"));
    canary_flow(&t, &c);
    const char *needles[] = { c.v1, c.v2 };
    assert_memory_clean(&f->a.api, needles, 2);
}

/* --- on the aws KMS backend ------------------------------------------------------------------ */

#define DATA_KEYS_MAX 16

/* Every data key cofferd was given for the revisions in its database, as KMS's answers carry
 * it: standard base64 (GenerateDataKey's and Decrypt's "Plaintext"). Learnt by asking moto to
 * decrypt each stored data_key blob under its encryption context ({"id": credential id}). */
static size_t data_keys_b64(const struct tkms *f, char out[][64], size_t cap)
{
    char *rows = tapi_sql(&f->api, "SELECT string_agg(credential_id || ':' || "
                                   "encode(data_key, 'hex'), ',') FROM credential_revisions");
    size_t n = 0;

    for (char *save = NULL, *row = strtok_r(rows, ",", &save); row != NULL;
         row = strtok_r(NULL, ",", &save)) {
        char *hex = strchr(row, ':');
        assert_non_null(hex);
        *hex++ = '\0';
        size_t blob_len = strlen(hex) / 2;
        uint8_t *blob = malloc(blob_len);
        assert_non_null(blob);
        assert_int_equal(cf_hex_decode(hex, strlen(hex), blob, blob_len), 0);
        struct kms_context ctx = { 0 };
        struct cf_secret key = { 0 };
        assert_int_equal(kms_context_add(&ctx, "id", row), 0);
        assert_int_equal(kms_decrypt(f->kms, blob, blob_len, &ctx, &key, NULL, 0), 0);
        assert_int_equal(key.len, 32);
        assert_true(n < cap);
        assert_int_equal(cf_b64_encode(CF_B64_STD, key.data, key.len, out[n], sizeof(out[n])), 0);
        n++;
        cf_secret_free(&key);
        free(blob);
    }
    free(rows);
    return n;
}

static void test_on_aws_kms_canaries_and_data_keys_are_nowhere(void **state)
{
    struct tkms *f = *state;
    struct canaries c;
    struct target t = { &f->api, NULL, aws_service_auth, f };
    char keys[DATA_KEYS_MAX][64];
    const char *needles[DATA_KEYS_MAX + 2];

    canary_flow(&t, &c);
    size_t n = data_keys_b64(f, keys, DATA_KEYS_MAX);
    /* two revisions of the canary credential and the one that flushed the cache */
    assert_int_equal(n, 3);
    needles[0] = c.v1;
    needles[1] = c.v2;
    for (size_t i = 0; i < n; i++)
        needles[2 + i] = keys[i];
    assert_memory_clean(&f->api, needles, 2 + n);
}

int main(void)
{
    cf_json_init();
    const struct CMUnitTest local_http[] = {
        cmocka_unit_test(test_canary_values_are_nowhere_but_their_answers),
        cmocka_unit_test(test_the_process_dumps_no_core_and_locks_its_memory),
    };
    const struct CMUnitTest local_https[] = {
        cmocka_unit_test(test_over_tls_canary_values_are_nowhere_but_their_answers),
    };
    const struct CMUnitTest aws_kms[] = {
        cmocka_unit_test(test_on_aws_kms_canaries_and_data_keys_are_nowhere),
    };
    int failed =
        t_run_group_tests_name("hygiene_local_http", local_http, taudit_setup, taudit_teardown);
    failed += t_run_group_tests_name("hygiene_local_https", local_https, tls_setup, tls_teardown);
    failed += t_run_group_tests_name("hygiene_aws_kms", aws_kms, tkms_setup, tkms_teardown);
    return failed;
}
