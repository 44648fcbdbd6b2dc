/* db_audit.c - access-log queries. */
#include "db_audit.h"

#include <stdlib.h>
#include <string.h>

#include <libpq-fe.h>

#include "cf_json.h"
#include "cf_mem.h"
#include "cf_str.h"
#include "db_internal.h"

static const struct db_stmt lock_head_q = {
    "audit_lock_head",
    "SELECT head_id, head_hash, (extract(epoch FROM now_time) * 1000000)::bigint, catalog"
    " FROM audit_lock_head()",
    0
};

static const struct db_stmt insert_batch_q = {
    "audit_insert_batch",
    "INSERT INTO audit_log (id, time, request_id, actor_type, actor, source_ip, action,"
    " resource_type, resource_id, revision, result, reason, prev_hash, hash, peer_ip)"
    " SELECT id, time, request_id, actor_type, actor, source_ip, action, resource_type,"
    " resource_id, revision, result, reason, prev_hash, hash, peer_ip"
    " FROM json_populate_recordset(NULL::audit_log, $1::json) ORDER BY id",
    1
};

static int read_head(const PGresult *res, int64_t *head_id, char head_hash[CF_SHA256_HEX_LEN + 1],
                     int64_t *now_us, int64_t *catalog)
{
    if (PQntuples(res) != 1 || db_get_i64(res, 0, 0, head_id) != 0 ||
        db_get_i64(res, 0, 2, now_us) != 0 || db_get_i64(res, 0, 3, catalog) != 0 ||
        cf_fmt(head_hash, CF_SHA256_HEX_LEN + 1, "%s", db_get(res, 0, 1)) != 0)
        return CF_EDB;
    return 0;
}

int db_audit_lock_head(struct db_conn *c, int64_t *head_id, char head_hash[CF_SHA256_HEX_LEN + 1],
                       int64_t *now_us, int64_t *catalog)
{
    PGresult *res = NULL;
    int r;

    if ((r = db_exec(c, &lock_head_q, NULL, NULL, NULL, &res)) != 0)
        return r;
    r = read_head(res, head_id, head_hash, now_us, catalog);
    PQclear(res);
    return r;
}

int db_audit_append_lock(struct db_conn *c, int64_t *head_id, char head_hash[CF_SHA256_HEX_LEN + 1],
                         int64_t *now_us, int64_t *catalog)
{
    PGresult *res = NULL;
    int r;

    if ((r = db_prepare(c, &lock_head_q)) != 0 || (r = db_prepare(c, &insert_batch_q)) != 0 ||
        (r = db_pipeline_begin(c)) != 0)
        return r;
    if ((r = db_pipeline_send(c, &lock_head_q, NULL)) == 0 &&
        (r = db_pipeline_result(c, lock_head_q.name, &res)) == 0) {
        r = read_head(res, head_id, head_hash, now_us, catalog);
        PQclear(res);
    }
    if (r != 0)
        return db_pipeline_end(c, r, lock_head_q.name);
    return 0;
}

int db_audit_append_finish(struct db_conn *c, const json_t *rows, int r)
{
    char *text = NULL;

    if (r == 0 && (text = json_dumps(rows, JSON_COMPACT)) == NULL)
        r = CF_EINVAL;
    if (r == 0) {
        const char *params[] = { text };
        r = db_pipeline_send(c, &insert_batch_q, params);
    }
    r = db_pipeline_end(c, r, insert_batch_q.name);
    cf_json_free_str(text);
    return r;
}

int db_audit_head(struct db_conn *c, int64_t *head_id, char head_hash[CF_SHA256_HEX_LEN + 1])
{
    static const struct db_stmt q = { "audit_head", "SELECT id, hash FROM audit_head", 0 };
    PGresult *res = NULL;
    int r;

    if ((r = db_exec(c, &q, NULL, NULL, NULL, &res)) != 0)
        return r;
    if (PQntuples(res) != 1 || db_get_i64(res, 0, 0, head_id) != 0 ||
        cf_fmt(head_hash, CF_SHA256_HEX_LEN + 1, "%s", db_get(res, 0, 1)) != 0)
        r = CF_EDB;
    PQclear(res);
    return r;
}

int db_audit_insert(struct db_conn *c, const struct db_audit_row *row)
{
    static const struct db_stmt q = {
        "audit_insert",
        "INSERT INTO audit_log (id, time, request_id, actor_type, actor, source_ip, action,"
        " resource_type, resource_id, revision, result, reason, prev_hash, hash, peer_ip)"
        " VALUES ($1::bigint, $2::timestamptz, $3, $4, $5, $6, $7, $8, $9, $10::integer, $11,"
        " $12, $13, $14, $15)",
        15
    };
    char id[24], revision[24];
    PGresult *res = NULL;
    int r;

    if ((r = cf_fmt(id, sizeof(id), "%lld", (long long)row->id)) != 0 ||
        (r = cf_fmt(revision, sizeof(revision), "%lld", (long long)row->revision)) != 0)
        return r;
    const char *params[] = { id,
                             row->time,
                             row->request_id,
                             row->actor_type,
                             row->actor,
                             row->source_ip,
                             row->action,
                             row->resource_type,
                             row->resource_id,
                             row->has_revision ? revision : NULL,
                             row->result,
                             row->reason,
                             row->prev_hash,
                             row->hash,
                             row->peer_ip };
    r = db_exec(c, &q, params, NULL, NULL, &res);
    PQclear(res);
    return r;
}

#define AUDIT_ROW_JSON(t)                                                                          \
    "json_build_object('id', " t ".id, 'time', " DB_TS(                                            \
        t ".time") ", 'request_id', " t ".request_id, 'actor_type', " t ".actor_type, 'actor', " t \
                   ".actor, 'source_ip', " t ".source_ip, 'peer_ip', " t ".peer_ip, 'action', " t  \
                   ".action, 'resource_type', " t ".resource_type, 'resource_id', " t              \
                   ".resource_id, 'revision', " t ".revision, 'result', " t                        \
                   ".result, 'reason', " t ".reason, 'prev_hash', " t ".prev_hash, 'hash', " t     \
                   ".hash, 'actor_proven', " t ".actor_type <> 'anonymous')"

#define AUDIT_FILTERS                                                                              \
    " WHERE ($1::timestamptz IS NULL OR a.time >= $1::timestamptz)"                                \
    " AND ($2::timestamptz IS NULL OR a.time < $2::timestamptz)"                                   \
    " AND ($3::text IS NULL OR a.actor = $3) AND ($4::text IS NULL OR a.actor_type = $4)"          \
    " AND ($5::jsonb IS NULL OR a.action = ANY(" DB_TEXT_ARRAY(                                    \
        "$5") "))"                                                                                 \
              " AND ($6::text IS NULL OR a.resource_type = $6)"                                    \
              " AND ($7::text IS NULL OR a.resource_id = $7) AND ($8::text IS NULL OR a.result = " \
              "$8)"                                                                                \
              " AND ($9::text IS NULL OR a.request_id = $9)"

/* The page's rows (limit + 1 are read: one more tells whether a next page exists), with their
 * JSON, whether more match, and the page's last id, in one statement. Planned per call
 * (unnamed statements): the filters that are NULL fold away and the index of the one that is
 * given is used. */
#define AUDIT_PAGE(where_after, order, last)                                                       \
    "WITH x AS (SELECT a.id, " AUDIT_ROW_JSON(                                                     \
        "a") " AS j FROM audit_log a" AUDIT_FILTERS where_after " ORDER BY a.id " order            \
             " LIMIT $11::bigint + 1)"                                                             \
             " SELECT coalesce(json_agg(y.j ORDER BY y.id " order "), '[]')::text,"                \
             " (SELECT count(*) FROM x) > $11::bigint, coalesce(" last "(y.id), 0)"                \
             " FROM (SELECT id, j FROM x ORDER BY id " order " LIMIT $11::bigint) y"

int db_audit_query(struct db_conn *c, const struct db_audit_filter *f, struct db_audit_page *out)
{
    static const char asc[] = AUDIT_PAGE(" AND a.id > $10::bigint", "", "max");
    static const char desc[] =
        AUDIT_PAGE(" AND ($10::bigint = 0 OR a.id < $10::bigint)", "DESC", "min");
    char after[24], limit[24];
    int r = 0;

    *out = (struct db_audit_page){ 0 };
    if (cf_fmt(after, sizeof(after), "%lld", (long long)f->after_id) != 0 ||
        cf_fmt(limit, sizeof(limit), "%lld", (long long)f->limit) != 0)
        return CF_EINVAL;
    const char *params[] = { f->since,
                             f->until,
                             f->actor,
                             f->actor_type,
                             f->actions_json,
                             f->resource_type,
                             f->resource_id,
                             f->result,
                             f->request_id,
                             after,
                             limit };
    PGresult *res = PQexecParams(c->pg, f->ascending ? asc : desc, 11, NULL, params, NULL, NULL, 0);
    if (PQresultStatus(res) != PGRES_TUPLES_OK) {
        r = db_result_err(c, res, "audit_query");
    } else if (PQntuples(res) != 1 || PQgetisnull(res, 0, 0) ||
               db_get_i64(res, 0, 2, &out->last_id) != 0) {
        r = CF_EDB;
    } else {
        out->events_len = (size_t)PQgetlength(res, 0, 0); /* >= 0 */
        out->events = cf_xstrndup(PQgetvalue(res, 0, 0), out->events_len);
        out->more = strcmp(PQgetvalue(res, 0, 1), "t") == 0;
    }
    PQclear(res);
    return r;
}
#undef AUDIT_PAGE

void db_audit_page_free(struct db_audit_page *p)
{
    free(p->events);
    *p = (struct db_audit_page){ 0 };
}

int db_audit_range(struct db_conn *c, int64_t from_id, int64_t to_id, int64_t limit,
                   json_t **rows_out)
{
    static const struct db_stmt q = {
        "audit_range",
        "SELECT coalesce(json_agg(x.j ORDER BY x.id), '[]')::text FROM (SELECT "
        "a.id, " AUDIT_ROW_JSON("a") " AS j FROM audit_log a WHERE a.id BETWEEN $1::bigint AND"
                                     " $2::bigint ORDER BY a.id LIMIT $3::bigint) x",
        3
    };
    char from[24], to[24], lim[24];

    if (cf_fmt(from, sizeof(from), "%lld", (long long)from_id) != 0 ||
        cf_fmt(to, sizeof(to), "%lld", (long long)to_id) != 0 ||
        cf_fmt(lim, sizeof(lim), "%lld", (long long)limit) != 0)
        return CF_EINVAL;
    const char *params[] = { from, to, lim };
    return db_exec_json(c, &q, params, NULL, NULL, rows_out);
}

int db_audit_count_after(struct db_conn *c, int64_t id, int64_t *count_out)
{
    static const struct db_stmt q = { "audit_count_after",
                                      "SELECT count(*) FROM audit_log WHERE id > $1::bigint", 1 };
    char v[24];
    PGresult *res = NULL;
    int r;

    if (cf_fmt(v, sizeof(v), "%lld", (long long)id) != 0)
        return CF_EINVAL;
    const char *params[] = { v };
    if ((r = db_exec(c, &q, params, NULL, NULL, &res)) != 0)
        return r;
    r = db_get_i64(res, 0, 0, count_out);
    PQclear(res);
    return r;
}
