/*
 * cli_admin.c - the admin commands: credentials, services, API tokens and principals.
 *
 * Values never come from the command line (they would show in ps): pairs are read from stdin
 * or a file. Updates and mapping changes send the revision they were based on
 * (expected_revision), so two admins cannot silently overwrite each other: the second gets
 * exit code 6.
 */
#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/crypto.h>

#include "cf_json.h"
#include "cf_mem.h"
#include "cf_str.h"
#include "cli_cmds.h"
#include "cli_out.h"

#define INPUT_MAX (1u << 20) /* bytes of pairs read from stdin or a file */

static bool is(const char *cmd)
{
    return strcmp(cli_current, cmd) == 0;
}

/* Reads all of path ("-": stdin) into b (cleansed when freed). */
static int read_input(const char *path, struct cf_buf *b)
{
    FILE *f = strcmp(path, "-") == 0 ? stdin : fopen(path, "rb");
    char chunk[4096];
    size_t n;

    if (f == NULL) {
        cli_errorf("cannot open %s", path);
        return CLI_EUSAGE;
    }
    while ((n = fread(chunk, 1, sizeof(chunk), f)) > 0 && b->len <= INPUT_MAX)
        cf_buf_append(b, chunk, n);
    bool bad = ferror(f) != 0;
    if (f != stdin)
        (void)fclose(f);
    OPENSSL_cleanse(chunk, sizeof(chunk));
    if (bad || b->len > INPUT_MAX) {
        cli_errorf(bad ? "cannot read %s" : "%s is over 1 MiB", path);
        return CLI_EUSAGE;
    }
    return CLI_OK;
}

/* The pairs the options ask for: NULL in *out when neither --input nor --value is given and
 * required is false. With --value KEY, the input's bytes are KEY's value, set on top of
 * current (may be NULL). */
static int pairs_from_input(const struct cli_args *a, const json_t *current, bool required,
                            json_t **out)
{
    const char *path = cli_opt_value(a, "input");
    const char *key = cli_opt_value(a, "value");
    struct cf_buf in = { 0 };
    int rc;

    *out = NULL;
    if (path == NULL && key == NULL && !required)
        return CLI_OK;
    if ((rc = read_input(path != NULL ? path : "-", &in)) != CLI_OK)
        goto out;
    if (key != NULL) {
        json_t *v = json_stringn(in.data != NULL ? in.data : "", in.len);
        if (v == NULL) {
            cli_errorf("the value is not UTF-8 text (or holds a NUL byte)");
            rc = CLI_EUSAGE;
            goto out;
        }
        *out = current != NULL ? json_deep_copy(current) : json_object();
        json_object_set_new(*out, key, v);
        goto out;
    }
    *out = cf_json_parse(in.data != NULL ? in.data : "", in.len, JSON_REJECT_DUPLICATES, NULL);
    if (!json_is_object(*out)) {
        json_decref(*out);
        *out = NULL;
        cli_errorf("the pairs must be a JSON object of strings, e.g. {\"password\": \"...\"} "
                   "(or use --value KEY for one raw value)");
        rc = CLI_EUSAGE;
    }
out:
    cf_buf_free(&in);
    return rc;
}

/* Sets metadata and tags on body from the --metadata and --tag options, if any were given:
 * each --metadata member is set on top of current (the credential's metadata now, or NULL),
 * and KEY= with nothing after it removes KEY; --tag adds to current_tags. */
static int set_meta_tags(const struct cli_args *a, const json_t *current,
                         const json_t *current_tags, json_t *body)
{
    const char *items[CLI_SET_MAX];
    size_t n = cli_opt_list(a, "metadata", items, CLI_SET_MAX);
    if (n > 0) {
        json_t *m = json_is_object(current) ? json_deep_copy(current) : json_object();
        for (size_t i = 0; i < n && i < CLI_SET_MAX; i++) {
            const char *eq = strchr(items[i], '=');
            if (eq == NULL || eq == items[i]) {
                json_decref(m);
                cli_errorf("--metadata is KEY=VALUE: %s", items[i]);
                return CLI_EUSAGE;
            }
            char *k = cf_xstrndup(items[i], (size_t)(eq - items[i]));
            if (eq[1] == '\0') {
                json_object_del(m, k);
            } else {
                json_object_set_new(m, k, json_string(eq + 1));
            }
            free(k);
        }
        json_object_set_new(body, "metadata", m);
    }
    n = cli_opt_list(a, "tag", items, CLI_SET_MAX);
    if (n > 0) {
        json_t *t = json_is_array(current_tags) ? json_deep_copy(current_tags) : json_array();
        for (size_t i = 0; i < n && i < CLI_SET_MAX; i++)
            json_array_append_new(t, json_string(items[i]));
        json_object_set_new(body, "tags", t);
    }
    const char *doc = cli_opt_value(a, "documentation");
    if (doc != NULL)
        json_object_set_new(body, "documentation", json_string(doc));
    return CLI_OK;
}

static int parse_revision(const char *s, const char *what, int64_t *out)
{
    if (cf_parse_i64(s, 0, 2147483647, out) != 0) {
        cli_errorf("%s must be a revision number: %s", what, s);
        return CLI_EUSAGE;
    }
    return CLI_OK;
}

/* "name: value" lines of the members (for a terminal), values escaped. */
static void print_members(const json_t *obj, const char *const *members)
{
    struct cf_buf t = { 0 };
    char buf[1024];
    for (size_t i = 0; members[i] != NULL; i++) {
        if (json_object_get(obj, members[i]) != NULL) {
            (void)printf("%-20s %s\n", members[i],
                         cli_text(&t, cli_cell(obj, members[i], buf, sizeof(buf))));
        }
    }
    cf_buf_free(&t);
}

static const char *const cred_members[] = {
    "id",   "name",          "revision",           "enabled",       "credential_keys",
    "tags", "documentation", "last_rotation_date", "modified_date", "modified_by",
    NULL,
};

/* A credential: JSON, or lines; pairs only when reveal is set (else removed). */
static void print_credential(const struct cli *c, json_t *cred, bool reveal)
{
    if (!reveal)
        json_object_del(cred, "credential_pairs");
    if (c->json) {
        cli_print_json(cred, true);
        return;
    }
    print_members(cred, cred_members);
    struct cf_buf tk = { 0 }, tv = { 0 }; /* tv may hold a value: cleansed when freed */
    json_t *meta = json_object_get(cred, "metadata");
    const char *k;
    json_t *v;
    json_object_foreach(meta, k, v)
    {
        (void)printf("metadata.%-11s %s\n", cli_text(&tk, k),
                     cli_text(&tv, json_is_string(v) ? json_string_value(v) : "?"));
    }
    json_t *pairs = json_object_get(cred, "credential_pairs");
    json_object_foreach(pairs, k, v)
    {
        (void)printf("pair %-15s %s\n", cli_text(&tk, k),
                     cli_text(&tv, json_is_string(v) ? json_string_value(v) : "?"));
    }
    cf_buf_free(&tk);
    cf_buf_free(&tv);
}

/* GET a list endpoint page by page (member is the array's name) up to limit items (0: all). */
static int get_all(struct cli *c, const char *path, const char *member, int64_t limit,
                   json_t **items)
{
    char *page = NULL;
    int rc = CLI_OK;

    *items = json_array();
    for (;;) {
        struct cf_buf p = { 0 };
        struct cli_resp r;
        char lim[24];
        int64_t want = limit > 0 ? limit - (int64_t)json_array_size(*items) : 1000;
        if (cf_fmt(lim, sizeof(lim), "%lld", (long long)(want < 1000 ? want : 1000)) != 0)
            lim[0] = '\0';
        cf_buf_append_str(&p, path);
        cli_query(&p, "limit", lim);
        if (page != NULL)
            cli_query(&p, "page", page);
        rc = cli_request(c, "GET", p.data, NULL, false, &r);
        cf_buf_free(&p);
        free(page);
        page = NULL;
        if (rc == CLI_OK) {
            json_array_extend(*items, json_object_get(r.json, member));
            const char *next = cf_json_str(r.json, "next_page");
            if (next != NULL && (limit == 0 || (int64_t)json_array_size(*items) < limit))
                page = cf_xstrdup(next);
        }
        cli_resp_free(&r);
        if (rc != CLI_OK || page == NULL)
            break;
    }
    return rc;
}

static int list_limit(const struct cli_args *a, int64_t *limit)
{
    const char *v = cli_opt_value(a, "limit");
    *limit = 0;
    if (v != NULL && cf_parse_i64(v, 1, 1000000, limit) != 0) {
        cli_errorf("--limit is a number from 1");
        return CLI_EUSAGE;
    }
    return CLI_OK;
}

/* Prints a list: JSON lines, or a table of the columns (member names, NULL-terminated). */
static void print_list(const struct cli *c, const json_t *items, const char *const *cols)
{
    struct cli_table t;
    if (c->json) {
        for (size_t i = 0; i < json_array_size(items); i++)
            cli_print_json(json_array_get(items, i), true);
        return;
    }
    const char *head[CLI_TABLE_COLS + 1] = { 0 };
    char upper[CLI_TABLE_COLS][32];
    for (size_t k = 0; k < CLI_TABLE_COLS && cols[k] != NULL; k++) {
        size_t n = 0;
        for (; cols[k][n] != '\0' && n + 1 < sizeof(upper[k]); n++) {
            upper[k][n] = (char)toupper((unsigned char)cols[k][n]);
        }
        upper[k][n] = '\0';
        head[k] = upper[k];
    }
    cli_table_init(&t, head);
    char bufs[CLI_TABLE_COLS][256];
    for (size_t i = 0; i < json_array_size(items); i++) {
        const json_t *it = json_array_get(items, i);
        const char *cells[CLI_TABLE_COLS];
        for (size_t k = 0; k < t.ncols; k++)
            cells[k] = cli_cell(it, cols[k], bufs[k], sizeof(bufs[k]));
        cli_table_row(&t, cells);
    }
    cli_table_print(&t);
}

/* PUT or POST body to path; on success prints the answer with print. */
static int write_json(struct cli *c, const char *method, const char *path, const json_t *body,
                      json_t **answer)
{
    struct cli_resp r;
    int rc = cli_request(c, method, path, body, false, &r);
    *answer = rc == CLI_OK ? json_incref(r.json) : NULL;
    cli_resp_free(&r);
    return rc;
}

/* GET path into *answer. */
static int read_json(struct cli *c, const char *path, json_t **answer)
{
    return write_json(c, "GET", path, NULL, answer);
}

static int expected(const struct cli_args *a, int64_t current, int64_t *out)
{
    const char *v = cli_opt_value(a, "expected-revision");
    *out = current;
    return v != NULL ? parse_revision(v, "--expected-revision", out) : CLI_OK;
}

/* --- credentials ---------------------------------------------------------------------- */

static int cred_create(struct cli *c, const struct cli_args *a)
{
    json_t *body = json_object(), *pairs = NULL, *ans = NULL;
    int rc;

    if ((rc = pairs_from_input(a, NULL, true, &pairs)) != CLI_OK ||
        (rc = set_meta_tags(a, NULL, NULL, body)) != CLI_OK)
        goto out;
    json_object_set_new(body, "name", json_string(a->pos[0]));
    json_object_set(body, "credential_pairs", pairs);
    json_object_set_new(body, "enabled", json_boolean(!cli_flag(a, "disabled")));
    if ((rc = write_json(c, "POST", "/v1/credentials", body, &ans)) == CLI_OK)
        print_credential(c, ans, false);
out:
    json_decref(pairs);
    json_decref(body);
    json_decref(ans);
    return rc;
}

static int cred_update(struct cli *c, const struct cli_args *a)
{
    struct cf_buf path = { 0 };
    json_t *cur = NULL, *body = json_object(), *pairs = NULL, *ans = NULL;
    int64_t exp;
    int rc;

    if (cli_flag(a, "enable") && cli_flag(a, "disable")) {
        cli_errorf("--enable or --disable, not both");
        rc = CLI_EUSAGE;
        goto out;
    }
    /* read it first: the revision to base the write on, and the pairs --value keeps */
    bool need_pairs = cli_opt_value(a, "value") != NULL;
    cli_pathf(&path, "/v1/credentials/%s", a->pos[0]);
    cli_query(&path, "metadata_only", need_pairs ? "False" : "True");
    if ((rc = read_json(c, path.data, &cur)) != CLI_OK)
        goto out;
    const json_t *rev = json_object_get(cur, "revision");
    if ((rc = expected(a, json_integer_value(rev), &exp)) != CLI_OK ||
        (rc = pairs_from_input(a, need_pairs ? json_object_get(cur, "credential_pairs") : NULL,
                               false, &pairs)) != CLI_OK ||
        (rc = set_meta_tags(a, json_object_get(cur, "metadata"), json_object_get(cur, "tags"),
                            body)) != CLI_OK)
        goto out;
    if (pairs != NULL)
        json_object_set(body, "credential_pairs", pairs);
    if (cli_opt_value(a, "name") != NULL)
        json_object_set_new(body, "name", json_string(cli_opt_value(a, "name")));
    if (cli_flag(a, "enable") || cli_flag(a, "disable"))
        json_object_set_new(body, "enabled", json_boolean(cli_flag(a, "enable")));
    json_object_set_new(body, "expected_revision", json_integer(exp));
    cf_buf_reset(&path);
    cli_pathf(&path, "/v1/credentials/%s", a->pos[0]);
    if ((rc = write_json(c, "PUT", path.data, body, &ans)) == CLI_OK)
        print_credential(c, ans, false);
out:
    cf_buf_free(&path);
    json_decref(cur);
    json_decref(pairs);
    json_decref(body);
    json_decref(ans);
    return rc;
}

static const char *const cred_cols[] = {
    "id", "name", "revision", "enabled", "credential_keys", "modified_date", "modified_by", NULL
};

/* PUT <kind>/<id>/<revision> with an optional expected_revision query. */
static int revert(struct cli *c, const struct cli_args *a, const char *kind, json_t **ans)
{
    struct cf_buf path = { 0 };
    int64_t rev, exp;
    int rc;

    if ((rc = parse_revision(a->pos[1], "REVISION", &rev)) != CLI_OK)
        return rc;
    cli_pathf(&path, kind, a->pos[0]);
    if (cf_buf_printf(&path, "/%lld", (long long)rev) != 0)
        rc = CLI_EUSAGE;
    const char *e = cli_opt_value(a, "expected-revision");
    if (e != NULL && (rc = parse_revision(e, "--expected-revision", &exp)) == CLI_OK)
        cli_query(&path, "expected_revision", e);
    if (rc == CLI_OK)
        rc = write_json(c, "PUT", path.data, NULL, ans);
    cf_buf_free(&path);
    return rc;
}

int cli_cmd_credential(struct cli *c, const struct cli_args *a)
{
    struct cf_buf path = { 0 };
    json_t *ans = NULL;
    int64_t limit;
    int rc;

    if (is("credential create"))
        return cred_create(c, a);
    if (is("credential update"))
        return cred_update(c, a);
    if (is("credential list")) {
        if ((rc = list_limit(a, &limit)) == CLI_OK &&
            (rc = get_all(c, "/v1/credentials", "credentials", limit, &ans)) == CLI_OK)
            print_list(c, ans, cred_cols);
    } else if (is("credential show")) {
        bool reveal = cli_flag(a, "reveal");
        cli_pathf(&path, "/v1/credentials/%s", a->pos[0]);
        cli_query(&path, "metadata_only", reveal ? "False" : "True");
        if ((rc = read_json(c, path.data, &ans)) == CLI_OK)
            print_credential(c, ans, reveal);
    } else if (is("credential revert")) {
        if ((rc = revert(c, a, "/v1/credentials/%s", &ans)) == CLI_OK)
            print_credential(c, ans, false);
    } else if (is("credential history")) {
        cli_pathf(&path, "/v1/archive/credentials/%s", a->pos[0]);
        if ((rc = read_json(c, path.data, &ans)) == CLI_OK)
            print_list(c, json_object_get(ans, "revisions"), cred_cols);
    } else { /* diff */
        int64_t o, n;
        if ((rc = parse_revision(a->pos[1], "OLD", &o)) == CLI_OK &&
            (rc = parse_revision(a->pos[2], "NEW", &n)) == CLI_OK) {
            cli_pathf(&path, "/v1/credentials/%s", a->pos[0]);
            if (cf_buf_printf(&path, "/%lld/%lld", (long long)o, (long long)n) != 0)
                rc = CLI_EUSAGE;
            if (rc == CLI_OK && (rc = read_json(c, path.data, &ans)) == CLI_OK)
                cli_print_json(ans, c->json);
        }
    }
    cf_buf_free(&path);
    json_decref(ans);
    return rc;
}

/* --- services ------------------------------------------------------------------------- */

static const char *const svc_cols[] = { "id",          "revision",      "enabled",
                                        "credentials", "modified_date", "modified_by",
                                        NULL };

static void print_service(const struct cli *c, const json_t *svc)
{
    static const char *const members[] = { "id",      "revision",      "enabled",
                                           "account", "modified_date", "modified_by",
                                           NULL };
    size_t i;
    const json_t *cred;

    if (c->json) {
        cli_print_json(svc, true);
        return;
    }
    print_members(svc, members);
    struct cf_buf id = { 0 }, name = { 0 }, keys = { 0 };
    json_array_foreach(json_object_get(svc, "credentials"), i, cred)
    {
        char buf[1024];
        (void)printf(
            "credential           %s  %s  rev %s%s  keys %s\n",
            cli_text(&id, cf_json_str(cred, "id")), cli_text(&name, cf_json_str(cred, "name")),
            cli_cell(cred, "revision", buf, 24),
            json_is_false(json_object_get(cred, "enabled")) ? " (disabled)" : "",
            cli_text(&keys, cli_cell(cred, "credential_keys", buf + 24, sizeof(buf) - 24)));
    }
    cf_buf_free(&id);
    cf_buf_free(&name);
    cf_buf_free(&keys);
}

static bool is_credential_id(const char *s)
{
    size_t n = strspn(s, "0123456789abcdef");
    return n == 32 && s[n] == '\0';
}

/* The ids of the CREDENTIAL arguments: an id as it is, a name looked up (exactly) in the
 * credential list, so that people can map what they just created by its name. */
static int resolve_credentials(struct cli *c, const char **list, size_t n, json_t *ids_out)
{
    json_t *all = NULL;
    int rc = CLI_OK;

    for (size_t k = 0; k < n && rc == CLI_OK; k++) {
        if (is_credential_id(list[k])) {
            json_array_append_new(ids_out, json_string(list[k]));
            continue;
        }
        if (all == NULL && (rc = get_all(c, "/v1/credentials", "credentials", 0, &all)) != 0)
            break;
        const char *found = NULL;
        for (size_t i = 0; i < json_array_size(all); i++) {
            const json_t *cred = json_array_get(all, i);
            const char *name = cf_json_str(cred, "name");
            if (name != NULL && strcmp(name, list[k]) == 0)
                found = cf_json_str(cred, "id");
        }
        if (found == NULL) {
            cli_errorf("no credential has the id or name %s", list[k]);
            rc = CLI_ENOTFOUND;
        } else {
            json_array_append_new(ids_out, json_string(found));
        }
    }
    json_decref(all);
    return rc;
}

/* create, map and unmap: the new id list from the current one, sent with the revision. */
static int svc_write(struct cli *c, const struct cli_args *a)
{
    struct cf_buf path = { 0 };
    json_t *cur = NULL, *ids = json_array(), *body = json_object(), *ans = NULL;
    int64_t exp = 0;
    int rc;

    cli_pathf(&path, "/v1/services/%s", a->pos[0]);
    bool create = is("service create");
    if (!create) {
        struct cf_buf get = { 0 };
        cf_buf_append_str(&get, path.data);
        cli_query(&get, "metadata_only", "True");
        struct cli_resp r;
        rc = cli_request(c, "GET", get.data, NULL, true, &r);
        cf_buf_free(&get);
        if (rc == CLI_ENOTFOUND && is("service map")) {
            rc = CLI_OK; /* map creates the service: expected_revision 0 means create only */
        } else if (rc != CLI_OK) {
            const char *msg = cf_json_str(r.json, "error");
            cli_errorf("%s (HTTP %ld)", msg != NULL ? msg : r.error, r.status);
        } else {
            cur = json_incref(r.json);
            exp = json_integer_value(json_object_get(cur, "revision"));
            const json_t *creds = json_object_get(cur, "credentials");
            for (size_t i = 0; i < json_array_size(creds); i++) {
                const char *id = cf_json_str(json_array_get(creds, i), "id");
                json_array_append_new(ids, json_string(id != NULL ? id : ""));
            }
        }
        cli_resp_free(&r);
        if (rc != CLI_OK || (rc = expected(a, exp, &exp)) != CLI_OK)
            goto out;
    }
    const char *list[CLI_POS_MAX];
    size_t n = 0;
    json_t *wanted = json_array();
    if (create) {
        n = cli_opt_list(a, "credential", list, CLI_POS_MAX);
        n = n < CLI_POS_MAX ? n : CLI_POS_MAX;
    } else {
        for (int k = 1; k < a->npos; k++)
            list[n++] = a->pos[k];
    }
    rc = resolve_credentials(c, list, n, wanted);
    for (size_t k = 0; k < json_array_size(wanted) && rc == CLI_OK; k++) {
        const char *want = json_string_value(json_array_get(wanted, k));
        size_t at = json_array_size(ids);
        for (size_t i = 0; i < json_array_size(ids); i++) {
            if (strcmp(json_string_value(json_array_get(ids, i)), want) == 0)
                at = i;
        }
        if (is("service unmap") && at < json_array_size(ids)) {
            json_array_remove(ids, at);
        } else if (is("service unmap")) {
            cli_errorf("%s is not mapped to %s", list[k], a->pos[0]);
            rc = CLI_ENOTFOUND;
        } else if (at == json_array_size(ids)) {
            json_array_append_new(ids, json_string(want));
        }
    }
    json_decref(wanted);
    if (rc != CLI_OK)
        goto out;
    json_object_set(body, "credentials", ids);
    if (create)
        json_object_set_new(body, "enabled", json_boolean(!cli_flag(a, "disabled")));
    json_object_set_new(body, "expected_revision", json_integer(exp));
    if ((rc = write_json(c, "PUT", path.data, body, &ans)) == CLI_OK) {
        print_service(c, ans);
    } else if (rc == CLI_ECONFLICT && create) {
        cli_errorf("service %s exists already: use service map or unmap to change it", a->pos[0]);
    }
out:
    cf_buf_free(&path);
    json_decref(cur);
    json_decref(ids);
    json_decref(body);
    json_decref(ans);
    return rc;
}

int cli_cmd_service(struct cli *c, const struct cli_args *a)
{
    struct cf_buf path = { 0 };
    json_t *ans = NULL;
    int64_t limit;
    int rc;

    if (is("service create") || is("service map") || is("service unmap"))
        return svc_write(c, a);
    if (is("service list")) {
        if ((rc = list_limit(a, &limit)) == CLI_OK &&
            (rc = get_all(c, "/v1/services", "services", limit, &ans)) == CLI_OK)
            print_list(c, ans, svc_cols);
    } else if (is("service show")) {
        cli_pathf(&path, "/v1/services/%s", a->pos[0]);
        cli_query(&path, "metadata_only", "True");
        if ((rc = read_json(c, path.data, &ans)) == CLI_OK)
            print_service(c, ans);
    } else if (is("service revert")) {
        if ((rc = revert(c, a, "/v1/services/%s", &ans)) == CLI_OK)
            print_service(c, ans);
    } else { /* history */
        cli_pathf(&path, "/v1/archive/services/%s", a->pos[0]);
        if ((rc = read_json(c, path.data, &ans)) == CLI_OK)
            print_list(c, json_object_get(ans, "revisions"), svc_cols);
    }
    cf_buf_free(&path);
    json_decref(ans);
    return rc;
}

/* --- API tokens and principals -------------------------------------------------------- */

/* "3600", "90m", "12h", "30d" in seconds. */
static int parse_duration(const char *s, int64_t *out)
{
    size_t n = strlen(s);
    int64_t unit = 1, v;
    char num[24];

    if (n > 0 && strchr("smhd", s[n - 1]) != NULL) {
        unit = s[n - 1] == 's' ? 1 : s[n - 1] == 'm' ? 60 : s[n - 1] == 'h' ? 3600 : 86400;
        n--;
    }
    if (cf_fmt(num, sizeof(num), "%.*s", (int)n, s) != 0 ||
        cf_parse_i64(num, 1, 366LL * 86400, &v) != 0 || v > 366LL * 86400 / unit) {
        cli_errorf("--ttl is a duration such as 3600, 90m, 12h or 30d: %s", s);
        return CLI_EUSAGE;
    }
    *out = v * unit;
    return CLI_OK;
}

static const char *const token_cols[] = { "id",           "name",       "role",       "expires_at",
                                          "last_used_at", "revoked_at", "created_by", NULL };

int cli_cmd_api_token(struct cli *c, const struct cli_args *a)
{
    struct cf_buf path = { 0 };
    json_t *ans = NULL, *body = NULL;
    int rc = CLI_OK;

    if (is("api-token create")) {
        const char *role = cli_opt_value(a, "role"), *ttl = cli_opt_value(a, "ttl");
        int64_t secs = 0;
        if (role == NULL) {
            cli_errorf("api-token create needs --role admin|auditor");
            return CLI_EUSAGE;
        }
        if (ttl != NULL && (rc = parse_duration(ttl, &secs)) != CLI_OK)
            return rc;
        body = json_pack("{s:s, s:s}", "name", a->pos[0], "role", role);
        if (ttl != NULL)
            json_object_set_new(body, "ttl_seconds", json_integer(secs));
        if ((rc = write_json(c, "POST", "/v1/tokens", body, &ans)) == CLI_OK) {
            if (c->json) {
                cli_print_json(ans, true);
            } else {
                static const char *const m[] = { "id", "name", "role", "expires_at", NULL };
                print_members(ans, m);
                struct cf_buf t = { 0 }; /* the new token: cleansed when freed */
                (void)printf("token                %s\n(shown only this once)\n",
                             cli_text(&t, cf_json_str(ans, "token")));
                cf_buf_free(&t);
            }
        }
    } else if (is("api-token list")) {
        cf_buf_append_str(&path, "/v1/tokens");
        if (cli_flag(a, "include-revoked"))
            cli_query(&path, "include_revoked", "true");
        if ((rc = read_json(c, path.data, &ans)) == CLI_OK)
            print_list(c, json_object_get(ans, "tokens"), token_cols);
    } else { /* revoke */
        cli_pathf(&path, "/v1/tokens/%s", a->pos[0]);
        if ((rc = write_json(c, "DELETE", path.data, NULL, &ans)) == CLI_OK)
            cli_print_json(ans, c->json);
    }
    cf_buf_free(&path);
    json_decref(body);
    json_decref(ans);
    return rc;
}

int cli_cmd_principal(struct cli *c, const struct cli_args *a)
{
    static const char *const cols[] = { "name", "role", "modified_at", "modified_by", NULL };
    struct cf_buf path = { 0 };
    json_t *ans = NULL, *body = NULL;
    int rc;

    if (is("principal list")) {
        if ((rc = read_json(c, "/v1/principals", &ans)) == CLI_OK)
            print_list(c, json_object_get(ans, "principals"), cols);
        goto out;
    }
    cli_pathf(&path, "/v1/principals/%s", a->pos[0]);
    if (is("principal set")) {
        const char *role = cli_opt_value(a, "role");
        if (role == NULL) {
            cli_errorf("principal set needs --role admin|auditor");
            rc = CLI_EUSAGE;
            goto out;
        }
        body = json_pack("{s:s}", "role", role);
        rc = write_json(c, "PUT", path.data, body, &ans);
    } else {
        rc = write_json(c, "DELETE", path.data, NULL, &ans);
    }
    if (rc == CLI_OK)
        cli_print_json(ans, c->json);
out:
    cf_buf_free(&path);
    json_decref(body);
    json_decref(ans);
    return rc;
}
