/* test_services_mappings.c - credentials mapped to services over HTTP: key conflicts in both of
 * Confidant's shapes (API.md 3.5), the 100-credential limit, disabling a mapped credential (the
 * kill switch of 3.2), GET /v1/credentials/<id>/services (4.3), and concurrent writers (4.1). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>
#include <jansson.h>

#include "cf_json.h"
#include "tapi.h"
#include "tsupport.h"

#define CONFLICT_TEXT "Conflicting key pairs in mapped service."
#define UNKNOWN_ID    "0123456789abcdef0123456789abcdef"

static int cmp_str(const void *a, const void *b)
{
    return strcmp(*(const char *const *)a, *(const char *const *)b);
}

/* Sorts an array of strings in place (the order of ids inside a conflict is not specified). */
static void sort_strings(json_t *arr)
{
    size_t n = json_array_size(arr);
    const char **v = calloc(n + 1, sizeof(*v));
    json_t *copy = json_deep_copy(arr);

    assert_non_null(v);
    for (size_t i = 0; i < n; i++) {
        v[i] = json_string_value(json_array_get(copy, i));
        if (v[i] == NULL)
            fail_msg("a conflict lists something that is not a string");
    }
    qsort(v, n, sizeof(*v), cmp_str);
    json_array_clear(arr);
    for (size_t i = 0; i < n; i++)
        json_array_append_new(arr, json_string(v[i]));
    json_decref(copy);
    free(v);
}

/* Asserts a key_conflict answer and compares its conflicts (id lists sorted) with expected. */
static void assert_key_conflict(const struct t_resp *r, const char *expected)
{
    json_t *b = tapi_error(r, 400, "key_conflict"), *entry;
    const char *key;

    assert_string_equal(tapi_str(b, "error"), CONFLICT_TEXT);
    json_t *conflicts = json_object_get(b, "conflicts");
    if (!json_is_object(conflicts))
        fail_msg("key_conflict without a conflicts object: %.500s", r->body.data);
    json_object_foreach(conflicts, key, entry)
    {
        json_t *list;
        const char *name;
        json_object_foreach(entry, name, list)
        {
            if (json_is_array(list))
                sort_strings(list);
        }
    }
    tapi_assert_json(conflicts, expected);
    json_decref(b);
}

static void two_sorted(const char *a, const char *b, const char **first, const char **second)
{
    *first = strcmp(a, b) < 0 ? a : b;
    *second = *first == a ? b : a;
}

/* --- mapping a service --------------------------------------------------------------------- */

static void test_mapping_two_credentials_that_share_a_key_is_a_conflict(void **state)
{
    struct tapi *f = *state;
    char nx[64], ny[64], sid[64], other[64], x[TAPI_ID_LEN], y[TAPI_ID_LEN];
    const char *lo, *hi;
    struct t_resp r;

    tapi_name(nx, sizeof(nx), "conf-x-");
    tapi_name(ny, sizeof(ny), "conf-y-");
    tapi_cred_new(f, nx, "{\"shared\": \"1\", \"only_x\": \"2\", \"both\": \"3\"}", x);
    tapi_cred_new(f, ny, "{\"SHARED\": \"4\", \"only_y\": \"5\", \"Both\": \"6\"}", y);
    two_sorted(x, y, &lo, &hi);
    char *want =
        tapi_printf("{\"both\": {\"credentials\": [\"%s\", \"%s\"], \"blind_credentials\": []}, "
                    "\"shared\": {\"credentials\": [\"%s\", \"%s\"], \"blind_credentials\": []}}",
                    lo, hi, lo, hi);

    /* a new service */
    tapi_name(sid, sizeof(sid), "web-conf-");
    char *body = tapi_printf("{\"id\": \"%s\", \"account\": null, \"enabled\": true, "
                             "\"credentials\": [\"%s\", \"%s\"], \"blind_credentials\": []}",
                             sid, x, y);
    char *before = tapi_state(f);
    tapi_send(f, f->admin, "PUT", body, &r, "/v1/services/%s", sid);
    assert_key_conflict(&r, want);
    tapi_audit(f, &r, TAPI_ADMIN_ACTOR, "service.create|service.update", NULL, NULL, TAPI_ANY,
               TAPI_REFUSED, "key_conflict");
    t_resp_free(&r);
    tapi_assert_unchanged(f, before);
    free(body);

    /* an existing one */
    tapi_name(other, sizeof(other), "web-conf-existing-");
    const char *only_x[] = { x, NULL };
    tapi_svc_map(f, other, only_x);
    body = tapi_printf("{\"credentials\": [\"%s\", \"%s\"]}", x, y);
    before = tapi_state(f);
    tapi_send(f, f->admin, "PUT", body, &r, "/v1/services/%s", other);
    assert_key_conflict(&r, want);
    tapi_audit(f, &r, TAPI_ADMIN_ACTOR, "service.update", "service", other, TAPI_ANY, TAPI_REFUSED,
               "key_conflict");
    t_resp_free(&r);
    tapi_assert_unchanged(f, before);

    /* a disabled credential counts too, so re-enabling can never create a clash */
    tapi_cred_put(f, y, "{\"enabled\": false}");
    before = tapi_state(f);
    tapi_send(f, f->admin, "PUT", body, &r, "/v1/services/%s", other);
    assert_key_conflict(&r, want);
    t_resp_free(&r);
    tapi_assert_unchanged(f, before);
    assert_int_equal(tapi_svc_revision(f, other), 1);
    free(body);
    free(want);
}

static void test_reverting_a_service_onto_a_mapping_that_now_clashes_is_a_conflict(void **state)
{
    struct tapi *f = *state;
    char na[64], nb[64], sid[64], a[TAPI_ID_LEN], b[TAPI_ID_LEN];
    const char *lo, *hi;
    struct t_resp r;

    tapi_name(na, sizeof(na), "conf-rev-a-");
    tapi_name(nb, sizeof(nb), "conf-rev-b-");
    tapi_cred_new(f, na, "{\"p\": \"1\"}", a);
    tapi_cred_new(f, nb, "{\"q\": \"2\"}", b);
    tapi_name(sid, sizeof(sid), "web-conf-rev-");
    const char *both[] = { a, b, NULL }, *only_a[] = { a, NULL };
    tapi_svc_map(f, sid, both);                                    /* 1 */
    tapi_svc_map(f, sid, only_a);                                  /* 2 */
    tapi_cred_put(f, b, "{\"credential_pairs\": {\"p\": \"3\"}}"); /* b is mapped nowhere now */

    two_sorted(a, b, &lo, &hi);
    char *want = tapi_printf("{\"p\": {\"credentials\": [\"%s\", \"%s\"], \"blind_credentials\": "
                             "[]}}",
                             lo, hi);
    char *before = tapi_state(f);
    tapi_revert(f, f->admin, &r, "/v1/services/%s/1", sid);
    assert_key_conflict(&r, want);
    tapi_audit(f, &r, TAPI_ADMIN_ACTOR, "service.revert", "service", sid, TAPI_ANY, TAPI_REFUSED,
               "key_conflict");
    t_resp_free(&r);
    tapi_assert_unchanged(f, before);
    free(want);
}

/* --- changing a mapped credential ---------------------------------------------------------- */

static void test_changing_a_mapped_credential_into_a_clash_is_a_conflict(void **state)
{
    struct tapi *f = *state;
    char nx[64], nz[64], s1[64], s2[64], x[TAPI_ID_LEN], z[TAPI_ID_LEN];
    struct t_resp r;

    tapi_name(nx, sizeof(nx), "conf-chg-x-");
    tapi_name(nz, sizeof(nz), "conf-chg-z-");
    tapi_cred_new(f, nx, "{\"kx\": \"1\"}", x);
    tapi_cred_new(f, nz, "{\"kz\": \"2\", \"kw\": \"3\"}", z);
    tapi_name(s1, sizeof(s1), "web-chg-1-");
    tapi_name(s2, sizeof(s2), "web-chg-2-");
    const char *xz[] = { x, z, NULL };
    tapi_svc_map(f, s1, xz);
    tapi_svc_map(f, s2, xz);
    tapi_cred_put(f, z, "{\"enabled\": false}"); /* disabled credentials count too */
    const char *lo, *hi;
    two_sorted(s1, s2, &lo, &hi);
    char *want = tapi_printf("{\"kz\": {\"credentials\": [\"%s\"], \"services\": [\"%s\", "
                             "\"%s\"]}}",
                             z, lo, hi);

    char *before = tapi_state(f);
    tapi_send(f, f->admin, "PUT", "{\"credential_pairs\": {\"kx\": \"1\", \"KZ\": \"9\"}}", &r,
              "/v1/credentials/%s", x);
    assert_key_conflict(&r, want);
    tapi_audit(f, &r, TAPI_ADMIN_ACTOR, "credential.update", "credential", x, TAPI_ANY,
               TAPI_REFUSED, "key_conflict");
    t_resp_free(&r);
    tapi_assert_unchanged(f, before);
    assert_int_equal(tapi_cred_revision(f, x), 1);
    free(want);

    /* an unmapped credential may take any keys */
    char nfree[64], idfree[TAPI_ID_LEN];
    tapi_name(nfree, sizeof(nfree), "conf-chg-free-");
    tapi_cred_new(f, nfree, "{\"other\": \"1\"}", idfree);
    tapi_cred_put(f, idfree, "{\"credential_pairs\": {\"kz\": \"1\", \"kx\": \"2\"}}");
}

static void test_reverting_a_mapped_credential_into_a_clash_is_a_conflict(void **state)
{
    struct tapi *f = *state;
    char nx[64], nz[64], sid[64], x[TAPI_ID_LEN], z[TAPI_ID_LEN];
    struct t_resp r;

    tapi_name(nx, sizeof(nx), "conf-crev-x-");
    tapi_name(nz, sizeof(nz), "conf-crev-z-");
    tapi_cred_new(f, nx, "{\"shared2\": \"1\"}", x);                 /* x 1: shared2 */
    tapi_cred_put(f, x, "{\"credential_pairs\": {\"own\": \"2\"}}"); /* x 2: own */
    tapi_cred_new(f, nz, "{\"shared2\": \"3\"}", z);
    tapi_name(sid, sizeof(sid), "web-crev-");
    const char *xz[] = { x, z, NULL };
    tapi_svc_map(f, sid, xz);

    char *want =
        tapi_printf("{\"shared2\": {\"credentials\": [\"%s\"], \"services\": [\"%s\"]}}", z, sid);
    char *before = tapi_state(f);
    tapi_revert(f, f->admin, &r, "/v1/credentials/%s/1", x);
    assert_key_conflict(&r, want);
    tapi_audit(f, &r, TAPI_ADMIN_ACTOR, "credential.revert", "credential", x, TAPI_ANY,
               TAPI_REFUSED, "key_conflict");
    t_resp_free(&r);
    tapi_assert_unchanged(f, before);
    free(want);
}

/* --- the kill switch, the limit ------------------------------------------------------------ */

static void test_disabling_a_mapped_credential_is_allowed_and_empties_it_in_the_bundle(void **state)
{
    struct tapi *f = *state;
    char name[64], sid[64], id[TAPI_ID_LEN];
    struct t_resp r;

    tapi_name(name, sizeof(name), "kill-");
    tapi_cred_new(f, name, "{\"kill_key\": \"kill-switch-value\"}", id);
    tapi_name(sid, sizeof(sid), "web-kill-");
    const char *ids[] = { id, NULL };
    tapi_svc_map(f, sid, ids);
    tapi_send(f, f->admin, "GET", NULL, &r, "/v1/services/%s", sid);
    json_t *b = tapi_ok(&r);
    assert_non_null(strstr(r.body.data, "kill-switch-value"));
    json_decref(b);
    t_resp_free(&r);

    tapi_cred_put(f, id, "{\"enabled\": false}");
    tapi_send(f, f->admin, "GET", NULL, &r, "/v1/services/%s", sid);
    b = tapi_ok(&r);
    json_t *c = json_array_get(json_object_get(b, "credentials"), 0);
    assert_string_equal(tapi_str(c, "id"), id);
    assert_false(tapi_bool(c, "enabled"));
    tapi_assert_json(json_object_get(c, "credential_keys"), "[\"kill_key\"]");
    tapi_assert_json(json_object_get(c, "credential_pairs"), "{}");
    tapi_assert_absent(r.body.data, "kill-switch-value", "the bundle of a disabled credential");
    json_decref(b);
    t_resp_free(&r);
}

static void test_more_than_100_credentials_per_service_is_limit_exceeded(void **state)
{
    struct tapi *f = *state;
    char prefix[32], name[64], sid[64], ids[101][TAPI_ID_LEN];
    const char *list[103];
    struct t_resp r;

    tapi_name(prefix, sizeof(prefix), "limit-");
    for (size_t i = 0; i < 101; i++) {
        char pairs[64];
        snprintf(name, sizeof(name), "%s%03zu", prefix, i);
        snprintf(pairs, sizeof(pairs), "{\"limit_key_%zu\": \"v\"}", i);
        tapi_cred_new(f, name, pairs, ids[i]);
        list[i] = ids[i];
    }
    tapi_name(sid, sizeof(sid), "web-limit-");
    list[100] = ids[0]; /* 100 distinct and a duplicate: fine */
    list[101] = NULL;
    tapi_svc_map(f, sid, list);
    tapi_send(f, f->admin, "GET", NULL, &r, "/v1/services/%s?metadata_only=true", sid);
    json_t *b = tapi_ok(&r);
    assert_int_equal(json_array_size(json_object_get(b, "credentials")), 100);
    json_decref(b);
    t_resp_free(&r);

    list[100] = ids[100]; /* 101 distinct */
    struct cf_buf body = { 0 };
    cf_buf_append_str(&body, "{\"credentials\": [");
    for (size_t i = 0; i < 101; i++)
        assert_int_equal(cf_buf_printf(&body, "%s\"%s\"", i > 0 ? ", " : "", list[i]), 0);
    cf_buf_append_str(&body, "]}");
    char *before = tapi_state(f);
    tapi_send(f, f->admin, "PUT", body.data, &r, "/v1/services/%s", sid);
    tapi_check_error(&r, 400, "limit_exceeded");
    tapi_audit(f, &r, TAPI_ADMIN_ACTOR, "service.update", "service", sid, TAPI_ANY, TAPI_REFUSED,
               "limit_exceeded");
    t_resp_free(&r);
    char fresh[64];
    tapi_name(fresh, sizeof(fresh), "web-limit-new-");
    tapi_send(f, f->admin, "PUT", body.data, &r, "/v1/services/%s", fresh);
    tapi_check_error(&r, 400, "limit_exceeded");
    t_resp_free(&r);
    /* the rules' order (API.md 4.2): the id pattern, then unknown ids, then the limit */
    char *unknown = tapi_printf("{\"credentials\": [\"%s\", %s", UNKNOWN_ID, body.data + 17);
    tapi_send(f, f->admin, "PUT", unknown, &r, "/v1/services/%s", sid);
    json_t *e = tapi_error(&r, 400, "unknown_credential");
    assert_string_equal(tapi_str(e, "reference"), UNKNOWN_ID);
    json_decref(e);
    t_resp_free(&r);
    tapi_send(f, f->admin, "PUT", unknown, &r, "/v1/services/-%s", sid);
    tapi_check_error(&r, 400, "invalid_id");
    t_resp_free(&r);
    tapi_assert_unchanged(f, before);
    free(unknown);
    cf_buf_free(&body);
}

/* --- GET /v1/credentials/<id>/services ----------------------------------------------------- */

static void test_credential_services_lists_the_mapping_services_sorted_by_id(void **state)
{
    struct tapi *f = *state;
    char name[64], prefix[32], sa[64], sb[64], sc[64], id[TAPI_ID_LEN], lone[TAPI_ID_LEN];
    struct t_resp r;

    tapi_name(name, sizeof(name), "cs-");
    tapi_cred_new(f, name, "{\"cs_key\": \"cs-value\"}", id);
    tapi_name(prefix, sizeof(prefix), "cs");
    snprintf(sa, sizeof(sa), "%s-c", prefix);
    snprintf(sb, sizeof(sb), "%s-a", prefix);
    snprintf(sc, sizeof(sc), "%s-b", prefix);
    const char *ids[] = { id, NULL };
    tapi_svc_map(f, sa, ids);
    tapi_svc_map(f, sb, ids);
    tapi_svc_map(f, sc, ids);
    tapi_svc_put(f, sc, "{\"enabled\": false}");

    tapi_send(f, f->admin, "GET", NULL, &r, "/v1/credentials/%s/services", id);
    json_t *b = tapi_ok(&r);
    char *want =
        tapi_printf("{\"services\": [{\"id\": \"%s\", \"enabled\": true}, {\"id\": \"%s\", "
                    "\"enabled\": false}, {\"id\": \"%s\", \"enabled\": true}]}",
                    sb, sc, sa);
    tapi_assert_json(b, want);
    tapi_assert_absent(r.body.data, "cs-value", "a credential's services");
    tapi_audit(f, &r, TAPI_ADMIN_ACTOR, "credential.services", "credential", id, TAPI_ANY,
               "allowed", "ok");
    json_decref(b);
    t_resp_free(&r);
    free(want);

    tapi_send(f, f->auditor, "GET", NULL, &r, "/v1/credentials/%s/services", id);
    b = tapi_ok(&r);
    assert_int_equal(json_array_size(json_object_get(b, "services")), 3);
    tapi_audit(f, &r, TAPI_AUDITOR_ACTOR, "credential.services", "credential", id, TAPI_ANY,
               "allowed", "ok");
    json_decref(b);
    t_resp_free(&r);

    /* a mapping removed is gone; an unmapped credential has none */
    tapi_svc_put(f, sa, "{\"credentials\": []}");
    tapi_send(f, f->admin, "GET", NULL, &r, "/v1/credentials/%s/services", id);
    b = tapi_ok(&r);
    assert_int_equal(json_array_size(json_object_get(b, "services")), 2);
    json_decref(b);
    t_resp_free(&r);
    tapi_name(name, sizeof(name), "cs-lone-");
    tapi_cred_new(f, name, "{\"k\": \"v\"}", lone);
    tapi_send(f, f->admin, "GET", NULL, &r, "/v1/credentials/%s/services", lone);
    b = tapi_ok(&r);
    tapi_assert_json(b, "{\"services\": []}");
    json_decref(b);
    t_resp_free(&r);

    tapi_send(f, f->admin, "GET", NULL, &r,
              "/v1/credentials/0123456789abcdef0123456789abcdef/services");
    tapi_check_error(&r, 404, "not_found");
    t_resp_free(&r);
}

/* --- concurrent writers (API.md 4.1, 3.5) -------------------------------------------------- */

#define WRITERS 6

static void test_concurrent_mapping_writes_each_get_their_own_revision(void **state)
{
    struct tapi *f = *state;
    char name[64], sid[64], ids[WRITERS][TAPI_ID_LEN];
    struct tapi_call calls[WRITERS];
    char *bodies[WRITERS];
    bool seen[WRITERS + 2] = { false };
    const char *last = NULL;

    tapi_name(sid, sizeof(sid), "web-race-");
    tapi_svc_put(f, sid, "{}");
    for (size_t i = 0; i < WRITERS; i++) {
        char pairs[64];
        tapi_name(name, sizeof(name), "race-map-");
        snprintf(pairs, sizeof(pairs), "{\"race_key_%zu\": \"v\"}", i);
        tapi_cred_new(f, name, pairs, ids[i]);
        bodies[i] = tapi_printf("{\"id\": \"%s\", \"account\": null, \"enabled\": true, "
                                "\"credentials\": [\"%s\"], \"blind_credentials\": []}",
                                sid, ids[i]);
        calls[i] = (struct tapi_call){ .method = "PUT", .body = bodies[i] };
        snprintf(calls[i].path, sizeof(calls[i].path), "/v1/services/%s", sid);
    }
    tapi_concurrent(f, calls, WRITERS);
    for (size_t i = 0; i < WRITERS; i++) {
        if (calls[i].status != 200)
            fail_msg("concurrent service PUT %zu: %ld %.300s", i, calls[i].status,
                     calls[i].resp.data);
        json_t *b = json_loads(calls[i].resp.data, 0, NULL);
        assert_non_null(b);
        json_int_t rev = tapi_int(b, "revision");
        if (rev < 2 || rev > WRITERS + 1 || seen[rev])
            fail_msg("concurrent service PUT %zu got revision %lld (taken twice or out of range)",
                     i, (long long)rev);
        seen[rev] = true;
        if (rev == WRITERS + 1)
            last = ids[i];
        json_decref(b);
    }
    assert_int_equal(tapi_svc_revision(f, sid), WRITERS + 1);
    char sql[256];
    snprintf(sql, sizeof(sql),
             "SELECT coalesce(string_agg(credential_id, ','), '') FROM service_credentials WHERE "
             "service_id = '%s'",
             sid);
    char *mapped = tapi_sql(f, sql);
    assert_string_equal(mapped, last); /* the mapping is the last revision's */
    free(mapped);
    snprintf(sql, sizeof(sql), "SELECT count(*) FROM service_revisions WHERE service_id = '%s'",
             sid);
    assert_int_equal(tapi_count(f, sql), WRITERS + 1);
    for (size_t i = 0; i < WRITERS; i++) {
        cf_buf_free(&calls[i].resp);
        free(bodies[i]);
    }
}

/* A credential gaining a key and a service gaining a credential with that key, at once: one
 * of the two may succeed, never both (the conflict check and the write are one transaction). */
static void test_racing_writes_never_map_two_credentials_sharing_a_key(void **state)
{
    struct tapi *f = *state;
    char name[64], sid[64], x[TAPI_ID_LEN], y[TAPI_ID_LEN], sql[512];

    for (int round = 0; round < 10; round++) {
        struct tapi_call calls[2];
        tapi_name(name, sizeof(name), "race-x-");
        tapi_cred_new(f, name, "{\"own_x\": \"1\"}", x);
        tapi_name(name, sizeof(name), "race-y-");
        tapi_cred_new(f, name, "{\"contested\": \"2\"}", y);
        tapi_name(sid, sizeof(sid), "web-race-conf-");
        const char *only_x[] = { x, NULL };
        tapi_svc_map(f, sid, only_x);
        char *svc_body = tapi_printf("{\"credentials\": [\"%s\", \"%s\"]}", x, y);
        calls[0] = (struct tapi_call){ .method = "PUT",
                                       .body = "{\"credential_pairs\": {\"own_x\": \"1\", "
                                               "\"contested\": \"3\"}}" };
        snprintf(calls[0].path, sizeof(calls[0].path), "/v1/credentials/%s", x);
        calls[1] = (struct tapi_call){ .method = "PUT", .body = svc_body };
        snprintf(calls[1].path, sizeof(calls[1].path), "/v1/services/%s", sid);
        tapi_concurrent(f, calls, 2);
        for (size_t i = 0; i < 2; i++)
            if (calls[i].status != 200 && calls[i].status != 400)
                fail_msg("racing write %zu: %ld %.300s", i, calls[i].status, calls[i].resp.data);
        if (calls[0].status == 200 && calls[1].status == 200)
            fail_msg("round %d: both racing writes succeeded, so %s maps two credentials with "
                     "the key \"contested\"",
                     round, sid);
        if (calls[0].status != 200 && calls[1].status != 200)
            fail_msg("round %d: both racing writes were refused", round);
        snprintf(sql, sizeof(sql),
                 "SELECT count(*) FROM (SELECT k FROM service_credentials sc JOIN credentials c "
                 "ON c.id = sc.credential_id, unnest(c.credential_keys) k WHERE sc.service_id = "
                 "'%s' GROUP BY k HAVING count(*) > 1) d",
                 sid);
        assert_int_equal(tapi_count(f, sql), 0);
        for (size_t i = 0; i < 2; i++)
            cf_buf_free(&calls[i].resp);
        free(svc_body);
    }
}

int main(void)
{
    cf_json_init();
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_mapping_two_credentials_that_share_a_key_is_a_conflict),
        cmocka_unit_test(test_reverting_a_service_onto_a_mapping_that_now_clashes_is_a_conflict),
        cmocka_unit_test(test_changing_a_mapped_credential_into_a_clash_is_a_conflict),
        cmocka_unit_test(test_reverting_a_mapped_credential_into_a_clash_is_a_conflict),
        cmocka_unit_test(
            test_disabling_a_mapped_credential_is_allowed_and_empties_it_in_the_bundle),
        cmocka_unit_test(test_more_than_100_credentials_per_service_is_limit_exceeded),
        cmocka_unit_test(test_credential_services_lists_the_mapping_services_sorted_by_id),
        cmocka_unit_test(test_concurrent_mapping_writes_each_get_their_own_revision),
        cmocka_unit_test(test_racing_writes_never_map_two_credentials_sharing_a_key),
    };
    return t_run_group_tests(tests, tapi_setup, tapi_teardown);
}
