/*
 * test_framing.c - one strict reading of a request's head and body length (issue 24, item 6).
 *
 * A request whose framing two parsers could read two ways (Content-Length beside
 * Transfer-Encoding, two lengths, a length or a coding that is not exactly what RFC 9112
 * writes, a folded line, a space before a colon, a bare LF) is how a request is smuggled
 * through a proxy that reuses its connections to cofferd: the proxy reads one body, cofferd
 * another, and the bytes between are taken for the next client's request. So every case here
 * is sent in one write together with a second, complete request after it, on a connection the
 * test leaves open: cofferd must answer the first with a 400 that says `Connection: close`,
 * close the connection, and never answer the second (which would be the smuggled one).
 *
 * Positive controls: valid Content-Length and chunked bodies, each followed by a pipelined
 * request, get both answers; the optional whitespace and the case RFC 9112 allows are still
 * accepted.
 */
#define _GNU_SOURCE /* memmem */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <cmocka.h>

#include "tapi.h"
#include "traw.h"

/* Long enough that a connection cofferd failed to close is seen as open: the read of each
 * case ends at its own limit, READ_MS, well before. */
static char *const fixture_env[] = { "COFFER_REQUEST_TIMEOUT_MS=60000",
                                     "COFFER_KEEP_ALIVE_TIMEOUT_MS=60000",
                                     "COFFER_MAX_CONNECTIONS_PER_IP=0", NULL };

#define READ_MS 15000 /* a refused connection is closed at once: this is slack */

static int setup(void **state)
{
    return tapi_setup_env(state, fixture_env);
}

/* The request pipelined after each case: it must never be answered. */
#define NEXT "GET /v1/services/smuggled HTTP/1.1\r\nHost: a\r\n\r\n"

/* The head of a POST to /v1/credentials, a route that reads its body; the admin's
 * Authorization line follows it. */
#define POST_HEAD "POST /v1/credentials HTTP/1.1\r\nHost: a\r\nContent-Type: application/json\r\n"

/* A body that would create a credential: an answer of 200 is a framing read as valid. */
#define BODY "{\"name\":\"smuggle\",\"credential_pairs\":{\"k\":\"v\"}}"
_Static_assert(sizeof(BODY) - 1 == 47, "the cases below announce the body as 47 (0x2f) bytes");
#define CHUNKED "2f\r\n" BODY "\r\n0\r\n\r\n"

struct framing {
    const char *label;
    char *bytes;     /* malloc'd: the case's request, then NEXT */
    int status;      /* of the one answer */
    bool says_close; /* the answer says Connection: close (false only where the answer went
                      * out before the body was read, and the body then proved malformed) */
};

/* The problems of what one case got back; NULL if none. */
static char *judge(const struct framing *c, const struct t_raw *r)
{
    struct t_raw_resp resp;
    char v[128];
    size_t n = t_raw_count(r);

    if (r->timed_out)
        return tapi_printf("the connection stayed open (%zu answers): %.300s", n, r->bytes.data);
    if (n != 1)
        return tapi_printf("%zu answers, expected exactly one: %.600s", n, r->bytes.data);
    if (!t_raw_response(r, 0, &resp) || resp.status != c->status)
        return tapi_printf("status %d, expected %d: %.400s", resp.status, c->status, r->bytes.data);
    size_t used = (size_t)(resp.body + resp.body_len - r->bytes.data);
    if (used != r->bytes.len)
        return tapi_printf("%zu bytes after the answer: %.200s", r->bytes.len - used,
                           r->bytes.data + used);
    t_raw_header(&resp, "Connection", v, sizeof(v));
    if (c->says_close && strcmp(v, "close") != 0)
        return tapi_printf("the refusal says Connection: %s", v);
    if (c->status < 400)
        return NULL;
    char *d = t_raw_4xx_json_diff(r, 0);
    if (d != NULL)
        return d;
    if (t_raw_header(&resp, "Cache-Control", v, sizeof(v)) != 1 || strcmp(v, "no-store") != 0)
        return tapi_printf("the refusal's Cache-Control is \"%s\", not no-store", v);
    return NULL;
}

/* Sends each case (and NEXT) in one write on a connection left open, and judges the answer;
 * then frees the cases. */
static void run_cases(struct tapi *f, struct framing *cases, size_t n)
{
    struct cf_buf problems = { 0 };

    for (size_t i = 0; i < n; i++) {
        struct t_raw r;
        t_raw_exchange(f->d.port, cases[i].bytes, strlen(cases[i].bytes), false, READ_MS, &r);
        tapi_collect(&problems, cases[i].label, judge(&cases[i], &r));
        t_raw_free(&r);
    }
    for (size_t i = 0; i < n; i++)
        free(cases[i].bytes);
    if (!t_cofferd_alive(&f->d))
        tapi_collect(&problems, "after the cases", strdup("cofferd is gone"));
    tapi_collect_end(&problems);
}

/* A POST of the admin's to /v1/credentials: its head, the lines hdrs (each ending in CRLF),
 * the blank line, then rest; then NEXT. Refused with 400. */
static struct framing post(const struct tapi *f, const char *label, const char *hdrs,
                           const char *rest)
{
    return (struct framing){ label,
                             tapi_printf(POST_HEAD "%s\r\n%s\r\n%s" NEXT, f->admin, hdrs, rest),
                             400, true };
}

/* A whole request of the case's own, then NEXT. */
static struct framing whole(const char *label, const char *request, int status)
{
    return (struct framing){ label, tapi_printf("%s" NEXT, request), status, true };
}

static void test_ambiguous_body_lengths_are_refused_and_the_connection_closed(void **state)
{
    struct tapi *f = *state;
    char *before = tapi_state(f);
    char *http10 =
        tapi_printf("POST /v1/credentials HTTP/1.0\r\nHost: a\r\nContent-Type: "
                    "application/json\r\n%s\r\nTransfer-Encoding: chunked\r\n\r\n" CHUNKED,
                    f->admin);
    struct framing c[] = {
        post(f, "Content-Length and Transfer-Encoding",
             "Content-Length: 47\r\nTransfer-Encoding: chunked\r\n", CHUNKED),
        post(f, "Transfer-Encoding and Content-Length",
             "Transfer-Encoding: chunked\r\nContent-Length: 47\r\n", CHUNKED),
        post(f, "two different Content-Lengths", "Content-Length: 0\r\nContent-Length: 47\r\n",
             BODY),
        /* RFC 9112 6.3 lets a recipient take equal ones as one: the strict choice refuses */
        post(f, "two equal Content-Lengths", "Content-Length: 47\r\nContent-Length: 47\r\n", BODY),
        post(f, "a Content-Length list", "Content-Length: 47, 47\r\n", BODY),
        post(f, "a Content-Length with a plus", "Content-Length: +47\r\n", BODY),
        post(f, "a negative Content-Length", "Content-Length: -47\r\n", BODY),
        post(f, "a Content-Length of -0", "Content-Length: -0\r\n", BODY),
        post(f, "a space inside a Content-Length", "Content-Length: 4 7\r\n", BODY),
        post(f, "a space after a Content-Length", "Content-Length: 47 \r\n", BODY),
        post(f, "a hex Content-Length", "Content-Length: 0x2f\r\n", BODY),
        post(f, "a Content-Length with letters after it", "Content-Length: 47abc\r\n", BODY),
        post(f, "an empty Content-Length", "Content-Length: \r\n", BODY),
        post(f, "a Content-Length of 2^63", "Content-Length: 9223372036854775808\r\n", BODY),
        post(f, "a Content-Length past 2^64", "Content-Length: 99999999999999999999999\r\n", BODY),
        post(f, "Transfer-Encoding: chunked, identity", "Transfer-Encoding: chunked, identity\r\n",
             CHUNKED),
        post(f, "Transfer-Encoding: identity, chunked", "Transfer-Encoding: identity, chunked\r\n",
             CHUNKED),
        post(f, "Transfer-Encoding: identity", "Transfer-Encoding: identity\r\n", CHUNKED),
        post(f, "Transfer-Encoding: xchunked", "Transfer-Encoding: xchunked\r\n", CHUNKED),
        post(f, "Transfer-Encoding: chunked with a space after it",
             "Transfer-Encoding: chunked \r\n", CHUNKED),
        post(f, "Transfer-Encoding: chunked after a tab", "Transfer-Encoding:\tchunked\r\n",
             CHUNKED),
        post(f, "Transfer-Encoding: gzip, chunked", "Transfer-Encoding: gzip, chunked\r\n",
             CHUNKED),
        post(f, "two Transfer-Encodings",
             "Transfer-Encoding: chunked\r\nTransfer-Encoding: chunked\r\n", CHUNKED),
        post(f, "an empty Transfer-Encoding", "Transfer-Encoding: \r\n", CHUNKED),
        whole("Transfer-Encoding on HTTP/1.0", http10, 400),
    };
    free(http10);
    run_cases(f, c, sizeof(c) / sizeof(c[0]));
    tapi_assert_unchanged(f, before);
}

static void test_heads_a_lenient_parser_would_guess_at_are_refused_and_closed(void **state)
{
    struct tapi *f = *state;
    char *before = tapi_state(f);
    struct cf_buf many = { 0 };
    cf_buf_append_str(&many, "GET /healthcheck HTTP/1.1\r\nHost: a\r\n");
    for (int i = 0; i < 64; i++) /* 65 lines: one more than civetweb keeps */
        assert_int_equal(cf_buf_printf(&many, "X-H%d: v\r\n", i), 0);
    cf_buf_append_str(&many, "\r\n");
    struct framing c[] = {
        whole("an obsolete folded line",
              "GET /healthcheck HTTP/1.1\r\nHost: a\r\nX-A: b\r\n folded\r\n\r\n", 400),
        whole("a line folded with a tab",
              "GET /healthcheck HTTP/1.1\r\nHost: a\r\nX-A: b\r\n\tfolded\r\n\r\n", 400),
        post(f, "a folded Content-Length", "Content-Length:\r\n 47\r\n", BODY),
        post(f, "a space before the colon of Content-Length", "Content-Length : 47\r\n", BODY),
        post(f, "a space before the colon of Transfer-Encoding", "Transfer-Encoding : chunked\r\n",
             CHUNKED),
        whole("a space before the colon", "GET /healthcheck HTTP/1.1\r\nHost : a\r\n\r\n", 400),
        whole("a header name with [ ]", "GET /healthcheck HTTP/1.1\r\nHost: a\r\nX[A]: b\r\n\r\n",
              400),
        whole("a header name with a quote",
              "GET /healthcheck HTTP/1.1\r\nHost: a\r\nX\"A: b\r\n\r\n", 400),
        whole("a header name with a slash",
              "GET /healthcheck HTTP/1.1\r\nHost: a\r\nX/A: b\r\n\r\n", 400),
        whole("a header name with a space",
              "GET /healthcheck HTTP/1.1\r\nHost: a\r\nX A: b\r\n\r\n", 400),
        whole("an empty header name", "GET /healthcheck HTTP/1.1\r\nHost: a\r\n: b\r\n\r\n", 400),
        whole("a line without a colon", "GET /healthcheck HTTP/1.1\r\nHost: a\r\nNoColon\r\n\r\n",
              400),
        whole("bare LF line endings", "GET /healthcheck HTTP/1.1\nHost: a\n\n", 400),
        whole("a bare LF after the request line", "GET /healthcheck HTTP/1.1\nHost: a\r\n\r\n",
              400),
        whole("a bare LF after one header line",
              "GET /healthcheck HTTP/1.1\r\nHost: a\nX-A: b\r\n\r\n", 400),
        whole("a bare LF before the request line", "\nGET /healthcheck HTTP/1.1\r\nHost: a\r\n\r\n",
              400),
        whole("a bare CR after the request line", "GET /healthcheck HTTP/1.1\rHost: a\r\n\r\n",
              400),
        whole("a bare CR inside a header value",
              "GET /healthcheck HTTP/1.1\r\nHost: a\r\nX-A: b\rc\r\n\r\n", 400),
        whole("two spaces in the request line", "GET  /healthcheck HTTP/1.1\r\nHost: a\r\n\r\n",
              400),
        whole("a space after the version", "GET /healthcheck HTTP/1.1 \r\nHost: a\r\n\r\n", 400),
        whole("a lower-case version", "GET /healthcheck http/1.1\r\nHost: a\r\n\r\n", 400),
        whole("a tab in the request line", "GET\t/healthcheck HTTP/1.1\r\nHost: a\r\n\r\n", 400),
        whole("65 header lines", many.data, 431),
    };
    cf_buf_free(&many);
    run_cases(f, c, sizeof(c) / sizeof(c[0]));
    tapi_assert_unchanged(f, before);
}

/* Chunked bodies are read by the handler: a malformed one is refused when it is read, and the
 * connection closed after that answer. */
static void test_malformed_chunked_bodies_are_refused_and_closed(void **state)
{
    struct tapi *f = *state;
    char *before = tapi_state(f);
    const char *te = "Transfer-Encoding: chunked\r\n";
    struct framing c[] = {
        post(f, "a chunk extension", te, "2f;ext=1\r\n" BODY "\r\n0\r\n\r\n"),
        post(f, "an extension on the last chunk", te, "2f\r\n" BODY "\r\n0;ext\r\n\r\n"),
        post(f, "a chunk size that is not hex", te, "zz\r\n" BODY "\r\n0\r\n\r\n"),
        post(f, "a chunk size with 0x", te, "0x2f\r\n" BODY "\r\n0\r\n\r\n"),
        post(f, "a chunk size after a space", te, " 2f\r\n" BODY "\r\n0\r\n\r\n"),
        post(f, "a chunk size before a space", te, "2f \r\n" BODY "\r\n0\r\n\r\n"),
        post(f, "a chunk size of 17 digits", te, "0000000000000002f\r\n" BODY "\r\n0\r\n\r\n"),
        post(f, "a chunk size of 2^64 - 1", te, "ffffffffffffffff\r\n" BODY "\r\n0\r\n\r\n"),
        post(f, "a bare LF after a chunk size", te, "2f\n" BODY "\r\n0\r\n\r\n"),
        post(f, "a bare CR inside a chunk size", te, "2f\ra\r\n" BODY "\r\n0\r\n\r\n"),
        post(f, "no CRLF after a chunk's data", te, "2f\r\n" BODY "0\r\n\r\n"),
        post(f, "a bare LF after a chunk's data", te, "2f\r\n" BODY "\n0\r\n\r\n"),
        post(f, "a chunk longer than its size", te, "20\r\n" BODY "\r\n0\r\n\r\n"),
        post(f, "a chunk shorter than its size", te, "30\r\n" BODY "\r\n0\r\n\r\n"),
        post(f, "a trailer field", te, "2f\r\n" BODY "\r\n0\r\nX-Trailer: y\r\n\r\n"),
        /* the last chunk's CRLF missing: NEXT's first bytes are not taken for it */
        post(f, "no CRLF after the last chunk", te, "2f\r\n" BODY "\r\n0\r\n"),
        /* a route that reads no body answers first; the body is then found malformed while
         * civetweb discards it, and the connection is closed all the same */
        { "a malformed chunked body on a route that reads none",
          tapi_printf("GET /healthcheck HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n"
                      "zz\r\nhello\r\n0\r\n\r\n" NEXT),
          200, false },
    };
    run_cases(f, c, sizeof(c) / sizeof(c[0]));
    tapi_assert_unchanged(f, before);
}

/* The classic request-smuggling shapes, with the smuggled request inside the body. */
static void test_a_request_hidden_in_a_refused_body_is_never_answered(void **state)
{
    struct tapi *f = *state;
    char *before = tapi_state(f);
    static const char inner[] = "GET /v1/services/inner HTTP/1.1\r\nHost: a\r\n\r\n";
    /* CL.TE: the length covers the smuggled request, chunked reading ends before it */
    char *cl_te_h =
        tapi_printf("Content-Length: %zu\r\nTransfer-Encoding: chunked\r\n", sizeof(inner) - 1 + 5);
    char *cl_te_b = tapi_printf("0\r\n\r\n%s", inner);
    /* TE.CL: the chunk holds the smuggled request, the length ends before it */
    char *te_cl_b = tapi_printf("%zx\r\n%s\r\n0\r\n\r\n", sizeof(inner) - 1, inner);
    /* two lengths: the first ends before the smuggled request, the second covers it */
    char *cl_cl_h = tapi_printf("Content-Length: 0\r\nContent-Length: %zu\r\n", sizeof(inner) - 1);
    /* a space before the colon: a parser that drops it reads chunked, one that keeps it
     * reads the length */
    char *sp_h = tapi_printf("Transfer-Encoding : chunked\r\nContent-Length: %zu\r\n",
                             sizeof(inner) - 1 + 5);
    /* a folded Transfer-Encoding that some parsers join to the line before */
    char *fold_h = tapi_printf("Content-Length: %zu\r\nX-A: b\r\n Transfer-Encoding: chunked\r\n",
                               sizeof(inner) - 1 + 5);
    struct framing c[] = {
        post(f, "CL.TE", cl_te_h, cl_te_b),
        post(f, "TE.CL", "Content-Length: 4\r\nTransfer-Encoding: chunked\r\n", te_cl_b),
        post(f, "CL.CL", cl_cl_h, inner),
        post(f, "a space before the colon", sp_h, cl_te_b),
        post(f, "a folded Transfer-Encoding", fold_h, cl_te_b),
        post(f, "TE with a second coding", "Transfer-Encoding: chunked, identity\r\n", te_cl_b),
    };
    run_cases(f, c, sizeof(c) / sizeof(c[0]));
    free(cl_te_h);
    free(cl_te_b);
    free(te_cl_b);
    free(cl_cl_h);
    free(sp_h);
    free(fold_h);
    tapi_assert_unchanged(f, before);
}

/* What RFC 9112 allows is still served, and a valid pipelined pair gets both answers. */
static void test_valid_framing_is_served_with_the_request_after_it(void **state)
{
    struct tapi *f = *state;
    static const char hc[] = "GET /healthcheck HTTP/1.1\r\nHost: a\r\n\r\n";
    struct cf_buf problems = { 0 };
    struct {
        const char *label;
        char *bytes;
    } c[] = {
        { "Content-Length",
          tapi_printf(POST_HEAD "%s\r\nContent-Length: 52\r\n\r\n"
                                "{\"name\":\"framing ok 1\",\"credential_pairs\":{\"k\":\"v\"}}%s",
                      f->admin, hc) },
        { "chunked, two chunks",
          tapi_printf(POST_HEAD "%s\r\nTransfer-Encoding: chunked\r\n\r\n"
                                "17\r\n{\"name\":\"framing ok 2\",\r\n"
                                "1d\r\n\"credential_pairs\":{\"k\":\"v\"}}\r\n0\r\n\r\n%s",
                      f->admin, hc) },
        /* optional whitespace before a value, any case in a name and in "chunked", upper-case
         * hex and leading zeros in a chunk size */
        { "spaces before the value, another case",
          tapi_printf("POST /v1/credentials HTTP/1.1\r\nhost: a\r\ncontent-type: application/json"
                      "\r\n%s\r\ntransfer-encoding:   Chunked\r\n\r\n"
                      "0034\r\n{\"name\":\"framing ok 3\",\"credential_pairs\":{\"K\":\"v\"}}\r\n"
                      "0\r\n\r\n%s",
                      f->admin, hc) },
        { "a length after spaces",
          tapi_printf(POST_HEAD "%s\r\nContent-Length:    52\r\n\r\n"
                                "{\"name\":\"framing ok 4\",\"credential_pairs\":{\"k\":\"v\"}}%s",
                      f->admin, hc) },
        { "an empty line before the request line", tapi_printf("\r\n%s%s", hc, hc) },
        { "HTTP/1.0 kept alive with a length",
          tapi_printf("POST /v1/credentials HTTP/1.0\r\nHost: a\r\nConnection: keep-alive\r\n"
                      "Content-Type: application/json\r\n%s\r\nContent-Length: 52\r\n\r\n"
                      "{\"name\":\"framing ok 5\",\"credential_pairs\":{\"k\":\"v\"}}%s",
                      f->admin, hc) },
        { "obs-text in a value", tapi_printf("GET /healthcheck HTTP/1.1\r\nHost: a\r\n"
                                             "X-Note: caf\xc3\xa9\r\n\r\n%s",
                                             hc) },
        { "a pipelined pair", tapi_printf("%s%s", hc, hc) },
    };
    size_t n = sizeof(c) / sizeof(c[0]);

    for (size_t i = 0; i < n; i++) {
        struct t_raw r;
        struct t_raw_resp a, b;
        t_raw_exchange(f->d.port, c[i].bytes, strlen(c[i].bytes), true, READ_MS, &r);
        if (t_raw_count(&r) != 2 || !t_raw_response(&r, 0, &a) || !t_raw_response(&r, 1, &b) ||
            a.status != 200 || b.status != 200) {
            tapi_collect(&problems, c[i].label,
                         tapi_printf("expected two 200s: %.600s", r.bytes.data));
        }
        t_raw_free(&r);
        free(c[i].bytes);
    }
    tapi_collect_end(&problems);
    assert_int_equal(
        tapi_count(f, "SELECT count(*) FROM credentials WHERE name LIKE 'framing ok %'"), 5);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_ambiguous_body_lengths_are_refused_and_the_connection_closed),
        cmocka_unit_test(test_heads_a_lenient_parser_would_guess_at_are_refused_and_closed),
        cmocka_unit_test(test_malformed_chunked_bodies_are_refused_and_closed),
        cmocka_unit_test(test_a_request_hidden_in_a_refused_body_is_never_answered),
        cmocka_unit_test(test_valid_framing_is_served_with_the_request_after_it),
    };
    return t_run_group_tests(tests, setup, tapi_teardown);
}
