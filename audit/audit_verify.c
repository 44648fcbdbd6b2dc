/*
 * audit_verify.c - the chain walk behind GET /v1/audit/verify and `cofferd audit verify`.
 *
 * Trusts nothing the writer computed: every hash is recomputed from the stored fields.
 */
#include "audit_verify.h"

#include <string.h>

#include <jansson.h>

#include "audit_chain.h"
#include "cf_json.h"
#include "cf_str.h"
#include "cf_time.h"
#include "db_audit.h"

#define PAGE_ROWS 1000

static void fail(struct audit_verify_result *out, int64_t id, const char *problem)
{
    out->ok = false;
    out->first_bad_id = id;
    out->problem = problem;
}

/* The hash before from_id: zeros for row 1, else the stored hash of row from_id - 1. */
static int hash_before(struct db_conn *c, int64_t from_id, char prev[CF_SHA256_HEX_LEN + 1],
                       bool *found)
{
    json_t *rows = NULL;
    int r;

    *found = true;
    if (from_id == 1) {
        memcpy(prev, audit_chain_zero_hash, sizeof(audit_chain_zero_hash));
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
    struct audit_chain_walk w;
    int r;

    *intact = true;
    if ((r = audit_chain_walk_start(&w, out->from_id, prev)) != 0)
        return r;
    while (w.next_id <= out->to_id && w.first_bad_id == 0) {
        json_t *rows = NULL;
        size_t i;
        const json_t *j;
        if (cf_request_budget_ms(1) == 0)
            return CF_EUNAVAIL; /* the request's deadline passed mid-walk: a range is shorter */
        if ((r = db_audit_range(c, w.next_id, out->to_id, PAGE_ROWS, &rows)) != 0)
            return r;
        json_array_foreach(rows, i, j)
        {
            if (!audit_chain_walk_row(&w, j))
                break;
        }
        size_t got = json_array_size(rows);
        json_decref(rows);
        if (w.first_bad_id == 0 && got < PAGE_ROWS && w.next_id <= out->to_id)
            audit_chain_walk_fail(&w, w.next_id, "missing_row"); /* the range ended early */
    }
    out->checked = w.checked;
    memcpy(prev, w.prev, sizeof(w.prev));
    if (w.first_bad_id != 0) {
        fail(out, w.first_bad_id, w.problem);
        *intact = false;
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

static int verify(struct db_conn *c, int64_t from_id, int64_t to_id,
                  struct audit_verify_result *out)
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
    if (out->to_id < out->from_id) { /* an empty log, or a range past the head */
        return out->head_id == 0 && from_id == 1 ? check_head(c, audit_chain_zero_hash, out)
                                                 : CF_EINVAL;
    }
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

/* One snapshot for the whole walk: rows appended meanwhile (this request's own among them)
 * are not seen, so the head read first and the rows read last always agree. */
int audit_verify(struct db_conn *c, int64_t from_id, int64_t to_id, struct audit_verify_result *out)
{
    int r = db_tx_begin_snapshot(c);

    if (r != 0)
        return r;
    return db_tx_end(c, verify(c, from_id, to_id, out));
}
