/*
 * bench_ceiling.c - the ceiling bench/run measures cofferd against: a bare civetweb server,
 * built from the same civetweb source with the same options as cofferd (threads, keep-alive,
 * TCP_NODELAY), whose one handler answers every request with a small JSON body, written with
 * one write as cofferd writes its answers. No routing, no authentication, no database.
 *
 * Usage: bench_ceiling PORT [THREADS]   (runs until SIGINT or SIGTERM; loopback only)
 */
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "cf_str.h"
#include "civetweb.h"

static volatile sig_atomic_t stopping;

static void on_signal(int sig)
{
    (void)sig;
    stopping = 1;
}

static int on_request(struct mg_connection *conn)
{
    static const char body[] = "{\"status\": \"ok\"}";
    char answer[256];
    int n = snprintf(answer, sizeof(answer),
                     "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\n"
                     "Content-Length: %zu\r\nConnection: keep-alive\r\n\r\n%s",
                     sizeof(body) - 1, body);

    if (n > 0 && (size_t)n < sizeof(answer))
        (void)mg_write(conn, answer, (size_t)n);
    return 200;
}

int main(int argc, char **argv)
{
    char listen[32];
    int64_t port, threads = 128;

    if (argc < 2 || cf_parse_i64(argv[1], 1, 65535, &port) != 0 ||
        (argc > 2 && cf_parse_i64(argv[2], 1, 1024, &threads) != 0)) {
        (void)fputs("usage: bench_ceiling PORT [THREADS]\n", stderr);
        return 2;
    }
    char nthreads[24];
    if (cf_fmt(listen, sizeof(listen), "127.0.0.1:%lld", (long long)port) != 0 ||
        cf_fmt(nthreads, sizeof(nthreads), "%lld", (long long)threads) != 0)
        return 2;
    const char *opts[] = { "listening_ports",
                           listen,
                           "num_threads",
                           nthreads,
                           "enable_keep_alive",
                           "yes",
                           "decode_url",
                           "no",
                           "tcp_nodelay",
                           "1",
                           "request_timeout_ms",
                           "30000",
                           NULL };
    struct mg_callbacks cb = { .begin_request = on_request };

    (void)signal(SIGINT, on_signal);
    (void)signal(SIGTERM, on_signal);
    mg_init_library(0);
    struct mg_context *mg = mg_start(&cb, NULL, opts);
    if (mg == NULL) {
        (void)fprintf(stderr, "bench_ceiling: cannot listen on %s\n", listen);
        return 1;
    }
    while (!stopping)
        pause();
    mg_stop(mg);
    mg_exit_library();
    return 0;
}
