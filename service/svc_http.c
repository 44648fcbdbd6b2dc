/*
 * svc_http.c - HTTP plumbing: response headers and bodies, error bodies, request headers,
 * path decoding.
 */
#include <string.h>
#include <strings.h>

#include "cf_codec.h"
#include "cf_json.h"
#include "cf_log.h"
#include "cf_mem.h"
#include "cf_str.h"
#include "cf_time.h"
#include "svc.h"

/* Sends the status line, the common headers and the body. extra_name/value add one header. */
static int send_response(struct svc_req *req, int status, const char *content_type,
                         const char *body, size_t len, const char *extra_name,
                         const char *extra_value)
{
    struct mg_connection *conn = req->conn;
    char clen[24], date[CF_HTTP_DATE_LEN];

    req->status = status;
    if (cf_fmt(clen, sizeof(clen), "%zu", len) != 0)
        return status;
    /* Our own Date header: civetweb's would come from gmtime(), which races between workers. */
    cf_http_date(cf_now_us() / 1000000, date);
    mg_response_header_start(conn, status);
    mg_response_header_add(conn, "Date", date, -1);
    if (content_type != NULL)
        mg_response_header_add(conn, "Content-Type", content_type, -1);
    if (status != 304) /* a 304 describes the representation it stands for: no length */
        mg_response_header_add(conn, "Content-Length", clen, -1);
    mg_response_header_add(conn, "X-Request-Id", req->request_id, -1);
    mg_response_header_add(conn, "X-Content-Type-Options", "nosniff", -1);
    mg_response_header_add(conn, "Referrer-Policy", "no-referrer", -1);
    if (req->raw_path != NULL && cf_has_prefix(req->raw_path, "/v1/"))
        mg_response_header_add(conn, "Cache-Control", "no-store", -1);
    if (status == 401) {
        mg_response_header_add(conn, "WWW-Authenticate",
                               "Basic realm=\"coffer\", Bearer realm=\"coffer\"", -1);
    }
    if (extra_name != NULL)
        mg_response_header_add(conn, extra_name, extra_value, -1);
    for (size_t i = 0; i < req->nhdr; i++)
        mg_response_header_add(conn, req->hdr_name[i], req->hdr_value[i], -1);
    mg_response_header_send(conn);
    if (len > 0 && strcmp(req->ri->request_method, "HEAD") != 0)
        mg_write(conn, body, len);
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

const char *svc_header(const struct svc_req *req, const char *name)
{
    return mg_get_header(req->conn, name);
}

bool svc_body_too_large(const struct svc_req *req)
{
    return req->ri->content_length > req->ctx->cfg->max_body;
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

int svc_read_body(struct svc_req *req, struct cf_secret *body)
{
    size_t max = (size_t)req->ctx->cfg->max_body; /* 1 KiB .. 16 MiB: checked at start */
    struct cf_secret buf;
    size_t used = 0;
    int r;

    *body = (struct cf_secret){ 0 };
    if (req->ri->content_length > (long long)max)
        return CF_ETOOBIG; /* 413 before reading a byte */
    if ((r = cf_secret_alloc(&buf, max + 1)) != 0)
        return r;
    for (;;) {
        int n = mg_read(req->conn, buf.data + used, buf.len - used);
        if (n < 0) {
            cf_secret_free(&buf);
            return CF_EIO;
        }
        if (n == 0)
            break;
        used += (size_t)n; /* n > 0: checked above */
        if (used > max) {
            cf_secret_free(&buf);
            return CF_ETOOBIG; /* a chunked body that outgrew the limit */
        }
    }
    if (used > 0 && !is_json_type(svc_header(req, "Content-Type"))) {
        cf_secret_free(&buf);
        return CF_EINVAL;
    }
    r = cf_secret_dup(body, buf.data, used);
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
        req->nseg++;
        if (slash == NULL)
            break;
        p = slash + 1;
    }
    return 0;
}
