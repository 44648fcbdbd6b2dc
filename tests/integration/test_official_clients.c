/*
 * test_official_clients.c - the clients a service really uses (API.md 2.2, 6): the flow of the
 * official Python clients (python/kmsauth_client.py, run with COFFER_TEST_PYTHON: a token made
 * as python-kmsauth makes it, the fetch as python-confidant-client sends it), byte-for-byte
 * agreement between that token's payload and coffer's C generator, and the `coffer` CLI.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>
#include <jansson.h>

#include "auth_kmsauth_gen.h"
#include "cf_json.h"
#include "cf_log.h"
#include "tkms.h"

#ifndef COFFER_TEST_PY_DIR
#error "COFFER_TEST_PY_DIR (tests/python) must be defined by the build"
#endif

/* A service with two credentials (one with an env_var_prefix), another service, and the
 * EXPECT_PAIRS JSON of the first. */
struct scene {
    char sid[64], other[64], missing[64];
    char db_name[64], api_name[64];
    char *expect; /* {"<name>": {pairs}, ...} */
};

static void scene_new(const struct tkms *f, struct scene *s, const char *tag)
{
    char a[TAPI_ID_LEN], b[TAPI_ID_LEN], c[TAPI_ID_LEN], prefix[64];

    snprintf(prefix, sizeof(prefix), "%s db ", tag);
    tapi_name(s->db_name, sizeof(s->db_name), prefix);
    char *body = tapi_printf("{\"name\": \"%s\", \"credential_pairs\": {\"password\": "
                             "\"%s-s3cr3t\", \"username\": \"%s-user\"}, \"metadata\": "
                             "{\"env_var_prefix\": \"DB_\"}}",
                             s->db_name, tag, tag);
    json_decref(tapi_cred_post(&f->api, body, a));
    free(body);
    snprintf(prefix, sizeof(prefix), "%s api ", tag);
    tapi_name(s->api_name, sizeof(s->api_name), prefix);
    char *pairs = tapi_printf("{\"api_key\": \"%s-key-0123\"}", tag);
    tapi_cred_new(&f->api, s->api_name, pairs, b);
    free(pairs);
    tapi_name(s->sid, sizeof(s->sid), "svc-client-");
    const char *ids[] = { a, b, NULL };
    tapi_svc_map(&f->api, s->sid, ids);

    char name[64];
    tapi_name(name, sizeof(name), "other ");
    tapi_cred_new(&f->api, name, "{\"other\": \"other-service-secret\"}", c);
    tapi_name(s->other, sizeof(s->other), "svc-client-other-");
    const char *oids[] = { c, NULL };
    tapi_svc_map(&f->api, s->other, oids);
    tapi_name(s->missing, sizeof(s->missing), "svc-client-missing-");
    s->expect = tapi_printf("{\"%s\": {\"password\": \"%s-s3cr3t\", \"username\": \"%s-user\"}, "
                            "\"%s\": {\"api_key\": \"%s-key-0123\"}}",
                            s->db_name, tag, tag, s->api_name, tag);
}

static void test_the_official_python_client_flow_works_unchanged(void **state)
{
    struct tkms *f = *state;
    struct scene s;
    struct cf_buf out = { 0 };
    char payload[AUTH_KMSAUTH_PAYLOAD_MAX];

    scene_new(f, &s, "py");
    char *c_token = tkms_token(f, 2, "service", s.sid);
    char *env[] = {
        tapi_printf("COFFER_URL=%s", f->api.d.base_url),
        tapi_printf("AWS_ENDPOINT_URL_KMS=%s", f->moto_url),
        tapi_printf("AWS_REGION=us-east-1"),
        tapi_printf("AWS_ACCESS_KEY_ID=test"),
        tapi_printf("AWS_SECRET_ACCESS_KEY=test"),
        tapi_printf("AWS_EC2_METADATA_DISABLED=true"),
        tapi_printf("KMSAUTH_KEY=%s", f->auth.alias),
        tapi_printf("KMSAUTH_KEY_ARN=%s", f->auth.arn),
        tapi_printf("KMSAUTH_TO=%s", f->context),
        tapi_printf("KMSAUTH_SERVICE=%s", s.sid),
        tapi_printf("KMSAUTH_OTHER_SERVICE=%s", s.other),
        tapi_printf("KMSAUTH_MISSING=%s", s.missing),
        tapi_printf("EXPECT_PAIRS=%s", s.expect),
        tapi_printf("C_TOKEN=%s", c_token),
        NULL,
    };
    char *const argv[] = { (char *)t_env("COFFER_TEST_PYTHON"),
                           COFFER_TEST_PY_DIR "/kmsauth_client.py", NULL };
    int rc = t_run(argv, env, &out);
    if (rc != 0)
        fail_msg("kmsauth_client.py exited %d (its failures are on stderr above)", rc);

    /* its token's payload is what coffer's generator writes for the same window */
    json_error_t jerr;
    const char *last = out.data;
    for (const char *p = out.data; p != NULL && *p != '\0'; p++) {
        if (*p == '\n' && p[1] != '\0')
            last = p + 1;
    }
    json_t *w = json_loads(last, JSON_DISABLE_EOF_CHECK, &jerr);
    if (w == NULL)
        fail_msg("kmsauth_client.py printed no window: %s", out.data);
    assert_int_equal(
        auth_kmsauth_payload(tapi_int(w, "not_before"), tapi_int(w, "not_after"), payload), 0);
    assert_string_equal(payload, tapi_str(w, "payload"));
    if (tapi_int(w, "checks") < 60)
        fail_msg("kmsauth_client.py ran only %lld checks", (long long)tapi_int(w, "checks"));
    print_message("kmsauth_client.py: %lld checks passed\n", (long long)tapi_int(w, "checks"));
    json_decref(w);

    /* the fetches are in the access log as the service */
    char *sql = tapi_printf("SELECT count(*) FROM audit_log WHERE actor_type = 'service' AND "
                            "actor = '%s' AND action = 'service.get' AND result = 'allowed'",
                            s.sid);
    assert_true(tapi_count(&f->api, sql) >= 3);
    free(sql);

    for (size_t i = 0; env[i] != NULL; i++)
        free(env[i]);
    free(c_token);
    free(s.expect);
    cf_buf_free(&out);
}

/* Runs the coffer CLI against the fixture's cofferd and KMS; its stdout in out. */
static int coffer_cli(const struct tkms *f, struct cf_buf *out, char *const args[])
{
    char path[600], *argv[16];
    size_t n = 0;

    tkms_built_program("cli/coffer", path, sizeof(path));
    argv[n++] = path;
    for (size_t i = 0; args[i] != NULL && n < 15; i++)
        argv[n++] = args[i];
    argv[n] = NULL;
    char *env[] = {
        "COFFER_KMS_BACKEND=aws",
        tapi_printf("AWS_ENDPOINT_URL_KMS=%s", f->moto_url),
        "AWS_REGION=us-east-1",
        "AWS_ACCESS_KEY_ID=test",
        "AWS_SECRET_ACCESS_KEY=test",
        "AWS_EC2_METADATA_DISABLED=true",
        tapi_printf("COFFER_AUTH_KEY=%s", f->auth.alias),
        tapi_printf("COFFER_USER_AUTH_KEY=%s", f->user.alias),
        tapi_printf("COFFER_AUTH_CONTEXT=%s", f->context),
        tapi_printf("COFFER_URL=%s", f->api.d.base_url),
        NULL,
    };
    int rc = t_run(argv, env, out);
    free(env[1]);
    for (size_t i = 6; env[i] != NULL; i++)
        free(env[i]);
    return rc;
}

/* The bundle the CLI printed (its body and a newline). */
static json_t *cli_bundle(const struct cf_buf *out)
{
    json_error_t jerr;
    json_t *b = json_loads(out->data != NULL ? out->data : "", 0, &jerr);
    if (b == NULL)
        fail_msg("coffer get-service printed no JSON: %s", out->data != NULL ? out->data : "");
    return b;
}

static void test_the_coffer_cli_fetches_the_bundle_with_its_own_tokens(void **state)
{
    struct tkms *f = *state;
    struct cf_buf out = { 0 };
    struct scene s;
    char pw[64];
    struct t_resp r;

    scene_new(f, &s, "cli");
    snprintf(pw, sizeof(pw), "{\"password\": \"cli-s3cr3t\", \"username\": \"cli-user\"}");

    /* get-service, with version 2 (the default) and version 1 tokens */
    char *const v2[] = { "get-service", s.sid, NULL };
    char *const v1[] = { "get-service", s.sid, "--token-version", "1", NULL };
    char *const *forms[] = { v2, v1 };
    for (size_t i = 0; i < 2; i++) {
        assert_int_equal(coffer_cli(f, &out, forms[i]), 0);
        json_t *b = cli_bundle(&out);
        assert_string_equal(tapi_str(b, "id"), s.sid);
        tapi_assert_json(tkms_bundle_pairs(b, s.db_name), pw);
        tapi_assert_json(tkms_bundle_pairs(b, s.api_name), "{\"api_key\": \"cli-key-0123\"}");
        json_decref(b);
        cf_buf_reset(&out);
    }
    char *const meta[] = { "get-service", s.sid, "--metadata-only", NULL };
    assert_int_equal(coffer_cli(f, &out, meta), 0);
    json_t *b = cli_bundle(&out);
    tapi_assert_json(tkms_bundle_pairs(b, s.db_name), "{}");
    json_decref(b);
    cf_buf_reset(&out);
    /* another service: refused, and the CLI says so with its exit status (4: forbidden) */
    char *const other[] = { "get-service", s.other, "--from", s.sid, NULL };
    assert_int_equal(coffer_cli(f, &out, other), 4);
    tapi_assert_absent(out.data, "other-service-secret", "the CLI's output");
    cf_buf_reset(&out);

    /* coffer token: the bare token for the header pair, and a ready Basic header */
    char *const tok[] = { "token", "--from", s.sid, NULL };
    assert_int_equal(coffer_cli(f, &out, tok), 0);
    assert_true(out.len > 1 && out.data[out.len - 1] == '\n');
    out.data[--out.len] = '\0';
    char user[200];
    tkms_username(2, "service", s.sid, user, sizeof(user));
    tkms_get(&f->api, TKMS_XAUTH, user, out.data, NULL, &r, "/v1/services/%s", s.sid);
    b = tapi_ok(&r);
    tapi_assert_json(tkms_bundle_pairs(b, s.db_name), pw);
    json_decref(b);
    tkms_audit(&f->api, &r, "service", s.sid, "service.get", s.sid, "allowed", "ok");
    t_resp_free(&r);
    cf_buf_reset(&out);
    char *const hdr[] = { "token", "--from", s.sid, "--token-version", "1", "--header", NULL };
    assert_int_equal(coffer_cli(f, &out, hdr), 0);
    assert_true(out.len > 1 && out.data[out.len - 1] == '\n');
    out.data[--out.len] = '\0';
    assert_true(strncmp(out.data, "Authorization: Basic ", 21) == 0);
    tapi_send(&f->api, out.data, "GET", NULL, &r, "/v1/services/%s", s.sid);
    json_decref(tapi_ok(&r));
    tkms_audit(&f->api, &r, "service", s.sid, "service.get", s.sid, "allowed", "ok");
    t_resp_free(&r);
    cf_buf_reset(&out);

    /* a person's token, made under the user key */
    char person[64];
    tapi_name(person, sizeof(person), "cli-admin-");
    tapi_send(&f->api, f->api.admin, "PUT", "{\"role\": \"admin\"}", &r, "/v1/principals/%s",
              person);
    json_decref(tapi_ok(&r));
    t_resp_free(&r);
    char *const utok[] = { "token", "--from", person, "--user-type", "user", "--header", NULL };
    assert_int_equal(coffer_cli(f, &out, utok), 0);
    out.data[--out.len] = '\0';
    tapi_send(&f->api, out.data, "GET", NULL, &r, "/v1/services/%s", s.other);
    b = tapi_ok(&r);
    tapi_assert_json(json_object_get(b, "permissions"),
                     "{\"metadata\": true, \"get\": true, \"update\": true}");
    json_decref(b);
    tkms_audit(&f->api, &r, "user", person, "service.get", s.other, "allowed", "ok");
    t_resp_free(&r);
    cf_buf_free(&out);
    free(s.expect);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_the_official_python_client_flow_works_unchanged),
        cmocka_unit_test(test_the_coffer_cli_fetches_the_bundle_with_its_own_tokens),
    };

    cf_json_init();
    cf_log_set_level(CF_LOG_ERROR);
    return t_run_group_tests(tests, tkms_setup, tkms_teardown);
}
