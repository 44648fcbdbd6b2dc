/*
 * cli_env.h - a bundle's pairs as environment variables: names, checks and shell quoting.
 *
 * Used by `coffer get --format env|dotenv|shell` and by `coffer exec`. A pair's variable name
 * comes from its key (cli_env_name()); names that are not valid shell names, or that two pairs
 * would share, are refused, because a service that boots with the wrong variables is worse
 * than one that does not boot.
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
};

/* True if s is a valid shell variable name: [A-Za-z_][A-Za-z0-9_]*, 1..CLI_ENV_NAME_MAX-1
 * bytes. */
bool cli_env_name_valid(const char *s);

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
 * On CF_EINVAL (an invalid name without skip_invalid, two pairs giving the same name, a
 * value that is not a string, a bundle of the wrong shape) a message naming the credential
 * id(s) and key(s) -- never a value -- is written to err[0..errcap). Free with
 * cli_env_free(). */
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
