/* audit_write.c - appending access-log rows under the chain-head lock. */
#include "audit.h"
#include "cf_log.h"
#include "cf_str.h"

bool audit_event_complete(const struct audit_event *ev)
{
    return ev->request_id != NULL && ev->actor_type != NULL && ev->actor != NULL &&
           ev->source_ip != NULL && ev->action != NULL && ev->result != NULL && ev->reason != NULL;
}

int audit_append(struct db_conn *c, const struct audit_event *ev, struct audit_receipt *out)
{
    struct db_audit_row row = { 0 };
    int64_t head_id, now_us, catalog;
    int r;

    if (!audit_event_complete(ev))
        return CF_EINVAL;
    if ((r = db_audit_lock_head(c, &head_id, row.prev_hash, &now_us, &catalog)) != 0)
        return r;
    if (ev->has_catalog_limit && catalog > ev->catalog_limit) {
        if (out != NULL)
            *out = (struct audit_receipt){ .id = 0, .catalog = catalog };
        return CF_ESTALE;
    }
    row.id = head_id + 1;
    cf_time_format(now_us, row.time);
    row.request_id = ev->request_id;
    row.actor_type = ev->actor_type;
    row.actor = ev->actor;
    row.source_ip = ev->source_ip;
    row.peer_ip = ev->peer_ip;
    row.action = ev->action;
    row.resource_type = ev->resource_type;
    row.resource_id = ev->resource_id;
    row.revision = ev->revision;
    row.has_revision = ev->has_revision;
    row.result = ev->result;
    row.reason = ev->reason;
    if ((r = audit_row_hash(&row)) != 0)
        return r;
    if ((r = db_audit_insert(c, &row)) != 0)
        return r;
    if (out != NULL)
        *out = (struct audit_receipt){ .id = row.id, .catalog = catalog };
    return 0;
}

int audit_write(struct db_pool *pool, const struct audit_event *ev, struct audit_receipt *out)
{
    struct db_conn *c = NULL;
    int r;

    if ((r = db_acquire(pool, &c)) != 0)
        goto out;
    if ((r = db_tx_begin(c)) != 0)
        goto out;
    r = audit_append(c, ev, out);
    r = db_tx_end(c, r);
out:
    if (r != 0 && r != CF_ESTALE) {
        cf_log(CF_LOG_ERROR, "access-log row not written", "{s:s, s:s, s:s}", "request_id",
               ev->request_id != NULL ? ev->request_id : "", "action",
               ev->action != NULL ? ev->action : "", "error", cf_errname(r));
    }
    db_release(pool, c);
    return r;
}
