/*
 * kms_client.c - the KMS interface: dispatch to the configured backend, call counters, and
 * encryption contexts.
 */
#include <stdlib.h>
#include <string.h>

#include "cf_mem.h"
#include "cf_time.h"
#include "kms.h"

struct kms_client {
    const struct kms_backend_ops *ops;
    void *impl;
    _Atomic uint64_t ok[KMS_OP_COUNT];     /* relaxed counters */
    _Atomic uint64_t failed[KMS_OP_COUNT]; /* relaxed counters */
    _Atomic uint64_t duration_us[KMS_OP_COUNT];
    _Atomic uint64_t buckets[KMS_OP_COUNT][KMS_DURATION_BUCKETS + 1];
};

void kms_blob_free(struct kms_blob *b)
{
    if (b == NULL)
        return;
    free(b->data);
    *b = (struct kms_blob){ 0 };
}

int kms_context_add(struct kms_context *ctx, const char *key, const char *value)
{
    if (ctx->n >= KMS_CONTEXT_MAX)
        return CF_ETOOBIG;
    ctx->pairs[ctx->n].key = key;
    ctx->pairs[ctx->n].value = value;
    ctx->n++;
    return 0;
}

/* Minimal JSON escaping, as the access log's canonical rows (API.md 8.2). */
static void put_json_string(struct cf_buf *b, const char *s)
{
    static const char hex[] = "0123456789abcdef";

    cf_buf_append_char(b, '"');
    for (const unsigned char *p = (const unsigned char *)s; *p != '\0'; p++) {
        const char *esc = NULL;
        switch (*p) {
        case '"':
            esc = "\\\"";
            break;
        case '\\':
            esc = "\\\\";
            break;
        case '\b':
            esc = "\\b";
            break;
        case '\f':
            esc = "\\f";
            break;
        case '\n':
            esc = "\\n";
            break;
        case '\r':
            esc = "\\r";
            break;
        case '\t':
            esc = "\\t";
            break;
        default:
            break;
        }
        if (esc != NULL) {
            cf_buf_append_str(b, esc);
        } else if (*p < 0x20) {
            char u[7] = { '\\', 'u', '0', '0', hex[*p >> 4], hex[*p & 15], '\0' };
            cf_buf_append_str(b, u);
        } else {
            cf_buf_append_char(b, (char)*p);
        }
    }
    cf_buf_append_char(b, '"');
}

void kms_context_canonical(const struct kms_context *ctx, struct cf_buf *out)
{
    size_t order[KMS_CONTEXT_MAX];
    size_t n = ctx->n < KMS_CONTEXT_MAX ? ctx->n : KMS_CONTEXT_MAX;

    for (size_t i = 0; i < n; i++)
        order[i] = i;
    for (size_t i = 1; i < n; i++) { /* insertion sort: at most 8 pairs */
        for (size_t j = i;
             j > 0 && strcmp(ctx->pairs[order[j - 1]].key, ctx->pairs[order[j]].key) > 0; j--) {
            size_t t = order[j];
            order[j] = order[j - 1];
            order[j - 1] = t;
        }
    }
    cf_buf_append_char(out, '{');
    for (size_t i = 0; i < n; i++) {
        if (i > 0)
            cf_buf_append_char(out, ',');
        put_json_string(out, ctx->pairs[order[i]].key);
        cf_buf_append_char(out, ':');
        put_json_string(out, ctx->pairs[order[i]].value);
    }
    cf_buf_append_char(out, '}');
}

struct kms_client *kms_client_wrap(const struct kms_backend_ops *ops, void *impl)
{
    struct kms_client *k = cf_xcalloc(1, sizeof(*k));
    k->ops = ops;
    k->impl = impl;
    return k;
}

void kms_client_free(struct kms_client *k)
{
    if (k == NULL)
        return;
    if (k->ops->destroy != NULL)
        k->ops->destroy(k->impl);
    free(k);
}

const int64_t kms_duration_bucket_ms[KMS_DURATION_BUCKETS] = { 1, 5, 10, 50, 100, 500, 1000, 5000 };

/* Counts a finished call and its duration (start from cf_mono_us()). */
static int count(struct kms_client *k, enum kms_op op, int r, int64_t start_us)
{
    int64_t us = cf_mono_us() - start_us;
    size_t b = 0;

    while (b < KMS_DURATION_BUCKETS && us > kms_duration_bucket_ms[b] * 1000)
        b++;
    atomic_fetch_add_explicit(&k->buckets[op][b], 1, memory_order_relaxed);
    atomic_fetch_add_explicit(&k->duration_us[op], (uint64_t)(us > 0 ? us : 0),
                              memory_order_relaxed);
    if (r == 0) {
        atomic_fetch_add_explicit(&k->ok[op], 1, memory_order_relaxed);
    } else {
        atomic_fetch_add_explicit(&k->failed[op], 1, memory_order_relaxed);
    }
    return r;
}

int kms_generate_data_key(struct kms_client *k, const char *key_id, const struct kms_context *ctx,
                          struct cf_secret *plain_out, struct kms_blob *blob_out, char *key_arn_out,
                          size_t key_arn_cap)
{
    *plain_out = (struct cf_secret){ 0 };
    *blob_out = (struct kms_blob){ 0 };
    if (key_id == NULL || *key_id == '\0' || strlen(key_id) > KMS_KEY_ID_MAX)
        return CF_EINVAL;
    int64_t start = cf_mono_us();
    int r = k->ops->generate_data_key(k->impl, key_id, ctx, plain_out, blob_out, key_arn_out,
                                      key_arn_cap);
    return count(k, KMS_OP_GENERATE_DATA_KEY, r, start);
}

int kms_decrypt(struct kms_client *k, const uint8_t *blob, size_t blob_len,
                const struct kms_context *ctx, struct cf_secret *plain_out, char *key_arn_out,
                size_t key_arn_cap)
{
    *plain_out = (struct cf_secret){ 0 };
    if (blob == NULL || blob_len == 0)
        return CF_EINTEGRITY;
    int64_t start = cf_mono_us();
    int r = k->ops->decrypt(k->impl, blob, blob_len, ctx, plain_out, key_arn_out, key_arn_cap);
    return count(k, KMS_OP_DECRYPT, r, start);
}

int kms_encrypt(struct kms_client *k, const char *key_id, const uint8_t *plain, size_t plain_len,
                const struct kms_context *ctx, struct kms_blob *blob_out, char *key_arn_out,
                size_t key_arn_cap)
{
    *blob_out = (struct kms_blob){ 0 };
    if (key_id == NULL || *key_id == '\0' || strlen(key_id) > KMS_KEY_ID_MAX)
        return CF_EINVAL;
    if (plain_len == 0 || plain_len > KMS_PLAINTEXT_MAX)
        return CF_ETOOBIG;
    int64_t start = cf_mono_us();
    int r =
        k->ops->encrypt(k->impl, key_id, plain, plain_len, ctx, blob_out, key_arn_out, key_arn_cap);
    return count(k, KMS_OP_ENCRYPT, r, start);
}

int kms_describe_key(struct kms_client *k, const char *key_id, char *arn_out, size_t arn_cap)
{
    if (key_id == NULL || *key_id == '\0' || strlen(key_id) > KMS_KEY_ID_MAX)
        return CF_EINVAL;
    int64_t start = cf_mono_us();
    int r = k->ops->describe_key(k->impl, key_id, arn_out, arn_cap);
    return count(k, KMS_OP_DESCRIBE_KEY, r, start);
}

void kms_client_stats(struct kms_client *k, struct kms_stats *out)
{
    for (size_t i = 0; i < KMS_OP_COUNT; i++) {
        out->ok[i] = atomic_load_explicit(&k->ok[i], memory_order_relaxed);
        out->failed[i] = atomic_load_explicit(&k->failed[i], memory_order_relaxed);
        out->duration_us[i] = atomic_load_explicit(&k->duration_us[i], memory_order_relaxed);
        for (size_t b = 0; b <= KMS_DURATION_BUCKETS; b++) {
            out->duration_buckets[i][b] =
                atomic_load_explicit(&k->buckets[i][b], memory_order_relaxed);
        }
    }
}
