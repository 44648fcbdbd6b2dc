/*
 * cf_config.h - cofferd's settings, from defaults, environment variables and flags.
 *
 * Each setting has an environment variable (API.md section 9.1) and a flag; a flag overrides
 * the environment, which overrides the default. An empty variable counts as unset. Every value
 * is validated when loaded, with a message that names the setting; values of settings that
 * may hold passwords (database URLs) are never echoed.
 */
#ifndef CF_CONFIG_H
#define CF_CONFIG_H

#include <stdint.h>
#include <stdio.h>

#include "cf_addr.h"
#include "cf_err.h"

struct cf_config {
    char *database_url;         /* libpq conninfo or URI; may hold a password; NULL = defaults */
    char *migrate_database_url; /* NULL = database_url */
    char *migrations_dir;
    char *listen;                     /* "host:port", "[v6]:port" or ":port" */
    int64_t threads;                  /* civetweb worker threads */
    int64_t max_connections_per_ip;   /* waiting connections per address once busy; 0 = no cap */
    int64_t busy_header_timeout_ms;   /* a waiting connection's time once busy; 0 = off */
    char *trusted_proxies;            /* COFFER_TRUSTED_PROXIES as given; NULL = none */
    struct cf_cidr_set trusted;       /* the same, parsed: proxies whose word on the client holds */
    char *proxy_protocol;             /* "on": every connection starts with a PROXY header */
    int64_t auth_failures_per_minute; /* per client address; 0 = no limit */
    int64_t auth_failure_burst;
    int64_t auth_verify_concurrency; /* unproven credentials checked at once; 0 = no limit */
    int64_t auth_verify_wait_ms;     /* longest wait for a turn to check one */
    int64_t limit_ipv6_prefix;       /* IPv6 clients are limited per this prefix */
    int64_t max_body;                /* request body limit, bytes */
    int64_t max_request_line;        /* bytes of method, target and version */
    int64_t max_header_bytes;        /* bytes of all header lines */
    int64_t max_headers;             /* header lines */
    int64_t max_pairs;               /* credential pairs per credential */
    int64_t max_credential_bytes;    /* canonical JSON of a credential's pairs */
    int64_t max_service_credentials; /* credentials mapped to one service */
    int64_t request_timeout_ms;
    int64_t request_deadline_ms; /* the most a request may take inside cofferd */
    int64_t keep_alive_timeout_ms;
    int64_t db_pool_size;
    int64_t db_pool_timeout_ms;
    char *kms_backend; /* "local" or "aws" */
    char *local_key_file;
    char *kms_master_key; /* NULL: backend default */
    char *auth_key;       /* comma-separated, NULL = service kmsauth off */
    char *user_auth_key;  /* comma-separated, NULL = user kmsauth off */
    char *auth_context;
    int64_t kmsauth_max_lifetime; /* minutes */
    char *tls_cert;               /* PEM: the certificate, then its chain; NULL = plain HTTP */
    char *tls_key;                /* PEM private key */
    char *tls_client_ca; /* PEM CA certificates that sign client certificates; NULL = none asked */
    char *log_level;
    char *mlock; /* "on" or "off" */
    int64_t datakey_cache_size;
    int64_t datakey_cache_ttl; /* seconds */
    int64_t bundle_cache_size;
    int64_t bundle_cache_bytes;
    int64_t bundle_cache_ttl; /* seconds */
    int64_t kms_connect_timeout_ms;
    int64_t kms_timeout_ms;
    int64_t kms_max_attempts;
    int64_t kms_backoff_base_ms;
    int64_t kms_backoff_max_ms;
    int64_t audit_batch_max;
    int64_t audit_batch_wait_ms;
    int64_t audit_timeout_ms;
};

/* The master key for GenerateDataKey: COFFER_KMS_MASTER_KEY, or alias/coffer-master for the
 * local backend. NULL for aws without one (cf_config_check_serve() refuses that). */
const char *cf_config_master_key(const struct cf_config *cfg);

/* Loads defaults, then the environment, then the setting flags found in argv[1..argc). The
 * arguments that are not setting flags are returned in order in rest[0..*nrest) (pointers into
 * argv; rest must have room for argc entries). On a bad value returns CF_ECONFIG with a
 * message in err[0..errcap) naming the setting; the config is then partly filled and must
 * still be freed. Not thread-safe (getenv): call before starting threads. */
CF_MUST_CHECK int cf_config_load(struct cf_config *cfg, int argc, char **argv, char **rest,
                                 int *nrest, char *err, size_t errcap);

/* Cross-setting checks that matter only to `serve` (TLS pair, auth context, key file). */
CF_MUST_CHECK int cf_config_check_serve(const struct cf_config *cfg, char *err, size_t errcap);

/* Splits cfg->listen into host ("" = all interfaces) and port. */
CF_MUST_CHECK int cf_config_listen_parts(const char *listen, char *host, size_t hostcap, int *port);

/* Writes every setting: flag, variable, default and meaning. */
void cf_config_help(FILE *out);

/* Frees every string (cleansing those that may hold passwords). */
void cf_config_free(struct cf_config *cfg);

#endif
