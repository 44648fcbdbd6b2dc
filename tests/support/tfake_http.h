/*
 * tfake_http.h - a tiny HTTP/1.1 server for tests: one thread on 127.0.0.1 answering canned
 * responses per route and recording every request. Tests use it as a fault injector in front
 * of a KMS client and as a fake container-credentials or instance-metadata endpoint.
 *
 * One connection at a time, one request per connection (it answers "Connection: close").
 * Only the test's thread calls these functions; the server thread never calls cmocka.
 */
#ifndef TFAKE_HTTP_H
#define TFAKE_HTTP_H

#include <stdbool.h>
#include <stddef.h>

#include "cf_str.h"

struct tfake;

/* Starts a server on a free loopback port. Fails the test if it cannot. */
struct tfake *tfake_start(void);

/* Stops the server thread and frees everything. Safe with NULL. */
void tfake_stop(struct tfake *f);

/* "http://127.0.0.1:<port>" */
const char *tfake_url(const struct tfake *f);

/* Queues an answer for requests with this method and path (exact; the query string is part
 * of the path). A route's answers are used in order and the last one repeats. A request no
 * route matches gets 404. content_type may be NULL (then application/json). */
void tfake_answer(struct tfake *f, const char *method, const char *path, int status,
                  const char *content_type, const char *body);

/* How many requests matched method and path (NULL matches anything). */
size_t tfake_count(struct tfake *f, const char *method, const char *path);

/* Copies the value of header name (case-insensitive) of the nth (0-based) request that matched
 * method and path into out; false if there is no such request or header. */
bool tfake_header(struct tfake *f, const char *method, const char *path, size_t nth,
                  const char *name, char *out, size_t cap);

/* Appends the body of the nth request that matched method and path to out; false if there is
 * no such request. */
bool tfake_body(struct tfake *f, const char *method, const char *path, size_t nth,
                struct cf_buf *out);

#endif
