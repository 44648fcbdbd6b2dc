/* tapi.c - helpers of the credentials and services API tests: fixture, JSON requests and
 * answers, access-log rows, stored-state fingerprints, LISTEN. */
#include "tapi.h"

#include <poll.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <curl/curl.h>
#include <libpq-fe.h>

#include "cf_codec.h"
#include "cf_crypto.h"
#include "cf_json.h"

void tapi_start(struct tapi *f, char *const env[])
{
    *f = (struct tapi){ 0 };
    t_db_create(&f->db, true);
    t_token_create(&f->db, "admin", "admin-1", f->admin_token);
    t_token_create(&f->db, "auditor", "auditor-1", f->auditor_token);
    snprintf(f->admin, sizeof(f->admin), "Authorization: Bearer %s", f->admin_token);
    snprintf(f->auditor, sizeof(f->auditor), "Authorization: Bearer %s", f->auditor_token);
    t_cofferd_start(&f->d, &f->db, env);
}

int tapi_stop(struct tapi *f)
{
    int rc = t_cofferd_stop(&f->d);
    t_db_drop(&f->db);
    return rc;
}

int tapi_setup_env(void **state, char *const env[])
{
    struct tapi *f = calloc(1, sizeof(*f));
    assert_non_null(f);
    tapi_start(f, env);
    *state = f;
    return 0;
}

int tapi_setup(void **state)
{
    return tapi_setup_env(state, NULL);
}

int tapi_teardown(void **state)
{
    struct tapi *f = *state;
    int rc = tapi_stop(f);
    free(f);
    assert_int_equal(rc, 0); /* SIGTERM: drained and exited cleanly */
    return 0;
}

void tapi_name(char *out, size_t cap, const char *prefix)
{
    char rnd[9];
    if (cf_rand_hex(4, rnd, sizeof(rnd)) != 0)
        fail_msg("no random bytes");
    snprintf(out, cap, "%s%s", prefix, rnd);
}

char *tapi_rep(char c, size_t n)
{
    char *s = malloc(n + 1);
    assert_non_null(s);
    memset(s, c, n);
    s[n] = '\0';
    return s;
}

char *tapi_printf(const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(NULL, 0, fmt, ap);
    va_end(ap);
    assert_true(n >= 0);
    char *s = malloc((size_t)n + 1);
    assert_non_null(s);
    va_start(ap, fmt);
    vsnprintf(s, (size_t)n + 1, fmt, ap);
    va_end(ap);
    return s;
}

static void send_v(const struct tapi *f, const char *const *headers, const char *method,
                   const char *body, struct t_resp *r, const char *fmt, va_list ap)
    __attribute__((format(printf, 6, 0)));

static void send_v(const struct tapi *f, const char *const *headers, const char *method,
                   const char *body, struct t_resp *r, const char *fmt, va_list ap)
{
    struct cf_buf url = { 0 };
    char path[4096];

    if (vsnprintf(path, sizeof(path), fmt, ap) >= (int)sizeof(path))
        fail_msg("path too long for the test helper");
    cf_buf_append_str(&url, f->d.base_url);
    cf_buf_append_str(&url, path);
    t_http(method, url.data, headers, body, r);
    cf_buf_free(&url);
}

void tapi_send(const struct tapi *f, const char *auth, const char *method, const char *body,
               struct t_resp *r, const char *fmt, ...)
{
    const char *headers[3] = { NULL, NULL, NULL };
    size_t n = 0;
    va_list ap;

    if (auth != NULL)
        headers[n++] = auth;
    if (body != NULL)
        headers[n++] = "Content-Type: application/json";
    va_start(ap, fmt);
    send_v(f, headers, method, body, r, fmt, ap);
    va_end(ap);
}

void tapi_send_h(const struct tapi *f, const char *const *headers, const char *method,
                 const char *body, struct t_resp *r, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    send_v(f, headers, method, body, r, fmt, ap);
    va_end(ap);
}

void tapi_revert(const struct tapi *f, const char *auth, struct t_resp *r, const char *fmt, ...)
{
    const char *headers[] = { auth, "Content-Type: application/json", "Accept: text/plain",
                              "Content-Length: 0", NULL };
    va_list ap;
    va_start(ap, fmt);
    send_v(f, headers, "PUT", NULL, r, fmt, ap);
    va_end(ap);
}

json_t *tapi_json(const struct t_resp *r)
{
    json_error_t err;
    json_t *v = json_loads(r->body.data, JSON_REJECT_DUPLICATES, &err);
    if (v == NULL)
        fail_msg("response body (status %ld) is not JSON: %.400s", r->status, r->body.data);
    return v;
}

/* NULL if the /v1/ headers are right (rid set), else what is wrong (free() it). */
static char *v1_headers_diff(const struct t_resp *r, char rid[33])
{
    char v[128];

    if (!t_resp_header(r, "X-Request-Id", v, sizeof(v)) || !cf_is_lower_hex(v, 32))
        return tapi_printf("X-Request-Id missing or not 32 lowercase hex");
    memcpy(rid, v, 33);
    if (!t_resp_header(r, "Content-Type", v, sizeof(v)) || strcmp(v, "application/json") != 0)
        return tapi_printf("Content-Type is not exactly application/json (status %ld)", r->status);
    if (!t_resp_header(r, "Cache-Control", v, sizeof(v)) || strcmp(v, "no-store") != 0)
        return tapi_printf("Cache-Control: no-store missing on a /v1/ answer");
    if (!t_resp_header(r, "X-Content-Type-Options", v, sizeof(v)) || strcmp(v, "nosniff") != 0)
        return tapi_printf("X-Content-Type-Options: nosniff missing");
    if (!t_resp_header(r, "Referrer-Policy", v, sizeof(v)) || strcmp(v, "no-referrer") != 0)
        return tapi_printf("Referrer-Policy: no-referrer missing");
    return NULL;
}

static void check_v1_headers(const struct t_resp *r, char rid[33])
{
    char *d = v1_headers_diff(r, rid);
    if (d != NULL)
        fail_msg("%s", d);
}

json_t *tapi_ok(const struct t_resp *r)
{
    char rid[33];

    if (r->status != 200)
        fail_msg("expected 200, got %ld: %.600s", r->status, r->body.data);
    check_v1_headers(r, rid);
    return tapi_json(r);
}

bool tapi_one_of(const char *alternatives, const char *actual)
{
    size_t alen = strlen(actual);
    const char *p = alternatives;

    for (;;) {
        const char *bar = strchr(p, '|');
        size_t len = bar != NULL ? (size_t)(bar - p) : strlen(p);
        if (len == alen && strncmp(p, actual, len) == 0)
            return true;
        if (bar == NULL)
            return false;
        p = bar + 1;
    }
}

char *tapi_error_diff(const struct t_resp *r, long status, const char *codes)
{
    char rid[33];
    json_error_t err;
    char *d = NULL;

    if (r->status != status)
        return tapi_printf("expected %ld %s, got %ld: %.300s", status, codes, r->status,
                           r->body.data);
    if ((d = v1_headers_diff(r, rid)) != NULL)
        return d;
    json_t *b = json_loads(r->body.data, JSON_REJECT_DUPLICATES, &err);
    const char *code = cf_json_str(b, "code"), *brid = cf_json_str(b, "request_id");
    if (!json_is_object(b))
        d = tapi_printf("an error body must be a JSON object: %.300s", r->body.data);
    else if (code == NULL || !tapi_one_of(codes, code))
        d = tapi_printf("expected code %s, got %.300s", codes, r->body.data);
    else if (!json_is_string(json_object_get(b, "error")))
        d = tapi_printf("error body without an \"error\" string: %.300s", r->body.data);
    else if (brid == NULL || strcmp(brid, rid) != 0)
        d = tapi_printf("request_id in the body differs from X-Request-Id: %.300s", r->body.data);
    else if (status == 403 && json_object_get(b, "result") != NULL)
        d = tapi_printf("a 403 body must never contain a member named result: %.300s",
                        r->body.data);
    json_decref(b);
    return d;
}

json_t *tapi_error(const struct t_resp *r, long status, const char *codes)
{
    char *d = tapi_error_diff(r, status, codes);
    if (d != NULL)
        fail_msg("%s", d);
    return tapi_json(r);
}

void tapi_check_error(const struct t_resp *r, long status, const char *codes)
{
    json_decref(tapi_error(r, status, codes));
}

const char *tapi_str(const json_t *obj, const char *key)
{
    const char *s = cf_json_str(obj, key);
    if (s == NULL) {
        char *d = json_dumps(obj, JSON_COMPACT);
        fail_msg("member %s is not a string in %.600s", key, d != NULL ? d : "?");
    }
    return s;
}

json_int_t tapi_int(const json_t *obj, const char *key)
{
    json_t *v = json_object_get(obj, key);
    if (!json_is_integer(v))
        fail_msg("member %s is not an integer", key);
    return json_integer_value(v);
}

bool tapi_bool(const json_t *obj, const char *key)
{
    json_t *v = json_object_get(obj, key);
    if (!json_is_boolean(v))
        fail_msg("member %s is not a boolean", key);
    return json_is_true(v);
}

void tapi_assert_json(const json_t *actual, const char *expected)
{
    json_error_t err;
    json_t *e = json_loads(expected, JSON_ALLOW_NUL, &err);
    if (e == NULL)
        fail_msg("bad expected JSON in the test: %s", expected);
    if (!json_equal((json_t *)actual, e)) {
        char *a = json_dumps(actual, JSON_COMPACT | JSON_SORT_KEYS);
        char *x = json_dumps(e, JSON_COMPACT | JSON_SORT_KEYS);
        fail_msg("JSON differs\n  expected: %.2000s\n  actual:   %.2000s", x, a);
    }
    json_decref(e);
}

void tapi_assert_members(const json_t *obj, const char *csv)
{
    size_t want = 0;
    const char *p = csv;

    if (!json_is_object(obj))
        fail_msg("not an object (expected members %s)", csv);
    while (*p != '\0') {
        const char *comma = strchr(p, ',');
        size_t len = comma != NULL ? (size_t)(comma - p) : strlen(p);
        char key[128];
        snprintf(key, sizeof(key), "%.*s", (int)len, p);
        if (json_object_get(obj, key) == NULL) {
            char *d = json_dumps(obj, JSON_COMPACT | JSON_SORT_KEYS);
            fail_msg("member %s missing (expected exactly %s) in %.1500s", key, csv, d);
        }
        want++;
        p = comma != NULL ? comma + 1 : p + len;
    }
    if (json_object_size(obj) != want) {
        char *d = json_dumps(obj, JSON_COMPACT | JSON_SORT_KEYS);
        fail_msg("expected exactly the members %s, got %.1500s", csv, d);
    }
}

void tapi_assert_timestamp(const char *s)
{
    static const char shape[] = "dddd-dd-ddTdd:dd:dd.dddddd+00:00";
    bool ok = s != NULL && strlen(s) == sizeof(shape) - 1;

    for (size_t i = 0; ok && i < sizeof(shape) - 1; i++)
        ok = shape[i] == 'd' ? (s[i] >= '0' && s[i] <= '9') : s[i] == shape[i];
    if (!ok)
        fail_msg("not a timestamp of the form YYYY-MM-DDTHH:MM:SS.ffffff+00:00: %s",
                 s != NULL ? s : "(null)");
}

void tapi_assert_absent(const char *hay, const char *needle, const char *what)
{
    if (hay != NULL && strstr(hay, needle) != NULL)
        fail_msg("%s contains %s", what, needle);
}

static void upper(char *s)
{
    for (; *s != '\0'; s++)
        if (*s >= 'a' && *s <= 'f')
            *s = (char)(*s - 'a' + 'A');
}

/* The base64 characters that depend only on secret, when it sits at byte offset k (0-2) of a
 * longer stream: the groups after the first one touched by a prefix byte, without the last. */
static void b64_core(enum cf_b64 v, const char *secret, size_t k, char *out, size_t cap)
{
    size_t n = strlen(secret);
    uint8_t *in = calloc(1, n + 3);
    size_t enc_cap = cf_b64_encoded_len(v, n + k) + 1;
    char *enc = calloc(1, enc_cap);

    assert_non_null(in);
    assert_non_null(enc);
    memcpy(in + k, secret, n);
    assert_int_equal(cf_b64_encode(v, in, n + k, enc, enc_cap), 0);
    size_t skip = k == 0 ? 0 : 4, len = strlen(enc);
    assert_true(len > skip + 8);
    snprintf(out, cap, "%.*s", (int)(len - skip - 4), enc + skip);
    free(in);
    free(enc);
}

void tapi_assert_no_secret(const char *hay, const char *secret, const char *what)
{
    size_t n = strlen(secret);
    char *hex = malloc(2 * n + 1), form[512], label[256];

    assert_non_null(hex);
    if (hay == NULL) {
        free(hex);
        return;
    }
    tapi_assert_absent(hay, secret, what);
    assert_int_equal(cf_hex_encode((const uint8_t *)secret, n, hex, 2 * n + 1), 0);
    snprintf(label, sizeof(label), "%s (as hex)", what);
    tapi_assert_absent(hay, hex, label);
    upper(hex);
    tapi_assert_absent(hay, hex, label);
    free(hex);
    for (size_t k = 0; k < 3; k++) {
        snprintf(label, sizeof(label), "%s (as base64 at offset %zu)", what, k);
        b64_core(CF_B64_STD, secret, k, form, sizeof(form));
        tapi_assert_absent(hay, form, label);
        b64_core(CF_B64_URL, secret, k, form, sizeof(form));
        tapi_assert_absent(hay, form, label);
    }
}

char *tapi_sql(const struct tapi *f, const char *sql)
{
    PGconn *pg = PQconnectdb(f->db.super_url);
    if (PQstatus(pg) != CONNECTION_OK)
        fail_msg("cannot connect as the superuser: %s", PQerrorMessage(pg));
    PGresult *res = PQexec(pg, sql);
    if (PQresultStatus(res) != PGRES_TUPLES_OK)
        fail_msg("SQL failed (%s): %s", PQresultErrorMessage(res), sql);
    char *out = strdup(PQntuples(res) > 0 && !PQgetisnull(res, 0, 0) ? PQgetvalue(res, 0, 0) : "");
    assert_non_null(out);
    PQclear(res);
    PQfinish(pg);
    return out;
}

long tapi_count(const struct tapi *f, const char *sql)
{
    char *v = tapi_sql(f, sql);
    char *end;
    long n = strtol(v, &end, 10);
    if (*v == '\0' || *end != '\0')
        fail_msg("not a count (%s): %s", v, sql);
    free(v);
    return n;
}

char *tapi_state(const struct tapi *f)
{
    return tapi_sql(
        f, "SELECT concat_ws('|', (SELECT count(*) FROM credentials), "
           "(SELECT count(*) FROM credential_revisions), (SELECT count(*) FROM services), "
           "(SELECT count(*) FROM service_revisions), (SELECT count(*) FROM service_credentials), "
           "(SELECT md5(coalesce(string_agg(t::text, ',' ORDER BY t.id), '')) FROM credentials t), "
           "(SELECT md5(coalesce(string_agg(t::text, ',' ORDER BY t.credential_id, t.revision), "
           "'')) FROM credential_revisions t), "
           "(SELECT md5(coalesce(string_agg(t::text, ',' ORDER BY t.id), '')) FROM services t), "
           "(SELECT md5(coalesce(string_agg(t::text, ',' ORDER BY t.service_id, t.revision), '')) "
           "FROM service_revisions t), "
           "(SELECT md5(coalesce(string_agg(t::text, ',' ORDER BY t.service_id, "
           "t.credential_id), '')) FROM service_credentials t))");
}

char *tapi_unchanged_diff(const struct tapi *f, char *before)
{
    char *after = tapi_state(f), *d = NULL;
    if (strcmp(before, after) != 0)
        d = tapi_printf("a refused request changed the stored state:\n  before %s\n  after  %s",
                        before, after);
    free(before);
    free(after);
    return d;
}

void tapi_assert_unchanged(const struct tapi *f, char *before)
{
    char *d = tapi_unchanged_diff(f, before);
    if (d != NULL)
        fail_msg("%s", d);
}

char *tapi_audit_row_diff(const struct tapi *f, const struct t_resp *r,
                          const struct tapi_audit_want *want, size_t n)
{
    char rid[64];
    struct cf_buf sql = { 0 }, diff = { 0 };

    if (!t_resp_header(r, "X-Request-Id", rid, sizeof(rid)) || !cf_is_lower_hex(rid, 32))
        return tapi_printf("no X-Request-Id");
    assert_int_equal(cf_buf_printf(&sql, "SELECT concat_ws(chr(31), count(*) OVER ()"), 0);
    for (size_t i = 0; i < n; i++)
        assert_int_equal(cf_buf_printf(&sql, ", %s", want[i].column), 0);
    assert_int_equal(cf_buf_printf(&sql, ") FROM audit_log WHERE request_id = '%s'", rid), 0);
    char *row = tapi_sql(f, sql.data);
    cf_buf_free(&sql);
    if (*row == '\0') {
        free(row);
        return tapi_printf("no audit_log row for request %s", rid);
    }
    /* The count, then one field per column, separated by U+001F. */
    char *count = row, *p = row;
    for (size_t i = 0; i <= n; i++) {
        char *field = p, *sep = strchr(p, '\x1f');
        if ((sep == NULL) != (i == n))
            fail_msg("unexpected audit row shape");
        if (sep != NULL) {
            *sep = '\0';
            p = sep + 1;
        }
        const struct tapi_audit_want *w = i > 0 ? &want[i - 1] : NULL;
        if (w != NULL && w->value != NULL && !tapi_one_of(w->value, field))
            assert_int_equal(cf_buf_printf(&diff, "%saudit_log.%s: expected %s, got %s",
                                           diff.len > 0 ? "; " : "", w->name, w->value, field),
                             0);
    }
    char *d = NULL;
    if (strcmp(count, "1") != 0)
        d = tapi_printf("expected exactly one audit_log row for request %s, found %s", rid, count);
    else if (diff.len > 0)
        d = strdup(diff.data);
    free(row);
    cf_buf_free(&diff);
    return d;
}

char *tapi_audit_diff(const struct tapi *f, const struct t_resp *r, const char *actor,
                      const char *action, const char *resource_type, const char *resource_id,
                      long revision, const char *result, const char *reason)
{
    char rev[32];

    if (revision == TAPI_NULL)
        snprintf(rev, sizeof(rev), "<null>");
    else
        snprintf(rev, sizeof(rev), "%ld", revision);
    const struct tapi_audit_want want[] = {
        { "actor_type", "actor_type", "token" },
        { "actor", "actor", actor },
        { "action", "action", action },
        { "resource_type", "coalesce(resource_type, '<null>')", resource_type },
        { "resource_id", "coalesce(resource_id, '<null>')", resource_id },
        { "revision", "coalesce(revision::text, '<null>')", revision != TAPI_ANY ? rev : NULL },
        { "result", "result", result },
        { "reason", "reason", reason },
        { "source_ip", "source_ip", "127.0.0.1" }, /* the peer address (API.md 8.2) */
        { "time, hash, prev_hash", TAPI_AUDIT_SEALED, "t" },
    };
    return tapi_audit_row_diff(f, r, want, sizeof(want) / sizeof(want[0]));
}

void tapi_audit(const struct tapi *f, const struct t_resp *r, const char *actor, const char *action,
                const char *resource_type, const char *resource_id, long revision,
                const char *result, const char *reason)
{
    char *d =
        tapi_audit_diff(f, r, actor, action, resource_type, resource_id, revision, result, reason);
    if (d != NULL)
        fail_msg("%s", d);
}

void tapi_collect(struct cf_buf *list, const char *label, char *problem)
{
    if (problem == NULL)
        return;
    assert_int_equal(cf_buf_printf(list, "\n  %.200s: %s", label, problem), 0);
    free(problem);
}

void tapi_collect_end(struct cf_buf *list)
{
    static char msg[8192]; /* not on the heap: fail_msg() never returns to free it */

    if (list->len == 0) {
        cf_buf_free(list);
        return;
    }
    snprintf(msg, sizeof(msg), "%s", list->data);
    cf_buf_free(list);
    fail_msg("cases that failed:%s", msg);
}

json_t *tapi_cred_post(const struct tapi *f, const char *body, char id[TAPI_ID_LEN])
{
    struct t_resp r;

    tapi_send(f, f->admin, "POST", body, &r, "/v1/credentials");
    json_t *b = tapi_ok(&r);
    const char *s = tapi_str(b, "id");
    if (!cf_is_lower_hex(s, 32))
        fail_msg("a new credential id must be 32 lowercase hex: %s", s);
    memcpy(id, s, TAPI_ID_LEN);
    t_resp_free(&r);
    return b;
}

void tapi_cred_new(const struct tapi *f, const char *name, const char *pairs, char id[TAPI_ID_LEN])
{
    struct cf_buf body = { 0 };
    assert_int_equal(
        cf_buf_printf(&body, "{\"name\": \"%s\", \"credential_pairs\": %s}", name, pairs), 0);
    json_decref(tapi_cred_post(f, body.data, id));
    cf_buf_free(&body);
}

json_t *tapi_cred_pairs(const struct tapi *f, const char *id)
{
    struct t_resp r;
    tapi_send(f, f->admin, "GET", NULL, &r, "/v1/credentials/%s", id);
    json_t *b = tapi_ok(&r);
    json_t *p = json_incref(json_object_get(b, "credential_pairs"));
    if (!json_is_object(p))
        fail_msg("credential_pairs is not an object");
    json_decref(b);
    t_resp_free(&r);
    return p;
}

void tapi_cred_put(const struct tapi *f, const char *id, const char *body)
{
    struct t_resp r;
    tapi_send(f, f->admin, "PUT", body, &r, "/v1/credentials/%s", id);
    json_decref(tapi_ok(&r));
    t_resp_free(&r);
}

void tapi_svc_put(const struct tapi *f, const char *sid, const char *body)
{
    struct t_resp r;
    tapi_send(f, f->admin, "PUT", body, &r, "/v1/services/%s", sid);
    json_decref(tapi_ok(&r));
    t_resp_free(&r);
}

void tapi_svc_map(const struct tapi *f, const char *sid, const char *const *ids)
{
    struct cf_buf body = { 0 };

    assert_int_equal(cf_buf_printf(&body,
                                   "{\"id\": \"%s\", \"account\": null, \"enabled\": true, "
                                   "\"credentials\": [",
                                   sid),
                     0);
    for (size_t i = 0; ids[i] != NULL; i++)
        assert_int_equal(cf_buf_printf(&body, "%s\"%s\"", i > 0 ? ", " : "", ids[i]), 0);
    cf_buf_append_str(&body, "], \"blind_credentials\": []}");
    tapi_svc_put(f, sid, body.data);
    cf_buf_free(&body);
}

static long revision_of(const struct tapi *f, const char *table, const char *id)
{
    char sql[256];
    snprintf(sql, sizeof(sql), "SELECT revision FROM %s WHERE id = '%s'", table, id);
    char *v = tapi_sql(f, sql);
    long n = *v == '\0' ? -1 : strtol(v, NULL, 10);
    free(v);
    return n;
}

long tapi_cred_revision(const struct tapi *f, const char *id)
{
    return revision_of(f, "credentials", id);
}

long tapi_svc_revision(const struct tapi *f, const char *sid)
{
    return revision_of(f, "services", sid);
}

void tapi_url_encode(const char *in, struct cf_buf *out)
{
    static const char hexd[] = "0123456789ABCDEF";
    for (const unsigned char *p = (const unsigned char *)in; *p != '\0'; p++) {
        if ((*p >= 'A' && *p <= 'Z') || (*p >= 'a' && *p <= 'z') || (*p >= '0' && *p <= '9') ||
            *p == '-' || *p == '.' || *p == '_' || *p == '~') {
            cf_buf_append_char(out, (char)*p);
        } else {
            cf_buf_append_char(out, '%');
            cf_buf_append_char(out, hexd[*p >> 4]);
            cf_buf_append_char(out, hexd[*p & 15]);
        }
    }
}

void tapi_bundle_etag(const struct tapi *f, const char *sid, bool full, const char *perms,
                      char out[64])
{
    char sql[512], hex[CF_SHA256_HEX_LEN + 1];

    snprintf(sql, sizeof(sql), "SELECT revision FROM services WHERE id = '%s'", sid);
    char *rev = tapi_sql(f, sql);
    snprintf(sql, sizeof(sql),
             "SELECT coalesce(string_agg(c.id || ':' || c.revision || chr(10), '' ORDER BY c.id "
             "COLLATE \"C\"), '') FROM service_credentials sc JOIN credentials c ON c.id = "
             "sc.credential_id WHERE sc.service_id = '%s'",
             sid);
    char *creds = tapi_sql(f, sql);
    char *text = tapi_printf("coffer-bundle-v1\n%s\n%s\n%s\n%s\n%s", sid, rev,
                             full ? "full" : "metadata", perms, creds);
    assert_int_equal(cf_sha256_hex(text, strlen(text), hex), 0);
    snprintf(out, 64, "\"%.32s\"", hex);
    free(rev);
    free(creds);
    free(text);
}

char *tapi_ids_of(const json_t *items)
{
    struct cf_buf b = { 0 };
    json_t *v;
    size_t i;

    json_array_foreach(items, i, v)
    {
        cf_buf_append_str(&b, tapi_str(v, "id"));
        cf_buf_append_char(&b, ',');
    }
    char *s = strdup(b.data != NULL ? b.data : "");
    cf_buf_free(&b);
    return s;
}

json_t *tapi_page_all(const struct tapi *f, const struct tapi_pager *pg, size_t *pages_out)
{
    json_t *all = json_array();
    struct cf_buf next_arg = { 0 }, members = { 0 };
    bool last_was_empty = false;
    size_t pages = 0;

    assert_int_equal(cf_buf_printf(&members, "%s,%s", pg->member, pg->next), 0);
    for (;; pages++) {
        struct t_resp r;
        if (pages > 20000)
            fail_msg("paging through %s does not end", pg->path);
        if (last_was_empty)
            fail_msg("an empty page of %s that is not the last one", pg->member);
        tapi_send(f, pg->auth, "GET", NULL, &r, "%s%slimit=%d%s%s%s%s", pg->path,
                  strchr(pg->path, '?') != NULL ? "&" : "?", pg->limit, next_arg.len > 0 ? "&" : "",
                  next_arg.len > 0 ? pg->param : "", next_arg.len > 0 ? "=" : "",
                  next_arg.len > 0 ? next_arg.data : "");
        json_t *b = tapi_ok(&r);
        if (pg->exact)
            tapi_assert_members(b, members.data);
        json_t *items = json_object_get(b, pg->member), *next = json_object_get(b, pg->next);
        if (!json_is_array(items))
            fail_msg("%s is not an array", pg->member);
        if (json_array_size(items) > (size_t)pg->limit)
            fail_msg("a page of limit %d holds %zu %s", pg->limit, json_array_size(items),
                     pg->member);
        last_was_empty = json_array_size(items) == 0;
        json_array_extend(all, items);
        cf_buf_reset(&next_arg);
        if (json_is_null(next)) {
            json_decref(b);
            t_resp_free(&r);
            break;
        }
        if (!json_is_string(next) || json_string_length(next) == 0)
            fail_msg("%s must be a non-empty string or null", pg->next);
        tapi_url_encode(json_string_value(next), &next_arg);
        json_decref(b);
        t_resp_free(&r);
    }
    cf_buf_free(&next_arg);
    cf_buf_free(&members);
    if (pages_out != NULL)
        *pages_out = pages + 1;
    return all;
}

void tapi_check_paging_refusals(const struct tapi *f, const char *path)
{
    static const char *const limits[] = { "0", "1001", "-1", "abc", "1.5", "10x" };
    static const char *const pages[] = { "not-a-page", "AAAAAAAAAAAAAAAA" };
    struct t_resp r;

    for (size_t i = 0; i < sizeof(limits) / sizeof(limits[0]); i++) {
        tapi_send(f, f->admin, "GET", NULL, &r, "%s?limit=%s", path, limits[i]);
        tapi_check_error(&r, 400, "invalid_parameter");
        t_resp_free(&r);
    }
    for (size_t i = 0; i < sizeof(pages) / sizeof(pages[0]); i++) {
        tapi_send(f, f->admin, "GET", NULL, &r, "%s?limit=2&page=%s", path, pages[i]);
        tapi_check_error(&r, 400, "invalid_page");
        t_resp_free(&r);
    }
    /* a query that does not decode to UTF-8 is refused before the page is read */
    tapi_send(f, f->admin, "GET", NULL, &r, "%s?limit=2&page=%%ff%%fe", path);
    tapi_check_error(&r, 400, "invalid_parameter");
    t_resp_free(&r);
}

json_t *tapi_list_all(const struct tapi *f, const char *path, const char *member, int limit)
{
    const struct tapi_pager pg = {
        .auth = f->admin,
        .path = path,
        .member = member,
        .next = "next_page",
        .param = "page",
        .limit = limit,
    };
    return tapi_page_all(f, &pg, NULL);
}

struct concurrent_arg {
    const struct tapi *f;
    struct tapi_call *call;
    pthread_barrier_t *start; /* NULL: send at once */
    atomic_bool done;
};

static size_t collect(char *p, size_t size, size_t n, void *userdata)
{
    cf_buf_append(userdata, p, size * n);
    return size * n;
}

/* A thread of tapi_concurrent(): plain curl, since cmocka may only fail on the main thread. */
static void *concurrent_one(void *p)
{
    struct concurrent_arg *a = p;
    struct curl_slist *hl = NULL;
    char url[512];

    snprintf(url, sizeof(url), "%s%s", a->f->d.base_url, a->call->path);
    CURL *h = curl_easy_init();
    hl = curl_slist_append(hl, a->f->admin);
    hl = curl_slist_append(hl, "Content-Type: application/json");
    hl = curl_slist_append(hl, "Expect:");
    curl_easy_setopt(h, CURLOPT_URL, url);
    curl_easy_setopt(h, CURLOPT_CUSTOMREQUEST, a->call->method);
    curl_easy_setopt(h, CURLOPT_HTTPHEADER, hl);
    curl_easy_setopt(h, CURLOPT_TIMEOUT, 60L);
    curl_easy_setopt(h, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(h, CURLOPT_WRITEFUNCTION, collect);
    curl_easy_setopt(h, CURLOPT_WRITEDATA, &a->call->resp);
    if (a->call->body != NULL)
        curl_easy_setopt(h, CURLOPT_POSTFIELDS, a->call->body);
    a->call->status = -1;
    if (a->start != NULL)
        pthread_barrier_wait(a->start);
    if (curl_easy_perform(h) == CURLE_OK)
        curl_easy_getinfo(h, CURLINFO_RESPONSE_CODE, &a->call->status);
    cf_buf_append(&a->call->resp, "", 0);
    curl_slist_free_all(hl);
    curl_easy_cleanup(h);
    atomic_store(&a->done, true);
    return NULL;
}

void tapi_concurrent(const struct tapi *f, struct tapi_call *calls, size_t n)
{
    pthread_t *th = calloc(n, sizeof(*th));
    struct concurrent_arg *args = calloc(n, sizeof(*args));
    pthread_barrier_t start;

    assert_non_null(th);
    assert_non_null(args);
    assert_true(n > 0 && n <= 64);
    curl_global_init(CURL_GLOBAL_DEFAULT); /* before any thread: libcurl asks it */
    assert_int_equal(pthread_barrier_init(&start, NULL, (unsigned)n), 0);
    for (size_t i = 0; i < n; i++) {
        args[i] = (struct concurrent_arg){ .f = f, .call = &calls[i], .start = &start };
        calls[i].resp = (struct cf_buf){ 0 };
        assert_int_equal(pthread_create(&th[i], NULL, concurrent_one, &args[i]), 0);
    }
    for (size_t i = 0; i < n; i++)
        pthread_join(th[i], NULL);
    pthread_barrier_destroy(&start);
    free(th);
    free(args);
}

struct tapi_async {
    pthread_t thread;
    struct concurrent_arg arg;
};

struct tapi_async *tapi_call_start(const struct tapi *f, struct tapi_call *call)
{
    struct tapi_async *a = calloc(1, sizeof(*a));

    assert_non_null(a);
    curl_global_init(CURL_GLOBAL_DEFAULT);
    a->arg = (struct concurrent_arg){ .f = f, .call = call };
    call->resp = (struct cf_buf){ 0 };
    assert_int_equal(pthread_create(&a->thread, NULL, concurrent_one, &a->arg), 0);
    return a;
}

bool tapi_call_done(const struct tapi_async *a)
{
    return atomic_load(&a->arg.done);
}

void tapi_call_wait(struct tapi_async *a)
{
    pthread_join(a->thread, NULL);
    free(a);
}

struct tapi_listener {
    PGconn *pg;
    json_t *seen; /* payloads received on coffer_changes, in order */
};

struct tapi_listener *tapi_listen(const struct tapi *f)
{
    struct tapi_listener *l = calloc(1, sizeof(*l));
    assert_non_null(l);
    l->pg = PQconnectdb(f->db.super_url);
    if (PQstatus(l->pg) != CONNECTION_OK)
        fail_msg("cannot connect to LISTEN: %s", PQerrorMessage(l->pg));
    PGresult *res = PQexec(l->pg, "LISTEN coffer_changes");
    if (PQresultStatus(res) != PGRES_COMMAND_OK)
        fail_msg("LISTEN failed: %s", PQresultErrorMessage(res));
    PQclear(res);
    l->seen = json_array();
    return l;
}

static void drain(struct tapi_listener *l)
{
    PGnotify *n;
    if (PQconsumeInput(l->pg) != 1)
        fail_msg("the LISTEN connection broke: %s", PQerrorMessage(l->pg));
    while ((n = PQnotifies(l->pg)) != NULL) {
        if (strcmp(n->relname, "coffer_changes") == 0)
            json_array_append_new(l->seen, json_string(n->extra));
        PQfreemem(n);
    }
}

int tapi_notified_now(struct tapi_listener *l, const char *payload)
{
    int count = 0;
    size_t i;
    json_t *v;

    drain(l);
    json_array_foreach(l->seen, i, v)
    {
        if (strcmp(json_string_value(v), payload) == 0)
            count++;
    }
    return count;
}

int tapi_notified(struct tapi_listener *l, const char *payload, int n, int seconds)
{
    struct timespec start, now;

    clock_gettime(CLOCK_MONOTONIC, &start);
    for (;;) {
        int count = tapi_notified_now(l, payload);
        if (count >= n)
            return count;
        clock_gettime(CLOCK_MONOTONIC, &now);
        if (now.tv_sec - start.tv_sec >= seconds)
            return count;
        struct pollfd pfd = { .fd = PQsocket(l->pg), .events = POLLIN };
        (void)poll(&pfd, 1, 100);
    }
}

void tapi_unlisten(struct tapi_listener *l)
{
    PQfinish(l->pg);
    json_decref(l->seen);
    free(l);
}
