/*
 * audit_verify.c - the chain walk behind GET /v1/audit/verify and `cofferd audit verify`.
 *
 * Trusts nothing the writer computed: every hash is recomputed from the stored fields.
 */
#include "audit_verify.h"

#include <string.h>

#include <jansson.h>

#include "audit.h"
#include "cf_json.h"
#include "cf_str.h"
#include "cf_time.h"
#include "db_audit.h"

#define PAGE_ROWS 1000

static const char zero_hash[] = "0000000000000000000000000000000000000000000000000000000000000000";

static void fail(struct audit_verify_result *out, int64_t id, const char *problem)
{
    out->ok = false;
    out->first_bad_id = id;
    out->problem = problem;
}

/* Fills a row for hashing from its JSON (strings borrowed from j). */
static void row_from_json(const json_t *j, struct db_audit_row *r)
{
    const json_t *rev = json_object_get(j, "revision");
    const char *time = cf_json_str(j, "time");

    *r = (struct db_audit_row){
        .id = json_integer_value(json_object_get(j, "id")),
        .request_id = cf_json_str(j, "request_id"),
        .actor_type = cf_json_str(j, "actor_type"),
        .actor = cf_json_str(j, "actor"),
        .source_ip = cf_json_str(j, "source_ip"),
        .action = cf_json_str(j, "action"),
        .resource_type = cf_json_str(j, "resource_type"),
        .resource_id = cf_json_str(j, "resource_id"),
        .revision = json_integer_value(rev),
        .has_revision = json_is_integer(rev),
        .result = cf_json_str(j, "result"),
        .reason = cf_json_str(j, "reason"),
    };
    if (cf_fmt(r->time, sizeof(r->time), "%s", time != NULL ? time : "") != 0)
        r->time[0] = '\0';
    if (cf_fmt(r->prev_hash, sizeof(r->prev_hash), "%s", cf_json_str(j, "prev_hash")) != 0)
        r->prev_hash[0] = '\0';
}

/* Checks one row against the expected id and previous hash; false when it breaks. */
static bool check_row(const json_t *j, int64_t expect_id, char prev[CF_SHA256_HEX_LEN + 1],
                      struct audit_verify_result *out)
{
    struct db_audit_row r;
    const char *stored = cf_json_str(j, "hash");

    row_from_json(j, &r);
    if (r.id != expect_id) {
        fail(out, expect_id, "missing_row");
        return false;
    }
    if (strcmp(r.prev_hash, prev) != 0) {
        fail(out, r.id, "prev_hash_mismatch");
        return false;
    }
    if (audit_row_hash(&r) != 0 || stored == NULL || strcmp(r.hash, stored) != 0) {
        fail(out, r.id, "hash_mismatch");
        return false;
    }
    memcpy(prev, r.hash, CF_SHA256_HEX_LEN + 1);
    out->checked++;
    return true;
}

/* The hash before from_id: zeros for row 1, else the stored hash of row from_id - 1. */
static int hash_before(struct db_conn *c, int64_t from_id, char prev[CF_SHA256_HEX_LEN + 1],
                       bool *found)
{
    json_t *rows = NULL;
    int r;

    *found = true;
    if (from_id == 1) {
        memcpy(prev, zero_hash, sizeof(zero_hash));
        return 0;
    }
    if ((r = db_audit_range(c, from_id - 1, from_id - 1, 1, &rows)) != 0)
        return r;
    const char *h = cf_json_str(json_array_get(rows, 0), "hash");
    *found = h != NULL && cf_fmt(prev, CF_SHA256_HEX_LEN + 1, "%s", h) == 0;
    json_decref(rows);
    return 0;
}

/* Walks the rows page by page; false when a row breaks the chain. */
static int walk(struct db_conn *c, char prev[CF_SHA256_HEX_LEN + 1],
                struct audit_verify_result *out, bool *intact)
{
    int64_t next = out->from_id;
    int r;

    *intact = true;
    while (next <= out->to_id) {
        json_t *rows = NULL;
        size_t i;
        const json_t *j;
        if (cf_request_budget_ms(1) == 0)
            return CF_EUNAVAIL; /* the request's deadline passed mid-walk: a range is shorter */
        if ((r = db_audit_range(c, next, out->to_id, PAGE_ROWS, &rows)) != 0)
            return r;
        json_array_foreach(rows, i, j)
        {
            if (!check_row(j, next, prev, out)) {
                *intact = false;
                break;
            }
            next++;
        }
        size_t got = json_array_size(rows);
        json_decref(rows);
        if (!*intact)
            return 0;
        if (got < PAGE_ROWS && next <= out->to_id) { /* the range ended early: rows are gone */
            fail(out, next, "missing_row");
            *intact = false;
            return 0;
        }
    }
    return 0;
}

/* At the head: the head's hash equals the last row's, and no row lies past it. */
static int check_head(struct db_conn *c, const char *last_hash, struct audit_verify_result *out)
{
    int64_t beyond = 0;
    int r = db_audit_count_after(c, out->head_id, &beyond);

    if (r != 0)
        return r;
    if (strcmp(last_hash, out->head_hash) != 0 || beyond != 0)
        fail(out, out->head_id + (beyond != 0 ? 1 : 0), "head_mismatch");
    return 0;
}

int audit_verify(struct db_conn *c, int64_t from_id, int64_t to_id, struct audit_verify_result *out)
{
    char prev[CF_SHA256_HEX_LEN + 1];
    bool found, intact;
    int r;

    *out = (struct audit_verify_result){ .ok = true, .from_id = from_id };
    if (from_id < 1 || (to_id > 0 && to_id < from_id))
        return CF_EINVAL;
    if ((r = db_audit_head(c, &out->head_id, out->head_hash)) != 0)
        return r;
    out->to_id = to_id > 0 && to_id < out->head_id ? to_id : out->head_id; /* stop at the head */
    if (out->to_id - out->from_id + 1 > AUDIT_VERIFY_MAX_ROWS)
        out->to_id = out->from_id + AUDIT_VERIFY_MAX_ROWS - 1;
    if (out->to_id < out->from_id) /* an empty log, or a range past the head */
        return out->head_id == 0 && from_id == 1 ? check_head(c, zero_hash, out) : CF_EINVAL;
    if ((r = hash_before(c, from_id, prev, &found)) != 0)
        return r;
    if (!found) {
        fail(out, from_id - 1, "missing_row");
        return 0;
    }
    if ((r = walk(c, prev, out, &intact)) != 0 || !intact)
        return r;
    if (out->to_id == out->head_id)
        return check_head(c, prev, out);
    return 0;
}
