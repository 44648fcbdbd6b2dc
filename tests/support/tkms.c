/* tkms.c - helpers of the kmsauth and bundle tests: moto keys, a cofferd on the aws backend,
 * kmsauth tokens, both wire forms, access-log rows, /metrics, a private moto_server. */
#include "tkms.h"

#include <errno.h>
#include <libgen.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <curl/curl.h>

#include "auth_kmsauth_gen.h"
#include "cf_codec.h"
#include "cf_config.h"
#include "cf_crypto.h"
#include "cf_json.h"
#include "cf_time.h"

static void sleep_ms(long ms)
{
    struct timespec ts = { ms / 1000, (ms % 1000) * 1000000L };
    nanosleep(&ts, NULL);
}

static size_t sink(char *p, size_t size, size_t n, void *userdata)
{
    cf_buf_append(userdata, p, size * n);
    return size * n;
}

/* A KMS call signed with the test credentials (moto does not check them unless asked). */
static json_t *kms_call(const char *url, const char *op, const char *body)
{
    struct curl_slist *hl = NULL;
    struct cf_buf out = { 0 };
    char target[64];
    long status = 0;
    json_error_t jerr;

    snprintf(target, sizeof(target), "X-Amz-Target: TrentService.%s", op);
    hl = curl_slist_append(hl, "Content-Type: application/x-amz-json-1.1");
    hl = curl_slist_append(hl, target);
    CURL *h = curl_easy_init();
    assert_non_null(h);
    curl_easy_setopt(h, CURLOPT_URL, url);
    curl_easy_setopt(h, CURLOPT_POSTFIELDS, body);
    curl_easy_setopt(h, CURLOPT_HTTPHEADER, hl);
    curl_easy_setopt(h, CURLOPT_AWS_SIGV4, "aws:amz:us-east-1:kms");
    curl_easy_setopt(h, CURLOPT_USERPWD, "test:test");
    curl_easy_setopt(h, CURLOPT_TIMEOUT, 60L);
    curl_easy_setopt(h, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(h, CURLOPT_WRITEFUNCTION, sink);
    curl_easy_setopt(h, CURLOPT_WRITEDATA, &out);
    CURLcode rc = curl_easy_perform(h);
    curl_easy_getinfo(h, CURLINFO_RESPONSE_CODE, &status);
    curl_slist_free_all(hl);
    curl_easy_cleanup(h);
    if (rc != CURLE_OK)
        fail_msg("KMS %s at %s: no answer (%s)", op, url, curl_easy_strerror(rc));
    if (status != 200)
        fail_msg("KMS %s: HTTP %ld: %s", op, status, out.data != NULL ? out.data : "");
    json_t *j = out.len > 0 ? json_loadb(out.data, out.len, 0, &jerr) : NULL;
    cf_buf_free(&out);
    return j;
}

void tkms_key_create(const char *url, const char *prefix, struct tkms_key *k)
{
    char rnd[9], alias[96];

    assert_int_equal(cf_rand_hex(4, rnd, sizeof(rnd)), 0);
    snprintf(alias, sizeof(alias), "alias/coffer-%s-%s", prefix, rnd);
    tkms_key_create_alias(url, alias, k);
}

void tkms_key_create_alias(const char *url, const char *alias, struct tkms_key *k)
{
    char body[256];

    json_t *j = kms_call(url, "CreateKey", "{\"Description\":\"coffer kmsauth test\"}");
    json_t *meta = json_object_get(j, "KeyMetadata");
    if (cf_json_str(meta, "Arn") == NULL || cf_json_str(meta, "KeyId") == NULL)
        fail_msg("CreateKey answered without KeyMetadata");
    snprintf(k->arn, sizeof(k->arn), "%s", cf_json_str(meta, "Arn"));
    snprintf(k->id, sizeof(k->id), "%s", cf_json_str(meta, "KeyId"));
    json_decref(j);
    snprintf(k->alias, sizeof(k->alias), "%s", alias);
    snprintf(body, sizeof(body), "{\"AliasName\":\"%s\",\"TargetKeyId\":\"%s\"}", k->alias, k->id);
    json_decref(kms_call(url, "CreateAlias", body));
}

static void env_set(const char *name, const char *value)
{
    if (setenv(name, value, 1) != 0)
        fail_msg("setenv %s failed", name);
}

void tkms_use_moto(const char *url)
{
    char nowhere[600];
    const char *work = getenv("COFFER_TEST_WORK");

    snprintf(nowhere, sizeof(nowhere), "%s/no-such-aws-file", work != NULL ? work : "/tmp");
    unsetenv("AWS_PROFILE");
    unsetenv("AWS_SESSION_TOKEN");
    unsetenv("AWS_ENDPOINT_URL");
    unsetenv("AWS_DEFAULT_REGION");
    env_set("AWS_ENDPOINT_URL_KMS", url);
    env_set("AWS_REGION", "us-east-1");
    env_set("AWS_ACCESS_KEY_ID", "test");
    env_set("AWS_SECRET_ACCESS_KEY", "test");
    env_set("AWS_EC2_METADATA_DISABLED", "true");
    env_set("AWS_SHARED_CREDENTIALS_FILE", nowhere);
    env_set("AWS_CONFIG_FILE", nowhere);
}

struct kms_client *tkms_client(void)
{
    struct cf_config cfg = { 0 };
    struct kms_client *k = NULL;
    char err[512] = "";

    cfg.kms_backend = "aws";
    int r = kms_client_new(&cfg, &k, err, sizeof(err));
    if (r != 0)
        fail_msg("kms_client_new: %s (%s)", err, cf_errname(r));
    return k;
}

static void env_add(struct tkms *f, size_t *n, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static void env_add(struct tkms *f, size_t *n, const char *fmt, ...)
{
    va_list ap;

    if (*n >= TKMS_ENV_MAX)
        fail_msg("too many environment entries for the test fixture");
    va_start(ap, fmt);
    int w = vsnprintf(f->env_store[*n], sizeof(f->env_store[*n]), fmt, ap);
    va_end(ap);
    if (w < 0 || (size_t)w >= sizeof(f->env_store[*n]))
        fail_msg("environment entry too long");
    f->env[*n] = f->env_store[*n];
    (*n)++;
    f->env[*n] = NULL;
}

void tkms_init(struct tkms *f, const struct tkms_conf *conf)
{
    char rnd[9];
    size_t n = 0;

    *f = (struct tkms){ 0 };
    if (conf != NULL)
        f->conf = *conf;
    snprintf(f->moto_url, sizeof(f->moto_url), "%s",
             f->conf.moto_url != NULL ? f->conf.moto_url : t_env("COFFER_TEST_MOTO_URL"));
    f->conf.moto_url = NULL; /* the copy above is the one to use */
    tkms_use_moto(f->moto_url);
    tkms_key_create(f->moto_url, "master", &f->master);
    tkms_key_create(f->moto_url, "auth", &f->auth);
    tkms_key_create(f->moto_url, "auth2", &f->auth2);
    tkms_key_create(f->moto_url, "auth3", &f->auth3);
    tkms_key_create(f->moto_url, "user", &f->user);
    assert_int_equal(cf_rand_hex(4, rnd, sizeof(rnd)), 0);
    snprintf(f->context, sizeof(f->context), "coffer-test-%s", rnd);
    f->kms = tkms_client();

    env_add(f, &n, "COFFER_KMS_BACKEND=aws");
    env_add(f, &n, "AWS_ENDPOINT_URL_KMS=%s", f->moto_url);
    env_add(f, &n, "AWS_REGION=us-east-1");
    env_add(f, &n, "AWS_ACCESS_KEY_ID=test");
    env_add(f, &n, "AWS_SECRET_ACCESS_KEY=test");
    env_add(f, &n, "AWS_EC2_METADATA_DISABLED=true");
    env_add(f, &n, "COFFER_KMS_MASTER_KEY=%s", f->master.alias);
    if (f->conf.rotation_keys) {
        /* arn:aws:kms:<region>:<account>:key/<id> -> arn:aws:kms:<region>:<account>:<alias> */
        char alias_arn[TKMS_ARN_MAX];
        const char *key_part = strstr(f->auth3.arn, ":key/");
        assert_non_null(key_part);
        snprintf(alias_arn, sizeof(alias_arn), "%.*s:%s", (int)(key_part - f->auth3.arn),
                 f->auth3.arn, f->auth3.alias);
        env_add(f, &n, "COFFER_AUTH_KEY=%s,%s,%s", f->auth.alias, f->auth2.arn, alias_arn);
    } else {
        env_add(f, &n, "COFFER_AUTH_KEY=%s", f->auth.alias);
    }
    env_add(f, &n, "COFFER_USER_AUTH_KEY=%s",
            f->conf.no_user_key      ? ""
            : f->conf.user_key_by_id ? f->user.id
                                     : f->user.alias);
    env_add(f, &n, "COFFER_AUTH_CONTEXT=%s", f->context);
    if (f->conf.max_lifetime > 0)
        env_add(f, &n, "COFFER_KMSAUTH_MAX_LIFETIME=%d", f->conf.max_lifetime);
    else
        env_add(f, &n, "COFFER_KMSAUTH_MAX_LIFETIME=");

    t_db_create(&f->api.db, true);
    t_token_create(&f->api.db, "admin", "admin-1", f->api.admin_token);
    t_token_create(&f->api.db, "auditor", "auditor-1", f->api.auditor_token);
    snprintf(f->api.admin, sizeof(f->api.admin), "Authorization: Bearer %s", f->api.admin_token);
    snprintf(f->api.auditor, sizeof(f->api.auditor), "Authorization: Bearer %s",
             f->api.auditor_token);
    t_cofferd_start(&f->api.d, &f->api.db, f->env);
}

int tkms_fini(struct tkms *f)
{
    int rc = t_cofferd_stop(&f->api.d);
    t_db_drop(&f->api.db);
    kms_client_free(f->kms);
    f->kms = NULL;
    return rc;
}

int tkms_setup(void **state)
{
    struct tkms *f = calloc(1, sizeof(*f));
    assert_non_null(f);
    tkms_init(f, NULL);
    *state = f;
    return 0;
}

int tkms_teardown(void **state)
{
    struct tkms *f = *state;
    int rc = tkms_fini(f);
    free(f);
    assert_int_equal(rc, 0); /* SIGTERM: drained and exited cleanly */
    return 0;
}

void tkms_start_node(const struct tkms *f, struct t_cofferd *d, char *const extra[])
{
    char *env[2 * TKMS_ENV_MAX + 1];
    size_t n = 0;

    for (size_t i = 0; f->env[i] != NULL; i++)
        env[n++] = f->env[i];
    for (size_t i = 0; extra != NULL && extra[i] != NULL && n < 2 * TKMS_ENV_MAX; i++)
        env[n++] = extra[i];
    env[n] = NULL;
    t_cofferd_start(d, &f->api.db, env);
}

struct tapi tkms_node(const struct tkms *f, const struct t_cofferd *d)
{
    struct tapi a = f->api;
    a.d = *d;
    return a;
}

void tkms_username(int version, const char *user_type, const char *from, char *out, size_t cap)
{
    if (version == 1)
        snprintf(out, cap, "%s", from);
    else
        snprintf(out, cap, "2/%s/%s", user_type, from);
}

char *tkms_token_payload(const struct tkms *f, const char *key, int version, const char *user_type,
                         const char *from, const char *to, const char *payload)
{
    char *tok = NULL;
    int r = auth_kmsauth_encrypt(f->kms, key, version, user_type, from, to, payload, &tok);
    if (r != 0)
        fail_msg("making a token in moto failed: %s", cf_errname(r));
    return tok;
}

char *tkms_token_window(const struct tkms *f, const char *key, int version, const char *user_type,
                        const char *from, const char *to, int64_t not_before, int64_t not_after)
{
    char payload[AUTH_KMSAUTH_PAYLOAD_MAX];
    assert_int_equal(auth_kmsauth_payload(not_before, not_after, payload), 0);
    return tkms_token_payload(f, key, version, user_type, from, to, payload);
}

char *tkms_token(const struct tkms *f, int version, const char *user_type, const char *from)
{
    const char *key = strcmp(user_type, "user") == 0 ? f->user.alias : f->auth.alias;
    char *tok = NULL;
    int r = auth_kmsauth_generate(f->kms, key, version, user_type, from, f->context, tkms_now(), 10,
                                  &tok);
    if (r != 0)
        fail_msg("making a token in moto failed: %s", cf_errname(r));
    return tok;
}

int64_t tkms_now(void)
{
    return cf_now_us() / 1000000;
}

char *tkms_basic_raw(const char *raw)
{
    size_t n = cf_b64_encoded_len(CF_B64_STD, strlen(raw));
    char *b64 = malloc(n + 1);
    assert_non_null(b64);
    assert_int_equal(cf_b64_encode(CF_B64_STD, (const uint8_t *)raw, strlen(raw), b64, n + 1), 0);
    char *h = tapi_printf("Authorization: Basic %s", b64);
    free(b64);
    return h;
}

void tkms_creds(enum tkms_wire w, const char *username, const char *token, struct tkms_creds *c)
{
    *c = (struct tkms_creds){ 0 };
    if (w == TKMS_BASIC) {
        char *raw = tapi_printf("%s:%s", username, token);
        c->h[0] = tkms_basic_raw(raw);
        free(raw);
    } else {
        c->h[0] = tapi_printf("X-Auth-From: %s", username);
        c->h[1] = tapi_printf("X-Auth-Token: %s", token);
    }
}

void tkms_creds_free(struct tkms_creds *c)
{
    for (size_t i = 0; i < 3; i++)
        free(c->h[i]);
    *c = (struct tkms_creds){ 0 };
}

void tkms_get(const struct tapi *api, enum tkms_wire w, const char *username, const char *token,
              const char *extra, struct t_resp *r, const char *fmt, ...)
{
    struct tkms_creds c;
    const char *headers[4] = { NULL, NULL, NULL, NULL };
    char path[4096];
    size_t n = 0;
    va_list ap;

    va_start(ap, fmt);
    int len = vsnprintf(path, sizeof(path), fmt, ap);
    va_end(ap);
    if (len < 0 || (size_t)len >= sizeof(path))
        fail_msg("path too long for the test helper");
    tkms_creds(w, username, token, &c);
    for (size_t i = 0; c.h[i] != NULL; i++)
        headers[n++] = c.h[i];
    if (extra != NULL)
        headers[n++] = extra;
    tapi_send_h(api, headers, "GET", NULL, r, "%s", path);
    tkms_creds_free(&c);
}

void tkms_fetch(const struct tapi *api, const char *username, const char *token, const char *sid,
                struct t_resp *r)
{
    tkms_get(api, TKMS_BASIC, username, token, NULL, r, "/v1/services/%s?metadata_only=False", sid);
}

json_t *tkms_bundle_pairs(const json_t *bundle, const char *name)
{
    json_t *creds = json_object_get(bundle, "credentials"), *c;
    size_t i;

    json_array_foreach(creds, i, c)
    {
        const char *n = cf_json_str(c, "name");
        if (n != NULL && strcmp(n, name) == 0)
            return json_object_get(c, "credential_pairs");
    }
    return NULL;
}

char *tkms_audit_diff(const struct tapi *api, const struct t_resp *r, const char *actor_type,
                      const char *actor, const char *action, const char *resource_id,
                      const char *result, const char *reason)
{
    const struct tapi_audit_want want[] = {
        { "actor_type", "actor_type", actor_type },
        { "actor", "actor", actor },
        { "action", "action", action },
        { "resource_id", "coalesce(resource_id, '<null>')", resource_id },
        { "result", "result", result },
        { "reason", "reason", reason },
        { "source_ip", "source_ip", "127.0.0.1" },
        { "time, hash, prev_hash", TAPI_AUDIT_SEALED, "t" },
    };
    return tapi_audit_row_diff(api, r, want, sizeof(want) / sizeof(want[0]));
}

void tkms_audit(const struct tapi *api, const struct t_resp *r, const char *actor_type,
                const char *actor, const char *action, const char *resource_id, const char *result,
                const char *reason)
{
    char *d = tkms_audit_diff(api, r, actor_type, actor, action, resource_id, result, reason);
    if (d != NULL)
        fail_msg("%s", d);
}

void tkms_metrics(const struct tapi *api, struct t_resp *r)
{
    char url[128];

    snprintf(url, sizeof(url), "%s/metrics", api->d.base_url);
    t_http("GET", url, NULL, NULL, r);
    if (r->status != 200)
        fail_msg("GET /metrics answered %ld", r->status);
}

uint64_t tkms_metric(const struct tapi *api, const char *series)
{
    struct t_resp r;
    size_t slen = strlen(series);
    bool found = false;
    uint64_t v = 0;

    tkms_metrics(api, &r);
    for (const char *line = r.body.data; line != NULL && *line != '\0';) {
        const char *eol = strchr(line, '\n');
        if (strncmp(line, series, slen) == 0 && line[slen] == ' ') {
            v = strtoull(line + slen + 1, NULL, 10);
            found = true;
            break;
        }
        line = eol != NULL ? eol + 1 : NULL;
    }
    t_resp_free(&r);
    if (!found)
        fail_msg("GET /metrics has no sample %s", series);
    return v;
}

uint64_t tkms_kms_calls(const struct tapi *api)
{
    static const char name[] = "coffer_kms_requests_total{";
    struct t_resp r;
    uint64_t sum = 0;
    int samples = 0;

    tkms_metrics(api, &r);
    for (const char *line = r.body.data; line != NULL && *line != '\0';) {
        const char *eol = strchr(line, '\n');
        if (strncmp(line, name, sizeof(name) - 1) == 0) {
            const char *sp = strchr(line, ' '); /* labels hold no space */
            if (sp != NULL && (eol == NULL || sp < eol)) {
                sum += strtoull(sp + 1, NULL, 10);
                samples++;
            }
        }
        line = eol != NULL ? eol + 1 : NULL;
    }
    t_resp_free(&r);
    if (samples == 0)
        fail_msg("GET /metrics has no coffer_kms_requests_total sample");
    return sum;
}

long tkms_poll_status(const struct tapi *api, const char *const *headers, const char *path,
                      long want, int seconds)
{
    int64_t deadline = cf_mono_ms() + (int64_t)seconds * 1000;
    long status = -1;

    for (;;) {
        struct t_resp r;
        tapi_send_h(api, headers, "GET", NULL, &r, "%s", path);
        status = r.status;
        t_resp_free(&r);
        if (status == want || cf_mono_ms() >= deadline)
            return status;
        sleep_ms(200);
    }
}

void tkms_built_program(const char *rel, char *out, size_t cap)
{
    char path[600];

    snprintf(path, sizeof(path), "%s", t_env("COFFER_TEST_COFFERD"));
    char *service_dir = dirname(path); /* build/asan/service */
    char *build_dir = dirname(service_dir);
    snprintf(out, cap, "%s/%s", build_dir, rel);
    if (access(out, X_OK) != 0)
        fail_msg("%s is not built (errno %d)", out, errno);
}
