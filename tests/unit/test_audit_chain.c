/* test_audit_chain.c - the access log's canonical rows and hash chain (API.md 8.2 vectors). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>

#include "audit.h"
#include "audit_chain.h"
#include "cf_json.h"
#include "trun.h"

static const char *const zeros = "0000000000000000000000000000000000000000000000000000000000000000";

static void row1(struct db_audit_row *r)
{
    *r = (struct db_audit_row){ .id = 1,
                                .request_id = "5f2b8c0e9d1a4b7c8e6f3a2d1c0b9a87",
                                .actor_type = "service",
                                .actor = "web-production",
                                .source_ip = "10.0.3.17",
                                .action = "service.get",
                                .resource_type = "service",
                                .resource_id = "web-production",
                                .revision = 3,
                                .has_revision = true,
                                .result = "allowed",
                                .reason = "ok" };
    snprintf(r->time, sizeof(r->time), "%s", "2025-02-14T15:27:41.123456+00:00");
    snprintf(r->prev_hash, sizeof(r->prev_hash), "%s", zeros);
}

static void test_canonical_row_matches_the_api_vector(void **state)
{
    (void)state;
    struct db_audit_row r;
    struct cf_buf b = { 0 };

    row1(&r);
    audit_canonical(&r, &b);
    assert_string_equal(
        b.data,
        "{\"action\":\"service.get\",\"actor\":\"web-production\",\"actor_type\":\"service\","
        "\"id\":1,\"reason\":\"ok\",\"request_id\":\"5f2b8c0e9d1a4b7c8e6f3a2d1c0b9a87\","
        "\"resource_id\":\"web-production\",\"resource_type\":\"service\",\"result\":"
        "\"allowed\",\"revision\":3,\"source_ip\":\"10.0.3.17\",\"time\":"
        "\"2025-02-14T15:27:41.123456+00:00\"}");
    cf_buf_free(&b);
}

static void test_first_two_hashes_match_the_api_vectors(void **state)
{
    (void)state;
    struct db_audit_row r;

    row1(&r);
    assert_int_equal(audit_row_hash(&r), 0);
    assert_string_equal(r.hash, "89fe0e35455805ddc39bd193d65e2a7bccb745f21e2431f166dad973ddf971e3");

    struct db_audit_row r2 = { .id = 2,
                               .request_id = "0c1d2e3f405162738495a6b7c8d9eafb",
                               .actor_type = "anonymous",
                               .actor = "2/service/billing",
                               .source_ip = "10.0.3.18",
                               .action = "service.get",
                               .resource_type = "service",
                               .resource_id = "web-production",
                               .has_revision = false,
                               .result = "denied",
                               .reason = "kmsauth_decrypt" };
    snprintf(r2.time, sizeof(r2.time), "%s", "2025-02-14T15:27:42.000001+00:00");
    snprintf(r2.prev_hash, sizeof(r2.prev_hash), "%s", r.hash);
    assert_int_equal(audit_row_hash(&r2), 0);
    assert_string_equal(r2.hash,
                        "97cd65007af25ecbf8d0ebdfe0c5d395487d593a4101b98b4b7ab1d74524fe1b");
}

static void test_canonical_escapes_minimally(void **state)
{
    (void)state;
    struct db_audit_row r;
    struct cf_buf b = { 0 };

    row1(&r);
    r.actor = "a\"b\\c\n\t\x01/\x7f\xc3\xa9";
    r.resource_type = NULL;
    r.has_revision = false;
    audit_canonical(&r, &b);
    assert_non_null(strstr(b.data, "\"actor\":\"a\\\"b\\\\c\\n\\t\\u0001/\x7f\xc3\xa9\""));
    assert_non_null(strstr(b.data, "\"resource_type\":null"));
    assert_non_null(strstr(b.data, "\"revision\":null"));
    cf_buf_free(&b);
}

static void test_a_changed_field_changes_the_hash(void **state)
{
    (void)state;
    struct db_audit_row a, b;

    row1(&a);
    row1(&b);
    b.result = "denied";
    assert_int_equal(audit_row_hash(&a), 0);
    assert_int_equal(audit_row_hash(&b), 0);
    assert_string_not_equal(a.hash, b.hash);
    snprintf(b.prev_hash, sizeof(b.prev_hash), "%s", "zz");
    assert_int_equal(audit_row_hash(&b), CF_EINVAL);
}

/* peer_ip (migration 0005) is hashed only when set: a row without one hashes as before, and
 * the JSON reader used by `coffer audit verify` reads it back. */
static void test_peer_ip_is_hashed_only_when_set(void **state)
{
    (void)state;
    struct db_audit_row a, b;
    struct cf_buf ca = { 0 }, cb = { 0 };

    row1(&a);
    row1(&b);
    memcpy(a.prev_hash, zeros, 65);
    memcpy(b.prev_hash, zeros, 65);
    b.peer_ip = "127.0.0.1";
    audit_canonical(&a, &ca);
    audit_canonical(&b, &cb);
    assert_null(strstr(ca.data, "peer_ip"));
    assert_non_null(strstr(cb.data, "\"id\":1,\"peer_ip\":\"127.0.0.1\",\"reason\""));
    assert_int_equal(audit_row_hash(&a), 0);
    assert_int_equal(audit_row_hash(&b), 0);
    assert_string_equal(a.hash, "89fe0e35455805ddc39bd193d65e2a7bccb745f21e2431f166dad973ddf971e3");
    assert_string_not_equal(a.hash, b.hash);

    /* from JSON: null and absent alike leave it out; a value is hashed */
    json_t *j =
        json_pack("{s:I, s:s, s:s, s:s, s:s, s:s, s:s, s:s, s:s, s:I, s:s, s:s, s:n}", "id",
                  (json_int_t)1, "time", "", "request_id", a.request_id, "actor_type", a.actor_type,
                  "actor", a.actor, "source_ip", a.source_ip, "action", a.action, "resource_type",
                  a.resource_type, "resource_id", a.resource_id, "revision", (json_int_t)3,
                  "result", a.result, "reason", a.reason, "peer_ip");
    struct audit_chain_row r;
    audit_chain_row_from_json(j, &r);
    assert_null(r.peer_ip);
    json_object_set_new(j, "peer_ip", json_string("127.0.0.1"));
    audit_chain_row_from_json(j, &r);
    assert_string_equal(r.peer_ip, "127.0.0.1");
    json_decref(j);
    cf_buf_free(&ca);
    cf_buf_free(&cb);
}

int main(void)
{
    cf_json_init();
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_canonical_row_matches_the_api_vector),
        cmocka_unit_test(test_first_two_hashes_match_the_api_vectors),
        cmocka_unit_test(test_canonical_escapes_minimally),
        cmocka_unit_test(test_a_changed_field_changes_the_hash),
        cmocka_unit_test(test_peer_ip_is_hashed_only_when_set),
    };
    return t_run_group_tests(tests, NULL, NULL);
}
