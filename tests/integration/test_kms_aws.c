/*
 * test_kms_aws.c - the aws KMS backend: every operation against the shared moto_server, request
 * signing against a private moto_server with signature checking on, the credentials chain
 * (environment, shared files, container, IMDSv2), and retries and error mapping against a local
 * fault injector. Every request goes to 127.0.0.1: each test starts from an environment with
 * IMDS disabled and the shared files pointing nowhere.
 */
#include <dirent.h>
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>
#include <curl/curl.h>
#include <jansson.h>

#include "cf_crypto.h"
#include "cf_json.h"
#include "cf_log.h"
#include "cf_time.h"
#include "kms.h"
#include "kms_aws.h"
#include "kms_creds.h"
#include "tfake_http.h"
#include "tsupport.h"

#define ARN_CAP 512

static char work_dir[512]; /* files this test writes: credentials, config, tokens */

/* Environment. */

static const char *const aws_vars[] = {
    "AWS_ACCESS_KEY_ID",
    "AWS_SECRET_ACCESS_KEY",
    "AWS_SESSION_TOKEN",
    "AWS_PROFILE",
    "AWS_REGION",
    "AWS_DEFAULT_REGION",
    "AWS_ENDPOINT_URL",
    "AWS_ENDPOINT_URL_KMS",
    "AWS_SHARED_CREDENTIALS_FILE",
    "AWS_CONFIG_FILE",
    "AWS_CONTAINER_CREDENTIALS_RELATIVE_URI",
    "AWS_CONTAINER_CREDENTIALS_FULL_URI",
    "AWS_CONTAINER_AUTHORIZATION_TOKEN",
    "AWS_CONTAINER_AUTHORIZATION_TOKEN_FILE",
    "AWS_EC2_METADATA_SERVICE_ENDPOINT",
    "AWS_EC2_METADATA_DISABLED",
    "AWS_CA_BUNDLE",
};

static void env_set(const char *name, const char *value)
{
    if (setenv(name, value, 1) != 0)
        fail_msg("setenv %s failed", name);
}

/* Nothing AWS is set but what keeps tests on 127.0.0.1 and away from ~/.aws. */
static int env_clean(void **state)
{
    char nowhere[600];

    (void)state;
    for (size_t i = 0; i < sizeof(aws_vars) / sizeof(aws_vars[0]); i++)
        unsetenv(aws_vars[i]);
    snprintf(nowhere, sizeof(nowhere), "%s/does-not-exist", work_dir);
    env_set("AWS_EC2_METADATA_DISABLED", "true"); /* never 169.254.169.254 */
    env_set("AWS_SHARED_CREDENTIALS_FILE", nowhere);
    env_set("AWS_CONFIG_FILE", nowhere);
    return 0;
}

static void write_file(const char *name, const char *text, char *path, size_t cap)
{
    snprintf(path, cap, "%s/%s", work_dir, name);
    FILE *f = fopen(path, "w");
    if (f == NULL || fputs(text, f) < 0 || fclose(f) != 0)
        fail_msg("cannot write %s", path);
}

/* Clients. */

static struct kms_aws_config fast_config(void)
{
    return (struct kms_aws_config){ .connect_timeout_ms = 5000,
                                    .timeout_ms = 20000,
                                    .max_attempts = 4,
                                    .backoff_base_ms = 1,
                                    .backoff_max_ms = 5 };
}

static struct kms_client *client_with(const struct kms_aws_config *ac)
{
    void *impl = NULL;
    char err[256] = "";
    int r = kms_aws_new(ac, &impl, err, sizeof(err));

    if (r != 0)
        fail_msg("kms_aws_new: %s (%s)", err, cf_errname(r));
    return kms_client_wrap(&kms_aws_ops, impl);
}

static struct kms_client *client_new(void)
{
    struct kms_aws_config ac = fast_config();
    return client_with(&ac);
}

static int describe(struct kms_client *k, const char *key_id, char *arn)
{
    return kms_describe_key(k, key_id, arn, ARN_CAP);
}

/* Raw signed AWS requests, to set up moto. */

static size_t sink(char *p, size_t size, size_t n, void *userdata)
{
    cf_buf_append(userdata, p, size * n);
    return size * n;
}

static long aws_raw(const char *url, const char *scope, const char *userpwd, const char *ctype,
                    const char *target, const char *body, struct cf_buf *out)
{
    struct curl_slist *hl = NULL;
    char hdr[256];
    long status = 0;
    CURL *h = curl_easy_init();

    snprintf(hdr, sizeof(hdr), "Content-Type: %s", ctype);
    hl = curl_slist_append(hl, hdr);
    if (target != NULL) {
        snprintf(hdr, sizeof(hdr), "X-Amz-Target: %s", target);
        hl = curl_slist_append(hl, hdr);
    }
    curl_easy_setopt(h, CURLOPT_URL, url);
    curl_easy_setopt(h, CURLOPT_POSTFIELDS, body);
    curl_easy_setopt(h, CURLOPT_HTTPHEADER, hl);
    curl_easy_setopt(h, CURLOPT_AWS_SIGV4, scope);
    curl_easy_setopt(h, CURLOPT_USERPWD, userpwd);
    curl_easy_setopt(h, CURLOPT_TIMEOUT, 60L);
    curl_easy_setopt(h, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(h, CURLOPT_WRITEFUNCTION, sink);
    curl_easy_setopt(h, CURLOPT_WRITEDATA, out);
    CURLcode rc = curl_easy_perform(h);
    curl_easy_getinfo(h, CURLINFO_RESPONSE_CODE, &status);
    curl_slist_free_all(hl);
    curl_easy_cleanup(h);
    if (rc != CURLE_OK)
        fail_msg("%s: no answer (%s)", url, curl_easy_strerror(rc));
    return status;
}

/* A KMS call with the dummy credentials moto accepts before auth is on; NULL if no body. */
static json_t *kms_raw(const char *url, const char *region, const char *op, const char *body)
{
    struct cf_buf out = { 0 };
    char scope[64], target[64];
    json_error_t jerr;

    snprintf(scope, sizeof(scope), "aws:amz:%s:kms", region);
    snprintf(target, sizeof(target), "TrentService.%s", op);
    long status =
        aws_raw(url, scope, "test:test", "application/x-amz-json-1.1", target, body, &out);
    if (status != 200)
        fail_msg("%s: HTTP %ld: %s", op, status, out.data ? out.data : "");
    json_t *j = out.len > 0 ? json_loadb(out.data, out.len, 0, &jerr) : NULL;
    cf_buf_free(&out);
    return j;
}

struct key {
    char arn[ARN_CAP];
    char id[64];
    char alias[96];
};

static void key_create(const char *url, const char *region, struct key *k)
{
    char rnd[17], body[256];

    json_t *j = kms_raw(url, region, "CreateKey", "{\"Description\":\"coffer test\"}");
    json_t *meta = json_object_get(j, "KeyMetadata");
    assert_non_null(cf_json_str(meta, "Arn"));
    snprintf(k->arn, sizeof(k->arn), "%s", cf_json_str(meta, "Arn"));
    snprintf(k->id, sizeof(k->id), "%s", cf_json_str(meta, "KeyId"));
    json_decref(j);
    assert_int_equal(cf_rand_hex(8, rnd, sizeof(rnd)), 0);
    snprintf(k->alias, sizeof(k->alias), "alias/coffer-test-%s", rnd);
    snprintf(body, sizeof(body), "{\"AliasName\":\"%s\",\"TargetKeyId\":\"%s\"}", k->alias, k->id);
    json_decref(kms_raw(url, region, "CreateAlias", body));
}

/* The text of the first <tag> element of xml, minimally. */
static void xml_value(const char *xml, const char *tag, char *out, size_t cap)
{
    char open[64], close[64];

    snprintf(open, sizeof(open), "<%s>", tag);
    snprintf(close, sizeof(close), "</%s>", tag);
    const char *a = strstr(xml, open);
    const char *b = a != NULL ? strstr(a, close) : NULL;
    if (b == NULL)
        fail_msg("no <%s> in the IAM answer", tag);
    a += strlen(open);
    snprintf(out, cap, "%.*s", (int)(b - a), a);
}

/* An IAM query-API call (before signature checking is on); its XML answer in resp. */
static void iam(const char *url, const char *form, struct cf_buf *resp)
{
    long status = aws_raw(url, "aws:amz:us-east-1:iam", "test:test",
                          "application/x-www-form-urlencoded", NULL, form, resp);
    if (status != 200)
        fail_msg("IAM %s: HTTP %ld", form, status);
}

/* The shared moto (no signature checking). */

struct shared {
    const char *url;
    struct key key;    /* us-east-1 */
    struct key key_eu; /* eu-west-1 */
};

static int shared_setup(void **state)
{
    struct shared *s = calloc(1, sizeof(*s));
    s->url = t_env("COFFER_TEST_MOTO_URL");
    key_create(s->url, "us-east-1", &s->key);
    key_create(s->url, "eu-west-1", &s->key_eu);
    *state = s;
    return 0;
}

static int shared_teardown(void **state)
{
    free(*state);
    return 0;
}

static void use_shared(const struct shared *s)
{
    env_set("AWS_ACCESS_KEY_ID", "test");
    env_set("AWS_SECRET_ACCESS_KEY", "test");
    env_set("AWS_REGION", "us-east-1");
    env_set("AWS_ENDPOINT_URL_KMS", s->url);
}

static void add_ctx(struct kms_context *ctx, const char *k, const char *v)
{
    assert_int_equal(kms_context_add(ctx, k, v), 0);
}

static void test_data_key_round_trips_via_alias_and_arn(void **state)
{
    struct shared *s = *state;
    struct kms_context ctx = { 0 };
    struct cf_secret plain = { 0 }, plain2 = { 0 }, again = { 0 };
    struct kms_blob blob = { 0 }, blob2 = { 0 };
    char arn[ARN_CAP];

    use_shared(s);
    add_ctx(&ctx, "id", "0123456789abcdef0123456789abcdef");
    struct kms_client *k = client_new();
    assert_int_equal(kms_generate_data_key(k, s->key.alias, &ctx, &plain, &blob, arn, ARN_CAP), 0);
    assert_int_equal(plain.len, KMS_DATA_KEY_LEN);
    assert_string_equal(arn, s->key.arn);
    assert_int_equal(kms_decrypt(k, blob.data, blob.len, &ctx, &again, arn, ARN_CAP), 0);
    assert_true(cf_secret_eq(&plain, &again));
    assert_string_equal(arn, s->key.arn); /* Decrypt reports the full key ARN */
    assert_int_equal(kms_generate_data_key(k, s->key.arn, &ctx, &plain2, &blob2, arn, ARN_CAP), 0);
    assert_string_equal(arn, s->key.arn);
    assert_false(cf_secret_eq(&plain, &plain2)); /* a fresh key each time */
    cf_secret_free(&again);
    assert_int_equal(kms_decrypt(k, blob2.data, blob2.len, &ctx, &again, arn, ARN_CAP), 0);
    assert_true(cf_secret_eq(&plain2, &again));
    cf_secret_free(&plain);
    cf_secret_free(&plain2);
    cf_secret_free(&again);
    kms_blob_free(&blob);
    kms_blob_free(&blob2);
    kms_client_free(k);
}

static void encrypt_then_decrypt(struct kms_client *k, const char *key_id,
                                 const struct kms_context *ctx, const char *want_arn)
{
    static const char msg[] = "{\"not_before\": \"20250101T0000Z\"}";
    struct kms_blob blob = { 0 };
    struct cf_secret plain = { 0 };
    char arn[ARN_CAP];

    assert_int_equal(
        kms_encrypt(k, key_id, (const uint8_t *)msg, strlen(msg), ctx, &blob, arn, ARN_CAP), 0);
    assert_string_equal(arn, want_arn);
    assert_int_equal(kms_decrypt(k, blob.data, blob.len, ctx, &plain, arn, ARN_CAP), 0);
    assert_int_equal(plain.len, strlen(msg));
    assert_memory_equal(plain.data, msg, plain.len);
    assert_string_equal(arn, want_arn);
    cf_secret_free(&plain);
    kms_blob_free(&blob);
}

static void test_encrypt_and_decrypt_via_alias_and_arn(void **state)
{
    struct shared *s = *state;
    struct kms_context ctx = { 0 }, empty = { 0 };

    use_shared(s);
    add_ctx(&ctx, "from", "svc-a");
    add_ctx(&ctx, "to", "coffer");
    add_ctx(&ctx, "user_type", "service");
    struct kms_client *k = client_new();
    encrypt_then_decrypt(k, s->key.alias, &ctx, s->key.arn);
    encrypt_then_decrypt(k, s->key.arn, &ctx, s->key.arn);
    encrypt_then_decrypt(k, s->key.id, &empty, s->key.arn);
    kms_client_free(k);
}

static void test_describe_key_resolves_alias_arn_and_id(void **state)
{
    struct shared *s = *state;
    char arn[ARN_CAP];

    use_shared(s);
    struct kms_client *k = client_new();
    assert_int_equal(describe(k, s->key.alias, arn), 0);
    assert_string_equal(arn, s->key.arn);
    assert_int_equal(describe(k, s->key.arn, arn), 0);
    assert_string_equal(arn, s->key.arn);
    assert_int_equal(describe(k, s->key.id, arn), 0);
    assert_string_equal(arn, s->key.arn);
    struct kms_stats st;
    kms_client_stats(k, &st);
    assert_int_equal(st.ok[KMS_OP_DESCRIBE_KEY], 3);
    assert_int_equal(st.failed[KMS_OP_DESCRIBE_KEY], 0);
    kms_client_free(k);
}

static void test_context_order_does_not_matter_but_its_content_does(void **state)
{
    struct shared *s = *state;
    struct kms_context ab = { 0 }, ba = { 0 }, wrong = { 0 }, none = { 0 };
    struct cf_secret plain = { 0 }, out = { 0 };
    struct kms_blob blob = { 0 };
    char arn[ARN_CAP];

    use_shared(s);
    add_ctx(&ab, "a", "1");
    add_ctx(&ab, "b", "2");
    add_ctx(&ba, "b", "2");
    add_ctx(&ba, "a", "1");
    add_ctx(&wrong, "a", "1");
    add_ctx(&wrong, "b", "3");
    struct kms_client *k = client_new();
    assert_int_equal(kms_generate_data_key(k, s->key.alias, &ab, &plain, &blob, arn, ARN_CAP), 0);
    assert_int_equal(kms_decrypt(k, blob.data, blob.len, &ba, &out, arn, ARN_CAP), 0);
    assert_true(cf_secret_eq(&plain, &out));
    cf_secret_free(&out);
    assert_int_equal(kms_decrypt(k, blob.data, blob.len, &wrong, &out, arn, ARN_CAP),
                     CF_EINTEGRITY);
    assert_null(out.data);
    assert_int_equal(kms_decrypt(k, blob.data, blob.len, &none, &out, arn, ARN_CAP), CF_EINTEGRITY);
    static const uint8_t junk[] = "not a ciphertext blob at all";
    assert_int_equal(kms_decrypt(k, junk, sizeof(junk), &ab, &out, arn, ARN_CAP), CF_EINTEGRITY);
    cf_secret_free(&plain);
    kms_blob_free(&blob);
    kms_client_free(k);
}

static void test_unknown_keys_are_not_found(void **state)
{
    struct shared *s = *state;
    struct kms_context ctx = { 0 };
    struct cf_secret plain = { 0 };
    struct kms_blob blob = { 0 };
    char arn[ARN_CAP];

    use_shared(s);
    struct kms_client *k = client_new();
    assert_int_equal(describe(k, "alias/coffer-no-such-alias", arn), CF_ENOTFOUND);
    assert_int_equal(describe(k, "0d5a1bd3-0000-4000-8000-000000000000", arn), CF_ENOTFOUND);
    assert_int_equal(
        kms_generate_data_key(k, "alias/coffer-no-such-alias", &ctx, &plain, &blob, arn, ARN_CAP),
        CF_ENOTFOUND);
    assert_null(plain.data);
    assert_null(blob.data);
    assert_int_equal(kms_encrypt(k, "alias/coffer-no-such-alias", (const uint8_t *)"x", 1, &ctx,
                                 &blob, arn, ARN_CAP),
                     CF_ENOTFOUND);
    kms_client_free(k);
}

static void test_region_comes_from_the_profile_in_the_config_file(void **state)
{
    struct shared *s = *state;
    char path[600], arn[ARN_CAP];

    use_shared(s);
    unsetenv("AWS_REGION");
    write_file("config-region",
               "[default]\nregion = us-west-2\n\n[profile eu]\nregion = eu-west-1\n", path,
               sizeof(path));
    env_set("AWS_CONFIG_FILE", path);
    env_set("AWS_PROFILE", "eu");
    struct kms_client *k = client_new();
    /* moto keeps keys per region: signing for eu-west-1 finds the eu key, not the us one */
    assert_int_equal(describe(k, s->key_eu.id, arn), 0);
    assert_string_equal(arn, s->key_eu.arn);
    assert_int_equal(describe(k, s->key.id, arn), CF_ENOTFOUND);
    kms_client_free(k);
}

/* A private moto_server with signature checking on. */

struct private_moto {
    struct t_moto moto;
    char akid[64]; /* an IAM user's long-term key */
    char secret[128];
    char tmp_akid[64]; /* temporary credentials of an assumed role */
    char tmp_secret[128];
    char tmp_token[2048];
    char policy_arn[256]; /* allows kms:* */
    struct key key;
};

/* An IAM user allowed kms:* and its access key (IAM shows the secret once: keep it). */
static void moto_create_user(struct private_moto *m)
{
    static const char policy[] = "{\"Version\":\"2012-10-17\",\"Statement\":[{\"Effect\":"
                                 "\"Allow\",\"Action\":\"kms:*\",\"Resource\":\"*\"}]}";
    struct cf_buf resp = { 0 };
    char form[1024];
    char *doc = curl_easy_escape(NULL, policy, 0);

    iam(m->moto.url, "Action=CreateUser&UserName=coffer&Version=2010-05-08", &resp);
    snprintf(form, sizeof(form),
             "Action=CreatePolicy&PolicyName=coffer-kms&PolicyDocument=%s&Version=2010-05-08", doc);
    curl_free(doc);
    cf_buf_reset(&resp);
    iam(m->moto.url, form, &resp);
    xml_value(resp.data, "Arn", m->policy_arn, sizeof(m->policy_arn));
    char *arn = curl_easy_escape(NULL, m->policy_arn, 0);
    snprintf(form, sizeof(form),
             "Action=AttachUserPolicy&UserName=coffer&PolicyArn=%s&Version=2010-05-08", arn);
    curl_free(arn);
    cf_buf_reset(&resp);
    iam(m->moto.url, form, &resp);
    cf_buf_reset(&resp);
    iam(m->moto.url, "Action=CreateAccessKey&UserName=coffer&Version=2010-05-08", &resp);
    xml_value(resp.data, "AccessKeyId", m->akid, sizeof(m->akid));
    xml_value(resp.data, "SecretAccessKey", m->secret, sizeof(m->secret));
    cf_buf_free(&resp);
}

/* A role allowed kms:* and temporary credentials for it (STS AssumeRole), which moto checks
 * with their session token. */
static void moto_assume_role(struct private_moto *m)
{
    static const char trust[] = "{\"Version\":\"2012-10-17\",\"Statement\":[{\"Effect\":"
                                "\"Allow\",\"Principal\":{\"AWS\":\"*\"},\"Action\":"
                                "\"sts:AssumeRole\"}]}";
    struct cf_buf resp = { 0 };
    char form[2048], role_arn[256];
    char *doc = curl_easy_escape(NULL, trust, 0);

    snprintf(form, sizeof(form),
             "Action=CreateRole&RoleName=coffer-role&AssumeRolePolicyDocument=%s"
             "&Version=2010-05-08",
             doc);
    curl_free(doc);
    iam(m->moto.url, form, &resp);
    xml_value(resp.data, "Arn", role_arn, sizeof(role_arn));
    char *policy = curl_easy_escape(NULL, m->policy_arn, 0);
    snprintf(form, sizeof(form),
             "Action=AttachRolePolicy&RoleName=coffer-role&PolicyArn=%s&Version=2010-05-08",
             policy);
    curl_free(policy);
    cf_buf_reset(&resp);
    iam(m->moto.url, form, &resp);
    char *arn = curl_easy_escape(NULL, role_arn, 0);
    snprintf(form, sizeof(form),
             "Action=AssumeRole&RoleArn=%s&RoleSessionName=coffer-test&Version=2011-06-15", arn);
    curl_free(arn);
    cf_buf_reset(&resp);
    long status = aws_raw(m->moto.url, "aws:amz:us-east-1:sts", "test:test",
                          "application/x-www-form-urlencoded", NULL, form, &resp);
    assert_int_equal(status, 200);
    xml_value(resp.data, "AccessKeyId", m->tmp_akid, sizeof(m->tmp_akid));
    xml_value(resp.data, "SecretAccessKey", m->tmp_secret, sizeof(m->tmp_secret));
    xml_value(resp.data, "SessionToken", m->tmp_token, sizeof(m->tmp_token));
    cf_buf_free(&resp);
}

/* A private moto with a key, an IAM user, and signature checking on (TESTING.md). */
static int private_setup(void **state)
{
    struct private_moto *m = calloc(1, sizeof(*m));
    const char *hdrs[] = { "Content-Type: text/plain", NULL };
    char url[128];
    struct t_resp r;

    t_moto_start(&m->moto, 0);
    key_create(m->moto.url, "us-east-1", &m->key);
    moto_create_user(m);
    moto_assume_role(m);
    snprintf(url, sizeof(url), "%s/moto-api/reset-auth", m->moto.url);
    t_http("POST", url, hdrs, "0", &r);
    assert_int_equal(r.status, 200);
    t_resp_free(&r);
    *state = m;
    return 0;
}

static int private_teardown(void **state)
{
    struct private_moto *m = *state;
    t_moto_stop(&m->moto);
    free(m);
    return 0;
}

static void use_private(const struct private_moto *m)
{
    env_set("AWS_REGION", "us-east-1");
    env_set("AWS_ENDPOINT_URL_KMS", m->moto.url);
}

static void use_env_keys(const char *akid, const char *secret)
{
    env_set("AWS_ACCESS_KEY_ID", akid);
    env_set("AWS_SECRET_ACCESS_KEY", secret);
}

static void test_signed_requests_pass_when_moto_checks_signatures(void **state)
{
    struct private_moto *m = *state;
    struct kms_context ctx = { 0 };
    struct cf_secret plain = { 0 }, again = { 0 };
    struct kms_blob blob = { 0 };
    char arn[ARN_CAP];

    use_private(m);
    use_env_keys(m->akid, m->secret);
    add_ctx(&ctx, "id", "signed");
    struct kms_client *k = client_new();
    assert_int_equal(describe(k, m->key.alias, arn), 0);
    assert_string_equal(arn, m->key.arn);
    assert_int_equal(kms_generate_data_key(k, m->key.alias, &ctx, &plain, &blob, arn, ARN_CAP), 0);
    assert_int_equal(kms_decrypt(k, blob.data, blob.len, &ctx, &again, arn, ARN_CAP), 0);
    assert_true(cf_secret_eq(&plain, &again));
    cf_secret_free(&plain);
    cf_secret_free(&again);
    kms_blob_free(&blob);
    kms_client_free(k);
}

static void test_a_wrong_secret_key_is_denied(void **state)
{
    struct private_moto *m = *state;
    char arn[ARN_CAP];

    use_private(m);
    use_env_keys(m->akid, "wrongwrongwrongwrongwrongwrongwrongwrong");
    struct kms_client *k = client_new();
    assert_int_equal(describe(k, m->key.alias, arn), CF_EDENIED);
    kms_client_free(k);
    use_env_keys("test", "test"); /* a key moto does not know */
    k = client_new();
    assert_int_equal(describe(k, m->key.alias, arn), CF_EDENIED);
    kms_client_free(k);
}

static void write_credentials(const struct private_moto *m, char *path, size_t cap)
{
    char text[1024];

    snprintf(text, sizeof(text),
             "# coffer test\n[default]\naws_access_key_id = %s\n"
             "aws_secret_access_key = wrongwrongwrongwrongwrongwrongwrongwrong\n\n"
             "[coffer]\n; the working key\naws_access_key_id=%s\r\naws_secret_access_key = %s\n"
             "s3 =\n  max_concurrent_requests = 20\n",
             m->akid, m->akid, m->secret);
    write_file("credentials", text, path, cap);
    chmod(path, 0600);
}

static void test_credentials_come_from_the_shared_file_and_profile(void **state)
{
    struct private_moto *m = *state;
    char path[600], arn[ARN_CAP];

    use_private(m);
    write_credentials(m, path, sizeof(path));
    env_set("AWS_SHARED_CREDENTIALS_FILE", path);
    env_set("AWS_PROFILE", "coffer");
    struct kms_client *k = client_new();
    assert_int_equal(describe(k, m->key.alias, arn), 0);
    assert_string_equal(arn, m->key.arn);
    kms_client_free(k);
    unsetenv("AWS_PROFILE"); /* [default] has a wrong secret: the file really is what is used */
    k = client_new();
    assert_int_equal(describe(k, m->key.alias, arn), CF_EDENIED);
    kms_client_free(k);
    env_set("AWS_PROFILE", "nobody"); /* a named profile that does not exist is an error */
    k = client_new();
    assert_int_equal(describe(k, m->key.alias, arn), CF_ECONFIG);
    kms_client_free(k);
}

static void test_credentials_come_from_the_config_file_profile(void **state)
{
    struct private_moto *m = *state;
    char path[600], text[1024], arn[ARN_CAP];

    use_private(m);
    unsetenv("AWS_REGION");
    snprintf(text, sizeof(text),
             "[default]\nregion = eu-west-1\n\n[profile coffer]\nregion = us-east-1\n"
             "aws_access_key_id = %s\naws_secret_access_key = %s\n",
             m->akid, m->secret);
    write_file("config-creds", text, path, sizeof(path));
    env_set("AWS_CONFIG_FILE", path);
    env_set("AWS_PROFILE", "coffer");
    struct kms_aws_config ac = fast_config();
    void *impl = NULL;
    char err[256];
    assert_int_equal(kms_aws_new(&ac, &impl, err, sizeof(err)), 0);
    assert_string_equal(kms_aws_region(impl), "us-east-1"); /* the profile's, not [default]'s */
    struct kms_client *k = kms_client_wrap(&kms_aws_ops, impl);
    assert_int_equal(describe(k, m->key.alias, arn), 0);
    assert_string_equal(arn, m->key.arn);
    kms_client_free(k);
}

static void test_environment_credentials_take_precedence_over_the_file(void **state)
{
    struct private_moto *m = *state;
    char path[600], arn[ARN_CAP];

    use_private(m);
    write_credentials(m, path, sizeof(path));
    env_set("AWS_SHARED_CREDENTIALS_FILE", path);
    env_set("AWS_PROFILE", "coffer"); /* the file's working profile */
    use_env_keys(m->akid, "wrongwrongwrongwrongwrongwrongwrongwrong");
    struct kms_client *k = client_new();
    assert_int_equal(describe(k, m->key.alias, arn), CF_EDENIED); /* env won over the file */
    kms_client_free(k);
    unsetenv("AWS_PROFILE"); /* the file's default profile is the wrong one now */
    use_env_keys(m->akid, m->secret);
    k = client_new();
    assert_int_equal(describe(k, m->key.alias, arn), 0);
    kms_client_free(k);
}

static void creds_json(const char *akid, const char *secret, const char *token, int64_t ttl_s,
                       char *out, size_t cap)
{
    char ts[CF_TIME_STR_LEN];

    cf_time_format(cf_now_us() + ttl_s * 1000000, ts);
    snprintf(out, cap,
             "{\"Code\":\"Success\",\"Type\":\"AWS-HMAC\",\"AccessKeyId\":\"%s\","
             "\"SecretAccessKey\":\"%s\",\"Token\":\"%s\",\"Expiration\":\"%s\"}",
             akid, secret, token, ts);
}

static void test_container_credentials_are_fetched_with_the_token(void **state)
{
    struct private_moto *m = *state;
    char body[4096], url[128], seen[256], path[600], arn[ARN_CAP];
    struct tfake *f = tfake_start();

    use_private(m);
    creds_json(m->tmp_akid, m->tmp_secret, m->tmp_token, 3600, body, sizeof(body));
    tfake_answer(f, "GET", "/v2/credentials/abc", 200, NULL, body);
    snprintf(url, sizeof(url), "%s/v2/credentials/abc", tfake_url(f));
    env_set("AWS_CONTAINER_CREDENTIALS_FULL_URI", url);
    env_set("AWS_CONTAINER_AUTHORIZATION_TOKEN", "Bearer env-token");
    struct kms_client *k = client_new();
    assert_int_equal(describe(k, m->key.alias, arn), 0);
    assert_string_equal(arn, m->key.arn);
    kms_client_free(k);
    assert_int_equal(tfake_count(f, "GET", "/v2/credentials/abc"), 1);
    assert_true(
        tfake_header(f, "GET", "/v2/credentials/abc", 0, "Authorization", seen, sizeof(seen)));
    assert_string_equal(seen, "Bearer env-token");
    /* the token file wins over the variable, and is read at each refresh */
    write_file("container-token", "file-token\n", path, sizeof(path));
    env_set("AWS_CONTAINER_AUTHORIZATION_TOKEN_FILE", path);
    k = client_new();
    assert_int_equal(describe(k, m->key.alias, arn), 0);
    kms_client_free(k);
    assert_true(
        tfake_header(f, "GET", "/v2/credentials/abc", 1, "Authorization", seen, sizeof(seen)));
    assert_string_equal(seen, "file-token");
    /* moto checks the session token: the same keys with another token are refused */
    creds_json(m->tmp_akid, m->tmp_secret, "not-the-session-token", 3600, body, sizeof(body));
    tfake_answer(f, "GET", "/v2/credentials/other", 200, NULL, body);
    snprintf(url, sizeof(url), "%s/v2/credentials/other", tfake_url(f));
    env_set("AWS_CONTAINER_CREDENTIALS_FULL_URI", url);
    k = client_new();
    assert_int_equal(describe(k, m->key.alias, arn), CF_EDENIED);
    kms_client_free(k);
    tfake_stop(f);
}

static void imds_routes(struct tfake *f, const char *creds_body)
{
    tfake_answer(f, "PUT", "/latest/api/token", 200, "text/plain", "imds-session-token-xyz");
    tfake_answer(f, "GET", "/latest/meta-data/iam/security-credentials/", 200, "text/plain",
                 "coffer-role\n");
    tfake_answer(f, "GET", "/latest/meta-data/iam/security-credentials/coffer-role", 200,
                 "text/plain", creds_body);
}

static void assert_header(struct tfake *f, const char *method, const char *path, size_t nth,
                          const char *name, const char *want)
{
    char seen[512];

    if (!tfake_header(f, method, path, nth, name, seen, sizeof(seen)))
        fail_msg("request %zu to %s %s had no %s header", nth, method, path, name);
    assert_string_equal(seen, want);
}

static void test_imds_v2_credentials_are_fetched_with_a_session_token(void **state)
{
    struct private_moto *m = *state;
    char body[4096], arn[ARN_CAP];
    struct tfake *f = tfake_start();

    use_private(m);
    creds_json(m->tmp_akid, m->tmp_secret, m->tmp_token, 3600, body, sizeof(body));
    imds_routes(f, body);
    unsetenv("AWS_EC2_METADATA_DISABLED");
    env_set("AWS_EC2_METADATA_SERVICE_ENDPOINT", tfake_url(f));
    struct kms_client *k = client_new();
    assert_int_equal(describe(k, m->key.alias, arn), 0);
    assert_string_equal(arn, m->key.arn);
    kms_client_free(k);
    assert_int_equal(tfake_count(f, "PUT", "/latest/api/token"), 1);
    assert_header(f, "PUT", "/latest/api/token", 0, "X-aws-ec2-metadata-token-ttl-seconds",
                  "21600");
    assert_header(f, "GET", "/latest/meta-data/iam/security-credentials/", 0,
                  "X-aws-ec2-metadata-token", "imds-session-token-xyz");
    assert_header(f, "GET", "/latest/meta-data/iam/security-credentials/coffer-role", 0,
                  "X-aws-ec2-metadata-token", "imds-session-token-xyz");
    /* disabled: IMDS is not asked at all */
    env_set("AWS_EC2_METADATA_DISABLED", "TRUE");
    k = client_new();
    assert_int_equal(describe(k, m->key.alias, arn), CF_EDENIED);
    kms_client_free(k);
    assert_int_equal(tfake_count(f, NULL, NULL), 3);
    tfake_stop(f);
}

/* The fault injector as the KMS endpoint. */

#define FAKE_ARN    "arn:aws:kms:us-east-1:111122223333:key/1234abcd-12ab-34cd-56ef-1234567890ab"
#define DESCRIBE_OK "{\"KeyMetadata\":{\"Arn\":\"" FAKE_ARN "\",\"KeyId\":\"1234abcd\"}}"
#define THROTTLED   "{\"__type\":\"ThrottlingException\",\"message\":\"Rate exceeded\"}"
#define BAD_CIPHER  "{\"__type\":\"InvalidCiphertextException\",\"message\":\"nope\"}"

static struct tfake *fake_kms(void)
{
    struct tfake *f = tfake_start();
    env_set("AWS_REGION", "us-east-1");
    env_set("AWS_ENDPOINT_URL_KMS", tfake_url(f));
    use_env_keys("AKIDFAKE", "fake-secret");
    return f;
}

static void test_throttling_is_retried_until_it_passes(void **state)
{
    char arn[ARN_CAP], seen[512];

    (void)state;
    struct tfake *f = fake_kms();
    tfake_answer(f, "POST", "/", 400, "application/x-amz-json-1.1", THROTTLED);
    tfake_answer(f, "POST", "/", 400, "application/x-amz-json-1.1", THROTTLED);
    tfake_answer(f, "POST", "/", 400, "application/x-amz-json-1.1", THROTTLED);
    tfake_answer(f, "POST", "/", 200, "application/x-amz-json-1.1", DESCRIBE_OK);
    struct kms_client *k = client_new();
    assert_int_equal(describe(k, "alias/x", arn), 0);
    assert_string_equal(arn, FAKE_ARN);
    assert_int_equal(tfake_count(f, "POST", "/"), 4);
    for (size_t i = 0; i < 4; i++) {
        assert_header(f, "POST", "/", i, "Content-Type", "application/x-amz-json-1.1");
        assert_header(f, "POST", "/", i, "X-Amz-Target", "TrentService.DescribeKey");
        assert_true(tfake_header(f, "POST", "/", i, "Authorization", seen, sizeof(seen)));
        assert_non_null(strstr(seen, "AWS4-HMAC-SHA256 Credential=AKIDFAKE/"));
        assert_non_null(strstr(seen, "/us-east-1/kms/aws4_request"));
        assert_false(tfake_header(f, "POST", "/", i, "X-Amz-Security-Token", seen, sizeof(seen)));
    }
    kms_client_free(k);
    tfake_stop(f);
}

static void test_throttling_past_max_attempts_fails_as_throttled(void **state)
{
    char arn[ARN_CAP];

    (void)state;
    struct tfake *f = fake_kms();
    tfake_answer(f, "POST", "/", 400, "application/x-amz-json-1.1", THROTTLED); /* repeats */
    struct kms_client *k = client_new();
    assert_int_equal(describe(k, "alias/x", arn), CF_ETHROTTLED);
    assert_int_equal(tfake_count(f, "POST", "/"), 4); /* max_attempts */
    kms_client_free(k);
    struct kms_aws_config ac = fast_config();
    ac.max_attempts = 1; /* no retry at all */
    k = client_with(&ac);
    assert_int_equal(describe(k, "alias/x", arn), CF_ETHROTTLED);
    assert_int_equal(tfake_count(f, "POST", "/"), 5);
    kms_client_free(k);
    tfake_stop(f);
}

static void test_server_errors_are_retried_and_then_unavailable(void **state)
{
    char arn[ARN_CAP];

    (void)state;
    struct tfake *f = fake_kms();
    tfake_answer(f, "POST", "/", 500, NULL, "{\"__type\":\"KMSInternalException\"}");
    tfake_answer(f, "POST", "/", 200, NULL, DESCRIBE_OK);
    struct kms_client *k = client_new();
    assert_int_equal(describe(k, "alias/x", arn), 0);
    assert_int_equal(tfake_count(f, "POST", "/"), 2);
    kms_client_free(k);
    tfake_stop(f);

    f = fake_kms();
    tfake_answer(f, "POST", "/", 503, "text/html", "<html>down</html>");
    k = client_new();
    assert_int_equal(describe(k, "alias/x", arn), CF_EUNAVAIL);
    assert_int_equal(tfake_count(f, "POST", "/"), 4);
    kms_client_free(k);
    tfake_stop(f);
}

/* One request answered with status and body gives want, and is not retried. */
static void assert_not_retried(int status, const char *body, int want)
{
    char arn[ARN_CAP];
    struct tfake *f = fake_kms();

    tfake_answer(f, "POST", "/", status, NULL, body);
    tfake_answer(f, "POST", "/", 200, NULL, DESCRIBE_OK); /* a retry would pass */
    struct kms_client *k = client_new();
    assert_int_equal(describe(k, "alias/x", arn), want);
    assert_int_equal(tfake_count(f, "POST", "/"), 1);
    kms_client_free(k);
    tfake_stop(f);
}

static void test_refusals_are_mapped_and_not_retried(void **state)
{
    (void)state;
    assert_not_retried(400, BAD_CIPHER, CF_EINTEGRITY);
    assert_not_retried(400, "{\"__type\":\"IncorrectKeyException\"}", CF_EINTEGRITY);
    assert_not_retried(400, "{\"__type\":\"com.amazonaws.kms#NotFoundException\"}", CF_ENOTFOUND);
    assert_not_retried(400, "{\"__type\":\"AccessDeniedException\"}", CF_EDENIED);
    assert_not_retried(400, "{\"__type\":\"UnrecognizedClientException\"}", CF_EDENIED);
    assert_not_retried(400, "{\"__type\":\"InvalidSignatureException\"}", CF_EDENIED);
    assert_not_retried(403, "<ErrorResponse><Code>SignatureDoesNotMatch</Code></ErrorResponse>",
                       CF_EDENIED);
    assert_not_retried(400, "{\"__type\":\"DisabledException\"}", CF_EKMS);
    assert_not_retried(400, "{\"__type\":\"KMSInvalidStateException\"}", CF_EKMS);
    assert_not_retried(404, "", CF_EKMS);
    assert_not_retried(200, "this is not JSON", CF_EBADRESPONSE);
    assert_not_retried(200, "{\"KeyMetadata\":{\"KeyId\":\"no arn\"}}", CF_EBADRESPONSE);
    assert_not_retried(302, "", CF_EBADRESPONSE);
}

/* A KMS answer nested 100,000 deep would exhaust the stack in jansson's recursive parser: it
 * is refused before parsing, as an answer and as an error body alike (issue 11). */
static void test_deeply_nested_answers_are_refused_before_parsing(void **state)
{
    struct cf_buf deep = { 0 }, in_error = { 0 };

    (void)state;
    for (int i = 0; i < 100000; i++)
        cf_buf_append_char(&deep, '[');
    for (int i = 0; i < 100000; i++)
        cf_buf_append_char(&deep, ']');
    cf_buf_append(&deep, "", 0);
    cf_buf_append_str(&in_error, "{\"__type\":\"NotFoundException\",\"x\":");
    cf_buf_append_str(&in_error, deep.data);
    cf_buf_append_str(&in_error, "}");
    assert_not_retried(200, deep.data, CF_EBADRESPONSE);
    /* the error type cannot be read from a body that is not parsed: an answer not understood */
    assert_not_retried(400, in_error.data, CF_EBADRESPONSE);
    cf_buf_free(&deep);
    cf_buf_free(&in_error);
}

static void test_malformed_answers_are_bad_responses(void **state)
{
    struct kms_context ctx = { 0 };
    struct cf_secret plain = { 0 };
    struct kms_blob blob = { 0 };
    char arn[ARN_CAP];

    (void)state;
    struct tfake *f = fake_kms();
    /* a 16-byte data key, then a blob that is not base64, then no KeyId, then a long KeyId */
    tfake_answer(f, "POST", "/", 200, NULL,
                 "{\"Plaintext\":\"AAAAAAAAAAAAAAAAAAAAAA==\",\"CiphertextBlob\":\"AAAA\","
                 "\"KeyId\":\"" FAKE_ARN "\"}");
    tfake_answer(f, "POST", "/", 200, NULL,
                 "{\"Plaintext\":\"AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=\","
                 "\"CiphertextBlob\":\"*not base64*\",\"KeyId\":\"" FAKE_ARN "\"}");
    tfake_answer(f, "POST", "/", 200, NULL, "{\"Plaintext\":\"aGVsbG8=\"}");
    /* a good data key and blob, but a KeyId longer than the caller's buffer */
    struct cf_buf body = { 0 };
    assert_int_equal(
        cf_buf_printf(&body,
                      "{\"Plaintext\":\"AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=\","
                      "\"CiphertextBlob\":\"AAAA\",\"KeyId\":\"%0*d\"}",
                      ARN_CAP, 0),
        0);
    tfake_answer(f, "POST", "/", 200, NULL, body.data);
    cf_buf_free(&body);
    struct kms_client *k = client_new();
    assert_int_equal(kms_generate_data_key(k, "alias/x", &ctx, &plain, &blob, arn, ARN_CAP),
                     CF_EBADRESPONSE);
    assert_null(plain.data);
    assert_int_equal(kms_generate_data_key(k, "alias/x", &ctx, &plain, &blob, arn, ARN_CAP),
                     CF_EBADRESPONSE);
    assert_null(blob.data);
    assert_int_equal(kms_decrypt(k, (const uint8_t *)"blob", 4, &ctx, &plain, arn, ARN_CAP),
                     CF_EBADRESPONSE);
    assert_null(plain.data);
    assert_int_equal(kms_generate_data_key(k, "alias/x", &ctx, &plain, &blob, arn, ARN_CAP),
                     CF_EBADRESPONSE);
    assert_null(plain.data);
    assert_null(blob.data);
    assert_int_equal(tfake_count(f, "POST", "/"), 4);
    kms_client_free(k);
    tfake_stop(f);
}

static void test_an_unreachable_endpoint_is_unavailable(void **state)
{
    char url[64], arn[ARN_CAP];

    (void)state;
    snprintf(url, sizeof(url), "http://127.0.0.1:%d", t_free_port()); /* nothing listens */
    env_set("AWS_REGION", "us-east-1");
    env_set("AWS_ENDPOINT_URL_KMS", url);
    use_env_keys("AKIDFAKE", "fake-secret");
    struct kms_client *k = client_new();
    assert_int_equal(describe(k, "alias/x", arn), CF_EUNAVAIL);
    kms_client_free(k);
}

static void test_request_bodies_follow_the_kms_json_protocol(void **state)
{
    struct kms_context ctx = { 0 }, empty = { 0 };
    struct kms_blob blob = { 0 };
    struct cf_buf body = { 0 };
    char arn[ARN_CAP];
    json_error_t jerr;

    (void)state;
    struct tfake *f = fake_kms();
    env_set("AWS_SESSION_TOKEN", "env-session-token");
    tfake_answer(f, "POST", "/", 200, NULL,
                 "{\"CiphertextBlob\":\"AQID\",\"KeyId\":\"" FAKE_ARN "\"}");
    add_ctx(&ctx, "id", "c1");
    struct kms_client *k = client_new();
    assert_int_equal(kms_encrypt(k, "alias/x", (const uint8_t *)"hi", 2, &ctx, &blob, arn, ARN_CAP),
                     0);
    assert_int_equal(blob.len, 3);
    assert_memory_equal(blob.data, "\x01\x02\x03", 3);
    kms_blob_free(&blob);
    assert_int_equal(
        kms_encrypt(k, "alias/x", (const uint8_t *)"hi", 2, &empty, &blob, arn, ARN_CAP), 0);
    kms_blob_free(&blob);
    assert_header(f, "POST", "/", 0, "X-Amz-Target", "TrentService.Encrypt");
    assert_header(f, "POST", "/", 0, "X-Amz-Security-Token", "env-session-token");
    assert_true(tfake_body(f, "POST", "/", 0, &body));
    json_t *j = json_loadb(body.data, body.len, 0, &jerr);
    assert_string_equal(cf_json_str(j, "KeyId"), "alias/x");
    assert_string_equal(cf_json_str(j, "Plaintext"), "aGk=");
    assert_string_equal(cf_json_str(json_object_get(j, "EncryptionContext"), "id"), "c1");
    json_decref(j);
    cf_buf_reset(&body);
    assert_true(tfake_body(f, "POST", "/", 1, &body));
    j = json_loadb(body.data, body.len, 0, &jerr);
    assert_null(json_object_get(j, "EncryptionContext")); /* omitted when empty */
    json_decref(j);
    cf_buf_free(&body);
    kms_client_free(k);
    tfake_stop(f);
}

/* Temporary credentials from a fake container endpoint, used against the fake KMS. */
static void test_expiring_container_credentials_are_refreshed(void **state)
{
    char body[4096], url[128], seen[512], arn[ARN_CAP];

    (void)state;
    struct tfake *f = fake_kms();
    unsetenv("AWS_ACCESS_KEY_ID");
    unsetenv("AWS_SECRET_ACCESS_KEY");
    tfake_answer(f, "POST", "/", 200, NULL, DESCRIBE_OK);
    creds_json("ASIAFIRST", "secret-1", "token-1", 60, body, sizeof(body)); /* within 5 min */
    tfake_answer(f, "GET", "/creds", 200, NULL, body);
    creds_json("ASIASECOND", "secret-2", "token-2", 3600, body, sizeof(body));
    tfake_answer(f, "GET", "/creds", 200, NULL, body);
    snprintf(url, sizeof(url), "%s/creds", tfake_url(f));
    env_set("AWS_CONTAINER_CREDENTIALS_FULL_URI", url);
    struct kms_client *k = client_new();
    for (int i = 0; i < 3; i++)
        assert_int_equal(describe(k, "alias/x", arn), 0);
    assert_int_equal(tfake_count(f, "GET", "/creds"), 2); /* the third call used the cache */
    assert_true(tfake_header(f, "POST", "/", 0, "Authorization", seen, sizeof(seen)));
    assert_non_null(strstr(seen, "Credential=ASIAFIRST/"));
    assert_header(f, "POST", "/", 0, "X-Amz-Security-Token", "token-1");
    for (size_t i = 1; i < 3; i++) {
        assert_true(tfake_header(f, "POST", "/", i, "Authorization", seen, sizeof(seen)));
        assert_non_null(strstr(seen, "Credential=ASIASECOND/"));
        assert_header(f, "POST", "/", i, "X-Amz-Security-Token", "token-2");
    }
    kms_client_free(k);
    tfake_stop(f);
}

static void test_expiring_imds_credentials_are_refreshed(void **state)
{
    char body[4096], seen[512], arn[ARN_CAP];

    (void)state;
    struct tfake *f = fake_kms();
    struct tfake *imds = tfake_start();
    unsetenv("AWS_ACCESS_KEY_ID");
    unsetenv("AWS_SECRET_ACCESS_KEY");
    tfake_answer(f, "POST", "/", 200, NULL, DESCRIBE_OK);
    creds_json("ASIAIMDS1", "secret-1", "token-1", 120, body, sizeof(body));
    imds_routes(imds, body);
    creds_json("ASIAIMDS2", "secret-2", "token-2", 7200, body, sizeof(body));
    tfake_answer(imds, "GET", "/latest/meta-data/iam/security-credentials/coffer-role", 200, NULL,
                 body);
    unsetenv("AWS_EC2_METADATA_DISABLED");
    env_set("AWS_EC2_METADATA_SERVICE_ENDPOINT", tfake_url(imds));
    struct kms_client *k = client_new();
    for (int i = 0; i < 3; i++)
        assert_int_equal(describe(k, "alias/x", arn), 0);
    assert_int_equal(tfake_count(imds, "PUT", "/latest/api/token"), 2);
    assert_true(tfake_header(f, "POST", "/", 0, "Authorization", seen, sizeof(seen)));
    assert_non_null(strstr(seen, "Credential=ASIAIMDS1/"));
    assert_true(tfake_header(f, "POST", "/", 2, "Authorization", seen, sizeof(seen)));
    assert_non_null(strstr(seen, "Credential=ASIAIMDS2/"));
    assert_header(f, "POST", "/", 2, "X-Amz-Security-Token", "token-2");
    kms_client_free(k);
    tfake_stop(imds);
    tfake_stop(f);
}

static void test_a_failed_refresh_keeps_credentials_until_they_expire(void **state)
{
    char body[4096], url[128], seen[512], arn[ARN_CAP];

    (void)state;
    struct tfake *f = fake_kms();
    unsetenv("AWS_ACCESS_KEY_ID");
    unsetenv("AWS_SECRET_ACCESS_KEY");
    tfake_answer(f, "POST", "/", 200, NULL, DESCRIBE_OK);
    creds_json("ASIAFIRST", "secret-1", "token-1", 120, body, sizeof(body)); /* within 5 min */
    tfake_answer(f, "GET", "/creds", 200, NULL, body);
    tfake_answer(f, "GET", "/creds", 500, NULL, "{}"); /* then the endpoint fails */
    snprintf(url, sizeof(url), "%s/creds", tfake_url(f));
    env_set("AWS_CONTAINER_CREDENTIALS_FULL_URI", url);
    struct kms_client *k = client_new();
    assert_int_equal(describe(k, "alias/x", arn), 0);
    assert_int_equal(describe(k, "alias/x", arn), 0);
    assert_int_equal(tfake_count(f, "GET", "/creds"), 2); /* a refresh was tried */
    assert_true(tfake_header(f, "POST", "/", 1, "Authorization", seen, sizeof(seen)));
    assert_non_null(strstr(seen, "Credential=ASIAFIRST/"));
    kms_client_free(k);
    tfake_stop(f);
}

static void test_credential_failures_stop_before_kms(void **state)
{
    char url[128], arn[ARN_CAP];

    (void)state;
    struct tfake *f = fake_kms();
    unsetenv("AWS_ACCESS_KEY_ID");
    unsetenv("AWS_SECRET_ACCESS_KEY");
    tfake_answer(f, "POST", "/", 200, NULL, DESCRIBE_OK);
    struct kms_client *k = client_new();
    assert_int_equal(describe(k, "alias/x", arn), CF_EDENIED); /* no credentials anywhere */
    kms_client_free(k);
    env_set("AWS_ACCESS_KEY_ID", "AKIDHALF"); /* half a key pair */
    k = client_new();
    assert_int_equal(describe(k, "alias/x", arn), CF_ECONFIG);
    kms_client_free(k);
    unsetenv("AWS_ACCESS_KEY_ID");
    tfake_answer(f, "GET", "/creds", 403, NULL, "{}");
    snprintf(url, sizeof(url), "%s/creds", tfake_url(f));
    env_set("AWS_CONTAINER_CREDENTIALS_FULL_URI", url);
    k = client_new();
    assert_int_equal(describe(k, "alias/x", arn), CF_EDENIED); /* the endpoint refused */
    kms_client_free(k);
    /* plain http to anything but loopback or the ECS/EKS agents is refused unasked */
    env_set("AWS_CONTAINER_CREDENTIALS_FULL_URI", "http://192.0.2.1/creds");
    k = client_new();
    assert_int_equal(describe(k, "alias/x", arn), CF_ECONFIG);
    kms_client_free(k);
    assert_int_equal(tfake_count(f, "POST", "/"), 0);
    assert_int_equal(tfake_count(f, "GET", "/creds"), 1);
    tfake_stop(f);
}

/* Configuration. */

static void test_no_region_is_a_configuration_error(void **state)
{
    void *impl = NULL;
    char err[256] = "";
    struct kms_aws_config ac = fast_config();

    (void)state;
    assert_int_equal(kms_aws_new(&ac, &impl, err, sizeof(err)), CF_ECONFIG);
    assert_null(impl);
    assert_non_null(strstr(err, "AWS_REGION"));
    env_set("AWS_REGION", "us-east-1; rm -rf /");
    assert_int_equal(kms_aws_new(&ac, &impl, err, sizeof(err)), CF_ECONFIG);
    env_set("AWS_REGION", "us-east-1");
    env_set("AWS_ENDPOINT_URL", "ftp://127.0.0.1/");
    assert_int_equal(kms_aws_new(&ac, &impl, err, sizeof(err)), CF_ECONFIG);
    assert_null(impl);
}

static void test_region_and_endpoint_follow_their_precedence(void **state)
{
    char path[600];
    struct kms_aws_config ac = fast_config();
    void *impl = NULL;
    char err[256];

    (void)state;
    write_file("config-prec", "[default]\nregion = ap-south-1\n", path, sizeof(path));
    env_set("AWS_CONFIG_FILE", path);
    assert_int_equal(kms_aws_new(&ac, &impl, err, sizeof(err)), 0);
    assert_string_equal(kms_aws_region(impl), "ap-south-1");
    assert_string_equal(kms_aws_endpoint(impl), "https://kms.ap-south-1.amazonaws.com");
    kms_aws_ops.destroy(impl);
    env_set("AWS_DEFAULT_REGION", "eu-central-1");
    env_set("AWS_ENDPOINT_URL", "http://127.0.0.1:1");
    assert_int_equal(kms_aws_new(&ac, &impl, err, sizeof(err)), 0);
    assert_string_equal(kms_aws_region(impl), "eu-central-1");
    assert_string_equal(kms_aws_endpoint(impl), "http://127.0.0.1:1");
    kms_aws_ops.destroy(impl);
    env_set("AWS_REGION", "us-west-1");
    env_set("AWS_ENDPOINT_URL_KMS", "http://127.0.0.1:2");
    assert_int_equal(kms_aws_new(&ac, &impl, err, sizeof(err)), 0);
    assert_string_equal(kms_aws_region(impl), "us-west-1");
    assert_string_equal(kms_aws_endpoint(impl), "http://127.0.0.1:2");
    kms_aws_ops.destroy(impl);
}

static void test_settings_default_to_the_documented_values(void **state)
{
    struct cf_config cfg = { 0 };
    struct kms_aws_config ac;

    (void)state;
    kms_aws_config_from(&cfg, &ac);
    assert_int_equal(ac.connect_timeout_ms, 2000);
    assert_int_equal(ac.timeout_ms, 5000);
    assert_int_equal(ac.max_attempts, 4);
    assert_int_equal(ac.backoff_base_ms, 50);
    assert_int_equal(ac.backoff_max_ms, 2000);
    cfg.kms_max_attempts = 2;
    cfg.kms_timeout_ms = 700;
    kms_aws_config_from(&cfg, &ac);
    assert_int_equal(ac.max_attempts, 2);
    assert_int_equal(ac.timeout_ms, 700);
}

static int ini(const char *text, const char *section, struct cf_secret v[2])
{
    static const char *const keys[] = { "aws_access_key_id", "region" };
    char path[600];

    write_file("ini", text, path, sizeof(path));
    return kms_ini_read(path, section, keys, 2, v);
}

static void test_the_ini_reader_is_strict(void **state)
{
    struct cf_secret v[2];

    (void)state;
    assert_int_equal(ini("[a]\n# c\n; c\n\n  # indented comment\nregion = x y \n"
                         "aws_access_key_id=AK\nother =\n  nested = 1\n[b]\nregion=z\n",
                         "a", v),
                     0);
    assert_string_equal((const char *)v[0].data, "AK");
    assert_string_equal((const char *)v[1].data, "x y");
    cf_secret_free(&v[0]);
    cf_secret_free(&v[1]);
    assert_int_equal(ini("[a]\nregion = x\n", "b", v), CF_ENOTFOUND);
    assert_int_equal(ini("region = x\n[a]\n", "a", v), CF_ECONFIG);             /* no section */
    assert_int_equal(ini("[a]\nregion x\n", "a", v), CF_ECONFIG);               /* no '=' */
    assert_int_equal(ini("[a]\nregion = x\nregion = y\n", "a", v), CF_ECONFIG); /* twice */
    assert_int_equal(ini("[a]\nregion = x\n[a]\n", "a", v), CF_ECONFIG);        /* section twice */
    assert_int_equal(ini("[a\nregion = x\n", "a", v), CF_ECONFIG);
    assert_int_equal(ini("[a]\nregion = x\n  continued\n", "a", v), CF_ECONFIG);
    assert_null(v[0].data);
    assert_null(v[1].data);
    assert_int_equal(
        kms_ini_read("/nonexistent/coffer/ini", "a", (const char *const[]){ "k" }, 1, v),
        CF_ENOTFOUND);
}

/* Removes work_dir and the files in it (it has no subfolders). */
static void work_dir_remove(void)
{
    char path[1024];
    DIR *d = opendir(work_dir);
    struct dirent *e;

    if (d == NULL)
        return;
    while ((e = readdir(d)) != NULL) {
        if (strcmp(e->d_name, ".") == 0 || strcmp(e->d_name, "..") == 0)
            continue;
        snprintf(path, sizeof(path), "%s/%s", work_dir, e->d_name);
        unlink(path);
    }
    closedir(d);
    rmdir(work_dir);
}

int main(void)
{
    const struct CMUnitTest shared[] = {
        cmocka_unit_test_setup(test_data_key_round_trips_via_alias_and_arn, env_clean),
        cmocka_unit_test_setup(test_encrypt_and_decrypt_via_alias_and_arn, env_clean),
        cmocka_unit_test_setup(test_describe_key_resolves_alias_arn_and_id, env_clean),
        cmocka_unit_test_setup(test_context_order_does_not_matter_but_its_content_does, env_clean),
        cmocka_unit_test_setup(test_unknown_keys_are_not_found, env_clean),
        cmocka_unit_test_setup(test_region_comes_from_the_profile_in_the_config_file, env_clean),
    };
    const struct CMUnitTest private[] = {
        cmocka_unit_test_setup(test_signed_requests_pass_when_moto_checks_signatures, env_clean),
        cmocka_unit_test_setup(test_a_wrong_secret_key_is_denied, env_clean),
        cmocka_unit_test_setup(test_credentials_come_from_the_shared_file_and_profile, env_clean),
        cmocka_unit_test_setup(test_credentials_come_from_the_config_file_profile, env_clean),
        cmocka_unit_test_setup(test_environment_credentials_take_precedence_over_the_file,
                               env_clean),
        cmocka_unit_test_setup(test_container_credentials_are_fetched_with_the_token, env_clean),
        cmocka_unit_test_setup(test_imds_v2_credentials_are_fetched_with_a_session_token,
                               env_clean),
    };
    const struct CMUnitTest local[] = {
        cmocka_unit_test_setup(test_throttling_is_retried_until_it_passes, env_clean),
        cmocka_unit_test_setup(test_throttling_past_max_attempts_fails_as_throttled, env_clean),
        cmocka_unit_test_setup(test_server_errors_are_retried_and_then_unavailable, env_clean),
        cmocka_unit_test_setup(test_refusals_are_mapped_and_not_retried, env_clean),
        cmocka_unit_test_setup(test_malformed_answers_are_bad_responses, env_clean),
        cmocka_unit_test_setup(test_deeply_nested_answers_are_refused_before_parsing, env_clean),
        cmocka_unit_test_setup(test_an_unreachable_endpoint_is_unavailable, env_clean),
        cmocka_unit_test_setup(test_request_bodies_follow_the_kms_json_protocol, env_clean),
        cmocka_unit_test_setup(test_expiring_container_credentials_are_refreshed, env_clean),
        cmocka_unit_test_setup(test_expiring_imds_credentials_are_refreshed, env_clean),
        cmocka_unit_test_setup(test_a_failed_refresh_keeps_credentials_until_they_expire,
                               env_clean),
        cmocka_unit_test_setup(test_credential_failures_stop_before_kms, env_clean),
        cmocka_unit_test_setup(test_no_region_is_a_configuration_error, env_clean),
        cmocka_unit_test_setup(test_region_and_endpoint_follow_their_precedence, env_clean),
        cmocka_unit_test_setup(test_settings_default_to_the_documented_values, env_clean),
        cmocka_unit_test_setup(test_the_ini_reader_is_strict, env_clean),
    };
    const char *work = getenv("COFFER_TEST_WORK");
    int failed = 0;

    cf_json_init();
    cf_log_set_level(CF_LOG_ERROR);
    if (curl_global_init(CURL_GLOBAL_DEFAULT) != CURLE_OK)
        return 1;
    snprintf(work_dir, sizeof(work_dir), "%s/kms-aws-XXXXXX", work != NULL ? work : "/tmp");
    if (mkdtemp(work_dir) == NULL)
        return 1;
    failed += t_run_group_tests_name("kms_aws_local", local, NULL, NULL);
    failed += t_run_group_tests_name("kms_aws_moto", shared, shared_setup, shared_teardown);
    failed += t_run_group_tests_name("kms_aws_moto_auth", private, private_setup, private_teardown);
    curl_global_cleanup();
    if (failed == 0)
        work_dir_remove(); /* kept on failure: the private moto's log is there */
    return failed;
}
