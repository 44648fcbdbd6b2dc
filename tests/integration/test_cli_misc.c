/*
 * test_cli_misc.c - the coffer command-line client (cli/), black-box: what every command shares:
 * help and usage errors (exit 2), stderr quiet on success, flags against their variables and the
 * token file, secret values never on a command line or in the output, and the exit code and
 * message of each kind of failure.
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
#include "cf_json.h"
#include "tcli.h"

/* === help and usage ========================================================================== */

/* Every command of `coffer --help`, the aliases, and the name its help is printed under. */
static const struct {
    const char *words;
    const char *name;
} commands[] = {
    { "token generate", "token generate" },
    { "token", "token generate" },
    { "get", "get" },
    { "get-service", "get" },
    { "exec", "exec" },
    { "credential list", "credential list" },
    { "credential show", "credential show" },
    { "credential create", "credential create" },
    { "credential update", "credential update" },
    { "credential revert", "credential revert" },
    { "credential history", "credential history" },
    { "credential diff", "credential diff" },
    { "service list", "service list" },
    { "service show", "service show" },
    { "service create", "service create" },
    { "service map", "service map" },
    { "service unmap", "service unmap" },
    { "service revert", "service revert" },
    { "service history", "service history" },
    { "api-token create", "api-token create" },
    { "api-token list", "api-token list" },
    { "api-token revoke", "api-token revoke" },
    { "principal set", "principal set" },
    { "principal remove", "principal remove" },
    { "principal list", "principal list" },
    { "audit list", "audit list" },
    { "audit verify", "audit verify" },
};

static void
test_help_of_the_client_and_of_every_command_exits_0_and_names_the_exit_codes(void **state)
{
    struct tkms *f = *state;
    struct cf_buf list = { 0 };
    struct run r;
    char down[64];

    dead_url(down, sizeof(down)); /* help never asks the server */
    const struct how h = { .url = down };
    static const char *const whole[][3] = { { "--help", NULL, NULL },
                                            { "-h", NULL, NULL },
                                            { "help", NULL, NULL } };
    for (size_t i = 0; i < N_OF(whole); i++) {
        coffer(f, &h, whole[i], &r);
        char *d = run_diff(&r, 0, NULL);
        if (d == NULL && r.err.len != 0)
            d = tapi_printf("printed on stderr: %.200s", err_of(&r));
        if (d == NULL && strstr(out_of(&r), "exit status") == NULL)
            d = tapi_printf("says nothing of the exit status: %.300s", out_of(&r));
        for (int code = 0; d == NULL && code <= 7; code++) {
            char line[32];
            snprintf(line, sizeof(line), "\n  %d  ", code);
            if (strstr(out_of(&r), line) == NULL)
                d = tapi_printf("does not explain exit status %d", code);
        }
        for (size_t c = 0; d == NULL && c < N_OF(commands); c++) {
            char line[64];
            snprintf(line, sizeof(line), "\n  %s ", commands[c].name);
            if (strstr(out_of(&r), line) == NULL)
                d = tapi_printf("does not list the command %s", commands[c].name);
        }
        tapi_collect(&list, whole[i][0], d);
        run_free(&r);
    }
    for (size_t c = 0; c < N_OF(commands); c++) {
        char words[64], usage[96];
        snprintf(words, sizeof(words), "%s", commands[c].words);
        char *space = strchr(words, ' ');
        if (space != NULL)
            *space = '\0';
        const char *args[] = { words, space != NULL ? space + 1 : "--help",
                               space != NULL ? "--help" : NULL, NULL };
        snprintf(usage, sizeof(usage), "usage: coffer %s ", commands[c].name);
        coffer(f, &h, args, &r);
        char *d = run_diff(&r, 0, NULL);
        if (d == NULL && strncmp(out_of(&r), usage, strlen(usage)) != 0)
            d = tapi_printf("does not start with \"%s\": %.200s", usage, out_of(&r));
        if (d == NULL && strstr(out_of(&r), "exit status") == NULL)
            d = tapi_printf("says nothing of the exit status: %.400s", out_of(&r));
        for (int code = 0; d == NULL && code <= 7; code++) {
            char line[32];
            snprintf(line, sizeof(line), "\n  %d  ", code);
            if (strstr(out_of(&r), line) == NULL)
                d = tapi_printf("does not explain exit status %d", code);
        }
        if (d == NULL && r.err.len != 0)
            d = tapi_printf("printed on stderr: %.200s", err_of(&r));
        tapi_collect(&list, commands[c].words, d);
        run_free(&r);
    }
    /* --help anywhere on the line, and `coffer help COMMAND` */
    static const char *const more[][6] = {
        { "credential", "show", "0123456789abcdef0123456789abcdef", "--help", NULL },
        { "service", "map", "svc", "cred", "--help", NULL },
        { "help", "credential", "update", NULL },
        { "help", "get", NULL },
    };
    for (size_t i = 0; i < N_OF(more); i++) {
        coffer(f, &h, more[i], &r);
        char *d = run_diff(&r, 0, NULL);
        if (d == NULL && strncmp(out_of(&r), "usage: coffer ", 14) != 0)
            d = tapi_printf("printed no usage: %.200s", out_of(&r));
        tapi_collect(&list, cmdline(more[i]), d);
        run_free(&r);
    }
    /* the first word of a two-word command: --help lists the commands it starts */
    static const char *const groups[] = { "token",     "credential", "service",
                                          "api-token", "principal",  "audit" };
    for (size_t g = 0; g < N_OF(groups); g++) {
        coffer(f, &h, ARGS(groups[g], "--help"), &r);
        char *d = run_diff(&r, 0, NULL);
        for (size_t c = 0; d == NULL && c < N_OF(commands); c++) {
            char want[96];
            size_t n = strlen(groups[g]);
            if (strncmp(commands[c].name, groups[g], n) != 0 || commands[c].name[n] != ' ')
                continue;
            snprintf(want, sizeof(want), "coffer %s ", commands[c].name);
            if (strstr(out_of(&r), want) == NULL)
                d = tapi_printf("does not show %s: %.300s", want, out_of(&r));
        }
        char label[64];
        snprintf(label, sizeof(label), "%s --help", groups[g]);
        tapi_collect(&list, label, d);
        run_free(&r);
    }
    tapi_collect_end(&list);
}

static void test_no_command_an_unknown_one_or_a_bad_option_is_a_usage_error_exit_2(void **state)
{
    struct tkms *f = *state;
    struct cf_buf list = { 0 };
    struct run r;
    char down[64];

    /* nothing of this may reach a server: with one, a request would exit 7 instead */
    dead_url(down, sizeof(down));
    const struct how h = { .url = down, .token = f->api.admin_token };
    static const char *const cases[][9] = {
        { NULL },
        { "frobnicate", NULL },
        { "credential", NULL },
        { "credential", "frobnicate", NULL },
        { "credential", "list", "--frobnicate", NULL },
        { "credential", "list", "-l", NULL },
        { "credential", "list", "--json=yes", NULL },
        { "credential", "list", "--limit", "0", NULL },
        { "credential", "list", "extra", NULL },
        { "credential", "show", NULL },
        { "credential", "diff", "0123456789abcdef0123456789abcdef", "1", NULL },
        { "credential", "diff", "0123456789abcdef0123456789abcdef", "one", "2", NULL },
        { "credential", "revert", "0123456789abcdef0123456789abcdef", "-3", NULL },
        { "credential", "update", "0123456789abcdef0123456789abcdef", "--enable", "--disable",
          NULL },
        { "get", NULL },
        { "get", "svc-a", "svc-b", NULL },
        { "get", "svc", "--format", "xml", NULL },
        { "get", "svc", "--format", NULL },
        { "get", "svc", "--metadata-only", "--format", "env", NULL },
        { "get", "svc", "--retry-for", "-1", NULL },
        { "exec", "svc", NULL },
        { "exec", NULL },
        /* --allow-env and --keep-env take variable names, checked before anything is fetched */
        { "get", "svc", "--format", "env", "--allow-env", "LD_PRELOAD=x", NULL },
        { "exec", "svc", "--allow-env", "", "--", "/bin/true", NULL },
        { "exec", "svc", "--allow-env", "LD_*", "--", "/bin/true", NULL },
        { "exec", "svc", "--keep-env", "1X", "--", "/bin/true", NULL },
        { "exec", "svc", "--keep-env", NULL },
        { "api-token", "create", "name", NULL },
        { "api-token", "create", "name", "--role", "admin", "--ttl", "forever", NULL },
        { "principal", "set", "someone", NULL },
        { "audit", "list", "--limit", "0", NULL },
        { "audit", "verify", "--expect-head", "nonsense", NULL },
        { "audit", "verify", "--expect-head", "5:abc", NULL },
        { "audit", "verify", "--from-id", "5", "--to-id", "2", NULL },
        { "credential", "list", "--url", "ftp://127.0.0.1:1", NULL },
        { "credential", "list", "--url", "http://127.0.0.1:1/", NULL },
        { "credential", "list", "--timeout", "0", NULL },
        { "token", NULL },
        { "token", "generate", "--from", "svc", "--version", "3", NULL },
        { "token", "--from", "svc", "--user-type", "user", "--version", "1", NULL },
        { "token", "--from", "svc", "--user-type", "robot", NULL },
        { "token", "--from", "svc", "--lifetime", "0", NULL },
    };
    for (size_t i = 0; i < N_OF(cases); i++) {
        coffer(f, &h, cases[i], &r);
        char *d = run_diff(&r, 2, "coffer");
        if (d == NULL && r.out.len != 0)
            d = tapi_printf("printed on stdout: %.200s", out_of(&r));
        tapi_collect(&list, i == 0 ? "(no arguments)" : cmdline(cases[i]), d);
        run_free(&r);
    }
    /* no arguments: the usage goes to stderr */
    coffer(f, &h, ARGS(NULL), &r);
    if (strstr(err_of(&r), "usage: coffer") == NULL)
        tapi_collect(&list, "(no arguments)",
                     tapi_printf("no usage on stderr: %.200s", err_of(&r)));
    run_free(&r);
    coffer(f, &h, ARGS("frobnicate"), &r);
    tapi_collect(&list, "frobnicate", run_diff(&r, 2, "no such command"));
    run_free(&r);
    coffer(f, &h, ARGS("credential", "list", "--frobnicate"), &r);
    tapi_collect(&list, "--frobnicate", run_diff(&r, 2, "unknown option"));
    run_free(&r);
    tapi_collect_end(&list);
}

/* stderr is for coffer's own messages ("coffer: ..."): a run that succeeds prints nothing
 * there, so that scripts can tell a warning from silence. */
static void test_a_run_that_succeeds_prints_nothing_on_stderr(void **state)
{
    struct tkms *f = *state;
    struct cf_buf list = { 0 };
    struct run r;
    char sid[64], name[64], id[TAPI_ID_LEN], person[64];

    api_cred(f, "cli-quiet-", "{\"k\": \"v\"}", true, name, sizeof(name), id);
    tapi_name(sid, sizeof(sid), "cli-quiet-");
    tapi_svc_map(&f->api, sid, (const char *[]){ id, NULL });
    tapi_name(person, sizeof(person), "cli-quiet-person-");
    coffer_ok(f, &(struct how){ .token = f->api.admin_token },
              ARGS("principal", "set", person, "--role", "auditor"));
    const struct {
        const char *label;
        struct how h;
        const char *const *args;
    } cases[] = {
        { "credential list (API token)",
          { .token = f->api.admin_token },
          ARGS("credential", "list", "--limit", "1") },
        { "get (API token)", { .token = f->api.admin_token }, ARGS("get", sid) },
        { "get (kmsauth)", { 0 }, ARGS("get", sid) },
        { "get --format env (kmsauth)", { 0 }, ARGS("get", sid, "--format", "env") },
        { "exec (kmsauth)", { 0 }, ARGS("exec", sid, "--", "/bin/true") },
        { "token generate", { 0 }, ARGS("token", "generate", "--from", sid) },
        { "credential list (kmsauth user)",
          { .from = person },
          ARGS("credential", "list", "--limit", "1") },
    };
    for (size_t i = 0; i < N_OF(cases); i++) {
        coffer(f, &cases[i].h, cases[i].args, &r);
        char *d = run_diff(&r, 0, NULL);
        if (d == NULL && r.err.len != 0)
            d = tapi_printf("stderr holds %zu bytes: %.150s", r.err.len, err_of(&r));
        tapi_collect(&list, cases[i].label, d);
        run_free(&r);
    }
    tapi_collect_end(&list);
}

/* A socket on 127.0.0.1 that accepts connections (the kernel does) and never answers; its
 * URL in url. close() it. */
static int silent_server(char *url, size_t cap)
{
    struct sockaddr_in a = { .sin_family = AF_INET };
    socklen_t len = sizeof(a);
    int fd = socket(AF_INET, SOCK_STREAM, 0);

    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    if (fd < 0 || bind(fd, (struct sockaddr *)&a, sizeof(a)) != 0 || listen(fd, 16) != 0 ||
        getsockname(fd, (struct sockaddr *)&a, &len) != 0)
        fail_msg("cannot listen on 127.0.0.1 (errno %d)", errno);
    snprintf(url, cap, "http://127.0.0.1:%d", ntohs(a.sin_port));
    return fd;
}

static void test_flags_override_their_variables_and_the_token_file_must_be_private(void **state)
{
    struct tkms *f = *state;
    struct cf_buf list = { 0 };
    struct run r;
    char down[64], silent[64], good[600], readable[600], missing[600], sid[64], name[64],
        id[TAPI_ID_LEN];

    dead_url(down, sizeof(down));
    int ls = silent_server(silent, sizeof(silent));
    api_cred(f, "cli-settings-", "{\"k\": \"v\"}", true, name, sizeof(name), id);
    tapi_name(sid, sizeof(sid), "cli-settings-");
    tapi_svc_map(&f->api, sid, (const char *[]){ id, NULL });
    char *line = tapi_printf("%s\n", f->api.admin_token);
    work_path(good, sizeof(good), "cli-token-");
    write_file(good, line, strlen(line), 0600);
    work_path(readable, sizeof(readable), "cli-token-readable-");
    write_file(readable, line, strlen(line), 0644);
    free(line);
    work_path(missing, sizeof(missing), "cli-token-missing-");
    char *token_file = tapi_printf("COFFER_TOKEN_FILE=%s", good);
    const char *const tf_env[] = { token_file, NULL };
    const char *const v1_env[] = { "COFFER_AUTH_TOKEN_VERSION=1", NULL };
    const char *const retry_env[] = { "COFFER_RETRY_FOR=1", NULL };
    const char *const timeout_env[] = { "COFFER_TIMEOUT=1", NULL };
    const char *const url_env[] = { "COFFER_URL=http://127.0.0.1:1", NULL };
    const struct {
        const char *label;
        struct how h;
        const char *const *args;
        int rc;
    } cases[] = {
        { "--url over COFFER_URL",
          { .url = down, .token = f->api.admin_token },
          ARGS("credential", "list", "--limit", "1", "--url", f->api.d.base_url),
          0 },
        { "COFFER_URL",
          { .env = url_env, .token = f->api.admin_token },
          ARGS("credential", "list", "--limit", "1"),
          7 },
        { "--token-file",
          { 0 },
          ARGS("credential", "list", "--limit", "1", "--token-file", good),
          0 },
        { "--token-file over COFFER_TOKEN",
          { .token = "coffer_garbage" },
          ARGS("credential", "list", "--limit", "1", "--token-file", good),
          0 },
        { "COFFER_TOKEN_FILE", { .env = tf_env }, ARGS("credential", "list", "--limit", "1"), 0 },
        { "a token file others may read",
          { 0 },
          ARGS("credential", "list", "--limit", "1", "--token-file", readable),
          2 },
        { "no such token file",
          { 0 },
          ARGS("credential", "list", "--limit", "1", "--token-file", missing),
          2 },
        { "COFFER_AUTH_TOKEN_VERSION=1", { .env = v1_env }, ARGS("get", sid), 0 },
        { "--auth-context of another server",
          { 0 },
          ARGS("get", sid, "--auth-context", "another-server"),
          3 },
        { "--user-type user for a service", { 0 }, ARGS("get", sid, "--user-type", "user"), 4 },
        { "--timeout, a server that never answers",
          { .token = f->api.admin_token, .url = silent },
          ARGS("credential", "list", "--timeout", "1"),
          7 },
        { "COFFER_TIMEOUT, a server that never answers",
          { .token = f->api.admin_token, .url = silent, .env = timeout_env },
          ARGS("get", sid),
          7 },
        { "COFFER_RETRY_FOR",
          { .url = down, .env = retry_env },
          ARGS("exec", sid, "--", "/bin/true"),
          7 },
        { "--retry-for 0", { .url = down }, ARGS("exec", sid, "--retry-for", "0", "/bin/true"), 7 },
    };
    for (size_t i = 0; i < N_OF(cases); i++) {
        coffer(f, &cases[i].h, cases[i].args, &r);
        tapi_collect(&list, cases[i].label, run_diff(&r, cases[i].rc, NULL));
        run_free(&r);
    }
    close(ls);
    unlink(good);
    unlink(readable);
    free(token_file);
    tapi_collect_end(&list);
}

/* === secret hygiene ========================================================================= */

static void test_secret_values_never_reach_a_command_line_or_the_output_without_reveal(void **state)
{
    struct tkms *f = *state;
    struct run r;
    struct live l;
    char secret[64], name[64], id[TAPI_ID_LEN], sid[64], newer[64];

    secret_new(secret, sizeof(secret), "cli-hygiene-");
    secret_new(newer, sizeof(newer), "cli-hygiene-new-");
    tapi_name(name, sizeof(name), "cli-hygiene-");

    /* while coffer holds the value it read, no process has it on its command line */
    live_start(f, &(struct how){ .token = f->api.admin_token },
               ARGS("credential", "create", name, "--value", "pw"), &l);
    struct cmd_wait w = { l.pid, coffer_path };
    assert_true(t_wait_until(cmdline_is, &w, 30));
    live_write(&l, secret);
    char *holders = argv_holders(secret);
    struct cf_buf envb = { 0 };
    assert_true(proc_read(l.pid, "environ", &envb));
    bool in_env = buf_has(&envb, secret);
    cf_buf_free(&envb);
    live_end(&l, &r);
    if (*holders != '\0')
        fail_msg("processes with the secret on their command line:%s", holders);
    free(holders);
    assert_false(in_env);
    assert_int_equal(r.rc, 0);
    json_t *o = one_of(&r);
    snprintf(id, sizeof(id), "%s", tapi_str(o, "id"));
    json_decref(o);
    tapi_assert_no_secret(out_of(&r), secret, "credential create's stdout");
    tapi_assert_no_secret(err_of(&r), secret, "credential create's stderr");
    run_free(&r);

    /* update: the same */
    live_start(f, &(struct how){ .token = f->api.admin_token },
               ARGS("credential", "update", id, "--value", "pw"), &l);
    w.pid = l.pid;
    assert_true(t_wait_until(cmdline_is, &w, 30));
    live_write(&l, newer);
    holders = argv_holders(newer);
    live_end(&l, &r);
    if (*holders != '\0')
        fail_msg("processes with the secret on their command line:%s", holders);
    free(holders);
    assert_int_equal(r.rc, 0);
    tapi_assert_no_secret(out_of(&r), newer, "credential update's stdout");
    tapi_assert_no_secret(out_of(&r), secret, "credential update's stdout");
    tapi_assert_no_secret(err_of(&r), newer, "credential update's stderr");
    run_free(&r);

    /* exec: the values are in the command's environment, not on its command line */
    tapi_name(sid, sizeof(sid), "cli-hygiene-svc-");
    tapi_svc_map(&f->api, sid, (const char *[]){ id, NULL });
    live_start(f, NULL, ARGS("exec", sid, "--", "/bin/sh", "-c", "read -r line"), &l);
    struct cmd_wait ws = { l.pid, "/bin/sh" };
    assert_true(t_wait_until(cmdline_is, &ws, 30)); /* coffer fetched, then became sh */
    holders = argv_holders(newer);
    envb = (struct cf_buf){ 0 };
    assert_true(proc_read(l.pid, "environ", &envb));
    char *entry = tapi_printf("PW=%s", newer);
    bool delivered = buf_has(&envb, entry);
    free(entry);
    cf_buf_free(&envb);
    live_write(&l, "done\n");
    live_end(&l, &r);
    if (*holders != '\0')
        fail_msg("processes with the secret on their command line:%s", holders);
    free(holders);
    assert_true(delivered);
    assert_int_equal(r.rc, 0);
    tapi_assert_no_secret(out_of(&r), newer, "exec's stdout");
    tapi_assert_no_secret(err_of(&r), newer, "exec's stderr");
    run_free(&r);

    /* without --reveal no command prints it, in any encoding */
    const struct how admin = { .token = f->api.admin_token };
    const char *const *quiet[] = {
        ARGS("credential", "show", id),         ARGS("credential", "list"),
        ARGS("credential", "history", id),      ARGS("credential", "diff", id, "1", "2"),
        ARGS("service", "show", sid),           ARGS("service", "list"),
        ARGS("service", "history", sid),        ARGS("get", sid, "--metadata-only"),
        ARGS("audit", "list", "--limit", "50"),
    };
    for (size_t i = 0; i < N_OF(quiet); i++) {
        coffer_expect(f, &admin, quiet[i], 0, &r);
        tapi_assert_no_secret(out_of(&r), secret, cmdline(quiet[i]));
        tapi_assert_no_secret(out_of(&r), newer, cmdline(quiet[i]));
        tapi_assert_no_secret(err_of(&r), newer, cmdline(quiet[i]));
        run_free(&r);
    }
    /* with --reveal it does */
    coffer_expect(f, &admin, ARGS("credential", "show", id, "--reveal"), 0, &r);
    assert_non_null(strstr(out_of(&r), newer));
    run_free(&r);

    /* the same on a terminal, where people read "name value" lines and tables */
    const char *const *tty[] = {
        ARGS("credential", "show", id),           ARGS("credential", "list"),
        ARGS("credential", "history", id),        ARGS("service", "show", sid),
        ARGS("credential", "show", id, "--json"), ARGS("credential", "show", id, "--reveal"),
    };
    for (size_t i = 0; i < N_OF(tty); i++) {
        char **argv = argv_of(tty[i]), **env = env_of(f, &admin);
        struct cf_buf out = { 0 };
        int rc = run_tty(argv, env, &out);
        strv_free(argv);
        strv_free(env);
        const char *text = out.data != NULL ? out.data : "";
        bool json = false;
        for (size_t k = 0; tty[i][k] != NULL; k++)
            json = json || strcmp(tty[i][k], "--json") == 0;
        if (rc != 0 || *text == '\0' || (*text == '{') != json)
            fail_msg("coffer %s on a terminal exited %d printing %.300s", cmdline(tty[i]), rc,
                     text);
        if (i + 1 < N_OF(tty)) {
            tapi_assert_no_secret(text, newer, cmdline(tty[i]));
            tapi_assert_no_secret(text, secret, cmdline(tty[i]));
        } else if (strstr(text, newer) == NULL) {
            fail_msg("credential show --reveal on a terminal does not show the value: %.300s",
                     text);
        }
        cf_buf_free(&out);
    }
}

/* === errors and exit codes ================================================================== */

/* A word of a case's command line: "@x" stands for a value made by the test. */
struct subst {
    const char *key;
    const char *value;
};

static const char *subst_of(const struct subst *s, size_t n, const char *word)
{
    if (word[0] != '@')
        return word;
    for (size_t i = 0; i < n; i++) {
        if (strcmp(s[i].key, word) == 0)
            return s[i].value;
    }
    fail_msg("no value for %s", word);
    return NULL;
}

enum who { ADMIN, AUDITOR, GARBAGE, KMSAUTH, DOWN, KMS_DOWN };

static void test_each_kind_of_failure_has_its_exit_code_and_a_message_on_stderr(void **state)
{
    struct tkms *f = *state;
    struct cf_buf list = { 0 };
    struct run r;
    char cname[64], cid[TAPI_ID_LEN], other[TAPI_ID_LEN], oname[64], sid[64], nosvc[64], nobody[64],
        newname[64], newsvc[64], down[64], kms_down[96];

    api_cred(f, "cli-err-", "{\"k\": \"v\"}", true, cname, sizeof(cname), cid);
    api_cred(f, "cli-err-other-", "{\"o\": \"v\"}", true, oname, sizeof(oname), other);
    tapi_name(sid, sizeof(sid), "cli-err-svc-");
    tapi_svc_map(&f->api, sid, (const char *[]){ cid, NULL });
    tapi_name(nosvc, sizeof(nosvc), "cli-err-nosvc-");
    tapi_name(nobody, sizeof(nobody), "cli-err-nobody-");
    tapi_name(newname, sizeof(newname), "cli-err-new-");
    tapi_name(newsvc, sizeof(newsvc), "cli-err-newsvc-");
    dead_url(down, sizeof(down));
    snprintf(kms_down, sizeof(kms_down), "AWS_ENDPOINT_URL_KMS=http://127.0.0.1:%d", t_free_port());
    const struct subst subs[] = {
        { "@cred", cid },
        { "@other", other },
        { "@name", cname },
        { "@svc", sid },
        { "@nosvc", nosvc },
        { "@nobody", nobody },
        { "@new", newname },
        { "@newsvc", newsvc },
        { "@missing", "0123456789abcdef0123456789abcdef" },
    };
    const char *const kms_env[] = { kms_down, NULL };
    const struct {
        enum who who;
        const char *in; /* stdin, or NULL */
        const char *args[10];
        int rc;
        const char *says; /* on stderr */
    } cases[] = {
        /* 3: the credentials did not authenticate */
        { GARBAGE, NULL, { "credential", "list" }, 3, "401" },
        { GARBAGE, NULL, { "get", "@svc" }, 3, "401" },
        { GARBAGE, NULL, { "audit", "verify" }, 3, "401" },
        { GARBAGE, "{\"k\": \"v\"}", { "credential", "create", "@new" }, 3, "401" },
        /* 4: forbidden */
        { AUDITOR, "{\"k\": \"v\"}", { "credential", "create", "@new" }, 4, "403" },
        { AUDITOR, NULL, { "credential", "update", "@cred", "--documentation", "x" }, 4, "403" },
        { AUDITOR, NULL, { "credential", "revert", "@cred", "1" }, 4, "403" },
        { AUDITOR, NULL, { "service", "create", "@newsvc" }, 4, "403" },
        { AUDITOR, NULL, { "service", "map", "@svc", "@other" }, 4, "403" },
        { AUDITOR, NULL, { "api-token", "create", "@newsvc", "--role", "admin" }, 4, "403" },
        { AUDITOR, NULL, { "api-token", "list" }, 4, "403" },
        { AUDITOR, NULL, { "principal", "set", "@nobody", "--role", "admin" }, 4, "403" },
        { AUDITOR, NULL, { "get", "@svc" }, 4, "403" },
        { KMSAUTH, NULL, { "get", "@svc", "--from", "@nosvc" }, 4, "403" },
        { KMSAUTH, NULL, { "credential", "list", "--from", "@nobody" }, 4, "403" },
        /* 5: not found */
        { ADMIN, NULL, { "credential", "show", "@missing" }, 5, "404" },
        { ADMIN, NULL, { "credential", "show", "not-an-id" }, 5, "404" },
        { ADMIN, NULL, { "credential", "update", "@missing", "--enable" }, 5, "404" },
        { ADMIN, NULL, { "credential", "history", "@missing" }, 5, "404" },
        { ADMIN, NULL, { "credential", "diff", "@cred", "1", "9" }, 5, "404" },
        { ADMIN, NULL, { "credential", "revert", "@cred", "9" }, 5, "404" },
        { ADMIN, NULL, { "service", "show", "@nosvc" }, 5, "404" },
        { ADMIN, NULL, { "service", "history", "@nosvc" }, 5, "404" },
        { ADMIN, NULL, { "service", "unmap", "@nosvc", "@cred" }, 5, NULL },
        { ADMIN, NULL, { "service", "unmap", "@svc", "@other" }, 5, "@other" },
        { ADMIN, NULL, { "service", "revert", "@svc", "9" }, 5, "404" },
        { KMSAUTH, NULL, { "get", "@nosvc" }, 5, "404" },
        { ADMIN, NULL, { "api-token", "revoke", "tok_0000000000000000" }, 5, "404" },
        { ADMIN, NULL, { "principal", "remove", "@nobody" }, 5, "404" },
        /* 6: conflicts */
        { ADMIN, "{\"k\": \"v\"}", { "credential", "create", "@name" }, 6, "409" },
        { ADMIN, NULL, { "credential", "update", "@other", "--name", "@name" }, 6, "409" },
        { ADMIN, NULL, { "service", "create", "@svc" }, 6, NULL },
        { ADMIN, NULL, { "api-token", "create", "admin-1", "--role", "admin" }, 6, "409" },
        /* 1: refused as invalid */
        { ADMIN, NULL, { "service", "map", "@svc", "@missing" }, 1, "400" },
        { ADMIN, NULL, { "service", "create", "bad!id" }, 1, "400" },
        { ADMIN, NULL, { "credential", "update", "@cred", "--tag", "" }, 1, "400" },
        { ADMIN, NULL, { "audit", "list", "--result", "maybe" }, 1, "400" },
        { ADMIN, NULL, { "audit", "list", "--since", "yesterday" }, 1, "400" },
        /* 7: no answer */
        { DOWN, NULL, { "credential", "list" }, 7, "no answer" },
        { DOWN, NULL, { "get", "@svc" }, 7, "no answer" },
        { DOWN, NULL, { "audit", "verify" }, 7, "no answer" },
        { DOWN, "{\"k\": \"v\"}", { "credential", "create", "@new" }, 7, "no answer" },
        { KMS_DOWN, NULL, { "get", "@svc" }, 7, NULL },
        { KMS_DOWN, NULL, { "token", "--from", "@svc" }, 7, NULL },
    };
    for (size_t i = 0; i < N_OF(cases); i++) {
        const char *args[11];
        size_t k = 0;
        for (; cases[i].args[k] != NULL; k++)
            args[k] = subst_of(subs, N_OF(subs), cases[i].args[k]);
        args[k] = NULL;
        struct how h = { .in = cases[i].in };
        switch (cases[i].who) {
        case ADMIN:
            h.token = f->api.admin_token;
            break;
        case AUDITOR:
            h.token = f->api.auditor_token;
            break;
        case GARBAGE:
            h.token = "coffer_garbage";
            break;
        case DOWN:
            h.url = down;
            h.token = f->api.admin_token;
            break;
        case KMS_DOWN:
            h.env = kms_env;
            break;
        case KMSAUTH:
            break;
        }
        char *before = tapi_state(&f->api);
        coffer(f, &h, args, &r);
        const char *says =
            cases[i].says != NULL ? subst_of(subs, N_OF(subs), cases[i].says) : "coffer: ";
        char *d = run_diff(&r, cases[i].rc, says);
        if (d == NULL && r.out.len != 0)
            d = tapi_printf("printed on stdout: %.200s", out_of(&r));
        if (d == NULL) /* a refused write changes nothing */
            d = tapi_unchanged_diff(&f->api, before);
        else
            free(before);
        tapi_collect(&list, cmdline(args), d);
        run_free(&r);
    }
    tapi_collect_end(&list);
}

int main(void)
{
    tcli_init();
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(
            test_help_of_the_client_and_of_every_command_exits_0_and_names_the_exit_codes),
        cmocka_unit_test(test_no_command_an_unknown_one_or_a_bad_option_is_a_usage_error_exit_2),
        cmocka_unit_test(test_a_run_that_succeeds_prints_nothing_on_stderr),
        cmocka_unit_test(test_flags_override_their_variables_and_the_token_file_must_be_private),
        cmocka_unit_test(
            test_secret_values_never_reach_a_command_line_or_the_output_without_reveal),
        cmocka_unit_test(test_each_kind_of_failure_has_its_exit_code_and_a_message_on_stderr),
    };
    int rc = t_run_group_tests(tests, tcli_group_setup, tkms_teardown);
    tcli_finish();
    return rc;
}
