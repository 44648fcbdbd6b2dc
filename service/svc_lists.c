/*
 * svc_lists.c - the two read endpoints credentials and services share in shape: the paged
 * list (GET /v1/credentials, GET /v1/services) and the revision list
 * (GET /v1/archive/credentials/{id}, GET /v1/archive/services/{id}).
 */
#include "svc_lists.h"

#include <stdlib.h>

#include "cf_json.h"
#include "db_credentials.h"
#include "db_services.h"
#include "svc_repr.h"
#include "svc_validate.h"

static json_t *credential_item(const json_t *row, bool revision_id)
{
    return svc_credential_repr(row, NULL, NULL, revision_id);
}

const struct svc_kind svc_credential_kind = {
    .name = "credential",
    .list_member = "credentials",
    .id_valid = svc_credential_id_valid,
    .list = db_credential_list,
    .revisions = db_credential_revisions,
    .item = credential_item,
};

const struct svc_kind svc_service_kind = {
    .name = "service",
    .list_member = "services",
    .id_valid = svc_service_id_valid,
    .list = db_service_list,
    .revisions = db_service_revisions,
    .item = svc_service_item,
};

/* One page of items; next_page names the key after the last item when more remain. */
static json_t *page(const struct svc_kind *k, const json_t *rows, int64_t limit)
{
    json_t *items = json_array(), *next = json_null();
    size_t i;
    json_t *row;

    json_array_foreach(rows, i, row)
    {
        if (limit >= 0 && i == (size_t)limit) { /* limit >= 0: a count */
            const json_t *last = json_array_get(rows, i - 1);
            json_decref(next);
            next = svc_page_token(cf_json_str(last, "_sort"), cf_json_str(last, "id"));
            break;
        }
        json_array_append_new(items, k->item(row, false));
    }
    return json_pack("{s:o, s:o}", k->list_member, items, "next_page", next);
}

int svc_list_handler(struct svc_req *req, const struct svc_kind *k)
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
    /* one row more than asked tells whether another page exists */
    if ((r = k->list(c, after_lower, after_id, limit < 0 ? -1 : limit + 1, &rows)) != 0) {
        (void)svc_fail_err(&res, r);
    } else {
        svc_ok(&res, page(k, rows, limit));
    }
out:
    db_release(req->ctx->pool, c);
    json_decref(rows);
    free(after_lower);
    free(after_id);
    return svc_finish(req, &res);
}

int svc_revisions_handler(struct svc_req *req, const struct svc_kind *k)
{
    struct svc_result res = { 0 };
    struct db_conn *c = NULL;
    const char *id = req->seg[3];
    json_t *rows = NULL;
    int r;

    if (svc_require_reader(req, &res, id) != 0)
        goto out;
    if (!k->id_valid(id)) {
        (void)svc_fail(&res, SVC_NOT_FOUND, "%s not found", k->name);
        goto out;
    }
    if (svc_conn(req, &res, &c) != 0)
        goto out;
    if ((r = k->revisions(c, id, &rows)) != 0) {
        (void)svc_fail_err(&res, r);
        goto out;
    }
    if (json_array_size(rows) == 0) { /* every resource has a revision 1 */
        (void)svc_fail(&res, SVC_NOT_FOUND, "%s not found", k->name);
        goto out;
    }
    json_t *items = json_array();
    size_t i;
    json_t *row;
    json_array_foreach(rows, i, row) json_array_append_new(items, k->item(row, true));
    svc_ok(&res, json_pack("{s:o, s:n}", "revisions", items, "next_page"));
out:
    db_release(req->ctx->pool, c);
    json_decref(rows);
    return svc_finish(req, &res);
}

int svc_h_credentials_list(struct svc_req *req)
{
    return svc_list_handler(req, &svc_credential_kind);
}

int svc_h_credential_revisions(struct svc_req *req)
{
    return svc_revisions_handler(req, &svc_credential_kind);
}

int svc_h_services_list(struct svc_req *req)
{
    return svc_list_handler(req, &svc_service_kind);
}

int svc_h_service_revisions(struct svc_req *req)
{
    return svc_revisions_handler(req, &svc_service_kind);
}
