/*
 * cli_args.h - the coffer client's command line: option specs, parsing, and settings that a
 * flag, an environment variable or a default give, in that order of precedence.
 */
#ifndef CLI_ARGS_H
#define CLI_ARGS_H

#include <stdbool.h>
#include <stddef.h>

#include "cf_err.h"

#define CLI_POS_MAX 64  /* positional arguments of one command */
#define CLI_SET_MAX 128 /* options given on one command line */

enum cli_opt_kind {
    CLI_FLAG,  /* --name */
    CLI_VALUE, /* --name VALUE or --name=VALUE; the last one given wins */
    CLI_LIST,  /* the same, repeatable: every value counts */
};

/* One option: its name without the dashes, the environment variable that gives it when the
 * flag is absent (NULL: none), its placeholder and its help line. Arrays of specs end with an
 * entry whose name is NULL. */
struct cli_opt {
    const char *name;
    enum cli_opt_kind kind;
    const char *metavar;
    const char *env;
    const char *help;
};

/* A parsed command line. */
struct cli_args {
    const char *pos[CLI_POS_MAX];
    int npos;
    struct {
        const struct cli_opt *opt;
        const char *value; /* NULL for a flag */
    } set[CLI_SET_MAX];
    int nset;
    char **rest; /* with stop_after: the command line after the positionals (argv's tail) */
    int nrest;
};

/* Parses argv[0..argc) against two spec arrays (the global options and the command's, either
 * may be NULL). With stop_after > 0, the first non-option after stop_after positionals (or a
 * "--" anywhere) ends the parse: what follows is a->rest, untouched. Otherwise "--" makes
 * every later argument positional. CF_ECONFIG with a message in err for an unknown option, a
 * missing value, or too many arguments. */
CF_MUST_CHECK int cli_args_parse(int argc, char **argv, const struct cli_opt *global,
                                 const struct cli_opt *cmd, int stop_after, struct cli_args *a,
                                 char *err, size_t errcap);

/* True if the flag was given. */
bool cli_flag(const struct cli_args *a, const char *name);

/* The last value given for name, else NULL. */
const char *cli_opt_value(const struct cli_args *a, const char *name);

/* The values given for a list option, in order: up to cap of them into out; returns how many
 * were given (which may exceed cap). */
size_t cli_opt_list(const struct cli_args *a, const char *name, const char **out, size_t cap);

/* The setting named name: the flag's value, else its spec's environment variable when set and
 * not empty, else def. The spec is found in global and cmd. */
const char *cli_setting(const struct cli_args *a, const struct cli_opt *global,
                        const struct cli_opt *cmd, const char *name, const char *def);

#endif
