/* test_kms.c - kms/ without a network: AES-GCM, the local backend and its key file, envelope
 * sealing of credential revisions, and the data-key cache. */
#include <malloc.h>
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cmocka.h>

#include "cf_aead.h"
#include "cf_json.h"
#include "cf_mem.h"
#include "kms.h"
#include "kms_cache.h"
#include "kms_envelope.h"
#include "kms_local.h"
#include "trun.h"

/* --- free() is wrapped: a test can ask whether any freed block still held a pattern --- */

void __real_free(void *p);
void __wrap_free(void *p);

static const uint8_t *scan_pattern;
static size_t scan_len;
static int scan_hits;

void __wrap_free(void *p)
{
    if (p != NULL && scan_pattern != NULL) {
        size_t n = malloc_usable_size(p);
        const uint8_t *b = p;
        for (size_t i = 0; n >= scan_len && i <= n - scan_len; i++) {
            if (memcmp(b + i, scan_pattern, scan_len) == 0) {
                scan_hits++;
                break;
            }
        }
    }
    __real_free(p);
}

static void scan_for(const uint8_t *pattern, size_t len)
{
    scan_pattern = pattern;
    scan_len = len;
    scan_hits = 0;
}

/* --- fixtures: a key file in a temporary folder --- */

struct fx {
    char dir[256];
    char path[300];
    struct kms_client *k;
};

static int setup(void **state)
{
    struct fx *f = calloc(1, sizeof(*f));
    char err[256];
    struct kms_local *kl = NULL;

    snprintf(f->dir, sizeof(f->dir), "/tmp/coffer-kms-XXXXXX");
    assert_non_null(mkdtemp(f->dir));
    snprintf(f->path, sizeof(f->path), "%s/keys.json", f->dir);
    assert_int_equal(kms_local_init_file(f->path, err, sizeof(err)), 0);
    assert_int_equal(kms_local_open(f->path, &kl, err, sizeof(err)), 0);
    f->k = kms_client_wrap(&kms_local_ops, kl);
    *state = f;
    return 0;
}

static int teardown(void **state)
{
    struct fx *f = *state;
    char cmd[300];
    kms_client_free(f->k);
    snprintf(cmd, sizeof(cmd), "rm -rf %s", f->dir);
    assert_int_equal(system(cmd), 0);
    free(f);
    return 0;
}

static struct kms_context ctx1(const char *k, const char *v)
{
    struct kms_context c = { 0 };
    assert_int_equal(kms_context_add(&c, k, v), 0);
    return c;
}

/* --- AES-GCM --- */

static void test_aead_round_trips_and_any_change_fails_cleanly(void **state)
{
    (void)state;
    uint8_t key[32], nonce[12], sealed[5 + 16];
    struct cf_secret out;

    memset(key, 7, sizeof(key));
    memset(nonce, 9, sizeof(nonce));
    assert_int_equal(
        cf_aead_seal(key, nonce, (const uint8_t *)"ad", 2, (const uint8_t *)"hello", 5, sealed), 0);
    assert_int_equal(
        cf_aead_open(key, nonce, (const uint8_t *)"ad", 2, sealed, sizeof(sealed), &out), 0);
    assert_int_equal(out.len, 5);
    assert_memory_equal(out.data, "hello", 5);
    cf_secret_free(&out);
    for (size_t i = 0; i < sizeof(sealed); i++) { /* every byte: ciphertext and tag */
        sealed[i] ^= 1;
        assert_int_equal(
            cf_aead_open(key, nonce, (const uint8_t *)"ad", 2, sealed, sizeof(sealed), &out),
            CF_EINTEGRITY);
        assert_null(out.data);
        sealed[i] ^= 1;
    }
    assert_int_equal(
        cf_aead_open(key, nonce, (const uint8_t *)"ae", 2, sealed, sizeof(sealed), &out),
        CF_EINTEGRITY);
    nonce[0] ^= 1;
    assert_int_equal(
        cf_aead_open(key, nonce, (const uint8_t *)"ad", 2, sealed, sizeof(sealed), &out),
        CF_EINTEGRITY);
    assert_int_equal(cf_aead_open(key, nonce, NULL, 0, sealed, 15, &out), CF_EINTEGRITY);
}

/* --- the key file --- */

static void test_init_makes_a_private_file_with_three_keys_and_never_overwrites(void **state)
{
    struct fx *f = *state;
    struct stat st;
    char err[256], arn[128];

    assert_int_equal(stat(f->path, &st), 0);
    assert_int_equal(st.st_mode & 0777, 0600);
    assert_int_equal(kms_local_init_file(f->path, err, sizeof(err)), CF_ECONFLICT);
    assert_non_null(strstr(err, "refusing to overwrite"));
    const char *names[] = { "alias/coffer-master", "alias/coffer-auth", "alias/coffer-user-auth",
                            "coffer-auth", "local:key/coffer-user-auth" };
    const char *want[] = { "local:key/coffer-master", "local:key/coffer-auth",
                           "local:key/coffer-user-auth", "local:key/coffer-auth",
                           "local:key/coffer-user-auth" };
    for (size_t i = 0; i < 5; i++) {
        assert_int_equal(kms_describe_key(f->k, names[i], arn, sizeof(arn)), 0);
        assert_string_equal(arn, want[i]);
    }
    assert_int_equal(kms_describe_key(f->k, "alias/nope", arn, sizeof(arn)), CF_ENOTFOUND);
}

static int open_text(const struct fx *f, const char *name, const char *text, mode_t mode, char *err,
                     size_t errcap)
{
    char path[400];
    struct kms_local *kl = NULL;

    snprintf(path, sizeof(path), "%s/%s", f->dir, name);
    FILE *fp = fopen(path, "w");
    assert_non_null(fp);
    fputs(text, fp);
    fclose(fp);
    assert_int_equal(chmod(path, mode), 0);
    int r = kms_local_open(path, &kl, err, errcap);
    kms_local_free(kl);
    return r;
}

static void test_a_key_file_others_can_read_or_a_malformed_one_is_refused(void **state)
{
    struct fx *f = *state;
    char err[256];
    const char *good = "{\"version\":1,\"keys\":[{\"id\":\"k\",\"aliases\":[\"alias/k\"],"
                       "\"material\":\"AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=\"}]}";

    assert_int_equal(open_text(f, "ok.json", good, 0600, err, sizeof(err)), 0);
    assert_int_equal(open_text(f, "g.json", good, 0640, err, sizeof(err)), CF_ECONFIG);
    assert_non_null(strstr(err, "chmod 600"));
    assert_int_equal(open_text(f, "o.json", good, 0604, err, sizeof(err)), CF_ECONFIG);
    const char *bad[] = {
        "{\"version\":2,\"keys\":[{\"id\":\"k\",\"material\":"
        "\"AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=\"}]}",
        "{\"version\":1,\"keys\":[{\"id\":\"k\",\"material\":\"AAAA\"}]}",
        "{\"version\":1,\"keys\":[{\"id\":\"k/"
        "x\",\"material\":\"AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=\"}]}",
        "{\"version\":1,\"version\":1,\"keys\":[]}",
        "{\"version\":1,\"keys\":[]}",
        "{\"version\":1,\"keys\":[{\"id\":\"a\",\"aliases\":[\"alias/"
        "x\"],\"material\":\"AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=\"},"
        "{\"id\":\"b\",\"aliases\":[\"alias/"
        "x\"],\"material\":\"AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=\"}]}",
        "not json",
    };
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        assert_int_equal(open_text(f, "bad.json", bad[i], 0600, err, sizeof(err)), CF_ECONFIG);
        assert_null(strstr(err, "AAAA")); /* never echoes material */
    }
}

/* --- the local backend --- */

static void test_local_encrypt_and_decrypt_round_trip_and_report_the_key(void **state)
{
    struct fx *f = *state;
    struct kms_context c = ctx1("from", "web");
    struct kms_blob blob;
    struct cf_secret plain;
    char arn[128];

    assert_int_equal(kms_encrypt(f->k, "alias/coffer-auth", (const uint8_t *)"payload", 7, &c,
                                 &blob, arn, sizeof(arn)),
                     0);
    assert_string_equal(arn, "local:key/coffer-auth");
    assert_memory_equal(blob.data,
                        "CLK1\x0b"
                        "coffer-auth",
                        16);
    arn[0] = '\0';
    assert_int_equal(kms_decrypt(f->k, blob.data, blob.len, &c, &plain, arn, sizeof(arn)), 0);
    assert_string_equal(arn, "local:key/coffer-auth");
    assert_memory_equal(plain.data, "payload", 7);
    cf_secret_free(&plain);

    struct kms_context wrong = ctx1("from", "web2");
    assert_int_equal(kms_decrypt(f->k, blob.data, blob.len, &wrong, &plain, arn, sizeof(arn)),
                     CF_EINTEGRITY);
    struct kms_context none = { 0 };
    assert_int_equal(kms_decrypt(f->k, blob.data, blob.len, &none, &plain, arn, sizeof(arn)),
                     CF_EINTEGRITY);
    for (size_t i = 0; i < blob.len; i++) { /* magic, key id, nonce, ciphertext, tag */
        blob.data[i] ^= 0x20;
        assert_int_not_equal(kms_decrypt(f->k, blob.data, blob.len, &c, &plain, arn, sizeof(arn)),
                             0);
        assert_null(plain.data);
        blob.data[i] ^= 0x20;
    }
    assert_int_equal(kms_decrypt(f->k, blob.data, blob.len - 1, &c, &plain, arn, sizeof(arn)),
                     CF_EINTEGRITY);
    kms_blob_free(&blob);
    assert_int_equal(
        kms_encrypt(f->k, "alias/none", (const uint8_t *)"x", 1, &c, &blob, arn, sizeof(arn)),
        CF_ENOTFOUND);
}

static void test_local_data_keys_are_fresh_and_decrypt_to_themselves(void **state)
{
    struct fx *f = *state;
    struct kms_context c = ctx1("id", "0123456789abcdef0123456789abcdef");
    struct cf_secret k1, k2, back;
    struct kms_blob b1, b2;
    char arn[128];
    struct kms_stats st;

    assert_int_equal(
        kms_generate_data_key(f->k, "alias/coffer-master", &c, &k1, &b1, arn, sizeof(arn)), 0);
    assert_int_equal(kms_generate_data_key(f->k, "coffer-master", &c, &k2, &b2, arn, sizeof(arn)),
                     0);
    assert_int_equal(k1.len, 32);
    assert_false(cf_secret_eq(&k1, &k2));
    assert_int_equal(kms_decrypt(f->k, b1.data, b1.len, &c, &back, arn, sizeof(arn)), 0);
    assert_true(cf_secret_eq(&k1, &back));
    kms_client_stats(f->k, &st);
    assert_int_equal(st.ok[KMS_OP_GENERATE_DATA_KEY], 2);
    assert_int_equal(st.ok[KMS_OP_DECRYPT], 1);
    cf_secret_free(&k1);
    cf_secret_free(&k2);
    cf_secret_free(&back);
    kms_blob_free(&b1);
    kms_blob_free(&b2);
}

static void test_context_canonical_form_sorts_and_escapes(void **state)
{
    (void)state;
    struct kms_context c = { 0 };
    struct cf_buf b = { 0 };

    assert_int_equal(kms_context_add(&c, "to", "coffer"), 0);
    assert_int_equal(kms_context_add(&c, "from", "a\"b"), 0);
    assert_int_equal(kms_context_add(&c, "user_type", "service"), 0);
    kms_context_canonical(&c, &b);
    assert_string_equal(b.data,
                        "{\"from\":\"a\\\"b\",\"to\":\"coffer\",\"user_type\":\"service\"}");
    cf_buf_free(&b);
    struct kms_context empty = { 0 };
    kms_context_canonical(&empty, &b);
    assert_string_equal(b.data, "{}");
    cf_buf_free(&b);
}

/* --- envelopes --- */

static const char *const cred = "0123456789abcdef0123456789abcdef";
static const char *const other = "fedcba9876543210fedcba9876543210";
static const char pairs[] = "{\"password\":\"s3cr3t\",\"username\":\"web\"}";

static void seal(struct fx *f, struct kms_dkcache *cache, struct kms_sealed *s)
{
    assert_int_equal(kms_envelope_seal(f->k, cache, "alias/coffer-master", cred, 3,
                                       (const uint8_t *)pairs, strlen(pairs), s),
                     0);
}

static void test_an_envelope_opens_only_for_its_credential_and_revision(void **state)
{
    struct fx *f = *state;
    struct kms_sealed s;
    struct cf_secret out;

    seal(f, NULL, &s);
    assert_int_equal(s.version, KMS_ENVELOPE_VERSION);
    assert_string_equal(s.kms_key_id, "local:key/coffer-master");
    assert_int_equal(s.ciphertext.len, strlen(pairs) + 16);
    for (size_t i = 0; i + 6 <= s.ciphertext.len; i++)
        assert_memory_not_equal(s.ciphertext.data + i, "s3cr3t", 6);
    assert_int_equal(kms_envelope_open(f->k, NULL, cred, 3, &s, &out), 0);
    assert_int_equal(out.len, strlen(pairs));
    assert_memory_equal(out.data, pairs, out.len);
    cf_secret_free(&out);

    assert_int_equal(kms_envelope_open(f->k, NULL, other, 3, &s, &out), CF_EINTEGRITY);
    assert_int_equal(kms_envelope_open(f->k, NULL, cred, 4, &s, &out), CF_EINTEGRITY);
    assert_int_equal(kms_envelope_open(f->k, NULL, cred, 2, &s, &out), CF_EINTEGRITY);
    assert_null(out.data);
    s.version = 2;
    assert_int_equal(kms_envelope_open(f->k, NULL, cred, 3, &s, &out), CF_EINTEGRITY);
    s.version = KMS_ENVELOPE_VERSION;
    kms_sealed_free(&s);
}

static void test_a_tampered_envelope_fails_as_an_integrity_error(void **state)
{
    struct fx *f = *state;
    struct kms_sealed s;
    struct cf_secret out;

    seal(f, NULL, &s);
    uint8_t *parts[] = { s.nonce, s.ciphertext.data, s.ciphertext.data + s.ciphertext.len - 1,
                         s.data_key.data + s.data_key.len - 1, s.data_key.data + 20 };
    for (size_t i = 0; i < sizeof(parts) / sizeof(parts[0]); i++) {
        *parts[i] ^= 1;
        assert_int_equal(kms_envelope_open(f->k, NULL, cred, 3, &s, &out), CF_EINTEGRITY);
        assert_null(out.data);
        *parts[i] ^= 1;
    }
    assert_int_equal(kms_envelope_open(f->k, NULL, cred, 3, &s, &out), 0);
    cf_secret_free(&out);
    kms_sealed_free(&s);
}

static void test_the_data_key_cache_spares_kms_calls(void **state)
{
    struct fx *f = *state;
    struct kms_dkcache *cache = NULL;
    struct kms_sealed s;
    struct cf_secret out;
    struct kms_stats st;
    struct kms_dkcache_stats cs;

    assert_int_equal(kms_dkcache_new(100, 900, &cache), 0);
    seal(f, cache, &s); /* sealing primes the cache */
    for (int i = 0; i < 3; i++) {
        assert_int_equal(kms_envelope_open(f->k, cache, cred, 3, &s, &out), 0);
        cf_secret_free(&out);
    }
    kms_client_stats(f->k, &st);
    assert_int_equal(st.ok[KMS_OP_DECRYPT], 0);
    kms_dkcache_stats(cache, &cs);
    assert_int_equal(cs.hits, 3);
    /* the cache is keyed by context too: another credential id misses, and fails */
    assert_int_equal(kms_envelope_open(f->k, cache, other, 3, &s, &out), CF_EINTEGRITY);
    kms_dkcache_clear(cache);
    assert_int_equal(kms_envelope_open(f->k, cache, cred, 3, &s, &out), 0); /* a miss: Decrypt */
    cf_secret_free(&out);
    assert_int_equal(kms_envelope_open(f->k, cache, cred, 3, &s, &out), 0); /* and a hit */
    cf_secret_free(&out);
    kms_client_stats(f->k, &st);
    assert_int_equal(st.ok[KMS_OP_DECRYPT], 1);
    kms_sealed_free(&s);
    kms_dkcache_free(cache);
}

/* --- the data-key cache --- */

static void digest_of(int n, uint8_t out[CF_SHA256_LEN])
{
    memset(out, 0, CF_SHA256_LEN);
    memcpy(out, &n, sizeof(n));
    out[31] = (uint8_t)n;
}

static void put_key(struct kms_dkcache *c, int n, uint8_t fill)
{
    uint8_t d[CF_SHA256_LEN];
    struct cf_secret k;
    assert_int_equal(cf_secret_alloc(&k, 32), 0);
    memset(k.data, fill, 32);
    digest_of(n, d);
    kms_dkcache_put(c, d, &k);
    cf_secret_free(&k);
}

static bool has_key(struct kms_dkcache *c, int n)
{
    uint8_t d[CF_SHA256_LEN];
    struct cf_secret k;
    digest_of(n, d);
    int r = kms_dkcache_get(c, d, &k);
    cf_secret_free(&k);
    return r == 0;
}

static void test_the_cache_evicts_the_least_recently_used_key(void **state)
{
    (void)state;
    struct kms_dkcache *c = NULL;
    struct kms_dkcache_stats st;

    assert_int_equal(kms_dkcache_new(3, 900, &c), 0);
    put_key(c, 1, 0x11);
    put_key(c, 2, 0x22);
    put_key(c, 3, 0x33);
    assert_true(has_key(c, 1)); /* 1 is now the most recent: 2 goes first */
    put_key(c, 4, 0x44);
    assert_false(has_key(c, 2));
    assert_true(has_key(c, 1));
    assert_true(has_key(c, 3));
    assert_true(has_key(c, 4));
    kms_dkcache_stats(c, &st);
    assert_int_equal(st.entries, 3);
    assert_int_equal(st.evictions, 1);
    assert_int_equal(st.hits, 4);
    assert_int_equal(st.misses, 1);
    kms_dkcache_free(c);
}

static int64_t fake_now;
static int64_t fake_clock(void)
{
    return fake_now;
}

static void test_the_cache_forgets_keys_past_their_age(void **state)
{
    (void)state;
    struct kms_dkcache *c = NULL;

    assert_int_equal(kms_dkcache_new(10, 60, &c), 0);
    kms_dkcache_set_clock(c, fake_clock);
    fake_now = 1000;
    put_key(c, 1, 0x11);
    fake_now += 59999;
    assert_true(has_key(c, 1));
    fake_now += 1;
    assert_false(has_key(c, 1));
    kms_dkcache_free(c);
}

static void test_a_cache_of_size_zero_is_off(void **state)
{
    (void)state;
    struct kms_dkcache *c = NULL;
    assert_int_equal(kms_dkcache_new(0, 60, &c), 0);
    put_key(c, 1, 0x11);
    assert_false(has_key(c, 1));
    kms_dkcache_free(c);
    assert_false(has_key(NULL, 1));
}

static void test_evicted_expired_and_cleared_keys_are_wiped_before_free(void **state)
{
    (void)state;
    struct kms_dkcache *c = NULL;
    uint8_t pat[32];

    assert_int_equal(kms_dkcache_new(2, 60, &c), 0);
    kms_dkcache_set_clock(c, fake_clock);
    fake_now = 0;
    memset(pat, 0xa7, sizeof(pat));
    scan_for(pat, sizeof(pat));
    put_key(c, 1, 0xa7);
    put_key(c, 2, 0xb8);
    put_key(c, 3, 0xc9); /* evicts key 1 */
    assert_false(has_key(c, 1));
    fake_now += 61000;
    assert_false(has_key(c, 2)); /* expired */
    kms_dkcache_clear(c);
    kms_dkcache_free(c);
    assert_int_equal(scan_hits, 0); /* no freed block still held key 1's bytes */
    /* the scan itself works: a block freed without wiping is seen */
    uint8_t *raw = cf_xmalloc(64);
    volatile uint8_t *v = raw; /* stores the compiler may not drop before free() */
    for (size_t i = 0; i < 64; i++)
        v[i] = 0xa7;
    free(raw);
    assert_int_equal(scan_hits, 1);
    scan_for(NULL, 0);
}

struct worker {
    struct kms_dkcache *c;
    int base;
};

static void *cache_worker(void *arg)
{
    struct worker *w = arg;
    for (int i = 0; i < 2000; i++) {
        put_key(w->c, w->base + i % 50, (uint8_t)i);
        (void)has_key(w->c, w->base + (i * 7) % 50);
    }
    return NULL;
}

static void test_the_cache_is_safe_under_concurrent_use(void **state)
{
    (void)state;
    struct kms_dkcache *c = NULL;
    pthread_t t[4];
    struct worker w[4];
    struct kms_dkcache_stats st;

    assert_int_equal(kms_dkcache_new(64, 60, &c), 0);
    for (int i = 0; i < 4; i++) {
        w[i] = (struct worker){ c, i * 25 };
        assert_int_equal(pthread_create(&t[i], NULL, cache_worker, &w[i]), 0);
    }
    for (int i = 0; i < 4; i++)
        pthread_join(t[i], NULL);
    kms_dkcache_stats(c, &st);
    assert_true(st.entries <= 64);
    assert_int_equal(st.hits + st.misses, 8000);
    kms_dkcache_free(c);
}

int main(void)
{
    cf_json_init();
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_aead_round_trips_and_any_change_fails_cleanly),
        cmocka_unit_test_setup_teardown(
            test_init_makes_a_private_file_with_three_keys_and_never_overwrites, setup, teardown),
        cmocka_unit_test_setup_teardown(
            test_a_key_file_others_can_read_or_a_malformed_one_is_refused, setup, teardown),
        cmocka_unit_test_setup_teardown(
            test_local_encrypt_and_decrypt_round_trip_and_report_the_key, setup, teardown),
        cmocka_unit_test_setup_teardown(test_local_data_keys_are_fresh_and_decrypt_to_themselves,
                                        setup, teardown),
        cmocka_unit_test(test_context_canonical_form_sorts_and_escapes),
        cmocka_unit_test_setup_teardown(test_an_envelope_opens_only_for_its_credential_and_revision,
                                        setup, teardown),
        cmocka_unit_test_setup_teardown(test_a_tampered_envelope_fails_as_an_integrity_error, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_the_data_key_cache_spares_kms_calls, setup, teardown),
        cmocka_unit_test(test_the_cache_evicts_the_least_recently_used_key),
        cmocka_unit_test(test_the_cache_forgets_keys_past_their_age),
        cmocka_unit_test(test_a_cache_of_size_zero_is_off),
        cmocka_unit_test(test_evicted_expired_and_cleared_keys_are_wiped_before_free),
        cmocka_unit_test(test_the_cache_is_safe_under_concurrent_use),
    };
    return t_run_group_tests(tests, NULL, NULL);
}
