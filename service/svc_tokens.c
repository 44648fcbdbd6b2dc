/*
 * svc_tokens.c - API tokens for admins and auditors (API.md 8.1): create (the only time the
 * token is shown), list, revoke. Admins only. A revocation is notified, so every node stops
 * accepting the token on its next request (and within 10 s if the notification is lost).
 */
#include <string.h>

#include <openssl/crypto.h>

#include "cf_codec.h"
#include "cf_json.h"
#include "db_tokens.h"
#include "svc_api.h"
#include "svc_cmd.h"

#define TOKEN_TTL_MIN     60
#define TOKEN_TTL_MAX     (INT64_C(365) * 86400)
#define TOKEN_TTL_DEFAULT (INT64_C(90) * 86400)

/* Validates {"name", "role", "ttl_seconds"}. */
static int parse_create(json_t *body, struct svc_result *res, struct db_token *t, int64_t *ttl)
{
    const char *name = cf_json_str(body, "name"), *role = cf_json_str(body, "role");
    json_t *ttlv = json_object_get(body, "ttl_seconds");
    enum auth_role parsed;

    *ttl = TOKEN_TTL_DEFAULT; /* out-parameter set on entry, before any refusal */
    if (name == NULL || !svc_token_name_valid(name))
        return svc_fail(res, SVC_INVALID_NAME, "name must match ^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$");
    if (role == NULL || auth_role_parse(role, &parsed) != 0)
        return svc_fail(res, SVC_INVALID_REQUEST, "role must be \"admin\" or \"auditor\"");
    if (ttlv != NULL) {
        if (!json_is_integer(ttlv) || json_integer_value(ttlv) < TOKEN_TTL_MIN ||
            json_integer_value(ttlv) > TOKEN_TTL_MAX) {
            return svc_fail(res, SVC_INVALID_REQUEST,
                            "ttl_seconds must be an integer from 60 to 31536000");
        }
        *ttl = json_integer_value(ttlv);
    }
    memcpy(t->name, name, strlen(name) + 1); /* svc_token_name_valid: at most 64 bytes */
    memcpy(t->role, role, strlen(role) + 1);
    return 0;
}

/* POST /v1/tokens */
int svc_h_token_create(struct svc_req *req)
{
    struct svc_result res = { 0 };
    struct db_token t = { 0 };
    struct db_conn *c = NULL;
    json_t *body = NULL, *row = NULL;
    char token[AUTH_TOKEN_LEN + 1] = "", sha[CF_SHA256_HEX_LEN + 1];
    int64_t ttl;
    int r;

    if (svc_require_admin(req, &res, NULL) != 0 || svc_body_json(req, &res, &body) != 0)
        goto out;
    if (body == NULL) {
        (void)svc_fail(&res, SVC_INVALID_REQUEST, "a JSON body is required");
        goto out;
    }
    if (parse_create(body, &res, &t, &ttl) != 0)
        goto out;
    if (auth_token_generate(token, sha, t.id) != 0) {
        (void)svc_fail(&res, SVC_INTERNAL_ERROR, NULL);
        goto out;
    }
    memcpy(t.created_by, req->who.actor, sizeof(t.created_by));
    memcpy(res.resource_id, t.id, sizeof(t.id));
    if (svc_tx_begin(req, &res, &c) != 0)
        goto out;
    if ((r = db_token_insert(c, &t, sha, ttl)) == 0)
        r = db_token_get_json(c, t.id, &row);
    if (r == CF_ECONFLICT) {
        (void)svc_fail(&res, SVC_TOKEN_NAME_CONFLICT, NULL);
    } else if (r != 0) {
        (void)svc_fail_err(&res, r);
    } else {
        json_t *out = json_pack(
            "{s:O, s:O, s:O, s:s, s:O, s:O, s:O}", "id", json_object_get(row, "id"), "name",
            json_object_get(row, "name"), "role", json_object_get(row, "role"), "token", token,
            "created_at", json_object_get(row, "created_at"), "created_by",
            json_object_get(row, "created_by"), "expires_at", json_object_get(row, "expires_at"));
        svc_ok(&res, out);
        res.status = 201; /* coffer's extensions answer 201 for creation */
    }
    svc_tx_end(req, &res, c, "token", t.id);
out:
    OPENSSL_cleanse(token, sizeof(token));
    json_decref(row);
    json_decref(body);
    return svc_finish(req, &res);
}

/* GET /v1/tokens */
int svc_h_tokens_list(struct svc_req *req)
{
    struct svc_result res = { 0 };
    struct db_conn *c = NULL;
    json_t *rows = NULL;
    bool all = false;
    int r;

    if (svc_require_admin(req, &res, NULL) != 0 ||
        svc_query_bool(req, &res, "include_revoked", false, &all) != 0 ||
        svc_conn(req, &res, &c) != 0)
        goto out;
    if ((r = db_token_list(c, all, &rows)) != 0) {
        (void)svc_fail_err(&res, r);
    } else {
        svc_ok(&res, json_pack("{s:O}", "tokens", rows));
    }
out:
    db_release(req->ctx->pool, c);
    json_decref(rows);
    return svc_finish(req, &res);
}

/* DELETE /v1/tokens/{id} */
int svc_h_token_revoke(struct svc_req *req)
{
    struct svc_result res = { 0 };
    struct db_conn *c = NULL;
    json_t *row = NULL;
    const char *id = req->seg[2];
    int r;

    if (svc_require_admin(req, &res, id) != 0)
        goto out;
    if (strlen(id) != 20 || strncmp(id, "tok_", 4) != 0 || !cf_is_lower_hex(id + 4, 16)) {
        (void)svc_fail(&res, SVC_NOT_FOUND, "token not found");
        goto out;
    }
    if (svc_tx_begin(req, &res, &c) != 0)
        goto out;
    if ((r = db_token_revoke(c, id, req->who.actor, &row)) == CF_ENOTFOUND) {
        (void)svc_fail(&res, SVC_NOT_FOUND, "token not found");
    } else if (r != 0) {
        (void)svc_fail_err(&res, r);
    } else {
        svc_ok(&res, json_incref(row));
    }
    svc_tx_end(req, &res, c, "token", id);
out:
    json_decref(row);
    return svc_finish(req, &res);
}
