/*
 * test_cli_get.c - the coffer command-line client (cli/), black-box: the commands that fetch a
 * service's bundle: token generate (kmsauth tokens and the headers made of them), get (JSON, env,
 * dotenv and shell formats) and exec (the command gets exactly the bundle's variables, retries
 * against a fake server, never runs when the fetch fails); and the names programs read at start
 * (LD_PRELOAD, PATH, BASH_ENV...), which exec refuses and get leaves out unless allowed by
 * name, and coffer's own settings and AWS credentials, which exec's command never inherits
 * unless kept by name.
 *
 * Every command runs as a process against a cofferd on the aws KMS backend (moto, kmsauth on)
 * and PostgreSQL; its exit status, stdout and stderr are checked, and what it wrote is read back
 * through the API (API.md) and the database. The help text (`coffer --help`, `coffer CMD
 * --help`) is the specification: exit 0 ok, 1 invalid or a broken chain, 2 usage, 3 401, 4 403,
 * 5 404, 6 409, 7 server error or no answer, N the status of exec's command. What the test_cli_*
 * binaries share (running coffer, the secrets no command line may hold) is in
 * tests/support/tcli.c.
 */
#define _GNU_SOURCE /* memmem, strndup, cfmakeraw */
#include <arpa/inet.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <pty.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <termios.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>
#include <jansson.h>

#include "cf_codec.h"
#include "cf_crypto.h"
#include "cf_json.h"
#include "tcli.h"
#include "tfake_http.h"

/* === token ================================================================================== */

/* Asserts that GET /v1/user/email with the headers answers email and actor_type. */
static void assert_identity(const struct tkms *f, const char *const *headers, const char *email,
                            const char *actor_type, const char *role)
{
    struct t_resp r;
    tapi_send_h(&f->api, headers, "GET", NULL, &r, "/v1/user/email");
    json_t *b = tapi_ok(&r);
    assert_string_equal(tapi_str(b, "email"), email);
    assert_string_equal(tapi_str(b, "actor_type"), actor_type);
    if (role != NULL)
        assert_string_equal(tapi_str(b, "role"), role);
    json_decref(b);
    t_resp_free(&r);
}

/* The username inside an "Authorization: Basic ..." header (static storage). */
static const char *basic_username(const char *header)
{
    static char raw[8192];
    size_t n = 0;
    const char *b64 = header + strlen("Authorization: Basic ");

    if (strncmp(header, "Authorization: Basic ", 21) != 0)
        fail_msg("not a Basic header: %.100s", header);
    if (cf_b64_decode(CF_B64_STD, b64, strlen(b64), (uint8_t *)raw, sizeof(raw) - 1, &n) != 0)
        fail_msg("the Basic header is not base64: %.100s", header);
    raw[n] = '\0';
    char *colon = strchr(raw, ':');
    if (colon == NULL)
        fail_msg("the Basic header has no ':'");
    *colon = '\0';
    return raw;
}

/* Strips the one trailing newline of stdout; fails if it is not exactly one line. */
static const char *one_line(struct run *r)
{
    if (r->out.len < 2 || r->out.data[r->out.len - 1] != '\n' ||
        memchr(r->out.data, '\n', r->out.len - 1) != NULL)
        fail_msg("expected one line on stdout: %.300s", out_of(r));
    r->out.data[--r->out.len] = '\0';
    return r->out.data;
}

static void test_token_generate_prints_tokens_and_headers_the_server_accepts(void **state)
{
    struct tkms *f = *state;
    struct run r;
    char svc[64], person[64], user[200];
    struct t_resp resp;

    tapi_name(svc, sizeof(svc), "cli-tok-svc-");
    tapi_name(person, sizeof(person), "cli-tok-person-");

    /* token generate: the bare token, sent as the header pair of a v2 service token */
    coffer_expect(f, NULL, ARGS("token", "generate", "--from", svc), 0, &r);
    tkms_username(2, "service", svc, user, sizeof(user));
    struct tkms_creds c;
    tkms_creds(TKMS_XAUTH, user, one_line(&r), &c);
    const char *xauth[] = { c.h[0], c.h[1], NULL };
    assert_identity(f, xauth, svc, "service", NULL);
    tkms_creds_free(&c);
    run_free(&r);

    /* `token` is a synonym; --header prints the whole header; the name may come from
     * COFFER_AUTH_FROM */
    coffer_expect(f, &(struct how){ .from = svc }, ARGS("token", "--header"), 0, &r);
    const char *h2[] = { one_line(&r), NULL };
    assert_string_equal(basic_username(h2[0]), user);
    assert_identity(f, h2, svc, "service", NULL);
    run_free(&r);

    /* --version 1: the username is the bare name */
    coffer_expect(f, NULL, ARGS("token", "--from", svc, "--version", "1", "--header"), 0, &r);
    const char *h1[] = { one_line(&r), NULL };
    assert_string_equal(basic_username(h1[0]), svc);
    assert_identity(f, h1, svc, "service", NULL);
    tapi_send_h(&f->api, h1, "GET", NULL, &resp, "/v1/user/email");
    tkms_audit(&f->api, &resp, "service", svc, "identity.get", NULL, "allowed", "ok");
    t_resp_free(&resp);
    run_free(&r);

    /* a person's token, under the user key: it has the role of its principal */
    tapi_send(&f->api, f->api.admin, "PUT", "{\"role\": \"auditor\"}", &resp, "/v1/principals/%s",
              person);
    json_decref(tapi_ok(&resp));
    t_resp_free(&resp);
    coffer_expect(f, NULL,
                  ARGS("token", "generate", "--from", person, "--user-type", "user", "--header"), 0,
                  &r);
    const char *hu[] = { one_line(&r), NULL };
    tkms_username(2, "user", person, user, sizeof(user));
    assert_string_equal(basic_username(hu[0]), user);
    assert_identity(f, hu, person, "user", "auditor");
    run_free(&r);
}

/* === get and exec =========================================================================== */

/* A service for get and exec: a credential holding the tricky value (made with coffer from
 * stdin), one with plain values whose keys need converting, and a disabled one. */
struct bundle {
    char sid[64];
    char tricky_id[TAPI_ID_LEN], plain_id[TAPI_ID_LEN], off_id[TAPI_ID_LEN];
    char tricky_name[64], plain_name[64], off_name[64];
    char *tricky;      /* the value of TRICKY_VALUE */
    char pw[64];       /* DB_PASSWORD */
    char key[64];      /* API_KEY */
    char override[64]; /* CLI_TEST_OVERRIDE */
    char marker[600];  /* a file the tricky value's $(...) and `...` would create */
};

static void bundle_new(const struct tkms *f, struct bundle *b)
{
    struct run r;
    char tag[64];

    *b = (struct bundle){ 0 };
    tapi_name(b->sid, sizeof(b->sid), "cli-bundle-");
    work_path(b->marker, sizeof(b->marker), "cli-marker-");
    secret_new(tag, sizeof(tag), "cli-tricky-");
    b->tricky = tricky_value(tag, b->marker);
    tapi_name(b->tricky_name, sizeof(b->tricky_name), "cli-tricky-cred-");
    coffer_expect(f, &(struct how){ .token = f->api.admin_token, .in = b->tricky },
                  ARGS("credential", "create", b->tricky_name, "--value", "value", "--metadata",
                       "env_var_prefix=TRICKY_"),
                  0, &r);
    json_t *o = one_of(&r);
    snprintf(b->tricky_id, sizeof(b->tricky_id), "%s", tapi_str(o, "id"));
    json_decref(o);
    run_free(&r);

    secret_new(b->pw, sizeof(b->pw), "cli-pw-");
    secret_new(b->key, sizeof(b->key), "cli-key-");
    secret_new(b->override, sizeof(b->override), "cli-new-");
    char *pairs = tapi_printf("{\"db-password\": \"%s\", \"api.key\": \"%s\", "
                              "\"cli_test_override\": \"%s\", \"empty\": \"\"}",
                              b->pw, b->key, b->override);
    api_cred(f, "cli-plain-", pairs, true, b->plain_name, sizeof(b->plain_name), b->plain_id);
    free(pairs);
    api_cred(f, "cli-off-", "{\"off_value\": \"disabled-value\"}", false, b->off_name,
             sizeof(b->off_name), b->off_id);
    const char *ids[] = { b->tricky_id, b->plain_id, b->off_id, NULL };
    tapi_svc_map(&f->api, b->sid, ids);
}

static void bundle_free(struct bundle *b)
{
    free(b->tricky);
    unlink(b->marker);
}

/* The environment entries the bundle must give, sorted (NULL-terminated; strv_free() it). */
static char **bundle_entries(const struct bundle *b, const char *prefix)
{
    char **e = calloc(6, sizeof(*e));
    const char *p = prefix != NULL ? prefix : "";
    assert_non_null(e);
    e[0] = tapi_printf("%sAPI_KEY=%s", p, b->key);
    e[1] = tapi_printf("%sCLI_TEST_OVERRIDE=%s", p, b->override);
    e[2] = tapi_printf("%sDB_PASSWORD=%s", p, b->pw);
    e[3] = tapi_printf("%sEMPTY=", p);
    e[4] = tapi_printf("%sTRICKY_VALUE=%s", p, b->tricky);
    return e;
}

static int cmp_str(const void *a, const void *b)
{
    return strcmp(*(const char *const *)a, *(const char *const *)b);
}

/* The NUL-separated entries of `env -0`, sorted (strv_free() it). */
static char **env0_entries(const struct run *r, size_t *n)
{
    size_t cap = 8, k = 0;
    char **e = calloc(cap + 1, sizeof(*e));
    assert_non_null(e);
    for (const char *p = out_of(r), *end = p + r->out.len; p < end;) {
        const char *nul = memchr(p, '\0', (size_t)(end - p));
        if (nul == NULL)
            fail_msg("env -0 printed an entry without its NUL");
        if (k == cap) {
            cap *= 2;
            e = realloc(e, (cap + 1) * sizeof(*e));
            assert_non_null(e);
        }
        e[k++] = strndup(p, (size_t)(nul - p));
        p = nul + 1;
    }
    e[k] = NULL;
    qsort(e, k, sizeof(*e), cmp_str);
    *n = k;
    return e;
}

/* How many entries start with prefix (a "NAME="). */
static size_t count_prefixed(char *const *e, const char *prefix)
{
    size_t n = 0;
    for (size_t i = 0; e[i] != NULL; i++)
        n += strncmp(e[i], prefix, strlen(prefix)) == 0;
    return n;
}

static bool has_entry(char *const *e, const char *entry)
{
    for (size_t i = 0; e[i] != NULL; i++) {
        if (strcmp(e[i], entry) == 0)
            return true;
    }
    return false;
}

static void test_get_prints_the_bundle_as_json_and_get_service_is_a_synonym(void **state)
{
    struct tkms *f = *state;
    struct bundle b;
    struct run r;

    bundle_new(f, &b);
    /* without COFFER_TOKEN: a kmsauth service token with from = the service; and as an admin */
    const struct how as_service = { 0 }, admin = { .token = f->api.admin_token };
    const struct {
        const char *label;
        const struct how *h;
        const char *const *args;
    } forms[] = {
        { "get (the service itself)", &as_service, ARGS("get", b.sid) },
        { "get --format json", &as_service, ARGS("get", b.sid, "--format", "json") },
        { "get-service", &as_service, ARGS("get-service", b.sid) },
        { "get as the admin", &admin, ARGS("get", b.sid) },
        { "get --token-version 1", &as_service, ARGS("get", b.sid, "--token-version", "1") },
    };
    for (size_t i = 0; i < N_OF(forms); i++) {
        json_error_t jerr;
        coffer_expect(f, forms[i].h, forms[i].args, 0, &r);
        json_t *bj = json_loadb(out_of(&r), r.out.len, 0, &jerr);
        if (bj == NULL)
            fail_msg("%s printed no JSON (%s): %.300s", forms[i].label, jerr.text, out_of(&r));
        assert_string_equal(tapi_str(bj, "id"), b.sid);
        assert_json_bytes("the tricky value in the bundle",
                          json_object_get(tkms_bundle_pairs(bj, b.tricky_name), "value"), b.tricky);
        json_t *plain = tkms_bundle_pairs(bj, b.plain_name);
        assert_json_bytes("db-password", json_object_get(plain, "db-password"), b.pw);
        assert_json_bytes("api.key", json_object_get(plain, "api.key"), b.key);
        assert_json_bytes("empty", json_object_get(plain, "empty"), "");
        tapi_assert_json(tkms_bundle_pairs(bj, b.off_name), "{}"); /* disabled: no values */
        json_decref(bj);
        run_free(&r);
    }
    /* --metadata-only: the bundle without values */
    coffer_expect(f, NULL, ARGS("get", b.sid, "--metadata-only"), 0, &r);
    tapi_assert_no_secret(out_of(&r), b.pw, "get --metadata-only");
    json_t *bj = json_loadb(out_of(&r), r.out.len, 0, NULL);
    assert_non_null(bj);
    tapi_assert_json(tkms_bundle_pairs(bj, b.plain_name), "{}");
    json_decref(bj);
    run_free(&r);
    /* the fetches are in the access log as the service */
    char *sql = tapi_printf("SELECT count(*) FROM audit_log WHERE actor_type = 'service' AND "
                            "actor = '%s' AND action = 'service.get' AND result = 'allowed'",
                            sql_safe(b.sid));
    assert_int_equal(tapi_count(&f->api, sql), 4);
    free(sql);
    bundle_free(&b);
}

/* True if the line (with its newline) is in text. */
static bool has_line(const char *text, const char *line)
{
    size_t n = strlen(line);
    for (const char *p = text; (p = strstr(p, line)) != NULL; p++) {
        if ((p == text || p[-1] == '\n') && p[n] == '\n')
            return true;
    }
    return false;
}

static void
test_get_env_dotenv_and_shell_formats_give_back_every_value_in_sh_dash_and_bash(void **state)
{
    struct tkms *f = *state;
    struct cf_buf list = { 0 };
    struct bundle b;
    struct run r;
    char file[600];

    bundle_new(f, &b);
    work_path(file, sizeof(file), "cli-env-");
    const char *const shells[] = { "/bin/sh", "/bin/dash", "/bin/bash" };
    const struct {
        const char *format;
        const char *export; /* API_KEY's line: export, name, quote, the value, quote */
        char quote;
        bool set_a; /* sourced with set -a (env, dotenv) or as it is (shell) */
    } formats[] = {
        { "env", "", '\'', true },
        { "dotenv", "", '"', true },
        { "shell", "export ", '\'', false },
    };
    const struct {
        const char *name;
        const char *value;
    } vars[] = {
        { "TRICKY_VALUE", b.tricky },        { "DB_PASSWORD", b.pw }, { "API_KEY", b.key },
        { "CLI_TEST_OVERRIDE", b.override }, { "EMPTY", "" },
    };
    size_t shells_run = 0;
    for (size_t fi = 0; fi < N_OF(formats); fi++) {
        coffer_expect(f, NULL, ARGS("get", b.sid, "--format", formats[fi].format), 0, &r);
        char *line = tapi_printf("%sAPI_KEY=%c%s%c", formats[fi].export, formats[fi].quote, b.key,
                                 formats[fi].quote);
        if (!has_line(out_of(&r), line))
            tapi_collect(&list, formats[fi].format,
                         tapi_printf("no line %s in %.600s", line, out_of(&r)));
        free(line);
        if (strstr(out_of(&r), "OFF_VALUE") != NULL)
            tapi_collect(&list, formats[fi].format,
                         tapi_printf("the disabled credential's key is printed"));
        write_file(file, out_of(&r), r.out.len, 0600);
        run_free(&r);
        for (size_t si = 0; si < N_OF(shells); si++) {
            if (access(shells[si], X_OK) != 0)
                continue;
            shells_run++;
            for (size_t vi = 0; vi < N_OF(vars); vi++) {
                char label[128];
                snprintf(label, sizeof(label), "--format %s, %s, $%s", formats[fi].format,
                         shells[si], vars[vi].name);
                struct run sr;
                shell_value(shells[si], file, formats[fi].set_a, vars[vi].name, &sr);
                if (sr.rc != 0 || sr.err.len != 0)
                    tapi_collect(&list, label,
                                 tapi_printf("the shell exited %d: %.300s", sr.rc, err_of(&sr)));
                else if (sr.out.len != strlen(vars[vi].value) ||
                         memcmp(out_of(&sr), vars[vi].value, sr.out.len) != 0) {
                    size_t at = 0;
                    while (at < sr.out.len && out_of(&sr)[at] == vars[vi].value[at])
                        at++;
                    tapi_collect(&list, label,
                                 tapi_printf("%zu bytes, expected %zu, first difference at byte "
                                             "%zu",
                                             sr.out.len, strlen(vars[vi].value), at));
                }
                run_free(&sr);
            }
            if (exists(b.marker))
                tapi_collect(
                    &list, formats[fi].format,
                    tapi_printf("sourcing it in %s ran a command substitution", shells[si]));
        }
    }
    assert_true(shells_run >= 3 * 2); /* /bin/sh and dash at least */

    /* --prefix goes before every name, the credential's own prefix included */
    coffer_expect(f, NULL, ARGS("get", b.sid, "--format", "env", "--prefix", "APP_"), 0, &r);
    write_file(file, out_of(&r), r.out.len, 0600);
    if (strstr(out_of(&r), "\nDB_PASSWORD=") != NULL ||
        strncmp(out_of(&r), "DB_PASSWORD=", 12) == 0)
        tapi_collect(&list, "--prefix", tapi_printf("a name without the prefix"));
    run_free(&r);
    shell_value("/bin/sh", file, true, "APP_TRICKY_VALUE", &r);
    if (r.rc != 0 || r.out.len != strlen(b.tricky) || memcmp(out_of(&r), b.tricky, r.out.len) != 0)
        tapi_collect(&list, "--prefix APP_", tapi_printf("$APP_TRICKY_VALUE is not the value"));
    run_free(&r);
    /* a prefix that is no variable name is a usage error */
    coffer(f, NULL, ARGS("get", b.sid, "--format", "env", "--prefix", "1BAD"), &r);
    tapi_collect(&list, "get --prefix 1BAD", run_diff(&r, 2, "--prefix"));
    if (r.out.len != 0)
        tapi_collect(&list, "get --prefix 1BAD", tapi_printf("printed %.200s", out_of(&r)));
    run_free(&r);
    coffer(f, NULL, ARGS("exec", b.sid, "--prefix", "1-BAD", "--", "/bin/true"), &r);
    tapi_collect(&list, "exec --prefix 1-BAD", run_diff(&r, 2, "--prefix"));
    run_free(&r);
    unlink(file);
    tapi_collect_end(&list);
    bundle_free(&b);
}

static void
test_keys_that_make_no_valid_or_the_same_variable_name_are_refused_with_exit_1(void **state)
{
    struct tkms *f = *state;
    struct run r;
    char n1[64], n2[64], n3[64], bad[TAPI_ID_LEN], ab1[TAPI_ID_LEN], ab2[TAPI_ID_LEN];
    char sid_bad[64], sid_twice[64], marker[600];

    work_path(marker, sizeof(marker), "cli-marker-");
    api_cred(f, "cli-badkey-", "{\"1st\": \"v1\", \"good\": \"v2\"}", true, n1, sizeof(n1), bad);
    api_cred(f, "cli-ab1-", "{\"a-b\": \"dash\"}", true, n2, sizeof(n2), ab1);
    api_cred(f, "cli-ab2-", "{\"a_b\": \"underscore\"}", true, n3, sizeof(n3), ab2);
    tapi_name(sid_bad, sizeof(sid_bad), "cli-badname-");
    tapi_name(sid_twice, sizeof(sid_twice), "cli-twice-");
    tapi_svc_map(&f->api, sid_bad, (const char *[]){ bad, NULL });
    tapi_svc_map(&f->api, sid_twice, (const char *[]){ ab1, ab2, NULL });

    /* "1st" gives 1ST: refused, naming the credential and the key, never a value */
    coffer_expect(f, NULL, ARGS("get", sid_bad, "--format", "env"), 1, &r);
    assert_int_equal(r.out.len, 0);
    assert_non_null(strstr(err_of(&r), bad));
    assert_non_null(strstr(err_of(&r), "1st"));
    assert_null(strstr(err_of(&r), "v1"));
    run_free(&r);
    /* --skip-invalid: skipped with a warning, the rest printed */
    coffer_expect(f, NULL, ARGS("get", sid_bad, "--format", "env", "--skip-invalid"), 0, &r);
    assert_true(has_line(out_of(&r), "GOOD='v2'"));
    assert_null(strstr(out_of(&r), "1ST"));
    assert_non_null(strstr(err_of(&r), "1st"));
    run_free(&r);
    /* exec refuses too, and never runs its command */
    char *touch = tapi_printf("touch '%s'", marker);
    coffer_expect(f, NULL, ARGS("exec", sid_bad, "--", "/bin/sh", "-c", touch), 1, &r);
    assert_false(exists(marker));
    run_free(&r);
    coffer_expect(f, NULL, ARGS("exec", sid_bad, "--skip-invalid", "--pristine", "/usr/bin/env"), 0,
                  &r);
    assert_string_equal(out_of(&r), "GOOD=v2\n");
    run_free(&r);

    /* a-b and a_b both give A_B: refused naming both, even with --skip-invalid */
    for (int skip = 0; skip < 2; skip++) {
        coffer_expect(f, NULL,
                      skip ? ARGS("get", sid_twice, "--format", "dotenv", "--skip-invalid")
                           : ARGS("get", sid_twice, "--format", "dotenv"),
                      1, &r);
        assert_int_equal(r.out.len, 0);
        assert_non_null(strstr(err_of(&r), ab1));
        assert_non_null(strstr(err_of(&r), ab2));
        assert_non_null(strstr(err_of(&r), "A_B"));
        assert_null(strstr(err_of(&r), "underscore"));
        run_free(&r);
    }
    coffer_expect(f, NULL, ARGS("exec", sid_twice, "--", "/bin/sh", "-c", touch), 1, &r);
    assert_false(exists(marker));
    run_free(&r);
    /* the JSON form has no variables to refuse */
    coffer_ok(f, NULL, ARGS("get", sid_twice));
    free(touch);
}

static void
test_exec_gives_the_command_exactly_the_bundles_variables_and_its_exit_status(void **state)
{
    struct tkms *f = *state;
    struct cf_buf list = { 0 };
    struct bundle b;
    struct run r;
    size_t n;

    bundle_new(f, &b);

    /* --pristine: exactly the bundle's variables, nothing else */
    coffer_expect(f, NULL, ARGS("exec", b.sid, "--pristine", "--", "/usr/bin/env", "-0"), 0, &r);
    char **got = env0_entries(&r, &n), **want = bundle_entries(&b, NULL);
    size_t nw = 0;
    while (want[nw] != NULL)
        nw++;
    bool same = n == nw;
    for (size_t i = 0; same && i < n; i++)
        same = strcmp(got[i], want[i]) == 0;
    if (!same) {
        struct cf_buf names = { 0 };
        for (size_t i = 0; i < n; i++)
            assert_int_equal(cf_buf_printf(&names, " %.*s", (int)strcspn(got[i], "="), got[i]), 0);
        static char msg[1024];
        snprintf(msg, sizeof(msg),
                 "exec --pristine gave %zu variables (%s), expected %zu with "
                 "exactly the bundle's values",
                 n, names.data != NULL ? names.data : "", nw);
        cf_buf_free(&names);
        fail_msg("%s", msg);
    }
    strv_free(got);
    run_free(&r);

    /* --prefix */
    coffer_expect(f, NULL,
                  ARGS("exec", b.sid, "--pristine", "--prefix", "X_", "--", "/usr/bin/env", "-0"),
                  0, &r);
    got = env0_entries(&r, &n);
    char **wantx = bundle_entries(&b, "X_");
    assert_int_equal(n, nw);
    for (size_t i = 0; i < n; i++)
        assert_string_equal(got[i], wantx[i]);
    strv_free(wantx);
    strv_free(got);
    run_free(&r);

    /* without --pristine: coffer's own environment too, the bundle winning a clash */
    const char *const mine[] = { "CLI_TEST_INHERITED=kept as it is", "CLI_TEST_OVERRIDE=old",
                                 NULL };
    coffer_expect(f, &(struct how){ .env = mine }, ARGS("exec", b.sid, "--", "/usr/bin/env", "-0"),
                  0, &r);
    got = env0_entries(&r, &n);
    if (!has_entry(got, "CLI_TEST_INHERITED=kept as it is"))
        tapi_collect(&list, "inherited", tapi_printf("coffer's own variable is missing"));
    if (count_prefixed(got, "CLI_TEST_OVERRIDE=") != 1)
        tapi_collect(&list, "clash",
                     tapi_printf("CLI_TEST_OVERRIDE is there %zu times",
                                 count_prefixed(got, "CLI_TEST_OVERRIDE=")));
    for (size_t i = 0; want[i] != NULL; i++) {
        if (!has_entry(got, want[i]))
            tapi_collect(
                &list, "bundle",
                tapi_printf("%.*s is missing or wrong", (int)strcspn(want[i], "="), want[i]));
    }
    if (count_prefixed(got, "PATH=") != 1)
        tapi_collect(&list, "inherited", tapi_printf("PATH is missing"));
    strv_free(got);
    run_free(&r);
    /* ... but never COFFER_TOKEN, the credential coffer fetched the bundle with */
    coffer_expect(f, &(struct how){ .env = mine, .token = f->api.admin_token },
                  ARGS("exec", b.sid, "--", "/usr/bin/env", "-0"), 0, &r);
    got = env0_entries(&r, &n);
    if (count_prefixed(got, "COFFER_TOKEN=") != 0 || buf_has(&r.out, f->api.admin_token))
        tapi_collect(&list, "COFFER_TOKEN", tapi_printf("the command got coffer's API token"));
    if (!has_entry(got, "CLI_TEST_INHERITED=kept as it is") || !has_entry(got, want[0]))
        tapi_collect(&list, "COFFER_TOKEN",
                     tapi_printf("the command lacks coffer's environment or the bundle"));
    strv_free(got);
    run_free(&r);

    /* a bare command name is looked up in coffer's PATH, --pristine or not */
    coffer_expect(f, NULL, ARGS("exec", b.sid, "--pristine", "--", "env", "-0"), 0, &r);
    got = env0_entries(&r, &n);
    if (n != nw || !has_entry(got, want[4]))
        tapi_collect(&list, "exec --pristine -- env",
                     tapi_printf("%zu variables, expected the bundle's %zu", n, nw));
    strv_free(got);
    run_free(&r);

    /* the command's arguments pass untouched, options of coffer's among them */
    coffer_expect(f, NULL,
                  ARGS("exec", b.sid, "--", "/bin/sh", "-c", "printf '%s|' \"$@\"", "sh", "a b",
                       "--pristine", "--", "-x", ""),
                  0, &r);
    if (strcmp(out_of(&r), "a b|--pristine|--|-x||") != 0)
        tapi_collect(&list, "arguments", tapi_printf("the command got %s", out_of(&r)));
    run_free(&r);
    /* without "--" the command starts at the first word after SERVICE */
    coffer_expect(f, NULL,
                  ARGS("exec", b.sid, "--pristine", "/bin/sh", "-c", "printf %s \"$EMPTY\"x"), 0,
                  &r);
    if (strcmp(out_of(&r), "x") != 0)
        tapi_collect(&list, "no --", tapi_printf("the command printed %s", out_of(&r)));
    run_free(&r);

    /* the command's exit status is coffer's; 127 not found, 126 not executable */
    char noexec[600];
    work_path(noexec, sizeof(noexec), "cli-noexec-");
    write_file(noexec, "#!/bin/sh\nexit 0\n", 17, 0644);
    const struct {
        const char *label;
        const char *const *cmd;
        int rc;
    } statuses[] = {
        { "exit 42", ARGS("/bin/sh", "-c", "exit 42"), 42 },
        { "exit 0", ARGS("/bin/sh", "-c", "exit 0"), 0 },
        { "exit 1", ARGS("/bin/false"), 1 },
        { "exit 255", ARGS("/bin/sh", "-c", "exit 255"), 255 },
        { "not found", ARGS("/nonexistent-coffer-test/prog"), 127 },
        { "not executable", ARGS(noexec), 126 },
    };
    for (size_t i = 0; i < N_OF(statuses); i++) {
        const char *args[12] = { "exec", b.sid, "--" };
        size_t k = 3;
        for (size_t j = 0; statuses[i].cmd[j] != NULL && k < 11; j++)
            args[k++] = statuses[i].cmd[j];
        args[k] = NULL;
        coffer(f, NULL, args, &r);
        tapi_collect(&list, statuses[i].label, run_diff(&r, statuses[i].rc, NULL));
        run_free(&r);
    }
    unlink(noexec);
    strv_free(want);
    tapi_collect_end(&list);
    bundle_free(&b);
}

/* exec at boot while the server is not ready: answers that are worth retrying (503, 502,
 * 429) are retried with backoff until a bundle comes, then the command runs with it; an
 * answer that is not worth retrying (401) is not, and the command never runs. A fake server
 * plays the answers in order, so no timing is involved. */
static void test_exec_retries_what_is_worth_retrying_until_the_bundle_comes(void **state)
{
    struct tkms *f = *state;
    struct run r;
    static const char bundle[] = "{\"id\": \"boot-svc\", \"credentials\": [{\"id\": \"c1\", "
                                 "\"metadata\": {}, \"credential_pairs\": {\"password\": "
                                 "\"after-retries\"}}], \"blind_credentials\": []}";
    const char *path = "/v1/services/boot-svc?metadata_only=False";

    struct tfake *srv = tfake_start();
    tfake_answer(srv, "GET", path, 503, NULL, "{\"code\": \"database_unavailable\"}");
    tfake_answer(srv, "GET", path, 502, "text/html", "<html>bad gateway</html>");
    tfake_answer(srv, "GET", path, 429, NULL, "{}");
    tfake_answer(srv, "GET", path, 200, NULL, bundle);
    coffer_expect(f,
                  &(struct how){ .token = "coffer_not-checked-by-the-fake", .url = tfake_url(srv) },
                  ARGS("exec", "boot-svc", "--retry-for", "120", "--", "/bin/sh", "-c",
                       "printf '%s' \"$PASSWORD\""),
                  0, &r);
    assert_string_equal(out_of(&r), "after-retries");
    assert_int_equal(tfake_count(srv, "GET", path), 4);
    assert_non_null(strstr(err_of(&r), "retrying"));
    run_free(&r);
    tfake_stop(srv);

    srv = tfake_start();
    tfake_answer(srv, "GET", path, 401, NULL,
                 "{\"error\": \"no\", \"code\": \"authentication_failed\"}");
    tfake_answer(srv, "GET", path, 200, NULL, bundle);
    coffer_expect(f,
                  &(struct how){ .token = "coffer_not-checked-by-the-fake", .url = tfake_url(srv) },
                  ARGS("exec", "boot-svc", "--retry-for", "120", "--", "/bin/echo", "ran"), 3, &r);
    assert_string_equal(out_of(&r), "");
    assert_int_equal(tfake_count(srv, "GET", path), 1);
    run_free(&r);
    tfake_stop(srv);
}

static void test_exec_never_runs_the_command_when_the_fetch_fails(void **state)
{
    struct tkms *f = *state;
    struct cf_buf list = { 0 };
    struct run r;
    char marker[600], down[64], kms_down[96], sid[64], other[64], missing[64], cid[TAPI_ID_LEN],
        cname[64];

    work_path(marker, sizeof(marker), "cli-marker-");
    dead_url(down, sizeof(down));
    int kms_port = t_free_port();
    snprintf(kms_down, sizeof(kms_down), "AWS_ENDPOINT_URL_KMS=http://127.0.0.1:%d", kms_port);
    api_cred(f, "cli-exec-fail-", "{\"x\": \"y\"}", true, cname, sizeof(cname), cid);
    tapi_name(sid, sizeof(sid), "cli-exec-fail-");
    tapi_name(other, sizeof(other), "cli-exec-other-");
    tapi_name(missing, sizeof(missing), "cli-exec-missing-");
    tapi_svc_map(&f->api, sid, (const char *[]){ cid, NULL });
    tapi_svc_map(&f->api, other, (const char *[]){ cid, NULL });
    char disabled[64];
    tapi_name(disabled, sizeof(disabled), "cli-exec-off-");
    tapi_svc_map(&f->api, disabled, (const char *[]){ cid, NULL });
    tapi_svc_put(&f->api, disabled, "{\"enabled\": false}");
    char *touch = tapi_printf("touch '%s'", marker);
    const char *const kms_env[] = { kms_down, NULL };
    const struct {
        const char *label;
        struct how h;
        const char *svc;
        const char *from;
        int rc;
    } cases[] = {
        { "the server is down", { .url = down }, sid, NULL, 7 },
        { "the server is down (API token)",
          { .url = down, .token = f->api.admin_token },
          sid,
          NULL,
          7 },
        { "KMS is down", { .env = kms_env }, sid, NULL, 7 },
        { "a bad token", { .token = "coffer_garbage" }, sid, NULL, 3 },
        { "another service's bundle", { 0 }, other, sid, 4 },
        { "a disabled service", { 0 }, disabled, NULL, 4 },
        { "no such service", { 0 }, missing, NULL, 5 },
    };
    for (size_t i = 0; i < N_OF(cases); i++) {
        const char *args[12] = { "exec", cases[i].svc, "--retry-for", "1" };
        size_t k = 4;
        if (cases[i].from != NULL) {
            args[k++] = "--from";
            args[k++] = cases[i].from;
        }
        args[k++] = "--";
        args[k++] = "/bin/sh";
        args[k++] = "-c";
        args[k++] = touch;
        args[k] = NULL;
        coffer(f, &cases[i].h, args, &r);
        char *d = run_diff(&r, cases[i].rc, "coffer: ");
        if (d == NULL && exists(marker))
            d = tapi_printf("the command ran");
        tapi_collect(&list, cases[i].label, d);
        unlink(marker);
        run_free(&r);
    }
    free(touch);
    tapi_collect_end(&list);
}

/* === exec, get and the variables programs read at start ===================================== */

/* A service whose one credential sets LD_PRELOAD, PATH and BASH_ENV, and a plain value. The
 * BASH_ENV file creates bash_marker when bash reads it; marker is what a refused command would
 * create. */
struct unsafe_svc {
    char sid[64], cid[TAPI_ID_LEN], cname[64];
    char bash_env[600], bash_marker[600], marker[600];
    char plain[64];
};

static void unsafe_new(const struct tkms *f, struct unsafe_svc *u)
{
    *u = (struct unsafe_svc){ 0 };
    work_path(u->bash_env, sizeof(u->bash_env), "cli-bash-env-");
    work_path(u->bash_marker, sizeof(u->bash_marker), "cli-bash-env-ran-");
    work_path(u->marker, sizeof(u->marker), "cli-marker-");
    char *script = tapi_printf("touch '%s'\n", u->bash_marker);
    write_file(u->bash_env, script, strlen(script), 0644);
    free(script);
    secret_new(u->plain, sizeof(u->plain), "cli-plain-");
    /* libc.so.6: a preload the loader finds and that changes nothing, should it be allowed */
    char *pairs = tapi_printf("{\"ld_preload\": \"libc.so.6\", \"path\": \"/usr/bin:/bin\", "
                              "\"bash-env\": \"%s\", \"plain\": \"%s\"}",
                              u->bash_env, u->plain);
    api_cred(f, "cli-unsafe-", pairs, true, u->cname, sizeof(u->cname), u->cid);
    free(pairs);
    tapi_name(u->sid, sizeof(u->sid), "cli-unsafe-");
    tapi_svc_map(&f->api, u->sid, (const char *[]){ u->cid, NULL });
}

static void unsafe_free(struct unsafe_svc *u)
{
    unlink(u->bash_env);
    unlink(u->bash_marker);
    unlink(u->marker);
}

/* NULL if stderr names the variable as refused (or omitted, for get) with its key, else why. */
static char *names_refused(const struct run *r, const char *name, const char *key, const char *cid)
{
    const char *at = strstr(err_of(r), name);
    char *want = tapi_printf("credential %s, key %s", cid, key);
    char *d = NULL;
    if (at == NULL || strstr(at, want) == NULL)
        d = tapi_printf("stderr does not name %s (%s): %.600s", name, want, err_of(r));
    free(want);
    return d;
}

static void
test_exec_refuses_a_bundle_setting_loader_or_shell_variables_unless_allowed_by_name(void **state)
{
    struct tkms *f = *state;
    struct cf_buf list = { 0 };
    struct unsafe_svc u;
    struct run r;
    size_t n;

    unsafe_new(f, &u);
    char *touch = tapi_printf("touch '%s'", u.marker);
    const struct {
        const char *label;
        const char *allow[4]; /* --allow-env NAME for each; NULL-terminated */
        bool pristine;
        const char *refused[4]; /* the variables the message must name */
    } cases[] = {
        { "no --allow-env", { NULL }, false, { "LD_PRELOAD", "PATH", "BASH_ENV", NULL } },
        { "--pristine", { NULL }, true, { "LD_PRELOAD", "PATH", "BASH_ENV", NULL } },
        { "two of three allowed", { "LD_PRELOAD", "PATH", NULL }, false, { "BASH_ENV", NULL } },
        { "names spelt otherwise",
          { "ld_preload", "BASH_ENV", "PATH_", NULL },
          false,
          { "LD_PRELOAD", "PATH", NULL } },
    };
    for (size_t i = 0; i < N_OF(cases); i++) {
        const char *args[24] = { "exec", u.sid };
        size_t k = 2;
        for (size_t j = 0; cases[i].allow[j] != NULL; j++) {
            args[k++] = "--allow-env";
            args[k++] = cases[i].allow[j];
        }
        if (cases[i].pristine)
            args[k++] = "--pristine";
        args[k++] = "--";
        args[k++] = "/bin/bash";
        args[k++] = "-c";
        args[k++] = touch;
        args[k] = NULL;
        coffer(f, NULL, args, &r);
        char *d = run_diff(&r, 1, "--allow-env");
        static const char *const keys[][2] = { { "LD_PRELOAD", "ld_preload" },
                                               { "PATH", "path" },
                                               { "BASH_ENV", "bash-env" } };
        for (size_t j = 0; d == NULL && cases[i].refused[j] != NULL; j++) {
            for (size_t v = 0; v < N_OF(keys); v++) {
                if (strcmp(keys[v][0], cases[i].refused[j]) == 0)
                    d = names_refused(&r, keys[v][0], keys[v][1], u.cid);
            }
        }
        /* an allowed one is not named as refused */
        for (size_t j = 0; d == NULL && cases[i].allow[j] != NULL; j++) {
            char *named = tapi_printf("%s (credential", cases[i].allow[j]);
            bool still = false;
            for (size_t v = 0; cases[i].refused[v] != NULL; v++)
                still = still || strcmp(cases[i].refused[v], cases[i].allow[j]) == 0;
            if (!still && strstr(err_of(&r), named) != NULL)
                d = tapi_printf("the allowed %s is named as refused: %.400s", cases[i].allow[j],
                                err_of(&r));
            free(named);
        }
        if (d == NULL && (exists(u.marker) || exists(u.bash_marker)))
            d = tapi_printf("the command ran");
        if (d == NULL && r.out.len != 0)
            d = tapi_printf("printed %.200s", out_of(&r));
        if (d == NULL && strstr(err_of(&r), u.plain) != NULL)
            d = tapi_printf("the message holds a value");
        tapi_collect(&list, cases[i].label, d);
        unlink(u.marker);
        run_free(&r);
    }

    /* each one allowed by name: the command gets them, the bundle's winning over coffer's own
     * PATH, and bash reads the BASH_ENV file it was given */
    coffer_expect(f, NULL,
                  ARGS("exec", u.sid, "--allow-env", "LD_PRELOAD", "--allow-env", "PATH",
                       "--allow-env", "BASH_ENV", "--", "/bin/bash", "-c", "env -0"),
                  0, &r);
    char **got = env0_entries(&r, &n);
    char *plain = tapi_printf("PLAIN=%s", u.plain),
         *bash_env = tapi_printf("BASH_ENV=%s", u.bash_env);
    const char *const want[] = { "LD_PRELOAD=libc.so.6", "PATH=/usr/bin:/bin", bash_env, plain };
    for (size_t i = 0; i < N_OF(want); i++) {
        if (!has_entry(got, want[i]))
            tapi_collect(&list, "allowed", tapi_printf("%s is missing", want[i]));
    }
    if (count_prefixed(got, "PATH=") != 1)
        tapi_collect(&list, "allowed",
                     tapi_printf("PATH is there %zu times", count_prefixed(got, "PATH=")));
    if (!exists(u.bash_marker))
        tapi_collect(&list, "allowed", tapi_printf("bash did not read BASH_ENV"));
    strv_free(got);
    run_free(&r);

    /* a prefix of the caller's makes every name harmless: nothing to allow */
    coffer_expect(f, NULL,
                  ARGS("exec", u.sid, "--prefix", "APP_", "--pristine", "/usr/bin/env", "-0"), 0,
                  &r);
    got = env0_entries(&r, &n);
    if (n != 4 || !has_entry(got, "APP_LD_PRELOAD=libc.so.6") ||
        !has_entry(got, "APP_PATH=/usr/bin:/bin"))
        tapi_collect(&list, "--prefix APP_", tapi_printf("%zu variables", n));
    strv_free(got);
    run_free(&r);
    free(plain);
    free(bash_env);
    free(touch);
    unsafe_free(&u);
    tapi_collect_end(&list);
}

static void test_get_env_formats_omit_loader_and_shell_variables_with_a_warning(void **state)
{
    struct tkms *f = *state;
    struct cf_buf list = { 0 };
    struct unsafe_svc u;
    struct run r;

    unsafe_new(f, &u);
    static const char *const formats[] = { "env", "dotenv", "shell" };
    for (size_t i = 0; i < N_OF(formats); i++) {
        for (int allow_path = 0; allow_path < 2; allow_path++) {
            char label[64];
            snprintf(label, sizeof(label), "--format %s%s", formats[i],
                     allow_path ? " --allow-env PATH" : "");
            coffer(f, NULL,
                   allow_path ? ARGS("get", u.sid, "--format", formats[i], "--allow-env", "PATH")
                              : ARGS("get", u.sid, "--format", formats[i]),
                   &r);
            char *d = run_diff(&r, 0, NULL);
            if (d == NULL && strstr(out_of(&r), u.plain) == NULL)
                d = tapi_printf("the plain value is missing: %.300s", out_of(&r));
            if (d == NULL && (strstr(out_of(&r), "LD_PRELOAD") != NULL ||
                              strstr(out_of(&r), "BASH_ENV") != NULL))
                d = tapi_printf("printed a refused name: %.300s", out_of(&r));
            if (d == NULL && (strstr(out_of(&r), "PATH=") != NULL) != allow_path)
                d = tapi_printf("PATH is %s: %.300s", allow_path ? "missing" : "printed",
                                out_of(&r));
            if (d == NULL)
                d = names_refused(&r, "omitted LD_PRELOAD", "ld_preload", u.cid);
            if (d == NULL)
                d = names_refused(&r, "omitted BASH_ENV", "bash-env", u.cid);
            if (d == NULL && (strstr(err_of(&r), "omitted PATH") != NULL) == allow_path)
                d = tapi_printf("the warning about PATH is %s: %.300s",
                                allow_path ? "there" : "missing", err_of(&r));
            if (d == NULL && strstr(err_of(&r), "--allow-env LD_PRELOAD") == NULL)
                d = tapi_printf("the warning does not say how to allow it: %.300s", err_of(&r));
            tapi_collect(&list, label, d);
            run_free(&r);
        }
    }
    /* the JSON form has no variables: everything, no warning */
    coffer_expect(f, NULL, ARGS("get", u.sid), 0, &r);
    if (strstr(out_of(&r), "\"ld_preload\"") == NULL || r.err.len != 0)
        tapi_collect(&list, "json",
                     tapi_printf("stdout %.200s, stderr %.200s", out_of(&r), err_of(&r)));
    run_free(&r);
    unsafe_free(&u);
    tapi_collect_end(&list);
}

/* coffer's own settings (COFFER_*) and the AWS credentials it may have signed with stay out of
 * the command's environment, however coffer authenticated; --keep-env passes one on; a bundle
 * pair of such a name is the command's own and is delivered. */
static void test_exec_gives_the_command_none_of_coffers_settings_or_aws_credentials(void **state)
{
    struct tkms *f = *state;
    struct cf_buf list = { 0 };
    struct run r;
    char sid[64], cname[64], cid[TAPI_ID_LEN], app_key[64], plain[64], token_file[600],
        key_file[600], rnd[9];
    size_t n;

    secret_new(app_key, sizeof(app_key), "AKIA-app-");
    secret_new(plain, sizeof(plain), "cli-plain-");
    char *pairs = tapi_printf("{\"aws_access_key_id\": \"%s\", \"plain\": \"%s\"}", app_key, plain);
    api_cred(f, "cli-own-", pairs, true, cname, sizeof(cname), cid);
    free(pairs);
    tapi_name(sid, sizeof(sid), "cli-own-");
    tapi_svc_map(&f->api, sid, (const char *[]){ cid, NULL });
    char *line = tapi_printf("%s\n", f->api.admin_token);
    work_path(token_file, sizeof(token_file), "cli-token-");
    write_file(token_file, line, strlen(line), 0600);
    free(line);
    work_path(key_file, sizeof(key_file), "cli-keys-");
    assert_int_equal(cf_rand_hex(4, rnd, sizeof(rnd)), 0);

    /* besides the fixture's: COFFER_URL, COFFER_TOKEN, COFFER_AUTH_*, COFFER_KMS_BACKEND,
     * AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY (which kmsauth signs with), AWS_REGION */
    char *session = tapi_printf("AWS_SESSION_TOKEN=coffer-session-%s", rnd);
    char *security = tapi_printf("AWS_SECURITY_TOKEN=coffer-security-%s", rnd);
    char *container = tapi_printf("AWS_CONTAINER_AUTHORIZATION_TOKEN=coffer-container-%s", rnd);
    char *tf = tapi_printf("COFFER_TOKEN_FILE=%s", token_file);
    char *kf = tapi_printf("COFFER_LOCAL_KEY_FILE=%s", key_file);
    const char *const kmsauth_env[] = { session,
                                        security,
                                        container,
                                        kf,
                                        "COFFER_TIMEOUT=30",
                                        "COFFER_RETRY_FOR=0",
                                        "CLI_TEST_INHERITED=kept",
                                        NULL };
    const char *const token_env[] = { tf, session, container, kf, "CLI_TEST_INHERITED=kept", NULL };
    const struct {
        const char *label;
        struct how h;
    } ways[] = {
        { "kmsauth (the service itself)", { .env = kmsauth_env } },
        { "an API token in COFFER_TOKEN_FILE", { .env = token_env } },
        { "an API token in COFFER_TOKEN", { .token = f->api.admin_token, .env = kmsauth_env } },
    };
    static const char *const withheld[] = { "AWS_SECRET_ACCESS_KEY=", "AWS_SESSION_TOKEN=",
                                            "AWS_SECURITY_TOKEN=",
                                            "AWS_CONTAINER_AUTHORIZATION_TOKEN=" };
    char *app = tapi_printf("AWS_ACCESS_KEY_ID=%s", app_key);
    char *plain_entry = tapi_printf("PLAIN=%s", plain);
    for (size_t i = 0; i < N_OF(ways); i++) {
        coffer_expect(f, &ways[i].h, ARGS("exec", sid, "--", "/usr/bin/env", "-0"), 0, &r);
        char **got = env0_entries(&r, &n);
        if (count_prefixed(got, "COFFER_") != 0)
            tapi_collect(&list, ways[i].label,
                         tapi_printf("%zu COFFER_* variables reach the command",
                                     count_prefixed(got, "COFFER_")));
        for (size_t w = 0; w < N_OF(withheld); w++) {
            if (count_prefixed(got, withheld[w]) != 0)
                tapi_collect(&list, ways[i].label,
                             tapi_printf("coffer's %.*s reaches the command",
                                         (int)strlen(withheld[w]) - 1, withheld[w]));
        }
        if (count_prefixed(got, "AWS_ACCESS_KEY_ID=") != 1 || !has_entry(got, app))
            tapi_collect(&list, ways[i].label,
                         tapi_printf("AWS_ACCESS_KEY_ID is not the bundle's (and only it)"));
        if (buf_has(&r.out, f->api.admin_token) || buf_has(&r.out, token_file) ||
            buf_has(&r.out, key_file) || buf_has(&r.out, "coffer-session-") ||
            buf_has(&r.out, "coffer-security-") || buf_has(&r.out, "coffer-container-"))
            tapi_collect(&list, ways[i].label,
                         tapi_printf("a credential of coffer's reaches the command"));
        if (!has_entry(got, plain_entry) || !has_entry(got, "CLI_TEST_INHERITED=kept") ||
            !has_entry(got, "AWS_REGION=us-east-1") || count_prefixed(got, "PATH=") != 1)
            tapi_collect(&list, ways[i].label,
                         tapi_printf("the bundle or coffer's other variables are missing"));
        strv_free(got);
        run_free(&r);
    }

    /* --keep-env passes one on each; the bundle still wins a clash */
    coffer_expect(f, &(struct how){ .env = token_env },
                  ARGS("exec", sid, "--keep-env", "COFFER_LOCAL_KEY_FILE", "--keep-env",
                       "AWS_SESSION_TOKEN", "--keep-env", "AWS_ACCESS_KEY_ID", "--", "/usr/bin/env",
                       "-0"),
                  0, &r);
    char **got = env0_entries(&r, &n);
    if (!has_entry(got, kf) || !has_entry(got, session))
        tapi_collect(&list, "--keep-env", tapi_printf("a kept variable is missing"));
    if (!has_entry(got, app) || count_prefixed(got, "AWS_ACCESS_KEY_ID=") != 1)
        tapi_collect(&list, "--keep-env", tapi_printf("AWS_ACCESS_KEY_ID is not the bundle's"));
    if (count_prefixed(got, "COFFER_") != 1 || count_prefixed(got, "AWS_CONTAINER_") != 0)
        tapi_collect(&list, "--keep-env", tapi_printf("more than the kept ones pass"));
    strv_free(got);
    run_free(&r);
    /* with --pristine: the bundle and the kept ones only */
    coffer_expect(f, &(struct how){ .env = token_env },
                  ARGS("exec", sid, "--pristine", "--keep-env", "AWS_REGION", "--keep-env",
                       "CLI_TEST_INHERITED", "--", "/usr/bin/env", "-0"),
                  0, &r);
    got = env0_entries(&r, &n);
    if (n != 4 || !has_entry(got, "AWS_REGION=us-east-1") ||
        !has_entry(got, "CLI_TEST_INHERITED=kept") || !has_entry(got, app) ||
        !has_entry(got, plain_entry))
        tapi_collect(&list, "--pristine --keep-env", tapi_printf("%zu variables", n));
    strv_free(got);
    run_free(&r);

    free(app);
    free(plain_entry);
    free(session);
    free(security);
    free(container);
    free(tf);
    free(kf);
    unlink(token_file);
    tapi_collect_end(&list);
}

int main(void)
{
    tcli_init();
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_token_generate_prints_tokens_and_headers_the_server_accepts),
        cmocka_unit_test(test_get_prints_the_bundle_as_json_and_get_service_is_a_synonym),
        cmocka_unit_test(
            test_get_env_dotenv_and_shell_formats_give_back_every_value_in_sh_dash_and_bash),
        cmocka_unit_test(
            test_keys_that_make_no_valid_or_the_same_variable_name_are_refused_with_exit_1),
        cmocka_unit_test(
            test_exec_gives_the_command_exactly_the_bundles_variables_and_its_exit_status),
        cmocka_unit_test(test_exec_retries_what_is_worth_retrying_until_the_bundle_comes),
        cmocka_unit_test(test_exec_never_runs_the_command_when_the_fetch_fails),
        cmocka_unit_test(
            test_exec_refuses_a_bundle_setting_loader_or_shell_variables_unless_allowed_by_name),
        cmocka_unit_test(test_get_env_formats_omit_loader_and_shell_variables_with_a_warning),
        cmocka_unit_test(test_exec_gives_the_command_none_of_coffers_settings_or_aws_credentials),
    };
    int rc = t_run_group_tests(tests, tcli_group_setup, tkms_teardown);
    tcli_finish();
    return rc;
}
