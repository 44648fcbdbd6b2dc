/*
 * fuzz_kmsauth.c - kmsauth token validation (auth_kmsauth, API.md 2.3) over the local KMS
 * backend, with the clock pinned inside the seeds' windows.
 *
 * The first byte picks a mode (its two low bits), the rest is the mode's input:
 *   0  "username\0token", handed to auth_kmsauth as they are;
 *   1  a payload, sealed as a genuine v2 service token for FUZZ_FROM (kms_encrypt under the
 *      service auth key with the context {from, to, user_type}), so the payload parser, the
 *      lifetime and the window checks see any bytes; bit 2 of the first byte seals it under
 *      the master key instead, which no token may use;
 *   2  "username\0blob": the blob is base64-encoded by the target, so the local backend's
 *      blob parser sees any bytes;
 *   3  as 1, for a v1 token (username FUZZ_FROM, context {from, to}).
 * Every input gets a new authenticator, so the token cache never carries one input into the
 * next. Only auth_kmsauth is called: the pool is NULL, and the API-token and user-role paths
 * would need the database (a user token cannot validate without the key file's material).
 * Properties: the result is 0 or CF_EAUTH (the local backend is never unavailable); a denial
 * names one of the reasons of API.md 2.3; a token the target did not seal never validates; a
 * sealed token is denied for its payload, lifetime or window exactly when the payload says so
 * (judged with jansson and auth_parse_token_time), and otherwise validates as the service
 * FUZZ_FROM; a token time that parses formats back to itself.
 */
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <jansson.h>

#include "auth.h"
#include "auth_internal.h"
#include "cf_codec.h"
#include "cf_config.h"
#include "cf_json.h"
#include "cf_str.h"
#include "kms.h"
#include "kms_local.h"

#define FUZZ_FROM    "web-production"
#define FUZZ_TO      "coffer-fuzz"
#define FUZZ_NOW     1767226200 /* 2026-01-01T00:10:00Z, inside the seeds' windows */
#define FUZZ_LIFE_S  3600       /* kmsauth_max_lifetime: 60 minutes */
#define MODE_RAW     0
#define MODE_V2      1
#define MODE_BLOB    2
#define MODE_V1      3
#define FLAG_WRONG   0x04 /* payload modes: seal under the master key */
#define DIR_TEMPLATE "/tmp/coffer-fuzz-kmsauth-XXXXXX"

int LLVMFuzzerInitialize(int *argc, char ***argv);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static struct kms_client *kms; /* the local backend; its key file is deleted once loaded */
static struct cf_config cfg;

static int64_t fixed_now(void)
{
    return FUZZ_NOW;
}

/* Creates a key file in a fresh folder, loads it the way cofferd does (kms_client_new) and
 * removes it: the keys live on in the client only. */
static void kms_setup(void)
{
    static char backend[] = "local", auth_key[] = "alias/coffer-auth";
    static char user_key[] = "alias/coffer-user-auth", context[] = FUZZ_TO;
    static char dir[] = DIR_TEMPLATE, path[sizeof(DIR_TEMPLATE) + 16];
    char err[512];

    if (mkdtemp(dir) == NULL || cf_fmt(path, sizeof(path), "%s/keys.json", dir) != 0 ||
        kms_local_init_file(path, err, sizeof(err)) != 0)
        abort();
    cfg.kms_backend = backend;
    cfg.local_key_file = path;
    cfg.auth_key = auth_key;
    cfg.user_auth_key = user_key;
    cfg.auth_context = context;
    cfg.kmsauth_max_lifetime = FUZZ_LIFE_S / 60;
    if (kms_client_new(&cfg, &kms, err, sizeof(err)) != 0) {
        (void)fprintf(stderr, "fuzz_kmsauth: %s\n", err); /* about to abort anyway */
        abort();
    }
    if (unlink(path) != 0 || rmdir(dir) != 0)
        abort();
    cfg.local_key_file = NULL;
}

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
    (void)argc;
    (void)argv;
    cf_json_init();
    kms_setup();
    return 0;
}

/* A token time that parses must be the 16 characters its epoch seconds format to. */
static void check_time_round_trip(const char *s, int64_t t)
{
    time_t tt = t; /* years 1970-9999; time_t is 64-bit on the platforms coffer builds on */
    struct tm tm;
    char back[32];

    if (gmtime_r(&tt, &tm) == NULL || strftime(back, sizeof(back), "%Y%m%dT%H%M%SZ", &tm) != 16 ||
        strcmp(back, s) != 0)
        abort();
}

/* What auth_kmsauth must answer for a genuine token with this payload: NULL to accept, else
 * the reason of the first check (API.md 2.3 steps 7-9) that refuses it. */
static const char *expected_reason(const uint8_t *payload, size_t n)
{
    json_error_t jerr;
    json_t *v = json_loadb((const char *)payload, n, JSON_REJECT_DUPLICATES, &jerr);
    const char *nb = cf_json_str(v, "not_before"), *na = cf_json_str(v, "not_after");
    const char *reason = "kmsauth_payload";
    int64_t tb = 0, ta = 0;

    if (json_is_object(v) && nb != NULL && na != NULL && auth_parse_token_time(nb, &tb) == 0 &&
        auth_parse_token_time(na, &ta) == 0) {
        check_time_round_trip(nb, tb);
        check_time_round_trip(na, ta);
        if (ta < tb || ta - tb > FUZZ_LIFE_S) {
            reason = "kmsauth_lifetime";
        } else if (FUZZ_NOW < tb || FUZZ_NOW > ta) {
            reason = "kmsauth_window";
        } else {
            reason = NULL;
        }
    }
    json_decref(v);
    return reason;
}

/* Standard base64 of in[0..n) in a new string (free it). */
static char *b64(const uint8_t *in, size_t n)
{
    size_t cap = cf_b64_encoded_len(CF_B64_STD, n) + 1;
    char *out = malloc(cap);

    if (out == NULL || cf_b64_encode(CF_B64_STD, in, n, out, cap) != 0)
        abort();
    return out;
}

/* Seals payload as a kmsauth token of version 1 or 2 for FUZZ_FROM under key. NULL when KMS
 * refuses the plaintext (empty, or over KMS_PLAINTEXT_MAX). */
static char *seal(const uint8_t *payload, size_t n, int version, const char *key)
{
    struct kms_context ctx = { 0 };
    struct kms_blob blob = { 0 };
    char arn[KMS_KEY_ID_MAX + 1];

    if (kms_context_add(&ctx, "from", FUZZ_FROM) != 0 ||
        kms_context_add(&ctx, "to", FUZZ_TO) != 0 ||
        (version == 2 && kms_context_add(&ctx, "user_type", "service") != 0))
        abort();
    int r = kms_encrypt(kms, key, payload, n, &ctx, &blob, arn, sizeof(arn));
    if (r == CF_ETOOBIG && (n == 0 || n > KMS_PLAINTEXT_MAX))
        return NULL;
    if (r != 0)
        abort(); /* the local backend seals anything else */
    char *token = b64(blob.data, blob.len);
    kms_blob_free(&blob);
    return token;
}

static bool known_reason(const char *reason)
{
    static const char *const reasons[] = {
        "kmsauth_bad_username", "kmsauth_user_type", "kmsauth_token_format", "kmsauth_decrypt",
        "kmsauth_wrong_key",    "kmsauth_payload",   "kmsauth_lifetime",     "kmsauth_window",
    };

    for (size_t i = 0; reason != NULL && i < sizeof(reasons) / sizeof(reasons[0]); i++) {
        if (strcmp(reason, reasons[i]) == 0)
            return true;
    }
    return false;
}

/* Splits "username\0rest" into a new NUL-terminated copy; *rest points past the first NUL
 * (at an empty string when there is none) and *rest_len counts its bytes. */
static char *split_pair(const uint8_t *data, size_t size, const char **rest, size_t *rest_len)
{
    char *text = malloc(size + 2);

    if (text == NULL)
        abort();
    memcpy(text, data, size);
    text[size] = '\0';
    text[size + 1] = '\0';
    size_t ulen = strlen(text);
    *rest = text + ulen + 1;
    *rest_len = ulen < size ? size - ulen - 1 : 0;
    return text;
}

/* Runs one token through a new authenticator and checks what every answer must satisfy. */
static int check(const char *username, const char *token, struct auth_principal *who,
                 struct auth_failure *why)
{
    struct auth *a = NULL;

    if (auth_new(NULL, kms, &cfg, &a) != 0)
        abort();
    auth_set_clock(a, fixed_now);
    *who = (struct auth_principal){ 0 };
    *why = (struct auth_failure){ 0 };
    int r = auth_kmsauth(a, username, token, false, who, why);
    auth_free(a);
    if (r != 0 && r != CF_EAUTH)
        abort(); /* CF_EUNAVAIL needs KMS or the database to fail: neither can here */
    if (r == CF_EAUTH && !known_reason(why->reason))
        abort();
    return r;
}

static void fuzz_raw(const uint8_t *data, size_t size, bool encode)
{
    struct auth_principal who;
    struct auth_failure why;
    const char *rest;
    size_t rest_len;
    char *text = split_pair(data, size, &rest, &rest_len);
    char *token = encode ? b64((const uint8_t *)rest, rest_len) : NULL;

    if (check(text, token != NULL ? token : rest, &who, &why) == 0)
        abort(); /* a token nobody sealed with the auth key was accepted */
    free(token);
    free(text);
}

static void fuzz_sealed(const uint8_t *data, size_t size, int version, bool wrong_key)
{
    struct auth_principal who;
    struct auth_failure why;
    char *token =
        seal(data, size, version, wrong_key ? "alias/coffer-master" : "alias/coffer-auth");

    if (token == NULL)
        return;
    int r = check(version == 2 ? "2/service/" FUZZ_FROM : FUZZ_FROM, token, &who, &why);
    const char *want = wrong_key ? "kmsauth_wrong_key" : expected_reason(data, size);
    if (want != NULL && (r != CF_EAUTH || strcmp(why.reason, want) != 0))
        abort(); /* a genuine token refused for another reason, or accepted when it must not be */
    if (want == NULL &&
        (r != 0 || who.role != AUTH_ROLE_SERVICE || who.type != AUTH_ACTOR_SERVICE ||
         strcmp(who.name, FUZZ_FROM) != 0 || strcmp(who.actor, FUZZ_FROM) != 0 ||
         who.kmsauth_version != version || who.cache_hit))
        abort();
    free(token);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size == 0)
        return 0;
    bool wrong_key = (data[0] & FLAG_WRONG) != 0;
    switch (data[0] & 3) {
    case MODE_RAW:
        fuzz_raw(data + 1, size - 1, false);
        break;
    case MODE_V2:
        fuzz_sealed(data + 1, size - 1, 2, wrong_key);
        break;
    case MODE_BLOB:
        fuzz_raw(data + 1, size - 1, true);
        break;
    case MODE_V1:
        fuzz_sealed(data + 1, size - 1, 1, wrong_key);
        break;
    }
    return 0;
}
