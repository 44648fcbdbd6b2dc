/*
 * kms_creds.c - the AWS credentials chain: its cache, its order, and what the sources share
 * (checked credential strings, the HTTP exchange with metadata endpoints, their JSON answer).
 */
#include "kms_creds.h"

#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include <curl/curl.h>
#include <jansson.h>

#include "cf_json.h"
#include "cf_log.h"
#include "cf_mem.h"
#include "cf_time.h"
#include "kms_curl.h"

struct kms_creds_chain {
    pthread_mutex_t lock; /* guards every field below */
    struct kms_creds cached;
    bool have;
    int64_t refresh_at_us; /* when cached must be fetched again */
};

void kms_creds_free(struct kms_creds *c)
{
    if (c == NULL)
        return;
    cf_secret_free(&c->secret_key);
    cf_secret_free(&c->session_token);
    *c = (struct kms_creds){ 0 };
}

static void dup_or_die(struct cf_secret *dst, const struct cf_secret *src)
{
    *dst = (struct cf_secret){ 0 };
    if (src->data == NULL)
        return;
    /* src was accepted by cf_secret_dup already, so its size is within CF_SECRET_MAX */
    if (cf_secret_dup(dst, src->data, src->len) != 0)
        abort();
}

void kms_creds_copy(struct kms_creds *dst, const struct kms_creds *src)
{
    *dst = (struct kms_creds){ 0 };
    memcpy(dst->access_key_id, src->access_key_id, sizeof(dst->access_key_id));
    dup_or_die(&dst->secret_key, &src->secret_key);
    dup_or_die(&dst->session_token, &src->session_token);
    dst->expires_us = src->expires_us;
    dst->source = src->source;
}

/* Printable ASCII without spaces (and without ':' unless allowed), 1..max characters. */
static bool is_cred_string(const char *s, size_t max, bool allow_colon)
{
    size_t n = 0;

    for (; s[n] != '\0'; n++) {
        unsigned char ch = (unsigned char)s[n];
        if (ch <= 0x20 || ch >= 0x7f || (ch == ':' && !allow_colon) || n >= max)
            return false;
    }
    return n > 0;
}

static int secret_str(struct cf_secret *s, const char *src)
{
    return cf_secret_dup(s, src, strlen(src) + 1); /* keeps the NUL: a C string for curl */
}

int kms_creds_set(struct kms_creds *c, const char *akid, const char *secret, const char *token)
{
    int r = CF_EINVAL;

    kms_creds_free(c);
    if (akid == NULL || secret == NULL) /* half a key pair */
        goto out;
    if (!is_cred_string(akid, KMS_CREDS_AKID_MAX, false) ||
        !is_cred_string(secret, KMS_CREDS_SECRET_MAX, false))
        goto out;
    if (token != NULL && *token != '\0' && !is_cred_string(token, KMS_CREDS_TOKEN_MAX, true))
        goto out;
    memcpy(c->access_key_id, akid, strlen(akid) + 1); /* fits: checked above */
    if ((r = secret_str(&c->secret_key, secret)) != 0)
        goto out;
    if (token != NULL && *token != '\0')
        r = secret_str(&c->session_token, token);
out:
    if (r != 0)
        kms_creds_free(c);
    return r;
}

const char *kms_creds_getenv(const char *name)
{
    // NOLINTNEXTLINE(concurrency-mt-unsafe): coffer never changes its environment once running
    const char *v = getenv(name);
    return (v == NULL || *v == '\0') ? NULL : v;
}

struct kms_creds_chain *kms_creds_chain_new(void)
{
    struct kms_creds_chain *ch = cf_xcalloc(1, sizeof(*ch));
    if (pthread_mutex_init(&ch->lock, NULL) != 0)
        abort(); /* only fails for want of memory */
    return ch;
}

void kms_creds_chain_free(struct kms_creds_chain *ch)
{
    if (ch == NULL)
        return;
    kms_creds_free(&ch->cached);
    pthread_mutex_destroy(&ch->lock);
    free(ch);
}

/* Asks each source in the standard order; the first answer other than CF_ENOTFOUND counts. */
static int chain_resolve(struct kms_creds *out)
{
    static int (*const sources[])(struct kms_creds *) = {
        kms_creds_from_env,
        kms_creds_from_file,
        kms_creds_from_container,
        kms_creds_from_imds,
    };

    for (size_t i = 0; i < sizeof(sources) / sizeof(sources[0]); i++) {
        int r = sources[i](out);
        if (r != CF_ENOTFOUND)
            return r;
    }
    cf_log(CF_LOG_WARN, "no AWS credentials found", NULL);
    return CF_EDENIED;
}

static int64_t refresh_time(const struct kms_creds *c, int64_t now)
{
    if (c->expires_us == 0)
        return now + KMS_CREDS_STATIC_TTL_US;
    return c->expires_us - KMS_CREDS_REFRESH_US;
}

static bool cache_get(struct kms_creds_chain *ch, struct kms_creds *out)
{
    bool hit = false;

    pthread_mutex_lock(&ch->lock);
    if (ch->have && cf_now_us() < ch->refresh_at_us) {
        kms_creds_copy(out, &ch->cached); /* a copy: nothing points into the cache */
        hit = true;
    }
    pthread_mutex_unlock(&ch->lock);
    return hit;
}

/* After a failed refresh: temporary credentials that have not expired yet are still good. */
static bool cache_get_unexpired(struct kms_creds_chain *ch, struct kms_creds *out)
{
    bool hit = false;

    pthread_mutex_lock(&ch->lock);
    if (ch->have && ch->cached.expires_us != 0 && cf_now_us() < ch->cached.expires_us) {
        kms_creds_copy(out, &ch->cached);
        hit = true;
    }
    pthread_mutex_unlock(&ch->lock);
    return hit;
}

int kms_creds_chain_get(struct kms_creds_chain *ch, struct kms_creds *out)
{
    struct kms_creds fresh = { 0 };
    int r;

    *out = (struct kms_creds){ 0 };
    if (cache_get(ch, out))
        return 0;
    /* no lock while sources do I/O: two threads may refresh at once, the last one is kept */
    if ((r = chain_resolve(&fresh)) != 0) {
        if (cache_get_unexpired(ch, out)) {
            cf_log(CF_LOG_WARN,
                   "AWS credentials refresh failed: using the current ones until "
                   "they expire",
                   "{s:s}", "error", cf_errname(r));
            r = 0;
        }
        goto out;
    }
    cf_log(CF_LOG_INFO, "AWS credentials loaded", "{s:s, s:s, s:b}", "source", fresh.source,
           "access_key_id", fresh.access_key_id, "temporary", fresh.expires_us != 0);
    kms_creds_copy(out, &fresh);
    pthread_mutex_lock(&ch->lock);
    kms_creds_free(&ch->cached);
    kms_creds_copy(&ch->cached, &fresh);
    ch->have = true;
    ch->refresh_at_us = refresh_time(&fresh, cf_now_us());
    pthread_mutex_unlock(&ch->lock);
    r = 0;
out:
    kms_creds_free(&fresh);
    return r;
}

/* HTTP for the metadata sources. */

static bool http_setup(CURL *h, const char *method, const char *url, struct curl_slist *hl,
                       long timeout_ms, struct kms_curl_sink *sink)
{
    bool ok = curl_easy_setopt(h, CURLOPT_URL, url) == CURLE_OK;
    ok = ok && curl_easy_setopt(h, CURLOPT_CUSTOMREQUEST, method) == CURLE_OK;
    ok = ok && curl_easy_setopt(h, CURLOPT_HTTPHEADER, hl) == CURLE_OK;
    ok = ok && curl_easy_setopt(h, CURLOPT_PROTOCOLS_STR, "http,https") == CURLE_OK;
    ok = ok && curl_easy_setopt(h, CURLOPT_NOSIGNAL, 1L) == CURLE_OK;
    ok = ok && curl_easy_setopt(h, CURLOPT_CONNECTTIMEOUT_MS, timeout_ms) == CURLE_OK;
    ok = ok && curl_easy_setopt(h, CURLOPT_TIMEOUT_MS, timeout_ms) == CURLE_OK;
    ok = ok && curl_easy_setopt(h, CURLOPT_WRITEFUNCTION, kms_curl_write) == CURLE_OK;
    ok = ok && curl_easy_setopt(h, CURLOPT_WRITEDATA, sink) == CURLE_OK;
    /* a PUT without a body (the IMDS token) must still send Content-Length: 0 */
    if (ok && strcmp(method, "PUT") == 0) {
        ok = curl_easy_setopt(h, CURLOPT_POSTFIELDSIZE, 0L) == CURLE_OK &&
             curl_easy_setopt(h, CURLOPT_POSTFIELDS, "") == CURLE_OK;
    }
    return ok;
}

int kms_creds_http(const char *method, const char *url, const char *const *headers, long timeout_ms,
                   struct cf_buf *body_out, long *status_out)
{
    struct kms_curl_sink sink = { .body = body_out, .max = KMS_CREDS_HTTP_MAX };
    struct curl_slist *hl = NULL;
    CURL *h = curl_easy_init();
    int r = CF_EUNAVAIL;

    *status_out = 0;
    if (h == NULL)
        goto out;
    for (size_t i = 0; headers != NULL && headers[i] != NULL; i++) {
        struct curl_slist *next = curl_slist_append(hl, headers[i]);
        if (next == NULL)
            goto out;
        hl = next;
    }
    if (!http_setup(h, method, url, hl, timeout_ms, &sink)) {
        r = CF_EINTERNAL;
        goto out;
    }
    CURLcode cc = curl_easy_perform(h);
    if (cc != CURLE_OK) {
        r = sink.too_big ? CF_EBADRESPONSE : CF_EUNAVAIL;
        cf_log(CF_LOG_WARN, "credentials endpoint did not answer", "{s:i}", "curl_code", (int)cc);
        goto out;
    }
    curl_easy_getinfo(h, CURLINFO_RESPONSE_CODE, status_out);
    r = 0;
out:
    kms_curl_slist_free_cleanse(hl);
    curl_easy_cleanup(h);
    return r;
}

static int parse_expiration(const json_t *root, int64_t *expires_out)
{
    const json_t *v = json_object_get(root, "Expiration");

    *expires_out = 0;
    if (v == NULL || json_is_null(v))
        return 0;
    if (!json_is_string(v) || cf_time_parse_rfc3339(json_string_value(v), expires_out) != 0)
        return CF_EBADRESPONSE;
    if (*expires_out <= cf_now_us())
        return CF_EBADRESPONSE; /* already expired: the endpoint is broken */
    return 0;
}

int kms_creds_parse_json(const struct cf_buf *body, const char *source, struct kms_creds *out)
{
    json_t *root = NULL; /* holds the secret key: freed through the zeroing allocator */
    int r = CF_EBADRESPONSE;

    *out = (struct kms_creds){ 0 };
    if (body->data == NULL)
        goto out;
    root = cf_json_parse(body->data, body->len, JSON_REJECT_DUPLICATES, NULL);
    if (!json_is_object(root))
        goto out;
    const char *code = cf_json_str(root, "Code");
    const char *akid = cf_json_str(root, "AccessKeyId");
    const char *secret = cf_json_str(root, "SecretAccessKey");
    const char *token = cf_json_str(root, "Token");
    if ((code != NULL && strcmp(code, "Success") != 0) || akid == NULL || secret == NULL)
        goto out;
    int64_t expires;
    if (parse_expiration(root, &expires) != 0)
        goto out;
    if (kms_creds_set(out, akid, secret, token) != 0)
        goto out;
    out->expires_us = expires;
    out->source = source;
    r = 0;
out:
    if (r != 0)
        cf_log(CF_LOG_WARN, "malformed credentials answer", "{s:s}", "source", source);
    json_decref(root);
    return r;
}
