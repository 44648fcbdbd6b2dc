/*
 * fuzz_request_body.c - request bodies of the credentials and services API (API.md 4.2, 4.3,
 * 5): the JSON parse of svc_body_json, then svc_cred_input_parse, svc_expected_revision and
 * the id checks.
 *
 * The first byte picks the request (modulo 3): 0 POST /v1/credentials (create), 1 PUT
 * /v1/credentials/<id> (update), 2 PUT /v1/services/<id>; the rest is the body. svc_body_json
 * reads from a connection, so its parse is repeated here with the same flags and the same
 * refusals (not an object, U+0000 in a string). A service body goes through
 * svc_service_input_parse, its ids through svc_service_id_valid and svc_credential_id_valid.
 * Properties (beside ASan and LSan): a refusal is a 4xx with its code's status; an accepted
 * credential has 1-100 pairs whose keys are the body's keys lowered, valid key names and
 * string values, keys listing them sorted, and pairs that svc_pairs_serialise writes within
 * SVC_CREDENTIAL_MAX as JSON that parses back to the same object; create has a name; an
 * accepted service body keeps the body's string ids once each, in first-seen order.
 */
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "cf_json.h"
#include "cf_mem.h"
#include "cf_str.h"
#include "svc.h"
#include "svc_api.h"
#include "svc_validate.h"

#define REQ_CREATE   0
#define REQ_UPDATE   1
#define REQ_SERVICE  2
#define FUZZ_SERVICE "web-production" /* the service the PUT path names */

int LLVMFuzzerInitialize(int *argc, char ***argv);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
    (void)argc;
    (void)argv;
    cf_json_init();
    return 0;
}

/* True if any string below v holds U+0000 (svc_body_json refuses those bodies). Recursive,
 * unlike svc_api.c's walk: jansson caps nesting at 2048 levels and this runs on the main
 * thread's stack, not a worker's. */
static bool has_nul(json_t *v)
{
    const char *key;
    json_t *child;
    size_t i;

    if (json_is_string(v))
        return strlen(json_string_value(v)) != json_string_length(v);
    json_object_foreach(v, key, child)
    {
        if (has_nul(child))
            return true;
    }
    json_array_foreach(v, i, child)
    {
        if (has_nul(child))
            return true;
    }
    return false;
}

/* The body as svc_body_json makes it: an object, or NULL when it would refuse the body. */
static json_t *load_body(const uint8_t *data, size_t size)
{
    json_error_t jerr;
    json_t *v = json_loadb((const char *)data, size,
                           JSON_REJECT_DUPLICATES | JSON_ALLOW_NUL | JSON_DECODE_ANY, &jerr);

    if (v != NULL && (!json_is_object(v) || has_nul(v))) {
        json_decref(v);
        v = NULL;
    }
    return v;
}

/* A refusal: a 4xx whose status is its code's, and nothing to send but the error. */
static void check_refusal(const struct svc_result *res)
{
    if (res->status < 400 || res->status > 499 || res->code >= SVC_CODE_COUNT ||
        svc_code_status(res->code) != res->status || res->body != NULL)
        abort();
}

static bool is_lower(const char *s)
{
    for (; *s != '\0'; s++) {
        if (*s >= 'A' && *s <= 'Z')
            return false;
    }
    return true;
}

/* ^[a-z0-9_][a-z0-9_.-]{0,127}$ (API.md 5) */
static bool key_name_valid(const char *k)
{
    size_t n = strlen(k);

    if (n == 0 || n > 128)
        return false;
    for (size_t i = 0; i < n; i++) {
        char c = k[i];
        if (!((c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '_' ||
              (i > 0 && (c == '.' || c == '-'))))
            return false;
    }
    return true;
}

/* The pairs of an accepted body: each of the body's pairs under its lowered key, nothing
 * else, each key valid, each value a string. */
static void check_pairs(json_t *given, json_t *pairs)
{
    const char *key;
    json_t *v;

    if (!json_is_object(pairs) || json_object_size(pairs) == 0 ||
        json_object_size(pairs) > SVC_PAIRS_MAX ||
        json_object_size(pairs) != json_object_size(given))
        abort();
    json_object_foreach(pairs, key, v)
    {
        if (!is_lower(key) || !key_name_valid(key) || !json_is_string(v))
            abort();
    }
    json_object_foreach(given, key, v)
    {
        char *lower = cf_xstrdup(key);
        for (char *p = lower; *p != '\0'; p++) {
            if (*p >= 'A' && *p <= 'Z')
                *p = (char)(*p - 'A' + 'a'); /* a-z: fits a char */
        }
        if (!json_equal(json_object_get(pairs, lower), v))
            abort();
        free(lower);
    }
}

/* keys: the pair keys as an array of strings in strcmp order. */
static void check_keys(const json_t *pairs, const json_t *keys)
{
    size_t i;
    json_t *k;
    const char *prev = NULL;

    if (!json_is_array(keys) || json_array_size(keys) != json_object_size(pairs))
        abort();
    json_array_foreach(keys, i, k)
    {
        const char *s = json_string_value(k);
        if (s == NULL || json_object_get(pairs, s) == NULL ||
            (prev != NULL && strcmp(prev, s) >= 0))
            abort();
        prev = s;
    }
}

/* What is sealed: compact JSON within SVC_CREDENTIAL_MAX that parses back to the pairs. */
static void check_serialised(const json_t *pairs)
{
    struct cf_buf out = { 0 };
    json_error_t jerr;

    if (svc_pairs_serialise(pairs, &out) != 0 || out.len > SVC_CREDENTIAL_MAX)
        abort();
    json_t *back = json_loadb(out.data, out.len, JSON_REJECT_DUPLICATES, &jerr);
    if (!json_is_object(back) || !json_equal(back, pairs))
        abort();
    json_decref(back);
    cf_buf_free(&out);
}

static void check_accepted(const json_t *body, bool create, const struct svc_cred_input *in)
{
    json_t *given = json_object_get(body, "credential_pairs");

    if (create && (in->name == NULL || in->pairs == NULL))
        abort();
    if ((given == NULL) != (in->pairs == NULL) || (in->pairs == NULL) != (in->keys == NULL))
        abort();
    if (in->pairs != NULL) {
        check_pairs(given, in->pairs);
        check_keys(in->pairs, in->keys);
        check_serialised(in->pairs);
    }
    if (in->metadata != NULL && !json_is_object(in->metadata))
        abort();
    if (in->tags != NULL && (!json_is_array(in->tags) || json_array_size(in->tags) > SVC_TAGS_MAX))
        abort();
}

static void fuzz_credential(json_t *body, bool create)
{
    struct svc_result res = { 0 };
    struct svc_cred_input in;

    const struct svc_limits lim = SVC_LIMITS_DEFAULT;
    if (svc_cred_input_parse(body, create, &lim, &res, &in) == 0) {
        check_accepted(body, create, &in);
    } else {
        check_refusal(&res);
    }
    svc_cred_input_free(&in); /* as the handlers do, after success or failure */
    json_decref(res.extra);
    json_decref(res.body);
}

/* expected_revision: absent gives -1, else a non-negative integer or a 400 invalid_request.
 * With a body, svc_expected_revision never looks at the request. */
static void fuzz_expected_revision(const json_t *body)
{
    struct svc_result res = { 0 };
    int64_t rev = 0;

    if (svc_expected_revision(NULL, body, &res, &rev) == 0) {
        if (rev < -1 || (rev == -1) != (json_object_get(body, "expected_revision") == NULL))
            abort();
    } else {
        check_refusal(&res);
        if (res.code != SVC_INVALID_REQUEST)
            abort();
    }
    json_decref(res.extra);
    json_decref(res.body);
}

/* A service PUT body for FUZZ_SERVICE: refused as a 4xx, or its credentials are the body's
 * string ids with repeats dropped, in first-seen order; and a credential id is exactly 32
 * lowercase hex characters. */
static void fuzz_service(json_t *body)
{
    const json_t *id = json_object_get(body, "id"), *creds = json_object_get(body, "credentials");
    struct svc_result res = { 0 };
    struct svc_service_input in;
    size_t i, next = 0;
    json_t *v;

    if (json_is_string(id) && svc_service_id_valid(json_string_value(id)) &&
        (json_string_length(id) == 0 || json_string_length(id) > 128))
        abort();
    if (svc_service_input_parse(body, FUZZ_SERVICE, &res, &in) != 0) {
        check_refusal(&res);
        if (in.credentials != NULL)
            abort(); /* a refusal keeps nothing */
        json_decref(res.extra);
        return;
    }
    if ((creds == NULL) != (in.credentials == NULL) ||
        in.has_enabled != (json_object_get(body, "enabled") != NULL))
        abort();
    json_array_foreach(creds, i, v)
    {
        const char *s = json_string_value(v);
        if (s == NULL)
            abort(); /* accepted with an id that is not a string */
        if (svc_credential_id_valid(s) && (strlen(s) != 32 || strspn(s, "0123456789abcdef") != 32))
            abort();
        if (json_array_size(creds) > 1000)
            continue; /* the quadratic check below is for bodies of a sane size */
        bool earlier = false;
        for (size_t k = 0; k < i && !earlier; k++)
            earlier = json_equal(json_array_get(creds, k), v);
        if (earlier)
            continue;
        if (!json_equal(json_array_get(in.credentials, next++), v))
            abort(); /* not the body's first occurrences, in order */
    }
    if (in.credentials != NULL && json_array_size(creds) <= 1000 &&
        next != json_array_size(in.credentials))
        abort();
    json_decref(in.credentials);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size == 0)
        return 0;
    json_t *body = load_body(data + 1, size - 1);
    if (body == NULL)
        return 0;
    switch (data[0] % 3) {
    case REQ_CREATE:
        fuzz_credential(body, true);
        break;
    case REQ_UPDATE:
        fuzz_credential(body, false);
        break;
    case REQ_SERVICE:
        fuzz_service(body);
        break;
    }
    fuzz_expected_revision(body);
    json_decref(body);
    return 0;
}
