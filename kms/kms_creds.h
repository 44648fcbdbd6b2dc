/*
 * kms_creds.h - AWS credentials for the aws KMS backend: the standard provider chain
 * (environment, shared credentials and config files, container credentials, EC2 IMDSv2), one
 * file per source as in aws-c-auth, and a thread-safe cache in front of it.
 *
 * Secret parts (secret access key, session token) live in cf_secret buffers that hold a
 * NUL-terminated string (len counts the NUL), so they are cleansed when freed. The access key
 * id names a key and is not secret. The environment and the files are read only when the chain
 * refreshes, never on the request path of cached credentials.
 */
#ifndef KMS_CREDS_H
#define KMS_CREDS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "cf_err.h"
#include "cf_secret.h"
#include "cf_str.h"

#define KMS_CREDS_AKID_MAX      128  /* AWS: at most 128 characters */
#define KMS_CREDS_SECRET_MAX    256  /* a secret access key is 40 characters */
#define KMS_CREDS_TOKEN_MAX     8192 /* session tokens run to a few KiB */
#define KMS_CREDS_REFRESH_US    (INT64_C(5) * 60 * 1000000)  /* refresh 5 min before expiry */
#define KMS_CREDS_STATIC_TTL_US (INT64_C(15) * 60 * 1000000) /* re-read static sources */
#define KMS_CREDS_HTTP_MAX      ((size_t)16 * 1024) /* largest container or IMDS answer accepted */

/* One set of credentials. Free with kms_creds_free(); never copy the struct. */
struct kms_creds {
    char access_key_id[KMS_CREDS_AKID_MAX + 1];
    struct cf_secret secret_key;    /* NUL-terminated string */
    struct cf_secret session_token; /* NUL-terminated string; empty (data NULL) if none */
    int64_t expires_us;             /* microseconds since the epoch; 0 = does not expire */
    const char *source;             /* static text: "env", "file", "container", "imds" */
};

/* Cleanses and frees the secret parts and empties *c. Safe on an empty struct. */
void kms_creds_free(struct kms_creds *c);

/* Copies src into *dst (a deep copy; free both). */
void kms_creds_copy(struct kms_creds *dst, const struct kms_creds *src);

/* Sets the three strings of *c (token may be NULL or empty), checking each: printable ASCII
 * only, no ':' in the key id or the secret (libcurl splits USERPWD at the first ':'), within
 * the size limits. CF_EINVAL otherwise; *c is then left empty. */
CF_MUST_CHECK int kms_creds_set(struct kms_creds *c, const char *akid, const char *secret,
                                const char *token);

/* The chain with its cache. */
struct kms_creds_chain;

/* Creates a chain; reads nothing yet. Free with kms_creds_chain_free(). */
struct kms_creds_chain *kms_creds_chain_new(void);

void kms_creds_chain_free(struct kms_creds_chain *ch);

/* Current credentials, deep-copied into *out (free with kms_creds_free()). Cached
 * credentials are used until KMS_CREDS_REFRESH_US before they expire, or for
 * KMS_CREDS_STATIC_TTL_US if they do not expire; then the sources are asked again, in order:
 * environment, shared files, container, IMDS. The first source that has credentials wins; a
 * source that is configured but fails stops the chain with its error: CF_ECONFIG (partial or
 * malformed settings), CF_EUNAVAIL (an endpoint did not answer), CF_EDENIED (an endpoint
 * refused). CF_EDENIED when no source has credentials. Thread-safe; no lock is held while a
 * source is asked. */
CF_MUST_CHECK int kms_creds_chain_get(struct kms_creds_chain *ch, struct kms_creds *out);

/* The sources. Each returns 0 with credentials in *out, CF_ENOTFOUND when it is not
 * configured or has none (the chain goes on), or an error as above (the chain stops). */

/* AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY and AWS_SESSION_TOKEN. kms_creds_env.c */
CF_MUST_CHECK int kms_creds_from_env(struct kms_creds *out);

/* The profile AWS_PROFILE (else "default") of the shared credentials file
 * (AWS_SHARED_CREDENTIALS_FILE, else ~/.aws/credentials), then of the shared config file
 * (AWS_CONFIG_FILE, else ~/.aws/config, section [default] or [profile NAME]). kms_creds_file.c */
CF_MUST_CHECK int kms_creds_from_file(struct kms_creds *out);

/* AWS_CONTAINER_CREDENTIALS_RELATIVE_URI (http://169.254.170.2<uri>) or
 * AWS_CONTAINER_CREDENTIALS_FULL_URI (https, or http to a loopback or the ECS/EKS agent
 * address), with AWS_CONTAINER_AUTHORIZATION_TOKEN_FILE or AWS_CONTAINER_AUTHORIZATION_TOKEN
 * as the Authorization header. kms_creds_container.c */
CF_MUST_CHECK int kms_creds_from_container(struct kms_creds *out);

/* EC2 instance metadata, IMDSv2 only (a session token first), at
 * AWS_EC2_METADATA_SERVICE_ENDPOINT or http://169.254.169.254; skipped when
 * AWS_EC2_METADATA_DISABLED is "true". kms_creds_imds.c */
CF_MUST_CHECK int kms_creds_from_imds(struct kms_creds *out);

/* Helpers the sources share. */

/* Reads the values of keys[0..n) in section of the INI file at path (a small strict reader:
 * "[section]", "key = value", blank lines, comments starting with '#' or ';', and indented
 * sub-settings under a key with an empty value, which are skipped). values_out[i] gets a
 * NUL-terminated copy of keys[i]'s value, or stays empty when absent. CF_ENOTFOUND when the
 * file or the section does not exist; CF_ECONFIG when the file is malformed (the line number
 * is logged, never the line), has a duplicate key in the section or exceeds CF_SECRET_MAX;
 * CF_EIO when it cannot be read. On error every value is empty. */
CF_MUST_CHECK int kms_ini_read(const char *path, const char *section, const char *const *keys,
                               size_t n, struct cf_secret *values_out);

/* Reads the regular file at path, at most max bytes (max < CF_SECRET_MAX), into text_out as a
 * NUL-terminated string (len counts the NUL). CF_ENOTFOUND if it does not exist, CF_ECONFIG if
 * it is not a regular file, is larger or holds a NUL byte, CF_EIO if it cannot be read. */
CF_MUST_CHECK int kms_creds_read_file(const char *path, size_t max, struct cf_secret *text_out);

/* The value of key in the current profile of the shared config file (for the region), copied
 * into out[0..cap). CF_ENOTFOUND when absent, CF_ETOOBIG when it does not fit, else as
 * kms_ini_read(). */
CF_MUST_CHECK int kms_creds_config_value(const char *key, char *out, size_t cap);

/* An HTTP exchange with a credentials endpoint: method url with headers (NULL-terminated
 * "Name: value" strings, may be NULL; cleansed after use, as they carry tokens), at most
 * timeout_ms in all, http/https only, no redirects. The body (cleansed on free: it holds
 * secrets) is appended to body_out, at most KMS_CREDS_HTTP_MAX bytes; the status goes to
 * *status_out. CF_EUNAVAIL when no answer came, CF_EBADRESPONSE when it was too large. */
CF_MUST_CHECK int kms_creds_http(const char *method, const char *url, const char *const *headers,
                                 long timeout_ms, struct cf_buf *body_out, long *status_out);

/* Parses a container or IMDS answer: {"AccessKeyId", "SecretAccessKey", "Token",
 * "Expiration"} (RFC 3339), and for IMDS "Code" must be "Success" if present. Expired
 * credentials are refused. CF_EBADRESPONSE when malformed. */
CF_MUST_CHECK int kms_creds_parse_json(const struct cf_buf *body, const char *source,
                                       struct kms_creds *out);

/* getenv() that treats an empty value as unset. */
const char *kms_creds_getenv(const char *name);

#endif
