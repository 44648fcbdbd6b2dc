/*
 * svc_http.c - HTTP plumbing: what a request is (copied out of civetweb once), response
 * headers and bodies, error bodies, request headers and bodies, path decoding.
 */
#include <string.h>
#include <strings.h>

#include "cf_codec.h"
#include "cf_crypto.h"
#include "cf_json.h"
#include "cf_log.h"
#include "cf_mem.h"
#include "cf_str.h"
#include "cf_time.h"
#include "svc.h"

void svc_req_init(struct svc_req *req, struct mg_connection *conn, struct svc_ctx *ctx, bool parsed)
{
    const struct mg_request_info *ri = mg_get_request_info(conn);

    *req = (struct svc_req){ .conn = conn, .ctx = ctx, .method = "", .content_length = -1 };
    req->start_us = cf_mono_us();
    req->start_ms = req->start_us / 1000;
    req->status = 500;
    if (cf_rand_hex(SVC_REQUEST_ID_LEN / 2, req->request_id, sizeof(req->request_id)) != 0)
        memset(req->request_id, '0', SVC_REQUEST_ID_LEN);
    if (ri == NULL)
        return;
    /* set when the connection was accepted, before any byte was read: valid in every callback */
    svc_client_init(req, ri, parsed);
    if (!parsed)
        return;
    req->parsed = true;
    if (ri->request_method != NULL)
        req->method = ri->request_method;
    req->http_version = ri->http_version;
    req->raw_path = ri->local_uri_raw;
    req->query = ri->query_string;
    req->content_length = ri->content_length;
}

/* True if the comma-separated header value holds token (any case). */
static bool has_token(const char *value, const char *token)
{
    size_t n = strlen(token);

    for (const char *p = value; *p != '\0';) {
        p += strspn(p, " \t,");
        size_t len = strcspn(p, ",");
        size_t trimmed = len;
        while (trimmed > 0 && (p[trimmed - 1] == ' ' || p[trimmed - 1] == '\t'))
            trimmed--;
        if (trimmed == n && strncasecmp(p, token, n) == 0)
            return true;
        p += len;
    }
    return false;
}

/* True if the request's decoded path (svc_path_split) is under /v1/, however it was spelt:
 * "/%76%31/services/x" is; "/V1/..." and "//v1/..." are not (and route nowhere). */
static bool path_is_api(const struct svc_req *req)
{
    return req->nseg > 0 && strcmp(req->seg[0], "v1") == 0;
}

/* The connection closes after this request's answer, which says so: for a body that could
 * not be read whole, whose rest is no request. */
static void close_after(struct svc_req *req)
{
    if (req->conn != NULL)
        mg_connection_set_must_close(req->conn);
}

/* Whether civetweb keeps the connection open after this answer, as it decides it: never for
 * a request it could not parse or whose framing or body it refused (coffer's civetweb patch
 * 0005 marks those, and close_after() a body cofferd could not read whole); else as the
 * request's Connection header says, and without one for HTTP/1.1 only. The answer's
 * Connection header says the same. */
static bool keeps_alive(const struct svc_req *req)
{
    if (!req->parsed || mg_connection_must_close(req->conn))
        return false;
    const char *c = svc_header(req, "Connection");
    if (c != NULL)
        return has_token(c, "keep-alive");
    return req->http_version != NULL && strcmp(req->http_version, "1.1") == 0;
}

static void add_header(struct cf_buf *b, const char *name, const char *value)
{
    if (strpbrk(value, "\r\n") != NULL)
        return; /* never split an answer: our values hold no line break, and none gets in */
    cf_buf_append_str(b, name);
    cf_buf_append_str(b, ": ");
    cf_buf_append_str(b, value);
    cf_buf_append_str(b, "\r\n");
}

/* Each worker thread builds its answers in one buffer it keeps: cleansed after every answer
 * (it may have held credential pairs), freed when the thread ends (svc_http_thread_exit), and
 * freed at once after an answer larger than ANSWER_BUF_KEEP, so that no worker holds on to a
 * large body's memory. Once grown, an answer costs no allocation. */
#define ANSWER_BUF_KEEP ((size_t)64 * 1024)
static _Thread_local struct cf_buf answer_buf;

void svc_http_thread_exit(void)
{
    cf_buf_free(&answer_buf);
}

/* Sends the whole answer, status line, headers and body, with one write. The status line is
 * ours: civetweb's repeats the request's version, which in a request it could not parse can
 * be any bytes of the connection's buffer (an earlier request's headers included). The
 * buffer is cleansed when freed, since the body may hold credential pairs. extra_name/value
 * add one header. */
static int send_response(struct svc_req *req, int status, const char *content_type,
                         const char *body, size_t len, const char *extra_name,
                         const char *extra_value)
{
    struct cf_buf *b = &answer_buf;
    char clen[24], date[CF_HTTP_DATE_LEN];

    req->status = status;
    cf_buf_reset(b);
    if (cf_buf_printf(b, "HTTP/1.1 %d %s\r\n", status,
                      mg_get_response_code_text(req->conn, status)) != 0 ||
        cf_fmt(clen, sizeof(clen), "%zu", len) != 0) {
        cf_buf_reset(b);
        return status;
    }
    /* Our own Date header: civetweb's would come from gmtime(), which races between workers. */
    cf_http_date(cf_now_us() / 1000000, date);
    add_header(b, "Date", date);
    if (content_type != NULL)
        add_header(b, "Content-Type", content_type);
    if (status != 304) /* a 304 describes the representation it stands for: no length */
        add_header(b, "Content-Length", clen);
    add_header(b, "X-Request-Id", req->request_id);
    add_header(b, "X-Content-Type-Options", "nosniff");
    add_header(b, "Referrer-Policy", "no-referrer");
    /* an answer is data, never a page, so nothing in it may run, load or be framed; but for
     * the web page's files (svc_ui.c), which load their own scripts and styles */
    add_header(b, "Content-Security-Policy",
               req->csp != NULL ? req->csp : "default-src 'none'; frame-ancestors 'none'");
    add_header(b, "X-Frame-Options", "DENY");
    /* the API's answers and every refusal may never be stored by a cache: decided on the
     * decoded path (svc_path_split), whatever spelling of /v1/ the request used, and before
     * the path is known (a refused head) by the status alone */
    bool no_store = status >= 400 || path_is_api(req);
    if (no_store)
        add_header(b, "Cache-Control", "no-store");
    if (req->ctx != NULL && req->ctx->tls != NULL)
        add_header(b, "Strict-Transport-Security", "max-age=31536000");
    if (status == 401)
        add_header(b, "WWW-Authenticate", "Basic realm=\"coffer\", Bearer realm=\"coffer\"");
    if (extra_name != NULL)
        add_header(b, extra_name, extra_value);
    for (size_t i = 0; i < req->nhdr; i++) {
        if (no_store && strcasecmp(req->hdr_name[i], "Cache-Control") == 0)
            continue; /* one Cache-Control, the stricter */
        add_header(b, req->hdr_name[i], req->hdr_value[i]);
    }
    add_header(b, "Connection", keeps_alive(req) ? "keep-alive" : "close");
    cf_buf_append_str(b, "\r\n");
    if (len > 0 && strcmp(req->method, "HEAD") != 0)
        cf_buf_append(b, body, len);
    if (mg_write(req->conn, b->data, b->len) < 0) {
        cf_log(CF_LOG_INFO, "the client went away before its answer", "{s:s}", "request_id",
               req->request_id);
    }
    if (b->cap > ANSWER_BUF_KEEP) {
        cf_buf_free(b);
    } else {
        cf_buf_reset(b);
    }
    return status;
}

void svc_add_header(struct svc_req *req, const char *name, const char *value)
{
    if (req->nhdr >= SVC_EXTRA_HEADERS)
        return;
    size_t n = strnlen(value, sizeof(req->hdr_value[0]) - 1);
    memcpy(req->hdr_value[req->nhdr], value, n);
    req->hdr_value[req->nhdr][n] = '\0';
    req->hdr_name[req->nhdr++] = name;
}

int svc_reply_text(struct svc_req *req, int status, const char *content_type, const char *body,
                   size_t len)
{
    return send_response(req, status, content_type, body, len, NULL, NULL);
}

int svc_reply_not_modified(struct svc_req *req)
{
    return send_response(req, 304, NULL, "", 0, NULL, NULL);
}

int svc_reply_json(struct svc_req *req, int status, const json_t *body)
{
    struct cf_buf b = { 0 };

    if (cf_json_dump_buf(body, JSON_COMPACT, &b) != 0) {
        cf_buf_free(&b);
        cf_log(CF_LOG_ERROR, "response not serialisable", "{s:s}", "request_id", req->request_id);
        return send_response(req, 500, "application/json",
                             "{\"error\":\"internal error\",\"code\":\"internal_error\"}", 50, NULL,
                             NULL);
    }
    int r = send_response(req, status, "application/json", b.data, b.len, NULL, NULL);
    cf_buf_free(&b); /* cleansed: a body may hold credential pairs */
    return r;
}

static int reply_error_with(struct svc_req *req, enum svc_code code, const char *message,
                            json_t *extra, const char *hname, const char *hvalue)
{
    json_t *body = json_object();
    struct cf_buf b = { 0 };

    if (extra != NULL)
        json_object_update(body, extra); /* copies members; extra is not changed */
    json_object_set_new(body, "error",
                        json_string(message != NULL ? message : svc_code_message(code)));
    json_object_set_new(body, "code", json_string(svc_code_name(code)));
    json_object_set_new(body, "request_id", json_string(req->request_id));
    int r = cf_json_dump_buf(body, JSON_COMPACT, &b);
    json_decref(body);
    int status = svc_code_status(code);
    if (r != 0) {
        status = send_response(req, status, "application/json", "{}", 2, hname, hvalue);
    } else {
        status = send_response(req, status, "application/json", b.data, b.len, hname, hvalue);
    }
    cf_buf_free(&b);
    return status;
}

int svc_reply_error(struct svc_req *req, enum svc_code code, const char *message, json_t *extra)
{
    return reply_error_with(req, code, message, extra, NULL, NULL);
}

int svc_reply_err(struct svc_req *req, int err)
{
    return svc_reply_error(req, svc_code_from_err(err), NULL, NULL);
}

int svc_reply_method_not_allowed(struct svc_req *req, const char *allow)
{
    return reply_error_with(req, SVC_METHOD_NOT_ALLOWED, NULL, NULL, "Allow", allow);
}

bool svc_etag_matches(const char *inm, const char *etag)
{
    size_t elen = strlen(etag);

    while (inm != NULL && *inm != '\0') {
        while (*inm == ' ' || *inm == ',')
            inm++;
        if (*inm == '*')
            return true;
        if (strncmp(inm, "W/", 2) == 0)
            inm += 2;
        if (strncmp(inm, etag, elen) == 0 &&
            (inm[elen] == '\0' || inm[elen] == ',' || inm[elen] == ' '))
            return true;
        inm = strchr(inm, ',');
    }
    return false;
}

const char *svc_header(const struct svc_req *req, const char *name)
{
    return req->parsed ? mg_get_header(req->conn, name) : NULL;
}

bool svc_body_too_large(const struct svc_req *req)
{
    return req->content_length > req->ctx->cfg->max_body;
}

/* True for "application/json", any case, optionally followed by parameters. */
static bool is_json_type(const char *ct)
{
    static const char want[] = "application/json";
    size_t n = sizeof(want) - 1;

    if (ct == NULL || strncasecmp(ct, want, n) != 0)
        return false;
    ct += n;
    while (*ct == ' ' || *ct == '\t')
        ct++;
    return *ct == '\0' || *ct == ';';
}

/* Grows buf (a secret: it may hold credential values) to at least want bytes, at most cap. */
static int body_grow(struct cf_secret *buf, size_t used, size_t want, size_t cap)
{
    struct cf_secret bigger;
    size_t n = buf->len > 0 ? buf->len : 16384;
    int r;

    while (n < want)
        n = n > cap / 2 ? cap : n * 2; /* n <= cap: cannot wrap */
    if (n > cap)
        n = cap;
    if ((r = cf_secret_alloc(&bigger, n)) != 0)
        return r;
    if (used > 0)
        memcpy(bigger.data, buf->data, used);
    cf_secret_move(buf, &bigger);
    return 0;
}

/* A body has the request timeout, counted from the request's start, to arrive: one that
 * trickles in a byte at a time may not hold its worker thread for longer. */
static bool body_late(const struct svc_req *req)
{
    return cf_mono_ms() - req->start_ms > req->ctx->cfg->request_timeout_ms;
}

/* Reads a body whose length is not announced (chunked) until its end, at most max bytes. */
static int read_unannounced(struct svc_req *req, size_t max, struct cf_secret *buf, size_t *used)
{
    int r;

    for (;;) {
        if (body_late(req))
            return CF_ETIMEOUT;
        if (*used == max) {
            char one; /* the body is at its limit: one more byte makes it too large */
            int n = mg_read(req->conn, &one, 1);
            return n < 0 ? CF_EIO : n > 0 ? CF_ETOOBIG : 0;
        }
        if (*used == buf->len && (r = body_grow(buf, *used, *used + 1, max)) != 0)
            return r;
        int n = mg_read(req->conn, buf->data + *used, buf->len - *used);
        if (n < 0)
            return CF_EIO; /* a malformed chunk or a broken connection */
        if (n == 0)
            return 0;
        *used += (size_t)n; /* 0 < n <= buf->len - *used: checked above */
    }
}

/* Reads exactly len announced bytes; a body that ends early is an error, not a shorter body. */
static int read_announced(struct svc_req *req, size_t len, struct cf_secret *buf, size_t *used)
{
    int r;

    if ((r = body_grow(buf, 0, len, len)) != 0)
        return r;
    while (*used < len) {
        if (body_late(req))
            return CF_ETIMEOUT;
        int n = mg_read(req->conn, buf->data + *used, len - *used);
        if (n <= 0)
            return CF_EIO;  /* the client sent less than its Content-Length, or went away */
        *used += (size_t)n; /* 0 < n <= len - *used */
    }
    return 0;
}

int svc_read_body(struct svc_req *req, struct cf_secret *body)
{
    size_t max = (size_t)req->ctx->cfg->max_body; /* 1 KiB .. CF_SECRET_MAX: config */
    struct cf_secret buf = { 0 };
    size_t used = 0;
    int r;

    *body = (struct cf_secret){ 0 };
    if (req->content_length > (long long)max)
        return CF_ETOOBIG; /* 413 before reading a byte */
    if (req->content_length > 0 && !is_json_type(svc_header(req, "Content-Type")))
        return CF_EINVAL; /* 415 before reading a byte */
    if (req->content_length >= 0) {
        r = req->content_length > 0 ? read_announced(req, (size_t)req->content_length, &buf, &used)
                                    : 0; /* 0 < content_length <= max: checked above */
    } else {
        r = read_unannounced(req, max, &buf, &used);
    }
    if (r == CF_EIO || r == CF_ETIMEOUT)
        close_after(req); /* the rest of the body is no request: never read as one */
    if (r == 0 && used > 0 && !is_json_type(svc_header(req, "Content-Type")))
        r = CF_EINVAL;
    if (r == 0 && used == buf.len) {
        cf_secret_move(body, &buf); /* an announced body fills its buffer exactly */
    } else if (r == 0) {
        r = cf_secret_dup(body, buf.data, used);
    }
    cf_secret_free(&buf);
    return r;
}

/* Percent-decodes s[0..len) once into a new string; *ok_out = false if the result holds '/',
 * NUL or invalid UTF-8 (it can then never match an id). CF_EINVAL for a bad escape. */
static int decode_segment(const char *s, size_t len, char **out, bool *ok_out)
{
    char *d = cf_xmalloc(len + 1);
    size_t o = 0;
    bool ok = true;

    for (size_t i = 0; i < len; i++) {
        char c = s[i];
        if (c == '%') {
            int hi = len - i >= 3 ? cf_hex_digit(s[i + 1]) : -1;
            int lo = len - i >= 3 ? cf_hex_digit(s[i + 2]) : -1;
            if (hi < 0 || lo < 0) {
                free(d);
                return CF_EINVAL;
            }
            c = (char)(hi << 4 | lo);
            i += 2;
            if (c == '/' || c == '\0')
                ok = false;
        }
        d[o++] = c;
    }
    d[o] = '\0';
    if (!cf_utf8_valid((const uint8_t *)d, o))
        ok = false;
    *out = d;
    *ok_out = ok;
    return 0;
}

int svc_path_split(struct svc_req *req)
{
    const char *p = req->raw_path;

    if (p == NULL || p[0] != '/')
        return CF_EINVAL;
    p++;
    for (;;) {
        const char *slash = strchr(p, '/');
        size_t len = slash != NULL ? (size_t)(slash - p) : strlen(p); /* slash >= p */
        if (req->nseg == SVC_MAX_SEGMENTS)
            return CF_ENOTFOUND; /* deeper than any route */
        int r = decode_segment(p, len, &req->seg[req->nseg], &req->seg_ok[req->nseg]);
        if (r != 0)
            return r;
        const char *seg = req->seg[req->nseg++];
        /* a dot segment, spelt plainly or %-encoded, names no resource: never resolved */
        if (strcmp(seg, ".") == 0 || strcmp(seg, "..") == 0)
            return CF_ENOTFOUND;
        if (slash == NULL)
            break;
        p = slash + 1;
    }
    return 0;
}
