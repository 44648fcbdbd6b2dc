/*
 * test_trusted_proxies.c - the client behind a load balancer (issue 24, item 1): with
 * COFFER_TRUSTED_PROXIES=127.0.0.1/32, X-Forwarded-For from 127.0.0.1 names the client in the
 * access log (source_ip) and the proxy is kept as peer_ip, while the same header from
 * 127.0.0.2 changes nothing and only shows in the log line; the PROXY protocol v1 and v2 (plain
 * HTTP and before TLS) is believed from the trusted peer only, and a connection without a valid
 * header is closed; rows with peer_ip verify (server, cofferd and the coffer client, and
 * recomputed here), and a changed peer_ip breaks the chain.
 */
#include <arpa/inet.h>
#include <netinet/in.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cmocka.h>
#include <openssl/ssl.h>

#include "taudit.h"
#include "traw.h"

#define TRUSTED   "COFFER_TRUSTED_PROXIES=127.0.0.1/32"
#define PP_ON     "COFFER_PROXY_PROTOCOL=on"
#define SHORT_REQ "COFFER_REQUEST_TIMEOUT_MS=2000"

/* --- helpers ------------------------------------------------------------------------------ */

/* A PROXY v2 header: PROXY (or LOCAL) over TCP4 from src:port, or TCP6 when src holds ':'. */
static size_t v2_header(uint8_t *out, bool local, const char *src)
{
    static const uint8_t sig[12] = { 0x0d, 0x0a, 0x0d, 0x0a, 0x00, 0x0d,
                                     0x0a, 0x51, 0x55, 0x49, 0x54, 0x0a };
    bool v6 = strchr(src, ':') != NULL;
    size_t alen = v6 ? 36 : 12;

    memcpy(out, sig, 12);
    out[12] = local ? 0x20 : 0x21;
    out[13] = v6 ? 0x21 : 0x11;
    out[14] = 0;
    out[15] = (uint8_t)alen;
    memset(out + 16, 0, alen);
    assert_int_equal(inet_pton(v6 ? AF_INET6 : AF_INET, src, out + 16), 1);
    out[16 + alen - 4] = 0x30; /* source port 12345 */
    out[16 + alen - 3] = 0x39;
    out[16 + alen - 1] = 80;
    return 16 + alen;
}

/* The request every exchange sends after what precedes it: GET /v1/credentials as the admin,
 * with extra header lines (each ending in CR LF, may be ""). */
static char *request(const struct taudit *f, const char *extra)
{
    return tapi_printf("GET /v1/credentials HTTP/1.1\r\nHost: 127.0.0.1\r\n%s\r\n"
                       "Connection: close\r\n%s\r\n",
                       f->api.admin, extra);
}

/* The X-Request-Id of the first answer in raw bytes, into rid[33]; false if none. */
static bool request_id_of(const char *bytes, char rid[33])
{
    const char *p = strstr(bytes, "\r\nX-Request-Id: ");
    rid[0] = '\0';
    if (p == NULL)
        return false;
    p += strlen("\r\nX-Request-Id: ");
    if (strspn(p, "0123456789abcdef") < 32)
        return false;
    memcpy(rid, p, 32);
    rid[32] = '\0';
    return true;
}

/* "source_ip peer_ip" of the row of request rid, read from the table ("<null>" for null). */
static void row_ips(const struct taudit *f, const char *rid, char *out, size_t cap)
{
    char sql[256];
    snprintf(sql, sizeof(sql),
             "SELECT string_agg(source_ip || ' ' || coalesce(peer_ip, '<null>'), ';') FROM "
             "audit_log WHERE request_id = '%s'",
             rid);
    t_sql_ok(f->api.db.super_url, sql, out, cap);
}

/* From the loopback address from: sends pre[0..prelen) then the request with extra headers
 * over plain TCP, and checks the answer is 200 and its row holds want ("source peer"). */
static void plain_exchange(const struct taudit *f, const char *from, const void *pre, size_t prelen,
                           const char *extra, const char *want)
{
    struct t_raw r = { 0 };
    char rid[33], ips[128];
    char *req = request(f, extra);
    int fd = t_raw_connect_from(f->api.d.port, from, 0);

    assert_int_equal(t_raw_send(fd, pre, prelen), prelen);
    assert_int_equal(t_raw_send(fd, req, strlen(req)), strlen(req));
    t_raw_read(fd, 10000, &r);
    close(fd);
    if (strncmp(r.bytes.data != NULL ? r.bytes.data : "", "HTTP/1.1 200 ", 13) != 0)
        fail_msg("from %s: expected 200, got: %.300s", from, r.bytes.data);
    assert_true(request_id_of(r.bytes.data, rid));
    row_ips(f, rid, ips, sizeof(ips));
    if (strcmp(ips, want) != 0)
        fail_msg("from %s: the row holds '%s', expected '%s'", from, ips, want);
    t_raw_free(&r);
    free(req);
}

/* From from: sends bytes and expects the connection closed with no answer at all. */
static void refused(const struct taudit *f, const char *from, const void *bytes, size_t len,
                    const char *what)
{
    struct t_raw r = { 0 };
    int fd = t_raw_connect_from(f->api.d.port, from, 0);

    (void)t_raw_send(fd, bytes, len);
    t_raw_read(fd, 10000, &r); /* the request timeout is 2 s: closed long before this */
    close(fd);
    if (r.timed_out || r.bytes.len != 0)
        fail_msg("%s: expected the connection closed without an answer; timed out %d, got %zu "
                 "bytes: %.200s",
                 what, (int)r.timed_out, r.bytes.len, r.bytes.data);
    t_raw_free(&r);
}

/* True if cofferd's log holds needle (its lines are compact JSON). */
static bool log_has(const struct t_cofferd *d, const char *needle)
{
    struct cf_buf log = { 0 };
    char chunk[4096];
    size_t n;
    FILE *fp = fopen(d->log_path, "r");

    assert_non_null(fp);
    while ((n = fread(chunk, 1, sizeof(chunk), fp)) > 0)
        cf_buf_append(&log, chunk, n);
    (void)fclose(fp);
    bool found = log.data != NULL && strstr(log.data, needle) != NULL;
    cf_buf_free(&log);
    return found;
}

/* The coffer client's `audit verify` (the chain recomputed from the API's JSON). */
static int client_verify(const struct taudit *f, struct cf_buf *out)
{
    char coffer[600], url[128], token[128];
    const char *cofferd = t_env("COFFER_TEST_COFFERD");
    const char *tail = strstr(cofferd, "service/cofferd");

    assert_non_null(tail);
    snprintf(coffer, sizeof(coffer), "%.*scli/coffer", (int)(tail - cofferd), cofferd);
    snprintf(url, sizeof(url), "COFFER_URL=%s", f->api.d.base_url);
    snprintf(token, sizeof(token), "COFFER_TOKEN=%s", f->api.auditor_token);
    char *argv[] = { coffer, "audit", "verify", NULL };
    char *env[] = { url, token, NULL };
    return t_run_output(argv, env, out);
}

/* The row of the request r answered, read through the auditors' API (its shape and hash
 * checked by taudit), holds source_ip and peer_ip ("<null>": null). */
static void api_row_is(const struct taudit *f, const struct t_resp *r, const char *source,
                       const char *peer)
{
    char *diff = NULL;
    json_t *ev = taudit_event_get(f, r, &diff);

    if (ev == NULL)
        fail_msg("%s", diff);
    diff = taudit_event_diff(
        ev,
        &(struct taudit_want){ .source_ip = source, .revision = TAPI_ANY, .result = "allowed" });
    if (diff != NULL)
        fail_msg("%s", diff);
    json_t *p = json_object_get(ev, "peer_ip");
    const char *got = json_is_null(p) ? "<null>" : json_string_value(p);
    if (got == NULL || strcmp(got, peer) != 0)
        fail_msg("peer_ip: expected %s, got %s", peer, got != NULL ? got : "(not a string)");
    json_decref(ev);
}

/* --- X-Forwarded-For ---------------------------------------------------------------------- */

static int xff_setup(void **state)
{
    struct taudit *f = calloc(1, sizeof(*f));
    char *env[] = { TRUSTED, NULL };
    assert_non_null(f);
    taudit_init(f, env);
    *state = f;
    return 0;
}

static int fixture_teardown(void **state)
{
    struct taudit *f = *state;
    int rc = taudit_fini(f);
    free(f);
    assert_int_equal(rc, 0);
    return 0;
}

static void test_xff_from_a_trusted_proxy_names_the_client(void **state)
{
    struct taudit *f = *state;
    struct t_resp r;

    const char *h1[] = { f->api.admin, "X-Forwarded-For: 203.0.113.1, 198.51.100.7", NULL };
    tapi_send_h(&f->api, h1, "GET", NULL, &r, "/v1/credentials");
    assert_int_equal(r.status, 200);
    api_row_is(f, &r, "198.51.100.7", "127.0.0.1");
    t_resp_free(&r);

    /* two header lines are one list; the trusted proxy's own entry is skipped */
    const char *h2[] = { f->api.admin, "X-Forwarded-For: 198.51.100.8",
                         "X-Forwarded-For: 127.0.0.1", NULL };
    tapi_send_h(&f->api, h2, "GET", NULL, &r, "/v1/credentials");
    api_row_is(f, &r, "198.51.100.8", "127.0.0.1");
    t_resp_free(&r);

    /* a malformed entry stops the walk: the trusted peer is the client (peer_ip null) */
    const char *h3[] = { f->api.admin, "X-Forwarded-For: 198.51.100.9, not-an-address", NULL };
    tapi_send_h(&f->api, h3, "GET", NULL, &r, "/v1/credentials");
    api_row_is(f, &r, "127.0.0.1", "<null>");
    t_resp_free(&r);

    /* no header: the peer, and no peer_ip */
    tapi_send(&f->api, f->api.admin, "GET", NULL, &r, "/v1/credentials");
    api_row_is(f, &r, "127.0.0.1", "<null>");
    t_resp_free(&r);
}

static void test_xff_from_an_untrusted_peer_changes_nothing(void **state)
{
    struct taudit *f = *state;

    /* the same header from 127.0.0.2: ignored, and shown in the log line as valid UTF-8 */
    plain_exchange(f, "127.0.0.2", "", 0, "X-Forwarded-For: 198.51.100.7, \xff\xfe\r\n",
                   "127.0.0.2 <null>");
    assert_true(
        log_has(&f->api.d, "\"forwarded_ignored\":\"198.51.100.7, \xef\xbf\xbd\xef\xbf\xbd\""));
    assert_false(log_has(&f->api.d, "\xff\xfe"));
    /* claiming to be the trusted proxy's own client changes nothing either */
    plain_exchange(f, "127.0.0.2", "", 0, "X-Forwarded-For: 127.0.0.1\r\n", "127.0.0.2 <null>");
}

/* Rows with and without peer_ip verify everywhere; one changed peer_ip breaks the chain. */
static void test_peer_ip_is_in_the_chain(void **state)
{
    struct taudit *f = *state;
    struct t_resp r;
    struct cf_buf out = { 0 };
    char sql[200], id[32];

    const char *h[] = { f->api.admin, "X-Forwarded-For: 198.51.100.77", NULL };
    tapi_send_h(&f->api, h, "GET", NULL, &r, "/v1/credentials");
    assert_int_equal(r.status, 200);
    t_resp_free(&r);

    json_t *v = taudit_verify(f, "");
    assert_true(tapi_bool(v, "ok"));
    json_decref(v);
    assert_int_equal(taudit_cli_verify(&f->api.db, NULL, &out), 0);
    cf_buf_reset(&out);
    int rc = client_verify(f, &out);
    if (rc != 0)
        fail_msg("coffer audit verify exited %d: %s", rc, out.data);
    cf_buf_reset(&out);
    json_t *evs = taudit_events_all(f, f->api.auditor, "order=asc", 1000, NULL);
    char *diff = taudit_chain_diff(evs, 1, TAUDIT_ZEROS);
    if (diff != NULL)
        fail_msg("recomputed here: %s", diff);
    json_decref(evs);

    /* the last row with a peer_ip gets another one */
    t_sql_ok(f->api.db.super_url,
             "SELECT max(id) FROM audit_log WHERE peer_ip IS NOT NULL AND source_ip = "
             "'198.51.100.77'",
             id, sizeof(id));
    taudit_tamper(&f->api.db, "UPDATE audit_log SET peer_ip = '10.9.9.9' WHERE id = $1::bigint",
                  id);
    v = taudit_verify(f, "");
    assert_false(tapi_bool(v, "ok"));
    assert_int_equal(tapi_int(v, "first_bad_id"), atoll(id));
    assert_string_equal(tapi_str(v, "problem"), "hash_mismatch");
    json_decref(v);
    assert_int_not_equal(taudit_cli_verify(&f->api.db, NULL, &out), 0);
    cf_buf_reset(&out);
    assert_int_not_equal(client_verify(f, &out), 0);
    /* and removed altogether */
    snprintf(sql, sizeof(sql), "UPDATE audit_log SET peer_ip = NULL WHERE id = $1::bigint");
    taudit_tamper(&f->api.db, sql, id);
    v = taudit_verify(f, "");
    assert_false(tapi_bool(v, "ok"));
    assert_int_equal(tapi_int(v, "first_bad_id"), atoll(id));
    json_decref(v);
    cf_buf_free(&out);
}

/* --- the PROXY protocol, plain HTTP ------------------------------------------------------ */

static int pp_setup(void **state)
{
    struct taudit *f = calloc(1, sizeof(*f));
    char *env[] = { TRUSTED, PP_ON, SHORT_REQ, NULL };
    assert_non_null(f);
    taudit_init(f, env);
    *state = f;
    return 0;
}

static void test_proxy_header_from_the_trusted_proxy(void **state)
{
    struct taudit *f = *state;
    uint8_t v2[64];
    const char *v1 = "PROXY TCP4 198.51.100.9 127.0.0.1 40000 80\r\n";
    const char *v1_6 = "PROXY TCP6 2001:db8::9 ::1 40000 80\r\n";

    /* v1; X-Forwarded-For is not read with the PROXY protocol */
    plain_exchange(f, "127.0.0.1", v1, strlen(v1), "X-Forwarded-For: 203.0.113.50\r\n",
                   "198.51.100.9 127.0.0.1");
    plain_exchange(f, "127.0.0.1", v1_6, strlen(v1_6), "", "2001:db8::9 127.0.0.1");
    /* v2, IPv4 and IPv6 */
    size_t n = v2_header(v2, false, "198.51.100.10");
    plain_exchange(f, "127.0.0.1", v2, n, "", "198.51.100.10 127.0.0.1");
    n = v2_header(v2, false, "2001:db8::10");
    plain_exchange(f, "127.0.0.1", v2, n, "", "2001:db8::10 127.0.0.1");
    /* LOCAL and UNKNOWN: the peer itself */
    n = v2_header(v2, true, "198.51.100.11");
    plain_exchange(f, "127.0.0.1", v2, n, "X-Forwarded-For: 203.0.113.50\r\n", "127.0.0.1 <null>");
    plain_exchange(f, "127.0.0.1", "PROXY UNKNOWN\r\n", 15, "", "127.0.0.1 <null>");
}

/* One header, two requests on the connection (keep-alive): both rows name the client. */
static void test_the_header_holds_for_the_connection(void **state)
{
    struct taudit *f = *state;
    struct t_raw r = { 0 };
    const char *v1 = "PROXY TCP4 198.51.100.30 127.0.0.1 40000 80\r\n";
    char *first =
        tapi_printf("GET /v1/credentials HTTP/1.1\r\nHost: x\r\n%s\r\n\r\n", f->api.admin);
    char *second = request(f, "");
    int fd = t_raw_connect_from(f->api.d.port, "127.0.0.1", 0);

    assert_int_equal(t_raw_send(fd, v1, strlen(v1)), strlen(v1));
    assert_int_equal(t_raw_send(fd, first, strlen(first)), strlen(first));
    assert_int_equal(t_raw_send(fd, second, strlen(second)), strlen(second));
    t_raw_read(fd, 10000, &r);
    close(fd);
    assert_int_equal(t_raw_count(&r), 2);
    const char *p = r.bytes.data;
    for (int i = 0; i < 2; i++) {
        char rid[33], ips[128];
        assert_true(request_id_of(p, rid));
        row_ips(f, rid, ips, sizeof(ips));
        assert_string_equal(ips, "198.51.100.30 127.0.0.1");
        p = strstr(p, rid) + 32;
    }
    t_raw_free(&r);
    free(first);
    free(second);
}

static void test_proxy_header_from_anyone_else_is_discarded(void **state)
{
    struct taudit *f = *state;
    uint8_t v2[64];
    const char *v1 = "PROXY TCP4 198.51.100.12 127.0.0.1 40000 80\r\n";

    plain_exchange(f, "127.0.0.2", v1, strlen(v1), "", "127.0.0.2 <null>");
    size_t n = v2_header(v2, false, "198.51.100.13");
    plain_exchange(f, "127.0.0.3", v2, n, "X-Forwarded-For: 198.51.100.14\r\n", "127.0.0.3 <null>");
    assert_true(log_has(&f->api.d, "\"claimed\":\"198.51.100.13\""));
}

static void test_a_connection_without_a_valid_header_is_closed(void **state)
{
    struct taudit *f = *state;
    char junk[300];
    uint8_t v2[64];
    const char *no_header = "GET /healthcheck HTTP/1.1\r\nHost: x\r\n\r\n";
    const char *v1_cut = "PROXY TCP4 198.51.100.9 127.0.0.1 40000";
    const char *v1_bad = "PROXY TCP4 198.51.100.999 127.0.0.1 40000 80\r\nGET / HTTP/1.1\r\n\r\n";

    refused(f, "127.0.0.1", no_header, strlen(no_header), "a plain request");
    refused(f, "127.0.0.2", no_header, strlen(no_header), "a plain request (untrusted)");
    refused(f, "127.0.0.1", v1_bad, strlen(v1_bad), "a bad v1 address");
    memcpy(junk, "PROXY ", 6);
    memset(junk + 6, 'A', sizeof(junk) - 6);
    refused(f, "127.0.0.1", junk, sizeof(junk), "a v1 line past 107 bytes");
    size_t n = v2_header(v2, false, "198.51.100.9");
    v2[12] = 0x11; /* version 1 in the binary form */
    refused(f, "127.0.0.1", v2, n, "a v2 header of version 1");
    n = v2_header(v2, false, "198.51.100.9");
    v2[15] = 4; /* too short for TCP4's addresses */
    refused(f, "127.0.0.1", v2, n, "a v2 length too short");
    /* a header cut short, then silence: closed once the request timeout (2 s) passes */
    refused(f, "127.0.0.1", v1_cut, strlen(v1_cut), "a cut v1 header");
    refused(f, "127.0.0.1", v2, 10, "a cut v2 signature");
    refused(f, "127.0.0.1", "", 0, "nothing at all");
    /* a huge v2 length that never arrives */
    n = v2_header(v2, false, "198.51.100.9");
    v2[14] = 0xff;
    v2[15] = 0xff;
    refused(f, "127.0.0.1", v2, n, "a v2 header announcing 64 KiB of TLVs");
    assert_true(log_has(&f->api.d, "no valid PROXY protocol header"));

    /* still serving */
    const char *v1 = "PROXY TCP4 198.51.100.15 127.0.0.1 40000 80\r\n";
    plain_exchange(f, "127.0.0.1", v1, strlen(v1), "", "198.51.100.15 127.0.0.1");
    /* and the chain, rows with peer_ip included, verifies */
    assert_int_equal(taudit_cli_verify(&f->api.db, NULL, NULL), 0);
}

/* --- the PROXY protocol before TLS ------------------------------------------------------- */

struct tls_fixture {
    struct taudit a;
    char dir[300];
    char cert_env[400], key_env[400];
};

static int tls_setup(void **state)
{
    struct tls_fixture *f = calloc(1, sizeof(*f));

    assert_non_null(f);
    t_tls_cert_dir("proxy-tls", f->dir, sizeof(f->dir));
    snprintf(f->cert_env, sizeof(f->cert_env), "COFFER_TLS_CERT=%s/a.pem", f->dir);
    snprintf(f->key_env, sizeof(f->key_env), "COFFER_TLS_KEY=%s/a.key", f->dir);
    char *env[] = { TRUSTED, PP_ON, SHORT_REQ, f->cert_env, f->key_env, NULL };
    taudit_init(&f->a, env);
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

/* From from: the PROXY header in clear, then TLS, then the request; the row must hold want. */
static void tls_exchange(const struct taudit *f, const char *from, const void *pre, size_t prelen,
                         const char *want)
{
    char rid[33], ips[128], buf[4096];
    struct cf_buf got = { 0 };
    char *req = request(f, "");
    int fd = t_raw_connect_from(f->api.d.port, from, 0);

    assert_int_equal(t_raw_send(fd, pre, prelen), prelen);
    SSL_CTX *ctx = SSL_CTX_new(TLS_client_method());
    assert_non_null(ctx);
    SSL_CTX_set_verify(ctx, SSL_VERIFY_NONE, NULL); /* the certificate is not under test */
    SSL *ssl = SSL_new(ctx);
    assert_non_null(ssl);
    SSL_set_fd(ssl, fd);
    if (SSL_connect(ssl) != 1)
        fail_msg("from %s: no TLS handshake after the PROXY header", from);
    assert_int_equal(SSL_write(ssl, req, (int)strlen(req)), (int)strlen(req));
    for (int n; (n = SSL_read(ssl, buf, sizeof(buf))) > 0;)
        cf_buf_append(&got, buf, (size_t)n);
    SSL_free(ssl);
    SSL_CTX_free(ctx);
    close(fd);
    if (got.data == NULL || strncmp(got.data, "HTTP/1.1 200 ", 13) != 0)
        fail_msg("from %s over TLS: expected 200, got: %.300s", from, got.data);
    assert_true(request_id_of(got.data, rid));
    row_ips(f, rid, ips, sizeof(ips));
    if (strcmp(ips, want) != 0)
        fail_msg("from %s over TLS: the row holds '%s', expected '%s'", from, ips, want);
    cf_buf_free(&got);
    free(req);
}

static void test_proxy_header_before_tls(void **state)
{
    struct tls_fixture *tf = *state;
    struct taudit *f = &tf->a;
    uint8_t v2[64];
    const char *v1 = "PROXY TCP4 198.51.100.20 127.0.0.1 40000 443\r\n";

    tls_exchange(f, "127.0.0.1", v1, strlen(v1), "198.51.100.20 127.0.0.1");
    size_t n = v2_header(v2, false, "198.51.100.21");
    tls_exchange(f, "127.0.0.1", v2, n, "198.51.100.21 127.0.0.1");
    tls_exchange(f, "127.0.0.2", v1, strlen(v1), "127.0.0.2 <null>");
    tls_exchange(f, "127.0.0.2", v2, n, "127.0.0.2 <null>");
    /* a TLS ClientHello with no PROXY header first is not a header: closed */
    const uint8_t hello[] = { 0x16, 0x03, 0x01, 0x00, 0xa5, 0x01, 0x00, 0x00, 0xa1, 0x03, 0x03 };
    refused(f, "127.0.0.1", hello, sizeof(hello), "TLS without a PROXY header");
    tls_exchange(f, "127.0.0.1", v1, strlen(v1), "198.51.100.20 127.0.0.1");
}

/* A bad COFFER_TRUSTED_PROXIES or COFFER_PROXY_PROTOCOL stops cofferd (exit 2), naming the
 * setting and the entry. */
static void test_bad_settings_stop_cofferd(void **state)
{
    (void)state;
    static const struct {
        const char *env, *says;
    } bad[] = {
        { "COFFER_TRUSTED_PROXIES=10.0.0.1/8", "'10.0.0.1/8'" },
        { "COFFER_TRUSTED_PROXIES=10.0.0.0/8, lb.example.com", "'lb.example.com'" },
        { "COFFER_TRUSTED_PROXIES=10.0.0.0/8,,::1", "empty entry" },
        { "COFFER_TRUSTED_PROXIES=2001:db8::/129", "'2001:db8::/129'" },
        { "COFFER_PROXY_PROTOCOL=yes", "COFFER_PROXY_PROTOCOL" },
    };

    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        struct cf_buf out = { 0 };
        char *argv[] = { (char *)t_env("COFFER_TEST_COFFERD"), "serve", NULL };
        char *const env[] = { (char *)bad[i].env, NULL };
        int rc = t_run_output(argv, env, &out);
        cf_buf_append(&out, "", 0);
        if (rc != 2 || strstr(out.data, bad[i].says) == NULL ||
            (strncmp(bad[i].env, "COFFER_TRUSTED", 14) == 0 &&
             strstr(out.data, "COFFER_TRUSTED_PROXIES") == NULL))
            fail_msg("%s: exit %d, %s", bad[i].env, rc, out.data);
        cf_buf_free(&out);
    }
}

int main(void)
{
    const struct CMUnitTest xff[] = {
        cmocka_unit_test(test_xff_from_a_trusted_proxy_names_the_client),
        cmocka_unit_test(test_xff_from_an_untrusted_peer_changes_nothing),
        cmocka_unit_test(test_peer_ip_is_in_the_chain), /* last: it breaks the chain */
    };
    const struct CMUnitTest pp[] = {
        cmocka_unit_test(test_proxy_header_from_the_trusted_proxy),
        cmocka_unit_test(test_the_header_holds_for_the_connection),
        cmocka_unit_test(test_proxy_header_from_anyone_else_is_discarded),
        cmocka_unit_test(test_a_connection_without_a_valid_header_is_closed),
    };
    const struct CMUnitTest tls[] = {
        cmocka_unit_test(test_proxy_header_before_tls),
    };
    const struct CMUnitTest settings[] = {
        cmocka_unit_test(test_bad_settings_stop_cofferd),
    };
    int failed = t_run_group_tests_name("settings", settings, NULL, NULL);
    failed += t_run_group_tests_name("x_forwarded_for", xff, xff_setup, fixture_teardown);
    failed += t_run_group_tests_name("proxy_protocol", pp, pp_setup, fixture_teardown);
    failed += t_run_group_tests_name("proxy_protocol_tls", tls, tls_setup, tls_teardown);
    return failed;
}
