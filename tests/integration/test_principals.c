/*
 * test_principals.c - people and auditors (API.md 2.5, 8.4): an auditor reads metadata only; a
 * person's kmsauth user token gets the role of its principal, and none without one; the
 * /v1/principals endpoints (admin only) and `cofferd principal set|remove|list`, each with its
 * access-log row (8.2).
 */
#include <pwd.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>
#include <jansson.h>

#include "cf_json.h"
#include "cf_log.h"
#include "tkms.h"

#define PRINCIPAL_MEMBERS "name,role,created_at,created_by,modified_at,modified_by"
#define POLL_SECONDS      30

/* A kmsauth user token for name and its Basic header. */
struct person {
    char name[64];
    char username[200];
    char *token;
    struct tkms_creds basic;
};

static void person_new(const struct tkms *f, const char *prefix, struct person *p)
{
    tapi_name(p->name, sizeof(p->name), prefix);
    tkms_username(2, "user", p->name, p->username, sizeof(p->username));
    p->token = tkms_token(f, 2, "user", p->name);
    tkms_creds(TKMS_BASIC, p->username, p->token, &p->basic);
}

static void person_free(struct person *p)
{
    free(p->token);
    tkms_creds_free(&p->basic);
}

/* GET the path fmt formats, as p. */
static void get_as(const struct tapi *api, const struct person *p, struct t_resp *r,
                   const char *fmt, ...) __attribute__((format(printf, 4, 5)));

static void get_as(const struct tapi *api, const struct person *p, struct t_resp *r,
                   const char *fmt, ...)
{
    const char *h[] = { p->basic.h[0], NULL };
    char path[256];
    va_list ap;

    va_start(ap, fmt);
    int n = vsnprintf(path, sizeof(path), fmt, ap);
    va_end(ap);
    assert_true(n > 0 && (size_t)n < sizeof(path));
    tapi_send_h(api, h, "GET", NULL, r, "%s", path);
}

/* A service mapping one credential {"pw": value}; the credential's name in name. */
static void service_with(const struct tkms *f, const char *value, char *sid, size_t cap, char *name,
                         size_t ncap)
{
    char id[TAPI_ID_LEN];
    const char *ids[] = { id, NULL };

    tapi_name(name, ncap, "prin-cred-");
    char *pairs = tapi_printf("{\"pw\": \"%s\"}", value);
    tapi_cred_new(&f->api, name, pairs, id);
    free(pairs);
    tapi_name(sid, cap, "svc-prin-");
    tapi_svc_map(&f->api, sid, ids);
}

/* PUT /v1/principals/<name> {"role": role} as the admin; returns the answer (decref it). */
static json_t *principal_put(const struct tkms *f, const char *name, const char *role)
{
    struct t_resp r;
    char *body = tapi_printf("{\"role\": \"%s\"}", role);
    tapi_send(&f->api, f->api.admin, "PUT", body, &r, "/v1/principals/%s", name);
    json_t *p = tapi_ok(&r);
    tapi_audit(&f->api, &r, TAPI_ADMIN_ACTOR, "principal.set", "principal", name, TAPI_ANY,
               "allowed", "ok");
    t_resp_free(&r);
    free(body);
    tapi_assert_members(p, PRINCIPAL_MEMBERS);
    assert_string_equal(tapi_str(p, "name"), name);
    assert_string_equal(tapi_str(p, "role"), role);
    tapi_assert_timestamp(tapi_str(p, "created_at"));
    tapi_assert_timestamp(tapi_str(p, "modified_at"));
    assert_string_equal(tapi_str(p, "modified_by"), TAPI_ADMIN_ACTOR);
    return p;
}

static void test_an_auditor_reads_service_metadata_but_never_a_bundle(void **state)
{
    struct tkms *f = *state;
    char sid[64], name[64];
    struct person p;
    struct t_resp r;

    service_with(f, "auditor-never-sees-this", sid, sizeof(sid), name, sizeof(name));
    person_new(f, "audrey-", &p);
    json_decref(principal_put(f, p.name, "auditor"));

    /* the same rights through an auditor API token and through an auditor principal */
    const char *api_h[] = { f->api.auditor, NULL }, *user_h[] = { p.basic.h[0], NULL };
    const char *const *as[] = { api_h, user_h };
    const char *actor_types[] = { "token", "user" }, *actors[] = { TAPI_AUDITOR_ACTOR, p.name };
    for (size_t i = 0; i < 2; i++) {
        print_message("as %s\n", actors[i]);
        static const char *const paths[][2] = { { "/v1/services/", "" },
                                                { "/v1/services/", "?metadata_only=False" },
                                                { "/v1/services/no-such-", "" } };
        for (size_t k = 0; k < 3; k++) {
            char path[200];
            snprintf(path, sizeof(path), "%s%s%s", paths[k][0], sid, paths[k][1]);
            tapi_send_h(&f->api, as[i], "GET", NULL, &r, "%s", path);
            tapi_check_error(&r, 403, "forbidden");
            tapi_assert_no_secret(r.body.data, "auditor-never-sees-this", "a 403 body");
            t_resp_free(&r);
        }
        tapi_send_h(&f->api, as[i], "GET", NULL, &r, "/v1/services/%s?metadata_only=True", sid);
        json_t *s = tapi_ok(&r);
        tapi_assert_json(json_object_get(s, "permissions"),
                         "{\"metadata\": true, \"get\": false, \"update\": false}");
        json_t *pairs = tkms_bundle_pairs(s, name);
        tapi_assert_json(pairs, "{}");
        tapi_assert_no_secret(r.body.data, "auditor-never-sees-this", "a metadata-only bundle");
        tkms_audit(&f->api, &r, actor_types[i], actors[i], "service.get_metadata", sid, "allowed",
                   "ok");
        json_decref(s);
        t_resp_free(&r);
    }
    person_free(&p);
}

static void test_a_person_without_a_principal_is_403_until_an_admin_gives_a_role(void **state)
{
    struct tkms *f = *state;
    char sid[64], name[64];
    struct cf_buf deferred = { 0 };
    struct person p;
    struct t_resp r;

    service_with(f, "person-secret-value", sid, sizeof(sid), name, sizeof(name));
    person_new(f, "alice.smith@example.com+", &p); /* an IAM user name may hold @ . + */

    get_as(&f->api, &p, &r, "/v1/services/%s?metadata_only=True", sid);
    tapi_check_error(&r, 403, "forbidden");
    /* API.md 8.2: the reason is the error code */
    tapi_collect(&deferred, "audit row of a person without a principal",
                 tkms_audit_diff(&f->api, &r, "user", p.name, "service.get_metadata", sid, "denied",
                                 "forbidden"));
    t_resp_free(&r);
    get_as(&f->api, &p, &r, "/v1/user/email");
    tapi_check_error(&r, 403, "forbidden");
    t_resp_free(&r);

    json_t *created = principal_put(f, p.name, "admin");
    assert_string_equal(tapi_str(created, "created_by"), TAPI_ADMIN_ACTOR);

    /* the writing node applies the change on the next request */
    get_as(&f->api, &p, &r, "/v1/services/%s?metadata_only=False", sid);
    json_t *s = tapi_ok(&r);
    tapi_assert_json(tkms_bundle_pairs(s, name), "{\"pw\": \"person-secret-value\"}");
    tapi_assert_json(json_object_get(s, "permissions"),
                     "{\"metadata\": true, \"get\": true, \"update\": true}");
    tkms_audit(&f->api, &r, "user", p.name, "service.get", sid, "allowed", "ok");
    json_decref(s);
    t_resp_free(&r);
    get_as(&f->api, &p, &r, "/v1/user/email");
    s = tapi_ok(&r);
    assert_string_equal(tapi_str(s, "email"), p.name);
    assert_string_equal(tapi_str(s, "actor_type"), "user");
    assert_string_equal(tapi_str(s, "role"), "admin");
    json_decref(s);
    t_resp_free(&r);
    get_as(&f->api, &p, &r, "/v1/principals"); /* an admin person manages principals */
    json_decref(tapi_ok(&r));
    t_resp_free(&r);

    json_t *changed = principal_put(f, p.name, "auditor");
    assert_string_equal(tapi_str(changed, "created_at"), tapi_str(created, "created_at"));
    assert_true(strcmp(tapi_str(changed, "modified_at"), tapi_str(created, "modified_at")) >= 0);
    get_as(&f->api, &p, &r, "/v1/services/%s?metadata_only=False", sid);
    tapi_check_error(&r, 403, "forbidden");
    tapi_assert_no_secret(r.body.data, "person-secret-value", "a 403 body");
    t_resp_free(&r);
    get_as(&f->api, &p, &r, "/v1/services/%s?metadata_only=True", sid);
    json_decref(tapi_ok(&r));
    t_resp_free(&r);

    tapi_send(&f->api, f->api.admin, "DELETE", NULL, &r, "/v1/principals/%s", p.name);
    s = tapi_ok(&r);
    tapi_assert_members(s, PRINCIPAL_MEMBERS);
    assert_string_equal(tapi_str(s, "name"), p.name);
    assert_string_equal(tapi_str(s, "role"), "auditor");
    tapi_audit(&f->api, &r, TAPI_ADMIN_ACTOR, "principal.remove", "principal", p.name, TAPI_ANY,
               "allowed", "ok");
    json_decref(s);
    t_resp_free(&r);
    get_as(&f->api, &p, &r, "/v1/services/%s?metadata_only=True", sid);
    tapi_check_error(&r, 403, "forbidden");
    t_resp_free(&r);
    tapi_send(&f->api, f->api.admin, "DELETE", NULL, &r, "/v1/principals/%s", p.name);
    tapi_check_error(&r, 404, "not_found");
    t_resp_free(&r);

    json_decref(created);
    json_decref(changed);
    person_free(&p);
    tapi_collect_end(&deferred);
}

static void test_the_principal_endpoints_answer_as_documented_and_only_to_admins(void **state)
{
    struct tkms *f = *state;
    char names[3][64], sid[64], stoken_user[200];
    struct person aud;
    struct t_resp r;

    /* lowercase names: "by name" is the same in every collation */
    tapi_name(names[0], sizeof(names[0]), "pz-");
    tapi_name(names[1], sizeof(names[1]), "pa-");
    tapi_name(names[2], sizeof(names[2]), "pm-");
    for (size_t i = 0; i < 3; i++)
        json_decref(principal_put(f, names[i], i == 1 ? "auditor" : "admin"));

    tapi_send(&f->api, f->api.admin, "GET", NULL, &r, "/v1/principals");
    json_t *b = tapi_ok(&r);
    tapi_assert_members(b, "principals");
    tapi_audit(&f->api, &r, TAPI_ADMIN_ACTOR, "principal.list", "principal", NULL, TAPI_ANY,
               "allowed", "ok");
    t_resp_free(&r);
    json_t *list = json_object_get(b, "principals"), *it;
    size_t i;
    const char *prev = "";
    int seen = 0;
    json_array_foreach(list, i, it)
    {
        tapi_assert_members(it, PRINCIPAL_MEMBERS);
        const char *n = tapi_str(it, "name");
        if (strcmp(prev, n) >= 0)
            fail_msg("principals are not sorted by name: %s then %s", prev, n);
        prev = n;
        for (size_t k = 0; k < 3; k++) {
            if (strcmp(n, names[k]) == 0) {
                seen++;
                assert_string_equal(tapi_str(it, "role"), k == 1 ? "auditor" : "admin");
                assert_string_equal(tapi_str(it, "created_by"), TAPI_ADMIN_ACTOR);
            }
        }
    }
    assert_int_equal(seen, 3);
    json_decref(b);

    /* nobody but an admin: an auditor token, an auditor person, a service */
    person_new(f, "auditor-person-", &aud);
    json_decref(principal_put(f, aud.name, "auditor"));
    tapi_name(sid, sizeof(sid), "svc-prin-x-");
    tkms_username(2, "service", sid, stoken_user, sizeof(stoken_user));
    char *stoken = tkms_token(f, 2, "service", sid);
    struct tkms_creds sc;
    tkms_creds(TKMS_BASIC, stoken_user, stoken, &sc);
    const char *who[] = { f->api.auditor, aud.basic.h[0], sc.h[0] };
    struct cf_buf problems = { 0 };
    char *before = tapi_sql(&f->api, "SELECT count(*) || md5(string_agg(name || role, ',' ORDER "
                                     "BY name)) FROM principals");
    for (size_t k = 0; k < 3; k++) {
        const char *h[] = { who[k], "Content-Type: application/json", NULL };
        static const char *const methods[] = { "GET", "PUT", "DELETE" };
        for (size_t c = 0; c < 3; c++) {
            char path[128], label[160];
            snprintf(path, sizeof(path), "/v1/principals%s%s", c == 0 ? "" : "/",
                     c == 0 ? "" : names[0]);
            snprintf(label, sizeof(label), "%s %s as caller %zu", methods[c], path, k);
            tapi_send_h(&f->api, h, methods[c], c == 1 ? "{\"role\": \"admin\"}" : NULL, &r, "%s",
                        path);
            tapi_collect(&problems, label, tapi_error_diff(&r, 403, "forbidden"));
            t_resp_free(&r);
        }
    }
    char *after = tapi_sql(&f->api, "SELECT count(*) || md5(string_agg(name || role, ',' ORDER "
                                    "BY name)) FROM principals");
    if (strcmp(before, after) != 0)
        tapi_collect(&problems, "refused writes", tapi_printf("the principals changed"));
    free(before);
    free(after);

    /* invalid input */
    static const char *const bad[][2] = {
        { "good-name", "{\"role\": \"root\"}" },
        { "good-name", "{\"role\": \"service\"}" },
        { "good-name", "{}" },
        { "good-name", "{\"role\": 1}" },
        { "a:b", "{\"role\": \"admin\"}" },
        { "%20x", "{\"role\": \"admin\"}" },
        { "caf%C3%A9", "{\"role\": \"admin\"}" },
    };
    for (size_t k = 0; k < sizeof(bad) / sizeof(bad[0]); k++) {
        char label[160];
        snprintf(label, sizeof(label), "PUT /v1/principals/%s %s", bad[k][0], bad[k][1]);
        tapi_send(&f->api, f->api.admin, "PUT", bad[k][1], &r, "/v1/principals/%s", bad[k][0]);
        tapi_collect(&problems, label,
                     tapi_error_diff(&r, 400, "invalid_request|invalid_name|invalid_parameter"));
        t_resp_free(&r);
    }
    char *long_name = tapi_rep('n', 129);
    tapi_send(&f->api, f->api.admin, "PUT", "{\"role\": \"admin\"}", &r, "/v1/principals/%s",
              long_name);
    tapi_collect(&problems, "a name of 129 bytes",
                 tapi_error_diff(&r, 400, "invalid_request|invalid_name"));
    t_resp_free(&r);
    free(long_name);
    if (tapi_count(&f->api, "SELECT count(*) FROM principals WHERE name IN ('good-name', 'a:b', "
                            "' x')") != 0)
        tapi_collect(&problems, "invalid input", tapi_printf("a principal was stored anyway"));

    /* removing a principal that does not exist */
    tapi_send(&f->api, f->api.admin, "DELETE", NULL, &r, "/v1/principals/nobody-at-all");
    tapi_collect(&problems, "DELETE unknown", tapi_error_diff(&r, 404, "not_found"));
    t_resp_free(&r);
    tapi_collect_end(&problems);

    tkms_creds_free(&sc);
    free(stoken);
    person_free(&aud);
}

/* Runs `cofferd principal ...` on the fixture's database; its stdout in out (may be NULL). */
static int cofferd_principal(const struct tkms *f, struct cf_buf *out, char *a1, char *a2, char *a3,
                             char *a4)
{
    char url[T_URL_MAX + 32];
    snprintf(url, sizeof(url), "COFFER_DATABASE_URL=%s", f->api.db.app_url);
    char *const argv[] = {
        (char *)t_env("COFFER_TEST_COFFERD"), "principal", a1, a2, a3, a4, NULL
    };
    char *const env[] = { url, NULL };
    return t_run(argv, env, out);
}

/* "system|cofferd:<user>|principal|<name>|allowed|ok" of the last row of action for name. */
static char *cli_row(const struct tkms *f, const char *action, const char *name)
{
    char *cond =
        name != NULL ? tapi_printf("resource_id = '%s'", name) : tapi_printf("resource_id IS NULL");
    char *sql = tapi_printf(
        "SELECT concat_ws('|', actor_type, actor, resource_type, coalesce(resource_id, '<null>'), "
        "result, reason) FROM audit_log WHERE action = '%s' AND actor_type = 'system' AND %s "
        "ORDER BY id DESC LIMIT 1",
        action, cond);
    free(cond);
    char *row = tapi_sql(&f->api, sql);
    free(sql);
    return row;
}

static void test_cofferd_principal_commands_manage_roles_with_audit_rows(void **state)
{
    struct tkms *f = *state;
    char sid[64], name[64], actor[160], want[300], path[160], nobody[64];
    struct passwd pw, *res = NULL;
    char pwbuf[1024];
    struct cf_buf out = { 0 };
    struct person carol;
    struct t_resp r;

    if (getpwuid_r(geteuid(), &pw, pwbuf, sizeof(pwbuf), &res) == 0 && res != NULL)
        snprintf(actor, sizeof(actor), "cofferd:%s", pw.pw_name);
    else
        snprintf(actor, sizeof(actor), "cofferd:%u", (unsigned)geteuid());
    service_with(f, "cli-principal-secret", sid, sizeof(sid), name, sizeof(name));
    person_new(f, "carol-", &carol);
    const char *h[] = { carol.basic.h[0], NULL };

    assert_int_equal(cofferd_principal(f, &out, "set", carol.name, "--role", "auditor"), 0);
    assert_non_null(strstr(out.data, carol.name));
    assert_non_null(strstr(out.data, "auditor"));
    cf_buf_reset(&out);
    char *row = cli_row(f, "principal.set", carol.name);
    snprintf(want, sizeof(want), "system|%s|principal|%s|allowed|ok", actor, carol.name);
    assert_string_equal(row, want);
    free(row);

    /* a running cofferd applies it (no timing asserted: only that it happens) */
    snprintf(path, sizeof(path), "/v1/services/%s?metadata_only=True", sid);
    assert_int_equal(tkms_poll_status(&f->api, h, path, 200, POLL_SECONDS), 200);
    snprintf(path, sizeof(path), "/v1/services/%s?metadata_only=False", sid);
    get_as(&f->api, &carol, &r, "%s", path);
    tapi_check_error(&r, 403, "forbidden");
    t_resp_free(&r);
    tapi_send(&f->api, f->api.admin, "GET", NULL, &r, "/v1/principals");
    assert_non_null(strstr(r.body.data, actor)); /* created_by */
    t_resp_free(&r);

    assert_int_equal(cofferd_principal(f, NULL, "set", carol.name, "--role", "admin"), 0);
    assert_int_equal(tkms_poll_status(&f->api, h, path, 200, POLL_SECONDS), 200);

    assert_int_equal(cofferd_principal(f, &out, "list", NULL, NULL, NULL), 0);
    assert_non_null(strstr(out.data, carol.name));
    cf_buf_reset(&out);
    row = cli_row(f, "principal.list", NULL);
    snprintf(want, sizeof(want), "system|%s|principal|<null>|allowed|ok", actor);
    assert_string_equal(row, want);
    free(row);

    assert_int_equal(cofferd_principal(f, &out, "remove", carol.name, NULL, NULL), 0);
    cf_buf_reset(&out);
    row = cli_row(f, "principal.remove", carol.name);
    snprintf(want, sizeof(want), "system|%s|principal|%s|allowed|ok", actor, carol.name);
    assert_string_equal(row, want);
    free(row);
    snprintf(path, sizeof(path), "/v1/services/%s?metadata_only=True", sid);
    assert_int_equal(tkms_poll_status(&f->api, h, path, 403, POLL_SECONDS), 403);

    /* failures */
    tapi_name(nobody, sizeof(nobody), "nobody-");
    assert_int_equal(cofferd_principal(f, NULL, "remove", nobody, NULL, NULL), 1);
    assert_int_equal(cofferd_principal(f, NULL, "set", nobody, "--role", "root"), 2);
    assert_int_equal(cofferd_principal(f, NULL, "set", "a:b", "--role", "admin"), 2);
    assert_int_equal(cofferd_principal(f, NULL, "frobnicate", NULL, NULL, NULL), 2);
    char *sql = tapi_printf("SELECT count(*) FROM principals WHERE name IN ('%s', 'a:b')", nobody);
    assert_int_equal(tapi_count(&f->api, sql), 0);
    free(sql);
    cf_buf_free(&out);
    person_free(&carol);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_an_auditor_reads_service_metadata_but_never_a_bundle),
        cmocka_unit_test(test_a_person_without_a_principal_is_403_until_an_admin_gives_a_role),
        cmocka_unit_test(test_the_principal_endpoints_answer_as_documented_and_only_to_admins),
        cmocka_unit_test(test_cofferd_principal_commands_manage_roles_with_audit_rows),
    };

    cf_json_init();
    cf_log_set_level(CF_LOG_ERROR);
    return t_run_group_tests(tests, tkms_setup, tkms_teardown);
}
