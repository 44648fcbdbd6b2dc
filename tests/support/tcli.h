/*
 * tcli.h - what the tests of the coffer command-line client share (test_cli_*.c): running
 * coffer as a process against the fixture's cofferd (tkms.h: the aws KMS backend on moto,
 * kmsauth on, PostgreSQL) with an environment of its own, reading what it printed, files,
 * terminals and live processes, the API and the database as the admin sees them, and the
 * registry of secrets that must never be on a command line or in an environment.
 *
 * Values travel on stdin only: every secret a test makes is registered (secret_add(),
 * secret_new()), and every command line and environment given to coffer is checked for them.
 */
#ifndef TCLI_H
#define TCLI_H

#include <stdbool.h>
#include <stddef.h>
#include <sys/types.h>

#include <jansson.h>

#include "cf_str.h"
#include "taudit.h"
#include "tkms.h"

#define ARGS(...) ((const char *const[]){ __VA_ARGS__, NULL })
#define N_OF(a)   (sizeof(a) / sizeof((a)[0]))

#define POLL_SECONDS 20 /* revocations and role changes reach the node within a second */

/* The coffer binary that tcli_group_setup() found. */
extern char coffer_path[600];

/* --- secrets that must never be on a command line ------------------------------------------- */

#define SECRETS_MAX 64
extern char *secrets[SECRETS_MAX]; /* what secret_add() registered */
extern size_t nsecrets;

/* Registers s: from now on no command line or environment given to coffer may contain it. */
void secret_add(const char *s);

/* Forgets every registered secret (tcli_finish() does). */
void secrets_free(void);

/* A value nobody else uses: prefix and 8 random hex digits, registered as a secret. */
void secret_new(char *out, size_t cap, const char *prefix);

/* --- running coffer ------------------------------------------------------------------------- */

/* How one run authenticates, where it goes and what it reads. */
struct how {
    const char *token;      /* COFFER_TOKEN; NULL: none, so coffer makes a kmsauth token */
    const char *url;        /* COFFER_URL; NULL: the fixture's cofferd */
    const char *from;       /* COFFER_AUTH_FROM; NULL: unset */
    const char *in;         /* stdin; NULL: /dev/null */
    size_t inlen;           /* its length; 0: strlen(in) */
    const char *const *env; /* more NAME=value entries (NULL-terminated; later ones win) */
};

struct run {
    int rc;
    struct cf_buf out, err;
};

void run_free(struct run *r);

const char *out_of(const struct run *r);

const char *err_of(const struct run *r);

void strv_free(char **v);

/* The environment of a run: the fixture's cofferd settings for kmsauth (COFFER_AUTH_KEY,
 * COFFER_USER_AUTH_KEY, COFFER_AUTH_CONTEXT, COFFER_KMS_BACKEND and the AWS_* of moto), then
 * the client's own settings, then h->env (h may be NULL). NULL-terminated, malloc'd:
 * strv_free() it. */
char **env_of(const struct tkms *f, const struct how *h);

char **argv_of(const char *const args[]);

/* Fails the test if a registered secret is in any of the strings (an API token may be the
 * value of COFFER_TOKEN: that is where it belongs). */
void assert_no_secret_in(char *const *v, const char *what);

/* Runs coffer args as h says; returns the exit status (also in r->rc). run_free() r. */
int coffer(const struct tkms *f, const struct how *h, const char *const args[], struct run *r);

/* The command line as text, for messages (static storage until the next call). */
const char *cmdline(const char *const args[]);

/* NULL if r exited want (and, if needle is not NULL, stderr contains it), else what differs. */
char *run_diff(const struct run *r, int want, const char *needle);

/* Runs coffer and fails the test unless it exits want. */
void coffer_expect(const struct tkms *f, const struct how *h, const char *const args[], int want,
                   struct run *r);

/* Runs coffer, expects exit 0 and discards the output. */
void coffer_ok(const struct tkms *f, const struct how *h, const char *const args[]);

/* --- what coffer prints --------------------------------------------------------------------- */

/* stdout as JSON lines: every line one JSON object, the last one ended by a newline. Returns
 * an array of them (json_decref it). */
json_t *lines_of(const struct run *r);

/* stdout as exactly one line holding one JSON object (json_decref it). */
json_t *one_of(const struct run *r);

/* The item of a list whose member key is the string value, or NULL. */
json_t *item_with(const json_t *items, const char *key, const char *value);

/* True if text holds word with no letter, digit or '_' right before or after it. */
bool has_word(const char *text, const char *word);

/* Fails unless got[0..glen) is exactly want[0..wlen), naming the first difference. */
void assert_bytes(const char *what, const char *got, size_t glen, const char *want, size_t wlen);

/* Fails unless the JSON string v holds exactly want. */
void assert_json_bytes(const char *what, const json_t *v, const char *want);

/* --- files, processes and terminals --------------------------------------------------------- */

/* A path under the test work folder nobody else uses. */
void work_path(char *out, size_t cap, const char *prefix);

void write_file(const char *path, const char *data, size_t len, mode_t mode);

void read_file(const char *path, struct cf_buf *out);

bool exists(const char *path);

/* Runs argv with its stdout on a terminal (a pty, raw mode) and stdin and stderr on
 * /dev/null: what people see. Returns the exit status. */
int run_tty(char *const argv[], char *const env[], struct cf_buf *out);

/* A coffer that runs while the test holds its stdin open. */
struct live {
    pid_t pid;
    int in;
    char out_path[600], err_path[600];
};

void live_start(const struct tkms *f, const struct how *h, const char *const args[],
                struct live *l);

void live_write(struct live *l, const char *s);

/* Closes its stdin, waits for it and collects what it printed. */
int live_end(struct live *l, struct run *r);

/* The bytes of /proc/<pid>/<file> (cmdline or environ); false if unreadable. */
bool proc_read(pid_t pid, const char *file, struct cf_buf *out);

bool buf_has(const struct cf_buf *b, const char *needle);

/* The pids of every process whose command line holds needle ("" if none; free() it). */
char *argv_holders(const char *needle);

struct cmd_wait {
    pid_t pid;
    const char *prefix;
};

/* True once the process's command line starts with w->prefix (it has exec'd). */
bool cmdline_is(void *arg);

/* --- the API and the database --------------------------------------------------------------- */

/* A credential created as the admin through the API from a JSON object of pairs. */
void api_cred(const struct tkms *f, const char *prefix, const char *pairs, bool enabled, char *name,
              size_t ncap, char id[TAPI_ID_LEN]);

/* GET path as the admin; asserts 200 and returns the body (json_decref it). */
json_t *api_get(const struct tkms *f, const char *path);

/* The credential as the admin reads it now, values included (json_decref it). */
json_t *api_cred_get(const struct tkms *f, const char *id);

/* The service's metadata as the admin reads it now (json_decref it). */
json_t *api_svc_get(const struct tkms *f, const char *sid);

/* The ids of a service's credentials, each followed by a comma (free() it). */
char *svc_cred_ids(const struct tkms *f, const char *sid);

/* A PostgreSQL string literal body for a value made of [A-Za-z0-9_:.-] (checked). */
const char *sql_safe(const char *s);

/* Runs sql ($1 = the row id) as the superuser with the access log's triggers off, as an
 * intruder with the database's keys would (taudit_tamper()), and checks that it touched the
 * row: afterwards want rows with that id match the condition and (may be ""). */
void tamper(struct tkms *f, const char *sql, long id, const char *and, long want);

/* A URL of 127.0.0.1 where nothing listens. */
void dead_url(char *out, size_t cap);

/* --- values that shells and JSON encoders mangle -------------------------------------------- */

/* Bytes a shell or a JSON encoder could mangle: quotes of every kind, $, backticks, command
 * substitution that would touch marker, backslashes (one ending a line), escapes, a tab, CR,
 * control bytes, non-ASCII UTF-8 (bytes 0x81-0x8a included, which dash uses internally), and
 * trailing newlines. tag makes it unique (free() it). */
char *tricky_value(const char *tag, const char *marker);

/* Sources file in shell (after set -a if set_a) and prints $name with printf '%s' into r. */
void shell_value(const char *shell, const char *file, bool set_a, const char *name, struct run *r);

/* --- the binary's frame ----------------------------------------------------------------------- */

/* Call first in main(): JSON set up, and every COFFER_* setting of the client unset (each run
 * takes its settings from the environment env_of() gives it only). */
void tcli_init(void);

/* The group's fixture: finds the coffer binary, then tkms_setup() (one database, cofferd and
 * moto keys). Its teardown is tkms_teardown(). */
int tcli_group_setup(void **state);

/* Call last in main(): frees the registered secrets. */
void tcli_finish(void);

#endif
