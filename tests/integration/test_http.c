/* test_http.c - cofferd over HTTP: health, errors, authentication, the access log. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include <cmocka.h>
#include <jansson.h>

#include "cf_codec.h"
#include "cf_json.h"
#include "tsupport.h"

struct fixture {
    struct t_db db;
    struct t_cofferd d;
    char admin[64];
    char auditor[64];
    char bearer_admin[96];
    char bearer_auditor[96];
};

static int setup(void **state)
{
    struct fixture *f = calloc(1, sizeof(*f));
    t_db_create(&f->db, true);
    t_token_create(&f->db, "admin", "admin-1", f->admin);
    t_token_create(&f->db, "auditor", "auditor-1", f->auditor);
    snprintf(f->bearer_admin, sizeof(f->bearer_admin), "Authorization: Bearer %s", f->admin);
    snprintf(f->bearer_auditor, sizeof(f->bearer_auditor), "Authorization: Bearer %s", f->auditor);
    t_cofferd_start(&f->d, &f->db, NULL);
    *state = f;
    return 0;
}

static int teardown(void **state)
{
    struct fixture *f = *state;
    int rc = t_cofferd_stop(&f->d);
    t_db_drop(&f->db);
    free(f);
    assert_int_equal(rc, 0); /* SIGTERM: drained and exited cleanly */
    return 0;
}

static void get(struct fixture *f, const char *path, const char *header, struct t_resp *r)
{
    struct cf_buf url = { 0 };
    const char *headers[] = { header, NULL };
    cf_buf_append_str(&url, f->d.base_url);
    cf_buf_append_str(&url, path);
    t_http("GET", url.data, header != NULL ? headers : NULL, NULL, r);
    cf_buf_free(&url);
}

static json_t *body_json(const struct t_resp *r)
{
    json_error_t err;
    json_t *v = json_loads(r->body.data, 0, &err);
    if (v == NULL)
        fail_msg("response body is not JSON: %s", r->body.data);
    return v;
}

/* Checks the headers every response carries and returns its request id; no_store: the answer
 * is under /v1/ or a refusal, and says Cache-Control: no-store (others say none). */
static void check_common_headers(const struct t_resp *r, char rid[33], bool no_store)
{
    char v[128];
    assert_true(t_resp_header(r, "X-Request-Id", v, sizeof(v)));
    assert_true(cf_is_lower_hex(v, 32));
    memcpy(rid, v, 33);
    assert_true(t_resp_header(r, "X-Content-Type-Options", v, sizeof(v)));
    assert_string_equal(v, "nosniff");
    assert_true(t_resp_header(r, "Referrer-Policy", v, sizeof(v)));
    assert_string_equal(v, "no-referrer");
    assert_true(t_resp_header(r, "Content-Security-Policy", v, sizeof(v)));
    assert_string_equal(v, "default-src 'none'; frame-ancestors 'none'");
    assert_true(t_resp_header(r, "X-Frame-Options", v, sizeof(v)));
    assert_string_equal(v, "DENY");
    assert_false(t_resp_header(r, "Strict-Transport-Security", v, sizeof(v))); /* plain HTTP */
    assert_true(t_resp_header(r, "Content-Type", v, sizeof(v)));
    assert_string_equal(v, "application/json");
    assert_int_equal(t_resp_header(r, "Cache-Control", v, sizeof(v)), no_store);
    if (no_store)
        assert_string_equal(v, "no-store");
    /* exactly one Date, an IMF-fixdate (cf_http_date's unit test checks the values) */
    static const char shape[] = "Aaa, dd Aaa dddd dd:dd:dd GMT";
    assert_true(t_resp_header(r, "Date", v, sizeof(v)));
    assert_int_equal(strlen(v), sizeof(shape) - 1);
    for (size_t i = 0; i < sizeof(shape) - 1; i++) {
        bool ok = shape[i] == 'd'   ? (v[i] >= '0' && v[i] <= '9')
                  : shape[i] == 'A' ? (v[i] >= 'A' && v[i] <= 'Z')
                  : shape[i] == 'a' ? (v[i] >= 'a' && v[i] <= 'z')
                                    : v[i] == shape[i];
        if (!ok)
            fail_msg("Date: %s is not an HTTP date", v);
    }
    const char *first = strstr(r->headers.data, "\r\nDate:");
    assert_non_null(first);
    assert_null(strstr(first + 2, "\r\nDate:"));
}

/* Checks an error body: its code, and that request_id equals the header. */
static void check_error(const struct t_resp *r, long status, const char *code, bool no_store)
{
    char rid[33];
    assert_int_equal(r->status, status);
    check_common_headers(r, rid, no_store);
    json_t *b = body_json(r);
    assert_string_equal(json_string_value(json_object_get(b, "code")), code);
    assert_string_equal(json_string_value(json_object_get(b, "request_id")), rid);
    assert_true(json_is_string(json_object_get(b, "error")));
    json_decref(b);
}

/* The access-log row of a request, as "actor_type|actor|action|result|reason". */
static void audit_row(const struct fixture *f, const struct t_resp *r, char *out, size_t cap)
{
    char rid[64], sql[512];
    assert_true(t_resp_header(r, "X-Request-Id", rid, sizeof(rid)));
    snprintf(sql, sizeof(sql),
             "SELECT actor_type || '|' || actor || '|' || action || '|' || result || '|' || "
             "reason || '|' || count(*) OVER () FROM audit_log WHERE request_id = '%s'",
             rid);
    t_sql_ok(f->db.super_url, sql, out, cap);
}

static void test_healthcheck_answers_ok_with_the_common_headers(void **state)
{
    struct fixture *f = *state;
    struct t_resp r;
    char rid[33];

    get(f, "/healthcheck", NULL, &r);
    assert_int_equal(r.status, 200);
    check_common_headers(&r, rid, false);
    assert_string_equal(r.body.data, "{\"status\":\"ok\"}");
    t_resp_free(&r);
}

static void test_readiness_reports_every_check(void **state)
{
    struct fixture *f = *state;
    struct t_resp r;

    get(f, "/healthcheck/ready", NULL, &r);
    assert_int_equal(r.status, 200);
    json_t *b = body_json(&r);
    assert_string_equal(json_string_value(json_object_get(b, "status")), "ready");
    json_t *checks = json_object_get(b, "checks");
    assert_string_equal(json_string_value(json_object_get(checks, "database")), "ok");
    assert_string_equal(json_string_value(json_object_get(checks, "schema")), "ok");
    assert_string_equal(json_string_value(json_object_get(checks, "audit")), "ok");
    json_decref(b);
    t_resp_free(&r);
}

static void test_an_unknown_path_is_a_json_404_with_no_audit_row(void **state)
{
    struct fixture *f = *state;
    struct t_resp r;
    char row[256];

    get(f, "/nope", NULL, &r);
    check_error(&r, 404, "not_found", true); /* every refusal: no-store */
    audit_row(f, &r, row, sizeof(row));
    assert_string_equal(row, "");
    t_resp_free(&r);
    get(f, "/v1/services/", f->bearer_admin, &r); /* no trailing-slash alias */
    check_error(&r, 404, "not_found", true);
    t_resp_free(&r);
}

/* The web page (issue 15): its files from memory under /ui/, no authentication and no audit
 * row, a Content-Security-Policy that lets it load its own scripts and nothing else, an ETag
 * that revalidates, and nothing but the page's own files by name. */
static void test_the_web_page_is_served_under_ui_with_a_strict_policy(void **state)
{
    struct fixture *f = *state;
    struct t_resp r;
    char v[512], etag[64], inm[96], row[256];
    static const struct {
        const char *path, *type, *needle;
    } files[] = {
        { "/ui/", "text/html; charset=utf-8", "<script type=\"module\" src=\"/ui/app.js\">" },
        { "/ui", "text/html; charset=utf-8", "<title>coffer</title>" },
        { "/ui/app.js", "text/javascript; charset=utf-8", "import" },
        { "/ui/api.js", "text/javascript; charset=utf-8", "Authorization" },
        { "/ui/app.css", "text/css; charset=utf-8", ":root" },
    };

    for (size_t i = 0; i < sizeof(files) / sizeof(files[0]); i++) {
        get(f, files[i].path, NULL, &r);
        assert_int_equal(r.status, 200);
        assert_true(t_resp_header(&r, "Content-Type", v, sizeof(v)));
        assert_string_equal(v, files[i].type);
        assert_non_null(strstr(r.body.data, files[i].needle));
        assert_true(t_resp_header(&r, "Content-Security-Policy", v, sizeof(v)));
        assert_non_null(strstr(v, "default-src 'none'"));
        assert_non_null(strstr(v, "script-src 'self'"));
        assert_non_null(strstr(v, "frame-ancestors 'none'"));
        assert_null(strstr(v, "unsafe"));
        assert_true(t_resp_header(&r, "X-Frame-Options", v, sizeof(v)));
        assert_string_equal(v, "DENY");
        assert_true(t_resp_header(&r, "Cache-Control", v, sizeof(v)));
        assert_string_equal(v, "no-cache");
        assert_true(t_resp_header(&r, "ETag", etag, sizeof(etag)));
        assert_int_equal(strlen(etag), 34);
        audit_row(f, &r, row, sizeof(row));
        assert_string_equal(row, ""); /* the page holds no data: no access-log row */
        t_resp_free(&r);
    }
    /* no inline script anywhere in the page: the policy would refuse it */
    get(f, "/ui/", NULL, &r);
    assert_null(strstr(r.body.data, "<script>"));
    assert_null(strstr(r.body.data, " on"));
    t_resp_free(&r);

    /* revalidation: the same tag is a 304 with no body */
    get(f, "/ui/app.js", NULL, &r);
    assert_true(t_resp_header(&r, "ETag", etag, sizeof(etag)));
    t_resp_free(&r);
    snprintf(inm, sizeof(inm), "If-None-Match: %s", etag);
    get(f, "/ui/app.js", inm, &r);
    assert_int_equal(r.status, 304);
    assert_int_equal(r.body.len, 0);
    t_resp_free(&r);

    /* only the page's own files, by name: no folder, no way out of the table */
    static const char *const missing[] = {
        "/ui/nope.js",  "/ui/..%2fCMakeLists.txt", "/ui/%2e%2e",        "/ui/web_assets.h",
        "/ui/app.js/x", "/ui/embed.cmake",         "/ui/index.html%00", "/ui//app.js",
        "/ui/APP.JS",
    };
    for (size_t i = 0; i < sizeof(missing) / sizeof(missing[0]); i++) {
        get(f, missing[i], NULL, &r);
        if (r.status != 404)
            fail_msg("%s: %ld, not 404", missing[i], r.status);
        check_error(&r, 404, "not_found", true);
        t_resp_free(&r);
    }
    /* HEAD answers like GET without the body; other methods are 405 */
    struct cf_buf url = { 0 };
    cf_buf_append_str(&url, f->d.base_url);
    cf_buf_append_str(&url, "/ui/app.css");
    t_http("HEAD", url.data, NULL, NULL, &r);
    assert_int_equal(r.status, 200);
    assert_int_equal(r.body.len, 0);
    t_resp_free(&r);
    t_http("POST", url.data, NULL, "", &r);
    assert_int_equal(r.status, 405);
    t_resp_free(&r);
    cf_buf_free(&url);
}

static void test_a_wrong_method_is_405_with_allow(void **state)
{
    struct fixture *f = *state;
    struct t_resp r;
    char url[256], allow[64];

    snprintf(url, sizeof(url), "%s/v1/user/email", f->d.base_url);
    t_http("DELETE", url, NULL, NULL, &r);
    check_error(&r, 405, "method_not_allowed", true);
    assert_true(t_resp_header(&r, "Allow", allow, sizeof(allow)));
    assert_string_equal(allow, "GET, POST");
    t_resp_free(&r);
}

static void test_no_credentials_is_401_unauthenticated_and_audited(void **state)
{
    struct fixture *f = *state;
    struct t_resp r;
    char v[256];

    get(f, "/v1/user/email", NULL, &r);
    check_error(&r, 401, "unauthenticated", true);
    assert_true(t_resp_header(&r, "WWW-Authenticate", v, sizeof(v)));
    assert_string_equal(v, "Basic realm=\"coffer\", Bearer realm=\"coffer\"");
    audit_row(f, &r, v, sizeof(v));
    assert_string_equal(v, "anonymous||identity.get|denied|unauthenticated|1");
    t_resp_free(&r);
}

static void test_a_bad_token_is_401_authentication_failed_and_audited(void **state)
{
    struct fixture *f = *state;
    struct t_resp r;
    char row[256];
    const char *bad[] = {
        "Authorization: Bearer coffer_AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA",
        "Authorization: Bearer not-a-token", "Authorization: Bearer "
    };

    for (size_t i = 0; i < 3; i++) {
        get(f, "/v1/user/email", bad[i], &r);
        check_error(&r, 401, "authentication_failed", true);
        audit_row(f, &r, row, sizeof(row));
        assert_string_equal(row, "anonymous||identity.get|denied|api_token_invalid|1");
        assert_null(strstr(r.body.data, "coffer_"));
        t_resp_free(&r);
    }
}

static void test_a_good_token_is_200_with_its_identity_and_audited(void **state)
{
    struct fixture *f = *state;
    struct t_resp r;
    char row[256];

    get(f, "/v1/user/email", f->bearer_admin, &r);
    assert_int_equal(r.status, 200);
    json_t *b = body_json(&r);
    assert_string_equal(json_string_value(json_object_get(b, "email")), "token:admin-1");
    assert_string_equal(json_string_value(json_object_get(b, "actor_type")), "token");
    assert_string_equal(json_string_value(json_object_get(b, "role")), "admin");
    json_decref(b);
    audit_row(f, &r, row, sizeof(row));
    assert_string_equal(row, "token|token:admin-1|identity.get|allowed|ok|1");
    t_resp_free(&r);

    char url[256];
    const char *h[] = { f->bearer_auditor, "Content-Type: application/json", NULL };
    snprintf(url, sizeof(url), "%s/v1/user/email", f->d.base_url);
    t_http("POST", url, h, "{}", &r);
    assert_int_equal(r.status, 200);
    assert_non_null(strstr(r.body.data, "\"role\":\"auditor\""));
    t_resp_free(&r);
}

struct refused {
    struct fixture *f;
    const char *header;
};

static bool is_refused(void *arg)
{
    struct refused *p = arg;
    struct t_resp r;
    get(p->f, "/v1/user/email", p->header, &r);
    bool refused = r.status == 401;
    t_resp_free(&r);
    return refused;
}

static void test_expired_and_revoked_tokens_are_refused(void **state)
{
    struct fixture *f = *state;
    char tok[64], hdr[96], row[256];
    struct t_resp r;

    t_token_create(&f->db, "admin", "short-lived", tok);
    snprintf(hdr, sizeof(hdr), "Authorization: Bearer %s", tok);
    get(f, "/v1/user/email", hdr, &r);
    assert_int_equal(r.status, 200);
    t_resp_free(&r);
    t_sql_ok(f->db.super_url,
             "UPDATE api_tokens SET created_at = now() - interval '2 days', expires_at = now() - "
             "interval '1 second' WHERE name = 'short-lived'",
             NULL, 0);
    /* cofferd caches tokens until a change notification (or 10 s): send the one a write
     * through the API would send */
    t_sql_ok(f->db.super_url, "SELECT pg_notify('coffer_changes', 'token:x')", NULL, 0);
    struct refused probe = { f, hdr };
    assert_true(t_wait_until(is_refused, &probe, 30));
    get(f, "/v1/user/email", hdr, &r);
    check_error(&r, 401, "authentication_failed", true);
    t_resp_free(&r);

    t_token_create(&f->db, "admin", "revoked-one", tok);
    snprintf(hdr, sizeof(hdr), "Authorization: Bearer %s", tok);
    t_sql_ok(f->db.super_url,
             "UPDATE api_tokens SET revoked_at = now(), revoked_by = 'test' WHERE name = "
             "'revoked-one'",
             NULL, 0); /* never used before: nothing cached */
    get(f, "/v1/user/email", hdr, &r);
    check_error(&r, 401, "authentication_failed", true);
    audit_row(f, &r, row, sizeof(row));
    assert_string_equal(row, "anonymous||identity.get|denied|api_token_invalid|1");
    t_resp_free(&r);
}

static void test_other_credential_forms_fail_closed(void **state)
{
    struct fixture *f = *state;
    struct t_resp r;
    char row[256];

    /* Basic with an empty username counts as absent */
    get(f, "/v1/user/email", "Authorization: Basic OnRva2Vu", &r); /* ":token" */
    check_error(&r, 401, "unauthenticated", true);
    t_resp_free(&r);
    /* undecodable Basic */
    get(f, "/v1/user/email", "Authorization: Basic !!!", &r);
    check_error(&r, 401, "authentication_failed", true);
    audit_row(f, &r, row, sizeof(row));
    assert_string_equal(row, "anonymous||identity.get|denied|bad_auth_header|1");
    t_resp_free(&r);
    /* half of the X-Auth pair */
    get(f, "/v1/user/email", "X-Auth-From: web", &r);
    check_error(&r, 401, "authentication_failed", true);
    audit_row(f, &r, row, sizeof(row));
    assert_string_equal(row, "anonymous|web|identity.get|denied|bad_auth_header|1");
    t_resp_free(&r);
    /* kmsauth with no auth key configured */
    get(f, "/v1/user/email", "Authorization: Basic Mi9zZXJ2aWNlL3dlYjpBQUFB", &r);
    check_error(&r, 401, "authentication_failed", true);
    audit_row(f, &r, row, sizeof(row));
    assert_string_equal(row, "anonymous|2/service/web|identity.get|denied|kmsauth_user_type|1");
    t_resp_free(&r);
    /* a malformed kmsauth username */
    get(f, "/v1/user/email", "Authorization: Basic YS9iOkFBQUE=", &r); /* "a/b:AAAA" */
    check_error(&r, 401, "authentication_failed", true);
    audit_row(f, &r, row, sizeof(row));
    assert_string_equal(row, "anonymous|a/b|identity.get|denied|kmsauth_bad_username|1");
    t_resp_free(&r);
}

static json_t *send_json(struct fixture *f, const char *method, const char *path,
                         const char *header, const char *body, long want)
{
    char url[256];
    const char *h[] = { header, "Content-Type: application/json", NULL };
    struct t_resp r;

    snprintf(url, sizeof(url), "%s%s", f->d.base_url, path);
    t_http(method, url, h, body, &r);
    if (r.status != want)
        fail_msg("%s %s: %ld, wanted %ld: %s", method, path, r.status, want, r.body.data);
    json_t *v = body_json(&r);
    t_resp_free(&r);
    return v;
}

static void test_api_tokens_are_made_listed_and_revoked_by_admins_only(void **state)
{
    struct fixture *f = *state;
    char bearer[96], path[64], row[256];
    struct t_resp r;

    json_t *made = send_json(f, "POST", "/v1/tokens", f->bearer_admin,
                             "{\"name\": \"deploy-bot\", \"role\": \"auditor\", "
                             "\"ttl_seconds\": 3600}",
                             201);
    const char *tok = json_string_value(json_object_get(made, "token"));
    const char *id = json_string_value(json_object_get(made, "id"));
    assert_int_equal(strlen(tok), 50);
    assert_string_equal(json_string_value(json_object_get(made, "role")), "auditor");
    assert_string_equal(json_string_value(json_object_get(made, "created_by")), "token:admin-1");
    snprintf(bearer, sizeof(bearer), "Authorization: Bearer %s", tok);
    snprintf(path, sizeof(path), "/v1/tokens/%s", id);
    get(f, "/v1/user/email", bearer, &r);
    assert_int_equal(r.status, 200);
    assert_non_null(strstr(r.body.data, "token:deploy-bot"));
    t_resp_free(&r);

    /* the plaintext is stored nowhere and never listed */
    json_t *list = send_json(f, "GET", "/v1/tokens", f->bearer_admin, NULL, 200);
    char *text = json_dumps(list, 0);
    assert_non_null(strstr(text, id));
    assert_null(strstr(text, tok));
    cf_json_free_str(text);
    json_decref(list);
    t_sql_ok(f->db.super_url, "SELECT count(*) FROM api_tokens WHERE name = 'deploy-bot'", row,
             sizeof(row));
    assert_string_equal(row, "1");

    json_decref(send_json(f, "POST", "/v1/tokens", f->bearer_admin,
                          "{\"name\": \"deploy-bot\", \"role\": \"admin\"}", 409));
    json_decref(send_json(f, "POST", "/v1/tokens", f->bearer_auditor,
                          "{\"name\": \"x\", \"role\": \"admin\"}", 403));
    json_decref(send_json(f, "POST", "/v1/tokens", f->bearer_admin,
                          "{\"name\": \"-bad\", \"role\": \"admin\"}", 400));
    json_decref(send_json(f, "POST", "/v1/tokens", f->bearer_admin,
                          "{\"name\": \"ok\", \"role\": \"root\"}", 400));
    json_decref(send_json(f, "POST", "/v1/tokens", f->bearer_admin,
                          "{\"name\": \"ok\", \"role\": \"admin\", \"ttl_seconds\": 5}", 400));

    /* revoked: refused at once on this node; revoking again is harmless */
    json_t *rev = send_json(f, "DELETE", path, f->bearer_admin, NULL, 200);
    assert_true(json_is_string(json_object_get(rev, "revoked_at")));
    assert_string_equal(json_string_value(json_object_get(rev, "revoked_by")), "token:admin-1");
    json_decref(send_json(f, "DELETE", path, f->bearer_admin, NULL, 200));
    get(f, "/v1/user/email", bearer, &r);
    check_error(&r, 401, "authentication_failed", true);
    t_resp_free(&r);
    json_decref(
        send_json(f, "DELETE", "/v1/tokens/tok_0000000000000000", f->bearer_admin, NULL, 404));
    list = send_json(f, "GET", "/v1/tokens", f->bearer_admin, NULL, 200);
    text = json_dumps(list, 0);
    assert_null(strstr(text, id)); /* active tokens only by default */
    cf_json_free_str(text);
    json_decref(list);
    list = send_json(f, "GET", "/v1/tokens?include_revoked=true", f->bearer_admin, NULL, 200);
    text = json_dumps(list, 0);
    assert_non_null(strstr(text, id));
    cf_json_free_str(text);
    json_decref(list);
    json_decref(rev);
    json_decref(made);
}

static void test_unimplemented_paths_answer_501_after_authentication(void **state)
{
    struct fixture *f = *state;
    struct t_resp r;
    char row[256];

    get(f, "/v1/roles", NULL, &r);
    check_error(&r, 401, "unauthenticated", true);
    t_resp_free(&r);
    get(f, "/v1/value_generator", f->bearer_admin, &r);
    check_error(&r, 501, "not_implemented", true);
    audit_row(f, &r, row, sizeof(row));
    assert_string_equal(row, "token|token:admin-1|unsupported|error|not_implemented|1");
    t_resp_free(&r);
}

static void test_client_config_reflects_the_callers_role(void **state)
{
    struct fixture *f = *state;
    struct t_resp r;

    get(f, "/v1/client_config", f->bearer_auditor, &r);
    assert_int_equal(r.status, 200);
    json_t *b = body_json(&r);
    json_t *perms = json_object_get(json_object_get(b, "generated"), "permissions");
    assert_true(json_is_true(json_object_get(json_object_get(perms, "credentials"), "list")));
    assert_true(json_is_false(json_object_get(json_object_get(perms, "credentials"), "create")));
    json_decref(b);
    t_resp_free(&r);
}

static void test_oversized_request_lines_and_headers_are_refused(void **state)
{
    struct fixture *f = *state;
    struct t_resp r;
    size_t n = 9000;
    char *path = malloc(n + 2);
    char *header = malloc(20000);

    path[0] = '/';
    memset(path + 1, 'a', n);
    path[n + 1] = '\0';
    get(f, path, NULL, &r);
    check_error(&r, 414, "uri_too_long", true);
    t_resp_free(&r);

    snprintf(header, 20000, "X-Big: ");
    memset(header + 7, 'b', 17000);
    header[17007] = '\0';
    get(f, "/healthcheck", header, &r);
    check_error(&r, 431, "headers_too_large", true);
    t_resp_free(&r);
    free(path);
    free(header);
}

static void test_bodies_over_the_limit_or_not_json_are_refused(void **state)
{
    struct fixture *f = *state;
    struct t_resp r;
    char url[256], row[256];
    size_t n = 300 * 1024;
    char *big = malloc(n + 1);
    const char *json[] = { f->bearer_admin, "Content-Type: application/json", NULL };
    const char *text[] = { f->bearer_admin, "Content-Type: text/plain", NULL };
    const char *param[] = { f->bearer_admin, "Content-Type: Application/JSON; charset=utf-8",
                            NULL };

    memset(big, 'x', n);
    big[n] = '\0';
    snprintf(url, sizeof(url), "%s/v1/user/email", f->d.base_url);
    t_http("POST", url, json, big, &r); /* refused from its Content-Length, before anything */
    check_error(&r, 413, "body_too_large", true);
    t_resp_free(&r);
    free(big);
    t_http("POST", url, text, "{}", &r);
    check_error(&r, 415, "unsupported_media_type", true);
    audit_row(f, &r, row, sizeof(row));
    assert_string_equal(row, "token|token:admin-1|identity.get|denied|unsupported_media_type|1");
    t_resp_free(&r);
    t_http("POST", url, param, "{}", &r);
    assert_int_equal(r.status, 200);
    t_resp_free(&r);
    t_http("POST", url, json, NULL, &r); /* an empty body needs no Content-Type */
    assert_int_equal(r.status, 200);
    t_resp_free(&r);
}

static void test_a_huge_path_segment_is_refused_not_unauditable(void **state)
{
    struct fixture *f = *state;
    struct t_resp r;
    char path[4100], row[512];

    /* 4,000 bytes: inside the request-line limit, far past what an index entry may hold */
    snprintf(path, sizeof(path), "/v1/services/");
    size_t at = strlen(path);
    memset(path + at, 'A', 4000);
    path[at + 4000] = '\0';
    get(f, path, NULL, &r);
    check_error(&r, 401, "unauthenticated", true); /* not 503: its row was written */
    audit_row(f, &r, row, sizeof(row));
    assert_string_equal(row, "anonymous||service.get|denied|unauthenticated|1");
    t_resp_free(&r);
    get(f, path, f->bearer_admin, &r);
    check_error(&r, 404, "not_found", true);
    t_resp_free(&r);
    char len[16];
    t_sql_ok(f->db.super_url, "SELECT max(octet_length(resource_id)) FROM audit_log", len,
             sizeof(len));
    assert_string_equal(len, "256"); /* kept to its first 256 bytes */
}

static void test_a_request_whose_audit_row_fails_gets_503_and_nothing_else(void **state)
{
    struct fixture *f = *state;
    struct t_resp r;

    t_sql_ok(f->db.super_url, "REVOKE INSERT ON audit_log FROM coffer_app", NULL, 0);
    get(f, "/v1/user/email", f->bearer_admin, &r);
    t_sql_ok(f->db.super_url, "GRANT INSERT ON audit_log TO coffer_app", NULL, 0);
    check_error(&r, 503, "audit_unavailable", true);
    assert_null(strstr(r.body.data, "admin-1")); /* no identity leaves */
    t_resp_free(&r);
    get(f, "/v1/user/email", f->bearer_admin, &r);
    assert_int_equal(r.status, 200);
    t_resp_free(&r);
}

static void test_bad_configuration_exits_2_and_a_stale_schema_exits_1(void **state)
{
    (void)state;
    struct t_db fresh;
    char url[T_URL_MAX + 32], mig[600], keys[300], path[256];
    char *const argv[] = { (char *)t_env("COFFER_TEST_COFFERD"), "serve", NULL };

    char *const bad_env[] = { "COFFER_THREADS=0", NULL };
    assert_int_equal(t_run(argv, bad_env, NULL), 2);

    t_key_file(path, sizeof(path));
    snprintf(keys, sizeof(keys), "COFFER_LOCAL_KEY_FILE=%s", path);
    t_db_create(&fresh, false); /* never migrated */
    snprintf(url, sizeof(url), "COFFER_DATABASE_URL=%s", fresh.owner_url);
    snprintf(mig, sizeof(mig), "COFFER_MIGRATIONS_DIR=%s", t_env("COFFER_TEST_MIGRATIONS"));
    char *const env[] = { url, mig, keys, "COFFER_LISTEN=127.0.0.1:1", NULL };
    assert_int_equal(t_run(argv, env, NULL), 1);

    /* a key file that others may read is refused before anything else */
    assert_int_equal(chmod(path, 0644), 0);
    assert_int_equal(t_run(argv, env, NULL), 2);
    char *const no_keys[] = { url, mig, "COFFER_LISTEN=127.0.0.1:1", NULL };
    unsetenv("COFFER_LOCAL_KEY_FILE");
    assert_int_equal(t_run(argv, no_keys, NULL), 2);
    t_db_drop(&fresh);
}

static void test_local_key_init_makes_a_private_file_once(void **state)
{
    (void)state;
    char path[256];
    struct stat st;

    t_key_file(path, sizeof(path));
    assert_int_equal(stat(path, &st), 0);
    assert_int_equal(st.st_mode & 0777, 0600);
    char *const again[] = { (char *)t_env("COFFER_TEST_COFFERD"), "local-key", "init", path, NULL };
    assert_int_equal(t_run(again, NULL, NULL), 1); /* never overwrites */
    char *const usage[] = { (char *)t_env("COFFER_TEST_COFFERD"), "local-key", NULL };
    assert_int_equal(t_run(usage, NULL, NULL), 2);
}

int main(void)
{
    cf_json_init();
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_healthcheck_answers_ok_with_the_common_headers),
        cmocka_unit_test(test_readiness_reports_every_check),
        cmocka_unit_test(test_an_unknown_path_is_a_json_404_with_no_audit_row),
        cmocka_unit_test(test_the_web_page_is_served_under_ui_with_a_strict_policy),
        cmocka_unit_test(test_a_wrong_method_is_405_with_allow),
        cmocka_unit_test(test_no_credentials_is_401_unauthenticated_and_audited),
        cmocka_unit_test(test_a_bad_token_is_401_authentication_failed_and_audited),
        cmocka_unit_test(test_a_good_token_is_200_with_its_identity_and_audited),
        cmocka_unit_test(test_expired_and_revoked_tokens_are_refused),
        cmocka_unit_test(test_other_credential_forms_fail_closed),
        cmocka_unit_test(test_api_tokens_are_made_listed_and_revoked_by_admins_only),
        cmocka_unit_test(test_unimplemented_paths_answer_501_after_authentication),
        cmocka_unit_test(test_client_config_reflects_the_callers_role),
        cmocka_unit_test(test_oversized_request_lines_and_headers_are_refused),
        cmocka_unit_test(test_bodies_over_the_limit_or_not_json_are_refused),
        cmocka_unit_test(test_a_huge_path_segment_is_refused_not_unauditable),
        cmocka_unit_test(test_a_request_whose_audit_row_fails_gets_503_and_nothing_else),
        cmocka_unit_test(test_bad_configuration_exits_2_and_a_stale_schema_exits_1),
        cmocka_unit_test(test_local_key_init_makes_a_private_file_once),
    };
    return t_run_group_tests(tests, setup, teardown);
}
