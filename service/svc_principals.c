/*
 * svc_principals.c - people who sign in with kmsauth user tokens (API.md 8.4): list, set a
 * role, remove. Admins only; every change is audited in its own transaction and notified, so
 * every node applies it on the next request.
 */
#include <string.h>

#include "cf_json.h"
#include "db_principals.h"
#include "svc_api.h"

/* 1-128 bytes of printable ASCII without '/' or ':'. */
bool svc_principal_name_valid(const char *s)
{
    size_t n = strlen(s);
    if (n == 0 || n > 128)
        return false;
    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)s[i];
        if (c < 0x21 || c > 0x7e || c == '/' || c == ':')
            return false;
    }
    return true;
}

/* GET /v1/principals */
int svc_h_principals_list(struct svc_req *req)
{
    struct svc_result res = { 0 };
    struct db_conn *c = NULL;
    json_t *rows = NULL;
    int r;

    if (svc_require_admin(req, &res, NULL) != 0 || svc_conn(req, &res, &c) != 0)
        goto out;
    if ((r = db_principal_list(c, &rows)) != 0) {
        (void)svc_fail_err(&res, r);
    } else {
        svc_ok(&res, json_pack("{s:O}", "principals", rows));
    }
out:
    db_release(req->ctx->pool, c);
    json_decref(rows);
    return svc_finish(req, &res);
}

/* PUT /v1/principals/{name} with {"role": "admin" | "auditor"} */
int svc_h_principal_set(struct svc_req *req)
{
    struct svc_result res = { 0 };
    struct db_conn *c = NULL;
    json_t *body = NULL, *row = NULL;
    const char *name = req->seg[2], *role;
    enum auth_role parsed;
    bool created;
    int r;

    if (svc_require_admin(req, &res, name) != 0 || svc_body_json(req, &res, &body) != 0)
        goto out;
    if (!svc_principal_name_valid(name)) {
        (void)svc_fail(&res, SVC_INVALID_NAME,
                       "a principal name is 1-128 printable ASCII characters without / or :");
        goto out;
    }
    role = cf_json_str(body, "role");
    if (role == NULL || auth_role_parse(role, &parsed) != 0) {
        (void)svc_fail(&res, SVC_INVALID_REQUEST, "role must be \"admin\" or \"auditor\"");
        goto out;
    }
    if (svc_tx_begin(req, &res, &c) != 0)
        goto out;
    if ((r = db_principal_set(c, name, role, req->who.actor, &row, &created)) != 0) {
        (void)svc_fail_err(&res, r);
    } else {
        svc_ok(&res, json_incref(row));
    }
    svc_tx_end(req, &res, c, "principal", name);
out:
    json_decref(row);
    json_decref(body);
    return svc_finish(req, &res);
}

/* DELETE /v1/principals/{name} */
int svc_h_principal_remove(struct svc_req *req)
{
    struct svc_result res = { 0 };
    struct db_conn *c = NULL;
    json_t *row = NULL;
    const char *name = req->seg[2];
    int r;

    if (svc_require_admin(req, &res, name) != 0)
        goto out;
    if (!svc_principal_name_valid(name)) {
        (void)svc_fail(&res, SVC_NOT_FOUND, "principal not found");
        goto out;
    }
    if (svc_tx_begin(req, &res, &c) != 0)
        goto out;
    if ((r = db_principal_remove(c, name, &row)) == CF_ENOTFOUND) {
        (void)svc_fail(&res, SVC_NOT_FOUND, "principal not found");
    } else if (r != 0) {
        (void)svc_fail_err(&res, r);
    } else {
        svc_ok(&res, json_incref(row));
    }
    svc_tx_end(req, &res, c, "principal", name);
out:
    json_decref(row);
    return svc_finish(req, &res);
}
