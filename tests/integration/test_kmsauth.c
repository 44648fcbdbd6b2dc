/*
 * test_kmsauth.c - kmsauth on the wire (API.md 2.1-2.4, 9.1): tokens made in C through kms/ and
 * encrypted in moto, in both versions and both wire forms, are accepted; every refused token
 * or header is a 401 that gives no hint, with its precise reason in the access log (8.2); user
 * types need their key; KMS unreachable is 503 kms_unavailable while warm tokens keep working.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>
#include <jansson.h>

#include "auth_kmsauth_gen.h"
#include "cf_crypto.h"
#include "cf_json.h"
#include "cf_log.h"
#include "tkms.h"

#define WWW_AUTHENTICATE "Basic realm=\"coffer\", Bearer realm=\"coffer\""
#define MAX_CASES        128

static int setup(void **state)
{
    struct tkms *f = calloc(1, sizeof(*f));
    const struct tkms_conf conf = { .rotation_keys = true,
                                    .user_key_by_id = true,
                                    .max_lifetime = 60 };

    assert_non_null(f);
    tkms_init(f, &conf);
    *state = f;
    return 0;
}

/* A new service (id prefix + 8 hex in sid) mapping one new credential {"password": value}. */
static void own_service(const struct tkms *f, const char *prefix, char *sid, size_t cap,
                        const char *value)
{
    char name[64], id[TAPI_ID_LEN];
    const char *ids[] = { id, NULL };

    tapi_name(sid, cap, prefix);
    tapi_name(name, sizeof(name), "cred-");
    char *pairs = tapi_printf("{\"password\": \"%s\"}", value);
    tapi_cred_new(&f->api, name, pairs, id);
    free(pairs);
    tapi_svc_map(&f->api, sid, ids);
}

/* Asserts a 200 bundle of sid whose one credential holds password = value. */
static void assert_bundle(const struct t_resp *r, const char *sid, const char *value)
{
    json_t *b = tapi_ok(r);
    json_t *creds = json_object_get(b, "credentials");

    assert_string_equal(tapi_str(b, "id"), sid);
    assert_int_equal(json_array_size(creds), 1);
    json_t *pairs = json_object_get(json_array_get(creds, 0), "credential_pairs");
    if (cf_json_str(pairs, "password") == NULL || strcmp(cf_json_str(pairs, "password"), value))
        fail_msg("the bundle of %s does not hold the value %s: %.600s", sid, value, r->body.data);
    json_decref(b);
}

/* --- accepted ------------------------------------------------------------------------------ */

static void test_v1_and_v2_tokens_are_accepted_in_both_wire_forms(void **state)
{
    struct tkms *f = *state;
    static const char *const forms[] = { "Basic", "X-Auth-From/X-Auth-Token" };
    char sid[64], user[200];
    struct t_resp r;

    own_service(f, "svc-ok-", sid, sizeof(sid), "accepted-value-1");
    for (int v = 1; v <= 2; v++) {
        char *tok = tkms_token(f, v, "service", sid);
        tkms_username(v, "service", sid, user, sizeof(user));
        for (int w = TKMS_BASIC; w <= TKMS_XAUTH; w++) {
            print_message("version %d, %s\n", v, forms[w]);
            tkms_get(&f->api, (enum tkms_wire)w, user, tok, NULL, &r, "/v1/services/%s", sid);
            assert_bundle(&r, sid, "accepted-value-1");
            tkms_audit(&f->api, &r, "service", sid, "service.get", sid, "allowed", "ok");
            t_resp_free(&r);
        }
        free(tok);
    }
}

static void test_a_service_is_identified_by_its_from_in_user_email(void **state)
{
    struct tkms *f = *state;
    char sid[64];
    struct t_resp r;

    tapi_name(sid, sizeof(sid), "svc-who-");
    char *tok = tkms_token(f, 1, "service", sid);
    tkms_get(&f->api, TKMS_BASIC, sid, tok, NULL, &r, "/v1/user/email");
    json_t *b = tapi_ok(&r);
    assert_string_equal(tapi_str(b, "email"), sid);
    assert_string_equal(tapi_str(b, "actor_type"), "service");
    assert_string_equal(tapi_str(b, "role"), "service");
    json_decref(b);
    tkms_audit(&f->api, &r, "service", sid, "identity.get", NULL, "allowed", "ok");
    t_resp_free(&r);
    free(tok);
}

static void test_tokens_at_the_limits_of_the_rules_are_accepted(void **state)
{
    struct tkms *f = *state;
    char sid[64], u2[200];
    int64_t now = tkms_now();
    struct t_resp r;

    own_service(f, "svc-edge-", sid, sizeof(sid), "edge-value");
    tkms_username(2, "service", sid, u2, sizeof(u2));
    struct {
        const char *label;
        char *token;
    } cases[] = {
        { "a lifetime of exactly the maximum (60 minutes)",
          tkms_token_window(f, f->auth.alias, 2, "service", sid, f->context, now - 180,
                            now - 180 + 3600) },
        { "the second key of the COFFER_AUTH_KEY list (configured by its key ARN)",
          tkms_token_window(f, f->auth2.alias, 2, "service", sid, f->context, now - 180,
                            now + 420) },
        { "the third key of the COFFER_AUTH_KEY list (configured by its alias ARN, upstream bug 5)",
          tkms_token_window(f, f->auth3.alias, 2, "service", sid, f->context, now - 180,
                            now + 420) },
        { "a payload with other members besides the window", NULL },
    };
    char payload[256], window[AUTH_KMSAUTH_PAYLOAD_MAX];
    assert_int_equal(auth_kmsauth_payload(now - 180, now + 420, window), 0);
    /* {"not_before": "...", "not_after": "..."} -> the same with a member more in front */
    snprintf(payload, sizeof(payload), "{\"extra\": [1, {\"x\": null}], %s", window + 1);
    cases[3].token = tkms_token_payload(f, f->auth.alias, 2, "service", sid, f->context, payload);
    struct cf_buf problems = { 0 };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        tkms_get(&f->api, TKMS_BASIC, u2, cases[i].token, NULL, &r, "/v1/services/%s", sid);
        if (r.status != 200)
            tapi_collect(&problems, cases[i].label,
                         tapi_printf("expected 200, got %ld: %.300s", r.status, r.body.data));
        else
            tapi_collect(
                &problems, cases[i].label,
                tkms_audit_diff(&f->api, &r, "service", sid, "service.get", sid, "allowed", "ok"));
        t_resp_free(&r);
        free(cases[i].token);
    }
    tapi_collect_end(&problems);
}

static void test_every_service_id_is_a_valid_from(void **state)
{
    struct tkms *f = *state;
    char rnd[64], ids[2][160], user[200];
    struct t_resp r;

    /* the longest service id (128 bytes, the longest from) and one with every punctuation
     * character the id pattern allows (API.md 1.2, 2.3 step 1) */
    tapi_name(rnd, sizeof(rnd), "long-");
    snprintf(ids[0], sizeof(ids[0]), "%s", rnd);
    size_t len = strlen(ids[0]);
    memset(ids[0] + len, 'x', 128 - len); /* pad to exactly 128 bytes */
    ids[0][128] = '\0';
    tapi_name(rnd, sizeof(rnd), "p_.@+=,-");
    snprintf(ids[1], sizeof(ids[1]), "S%s", rnd);
    for (size_t i = 0; i < 2; i++) {
        tapi_svc_put(&f->api, ids[i], "{}");
        for (int v = 1; v <= 2; v++) {
            char *tok = tkms_token(f, v, "service", ids[i]);
            tkms_username(v, "service", ids[i], user, sizeof(user));
            print_message("%s, version %d\n", ids[i], v);
            tkms_get(&f->api, v == 1 ? TKMS_XAUTH : TKMS_BASIC, user, tok, NULL, &r,
                     "/v1/services/%s", ids[i]);
            json_t *b = tapi_ok(&r);
            assert_string_equal(tapi_str(b, "id"), ids[i]);
            json_decref(b);
            tkms_audit(&f->api, &r, "service", ids[i], "service.get", ids[i], "allowed", "ok");
            t_resp_free(&r);
            free(tok);
        }
    }
}

static void
test_sources_that_count_as_absent_or_are_ignored_let_the_header_pair_through(void **state)
{
    struct tkms *f = *state;
    char sid[64], u2[200];
    struct tkms_creds c;
    struct t_resp r;

    own_service(f, "svc-src-", sid, sizeof(sid), "source-value");
    tkms_username(2, "service", sid, u2, sizeof(u2));
    char *tok = tkms_token(f, 2, "service", sid);
    tkms_creds(TKMS_XAUTH, u2, tok, &c);
    char *empty_user = tkms_basic_raw(":not-a-token"); /* empty username: counts as absent */
    const char *const others[] = { empty_user, "Authorization: Digest username=\"x\"",
                                   "Authorization: Negotiate abc" };
    for (size_t i = 0; i < sizeof(others) / sizeof(others[0]); i++) {
        const char *h[] = { others[i], c.h[0], c.h[1], NULL };
        print_message("beside %s\n", others[i]);
        tapi_send_h(&f->api, h, "GET", NULL, &r, "/v1/services/%s", sid);
        assert_bundle(&r, sid, "source-value");
        tkms_audit(&f->api, &r, "service", sid, "service.get", sid, "allowed", "ok");
        t_resp_free(&r);
    }
    free(empty_user);
    tkms_creds_free(&c);
    free(tok);
}

static void test_a_cached_token_is_bound_to_its_username(void **state)
{
    struct tkms *f = *state;
    char sid[64], u2[200], as_user[200];
    struct t_resp r;

    own_service(f, "svc-bound-", sid, sizeof(sid), "bound-value");
    tkms_username(2, "service", sid, u2, sizeof(u2));
    tkms_username(2, "user", sid, as_user, sizeof(as_user));
    char *tok = tkms_token(f, 2, "service", sid);
    tkms_fetch(&f->api, u2, tok, sid, &r); /* validated and cached */
    assert_bundle(&r, sid, "bound-value");
    t_resp_free(&r);
    /* the cache key holds the user type and the version (2.3 step 4): no hit for another
     * username, so KMS decides, and the context differs */
    const char *others[] = { as_user, sid };
    for (size_t i = 0; i < 2; i++) {
        tkms_fetch(&f->api, others[i], tok, sid, &r);
        tapi_check_error(&r, 401, "authentication_failed");
        tkms_audit(&f->api, &r, "anonymous", others[i], "service.get", sid, "denied",
                   "kmsauth_decrypt");
        t_resp_free(&r);
    }
    tkms_fetch(&f->api, u2, tok, sid, &r);
    assert_bundle(&r, sid, "bound-value");
    t_resp_free(&r);
    free(tok);
}

static void test_a_cached_token_stops_working_after_its_not_after(void **state)
{
    struct tkms *f = *state;
    char sid[64], u2[200], path[160];
    struct tkms_creds c;
    struct t_resp r;
    int64_t now = tkms_now();

    own_service(f, "svc-short-", sid, sizeof(sid), "short-lived-value");
    tkms_username(2, "service", sid, u2, sizeof(u2));
    char *tok =
        tkms_token_window(f, f->auth.alias, 2, "service", sid, f->context, now - 180, now + 4);
    tkms_fetch(&f->api, u2, tok, sid, &r);
    assert_bundle(&r, sid, "short-lived-value"); /* cached until its not_after */
    t_resp_free(&r);
    /* the window is checked on every request, cached or not (2.3 step 9) */
    tkms_creds(TKMS_BASIC, u2, tok, &c);
    snprintf(path, sizeof(path), "/v1/services/%s?metadata_only=False", sid);
    long status = tkms_poll_status(&f->api, (const char *const *)c.h, path, 401, 30);
    if (status != 401)
        fail_msg("a token past its not_after still answers %ld", status);
    tkms_fetch(&f->api, u2, tok, sid, &r);
    tapi_check_error(&r, 401, "authentication_failed");
    tkms_audit(&f->api, &r, "anonymous", u2, "service.get", sid, "denied", "kmsauth_window");
    t_resp_free(&r);
    tkms_creds_free(&c);
    free(tok);
}

/* --- refused ------------------------------------------------------------------------------- */

/* One refused request: its headers, what it must answer, what the access log must say. */
struct refusal {
    char label[160];
    char *h[4];        /* malloc'd header lines, NULL-terminated */
    const char *code;  /* authentication_failed | unauthenticated */
    const char *why;   /* the access log's reason ("a|b" = either) */
    char *actor;       /* the access log's actor (malloc'd); NULL = not checked */
    char *token;       /* token text that may appear in no answer and no row; NULL = none */
    bool xauth_header; /* h[] holds X-Auth headers (for the label) */
};

struct refusals {
    struct refusal c[MAX_CASES];
    size_t n;
};

static struct refusal *refusal_add(struct refusals *rs, const char *label, const char *code,
                                   const char *why)
{
    if (rs->n >= MAX_CASES)
        fail_msg("too many cases");
    struct refusal *c = &rs->c[rs->n++];
    *c = (struct refusal){ .code = code, .why = why };
    snprintf(c->label, sizeof(c->label), "%s", label);
    return c;
}

/* A kmsauth username and token in one wire form. */
static void refuse_one(struct refusals *rs, const char *label, enum tkms_wire w,
                       const char *username, const char *token, const char *why)
{
    char l[160];
    struct tkms_creds cr;

    snprintf(l, sizeof(l), "%s [%s]", label, w == TKMS_BASIC ? "Basic" : "X-Auth");
    struct refusal *c = refusal_add(rs, l, "authentication_failed", why);
    tkms_creds(w, username, token, &cr);
    c->h[0] = cr.h[0];
    c->h[1] = cr.h[1];
    c->actor = strndup(username, 128); /* the claimed username, at most 128 bytes */
    c->token = strlen(token) >= 24 ? strdup(token) : NULL;
}

/* The same in both wire forms; frees token. */
static void refuse(struct refusals *rs, const char *label, const char *username, char *token,
                   const char *why)
{
    refuse_one(rs, label, TKMS_BASIC, username, token, why);
    refuse_one(rs, label, TKMS_XAUTH, username, token, why);
    free(token);
}

/* Raw header lines (h1 may be NULL). */
static void refuse_raw(struct refusals *rs, const char *label, const char *code, const char *why,
                       const char *actor, const char *h0, const char *h1)
{
    struct refusal *c = refusal_add(rs, label, code, why);
    if (h0 != NULL)
        c->h[0] = strdup(h0);
    if (h1 != NULL)
        c->h[h0 != NULL ? 1 : 0] = strdup(h1);
    c->actor = actor != NULL ? strdup(actor) : NULL;
}

static void refusals_free(struct refusals *rs)
{
    for (size_t i = 0; i < rs->n; i++) {
        for (size_t k = 0; k < 4; k++)
            free(rs->c[i].h[k]);
        free(rs->c[i].actor);
        free(rs->c[i].token);
    }
    free(rs);
}

/* Words that would tell which check failed. */
static const char *const hints[] = { "kmsauth", "expired",    "lifetime",   "window", "decrypt",
                                     "payload", "not_before", "not_after",  "wrong",  "user_type",
                                     "base64",  "username",   "ciphertext", "key" };

/* The answer of a refusal beyond tapi_error_diff(): the challenge, the members, no hint and no
 * token, and the same text as every other answer with that code. */
static char *refusal_body_diff(const struct t_resp *r, const struct refusal *c, json_t *first_texts)
{
    char v[256];

    if (!t_resp_header(r, "WWW-Authenticate", v, sizeof(v)) || strcmp(v, WWW_AUTHENTICATE) != 0)
        return tapi_printf("WWW-Authenticate is not %s", WWW_AUTHENTICATE);
    json_t *b = tapi_json(r);
    char *d = NULL;
    const char *text = cf_json_str(b, "error");
    if (json_object_size(b) != 3 || json_object_get(b, "request_id") == NULL)
        d = tapi_printf("a 401 body has exactly error, code, request_id: %.300s", r->body.data);
    char *lower = strdup(text != NULL ? text : "");
    assert_non_null(lower);
    for (char *p = lower; *p != '\0'; p++)
        *p = (*p >= 'A' && *p <= 'Z') ? (char)(*p - 'A' + 'a') : *p;
    for (size_t i = 0; d == NULL && i < sizeof(hints) / sizeof(hints[0]); i++) {
        if (strstr(lower, hints[i]) != NULL)
            d = tapi_printf("the error text hints at the check (\"%s\"): %s", hints[i], text);
    }
    free(lower);
    if (d == NULL && c->token != NULL && strstr(r->body.data, c->token) != NULL)
        d = tapi_printf("the body contains the token");
    if (d == NULL && c->token != NULL) {
        char head[25];
        snprintf(head, sizeof(head), "%.24s", c->token);
        if (strstr(r->body.data, head) != NULL)
            d = tapi_printf("the body contains token material");
    }
    const char *first = cf_json_str(first_texts, c->code);
    if (d == NULL && first == NULL)
        json_object_set_new(first_texts, c->code, json_string(text));
    else if (d == NULL && strcmp(first, text) != 0)
        d = tapi_printf("the error text differs between refusals: \"%s\" vs \"%s\"", first, text);
    json_decref(b);
    return d;
}

/* Sends every case to GET /v1/services/<sid> and checks answer and access-log row; adds every
 * case that fails to problems (for tapi_collect_end()). */
static void run_refusals(const struct tkms *f, const char *sid, struct refusals *rs,
                         struct cf_buf *problems)
{
    json_t *first_texts = json_object();
    struct t_resp r;

    for (size_t i = 0; i < rs->n; i++) {
        const struct refusal *c = &rs->c[i];
        tapi_send_h(&f->api, (const char *const *)c->h, "GET", NULL, &r, "/v1/services/%s", sid);
        char *d = tapi_error_diff(&r, 401, c->code);
        if (d == NULL)
            d = refusal_body_diff(&r, c, first_texts);
        if (d == NULL)
            d = tkms_audit_diff(&f->api, &r, "anonymous", c->actor, "service.get", sid, "denied",
                                c->why);
        tapi_collect(problems, c->label, d);
        t_resp_free(&r);
    }
    /* no row of the access log holds token material (API.md 8.2) */
    for (size_t i = 0; i < rs->n; i++) {
        if (rs->c[i].token == NULL)
            continue;
        char *sql = tapi_printf("SELECT count(*) FROM audit_log WHERE strpos(actor || reason || "
                                "coalesce(resource_id, ''), '%.24s') > 0",
                                rs->c[i].token);
        if (tapi_count(&f->api, sql) != 0)
            tapi_collect(problems, rs->c[i].label,
                         tapi_printf("an access-log row holds token material"));
        free(sql);
    }
    json_decref(first_texts);
}

static void test_every_refused_token_is_401_with_its_reason_in_the_access_log(void **state)
{
    struct tkms *f = *state;
    struct refusals *rs = calloc(1, sizeof(*rs));
    char sid[64], u2[200], alice[64], other[80], label[200];
    const char *K = f->auth.alias, *to = f->context;
    int64_t now = tkms_now();

    assert_non_null(rs);
    own_service(f, "svc-no-", sid, sizeof(sid), "never-shown-to-refused-tokens");
    tkms_username(2, "service", sid, u2, sizeof(u2));
    tapi_name(alice, sizeof(alice), "alice-");
    snprintf(other, sizeof(other), "other-%s", sid);

    /* the window, the lifetime (API.md 2.3 steps 8-9; upstream bug 3) */
#define WINDOW(nb, na) tkms_token_window(f, K, 2, "service", sid, to, (nb), (na))
    refuse(rs, "expired", u2, WINDOW(now - 1200, now - 600), "kmsauth_window");
    refuse(rs, "expired a second ago", u2, WINDOW(now - 600, now - 1), "kmsauth_window");
    refuse(rs, "not yet valid", u2, WINDOW(now + 300, now + 900), "kmsauth_window");
    refuse(rs, "lifetime 61 minutes, maximum 60", u2, WINDOW(now - 180, now - 180 + 61 * 60),
           "kmsauth_lifetime");
    refuse(rs, "lifetime 1 day + 5 minutes (upstream bug 3)", u2,
           WINDOW(now - 180, now - 180 + 86400 + 300), "kmsauth_lifetime");
    refuse(rs, "not_after before not_before", u2, WINDOW(now + 60, now - 60), "kmsauth_lifetime");
#undef WINDOW

    /* the order of the checks (2.3): the first that fails names the reason */
    refuse(rs, "a malformed username and a garbage token", "a/b", strdup("not*base64!"),
           "kmsauth_bad_username");
    snprintf(label, sizeof(label), "2/robot/%s", sid);
    refuse(rs, "an unknown user type and a garbage token", label, strdup("not*base64!"),
           "kmsauth_user_type");
    refuse(rs, "made for another server and under the master key", u2,
           tkms_token_window(f, f->master.alias, 2, "service", sid, "another-server", now - 180,
                             now + 420),
           "kmsauth_decrypt");
    refuse(rs, "expired and under the master key", u2,
           tkms_token_window(f, f->master.alias, 2, "service", sid, to, now - 1200, now - 600),
           "kmsauth_wrong_key");
    refuse(rs, "a bad payload under the master key", u2,
           tkms_token_payload(f, f->master.alias, 2, "service", sid, to, "not json"),
           "kmsauth_wrong_key");
    refuse(rs, "expired with a lifetime over the maximum", u2,
           tkms_token_window(f, K, 2, "service", sid, to, now - 3 * 3600, now - 3600),
           "kmsauth_lifetime");

    /* the key KMS used (step 6) */
    refuse(rs, "encrypted under the master key", u2,
           tkms_token_window(f, f->master.alias, 2, "service", sid, to, now - 180, now + 420),
           "kmsauth_wrong_key");
    refuse(rs, "a service token encrypted under the user key", u2,
           tkms_token_window(f, f->user.alias, 2, "service", sid, to, now - 180, now + 420),
           "kmsauth_wrong_key");
    snprintf(label, sizeof(label), "2/user/%s", alice);
    refuse(rs, "a user token encrypted under the service key", label,
           tkms_token_window(f, K, 2, "user", alice, to, now - 180, now + 420),
           "kmsauth_wrong_key");

    /* the encryption context (step 5) */
    refuse(rs, "made for another server (to)", u2,
           tkms_token_window(f, K, 2, "service", sid, "another-server", now - 180, now + 420),
           "kmsauth_decrypt");
    refuse(rs, "made for another service (from)", u2,
           tkms_token_window(f, K, 2, "service", other, to, now - 180, now + 420),
           "kmsauth_decrypt");
    refuse(rs, "a v1 username with a context holding user_type", sid,
           tkms_token_window(f, K, 2, "service", sid, to, now - 180, now + 420), "kmsauth_decrypt");
    refuse(rs, "a v2 username with a v1 context", u2,
           tkms_token_window(f, K, 1, "service", sid, to, now - 180, now + 420), "kmsauth_decrypt");
    refuse(rs, "base64 of something that is not a ciphertext", u2,
           strdup("dGhpcyBpcyBub3QgYSBLTVMgY2lwaGVydGV4dCBibG9iIGF0IGFsbA=="), "kmsauth_decrypt");
    refuse(rs, "8,192 characters (the longest allowed) of zero bytes", u2, tapi_rep('A', 8192),
           "kmsauth_decrypt");

    /* the payload (step 7) */
    static const char *const payloads[][2] = {
        { "payload not JSON", "not_before=20250101T000000Z" },
        { "payload an array", "[\"20250101T000000Z\", \"20300101T000000Z\"]" },
        { "payload without not_after", "{\"not_before\": \"20250101T000000Z\"}" },
        { "payload times as RFC 3339",
          "{\"not_before\": \"2025-01-01T00:00:00Z\", \"not_after\": \"2030-01-01T00:00:00Z\"}" },
        { "payload times as numbers", "{\"not_before\": 1735689600, \"not_after\": 1893456000}" },
        { "payload times without the Z",
          "{\"not_before\": \"20250101T000000\", \"not_after\": \"20300101T000000\"}" },
        { "payload with a lowercase z",
          "{\"not_before\": \"20250101T000000z\", \"not_after\": \"20300101T000000z\"}" },
        { "payload with February 30",
          "{\"not_before\": \"20250230T000000Z\", \"not_after\": \"20250301T000000Z\"}" },
    };
    for (size_t i = 0; i < sizeof(payloads) / sizeof(payloads[0]); i++)
        refuse(rs, payloads[i][0], u2,
               tkms_token_payload(f, K, 2, "service", sid, to, payloads[i][1]), "kmsauth_payload");

    /* the token text (step 3) */
    refuse(rs, "not base64 at all", u2, strdup("not*base64!"), "kmsauth_token_format");
    refuse(rs, "base64 without its padding", u2, strdup("QUJDRA"), "kmsauth_token_format");
    refuse(rs, "the URL-safe alphabet", u2, strdup("ab-_QUJD"), "kmsauth_token_format");
    refuse(rs, "base64 with a space inside", u2, strdup("QUJD RA=="), "kmsauth_token_format");
    refuse(rs, "8,196 characters (over 8,192)", u2, tapi_rep('A', 8196), "kmsauth_token_format");

    /* the username (step 1) and the user type (step 2) */
    char *good = tkms_token(f, 2, "service", sid);
    static const char *const names[][2] = {
        { "a/b", NULL },        { "x/service/", "" },      { "2//", "" },
        { "02/service/", "" },  { "1/service/", "" },      { "3/service/", "" },
        { "2/service/", NULL }, { "2/service/", "/x" },    { "2/service", NULL },
        { "/service/", "" },    { "2/service/a b", NULL }, { "2/service/caf\xc3\xa9", NULL },
    };
    for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++) {
        /* prefix, then the service id and suffix unless the suffix is NULL */
        char *name = names[i][1] == NULL ? strdup(names[i][0])
                                         : tapi_printf("%s%s%s", names[i][0], sid, names[i][1]);
        snprintf(label, sizeof(label), "malformed username \"%s\"", name);
        refuse(rs, label, name, strdup(good), "kmsauth_bad_username");
        free(name);
    }
    char *long_from = tapi_rep('f', 129);
    char *long_name = tapi_printf("2/service/%s", long_from);
    refuse(rs, "a from of 129 bytes", long_name, strdup(good), "kmsauth_bad_username");
    char *lead = tapi_printf(" 2/service/%s", sid);
    refuse_one(rs, "a username with a leading space", TKMS_BASIC, lead, good,
               "kmsauth_bad_username");
    char *colon = tapi_printf("2/service/a:%s", sid);
    refuse_one(rs, "a from with a colon", TKMS_XAUTH, colon, good, "kmsauth_bad_username");
    /* requests encodes a Basic username in Latin-1: the log replaces invalid UTF-8 (8.2) */
    refuse_one(rs, "a Latin-1 username", TKMS_BASIC, "2/service/caf\xe9", good,
               "kmsauth_bad_username");
    free(rs->c[rs->n - 1].actor);
    rs->c[rs->n - 1].actor = strdup("2/service/caf\xef\xbf\xbd");
    snprintf(label, sizeof(label), "1/user/%s", alice);
    refuse(rs, "a v1 username claiming user type user (upstream bug 4)", label,
           tkms_token(f, 2, "user", alice), "kmsauth_bad_username");
    snprintf(label, sizeof(label), "2/robot/%s", sid);
    refuse(rs, "an unknown user type", label,
           tkms_token_window(f, K, 2, "robot", sid, to, now - 180, now + 420), "kmsauth_user_type");
    snprintf(label, sizeof(label), "2/Service/%s", sid);
    refuse(rs, "a user type in another case", label,
           tkms_token_window(f, K, 2, "Service", sid, to, now - 180, now + 420),
           "kmsauth_user_type");

    /* the transport (2.1): present but unusable never falls through */
    char *xfrom = tapi_printf("X-Auth-From: %s", u2), *xtok = tapi_printf("X-Auth-Token: %s", good);
    char *raw = tapi_printf("%s:", u2), *no_pw = tkms_basic_raw(raw);
    free(raw);
    raw = tapi_printf("%s%s", u2, good);
    char *no_colon = tkms_basic_raw(raw);
    free(raw);
    char *no_user = tkms_basic_raw(":not-a-token");
    refuse_raw(rs, "X-Auth-From without X-Auth-Token", "authentication_failed", "bad_auth_header",
               NULL, xfrom, NULL);
    refuse_raw(rs, "X-Auth-Token without X-Auth-From", "authentication_failed", "bad_auth_header",
               NULL, xtok, NULL);
    refuse_raw(rs, "an empty X-Auth-Token", "authentication_failed", "bad_auth_header", NULL, xfrom,
               "X-Auth-Token;");
    refuse_raw(rs, "an empty X-Auth-From", "authentication_failed",
               "bad_auth_header|kmsauth_bad_username", NULL, "X-Auth-From;", xtok);
    refuse_raw(rs, "Basic without a password", "authentication_failed", "bad_auth_header", NULL,
               no_pw, NULL);
    refuse_raw(rs, "Basic without a colon", "authentication_failed", "bad_auth_header", NULL,
               no_colon, NULL);
    refuse_raw(rs, "Basic that is not base64", "authentication_failed", "bad_auth_header", NULL,
               "Authorization: Basic %%%not-base64%%%", NULL);
    refuse_raw(rs, "Basic without a password beside a valid X-Auth pair", "authentication_failed",
               "bad_auth_header", NULL, no_pw, xtok);
    rs->c[rs->n - 1].h[2] = strdup(xfrom);
    refuse_raw(rs, "an unknown Bearer token beside a valid X-Auth pair", "authentication_failed",
               "api_token_invalid", NULL, "Authorization: Bearer coffer_nope", xfrom);
    rs->c[rs->n - 1].h[2] = strdup(xtok);
    refuse_raw(rs, "no credentials at all", "unauthenticated", "unauthenticated", "", NULL, NULL);
    refuse_raw(rs, "Basic with an empty username only", "unauthenticated", "unauthenticated", "",
               no_user, NULL);
    refuse_raw(rs, "another Authorization scheme only", "unauthenticated", "unauthenticated", "",
               "Authorization: Digest username=\"x\"", NULL);

    struct cf_buf problems = { 0 };
    run_refusals(f, sid, rs, &problems);

    free(xfrom);
    free(xtok);
    free(no_pw);
    free(no_colon);
    free(no_user);
    free(lead);
    free(colon);
    free(long_from);
    free(long_name);
    free(good);
    refusals_free(rs);
    tapi_collect_end(&problems); /* after freeing: a failure leaks nothing */
}

static void test_a_refused_metadata_request_is_logged_as_service_get_metadata(void **state)
{
    struct tkms *f = *state;
    char sid[64], u2[200];
    int64_t now = tkms_now();
    struct t_resp r;

    own_service(f, "svc-meta-no-", sid, sizeof(sid), "meta-refused-value");
    tkms_username(2, "service", sid, u2, sizeof(u2));
    char *expired =
        tkms_token_window(f, f->auth.alias, 2, "service", sid, f->context, now - 1200, now - 600);
    tkms_get(&f->api, TKMS_BASIC, u2, expired, NULL, &r, "/v1/services/%s?metadata_only=True", sid);
    tapi_check_error(&r, 401, "authentication_failed");
    /* API.md 8.2: a metadata-only read is the action service.get_metadata, refused or not */
    char *d = tkms_audit_diff(&f->api, &r, "anonymous", u2, "service.get_metadata", sid, "denied",
                              "kmsauth_window");
    t_resp_free(&r);
    free(expired);
    if (d != NULL) {
        char msg[512];
        snprintf(msg, sizeof(msg), "%s", d);
        free(d);
        fail_msg("%s", msg);
    }
}

static void test_an_authorization_header_over_16_kib_is_431_before_authentication(void **state)
{
    struct tkms *f = *state;
    char sid[64], u2[200];
    struct t_resp r;

    tapi_name(sid, sizeof(sid), "svc-huge-");
    tkms_username(2, "service", sid, u2, sizeof(u2));
    char *huge = tapi_rep('A', 12300); /* its Basic form is over 16 KiB */
    tkms_fetch(&f->api, u2, huge, sid, &r);
    tapi_check_error(&r, 431, "headers_too_large");
    tapi_assert_absent(r.body.data, "AAAAAAAAAAAAAAAA", "a 431 body");
    t_resp_free(&r);
    free(huge);
}

static void test_a_user_token_is_refused_where_no_user_key_is_configured(void **state)
{
    struct tkms *f = *state;
    char *const extra[] = { "COFFER_USER_AUTH_KEY=", NULL };
    char sid[64], alice[64], user[200];
    struct t_cofferd d;
    struct t_resp r;

    own_service(f, "svc-nouser-", sid, sizeof(sid), "user-type-value");
    tapi_name(alice, sizeof(alice), "alice-");
    tapi_send(&f->api, f->api.admin, "PUT", "{\"role\": \"admin\"}", &r, "/v1/principals/%s",
              alice);
    json_decref(tapi_ok(&r));
    t_resp_free(&r);
    tkms_username(2, "user", alice, user, sizeof(user));
    char *tok = tkms_token(f, 2, "user", alice);

    /* where the user key is configured, the admin principal reads the bundle */
    tkms_get(&f->api, TKMS_BASIC, user, tok, NULL, &r, "/v1/services/%s", sid);
    assert_bundle(&r, sid, "user-type-value");
    t_resp_free(&r);

    tkms_start_node(f, &d, extra);
    struct tapi b = tkms_node(f, &d);
    for (int w = TKMS_BASIC; w <= TKMS_XAUTH; w++) {
        tkms_get(&b, (enum tkms_wire)w, user, tok, NULL, &r, "/v1/services/%s", sid);
        tapi_check_error(&r, 401, "authentication_failed");
        tkms_audit(&b, &r, "anonymous", user, "service.get", sid, "denied", "kmsauth_user_type");
        t_resp_free(&r);
    }
    /* the user type is checked before the token text (2.3 steps 2, 3) */
    tkms_get(&b, TKMS_BASIC, user, "not*base64!", NULL, &r, "/v1/services/%s", sid);
    tapi_check_error(&r, 401, "authentication_failed");
    tkms_audit(&b, &r, "anonymous", user, "service.get", sid, "denied", "kmsauth_user_type");
    t_resp_free(&r);
    char *stok = tkms_token(f, 2, "service", sid); /* services still work there */
    tkms_username(2, "service", sid, user, sizeof(user));
    tkms_get(&b, TKMS_BASIC, user, stok, NULL, &r, "/v1/services/%s", sid);
    assert_bundle(&r, sid, "user-type-value");
    t_resp_free(&r);
    free(stok);
    free(tok);
    assert_int_equal(t_cofferd_stop(&d), 0);
}

/* --- KMS unreachable ----------------------------------------------------------------------- */

static void test_a_warm_token_survives_a_kms_outage_while_a_new_one_is_503(void **state)
{
    struct tkms *f = *state;
    struct t_moto m = { 0 };
    struct tkms_key pm, pa;
    struct t_cofferd d;
    char e_url[160], e_master[160], e_auth[160], sid[64], name[64], id[TAPI_ID_LEN], u2[200];
    const char *ids[] = { id, NULL };
    char *warm = NULL, *cold = NULL;
    struct t_resp r;

    t_moto_start(&m, 0);
    tkms_key_create(m.url, "outage-master", &pm);
    tkms_key_create(m.url, "outage-auth", &pa);
    snprintf(e_url, sizeof(e_url), "AWS_ENDPOINT_URL_KMS=%s", m.url);
    snprintf(e_master, sizeof(e_master), "COFFER_KMS_MASTER_KEY=%s", pm.alias);
    snprintf(e_auth, sizeof(e_auth), "COFFER_AUTH_KEY=%s", pa.alias);
    char *const extra[] = { e_url, e_master, e_auth, "COFFER_USER_AUTH_KEY=", NULL };
    tkms_start_node(f, &d, extra);
    struct tapi b = tkms_node(f, &d);

    tapi_name(sid, sizeof(sid), "svc-outage-");
    tapi_name(name, sizeof(name), "outage-");
    tapi_cred_new(&b, name, "{\"password\": \"outage-value\"}", id); /* sealed in this moto */
    tapi_svc_map(&b, sid, ids);
    tkms_use_moto(m.url);
    struct kms_client *k = tkms_client();
    tkms_use_moto(f->moto_url);
    assert_int_equal(
        auth_kmsauth_generate(k, pa.alias, 2, "service", sid, f->context, tkms_now(), 10, &warm),
        0);
    assert_int_equal(
        auth_kmsauth_generate(k, pa.alias, 1, "service", sid, f->context, tkms_now(), 10, &cold),
        0);
    kms_client_free(k);
    tkms_username(2, "service", sid, u2, sizeof(u2));

    tkms_fetch(&b, u2, warm, sid, &r); /* validates the token and opens the data key */
    assert_bundle(&r, sid, "outage-value");
    t_resp_free(&r);
    struct t_cofferd d_cold; /* a node on the same KMS that has warmed nothing at all */
    tkms_start_node(f, &d_cold, extra);
    struct tapi cold_node = tkms_node(f, &d_cold);

    t_moto_stop(&m);

    for (int w = TKMS_BASIC; w <= TKMS_XAUTH; w++) {
        tkms_get(&cold_node, (enum tkms_wire)w, u2, warm, NULL, &r, "/v1/services/%s", sid);
        tapi_check_error(&r, 503, "kms_unavailable");
        tkms_audit(&cold_node, &r, NULL, NULL, "service.get", sid, "error", "kms_unavailable");
        t_resp_free(&r);
    }
    assert_int_equal(t_cofferd_stop(&d_cold), 0);

    for (int w = TKMS_BASIC; w <= TKMS_XAUTH; w++) {
        tkms_get(&b, (enum tkms_wire)w, u2, warm, NULL, &r, "/v1/services/%s", sid);
        assert_bundle(&r, sid, "outage-value");
        tkms_audit(&b, &r, "service", sid, "service.get", sid, "allowed", "ok");
        t_resp_free(&r);
    }
    for (int w = TKMS_BASIC; w <= TKMS_XAUTH; w++) {
        tkms_get(&b, (enum tkms_wire)w, sid, cold, NULL, &r, "/v1/services/%s", sid);
        tapi_check_error(&r, 503, "kms_unavailable");
        tapi_assert_absent(r.body.data, "outage-value", "a 503 body");
        tkms_audit(&b, &r, NULL, NULL, "service.get", sid, "error", "kms_unavailable");
        t_resp_free(&r);
    }
    /* a warm bundle keeps being served to an admin too; readiness does not check KMS */
    tapi_send(&b, b.admin, "GET", NULL, &r, "/v1/services/%s", sid);
    assert_bundle(&r, sid, "outage-value");
    t_resp_free(&r);
    char url[128];
    snprintf(url, sizeof(url), "%s/healthcheck/ready", d.base_url);
    t_http("GET", url, NULL, NULL, &r);
    assert_int_equal(r.status, 200);
    t_resp_free(&r);

    free(warm);
    free(cold);
    assert_int_equal(t_cofferd_stop(&d), 0);
}

static void test_kmsauth_is_503_until_kms_can_resolve_the_auth_keys(void **state)
{
    struct tkms *f = *state;
    struct t_moto m = { 0 };
    struct tkms_key pm, pa;
    struct t_cofferd d;
    char rnd[9], master_alias[96], auth_alias[96], sid[64], u2[200];
    char e_url[160], e_master[160], e_auth[160];
    char *tok = NULL;
    struct t_resp r;
    int port = t_free_port(); /* nothing listens there yet */

    assert_int_equal(cf_rand_hex(4, rnd, sizeof(rnd)), 0);
    snprintf(master_alias, sizeof(master_alias), "alias/coffer-late-master-%s", rnd);
    snprintf(auth_alias, sizeof(auth_alias), "alias/coffer-late-auth-%s", rnd);
    snprintf(e_url, sizeof(e_url), "AWS_ENDPOINT_URL_KMS=http://127.0.0.1:%d", port);
    snprintf(e_master, sizeof(e_master), "COFFER_KMS_MASTER_KEY=%s", master_alias);
    snprintf(e_auth, sizeof(e_auth), "COFFER_AUTH_KEY=%s", auth_alias);
    char *const extra[] = { e_url, e_master, e_auth, "COFFER_USER_AUTH_KEY=", NULL };
    tkms_start_node(f, &d, extra); /* starts although KMS cannot be reached (API.md 9.1) */
    struct tapi b = tkms_node(f, &d);

    tapi_name(sid, sizeof(sid), "svc-late-");
    tapi_svc_put(&b, sid, "{\"credentials\": []}");
    tkms_username(2, "service", sid, u2, sizeof(u2));
    char *early = tkms_token(f, 2, "service", sid); /* from the shared moto: any token will do */
    tkms_fetch(&b, u2, early, sid, &r);
    tapi_check_error(&r, 503, "kms_unavailable");
    tkms_audit(&b, &r, NULL, NULL, "service.get", sid, "error", "kms_unavailable");
    t_resp_free(&r);
    free(early);

    t_moto_start(&m, port);
    tkms_key_create_alias(m.url, master_alias, &pm);
    tkms_key_create_alias(m.url, auth_alias, &pa);
    tkms_use_moto(m.url);
    struct kms_client *k = tkms_client();
    tkms_use_moto(f->moto_url);
    assert_int_equal(
        auth_kmsauth_generate(k, auth_alias, 2, "service", sid, f->context, tkms_now(), 10, &tok),
        0);
    kms_client_free(k);
    struct tkms_creds c;
    tkms_creds(TKMS_BASIC, u2, tok, &c);
    char *path = tapi_printf("/v1/services/%s", sid);
    long status = tkms_poll_status(&b, (const char *const *)c.h, path, 200, 30);
    if (status != 200)
        fail_msg("once KMS answers, kmsauth must work: still %ld after 30 s", status);
    free(path);
    tkms_creds_free(&c);
    free(tok);
    assert_int_equal(t_cofferd_stop(&d), 0);
    t_moto_stop(&m);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_v1_and_v2_tokens_are_accepted_in_both_wire_forms),
        cmocka_unit_test(test_a_service_is_identified_by_its_from_in_user_email),
        cmocka_unit_test(test_tokens_at_the_limits_of_the_rules_are_accepted),
        cmocka_unit_test(test_every_service_id_is_a_valid_from),
        cmocka_unit_test(
            test_sources_that_count_as_absent_or_are_ignored_let_the_header_pair_through),
        cmocka_unit_test(test_a_cached_token_is_bound_to_its_username),
        cmocka_unit_test(test_a_cached_token_stops_working_after_its_not_after),
        cmocka_unit_test(test_every_refused_token_is_401_with_its_reason_in_the_access_log),
        cmocka_unit_test(test_a_refused_metadata_request_is_logged_as_service_get_metadata),
        cmocka_unit_test(test_an_authorization_header_over_16_kib_is_431_before_authentication),
        cmocka_unit_test(test_a_user_token_is_refused_where_no_user_key_is_configured),
        cmocka_unit_test(test_a_warm_token_survives_a_kms_outage_while_a_new_one_is_503),
        cmocka_unit_test(test_kmsauth_is_503_until_kms_can_resolve_the_auth_keys),
    };

    cf_json_init();
    cf_log_set_level(CF_LOG_ERROR);
    return t_run_group_tests(tests, setup, tkms_teardown);
}
