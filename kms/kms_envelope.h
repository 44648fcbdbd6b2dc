/*
 * kms_envelope.h - envelope sealing of credential revisions (DESIGN.md "Envelope encryption").
 *
 * Seal: GenerateDataKey(master key, AES_256, context {"id": credential id}); the pairs are
 * sealed with AES-256-GCM under a random 96-bit nonce and associated data binding the format
 * version, the credential id and the revision; the plaintext data key is cleansed at once.
 * Stored: format version, KMS key id, data-key blob, nonce, ciphertext + tag.
 * Open: the data key from the cache or Decrypt(blob, same context), then AES-GCM open; a row
 * moved to another credential or revision, or with any byte of its version, blob, nonce or
 * ciphertext altered, fails with CF_EINTEGRITY. The stored KMS key id is a record of which key
 * wrapped the data key (the blob names its key itself); open does not read it.
 */
#ifndef KMS_ENVELOPE_H
#define KMS_ENVELOPE_H

#include <stddef.h>
#include <stdint.h>

#include "cf_aead.h"
#include "cf_err.h"
#include "cf_secret.h"
#include "kms.h"
#include "kms_cache.h"

#define KMS_ENVELOPE_VERSION 1
#define KMS_ENVELOPE_ID_MAX  64 /* credential ids are 32 hex characters */

/* A sealed revision as stored. Owned; free with kms_sealed_free(). */
struct kms_sealed {
    int version;
    char kms_key_id[KMS_KEY_ID_MAX + 1]; /* the ARN KMS reported for the data key */
    struct kms_blob data_key;            /* the KMS ciphertext of the data key */
    uint8_t nonce[CF_AEAD_NONCE_LEN];
    struct kms_blob ciphertext; /* sealed pairs followed by the 16-byte tag */
};

void kms_sealed_free(struct kms_sealed *s);

/* Seals plain under a fresh data key from master_key for (credential_id, revision). The data
 * key is put in cache (may be NULL) so the first open makes no KMS call. */
CF_MUST_CHECK int kms_envelope_seal(struct kms_client *k, struct kms_dkcache *cache,
                                    const char *master_key, const char *credential_id,
                                    int64_t revision, const uint8_t *plain, size_t plain_len,
                                    struct kms_sealed *out);

/* Opens a sealed revision of (credential_id, revision) into *plain_out. CF_EINTEGRITY when
 * the tag does not verify or the data key does not decrypt under this credential's context;
 * KMS errors as in kms.h. Nothing of the plaintext is returned on failure. */
CF_MUST_CHECK int kms_envelope_open(struct kms_client *k, struct kms_dkcache *cache,
                                    const char *credential_id, int64_t revision,
                                    const struct kms_sealed *in, struct cf_secret *plain_out);

#endif
