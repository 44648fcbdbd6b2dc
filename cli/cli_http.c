/* cli_http.c - the coffer client's settings, credentials and JSON requests over libcurl. */
#include "cli_http.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <curl/curl.h>
#include <openssl/crypto.h>

#include "auth_kmsauth_gen.h"
#include "cf_codec.h"
#include "cf_file.h"
#include "cf_json.h"
#include "cf_log.h"
#include "cf_mem.h"
#include "cf_secret.h"
#include "cf_text.h"
#include "cf_time.h"
#include "kms.h"
#include "kms_curl.h"

#define MAX_BODY (16u << 20) /* the largest answer read: a page of 1,000 rows is far below */

void cli_errorf(const char *fmt, ...)
{
    char msg[4096];
    struct cf_buf out = { 0 };
    va_list ap;

    va_start(ap, fmt);
    // NOLINTNEXTLINE(clang-analyzer-valist.Uninitialized): va_start above
    int n = vsnprintf(msg, sizeof(msg), fmt, ap);
    va_end(ap);
    if (n < 0)
        msg[0] = '\0';
    /* the message may quote the server or a name: shown escaped, it is one line of its own
     * text (a message cut at sizeof(msg) shows its cut UTF-8 as \xHH) */
    cf_buf_append_str(&out, "coffer: ");
    cf_text_escape(&out, msg, strlen(msg), 0);
    cf_buf_append_char(&out, '\n');
    (void)fwrite(out.data, 1, out.len, stderr);
    cf_buf_free(&out);
}

const char *cli_get(const struct cli *c, const char *name, const char *def)
{
    return cli_setting(c->args, c->global, c->cmd_opts, name, def);
}

/* Replaces a configuration string with a flag's value. */
static void override(char **field, const char *flag)
{
    if (flag == NULL)
        return;
    free(*field);
    *field = cf_xstrdup(flag);
}

int cli_init(struct cli *c, const struct cli_opt *global, const struct cli_opt *cmd,
             const struct cli_args *a)
{
    char err[512];
    int64_t timeout;
    char name[] = "coffer";
    char *argv0[] = { name, NULL };
    char *rest[1];
    int nrest = 0;

    *c = (struct cli){ .global = global, .cmd_opts = cmd, .args = a };
    /* the environment only: the client's flags are its own (cli_args) */
    if (cf_config_load(&c->cfg, 1, argv0, rest, &nrest, err, sizeof(err)) != 0) {
        cli_errorf("%s", err);
        return CLI_EUSAGE;
    }
    /* cofferd's JSON log lines (from kms/, say) are noise to a client's user: only when asked */
    enum cf_log_level level = CF_LOG_OFF;
    // NOLINTNEXTLINE(concurrency-mt-unsafe): one thread, and nothing here calls setenv
    const char *asked = getenv("COFFER_LOG_LEVEL");
    if (asked != NULL && *asked != '\0' && cf_log_level_parse(asked, &level) != 0)
        level = CF_LOG_OFF; /* cf_config_load() has refused a bad value already */
    cf_log_set_level(level);
    override(&c->cfg.auth_key, cli_opt_value(a, "auth-key"));
    override(&c->cfg.user_auth_key, cli_opt_value(a, "user-auth-key"));
    override(&c->cfg.auth_context, cli_opt_value(a, "auth-context"));
    c->url = cli_get(c, "url", "http://127.0.0.1:8080");
    if (strlen(c->url) > 0 && c->url[strlen(c->url) - 1] == '/') {
        cli_errorf("--url must not end with '/': %s", c->url);
        return CLI_EUSAGE;
    }
    if (!cf_has_prefix(c->url, "http://") && !cf_has_prefix(c->url, "https://")) {
        cli_errorf("--url must start with http:// or https://: %s", c->url);
        return CLI_EUSAGE;
    }
    c->cacert = cli_get(c, "cacert", NULL);
    c->insecure = cli_flag(a, "insecure");
    if (c->insecure) {
        cli_errorf("warning: --insecure: the server's certificate is not verified; anyone on "
                   "the path can read and change what is sent");
    }
    if (cf_parse_i64(cli_get(c, "timeout", "30"), 1, 3600, &timeout) != 0) {
        cli_errorf("--timeout is 1 to 3600 seconds");
        return CLI_EUSAGE;
    }
    c->timeout_s = (long)timeout;
    c->json = cli_flag(a, "json") || isatty(STDOUT_FILENO) == 0;
    return CLI_OK;
}

void cli_fini(struct cli *c)
{
    cf_free_cleanse_str(c->auth);
    c->auth = NULL;
    cf_config_free(&c->cfg);
}

char *cli_basic_header(const char *username, const char *token)
{
    struct cf_buf raw = { 0 };
    cf_buf_append_str(&raw, username);
    cf_buf_append_char(&raw, ':');
    cf_buf_append_str(&raw, token);
    size_t n = cf_b64_encoded_len(CF_B64_STD, raw.len);
    const char prefix[] = "Authorization: Basic ";
    char *out = cf_xmalloc(sizeof(prefix) + n);
    memcpy(out, prefix, sizeof(prefix));
    if (cf_b64_encode(CF_B64_STD, (const uint8_t *)raw.data, raw.len, out + sizeof(prefix) - 1,
                      n + 1) != 0)
        out[0] = '\0';
    cf_buf_free(&raw);
    return out;
}

int cli_kmsauth_token(const struct cli *c, const char *from, const char *user_type, int version,
                      int lifetime, char **token, char username[160])
{
    struct kms_client *k = NULL;
    char err[512], key[KMS_KEY_ID_MAX + 1];
    bool user = strcmp(user_type, "user") == 0;
    const char *keys = user ? c->cfg.user_auth_key : c->cfg.auth_key;
    const char *fallback = user ? "alias/coffer-user-auth" : "alias/coffer-auth";
    int r;

    *token = NULL;
    if (!user && strcmp(user_type, "service") != 0) {
        cli_errorf("the user type is service or user, not %s", user_type);
        return CLI_EUSAGE;
    }
    if (version == 1 && user) {
        cli_errorf("version 1 tokens are service tokens");
        return CLI_EUSAGE;
    }
    if (from == NULL || *from == '\0') {
        cli_errorf("no kmsauth name: set COFFER_AUTH_FROM or --from (or COFFER_TOKEN for an "
                   "API token)");
        return CLI_EUSAGE;
    }
    if (c->cfg.auth_context == NULL) {
        cli_errorf("COFFER_AUTH_CONTEXT (the server's name, the kmsauth \"to\") is not set");
        return CLI_EUSAGE;
    }
    if (auth_kmsauth_username(version, user_type, from, username) != 0) {
        cli_errorf("the kmsauth name is 1 to 128 printable characters without '/' or ':'");
        return CLI_EUSAGE;
    }
    /* the first key of a rotation list is the current one */
    size_t n = keys != NULL ? strcspn(keys, ",") : strlen(fallback);
    if (cf_fmt(key, sizeof(key), "%.*s", (int)n, keys != NULL ? keys : fallback) != 0) {
        cli_errorf("the auth key name is too long");
        return CLI_EUSAGE;
    }
    if (kms_client_new(&c->cfg, &k, err, sizeof(err)) != 0) {
        cli_errorf("%s", err);
        return CLI_EUSAGE;
    }
    r = auth_kmsauth_generate(k, key, version, user_type, from, c->cfg.auth_context,
                              cf_now_us() / 1000000, lifetime, token);
    kms_client_free(k);
    if (r != 0) {
        cli_errorf("KMS could not make the token: %s", cf_strerror(r));
        return r == CF_EUNAVAIL || r == CF_EIO ? CLI_EUNAVAIL : CLI_EAUTH;
    }
    return CLI_OK;
}

/* The API token: COFFER_TOKEN, or the first line of --token-file / COFFER_TOKEN_FILE. */
static int api_token(const struct cli *c, char **out)
{
    const char *path = cli_get(c, "token-file", NULL);
    struct cf_secret s = { 0 };
    char err[512];

    *out = NULL;
    if (path != NULL) {
        if (cf_file_read_secret(path, 4096, 077, "the token file", &s, err, sizeof(err)) != 0) {
            cli_errorf("%s", err);
            return CLI_EUSAGE;
        }
        size_t n = 0;
        while (n < s.len && s.data[n] != '\n' && s.data[n] != '\r')
            n++;
        *out = cf_xstrndup((const char *)s.data, n);
        cf_secret_free(&s);
        return CLI_OK;
    }
    // NOLINTNEXTLINE(concurrency-mt-unsafe): one thread, and nothing here calls setenv
    const char *env = getenv("COFFER_TOKEN");
    if (env != NULL && *env != '\0')
        *out = cf_xstrdup(env);
    return CLI_OK;
}

int cli_auth(struct cli *c)
{
    char *token = NULL, username[AUTH_KMSAUTH_USERNAME_MAX];
    int64_t version, lifetime;
    int rc;

    if (c->auth != NULL)
        return CLI_OK;
    if ((rc = api_token(c, &token)) != CLI_OK)
        return rc;
    if (token != NULL) {
        struct cf_buf h = { 0 };
        cf_buf_append_str(&h, "Authorization: Bearer ");
        cf_buf_append_str(&h, token);
        c->auth = cf_xstrndup(h.data, h.len);
        cf_buf_free(&h);
        cf_free_cleanse_str(token);
        return CLI_OK;
    }
    const char *type = cli_get(c, "user-type", c->role == CLI_AS_SERVICE ? "service" : "user");
    const char *from = cli_get(c, "from", c->role == CLI_AS_SERVICE ? c->service : NULL);
    if (cf_parse_i64(cli_get(c, "token-version", "2"), 1, 2, &version) != 0 ||
        cf_parse_i64(cli_get(c, "lifetime", "10"), 1, 1440, &lifetime) != 0) {
        cli_errorf("--token-version is 1 or 2, --lifetime 1 to 1440 minutes");
        return CLI_EUSAGE;
    }
    rc = cli_kmsauth_token(c, from, type, (int)version, (int)lifetime, &token, username);
    if (rc == CLI_OK)
        c->auth = cli_basic_header(username, token);
    cf_free_cleanse_str(token);
    return rc;
}

void cli_resp_free(struct cli_resp *r)
{
    cf_buf_free(&r->body);
    json_decref(r->json);
    *r = (struct cli_resp){ 0 };
}

int cli_exit_for(long status)
{
    if (status >= 200 && status < 300)
        return CLI_OK;
    if (status == 304)
        return CLI_OK;
    switch (status) {
    case 401:
        return CLI_EAUTH;
    case 403:
        return CLI_EFORBIDDEN;
    case 404:
        return CLI_ENOTFOUND;
    case 409:
        return CLI_ECONFLICT;
    case 0:
    case 429:
        return CLI_EUNAVAIL;
    default:
        return status >= 500 ? CLI_EUNAVAIL : CLI_EFAIL;
    }
}

bool cli_retryable(long status)
{
    return status == 0 || status == 429 || status >= 500;
}

static size_t on_body(char *p, size_t size, size_t n, void *userdata)
{
    struct cf_buf *b = userdata;
    size_t len = size * n; /* curl: size is always 1 */
    if (b->len + len > MAX_BODY)
        return 0; /* too large: the transfer fails */
    cf_buf_append(b, p, len);
    return len;
}

/* The server's error body on stderr: its message, code and request id. */
static void print_error(const struct cli_resp *r)
{
    const char *msg = cf_json_str(r->json, "error");
    const char *code = cf_json_str(r->json, "code");
    const char *rid = cf_json_str(r->json, "request_id");
    const json_t *cur = json_object_get(r->json, "current_revision");

    if (msg == NULL) {
        cli_errorf("the server answered %ld", r->status);
        return;
    }
    if (json_is_integer(cur)) {
        cli_errorf("%s (%s: it is at revision %lld now; read it again and retry) [request %s]", msg,
                   code != NULL ? code : "?", (long long)json_integer_value(cur),
                   rid != NULL ? rid : "?");
        return;
    }
    cli_errorf("%s (%s, HTTP %ld) [request %s]", msg, code != NULL ? code : "?", r->status,
               rid != NULL ? rid : "?");
    json_t *conflicts = json_object_get(r->json, "conflicts");
    if (json_is_object(conflicts)) {
        const char *key;
        json_t *v;
        json_object_foreach(conflicts, key, v)
        {
            cli_errorf("  key %s is in more than one mapped credential", key);
        }
    }
}

int cli_request(struct cli *c, const char *method, const char *path, const json_t *body, bool quiet,
                struct cli_resp *r)
{
    char url[8192];
    struct cf_buf payload = { 0 };
    struct curl_slist *hl = NULL;
    CURLcode cc;
    int rc;

    *r = (struct cli_resp){ 0 };
    if ((rc = cli_auth(c)) != CLI_OK)
        return rc;
    if (cf_fmt(url, sizeof(url), "%s%s", c->url, path) != 0) {
        cli_errorf("the request is too long");
        return CLI_EUSAGE;
    }
    if (body != NULL && cf_json_dump_buf(body, JSON_COMPACT, &payload) != 0) {
        cli_errorf("cannot encode the request");
        return CLI_EFAIL;
    }
    CURL *h = curl_easy_init();
    if (h == NULL) {
        cf_buf_free(&payload);
        cli_errorf("libcurl failed to start");
        return CLI_EFAIL;
    }
    hl = curl_slist_append(hl, c->auth);
    if (body != NULL)
        hl = curl_slist_append(hl, "Content-Type: application/json");
    hl = curl_slist_append(hl, "Expect:");
    curl_easy_setopt(h, CURLOPT_URL, url);
    curl_easy_setopt(h, CURLOPT_PROTOCOLS_STR, "http,https");
    curl_easy_setopt(h, CURLOPT_CUSTOMREQUEST, method);
    curl_easy_setopt(h, CURLOPT_HTTPHEADER, hl);
    curl_easy_setopt(h, CURLOPT_CONNECTTIMEOUT, c->timeout_s < 10 ? c->timeout_s : 10L);
    curl_easy_setopt(h, CURLOPT_TIMEOUT, c->timeout_s);
    curl_easy_setopt(h, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(h, CURLOPT_WRITEFUNCTION, on_body);
    curl_easy_setopt(h, CURLOPT_WRITEDATA, &r->body);
    if (body != NULL) {
        curl_easy_setopt(h, CURLOPT_POSTFIELDS, payload.data);
        curl_easy_setopt(h, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)payload.len);
    }
    if (c->cacert != NULL)
        curl_easy_setopt(h, CURLOPT_CAINFO, c->cacert);
    if (c->insecure) {
        curl_easy_setopt(h, CURLOPT_SSL_VERIFYPEER, 0L);
        curl_easy_setopt(h, CURLOPT_SSL_VERIFYHOST, 0L);
    }
    cc = curl_easy_perform(h);
    if (cc == CURLE_OK)
        curl_easy_getinfo(h, CURLINFO_RESPONSE_CODE, &r->status);
    kms_curl_slist_free_cleanse(hl); /* the header carries the token */
    curl_easy_cleanup(h);
    cf_buf_free(&payload);
    if (cc != CURLE_OK) {
        if (cf_fmt(r->error, sizeof(r->error), "%s", curl_easy_strerror(cc)) != 0)
            r->error[0] = '\0';
        if (!quiet)
            cli_errorf("no answer from %s: %s", c->url, r->error);
        return CLI_EUNAVAIL;
    }
    if (r->body.len > 0)
        r->json = cf_json_parse(r->body.data, r->body.len, JSON_REJECT_DUPLICATES, NULL);
    rc = cli_exit_for(r->status);
    if (rc != CLI_OK && !quiet)
        print_error(r);
    if (rc == CLI_OK && r->status != 304 && r->status != 204 && r->json == NULL) {
        cli_errorf("the server's answer is not JSON (HTTP %ld)", r->status);
        rc = CLI_EUNAVAIL;
    }
    return rc;
}

static void encode(struct cf_buf *b, const char *s)
{
    static const char hex[] = "0123456789ABCDEF";
    for (const unsigned char *p = (const unsigned char *)s; *p != '\0'; p++) {
        if ((*p >= 'A' && *p <= 'Z') || (*p >= 'a' && *p <= 'z') || (*p >= '0' && *p <= '9') ||
            *p == '-' || *p == '.' || *p == '_' || *p == '~') {
            cf_buf_append_char(b, (char)*p);
        } else {
            char esc[4] = { '%', hex[*p >> 4], hex[*p & 15], '\0' };
            cf_buf_append_str(b, esc);
        }
    }
}

void cli_pathf(struct cf_buf *b, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    for (const char *p = fmt; *p != '\0'; p++) {
        if (p[0] == '%' && p[1] == 's') {
            encode(b, va_arg(ap, const char *));
            p++;
        } else if (p[0] == '%' && p[1] == '%') {
            cf_buf_append_char(b, '%');
            p++;
        } else {
            cf_buf_append_char(b, *p);
        }
    }
    va_end(ap);
}

void cli_query(struct cf_buf *b, const char *name, const char *value)
{
    bool first = b->len == 0 || memchr(b->data, '?', b->len) == NULL;
    cf_buf_append_char(b, first ? '?' : '&');
    encode(b, name);
    cf_buf_append_char(b, '=');
    encode(b, value);
}
