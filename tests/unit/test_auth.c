/* test_auth.c - auth/ without a server or a database: API token shape and hashing, roles, the
 * kmsauth token (made with auth_kmsauth_gen under the local KMS backend, then checked through
 * auth_authenticate with an injected clock), the order of credential sources, and the token
 * cache. Whatever would need the database (API token lookup, a person's role not yet cached)
 * is covered end to end by tests/integration/test_kmsauth.c and test_principals.c; here the
 * authenticator has no pool, and the role cache is filled by hand where a person is needed. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "auth.h"
#include "auth_cache.h"
#include "auth_internal.h"
#include "auth_kmsauth_gen.h"
#include "cf_codec.h"
#include "cf_crypto.h"
#include "cf_lru.h"
#include "cf_time.h"
#include "kms.h"
#include "kms_local.h"
#include "trun.h"

#define TO     "coffer-unit"
#define T0     INT64_C(1739546681) /* 20250214T152441Z */
#define LIFE_M 60                  /* COFFER_KMSAUTH_MAX_LIFETIME of the fixture, minutes */

/* --- the clock of token windows --- */

static int64_t fake_now = T0;

static int64_t now_fn(void)
{
    return fake_now;
}

/* --- fixture: a local key file, a KMS client over it, an authenticator without a pool --- */

struct fx {
    char dir[256];
    char path[300];
    struct kms_client *k;
    struct auth *a;
};

static struct auth *new_auth(struct kms_client *k, const char *service_keys, const char *user_keys)
{
    struct cf_config cfg = { 0 };
    struct auth *a = NULL;

    cfg.auth_key = (char *)service_keys;
    cfg.user_auth_key = (char *)user_keys;
    cfg.auth_context = TO;
    cfg.kmsauth_max_lifetime = LIFE_M;
    assert_int_equal(auth_new(NULL, k, &cfg, &a), 0);
    auth_set_clock(a, now_fn);
    assert_int_equal(auth_resolve_keys(a), 0);
    return a;
}

static int setup(void **state)
{
    struct fx *f = calloc(1, sizeof(*f));
    struct kms_local *kl = NULL;
    char err[256];

    snprintf(f->dir, sizeof(f->dir), "/tmp/coffer-auth-XXXXXX");
    assert_non_null(mkdtemp(f->dir));
    snprintf(f->path, sizeof(f->path), "%s/keys.json", f->dir);
    assert_int_equal(kms_local_init_file(f->path, err, sizeof(err)), 0);
    assert_int_equal(kms_local_open(f->path, &kl, err, sizeof(err)), 0);
    f->k = kms_client_wrap(&kms_local_ops, kl);
    /* an alias, and a list with spaces and an empty entry: both must resolve */
    f->a = new_auth(f->k, "alias/coffer-auth", " alias/coffer-user-auth , ,");
    fake_now = T0;
    *state = f;
    return 0;
}

static int teardown(void **state)
{
    struct fx *f = *state;
    char cmd[300];

    auth_free(f->a);
    kms_client_free(f->k);
    snprintf(cmd, sizeof(cmd), "rm -rf %s", f->dir);
    assert_int_equal(system(cmd), 0);
    free(f);
    return 0;
}

/* --- helpers --- */

/* A token for username made of (version, user_type, from), encrypted under key with payload. */
static char *encrypt_token(struct fx *f, const char *key, int version, const char *user_type,
                           const char *from, const char *to, const char *payload)
{
    char *tok = NULL;
    assert_int_equal(auth_kmsauth_encrypt(f->k, key, version, user_type, from, to, payload, &tok),
                     0);
    assert_non_null(tok);
    return tok;
}

static char *window_token(struct fx *f, const char *key, int version, const char *user_type,
                          const char *from, int64_t not_before, int64_t not_after)
{
    char payload[AUTH_KMSAUTH_PAYLOAD_MAX];
    assert_int_equal(auth_kmsauth_payload(not_before, not_after, payload), 0);
    return encrypt_token(f, key, version, user_type, from, TO, payload);
}

/* Authenticates with the X-Auth pair; returns auth_authenticate's result. */
static int xauth(struct auth *a, const char *username, const char *token, bool cheap_only,
                 struct auth_principal *who, struct auth_failure *why)
{
    struct auth_creds c = { .x_auth_from = username,
                            .x_auth_token = token,
                            .cheap_only = cheap_only };
    return auth_authenticate(a, &c, who, why);
}

/* Authenticates with "Authorization: Basic base64(username:token)". */
static int basic(struct auth *a, const char *username, const char *token,
                 struct auth_principal *who, struct auth_failure *why)
{
    char plain[12288], b64[16500], header[16600];
    snprintf(plain, sizeof(plain), "%s:%s", username, token);
    assert_int_equal(
        cf_b64_encode(CF_B64_STD, (const uint8_t *)plain, strlen(plain), b64, sizeof(b64)), 0);
    snprintf(header, sizeof(header), "Basic %s", b64);
    struct auth_creds c = { .authorization = header };
    return auth_authenticate(a, &c, who, why);
}

/* Expects the X-Auth pair to be refused with reason. */
static void refused(struct auth *a, const char *username, const char *token, const char *reason)
{
    struct auth_principal who;
    struct auth_failure why;

    assert_int_equal(xauth(a, username, token, false, &who, &why), CF_EAUTH);
    assert_string_equal(why.reason, reason);
    assert_true(why.presented);
    assert_int_equal(who.type, AUTH_ACTOR_ANONYMOUS);
    assert_int_equal(who.role, AUTH_ROLE_NONE);
}

static size_t cached_tokens(struct auth *a)
{
    size_t entries;
    uint64_t hits, misses;
    auth_token_cache_counts(a, &entries, &hits, &misses);
    return entries;
}

/* A well-formed API token of one repeated character (a static buffer). */
static const char *api_token(char fill)
{
    static char tok[AUTH_TOKEN_LEN + 1];
    memcpy(tok, AUTH_TOKEN_PREFIX, 7);
    memset(tok + 7, fill, AUTH_TOKEN_LEN - 7);
    tok[AUTH_TOKEN_LEN] = '\0';
    assert_true(auth_token_well_formed(tok));
    return tok;
}

/* Puts a person's role into the role cache, as a database lookup would. */
static void cache_role(struct auth *a, const char *name, bool present, enum auth_role role)
{
    uint8_t key[CF_SHA256_LEN];
    struct auth_role_entry e = { .present = present, .role = role };
    assert_int_equal(cf_sha256(name, strlen(name), key), 0);
    cf_lru_put(a->roles, key, &e, cf_now_us() / 1000 + AUTH_STALE_MS);
}

/* --- API tokens --- */

static void test_api_tokens_are_coffer_base64url_with_their_sha256_and_a_tok_id(void **state)
{
    (void)state;
    char tok[2][AUTH_TOKEN_LEN + 1], sha[2][CF_SHA256_HEX_LEN + 1], id[2][DB_TOKEN_ID_LEN + 1];
    char want[CF_SHA256_HEX_LEN + 1];

    for (int i = 0; i < 2; i++) {
        assert_int_equal(auth_token_generate(tok[i], sha[i], id[i]), 0);
        assert_int_equal(strlen(tok[i]), AUTH_TOKEN_LEN);
        assert_memory_equal(tok[i], "coffer_", 7);
        assert_true(auth_token_well_formed(tok[i]));
        assert_int_equal(cf_sha256_hex(tok[i], strlen(tok[i]), want), 0);
        assert_string_equal(sha[i], want);
        assert_int_equal(strlen(id[i]), 4 + 16);
        assert_memory_equal(id[i], "tok_", 4);
        assert_int_equal(strspn(id[i] + 4, "0123456789abcdef"), 16);
    }
    assert_string_not_equal(tok[0], tok[1]);
    assert_string_not_equal(id[0], id[1]);
}

static void test_only_an_exact_api_token_shape_is_well_formed(void **state)
{
    (void)state;
    char ok[AUTH_TOKEN_LEN + 1], bad[AUTH_TOKEN_LEN + 2];

    memcpy(ok, "coffer_", 7);
    memset(ok + 7, 'A', AUTH_TOKEN_LEN - 7);
    ok[AUTH_TOKEN_LEN] = '\0';
    ok[10] = '-';
    ok[11] = '_';
    ok[12] = 'z';
    ok[13] = '9';
    assert_true(auth_token_well_formed(ok));

    assert_false(auth_token_well_formed(""));
    assert_false(auth_token_well_formed("coffer_"));
    memcpy(bad, ok, sizeof(ok));
    bad[AUTH_TOKEN_LEN - 1] = '\0'; /* one short */
    assert_false(auth_token_well_formed(bad));
    memcpy(bad, ok, sizeof(ok));
    bad[AUTH_TOKEN_LEN] = 'A'; /* one long */
    bad[AUTH_TOKEN_LEN + 1] = '\0';
    assert_false(auth_token_well_formed(bad));
    const char *swaps[] = { "+", "/", "=", " ", ".", "\x80" };
    for (size_t i = 0; i < sizeof(swaps) / sizeof(swaps[0]); i++) {
        memcpy(bad, ok, sizeof(ok));
        bad[20] = swaps[i][0];
        assert_false(auth_token_well_formed(bad));
    }
    memcpy(bad, ok, sizeof(ok));
    bad[0] = 'C'; /* the prefix is case-sensitive */
    assert_false(auth_token_well_formed(bad));
    memcpy(bad, ok, sizeof(ok));
    bad[6] = '-'; /* "coffer-" */
    assert_false(auth_token_well_formed(bad));
}

/* --- roles and actor types --- */

static void test_only_admin_and_auditor_parse_as_roles_and_names_round_trip(void **state)
{
    (void)state;
    enum auth_role r = AUTH_ROLE_NONE;

    assert_int_equal(auth_role_parse("admin", &r), 0);
    assert_int_equal(r, AUTH_ROLE_ADMIN);
    assert_int_equal(auth_role_parse("auditor", &r), 0);
    assert_int_equal(r, AUTH_ROLE_AUDITOR);
    const char *bad[] = { "service", "none", "Admin", "admin ", "", "root" };
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        r = AUTH_ROLE_ADMIN;
        assert_int_equal(auth_role_parse(bad[i], &r), CF_EINVAL);
        assert_int_equal(r, AUTH_ROLE_ADMIN); /* untouched */
    }
    assert_string_equal(auth_role_name(AUTH_ROLE_NONE), "none");
    assert_string_equal(auth_role_name(AUTH_ROLE_SERVICE), "service");
    assert_string_equal(auth_role_name(AUTH_ROLE_AUDITOR), "auditor");
    assert_string_equal(auth_role_name(AUTH_ROLE_ADMIN), "admin");
    assert_string_equal(auth_role_name((enum auth_role)42), "none");
    assert_int_equal(auth_role_parse(auth_role_name(AUTH_ROLE_ADMIN), &r), 0);
    assert_int_equal(r, AUTH_ROLE_ADMIN);
    assert_int_equal(auth_role_parse(auth_role_name(AUTH_ROLE_AUDITOR), &r), 0);
    assert_int_equal(r, AUTH_ROLE_AUDITOR);

    assert_string_equal(auth_actor_type_name(AUTH_ACTOR_ANONYMOUS), "anonymous");
    assert_string_equal(auth_actor_type_name(AUTH_ACTOR_SERVICE), "service");
    assert_string_equal(auth_actor_type_name(AUTH_ACTOR_USER), "user");
    assert_string_equal(auth_actor_type_name(AUTH_ACTOR_TOKEN), "token");
    assert_string_equal(auth_actor_type_name(AUTH_ACTOR_SYSTEM), "system");
    assert_string_equal(auth_actor_type_name((enum auth_actor_type)42), "anonymous");
}

/* --- kmsauth: the parts made without KMS --- */

static void test_token_times_parse_only_in_the_exact_utc_format(void **state)
{
    (void)state;
    int64_t t = -1;

    assert_int_equal(auth_parse_token_time("19700101T000000Z", &t), 0);
    assert_int_equal(t, 0);
    assert_int_equal(auth_parse_token_time("20250214T152441Z", &t), 0);
    assert_int_equal(t, T0);
    assert_int_equal(auth_parse_token_time("20240229T235959Z", &t), 0); /* leap year */
    assert_int_equal(auth_parse_token_time("20000229T000000Z", &t), 0); /* 400-year leap */
    assert_int_equal(t, INT64_C(951782400));
    const char *bad[] = {
        "20230229T000000Z",                         /* not a leap year */
        "21000229T000000Z",                         /* a century, not a leap year */
        "19691231T235959Z",                         /* before the epoch */
        "20251301T000000Z",                         /* month 13 */
        "20250001T000000Z",                         /* month 0 */
        "20250100T000000Z",                         /* day 0 */
        "20250431T000000Z",                         /* 31 April */
        "20250214T240000Z",                         /* hour 24 */
        "20250214T156000Z",                         /* minute 60 */
        "20250214T152460Z",                         /* second 60 */
        "20250214T152441z",                         /* lower-case z */
        "20250214t152441Z",                         /* lower-case t */
        "20250214 152441Z",                         /* no T */
        "20250214T152441",                          /* no Z */
        "20250214T152441Z ",                        /* one too long */
        "2025021T152441Z",                          /* one too short */
        "2025-02-14T15:24:41Z", "2025O214T152441Z", /* a letter O */
        "-0250214T152441Z",     "",
    };
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        t = 7;
        assert_int_equal(auth_parse_token_time(bad[i], &t), CF_EINVAL);
        assert_int_equal(t, 7);
    }
}

static void test_payload_and_username_are_written_as_python_kmsauth_writes_them(void **state)
{
    (void)state;
    char p[AUTH_KMSAUTH_PAYLOAD_MAX], u[AUTH_KMSAUTH_USERNAME_MAX];
    int64_t nb, na;

    assert_int_equal(auth_kmsauth_payload(0, 3600, p), 0);
    assert_string_equal(p, "{\"not_before\": \"19700101T000000Z\", \"not_after\": "
                           "\"19700101T010000Z\"}");
    assert_int_equal(auth_kmsauth_payload(T0 - 180, T0 + 57 * 60, p), 0);
    assert_string_equal(p, "{\"not_before\": \"20250214T152141Z\", \"not_after\": "
                           "\"20250214T162141Z\"}");
    /* and what it writes parses back */
    assert_int_equal(auth_parse_token_time("20250214T152141Z", &nb), 0);
    assert_int_equal(auth_parse_token_time("20250214T162141Z", &na), 0);
    assert_int_equal(nb, T0 - 180);
    assert_int_equal(na, T0 + 57 * 60);

    assert_int_equal(auth_kmsauth_username(1, "service", "svc-a", u), 0);
    assert_string_equal(u, "svc-a");
    assert_int_equal(auth_kmsauth_username(2, "service", "svc-a", u), 0);
    assert_string_equal(u, "2/service/svc-a");
    assert_int_equal(auth_kmsauth_username(2, "user", "alice@example.com", u), 0);
    assert_string_equal(u, "2/user/alice@example.com");
    char longfrom[AUTH_KMSAUTH_USERNAME_MAX + 1];
    memset(longfrom, 'x', sizeof(longfrom) - 1);
    longfrom[sizeof(longfrom) - 1] = '\0';
    assert_int_not_equal(auth_kmsauth_username(1, "service", longfrom, u), 0);
}

/* --- kmsauth tokens through auth_authenticate, with the local KMS --- */

static void test_v1_and_v2_service_tokens_are_accepted_then_served_from_the_cache(void **state)
{
    struct fx *f = *state;
    struct auth_principal who;
    struct auth_failure why;
    char *v1 = NULL, *v2 = NULL;

    assert_int_equal(auth_kmsauth_generate(f->k, "alias/coffer-auth", 1, "service", "svc-a", TO, T0,
                                           LIFE_M, &v1),
                     0);
    assert_int_equal(auth_kmsauth_generate(f->k, "alias/coffer-auth", 2, "service", "svc-b", TO, T0,
                                           LIFE_M, &v2),
                     0);

    assert_int_equal(xauth(f->a, "svc-a", v1, false, &who, &why), 0);
    assert_string_equal(why.reason, "ok");
    assert_int_equal(who.type, AUTH_ACTOR_SERVICE);
    assert_int_equal(who.role, AUTH_ROLE_SERVICE);
    assert_string_equal(who.name, "svc-a");
    assert_string_equal(who.actor, "svc-a");
    assert_int_equal(who.kmsauth_version, 1);
    assert_false(who.cache_hit);
    assert_int_equal(cached_tokens(f->a), 1);

    /* the same token again: from the cache, also in the Basic wire form */
    assert_int_equal(basic(f->a, "svc-a", v1, &who, &why), 0);
    assert_true(who.cache_hit);
    assert_int_equal(xauth(f->a, "svc-a", v1, true, &who, &why), 0); /* cheap_only */
    assert_true(who.cache_hit);

    assert_int_equal(basic(f->a, "2/service/svc-b", v2, &who, &why), 0);
    assert_int_equal(who.kmsauth_version, 2);
    assert_string_equal(who.name, "svc-b");
    assert_int_equal(who.role, AUTH_ROLE_SERVICE);
    assert_false(who.cache_hit);
    assert_int_equal(cached_tokens(f->a), 2);

    size_t entries;
    uint64_t hits, misses;
    auth_token_cache_counts(f->a, &entries, &hits, &misses);
    assert_int_equal(hits, 2);
    assert_int_equal(misses, 2);
    free(v1);
    free(v2);
}

static void test_a_token_is_accepted_exactly_inside_its_window_cached_or_not(void **state)
{
    struct fx *f = *state;
    struct auth_principal who;
    struct auth_failure why;
    char *tok = window_token(f, "alias/coffer-auth", 1, "service", "svc-w", T0, T0 + 600);

    fake_now = T0 - 1;
    refused(f->a, "svc-w", tok, "kmsauth_window");
    fake_now = T0 + 601;
    refused(f->a, "svc-w", tok, "kmsauth_window");
    assert_int_equal(cached_tokens(f->a), 0); /* failures are never cached */

    fake_now = T0; /* not_before itself */
    assert_int_equal(xauth(f->a, "svc-w", tok, false, &who, &why), 0);
    assert_false(who.cache_hit);
    fake_now = T0 + 600; /* not_after itself, from the cache */
    assert_int_equal(xauth(f->a, "svc-w", tok, false, &who, &why), 0);
    assert_true(who.cache_hit);
    fake_now = T0 - 1; /* cached, but before not_before */
    refused(f->a, "svc-w", tok, "kmsauth_window");
    fake_now = T0 + 601; /* cached, but past not_after */
    refused(f->a, "svc-w", tok, "kmsauth_window");
    assert_int_equal(cached_tokens(f->a), 0);
    free(tok);
}

static void test_a_window_longer_than_the_maximum_lifetime_is_refused(void **state)
{
    struct fx *f = *state;
    struct auth_principal who;
    struct auth_failure why;
    char *longest =
        window_token(f, "alias/coffer-auth", 1, "service", "svc-l", T0 - 60, T0 - 60 + LIFE_M * 60);
    char *too_long = window_token(f, "alias/coffer-auth", 1, "service", "svc-l", T0 - 60,
                                  T0 - 60 + LIFE_M * 60 + 1);
    char *backwards = window_token(f, "alias/coffer-auth", 1, "service", "svc-l", T0 + 1, T0);

    assert_int_equal(xauth(f->a, "svc-l", longest, false, &who, &why), 0);
    refused(f->a, "svc-l", too_long, "kmsauth_lifetime");
    refused(f->a, "svc-l", backwards, "kmsauth_lifetime");
    free(longest);
    free(too_long);
    free(backwards);
}

static void test_a_token_only_opens_under_its_own_from_to_and_user_type(void **state)
{
    struct fx *f = *state;
    char payload[AUTH_KMSAUTH_PAYLOAD_MAX];
    assert_int_equal(auth_kmsauth_payload(T0 - 60, T0 + 600, payload), 0);
    char *other_to =
        encrypt_token(f, "alias/coffer-auth", 1, "service", "svc-c", "elsewhere", payload);
    char *v1 = encrypt_token(f, "alias/coffer-auth", 1, "service", "svc-c", TO, payload);
    char *v2 = encrypt_token(f, "alias/coffer-auth", 2, "service", "svc-c", TO, payload);
    char *v2user = encrypt_token(f, "alias/coffer-user-auth", 2, "user", "svc-c", TO, payload);

    refused(f->a, "svc-c", other_to, "kmsauth_decrypt");
    refused(f->a, "svc-d", v1, "kmsauth_decrypt");           /* another from */
    refused(f->a, "2/service/svc-c", v1, "kmsauth_decrypt"); /* a v1 token as v2 */
    refused(f->a, "svc-c", v2, "kmsauth_decrypt");           /* a v2 token as v1 */
    refused(f->a, "2/user/svc-c", v2, "kmsauth_decrypt");    /* another user type */
    refused(f->a, "2/service/svc-c", v2user, "kmsauth_decrypt");
    assert_int_equal(cached_tokens(f->a), 0);
    free(other_to);
    free(v1);
    free(v2);
    free(v2user);
}

static void test_a_token_under_a_key_not_configured_for_its_user_type_is_refused(void **state)
{
    struct fx *f = *state;
    /* the right context, but the master key, or the user key for a service */
    char *master = window_token(f, "alias/coffer-master", 1, "service", "svc-k", T0, T0 + 60);
    char *user_key = window_token(f, "alias/coffer-user-auth", 2, "service", "svc-k", T0, T0 + 60);
    char *svc_key = window_token(f, "alias/coffer-auth", 2, "user", "alice", T0, T0 + 60);

    refused(f->a, "svc-k", master, "kmsauth_wrong_key");
    refused(f->a, "2/service/svc-k", user_key, "kmsauth_wrong_key");
    refused(f->a, "2/user/alice", svc_key, "kmsauth_wrong_key");
    free(master);
    free(user_key);
    free(svc_key);
}

static void test_a_payload_that_is_not_two_token_times_is_refused(void **state)
{
    struct fx *f = *state;
    const char *bad[] = {
        "not json",
        "[\"20250214T152441Z\"]",
        "{\"not_before\": \"20250214T152441Z\"}",
        "{\"not_after\": \"20250214T152441Z\"}",
        "{\"not_before\": \"2025-02-14T15:24:41Z\", \"not_after\": \"20250214T152441Z\"}",
        "{\"not_before\": 1739546681, \"not_after\": \"20250214T152441Z\"}",
        "{\"not_before\": \"20250214T152441Z\", \"not_before\": \"20250214T152441Z\", "
        "\"not_after\": \"20250214T152441Z\"}", /* a duplicate member */
    };
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        char *tok = encrypt_token(f, "alias/coffer-auth", 1, "service", "svc-p", TO, bad[i]);
        refused(f->a, "svc-p", tok, "kmsauth_payload");
        free(tok);
    }
    /* other members are ignored */
    struct auth_principal who;
    struct auth_failure why;
    char *tok = encrypt_token(f, "alias/coffer-auth", 1, "service", "svc-p", TO,
                              "{\"x\": 1, \"not_before\": \"20250214T152441Z\", \"not_after\": "
                              "\"20250214T152441Z\"}");
    assert_int_equal(xauth(f->a, "svc-p", tok, false, &who, &why), 0);
    free(tok);
}

static void test_malformed_usernames_and_token_text_are_refused_before_kms(void **state)
{
    struct fx *f = *state;
    char *tok = window_token(f, "alias/coffer-auth", 1, "service", "svc-m", T0, T0 + 60);
    char from129[130], long_token[8194];

    const char *bad_usernames[] = {
        "2/service/",     "2//svc-m",   "2/service/svc/m", "3/service/svc-m",
        "22/service/svc", "/service/x", "2/service",       "svc m",
        "svc:m",          "svc\x7fm",   "sv\xc3\xa9m",     "2/service/svc:m\t",
    };
    for (size_t i = 0; i < sizeof(bad_usernames) / sizeof(bad_usernames[0]); i++)
        refused(f->a, bad_usernames[i], tok, "kmsauth_bad_username");
    memset(from129, 'a', 129);
    from129[129] = '\0';
    refused(f->a, from129, tok, "kmsauth_bad_username");

    refused(f->a, "2/robot/svc-m", tok, "kmsauth_user_type"); /* well formed, unknown type */

    refused(f->a, "svc-m", "not base64!", "kmsauth_token_format");
    refused(f->a, "svc-m", "====", "kmsauth_token_format");
    memset(long_token, 'A', sizeof(long_token) - 1); /* valid base64, over 8,192 characters */
    long_token[sizeof(long_token) - 1] = '\0';
    refused(f->a, "svc-m", long_token, "kmsauth_token_format");
    refused(f->a, "svc-m", "AAAA", "kmsauth_decrypt"); /* base64, but no blob */
    assert_int_equal(cached_tokens(f->a), 0);
    free(tok);
}

static void test_user_tokens_need_a_user_key_and_take_the_role_given_to_the_person(void **state)
{
    struct fx *f = *state;
    struct auth_principal who;
    struct auth_failure why;
    char *alice = window_token(f, "alias/coffer-user-auth", 2, "user", "alice", T0, T0 + 60);
    char *bob = window_token(f, "alias/coffer-user-auth", 2, "user", "bob", T0, T0 + 60);

    cache_role(f->a, "alice", true, AUTH_ROLE_AUDITOR);
    cache_role(f->a, "bob", false, AUTH_ROLE_NONE); /* no such principal */
    assert_int_equal(xauth(f->a, "2/user/alice", alice, false, &who, &why), 0);
    assert_int_equal(who.type, AUTH_ACTOR_USER);
    assert_int_equal(who.role, AUTH_ROLE_AUDITOR);
    assert_string_equal(who.actor, "alice");
    assert_int_equal(xauth(f->a, "2/user/bob", bob, false, &who, &why), 0);
    assert_int_equal(who.type, AUTH_ACTOR_USER);
    assert_int_equal(who.role, AUTH_ROLE_NONE); /* authenticated, allowed nothing */

    /* the role cache is consulted on every request, cached token or not */
    cache_role(f->a, "alice", true, AUTH_ROLE_ADMIN);
    assert_int_equal(xauth(f->a, "2/user/alice", alice, false, &who, &why), 0);
    assert_true(who.cache_hit);
    assert_int_equal(who.role, AUTH_ROLE_ADMIN);

    /* no user key configured: users are refused before KMS */
    struct auth *svc_only = new_auth(f->k, "alias/coffer-auth", NULL);
    refused(svc_only, "2/user/alice", alice, "kmsauth_user_type");
    auth_free(svc_only);
    /* no key at all: services too */
    struct auth *none = new_auth(f->k, NULL, NULL);
    refused(none, "svc", alice, "kmsauth_user_type");
    auth_free(none);
    free(alice);
    free(bob);
}

/* --- choosing the credential source --- */

static void
test_credential_sources_are_taken_in_order_and_a_broken_one_does_not_fall_through(void **state)
{
    struct fx *f = *state;
    struct auth_principal who;
    struct auth_failure why;
    char *tok = window_token(f, "alias/coffer-auth", 1, "service", "svc-o", T0, T0 + 60);
    struct auth_creds c = { 0 };

    assert_int_equal(auth_authenticate(f->a, &c, &who, &why), CF_EAUTH);
    assert_false(why.presented);
    assert_string_equal(why.reason, "unauthenticated");

    /* Bearer: a malformed token is refused without a lookup; the pair beside it is unused */
    c = (struct auth_creds){ .authorization = "Bearer nope",
                             .x_auth_from = "svc-o",
                             .x_auth_token = tok };
    assert_int_equal(auth_authenticate(f->a, &c, &who, &why), CF_EAUTH);
    assert_true(why.presented);
    assert_string_equal(why.reason, "api_token_invalid");
    char bearer[80];
    snprintf(bearer, sizeof(bearer), "bearer %s", api_token('A'));
    c.authorization = bearer;
    c.cheap_only = true; /* well formed, not cached: no database lookup */
    assert_int_equal(auth_authenticate(f->a, &c, &who, &why), CF_EAUTH);
    assert_true(why.needs_verification);
    c.cheap_only = false;

    /* Basic with an empty username counts as absent: the X-Auth pair decides */
    c.authorization = "Basic OnNvbWV0aGluZw=="; /* ":something" */
    assert_int_equal(auth_authenticate(f->a, &c, &who, &why), 0);
    assert_string_equal(who.name, "svc-o");
    /* a broken Basic header does not fall through to the pair */
    const char *broken[] = { "Basic !!!!", "Basic c3ZjLW8=" /* "svc-o" */,
                             "Basic c3ZjLW86" /* "svc-o:" */ };
    for (size_t i = 0; i < sizeof(broken) / sizeof(broken[0]); i++) {
        c.authorization = broken[i];
        assert_int_equal(auth_authenticate(f->a, &c, &who, &why), CF_EAUTH);
        assert_string_equal(why.reason, "bad_auth_header");
        assert_int_equal(who.type, AUTH_ACTOR_ANONYMOUS);
    }
    assert_string_equal(why.claimed, "svc-o");
    /* an Authorization header of another scheme is ignored */
    c.authorization = "Digest x";
    assert_int_equal(auth_authenticate(f->a, &c, &who, &why), 0);

    /* half an X-Auth pair is refused, and names what it claimed */
    c = (struct auth_creds){ .x_auth_from = "svc-o" };
    assert_int_equal(auth_authenticate(f->a, &c, &who, &why), CF_EAUTH);
    assert_true(why.presented);
    assert_string_equal(why.reason, "bad_auth_header");
    assert_string_equal(why.claimed, "svc-o");
    c = (struct auth_creds){ .x_auth_token = tok };
    assert_int_equal(auth_authenticate(f->a, &c, &who, &why), CF_EAUTH);
    assert_string_equal(why.reason, "bad_auth_header");
    c = (struct auth_creds){ .x_auth_from = "svc-o", .x_auth_token = "" };
    assert_int_equal(auth_authenticate(f->a, &c, &who, &why), CF_EAUTH);
    assert_string_equal(why.reason, "bad_auth_header");
    free(tok);
}

static void test_cheap_only_decides_only_what_costs_nothing(void **state)
{
    struct fx *f = *state;
    struct auth_principal who;
    struct auth_failure why;
    char *tok = window_token(f, "alias/coffer-auth", 1, "service", "svc-r", T0, T0 + 60);

    assert_int_equal(xauth(f->a, "svc-r", tok, true, &who, &why), CF_EAUTH);
    assert_true(why.needs_verification);
    assert_false(why.remembered);
    assert_int_equal(cached_tokens(f->a), 0);
    assert_int_equal(xauth(f->a, "svc-r", tok, false, &who, &why), 0);
    assert_false(why.needs_verification);
    assert_int_equal(xauth(f->a, "svc-r", tok, true, &who, &why), 0);
    assert_true(who.cache_hit);
    /* the cache entry is bound to the username: another from is not a hit */
    assert_int_equal(xauth(f->a, "2/service/svc-r", tok, true, &who, &why), CF_EAUTH);
    assert_true(why.needs_verification);
    free(tok);
}

/* A credential that failed for what it is is remembered: presented again, it is refused with
 * the same reason and no cost, also when only cheap answers are allowed; one that failed for
 * what may change (not valid yet) is not. */
static void test_lasting_failures_are_remembered(void **state)
{
    struct fx *f = *state;
    struct auth_principal who;
    struct auth_failure why;
    char *wrong_to = encrypt_token(f, "alias/coffer-auth", 1, NULL, "svc-g", "another-server",
                                   "{\"not_before\": \"20250214T152441Z\"}");
    char *expired = window_token(f, "alias/coffer-auth", 1, "service", "svc-e", T0 - 600, T0 - 60);
    char *early = window_token(f, "alias/coffer-auth", 1, "service", "svc-f", T0 + 60, T0 + 120);
    uint64_t before = auth_failures_remembered(f->a);

    /* a ciphertext KMS refuses (its context names another server) */
    assert_int_equal(xauth(f->a, "svc-g", wrong_to, false, &who, &why), CF_EAUTH);
    assert_string_equal(why.reason, "kmsauth_decrypt");
    assert_false(why.remembered);
    assert_int_equal(xauth(f->a, "svc-g", wrong_to, true, &who, &why), CF_EAUTH);
    assert_string_equal(why.reason, "kmsauth_decrypt");
    assert_true(why.remembered);
    assert_false(why.needs_verification);
    /* the memory is bound to the username too */
    assert_int_equal(xauth(f->a, "svc-h", wrong_to, true, &who, &why), CF_EAUTH);
    assert_true(why.needs_verification);

    /* expired: for good */
    assert_int_equal(xauth(f->a, "svc-e", expired, false, &who, &why), CF_EAUTH);
    assert_string_equal(why.reason, "kmsauth_window");
    assert_int_equal(xauth(f->a, "svc-e", expired, true, &who, &why), CF_EAUTH);
    assert_true(why.remembered);
    assert_string_equal(why.reason, "kmsauth_window");

    /* not valid yet: checked again each time */
    assert_int_equal(xauth(f->a, "svc-f", early, false, &who, &why), CF_EAUTH);
    assert_string_equal(why.reason, "kmsauth_window");
    assert_int_equal(xauth(f->a, "svc-f", early, true, &who, &why), CF_EAUTH);
    assert_true(why.needs_verification);
    assert_false(why.remembered);
    assert_int_equal(auth_failures_remembered(f->a), before + 2);
    free(wrong_to);
    free(expired);
    free(early);
}

/* --- forgetting cached API tokens and roles --- */

static void test_forget_drops_api_tokens_and_the_named_role_or_everything(void **state)
{
    struct fx *f = *state;
    const char *api = api_token('B');
    char bearer[80];
    uint8_t digest[CF_SHA256_LEN];
    struct auth_principal cached = { .type = AUTH_ACTOR_TOKEN,
                                     .role = AUTH_ROLE_ADMIN,
                                     .name = "ci",
                                     .actor = "token:ci",
                                     .token_id = "tok_1" };
    struct auth_principal who;
    struct auth_failure why;
    char *alice = window_token(f, "alias/coffer-user-auth", 2, "user", "alice", T0, T0 + 60);
    char *carol = window_token(f, "alias/coffer-user-auth", 2, "user", "carol", T0, T0 + 60);

    snprintf(bearer, sizeof(bearer), "Bearer %s", api);
    struct auth_creds c = { .authorization = bearer, .cheap_only = true };
    /* what a database lookup would have cached */
    assert_int_equal(cf_sha256(api, strlen(api), digest), 0);
    cf_lru_put(f->a->api_tokens, digest, &cached, cf_now_us() / 1000 + AUTH_STALE_MS);
    cache_role(f->a, "alice", true, AUTH_ROLE_ADMIN);
    cache_role(f->a, "carol", true, AUTH_ROLE_AUDITOR);

    assert_int_equal(auth_authenticate(f->a, &c, &who, &why), 0);
    assert_true(who.cache_hit);
    assert_string_equal(who.actor, "token:ci");
    assert_int_equal(who.type, AUTH_ACTOR_TOKEN);

    auth_forget(f->a, "principal:alice");
    assert_int_equal(auth_authenticate(f->a, &c, &who, &why), 0); /* tokens kept */
    uint8_t key[CF_SHA256_LEN];
    struct auth_role_entry e;
    assert_int_equal(cf_sha256("alice", 5, key), 0);
    assert_int_equal(cf_lru_get(f->a->roles, key, cf_now_us() / 1000, &e), CF_ENOTFOUND);
    assert_int_equal(xauth(f->a, "2/user/carol", carol, false, &who, &why), 0); /* kept */
    assert_int_equal(who.role, AUTH_ROLE_AUDITOR);

    auth_forget(f->a, "token:tok_1");
    assert_int_equal(auth_authenticate(f->a, &c, &who, &why), CF_EAUTH);
    assert_true(why.needs_verification);
    assert_int_equal(xauth(f->a, "2/user/carol", carol, false, &who, &why), 0); /* kept */

    cf_lru_put(f->a->api_tokens, digest, &cached, cf_now_us() / 1000 + AUTH_STALE_MS);
    auth_forget(f->a, NULL);
    assert_int_equal(auth_authenticate(f->a, &c, &who, &why), CF_EAUTH);
    assert_int_equal(cf_sha256("carol", 5, key), 0);
    assert_int_equal(cf_lru_get(f->a->roles, key, cf_now_us() / 1000, &e), CF_ENOTFOUND);
    free(alice);
    free(carol);
}

/* --- the token cache itself --- */

static void digest_of(const char *s, uint8_t out[CF_SHA256_LEN])
{
    assert_int_equal(cf_sha256(s, strlen(s), out), 0);
}

static void test_the_token_cache_holds_an_entry_until_its_not_after_inclusive(void **state)
{
    (void)state;
    struct auth_cache *c = NULL;
    uint8_t d[CF_SHA256_LEN];
    struct auth_token_info in = { .version = 2,
                                  .user_type = AUTH_ACTOR_USER,
                                  .from = "alice",
                                  .not_before = 100,
                                  .not_after = 200 };
    struct auth_token_info out;
    size_t entries;
    uint64_t hits, misses;

    assert_int_equal(auth_cache_new(4, &c), 0);
    digest_of("a", d);
    assert_int_equal(auth_cache_get(c, d, 150, &out), CF_ENOTFOUND);
    auth_cache_put(c, d, &in);
    memset(&out, 0, sizeof(out));
    assert_int_equal(auth_cache_get(c, d, 200, &out), 0);
    assert_int_equal(out.version, 2);
    assert_int_equal(out.user_type, AUTH_ACTOR_USER);
    assert_string_equal(out.from, "alice");
    assert_int_equal(out.not_before, 100);
    assert_int_equal(out.not_after, 200);
    assert_int_equal(auth_cache_get(c, d, 201, &out), CF_ENOTFOUND);
    auth_cache_counts(c, &entries, &hits, &misses);
    assert_int_equal(entries, 0); /* dropped when found expired */
    assert_int_equal(hits, 1);
    assert_int_equal(misses, 2);

    /* put replaces */
    auth_cache_put(c, d, &in);
    in.not_after = 300;
    snprintf(in.from, sizeof(in.from), "%s", "bob");
    auth_cache_put(c, d, &in);
    assert_int_equal(auth_cache_get(c, d, 250, &out), 0);
    assert_string_equal(out.from, "bob");
    auth_cache_counts(c, &entries, &hits, &misses);
    assert_int_equal(entries, 1);
    auth_cache_free(c);
}

static void test_the_token_cache_evicts_the_least_recently_used_entry(void **state)
{
    (void)state;
    struct auth_cache *c = NULL;
    uint8_t a[CF_SHA256_LEN], b[CF_SHA256_LEN], d[CF_SHA256_LEN];
    struct auth_token_info in = { .version = 1,
                                  .user_type = AUTH_ACTOR_SERVICE,
                                  .not_after = 1000 };
    struct auth_token_info out;
    size_t entries;
    uint64_t hits, misses;

    assert_int_equal(auth_cache_new(2, &c), 0);
    digest_of("a", a);
    digest_of("b", b);
    digest_of("d", d);
    snprintf(in.from, sizeof(in.from), "%s", "a");
    auth_cache_put(c, a, &in);
    snprintf(in.from, sizeof(in.from), "%s", "b");
    auth_cache_put(c, b, &in);
    assert_int_equal(auth_cache_get(c, a, 0, &out), 0); /* a is now the most recent */
    snprintf(in.from, sizeof(in.from), "%s", "d");
    auth_cache_put(c, d, &in);
    assert_int_equal(auth_cache_get(c, b, 0, &out), CF_ENOTFOUND);
    assert_int_equal(auth_cache_get(c, a, 0, &out), 0);
    assert_string_equal(out.from, "a");
    assert_int_equal(auth_cache_get(c, d, 0, &out), 0);
    assert_string_equal(out.from, "d");
    auth_cache_counts(c, &entries, &hits, &misses);
    assert_int_equal(entries, 2);
    auth_cache_free(c);
}

int main(void)
{
    const struct CMUnitTest pure[] = {
        cmocka_unit_test(test_api_tokens_are_coffer_base64url_with_their_sha256_and_a_tok_id),
        cmocka_unit_test(test_only_an_exact_api_token_shape_is_well_formed),
        cmocka_unit_test(test_only_admin_and_auditor_parse_as_roles_and_names_round_trip),
        cmocka_unit_test(test_token_times_parse_only_in_the_exact_utc_format),
        cmocka_unit_test(test_payload_and_username_are_written_as_python_kmsauth_writes_them),
        cmocka_unit_test(test_the_token_cache_holds_an_entry_until_its_not_after_inclusive),
        cmocka_unit_test(test_the_token_cache_evicts_the_least_recently_used_entry),
    };
    const struct CMUnitTest kmsauth[] = {
        cmocka_unit_test_setup_teardown(
            test_v1_and_v2_service_tokens_are_accepted_then_served_from_the_cache, setup, teardown),
        cmocka_unit_test_setup_teardown(
            test_a_token_is_accepted_exactly_inside_its_window_cached_or_not, setup, teardown),
        cmocka_unit_test_setup_teardown(test_a_window_longer_than_the_maximum_lifetime_is_refused,
                                        setup, teardown),
        cmocka_unit_test_setup_teardown(test_a_token_only_opens_under_its_own_from_to_and_user_type,
                                        setup, teardown),
        cmocka_unit_test_setup_teardown(
            test_a_token_under_a_key_not_configured_for_its_user_type_is_refused, setup, teardown),
        cmocka_unit_test_setup_teardown(test_a_payload_that_is_not_two_token_times_is_refused,
                                        setup, teardown),
        cmocka_unit_test_setup_teardown(
            test_malformed_usernames_and_token_text_are_refused_before_kms, setup, teardown),
        cmocka_unit_test_setup_teardown(
            test_user_tokens_need_a_user_key_and_take_the_role_given_to_the_person, setup,
            teardown),
        cmocka_unit_test_setup_teardown(
            test_credential_sources_are_taken_in_order_and_a_broken_one_does_not_fall_through,
            setup, teardown),
        cmocka_unit_test_setup_teardown(test_lasting_failures_are_remembered, setup, teardown),
        cmocka_unit_test_setup_teardown(test_cheap_only_decides_only_what_costs_nothing, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(
            test_forget_drops_api_tokens_and_the_named_role_or_everything, setup, teardown),
    };
    int failed = t_run_group_tests(pure, NULL, NULL);
    failed += t_run_group_tests(kmsauth, NULL, NULL);
    return failed != 0;
}
