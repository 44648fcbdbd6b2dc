/* db_credentials.c - credentials, their revisions, and change notifications. */
#include "db_credentials.h"

#include <stdlib.h>
#include <string.h>

#include <libpq-fe.h>

#include "cf_json.h"
#include "cf_mem.h"
#include "cf_str.h"
#include "db_internal.h"

/* A credential row (current or revision) as the API's JSON object; t is the table alias and
 * idcol its id column. */
#define CRED_JSON(t, idcol)                                                                        \
    "json_build_object('id', " t "." idcol ", 'name', " t ".name, 'revision', " t ".revision, "    \
    "'enabled', " t ".enabled, 'documentation', " t ".documentation, 'metadata', " t ".metadata, " \
    "'credential_keys', to_json(" t ".credential_keys), 'tags', to_json(" t ".tags), "             \
    "'last_rotation_date', " DB_TS(                                                                \
        t                                                                                          \
        ".last_rotation_date") ", "                                                                \
                               "'modified_date', " DB_TS(t ".modified_date") ", 'modified_by', " t \
                                                                             ".modified_by)"

/* Read by statements with binary results (struct db_stmt): every column but the bytea ones is
 * text, so that the text parsers read it unchanged. */
#define SEALED_COLS "r.format_version::text, r.kms_key_id::text, r.data_key, r.nonce, r.ciphertext"

void db_sealed_free(struct db_sealed *s)
{
    if (s == NULL)
        return;
    free(s->kms_key_id);
    free(s->data_key);
    free(s->nonce);
    free(s->ciphertext);
    *s = (struct db_sealed){ 0 };
}

/* Reads row 0: column 0 is the JSON row, columns 1..5 the sealed payload (if wanted). */
static int read_row(const PGresult *res, json_t **row_out, struct db_sealed *sealed_out)
{
    int64_t version;

    if (PQntuples(res) != 1)
        return CF_ENOTFOUND;
    const char *text = PQgetvalue(res, 0, 0);
    *row_out = cf_json_parse(text, strlen(text), 0, NULL);
    if (*row_out == NULL)
        return CF_EDB;
    if (sealed_out == NULL)
        return 0;
    const char *key_id = db_get(res, 0, 2);
    if (db_get_i64(res, 0, 1, &version) != 0 || key_id == NULL ||
        db_get_bytea(res, 0, 3, &sealed_out->data_key, &sealed_out->data_key_len) != 0 ||
        db_get_bytea(res, 0, 4, &sealed_out->nonce, &sealed_out->nonce_len) != 0 ||
        db_get_bytea(res, 0, 5, &sealed_out->ciphertext, &sealed_out->ciphertext_len) != 0)
        return CF_EDB;
    sealed_out->version = (int)version; /* a smallint */
    sealed_out->kms_key_id = cf_xstrdup(key_id);
    return 0;
}

static int exec_row(struct db_conn *c, const struct db_stmt *st, const char *const *params,
                    json_t **row_out, struct db_sealed *sealed_out)
{
    PGresult *res = NULL;
    int r;

    *row_out = NULL;
    if (sealed_out != NULL)
        *sealed_out = (struct db_sealed){ 0 };
    if ((r = db_exec_binary(c, st, params, &res)) != 0)
        return r;
    r = read_row(res, row_out, sealed_out);
    PQclear(res);
    if (r != 0) {
        json_decref(*row_out);
        *row_out = NULL;
        db_sealed_free(sealed_out);
    }
    return r;
}

int db_credential_get(struct db_conn *c, const char *id, bool for_update, json_t **row_out,
                      struct db_sealed *sealed_out)
{
#define GET_SQL                                                                                    \
    "SELECT " CRED_JSON(                                                                           \
        "c",                                                                                       \
        "id") "::text, " SEALED_COLS " FROM credentials c"                                         \
              " JOIN credential_revisions r ON r.credential_id = c.id AND r.revision = c.revision" \
              " WHERE c.id = $1"
    static const struct db_stmt plain = { "credential_get", GET_SQL, 1 };
    static const struct db_stmt locked = { "credential_get_locked", GET_SQL " FOR UPDATE OF c", 1 };
#undef GET_SQL
    static const struct db_stmt lock = { "credential_lock",
                                         "SELECT 1 FROM credentials WHERE id = $1 FOR UPDATE", 1 };
    const char *params[] = { id };
    PGresult *res = NULL;
    int r;

    /* Lock the row on its own first: a join re-checked after waiting for a lock would pair
     * the new current row with its old revision and find nothing. */
    if (for_update) {
        if ((r = db_exec(c, &lock, params, NULL, NULL, &res)) != 0)
            return r;
        PQclear(res);
    }
    return exec_row(c, for_update ? &locked : &plain, params, row_out, sealed_out);
}

int db_credential_get_revision(struct db_conn *c, const char *id, int64_t revision,
                               json_t **row_out, struct db_sealed *sealed_out)
{
    static const struct db_stmt q = {
        "credential_get_revision",
        "SELECT " CRED_JSON("r",
                            "credential_id") "::text, " SEALED_COLS
                                             " FROM credential_revisions r WHERE r.credential_id = "
                                             "$1 AND r.revision = $2::integer",
        2
    };
    char rev[24];

    if (cf_fmt(rev, sizeof(rev), "%lld", (long long)revision) != 0)
        return CF_EINVAL;
    const char *params[] = { id, rev };
    return exec_row(c, &q, params, row_out, sealed_out);
}

int db_credential_revisions(struct db_conn *c, const char *id, json_t **rows_out)
{
    static const struct db_stmt q = {
        "credential_revisions",
        "SELECT coalesce(json_agg(" CRED_JSON(
            "r",
            "credential_id") " ORDER BY r.revision),"
                             " '[]')::text FROM credential_revisions r WHERE r.credential_id = $1",
        1
    };
    const char *params[] = { id };
    return db_exec_json(c, &q, params, NULL, NULL, rows_out);
}

int db_credential_list(struct db_conn *c, const char *after_lower, const char *after_id,
                       int64_t limit, json_t **rows_out)
{
    static const struct db_stmt q = {
        "credential_list",
        "SELECT coalesce(json_agg(x.j ORDER BY x.k, x.id), '[]')::text FROM ("
        " SELECT " CRED_JSON(
            "c", "id") "::jsonb || jsonb_build_object('_sort', lower(c.name)) AS j, lower(c.name) "
                       "AS k, c.id FROM credentials c"
                       " WHERE $1::text IS NULL OR (lower(c.name), c.id) > ($1::text, $2::text)"
                       " ORDER BY lower(c.name), c.id LIMIT $3::bigint) x",
        3
    };
    char lim[24];

    if (cf_fmt(lim, sizeof(lim), "%lld", (long long)limit) != 0)
        return CF_EINVAL;
    const char *params[] = { after_lower, after_id, limit < 0 ? NULL : lim };
    return db_exec_json(c, &q, params, NULL, NULL, rows_out);
}

int db_credential_id_by_name(struct db_conn *c, const char *name,
                             char id_out[DB_CREDENTIAL_ID_LEN + 1])
{
    static const struct db_stmt q = { "credential_id_by_name",
                                      "SELECT id FROM credentials WHERE name = $1", 1 };
    const char *params[] = { name };
    PGresult *res = NULL;
    int r;

    if ((r = db_exec(c, &q, params, NULL, NULL, &res)) != 0)
        return r;
    if (PQntuples(res) != 1) {
        r = CF_ENOTFOUND;
    } else if (cf_fmt(id_out, DB_CREDENTIAL_ID_LEN + 1, "%s", PQgetvalue(res, 0, 0)) != 0) {
        r = CF_EDB;
    }
    PQclear(res);
    return r;
}

int db_credential_services(struct db_conn *c, const char *id, json_t **rows_out)
{
    static const struct db_stmt q = {
        "credential_services",
        "SELECT coalesce(json_agg(json_build_object('id', s.id, 'enabled', s.enabled)"
        " ORDER BY s.id COLLATE \"C\"), '[]')::text"
        " FROM service_credentials sc JOIN services s ON s.id = sc.service_id"
        " WHERE sc.credential_id = $1",
        1
    };
    const char *params[] = { id };
    return db_exec_json(c, &q, params, NULL, NULL, rows_out);
}

int db_credential_keys_of(struct db_conn *c, const json_t *ids, json_t **map_out)
{
    static const struct db_stmt q = {
        "credential_keys_of",
        "SELECT coalesce(json_object_agg(id, credential_keys), '{}')::text FROM credentials"
        " WHERE id = ANY(" DB_TEXT_ARRAY("$1") ")",
        1
    };
    char *text = json_dumps(ids, JSON_COMPACT);
    if (text == NULL)
        return CF_EINVAL;
    const char *params[] = { text };
    int r = db_exec_json(c, &q, params, NULL, NULL, map_out);
    cf_json_free_str(text);
    return r;
}

int db_credential_neighbours(struct db_conn *c, const char *id, const json_t *keys,
                             json_t **rows_out)
{
    static const struct db_stmt q = {
        "credential_neighbours",
        "SELECT coalesce(json_agg(json_build_object('service_id', sc.service_id,"
        " 'credential_id', o.credential_id, 'credential_keys', to_json(k.credential_keys))"
        " ORDER BY sc.service_id COLLATE \"C\", o.credential_id), '[]')::text"
        " FROM service_credentials sc"
        " JOIN service_credentials o ON o.service_id = sc.service_id"
        "  AND o.credential_id <> sc.credential_id"
        " JOIN credentials k ON k.id = o.credential_id WHERE sc.credential_id = $1"
        " AND k.credential_keys && " DB_TEXT_ARRAY("$2"),
        2
    };
    char *text = json_dumps(keys, JSON_COMPACT);

    if (text == NULL)
        return CF_EINVAL;
    const char *params[] = { id, text };
    int r = db_exec_json(c, &q, params, NULL, NULL, rows_out);
    cf_json_free_str(text);
    return r;
}

int db_notify_change(struct db_conn *c, const char *kind, const char *id)
{
    static const struct db_stmt q = { "notify_change",
                                      "SELECT pg_notify('" DB_CHANGES_CHANNEL "', $1)", 1 };
    char payload[300];
    PGresult *res = NULL;

    if (cf_fmt(payload, sizeof(payload), "%s:%s", kind, id) != 0)
        return CF_EINVAL;
    const char *params[] = { payload };
    int r = db_exec(c, &q, params, NULL, NULL, &res);
    PQclear(res);
    return r;
}

/* Copies the current row of w->id into credential_revisions with the sealed payload. */
static int insert_revision(struct db_conn *c, const struct db_credential_write *w)
{
    static const struct db_stmt q = {
        "credential_revision_insert",
        "INSERT INTO credential_revisions (credential_id, revision, name, enabled, metadata,"
        " documentation, tags, credential_keys, last_rotation_date, modified_date, modified_by,"
        " format_version, kms_key_id, data_key, nonce, ciphertext)"
        " SELECT id, revision, name, enabled, metadata, documentation, tags, credential_keys,"
        " last_rotation_date, modified_date, modified_by, $2::smallint, $3, $4, $5, $6"
        " FROM credentials WHERE id = $1",
        6
    };
    const struct db_sealed *s = w->sealed;
    char version[8];
    int lens[6] = { 0 }, formats[6] = { 0, 0, 0, 1, 1, 1 }; /* bytea travels in binary */
    PGresult *res = NULL;
    int r;

    if (cf_fmt(version, sizeof(version), "%d", s->version) != 0 ||
        cf_size_to_int(s->data_key_len, &lens[3]) != 0 ||
        cf_size_to_int(s->nonce_len, &lens[4]) != 0 ||
        cf_size_to_int(s->ciphertext_len, &lens[5]) != 0)
        return CF_ETOOBIG;
    const char *params[] = { w->id,
                             version,
                             s->kms_key_id,
                             (const char *)s->data_key,
                             (const char *)s->nonce,
                             (const char *)s->ciphertext };
    if ((r = db_exec(c, &q, params, lens, formats, &res)) != 0)
        return r;
    if (strcmp(PQcmdTuples(res), "1") != 0)
        r = CF_ENOTFOUND;
    PQclear(res);
    return r;
}

/* The parameters both writes share, in the order of their SQL ($1..$11). */
static void write_params(const struct db_credential_write *w, char *rev, size_t revcap,
                         const char *params[11])
{
    if (cf_fmt(rev, revcap, "%lld", (long long)w->revision) != 0)
        rev[0] = '\0'; /* an invalid integer: the database refuses it */
    params[0] = w->id;
    params[1] = w->name;
    params[2] = rev;
    params[3] = w->enabled ? "true" : "false";
    params[4] = w->metadata_json;
    params[5] = w->documentation;
    params[6] = w->tags_json;
    params[7] = w->keys_json;
    params[8] = w->rotated_now ? "true" : "false";
    params[9] = w->last_rotation;
    params[10] = w->modified_by;
}

int db_credential_insert(struct db_conn *c, const struct db_credential_write *w, json_t **row_out)
{
    static const struct db_stmt q = {
        "credential_insert",
        "INSERT INTO credentials AS c (id, name, revision, enabled, metadata, documentation, tags,"
        " credential_keys, last_rotation_date, modified_date, modified_by)"
        " VALUES ($1, $2, $3::integer, $4::boolean, $5::jsonb, $6, " DB_TEXT_ARRAY(
            "$7") ", " DB_TEXT_ARRAY("$8") ", CASE WHEN $9::boolean THEN now() ELSE "
                                           "$10::timestamptz END,"
                                           " now(), $11) RETURNING " CRED_JSON("c", "id") "::text",
        11
    };
    const char *params[11];
    char rev[24];
    int r;

    write_params(w, rev, sizeof(rev), params);
    if ((r = exec_row(c, &q, params, row_out, NULL)) != 0)
        return r;
    if ((r = insert_revision(c, w)) != 0) {
        json_decref(*row_out);
        *row_out = NULL;
    }
    return r;
}

int db_credential_update(struct db_conn *c, const struct db_credential_write *w, json_t **row_out)
{
    static const struct db_stmt q = {
        "credential_update",
        "UPDATE credentials AS c SET name = $2, revision = $3::integer, enabled = $4::boolean,"
        " metadata = $5::jsonb, documentation = $6, tags = " DB_TEXT_ARRAY(
            "$7") ","
                  " credential_keys = " DB_TEXT_ARRAY(
                      "$8") ", last_rotation_date = CASE WHEN $9::boolean"
                            " THEN now() ELSE $10::timestamptz END, modified_date = now(), "
                            "modified_by = $11"
                            " WHERE c.id = $1 RETURNING " CRED_JSON("c", "id") "::text",
        11
    };
    const char *params[11];
    char rev[24];
    int r;

    write_params(w, rev, sizeof(rev), params);
    if ((r = exec_row(c, &q, params, row_out, NULL)) != 0)
        return r;
    if ((r = insert_revision(c, w)) != 0) {
        json_decref(*row_out);
        *row_out = NULL;
    }
    return r;
}

void db_sealed_array_free(struct db_sealed *arr, size_t n)
{
    for (size_t i = 0; arr != NULL && i < n; i++)
        db_sealed_free(&arr[i]);
    free(arr);
}

/* Reads row i of a bundle result into rows and sealed[i]. */
static int read_bundle_row(const PGresult *res, int i, json_t *rows, struct db_sealed *s)
{
    int64_t version;
    const char *text = PQgetvalue(res, i, 0);
    json_t *row = cf_json_parse(text, strlen(text), 0, NULL);
    const char *key_id = db_get(res, i, 2);

    if (row == NULL)
        return CF_EDB;
    json_array_append_new(rows, row);
    if (db_get_i64(res, i, 1, &version) != 0 || key_id == NULL ||
        db_get_bytea(res, i, 3, &s->data_key, &s->data_key_len) != 0 ||
        db_get_bytea(res, i, 4, &s->nonce, &s->nonce_len) != 0 ||
        db_get_bytea(res, i, 5, &s->ciphertext, &s->ciphertext_len) != 0)
        return CF_EDB;
    s->version = (int)version; /* a smallint */
    s->kms_key_id = cf_xstrdup(key_id);
    return 0;
}

int db_credentials_of_service(struct db_conn *c, const char *service_id, json_t **rows_out,
                              struct db_sealed **sealed_out, size_t *n_out)
{
    static const struct db_stmt q = {
        "credentials_of_service",
        "SELECT " CRED_JSON(
            "c", "id") "::text, " SEALED_COLS
                       " FROM service_credentials sc JOIN credentials c ON c.id = sc.credential_id"
                       " JOIN credential_revisions r ON r.credential_id = c.id AND r.revision = "
                       "c.revision"
                       " WHERE sc.service_id = $1 ORDER BY lower(c.name), c.id",
        1
    };
    const char *params[] = { service_id };
    PGresult *res = NULL;
    int r;

    *rows_out = NULL;
    *sealed_out = NULL;
    *n_out = 0;
    if ((r = db_exec_binary(c, &q, params, &res)) != 0)
        return r;
    size_t n = (size_t)PQntuples(res); /* >= 0 */
    json_t *rows = json_array();
    struct db_sealed *sealed = cf_xcalloc(n == 0 ? 1 : n, sizeof(*sealed));
    for (size_t i = 0; i < n && r == 0; i++)
        r = read_bundle_row(res, (int)i, rows, &sealed[i]); /* i < PQntuples: an int */
    PQclear(res);
    if (r != 0) {
        json_decref(rows);
        db_sealed_array_free(sealed, n);
        return r;
    }
    *rows_out = rows;
    *sealed_out = sealed;
    *n_out = n;
    return 0;
}
