/*
 * svc_admit.h - admission of connections: what civetweb (coffer's patch 0006) closed to keep a
 * worker for the next connection, for /metrics (see svc_admit.c).
 */
#ifndef SVC_ADMIT_H
#define SVC_ADMIT_H

#include <stddef.h>
#include <stdint.h>

struct mg_context;
struct svc_admit;

/* Connections closed by admission, by cause (civetweb's counts). */
struct svc_admit_counts {
    uint64_t room;     /* the oldest waiting one, for a new connection no worker would take */
    uint64_t deadline; /* waited longer than COFFER_BUSY_HEADER_TIMEOUT_MS once busy */
    uint64_t per_ip;   /* beyond COFFER_MAX_CONNECTIONS_PER_IP waiting ones once busy */
};

/* The admission counts of one server (civetweb holds the state). Free with svc_admit_free(). */
struct svc_admit *svc_admit_new(void);

void svc_admit_free(struct svc_admit *a);

/* The running server whose counts svc_admit_counts() reads; NULL before mg_stop() (a reader
 * that still holds the old one is a request of that server, which mg_stop() waits for).
 * Thread-safe. */
void svc_admit_attach(struct svc_admit *a, struct mg_context *mg);

/* The counts so far (zeros with no server attached). Thread-safe. */
void svc_admit_counts(const struct svc_admit *a, struct svc_admit_counts *out);

#endif
