/*
 * db_credentials.h - queries on credentials, their revisions and the service mapping.
 *
 * Rows come back as jansson objects in the API's shape (API.md 3.1 without pairs and
 * permissions): id, name, revision, enabled, documentation, metadata, credential_keys, tags,
 * last_rotation_date, modified_date, modified_by — timestamps already formatted (API.md 1.2).
 * The sealed payload of a revision comes back separately as a struct db_sealed. All functions
 * run on the caller's connection (and transaction).
 */
#ifndef DB_CREDENTIALS_H
#define DB_CREDENTIALS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <jansson.h>

#include "cf_err.h"
#include "db.h"

#define DB_CREDENTIAL_ID_LEN 32

/* A sealed payload as stored. Owned; free with db_sealed_free(). */
struct db_sealed {
    int version;
    char *kms_key_id;
    uint8_t *data_key;
    size_t data_key_len;
    uint8_t *nonce;
    size_t nonce_len;
    uint8_t *ciphertext; /* sealed pairs and tag */
    size_t ciphertext_len;
};

void db_sealed_free(struct db_sealed *s);

/* A new revision of a credential (borrowed strings). */
struct db_credential_write {
    const char *id;
    int64_t revision; /* 1 on create */
    const char *name;
    bool enabled;
    const char *metadata_json; /* a JSON object */
    const char *documentation; /* NULL: none */
    const char *tags_json;     /* a JSON array of strings */
    const char *keys_json;     /* a JSON array of the pair keys, sorted */
    const char *last_rotation; /* an RFC 3339 time, NULL: none; ignored when rotated_now */
    bool rotated_now;          /* the pairs' values changed: last_rotation_date = now() */
    const char *modified_by;
    const struct db_sealed *sealed;
};

/* Inserts credential revision 1. CF_ECONFLICT if the name (or id) is taken. */
CF_MUST_CHECK int db_credential_insert(struct db_conn *c, const struct db_credential_write *w,
                                       json_t **row_out);

/* Writes revision w->revision of an existing credential (locked by db_credential_get with
 * for_update): the revision row and the new current row. CF_ECONFLICT if the name is taken. */
CF_MUST_CHECK int db_credential_update(struct db_conn *c, const struct db_credential_write *w,
                                       json_t **row_out);

/* Reads the current row (locking it FOR UPDATE when asked) and, if sealed_out is not NULL,
 * the sealed payload of its current revision. CF_ENOTFOUND if absent. */
CF_MUST_CHECK int db_credential_get(struct db_conn *c, const char *id, bool for_update,
                                    json_t **row_out, struct db_sealed *sealed_out);

/* Reads one revision (row in the shape above, id without suffix). CF_ENOTFOUND if absent. */
CF_MUST_CHECK int db_credential_get_revision(struct db_conn *c, const char *id, int64_t revision,
                                             json_t **row_out, struct db_sealed *sealed_out);

/* Every revision of a credential, ascending (an array of rows). An empty array if none. */
CF_MUST_CHECK int db_credential_revisions(struct db_conn *c, const char *id, json_t **rows_out);

/* Current rows sorted by lower(name), id, after the key (after_lower, after_id) when given;
 * at most limit rows (limit < 0: all). Each row also has "_sort": its lower(name), the first
 * half of a paging key. */
CF_MUST_CHECK int db_credential_list(struct db_conn *c, const char *after_lower,
                                     const char *after_id, int64_t limit, json_t **rows_out);

/* The id of the credential named name (exact match). CF_ENOTFOUND if none. */
CF_MUST_CHECK int db_credential_id_by_name(struct db_conn *c, const char *name,
                                           char id_out[DB_CREDENTIAL_ID_LEN + 1]);

/* The services that map a credential: [{"id", "enabled"}] sorted by id. */
CF_MUST_CHECK int db_credential_services(struct db_conn *c, const char *id, json_t **rows_out);

/* For each id of ids (a JSON array) that exists: {"<id>": ["key", ...]} (current keys). */
CF_MUST_CHECK int db_credential_keys_of(struct db_conn *c, const json_t *ids, json_t **map_out);

/* The neighbours of a credential that share a key with keys (a JSON array of strings): for
 * every service mapping it, every other credential mapped to that service holding one of
 * those keys, as [{"service_id", "credential_id", "credential_keys": [...]}]. Only these can
 * conflict, so the database sends no others. */
CF_MUST_CHECK int db_credential_neighbours(struct db_conn *c, const char *id, const json_t *keys,
                                           json_t **rows_out);

/* The credentials mapped to a service: current rows sorted by lower(name), id, with the
 * sealed payload of each current revision. *rows_out is an array of *n_out rows and
 * *sealed_out an array of *n_out payloads (free with db_sealed_array_free()). */
CF_MUST_CHECK int db_credentials_of_service(struct db_conn *c, const char *service_id,
                                            json_t **rows_out, struct db_sealed **sealed_out,
                                            size_t *n_out);

void db_sealed_array_free(struct db_sealed *arr, size_t n);

/* NOTIFY coffer_changes with payload "<kind>:<id>" (delivered at COMMIT). */
CF_MUST_CHECK int db_notify_change(struct db_conn *c, const char *kind, const char *id);

#define DB_CHANGES_CHANNEL "coffer_changes"

#endif
