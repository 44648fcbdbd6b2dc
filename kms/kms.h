/*
 * kms.h - one KMS interface, two backends: `aws` (AWS KMS JSON 1.1 over libcurl, SigV4 by
 * libcurl) and `local` (master keys in a key file, the same semantics).
 *
 * Every operation takes an encryption context, authenticated by the backend: decrypting with
 * another context fails as invalid ciphertext. Plaintexts come back in cf_secret buffers;
 * ciphertext blobs in kms_blob buffers. Errors are cf_err codes with these meanings:
 *   CF_ENOTFOUND    the key does not exist (NotFoundException)
 *   CF_EINTEGRITY   invalid ciphertext, wrong context or wrong key (InvalidCiphertextException,
 *                   IncorrectKeyException)
 *   CF_EDENIED      access denied or bad credentials (AccessDeniedException, a 403)
 *   CF_EKMS         any other refusal (DisabledException, KMSInvalidStateException, ...)
 *   CF_ETHROTTLED   throttled after every retry (ThrottlingException)
 *   CF_EUNAVAIL     unreachable, timed out or 5xx after every retry
 *   CF_EBADRESPONSE the answer could not be understood
 *   CF_EINVAL       bad arguments (an empty key id, too many context pairs)
 *   CF_ECONFIG      the aws credentials are configured but unusable (half a key pair, a
 *                   malformed shared file, an AWS_PROFILE no file defines)
 * No error ever carries secret bytes. All functions are thread-safe.
 */
#ifndef KMS_H
#define KMS_H

#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>

#include "cf_config.h"
#include "cf_err.h"
#include "cf_secret.h"
#include "cf_str.h"

#define KMS_KEY_ID_MAX    2048 /* AWS allows 2048 characters for a key id, alias or ARN */
#define KMS_CONTEXT_MAX   8    /* pairs in one encryption context */
#define KMS_DATA_KEY_LEN  32   /* AES-256 */
#define KMS_PLAINTEXT_MAX 4096 /* KMS Encrypt's limit */

/* An encryption context: borrowed strings, any order (backends canonicalise). */
struct kms_context {
    size_t n;
    struct {
        const char *key;
        const char *value;
    } pairs[KMS_CONTEXT_MAX];
};

/* A ciphertext blob (not secret): owned, free with kms_blob_free(). */
struct kms_blob {
    uint8_t *data;
    size_t len;
};

void kms_blob_free(struct kms_blob *b);

/* Adds a pair to ctx; CF_ETOOBIG past KMS_CONTEXT_MAX. */
CF_MUST_CHECK int kms_context_add(struct kms_context *ctx, const char *key, const char *value);

/* Appends the canonical JSON of ctx to out: members sorted by key in byte order, no
 * whitespace, minimal escaping (API.md 8.2 rules); "{}" when empty. */
void kms_context_canonical(const struct kms_context *ctx, struct cf_buf *out);

/* Counters of calls made to the KMS backend, by operation and result. */
enum kms_op { KMS_OP_GENERATE_DATA_KEY, KMS_OP_DECRYPT, KMS_OP_ENCRYPT, KMS_OP_DESCRIBE_KEY };
#define KMS_OP_COUNT 4

#define KMS_DURATION_BUCKETS 8 /* upper bounds 1, 5, 10, 50, 100, 500, 1000, 5000 ms; then more */

extern const int64_t kms_duration_bucket_ms[KMS_DURATION_BUCKETS];

struct kms_stats {
    uint64_t ok[KMS_OP_COUNT];
    uint64_t failed[KMS_OP_COUNT];
    uint64_t duration_us[KMS_OP_COUNT]; /* sum over every call */
    uint64_t duration_buckets[KMS_OP_COUNT]
                             [KMS_DURATION_BUCKETS + 1]; /* per bucket, not cumulative */
};

/* A backend: the four operations. Implementations: kms_local.c, kms_aws.c. */
struct kms_backend_ops {
    int (*generate_data_key)(void *impl, const char *key_id, const struct kms_context *ctx,
                             struct cf_secret *plain_out, struct kms_blob *blob_out,
                             char *key_arn_out, size_t key_arn_cap);
    int (*decrypt)(void *impl, const uint8_t *blob, size_t blob_len, const struct kms_context *ctx,
                   struct cf_secret *plain_out, char *key_arn_out, size_t key_arn_cap);
    int (*encrypt)(void *impl, const char *key_id, const uint8_t *plain, size_t plain_len,
                   const struct kms_context *ctx, struct kms_blob *blob_out, char *key_arn_out,
                   size_t key_arn_cap);
    int (*describe_key)(void *impl, const char *key_id, char *arn_out, size_t arn_cap);
    void (*destroy)(void *impl);
};

struct kms_client;

/* Creates the client named by cfg->kms_backend ("local": loads cfg->local_key_file; "aws":
 * region, endpoint and the credentials chain from the environment). CF_ECONFIG with a message
 * in err when the configuration cannot work. Free with kms_client_free(). */
CF_MUST_CHECK int kms_client_new(const struct cf_config *cfg, struct kms_client **out, char *err,
                                 size_t errcap);

/* Wraps a backend (used by kms_client_new() and by tests). Takes ownership of impl. */
struct kms_client *kms_client_wrap(const struct kms_backend_ops *ops, void *impl);

void kms_client_free(struct kms_client *k);

/* GenerateDataKey(KeyId = key_id, KeySpec = AES_256, EncryptionContext = ctx): a fresh
 * 32-byte key in plain_out, its blob in blob_out, and the key's ARN (local:key/<id> for the
 * local backend) in key_arn_out. */
CF_MUST_CHECK int kms_generate_data_key(struct kms_client *k, const char *key_id,
                                        const struct kms_context *ctx, struct cf_secret *plain_out,
                                        struct kms_blob *blob_out, char *key_arn_out,
                                        size_t key_arn_cap);

/* Decrypt(blob, ctx): the plaintext, and the ARN of the key KMS says it used. */
CF_MUST_CHECK int kms_decrypt(struct kms_client *k, const uint8_t *blob, size_t blob_len,
                              const struct kms_context *ctx, struct cf_secret *plain_out,
                              char *key_arn_out, size_t key_arn_cap);

/* Encrypt(key_id, plain, ctx): the blob and the key's ARN. plain_len <= KMS_PLAINTEXT_MAX. */
CF_MUST_CHECK int kms_encrypt(struct kms_client *k, const char *key_id, const uint8_t *plain,
                              size_t plain_len, const struct kms_context *ctx,
                              struct kms_blob *blob_out, char *key_arn_out, size_t key_arn_cap);

/* DescribeKey(key_id): the key's ARN (resolves aliases, alias ARNs and key ids). */
CF_MUST_CHECK int kms_describe_key(struct kms_client *k, const char *key_id, char *arn_out,
                                   size_t arn_cap);

/* A snapshot of the call counters. */
void kms_client_stats(struct kms_client *k, struct kms_stats *out);

#endif
