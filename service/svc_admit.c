/*
 * svc_admit.c - admission of connections, cofferd's side.
 *
 * civetweb gives each connection a worker thread from accept to close. coffer's patch
 * scripts/civetweb/0006-admission.patch keeps one for whoever needs it: a connection that is
 * only waiting (TLS handshake, an incomplete request head, idle between two requests) is
 * closed, oldest first from the address holding the most, when a new connection would find no
 * free worker; once over 3/4 of the workers are taken, a waiting connection gets
 * COFFER_BUSY_HEADER_TIMEOUT_MS and one address keeps at most COFFER_MAX_CONNECTIONS_PER_IP
 * waiting ones. A connection is never refused, and a request whose head is complete is never
 * cut. svc_server.c passes the settings as civetweb options; this reads civetweb's counts.
 */
#include "svc_admit.h"

#include <stdatomic.h>
#include <stdlib.h>

#include "cf_mem.h"
#include "civetweb.h"

struct svc_admit {
    _Atomic(struct mg_context *) mg;
};

struct svc_admit *svc_admit_new(void)
{
    struct svc_admit *a = cf_xcalloc(1, sizeof(*a));
    atomic_init(&a->mg, NULL);
    return a;
}

void svc_admit_free(struct svc_admit *a)
{
    free(a);
}

void svc_admit_attach(struct svc_admit *a, struct mg_context *mg)
{
    if (a != NULL)
        atomic_store(&a->mg, mg);
}

void svc_admit_counts(const struct svc_admit *a, struct svc_admit_counts *out)
{
    unsigned long long room = 0, deadline = 0, per_ip = 0;
    struct mg_context *mg = a != NULL ? atomic_load(&a->mg) : NULL;

    if (mg != NULL && mg_get_admission_counts(mg, &room, &deadline, &per_ip) != 0)
        room = deadline = per_ip = 0; /* admission off */
    *out = (struct svc_admit_counts){ .room = room, .deadline = deadline, .per_ip = per_ip };
}
