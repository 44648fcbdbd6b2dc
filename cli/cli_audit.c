/*
 * cli_audit.c - `coffer audit list` and `coffer audit verify`: the access log read through
 * GET /v1/audit/events, and its hash chain recomputed here with audit_chain.h, trusting
 * nothing the server computed.
 *
 * The table is for people: an unauthenticated caller chose its row's actor (the name it
 * claimed) and resource id, so every cell is escaped (cli_out.h) and a claimed name is shown
 * as `(unauthenticated) claimed "NAME"`, never like an actor that proved who it is. JSON lines
 * are the rows as the server sent them: their bytes, not a re-encoding.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "audit_chain.h"
#include "cf_json.h"
#include "cf_mem.h"
#include "cf_str.h"
#include "cli_cmds.h"
#include "cli_out.h"

#define PAGE 1000

/* The filters of audit list: option name and query parameter. */
static const char *const filters[][2] = {
    { "since", "since" },
    { "until", "until" },
    { "actor", "actor" },
    { "actor-type", "actor_type" },
    { "action", "action" },
    { "resource-type", "resource_type" },
    { "resource-id", "resource_id" },
    { "result", "result" },
    { "request-id", "request_id" },
    { "order", "order" },
};

/* GET one page of events: path plus limit and cursor. */
static int page(struct cli *c, const struct cf_buf *base, int64_t limit, const char *cursor,
                struct cli_resp *r)
{
    struct cf_buf p = { 0 };
    char lim[24];
    if (cf_fmt(lim, sizeof(lim), "%lld", (long long)limit) != 0)
        lim[0] = '\0';
    cf_buf_append(&p, base->data, base->len);
    cli_query(&p, "limit", lim);
    if (cursor != NULL)
        cli_query(&p, "cursor", cursor);
    int rc = cli_request(c, "GET", p.data, NULL, false, r);
    cf_buf_free(&p);
    return rc;
}

/* True unless the row says its actor proved who it is: actor_proven (false for the rows of
 * failed authentication) and, from a server older than that member, an actor_type other than
 * anonymous. A row that says neither is unproven. */
static bool actor_unproven(const json_t *ev)
{
    const char *type = cf_json_str(ev, "actor_type");
    return json_is_false(json_object_get(ev, "actor_proven")) || type == NULL ||
           strcmp(type, "anonymous") == 0;
}

/* The ACTOR cell, escaped: a proven actor as it is, a claimed name marked as only claimed. */
static void actor_cell(const json_t *ev, struct cf_buf *out)
{
    const char *actor = cf_json_str(ev, "actor");

    if (!actor_unproven(ev)) {
        cli_escape(out, actor != NULL ? actor : "-", actor != NULL ? strlen(actor) : 1, 0);
        return;
    }
    cf_buf_append_str(out, "(unauthenticated)");
    if (actor != NULL && *actor != '\0') {
        cf_buf_append_str(out, " claimed \"");
        cli_escape(out, actor, strlen(actor), CF_TEXT_QUOTE);
        cf_buf_append_char(out, '"');
    }
}

/* One row of the table, every cell escaped (resource: type:id). */
static void table_row(struct cli_table *t, const json_t *ev)
{
    /* ID TIME ACTOR ACTION RESOURCE RESULT REASON: the members shown as they are, by column */
    static const struct {
        size_t col;
        const char *member;
    } plain[] = { { 1, "time" }, { 3, "action" }, { 5, "result" }, { 6, "reason" } };
    struct cf_buf cell[7] = { 0 };
    char id[24];
    const char *rt = cf_json_str(ev, "resource_type"), *ri = cf_json_str(ev, "resource_id");

    const char *idv = cli_cell(ev, "id", id, sizeof(id));
    cli_escape(&cell[0], idv, strlen(idv), 0);
    for (size_t i = 0; i < sizeof(plain) / sizeof(plain[0]); i++) {
        const char *v = cf_json_str(ev, plain[i].member);
        cli_escape(&cell[plain[i].col], v != NULL ? v : "-", v != NULL ? strlen(v) : 1, 0);
    }
    actor_cell(ev, &cell[2]);
    cli_escape(&cell[4], rt != NULL ? rt : "-", rt != NULL ? strlen(rt) : 1, 0);
    if (ri != NULL) {
        cf_buf_append_char(&cell[4], ':');
        cli_escape(&cell[4], ri, strlen(ri), 0);
    }
    const char *cells[7];
    for (size_t i = 0; i < 7; i++)
        cells[i] = cell[i].data;
    cli_table_row_made(t, cells);
    for (size_t i = 0; i < 7; i++)
        cf_buf_free(&cell[i]);
}

int cli_cmd_audit_list(struct cli *c, const struct cli_args *a)
{
    static const char *const head[] = { "ID",       "TIME",   "ACTOR",  "ACTION",
                                        "RESOURCE", "RESULT", "REASON", NULL };
    struct cf_buf base = { 0 };
    struct cli_table t;
    char *cursor = NULL;
    int64_t limit = 100, shown = 0;
    bool all = cli_flag(a, "all");
    int rc = CLI_OK;

    const char *l = cli_opt_value(a, "limit");
    if (l != NULL && cf_parse_i64(l, 1, 100000000, &limit) != 0) {
        cli_errorf("--limit is a number from 1");
        return CLI_EUSAGE;
    }
    cf_buf_append_str(&base, "/v1/audit/events");
    for (size_t i = 0; i < sizeof(filters) / sizeof(filters[0]); i++) {
        const char *v = cli_opt_value(a, filters[i][0]);
        if (v != NULL)
            cli_query(&base, filters[i][1], v);
    }
    cli_table_init(&t, head);
    do {
        struct cli_resp r;
        int64_t want = all ? PAGE : limit - shown;
        size_t i;
        const json_t *ev;
        rc = page(c, &base, want < PAGE ? want : PAGE, cursor, &r);
        free(cursor);
        cursor = NULL;
        if (rc == CLI_OK) {
            const json_t *events = json_object_get(r.json, "events");
            struct cf_buf lines = { 0 };
            /* JSON lines: each row's bytes as the server wrote them (only the whitespace
             * between tokens dropped), so that nothing is re-spelled on the way */
            bool raw = c->json && cli_json_items(r.body.data, r.body.len, "events", &lines) ==
                                      (long)json_array_size(events);
            if (raw && lines.len > 0)
                (void)fwrite(lines.data, 1, lines.len, stdout);
            cf_buf_free(&lines);
            json_array_foreach(events, i, ev)
            {
                if (c->json && !raw) {
                    cli_print_json(ev, true);
                } else if (!c->json) {
                    table_row(&t, ev);
                }
                shown++;
            }
            const char *next = cf_json_str(r.json, "next_cursor");
            if (next != NULL && (all || shown < limit))
                cursor = cf_xstrdup(next);
        }
        cli_resp_free(&r);
    } while (rc == CLI_OK && cursor != NULL);
    if (!c->json && rc == CLI_OK)
        cli_table_print(&t);
    cli_table_free(&t);
    cf_buf_free(&base);
    return rc;
}

/* ID:HASH of --expect-head. */
static int parse_head(const char *s, int64_t *id, char hash[CF_SHA256_HEX_LEN + 1])
{
    const char *colon = s != NULL ? strchr(s, ':') : NULL;
    char num[24];

    if (colon == NULL || cf_fmt(num, sizeof(num), "%.*s", (int)(colon - s), s) != 0 ||
        cf_parse_i64(num, 1, INT64_MAX, id) != 0 || strlen(colon + 1) != CF_SHA256_HEX_LEN ||
        cf_fmt(hash, CF_SHA256_HEX_LEN + 1, "%s", colon + 1) != 0) {
        cli_errorf("--expect-head is ID:HASH (a row id and its 64 hex digit hash)");
        return CLI_EUSAGE;
    }
    return CLI_OK;
}

/* A client-side walk of the chain over the pages of GET /v1/audit/events?order=asc. */
struct verify {
    struct audit_chain_walk w;
    bool started; /* the walk has its first row's predecessor hash */
    bool done;    /* no more rows are needed */
    int64_t from, to, expect_id, last_id;
    char expect_hash[CF_SHA256_HEX_LEN + 1];
    char seen_expect[CF_SHA256_HEX_LEN + 1]; /* the hash row expect_id had */
    char last_hash[CF_SHA256_HEX_LEN + 1];
};

/* One row of a page. Rows before --from-id are only read for the hash the walk starts from. */
static void verify_row(struct verify *v, const json_t *ev)
{
    const json_t *idj = json_object_get(ev, "id");
    int64_t id = json_is_integer(idj) ? json_integer_value(idj) : 0;
    const char *h = cf_json_str(ev, "hash");

    if (id > v->to) {
        v->done = true;
        return;
    }
    if (!v->started && id == v->from - 1 && h != NULL) {
        v->started = audit_chain_walk_start(&v->w, v->from, h) == 0;
        return;
    }
    if (!v->started && id >= v->from) { /* the row before --from-id is not there */
        v->started = audit_chain_walk_start(&v->w, v->from, audit_chain_zero_hash) == 0;
        audit_chain_walk_fail(&v->w, v->from - 1, "missing_row");
        v->done = true;
        return;
    }
    if (!v->started)
        return;
    if (!audit_chain_walk_row(&v->w, ev)) {
        v->done = true;
        return;
    }
    v->last_id = id;
    memcpy(v->last_hash, h, sizeof(v->last_hash)); /* 64 hex digits: the row verified */
    if (id == v->expect_id)
        memcpy(v->seen_expect, h, sizeof(v->seen_expect));
}

/* Reads every page. Each page is itself audited, so the log grows while it is read: the walk
 * ends at the first page without a next cursor, or at --to-id. */
static int verify_pages(struct cli *c, struct verify *v)
{
    struct cf_buf base = { 0 };
    char *cursor = NULL;
    int rc;

    cf_buf_append_str(&base, "/v1/audit/events");
    cli_query(&base, "order", "asc");
    do {
        struct cli_resp r;
        rc = page(c, &base, PAGE, cursor, &r);
        free(cursor);
        cursor = NULL;
        if (rc == CLI_OK) {
            const json_t *events = json_object_get(r.json, "events");
            for (size_t i = 0; i < json_array_size(events) && !v->done; i++)
                verify_row(v, json_array_get(events, i));
            const char *next = cf_json_str(r.json, "next_cursor");
            if (!v->done && next != NULL)
                cursor = cf_xstrdup(next);
        }
        cli_resp_free(&r);
    } while (rc == CLI_OK && cursor != NULL);
    cf_buf_free(&base);
    return rc;
}

/* What only the end of the walk shows: a range cut short, an expected head absent or other. */
static void verify_end(struct verify *v)
{
    if (!v->started) {
        v->started = audit_chain_walk_start(&v->w, v->from, audit_chain_zero_hash) == 0;
        audit_chain_walk_fail(&v->w, v->from, "missing_row");
    }
    if (v->w.first_bad_id != 0)
        return;
    bool range_cut = v->to != INT64_MAX && v->last_id < v->to;
    bool tail_cut = v->expect_id != 0 && v->expect_id > v->last_id && v->to == INT64_MAX;
    if (range_cut || tail_cut) {
        audit_chain_walk_fail(&v->w, v->last_id + 1, "missing_row");
    } else if (v->expect_id >= v->from && v->expect_id <= v->last_id &&
               strcmp(v->seen_expect, v->expect_hash) != 0) {
        audit_chain_walk_fail(&v->w, v->expect_id, "head_mismatch");
    }
}

int cli_cmd_audit_verify(struct cli *c, const struct cli_args *a)
{
    struct verify v = { .from = 1, .to = INT64_MAX };
    int rc;

    const char *f = cli_opt_value(a, "from-id"), *t = cli_opt_value(a, "to-id");
    if ((f != NULL && cf_parse_i64(f, 1, INT64_MAX, &v.from) != 0) ||
        (t != NULL && cf_parse_i64(t, v.from, INT64_MAX, &v.to) != 0)) {
        cli_errorf("--from-id and --to-id are row ids, from <= to");
        return CLI_EUSAGE;
    }
    const char *head = cli_opt_value(a, "expect-head");
    if (head != NULL && (rc = parse_head(head, &v.expect_id, v.expect_hash)) != CLI_OK)
        return rc;
    if (v.from == 1)
        v.started = audit_chain_walk_start(&v.w, 1, audit_chain_zero_hash) == 0;
    if ((rc = verify_pages(c, &v)) != CLI_OK)
        return rc;
    verify_end(&v);
    const struct audit_chain_walk *w = &v.w;
    if (w->first_bad_id != 0) {
        if (c->json) {
            (void)printf("{\"ok\":false,\"checked\":%lld,\"first_bad_id\":%lld,\"problem\":"
                         "\"%s\"}\n",
                         (long long)w->checked, (long long)w->first_bad_id, w->problem);
        }
        cli_errorf("the access log is BROKEN at row %lld: %s (%lld rows checked before it)",
                   (long long)w->first_bad_id, w->problem, (long long)w->checked);
        return CLI_EFAIL;
    }
    if (c->json) {
        (void)printf("{\"ok\":true,\"from_id\":%lld,\"to_id\":%lld,\"checked\":%lld,"
                     "\"head_id\":%lld,\"head_hash\":\"%s\"}\n",
                     (long long)v.from, (long long)v.last_id, (long long)w->checked,
                     (long long)v.last_id, v.last_hash);
    } else {
        (void)printf("ok: rows %lld..%lld verified here (%lld rows)\nhead %lld:%s\n",
                     (long long)v.from, (long long)v.last_id, (long long)w->checked,
                     (long long)v.last_id, v.last_hash);
    }
    return CLI_OK;
}
