/*
 * svc_validate.h - the validation rules of API.md section 5 for credential and service input.
 */
#ifndef SVC_VALIDATE_H
#define SVC_VALIDATE_H

#include <stdbool.h>
#include <stddef.h>

#include <jansson.h>

#include "svc_api.h"

#define SVC_PAIRS_MAX         100   /* defaults of struct svc_limits */
#define SVC_CREDENTIAL_MAX    65536 /* canonical JSON of the pairs, bytes */
#define SVC_NAME_MAX          256   /* characters */
#define SVC_METADATA_MAX      64    /* members */
#define SVC_METADATA_KEY_MAX  128   /* characters */
#define SVC_METADATA_VAL_MAX  4096  /* bytes */
#define SVC_METADATA_ALL_MAX  16384 /* bytes of keys and values */
#define SVC_DOC_MAX           16384 /* bytes */
#define SVC_TAGS_MAX          50
#define SVC_TAG_MAX           64 /* characters */
#define SVC_SERVICE_CREDS_MAX 100

/* API.md 5's limits, as struct svc_limits holds them when no COFFER_MAX_* changes them. */
#define SVC_LIMITS_DEFAULT                                                                         \
    ((struct svc_limits){ SVC_PAIRS_MAX, SVC_CREDENTIAL_MAX, SVC_SERVICE_CREDS_MAX })

/* Credential input after validation. Members not given are NULL / false. */
struct svc_cred_input {
    json_t *pairs;    /* lowercased keys, string values */
    json_t *keys;     /* the pair keys, sorted */
    const char *name; /* borrowed from the body */
    json_t *metadata; /* an object of strings */
    bool has_enabled;
    bool enabled;
    bool has_documentation;
    const char *documentation; /* NULL clears it */
    json_t *tags;              /* strings, duplicates dropped */
};

/* Validates a POST (create: name and credential_pairs required) or PUT body within lim's
 * pairs and credential_bytes. Errors go into res with the codes of section 5. */
CF_MUST_CHECK int svc_cred_input_parse(json_t *body, bool create, const struct svc_limits *lim,
                                       struct svc_result *res, struct svc_cred_input *in);

void svc_cred_input_free(struct svc_cred_input *in);

/* The body of a service PUT after validation. */
struct svc_service_input {
    json_t *credentials; /* ids without repeats, in their first order; NULL when not given */
    bool has_enabled;
    bool enabled;
};

/* Validates the members of a service PUT body (API.md 4.2) for the service path_id, in the
 * order API.md gives; whether the ids exist is for the caller to check. On success the caller
 * json_decref()s in->credentials. */
CF_MUST_CHECK int svc_service_input_parse(json_t *body, const char *path_id, struct svc_result *res,
                                          struct svc_service_input *in);

/* The canonical plaintext of pairs (compact JSON, keys sorted): what is sealed. */
CF_MUST_CHECK int svc_pairs_serialise(const json_t *pairs, struct cf_buf *out);

/* The sorted array of an object's member names. */
json_t *svc_sorted_keys(json_t *obj);

/* True if s matches the service id pattern of API.md 1.2. */
bool svc_service_id_valid(const char *s);

/* True if s is a credential id: 32 lowercase hex characters. */
bool svc_credential_id_valid(const char *s);

#endif
