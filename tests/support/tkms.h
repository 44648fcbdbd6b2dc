/*
 * tkms.h - what the kmsauth and bundle tests share (issue 6): KMS keys and aliases in moto, a
 * cofferd on the aws backend with kmsauth on, kmsauth tokens made in C through kms/, requests
 * in both wire forms, access-log rows of any actor, /metrics samples, a private moto_server.
 *
 * Built on tapi (the credentials and services helpers): a struct tkms holds a struct tapi, so
 * every tapi_* helper works on &f->api. To speak to another node, copy the tapi and replace its
 * cofferd (tkms_node()). Every helper fails the running cmocka test on error.
 */
#ifndef TKMS_H
#define TKMS_H

#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include <cmocka.h>
#include <jansson.h>

#include "kms.h"
#include "tapi.h"
#include "tsupport.h"

#define TKMS_ENV_MAX 24
#define TKMS_ARN_MAX 256

/* A KMS key in moto and the alias made for it. */
struct tkms_key {
    char id[64];
    char arn[TKMS_ARN_MAX];
    char alias[96]; /* alias/coffer-<prefix>-<8 hex> */
};

/* Creates a key in us-east-1 of the moto at url and an alias nobody else uses. */
void tkms_key_create(const char *url, const char *prefix, struct tkms_key *k);

/* The same with the alias given ("alias/..."). */
void tkms_key_create_alias(const char *url, const char *alias, struct tkms_key *k);

/* Points this process's AWS settings at the moto at url: region us-east-1, the static test
 * credentials, no instance metadata, no shared files. */
void tkms_use_moto(const char *url);

/* A client of the aws backend built by kms_client_new() from the current environment. */
struct kms_client *tkms_client(void);

/* How the cofferd of a fixture is configured. */
struct tkms_conf {
    const char *moto_url; /* NULL: the shared moto */
    bool no_user_key;     /* COFFER_USER_AUTH_KEY unset */
    bool rotation_keys;   /* COFFER_AUTH_KEY lists auth2 by key ARN and auth3 by alias ARN */
    bool user_key_by_id;  /* COFFER_USER_AUTH_KEY is the bare key id, not the alias */
    int max_lifetime;     /* COFFER_KMSAUTH_MAX_LIFETIME; 0: unset (the default, 60) */
};

/* One database, an admin and an auditor API token, the keys, and one cofferd on them. */
struct tkms {
    struct tapi api; /* db, cofferd, tokens: the tapi_* helpers take &f->api */
    struct tkms_conf conf;
    char moto_url[64];
    struct tkms_key master, auth, auth2, auth3, user;
    char context[48]; /* COFFER_AUTH_CONTEXT, the kmsauth "to" */
    struct kms_client *kms;
    char env_store[TKMS_ENV_MAX][600];
    char *env[TKMS_ENV_MAX + 1];
};

/* Creates the keys (in the moto of conf), the database, the tokens (admin-1, auditor-1) and
 * starts the cofferd. conf may be NULL (all defaults). */
void tkms_init(struct tkms *f, const struct tkms_conf *conf);

/* Stops every cofferd of the fixture, drops the database, frees the client. Returns the exit
 * status of the first cofferd (0 when it drained and exited cleanly). */
int tkms_fini(struct tkms *f);

/* cmocka group setup and teardown with the default configuration. */
int tkms_setup(void **state);
int tkms_teardown(void **state);

/* Starts another cofferd on the fixture's database with the fixture's environment plus the
 * entries of extra (NULL-terminated, may be NULL; later entries win). */
void tkms_start_node(const struct tkms *f, struct t_cofferd *d, char *const extra[]);

/* A tapi that speaks to d instead of the fixture's cofferd (same database, same tokens). */
struct tapi tkms_node(const struct tkms *f, const struct t_cofferd *d);

/* Tokens. Each is malloc'd standard base64 of a ciphertext made in moto: free() it. */

/* The username of API.md 2.2: "<from>" (version 1) or "2/<user_type>/<from>". */
void tkms_username(int version, const char *user_type, const char *from, char *out, size_t cap);

/* Encrypts payload under key with the context of (version, user_type, from, to). */
char *tkms_token_payload(const struct tkms *f, const char *key, int version, const char *user_type,
                         const char *from, const char *to, const char *payload);

/* A token for the window [not_before, not_after] (epoch seconds), payload as the client
 * writes it. */
char *tkms_token_window(const struct tkms *f, const char *key, int version, const char *user_type,
                        const char *from, const char *to, int64_t not_before, int64_t not_after);

/* A token as the client makes it now (lifetime 10 minutes) for this server, under the auth key
 * of user_type ("service": the service key, "user": the user key). */
char *tkms_token(const struct tkms *f, int version, const char *user_type, const char *from);

/* Now, in epoch seconds. */
int64_t tkms_now(void);

/* Requests. */

enum tkms_wire { TKMS_BASIC, TKMS_XAUTH };

/* The header(s) carrying username and token: "Authorization: Basic base64(user:token)", or
 * "X-Auth-From: user" and "X-Auth-Token: token". h[1] is NULL for Basic. Free with
 * tkms_creds_free(). */
struct tkms_creds {
    char *h[3];
};
void tkms_creds(enum tkms_wire w, const char *username, const char *token, struct tkms_creds *c);
void tkms_creds_free(struct tkms_creds *c);

/* "Authorization: Basic base64(raw)" of any bytes (malloc'd). */
char *tkms_basic_raw(const char *raw);

/* GET the path fmt formats on api's cofferd with kmsauth credentials, plus the header extra
 * (may be NULL). */
void tkms_get(const struct tapi *api, enum tkms_wire w, const char *username, const char *token,
              const char *extra, struct t_resp *r, const char *fmt, ...)
    __attribute__((format(printf, 7, 8)));

/* GET /v1/services/<sid>?metadata_only=False as the official client sends it (Basic). */
void tkms_fetch(const struct tapi *api, const char *username, const char *token, const char *sid,
                struct t_resp *r);

/* The credential_pairs of the credential named name in a bundle (NULL if not listed). */
json_t *tkms_bundle_pairs(const json_t *bundle, const char *name);

/* The access-log row of a request, by its X-Request-Id: NULL if there is exactly one and each
 * field matches, else what differs (free() it). NULL = not checked, "<null>" = SQL NULL,
 * "a|b" = either. source_ip must be 127.0.0.1, hash and time set. */
char *tkms_audit_diff(const struct tapi *api, const struct t_resp *r, const char *actor_type,
                      const char *actor, const char *action, const char *resource_id,
                      const char *result, const char *reason);
void tkms_audit(const struct tapi *api, const struct t_resp *r, const char *actor_type,
                const char *actor, const char *action, const char *resource_id, const char *result,
                const char *reason);

/* /metrics. */

/* The value of one sample of GET /metrics, named by its exact series text, e.g.
 * coffer_bundle_responses_total{status="304"}; fails the test if it is absent. */
uint64_t tkms_metric(const struct tapi *api, const char *series);

/* GET /metrics (asserts 200); free r with t_resp_free(). */
void tkms_metrics(const struct tapi *api, struct t_resp *r);

/* The sum of every coffer_kms_requests_total sample: all KMS calls of every kind. */
uint64_t tkms_kms_calls(const struct tapi *api);

/* Polls GET path with headers (NULL-terminated) every 200 ms until the status is want or
 * seconds pass; returns the last status. */
long tkms_poll_status(const struct tapi *api, const char *const *headers, const char *path,
                      long want, int seconds);

/* The path of a program built next to cofferd: "cli/coffer" gives build/.../cli/coffer. */
void tkms_built_program(const char *rel, char *out, size_t cap);

#endif
