/*
 * svc_cmd_principal.c - `cofferd principal set|remove|list`: people's roles straight in the
 * database (API.md 8.4), each audited as `system` with a change notification.
 */
#include <stdio.h>
#include <string.h>

#include <jansson.h>

#include "auth.h"
#include "cf_json.h"
#include "db_credentials.h"
#include "db_principals.h"
#include "svc.h"
#include "svc_cmd.h"

static void print_json(json_t *v)
{
    char *s = json_dumps(v, JSON_INDENT(2));
    if (s != NULL)
        (void)printf("%s\n", s);
    cf_json_free_str(s);
}

/* Runs one principal command in a transaction with its access-log row. */
static int principal_tx(struct db_conn *c, const char *verb, const char *name, const char *role,
                        json_t **out)
{
    char actor[DB_ACTOR_MAX + 1];
    bool created;
    int r;

    svc_cmd_actor(actor, sizeof(actor));
    if ((r = db_tx_begin(c)) != 0)
        return r;
    if (strcmp(verb, "set") == 0) {
        r = db_principal_set(c, name, role, actor, out, &created);
    } else if (strcmp(verb, "remove") == 0) {
        r = db_principal_remove(c, name, out);
    } else {
        r = db_principal_list(c, out);
    }
    if (r == 0) {
        char action[32];
        (void)snprintf(action, sizeof(action), "principal.%s", verb); /* a fixed verb: fits */
        r = svc_cmd_audit(c, action, "principal", name);
    }
    if (r == 0 && name != NULL)
        r = db_notify_change(c, "principal", name);
    return db_tx_end(c, r);
}

static int parse_args(int argc, char **argv, const char **verb, const char **name,
                      const char **role)
{
    *verb = argc > 1 ? argv[1] : "";
    *name = NULL;
    *role = NULL;
    if (strcmp(*verb, "list") == 0 && argc == 2)
        return 0;
    if (strcmp(*verb, "remove") == 0 && argc == 3) {
        *name = argv[2];
    } else if (strcmp(*verb, "set") == 0 && argc == 5 && strcmp(argv[3], "--role") == 0) {
        enum auth_role parsed;
        *name = argv[2];
        *role = argv[4];
        if (auth_role_parse(*role, &parsed) != 0)
            return svc_cmd_usage("principal set: --role must be admin or auditor");
    } else {
        return svc_cmd_usage("principal: expected `set NAME --role ROLE`, `remove NAME` or "
                             "`list`");
    }
    if (!svc_principal_name_valid(*name)) {
        return svc_cmd_usage("principal: a name is 1-128 printable ASCII characters without / "
                             "or :");
    }
    return 0;
}

int svc_cmd_principal(const struct cf_config *cfg, int argc, char **argv)
{
    const char *verb, *name, *role;
    struct db_conn *c = NULL;
    json_t *out = NULL;
    int r;

    if ((r = parse_args(argc, argv, &verb, &name, &role)) != 0)
        return r;
    if (db_connect(cfg->database_url, &c) != 0) {
        (void)fputs("cofferd principal: cannot connect to the database\n", stderr);
        return 1;
    }
    r = principal_tx(c, verb, name, role, &out);
    db_disconnect(c);
    if (r == CF_ENOTFOUND) {
        (void)fprintf(stderr, "cofferd principal: no principal named '%s'\n", name);
    } else if (r != 0) {
        (void)fprintf(stderr, "cofferd principal %s: failed: %s\n", verb, cf_strerror(r));
    } else {
        print_json(out);
    }
    json_decref(out);
    return r == 0 ? 0 : 1;
}
