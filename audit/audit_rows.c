/* audit_rows.c - the database's access-log rows seen through the pure chain code. */
#include "audit.h"
#include "audit_chain.h"

static struct audit_chain_row view(const struct db_audit_row *r)
{
    return (struct audit_chain_row){
        .id = r->id,
        .time = r->time,
        .request_id = r->request_id,
        .actor_type = r->actor_type,
        .actor = r->actor,
        .source_ip = r->source_ip,
        .peer_ip = r->peer_ip,
        .action = r->action,
        .resource_type = r->resource_type,
        .resource_id = r->resource_id,
        .revision = r->revision,
        .has_revision = r->has_revision,
        .result = r->result,
        .reason = r->reason,
    };
}

void audit_canonical(const struct db_audit_row *row, struct cf_buf *out)
{
    struct audit_chain_row v = view(row);
    audit_chain_canonical(&v, out);
}

int audit_row_hash(struct db_audit_row *row)
{
    struct audit_chain_row v = view(row);
    return audit_chain_hash(row->prev_hash, &v, row->hash);
}
