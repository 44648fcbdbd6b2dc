/*
 * db_migrate.c - the migrations runner and the schema check `serve` makes at start.
 *
 * A migration is a file named NNNN_name.sql (four digits, lowercase name) holding plain SQL
 * without transaction control: the runner wraps each file in its own transaction.
 */
#include "db_migrate.h"

#include <dirent.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include <libpq-fe.h>

#include "cf_crypto.h"
#include "cf_log.h"
#include "cf_mem.h"
#include "cf_str.h"
#include "db_internal.h"

#define MIGRATION_MAX_BYTES (16u << 20)
#define MIGRATE_LOCK_KEY    "7166504716342845440" /* advisory lock id: "coffer" in ASCII, shifted */
#define APP_ROLE            "coffer_app" /* the group role the migrations grant privileges to */

struct migration {
    int64_t version;
    char name[128];
    char path[4096];
    char checksum[CF_SHA256_HEX_LEN + 1];
    char *sql;
};

struct migration_set {
    struct migration *items;
    size_t n;
};

static void set_free(struct migration_set *s)
{
    for (size_t i = 0; i < s->n; i++)
        free(s->items[i].sql);
    free(s->items);
    *s = (struct migration_set){ 0 };
}

/* Parses "NNNN_name.sql"; false if the name is not a migration's. */
static bool parse_name(const char *fname, int64_t *version, char *name, size_t namecap)
{
    size_t len = strlen(fname);
    char digits[5];

    if (len < 10 || len - 9 >= namecap || strcmp(fname + len - 4, ".sql") != 0 || fname[4] != '_')
        return false;
    for (size_t i = 0; i < 4; i++) {
        if (fname[i] < '0' || fname[i] > '9')
            return false;
        digits[i] = fname[i];
    }
    digits[4] = '\0';
    for (size_t i = 5; i < len - 4; i++) {
        char c = fname[i];
        if (!((c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '_'))
            return false;
    }
    memcpy(name, fname + 5, len - 9);
    name[len - 9] = '\0';
    return cf_parse_i64(digits, 1, 9999, version) == 0;
}

static int read_file(const char *path, char **out, size_t *len_out)
{
    FILE *f = fopen(path, "rb");
    struct cf_buf b = { 0 };
    char chunk[8192];
    size_t n;

    if (f == NULL)
        return CF_EIO;
    while ((n = fread(chunk, 1, sizeof(chunk), f)) > 0) {
        if (b.len + n > MIGRATION_MAX_BYTES) {
            (void)fclose(f); /* read-only: closing cannot lose data */
            cf_buf_free(&b);
            return CF_ETOOBIG;
        }
        cf_buf_append(&b, chunk, n);
    }
    bool failed = ferror(f) != 0;
    (void)fclose(f); /* read-only: a read error was seen by ferror() */
    if (failed) {
        cf_buf_free(&b);
        return CF_EIO;
    }
    cf_buf_append(&b, "", 0);
    *out = b.data; /* NUL-terminated; ownership moves to the caller */
    *len_out = b.len;
    return 0;
}

static int cmp_version(const void *a, const void *b)
{
    const struct migration *x = a, *y = b;
    return (x->version > y->version) - (x->version < y->version);
}

static int load_one(const char *dir, const char *fname, struct migration *m, FILE *out)
{
    size_t len;
    int r;

    if (cf_fmt(m->path, sizeof(m->path), "%s/%s", dir, fname) != 0)
        return CF_ETOOBIG;
    if ((r = read_file(m->path, &m->sql, &len)) != 0) {
        (void)fprintf(out, "cannot read %s: %s\n", m->path, cf_strerror(r));
        return r;
    }
    return cf_sha256_hex(m->sql, len, m->checksum);
}

/* Reads every migration file of dir, sorted by version; duplicate versions are refused. */
static int load_set(const char *dir, struct migration_set *set, FILE *out)
{
    struct dirent **names = NULL;
    size_t cap = 0;
    int r = 0;

    *set = (struct migration_set){ 0 };
    /* scandir, not readdir, which POSIX does not require to be thread-safe */
    int nnames = scandir(dir, &names, NULL, alphasort);
    if (nnames < 0) {
        (void)fprintf(out, "cannot open the migrations folder %s (errno %d)\n", dir, errno);
        return CF_EIO;
    }
    for (size_t i = 0; i < (size_t)nnames && r == 0; i++) { /* nnames >= 0: checked above */
        const char *fname = names[i]->d_name;
        struct migration m = { 0 };
        if (!parse_name(fname, &m.version, m.name, sizeof(m.name)))
            continue;
        if (set->n == cap) {
            cap = cap ? cap * 2 : 16;
            set->items = cf_xrealloc(set->items, cap * sizeof(*set->items));
        }
        r = load_one(dir, fname, &m, out);
        set->items[set->n++] = m;
    }
    for (int i = 0; i < nnames; i++)
        free(names[i]);
    free(names);
    if (r != 0)
        return r;
    if (set->n > 1) /* qsort's base must not be NULL, and items is NULL when n is 0 */
        qsort(set->items, set->n, sizeof(*set->items), cmp_version);
    for (size_t i = 1; i < set->n; i++) {
        if (set->items[i].version == set->items[i - 1].version) {
            (void)fprintf(out, "two migrations share version %04lld\n",
                          (long long)set->items[i].version);
            return CF_EINVAL;
        }
    }
    return 0;
}

static const struct migration *find_version(const struct migration_set *set, int64_t v)
{
    for (size_t i = 0; i < set->n; i++) {
        if (set->items[i].version == v)
            return &set->items[i];
    }
    return NULL;
}

static int fetch_applied(struct db_conn *c, PGresult **res)
{
    static const struct db_stmt q = {
        "migrate_applied",
        "SELECT version, name, checksum, applied_at FROM schema_migrations ORDER BY version", 0
    };
    return db_exec(c, &q, NULL, NULL, NULL, res);
}

/* Checks every applied migration against its file. Writes the first problem to msg. */
static int verify_applied(const PGresult *res, const struct migration_set *set, char *msg,
                          size_t msgcap)
{
    for (int i = 0; i < PQntuples(res); i++) {
        int64_t v;
        if (db_get_i64(res, i, 0, &v) != 0)
            return CF_EDB;
        const struct migration *m = find_version(set, v);
        const char *sum = db_get(res, i, 2);
        const char *problem = NULL;
        if (m == NULL) {
            problem = "is applied but its file is missing";
        } else if (sum == NULL || strcmp(sum, m->checksum) != 0) {
            problem = "was changed after it was applied (checksum differs)";
        }
        if (problem != NULL) {
            int rr = cf_fmt(msg, msgcap, "migration %04lld (%s) %s", (long long)v,
                            db_get(res, i, 1), problem);
            (void)rr; /* a truncated message still names the migration */
            return CF_EINTEGRITY;
        }
    }
    return 0;
}

static bool is_applied(const PGresult *res, int64_t version)
{
    for (int i = 0; i < PQntuples(res); i++) {
        int64_t v;
        if (db_get_i64(res, i, 0, &v) == 0 && v == version)
            return true;
    }
    return false;
}

/* True if schema_migrations exists (a database never migrated has none). */
static int has_schema(struct db_conn *c, bool *out)
{
    static const struct db_stmt q = { "migrate_has_schema",
                                      "SELECT to_regclass('schema_migrations') IS NOT NULL", 0 };
    PGresult *res = NULL;
    int r = db_exec(c, &q, NULL, NULL, NULL, &res);
    if (r == 0)
        *out = strcmp(PQgetvalue(res, 0, 0), "t") == 0;
    PQclear(res);
    return r;
}

int db_schema_check(struct db_conn *conn, const char *dir, char *msg, size_t msgcap)
{
    struct migration_set set;
    PGresult *res = NULL;
    bool exists = false;
    int r;

    msg[0] = '\0';
    if ((r = load_set(dir, &set, stderr)) != 0)
        goto out;
    if ((r = has_schema(conn, &exists)) != 0)
        goto out;
    if (!exists) {
        int rr = cf_fmt(msg, msgcap, "the database has no schema: run `cofferd migrate`");
        (void)rr; /* fits */
        r = CF_ECONFLICT;
        goto out;
    }
    if ((r = fetch_applied(conn, &res)) != 0)
        goto out;
    if (verify_applied(res, &set, msg, msgcap) != 0) {
        r = CF_ECONFLICT;
        goto out;
    }
    for (size_t i = 0; i < set.n; i++) {
        if (!is_applied(res, set.items[i].version)) {
            int rr = cf_fmt(msg, msgcap,
                            "migration %04lld (%s) is not applied: run `cofferd "
                            "migrate`",
                            (long long)set.items[i].version, set.items[i].name);
            (void)rr; /* a truncated message still says what to do */
            r = CF_ECONFLICT;
            goto out;
        }
    }
    r = 0;
out:
    PQclear(res);
    set_free(&set);
    return r;
}

static int take_lock(struct db_conn *c)
{
    static const struct db_stmt lock = { "migrate_lock",
                                         "SELECT pg_advisory_lock(" MIGRATE_LOCK_KEY ")", 0 };
    PGresult *res;
    int r;

    if ((r = db_exec(c, &lock, NULL, NULL, NULL, &res)) != 0)
        return r;
    PQclear(res);
    return 0;
}

static int create_own_table(struct db_conn *c)
{
    /* the runner's own table, created before the first migration can be recorded */
    return db_exec_const(c, "CREATE TABLE IF NOT EXISTS schema_migrations ("
                            " version bigint PRIMARY KEY CHECK (version BETWEEN 1 AND 9999),"
                            " name text NOT NULL,"
                            " checksum text NOT NULL CHECK (checksum ~ '^[0-9a-f]{64}$'),"
                            " applied_at timestamptz NOT NULL DEFAULT now())");
}

static int unlock(struct db_conn *c)
{
    static const struct db_stmt q = { "migrate_unlock",
                                      "SELECT pg_advisory_unlock(" MIGRATE_LOCK_KEY ")", 0 };
    PGresult *res;
    int r = db_exec(c, &q, NULL, NULL, NULL, &res);
    PQclear(res);
    return r;
}

/* Reads a boolean query's single value into *out. */
static int query_bool(struct db_conn *c, const struct db_stmt *q, bool *out)
{
    PGresult *res = NULL;
    int r = db_exec(c, q, NULL, NULL, NULL, &res);

    if (r == 0)
        *out = PQntuples(res) == 1 && strcmp(PQgetvalue(res, 0, 0), "t") == 0;
    PQclear(res);
    return r;
}

static int app_role_exists(struct db_conn *c, bool *out)
{
    static const struct db_stmt q = {
        "migrate_app_role_exists",
        "SELECT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = '" APP_ROLE "')", 0
    };
    return query_bool(c, &q, out);
}

/* The migrations grant their privileges to the group role coffer_app, which is cluster-wide
 * and so not theirs to create. On a bare cluster the runner creates it (NOLOGIN) when its
 * connection may create roles; otherwise it says in one line what to run, and applies
 * nothing. */
static int ensure_app_role(struct db_conn *c, FILE *out)
{
    static const struct db_stmt may_create = {
        "migrate_may_create_roles",
        "SELECT rolsuper OR rolcreaterole FROM pg_roles WHERE rolname = current_user", 0
    };
    bool exists = false, allowed = false;
    int r;

    if ((r = app_role_exists(c, &exists)) != 0 || exists)
        return r;
    if ((r = query_bool(c, &may_create, &allowed)) != 0)
        return r;
    if (!allowed) {
        (void)fprintf(out, "the group role " APP_ROLE " does not exist and this connection "
                           "may not create roles: run `CREATE ROLE " APP_ROLE
                           " NOLOGIN;` as a superuser, then `cofferd migrate` again\n");
        return CF_EDENIED;
    }
    if ((r = db_exec_const(c, "CREATE ROLE " APP_ROLE " NOLOGIN")) != 0) {
        /* another runner, on another database of the cluster, may have just made it */
        bool now = false;
        if (app_role_exists(c, &now) == 0 && now)
            return 0;
        return r;
    }
    (void)fprintf(out, "created the group role " APP_ROLE " (NOLOGIN): make cofferd's login role "
                       "a member of it (GRANT " APP_ROLE " TO <role>)\n");
    return 0;
}

static bool any_pending(const PGresult *applied, const struct migration_set *set)
{
    for (size_t i = 0; i < set->n; i++) {
        if (!is_applied(applied, set->items[i].version))
            return true;
    }
    return false;
}

static int apply_one(struct db_conn *c, const struct migration *m)
{
    static const struct db_stmt rec = { "migrate_record",
                                        "INSERT INTO schema_migrations (version, name, checksum) "
                                        "VALUES ($1::bigint, $2, $3)",
                                        3 };
    char version[24], label[160];
    PGresult *res = NULL;
    int r;

    if ((r = cf_fmt(version, sizeof(version), "%lld", (long long)m->version)) != 0 ||
        (r = cf_fmt(label, sizeof(label), "migration %04lld_%s", (long long)m->version, m->name)) !=
            0)
        return r;
    const char *params[] = { version, m->name, m->checksum };
    if ((r = db_tx_begin(c)) != 0)
        return r;
    /* The file is trusted schema code, several statements long, so it goes through the simple
     * query protocol; it is never built from data, and a failure logs its label, not its text. */
    if ((r = db_exec_script(c, label, m->sql)) != 0)
        goto out;
    r = db_exec(c, &rec, params, NULL, NULL, &res);
out:
    PQclear(res);
    return db_tx_end(c, r);
}

static void print_status(const PGresult *applied, const struct migration_set *set, FILE *out)
{
    for (int i = 0; i < PQntuples(applied); i++) {
        (void)fprintf(out, "applied  %s %s (%s)\n", db_get(applied, i, 0), db_get(applied, i, 1),
                      db_get(applied, i, 3));
    }
    for (size_t i = 0; i < set->n; i++) {
        if (!is_applied(applied, set->items[i].version)) {
            (void)fprintf(out, "pending  %lld %s\n", (long long)set->items[i].version,
                          set->items[i].name);
        }
    }
}

static int apply_pending(struct db_conn *c, const PGresult *applied,
                         const struct migration_set *set, FILE *out)
{
    size_t done = 0;
    int r;

    for (size_t i = 0; i < set->n; i++) {
        const struct migration *m = &set->items[i];
        if (is_applied(applied, m->version))
            continue;
        if ((r = apply_one(c, m)) != 0) {
            (void)fprintf(out, "migration %04lld (%s) failed: %s; nothing of it was applied\n",
                          (long long)m->version, m->name, cf_strerror(r));
            return r;
        }
        (void)fprintf(out, "applied  %04lld %s\n", (long long)m->version, m->name);
        done++;
    }
    if (done == 0)
        (void)fprintf(out, "schema is current (%zu migrations)\n", set->n);
    return 0;
}

int db_migrate_run(struct db_conn *conn, const char *dir, bool status_only, FILE *out)
{
    struct migration_set set = { 0 };
    PGresult *applied = NULL;
    bool locked = false;
    char msg[512];
    int r;

    if ((r = load_set(dir, &set, out)) != 0)
        goto out;
    if ((r = take_lock(conn)) != 0)
        goto out;
    locked = true;
    if ((r = create_own_table(conn)) != 0)
        goto out;
    if ((r = fetch_applied(conn, &applied)) != 0)
        goto out;
    if ((r = verify_applied(applied, &set, msg, sizeof(msg))) != 0) {
        (void)fprintf(out, "refusing to migrate: %s\n", msg);
        goto out;
    }
    if (status_only) {
        print_status(applied, &set, out);
    } else if (any_pending(applied, &set) && (r = ensure_app_role(conn, out)) != 0) {
        goto out;
    } else {
        r = apply_pending(conn, applied, &set, out);
    }
out:
    if (locked) {
        int ur = unlock(conn);
        if (r == 0)
            r = ur;
    }
    PQclear(applied);
    set_free(&set);
    return r;
}
