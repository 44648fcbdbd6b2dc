/* db_tokens.c - api_tokens queries. */
#include "db_tokens.h"

#include <string.h>

#include <libpq-fe.h>

#include "cf_str.h"
#include "db_internal.h"

#define TOKEN_COLUMNS                                                                              \
    "id, name, role, created_by, coalesce(revoked_by, ''), "                                       \
    "(extract(epoch FROM created_at) * 1000000)::bigint, "                                         \
    "(extract(epoch FROM expires_at) * 1000000)::bigint, "                                         \
    "coalesce((extract(epoch FROM last_used_at) * 1000000)::bigint, 0), "                          \
    "coalesce((extract(epoch FROM revoked_at) * 1000000)::bigint, 0)"

static int copy_col(const PGresult *res, int col, char *dst, size_t cap)
{
    const char *v = db_get(res, 0, col);
    return cf_fmt(dst, cap, "%s", v != NULL ? v : "") == 0 ? 0 : CF_EDB;
}

/* Reads row 0 of a TOKEN_COLUMNS result. */
static int read_token(const PGresult *res, struct db_token *t)
{
    if (copy_col(res, 0, t->id, sizeof(t->id)) != 0 ||
        copy_col(res, 1, t->name, sizeof(t->name)) != 0 ||
        copy_col(res, 2, t->role, sizeof(t->role)) != 0 ||
        copy_col(res, 3, t->created_by, sizeof(t->created_by)) != 0 ||
        copy_col(res, 4, t->revoked_by, sizeof(t->revoked_by)) != 0 ||
        db_get_i64(res, 0, 5, &t->created_at_us) != 0 ||
        db_get_i64(res, 0, 6, &t->expires_at_us) != 0 ||
        db_get_i64(res, 0, 7, &t->last_used_at_us) != 0 ||
        db_get_i64(res, 0, 8, &t->revoked_at_us) != 0)
        return CF_EDB;
    return 0;
}

int db_token_insert(struct db_conn *c, struct db_token *t,
                    const char sha256_hex[CF_SHA256_HEX_LEN + 1], int64_t ttl_seconds)
{
    static const struct db_stmt q = {
        "token_insert",
        "INSERT INTO api_tokens (id, name, role, token_sha256, created_at, created_by, expires_at)"
        " VALUES ($1, $2, $3, $4, now(), $5, now() + make_interval(secs => $6::bigint))"
        " RETURNING " TOKEN_COLUMNS,
        6
    };
    char ttl[24];
    PGresult *res = NULL;
    int r;

    if ((r = cf_fmt(ttl, sizeof(ttl), "%lld", (long long)ttl_seconds)) != 0)
        return r;
    const char *params[] = { t->id, t->name, t->role, sha256_hex, t->created_by, ttl };
    if ((r = db_exec(c, &q, params, NULL, NULL, &res)) != 0)
        return r;
    r = PQntuples(res) == 1 ? read_token(res, t) : CF_EDB;
    PQclear(res);
    return r;
}

int db_token_find_by_hash(struct db_conn *c, const char sha256_hex[CF_SHA256_HEX_LEN + 1],
                          struct db_token *out)
{
    static const struct db_stmt q = {
        "token_find_by_hash", "SELECT " TOKEN_COLUMNS " FROM api_tokens WHERE token_sha256 = $1", 1
    };
    const char *params[] = { sha256_hex };
    PGresult *res = NULL;
    int r;

    *out = (struct db_token){ 0 };
    if ((r = db_exec(c, &q, params, NULL, NULL, &res)) != 0)
        return r;
    r = PQntuples(res) == 1 ? read_token(res, out) : CF_ENOTFOUND;
    PQclear(res);
    return r;
}

int db_token_touch(struct db_conn *c, const char *id)
{
    static const struct db_stmt q = {
        "token_touch",
        "UPDATE api_tokens SET last_used_at = now() WHERE id = $1"
        " AND (last_used_at IS NULL OR last_used_at < now() - interval '1 minute')",
        1
    };
    const char *params[] = { id };
    PGresult *res = NULL;
    int r = db_exec(c, &q, params, NULL, NULL, &res);
    PQclear(res);
    return r;
}

#define TOKEN_JSON(t)                                                                              \
    "json_build_object('id', " t ".id, 'name', " t ".name, 'role', " t                             \
    ".role, 'created_at', " DB_TS(                                                                 \
        t ".created_at") ", 'created_by', " t                                                      \
                         ".created_by, 'expires_at', " DB_TS(                                      \
                             t                                                                     \
                             ".expires_at") ", "                                                   \
                                            "'last_used_at',"                                      \
                                            " " DB_TS(                                             \
                                                t                                                  \
                                                ".last_"                                           \
                                                "used_at") ", 'revoked_at', " DB_TS(t ".revoked_"  \
                                                                                      "at") ","    \
                                                                                            " "    \
                                                                                            "'"    \
                                                                                            "r"    \
                                                                                            "e"    \
                                                                                            "v"    \
                                                                                            "o"    \
                                                                                            "k"    \
                                                                                            "e"    \
                                                                                            "d"    \
                                                                                            "_"    \
                                                                                            "b"    \
                                                                                            "y"    \
                                                                                            "'"    \
                                                                                            ","    \
                                                                                            " " t  \
                                                                                            "."    \
                                                                                            "r"    \
                                                                                            "e"    \
                                                                                            "v"    \
                                                                                            "o"    \
                                                                                            "k"    \
                                                                                            "e"    \
                                                                                            "d"    \
                                                                                            "_"    \
                                                                                            "b"    \
                                                                                            "y"    \
                                                                                            ")"

int db_token_get_json(struct db_conn *c, const char *id, json_t **row_out)
{
    static const struct db_stmt q = {
        "token_get_json", "SELECT " TOKEN_JSON("t") "::text FROM api_tokens t WHERE t.id = $1", 1
    };
    const char *params[] = { id };
    return db_exec_json(c, &q, params, NULL, NULL, row_out);
}

int db_token_list(struct db_conn *c, bool include_revoked, json_t **rows_out)
{
    static const struct db_stmt q = {
        "token_list",
        "SELECT coalesce(json_agg(" TOKEN_JSON(
            "t") " ORDER BY t.created_at DESC, t.id), '[]')"
                 "::text FROM api_tokens t"
                 " WHERE $1::boolean OR (t.revoked_at IS NULL AND t.expires_at > now())",
        1
    };
    const char *params[] = { include_revoked ? "true" : "false" };
    return db_exec_json(c, &q, params, NULL, NULL, rows_out);
}

int db_token_revoke(struct db_conn *c, const char *id, const char *actor, json_t **row_out)
{
    static const struct db_stmt q = {
        "token_revoke",
        "UPDATE api_tokens AS t SET revoked_at = coalesce(t.revoked_at, now()),"
        " revoked_by = coalesce(t.revoked_by, $2) WHERE t.id = $1"
        " RETURNING " TOKEN_JSON("t") "::text",
        2
    };
    const char *params[] = { id, actor };
    return db_exec_json(c, &q, params, NULL, NULL, row_out);
}
