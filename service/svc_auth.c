/*
 * svc_auth.c - authenticating requests and writing their access-log rows.
 *
 * Fail closed: when the row cannot be written the request is answered 503 audit_unavailable
 * and nothing else leaves the server.
 */
#include <string.h>
#include <strings.h>

#include "audit.h"
#include "cf_log.h"
#include "cf_str.h"
#include "cf_time.h"
#include "svc.h"
#include "svc_api.h"
#include "svc_gate.h"
#include "svc_metrics.h"
#include "svc_ratelimit.h"

int svc_audit(struct svc_req *req, const char *result, const char *reason, const char *resource_id,
              const int64_t *revision)
{
    const struct svc_route *rt = req->route;
    struct audit_event ev = {
        .request_id = req->request_id,
        .actor_type =
            auth_actor_type_name(req->authenticated ? req->who.type : AUTH_ACTOR_ANONYMOUS),
        .actor = req->authenticated ? req->who.actor : req->why.claimed,
        .source_ip = req->client_addr,
        .peer_ip = svc_client_peer_ip(req),
        .action = svc_route_action(req),
        .resource_type = rt != NULL ? rt->resource_type : NULL,
        .resource_id = svc_audit_resource_id(req, resource_id),
        .revision = revision != NULL ? *revision : 0,
        .has_revision = revision != NULL,
        .result = result,
        .reason = reason,
    };

    if (req->audited) {
        cf_log(CF_LOG_ERROR, "second access-log row for one request refused", "{s:s}", "request_id",
               req->request_id);
        return CF_EINTERNAL;
    }
    int r = svc_audit_submit(req->ctx, &ev, NULL);
    if (r != 0)
        return CF_EUNAVAIL;
    req->audited = true;
    return 0;
}

/* Authenticates with what costs nothing (a proven credential in a cache, or one remembered as
 * failed); a credential that needs KMS or the database waits its turn at the verify gate
 * first. CF_ETIMEOUT when no turn came in time (nothing was checked). */
static int authenticate(struct svc_req *req, struct auth_creds *creds, const char *client)
{
    struct svc_ctx *ctx = req->ctx;

    creds->cheap_only = true;
    int r = auth_authenticate(ctx->auth, creds, &req->who, &req->why);
    if (r != CF_EAUTH || !req->why.needs_verification)
        return r;
    /* the identity a credential claims (a kmsauth username; none for an API token), so that
     * garbage claiming one name does not hold up a service claiming another */
    int64_t until = cf_mono_ms() + ctx->cfg->auth_verify_wait_ms;
    if (svc_gate_enter(ctx->verify_gate, client, req->why.claimed, until) != 0)
        return CF_ETIMEOUT;
    creds->cheap_only = false;
    r = auth_authenticate(ctx->auth, creds, &req->who, &req->why);
    svc_gate_leave(ctx->verify_gate);
    return r;
}

int svc_authenticate(struct svc_req *req)
{
    struct auth_creds creds = {
        .authorization = svc_header(req, "Authorization"),
        .x_auth_from = svc_header(req, "X-Auth-From"),
        .x_auth_token = svc_header(req, "X-Auth-Token"),
    };
    struct svc_ctx *ctx = req->ctx;
    char client[SVC_LIMIT_KEY_MAX];
    enum svc_code code;
    const char *result = "denied", *reason;
    const char *retry_after = NULL;
    char retry[24];

    svc_limit_key(req->client_addr, (int)ctx->cfg->limit_ipv6_prefix, client);
    /* a client past its failures is not refused: a credential that verifies is taken; only
     * its failures are answered 429 instead of 401 */
    bool limited = svc_ratelimit_limited(ctx->ratelimit, client, cf_mono_ms());
    int r = authenticate(req, &creds, client);
    const char *auth_h = creds.authorization;

    if (r == CF_EAUTH && req->why.presented)
        svc_ratelimit_failure(ctx->ratelimit, client, cf_mono_ms());
    if (r != CF_ETIMEOUT && (r != CF_EAUTH || req->why.presented)) {
        svc_metrics_auth(auth_h != NULL && strncasecmp(auth_h, "Bearer ", 7) == 0 ? "api_token"
                                                                                  : "kmsauth",
                         r == 0, req->who.cache_hit);
    }
    if (r == 0 && req->who.role != AUTH_ROLE_NONE) {
        req->authenticated = true;
        return 0;
    }
    if (r == 0) { /* a person known to KMS but given no role: authenticated, not allowed */
        req->authenticated = true;
        code = SVC_FORBIDDEN;
        reason = svc_code_name(code);
    } else if (r == CF_ETIMEOUT) { /* coffer is busy: the caller is not at fault */
        req->authenticated = false;
        code = SVC_OVERLOADED;
        result = "error";
        reason = svc_code_name(code);
        retry_after = "1";
    } else if (r == CF_EUNAVAIL) {
        req->authenticated = false;
        code = strcmp(req->why.reason, "kms_unavailable") == 0 ? SVC_KMS_UNAVAILABLE
                                                               : SVC_DATABASE_UNAVAILABLE;
        result = "error";
        reason = svc_code_name(code);
    } else if (limited && req->why.presented) {
        req->authenticated = false;
        code = SVC_TOO_MANY_FAILURES;
        reason = req->why.reason;
        if (cf_fmt(retry, sizeof(retry), "%lld",
                   (long long)svc_ratelimit_refused(ctx->ratelimit)) == 0)
            retry_after = retry;
    } else {
        req->authenticated = false;
        code = req->why.presented ? SVC_AUTHENTICATION_FAILED : SVC_UNAUTHENTICATED;
        reason = req->why.reason;
    }
    if (retry_after != NULL)
        svc_add_header(req, "Retry-After", retry_after);
    if (svc_audit(req, result, reason, NULL, NULL) != 0)
        code = SVC_AUDIT_UNAVAILABLE;
    svc_reply_error(req, code, NULL, NULL);
    return r != 0 ? r : CF_EDENIED; /* the request was answered */
}
