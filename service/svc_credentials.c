/*
 * svc_credentials.c - the credential endpoints of API.md 4.3: list, get, create, update,
 * revert, diff, revisions, and the services that map a credential.
 *
 * Pairs are sealed under a fresh data key for every revision (svc_seal_pairs) and opened only
 * for admins who ask for them. Writes lock the current row, check expected_revision, names and
 * key conflicts, write the new revision, its access-log row and a change notification in one
 * transaction.
 */
#include <stdlib.h>
#include <string.h>

#include "cf_json.h"
#include "cf_log.h"
#include "cf_str.h"
#include "db_credentials.h"
#include "svc_api.h"
#include "svc_repr.h"
#include "svc_validate.h"

static const char *path_id(const struct svc_req *req)
{
    return req->seg[2];
}

static json_t *all_perms(void)
{
    return svc_perms(true, true, true, false, false);
}

/* The credential id of the path, checked: 0, or 404 in res. */
static int check_id(struct svc_req *req, struct svc_result *res)
{
    if (!svc_credential_id_valid(path_id(req)))
        return svc_fail(res, SVC_NOT_FOUND, "credential not found");
    return 0;
}

/* Reads a credential and, for an admin who asks, opens its pairs. */
static int read_credential(struct svc_req *req, struct svc_result *res, bool want_pairs)
{
    struct db_conn *c = NULL;
    struct db_sealed sealed = { 0 };
    json_t *row = NULL, *pairs = NULL;
    int r;

    if ((r = svc_conn(req, res, &c)) != 0)
        return r;
    r = db_credential_get(c, path_id(req), false, &row, want_pairs ? &sealed : NULL);
    db_release(req->ctx->pool, c);
    if (r != 0) {
        r = r == CF_ENOTFOUND ? svc_fail(res, SVC_NOT_FOUND, "credential not found")
                              : svc_fail_err(res, r);
        goto out;
    }
    int64_t rev = json_integer_value(json_object_get(row, "revision"));
    svc_result_revision(res, rev);
    if (want_pairs && (r = svc_open_pairs(req->ctx, path_id(req), rev, &sealed, &pairs)) != 0) {
        r = svc_fail(res, svc_open_error(r), NULL);
        goto out;
    }
    bool admin = svc_is_admin(req);
    svc_ok(res,
           svc_credential_repr(row, pairs, svc_perms(true, admin, admin, false, false), false));
out:
    db_sealed_free(&sealed);
    json_decref(row);
    return r;
}

/* GET /v1/credentials/{id} */
int svc_h_credential_get(struct svc_req *req)
{
    struct svc_result res = { 0 }; /* a refusal is logged as what was asked for */
    bool metadata_only = false;

    if (svc_require_reader(req, &res, path_id(req)) != 0 ||
        svc_query_bool(req, &res, "metadata_only", false, &metadata_only) != 0 ||
        check_id(req, &res) != 0)
        return svc_finish(req, &res);
    bool want_pairs = svc_is_admin(req) && !metadata_only;
    if (!want_pairs)
        res.action = "credential.get_metadata"; /* what an auditor is given */
    (void)read_credential(req, &res, want_pairs);
    return svc_finish(req, &res);
}

/* The content of a credential revision about to be written (borrowed). */
struct cred_state {
    const char *name;
    bool enabled;
    json_t *metadata;
    const char *documentation;
    json_t *tags;
    json_t *pairs;
    json_t *keys;
    const char *last_rotation; /* kept (NULL: none) unless rotated_now */
    bool rotated_now;
};

/* 409 name_conflict unless name is free or belongs to self (may be NULL). */
static int check_name_free(struct db_conn *c, struct svc_result *res, const char *name,
                           const char *self)
{
    char owner[DB_CREDENTIAL_ID_LEN + 1];
    int r = db_credential_id_by_name(c, name, owner);

    if (r == CF_ENOTFOUND || (r == 0 && self != NULL && strcmp(owner, self) == 0))
        return 0;
    if (r != 0)
        return svc_fail_err(res, r);
    (void)svc_fail(res, SVC_NAME_CONFLICT, "Name already exists. See id: %s", owner);
    res->extra = json_pack("{s:s}", "reference", owner);
    return CF_ECONFLICT;
}

/* 400 key_conflict when keys clash with another credential of a service mapping id. */
static int check_conflicts(struct db_conn *c, struct svc_result *res, const char *id, json_t *keys)
{
    json_t *neighbours = NULL;
    int r = db_credential_neighbours(c, id, &neighbours);

    if (r != 0)
        return svc_fail_err(res, r);
    json_t *conflicts = svc_credential_conflicts(keys, neighbours);
    json_decref(neighbours);
    if (conflicts == NULL)
        return 0;
    (void)svc_fail(res, SVC_KEY_CONFLICT, NULL);
    res->extra = json_pack("{s:o}", "conflicts", conflicts);
    return CF_EINVAL;
}

/* Seals the pairs and writes revision rev of id (insert when rev is 1). */
static int write_revision(struct svc_req *req, struct svc_result *res, struct db_conn *c,
                          const char *id, int64_t rev, const struct cred_state *st,
                          json_t **row_out)
{
    struct db_sealed sealed = { 0 };
    char *meta = json_dumps(st->metadata, JSON_COMPACT);
    char *tags = json_dumps(st->tags, JSON_COMPACT);
    char *keys = json_dumps(st->keys, JSON_COMPACT);
    int r;

    *row_out = NULL;
    if (meta == NULL || tags == NULL || keys == NULL) {
        r = svc_fail(res, SVC_INTERNAL_ERROR, NULL);
        goto out;
    }
    if (svc_seal_pairs(req->ctx, id, rev, st->pairs, &sealed) != 0) {
        r = svc_fail(res, SVC_KMS_UNAVAILABLE, NULL);
        goto out;
    }
    struct db_credential_write w = {
        .id = id,
        .revision = rev,
        .name = st->name,
        .enabled = st->enabled,
        .metadata_json = meta,
        .documentation = st->documentation,
        .tags_json = tags,
        .keys_json = keys,
        .last_rotation = st->last_rotation,
        .rotated_now = st->rotated_now,
        .modified_by = req->who.actor,
        .sealed = &sealed,
    };
    r = rev == 1 ? db_credential_insert(c, &w, row_out) : db_credential_update(c, &w, row_out);
    if (r == CF_ECONFLICT) { /* taken since the check; the aborted transaction cannot look */
        (void)svc_fail(res, SVC_NAME_CONFLICT, NULL);
    } else if (r != 0) {
        (void)svc_fail_err(res, r);
    } else {
        svc_result_revision(res, rev);
    }
out:
    db_sealed_free(&sealed);
    cf_json_free_str(meta);
    cf_json_free_str(tags);
    cf_json_free_str(keys);
    return r;
}

/* POST /v1/credentials */
int svc_h_credential_create(struct svc_req *req)
{
    struct svc_result res = { 0 };
    struct svc_cred_input in = { 0 };
    struct db_conn *c = NULL;
    json_t *body = NULL, *row = NULL, *meta = NULL, *tags = NULL;
    char id[DB_CREDENTIAL_ID_LEN + 1] = "";

    if (svc_require_admin(req, &res, NULL) != 0 || svc_body_json(req, &res, &body) != 0)
        goto out;
    if (body == NULL) {
        (void)svc_fail(&res, SVC_INVALID_REQUEST, "a JSON body is required");
        goto out;
    }
    int64_t ignored; /* a create has no current revision, but the member must be well-formed */
    if (svc_cred_input_parse(body, true, &res, &in) != 0 ||
        svc_expected_revision(req, body, &res, &ignored) != 0)
        goto out;
    if (svc_new_credential_id(id) != 0) {
        (void)svc_fail(&res, SVC_INTERNAL_ERROR, NULL);
        goto out;
    }
    memcpy(res.resource_id, id, sizeof(id));
    meta = in.metadata != NULL ? json_incref(in.metadata) : json_object();
    tags = in.tags != NULL ? json_incref(in.tags) : json_array();
    struct cred_state st = { .name = in.name,
                             .enabled = in.has_enabled ? in.enabled : true,
                             .metadata = meta,
                             .documentation = in.documentation,
                             .tags = tags,
                             .pairs = in.pairs,
                             .keys = in.keys,
                             .rotated_now = true };
    if (svc_tx_begin(req, &res, &c) != 0)
        goto out;
    if (check_name_free(c, &res, in.name, NULL) == 0 &&
        write_revision(req, &res, c, id, 1, &st, &row) == 0)
        svc_ok(&res, svc_credential_repr(row, json_incref(in.pairs), all_perms(), false));
    svc_tx_end(req, &res, c, "credential", id);
out:
    json_decref(row);
    json_decref(meta);
    json_decref(tags);
    json_decref(body);
    svc_cred_input_free(&in);
    return svc_finish(req, &res);
}

/* Locks the current row for a write, checks expected_revision and opens the current pairs. */
static int lock_current(struct svc_req *req, struct svc_result *res, struct db_conn *c,
                        int64_t expected, json_t **row, json_t **pairs)
{
    struct db_sealed sealed = { 0 };
    int r = db_credential_get(c, path_id(req), true, row, &sealed);

    if (r == CF_ENOTFOUND)
        return svc_fail(res, SVC_NOT_FOUND, "credential not found");
    if (r != 0)
        return svc_fail_err(res, r);
    int64_t cur = json_integer_value(json_object_get(*row, "revision"));
    if (expected >= 0 && expected != cur) {
        r = svc_fail_stale(res, cur);
    } else if ((r = svc_open_pairs(req->ctx, path_id(req), cur, &sealed, pairs)) != 0) {
        r = svc_fail(res, svc_open_error(r), NULL);
    }
    db_sealed_free(&sealed);
    return r;
}

static json_t *given_or(json_t *given, const json_t *row, const char *name)
{
    return given != NULL ? given : json_object_get(row, name);
}

/* The new state of an update: what the body gives, else what the row holds. */
static void merge_update(const struct svc_cred_input *in, const json_t *row, json_t *cur_pairs,
                         struct cred_state *st)
{
    *st = (struct cred_state){
        .name = in->name != NULL ? in->name : cf_json_str(row, "name"),
        .enabled = in->has_enabled ? in->enabled : json_is_true(json_object_get(row, "enabled")),
        .metadata = given_or(in->metadata, row, "metadata"),
        .documentation =
            in->has_documentation ? in->documentation : cf_json_str(row, "documentation"),
        .tags = given_or(in->tags, row, "tags"),
        .pairs = in->pairs != NULL ? in->pairs : cur_pairs,
        .keys = given_or(in->keys, row, "credential_keys"),
        .last_rotation = cf_json_str(row, "last_rotation_date"),
        .rotated_now = in->pairs != NULL && !json_equal(in->pairs, cur_pairs),
    };
}

/* PUT /v1/credentials/{id} */
int svc_h_credential_update(struct svc_req *req)
{
    struct svc_result res = { 0 };
    struct svc_cred_input in = { 0 };
    struct cred_state st;
    struct db_conn *c = NULL;
    json_t *body = NULL, *cur = NULL, *cur_pairs = NULL, *row = NULL;
    int64_t expected;

    if (svc_require_admin(req, &res, path_id(req)) != 0 || check_id(req, &res) != 0 ||
        svc_body_json(req, &res, &body) != 0)
        goto out;
    if (body == NULL)
        body = json_object(); /* nothing given: a new revision equal to the current one */
    if (svc_cred_input_parse(body, false, &res, &in) != 0 ||
        svc_expected_revision(req, body, &res, &expected) != 0 || svc_tx_begin(req, &res, &c) != 0)
        goto out;
    if (lock_current(req, &res, c, expected, &cur, &cur_pairs) != 0)
        goto end;
    merge_update(&in, cur, cur_pairs, &st);
    int64_t rev = json_integer_value(json_object_get(cur, "revision")) + 1;
    if ((in.name == NULL || check_name_free(c, &res, st.name, path_id(req)) == 0) &&
        check_conflicts(c, &res, path_id(req), st.keys) == 0 &&
        write_revision(req, &res, c, path_id(req), rev, &st, &row) == 0)
        svc_ok(&res, svc_credential_repr(row, json_incref(st.pairs), all_perms(), false));
end:
    svc_tx_end(req, &res, c, "credential", path_id(req));
out:
    json_decref(row);
    json_decref(cur);
    json_decref(cur_pairs);
    json_decref(body);
    svc_cred_input_free(&in);
    return svc_finish(req, &res);
}

/* Reads revision rev of the path's credential with its pairs: 0, or 404 / an open error. */
static int read_revision(struct svc_req *req, struct svc_result *res, struct db_conn *c,
                         int64_t rev, json_t **row, json_t **pairs)
{
    struct db_sealed sealed = { 0 };
    int r = db_credential_get_revision(c, path_id(req), rev, row, pairs != NULL ? &sealed : NULL);

    if (r == CF_ENOTFOUND)
        return svc_fail(res, SVC_NOT_FOUND, "credential revision not found");
    if (r != 0)
        return svc_fail_err(res, r);
    if (pairs != NULL && (r = svc_open_pairs(req->ctx, path_id(req), rev, &sealed, pairs)) != 0)
        r = svc_fail(res, svc_open_error(r), NULL);
    db_sealed_free(&sealed);
    return r;
}

/* True if a revert to old would change nothing of cur. */
static bool same_content(const json_t *old, json_t *old_pairs, const json_t *cur, json_t *cur_pairs)
{
    static const char *const members[] = { "name",           "enabled", "metadata",
                                           "documentation",  "tags",    "last_rotation_date",
                                           "credential_keys" };
    for (size_t i = 0; i < sizeof(members) / sizeof(members[0]); i++) {
        if (!json_equal(json_object_get(old, members[i]), json_object_get(cur, members[i])))
            return false;
    }
    return json_equal(old_pairs, cur_pairs);
}

/* The checks and the write of a revert, inside the transaction. */
static void revert_in_tx(struct svc_req *req, struct svc_result *res, struct db_conn *c, int64_t to,
                         int64_t expected)
{
    json_t *cur = NULL, *cur_pairs = NULL, *old = NULL, *old_pairs = NULL, *row = NULL;

    if (lock_current(req, res, c, expected, &cur, &cur_pairs) != 0 ||
        read_revision(req, res, c, to, &old, &old_pairs) != 0)
        goto out;
    if (same_content(old, old_pairs, cur, cur_pairs)) {
        (void)svc_fail(res, SVC_NO_CHANGE, NULL);
        goto out;
    }
    struct cred_state st = {
        .name = cf_json_str(old, "name"),
        .enabled = json_is_true(json_object_get(old, "enabled")),
        .metadata = json_object_get(old, "metadata"),
        .documentation = cf_json_str(old, "documentation"),
        .tags = json_object_get(old, "tags"),
        .pairs = old_pairs,
        .keys = json_object_get(old, "credential_keys"),
        .last_rotation = cf_json_str(old, "last_rotation_date"),
    };
    int64_t rev = json_integer_value(json_object_get(cur, "revision")) + 1;
    if (check_name_free(c, res, st.name, path_id(req)) == 0 &&
        check_conflicts(c, res, path_id(req), st.keys) == 0 &&
        write_revision(req, res, c, path_id(req), rev, &st, &row) == 0)
        svc_ok(res, svc_credential_repr(row, NULL, all_perms(), false));
out:
    json_decref(row);
    json_decref(cur);
    json_decref(cur_pairs);
    json_decref(old);
    json_decref(old_pairs);
}

/* PUT /v1/credentials/{id}/{to_revision} */
int svc_h_credential_revert(struct svc_req *req)
{
    struct svc_result res = { 0 };
    struct db_conn *c = NULL;
    json_t *body = NULL;
    int64_t to, expected;

    if (svc_require_admin(req, &res, path_id(req)) != 0 || check_id(req, &res) != 0 ||
        svc_parse_revision(req->seg[3], &res, &to) != 0 || svc_body_json(req, &res, &body) != 0 ||
        svc_expected_revision(req, body, &res, &expected) != 0 || svc_tx_begin(req, &res, &c) != 0)
        goto out;
    revert_in_tx(req, &res, c, to, expected);
    svc_tx_end(req, &res, c, "credential", path_id(req));
out:
    json_decref(body);
    return svc_finish(req, &res);
}

/* GET /v1/credentials/{id}/{old}/{new}: key names only, never values. */
int svc_h_credential_diff(struct svc_req *req)
{
    struct svc_result res = { 0 };
    struct db_conn *c = NULL;
    json_t *a = NULL, *pa = NULL, *b = NULL, *pb = NULL;
    int64_t ra, rb;

    if (svc_require_reader(req, &res, path_id(req)) != 0 || check_id(req, &res) != 0 ||
        svc_parse_revision(req->seg[3], &res, &ra) != 0 ||
        svc_parse_revision(req->seg[4], &res, &rb) != 0 || svc_conn(req, &res, &c) != 0)
        goto out;
    /* the pairs are opened to tell changed values; only their key names leave */
    if (read_revision(req, &res, c, ra, &a, &pa) == 0 &&
        read_revision(req, &res, c, rb, &b, &pb) == 0) {
        svc_result_revision(&res, ra > rb ? ra : rb);
        svc_ok(&res, svc_diff_credentials(a, pa, b, pb));
    }
out:
    db_release(req->ctx->pool, c);
    json_decref(a);
    json_decref(pa);
    json_decref(b);
    json_decref(pb);
    return svc_finish(req, &res);
}

/* GET /v1/credentials/{id}/services */
int svc_h_credential_services(struct svc_req *req)
{
    struct svc_result res = { 0 };
    struct db_conn *c = NULL;
    json_t *row = NULL, *services = NULL;
    int r;

    if (svc_require_reader(req, &res, path_id(req)) != 0 || check_id(req, &res) != 0 ||
        svc_conn(req, &res, &c) != 0)
        goto out;
    r = db_credential_get(c, path_id(req), false, &row, NULL);
    if (r == 0)
        r = db_credential_services(c, path_id(req), &services);
    if (r == CF_ENOTFOUND) {
        (void)svc_fail(&res, SVC_NOT_FOUND, "credential not found");
    } else if (r != 0) {
        (void)svc_fail_err(&res, r);
    } else {
        svc_ok(&res, json_pack("{s:O}", "services", services));
    }
out:
    db_release(req->ctx->pool, c);
    json_decref(row);
    json_decref(services);
    return svc_finish(req, &res);
}
