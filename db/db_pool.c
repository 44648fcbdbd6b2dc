/*
 * db_pool.c - the libpq connection pool, statement execution and transactions.
 *
 * Checkout takes any free slot; a slot's connection is made or remade outside the lock. A
 * connection is checked for liveness at checkout (a readable idle socket means the server sent
 * something: usually its goodbye after a restart), and marked broken when a query fails with a
 * connection error, so it is replaced rather than reused.
 */
#include <poll.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <libpq-fe.h>

#include "cf_codec.h"
#include "cf_json.h"
#include "cf_log.h"
#include "cf_mem.h"
#include "cf_str.h"
#include "cf_time.h"
#include "db.h"
#include "db_internal.h"

struct db_pool {
    pthread_mutex_t lock; /* guards conns and busy */
    pthread_cond_t cond;  /* signalled when a slot becomes free */
    char *conninfo;       /* may hold a password: cleansed on close */
    struct db_conn **conns;
    bool *busy;
    size_t size;
    int timeout_ms;
    int statement_timeout_ms; /* of connections made from now on; 0: the server's default */
};

void db_pool_set_statement_timeout(struct db_pool *pool, int ms)
{
    pthread_mutex_lock(&pool->lock);
    pool->statement_timeout_ms = ms;
    pthread_mutex_unlock(&pool->lock);
}

int db_pool_open(const char *conninfo, size_t size, int acquire_timeout_ms, struct db_pool **out)
{
    pthread_condattr_t attr;

    *out = NULL;
    if (size == 0 || acquire_timeout_ms <= 0)
        return CF_EINVAL;
    struct db_pool *p = cf_xcalloc(1, sizeof(*p));
    p->conninfo = cf_xstrdup(conninfo != NULL ? conninfo : "");
    p->conns = cf_xcalloc(size, sizeof(struct db_conn *));
    p->busy = cf_xcalloc(size, sizeof(*p->busy));
    p->size = size;
    p->timeout_ms = acquire_timeout_ms;
    pthread_mutex_init(&p->lock, NULL);
    pthread_condattr_init(&attr);
    pthread_condattr_setclock(&attr, CLOCK_MONOTONIC);
    pthread_cond_init(&p->cond, &attr);
    pthread_condattr_destroy(&attr);
    *out = p;
    return 0;
}

void db_pool_close(struct db_pool *pool)
{
    if (pool == NULL)
        return;
    for (size_t i = 0; i < pool->size; i++)
        db_disconnect(pool->conns[i]);
    pthread_cond_destroy(&pool->cond);
    pthread_mutex_destroy(&pool->lock);
    cf_free_cleanse_str(pool->conninfo);
    free(pool->conns);
    free(pool->busy);
    free(pool);
}

static PGconn *connect_pg(const char *conninfo, int statement_timeout_ms)
{
    char options[64] = "";
    const char *keys[] = { "dbname", "application_name", "connect_timeout", "options", NULL };
    const char *vals[] = { conninfo, "cofferd", "5", options, NULL };

    /* a statement may not outlive the request that runs it (0: PostgreSQL's default) */
    if (statement_timeout_ms > 0 &&
        cf_fmt(options, sizeof(options), "-c statement_timeout=%d", statement_timeout_ms) != 0)
        options[0] = '\0';
    size_t first = (conninfo == NULL || *conninfo == '\0') ? 1 : 0; /* "" = libpq defaults */

    /* expand_dbname = 1: a conninfo string or URI in "dbname" is expanded; the later keys
     * fill in only what it leaves unset. */
    return PQconnectdbParams(keys + first, vals + first, 1);
}

/* libpq prints server notices on stderr by default: log them as JSON, severity only (the
 * text can quote data). */
static void on_notice(void *arg, const PGresult *res)
{
    const char *sev = PQresultErrorField(res, PG_DIAG_SEVERITY_NONLOCALIZED);
    const char *state = PQresultErrorField(res, PG_DIAG_SQLSTATE);
    (void)arg;
    cf_log(CF_LOG_DEBUG, "database notice", "{s:s, s:s}", "severity", sev ? sev : "?", "sqlstate",
           state ? state : "?");
}

/* Copies a libpq message with every "quoted" span replaced by "...": a conninfo it cannot
 * parse is quoted back, password included. */
static void redact_quoted(const char *in, char *out, size_t cap)
{
    size_t o = 0;
    bool quoted = false;

    for (const char *p = in; *p != '\0' && o + 4 < cap; p++) {
        if (*p == '"') {
            quoted = !quoted;
            if (quoted) {
                memcpy(out + o, "\"...", 4);
                o += 4;
            } else {
                out[o++] = '"';
            }
        } else if (!quoted) {
            out[o++] = *p;
            if (*p == '\n' || *p == '\t')
                out[o - 1] = ' ';
        }
    }
    out[o] = '\0';
}

static int connect_with(const char *conninfo, int statement_timeout_ms, struct db_conn **out);

int db_connect(const char *conninfo, struct db_conn **out)
{
    return connect_with(conninfo, 0, out);
}

static int connect_with(const char *conninfo, int statement_timeout_ms, struct db_conn **out)
{
    *out = NULL;
    PGconn *pg = connect_pg(conninfo, statement_timeout_ms);
    if (pg == NULL)
        return CF_EUNAVAIL;
    if (PQstatus(pg) != CONNECTION_OK) {
        char msg[512];
        redact_quoted(PQerrorMessage(pg), msg, sizeof(msg));
        cf_log(CF_LOG_WARN, "database connection failed", "{s:s}", "error", msg);
        PQfinish(pg);
        return CF_EUNAVAIL;
    }
    PQsetNoticeReceiver(pg, on_notice, NULL);
    struct db_conn *c = cf_xcalloc(1, sizeof(*c));
    c->pg = pg;
    c->slot = SIZE_MAX;
    *out = c;
    return 0;
}

void db_disconnect(struct db_conn *conn)
{
    if (conn == NULL)
        return;
    PQfinish(conn->pg);
    free(conn);
}

/* True if an idle connection is still usable. Reads (and drops) whatever the server sent
 * while it sat in the pool. */
static bool conn_alive(struct db_conn *c)
{
    if (PQstatus(c->pg) != CONNECTION_OK)
        return false;
    struct pollfd pfd = { .fd = PQsocket(c->pg), .events = POLLIN };
    if (pfd.fd < 0)
        return false;
    /* A server that goes away sends its FATAL message, then closes: a few reads reach the
     * end of the stream, which is what makes libpq mark the connection bad. */
    for (int i = 0; i < 4 && poll(&pfd, 1, 0) > 0; i++) {
        if (PQconsumeInput(c->pg) != 1)
            return false;
        PGnotify *n;
        while ((n = PQnotifies(c->pg)) != NULL)
            PQfreemem(n);
    }
    return PQstatus(c->pg) == CONNECTION_OK;
}

/* Takes a free slot (preferring one with a connection); CF_EUNAVAIL after the timeout. */
static int take_slot(struct db_pool *pool, size_t *slot_out, struct db_conn **conn_out)
{
    struct timespec deadline;
    int r = CF_EUNAVAIL;

    /* the pool's wait, and never past the deadline of the request this thread serves */
    int64_t wait_ms = cf_request_budget_ms(pool->timeout_ms);
    if (wait_ms <= 0)
        return CF_EUNAVAIL;
    cf_deadline_ms((int)wait_ms, &deadline); /* <= timeout_ms, an int */
    pthread_mutex_lock(&pool->lock);
    for (;;) {
        size_t pick = SIZE_MAX;
        for (size_t i = 0; i < pool->size; i++) {
            if (pool->busy[i])
                continue;
            if (pick == SIZE_MAX || (pool->conns[pick] == NULL && pool->conns[i] != NULL))
                pick = i;
        }
        if (pick != SIZE_MAX) {
            pool->busy[pick] = true;
            *slot_out = pick;
            *conn_out = pool->conns[pick];
            pool->conns[pick] = NULL;
            r = 0;
            break;
        }
        if (pthread_cond_timedwait(&pool->cond, &pool->lock, &deadline) != 0)
            break; /* ETIMEDOUT (the only error possible here) */
    }
    pthread_mutex_unlock(&pool->lock);
    return r;
}

static void give_slot(struct db_pool *pool, size_t slot, struct db_conn *conn)
{
    pthread_mutex_lock(&pool->lock);
    pool->conns[slot] = conn;
    pool->busy[slot] = false;
    pthread_cond_signal(&pool->cond);
    pthread_mutex_unlock(&pool->lock);
}

int db_acquire(struct db_pool *pool, struct db_conn **out)
{
    struct db_conn *c = NULL;
    size_t slot;
    int r;

    *out = NULL;
    if ((r = take_slot(pool, &slot, &c)) != 0) {
        cf_log(CF_LOG_WARN, "database pool exhausted", "{s:i}", "timeout_ms", pool->timeout_ms);
        return r;
    }
    if (c != NULL && !conn_alive(c)) {
        cf_log(CF_LOG_INFO, "dropping a broken database connection", NULL);
        db_disconnect(c);
        c = NULL;
    }
    if (c == NULL && (r = connect_with(pool->conninfo, pool->statement_timeout_ms, &c)) != 0) {
        give_slot(pool, slot, NULL);
        return r;
    }
    c->slot = slot;
    c->broken = false;
    *out = c;
    return 0;
}

void db_release(struct db_pool *pool, struct db_conn *conn)
{
    if (conn == NULL)
        return;
    size_t slot = conn->slot;
    /* a connection left in a transaction (or an aborted one) is not trusted again */
    if (conn->broken || PQtransactionStatus(conn->pg) != PQTRANS_IDLE) {
        db_disconnect(conn);
        conn = NULL;
    }
    give_slot(pool, slot, conn);
}

void db_pool_counts(struct db_pool *pool, size_t *idle, size_t *busy)
{
    size_t nidle = 0, nbusy = 0;

    pthread_mutex_lock(&pool->lock);
    for (size_t i = 0; i < pool->size; i++) {
        if (pool->busy[i]) {
            nbusy++;
        } else if (pool->conns[i] != NULL) {
            nidle++;
        }
    }
    pthread_mutex_unlock(&pool->lock);
    *idle = nidle;
    *busy = nbusy;
}

static _Atomic uint64_t db_errors;

uint64_t db_error_count(void)
{
    return atomic_load_explicit(&db_errors, memory_order_relaxed);
}

int db_result_err(struct db_conn *c, const PGresult *res, const char *what)
{
    atomic_fetch_add_explicit(&db_errors, 1, memory_order_relaxed);
    const char *state = res != NULL ? PQresultErrorField(res, PG_DIAG_SQLSTATE) : NULL;
    const char *primary = res != NULL ? PQresultErrorField(res, PG_DIAG_MESSAGE_PRIMARY) : NULL;
    int r = CF_EDB;

    if (PQstatus(c->pg) != CONNECTION_OK || state == NULL || strncmp(state, "08", 2) == 0 ||
        strncmp(state, "57P", 3) == 0) {
        c->broken = true; /* lost, or the server is shutting down or restarting (57P) */
        r = CF_EUNAVAIL;
    } else if (strcmp(state, "23505") == 0 || strcmp(state, "40001") == 0 ||
               strcmp(state, "40P01") == 0) {
        r = CF_ECONFLICT;
    } else if (strncmp(state, "23", 2) == 0) {
        r = CF_EINVAL;
    } else if (strcmp(state, "42501") == 0) {
        r = CF_EDENIED;
    } else if (strcmp(state, "57014") == 0 || strcmp(state, "55P03") == 0 ||
               strncmp(state, "53", 2) == 0) {
        r = CF_EUNAVAIL; /* timeout, lock not available, out of resources: transient */
    }
    /* SQLSTATE and the primary message only: DETAIL can quote row values */
    cf_log(r == CF_ECONFLICT ? CF_LOG_INFO : CF_LOG_WARN, "database error", "{s:s, s:s, s:s}",
           "what", what, "sqlstate", state != NULL ? state : "none", "message",
           primary != NULL ? primary : "(connection lost)");
    return r;
}

static bool is_prepared(const struct db_conn *c, const struct db_stmt *st)
{
    for (size_t i = 0; i < c->nprepared; i++) {
        if (c->prepared[i] == st)
            return true;
    }
    return false;
}

int db_prepare(struct db_conn *c, const struct db_stmt *st)
{
    if (is_prepared(c, st))
        return 0;
    if (c->nprepared >= DB_MAX_STMTS)
        return CF_EINTERNAL;
    PGresult *res = PQprepare(c->pg, st->name, st->sql, st->nparams, NULL);
    int r = 0;
    if (PQresultStatus(res) != PGRES_COMMAND_OK) {
        r = db_result_err(c, res, st->name);
    } else {
        c->prepared[c->nprepared++] = st;
    }
    PQclear(res);
    return r;
}

static int exec_as(struct db_conn *c, const struct db_stmt *st, const char *const *params,
                   const int *lengths, const int *formats, int result_format, PGresult **res_out)
{
    int r;

    *res_out = NULL;
    if ((r = db_prepare(c, st)) != 0)
        return r;
    PGresult *res =
        PQexecPrepared(c->pg, st->name, st->nparams, params, lengths, formats, result_format);
    ExecStatusType s = PQresultStatus(res);
    if (s != PGRES_COMMAND_OK && s != PGRES_TUPLES_OK) {
        r = db_result_err(c, res, st->name);
        PQclear(res);
        return r;
    }
    *res_out = res;
    return 0;
}

int db_exec(struct db_conn *c, const struct db_stmt *st, const char *const *params,
            const int *lengths, const int *formats, PGresult **res_out)
{
    return exec_as(c, st, params, lengths, formats, 0, res_out);
}

int db_exec_binary(struct db_conn *c, const struct db_stmt *st, const char *const *params,
                   PGresult **res_out)
{
    return exec_as(c, st, params, NULL, NULL, 1, res_out);
}

int db_pipeline_begin(struct db_conn *c)
{
    if (PQenterPipelineMode(c->pg) != 1) {
        c->broken = true;
        return CF_EUNAVAIL;
    }
    return 0;
}

int db_pipeline_send(struct db_conn *c, const struct db_stmt *st, const char *const *params)
{
    if (PQsendQueryPrepared(c->pg, st->name, st->nparams, params, NULL, NULL, 0) != 1) {
        c->broken = true;
        return CF_EUNAVAIL;
    }
    return 0;
}

int db_pipeline_result(struct db_conn *c, const char *what, PGresult **res_out)
{
    *res_out = NULL;
    if (PQsendFlushRequest(c->pg) != 1 || PQflush(c->pg) != 0) {
        c->broken = true;
        return CF_EUNAVAIL;
    }
    PGresult *res = PQgetResult(c->pg);
    ExecStatusType s = PQresultStatus(res);
    if (s != PGRES_COMMAND_OK && s != PGRES_TUPLES_OK) {
        int r = db_result_err(c, res, what);
        PQclear(res);
        return r;
    }
    PGresult *end = PQgetResult(c->pg); /* NULL: the end of this statement's results */
    if (end != NULL) {
        PQclear(end);
        PQclear(res);
        c->broken = true;
        return CF_EDB;
    }
    *res_out = res;
    return 0;
}

int db_pipeline_end(struct db_conn *c, int r, const char *what)
{
    int first = r;
    int nulls = 0;

    if (PQpipelineSync(c->pg) != 1) {
        c->broken = true;
        return first != 0 ? first : CF_EUNAVAIL;
    }
    for (;;) {
        PGresult *res = PQgetResult(c->pg);
        if (res == NULL) {
            /* NULL ends each statement's results; more in a row than statements sent means
             * the connection is gone */
            if (++nulls > DB_PIPELINE_MAX || PQstatus(c->pg) != CONNECTION_OK) {
                c->broken = true;
                return first != 0 ? first : CF_EUNAVAIL;
            }
            continue;
        }
        nulls = 0;
        ExecStatusType s = PQresultStatus(res);
        if (s == PGRES_PIPELINE_SYNC) {
            PQclear(res);
            break;
        }
        if (s == PGRES_FATAL_ERROR && first == 0) {
            first = db_result_err(c, res, what);
        } else if (s == PGRES_PIPELINE_ABORTED && first == 0) {
            first = CF_EDB;
        }
        PQclear(res);
    }
    if (PQexitPipelineMode(c->pg) != 1) {
        c->broken = true;
        return first != 0 ? first : CF_EUNAVAIL;
    }
    return first;
}

int db_exec_script(struct db_conn *c, const char *label, const char *sql)
{
    /* constant or trusted SQL only (BEGIN, COMMIT, a migration file): never data */
    PGresult *res = PQexec(c->pg, sql);
    int r = 0;
    if (PQresultStatus(res) != PGRES_COMMAND_OK && PQresultStatus(res) != PGRES_TUPLES_OK)
        r = db_result_err(c, res, label);
    PQclear(res);
    return r;
}

int db_exec_const(struct db_conn *c, const char *sql)
{
    return db_exec_script(c, sql, sql);
}

int db_tx_begin(struct db_conn *conn)
{
    return db_exec_const(conn, "BEGIN");
}

int db_tx_begin_snapshot(struct db_conn *conn)
{
    return db_exec_const(conn, "BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY");
}

int db_tx_end(struct db_conn *conn, int r)
{
    if (r == 0)
        return db_exec_const(conn, "COMMIT");
    if (PQstatus(conn->pg) == CONNECTION_OK) {
        int rr = db_exec_const(conn, "ROLLBACK");
        (void)rr; /* the first error is the one that matters; a failed ROLLBACK marks broken */
    }
    return r;
}

int db_write_lock(struct db_conn *conn)
{
    static const struct db_stmt q = { "write_lock",
                                      "SELECT pg_advisory_xact_lock(7166504716342845441)", 0 };
    PGresult *res;
    int r;

    /* a writer stuck behind the lock gives up (CF_EUNAVAIL) rather than hold its request */
    if ((r = db_exec_const(conn, "SET LOCAL lock_timeout = '" DB_WRITE_LOCK_WAIT "'")) != 0)
        return r;
    r = db_exec(conn, &q, NULL, NULL, NULL, &res);
    PQclear(res);
    return r;
}

int db_ping(struct db_conn *conn)
{
    static const struct db_stmt q = { "db_ping", "SELECT 1", 0 };
    PGresult *res;
    int r = db_exec(conn, &q, NULL, NULL, NULL, &res);
    PQclear(res);
    return r == 0 ? 0 : CF_EUNAVAIL;
}

int db_exec_json(struct db_conn *c, const struct db_stmt *st, const char *const *params,
                 const int *lengths, const int *formats, json_t **out)
{
    PGresult *res = NULL;
    int r;

    *out = NULL;
    if ((r = db_exec(c, st, params, lengths, formats, &res)) != 0)
        return r;
    if (PQntuples(res) == 0 || PQgetisnull(res, 0, 0)) {
        r = CF_ENOTFOUND;
    } else {
        size_t len = (size_t)PQgetlength(res, 0, 0); /* >= 0 for a present value */
        *out = cf_json_parse(PQgetvalue(res, 0, 0), len, 0, NULL);
        r = *out != NULL ? 0 : CF_EDB;
    }
    PQclear(res);
    return r;
}

int db_exec_json_once(struct db_conn *c, const char *sql, int nparams, const char *const *params,
                      json_t **out)
{
    int r = 0;

    *out = NULL;
    PGresult *res = PQexecParams(c->pg, sql, nparams, NULL, params, NULL, NULL, 0);
    if (PQresultStatus(res) != PGRES_TUPLES_OK) {
        r = db_result_err(c, res, "db_exec_json_once");
    } else if (PQntuples(res) == 0 || PQgetisnull(res, 0, 0)) {
        r = CF_ENOTFOUND;
    } else {
        *out = cf_json_parse(PQgetvalue(res, 0, 0), (size_t)PQgetlength(res, 0, 0), 0, NULL);
        r = *out != NULL ? 0 : CF_EDB;
    }
    PQclear(res);
    return r;
}

int db_get_bytea(const PGresult *res, int row, int col, uint8_t **out, size_t *len)
{
    const char *v = db_get(res, row, col);
    size_t n;

    *out = NULL;
    *len = 0;
    if (v != NULL && PQfformat(res, col) == 1) { /* binary: the bytes themselves */
        n = (size_t)PQgetlength(res, row, col);  /* >= 0 */
        uint8_t *b = cf_xmalloc(n + 1);
        memcpy(b, v, n);
        *out = b;
        *len = n;
        return 0;
    }
    if (v == NULL || strncmp(v, "\\x", 2) != 0)
        return CF_EDB;
    n = strlen(v + 2);
    uint8_t *b = cf_xmalloc(n / 2 + 1);
    if (cf_hex_decode(v + 2, n, b, n / 2 + 1) != 0) {
        free(b);
        return CF_EDB;
    }
    *out = b;
    *len = n / 2;
    return 0;
}

const char *db_get(const PGresult *res, int row, int col)
{
    if (PQgetisnull(res, row, col))
        return NULL;
    return PQgetvalue(res, row, col);
}

int db_get_i64(const PGresult *res, int row, int col, int64_t *out)
{
    const char *v = db_get(res, row, col);
    if (v == NULL)
        return CF_ENOTFOUND;
    return cf_parse_i64(v, INT64_MIN, INT64_MAX, out) == 0 ? 0 : CF_EDB;
}
