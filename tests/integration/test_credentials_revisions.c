/* test_credentials_revisions.c - credential history over HTTP (API.md 4.3, 3.6): the
 * revisions list, revert as the official client sends it, and diffs, with the access log and
 * "nothing changed" checked in the database. */
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

/* GET /v1/archive/credentials/<id> as auth; returns the revisions array (json_decref it). */
static json_t *revisions(const struct tapi *f, const char *auth, const char *id)
{
    struct t_resp r;

    tapi_send(f, auth, "GET", NULL, &r, "/v1/archive/credentials/%s", id);
    json_t *b = tapi_ok(&r);
    tapi_assert_members(b, "revisions,next_page");
    assert_true(json_is_null(json_object_get(b, "next_page")));
    json_t *revs = json_incref(json_object_get(b, "revisions"));
    assert_true(json_is_array(revs));
    json_decref(b);
    t_resp_free(&r);
    return revs;
}

static json_t *diff(const struct tapi *f, const char *auth, const char *id, int from, int to)
{
    struct t_resp r;

    tapi_send(f, auth, "GET", NULL, &r, "/v1/credentials/%s/%d/%d", id, from, to);
    json_t *b = tapi_ok(&r);
    assert_true(json_is_object(b));
    t_resp_free(&r);
    return b;
}

static json_t *get_cred(const struct tapi *f, const char *id)
{
    struct t_resp r;

    tapi_send(f, f->admin, "GET", NULL, &r, "/v1/credentials/%s", id);
    json_t *b = tapi_ok(&r);
    t_resp_free(&r);
    return b;
}

static long revision_rows(const struct tapi *f, const char *id)
{
    char sql[256];
    snprintf(sql, sizeof(sql),
             "SELECT count(*) FROM credential_revisions WHERE credential_id = '%s'", id);
    return tapi_count(f, sql);
}

/* --- revisions list ------------------------------------------------------------------------ */

static void test_revisions_lists_every_revision_ascending_with_archive_ids(void **state)
{
    struct tapi *f = *state;
    char n1[64], n2[64], id[TAPI_ID_LEN], item_id[64];
    struct t_resp r;

    tapi_name(n1, sizeof(n1), "revs-");
    tapi_name(n2, sizeof(n2), "revs-renamed-");
    tapi_cred_new(f, n1, "{\"a\": \"val-a-93kd0\"}", id);
    char *put = tapi_printf("{\"name\": \"%s\", \"credential_pairs\": {\"a\": \"val-a-93kd0\", "
                            "\"B\": \"val-b-93kd0\"}}",
                            n2);
    tapi_cred_put(f, id, put);
    tapi_cred_put(f, id, "{\"enabled\": false}");

    tapi_send(f, f->admin, "GET", NULL, &r, "/v1/archive/credentials/%s", id);
    json_t *b = tapi_ok(&r);
    tapi_assert_absent(r.body.data, "val-a-93kd0", "a revisions list");
    tapi_assert_absent(r.body.data, "val-b-93kd0", "a revisions list");
    tapi_audit(f, &r, TAPI_ADMIN_ACTOR, "credential.revisions", "credential", id, TAPI_ANY,
               "allowed", "ok");
    t_resp_free(&r);
    json_decref(b);

    json_t *revs = revisions(f, f->admin, id);
    assert_int_equal(json_array_size(revs), 3);
    const char *names[] = { n1, n2, n2 };
    const char *keys[] = { "[\"a\"]", "[\"a\", \"b\"]", "[\"a\", \"b\"]" };
    for (size_t i = 0; i < 3; i++) {
        json_t *it = json_array_get(revs, i);
        tapi_assert_members(it, TAPI_CRED_MEMBERS);
        snprintf(item_id, sizeof(item_id), "%s-%zu", id, i + 1);
        assert_string_equal(tapi_str(it, "id"), item_id);
        assert_int_equal(tapi_int(it, "revision"), (json_int_t)(i + 1));
        assert_string_equal(tapi_str(it, "name"), names[i]);
        assert_int_equal(tapi_bool(it, "enabled"), i < 2);
        tapi_assert_json(json_object_get(it, "credential_keys"), keys[i]);
        tapi_assert_json(json_object_get(it, "credential_pairs"), "{}");
        tapi_assert_json(json_object_get(it, "permissions"), "{}");
        assert_string_equal(tapi_str(it, "modified_by"), TAPI_ADMIN_ACTOR);
        tapi_assert_timestamp(tapi_str(it, "modified_date"));
    }
    json_decref(revs);
    free(put);
}

static void test_revisions_of_an_unknown_credential_is_404(void **state)
{
    struct tapi *f = *state;
    struct t_resp r;

    tapi_send(f, f->admin, "GET", NULL, &r,
              "/v1/archive/credentials/0123456789abcdef0123456789abcdef");
    tapi_check_error(&r, 404, "not_found");
    t_resp_free(&r);
    tapi_send(f, f->admin, "GET", NULL, &r, "/v1/archive/credentials/nope");
    tapi_check_error(&r, 404, "not_found");
    t_resp_free(&r);
}

/* --- revert -------------------------------------------------------------------------------- */

static void test_revert_writes_a_new_revision_equal_to_the_old_one(void **state)
{
    struct tapi *f = *state;
    char n1[64], n2[64], id[TAPI_ID_LEN];
    struct t_resp r;

    tapi_name(n1, sizeof(n1), "revert-");
    tapi_name(n2, sizeof(n2), "revert-other-");
    char *body =
        tapi_printf("{\"name\": \"%s\", \"credential_pairs\": {\"user\": \"u1\", "
                    "\"password\": \"p1-revert\"}, \"metadata\": {\"m\": \"1\"}, \"tags\": "
                    "[\"t1\"], \"documentation\": \"d1\"}",
                    n1);
    json_t *c = tapi_cred_post(f, body, id);
    char *rotated = strdup(tapi_str(c, "last_rotation_date"));
    json_decref(c);
    char *put = tapi_printf("{\"name\": \"%s\", \"credential_pairs\": {\"user\": \"u2\"}, "
                            "\"metadata\": {}, \"tags\": [], \"documentation\": null, \"enabled\": "
                            "false}",
                            n2);
    tapi_cred_put(f, id, put);

    tapi_revert(f, f->admin, &r, "/v1/credentials/%s/1", id);
    json_t *b = tapi_ok(&r);
    tapi_assert_members(b, TAPI_CRED_MEMBERS);
    assert_string_equal(tapi_str(b, "id"), id);
    assert_int_equal(tapi_int(b, "revision"), 3);
    tapi_assert_json(json_object_get(b, "credential_pairs"), "{}"); /* as Confidant */
    tapi_assert_absent(r.body.data, "p1-revert", "a revert answer");
    assert_string_equal(tapi_str(b, "name"), n1);
    assert_true(tapi_bool(b, "enabled"));
    assert_string_equal(tapi_str(b, "documentation"), "d1");
    tapi_assert_json(json_object_get(b, "metadata"), "{\"m\": \"1\"}");
    tapi_assert_json(json_object_get(b, "tags"), "[\"t1\"]");
    tapi_assert_json(json_object_get(b, "credential_keys"), "[\"password\", \"user\"]");
    assert_string_equal(tapi_str(b, "last_rotation_date"), rotated);
    assert_string_equal(tapi_str(b, "modified_by"), TAPI_ADMIN_ACTOR);
    tapi_audit(f, &r, TAPI_ADMIN_ACTOR, "credential.revert", "credential", id, 3, "allowed", "ok");
    json_decref(b);
    t_resp_free(&r);

    b = get_cred(f, id);
    assert_int_equal(tapi_int(b, "revision"), 3);
    tapi_assert_json(json_object_get(b, "credential_pairs"),
                     "{\"password\": \"p1-revert\", \"user\": \"u1\"}");
    assert_string_equal(tapi_str(b, "name"), n1);
    json_decref(b);
    assert_int_equal(revision_rows(f, id), 3);
    assert_int_equal(tapi_cred_revision(f, id), 3);
    json_t *revs = revisions(f, f->admin, id);
    assert_int_equal(json_array_size(revs), 3);
    json_decref(revs);
    free(rotated);
    free(body);
    free(put);
}

static void expect_revert_refused(const struct tapi *f, const char *id, const char *rev,
                                  long status, const char *code)
{
    struct t_resp r;
    char *before = tapi_state(f);

    tapi_revert(f, f->admin, &r, "/v1/credentials/%s/%s", id, rev);
    if (r.status != status)
        fail_msg("revert to %s: expected %ld %s, got %ld %.300s", rev, status, code, r.status,
                 r.body.data);
    tapi_check_error(&r, status, code);
    tapi_audit(f, &r, TAPI_ADMIN_ACTOR, "credential.revert", NULL, NULL, TAPI_ANY, TAPI_REFUSED,
               code);
    t_resp_free(&r);
    tapi_assert_unchanged(f, before);
}

static void test_revert_to_an_equal_revision_is_400_no_change(void **state)
{
    struct tapi *f = *state;
    char name[64], id[TAPI_ID_LEN];
    struct t_resp r;

    tapi_name(name, sizeof(name), "nochange-");
    tapi_cred_new(f, name, "{\"k\": \"v\"}", id);
    expect_revert_refused(f, id, "1", 400, "no_change");
    tapi_cred_put(f, id, "{}"); /* revision 2, equal to 1 */
    expect_revert_refused(f, id, "1", 400, "no_change");
    expect_revert_refused(f, id, "2", 400, "no_change");
    tapi_cred_put(f, id, "{\"enabled\": false}"); /* revision 3 */
    tapi_revert(f, f->admin, &r, "/v1/credentials/%s/1", id);
    json_t *b = tapi_ok(&r);
    assert_int_equal(tapi_int(b, "revision"), 4);
    assert_true(tapi_bool(b, "enabled"));
    json_decref(b);
    t_resp_free(&r);
    expect_revert_refused(f, id, "2", 400, "no_change");
    /* equal pairs with a different value are not equal */
    tapi_cred_put(f, id, "{\"credential_pairs\": {\"k\": \"w\"}}"); /* revision 5 */
    tapi_revert(f, f->admin, &r, "/v1/credentials/%s/4", id);
    b = tapi_ok(&r);
    assert_int_equal(tapi_int(b, "revision"), 6);
    json_decref(b);
    t_resp_free(&r);
    b = get_cred(f, id);
    tapi_assert_json(json_object_get(b, "credential_pairs"), "{\"k\": \"v\"}");
    json_decref(b);
}

static void test_revert_refuses_bad_revision_numbers_and_missing_revisions(void **state)
{
    struct tapi *f = *state;
    char name[64], id[TAPI_ID_LEN];
    static const char *const invalid[] = { "0",    "-1",         "abc", "99999999999",
                                           "None", "2147483648", "1.0", "1e3" };
    static const char *const missing[] = { "2", "99", "2147483647" };

    tapi_name(name, sizeof(name), "badrev-");
    tapi_cred_new(f, name, "{\"k\": \"v\"}", id);
    for (size_t i = 0; i < sizeof(invalid) / sizeof(invalid[0]); i++)
        expect_revert_refused(f, id, invalid[i], 400, "invalid_revision");
    for (size_t i = 0; i < sizeof(missing) / sizeof(missing[0]); i++)
        expect_revert_refused(f, id, missing[i], 404, "not_found");
    expect_revert_refused(f, "0123456789abcdef0123456789abcdef", "1", 404, "not_found");
    assert_int_equal(tapi_cred_revision(f, id), 1);
}

static void test_revert_onto_a_name_now_taken_is_409_name_conflict(void **state)
{
    struct tapi *f = *state;
    char name[64], renamed[64], ida[TAPI_ID_LEN], idb[TAPI_ID_LEN];
    struct t_resp r;

    tapi_name(name, sizeof(name), "revname-");
    tapi_name(renamed, sizeof(renamed), "revname-moved-");
    tapi_cred_new(f, name, "{\"k\": \"v\"}", ida);
    char *put = tapi_printf("{\"name\": \"%s\"}", renamed);
    tapi_cred_put(f, ida, put);
    tapi_cred_new(f, name, "{\"other\": \"v\"}", idb); /* the freed name is taken again */

    char *before = tapi_state(f);
    tapi_revert(f, f->admin, &r, "/v1/credentials/%s/1", ida);
    json_t *b = tapi_error(&r, 409, "name_conflict");
    assert_string_equal(tapi_str(b, "reference"), idb);
    tapi_audit(f, &r, TAPI_ADMIN_ACTOR, "credential.revert", "credential", ida, TAPI_ANY,
               TAPI_REFUSED, "name_conflict");
    json_decref(b);
    t_resp_free(&r);
    tapi_assert_unchanged(f, before);
    free(put);
}

static void test_revert_with_a_stale_expected_revision_is_409(void **state)
{
    struct tapi *f = *state;
    char name[64], id[TAPI_ID_LEN];
    struct t_resp r;

    tapi_name(name, sizeof(name), "revstale-");
    tapi_cred_new(f, name, "{\"k\": \"v\"}", id);
    tapi_cred_put(f, id, "{\"enabled\": false}");
    char *before = tapi_state(f);
    tapi_revert(f, f->admin, &r, "/v1/credentials/%s/1?expected_revision=1", id);
    json_t *b = tapi_error(&r, 409, "revision_conflict");
    assert_int_equal(tapi_int(b, "current_revision"), 2);
    json_decref(b);
    t_resp_free(&r);
    tapi_assert_unchanged(f, before);
    tapi_revert(f, f->admin, &r, "/v1/credentials/%s/1?expected_revision=2", id);
    b = tapi_ok(&r);
    assert_int_equal(tapi_int(b, "revision"), 3);
    json_decref(b);
    t_resp_free(&r);
}

static void test_a_revert_sends_a_change_notification(void **state)
{
    struct tapi *f = *state;
    char name[64], id[TAPI_ID_LEN], payload[64];
    struct t_resp r;

    tapi_name(name, sizeof(name), "revnotify-");
    tapi_cred_new(f, name, "{\"k\": \"v\"}", id);
    tapi_cred_put(f, id, "{\"enabled\": false}");
    snprintf(payload, sizeof(payload), "credential:%s", id);
    struct tapi_listener *l = tapi_listen(f);
    tapi_revert(f, f->admin, &r, "/v1/credentials/%s/1", id);
    json_decref(tapi_ok(&r));
    t_resp_free(&r);
    assert_int_equal(tapi_notified(l, payload, 1, 10), 1);
    tapi_unlisten(l);
}

/* --- diff ---------------------------------------------------------------------------------- */

/* modified_date of each revision, from the revisions list. */
static char *modified_date(const struct tapi *f, const char *id, size_t revision)
{
    json_t *revs = revisions(f, f->admin, id);
    char *s = strdup(tapi_str(json_array_get(revs, revision - 1), "modified_date"));
    json_decref(revs);
    return s;
}

static char *rotation_date(const struct tapi *f, const char *id, size_t revision)
{
    json_t *revs = revisions(f, f->admin, id);
    json_t *v = json_object_get(json_array_get(revs, revision - 1), "last_rotation_date");
    char *s = strdup(json_is_string(v) ? json_string_value(v) : "");
    json_decref(revs);
    return s;
}

static void test_a_diff_lists_only_what_changed(void **state)
{
    struct tapi *f = *state;
    char n1[64], n2[64], id[TAPI_ID_LEN];
    struct t_resp r;

    tapi_name(n1, sizeof(n1), "diff-");
    tapi_name(n2, sizeof(n2), "diff-renamed-");
    char *body = tapi_printf(
        "{\"name\": \"%s\", \"credential_pairs\": {\"a\": \"dv-a\", \"b\": \"dv-b-old\", \"d\": "
        "\"dv-d\"}, \"metadata\": {\"m1\": \"x\", \"m2\": \"y\"}, \"tags\": [\"t1\", \"t2\"]}",
        n1);
    json_decref(tapi_cred_post(f, body, id));
    char *put = tapi_printf("{\"name\": \"%s\", \"credential_pairs\": {\"a\": \"dv-a\", \"b\": "
                            "\"dv-b-new\", \"c\": \"dv-c\"}, \"metadata\": {\"m1\": \"x\", \"m2\": "
                            "\"z\", \"m3\": \"w\"}, \"tags\": [\"t2\", \"t3\"], \"documentation\": "
                            "\"doc\", \"enabled\": false}",
                            n2);
    tapi_cred_put(f, id, put);

    tapi_send(f, f->admin, "GET", NULL, &r, "/v1/credentials/%s/1/2", id);
    json_t *d = tapi_ok(&r);
    static const char *const values[] = { "dv-a", "dv-b-old", "dv-b-new", "dv-c", "dv-d" };
    for (size_t i = 0; i < 5; i++)
        tapi_assert_absent(r.body.data, values[i], "a diff");
    tapi_audit(f, &r, TAPI_ADMIN_ACTOR, "credential.diff", "credential", id, TAPI_ANY, "allowed",
               "ok");
    t_resp_free(&r);
    tapi_assert_members(d, "name,enabled,documentation,last_rotation_date,credential_pairs,"
                           "metadata,tags,modified_by,modified_date");
    char *md1 = modified_date(f, id, 1), *md2 = modified_date(f, id, 2);
    char *lr1 = rotation_date(f, id, 1), *lr2 = rotation_date(f, id, 2);
    char *want = tapi_printf(
        "{\"name\": {\"added\": \"%s\", \"removed\": \"%s\"}, "
        "\"enabled\": {\"added\": false, \"removed\": true}, "
        "\"documentation\": {\"added\": \"doc\", \"removed\": null}, "
        "\"last_rotation_date\": {\"added\": \"%s\", \"removed\": \"%s\"}, "
        "\"credential_pairs\": {\"added\": [\"b\", \"c\"], \"removed\": [\"b\", \"d\"]}, "
        "\"metadata\": {\"added\": [\"m2\", \"m3\"], \"removed\": [\"m2\"]}, "
        "\"tags\": {\"added\": [\"t3\"], \"removed\": [\"t1\"]}, "
        "\"modified_by\": {\"added\": \"%s\", \"removed\": \"%s\"}, "
        "\"modified_date\": {\"added\": \"%s\", \"removed\": \"%s\"}}",
        n2, n1, lr2, lr1, TAPI_ADMIN_ACTOR, TAPI_ADMIN_ACTOR, md2, md1);
    tapi_assert_json(d, want);
    json_decref(d);
    free(want);

    /* one side only: the empty side is left out */
    tapi_cred_put(f, id, "{\"tags\": [\"t2\", \"t3\", \"t4\"]}"); /* revision 3 */
    d = diff(f, f->admin, id, 2, 3);
    tapi_assert_members(d, "tags,modified_by,modified_date");
    tapi_assert_json(json_object_get(d, "tags"), "{\"added\": [\"t4\"]}");
    json_decref(d);
    tapi_cred_put(f, id, "{\"metadata\": {\"m1\": \"x\"}}"); /* revision 4 */
    d = diff(f, f->admin, id, 3, 4);
    tapi_assert_members(d, "metadata,modified_by,modified_date");
    tapi_assert_json(json_object_get(d, "metadata"), "{\"removed\": [\"m2\", \"m3\"]}");
    json_decref(d);
    /* a value changed under the same key: the key on both sides, and a rotation */
    tapi_cred_put(f, id,
                  "{\"credential_pairs\": {\"a\": \"dv-a2\", \"b\": \"dv-b-new\", \"c\": "
                  "\"dv-c\"}}"); /* revision 5 */
    d = diff(f, f->admin, id, 4, 5);
    tapi_assert_members(d, "credential_pairs,last_rotation_date,modified_by,modified_date");
    tapi_assert_json(json_object_get(d, "credential_pairs"),
                     "{\"added\": [\"a\"], \"removed\": [\"a\"]}");
    json_decref(d);
    /* nothing changed but the modification */
    tapi_cred_put(f, id, "{}"); /* revision 6 */
    d = diff(f, f->admin, id, 5, 6);
    tapi_assert_members(d, "modified_by,modified_date");
    json_decref(d);
    free(md1);
    free(md2);
    free(lr1);
    free(lr2);
    free(body);
    free(put);
}

static void test_a_diff_takes_the_higher_revision_as_new_and_equal_ones_give_nothing(void **state)
{
    struct tapi *f = *state;
    char name[64], id[TAPI_ID_LEN];

    tapi_name(name, sizeof(name), "diff-order-");
    tapi_cred_new(f, name, "{\"a\": \"1\"}", id);
    tapi_cred_put(f, id, "{\"credential_pairs\": {\"b\": \"2\"}, \"enabled\": false}");
    json_t *forward = diff(f, f->admin, id, 1, 2);
    json_t *backward = diff(f, f->admin, id, 2, 1);
    assert_true(json_equal(forward, backward));
    tapi_assert_json(json_object_get(forward, "enabled"), "{\"added\": false, \"removed\": true}");
    tapi_assert_json(json_object_get(forward, "credential_pairs"),
                     "{\"added\": [\"b\"], \"removed\": [\"a\"]}");
    json_decref(forward);
    json_decref(backward);
    json_t *same = diff(f, f->admin, id, 2, 2);
    tapi_assert_json(same, "{}");
    json_decref(same);
    same = diff(f, f->admin, id, 1, 1);
    tapi_assert_json(same, "{}");
    json_decref(same);
}

static void test_a_diff_with_a_missing_revision_or_credential_is_404(void **state)
{
    struct tapi *f = *state;
    char name[64], id[TAPI_ID_LEN];
    struct t_resp r;

    tapi_name(name, sizeof(name), "diff-404-");
    tapi_cred_new(f, name, "{\"a\": \"1\"}", id);
    static const char *const paths[] = { "1/2", "2/1", "1/99", "3/2" };
    for (size_t i = 0; i < sizeof(paths) / sizeof(paths[0]); i++) {
        tapi_send(f, f->admin, "GET", NULL, &r, "/v1/credentials/%s/%s", id, paths[i]);
        tapi_check_error(&r, 404, "not_found");
        t_resp_free(&r);
    }
    tapi_send(f, f->admin, "GET", NULL, &r, "/v1/credentials/0123456789abcdef0123456789abcdef/1/1");
    tapi_check_error(&r, 404, "not_found");
    t_resp_free(&r);
}

/* --- roles --------------------------------------------------------------------------------- */

#define CANARY_HISTORY "cnry-history-4c2e9a7b31"

static void
test_an_auditor_reads_history_and_diffs_but_never_a_value_and_cannot_revert(void **state)
{
    struct tapi *f = *state;
    char name[64], id[TAPI_ID_LEN];
    struct t_resp r;

    tapi_name(name, sizeof(name), "diff-auditor-");
    tapi_cred_new(f, name, "{\"password\": \"" CANARY_HISTORY "\"}", id);
    tapi_cred_put(f, id, "{\"credential_pairs\": {\"password\": \"" CANARY_HISTORY "-2\"}}");

    tapi_send(f, f->auditor, "GET", NULL, &r, "/v1/archive/credentials/%s", id);
    json_t *b = tapi_ok(&r);
    assert_int_equal(json_array_size(json_object_get(b, "revisions")), 2);
    tapi_assert_no_secret(r.body.data, CANARY_HISTORY, "an auditor's revisions list");
    tapi_audit(f, &r, TAPI_AUDITOR_ACTOR, "credential.revisions", "credential", id, TAPI_ANY,
               "allowed", "ok");
    json_decref(b);
    t_resp_free(&r);

    tapi_send(f, f->auditor, "GET", NULL, &r, "/v1/credentials/%s/1/2", id);
    b = tapi_ok(&r);
    tapi_assert_json(json_object_get(b, "credential_pairs"),
                     "{\"added\": [\"password\"], \"removed\": [\"password\"]}");
    tapi_assert_no_secret(r.body.data, CANARY_HISTORY, "an auditor's diff");
    tapi_audit(f, &r, TAPI_AUDITOR_ACTOR, "credential.diff", "credential", id, TAPI_ANY, "allowed",
               "ok");
    json_decref(b);
    t_resp_free(&r);

    char *before = tapi_state(f);
    tapi_revert(f, f->auditor, &r, "/v1/credentials/%s/1", id);
    tapi_check_error(&r, 403, "forbidden");
    tapi_audit(f, &r, TAPI_AUDITOR_ACTOR, "credential.revert", "credential", id, TAPI_ANY, "denied",
               "forbidden");
    t_resp_free(&r);
    tapi_assert_unchanged(f, before);
}

int main(void)
{
    cf_json_init();
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_revisions_lists_every_revision_ascending_with_archive_ids),
        cmocka_unit_test(test_revisions_of_an_unknown_credential_is_404),
        cmocka_unit_test(test_revert_writes_a_new_revision_equal_to_the_old_one),
        cmocka_unit_test(test_revert_to_an_equal_revision_is_400_no_change),
        cmocka_unit_test(test_revert_refuses_bad_revision_numbers_and_missing_revisions),
        cmocka_unit_test(test_revert_onto_a_name_now_taken_is_409_name_conflict),
        cmocka_unit_test(test_revert_with_a_stale_expected_revision_is_409),
        cmocka_unit_test(test_a_revert_sends_a_change_notification),
        cmocka_unit_test(test_a_diff_lists_only_what_changed),
        cmocka_unit_test(test_a_diff_takes_the_higher_revision_as_new_and_equal_ones_give_nothing),
        cmocka_unit_test(test_a_diff_with_a_missing_revision_or_credential_is_404),
        cmocka_unit_test(
            test_an_auditor_reads_history_and_diffs_but_never_a_value_and_cannot_revert),
    };
    return t_run_group_tests(tests, tapi_setup, tapi_teardown);
}
