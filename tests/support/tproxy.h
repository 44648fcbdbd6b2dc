/*
 * tproxy.h - a TCP relay on 127.0.0.1 that can hold what clients send: tests put it between
 * cofferd and moto_server to stall KMS calls at a moment they choose, and to know that a call
 * is stalled (a client sent bytes that wait) rather than guess it from time.
 *
 * One thread relays every connection both ways. Only the test's thread calls these functions.
 */
#ifndef TPROXY_H
#define TPROXY_H

#include <stdbool.h>

struct tproxy;

/* Starts a relay to target_url ("http://127.0.0.1:<port>") on a free loopback port. Fails the
 * test if it cannot. */
struct tproxy *tproxy_start(const char *target_url);

/* Closes every connection, stops the thread and frees everything. Safe with NULL. */
void tproxy_stop(struct tproxy *p);

/* "http://127.0.0.1:<port>" */
const char *tproxy_url(const struct tproxy *p);

/* From now on, what clients send waits in the relay (answers already on their way still
 * flow back). */
void tproxy_hold(struct tproxy *p);

/* Waits up to seconds until a client has sent bytes that wait; false if none came. */
bool tproxy_wait_held(struct tproxy *p, int seconds);

/* Forwards what waits, and everything from now on. */
void tproxy_release(struct tproxy *p);

#endif
