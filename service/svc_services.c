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

#include "cf_crypto.h"
#include "cf_json.h"
#include "cf_mem.h"
#include "cf_str.h"
#include "cf_time.h"
#include "db_credentials.h"
#include "db_services.h"
#include "svc_api.h"
#include "svc_bundles.h"
#include "svc_metrics.h"
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

/* Opens the pairs of one mapped credential into its object (a disabled credential keeps its
 * keys and never delivers values: the kill switch). */
static int expand_one(struct svc_req *req, struct svc_result *res, const json_t *row,
                      const struct db_sealed *sealed, bool with_pairs, json_t **out)
{
    json_t *pairs = NULL;
    int r;

    *out = NULL;
    if (with_pairs && json_is_true(json_object_get(row, "enabled")) &&
        (r = svc_open_pairs(req->ctx, cf_json_str(row, "id"),
                            json_integer_value(json_object_get(row, "revision")), sealed,
                            &pairs)) != 0)
        return svc_fail(res, svc_open_error(r), NULL);
    *out = svc_credential_repr(row, pairs, NULL, false);
    return 0;
}

/* The mapped credentials of a service as loaded by db_credentials_of_service(). */
struct mapped {
    json_t *rows;
    struct db_sealed *sealed;
    size_t n;
};

static void mapped_free(struct mapped *m)
{
    json_decref(m->rows);
    db_sealed_array_free(m->sealed, m->n);
    *m = (struct mapped){ 0 };
}

static int load_mapped(struct svc_result *res, struct db_conn *c, const char *id, struct mapped *m)
{
    int r = db_credentials_of_service(c, id, &m->rows, &m->sealed, &m->n);
    return r != 0 ? svc_fail_err(res, r) : 0;
}

/* Expands every mapped credential; one that does not open fails all: no partial bundle. */
static int expand_mapped(struct svc_req *req, struct svc_result *res, const struct mapped *m,
                         bool with_pairs, json_t **out)
{
    json_t *creds = json_array(), *one;
    int r = 0;

    *out = NULL;
    for (size_t i = 0; i < m->n && r == 0; i++) {
        r = expand_one(req, res, json_array_get(m->rows, i), &m->sealed[i], with_pairs, &one);
        if (r == 0)
            json_array_append_new(creds, one);
    }
    if (r != 0) {
        json_decref(creds); /* opened pairs go through the zeroing free */
        return r;
    }
    *out = creds;
    return 0;
}

static int expand_credentials(struct svc_req *req, struct svc_result *res, struct db_conn *c,
                              const char *id, bool with_pairs, json_t **out)
{
    struct mapped m = { 0 };
    int r = load_mapped(res, c, id, &m);
    if (r == 0)
        r = expand_mapped(req, res, &m, with_pairs, out);
    mapped_free(&m);
    return r;
}

/* Who may read what (API.md 2.5), checked before any lookup: a service its own service, an
 * auditor the metadata form, an admin everything. */
static int bundle_acl(struct svc_req *req, struct svc_result *res, bool metadata_only)
{
    switch (req->who.role) {
    case AUTH_ROLE_ADMIN:
        return 0;
    case AUTH_ROLE_SERVICE:
        if (strcmp(req->who.name, path_id(req)) == 0)
            return 0;
        break;
    case AUTH_ROLE_AUDITOR:
        if (metadata_only)
            return 0;
        break;
    case AUTH_ROLE_NONE:
        break;
    }
    return svc_require_admin(req, res, path_id(req)); /* fails: 403 forbidden */
}

/* Appends "<id>:<revision>\n" for each mapped credential in ascending id order. */
static int etag_credentials(const struct mapped *m, struct cf_buf *b)
{
    size_t *order = cf_xcalloc(m->n + 1, sizeof(*order));
    int r = 0;

    for (size_t i = 0; i < m->n; i++) { /* insertion sort: at most 100 credentials */
        const char *id = cf_json_str(json_array_get(m->rows, i), "id");
        size_t j = i;
        for (; j > 0 && strcmp(cf_json_str(json_array_get(m->rows, order[j - 1]), "id"), id) > 0;
             j--)
            order[j] = order[j - 1];
        order[j] = i;
    }
    for (size_t i = 0; i < m->n && r == 0; i++) {
        const json_t *row = json_array_get(m->rows, order[i]);
        r = cf_buf_printf(b, "%s:%lld\n", cf_json_str(row, "id"),
                          (long long)json_integer_value(json_object_get(row, "revision")));
    }
    free(order);
    return r;
}

/* The bundle's strong ETag (API.md 8.3): the first 32 hex of a SHA-256 over its identity. */
static int bundle_etag(const json_t *service, const struct mapped *m, bool metadata_only,
                       const json_t *perms, char out[36])
{
    struct cf_buf b = { 0 };
    char hex[CF_SHA256_HEX_LEN + 1];
    int r = cf_buf_printf(
        &b, "coffer-bundle-v1\n%s\n%lld\n%s\nm=%d,g=%d,u=%d\n", cf_json_str(service, "id"),
        (long long)json_integer_value(json_object_get(service, "revision")),
        metadata_only ? "metadata" : "full", json_is_true(json_object_get(perms, "metadata")),
        json_is_true(json_object_get(perms, "get")),
        json_is_true(json_object_get(perms, "update")));

    if (r == 0)
        r = etag_credentials(m, &b);
    if (r == 0)
        r = cf_sha256_hex(b.data, b.len, hex);
    if (r == 0)
        r = cf_fmt(out, 36, "\"%.32s\"", hex);
    cf_buf_free(&b);
    return r;
}

/* The cache key of one form of a bundle: the service, then what else shapes the body (the
 * form asked for and the caller's role, which sets its permissions). */
static int bundle_key(const struct svc_req *req, bool metadata_only, char *out, size_t n)
{
    return cf_fmt(out, n, "%s\n%c%d", path_id(req), metadata_only ? 'm' : 'f', (int)req->who.role);
}

/* Builds the answer from the database into *b: the catalog version is read first, so the
 * rows read after it show at least every write up to it. When If-None-Match already names
 * the bundle, b's body stays empty: no KMS call, no decryption (and nothing to cache). */
static int build_bundle(struct svc_req *req, struct svc_result *res, bool metadata_only,
                        struct svc_bundle *b)
{
    struct mapped m = { 0 };
    struct db_conn *c = NULL;
    json_t *row = NULL, *perms = NULL, *creds = NULL;
    int r;

    if ((r = svc_conn(req, res, &c)) != 0)
        goto out;
    if ((r = db_catalog_version(c, &b->catalog)) != 0 ||
        (r = db_service_get(c, path_id(req), false, &row)) != 0) {
        r = r == CF_ENOTFOUND ? svc_fail(res, SVC_NOT_FOUND, "service not found")
                              : svc_fail_err(res, r);
        goto out;
    }
    b->revision = json_integer_value(json_object_get(row, "revision"));
    svc_result_revision(res, b->revision);
    if (req->who.role == AUTH_ROLE_SERVICE && !json_is_true(json_object_get(row, "enabled"))) {
        r = svc_fail(res, SVC_SERVICE_DISABLED, NULL);
        goto out;
    }
    if ((r = load_mapped(res, c, path_id(req), &m)) != 0)
        goto out;
    db_release(req->ctx->pool, c);
    c = NULL; /* opening the pairs needs no connection */
    bool admin = svc_is_admin(req), svc = req->who.role == AUTH_ROLE_SERVICE;
    perms = svc_perms(true, admin || svc, admin, false, false);
    if ((r = bundle_etag(row, &m, metadata_only, perms, b->etag)) != 0) {
        r = svc_fail(res, SVC_INTERNAL_ERROR, NULL);
        goto out;
    }
    if (svc_etag_matches(svc_header(req, "If-None-Match"), b->etag))
        goto out;
    if ((r = expand_mapped(req, res, &m, !metadata_only, &creds)) != 0)
        goto out;
    json_t *body = svc_service_repr(row, creds, perms); /* takes creds */
    perms = NULL;                                       /* and perms */
    if ((r = cf_json_dump_buf(body, JSON_COMPACT, &b->body)) != 0)
        r = svc_fail(res, SVC_INTERNAL_ERROR, NULL);
    json_decref(body); /* the zeroing free: it holds the pairs */
out:
    db_release(req->ctx->pool, c);
    mapped_free(&m);
    json_decref(perms);
    json_decref(row);
    return r;
}

/* Sets the answer for b: 304 when the caller has it already, else 200. */
static void answer_bundle(struct svc_req *req, struct svc_result *res, const struct svc_bundle *b)
{
    req->nhdr = 0;
    svc_add_header(req, "ETag", b->etag);
    svc_add_header(req, "Vary", "Authorization, X-Auth-From, X-Auth-Token");
    svc_result_revision(res, b->revision);
    if (svc_etag_matches(svc_header(req, "If-None-Match"), b->etag)) {
        res->status = 304;
        res->not_modified = true;
        return;
    }
    res->status = 200; /* its body moves from b into the answer at the end (no copy) */
    res->not_modified = false;
}

/* How many times a fetch builds its bundle again because catalog writes kept committing
 * between its build and its row: each build reads the version first, so only a write that
 * commits in that short window sends it round again. */
#define BUNDLE_MAX_BUILDS 8

/* GET /v1/services/{id}: authenticate (done), authorise, then the bundle from the cache or
 * the database, and its access-log row, written only if the bundle is at least as new as the
 * catalog version that row's append reads; otherwise nothing is written, the bundle is built
 * again and its row tried again. So no fetch answers with a bundle older than a write that
 * committed before its row, on any node, and every row describes the answer its request got
 * (a service disabled meanwhile is logged as the refusal it is, not as the cached answer). */
int svc_h_service_get(struct svc_req *req)
{
    struct svc_result res = { .action = "service.get_metadata" };
    struct svc_bundle b = { 0 };
    struct audit_receipt rc;
    struct svc_bundles *cache = req->ctx->bundles;
    bool metadata_only = false, built = false;
    char key[300];

    if (svc_query_bool(req, &res, "metadata_only", false, &metadata_only) != 0)
        goto out;
    if (!metadata_only)
        res.action = "service.get";
    if (bundle_acl(req, &res, metadata_only) != 0)
        goto out;
    if (!svc_service_id_valid(path_id(req)) || bundle_key(req, metadata_only, key, sizeof(key))) {
        (void)svc_fail(&res, SVC_NOT_FOUND, "service not found");
        goto out;
    }
    if (svc_bundles_get(cache, key, cf_mono_ms(), &b) != 0) {
        if (build_bundle(req, &res, metadata_only, &b) != 0)
            goto out;
        built = true;
    }
    for (int builds = 1;; builds++) {
        answer_bundle(req, &res, &b);
        int r = svc_audit_now_if_current(req, &res, b.catalog, &rc);
        if (r != CF_ESTALE)
            break; /* written, or failed closed (res says so) */
        /* a write committed after b was read and before this row: build again, from rows
         * read after that commit */
        svc_bundles_count_rebuild(cache);
        svc_bundle_free(&b);
        b = (struct svc_bundle){ 0 };
        if (builds == BUNDLE_MAX_BUILDS) {
            req->nhdr = 0;
            (void)svc_fail(&res, SVC_DATABASE_UNAVAILABLE,
                           "the catalog kept changing while the bundle was read; retry");
            goto out;
        }
        if (build_bundle(req, &res, metadata_only, &b) != 0) {
            req->nhdr = 0; /* no ETag on a failure */
            goto out;
        }
        built = true;
    }
    if (res.status >= 400)
        goto out; /* the row could not be written: no body leaves */
    if (built && b.body.len > 0)
        svc_bundles_put(cache, key, &b, cf_mono_ms());
    if (res.status == 200) {
        res.raw = b.body; /* the answer takes the body over; both free it cleansed */
        b.body = (struct cf_buf){ 0 };
    }
    svc_metrics_bundle(res.status);
out:
    svc_bundle_free(&b);
    return svc_finish(req, &res);
}

/* Checks a mapping: every id exists (unknown_credential), at most max of them, no key
 * conflicts. */
static int check_mapping(struct db_conn *c, size_t max, struct svc_result *res, json_t *ids)
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
    if (json_array_size(ids) > max) {
        r = svc_fail(res, SVC_LIMIT_EXCEEDED, "at most %zu credentials per service", max);
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

    if (r == CF_ECONFLICT) { /* created meanwhile by another request */
        r = svc_fail_stale(res, 1);
    } else if (r != 0) {
        r = svc_fail_err(res, r);
    } else if ((r = expand_credentials(req, res, c, path_id(req), false, &creds)) == 0) {
        svc_result_revision(res, rev);
        svc_ok(res, svc_service_repr(row, creds, put_perms()));
    }
    cf_json_free_str(text);
    json_decref(row);
    return r;
}

/* The checks and the write of a PUT, inside the transaction. */
static void put_in_tx(struct svc_req *req, struct svc_result *res, struct db_conn *c,
                      const struct svc_service_input *in, int64_t expected)
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
    if (in->credentials != NULL) {
        ids = json_incref(in->credentials);
    } else {
        ids = cur != NULL ? json_incref(json_object_get(cur, "credentials")) : json_array();
    }
    bool enabled = in->has_enabled ? in->enabled
                                   : (cur == NULL || json_is_true(json_object_get(cur, "enabled")));
    if (check_mapping(c, req->ctx->limits.service_credentials, res, ids) == 0)
        (void)write_service(req, res, c, cur_rev + 1, enabled, ids);
out:
    json_decref(ids);
    json_decref(cur);
}

/* PUT /v1/services/{id} */
int svc_h_service_put(struct svc_req *req)
{
    struct svc_result res = { 0 };
    struct svc_service_input in = { 0 };
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
    if (svc_service_input_parse(body, path_id(req), &res, &in) != 0 ||
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
    if (expected >= 0 && expected != cur_rev) {
        (void)svc_fail_stale(res, cur_rev);
    } else if (same_set(ids, json_object_get(cur, "credentials")) &&
               json_equal(json_object_get(old, "enabled"), json_object_get(cur, "enabled")) &&
               json_equal(json_object_get(old, "account"), json_object_get(cur, "account"))) {
        (void)svc_fail(res, SVC_NO_CHANGE, NULL);
    } else if (check_mapping(c, req->ctx->limits.service_credentials, res, ids) == 0) {
        (void)write_service(req, res, c, cur_rev + 1, enabled, ids);
    }
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
