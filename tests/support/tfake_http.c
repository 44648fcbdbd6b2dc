/* tfake_http.c - a canned-answer HTTP server on 127.0.0.1 for tests (see tfake_http.h). */
#include "tfake_http.h"

#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <poll.h>
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <unistd.h>

#include <cmocka.h>

#include "cf_mem.h"

#define TFAKE_ANSWERS_MAX 16
#define TFAKE_ROUTES_MAX  16
#define TFAKE_HEAD_MAX    ((size_t)64 * 1024)
#define TFAKE_BODY_MAX    ((size_t)1024 * 1024)

struct tfake_answer {
    int status;
    char *content_type;
    char *body;
};

struct tfake_route {
    char *method;
    char *path;
    struct tfake_answer answers[TFAKE_ANSWERS_MAX];
    size_t n;
    size_t next;
};

struct tfake_req {
    char *method;
    char *path;
    struct cf_buf head; /* the raw request line and headers */
    struct cf_buf body;
};

struct tfake {
    int fd;
    char url[64];
    pthread_t thread;
    atomic_bool stop;
    pthread_mutex_t lock; /* guards every field below */
    struct tfake_route routes[TFAKE_ROUTES_MAX];
    size_t nroutes;
    struct tfake_req *reqs;
    size_t nreqs;
};

/* Reading a request. */

static bool read_more(int fd, struct cf_buf *b)
{
    char chunk[4096];
    ssize_t n;

    do {
        n = recv(fd, chunk, sizeof(chunk), 0);
    } while (n < 0 && errno == EINTR);
    if (n <= 0)
        return false;
    cf_buf_append(b, chunk, (size_t)n);
    return true;
}

static size_t content_length(const char *head)
{
    const char *p = head;

    while ((p = strstr(p, "\r\n")) != NULL) {
        p += 2;
        if (strncasecmp(p, "Content-Length:", 15) == 0)
            return (size_t)strtoul(p + 15, NULL, 10);
    }
    return 0;
}

/* Reads one request into req; false if the peer went away or sent garbage. */
static bool read_request(int fd, struct tfake_req *req)
{
    struct cf_buf in = { 0 };
    char *end = NULL;
    bool ok = false;

    while ((end = in.data != NULL ? strstr(in.data, "\r\n\r\n") : NULL) == NULL) {
        if (in.len > TFAKE_HEAD_MAX || !read_more(fd, &in))
            goto out;
    }
    size_t head_len = (size_t)(end - in.data) + 4;
    cf_buf_append(&req->head, in.data, head_len);
    size_t want = content_length(req->head.data);
    if (want > TFAKE_BODY_MAX)
        goto out;
    while (in.len - head_len < want) {
        if (!read_more(fd, &in))
            goto out;
    }
    cf_buf_append(&req->body, in.data + head_len, want);
    char method[16], path[1024];
    if (sscanf(req->head.data, "%15s %1023s", method, path) != 2)
        goto out;
    req->method = cf_xstrdup(method);
    req->path = cf_xstrdup(path);
    ok = true;
out:
    cf_buf_free(&in);
    return ok;
}

/* Answering. */

static void send_all(int fd, const char *p, size_t n)
{
    while (n > 0) {
        ssize_t w = send(fd, p, n, MSG_NOSIGNAL);
        if (w < 0 && errno == EINTR)
            continue;
        if (w <= 0)
            return;
        p += w;
        n -= (size_t)w;
    }
}

static void send_answer(int fd, int status, const char *content_type, const char *body)
{
    char head[512];
    size_t blen = strlen(body);
    int n = snprintf(head, sizeof(head),
                     "HTTP/1.1 %d Canned\r\nContent-Type: %s\r\nContent-Length: %zu\r\n"
                     "Connection: close\r\n\r\n",
                     status, content_type, blen);
    if (n < 0 || (size_t)n >= sizeof(head))
        return;
    send_all(fd, head, (size_t)n);
    send_all(fd, body, blen);
}

static bool matches(const char *want_method, const char *want_path, const struct tfake_req *r)
{
    return (want_method == NULL || strcmp(want_method, r->method) == 0) &&
           (want_path == NULL || strcmp(want_path, r->path) == 0);
}

/* Records req and answers it from its route, under the lock. */
static void handle(struct tfake *f, int fd, struct tfake_req *req)
{
    struct tfake_answer a = { 404, "application/json", "{\"__type\":\"NoRoute\"}" };
    struct cf_buf copy = { 0 };

    pthread_mutex_lock(&f->lock);
    f->reqs = cf_xrealloc(f->reqs, (f->nreqs + 1) * sizeof(*f->reqs));
    f->reqs[f->nreqs++] = *req; /* moved: the log owns it now */
    for (size_t i = 0; i < f->nroutes; i++) {
        struct tfake_route *rt = &f->routes[i];
        if (strcmp(rt->method, req->method) == 0 && strcmp(rt->path, req->path) == 0) {
            a = rt->answers[rt->next];
            if (rt->next + 1 < rt->n)
                rt->next++;
            break;
        }
    }
    cf_buf_append_str(&copy, a.body); /* answer outside the lock */
    a.body = copy.data;
    pthread_mutex_unlock(&f->lock);
    send_answer(fd, a.status, a.content_type, a.body != NULL ? a.body : "");
    cf_buf_free(&copy);
}

static void serve_one(struct tfake *f, int fd)
{
    struct timeval tv = { .tv_sec = 5 };
    struct tfake_req req = { 0 };

    setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
    if (read_request(fd, &req)) {
        handle(f, fd, &req);
    } else {
        cf_buf_free(&req.head);
        cf_buf_free(&req.body);
        free(req.method);
        free(req.path);
    }
    shutdown(fd, SHUT_WR);
    close(fd);
}

static void *serve(void *arg)
{
    struct tfake *f = arg;

    while (!atomic_load(&f->stop)) {
        struct pollfd p = { .fd = f->fd, .events = POLLIN };
        if (poll(&p, 1, 50) <= 0)
            continue;
        int c = accept(f->fd, NULL, NULL);
        if (c >= 0)
            serve_one(f, c);
    }
    return NULL;
}

/* The test's side. */

struct tfake *tfake_start(void)
{
    struct tfake *f = cf_xcalloc(1, sizeof(*f));
    struct sockaddr_in a = { .sin_family = AF_INET };
    socklen_t len = sizeof(a);
    int one = 1;

    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    f->fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (f->fd < 0 || setsockopt(f->fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one)) != 0 ||
        bind(f->fd, (struct sockaddr *)&a, sizeof(a)) != 0 || listen(f->fd, 16) != 0 ||
        getsockname(f->fd, (struct sockaddr *)&a, &len) != 0)
        fail_msg("tfake: cannot listen on 127.0.0.1 (errno %d)", errno);
    if (snprintf(f->url, sizeof(f->url), "http://127.0.0.1:%d", ntohs(a.sin_port)) < 0)
        fail_msg("tfake: snprintf failed");
    pthread_mutex_init(&f->lock, NULL);
    atomic_init(&f->stop, false);
    if (pthread_create(&f->thread, NULL, serve, f) != 0)
        fail_msg("tfake: cannot start its thread");
    return f;
}

void tfake_stop(struct tfake *f)
{
    if (f == NULL)
        return;
    atomic_store(&f->stop, true);
    pthread_join(f->thread, NULL);
    close(f->fd);
    for (size_t i = 0; i < f->nroutes; i++) {
        for (size_t j = 0; j < f->routes[i].n; j++) {
            free(f->routes[i].answers[j].content_type);
            free(f->routes[i].answers[j].body);
        }
        free(f->routes[i].method);
        free(f->routes[i].path);
    }
    for (size_t i = 0; i < f->nreqs; i++) {
        free(f->reqs[i].method);
        free(f->reqs[i].path);
        cf_buf_free(&f->reqs[i].head);
        cf_buf_free(&f->reqs[i].body);
    }
    free(f->reqs);
    pthread_mutex_destroy(&f->lock);
    free(f);
}

const char *tfake_url(const struct tfake *f)
{
    return f->url;
}

static struct tfake_route *route_for(struct tfake *f, const char *method, const char *path)
{
    for (size_t i = 0; i < f->nroutes; i++) {
        if (strcmp(f->routes[i].method, method) == 0 && strcmp(f->routes[i].path, path) == 0)
            return &f->routes[i];
    }
    if (f->nroutes == TFAKE_ROUTES_MAX)
        fail_msg("tfake: too many routes");
    struct tfake_route *rt = &f->routes[f->nroutes++];
    rt->method = cf_xstrdup(method);
    rt->path = cf_xstrdup(path);
    return rt;
}

void tfake_answer(struct tfake *f, const char *method, const char *path, int status,
                  const char *content_type, const char *body)
{
    pthread_mutex_lock(&f->lock);
    struct tfake_route *rt = route_for(f, method, path);
    if (rt->n == TFAKE_ANSWERS_MAX) {
        pthread_mutex_unlock(&f->lock);
        fail_msg("tfake: too many answers for %s %s", method, path);
    }
    struct tfake_answer *a = &rt->answers[rt->n++];
    a->status = status;
    a->content_type = cf_xstrdup(content_type != NULL ? content_type : "application/json");
    a->body = cf_xstrdup(body != NULL ? body : "");
    pthread_mutex_unlock(&f->lock);
}

size_t tfake_count(struct tfake *f, const char *method, const char *path)
{
    size_t n = 0;

    pthread_mutex_lock(&f->lock);
    for (size_t i = 0; i < f->nreqs; i++)
        n += matches(method, path, &f->reqs[i]) ? 1 : 0;
    pthread_mutex_unlock(&f->lock);
    return n;
}

/* The nth matching request; call with the lock held. */
static const struct tfake_req *nth_req(const struct tfake *f, const char *method, const char *path,
                                       size_t nth)
{
    for (size_t i = 0; i < f->nreqs; i++) {
        if (matches(method, path, &f->reqs[i]) && nth-- == 0)
            return &f->reqs[i];
    }
    return NULL;
}

static bool find_header(const char *head, const char *name, char *out, size_t cap)
{
    size_t nlen = strlen(name);
    const char *p = strstr(head, "\r\n");

    while (p != NULL && p[2] != '\r') {
        p += 2;
        const char *eol = strstr(p, "\r\n");
        if (eol == NULL)
            return false;
        if (strncasecmp(p, name, nlen) == 0 && p[nlen] == ':') {
            const char *v = p + nlen + 1;
            while (*v == ' ')
                v++;
            return snprintf(out, cap, "%.*s", (int)(eol - v), v) >= 0;
        }
        p = eol;
    }
    return false;
}

bool tfake_header(struct tfake *f, const char *method, const char *path, size_t nth,
                  const char *name, char *out, size_t cap)
{
    bool found = false;

    pthread_mutex_lock(&f->lock);
    const struct tfake_req *r = nth_req(f, method, path, nth);
    if (r != NULL)
        found = find_header(r->head.data, name, out, cap);
    pthread_mutex_unlock(&f->lock);
    return found;
}

bool tfake_body(struct tfake *f, const char *method, const char *path, size_t nth,
                struct cf_buf *out)
{
    bool found = false;

    pthread_mutex_lock(&f->lock);
    const struct tfake_req *r = nth_req(f, method, path, nth);
    if (r != NULL) {
        cf_buf_append(out, r->body.data != NULL ? r->body.data : "", r->body.len);
        found = true;
    }
    pthread_mutex_unlock(&f->lock);
    return found;
}
