/*
 * test_cli.c - the coffer command-line client (cli/), black-box. Every command runs as a
 * process against a cofferd on the aws KMS backend (moto, kmsauth on) and PostgreSQL; its exit
 * status, stdout and stderr are checked, and what it wrote is read back through the API
 * (API.md) and the database. The help text (`coffer --help`, `coffer CMD --help`) is the
 * specification: exit 0 ok, 1 invalid or a broken chain, 2 usage, 3 401, 4 403, 5 404, 6 409,
 * 7 server error or no answer, N the status of exec's command.
 *
 * Values travel on stdin only: every secret a test makes is registered, and every command line
 * and environment this file gives coffer is checked for them; one test also looks at the
 * command lines of every process while coffer holds a secret.
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
#include "taudit.h"
#include "tfake_http.h"
#include "tkms.h"

#define ARGS(...) ((const char *const[]){ __VA_ARGS__, NULL })
#define N_OF(a)   (sizeof(a) / sizeof((a)[0]))

#define POLL_SECONDS 20 /* revocations and role changes reach the node within a second */

static char coffer_path[600];

/* --- secrets that must never be on a command line ------------------------------------------- */

#define SECRETS_MAX 64
static char *secrets[SECRETS_MAX];
static size_t nsecrets;

/* Registers s: from now on no command line or environment given to coffer may contain it. */
static void secret_add(const char *s)
{
    assert_true(nsecrets < SECRETS_MAX);
    secrets[nsecrets] = strdup(s);
    assert_non_null(secrets[nsecrets]);
    nsecrets++;
}

static void secrets_free(void)
{
    for (size_t i = 0; i < nsecrets; i++)
        free(secrets[i]);
    nsecrets = 0;
}

/* A value nobody else uses: prefix and 8 random hex digits, registered as a secret. */
static void secret_new(char *out, size_t cap, const char *prefix)
{
    tapi_name(out, cap, prefix);
    secret_add(out);
}

/* --- running coffer ------------------------------------------------------------------------- */

/* How one run authenticates, where it goes and what it reads. */
struct how {
    const char *token;      /* COFFER_TOKEN; NULL: none, so coffer makes a kmsauth token */
    const char *url;        /* COFFER_URL; NULL: the fixture's cofferd */
    const char *from;       /* COFFER_AUTH_FROM; NULL: unset */
    const char *in;         /* stdin; NULL: /dev/null */
    size_t inlen;           /* its length; 0: strlen(in) */
    const char *const *env; /* more NAME=value entries (NULL-terminated; later ones win) */
};

struct run {
    int rc;
    struct cf_buf out, err;
};

static void run_free(struct run *r)
{
    cf_buf_free(&r->out);
    cf_buf_free(&r->err);
}

static const char *out_of(const struct run *r)
{
    return r->out.data != NULL ? r->out.data : "";
}

static const char *err_of(const struct run *r)
{
    return r->err.data != NULL ? r->err.data : "";
}

static void strv_free(char **v)
{
    for (size_t i = 0; v != NULL && v[i] != NULL; i++)
        free(v[i]);
    free(v);
}

static const struct how no_how = { 0 };

/* The environment of a run: the fixture's cofferd settings for kmsauth (COFFER_AUTH_KEY,
 * COFFER_USER_AUTH_KEY, COFFER_AUTH_CONTEXT, COFFER_KMS_BACKEND and the AWS_* of moto), then
 * the client's own settings, then h->env (h may be NULL). NULL-terminated, malloc'd:
 * strv_free() it. */
static char **env_of(const struct tkms *f, const struct how *h)
{
    size_t n = 0, cap = TKMS_ENV_MAX + 8;

    if (h == NULL)
        h = &no_how;

    for (size_t i = 0; h->env != NULL && h->env[i] != NULL; i++)
        cap++;
    char **env = calloc(cap + 1, sizeof(*env));
    assert_non_null(env);
    for (size_t i = 0; f->env[i] != NULL; i++)
        env[n++] = strdup(f->env[i]);
    env[n++] = tapi_printf("COFFER_URL=%s", h->url != NULL ? h->url : f->api.d.base_url);
    env[n++] = tapi_printf("COFFER_TOKEN=%s", h->token != NULL ? h->token : "");
    env[n++] = tapi_printf("COFFER_AUTH_FROM=%s", h->from != NULL ? h->from : "");
    for (size_t i = 0; h->env != NULL && h->env[i] != NULL; i++)
        env[n++] = strdup(h->env[i]);
    env[n] = NULL;
    return env;
}

static char **argv_of(const char *const args[])
{
    size_t n = 0;
    while (args[n] != NULL)
        n++;
    char **argv = calloc(n + 2, sizeof(*argv));
    assert_non_null(argv);
    argv[0] = strdup(coffer_path);
    for (size_t i = 0; i < n; i++)
        argv[i + 1] = strdup(args[i]);
    return argv;
}

/* Fails the test if a registered secret is in any of the strings (an API token may be the
 * value of COFFER_TOKEN: that is where it belongs). */
static void assert_no_secret_in(char *const *v, const char *what)
{
    for (size_t i = 0; v[i] != NULL; i++) {
        if (strncmp(v[i], "COFFER_TOKEN=", 13) == 0)
            continue;
        for (size_t k = 0; k < nsecrets; k++) {
            if (strstr(v[i], secrets[k]) != NULL)
                fail_msg("the %s of coffer holds the secret %s: %s", what, secrets[k], v[i]);
        }
    }
}

/* Runs coffer args as h says; returns the exit status (also in r->rc). run_free() r. */
static int coffer(const struct tkms *f, const struct how *h, const char *const args[],
                  struct run *r)
{
    if (h == NULL)
        h = &no_how;
    *r = (struct run){ 0 };
    char **argv = argv_of(args), **env = env_of(f, h);
    assert_no_secret_in(argv, "command line");
    assert_no_secret_in(env, "environment");
    size_t inlen = h->in != NULL && h->inlen == 0 ? strlen(h->in) : h->inlen;
    r->rc = t_run_io(argv, env, h->in, inlen, &r->out, &r->err);
    strv_free(argv);
    strv_free(env);
    return r->rc;
}

/* The command line as text, for messages (static storage until the next call). */
static const char *cmdline(const char *const args[])
{
    static char buf[1024];
    size_t used = 0;

    buf[0] = '\0';
    for (size_t i = 0; args[i] != NULL && used + 1 < sizeof(buf); i++) {
        int n = snprintf(buf + used, sizeof(buf) - used, "%s%s", i > 0 ? " " : "", args[i]);
        if (n < 0)
            break;
        used += (size_t)n;
    }
    return buf;
}

/* NULL if r exited want (and, if needle is not NULL, stderr contains it), else what differs. */
static char *run_diff(const struct run *r, int want, const char *needle)
{
    if (r->rc != want)
        return tapi_printf("exited %d, expected %d; stdout: %.400s; stderr: %.400s", r->rc, want,
                           out_of(r), err_of(r));
    if (needle != NULL && strstr(err_of(r), needle) == NULL)
        return tapi_printf("exited %d, but stderr does not say \"%s\": %.400s", r->rc, needle,
                           err_of(r));
    return NULL;
}

/* Runs coffer and fails the test unless it exits want. */
static void coffer_expect(const struct tkms *f, const struct how *h, const char *const args[],
                          int want, struct run *r)
{
    coffer(f, h, args, r);
    char *d = run_diff(r, want, NULL);
    if (d != NULL) {
        static char msg[2048];
        snprintf(msg, sizeof(msg), "coffer %s: %s", cmdline(args), d);
        free(d);
        run_free(r);
        fail_msg("%s", msg);
    }
}

/* Runs coffer, expects exit 0 and discards the output. */
static void coffer_ok(const struct tkms *f, const struct how *h, const char *const args[])
{
    struct run r;
    coffer_expect(f, h, args, 0, &r);
    run_free(&r);
}

/* --- what coffer prints --------------------------------------------------------------------- */

/* stdout as JSON lines: every line one JSON object, the last one ended by a newline. Returns
 * an array of them (json_decref it). */
static json_t *lines_of(const struct run *r)
{
    json_t *all = json_array();
    const char *p = out_of(r), *end = p + r->out.len;
    size_t line = 1;

    if (r->out.len > 0 && end[-1] != '\n')
        fail_msg("stdout does not end with a newline: %.400s", p);
    for (; p < end; line++) {
        const char *nl = memchr(p, '\n', (size_t)(end - p));
        json_error_t jerr;
        json_t *o = json_loadb(p, (size_t)(nl - p), 0, &jerr);
        if (!json_is_object(o))
            fail_msg("line %zu of stdout is not one JSON object (%s): %.*s", line, jerr.text,
                     (int)(nl - p), p);
        json_array_append_new(all, o);
        p = nl + 1;
    }
    return all;
}

/* stdout as exactly one line holding one JSON object (json_decref it). */
static json_t *one_of(const struct run *r)
{
    json_t *all = lines_of(r);
    if (json_array_size(all) != 1)
        fail_msg("stdout holds %zu lines, expected one JSON object: %.400s", json_array_size(all),
                 out_of(r));
    json_t *o = json_incref(json_array_get(all, 0));
    json_decref(all);
    return o;
}

/* The item of a list whose member key is the string value, or NULL. */
static json_t *item_with(const json_t *items, const char *key, const char *value)
{
    size_t i;
    json_t *it;

    json_array_foreach(items, i, it)
    {
        const char *s = cf_json_str(it, key);
        if (s != NULL && strcmp(s, value) == 0)
            return it;
    }
    return NULL;
}

/* True if text holds word with no letter, digit or '_' right before or after it. */
static bool has_word(const char *text, const char *word)
{
    size_t n = strlen(word);
    for (const char *p = text; p != NULL && (p = strstr(p, word)) != NULL; p++) {
        char before = p > text ? p[-1] : ' ', after = p[n];
        bool b = (before >= '0' && before <= '9') || (before >= 'a' && before <= 'z') ||
                 (before >= 'A' && before <= 'Z') || before == '_';
        bool a = (after >= '0' && after <= '9') || (after >= 'a' && after <= 'z') ||
                 (after >= 'A' && after <= 'Z') || after == '_';
        if (!a && !b)
            return true;
    }
    return false;
}

/* Fails unless got[0..glen) is exactly want[0..wlen), naming the first difference. */
static void assert_bytes(const char *what, const char *got, size_t glen, const char *want,
                         size_t wlen)
{
    size_t i = 0;
    while (i < glen && i < wlen && got[i] == want[i])
        i++;
    if (i == glen && i == wlen)
        return;
    fail_msg("%s: %zu bytes, expected %zu; first difference at byte %zu (got 0x%02x, expected "
             "0x%02x)",
             what, glen, wlen, i, i < glen ? (unsigned char)got[i] : 0,
             i < wlen ? (unsigned char)want[i] : 0);
}

/* Fails unless the JSON string v holds exactly want. */
static void assert_json_bytes(const char *what, const json_t *v, const char *want)
{
    if (!json_is_string(v))
        fail_msg("%s is not a string", what);
    assert_bytes(what, json_string_value(v), json_string_length(v), want, strlen(want));
}

/* --- files, processes and terminals --------------------------------------------------------- */

/* A path under the test work folder nobody else uses. */
static void work_path(char *out, size_t cap, const char *prefix)
{
    char name[64];
    tapi_name(name, sizeof(name), prefix);
    snprintf(out, cap, "%s/%s", t_env("COFFER_TEST_WORK"), name);
}

static void write_file(const char *path, const char *data, size_t len, mode_t mode)
{
    int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, mode);
    if (fd < 0)
        fail_msg("cannot create %s (errno %d)", path, errno);
    assert_int_equal(write(fd, data, len), (ssize_t)len);
    close(fd);
    assert_int_equal(chmod(path, mode), 0);
}

static void read_file(const char *path, struct cf_buf *out)
{
    char chunk[4096];
    ssize_t n;
    int fd = open(path, O_RDONLY);
    if (fd < 0)
        fail_msg("cannot open %s (errno %d)", path, errno);
    while ((n = read(fd, chunk, sizeof(chunk))) > 0)
        cf_buf_append(out, chunk, (size_t)n);
    close(fd);
}

static bool exists(const char *path)
{
    return access(path, F_OK) == 0;
}

/* Runs argv with its stdout on a terminal (a pty, raw mode) and stdin and stderr on
 * /dev/null: what people see. Returns the exit status. */
static int run_tty(char *const argv[], char *const env[], struct cf_buf *out)
{
    int m, s;
    struct termios t;

    if (openpty(&m, &s, NULL, NULL, NULL) != 0)
        fail_msg("openpty failed (errno %d)", errno);
    assert_int_equal(tcgetattr(s, &t), 0);
    cfmakeraw(&t);
    assert_int_equal(tcsetattr(s, TCSANOW, &t), 0);
    pid_t pid = fork();
    if (pid < 0)
        fail_msg("fork failed");
    if (pid == 0) {
        prctl(PR_SET_PDEATHSIG, SIGKILL);
        for (size_t i = 0; env[i] != NULL; i++)
            putenv(env[i]);
        int dn = open("/dev/null", O_RDWR);
        dup2(dn, STDIN_FILENO);
        dup2(s, STDOUT_FILENO);
        dup2(dn, STDERR_FILENO);
        close(dn);
        close(s);
        close(m);
        execv(argv[0], argv);
        _exit(127);
    }
    close(s);
    char chunk[4096];
    ssize_t n;
    while ((n = read(m, chunk, sizeof(chunk))) > 0 || (n < 0 && errno == EINTR)) {
        if (n > 0)
            cf_buf_append(out, chunk, (size_t)n);
    }
    close(m); /* EIO: the terminal's last writer is gone */
    int status = 0;
    while (waitpid(pid, &status, 0) < 0 && errno == EINTR)
        ;
    return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
}

/* A coffer that runs while the test holds its stdin open. */
struct live {
    pid_t pid;
    int in;
    char out_path[600], err_path[600];
};

static void live_start(const struct tkms *f, const struct how *h, const char *const args[],
                       struct live *l)
{
    int inp[2];
    char **argv = argv_of(args), **env = env_of(f, h);

    assert_no_secret_in(argv, "command line");
    assert_no_secret_in(env, "environment");
    work_path(l->out_path, sizeof(l->out_path), "cli-live-out-");
    work_path(l->err_path, sizeof(l->err_path), "cli-live-err-");
    assert_int_equal(pipe(inp), 0);
    l->pid = fork();
    if (l->pid < 0)
        fail_msg("fork failed");
    if (l->pid == 0) {
        prctl(PR_SET_PDEATHSIG, SIGKILL);
        for (size_t i = 0; env[i] != NULL; i++)
            putenv(env[i]);
        int o = open(l->out_path, O_WRONLY | O_CREAT | O_TRUNC, 0600);
        int e = open(l->err_path, O_WRONLY | O_CREAT | O_TRUNC, 0600);
        dup2(inp[0], STDIN_FILENO);
        dup2(o, STDOUT_FILENO);
        dup2(e, STDERR_FILENO);
        close(inp[0]);
        close(inp[1]);
        close(o);
        close(e);
        execv(argv[0], argv);
        _exit(127);
    }
    close(inp[0]);
    l->in = inp[1];
    strv_free(argv);
    strv_free(env);
}

static void live_write(struct live *l, const char *s)
{
    assert_int_equal(write(l->in, s, strlen(s)), (ssize_t)strlen(s));
}

/* Closes its stdin, waits for it and collects what it printed. */
static int live_end(struct live *l, struct run *r)
{
    int status = 0;

    *r = (struct run){ 0 };
    close(l->in);
    while (waitpid(l->pid, &status, 0) < 0 && errno == EINTR)
        ;
    read_file(l->out_path, &r->out);
    read_file(l->err_path, &r->err);
    unlink(l->out_path);
    unlink(l->err_path);
    r->rc = WIFEXITED(status) ? WEXITSTATUS(status) : -1;
    return r->rc;
}

/* The bytes of /proc/<pid>/<file> (cmdline or environ); false if unreadable. */
static bool proc_read(pid_t pid, const char *file, struct cf_buf *out)
{
    char path[64], chunk[4096];
    ssize_t n;

    snprintf(path, sizeof(path), "/proc/%d/%s", (int)pid, file);
    int fd = open(path, O_RDONLY);
    if (fd < 0)
        return false;
    while ((n = read(fd, chunk, sizeof(chunk))) > 0)
        cf_buf_append(out, chunk, (size_t)n);
    close(fd);
    return true;
}

static bool buf_has(const struct cf_buf *b, const char *needle)
{
    return b->len >= strlen(needle) && memmem(b->data, b->len, needle, strlen(needle)) != NULL;
}

/* The pids of every process whose command line holds needle ("" if none; free() it). */
static char *argv_holders(const char *needle)
{
    struct cf_buf found = { 0 };
    struct dirent *de;
    DIR *d = opendir("/proc");

    assert_non_null(d);
    cf_buf_append_str(&found, "");
    while ((de = readdir(d)) != NULL) {
        char *end;
        long pid = strtol(de->d_name, &end, 10);
        struct cf_buf cl = { 0 };
        if (*end != '\0' || pid <= 0)
            continue;
        if (proc_read((pid_t)pid, "cmdline", &cl) && buf_has(&cl, needle))
            assert_int_equal(cf_buf_printf(&found, " %ld", pid), 0);
        cf_buf_free(&cl);
    }
    closedir(d);
    char *s = strdup(found.data);
    cf_buf_free(&found);
    return s;
}

struct cmd_wait {
    pid_t pid;
    const char *prefix;
};

/* True once the process's command line starts with w->prefix (it has exec'd). */
static bool cmdline_is(void *arg)
{
    const struct cmd_wait *w = arg;
    struct cf_buf cl = { 0 };
    bool yes = proc_read(w->pid, "cmdline", &cl) && cl.len >= strlen(w->prefix) &&
               memcmp(cl.data, w->prefix, strlen(w->prefix)) == 0;
    cf_buf_free(&cl);
    return yes;
}

/* --- the API and the database --------------------------------------------------------------- */

/* A credential created as the admin through the API from a JSON object of pairs. */
static void api_cred(const struct tkms *f, const char *prefix, const char *pairs, bool enabled,
                     char *name, size_t ncap, char id[TAPI_ID_LEN])
{
    tapi_name(name, ncap, prefix);
    char *body = tapi_printf("{\"name\": \"%s\", \"credential_pairs\": %s, \"enabled\": %s}", name,
                             pairs, enabled ? "true" : "false");
    json_decref(tapi_cred_post(&f->api, body, id));
    free(body);
}

/* GET path as the admin; asserts 200 and returns the body (json_decref it). */
static json_t *api_get(const struct tkms *f, const char *path)
{
    struct t_resp r;
    tapi_send(&f->api, f->api.admin, "GET", NULL, &r, "%s", path);
    json_t *b = tapi_ok(&r);
    t_resp_free(&r);
    return b;
}

/* The credential as the admin reads it now, values included (json_decref it). */
static json_t *api_cred_get(const struct tkms *f, const char *id)
{
    char path[128];
    snprintf(path, sizeof(path), "/v1/credentials/%s?metadata_only=False", id);
    return api_get(f, path);
}

/* The service's metadata as the admin reads it now (json_decref it). */
static json_t *api_svc_get(const struct tkms *f, const char *sid)
{
    char path[256];
    snprintf(path, sizeof(path), "/v1/services/%s?metadata_only=True", sid);
    return api_get(f, path);
}

/* The ids of a service's credentials, each followed by a comma (free() it). */
static char *svc_cred_ids(const struct tkms *f, const char *sid)
{
    json_t *s = api_svc_get(f, sid);
    char *ids = tapi_ids_of(json_object_get(s, "credentials"));
    json_decref(s);
    return ids;
}

/* A PostgreSQL string literal body for a value made of [A-Za-z0-9_:.-] (checked). */
static const char *sql_safe(const char *s)
{
    for (const char *p = s; *p != '\0'; p++) {
        if (strchr("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_:.-", *p) ==
            NULL)
            fail_msg("not safe in SQL: %s", s);
    }
    return s;
}

/* Runs sql ($1 = the row id) as the superuser with the access log's triggers off, as an
 * intruder with the database's keys would (taudit_tamper()), and checks that it touched the
 * row: afterwards want rows with that id match the condition and (may be ""). */
static void tamper(struct tkms *f, const char *sql, long id, const char *and, long want)
{
    char num[32];
    snprintf(num, sizeof(num), "%ld", id);
    taudit_tamper(&f->api.db, sql, num);
    char *q = tapi_printf("SELECT count(*) FROM audit_log WHERE id = %ld%s", id, and);
    assert_int_equal(tapi_count(&f->api, q), want);
    free(q);
}

/* A URL of 127.0.0.1 where nothing listens. */
static void dead_url(char *out, size_t cap)
{
    snprintf(out, cap, "http://127.0.0.1:%d", t_free_port());
}

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

/* === credentials ============================================================================ */

static void test_credential_commands_create_show_update_revert_and_list_revisions(void **state)
{
    struct tkms *f = *state;
    struct run r;
    char name[64], renamed[64], s1[64], s2[64], s3[64], id[TAPI_ID_LEN];

    tapi_name(name, sizeof(name), "cli-cred-");
    tapi_name(renamed, sizeof(renamed), "cli-cred-renamed-");
    secret_new(s1, sizeof(s1), "cli-pw-one-");
    secret_new(s2, sizeof(s2), "cli-pw-two-");
    secret_new(s3, sizeof(s3), "cli-tok-three-");
    const struct how admin = { .token = f->api.admin_token };

    /* create: pairs from stdin, metadata, tags and documentation from flags */
    char *pairs = tapi_printf("{\"username\": \"cli-user\", \"password\": \"%s\"}", s1);
    coffer_expect(f, &(struct how){ .token = f->api.admin_token, .in = pairs },
                  ARGS("credential", "create", name, "--metadata", "env_var_prefix=APP_",
                       "--metadata", "owner=team-a", "--tag", "db", "--tag", "prod",
                       "--documentation", "rotate monthly"),
                  0, &r);
    free(pairs);
    json_t *o = one_of(&r);
    snprintf(id, sizeof(id), "%s", tapi_str(o, "id"));
    assert_true(cf_is_lower_hex(id, 32));
    assert_string_equal(tapi_str(o, "name"), name);
    assert_int_equal(tapi_int(o, "revision"), 1);
    assert_true(tapi_bool(o, "enabled"));
    tapi_assert_json(json_object_get(o, "credential_keys"), "[\"password\", \"username\"]");
    tapi_assert_json(json_object_get(o, "metadata"),
                     "{\"env_var_prefix\": \"APP_\", \"owner\": \"team-a\"}");
    tapi_assert_json(json_object_get(o, "tags"), "[\"db\", \"prod\"]");
    assert_string_equal(tapi_str(o, "documentation"), "rotate monthly");
    assert_string_equal(tapi_str(o, "modified_by"), TAPI_ADMIN_ACTOR);
    assert_null(json_object_get(o, "credential_pairs")); /* without its values */
    tapi_assert_no_secret(out_of(&r), s1, "credential create's stdout");
    tapi_assert_no_secret(err_of(&r), s1, "credential create's stderr");
    json_decref(o);
    run_free(&r);
    json_t *pv = tapi_cred_pairs(&f->api, id);
    char *want = tapi_printf("{\"username\": \"cli-user\", \"password\": \"%s\"}", s1);
    tapi_assert_json(pv, want);
    free(want);
    json_decref(pv);

    /* show: metadata and keys, no values; --reveal: the values */
    coffer_expect(f, &admin, ARGS("credential", "show", id), 0, &r);
    o = one_of(&r);
    assert_string_equal(tapi_str(o, "id"), id);
    assert_int_equal(tapi_int(o, "revision"), 1);
    tapi_assert_json(json_object_get(o, "credential_keys"), "[\"password\", \"username\"]");
    json_t *cp = json_object_get(o, "credential_pairs");
    assert_true(cp == NULL || json_object_size(cp) == 0);
    tapi_assert_no_secret(out_of(&r), s1, "credential show's stdout");
    json_decref(o);
    run_free(&r);
    coffer_expect(f, &admin, ARGS("credential", "show", id, "--reveal"), 0, &r);
    o = one_of(&r);
    want = tapi_printf("{\"username\": \"cli-user\", \"password\": \"%s\"}", s1);
    tapi_assert_json(json_object_get(o, "credential_pairs"), want);
    free(want);
    json_decref(o);
    run_free(&r);

    /* update --value KEY: one pair from stdin, the others kept; based on revision 1 */
    coffer_expect(f, &(struct how){ .token = f->api.admin_token, .in = s2 },
                  ARGS("credential", "update", id, "--value", "password"), 0, &r);
    o = one_of(&r);
    assert_int_equal(tapi_int(o, "revision"), 2);
    assert_null(json_object_get(o, "credential_pairs"));
    tapi_assert_no_secret(out_of(&r), s2, "credential update's stdout");
    tapi_assert_no_secret(out_of(&r), s1, "credential update's stdout");
    json_decref(o);
    run_free(&r);
    pv = tapi_cred_pairs(&f->api, id);
    want = tapi_printf("{\"username\": \"cli-user\", \"password\": \"%s\"}", s2);
    tapi_assert_json(pv, want);
    free(want);
    json_decref(pv);

    /* update --input -: a JSON object replaces all pairs */
    pairs = tapi_printf("{\"token\": \"%s\"}", s3);
    coffer_expect(f, &(struct how){ .token = f->api.admin_token, .in = pairs },
                  ARGS("credential", "update", id, "--input", "-"), 0, &r);
    free(pairs);
    o = one_of(&r);
    assert_int_equal(tapi_int(o, "revision"), 3);
    tapi_assert_json(json_object_get(o, "credential_keys"), "[\"token\"]");
    tapi_assert_no_secret(out_of(&r), s3, "credential update's stdout");
    json_decref(o);
    run_free(&r);
    pv = tapi_cred_pairs(&f->api, id);
    want = tapi_printf("{\"token\": \"%s\"}", s3);
    tapi_assert_json(pv, want);
    free(want);
    json_decref(pv);

    /* rename and disable, then enable: the pairs stay */
    coffer_expect(f, &admin, ARGS("credential", "update", id, "--name", renamed, "--disable"), 0,
                  &r);
    o = one_of(&r);
    assert_int_equal(tapi_int(o, "revision"), 4);
    assert_string_equal(tapi_str(o, "name"), renamed);
    assert_false(tapi_bool(o, "enabled"));
    json_decref(o);
    run_free(&r);
    coffer_expect(f, &admin, ARGS("credential", "update", id, "--enable"), 0, &r);
    o = one_of(&r);
    assert_int_equal(tapi_int(o, "revision"), 5);
    assert_true(tapi_bool(o, "enabled"));
    json_decref(o);
    run_free(&r);
    json_t *now = api_cred_get(f, id);
    assert_string_equal(tapi_str(now, "name"), renamed);
    assert_true(tapi_bool(now, "enabled"));
    want = tapi_printf("{\"token\": \"%s\"}", s3);
    tapi_assert_json(json_object_get(now, "credential_pairs"), want);
    free(want);
    json_decref(now);

    /* history: one JSON line per revision, in order, without values */
    coffer_expect(f, &admin, ARGS("credential", "history", id), 0, &r);
    json_t *revs = lines_of(&r);
    assert_int_equal(json_array_size(revs), 5);
    for (size_t i = 0; i < 5; i++) {
        char rid[64];
        snprintf(rid, sizeof(rid), "%s-%zu", id, i + 1);
        assert_string_equal(tapi_str(json_array_get(revs, i), "id"), rid);
        assert_int_equal(tapi_int(json_array_get(revs, i), "revision"), (json_int_t)(i + 1));
    }
    assert_string_equal(tapi_str(json_array_get(revs, 3), "name"), renamed);
    tapi_assert_no_secret(out_of(&r), s1, "credential history");
    tapi_assert_no_secret(out_of(&r), s2, "credential history");
    tapi_assert_no_secret(out_of(&r), s3, "credential history");
    json_decref(revs);
    run_free(&r);

    /* diff: key names only */
    coffer_expect(f, &admin, ARGS("credential", "diff", id, "1", "3"), 0, &r);
    o = one_of(&r);
    tapi_assert_json(json_object_get(o, "credential_pairs"),
                     "{\"added\": [\"token\"], \"removed\": [\"password\", \"username\"]}");
    assert_non_null(json_object_get(o, "modified_date"));
    tapi_assert_no_secret(out_of(&r), s1, "credential diff");
    tapi_assert_no_secret(out_of(&r), s3, "credential diff");
    json_decref(o);
    run_free(&r);
    coffer_expect(f, &admin, ARGS("credential", "diff", id, "3", "4"), 0, &r);
    o = one_of(&r);
    assert_null(json_object_get(o, "credential_pairs"));
    char *nd = tapi_printf("{\"added\": \"%s\", \"removed\": \"%s\"}", renamed, name);
    tapi_assert_json(json_object_get(o, "name"), nd);
    free(nd);
    json_decref(o);
    run_free(&r);

    /* revert to revision 1: a new revision 6 with the first pairs and name */
    coffer_expect(f, &admin, ARGS("credential", "revert", id, "1"), 0, &r);
    o = one_of(&r);
    assert_int_equal(tapi_int(o, "revision"), 6);
    assert_string_equal(tapi_str(o, "name"), name);
    tapi_assert_no_secret(out_of(&r), s1, "credential revert's stdout");
    json_decref(o);
    run_free(&r);
    pv = tapi_cred_pairs(&f->api, id);
    want = tapi_printf("{\"username\": \"cli-user\", \"password\": \"%s\"}", s1);
    tapi_assert_json(pv, want);
    free(want);
    json_decref(pv);
    /* the same revert again changes nothing: refused as invalid (400 no_change) */
    coffer_expect(f, &admin, ARGS("credential", "revert", id, "1"), 1, &r);
    assert_true(r.err.len > 0);
    run_free(&r);
    assert_int_equal(tapi_cred_revision(&f->api, id), 6);

    /* list: JSON lines, ours among them, no values anywhere; --limit */
    coffer_expect(f, &admin, ARGS("credential", "list"), 0, &r);
    json_t *items = lines_of(&r);
    json_t *mine = item_with(items, "id", id);
    assert_non_null(mine);
    assert_string_equal(tapi_str(mine, "name"), name);
    assert_int_equal(tapi_int(mine, "revision"), 6);
    tapi_assert_no_secret(out_of(&r), s1, "credential list");
    json_decref(items);
    run_free(&r);
    coffer_expect(f, &admin, ARGS("credential", "list", "--limit", "1"), 0, &r);
    items = lines_of(&r);
    assert_int_equal(json_array_size(items), 1);
    json_decref(items);
    run_free(&r);

    /* an auditor may show metadata, never values */
    coffer_expect(f, &(struct how){ .token = f->api.auditor_token }, ARGS("credential", "show", id),
                  0, &r);
    o = one_of(&r);
    assert_string_equal(tapi_str(o, "id"), id);
    json_decref(o);
    tapi_assert_no_secret(out_of(&r), s1, "the auditor's credential show");
    run_free(&r);
}

/* "--value KEY sets one pair from the raw input and keeps the others", whether the input is
 * stdin or --input PATH. */
static void test_update_value_keeps_the_other_pairs_whatever_the_input(void **state)
{
    struct tkms *f = *state;
    struct cf_buf list = { 0 };
    struct run r;
    char name[64], id[TAPI_ID_LEN], file[600], fresh[64];

    api_cred(f, "cli-keep-", "{\"a\": \"old-a\", \"b\": \"old-b\"}", true, name, sizeof(name), id);
    secret_new(fresh, sizeof(fresh), "cli-keep-new-");
    work_path(file, sizeof(file), "cli-keep-input-");
    write_file(file, fresh, strlen(fresh), 0600);
    const struct {
        const char *label;
        const char *in;
        const char *const *args;
    } forms[] = {
        { "stdin", fresh, ARGS("credential", "update", id, "--value", "a") },
        { "--input -", fresh, ARGS("credential", "update", id, "--value", "a", "--input", "-") },
        { "--input PATH", NULL, ARGS("credential", "update", id, "--value", "a", "--input", file) },
    };
    for (size_t i = 0; i < N_OF(forms); i++) {
        tapi_cred_put(&f->api, id, "{\"credential_pairs\": {\"a\": \"old-a\", \"b\": \"old-b\"}}");
        coffer(f, &(struct how){ .token = f->api.admin_token, .in = forms[i].in }, forms[i].args,
               &r);
        char *d = run_diff(&r, 0, NULL);
        run_free(&r);
        if (d == NULL) {
            json_t *pairs = tapi_cred_pairs(&f->api, id);
            char *want = tapi_printf("{\"a\": \"%s\", \"b\": \"old-b\"}", fresh);
            json_t *w = json_loads(want, 0, NULL);
            if (!json_equal(pairs, w)) {
                char *got = json_dumps(pairs, JSON_COMPACT | JSON_SORT_KEYS);
                d = tapi_printf("the pairs are now %s, expected %s", got, want);
                cf_json_free_str(got);
            }
            json_decref(w);
            free(want);
            json_decref(pairs);
        }
        tapi_collect(&list, forms[i].label, d);
    }
    unlink(file);
    tapi_collect_end(&list);
}

/* "--metadata KEY=VALUE: a metadata member": update sets that member; the others, such as the
 * env_var_prefix every service's variable names depend on, stay. */
static void test_update_metadata_sets_one_member_and_keeps_the_others(void **state)
{
    struct tkms *f = *state;
    struct run r;
    char name[64], id[TAPI_ID_LEN];

    tapi_name(name, sizeof(name), "cli-meta-");
    char *body = tapi_printf("{\"name\": \"%s\", \"credential_pairs\": {\"k\": \"v\"}, "
                             "\"metadata\": {\"env_var_prefix\": \"DB_\", \"owner\": \"a\"}}",
                             name);
    json_decref(tapi_cred_post(&f->api, body, id));
    free(body);
    coffer_expect(f, &(struct how){ .token = f->api.admin_token },
                  ARGS("credential", "update", id, "--metadata", "owner=b"), 0, &r);
    run_free(&r);
    json_t *c = api_cred_get(f, id);
    json_t *want = json_loads("{\"env_var_prefix\": \"DB_\", \"owner\": \"b\"}", 0, NULL);
    char *got = json_dumps(json_object_get(c, "metadata"), JSON_COMPACT | JSON_SORT_KEYS);
    bool same = json_equal(json_object_get(c, "metadata"), want);
    static char msg[512];
    snprintf(msg, sizeof(msg),
             "the metadata is now %s, expected "
             "{\"env_var_prefix\":\"DB_\",\"owner\":\"b\"}",
             got);
    cf_json_free_str(got);
    json_decref(want);
    json_decref(c);
    if (!same)
        fail_msg("%s", msg); /* freed first: LeakSanitizer reports only the failure */
}

/* === services =============================================================================== */

static void test_service_commands_create_map_unmap_revert_and_list_revisions(void **state)
{
    struct tkms *f = *state;
    struct run r;
    char n1[64], n2[64], c1[TAPI_ID_LEN], c2[TAPI_ID_LEN], sid[64], sid2[64], sid3[64], v[64];
    const struct how admin = { .token = f->api.admin_token };

    secret_new(v, sizeof(v), "cli-svc-secret-");
    char *p1 = tapi_printf("{\"one\": \"%s\"}", v);
    api_cred(f, "cli-svc-c1-", p1, true, n1, sizeof(n1), c1);
    free(p1);
    api_cred(f, "cli-svc-c2-", "{\"two\": \"2\"}", true, n2, sizeof(n2), c2);
    tapi_name(sid, sizeof(sid), "cli-svc-");
    tapi_name(sid2, sizeof(sid2), "cli-svc-mapped-");
    tapi_name(sid3, sizeof(sid3), "cli-svc-off-");

    /* create with one credential */
    coffer_expect(f, &admin, ARGS("service", "create", sid, "--credential", c1), 0, &r);
    json_t *o = one_of(&r);
    assert_string_equal(tapi_str(o, "id"), sid);
    assert_int_equal(tapi_int(o, "revision"), 1);
    assert_true(tapi_bool(o, "enabled"));
    char *ids = tapi_ids_of(json_object_get(o, "credentials"));
    char *want = tapi_printf("%s,", c1);
    assert_string_equal(ids, want);
    free(ids);
    free(want);
    tapi_assert_no_secret(out_of(&r), v, "service create's stdout");
    json_decref(o);
    run_free(&r);

    /* map adds; unmap removes; both based on the revision read */
    coffer_expect(f, &admin, ARGS("service", "map", sid, c2), 0, &r);
    o = one_of(&r);
    assert_int_equal(tapi_int(o, "revision"), 2);
    json_decref(o);
    run_free(&r);
    ids = svc_cred_ids(f, sid);
    want = tapi_printf("%s,", c1);
    assert_non_null(strstr(ids, want));
    free(want);
    want = tapi_printf("%s,", c2);
    assert_non_null(strstr(ids, want));
    free(want);
    assert_int_equal(strlen(ids), 2 * 33);
    free(ids);
    coffer_expect(f, &admin, ARGS("service", "unmap", sid, c1), 0, &r);
    o = one_of(&r);
    assert_int_equal(tapi_int(o, "revision"), 3);
    json_decref(o);
    run_free(&r);
    ids = svc_cred_ids(f, sid);
    want = tapi_printf("%s,", c2);
    assert_string_equal(ids, want);
    free(ids);
    free(want);

    /* map creates a service that does not exist; several credentials at once */
    coffer_expect(f, &admin, ARGS("service", "map", sid2, c1, c2), 0, &r);
    o = one_of(&r);
    assert_string_equal(tapi_str(o, "id"), sid2);
    assert_int_equal(tapi_int(o, "revision"), 1);
    assert_int_equal(json_array_size(json_object_get(o, "credentials")), 2);
    json_decref(o);
    run_free(&r);
    assert_int_equal(tapi_svc_revision(&f->api, sid2), 1);

    /* an id with every punctuation character a service id may hold travels intact, and the
     * service signs in with it as its kmsauth name */
    char odd[96], rnd[64];
    tapi_name(rnd, sizeof(rnd), "");
    snprintf(odd, sizeof(odd), "Cli_svc.a+b@c=d,e-%s", rnd);
    coffer_expect(f, &admin, ARGS("service", "create", odd, "--credential", c2), 0, &r);
    o = one_of(&r);
    assert_string_equal(tapi_str(o, "id"), odd);
    json_decref(o);
    run_free(&r);
    coffer_expect(f, &admin, ARGS("service", "show", odd), 0, &r);
    o = one_of(&r);
    assert_string_equal(tapi_str(o, "id"), odd);
    json_decref(o);
    run_free(&r);
    coffer_expect(f, NULL, ARGS("get", odd), 0, &r);
    json_t *bundle = json_loadb(out_of(&r), r.out.len, 0, NULL);
    assert_non_null(bundle);
    tapi_assert_json(tkms_bundle_pairs(bundle, n2), "{\"two\": \"2\"}");
    json_decref(bundle);
    run_free(&r);

    /* credentials may be named by their names too; an unknown one exits 5 */
    char sid4[64];
    tapi_name(sid4, sizeof(sid4), "cli-svc-byname-");
    coffer_expect(f, &admin, ARGS("service", "map", sid4, n2), 0, &r);
    run_free(&r);
    ids = svc_cred_ids(f, sid4);
    want = tapi_printf("%s,", c2);
    assert_string_equal(ids, want);
    free(ids);
    free(want);
    coffer_expect(f, &admin, ARGS("service", "map", sid4, "cli-no-such-credential-name"), 5, &r);
    assert_non_null(strstr(err_of(&r), "cli-no-such-credential-name"));
    run_free(&r);
    coffer_expect(f, &admin, ARGS("service", "unmap", sid4, n2), 0, &r);
    run_free(&r);
    ids = svc_cred_ids(f, sid4);
    assert_string_equal(ids, "");
    free(ids);

    /* create --disabled */
    coffer_expect(f, &admin, ARGS("service", "create", sid3, "--disabled"), 0, &r);
    o = one_of(&r);
    assert_false(tapi_bool(o, "enabled"));
    assert_int_equal(json_array_size(json_object_get(o, "credentials")), 0);
    json_decref(o);
    run_free(&r);
    json_t *s3 = api_svc_get(f, sid3);
    assert_false(tapi_bool(s3, "enabled"));
    json_decref(s3);

    /* show: the service and its credentials, no values (an admin could read them) */
    coffer_expect(f, &admin, ARGS("service", "show", sid2), 0, &r);
    o = one_of(&r);
    assert_string_equal(tapi_str(o, "id"), sid2);
    json_t *creds = json_object_get(o, "credentials");
    assert_int_equal(json_array_size(creds), 2);
    for (size_t i = 0; i < 2; i++) {
        json_t *cpairs = json_object_get(json_array_get(creds, i), "credential_pairs");
        assert_true(cpairs == NULL || json_object_size(cpairs) == 0);
    }
    tapi_assert_no_secret(out_of(&r), v, "service show's stdout");
    json_decref(o);
    run_free(&r);

    /* list: JSON lines with credential ids; --limit */
    coffer_expect(f, &admin, ARGS("service", "list"), 0, &r);
    json_t *items = lines_of(&r);
    json_t *it = item_with(items, "id", sid);
    assert_non_null(it);
    assert_int_equal(tapi_int(it, "revision"), 3);
    want = tapi_printf("[\"%s\"]", c2);
    tapi_assert_json(json_object_get(it, "credentials"), want);
    free(want);
    assert_non_null(item_with(items, "id", sid2));
    assert_non_null(item_with(items, "id", sid3));
    json_decref(items);
    run_free(&r);
    coffer_expect(f, &admin, ARGS("service", "list", "--limit", "2"), 0, &r);
    items = lines_of(&r);
    assert_int_equal(json_array_size(items), 2);
    json_decref(items);
    run_free(&r);

    /* history: revisions 1..3 in order; revert to 1 writes revision 4 with c1 again */
    coffer_expect(f, &(struct how){ .token = f->api.auditor_token },
                  ARGS("service", "history", sid), 0, &r);
    json_t *revs = lines_of(&r);
    assert_int_equal(json_array_size(revs), 3);
    for (size_t i = 0; i < 3; i++) {
        char rid[96];
        snprintf(rid, sizeof(rid), "%s-%zu", sid, i + 1);
        assert_string_equal(tapi_str(json_array_get(revs, i), "id"), rid);
    }
    want = tapi_printf("[\"%s\"]", c1);
    tapi_assert_json(json_object_get(json_array_get(revs, 0), "credentials"), want);
    free(want);
    json_decref(revs);
    run_free(&r);
    coffer_expect(f, &admin, ARGS("service", "revert", sid, "1"), 0, &r);
    o = one_of(&r);
    assert_int_equal(tapi_int(o, "revision"), 4);
    json_decref(o);
    run_free(&r);
    ids = svc_cred_ids(f, sid);
    want = tapi_printf("%s,", c1);
    assert_string_equal(ids, want);
    free(ids);
    free(want);
}

/* === API tokens and principals =============================================================== */

/* Runs args until it exits want, for up to POLL_SECONDS (a revocation or a role change
 * reaches the node within a second); fails the test with the last run's output if it never
 * does. */
static void poll_expect(const struct tkms *f, const struct how *h, const char *const args[],
                        int want)
{
    struct timespec quarter = { 0, 250 * 1000000L };

    for (int i = 0;; i++) {
        struct run r;
        coffer(f, h, args, &r);
        if (r.rc == want) {
            run_free(&r);
            return;
        }
        if (i == POLL_SECONDS * 4) {
            char *d = run_diff(&r, want, NULL);
            static char msg[2048];
            snprintf(msg, sizeof(msg), "coffer %s: %s", cmdline(args), d);
            free(d);
            run_free(&r);
            fail_msg("%s", msg);
        }
        run_free(&r);
        nanosleep(&quarter, NULL);
    }
}

static void test_api_token_commands_create_list_and_revoke_and_a_revoked_token_exits_3(void **state)
{
    struct tkms *f = *state;
    struct run r;
    char name[64], id[64], token[64];
    const struct how admin = { .token = f->api.admin_token };

    tapi_name(name, sizeof(name), "cli-bot-");
    coffer_expect(f, &admin, ARGS("api-token", "create", name, "--role", "auditor", "--ttl", "2h"),
                  0, &r);
    json_t *o = one_of(&r);
    snprintf(id, sizeof(id), "%s", tapi_str(o, "id"));
    snprintf(token, sizeof(token), "%s", tapi_str(o, "token"));
    assert_int_equal(strlen(token), 50);
    assert_true(strncmp(token, "coffer_", 7) == 0);
    assert_true(strncmp(id, "tok_", 4) == 0);
    assert_string_equal(tapi_str(o, "name"), name);
    assert_string_equal(tapi_str(o, "role"), "auditor");
    assert_non_null(json_object_get(o, "expires_at"));
    json_decref(o);
    run_free(&r);
    secret_add(token); /* from now on it may travel only in COFFER_TOKEN */

    /* the new token works as an auditor: it reads, it may not write */
    const struct how bot = { .token = token };
    coffer_ok(f, &bot, ARGS("credential", "list", "--limit", "1"));
    coffer_expect(f, &bot, ARGS("service", "create", name), 4, &r);
    run_free(&r);

    /* list: ours, never its plaintext again */
    coffer_expect(f, &admin, ARGS("api-token", "list"), 0, &r);
    json_t *items = lines_of(&r);
    json_t *it = item_with(items, "id", id);
    assert_non_null(it);
    assert_string_equal(tapi_str(it, "name"), name);
    assert_true(json_is_null(json_object_get(it, "revoked_at")));
    assert_non_null(item_with(items, "name", "admin-1"));
    tapi_assert_absent(out_of(&r), token, "api-token list");
    json_decref(items);
    run_free(&r);

    /* revoke: the token object with revoked_at; then the token exits 3 */
    coffer_expect(f, &admin, ARGS("api-token", "revoke", id), 0, &r);
    o = one_of(&r);
    assert_string_equal(tapi_str(o, "id"), id);
    assert_true(json_is_string(json_object_get(o, "revoked_at")));
    json_decref(o);
    run_free(&r);
    poll_expect(f, &bot, ARGS("credential", "list", "--limit", "1"), 3);
    coffer_expect(f, &bot, ARGS("audit", "list", "--limit", "1"), 3, &r);
    assert_non_null(strstr(err_of(&r), "401"));
    assert_int_equal(r.out.len, 0);
    run_free(&r);

    /* listed again only with --include-revoked */
    coffer_expect(f, &admin, ARGS("api-token", "list"), 0, &r);
    items = lines_of(&r);
    assert_null(item_with(items, "id", id));
    json_decref(items);
    run_free(&r);
    coffer_expect(f, &admin, ARGS("api-token", "list", "--include-revoked"), 0, &r);
    items = lines_of(&r);
    it = item_with(items, "id", id);
    assert_non_null(it);
    assert_true(json_is_string(json_object_get(it, "revoked_at")));
    json_decref(items);
    run_free(&r);
}

static void
test_principal_commands_set_list_and_remove_and_the_role_applies_to_kmsauth(void **state)
{
    struct tkms *f = *state;
    struct run r;
    char person[64], sid[64], cname[64], cid[TAPI_ID_LEN];

    tapi_name(person, sizeof(person), "cli-person-");
    tapi_name(sid, sizeof(sid), "cli-person-svc-");
    api_cred(f, "cli-person-", "{\"k\": \"v\"}", true, cname, sizeof(cname), cid);
    const struct how admin = { .token = f->api.admin_token };
    /* the person signs in with a kmsauth user token made by coffer (no COFFER_TOKEN) */
    const struct how me = { .from = person };

    coffer_expect(f, &me, ARGS("credential", "list", "--limit", "1"), 4, &r); /* no role yet */
    run_free(&r);

    coffer_expect(f, &admin, ARGS("principal", "set", person, "--role", "admin"), 0, &r);
    json_t *o = one_of(&r);
    assert_string_equal(tapi_str(o, "name"), person);
    assert_string_equal(tapi_str(o, "role"), "admin");
    json_decref(o);
    run_free(&r);
    coffer_expect(f, &admin, ARGS("principal", "list"), 0, &r);
    json_t *items = lines_of(&r);
    json_t *it = item_with(items, "name", person);
    assert_non_null(it);
    assert_string_equal(tapi_str(it, "role"), "admin");
    json_decref(items);
    run_free(&r);

    /* as an admin the person writes; the access log names them */
    poll_expect(f, &me, ARGS("service", "create", sid), 0);
    json_t *s = api_svc_get(f, sid);
    assert_string_equal(tapi_str(s, "modified_by"), person);
    json_decref(s);

    /* demoted to auditor: reads, and a write exits 4 */
    coffer_ok(f, &admin, ARGS("principal", "set", person, "--role", "auditor"));
    poll_expect(f, &me, ARGS("service", "map", sid, cid), 4);
    assert_int_equal(tapi_svc_revision(&f->api, sid), 1);
    coffer_ok(f, &me, ARGS("service", "show", sid));

    /* removed: no role at all */
    coffer_expect(f, &admin, ARGS("principal", "remove", person), 0, &r);
    o = one_of(&r);
    assert_string_equal(tapi_str(o, "name"), person);
    json_decref(o);
    run_free(&r);
    poll_expect(f, &me, ARGS("service", "show", sid), 4);
    coffer_expect(f, &admin, ARGS("principal", "list"), 0, &r);
    items = lines_of(&r);
    assert_null(item_with(items, "name", person));
    json_decref(items);
    run_free(&r);
    coffer_expect(f, &admin, ARGS("principal", "remove", person), 5, &r);
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

/* Bytes a shell or a JSON encoder could mangle: quotes of every kind, $, backticks, command
 * substitution that would touch marker, backslashes (one ending a line), escapes, a tab, CR,
 * control bytes, non-ASCII UTF-8 (bytes 0x81-0x8a included, which dash uses internally), and
 * trailing newlines. tag makes it unique (free() it). */
static char *tricky_value(const char *tag, const char *marker)
{
    return tapi_printf("%s first line\n"
                       "it's \"double\" and 'single' and '\\'' and \"'\"\n"
                       "$HOME ${PATH} $(touch %s) `touch %s` $((6*7)) %%s %%d %%n\n"
                       "back\\slash \\\\ \\n \\t \\' \\\" \\$x \\`x\\` \\\n"
                       "tab\there\rCR ctl\x01\x1f\x7f!\n"
                       "UTF-8: \xc3\xa9 \xc4\x81 \xc4\x88 \xe6\x97\xa5\xe6\x9c\xac "
                       "\xf0\x9f\x94\x91 =#!&;|<>*?[]~{} -n -e\n"
                       "\n",
                       tag, marker, marker);
}

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

/* Sources file in shell (after set -a if set_a) and prints $name with printf '%s' into r. */
static void shell_value(const char *shell, const char *file, bool set_a, const char *name,
                        struct run *r)
{
    char *script =
        tapi_printf("%s. '%s'; printf '%%s' \"$%s\"", set_a ? "set -a; " : "", file, name);
    char *const argv[] = { (char *)shell, "-c", script, NULL };
    *r = (struct run){ 0 };
    r->rc = t_run_io(argv, NULL, NULL, 0, &r->out, &r->err);
    free(script);
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

/* === values round-trip ====================================================================== */

static void test_values_from_stdin_round_trip_byte_for_byte(void **state)
{
    struct tkms *f = *state;
    struct cf_buf list = { 0 };
    struct run r;
    char tag[64], marker[600], name[64], id[TAPI_ID_LEN], file[600], sid[64];

    work_path(marker, sizeof(marker), "cli-marker-");
    secret_new(tag, sizeof(tag), "cli-rt-");
    char *value = tricky_value(tag, marker);
    const struct how admin = { .token = f->api.admin_token };

    /* create --value KEY: the raw bytes of stdin, trailing newlines included */
    tapi_name(name, sizeof(name), "cli-rt-");
    coffer_expect(f, &(struct how){ .token = f->api.admin_token, .in = value },
                  ARGS("credential", "create", name, "--value", "secret"), 0, &r);
    json_t *o = one_of(&r);
    snprintf(id, sizeof(id), "%s", tapi_str(o, "id"));
    json_decref(o);
    tapi_assert_no_secret(out_of(&r), tag, "credential create's stdout");
    run_free(&r);
    /* through the API */
    json_t *pairs = tapi_cred_pairs(&f->api, id);
    assert_json_bytes("the value read through the API", json_object_get(pairs, "secret"), value);
    assert_int_equal(json_object_size(pairs), 1);
    json_decref(pairs);
    /* through credential show --reveal */
    coffer_expect(f, &admin, ARGS("credential", "show", id, "--reveal"), 0, &r);
    o = one_of(&r);
    assert_json_bytes("credential show --reveal",
                      json_object_get(json_object_get(o, "credential_pairs"), "secret"), value);
    json_decref(o);
    run_free(&r);
    /* through get --format json, as the service */
    tapi_name(sid, sizeof(sid), "cli-rt-svc-");
    coffer_expect(f, &admin, ARGS("service", "map", sid, id), 0, &r);
    run_free(&r);
    coffer_expect(f, NULL, ARGS("get", sid, "--format", "json"), 0, &r);
    json_t *bj = json_loadb(out_of(&r), r.out.len, 0, NULL);
    assert_non_null(bj);
    assert_json_bytes("get --format json", json_object_get(tkms_bundle_pairs(bj, name), "secret"),
                      value);
    json_decref(bj);
    run_free(&r);
    /* through get --format env, sourced by sh */
    coffer_expect(f, NULL, ARGS("get", sid, "--format", "env"), 0, &r);
    work_path(file, sizeof(file), "cli-rt-env-");
    write_file(file, out_of(&r), r.out.len, 0600);
    run_free(&r);
    shell_value("/bin/sh", file, true, "SECRET", &r);
    assert_int_equal(r.rc, 0);
    assert_bytes("get --format env sourced by sh", out_of(&r), r.out.len, value, strlen(value));
    run_free(&r);
    unlink(file);
    assert_false(exists(marker));

    /* update --value with other bytes; and --input FILE with a JSON object */
    const char *const edge[] = {
        "",                                 /* an empty value */
        "\n",                               /* a newline only */
        " leading and trailing spaces \t ", /* blanks kept */
        "no newline at the end",            /* nothing added */
        "\r\n\r\n",                         /* CRLFs kept */
        "{\"looks\": \"like JSON\"}\n",     /* not parsed with --value */
    };
    for (size_t i = 0; i < N_OF(edge); i++) {
        char label[32];
        snprintf(label, sizeof(label), "update --value #%zu", i);
        coffer(f, &(struct how){ .token = f->api.admin_token, .in = edge[i] },
               ARGS("credential", "update", id, "--value", "secret"), &r);
        char *d = run_diff(&r, 0, NULL);
        run_free(&r);
        if (d == NULL) {
            pairs = tapi_cred_pairs(&f->api, id);
            json_t *v = json_object_get(pairs, "secret");
            if (!json_is_string(v) || json_string_length(v) != strlen(edge[i]) ||
                memcmp(json_string_value(v), edge[i], strlen(edge[i])) != 0)
                d = tapi_printf("the value is %s", json_is_string(v) ? json_string_value(v) : "?");
            json_decref(pairs);
        }
        tapi_collect(&list, label, d);
    }
    json_t *obj = json_object();
    json_object_set_new(obj, "secret", json_stringn(value, strlen(value)));
    json_object_set_new(obj, "other", json_string("x"));
    char *text = json_dumps(obj, JSON_COMPACT);
    json_decref(obj);
    work_path(file, sizeof(file), "cli-rt-input-");
    write_file(file, text, strlen(text), 0600);
    cf_json_free_str(text);
    coffer(f, &admin, ARGS("credential", "update", id, "--input", file), &r);
    tapi_collect(&list, "update --input FILE", run_diff(&r, 0, NULL));
    run_free(&r);
    unlink(file);
    pairs = tapi_cred_pairs(&f->api, id);
    json_t *sv = json_object_get(pairs, "secret");
    if (!json_is_string(sv) || json_string_length(sv) != strlen(value) ||
        memcmp(json_string_value(sv), value, strlen(value)) != 0 || json_object_size(pairs) != 2)
        tapi_collect(&list, "update --input FILE", tapi_printf("the pairs differ"));
    json_decref(pairs);
    free(value);
    tapi_collect_end(&list);
}

static void test_bad_input_is_refused_and_creates_nothing(void **state)
{
    struct tkms *f = *state;
    struct cf_buf list = { 0 };
    struct run r;

    const struct {
        const char *label;
        const char *in;
        size_t inlen;
        bool value; /* --value k */
        int rc;
    } cases[] = {
        { "not JSON", "password=hunter2", 0, false, 2 },
        { "a JSON array", "[\"x\"]", 0, false, 2 },
        { "a JSON string", "\"x\"", 0, false, 2 },
        { "no input", "", 0, false, 2 },
        { "duplicate members", "{\"a\": \"1\", \"a\": \"2\"}", 0, false, 2 },
        { "no pairs (400)", "{}", 0, false, 1 },
        { "a number value (400)", "{\"a\": 1}", 0, false, 1 },
        { "a key with a space (400)", "{\"a b\": \"x\"}", 0, false, 1 },
        { "a value that is not UTF-8", "\xff\xfe bytes", 0, true, -1 },
        { "a value with a NUL", "a\0b", 3, true, -1 },
    };
    for (size_t i = 0; i < N_OF(cases); i++) {
        char name[64];
        tapi_name(name, sizeof(name), "cli-bad-input-");
        char *before = tapi_state(&f->api);
        const char *args[] = { "credential", "create", name, cases[i].value ? "--value" : NULL,
                               "k",          NULL };
        coffer(f,
               &(struct how){
                   .token = f->api.admin_token, .in = cases[i].in, .inlen = cases[i].inlen },
               args, &r);
        char *d = NULL;
        if (cases[i].rc >= 0)
            d = run_diff(&r, cases[i].rc, "coffer: ");
        else if (r.rc == 0 || r.err.len == 0)
            d = tapi_printf("exited %d (expected a refusal with a message): %.200s", r.rc,
                            err_of(&r));
        if (d == NULL)
            d = tapi_unchanged_diff(&f->api, before);
        else
            free(before);
        tapi_collect(&list, cases[i].label, d);
        run_free(&r);
    }
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

static void test_a_write_based_on_a_stale_revision_exits_6_and_changes_nothing(void **state)
{
    struct tkms *f = *state;
    struct cf_buf list = { 0 };
    struct run r;
    char name[64], id[TAPI_ID_LEN], other[TAPI_ID_LEN], oname[64], sid[64];
    const struct how admin = { .token = f->api.admin_token };

    api_cred(f, "cli-stale-", "{\"k\": \"v\"}", true, name, sizeof(name), id);
    api_cred(f, "cli-stale-other-", "{\"o\": \"v\"}", true, oname, sizeof(oname), other);
    tapi_name(sid, sizeof(sid), "cli-stale-svc-");

    /* two admins read revision 1; the first writes revision 2, the second is refused */
    coffer_expect(
        f, &admin,
        ARGS("credential", "update", id, "--documentation", "first", "--expected-revision", "1"), 0,
        &r);
    run_free(&r);
    char *before = tapi_state(&f->api);
    coffer(
        f, &admin,
        ARGS("credential", "update", id, "--documentation", "second", "--expected-revision", "1"),
        &r);
    char *d = run_diff(&r, 6, "coffer: ");
    if (d == NULL && !has_word(err_of(&r), "2")) /* it says where the credential is now */
        d = tapi_printf("stderr does not name the current revision 2: %s", err_of(&r));
    if (d == NULL && r.out.len != 0)
        d = tapi_printf("printed on stdout: %s", out_of(&r));
    if (d == NULL)
        d = tapi_unchanged_diff(&f->api, before);
    else
        free(before);
    tapi_collect(&list, "credential update", d);
    run_free(&r);
    json_t *c = api_cred_get(f, id);
    assert_string_equal(tapi_str(c, "documentation"), "first");
    assert_int_equal(tapi_int(c, "revision"), 2);
    json_decref(c);
    /* without --expected-revision it is based on what it just read */
    coffer_expect(f, &admin, ARGS("credential", "update", id, "--documentation", "third"), 0, &r);
    json_t *o = one_of(&r);
    assert_int_equal(tapi_int(o, "revision"), 3);
    json_decref(o);
    run_free(&r);

    /* the same for reverts and mappings */
    coffer_ok(f, &admin, ARGS("service", "create", sid, "--credential", id));
    coffer_ok(f, &admin, ARGS("service", "map", sid, other)); /* revision 2 */
    const struct {
        const char *label;
        const char *const *args;
    } stale[] = {
        { "credential revert", ARGS("credential", "revert", id, "1", "--expected-revision", "2") },
        { "service map", ARGS("service", "map", sid, other, "--expected-revision", "1") },
        { "service unmap", ARGS("service", "unmap", sid, other, "--expected-revision", "1") },
        { "service revert", ARGS("service", "revert", sid, "1", "--expected-revision", "1") },
        { "service create", ARGS("service", "create", sid) },
    };
    for (size_t i = 0; i < N_OF(stale); i++) {
        before = tapi_state(&f->api);
        coffer(f, &admin, stale[i].args, &r);
        d = run_diff(&r, 6, "coffer: ");
        if (d == NULL)
            d = tapi_unchanged_diff(&f->api, before);
        else
            free(before);
        tapi_collect(&list, stale[i].label, d);
        run_free(&r);
    }
    assert_int_equal(tapi_cred_revision(&f->api, id), 3);
    assert_int_equal(tapi_svc_revision(&f->api, sid), 2);
    /* with the right revision they pass */
    coffer(f, &admin, ARGS("service", "unmap", sid, other, "--expected-revision", "2"), &r);
    tapi_collect(&list, "service unmap at the right revision", run_diff(&r, 0, NULL));
    run_free(&r);
    tapi_collect_end(&list);
}

/* === the access log ========================================================================= */

/* NULL if every event of the list has member key equal to value, else what differs. */
static char *all_have(const json_t *evs, const char *key, const char *value)
{
    size_t i;
    json_t *ev;
    json_array_foreach(evs, i, ev)
    {
        const char *s = cf_json_str(ev, key);
        if (s == NULL || strcmp(s, value) != 0)
            return tapi_printf("event %zu has %s %s, expected %s", i, key, s ? s : "(none)", value);
    }
    return NULL;
}

/* NULL if the ids of the events go strictly up (asc) or down. */
static char *ids_ordered(const json_t *evs, bool asc)
{
    for (size_t i = 1; i < json_array_size(evs); i++) {
        json_int_t a = json_integer_value(json_object_get(json_array_get(evs, i - 1), "id"));
        json_int_t b = json_integer_value(json_object_get(json_array_get(evs, i), "id"));
        if (asc ? a >= b : a <= b)
            return tapi_printf("ids %lld then %lld", (long long)a, (long long)b);
    }
    return NULL;
}

static void test_audit_list_prints_json_lines_of_the_rows_its_filters_select(void **state)
{
    struct tkms *f = *state;
    struct cf_buf list = { 0 };
    struct run r;
    char name[64], id[TAPI_ID_LEN];
    const struct how auditor = { .token = f->api.auditor_token };

    tapi_name(name, sizeof(name), "cli-audit-");
    coffer_expect(f, &(struct how){ .token = f->api.admin_token, .in = "{\"k\": \"v\"}" },
                  ARGS("credential", "create", name), 0, &r);
    json_t *o = one_of(&r);
    snprintf(id, sizeof(id), "%s", tapi_str(o, "id"));
    json_decref(o);
    run_free(&r);
    coffer_ok(f, &auditor, ARGS("credential", "show", id));
    coffer_ok(f, &auditor, ARGS("credential", "history", id));
    coffer_expect(f, &(struct how){ .token = "coffer_garbage" }, ARGS("credential", "show", id), 3,
                  &r);
    run_free(&r);

    /* one row: the create, exactly as the API shows it */
    coffer_expect(f, &auditor,
                  ARGS("audit", "list", "--resource-id", id, "--action", "credential.create"), 0,
                  &r);
    json_t *evs = lines_of(&r);
    run_free(&r);
    assert_int_equal(json_array_size(evs), 1);
    json_t *ev = json_array_get(evs, 0);
    assert_string_equal(tapi_str(ev, "action"), "credential.create");
    assert_string_equal(tapi_str(ev, "actor"), TAPI_ADMIN_ACTOR);
    assert_string_equal(tapi_str(ev, "actor_type"), "token");
    assert_string_equal(tapi_str(ev, "resource_type"), "credential");
    assert_string_equal(tapi_str(ev, "result"), "allowed");
    assert_int_equal(tapi_int(ev, "revision"), 1);
    assert_true(cf_is_lower_hex(tapi_str(ev, "hash"), 64));
    struct t_resp resp;
    tapi_send(&f->api, f->api.auditor, "GET", NULL, &resp,
              "/v1/audit/events?resource_id=%s&action=credential.create", id);
    json_t *api = tapi_ok(&resp);
    t_resp_free(&resp);
    assert_true(json_equal(json_array_get(json_object_get(api, "events"), 0), ev));
    json_decref(api);
    char rid[64];
    snprintf(rid, sizeof(rid), "%s", tapi_str(ev, "request_id"));
    json_int_t create_id = tapi_int(ev, "id");
    json_decref(evs);

    /* filters and orders, each line a row that matches */
    char create_id_s[32];
    snprintf(create_id_s, sizeof(create_id_s), "%lld", (long long)create_id);
    const struct {
        const char *label;
        const char *const *args;
        long count; /* -1: any, at least one */
        const char *key, *value;
        int order; /* 1 asc, -1 desc, 0 not checked */
    } cases[] = {
        { "by resource, newest first", ARGS("audit", "list", "--resource-id", id), 4, "resource_id",
          id, -1 },
        { "by resource, oldest first", ARGS("audit", "list", "--resource-id", id, "--order", "asc"),
          4, "resource_id", id, 1 },
        { "--limit", ARGS("audit", "list", "--resource-id", id, "--limit", "2"), 2, "resource_id",
          id, -1 },
        { "--all", ARGS("audit", "list", "--resource-id", id, "--all"), 4, "resource_id", id, -1 },
        { "by actor", ARGS("audit", "list", "--actor", TAPI_AUDITOR_ACTOR, "--limit", "3"), 3,
          "actor", TAPI_AUDITOR_ACTOR, -1 },
        { "by actor type and result",
          ARGS("audit", "list", "--resource-id", id, "--actor-type", "anonymous", "--result",
               "denied"),
          1, "result", "denied", 0 },
        { "by action list",
          ARGS("audit", "list", "--resource-id", id, "--action",
               "credential.revisions,credential.create", "--order", "asc"),
          2, "resource_type", "credential", 1 },
        { "by resource type",
          ARGS("audit", "list", "--resource-type", "credential", "--limit", "5"), 5,
          "resource_type", "credential", -1 },
        { "by request id", ARGS("audit", "list", "--request-id", rid), 1, "request_id", rid, 0 },
        { "--json", ARGS("audit", "list", "--request-id", rid, "--json"), 1, "action",
          "credential.create", 0 },
        { "since the future", ARGS("audit", "list", "--since", "2999-01-01T00:00:00Z"), 0, NULL,
          NULL, 0 },
        { "until the past", ARGS("audit", "list", "--until", "2000-01-01T00:00:00+00:00"), 0, NULL,
          NULL, 0 },
        { "since long ago",
          ARGS("audit", "list", "--since", "2000-01-01T00:00:00Z", "--resource-id", id, "--limit",
               "1"),
          1, "resource_id", id, 0 },
    };
    for (size_t i = 0; i < N_OF(cases); i++) {
        coffer(f, &auditor, cases[i].args, &r);
        char *d = run_diff(&r, 0, NULL);
        if (d == NULL) {
            evs = lines_of(&r);
            if (cases[i].count >= 0 && (long)json_array_size(evs) != cases[i].count)
                d = tapi_printf("%zu rows, expected %ld: %.300s", json_array_size(evs),
                                cases[i].count, out_of(&r));
            if (d == NULL && cases[i].key != NULL)
                d = all_have(evs, cases[i].key, cases[i].value);
            if (d == NULL && cases[i].order != 0)
                d = ids_ordered(evs, cases[i].order > 0);
            json_decref(evs);
        }
        tapi_collect(&list, cases[i].label, d);
        run_free(&r);
    }
    /* no --limit: the newest 100 */
    long rows = tapi_count(&f->api, "SELECT count(*) FROM audit_log");
    assert_true(rows > 100); /* the tests before this one made that many */
    coffer_expect(f, &auditor, ARGS("audit", "list"), 0, &r);
    evs = lines_of(&r);
    assert_int_equal(json_array_size(evs), 100);
    tapi_collect(&list, "no --limit", ids_ordered(evs, false));
    assert_true(tapi_int(json_array_get(evs, 0), "id") >= rows);
    json_decref(evs);
    run_free(&r);

    /* oldest first starts with the create */
    coffer_expect(f, &auditor,
                  ARGS("audit", "list", "--resource-id", id, "--order", "asc", "--limit", "1"), 0,
                  &r);
    evs = lines_of(&r);
    assert_int_equal(json_array_size(evs), 1);
    assert_int_equal(tapi_int(json_array_get(evs, 0), "id"), create_id);
    json_decref(evs);
    run_free(&r);
    tapi_collect_end(&list);
}

/* The head coffer printed: from the JSON line (piped) or the "head ID:HASH" line (terminal). */
static void head_of_json(const struct run *r, long long *id, char hash[65])
{
    json_t *o = one_of(r);
    if (!json_is_true(json_object_get(o, "ok")))
        fail_msg("audit verify printed %s", out_of(r));
    *id = (long long)tapi_int(o, "head_id");
    snprintf(hash, 65, "%s", tapi_str(o, "head_hash"));
    json_decref(o);
}

/* The hash column of row id. */
static char *row_hash(const struct tkms *f, long long id)
{
    char *sql = tapi_printf("SELECT hash FROM audit_log WHERE id = %lld", id);
    char *h = tapi_sql(&f->api, sql);
    free(sql);
    return h;
}

static void test_audit_verify_walks_the_intact_chain_and_checks_the_head_it_was_given(void **state)
{
    struct tkms *f = *state;
    struct run r;
    long long head;
    char hash[65];
    const struct how auditor = { .token = f->api.auditor_token };

    /* piped: one JSON line, ok, and the head it reached, which the database holds */
    coffer_expect(f, &auditor, ARGS("audit", "verify"), 0, &r);
    head_of_json(&r, &head, hash);
    run_free(&r);
    assert_true(head > 1);
    assert_true(cf_is_lower_hex(hash, 64));
    char *db = row_hash(f, head);
    assert_string_equal(db, hash);
    free(db);

    /* on a terminal: the "head ID:HASH" line to keep */
    {
        char **argv = argv_of(ARGS("audit", "verify"));
        char **env = env_of(f, &auditor);
        struct cf_buf out = { 0 };
        int rc = run_tty(argv, env, &out);
        strv_free(argv);
        strv_free(env);
        const char *line = out.data != NULL ? strstr(out.data, "head ") : NULL;
        long long tid = 0;
        char thash[65] = "";
        if (rc != 0 || line == NULL || (line != out.data && line[-1] != '\n') ||
            sscanf(line, "head %lld:%64[0-9a-f]", &tid, thash) != 2 || strlen(thash) != 64)
            fail_msg("audit verify on a terminal exited %d printing %s", rc,
                     out.data != NULL ? out.data : "");
        cf_buf_free(&out);
        assert_true(tid > head);
        db = row_hash(f, tid);
        assert_string_equal(db, thash);
        free(db);
    }

    /* --expect-head with the head kept: intact */
    char expect[128];
    snprintf(expect, sizeof(expect), "%lld:%s", head, hash);
    coffer_expect(f, &auditor, ARGS("audit", "verify", "--expect-head", expect), 0, &r);
    run_free(&r);
    /* a wrong hash for that row: broken, naming it */
    char wrong[128];
    snprintf(wrong, sizeof(wrong), "%lld:%s", head, hash);
    char *h = wrong + strlen(wrong) - 64;
    h[0] = h[0] == 'a' ? 'b' : 'a';
    coffer_expect(f, &auditor, ARGS("audit", "verify", "--expect-head", wrong), 1, &r);
    char num[32];
    snprintf(num, sizeof(num), "%lld", head);
    if (!has_word(err_of(&r), num))
        fail_msg("audit verify does not name row %s: %s", num, err_of(&r));
    run_free(&r);
    /* a head past the end of the log: rows were cut from its tail */
    snprintf(wrong, sizeof(wrong), "%lld:%s", head + 1000000, hash);
    coffer_expect(f, &auditor, ARGS("audit", "verify", "--expect-head", wrong), 1, &r);
    run_free(&r);

    /* a range */
    coffer_expect(f, &auditor, ARGS("audit", "verify", "--from-id", "2", "--to-id", "4"), 0, &r);
    json_t *o = one_of(&r);
    assert_true(json_is_true(json_object_get(o, "ok")));
    assert_int_equal(tapi_int(o, "checked"), 3);
    assert_int_equal(tapi_int(o, "head_id"), 4);
    json_decref(o);
    run_free(&r);
    /* an admin may verify too */
    coffer_ok(f, &(struct how){ .token = f->api.admin_token }, ARGS("audit", "verify"));
}

/* On a fixture of its own: it breaks the chain. */
static void test_audit_verify_exits_1_naming_the_row_a_superuser_altered(void **state)
{
    struct tkms *f = *state;
    struct run r;
    char name[64], id[TAPI_ID_LEN];
    const struct how auditor = { .token = f->api.auditor_token };

    tapi_name(name, sizeof(name), "cli-tamper-");
    coffer_expect(f, &(struct how){ .token = f->api.admin_token, .in = "{\"k\": \"v\"}" },
                  ARGS("credential", "create", name), 0, &r);
    json_t *o = one_of(&r);
    snprintf(id, sizeof(id), "%s", tapi_str(o, "id"));
    json_decref(o);
    run_free(&r);
    for (int i = 0; i < 3; i++)
        coffer_ok(f, &auditor, ARGS("credential", "show", id));
    coffer_ok(f, &auditor, ARGS("audit", "verify"));

    char *sql = tapi_printf("SELECT id FROM audit_log WHERE action = 'credential.create' AND "
                            "resource_id = '%s'",
                            sql_safe(id));
    long k = tapi_count(&f->api, sql);
    free(sql);
    assert_true(k > 2);
    tamper(f, "UPDATE audit_log SET actor = 'token:someone-else' WHERE id = $1::bigint", k,
           " AND actor = 'token:someone-else'", 1);

    char num[32], before[32], after[32];
    snprintf(num, sizeof(num), "%ld", k);
    snprintf(before, sizeof(before), "%ld", k - 1);
    snprintf(after, sizeof(after), "%ld", k + 1);
    coffer_expect(f, &auditor, ARGS("audit", "verify"), 1, &r);
    if (!has_word(err_of(&r), num) || !has_word(err_of(&r), "hash_mismatch"))
        fail_msg("audit verify does not name row %s and hash_mismatch: %s", num, err_of(&r));
    o = one_of(&r);
    assert_true(json_is_false(json_object_get(o, "ok")));
    assert_int_equal(tapi_int(o, "first_bad_id"), k);
    assert_int_equal(tapi_int(o, "checked"), k - 1);
    assert_string_equal(tapi_str(o, "problem"), "hash_mismatch");
    json_decref(o);
    run_free(&r);
    /* the rows before it, and the rows after it (chained to its stored hash), still verify */
    coffer_ok(f, &auditor, ARGS("audit", "verify", "--to-id", before));
    coffer_ok(f, &auditor, ARGS("audit", "verify", "--from-id", after));
    coffer_expect(f, &auditor, ARGS("audit", "verify", "--from-id", num, "--to-id", num), 1, &r);
    assert_true(has_word(err_of(&r), num));
    run_free(&r);

    /* the field put back, the chain is whole again; then a row deleted is a missing row */
    tamper(f, "UPDATE audit_log SET actor = '" TAPI_ADMIN_ACTOR "' WHERE id = $1::bigint", k,
           " AND actor = '" TAPI_ADMIN_ACTOR "'", 1);
    coffer_ok(f, &auditor, ARGS("audit", "verify"));
    tamper(f, "DELETE FROM audit_log WHERE id = $1::bigint", k + 1, "", 0);
    coffer_expect(f, &auditor, ARGS("audit", "verify"), 1, &r);
    if (!has_word(err_of(&r), after) || !has_word(err_of(&r), "missing_row"))
        fail_msg("audit verify does not name row %s and missing_row: %s", after, err_of(&r));
    o = one_of(&r);
    assert_int_equal(tapi_int(o, "first_bad_id"), k + 1);
    json_decref(o);
    run_free(&r);
    coffer_ok(f, &auditor, ARGS("audit", "verify", "--to-id", num));
}

/* The group's fixture: one database, cofferd and moto keys for every test but the tamper one. */
static int group_setup(void **state)
{
    tkms_built_program("cli/coffer", coffer_path, sizeof(coffer_path));
    return tkms_setup(state);
}

int main(void)
{
    cf_json_init();
    /* the client's settings come from each run's environment only */
    static const char *const mine[] = {
        "COFFER_URL",           "COFFER_TOKEN",          "COFFER_TOKEN_FILE",
        "COFFER_AUTH_FROM",     "COFFER_AUTH_USER_TYPE", "COFFER_AUTH_TOKEN_VERSION",
        "COFFER_AUTH_LIFETIME", "COFFER_CACERT",         "COFFER_TIMEOUT",
        "COFFER_RETRY_FOR",     "COFFER_LOCAL_KEY_FILE", "COFFER_LOG_LEVEL",
    };
    for (size_t i = 0; i < N_OF(mine); i++)
        unsetenv(mine[i]);
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(
            test_help_of_the_client_and_of_every_command_exits_0_and_names_the_exit_codes),
        cmocka_unit_test(test_no_command_an_unknown_one_or_a_bad_option_is_a_usage_error_exit_2),
        cmocka_unit_test(test_token_generate_prints_tokens_and_headers_the_server_accepts),
        cmocka_unit_test(test_a_run_that_succeeds_prints_nothing_on_stderr),
        cmocka_unit_test(test_flags_override_their_variables_and_the_token_file_must_be_private),
        cmocka_unit_test(test_credential_commands_create_show_update_revert_and_list_revisions),
        cmocka_unit_test(test_update_value_keeps_the_other_pairs_whatever_the_input),
        cmocka_unit_test(test_update_metadata_sets_one_member_and_keeps_the_others),
        cmocka_unit_test(test_service_commands_create_map_unmap_revert_and_list_revisions),
        cmocka_unit_test(
            test_api_token_commands_create_list_and_revoke_and_a_revoked_token_exits_3),
        cmocka_unit_test(
            test_principal_commands_set_list_and_remove_and_the_role_applies_to_kmsauth),
        cmocka_unit_test(test_get_prints_the_bundle_as_json_and_get_service_is_a_synonym),
        cmocka_unit_test(
            test_get_env_dotenv_and_shell_formats_give_back_every_value_in_sh_dash_and_bash),
        cmocka_unit_test(
            test_keys_that_make_no_valid_or_the_same_variable_name_are_refused_with_exit_1),
        cmocka_unit_test(
            test_exec_gives_the_command_exactly_the_bundles_variables_and_its_exit_status),
        cmocka_unit_test(test_exec_retries_what_is_worth_retrying_until_the_bundle_comes),
        cmocka_unit_test(test_exec_never_runs_the_command_when_the_fetch_fails),
        cmocka_unit_test(test_values_from_stdin_round_trip_byte_for_byte),
        cmocka_unit_test(test_bad_input_is_refused_and_creates_nothing),
        cmocka_unit_test(
            test_secret_values_never_reach_a_command_line_or_the_output_without_reveal),
        cmocka_unit_test(test_each_kind_of_failure_has_its_exit_code_and_a_message_on_stderr),
        cmocka_unit_test(test_a_write_based_on_a_stale_revision_exits_6_and_changes_nothing),
        cmocka_unit_test(test_audit_list_prints_json_lines_of_the_rows_its_filters_select),
        cmocka_unit_test(test_audit_verify_walks_the_intact_chain_and_checks_the_head_it_was_given),
        cmocka_unit_test_setup_teardown(
            test_audit_verify_exits_1_naming_the_row_a_superuser_altered, tkms_setup,
            tkms_teardown),
    };
    int rc = t_run_group_tests(tests, group_setup, tkms_teardown);
    secrets_free();
    return rc;
}
