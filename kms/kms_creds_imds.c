/*
 * kms_creds_imds.c - credentials of the EC2 instance's role from the instance metadata
 * service, IMDSv2 only: a session token is fetched with PUT and sent with every GET, which
 * defeats the SSRF tricks IMDSv1 allowed. Short timeouts: off EC2 nothing answers.
 */
#include <string.h>
#include <strings.h>

#include "cf_log.h"
#include "kms_creds.h"

#define IMDS_DEFAULT_URL "http://169.254.169.254"
#define IMDS_TIMEOUT_MS  1000L
#define IMDS_TOKEN_TTL_S "21600" /* six hours: the most IMDS grants */
#define IMDS_ROLE_PATH   "/latest/meta-data/iam/security-credentials/"
#define URL_CAP          1024
#define ROLE_MAX         128

static bool imds_disabled(void)
{
    const char *v = kms_creds_getenv("AWS_EC2_METADATA_DISABLED");
    return v != NULL && strcasecmp(v, "true") == 0;
}

static int imds_base(char *out, size_t cap)
{
    const char *v = kms_creds_getenv("AWS_EC2_METADATA_SERVICE_ENDPOINT");
    int r = cf_fmt(out, cap, "%s", v != NULL ? v : IMDS_DEFAULT_URL);

    if (r != 0 || !(cf_has_prefix(out, "http://") || cf_has_prefix(out, "https://"))) {
        cf_log(CF_LOG_ERROR, "AWS_EC2_METADATA_SERVICE_ENDPOINT must be an http(s) URL", NULL);
        return CF_ECONFIG;
    }
    size_t len = strlen(out);
    while (len > 0 && out[len - 1] == '/')
        out[--len] = '\0';
    return 0;
}

static int status_error(long status, const char *what)
{
    cf_log(CF_LOG_WARN, "IMDS refused", "{s:s, s:i}", "step", what, "status", (int)status);
    if (status == 401 || status == 403)
        return CF_EDENIED;
    if (status == 404)
        return CF_ENOTFOUND; /* no role attached to the instance */
    if (status >= 500 || status == 429)
        return CF_EUNAVAIL;
    return CF_EBADRESPONSE;
}

/* One IMDS request; header is the token header (or the TTL header for the token itself). */
static int imds_call(const char *method, const char *base, const char *path, const char *header,
                     struct cf_buf *body)
{
    char url[URL_CAP];
    const char *headers[] = { header, NULL };
    long status = 0;
    int r;

    if (cf_fmt(url, sizeof(url), "%s%s", base, path) != 0)
        return CF_ECONFIG;
    if ((r = kms_creds_http(method, url, headers, IMDS_TIMEOUT_MS, body, &status)) != 0)
        return r;
    if (status != 200)
        return status_error(status, path);
    if (body->data == NULL || body->len == 0)
        return CF_EBADRESPONSE;
    return 0;
}

/* "X-aws-ec2-metadata-token: <token>" into header (a secret: cleansed on free). */
static int imds_token_header(const char *base, struct cf_buf *header)
{
    struct cf_buf token = { 0 };
    int r = imds_call("PUT", base, "/latest/api/token",
                      "X-aws-ec2-metadata-token-ttl-seconds: " IMDS_TOKEN_TTL_S, &token);

    if (r != 0)
        goto out;
    for (size_t i = 0; i < token.len; i++) {
        unsigned char c = (unsigned char)token.data[i];
        if (c <= 0x20 || c >= 0x7f) {
            r = CF_EBADRESPONSE; /* would break or smuggle headers */
            goto out;
        }
    }
    cf_buf_append_str(header, "X-aws-ec2-metadata-token: ");
    cf_buf_append_str(header, token.data);
out:
    cf_buf_free(&token);
    return r;
}

static bool is_role_char(char c)
{
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
           strchr("+=,.@_-", c) != NULL;
}

/* The first line of the role listing: the instance profile's role name. */
static int imds_role(const char *base, const char *header, char *role, size_t cap)
{
    struct cf_buf body = { 0 };
    size_t n = 0;
    int r = imds_call("GET", base, IMDS_ROLE_PATH, header, &body);

    if (r != 0)
        goto out;
    while (n < body.len && body.data[n] != '\n' && body.data[n] != '\r')
        n++;
    r = CF_EBADRESPONSE;
    if (n == 0 || n > ROLE_MAX || n >= cap)
        goto out;
    for (size_t i = 0; i < n; i++) {
        if (!is_role_char(body.data[i]))
            goto out;
    }
    memcpy(role, body.data, n);
    role[n] = '\0';
    r = 0;
out:
    cf_buf_free(&body);
    return r;
}

int kms_creds_from_imds(struct kms_creds *out)
{
    char base[URL_CAP], role[ROLE_MAX + 1], path[sizeof(IMDS_ROLE_PATH) + ROLE_MAX];
    struct cf_buf header = { 0 }, body = { 0 }; /* both cleansed on free */
    int r;

    *out = (struct kms_creds){ 0 };
    if (imds_disabled())
        return CF_ENOTFOUND;
    if ((r = imds_base(base, sizeof(base))) != 0)
        return r;
    if ((r = imds_token_header(base, &header)) != 0)
        goto out;
    if ((r = imds_role(base, header.data, role, sizeof(role))) != 0)
        goto out;
    if ((r = cf_fmt(path, sizeof(path), "%s%s", IMDS_ROLE_PATH, role)) != 0)
        goto out;
    if ((r = imds_call("GET", base, path, header.data, &body)) != 0)
        goto out;
    r = kms_creds_parse_json(&body, "imds", out);
out:
    if (r == CF_ENOTFOUND)
        cf_log(CF_LOG_INFO, "IMDS has no instance role", NULL);
    cf_buf_free(&header);
    cf_buf_free(&body);
    return r;
}
