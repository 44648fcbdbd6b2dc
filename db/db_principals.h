/*
 * db_principals.h - people who sign in with kmsauth user tokens, and their roles
 * (API.md 8.4). Rows come back as JSON objects: name, role, created_at, created_by,
 * modified_at, modified_by.
 */
#ifndef DB_PRINCIPALS_H
#define DB_PRINCIPALS_H

#include <stddef.h>

#include <jansson.h>

#include "cf_err.h"
#include "db.h"

/* The role of name into role (e.g. "admin"). CF_ENOTFOUND if there is no such principal. */
CF_MUST_CHECK int db_principal_role(struct db_conn *c, const char *name, char *role,
                                    size_t rolecap);

/* Every principal, by name. */
CF_MUST_CHECK int db_principal_list(struct db_conn *c, json_t **rows_out);

/* Creates or changes a principal; *created tells which. Returns the row. */
CF_MUST_CHECK int db_principal_set(struct db_conn *c, const char *name, const char *role,
                                   const char *actor, json_t **row_out, bool *created);

/* Removes a principal and returns the removed row. CF_ENOTFOUND if absent. */
CF_MUST_CHECK int db_principal_remove(struct db_conn *c, const char *name, json_t **row_out);

#endif
