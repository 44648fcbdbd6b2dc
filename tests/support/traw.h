/*
 * traw.h - HTTP as an attacker speaks it: raw bytes over a loopback socket, and what came back,
 * with no client library in between to fix the request up or give up on the answer.
 *
 * Every helper fails the running cmocka test when the test itself cannot go on (no socket,
 * no connection); what the server does with the bytes is the caller's to judge.
 */
#ifndef TRAW_H
#define TRAW_H

#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>

#include <cmocka.h>

#include "cf_str.h"
#include "tsupport.h"

/* What one connection got back. */
struct t_raw {
    struct cf_buf bytes; /* everything the server sent, NUL-terminated */
    bool reset;          /* the server reset the connection */
    bool timed_out;      /* it neither closed nor reset it within the time given */
    size_t sent;         /* bytes of the request the server took before it stopped reading */
};

/* Connects to 127.0.0.1:port; fails the test if it cannot. */
int t_raw_connect(int port);

/* Connects to 127.0.0.1:port from the loopback address from ("127.0.0.2": another client as
 * far as the server can tell), with a receive buffer of rcvbuf bytes if rcvbuf > 0. */
int t_raw_connect_from(int port, const char *from, int rcvbuf);

/* Sends what it can of data[0..len) on fd (a peer that stops reading ends the sending, it is
 * not an error); returns how much was sent. */
size_t t_raw_send(int fd, const void *data, size_t len);

/* Reads from fd until the server closes or resets it or timeout_ms pass, appending to out. */
void t_raw_read(int fd, int timeout_ms, struct t_raw *out);

/* One connection: connect, send data, half-close (shutdown SHUT_WR) when half_close, read until
 * the server closes or timeout_ms pass, close. */
void t_raw_exchange(int port, const void *data, size_t len, bool half_close, int timeout_ms,
                    struct t_raw *out);

/* t_raw_exchange() of a NUL-terminated request, half-closed, with a 10 s limit. */
void t_raw_send_str(int port, const char *request, struct t_raw *out);

void t_raw_free(struct t_raw *r);

/* Sends the NUL-terminated request on a new connection from the loopback address from and
 * reads until the server closes (20 s at most): the status of the first answer, 0 if none. */
int t_raw_status_from(int port, const char *from, const char *request);

/* True while the server has neither sent anything on fd nor closed it (a peek that finds
 * nothing). */
bool t_raw_still_waiting(int fd);

/* True once the server closed fd (or reset it) without sending a byte. */
bool t_raw_closed_silently(int fd);

/* One response parsed out of what came back. */
struct t_raw_resp {
    int status;          /* 0: no status line */
    const char *headers; /* the header block (points into the t_raw) */
    size_t headers_len;
    const char *body; /* points into the t_raw; body_len bytes (Content-Length) */
    size_t body_len;
};

/* Parses the index-th final response (0 = the first; 1xx interim answers are skipped) of r;
 * false if there is none, or it is cut. */
bool t_raw_response(const struct t_raw *r, size_t index, struct t_raw_resp *out);

/* The value of the header name (any case) in resp's head, cut to fit cap ("" if absent), and
 * how many times the head has it. */
size_t t_raw_header(const struct t_raw_resp *resp, const char *name, char *out, size_t cap);

/* The number of complete responses in r. */
size_t t_raw_count(const struct t_raw *r);

/* NULL if the index-th response is a 4xx whose body is a JSON object with string members
 * "error" and "code" and whose Content-Type is application/json; else what is wrong
 * (malloc'd: free it). */
char *t_raw_4xx_json_diff(const struct t_raw *r, size_t index);

/* True if the cofferd child is still running (not exited, not reaped) and answers
 * GET /healthcheck with 200: the same process survived whatever was sent before. */
bool t_cofferd_alive(struct t_cofferd *d);

#endif
