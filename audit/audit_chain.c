/*
 * audit_chain.c - canonical serialisation of access-log rows and the hash chain.
 *
 * canonical() must equal Python's json.dumps(row, sort_keys=True, separators=(",", ":"),
 * ensure_ascii=False) byte for byte: auditors recompute it with their own tools.
 */
#include <string.h>

#include <openssl/crypto.h>

#include "audit.h"
#include "cf_codec.h"
#include "cf_str.h"

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

void audit_canonical(const struct db_audit_row *row, struct cf_buf *out)
{
    /* members in byte order of their names */
    cf_buf_append_char(out, '{');
    put_member(out, "action", row->action, true);
    put_member(out, "actor", row->actor, false);
    put_member(out, "actor_type", row->actor_type, false);
    put_int(out, "id", row->id, true);
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

int audit_row_hash(struct db_audit_row *row)
{
    uint8_t prev[CF_SHA256_LEN], digest[CF_SHA256_LEN];
    struct cf_buf canon = { 0 };
    int r;

    if (cf_hex_decode(row->prev_hash, strlen(row->prev_hash), prev, sizeof(prev)) != 0 ||
        strlen(row->prev_hash) != CF_SHA256_HEX_LEN)
        return CF_EINVAL;
    audit_canonical(row, &canon);
    const struct cf_sha256_part parts[] = { { prev, sizeof(prev) }, { canon.data, canon.len } };
    r = cf_sha256_parts(parts, 2, digest);
    cf_buf_free(&canon);
    if (r == 0)
        r = cf_hex_encode(digest, sizeof(digest), row->hash, sizeof(row->hash));
    return r;
}
