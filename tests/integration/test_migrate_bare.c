/*
 * test_migrate_bare.c - `cofferd migrate` as an operator with a PostgreSQL of their own runs it
 * first: on a cluster that has none of coffer's roles (issue 11, defect 4). A private cluster,
 * since the shared one has coffer_app already and other tests depend on it.
 *
 * - As a superuser: the group role coffer_app is created NOLOGIN and every migration applies.
 * - As a database owner who may not create roles: one line says what to run, and nothing of
 *   the schema is applied; once a superuser made the role, the same command succeeds.
 * - A migration that fails is named in the output; no output line carries its SQL.
 */
#include <dirent.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include <cmocka.h>

#include "tsupport.h"

static struct t_pg pg;

static int setup(void **state)
{
    (void)state;
    t_pg_private_start(&pg);
    return 0;
}

static int teardown(void **state)
{
    (void)state;
    t_pg_private_stop(&pg);
    return 0;
}

static void url_of(char *out, size_t cap, const char *user, const char *dbname)
{
    snprintf(out, cap, "host=127.0.0.1 port=%d user=%s dbname=%s", pg.port, user, dbname);
}

/* Runs `cofferd migrate [--status]` as user on dbname with the migrations of dir; stdout and
 * stderr together in out. */
static int migrate(const char *user, const char *dbname, const char *dir, bool status,
                   struct cf_buf *out)
{
    static char url[T_URL_MAX + 40], mig[600];
    char u[T_URL_MAX];

    url_of(u, sizeof(u), user, dbname);
    snprintf(url, sizeof(url), "COFFER_MIGRATE_DATABASE_URL=%s", u);
    snprintf(mig, sizeof(mig), "COFFER_MIGRATIONS_DIR=%s", dir);
    char *const env[] = { url, mig, NULL };
    char *argv[] = { (char *)t_env("COFFER_TEST_COFFERD"), "migrate", status ? "--status" : NULL,
                     NULL };
    cf_buf_reset(out);
    int rc = t_run_output(argv, env, out);
    cf_buf_append(out, "", 0);
    return rc;
}

static void sql_in(const char *dbname, const char *sql, char *out, size_t cap)
{
    char u[T_URL_MAX];
    url_of(u, sizeof(u), "postgres", dbname);
    t_sql_ok(u, sql, out, cap);
}

/* Fails the test if any line of a migration file of dir, 24 bytes or longer and not a
 * comment, appears in out: the runner must never print or log SQL. */
static void assert_no_sql(const char *dir, const struct cf_buf *out)
{
    struct dirent **names = NULL;
    int n = scandir(dir, &names, NULL, alphasort);
    char path[1024], line[4096];
    size_t checked = 0;

    assert_true(n > 0);
    for (int i = 0; i < n; i++) {
        size_t len = strlen(names[i]->d_name);
        if (len > 4 && strcmp(names[i]->d_name + len - 4, ".sql") == 0) {
            snprintf(path, sizeof(path), "%s/%s", dir, names[i]->d_name);
            FILE *fp = fopen(path, "r");
            assert_non_null(fp);
            while (fgets(line, sizeof(line), fp) != NULL) {
                line[strcspn(line, "\n")] = '\0';
                const char *t = line + strspn(line, " \t");
                if (strlen(t) < 24 || strncmp(t, "--", 2) == 0)
                    continue;
                checked++;
                if (strstr(out->data, t) != NULL)
                    fail_msg("the output quotes %s: \"%s\"\n%s", names[i]->d_name, t, out->data);
            }
            fclose(fp);
        }
        free(names[i]);
    }
    free(names);
    assert_true(checked > 0);
}

static void test_a_superuser_migrates_a_bare_cluster_and_coffer_app_is_created(void **state)
{
    (void)state;
    const char *dir = t_env("COFFER_TEST_MIGRATIONS");
    struct cf_buf out = { 0 };
    char v[64];

    sql_in("postgres", "CREATE DATABASE bare1", NULL, 0);
    sql_in("postgres", "SELECT count(*) FROM pg_roles WHERE rolname = 'coffer_app'", v, sizeof(v));
    assert_string_equal(v, "0");

    int rc = migrate("postgres", "bare1", dir, false, &out);
    if (rc != 0)
        fail_msg("migrate exited %d:\n%s", rc, out.data);
    assert_non_null(strstr(out.data, "created the group role coffer_app"));
    assert_non_null(strstr(out.data, "applied  0001 initial_schema"));
    assert_no_sql(dir, &out);
    sql_in("postgres", "SELECT rolcanlogin FROM pg_roles WHERE rolname = 'coffer_app'", v,
           sizeof(v));
    assert_string_equal(v, "f"); /* NOLOGIN: a group role */
    sql_in("bare1", "SELECT has_table_privilege('coffer_app', 'audit_log', 'INSERT')", v,
           sizeof(v));
    assert_string_equal(v, "t");

    /* run again: nothing to do, nothing created */
    assert_int_equal(migrate("postgres", "bare1", dir, false, &out), 0);
    assert_non_null(strstr(out.data, "schema is current"));
    assert_null(strstr(out.data, "created the group role"));
    cf_buf_free(&out);
    sql_in("postgres", "DROP DATABASE bare1", NULL, 0);
    sql_in("postgres", "DROP ROLE coffer_app", NULL, 0);
}

static void test_an_owner_who_may_not_create_roles_is_told_what_to_run(void **state)
{
    (void)state;
    const char *dir = t_env("COFFER_TEST_MIGRATIONS");
    struct cf_buf out = { 0 };
    char v[64];

    sql_in("postgres", "CREATE ROLE plain_owner LOGIN", NULL, 0);
    sql_in("postgres", "CREATE DATABASE bare2 OWNER plain_owner", NULL, 0);
    int rc = migrate("plain_owner", "bare2", dir, false, &out);
    assert_int_equal(rc, 1);
    assert_non_null(strstr(out.data, "run `CREATE ROLE coffer_app NOLOGIN;` as a superuser"));
    assert_no_sql(dir, &out);
    /* one line of output: the runner stopped before any migration */
    assert_non_null(strchr(out.data, '\n'));
    assert_null(strchr(strchr(out.data, '\n') + 1, '\n'));
    sql_in("bare2", "SELECT count(*) FROM schema_migrations", v, sizeof(v));
    assert_string_equal(v, "0");
    sql_in("bare2", "SELECT to_regclass('credentials') IS NULL", v, sizeof(v));
    assert_string_equal(v, "t");

    /* the operator does what the line says, and the same command succeeds */
    sql_in("postgres", "CREATE ROLE coffer_app NOLOGIN", NULL, 0);
    rc = migrate("plain_owner", "bare2", dir, false, &out);
    if (rc != 0)
        fail_msg("migrate exited %d:\n%s", rc, out.data);
    assert_non_null(strstr(out.data, "applied  0001 initial_schema"));
    cf_buf_free(&out);
    sql_in("postgres", "DROP DATABASE bare2", NULL, 0);
    sql_in("postgres", "DROP ROLE coffer_app", NULL, 0);
    sql_in("postgres", "DROP ROLE plain_owner", NULL, 0);
}

/* Copies the migrations of src into a new folder and adds a broken one after them. */
static void broken_set(char *dir, size_t cap)
{
    const char *src = t_env("COFFER_TEST_MIGRATIONS");
    char cmd[2048];

    snprintf(dir, cap, "%s/migrations-broken-%d", t_env("COFFER_TEST_WORK"), pg.port);
    snprintf(cmd, sizeof(cmd), "%s/9000_broken.sql", dir);
    char *const mk[] = { "/bin/mkdir", "-p", dir, NULL };
    assert_int_equal(t_run(mk, NULL, NULL), 0);
    char *cp[] = { "/bin/sh", "-c", NULL, NULL };
    char script[8192];
    snprintf(script, sizeof(script),
             "cp '%s'/*.sql '%s'/ && printf '%%s\\n' "
             "'CREATE TABLE canary_ok_before_the_error (id int);' "
             "'CREATE TABEL canary_sql_text_of_a_broken_migration (id int);' > '%s'",
             src, dir, cmd);
    cp[2] = script;
    assert_int_equal(t_run(cp, NULL, NULL), 0);
}

static void test_a_failed_migration_is_named_and_its_sql_never_printed(void **state)
{
    (void)state;
    struct cf_buf out = { 0 };
    char dir[512], v[64];

    broken_set(dir, sizeof(dir));
    sql_in("postgres", "CREATE DATABASE bare3", NULL, 0);
    int rc = migrate("postgres", "bare3", dir, false, &out);
    assert_int_equal(rc, 1);
    assert_non_null(strstr(out.data, "migration 9000 (broken) failed"));
    assert_non_null(strstr(out.data, "\"what\":\"migration 9000_broken\""));
    assert_null(strstr(out.data, "canary_sql_text_of_a_broken_migration"));
    assert_null(strstr(out.data, "canary_ok_before_the_error"));
    assert_no_sql(dir, &out);
    /* the migrations before it applied; nothing of the broken one did */
    sql_in("bare3", "SELECT to_regclass('canary_ok_before_the_error') IS NULL", v, sizeof(v));
    assert_string_equal(v, "t");
    sql_in("bare3", "SELECT count(*) FROM schema_migrations WHERE version = 9000", v, sizeof(v));
    assert_string_equal(v, "0");
    cf_buf_free(&out);
    sql_in("postgres", "DROP DATABASE bare3", NULL, 0);
    sql_in("postgres", "DROP ROLE coffer_app", NULL, 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_a_superuser_migrates_a_bare_cluster_and_coffer_app_is_created),
        cmocka_unit_test(test_an_owner_who_may_not_create_roles_is_told_what_to_run),
        cmocka_unit_test(test_a_failed_migration_is_named_and_its_sql_never_printed),
    };
    return t_run_group_tests(tests, setup, teardown);
}
