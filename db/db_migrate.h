/*
 * db_migrate.h - the migrations runner: migrations/NNNN_name.sql applied in order, once each.
 */
#ifndef DB_MIGRATE_H
#define DB_MIGRATE_H

#include <stdbool.h>
#include <stdio.h>

#include "cf_err.h"
#include "db.h"

/* Applies the pending migrations of dir in version order, each in its own transaction, under
 * a PostgreSQL advisory lock (so several nodes may run it at once), recording version, name
 * and SHA-256 in schema_migrations. Refuses (CF_EINTEGRITY) to apply anything when an applied
 * file has changed or disappeared. With status_only, lists applied and pending migrations and
 * changes nothing. Progress and problems are written to out. Not thread-safe on one conn. */
CF_MUST_CHECK int db_migrate_run(struct db_conn *conn, const char *dir, bool status_only,
                                 FILE *out);

#endif
