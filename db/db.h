/*
 * db.h - the PostgreSQL connection pool, transactions and the schema check.
 *
 * A struct db_conn is one thread's from db_acquire() to db_release(), as libpq requires. The
 * pool reconnects lazily: a connection that broke (PostgreSQL restarted, network cut) is
 * detected at checkout or when a query fails, dropped, and replaced by a new one, so cofferd
 * survives a database restart without being restarted. Query functions live in one file per
 * table family (db_tokens.h, db_audit.h, ...), each with its SQL beside it.
 */
#ifndef DB_H
#define DB_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "cf_err.h"

struct db_pool;
struct db_conn;

/* Opens a pool of `size` connections to conninfo (a libpq string or URI; copied, cleansed on
 * close). Connections are made on first use; none is made here. Never fails but for bad
 * arguments (CF_EINVAL). Close with db_pool_close(). */
/* Sets statement_timeout (ms; 0: the server's default) on the pool's connections made from
 * now on: call it before the first db_acquire(). */
void db_pool_set_statement_timeout(struct db_pool *pool, int ms);

CF_MUST_CHECK int db_pool_open(const char *conninfo, size_t size, int acquire_timeout_ms,
                               struct db_pool **out);

/* Closes every connection and frees the pool. No connection may be checked out. */
void db_pool_close(struct db_pool *pool);

/* Checks out a live connection, waiting up to the pool's timeout for a free one.
 * CF_EUNAVAIL if none became free in time or PostgreSQL cannot be reached. Thread-safe. */
CF_MUST_CHECK int db_acquire(struct db_pool *pool, struct db_conn **out);

/* Returns a connection to the pool; a broken one (or one left inside a transaction) is closed
 * and replaced on a later checkout. Safe with NULL. Thread-safe. */
void db_release(struct db_pool *pool, struct db_conn *conn);

/* Database errors seen by any connection since start (unexpected SQLSTATEs and lost
 * connections), for metrics. Thread-safe. */
uint64_t db_error_count(void);

/* Connections idle in the pool and checked out, for metrics. Thread-safe. */
void db_pool_counts(struct db_pool *pool, size_t *idle, size_t *busy);

/* Opens one connection outside any pool (the migrations runner, the CLI commands). */
CF_MUST_CHECK int db_connect(const char *conninfo, struct db_conn **out);

/* Closes a connection made by db_connect(). Safe with NULL. */
void db_disconnect(struct db_conn *conn);

/* BEGIN. */
CF_MUST_CHECK int db_tx_begin(struct db_conn *conn);

/* BEGIN a read-only transaction that sees one snapshot throughout (REPEATABLE READ): reads
 * that must agree with each other while writers go on (the chain walk and the head). */
CF_MUST_CHECK int db_tx_begin_snapshot(struct db_conn *conn);

/* COMMIT if r == 0, else ROLLBACK. Returns r if it was an error, else the COMMIT's result. */
CF_MUST_CHECK int db_tx_end(struct db_conn *conn, int r);

/* Takes the catalog write lock until the transaction ends: every write of credentials,
 * services, mappings, tokens and principals holds it, so name checks, key-conflict checks and
 * the writes they guard never interleave (writes are rare; reads never take it). Holders make
 * no KMS calls, so a wait longer than DB_WRITE_LOCK_WAIT means trouble: CF_EUNAVAIL. */
#define DB_WRITE_LOCK_WAIT "5s"
CF_MUST_CHECK int db_write_lock(struct db_conn *conn);

/* SELECT 1: CF_EUNAVAIL if the connection does not answer. */
CF_MUST_CHECK int db_ping(struct db_conn *conn);

/* Compares the migrations applied in the database with the files in dir: 0 when every file is
 * applied with the same checksum; CF_ECONFLICT when some are pending or changed (a message
 * naming the first is written to msg). Other codes for database or file errors. */
CF_MUST_CHECK int db_schema_check(struct db_conn *conn, const char *dir, char *msg, size_t msgcap);

#endif
