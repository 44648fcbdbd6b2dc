/*
 * bench_seed_audit.c - fills the access log with ROWS valid, chained rows for the auditor
 * benchmark: read the head, compute each row's hash with the audit module's own chain code,
 * and COPY the rows in, 50,000 to a transaction. The rows look like a fleet's: a thousand
 * services reading their bundles, now and then an admin write or a denied request, spread
 * over the last thirty days. `cofferd audit verify` accepts the result.
 *
 * Usage: bench_seed_audit CONNINFO ROWS   (CONNINFO: a role that may COPY into audit_log)
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <libpq-fe.h>

#include "audit.h"
#include "cf_mem.h"
#include "cf_str.h"
#include "cf_time.h"

#define ROWS_PER_COPY 50000

static int fail(PGconn *pg, const char *what)
{
    (void)fprintf(stderr, "bench_seed_audit: %s: %s", what, PQerrorMessage(pg));
    PQfinish(pg);
    return 1;
}

/* A statement with no parameters (the rows themselves go through COPY's data stream). */
static PGresult *exec_const(PGconn *pg, const char *sql)
{
    return PQexecParams(pg, sql, 0, NULL, NULL, NULL, NULL, 0);
}

static void copy_field(struct cf_buf *b, const char *s, char end)
{
    /* none of our values holds a tab, a newline or a backslash */
    cf_buf_append_str(b, s != NULL ? s : "\\N");
    cf_buf_append(b, &end, 1);
}

/* Builds row id's fields: mostly bundle reads, some admin writes and denials. */
static void make_row(struct db_audit_row *row, int64_t id, int64_t time_us, char *actor,
                     size_t actor_len, char *request_id)
{
    uint64_t x = (uint64_t)id * 2654435761u;

    (void)snprintf(request_id, 33, "%016llx%016llx", (unsigned long long)x, (unsigned long long)id);
    row->id = id;
    cf_time_format(time_us, row->time);
    row->request_id = request_id;
    row->source_ip = "10.0.0.1";
    if (x % 50 == 0) {
        row->actor_type = "token";
        row->actor = "admin";
        row->action = "credential.update";
        row->resource_type = "credential";
        row->resource_id = "0123456789abcdef0123456789abcdef";
        row->result = "allowed";
        row->reason = "ok";
    } else {
        (void)snprintf(actor, actor_len, "svc-%04llu", (unsigned long long)(x % 1000));
        row->actor_type = "service";
        row->actor = actor;
        row->action = "service.get";
        row->resource_type = "service";
        row->resource_id = actor;
        bool denied = x % 97 == 0;
        row->result = denied ? "denied" : "allowed";
        row->reason = denied ? "forbidden" : "ok";
    }
    row->revision = 1;
    row->has_revision = true;
}

static int copy_rows(PGconn *pg, struct db_audit_row *row, int64_t first, int64_t n,
                     int64_t start_us, int64_t step_us)
{
    struct cf_buf b = { 0 };
    char actor[32], request_id[33], id[24], rev[24];

    PQclear(exec_const(pg, "BEGIN"));
    PGresult *res =
        exec_const(pg, "COPY audit_log (id, time, request_id, actor_type, actor,"
                       " source_ip, action, resource_type, resource_id, revision, result,"
                       " reason, prev_hash, hash) FROM STDIN");
    if (PQresultStatus(res) != PGRES_COPY_IN) {
        PQclear(res);
        return -1;
    }
    PQclear(res);
    for (int64_t i = first; i < first + n; i++) {
        make_row(row, i, start_us + i * step_us, actor, sizeof(actor), request_id);
        if (audit_row_hash(row) != 0)
            return -1;
        (void)snprintf(id, sizeof(id), "%lld", (long long)row->id);
        (void)snprintf(rev, sizeof(rev), "%lld", (long long)row->revision);
        const char *f[] = { id,
                            row->time,
                            row->request_id,
                            row->actor_type,
                            row->actor,
                            row->source_ip,
                            row->action,
                            row->resource_type,
                            row->resource_id,
                            rev,
                            row->result,
                            row->reason,
                            row->prev_hash,
                            row->hash };
        for (size_t k = 0; k < 14; k++)
            copy_field(&b, f[k], k == 13 ? '\n' : '\t');
        memcpy(row->prev_hash, row->hash, sizeof(row->prev_hash));
        if (b.len > (1u << 20) || i + 1 == first + n) {
            if (PQputCopyData(pg, b.data, (int)b.len) != 1)
                return -1;
            b.len = 0;
        }
    }
    cf_buf_free(&b);
    if (PQputCopyEnd(pg, NULL) != 1)
        return -1;
    res = PQgetResult(pg);
    int ok = PQresultStatus(res) == PGRES_COMMAND_OK;
    PQclear(res);
    res = exec_const(pg, "COMMIT");
    ok = ok && PQresultStatus(res) == PGRES_COMMAND_OK;
    PQclear(res);
    return ok ? 0 : -1;
}

int main(int argc, char **argv)
{
    int64_t rows;
    struct db_audit_row row = { 0 };

    if (argc != 3 || cf_parse_i64(argv[2], 1, 100000000, &rows) != 0) {
        (void)fputs("usage: bench_seed_audit CONNINFO ROWS\n", stderr);
        return 2;
    }
    PGconn *pg = PQconnectdb(argv[1]);
    if (PQstatus(pg) != CONNECTION_OK)
        return fail(pg, "connect");
    PGresult *res = exec_const(pg, "SELECT id, hash FROM audit_head");
    if (PQresultStatus(res) != PGRES_TUPLES_OK || PQntuples(res) != 1) {
        PQclear(res);
        return fail(pg, "read the head");
    }
    int64_t head = strtoll(PQgetvalue(res, 0, 0), NULL, 10);
    (void)snprintf(row.prev_hash, sizeof(row.prev_hash), "%s", PQgetvalue(res, 0, 1));
    PQclear(res);
    /* thirty days back to now, in id order: the log's times never go backwards */
    int64_t span_us = 30LL * 86400 * 1000000, now_us = cf_now_us();
    int64_t step_us = span_us / rows, start_us = now_us - span_us - (head + 1) * step_us;
    for (int64_t done = 0; done < rows; done += ROWS_PER_COPY) {
        int64_t n = rows - done < ROWS_PER_COPY ? rows - done : ROWS_PER_COPY;
        if (copy_rows(pg, &row, head + 1 + done, n, start_us, step_us) != 0)
            return fail(pg, "copy");
    }
    PQfinish(pg);
    (void)printf("%lld\n", (long long)head + (long long)rows);
    return 0;
}
