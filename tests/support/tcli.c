/* tcli.c - helpers of the coffer command-line client tests (tcli.h). */
#define _GNU_SOURCE /* memmem, strndup, cfmakeraw */
#include "tcli.h"

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

char coffer_path[600];

/* --- secrets that must never be on a command line ------------------------------------------- */

char *secrets[SECRETS_MAX];
size_t nsecrets;

/* Registers s: from now on no command line or environment given to coffer may contain it. */
void secret_add(const char *s)
{
    assert_true(nsecrets < SECRETS_MAX);
    secrets[nsecrets] = strdup(s);
    assert_non_null(secrets[nsecrets]);
    nsecrets++;
}

void secrets_free(void)
{
    for (size_t i = 0; i < nsecrets; i++)
        free(secrets[i]);
    nsecrets = 0;
}

/* A value nobody else uses: prefix and 8 random hex digits, registered as a secret. */
void secret_new(char *out, size_t cap, const char *prefix)
{
    tapi_name(out, cap, prefix);
    secret_add(out);
}

/* --- running coffer ------------------------------------------------------------------------- */

void run_free(struct run *r)
{
    cf_buf_free(&r->out);
    cf_buf_free(&r->err);
}

const char *out_of(const struct run *r)
{
    return r->out.data != NULL ? r->out.data : "";
}

const char *err_of(const struct run *r)
{
    return r->err.data != NULL ? r->err.data : "";
}

void strv_free(char **v)
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
char **env_of(const struct tkms *f, const struct how *h)
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

char **argv_of(const char *const args[])
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
void assert_no_secret_in(char *const *v, const char *what)
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
int coffer(const struct tkms *f, const struct how *h, const char *const args[], struct run *r)
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
const char *cmdline(const char *const args[])
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
char *run_diff(const struct run *r, int want, const char *needle)
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
void coffer_expect(const struct tkms *f, const struct how *h, const char *const args[], int want,
                   struct run *r)
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
void coffer_ok(const struct tkms *f, const struct how *h, const char *const args[])
{
    struct run r;
    coffer_expect(f, h, args, 0, &r);
    run_free(&r);
}

/* --- what coffer prints --------------------------------------------------------------------- */

/* stdout as JSON lines: every line one JSON object, the last one ended by a newline. Returns
 * an array of them (json_decref it). */
json_t *lines_of(const struct run *r)
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
json_t *one_of(const struct run *r)
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
json_t *item_with(const json_t *items, const char *key, const char *value)
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
bool has_word(const char *text, const char *word)
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
void assert_bytes(const char *what, const char *got, size_t glen, const char *want, size_t wlen)
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
void assert_json_bytes(const char *what, const json_t *v, const char *want)
{
    if (!json_is_string(v))
        fail_msg("%s is not a string", what);
    assert_bytes(what, json_string_value(v), json_string_length(v), want, strlen(want));
}

/* --- files, processes and terminals --------------------------------------------------------- */

/* A path under the test work folder nobody else uses. */
void work_path(char *out, size_t cap, const char *prefix)
{
    char name[64];
    tapi_name(name, sizeof(name), prefix);
    snprintf(out, cap, "%s/%s", t_env("COFFER_TEST_WORK"), name);
}

void write_file(const char *path, const char *data, size_t len, mode_t mode)
{
    int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, mode);
    if (fd < 0)
        fail_msg("cannot create %s (errno %d)", path, errno);
    assert_int_equal(write(fd, data, len), (ssize_t)len);
    close(fd);
    assert_int_equal(chmod(path, mode), 0);
}

void read_file(const char *path, struct cf_buf *out)
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

bool exists(const char *path)
{
    return access(path, F_OK) == 0;
}

/* Runs argv with its stdout on a terminal (a pty, raw mode) and stdin and stderr on
 * /dev/null: what people see. Returns the exit status. */
int run_tty(char *const argv[], char *const env[], struct cf_buf *out)
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

void live_start(const struct tkms *f, const struct how *h, const char *const args[], struct live *l)
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

void live_write(struct live *l, const char *s)
{
    assert_int_equal(write(l->in, s, strlen(s)), (ssize_t)strlen(s));
}

/* Closes its stdin, waits for it and collects what it printed. */
int live_end(struct live *l, struct run *r)
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
bool proc_read(pid_t pid, const char *file, struct cf_buf *out)
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

bool buf_has(const struct cf_buf *b, const char *needle)
{
    return b->len >= strlen(needle) && memmem(b->data, b->len, needle, strlen(needle)) != NULL;
}

/* The pids of every process whose command line holds needle ("" if none; free() it). */
char *argv_holders(const char *needle)
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

/* True once the process's command line starts with w->prefix (it has exec'd). */
bool cmdline_is(void *arg)
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
void api_cred(const struct tkms *f, const char *prefix, const char *pairs, bool enabled, char *name,
              size_t ncap, char id[TAPI_ID_LEN])
{
    tapi_name(name, ncap, prefix);
    char *body = tapi_printf("{\"name\": \"%s\", \"credential_pairs\": %s, \"enabled\": %s}", name,
                             pairs, enabled ? "true" : "false");
    json_decref(tapi_cred_post(&f->api, body, id));
    free(body);
}

/* GET path as the admin; asserts 200 and returns the body (json_decref it). */
json_t *api_get(const struct tkms *f, const char *path)
{
    struct t_resp r;
    tapi_send(&f->api, f->api.admin, "GET", NULL, &r, "%s", path);
    json_t *b = tapi_ok(&r);
    t_resp_free(&r);
    return b;
}

/* The credential as the admin reads it now, values included (json_decref it). */
json_t *api_cred_get(const struct tkms *f, const char *id)
{
    char path[128];
    snprintf(path, sizeof(path), "/v1/credentials/%s?metadata_only=False", id);
    return api_get(f, path);
}

/* The service's metadata as the admin reads it now (json_decref it). */
json_t *api_svc_get(const struct tkms *f, const char *sid)
{
    char path[256];
    snprintf(path, sizeof(path), "/v1/services/%s?metadata_only=True", sid);
    return api_get(f, path);
}

/* The ids of a service's credentials, each followed by a comma (free() it). */
char *svc_cred_ids(const struct tkms *f, const char *sid)
{
    json_t *s = api_svc_get(f, sid);
    char *ids = tapi_ids_of(json_object_get(s, "credentials"));
    json_decref(s);
    return ids;
}

/* A PostgreSQL string literal body for a value made of [A-Za-z0-9_:.-] (checked). */
const char *sql_safe(const char *s)
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
void tamper(struct tkms *f, const char *sql, long id, const char *and, long want)
{
    char num[32];
    snprintf(num, sizeof(num), "%ld", id);
    taudit_tamper(&f->api.db, sql, num);
    char *q = tapi_printf("SELECT count(*) FROM audit_log WHERE id = %ld%s", id, and);
    assert_int_equal(tapi_count(&f->api, q), want);
    free(q);
}

/* A URL of 127.0.0.1 where nothing listens. */
void dead_url(char *out, size_t cap)
{
    snprintf(out, cap, "http://127.0.0.1:%d", t_free_port());
}

/* --- values that shells and JSON encoders mangle -------------------------------------------- */

/* Bytes a shell or a JSON encoder could mangle: quotes of every kind, $, backticks, command
 * substitution that would touch marker, backslashes (one ending a line), escapes, a tab, CR,
 * control bytes, non-ASCII UTF-8 (bytes 0x81-0x8a included, which dash uses internally), and
 * trailing newlines. tag makes it unique (free() it). */
char *tricky_value(const char *tag, const char *marker)
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

/* Sources file in shell (after set -a if set_a) and prints $name with printf '%s' into r. */
void shell_value(const char *shell, const char *file, bool set_a, const char *name, struct run *r)
{
    char *script =
        tapi_printf("%s. '%s'; printf '%%s' \"$%s\"", set_a ? "set -a; " : "", file, name);
    char *const argv[] = { (char *)shell, "-c", script, NULL };
    *r = (struct run){ 0 };
    r->rc = t_run_io(argv, NULL, NULL, 0, &r->out, &r->err);
    free(script);
}

void tcli_init(void)
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
}

int tcli_group_setup(void **state)
{
    tkms_built_program("cli/coffer", coffer_path, sizeof(coffer_path));
    return tkms_setup(state);
}

void tcli_finish(void)
{
    secrets_free();
}
