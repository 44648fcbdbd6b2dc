/*
 * cli_env.h - a bundle's pairs as environment variables: names, checks and shell quoting.
 *
 * Used by `coffer get --format env|dotenv|shell` and by `coffer exec`. A pair's variable name
 * comes from its key (cli_env_name()); names that are not valid shell names, or that two pairs
 * would share, are refused, because a service that boots with the wrong variables is worse
 * than one that does not boot. Names that the dynamic loader, the C library, a shell or an
 * interpreter reads at start (LD_PRELOAD, PATH, BASH_ENV, PYTHONPATH...: cli_env_unsafe()) are
 * refused too unless allowed by name, because whoever may edit a mapped credential must not
 * thereby run code on every host that boots with `coffer exec`. And coffer's own settings
 * (COFFER_*) and the AWS credentials it may have used stay out of the command's environment
 * (cli_env_withheld()).
 */
#ifndef CLI_ENV_H
#define CLI_ENV_H

#include <stdbool.h>
#include <stddef.h>

#include <jansson.h>

#include "cf_err.h"
#include "cf_str.h"

#define CLI_ENV_NAME_MAX 256 /* bytes of one variable name, NUL included */

/* One variable: its name and its value (borrowed from the bundle's JSON). */
struct cli_env_var {
    char name[CLI_ENV_NAME_MAX];
    const char *value;
    size_t value_len;
    const char *credential; /* the id of the credential it comes from (for messages) */
    const char *key;        /* the pair key it comes from */
};

/* The variables of one bundle. */
struct cli_env {
    struct cli_env_var *vars;
    size_t n;
};

/* How names are made and checked. */
struct cli_env_opts {
    const char
        *prefix; /* put before every name (and before a credential's own prefix); may be NULL */
    bool skip_invalid; /* skip (with a warning on stderr) names that are not valid, instead of
                          refusing the bundle; a collision is always refused */
    const char *const *allow; /* unsafe names (cli_env_unsafe()) allowed all the same, by exact
                                 name: NULL-terminated; NULL allows none */
    bool omit_unsafe; /* omit (with a warning on stderr) unsafe names not allowed, instead of
                         refusing the bundle (get prints the rest; exec refuses) */
};

/* True if s is a valid shell variable name: [A-Za-z_][A-Za-z0-9_]*, 1..CLI_ENV_NAME_MAX-1
 * bytes. */
bool cli_env_name_valid(const char *s);

/* Who reads a variable of this name when a program starts, in a few words ("the dynamic
 * loader", "bash", "python"...), if the name is one that a bundle may set only when allowed by
 * name; NULL if it is not. One table (cli_env.c) covers, by exact name or by prefix:
 *   - the dynamic loader and the C library: LD_*, DYLD_*, and the rest of glibc's own list of
 *     variables it ignores in setuid programs (GCONV_PATH, GETCONF_DIR, GLIBC_TUNABLES,
 *     HOSTALIASES, LOCALDOMAIN, LOCPATH, MALLOC_*, NIS_PATH, NLSPATH, RESOLV_HOST_CONF,
 *     RES_OPTIONS, TMPDIR, TZDIR);
 *   - shells: PATH, HOME, BASH_ENV, ENV, BASH_FUNC_*, SHELLOPTS, BASHOPTS, PS4,
 *     PROMPT_COMMAND, IFS, CDPATH, GLOBIGNORE, ZDOTDIR;
 *   - interpreters: PYTHON*, PERL5*, PERLLIB, RUBYOPT, RUBYLIB, NODE_OPTIONS, NODE_PATH,
 *     JAVA_TOOL_OPTIONS, _JAVA_OPTIONS, JDK_JAVA_OPTIONS, CLASSPATH, PHPRC, PHP_INI_SCAN_DIR,
 *     LUA_*;
 *   - commands that git and ssh run: GIT_SSH, GIT_SSH_COMMAND, GIT_ASKPASS, SSH_ASKPASS,
 *     GIT_EXEC_PATH, GIT_CONFIG*.
 * Names are compared as they are (bundle names are upper-cased before they get here). */
const char *cli_env_unsafe(const char *name);

/* True if coffer's own variable of this name (the first len bytes of name) stays out of the
 * environment exec gives its command unless kept by name: every COFFER_* setting, and the AWS
 * variables that hold a credential (AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY,
 * AWS_SESSION_TOKEN, AWS_SECURITY_TOKEN, AWS_CONTAINER_AUTHORIZATION_TOKEN). Those that only
 * say where a credential is (AWS_PROFILE, AWS_SHARED_CREDENTIALS_FILE,
 * AWS_CONTAINER_CREDENTIALS_*, AWS_CONTAINER_AUTHORIZATION_TOKEN_FILE) and the rest of AWS_*
 * (AWS_REGION...) pass: the command runs as the same user on the same host and reaches those
 * places anyway, and it is often the service's own way to its AWS role. */
bool cli_env_withheld(const char *name, size_t len);

/* The entries of own (coffer's own environment) that exec's command inherits, borrowed
 * (free() the array only): every entry but the withheld ones (cli_env_withheld()) -- or, if
 * pristine, none -- plus, either way, those whose names are in keep (NULL-terminated; may be
 * NULL). */
char **cli_env_inherited(char *const *own, bool pristine, const char *const *keep);

/* The upper-snake name of a pair: prefix + credential_prefix + key (either prefix may be NULL),
 * ASCII letters upper-cased, '-' and '.' turned into '_'. Any other byte outside [A-Za-z0-9_]
 * is kept as it is, so that the name is invalid and refused rather than silently mangled.
 * CF_ETOOBIG if it does not fit out[CLI_ENV_NAME_MAX]. The result may be invalid (a leading
 * digit, a space): check it with cli_env_name_valid(). */
CF_MUST_CHECK int cli_env_name(const char *prefix, const char *credential_prefix, const char *key,
                               char out[CLI_ENV_NAME_MAX]);

/* Builds the variables of a bundle (the JSON of GET /v1/services/<id>): for every credential
 * in "credentials", in order, every member of "credential_pairs" (string values only;
 * disabled credentials have none). metadata.env_var_prefix is the credential's prefix.
 * On CF_EINVAL (an invalid name without skip_invalid, two pairs giving the same name, unsafe
 * names neither allowed nor omitted, a value that is not a string, a bundle of the wrong
 * shape) a message naming the credential id(s), key(s) and, for unsafe names, every such
 * variable -- never a value -- is written to err[0..errcap). opts NULL: no prefix, nothing
 * skipped, omitted or allowed. Free with cli_env_free(). */
CF_MUST_CHECK int cli_env_from_bundle(const json_t *bundle, const struct cli_env_opts *opts,
                                      struct cli_env *out, char *err, size_t errcap);

/* Frees the array (the values belong to the bundle). */
void cli_env_free(struct cli_env *env);

/* The output formats of `coffer get`. */
enum cli_env_format {
    CLI_ENV_SH,     /* "env":    NAME='value'        (set -a; . file) */
    CLI_ENV_DOTENV, /* "dotenv": NAME="value"        (\, ", $ and ` escaped by a backslash) */
    CLI_ENV_EXPORT, /* "shell":  export NAME='value' */
};

/* Appends one line per variable to out in the format, quoted so that sh, bash and dash, when
 * they source it, give back exactly the value's bytes (newlines, quotes, $, backticks,
 * backslashes and non-ASCII included). In single quotes a ' is written as '\''. */
void cli_env_write(const struct cli_env *env, enum cli_env_format format, struct cf_buf *out);

/* A NULL-terminated environment for execve(): base (may be NULL: nothing inherited, as with
 * --pristine) without the entries whose names the bundle sets, then the bundle's NAME=value
 * entries. Every string is malloc'd; free with cli_env_envp_free(), which cleanses them. */
char **cli_env_envp(const struct cli_env *env, char *const *base);
void cli_env_envp_free(char **envp);

#endif
