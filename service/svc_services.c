/*
 * svc_services.c - the service endpoints of API.md 4.2: list, get (the bundle), create or
 * update a mapping, revert, diff, revisions.
 *
 * The bundle opens each enabled mapped credential through the data-key cache; a disabled
 * credential stays listed with its keys and no values (the kill switch of API.md 3.2). One
 * credential that does not open fails the whole request: there is never a partial bundle.
 */
#include <stdlib.h>
#include <string.h>

#include "cf_json.h"
#include "cf_str.h"
#include "db_credentials.h"
#include "db_services.h"
#include "svc_api.h"
#include "svc_repr.h"
#include "svc_validate.h"

static const char *path_id(const struct svc_req *req)
{
    return req->seg[2];
}

static json_t *put_perms(void)
{
    return svc_perms(true, true, true, true, true);
}

/* GET /v1/services */
int svc_h_services_list(struct svc_req *req)
{
    struct svc_result res = { 0 };
    struct db_conn *c = NULL;
    char *after_lower = NULL, *after_id = NULL;
    json_t *rows = NULL;
    int64_t limit;
    int r;

    if (svc_require_reader(req, &res, NULL) != 0 ||
        svc_query_paging(req, &res, &limit, &after_lower, &after_id) != 0 ||
        svc_conn(req, &res, &c) != 0)
        goto out;
    if ((r = db_service_list(c, after_lower, after_id, limit < 0 ? -1 : limit + 1, &rows)) != 0) {
        (void)svc_fail_err(&res, r);
        goto out;
    }
    json_t *items = json_array(), *next = json_null();
    size_t i;
    json_t *row;
    json_array_foreach(rows, i, row)
    {
        if (limit >= 0 && i == (size_t)limit) { /* limit >= 0: a count */
            json_decref(next);
            const json_t *last = json_array_get(rows, i - 1);
            next = svc_page_token(cf_json_str(last, "_sort"), cf_json_str(last, "id"));
            break;
        }
        json_array_append_new(items, svc_service_item(row, false));
    }
    svc_ok(&res, json_pack("{s:o, s:o}", "services", items, "next_page", next));
out:
    db_release(req->ctx->pool, c);
    json_decref(rows);
    free(after_lower);
    free(after_id);
    return svc_finish(req, &res);
}

/* The mapped credentials of a service, expanded; pairs opened when with_pairs (disabled
 * credentials never). */
static int expand_credentials(struct svc_req *req, struct svc_result *res, struct db_conn *c,
                              const char *id, bool with_pairs, json_t **out)
{
    struct db_sealed *sealed = NULL;
    json_t *rows = NULL;
    size_t n = 0;
    int r = db_credentials_of_service(c, id, &rows, &sealed, &n);

    *out = NULL;
    if (r != 0)
        return svc_fail_err(res, r);
    json_t *creds = json_array();
    for (size_t i = 0; i < n && r == 0; i++) {
        const json_t *row = json_array_get(rows, i);
        json_t *pairs = NULL;
        if (with_pairs && json_is_true(json_object_get(row, "enabled")) &&
            (r = svc_open_pairs(req->ctx, cf_json_str(row, "id"),
                                json_integer_value(json_object_get(row, "revision")), &sealed[i],
                                &pairs)) != 0) {
            r = svc_fail(res, svc_open_error(r), NULL);
            break;
        }
        json_array_append_new(creds, svc_credential_repr(row, pairs, NULL, false));
    }
    db_sealed_array_free(sealed, n);
    json_decref(rows);
    if (r != 0) {
        json_decref(creds); /* no partial bundle: opened pairs go through the zeroing free */
        return r;
    }
    *out = creds;
    return 0;
}

/* GET /v1/services/{id} */
int svc_h_service_get(struct svc_req *req)
{
    struct svc_result res = { .action = "service.get_metadata" };
    struct db_conn *c = NULL;
    json_t *row = NULL, *creds = NULL;
    bool metadata_only = false;
    int r;

    if (svc_require_reader(req, &res, path_id(req)) != 0 ||
        svc_query_bool(req, &res, "metadata_only", false, &metadata_only) != 0)
        goto out;
    bool admin = svc_is_admin(req);
    if (!metadata_only) {
        res.action = "service.get";
        if (svc_require_admin(req, &res, path_id(req)) != 0)
            goto out;
    }
    if (!svc_service_id_valid(path_id(req))) {
        (void)svc_fail(&res, SVC_NOT_FOUND, "service not found");
        goto out;
    }
    if (svc_conn(req, &res, &c) != 0)
        goto out;
    if ((r = db_service_get(c, path_id(req), false, &row)) != 0) {
        (void)(r == CF_ENOTFOUND ? svc_fail(&res, SVC_NOT_FOUND, "service not found")
                                 : svc_fail_err(&res, r));
        goto out;
    }
    svc_result_revision(&res, json_integer_value(json_object_get(row, "revision")));
    if (expand_credentials(req, &res, c, path_id(req), !metadata_only, &creds) == 0)
        svc_ok(&res, svc_service_repr(row, creds, svc_perms(true, admin, admin, false, false)));
out:
    db_release(req->ctx->pool, c);
    json_decref(row);
    return svc_finish(req, &res);
}

/* The body of a service PUT after validation. */
struct service_input {
    json_t *credentials; /* ids without repeats, or NULL when not given */
    bool has_enabled;
    bool enabled;
};

/* Validates the members of a service PUT body (API.md 4.2), in the order it gives. */
static int parse_service_body(struct svc_req *req, json_t *body, struct svc_result *res,
                              struct service_input *in)
{
    json_t *id = json_object_get(body, "id"), *creds = json_object_get(body, "credentials");
    json_t *blind = json_object_get(body, "blind_credentials");
    json_t *enabled = json_object_get(body, "enabled"), *account = json_object_get(body, "account");
    size_t i;
    json_t *v;

    *in = (struct service_input){ 0 };
    if (id != NULL && (!json_is_string(id) || strcmp(json_string_value(id), path_id(req)) != 0))
        return svc_fail(res, SVC_ID_MISMATCH, NULL);
    if (creds != NULL && !json_is_array(creds))
        return svc_fail(res, SVC_INVALID_REQUEST, "credentials must be an array of ids");
    if (blind != NULL && !json_is_null(blind) && !json_is_array(blind))
        return svc_fail(res, SVC_INVALID_REQUEST, "blind_credentials must be an array");
    if (json_array_size(blind) > 0)
        return svc_fail(res, SVC_BLIND_CREDENTIALS_UNSUPPORTED, NULL);
    if (enabled != NULL && !json_is_boolean(enabled))
        return svc_fail(res, SVC_INVALID_REQUEST, "enabled must be a boolean");
    if (account != NULL && !json_is_null(account))
        return svc_fail(res, SVC_INVALID_ACCOUNT, NULL);
    in->has_enabled = enabled != NULL;
    in->enabled = json_is_true(enabled);
    if (creds == NULL)
        return 0;
    in->credentials = json_array();
    json_array_foreach(creds, i, v)
    {
        if (!json_is_string(v)) {
            json_decref(in->credentials);
            in->credentials = NULL;
            return svc_fail(res, SVC_INVALID_REQUEST, "credentials must be an array of ids");
        }
        bool seen = false;
        for (size_t k = 0; k < json_array_size(in->credentials) && !seen; k++)
            seen = json_equal(json_array_get(in->credentials, k), v);
        if (!seen)
            json_array_append(in->credentials, v);
    }
    return 0;
}

/* Checks a mapping: every id exists (unknown_credential), at most 100, no key conflicts. */
static int check_mapping(struct db_conn *c, struct svc_result *res, json_t *ids)
{
    json_t *keys = NULL;
    size_t i;
    json_t *v;
    int r = db_credential_keys_of(c, ids, &keys);

    if (r != 0)
        return svc_fail_err(res, r);
    json_array_foreach(ids, i, v)
    {
        if (json_object_get(keys, json_string_value(v)) == NULL) {
            (void)svc_fail(res, SVC_UNKNOWN_CREDENTIAL, "credential %.64s does not exist",
                           json_string_value(v));
            res->extra = json_pack("{s:O}", "reference", v);
            r = CF_EINVAL;
            goto out;
        }
    }
    if (json_array_size(ids) > SVC_SERVICE_CREDS_MAX) {
        r = svc_fail(res, SVC_LIMIT_EXCEEDED, "at most %d credentials per service",
                     SVC_SERVICE_CREDS_MAX);
        goto out;
    }
    json_t *conflicts = svc_service_conflicts(keys);
    if (conflicts != NULL) {
        r = svc_fail(res, SVC_KEY_CONFLICT, NULL);
        res->extra = json_pack("{s:o}", "conflicts", conflicts);
    }
out:
    json_decref(keys);
    return r;
}

/* Writes revision rev of a service and fills res with the PUT answer. */
static int write_service(struct svc_req *req, struct svc_result *res, struct db_conn *c,
                         int64_t rev, bool enabled, json_t *ids)
{
    json_t *row = NULL, *creds = NULL;
    char *text = json_dumps(ids, JSON_COMPACT);
    struct db_service_write w = { .id = path_id(req),
                                  .revision = rev,
                                  .enabled = enabled,
                                  .credentials_json = text,
                                  .modified_by = req->who.actor };
    int r = rev == 1 ? db_service_insert(c, &w, &row) : db_service_update(c, &w, &row);

    if (r == CF_ECONFLICT) /* created meanwhile by another request */
        r = svc_fail_stale(res, 1);
    else if (r != 0)
        r = svc_fail_err(res, r);
    else if ((r = expand_credentials(req, res, c, path_id(req), false, &creds)) == 0) {
        svc_result_revision(res, rev);
        svc_ok(res, svc_service_repr(row, creds, put_perms()));
    }
    cf_json_free_str(text);
    json_decref(row);
    return r;
}

/* The checks and the write of a PUT, inside the transaction. */
static void put_in_tx(struct svc_req *req, struct svc_result *res, struct db_conn *c,
                      const struct service_input *in, int64_t expected)
{
    json_t *cur = NULL, *ids = NULL;
    int r = db_service_get(c, path_id(req), true, &cur);

    if (r != 0 && r != CF_ENOTFOUND) {
        (void)svc_fail_err(res, r);
        return;
    }
    int64_t cur_rev = cur != NULL ? json_integer_value(json_object_get(cur, "revision")) : 0;
    if (expected >= 0 && expected != cur_rev) {
        (void)svc_fail_stale(res, cur_rev);
        goto out;
    }
    res->action = cur == NULL ? "service.create" : "service.update";
    if (in->credentials != NULL)
        ids = json_incref(in->credentials);
    else
        ids = cur != NULL ? json_incref(json_object_get(cur, "credentials")) : json_array();
    bool enabled = in->has_enabled ? in->enabled
                                   : (cur == NULL || json_is_true(json_object_get(cur, "enabled")));
    if (check_mapping(c, res, ids) == 0)
        (void)write_service(req, res, c, cur_rev + 1, enabled, ids);
out:
    json_decref(ids);
    json_decref(cur);
}

/* PUT /v1/services/{id} */
int svc_h_service_put(struct svc_req *req)
{
    struct svc_result res = { 0 };
    struct service_input in = { 0 };
    struct db_conn *c = NULL;
    json_t *body = NULL;
    int64_t expected;

    if (svc_require_admin(req, &res, path_id(req)) != 0)
        goto out;
    if (!svc_service_id_valid(path_id(req))) {
        (void)svc_fail(&res, SVC_INVALID_ID,
                       "a service id matches ^[A-Za-z0-9][A-Za-z0-9_.@+=,-]{0,127}$");
        goto out;
    }
    if (svc_body_json(req, &res, &body) != 0)
        goto out;
    if (body == NULL)
        body = json_object();
    if (parse_service_body(req, body, &res, &in) != 0 ||
        svc_expected_revision(req, body, &res, &expected) != 0 || svc_tx_begin(req, &res, &c) != 0)
        goto out;
    put_in_tx(req, &res, c, &in, expected);
    svc_tx_end(req, &res, c, "service", path_id(req));
out:
    json_decref(in.credentials);
    json_decref(body);
    return svc_finish(req, &res);
}

/* The ids of a revision's mapping that still exist. */
static int existing_ids(struct db_conn *c, json_t *ids, json_t **out)
{
    json_t *keys = NULL;
    size_t i;
    json_t *v;
    int r = db_credential_keys_of(c, ids, &keys);

    *out = NULL;
    if (r != 0)
        return r;
    json_t *kept = json_array();
    json_array_foreach(ids, i, v)
    {
        if (json_object_get(keys, json_string_value(v)) != NULL)
            json_array_append(kept, v);
    }
    json_decref(keys);
    *out = kept;
    return 0;
}

/* True if two id arrays hold the same set. */
static bool same_set(const json_t *a, const json_t *b)
{
    size_t i;
    json_t *v;
    if (json_array_size(a) != json_array_size(b))
        return false;
    json_array_foreach(a, i, v)
    {
        bool found = false;
        for (size_t k = 0; k < json_array_size(b) && !found; k++)
            found = json_equal(json_array_get(b, k), v);
        if (!found)
            return false;
    }
    return true;
}

static void revert_in_tx(struct svc_req *req, struct svc_result *res, struct db_conn *c, int64_t to,
                         int64_t expected)
{
    json_t *cur = NULL, *old = NULL, *ids = NULL;
    int r = db_service_get(c, path_id(req), true, &cur);

    if (r == 0)
        r = db_service_get_revision(c, path_id(req), to, &old);
    if (r == 0)
        r = existing_ids(c, json_object_get(old, "credentials"), &ids);
    if (r != 0) {
        (void)(r == CF_ENOTFOUND ? svc_fail(res, SVC_NOT_FOUND, "service or revision not found")
                                 : svc_fail_err(res, r));
        goto out;
    }
    int64_t cur_rev = json_integer_value(json_object_get(cur, "revision"));
    bool enabled = json_is_true(json_object_get(old, "enabled"));
    if (expected >= 0 && expected != cur_rev)
        (void)svc_fail_stale(res, cur_rev);
    else if (same_set(ids, json_object_get(cur, "credentials")) &&
             json_equal(json_object_get(old, "enabled"), json_object_get(cur, "enabled")) &&
             json_equal(json_object_get(old, "account"), json_object_get(cur, "account")))
        (void)svc_fail(res, SVC_NO_CHANGE, NULL);
    else if (check_mapping(c, res, ids) == 0)
        (void)write_service(req, res, c, cur_rev + 1, enabled, ids);
out:
    json_decref(ids);
    json_decref(old);
    json_decref(cur);
}

/* PUT /v1/services/{id}/{to_revision} */
int svc_h_service_revert(struct svc_req *req)
{
    struct svc_result res = { 0 };
    struct db_conn *c = NULL;
    json_t *body = NULL;
    int64_t to, expected;

    if (svc_require_admin(req, &res, path_id(req)) != 0 ||
        svc_parse_revision(req->seg[3], &res, &to) != 0 || svc_body_json(req, &res, &body) != 0 ||
        svc_expected_revision(req, body, &res, &expected) != 0)
        goto out;
    if (!svc_service_id_valid(path_id(req))) {
        (void)svc_fail(&res, SVC_NOT_FOUND, "service not found");
        goto out;
    }
    if (svc_tx_begin(req, &res, &c) != 0)
        goto out;
    revert_in_tx(req, &res, c, to, expected);
    svc_tx_end(req, &res, c, "service", path_id(req));
out:
    json_decref(body);
    return svc_finish(req, &res);
}

/* GET /v1/services/{id}/{old}/{new} */
int svc_h_service_diff(struct svc_req *req)
{
    struct svc_result res = { 0 };
    struct db_conn *c = NULL;
    json_t *a = NULL, *b = NULL;
    int64_t ra, rb;
    int r;

    if (svc_require_reader(req, &res, path_id(req)) != 0 ||
        svc_parse_revision(req->seg[3], &res, &ra) != 0 ||
        svc_parse_revision(req->seg[4], &res, &rb) != 0)
        goto out;
    if (!svc_service_id_valid(path_id(req))) {
        (void)svc_fail(&res, SVC_NOT_FOUND, "service not found");
        goto out;
    }
    if (svc_conn(req, &res, &c) != 0)
        goto out;
    r = db_service_get_revision(c, path_id(req), ra, &a);
    if (r == 0)
        r = db_service_get_revision(c, path_id(req), rb, &b);
    if (r != 0) {
        (void)(r == CF_ENOTFOUND ? svc_fail(&res, SVC_NOT_FOUND, "service revision not found")
                                 : svc_fail_err(&res, r));
        goto out;
    }
    svc_result_revision(&res, ra > rb ? ra : rb);
    svc_ok(&res, svc_diff_services(a, b));
out:
    db_release(req->ctx->pool, c);
    json_decref(a);
    json_decref(b);
    return svc_finish(req, &res);
}

/* GET /v1/archive/services/{id} */
int svc_h_service_revisions(struct svc_req *req)
{
    struct svc_result res = { 0 };
    struct db_conn *c = NULL;
    json_t *rows = NULL;
    int r;

    if (svc_require_reader(req, &res, req->seg[3]) != 0)
        goto out;
    if (!svc_service_id_valid(req->seg[3])) {
        (void)svc_fail(&res, SVC_NOT_FOUND, "service not found");
        goto out;
    }
    if (svc_conn(req, &res, &c) != 0)
        goto out;
    if ((r = db_service_revisions(c, req->seg[3], &rows)) != 0) {
        (void)svc_fail_err(&res, r);
        goto out;
    }
    if (json_array_size(rows) == 0) {
        (void)svc_fail(&res, SVC_NOT_FOUND, "service not found");
        goto out;
    }
    json_t *items = json_array();
    size_t i;
    json_t *row;
    json_array_foreach(rows, i, row) json_array_append_new(items, svc_service_item(row, true));
    svc_ok(&res, json_pack("{s:o, s:n}", "revisions", items, "next_page"));
out:
    db_release(req->ctx->pool, c);
    json_decref(rows);
    return svc_finish(req, &res);
}
