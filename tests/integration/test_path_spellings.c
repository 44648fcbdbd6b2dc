/*
 * test_path_spellings.c - one canonical path (issue 24, item 8).
 *
 * cofferd compares a path's segments after percent-decoding them, so "/%76%31/services/<id>"
 * is the service's bundle; the decisions that look at the path must then all read that
 * decoded form, or a cache in front of cofferd is told it may store a bundle
 * (Cache-Control: no-store was decided on the raw path). Every spelling of
 * /v1/services/<id> is sent over a raw socket (a client library would clean the path up),
 * and each either routes to the bundle with exactly the canonical answer's security headers
 * and an access-log row naming the decoded id, or is a 404 with the same security headers.
 * Which spellings route is decided once (README, "Paths"):
 *
 *   routes: any segment percent-encoded (%76 is v, any case of hex digits);
 *   404:    another case of a literal segment (/V1/), an empty segment (//, a trailing /),
 *           a dot segment (. or .., plain or %2e-encoded), %2F (a / inside a segment).
 */
#define _GNU_SOURCE /* strcasestr */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "cf_codec.h"
#include "cf_str.h"
#include "tapi.h"
#include "traw.h"

static int setup(void **state)
{
    char *const env[] = { "COFFER_MAX_CONNECTIONS_PER_IP=0", NULL };
    return tapi_setup_env(state, env);
}

/* The headers that keep an answer out of caches and out of a browser's hands. */
static const char *const security_headers[] = {
    "Cache-Control",   "Content-Security-Policy", "X-Content-Type-Options",
    "X-Frame-Options", "Referrer-Policy",
};
#define NSEC (sizeof(security_headers) / sizeof(security_headers[0]))

struct answer {
    int status;
    char sec[NSEC][128]; /* each security header's value, "" if absent */
    size_t sec_count[NSEC];
    char rid[64];  /* X-Request-Id */
    char code[64]; /* an error's code, "" for a success */
    char *problem; /* what was wrong with the exchange itself, or NULL */
};

/* GET path with the header line auth (may be NULL), over a raw socket, read whole. */
static void get(const struct tapi *f, const char *path, const char *auth, struct answer *a)
{
    char *req = tapi_printf("GET %s HTTP/1.1\r\nHost: a\r\n%s%sConnection: close\r\n\r\n", path,
                            auth != NULL ? auth : "", auth != NULL ? "\r\n" : "");
    struct t_raw r;
    struct t_raw_resp resp;

    *a = (struct answer){ 0 };
    t_raw_exchange(f->d.port, req, strlen(req), true, 20000, &r);
    free(req);
    if (t_raw_count(&r) != 1 || !t_raw_response(&r, 0, &resp)) {
        a->problem = tapi_printf("not one answer: %.300s", r.bytes.data);
        t_raw_free(&r);
        return;
    }
    a->status = resp.status;
    for (size_t i = 0; i < NSEC; i++)
        a->sec_count[i] = t_raw_header(&resp, security_headers[i], a->sec[i], sizeof(a->sec[i]));
    t_raw_header(&resp, "X-Request-Id", a->rid, sizeof(a->rid));
    if (resp.status >= 400) {
        json_error_t err;
        json_t *b = json_loadb(resp.body, resp.body_len, 0, &err);
        const char *code = json_string_value(json_object_get(b, "code"));
        snprintf(a->code, sizeof(a->code), "%s", code != NULL ? code : "(none)");
        json_decref(b);
    }
    t_raw_free(&r);
}

/* The access-log row's resource_id of the answer's request ("" if none, "<null>" if NULL). */
static char *resource_id_of(const struct tapi *f, const struct answer *a)
{
    assert_true(cf_is_lower_hex(a->rid, 32));
    char *sql = tapi_printf("SELECT coalesce(resource_id, '<null>') FROM audit_log "
                            "WHERE request_id = '%s'",
                            a->rid);
    char *v = tapi_sql(f, sql);
    free(sql);
    return v;
}

/* What differs between a's security headers and the canonical answer's; NULL if nothing. */
static char *security_diff(const struct answer *a, const struct answer *canon)
{
    for (size_t i = 0; i < NSEC; i++) {
        if (a->sec_count[i] != 1 || strcmp(a->sec[i], canon->sec[i]) != 0)
            return tapi_printf("%s: \"%s\" (%zu times), the canonical answer's \"%s\"",
                               security_headers[i], a->sec[i], a->sec_count[i], canon->sec[i]);
    }
    return NULL;
}

/* path with "{id}" replaced by id and "{enc}" by enc (free() it). */
static char *with_id(const char *path, const char *id, const char *enc)
{
    struct cf_buf b = { 0 };
    for (const char *p = path; *p != '\0';) {
        if (strncmp(p, "{id}", 4) == 0) {
            cf_buf_append_str(&b, id);
            p += 4;
        } else if (strncmp(p, "{enc}", 5) == 0) {
            cf_buf_append_str(&b, enc);
            p += 5;
        } else {
            cf_buf_append(&b, p++, 1);
        }
    }
    cf_buf_append(&b, "", 0);
    char *s = strdup(b.data);
    cf_buf_free(&b);
    return s;
}

static void test_every_spelling_of_a_bundle_path_has_the_same_headers_or_is_a_404(void **state)
{
    struct tapi *f = *state;
    char sid[32], cid[TAPI_ID_LEN], enc[128], path[256];
    struct cf_buf problems = { 0 };

    tapi_name(sid, sizeof(sid), "spell-");
    tapi_cred_new(f, "spelling", "{\"k\":\"v\"}", cid);
    const char *ids[] = { cid, NULL };
    tapi_svc_map(f, sid, ids);
    enc[0] = '\0';
    for (size_t i = 0; sid[i] != '\0'; i++) /* every byte, in upper-case hex */
        snprintf(enc + strlen(enc), sizeof(enc) - strlen(enc), "%%%02X", (unsigned char)sid[i]);

    struct answer canon;
    snprintf(path, sizeof(path), "/v1/services/%s", sid);
    get(f, path, f->admin, &canon);
    assert_null(canon.problem);
    assert_int_equal(canon.status, 200);
    assert_string_equal(canon.sec[0], "no-store");
    assert_string_equal(canon.sec[1], "default-src 'none'; frame-ancestors 'none'");
    assert_string_equal(canon.sec[2], "nosniff");
    char *rid = resource_id_of(f, &canon);
    assert_string_equal(rid, sid);
    free(rid);

    static const struct {
        const char *path; /* "{id}": the service's id; "{enc}": each of its bytes %-encoded */
        int status;
    } cases[] = {
        /* percent-encoded segments are the same segments */
        { "/%76%31/services/{id}", 200 },
        { "/v1/%73%65%72%76%69%63%65%73/{id}", 200 },
        { "/%76%31/%73ervices/{id}", 200 },
        { "/v1/services/{enc}", 200 },
        { "/%76%31/services/{enc}", 200 },
        /* a literal segment is compared exactly, in its case */
        { "/V1/services/{id}", 404 },
        { "/%56%31/services/{id}", 404 },
        { "/v1/Services/{id}", 404 },
        /* an empty segment is not dropped */
        { "//v1/services/{id}", 404 },
        { "/v1//services/{id}", 404 },
        { "/v1/services//{id}", 404 },
        { "/v1/services/{id}/", 404 },
        /* a dot segment is never resolved, plain or encoded */
        { "/./v1/services/{id}", 404 },
        { "/v1/./services/{id}", 404 },
        { "/v1/services/./{id}", 404 },
        { "/v1/services/../services/{id}", 404 },
        { "/v1/x/../services/{id}", 404 },
        { "/v1/%2e/services/{id}", 404 },
        { "/v1/services/%2E%2E/services/{id}", 404 },
        { "/v1/services/%2e", 404 },
        { "/v1/services/..", 404 },
        /* a slash inside a segment is not a separator */
        { "/v1%2Fservices/{id}", 404 },
        { "/v1/services%2F{id}", 404 },
        { "/v1%2fservices%2f{id}", 404 },
        { "/v1/services/{id}%2F", 404 },
    };

    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        char *p = with_id(cases[i].path, sid, enc);
        struct answer a;
        get(f, p, f->admin, &a);
        char *d = a.problem;
        if (d == NULL && a.status != cases[i].status)
            d = tapi_printf("status %d, expected %d (%s)", a.status, cases[i].status, a.code);
        if (d == NULL)
            d = security_diff(&a, &canon);
        if (d == NULL && a.status == 404 && strcmp(a.code, "not_found") != 0)
            d = tapi_printf("a 404 whose code is %s", a.code);
        if (d == NULL && a.status == 200) {
            char *got = resource_id_of(f, &a);
            if (strcmp(got, sid) != 0)
                d = tapi_printf("the access log's resource_id is \"%s\", not \"%s\"", got, sid);
            free(got);
        }
        tapi_collect(&problems, p, d);
        free(p);
    }

    /* refused before authentication, under an encoded spelling: the same headers, and the
     * access-log row names the decoded id */
    snprintf(path, sizeof(path), "/%%76%%31/services/%s", enc);
    struct answer a;
    get(f, path, NULL, &a);
    char *d = a.problem;
    if (d == NULL && a.status != 401)
        d = tapi_printf("status %d, expected 401", a.status);
    if (d == NULL)
        d = security_diff(&a, &canon);
    if (d == NULL) {
        char *got = resource_id_of(f, &a);
        if (strcmp(got, sid) != 0)
            d = tapi_printf("the access log's resource_id is \"%s\", not \"%s\"", got, sid);
        free(got);
    }
    tapi_collect(&problems, "unauthenticated, encoded", d);
    tapi_collect_end(&problems);
}

/* Every refusal is kept out of caches, wherever its path points; the public answers that are
 * no refusal keep their own caching. */
static void test_every_refusal_says_no_store(void **state)
{
    struct tapi *f = *state;
    struct cf_buf problems = { 0 };
    static const struct {
        const char *path;
        int status;
        const char *cache_control; /* "" for none */
    } cases[] = {
        { "/nope", 404, "no-store" },
        { "/ui/nope.js", 404, "no-store" },
        { "/healthcheck/x", 404, "no-store" },
        { "/%68ealthcheck", 200, "" }, /* the health check, spelt otherwise: public, no-store
                                        * not needed, and nothing else changes */
        { "/healthcheck", 200, "" },
        { "/ui/app.js", 200, "no-cache" },
        { "/%75i/app.js", 200, "no-cache" },
    };

    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        struct answer a;
        get(f, cases[i].path, NULL, &a);
        char *d = a.problem;
        if (d == NULL && a.status != cases[i].status)
            d = tapi_printf("status %d, expected %d", a.status, cases[i].status);
        if (d == NULL && strcmp(a.sec[0], cases[i].cache_control) != 0)
            d = tapi_printf("Cache-Control: \"%s\", expected \"%s\"", a.sec[0],
                            cases[i].cache_control);
        if (d == NULL && a.sec_count[0] > 1)
            d = tapi_printf("%zu Cache-Control headers", a.sec_count[0]);
        tapi_collect(&problems, cases[i].path, d);
    }
    tapi_collect_end(&problems);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_every_spelling_of_a_bundle_path_has_the_same_headers_or_is_a_404),
        cmocka_unit_test(test_every_refusal_says_no_store),
    };
    return t_run_group_tests(tests, setup, tapi_teardown);
}
