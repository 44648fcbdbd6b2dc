/*
 * test_gate.c - service/svc_gate.c, the turns at checking unproven credentials, and the
 * client keys of service/svc_ratelimit.c: turns go round clients, then round the identities
 * within a client, each identity first come first served; a waiter whose deadline passes
 * leaves the queue; IPv6 clients are one client per network.
 */
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "cf_err.h"
#include "cf_time.h"
#include "svc_gate.h"
#include "svc_ratelimit.h"
#include "trun.h"

struct caller {
    struct svc_gate *g;
    const char *client, *identity, *label;
    int rc;
};

static pthread_mutex_t order_lock = PTHREAD_MUTEX_INITIALIZER;
static char order[256];

static void *call(void *arg)
{
    struct caller *c = arg;

    c->rc = svc_gate_enter(c->g, c->client, c->identity, cf_mono_ms() + 60000);
    if (c->rc == 0) {
        pthread_mutex_lock(&order_lock);
        strncat(order, c->label, sizeof(order) - strlen(order) - 1);
        strncat(order, " ", sizeof(order) - strlen(order) - 1);
        pthread_mutex_unlock(&order_lock);
        svc_gate_leave(c->g);
    }
    return NULL;
}

/* Waits (without a bound on correctness: only until the threads have queued) for n waiters. */
static void wait_for_waiters(struct svc_gate *g, size_t n)
{
    struct svc_gate_stats st;
    for (int i = 0; i < 6000; i++) {
        svc_gate_stats(g, &st);
        if (st.waiting == n)
            return;
        usleep(10000);
    }
    fail_msg("%zu waiters expected, %zu queued", n, st.waiting);
}

static void test_turns_go_round_clients_then_identities(void **state)
{
    (void)state;
    struct svc_gate *g = svc_gate_new(1);
    /* queued in this order while the one turn is taken */
    struct caller c[] = {
        { g, "192.0.2.1", "garbage", "a1", -1 },  { g, "192.0.2.1", "garbage", "a2", -1 },
        { g, "192.0.2.1", "garbage", "a3", -1 },  { g, "192.0.2.1", "svc-b", "b1", -1 },
        { g, "198.51.100.9", "svc-c", "c1", -1 },
    };
    size_t n = sizeof(c) / sizeof(c[0]);
    pthread_t t[8];

    order[0] = '\0';
    assert_int_equal(svc_gate_enter(g, "203.0.113.1", "holder", cf_mono_ms() + 1000), 0);
    for (size_t i = 0; i < n; i++) {
        assert_int_equal(pthread_create(&t[i], NULL, call, &c[i]), 0);
        wait_for_waiters(g, i + 1);
    }
    svc_gate_leave(g);
    for (size_t i = 0; i < n; i++) {
        assert_int_equal(pthread_join(t[i], NULL), 0);
        assert_int_equal(c[i].rc, 0);
    }
    /* first come first served would be "a1 a2 a3 b1 c1": the flood would go first */
    assert_string_equal(order, "a1 c1 b1 a2 a3 ");
    struct svc_gate_stats st;
    svc_gate_stats(g, &st);
    assert_int_equal(st.passed, n + 1);
    assert_int_equal(st.waited, n);
    assert_int_equal(st.inside, 0);
    assert_int_equal(st.waiting, 0);
    svc_gate_free(g);
}

static void test_a_waiter_out_of_time_leaves_the_queue(void **state)
{
    (void)state;
    struct svc_gate *g = svc_gate_new(1);
    struct svc_gate_stats st;

    assert_int_equal(svc_gate_enter(g, "192.0.2.1", "x", cf_mono_ms() + 1000), 0);
    int64_t t0 = cf_mono_ms();
    assert_int_equal(svc_gate_enter(g, "192.0.2.2", "y", t0 + 200), CF_ETIMEOUT);
    assert_true(cf_mono_ms() - t0 >= 200); /* it did wait: nothing came back early */
    svc_gate_stats(g, &st);
    assert_int_equal(st.timed_out, 1);
    assert_int_equal(st.waiting, 0);
    assert_int_equal(st.inside, 1);
    svc_gate_leave(g);
    /* the turn is free again and nobody waits: taken at once, even past a deadline */
    assert_int_equal(svc_gate_enter(g, "192.0.2.2", "y", cf_mono_ms() - 1), 0);
    svc_gate_leave(g);
    svc_gate_stats(g, &st);
    assert_int_equal(st.inside, 0);
    svc_gate_free(g);
}

static void test_capacity_zero_lets_everyone_through(void **state)
{
    (void)state;
    struct svc_gate *g = svc_gate_new(0);
    for (int i = 0; i < 100; i++)
        assert_int_equal(svc_gate_enter(g, "192.0.2.1", "x", cf_mono_ms() - 1), 0);
    for (int i = 0; i < 100; i++)
        svc_gate_leave(g);
    svc_gate_free(g);
}

static void test_client_keys(void **state)
{
    (void)state;
    char k[SVC_LIMIT_KEY_MAX];

    svc_limit_key("192.0.2.7", 64, k);
    assert_string_equal(k, "192.0.2.7");
    svc_limit_key("2001:db8:1:2:aaaa:bbbb:cccc:dddd", 64, k);
    assert_string_equal(k, "2001:db8:1:2::/64");
    svc_limit_key("2001:db8:1:2::9", 64, k);
    assert_string_equal(k, "2001:db8:1:2::/64");
    svc_limit_key("2001:db8:1:3::9", 64, k);
    assert_string_equal(k, "2001:db8:1:3::/64");
    svc_limit_key("2001:db8:1:2:aaaa::1", 72, k);
    assert_string_equal(k, "2001:db8:1:2:aa00::/72");
    svc_limit_key("2001:db8::1", 128, k);
    assert_string_equal(k, "2001:db8::1/128");
    svc_limit_key("::1", 64, k);
    assert_string_equal(k, "::/64");
    svc_limit_key("::ffff:192.0.2.7", 64, k); /* an IPv4 client on a dual-stack socket */
    assert_string_equal(k, "192.0.2.7");
    svc_limit_key("not an address", 64, k);
    assert_string_equal(k, "not an address");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_turns_go_round_clients_then_identities),
        cmocka_unit_test(test_a_waiter_out_of_time_leaves_the_queue),
        cmocka_unit_test(test_capacity_zero_lets_everyone_through),
        cmocka_unit_test(test_client_keys),
    };
    return t_run_group_tests(tests, NULL, NULL);
}
