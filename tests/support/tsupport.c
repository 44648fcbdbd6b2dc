/* tsupport.c - test helpers: peers, databases, processes, HTTP. */
#include "tsupport.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <pthread.h>
#include <pwd.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <curl/curl.h>
#include <libpq-fe.h>

#include "cf_crypto.h"
#include "cf_mem.h"
#include "db.h"
#include "db_migrate.h"

const char *t_env(const char *name)
{
    const char *v = getenv(name);
    if (v == NULL || *v == '\0')
        fail_msg("%s is not set: run the tests through ./scripts/test, which starts PostgreSQL "
                 "and moto_server",
                 name);
    return v;
}

static void sleep_ms(long ms)
{
    struct timespec ts = { ms / 1000, (ms % 1000) * 1000000L };
    nanosleep(&ts, NULL);
}

bool t_wait_until(bool (*fn)(void *arg), void *arg, int seconds)
{
    for (int i = 0; i < seconds * 20; i++) {
        if (fn(arg))
            return true;
        sleep_ms(50);
    }
    return fn(arg);
}

/* The ports the kernel picks for outgoing connections (net.ipv4.ip_local_port_range). */
static void ephemeral_ports(int *lo, int *hi)
{
    FILE *f = fopen("/proc/sys/net/ipv4/ip_local_port_range", "r");

    *lo = 32768;
    *hi = 60999;
    if (f != NULL) {
        if (fscanf(f, "%d %d", lo, hi) != 2) {
            *lo = 32768;
            *hi = 60999;
        }
        fclose(f);
    }
}

/* Picked below (or above) the ephemeral range: a port the kernel hands out can be taken by any
 * process's connect() between this check and the bind of whoever is given the port (under a
 * loaded -j2 run, cofferd then failed to start). A port outside the range is taken only by an
 * explicit bind; bind() without SO_REUSEADDR succeeds only if no socket of any state uses it. */
int t_free_port(void)
{
    int lo, hi;

    ephemeral_ports(&lo, &hi);
    int below = lo > 10000 ? lo - 10000 : 0, above = hi < 65535 ? 65535 - hi : 0;
    if (below + above == 0)
        fail_msg("no loopback ports outside the ephemeral range %d-%d", lo, hi);
    for (int attempt = 0; attempt < 1000; attempt++) {
        uint32_t r;
        if (cf_rand_bytes(&r, sizeof(r)) != 0)
            fail_msg("no random bytes");
        int pick = (int)(r % (uint32_t)(below + above));
        int port = pick < below ? 10000 + pick : hi + 1 + (pick - below);
        struct sockaddr_in a = { .sin_family = AF_INET, .sin_port = htons((uint16_t)port) };
        a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
        int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
        if (fd < 0)
            fail_msg("socket failed (errno %d)", errno);
        int bound = bind(fd, (struct sockaddr *)&a, sizeof(a));
        close(fd);
        if (bound == 0)
            return port;
    }
    fail_msg("no free loopback port outside the ephemeral range %d-%d", lo, hi);
    return -1;
}

void t_pg_ctl(const char *action)
{
    char opts[512], log[512];
    const char *work = getenv("COFFER_TEST_WORK");

    snprintf(opts, sizeof(opts), "-p %s -k %s -c listen_addresses=127.0.0.1",
             t_env("COFFER_TEST_PG_PORT"), t_env("COFFER_TEST_PG_SOCKDIR"));
    snprintf(log, sizeof(log), "%s/pg.log", work != NULL ? work : "/tmp");
    char pg_ctl[512];
    snprintf(pg_ctl, sizeof(pg_ctl), "%s/pg_ctl", t_env("COFFER_TEST_PG_BIN"));
    char *const argv[] = { "/usr/sbin/runuser",
                           "-u",
                           "postgres",
                           "--",
                           pg_ctl,
                           "-D",
                           (char *)t_env("COFFER_TEST_PGDATA"),
                           "-l",
                           log,
                           "-o",
                           opts,
                           "-m",
                           "fast",
                           "-w",
                           "-t",
                           "60",
                           (char *)action,
                           NULL };
    int rc = t_run(argv, NULL, NULL);
    if (rc != 0)
        fail_msg("pg_ctl %s exited %d", action, rc);
}

/* The postgres user's ids (the test cluster runs as it). */
static uid_t pw_postgres_uid(void)
{
    struct passwd *pw = getpwnam("postgres");
    if (pw == NULL)
        fail_msg("there is no postgres user: install postgresql-15");
    return pw->pw_uid;
}

static gid_t pw_postgres_gid(void)
{
    struct passwd *pw = getpwnam("postgres");
    if (pw == NULL)
        fail_msg("there is no postgres user: install postgresql-15");
    return pw->pw_gid;
}

static _Thread_local char sqlstate_buf[6];

const char *t_sql(const char *url, const char *sql, char *out, size_t outcap)
{
    PGconn *pg = PQconnectdb(url);
    if (PQstatus(pg) != CONNECTION_OK)
        fail_msg("cannot connect to %s: %s", url, PQerrorMessage(pg));
    PGresult *res = PQexecParams(pg, sql, 0, NULL, NULL, NULL, NULL, 0);
    ExecStatusType st = PQresultStatus(res);
    const char *state = PQresultErrorField(res, PG_DIAG_SQLSTATE);
    snprintf(sqlstate_buf, sizeof(sqlstate_buf), "%s",
             (st == PGRES_COMMAND_OK || st == PGRES_TUPLES_OK) ? "00000"
                                                               : (state ? state : "?????"));
    if (out != NULL && outcap > 0) {
        out[0] = '\0';
        if (st == PGRES_TUPLES_OK && PQntuples(res) > 0 && PQnfields(res) > 0)
            snprintf(out, outcap, "%s", PQgetvalue(res, 0, 0));
    }
    PQclear(res);
    PQfinish(pg);
    return sqlstate_buf;
}

void t_sql_ok(const char *url, const char *sql, char *out, size_t outcap)
{
    const char *state = t_sql(url, sql, out, outcap);
    if (strcmp(state, "00000") != 0)
        fail_msg("SQL failed with %s: %s", state, sql);
}

/* Roles are cluster-wide and tests run in parallel: creating one twice is fine. */
static void ensure_role(const char *super, const char *sql)
{
    const char *state = t_sql(super, sql, NULL, 0);
    if (strcmp(state, "00000") != 0 && strcmp(state, "42710") != 0 && strcmp(state, "23505") != 0 &&
        strcmp(state, "XX000") != 0)
        fail_msg("cannot create a test role (%s): %s", state, sql);
}

static void db_url(char *out, const char *base, const char *dbname, const char *user)
{
    snprintf(out, T_URL_MAX, "%s dbname=%s user=%s", base, dbname, user);
}

void t_db_create(struct t_db *db, bool migrate)
{
    const char *super = t_env("COFFER_TEST_PG_URL");
    const char *port = t_env("COFFER_TEST_PG_PORT");
    char base[128], sql[256], rnd[17];

    *db = (struct t_db){ 0 };
    if (cf_rand_hex(8, rnd, sizeof(rnd)) != 0)
        fail_msg("no random bytes");
    snprintf(db->name, sizeof(db->name), "coffer_test_%s", rnd);
    snprintf(base, sizeof(base), "host=127.0.0.1 port=%s", port);
    ensure_role(super, "CREATE ROLE coffer_app NOLOGIN");
    ensure_role(super, "CREATE ROLE coffer_test_owner LOGIN");
    ensure_role(super, "CREATE ROLE coffer_test_app LOGIN IN ROLE coffer_app");
    snprintf(sql, sizeof(sql), "CREATE DATABASE %s OWNER coffer_test_owner", db->name);
    t_sql_ok(super, sql, NULL, 0);
    db_url(db->super_url, base, db->name, "postgres");
    db_url(db->owner_url, base, db->name, "coffer_test_owner");
    db_url(db->app_url, base, db->name, "coffer_test_app");
    if (!migrate)
        return;
    struct db_conn *c = NULL;
    assert_int_equal(db_connect(db->owner_url, &c), 0);
    FILE *devnull = fopen("/dev/null", "w");
    int r = db_migrate_run(c, t_env("COFFER_TEST_MIGRATIONS"), false, devnull);
    fclose(devnull);
    db_disconnect(c);
    assert_int_equal(r, 0);
}

void t_db_drop(const struct t_db *db)
{
    char sql[128];
    snprintf(sql, sizeof(sql), "DROP DATABASE IF EXISTS %s WITH (FORCE)", db->name);
    t_sql_ok(t_env("COFFER_TEST_PG_URL"), sql, NULL, 0);
}

/* Runs argv; captures stdout into out if not NULL, and stderr too if merge. */
static int run_capture(char *const argv[], char *const env[], struct cf_buf *out, bool merge)
{
    int pipefd[2] = { -1, -1 };

    if (out != NULL && pipe(pipefd) != 0)
        fail_msg("pipe failed");
    pid_t pid = fork();
    if (pid < 0)
        fail_msg("fork failed");
    if (pid == 0) {
        prctl(PR_SET_PDEATHSIG, SIGKILL); /* never outlive a test that failed or crashed */
        for (size_t i = 0; env != NULL && env[i] != NULL; i++)
            putenv(env[i]);
        if (out != NULL) {
            dup2(pipefd[1], STDOUT_FILENO);
            if (merge)
                dup2(pipefd[1], STDERR_FILENO);
            close(pipefd[0]);
            close(pipefd[1]);
        }
        execv(argv[0], argv);
        _exit(127);
    }
    if (out != NULL) {
        char chunk[4096];
        ssize_t n;
        close(pipefd[1]);
        while ((n = read(pipefd[0], chunk, sizeof(chunk))) > 0)
            cf_buf_append(out, chunk, (size_t)n);
        close(pipefd[0]);
    }
    int status = 0;
    while (waitpid(pid, &status, 0) < 0 && errno == EINTR)
        ;
    return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
}

int t_run(char *const argv[], char *const env[], struct cf_buf *out)
{
    return run_capture(argv, env, out, false);
}

int t_run_output(char *const argv[], char *const env[], struct cf_buf *out)
{
    return run_capture(argv, env, out, true);
}

int t_run_io(char *const argv[], char *const env[], const void *in, size_t inlen,
             struct cf_buf *out, struct cf_buf *err)
{
    int inp[2] = { -1, -1 }, outp[2], errp[2];
    struct sigaction ign = { .sa_handler = SIG_IGN }, old_pipe;

    if ((in != NULL && pipe(inp) != 0) || pipe(outp) != 0 || pipe(errp) != 0)
        fail_msg("pipe failed");
    /* a child that exits before reading all of its stdin must not kill the test */
    sigemptyset(&ign.sa_mask);
    sigaction(SIGPIPE, &ign, &old_pipe);
    pid_t pid = fork();
    if (pid < 0)
        fail_msg("fork failed");
    if (pid == 0) {
        prctl(PR_SET_PDEATHSIG, SIGKILL); /* never outlive a test that failed or crashed */
        signal(SIGPIPE, SIG_DFL);
        for (size_t i = 0; env != NULL && env[i] != NULL; i++)
            putenv(env[i]);
        int fd0 = in != NULL ? inp[0] : open("/dev/null", O_RDONLY);
        dup2(fd0, STDIN_FILENO);
        dup2(outp[1], STDOUT_FILENO);
        dup2(errp[1], STDERR_FILENO);
        if (in != NULL) {
            close(inp[0]);
            close(inp[1]);
        } else if (fd0 > STDERR_FILENO) {
            close(fd0);
        }
        close(outp[0]);
        close(outp[1]);
        close(errp[0]);
        close(errp[1]);
        execv(argv[0], argv);
        _exit(127);
    }
    close(outp[1]);
    close(errp[1]);
    struct pollfd fds[3] = { { .fd = outp[0], .events = POLLIN },
                             { .fd = errp[0], .events = POLLIN },
                             { .fd = -1, .events = POLLOUT } };
    struct cf_buf *sinks[2] = { out, err };
    size_t sent = 0;
    if (in != NULL) {
        close(inp[0]);
        if (inlen == 0) {
            close(inp[1]);
        } else {
            fcntl(inp[1], F_SETFL, fcntl(inp[1], F_GETFL) | O_NONBLOCK);
            fds[2].fd = inp[1];
        }
    }
    while (fds[0].fd >= 0 || fds[1].fd >= 0) {
        if (poll(fds, 3, -1) < 0) {
            if (errno == EINTR)
                continue;
            fail_msg("poll failed (errno %d)", errno);
        }
        if (fds[2].fd >= 0 && (fds[2].revents & (POLLOUT | POLLERR | POLLHUP)) != 0) {
            ssize_t n = write(fds[2].fd, (const char *)in + sent, inlen - sent);
            if (n > 0)
                sent += (size_t)n;
            if ((n < 0 && errno != EAGAIN && errno != EINTR) || sent == inlen) {
                close(fds[2].fd); /* done, or the child closed its stdin (EPIPE) */
                fds[2].fd = -1;
            }
        }
        for (size_t k = 0; k < 2; k++) {
            if (fds[k].fd < 0 || (fds[k].revents & (POLLIN | POLLERR | POLLHUP)) == 0)
                continue;
            char chunk[4096];
            ssize_t n = read(fds[k].fd, chunk, sizeof(chunk));
            if (n > 0 && sinks[k] != NULL)
                cf_buf_append(sinks[k], chunk, (size_t)n);
            if (n == 0 || (n < 0 && errno != EINTR && errno != EAGAIN)) {
                close(fds[k].fd);
                fds[k].fd = -1;
            }
        }
    }
    if (fds[2].fd >= 0)
        close(fds[2].fd);
    int status = 0;
    while (waitpid(pid, &status, 0) < 0 && errno == EINTR)
        ;
    sigaction(SIGPIPE, &old_pipe, NULL);
    return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
}

/* Runs a PostgreSQL server binary as the postgres user; fails the test unless it exits 0. */
static void run_as_postgres(const char *what, char *const args[])
{
    char bin[512];
    char *argv[24] = { "/usr/sbin/runuser", "-u", "postgres", "--", bin };
    size_t n = 5;
    struct cf_buf out = { 0 };

    snprintf(bin, sizeof(bin), "%s/%s", t_env("COFFER_TEST_PG_BIN"), what);
    for (size_t i = 0; args[i] != NULL && n < 23; i++)
        argv[n++] = args[i];
    argv[n] = NULL;
    int rc = t_run_output(argv, NULL, &out);
    if (rc != 0)
        fail_msg("%s exited %d: %s", what, rc, out.data != NULL ? out.data : "");
    cf_buf_free(&out);
}

void t_pg_private_start(struct t_pg *pg)
{
    const char *work = t_env("COFFER_TEST_WORK");
    char opts[512], log[300], rnd[17];

    *pg = (struct t_pg){ 0 };
    if (cf_rand_hex(8, rnd, sizeof(rnd)) != 0)
        fail_msg("no random bytes");
    snprintf(pg->dir, sizeof(pg->dir), "%s/pg-private-%s", work, rnd);
    snprintf(log, sizeof(log), "%s.log", pg->dir);
    if (mkdir(pg->dir, 0700) != 0 || chown(pg->dir, pw_postgres_uid(), pw_postgres_gid()) != 0)
        fail_msg("cannot make %s for the postgres user (errno %d)", pg->dir, errno);
    int fd = open(log, O_WRONLY | O_CREAT | O_TRUNC, 0644);
    if (fd < 0 || fchown(fd, pw_postgres_uid(), pw_postgres_gid()) != 0)
        fail_msg("cannot make %s (errno %d)", log, errno);
    close(fd);
    run_as_postgres("initdb", (char *[]){ "-D", pg->dir, "-U", "postgres", "--auth=trust",
                                          "--encoding=UTF8", "--locale=C.UTF-8", NULL });
    pg->port = t_free_port();
    snprintf(opts, sizeof(opts), "-p %d -k %s -c listen_addresses=127.0.0.1", pg->port, pg->dir);
    run_as_postgres("pg_ctl", (char *[]){ "-D", pg->dir, "-l", log, "-o", opts, "-w", "-t", "60",
                                          "start", NULL });
    snprintf(pg->super_url, sizeof(pg->super_url),
             "host=127.0.0.1 port=%d user=postgres dbname=postgres", pg->port);
}

void t_pg_private_stop(struct t_pg *pg)
{
    if (pg->port == 0)
        return;
    run_as_postgres("pg_ctl", (char *[]){ "-D", pg->dir, "-m", "immediate", "-w", "stop", NULL });
    char *const rm[] = { "/bin/rm", "-rf", pg->dir, NULL };
    (void)t_run(rm, NULL, NULL);
    pg->port = 0;
}

void t_token_create(const struct t_db *db, const char *role, const char *name, char *token)
{
    char url[T_URL_MAX + 32];
    struct cf_buf out = { 0 };

    snprintf(url, sizeof(url), "COFFER_DATABASE_URL=%s", db->app_url);
    char *const argv[] = { (char *)t_env("COFFER_TEST_COFFERD"),
                           "token",
                           "create",
                           "--role",
                           (char *)role,
                           "--name",
                           (char *)name,
                           NULL };
    char *const env[] = { url, NULL };
    int rc = t_run(argv, env, &out);
    if (rc != 0 || out.len != 51)
        fail_msg("cofferd token create exited %d with %zu bytes of output", rc, out.len);
    memcpy(token, out.data, 50);
    token[50] = '\0';
    cf_buf_free(&out);
}

static size_t discard_cb(char *p, size_t size, size_t n, void *userdata)
{
    (void)p;
    (void)userdata;
    return size * n;
}

static bool port_accepts(int port);

static bool cofferd_up(void *arg)
{
    struct t_cofferd *d = arg;
    char url[128];
    int status;

    if (waitpid(d->pid, &status, WNOHANG) == d->pid) {
        d->pid = -1;
        return true; /* died: stop polling, the caller checks pid */
    }
    if (d->tls)
        return port_accepts(d->port); /* it listens once everything else is open */
    CURL *h = curl_easy_init();
    snprintf(url, sizeof(url), "%s/healthcheck", d->base_url);
    curl_easy_setopt(h, CURLOPT_URL, url);
    curl_easy_setopt(h, CURLOPT_WRITEFUNCTION, discard_cb);
    curl_easy_setopt(h, CURLOPT_TIMEOUT_MS, 1000L);
    if (d->proxy_protocol)
        curl_easy_setopt(h, CURLOPT_HAPROXYPROTOCOL, 1L); /* a PROXY v1 header first */
    CURLcode rc = curl_easy_perform(h);
    long code = 0;
    curl_easy_getinfo(h, CURLINFO_RESPONSE_CODE, &code);
    curl_easy_cleanup(h);
    return rc == CURLE_OK && code == 200;
}

static void dump_log(const char *path)
{
    char line[1024];
    FILE *f = fopen(path, "r");
    if (f == NULL)
        return;
    fprintf(stderr, "--- %s ---\n", path);
    while (fgets(line, sizeof(line), f) != NULL)
        fputs(line, stderr);
    fclose(f);
}

void t_tls_cert_dir(const char *prefix, char *dir, size_t cap)
{
    char rnd[17], cmd[1200];
    struct cf_buf out = { 0 };

    if (cf_rand_hex(8, rnd, sizeof(rnd)) != 0)
        fail_msg("no random bytes");
    snprintf(dir, cap, "%s/%s-%s", t_env("COFFER_TEST_WORK"), prefix, rnd);
    if (mkdir(dir, 0700) != 0)
        fail_msg("cannot make %s", dir);
    snprintf(cmd, sizeof(cmd),
             "cd '%s' && openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes "
             "-keyout a.key -out a.pem -days 2 -subj /CN=localhost "
             "-addext subjectAltName=IP:127.0.0.1 2>&1 && chmod 600 a.key",
             dir);
    char *argv[] = { "/bin/sh", "-c", cmd, NULL };
    int rc = t_run_output(argv, NULL, &out);
    if (rc != 0)
        fail_msg("openssl req exited %d: %s", rc, out.data != NULL ? out.data : "");
    cf_buf_free(&out);
}

void t_key_file(char *path, size_t cap)
{
    const char *work = getenv("COFFER_TEST_WORK");
    char rnd[17];

    if (cf_rand_hex(8, rnd, sizeof(rnd)) != 0)
        fail_msg("no random bytes");
    snprintf(path, cap, "%s/keys-%s.json", work != NULL ? work : "/tmp", rnd);
    char *const argv[] = { (char *)t_env("COFFER_TEST_COFFERD"), "local-key", "init", path, NULL };
    if (t_run(argv, NULL, NULL) != 0)
        fail_msg("cofferd local-key init %s failed", path);
}

static void child_exec_cofferd(const struct t_cofferd *d, const struct t_db *db, char *const env[])
{
    static char url[T_URL_MAX + 32], listen[64], mig[600], keys[300];

    prctl(PR_SET_PDEATHSIG, SIGKILL); /* never outlive a test that failed or crashed */

    snprintf(url, sizeof(url), "COFFER_DATABASE_URL=%s", db->app_url);
    snprintf(listen, sizeof(listen), "COFFER_LISTEN=%s:%d", d->v6 ? "[::1]" : "127.0.0.1", d->port);
    snprintf(mig, sizeof(mig), "COFFER_MIGRATIONS_DIR=%s", t_env("COFFER_TEST_MIGRATIONS"));
    snprintf(keys, sizeof(keys), "COFFER_LOCAL_KEY_FILE=%s", d->key_file);
    putenv(url);
    putenv(listen);
    putenv(mig);
    putenv(keys);
    /* tests fail authentication on purpose, many times, all from 127.0.0.1: the limit on
     * failures per address is off unless a test's env turns it on */
    putenv("COFFER_AUTH_FAILURES_PER_MINUTE=0");
    for (size_t i = 0; env != NULL && env[i] != NULL; i++)
        putenv(env[i]);
    int fd = open(d->log_path, O_WRONLY | O_CREAT | O_TRUNC, 0644);
    if (fd >= 0) {
        dup2(fd, STDERR_FILENO);
        close(fd);
    }
    char *const argv[] = { (char *)t_env("COFFER_TEST_COFFERD"), "serve", NULL };
    execv(argv[0], argv);
    _exit(127);
}

void t_cofferd_start(struct t_cofferd *d, const struct t_db *db, char *const env[])
{
    const char *work = getenv("COFFER_TEST_WORK");

    *d = (struct t_cofferd){ 0 };
    d->port = t_free_port();
    for (size_t i = 0; env != NULL && env[i] != NULL; i++) {
        d->tls = d->tls || strncmp(env[i], "COFFER_TLS_CERT=", 16) == 0;
        d->v6 = d->v6 || strcmp(env[i], "COFFER_TEST_LISTEN=::1") == 0;
        d->proxy_protocol = d->proxy_protocol || strcmp(env[i], "COFFER_PROXY_PROTOCOL=on") == 0;
    }
    snprintf(d->base_url, sizeof(d->base_url), "%s://%s:%d", d->tls ? "https" : "http",
             d->v6 ? "[::1]" : "127.0.0.1", d->port);
    snprintf(d->log_path, sizeof(d->log_path), "%s/cofferd-%d.log", work ? work : "/tmp", d->port);
    t_env("COFFER_TEST_COFFERD");
    t_key_file(d->key_file, sizeof(d->key_file));
    d->pid = fork();
    if (d->pid < 0)
        fail_msg("fork failed");
    if (d->pid == 0)
        child_exec_cofferd(d, db, env);
    if (!t_wait_until(cofferd_up, d, 60) || d->pid < 0) {
        dump_log(d->log_path);
        if (d->pid > 0)
            kill(d->pid, SIGKILL);
        fail_msg("cofferd did not start");
    }
}

static bool log_says_listening(void *arg)
{
    const struct t_cofferd *d = arg;
    struct cf_buf b = { 0 };
    char chunk[4096];
    size_t n;
    FILE *fp = fopen(d->log_path, "r");

    if (fp == NULL)
        return false;
    while ((n = fread(chunk, 1, sizeof(chunk), fp)) > 0)
        cf_buf_append(&b, chunk, n);
    fclose(fp);
    cf_buf_append(&b, "", 1);
    bool found = strstr(b.data, "listening for change notifications") != NULL;
    cf_buf_free(&b);
    return found;
}

void t_cofferd_wait_listening(const struct t_cofferd *d)
{
    if (!t_wait_until(log_says_listening, (void *)d, 60))
        fail_msg("the cofferd on port %d never logged that it listens for changes", d->port);
}

int t_cofferd_stop(struct t_cofferd *d)
{
    int status = 0;

    if (d->pid <= 0)
        return -1;
    kill(d->pid, SIGTERM);
    for (int i = 0; i < 400; i++) {
        if (waitpid(d->pid, &status, WNOHANG) == d->pid) {
            d->pid = -1;
            if (WIFEXITED(status) && WEXITSTATUS(status) == 0)
                return 0;
            dump_log(d->log_path);
            if (WIFEXITED(status))
                (void)fprintf(stderr, "--- cofferd on port %d exited with status %d\n", d->port,
                              WEXITSTATUS(status));
            else
                (void)fprintf(stderr, "--- cofferd on port %d was killed by signal %d\n", d->port,
                              WTERMSIG(status));
            return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
        }
        sleep_ms(50);
    }
    kill(d->pid, SIGKILL);
    waitpid(d->pid, &status, 0);
    d->pid = -1;
    dump_log(d->log_path);
    (void)fprintf(stderr, "--- cofferd on port %d had not exited 20 s after SIGTERM: killed\n",
                  d->port);
    return -1;
}

static size_t write_cb(char *p, size_t size, size_t n, void *userdata)
{
    cf_buf_append(userdata, p, size * n);
    return size * n;
}

static pthread_once_t curl_once = PTHREAD_ONCE_INIT;

static void curl_init_once(void)
{
    curl_global_init(CURL_GLOBAL_DEFAULT);
}

void t_http(const char *method, const char *url, const char *const *headers, const char *body,
            struct t_resp *out)
{
    t_http_ca(NULL, method, url, headers, body, out);
}

void t_http_ca(const char *cafile, const char *method, const char *url, const char *const *headers,
               const char *body, struct t_resp *out)
{
    struct curl_slist *hl = NULL;

    pthread_once(&curl_once, curl_init_once);
    *out = (struct t_resp){ 0 };
    CURL *h = curl_easy_init();
    if (h == NULL)
        fail_msg("curl_easy_init failed");
    curl_easy_setopt(h, CURLOPT_URL, url);
    if (cafile != NULL) {
        curl_easy_setopt(h, CURLOPT_CAINFO, cafile);
        curl_easy_setopt(h, CURLOPT_CAPATH, NULL);
    }
    curl_easy_setopt(h, CURLOPT_CUSTOMREQUEST, method);
    if (strcmp(method, "HEAD") == 0)
        curl_easy_setopt(h, CURLOPT_NOBODY, 1L); /* a HEAD answer's length announces no body */
    curl_easy_setopt(h, CURLOPT_TIMEOUT, 60L);
    curl_easy_setopt(h, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(h, CURLOPT_WRITEFUNCTION, write_cb);
    curl_easy_setopt(h, CURLOPT_WRITEDATA, &out->body);
    curl_easy_setopt(h, CURLOPT_HEADERFUNCTION, write_cb);
    curl_easy_setopt(h, CURLOPT_HEADERDATA, &out->headers);
    hl = curl_slist_append(hl, "Expect:");
    for (size_t i = 0; headers != NULL && headers[i] != NULL; i++)
        hl = curl_slist_append(hl, headers[i]);
    curl_easy_setopt(h, CURLOPT_HTTPHEADER, hl);
    if (body != NULL) {
        curl_easy_setopt(h, CURLOPT_POSTFIELDS, body);
        curl_easy_setopt(h, CURLOPT_POSTFIELDSIZE, (long)strlen(body));
    }
    CURLcode rc = curl_easy_perform(h);
    curl_easy_getinfo(h, CURLINFO_RESPONSE_CODE, &out->status);
    curl_slist_free_all(hl);
    curl_easy_cleanup(h);
    if (rc != CURLE_OK)
        fail_msg("%s %s: no answer (%s)", method, url, curl_easy_strerror(rc));
    if (out->body.data == NULL)
        cf_buf_append(&out->body, "", 0);
}

bool t_resp_header(const struct t_resp *r, const char *name, char *out, size_t outcap)
{
    size_t nlen = strlen(name);
    const char *p = r->headers.data;

    while (p != NULL && *p != '\0') {
        const char *eol = strstr(p, "\r\n");
        size_t llen = eol ? (size_t)(eol - p) : strlen(p);
        if (llen > nlen && strncasecmp(p, name, nlen) == 0 && p[nlen] == ':') {
            const char *v = p + nlen + 1;
            while (*v == ' ')
                v++;
            size_t vlen = llen - (size_t)(v - p);
            snprintf(out, outcap, "%.*s", (int)vlen, v);
            return true;
        }
        p = eol ? eol + 2 : NULL;
    }
    return false;
}

void t_resp_free(struct t_resp *r)
{
    cf_buf_free(&r->body);
    cf_buf_free(&r->headers);
}

static bool port_accepts(int port)
{
    struct sockaddr_in a = { .sin_family = AF_INET, .sin_port = htons((uint16_t)port) };
    int fd = socket(AF_INET, SOCK_STREAM, 0);

    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    bool ok = fd >= 0 && connect(fd, (struct sockaddr *)&a, sizeof(a)) == 0;
    if (fd >= 0)
        close(fd);
    return ok;
}

static void moto_log_path(int port, char *out, size_t cap)
{
    const char *work = getenv("COFFER_TEST_WORK");
    snprintf(out, cap, "%s/moto-private-%d.log", work != NULL ? work : "/tmp", port);
}

static void moto_child(const char *bin, int port, pid_t parent)
{
    char portstr[16], log[600];

    prctl(PR_SET_PDEATHSIG, SIGKILL); /* dies with the test, even if the test crashes */
    if (getppid() != parent)
        _exit(1);
    snprintf(portstr, sizeof(portstr), "%d", port);
    moto_log_path(port, log, sizeof(log));
    int fd = open(log, O_WRONLY | O_CREAT | O_TRUNC, 0644);
    if (fd >= 0) {
        dup2(fd, STDOUT_FILENO);
        dup2(fd, STDERR_FILENO);
        close(fd);
    }
    execl(bin, bin, "-H", "127.0.0.1", "-p", portstr, (char *)NULL);
    _exit(127);
}

void t_moto_start(struct t_moto *m, int port)
{
    const char *bin = t_env("COFFER_TEST_MOTO_BIN");
    char log[600];
    int status;
    pid_t parent = getpid();

    if (port == 0)
        port = t_free_port();
    moto_log_path(port, log, sizeof(log));
    snprintf(m->url, sizeof(m->url), "http://127.0.0.1:%d", port);
    m->pid = fork();
    if (m->pid < 0)
        fail_msg("fork failed");
    if (m->pid == 0)
        moto_child(bin, port, parent);
    for (int i = 0; i < 1200; i++) { /* up to 60 s */
        if (waitpid(m->pid, &status, WNOHANG) == m->pid) {
            m->pid = -1;
            fail_msg("the private moto_server exited (see %s)", log);
        }
        if (port_accepts(port))
            return;
        sleep_ms(50);
    }
    kill(m->pid, SIGKILL);
    waitpid(m->pid, &status, 0);
    m->pid = -1;
    fail_msg("the private moto_server did not start (see %s)", log);
}

void t_moto_stop(struct t_moto *m)
{
    int status;

    if (m->pid <= 0)
        return;
    kill(m->pid, SIGTERM);
    for (int i = 0; i < 100; i++) {
        if (waitpid(m->pid, &status, WNOHANG) == m->pid) {
            m->pid = -1;
            return;
        }
        sleep_ms(50);
    }
    kill(m->pid, SIGKILL);
    waitpid(m->pid, &status, 0);
    m->pid = -1;
}
