/*
 * svc_health.c - GET /healthcheck (liveness) and GET /healthcheck/ready (readiness).
 *
 * Liveness touches nothing. Readiness checks the database, the schema and the access log;
 * KMS is deliberately not checked: warm bundles keep being served in a KMS outage.
 */
#include "cf_log.h"
#include "db_audit.h"
#include "svc.h"

int svc_h_healthcheck(struct svc_req *req)
{
    json_t *body = json_pack("{s:s}", "status", "ok");
    int status = svc_reply_json(req, 200, body);
    json_decref(body);
    return status;
}

int svc_h_ready(struct svc_req *req)
{
    const char *database = "failed", *schema = "unknown", *audit = "unknown";
    const char *error = "the database does not answer";
    struct db_conn *c = NULL;
    char msg[256];
    int64_t head_id;
    char head_hash[CF_SHA256_HEX_LEN + 1];

    if (db_acquire(req->ctx->pool, &c) == 0 && db_ping(c) == 0) {
        database = "ok";
        schema = "failed";
        error = "the schema is not current";
        if (db_schema_check(c, req->ctx->cfg->migrations_dir, msg, sizeof(msg)) == 0) {
            schema = "ok";
            audit = "failed";
            error = "the access log cannot be read";
            if (db_audit_head(c, &head_id, head_hash) == 0) {
                audit = "ok";
                error = NULL;
            }
        }
    }
    db_release(req->ctx->pool, c);
    json_t *checks =
        json_pack("{s:s, s:s, s:s}", "database", database, "schema", schema, "audit", audit);
    int status;
    if (error == NULL) {
        json_t *body = json_pack("{s:s, s:O}", "status", "ready", "checks", checks);
        status = svc_reply_json(req, 200, body);
        json_decref(body);
    } else {
        json_t *extra = json_pack("{s:s, s:O}", "status", "not_ready", "checks", checks);
        status = svc_reply_error(req, SVC_NOT_READY, error, extra);
        json_decref(extra);
    }
    json_decref(checks);
    return status;
}
