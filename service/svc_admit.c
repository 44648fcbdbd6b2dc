/*
 * svc_admit.c - connections per client address.
 *
 * civetweb gives each connection a worker thread from accept to close, so a client that opens
 * connections and sends nothing, or a byte a second, holds as many threads as it opens until
 * the header timeout. This table caps the threads one address holds; civetweb's
 * init_connection callback asks it (and refuses with 503 when full, a coffer patch) and
 * connection_close gives the place back. Admitted connections hold a worker each, so there are
 * never more addresses in the table than workers: a linear scan of a small array, under one
 * lock, taken once at each end of a connection.
 */
#include "svc_admit.h"

#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>

#include "cf_mem.h"

#define ADDR_MAX 48 /* civetweb's remote_addr */

struct slot {
    char addr[ADDR_MAX]; /* "" = free */
    int64_t count;
};

struct svc_admit {
    pthread_mutex_t lock; /* guards slots */
    struct slot *slots;
    size_t nslots;
    int64_t per_ip;
    _Atomic uint64_t refused;
};

struct svc_admit *svc_admit_new(size_t slots, int64_t per_ip)
{
    struct svc_admit *a = cf_xcalloc(1, sizeof(*a));

    pthread_mutex_init(&a->lock, NULL);
    a->nslots = slots > 0 ? slots : 1;
    a->slots = cf_xcalloc(a->nslots, sizeof(*a->slots));
    a->per_ip = per_ip;
    return a;
}

void svc_admit_free(struct svc_admit *a)
{
    if (a == NULL)
        return;
    pthread_mutex_destroy(&a->lock);
    free(a->slots);
    free(a);
}

/* The slot of addr, or a free one to take it (NULL when neither: cannot happen while every
 * admitted connection holds a worker, but it is not trusted). Under the lock. */
static struct slot *find(struct svc_admit *a, const char *addr, bool take)
{
    struct slot *free_slot = NULL;

    for (size_t i = 0; i < a->nslots; i++) {
        struct slot *s = &a->slots[i];
        if (s->addr[0] != '\0' && strcmp(s->addr, addr) == 0)
            return s;
        if (s->addr[0] == '\0' && free_slot == NULL)
            free_slot = s;
    }
    if (take && free_slot != NULL) {
        size_t n = strnlen(addr, ADDR_MAX - 1);
        memcpy(free_slot->addr, addr, n);
        free_slot->addr[n] = '\0';
        free_slot->count = 0;
    }
    return take ? free_slot : NULL;
}

bool svc_admit_enter(struct svc_admit *a, const char *addr, bool *counted)
{
    bool ok;

    *counted = false;
    if (a->per_ip <= 0)
        return true;
    pthread_mutex_lock(&a->lock);
    struct slot *s = find(a, addr, true);
    ok = s == NULL || s->count < a->per_ip; /* no slot: admitted uncounted, never refused */
    if (s != NULL && ok) {
        s->count++;
        *counted = true;
    }
    pthread_mutex_unlock(&a->lock);
    if (!ok)
        atomic_fetch_add_explicit(&a->refused, 1, memory_order_relaxed);
    return ok;
}

void svc_admit_leave(struct svc_admit *a, const char *addr)
{
    if (a->per_ip <= 0)
        return;
    pthread_mutex_lock(&a->lock);
    struct slot *s = find(a, addr, false);
    if (s != NULL && --s->count <= 0)
        s->addr[0] = '\0';
    pthread_mutex_unlock(&a->lock);
}

uint64_t svc_admit_refused(const struct svc_admit *a)
{
    return a != NULL ? atomic_load_explicit(&a->refused, memory_order_relaxed) : 0;
}
