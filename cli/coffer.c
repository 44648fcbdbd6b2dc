/*
 * coffer.c - the coffer command-line client: kmsauth tokens and bundle fetches.
 *
 *   coffer token --from NAME [--user-type service|user] [--token-version 1|2]
 *                [--lifetime MINUTES] [--header]
 *   coffer get-service SERVICE [--from NAME] [--metadata-only] [token options]
 *
 * The KMS side comes from the same settings as cofferd's (COFFER_KMS_BACKEND,
 * COFFER_LOCAL_KEY_FILE, AWS_*): the token is encrypted under COFFER_AUTH_KEY (user tokens
 * under COFFER_USER_AUTH_KEY) for COFFER_AUTH_CONTEXT, the server's name. COFFER_URL (or
 * --url) names the server, default http://<COFFER_LISTEN>. An https server's certificate is
 * always verified, against COFFER_CACERT when it is set.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <curl/curl.h>
#include <openssl/crypto.h>

#include "auth_kmsauth_gen.h"
#include "cf_codec.h"
#include "cf_config.h"
#include "cf_json.h"
#include "cf_mem.h"
#include "cf_str.h"
#include "cf_time.h"
#include "kms.h"
#include "kms_curl.h"

struct opts {
    const char *cmd;
    const char *service;
    const char *from;
    const char *user_type;
    const char *url;
    int version;
    int lifetime;
    bool header;
    bool metadata_only;
};

static int usage(const char *msg)
{
    (void)fprintf(stderr,
                  "coffer: %s\n"
                  "usage: coffer token --from NAME [--user-type service|user] "
                  "[--token-version 1|2] [--lifetime MINUTES] [--header]\n"
                  "       coffer get-service SERVICE [--from NAME] [--metadata-only] [--url URL]\n"
                  "KMS and server name from COFFER_KMS_BACKEND, COFFER_LOCAL_KEY_FILE, "
                  "COFFER_AUTH_KEY, COFFER_USER_AUTH_KEY, COFFER_AUTH_CONTEXT (see cofferd "
                  "--help)\n",
                  msg);
    return 2;
}

static int parse_int(const char *s, int lo, int hi, int *out)
{
    int64_t v;
    if (cf_parse_i64(s, lo, hi, &v) != 0)
        return CF_EINVAL;
    *out = (int)v; /* within [lo, hi] */
    return 0;
}

/* COFFER_URL, else the server of COFFER_LISTEN (":port" meaning this host). */
static const char *default_url(const struct cf_config *cfg)
{
    static char url[300];
    // NOLINTNEXTLINE(concurrency-mt-unsafe): option parsing, before any thread; no setenv
    const char *env = getenv("COFFER_URL");
    if (env != NULL)
        return env;
    if (cf_fmt(url, sizeof(url), "http://%s%s", cfg->listen[0] == ':' ? "127.0.0.1" : "",
               cfg->listen) != 0)
        return "http://127.0.0.1:8080";
    return url;
}

static int parse_opts(const struct cf_config *cfg, int argc, char **argv, struct opts *o)
{
    *o = (struct opts){ .user_type = "service", .version = 2, .lifetime = 10 };
    o->url = default_url(cfg);
    if (argc < 1)
        return usage("a command is required");
    o->cmd = argv[0];
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i], *v = i + 1 < argc ? argv[i + 1] : NULL;
        if (strcmp(a, "--header") == 0) {
            o->header = true;
        } else if (strcmp(a, "--metadata-only") == 0) {
            o->metadata_only = true;
        } else if (a[0] != '-' && o->service == NULL) {
            o->service = a;
        } else if (v == NULL) {
            return usage("an option needs a value");
        } else if (strcmp(a, "--from") == 0) {
            o->from = argv[++i];
        } else if (strcmp(a, "--user-type") == 0) {
            o->user_type = argv[++i];
        } else if (strcmp(a, "--url") == 0) {
            o->url = argv[++i];
        } else if (strcmp(a, "--token-version") == 0) {
            if (parse_int(argv[++i], 1, 2, &o->version) != 0)
                return usage("--token-version is 1 or 2");
        } else if (strcmp(a, "--lifetime") == 0) {
            if (parse_int(argv[++i], 1, 1440, &o->lifetime) != 0)
                return usage("--lifetime is 1 to 1440 minutes");
        } else {
            return usage("unknown option");
        }
    }
    if (strcmp(o->cmd, "get-service") == 0 && o->service == NULL)
        return usage("get-service needs a SERVICE");
    if (o->from == NULL)
        o->from = o->service;
    if (o->from == NULL)
        return usage("--from is required");
    if (strcmp(o->user_type, "service") != 0 && strcmp(o->user_type, "user") != 0)
        return usage("--user-type is service or user");
    if (o->version == 1 && strcmp(o->user_type, "service") != 0)
        return usage("version 1 tokens are service tokens");
    return 0;
}

/* The Basic credentials of a kmsauth token: base64("<username>:<token>"). */
static char *basic_value(const char *username, const char *token)
{
    struct cf_buf raw = { 0 };
    cf_buf_append_str(&raw, username);
    cf_buf_append_char(&raw, ':');
    cf_buf_append_str(&raw, token);
    size_t n = cf_b64_encoded_len(CF_B64_STD, raw.len);
    char *out = cf_xmalloc(n + 1);
    if (cf_b64_encode(CF_B64_STD, (const uint8_t *)raw.data, raw.len, out, n + 1) != 0)
        out[0] = '\0';
    cf_buf_free(&raw);
    return out;
}

static int make_token(const struct cf_config *cfg, const struct opts *o, char **token,
                      char username[AUTH_KMSAUTH_USERNAME_MAX])
{
    struct kms_client *k = NULL;
    char err[512];
    bool user = strcmp(o->user_type, "user") == 0;
    const char *keys = user ? cfg->user_auth_key : cfg->auth_key;
    const char *fallback = user ? "alias/coffer-user-auth" : "alias/coffer-auth";
    char key[KMS_KEY_ID_MAX + 1];
    int r;

    if (cfg->auth_context == NULL) {
        (void)fprintf(stderr, "coffer: COFFER_AUTH_CONTEXT (the server's name) is not set\n");
        return 2;
    }
    /* the first key of a rotation list is the current one */
    size_t n = keys != NULL ? strcspn(keys, ",") : strlen(fallback);
    if (cf_fmt(key, sizeof(key), "%.*s", (int)n, keys != NULL ? keys : fallback) != 0)
        return 2;
    if (kms_client_new(cfg, &k, err, sizeof(err)) != 0) {
        (void)fprintf(stderr, "coffer: %s\n", err);
        return 2;
    }
    r = auth_kmsauth_generate(k, key, o->version, o->user_type, o->from, cfg->auth_context,
                              cf_now_us() / 1000000, o->lifetime, token);
    kms_client_free(k);
    if (r != 0) {
        (void)fprintf(stderr, "coffer: KMS could not make the token: %s\n", cf_strerror(r));
        return 1;
    }
    if (auth_kmsauth_username(o->version, o->user_type, o->from, username) != 0)
        return 2;
    return 0;
}

static size_t write_out(char *p, size_t size, size_t n, void *userdata)
{
    return fwrite(p, size, n, userdata);
}

static int get_service(const struct opts *o, const char *username, const char *token)
{
    char url[2048], auth[8192 + 256];
    char *basic = basic_value(username, token);
    long status = 0;
    int rc = 1;

    CURL *h = curl_easy_init();
    struct curl_slist *hl = NULL;
    if (h == NULL ||
        cf_fmt(url, sizeof(url), "%s/v1/services/%s?metadata_only=%s", o->url, o->service,
               o->metadata_only ? "True" : "False") != 0 ||
        cf_fmt(auth, sizeof(auth), "Authorization: Basic %s", basic) != 0)
        goto out;
    hl = curl_slist_append(hl, auth);
    curl_easy_setopt(h, CURLOPT_URL, url);
    curl_easy_setopt(h, CURLOPT_HTTPHEADER, hl);
    curl_easy_setopt(h, CURLOPT_TIMEOUT, 30L);
    curl_easy_setopt(h, CURLOPT_WRITEFUNCTION, write_out);
    curl_easy_setopt(h, CURLOPT_WRITEDATA, stdout);
    /* the server's certificate is always verified; COFFER_CACERT names the CA to verify it by
     * (a self-signed cofferd's own certificate, say) instead of the system's */
    // NOLINTNEXTLINE(concurrency-mt-unsafe): one thread, and nothing here calls setenv
    const char *ca = getenv("COFFER_CACERT");
    if (ca != NULL && *ca != '\0')
        curl_easy_setopt(h, CURLOPT_CAINFO, ca);
    if (curl_easy_perform(h) != CURLE_OK) {
        (void)fprintf(stderr, "coffer: no answer from %s\n", o->url);
        goto out;
    }
    curl_easy_getinfo(h, CURLINFO_RESPONSE_CODE, &status);
    (void)fputc('\n', stdout);
    rc = status == 200 ? 0 : 1;
    if (rc != 0)
        (void)fprintf(stderr, "coffer: the server answered %ld\n", status);
out:
    kms_curl_slist_free_cleanse(hl); /* the header carries the token */
    curl_easy_cleanup(h);
    OPENSSL_cleanse(auth, sizeof(auth));
    cf_free_cleanse_str(basic);
    return rc;
}

int main(int argc, char **argv)
{
    struct cf_config cfg;
    struct opts o;
    char err[512], username[AUTH_KMSAUTH_USERNAME_MAX], *token = NULL;
    char **rest = cf_xcalloc((size_t)argc + 1, sizeof(*rest));
    int nrest = 0, rc;

    cf_json_init();
    curl_global_init(CURL_GLOBAL_DEFAULT);
    if (cf_config_load(&cfg, argc, argv, rest, &nrest, err, sizeof(err)) != 0) {
        (void)fprintf(stderr, "coffer: %s\n", err);
        rc = 2;
        goto out;
    }
    if ((rc = parse_opts(&cfg, nrest, rest, &o)) != 0)
        goto out;
    if (strcmp(o.cmd, "token") != 0 && strcmp(o.cmd, "get-service") != 0) {
        rc = usage("unknown command");
        goto out;
    }
    if ((rc = make_token(&cfg, &o, &token, username)) != 0)
        goto out;
    if (strcmp(o.cmd, "get-service") == 0) {
        rc = get_service(&o, username, token);
    } else if (o.header) {
        char *basic = basic_value(username, token);
        (void)printf("Authorization: Basic %s\n", basic);
        cf_free_cleanse_str(basic);
    } else {
        (void)printf("%s\n", token);
    }
out:
    cf_free_cleanse_str(token);
    cf_config_free(&cfg);
    free(rest);
    curl_global_cleanup();
    return rc;
}
