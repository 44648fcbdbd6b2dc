/* kms_envelope.c - sealing and opening credential revisions under KMS data keys. */
#include "kms_envelope.h"

#include <stdlib.h>
#include <string.h>

#include <openssl/crypto.h>

#include "cf_crypto.h"
#include "cf_mem.h"
#include "cf_str.h"

#define AAD_MAGIC     "CFE1"
#define AAD_MAGIC_LEN 4

void kms_sealed_free(struct kms_sealed *s)
{
    if (s == NULL)
        return;
    kms_blob_free(&s->data_key);
    kms_blob_free(&s->ciphertext);
    *s = (struct kms_sealed){ 0 };
}

/* AAD = "CFE1" || version || len(id) || id || revision (4 bytes, big-endian). */
static int build_aad(int version, const char *id, int64_t revision, uint8_t *aad, size_t *len)
{
    size_t idlen = strlen(id);

    if (idlen == 0 || idlen > KMS_ENVELOPE_ID_MAX || revision < 1 || revision > UINT32_MAX ||
        version < 1 || version > 255)
        return CF_EINVAL;
    /* aad is bytes, not a C string: no NUL belongs after the magic or the id */
    // NOLINTNEXTLINE(bugprone-not-null-terminated-result): a byte buffer, not a C string
    memcpy(aad, AAD_MAGIC, AAD_MAGIC_LEN);
    aad[4] = (uint8_t)version;
    aad[5] = (uint8_t)idlen;
    // NOLINTNEXTLINE(bugprone-not-null-terminated-result): a byte buffer, not a C string
    memcpy(aad + 6, id, idlen);
    for (size_t i = 0; i < 4; i++)
        aad[6 + idlen + i] = (uint8_t)((uint64_t)revision >> (24 - 8 * i));
    *len = 6 + idlen + 4;
    return 0;
}

static int id_context(const char *credential_id, struct kms_context *ctx)
{
    *ctx = (struct kms_context){ 0 };
    return kms_context_add(ctx, "id", credential_id);
}

int kms_envelope_seal(struct kms_client *k, struct kms_dkcache *cache, const char *master_key,
                      const char *credential_id, int64_t revision, const uint8_t *plain,
                      size_t plain_len, struct kms_sealed *out)
{
    uint8_t aad[AAD_MAGIC_LEN + 2 + KMS_ENVELOPE_ID_MAX + 4];
    uint8_t digest[CF_SHA256_LEN];
    struct cf_secret dk = { 0 };
    struct kms_context ctx;
    size_t aad_len, sealed_len;
    int r;

    *out = (struct kms_sealed){ .version = KMS_ENVELOPE_VERSION };
    if ((r = build_aad(KMS_ENVELOPE_VERSION, credential_id, revision, aad, &aad_len)) != 0 ||
        (r = id_context(credential_id, &ctx)) != 0 ||
        (r = cf_size_add(plain_len, CF_AEAD_TAG_LEN, &sealed_len)) != 0)
        return r;
    if ((r = kms_generate_data_key(k, master_key, &ctx, &dk, &out->data_key, out->kms_key_id,
                                   sizeof(out->kms_key_id))) != 0)
        goto out;
    if (dk.len != CF_AEAD_KEY_LEN) {
        r = CF_EBADRESPONSE;
        goto out;
    }
    if ((r = cf_rand_bytes(out->nonce, sizeof(out->nonce))) != 0)
        goto out;
    out->ciphertext = (struct kms_blob){ .data = cf_xmalloc(sealed_len), .len = sealed_len };
    if ((r = cf_aead_seal(dk.data, out->nonce, aad, aad_len, plain, plain_len,
                          out->ciphertext.data)) != 0)
        goto out;
    if (kms_dkcache_digest(out->data_key.data, out->data_key.len, &ctx, digest) == 0)
        kms_dkcache_put(cache, digest, &dk);
    r = 0;
out:
    cf_secret_free(&dk); /* the plaintext data key lives no longer than the seal */
    if (r != 0)
        kms_sealed_free(out);
    return r;
}

/* The data key of a sealed revision: from the cache, else from KMS (then cached). */
static int data_key(struct kms_client *k, struct kms_dkcache *cache, const struct kms_sealed *in,
                    const struct kms_context *ctx, struct cf_secret *dk)
{
    uint8_t digest[CF_SHA256_LEN];
    char arn[KMS_KEY_ID_MAX + 1];
    int r;

    if ((r = kms_dkcache_digest(in->data_key.data, in->data_key.len, ctx, digest)) != 0)
        return r;
    if (kms_dkcache_get(cache, digest, dk) == 0)
        return 0;
    if ((r = kms_decrypt(k, in->data_key.data, in->data_key.len, ctx, dk, arn, sizeof(arn))) != 0)
        return r;
    if (dk->len != CF_AEAD_KEY_LEN) {
        cf_secret_free(dk);
        return CF_EINTEGRITY;
    }
    kms_dkcache_put(cache, digest, dk);
    return 0;
}

int kms_envelope_open(struct kms_client *k, struct kms_dkcache *cache, const char *credential_id,
                      int64_t revision, const struct kms_sealed *in, struct cf_secret *plain_out)
{
    uint8_t aad[AAD_MAGIC_LEN + 2 + KMS_ENVELOPE_ID_MAX + 4];
    struct cf_secret dk = { 0 };
    struct kms_context ctx;
    size_t aad_len;
    int r;

    *plain_out = (struct cf_secret){ 0 };
    if (in->version != KMS_ENVELOPE_VERSION)
        return CF_EINTEGRITY; /* an unknown format is not ours to open */
    if ((r = build_aad(in->version, credential_id, revision, aad, &aad_len)) != 0 ||
        (r = id_context(credential_id, &ctx)) != 0)
        return r;
    if ((r = data_key(k, cache, in, &ctx, &dk)) != 0)
        return r;
    r = cf_aead_open(dk.data, in->nonce, aad, aad_len, in->ciphertext.data, in->ciphertext.len,
                     plain_out);
    cf_secret_free(&dk); /* cleansed as soon as the open is done */
    return r;
}
