/*
 * svc_credentials.c - the credential endpoints of API.md 4.3: list, get, create, update,
 * revert, diff, revisions, and the services that map a credential.
 *
 * Pairs are sealed under a fresh data key for every revision (svc_seal_pairs) and opened only
 * for admins who ask for them. A write reads, opens and seals outside any transaction, then
 * under the write lock checks that the row has not moved, checks names and key conflicts, and
 * writes the new revision, its access-log row and a change notification in one transaction.
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
    int r = db_credential_neighbours(c, id, keys, &neighbours);

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

/* Writes of an existing credential are prepared outside the write lock and committed under
 * it: reading, opening and sealing call KMS, which must not hold up every other write. The
 * commit re-reads the locked row; when another write moved it meanwhile, a caller that named
 * expected_revision is refused, anyone else's write is prepared again. The last of
 * WRITE_ATTEMPTS takes the lock first and prepares under it, so a write always lands. */
enum { WRITE_ATTEMPTS = 3, MOVED = 1 /* the row changed since it was prepared */ };

/* A revision ready to commit: what it holds, sealed, and the current row it was made from. */
struct pending {
    json_t *cur, *cur_pairs; /* the current row and its pairs when prepared */
    json_t *old, *old_pairs; /* a revert's target revision */
    struct cred_state st;    /* borrows from the members above and the request body */
    struct db_sealed sealed; /* st.pairs under a fresh data key, for revision rev */
    int64_t rev;             /* the revision to write: the prepared current one plus 1 */
    bool check_name;         /* the name may have changed */
    bool show_pairs;         /* the answer holds the pairs (an update, not a revert) */
};

static void pending_free(struct pending *p)
{
    db_sealed_free(&p->sealed);
    json_decref(p->cur);
    json_decref(p->cur_pairs);
    json_decref(p->old);
    json_decref(p->old_pairs);
    *p = (struct pending){ 0 };
}

/* Seals st->pairs for revision rev of id into *sealed: 0, or 503 in res. */
static int seal_state(struct svc_req *req, struct svc_result *res, const char *id, int64_t rev,
                      const struct cred_state *st, struct db_sealed *sealed)
{
    if (svc_seal_pairs(req->ctx, id, rev, st->pairs, sealed) != 0)
        return svc_fail(res, SVC_KMS_UNAVAILABLE, NULL);
    return 0;
}

/* Writes revision rev of id, its pairs already sealed (an insert when rev is 1). */
static int write_revision(struct svc_req *req, struct svc_result *res, struct db_conn *c,
                          const char *id, int64_t rev, const struct cred_state *st,
                          const struct db_sealed *sealed, json_t **row_out)
{
    char *meta = json_dumps(st->metadata, JSON_COMPACT);
    char *tags = json_dumps(st->tags, JSON_COMPACT);
    char *keys = json_dumps(st->keys, JSON_COMPACT);
    int r;

    *row_out = NULL;
    if (meta == NULL || tags == NULL || keys == NULL) {
        r = svc_fail(res, SVC_INTERNAL_ERROR, NULL);
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
        .sealed = sealed,
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
    struct db_sealed sealed = { 0 };
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
    if (svc_cred_input_parse(body, true, &req->ctx->limits, &res, &in) != 0 ||
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
    if (seal_state(req, &res, id, 1, &st, &sealed) != 0 || svc_tx_begin(req, &res, &c) != 0)
        goto out;
    if (check_name_free(c, &res, in.name, NULL) == 0 &&
        write_revision(req, &res, c, id, 1, &st, &sealed, &row) == 0)
        svc_ok(&res, svc_credential_repr(row, json_incref(in.pairs), all_perms(), false));
    svc_tx_end(req, &res, c, "credential", id);
out:
    db_sealed_free(&sealed);
    json_decref(row);
    json_decref(meta);
    json_decref(tags);
    json_decref(body);
    svc_cred_input_free(&in);
    return svc_finish(req, &res);
}

/* Reads revision rev of the path's credential (0: the current one) with its pairs: 0, or
 * 404 / an open error in res. */
static int read_revision(struct svc_req *req, struct svc_result *res, struct db_conn *c,
                         int64_t rev, json_t **row, json_t **pairs)
{
    struct db_sealed sealed = { 0 };
    struct db_sealed *want = pairs != NULL ? &sealed : NULL;
    int r = rev == 0 ? db_credential_get(c, path_id(req), false, row, want)
                     : db_credential_get_revision(c, path_id(req), rev, row, want);

    if (r == CF_ENOTFOUND) {
        return svc_fail(res, SVC_NOT_FOUND,
                        rev == 0 ? "credential not found" : "credential revision not found");
    }
    if (r != 0)
        return svc_fail_err(res, r);
    int64_t opened = json_integer_value(json_object_get(*row, "revision"));
    if (pairs != NULL && (r = svc_open_pairs(req->ctx, path_id(req), opened, &sealed, pairs)) != 0)
        r = svc_fail(res, svc_open_error(r), NULL);
    db_sealed_free(&sealed);
    return r;
}

/* Reads the current row and its pairs into p, and the target revision `to` too unless 0;
 * checks expected_revision (-1: none). Reads through locked, a connection holding the write
 * lock, if not NULL. */
static int read_current(struct svc_req *req, struct svc_result *res, struct db_conn *locked,
                        int64_t expected, int64_t to, struct pending *p)
{
    struct db_conn *c = locked;
    int r;

    if (c == NULL && (r = svc_conn(req, res, &c)) != 0)
        return r;
    r = read_revision(req, res, c, 0, &p->cur, &p->cur_pairs);
    if (r == 0 && to > 0)
        r = read_revision(req, res, c, to, &p->old, &p->old_pairs);
    if (locked == NULL)
        db_release(req->ctx->pool, c);
    if (r != 0)
        return r;
    p->rev = json_integer_value(json_object_get(p->cur, "revision")) + 1;
    if (expected >= 0 && expected != p->rev - 1)
        return svc_fail_stale(res, p->rev - 1);
    return 0;
}

/* Commits p under the write lock, which locked already holds if not NULL (p was prepared
 * under it): MOVED (nothing written, nothing in res) when the row is no longer the one p was
 * made from and the caller may prepare again, else 0 or the failure in res. Ends the
 * transaction either way. */
static int commit_pending(struct svc_req *req, struct svc_result *res, struct db_conn *locked,
                          struct pending *p, bool may_retry)
{
    struct db_conn *c = locked;
    json_t *now = NULL, *row = NULL;
    int64_t moved_to = p->rev - 1;
    int r = 0;

    if (c == NULL) {
        if ((r = svc_tx_begin(req, res, &c)) != 0)
            return r;
        r = db_credential_get(c, path_id(req), true, &now, NULL);
        moved_to = r == 0 ? json_integer_value(json_object_get(now, "revision")) : 0;
        json_decref(now);
    }
    if (r == 0 && moved_to != p->rev - 1 && may_retry) {
        cf_log(CF_LOG_INFO, "credential moved while its write was prepared; preparing again",
               "{s:s, s:I, s:I}", "credential", path_id(req), "prepared_on",
               (json_int_t)(p->rev - 1), "now", (json_int_t)moved_to);
        int rolled = db_tx_end(c, CF_ECONFLICT);
        (void)rolled; /* CF_ECONFLICT: rolled back, or the connection is dropped on release */
        db_release(req->ctx->pool, c);
        return MOVED;
    }
    if (r == CF_ENOTFOUND) {
        r = svc_fail(res, SVC_NOT_FOUND, "credential not found");
    } else if (r != 0) {
        r = svc_fail_err(res, r);
    } else if (moved_to != p->rev - 1) {
        r = svc_fail_stale(res, moved_to);
    } else if ((!p->check_name || check_name_free(c, res, p->st.name, path_id(req)) == 0) &&
               check_conflicts(c, res, path_id(req), p->st.keys) == 0 &&
               write_revision(req, res, c, path_id(req), p->rev, &p->st, &p->sealed, &row) == 0) {
        json_t *pairs = p->show_pairs ? json_incref(p->st.pairs) : NULL;
        svc_ok(res, svc_credential_repr(row, pairs, all_perms(), false));
    }
    svc_tx_end(req, res, c, "credential", path_id(req));
    json_decref(row);
    return r;
}

/* Prepares a write of the path's credential into p, reading through locked if not NULL. */
typedef int (*prepare_fn)(struct svc_req *req, struct svc_result *res, struct db_conn *locked,
                          const void *arg, struct pending *p);

/* Prepares and commits a write of the path's credential, under the write lock on the last
 * attempt. */
static void write_credential(struct svc_req *req, struct svc_result *res, int64_t expected,
                             prepare_fn prepare, const void *arg)
{
    for (int attempt = 1;; attempt++) {
        struct pending p = { 0 };
        struct db_conn *locked = NULL;
        bool last = attempt == WRITE_ATTEMPTS;
        int r = last ? svc_tx_begin(req, res, &locked) : 0;

        if (r == 0)
            r = prepare(req, res, locked, arg, &p);
        if (r == 0) {
            r = commit_pending(req, res, locked, &p, expected < 0 && !last);
        } else {
            svc_tx_end(req, res, locked, "credential", path_id(req)); /* rolls back */
        }
        pending_free(&p);
        if (r != MOVED)
            return;
    }
}

static json_t *given_or(json_t *given, const json_t *row, const char *name)
{
    return given != NULL ? given : json_object_get(row, name);
}

/* The new state of an update: what the body gives, else what the current row holds. */
static void merge_update(const struct svc_cred_input *in, struct pending *p)
{
    const json_t *row = p->cur;

    p->st = (struct cred_state){
        .name = in->name != NULL ? in->name : cf_json_str(row, "name"),
        .enabled = in->has_enabled ? in->enabled : json_is_true(json_object_get(row, "enabled")),
        .metadata = given_or(in->metadata, row, "metadata"),
        .documentation =
            in->has_documentation ? in->documentation : cf_json_str(row, "documentation"),
        .tags = given_or(in->tags, row, "tags"),
        .pairs = in->pairs != NULL ? in->pairs : p->cur_pairs,
        .keys = given_or(in->keys, row, "credential_keys"),
        .last_rotation = cf_json_str(row, "last_rotation_date"),
        .rotated_now = in->pairs != NULL && !json_equal(in->pairs, p->cur_pairs),
    };
    p->check_name = in->name != NULL;
    p->show_pairs = true;
}

/* What an update needs besides the path. */
struct update_arg {
    const struct svc_cred_input *in;
    int64_t expected;
};

static int prepare_update(struct svc_req *req, struct svc_result *res, struct db_conn *locked,
                          const void *arg, struct pending *p)
{
    const struct update_arg *a = arg;
    int r = read_current(req, res, locked, a->expected, 0, p);

    if (r != 0)
        return r;
    merge_update(a->in, p);
    return seal_state(req, res, path_id(req), p->rev, &p->st, &p->sealed);
}

/* PUT /v1/credentials/{id} */
int svc_h_credential_update(struct svc_req *req)
{
    struct svc_result res = { 0 };
    struct svc_cred_input in = { 0 };
    json_t *body = NULL;
    int64_t expected;

    if (svc_require_admin(req, &res, path_id(req)) != 0 || check_id(req, &res) != 0 ||
        svc_body_json(req, &res, &body) != 0)
        goto out;
    if (body == NULL)
        body = json_object(); /* nothing given: a new revision equal to the current one */
    if (svc_cred_input_parse(body, false, &req->ctx->limits, &res, &in) != 0 ||
        svc_expected_revision(req, body, &res, &expected) != 0)
        goto out;
    struct update_arg a = { &in, expected };
    write_credential(req, &res, expected, prepare_update, &a);
out:
    json_decref(body);
    svc_cred_input_free(&in);
    return svc_finish(req, &res);
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

/* What a revert needs besides the path. */
struct revert_arg {
    int64_t to, expected;
};

/* Prepares a revert to revision `to` in p: 0, or the failure in res. */
static int prepare_revert(struct svc_req *req, struct svc_result *res, struct db_conn *locked,
                          const void *arg, struct pending *p)
{
    const struct revert_arg *a = arg;
    int r = read_current(req, res, locked, a->expected, a->to, p);

    if (r != 0)
        return r;
    if (same_content(p->old, p->old_pairs, p->cur, p->cur_pairs))
        return svc_fail(res, SVC_NO_CHANGE, NULL);
    const json_t *old = p->old;
    p->st = (struct cred_state){
        .name = cf_json_str(old, "name"),
        .enabled = json_is_true(json_object_get(old, "enabled")),
        .metadata = json_object_get(old, "metadata"),
        .documentation = cf_json_str(old, "documentation"),
        .tags = json_object_get(old, "tags"),
        .pairs = p->old_pairs,
        .keys = json_object_get(old, "credential_keys"),
        .last_rotation = cf_json_str(old, "last_rotation_date"),
    };
    p->check_name = true;
    return seal_state(req, res, path_id(req), p->rev, &p->st, &p->sealed);
}

/* PUT /v1/credentials/{id}/{to_revision} */
int svc_h_credential_revert(struct svc_req *req)
{
    struct svc_result res = { 0 };
    json_t *body = NULL;
    int64_t to, expected;

    if (svc_require_admin(req, &res, path_id(req)) != 0 || check_id(req, &res) != 0 ||
        svc_parse_revision(req->seg[3], &res, &to) != 0 || svc_body_json(req, &res, &body) != 0 ||
        svc_expected_revision(req, body, &res, &expected) != 0)
        goto out;
    struct revert_arg a = { to, expected };
    write_credential(req, &res, expected, prepare_revert, &a);
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
