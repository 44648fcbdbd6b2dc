/*
 * svc.h - what the files of service/ share: the server context, the request, the API error
 * codes, responses and the route table.
 *
 * Every handler runs parse -> validate -> authorize -> act -> audit -> respond. The
 * dispatcher authenticates /v1/ requests before the handler runs and writes the access-log row
 * of a request that fails before its handler could.
 */
#ifndef SVC_H
#define SVC_H

#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <civetweb.h>
#include <jansson.h>

#include "audit_writer.h"
#include "auth.h"
#include "cf_config.h"
#include "cf_err.h"
#include "cf_secret.h"
#include "db.h"
#include "kms.h"
#include "kms_cache.h"

#define SVC_MAX_SEGMENTS   8
#define SVC_REQUEST_ID_LEN 32
#define SVC_PATH_LOG_MAX   256
#define SVC_EXTRA_HEADERS  4
#define SVC_AUDIT_ID_MAX   256 /* bytes of a path segment an access-log row keeps */
#define SVC_DRAIN_SECONDS  10  /* in-flight requests may finish for this long at a stop */

/* The configurable limits of API.md 5 that validation needs (from COFFER_MAX_*). */
struct svc_limits {
    size_t pairs;               /* credential pairs per credential */
    size_t credential_bytes;    /* canonical JSON of the pairs */
    size_t service_credentials; /* credentials mapped to one service */
};

struct svc_admit;
struct svc_listener;
struct svc_ratelimit;
struct svc_gate;
struct svc_tls;

/* Read-only after start-up; handlers receive it through the request. */
struct svc_ctx {
    const struct cf_config *cfg;
    struct db_pool *pool;
    struct auth *auth;
    struct kms_client *kms;
    struct kms_dkcache *dkcache;     /* NULL when COFFER_DATAKEY_CACHE_SIZE is 0 */
    struct svc_bundles *bundles;     /* NULL when COFFER_BUNDLE_CACHE_SIZE is 0 */
    const char *master_key;          /* for GenerateDataKey */
    struct audit_writer *audit;      /* group commit of access-log rows */
    struct svc_listener *listener;   /* the change listener (svc_listen.c) */
    struct svc_tls *tls;             /* NULL: plain HTTP */
    struct svc_admit *admit;         /* what admission closed, for /metrics */
    struct svc_ratelimit *ratelimit; /* failed authentications per client */
    struct svc_gate *verify_gate;    /* turns at checking credentials not yet proven */
    struct svc_limits limits;
    atomic_bool stopping;
};

/* Stable error codes of API.md 1.3 ("code" in every error body). */
enum svc_code {
    SVC_INVALID_JSON,
    SVC_INVALID_REQUEST,
    SVC_INVALID_PARAMETER,
    SVC_INVALID_PAGE,
    SVC_INVALID_CURSOR,
    SVC_INVALID_REVISION,
    SVC_INVALID_ID,
    SVC_ID_MISMATCH,
    SVC_INVALID_NAME,
    SVC_INVALID_CREDENTIAL_PAIRS,
    SVC_EMPTY_CREDENTIAL_PAIRS,
    SVC_INVALID_KEY_NAME,
    SVC_DUPLICATE_KEY,
    SVC_INVALID_METADATA,
    SVC_INVALID_TAGS,
    SVC_KEY_CONFLICT,
    SVC_UNKNOWN_CREDENTIAL,
    SVC_BLIND_CREDENTIALS_UNSUPPORTED,
    SVC_INVALID_ACCOUNT,
    SVC_NO_CHANGE,
    SVC_LIMIT_EXCEEDED,
    SVC_UNAUTHENTICATED,
    SVC_AUTHENTICATION_FAILED,
    SVC_FORBIDDEN,
    SVC_SERVICE_DISABLED,
    SVC_NOT_FOUND,
    SVC_METHOD_NOT_ALLOWED,
    SVC_REQUEST_TIMEOUT,
    SVC_NAME_CONFLICT,
    SVC_TOO_MANY_FAILURES,
    SVC_REVISION_CONFLICT,
    SVC_TOKEN_NAME_CONFLICT,
    SVC_BODY_TOO_LARGE,
    SVC_CREDENTIAL_TOO_LARGE,
    SVC_URI_TOO_LONG,
    SVC_UNSUPPORTED_MEDIA_TYPE,
    SVC_HEADERS_TOO_LARGE,
    SVC_INTERNAL_ERROR,
    SVC_DECRYPTION_FAILED,
    SVC_NOT_IMPLEMENTED,
    SVC_KMS_UNAVAILABLE,
    SVC_DATABASE_UNAVAILABLE,
    SVC_AUDIT_UNAVAILABLE,
    SVC_NOT_READY,
    SVC_OVERLOADED,
    SVC_CODE_COUNT /* not a code: how many there are (svc_errors.c checks its table) */
};

/* The HTTP status of a code (the only code-to-status map). */
int svc_code_status(enum svc_code code);

/* The code's name as sent in "code". */
const char *svc_code_name(enum svc_code code);

/* The code's default text for "error" (fixed, never a secret). */
const char *svc_code_message(enum svc_code code);

/* The API code a cf_err becomes when a handler has nothing more precise to say. */
enum svc_code svc_code_from_err(int err);

struct svc_route;

/* Bytes of an ignored X-Forwarded-For that a request's log line keeps. */
#define SVC_FORWARDED_LOG_MAX 128

/* One request, from begin_request to the access-log line.
 *
 * What civetweb parsed is copied in once (svc_req_init) and read only from here: civetweb
 * calls http_error for a request it could not parse, and then its request fields are NULL,
 * stale or half set. With parsed false, method is "", http_version, raw_path and query are
 * NULL and no request header is read. */
struct svc_req {
    struct mg_connection *conn;
    struct svc_ctx *ctx;
    bool parsed;              /* civetweb parsed the request line and headers */
    const char *method;       /* never NULL: "" when unknown */
    const char *http_version; /* "1.1", "1.0"; NULL when unknown */
    const char *raw_path;     /* undecoded, without the query; NULL when unknown */
    const char *query;        /* after '?', undecoded; NULL when absent */
    long long content_length; /* -1 when not announced */
    char peer_addr[48];       /* the TCP peer's address, "" when unknown */
    char client_addr[48];     /* the client's (svc_client.c): the peer's, unless a trusted
                               * proxy named another; "" when unknown */
    /* an X-Forwarded-For from a peer that is not a trusted proxy, as the log line shows it:
     * never believed (bounded, valid UTF-8); "" when none */
    char forwarded_ignored[3 * SVC_FORWARDED_LOG_MAX + 1];
    char request_id[SVC_REQUEST_ID_LEN + 1];
    int64_t start_ms;
    int64_t start_us;            /* the same moment, finer (latency histograms) */
    char *seg[SVC_MAX_SEGMENTS]; /* decoded path segments (owned) */
    size_t nseg;
    bool seg_ok[SVC_MAX_SEGMENTS]; /* decoded segment is usable as an id */
    const struct svc_route *route;
    bool authenticated;
    struct auth_principal who;
    struct auth_failure why;
    bool audited;                             /* the access-log row is written */
    bool audit_tried;                         /* svc_audit_now() ran (and may have failed) */
    char audit_rid[3 * SVC_AUDIT_ID_MAX + 1]; /* the resource id of the row, bounded */
    const char *hdr_name[SVC_EXTRA_HEADERS];  /* headers a handler adds to its answer */
    char hdr_value[SVC_EXTRA_HEADERS][96];
    size_t nhdr;
    int status;      /* status sent, for the access-log line */
    const char *csp; /* the answer's Content-Security-Policy; NULL: nothing may load */
};

typedef int (*svc_handler_fn)(struct svc_req *req);

enum svc_route_flags {
    SVC_ROUTE_PUBLIC = 0,    /* no authentication, no access-log row */
    SVC_ROUTE_AUTH = 1 << 0, /* authenticate first; every answer writes an access-log row */
};

struct svc_route {
    const char *method;
    const char *pattern; /* "/v1/services/{id}": a "{...}" matches one non-empty segment */
    svc_handler_fn handler;
    unsigned flags;
    const char *action;        /* access-log action */
    const char *resource_type; /* access-log resource type, or NULL */
    int id_segment;            /* index of the segment naming the resource, or -1 */
};

/* Fills req for conn. parsed: civetweb parsed the request (begin_request); false in its
 * http_error callback, where none of the request's fields may be trusted. */
void svc_req_init(struct svc_req *req, struct mg_connection *conn, struct svc_ctx *ctx,
                  bool parsed);

/* --- who a request comes from (svc_client.c) --- */

/* Sets req's peer_addr, client_addr and forwarded_ignored from the connection (ri), the PROXY
 * header civetweb read for it, and, when parsed, its X-Forwarded-For (svc_req_init calls it). */
void svc_client_init(struct svc_req *req, const struct mg_request_info *ri, bool parsed);

/* The peer's address when it differs from the client's (the access log's peer_ip), else NULL. */
const char *svc_client_peer_ip(const struct svc_req *req);

/* civetweb's read_proxy_header (COFFER_PROXY_PROTOCOL=on): reads the PROXY header off sock
 * within the request timeout and, from a trusted proxy, writes its source into client. Non-zero
 * (the connection is closed) for a missing, malformed or late header. */
int svc_client_read_proxy_header(const struct mg_connection *conn, int sock, const char *peer,
                                 char *client, size_t client_len);

/* Matches req's path against the route table: 0 and req->route set; CF_ENOTFOUND (404); or
 * CF_EDENIED when the path exists but not for this method (allow gets "GET, PUT"). */
CF_MUST_CHECK int svc_route_match(struct svc_req *req, char *allow, size_t allowcap);

/* The route table, for metrics: its size and a route's index in it. */
size_t svc_route_count(void);
size_t svc_route_index(const struct svc_route *rt);
const struct svc_route *svc_route_at(size_t i);

/* The resource id of the request's access-log row: explicit if not NULL, else the path
 * segment the route names; at most SVC_AUDIT_ID_MAX bytes of valid UTF-8 (a hostile path may
 * not make the row unwritable). NULL when there is none. Points into req. */
const char *svc_audit_resource_id(struct svc_req *req, const char *explicit_id);

/* The access-log action of the request's route, known before its handler runs: the route's,
 * with "get" made "get_metadata" when a metadata_only=true query asks for that form. */
const char *svc_route_action(const struct svc_req *req);

/* Splits and percent-decodes req->raw_path into req->seg. CF_EINVAL for a malformed path. */
CF_MUST_CHECK int svc_path_split(struct svc_req *req);

/* --- responses (svc_http.c) --- */

/* Sends status with a JSON body (compact, UTF-8) and the common headers. Consumes nothing. */
int svc_reply_json(struct svc_req *req, int status, const json_t *body);

/* Sends an error body {"error", "code", "request_id", ...extra members}. message NULL = the
 * code's default text. extra may be NULL; it is not consumed. */
int svc_reply_error(struct svc_req *req, enum svc_code code, const char *message, json_t *extra);

/* Adds a header to the answer (name static; value copied, cut at 95 bytes). */
void svc_add_header(struct svc_req *req, const char *name, const char *value);

/* Frees the calling thread's kept answer buffer (civetweb's exit_thread). */
void svc_http_thread_exit(void);

/* Sends a non-JSON body (metrics) with the common headers. */
int svc_reply_text(struct svc_req *req, int status, const char *content_type, const char *body,
                   size_t len);

/* Sends 304 Not Modified: the common headers and those added, no body. */
int svc_reply_not_modified(struct svc_req *req);

/* Sends an error for a cf_err, mapped by svc_code_from_err(). */
int svc_reply_err(struct svc_req *req, int err);

/* Sends 405 method_not_allowed with an Allow header. */
int svc_reply_method_not_allowed(struct svc_req *req, const char *allow);

/* The value of a request header, or NULL (always NULL for a request civetweb could not
 * parse). */
const char *svc_header(const struct svc_req *req, const char *name);

/* True if an If-None-Match value names etag (a list of tags, W/ ignored, or *). */
bool svc_etag_matches(const char *inm, const char *etag);

/* Reads the request body into a secret buffer (it may hold credential values), capped at
 * COFFER_MAX_BODY_BYTES (at most CF_SECRET_MAX). An empty body gives an empty secret. A
 * non-empty body must be Content-Type: application/json (parameters allowed). Errors are
 * answered by the caller: CF_ETOOBIG -> 413 body_too_large, CF_EINVAL -> 415
 * unsupported_media_type, CF_EIO when the client sent less than its Content-Length, a
 * malformed chunk, or went away, CF_ETIMEOUT when it did not arrive within the request
 * timeout (counted from the request's start). */
CF_MUST_CHECK int svc_read_body(struct svc_req *req, struct cf_secret *body);

/* True if a Content-Length larger than the body limit was announced (checked before routing,
 * so an oversized body is refused before anything else is done). */
bool svc_body_too_large(const struct svc_req *req);

/* --- authentication and the access log (svc_auth.c) --- */

/* Writes the request's access-log row (once). resource_id and revision may be NULL/absent.
 * Returns 0 or CF_EUNAVAIL: the caller must then fail the request with 503 audit_unavailable
 * and send nothing else (fail closed). */
CF_MUST_CHECK int svc_audit(struct svc_req *req, const char *result, const char *reason,
                            const char *resource_id, const int64_t *revision);

/* Authenticates a request of an SVC_ROUTE_AUTH route. 0, or an error already answered (401 or
 * 503) and audited; the dispatcher then returns. */
CF_MUST_CHECK int svc_authenticate(struct svc_req *req);

/* --- handlers --- */
int svc_h_healthcheck(struct svc_req *req);
int svc_h_metrics(struct svc_req *req);
int svc_h_ui(struct svc_req *req);
int svc_h_ready(struct svc_req *req);
int svc_h_user_email(struct svc_req *req);
int svc_h_client_config(struct svc_req *req);
int svc_h_not_implemented(struct svc_req *req);
int svc_h_credentials_list(struct svc_req *req);
int svc_h_credential_get(struct svc_req *req);
int svc_h_credential_create(struct svc_req *req);
int svc_h_credential_update(struct svc_req *req);
int svc_h_credential_revert(struct svc_req *req);
int svc_h_credential_diff(struct svc_req *req);
int svc_h_credential_revisions(struct svc_req *req);
int svc_h_credential_services(struct svc_req *req);
int svc_h_services_list(struct svc_req *req);
int svc_h_service_get(struct svc_req *req);
int svc_h_service_put(struct svc_req *req);
int svc_h_service_revert(struct svc_req *req);
int svc_h_service_diff(struct svc_req *req);
int svc_h_service_revisions(struct svc_req *req);
int svc_h_principals_list(struct svc_req *req);
int svc_h_tokens_list(struct svc_req *req);
int svc_h_audit_events(struct svc_req *req);
int svc_h_audit_verify(struct svc_req *req);
int svc_h_token_create(struct svc_req *req);
int svc_h_token_revoke(struct svc_req *req);
int svc_h_principal_set(struct svc_req *req);
int svc_h_principal_remove(struct svc_req *req);

/* True if s is a principal name: 1-128 printable ASCII bytes without '/' or ':'. */
bool svc_principal_name_valid(const char *s);

/* --- the server (svc_server.c) --- */

/* Starts civetweb for ctx (its listen address, threads and timeouts). 0 and *mg_out, or
 * CF_ECONFIG / CF_EIO (the address is in use, say), logged. */
CF_MUST_CHECK int svc_server_start(struct svc_ctx *ctx, struct mg_context **mg_out);

/* Stops accepting and drains in-flight requests for at most SVC_DRAIN_SECONDS. true when
 * everything stopped; false when requests still run (the caller must then not free ctx). */
bool svc_server_stop(struct svc_ctx *ctx, struct mg_context *mg);

/* Starts civetweb, waits for SIGINT/SIGTERM, drains and stops. Returns the exit status. */
int svc_serve(struct svc_ctx *ctx);

#endif
