/*
 * test_cli_admin.c - the coffer command-line client (cli/), black-box: the commands that change
 * what cofferd holds: credential and service create, show, update, map, revert and history, api-
 * token and principal commands, values taken from stdin byte for byte, bad input, and a write
 * based on a stale revision.
 *
 * Every command runs as a process against a cofferd on the aws KMS backend (moto, kmsauth on)
 * and PostgreSQL; its exit status, stdout and stderr are checked, and what it wrote is read back
 * through the API (API.md) and the database. The help text (`coffer --help`, `coffer CMD
 * --help`) is the specification: exit 0 ok, 1 invalid or a broken chain, 2 usage, 3 401, 4 403,
 * 5 404, 6 409, 7 server error or no answer, N the status of exec's command. What the test_cli_*
 * binaries share (running coffer, the secrets no command line may hold) is in
 * tests/support/tcli.c.
 */
#define _GNU_SOURCE /* memmem, strndup, cfmakeraw */
#include <arpa/inet.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <pty.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <termios.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>
#include <jansson.h>

#include "cf_codec.h"
#include "cf_json.h"
#include "tcli.h"

/* === credentials ============================================================================ */

static void test_credential_commands_create_show_update_revert_and_list_revisions(void **state)
{
    struct tkms *f = *state;
    struct run r;
    char name[64], renamed[64], s1[64], s2[64], s3[64], id[TAPI_ID_LEN];

    tapi_name(name, sizeof(name), "cli-cred-");
    tapi_name(renamed, sizeof(renamed), "cli-cred-renamed-");
    secret_new(s1, sizeof(s1), "cli-pw-one-");
    secret_new(s2, sizeof(s2), "cli-pw-two-");
    secret_new(s3, sizeof(s3), "cli-tok-three-");
    const struct how admin = { .token = f->api.admin_token };

    /* create: pairs from stdin, metadata, tags and documentation from flags */
    char *pairs = tapi_printf("{\"username\": \"cli-user\", \"password\": \"%s\"}", s1);
    coffer_expect(f, &(struct how){ .token = f->api.admin_token, .in = pairs },
                  ARGS("credential", "create", name, "--metadata", "env_var_prefix=APP_",
                       "--metadata", "owner=team-a", "--tag", "db", "--tag", "prod",
                       "--documentation", "rotate monthly"),
                  0, &r);
    free(pairs);
    json_t *o = one_of(&r);
    snprintf(id, sizeof(id), "%s", tapi_str(o, "id"));
    assert_true(cf_is_lower_hex(id, 32));
    assert_string_equal(tapi_str(o, "name"), name);
    assert_int_equal(tapi_int(o, "revision"), 1);
    assert_true(tapi_bool(o, "enabled"));
    tapi_assert_json(json_object_get(o, "credential_keys"), "[\"password\", \"username\"]");
    tapi_assert_json(json_object_get(o, "metadata"),
                     "{\"env_var_prefix\": \"APP_\", \"owner\": \"team-a\"}");
    tapi_assert_json(json_object_get(o, "tags"), "[\"db\", \"prod\"]");
    assert_string_equal(tapi_str(o, "documentation"), "rotate monthly");
    assert_string_equal(tapi_str(o, "modified_by"), TAPI_ADMIN_ACTOR);
    assert_null(json_object_get(o, "credential_pairs")); /* without its values */
    tapi_assert_no_secret(out_of(&r), s1, "credential create's stdout");
    tapi_assert_no_secret(err_of(&r), s1, "credential create's stderr");
    json_decref(o);
    run_free(&r);
    json_t *pv = tapi_cred_pairs(&f->api, id);
    char *want = tapi_printf("{\"username\": \"cli-user\", \"password\": \"%s\"}", s1);
    tapi_assert_json(pv, want);
    free(want);
    json_decref(pv);

    /* show: metadata and keys, no values; --reveal: the values */
    coffer_expect(f, &admin, ARGS("credential", "show", id), 0, &r);
    o = one_of(&r);
    assert_string_equal(tapi_str(o, "id"), id);
    assert_int_equal(tapi_int(o, "revision"), 1);
    tapi_assert_json(json_object_get(o, "credential_keys"), "[\"password\", \"username\"]");
    json_t *cp = json_object_get(o, "credential_pairs");
    assert_true(cp == NULL || json_object_size(cp) == 0);
    tapi_assert_no_secret(out_of(&r), s1, "credential show's stdout");
    json_decref(o);
    run_free(&r);
    coffer_expect(f, &admin, ARGS("credential", "show", id, "--reveal"), 0, &r);
    o = one_of(&r);
    want = tapi_printf("{\"username\": \"cli-user\", \"password\": \"%s\"}", s1);
    tapi_assert_json(json_object_get(o, "credential_pairs"), want);
    free(want);
    json_decref(o);
    run_free(&r);

    /* update --value KEY: one pair from stdin, the others kept; based on revision 1 */
    coffer_expect(f, &(struct how){ .token = f->api.admin_token, .in = s2 },
                  ARGS("credential", "update", id, "--value", "password"), 0, &r);
    o = one_of(&r);
    assert_int_equal(tapi_int(o, "revision"), 2);
    assert_null(json_object_get(o, "credential_pairs"));
    tapi_assert_no_secret(out_of(&r), s2, "credential update's stdout");
    tapi_assert_no_secret(out_of(&r), s1, "credential update's stdout");
    json_decref(o);
    run_free(&r);
    pv = tapi_cred_pairs(&f->api, id);
    want = tapi_printf("{\"username\": \"cli-user\", \"password\": \"%s\"}", s2);
    tapi_assert_json(pv, want);
    free(want);
    json_decref(pv);

    /* update --input -: a JSON object replaces all pairs */
    pairs = tapi_printf("{\"token\": \"%s\"}", s3);
    coffer_expect(f, &(struct how){ .token = f->api.admin_token, .in = pairs },
                  ARGS("credential", "update", id, "--input", "-"), 0, &r);
    free(pairs);
    o = one_of(&r);
    assert_int_equal(tapi_int(o, "revision"), 3);
    tapi_assert_json(json_object_get(o, "credential_keys"), "[\"token\"]");
    tapi_assert_no_secret(out_of(&r), s3, "credential update's stdout");
    json_decref(o);
    run_free(&r);
    pv = tapi_cred_pairs(&f->api, id);
    want = tapi_printf("{\"token\": \"%s\"}", s3);
    tapi_assert_json(pv, want);
    free(want);
    json_decref(pv);

    /* rename and disable, then enable: the pairs stay */
    coffer_expect(f, &admin, ARGS("credential", "update", id, "--name", renamed, "--disable"), 0,
                  &r);
    o = one_of(&r);
    assert_int_equal(tapi_int(o, "revision"), 4);
    assert_string_equal(tapi_str(o, "name"), renamed);
    assert_false(tapi_bool(o, "enabled"));
    json_decref(o);
    run_free(&r);
    coffer_expect(f, &admin, ARGS("credential", "update", id, "--enable"), 0, &r);
    o = one_of(&r);
    assert_int_equal(tapi_int(o, "revision"), 5);
    assert_true(tapi_bool(o, "enabled"));
    json_decref(o);
    run_free(&r);
    json_t *now = api_cred_get(f, id);
    assert_string_equal(tapi_str(now, "name"), renamed);
    assert_true(tapi_bool(now, "enabled"));
    want = tapi_printf("{\"token\": \"%s\"}", s3);
    tapi_assert_json(json_object_get(now, "credential_pairs"), want);
    free(want);
    json_decref(now);

    /* history: one JSON line per revision, in order, without values */
    coffer_expect(f, &admin, ARGS("credential", "history", id), 0, &r);
    json_t *revs = lines_of(&r);
    assert_int_equal(json_array_size(revs), 5);
    for (size_t i = 0; i < 5; i++) {
        char rid[64];
        snprintf(rid, sizeof(rid), "%s-%zu", id, i + 1);
        assert_string_equal(tapi_str(json_array_get(revs, i), "id"), rid);
        assert_int_equal(tapi_int(json_array_get(revs, i), "revision"), (json_int_t)(i + 1));
    }
    assert_string_equal(tapi_str(json_array_get(revs, 3), "name"), renamed);
    tapi_assert_no_secret(out_of(&r), s1, "credential history");
    tapi_assert_no_secret(out_of(&r), s2, "credential history");
    tapi_assert_no_secret(out_of(&r), s3, "credential history");
    json_decref(revs);
    run_free(&r);

    /* diff: key names only */
    coffer_expect(f, &admin, ARGS("credential", "diff", id, "1", "3"), 0, &r);
    o = one_of(&r);
    tapi_assert_json(json_object_get(o, "credential_pairs"),
                     "{\"added\": [\"token\"], \"removed\": [\"password\", \"username\"]}");
    assert_non_null(json_object_get(o, "modified_date"));
    tapi_assert_no_secret(out_of(&r), s1, "credential diff");
    tapi_assert_no_secret(out_of(&r), s3, "credential diff");
    json_decref(o);
    run_free(&r);
    coffer_expect(f, &admin, ARGS("credential", "diff", id, "3", "4"), 0, &r);
    o = one_of(&r);
    assert_null(json_object_get(o, "credential_pairs"));
    char *nd = tapi_printf("{\"added\": \"%s\", \"removed\": \"%s\"}", renamed, name);
    tapi_assert_json(json_object_get(o, "name"), nd);
    free(nd);
    json_decref(o);
    run_free(&r);

    /* revert to revision 1: a new revision 6 with the first pairs and name */
    coffer_expect(f, &admin, ARGS("credential", "revert", id, "1"), 0, &r);
    o = one_of(&r);
    assert_int_equal(tapi_int(o, "revision"), 6);
    assert_string_equal(tapi_str(o, "name"), name);
    tapi_assert_no_secret(out_of(&r), s1, "credential revert's stdout");
    json_decref(o);
    run_free(&r);
    pv = tapi_cred_pairs(&f->api, id);
    want = tapi_printf("{\"username\": \"cli-user\", \"password\": \"%s\"}", s1);
    tapi_assert_json(pv, want);
    free(want);
    json_decref(pv);
    /* the same revert again changes nothing: refused as invalid (400 no_change) */
    coffer_expect(f, &admin, ARGS("credential", "revert", id, "1"), 1, &r);
    assert_true(r.err.len > 0);
    run_free(&r);
    assert_int_equal(tapi_cred_revision(&f->api, id), 6);

    /* list: JSON lines, ours among them, no values anywhere; --limit */
    coffer_expect(f, &admin, ARGS("credential", "list"), 0, &r);
    json_t *items = lines_of(&r);
    json_t *mine = item_with(items, "id", id);
    assert_non_null(mine);
    assert_string_equal(tapi_str(mine, "name"), name);
    assert_int_equal(tapi_int(mine, "revision"), 6);
    tapi_assert_no_secret(out_of(&r), s1, "credential list");
    json_decref(items);
    run_free(&r);
    coffer_expect(f, &admin, ARGS("credential", "list", "--limit", "1"), 0, &r);
    items = lines_of(&r);
    assert_int_equal(json_array_size(items), 1);
    json_decref(items);
    run_free(&r);

    /* an auditor may show metadata, never values */
    coffer_expect(f, &(struct how){ .token = f->api.auditor_token }, ARGS("credential", "show", id),
                  0, &r);
    o = one_of(&r);
    assert_string_equal(tapi_str(o, "id"), id);
    json_decref(o);
    tapi_assert_no_secret(out_of(&r), s1, "the auditor's credential show");
    run_free(&r);
}

/* "--value KEY sets one pair from the raw input and keeps the others", whether the input is
 * stdin or --input PATH. */
static void test_update_value_keeps_the_other_pairs_whatever_the_input(void **state)
{
    struct tkms *f = *state;
    struct cf_buf list = { 0 };
    struct run r;
    char name[64], id[TAPI_ID_LEN], file[600], fresh[64];

    api_cred(f, "cli-keep-", "{\"a\": \"old-a\", \"b\": \"old-b\"}", true, name, sizeof(name), id);
    secret_new(fresh, sizeof(fresh), "cli-keep-new-");
    work_path(file, sizeof(file), "cli-keep-input-");
    write_file(file, fresh, strlen(fresh), 0600);
    const struct {
        const char *label;
        const char *in;
        const char *const *args;
    } forms[] = {
        { "stdin", fresh, ARGS("credential", "update", id, "--value", "a") },
        { "--input -", fresh, ARGS("credential", "update", id, "--value", "a", "--input", "-") },
        { "--input PATH", NULL, ARGS("credential", "update", id, "--value", "a", "--input", file) },
    };
    for (size_t i = 0; i < N_OF(forms); i++) {
        tapi_cred_put(&f->api, id, "{\"credential_pairs\": {\"a\": \"old-a\", \"b\": \"old-b\"}}");
        coffer(f, &(struct how){ .token = f->api.admin_token, .in = forms[i].in }, forms[i].args,
               &r);
        char *d = run_diff(&r, 0, NULL);
        run_free(&r);
        if (d == NULL) {
            json_t *pairs = tapi_cred_pairs(&f->api, id);
            char *want = tapi_printf("{\"a\": \"%s\", \"b\": \"old-b\"}", fresh);
            json_t *w = json_loads(want, 0, NULL);
            if (!json_equal(pairs, w)) {
                char *got = json_dumps(pairs, JSON_COMPACT | JSON_SORT_KEYS);
                d = tapi_printf("the pairs are now %s, expected %s", got, want);
                cf_json_free_str(got);
            }
            json_decref(w);
            free(want);
            json_decref(pairs);
        }
        tapi_collect(&list, forms[i].label, d);
    }
    unlink(file);
    tapi_collect_end(&list);
}

/* "--metadata KEY=VALUE: a metadata member": update sets that member; the others, such as the
 * env_var_prefix every service's variable names depend on, stay. */
static void test_update_metadata_sets_one_member_and_keeps_the_others(void **state)
{
    struct tkms *f = *state;
    struct run r;
    char name[64], id[TAPI_ID_LEN];

    tapi_name(name, sizeof(name), "cli-meta-");
    char *body = tapi_printf("{\"name\": \"%s\", \"credential_pairs\": {\"k\": \"v\"}, "
                             "\"metadata\": {\"env_var_prefix\": \"DB_\", \"owner\": \"a\"}}",
                             name);
    json_decref(tapi_cred_post(&f->api, body, id));
    free(body);
    coffer_expect(f, &(struct how){ .token = f->api.admin_token },
                  ARGS("credential", "update", id, "--metadata", "owner=b"), 0, &r);
    run_free(&r);
    json_t *c = api_cred_get(f, id);
    json_t *want = json_loads("{\"env_var_prefix\": \"DB_\", \"owner\": \"b\"}", 0, NULL);
    char *got = json_dumps(json_object_get(c, "metadata"), JSON_COMPACT | JSON_SORT_KEYS);
    bool same = json_equal(json_object_get(c, "metadata"), want);
    static char msg[512];
    snprintf(msg, sizeof(msg),
             "the metadata is now %s, expected "
             "{\"env_var_prefix\":\"DB_\",\"owner\":\"b\"}",
             got);
    cf_json_free_str(got);
    json_decref(want);
    json_decref(c);
    if (!same)
        fail_msg("%s", msg); /* freed first: LeakSanitizer reports only the failure */
}

/* === services =============================================================================== */

static void test_service_commands_create_map_unmap_revert_and_list_revisions(void **state)
{
    struct tkms *f = *state;
    struct run r;
    char n1[64], n2[64], c1[TAPI_ID_LEN], c2[TAPI_ID_LEN], sid[64], sid2[64], sid3[64], v[64];
    const struct how admin = { .token = f->api.admin_token };

    secret_new(v, sizeof(v), "cli-svc-secret-");
    char *p1 = tapi_printf("{\"one\": \"%s\"}", v);
    api_cred(f, "cli-svc-c1-", p1, true, n1, sizeof(n1), c1);
    free(p1);
    api_cred(f, "cli-svc-c2-", "{\"two\": \"2\"}", true, n2, sizeof(n2), c2);
    tapi_name(sid, sizeof(sid), "cli-svc-");
    tapi_name(sid2, sizeof(sid2), "cli-svc-mapped-");
    tapi_name(sid3, sizeof(sid3), "cli-svc-off-");

    /* create with one credential */
    coffer_expect(f, &admin, ARGS("service", "create", sid, "--credential", c1), 0, &r);
    json_t *o = one_of(&r);
    assert_string_equal(tapi_str(o, "id"), sid);
    assert_int_equal(tapi_int(o, "revision"), 1);
    assert_true(tapi_bool(o, "enabled"));
    char *ids = tapi_ids_of(json_object_get(o, "credentials"));
    char *want = tapi_printf("%s,", c1);
    assert_string_equal(ids, want);
    free(ids);
    free(want);
    tapi_assert_no_secret(out_of(&r), v, "service create's stdout");
    json_decref(o);
    run_free(&r);

    /* map adds; unmap removes; both based on the revision read */
    coffer_expect(f, &admin, ARGS("service", "map", sid, c2), 0, &r);
    o = one_of(&r);
    assert_int_equal(tapi_int(o, "revision"), 2);
    json_decref(o);
    run_free(&r);
    ids = svc_cred_ids(f, sid);
    want = tapi_printf("%s,", c1);
    assert_non_null(strstr(ids, want));
    free(want);
    want = tapi_printf("%s,", c2);
    assert_non_null(strstr(ids, want));
    free(want);
    assert_int_equal(strlen(ids), 2 * 33);
    free(ids);
    coffer_expect(f, &admin, ARGS("service", "unmap", sid, c1), 0, &r);
    o = one_of(&r);
    assert_int_equal(tapi_int(o, "revision"), 3);
    json_decref(o);
    run_free(&r);
    ids = svc_cred_ids(f, sid);
    want = tapi_printf("%s,", c2);
    assert_string_equal(ids, want);
    free(ids);
    free(want);

    /* map creates a service that does not exist; several credentials at once */
    coffer_expect(f, &admin, ARGS("service", "map", sid2, c1, c2), 0, &r);
    o = one_of(&r);
    assert_string_equal(tapi_str(o, "id"), sid2);
    assert_int_equal(tapi_int(o, "revision"), 1);
    assert_int_equal(json_array_size(json_object_get(o, "credentials")), 2);
    json_decref(o);
    run_free(&r);
    assert_int_equal(tapi_svc_revision(&f->api, sid2), 1);

    /* an id with every punctuation character a service id may hold travels intact, and the
     * service signs in with it as its kmsauth name */
    char odd[96], rnd[64];
    tapi_name(rnd, sizeof(rnd), "");
    snprintf(odd, sizeof(odd), "Cli_svc.a+b@c=d,e-%s", rnd);
    coffer_expect(f, &admin, ARGS("service", "create", odd, "--credential", c2), 0, &r);
    o = one_of(&r);
    assert_string_equal(tapi_str(o, "id"), odd);
    json_decref(o);
    run_free(&r);
    coffer_expect(f, &admin, ARGS("service", "show", odd), 0, &r);
    o = one_of(&r);
    assert_string_equal(tapi_str(o, "id"), odd);
    json_decref(o);
    run_free(&r);
    coffer_expect(f, NULL, ARGS("get", odd), 0, &r);
    json_t *bundle = json_loadb(out_of(&r), r.out.len, 0, NULL);
    assert_non_null(bundle);
    tapi_assert_json(tkms_bundle_pairs(bundle, n2), "{\"two\": \"2\"}");
    json_decref(bundle);
    run_free(&r);

    /* credentials may be named by their names too; an unknown one exits 5 */
    char sid4[64];
    tapi_name(sid4, sizeof(sid4), "cli-svc-byname-");
    coffer_expect(f, &admin, ARGS("service", "map", sid4, n2), 0, &r);
    run_free(&r);
    ids = svc_cred_ids(f, sid4);
    want = tapi_printf("%s,", c2);
    assert_string_equal(ids, want);
    free(ids);
    free(want);
    coffer_expect(f, &admin, ARGS("service", "map", sid4, "cli-no-such-credential-name"), 5, &r);
    assert_non_null(strstr(err_of(&r), "cli-no-such-credential-name"));
    run_free(&r);
    coffer_expect(f, &admin, ARGS("service", "unmap", sid4, n2), 0, &r);
    run_free(&r);
    ids = svc_cred_ids(f, sid4);
    assert_string_equal(ids, "");
    free(ids);

    /* create --disabled */
    coffer_expect(f, &admin, ARGS("service", "create", sid3, "--disabled"), 0, &r);
    o = one_of(&r);
    assert_false(tapi_bool(o, "enabled"));
    assert_int_equal(json_array_size(json_object_get(o, "credentials")), 0);
    json_decref(o);
    run_free(&r);
    json_t *s3 = api_svc_get(f, sid3);
    assert_false(tapi_bool(s3, "enabled"));
    json_decref(s3);

    /* show: the service and its credentials, no values (an admin could read them) */
    coffer_expect(f, &admin, ARGS("service", "show", sid2), 0, &r);
    o = one_of(&r);
    assert_string_equal(tapi_str(o, "id"), sid2);
    json_t *creds = json_object_get(o, "credentials");
    assert_int_equal(json_array_size(creds), 2);
    for (size_t i = 0; i < 2; i++) {
        json_t *cpairs = json_object_get(json_array_get(creds, i), "credential_pairs");
        assert_true(cpairs == NULL || json_object_size(cpairs) == 0);
    }
    tapi_assert_no_secret(out_of(&r), v, "service show's stdout");
    json_decref(o);
    run_free(&r);

    /* list: JSON lines with credential ids; --limit */
    coffer_expect(f, &admin, ARGS("service", "list"), 0, &r);
    json_t *items = lines_of(&r);
    json_t *it = item_with(items, "id", sid);
    assert_non_null(it);
    assert_int_equal(tapi_int(it, "revision"), 3);
    want = tapi_printf("[\"%s\"]", c2);
    tapi_assert_json(json_object_get(it, "credentials"), want);
    free(want);
    assert_non_null(item_with(items, "id", sid2));
    assert_non_null(item_with(items, "id", sid3));
    json_decref(items);
    run_free(&r);
    coffer_expect(f, &admin, ARGS("service", "list", "--limit", "2"), 0, &r);
    items = lines_of(&r);
    assert_int_equal(json_array_size(items), 2);
    json_decref(items);
    run_free(&r);

    /* history: revisions 1..3 in order; revert to 1 writes revision 4 with c1 again */
    coffer_expect(f, &(struct how){ .token = f->api.auditor_token },
                  ARGS("service", "history", sid), 0, &r);
    json_t *revs = lines_of(&r);
    assert_int_equal(json_array_size(revs), 3);
    for (size_t i = 0; i < 3; i++) {
        char rid[96];
        snprintf(rid, sizeof(rid), "%s-%zu", sid, i + 1);
        assert_string_equal(tapi_str(json_array_get(revs, i), "id"), rid);
    }
    want = tapi_printf("[\"%s\"]", c1);
    tapi_assert_json(json_object_get(json_array_get(revs, 0), "credentials"), want);
    free(want);
    json_decref(revs);
    run_free(&r);
    coffer_expect(f, &admin, ARGS("service", "revert", sid, "1"), 0, &r);
    o = one_of(&r);
    assert_int_equal(tapi_int(o, "revision"), 4);
    json_decref(o);
    run_free(&r);
    ids = svc_cred_ids(f, sid);
    want = tapi_printf("%s,", c1);
    assert_string_equal(ids, want);
    free(ids);
    free(want);
}

/* === API tokens and principals =============================================================== */

/* Runs args until it exits want, for up to POLL_SECONDS (a revocation or a role change
 * reaches the node within a second); fails the test with the last run's output if it never
 * does. */
static void poll_expect(const struct tkms *f, const struct how *h, const char *const args[],
                        int want)
{
    struct timespec quarter = { 0, 250 * 1000000L };

    for (int i = 0;; i++) {
        struct run r;
        coffer(f, h, args, &r);
        if (r.rc == want) {
            run_free(&r);
            return;
        }
        if (i == POLL_SECONDS * 4) {
            char *d = run_diff(&r, want, NULL);
            static char msg[2048];
            snprintf(msg, sizeof(msg), "coffer %s: %s", cmdline(args), d);
            free(d);
            run_free(&r);
            fail_msg("%s", msg);
        }
        run_free(&r);
        nanosleep(&quarter, NULL);
    }
}

static void test_api_token_commands_create_list_and_revoke_and_a_revoked_token_exits_3(void **state)
{
    struct tkms *f = *state;
    struct run r;
    char name[64], id[64], token[64];
    const struct how admin = { .token = f->api.admin_token };

    tapi_name(name, sizeof(name), "cli-bot-");
    coffer_expect(f, &admin, ARGS("api-token", "create", name, "--role", "auditor", "--ttl", "2h"),
                  0, &r);
    json_t *o = one_of(&r);
    snprintf(id, sizeof(id), "%s", tapi_str(o, "id"));
    snprintf(token, sizeof(token), "%s", tapi_str(o, "token"));
    assert_int_equal(strlen(token), 50);
    assert_true(strncmp(token, "coffer_", 7) == 0);
    assert_true(strncmp(id, "tok_", 4) == 0);
    assert_string_equal(tapi_str(o, "name"), name);
    assert_string_equal(tapi_str(o, "role"), "auditor");
    assert_non_null(json_object_get(o, "expires_at"));
    json_decref(o);
    run_free(&r);
    secret_add(token); /* from now on it may travel only in COFFER_TOKEN */

    /* the new token works as an auditor: it reads, it may not write */
    const struct how bot = { .token = token };
    coffer_ok(f, &bot, ARGS("credential", "list", "--limit", "1"));
    coffer_expect(f, &bot, ARGS("service", "create", name), 4, &r);
    run_free(&r);

    /* list: ours, never its plaintext again */
    coffer_expect(f, &admin, ARGS("api-token", "list"), 0, &r);
    json_t *items = lines_of(&r);
    json_t *it = item_with(items, "id", id);
    assert_non_null(it);
    assert_string_equal(tapi_str(it, "name"), name);
    assert_true(json_is_null(json_object_get(it, "revoked_at")));
    assert_non_null(item_with(items, "name", "admin-1"));
    tapi_assert_absent(out_of(&r), token, "api-token list");
    json_decref(items);
    run_free(&r);

    /* revoke: the token object with revoked_at; then the token exits 3 */
    coffer_expect(f, &admin, ARGS("api-token", "revoke", id), 0, &r);
    o = one_of(&r);
    assert_string_equal(tapi_str(o, "id"), id);
    assert_true(json_is_string(json_object_get(o, "revoked_at")));
    json_decref(o);
    run_free(&r);
    poll_expect(f, &bot, ARGS("credential", "list", "--limit", "1"), 3);
    coffer_expect(f, &bot, ARGS("audit", "list", "--limit", "1"), 3, &r);
    assert_non_null(strstr(err_of(&r), "401"));
    assert_int_equal(r.out.len, 0);
    run_free(&r);

    /* listed again only with --include-revoked */
    coffer_expect(f, &admin, ARGS("api-token", "list"), 0, &r);
    items = lines_of(&r);
    assert_null(item_with(items, "id", id));
    json_decref(items);
    run_free(&r);
    coffer_expect(f, &admin, ARGS("api-token", "list", "--include-revoked"), 0, &r);
    items = lines_of(&r);
    it = item_with(items, "id", id);
    assert_non_null(it);
    assert_true(json_is_string(json_object_get(it, "revoked_at")));
    json_decref(items);
    run_free(&r);
}

static void
test_principal_commands_set_list_and_remove_and_the_role_applies_to_kmsauth(void **state)
{
    struct tkms *f = *state;
    struct run r;
    char person[64], sid[64], cname[64], cid[TAPI_ID_LEN];

    tapi_name(person, sizeof(person), "cli-person-");
    tapi_name(sid, sizeof(sid), "cli-person-svc-");
    api_cred(f, "cli-person-", "{\"k\": \"v\"}", true, cname, sizeof(cname), cid);
    const struct how admin = { .token = f->api.admin_token };
    /* the person signs in with a kmsauth user token made by coffer (no COFFER_TOKEN) */
    const struct how me = { .from = person };

    coffer_expect(f, &me, ARGS("credential", "list", "--limit", "1"), 4, &r); /* no role yet */
    run_free(&r);

    coffer_expect(f, &admin, ARGS("principal", "set", person, "--role", "admin"), 0, &r);
    json_t *o = one_of(&r);
    assert_string_equal(tapi_str(o, "name"), person);
    assert_string_equal(tapi_str(o, "role"), "admin");
    json_decref(o);
    run_free(&r);
    coffer_expect(f, &admin, ARGS("principal", "list"), 0, &r);
    json_t *items = lines_of(&r);
    json_t *it = item_with(items, "name", person);
    assert_non_null(it);
    assert_string_equal(tapi_str(it, "role"), "admin");
    json_decref(items);
    run_free(&r);

    /* as an admin the person writes; the access log names them */
    poll_expect(f, &me, ARGS("service", "create", sid), 0);
    json_t *s = api_svc_get(f, sid);
    assert_string_equal(tapi_str(s, "modified_by"), person);
    json_decref(s);

    /* demoted to auditor: reads, and a write exits 4 */
    coffer_ok(f, &admin, ARGS("principal", "set", person, "--role", "auditor"));
    poll_expect(f, &me, ARGS("service", "map", sid, cid), 4);
    assert_int_equal(tapi_svc_revision(&f->api, sid), 1);
    coffer_ok(f, &me, ARGS("service", "show", sid));

    /* removed: no role at all */
    coffer_expect(f, &admin, ARGS("principal", "remove", person), 0, &r);
    o = one_of(&r);
    assert_string_equal(tapi_str(o, "name"), person);
    json_decref(o);
    run_free(&r);
    poll_expect(f, &me, ARGS("service", "show", sid), 4);
    coffer_expect(f, &admin, ARGS("principal", "list"), 0, &r);
    items = lines_of(&r);
    assert_null(item_with(items, "name", person));
    json_decref(items);
    run_free(&r);
    coffer_expect(f, &admin, ARGS("principal", "remove", person), 5, &r);
    run_free(&r);
}

/* === values round-trip ====================================================================== */

static void test_values_from_stdin_round_trip_byte_for_byte(void **state)
{
    struct tkms *f = *state;
    struct cf_buf list = { 0 };
    struct run r;
    char tag[64], marker[600], name[64], id[TAPI_ID_LEN], file[600], sid[64];

    work_path(marker, sizeof(marker), "cli-marker-");
    secret_new(tag, sizeof(tag), "cli-rt-");
    char *value = tricky_value(tag, marker);
    const struct how admin = { .token = f->api.admin_token };

    /* create --value KEY: the raw bytes of stdin, trailing newlines included */
    tapi_name(name, sizeof(name), "cli-rt-");
    coffer_expect(f, &(struct how){ .token = f->api.admin_token, .in = value },
                  ARGS("credential", "create", name, "--value", "secret"), 0, &r);
    json_t *o = one_of(&r);
    snprintf(id, sizeof(id), "%s", tapi_str(o, "id"));
    json_decref(o);
    tapi_assert_no_secret(out_of(&r), tag, "credential create's stdout");
    run_free(&r);
    /* through the API */
    json_t *pairs = tapi_cred_pairs(&f->api, id);
    assert_json_bytes("the value read through the API", json_object_get(pairs, "secret"), value);
    assert_int_equal(json_object_size(pairs), 1);
    json_decref(pairs);
    /* through credential show --reveal */
    coffer_expect(f, &admin, ARGS("credential", "show", id, "--reveal"), 0, &r);
    o = one_of(&r);
    assert_json_bytes("credential show --reveal",
                      json_object_get(json_object_get(o, "credential_pairs"), "secret"), value);
    json_decref(o);
    run_free(&r);
    /* through get --format json, as the service */
    tapi_name(sid, sizeof(sid), "cli-rt-svc-");
    coffer_expect(f, &admin, ARGS("service", "map", sid, id), 0, &r);
    run_free(&r);
    coffer_expect(f, NULL, ARGS("get", sid, "--format", "json"), 0, &r);
    json_t *bj = json_loadb(out_of(&r), r.out.len, 0, NULL);
    assert_non_null(bj);
    assert_json_bytes("get --format json", json_object_get(tkms_bundle_pairs(bj, name), "secret"),
                      value);
    json_decref(bj);
    run_free(&r);
    /* through get --format env, sourced by sh */
    coffer_expect(f, NULL, ARGS("get", sid, "--format", "env"), 0, &r);
    work_path(file, sizeof(file), "cli-rt-env-");
    write_file(file, out_of(&r), r.out.len, 0600);
    run_free(&r);
    shell_value("/bin/sh", file, true, "SECRET", &r);
    assert_int_equal(r.rc, 0);
    assert_bytes("get --format env sourced by sh", out_of(&r), r.out.len, value, strlen(value));
    run_free(&r);
    unlink(file);
    assert_false(exists(marker));

    /* update --value with other bytes; and --input FILE with a JSON object */
    const char *const edge[] = {
        "",                                 /* an empty value */
        "\n",                               /* a newline only */
        " leading and trailing spaces \t ", /* blanks kept */
        "no newline at the end",            /* nothing added */
        "\r\n\r\n",                         /* CRLFs kept */
        "{\"looks\": \"like JSON\"}\n",     /* not parsed with --value */
    };
    for (size_t i = 0; i < N_OF(edge); i++) {
        char label[32];
        snprintf(label, sizeof(label), "update --value #%zu", i);
        coffer(f, &(struct how){ .token = f->api.admin_token, .in = edge[i] },
               ARGS("credential", "update", id, "--value", "secret"), &r);
        char *d = run_diff(&r, 0, NULL);
        run_free(&r);
        if (d == NULL) {
            pairs = tapi_cred_pairs(&f->api, id);
            json_t *v = json_object_get(pairs, "secret");
            if (!json_is_string(v) || json_string_length(v) != strlen(edge[i]) ||
                memcmp(json_string_value(v), edge[i], strlen(edge[i])) != 0)
                d = tapi_printf("the value is %s", json_is_string(v) ? json_string_value(v) : "?");
            json_decref(pairs);
        }
        tapi_collect(&list, label, d);
    }
    json_t *obj = json_object();
    json_object_set_new(obj, "secret", json_stringn(value, strlen(value)));
    json_object_set_new(obj, "other", json_string("x"));
    char *text = json_dumps(obj, JSON_COMPACT);
    json_decref(obj);
    work_path(file, sizeof(file), "cli-rt-input-");
    write_file(file, text, strlen(text), 0600);
    cf_json_free_str(text);
    coffer(f, &admin, ARGS("credential", "update", id, "--input", file), &r);
    tapi_collect(&list, "update --input FILE", run_diff(&r, 0, NULL));
    run_free(&r);
    unlink(file);
    pairs = tapi_cred_pairs(&f->api, id);
    json_t *sv = json_object_get(pairs, "secret");
    if (!json_is_string(sv) || json_string_length(sv) != strlen(value) ||
        memcmp(json_string_value(sv), value, strlen(value)) != 0 || json_object_size(pairs) != 2)
        tapi_collect(&list, "update --input FILE", tapi_printf("the pairs differ"));
    json_decref(pairs);
    free(value);
    tapi_collect_end(&list);
}

static void test_bad_input_is_refused_and_creates_nothing(void **state)
{
    struct tkms *f = *state;
    struct cf_buf list = { 0 };
    struct run r;

    const struct {
        const char *label;
        const char *in;
        size_t inlen;
        bool value; /* --value k */
        int rc;
    } cases[] = {
        { "not JSON", "password=hunter2", 0, false, 2 },
        { "a JSON array", "[\"x\"]", 0, false, 2 },
        { "a JSON string", "\"x\"", 0, false, 2 },
        { "no input", "", 0, false, 2 },
        { "duplicate members", "{\"a\": \"1\", \"a\": \"2\"}", 0, false, 2 },
        { "no pairs (400)", "{}", 0, false, 1 },
        { "a number value (400)", "{\"a\": 1}", 0, false, 1 },
        { "a key with a space (400)", "{\"a b\": \"x\"}", 0, false, 1 },
        { "a value that is not UTF-8", "\xff\xfe bytes", 0, true, -1 },
        { "a value with a NUL", "a\0b", 3, true, -1 },
    };
    for (size_t i = 0; i < N_OF(cases); i++) {
        char name[64];
        tapi_name(name, sizeof(name), "cli-bad-input-");
        char *before = tapi_state(&f->api);
        const char *args[] = { "credential", "create", name, cases[i].value ? "--value" : NULL,
                               "k",          NULL };
        coffer(f,
               &(struct how){
                   .token = f->api.admin_token, .in = cases[i].in, .inlen = cases[i].inlen },
               args, &r);
        char *d = NULL;
        if (cases[i].rc >= 0)
            d = run_diff(&r, cases[i].rc, "coffer: ");
        else if (r.rc == 0 || r.err.len == 0)
            d = tapi_printf("exited %d (expected a refusal with a message): %.200s", r.rc,
                            err_of(&r));
        if (d == NULL)
            d = tapi_unchanged_diff(&f->api, before);
        else
            free(before);
        tapi_collect(&list, cases[i].label, d);
        run_free(&r);
    }
    tapi_collect_end(&list);
}

static void test_a_write_based_on_a_stale_revision_exits_6_and_changes_nothing(void **state)
{
    struct tkms *f = *state;
    struct cf_buf list = { 0 };
    struct run r;
    char name[64], id[TAPI_ID_LEN], other[TAPI_ID_LEN], oname[64], sid[64];
    const struct how admin = { .token = f->api.admin_token };

    api_cred(f, "cli-stale-", "{\"k\": \"v\"}", true, name, sizeof(name), id);
    api_cred(f, "cli-stale-other-", "{\"o\": \"v\"}", true, oname, sizeof(oname), other);
    tapi_name(sid, sizeof(sid), "cli-stale-svc-");

    /* two admins read revision 1; the first writes revision 2, the second is refused */
    coffer_expect(
        f, &admin,
        ARGS("credential", "update", id, "--documentation", "first", "--expected-revision", "1"), 0,
        &r);
    run_free(&r);
    char *before = tapi_state(&f->api);
    coffer(
        f, &admin,
        ARGS("credential", "update", id, "--documentation", "second", "--expected-revision", "1"),
        &r);
    char *d = run_diff(&r, 6, "coffer: ");
    if (d == NULL && !has_word(err_of(&r), "2")) /* it says where the credential is now */
        d = tapi_printf("stderr does not name the current revision 2: %s", err_of(&r));
    if (d == NULL && r.out.len != 0)
        d = tapi_printf("printed on stdout: %s", out_of(&r));
    if (d == NULL)
        d = tapi_unchanged_diff(&f->api, before);
    else
        free(before);
    tapi_collect(&list, "credential update", d);
    run_free(&r);
    json_t *c = api_cred_get(f, id);
    assert_string_equal(tapi_str(c, "documentation"), "first");
    assert_int_equal(tapi_int(c, "revision"), 2);
    json_decref(c);
    /* without --expected-revision it is based on what it just read */
    coffer_expect(f, &admin, ARGS("credential", "update", id, "--documentation", "third"), 0, &r);
    json_t *o = one_of(&r);
    assert_int_equal(tapi_int(o, "revision"), 3);
    json_decref(o);
    run_free(&r);

    /* the same for reverts and mappings */
    coffer_ok(f, &admin, ARGS("service", "create", sid, "--credential", id));
    coffer_ok(f, &admin, ARGS("service", "map", sid, other)); /* revision 2 */
    const struct {
        const char *label;
        const char *const *args;
    } stale[] = {
        { "credential revert", ARGS("credential", "revert", id, "1", "--expected-revision", "2") },
        { "service map", ARGS("service", "map", sid, other, "--expected-revision", "1") },
        { "service unmap", ARGS("service", "unmap", sid, other, "--expected-revision", "1") },
        { "service revert", ARGS("service", "revert", sid, "1", "--expected-revision", "1") },
        { "service create", ARGS("service", "create", sid) },
    };
    for (size_t i = 0; i < N_OF(stale); i++) {
        before = tapi_state(&f->api);
        coffer(f, &admin, stale[i].args, &r);
        d = run_diff(&r, 6, "coffer: ");
        if (d == NULL)
            d = tapi_unchanged_diff(&f->api, before);
        else
            free(before);
        tapi_collect(&list, stale[i].label, d);
        run_free(&r);
    }
    assert_int_equal(tapi_cred_revision(&f->api, id), 3);
    assert_int_equal(tapi_svc_revision(&f->api, sid), 2);
    /* with the right revision they pass */
    coffer(f, &admin, ARGS("service", "unmap", sid, other, "--expected-revision", "2"), &r);
    tapi_collect(&list, "service unmap at the right revision", run_diff(&r, 0, NULL));
    run_free(&r);
    tapi_collect_end(&list);
}

int main(void)
{
    tcli_init();
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_credential_commands_create_show_update_revert_and_list_revisions),
        cmocka_unit_test(test_update_value_keeps_the_other_pairs_whatever_the_input),
        cmocka_unit_test(test_update_metadata_sets_one_member_and_keeps_the_others),
        cmocka_unit_test(test_service_commands_create_map_unmap_revert_and_list_revisions),
        cmocka_unit_test(
            test_api_token_commands_create_list_and_revoke_and_a_revoked_token_exits_3),
        cmocka_unit_test(
            test_principal_commands_set_list_and_remove_and_the_role_applies_to_kmsauth),
        cmocka_unit_test(test_values_from_stdin_round_trip_byte_for_byte),
        cmocka_unit_test(test_bad_input_is_refused_and_creates_nothing),
        cmocka_unit_test(test_a_write_based_on_a_stale_revision_exits_6_and_changes_nothing),
    };
    int rc = t_run_group_tests(tests, tcli_group_setup, tkms_teardown);
    tcli_finish();
    return rc;
}
