/*
 * svc_tls.c - HTTPS: civetweb's SSL_CTX set up by cofferd, and the certificate it serves.
 *
 * TLS 1.2 is the floor and TLS 1.3 is what OpenSSL picks when the client has it; TLS 1.2 gets
 * ECDHE key exchange with AEAD ciphers only. The certificate, its chain and the key are not
 * installed on the SSL_CTX but handed to each handshake by a certificate callback, from the
 * pair loaded last: SIGHUP loads a new pair and swaps it in under a lock, so new connections
 * get it at once and open ones are not touched. With COFFER_TLS_CLIENT_CA every client must
 * present a certificate signed by one of those CAs, or the handshake fails.
 */
#include "svc_tls.h"

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/bio.h>
#include <openssl/crypto.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/ssl.h>
#include <openssl/x509.h>

#include "cf_codec.h"
#include "cf_file.h"
#include "cf_log.h"
#include "cf_mem.h"
#include "cf_secret.h"
#include "cf_str.h"

#define PEM_MAX (1u << 20)

/* TLS 1.2 suites: ECDHE and an AEAD only (Mozilla's "intermediate" list, without DHE). */
#define TLS12_CIPHERS                                                                              \
    "ECDHE-ECDSA-AES128-GCM-SHA256:ECDHE-RSA-AES128-GCM-SHA256:ECDHE-ECDSA-AES256-GCM-SHA384:"     \
    "ECDHE-RSA-AES256-GCM-SHA384:ECDHE-ECDSA-CHACHA20-POLY1305:ECDHE-RSA-CHACHA20-POLY1305"
#define TLS13_SUITES "TLS_AES_128_GCM_SHA256:TLS_AES_256_GCM_SHA384:TLS_CHACHA20_POLY1305_SHA256"

/* One certificate, its chain and its key, as loaded from the files. */
struct tls_pair {
    X509 *cert;
    STACK_OF(X509) * chain;
    EVP_PKEY *key;
    char fingerprint[SVC_TLS_FINGERPRINT_LEN + 1];
};

struct svc_tls {
    char *cert_path, *key_path, *client_ca;
    pthread_mutex_t lock; /* guards cur */
    struct tls_pair *cur; /* what new handshakes get */
};

static void pair_free(struct tls_pair *p)
{
    if (p == NULL)
        return;
    X509_free(p->cert);
    sk_X509_pop_free(p->chain, X509_free);
    EVP_PKEY_free(p->key);
    free(p);
}

/* The certificate file: the leaf first, then any chain certificates. */
static int read_certs(const char *path, struct tls_pair *p, char *err, size_t errcap)
{
    BIO *b = BIO_new_file(path, "r");
    X509 *x;

    if (b == NULL)
        return cf_config_error(err, errcap, "cannot read the TLS certificate %s", path);
    p->cert = PEM_read_bio_X509(b, NULL, NULL, NULL);
    p->chain = sk_X509_new_null();
    while (p->cert != NULL && p->chain != NULL && (x = PEM_read_bio_X509(b, NULL, NULL, NULL)))
        (void)sk_X509_push(p->chain, x); /* cannot fail for a stack that allocated */
    BIO_free(b);
    ERR_clear_error(); /* the loop ends at the end of the file, which OpenSSL notes as an error */
    if (p->cert == NULL || p->chain == NULL) {
        return cf_config_error(err, errcap, "the TLS certificate %s holds no PEM certificate",
                               path);
    }
    return 0;
}

/* The key file, read into cleansed memory first: OpenSSL's file BIO would leave copies. */
static int read_key(const char *path, struct tls_pair *p, char *err, size_t errcap)
{
    struct cf_secret pem;
    int r;

    if ((r = cf_file_read_secret(path, PEM_MAX, 007, "the TLS key", &pem, err, errcap)) != 0)
        return r;
    BIO *b = BIO_new_mem_buf(pem.data, (int)pem.len); /* pem.len <= PEM_MAX < INT_MAX */
    if (b != NULL)
        p->key = PEM_read_bio_PrivateKey(b, NULL, NULL, NULL);
    BIO_free(b);
    cf_secret_free(&pem);
    if (p->key == NULL) {
        return cf_config_error(err, errcap, "the TLS key %s holds no unencrypted PEM private key",
                               path);
    }
    return 0;
}

static int pair_load(const struct svc_tls *t, struct tls_pair **out, char *err, size_t errcap)
{
    struct tls_pair *p = cf_xcalloc(1, sizeof(*p));
    unsigned char der_md[EVP_MAX_MD_SIZE];
    unsigned int mdlen = 0;
    int r;

    *out = NULL;
    if ((r = read_certs(t->cert_path, p, err, errcap)) != 0 ||
        (r = read_key(t->key_path, p, err, errcap)) != 0)
        goto out;
    if (X509_check_private_key(p->cert, p->key) != 1) {
        r = cf_config_error(err, errcap, "the TLS key %s does not belong to the certificate %s",
                            t->key_path, t->cert_path);
        goto out;
    }
    if (X509_digest(p->cert, EVP_sha256(), der_md, &mdlen) != 1 || mdlen != 32 ||
        cf_hex_encode(der_md, mdlen, p->fingerprint, sizeof(p->fingerprint)) != 0) {
        r = cf_config_error(err, errcap, "cannot take the fingerprint of %s", t->cert_path);
        goto out;
    }
    *out = p;
    p = NULL;
    r = 0;
out:
    if (r != 0)
        ERR_clear_error(); /* OpenSSL's queue may name the input: never passed on */
    pair_free(p);
    return r;
}

int svc_tls_new(const struct cf_config *cfg, struct svc_tls **out, char *err, size_t errcap)
{
    struct svc_tls *t = cf_xcalloc(1, sizeof(*t));
    int r;

    *out = NULL;
    t->cert_path = cf_xstrdup(cfg->tls_cert);
    t->key_path = cf_xstrdup(cfg->tls_key);
    t->client_ca = cfg->tls_client_ca != NULL ? cf_xstrdup(cfg->tls_client_ca) : NULL;
    pthread_mutex_init(&t->lock, NULL);
    if ((r = pair_load(t, &t->cur, err, errcap)) != 0) {
        svc_tls_free(t);
        return r;
    }
    if (t->client_ca != NULL) {
        STACK_OF(X509_NAME) *names = SSL_load_client_CA_file(t->client_ca);
        if (names == NULL) {
            ERR_clear_error();
            r = cf_config_error(err, errcap, "COFFER_TLS_CLIENT_CA %s holds no PEM certificate",
                                t->client_ca);
            svc_tls_free(t);
            return r;
        }
        sk_X509_NAME_pop_free(names, X509_NAME_free);
    }
    *out = t;
    return 0;
}

void svc_tls_free(struct svc_tls *t)
{
    if (t == NULL)
        return;
    pair_free(t->cur);
    pthread_mutex_destroy(&t->lock);
    free(t->cert_path);
    free(t->key_path);
    free(t->client_ca);
    free(t);
}

/* OpenSSL's certificate callback: each handshake gets the pair current when it starts. */
static int cert_cb(SSL *ssl, void *arg)
{
    struct svc_tls *t = arg;
    int ok;

    pthread_mutex_lock(&t->lock);
    /* the SSL takes references of its own: the pair may be swapped once the lock is left */
    ok = SSL_use_cert_and_key(ssl, t->cur->cert, t->cur->key, t->cur->chain, 1);
    pthread_mutex_unlock(&t->lock);
    return ok == 1 ? 1 : 0;
}

static int set_client_ca(const struct svc_tls *t, SSL_CTX *ctx)
{
    STACK_OF(X509_NAME) *names = SSL_load_client_CA_file(t->client_ca);

    if (names == NULL || SSL_CTX_load_verify_locations(ctx, t->client_ca, NULL) != 1) {
        sk_X509_NAME_pop_free(names, X509_NAME_free);
        return -1;
    }
    SSL_CTX_set_client_CA_list(ctx, names); /* the SSL_CTX owns names now */
    SSL_CTX_set_verify(ctx, SSL_VERIFY_PEER | SSL_VERIFY_FAIL_IF_NO_PEER_CERT, NULL);
    return 0;
}

int svc_tls_init_ctx(struct svc_tls *t, void *ssl_ctx)
{
    static const unsigned char sid_ctx[] = "coffer";
    SSL_CTX *ctx = ssl_ctx;

    if (SSL_CTX_set_min_proto_version(ctx, TLS1_2_VERSION) != 1 ||
        SSL_CTX_set_cipher_list(ctx, TLS12_CIPHERS) != 1 ||
        SSL_CTX_set_ciphersuites(ctx, TLS13_SUITES) != 1 ||
        SSL_CTX_set_session_id_context(ctx, sid_ctx, sizeof(sid_ctx) - 1) != 1)
        goto fail;
    /* CLEANSE_PLAINTEXT: OpenSSL decrypts records in place and would leave a request's
     * plaintext (credential values in a POST) in its buffers */
    SSL_CTX_set_options(ctx, SSL_OP_NO_RENEGOTIATION | SSL_OP_CIPHER_SERVER_PREFERENCE |
                                 SSL_OP_NO_COMPRESSION | SSL_OP_CLEANSE_PLAINTEXT);
    SSL_CTX_set_cert_cb(ctx, cert_cb, t);
    if (t->client_ca != NULL && set_client_ca(t, ctx) != 0)
        goto fail;
    return 1; /* civetweb loads no certificate of its own */
fail:
    ERR_clear_error();
    cf_log(CF_LOG_ERROR, "cannot set up TLS", NULL);
    return -1;
}

int svc_tls_reload(struct svc_tls *t)
{
    struct tls_pair *p = NULL, *old;
    char err[512];

    if (pair_load(t, &p, err, sizeof(err)) != 0) {
        cf_log(CF_LOG_ERROR, "TLS certificate not reloaded: the old one stays", "{s:s}", "problem",
               err);
        return CF_ECONFIG;
    }
    pthread_mutex_lock(&t->lock);
    old = t->cur;
    t->cur = p;
    pthread_mutex_unlock(&t->lock);
    cf_log(CF_LOG_INFO, "TLS certificate reloaded", "{s:s, s:s}", "was", old->fingerprint, "now",
           p->fingerprint);
    pair_free(old);
    return 0;
}

void svc_tls_fingerprint(struct svc_tls *t, char out[SVC_TLS_FINGERPRINT_LEN + 1])
{
    pthread_mutex_lock(&t->lock);
    memcpy(out, t->cur->fingerprint, SVC_TLS_FINGERPRINT_LEN + 1);
    pthread_mutex_unlock(&t->lock);
}
