/*
 * test_tls.c - HTTPS in cofferd itself (issue 12): a service fetches its bundle over TLS 1.3
 * with its kmsauth token, TLS 1.0 and 1.1 and the TLS 1.2 and 1.3 suites cofferd leaves out are
 * refused (each offer shown to succeed against a permissive OpenSSL server in the test with the
 * same kind of certificate, so the refusal is cofferd's), plain HTTP on the TLS port gets no
 * answer, SIGHUP swaps the certificate for new connections while an open one goes on, mutual TLS
 * refuses a missing or foreign client certificate, bad TLS settings stop cofferd at start, and the
 * coffer client verifies the certificate unless --insecure. Certificates are made by the openssl
 * command for each run.
 */
#define _GNU_SOURCE /* strcasestr */
#include <arpa/inet.h>
#include <netinet/in.h>
#include <pthread.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>
#include <curl/curl.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/ssl.h>
#include <openssl/x509.h>

#include "auth_kmsauth_gen.h"
#include "cf_codec.h"
#include "cf_config.h"
#include "cf_crypto.h"
#include "cf_time.h"
#include "kms.h"
#include "tapi.h"
#include "traw.h"

#define CONTEXT "coffer-tls-test"

struct fixture {
    struct tapi api; /* db, tokens and the HTTPS cofferd (api.d) */
    char dir[300];   /* certificates and keys */
    char token_hdr[8192];
    char cred_id[TAPI_ID_LEN];
};

/* --- certificates ------------------------------------------------------------------------ */

static void sh(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

static void sh(const char *fmt, ...)
{
    va_list ap;
    char cmd[4096];
    struct cf_buf out = { 0 };

    va_start(ap, fmt);
    vsnprintf(cmd, sizeof(cmd), fmt, ap);
    va_end(ap);
    char *argv[] = { "/bin/sh", "-c", cmd, NULL };
    int rc = t_run_output(argv, NULL, &out);
    if (rc != 0)
        fail_msg("`%s` exited %d: %s", cmd, rc, out.data != NULL ? out.data : "");
    cf_buf_free(&out);
}

/* A self-signed server certificate for 127.0.0.1 and localhost: dir/name.pem and .key. */
static void server_cert(const struct fixture *f, const char *name)
{
    sh("cd '%s' && openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes "
       "-keyout %s.key -out %s.pem -days 2 -subj /CN=%s "
       "-addext subjectAltName=DNS:localhost,IP:127.0.0.1 2>&1 && chmod 600 %s.key",
       f->dir, name, name, name, name);
}

/* A CA, and a client certificate it signs: dir/ca.pem, dir/client.pem and client.key; and a
 * client certificate nobody trusted signs itself: dir/rogue.pem and rogue.key. */
static void client_certs(const struct fixture *f)
{
    sh("cd '%s' && openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes "
       "-keyout ca.key -out ca.pem -days 2 -subj /CN=coffer-test-ca 2>&1 && "
       "openssl req -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -keyout client.key "
       "-out client.csr -subj /CN=web 2>&1 && "
       "openssl x509 -req -in client.csr -CA ca.pem -CAkey ca.key -CAcreateserial "
       "-out client.pem -days 2 2>&1 && "
       "openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes "
       "-keyout rogue.key -out rogue.pem -days 2 -subj /CN=web 2>&1",
       f->dir);
}

static void path_of(const struct fixture *f, const char *file, char *out, size_t cap)
{
    snprintf(out, cap, "%s/%s", f->dir, file);
}

/* The hex SHA-256 of a PEM certificate file's DER. */
static void file_fingerprint(const char *pem, char out[65])
{
    FILE *fp = fopen(pem, "r");
    assert_non_null(fp);
    X509 *x = PEM_read_X509(fp, NULL, NULL, NULL);
    fclose(fp);
    assert_non_null(x);
    unsigned char md[EVP_MAX_MD_SIZE];
    unsigned int n = 0;
    assert_int_equal(X509_digest(x, EVP_sha256(), md, &n), 1);
    assert_int_equal(cf_hex_encode(md, n, out, 65), 0);
    X509_free(x);
}

/* --- HTTPS with libcurl ------------------------------------------------------------------ */

struct https_opts {
    const char *cafile;
    long sslversion; /* CURL_SSLVERSION_* (with a _MAX_ bound), 0 = default */
    const char *cert, *key;
};

struct https_resp {
    CURLcode rc;
    long status;
    struct cf_buf body, headers;
};

static size_t sink(char *p, size_t size, size_t n, void *userdata)
{
    cf_buf_append(userdata, p, size * n);
    return size * n;
}

static void https(const char *method, const char *url, const char *const *headers, const char *body,
                  const struct https_opts *o, struct https_resp *out)
{
    struct curl_slist *hl = NULL;
    CURL *h = curl_easy_init();

    *out = (struct https_resp){ 0 };
    for (size_t i = 0; headers != NULL && headers[i] != NULL; i++)
        hl = curl_slist_append(hl, headers[i]);
    if (body != NULL)
        hl = curl_slist_append(hl, "Content-Type: application/json");
    curl_easy_setopt(h, CURLOPT_URL, url);
    curl_easy_setopt(h, CURLOPT_CUSTOMREQUEST, method);
    curl_easy_setopt(h, CURLOPT_HTTPHEADER, hl);
    if (body != NULL)
        curl_easy_setopt(h, CURLOPT_POSTFIELDS, body);
    curl_easy_setopt(h, CURLOPT_CAINFO, o->cafile);
    curl_easy_setopt(h, CURLOPT_CAPATH, NULL);
    if (o->sslversion != 0)
        curl_easy_setopt(h, CURLOPT_SSLVERSION, o->sslversion);
    if (o->cert != NULL) {
        curl_easy_setopt(h, CURLOPT_SSLCERT, o->cert);
        curl_easy_setopt(h, CURLOPT_SSLKEY, o->key);
    }
    curl_easy_setopt(h, CURLOPT_TIMEOUT_MS, 10000L);
    curl_easy_setopt(h, CURLOPT_WRITEFUNCTION, sink);
    curl_easy_setopt(h, CURLOPT_WRITEDATA, &out->body);
    curl_easy_setopt(h, CURLOPT_HEADERFUNCTION, sink);
    curl_easy_setopt(h, CURLOPT_HEADERDATA, &out->headers);
    out->rc = curl_easy_perform(h);
    curl_easy_getinfo(h, CURLINFO_RESPONSE_CODE, &out->status);
    cf_buf_append(&out->body, "", 0);
    cf_buf_append(&out->headers, "", 0);
    curl_easy_cleanup(h);
    curl_slist_free_all(hl);
}

static void https_free(struct https_resp *r)
{
    cf_buf_free(&r->body);
    cf_buf_free(&r->headers);
}

/* --- TLS with OpenSSL directly, for what curl will not offer -------------------------------- */

struct tls_conn {
    int fd;
    SSL_CTX *ctx;
    SSL *ssl;
};

/* What a client offers: protocol versions [min, max], TLS 1.2-and-older suites (ciphers, an
 * OpenSSL cipher string; NULL: defaults) and TLS 1.3 suites (suites; NULL: defaults). */
struct tls_offer {
    int min, max;
    const char *ciphers, *suites;
};

/* Handshakes with 127.0.0.1:port offering o, at security level 0 and with o's protocol floor
 * set on the client's own SSL_CTX (overriding any system-wide MinProtocol or CipherString), so
 * that the client itself may offer what the server must refuse. True if the handshake
 * succeeded; on failure *reason (may be NULL) gets the OpenSSL reason code of the error the
 * client saw (for a refusing server: the alert it sent). */
static bool tls_connect_offer(int port, const struct tls_offer *o, struct tls_conn *c, int *reason)
{
    *c = (struct tls_conn){ .fd = t_raw_connect(port) };
    c->ctx = SSL_CTX_new(TLS_client_method());
    assert_non_null(c->ctx);
    SSL_CTX_set_security_level(c->ctx, 0);
    assert_int_equal(SSL_CTX_set_min_proto_version(c->ctx, o->min), 1);
    assert_int_equal(SSL_CTX_set_max_proto_version(c->ctx, o->max), 1);
    if (o->ciphers != NULL)
        assert_int_equal(SSL_CTX_set_cipher_list(c->ctx, o->ciphers), 1);
    if (o->suites != NULL)
        assert_int_equal(SSL_CTX_set_ciphersuites(c->ctx, o->suites), 1);
    SSL_CTX_set_security_level(c->ctx, 0); /* a cipher string's @SECLEVEL may have raised it */
    c->ssl = SSL_new(c->ctx);
    assert_non_null(c->ssl);
    SSL_set_fd(c->ssl, c->fd);
    bool ok = SSL_connect(c->ssl) == 1;
    if (reason != NULL)
        *reason = ok ? 0 : ERR_GET_REASON(ERR_peek_last_error());
    ERR_clear_error();
    return ok;
}

/* Handshakes with 127.0.0.1:port offering only [min, max] and ciphers (NULL: defaults), at
 * security level 0. True if the handshake succeeded. */
static bool tls_connect(int port, int min, int max, const char *ciphers, struct tls_conn *c)
{
    const struct tls_offer o = { .min = min, .max = max, .ciphers = ciphers };
    return tls_connect_offer(port, &o, c, NULL);
}

static void tls_close(struct tls_conn *c)
{
    if (c->ssl != NULL)
        SSL_free(c->ssl);
    SSL_CTX_free(c->ctx);
    close(c->fd);
    *c = (struct tls_conn){ .fd = -1 };
}

/* The fingerprint of the certificate the server presented on c. */
static void peer_fingerprint(const struct tls_conn *c, char out[65])
{
    X509 *x = SSL_get1_peer_certificate(c->ssl);
    unsigned char md[EVP_MAX_MD_SIZE];
    unsigned int n = 0;

    assert_non_null(x);
    assert_int_equal(X509_digest(x, EVP_sha256(), md, &n), 1);
    assert_int_equal(cf_hex_encode(md, n, out, 65), 0);
    X509_free(x);
}

/* Sends GET /healthcheck on an open TLS connection (kept alive) and returns the status. */
static int tls_healthcheck(struct tls_conn *c)
{
    static const char req[] = "GET /healthcheck HTTP/1.1\r\nHost: localhost\r\n\r\n";
    char buf[4096];
    size_t used = 0;
    int status = 0;

    if (SSL_write(c->ssl, req, (int)sizeof(req) - 1) != (int)sizeof(req) - 1)
        return 0;
    while (used < sizeof(buf) - 1) {
        int n = SSL_read(c->ssl, buf + used, (int)(sizeof(buf) - 1 - used));
        if (n <= 0)
            break;
        used += (size_t)n;
        buf[used] = '\0';
        const char *end = strstr(buf, "\r\n\r\n");
        const char *cl = strcasestr(buf, "\r\nContent-Length:");
        if (end != NULL && cl != NULL &&
            used >= (size_t)(end - buf) + 4 + strtoul(cl + 17, NULL, 10))
            break;
    }
    ERR_clear_error();
    if (used < 12 || sscanf(buf, "HTTP/1.1 %d", &status) != 1)
        return 0;
    return status;
}

/* --- a permissive TLS server: the positive control of every refusal ------------------------ */

/* One handshake served on 127.0.0.1 by OpenSSL with nothing refused that OpenSSL can do: every
 * protocol from TLS 1.0, every TLS 1.2-and-older suite including the NULL ones, every TLS 1.3
 * suite, DHE, security level 0. It serves a certificate of the kind cofferd serves. A client
 * offer that it accepts and cofferd refuses was refused by cofferd's own settings, not by the
 * client or by the OpenSSL build. */
struct lax_server {
    int lfd, port;
    SSL_CTX *ctx;
    pthread_t thread;
};

static void *lax_serve_one(void *arg)
{
    struct lax_server *s = arg;
    int fd = accept(s->lfd, NULL, NULL);

    if (fd < 0)
        return NULL; /* the listening socket was shut down: nobody came */
    SSL *ssl = SSL_new(s->ctx);
    if (ssl != NULL) {
        SSL_set_fd(ssl, fd);
        if (SSL_accept(ssl) == 1)
            (void)SSL_shutdown(ssl);
        SSL_free(ssl);
    }
    ERR_clear_error();
    close(fd);
    return NULL;
}

static void lax_start(struct lax_server *s, const char *cert, const char *key)
{
    struct sockaddr_in a = { .sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
    socklen_t alen = sizeof(a);

    *s = (struct lax_server){ .lfd = socket(AF_INET, SOCK_STREAM, 0) };
    assert_true(s->lfd >= 0);
    assert_int_equal(bind(s->lfd, (struct sockaddr *)&a, sizeof(a)), 0);
    assert_int_equal(listen(s->lfd, 1), 0);
    assert_int_equal(getsockname(s->lfd, (struct sockaddr *)&a, &alen), 0);
    s->port = ntohs(a.sin_port);
    s->ctx = SSL_CTX_new(TLS_server_method());
    assert_non_null(s->ctx);
    assert_int_equal(SSL_CTX_set_cipher_list(s->ctx, "ALL:COMPLEMENTOFALL:@SECLEVEL=0"), 1);
    assert_int_equal(SSL_CTX_set_ciphersuites(s->ctx,
                                              "TLS_AES_128_GCM_SHA256:TLS_AES_256_GCM_SHA384:"
                                              "TLS_CHACHA20_POLY1305_SHA256:TLS_AES_128_CCM_SHA256:"
                                              "TLS_AES_128_CCM_8_SHA256"),
                     1);
    SSL_CTX_set_security_level(s->ctx, 0);
    assert_int_equal(SSL_CTX_set_min_proto_version(s->ctx, TLS1_VERSION), 1);
    assert_int_equal(SSL_CTX_set_max_proto_version(s->ctx, 0), 1); /* the highest there is */
    assert_int_equal(SSL_CTX_set_dh_auto(s->ctx, 1), 1);
    assert_int_equal(SSL_CTX_use_certificate_file(s->ctx, cert, SSL_FILETYPE_PEM), 1);
    assert_int_equal(SSL_CTX_use_PrivateKey_file(s->ctx, key, SSL_FILETYPE_PEM), 1);
    assert_int_equal(pthread_create(&s->thread, NULL, lax_serve_one, s), 0);
}

static void lax_stop(struct lax_server *s)
{
    (void)shutdown(s->lfd, SHUT_RDWR); /* wakes accept() if no client came */
    assert_int_equal(pthread_join(s->thread, NULL), 0);
    close(s->lfd);
    SSL_CTX_free(s->ctx);
}

/* A client offer that cofferd must refuse, and what proves the refusal is cofferd's. */
struct refusal {
    const char *what;
    struct tls_offer offer;
    int version;        /* what the permissive server negotiates with the offer */
    const char *cipher; /* ... and the suite (OpenSSL's name) */
    int alert;          /* the reason the client sees from cofferd: the alert it sent */
};

/* The client of r->offer completes a handshake with the permissive server serving cert and key
 * (on r->version and r->cipher exactly), and the very same client is refused by the server on
 * port with r->alert. NULL if so, else what went wrong (free() it). */
static char *refusal_diff(int port, const char *cert, const char *key, const struct refusal *r)
{
    struct lax_server lax;
    struct tls_conn c;
    int reason = 0;
    char *diff = NULL;

    lax_start(&lax, cert, key);
    bool lax_ok = tls_connect_offer(lax.port, &r->offer, &c, &reason);
    int version = lax_ok ? SSL_version(c.ssl) : 0;
    const char *cipher = lax_ok ? SSL_CIPHER_get_name(SSL_get_current_cipher(c.ssl)) : "";
    if (!lax_ok) {
        diff = tapi_printf("no handshake with the permissive server either (reason %d: %s), "
                           "so cofferd's refusal would prove nothing",
                           reason, ERR_reason_error_string(ERR_PACK(ERR_LIB_SSL, 0, reason)));
    } else if (version != r->version || strcmp(cipher, r->cipher) != 0) {
        diff = tapi_printf("the permissive server negotiated %s %s, not %s", SSL_get_version(c.ssl),
                           cipher, r->cipher);
    }
    tls_close(&c);
    lax_stop(&lax);
    if (diff != NULL)
        return diff;
    if (tls_connect_offer(port, &r->offer, &c, &reason)) {
        diff = tapi_printf("cofferd accepted it (%s %s)", SSL_get_version(c.ssl),
                           SSL_CIPHER_get_name(SSL_get_current_cipher(c.ssl)));
    } else if (reason != r->alert) {
        diff = tapi_printf("cofferd refused it with reason %d (%s), not %d (%s)", reason,
                           ERR_reason_error_string(ERR_PACK(ERR_LIB_SSL, 0, reason)), r->alert,
                           ERR_reason_error_string(ERR_PACK(ERR_LIB_SSL, 0, r->alert)));
    }
    tls_close(&c);
    return diff;
}

static void assert_refusals(int port, const char *cert, const char *key, const struct refusal *rs,
                            size_t n)
{
    struct cf_buf problems = { 0 };

    for (size_t i = 0; i < n; i++)
        tapi_collect(&problems, rs[i].what, refusal_diff(port, cert, key, &rs[i]));
    tapi_collect_end(&problems);
}

/* --- the fixture -------------------------------------------------------------------------- */

static void url(const struct fixture *f, const char *path, char *out, size_t cap)
{
    snprintf(out, cap, "https://127.0.0.1:%d%s", f->api.d.port, path);
}

/* A v2 kmsauth token of service web for this server, as headers. */
static void make_service_token(struct fixture *f)
{
    struct cf_config cfg;
    char err[512], *token = NULL;
    char *argv[] = { "test", "--local-key-file", f->api.d.key_file, NULL };
    char *rest[4];
    int nrest = 0;
    struct kms_client *k = NULL;

    assert_int_equal(cf_config_load(&cfg, 3, argv, rest, &nrest, err, sizeof(err)), 0);
    assert_int_equal(kms_client_new(&cfg, &k, err, sizeof(err)), 0);
    assert_int_equal(auth_kmsauth_generate(k, "alias/coffer-auth", 2, "service", "web", CONTEXT,
                                           cf_now_us() / 1000000, 10, &token),
                     0);
    snprintf(f->token_hdr, sizeof(f->token_hdr), "X-Auth-Token: %s", token);
    free(token);
    kms_client_free(k);
    cf_config_free(&cfg);
}

static int setup(void **state)
{
    struct fixture *f = calloc(1, sizeof(*f));
    char rnd[17], cert[400], key[400], certenv[420], keyenv[420];

    assert_non_null(f);
    assert_int_equal(cf_rand_hex(8, rnd, sizeof(rnd)), 0);
    snprintf(f->dir, sizeof(f->dir), "%s/tls-%s", t_env("COFFER_TEST_WORK"), rnd);
    assert_int_equal(mkdir(f->dir, 0700), 0);
    server_cert(f, "a");
    server_cert(f, "b");
    client_certs(f);
    /* the served pair is a copy, so that a test can replace it */
    sh("cd '%s' && cp a.pem served.pem && cp a.key served.key", f->dir);
    path_of(f, "served.pem", cert, sizeof(cert));
    path_of(f, "served.key", key, sizeof(key));
    snprintf(certenv, sizeof(certenv), "COFFER_TLS_CERT=%s", cert);
    snprintf(keyenv, sizeof(keyenv), "COFFER_TLS_KEY=%s", key);
    char *env[] = { certenv, keyenv, "COFFER_AUTH_KEY=alias/coffer-auth",
                    "COFFER_AUTH_CONTEXT=" CONTEXT, NULL };
    t_db_create(&f->api.db, true);
    t_token_create(&f->api.db, "admin", "admin-1", f->api.admin_token);
    snprintf(f->api.admin, sizeof(f->api.admin), "Authorization: Bearer %s", f->api.admin_token);
    t_cofferd_start(&f->api.d, &f->api.db, env);
    make_service_token(f);
    *state = f;
    return 0;
}

static int teardown(void **state)
{
    struct fixture *f = *state;
    int rc = t_cofferd_stop(&f->api.d);
    t_db_drop(&f->api.db);
    free(f);
    assert_int_equal(rc, 0);
    return 0;
}

static const struct https_opts *trust_a(const struct fixture *f)
{
    static char ca[400];
    static struct https_opts o;
    path_of(f, "a.pem", ca, sizeof(ca));
    o = (struct https_opts){ .cafile = ca };
    return &o;
}

/* --- the tests ---------------------------------------------------------------------------- */

static void test_a_service_fetches_its_bundle_over_tls_1_3(void **state)
{
    struct fixture *f = *state;
    char u[128], body[256];
    struct https_resp r;
    const char *admin[] = { f->api.admin, NULL };

    url(f, "/v1/credentials", u, sizeof(u));
    https("POST", u, admin,
          "{\"name\":\"tls db\",\"credential_pairs\":{\"password\":\"over-tls-canary\"}}",
          trust_a(f), &r);
    assert_int_equal(r.rc, CURLE_OK);
    assert_int_equal(r.status, 200);
    const char *id = strstr(r.body.data, "\"id\":\"");
    assert_non_null(id);
    snprintf(f->cred_id, sizeof(f->cred_id), "%.32s", id + 6);
    https_free(&r);
    url(f, "/v1/services/web", u, sizeof(u));
    snprintf(body, sizeof(body), "{\"credentials\":[\"%s\"]}", f->cred_id);
    https("PUT", u, admin, body, trust_a(f), &r);
    assert_int_equal(r.status, 200);
    https_free(&r);

    /* curl may use nothing older than TLS 1.3 here: the bundle comes over TLS 1.3 */
    const char *svc[] = { "X-Auth-From: 2/service/web", f->token_hdr, NULL };
    struct https_opts o = *trust_a(f);
    o.sslversion = CURL_SSLVERSION_TLSv1_3;
    https("GET", u, svc, NULL, &o, &r);
    assert_int_equal(r.rc, CURLE_OK);
    assert_int_equal(r.status, 200);
    assert_non_null(strstr(r.body.data, "over-tls-canary"));
    assert_non_null(strcasestr(r.headers.data, "\r\nStrict-Transport-Security: max-age="));
    /* a bundle is never cached on the way */
    assert_non_null(strcasestr(r.headers.data, "\r\nCache-Control: no-store\r\n"));
    https_free(&r);
    /* and a client that stops at TLS 1.2 still gets it, over TLS 1.2 */
    o.sslversion = CURL_SSLVERSION_TLSv1_2 | CURL_SSLVERSION_MAX_TLSv1_2;
    https("GET", u, svc, NULL, &o, &r);
    assert_int_equal(r.rc, CURLE_OK);
    assert_int_equal(r.status, 200);
    https_free(&r);
    /* a client that offers both gets TLS 1.3 */
    struct tls_conn c;
    assert_true(tls_connect(f->api.d.port, TLS1_2_VERSION, TLS1_3_VERSION, NULL, &c));
    assert_int_equal(SSL_version(c.ssl), TLS1_3_VERSION);
    tls_close(&c);
}

/* The coffer CLI sits beside cofferd in the build tree: <build>/cli/coffer. */
static void coffer_cli(char *out, size_t cap)
{
    const char *cofferd = t_env("COFFER_TEST_COFFERD");
    const char *tail = strstr(cofferd, "/service/cofferd");
    assert_non_null(tail);
    snprintf(out, cap, "%.*s/cli/coffer", (int)(tail - cofferd), cofferd);
}

/* Runs `coffer get web` (a kmsauth token of its own) against the HTTPS cofferd with the extra
 * argument (may be NULL) and the CA file ca (NULL: COFFER_CACERT unset); out gets stdout and
 * stderr. */
static int cli_get(const struct fixture *f, const char *ca, const char *extra, struct cf_buf *out)
{
    char cli[512], urlenv[128], keyenv[300], caenv[420];
    coffer_cli(cli, sizeof(cli));
    snprintf(urlenv, sizeof(urlenv), "COFFER_URL=https://127.0.0.1:%d", f->api.d.port);
    snprintf(keyenv, sizeof(keyenv), "COFFER_LOCAL_KEY_FILE=%s", f->api.d.key_file);
    snprintf(caenv, sizeof(caenv), "COFFER_CACERT=%s", ca != NULL ? ca : "");
    char *const argv[] = { cli, "get", "web", (char *)extra, NULL };
    char *const env[] = { urlenv,          keyenv, caenv, "COFFER_AUTH_CONTEXT=" CONTEXT,
                          "COFFER_TOKEN=", NULL };
    return t_run_output(argv, env, out);
}

/* The client verifies the server's certificate unless told not to, and then says so. Runs
 * after the first test, which mapped the credential holding over-tls-canary to web. */
static void test_the_coffer_client_verifies_the_certificate_by_default(void **state)
{
    struct fixture *f = *state;
    char a[400], b[400];
    struct cf_buf out = { 0 };

    path_of(f, "a.pem", a, sizeof(a));
    path_of(f, "b.pem", b, sizeof(b));
    /* the system's CAs do not know a self-signed certificate: no answer, exit 7 */
    assert_int_equal(cli_get(f, NULL, NULL, &out), 7);
    assert_null(strstr(out.data != NULL ? out.data : "", "over-tls-canary"));
    cf_buf_free(&out);
    /* nor does another certificate's */
    assert_int_equal(cli_get(f, b, NULL, &out), 7);
    assert_null(strstr(out.data != NULL ? out.data : "", "over-tls-canary"));
    cf_buf_free(&out);
    /* the right CA: the bundle */
    assert_int_equal(cli_get(f, a, NULL, &out), 0);
    assert_non_null(strstr(out.data, "over-tls-canary"));
    cf_buf_free(&out);
    /* --insecure works, and warns */
    assert_int_equal(cli_get(f, NULL, "--insecure", &out), 0);
    assert_non_null(strstr(out.data, "over-tls-canary"));
    assert_non_null(strstr(out.data, "warning: --insecure"));
    cf_buf_free(&out);
}

/* cofferd serves an ECDSA certificate (P-256): every refused offer below names only suites an
 * ECDSA certificate can use, so that the permissive server with the same kind of certificate
 * completes the handshake with it. TLS 1.0 and 1.1 have no AEAD suite at all, so cofferd's
 * TLS 1.2 list would refuse them on its own; the alert (protocol_version, not
 * handshake_failure) shows that the protocol floor refuses them first. */
static const struct refusal ecdsa_refusals[] = {
    { "TLS 1.0",
      { TLS1_VERSION, TLS1_VERSION, "ALL:@SECLEVEL=0", NULL },
      TLS1_VERSION,
      "ECDHE-ECDSA-AES256-SHA",
      SSL_R_TLSV1_ALERT_PROTOCOL_VERSION },
    { "TLS 1.1",
      { TLS1_1_VERSION, TLS1_1_VERSION, "ALL:@SECLEVEL=0", NULL },
      TLS1_1_VERSION,
      "ECDHE-ECDSA-AES256-SHA",
      SSL_R_TLSV1_ALERT_PROTOCOL_VERSION },
    { "TLS 1.2 with CBC and SHA-1",
      { TLS1_2_VERSION, TLS1_2_VERSION, "ECDHE-ECDSA-AES128-SHA", NULL },
      TLS1_2_VERSION,
      "ECDHE-ECDSA-AES128-SHA",
      SSL_R_SSLV3_ALERT_HANDSHAKE_FAILURE },
    { "TLS 1.2 with CBC and SHA-384",
      { TLS1_2_VERSION, TLS1_2_VERSION, "ECDHE-ECDSA-AES256-SHA384", NULL },
      TLS1_2_VERSION,
      "ECDHE-ECDSA-AES256-SHA384",
      SSL_R_SSLV3_ALERT_HANDSHAKE_FAILURE },
    { "TLS 1.2 with no encryption",
      { TLS1_2_VERSION, TLS1_2_VERSION, "ECDHE-ECDSA-NULL-SHA@SECLEVEL=0", NULL },
      TLS1_2_VERSION,
      "ECDHE-ECDSA-NULL-SHA",
      SSL_R_SSLV3_ALERT_HANDSHAKE_FAILURE },
    { "TLS 1.2 with AES-CCM (an AEAD not on the list)",
      { TLS1_2_VERSION, TLS1_2_VERSION, "ECDHE-ECDSA-AES128-CCM", NULL },
      TLS1_2_VERSION,
      "ECDHE-ECDSA-AES128-CCM",
      SSL_R_SSLV3_ALERT_HANDSHAKE_FAILURE },
    { "TLS 1.3 with AES-CCM-8 (a 64-bit tag)",
      { TLS1_3_VERSION, TLS1_3_VERSION, NULL, "TLS_AES_128_CCM_8_SHA256" },
      TLS1_3_VERSION,
      "TLS_AES_128_CCM_8_SHA256",
      SSL_R_SSLV3_ALERT_HANDSHAKE_FAILURE },
};

/* Each refused offer succeeds against the permissive server (the positive control) and is
 * refused by cofferd. */
static void test_old_protocols_and_weak_ciphers_are_refused(void **state)
{
    struct fixture *f = *state;
    char cert[400], key[400];
    struct tls_conn c;

    path_of(f, "a.pem", cert, sizeof(cert));
    path_of(f, "a.key", key, sizeof(key));
    assert_refusals(f->api.d.port, cert, key, ecdsa_refusals,
                    sizeof(ecdsa_refusals) / sizeof(ecdsa_refusals[0]));
    /* the same client with a suite on the list gets in, and is served */
    assert_true(tls_connect(f->api.d.port, TLS1_2_VERSION, TLS1_2_VERSION,
                            "ECDHE-ECDSA-AES128-GCM-SHA256", &c));
    assert_int_equal(tls_healthcheck(&c), 200);
    tls_close(&c);
}

/* Suites that only an RSA certificate can use: key exchange by RSA (no forward secrecy), DHE
 * (left out of cofferd's list) and ECDHE with CBC. */
static const struct refusal rsa_refusals[] = {
    { "TLS 1.2 with RSA key exchange (no forward secrecy)",
      { TLS1_2_VERSION, TLS1_2_VERSION, "AES128-GCM-SHA256", NULL },
      TLS1_2_VERSION,
      "AES128-GCM-SHA256",
      SSL_R_SSLV3_ALERT_HANDSHAKE_FAILURE },
    { "TLS 1.2 with DHE",
      { TLS1_2_VERSION, TLS1_2_VERSION, "DHE-RSA-AES128-GCM-SHA256", NULL },
      TLS1_2_VERSION,
      "DHE-RSA-AES128-GCM-SHA256",
      SSL_R_SSLV3_ALERT_HANDSHAKE_FAILURE },
    { "TLS 1.2 with ECDHE-RSA and CBC",
      { TLS1_2_VERSION, TLS1_2_VERSION, "ECDHE-RSA-AES128-SHA", NULL },
      TLS1_2_VERSION,
      "ECDHE-RSA-AES128-SHA",
      SSL_R_SSLV3_ALERT_HANDSHAKE_FAILURE },
};

/* A second cofferd serving an RSA certificate refuses what only an RSA certificate can be asked
 * for, and serves an ECDHE-RSA AEAD suite. */
static void test_weak_rsa_ciphers_are_refused(void **state)
{
    struct fixture *f = *state;
    struct t_cofferd d;
    char cert[400], key[400], certenv[430], keyenv[430];
    struct tls_conn c;

    sh("cd '%s' && openssl req -x509 -newkey rsa:2048 -nodes -keyout rsa.key -out rsa.pem "
       "-days 2 -subj /CN=rsa -addext subjectAltName=IP:127.0.0.1 2>&1 && chmod 600 rsa.key",
       f->dir);
    path_of(f, "rsa.pem", cert, sizeof(cert));
    path_of(f, "rsa.key", key, sizeof(key));
    snprintf(certenv, sizeof(certenv), "COFFER_TLS_CERT=%s", cert);
    snprintf(keyenv, sizeof(keyenv), "COFFER_TLS_KEY=%s", key);
    char *env[] = { certenv, keyenv, NULL };
    t_cofferd_start(&d, &f->api.db, env);
    assert_refusals(d.port, cert, key, rsa_refusals,
                    sizeof(rsa_refusals) / sizeof(rsa_refusals[0]));
    assert_true(
        tls_connect(d.port, TLS1_2_VERSION, TLS1_2_VERSION, "ECDHE-RSA-AES128-GCM-SHA256", &c));
    assert_int_equal(tls_healthcheck(&c), 200);
    tls_close(&c);
    assert_int_equal(t_cofferd_stop(&d), 0);
}

static void test_plain_http_on_the_tls_port_gets_no_answer(void **state)
{
    struct fixture *f = *state;
    struct t_raw r;

    t_raw_send_str(f->api.d.port, "GET /healthcheck HTTP/1.1\r\nHost: a\r\n\r\n", &r);
    assert_null(strstr(r.bytes.data != NULL ? r.bytes.data : "", " 200 "));
    assert_false(r.timed_out); /* refused and closed, not left hanging */
    t_raw_free(&r);
    t_raw_send_str(f->api.d.port, "GET /v1/services/web HTTP/1.1\r\nHost: a\r\n\r\n", &r);
    assert_null(strstr(r.bytes.data != NULL ? r.bytes.data : "", "over-tls-canary"));
    t_raw_free(&r);
    /* and the server still serves TLS */
    struct tls_conn c;
    assert_true(tls_connect(f->api.d.port, TLS1_2_VERSION, TLS1_3_VERSION, NULL, &c));
    assert_int_equal(tls_healthcheck(&c), 200);
    tls_close(&c);
}

struct swap_wait {
    int port;
    const char *want;
};

static bool new_connection_sees(void *arg)
{
    const struct swap_wait *w = arg;
    struct tls_conn c;
    char fp[65] = "";

    if (tls_connect(w->port, TLS1_2_VERSION, TLS1_3_VERSION, NULL, &c))
        peer_fingerprint(&c, fp);
    tls_close(&c);
    return strcmp(fp, w->want) == 0;
}

static void test_sighup_swaps_the_certificate_for_new_connections_only(void **state)
{
    struct fixture *f = *state;
    char fa[65], fb[65], got[65], pa[400], pb[400];
    struct tls_conn old;

    path_of(f, "a.pem", pa, sizeof(pa));
    path_of(f, "b.pem", pb, sizeof(pb));
    file_fingerprint(pa, fa);
    file_fingerprint(pb, fb);
    assert_true(tls_connect(f->api.d.port, TLS1_2_VERSION, TLS1_3_VERSION, NULL, &old));
    peer_fingerprint(&old, got);
    assert_string_equal(got, fa);
    assert_int_equal(tls_healthcheck(&old), 200);

    /* a broken key first: SIGHUP keeps the pair it has */
    sh("cd '%s' && cp b.pem served.pem && echo broken > served.key && chmod 600 served.key",
       f->dir);
    assert_int_equal(kill(f->api.d.pid, SIGHUP), 0);
    struct swap_wait still_a = { f->api.d.port, fa };
    sleep(1);
    assert_true(new_connection_sees(&still_a));

    sh("cd '%s' && cp b.key served.key", f->dir);
    assert_int_equal(kill(f->api.d.pid, SIGHUP), 0);
    struct swap_wait w = { f->api.d.port, fb };
    assert_true(t_wait_until(new_connection_sees, &w, 10));
    /* the connection opened before the swap goes on with its own certificate */
    assert_int_equal(tls_healthcheck(&old), 200);
    peer_fingerprint(&old, got);
    assert_string_equal(got, fa);
    tls_close(&old);
}

/* A second cofferd that asks every client for a certificate signed by ca.pem. */
static void test_mutual_tls_refuses_missing_and_foreign_client_certificates(void **state)
{
    struct fixture *f = *state;
    struct t_cofferd d;
    char cert[400], key[400], ca[400], certenv[430], keyenv[430], caenv[430], u[128];
    char ccert[400], ckey[400], rcert[400], rkey[400];
    struct https_resp r;

    path_of(f, "a.pem", cert, sizeof(cert));
    path_of(f, "a.key", key, sizeof(key));
    path_of(f, "ca.pem", ca, sizeof(ca));
    path_of(f, "client.pem", ccert, sizeof(ccert));
    path_of(f, "client.key", ckey, sizeof(ckey));
    path_of(f, "rogue.pem", rcert, sizeof(rcert));
    path_of(f, "rogue.key", rkey, sizeof(rkey));
    snprintf(certenv, sizeof(certenv), "COFFER_TLS_CERT=%s", cert);
    snprintf(keyenv, sizeof(keyenv), "COFFER_TLS_KEY=%s", key);
    snprintf(caenv, sizeof(caenv), "COFFER_TLS_CLIENT_CA=%s", ca);
    char *env[] = { certenv, keyenv, caenv, NULL };
    t_cofferd_start(&d, &f->api.db, env);
    snprintf(u, sizeof(u), "https://127.0.0.1:%d/healthcheck", d.port);

    struct https_opts o = { .cafile = cert };
    https("GET", u, NULL, NULL, &o, &r);
    assert_int_not_equal(r.rc, CURLE_OK); /* no client certificate */
    assert_int_not_equal(r.status, 200);
    https_free(&r);
    o.cert = rcert;
    o.key = rkey;
    https("GET", u, NULL, NULL, &o, &r);
    assert_int_not_equal(r.rc, CURLE_OK); /* one that ca.pem did not sign */
    assert_int_not_equal(r.status, 200);
    https_free(&r);
    o.cert = ccert;
    o.key = ckey;
    https("GET", u, NULL, NULL, &o, &r);
    assert_int_equal(r.rc, CURLE_OK);
    assert_int_equal(r.status, 200);
    https_free(&r);
    assert_int_equal(t_cofferd_stop(&d), 0);
}

/* cofferd serve with these TLS settings exits 2, naming what is wrong. */
static void assert_refused(const struct fixture *f, const char *cert, const char *key,
                           const char *ca, const char *says)
{
    char c[420], k[420], a[420], url[T_URL_MAX + 32];
    struct cf_buf out = { 0 };
    char *env[6];
    size_t n = 0;

    snprintf(url, sizeof(url), "COFFER_DATABASE_URL=%s", f->api.db.app_url);
    env[n++] = url;
    if (cert != NULL) {
        snprintf(c, sizeof(c), "COFFER_TLS_CERT=%s/%s", f->dir, cert);
        env[n++] = c;
    }
    if (key != NULL) {
        snprintf(k, sizeof(k), "COFFER_TLS_KEY=%s/%s", f->dir, key);
        env[n++] = k;
    }
    if (ca != NULL) {
        snprintf(a, sizeof(a), "COFFER_TLS_CLIENT_CA=%s/%s", f->dir, ca);
        env[n++] = a;
    }
    env[n] = NULL;
    char *argv[] = { (char *)t_env("COFFER_TEST_COFFERD"),
                     "--local-key-file",
                     (char *)f->api.d.key_file,
                     "--listen",
                     "127.0.0.1:1",
                     "serve",
                     NULL };
    int rc = t_run_output(argv, env, &out);
    cf_buf_append(&out, "", 0);
    if (rc != 2 || strstr(out.data, says) == NULL)
        fail_msg("expected exit 2 saying \"%s\", got %d: %s", says, rc, out.data);
    cf_buf_free(&out);
}

static void test_bad_tls_settings_stop_cofferd_at_start(void **state)
{
    struct fixture *f = *state;

    sh("cd '%s' && cp a.key open.key && chmod 644 open.key && echo nothing > empty.pem", f->dir);
    assert_refused(f, "a.pem", "b.key", NULL, "does not belong to the certificate");
    assert_refused(f, "missing.pem", "a.key", NULL, "cannot read the TLS certificate");
    assert_refused(f, "a.pem", "missing.key", NULL, "cannot open the TLS key");
    assert_refused(f, "a.pem", "open.key", NULL, "may be read by others");
    assert_refused(f, "empty.pem", "a.key", NULL, "holds no PEM certificate");
    assert_refused(f, "a.pem", NULL, NULL, "COFFER_TLS_CERT and COFFER_TLS_KEY go together");
    assert_refused(f, NULL, NULL, "ca.pem", "COFFER_TLS_CLIENT_CA needs HTTPS");
    assert_refused(f, "a.pem", "a.key", "empty.pem", "COFFER_TLS_CLIENT_CA");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_a_service_fetches_its_bundle_over_tls_1_3),
        cmocka_unit_test(test_the_coffer_client_verifies_the_certificate_by_default),
        cmocka_unit_test(test_old_protocols_and_weak_ciphers_are_refused),
        cmocka_unit_test(test_weak_rsa_ciphers_are_refused),
        cmocka_unit_test(test_plain_http_on_the_tls_port_gets_no_answer),
        cmocka_unit_test(test_sighup_swaps_the_certificate_for_new_connections_only),
        cmocka_unit_test(test_mutual_tls_refuses_missing_and_foreign_client_certificates),
        cmocka_unit_test(test_bad_tls_settings_stop_cofferd_at_start),
    };
    /* a TLS peer that closes while OpenSSL writes (an alert, a close_notify) must not kill the
     * test: the write fails with EPIPE instead */
    signal(SIGPIPE, SIG_IGN);
    curl_global_init(CURL_GLOBAL_DEFAULT);
    int rc = t_run_group_tests(tests, setup, teardown);
    curl_global_cleanup();
    return rc;
}
