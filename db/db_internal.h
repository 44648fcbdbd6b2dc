/*
 * db_internal.h - what the files of db/ share and nothing outside db/ may include: the
 * connection structure, prepared statements and result helpers.
 */
#ifndef DB_INTERNAL_H
#define DB_INTERNAL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <jansson.h>
#include <libpq-fe.h>

#include "cf_err.h"

#define DB_MAX_STMTS 128 /* distinct prepared statements one connection may hold */

/* A statement prepared lazily on each connection, the first time that connection runs it.
 * Declare one `static const struct db_stmt` beside the function that runs it; the name must be
 * unique across db/. */
struct db_stmt {
    const char *name;
    const char *sql;
    int nparams;
};

struct db_conn {
    PGconn *pg;
    const struct db_stmt *prepared[DB_MAX_STMTS];
    size_t nprepared;
    bool broken; /* the connection failed: close it instead of reusing it */
    size_t slot; /* index in the pool, or SIZE_MAX outside a pool */
};

/* Runs a prepared statement with text parameters (NULL = SQL NULL; lengths/formats may be
 * NULL for all-text). The result's status must be PGRES_COMMAND_OK or PGRES_TUPLES_OK, else
 * the error is mapped by db_result_err() and *res_out is NULL. The caller PQclear()s. */
CF_MUST_CHECK int db_exec(struct db_conn *c, const struct db_stmt *st, const char *const *params,
                          const int *lengths, const int *formats, PGresult **res_out);

/* db_exec() with the results in binary format: a bytea column arrives as its bytes, with no
 * hex to decode (db_get_bytea() reads either). Every other column the caller reads must be
 * text (cast it in the SQL): the text parsers then read it unchanged. Text parameters. */
CF_MUST_CHECK int db_exec_binary(struct db_conn *c, const struct db_stmt *st,
                                 const char *const *params, PGresult **res_out);

/* Prepares st on c unless it already is (db_exec() does it itself; a pipeline must do it
 * before it begins, since PQprepare is not allowed inside one). */
CF_MUST_CHECK int db_prepare(struct db_conn *c, const struct db_stmt *st);

/* Pipelines (libpq's pipeline mode): the statements sent between db_pipeline_begin() and
 * db_pipeline_end() run in one implicit transaction, which the Sync that db_pipeline_end()
 * sends commits, or rolls back if any of them failed. A caller reads the result of what it
 * sent with db_pipeline_result() (a flush request: the transaction stays open), and always
 * ends with db_pipeline_end(c, r, what), which returns r if it is non-zero, else the first
 * error of the pipeline (a failed commit included), and leaves pipeline mode. Statements
 * must be prepared (db_prepare()) before the pipeline begins. At most DB_PIPELINE_MAX
 * statements per pipeline. */
#define DB_PIPELINE_MAX 8
CF_MUST_CHECK int db_pipeline_begin(struct db_conn *c);
CF_MUST_CHECK int db_pipeline_send(struct db_conn *c, const struct db_stmt *st,
                                   const char *const *params);
CF_MUST_CHECK int db_pipeline_result(struct db_conn *c, const char *what, PGresult **res_out);
CF_MUST_CHECK int db_pipeline_end(struct db_conn *c, int r, const char *what);

/* Runs a constant, parameterless command (BEGIN, COMMIT, LISTEN) with the simple protocol. A
 * failure is logged with the command itself: keep it short. */
CF_MUST_CHECK int db_exec_const(struct db_conn *c, const char *sql);

/* Runs a trusted script of several statements (a migration file) with the simple protocol. A
 * failure is logged with label, never with the script's text. */
CF_MUST_CHECK int db_exec_script(struct db_conn *c, const char *label, const char *sql);

/* Maps a failed result (or NULL) to a cf_err by SQLSTATE: 23505, 40001, 40P01 -> CF_ECONFLICT;
 * class 08, 57P (shutdown) or a broken connection -> CF_EUNAVAIL (and marks the connection
 * broken); 57014, 55P03 and class 53 (timeouts, resources) -> CF_EUNAVAIL;
 * 23xxx -> CF_EINVAL; 42501 -> CF_EDENIED; else CF_EDB. Logs the SQLSTATE, never DETAIL. */
int db_result_err(struct db_conn *c, const PGresult *res, const char *what);

/* A timestamptz column as API.md's timestamp text (UTC, six fraction digits). */
#define DB_TS(col) "to_char(" col " AT TIME ZONE 'UTC', 'YYYY-MM-DD\"T\"HH24:MI:SS.US\"+00:00\"')"

/* A jsonb parameter holding an array of strings, as a text[] value. */
#define DB_TEXT_ARRAY(param) "ARRAY(SELECT jsonb_array_elements_text(" param "::jsonb))"

/* Runs a statement whose single row and column is JSON text and parses it into *out
 * (CF_ENOTFOUND when there is no row). */
CF_MUST_CHECK int db_exec_json(struct db_conn *c, const struct db_stmt *st,
                               const char *const *params, const int *lengths, const int *formats,
                               json_t **out);

/* Like db_exec_json() for a statement planned for this call alone (PQexecParams, text
 * parameters): for queries whose optional filters a generic plan would serve badly. */
CF_MUST_CHECK int db_exec_json_once(struct db_conn *c, const char *sql, int nparams,
                                    const char *const *params, json_t **out);

/* A bytea column in text format ("\x..."), decoded into a new buffer. */
CF_MUST_CHECK int db_get_bytea(const PGresult *res, int row, int col, uint8_t **out, size_t *len);

/* Column helpers: the text value of (row, col), or NULL for SQL NULL. */
const char *db_get(const PGresult *res, int row, int col);
CF_MUST_CHECK int db_get_i64(const PGresult *res, int row, int col, int64_t *out);

#endif
