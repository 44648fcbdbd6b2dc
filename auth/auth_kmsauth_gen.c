/* auth_kmsauth_gen.c - kmsauth tokens as python-kmsauth makes them. */
#include "auth_kmsauth_gen.h"

#include <stdlib.h>
#include <string.h>

#include "cf_codec.h"
#include "cf_mem.h"
#include "cf_str.h"
#include "cf_time.h"

/* "%Y%m%dT%H%M%SZ" of epoch seconds. */
static void token_time(int64_t t, char out[17])
{
    char iso[CF_TIME_STR_LEN]; /* YYYY-MM-DDTHH:MM:SS.ffffff+00:00 */
    cf_time_format(t * 1000000, iso);
    memcpy(out, iso, 4);
    memcpy(out + 4, iso + 5, 2);
    memcpy(out + 6, iso + 8, 2);
    out[8] = 'T';
    memcpy(out + 9, iso + 11, 2);
    memcpy(out + 11, iso + 14, 2);
    memcpy(out + 13, iso + 17, 2);
    out[15] = 'Z';
    out[16] = '\0';
}

int auth_kmsauth_payload(int64_t not_before, int64_t not_after, char out[AUTH_KMSAUTH_PAYLOAD_MAX])
{
    char nb[17], na[17];
    token_time(not_before, nb);
    token_time(not_after, na);
    return cf_fmt(out, AUTH_KMSAUTH_PAYLOAD_MAX, "{\"not_before\": \"%s\", \"not_after\": \"%s\"}",
                  nb, na);
}

int auth_kmsauth_username(int version, const char *user_type, const char *from,
                          char out[AUTH_KMSAUTH_USERNAME_MAX])
{
    if (version == 1)
        return cf_fmt(out, AUTH_KMSAUTH_USERNAME_MAX, "%s", from);
    return cf_fmt(out, AUTH_KMSAUTH_USERNAME_MAX, "2/%s/%s", user_type, from);
}

int auth_kmsauth_encrypt(struct kms_client *k, const char *key, int version, const char *user_type,
                         const char *from, const char *to, const char *payload, char **token_out)
{
    struct kms_context ctx = { 0 };
    struct kms_blob blob = { 0 };
    char arn[KMS_KEY_ID_MAX + 1];
    int r;

    *token_out = NULL;
    if ((r = kms_context_add(&ctx, "from", from)) != 0 ||
        (r = kms_context_add(&ctx, "to", to)) != 0 ||
        (version == 2 && (r = kms_context_add(&ctx, "user_type", user_type)) != 0))
        return r;
    if ((r = kms_encrypt(k, key, (const uint8_t *)payload, strlen(payload), &ctx, &blob, arn,
                         sizeof(arn))) != 0)
        return r;
    size_t n = cf_b64_encoded_len(CF_B64_STD, blob.len);
    char *tok = cf_xmalloc(n + 1);
    r = cf_b64_encode(CF_B64_STD, blob.data, blob.len, tok, n + 1);
    kms_blob_free(&blob);
    if (r != 0) {
        free(tok);
        return r;
    }
    *token_out = tok;
    return 0;
}

int auth_kmsauth_generate(struct kms_client *k, const char *key, int version, const char *user_type,
                          const char *from, const char *to, int64_t now, int lifetime_minutes,
                          char **token_out)
{
    char payload[AUTH_KMSAUTH_PAYLOAD_MAX];
    int r = auth_kmsauth_payload(now - INT64_C(3) * 60, now + (int64_t)(lifetime_minutes - 3) * 60,
                                 payload);
    if (r != 0)
        return r;
    return auth_kmsauth_encrypt(k, key, version, user_type, from, to, payload, token_out);
}
