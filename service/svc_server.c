/*
 * svc_server.c - the HTTP server: civetweb set-up, the request dispatcher, civetweb's own
 * errors as JSON, the per-request log line, and a clean stop on SIGINT/SIGTERM.
 */
#include <pthread.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>
#include <unistd.h>

#include "cf_crypto.h"
#include "cf_log.h"
#include "cf_mem.h"
#include "cf_str.h"
#include "cf_time.h"
#include "svc.h"
#include "svc_admit.h"
#include "svc_api.h"
#include "svc_metrics.h"
#include "svc_tls.h"

static void req_free(struct svc_req *req)
{
    for (size_t i = 0; i < req->nseg; i++)
        free(req->seg[i]);
    req->nseg = 0;
}

/* One JSON line per request: never a body, a header value or a token. */
static void log_request(const struct svc_req *req)
{
    char path[SVC_PATH_LOG_MAX + 1] = "";

    if (req->raw_path != NULL) {
        cf_utf8_sanitize(req->raw_path, strlen(req->raw_path), SVC_PATH_LOG_MAX / 3, path,
                         sizeof(path));
    }
    cf_log(CF_LOG_INFO, "request", "{s:s, s:s, s:i, s:I, s:s, s:s, s:s, s:s*, s:s*}", "method",
           req->method, "path", path, "status", req->status, "duration_ms",
           (json_int_t)(cf_mono_ms() - req->start_ms), "request_id", req->request_id, "caller",
           req->authenticated ? req->who.actor : "", "client", req->client_addr, "peer",
           svc_client_peer_ip(req), "forwarded_ignored",
           req->forwarded_ignored[0] != '\0' ? req->forwarded_ignored : NULL);
}

static size_t len_or_0(const char *s)
{
    return s != NULL ? strlen(s) : 0;
}

/* Request line and header sizes and the header count (API.md 1.1): checked before anything
 * else. civetweb keeps at most MG_MAX_HEADERS headers (and refuses a head with more: patch
 * 0005); a request that fills them all is refused too. */
static int check_sizes(const struct cf_config *cfg, const struct mg_request_info *ri,
                       enum svc_code *code)
{
    size_t line = len_or_0(ri->request_method) + len_or_0(ri->request_uri) + 12;
    size_t headers = 0;

    if (ri->query_string != NULL)
        line += strlen(ri->query_string) + 1;
    if (line > (size_t)cfg->max_request_line) { /* >= 256: config */
        *code = SVC_URI_TOO_LONG;
        return CF_ETOOBIG;
    }
    /* max_headers <= 63 (config): a full table of MG_MAX_HEADERS is always refused */
    if (ri->num_headers > cfg->max_headers || ri->num_headers >= MG_MAX_HEADERS) {
        *code = SVC_HEADERS_TOO_LARGE;
        return CF_ETOOBIG;
    }
    for (int i = 0; i < ri->num_headers; i++)
        headers += len_or_0(ri->http_headers[i].name) + len_or_0(ri->http_headers[i].value) + 4;
    if (headers > (size_t)cfg->max_header_bytes) { /* >= 1024: config */
        *code = SVC_HEADERS_TOO_LARGE;
        return CF_ETOOBIG;
    }
    return 0;
}

/* A query that does not decode to UTF-8 without U+0000 is refused before any handler reads
 * it; on an authenticated route the refusal is audited like any other answer. */
static int refuse_query(struct svc_req *req)
{
    struct svc_result res = { 0 };

    (void)svc_fail(&res, SVC_INVALID_PARAMETER,
                   "query parameters must be UTF-8 without U+0000 once percent-decoded");
    if ((req->route->flags & SVC_ROUTE_AUTH) != 0)
        return svc_finish(req, &res);
    return svc_reply_error(req, res.code, res.message, NULL);
}

static int dispatch(struct svc_req *req)
{
    char allow[64];
    enum svc_code code;
    int r;

    const struct mg_request_info *ri = mg_get_request_info(req->conn);

    /* the head's grammar and the body's framing were checked by civetweb (coffer's patch
     * 0005), which refused and closed whatever it could read two ways: on_http_error */
    if (check_sizes(req->ctx->cfg, ri, &code) != 0)
        return svc_reply_error(req, code, NULL, NULL);
    if (svc_body_too_large(req))
        return svc_reply_error(req, SVC_BODY_TOO_LARGE, NULL, NULL);
    if (req->raw_path == NULL || svc_path_split(req) != 0)
        return svc_reply_error(req, SVC_NOT_FOUND, NULL, NULL);
    r = svc_route_match(req, allow, sizeof(allow));
    if (r == CF_ENOTFOUND)
        return svc_reply_error(req, SVC_NOT_FOUND, NULL, NULL);
    if (r != 0)
        return svc_reply_method_not_allowed(req, allow);
    if ((req->route->flags & SVC_ROUTE_AUTH) != 0 && svc_authenticate(req) != 0)
        return req->status; /* answered and audited */
    if (!svc_query_valid(req))
        return refuse_query(req);
    int status = req->route->handler(req);
    if ((req->route->flags & SVC_ROUTE_AUTH) != 0 && !req->audited) {
        cf_log(CF_LOG_ERROR, "handler answered without an access-log row", "{s:s, s:s}",
               "request_id", req->request_id, "route", req->route->pattern);
    }
    return status;
}

/* civetweb's exit_thread: a worker's kept answer buffer goes with it. */
static void on_exit_thread(const struct mg_context *mg, int thread_type, void *thread_pointer)
{
    (void)mg;
    (void)thread_type;
    (void)thread_pointer;
    svc_http_thread_exit();
}

/* civetweb's begin_request: every request comes here; a return of 1..999 means handled. */
static int on_request(struct mg_connection *conn)
{
    struct svc_ctx *ctx = mg_get_user_data(mg_get_context(conn));
    struct svc_req req;

    svc_req_init(&req, conn, ctx, true);
    svc_metrics_in_flight(1);
    /* KMS calls, the pool and statements take no longer than this (the access-log row is
     * still waited for: no answer without it) */
    cf_request_deadline_set(req.start_ms + ctx->cfg->request_deadline_ms);
    int status = dispatch(&req);
    cf_request_deadline_set(0);
    svc_metrics_in_flight(-1);
    svc_metrics_request(req.route, req.method, req.status, cf_mono_us() - req.start_us);
    log_request(&req);
    req_free(&req);
    return status > 0 && status < 1000 ? status : 500;
}

/* The answer to a request civetweb refused. Every such refusal comes from the request's own
 * bytes (a malformed or oversized head, a bad Content-Length, an unknown HTTP version, a
 * head that did not arrive in time), so it is a 4xx whatever civetweb's status was. (No
 * connection is refused any more: admission closes waiting ones, without an answer.) */
static enum svc_code parser_refusal_code(int status)
{
    switch (status) {
    case 404:
        return SVC_NOT_FOUND;
    case 405:
        return SVC_METHOD_NOT_ALLOWED;
    case 413:
    case 431:
        return SVC_HEADERS_TOO_LARGE; /* civetweb's header buffer overflowed */
    default:
        return SVC_INVALID_REQUEST;
    }
}

/* What a client is told of civetweb's refusal: civetweb's text may quote the request, so it
 * is never echoed, but the two refusals of coffer's patch 0005 (fixed texts) are named. */
static const char *parser_refusal_message(enum svc_code code, const char *msg)
{
    if (code != SVC_INVALID_REQUEST)
        return NULL;
    if (msg != NULL && strcmp(msg, "Bad request head") == 0) {
        return "the request head must be exactly as RFC 9112 writes it: method SP target SP "
               "HTTP/1.1 CRLF, then name: value CRLF lines (a token name, no space before the "
               "colon, no folded line, no bare LF or CR), then CRLF";
    }
    if (msg != NULL && strcmp(msg, "Bad body framing") == 0) {
        return "the body must be announced once: one Content-Length of digits only, or "
               "Transfer-Encoding: chunked alone on HTTP/1.1, never both";
    }
    return "the request is malformed, incomplete or larger than the server accepts";
}

/* civetweb's own errors (malformed, oversized or timed-out request heads, ambiguous framing)
 * answered as JSON; civetweb then closes the connection, and the answer says so. Nothing of
 * the request may be read here: civetweb calls this before or halfway through parsing it, so
 * req is built with parsed = false. */
static int on_http_error(struct mg_connection *conn, int status, const char *msg)
{
    struct svc_ctx *ctx = mg_get_user_data(mg_get_context(conn));
    struct svc_req req;
    enum svc_code code = parser_refusal_code(status);

    svc_req_init(&req, conn, ctx, false);
    svc_reply_error(&req, code, parser_refusal_message(code, msg), NULL);
    svc_metrics_request(NULL, req.method, req.status, cf_mono_us() - req.start_us);
    cf_log(CF_LOG_INFO, "request refused by the HTTP parser", "{s:i, s:i, s:s}", "civetweb_status",
           status, "status", req.status, "request_id", req.request_id);
    return 0; /* handled */
}

static int on_log_message(const struct mg_connection *conn, const char *message)
{
    char text[512] = "";

    (void)conn; /* may be NULL, or a connection whose request was never parsed */
    /* civetweb's messages may quote request bytes: bounded and made valid UTF-8 */
    if (message != NULL)
        cf_utf8_sanitize(message, strlen(message), sizeof(text) / 3, text, sizeof(text));
    cf_log(CF_LOG_WARN, "civetweb", "{s:s}", "message", text);
    return 1; /* do not also print it */
}

/* civetweb's listening_ports: "127.0.0.1:8080" as is, ":8080" as "8080" (all interfaces),
 * with civetweb's "s" after the port for HTTPS. */
static int listen_option(const char *listen, bool tls, char *out, size_t cap)
{
    char host[256];
    int port;

    if (cf_config_listen_parts(listen, host, sizeof(host), &port) != 0)
        return CF_ECONFIG;
    if (host[0] == '\0')
        return cf_fmt(out, cap, "%d%s", port, tls ? "s" : "");
    return cf_fmt(out, cap, "%s:%d%s", host, port, tls ? "s" : "");
}

/* civetweb's init_ssl: cofferd sets up the SSL_CTX itself (svc_tls.c). */
static int on_init_ssl(void *ssl_ctx, void *user_data)
{
    struct svc_ctx *ctx = user_data;
    return svc_tls_init_ctx(ctx->tls, ssl_ctx);
}

struct drain {
    pthread_mutex_t lock; /* guards done */
    pthread_cond_t cond;
    bool done;
    struct mg_context *mg;
};

static void *drain_thread(void *arg)
{
    struct drain *d = arg;

    mg_stop(d->mg); /* stops accepting, lets in-flight requests finish, joins the workers */
    pthread_mutex_lock(&d->lock);
    d->done = true;
    pthread_cond_signal(&d->cond);
    pthread_mutex_unlock(&d->lock);
    return NULL;
}

/* Stops civetweb, waiting at most SVC_DRAIN_SECONDS for in-flight requests. */
static bool drain_and_stop(struct mg_context *mg)
{
    /* on the heap: when the drain runs out of time its thread keeps using it while the
     * process exits, so it is never freed then */
    struct drain *d = cf_xcalloc(1, sizeof(*d));
    struct timespec deadline;
    pthread_t t;
    bool done;

    d->mg = mg;
    pthread_mutex_init(&d->lock, NULL);
    pthread_cond_init(&d->cond, NULL);
    if (pthread_create(&t, NULL, drain_thread, d) != 0)
        return false;
    clock_gettime(CLOCK_REALTIME, &deadline);
    deadline.tv_sec += SVC_DRAIN_SECONDS;
    pthread_mutex_lock(&d->lock);
    while (!d->done && pthread_cond_timedwait(&d->cond, &d->lock, &deadline) == 0)
        ;
    done = d->done;
    pthread_mutex_unlock(&d->lock);
    if (!done)
        return false;
    pthread_join(t, NULL);
    pthread_cond_destroy(&d->cond);
    pthread_mutex_destroy(&d->lock);
    free(d);
    return true;
}

static void log_listening(struct mg_context *mg)
{
    struct mg_server_port ports[4];
    int n = mg_get_server_ports(mg, 4, ports);

    for (int i = 0; i < n; i++) {
        cf_log(CF_LOG_INFO, "listening", "{s:i, s:b}", "port", ports[i].port, "tls",
               ports[i].is_ssl);
    }
}

int svc_server_start(struct svc_ctx *ctx, struct mg_context **mg_out)
{
    const struct cf_config *cfg = ctx->cfg;
    char listen[300], threads[24], timeout[24], keepalive[24], maxreq[24], busy[24], per_ip[24];
    struct mg_callbacks cb = { .begin_request = on_request,
                               .http_error = on_http_error,
                               .log_message = on_log_message,
                               .init_ssl = ctx->tls != NULL ? on_init_ssl : NULL,
                               .read_proxy_header = strcmp(cfg->proxy_protocol, "on") == 0
                                                        ? svc_client_read_proxy_header
                                                        : NULL,
                               .exit_thread = on_exit_thread };

    *mg_out = NULL;
    if (listen_option(cfg->listen, ctx->tls != NULL, listen, sizeof(listen)) != 0 ||
        cf_fmt(threads, sizeof(threads), "%lld", (long long)cfg->threads) != 0 ||
        cf_fmt(timeout, sizeof(timeout), "%lld", (long long)cfg->request_timeout_ms) != 0 ||
        cf_fmt(keepalive, sizeof(keepalive), "%lld", (long long)cfg->keep_alive_timeout_ms) != 0 ||
        cf_fmt(busy, sizeof(busy), "%lld", (long long)cfg->busy_header_timeout_ms) != 0 ||
        cf_fmt(per_ip, sizeof(per_ip), "%lld", (long long)cfg->max_connections_per_ip) != 0 ||
        /* both bounded by the config (32 KiB, 64 KiB): the sum cannot overflow */
        cf_fmt(maxreq, sizeof(maxreq), "%lld",
               (long long)cfg->max_request_line + (long long)cfg->max_header_bytes + 1024) != 0)
        return CF_ECONFIG;
    /* admission (svc_admit.c, coffer's civetweb patch 0006): a connection that only waits gives
     * its worker up to a new one, and gets less time once the server is busy; none is refused */
    const char *opts[] = { "listening_ports",
                           listen,
                           "num_threads",
                           threads,
                           "request_timeout_ms",
                           timeout,
                           "keep_alive_timeout_ms",
                           keepalive,
                           "enable_keep_alive",
                           "yes",
                           "decode_url",
                           "no",
                           "max_request_size",
                           maxreq,
                           "tcp_nodelay",
                           "1",
                           "evict_idle_connections",
                           "yes",
                           "busy_request_timeout_ms",
                           busy,
                           "busy_idle_connections_per_ip",
                           per_ip,
                           "connection_queue",
                           "1024",
                           "listen_backlog",
                           "1024",
                           NULL };
    mg_init_library(ctx->tls != NULL ? MG_FEATURES_TLS : 0);
    struct mg_context *mg = mg_start(&cb, ctx, opts);
    if (mg == NULL) {
        cf_log(CF_LOG_ERROR, "cannot start the HTTP server (address in use?)", "{s:s}", "listen",
               cfg->listen);
        mg_exit_library();
        return CF_EIO;
    }
    log_listening(mg);
    svc_admit_attach(ctx->admit, mg);
    *mg_out = mg;
    return 0;
}

bool svc_server_stop(struct svc_ctx *ctx, struct mg_context *mg)
{
    atomic_store(&ctx->stopping, true);
    svc_admit_attach(ctx->admit, NULL); /* before mg_stop() frees it */
    if (!drain_and_stop(mg))
        return false;
    mg_exit_library();
    return true;
}

int svc_serve(struct svc_ctx *ctx)
{
    struct mg_context *mg;
    sigset_t set;
    int sig = 0;

    if (svc_server_start(ctx, &mg) != 0)
        return 1;
    sigemptyset(&set);
    sigaddset(&set, SIGINT);
    sigaddset(&set, SIGTERM);
    sigaddset(&set, SIGHUP);
    /* main() blocked these in every thread before any started */
    while (sigwait(&set, &sig) == 0 && sig == SIGHUP) {
        if (ctx->tls == NULL) {
            cf_log(CF_LOG_INFO, "SIGHUP: nothing to reload without TLS", NULL);
        } else {
            int rr = svc_tls_reload(ctx->tls); /* logged either way; a failure keeps the old */
            (void)rr;
        }
    }
    cf_log(CF_LOG_INFO, "stopping: draining in-flight requests", "{s:i, s:i}", "signal", sig,
           "drain_seconds", SVC_DRAIN_SECONDS);
    if (!svc_server_stop(ctx, mg)) {
        /* handlers still run and use the context: exit without tearing anything down */
        cf_log(CF_LOG_WARN, "requests still running after the drain period; exiting", NULL);
        _exit(1);
    }
    cf_log(CF_LOG_INFO, "stopped", NULL);
    return 0;
}
