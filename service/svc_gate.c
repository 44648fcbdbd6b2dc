/*
 * svc_gate.c - turns at the expensive part of authentication.
 *
 * A credential nobody has proven yet costs a KMS Decrypt (kmsauth) or a database lookup (an
 * API token). Those are what an attacker can make coffer spend, so at most `capacity` run at
 * once, and callers beyond that wait their turn, for a bounded time, in a fair order: turns go
 * round the clients that are waiting (one turn each in turn, whatever each has queued), and
 * within a client round the identities its callers claim, each identity's callers first come
 * first served. A flood from one address therefore delays another address's callers by at
 * most one turn per round, and a flood claiming one name delays a service claiming another
 * name behind the same address (a fleet behind a load balancer) by one turn per round too.
 *
 * Waiters are on their own stacks; the queues are two levels of singly linked FIFOs (clients,
 * then identities within a client), all under one lock. Their sizes are bounded by the worker
 * threads, each of which waits for at most one turn.
 */
#include "svc_gate.h"

#include <pthread.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "cf_crypto.h"
#include "cf_mem.h"
#include "cf_time.h"

struct waiter {
    struct waiter *next;
    pthread_cond_t cond;
    bool granted;
};

struct ident_q {
    uint8_t key[CF_SHA256_LEN];
    struct waiter *head, *tail;
    struct ident_q *next;
};

struct client_q {
    uint8_t key[CF_SHA256_LEN];
    struct ident_q *head, *tail;
    struct client_q *next;
};

struct svc_gate {
    pthread_mutex_t lock; /* guards everything below */
    size_t capacity, inside, waiting;
    struct client_q *head, *tail;
    uint64_t passed, waited, timed_out;
};

struct svc_gate *svc_gate_new(size_t capacity)
{
    struct svc_gate *g = cf_xcalloc(1, sizeof(*g));

    pthread_mutex_init(&g->lock, NULL);
    g->capacity = capacity;
    return g;
}

void svc_gate_free(struct svc_gate *g)
{
    if (g == NULL)
        return;
    pthread_mutex_destroy(&g->lock);
    free(g); /* no caller waits any more: the queues are empty */
}

/* Hands free turns to the waiters at the heads of the queues. Under the lock. */
static void dispatch(struct svc_gate *g)
{
    while (g->inside < g->capacity && g->head != NULL) {
        struct client_q *c = g->head;
        struct ident_q *q = c->head;
        struct waiter *w = q->head;

        q->head = w->next;
        if (q->head == NULL)
            q->tail = NULL;
        w->next = NULL;
        w->granted = true;
        g->waiting--;
        g->inside++;
        g->passed++;
        g->waited++;
        pthread_cond_signal(&w->cond);
        /* the identity goes to the back of its client's round, the client to the back of
         * the gate's; either leaves once it has no one waiting */
        c->head = q->next;
        if (c->head == NULL)
            c->tail = NULL;
        q->next = NULL;
        if (q->head != NULL) {
            if (c->tail != NULL) {
                c->tail->next = q;
            } else {
                c->head = q;
            }
            c->tail = q;
        } else {
            free(q);
        }
        g->head = c->next;
        if (g->head == NULL)
            g->tail = NULL;
        c->next = NULL;
        if (c->head != NULL) {
            if (g->tail != NULL) {
                g->tail->next = c;
            } else {
                g->head = c;
            }
            g->tail = c;
        } else {
            free(c);
        }
    }
}

/* Puts w at the back of its identity's queue, making the queues it needs. Under the lock. */
static void enqueue(struct svc_gate *g, const uint8_t ckey[CF_SHA256_LEN],
                    const uint8_t ikey[CF_SHA256_LEN], struct waiter *w)
{
    struct client_q *c = g->head;
    while (c != NULL && memcmp(c->key, ckey, CF_SHA256_LEN) != 0)
        c = c->next;
    if (c == NULL) {
        c = cf_xcalloc(1, sizeof(*c));
        memcpy(c->key, ckey, CF_SHA256_LEN);
        if (g->tail != NULL) {
            g->tail->next = c;
        } else {
            g->head = c;
        }
        g->tail = c;
    }
    struct ident_q *q = c->head;
    while (q != NULL && memcmp(q->key, ikey, CF_SHA256_LEN) != 0)
        q = q->next;
    if (q == NULL) {
        q = cf_xcalloc(1, sizeof(*q));
        memcpy(q->key, ikey, CF_SHA256_LEN);
        if (c->tail != NULL) {
            c->tail->next = q;
        } else {
            c->head = q;
        }
        c->tail = q;
    }
    if (q->tail != NULL) {
        q->tail->next = w;
    } else {
        q->head = w;
    }
    q->tail = w;
    g->waiting++;
}

/* Takes w (not granted) out of the queues, dropping queues left empty. Under the lock. */
static void dequeue(struct svc_gate *g, struct waiter *w)
{
    for (struct client_q **cp = &g->head, *cprev = NULL; *cp != NULL;
         cprev = *cp, cp = &(*cp)->next) {
        struct client_q *c = *cp;
        for (struct ident_q **qp = &c->head, *qprev = NULL; *qp != NULL;
             qprev = *qp, qp = &(*qp)->next) {
            struct ident_q *q = *qp;
            struct waiter *prev = NULL;
            for (struct waiter *x = q->head; x != NULL; prev = x, x = x->next) {
                if (x != w)
                    continue;
                g->waiting--;
                if (prev != NULL) {
                    prev->next = x->next;
                } else {
                    q->head = x->next;
                }
                if (q->tail == x)
                    q->tail = prev;
                if (q->head == NULL) {
                    *qp = q->next;
                    if (c->tail == q)
                        c->tail = qprev;
                    free(q);
                }
                if (c->head == NULL) {
                    *cp = c->next;
                    if (g->tail == c)
                        g->tail = cprev;
                    free(c);
                }
                return;
            }
        }
    }
}

/* The CLOCK_MONOTONIC time of deadline_ms on cf_mono_ms()'s clock (the same clock). */
static struct timespec abs_time(int64_t deadline_ms)
{
    struct timespec ts = { .tv_sec = (time_t)(deadline_ms / 1000),
                           .tv_nsec = (long)(deadline_ms % 1000) * 1000000L };
    return ts;
}

int svc_gate_enter(struct svc_gate *g, const char *client, const char *identity,
                   int64_t deadline_ms)
{
    uint8_t ckey[CF_SHA256_LEN], ikey[CF_SHA256_LEN];
    struct waiter w = { 0 };
    int r = 0;

    if (g->capacity == 0)
        return 0;
    if (cf_sha256(client, strlen(client), ckey) != 0 ||
        cf_sha256(identity, strlen(identity), ikey) != 0)
        return CF_EINTERNAL;
    pthread_mutex_lock(&g->lock);
    if (g->inside < g->capacity && g->head == NULL) { /* a free turn and no one before us */
        g->inside++;
        g->passed++;
        pthread_mutex_unlock(&g->lock);
        return 0;
    }
    pthread_condattr_t attr;
    pthread_condattr_init(&attr);
    pthread_condattr_setclock(&attr, CLOCK_MONOTONIC);
    pthread_cond_init(&w.cond, &attr);
    pthread_condattr_destroy(&attr);
    enqueue(g, ckey, ikey, &w);
    dispatch(g); /* a turn may be free while others wait (cannot happen, but costs nothing) */
    struct timespec until = abs_time(deadline_ms);
    while (!w.granted) {
        if (cf_mono_ms() >= deadline_ms || pthread_cond_timedwait(&w.cond, &g->lock, &until) != 0) {
            if (!w.granted) {
                dequeue(g, &w);
                g->timed_out++;
                r = CF_ETIMEOUT;
            }
            break;
        }
    }
    pthread_mutex_unlock(&g->lock);
    pthread_cond_destroy(&w.cond);
    return r;
}

void svc_gate_leave(struct svc_gate *g)
{
    if (g->capacity == 0)
        return;
    pthread_mutex_lock(&g->lock);
    if (g->inside > 0)
        g->inside--;
    dispatch(g);
    pthread_mutex_unlock(&g->lock);
}

void svc_gate_stats(struct svc_gate *g, struct svc_gate_stats *out)
{
    pthread_mutex_lock(&g->lock);
    *out = (struct svc_gate_stats){ .passed = g->passed,
                                    .waited = g->waited,
                                    .timed_out = g->timed_out,
                                    .inside = g->inside,
                                    .waiting = g->waiting };
    pthread_mutex_unlock(&g->lock);
}
