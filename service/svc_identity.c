/*
 * svc_identity.c - who am I (GET/POST /v1/user/email) and GET /v1/client_config.
 */
#include "svc.h"

static bool is_admin(const struct svc_req *req)
{
    return req->who.role == AUTH_ROLE_ADMIN;
}

static bool can_read_metadata(const struct svc_req *req)
{
    return req->who.role == AUTH_ROLE_ADMIN || req->who.role == AUTH_ROLE_AUDITOR;
}

/* Audits an allowed read, then answers body; 503 if the row cannot be written. */
static int reply_audited(struct svc_req *req, json_t *body)
{
    int status;

    if (svc_audit(req, "allowed", "ok", NULL, NULL) != 0) {
        status = svc_reply_error(req, SVC_AUDIT_UNAVAILABLE, NULL, NULL);
    } else {
        status = svc_reply_json(req, 200, body);
    }
    json_decref(body);
    return status;
}

int svc_h_user_email(struct svc_req *req)
{
    struct cf_secret in;
    int r = svc_read_body(req, &in); /* POST may carry a body; it is read and ignored */

    cf_secret_free(&in);
    if (r != 0) {
        enum svc_code code = r == CF_ETOOBIG  ? SVC_BODY_TOO_LARGE
                             : r == CF_EINVAL ? SVC_UNSUPPORTED_MEDIA_TYPE
                                              : SVC_INVALID_REQUEST;
        if (svc_audit(req, "denied", svc_code_name(code), NULL, NULL) != 0)
            code = SVC_AUDIT_UNAVAILABLE;
        return svc_reply_error(req, code, NULL, NULL);
    }
    json_t *body =
        json_pack("{s:s, s:s, s:s}", "email", req->who.actor, "actor_type",
                  auth_actor_type_name(req->who.type), "role", auth_role_name(req->who.role));
    return reply_audited(req, body);
}

int svc_h_client_config(struct svc_req *req)
{
    bool meta = can_read_metadata(req), admin = is_admin(req);
    json_t *body = json_pack(
        "{s:{}, s:{s:b, s:[], s:s, s:b, s:n, s:[], s:{s:{s:b, s:b}, s:{s:b, s:b}, s:{s:b, s:b}}}}",
        "defined", "generated", "kms_auth_manage_grants", 0, "aws_accounts", "xsrf_cookie_name",
        "XSRF-TOKEN", "maintenance_mode", 0, "history_page_limit", "defined_tags", "permissions",
        "credentials", "list", meta, "create", admin, "blind_credentials", "list", 0, "create", 0,
        "services", "list", meta, "create", admin);
    return reply_audited(req, body);
}

int svc_h_not_implemented(struct svc_req *req)
{
    enum svc_code code = SVC_NOT_IMPLEMENTED;

    if (svc_audit(req, "error", "not_implemented", NULL, NULL) != 0)
        code = SVC_AUDIT_UNAVAILABLE;
    return svc_reply_error(req, code, NULL, NULL);
}
