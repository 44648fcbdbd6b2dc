/*
 * svc_cmd.c - cofferd's console commands that talk to the database directly: migrate and
 * token create. Each prints what it did; token create prints only the token on stdout.
 */
#include "svc_cmd.h"

#include <pwd.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include <openssl/crypto.h>

#include "audit.h"
#include "audit_verify.h"
#include "auth.h"
#include "cf_crypto.h"
#include "cf_log.h"
#include "cf_str.h"
#include "cf_time.h"
#include "db.h"
#include "db_migrate.h"
#include "db_tokens.h"
#include "kms_local.h"

#define TOKEN_TTL_MIN     60
#define TOKEN_TTL_MAX     ((int64_t)365 * 86400)
#define TOKEN_TTL_DEFAULT ((int64_t)90 * 86400)

int svc_cmd_usage(const char *fmt, ...)
{
    va_list ap;

    (void)fputs("cofferd: ", stderr);
    va_start(ap, fmt);
    // NOLINTNEXTLINE(clang-analyzer-valist.Uninitialized): false positive, see cf_fmt()
    (void)vfprintf(stderr, fmt, ap);
    va_end(ap);
    (void)fputs(" (see cofferd --help)\n", stderr);
    return 2;
}

int svc_cmd_migrate(const struct cf_config *cfg, int argc, char **argv)
{
    bool status_only = false;
    struct db_conn *c = NULL;
    int r;

    for (int i = 1; i < argc; i++) {
        if (strcmp(argv[i], "--status") == 0) {
            status_only = true;
        } else {
            return svc_cmd_usage("migrate: unknown argument '%s'", argv[i]);
        }
    }
    const char *url =
        cfg->migrate_database_url != NULL ? cfg->migrate_database_url : cfg->database_url;
    if (db_connect(url, &c) != 0) {
        (void)fputs("cofferd migrate: cannot connect to the database\n", stderr);
        return 1;
    }
    r = db_migrate_run(c, cfg->migrations_dir, status_only, stdout);
    db_disconnect(c);
    return r == 0 ? 0 : 1;
}

int svc_cmd_local_key(int argc, char **argv)
{
    char err[512];

    if (argc != 3 || strcmp(argv[1], "init") != 0)
        return svc_cmd_usage("local-key: expected `local-key init PATH`");
    int r = kms_local_init_file(argv[2], err, sizeof(err));
    if (r != 0) {
        (void)fprintf(stderr, "cofferd local-key init: %s\n", err);
        return 1;
    }
    (void)fprintf(stderr, "created %s with keys coffer-master, coffer-auth, coffer-user-auth\n",
                  argv[2]);
    return 0;
}

void svc_cmd_actor(char *out, size_t cap)
{
    struct passwd pw, *res = NULL;
    char buf[1024];
    uid_t uid = geteuid();

    if (getpwuid_r(uid, &pw, buf, sizeof(buf), &res) == 0 && res != NULL &&
        cf_fmt(out, cap, "cofferd:%s", pw.pw_name) == 0)
        return;
    if (cf_fmt(out, cap, "cofferd:%u", (unsigned)uid) != 0)
        out[0] = '\0';
}

struct token_args {
    const char *role;
    const char *name;
    int64_t ttl;
};

static int parse_token_args(int argc, char **argv, struct token_args *a)
{
    *a = (struct token_args){ .ttl = TOKEN_TTL_DEFAULT };
    if (argc < 2 || strcmp(argv[1], "create") != 0)
        return svc_cmd_usage("token: expected `token create --role ROLE --name NAME`");
    for (int i = 2; i < argc; i++) {
        const char *opt = argv[i];
        if (i + 1 >= argc)
            return svc_cmd_usage("token create: %s needs a value", opt);
        const char *val = argv[++i];
        if (strcmp(opt, "--role") == 0) {
            a->role = val;
        } else if (strcmp(opt, "--name") == 0) {
            a->name = val;
        } else if (strcmp(opt, "--ttl") == 0) {
            if (cf_parse_duration(val, &a->ttl) != 0 || a->ttl < TOKEN_TTL_MIN ||
                a->ttl > TOKEN_TTL_MAX) {
                return svc_cmd_usage("token create: --ttl '%s' must be 60s to 365d (e.g. 90m, "
                                     "12h, 30d)",
                                     val);
            }
        } else {
            return svc_cmd_usage("token create: unknown argument '%s'", opt);
        }
    }
    enum auth_role role;
    if (a->role == NULL || auth_role_parse(a->role, &role) != 0)
        return svc_cmd_usage("token create: --role must be admin or auditor");
    if (a->name == NULL || !svc_token_name_valid(a->name))
        return svc_cmd_usage("token create: --name must match ^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$");
    return 0;
}

bool svc_token_name_valid(const char *name)
{
    size_t n = strlen(name);
    if (n == 0 || n > DB_TOKEN_NAME_MAX)
        return false;
    for (size_t i = 0; i < n; i++) {
        char c = name[i];
        bool alnum = (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9');
        if (!alnum && (i == 0 || (c != '_' && c != '.' && c != '-')))
            return false;
    }
    return true;
}

int svc_cmd_audit(struct db_conn *c, const char *action, const char *resource_type,
                  const char *resource_id)
{
    char request_id[SVC_CMD_REQUEST_ID_LEN + 1], actor[DB_ACTOR_MAX + 1];
    int r;

    if ((r = cf_rand_hex(16, request_id, sizeof(request_id))) != 0)
        return r;
    svc_cmd_actor(actor, sizeof(actor));
    struct audit_event ev = { .request_id = request_id,
                              .actor_type = "system",
                              .actor = actor,
                              .source_ip = "local",
                              .action = action,
                              .resource_type = resource_type,
                              .resource_id = resource_id,
                              .result = "allowed",
                              .reason = "ok" };
    return audit_append(c, &ev, NULL);
}

/* Inserts the token and its access-log row in one transaction. */
static int store_token(struct db_conn *c, struct db_token *t, const char *sha, int64_t ttl)
{
    int r;

    if ((r = db_tx_begin(c)) != 0)
        return r;
    if ((r = db_token_insert(c, t, sha, ttl)) != 0)
        goto out;
    r = svc_cmd_audit(c, "token.create", "token", t->id);
out:
    return db_tx_end(c, r);
}

int svc_cmd_token_create(struct db_conn *c, const char *role, const char *name, int64_t ttl,
                         char token_out[AUTH_TOKEN_LEN + 1])
{
    struct db_token t = { 0 };
    char sha[CF_SHA256_HEX_LEN + 1];
    int r;

    token_out[0] = '\0';
    if ((r = auth_token_generate(token_out, sha, t.id)) != 0 ||
        (r = cf_fmt(t.name, sizeof(t.name), "%s", name)) != 0 ||
        (r = cf_fmt(t.role, sizeof(t.role), "%s", role)) != 0)
        goto out;
    svc_cmd_actor(t.created_by, sizeof(t.created_by));
    r = store_token(c, &t, sha, ttl);
out:
    if (r != 0)
        OPENSSL_cleanse(token_out, AUTH_TOKEN_LEN + 1);
    return r;
}

int svc_cmd_token(const struct cf_config *cfg, int argc, char **argv)
{
    struct token_args a;
    struct db_conn *c = NULL;
    char token[AUTH_TOKEN_LEN + 1];
    int r;

    if ((r = parse_token_args(argc, argv, &a)) != 0)
        return r;
    if (db_connect(cfg->database_url, &c) != 0) {
        (void)fputs("cofferd token create: cannot connect to the database\n", stderr);
        return 1;
    }
    r = svc_cmd_token_create(c, a.role, a.name, a.ttl, token);
    if (r == CF_ECONFLICT) {
        (void)fprintf(stderr, "cofferd token create: an active token is already named '%s'\n",
                      a.name);
    } else if (r != 0) {
        (void)fprintf(stderr, "cofferd token create: failed: %s\n", cf_strerror(r));
    } else {
        printf("%s\n", token);
    }
    db_disconnect(c);
    OPENSSL_cleanse(token, sizeof(token));
    return r == 0 ? 0 : 1;
}

static int parse_id_opt(int argc, char **argv, int *i, const char *name, int64_t *out)
{
    if (strcmp(argv[*i], name) != 0)
        return CF_ENOTFOUND;
    if (*i + 1 >= argc || cf_parse_i64(argv[*i + 1], 1, INT64_MAX, out) != 0)
        return CF_EINVAL;
    (*i)++;
    return 0;
}

int svc_cmd_audit_verify(const struct cf_config *cfg, int argc, char **argv)
{
    struct audit_verify_result v;
    struct db_conn *c = NULL;
    int64_t from = 1, to = 0;
    int r;

    if (argc < 2 || strcmp(argv[1], "verify") != 0)
        return svc_cmd_usage("audit: expected `audit verify [--from-id N] [--to-id N]`");
    for (int i = 2; i < argc; i++) {
        if (parse_id_opt(argc, argv, &i, "--from-id", &from) != 0 &&
            parse_id_opt(argc, argv, &i, "--to-id", &to) != 0)
            return svc_cmd_usage("audit verify: bad argument '%s'", argv[i]);
    }
    if (db_connect(cfg->database_url, &c) != 0) {
        (void)fputs("cofferd audit verify: cannot connect to the database\n", stderr);
        return 1;
    }
    r = audit_verify(c, from, to, &v); /* reads only: writes no access-log row */
    db_disconnect(c);
    if (r == CF_EINVAL)
        return svc_cmd_usage("audit verify: the range is empty or past the head");
    if (r != 0) {
        (void)fprintf(stderr, "cofferd audit verify: failed: %s\n", cf_strerror(r));
        return 1;
    }
    if (!v.ok) {
        (void)printf("broken: row %lld: %s (%lld rows verified before it)\n",
                     (long long)v.first_bad_id, v.problem, (long long)v.checked);
        return 1;
    }
    (void)printf("intact: %lld rows verified (%lld..%lld); head %lld:%s\n", (long long)v.checked,
                 (long long)v.from_id, (long long)v.to_id, (long long)v.head_id, v.head_hash);
    return 0;
}
