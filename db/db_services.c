/* db_services.c - services, their revisions and their mapping. */
#include "db_services.h"

#include <stdlib.h>
#include <string.h>

#include <libpq-fe.h>

#include "cf_mem.h"
#include "cf_str.h"
#include "db_internal.h"

#define SVC_JSON(t, idcol, creds)                                                                  \
    "json_build_object('id', " t "." idcol ", 'account', " t ".account, 'enabled', " t             \
    ".enabled, 'revision', " t                                                                     \
    ".revision, 'modified_date', " DB_TS(t ".modified_date") ", "                                  \
                                                             "'modified_by', " t                   \
                                                             ".modified_by, 'credentials', " creds \
                                                             ")"

/* The mapped ids of the current service s, sorted. */
#define CURRENT_CREDS                                                                              \
    "(SELECT coalesce(json_agg(sc.credential_id ORDER BY sc.credential_id), '[]')"                 \
    " FROM service_credentials sc WHERE sc.service_id = s.id)"

static int run(struct db_conn *c, const struct db_stmt *st, const char *const *params)
{
    PGresult *res = NULL;
    int r = db_exec(c, st, params, NULL, NULL, &res);
    PQclear(res);
    return r;
}

int db_catalog_version(struct db_conn *c, int64_t *out)
{
    static const struct db_stmt q = { "catalog_version",
                                      "SELECT version FROM catalog_version WHERE singleton", 0 };
    PGresult *res = NULL;
    int r;

    if ((r = db_exec(c, &q, NULL, NULL, NULL, &res)) != 0)
        return r;
    r = PQntuples(res) == 1 ? db_get_i64(res, 0, 0, out) : CF_EDB;
    PQclear(res);
    return r;
}

int db_service_get(struct db_conn *c, const char *id, bool for_update, json_t **row_out)
{
#define GET_SQL                                                                                    \
    "SELECT " SVC_JSON("s", "id", CURRENT_CREDS) "::text FROM services s WHERE s.id = $1"
    static const struct db_stmt plain = { "service_get", GET_SQL, 1 };
    static const struct db_stmt locked = { "service_get_locked", GET_SQL " FOR UPDATE", 1 };
#undef GET_SQL
    const char *params[] = { id };
    return db_exec_json(c, for_update ? &locked : &plain, params, NULL, NULL, row_out);
}

int db_service_get_revision(struct db_conn *c, const char *id, int64_t revision, json_t **row_out)
{
    static const struct db_stmt q = {
        "service_get_revision",
        "SELECT " SVC_JSON(
            "r", "service_id",
            "to_json(r.credentials)") "::text FROM service_revisions r WHERE r.service_id = $1 AND "
                                      "r.revision = $2::integer",
        2
    };
    char rev[24];

    if (cf_fmt(rev, sizeof(rev), "%lld", (long long)revision) != 0)
        return CF_EINVAL;
    const char *params[] = { id, rev };
    return db_exec_json(c, &q, params, NULL, NULL, row_out);
}

int db_service_revisions(struct db_conn *c, const char *id, json_t **rows_out)
{
    static const struct db_stmt q = {
        "service_revisions",
        "SELECT coalesce(json_agg(" SVC_JSON(
            "r", "service_id",
            "to_json(r.credentials)") " ORDER BY r.revision), '[]')::text FROM service_revisions r "
                                      "WHERE r.service_id = $1",
        1
    };
    const char *params[] = { id };
    return db_exec_json(c, &q, params, NULL, NULL, rows_out);
}

int db_service_list(struct db_conn *c, const char *after_lower, const char *after_id, int64_t limit,
                    json_t **rows_out)
{
    static const struct db_stmt q = {
        "service_list",
        "SELECT coalesce(json_agg(x.j ORDER BY x.k, x.id), '[]')::text FROM ("
        " SELECT " SVC_JSON("s", "id",
                            CURRENT_CREDS) "::jsonb || jsonb_build_object('_sort', lower(s.id)) AS "
                                           "j, lower(s.id) AS k, s.id"
                                           " FROM services s WHERE $1::text IS NULL OR "
                                           "(lower(s.id), s.id) > ($1::text, $2::text)"
                                           " ORDER BY lower(s.id), s.id LIMIT $3::bigint) x",
        3
    };
    char lim[24];

    if (cf_fmt(lim, sizeof(lim), "%lld", (long long)limit) != 0)
        return CF_EINVAL;
    const char *params[] = { after_lower, after_id, limit < 0 ? NULL : lim };
    return db_exec_json(c, &q, params, NULL, NULL, rows_out);
}

/* Replaces the mapping and records the revision. */
static int write_mapping_and_revision(struct db_conn *c, const struct db_service_write *w)
{
    static const struct db_stmt unmap = { "service_unmap",
                                          "DELETE FROM service_credentials WHERE service_id = $1",
                                          1 };
    static const struct db_stmt map = {
        "service_map",
        "INSERT INTO service_credentials (service_id, credential_id)"
        " SELECT $1, x FROM jsonb_array_elements_text($2::jsonb) x",
        2
    };
    static const struct db_stmt rev = {
        "service_revision_insert",
        "INSERT INTO service_revisions (service_id, revision, account, enabled, credentials,"
        " modified_date, modified_by) SELECT id, revision, account, enabled, " DB_TEXT_ARRAY(
            "$2") ", modified_date, modified_by FROM services WHERE id = $1",
        2
    };
    const char *params[] = { w->id, w->credentials_json };
    int r;

    if ((r = run(c, &unmap, params)) != 0 || (r = run(c, &map, params)) != 0)
        return r;
    return run(c, &rev, params);
}

static void write_params(const struct db_service_write *w, char *rev, size_t cap,
                         const char *params[5])
{
    if (cf_fmt(rev, cap, "%lld", (long long)w->revision) != 0)
        rev[0] = '\0'; /* an invalid integer: the database refuses it */
    params[0] = w->id;
    params[1] = w->account;
    params[2] = w->enabled ? "true" : "false";
    params[3] = rev;
    params[4] = w->modified_by;
}

int db_service_insert(struct db_conn *c, const struct db_service_write *w, json_t **row_out)
{
    static const struct db_stmt q = {
        "service_insert",
        "INSERT INTO services (id, account, enabled, revision, modified_date, modified_by)"
        " VALUES ($1, $2, $3::boolean, $4::integer, now(), $5)",
        5
    };
    const char *params[5];
    char rev[24];
    int r;

    *row_out = NULL;
    write_params(w, rev, sizeof(rev), params);
    if ((r = run(c, &q, params)) != 0 || (r = write_mapping_and_revision(c, w)) != 0)
        return r;
    return db_service_get(c, w->id, false, row_out);
}

int db_service_update(struct db_conn *c, const struct db_service_write *w, json_t **row_out)
{
    static const struct db_stmt q = {
        "service_update",
        "UPDATE services SET account = $2, enabled = $3::boolean, revision = $4::integer,"
        " modified_date = now(), modified_by = $5 WHERE id = $1",
        5
    };
    const char *params[5];
    char rev[24];
    int r;

    *row_out = NULL;
    write_params(w, rev, sizeof(rev), params);
    if ((r = run(c, &q, params)) != 0 || (r = write_mapping_and_revision(c, w)) != 0)
        return r;
    return db_service_get(c, w->id, false, row_out);
}
