/*
 * test_cli_audit.c - the coffer command-line client (cli/), black-box: the access-log commands:
 * audit list and its filters, audit verify on an intact chain and on one a superuser altered.
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

/* === the access log ========================================================================= */

/* NULL if every event of the list has member key equal to value, else what differs. */
static char *all_have(const json_t *evs, const char *key, const char *value)
{
    size_t i;
    json_t *ev;
    json_array_foreach(evs, i, ev)
    {
        const char *s = cf_json_str(ev, key);
        if (s == NULL || strcmp(s, value) != 0)
            return tapi_printf("event %zu has %s %s, expected %s", i, key, s ? s : "(none)", value);
    }
    return NULL;
}

/* NULL if the ids of the events go strictly up (asc) or down. */
static char *ids_ordered(const json_t *evs, bool asc)
{
    for (size_t i = 1; i < json_array_size(evs); i++) {
        json_int_t a = json_integer_value(json_object_get(json_array_get(evs, i - 1), "id"));
        json_int_t b = json_integer_value(json_object_get(json_array_get(evs, i), "id"));
        if (asc ? a >= b : a <= b)
            return tapi_printf("ids %lld then %lld", (long long)a, (long long)b);
    }
    return NULL;
}

/* `coffer credential create NAME` as the admin, with the pairs {"k": "v"}; its id into id. */
static void create_credential(const struct tkms *f, const char *name, char id[TAPI_ID_LEN])
{
    struct run r;

    coffer_expect(f, &(struct how){ .token = f->api.admin_token, .in = "{\"k\": \"v\"}" },
                  ARGS("credential", "create", name), 0, &r);
    json_t *o = one_of(&r);
    snprintf(id, TAPI_ID_LEN, "%s", tapi_str(o, "id"));
    json_decref(o);
    run_free(&r);
}

static void test_audit_list_prints_json_lines_of_the_rows_its_filters_select(void **state)
{
    struct tkms *f = *state;
    struct cf_buf list = { 0 };
    struct run r;
    char name[64], id[TAPI_ID_LEN];
    const struct how auditor = { .token = f->api.auditor_token };

    tapi_name(name, sizeof(name), "cli-audit-");
    create_credential(f, name, id);
    coffer_ok(f, &auditor, ARGS("credential", "show", id));
    coffer_ok(f, &auditor, ARGS("credential", "history", id));
    coffer_expect(f, &(struct how){ .token = "coffer_garbage" }, ARGS("credential", "show", id), 3,
                  &r);
    run_free(&r);

    /* one row: the create, exactly as the API shows it */
    coffer_expect(f, &auditor,
                  ARGS("audit", "list", "--resource-id", id, "--action", "credential.create"), 0,
                  &r);
    json_t *evs = lines_of(&r);
    run_free(&r);
    assert_int_equal(json_array_size(evs), 1);
    json_t *ev = json_array_get(evs, 0);
    assert_string_equal(tapi_str(ev, "action"), "credential.create");
    assert_string_equal(tapi_str(ev, "actor"), TAPI_ADMIN_ACTOR);
    assert_string_equal(tapi_str(ev, "actor_type"), "token");
    assert_string_equal(tapi_str(ev, "resource_type"), "credential");
    assert_string_equal(tapi_str(ev, "result"), "allowed");
    assert_int_equal(tapi_int(ev, "revision"), 1);
    assert_true(cf_is_lower_hex(tapi_str(ev, "hash"), 64));
    struct t_resp resp;
    tapi_send(&f->api, f->api.auditor, "GET", NULL, &resp,
              "/v1/audit/events?resource_id=%s&action=credential.create", id);
    json_t *api = tapi_ok(&resp);
    t_resp_free(&resp);
    assert_true(json_equal(json_array_get(json_object_get(api, "events"), 0), ev));
    json_decref(api);
    char rid[64];
    snprintf(rid, sizeof(rid), "%s", tapi_str(ev, "request_id"));
    json_int_t create_id = tapi_int(ev, "id");
    json_decref(evs);

    /* This binary's fixture is fresh (test_cli's other tests used to run first in the same one
     * and leave rows behind): 101 credential lists as the auditor make more than 100 rows, five
     * of them of resource type credential, each durable before its answer */
    for (int i = 0; i < 101; i++) {
        tapi_send(&f->api, f->api.auditor, "GET", NULL, &resp, "/v1/credentials");
        json_decref(tapi_ok(&resp));
        t_resp_free(&resp);
    }

    /* filters and orders, each line a row that matches */
    char create_id_s[32];
    snprintf(create_id_s, sizeof(create_id_s), "%lld", (long long)create_id);
    const struct {
        const char *label;
        const char *const *args;
        long count; /* -1: any, at least one */
        const char *key, *value;
        int order; /* 1 asc, -1 desc, 0 not checked */
    } cases[] = {
        { "by resource, newest first", ARGS("audit", "list", "--resource-id", id), 4, "resource_id",
          id, -1 },
        { "by resource, oldest first", ARGS("audit", "list", "--resource-id", id, "--order", "asc"),
          4, "resource_id", id, 1 },
        { "--limit", ARGS("audit", "list", "--resource-id", id, "--limit", "2"), 2, "resource_id",
          id, -1 },
        { "--all", ARGS("audit", "list", "--resource-id", id, "--all"), 4, "resource_id", id, -1 },
        { "by actor", ARGS("audit", "list", "--actor", TAPI_AUDITOR_ACTOR, "--limit", "3"), 3,
          "actor", TAPI_AUDITOR_ACTOR, -1 },
        { "by actor type and result",
          ARGS("audit", "list", "--resource-id", id, "--actor-type", "anonymous", "--result",
               "denied"),
          1, "result", "denied", 0 },
        { "by action list",
          ARGS("audit", "list", "--resource-id", id, "--action",
               "credential.revisions,credential.create", "--order", "asc"),
          2, "resource_type", "credential", 1 },
        { "by resource type",
          ARGS("audit", "list", "--resource-type", "credential", "--limit", "5"), 5,
          "resource_type", "credential", -1 },
        { "by request id", ARGS("audit", "list", "--request-id", rid), 1, "request_id", rid, 0 },
        { "--json", ARGS("audit", "list", "--request-id", rid, "--json"), 1, "action",
          "credential.create", 0 },
        { "since the future", ARGS("audit", "list", "--since", "2999-01-01T00:00:00Z"), 0, NULL,
          NULL, 0 },
        { "until the past", ARGS("audit", "list", "--until", "2000-01-01T00:00:00+00:00"), 0, NULL,
          NULL, 0 },
        { "since long ago",
          ARGS("audit", "list", "--since", "2000-01-01T00:00:00Z", "--resource-id", id, "--limit",
               "1"),
          1, "resource_id", id, 0 },
    };
    for (size_t i = 0; i < N_OF(cases); i++) {
        coffer(f, &auditor, cases[i].args, &r);
        char *d = run_diff(&r, 0, NULL);
        if (d == NULL) {
            evs = lines_of(&r);
            if (cases[i].count >= 0 && (long)json_array_size(evs) != cases[i].count)
                d = tapi_printf("%zu rows, expected %ld: %.300s", json_array_size(evs),
                                cases[i].count, out_of(&r));
            if (d == NULL && cases[i].key != NULL)
                d = all_have(evs, cases[i].key, cases[i].value);
            if (d == NULL && cases[i].order != 0)
                d = ids_ordered(evs, cases[i].order > 0);
            json_decref(evs);
        }
        tapi_collect(&list, cases[i].label, d);
        run_free(&r);
    }
    /* no --limit: the newest 100 */
    long rows = tapi_count(&f->api, "SELECT count(*) FROM audit_log");
    assert_true(rows > 100);
    coffer_expect(f, &auditor, ARGS("audit", "list"), 0, &r);
    evs = lines_of(&r);
    assert_int_equal(json_array_size(evs), 100);
    tapi_collect(&list, "no --limit", ids_ordered(evs, false));
    assert_true(tapi_int(json_array_get(evs, 0), "id") >= rows);
    json_decref(evs);
    run_free(&r);

    /* oldest first starts with the create */
    coffer_expect(f, &auditor,
                  ARGS("audit", "list", "--resource-id", id, "--order", "asc", "--limit", "1"), 0,
                  &r);
    evs = lines_of(&r);
    assert_int_equal(json_array_size(evs), 1);
    assert_int_equal(tapi_int(json_array_get(evs, 0), "id"), create_id);
    json_decref(evs);
    run_free(&r);
    tapi_collect_end(&list);
}

/* The head coffer printed: from the JSON line (piped) or the "head ID:HASH" line (terminal). */
static void head_of_json(const struct run *r, long long *id, char hash[65])
{
    json_t *o = one_of(r);
    if (!json_is_true(json_object_get(o, "ok")))
        fail_msg("audit verify printed %s", out_of(r));
    *id = (long long)tapi_int(o, "head_id");
    snprintf(hash, 65, "%s", tapi_str(o, "head_hash"));
    json_decref(o);
}

/* The hash column of row id. */
static char *row_hash(const struct tkms *f, long long id)
{
    char *sql = tapi_printf("SELECT hash FROM audit_log WHERE id = %lld", id);
    char *h = tapi_sql(&f->api, sql);
    free(sql);
    return h;
}

static void test_audit_verify_walks_the_intact_chain_and_checks_the_head_it_was_given(void **state)
{
    struct tkms *f = *state;
    struct run r;
    long long head;
    char hash[65];
    const struct how auditor = { .token = f->api.auditor_token };

    /* piped: one JSON line, ok, and the head it reached, which the database holds */
    coffer_expect(f, &auditor, ARGS("audit", "verify"), 0, &r);
    head_of_json(&r, &head, hash);
    run_free(&r);
    assert_true(head > 1);
    assert_true(cf_is_lower_hex(hash, 64));
    char *db = row_hash(f, head);
    assert_string_equal(db, hash);
    free(db);

    /* on a terminal: the "head ID:HASH" line to keep */
    {
        char **argv = argv_of(ARGS("audit", "verify"));
        char **env = env_of(f, &auditor);
        struct cf_buf out = { 0 };
        int rc = run_tty(argv, env, &out);
        strv_free(argv);
        strv_free(env);
        const char *line = out.data != NULL ? strstr(out.data, "head ") : NULL;
        long long tid = 0;
        char thash[65] = "";
        if (rc != 0 || line == NULL || (line != out.data && line[-1] != '\n') ||
            sscanf(line, "head %lld:%64[0-9a-f]", &tid, thash) != 2 || strlen(thash) != 64)
            fail_msg("audit verify on a terminal exited %d printing %s", rc,
                     out.data != NULL ? out.data : "");
        cf_buf_free(&out);
        assert_true(tid > head);
        db = row_hash(f, tid);
        assert_string_equal(db, thash);
        free(db);
    }

    /* --expect-head with the head kept: intact */
    char expect[128];
    snprintf(expect, sizeof(expect), "%lld:%s", head, hash);
    coffer_expect(f, &auditor, ARGS("audit", "verify", "--expect-head", expect), 0, &r);
    run_free(&r);
    /* a wrong hash for that row: broken, naming it */
    char wrong[128];
    snprintf(wrong, sizeof(wrong), "%lld:%s", head, hash);
    char *h = wrong + strlen(wrong) - 64;
    h[0] = h[0] == 'a' ? 'b' : 'a';
    coffer_expect(f, &auditor, ARGS("audit", "verify", "--expect-head", wrong), 1, &r);
    char num[32];
    snprintf(num, sizeof(num), "%lld", head);
    if (!has_word(err_of(&r), num))
        fail_msg("audit verify does not name row %s: %s", num, err_of(&r));
    run_free(&r);
    /* a head past the end of the log: rows were cut from its tail */
    snprintf(wrong, sizeof(wrong), "%lld:%s", head + 1000000, hash);
    coffer_expect(f, &auditor, ARGS("audit", "verify", "--expect-head", wrong), 1, &r);
    run_free(&r);

    /* a range */
    coffer_expect(f, &auditor, ARGS("audit", "verify", "--from-id", "2", "--to-id", "4"), 0, &r);
    json_t *o = one_of(&r);
    assert_true(json_is_true(json_object_get(o, "ok")));
    assert_int_equal(tapi_int(o, "checked"), 3);
    assert_int_equal(tapi_int(o, "head_id"), 4);
    json_decref(o);
    run_free(&r);
    /* an admin may verify too */
    coffer_ok(f, &(struct how){ .token = f->api.admin_token }, ARGS("audit", "verify"));
}

/* On a fixture of its own: it breaks the chain. */
static void test_audit_verify_exits_1_naming_the_row_a_superuser_altered(void **state)
{
    struct tkms *f = *state;
    struct run r;
    char name[64], id[TAPI_ID_LEN];
    const struct how auditor = { .token = f->api.auditor_token };

    tapi_name(name, sizeof(name), "cli-tamper-");
    create_credential(f, name, id);
    for (int i = 0; i < 3; i++)
        coffer_ok(f, &auditor, ARGS("credential", "show", id));
    coffer_ok(f, &auditor, ARGS("audit", "verify"));

    char *sql = tapi_printf("SELECT id FROM audit_log WHERE action = 'credential.create' AND "
                            "resource_id = '%s'",
                            sql_safe(id));
    long k = tapi_count(&f->api, sql);
    free(sql);
    assert_true(k > 2);
    tamper(f, "UPDATE audit_log SET actor = 'token:someone-else' WHERE id = $1::bigint", k,
           " AND actor = 'token:someone-else'", 1);

    char num[32], before[32], after[32];
    snprintf(num, sizeof(num), "%ld", k);
    snprintf(before, sizeof(before), "%ld", k - 1);
    snprintf(after, sizeof(after), "%ld", k + 1);
    coffer_expect(f, &auditor, ARGS("audit", "verify"), 1, &r);
    if (!has_word(err_of(&r), num) || !has_word(err_of(&r), "hash_mismatch"))
        fail_msg("audit verify does not name row %s and hash_mismatch: %s", num, err_of(&r));
    json_t *o = one_of(&r);
    assert_true(json_is_false(json_object_get(o, "ok")));
    assert_int_equal(tapi_int(o, "first_bad_id"), k);
    assert_int_equal(tapi_int(o, "checked"), k - 1);
    assert_string_equal(tapi_str(o, "problem"), "hash_mismatch");
    json_decref(o);
    run_free(&r);
    /* the rows before it, and the rows after it (chained to its stored hash), still verify */
    coffer_ok(f, &auditor, ARGS("audit", "verify", "--to-id", before));
    coffer_ok(f, &auditor, ARGS("audit", "verify", "--from-id", after));
    coffer_expect(f, &auditor, ARGS("audit", "verify", "--from-id", num, "--to-id", num), 1, &r);
    assert_true(has_word(err_of(&r), num));
    run_free(&r);

    /* the field put back, the chain is whole again; then a row deleted is a missing row */
    tamper(f, "UPDATE audit_log SET actor = '" TAPI_ADMIN_ACTOR "' WHERE id = $1::bigint", k,
           " AND actor = '" TAPI_ADMIN_ACTOR "'", 1);
    coffer_ok(f, &auditor, ARGS("audit", "verify"));
    tamper(f, "DELETE FROM audit_log WHERE id = $1::bigint", k + 1, "", 0);
    coffer_expect(f, &auditor, ARGS("audit", "verify"), 1, &r);
    if (!has_word(err_of(&r), after) || !has_word(err_of(&r), "missing_row"))
        fail_msg("audit verify does not name row %s and missing_row: %s", after, err_of(&r));
    o = one_of(&r);
    assert_int_equal(tapi_int(o, "first_bad_id"), k + 1);
    json_decref(o);
    run_free(&r);
    coffer_ok(f, &auditor, ARGS("audit", "verify", "--to-id", num));
}

int main(void)
{
    tcli_init();
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_audit_list_prints_json_lines_of_the_rows_its_filters_select),
        cmocka_unit_test(test_audit_verify_walks_the_intact_chain_and_checks_the_head_it_was_given),
        cmocka_unit_test_setup_teardown(
            test_audit_verify_exits_1_naming_the_row_a_superuser_altered, tkms_setup,
            tkms_teardown),
    };
    int rc = t_run_group_tests(tests, tcli_group_setup, tkms_teardown);
    tcli_finish();
    return rc;
}
