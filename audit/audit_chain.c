/*
 * audit_chain.c - canonical serialisation of access-log rows, their hashes and the chain walk.
 *
 * canonical() must equal Python's json.dumps(row, sort_keys=True, separators=(",", ":"),
 * ensure_ascii=False) byte for byte: auditors recompute it with their own tools.
 */
#include "audit_chain.h"

#include <string.h>

#include "cf_codec.h"
#include "cf_json.h"

const char audit_chain_zero_hash[CF_SHA256_HEX_LEN + 1] =
    "0000000000000000000000000000000000000000000000000000000000000000";

/* Minimal JSON string escaping: \" \\ \b \f \n \r \t, other controls as \u00xx, the rest raw. */
static void put_string(struct cf_buf *b, const char *s)
{
    static const char hex[] = "0123456789abcdef";

    cf_buf_append_char(b, '"');
    for (const unsigned char *p = (const unsigned char *)s; *p != '\0'; p++) {
        switch (*p) {
        case '"':
            cf_buf_append_str(b, "\\\"");
            break;
        case '\\':
            cf_buf_append_str(b, "\\\\");
            break;
        case '\b':
            cf_buf_append_str(b, "\\b");
            break;
        case '\f':
            cf_buf_append_str(b, "\\f");
            break;
        case '\n':
            cf_buf_append_str(b, "\\n");
            break;
        case '\r':
            cf_buf_append_str(b, "\\r");
            break;
        case '\t':
            cf_buf_append_str(b, "\\t");
            break;
        default:
            if (*p < 0x20) {
                char esc[7] = { '\\', 'u', '0', '0', hex[*p >> 4], hex[*p & 15], '\0' };
                cf_buf_append_str(b, esc);
            } else {
                cf_buf_append_char(b, (char)*p);
            }
        }
    }
    cf_buf_append_char(b, '"');
}

static void put_member(struct cf_buf *b, const char *name, const char *value, bool first)
{
    if (!first)
        cf_buf_append_char(b, ',');
    put_string(b, name);
    cf_buf_append_char(b, ':');
    if (value == NULL) {
        cf_buf_append_str(b, "null");
    } else {
        put_string(b, value);
    }
}

static void put_int(struct cf_buf *b, const char *name, int64_t v, bool present)
{
    char num[24];
    cf_buf_append_char(b, ',');
    put_string(b, name);
    cf_buf_append_char(b, ':');
    if (!present || cf_fmt(num, sizeof(num), "%lld", (long long)v) != 0) {
        cf_buf_append_str(b, "null");
    } else {
        cf_buf_append_str(b, num);
    }
}

void audit_chain_canonical(const struct audit_chain_row *row, struct cf_buf *out)
{
    /* members in byte order of their names */
    cf_buf_append_char(out, '{');
    put_member(out, "action", row->action, true);
    put_member(out, "actor", row->actor, false);
    put_member(out, "actor_type", row->actor_type, false);
    put_int(out, "id", row->id, true);
    if (row->peer_ip != NULL)
        put_member(out, "peer_ip", row->peer_ip, false);
    put_member(out, "reason", row->reason, false);
    put_member(out, "request_id", row->request_id, false);
    put_member(out, "resource_id", row->resource_id, false);
    put_member(out, "resource_type", row->resource_type, false);
    put_member(out, "result", row->result, false);
    put_int(out, "revision", row->revision, row->has_revision);
    put_member(out, "source_ip", row->source_ip, false);
    put_member(out, "time", row->time, false);
    cf_buf_append_char(out, '}');
}

int audit_chain_hash(const char *prev_hex, const struct audit_chain_row *row,
                     char hash_out[CF_SHA256_HEX_LEN + 1])
{
    uint8_t prev[CF_SHA256_LEN], digest[CF_SHA256_LEN];
    struct cf_buf canon = { 0 };
    int r;

    hash_out[0] = '\0';
    if (prev_hex == NULL || strlen(prev_hex) != CF_SHA256_HEX_LEN ||
        cf_hex_decode(prev_hex, CF_SHA256_HEX_LEN, prev, sizeof(prev)) != 0)
        return CF_EINVAL;
    audit_chain_canonical(row, &canon);
    const struct cf_sha256_part parts[] = { { prev, sizeof(prev) }, { canon.data, canon.len } };
    r = cf_sha256_parts(parts, 2, digest);
    cf_buf_free(&canon);
    if (r == 0)
        r = cf_hex_encode(digest, sizeof(digest), hash_out, CF_SHA256_HEX_LEN + 1);
    return r;
}

void audit_chain_row_from_json(const json_t *j, struct audit_chain_row *row)
{
    const json_t *id = json_object_get(j, "id");
    const json_t *rev = json_object_get(j, "revision");

    *row = (struct audit_chain_row){
        .id = json_is_integer(id) ? json_integer_value(id) : 0,
        .time = cf_json_str(j, "time"),
        .request_id = cf_json_str(j, "request_id"),
        .actor_type = cf_json_str(j, "actor_type"),
        .actor = cf_json_str(j, "actor"),
        .source_ip = cf_json_str(j, "source_ip"),
        .peer_ip = cf_json_str(j, "peer_ip"),
        .action = cf_json_str(j, "action"),
        .resource_type = cf_json_str(j, "resource_type"),
        .resource_id = cf_json_str(j, "resource_id"),
        .revision = json_is_integer(rev) ? json_integer_value(rev) : 0,
        .has_revision = json_is_integer(rev),
        .result = cf_json_str(j, "result"),
        .reason = cf_json_str(j, "reason"),
    };
}

int audit_chain_walk_start(struct audit_chain_walk *w, int64_t from_id, const char *prev_hex)
{
    *w = (struct audit_chain_walk){ .next_id = from_id };
    if (from_id < 1 || prev_hex == NULL || cf_fmt(w->prev, sizeof(w->prev), "%s", prev_hex) != 0 ||
        strlen(w->prev) != CF_SHA256_HEX_LEN)
        return CF_EINVAL;
    return 0;
}

void audit_chain_walk_fail(struct audit_chain_walk *w, int64_t id, const char *problem)
{
    if (w->first_bad_id != 0)
        return; /* the first break is the one reported */
    w->first_bad_id = id;
    w->problem = problem;
}

bool audit_chain_walk_row(struct audit_chain_walk *w, const json_t *j)
{
    struct audit_chain_row row;
    char hash[CF_SHA256_HEX_LEN + 1];
    const char *prev = cf_json_str(j, "prev_hash");
    const char *stored = cf_json_str(j, "hash");

    if (w->first_bad_id != 0)
        return false;
    audit_chain_row_from_json(j, &row);
    if (row.id != w->next_id) {
        audit_chain_walk_fail(w, w->next_id, "missing_row");
        return false;
    }
    if (prev == NULL || strcmp(prev, w->prev) != 0) {
        audit_chain_walk_fail(w, row.id, "prev_hash_mismatch");
        return false;
    }
    if (audit_chain_hash(prev, &row, hash) != 0 || stored == NULL || strcmp(hash, stored) != 0) {
        audit_chain_walk_fail(w, row.id, "hash_mismatch");
        return false;
    }
    memcpy(w->prev, hash, sizeof(hash));
    w->next_id++;
    w->checked++;
    return true;
}
