/* cli_token.c - `coffer token generate`: a kmsauth token, or its Authorization header. */
#include <stdio.h>

#include "cf_mem.h"
#include "cf_str.h"
#include "cli_cmds.h"

int cli_cmd_token(struct cli *c, const struct cli_args *a)
{
    char *token = NULL, username[160];
    int64_t version, lifetime;
    const char *v = cli_opt_value(a, "version");

    if (v == NULL)
        v = cli_get(c, "token-version", "2");
    if (cf_parse_i64(v, 1, 2, &version) != 0) {
        cli_errorf("--version is 1 or 2");
        return CLI_EUSAGE;
    }
    if (cf_parse_i64(cli_get(c, "lifetime", "10"), 1, 1440, &lifetime) != 0) {
        cli_errorf("--lifetime is 1 to 1440 minutes");
        return CLI_EUSAGE;
    }
    int rc = cli_kmsauth_token(c, cli_get(c, "from", NULL), cli_get(c, "user-type", "service"),
                               (int)version, (int)lifetime, &token, username);
    if (rc != CLI_OK)
        return rc;
    if (cli_flag(a, "header")) {
        char *h = cli_basic_header(username, token);
        (void)printf("%s\n", h);
        cf_free_cleanse_str(h);
    } else {
        (void)printf("%s\n", token);
    }
    cf_free_cleanse_str(token);
    return CLI_OK;
}
