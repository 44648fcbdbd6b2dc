/*
 * svc_gate.h - turns at the expensive part of authentication (see svc_gate.c).
 */
#ifndef SVC_GATE_H
#define SVC_GATE_H

#include <stddef.h>
#include <stdint.h>

#include "cf_err.h"

struct svc_gate;

/* A gate letting at most capacity callers through at once (capacity 0: no limit). Free with
 * svc_gate_free() once no caller is inside or waiting. */
struct svc_gate *svc_gate_new(size_t capacity);

void svc_gate_free(struct svc_gate *g);

/* Waits for a turn of the caller from client (a client key: svc_limit_key) presenting a
 * credential that claims identity (any string, "" for none), until deadline_ms on cf_mono_ms()'s
 * clock. Turns go round the clients waiting, and within a client round the identities it
 * presents, oldest first. 0: the caller is through and must call svc_gate_leave(); CF_ETIMEOUT:
 * no turn came in time. Thread-safe. */
CF_MUST_CHECK int svc_gate_enter(struct svc_gate *g, const char *client, const char *identity,
                                 int64_t deadline_ms);

/* Gives a turn back, and hands it to the next waiter. */
void svc_gate_leave(struct svc_gate *g);

struct svc_gate_stats {
    uint64_t passed;    /* turns given */
    uint64_t waited;    /* of them, after waiting */
    uint64_t timed_out; /* callers who got no turn in time */
    size_t inside;      /* callers through now */
    size_t waiting;     /* callers waiting for a turn now */
};

void svc_gate_stats(struct svc_gate *g, struct svc_gate_stats *out);

#endif
