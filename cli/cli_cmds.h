/*
 * cli_cmds.h - the coffer client's commands: one table that the dispatcher, `--help`, the man
 * page and the bash completion are all made from, and the functions that run them.
 */
#ifndef CLI_CMDS_H
#define CLI_CMDS_H

#include <stdbool.h>
#include <stdio.h>

#include "cli_args.h"
#include "cli_http.h"

struct cli_cmd {
    const char *name;     /* "credential create" */
    const char *alias;    /* an older name that still works ("get-service"), or NULL */
    const char *synopsis; /* the positionals and options after the name */
    const char *summary;  /* one line */
    const char *help;     /* paragraphs, lines wrapped at 78 */
    const struct cli_opt *opts;
    int min_pos, max_pos;
    int stop_after;     /* exec: positionals after which the child's command line starts */
    enum cli_role role; /* the kmsauth user type when none is configured */
    int (*run)(struct cli *c, const struct cli_args *a);
};

/* Every command, ending with an entry whose name is NULL. */
extern const struct cli_cmd cli_commands[];

/* The options every command takes. */
extern const struct cli_opt cli_global_opts[];

/* The command whose name (or alias) is made of the words argv[0..n) for n = 1 or 2, longest
 * first; *used gets n. NULL if none. */
const struct cli_cmd *cli_find_command(int argc, char **argv, int *used);

/* The commands whose first word is word ("credential"), with their synopses; false if none. */
bool cli_help_group(FILE *out, const char *word);

/* `coffer --help`: every command, the global options, the environment and the exit codes. */
void cli_help_all(FILE *out);

/* `coffer CMD --help`. */
void cli_help_command(FILE *out, const struct cli_cmd *cmd);

/* `coffer help --man`: the same text as a man page (roff), for docs/coffer.1. */
void cli_help_man(FILE *out);

/* `coffer help --bash-completion`: the bash completion script, for docs/coffer.bash. */
void cli_help_completion(FILE *out);

/* The commands (cli_token.c, cli_get.c, cli_admin.c, cli_audit.c). */
int cli_cmd_token(struct cli *c, const struct cli_args *a);
int cli_cmd_get(struct cli *c, const struct cli_args *a);
int cli_cmd_exec(struct cli *c, const struct cli_args *a);
int cli_cmd_credential(struct cli *c, const struct cli_args *a);
int cli_cmd_service(struct cli *c, const struct cli_args *a);
int cli_cmd_api_token(struct cli *c, const struct cli_args *a);
int cli_cmd_principal(struct cli *c, const struct cli_args *a);
int cli_cmd_audit_list(struct cli *c, const struct cli_args *a);
int cli_cmd_audit_verify(struct cli *c, const struct cli_args *a);

/* The name of the command being run ("credential create"), for the admin functions that
 * serve several. */
extern const char *cli_current;

#endif
