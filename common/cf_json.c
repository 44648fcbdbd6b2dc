/* cf_json.c - jansson with a zeroing allocator, and helpers. */
#include "cf_json.h"

#include <stdalign.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/crypto.h>

#include "cf_mem.h"

/* jansson's free hook gets no size, so each block carries it in a max_align_t-wide header. */
#define CF_JSON_HDR alignof(max_align_t)

static void *cf_json_malloc(size_t n)
{
    if (n > SIZE_MAX - CF_JSON_HDR)
        return NULL;
    unsigned char *p = cf_xmalloc(n + CF_JSON_HDR);
    memcpy(p, &n, sizeof(n));
    return p + CF_JSON_HDR;
}

static void cf_json_free(void *ptr)
{
    if (ptr == NULL)
        return;
    unsigned char *p = (unsigned char *)ptr - CF_JSON_HDR;
    size_t n;
    memcpy(&n, p, sizeof(n));
    OPENSSL_cleanse(p, n + CF_JSON_HDR);
    free(p);
}

/* Set once by cf_json_init(), before threads start; read-only afterwards. */
static bool json_alloc_installed;

void cf_json_init(void)
{
    json_set_alloc_funcs(cf_json_malloc, cf_json_free);
    json_object_seed(0);
    json_alloc_installed = true;
}

void cf_json_free_str(char *s)
{
    if (json_alloc_installed) {
        cf_json_free(s);
    } else {
        free(s); /* jansson used plain malloc: cf_json_init() was never called */
    }
}

static int dump_cb(const char *buffer, size_t size, void *data)
{
    cf_buf_append(data, buffer, size);
    return 0;
}

int cf_json_dump_buf(const json_t *v, size_t flags, struct cf_buf *b)
{
    if (json_dump_callback(v, dump_cb, b, flags) != 0)
        return CF_EINVAL;
    if (b->data == NULL)
        cf_buf_append(b, "", 0);
    return 0;
}

bool cf_json_depth_ok(const void *buf, size_t len, size_t max_depth)
{
    const unsigned char *p = buf;
    size_t depth = 0;
    bool in_string = false;

    for (size_t i = 0; i < len; i++) {
        unsigned char c = p[i];
        if (in_string) {
            if (c == '\\') {
                i++; /* the escaped byte cannot end the string */
            } else if (c == '"') {
                in_string = false;
            }
        } else if (c == '"') {
            in_string = true;
        } else if (c == '[' || c == '{') {
            if (++depth > max_depth)
                return false;
        } else if ((c == ']' || c == '}') && depth > 0) {
            depth--;
        }
    }
    return true;
}

json_t *cf_json_parse(const void *buf, size_t len, size_t flags, enum cf_json_error *why_out)
{
    enum cf_json_error why = CF_JSON_OK;
    json_error_t jerr;
    json_t *v = NULL;

    if (buf == NULL) {
        why = CF_JSON_INVALID;
    } else if (!cf_json_depth_ok(buf, len, CF_JSON_MAX_DEPTH)) {
        why = CF_JSON_TOO_DEEP;
    } else if ((v = json_loadb(buf, len, flags, &jerr)) == NULL) {
        why = json_error_code(&jerr) == json_error_null_byte_in_key ? CF_JSON_NUL_IN_KEY
                                                                    : CF_JSON_INVALID;
        OPENSSL_cleanse(&jerr, sizeof(jerr)); /* its text may quote the input */
    }
    if (why_out != NULL)
        *why_out = why;
    return v;
}

const char *cf_json_str(const json_t *obj, const char *key)
{
    const json_t *v = json_object_get(obj, key);
    return json_is_string(v) ? json_string_value(v) : NULL;
}
