/* cf_config.c - the table of cofferd's settings and its loader. */
#include "cf_config.h"

#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>

#include "cf_log.h"
#include "cf_mem.h"
#include "cf_secret.h"
#include "cf_str.h"

#ifndef COFFER_DEFAULT_MIGRATIONS_DIR
#define COFFER_DEFAULT_MIGRATIONS_DIR "migrations"
#endif

enum setting_kind {
    SET_STR,    /* free text */
    SET_SECRET, /* free text that may hold a password: never echoed */
    SET_INT,    /* decimal integer in [min, max] */
    SET_CHOICE, /* one of choices */
    SET_LISTEN, /* host:port */
    SET_CIDRS,  /* comma-separated IPv4/IPv6 addresses and networks */
};

struct setting {
    const char *env;
    const char *flag;
    enum setting_kind kind;
    size_t offset;
    const char *def; /* NULL: unset */
    int64_t min, max;
    const char *const *choices;
    const char *help;
};

static const char *const backends[] = { "local", "aws", NULL };
static const char *const levels[] = { "debug", "info", "warn", "error", NULL };
static const char *const on_off[] = { "on", "off", NULL };

#define STR(field)    SET_STR, offsetof(struct cf_config, field)
#define SECRET(field) SET_SECRET, offsetof(struct cf_config, field)
#define INT(field)    SET_INT, offsetof(struct cf_config, field)
#define CHOICE(field) SET_CHOICE, offsetof(struct cf_config, field)

static const struct setting settings[] = {
    { "COFFER_DATABASE_URL", "--database-url", SECRET(database_url), NULL, 0, 0, NULL,
      "libpq connection string or postgresql:// URI of the application role (default: libpq's "
      "PG* variables and local socket)" },
    { "COFFER_MIGRATE_DATABASE_URL", "--migrate-database-url", SECRET(migrate_database_url), NULL,
      0, 0, NULL,
      "connection used by `cofferd migrate`, the schema owner (default: "
      "COFFER_DATABASE_URL)" },
    { "COFFER_MIGRATIONS_DIR", "--migrations-dir", STR(migrations_dir),
      COFFER_DEFAULT_MIGRATIONS_DIR, 0, 0, NULL, "folder of the NNNN_name.sql migrations" },
    { "COFFER_LISTEN", "--listen", SET_LISTEN, offsetof(struct cf_config, listen), "127.0.0.1:8080",
      0, 0, NULL,
      "listen address: host:port, [ipv6]:port or :port (all "
      "interfaces)" },
    { "COFFER_THREADS", "--threads", INT(threads), "128", 1, 1024, NULL,
      "HTTP worker threads (each serves one connection at a time, from accept to close)" },
    { "COFFER_MAX_CONNECTIONS_PER_IP", "--max-connections-per-ip", INT(max_connections_per_ip),
      "32", 0, 1024, NULL,
      "once over 3/4 of the workers are taken, the idle or header-incomplete connections one "
      "client address (IPv6: /64) keeps; its oldest beyond are closed (0: no cap; a connection "
      "is never refused)" },
    { "COFFER_BUSY_HEADER_TIMEOUT_MS", "--busy-header-timeout-ms", INT(busy_header_timeout_ms),
      "1500", 0, 600000, NULL,
      "once over 3/4 of the workers are taken, the time a connection may wait for its request "
      "head or idle between requests, instead of the request or keep-alive timeout (0: off)" },
    { "COFFER_TRUSTED_PROXIES", "--trusted-proxies", SET_CIDRS,
      offsetof(struct cf_config, trusted_proxies), NULL, 0, 0, NULL,
      "load balancers and proxies whose word on the client's address is taken: comma-separated "
      "addresses and networks (10.0.0.0/8, 2001:db8::/32, 127.0.0.1); from them the client is "
      "the right-most untrusted X-Forwarded-For entry, or the PROXY protocol's source; from "
      "anyone else both are ignored" },
    { "COFFER_PROXY_PROTOCOL", "--proxy-protocol", CHOICE(proxy_protocol), "off", 0, 0, on_off,
      "on: every connection must open with a PROXY protocol v1 or v2 header (before TLS), or is "
      "closed; X-Forwarded-For is then ignored" },
    { "COFFER_AUTH_FAILURES_PER_MINUTE", "--auth-failures-per-minute",
      INT(auth_failures_per_minute), "60", 0, 60000, NULL,
      "failed authentications one client may have a minute (after a burst): past it, its "
      "failures are answered 429 instead of 401; a credential that verifies is always taken "
      "(0: no limit)" },
    { "COFFER_AUTH_FAILURE_BURST", "--auth-failure-burst", INT(auth_failure_burst), "20", 1, 100000,
      NULL, "failed authentications one client may have at once" },
    { "COFFER_AUTH_VERIFY_CONCURRENCY", "--auth-verify-concurrency", INT(auth_verify_concurrency),
      "32", 0, 1024, NULL,
      "credentials not yet proven that are checked at once (a KMS Decrypt or a token lookup "
      "each); more wait their turn, fairly across clients and claimed names (0: no limit)" },
    { "COFFER_AUTH_VERIFY_WAIT_MS", "--auth-verify-wait-ms", INT(auth_verify_wait_ms), "1000", 1,
      60000, NULL,
      "longest wait for that turn; then 503 overloaded with Retry-After (coffer is busy, the "
      "caller is not at fault)" },
    { "COFFER_LIMIT_IPV6_PREFIX", "--limit-ipv6-prefix", INT(limit_ipv6_prefix), "64", 1, 128, NULL,
      "IPv6 clients are counted per network of this prefix length by the failure limit and the "
      "verify gate (one /64 is usually one host; admission always groups by /64)" },
    { "COFFER_MAX_BODY_BYTES", "--max-body-bytes", INT(max_body), "262144", 1024, CF_SECRET_MAX,
      NULL,
      "largest request body accepted, at most 1 MiB (bodies are held as secrets); larger gets "
      "413" },
    { "COFFER_MAX_REQUEST_LINE_BYTES", "--max-request-line-bytes", INT(max_request_line), "8192",
      256, 32768, NULL, "longest request line (method, path and query, version); longer gets 414" },
    { "COFFER_MAX_HEADER_BYTES", "--max-header-bytes", INT(max_header_bytes), "16384", 1024, 65536,
      NULL, "largest sum of all request header lines; larger gets 431" },
    { "COFFER_MAX_HEADERS", "--max-headers", INT(max_headers), "48", 4, 63, NULL,
      "most request header lines (civetweb keeps 64 and drops the rest); more get 431" },
    { "COFFER_MAX_PAIRS", "--max-pairs", INT(max_pairs), "100", 1, 1000, NULL,
      "most credential pairs in one credential; more get 400 limit_exceeded" },
    { "COFFER_MAX_CREDENTIAL_BYTES", "--max-credential-bytes", INT(max_credential_bytes), "65536",
      256, 1048576, NULL,
      "largest credential (the canonical JSON of its pairs); larger gets 413 "
      "credential_too_large" },
    { "COFFER_MAX_SERVICE_CREDENTIALS", "--max-service-credentials", INT(max_service_credentials),
      "100", 1, 1000, NULL, "most credentials mapped to one service; more get 400 limit_exceeded" },
    { "COFFER_REQUEST_TIMEOUT_MS", "--request-timeout-ms", INT(request_timeout_ms), "30000", 100,
      600000, NULL, "time allowed to receive a request and send its answer" },
    { "COFFER_REQUEST_DEADLINE_MS", "--request-deadline-ms", INT(request_deadline_ms), "10000", 100,
      600000, NULL,
      "the most a request's work may take (KMS calls and their retries, waiting for a database "
      "connection, each statement); then 503, the access-log row still written" },
    { "COFFER_KEEP_ALIVE_TIMEOUT_MS", "--keep-alive-timeout-ms", INT(keep_alive_timeout_ms), "2000",
      0, 600000, NULL, "idle time a kept-alive connection may hold a worker thread" },
    { "COFFER_DB_POOL_SIZE", "--db-pool-size", INT(db_pool_size), "8", 1, 256, NULL,
      "PostgreSQL connections in the pool" },
    { "COFFER_DB_POOL_TIMEOUT_MS", "--db-pool-timeout-ms", INT(db_pool_timeout_ms), "5000", 1,
      600000, NULL, "longest wait for a free pooled connection before answering 503" },
    { "COFFER_KMS_BACKEND", "--kms-backend", CHOICE(kms_backend), "local", 0, 0, backends,
      "KMS backend: local (key file) or aws (AWS KMS or a compatible endpoint)" },
    { "COFFER_LOCAL_KEY_FILE", "--local-key-file", STR(local_key_file), NULL, 0, 0, NULL,
      "key file of the local backend (mode 0600; required for local)" },
    { "COFFER_KMS_MASTER_KEY", "--kms-master-key", STR(kms_master_key), NULL, 0, 0, NULL,
      "key id, alias or ARN for GenerateDataKey (aws: required; local: alias/coffer-master)" },
    { "COFFER_AUTH_KEY", "--auth-key", STR(auth_key), NULL, 0, 0, NULL,
      "service kmsauth key(s), comma-separated (unset: service kmsauth off)" },
    { "COFFER_USER_AUTH_KEY", "--user-auth-key", STR(user_auth_key), NULL, 0, 0, NULL,
      "user kmsauth key(s), comma-separated (unset: user kmsauth off)" },
    { "COFFER_AUTH_CONTEXT", "--auth-context", STR(auth_context), NULL, 0, 0, NULL,
      "this server's name, the kmsauth `to` (required with an auth key)" },
    { "COFFER_KMSAUTH_MAX_LIFETIME", "--kmsauth-max-lifetime", INT(kmsauth_max_lifetime), "60", 1,
      1440, NULL, "longest kmsauth token lifetime accepted, minutes" },
    { "COFFER_TLS_CERT", "--tls-cert", STR(tls_cert), NULL, 0, 0, NULL,
      "PEM certificate, then its chain, for HTTPS (with COFFER_TLS_KEY; re-read on SIGHUP)" },
    { "COFFER_TLS_KEY", "--tls-key", STR(tls_key), NULL, 0, 0, NULL,
      "PEM private key for HTTPS, not readable by others (with COFFER_TLS_CERT; re-read on "
      "SIGHUP)" },
    { "COFFER_TLS_CLIENT_CA", "--tls-client-ca", STR(tls_client_ca), NULL, 0, 0, NULL,
      "PEM CA certificates: every client must present a certificate they sign (mutual TLS)" },
    { "COFFER_MLOCK", "--mlock", CHOICE(mlock), "on", 0, 0, on_off,
      "serve: lock all of cofferd's memory in RAM (mlockall), so that no secret is ever swapped "
      "out; needs CAP_IPC_LOCK or a large enough RLIMIT_MEMLOCK, else a warning" },
    { "COFFER_LOG_LEVEL", "--log-level", CHOICE(log_level), "info", 0, 0, levels,
      "lowest level logged: debug, info, warn or error (JSON lines on stderr)" },
    { "COFFER_DATAKEY_CACHE_SIZE", "--datakey-cache-size", INT(datakey_cache_size), "10000", 0,
      10000000, NULL, "decrypted data keys kept in memory; 0 turns the cache off" },
    { "COFFER_DATAKEY_CACHE_TTL", "--datakey-cache-ttl", INT(datakey_cache_ttl), "900", 1, 86400,
      NULL, "seconds a decrypted data key may stay cached" },
    { "COFFER_BUNDLE_CACHE_SIZE", "--bundle-cache-size", INT(bundle_cache_size), "10000", 0,
      1000000, NULL,
      "serialised bundle answers kept in memory (a warm fetch then reads neither the database "
      "nor KMS); 0 turns the cache off" },
    { "COFFER_BUNDLE_CACHE_BYTES", "--bundle-cache-bytes", INT(bundle_cache_bytes), "67108864", 0,
      17179869184, NULL, "most bytes of bundle bodies kept; 0 turns the cache off" },
    { "COFFER_BUNDLE_CACHE_TTL", "--bundle-cache-ttl", INT(bundle_cache_ttl), "300", 1, 86400, NULL,
      "seconds a cached bundle may be served before it is rebuilt" },
    { "COFFER_KMS_CONNECT_TIMEOUT_MS", "--kms-connect-timeout-ms", INT(kms_connect_timeout_ms),
      "2000", 100, 60000, NULL, "aws backend: time allowed to connect to KMS, per attempt" },
    { "COFFER_KMS_TIMEOUT_MS", "--kms-timeout-ms", INT(kms_timeout_ms), "5000", 100, 120000, NULL,
      "aws backend: time allowed for one KMS request, per attempt" },
    { "COFFER_KMS_MAX_ATTEMPTS", "--kms-max-attempts", INT(kms_max_attempts), "4", 1, 10, NULL,
      "aws backend: attempts for a throttled, 5xx or failed KMS request (1 = no retry)" },
    { "COFFER_KMS_BACKOFF_BASE_MS", "--kms-backoff-base-ms", INT(kms_backoff_base_ms), "50", 1,
      10000, NULL, "aws backend: first retry waits up to this long (exponential, full jitter)" },
    { "COFFER_AUDIT_BATCH_MAX", "--audit-batch-max", INT(audit_batch_max), "256", 1, 10000, NULL,
      "access-log rows committed in one transaction at most (group commit)" },
    { "COFFER_AUDIT_BATCH_WAIT_MS", "--audit-batch-wait-ms", INT(audit_batch_wait_ms), "0", 0, 1000,
      NULL, "time a first access-log row waits for others to share its commit (0: none)" },
    { "COFFER_AUDIT_TIMEOUT_MS", "--audit-timeout-ms", INT(audit_timeout_ms), "5000", 10, 600000,
      NULL, "longest wait for a request's access-log row; then 503 audit_unavailable" },
    { "COFFER_KMS_BACKOFF_MAX_MS", "--kms-backoff-max-ms", INT(kms_backoff_max_ms), "2000", 1,
      60000, NULL, "aws backend: no retry waits longer than this" },
};

#define NSETTINGS (sizeof(settings) / sizeof(settings[0]))

static char **str_slot(struct cf_config *cfg, const struct setting *s)
{
    return (char **)((char *)cfg + s->offset);
}

static int64_t *int_slot(struct cf_config *cfg, const struct setting *s)
{
    return (int64_t *)((char *)cfg + s->offset);
}

static bool is_choice(const struct setting *s, const char *v)
{
    for (const char *const *c = s->choices; *c != NULL; c++) {
        if (strcmp(*c, v) == 0)
            return true;
    }
    return false;
}

/* Checks and stores one value; `from` names where it came from for the message. */
static int set_value(struct cf_config *cfg, const struct setting *s, const char *v,
                     const char *from, char *err, size_t errcap)
{
    int64_t n;

    switch (s->kind) {
    case SET_INT:
        if (cf_parse_i64(v, s->min, s->max, &n) != 0) {
            return cf_config_error(err, errcap,
                                   "%s: expected an integer from %lld to %lld, got '%.40s'", from,
                                   (long long)s->min, (long long)s->max, v);
        }
        *int_slot(cfg, s) = n;
        return 0;
    case SET_CHOICE:
        if (!is_choice(s, v)) {
            return cf_config_error(
                err, errcap, "%s: '%.40s' is not one of the accepted values (see --help)", from, v);
        }
        break;
    case SET_LISTEN: {
        char host[256];
        int port;
        if (cf_config_listen_parts(v, host, sizeof(host), &port) != 0) {
            return cf_config_error(
                err, errcap, "%s: expected host:port, [ipv6]:port or :port, got '%.80s'", from, v);
        }
        break;
    }
    case SET_CIDRS: {
        char why[256];
        if (cf_cidr_set_parse(v, &cfg->trusted, why, sizeof(why)) != 0)
            return cf_config_error(err, errcap, "%s: %s", from, why);
        break;
    }
    case SET_STR:
    case SET_SECRET:
        break;
    }
    char **slot = str_slot(cfg, s);
    cf_free_cleanse_str(*slot);
    *slot = cf_xstrdup(v);
    return 0;
}

static const struct setting *find_flag(const char *arg, const char **value_out)
{
    for (size_t i = 0; i < NSETTINGS; i++) {
        size_t fl = strlen(settings[i].flag);
        if (strncmp(arg, settings[i].flag, fl) != 0)
            continue;
        if (arg[fl] == '\0') {
            *value_out = NULL;
            return &settings[i];
        }
        if (arg[fl] == '=') {
            *value_out = arg + fl + 1;
            return &settings[i];
        }
    }
    return NULL;
}

static int load_defaults_and_env(struct cf_config *cfg, char *err, size_t errcap)
{
    for (size_t i = 0; i < NSETTINGS; i++) {
        const struct setting *s = &settings[i];
        int r;
        if (s->def != NULL && (r = set_value(cfg, s, s->def, s->env, err, errcap)) != 0)
            return r;
        // NOLINTNEXTLINE(concurrency-mt-unsafe): runs before any thread starts; no setenv
        const char *v = getenv(s->env);
        if (v != NULL && *v != '\0' && (r = set_value(cfg, s, v, s->env, err, errcap)) != 0)
            return r;
    }
    return 0;
}

int cf_config_load(struct cf_config *cfg, int argc, char **argv, char **rest, int *nrest, char *err,
                   size_t errcap)
{
    int r;

    *cfg = (struct cf_config){ 0 };
    *nrest = 0;
    err[0] = '\0';
    if ((r = load_defaults_and_env(cfg, err, errcap)) != 0)
        return r;
    for (int i = 1; i < argc; i++) {
        const char *value;
        const struct setting *s = find_flag(argv[i], &value);
        if (s == NULL) {
            rest[(*nrest)++] = argv[i];
            continue;
        }
        if (value == NULL) {
            if (i + 1 >= argc) {
                return cf_config_error(err, errcap, "%s needs a value", s->flag);
            }
            value = argv[++i];
        }
        if (*value != '\0' && (r = set_value(cfg, s, value, s->flag, err, errcap)) != 0)
            return r;
    }
    enum cf_log_level lvl;
    if (cf_log_level_parse(cfg->log_level, &lvl) == 0)
        cf_log_set_level(lvl);
    return 0;
}

const char *cf_config_master_key(const struct cf_config *cfg)
{
    if (cfg->kms_master_key != NULL)
        return cfg->kms_master_key;
    return strcmp(cfg->kms_backend, "local") == 0 ? "alias/coffer-master" : NULL;
}

int cf_config_check_serve(const struct cf_config *cfg, char *err, size_t errcap)
{
    const char *msg = NULL;

    if ((cfg->tls_cert == NULL) != (cfg->tls_key == NULL)) {
        msg = "COFFER_TLS_CERT and COFFER_TLS_KEY go together: set both or neither";
    } else if (cfg->tls_client_ca != NULL && cfg->tls_cert == NULL) {
        msg = "COFFER_TLS_CLIENT_CA needs HTTPS: set COFFER_TLS_CERT and COFFER_TLS_KEY too";
    } else if ((cfg->auth_key != NULL || cfg->user_auth_key != NULL) && cfg->auth_context == NULL) {
        msg = "COFFER_AUTH_CONTEXT is required when COFFER_AUTH_KEY or COFFER_USER_AUTH_KEY is set";
    } else if (strcmp(cfg->kms_backend, "local") == 0 && cfg->local_key_file == NULL) {
        msg = "COFFER_LOCAL_KEY_FILE is required with COFFER_KMS_BACKEND=local (create one with "
              "`cofferd local-key init PATH`)";
    } else if (cf_config_master_key(cfg) == NULL) {
        msg = "COFFER_KMS_MASTER_KEY is required with COFFER_KMS_BACKEND=aws";
    } else if (cfg->kms_backoff_base_ms > cfg->kms_backoff_max_ms) {
        msg = "COFFER_KMS_BACKOFF_BASE_MS may not exceed COFFER_KMS_BACKOFF_MAX_MS";
    }
    if (msg == NULL)
        return 0;
    return cf_config_error(err, errcap, "%s", msg);
}

int cf_config_listen_parts(const char *listen, char *host, size_t hostcap, int *port)
{
    const char *colon;
    int64_t p;

    if (listen[0] == '[') {
        const char *close = strchr(listen, ']');
        if (close == NULL || close[1] != ':')
            return CF_EINVAL;
        colon = close + 1;
    } else {
        colon = strrchr(listen, ':');
        if (colon == NULL || memchr(listen, ':', (size_t)(colon - listen)) != NULL)
            return CF_EINVAL;
    }
    if (cf_parse_i64(colon + 1, 0, 65535, &p) != 0)
        return CF_EINVAL;
    size_t hl = (size_t)(colon - listen); /* colon points into listen */
    if (hl >= hostcap)
        return CF_ETOOBIG;
    memcpy(host, listen, hl);
    host[hl] = '\0';
    for (size_t i = 0; i < hl; i++) {
        char c = host[i];
        bool ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
                  c == '.' || c == '-' || c == ':' || c == '[' || c == ']';
        if (!ok)
            return CF_EINVAL;
    }
    *port = (int)p; /* 0..65535: checked above */
    return 0;
}

void cf_config_help(FILE *out)
{
    (void)fputs(
        "Settings (a flag overrides its environment variable; --flag VALUE or --flag=VALUE):\n",
        out);
    for (size_t i = 0; i < NSETTINGS; i++) {
        const struct setting *s = &settings[i];
        (void)fprintf(out, "  %-26s %s\n", s->flag, s->env);
        (void)fprintf(out, "      %s\n      default: %s\n", s->help, s->def ? s->def : "(unset)");
    }
    (void)fputs(
        "\nRead by the aws KMS backend from the environment (standard AWS names):\n"
        "  AWS_REGION, AWS_DEFAULT_REGION        region (required for aws)\n"
        "  AWS_ENDPOINT_URL_KMS, AWS_ENDPOINT_URL endpoint (default "
        "https://kms.<region>.amazonaws.com)\n"
        "  AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY, AWS_SESSION_TOKEN   static credentials\n"
        "  AWS_PROFILE, AWS_SHARED_CREDENTIALS_FILE, AWS_CONFIG_FILE     shared files\n"
        "  AWS_CONTAINER_CREDENTIALS_RELATIVE_URI, AWS_CONTAINER_CREDENTIALS_FULL_URI,\n"
        "  AWS_CONTAINER_AUTHORIZATION_TOKEN, AWS_CONTAINER_AUTHORIZATION_TOKEN_FILE\n"
        "                                        container credentials\n"
        "  AWS_EC2_METADATA_DISABLED             default false: EC2 instance role via IMDSv2\n"
        "  AWS_EC2_METADATA_SERVICE_ENDPOINT     default http://169.254.169.254\n"
        "  AWS_CA_BUNDLE                         CA certificates for the KMS endpoint\n",
        out);
}

void cf_config_free(struct cf_config *cfg)
{
    for (size_t i = 0; i < NSETTINGS; i++) {
        const struct setting *s = &settings[i];
        if (s->kind == SET_INT)
            continue;
        char **slot = str_slot(cfg, s);
        cf_free_cleanse_str(*slot);
        *slot = NULL;
    }
}
