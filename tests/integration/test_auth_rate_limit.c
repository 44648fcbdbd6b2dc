/*
 * test_auth_rate_limit.c - a fleet behind one address is never turned away by someone else's
 * failures (issue 24). cofferd allows 60 failures a minute after a burst of 5 per client. From
 * 127.0.0.1, one thread sends garbage for 30 s at ten times that rate (fresh kmsauth tokens
 * claiming the fleet's own service name, fresh well-formed API tokens, and one API token over
 * and over), while every second a booting service arrives from the same address with a kmsauth
 * token never seen before, and an automation job with an API token created that second. Every
 * valid credential must be answered 200 (an overload 503 would be tolerated for 1 %, never a
 * 429), and the garbage past the burst and its refills must get 429 with Retry-After. The
 * repeated garbage token must be answered from the failure memory (no lookup).
 * The same through a trusted proxy naming the client in X-Forwarded-For; a spoofed
 * X-Forwarded-For from an untrusted peer changes nothing; IPv6 clients are counted per /64.
 */
#define _GNU_SOURCE /* memmem */
#include <arpa/inet.h>
#include <netinet/in.h>
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cmocka.h>

#include "cf_codec.h"
#include "cf_crypto.h"
#include "cf_json.h"
#include "cf_time.h"
#include "taudit.h"
#include "traw.h"

#define PER_MINUTE   60
#define BURST        5
#define SECONDS      30
#define GARBAGE_RATE (10 * PER_MINUTE / 60) /* a second: ten times the allowed failures */

static int setup(void **state)
{
    struct taudit *f = calloc(1, sizeof(*f));
    char *const env[] = { "COFFER_AUTH_FAILURES_PER_MINUTE=60", "COFFER_AUTH_FAILURE_BURST=5",
                          NULL };
    assert_non_null(f);
    taudit_init(f, env);
    *state = f;
    return 0;
}

static int teardown(void **state)
{
    struct taudit *f = *state;
    int rc = taudit_fini(f);
    free(f);
    assert_int_equal(rc, 0);
    return 0;
}

/* A connection from ::1 to [::1]:port. */
static int connect6(int port)
{
    struct sockaddr_in6 a = { .sin6_family = AF_INET6, .sin6_port = htons((uint16_t)port) };
    int fd = socket(AF_INET6, SOCK_STREAM, 0);
    assert_true(fd >= 0);
    assert_int_equal(inet_pton(AF_INET6, "::1", &a.sin6_addr), 1);
    assert_int_equal(connect(fd, (struct sockaddr *)&a, sizeof(a)), 0);
    return fd;
}

/* GET path from the address from ("::1" for an IPv6 connection) with header lines (each ending in
 * \r\n); the status, and the raw answer in *r when r is not NULL (free it). */
static int get_from(int port, const char *from, const char *path, const char *headers,
                    struct t_raw *r)
{
    char req[4096];
    struct t_raw local = { 0 };
    struct t_raw_resp resp;
    struct t_raw *out = r != NULL ? r : &local;

    int n = snprintf(req, sizeof(req), "GET %s HTTP/1.1\r\nHost: a\r\n%sConnection: close\r\n\r\n",
                     path, headers);
    assert_true(n > 0 && (size_t)n < sizeof(req));
    int fd = strcmp(from, "::1") == 0 ? connect6(port) : t_raw_connect_from(port, from, 0);
    *out = (struct t_raw){ 0 };
    assert_int_equal(t_raw_send(fd, req, (size_t)n), (size_t)n);
    t_raw_read(fd, 20000, out);
    close(fd);
    int status = t_raw_response(out, 0, &resp) ? resp.status : 0;
    if (r == NULL)
        t_raw_free(&local);
    return status;
}

static void random_b64(size_t raw_len, char *out, size_t cap, int variant)
{
    uint8_t raw[96];
    assert_true(raw_len <= sizeof(raw));
    assert_int_equal(cf_rand_bytes(raw, raw_len), 0);
    assert_int_equal(cf_b64_encode(variant, raw, raw_len, out, cap), 0);
}

struct garbage {
    int port;
    const char *from;    /* the address it sends from */
    const char *xff;     /* an X-Forwarded-For value it adds, or NULL */
    const char *service; /* the name its kmsauth garbage claims */
    int seconds;
    atomic_int sent, s401, s429, retry_after_ok, other;
};

/* One garbage request of kind i % 3: a fresh kmsauth token, a fresh API token, the same API
 * token again. */
static void *send_garbage(void *arg)
{
    struct garbage *g = arg;
    char tok[200], headers[600], xff[160] = "";
    int64_t start = cf_mono_ms();

    if (g->xff != NULL)
        snprintf(xff, sizeof(xff), "X-Forwarded-For: %s\r\n", g->xff);
    for (int i = 0; cf_mono_ms() - start < (int64_t)g->seconds * 1000; i++) {
        int64_t due = start + (int64_t)i * 1000 / GARBAGE_RATE;
        int64_t now = cf_mono_ms();
        if (due > now)
            usleep((useconds_t)(due - now) * 1000);
        switch (i % 3) {
        case 0:
            random_b64(64, tok, sizeof(tok), CF_B64_STD);
            snprintf(headers, sizeof(headers), "%sX-Auth-From: %s\r\nX-Auth-Token: %s\r\n", xff,
                     g->service, tok);
            break;
        case 1:
            memcpy(tok, "coffer_", 7);
            random_b64(32, tok + 7, sizeof(tok) - 7, CF_B64_URL);
            snprintf(headers, sizeof(headers), "%sAuthorization: Bearer %s\r\n", xff, tok);
            break;
        default:
            snprintf(
                headers, sizeof(headers),
                "%sAuthorization: Bearer coffer_AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA\r\n",
                xff);
        }
        struct t_raw r;
        int s = get_from(g->port, g->from, "/v1/user/email", headers, &r);
        atomic_fetch_add(&g->sent, 1);
        if (s == 401) {
            atomic_fetch_add(&g->s401, 1);
        } else if (s == 429) {
            atomic_fetch_add(&g->s429, 1);
            if (strcasestr(r.bytes.data, "\r\nRetry-After: 1\r\n") != NULL &&
                memmem(r.bytes.data, r.bytes.len, "\"too_many_failures\"", 19) != NULL)
                atomic_fetch_add(&g->retry_after_ok, 1);
        } else {
            atomic_fetch_add(&g->other, 1);
        }
        t_raw_free(&r);
    }
    return NULL;
}

struct tally {
    int valid, ok, overloaded, other;
};

static void count(struct tally *t, int status, const char *what, int second)
{
    t->valid++;
    if (status == 200) {
        t->ok++;
    } else if (status == 503) {
        t->overloaded++;
    } else {
        t->other++;
        print_message("second %d: a valid %s got %d\n", second, what, status);
    }
}

/* Runs the garbage sender g for g->seconds while, every second, a new service token and a new
 * API token arrive from valid_from (with X-Forwarded-For valid_xff when not NULL). */
static void fleet_under_garbage(struct taudit *f, struct garbage *g, const char *valid_from,
                                const char *valid_xff, const char *sid, const char *tag)
{
    char *bundle = tapi_printf("/v1/services/%s", sid);
    char xff[160] = "";
    struct tally t = { 0 };
    pthread_t th;

    if (valid_xff != NULL)
        snprintf(xff, sizeof(xff), "X-Forwarded-For: %s\r\n", valid_xff);
    assert_int_equal(pthread_create(&th, NULL, send_garbage, g), 0);
    int64_t start = cf_mono_ms();
    for (int s = 0; s < g->seconds; s++) {
        int64_t due = start + (int64_t)s * 1000, now = cf_mono_ms();
        if (due > now)
            usleep((useconds_t)(due - now) * 1000);
        /* a service booting: its first kmsauth token */
        char *svc = taudit_service_auth(f, sid);
        char *h = tapi_printf("%s%s\r\n", xff, svc);
        count(&t, get_from(f->api.d.port, valid_from, bundle, h, NULL), "service token", s);
        free(h);
        free(svc);
        /* a job with an API token created this second */
        char name[64], token[64];
        snprintf(name, sizeof(name), "fleet-%s-%d", tag, s);
        t_token_create(&f->api.db, "auditor", name, token);
        h = tapi_printf("%sAuthorization: Bearer %s\r\n", xff, token);
        count(&t, get_from(f->api.d.port, valid_from, "/v1/user/email", h, NULL), "API token", s);
        free(h);
    }
    assert_int_equal(pthread_join(th, NULL), 0);
    print_message("%s: valid %d: 200 %d, 503 %d, other %d; garbage %d: 401 %d, 429 %d, other %d\n",
                  tag, t.valid, t.ok, t.overloaded, t.other, atomic_load(&g->sent),
                  atomic_load(&g->s401), atomic_load(&g->s429), atomic_load(&g->other));
    /* the healthy are served: never a 429, at most 1 % overloaded */
    assert_int_equal(t.valid, 2 * g->seconds);
    assert_int_equal(t.other, 0);
    assert_true(t.ok * 100 >= t.valid * 99);
    /* the garbage is refused: 401 for the burst and what refilled, 429 with Retry-After after */
    int sent = atomic_load(&g->sent);
    assert_int_equal(atomic_load(&g->other), 0);
    assert_int_equal(atomic_load(&g->s401) + atomic_load(&g->s429), sent);
    /* at most the burst plus one refill a second are answered 401 */
    int64_t took_s = (cf_mono_ms() - start) / 1000 + 1;
    assert_true(sent > BURST + took_s * PER_MINUTE / 60 + 1); /* else it proves nothing */
    assert_true(atomic_load(&g->s401) <= BURST + took_s * PER_MINUTE / 60 + 1);
    assert_int_equal(atomic_load(&g->retry_after_ok), atomic_load(&g->s429));
    free(bundle);
}

static void test_a_fleet_behind_one_address_is_served_while_garbage_comes_from_it(void **state)
{
    struct taudit *f = *state;
    char name[64], sid[64], id[TAPI_ID_LEN];
    double remembered0 = 0, remembered1 = 0;

    tapi_name(name, sizeof(name), "fleet-");
    tapi_cred_new(&f->api, name, "{\"pw\": \"fleet-value\"}", id);
    tapi_name(sid, sizeof(sid), "fleet-svc-");
    const char *ids[] = { id, NULL };
    tapi_svc_map(&f->api, sid, ids);
    assert_true(taudit_metric(&f->api.d, "coffer_auth_failures_remembered_total", &remembered0));

    struct garbage g = {
        .port = f->api.d.port, .from = "127.0.0.1", .service = sid, .seconds = SECONDS
    };
    fleet_under_garbage(f, &g, "127.0.0.1", NULL, sid, "direct");

    /* the repeated garbage token cost nothing after its first lookup */
    assert_true(taudit_metric(&f->api.d, "coffer_auth_failures_remembered_total", &remembered1));
    assert_true(remembered1 - remembered0 >= (double)(atomic_load(&g.sent) / 3 - 1));
    /* another address is not limited by any of it */
    assert_int_equal(
        get_from(f->api.d.port, "127.0.0.2", "/v1/user/email",
                 "Authorization: Bearer coffer_AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA\r\n",
                 NULL),
        401);
}

/* A 429's access-log row: denied, with the credential's own failure reason. */
static void test_a_refused_failure_is_logged_with_its_reason(void **state)
{
    struct taudit *f = *state;
    struct t_raw r;
    const char *bad =
        "Authorization: Bearer coffer_BBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBB\r\n";

    for (int i = 0; i < BURST + 1; i++)
        (void)get_from(f->api.d.port, "127.0.0.3", "/v1/user/email", bad, NULL);
    assert_int_equal(get_from(f->api.d.port, "127.0.0.3", "/v1/user/email", bad, &r), 429);
    char rid[40];
    const char *h = strcasestr(r.bytes.data, "\r\nX-Request-Id: ");
    assert_non_null(h);
    snprintf(rid, sizeof(rid), "%.32s", h + 16);
    t_raw_free(&r);
    char *q =
        tapi_printf("SELECT result || '|' || reason FROM audit_log WHERE request_id = '%s'", rid);
    char *row = tapi_sql(&f->api, q);
    assert_string_equal(row, "denied|api_token_invalid");
    free(row);
    free(q);
    double refused = 0;
    assert_true(taudit_metric(&f->api.d, "coffer_auth_rate_limited_total", &refused));
    assert_true(refused >= 1);
}

/* --- behind a trusted proxy (127.0.0.1), clients named by X-Forwarded-For --- */

static int setup_proxy(void **state)
{
    struct taudit *f = calloc(1, sizeof(*f));
    char *const env[] = { "COFFER_AUTH_FAILURES_PER_MINUTE=60", "COFFER_AUTH_FAILURE_BURST=5",
                          "COFFER_TRUSTED_PROXIES=127.0.0.1/32", NULL };
    assert_non_null(f);
    taudit_init(f, env);
    *state = f;
    return 0;
}

#define GARBAGE_BEARER                                                                             \
    "Authorization: Bearer coffer_CCCCCCCCCCCCCCCCCCCCCCCCCCCCCCCCCCCCCCCCCCC\r\n"

/* The status of one garbage request from `from` naming the client xff. */
static int garbage_as(const struct taudit *f, const char *from, const char *xff)
{
    char h[300];
    snprintf(h, sizeof(h), "X-Forwarded-For: %s\r\n%s", xff, GARBAGE_BEARER);
    return get_from(f->api.d.port, from, "/v1/user/email", h, NULL);
}

static void
test_a_fleet_behind_a_trusted_proxy_is_served_while_garbage_comes_through_it(void **state)
{
    struct taudit *f = *state;
    char name[64], sid[64], id[TAPI_ID_LEN];

    tapi_name(name, sizeof(name), "proxied-");
    tapi_cred_new(&f->api, name, "{\"pw\": \"proxied-value\"}", id);
    tapi_name(sid, sizeof(sid), "proxied-svc-");
    const char *ids[] = { id, NULL };
    tapi_svc_map(&f->api, sid, ids);
    /* the garbage and the fleet are one client behind the proxy: 198.51.100.7 */
    struct garbage g = { .port = f->api.d.port,
                         .from = "127.0.0.1",
                         .xff = "198.51.100.7",
                         .service = sid,
                         .seconds = 10 };
    fleet_under_garbage(f, &g, "127.0.0.1", "198.51.100.7", sid, "proxied");
    /* what was limited is that client, not the proxy's address */
    assert_int_equal(garbage_as(f, "127.0.0.1", "198.51.100.7"), 429);
    assert_int_equal(garbage_as(f, "127.0.0.1", "198.51.100.8"), 401);
    assert_int_equal(garbage_as(f, "127.0.0.1", "203.0.113.9, 198.51.100.7"), 429);
}

/* An untrusted peer's X-Forwarded-For is not believed: its failures are its own, whatever
 * client it names, and they limit no client it names. */
static void test_a_spoofed_forwarded_for_changes_nothing(void **state)
{
    struct taudit *f = *state;
    char xff[64];

    for (int i = 0; i < BURST; i++) {
        snprintf(xff, sizeof(xff), "203.0.113.%d", i + 1);
        assert_int_equal(garbage_as(f, "127.0.0.2", xff), 401);
    }
    snprintf(xff, sizeof(xff), "203.0.113.%d", 100);
    assert_int_equal(garbage_as(f, "127.0.0.2", xff), 429); /* 127.0.0.2 is limited */
    assert_int_equal(garbage_as(f, "127.0.0.2", "127.0.0.1"), 429);
    /* none of the clients it named is */
    assert_int_equal(garbage_as(f, "127.0.0.1", "203.0.113.1"), 401);
    assert_int_equal(garbage_as(f, "127.0.0.1", "203.0.113.100"), 401);
}

/* --- IPv6: cofferd on [::1] behind a trusted proxy at ::1; clients are counted per /64 --- */

static int setup_v6(void **state)
{
    struct taudit *f = calloc(1, sizeof(*f));
    char *const env[] = { "COFFER_AUTH_FAILURES_PER_MINUTE=60", "COFFER_AUTH_FAILURE_BURST=5",
                          "COFFER_TRUSTED_PROXIES=::1/128", "COFFER_TEST_LISTEN=::1", NULL };
    assert_non_null(f);
    taudit_init(f, env);
    *state = f;
    return 0;
}

static void test_ipv6_clients_are_counted_per_64(void **state)
{
    struct taudit *f = *state;

    for (int i = 0; i < BURST; i++)
        assert_int_equal(garbage_as(f, "::1", "2001:db8:1:2::a"), 401);
    assert_int_equal(garbage_as(f, "::1", "2001:db8:1:2::a"), 429);
    /* another address of the same /64 is the same client */
    assert_int_equal(garbage_as(f, "::1", "2001:db8:1:2:ffff:1:2:3"), 429);
    /* the next /64 is another */
    assert_int_equal(garbage_as(f, "::1", "2001:db8:1:3::a"), 401);
    /* the proxy itself, sending on its own account, is another client too */
    assert_int_equal(get_from(f->api.d.port, "::1", "/v1/user/email", GARBAGE_BEARER, NULL), 401);
}

int main(void)
{
    cf_json_init();
    const struct CMUnitTest direct[] = {
        cmocka_unit_test(test_a_fleet_behind_one_address_is_served_while_garbage_comes_from_it),
        cmocka_unit_test(test_a_refused_failure_is_logged_with_its_reason),
    };
    const struct CMUnitTest proxied[] = {
        cmocka_unit_test(
            test_a_fleet_behind_a_trusted_proxy_is_served_while_garbage_comes_through_it),
        cmocka_unit_test(test_a_spoofed_forwarded_for_changes_nothing),
    };
    const struct CMUnitTest v6[] = {
        cmocka_unit_test(test_ipv6_clients_are_counted_per_64),
    };
    int failed = t_run_group_tests_name("direct", direct, setup, teardown);
    failed += t_run_group_tests_name("proxied", proxied, setup_proxy, teardown);
    failed += t_run_group_tests_name("ipv6", v6, setup_v6, teardown);
    return failed;
}
