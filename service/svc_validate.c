/*
 * svc_validate.c - API.md section 5: names, pairs, metadata, documentation, tags, ids.
 *
 * Error messages name the rule, never the value: a value may be a secret.
 */
#include "svc_validate.h"

#include <stdlib.h>
#include <string.h>

#include "cf_codec.h"
#include "cf_json.h"
#include "cf_mem.h"
#include "cf_str.h"

/* Code points in a UTF-8 string (jansson guarantees valid UTF-8). */
static size_t utf8_chars(const char *s)
{
    size_t n = 0;
    for (const unsigned char *p = (const unsigned char *)s; *p != '\0'; p++)
        n += (*p & 0xc0) != 0x80;
    return n;
}

/* True if s holds a control character: C0, DEL or C1 (U+0080..U+009F is 0xC2 0x80..0x9F). */
static bool has_control(const char *s)
{
    for (const unsigned char *p = (const unsigned char *)s; *p != '\0'; p++) {
        if (*p < 0x20 || *p == 0x7f || (*p == 0xc2 && p[1] >= 0x80 && p[1] <= 0x9f))
            return true;
    }
    return false;
}

static bool text_ok(const json_t *v, size_t max_chars)
{
    if (!json_is_string(v))
        return false;
    const char *s = json_string_value(v);
    size_t n = utf8_chars(s);
    return n >= 1 && n <= max_chars && !has_control(s);
}

bool svc_service_id_valid(const char *s)
{
    size_t n = strlen(s);
    if (n == 0 || n > 128)
        return false;
    for (size_t i = 0; i < n; i++) {
        char c = s[i];
        bool alnum = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9');
        if (!alnum && (i == 0 || strchr("_.@+=,-", c) == NULL))
            return false;
    }
    return true;
}

bool svc_credential_id_valid(const char *s)
{
    return cf_is_lower_hex(s, 32);
}

static bool key_name_ok(const char *k)
{
    size_t n = strlen(k);
    if (n == 0 || n > 128)
        return false;
    for (size_t i = 0; i < n; i++) {
        char c = k[i];
        bool ok = (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '_' ||
                  (i > 0 && (c == '.' || c == '-'));
        if (!ok)
            return false;
    }
    return true;
}

/* A copy of s with A-Z lowered (pair keys are lowered on write, as Confidant does). */
static char *ascii_lower(const char *s)
{
    char *d = cf_xstrdup(s);
    for (char *p = d; *p != '\0'; p++) {
        if (*p >= 'A' && *p <= 'Z')
            *p = (char)(*p - 'A' + 'a');
    }
    return d;
}

static int cmp_str(const void *a, const void *b)
{
    return strcmp(*(const char *const *)a, *(const char *const *)b);
}

json_t *svc_sorted_keys(json_t *obj)
{
    size_t n = json_object_size(obj), i = 0;
    const char **names = cf_xcalloc(n == 0 ? 1 : n, sizeof(*names));
    const char *key;
    json_t *v;

    json_object_foreach(obj, key, v) names[i++] = key;
    if (n > 1)
        qsort(names, n, sizeof(*names), cmp_str);
    json_t *arr = json_array();
    for (i = 0; i < n; i++)
        json_array_append_new(arr, json_string(names[i]));
    free(names);
    return arr;
}

int svc_pairs_serialise(const json_t *pairs, struct cf_buf *out)
{
    return cf_json_dump_buf(pairs, JSON_COMPACT | JSON_SORT_KEYS, out);
}

/* Validates credential_pairs into a new object with lowered keys. */
static int parse_pairs(json_t *v, const struct svc_limits *lim, struct svc_result *res,
                       json_t **out)
{
    const char *key;
    json_t *val;
    struct cf_buf canon = { 0 };

    *out = NULL;
    if (!json_is_object(v))
        return svc_fail(res, SVC_INVALID_CREDENTIAL_PAIRS, NULL);
    if (json_object_size(v) == 0)
        return svc_fail(res, SVC_EMPTY_CREDENTIAL_PAIRS, NULL);
    if (json_object_size(v) > lim->pairs)
        return svc_fail(res, SVC_LIMIT_EXCEEDED, "at most %zu credential pairs", lim->pairs);
    json_t *pairs = json_object();
    int r = 0;
    json_object_foreach(v, key, val)
    {
        char *lower = ascii_lower(key);
        if (!key_name_ok(lower)) {
            r = svc_fail(res, SVC_INVALID_KEY_NAME,
                         "pair keys must match ^[a-z0-9_][a-z0-9_.-]{0,127}$");
        } else if (json_object_get(pairs, lower) != NULL) {
            r = svc_fail(res, SVC_DUPLICATE_KEY, "two pair keys are equal after lowercasing");
        } else if (!json_is_string(val)) {
            r = svc_fail(res, SVC_INVALID_CREDENTIAL_PAIRS, "pair values must be strings");
        } else {
            json_object_set(pairs, lower, val);
        }
        free(lower);
        if (r != 0)
            break;
    }
    if (r == 0 && (svc_pairs_serialise(pairs, &canon) != 0 || canon.len > lim->credential_bytes)) {
        r = svc_fail(res, SVC_CREDENTIAL_TOO_LARGE, "the credential pairs exceed %zu bytes",
                     lim->credential_bytes);
    }
    cf_buf_free(&canon);
    if (r != 0) {
        json_decref(pairs);
        return r;
    }
    *out = pairs;
    return 0;
}

static int parse_metadata(json_t *v, struct svc_result *res)
{
    const char *key;
    json_t *val;
    size_t total = 0;

    if (!json_is_object(v) || json_object_size(v) > SVC_METADATA_MAX) {
        return svc_fail(res, SVC_INVALID_METADATA,
                        "metadata must be an object of at most %d string members",
                        SVC_METADATA_MAX);
    }
    json_object_foreach(v, key, val)
    {
        size_t kc = utf8_chars(key);
        if (kc < 1 || kc > SVC_METADATA_KEY_MAX || !json_is_string(val) ||
            json_string_length(val) > SVC_METADATA_VAL_MAX) {
            return svc_fail(res, SVC_INVALID_METADATA,
                            "metadata keys must have 1-128 characters and values be strings of "
                            "at most 4 KiB");
        }
        total += strlen(key) + json_string_length(val);
    }
    if (total > SVC_METADATA_ALL_MAX)
        return svc_fail(res, SVC_INVALID_METADATA, "metadata may hold at most 16 KiB");
    return 0;
}

/* Validates tags into a new array without repeats (first occurrence kept). */
static int parse_tags(json_t *v, struct svc_result *res, json_t **out)
{
    size_t i;
    json_t *t;

    *out = NULL;
    if (!json_is_array(v) || json_array_size(v) > SVC_TAGS_MAX) {
        return svc_fail(res, SVC_INVALID_TAGS, "tags must be an array of at most %d strings",
                        SVC_TAGS_MAX);
    }
    json_t *tags = json_array();
    json_array_foreach(v, i, t)
    {
        if (!text_ok(t, SVC_TAG_MAX)) {
            json_decref(tags);
            return svc_fail(res, SVC_INVALID_TAGS,
                            "tags must have 1-64 characters and no control characters");
        }
        bool seen = false;
        for (size_t k = 0; k < json_array_size(tags) && !seen; k++)
            seen = json_equal(json_array_get(tags, k), t);
        if (!seen)
            json_array_append(tags, t);
    }
    *out = tags;
    return 0;
}

static int parse_scalars(json_t *body, struct svc_result *res, struct svc_cred_input *in)
{
    json_t *name = json_object_get(body, "name");
    json_t *enabled = json_object_get(body, "enabled");
    json_t *doc = json_object_get(body, "documentation");

    if (name != NULL) {
        if (!text_ok(name, SVC_NAME_MAX)) {
            return svc_fail(res, SVC_INVALID_NAME,
                            "name must be a string of 1-256 characters without control "
                            "characters");
        }
        in->name = json_string_value(name);
    }
    if (enabled != NULL) {
        if (!json_is_boolean(enabled))
            return svc_fail(res, SVC_INVALID_REQUEST, "enabled must be a boolean");
        in->has_enabled = true;
        in->enabled = json_is_true(enabled);
    }
    if (doc != NULL) {
        if (!json_is_null(doc) && (!json_is_string(doc) || json_string_length(doc) > SVC_DOC_MAX)) {
            return svc_fail(res, SVC_INVALID_REQUEST,
                            "documentation must be null or a string of at most 16 KiB");
        }
        in->has_documentation = true;
        in->documentation = json_is_string(doc) ? json_string_value(doc) : NULL;
    }
    return 0;
}

int svc_cred_input_parse(json_t *body, bool create, const struct svc_limits *lim,
                         struct svc_result *res, struct svc_cred_input *in)
{
    json_t *pairs = json_object_get(body, "credential_pairs");
    json_t *metadata = json_object_get(body, "metadata");
    json_t *tags = json_object_get(body, "tags");
    int r;

    *in = (struct svc_cred_input){ 0 };
    if (create && json_object_get(body, "name") == NULL)
        return svc_fail(res, SVC_INVALID_NAME, "name is required");
    if (create && pairs == NULL)
        return svc_fail(res, SVC_EMPTY_CREDENTIAL_PAIRS, "credential_pairs is required");
    if ((r = parse_scalars(body, res, in)) != 0)
        return r;
    if (pairs != NULL) {
        if ((r = parse_pairs(pairs, lim, res, &in->pairs)) != 0)
            return r;
        in->keys = svc_sorted_keys(in->pairs);
    }
    if (metadata != NULL) {
        if ((r = parse_metadata(metadata, res)) != 0)
            goto fail;
        in->metadata = json_incref(metadata);
    }
    if (tags != NULL && (r = parse_tags(tags, res, &in->tags)) != 0)
        goto fail;
    return 0;
fail:
    svc_cred_input_free(in);
    return r;
}

void svc_cred_input_free(struct svc_cred_input *in)
{
    json_decref(in->pairs); /* through the zeroing allocator */
    json_decref(in->keys);
    json_decref(in->metadata);
    json_decref(in->tags);
    *in = (struct svc_cred_input){ 0 };
}

int svc_service_input_parse(json_t *body, const char *path_id, struct svc_result *res,
                            struct svc_service_input *in)
{
    json_t *id = json_object_get(body, "id"), *creds = json_object_get(body, "credentials");
    json_t *blind = json_object_get(body, "blind_credentials");
    json_t *enabled = json_object_get(body, "enabled"), *account = json_object_get(body, "account");
    size_t i;
    json_t *v;

    *in = (struct svc_service_input){ 0 };
    if (id != NULL && (!json_is_string(id) || strcmp(json_string_value(id), path_id) != 0))
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
    /* repeats are dropped through a set, so a body of many ids costs linear time */
    json_t *seen = json_object();
    in->credentials = json_array();
    json_array_foreach(creds, i, v)
    {
        if (!json_is_string(v)) {
            json_decref(seen);
            json_decref(in->credentials);
            in->credentials = NULL;
            return svc_fail(res, SVC_INVALID_REQUEST, "credentials must be an array of ids");
        }
        if (json_object_get(seen, json_string_value(v)) == NULL) {
            json_object_set_new(seen, json_string_value(v), json_true());
            json_array_append(in->credentials, v);
        }
    }
    json_decref(seen);
    return 0;
}
