/* db_listen.c - LISTEN on the changes channel and deliver notifications. */
#include "db_listen.h"

#include <poll.h>

#include <libpq-fe.h>

#include "db_credentials.h"
#include "db_internal.h"

int db_listen_start(struct db_conn *c)
{
    return db_exec_const(c, "LISTEN " DB_CHANGES_CHANNEL);
}

int db_listen_wait(struct db_conn *c, int timeout_ms, db_notify_fn fn, void *arg)
{
    struct pollfd pfd = { .fd = PQsocket(c->pg), .events = POLLIN };
    PGnotify *n;

    if (pfd.fd < 0 || PQstatus(c->pg) != CONNECTION_OK)
        return CF_EUNAVAIL;
    int p = poll(&pfd, 1, timeout_ms);
    if (p < 0)
        return 0; /* EINTR: the caller waits again */
    if (p > 0 && PQconsumeInput(c->pg) != 1) {
        c->broken = true;
        return CF_EUNAVAIL;
    }
    while ((n = PQnotifies(c->pg)) != NULL) {
        fn(arg, n->extra);
        PQfreemem(n);
    }
    return PQstatus(c->pg) == CONNECTION_OK ? 0 : CF_EUNAVAIL;
}
