/*
 * kms_creds_container.c - credentials from the ECS/EKS container credentials endpoint.
 *
 * AWS_CONTAINER_CREDENTIALS_RELATIVE_URI is a path on the ECS agent (169.254.170.2);
 * AWS_CONTAINER_CREDENTIALS_FULL_URI is a whole URL, which (as in the AWS SDKs) must be https
 * or plain http to a loopback address or the agent's addresses, so that a token and the
 * credentials never cross a network in clear text. The Authorization header comes from
 * AWS_CONTAINER_AUTHORIZATION_TOKEN_FILE (re-read at each refresh: EKS rotates it) or
 * AWS_CONTAINER_AUTHORIZATION_TOKEN.
 */
#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdbool.h>
#include <string.h>
#include <strings.h>

#include <curl/curl.h>

#include "cf_log.h"
#include "kms_creds.h"

#define ECS_AGENT_URL        "http://169.254.170.2"
#define CONTAINER_TIMEOUT_MS 2000L
#define URL_CAP              2048
#define TOKEN_FILE_MAX       ((size_t)16 * 1024)

/* True for the hosts plain http may reach: loopback, the ECS agent and the EKS Pod Identity
 * agent (IPv4 and IPv6). */
static bool is_allowed_http_host(const char *host)
{
    struct in_addr a4;
    struct in6_addr a6, eks6;
    char bare[64];

    if (strcasecmp(host, "localhost") == 0)
        return true;
    if (inet_pton(AF_INET, host, &a4) == 1) {
        uint32_t a = ntohl(a4.s_addr);
        return (a >> 24) == 127 || a == 0xa9feaa02u /* 169.254.170.2 */ ||
               a == 0xa9feaa17u /* 169.254.170.23 */;
    }
    size_t len = strlen(host);
    if (len < 3 || host[0] != '[' || host[len - 1] != ']' || len - 2 >= sizeof(bare))
        return false;
    memcpy(bare, host + 1, len - 2);
    bare[len - 2] = '\0';
    if (inet_pton(AF_INET6, bare, &a6) != 1 || inet_pton(AF_INET6, "fd00:ec2::23", &eks6) != 1)
        return false;
    return IN6_IS_ADDR_LOOPBACK(&a6) || memcmp(&a6, &eks6, sizeof(a6)) == 0;
}

static bool is_allowed_full_uri(const char *url)
{
    CURLU *u = curl_url();
    char *scheme = NULL, *host = NULL;
    bool ok = false;

    if (u == NULL || curl_url_set(u, CURLUPART_URL, url, 0) != CURLUE_OK)
        goto out;
    if (curl_url_get(u, CURLUPART_SCHEME, &scheme, 0) != CURLUE_OK ||
        curl_url_get(u, CURLUPART_HOST, &host, 0) != CURLUE_OK)
        goto out;
    ok = strcasecmp(scheme, "https") == 0 ||
         (strcasecmp(scheme, "http") == 0 && is_allowed_http_host(host));
out:
    curl_free(scheme);
    curl_free(host);
    curl_url_cleanup(u);
    return ok;
}

static int container_url(char *out, size_t cap)
{
    const char *rel = kms_creds_getenv("AWS_CONTAINER_CREDENTIALS_RELATIVE_URI");
    const char *full = kms_creds_getenv("AWS_CONTAINER_CREDENTIALS_FULL_URI");
    int r = CF_ECONFIG;

    if (rel != NULL) {
        if (rel[0] == '/' && cf_fmt(out, cap, "%s%s", ECS_AGENT_URL, rel) == 0)
            r = 0;
    } else if (full == NULL) {
        return CF_ENOTFOUND;
    } else if (is_allowed_full_uri(full) && cf_fmt(out, cap, "%s", full) == 0) {
        r = 0;
    }
    if (r != 0) {
        cf_log(CF_LOG_ERROR,
               "refusing the container credentials URI: it must be https, or http to a loopback "
               "or ECS/EKS agent address",
               NULL);
    }
    return r;
}

/* A header value: printable ASCII and spaces only (no CR or LF to smuggle headers). */
static bool is_header_value(const char *s)
{
    for (; *s != '\0'; s++) {
        if ((unsigned char)*s < 0x20 || (unsigned char)*s >= 0x7f)
            return false;
    }
    return true;
}

/* Reads the token file; trailing line ends are dropped. */
static int token_from_file(const char *path, struct cf_secret *text)
{
    int r = kms_creds_read_file(path, TOKEN_FILE_MAX, text);

    if (r != 0) {
        cf_log(CF_LOG_ERROR, "cannot read AWS_CONTAINER_AUTHORIZATION_TOKEN_FILE", "{s:s}", "path",
               path);
        return r == CF_ENOTFOUND ? CF_ECONFIG : r;
    }
    char *s = (char *)text->data;
    size_t len = strlen(s);
    while (len > 0 && (s[len - 1] == '\n' || s[len - 1] == '\r'))
        s[--len] = '\0';
    return 0;
}

/* "Authorization: <token>" into header (a cf_buf: cleansed on free), or nothing if no token
 * is configured. */
static int auth_header(struct cf_buf *header)
{
    const char *file = kms_creds_getenv("AWS_CONTAINER_AUTHORIZATION_TOKEN_FILE");
    const char *env = kms_creds_getenv("AWS_CONTAINER_AUTHORIZATION_TOKEN");
    struct cf_secret text = { 0 };
    int r = 0;

    if (file != NULL && (r = token_from_file(file, &text)) != 0)
        goto out;
    const char *token = file != NULL ? (const char *)text.data : env;
    if (token == NULL)
        goto out;
    if (*token == '\0' || !is_header_value(token)) {
        cf_log(CF_LOG_ERROR, "the container authorization token is empty or malformed", NULL);
        r = CF_ECONFIG;
        goto out;
    }
    cf_buf_append_str(header, "Authorization: ");
    cf_buf_append_str(header, token);
out:
    cf_secret_free(&text);
    return r;
}

static int status_error(long status)
{
    if (status == 401 || status == 403)
        return CF_EDENIED;
    if (status >= 500 || status == 429)
        return CF_EUNAVAIL;
    return CF_EBADRESPONSE;
}

int kms_creds_from_container(struct kms_creds *out)
{
    char url[URL_CAP];
    struct cf_buf header = { 0 }, body = { 0 }; /* both cleansed on free */
    long status = 0;
    int r;

    *out = (struct kms_creds){ 0 };
    if ((r = container_url(url, sizeof(url))) != 0)
        return r;
    if ((r = auth_header(&header)) != 0)
        goto out;
    const char *headers[] = { header.data, NULL };
    r = kms_creds_http("GET", url, header.data != NULL ? headers : NULL, CONTAINER_TIMEOUT_MS,
                       &body, &status);
    if (r != 0)
        goto out;
    if (status != 200) {
        cf_log(CF_LOG_WARN, "container credentials refused", "{s:i}", "status", (int)status);
        r = status_error(status);
        goto out;
    }
    r = kms_creds_parse_json(&body, "container", out);
out:
    cf_buf_free(&header);
    cf_buf_free(&body);
    return r;
}
