/* db_audit.c - access-log queries. */
#include "db_audit.h"

#include <libpq-fe.h>

#include "cf_json.h"
#include "cf_str.h"
#include "db_internal.h"

int db_audit_lock_head(struct db_conn *c, int64_t *head_id, char head_hash[CF_SHA256_HEX_LEN + 1],
                       int64_t *now_us)
{
    static const struct db_stmt q = {
        "audit_lock_head",
        "SELECT head_id, head_hash, (extract(epoch FROM now_time) * 1000000)::bigint"
        " FROM audit_lock_head()",
        0
    };
    PGresult *res = NULL;
    int r;

    if ((r = db_exec(c, &q, NULL, NULL, NULL, &res)) != 0)
        return r;
    if (PQntuples(res) != 1 || db_get_i64(res, 0, 0, head_id) != 0 ||
        db_get_i64(res, 0, 2, now_us) != 0 ||
        cf_fmt(head_hash, CF_SHA256_HEX_LEN + 1, "%s", db_get(res, 0, 1)) != 0)
        r = CF_EDB;
    PQclear(res);
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
        " resource_type, resource_id, revision, result, reason, prev_hash, hash)"
        " VALUES ($1::bigint, $2::timestamptz, $3, $4, $5, $6, $7, $8, $9, $10::integer, $11,"
        " $12, $13, $14)",
        14
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
                             row->hash };
    r = db_exec(c, &q, params, NULL, NULL, &res);
    PQclear(res);
    return r;
}

int db_audit_insert_batch(struct db_conn *c, const json_t *rows)
{
    static const struct db_stmt q = {
        "audit_insert_batch",
        "INSERT INTO audit_log (id, time, request_id, actor_type, actor, source_ip, action,"
        " resource_type, resource_id, revision, result, reason, prev_hash, hash)"
        " SELECT id, time, request_id, actor_type, actor, source_ip, action, resource_type,"
        " resource_id, revision, result, reason, prev_hash, hash"
        " FROM json_populate_recordset(NULL::audit_log, $1::json) ORDER BY id",
        1
    };
    char *text = json_dumps(rows, JSON_COMPACT);
    PGresult *res = NULL;

    if (text == NULL)
        return CF_EINVAL;
    const char *params[] = { text };
    int r = db_exec(c, &q, params, NULL, NULL, &res);
    PQclear(res);
    cf_json_free_str(text);
    return r;
}
