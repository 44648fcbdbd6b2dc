/*
 * svc_repr.c - representations, sealing and opening of pairs, diffs and key conflicts.
 */
#include "svc_repr.h"

#include <stdlib.h>
#include <string.h>

#include "cf_codec.h"
#include "cf_crypto.h"
#include "cf_json.h"
#include "cf_mem.h"
#include "cf_str.h"
#include "kms_envelope.h"
#include "svc_validate.h"

json_t *svc_perms(bool metadata, bool get, bool update, bool with_create, bool create)
{
    json_t *p = json_object();
    if (with_create)
        json_object_set_new(p, "create", json_boolean(create));
    json_object_set_new(p, "metadata", json_boolean(metadata));
    json_object_set_new(p, "get", json_boolean(get));
    json_object_set_new(p, "update", json_boolean(update));
    return p;
}

/* Copies member name of row into out (null when absent). */
static void copy(json_t *out, const json_t *row, const char *name)
{
    json_t *v = json_object_get(row, name);
    json_object_set_new(out, name, v != NULL ? json_deep_copy(v) : json_null());
}

static json_t *revision_id(const json_t *row)
{
    char buf[300];
    const char *id = cf_json_str(row, "id");
    json_int_t rev = json_integer_value(json_object_get(row, "revision"));
    if (id == NULL || cf_fmt(buf, sizeof(buf), "%s-%lld", id, (long long)rev) != 0)
        return json_null();
    return json_string(buf);
}

json_t *svc_credential_repr(const json_t *row, json_t *pairs, json_t *perms, bool revision_ids)
{
    json_t *o = json_object();

    json_object_set_new(
        o, "id", revision_ids ? revision_id(row) : json_deep_copy(json_object_get(row, "id")));
    copy(o, row, "name");
    copy(o, row, "revision");
    copy(o, row, "enabled");
    copy(o, row, "documentation");
    copy(o, row, "metadata");
    copy(o, row, "credential_keys");
    json_object_set_new(o, "credential_pairs", pairs != NULL ? pairs : json_object());
    copy(o, row, "tags");
    copy(o, row, "last_rotation_date");
    json_object_set_new(o, "next_rotation_date", json_null());
    copy(o, row, "modified_date");
    copy(o, row, "modified_by");
    json_object_set_new(o, "permissions", perms != NULL ? perms : json_object());
    return o;
}

static json_t *service_base(const json_t *row, bool revision_ids)
{
    json_t *o = json_object();
    json_object_set_new(
        o, "id", revision_ids ? revision_id(row) : json_deep_copy(json_object_get(row, "id")));
    copy(o, row, "account");
    copy(o, row, "enabled");
    copy(o, row, "revision");
    copy(o, row, "modified_date");
    copy(o, row, "modified_by");
    return o;
}

json_t *svc_service_item(const json_t *row, bool revision_ids)
{
    json_t *o = service_base(row, revision_ids);
    copy(o, row, "credentials");
    json_object_set_new(o, "blind_credentials", json_array());
    json_object_set_new(o, "permissions", json_object());
    return o;
}

json_t *svc_service_repr(const json_t *row, json_t *credentials, json_t *perms)
{
    json_t *o = service_base(row, false);
    json_object_set_new(o, "credentials", credentials);
    json_object_set_new(o, "blind_credentials", json_array());
    json_object_set_new(o, "permissions", perms);
    return o;
}

int svc_new_credential_id(char out[33])
{
    uint8_t b[16];
    int r = cf_rand_bytes(b, sizeof(b));
    if (r != 0)
        return r;
    b[6] = (uint8_t)((b[6] & 0x0f) | 0x40); /* UUID version 4, as Confidant's uuid4().hex */
    b[8] = (uint8_t)((b[8] & 0x3f) | 0x80);
    return cf_hex_encode(b, sizeof(b), out, 33);
}

int svc_seal_pairs(const struct svc_ctx *ctx, const char *id, int64_t revision, const json_t *pairs,
                   struct db_sealed *out)
{
    struct cf_buf plain = { 0 }; /* the pairs in clear: cleansed when freed */
    struct kms_sealed ks;
    int r;

    *out = (struct db_sealed){ 0 };
    if ((r = svc_pairs_serialise(pairs, &plain)) != 0)
        goto out;
    if ((r = kms_envelope_seal(ctx->kms, ctx->dkcache, ctx->master_key, id, revision,
                               (const uint8_t *)plain.data, plain.len, &ks)) != 0)
        goto out;
    out->version = ks.version;
    out->kms_key_id = cf_xstrdup(ks.kms_key_id);
    out->data_key = ks.data_key.data; /* moved */
    out->data_key_len = ks.data_key.len;
    out->nonce = cf_xmalloc(sizeof(ks.nonce));
    memcpy(out->nonce, ks.nonce, sizeof(ks.nonce));
    out->nonce_len = sizeof(ks.nonce);
    out->ciphertext = ks.ciphertext.data; /* moved */
    out->ciphertext_len = ks.ciphertext.len;
    r = 0;
out:
    cf_buf_free(&plain);
    return r;
}

int svc_open_pairs(const struct svc_ctx *ctx, const char *id, int64_t revision,
                   const struct db_sealed *sealed, json_t **pairs_out)
{
    struct kms_sealed ks = { .version = sealed->version }; /* a view: freed by the caller */
    struct cf_secret plain = { 0 };
    int r;

    *pairs_out = NULL;
    if (sealed->nonce_len != sizeof(ks.nonce))
        return CF_EINTEGRITY;
    memcpy(ks.nonce, sealed->nonce, sizeof(ks.nonce));
    ks.data_key = (struct kms_blob){ .data = sealed->data_key, .len = sealed->data_key_len };
    ks.ciphertext = (struct kms_blob){ .data = sealed->ciphertext, .len = sealed->ciphertext_len };
    if ((r = kms_envelope_open(ctx->kms, ctx->dkcache, id, revision, &ks, &plain)) != 0)
        return r;
    json_t *pairs = cf_json_parse(plain.data, plain.len, JSON_REJECT_DUPLICATES, NULL);
    cf_secret_free(&plain);
    if (!json_is_object(pairs)) {
        json_decref(pairs);
        return CF_EINTEGRITY; /* it opened, so this is not ours: a bug or a forged row */
    }
    *pairs_out = pairs;
    return 0;
}

enum svc_code svc_open_error(int err)
{
    if (err == CF_EINTEGRITY || err == CF_ENOTFOUND || err == CF_EKMS)
        return SVC_DECRYPTION_FAILED;
    return SVC_KMS_UNAVAILABLE;
}

/* --- diffs (API.md 3.6) --- */

static void diff_scalar(json_t *d, const char *name, const json_t *old, const json_t *new_row)
{
    json_t *o = json_object_get(old, name), *n = json_object_get(new_row, name);
    if (o == NULL)
        o = json_null();
    if (n == NULL)
        n = json_null();
    json_object_set_new(d, name, json_pack("{s:O, s:O}", "added", n, "removed", o));
}

static void diff_scalar_if_changed(json_t *d, const char *name, const json_t *old,
                                   const json_t *new_row)
{
    if (!json_equal(json_object_get(old, name), json_object_get(new_row, name)))
        diff_scalar(d, name, old, new_row);
}

static bool array_has(const json_t *arr, const json_t *v)
{
    size_t i;
    json_t *x;
    json_array_foreach(arr, i, x)
    {
        if (json_equal(x, v))
            return true;
    }
    return false;
}

static int cmp_json_str(const void *a, const void *b)
{
    return strcmp(json_string_value(*(json_t *const *)a), json_string_value(*(json_t *const *)b));
}

/* Sorts an array of strings in place. */
static void sort_strings(json_t *arr)
{
    size_t n = json_array_size(arr);
    json_t **items = cf_xcalloc(n == 0 ? 1 : n, sizeof(json_t *));
    for (size_t i = 0; i < n; i++)
        items[i] = json_incref(json_array_get(arr, i));
    if (n > 1)
        qsort(items, n, sizeof(json_t *), cmp_json_str);
    json_array_clear(arr);
    for (size_t i = 0; i < n; i++)
        json_array_append_new(arr, items[i]);
    free(items);
}

/* {"added", "removed"} of two key lists; NULL when equal. Empty sides are left out. */
static json_t *set_diff(json_t *added, json_t *removed)
{
    sort_strings(added);
    sort_strings(removed);
    if (json_array_size(added) == 0 && json_array_size(removed) == 0) {
        json_decref(added);
        json_decref(removed);
        return NULL;
    }
    json_t *d = json_object();
    if (json_array_size(added) > 0)
        json_object_set(d, "added", added);
    if (json_array_size(removed) > 0)
        json_object_set(d, "removed", removed);
    json_decref(added);
    json_decref(removed);
    return d;
}

/* Arrays: members of one not in the other. */
static json_t *array_set_diff(const json_t *old, const json_t *new_arr)
{
    json_t *added = json_array(), *removed = json_array();
    size_t i;
    json_t *v;
    json_array_foreach(new_arr, i, v)
    {
        if (!array_has(old, v) && !array_has(added, v))
            json_array_append(added, v);
    }
    json_array_foreach(old, i, v)
    {
        if (!array_has(new_arr, v) && !array_has(removed, v))
            json_array_append(removed, v);
    }
    return set_diff(added, removed);
}

/* Objects: a key added, removed, or whose value changed (then on both sides). */
static json_t *object_key_diff(json_t *old, json_t *new_obj)
{
    json_t *added = json_array(), *removed = json_array();
    const char *k;
    json_t *v;
    json_object_foreach(new_obj, k, v)
    {
        json_t *o = json_object_get(old, k);
        if (o == NULL || !json_equal(o, v))
            json_array_append_new(added, json_string(k));
        if (o != NULL && !json_equal(o, v))
            json_array_append_new(removed, json_string(k));
    }
    json_object_foreach(old, k, v)
    {
        if (json_object_get(new_obj, k) == NULL)
            json_array_append_new(removed, json_string(k));
    }
    return set_diff(added, removed);
}

static void put_diff(json_t *d, const char *name, json_t *diff)
{
    if (diff != NULL)
        json_object_set_new(d, name, diff);
}

/* Orders two rows by revision: *old_out the lower one. */
static void order_rows(const json_t **a, const json_t **b)
{
    if (json_integer_value(json_object_get(*a, "revision")) >
        json_integer_value(json_object_get(*b, "revision"))) {
        const json_t *t = *a;
        *a = *b;
        *b = t;
    }
}

json_t *svc_diff_credentials(const json_t *a, json_t *pairs_a, const json_t *b, json_t *pairs_b)
{
    json_t *d = json_object();

    if (json_equal(json_object_get(a, "revision"), json_object_get(b, "revision")))
        return d;
    bool swap = json_integer_value(json_object_get(a, "revision")) >
                json_integer_value(json_object_get(b, "revision"));
    const json_t *old = swap ? b : a, *new_row = swap ? a : b;
    json_t *old_pairs = swap ? pairs_b : pairs_a;
    json_t *new_pairs = swap ? pairs_a : pairs_b;
    diff_scalar_if_changed(d, "name", old, new_row);
    diff_scalar_if_changed(d, "enabled", old, new_row);
    diff_scalar_if_changed(d, "documentation", old, new_row);
    diff_scalar_if_changed(d, "last_rotation_date", old, new_row);
    if (old_pairs != NULL && new_pairs != NULL)
        put_diff(d, "credential_pairs", object_key_diff(old_pairs, new_pairs));
    put_diff(
        d, "metadata",
        object_key_diff(json_object_get(old, "metadata"), json_object_get(new_row, "metadata")));
    put_diff(d, "tags",
             array_set_diff(json_object_get(old, "tags"), json_object_get(new_row, "tags")));
    diff_scalar(d, "modified_by", old, new_row);
    diff_scalar(d, "modified_date", old, new_row);
    return d;
}

json_t *svc_diff_services(const json_t *a, const json_t *b)
{
    json_t *d = json_object();

    if (json_equal(json_object_get(a, "revision"), json_object_get(b, "revision")))
        return d;
    order_rows(&a, &b);
    diff_scalar_if_changed(d, "enabled", a, b);
    diff_scalar_if_changed(d, "account", a, b);
    put_diff(d, "credentials",
             array_set_diff(json_object_get(a, "credentials"), json_object_get(b, "credentials")));
    diff_scalar(d, "modified_by", a, b);
    diff_scalar(d, "modified_date", a, b);
    return d;
}

/* --- key conflicts (API.md 3.5) --- */

/* Adds v to the string array member name of obj (created on demand), once. */
static void add_unique(json_t *obj, const char *name, const char *v)
{
    json_t *arr = json_object_get(obj, name);
    json_t *s = json_string(v);
    if (arr == NULL) {
        arr = json_array();
        json_object_set_new(obj, name, arr);
    }
    if (!array_has(arr, s))
        json_array_append(arr, s);
    json_decref(s);
}

/* Sorts every array member of every conflict; NULL for an empty object. */
static json_t *finish_conflicts(json_t *c)
{
    const char *k, *m;
    json_t *v, *arr;

    if (json_object_size(c) == 0) {
        json_decref(c);
        return NULL;
    }
    json_object_foreach(c, k, v)
    {
        json_object_foreach(v, m, arr) sort_strings(arr);
    }
    return c;
}

json_t *svc_service_conflicts(json_t *keys_by_id)
{
    json_t *owners = json_object(); /* key -> [credential ids having it] */
    json_t *conflicts = json_object();
    const char *id, *key;
    json_t *keys, *ids, *k;
    size_t i;

    json_object_foreach(keys_by_id, id, keys)
    {
        json_array_foreach(keys, i, k) add_unique(owners, json_string_value(k), id);
    }
    json_object_foreach(owners, key, ids)
    {
        if (json_array_size(ids) < 2)
            continue;
        json_t *entry = json_pack("{s:O, s:[]}", "credentials", ids, "blind_credentials");
        json_object_set_new(conflicts, key, entry);
    }
    json_decref(owners);
    return finish_conflicts(conflicts);
}

json_t *svc_credential_conflicts(json_t *keys, json_t *neighbours)
{
    json_t *conflicts = json_object();
    size_t i, j;
    json_t *n, *k;

    json_array_foreach(neighbours, i, n)
    {
        json_t *their = json_object_get(n, "credential_keys");
        json_array_foreach(keys, j, k)
        {
            if (!array_has(their, k))
                continue;
            json_t *entry = json_object_get(conflicts, json_string_value(k));
            if (entry == NULL) {
                entry = json_object();
                json_object_set_new(conflicts, json_string_value(k), entry);
            }
            add_unique(entry, "credentials", cf_json_str(n, "credential_id"));
            add_unique(entry, "services", cf_json_str(n, "service_id"));
        }
    }
    return finish_conflicts(conflicts);
}
