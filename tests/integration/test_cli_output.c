/*
 * test_cli_output.c - the coffer command-line client (cli/), black-box: what it prints for
 * people cannot be abused by what others wrote, and what it prints for programs is exact
 * (issue 24, items 4 and 7).
 *
 * An unauthenticated caller chooses an access-log row's actor (the Basic username or the
 * X-Auth-From it claims) and resource id (a %-encoded path segment); an admin chooses names,
 * metadata and values; the server's error messages reach stderr. On a terminal none of it may
 * reach the screen raw: no control byte but the output's own line feeds, no bidirectional
 * override, no invisible character (checked on the bytes coffer wrote to a pty, with this
 * file's own list of what must not be there), and a name someone only claimed is shown as
 * `(unauthenticated) claimed "NAME"`, never like an actor who proved it. JSON lines are the
 * server's values byte for byte, with actor_proven false on the rows of failed authentication.
 * What the test_cli_* binaries share is in tests/support/tcli.c.
 */
#define _GNU_SOURCE /* memmem */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>
#include <jansson.h>

#include "cf_codec.h"
#include "cf_json.h"
#include "tcli.h"
#include "tfake_http.h"

/* === what a terminal must never be sent ======================================================= */

/* True for a code point that must not reach a terminal raw (kept apart from cf_text.c's list,
 * so that a gap there fails here): C0 but line feed, DEL, C1, zero-width characters and
 * bidirectional marks, line and paragraph separators, embeddings and overrides, word joiner
 * and isolates, the BOM, tag characters. */
static bool forbidden(uint32_t cp)
{
    return (cp < 0x20 && cp != '\n') || (cp >= 0x7f && cp <= 0x9f) ||
           (cp >= 0x200b && cp <= 0x200f) || (cp >= 0x2028 && cp <= 0x202e) ||
           (cp >= 0x2060 && cp <= 0x2069) || cp == 0xfeff || (cp >= 0xe0000 && cp <= 0xe007f);
}

/* NULL if s[0..len) is well-formed UTF-8 without a forbidden code point, else where not. */
static char *raw_diff(const char *what, const char *s, size_t len)
{
    const unsigned char *u = (const unsigned char *)s;

    for (size_t i = 0; i < len;) {
        uint32_t cp = u[i];
        size_t n = u[i] < 0x80                   ? 1
                   : u[i] >= 0xc2 && u[i] < 0xe0 ? 2
                   : u[i] >= 0xe0 && u[i] < 0xf0 ? 3
                   : u[i] >= 0xf0 && u[i] < 0xf5 ? 4
                                                 : 0;
        if (n == 0 || n > len - i)
            return tapi_printf("%s: byte 0x%02x at %zu is not UTF-8: %.600s", what, u[i], i, s);
        if (n > 1)
            cp = u[i] & (0xffu >> (n + 1));
        for (size_t k = 1; k < n; k++) {
            if ((u[i + k] & 0xc0) != 0x80)
                return tapi_printf("%s: bad UTF-8 at %zu: %.600s", what, i, s);
            cp = (cp << 6) | (u[i + k] & 0x3fu);
        }
        if (forbidden(cp))
            return tapi_printf("%s: U+%04X raw at byte %zu: %.600s", what, (unsigned)cp, i, s);
        i += n;
    }
    return NULL;
}

static void assert_raw_clean(const char *what, const char *s, size_t len)
{
    char *d = raw_diff(what, s, len);
    if (d != NULL)
        fail_msg("%s", d);
}

static void assert_has(const char *what, const char *hay, const char *needle)
{
    if (hay == NULL || strstr(hay, needle) == NULL)
        fail_msg("%s does not hold [%s]: %.1500s", what, needle, hay != NULL ? hay : "(null)");
}

/* Runs coffer with stdout on a terminal (a raw pty: the bytes as written). */
static int on_tty(const struct tkms *f, const struct how *h, const char *const args[],
                  struct cf_buf *out)
{
    char **argv = argv_of(args), **env = env_of(f, h);
    assert_no_secret_in(argv, "command line");
    int rc = run_tty(argv, env, out);
    strv_free(argv);
    strv_free(env);
    return rc;
}

/* === hostile rows in the access log ========================================================== */

/* Basic usernames and path ids an unauthenticated caller sends, and what the table must show
 * for them (written out here, not computed with the client's escaping). */
/* a Basic username ends at its first colon: none here */
#define U_CTL            "\x1b[2J\x1b[1;1H\r\n1  2999-01-01  admin-1\x7f\xc2\x85\xe2\x80\xaegnp.exe"
#define U_CTL_SHOWN      "\\x1b[2J\\x1b[1;1H\\r\\n1  2999-01-01  admin-1\\x7f\\u0085\\u202egnp.exe"
#define U_NUL            "nul\0here\x1b"
#define U_NUL_LEN        (sizeof(U_NUL) - 1)
#define U_NUL_SHOWN      "nul\xef\xbf\xbdhere\\x1b" /* the NUL is stored as U+FFFD */
#define RID_ANON         "\x1b]0;owned\x07\x1b[31m\r\nsvc\xe2\x80\xae\xc2\x9b\xe2\x81\xa6x"
#define RID_ANON_SHOWN   "service:\\x1b]0;owned\\x07\\x1b[31m\\r\\nsvc\\u202e\\u009b\\u2066x"
#define RID_PROVEN       "ok\xe2\x80\x8b\xef\xbb\xbf\x1b[8m\xe2\x81\xa9\xf3\xa0\x81\x81"
#define RID_PROVEN_SHOWN "service:ok\\u200b\\ufeff\\x1b[8m\\u2069\\U000e0041"

/* "Authorization: Basic base64(user:garbage)" (free() it). */
static char *basic_header(const char *user, size_t ulen)
{
    struct cf_buf raw = { 0 };
    cf_buf_append(&raw, user, ulen);
    cf_buf_append_str(&raw, ":not-a-kmsauth-token");
    size_t n = cf_b64_encoded_len(CF_B64_STD, raw.len);
    char *b64 = malloc(n + 1);
    assert_int_equal(cf_b64_encode(CF_B64_STD, (const uint8_t *)raw.data, raw.len, b64, n + 1), 0);
    char *h = tapi_printf("Authorization: Basic %s", b64);
    free(b64);
    cf_buf_free(&raw);
    return h;
}

/* One request: its status must be want (0: any 4xx); its request id into rid. */
static void send_for_row(const struct tkms *f, const char *const *headers, const char *id,
                         long want, char rid[64])
{
    struct cf_buf enc = { 0 };
    struct t_resp r;

    tapi_url_encode(id, &enc);
    tapi_send_h(&f->api, headers, "GET", NULL, &r, "/v1/services/%s", enc.data);
    if (want != 0 ? r.status != want : r.status < 400 || r.status > 499)
        fail_msg("GET /v1/services/%s answered %ld, expected %ld: %.300s", enc.data, r.status, want,
                 r.body.data);
    if (!t_resp_header(&r, "X-Request-Id", rid, 64))
        fail_msg("no X-Request-Id");
    t_resp_free(&r);
    cf_buf_free(&enc);
}

/* The row of a request as the API gives it (json_decref it), and the API's raw body in raw. */
static json_t *api_row(const struct tkms *f, const char *rid, struct cf_buf *raw)
{
    struct t_resp r;
    tapi_send(&f->api, f->api.auditor, "GET", NULL, &r, "/v1/audit/events?request_id=%s", rid);
    json_t *b = tapi_ok(&r);
    json_t *evs = json_object_get(b, "events");
    assert_int_equal(json_array_size(evs), 1);
    json_t *ev = json_incref(json_array_get(evs, 0));
    json_decref(b);
    if (raw != NULL)
        cf_buf_append(raw, r.body.data, r.body.len);
    t_resp_free(&r);
    return ev;
}

/* The line of the table whose ID cell is id (a copy; free() it), or fails. */
static char *table_line(const char *table, long long id)
{
    char want[32];
    snprintf(want, sizeof(want), "%lld ", id);
    for (const char *p = table; p != NULL && *p != '\0';) {
        const char *nl = strchr(p, '\n');
        size_t n = nl != NULL ? (size_t)(nl - p) : strlen(p);
        if (strncmp(p, want, strlen(want)) == 0)
            return strndup(p, n);
        p = nl != NULL ? nl + 1 : NULL;
    }
    fail_msg("no line for row %lld in the table: %.2000s", id, table);
    return NULL;
}

/* The one row of an API body of GET /v1/audit/events?request_id=... as the server wrote it,
 * without the whitespace between tokens (free() it). */
static char *api_row_text(const struct cf_buf *body)
{
    static const char head[] = "{\"events\":[", tail[] = "],\"next_cursor\":null}";
    size_t hl = strlen(head), tl = strlen(tail);

    if (body->len < hl + tl || memcmp(body->data, head, hl) != 0 ||
        memcmp(body->data + body->len - tl, tail, tl) != 0)
        fail_msg("not one page of one row: %s", body->data);
    char *out = malloc(body->len + 1);
    size_t o = 0;
    bool in_string = false;
    for (size_t i = hl; i < body->len - tl; i++) {
        char c = body->data[i];
        if (in_string && c == '\\') {
            out[o++] = c;
            out[o++] = body->data[++i];
            continue;
        }
        if (c == '"')
            in_string = !in_string;
        if (in_string || (c != ' ' && c != '\n' && c != '\t' && c != '\r'))
            out[o++] = c;
    }
    out[o] = '\0';
    return out;
}

static void test_audit_list_shows_hostile_rows_escaped_and_claimed_names_as_claimed(void **state)
{
    struct tkms *f = *state;
    const struct how auditor = { .token = f->api.auditor_token };
    char rid_ctl[64], rid_nul[64], rid_spoof[64], rid_proven[64];

    /* 30 rows at least, so that the table below is full */
    for (int i = 0; i < 30; i++) {
        struct t_resp r;
        tapi_send(&f->api, f->api.auditor, "GET", NULL, &r, "/v1/credentials");
        json_decref(tapi_ok(&r));
        t_resp_free(&r);
    }
    /* rows that failed authentication, with what the caller chose in actor and resource id */
    char *h1 = basic_header(U_CTL, strlen(U_CTL)), *h2 = basic_header(U_NUL, U_NUL_LEN);
    send_for_row(f, (const char *const[]){ h1, NULL }, RID_ANON, 401, rid_ctl);
    send_for_row(f, (const char *const[]){ h2, NULL }, "plain-service", 401, rid_nul);
    /* someone claims the admin's own actor (X-Auth-From: token:admin-1) */
    send_for_row(f,
                 (const char *const[]){ "X-Auth-From: " TAPI_ADMIN_ACTOR,
                                        "X-Auth-Token: not-a-kmsauth-token", NULL },
                 "plain-service", 401, rid_spoof);
    /* a proven auditor reading an id full of invisible characters */
    send_for_row(f, (const char *const[]){ f->api.auditor, NULL }, RID_PROVEN, 0, rid_proven);
    free(h1);
    free(h2);

    /* the API: actor and resource id exactly as sent; actor_proven false unless proven */
    const struct {
        const char *rid, *actor, *resource_id;
        size_t actor_len;
        bool proven;
        const char *shown_actor, *shown_resource;
    } rows[] = {
        { rid_ctl, U_CTL, RID_ANON, strlen(U_CTL), false,
          "(unauthenticated) claimed \"" U_CTL_SHOWN "\"", RID_ANON_SHOWN },
        { rid_nul, "nul\xef\xbf\xbdhere\x1b", "plain-service", strlen("nul\xef\xbf\xbdhere\x1b"),
          false, "(unauthenticated) claimed \"" U_NUL_SHOWN "\"", "service:plain-service" },
        { rid_spoof, TAPI_ADMIN_ACTOR, "plain-service", strlen(TAPI_ADMIN_ACTOR), false,
          "(unauthenticated) claimed \"" TAPI_ADMIN_ACTOR "\"", "service:plain-service" },
        { rid_proven, TAPI_AUDITOR_ACTOR, RID_PROVEN, strlen(TAPI_AUDITOR_ACTOR), true,
          TAPI_AUDITOR_ACTOR, RID_PROVEN_SHOWN },
    };
    long long ids[N_OF(rows)];
    struct cf_buf list = { 0 };
    for (size_t i = 0; i < N_OF(rows); i++) {
        json_t *ev = api_row(f, rows[i].rid, NULL);
        ids[i] = (long long)tapi_int(ev, "id");
        const json_t *a = json_object_get(ev, "actor");
        char *d = NULL;
        if (!json_is_string(a) || json_string_length(a) != rows[i].actor_len ||
            memcmp(json_string_value(a), rows[i].actor, rows[i].actor_len) != 0)
            d = tapi_printf("actor is not the bytes sent: %s",
                            json_is_string(a) ? json_string_value(a) : "(none)");
        else if (strcmp(tapi_str(ev, "resource_id"), rows[i].resource_id) != 0)
            d = tapi_printf("resource_id is not the bytes sent: %s", tapi_str(ev, "resource_id"));
        else if (strcmp(tapi_str(ev, "actor_type"), rows[i].proven ? "token" : "anonymous") != 0)
            d = tapi_printf("actor_type %s", tapi_str(ev, "actor_type"));
        else if (!json_is_boolean(json_object_get(ev, "actor_proven")) ||
                 json_is_true(json_object_get(ev, "actor_proven")) != rows[i].proven)
            d = tapi_printf("actor_proven is not %s", rows[i].proven ? "true" : "false");
        tapi_collect(&list, rows[i].rid, d);
        json_decref(ev);
    }
    tapi_collect_end(&list);

    /* on a terminal: the table, every byte of it clean, one line a row */
    struct cf_buf out = { 0 };
    int rc = on_tty(f, &auditor, ARGS("audit", "list", "--limit", "30"), &out);
    if (rc != 0)
        fail_msg("audit list on a terminal exited %d: %s", rc, out.data != NULL ? out.data : "");
    assert_raw_clean("audit list on a terminal", out.data, out.len);
    size_t lines = 0;
    for (size_t i = 0; i < out.len; i++)
        lines += out.data[i] == '\n';
    assert_true(strncmp(out.data, "ID ", 3) == 0);
    if (lines != 31)
        fail_msg("%zu lines for 30 rows and the header: a row was split: %s", lines, out.data);
    /* and each line below the header is the next row down: ids are gapless, so a faked or
     * split row would show */
    long long first = strtoll(strchr(out.data, '\n') + 1, NULL, 10);
    const char *p = strchr(out.data, '\n') + 1;
    for (long long k = 0; k < 30; k++, p = strchr(p, '\n') + 1) {
        char want[32];
        snprintf(want, sizeof(want), "%lld ", first - k);
        if (strncmp(p, want, strlen(want)) != 0)
            fail_msg("line %lld is not row %lld: %.200s", k + 2, first - k, p);
    }
    for (size_t i = 0; i < N_OF(rows); i++) {
        char *line = table_line(out.data, ids[i]);
        assert_has("the row's line", line, rows[i].shown_actor);
        assert_has("the row's line", line, rows[i].shown_resource);
        if (rows[i].proven && strstr(line, "(unauthenticated)") != NULL)
            fail_msg("a proven actor is marked unauthenticated: %s", line);
        /* the claimed admin never stands in the actor column as itself */
        const char *at = strstr(line, TAPI_ADMIN_ACTOR);
        if (!rows[i].proven && at != NULL && strstr(line, "(unauthenticated) claimed \"") == NULL)
            fail_msg("a claimed name looks proven: %s", line);
        free(line);
    }
    cf_buf_free(&out);

    /* piped (JSON lines) and with --json: the row as the API's body holds it, byte for byte
     * (the server's spelling of every string: "\u001b", raw U+202E, DEL and C1) */
    for (size_t i = 0; i < N_OF(rows); i++) {
        for (int json_flag = 0; json_flag < 2; json_flag++) {
            struct run r;
            struct cf_buf raw = { 0 };
            const char *const *args =
                json_flag ? ARGS("audit", "list", "--request-id", rows[i].rid, "--json")
                          : ARGS("audit", "list", "--request-id", rows[i].rid);
            coffer_expect(f, &auditor, args, 0, &r);
            json_decref(api_row(f, rows[i].rid, &raw));
            char *want = api_row_text(&raw);
            if (r.out.len != strlen(want) + 1 || memcmp(r.out.data, want, strlen(want)) != 0 ||
                r.out.data[r.out.len - 1] != '\n')
                fail_msg("audit list printed\n%s\nthe API's body has\n%s", out_of(&r), want);
            free(want);
            cf_buf_free(&raw);
            run_free(&r);
        }
    }
    /* the raw override is there in JSON (nothing was escaped for programs) */
    struct run r;
    coffer_expect(f, &auditor, ARGS("audit", "list", "--request-id", rid_ctl), 0, &r);
    assert_non_null(memmem(r.out.data, r.out.len, "\xe2\x80\xae", 3));
    run_free(&r);

    /* the chain holds these rows, and actor_proven (not hashed) disturbs neither walk */
    coffer_expect(f, &auditor, ARGS("audit", "verify"), 0, &r);
    json_t *o = one_of(&r);
    assert_true(json_is_true(json_object_get(o, "ok")));
    assert_true(tapi_int(o, "head_id") > ids[N_OF(rows) - 1]);
    json_decref(o);
    run_free(&r);
    struct t_resp v;
    tapi_send(&f->api, f->api.auditor, "GET", NULL, &v, "/v1/audit/verify");
    o = tapi_ok(&v);
    assert_true(json_is_true(json_object_get(o, "ok")));
    json_decref(o);
    t_resp_free(&v);
}

/* === names, metadata and values an admin chose ================================================ */

static void test_admin_tables_and_lines_escape_names_keys_and_values(void **state)
{
    struct tkms *f = *state;
    const struct how admin = { .token = f->api.admin_token };
    char suffix[32], name[96], id[TAPI_ID_LEN], sid[64];

    tapi_name(suffix, sizeof(suffix), "");
    snprintf(name, sizeof(name), "cred-\xe2\x80\xaegnp.exe-%s", suffix);
    snprintf(sid, sizeof(sid), "cli-output-%s", suffix);
    /* pairs and metadata may hold any character (a PEM key holds line feeds) */
    json_t *body = json_pack("{s:s, s:{s:s}, s:{s:s}}", "name", name, "credential_pairs", "pem",
                             "line1\nline2\x1b[31m\xe2\x80\xae\t\xc2\x85", "metadata", "note",
                             "\x1b[2J\r\nfake\xe2\x81\xa7");
    char *text = json_dumps(body, JSON_COMPACT);
    json_decref(tapi_cred_post(&f->api, text, id));
    cf_json_free_str(text);
    json_decref(body);
    tapi_svc_map(&f->api, sid, (const char *const[]){ id, NULL });

    char shown_name[128];
    snprintf(shown_name, sizeof(shown_name), "cred-\\u202egnp.exe-%s", suffix);
    const struct {
        const char *label;
        const char *const *args;
        const char *needle[3];
    } cases[] = {
        { "credential list", ARGS("credential", "list"), { shown_name, NULL, NULL } },
        { "credential show --reveal",
          ARGS("credential", "show", id, "--reveal"),
          { shown_name, "\\x1b[2J\\r\\nfake\\u2067", "line1\\nline2\\x1b[31m\\u202e\\t\\u0085" } },
        { "credential history", ARGS("credential", "history", id), { shown_name, NULL, NULL } },
        { "service show", ARGS("service", "show", sid), { shown_name, NULL, NULL } },
        { "get --format env",
          ARGS("get", sid, "--format", "env"),
          { "\\x1b[31m\\u202e", NULL, NULL } },
    };
    struct cf_buf list = { 0 };
    for (size_t i = 0; i < N_OF(cases); i++) {
        struct cf_buf out = { 0 };
        int rc = on_tty(f, &admin, cases[i].args, &out);
        char *d = rc != 0 ? tapi_printf("exited %d: %s", rc, out.data) : NULL;
        if (d == NULL)
            d = raw_diff(cases[i].label, out.data, out.len);
        for (size_t k = 0; d == NULL && k < 3 && cases[i].needle[k] != NULL; k++) {
            if (strstr(out.data, cases[i].needle[k]) == NULL)
                d = tapi_printf("does not show [%s]: %.1500s", cases[i].needle[k], out.data);
        }
        tapi_collect(&list, cases[i].label, d);
        cf_buf_free(&out);
    }
    tapi_collect_end(&list);

    /* JSON: the value exactly as stored */
    struct run r;
    coffer_expect(f, &admin, ARGS("credential", "show", id, "--reveal"), 0, &r);
    json_t *o = one_of(&r);
    assert_json_bytes("the pem value",
                      json_object_get(json_object_get(o, "credential_pairs"), "pem"),
                      "line1\nline2\x1b[31m\xe2\x80\xae\t\xc2\x85");
    assert_json_bytes("the name", json_object_get(o, "name"), name);
    json_decref(o);
    run_free(&r);
}

/* === the server's messages on stderr ========================================================== */

static void test_error_messages_quote_the_server_escaped(void **state)
{
    struct tkms *f = *state;
    const char *id = "0123456789abcdef0123456789abcdef";
    char path[128];
    struct run r;

    snprintf(path, sizeof(path), "/v1/credentials/%s?metadata_only=True", id);
    struct tfake *srv = tfake_start();
    tfake_answer(srv, "GET", path, 404, NULL,
                 "{\"error\": \"no such credential\\u001b[2J\\r\\ncoffer: all good\\u202e"
                 "x\\u009b\", \"code\": \"not_found\\u0007\", \"request_id\": \"r\\u2066id\"}");
    coffer_expect(f,
                  &(struct how){ .token = "coffer_not-checked-by-the-fake", .url = tfake_url(srv) },
                  ARGS("credential", "show", id), 5, &r);
    tfake_stop(srv);
    /* one line, ended by its own line feed, nothing raw before it */
    if (r.err.len == 0 || r.err.data[r.err.len - 1] != '\n' ||
        memchr(r.err.data, '\n', r.err.len - 1) != NULL)
        fail_msg("stderr is not one line: %s", err_of(&r));
    assert_raw_clean("stderr", r.err.data, r.err.len - 1);
    assert_has("stderr", err_of(&r), "no such credential\\x1b[2J\\r\\ncoffer: all good\\u202e");
    assert_has("stderr", err_of(&r), "not_found\\x07");
    assert_has("stderr", err_of(&r), "r\\u2066id");
    run_free(&r);
}

int main(void)
{
    tcli_init();
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_audit_list_shows_hostile_rows_escaped_and_claimed_names_as_claimed),
        cmocka_unit_test(test_admin_tables_and_lines_escape_names_keys_and_values),
        cmocka_unit_test(test_error_messages_quote_the_server_escaped),
    };
    int rc = t_run_group_tests(tests, tcli_group_setup, tkms_teardown);
    tcli_finish();
    return rc;
}
