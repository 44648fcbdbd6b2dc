/*
 * auth_kmsauth_gen.h - making kmsauth tokens, byte for byte as python-kmsauth's
 * KMSTokenGenerator does (API.md 2.2): the coffer CLI and the tests use it.
 */
#ifndef AUTH_KMSAUTH_GEN_H
#define AUTH_KMSAUTH_GEN_H

#include <stddef.h>
#include <stdint.h>

#include "cf_err.h"
#include "kms.h"

#define AUTH_KMSAUTH_PAYLOAD_MAX  128
#define AUTH_KMSAUTH_USERNAME_MAX 160

/* The payload {"not_before": "...", "not_after": "..."} exactly as Python's json.dumps writes
 * it, for a window [not_before, not_after] in epoch seconds. */
CF_MUST_CHECK int auth_kmsauth_payload(int64_t not_before, int64_t not_after,
                                       char out[AUTH_KMSAUTH_PAYLOAD_MAX]);

/* The username: "<from>" for version 1, "2/<user_type>/<from>" for version 2. */
CF_MUST_CHECK int auth_kmsauth_username(int version, const char *user_type, const char *from,
                                        char out[AUTH_KMSAUTH_USERNAME_MAX]);

/* Encrypts payload under key with the context of API.md 2.2 ({from, to} for version 1, with
 * user_type for version 2) and returns the standard base64 of the blob in *token_out
 * (malloc'd; the caller frees it). */
CF_MUST_CHECK int auth_kmsauth_encrypt(struct kms_client *k, const char *key, int version,
                                       const char *user_type, const char *from, const char *to,
                                       const char *payload, char **token_out);

/* A token valid now for lifetime minutes, as the client makes it: not_before = now - 3 min,
 * not_after = now + (lifetime - 3) min. */
CF_MUST_CHECK int auth_kmsauth_generate(struct kms_client *k, const char *key, int version,
                                        const char *user_type, const char *from, const char *to,
                                        int64_t now, int lifetime_minutes, char **token_out);

#endif
