/*
 * svc_admit.h - admission of connections: at most COFFER_MAX_CONNECTIONS_PER_IP connections
 * of one client address hold worker threads at once (see svc_admit.c).
 */
#ifndef SVC_ADMIT_H
#define SVC_ADMIT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct svc_admit;

/* A table for at most slots addresses at once (the worker threads: each admitted connection
 * holds one) allowing per_ip connections each; per_ip 0 admits everything. Free with
 * svc_admit_free(). */
struct svc_admit *svc_admit_new(size_t slots, int64_t per_ip);

void svc_admit_free(struct svc_admit *a);

/* Counts a new connection from addr; false (and nothing counted) when addr is at its cap.
 * *counted says whether this connection was counted (then svc_admit_leave() must follow at
 * its close). Thread-safe. */
bool svc_admit_enter(struct svc_admit *a, const char *addr, bool *counted);

/* Uncounts a connection svc_admit_enter() counted. Thread-safe. */
void svc_admit_leave(struct svc_admit *a, const char *addr);

/* Connections refused so far. */
uint64_t svc_admit_refused(const struct svc_admit *a);

#endif
