/*
 * auth_kmsauth.c - kmsauth tokens (API.md 2.2, 2.3), checked in the order the API gives:
 * username, user type, token text, cache, KMS Decrypt with the exact context, the key KMS
 * used, the payload, the lifetime, the window. Every failure denies with its reason; only
 * KMS or the database being unreachable gives CF_EUNAVAIL.
 */
#include <stdlib.h>
#include <string.h>

#include <jansson.h>
#include <openssl/crypto.h>

#include "auth_internal.h"
#include "cf_codec.h"
#include "cf_crypto.h"
#include "cf_json.h"
#include "cf_log.h"
#include "cf_mem.h"
#include "cf_str.h"
#include "cf_time.h"
#include "db_principals.h"

#define KMSAUTH_TOKEN_MAX 8192
#define KMSAUTH_BLOB_MAX  6144

struct username {
    int version;
    enum auth_actor_type type;
    const char *type_name;
    char from[AUTH_NAME_MAX + 1];
};

static bool from_valid(const char *from, size_t n)
{
    if (n == 0 || n > AUTH_NAME_MAX)
        return false;
    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)from[i];
        if (c < 0x21 || c > 0x7e || c == '/' || c == ':')
            return false;
    }
    return true;
}

/* One segment: v1, a service. "2/<type>/<from>": v2. Anything else is refused. */
static int parse_username(const char *u, struct username *out)
{
    const char *s1 = strchr(u, '/'), *from = u;

    *out = (struct username){ .version = 1, .type = AUTH_ACTOR_SERVICE, .type_name = "service" };
    if (s1 != NULL) {
        const char *s2 = strchr(s1 + 1, '/');
        if (s1 - u != 1 || u[0] != '2' || s2 == NULL || strchr(s2 + 1, '/') != NULL)
            return CF_EAUTH;
        size_t tlen = (size_t)(s2 - s1 - 1); /* s2 > s1 */
        if (tlen == 0)
            return CF_EAUTH; /* "2//x": an empty segment is a malformed username */
        if (tlen == 7 && strncmp(s1 + 1, "service", 7) == 0) {
            out->type = AUTH_ACTOR_SERVICE;
        } else if (tlen == 4 && strncmp(s1 + 1, "user", 4) == 0) {
            out->type = AUTH_ACTOR_USER;
        } else {
            out->type = AUTH_ACTOR_ANONYMOUS; /* a well-formed but unknown user type */
        }
        out->type_name = out->type == AUTH_ACTOR_USER ? "user" : "service";
        out->version = 2;
        from = s2 + 1;
    }
    if (!from_valid(from, strlen(from)))
        return CF_EAUTH;
    memcpy(out->from, from, strlen(from) + 1); /* from_valid: at most AUTH_NAME_MAX bytes */
    return 0;
}

int auth_parse_token_time(const char *s, int64_t *out)
{
    int v[6];
    static const int at[6] = { 0, 4, 6, 9, 11, 13 }, len[6] = { 4, 2, 2, 2, 2, 2 };

    if (strlen(s) != 16 || s[8] != 'T' || s[15] != 'Z')
        return CF_EINVAL;
    for (int f = 0; f < 6; f++) {
        v[f] = 0;
        for (int i = 0; i < len[f]; i++) {
            char c = s[at[f] + i];
            if (c < '0' || c > '9')
                return CF_EINVAL;
            v[f] = v[f] * 10 + (c - '0');
        }
    }
    static const int mdays[] = { 31, 29, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31 };
    if (v[0] < 1970 || v[1] < 1 || v[1] > 12 || v[2] < 1 || v[2] > mdays[v[1] - 1] || v[3] > 23 ||
        v[4] > 59 || v[5] > 59)
        return CF_EINVAL;
    bool leap = (v[0] % 4 == 0 && v[0] % 100 != 0) || v[0] % 400 == 0;
    if (v[1] == 2 && v[2] == 29 && !leap)
        return CF_EINVAL;
    *out = cf_days_from_civil(v[0], (unsigned)v[1], (unsigned)v[2]) * 86400 + (int64_t)v[3] * 3600 +
           (int64_t)v[4] * 60 + v[5];
    return 0;
}

/* The cache key: SHA-256 over the token text and everything its context names. */
static int cache_key(const struct auth *a, const char *token, const struct username *u,
                     uint8_t out[CF_SHA256_LEN])
{
    char version = (char)('0' + u->version);
    const struct cf_sha256_part parts[] = {
        { token, strlen(token) + 1 },
        { u->from, strlen(u->from) + 1 },
        { a->to, strlen(a->to) + 1 },
        { u->type_name, strlen(u->type_name) + 1 },
        { &version, 1 },
    };
    return cf_sha256_parts(parts, sizeof(parts) / sizeof(parts[0]), out);
}

/* An ARN (or the local backend's local:key/<id>) is used as it is; anything else is looked
 * up with DescribeKey. */
static bool is_key_arn(const char *name)
{
    return (strncmp(name, "arn:", 4) == 0 && strstr(name, ":key/") != NULL) ||
           strncmp(name, "local:key/", 10) == 0;
}

static void free_names(char **names, size_t n)
{
    for (size_t i = 0; names != NULL && i < n; i++)
        free(names[i]);
    free(names);
}

/* Resolves a keyset's names to ARNs, once. CF_EUNAVAIL while KMS cannot answer (no lock is
 * held during the calls). A key KMS does not know stays unresolved: no token matches it. */
static int resolve(struct auth *a, struct auth_keyset *ks)
{
    char arn[KMS_KEY_ID_MAX + 1];
    bool done;

    pthread_mutex_lock(&a->key_lock);
    done = ks->resolved;
    pthread_mutex_unlock(&a->key_lock);
    if (done)
        return 0;
    char **arns = cf_xcalloc(ks->n, sizeof(*arns));
    for (size_t i = 0; i < ks->n; i++) {
        int r =
            is_key_arn(ks->names[i]) ? 0 : kms_describe_key(a->kms, ks->names[i], arn, sizeof(arn));
        if (r == 0) {
            arns[i] = cf_xstrdup(is_key_arn(ks->names[i]) ? ks->names[i] : arn);
        } else if (r == CF_ENOTFOUND || r == CF_EKMS) {
            /* KMS answered: the key does not exist (or is unusable); no token will match it */
            cf_log(CF_LOG_ERROR, "auth key not known to KMS", "{s:s, s:s}", "key", ks->names[i],
                   "error", cf_errname(r));
        } else {
            /* unreachable, throttled, credentials not there yet: try again on a later request */
            free_names(arns, ks->n);
            return CF_EUNAVAIL;
        }
    }
    pthread_mutex_lock(&a->key_lock);
    if (!ks->resolved) {
        ks->arns = arns;
        ks->resolved = true;
        arns = NULL;
    }
    pthread_mutex_unlock(&a->key_lock);
    free_names(arns, ks->n);
    return 0;
}

int auth_resolve_keys(struct auth *a)
{
    if (a->kms == NULL)
        return 0;
    int r = resolve(a, &a->service_keys);
    int r2 = resolve(a, &a->user_keys);
    return r != 0 ? r : r2;
}

static bool key_allowed(struct auth *a, const struct auth_keyset *ks, const char *arn)
{
    bool ok = false;

    pthread_mutex_lock(&a->key_lock);
    for (size_t i = 0; ks->resolved && i < ks->n && !ok; i++)
        ok = ks->arns[i] != NULL && strcmp(ks->arns[i], arn) == 0;
    pthread_mutex_unlock(&a->key_lock);
    return ok;
}

/* The payload: an object with not_before and not_after in the 16-character format; other
 * members are ignored. */
static int parse_payload(const struct cf_secret *plain, struct auth_token_info *info)
{
    json_t *v = cf_json_parse(plain->data, plain->len, JSON_REJECT_DUPLICATES, NULL);
    const char *nb = cf_json_str(v, "not_before"), *na = cf_json_str(v, "not_after");
    int r = CF_EINVAL;

    if (json_is_object(v) && nb != NULL && na != NULL &&
        auth_parse_token_time(nb, &info->not_before) == 0 &&
        auth_parse_token_time(na, &info->not_after) == 0)
        r = 0;
    json_decref(v);
    return r;
}

/* Steps 5-9 of API.md 2.3 for a token not in the cache. *lasting: it failed for what the
 * token is (a ciphertext KMS calls invalid, another key, a bad payload or lifetime), not for
 * anything that may change, such as coffer's own permission to use the key. */
static int validate(struct auth *a, const struct username *u, struct auth_keyset *ks,
                    const uint8_t *blob, size_t n, struct auth_token_info *info,
                    struct auth_failure *why, bool *lasting)
{
    struct kms_context ctx = { 0 };
    struct cf_secret plain = { 0 };
    char arn[KMS_KEY_ID_MAX + 1];
    int r;

    why->reason = "kms_unavailable";
    if (resolve(a, ks) != 0)
        return CF_EUNAVAIL;
    if (kms_context_add(&ctx, "from", u->from) != 0 || kms_context_add(&ctx, "to", a->to) != 0 ||
        (u->version == 2 && kms_context_add(&ctx, "user_type", u->type_name) != 0))
        return CF_EAUTH;
    r = kms_decrypt(a->kms, blob, n, &ctx, &plain, arn, sizeof(arn));
    if (r == CF_EUNAVAIL || r == CF_ETHROTTLED || r == CF_EBADRESPONSE || r == CF_ECONFIG) {
        r = CF_EUNAVAIL; /* the caller is not at fault */
        goto out;
    }
    if (plain.data == NULL) {
        why->reason = "kmsauth_decrypt";
        *lasting = r == CF_EINTEGRITY; /* InvalidCiphertext, IncorrectKey */
        r = CF_EAUTH;
        goto out;
    }
    r = CF_EAUTH;
    *lasting = true;
    why->reason = "kmsauth_wrong_key";
    if (!key_allowed(a, ks, arn))
        goto out;
    why->reason = "kmsauth_payload";
    if (parse_payload(&plain, info) != 0)
        goto out;
    why->reason = "kmsauth_lifetime";
    int64_t life = info->not_after - info->not_before;
    if (life < 0 || life > a->max_lifetime_s)
        goto out;
    *lasting = false;
    r = 0;
out:
    cf_secret_free(&plain);
    return r;
}

/* The role of a person: from the role cache, else the principals table (then cached). */
static int role_of(struct auth *a, const char *name, struct auth_role_entry *out)
{
    uint8_t key[CF_SHA256_LEN];
    char role[16] = "";
    struct db_conn *c = NULL;
    int r;

    *out = (struct auth_role_entry){ 0 };
    if (cf_sha256(name, strlen(name), key) != 0)
        return CF_EAUTH;
    int64_t now_ms = cf_now_us() / 1000;
    if (cf_lru_get(a->roles, key, now_ms, out) == 0)
        return 0;
    if (db_acquire(a->pool, &c) != 0)
        return CF_EUNAVAIL;
    r = db_principal_role(c, name, role, sizeof(role));
    db_release(a->pool, c);
    if (r != 0 && r != CF_ENOTFOUND)
        return CF_EUNAVAIL;
    out->present = r == 0 && auth_role_parse(role, &out->role) == 0;
    cf_lru_put(a->roles, key, out, now_ms + AUTH_STALE_MS);
    return 0;
}

/* Who the token names: a service is itself; a person has the role an admin gave them. */
static int principal_of(struct auth *a, const struct auth_token_info *info,
                        struct auth_principal *who, struct auth_failure *why)
{
    struct auth_role_entry role;

    who->type = (enum auth_actor_type)info->user_type;
    memcpy(who->name, info->from, sizeof(info->from));
    memcpy(who->actor, info->from, sizeof(info->from));
    who->kmsauth_version = info->version;
    if (who->type == AUTH_ACTOR_SERVICE) {
        who->role = AUTH_ROLE_SERVICE;
        return 0;
    }
    why->reason = "database_unavailable";
    if (role_of(a, info->from, &role) != 0)
        return CF_EUNAVAIL;
    /* a person nobody gave a role is authenticated but allowed nothing: 403 */
    who->role = role.present ? role.role : AUTH_ROLE_NONE;
    return 0;
}

/* Steps 4-8: the cache, else KMS and the checks of a fresh token (then cached). A lasting
 * failure is remembered, so that the same token costs nothing the next time. */
static int check_token(struct auth *a, const struct username *u, struct auth_keyset *ks,
                       const uint8_t *blob, size_t n, const uint8_t key[CF_SHA256_LEN], int64_t now,
                       bool cheap_only, struct auth_token_info *info, bool *hit,
                       struct auth_failure *why)
{
    bool lasting = false;
    int r;

    *hit = auth_cache_get(a->tokens, key, now, info) == 0;
    if (*hit)
        return 0;
    if (auth_failed_recall(a, key, why))
        return CF_EAUTH;
    if (cheap_only) {
        why->needs_verification = true;
        return CF_EAUTH;
    }
    if ((r = validate(a, u, ks, blob, n, info, why, &lasting)) != 0) {
        if (r == CF_EAUTH && lasting)
            auth_failed_remember(a, key, why, 0);
        return r;
    }
    info->version = u->version;
    info->user_type = (int)u->type;
    memcpy(info->from, u->from, sizeof(info->from));
    why->reason = "kmsauth_window";
    if (now > info->not_after) /* expired, while the clock moves on; not yet valid is not */
        auth_failed_remember(a, key, why, info->not_after);
    if (now < info->not_before || now > info->not_after)
        return CF_EAUTH;
    auth_cache_put(a->tokens, key, info);
    return 0;
}

int auth_kmsauth(struct auth *a, const char *username, const char *token, bool cheap_only,
                 struct auth_principal *who, struct auth_failure *why)
{
    uint8_t blob[KMSAUTH_BLOB_MAX], key[CF_SHA256_LEN];
    struct auth_token_info info = { 0 };
    struct username u;
    size_t n = 0;
    bool hit = false;
    int r = CF_EAUTH;

    why->reason = "kmsauth_bad_username";
    if (parse_username(username, &u) != 0)
        return CF_EAUTH;
    struct auth_keyset *ks = u.type == AUTH_ACTOR_SERVICE ? &a->service_keys
                             : u.type == AUTH_ACTOR_USER  ? &a->user_keys
                                                          : NULL;
    why->reason = "kmsauth_user_type";
    if (ks == NULL || ks->n == 0 || a->kms == NULL)
        return CF_EAUTH;
    why->reason = "kmsauth_token_format";
    int64_t now = atomic_load(&a->now)();
    if (strlen(token) <= KMSAUTH_TOKEN_MAX &&
        cf_b64_decode(CF_B64_STD, token, strlen(token), blob, sizeof(blob), &n) == 0 && n > 0 &&
        cache_key(a, token, &u, key) == 0)
        r = check_token(a, &u, ks, blob, n, key, now, cheap_only, &info, &hit, why);
    OPENSSL_cleanse(blob, sizeof(blob)); /* the token is a bearer credential */
    OPENSSL_cleanse(key, sizeof(key));
    if (r != 0)
        return r;
    why->reason = "kmsauth_window";
    if (now < info.not_before || now > info.not_after)
        return CF_EAUTH; /* checked on every request, cached or not */
    if ((r = principal_of(a, &info, who, why)) != 0)
        return r;
    who->cache_hit = hit;
    why->reason = "ok";
    return 0;
}
