/*
 * svc_tls.h - HTTPS for cofferd (see svc_tls.c): the certificate and key, re-read on SIGHUP
 * without dropping a connection, TLS 1.2 at least and modern ciphers, and optional client
 * certificates (mutual TLS).
 */
#ifndef SVC_TLS_H
#define SVC_TLS_H

#include <stdbool.h>
#include <stddef.h>

#include "cf_config.h"
#include "cf_err.h"

#define SVC_TLS_FINGERPRINT_LEN 64 /* hex SHA-256 of the certificate (DER) */

struct svc_tls;

/* Loads cfg's COFFER_TLS_CERT, COFFER_TLS_KEY and COFFER_TLS_CLIENT_CA (if set). CF_ECONFIG
 * with a message in err (never key material) when a file cannot be read or parsed, the key
 * does not match the certificate, or the key file is readable by others. */
CF_MUST_CHECK int svc_tls_new(const struct cf_config *cfg, struct svc_tls **out, char *err,
                              size_t errcap);

void svc_tls_free(struct svc_tls *t);

/* Sets up civetweb's SSL_CTX (its init_ssl callback): protocol floor, ciphers, the callback
 * that hands each new handshake the current certificate, client verification. 1 on success
 * (civetweb then loads no certificate of its own), -1 on failure. */
int svc_tls_init_ctx(struct svc_tls *t, void *ssl_ctx);

/* Re-reads the certificate and key files. On success new handshakes get the new pair at once
 * and connections already open keep theirs; on failure (logged) the old pair stays. 0 or
 * CF_ECONFIG. Thread-safe. */
CF_MUST_CHECK int svc_tls_reload(struct svc_tls *t);

/* The current certificate's fingerprint (hex SHA-256 of its DER) into out. Thread-safe. */
void svc_tls_fingerprint(struct svc_tls *t, char out[SVC_TLS_FINGERPRINT_LEN + 1]);

#endif
