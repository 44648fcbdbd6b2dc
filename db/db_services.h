/*
 * db_services.h - queries on services, their revisions and their credential mapping.
 *
 * Rows come back as jansson objects: id, account, enabled, revision, modified_date,
 * modified_by, credentials (the mapped credential ids, sorted). All functions run on the
 * caller's connection (and transaction).
 */
#ifndef DB_SERVICES_H
#define DB_SERVICES_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <jansson.h>

#include "cf_err.h"
#include "db.h"
#include "db_credentials.h"

/* A new revision of a service (borrowed strings). */
struct db_service_write {
    const char *id;
    int64_t revision;    /* 1 on create */
    const char *account; /* NULL */
    bool enabled;
    const char *credentials_json; /* a JSON array of existing credential ids, without repeats */
    const char *modified_by;
};

/* Creates a service at revision 1 with its mapping. CF_ECONFLICT if the id exists. */
CF_MUST_CHECK int db_service_insert(struct db_conn *c, const struct db_service_write *w,
                                    json_t **row_out);

/* Writes revision w->revision of an existing service (locked by db_service_get with
 * for_update) and replaces its mapping. */
CF_MUST_CHECK int db_service_update(struct db_conn *c, const struct db_service_write *w,
                                    json_t **row_out);

/* The catalog version (migration 0003): every write that committed before this read has a
 * version at most *out, so rows read after it show at least those writes. */
CF_MUST_CHECK int db_catalog_version(struct db_conn *c, int64_t *out);

/* Reads the current row, locking it FOR UPDATE when asked. CF_ENOTFOUND if absent. */
CF_MUST_CHECK int db_service_get(struct db_conn *c, const char *id, bool for_update,
                                 json_t **row_out);

/* Reads one revision (credentials as mapped then). CF_ENOTFOUND if absent. */
CF_MUST_CHECK int db_service_get_revision(struct db_conn *c, const char *id, int64_t revision,
                                          json_t **row_out);

/* Every revision of a service, ascending. An empty array if none. */
CF_MUST_CHECK int db_service_revisions(struct db_conn *c, const char *id, json_t **rows_out);

/* Current rows sorted by lower(id), id, after (after_lower, after_id) when given; at most
 * limit rows (limit < 0: all). Each row also has "_sort": its lower(id). */
CF_MUST_CHECK int db_service_list(struct db_conn *c, const char *after_lower, const char *after_id,
                                  int64_t limit, json_t **rows_out);

#endif
