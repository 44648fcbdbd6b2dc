/*
 * tsupport.h - what the tests share: the peers scripts/test started (PostgreSQL, moto), a
 * fresh migrated database per test, a cofferd child process, and an HTTP client.
 *
 * A missing peer fails the test (it never skips). Every helper fails the running cmocka test
 * on error, so tests read as the steps they take.
 */
#ifndef TSUPPORT_H
#define TSUPPORT_H

#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include <cmocka.h>

#include "cf_str.h"
#include "trun.h"

#define T_URL_MAX 512

/* The value of an environment variable that scripts/test sets; fails the test if unset. */
const char *t_env(const char *name);

/* A database of its own for one test, migrated, with an owner and an application role. */
struct t_db {
    char name[64];
    char super_url[T_URL_MAX]; /* the cluster's superuser, in this database */
    char owner_url[T_URL_MAX]; /* the schema owner (runs migrations) */
    char app_url[T_URL_MAX];   /* cofferd's least-privileged role */
};

/* Creates the database (and the cluster-wide roles if missing) and applies the migrations of
 * the source tree unless migrate is false. */
void t_db_create(struct t_db *db, bool migrate);

/* Drops the database (forcing out its connections). */
void t_db_drop(const struct t_db *db);

/* Runs one SQL statement on url. Returns the SQLSTATE ("00000" on success) in a static buffer
 * per call site's thread, and the first value of the first row in out (if out != NULL). */
const char *t_sql(const char *url, const char *sql, char *out, size_t outcap);

/* Like t_sql(), failing the test unless the statement succeeds. */
void t_sql_ok(const char *url, const char *sql, char *out, size_t outcap);

/* Runs argv (argv[0] a path) with extra environment entries "NAME=value" (NULL-terminated),
 * capturing stdout into out (may be NULL). Returns the exit status, or -1 if killed. */
int t_run(char *const argv[], char *const env[], struct cf_buf *out);

/* t_run() capturing stdout and stderr together into out. */
int t_run_output(char *const argv[], char *const env[], struct cf_buf *out);

/* t_run() with in[0..inlen) written to its stdin, which is then closed (in NULL: stdin is
 * /dev/null), stdout captured into out and stderr into err, separately (either may be NULL:
 * discarded). Returns the exit status, or -1 if killed. */
int t_run_io(char *const argv[], char *const env[], const void *in, size_t inlen,
             struct cf_buf *out, struct cf_buf *err);

/* A PostgreSQL 15 cluster of the test's own (initdb as the postgres user under the test work
 * folder, trust authentication, a free loopback port), for what the shared cluster cannot
 * show: a cluster with no coffer roles at all. */
struct t_pg {
    char dir[256];
    int port;
    char super_url[T_URL_MAX]; /* the postgres superuser, database postgres */
};

/* Creates and starts it; fails the test if it cannot. */
void t_pg_private_start(struct t_pg *pg);

/* Stops it (immediate) and removes its folder. */
void t_pg_private_stop(struct t_pg *pg);

/* Makes a new folder prefix-<random> under the test work folder holding a self-signed EC P-256
 * certificate for 127.0.0.1 (a.pem) and its key (a.key, mode 0600): its path goes to dir. */
void t_tls_cert_dir(const char *prefix, char *dir, size_t cap);

/* Creates a new local KMS key file with `cofferd local-key init` under the test work folder
 * and writes its path to path. */
void t_key_file(char *path, size_t cap);

/* A running cofferd. */
struct t_cofferd {
    pid_t pid;
    int port;
    char base_url[64];
    char log_path[256];
    char key_file[256];  /* the local KMS key file it was given by default */
    bool tls;            /* env set COFFER_TLS_CERT: base_url is https, and readiness is the
                            port accepting (a client certificate may be required) */
    bool proxy_protocol; /* env set COFFER_PROXY_PROTOCOL=on: readiness sends a PROXY header */
    bool v6;             /* env set COFFER_TEST_LISTEN=::1: it listens on [::1], not 127.0.0.1 */
};

/* Starts `cofferd serve` for db with the extra environment env (NULL-terminated, may be NULL)
 * on a free port, and waits until /healthcheck answers (with TLS: until the port accepts).
 * The limit on failed authentications per address is off (COFFER_AUTH_FAILURES_PER_MINUTE=0)
 * unless env sets it. It gets a fresh local KMS key file unless env sets COFFER_LOCAL_KEY_FILE
 * (two nodes of one service share one). With COFFER_TEST_LISTEN=::1 in env it listens on
 * [::1] instead of 127.0.0.1. */
void t_cofferd_start(struct t_cofferd *d, const struct t_db *db, char *const env[]);

/* Waits (up to 60 s) until d's log says its change listener is connected, failing the test
 * otherwise. The listener clears the bundle and auth caches once it has connected, so a test
 * that counts cache hits waits for this first: a clear after its first fetch would turn the
 * hit it expects into a miss. */
void t_cofferd_wait_listening(const struct t_cofferd *d);

/* Sends SIGTERM and waits; returns the exit status (-1 if it had to be killed). */
int t_cofferd_stop(struct t_cofferd *d);

/* Creates an API token with `cofferd token create` and copies it into token (51 bytes). */
void t_token_create(const struct t_db *db, const char *role, const char *name, char *token);

/* One HTTP exchange. */
struct t_resp {
    long status;
    struct cf_buf body;
    struct cf_buf headers; /* raw header block */
};

/* Sends method url with headers (NULL-terminated "Name: value" strings, may be NULL) and body
 * (may be NULL). Fails the test if no answer arrives. Free with t_resp_free(). */
void t_http(const char *method, const char *url, const char *const *headers, const char *body,
            struct t_resp *out);

/* t_http() over HTTPS trusting only the certificates in cafile (NULL: as t_http()). */
void t_http_ca(const char *cafile, const char *method, const char *url, const char *const *headers,
               const char *body, struct t_resp *out);

/* The value of a response header (first occurrence, case-insensitive), copied into out;
 * false if absent. */
bool t_resp_header(const struct t_resp *r, const char *name, char *out, size_t outcap);

void t_resp_free(struct t_resp *r);

/* Polls fn(arg) every 50 ms until it returns true or seconds pass; returns its last result. */
bool t_wait_until(bool (*fn)(void *arg), void *arg, int seconds);

/* Stops, starts or restarts the test cluster (as the postgres user, with pg_ctl -w). */
void t_pg_ctl(const char *action);

/* A fresh random loopback port that nothing listens on. */
int t_free_port(void);

/* A moto_server of the test's own on 127.0.0.1 (it dies with the test), logging to
 * $COFFER_TEST_WORK/moto-private-<port>.log. */
struct t_moto {
    pid_t pid;
    char url[64];
};

/* Starts it on port (0: a free one) and waits until it accepts connections. */
void t_moto_start(struct t_moto *m, int port);

/* SIGTERM, then SIGKILL; a no-op once stopped. */
void t_moto_stop(struct t_moto *m);

#endif
