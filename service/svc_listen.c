/*
 * svc_listen.c - the change listener: a thread with a connection of its own LISTENing on
 * coffer_changes, dropping what each notification says changed from this node's caches.
 *
 * When the connection breaks, notifications may have been missed: every cache entry is
 * dropped then, and again once it is back. Cached entries also expire on their own within
 * AUTH_STALE_MS, so a lost notification is never stale for longer.
 */
#include "svc_listen.h"

#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <time.h>

#include "cf_log.h"
#include "db_listen.h"
#include "svc_bundles.h"

struct svc_listener {
    struct svc_ctx *ctx;
    pthread_t thread;
    atomic_bool stop;
    _Atomic uint64_t delivered;
};

static void on_change(void *arg, const char *payload)
{
    struct svc_listener *l = arg;
    auth_forget(l->ctx->auth, payload);
    svc_bundles_clear(l->ctx->bundles); /* any catalog change may touch any bundle */
    atomic_fetch_add_explicit(&l->delivered, 1, memory_order_relaxed);
}

static void nap(struct svc_listener *l, int ms)
{
    for (int waited = 0; waited < ms && !atomic_load(&l->stop); waited += 100) {
        struct timespec ts = { 0, 100 * 1000000L };
        nanosleep(&ts, NULL);
    }
}

static void *listen_thread(void *arg)
{
    struct svc_listener *l = arg;
    struct db_conn *c = NULL;

    while (!atomic_load(&l->stop)) {
        if (c == NULL) {
            if (db_connect(l->ctx->cfg->database_url, &c) != 0 || db_listen_start(c) != 0) {
                db_disconnect(c);
                c = NULL;
                nap(l, 1000);
                continue;
            }
            auth_forget(l->ctx->auth, NULL); /* anything may have changed meanwhile */
            svc_bundles_clear(l->ctx->bundles);
            cf_log(CF_LOG_INFO, "listening for change notifications", NULL);
        }
        if (db_listen_wait(c, 250, on_change, l) != 0) {
            cf_log(CF_LOG_WARN, "change notifications lost: reconnecting", NULL);
            auth_forget(l->ctx->auth, NULL);
            svc_bundles_clear(l->ctx->bundles);
            db_disconnect(c);
            c = NULL;
        }
    }
    db_disconnect(c);
    return NULL;
}

int svc_listen_start(struct svc_ctx *ctx, struct svc_listener **out)
{
    struct svc_listener *l = calloc(1, sizeof(*l));

    *out = NULL;
    if (l == NULL)
        return CF_EIO;
    l->ctx = ctx;
    if (pthread_create(&l->thread, NULL, listen_thread, l) != 0) {
        free(l);
        return CF_EIO;
    }
    *out = l;
    return 0;
}

void svc_listen_stop(struct svc_listener *l)
{
    if (l == NULL)
        return;
    atomic_store(&l->stop, true);
    pthread_join(l->thread, NULL);
    free(l);
}
