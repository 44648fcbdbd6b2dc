/* traw.c - raw HTTP over loopback sockets, for the hostile-input tests. */
#define _GNU_SOURCE /* memmem, strcasestr, vasprintf */
#include "traw.h"

#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <jansson.h>

static long now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec * 1000L + ts.tv_nsec / 1000000L;
}

int t_raw_connect(int port)
{
    struct sockaddr_in a = { .sin_family = AF_INET, .sin_port = htons((uint16_t)port) };
    int fd = socket(AF_INET, SOCK_STREAM, 0);

    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    if (fd < 0 || connect(fd, (struct sockaddr *)&a, sizeof(a)) != 0)
        fail_msg("cannot connect to 127.0.0.1:%d (errno %d)", port, errno);
    return fd;
}

int t_raw_connect_from(int port, const char *from, int rcvbuf)
{
    struct sockaddr_in a = { .sin_family = AF_INET, .sin_port = htons((uint16_t)port) };
    struct sockaddr_in src = { .sin_family = AF_INET, .sin_port = 0 };
    int fd = socket(AF_INET, SOCK_STREAM, 0);

    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    if (fd < 0 || inet_pton(AF_INET, from, &src.sin_addr) != 1 ||
        bind(fd, (struct sockaddr *)&src, sizeof(src)) != 0)
        fail_msg("cannot bind a socket to %s (errno %d)", from, errno);
    if (rcvbuf > 0 && setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &rcvbuf, sizeof(rcvbuf)) != 0)
        fail_msg("cannot set SO_RCVBUF (errno %d)", errno);
    if (connect(fd, (struct sockaddr *)&a, sizeof(a)) != 0)
        fail_msg("cannot connect to 127.0.0.1:%d from %s (errno %d)", port, from, errno);
    return fd;
}

size_t t_raw_send(int fd, const void *data, size_t len)
{
    const char *p = data;
    size_t sent = 0;

    while (sent < len) {
        struct pollfd pfd = { .fd = fd, .events = POLLOUT };
        if (poll(&pfd, 1, 5000) <= 0 || (pfd.revents & (POLLERR | POLLHUP)) != 0)
            break; /* the server stopped reading: what it has is what it answers */
        ssize_t n = send(fd, p + sent, len - sent, MSG_NOSIGNAL | MSG_DONTWAIT);
        if (n < 0 && (errno == EAGAIN || errno == EINTR))
            continue;
        if (n <= 0)
            break; /* EPIPE, ECONNRESET: the server closed */
        sent += (size_t)n;
    }
    return sent;
}

void t_raw_read(int fd, int timeout_ms, struct t_raw *out)
{
    long deadline = now_ms() + timeout_ms;
    char chunk[16384];

    for (;;) {
        long left = deadline - now_ms();
        struct pollfd pfd = { .fd = fd, .events = POLLIN };
        if (left <= 0 || poll(&pfd, 1, (int)left) <= 0) {
            out->timed_out = true;
            break;
        }
        ssize_t n = recv(fd, chunk, sizeof(chunk), 0);
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0) {
            out->reset = errno == ECONNRESET;
            break;
        }
        if (n == 0)
            break;
        cf_buf_append(&out->bytes, chunk, (size_t)n);
    }
    cf_buf_append(&out->bytes, "", 0); /* NUL-terminated, len unchanged */
}

void t_raw_exchange(int port, const void *data, size_t len, bool half_close, int timeout_ms,
                    struct t_raw *out)
{
    *out = (struct t_raw){ 0 };
    int fd = t_raw_connect(port);
    out->sent = t_raw_send(fd, data, len);
    if (half_close)
        shutdown(fd, SHUT_WR);
    t_raw_read(fd, timeout_ms, out);
    close(fd);
}

void t_raw_send_str(int port, const char *request, struct t_raw *out)
{
    t_raw_exchange(port, request, strlen(request), true, 10000, out);
}

int t_raw_status_from(int port, const char *from, const char *request)
{
    struct t_raw r = { 0 };
    struct t_raw_resp resp;
    size_t len = strlen(request);
    int fd = t_raw_connect_from(port, from, 0);

    assert_int_equal(t_raw_send(fd, request, len), len);
    t_raw_read(fd, 20000, &r);
    close(fd);
    int status = t_raw_response(&r, 0, &resp) ? resp.status : 0;
    t_raw_free(&r);
    return status;
}

bool t_raw_still_waiting(int fd)
{
    char c;
    ssize_t n = recv(fd, &c, 1, MSG_DONTWAIT | MSG_PEEK);
    return n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK);
}

bool t_raw_closed_silently(int fd)
{
    char c;
    ssize_t n = recv(fd, &c, 1, MSG_DONTWAIT | MSG_PEEK);
    return n == 0 || (n < 0 && errno == ECONNRESET);
}

void t_raw_free(struct t_raw *r)
{
    cf_buf_free(&r->bytes);
}

/* The Content-Length of a header block, or 0 if it has none. */
static size_t content_length(const char *h, size_t hlen)
{
    static const char name[] = "\r\ncontent-length:";
    size_t nlen = sizeof(name) - 1;

    for (size_t i = 0; i + nlen <= hlen; i++) {
        if (strncasecmp(h + i, name, nlen) == 0)
            return (size_t)strtoul(h + i + nlen, NULL, 10);
    }
    return 0;
}

/* Parses one response at p[0..len); its total size in *used. */
static bool parse_one(const char *p, size_t len, struct t_raw_resp *out, size_t *used)
{
    const char *end = memmem(p, len, "\r\n\r\n", 4);
    int status = 0;

    if (end == NULL || len < 12 || strncmp(p, "HTTP/", 5) != 0)
        return false;
    const char *sp = memchr(p, ' ', (size_t)(end - p));
    if (sp == NULL || sscanf(sp + 1, "%3d", &status) != 1)
        return false;
    size_t hlen = (size_t)(end - p) + 2;
    size_t blen = status == 304 ? 0 : content_length(p, hlen);
    if (hlen + 2 + blen > len)
        return false;
    *out = (struct t_raw_resp){
        .status = status, .headers = p, .headers_len = hlen, .body = end + 4, .body_len = blen
    };
    *used = hlen + 2 + blen;
    return true;
}

bool t_raw_response(const struct t_raw *r, size_t index, struct t_raw_resp *out)
{
    const char *p = r->bytes.data;
    size_t left = r->bytes.len, used = 0;

    *out = (struct t_raw_resp){ 0 };
    for (size_t i = 0; p != NULL;) {
        if (!parse_one(p, left, out, &used))
            return false;
        p += used;
        left -= used;
        if (out->status >= 100 && out->status < 200)
            continue; /* an interim answer (100 Continue) belongs to the one after it */
        if (i++ == index)
            return true;
    }
    return false;
}

size_t t_raw_header(const struct t_raw_resp *resp, const char *name, char *out, size_t cap)
{
    size_t n = 0, nlen = strlen(name);
    const char *p = resp->headers, *end = resp->headers + resp->headers_len;

    if (cap > 0)
        out[0] = '\0';
    while (p != NULL && p < end) {
        const char *eol = memmem(p, (size_t)(end - p), "\r\n", 2);
        if (eol == NULL)
            eol = end;
        if ((size_t)(eol - p) > nlen && strncasecmp(p, name, nlen) == 0 && p[nlen] == ':') {
            const char *v = p + nlen + 1;
            while (v < eol && (*v == ' ' || *v == '\t'))
                v++;
            if (n++ == 0 && cap > 0)
                snprintf(out, cap, "%.*s", (int)(eol - v), v);
        }
        p = eol + 2;
    }
    return n;
}

size_t t_raw_count(const struct t_raw *r)
{
    struct t_raw_resp resp;
    size_t n = 0;

    while (t_raw_response(r, n, &resp))
        n++;
    return n;
}

static char *diff(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

static char *diff(const char *fmt, ...)
{
    va_list ap;
    char *s = NULL;

    va_start(ap, fmt);
    if (vasprintf(&s, fmt, ap) < 0)
        s = NULL;
    va_end(ap);
    return s != NULL ? s : strdup("(out of memory)");
}

char *t_raw_4xx_json_diff(const struct t_raw *r, size_t index)
{
    struct t_raw_resp resp;

    if (!t_raw_response(r, index, &resp)) {
        return diff("no complete response #%zu in %zu bytes (reset %d, timed out %d): %.200s",
                    index, r->bytes.len, r->reset, r->timed_out,
                    r->bytes.data != NULL ? r->bytes.data : "");
    }
    if (resp.status < 400 || resp.status > 499)
        return diff("status %d, not a 4xx: %.300s", resp.status, resp.headers);
    char *h = strndup(resp.headers, resp.headers_len);
    bool json_type = strcasestr(h, "\r\nContent-Type: application/json\r\n") != NULL;
    free(h);
    if (!json_type)
        return diff("status %d without Content-Type: application/json", resp.status);
    json_error_t err;
    json_t *b = json_loadb(resp.body, resp.body_len, 0, &err);
    bool ok = json_is_object(b) && json_is_string(json_object_get(b, "error")) &&
              json_is_string(json_object_get(b, "code"));
    json_decref(b);
    if (!ok)
        return diff("status %d with a body that is not an API error: %.*s", resp.status,
                    (int)resp.body_len, resp.body);
    return NULL;
}

bool t_cofferd_alive(struct t_cofferd *d)
{
    struct t_raw r;
    struct t_raw_resp resp;
    int status;

    if (d->pid <= 0 || waitpid(d->pid, &status, WNOHANG) != 0)
        return false; /* exited (or already reaped): a restarted process would be another pid */
    t_raw_send_str(d->port, "GET /healthcheck HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n",
                   &r);
    bool ok = t_raw_response(&r, 0, &resp) && resp.status == 200;
    t_raw_free(&r);
    return ok;
}
