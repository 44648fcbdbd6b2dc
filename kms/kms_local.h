/*
 * kms_local.h - the `local` backend: 256-bit master keys in a key file (mode 0600), with the
 * semantics of AWS KMS (API.md 9.4): blobs name their key, the encryption context is
 * authenticated, decryption reports the key as local:key/<id>.
 */
#ifndef KMS_LOCAL_H
#define KMS_LOCAL_H

#include <stddef.h>

#include "cf_err.h"
#include "kms.h"

#define KMS_LOCAL_KEY_LEN 32
#define KMS_LOCAL_ID_MAX  64 /* key ids: [A-Za-z0-9_-]{1,64} */

struct kms_local;

/* Loads a key file. Refused (CF_ECONFIG, message in err) when group or others may read it,
 * when it is not a regular file, or when it is malformed. */
CF_MUST_CHECK int kms_local_open(const char *path, struct kms_local **out, char *err,
                                 size_t errcap);

/* Creates a new key file at path with the keys coffer-master, coffer-auth and
 * coffer-user-auth (aliases alias/<id>), mode 0600. Refuses (CF_ECONFLICT) to overwrite. */
CF_MUST_CHECK int kms_local_init_file(const char *path, char *err, size_t errcap);

void kms_local_free(struct kms_local *kl);

extern const struct kms_backend_ops kms_local_ops;

#endif
