/* test_credentials.c - the credential endpoints of the v1 API over HTTP (API.md 4.3): create,
 * get, list and update, with their access-log rows (8.2), and every validation rule of 1.3 and
 * 5 with "nothing changed" checked in the database. Revisions, reverts and diffs:
 * test_credentials_revisions.c; roles, secrets at rest, notifications, concurrent writers:
 * test_credentials_access.c. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <cmocka.h>
#include <jansson.h>

#include "cf_codec.h"
#include "cf_json.h"
#include "tapi.h"
#include "tsupport.h"

/* Asserts permissions {"metadata", "get", "update"} all present and every member true. */
static void assert_all_permissions(const json_t *cred)
{
    json_t *p = json_object_get(cred, "permissions"), *v;
    const char *k;

    assert_true(json_is_object(p));
    assert_true(tapi_bool(p, "metadata"));
    assert_true(tapi_bool(p, "get"));
    assert_true(tapi_bool(p, "update"));
    json_object_foreach(p, k, v)
    {
        if (!json_is_true(v))
            fail_msg("permission %s should be true for an admin", k);
    }
}

static json_t *get_cred(const struct tapi *f, const char *auth, const char *id, const char *query,
                        struct t_resp *r)
{
    tapi_send(f, auth, "GET", NULL, r, "/v1/credentials/%s%s", id, query);
    return tapi_ok(r);
}

/* --- create -------------------------------------------------------------------------------- */

static void
test_create_answers_200_with_revision_1_lowercased_sorted_keys_and_defaults(void **state)
{
    struct tapi *f = *state;
    char name[64], id[TAPI_ID_LEN], sql[256];
    struct t_resp r;

    tapi_name(name, sizeof(name), "create-");
    char *body =
        tapi_printf("{\"name\": \"%s\", \"credential_pairs\": {\"Zeta\": \"z\", \"ALPHA\": "
                    "\"a\", \"mid_key\": \"\"}, \"unknown_member\": {\"x\": 1}}",
                    name);
    tapi_send(f, f->admin, "POST", body, &r, "/v1/credentials");
    json_t *b = tapi_ok(&r); /* 200, not 201 */
    tapi_assert_members(b, TAPI_CRED_MEMBERS);
    assert_true(cf_is_lower_hex(tapi_str(b, "id"), 32));
    memcpy(id, tapi_str(b, "id"), TAPI_ID_LEN);
    assert_string_equal(tapi_str(b, "name"), name);
    assert_int_equal(tapi_int(b, "revision"), 1);
    assert_true(tapi_bool(b, "enabled"));
    assert_true(json_is_null(json_object_get(b, "documentation")));
    tapi_assert_json(json_object_get(b, "metadata"), "{}");
    tapi_assert_json(json_object_get(b, "tags"), "[]");
    tapi_assert_json(json_object_get(b, "credential_keys"), "[\"alpha\", \"mid_key\", \"zeta\"]");
    tapi_assert_json(json_object_get(b, "credential_pairs"),
                     "{\"alpha\": \"a\", \"mid_key\": \"\", \"zeta\": \"z\"}");
    tapi_assert_timestamp(tapi_str(b, "last_rotation_date"));
    assert_true(json_is_null(json_object_get(b, "next_rotation_date")));
    tapi_assert_timestamp(tapi_str(b, "modified_date"));
    assert_string_equal(tapi_str(b, "modified_by"), TAPI_ADMIN_ACTOR);
    assert_all_permissions(b);
    tapi_audit(f, &r, TAPI_ADMIN_ACTOR, "credential.create", "credential", id, 1, "allowed", "ok");
    json_decref(b);
    t_resp_free(&r);

    snprintf(
        sql, sizeof(sql),
        "SELECT concat_ws('|', name, revision, enabled, array_to_string(credential_keys, ',')) "
        "FROM credentials WHERE id = '%s'",
        id);
    char *row = tapi_sql(f, sql);
    char *want = tapi_printf("%s|1|t|alpha,mid_key,zeta", name); /* concat_ws prints t, f */
    assert_string_equal(row, want);
    snprintf(sql, sizeof(sql),
             "SELECT count(*) FROM credential_revisions WHERE credential_id = '%s'", id);
    assert_int_equal(tapi_count(f, sql), 1);
    free(row);
    free(want);
    free(body);
}

static void test_create_keeps_every_member_it_is_given(void **state)
{
    struct tapi *f = *state;
    char name[64];

    tapi_name(name, sizeof(name), "create-all-");
    char *body =
        tapi_printf("{\"name\": \"%s\", \"credential_pairs\": {\"k\": \"v\"}, \"metadata\": "
                    "{\"env_var_prefix\": \"DB_\", \"owner\": \"team\"}, \"enabled\": false, "
                    "\"documentation\": \"Rotate it.\", \"tags\": [\"db\", \"prod\"]}",
                    name);
    const char *h[] = { f->admin, "Content-Type: application/json; charset=UTF-8",
                        "Accept: text/plain", NULL };
    struct t_resp r;
    tapi_send_h(f, h, "POST", body, &r, "/v1/credentials");
    json_t *b = tapi_ok(&r);
    t_resp_free(&r);
    tapi_assert_members(b, TAPI_CRED_MEMBERS);
    tapi_assert_json(json_object_get(b, "metadata"),
                     "{\"env_var_prefix\": \"DB_\", \"owner\": \"team\"}");
    assert_false(tapi_bool(b, "enabled"));
    assert_string_equal(tapi_str(b, "documentation"), "Rotate it.");
    tapi_assert_json(json_object_get(b, "tags"), "[\"db\", \"prod\"]");
    tapi_assert_json(json_object_get(b, "credential_pairs"), "{\"k\": \"v\"}");
    assert_int_equal(tapi_int(b, "revision"), 1);
    json_decref(b);
    free(body);
}

static void test_credential_keys_are_sorted_by_code_point(void **state)
{
    struct tapi *f = *state;
    char name[64], id[TAPI_ID_LEN];

    tapi_name(name, sizeof(name), "keys-order-");
    char *body = tapi_printf("{\"name\": \"%s\", \"credential_pairs\": {\"a_b\": \"1\", \"a.b\": "
                             "\"2\", \"a-b\": \"3\", \"_z\": \"4\", \"0k\": \"5\", \"B\": \"6\"}}",
                             name);
    json_t *b = tapi_cred_post(f, body, id);
    tapi_assert_json(json_object_get(b, "credential_keys"),
                     "[\"0k\", \"_z\", \"a-b\", \"a.b\", \"a_b\", \"b\"]");
    json_decref(b);
    free(body);
}

/* --- get ----------------------------------------------------------------------------------- */

static void test_get_decrypts_for_an_admin_and_honours_metadata_only(void **state)
{
    struct tapi *f = *state;
    char name[64], id[TAPI_ID_LEN];
    struct t_resp r;
    static const char *const yes[] = { "True", "true", "1" };
    static const char *const no[] = { "False", "false", "0" };

    tapi_name(name, sizeof(name), "get-");
    tapi_cred_new(f, name, "{\"user\": \"web\", \"password\": \"s3cr3t-get\"}", id);

    json_t *b = get_cred(f, f->admin, id, "", &r);
    tapi_assert_members(b, TAPI_CRED_MEMBERS);
    assert_string_equal(tapi_str(b, "id"), id);
    assert_int_equal(tapi_int(b, "revision"), 1);
    tapi_assert_json(json_object_get(b, "credential_pairs"),
                     "{\"password\": \"s3cr3t-get\", \"user\": \"web\"}");
    tapi_assert_json(json_object_get(b, "credential_keys"), "[\"password\", \"user\"]");
    tapi_assert_json(json_object_get(b, "permissions"),
                     "{\"metadata\": true, \"get\": true, \"update\": true}");
    tapi_audit(f, &r, TAPI_ADMIN_ACTOR, "credential.get", "credential", id, 1, "allowed", "ok");
    json_decref(b);
    t_resp_free(&r);

    for (size_t i = 0; i < 3; i++) {
        char q[64];
        snprintf(q, sizeof(q), "?metadata_only=%s", no[i]);
        b = get_cred(f, f->admin, id, q, &r);
        tapi_assert_json(json_object_get(b, "credential_pairs"),
                         "{\"password\": \"s3cr3t-get\", \"user\": \"web\"}");
        tapi_audit(f, &r, TAPI_ADMIN_ACTOR, "credential.get", "credential", id, 1, "allowed", "ok");
        json_decref(b);
        t_resp_free(&r);

        snprintf(q, sizeof(q), "?metadata_only=%s", yes[i]);
        b = get_cred(f, f->admin, id, q, &r);
        tapi_assert_members(b, TAPI_CRED_MEMBERS);
        tapi_assert_json(json_object_get(b, "credential_pairs"), "{}");
        tapi_assert_json(json_object_get(b, "credential_keys"), "[\"password\", \"user\"]");
        assert_true(tapi_bool(json_object_get(b, "permissions"), "metadata"));
        tapi_assert_absent(r.body.data, "s3cr3t-get", "a metadata_only answer");
        tapi_audit(f, &r, TAPI_ADMIN_ACTOR, "credential.get_metadata", "credential", id, 1,
                   "allowed", "ok");
        json_decref(b);
        t_resp_free(&r);
    }
}

static void test_get_refuses_a_bad_metadata_only_value(void **state)
{
    struct tapi *f = *state;
    char name[64], id[TAPI_ID_LEN];
    struct t_resp r;
    static const char *const bad[] = { "yes", "TRUE", "2", "no", "t" };

    tapi_name(name, sizeof(name), "get-bad-");
    tapi_cred_new(f, name, "{\"k\": \"s3cr3t-bad-param\"}", id);
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        tapi_send(f, f->admin, "GET", NULL, &r, "/v1/credentials/%s?metadata_only=%s", id, bad[i]);
        tapi_check_error(&r, 400, "invalid_parameter");
        tapi_assert_absent(r.body.data, "s3cr3t-bad-param", "an error body");
        t_resp_free(&r);
    }
}

static void test_get_of_an_unknown_or_malformed_id_is_404(void **state)
{
    struct tapi *f = *state;
    char name[64], id[TAPI_ID_LEN], upper[TAPI_ID_LEN];
    struct t_resp r;

    tapi_name(name, sizeof(name), "get-404-");
    tapi_cred_new(f, name, "{\"k\": \"v\"}", id);
    for (size_t i = 0; i < TAPI_ID_LEN; i++)
        upper[i] = (id[i] >= 'a' && id[i] <= 'f') ? (char)(id[i] - 'a' + 'A') : id[i];
    const char *paths[] = { "0123456789abcdef0123456789abcdef", "not-a-credential-id", upper,
                            "0123456789abcdef0123456789abcde" };
    for (size_t i = 0; i < sizeof(paths) / sizeof(paths[0]); i++) {
        if (strcmp(paths[i], id) == 0)
            continue; /* an id without letters has no other case */
        tapi_send(f, f->admin, "GET", NULL, &r, "/v1/credentials/%s", paths[i]);
        tapi_check_error(&r, 404, "not_found");
        /* the action of a 404 is not pinned down by API.md 8.2: either name is accepted */
        tapi_audit(f, &r, TAPI_ADMIN_ACTOR, "credential.get|credential.get_metadata", NULL, NULL,
                   TAPI_ANY, TAPI_REFUSED, "not_found");
        t_resp_free(&r);
    }
    /* revision ids are not resource ids (API.md 4.3, 7 #10) */
    tapi_send(f, f->admin, "GET", NULL, &r, "/v1/credentials/%s-1", id);
    tapi_check_error(&r, 404, "not_found");
    t_resp_free(&r);
    tapi_send(f, f->auditor, "GET", NULL, &r, "/v1/credentials/0123456789abcdef0123456789abcdef");
    tapi_check_error(&r, 404, "not_found");
    t_resp_free(&r);
}

/* --- list ---------------------------------------------------------------------------------- */

/* The items of list whose name starts with prefix, in the order listed. */
static json_t *mine(const json_t *list, const char *prefix)
{
    json_t *out = json_array(), *v;
    size_t i;

    json_array_foreach(list, i, v)
    {
        const char *n = cf_json_str(v, "name");
        if (n != NULL && strncmp(n, prefix, strlen(prefix)) == 0)
            json_array_append(out, v);
    }
    return out;
}

static void test_list_sorts_by_name_case_insensitively_then_id(void **state)
{
    struct tapi *f = *state;
    char prefix[32], n[64], idx[TAPI_ID_LEN], idX[TAPI_ID_LEN], id[TAPI_ID_LEN];
    static const char *const suffixes[] = { "B", "a", "C", "d" };
    struct t_resp r;

    tapi_name(prefix, sizeof(prefix), "sortq");
    for (size_t i = 0; i < 4; i++) {
        snprintf(n, sizeof(n), "%s%s", prefix, suffixes[i]);
        if (strcmp(suffixes[i], "d") == 0) {
            char *body = tapi_printf("{\"name\": \"%s\", \"credential_pairs\": {\"key_d\": \"v\"}, "
                                     "\"enabled\": false}",
                                     n);
            json_decref(tapi_cred_post(f, body, id));
            free(body);
        } else {
            tapi_cred_new(f, n, "{\"key_x\": \"s3cr3t-list\"}", id);
        }
    }
    snprintf(n, sizeof(n), "%sx", prefix);
    tapi_cred_new(f, n, "{\"key_x\": \"s3cr3t-list\"}", idx);
    snprintf(n, sizeof(n), "%sX", prefix); /* names are unique by exact comparison */
    tapi_cred_new(f, n, "{\"key_x\": \"s3cr3t-list\"}", idX);

    tapi_send(f, f->admin, "GET", NULL, &r, "/v1/credentials");
    json_t *b = tapi_ok(&r);
    tapi_assert_members(b, "credentials,next_page");
    assert_true(json_is_null(json_object_get(b, "next_page")));
    tapi_assert_absent(r.body.data, "s3cr3t-list", "a credential list");
    tapi_audit(f, &r, TAPI_ADMIN_ACTOR, "credential.list", NULL, NULL, TAPI_ANY, "allowed", "ok");
    json_t *m = mine(json_object_get(b, "credentials"), prefix);
    assert_int_equal(json_array_size(m), 6);
    const char *want[] = { "a", "B", "C", "d" };
    for (size_t i = 0; i < 4; i++) {
        snprintf(n, sizeof(n), "%s%s", prefix, want[i]);
        assert_string_equal(tapi_str(json_array_get(m, i), "name"), n);
    }
    /* the x/X tie is broken by id */
    const char *first = strcmp(idx, idX) < 0 ? idx : idX, *second = first == idx ? idX : idx;
    assert_string_equal(tapi_str(json_array_get(m, 4), "id"), first);
    assert_string_equal(tapi_str(json_array_get(m, 5), "id"), second);

    /* items of API.md 3.4: no values, no permissions, the stored keys; disabled ones listed */
    json_t *d = json_array_get(m, 3);
    tapi_assert_members(d, TAPI_CRED_MEMBERS);
    assert_false(tapi_bool(d, "enabled"));
    tapi_assert_json(json_object_get(d, "credential_keys"), "[\"key_d\"]");
    tapi_assert_json(json_object_get(d, "credential_pairs"), "{}");
    tapi_assert_json(json_object_get(d, "permissions"), "{}");
    assert_int_equal(tapi_int(d, "revision"), 1);
    assert_true(cf_is_lower_hex(tapi_str(d, "id"), 32));
    json_decref(m);
    json_decref(b);
    t_resp_free(&r);
}

static void test_list_pages_return_every_item_exactly_once_in_order(void **state)
{
    struct tapi *f = *state;
    char prefix[32], n[64], id[TAPI_ID_LEN];
    struct t_resp r;
    static const int limits[] = { 2, 3, 1000 };

    tapi_name(prefix, sizeof(prefix), "pageq");
    for (int i = 0; i < 7; i++) {
        snprintf(n, sizeof(n), "%s%c", prefix, "GaFbEcD"[i]);
        tapi_cred_new(f, n, "{\"k\": \"v\"}", id);
    }
    tapi_send(f, f->admin, "GET", NULL, &r, "/v1/credentials");
    json_t *b = tapi_ok(&r);
    json_t *all = json_object_get(b, "credentials");
    assert_true(json_array_size(all) >= 7);
    char *want = tapi_ids_of(all);
    for (size_t i = 0; i < sizeof(limits) / sizeof(limits[0]); i++) {
        json_t *paged = tapi_list_all(f, "/v1/credentials", "credentials", limits[i]);
        char *got = tapi_ids_of(paged);
        assert_string_equal(got, want); /* every item once, in the unpaged order */
        json_t *m = mine(paged, prefix);
        assert_int_equal(json_array_size(m), 7);
        for (size_t k = 0; k < 7; k++) {
            snprintf(n, sizeof(n), "%s%c", prefix, "aBcDEFG"[k]);
            if (strcasecmp(tapi_str(json_array_get(m, k), "name"), n) != 0)
                fail_msg("page order: expected %s at %zu, got %s", n, k,
                         tapi_str(json_array_get(m, k), "name"));
        }
        json_decref(m);
        json_decref(paged);
        free(got);
    }
    free(want);
    json_decref(b);
    t_resp_free(&r);
}

static void test_list_refuses_a_bad_page_or_limit(void **state)
{
    struct tapi *f = *state;
    struct t_resp r;

    tapi_check_paging_refusals(f, "/v1/credentials");
    tapi_send(f, f->admin, "GET", NULL, &r, "/v1/credentials?limit=1");
    json_t *b = tapi_ok(&r);
    assert_true(json_array_size(json_object_get(b, "credentials")) <= 1);
    json_decref(b);
    t_resp_free(&r);
    tapi_send(f, f->admin, "GET", NULL, &r, "/v1/credentials?limit=1000");
    json_decref(tapi_ok(&r));
    t_resp_free(&r);
}

/* --- update -------------------------------------------------------------------------------- */

static json_t *put_cred(const struct tapi *f, const char *id, const char *body, struct t_resp *r)
{
    tapi_send(f, f->admin, "PUT", body, r, "/v1/credentials/%s", id);
    return tapi_ok(r);
}

static void test_update_keeps_omitted_members_and_every_put_is_a_revision(void **state)
{
    struct tapi *f = *state;
    char name[64], name2[64], id[TAPI_ID_LEN], sql[256];
    struct t_resp r;

    tapi_name(name, sizeof(name), "upd-");
    char *body = tapi_printf(
        "{\"name\": \"%s\", \"credential_pairs\": {\"user\": \"u1\", \"password\": \"p1\"}, "
        "\"metadata\": {\"env_var_prefix\": \"APP_\"}, \"tags\": [\"t1\"], \"documentation\": "
        "\"doc1\"}",
        name);
    json_t *c = tapi_cred_post(f, body, id);
    char *rotated = strdup(tapi_str(c, "last_rotation_date"));
    json_decref(c);

    json_t *b = put_cred(f, id, "{\"enabled\": false}", &r);
    tapi_assert_members(b, TAPI_CRED_MEMBERS);
    assert_int_equal(tapi_int(b, "revision"), 2);
    assert_false(tapi_bool(b, "enabled"));
    assert_string_equal(tapi_str(b, "name"), name);
    tapi_assert_json(json_object_get(b, "credential_pairs"),
                     "{\"password\": \"p1\", \"user\": \"u1\"}");
    tapi_assert_json(json_object_get(b, "metadata"), "{\"env_var_prefix\": \"APP_\"}");
    tapi_assert_json(json_object_get(b, "tags"), "[\"t1\"]");
    assert_string_equal(tapi_str(b, "documentation"), "doc1");
    assert_string_equal(tapi_str(b, "last_rotation_date"), rotated);
    assert_string_equal(tapi_str(b, "modified_by"), TAPI_ADMIN_ACTOR);
    assert_all_permissions(b);
    tapi_audit(f, &r, TAPI_ADMIN_ACTOR, "credential.update", "credential", id, 2, "allowed", "ok");
    json_decref(b);
    t_resp_free(&r);

    /* no change at all is still a new revision */
    b = put_cred(f, id, "{\"unknown_member\": [1]}", &r); /* ignored */
    assert_int_equal(tapi_int(b, "revision"), 3);
    assert_false(tapi_bool(b, "enabled"));
    tapi_assert_json(json_object_get(b, "credential_pairs"),
                     "{\"password\": \"p1\", \"user\": \"u1\"}");
    json_decref(b);
    t_resp_free(&r);

    /* the same values again: not a rotation */
    b = put_cred(f, id, "{\"credential_pairs\": {\"user\": \"u1\", \"password\": \"p1\"}}", &r);
    assert_int_equal(tapi_int(b, "revision"), 4);
    assert_string_equal(tapi_str(b, "last_rotation_date"), rotated);
    json_decref(b);
    t_resp_free(&r);

    /* a changed value is a rotation */
    b = put_cred(f, id, "{\"credential_pairs\": {\"user\": \"u1\", \"password\": \"p2\"}}", &r);
    assert_int_equal(tapi_int(b, "revision"), 5);
    tapi_assert_timestamp(tapi_str(b, "last_rotation_date"));
    assert_string_not_equal(tapi_str(b, "last_rotation_date"), rotated);
    json_decref(b);
    t_resp_free(&r);

    /* several members at once; keys lowercased on update too */
    tapi_name(name2, sizeof(name2), "upd-renamed-");
    char *body2 = tapi_printf("{\"name\": \"%s\", \"metadata\": {}, \"tags\": [], \"enabled\": "
                              "true, \"credential_pairs\": {\"USER\": \"u3\"}}",
                              name2);
    b = put_cred(f, id, body2, &r);
    assert_int_equal(tapi_int(b, "revision"), 6);
    assert_string_equal(tapi_str(b, "name"), name2);
    tapi_assert_json(json_object_get(b, "metadata"), "{}");
    tapi_assert_json(json_object_get(b, "tags"), "[]");
    assert_true(tapi_bool(b, "enabled"));
    assert_string_equal(tapi_str(b, "documentation"), "doc1");
    tapi_assert_json(json_object_get(b, "credential_pairs"), "{\"user\": \"u3\"}");
    tapi_assert_json(json_object_get(b, "credential_keys"), "[\"user\"]");
    json_decref(b);
    t_resp_free(&r);

    json_t *p = tapi_cred_pairs(f, id);
    tapi_assert_json(p, "{\"user\": \"u3\"}");
    json_decref(p);
    assert_int_equal(tapi_cred_revision(f, id), 6);
    snprintf(sql, sizeof(sql),
             "SELECT count(*) FROM credential_revisions WHERE credential_id = '%s'", id);
    assert_int_equal(tapi_count(f, sql), 6);
    free(body);
    free(body2);
    free(rotated);
}

static void test_update_with_null_documentation_clears_it(void **state)
{
    struct tapi *f = *state;
    char name[64], id[TAPI_ID_LEN];
    struct t_resp r;

    tapi_name(name, sizeof(name), "doc-null-");
    char *body = tapi_printf("{\"name\": \"%s\", \"credential_pairs\": {\"k\": \"v\"}, "
                             "\"documentation\": \"to be cleared\"}",
                             name);
    json_decref(tapi_cred_post(f, body, id));
    json_t *b = put_cred(f, id, "{\"documentation\": null}", &r);
    assert_true(json_is_null(json_object_get(b, "documentation")));
    assert_int_equal(tapi_int(b, "revision"), 2);
    json_decref(b);
    t_resp_free(&r);
    b = get_cred(f, f->admin, id, "", &r);
    assert_true(json_is_null(json_object_get(b, "documentation")));
    json_decref(b);
    t_resp_free(&r);
    free(body);
}

static void test_a_stale_expected_revision_is_409_with_the_current_revision(void **state)
{
    struct tapi *f = *state;
    char name[64], id[TAPI_ID_LEN];
    struct t_resp r;

    tapi_name(name, sizeof(name), "stale-");
    tapi_cred_new(f, name, "{\"k\": \"v\"}", id);
    json_t *b = put_cred(f, id, "{\"expected_revision\": 1, \"enabled\": false}", &r);
    assert_int_equal(tapi_int(b, "revision"), 2);
    json_decref(b);
    t_resp_free(&r);

    char *before = tapi_state(f);
    tapi_send(f, f->admin, "PUT", "{\"expected_revision\": 1, \"enabled\": true}", &r,
              "/v1/credentials/%s", id);
    b = tapi_error(&r, 409, "revision_conflict");
    assert_int_equal(tapi_int(b, "current_revision"), 2);
    tapi_audit(f, &r, TAPI_ADMIN_ACTOR, "credential.update", "credential", id, TAPI_ANY,
               TAPI_REFUSED, "revision_conflict");
    json_decref(b);
    t_resp_free(&r);
    tapi_send(f, f->admin, "PUT", "{\"expected_revision\": 3}", &r, "/v1/credentials/%s", id);
    b = tapi_error(&r, 409, "revision_conflict");
    assert_int_equal(tapi_int(b, "current_revision"), 2);
    json_decref(b);
    t_resp_free(&r);
    tapi_assert_unchanged(f, before);
}

static void test_update_of_an_unknown_credential_is_404_and_creates_nothing(void **state)
{
    struct tapi *f = *state;
    struct t_resp r;
    char *before = tapi_state(f);

    tapi_send(f, f->admin, "PUT", "{\"name\": \"ghost\", \"credential_pairs\": {\"k\": \"v\"}}", &r,
              "/v1/credentials/0123456789abcdef0123456789abcdef");
    tapi_check_error(&r, 404, "not_found");
    t_resp_free(&r);
    tapi_send(f, f->admin, "PUT", "{\"enabled\": false}", &r, "/v1/credentials/not-an-id");
    tapi_check_error(&r, 404, "not_found");
    t_resp_free(&r);
    tapi_assert_unchanged(f, before);
}

/* --- validation (API.md 1.3 and 5) --------------------------------------------------------- */

/* A member-level case: fragment is a JSON object sent alone on PUT, and merged into a valid
 * create body (name and pairs added unless the fragment has them) on POST. A POST_ONLY case is
 * a whole create body, sent as it is and never on PUT; a PUT_ONLY case is never POSTed. */
enum where { BOTH, POST_ONLY, PUT_ONLY };

struct bad_case {
    char *fragment;
    const char *codes;
    long status;
    enum where where;
};

#define CANARY_VALUE "cnry-validation-7f3a9c21d4"

static size_t add_case(struct bad_case *cases, size_t n, char *fragment, const char *codes)
{
    cases[n] = (struct bad_case){ fragment, codes, 400, BOTH };
    return n + 1;
}

static char *pairs_of(size_t count)
{
    struct cf_buf b = { 0 };
    cf_buf_append_str(&b, "{\"credential_pairs\": {");
    for (size_t i = 0; i < count; i++)
        assert_int_equal(cf_buf_printf(&b, "%s\"key_%zu\": \"v\"", i > 0 ? ", " : "", i), 0);
    cf_buf_append_str(&b, "}}");
    char *s = strdup(b.data);
    cf_buf_free(&b);
    return s;
}

static char *metadata_of(size_t count, size_t value_len)
{
    struct cf_buf b = { 0 };
    char *v = tapi_rep('m', value_len);
    cf_buf_append_str(&b, "{\"metadata\": {");
    for (size_t i = 0; i < count; i++)
        assert_int_equal(cf_buf_printf(&b, "%s\"meta_%zu\": \"%s\"", i > 0 ? ", " : "", i, v), 0);
    cf_buf_append_str(&b, "}}");
    char *s = strdup(b.data);
    cf_buf_free(&b);
    free(v);
    return s;
}

static char *tags_of(size_t count)
{
    struct cf_buf b = { 0 };
    cf_buf_append_str(&b, "{\"tags\": [");
    for (size_t i = 0; i < count; i++)
        assert_int_equal(cf_buf_printf(&b, "%s\"tag%zu\"", i > 0 ? ", " : "", i), 0);
    cf_buf_append_str(&b, "]}");
    char *s = strdup(b.data);
    cf_buf_free(&b);
    return s;
}

static char *repeated(const char *before, const char *unit, size_t count, const char *after)
{
    struct cf_buf b = { 0 };
    cf_buf_append_str(&b, before);
    for (size_t i = 0; i < count; i++)
        cf_buf_append_str(&b, unit);
    cf_buf_append_str(&b, after);
    char *s = strdup(b.data);
    cf_buf_free(&b);
    return s;
}

static size_t build_cases(struct bad_case *c)
{
    size_t n = 0;

    /* credential_pairs */
    n = add_case(c, n, strdup("{\"credential_pairs\": {}}"), "empty_credential_pairs");
    n = add_case(c, n, pairs_of(101), "limit_exceeded");
    n = add_case(c, n, strdup("{\"credential_pairs\": {\"has space\": \"v\"}}"),
                 "invalid_key_name");
    n = add_case(c, n, strdup("{\"credential_pairs\": {\"\": \"v\"}}"), "invalid_key_name");
    n = add_case(c, n, strdup("{\"credential_pairs\": {\"-lead\": \"v\"}}"), "invalid_key_name");
    n = add_case(c, n, strdup("{\"credential_pairs\": {\".lead\": \"v\"}}"), "invalid_key_name");
    n = add_case(c, n, strdup("{\"credential_pairs\": {\"a/b\": \"v\"}}"), "invalid_key_name");
    n = add_case(c, n, strdup("{\"credential_pairs\": {\"k\\u00e9y\": \"v\"}}"),
                 "invalid_key_name");
    n = add_case(c, n, repeated("{\"credential_pairs\": {\"", "k", 129, "\": \"v\"}}"),
                 "invalid_key_name");
    n = add_case(c, n, strdup("{\"credential_pairs\": {\"A\": \"1\", \"a\": \"2\"}}"),
                 "duplicate_key");
    n = add_case(c, n, strdup("{\"credential_pairs\": {\"Key_X\": \"1\", \"key_x\": \"2\"}}"),
                 "duplicate_key");
    n = add_case(c, n, strdup("{\"credential_pairs\": {\"k\": 5}}"), "invalid_credential_pairs");
    n = add_case(c, n, strdup("{\"credential_pairs\": {\"k\": true}}"), "invalid_credential_pairs");
    n = add_case(c, n, strdup("{\"credential_pairs\": {\"k\": null}}"), "invalid_credential_pairs");
    n = add_case(c, n, strdup("{\"credential_pairs\": {\"k\": {\"x\": \"y\"}}}"),
                 "invalid_credential_pairs");
    n = add_case(c, n, strdup("{\"credential_pairs\": {\"k\": [\"x\"]}}"),
                 "invalid_credential_pairs");
    n = add_case(c, n, strdup("{\"credential_pairs\": [\"k\"]}"),
                 "invalid_request|invalid_credential_pairs");
    n = add_case(c, n, strdup("{\"credential_pairs\": \"k=v\"}"),
                 "invalid_request|invalid_credential_pairs");
    n = add_case(c, n, strdup("{\"credential_pairs\": null}"),
                 "invalid_request|invalid_credential_pairs");
    /* name */
    n = add_case(c, n, strdup("{\"name\": \"\"}"), "invalid_name");
    n = add_case(c, n, repeated("{\"name\": \"", "n", 257, "\"}"), "invalid_name");
    n = add_case(c, n, repeated("{\"name\": \"", "\\u00e9", 257, "\"}"), "invalid_name");
    n = add_case(c, n, strdup("{\"name\": \"a\\tb\"}"), "invalid_name");
    n = add_case(c, n, strdup("{\"name\": \"a\\nb\"}"), "invalid_name");
    n = add_case(c, n, strdup("{\"name\": \"a\\u001fb\"}"), "invalid_name");
    n = add_case(c, n, strdup("{\"name\": \"a\\u007fb\"}"), "invalid_name");
    n = add_case(c, n, strdup("{\"name\": \"a\\u0085b\"}"), "invalid_name");
    n = add_case(c, n, strdup("{\"name\": 5}"), "invalid_request|invalid_name");
    n = add_case(c, n, strdup("{\"name\": null}"), "invalid_request|invalid_name");
    /* metadata */
    n = add_case(c, n, strdup("{\"metadata\": []}"), "invalid_request|invalid_metadata");
    n = add_case(c, n, strdup("{\"metadata\": \"x\"}"), "invalid_request|invalid_metadata");
    n = add_case(c, n, strdup("{\"metadata\": null}"), "invalid_request|invalid_metadata");
    n = add_case(c, n, strdup("{\"metadata\": {\"m\": 5}}"), "invalid_metadata");
    n = add_case(c, n, strdup("{\"metadata\": {\"m\": null}}"), "invalid_metadata");
    n = add_case(c, n, strdup("{\"metadata\": {\"m\": {\"x\": \"y\"}}}"), "invalid_metadata");
    n = add_case(c, n, strdup("{\"metadata\": {\"\": \"v\"}}"), "invalid_metadata");
    n = add_case(c, n, repeated("{\"metadata\": {\"", "m", 129, "\": \"v\"}}"), "invalid_metadata");
    n = add_case(c, n, repeated("{\"metadata\": {\"", "\\u00e9", 129, "\": \"v\"}}"),
                 "invalid_metadata");
    n = add_case(c, n, metadata_of(65, 1), "invalid_metadata");
    n = add_case(c, n, metadata_of(1, 4097), "invalid_metadata");
    n = add_case(c, n, metadata_of(5, 4000), "invalid_metadata"); /* 20,000 bytes in all */
    /* tags */
    n = add_case(c, n, strdup("{\"tags\": \"x\"}"), "invalid_request|invalid_tags");
    n = add_case(c, n, strdup("{\"tags\": null}"), "invalid_request|invalid_tags");
    n = add_case(c, n, strdup("{\"tags\": [1]}"), "invalid_request|invalid_tags");
    n = add_case(c, n, strdup("{\"tags\": [null]}"), "invalid_request|invalid_tags");
    n = add_case(c, n, strdup("{\"tags\": [\"\"]}"), "invalid_tags");
    n = add_case(c, n, strdup("{\"tags\": [\"a\\tb\"]}"), "invalid_tags");
    n = add_case(c, n, strdup("{\"tags\": [\"a\\u007f\"]}"), "invalid_tags");
    n = add_case(c, n, repeated("{\"tags\": [\"", "t", 65, "\"]}"), "invalid_tags");
    n = add_case(c, n, repeated("{\"tags\": [\"", "\\u00e9", 65, "\"]}"), "invalid_tags");
    n = add_case(c, n, tags_of(51), "invalid_tags");
    /* enabled, documentation, expected_revision */
    n = add_case(c, n, strdup("{\"enabled\": \"true\"}"), "invalid_request");
    n = add_case(c, n, strdup("{\"enabled\": 1}"), "invalid_request");
    n = add_case(c, n, strdup("{\"enabled\": null}"), "invalid_request");
    n = add_case(c, n, strdup("{\"documentation\": 5}"), "invalid_request");
    n = add_case(c, n, strdup("{\"documentation\": [\"x\"]}"), "invalid_request");
    n = add_case(c, n, repeated("{\"documentation\": \"", "d", 16385, "\"}"), "invalid_request");
    /* expected_revision is no member of a create (API.md 4.3): only PUT checks it */
    c[n++] = (struct bad_case){ strdup("{\"expected_revision\": \"1\"}"), "invalid_request", 400,
                                PUT_ONLY };
    /* U+0000 in any string */
    n = add_case(c, n, strdup("{\"name\": \"a\\u0000b\"}"), "invalid_request");
    n = add_case(c, n, strdup("{\"credential_pairs\": {\"k\": \"a\\u0000b\"}}"), "invalid_request");
    n = add_case(c, n, strdup("{\"credential_pairs\": {\"k\\u0000\": \"v\"}}"), "invalid_request");
    n = add_case(c, n, strdup("{\"metadata\": {\"m\": \"a\\u0000\"}}"), "invalid_request");
    n = add_case(c, n, strdup("{\"metadata\": {\"m\\u0000\": \"v\"}}"), "invalid_request");
    n = add_case(c, n, strdup("{\"tags\": [\"a\\u0000\"]}"), "invalid_request");
    n = add_case(c, n, strdup("{\"documentation\": \"a\\u0000\"}"), "invalid_request");
    /* a create needs a name and pairs */
    c[n++] = (struct bad_case){ strdup("{\"credential_pairs\": {\"k\": \"v\"}, \"name\": null}"),
                                "invalid_request|invalid_name", 400, POST_ONLY };
    c[n++] = (struct bad_case){ strdup("{\"credential_pairs\": {\"k\": \"v\"}, \"metadata\": {}}"),
                                "invalid_request|invalid_name", 400, POST_ONLY }; /* no name */
    return n;
}

/* The POST body of a case: the fragment plus a unique name and pairs holding a canary value
 * unless the fragment has its own; "no name" cases keep their lack of a name. */
static char *post_body(const struct bad_case *c, size_t index)
{
    const char *frag = c->fragment;
    if (c->where == POST_ONLY)
        return strdup(frag);
    bool has_name = strstr(frag, "\"name\"") != NULL;
    bool has_pairs = strstr(frag, "\"credential_pairs\"") != NULL;
    char name[64], prefix[32];

    snprintf(prefix, sizeof(prefix), "bad-%zu-", index);
    tapi_name(name, sizeof(name), prefix);
    return tapi_printf("{%s%s%s%s%s%s", has_name ? "" : "\"name\": \"", has_name ? "" : name,
                       has_name ? "" : "\", ",
                       has_pairs ? ""
                                 : "\"credential_pairs\": {\"password\": \"" CANARY_VALUE "\"}",
                       has_pairs ? "" : ", ", frag + 1);
}

/* Sends a body that must be refused; collects every way the answer falls short into problems
 * (status and code, no value echoed, the access-log row, nothing changed). */
static void expect_refused(const struct tapi *f, const char *method, const char *path,
                           const char *body, const struct bad_case *c, const char *action,
                           const char *resource_id, struct cf_buf *problems)
{
    struct t_resp r;
    char label[300];
    char *before = tapi_state(f);

    snprintf(label, sizeof(label), "%s %.120s", method, c->fragment);
    tapi_send(f, f->admin, method, body, &r, "%s", path);
    char *d = tapi_error_diff(&r, c->status, c->codes);
    if (d == NULL && strstr(r.body.data, CANARY_VALUE) != NULL)
        d = tapi_printf("the error body echoes a value");
    if (d == NULL) {
        json_t *b = tapi_json(&r);
        d = tapi_audit_diff(f, &r, TAPI_ADMIN_ACTOR, action, NULL, resource_id, TAPI_ANY,
                            TAPI_REFUSED, cf_json_str(b, "code"));
        json_decref(b);
    }
    tapi_collect(problems, label, d);
    tapi_collect(problems, label, tapi_unchanged_diff(f, before));
    t_resp_free(&r);
}

static void test_create_refuses_every_invalid_member_and_changes_nothing(void **state)
{
    struct tapi *f = *state;
    struct bad_case cases[128];
    size_t n = build_cases(cases);

    struct cf_buf problems = { 0 };

    for (size_t i = 0; i < n; i++) {
        if (cases[i].where != PUT_ONLY) {
            char *body = post_body(&cases[i], i);
            expect_refused(f, "POST", "/v1/credentials", body, &cases[i], "credential.create", NULL,
                           &problems);
            free(body);
        }
        free(cases[i].fragment);
    }
    tapi_collect_end(&problems);
}

static void test_update_refuses_every_invalid_member_and_changes_nothing(void **state)
{
    struct tapi *f = *state;
    struct bad_case cases[128];
    char name[64], id[TAPI_ID_LEN], path[128];
    size_t n = build_cases(cases);

    tapi_name(name, sizeof(name), "upd-bad-");
    tapi_cred_new(f, name, "{\"password\": \"" CANARY_VALUE "\"}", id);
    snprintf(path, sizeof(path), "/v1/credentials/%s", id);
    struct cf_buf problems = { 0 };
    for (size_t i = 0; i < n; i++) {
        if (cases[i].where != POST_ONLY)
            expect_refused(f, "PUT", path, cases[i].fragment, &cases[i], "credential.update", id,
                           &problems);
        free(cases[i].fragment);
    }
    tapi_collect_end(&problems);
    assert_int_equal(tapi_cred_revision(f, id), 1);
}

static void test_malformed_json_and_non_object_bodies_are_refused(void **state)
{
    struct tapi *f = *state;
    char name[64], id[TAPI_ID_LEN], path[128];
    static const char *const malformed[] = {
        "{\"name\": \"x\", \"credential_pairs\": {\"k\": \"" CANARY_VALUE "\"}",
        "{name: \"x\"}",
        "{\"name\": \"x\",}",
        "{\"name\": \"dup-a\", \"name\": \"dup-b\", \"credential_pairs\": {\"k\": \"v\"}}",
        "{\"name\": \"dup-pairs\", \"credential_pairs\": {\"k\": \"1\", \"k\": \"" CANARY_VALUE
        "\"}}",
        "{\"name\": \"bad-utf8-\xff\", \"credential_pairs\": {\"k\": \"v\"}}",
        "{\"name\": \"x\"} trailing",
    };
    static const char *const not_objects[] = { "[]",   "\"x\"", "42",
                                               "null", "true",  "[{\"name\": \"x\"}]" };

    struct cf_buf problems = { 0 };

    tapi_name(name, sizeof(name), "malformed-");
    tapi_cred_new(f, name, "{\"k\": \"v\"}", id);
    snprintf(path, sizeof(path), "/v1/credentials/%s", id);
    for (size_t i = 0; i < sizeof(malformed) / sizeof(malformed[0]); i++) {
        struct bad_case c = { (char *)malformed[i], "invalid_json", 400, BOTH };
        expect_refused(f, "POST", "/v1/credentials", malformed[i], &c, "credential.create", NULL,
                       &problems);
        expect_refused(f, "PUT", path, malformed[i], &c, "credential.update", id, &problems);
    }
    for (size_t i = 0; i < sizeof(not_objects) / sizeof(not_objects[0]); i++) {
        struct bad_case c = { (char *)not_objects[i], "invalid_request", 400, BOTH };
        expect_refused(f, "POST", "/v1/credentials", not_objects[i], &c, "credential.create", NULL,
                       &problems);
        expect_refused(f, "PUT", path, not_objects[i], &c, "credential.update", id, &problems);
    }
    tapi_collect_end(&problems);
}

static void test_a_body_that_is_not_json_or_too_large_is_refused(void **state)
{
    struct tapi *f = *state;
    char name[64], id[TAPI_ID_LEN];
    struct t_resp r;
    const char *text[] = { f->admin, "Content-Type: text/plain", NULL };
    const char *form[] = { f->admin, "Content-Type: application/x-www-form-urlencoded", NULL };

    tapi_name(name, sizeof(name), "media-");
    tapi_cred_new(f, name, "{\"k\": \"v\"}", id);
    char *body = tapi_printf("{\"name\": \"%s-2\", \"credential_pairs\": {\"k\": \"v\"}}", name);
    char *before = tapi_state(f);
    tapi_send_h(f, text, "POST", body, &r, "/v1/credentials");
    tapi_check_error(&r, 415, "unsupported_media_type");
    t_resp_free(&r);
    tapi_send_h(f, form, "POST", body, &r, "/v1/credentials");
    tapi_check_error(&r, 415, "unsupported_media_type");
    t_resp_free(&r);
    tapi_send_h(f, text, "PUT", "{\"enabled\": false}", &r, "/v1/credentials/%s", id);
    tapi_check_error(&r, 415, "unsupported_media_type");
    t_resp_free(&r);

    /* over 256 KiB in all, though every member is valid on its own terms */
    char *doc = tapi_rep('d', 270 * 1024);
    char *big = tapi_printf("{\"name\": \"%s-3\", \"credential_pairs\": {\"k\": \"v\"}, "
                            "\"documentation\": \"%s\"}",
                            name, doc);
    tapi_send(f, f->admin, "POST", big, &r, "/v1/credentials");
    tapi_check_error(&r, 413, "body_too_large");
    t_resp_free(&r);
    tapi_send(f, f->admin, "PUT", big, &r, "/v1/credentials/%s", id);
    tapi_check_error(&r, 413, "body_too_large");
    t_resp_free(&r);
    tapi_assert_unchanged(f, before);
    free(big);
    free(doc);
    free(body);
}

/* One pair {"k": value of len bytes}: its canonical JSON {"k":"..."} is len + 8 bytes. */
static char *one_pair_body(const char *name, const char *key, size_t len)
{
    char *v = tapi_rep('v', len);
    char *s =
        tapi_printf("{\"name\": \"%s\", \"credential_pairs\": {\"%s\": \"%s\"}}", name, key, v);
    free(v);
    return s;
}

static void test_pairs_over_65536_canonical_bytes_are_413_credential_too_large(void **state)
{
    struct tapi *f = *state;
    char name[64], id[TAPI_ID_LEN];
    struct t_resp r;

    tapi_name(name, sizeof(name), "size-");
    char *body = one_pair_body(name, "K", 65536 - 8); /* exactly the limit: accepted */
    json_decref(tapi_cred_post(f, body, id));
    free(body);

    char *before = tapi_state(f);
    tapi_name(name, sizeof(name), "size-over-");
    body = one_pair_body(name, "K", 65536 - 7);
    tapi_send(f, f->admin, "POST", body, &r, "/v1/credentials");
    tapi_check_error(&r, 413, "credential_too_large");
    tapi_audit(f, &r, TAPI_ADMIN_ACTOR, "credential.create", NULL, NULL, TAPI_ANY, TAPI_REFUSED,
               "credential_too_large");
    t_resp_free(&r);
    free(body);
    char *v = tapi_rep('v', 100000);
    body = tapi_printf("{\"credential_pairs\": {\"k\": \"%s\"}}", v);
    tapi_send(f, f->admin, "PUT", body, &r, "/v1/credentials/%s", id);
    tapi_check_error(&r, 413, "credential_too_large");
    t_resp_free(&r);
    tapi_assert_unchanged(f, before);
    free(body);
    free(v);
}

/* Sends {"name": name, "credential_pairs": {"k": <units> * count + <plain> * 'v'}} as the admin
 * and returns the status. */
static long post_value(const struct tapi *f, const char *prefix, const char *unit, size_t count,
                       size_t plain)
{
    char name[64];
    struct t_resp r;

    tapi_name(name, sizeof(name), prefix);
    char *v = repeated("", unit, count, "");
    char *p = tapi_rep('v', plain);
    char *body =
        tapi_printf("{\"name\": \"%s\", \"credential_pairs\": {\"k\": \"%s%s\"}}", name, v, p);
    tapi_send(f, f->admin, "POST", body, &r, "/v1/credentials");
    long status = r.status;
    if (status != 200)
        tapi_check_error(&r, 413, "credential_too_large");
    t_resp_free(&r);
    free(body);
    free(p);
    free(v);
    return status;
}

/* The limit counts the canonical form's bytes: non-ASCII characters as their UTF-8 bytes
 * (written raw, API.md 8.2's rules), a quote as its two-byte escape. */
static void test_the_size_limit_counts_canonical_bytes_not_characters(void **state)
{
    struct tapi *f = *state;

    assert_int_equal(post_value(f, "size-utf8-", "\xc3\xa9", 32764, 0), 200); /* 65,536 */
    assert_int_equal(post_value(f, "size-utf8-over-", "\xc3\xa9", 32765, 0), 413);
    assert_int_equal(post_value(f, "size-quote-", "\\\"", 8, 65512), 200); /* 65,536 */
    assert_int_equal(post_value(f, "size-quote-over-", "\\\"", 8, 65513), 413);
}

static void test_every_limit_at_its_maximum_is_accepted(void **state)
{
    struct tapi *f = *state;
    char name[600], id[TAPI_ID_LEN];

    /* 100 pairs; a 128-character key */
    char *pairs = pairs_of(100);
    tapi_name(name, sizeof(name), "max-pairs-");
    char *body = tapi_printf("{\"name\": \"%s\", %s", name, pairs + 1);
    json_t *b = tapi_cred_post(f, body, id);
    assert_int_equal(json_array_size(json_object_get(b, "credential_keys")), 100);
    json_decref(b);
    free(body);
    free(pairs);
    char *key = tapi_rep('k', 128);
    tapi_name(name, sizeof(name), "max-key-");
    body = one_pair_body(name, key, 1);
    json_decref(tapi_cred_post(f, body, id));
    free(body);
    free(key);

    /* 256 characters, ASCII and not (characters, not bytes) */
    char *n248 = tapi_rep('n', 248);
    tapi_name(name, sizeof(name), n248);
    tapi_cred_new(f, name, "{\"k\": \"v\"}", id);
    free(n248);
    char *e248 = repeated("", "\xc3\xa9", 248, "");
    tapi_name(name, sizeof(name), e248);
    body = tapi_printf("{\"name\": \"%s\", \"credential_pairs\": {\"k\": \"v\"}}", name);
    b = tapi_cred_post(f, body, id);
    assert_string_equal(tapi_str(b, "name"), name);
    json_decref(b);
    free(body);
    free(e248);

    /* metadata: 64 members; a 128-character key; a 4 KiB value */
    char *meta = metadata_of(64, 8);
    tapi_name(name, sizeof(name), "max-meta-");
    body =
        tapi_printf("{\"name\": \"%s\", \"credential_pairs\": {\"k\": \"v\"}, %s", name, meta + 1);
    json_decref(tapi_cred_post(f, body, id));
    free(body);
    free(meta);
    char *mkey = tapi_rep('m', 128), *mval = tapi_rep('x', 4096);
    tapi_name(name, sizeof(name), "max-meta-kv-");
    body = tapi_printf("{\"name\": \"%s\", \"credential_pairs\": {\"k\": \"v\"}, \"metadata\": "
                       "{\"%s\": \"%s\"}}",
                       name, mkey, mval);
    json_decref(tapi_cred_post(f, body, id));
    free(body);
    free(mkey);
    free(mval);

    /* 50 tags; a 64-character tag; 16 KiB of documentation */
    char *tags = tags_of(50);
    tapi_name(name, sizeof(name), "max-tags-");
    body =
        tapi_printf("{\"name\": \"%s\", \"credential_pairs\": {\"k\": \"v\"}, %s", name, tags + 1);
    b = tapi_cred_post(f, body, id);
    assert_int_equal(json_array_size(json_object_get(b, "tags")), 50);
    json_decref(b);
    free(body);
    free(tags);
    char *tag = tapi_rep('t', 64), *doc = tapi_rep('d', 16384);
    tapi_name(name, sizeof(name), "max-doc-");
    body = tapi_printf("{\"name\": \"%s\", \"credential_pairs\": {\"k\": \"v\"}, \"tags\": "
                       "[\"%s\"], \"documentation\": \"%s\"}",
                       name, tag, doc);
    b = tapi_cred_post(f, body, id);
    assert_int_equal(strlen(tapi_str(b, "documentation")), 16384);
    json_decref(b);
    free(body);
    free(tag);
    free(doc);
}

/* Names, metadata keys and tags are limited in characters, not bytes (API.md 5). */
static void test_character_limits_count_characters_not_bytes(void **state)
{
    struct tapi *f = *state;
    char name[64], id[TAPI_ID_LEN];

    char *key = repeated("", "\xc3\xa9", 128, ""), *tag = repeated("", "\xc3\xa9", 64, "");
    tapi_name(name, sizeof(name), "chars-");
    char *body = tapi_printf("{\"name\": \"%s\", \"credential_pairs\": {\"k\": \"v\"}, "
                             "\"metadata\": {\"%s\": \"v\"}, \"tags\": [\"%s\"]}",
                             name, key, tag);
    json_t *b = tapi_cred_post(f, body, id);
    assert_non_null(json_object_get(json_object_get(b, "metadata"), key));
    assert_string_equal(json_string_value(json_array_get(json_object_get(b, "tags"), 0)), tag);
    json_decref(b);
    free(body);
    free(key);
    free(tag);
}

static void test_duplicate_tags_are_dropped_silently(void **state)
{
    struct tapi *f = *state;
    char name[64], id[TAPI_ID_LEN];
    struct t_resp r;

    tapi_name(name, sizeof(name), "tags-dup-");
    char *body = tapi_printf("{\"name\": \"%s\", \"credential_pairs\": {\"k\": \"v\"}, \"tags\": "
                             "[\"x\", \"y\", \"x\", \"y\", \"x\"]}",
                             name);
    json_t *b = tapi_cred_post(f, body, id);
    json_t *tags = json_object_get(b, "tags");
    assert_int_equal(json_array_size(tags), 2);
    bool x = false, y = false;
    for (size_t i = 0; i < 2; i++) {
        const char *t = json_string_value(json_array_get(tags, i));
        assert_non_null(t);
        x = x || strcmp(t, "x") == 0;
        y = y || strcmp(t, "y") == 0;
    }
    assert_true(x && y);
    json_decref(b);
    b = put_cred(f, id, "{\"tags\": [\"z\", \"z\"]}", &r);
    tapi_assert_json(json_object_get(b, "tags"), "[\"z\"]");
    json_decref(b);
    t_resp_free(&r);
    free(body);
}

static void test_a_taken_name_is_409_name_conflict_with_reference(void **state)
{
    struct tapi *f = *state;
    char name[64], other[64], upper[64], id1[TAPI_ID_LEN], id2[TAPI_ID_LEN], id3[TAPI_ID_LEN];
    struct t_resp r;

    tapi_name(name, sizeof(name), "taken-");
    tapi_cred_new(f, name, "{\"k\": \"v\"}", id1);
    tapi_name(other, sizeof(other), "taken-other-");
    tapi_cred_new(f, other, "{\"k\": \"v\"}", id2);

    char *before = tapi_state(f);
    char *body = tapi_printf(
        "{\"name\": \"%s\", \"credential_pairs\": {\"k\": \"" CANARY_VALUE "\"}}", name);
    tapi_send(f, f->admin, "POST", body, &r, "/v1/credentials");
    json_t *b = tapi_error(&r, 409, "name_conflict");
    assert_string_equal(tapi_str(b, "reference"), id1);
    tapi_assert_absent(r.body.data, CANARY_VALUE, "a name_conflict body");
    tapi_audit(f, &r, TAPI_ADMIN_ACTOR, "credential.create", NULL, NULL, TAPI_ANY, TAPI_REFUSED,
               "name_conflict");
    json_decref(b);
    t_resp_free(&r);
    free(body);

    body = tapi_printf("{\"name\": \"%s\"}", name); /* rename onto a taken name */
    tapi_send(f, f->admin, "PUT", body, &r, "/v1/credentials/%s", id2);
    b = tapi_error(&r, 409, "name_conflict");
    assert_string_equal(tapi_str(b, "reference"), id1);
    tapi_audit(f, &r, TAPI_ADMIN_ACTOR, "credential.update", "credential", id2, TAPI_ANY,
               TAPI_REFUSED, "name_conflict");
    json_decref(b);
    t_resp_free(&r);
    free(body);
    tapi_assert_unchanged(f, before);

    /* keeping one's own name is no conflict; names compare exactly, so case differs */
    body = tapi_printf("{\"name\": \"%s\"}", other);
    tapi_cred_put(f, id2, body);
    free(body);
    snprintf(upper, sizeof(upper), "%s", name);
    for (char *p = upper; *p != '\0'; p++)
        if (*p >= 'a' && *p <= 'z')
            *p = (char)(*p - 'a' + 'A');
    tapi_cred_new(f, upper, "{\"k\": \"v\"}", id3);
}

int main(void)
{
    cf_json_init();
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(
            test_create_answers_200_with_revision_1_lowercased_sorted_keys_and_defaults),
        cmocka_unit_test(test_create_keeps_every_member_it_is_given),
        cmocka_unit_test(test_credential_keys_are_sorted_by_code_point),
        cmocka_unit_test(test_get_decrypts_for_an_admin_and_honours_metadata_only),
        cmocka_unit_test(test_get_refuses_a_bad_metadata_only_value),
        cmocka_unit_test(test_get_of_an_unknown_or_malformed_id_is_404),
        cmocka_unit_test(test_list_sorts_by_name_case_insensitively_then_id),
        cmocka_unit_test(test_list_pages_return_every_item_exactly_once_in_order),
        cmocka_unit_test(test_list_refuses_a_bad_page_or_limit),
        cmocka_unit_test(test_update_keeps_omitted_members_and_every_put_is_a_revision),
        cmocka_unit_test(test_update_with_null_documentation_clears_it),
        cmocka_unit_test(test_a_stale_expected_revision_is_409_with_the_current_revision),
        cmocka_unit_test(test_update_of_an_unknown_credential_is_404_and_creates_nothing),
        cmocka_unit_test(test_create_refuses_every_invalid_member_and_changes_nothing),
        cmocka_unit_test(test_update_refuses_every_invalid_member_and_changes_nothing),
        cmocka_unit_test(test_malformed_json_and_non_object_bodies_are_refused),
        cmocka_unit_test(test_a_body_that_is_not_json_or_too_large_is_refused),
        cmocka_unit_test(test_pairs_over_65536_canonical_bytes_are_413_credential_too_large),
        cmocka_unit_test(test_the_size_limit_counts_canonical_bytes_not_characters),
        cmocka_unit_test(test_every_limit_at_its_maximum_is_accepted),
        cmocka_unit_test(test_character_limits_count_characters_not_bytes),
        cmocka_unit_test(test_duplicate_tags_are_dropped_silently),
        cmocka_unit_test(test_a_taken_name_is_409_name_conflict_with_reference),
    };
    return t_run_group_tests(tests, tapi_setup, tapi_teardown);
}
