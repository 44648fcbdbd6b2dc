/* cli_env.c - a bundle's pairs as environment variables: names, collisions, the names a bundle
 * may not set, what exec's command inherits, shell quoting. */
#include "cli_env.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cf_json.h"
#include "cf_mem.h"
#include "cf_text.h"

/* Longest id or key quoted in a message (longer ones are cut). */
#define CLI_ENV_MSG_MAX 128

static bool is_name_start(unsigned char c)
{
    return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || c == '_';
}

static bool is_name_char(unsigned char c)
{
    return is_name_start(c) || (c >= '0' && c <= '9');
}

bool cli_env_name_valid(const char *s)
{
    if (s == NULL || !is_name_start((unsigned char)s[0]))
        return false;
    size_t i = 1;
    while (s[i] != '\0') {
        if (!is_name_char((unsigned char)s[i]))
            return false;
        i++;
    }
    return i < CLI_ENV_NAME_MAX;
}

/* --- names a bundle sets only when allowed ------------------------------------------------ */

/* A name, or every name that starts with it, that some program reads when it starts and that
 * can make it run code of the setter's choosing (or read its start-up files, its libraries, its
 * modules from elsewhere). The one table of them: cli_env.h lists it for readers, the help
 * text and the README name the families. */
struct unsafe_name {
    const char *name;
    bool prefix;        /* every name that starts with name */
    const char *reader; /* who reads it, for messages */
};

static const struct unsafe_name unsafe_names[] = {
    /* the dynamic loader and the C library: LD_* and DYLD_*, then the rest of glibc's own list
     * of variables it ignores in setuid programs (sysdeps/generic/unsecvars.h) */
    { "LD_", true, "the dynamic loader" },
    { "DYLD_", true, "the macOS dynamic loader" },
    { "GCONV_PATH", false, "the C library, for iconv modules" },
    { "GETCONF_DIR", false, "the C library" },
    { "GLIBC_TUNABLES", false, "the C library" },
    { "HOSTALIASES", false, "the C library's resolver" },
    { "LOCALDOMAIN", false, "the C library's resolver" },
    { "LOCPATH", false, "the C library, for locales" },
    { "MALLOC_", true, "the C library's allocator" },
    { "NIS_PATH", false, "the C library" },
    { "NLSPATH", false, "the C library, for message catalogs" },
    { "RESOLV_HOST_CONF", false, "the C library's resolver" },
    { "RES_OPTIONS", false, "the C library's resolver" },
    { "TMPDIR", false, "the C library and most programs, for temporary files" },
    { "TZDIR", false, "the C library, for time zone files" },
    /* shells */
    { "PATH", false, "shells and execvp, to find commands" },
    { "HOME", false, "shells and most programs, for their start-up files" },
    { "BASH_ENV", false, "bash, as a file to run" },
    { "ENV", false, "sh, as a file to run" },
    { "BASH_FUNC_", true, "bash, as a function" },
    { "SHELLOPTS", false, "bash" },
    { "BASHOPTS", false, "bash" },
    { "PS4", false, "shells, expanded when tracing" },
    { "PROMPT_COMMAND", false, "bash" },
    { "IFS", false, "shells, to split words" },
    { "CDPATH", false, "shells" },
    { "GLOBIGNORE", false, "bash" },
    { "ZDOTDIR", false, "zsh, for its start-up files" },
    /* interpreters */
    { "PYTHON", true, "python" },
    { "PERL5", true, "perl" },
    { "PERLLIB", false, "perl" },
    { "RUBYOPT", false, "ruby" },
    { "RUBYLIB", false, "ruby" },
    { "NODE_OPTIONS", false, "node" },
    { "NODE_PATH", false, "node" },
    { "JAVA_TOOL_OPTIONS", false, "the JVM" },
    { "_JAVA_OPTIONS", false, "the JVM" },
    { "JDK_JAVA_OPTIONS", false, "the JVM" },
    { "CLASSPATH", false, "the JVM" },
    { "PHPRC", false, "php" },
    { "PHP_INI_SCAN_DIR", false, "php" },
    { "LUA_", true, "lua" },
    /* commands that git and ssh run */
    { "GIT_SSH", false, "git, as a command to run" },
    { "GIT_SSH_COMMAND", false, "git, as a command to run" },
    { "GIT_ASKPASS", false, "git, as a command to run" },
    { "SSH_ASKPASS", false, "ssh, as a command to run" },
    { "GIT_EXEC_PATH", false, "git, to find its commands" },
    { "GIT_CONFIG", true, "git, as configuration (commands included)" },
};

const char *cli_env_unsafe(const char *name)
{
    if (name == NULL)
        return NULL;
    for (size_t i = 0; i < sizeof(unsafe_names) / sizeof(unsafe_names[0]); i++) {
        const struct unsafe_name *u = &unsafe_names[i];
        if (u->prefix ? cf_has_prefix(name, u->name) : strcmp(name, u->name) == 0)
            return u->reader;
    }
    return NULL;
}

/* True if name is one of the NULL-terminated list (which may be NULL). */
static bool listed(const char *const *list, const char *name, size_t len)
{
    for (size_t i = 0; list != NULL && list[i] != NULL; i++) {
        if (strlen(list[i]) == len && memcmp(list[i], name, len) == 0)
            return true;
    }
    return false;
}

/* The AWS variables that hold a credential: coffer's, when it made a kmsauth token. */
static const char *const aws_credentials[] = {
    "AWS_ACCESS_KEY_ID",
    "AWS_SECRET_ACCESS_KEY",
    "AWS_SESSION_TOKEN",
    "AWS_SECURITY_TOKEN",
    "AWS_CONTAINER_AUTHORIZATION_TOKEN",
    NULL,
};

bool cli_env_withheld(const char *name, size_t len)
{
    static const char coffer[] = "COFFER_";

    if (name == NULL)
        return false;
    if (len >= sizeof(coffer) - 1 && memcmp(name, coffer, sizeof(coffer) - 1) == 0)
        return true;
    return listed(aws_credentials, name, len);
}

char **cli_env_inherited(char *const *own, bool pristine, const char *const *keep)
{
    size_t n = 0, k = 0;

    while (own != NULL && own[n] != NULL)
        n++;
    char **out = cf_xcalloc(n + 1, sizeof(*out));
    for (size_t i = 0; i < n; i++) {
        const char *eq = strchr(own[i], '=');
        /* eq points into own[i], at or after its start: the difference is not negative */
        size_t len = eq != NULL ? (size_t)(eq - own[i]) : strlen(own[i]);
        bool pass = pristine ? false : !cli_env_withheld(own[i], len);
        if (pass || listed(keep, own[i], len))
            out[k++] = own[i];
    }
    out[k] = NULL;
    return out;
}

/* --- names of pairs ------------------------------------------------------------------------ */

/* One byte of a name: ASCII letters upper-cased, '-' and '.' as '_', any other byte kept. */
static char name_byte(char c)
{
    if (c >= 'a' && c <= 'z')
        return (char)(c - 'a' + 'A'); /* within 'A'..'Z' */
    if (c == '-' || c == '.')
        return '_';
    return c;
}

/* Appends s, converted, to out at *len; CF_ETOOBIG if it does not fit with its NUL. */
static int name_append(const char *s, char out[CLI_ENV_NAME_MAX], size_t *len)
{
    if (s == NULL)
        return 0;
    for (size_t i = 0; s[i] != '\0'; i++) {
        if (*len >= CLI_ENV_NAME_MAX - 1)
            return CF_ETOOBIG;
        out[(*len)++] = name_byte(s[i]);
    }
    return 0;
}

int cli_env_name(const char *prefix, const char *credential_prefix, const char *key,
                 char out[CLI_ENV_NAME_MAX])
{
    size_t len = 0;
    int r;

    out[0] = '\0';
    if (key == NULL)
        return CF_EINVAL;
    if ((r = name_append(prefix, out, &len)) != 0 ||
        (r = name_append(credential_prefix, out, &len)) != 0 ||
        (r = name_append(key, out, &len)) != 0) {
        out[0] = '\0';
        return r;
    }
    out[len] = '\0';
    return 0;
}

/* Copies an id or a key for a message, escaped as cf_text_escape() does (control bytes, bidi
 * overrides and invisible code points made visible), so that a hostile key cannot write
 * terminal escapes to stderr nor hide what it is; cut at CLI_ENV_MSG_MAX - 1 bytes. */
static void msg_safe(const char *s, char out[CLI_ENV_MSG_MAX])
{
    struct cf_buf b = { 0 };

    if (s != NULL)
        cf_text_escape(&b, s, strlen(s), 0);
    size_t n = b.len < CLI_ENV_MSG_MAX - 1 ? b.len : CLI_ENV_MSG_MAX - 1;
    if (n > 0)
        memcpy(out, b.data, n);
    out[n] = '\0';
    cf_buf_free(&b);
}

/* Writes "<what> (credential <id>, key <key>)" to err, without the key if it is NULL;
 * returns CF_EINVAL. */
static int pair_error(char *err, size_t errcap, const char *what, const char *id, const char *key)
{
    char sid[CLI_ENV_MSG_MAX], skey[CLI_ENV_MSG_MAX];

    msg_safe(id, sid);
    msg_safe(key, skey);
    if (err != NULL && errcap > 0) {
        /* a cut message is still a message: CF_ETOOBIG is not an error here */
        int fr = key != NULL ? cf_fmt(err, errcap, "%s (credential %s, key %s)", what, sid, skey)
                             : cf_fmt(err, errcap, "%s (credential %s)", what, sid);
        (void)fr;
    }
    return CF_EINVAL;
}

/* Writes a message about the bundle's shape at credential index i; returns CF_EINVAL. */
static int shape_error(char *err, size_t errcap, const char *what, size_t i)
{
    if (err != NULL && errcap > 0) {
        int fr = cf_fmt(err, errcap, "the bundle is not a bundle: %s (credential #%zu)", what, i);
        (void)fr; /* a cut message is still a message */
    }
    return CF_EINVAL;
}

/* Checks one credential's shape and sets its id, prefix (NULL if none) and pairs object. */
static int credential_parts(const json_t *c, size_t i, const char **id_out, const char **prefix_out,
                            json_t **pairs_out, char *err, size_t errcap)
{
    *id_out = NULL;
    *prefix_out = NULL;
    *pairs_out = NULL;
    if (!json_is_object(c))
        return shape_error(err, errcap, "a credential is not an object", i);
    const char *id = cf_json_str(c, "id");
    if (id == NULL)
        return shape_error(err, errcap, "a credential has no string id", i);
    json_t *meta = json_object_get(c, "metadata");
    json_t *prefix = NULL;
    if (meta != NULL && !json_is_null(meta)) {
        if (!json_is_object(meta))
            return pair_error(err, errcap, "metadata is not an object", id, NULL);
        prefix = json_object_get(meta, "env_var_prefix");
        if (prefix != NULL && !json_is_null(prefix) && !json_is_string(prefix))
            return pair_error(err, errcap, "env_var_prefix is not a string", id, NULL);
    }
    json_t *pairs = json_object_get(c, "credential_pairs");
    if (!json_is_object(pairs))
        return pair_error(err, errcap, "credential_pairs is not an object", id, NULL);
    *id_out = id;
    *prefix_out = json_is_string(prefix) ? json_string_value(prefix) : NULL;
    *pairs_out = pairs;
    return 0;
}

/* Adds the pairs of one credential to env (whose array has room for them all). */
static int add_credential(const json_t *c, size_t i, const struct cli_env_opts *opts,
                          struct cli_env *env, char *err, size_t errcap)
{
    const char *id, *cprefix, *key;
    json_t *pairs, *v;
    int r;

    if ((r = credential_parts(c, i, &id, &cprefix, &pairs, err, errcap)) != 0)
        return r;
    json_object_foreach(pairs, key, v)
    {
        struct cli_env_var *var = &env->vars[env->n];
        if (!json_is_string(v))
            return pair_error(err, errcap, "the value is not a string", id, key);
        size_t len = json_string_length(v);
        /* a NUL cannot pass through execve() and would cut what envp_free() cleanses */
        if (memchr(json_string_value(v), '\0', len) != NULL)
            return pair_error(err, errcap, "the value holds a NUL byte", id, key);
        r = cli_env_name(opts->prefix, cprefix, key, var->name);
        if (r != 0 || !cli_env_name_valid(var->name)) {
            const char *what = r != 0 ? "the variable name would be too long"
                                      : "the key does not give a valid variable name";
            if (!opts->skip_invalid)
                return pair_error(err, errcap, what, id, key);
            char tmp[CLI_ENV_NAME_MAX * 2];
            r = pair_error(tmp, sizeof(tmp), what, id, key); /* CF_EINVAL: skipped instead */
            (void)r;
            (void)fprintf(stderr, "coffer: skipped: %s\n", tmp);
            continue;
        }
        var->value = json_string_value(v);
        var->value_len = len;
        var->credential = id;
        var->key = key;
        env->n++;
    }
    return 0;
}

/* A variable in the sorted view check_collisions() makes (qsort passes no context). */
struct var_ref {
    const struct cli_env_var *v;
};

/* qsort order of variables: by name, then by position, so equal names sit in bundle order. */
static int cmp_var(const void *a, const void *b)
{
    const struct cli_env_var *x = ((const struct var_ref *)a)->v;
    const struct cli_env_var *y = ((const struct var_ref *)b)->v;
    int c = strcmp(x->name, y->name);
    if (c != 0)
        return c;
    return x < y ? -1 : x > y; /* same array: comparable */
}

/* CF_EINVAL, with a message naming both pairs, if two variables share a name. */
static int check_collisions(const struct cli_env *env, char *err, size_t errcap)
{
    int r = 0;

    if (env->n < 2)
        return 0;
    struct var_ref *order = cf_xcalloc(env->n, sizeof(*order));
    for (size_t i = 0; i < env->n; i++)
        order[i].v = &env->vars[i];
    qsort(order, env->n, sizeof(*order), cmp_var);
    for (size_t i = 1; i < env->n && r == 0; i++) {
        const struct cli_env_var *a = order[i - 1].v, *b = order[i].v;
        if (strcmp(a->name, b->name) != 0)
            continue;
        char ia[CLI_ENV_MSG_MAX], ka[CLI_ENV_MSG_MAX], ib[CLI_ENV_MSG_MAX], kb[CLI_ENV_MSG_MAX];
        msg_safe(a->credential, ia);
        msg_safe(a->key, ka);
        msg_safe(b->credential, ib);
        msg_safe(b->key, kb);
        if (err != NULL && errcap > 0) {
            int fr = cf_fmt(err, errcap,
                            "credential %s key %s and credential %s key %s both give the "
                            "variable %s",
                            ia, ka, ib, kb, a->name);
            (void)fr; /* a cut message is still a message */
        }
        r = CF_EINVAL;
    }
    free(order);
    return r;
}

/* Drops env->vars[i], keeping the order of the rest. */
static void drop_var(struct cli_env *env, size_t i)
{
    memmove(&env->vars[i], &env->vars[i + 1], (env->n - i - 1) * sizeof(env->vars[0]));
    env->n--;
}

/* The unsafe names (cli_env_unsafe()) that opts does not allow: omitted with a warning each on
 * stderr if opts->omit_unsafe, else CF_EINVAL with one message naming every one of them. */
static int check_unsafe(struct cli_env *env, const struct cli_env_opts *opts, char *err,
                        size_t errcap)
{
    struct cf_buf msg = { 0 };
    size_t refused = 0;

    for (size_t i = 0; i < env->n;) {
        const struct cli_env_var *v = &env->vars[i];
        const char *reader = cli_env_unsafe(v->name);
        if (reader == NULL || listed(opts->allow, v->name, strlen(v->name))) {
            i++;
            continue;
        }
        char id[CLI_ENV_MSG_MAX], key[CLI_ENV_MSG_MAX];
        msg_safe(v->credential, id);
        msg_safe(v->key, key);
        if (opts->omit_unsafe) {
            /* the name is a valid one here: letters, digits and '_' only */
            (void)fprintf(stderr,
                          "coffer: omitted %s (credential %s, key %s): read at start by %s; "
                          "--allow-env %s prints it\n",
                          v->name, id, key, reader, v->name);
            drop_var(env, i);
            continue;
        }
        int pr = cf_buf_printf(&msg, "%s%s (credential %s, key %s; read at start by %s)",
                               refused > 0 ? ", " : "", v->name, id, key, reader);
        (void)pr; /* %s of bytes has no encoding error: it cannot fail */
        refused++;
        i++;
    }
    if (refused == 0) {
        cf_buf_free(&msg);
        return 0;
    }
    if (err != NULL && errcap > 0) {
        int fr = cf_fmt(err, errcap,
                        "refusing the bundle: it sets %s, which a bundle may set only when "
                        "allowed by name (--allow-env NAME)",
                        msg.data);
        (void)fr; /* a cut message is still a message */
    }
    cf_buf_free(&msg);
    return CF_EINVAL;
}

/* The number of pairs in the bundle (counting non-objects as none); CF_EINVAL if the bundle
 * has no array of credentials. */
static int count_pairs(const json_t *bundle, size_t *n_out, char *err, size_t errcap)
{
    size_t n = 0, i;
    json_t *c;

    *n_out = 0;
    json_t *creds = json_is_object(bundle) ? json_object_get(bundle, "credentials") : NULL;
    if (!json_is_array(creds)) {
        if (err != NULL && errcap > 0) {
            int fr = cf_fmt(err, errcap, "the bundle is not a bundle: no credentials array");
            (void)fr; /* a cut message is still a message */
        }
        return CF_EINVAL;
    }
    json_array_foreach(creds, i, c)
    {
        if (cf_size_add(n, json_object_size(json_object_get(c, "credential_pairs")), &n) != 0)
            return CF_ETOOBIG; /* not reachable: each pair is a live allocation */
    }
    *n_out = n;
    return 0;
}

int cli_env_from_bundle(const json_t *bundle, const struct cli_env_opts *opts, struct cli_env *out,
                        char *err, size_t errcap)
{
    static const struct cli_env_opts no_opts = { 0 };
    size_t n, i;
    json_t *c;
    int r;

    *out = (struct cli_env){ 0 };
    if (err != NULL && errcap > 0)
        err[0] = '\0';
    if (opts == NULL)
        opts = &no_opts;
    if ((r = count_pairs(bundle, &n, err, errcap)) != 0)
        return r;
    out->vars = cf_xcalloc(n, sizeof(*out->vars));
    json_array_foreach(json_object_get(bundle, "credentials"), i, c)
    {
        if ((r = add_credential(c, i, opts, out, err, errcap)) != 0)
            goto out;
    }
    if ((r = check_collisions(out, err, errcap)) == 0)
        r = check_unsafe(out, opts, err, errcap);
out:
    if (r != 0)
        cli_env_free(out);
    return r;
}

void cli_env_free(struct cli_env *env)
{
    if (env == NULL)
        return;
    free(env->vars);
    *env = (struct cli_env){ 0 };
}

/* Appends value in single quotes: every byte but ' stands for itself; ' closes, escapes, and
 * reopens ('\''). */
static void append_single_quoted(struct cf_buf *out, const char *v, size_t len)
{
    size_t start = 0;

    cf_buf_append_char(out, '\'');
    for (size_t i = 0; i < len; i++) {
        if (v[i] != '\'')
            continue;
        cf_buf_append(out, v + start, i - start);
        cf_buf_append_str(out, "'\\''");
        start = i + 1;
    }
    cf_buf_append(out, v + start, len - start);
    cf_buf_append_char(out, '\'');
}

/* Appends value in double quotes, a backslash before each of \ " $ and ` (the only bytes
 * special there; a newline inside double quotes is kept). */
static void append_double_quoted(struct cf_buf *out, const char *v, size_t len)
{
    size_t start = 0;

    cf_buf_append_char(out, '"');
    for (size_t i = 0; i < len; i++) {
        if (v[i] != '\\' && v[i] != '"' && v[i] != '$' && v[i] != '`')
            continue;
        cf_buf_append(out, v + start, i - start);
        cf_buf_append_char(out, '\\');
        start = i; /* the byte itself goes out with the next run */
    }
    cf_buf_append(out, v + start, len - start);
    cf_buf_append_char(out, '"');
}

void cli_env_write(const struct cli_env *env, enum cli_env_format format, struct cf_buf *out)
{
    for (size_t i = 0; i < env->n; i++) {
        const struct cli_env_var *v = &env->vars[i];
        if (format == CLI_ENV_EXPORT)
            cf_buf_append_str(out, "export ");
        cf_buf_append_str(out, v->name);
        cf_buf_append_char(out, '=');
        if (format == CLI_ENV_DOTENV) {
            append_double_quoted(out, v->value, v->value_len);
        } else {
            append_single_quoted(out, v->value, v->value_len);
        }
        cf_buf_append_char(out, '\n');
    }
}

/* A base entry's name: the bytes before its '=' (the whole entry if it has none). */
struct env_key {
    const char *s;
    size_t len;
};

static int cmp_name(const void *a, const void *b)
{
    return strcmp(*(const char *const *)a, *(const char *const *)b);
}

static int cmp_key_name(const void *k, const void *elem)
{
    const struct env_key *key = k;
    const char *name = *(const char *const *)elem;
    int c = strncmp(key->s, name, key->len);
    if (c != 0)
        return c;
    return name[key->len] == '\0' ? 0 : -1; /* name is longer: key sorts first */
}

/* "NAME=value", malloc'd; the value up to its first NUL (from_bundle refuses NULs; an env
 * built by hand is cut there, so that cf_free_cleanse_str() reaches every byte). */
static char *entry_new(const struct cli_env_var *v)
{
    size_t nlen = strlen(v->name), vlen = strnlen(v->value, v->value_len), size;

    if (cf_size_add(nlen, vlen, &size) != 0 || cf_size_add(size, 2, &size) != 0)
        abort(); /* a value near SIZE_MAX is a bug, not input */
    char *e = cf_xmalloc(size);
    memcpy(e, v->name, nlen);
    e[nlen] = '=';
    memcpy(e + nlen + 1, v->value, vlen);
    e[nlen + 1 + vlen] = '\0';
    return e;
}

char **cli_env_envp(const struct cli_env *env, char *const *base)
{
    size_t nbase = 0, size, k = 0;

    while (base != NULL && base[nbase] != NULL)
        nbase++;
    if (cf_size_add(nbase, env->n, &size) != 0 || cf_size_add(size, 1, &size) != 0)
        abort(); /* both counts are of live arrays: cannot overflow */
    char **envp = cf_xcalloc(size, sizeof(*envp));
    const char **names = cf_xcalloc(env->n, sizeof(*names));
    for (size_t i = 0; i < env->n; i++)
        names[i] = env->vars[i].name;
    qsort(names, env->n, sizeof(*names), cmp_name);
    for (size_t i = 0; i < nbase; i++) {
        const char *eq = strchr(base[i], '=');
        /* eq points into base[i], at or after its start: the difference is not negative */
        struct env_key key = { base[i], eq != NULL ? (size_t)(eq - base[i]) : strlen(base[i]) };
        if (env->n > 0 && bsearch(&key, names, env->n, sizeof(*names), cmp_key_name) != NULL)
            continue; /* the bundle sets it */
        envp[k++] = cf_xstrdup(base[i]);
    }
    free(names);
    for (size_t i = 0; i < env->n; i++)
        envp[k++] = entry_new(&env->vars[i]);
    envp[k] = NULL;
    return envp;
}

void cli_env_envp_free(char **envp)
{
    if (envp == NULL)
        return;
    for (size_t i = 0; envp[i] != NULL; i++)
        cf_free_cleanse_str(envp[i]);
    free(envp);
}
