/*
 * cli_get.c - `coffer get` and `coffer exec`: a service's bundle, printed or put into the
 * environment of a program that then replaces coffer.
 */
/* execvpe() is a GNU extension: PATH searched in coffer's environment, the child's given */
#define _GNU_SOURCE // NOLINT(bugprone-reserved-identifier,cert-dcl37-c,cert-dcl51-cpp)
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <openssl/rand.h>

#include "cf_json.h"
#include "cf_mem.h"
#include "cf_str.h"
#include "cf_time.h"
#include "cli_cmds.h"
#include "cli_env.h"
#include "cli_out.h"

extern char **environ;

#define BACKOFF_FIRST_MS 200
#define BACKOFF_MAX_MS   5000

static void sleep_ms(int64_t ms)
{
    struct timespec ts = { .tv_sec = ms / 1000, .tv_nsec = (ms % 1000) * 1000000 };
    while (nanosleep(&ts, &ts) != 0 && errno == EINTR)
        ;
}

/* A delay in [d/2, d] for d = first * 2^attempt, capped: "equal jitter", so that a fleet
 * that lost the network together does not come back in step. */
static int64_t backoff_ms(int attempt)
{
    int64_t d = BACKOFF_FIRST_MS;
    uint32_t rnd = 0;
    for (int i = 0; i < attempt && d < BACKOFF_MAX_MS; i++)
        d *= 2;
    d = d < BACKOFF_MAX_MS ? d : BACKOFF_MAX_MS;
    if (RAND_bytes((unsigned char *)&rnd, sizeof(rnd)) != 1)
        rnd = 0;
    return d / 2 + (int64_t)(rnd % (uint32_t)(d / 2 + 1));
}

/* GET the bundle, retrying what is worth retrying until retry_for seconds have passed. On
 * CLI_OK r holds the answer. */
static int fetch(struct cli *c, const char *service, bool metadata_only, int64_t retry_for,
                 struct cli_resp *r)
{
    struct cf_buf path = { 0 };
    int64_t deadline = cf_now_us() + retry_for * 1000000;
    int rc;

    cli_pathf(&path, "/v1/services/%s", service);
    cli_query(&path, "metadata_only", metadata_only ? "True" : "False");
    for (int attempt = 0;; attempt++) {
        rc = cli_request(c, "GET", path.data, NULL, true, r);
        bool again = rc == CLI_EUNAVAIL && (r->status == 0 || cli_retryable(r->status));
        int64_t wait = backoff_ms(attempt);
        if (rc == CLI_OK || !again || cf_now_us() + wait * 1000 > deadline)
            break;
        if (r->status == 0 && c->auth != NULL) {
            cli_errorf("no answer from %s (%s); retrying in %lld ms", c->url, r->error,
                       (long long)wait);
        } else if (r->status != 0) {
            cli_errorf("the server answered %ld; retrying in %lld ms", r->status, (long long)wait);
        } else {
            cli_errorf("no kmsauth token yet; retrying in %lld ms", (long long)wait);
        }
        cli_resp_free(r);
        sleep_ms(wait);
    }
    cf_buf_free(&path);
    if (rc != CLI_OK) {
        /* say why, once, now that no retry follows */
        if (r->status == 0 && c->auth != NULL) {
            cli_errorf("no answer from %s: %s", c->url, r->error);
        } else if (r->status != 0) {
            const char *msg = cf_json_str(r->json, "error");
            cli_errorf("%s: %s (HTTP %ld)", service, msg != NULL ? msg : "refused", r->status);
        }
    }
    return rc;
}

static int retry_for(const struct cli *c, const char *def, int64_t *out)
{
    if (cf_parse_i64(cli_get(c, "retry-for", def), 0, 86400, out) != 0) {
        cli_errorf("--retry-for is 0 to 86400 seconds");
        return CLI_EUSAGE;
    }
    return CLI_OK;
}

/* The values of a list option that names variables (--allow-env, --keep-env): out gets them,
 * NULL-terminated; CLI_EUSAGE if one is not a valid variable name. */
static int names_of(const struct cli_args *a, const char *opt, const char *out[CLI_SET_MAX + 1])
{
    size_t n = cli_opt_list(a, opt, out, CLI_SET_MAX); /* at most CLI_SET_MAX options are set */
    out[n < CLI_SET_MAX ? n : CLI_SET_MAX] = NULL;
    for (size_t i = 0; out[i] != NULL; i++) {
        if (!cli_env_name_valid(out[i])) {
            cli_errorf("--%s takes a variable name ([A-Za-z_][A-Za-z0-9_]*): %s", opt, out[i]);
            return CLI_EUSAGE;
        }
    }
    return CLI_OK;
}

/* --prefix and --allow-env are checked before anything is fetched; allow gets the names. */
static int check_names(const struct cli *c, const char *allow[CLI_SET_MAX + 1])
{
    const char *prefix = cli_opt_value(c->args, "prefix");
    if (prefix != NULL && !cli_env_name_valid(prefix)) {
        cli_errorf("--prefix must be a valid variable name: %s", prefix);
        return CLI_EUSAGE;
    }
    return names_of(c->args, "allow-env", allow);
}

/* The bundle's variables; names a program reads at start (cli_env_unsafe()) that allow does
 * not name are omitted with a warning (get) or refuse the whole bundle (exec). */
static int env_of(const struct cli *c, const json_t *bundle, const char *const *allow,
                  bool omit_unsafe, struct cli_env *env)
{
    char err[4096]; /* every refused variable is named, with its credential and key */
    const char *prefix = cli_opt_value(c->args, "prefix");
    struct cli_env_opts o = { .prefix = prefix,
                              .skip_invalid = cli_flag(c->args, "skip-invalid"),
                              .allow = allow,
                              .omit_unsafe = omit_unsafe };

    if (cli_env_from_bundle(bundle, &o, env, err, sizeof(err)) != 0) {
        cli_errorf("%s", err);
        return CLI_EFAIL;
    }
    return CLI_OK;
}

int cli_cmd_get(struct cli *c, const struct cli_args *a)
{
    const char *format = cli_opt_value(a, "format");
    enum cli_env_format f = CLI_ENV_SH;
    struct cli_resp r;
    struct cli_env env = { 0 };
    const char *allow[CLI_SET_MAX + 1];
    int64_t retry;
    int rc;

    if (format == NULL || strcmp(format, "json") == 0) {
        format = "json";
    } else if (strcmp(format, "env") == 0) {
        f = CLI_ENV_SH;
    } else if (strcmp(format, "dotenv") == 0) {
        f = CLI_ENV_DOTENV;
    } else if (strcmp(format, "shell") == 0) {
        f = CLI_ENV_EXPORT;
    } else {
        cli_errorf("--format is json, env, dotenv or shell");
        return CLI_EUSAGE;
    }
    bool json = strcmp(format, "json") == 0;
    if (!json && cli_flag(a, "metadata-only")) {
        cli_errorf("--metadata-only has no values to put in variables: use --format json");
        return CLI_EUSAGE;
    }
    if ((rc = retry_for(c, "0", &retry)) != CLI_OK || (rc = check_names(c, allow)) != CLI_OK)
        return rc;
    if ((rc = fetch(c, a->pos[0], cli_flag(a, "metadata-only"), retry, &r)) != CLI_OK)
        goto out;
    if (json) {
        (void)fwrite(r.body.data, 1, r.body.len, stdout);
        (void)fputc('\n', stdout);
        goto out;
    }
    if ((rc = env_of(c, r.json, allow, true, &env)) != CLI_OK)
        goto out;
    struct cf_buf text = { 0 };
    cli_env_write(&env, f, &text);
    if (isatty(STDOUT_FILENO)) { /* for people: nothing in a value may drive the terminal */
        cli_print_lines(text.data, text.len);
    } else { /* for programs: exactly what the bundle holds */
        (void)fwrite(text.data, 1, text.len, stdout);
    }
    cf_buf_free(&text);
out:
    cli_env_free(&env);
    cli_resp_free(&r);
    return rc;
}

int cli_cmd_exec(struct cli *c, const struct cli_args *a)
{
    struct cli_resp r;
    struct cli_env env = { 0 };
    const char *allow[CLI_SET_MAX + 1], *keep[CLI_SET_MAX + 1];
    char **envp = NULL;
    int64_t retry;
    int rc;

    if ((rc = retry_for(c, "30", &retry)) != CLI_OK || (rc = check_names(c, allow)) != CLI_OK ||
        (rc = names_of(a, "keep-env", keep)) != CLI_OK)
        return rc;
    if ((rc = fetch(c, a->pos[0], false, retry, &r)) != CLI_OK)
        goto out;
    if ((rc = env_of(c, r.json, allow, false, &env)) != CLI_OK)
        goto out;
    /* the command gets the bundle's secrets, not coffer's settings or the credentials coffer
     * fetched them with (the API token, its file, the local key file, AWS keys) */
    char **base = cli_env_inherited(environ, cli_flag(a, "pristine"), keep);
    envp = cli_env_envp(&env, base);
    free(base);
    cli_env_free(&env);
    cli_resp_free(&r); /* cleansed: only envp holds the values now */
    cf_free_cleanse_str(c->auth);
    c->auth = NULL;
    (void)fflush(stdout);
    (void)fflush(stderr);
    /* PATH is searched in coffer's own environment, as a shell would */
    execvpe(a->rest[0], a->rest, envp);
    int e = errno;
    cli_env_envp_free(envp);
    cli_errorf("cannot run %s (errno %d: %s)", a->rest[0], e,
               e == ENOENT ? "not found" : "not executable");
    return e == ENOENT ? 127 : 126;
out:
    cli_env_free(&env);
    cli_resp_free(&r);
    return rc;
}
