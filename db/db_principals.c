/* db_principals.c - principals queries. */
#include "db_principals.h"

#include <string.h>

#include <libpq-fe.h>

#include "cf_str.h"
#include "db_internal.h"

#define PRINCIPAL_JSON(t)                                                                          \
    "json_build_object('name', " t ".name, 'role', " t                                             \
    ".role, 'created_at', " DB_TS(t ".created_at") ", 'created_by', " t                            \
                                                   ".created_by, 'modified_at', " DB_TS(           \
                                                       t ".modified_at") ", 'modified_by', " t     \
                                                                         ".modified_by)"

int db_principal_role(struct db_conn *c, const char *name, char *role, size_t rolecap)
{
    static const struct db_stmt q = { "principal_role",
                                      "SELECT role FROM principals WHERE name = $1", 1 };
    const char *params[] = { name };
    PGresult *res = NULL;
    int r;

    if ((r = db_exec(c, &q, params, NULL, NULL, &res)) != 0)
        return r;
    if (PQntuples(res) != 1) {
        r = CF_ENOTFOUND;
    } else if (cf_fmt(role, rolecap, "%s", PQgetvalue(res, 0, 0)) != 0) {
        r = CF_EDB;
    }
    PQclear(res);
    return r;
}

int db_principal_list(struct db_conn *c, json_t **rows_out)
{
    static const struct db_stmt q = { "principal_list",
                                      "SELECT coalesce(json_agg(" PRINCIPAL_JSON(
                                          "p") " ORDER BY p.name COLLATE \"C\"),"
                                               " '[]')::text FROM principals p",
                                      0 };
    return db_exec_json(c, &q, NULL, NULL, NULL, rows_out);
}

int db_principal_set(struct db_conn *c, const char *name, const char *role, const char *actor,
                     json_t **row_out, bool *created)
{
    static const struct db_stmt q = {
        "principal_set",
        "INSERT INTO principals AS p (name, role, created_at, created_by, modified_at,"
        " modified_by) VALUES ($1, $2, now(), $3, now(), $3)"
        " ON CONFLICT (name) DO UPDATE SET role = EXCLUDED.role, modified_at = now(),"
        " modified_by = EXCLUDED.modified_by"
        " RETURNING json_build_object('row', " PRINCIPAL_JSON("p") ", 'created', xmax = 0)::text",
        3
    };
    const char *params[] = { name, role, actor };
    json_t *out = NULL;
    int r = db_exec_json(c, &q, params, NULL, NULL, &out);

    *row_out = NULL;
    if (r != 0)
        return r;
    *created = json_is_true(json_object_get(out, "created"));
    *row_out = json_incref(json_object_get(out, "row"));
    json_decref(out);
    return 0;
}

int db_principal_remove(struct db_conn *c, const char *name, json_t **row_out)
{
    static const struct db_stmt q = {
        "principal_remove",
        "DELETE FROM principals AS p WHERE p.name = $1 RETURNING " PRINCIPAL_JSON("p") "::text", 1
    };
    const char *params[] = { name };
    return db_exec_json(c, &q, params, NULL, NULL, row_out);
}
