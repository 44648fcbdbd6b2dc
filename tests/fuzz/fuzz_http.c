/*
 * fuzz_http.c - cofferd's HTTP layer driven by whole raw requests: civetweb's callbacks (the
 * request, its parser's refusals, its log), routing, headers, authentication, body reading,
 * JSON and the handlers behind them, over a real loopback connection.
 *
 * The target runs the real server in-process: svc_ctx_open() and svc_server_start() on
 * 127.0.0.1 (a free port), the local KMS backend with a key file of its own, and a database of
 * its own in the PostgreSQL that scripts/test started (COFFER_TEST_PG_URL), migrated, with an
 * admin and an auditor API token, a kmsauth token of the service "web", and one credential
 * mapped to web, so that every handler can be reached. The database is dropped at exit.
 *
 * The input: byte 0 picks credentials added after the first line of the request (bits 0-1:
 * none, the admin's Bearer token, the auditor's, web's kmsauth headers); the rest is sent as
 * it is on a new connection, which is then half-closed, and everything the server sends back
 * is read until it closes.
 *
 * Properties (abort() on violation):
 * - the server answers or closes within EXCHANGE_TIMEOUT_MS (no request hangs it). The limit
 *   is generous: GET /v1/audit/verify walks the whole access log, which grows with every input,
 *   and on a machine loaded by builds and the rest of the test suite such a request, after
 *   21,000 inputs, went unanswered for 10 s and then for 30 s (the same request over 60,000 rows
 *   takes 2 s on the sanitizer build of cofferd alone: see the closing note);
 * - no answer is a 5xx (nothing a client sends is a server error; the database and KMS are
 *   up), and every answer begins with an HTTP status line, its body as long as its
 *   Content-Length says (an answer to HEAD announces a body it does not send: one per "HEAD"
 *   in the request may come without it, when another answer or the end follows its head);
 * - no answer is a 429, and the limiter's count of refusals is 0 at the end: the
 *   failed-authentication limiter is off (--auth-failures-per-minute 0, as tests/support's
 *   cofferd runs). With it on, once 20 inputs had failed to authenticate, every later one with
 *   credentials not already proven and cached (mutated tokens and kmsauth headers) would be
 *   answered 429 from the cache alone: the token lookup and kmsauth's decryption would see no
 *   more mutated input;
 * - the server keeps accepting connections (a crash anywhere in it ends the process anyway,
 *   with ASan's report);
 * - the tokens work all along: at the end of the run, the access log's second half (the later
 *   inputs) has allowed rows of the admin's and of the auditor's token, else the process exits
 *   1 (not abort()). It prints the log's rows by actor and result.
 */
#define _GNU_SOURCE /* memmem */
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <poll.h>
#include <signal.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include <libpq-fe.h>

#include "auth_kmsauth_gen.h"
#include "cf_codec.h"
#include "cf_config.h"
#include "cf_crypto.h"
#include "cf_json.h"
#include "cf_log.h"
#include "cf_str.h"
#include "cf_time.h"
#include "db.h"
#include "db_migrate.h"
#include "kms_local.h"
#include "svc.h"
#include "svc_cmd.h"
#include "svc_ctx.h"
#include "svc_ratelimit.h"

#define EXCHANGE_TIMEOUT_MS 60000
#define URL_MAX             1024
#define AUTH_LINE_MAX       8192
#define SERVER_NAME         "coffer-fuzz"

int LLVMFuzzerInitialize(int *argc, char ***argv);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* Set up once in LLVMFuzzerInitialize and read-only afterwards. */
static struct cf_config cfg;
static struct svc_ctx ctx;
static struct mg_context *mg;
static int port;
static char super_url[URL_MAX], db_url[URL_MAX], db_name[64], key_file[512];
static char auth_lines[4][AUTH_LINE_MAX]; /* header lines added for byte 0's choice */

static void die(const char *what)
{
    (void)fprintf(stderr, "fuzz_http: %s\n", what);
    abort();
}

/* Dies naming what is wrong with an answer, and showing how it begins (escaped). */
static void die_answer(const char *what, const char *p, size_t len)
{
    (void)fprintf(stderr, "fuzz_http: %s; the answer begins: \"", what);
    for (size_t i = 0; i < len && i < 300; i++) {
        unsigned char c = (unsigned char)p[i];
        if (c >= 0x20 && c < 0x7f && c != '\\')
            (void)fputc(c, stderr);
        else
            (void)fprintf(stderr, "\\x%02x", c);
    }
    (void)fputs("\"\n", stderr);
    abort();
}

static long now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec * 1000L + ts.tv_nsec / 1000000L;
}

/* --- the database of the target's own --- */

static void sql_or_die(const char *url, const char *sql)
{
    PGconn *pg = PQconnectdb(url);
    if (PQstatus(pg) != CONNECTION_OK)
        die("cannot connect to the test PostgreSQL (COFFER_TEST_PG_URL)");
    PGresult *res = PQexec(pg, sql); /* constant SQL of the target's own */
    if (PQresultStatus(res) != PGRES_COMMAND_OK)
        die(PQresultErrorMessage(res));
    PQclear(res);
    PQfinish(pg);
}

static void make_database(void)
{
    const char *base = getenv("COFFER_TEST_PG_URL");
    char rnd[17], sql[128];

    if (base == NULL || *base == '\0')
        die("COFFER_TEST_PG_URL is not set: run it through ./scripts/test (it needs PostgreSQL)");
    if (cf_rand_hex(8, rnd, sizeof(rnd)) != 0 ||
        cf_fmt(db_name, sizeof(db_name), "fuzz_http_%s", rnd) != 0 ||
        cf_fmt(super_url, sizeof(super_url), "%s", base) != 0 ||
        cf_fmt(db_url, sizeof(db_url), "%s dbname=%s", base, db_name) != 0 ||
        cf_fmt(sql, sizeof(sql), "CREATE DATABASE %s", db_name) != 0)
        die("names do not fit");
    sql_or_die(super_url, sql);
}

static void drop_database(void)
{
    char sql[128];
    if (cf_fmt(sql, sizeof(sql), "DROP DATABASE IF EXISTS %s WITH (FORCE)", db_name) == 0)
        sql_or_die(super_url, sql);
}

static void migrate_and_make_tokens(char admin[AUTH_TOKEN_LEN + 1],
                                    char auditor[AUTH_TOKEN_LEN + 1])
{
    struct db_conn *c = NULL;
    FILE *devnull = fopen("/dev/null", "w");

    if (devnull == NULL || db_connect(db_url, &c) != 0)
        die("cannot connect to the target's database");
    if (db_migrate_run(c, cfg.migrations_dir, false, devnull) != 0)
        die("the migrations failed");
    if (svc_cmd_token_create(c, "admin", "fuzz-admin", 86400, admin) != 0 ||
        svc_cmd_token_create(c, "auditor", "fuzz-auditor", 86400, auditor) != 0)
        die("cannot make the API tokens");
    db_disconnect(c);
    (void)fclose(devnull);
}

/* --- configuration and the server --- */

static void load_config(void)
{
    const char *work = getenv("COFFER_TEST_WORK");
    const char *mig = getenv("COFFER_TEST_MIGRATIONS");
    char listen[64], err[512], rnd[17];

    struct sockaddr_in a = { .sin_family = AF_INET, .sin_port = 0 };
    socklen_t len = sizeof(a);
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    if (fd < 0 || bind(fd, (struct sockaddr *)&a, sizeof(a)) != 0 ||
        getsockname(fd, (struct sockaddr *)&a, &len) != 0)
        die("no free port");
    port = ntohs(a.sin_port);
    close(fd);
    if (mig == NULL)
        die("COFFER_TEST_MIGRATIONS is not set: run it through ./scripts/test");
    if (cf_rand_hex(8, rnd, sizeof(rnd)) != 0 ||
        cf_fmt(key_file, sizeof(key_file), "%s/fuzz-http-keys-%s.json",
               work != NULL ? work : "/tmp", rnd) != 0 ||
        cf_fmt(listen, sizeof(listen), "127.0.0.1:%d", port) != 0)
        die("names do not fit");
    if (kms_local_init_file(key_file, err, sizeof(err)) != 0)
        die(err);
    char *argv[] = { "fuzz_http",
                     "--listen",
                     listen,
                     "--database-url",
                     db_url,
                     "--migrations-dir",
                     (char *)mig,
                     "--local-key-file",
                     key_file,
                     "--auth-key",
                     "alias/coffer-auth",
                     "--user-auth-key",
                     "alias/coffer-user-auth",
                     "--auth-context",
                     SERVER_NAME,
                     "--request-timeout-ms",
                     "1000",
                     "--keep-alive-timeout-ms",
                     "200",
                     "--threads",
                     "4",
                     "--auth-failures-per-minute",
                     "0",
                     "--log-level",
                     "error",
                     NULL };
    int argc = (int)(sizeof(argv) / sizeof(argv[0])) - 1;
    char *rest[sizeof(argv) / sizeof(argv[0])];
    int nrest = 0;
    if (cf_config_load(&cfg, argc, argv, rest, &nrest, err, sizeof(err)) != 0 || nrest != 0)
        die(err);
}

/* The kmsauth headers of service web, valid for the whole run. */
static void make_service_lines(void)
{
    char *token = NULL;
    struct kms_client *k = NULL;
    char err[512];

    if (kms_client_new(&cfg, &k, err, sizeof(err)) != 0 ||
        auth_kmsauth_generate(k, "alias/coffer-auth", 2, "service", "web", SERVER_NAME,
                              cf_now_us() / 1000000, 60, &token) != 0 ||
        cf_fmt(auth_lines[3], sizeof(auth_lines[3]),
               "X-Auth-From: 2/service/web\r\nX-Auth-Token: %s\r\n", token) != 0)
        die("cannot make web's kmsauth token");
    free(token);
    kms_client_free(k);
}

/* --- one exchange --- */

static int connect_server(void)
{
    struct sockaddr_in a = { .sin_family = AF_INET, .sin_port = htons((uint16_t)port) };
    int fd = socket(AF_INET, SOCK_STREAM, 0);

    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    if (fd < 0 || connect(fd, (struct sockaddr *)&a, sizeof(a)) != 0)
        die("the server stopped accepting connections");
    return fd;
}

/* Sends what the server takes of p[0..len) before the deadline (it may stop reading). */
static void send_some(int fd, const uint8_t *p, size_t len, long deadline)
{
    size_t sent = 0;

    while (sent < len) {
        struct pollfd pfd = { .fd = fd, .events = POLLOUT };
        long left = deadline - now_ms();
        if (left <= 0)
            die("the server neither read the request nor closed the connection in time");
        if (poll(&pfd, 1, (int)left) <= 0 || (pfd.revents & (POLLERR | POLLHUP)) != 0)
            return;
        ssize_t n = send(fd, p + sent, len - sent, MSG_NOSIGNAL | MSG_DONTWAIT);
        if (n < 0 && (errno == EAGAIN || errno == EINTR))
            continue;
        if (n <= 0)
            return; /* closed by the server: what it read is what it answers */
        sent += (size_t)n;
    }
}

/* Reads until the server closes or resets the connection, appending to out. */
static void read_all(int fd, struct cf_buf *out, long deadline)
{
    char chunk[16384];

    for (;;) {
        struct pollfd pfd = { .fd = fd, .events = POLLIN };
        long left = deadline - now_ms();
        if (left <= 0 || poll(&pfd, 1, (int)left) <= 0) {
            die_answer(out->len == 0 ? "no answer and no close in time"
                                     : "the server did not finish its answer or close in time",
                       out->data != NULL ? out->data : "", out->len);
        }
        ssize_t n = recv(fd, chunk, sizeof(chunk), 0);
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0)
            return;
        cf_buf_append(out, chunk, (size_t)n);
    }
}

/* Counts the occurrences of "HEAD" in p[0..len). */
static size_t count_heads(const uint8_t *p, size_t len)
{
    size_t n = 0;
    const uint8_t *at;

    while (len >= 4 && (at = memmem(p, len, "HEAD", 4)) != NULL) {
        n++;
        len -= (size_t)(at - p) + 4;
        p = at + 4;
    }
    return n;
}

/* True if p[0..left) is empty or begins another answer's status line. */
static bool answer_or_end(const char *p, size_t left)
{
    return left == 0 || (left >= 5 && strncmp(p, "HTTP/", 5) == 0);
}

/* Checks every answer in what came back: "HTTP/<version> NNN", never 5xx nor 429, its body of
 * the announced length. The answers are walked one by one, each head and then its body, so that
 * a body holding "HTTP/" is not taken for an answer. An answer to HEAD announces a body it does
 * not send: up to heads answers (the request's "HEAD"s) may come without their body, when what
 * follows their head is another answer or the end (no body of cofferd's begins with "HTTP/": they
 * are JSON, HTML, text or empty).
 * (civetweb repeats the request's version in a refusal's status line, "HTTP/9.9 400": the
 * version is not checked.) */
static void check_answers(const struct cf_buf *b, size_t heads)
{
    const char *p = b->data;
    size_t left = b->len;

    while (left > 0) {
        const char *end = memmem(p, left, "\r\n\r\n", 4);
        const char *sp = memchr(p, ' ', left < 32 ? left : 32);
        int status = 0;
        if (left < 12 || strncmp(p, "HTTP/", 5) != 0 || sp == NULL ||
            sscanf(sp + 1, "%3d", &status) != 1)
            die_answer("an answer does not start with an HTTP status line", p, left);
        if (status >= 500)
            die_answer("an answer is a 5xx", p, left);
        if (status == 429)
            die_answer("an answer is a 429, but the failed-authentication limiter is off", p, left);
        if (end == NULL)
            die_answer("an answer's head does not end", p, left);
        size_t head = (size_t)(end - p) + 4, body = 0;
        char *h = strndup(p, head);
        const char *cl = strcasestr(h, "\r\nContent-Length:");
        if (cl != NULL && status != 304)
            body = strtoul(cl + 17, NULL, 10);
        free(h);
        if (body > 0 && heads > 0 && answer_or_end(p + head, left - head)) {
            heads--; /* an answer to HEAD: no body follows */
            body = 0;
        }
        if (head + body > left)
            die_answer("an answer is shorter than its Content-Length", p, left);
        p += head + body;
        left -= head + body;
    }
}

/* At exit, before the database goes: no request was refused by the failed-authentication
 * limiter (its count, as /metrics shows it), and the access log's allowed rows of the admin's and
 * the auditor's tokens in its second half (the later inputs). Each must have some: requests that
 * their handlers took late in the run too, not only the seeds at its start (in one run of
 * 15,000 inputs: 127 and 267 of them). web's bundle is too rarely asked for intact (10 allowed
 * rows in that run, 2 late ones) for a check that could not fail by chance: it is only
 * printed, with the other actors' rows. */
static void check_log(void)
{
    static const char *const want[] = { "token:fuzz-admin", "token:fuzz-auditor" };
    /* the anonymous rows as one (their actors are what the inputs claimed: any bytes) */
    const char *sql = "SELECT actor_type, CASE actor_type WHEN 'anonymous' THEN '(any)' "
                      "ELSE actor END, result, count(*), "
                      "count(*) FILTER (WHERE id > (SELECT max(id) / 2 FROM audit_log)) "
                      "FROM audit_log GROUP BY 1, 2, 3 ORDER BY 4 DESC";
    long late[2] = { 0 };

    unsigned long long refused = svc_ratelimit_refusals(ctx.ratelimit);
    (void)fprintf(stderr,
                  "fuzz_http: requests refused by the failed-authentication limiter: %llu\n",
                  refused);
    if (refused != 0)
        _exit(1); /* the limiter is off: see check_answers */
    PGconn *pg = PQconnectdb(db_url);
    PGresult *res =
        PQstatus(pg) == CONNECTION_OK ? PQexecParams(pg, sql, 0, NULL, NULL, NULL, NULL, 0) : NULL;
    if (PQresultStatus(res) != PGRES_TUPLES_OK) {
        (void)fprintf(stderr, "fuzz_http: cannot read the access log: %s", PQerrorMessage(pg));
        _exit(1);
    }
    for (int i = 0; i < PQntuples(res); i++) {
        const char *type = PQgetvalue(res, i, 0), *actor = PQgetvalue(res, i, 1);
        const char *result = PQgetvalue(res, i, 2);
        (void)fprintf(stderr, "fuzz_http: access log: %s %s %s: %s rows, %s in its second half\n",
                      type, actor, result, PQgetvalue(res, i, 3), PQgetvalue(res, i, 4));
        if (strcmp(result, "allowed") != 0)
            continue;
        for (size_t k = 0; k < 2; k++) {
            if (strcmp(actor, want[k]) == 0)
                late[k] += strtol(PQgetvalue(res, i, 4), NULL, 10);
        }
    }
    PQclear(res);
    PQfinish(pg);
    for (size_t k = 0; k < 2; k++) {
        if (late[k] == 0) {
            (void)fprintf(stderr,
                          "fuzz_http: %s has no allowed row in the second half of the "
                          "access log: its inputs did not reach their handlers\n",
                          want[k]);
            _exit(1);
        }
    }
}

/* The request with byte 0's credentials after its first line. */
static void build_request(const uint8_t *data, size_t size, struct cf_buf *req)
{
    const char *auth = auth_lines[data[0] & 3];
    const uint8_t *rest = data + 1;
    size_t n = size - 1;
    const uint8_t *nl = memchr(rest, '\n', n);

    if (nl == NULL || auth[0] == '\0') {
        cf_buf_append(req, rest, n);
        return;
    }
    size_t first = (size_t)(nl - rest) + 1;
    cf_buf_append(req, rest, first);
    cf_buf_append_str(req, auth);
    cf_buf_append(req, rest + first, n - first);
}

static void exchange(const uint8_t *req, size_t len, struct cf_buf *answer)
{
    long deadline = now_ms() + EXCHANGE_TIMEOUT_MS;
    int fd = connect_server();

    send_some(fd, req, len, deadline);
    shutdown(fd, SHUT_WR);
    read_all(fd, answer, deadline);
    close(fd);
}

/* One credential mapped to web, so that web's bundle holds something to decrypt. */
static void seed(void)
{
    static const char body[] = "{\"name\":\"fuzz\",\"credential_pairs\":{\"user\":\"u\","
                               "\"password\":\"p\"}}";
    struct cf_buf req = { 0 }, answer = { 0 };
    char id[33];

    cf_buf_append_str(&req, "POST /v1/credentials HTTP/1.1\r\nHost: f\r\n");
    cf_buf_append_str(&req, auth_lines[1]);
    if (cf_buf_printf(&req, "Content-Type: application/json\r\nContent-Length: %zu\r\n\r\n%s",
                      sizeof(body) - 1, body) != 0)
        die("request does not fit");
    exchange((const uint8_t *)req.data, req.len, &answer);
    cf_buf_append(&answer, "", 0);
    const char *at = strstr(answer.data, "\"id\":\"");
    if (strncmp(answer.data, "HTTP/1.1 200", 12) != 0 || at == NULL ||
        cf_fmt(id, sizeof(id), "%.32s", at + 6) != 0)
        die("cannot create the seed credential");
    cf_buf_reset(&req);
    cf_buf_reset(&answer);
    char map[128];
    if (cf_fmt(map, sizeof(map), "{\"credentials\":[\"%s\"]}", id) != 0)
        die("request does not fit");
    cf_buf_append_str(&req, "PUT /v1/services/web HTTP/1.1\r\nHost: f\r\n");
    cf_buf_append_str(&req, auth_lines[1]);
    if (cf_buf_printf(&req, "Content-Type: application/json\r\nContent-Length: %zu\r\n\r\n%s",
                      strlen(map), map) != 0)
        die("request does not fit");
    exchange((const uint8_t *)req.data, req.len, &answer);
    if (answer.len < 12 || strncmp(answer.data, "HTTP/1.1 200", 12) != 0)
        die("cannot map the seed credential to web");
    cf_buf_reset(&req);
    cf_buf_reset(&answer);
    cf_buf_append_str(&req, "GET /v1/services/web HTTP/1.1\r\nHost: f\r\n");
    cf_buf_append_str(&req, auth_lines[3]);
    cf_buf_append_str(&req, "\r\n");
    exchange((const uint8_t *)req.data, req.len, &answer);
    if (answer.len < 12 || strncmp(answer.data, "HTTP/1.1 200", 12) != 0)
        die("web cannot fetch its bundle with its kmsauth token");
    cf_buf_free(&req);
    cf_buf_free(&answer);
}

static void stop_everything(void)
{
    if (mg != NULL && !svc_server_stop(&ctx, mg))
        return; /* requests still run: leave the context and the database as they are */
    mg = NULL;
    svc_ctx_close(&ctx);
    drop_database();
    (void)unlink(key_file);
    cf_config_free(&cfg);
}

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
    char admin[AUTH_TOKEN_LEN + 1], auditor[AUTH_TOKEN_LEN + 1];

    (void)argc;
    (void)argv;
    cf_json_init(); /* before any json_ call and any thread */
    (void)signal(SIGPIPE, SIG_IGN);
    make_database();
    load_config(); /* sets the log level: error */
    migrate_and_make_tokens(admin, auditor);
    if (cf_fmt(auth_lines[1], sizeof(auth_lines[1]), "Authorization: Bearer %s\r\n", admin) != 0 ||
        cf_fmt(auth_lines[2], sizeof(auth_lines[2]), "Authorization: Bearer %s\r\n", auditor) != 0)
        die("tokens do not fit");
    make_service_lines();
    if (svc_ctx_open(&cfg, &ctx) != 0 || svc_server_start(&ctx, &mg) != 0)
        die("cannot start the server");
    atexit(stop_everything);
    atexit(check_log); /* before stop_everything (atexit runs the last registered first) */
    seed();
    return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct cf_buf req = { 0 }, answer = { 0 };

    if (size < 1)
        return 0;
    build_request(data, size, &req);
    exchange((const uint8_t *)req.data, req.len, &answer);
    check_answers(&answer, count_heads((const uint8_t *)req.data, req.len));
    cf_buf_free(&req);
    cf_buf_free(&answer);
    return 0;
}
