/* test_db_restart.c - the pool survives a PostgreSQL restart (runs alone: it restarts the
 * cluster every other test uses). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "cf_json.h"
#include "db.h"
#include "tsupport.h"

static void test_the_pool_recovers_after_postgresql_restarts(void **state)
{
    (void)state;
    struct t_db db;
    struct db_pool *pool = NULL;
    struct db_conn *c[3];

    t_db_create(&db, true);
    assert_int_equal(db_pool_open(db.app_url, 3, 5000, &pool), 0);
    for (int i = 0; i < 3; i++)
        assert_int_equal(db_acquire(pool, &c[i]), 0);
    for (int i = 0; i < 3; i++) {
        assert_int_equal(db_ping(c[i]), 0);
        db_release(pool, c[i]); /* three live idle connections */
    }
    t_pg_ctl("restart"); /* every one of them is now dead */
    for (int round = 0; round < 2; round++) {
        for (int i = 0; i < 3; i++)
            assert_int_equal(db_acquire(pool, &c[i]), 0);
        for (int i = 0; i < 3; i++) {
            assert_int_equal(db_ping(c[i]), 0);
            db_release(pool, c[i]);
        }
    }
    db_pool_close(pool);
    t_db_drop(&db);
}

static void test_a_query_on_a_dead_connection_marks_it_broken(void **state)
{
    (void)state;
    struct t_db db;
    struct db_pool *pool = NULL;
    struct db_conn *c = NULL;

    t_db_create(&db, true);
    assert_int_equal(db_pool_open(db.app_url, 1, 5000, &pool), 0);
    assert_int_equal(db_acquire(pool, &c), 0);
    t_pg_ctl("restart"); /* the connection dies while checked out */
    assert_int_equal(db_ping(c), CF_EUNAVAIL);
    db_release(pool, c);
    assert_int_equal(db_acquire(pool, &c), 0); /* replaced, not reused */
    assert_int_equal(db_ping(c), 0);
    db_release(pool, c);
    db_pool_close(pool);
    t_db_drop(&db);
}

int main(void)
{
    cf_json_init();
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_the_pool_recovers_after_postgresql_restarts),
        cmocka_unit_test(test_a_query_on_a_dead_connection_marks_it_broken),
    };
    return t_run_group_tests(tests, NULL, NULL);
}
