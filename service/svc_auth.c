/*
 * svc_auth.c - authenticating requests and writing their access-log rows.
 *
 * Fail closed: when the row cannot be written the request is answered 503 audit_unavailable
 * and nothing else leaves the server.
 */
#include <string.h>

#include "audit.h"
#include "cf_log.h"
#include "svc.h"

/* The route's resource id: the path segment it names, or NULL. */
static const char *route_resource_id(const struct svc_req *req)
{
    const struct svc_route *rt = req->route;
    if (rt == NULL || rt->id_segment < 0 || (size_t)rt->id_segment >= req->nseg)
        return NULL;
    return req->seg[rt->id_segment];
}

int svc_audit(struct svc_req *req, const char *result, const char *reason, const char *resource_id,
              const int64_t *revision)
{
    const struct svc_route *rt = req->route;
    struct audit_event ev = {
        .request_id = req->request_id,
        .actor_type =
            auth_actor_type_name(req->authenticated ? req->who.type : AUTH_ACTOR_ANONYMOUS),
        .actor = req->authenticated ? req->who.actor : req->why.claimed,
        .source_ip = req->ri->remote_addr,
        .action = rt != NULL && rt->action != NULL ? rt->action : "unsupported",
        .resource_type = rt != NULL ? rt->resource_type : NULL,
        .resource_id = resource_id != NULL ? resource_id : route_resource_id(req),
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
    int r = audit_write(req->ctx->pool, &ev, NULL);
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
    int r = auth_authenticate(req->ctx->auth, &creds, &req->who, &req->why);

    if (r == 0) {
        req->authenticated = true;
        return 0;
    }
    req->authenticated = false;
    if (r == CF_EUNAVAIL) {
        code = strncmp(req->why.reason, "kmsauth", 7) == 0 ? SVC_KMS_UNAVAILABLE
                                                           : SVC_DATABASE_UNAVAILABLE;
        if (svc_audit(req, "error", svc_code_name(code), NULL, NULL) != 0)
            code = SVC_AUDIT_UNAVAILABLE;
    } else {
        code = req->why.presented ? SVC_AUTHENTICATION_FAILED : SVC_UNAUTHENTICATED;
        if (svc_audit(req, "denied", req->why.reason, NULL, NULL) != 0)
            code = SVC_AUDIT_UNAVAILABLE;
    }
    svc_reply_error(req, code, NULL, NULL);
    return r == 0 ? CF_EAUTH : r; /* never 0 here: the request was answered */
}
