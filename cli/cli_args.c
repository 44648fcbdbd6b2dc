/* cli_args.c - parsing the coffer client's command line against option specs. */
#include "cli_args.h"

#include <stdlib.h>
#include <string.h>

#include "cf_str.h"

static const struct cli_opt *find(const struct cli_opt *specs, const char *name, size_t len)
{
    for (const struct cli_opt *o = specs; o != NULL && o->name != NULL; o++) {
        if (strlen(o->name) == len && strncmp(o->name, name, len) == 0)
            return o;
    }
    return NULL;
}

static int add(struct cli_args *a, const struct cli_opt *o, const char *value, char *err,
               size_t errcap)
{
    if (a->nset >= CLI_SET_MAX)
        return cf_config_error(err, errcap, "too many options");
    a->set[a->nset].opt = o;
    a->set[a->nset].value = value;
    a->nset++;
    return 0;
}

/* One "--name[=value]" at argv[*i]; takes the next argument as its value when it needs one. */
static int parse_option(int argc, char **argv, int *i, const struct cli_opt *global,
                        const struct cli_opt *cmd, struct cli_args *a, char *err, size_t errcap)
{
    const char *arg = argv[*i] + 2;
    const char *eq = strchr(arg, '=');
    size_t len = eq != NULL ? (size_t)(eq - arg) : strlen(arg);
    const struct cli_opt *o = find(cmd, arg, len);

    if (o == NULL)
        o = find(global, arg, len);
    if (o == NULL)
        return cf_config_error(err, errcap, "unknown option --%.*s (see --help)", (int)len, arg);
    if (o->kind == CLI_FLAG) {
        if (eq != NULL)
            return cf_config_error(err, errcap, "--%s takes no value", o->name);
        return add(a, o, NULL, err, errcap);
    }
    if (eq != NULL)
        return add(a, o, eq + 1, err, errcap);
    if (*i + 1 >= argc)
        return cf_config_error(err, errcap, "--%s needs a value (%s)", o->name, o->metavar);
    (*i)++;
    return add(a, o, argv[*i], err, errcap);
}

int cli_args_parse(int argc, char **argv, const struct cli_opt *global, const struct cli_opt *cmd,
                   int stop_after, struct cli_args *a, char *err, size_t errcap)
{
    bool only_positional = false;
    int r;

    *a = (struct cli_args){ 0 };
    for (int i = 0; i < argc; i++) {
        const char *arg = argv[i];
        if (!only_positional && strcmp(arg, "--") == 0) {
            if (stop_after > 0) {
                a->rest = argv + i + 1;
                a->nrest = argc - i - 1;
                return 0;
            }
            only_positional = true;
            continue;
        }
        if (!only_positional && arg[0] == '-' && arg[1] == '-' && arg[2] != '\0') {
            if ((r = parse_option(argc, argv, &i, global, cmd, a, err, errcap)) != 0)
                return r;
            continue;
        }
        if (!only_positional && arg[0] == '-' && arg[1] != '\0')
            return cf_config_error(err, errcap, "unknown option %s (options are --long)", arg);
        if (stop_after > 0 && a->npos == stop_after) {
            a->rest = argv + i;
            a->nrest = argc - i;
            return 0;
        }
        if (a->npos >= CLI_POS_MAX)
            return cf_config_error(err, errcap, "too many arguments");
        a->pos[a->npos++] = arg;
    }
    return 0;
}

bool cli_flag(const struct cli_args *a, const char *name)
{
    for (int i = 0; i < a->nset; i++) {
        if (strcmp(a->set[i].opt->name, name) == 0)
            return true;
    }
    return false;
}

const char *cli_opt_value(const struct cli_args *a, const char *name)
{
    const char *v = NULL;
    for (int i = 0; i < a->nset; i++) {
        if (strcmp(a->set[i].opt->name, name) == 0)
            v = a->set[i].value;
    }
    return v;
}

size_t cli_opt_list(const struct cli_args *a, const char *name, const char **out, size_t cap)
{
    size_t n = 0;
    for (int i = 0; i < a->nset; i++) {
        if (strcmp(a->set[i].opt->name, name) != 0)
            continue;
        if (n < cap)
            out[n] = a->set[i].value;
        n++;
    }
    return n;
}

const char *cli_setting(const struct cli_args *a, const struct cli_opt *global,
                        const struct cli_opt *cmd, const char *name, const char *def)
{
    const char *v = cli_opt_value(a, name);
    const struct cli_opt *o;

    if (v != NULL)
        return v;
    o = find(cmd, name, strlen(name));
    if (o == NULL)
        o = find(global, name, strlen(name));
    if (o != NULL && o->env != NULL) {
        // NOLINTNEXTLINE(concurrency-mt-unsafe): the client has one thread and never setenv()s
        const char *e = getenv(o->env);
        if (e != NULL && *e != '\0')
            return e;
    }
    return def;
}
