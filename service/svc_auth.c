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

int svc_authenticate(struct svc_req *req)
{
    struct auth_creds creds = {
        .authorization = svc_header(req, "Authorization"),
        .x_auth_from = svc_header(req, "X-Auth-From"),
        .x_auth_token = svc_header(req, "X-Auth-Token"),
    };
    enum svc_code code;
    const char *result = "denied", *reason;
    int64_t now = cf_mono_ms();

    /* an address past its failures gets only what needs neither KMS nor the database */
    creds.cached_only = svc_ratelimit_limited(req->ctx->ratelimit, req->client_addr, now);
    int r = auth_authenticate(req->ctx->auth, &creds, &req->who, &req->why);
    const char *auth_h = creds.authorization;
    bool limited = r == CF_EAUTH && strcmp(req->why.reason, "rate_limited") == 0;

    if (r == CF_EAUTH && req->why.presented && !limited)
        svc_ratelimit_failure(req->ctx->ratelimit, req->client_addr, now);

    if (r != CF_EAUTH || req->why.presented) {
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
    } else if (r == CF_EUNAVAIL) {
        req->authenticated = false;
        code = strcmp(req->why.reason, "kms_unavailable") == 0 ? SVC_KMS_UNAVAILABLE
                                                               : SVC_DATABASE_UNAVAILABLE;
        result = "error";
        reason = svc_code_name(code);
    } else if (limited) {
        req->authenticated = false;
        code = SVC_TOO_MANY_FAILURES;
        reason = req->why.reason;
        char retry[24];
        if (cf_fmt(retry, sizeof(retry), "%lld",
                   (long long)svc_ratelimit_refused(req->ctx->ratelimit)) == 0)
            svc_add_header(req, "Retry-After", retry);
    } else {
        req->authenticated = false;
        code = req->why.presented ? SVC_AUTHENTICATION_FAILED : SVC_UNAUTHENTICATED;
        reason = req->why.reason;
    }
    if (svc_audit(req, result, reason, NULL, NULL) != 0)
        code = SVC_AUDIT_UNAVAILABLE;
    svc_reply_error(req, code, NULL, NULL);
    return r != 0 ? r : CF_EDENIED; /* the request was answered */
}
