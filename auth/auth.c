/*
 * auth.c - choosing the credential source of a request and API-token authentication.
 *
 * Order (API.md 2.1, first match wins): Authorization: Bearer -> API token; Authorization:
 * Basic with a non-empty username -> kmsauth; X-Auth-From + X-Auth-Token -> kmsauth; nothing
 * -> unauthenticated. A source that is present but unusable does not fall through.
 */
#include "auth.h"

#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <openssl/crypto.h>

#include "auth_internal.h"
#include "cf_codec.h"
#include "cf_crypto.h"
#include "cf_log.h"
#include "cf_mem.h"
#include "cf_str.h"
#include "cf_time.h"

#define AUTH_BASIC_MAX 12288 /* decoded Basic credentials: a username and an 8,192-char token */

static int64_t wall_seconds(void)
{
    return cf_now_us() / 1000000;
}

/* Splits a comma-separated key list (spaces around names are dropped). */
static void keyset_parse(const char *list, struct auth_keyset *ks)
{
    *ks = (struct auth_keyset){ 0 };
    if (list == NULL)
        return;
    ks->names = cf_xcalloc(strlen(list) / 2 + 2, sizeof(*ks->names));
    for (const char *p = list; *p != '\0';) {
        const char *comma = strchr(p, ',');
        size_t len = comma != NULL ? (size_t)(comma - p) : strlen(p); /* comma >= p */
        while (len > 0 && *p == ' ') {
            p++;
            len--;
        }
        while (len > 0 && p[len - 1] == ' ')
            len--;
        if (len > 0)
            ks->names[ks->n++] = cf_xstrndup(p, len);
        p = comma != NULL ? comma + 1 : p + len;
        if (comma == NULL)
            break;
    }
}

static void keyset_free(struct auth_keyset *ks)
{
    for (size_t i = 0; i < ks->n; i++) {
        free(ks->names[i]);
        if (ks->arns != NULL)
            free(ks->arns[i]);
    }
    free(ks->names);
    free(ks->arns);
}

int auth_new(struct db_pool *pool, struct kms_client *kms, const struct cf_config *cfg,
             struct auth **out)
{
    struct auth *a = cf_xcalloc(1, sizeof(*a));
    int r;

    a->pool = pool;
    a->kms = kms;
    a->to = cf_xstrdup(cfg->auth_context != NULL ? cfg->auth_context : "");
    a->max_lifetime_s = cfg->kmsauth_max_lifetime * 60;
    keyset_parse(cfg->auth_key, &a->service_keys);
    keyset_parse(cfg->user_auth_key, &a->user_keys);
    pthread_mutex_init(&a->key_lock, NULL);
    atomic_store(&a->now, wall_seconds);
    if ((r = auth_cache_new(AUTH_CACHE_ENTRIES, &a->tokens)) != 0 ||
        (r = cf_lru_new(AUTH_CACHE_ENTRIES, sizeof(struct auth_principal), &a->api_tokens)) != 0 ||
        (r = cf_lru_new(AUTH_CACHE_ENTRIES, sizeof(struct auth_role_entry), &a->roles)) != 0 ||
        (r = cf_lru_new(AUTH_FAILED_ENTRIES, sizeof(struct auth_failed_entry), &a->failed)) != 0) {
        auth_free(a);
        return r;
    }
    *out = a;
    return 0;
}

void auth_free(struct auth *a)
{
    if (a == NULL)
        return;
    keyset_free(&a->service_keys);
    keyset_free(&a->user_keys);
    pthread_mutex_destroy(&a->key_lock);
    auth_cache_free(a->tokens);
    cf_lru_free(a->api_tokens);
    cf_lru_free(a->roles);
    cf_lru_free(a->failed);
    free(a->to);
    free(a);
}

void auth_set_clock(struct auth *a, int64_t (*now)(void))
{
    atomic_store(&a->now, now != NULL ? now : wall_seconds);
}

void auth_forget(struct auth *a, const char *payload)
{
    uint8_t key[CF_SHA256_LEN];

    if (payload == NULL || strncmp(payload, "token:", 6) == 0)
        cf_lru_clear(a->api_tokens); /* revocations are rare: drop them all */
    if (payload == NULL) {
        cf_lru_clear(a->roles);
    } else if (strncmp(payload, "principal:", 10) == 0 &&
               cf_sha256(payload + 10, strlen(payload + 10), key) == 0) {
        cf_lru_remove(a->roles, key);
    }
}

bool auth_failed_recall(struct auth *a, const uint8_t digest[CF_SHA256_LEN],
                        struct auth_failure *why)
{
    struct auth_failed_entry e;

    if (cf_lru_get(a->failed, digest, cf_mono_ms(), &e) != 0)
        return false;
    if (e.expired_after != 0 && atomic_load(&a->now)() <= e.expired_after)
        return false; /* the clock went back: the window decides again */
    atomic_fetch_add_explicit(&a->failed_hits, 1, memory_order_relaxed);
    why->reason = e.reason;
    why->remembered = true;
    return true;
}

void auth_failed_remember(struct auth *a, const uint8_t digest[CF_SHA256_LEN],
                          const struct auth_failure *why, int64_t expired_after)
{
    struct auth_failed_entry e = { .reason = why->reason, .expired_after = expired_after };

    cf_lru_put(a->failed, digest, &e, cf_mono_ms() + (int64_t)AUTH_FAILED_MS);
}

uint64_t auth_failures_remembered(const struct auth *a)
{
    return atomic_load_explicit(&a->failed_hits, memory_order_relaxed);
}

void auth_token_cache_counts(struct auth *a, size_t *entries, uint64_t *hits, uint64_t *misses)
{
    auth_cache_counts(a->tokens, entries, hits, misses);
}

const char *auth_role_name(enum auth_role role)
{
    switch (role) {
    case AUTH_ROLE_NONE:
        return "none";
    case AUTH_ROLE_SERVICE:
        return "service";
    case AUTH_ROLE_AUDITOR:
        return "auditor";
    case AUTH_ROLE_ADMIN:
        return "admin";
    }
    return "none";
}

int auth_role_parse(const char *s, enum auth_role *out)
{
    if (strcmp(s, "admin") == 0) {
        *out = AUTH_ROLE_ADMIN;
    } else if (strcmp(s, "auditor") == 0) {
        *out = AUTH_ROLE_AUDITOR;
    } else {
        return CF_EINVAL;
    }
    return 0;
}

const char *auth_actor_type_name(enum auth_actor_type t)
{
    switch (t) {
    case AUTH_ACTOR_ANONYMOUS:
        return "anonymous";
    case AUTH_ACTOR_SERVICE:
        return "service";
    case AUTH_ACTOR_USER:
        return "user";
    case AUTH_ACTOR_TOKEN:
        return "token";
    case AUTH_ACTOR_SYSTEM:
        return "system";
    }
    return "anonymous";
}

bool auth_token_well_formed(const char *s)
{
    size_t plen = strlen(AUTH_TOKEN_PREFIX);

    if (strlen(s) != AUTH_TOKEN_LEN || strncmp(s, AUTH_TOKEN_PREFIX, plen) != 0)
        return false;
    for (const char *p = s + plen; *p != '\0'; p++) {
        char c = *p;
        if (!((c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') ||
              c == '-' || c == '_'))
            return false;
    }
    return true;
}

int auth_token_generate(char token_out[AUTH_TOKEN_LEN + 1], char sha_out[CF_SHA256_HEX_LEN + 1],
                        char id_out[DB_TOKEN_ID_LEN + 1])
{
    uint8_t raw[32];
    size_t plen = strlen(AUTH_TOKEN_PREFIX);
    int r;

    if ((r = cf_rand_priv_bytes(raw, sizeof(raw))) != 0)
        goto out;
    memcpy(token_out, AUTH_TOKEN_PREFIX, plen);
    if ((r = cf_b64_encode(CF_B64_URL, raw, sizeof(raw), token_out + plen,
                           AUTH_TOKEN_LEN + 1 - plen)) != 0)
        goto out;
    if ((r = cf_sha256_hex(token_out, AUTH_TOKEN_LEN, sha_out)) != 0)
        goto out;
    /* the prefix with its NUL: id_out is a string even if the hex cannot be made */
    memcpy(id_out, "tok_", sizeof("tok_"));
    r = cf_rand_hex(8, id_out + 4, DB_TOKEN_ID_LEN + 1 - 4);
out:
    OPENSSL_cleanse(raw, sizeof(raw));
    return r;
}

/* The principal of a token row, or CF_EAUTH for one that is revoked, expired or odd. */
static int token_principal(const struct db_token *t, struct auth_principal *who)
{
    if (t->revoked_at_us != 0 || t->expires_at_us <= cf_now_us() ||
        auth_role_parse(t->role, &who->role) != 0 ||
        cf_fmt(who->name, sizeof(who->name), "%s", t->name) != 0 ||
        cf_fmt(who->actor, sizeof(who->actor), "token:%s", t->name) != 0 ||
        cf_fmt(who->token_id, sizeof(who->token_id), "%s", t->id) != 0)
        return CF_EAUTH;
    who->type = AUTH_ACTOR_TOKEN;
    return 0;
}

/* Looks a token up in the database (and notes its use); caches what it proves, and remembers
 * a token that does not exist, is revoked or has expired (none of which can change back). */
static int bearer_lookup(struct auth *a, const uint8_t digest[CF_SHA256_LEN],
                         struct auth_principal *who, struct auth_failure *why)
{
    char sha[CF_SHA256_HEX_LEN + 1];
    struct db_token t;
    struct db_conn *c = NULL;
    int r;

    if (cf_hex_encode(digest, CF_SHA256_LEN, sha, sizeof(sha)) != 0)
        return CF_EAUTH;
    why->reason = "database_unavailable";
    if ((r = db_acquire(a->pool, &c)) != 0)
        return r;
    r = db_token_find_by_hash(c, sha, &t);
    if (r == 0 || r == CF_ENOTFOUND)
        why->reason = "api_token_invalid";
    if (r == CF_ENOTFOUND || (r == 0 && token_principal(&t, who) != 0))
        r = CF_EAUTH;
    if (r == 0 && db_token_touch(c, t.id) != 0) /* informational: a failure does not deny */
        cf_log(CF_LOG_WARN, "token last_used_at not updated", "{s:s}", "token_id", t.id);
    db_release(a->pool, c);
    if (r == CF_EAUTH)
        auth_failed_remember(a, digest, why, 0);
    if (r == 0) {
        int64_t now_ms = cf_now_us() / 1000, exp_ms = t.expires_at_us / 1000;
        cf_lru_put(a->api_tokens, digest, who,
                   exp_ms < now_ms + AUTH_STALE_MS ? exp_ms : now_ms + AUTH_STALE_MS);
    }
    return r;
}

/* Bearer: a coffer API token. Unknown, expired and revoked tokens all fail the same way. */
static int auth_bearer(struct auth *a, const char *token, bool cheap_only,
                       struct auth_principal *who, struct auth_failure *why)
{
    uint8_t digest[CF_SHA256_LEN];
    int r;

    why->reason = "api_token_invalid";
    if (!auth_token_well_formed(token) || cf_sha256(token, strlen(token), digest) != 0)
        return CF_EAUTH;
    if (cf_lru_get(a->api_tokens, digest, cf_now_us() / 1000, who) == 0) {
        who->cache_hit = true;
        r = 0;
    } else if (auth_failed_recall(a, digest, why)) {
        r = CF_EAUTH;
    } else if (cheap_only) {
        why->needs_verification = true;
        r = CF_EAUTH;
    } else {
        r = bearer_lookup(a, digest, who, why);
    }
    OPENSSL_cleanse(digest, sizeof(digest));
    if (r == 0)
        why->reason = "ok";
    return r;
}

/* Basic: base64("username:token"); an empty username counts as absent (returns CF_ENOTFOUND). */
static int auth_basic(struct auth *a, const char *b64, bool cheap_only, struct auth_principal *who,
                      struct auth_failure *why)
{
    uint8_t buf[AUTH_BASIC_MAX + 1];
    size_t n = 0;
    int r = CF_EAUTH;

    why->reason = "bad_auth_header";
    if (cf_b64_decode(CF_B64_STD, b64, strlen(b64), buf, AUTH_BASIC_MAX, &n) != 0)
        goto out;
    buf[n] = '\0';
    uint8_t *colon = memchr(buf, ':', n);
    if (colon == NULL)
        goto out;
    size_t ulen = (size_t)(colon - buf); /* colon points into buf */
    if (ulen == 0) {
        r = CF_ENOTFOUND;
        goto out;
    }
    cf_utf8_sanitize((const char *)buf, ulen, AUTH_NAME_MAX, why->claimed, sizeof(why->claimed));
    if (memchr(buf, '\0', n) != NULL || colon + 1 == buf + n)
        goto out; /* NUL inside, or an empty token */
    *colon = '\0';
    r = auth_kmsauth(a, (const char *)buf, (const char *)colon + 1, cheap_only, who, why);
out:
    OPENSSL_cleanse(buf, sizeof(buf));
    return r;
}

static int auth_xauth(struct auth *a, const struct auth_creds *creds, struct auth_principal *who,
                      struct auth_failure *why)
{
    const char *from = creds->x_auth_from != NULL ? creds->x_auth_from : "";

    cf_utf8_sanitize(from, strlen(from), AUTH_NAME_MAX, why->claimed, sizeof(why->claimed));
    why->reason = "bad_auth_header";
    if (creds->x_auth_from == NULL || creds->x_auth_token == NULL || *from == '\0' ||
        *creds->x_auth_token == '\0')
        return CF_EAUTH; /* half a pair is present but unusable: it does not fall through */
    return auth_kmsauth(a, creds->x_auth_from, creds->x_auth_token, creds->cheap_only, who, why);
}

int auth_authenticate(struct auth *a, const struct auth_creds *creds, struct auth_principal *who,
                      struct auth_failure *why)
{
    const char *h = creds->authorization;
    int r = CF_EAUTH;

    *who = (struct auth_principal){ 0 };
    *why = (struct auth_failure){ .presented = true, .reason = "bad_auth_header" };
    if (h != NULL && strncasecmp(h, "Bearer ", 7) == 0) {
        r = auth_bearer(a, h + 7, creds->cheap_only, who, why);
    } else {
        r = CF_ENOTFOUND; /* not decided yet */
        if (h != NULL && strncasecmp(h, "Basic ", 6) == 0)
            r = auth_basic(a, h + 6, creds->cheap_only, who, why);
        if (r == CF_ENOTFOUND && (creds->x_auth_from != NULL || creds->x_auth_token != NULL))
            r = auth_xauth(a, creds, who, why);
        if (r == CF_ENOTFOUND) {
            why->presented = false;
            why->reason = "unauthenticated";
            r = CF_EAUTH;
        }
    }
    if (r != 0) {
        *who = (struct auth_principal){ 0 };
        return r == CF_EUNAVAIL || r == CF_EDB ? CF_EUNAVAIL : CF_EAUTH;
    }
    return 0;
}
