/* taudit.c - helpers of the access-log tests: fixture with service kmsauth, one request's row
 * through the auditors' API, the chain recomputed client-side, both verifiers, tampering. */
#include "taudit.h"

#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <unistd.h>

#include <libpq-fe.h>
#include <openssl/evp.h>

#include "cf_codec.h"
#include "cf_crypto.h"
#include "cf_json.h"

static char *const kmsauth_env[] = { "COFFER_AUTH_KEY=coffer-auth",
                                     "COFFER_AUTH_CONTEXT=" TAUDIT_CONTEXT };

/* envp = the key file, the kmsauth settings, then extra (at most 16 entries in all). */
static void node_env(const struct taudit *f, char *const extra[], char *envp[], size_t cap)
{
    size_t n = 0;

    envp[n++] = (char *)f->env_keys;
    envp[n++] = kmsauth_env[0];
    envp[n++] = kmsauth_env[1];
    for (size_t i = 0; extra != NULL && extra[i] != NULL; i++) {
        if (n + 1 >= cap)
            fail_msg("too many environment entries for a test cofferd");
        envp[n++] = extra[i];
    }
    envp[n] = NULL;
}

void taudit_init(struct taudit *f, char *const extra_env[])
{
    struct tapi *a = &f->api;
    char *envp[20];

    *f = (struct taudit){ 0 };
    t_db_create(&a->db, true);
    t_token_create(&a->db, "admin", "admin-1", a->admin_token);
    t_token_create(&a->db, "auditor", "auditor-1", a->auditor_token);
    snprintf(a->admin, sizeof(a->admin), "Authorization: Bearer %s", a->admin_token);
    snprintf(a->auditor, sizeof(a->auditor), "Authorization: Bearer %s", a->auditor_token);
    t_key_file(f->key_file, sizeof(f->key_file));
    snprintf(f->env_keys, sizeof(f->env_keys), "COFFER_LOCAL_KEY_FILE=%s", f->key_file);
    node_env(f, extra_env, envp, sizeof(envp) / sizeof(envp[0]));
    t_cofferd_start(&a->d, &a->db, envp);
}

void taudit_start_node(const struct taudit *f, struct t_cofferd *d, char *const extra_env[])
{
    char *envp[20];

    node_env(f, extra_env, envp, sizeof(envp) / sizeof(envp[0]));
    t_cofferd_start(d, &f->api.db, envp);
}

int taudit_fini(struct taudit *f)
{
    int rc = t_cofferd_stop(&f->api.d);
    t_db_drop(&f->api.db);
    return rc;
}

int taudit_setup(void **state)
{
    struct taudit *f = calloc(1, sizeof(*f));
    assert_non_null(f);
    taudit_init(f, NULL);
    *state = f;
    return 0;
}

int taudit_teardown(void **state)
{
    struct taudit *f = *state;
    int rc = taudit_fini(f);
    free(f);
    assert_int_equal(rc, 0); /* SIGTERM: drained and exited cleanly */
    return 0;
}

/* The coffer CLI sits beside cofferd in the build tree: <build>/cli/coffer. */
static void coffer_cli_path(char *out, size_t cap)
{
    const char *cofferd = t_env("COFFER_TEST_COFFERD");
    const char *tail = strstr(cofferd, "/service/cofferd");
    if (tail == NULL)
        fail_msg("COFFER_TEST_COFFERD is not <build>/service/cofferd: %s", cofferd);
    snprintf(out, cap, "%.*s/cli/coffer", (int)(tail - cofferd), cofferd);
}

char *taudit_service_auth(const struct taudit *f, const char *from)
{
    char cli[512];
    struct cf_buf out = { 0 };

    coffer_cli_path(cli, sizeof(cli));
    char *const argv[] = { cli, "token", "--from", (char *)from, "--header", NULL };
    char *const env[] = { (char *)f->env_keys, kmsauth_env[0], kmsauth_env[1], NULL };
    int rc = t_run(argv, env, &out);
    if (rc != 0 || out.len == 0)
        fail_msg("coffer token --from %s exited %d", from, rc);
    while (out.len > 0 && (out.data[out.len - 1] == '\n' || out.data[out.len - 1] == '\r'))
        out.data[--out.len] = '\0';
    if (!cf_has_prefix(out.data, "Authorization: Basic "))
        fail_msg("coffer token --header printed no Authorization header");
    char *h = strdup(out.data);
    assert_non_null(h);
    cf_buf_free(&out);
    return h;
}

char *taudit_basic_header(const char *user, const char *token)
{
    char *raw = tapi_printf("%s:%s", user, token);
    size_t cap = cf_b64_encoded_len(CF_B64_STD, strlen(raw)) + 1;
    char *enc = calloc(1, cap);

    assert_non_null(enc);
    assert_int_equal(cf_b64_encode(CF_B64_STD, (const uint8_t *)raw, strlen(raw), enc, cap), 0);
    char *h = tapi_printf("Authorization: Basic %s", enc);
    free(enc);
    free(raw);
    return h;
}

/* --- canonical rows and hashes (API.md 8.2), computed here -------------------------------- */

static void put_escaped(struct cf_buf *b, const char *s)
{
    static const char hexd[] = "0123456789abcdef";

    cf_buf_append_char(b, '"');
    for (const unsigned char *p = (const unsigned char *)s; *p != '\0'; p++) {
        switch (*p) {
        case '"':
            cf_buf_append_str(b, "\\\"");
            break;
        case '\\':
            cf_buf_append_str(b, "\\\\");
            break;
        case '\b':
            cf_buf_append_str(b, "\\b");
            break;
        case '\f':
            cf_buf_append_str(b, "\\f");
            break;
        case '\n':
            cf_buf_append_str(b, "\\n");
            break;
        case '\r':
            cf_buf_append_str(b, "\\r");
            break;
        case '\t':
            cf_buf_append_str(b, "\\t");
            break;
        default:
            if (*p < 0x20) {
                char u[7] = { '\\', 'u', '0', '0', hexd[*p >> 4], hexd[*p & 15], '\0' };
                cf_buf_append_str(b, u);
            } else {
                cf_buf_append_char(b, (char)*p);
            }
        }
    }
    cf_buf_append_char(b, '"');
}

/* The hashed members in byte order of their names, whether each is an integer, may be null,
 * or is left out when null or absent (peer_ip, migration 0005). */
static const struct {
    const char *name;
    bool integer;
    bool nullable;
    bool omitted_if_null;
} canon_members[] = {
    { "action", false, false, false },       { "actor", false, false, false },
    { "actor_type", false, false, false },   { "id", true, false, false },
    { "peer_ip", false, true, true },        { "reason", false, false, false },
    { "request_id", false, false, false },   { "resource_id", false, true, false },
    { "resource_type", false, true, false }, { "result", false, false, false },
    { "revision", true, true, false },       { "source_ip", false, false, false },
    { "time", false, false, false },
};

int taudit_canonical(const json_t *ev, struct cf_buf *out)
{
    cf_buf_append_char(out, '{');
    for (size_t i = 0; i < sizeof(canon_members) / sizeof(canon_members[0]); i++) {
        json_t *v = json_object_get(ev, canon_members[i].name);
        if (canon_members[i].omitted_if_null && (v == NULL || json_is_null(v)))
            continue;
        if (i > 0)
            cf_buf_append_char(out, ',');
        put_escaped(out, canon_members[i].name);
        cf_buf_append_char(out, ':');
        if (json_is_null(v) && canon_members[i].nullable) {
            cf_buf_append_str(out, "null");
        } else if (canon_members[i].integer && json_is_integer(v)) {
            if (cf_buf_printf(out, "%lld", (long long)json_integer_value(v)) != 0)
                return -1;
        } else if (!canon_members[i].integer && json_is_string(v)) {
            put_escaped(out, json_string_value(v));
        } else {
            return -1;
        }
    }
    cf_buf_append_char(out, '}');
    return 0;
}

int taudit_hash(const char *prev_hex, const json_t *ev, char out[TAUDIT_HASH_HEX])
{
    uint8_t prev[32], digest[32];
    struct cf_buf msg = { 0 };
    unsigned int dlen = 0;
    int r = -1;

    out[0] = '\0';
    if (prev_hex == NULL || strlen(prev_hex) != 64 || !cf_is_lower_hex(prev_hex, 64) ||
        cf_hex_decode(prev_hex, 64, prev, sizeof(prev)) != 0)
        return -1;
    cf_buf_append(&msg, prev, sizeof(prev));
    if (taudit_canonical(ev, &msg) != 0)
        goto out;
    if (EVP_Digest(msg.data, msg.len, digest, &dlen, EVP_sha256(), NULL) != 1 || dlen != 32)
        goto out;
    if (cf_hex_encode(digest, sizeof(digest), out, TAUDIT_HASH_HEX) != 0)
        goto out;
    r = 0;
out:
    cf_buf_free(&msg);
    return r;
}

char *taudit_chain_diff(const json_t *events, int64_t first_id, const char *prev_hex)
{
    char prev[TAUDIT_HASH_HEX], h[TAUDIT_HASH_HEX];
    size_t i;
    json_t *ev;

    if (!json_is_array(events))
        return tapi_printf("events is not an array");
    snprintf(prev, sizeof(prev), "%s", prev_hex);
    json_array_foreach(events, i, ev)
    {
        int64_t want = first_id + (int64_t)i;
        json_t *id = json_object_get(ev, "id");
        const char *ph = cf_json_str(ev, "prev_hash"), *hash = cf_json_str(ev, "hash");
        if (!json_is_integer(id) || json_integer_value(id) != want)
            return tapi_printf("row %lld: missing (ids not contiguous: the next is %lld)",
                               (long long)want,
                               json_is_integer(id) ? (long long)json_integer_value(id) : -1LL);
        if (ph == NULL || strcmp(ph, prev) != 0)
            return tapi_printf("row %lld: prev_hash %s, but the previous row hashes to %s",
                               (long long)want, ph != NULL ? ph : "(none)", prev);
        if (taudit_hash(prev, ev, h) != 0)
            return tapi_printf("row %lld: has no canonical form", (long long)want);
        if (hash == NULL || strcmp(hash, h) != 0)
            return tapi_printf("row %lld: hash %s, recomputed %s", (long long)want,
                               hash != NULL ? hash : "(none)", h);
        memcpy(prev, h, sizeof(prev));
    }
    return NULL;
}

/* --- one request's row --------------------------------------------------------------------- */

static void want_str(struct cf_buf *d, const json_t *ev, const char *name, const char *want)
{
    json_t *v = json_object_get(ev, name);
    const char *got = json_is_null(v) ? "<null>" : json_string_value(v);

    if (want == NULL)
        return;
    if (got == NULL || !tapi_one_of(want, got))
        assert_int_equal(cf_buf_printf(d, "%s%s: expected %s, got %s", d->len > 0 ? "; " : "", name,
                                       want, got != NULL ? got : "(not a string)"),
                         0);
}

static bool is_timestamp(const char *s)
{
    static const char shape[] = "dddd-dd-ddTdd:dd:dd.dddddd+00:00";
    bool ok = s != NULL && strlen(s) == sizeof(shape) - 1;

    for (size_t i = 0; ok && i < sizeof(shape) - 1; i++)
        ok = shape[i] == 'd' ? (s[i] >= '0' && s[i] <= '9') : s[i] == shape[i];
    return ok;
}

/* Appends to d what is wrong with the event's shape. */
static void shape_diff(struct cf_buf *d, const json_t *ev)
{
    static const char *const names[] = {
        "id",      "time",      "request_id",    "actor_type",  "actor",    "source_ip",
        "peer_ip", "action",    "resource_type", "resource_id", "revision", "result",
        "reason",  "prev_hash", "hash",          "actor_proven"
    };
    char h[TAUDIT_HASH_HEX];
    const char *ph = cf_json_str(ev, "prev_hash"), *hash = cf_json_str(ev, "hash");
    const char *rid = cf_json_str(ev, "request_id"), *t = cf_json_str(ev, "time");
    json_t *id = json_object_get(ev, "id"), *rev = json_object_get(ev, "revision");

    for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++)
        if (json_object_get(ev, names[i]) == NULL)
            assert_int_equal(cf_buf_printf(d, "; member %s missing", names[i]), 0);
    if (json_object_size(ev) != sizeof(names) / sizeof(names[0]))
        assert_int_equal(cf_buf_printf(d, "; %zu members, expected exactly " TAUDIT_EVENT_MEMBERS,
                                       json_object_size(ev)),
                         0);
    if (!json_is_integer(id) || json_integer_value(id) < 1)
        cf_buf_append_str(d, "; id is not an integer >= 1");
    if (!is_timestamp(t))
        assert_int_equal(cf_buf_printf(d,
                                       "; time not in the format YYYY-MM-DDTHH:MM:SS.ffffff"
                                       "+00:00: %s",
                                       t != NULL ? t : "(not a string)"),
                         0);
    if (rid == NULL || strlen(rid) != 32 || !cf_is_lower_hex(rid, 32))
        cf_buf_append_str(d, "; request_id is not 32 lowercase hex");
    if (!json_is_null(rev) && !json_is_integer(rev))
        cf_buf_append_str(d, "; revision is neither an integer nor null");
    const char *type = cf_json_str(ev, "actor_type");
    json_t *proven = json_object_get(ev, "actor_proven");
    if (!json_is_boolean(proven) ||
        json_is_true(proven) != (type != NULL && strcmp(type, "anonymous") != 0))
        cf_buf_append_str(d, "; actor_proven is not a boolean, false exactly for anonymous");
    if (ph == NULL || strlen(ph) != 64 || !cf_is_lower_hex(ph, 64) || hash == NULL ||
        strlen(hash) != 64 || !cf_is_lower_hex(hash, 64)) {
        cf_buf_append_str(d, "; prev_hash or hash is not 64 lowercase hex");
        return;
    }
    if (taudit_hash(ph, ev, h) != 0 || strcmp(h, hash) != 0)
        assert_int_equal(cf_buf_printf(d,
                                       "; hash %s does not recompute from prev_hash and the "
                                       "row (expected %s)",
                                       hash, h),
                         0);
}

char *taudit_event_diff(const json_t *ev, const struct taudit_want *w)
{
    struct cf_buf d = { 0 };

    if (!json_is_object(ev))
        return tapi_printf("the event is not an object");
    shape_diff(&d, ev);
    want_str(&d, ev, "actor_type", w->actor_type);
    want_str(&d, ev, "actor", w->actor);
    want_str(&d, ev, "source_ip", w->source_ip);
    want_str(&d, ev, "action", w->action);
    want_str(&d, ev, "resource_type", w->resource_type);
    want_str(&d, ev, "resource_id", w->resource_id);
    want_str(&d, ev, "result", w->result);
    want_str(&d, ev, "reason", w->reason);
    if (w->revision != TAPI_ANY) {
        json_t *rev = json_object_get(ev, "revision");
        bool ok = w->revision == TAPI_NULL
                      ? json_is_null(rev)
                      : json_is_integer(rev) && json_integer_value(rev) == w->revision;
        if (!ok)
            assert_int_equal(
                cf_buf_printf(&d, "; revision: expected %ld, got %lld", w->revision,
                              json_is_integer(rev) ? (long long)json_integer_value(rev) : -1LL),
                0);
    }
    if (d.len == 0) {
        cf_buf_free(&d);
        return NULL;
    }
    char *ev_text = json_dumps(ev, JSON_COMPACT | JSON_SORT_KEYS);
    char *s = tapi_printf("%s (event %s)", d.data[0] == ';' ? d.data + 2 : d.data,
                          ev_text != NULL ? ev_text : "?");
    cf_json_free_str(ev_text);
    cf_buf_free(&d);
    return s;
}

json_t *taudit_event_get(const struct taudit *f, const struct t_resp *r, char **diff_out)
{
    char rid[64], sql[256];
    struct t_resp q;

    *diff_out = NULL;
    if (!t_resp_header(r, "X-Request-Id", rid, sizeof(rid)) || !cf_is_lower_hex(rid, 32) ||
        strlen(rid) != 32) {
        *diff_out = tapi_printf("the answer has no X-Request-Id of 32 lowercase hex");
        return NULL;
    }
    snprintf(sql, sizeof(sql), "SELECT count(*) FROM audit_log WHERE request_id = '%s'", rid);
    long n = tapi_count(&f->api, sql);
    if (n != 1) {
        *diff_out = tapi_printf("expected exactly one audit_log row for request %s (status %ld), "
                                "found %ld",
                                rid, r->status, n);
        return NULL;
    }
    tapi_send(&f->api, f->api.auditor, "GET", NULL, &q, "/v1/audit/events?request_id=%s", rid);
    if (q.status != 200) {
        *diff_out = tapi_printf("GET /v1/audit/events?request_id=%s: %ld %.300s", rid, q.status,
                                q.body.data);
        t_resp_free(&q);
        return NULL;
    }
    json_t *b = tapi_json(&q);
    json_t *evs = json_object_get(b, "events");
    json_t *ev = json_array_size(evs) == 1 ? json_incref(json_array_get(evs, 0)) : NULL;
    if (ev == NULL)
        *diff_out = tapi_printf("GET /v1/audit/events?request_id=%s returned %zu events, not 1",
                                rid, json_array_size(evs));
    else if (cf_json_str(ev, "request_id") == NULL ||
             strcmp(cf_json_str(ev, "request_id"), rid) != 0)
        *diff_out = tapi_printf("the event's request_id differs from X-Request-Id %s", rid);
    json_decref(b);
    t_resp_free(&q);
    return ev;
}

char *taudit_row_diff(const struct taudit *f, const struct t_resp *r,
                      const struct taudit_want *want)
{
    char *d = NULL;
    json_t *ev = taudit_event_get(f, r, &d);

    if (d == NULL)
        d = taudit_event_diff(ev, want);
    json_decref(ev);
    return d;
}

void taudit_row(const struct taudit *f, const struct t_resp *r, const struct taudit_want *want)
{
    char *d = taudit_row_diff(f, r, want);
    if (d != NULL)
        fail_msg("%s", d);
}

/* --- paging, verify ------------------------------------------------------------------------ */

json_t *taudit_events_all(const struct taudit *f, const char *auth, const char *query, int limit,
                          size_t *pages_out)
{
    char *path = tapi_printf("/v1/audit/events%s%s", *query != '\0' ? "?" : "", query);
    const struct tapi_pager pg = {
        .auth = auth,
        .path = path,
        .member = "events",
        .next = "next_cursor",
        .param = "cursor",
        .limit = limit,
        .exact = true,
    };
    json_t *all = tapi_page_all(&f->api, &pg, pages_out);
    free(path);
    return all;
}

json_t *taudit_verify(const struct taudit *f, const char *query)
{
    struct t_resp r;

    tapi_send(&f->api, f->api.auditor, "GET", NULL, &r, "/v1/audit/verify%s%s",
              *query != '\0' ? "?" : "", query);
    json_t *b = tapi_ok(&r);
    t_resp_free(&r);
    return b;
}

int taudit_cli_verify(const struct t_db *db, char *const args[], struct cf_buf *out)
{
    static char url[T_URL_MAX + 32];
    int pipefd[2] = { -1, -1 };
    char *argv[16] = { (char *)t_env("COFFER_TEST_COFFERD"), "audit", "verify" };
    size_t n = 3;

    for (size_t i = 0; args != NULL && args[i] != NULL; i++) {
        if (n + 1 >= sizeof(argv) / sizeof(argv[0]))
            fail_msg("too many arguments");
        argv[n++] = args[i];
    }
    argv[n] = NULL;
    snprintf(url, sizeof(url), "COFFER_DATABASE_URL=%s", db->app_url);
    if (pipe(pipefd) != 0)
        fail_msg("pipe failed");
    pid_t pid = fork();
    if (pid < 0)
        fail_msg("fork failed");
    if (pid == 0) {
        prctl(PR_SET_PDEATHSIG, SIGKILL);
        putenv(url);
        dup2(pipefd[1], STDOUT_FILENO);
        dup2(pipefd[1], STDERR_FILENO);
        close(pipefd[0]);
        close(pipefd[1]);
        execv(argv[0], argv);
        _exit(127);
    }
    close(pipefd[1]);
    char chunk[4096];
    ssize_t got;
    while ((got = read(pipefd[0], chunk, sizeof(chunk))) > 0)
        if (out != NULL)
            cf_buf_append(out, chunk, (size_t)got);
    close(pipefd[0]);
    if (out != NULL)
        cf_buf_append(out, "", 0);
    int status = 0;
    while (waitpid(pid, &status, 0) < 0 && errno == EINTR)
        ;
    return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
}

/* True if word occurs in text with no letter, digit or '_' right before or after it. */
static bool has_word(const char *text, const char *word)
{
    size_t len = strlen(word);

    if (len == 0)
        return true;
    for (const char *p = strstr(text, word); p != NULL; p = strstr(p + 1, word)) {
        char before = p == text ? ' ' : p[-1], after = p[len];
        bool lb = !(before == '_' || (before >= '0' && before <= '9') ||
                    (before >= 'a' && before <= 'z') || (before >= 'A' && before <= 'Z'));
        bool rb = !(after == '_' || (after >= '0' && after <= '9') ||
                    (after >= 'a' && after <= 'z') || (after >= 'A' && after <= 'Z'));
        if (lb && rb)
            return true;
    }
    return false;
}

bool taudit_names_row(const char *text, int64_t id, const char *problem)
{
    char num[32];

    snprintf(num, sizeof(num), "%lld", (long long)id);
    return text != NULL && has_word(text, problem) && has_word(text, num);
}

/* --- the database, as the superuser -------------------------------------------------------- */

void taudit_tamper(const struct t_db *db, const char *sql, const char *param)
{
    PGconn *pg = PQconnectdb(db->super_url);
    if (PQstatus(pg) != CONNECTION_OK)
        fail_msg("cannot connect as the superuser: %s", PQerrorMessage(pg));
    PGresult *res = PQexec(pg, "SET session_replication_role = replica");
    if (PQresultStatus(res) != PGRES_COMMAND_OK)
        fail_msg("SET session_replication_role failed: %s", PQresultErrorMessage(res));
    PQclear(res);
    const char *params[1] = { param };
    res = PQexecParams(pg, sql, param != NULL ? 1 : 0, NULL, param != NULL ? params : NULL, NULL,
                       NULL, 0);
    ExecStatusType st = PQresultStatus(res);
    if (st != PGRES_COMMAND_OK && st != PGRES_TUPLES_OK)
        fail_msg("tampering failed (%s): %s", PQresultErrorMessage(res), sql);
    PQclear(res);
    PQfinish(pg);
}

void taudit_insert_raw(const struct t_db *db, const json_t *ev)
{
    char *text = json_dumps(ev, JSON_COMPACT);
    assert_non_null(text);
    taudit_tamper(db,
                  "INSERT INTO audit_log SELECT * FROM json_populate_record(NULL::audit_log, "
                  "$1::json)",
                  text);
    cf_json_free_str(text);
}

int64_t taudit_head_id(const struct taudit *f)
{
    return tapi_count(&f->api, "SELECT id FROM audit_head");
}

int64_t taudit_max_id(const struct taudit *f)
{
    return tapi_count(&f->api, "SELECT coalesce(max(id), 0) FROM audit_log");
}

/* --- /metrics ------------------------------------------------------------------------------ */

void taudit_metrics_text(const struct t_cofferd *d, struct cf_buf *out)
{
    char url[128];
    struct t_resp r;

    snprintf(url, sizeof(url), "%s/metrics", d->base_url);
    t_http("GET", url, NULL, NULL, &r);
    if (r.status != 200)
        fail_msg("GET /metrics: %ld", r.status);
    cf_buf_append(out, r.body.data, r.body.len);
    cf_buf_append(out, "", 0);
    t_resp_free(&r);
}

bool taudit_metric(const struct t_cofferd *d, const char *series, double *value_out)
{
    struct cf_buf text = { 0 };
    size_t slen = strlen(series);
    bool found = false;

    *value_out = 0;
    taudit_metrics_text(d, &text);
    for (const char *p = text.data; p != NULL && *p != '\0' && !found;) {
        const char *eol = strchr(p, '\n');
        if (strncmp(p, series, slen) == 0 && p[slen] == ' ') {
            char *end;
            *value_out = strtod(p + slen + 1, &end);
            found = end != p + slen + 1;
        }
        p = eol != NULL ? eol + 1 : NULL;
    }
    cf_buf_free(&text);
    return found;
}

void taudit_rand_hex32(char out[33])
{
    if (cf_rand_hex(16, out, 33) != 0)
        fail_msg("no random bytes");
}
