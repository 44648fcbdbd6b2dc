/*
 * cli_help.c - the coffer client's command table and everything printed from it: --help for
 * the whole client and for each command, the man page and the bash completion.
 */
#include <string.h>

#include "cli_cmds.h"

const char *cli_current;

const struct cli_opt cli_global_opts[] = {
    { "url", CLI_VALUE, "URL", "COFFER_URL", "the server (default http://127.0.0.1:8080)" },
    { "token-file", CLI_VALUE, "PATH", "COFFER_TOKEN_FILE",
      "read the API token from PATH (mode 0600) instead of COFFER_TOKEN" },
    { "from", CLI_VALUE, "NAME", "COFFER_AUTH_FROM",
      "kmsauth: who the token says you are (default for get/exec: the SERVICE)" },
    { "user-type", CLI_VALUE, "service|user", "COFFER_AUTH_USER_TYPE",
      "kmsauth user type (default: service for get/exec/token, user for the rest)" },
    { "token-version", CLI_VALUE, "1|2", "COFFER_AUTH_TOKEN_VERSION",
      "kmsauth token version (default 2)" },
    { "lifetime", CLI_VALUE, "MINUTES", "COFFER_AUTH_LIFETIME",
      "kmsauth token lifetime, 1-1440 (default 10)" },
    { "auth-key", CLI_VALUE, "KEY", "COFFER_AUTH_KEY",
      "KMS key of service tokens (default alias/coffer-auth)" },
    { "user-auth-key", CLI_VALUE, "KEY", "COFFER_USER_AUTH_KEY",
      "KMS key of user tokens (default alias/coffer-user-auth)" },
    { "auth-context", CLI_VALUE, "NAME", "COFFER_AUTH_CONTEXT",
      "the server's kmsauth name (the token's \"to\")" },
    { "cacert", CLI_VALUE, "PATH", "COFFER_CACERT",
      "verify an https server against these CA certificates instead of the system's" },
    { "insecure", CLI_FLAG, NULL, NULL,
      "do not verify the server's certificate (warns; never the default)" },
    { "timeout", CLI_VALUE, "SECONDS", "COFFER_TIMEOUT", "limit of each request (default 30)" },
    { "json", CLI_FLAG, NULL, NULL, "print JSON (the default when stdout is not a terminal)" },
    { "help", CLI_FLAG, NULL, NULL, "print help and exit 0" },
    { NULL, CLI_FLAG, NULL, NULL, NULL },
};

static const struct cli_opt token_opts[] = {
    { "version", CLI_VALUE, "1|2", NULL, "token version (default 2; same as --token-version)" },
    { "header", CLI_FLAG, NULL, NULL,
      "print the whole \"Authorization: Basic ...\" header instead of the token" },
    { NULL, CLI_FLAG, NULL, NULL, NULL },
};

#define FETCH_OPTS                                                                                 \
    { "retry-for", CLI_VALUE, "SECONDS", "COFFER_RETRY_FOR",                                       \
      "retry a failed fetch (no answer, 429, 5xx, KMS down) with backoff and jitter for up to "    \
      "SECONDS" },                                                                                 \
        { "prefix", CLI_VALUE, "PREFIX", NULL, "put PREFIX before every variable name" },          \
    {                                                                                              \
        "skip-invalid", CLI_FLAG, NULL, NULL,                                                      \
            "skip (with a warning) keys that make no valid variable name, instead of failing"      \
    }

static const struct cli_opt get_opts[] = {
    { "format", CLI_VALUE, "json|env|dotenv|shell", NULL, "output format (default json)" },
    { "metadata-only", CLI_FLAG, NULL, NULL, "the bundle without values (format json only)" },
    FETCH_OPTS,
    { "allow-env", CLI_LIST, "NAME", NULL,
      "print NAME although programs read it at start (LD_PRELOAD, PATH...; repeatable)" },
    { NULL, CLI_FLAG, NULL, NULL, NULL },
};

static const struct cli_opt exec_opts[] = {
    { "pristine", CLI_FLAG, NULL, NULL,
      "give the command only the bundle's variables, not coffer's own environment" },
    FETCH_OPTS,
    { "allow-env", CLI_LIST, "NAME", NULL,
      "let the bundle set NAME although programs read it at start (LD_PRELOAD, PATH...; "
      "repeatable)" },
    { "keep-env", CLI_LIST, "NAME", NULL,
      "pass coffer's own NAME on (a COFFER_* setting, an AWS key; with --pristine, any; "
      "repeatable)" },
    { NULL, CLI_FLAG, NULL, NULL, NULL },
};

static const struct cli_opt no_opts[] = { { NULL, CLI_FLAG, NULL, NULL, NULL } };

static const struct cli_opt list_opts[] = {
    { "limit", CLI_VALUE, "N", NULL, "at most N items (default: all)" },
    { NULL, CLI_FLAG, NULL, NULL, NULL },
};

static const struct cli_opt cred_show_opts[] = {
    { "reveal", CLI_FLAG, NULL, NULL, "include the values (an audited, decrypted read)" },
    { NULL, CLI_FLAG, NULL, NULL, NULL },
};

#define CRED_WRITE_OPTS                                                                            \
    { "input", CLI_VALUE, "PATH", NULL,                                                            \
      "read the pairs, a JSON object of strings, from PATH ('-': stdin)" },                        \
        { "value", CLI_VALUE, "KEY", NULL,                                                         \
          "the input is the raw value of the one pair KEY, byte for byte" },                       \
        { "documentation", CLI_VALUE, "TEXT", NULL, "how to rotate it, who owns it" },             \
        { "metadata", CLI_LIST, "KEY=VALUE", NULL,                                                 \
          "set a metadata member, others kept; KEY= removes it (repeatable)" },                    \
    {                                                                                              \
        "tag", CLI_LIST, "TAG", NULL, "add a tag (repeatable)"                                     \
    }

static const struct cli_opt cred_create_opts[] = {
    CRED_WRITE_OPTS,
    { "disabled", CLI_FLAG, NULL, NULL, "create it disabled (mapped services get no values)" },
    { NULL, CLI_FLAG, NULL, NULL, NULL },
};

static const struct cli_opt cred_update_opts[] = {
    CRED_WRITE_OPTS,
    { "name", CLI_VALUE, "NAME", NULL, "rename it" },
    { "enable", CLI_FLAG, NULL, NULL, "enable it" },
    { "disable", CLI_FLAG, NULL, NULL, "disable it: mapped services stop getting its values" },
    { "expected-revision", CLI_VALUE, "N", NULL,
      "refuse (exit 6) unless it is at revision N (default: the revision just read)" },
    { NULL, CLI_FLAG, NULL, NULL, NULL },
};

static const struct cli_opt revert_opts[] = {
    { "expected-revision", CLI_VALUE, "N", NULL, "refuse (exit 6) unless it is at revision N" },
    { NULL, CLI_FLAG, NULL, NULL, NULL },
};

static const struct cli_opt svc_create_opts[] = {
    { "credential", CLI_LIST, "ID", NULL, "map this credential, by id or name (repeatable)" },
    { "disabled", CLI_FLAG, NULL, NULL, "create it disabled (it gets no bundle)" },
    { NULL, CLI_FLAG, NULL, NULL, NULL },
};

static const struct cli_opt svc_map_opts[] = {
    { "expected-revision", CLI_VALUE, "N", NULL,
      "refuse (exit 6) unless the service is at revision N (default: the revision just read)" },
    { NULL, CLI_FLAG, NULL, NULL, NULL },
};

static const struct cli_opt tok_create_opts[] = {
    { "role", CLI_VALUE, "admin|auditor", NULL, "the token's role (required)" },
    { "ttl", CLI_VALUE, "DURATION", NULL, "lifetime: 3600, 90m, 12h, 30d (default 90d)" },
    { NULL, CLI_FLAG, NULL, NULL, NULL },
};

static const struct cli_opt tok_list_opts[] = {
    { "include-revoked", CLI_FLAG, NULL, NULL, "also list revoked and expired tokens" },
    { NULL, CLI_FLAG, NULL, NULL, NULL },
};

static const struct cli_opt principal_set_opts[] = {
    { "role", CLI_VALUE, "admin|auditor", NULL, "the role (required)" },
    { NULL, CLI_FLAG, NULL, NULL, NULL },
};

static const struct cli_opt audit_list_opts[] = {
    { "since", CLI_VALUE, "TIME", NULL, "rows at or after TIME (RFC 3339)" },
    { "until", CLI_VALUE, "TIME", NULL, "rows before TIME" },
    { "actor", CLI_VALUE, "ACTOR", NULL, "e.g. token:deploy-bot, web-production" },
    { "actor-type", CLI_VALUE, "TYPE", NULL, "service, user, token, system or anonymous" },
    { "action", CLI_VALUE, "A[,A...]", NULL, "e.g. service.get,credential.update" },
    { "resource-type", CLI_VALUE, "TYPE", NULL, "service, credential, token, principal..." },
    { "resource-id", CLI_VALUE, "ID", NULL, "the resource's id" },
    { "result", CLI_VALUE, "allowed|denied|error", NULL, "the decision" },
    { "request-id", CLI_VALUE, "ID", NULL, "one request (its X-Request-Id)" },
    { "order", CLI_VALUE, "desc|asc", NULL, "by id (default desc: newest first)" },
    { "limit", CLI_VALUE, "N", NULL, "at most N rows (default 100)" },
    { "all", CLI_FLAG, NULL, NULL, "every matching row (pages through them)" },
    { NULL, CLI_FLAG, NULL, NULL, NULL },
};

static const struct cli_opt audit_verify_opts[] = {
    { "from-id", CLI_VALUE, "N", NULL, "start at row N (default 1)" },
    { "to-id", CLI_VALUE, "N", NULL, "stop at row N (default: the last row)" },
    { "expect-head", CLI_VALUE, "ID:HASH", NULL,
      "the log must hold row ID with hash HASH (a head kept elsewhere: catches a cut tail)" },
    { NULL, CLI_FLAG, NULL, NULL, NULL },
};

const struct cli_cmd cli_commands[] = {
    { "token generate", "token",
      "[--from NAME] [--user-type service|user] [--version 1|2] "
      "[--lifetime MINUTES] [--header]",
      "print a kmsauth token",
      "Makes a kmsauth token with KMS, exactly as the kmsauth library "
      "does: a 10-minute window\nencrypted under the auth key with the "
      "context {from, to, user_type}. The KMS\nsettings are "
      "cofferd's (COFFER_KMS_BACKEND, COFFER_LOCAL_KEY_FILE, AWS_*).",
      token_opts, 0, 0, 0, CLI_AS_SERVICE, cli_cmd_token },
    { "get", "get-service",
      "SERVICE [--format json|env|dotenv|shell] [--retry-for SECONDS] [--allow-env NAME]...",
      "print a service's bundle",
      "Fetches the service's bundle (GET /v1/services/SERVICE). env, dotenv and shell\nprint "
      "one variable per pair: upper-snake names (PREFIX + the credential's\n"
      "metadata.env_var_prefix + KEY, '-' and '.' as '_'), values quoted so that sh,\nbash "
      "and dash give back the exact bytes. Names that collide or are not valid\nshell names "
      "are refused. Names that the dynamic loader, the C library, shells\nor interpreters "
      "read at start (as for exec) are left out with a warning unless\n--allow-env NAME "
      "names them. Without COFFER_TOKEN it signs in as the service\nitself with a kmsauth "
      "token.",
      get_opts, 1, 1, 0, CLI_AS_SERVICE, cli_cmd_get },
    { "exec", NULL,
      "SERVICE [--pristine] [--retry-for SECONDS] [--allow-env NAME]... [--keep-env NAME]... "
      "[--] CMD [ARGS...]",
      "run a program with a service's secrets in its environment",
      "Fetches the bundle (retrying for --retry-for seconds, default 30, while the\nnetwork "
      "comes up), then replaces itself with CMD (no shell in between), its\nenvironment "
      "being coffer's own plus one variable per pair (named as by get),\nthe bundle's "
      "winning a clash. CMD's exit status is therefore coffer's. A fetch\nthat fails never "
      "runs CMD.\n\nA bundle may not set a name that a program reads at start unless "
      "--allow-env\nNAME names it: LD_* and DYLD_* (the dynamic loader), the C library's\n"
      "(GCONV_PATH, GLIBC_TUNABLES, LOCPATH, MALLOC_*, NLSPATH, RES_OPTIONS, TMPDIR,\n"
      "TZDIR...), the shells' (PATH, HOME, BASH_ENV, ENV, BASH_FUNC_*, SHELLOPTS,\n"
      "PS4, IFS, CDPATH, GLOBIGNORE...), the interpreters' (PYTHON*, PERL5*, PERLLIB,\nRUBYOPT, "
      "RUBYLIB, NODE_OPTIONS, NODE_PATH, JAVA_TOOL_OPTIONS, _JAVA_OPTIONS,\nCLASSPATH, "
      "PHPRC, LUA_*...) and the commands of git and ssh (GIT_SSH_COMMAND,\nGIT_CONFIG*, "
      "SSH_ASKPASS...). Such a bundle is refused (exit 1) naming each\nvariable, its "
      "credential and key, and CMD never runs.\n\nCMD does not inherit coffer's own "
      "settings (every COFFER_* variable) or the\nAWS variables that hold a credential "
      "(AWS_ACCESS_KEY_ID,\nAWS_SECRET_ACCESS_KEY, AWS_SESSION_TOKEN, AWS_SECURITY_TOKEN,\n"
      "AWS_CONTAINER_AUTHORIZATION_TOKEN): --keep-env NAME passes one on. A pair of\nthe "
      "bundle with such a name (an AWS key meant for CMD) is delivered all the\nsame.",
      exec_opts, 1, 1, 1, CLI_AS_SERVICE, cli_cmd_exec },
    { "credential list", NULL, "[--limit N]", "list credentials (no values)", NULL, list_opts, 0, 0,
      0, CLI_AS_USER, cli_cmd_credential },
    { "credential show", NULL, "ID [--reveal]", "show a credential",
      "Shows its metadata and keys; --reveal also shows the values (an audited read).",
      cred_show_opts, 1, 1, 0, CLI_AS_USER, cli_cmd_credential },
    { "credential create", NULL,
      "NAME [--input PATH] [--value KEY] [--documentation TEXT] [--metadata K=V]... [--tag "
      "T]... [--disabled]",
      "create a credential",
      "The pairs are read from stdin (or --input PATH), never from the command line,\nso they "
      "never show in ps: a JSON object of strings, or with --value KEY the raw\nbytes of one "
      "value. Prints the new credential without its values.",
      cred_create_opts, 1, 1, 0, CLI_AS_USER, cli_cmd_credential },
    { "credential update", NULL,
      "ID [--input PATH] [--value KEY] [--name NAME] [--enable|--disable] [--documentation "
      "TEXT] [--metadata K=V]... [--tag T]... [--expected-revision N]",
      "change a credential (a new revision)",
      "Reads the credential, then writes a new revision based on the revision it\nread "
      "(expected_revision): if another admin changed it meanwhile, nothing is\nwritten and "
      "coffer exits 6. New pairs come from --input (a JSON object that\nreplaces all pairs); "
      "--value KEY sets one pair from the raw input and keeps\nthe others. Without either, the "
      "pairs stay as they are.",
      cred_update_opts, 1, 1, 0, CLI_AS_USER, cli_cmd_credential },
    { "credential revert", NULL, "ID REVISION [--expected-revision N]",
      "write an old revision again as a new one", NULL, revert_opts, 2, 2, 0, CLI_AS_USER,
      cli_cmd_credential },
    { "credential history", NULL, "ID", "list a credential's revisions", NULL, no_opts, 1, 1, 0,
      CLI_AS_USER, cli_cmd_credential },
    { "credential diff", NULL, "ID OLD NEW", "what changed between two revisions (no values)", NULL,
      no_opts, 3, 3, 0, CLI_AS_USER, cli_cmd_credential },
    { "service list", NULL, "[--limit N]", "list services", NULL, list_opts, 0, 0, 0, CLI_AS_USER,
      cli_cmd_service },
    { "service show", NULL, "ID", "show a service and its credentials (no values)", NULL, no_opts,
      1, 1, 0, CLI_AS_USER, cli_cmd_service },
    { "service create", NULL, "ID [--credential ID]... [--disabled]", "create a service",
      "Refuses (exit 6) if the service exists.", svc_create_opts, 1, 1, 0, CLI_AS_USER,
      cli_cmd_service },
    { "service map", NULL, "ID CREDENTIAL... [--expected-revision N]",
      "map credentials to a service",
      "Adds the credentials (ids, or names) to the service's mapping, creating the\nservice "
      "if it does not exist. Based on the revision it read: a concurrent change\nexits 6.",
      svc_map_opts, 2, CLI_POS_MAX, 0, CLI_AS_USER, cli_cmd_service },
    { "service unmap", NULL, "ID CREDENTIAL... [--expected-revision N]",
      "remove credentials from a service",
      "Based on the revision it read: a concurrent change "
      "exits 6.",
      svc_map_opts, 2, CLI_POS_MAX, 0, CLI_AS_USER, cli_cmd_service },
    { "service revert", NULL, "ID REVISION [--expected-revision N]",
      "write an old mapping again as a new revision", NULL, revert_opts, 2, 2, 0, CLI_AS_USER,
      cli_cmd_service },
    { "service history", NULL, "ID", "list a service's revisions", NULL, no_opts, 1, 1, 0,
      CLI_AS_USER, cli_cmd_service },
    { "api-token create", NULL, "NAME --role admin|auditor [--ttl DURATION]",
      "make an API token (shown once)", NULL, tok_create_opts, 1, 1, 0, CLI_AS_USER,
      cli_cmd_api_token },
    { "api-token list", NULL, "[--include-revoked]", "list API tokens", NULL, tok_list_opts, 0, 0,
      0, CLI_AS_USER, cli_cmd_api_token },
    { "api-token revoke", NULL, "ID", "revoke an API token", NULL, no_opts, 1, 1, 0, CLI_AS_USER,
      cli_cmd_api_token },
    { "principal set", NULL, "NAME --role admin|auditor",
      "give a person (a kmsauth user name) a role", NULL, principal_set_opts, 1, 1, 0, CLI_AS_USER,
      cli_cmd_principal },
    { "principal remove", NULL, "NAME", "take a person's role away", NULL, no_opts, 1, 1, 0,
      CLI_AS_USER, cli_cmd_principal },
    { "principal list", NULL, "", "list people and their roles", NULL, no_opts, 0, 0, 0,
      CLI_AS_USER, cli_cmd_principal },
    { "audit list", NULL, "[filters] [--limit N | --all] [--order desc|asc]", "read the access log",
      "A table on a terminal; JSON lines (one row per line) with --json or when piped.\n"
      "The table shows control characters, bidirectional overrides and other\ninvisible "
      "characters as escapes (\\x1b, \\n, \\u202e), and the actor of a row\nwhose caller "
      "failed to authenticate as (unauthenticated) claimed \"NAME\":\na name that was never "
      "proven. JSON lines are the rows as the server sent\nthem (actor_proven is false in "
      "those rows).",
      audit_list_opts, 0, 0, 0, CLI_AS_USER, cli_cmd_audit_list },
    { "audit verify", NULL, "[--from-id N] [--to-id N] [--expect-head ID:HASH]",
      "check the access log's hash chain on this machine",
      "Pages through GET /v1/audit/events and recomputes every row's hash here,\ntrusting "
      "nothing the server computed: ids contiguous, each prev_hash the hash\nbefore it, each "
      "hash recomputed. Prints the head (ID:HASH) it reached; keep it\nsomewhere else and "
      "pass it as --expect-head next time, since a chain alone\ncannot show rows cut from its "
      "end. Exit 0 intact, 1 broken (naming the row).",
      audit_verify_opts, 0, 0, 0, CLI_AS_USER, cli_cmd_audit_verify },
    { NULL, NULL, NULL, NULL, NULL, NULL, 0, 0, 0, CLI_AS_USER, NULL },
};

static const char *const exit_codes[][2] = {
    { "0", "success" },
    { "1", "refused as invalid (HTTP 400, 413...), a broken audit chain, a bundle that makes "
           "no environment" },
    { "2", "usage or configuration error" },
    { "3", "authentication failed (HTTP 401)" },
    { "4", "forbidden (HTTP 403)" },
    { "5", "not found (HTTP 404)" },
    { "6", "conflict (HTTP 409): changed by someone else first, or the name is taken" },
    { "7", "server error or unavailable (HTTP 5xx, no answer, KMS unreachable)" },
    { "N", "exec: the exit status of CMD (126: not executable, 127: not found)" },
};

static const char *const environment[][2] = {
    { "COFFER_URL", "the server" },
    { "COFFER_TOKEN", "an API token (Bearer); without one, coffer makes a kmsauth token" },
    { "COFFER_TOKEN_FILE", "a file holding the API token" },
    { "COFFER_AUTH_FROM, COFFER_AUTH_USER_TYPE", "kmsauth name and user type" },
    { "COFFER_AUTH_KEY, COFFER_USER_AUTH_KEY", "KMS keys of service and user tokens" },
    { "COFFER_AUTH_CONTEXT", "the server's kmsauth name" },
    { "COFFER_AUTH_TOKEN_VERSION, COFFER_AUTH_LIFETIME", "kmsauth token version and minutes" },
    { "COFFER_KMS_BACKEND, COFFER_LOCAL_KEY_FILE", "KMS: aws or local, and the local key file" },
    { "AWS_REGION, AWS_ENDPOINT_URL_KMS, AWS_*", "the aws backend, as for cofferd" },
    { "COFFER_CACERT, COFFER_TIMEOUT, COFFER_RETRY_FOR", "as --cacert, --timeout, --retry-for" },
};

#define N_OF(a) (sizeof(a) / sizeof((a)[0]))

bool cli_help_group(FILE *out, const char *word)
{
    size_t n = strlen(word);
    bool any = false;
    for (const struct cli_cmd *c = cli_commands; c->name != NULL; c++) {
        if (strncmp(c->name, word, n) != 0 || c->name[n] != ' ')
            continue;
        if (!any)
            (void)fprintf(out, "coffer %s: one of\n", word);
        (void)fprintf(out, "  coffer %s %s\n", c->name, c->synopsis);
        any = true;
    }
    return any;
}

const struct cli_cmd *cli_find_command(int argc, char **argv, int *used)
{
    for (int n = 2; n >= 1; n--) {
        if (argc < n)
            continue;
        char words[128];
        int len = n == 2 ? snprintf(words, sizeof(words), "%s %s", argv[0], argv[1])
                         : snprintf(words, sizeof(words), "%s", argv[0]);
        if (len < 0 || (size_t)len >= sizeof(words))
            continue;
        for (const struct cli_cmd *c = cli_commands; c->name != NULL; c++) {
            if (strcmp(c->name, words) == 0 || (c->alias != NULL && strcmp(c->alias, words) == 0)) {
                *used = n;
                return c;
            }
        }
    }
    return NULL;
}

static void opt_line(FILE *out, const struct cli_opt *o)
{
    char left[64];
    if (snprintf(left, sizeof(left), "--%s%s%s", o->name, o->metavar != NULL ? " " : "",
                 o->metavar != NULL ? o->metavar : "") < 0)
        left[0] = '\0';
    (void)fprintf(out, "  %-28s %s", left, o->help);
    if (o->env != NULL)
        (void)fprintf(out, " [%s]", o->env);
    (void)fputc('\n', out);
}

void cli_help_all(FILE *out)
{
    (void)fputs("coffer - the client of cofferd, the coffer secrets service\n\n"
                "usage: coffer COMMAND [ARGS] [OPTIONS]   (coffer COMMAND --help for more)\n\n"
                "commands:\n",
                out);
    for (const struct cli_cmd *c = cli_commands; c->name != NULL; c++)
        (void)fprintf(out, "  %-18s %s\n", c->name, c->summary);
    (void)fputs("\noptions of every command (a flag overrides its variable):\n", out);
    for (const struct cli_opt *o = cli_global_opts; o->name != NULL; o++)
        opt_line(out, o);
    (void)fputs("\nenvironment:\n", out);
    for (size_t i = 0; i < N_OF(environment); i++)
        (void)fprintf(out, "  %-48s %s\n", environment[i][0], environment[i][1]);
    (void)fputs("\nexit status:\n", out);
    for (size_t i = 0; i < N_OF(exit_codes); i++)
        (void)fprintf(out, "  %s  %s\n", exit_codes[i][0], exit_codes[i][1]);
}

void cli_help_command(FILE *out, const struct cli_cmd *cmd)
{
    (void)fprintf(out, "usage: coffer %s %s\n\n%s.\n", cmd->name, cmd->synopsis, cmd->summary);
    if (cmd->alias != NULL)
        (void)fprintf(out, "(also: coffer %s)\n", cmd->alias);
    if (cmd->help != NULL)
        (void)fprintf(out, "\n%s\n", cmd->help);
    if (cmd->opts[0].name != NULL) {
        (void)fputs("\noptions:\n", out);
        for (const struct cli_opt *o = cmd->opts; o->name != NULL; o++)
            opt_line(out, o);
    }
    (void)fputs("\nand the options of every command (coffer --help).\n\nexit status:\n", out);
    for (size_t i = 0; i < N_OF(exit_codes); i++)
        (void)fprintf(out, "  %s  %s\n", exit_codes[i][0], exit_codes[i][1]);
}

/* Text for roff: a leading '.' or '\'' escaped, and every backslash and '-' escaped. */
static void roff(FILE *out, const char *s)
{
    bool bol = true;
    for (; *s != '\0'; s++) {
        if (bol && (*s == '.' || *s == '\''))
            (void)fputs("\\&", out);
        if (*s == '\\') {
            (void)fputs("\\e", out);
        } else if (*s == '-') {
            (void)fputs("\\-", out);
        } else {
            (void)fputc(*s, out);
        }
        bol = *s == '\n';
    }
}

static void man_opt(FILE *out, const struct cli_opt *o)
{
    (void)fputs(".TP\n\\fB", out);
    roff(out, "--");
    roff(out, o->name);
    (void)fputs("\\fR", out);
    if (o->metavar != NULL) {
        (void)fputs(" \\fI", out);
        roff(out, o->metavar);
        (void)fputs("\\fR", out);
    }
    (void)fputc('\n', out);
    roff(out, o->help);
    if (o->env != NULL) {
        (void)fputs(" (", out);
        roff(out, o->env);
        (void)fputc(')', out);
    }
    (void)fputc('\n', out);
}

void cli_help_man(FILE *out)
{
    (void)fputs(".\\\" Generated by `coffer help --man` from cli/cli_help.c: do not edit.\n"
                ".TH COFFER 1 \"\" \"coffer\" \"User Commands\"\n"
                ".SH NAME\ncoffer \\- the client of cofferd, the coffer secrets service\n"
                ".SH SYNOPSIS\n\\fBcoffer\\fR \\fICOMMAND\\fR [\\fIARGS\\fR] "
                "[\\fIOPTIONS\\fR]\n.SH COMMANDS\n",
                out);
    for (const struct cli_cmd *c = cli_commands; c->name != NULL; c++) {
        (void)fputs(".TP\n\\fBcoffer ", out);
        roff(out, c->name);
        (void)fputs("\\fR ", out);
        roff(out, c->synopsis);
        (void)fputc('\n', out);
        roff(out, c->summary);
        (void)fputs(".\n", out);
        if (c->alias != NULL) {
            (void)fputs("Also: \\fBcoffer ", out);
            roff(out, c->alias);
            (void)fputs("\\fR.\n", out);
        }
        if (c->help != NULL) {
            roff(out, c->help);
            (void)fputc('\n', out);
        }
        if (c->opts[0].name != NULL) {
            (void)fputs(".RS\n", out);
            for (const struct cli_opt *o = c->opts; o->name != NULL; o++)
                man_opt(out, o);
            (void)fputs(".RE\n", out);
        }
    }
    (void)fputs(".SH OPTIONS\nEvery command takes these; a flag overrides its environment "
                "variable.\n",
                out);
    for (const struct cli_opt *o = cli_global_opts; o->name != NULL; o++)
        man_opt(out, o);
    (void)fputs(".SH ENVIRONMENT\n", out);
    for (size_t i = 0; i < N_OF(environment); i++) {
        (void)fputs(".TP\n\\fB", out);
        roff(out, environment[i][0]);
        (void)fputs("\\fR\n", out);
        roff(out, environment[i][1]);
        (void)fputc('\n', out);
    }
    (void)fputs(".SH \"EXIT STATUS\"\n", out);
    for (size_t i = 0; i < N_OF(exit_codes); i++) {
        (void)fprintf(out, ".TP\n\\fB%s\\fR\n", exit_codes[i][0]);
        roff(out, exit_codes[i][1]);
        (void)fputc('\n', out);
    }
    (void)fputs(".SH \"SEE ALSO\"\n\\fBcofferd\\fR(8)\n", out);
}

static void words_of(FILE *out, const struct cli_opt *opts)
{
    for (const struct cli_opt *o = opts; o->name != NULL; o++)
        (void)fprintf(out, " --%s", o->name);
}

/* Every option that takes a value, once each, for the completion to skip the value. */
static void valued_opts(FILE *out)
{
    const char *done[CLI_SET_MAX];
    size_t n = 0;
    for (const struct cli_cmd *c = cli_commands; c->name != NULL; c++) {
        for (const struct cli_opt *o = c->opts; o->name != NULL; o++) {
            bool dup = false;
            for (size_t i = 0; i < n; i++)
                dup = dup || strcmp(done[i], o->name) == 0;
            if (o->kind == CLI_FLAG || dup || n == CLI_SET_MAX)
                continue;
            (void)fprintf(out, "%s--%s", n == 0 ? "" : "|", o->name);
            done[n++] = o->name;
        }
    }
    for (const struct cli_opt *o = cli_global_opts; o->name != NULL; o++) {
        if (o->kind != CLI_FLAG)
            (void)fprintf(out, "|--%s", o->name);
    }
}

void cli_help_completion(FILE *out)
{
    (void)fputs("# bash completion for coffer. Generated by `coffer help --bash-completion`\n"
                "# from cli/cli_help.c: do not edit. Install as\n"
                "# /usr/share/bash-completion/completions/coffer.\n"
                "_coffer() {\n"
                "    local cur=${COMP_WORDS[COMP_CWORD]} words=\"\" cmd=\"\" i\n"
                "    for ((i = 1; i < COMP_CWORD; i++)); do\n"
                "        case ${COMP_WORDS[i]} in\n"
                "        --*=*) ;;\n"
                "        ",
                out);
    valued_opts(out);
    (void)fputs(") ((i++)) ;;\n"
                "        -*) ;;\n"
                "        *) cmd=\"$cmd${cmd:+ }${COMP_WORDS[i]}\" ;;\n"
                "        esac\n"
                "    done\n"
                "    case $cmd in\n",
                out);
    /* the groups of two-word commands: their second words */
    for (const struct cli_cmd *c = cli_commands; c->name != NULL; c++) {
        size_t n = strcspn(c->name, " ");
        bool first = c->name[n] == ' ';
        for (const struct cli_cmd *d = cli_commands; d < c; d++)
            first = first && !(strcspn(d->name, " ") == n && memcmp(d->name, c->name, n) == 0);
        if (!first)
            continue;
        (void)fprintf(out, "    %.*s) words=\"", (int)n, c->name);
        for (const struct cli_cmd *d = cli_commands; d->name != NULL; d++) {
            if (strncmp(d->name, c->name, n) == 0 && d->name[n] == ' ')
                (void)fprintf(out, "%s ", d->name + n + 1);
        }
        (void)fputs("--help\" ;;\n", out);
    }
    /* a command, with or without its arguments typed: its options, when one is begun */
    for (const struct cli_cmd *c = cli_commands; c->name != NULL; c++) {
        (void)fprintf(out, "    \"%s\" | \"%s \"*", c->name, c->name);
        if (c->alias != NULL)
            (void)fprintf(out, " | \"%s\" | \"%s \"*", c->alias, c->alias);
        (void)fputs(")\n        [[ $cur == -* ]] && words=\"", out);
        words_of(out, c->opts);
        words_of(out, cli_global_opts);
        (void)fputs("\" ;;\n", out);
    }
    (void)fputs("    \"\") words=\"", out);
    for (const struct cli_cmd *c = cli_commands; c->name != NULL; c++) {
        size_t n = strcspn(c->name, " "); /* the first word */
        bool first = true;
        for (const struct cli_cmd *d = cli_commands; d < c; d++)
            first = first && !(strcspn(d->name, " ") == n && memcmp(d->name, c->name, n) == 0);
        if (first)
            (void)fprintf(out, "%.*s ", (int)n, c->name);
    }
    (void)fputs("help --help\" ;;\n    esac\n"
                "    if [[ -n $words ]]; then\n"
                "        mapfile -t COMPREPLY < <(compgen -W \"$words\" -- \"$cur\")\n"
                "    fi\n"
                "}\n"
                "complete -o default -F _coffer coffer\n",
                out);
}
