/*
 * kms_aws.c - the AWS KMS backend: JSON 1.1 over libcurl, SigV4 by libcurl's
 * CURLOPT_AWS_SIGV4, credentials from the chain in kms_creds.h, retries with exponential
 * backoff and full jitter, and a small pool of easy handles so connections are reused.
 *
 * Every buffer of ours that holds a secret key, a plaintext, or a request or response body
 * that carries one is a cf_buf or cf_secret (cleansed on free) or a jansson value (freed
 * through cf_json's zeroing allocator). Bodies, keys and Authorization headers are never
 * logged; AWS error types are (never their messages).
 */
#include "kms_aws.h"

#include <errno.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <curl/curl.h>
#include <jansson.h>

#include "cf_codec.h"
#include "cf_crypto.h"
#include "cf_json.h"
#include "cf_log.h"
#include "cf_mem.h"
#include "cf_time.h"
#include "kms_creds.h"
#include "kms_curl.h"

#define AWS_POOL_MAX     16                  /* idle easy handles kept for reuse */
#define AWS_RESP_MAX     ((size_t)64 * 1024) /* KMS answers are a few KiB at most */
#define AWS_REQ_MAX      ((size_t)64 * 1024)
#define AWS_BLOB_MAX     6144 /* KMS's largest ciphertext blob */
#define AWS_REGION_MAX   32
#define AWS_ENDPOINT_MAX 1024
#define AWS_PATH_MAX     4096
#define AWS_TYPE_MAX     64
#define AWS_USER_AGENT   "coffer/0.1"

struct kms_aws {
    struct kms_aws_config cfg;
    char region[AWS_REGION_MAX + 1];
    char endpoint[AWS_ENDPOINT_MAX];
    char sigv4[AWS_REGION_MAX + 16]; /* "aws:amz:<region>:kms" */
    char ca_bundle[AWS_PATH_MAX];    /* AWS_CA_BUNDLE, or "" for the system's */
    bool curl_ready;                 /* curl_global_init() succeeded: clean up once */
    struct kms_creds_chain *creds;
    pthread_mutex_t lock; /* guards pool and npool */
    CURL *pool[AWS_POOL_MAX];
    size_t npool;
};

/* A setting, or its default when unset (0: a zeroed cf_config) or out of range. */
static long setting_or(int64_t v, long def, long max)
{
    return (v > 0 && v <= max) ? (long)v : def; /* in (0, max]: fits a long */
}

void kms_aws_config_from(const struct cf_config *cfg, struct kms_aws_config *ac)
{
    /* COFFER_KMS_CONNECT_TIMEOUT_MS, COFFER_KMS_TIMEOUT_MS, COFFER_KMS_MAX_ATTEMPTS,
     * COFFER_KMS_BACKOFF_BASE_MS, COFFER_KMS_BACKOFF_MAX_MS (common/cf_config.c validates
     * their ranges; the defaults here match its defaults) */
    ac->connect_timeout_ms = setting_or(cfg->kms_connect_timeout_ms, 2000, 600000);
    ac->timeout_ms = setting_or(cfg->kms_timeout_ms, 5000, 600000);
    ac->max_attempts = (int)setting_or(cfg->kms_max_attempts, 4, 100); /* <= 100: fits */
    ac->backoff_base_ms = setting_or(cfg->kms_backoff_base_ms, 50, 600000);
    ac->backoff_max_ms = setting_or(cfg->kms_backoff_max_ms, 2000, 600000);
}

const char *kms_aws_region(const void *impl)
{
    return ((const struct kms_aws *)impl)->region;
}

const char *kms_aws_endpoint(const void *impl)
{
    return ((const struct kms_aws *)impl)->endpoint;
}

/* Creation. */

static int config_error(char *err, size_t errcap, const char *msg)
{
    if (err != NULL && errcap > 0) {
        int ignored = cf_fmt(err, errcap, "%s", msg); /* a cut message is still a message */
        (void)ignored;
    }
    return CF_ECONFIG;
}

static bool is_region(const char *s)
{
    size_t n = 0;

    for (; s[n] != '\0'; n++) {
        char c = s[n];
        if (n >= AWS_REGION_MAX || !((c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-'))
            return false;
    }
    return n > 0;
}

static int find_region(struct kms_aws *a, char *err, size_t errcap)
{
    const char *env = kms_creds_getenv("AWS_REGION");
    int r = 0;

    if (env == NULL)
        env = kms_creds_getenv("AWS_DEFAULT_REGION");
    if (env != NULL) {
        r = cf_fmt(a->region, sizeof(a->region), "%s", env);
    } else {
        r = kms_creds_config_value("region", a->region, sizeof(a->region));
    }
    if (r == CF_ENOTFOUND) {
        return config_error(err, errcap,
                            "no AWS region: set AWS_REGION or AWS_DEFAULT_REGION, or region in the "
                            "profile of the AWS shared config file");
    }
    if (r == CF_ECONFIG || r == CF_EIO)
        return config_error(err, errcap, "cannot read the AWS shared config file (see the log)");
    if (r != 0 || !is_region(a->region))
        return config_error(err, errcap, "the AWS region is malformed (expected e.g. us-east-1)");
    return 0;
}

static bool is_endpoint(const char *s)
{
    if (!cf_has_prefix(s, "http://") && !cf_has_prefix(s, "https://"))
        return false;
    for (; *s != '\0'; s++) {
        if ((unsigned char)*s <= 0x20 || (unsigned char)*s >= 0x7f || *s == '@')
            return false; /* no spaces, controls, or credentials in the URL */
    }
    return true;
}

static int find_endpoint(struct kms_aws *a, char *err, size_t errcap)
{
    const char *env = kms_creds_getenv("AWS_ENDPOINT_URL_KMS");
    int r;

    if (env == NULL)
        env = kms_creds_getenv("AWS_ENDPOINT_URL");
    if (env != NULL) {
        r = cf_fmt(a->endpoint, sizeof(a->endpoint), "%s", env);
    } else {
        r = cf_fmt(a->endpoint, sizeof(a->endpoint), "https://kms.%s.amazonaws.com", a->region);
    }
    if (r != 0 || !is_endpoint(a->endpoint)) {
        return config_error(err, errcap,
                            "AWS_ENDPOINT_URL_KMS / AWS_ENDPOINT_URL must be an http:// or "
                            "https:// URL without credentials");
    }
    return 0;
}

static int find_ca_bundle(struct kms_aws *a, char *err, size_t errcap)
{
    const char *env = kms_creds_getenv("AWS_CA_BUNDLE");

    if (env != NULL && cf_fmt(a->ca_bundle, sizeof(a->ca_bundle), "%s", env) != 0)
        return config_error(err, errcap, "AWS_CA_BUNDLE is too long");
    return 0;
}

static void aws_destroy(void *impl)
{
    struct kms_aws *a = impl;

    if (a == NULL)
        return;
    for (size_t i = 0; i < a->npool; i++)
        curl_easy_cleanup(a->pool[i]);
    kms_creds_chain_free(a->creds);
    pthread_mutex_destroy(&a->lock);
    if (a->curl_ready)
        curl_global_cleanup();
    free(a);
}

static void config_normalise(struct kms_aws_config *c)
{
    if (c->max_attempts < 1)
        c->max_attempts = 1;
    if (c->backoff_base_ms < 0)
        c->backoff_base_ms = 0;
    if (c->backoff_max_ms < c->backoff_base_ms)
        c->backoff_max_ms = c->backoff_base_ms;
}

int kms_aws_new(const struct kms_aws_config *ac, void **impl_out, char *err, size_t errcap)
{
    struct kms_aws *a = cf_xcalloc(1, sizeof(*a));
    int r;

    *impl_out = NULL;
    if (pthread_mutex_init(&a->lock, NULL) != 0)
        abort(); /* only fails for want of memory */
    a->cfg = *ac;
    config_normalise(&a->cfg);
    a->creds = kms_creds_chain_new();
    if ((r = find_region(a, err, errcap)) != 0)
        goto out;
    if ((r = find_endpoint(a, err, errcap)) != 0)
        goto out;
    if ((r = find_ca_bundle(a, err, errcap)) != 0)
        goto out;
    if ((r = cf_fmt(a->sigv4, sizeof(a->sigv4), "aws:amz:%s:kms", a->region)) != 0)
        goto out;
    /* reference-counted, and thread-safe in libcurl >= 7.84; libcurl's freed memory cleansed */
    if (kms_curl_global_init() != CURLE_OK) {
        r = config_error(err, errcap, "libcurl could not be initialised");
        goto out;
    }
    a->curl_ready = true;
    cf_log(CF_LOG_INFO, "aws KMS backend ready", "{s:s, s:i}", "region", a->region, "max_attempts",
           a->cfg.max_attempts);
    *impl_out = a;
    a = NULL;
    r = 0;
out:
    aws_destroy(a);
    return r;
}

/* The handle pool. */

static CURL *pool_take(struct kms_aws *a)
{
    CURL *h = NULL;

    pthread_mutex_lock(&a->lock);
    if (a->npool > 0)
        h = a->pool[--a->npool];
    pthread_mutex_unlock(&a->lock);
    return h != NULL ? h : curl_easy_init();
}

static void pool_give(struct kms_aws *a, CURL *h)
{
    if (h == NULL)
        return;
    /* drops our options (and curl's copy of the key pair) but keeps the live connection */
    curl_easy_reset(h);
    pthread_mutex_lock(&a->lock);
    if (a->npool < AWS_POOL_MAX) {
        a->pool[a->npool++] = h;
        h = NULL;
    }
    pthread_mutex_unlock(&a->lock);
    curl_easy_cleanup(h); /* a no-op on NULL */
}

/* One HTTP attempt. */

static int append_header(struct curl_slist **hl, const char *line)
{
    struct curl_slist *next = curl_slist_append(*hl, line);
    if (next == NULL)
        return CF_EINTERNAL;
    *hl = next;
    return 0;
}

static int build_headers(const char *op, const struct kms_creds *creds, struct curl_slist **hl)
{
    char target[96];
    struct cf_buf token = { 0 }; /* cleansed on free */
    int r;

    if (cf_fmt(target, sizeof(target), "X-Amz-Target: TrentService.%s", op) != 0)
        return CF_EINTERNAL;
    if ((r = append_header(hl, "Content-Type: application/x-amz-json-1.1")) != 0)
        goto out;
    if ((r = append_header(hl, target)) != 0)
        goto out;
    if (creds->session_token.data != NULL) {
        cf_buf_append_str(&token, "X-Amz-Security-Token: ");
        cf_buf_append_str(&token, (const char *)creds->session_token.data);
        r = append_header(hl, token.data);
    }
out:
    cf_buf_free(&token);
    return r;
}

/* curl keeps its own copy of USERPWD: ours is built in a buffer cleansed right after. */
static bool set_userpwd(CURL *h, const struct kms_creds *creds)
{
    struct cf_buf up = { 0 };

    cf_buf_append_str(&up, creds->access_key_id);
    cf_buf_append_char(&up, ':');
    cf_buf_append_str(&up, (const char *)creds->secret_key.data);
    bool ok = curl_easy_setopt(h, CURLOPT_USERPWD, up.data) == CURLE_OK;
    cf_buf_free(&up);
    return ok;
}

static bool set_transport(const struct kms_aws *a, CURL *h)
{
    bool ok = curl_easy_setopt(h, CURLOPT_URL, a->endpoint) == CURLE_OK;
    ok = ok && curl_easy_setopt(h, CURLOPT_PROTOCOLS_STR, "http,https") == CURLE_OK;
    ok = ok && curl_easy_setopt(h, CURLOPT_REDIR_PROTOCOLS_STR, "http,https") == CURLE_OK;
    ok = ok && curl_easy_setopt(h, CURLOPT_FOLLOWLOCATION, 0L) == CURLE_OK;
    ok = ok && curl_easy_setopt(h, CURLOPT_NOSIGNAL, 1L) == CURLE_OK;
    ok = ok && curl_easy_setopt(h, CURLOPT_VERBOSE, 0L) == CURLE_OK;
    /* per attempt, and never past the deadline of the request this thread serves */
    long connect_ms = (long)cf_request_budget_ms(a->cfg.connect_timeout_ms);
    long total_ms = (long)cf_request_budget_ms(a->cfg.timeout_ms);
    /* aws_send checked that some is left; 0 would mean no timeout to curl */
    connect_ms = connect_ms > 0 ? connect_ms : 1;
    total_ms = total_ms > 0 ? total_ms : 1;
    ok = ok && curl_easy_setopt(h, CURLOPT_CONNECTTIMEOUT_MS, connect_ms) == CURLE_OK;
    ok = ok && curl_easy_setopt(h, CURLOPT_TIMEOUT_MS, total_ms) == CURLE_OK;
    ok = ok && curl_easy_setopt(h, CURLOPT_USERAGENT, AWS_USER_AGENT) == CURLE_OK;
    if (ok && a->ca_bundle[0] != '\0')
        ok = curl_easy_setopt(h, CURLOPT_CAINFO, a->ca_bundle) == CURLE_OK;
    return ok;
}

static int set_request(const struct kms_aws *a, CURL *h, const struct cf_buf *body,
                       const struct kms_creds *creds, struct curl_slist *hl,
                       struct kms_curl_sink *sink)
{
    if (body->len > AWS_REQ_MAX)
        return CF_ETOOBIG;
    bool ok = set_transport(a, h);
    ok = ok && curl_easy_setopt(h, CURLOPT_POST, 1L) == CURLE_OK;
    ok = ok && curl_easy_setopt(h, CURLOPT_POSTFIELDS, body->data) == CURLE_OK; /* not copied */
    ok = ok && curl_easy_setopt(h, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)body->len) ==
                   CURLE_OK; /* <= AWS_REQ_MAX */
    ok = ok && curl_easy_setopt(h, CURLOPT_HTTPHEADER, hl) == CURLE_OK;
    ok = ok && curl_easy_setopt(h, CURLOPT_AWS_SIGV4, a->sigv4) == CURLE_OK;
    ok = ok && curl_easy_setopt(h, CURLOPT_WRITEFUNCTION, kms_curl_write) == CURLE_OK;
    ok = ok && curl_easy_setopt(h, CURLOPT_WRITEDATA, sink) == CURLE_OK;
    ok = ok && set_userpwd(h, creds);
    return ok ? 0 : CF_EINTERNAL;
}

/* Transport failures: those a new attempt may cure are retried. */
static int curl_error(const char *op, CURLcode cc, bool *retry)
{
    cf_log(CF_LOG_WARN, "KMS request got no answer", "{s:s, s:i}", "op", op, "curl_code", (int)cc);
    switch (cc) {
    case CURLE_COULDNT_RESOLVE_HOST:
    case CURLE_COULDNT_CONNECT:
    case CURLE_OPERATION_TIMEDOUT:
    case CURLE_SEND_ERROR:
    case CURLE_RECV_ERROR:
    case CURLE_GOT_NOTHING:
    case CURLE_PARTIAL_FILE:
    case CURLE_SSL_CONNECT_ERROR:
    case CURLE_HTTP2:
    case CURLE_HTTP2_STREAM:
        *retry = true;
        return CF_EUNAVAIL;
    case CURLE_WEIRD_SERVER_REPLY:
        return CF_EBADRESPONSE;
    default:
        return CF_EUNAVAIL; /* TLS verification, a bad URL: another try would not help */
    }
}

/* AWS's error type from an error body: "__type", without any "namespace#" prefix, and only
 * if it looks like a type name (it is logged). "" when absent. */
static void error_type(const struct cf_buf *resp, char *type, size_t cap)
{
    json_t *root = cf_json_parse(resp->data, resp->len, 0, NULL);
    const char *t = cf_json_str(root, "__type");

    type[0] = '\0';
    if (t != NULL) {
        const char *hash = strrchr(t, '#');
        t = hash != NULL ? hash + 1 : t;
        size_t n = strspn(t, "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789_.");
        if (n > 0 && n < cap && (t[n] == '\0' || t[n] == ':')) {
            memcpy(type, t, n);
            type[n] = '\0';
        }
    }
    json_decref(root);
}

static const struct {
    const char *type;
    int err;
} aws_errors[] = {
    { "NotFoundException", CF_ENOTFOUND },         { "InvalidCiphertextException", CF_EINTEGRITY },
    { "IncorrectKeyException", CF_EINTEGRITY },    { "AccessDeniedException", CF_EDENIED },
    { "UnrecognizedClientException", CF_EDENIED }, { "InvalidSignatureException", CF_EDENIED },
    { "IncompleteSignature", CF_EDENIED },         { "InvalidClientTokenId", CF_EDENIED },
    { "SignatureDoesNotMatch", CF_EDENIED },       { "ExpiredTokenException", CF_EDENIED },
    { "ThrottlingException", CF_ETHROTTLED },
};

static int map_error(long status, const char *type)
{
    if (status >= 500)
        return CF_EUNAVAIL;
    if (status == 429)
        return CF_ETHROTTLED;
    for (size_t i = 0; i < sizeof(aws_errors) / sizeof(aws_errors[0]); i++) {
        if (strcmp(type, aws_errors[i].type) == 0)
            return aws_errors[i].err;
    }
    if (status == 401 || status == 403)
        return CF_EDENIED;
    if (status >= 400)
        return CF_EKMS;
    return CF_EBADRESPONSE; /* 1xx, 3xx, or an unexpected 2xx */
}

static int status_result(const char *op, long status, const struct cf_buf *resp, bool *retry)
{
    char type[AWS_TYPE_MAX];

    if (status == 200)
        return 0;
    error_type(resp, type, sizeof(type));
    int r = map_error(status, type);
    *retry = r == CF_ETHROTTLED || r == CF_EUNAVAIL;
    cf_log(CF_LOG_WARN, "KMS refused a request", "{s:s, s:i, s:s, s:s}", "op", op, "status",
           (int)status, "aws_error", type, "error", cf_errname(r));
    return r;
}

/* One request; *retry says whether another attempt may succeed. */
static int aws_attempt(struct kms_aws *a, const char *op, const struct cf_buf *body,
                       const struct kms_creds *creds, struct cf_buf *resp, bool *retry)
{
    struct kms_curl_sink sink = { .body = resp, .max = AWS_RESP_MAX };
    struct curl_slist *hl = NULL;
    CURL *h = pool_take(a);
    long status = 0;
    int r;

    *retry = false;
    if (h == NULL) {
        r = CF_EINTERNAL;
        goto out;
    }
    if ((r = build_headers(op, creds, &hl)) != 0)
        goto out;
    if ((r = set_request(a, h, body, creds, hl, &sink)) != 0)
        goto out;
    CURLcode cc = curl_easy_perform(h);
    if (cc != CURLE_OK) {
        r = sink.too_big ? CF_EBADRESPONSE : curl_error(op, cc, retry);
        goto out;
    }
    curl_easy_getinfo(h, CURLINFO_RESPONSE_CODE, &status);
    r = status_result(op, status, resp, retry);
out:
    pool_give(a, h);
    kms_curl_slist_free_cleanse(hl);
    return r;
}

/* Retries. */

static void sleep_ms(long ms)
{
    struct timespec ts = { .tv_sec = ms / 1000, .tv_nsec = (ms % 1000) * 1000000L };

    while (nanosleep(&ts, &ts) != 0 && errno == EINTR)
        ;
}

/* Full jitter: uniform in [0, min(max, base * 2^retry)]. */
static long backoff_ms(const struct kms_aws_config *c, int retry)
{
    long cap = c->backoff_base_ms;
    uint64_t rnd;

    for (int i = 0; i < retry && cap < c->backoff_max_ms; i++)
        cap = cap > c->backoff_max_ms / 2 ? c->backoff_max_ms : cap * 2;
    if (cap > c->backoff_max_ms)
        cap = c->backoff_max_ms;
    if (cap <= 0)
        return 0;
    if (cf_rand_bytes(&rnd, sizeof(rnd)) != 0)
        return cap;                           /* no randomness: wait the longest, never shorter */
    return (long)(rnd % ((uint64_t)cap + 1)); /* <= cap, a long */
}

static int aws_send(struct kms_aws *a, const char *op, const struct cf_buf *body,
                    const struct kms_creds *creds, struct cf_buf *resp)
{
    int r = CF_EINTERNAL;

    for (int attempt = 0; attempt < a->cfg.max_attempts; attempt++) {
        bool retry = false;
        if (attempt > 0)
            sleep_ms((long)cf_request_budget_ms(backoff_ms(&a->cfg, attempt - 1)));
        if (cf_request_budget_ms(1) == 0) {
            /* the request's deadline has passed: no more attempts */
            cf_log(CF_LOG_WARN, "KMS request given up: the request's deadline passed", "{s:s, s:i}",
                   "op", op, "attempts", attempt);
            r = attempt > 0 && r != CF_EINTERNAL ? r : CF_EUNAVAIL;
            break;
        }
        cf_buf_reset(resp);
        r = aws_attempt(a, op, body, creds, resp, &retry);
        if (r == 0 || !retry)
            break;
    }
    return r;
}

/* Sends req (which may hold a plaintext) as op and parses the answer into *resp_out. */
static int aws_call(struct kms_aws *a, const char *op, const json_t *req, json_t **resp_out)
{
    struct cf_buf body = { 0 }, resp = { 0 }; /* may carry plaintext: cleansed on free */
    struct kms_creds creds = { 0 };
    int r;

    *resp_out = NULL;
    if (cf_json_dump_buf(req, JSON_COMPACT, &body) != 0) {
        r = CF_EINTERNAL;
        goto out;
    }
    if ((r = kms_creds_chain_get(a->creds, &creds)) != 0)
        goto out;
    if ((r = aws_send(a, op, &body, &creds, &resp)) != 0)
        goto out;
    *resp_out = cf_json_parse(resp.data, resp.len, JSON_REJECT_DUPLICATES, NULL);
    if (!json_is_object(*resp_out)) {
        cf_log(CF_LOG_WARN, "KMS answer is not a JSON object", "{s:s}", "op", op);
        r = CF_EBADRESPONSE;
    }
out:
    if (r != 0) {
        json_decref(*resp_out);
        *resp_out = NULL;
    }
    kms_creds_free(&creds);
    cf_buf_free(&body);
    cf_buf_free(&resp);
    return r;
}

/* Request and answer members. */

static int add_context(json_t *req, const struct kms_context *ctx)
{
    if (ctx == NULL || ctx->n == 0)
        return 0; /* KMS treats an absent context as empty */
    if (ctx->n > KMS_CONTEXT_MAX)
        return CF_EINVAL;
    json_t *obj = json_object();
    if (obj == NULL)
        return CF_EINTERNAL;
    for (size_t i = 0; i < ctx->n; i++) {
        const char *k = ctx->pairs[i].key, *v = ctx->pairs[i].value;
        /* a duplicate key is refused; json_string() is NULL for invalid UTF-8, and
         * json_object_set_new() takes the value even when it fails */
        if (k == NULL || v == NULL || json_object_get(obj, k) != NULL ||
            json_object_set_new(obj, k, json_string(v)) != 0) {
            json_decref(obj);
            return CF_EINVAL;
        }
    }
    return json_object_set_new(req, "EncryptionContext", obj) == 0 ? 0 : CF_EINTERNAL;
}

static int get_string(const json_t *obj, const char *key, const char **out, size_t *len_out)
{
    const json_t *v = json_object_get(obj, key);

    if (!json_is_string(v) || json_string_length(v) == 0)
        return CF_EBADRESPONSE;
    *out = json_string_value(v);
    *len_out = json_string_length(v);
    return 0;
}

/* A base64 member of an answer, decoded into a secret. */
static int get_secret_b64(const json_t *obj, const char *key, struct cf_secret *out)
{
    struct cf_secret tmp = { 0 }; /* partial output is cleansed too */
    const char *s;
    size_t len, n = 0;
    int r;

    if ((r = get_string(obj, key, &s, &len)) != 0)
        return r;
    if (cf_secret_alloc(&tmp, cf_b64_decoded_max(len)) != 0)
        return CF_EBADRESPONSE; /* over CF_SECRET_MAX */
    if (cf_b64_decode(CF_B64_STD, s, len, tmp.data, tmp.len, &n) != 0 || n == 0) {
        r = CF_EBADRESPONSE;
        goto out;
    }
    r = cf_secret_dup(out, tmp.data, n);
out:
    cf_secret_free(&tmp);
    return r;
}

/* A ciphertext blob member of an answer. */
static int get_blob(const json_t *obj, const char *key, struct kms_blob *out)
{
    const char *s;
    size_t len, n = 0;
    int r;

    if ((r = get_string(obj, key, &s, &len)) != 0)
        return r;
    if (len > AWS_RESP_MAX)
        return CF_EBADRESPONSE;
    out->data = cf_xmalloc(cf_b64_decoded_max(len));
    if (cf_b64_decode(CF_B64_STD, s, len, out->data, cf_b64_decoded_max(len), &n) != 0 || n == 0) {
        kms_blob_free(out);
        return CF_EBADRESPONSE;
    }
    out->len = n;
    return 0;
}

static int get_arn(const json_t *obj, const char *key, char *out, size_t cap)
{
    const char *s;
    size_t len;
    int r;

    if ((r = get_string(obj, key, &s, &len)) != 0)
        return r;
    if (out == NULL || cap == 0)
        return 0; /* the caller does not want it */
    /* an ARN longer than any KMS gives is a bad answer, not the caller's fault */
    return cf_fmt(out, cap, "%s", s) == 0 ? 0 : CF_EBADRESPONSE;
}

/* Base64 of bytes (a plaintext or a blob) as a JSON string; the text is cleansed. */
static json_t *b64_string(const uint8_t *p, size_t n)
{
    struct cf_secret text = { 0 };
    size_t cap = cf_b64_encoded_len(CF_B64_STD, n) + 1;
    json_t *s = NULL;

    if (cf_secret_alloc(&text, cap) == 0 &&
        cf_b64_encode(CF_B64_STD, p, n, (char *)text.data, text.len) == 0)
        s = json_string((const char *)text.data);
    cf_secret_free(&text);
    return s;
}

/* The operations. */

static int aws_generate_data_key(void *impl, const char *key_id, const struct kms_context *ctx,
                                 struct cf_secret *plain_out, struct kms_blob *blob_out,
                                 char *key_arn_out, size_t key_arn_cap)
{
    json_t *req = json_pack("{s:s, s:s}", "KeyId", key_id, "KeySpec", "AES_256");
    json_t *resp = NULL; /* holds the plaintext key: freed through the zeroing allocator */
    int r;

    *plain_out = (struct cf_secret){ 0 };
    *blob_out = (struct kms_blob){ 0 };
    if (req == NULL) {
        r = CF_EINVAL; /* key_id is not UTF-8 */
        goto out;
    }
    if ((r = add_context(req, ctx)) != 0)
        goto out;
    if ((r = aws_call(impl, "GenerateDataKey", req, &resp)) != 0)
        goto out;
    if ((r = get_secret_b64(resp, "Plaintext", plain_out)) != 0)
        goto out;
    if (plain_out->len != KMS_DATA_KEY_LEN) {
        r = CF_EBADRESPONSE;
        goto out;
    }
    if ((r = get_blob(resp, "CiphertextBlob", blob_out)) != 0)
        goto out;
    r = get_arn(resp, "KeyId", key_arn_out, key_arn_cap);
out:
    if (r != 0) {
        cf_secret_free(plain_out);
        kms_blob_free(blob_out);
    }
    json_decref(req);
    json_decref(resp);
    return r;
}

static int aws_decrypt(void *impl, const uint8_t *blob, size_t blob_len,
                       const struct kms_context *ctx, struct cf_secret *plain_out,
                       char *key_arn_out, size_t key_arn_cap)
{
    json_t *req = json_object();
    json_t *resp = NULL; /* holds the plaintext: freed through the zeroing allocator */
    int r;

    *plain_out = (struct cf_secret){ 0 };
    if (blob_len > AWS_BLOB_MAX) {
        r = CF_EINVAL;
        goto out;
    }
    if (req == NULL ||
        json_object_set_new(req, "CiphertextBlob", b64_string(blob, blob_len)) != 0) {
        r = CF_EINTERNAL;
        goto out;
    }
    if ((r = add_context(req, ctx)) != 0)
        goto out;
    if ((r = aws_call(impl, "Decrypt", req, &resp)) != 0)
        goto out;
    if ((r = get_secret_b64(resp, "Plaintext", plain_out)) != 0)
        goto out;
    r = get_arn(resp, "KeyId", key_arn_out, key_arn_cap); /* KMS names the key it used */
out:
    if (r != 0)
        cf_secret_free(plain_out);
    json_decref(req);
    json_decref(resp);
    return r;
}

static int aws_encrypt(void *impl, const char *key_id, const uint8_t *plain, size_t plain_len,
                       const struct kms_context *ctx, struct kms_blob *blob_out, char *key_arn_out,
                       size_t key_arn_cap)
{
    json_t *req = json_pack("{s:s}", "KeyId", key_id); /* gets the plaintext: zeroing free */
    json_t *resp = NULL;
    int r;

    *blob_out = (struct kms_blob){ 0 };
    if (req == NULL) {
        r = CF_EINVAL; /* key_id is not UTF-8 */
        goto out;
    }
    if (json_object_set_new(req, "Plaintext", b64_string(plain, plain_len)) != 0) {
        r = CF_EINTERNAL;
        goto out;
    }
    if ((r = add_context(req, ctx)) != 0)
        goto out;
    if ((r = aws_call(impl, "Encrypt", req, &resp)) != 0)
        goto out;
    if ((r = get_blob(resp, "CiphertextBlob", blob_out)) != 0)
        goto out;
    r = get_arn(resp, "KeyId", key_arn_out, key_arn_cap);
out:
    if (r != 0)
        kms_blob_free(blob_out);
    json_decref(req);
    json_decref(resp);
    return r;
}

static int aws_describe_key(void *impl, const char *key_id, char *arn_out, size_t arn_cap)
{
    json_t *req = json_pack("{s:s}", "KeyId", key_id);
    json_t *resp = NULL;
    int r;

    if (req == NULL) {
        r = CF_EINVAL; /* key_id is not UTF-8 */
        goto out;
    }
    if ((r = aws_call(impl, "DescribeKey", req, &resp)) != 0)
        goto out;
    const json_t *meta = json_object_get(resp, "KeyMetadata");
    if (!json_is_object(meta)) {
        r = CF_EBADRESPONSE;
        goto out;
    }
    r = get_arn(meta, "Arn", arn_out, arn_cap);
out:
    json_decref(req);
    json_decref(resp);
    return r;
}

const struct kms_backend_ops kms_aws_ops = {
    .generate_data_key = aws_generate_data_key,
    .decrypt = aws_decrypt,
    .encrypt = aws_encrypt,
    .describe_key = aws_describe_key,
    .destroy = aws_destroy,
};
