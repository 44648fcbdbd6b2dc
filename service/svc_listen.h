/*
 * svc_listen.h - the change listener thread (see svc_listen.c).
 */
#ifndef SVC_LISTEN_H
#define SVC_LISTEN_H

#include "svc.h"

struct svc_listener;

/* Starts the thread; ctx must outlive it. CF_EIO if it cannot start. */
CF_MUST_CHECK int svc_listen_start(struct svc_ctx *ctx, struct svc_listener **out);

/* Stops and joins the thread. Safe with NULL. */
void svc_listen_stop(struct svc_listener *l);

#endif
