/*
 * coffer.c - the coffer command-line client: finds the command, parses its line, runs it.
 *
 * Every command, option, variable and exit code is in cli_help.c's table; `coffer --help`,
 * `coffer CMD --help`, the man page (docs/coffer.1) and the bash completion (docs/coffer.bash)
 * are printed from it.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <curl/curl.h>

#include "cf_json.h"
#include "cli_cmds.h"

/* `coffer help [--man | --bash-completion | COMMAND]`. */
static int help(int argc, char **argv)
{
    int used = 0;
    if (argc == 1 && strcmp(argv[0], "--man") == 0) {
        cli_help_man(stdout);
        return CLI_OK;
    }
    if (argc == 1 && strcmp(argv[0], "--bash-completion") == 0) {
        cli_help_completion(stdout);
        return CLI_OK;
    }
    const struct cli_cmd *cmd = argc > 0 ? cli_find_command(argc, argv, &used) : NULL;
    if (argc > 0 && (cmd == NULL || used != argc)) {
        cli_errorf("no such command: %s (see coffer --help)", argv[0]);
        return CLI_EUSAGE;
    }
    if (cmd != NULL) {
        cli_help_command(stdout, cmd);
    } else {
        cli_help_all(stdout);
    }
    return CLI_OK;
}

static bool asks_help(int argc, char **argv, int upto)
{
    for (int i = 0; i < argc && i < upto; i++) {
        if (strcmp(argv[i], "--") == 0)
            return false;
        if (strcmp(argv[i], "--help") == 0 || strcmp(argv[i], "-h") == 0)
            return true;
    }
    return false;
}

static int run(int argc, char **argv)
{
    struct cli_args a;
    struct cli c;
    char err[256];
    int used = 0, rc;

    if (argc == 0 || strcmp(argv[0], "--help") == 0 || strcmp(argv[0], "-h") == 0) {
        cli_help_all(argc == 0 ? stderr : stdout);
        return argc == 0 ? CLI_EUSAGE : CLI_OK;
    }
    if (strcmp(argv[0], "help") == 0)
        return help(argc - 1, argv + 1);
    const struct cli_cmd *cmd = cli_find_command(argc, argv, &used);
    if (cmd == NULL) {
        bool group_help = argc > 1 && strcmp(argv[1], "--help") == 0;
        if (cli_help_group(group_help ? stdout : stderr, argv[0]))
            return group_help ? CLI_OK : CLI_EUSAGE;
        cli_errorf("no such command: %s (see coffer --help)", argv[0]);
        return CLI_EUSAGE;
    }
    argc -= used;
    argv += used;
    if (cli_args_parse(argc, argv, cli_global_opts, cmd->opts, cmd->stop_after, &a, err,
                       sizeof(err)) != 0) {
        if (asks_help(argc, argv, argc)) {
            cli_help_command(stdout, cmd);
            return CLI_OK;
        }
        cli_errorf("%s: %s", cmd->name, err);
        return CLI_EUSAGE;
    }
    if (cli_flag(&a, "help")) {
        cli_help_command(stdout, cmd);
        return CLI_OK;
    }
    if (a.npos < cmd->min_pos || a.npos > cmd->max_pos || (cmd->stop_after > 0 && a.nrest == 0)) {
        cli_errorf("usage: coffer %s %s", cmd->name, cmd->synopsis);
        return CLI_EUSAGE;
    }
    if ((rc = cli_init(&c, cli_global_opts, cmd->opts, &a)) != CLI_OK) {
        cli_fini(&c);
        return rc;
    }
    c.role = cmd->role;
    c.service = cmd->role == CLI_AS_SERVICE && a.npos > 0 ? a.pos[0] : NULL;
    cli_current = cmd->name;
    rc = cmd->run(&c, &a);
    cli_fini(&c);
    return rc;
}

int main(int argc, char **argv)
{
    cf_json_init();
    curl_global_init(CURL_GLOBAL_DEFAULT);
    int rc = run(argc - 1, argv + 1);
    if (fflush(stdout) != 0 && rc == CLI_OK) {
        cli_errorf("cannot write the output");
        rc = CLI_EFAIL;
    }
    curl_global_cleanup();
    return rc;
}
