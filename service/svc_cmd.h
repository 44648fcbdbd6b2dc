/*
 * svc_cmd.h - cofferd's console commands (API.md 9.3). Each returns the process exit status:
 * 0 success, 1 runtime failure, 2 usage or configuration error.
 */
#ifndef SVC_CMD_H
#define SVC_CMD_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "auth.h"
#include "cf_config.h"
#include "db.h"

#define SVC_CMD_REQUEST_ID_LEN 32

/* `cofferd migrate [--status]`: argv[0] is "migrate". */
int svc_cmd_migrate(const struct cf_config *cfg, int argc, char **argv);

/* `cofferd token create --role admin|auditor --name NAME [--ttl DURATION]`. */
int svc_cmd_token(const struct cf_config *cfg, int argc, char **argv);

/* Makes an API token of role ("admin" or "auditor", checked by the caller) named name, valid
 * for ttl seconds, and stores its digest with its access-log row in one transaction; the
 * plaintext goes to token_out (cleansed on failure). CF_ECONFLICT when an active token has
 * that name. What `token create` does, for tests and fuzz targets too. */
CF_MUST_CHECK int svc_cmd_token_create(struct db_conn *c, const char *role, const char *name,
                                       int64_t ttl, char token_out[AUTH_TOKEN_LEN + 1]);

/* `cofferd local-key init PATH`: a new key file for the local KMS backend (mode 0600). */
int svc_cmd_local_key(int argc, char **argv);

/* Prints "cofferd: <message> (see cofferd --help)" on stderr and returns 2. */
int svc_cmd_usage(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

/* `cofferd audit verify [--from-id N] [--to-id N]`: the chain walk straight from the
 * database (works while the server is down). Exit 0 intact, 1 broken, 2 usage. */
int svc_cmd_audit_verify(const struct cf_config *cfg, int argc, char **argv);

/* `cofferd principal set NAME --role ROLE | remove NAME | list`. */
int svc_cmd_principal(const struct cf_config *cfg, int argc, char **argv);

/* Appends the access-log row of a console command (actor_type system, actor
 * "cofferd:<os user>", source "local", allowed) inside the caller's transaction. */
CF_MUST_CHECK int svc_cmd_audit(struct db_conn *c, const char *action, const char *resource_type,
                                const char *resource_id);

/* The access log's actor for console commands: "cofferd:<os user>". */
void svc_cmd_actor(char *out, size_t cap);

/* True if name is a valid API token name. */
bool svc_token_name_valid(const char *name);

#endif
