/*
 * db_listen.h - change notifications: a connection that LISTENs on coffer_changes and hands
 * each payload ("credential:<id>", "service:<id>", "principal:<name>", "token:<id>") to a
 * callback.
 */
#ifndef DB_LISTEN_H
#define DB_LISTEN_H

#include "cf_err.h"
#include "db.h"

typedef void (*db_notify_fn)(void *arg, const char *payload);

/* LISTENs on the changes channel on c (a connection of its own, not a pooled one). */
CF_MUST_CHECK int db_listen_start(struct db_conn *c);

/* Waits up to timeout_ms for notifications and calls fn for each. 0 (with or without
 * notifications), or CF_EUNAVAIL when the connection is gone. */
CF_MUST_CHECK int db_listen_wait(struct db_conn *c, int timeout_ms, db_notify_fn fn, void *arg);

#endif
