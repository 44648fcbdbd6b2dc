/*
 * cli_http.h - what every coffer command shares: the run's settings, the exit codes, the
 * credentials a request carries (an API token or a kmsauth token made here) and JSON requests
 * to cofferd over libcurl.
 */
#ifndef CLI_HTTP_H
#define CLI_HTTP_H

#include <stdbool.h>
#include <stdint.h>

#include <jansson.h>

#include "cf_config.h"
#include "cf_err.h"
#include "cf_str.h"
#include "cli_args.h"

/* Exit codes (documented in `coffer --help` and the man page). */
enum cli_exit {
    CLI_OK = 0,
    CLI_EFAIL = 1,      /* refused as invalid (400, 413...), a broken chain, a bad bundle */
    CLI_EUSAGE = 2,     /* bad command line or configuration */
    CLI_EAUTH = 3,      /* 401: the credentials did not authenticate */
    CLI_EFORBIDDEN = 4, /* 403 */
    CLI_ENOTFOUND = 5,  /* 404 */
    CLI_ECONFLICT = 6,  /* 409: someone else changed it first, or the name is taken */
    CLI_EUNAVAIL = 7,   /* 5xx, no answer, or KMS unreachable */
};

/* Which kmsauth user type a command uses when none is configured. */
enum cli_role {
    CLI_AS_SERVICE, /* get, exec: the service itself */
    CLI_AS_USER,    /* admin and audit commands: a person */
};

struct cli {
    struct cf_config cfg; /* the KMS and auth-key settings, as cofferd reads them */
    const struct cli_opt *global, *cmd_opts;
    const struct cli_args *args;
    const char *url;
    const char *cacert;
    bool insecure;
    bool json; /* --json, or stdout is not a terminal */
    long timeout_s;
    enum cli_role role;
    const char *service; /* get/exec: the default kmsauth "from" */
    char *auth;          /* "Authorization: ..." made by cli_auth(); cleansed when freed */
};

/* A setting of the run: flag, then environment, then def (cli_setting on c's specs). */
const char *cli_get(const struct cli *c, const char *name, const char *def);

/* Fills c from the configuration and the global options. CLI_OK or CLI_EUSAGE (message on
 * stderr). */
int cli_init(struct cli *c, const struct cli_opt *global, const struct cli_opt *cmd,
             const struct cli_args *a);
void cli_fini(struct cli *c);

/* Makes a kmsauth token (settings of the run) into *token (cleanse and free it) and the
 * username it goes with. Returns an exit code; the message is on stderr. */
int cli_kmsauth_token(const struct cli *c, const char *from, const char *user_type, int version,
                      int lifetime, char **token, char username[160]);

/* "Authorization: Basic base64(username:token)" (malloc'd; cleanse and free it). */
char *cli_basic_header(const char *username, const char *token);

/* Makes c->auth unless it is set: a Bearer API token (COFFER_TOKEN or --token-file), else a
 * kmsauth token. Returns an exit code. */
int cli_auth(struct cli *c);

/* One answer. body is cleansed when freed (it may hold secrets). */
struct cli_resp {
    long status; /* 0: no answer */
    struct cf_buf body;
    json_t *json;    /* the body parsed, or NULL */
    char error[256]; /* when status is 0: why (curl's text) */
};
void cli_resp_free(struct cli_resp *r);

/* Sends method path (already escaped, with its query) with body (may be NULL) and the run's
 * credentials; fills r. Returns an exit code: CLI_OK for a 2xx or 304, else the code of the
 * status, with the server's error message on stderr unless quiet. */
int cli_request(struct cli *c, const char *method, const char *path, const json_t *body, bool quiet,
                struct cli_resp *r);

/* The exit code of an HTTP status (0 for no answer: CLI_EUNAVAIL). */
int cli_exit_for(long status);

/* True for what is worth retrying: no answer, 429, 5xx. */
bool cli_retryable(long status);

/* Appends fmt to b with every "%s" argument percent-encoded as one path segment or query
 * value (RFC 3986 unreserved characters kept). Only %s and %% are understood. */
void cli_pathf(struct cf_buf *b, const char *fmt, ...);

/* Appends "?name=value" or "&name=value" (value encoded) to b. */
void cli_query(struct cf_buf *b, const char *name, const char *value);

/* Writes "coffer: " and the message to stderr. */
void cli_errorf(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

#endif
