/* test_db.c - db/ and audit/ against the real PostgreSQL 15 test cluster. */
#include <dirent.h>
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "audit.h"
#include "audit_writer.h"
#include "cf_json.h"
#include "db.h"
#include "db_audit.h"
#include "db_migrate.h"
#include "db_tokens.h"
#include "tsupport.h"

/* --- helpers --- */

/* Copies the source tree's migrations into a temporary folder the test may change. */
static void copy_migrations(char *dir, size_t cap)
{
    const char *src = t_env("COFFER_TEST_MIGRATIONS");
    char cmd[1024];

    snprintf(dir, cap, "%s/migrations-XXXXXX",
             getenv("COFFER_TEST_WORK") ? getenv("COFFER_TEST_WORK") : "/tmp");
    assert_non_null(mkdtemp(dir));
    snprintf(cmd, sizeof(cmd), "cp %s/*.sql %s/", src, dir);
    assert_int_equal(system(cmd), 0);
}

static void write_file(const char *dir, const char *name, const char *text, const char *mode)
{
    char path[1024];
    snprintf(path, sizeof(path), "%s/%s", dir, name);
    FILE *f = fopen(path, mode);
    assert_non_null(f);
    fputs(text, f);
    fclose(f);
}

static int migrate(const char *url, const char *dir, bool status_only, char *out, size_t cap)
{
    struct db_conn *c = NULL;
    char *buf = NULL;
    size_t len = 0;

    assert_int_equal(db_connect(url, &c), 0);
    FILE *f = open_memstream(&buf, &len);
    int r = db_migrate_run(c, dir, status_only, f);
    fclose(f);
    db_disconnect(c);
    if (out != NULL)
        snprintf(out, cap, "%s", buf);
    free(buf);
    return r;
}

static int count_files(const char *dir)
{
    DIR *d = opendir(dir);
    struct dirent *e;
    int n = 0;
    assert_non_null(d);
    while ((e = readdir(d)) != NULL)
        n += strstr(e->d_name, ".sql") != NULL;
    closedir(d);
    return n;
}

/* --- migrations --- */

static void test_migrations_apply_once_and_a_second_run_changes_nothing(void **state)
{
    (void)state;
    struct t_db db;
    char out[2048], n[16], expect[16];
    const char *dir = t_env("COFFER_TEST_MIGRATIONS");

    t_db_create(&db, false);
    assert_int_equal(migrate(db.owner_url, dir, false, out, sizeof(out)), 0);
    assert_non_null(strstr(out, "applied  0001 initial_schema"));
    assert_int_equal(migrate(db.owner_url, dir, false, out, sizeof(out)), 0);
    assert_non_null(strstr(out, "schema is current"));
    t_sql_ok(db.owner_url, "SELECT count(*) FROM schema_migrations", n, sizeof(n));
    snprintf(expect, sizeof(expect), "%d", count_files(dir));
    assert_string_equal(n, expect);
    t_sql_ok(db.owner_url, "SELECT length(checksum) FROM schema_migrations WHERE version = 1", n,
             sizeof(n));
    assert_string_equal(n, "64");
    assert_int_equal(migrate(db.owner_url, dir, true, out, sizeof(out)), 0);
    assert_non_null(strstr(out, "applied  1 initial_schema"));
    t_db_drop(&db);
}

static void test_a_changed_applied_migration_is_refused(void **state)
{
    (void)state;
    struct t_db db;
    char dir[512], out[2048], msg[256];
    struct db_conn *c = NULL;

    t_db_create(&db, false);
    copy_migrations(dir, sizeof(dir));
    assert_int_equal(migrate(db.owner_url, dir, false, out, sizeof(out)), 0);
    write_file(dir, "0001_initial_schema.sql", "\n-- an edit after the fact\n", "a");
    write_file(dir, "0900_later.sql", "CREATE TABLE later (x int);\n", "w");
    assert_int_equal(migrate(db.owner_url, dir, false, out, sizeof(out)), CF_EINTEGRITY);
    assert_non_null(strstr(out, "0001 (initial_schema) was changed"));
    /* nothing else was applied either */
    assert_string_equal(t_sql(db.owner_url, "SELECT 1 FROM later", NULL, 0), "42P01");
    assert_int_equal(db_connect(db.app_url, &c), 0);
    assert_int_equal(db_schema_check(c, dir, msg, sizeof(msg)), CF_ECONFLICT);
    db_disconnect(c);
    t_db_drop(&db);
}

static void test_a_missing_applied_migration_is_refused(void **state)
{
    (void)state;
    struct t_db db;
    char dir[512], out[2048], path[600];

    t_db_create(&db, false);
    copy_migrations(dir, sizeof(dir));
    write_file(dir, "0900_extra.sql", "CREATE TABLE extra (x int);\n", "w");
    assert_int_equal(migrate(db.owner_url, dir, false, out, sizeof(out)), 0);
    snprintf(path, sizeof(path), "%s/0900_extra.sql", dir);
    assert_int_equal(unlink(path), 0);
    assert_int_equal(migrate(db.owner_url, dir, false, out, sizeof(out)), CF_EINTEGRITY);
    assert_non_null(strstr(out, "0900 (extra) is applied but its file is missing"));
    t_db_drop(&db);
}

static void test_a_pending_migration_fails_the_schema_check_until_applied(void **state)
{
    (void)state;
    struct t_db db;
    char dir[512], out[2048], msg[256];
    struct db_conn *c = NULL;

    t_db_create(&db, false);
    copy_migrations(dir, sizeof(dir));
    assert_int_equal(migrate(db.owner_url, dir, false, out, sizeof(out)), 0);
    write_file(dir, "0900_next.sql", "CREATE TABLE next_one (x int);\n", "w");
    assert_int_equal(db_connect(db.app_url, &c), 0);
    assert_int_equal(db_schema_check(c, dir, msg, sizeof(msg)), CF_ECONFLICT);
    assert_non_null(strstr(msg, "0900 (next) is not applied"));
    assert_int_equal(migrate(db.owner_url, dir, false, out, sizeof(out)), 0);
    assert_non_null(strstr(out, "applied  0900 next"));
    assert_int_equal(db_schema_check(c, dir, msg, sizeof(msg)), 0);
    db_disconnect(c);
    t_db_drop(&db);
}

static void test_a_failing_migration_leaves_nothing_behind(void **state)
{
    (void)state;
    struct t_db db;
    char dir[512], out[2048], n[16];

    t_db_create(&db, false);
    copy_migrations(dir, sizeof(dir));
    write_file(dir, "0900_broken.sql",
               "CREATE TABLE half_done (x int);\nSELECT no_such_column FROM half_done;\n", "w");
    assert_int_not_equal(migrate(db.owner_url, dir, false, out, sizeof(out)), 0);
    assert_non_null(strstr(out, "0900 (broken) failed"));
    assert_string_equal(t_sql(db.owner_url, "SELECT 1 FROM half_done", NULL, 0), "42P01");
    t_sql_ok(db.owner_url, "SELECT count(*) FROM schema_migrations WHERE version = 900", n,
             sizeof(n));
    assert_string_equal(n, "0");
    t_sql_ok(db.owner_url, "SELECT count(*) FROM schema_migrations WHERE version = 1", n,
             sizeof(n));
    assert_string_equal(n, "1"); /* 0001 went in its own transaction */
    t_db_drop(&db);
}

struct migrate_job {
    const char *url;
    const char *dir;
    int result;
};

static void *migrate_thread(void *arg)
{
    struct migrate_job *j = arg;
    struct db_conn *c = NULL;
    FILE *devnull = fopen("/dev/null", "w");

    j->result = db_connect(j->url, &c);
    if (j->result == 0)
        j->result = db_migrate_run(c, j->dir, false, devnull);
    db_disconnect(c);
    fclose(devnull);
    return NULL;
}

static void test_two_nodes_migrating_at_once_apply_each_file_once(void **state)
{
    (void)state;
    struct t_db db;
    char dir[512], n[16];
    pthread_t t[4];
    struct migrate_job jobs[4];

    t_db_create(&db, false);
    copy_migrations(dir, sizeof(dir));
    write_file(dir, "0900_slow.sql", "SELECT pg_sleep(0.3);\nCREATE TABLE slow (x int);\n", "w");
    for (int i = 0; i < 4; i++) {
        jobs[i] = (struct migrate_job){ db.owner_url, dir, -99 };
        assert_int_equal(pthread_create(&t[i], NULL, migrate_thread, &jobs[i]), 0);
    }
    for (int i = 0; i < 4; i++) {
        pthread_join(t[i], NULL);
        assert_int_equal(jobs[i].result, 0);
    }
    t_sql_ok(db.owner_url, "SELECT count(*) FROM schema_migrations", n, sizeof(n));
    char expect[16];
    snprintf(expect, sizeof(expect), "%d", count_files(dir)); /* every file, once */
    assert_string_equal(n, expect);
    t_db_drop(&db);
}

/* --- the access log in the database --- */

static struct audit_event event(const char *request_id, const char *result)
{
    return (struct audit_event){ .request_id = request_id,
                                 .actor_type = "token",
                                 .actor = "token:t1",
                                 .source_ip = "127.0.0.1",
                                 .action = "identity.get",
                                 .resource_type = "identity",
                                 .result = result,
                                 .reason = "ok" };
}

static void test_appended_rows_form_a_chain_that_recomputes(void **state)
{
    (void)state;
    struct t_db db;
    struct db_pool *pool = NULL;
    struct audit_receipt rc;
    char sql[256], stored[80], prev[80];

    t_db_create(&db, true);
    assert_int_equal(db_pool_open(db.app_url, 2, 5000, &pool), 0);
    const char *ids[] = { "0000000000000000000000000000000a", "0000000000000000000000000000000b",
                          "0000000000000000000000000000000c" };
    for (int i = 0; i < 3; i++) {
        struct audit_event ev = event(ids[i], i == 1 ? "denied" : "allowed");
        assert_int_equal(audit_write(pool, &ev, &rc), 0);
        assert_int_equal(rc.id, i + 1);
    }
    /* recompute row 2 from what is stored */
    struct db_audit_row r = { .id = 2,
                              .request_id = ids[1],
                              .actor_type = "token",
                              .actor = "token:t1",
                              .source_ip = "127.0.0.1",
                              .action = "identity.get",
                              .resource_type = "identity",
                              .result = "denied",
                              .reason = "ok" };
    t_sql_ok(db.app_url,
             "SELECT to_char(time AT TIME ZONE 'UTC', 'YYYY-MM-DD\"T\"HH24:MI:SS.US\"+00:00\"') "
             "FROM audit_log WHERE id = 2",
             r.time, sizeof(r.time));
    t_sql_ok(db.app_url, "SELECT hash FROM audit_log WHERE id = 1", prev, sizeof(prev));
    snprintf(r.prev_hash, sizeof(r.prev_hash), "%.64s", prev);
    assert_int_equal(audit_row_hash(&r), 0);
    t_sql_ok(db.app_url, "SELECT hash FROM audit_log WHERE id = 2", stored, sizeof(stored));
    assert_string_equal(r.hash, stored);
    snprintf(sql, sizeof(sql), "SELECT prev_hash = '%s' FROM audit_log WHERE id = 2", prev);
    t_sql_ok(db.app_url, sql, stored, sizeof(stored));
    assert_string_equal(stored, "t");
    t_sql_ok(db.app_url, "SELECT id || ':' || hash FROM audit_head", stored, sizeof(stored));
    assert_int_equal(strncmp(stored, "3:", 2), 0);
    db_pool_close(pool);
    t_db_drop(&db);
}

/* A row with a catalog limit is written only while the catalog has not passed it, through
 * both append paths (a transaction of its own, and the group-commit writer): a passed limit
 * writes nothing and answers CF_ESTALE with the newer version, so a fetch built from an older
 * catalog is built again instead of logged (issue 23: a row said "allowed, not_modified" for
 * a request answered 403 service_disabled). */
static void test_a_row_built_from_an_older_catalog_is_not_written(void **state)
{
    (void)state;
    struct t_db db;
    struct db_pool *pool = NULL;
    struct audit_writer *w = NULL;
    struct audit_receipt rc;
    char v[32], n[32];

    t_db_create(&db, true);
    assert_int_equal(db_pool_open(db.app_url, 2, 5000, &pool), 0);
    assert_int_equal(audit_writer_start(db.app_url, 16, 0, 5000, &w), 0);
    t_sql_ok(db.app_url, "SELECT version FROM catalog_version", v, sizeof(v));
    int64_t now = strtoll(v, NULL, 10);

    struct audit_event ev = event("000000000000000000000000000000e1", "allowed");
    ev.has_catalog_limit = true;
    ev.catalog_limit = now - 1; /* built before the latest catalog write */
    rc = (struct audit_receipt){ 0 };
    assert_int_equal(audit_write(pool, &ev, &rc), CF_ESTALE);
    assert_int_equal(rc.catalog, now);
    rc = (struct audit_receipt){ 0 };
    assert_int_equal(audit_writer_submit(w, &ev, &rc), CF_ESTALE);
    assert_int_equal(rc.catalog, now);
    t_sql_ok(db.app_url, "SELECT count(*) FROM audit_log", n, sizeof(n));
    assert_string_equal(n, "0");

    ev.catalog_limit = now; /* current: written, by both */
    assert_int_equal(audit_write(pool, &ev, &rc), 0);
    assert_int_equal(rc.id, 1);
    assert_int_equal(audit_writer_submit(w, &ev, &rc), 0);
    assert_int_equal(rc.id, 2);
    ev.has_catalog_limit = false; /* no limit: written whatever the version */
    ev.catalog_limit = 0;
    assert_int_equal(audit_writer_submit(w, &ev, &rc), 0);
    assert_int_equal(rc.id, 3);
    t_sql_ok(db.app_url, "SELECT count(*) || ':' || max(id) FROM audit_log", n, sizeof(n));
    assert_string_equal(n, "3:3");
    audit_writer_stop(w);
    db_pool_close(pool);
    t_db_drop(&db);
}

/* tmpl with every HEAD replaced by head, into out. */
static void with_head(const char *tmpl, const char *head, char *out, size_t cap)
{
    size_t o = 0, hl = strlen(head);
    for (const char *p = tmpl; *p != '\0' && o + hl + 1 < cap;) {
        if (strncmp(p, "HEAD", 4) == 0) {
            memcpy(out + o, head, hl);
            o += hl;
            p += 4;
        } else {
            out[o++] = *p++;
        }
    }
    out[o] = '\0';
}

static void test_the_app_role_may_not_change_the_access_log(void **state)
{
    (void)state;
    struct t_db db;
    struct db_pool *pool = NULL;
    char v[80];

    t_db_create(&db, true);
    assert_int_equal(db_pool_open(db.app_url, 1, 5000, &pool), 0);
    struct audit_event ev = event("0000000000000000000000000000000a", "allowed");
    assert_int_equal(audit_write(pool, &ev, NULL), 0);
    db_pool_close(pool);

    assert_string_equal(t_sql(db.app_url, "UPDATE audit_log SET result = 'denied'", NULL, 0),
                        "42501");
    assert_string_equal(t_sql(db.app_url, "DELETE FROM audit_log", NULL, 0), "42501");
    assert_string_equal(t_sql(db.app_url, "TRUNCATE audit_log", NULL, 0), "42501");
    assert_string_equal(t_sql(db.app_url, "UPDATE audit_head SET id = 0", NULL, 0), "42501");
    assert_string_equal(t_sql(db.app_url, "SELECT * FROM audit_head FOR UPDATE", NULL, 0), "42501");
    /* the owner and even the superuser are refused by the triggers */
    assert_string_equal(t_sql(db.super_url, "UPDATE audit_log SET result = 'denied'", NULL, 0),
                        "42501");
    assert_string_equal(t_sql(db.owner_url, "DELETE FROM audit_log", NULL, 0), "42501");
    assert_string_equal(t_sql(db.super_url, "TRUNCATE audit_log", NULL, 0), "42501");
    assert_string_equal(t_sql(db.super_url, "UPDATE audit_head SET id = 0", NULL, 0), "42501");
    /* rows that do not extend the head are refused, whole statements at a time (0004) */
#define ROW(id, prev, hash)                                                                        \
    "(" id ", now(), repeat('a', 32), 'system', 'a', 'local', 'x.y', NULL, NULL, NULL, "           \
    "'allowed', 'ok', " prev ", " hash ")"
#define INSERT "INSERT INTO audit_log VALUES "
    t_sql_ok(db.app_url, "SELECT hash FROM audit_head", v, sizeof(v));
    char head1[96], sql[1024];
    snprintf(head1, sizeof(head1), "'%.64s'", v);
    const char *refused[] = {
        INSERT ROW("5", "repeat('0', 64)", "repeat('1', 64)"), /* past the head */
        INSERT ROW("2", "repeat('0', 64)", "repeat('1', 64)"), /* the wrong prev_hash */
        INSERT ROW("1", "repeat('0', 64)", "repeat('1', 64)"), /* the head's own id */
        INSERT ROW("2", "HEAD", "repeat('1', 64)") ", " ROW("4", "repeat('1', 64)",
                                                            "repeat('2', 64)"),
        INSERT ROW("2", "HEAD", "repeat('1', 64)") ", " ROW("3", "repeat('9', 64)",
                                                            "repeat('2', 64)"),
        INSERT ROW("3", "repeat('1', 64)", "repeat('2', 64)") ", " ROW(
            "2", "HEAD", "repeat('1', 64)") ", " ROW("5", "repeat('2', 64)", "repeat('3', 64)"),
    };
    for (size_t i = 0; i < sizeof(refused) / sizeof(refused[0]); i++) {
        with_head(refused[i], head1, sql, sizeof(sql));
        const char *sqlstate = t_sql(db.app_url, sql, NULL, 0);
        if (strcmp(sqlstate, "40001") != 0 && strcmp(sqlstate, "23505") != 0)
            fail_msg("statement %zu answered %s, not a refusal: %s", i, sqlstate, sql);
    }
    t_sql_ok(db.app_url, "SELECT id FROM audit_head", v, sizeof(v));
    assert_string_equal(v, "1");
    /* two rows in one statement, in either order, that extend the head: accepted, head + 2 */
    with_head(INSERT ROW("3", "repeat('1', 64)", "repeat('2', 64)") ", " ROW("2", "HEAD",
                                                                             "repeat('1', 64)"),
              head1, sql, sizeof(sql));
    t_sql_ok(db.app_url, sql, NULL, 0);
    t_sql_ok(db.app_url, "SELECT id || ':' || hash FROM audit_head", v, sizeof(v));
    assert_string_equal(v, "3:2222222222222222222222222222222222222222222222222222222222222222");
#undef ROW
#undef INSERT
    t_sql_ok(db.app_url, "SELECT result || count(*) FROM audit_log GROUP BY result", v, sizeof(v));
    assert_string_equal(v, "allowed3");

    /* the catalog version: moved only by catalog writes, forward, never by a role directly */
    assert_string_equal(t_sql(db.app_url, "UPDATE catalog_version SET version = 0", NULL, 0),
                        "42501");
    assert_string_equal(t_sql(db.super_url, "UPDATE catalog_version SET version = 0", NULL, 0),
                        "42501");
    assert_string_equal(t_sql(db.super_url, "DELETE FROM catalog_version", NULL, 0), "42501");
    t_sql_ok(db.app_url, "SELECT version FROM catalog_version", v, sizeof(v));
    long before = strtol(v, NULL, 10);
    t_sql_ok(db.super_url,
             "INSERT INTO services (id, enabled, revision, modified_date, modified_by)"
             " VALUES ('catalog-probe', true, 1, now(), 'test')",
             NULL, 0);
    t_sql_ok(db.app_url, "SELECT version FROM catalog_version", v, sizeof(v));
    assert_true(strtol(v, NULL, 10) > before);
    t_db_drop(&db);
}

/* --- the pool --- */

static void test_pool_checkout_times_out_when_every_connection_is_busy(void **state)
{
    (void)state;
    struct t_db db;
    struct db_pool *pool = NULL;
    struct db_conn *a = NULL, *b = NULL;
    size_t idle, busy;

    t_db_create(&db, true);
    assert_int_equal(db_pool_open(db.app_url, 1, 200, &pool), 0);
    assert_int_equal(db_acquire(pool, &a), 0);
    db_pool_counts(pool, &idle, &busy);
    assert_int_equal(busy, 1);
    assert_int_equal(db_acquire(pool, &b), CF_EUNAVAIL);
    assert_null(b);
    db_release(pool, a);
    assert_int_equal(db_acquire(pool, &b), 0);
    assert_int_equal(db_ping(b), 0);
    db_release(pool, b);
    db_pool_counts(pool, &idle, &busy);
    assert_int_equal(idle, 1);
    assert_int_equal(busy, 0);
    db_pool_close(pool);
    t_db_drop(&db);
}

static void test_pool_reports_an_unreachable_database_as_unavailable(void **state)
{
    (void)state;
    struct db_pool *pool = NULL;
    struct db_conn *c = NULL;
    char url[128];

    snprintf(url, sizeof(url), "host=127.0.0.1 port=%d dbname=x user=x connect_timeout=2",
             t_free_port());
    assert_int_equal(db_pool_open(url, 2, 1000, &pool), 0);
    assert_int_equal(db_acquire(pool, &c), CF_EUNAVAIL);
    assert_null(c);
    db_pool_close(pool);
}

static void test_a_connection_left_in_a_transaction_is_not_reused(void **state)
{
    (void)state;
    struct t_db db;
    struct db_pool *pool = NULL;
    struct db_conn *c = NULL;
    size_t idle, busy;

    t_db_create(&db, true);
    assert_int_equal(db_pool_open(db.app_url, 1, 1000, &pool), 0);
    assert_int_equal(db_acquire(pool, &c), 0);
    assert_int_equal(db_tx_begin(c), 0);
    db_release(pool, c); /* a bug in a caller: the pool must not hand out an open transaction */
    db_pool_counts(pool, &idle, &busy);
    assert_int_equal(idle, 0);
    assert_int_equal(db_acquire(pool, &c), 0);
    assert_int_equal(db_tx_begin(c), 0); /* would warn "already in a transaction" otherwise */
    assert_int_equal(db_tx_end(c, 0), 0);
    db_release(pool, c);
    db_pool_close(pool);
    t_db_drop(&db);
}

/* --- tokens --- */

static void test_tokens_are_found_by_hash_and_names_are_unique_while_active(void **state)
{
    (void)state;
    struct t_db db;
    struct db_conn *c = NULL;
    struct db_token t = {
        .id = "tok_0123456789abcdef", .name = "ci", .role = "auditor", .created_by = "test"
    };
    struct db_token found;
    const char *sha = "a1b2c3d4e5f60718293a4b5c6d7e8f90a1b2c3d4e5f60718293a4b5c6d7e8f90";

    t_db_create(&db, true);
    assert_int_equal(db_connect(db.app_url, &c), 0);
    assert_int_equal(db_token_insert(c, &t, sha, 3600), 0);
    assert_true(t.expires_at_us - t.created_at_us == INT64_C(3600000000));
    assert_int_equal(db_token_find_by_hash(c, sha, &found), 0);
    assert_string_equal(found.name, "ci");
    assert_string_equal(found.role, "auditor");
    assert_int_equal(found.last_used_at_us, 0);
    assert_int_equal(db_token_touch(c, t.id), 0);
    assert_int_equal(db_token_find_by_hash(c, sha, &found), 0);
    assert_true(found.last_used_at_us > 0);

    struct db_token dup = t;
    memcpy(dup.id, "tok_fedcba9876543210", sizeof(dup.id));
    const char *sha2 = "b1b2c3d4e5f60718293a4b5c6d7e8f90a1b2c3d4e5f60718293a4b5c6d7e8f90";
    assert_int_equal(db_token_insert(c, &dup, sha2, 3600), CF_ECONFLICT);
    assert_int_equal(
        db_token_find_by_hash(c, "0000000000000000000000000000000000000000000000000000000000000000",
                              &found),
        CF_ENOTFOUND);
    db_disconnect(c);
    t_db_drop(&db);
}

int main(void)
{
    cf_json_init();
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_migrations_apply_once_and_a_second_run_changes_nothing),
        cmocka_unit_test(test_a_changed_applied_migration_is_refused),
        cmocka_unit_test(test_a_missing_applied_migration_is_refused),
        cmocka_unit_test(test_a_pending_migration_fails_the_schema_check_until_applied),
        cmocka_unit_test(test_a_failing_migration_leaves_nothing_behind),
        cmocka_unit_test(test_two_nodes_migrating_at_once_apply_each_file_once),
        cmocka_unit_test(test_appended_rows_form_a_chain_that_recomputes),
        cmocka_unit_test(test_a_row_built_from_an_older_catalog_is_not_written),
        cmocka_unit_test(test_the_app_role_may_not_change_the_access_log),
        cmocka_unit_test(test_pool_checkout_times_out_when_every_connection_is_busy),
        cmocka_unit_test(test_pool_reports_an_unreachable_database_as_unavailable),
        cmocka_unit_test(test_a_connection_left_in_a_transaction_is_not_reused),
        cmocka_unit_test(test_tokens_are_found_by_hash_and_names_are_unique_while_active),
    };
    return t_run_group_tests(tests, NULL, NULL);
}
