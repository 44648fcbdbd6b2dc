/*
 * svc_repr.h - the API's representations (API.md section 3) built from database rows, the
 * sealing and opening of credential pairs, diffs and key conflicts.
 */
#ifndef SVC_REPR_H
#define SVC_REPR_H

#include <stdbool.h>
#include <stdint.h>

#include <jansson.h>

#include "db_credentials.h"
#include "svc.h"

/* {"metadata", "get", "update"} (and "create" when with_create). */
json_t *svc_perms(bool metadata, bool get, bool update, bool with_create, bool create);

/* A credential (3.1): row plus pairs (NULL = {}) and permissions (NULL = {}); the id is
 * "<id>-<revision>" when revision_id. Takes ownership of pairs and perms. */
json_t *svc_credential_repr(const json_t *row, json_t *pairs, json_t *perms, bool revision_id);

/* A service list or revision item (3.3): credentials as ids, blind_credentials [],
 * permissions {}. */
json_t *svc_service_item(const json_t *row, bool revision_id);

/* A service with expanded credentials (3.2); takes ownership of credentials and perms. */
json_t *svc_service_repr(const json_t *row, json_t *credentials, json_t *perms);

/* Seals pairs for (id, revision) under a fresh data key into *out (owned). KMS failures are
 * CF_EUNAVAIL-class codes from kms.h. */
CF_MUST_CHECK int svc_seal_pairs(const struct svc_ctx *ctx, const char *id, int64_t revision,
                                 const json_t *pairs, struct db_sealed *out);

/* Opens a stored revision into a pairs object (freed through the zeroing allocator). */
CF_MUST_CHECK int svc_open_pairs(const struct svc_ctx *ctx, const char *id, int64_t revision,
                                 const struct db_sealed *sealed, json_t **pairs_out);

/* The API code of a failed open: decryption_failed (integrity or key problem) or
 * kms_unavailable (KMS unreachable, throttled, refusing access). */
enum svc_code svc_open_error(int err);

/* The diff of two rows (3.6): the higher revision is "new". Pairs may be NULL (then
 * credential_pairs is not compared). */
json_t *svc_diff_credentials(const json_t *a, json_t *pairs_a, const json_t *b, json_t *pairs_b);
json_t *svc_diff_services(const json_t *a, const json_t *b);

/* Key conflicts among credentials of one service: keys_by_id maps each mapped credential id
 * to its key array. NULL when there is none, else {"<key>": {"credentials": [ids],
 * "blind_credentials": []}}. */
json_t *svc_service_conflicts(json_t *keys_by_id);

/* Key conflicts of a credential's new keys with its neighbours (rows of
 * db_credential_neighbours): NULL or {"<key>": {"credentials": [...], "services": [...]}}. */
json_t *svc_credential_conflicts(json_t *keys, json_t *neighbours);

/* A new credential id: 32 lowercase hex characters of a random UUID4. */
CF_MUST_CHECK int svc_new_credential_id(char out[33]);

#endif
