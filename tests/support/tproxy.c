/* tproxy.c - a TCP relay on 127.0.0.1 that can hold what clients send (see tproxy.h). */
#include "tproxy.h"

#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <poll.h>
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>

#define TPROXY_CONNS_MAX 32
#define TPROXY_TICK_MS   20 /* how often the thread looks at the hold and stop flags */

/* One relayed connection: the client's socket and ours to the target. */
struct tproxy_conn {
    int client, target;
    bool waiting; /* the client sent bytes that are held */
};

struct tproxy {
    int fd;
    int target_port;
    char url[64];
    pthread_t thread;
    pthread_mutex_t lock; /* guards stop, held and waiting */
    pthread_cond_t changed;
    bool stop, held;
    int waiting; /* connections whose bytes are held */
    struct tproxy_conn conns[TPROXY_CONNS_MAX];
    size_t n; /* the thread's alone */
};

static bool send_all(int fd, const char *p, size_t n)
{
    while (n > 0) {
        ssize_t w = send(fd, p, n, MSG_NOSIGNAL);
        if (w < 0 && errno == EINTR)
            continue;
        if (w <= 0)
            return false;
        p += w;
        n -= (size_t)w;
    }
    return true;
}

/* Moves what is readable on from to to; false when from closed or either failed. */
static bool relay(int from, int to)
{
    char chunk[16384];
    ssize_t n;

    do {
        n = recv(from, chunk, sizeof(chunk), 0);
    } while (n < 0 && errno == EINTR);
    return n > 0 && send_all(to, chunk, (size_t)n);
}

static int connect_target(int port)
{
    struct sockaddr_in a = { .sin_family = AF_INET, .sin_port = htons((uint16_t)port) };
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);

    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    if (fd >= 0 && connect(fd, (struct sockaddr *)&a, sizeof(a)) != 0) {
        close(fd);
        fd = -1;
    }
    return fd;
}

static void conn_close(struct tproxy *p, size_t i)
{
    close(p->conns[i].client);
    close(p->conns[i].target);
    if (p->conns[i].waiting) {
        pthread_mutex_lock(&p->lock);
        p->waiting--;
        pthread_mutex_unlock(&p->lock);
    }
    p->conns[i] = p->conns[--p->n];
}

static void accept_one(struct tproxy *p)
{
    int c = accept(p->fd, NULL, NULL);
    if (c < 0)
        return;
    int t = p->n < TPROXY_CONNS_MAX ? connect_target(p->target_port) : -1;
    if (t < 0) {
        close(c); /* the client sees the connection refused, as if the target were down */
        return;
    }
    p->conns[p->n++] = (struct tproxy_conn){ .client = c, .target = t };
}

/* Marks connection i as holding what its client sent. */
static void conn_wait(struct tproxy *p, size_t i)
{
    p->conns[i].waiting = true;
    pthread_mutex_lock(&p->lock);
    p->waiting++;
    pthread_cond_broadcast(&p->changed);
    pthread_mutex_unlock(&p->lock);
}

static void *run(void *arg)
{
    struct tproxy *p = arg;
    struct pollfd fds[1 + 2 * TPROXY_CONNS_MAX];

    for (;;) {
        pthread_mutex_lock(&p->lock);
        bool stop = p->stop, held = p->held;
        if (!held)
            p->waiting = 0;
        pthread_mutex_unlock(&p->lock);
        if (stop)
            break;
        fds[0] = (struct pollfd){ .fd = p->fd, .events = POLLIN };
        for (size_t i = 0; i < p->n; i++) {
            if (!held)
                p->conns[i].waiting = false;
            /* a held client is not polled until released: its bytes stay in the socket */
            fds[1 + 2 * i] = (struct pollfd){ .fd = p->conns[i].waiting ? -1 : p->conns[i].client,
                                              .events = POLLIN };
            fds[2 + 2 * i] = (struct pollfd){ .fd = p->conns[i].target, .events = POLLIN };
        }
        size_t n = p->n;
        if (poll(fds, 1 + 2 * n, TPROXY_TICK_MS) <= 0)
            continue;
        /* from the last, so that closing (which moves the last into i) skips nothing */
        for (size_t i = n; i-- > 0;) {
            bool ok = true;
            if (fds[2 + 2 * i].revents != 0)
                ok = relay(p->conns[i].target, p->conns[i].client);
            if (ok && fds[1 + 2 * i].revents != 0) {
                if (held)
                    conn_wait(p, i);
                else
                    ok = relay(p->conns[i].client, p->conns[i].target);
            }
            if (!ok)
                conn_close(p, i);
        }
        if (fds[0].revents & POLLIN)
            accept_one(p);
    }
    while (p->n > 0)
        conn_close(p, p->n - 1);
    return NULL;
}

struct tproxy *tproxy_start(const char *target_url)
{
    struct tproxy *p = calloc(1, sizeof(*p));
    struct sockaddr_in a = { .sin_family = AF_INET };
    socklen_t len = sizeof(a);
    int port = 0;

    assert_non_null(p);
    if (sscanf(target_url, "http://127.0.0.1:%d", &port) != 1 || port <= 0 || port > 65535)
        fail_msg("tproxy: the target must be http://127.0.0.1:<port>, not %s", target_url);
    p->target_port = port;
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    p->fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    assert_true(p->fd >= 0);
    assert_int_equal(bind(p->fd, (struct sockaddr *)&a, sizeof(a)), 0);
    assert_int_equal(listen(p->fd, 64), 0);
    assert_int_equal(getsockname(p->fd, (struct sockaddr *)&a, &len), 0);
    snprintf(p->url, sizeof(p->url), "http://127.0.0.1:%u", (unsigned)ntohs(a.sin_port));
    pthread_mutex_init(&p->lock, NULL);
    pthread_cond_init(&p->changed, NULL);
    assert_int_equal(pthread_create(&p->thread, NULL, run, p), 0);
    return p;
}

void tproxy_stop(struct tproxy *p)
{
    if (p == NULL)
        return;
    pthread_mutex_lock(&p->lock);
    p->stop = true;
    pthread_mutex_unlock(&p->lock);
    pthread_join(p->thread, NULL);
    close(p->fd);
    pthread_cond_destroy(&p->changed);
    pthread_mutex_destroy(&p->lock);
    free(p);
}

const char *tproxy_url(const struct tproxy *p)
{
    return p->url;
}

static void set_held(struct tproxy *p, bool held)
{
    pthread_mutex_lock(&p->lock);
    p->held = held;
    pthread_mutex_unlock(&p->lock);
}

void tproxy_hold(struct tproxy *p)
{
    set_held(p, true);
}

void tproxy_release(struct tproxy *p)
{
    set_held(p, false);
}

bool tproxy_wait_held(struct tproxy *p, int seconds)
{
    struct timespec deadline;
    int r = 0;

    clock_gettime(CLOCK_REALTIME, &deadline);
    deadline.tv_sec += seconds;
    pthread_mutex_lock(&p->lock);
    while (p->waiting == 0 && r == 0)
        r = pthread_cond_timedwait(&p->changed, &p->lock, &deadline);
    bool held = p->waiting > 0;
    pthread_mutex_unlock(&p->lock);
    return held;
}
