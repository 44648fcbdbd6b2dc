/*
 * test_slow_clients.c - clients that hold connections open by being slow (issue 12): half-sent
 * requests, bodies that trickle in, answers read a byte at a time. civetweb gives every
 * connection a worker thread, so each of these is a test that such clients cannot take all
 * the workers, and that every such connection is closed by the server by itself.
 *
 * No timing is asserted (test_admission.c asserts issue 24's bound): "not starved" means that
 * another client's request is answered while slow connections are still open, and "closed by
 * the server" that each slow connection ends without the test closing it (with generous limits
 * that only stop a hung test).
 */
#define _GNU_SOURCE /* memmem */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>

#include "cf_time.h"
#include "tapi.h"
#include "traw.h"

#define SLOW_CLIENTS 200
#define HALF_REQUEST "GET /v1/services/web HTTP/1.1\r\nHost: a\r\nX-Auth-Fr"

/* GET /healthcheck from the loopback address from (another client, or the same one). */
static int healthcheck_from(const struct tapi *f, const char *from)
{
    return t_raw_status_from(f->d.port, from,
                             "GET /healthcheck HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n");
}

/* Opens n connections from 127.0.0.1 that each send half a request head. */
static void open_slow(const struct tapi *f, int *fds, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        fds[i] = t_raw_connect_from(f->d.port, "127.0.0.1", 0);
        assert_int_equal(t_raw_send(fds[i], HALF_REQUEST, sizeof(HALF_REQUEST) - 1),
                         sizeof(HALF_REQUEST) - 1);
    }
}

/* 200 half-sent requests from one address, more than the 128 workers: nothing is refused for
 * its address (issue 24: behind a load balancer it is the whole fleet's), another address and
 * the same one are both served while slow connections still wait, and every slow connection
 * is ended by the server by itself: closed without an answer to make room or once the server
 * was busy (test_admission.c), or answered 400 at the header timeout. */
static void test_200_half_sent_requests_from_one_address_do_not_starve_another(void **state)
{
    (void)state;
    char *const env[] = { "COFFER_REQUEST_TIMEOUT_MS=10000", NULL };
    struct tapi f;
    int fds[SLOW_CLIENTS];
    size_t answered = 0, silent = 0;
    struct cf_buf problems = { 0 };

    tapi_start(&f, env);
    open_slow(&f, fds, SLOW_CLIENTS);
    int64_t t0 = cf_mono_ms();
    assert_int_equal(healthcheck_from(&f, "127.0.0.2"), 200);
    assert_int_equal(healthcheck_from(&f, "127.0.0.1"), 200);
    size_t waiting = 0;
    for (size_t i = 0; i < SLOW_CLIENTS; i++)
        waiting += t_raw_still_waiting(fds[i]);
    print_message("beside %zu slow connections still waiting, two other requests were answered "
                  "in %lld ms\n",
                  waiting, (long long)(cf_mono_ms() - t0));
    assert_true(waiting > 0);
    for (size_t i = 0; i < SLOW_CLIENTS; i++) {
        struct t_raw r = { 0 };
        t_raw_read(fds[i], 60000, &r);
        close(fds[i]);
        if (r.timed_out)
            tapi_collect(&problems, "a slow connection", strdup("was never closed"));
        char *d = r.bytes.len > 0 ? t_raw_4xx_json_diff(&r, 0) : NULL;
        if (d != NULL)
            tapi_collect(&problems, "a slow connection's answer", d);
        else if (r.bytes.len > 0)
            answered++;
        else
            silent++;
        t_raw_free(&r);
    }
    tapi_collect_end(&problems);
    assert_int_equal(answered + silent, SLOW_CLIENTS);
    assert_true(silent > 0);
    assert_int_equal(healthcheck_from(&f, "127.0.0.1"), 200);
    assert_int_equal(tapi_stop(&f), 0);
}

/* Without the per-address cap and the busy deadline, enough workers: the one address's own
 * request is served beside 200 slow ones, all of which wait for the request timeout. */
static void test_with_the_cap_off_more_workers_than_slow_clients_keep_serving(void **state)
{
    (void)state;
    char *const env[] = { "COFFER_REQUEST_TIMEOUT_MS=10000", "COFFER_MAX_CONNECTIONS_PER_IP=0",
                          "COFFER_BUSY_HEADER_TIMEOUT_MS=0", "COFFER_THREADS=256", NULL };
    struct tapi f;
    int fds[SLOW_CLIENTS];

    tapi_start(&f, env);
    open_slow(&f, fds, SLOW_CLIENTS);
    assert_int_equal(healthcheck_from(&f, "127.0.0.1"), 200);
    size_t still = 0;
    for (size_t i = 0; i < SLOW_CLIENTS; i++)
        still += t_raw_still_waiting(fds[i]);
    assert_int_equal(still, SLOW_CLIENTS); /* all of them were still open meanwhile */
    for (size_t i = 0; i < SLOW_CLIENTS; i++) {
        struct t_raw r = { 0 };
        t_raw_read(fds[i], 60000, &r);
        close(fds[i]);
        assert_false(r.timed_out);
        t_raw_free(&r);
    }
    assert_int_equal(tapi_stop(&f), 0);
}

/* A body sent a byte at a time gets 408 request_timeout, and the connection is closed. */
static void test_a_body_that_trickles_in_gets_408_and_is_closed(void **state)
{
    (void)state;
    char *const env[] = { "COFFER_REQUEST_TIMEOUT_MS=1500", NULL };
    struct tapi f;
    struct t_raw r = { 0 };

    tapi_start(&f, env);
    char *head = tapi_printf("POST /v1/credentials HTTP/1.1\r\nHost: a\r\n%s\r\nContent-Type: "
                             "application/json\r\nContent-Length: 1000\r\n\r\n{",
                             f.admin);
    int fd = t_raw_connect(f.d.port);
    assert_int_equal(t_raw_send(fd, head, strlen(head)), strlen(head));
    free(head);
    for (int i = 0; i < 600 && t_raw_still_waiting(fd); i++) { /* at most 60 s of trickle */
        (void)t_raw_send(fd, " ", 1);
        struct timespec ts = { 0, 100 * 1000000L };
        nanosleep(&ts, NULL);
    }
    t_raw_read(fd, 20000, &r);
    close(fd);
    char *d = t_raw_4xx_json_diff(&r, 0);
    if (d != NULL)
        fail_msg("%s", d);
    struct t_raw_resp resp;
    assert_true(t_raw_response(&r, 0, &resp));
    assert_int_equal(resp.status, 408);
    assert_non_null(memmem(resp.body, resp.body_len, "request_timeout", 15));
    assert_false(r.timed_out);
    t_raw_free(&r);
    assert_int_equal(tapi_count(&f, "SELECT count(*) FROM credentials"), 0);
    assert_int_equal(tapi_stop(&f), 0);
}

/* An answer sent before its body was read (413 here, for the length it announces): civetweb
 * reads the rest of the body, and one that trickles in may not hold the worker past the
 * request timeout. */
static void test_a_trickling_body_after_an_early_answer_is_cut_off(void **state)
{
    (void)state;
    char *const env[] = { "COFFER_REQUEST_TIMEOUT_MS=1500", NULL };
    struct tapi f;
    struct t_raw r = { 0 };
    bool closed = false;

    tapi_start(&f, env);
    static const char head[] = "POST /nowhere HTTP/1.1\r\nHost: a\r\nContent-Type: "
                               "application/json\r\nContent-Length: 100000000\r\n\r\n";
    int fd = t_raw_connect(f.d.port);
    assert_int_equal(t_raw_send(fd, head, sizeof(head) - 1), sizeof(head) - 1);
    for (int i = 0; i < 600 && !closed; i++) { /* a byte every 100 ms, for 60 s at most */
        closed = t_raw_send(fd, "x", 1) == 0;
        char buf[4096];
        ssize_t n = recv(fd, buf, sizeof(buf), MSG_DONTWAIT);
        if (n > 0)
            cf_buf_append(&r.bytes, buf, (size_t)n);
        closed = closed || n == 0 || (n < 0 && errno != EAGAIN && errno != EWOULDBLOCK);
        struct timespec ts = { 0, 100 * 1000000L };
        nanosleep(&ts, NULL);
    }
    close(fd);
    cf_buf_append(&r.bytes, "", 0);
    assert_true(closed);
    struct t_raw_resp resp;
    assert_true(t_raw_response(&r, 0, &resp));
    assert_int_equal(resp.status, 413);
    t_raw_free(&r);
    assert_true(t_cofferd_alive(&f.d));
    assert_int_equal(tapi_stop(&f), 0);
}

struct in_flight_wait {
    const struct tapi *f;
};

/* True once /metrics says that only the metrics request itself is being handled. */
static bool only_metrics_in_flight(void *arg)
{
    const struct in_flight_wait *w = arg;
    struct t_resp r;
    tapi_send(w->f, NULL, "GET", NULL, &r, "/metrics");
    bool ok = r.status == 200 && strstr(r.body.data, "\ncoffer_http_in_flight 1\n") != NULL;
    t_resp_free(&r);
    return ok;
}

/* A bundle of several MB read 16 bytes at a time through a small window: the write has the
 * request timeout as its deadline, and then the worker is free (the handler returned) while
 * the slow client has read only the start of it. What the kernel had already taken of the
 * answer it still delivers after the close, so the client's end is not what is watched: the
 * server's count of requests in flight is. */
static void test_an_answer_read_a_byte_at_a_time_frees_its_worker(void **state)
{
    (void)state;
    char *const env[] = { "COFFER_REQUEST_TIMEOUT_MS=2000", NULL };
    struct tapi f;
    char id[TAPI_ID_LEN];
    const char *ids[101];
    char idbuf[100][TAPI_ID_LEN];

    tapi_start(&f, env);
    char *value = tapi_rep('v', 65000);
    for (int i = 0; i < 100; i++) {
        char name[32], *pairs = tapi_printf("{\"k%d\":\"%s\"}", i, value);
        snprintf(name, sizeof(name), "big %d", i);
        tapi_cred_new(&f, name, pairs, id);
        memcpy(idbuf[i], id, TAPI_ID_LEN);
        ids[i] = idbuf[i];
        free(pairs);
    }
    ids[100] = NULL;
    free(value);
    tapi_svc_map(&f, "big", ids);

    char *req = tapi_printf("GET /v1/services/big HTTP/1.1\r\nHost: a\r\n%s\r\n\r\n", f.admin);
    int fd = t_raw_connect_from(f.d.port, "127.0.0.1", 4096);
    assert_int_equal(t_raw_send(fd, req, strlen(req)), strlen(req));
    free(req);
    char first[16];
    ssize_t n = recv(fd, first, sizeof(first), 0); /* the answer has begun */
    assert_true(n > 0);
    struct in_flight_wait w = { &f };
    assert_true(t_wait_until(only_metrics_in_flight, &w, 60));
    /* the slow client is still far from the end of its 6.5 MB */
    size_t got = (size_t)n;
    for (int i = 0; i < 20; i++) {
        ssize_t k = recv(fd, first, sizeof(first), MSG_DONTWAIT);
        got += k > 0 ? (size_t)k : 0;
    }
    assert_true(got < 1000000);
    close(fd);
    assert_int_equal(healthcheck_from(&f, "127.0.0.2"), 200);
    assert_int_equal(tapi_stop(&f), 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_200_half_sent_requests_from_one_address_do_not_starve_another),
        cmocka_unit_test(test_with_the_cap_off_more_workers_than_slow_clients_keep_serving),
        cmocka_unit_test(test_a_body_that_trickles_in_gets_408_and_is_closed),
        cmocka_unit_test(test_a_trickling_body_after_an_early_answer_is_cut_off),
        cmocka_unit_test(test_an_answer_read_a_byte_at_a_time_frees_its_worker),
    };
    return t_run_group_tests(tests, NULL, NULL);
}
