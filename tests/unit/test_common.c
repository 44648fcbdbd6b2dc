/* test_common.c - common/: secrets, memory, codecs, strings, time, config, logging. */
#include <setjmp.h>
#include <stdalign.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "cf_codec.h"
#include "cf_config.h"
#include "cf_crypto.h"
#include "cf_json.h"
#include "cf_mem.h"
#include "cf_secret.h"
#include "cf_str.h"
#include "cf_time.h"
#include "trun.h"

/* --- proving wipes: free() is wrapped (-Wl,--wrap=free) and checks a watched block --- */

void __real_free(void *p);
void __wrap_free(void *p);

static const uint8_t *watched_ptr;
static size_t watched_len;
static int watched_nonzero = -1; /* -1: not freed yet; else count of non-zero bytes at free */

void __wrap_free(void *p)
{
    if (p != NULL && p == watched_ptr) {
        int nz = 0;
        for (size_t i = 0; i < watched_len; i++)
            nz += watched_ptr[i] != 0;
        watched_nonzero = nz;
        watched_ptr = NULL;
    }
    __real_free(p);
}

static void watch(const void *p, size_t len)
{
    watched_ptr = p;
    watched_len = len;
    watched_nonzero = -1;
}

static void test_secret_free_wipes_the_bytes_before_release(void **state)
{
    (void)state;
    struct cf_secret s;

    assert_int_equal(cf_secret_dup(&s, "hunter2-hunter2", 15), 0);
    watch(s.data, s.len);
    cf_secret_free(&s);
    assert_int_equal(watched_nonzero, 0);
    assert_null(s.data);
    assert_int_equal(s.len, 0);
}

static void test_secret_free_empties_it_and_is_safe_to_repeat(void **state)
{
    (void)state;
    struct cf_secret s = { 0 };

    assert_int_equal(cf_secret_dup(&s, "k3y", 3), 0);
    cf_secret_free(&s);
    assert_null(s.data);
    cf_secret_free(&s);
    cf_secret_free(NULL);
}

static void test_secret_alloc_refuses_more_than_the_maximum(void **state)
{
    (void)state;
    struct cf_secret s;

    assert_int_equal(cf_secret_alloc(&s, CF_SECRET_MAX + 1), CF_ETOOBIG);
    assert_null(s.data);
    assert_int_equal(cf_secret_alloc(&s, 0), 0);
    assert_non_null(s.data);
    cf_secret_free(&s);
}

static void test_secret_move_leaves_the_source_empty_and_frees_the_target(void **state)
{
    (void)state;
    struct cf_secret a, b;

    assert_int_equal(cf_secret_dup(&a, "first", 5), 0);
    assert_int_equal(cf_secret_dup(&b, "second", 6), 0);
    watch(a.data, a.len);
    cf_secret_move(&a, &b);
    assert_int_equal(watched_nonzero, 0); /* a's old bytes wiped */
    assert_null(b.data);
    assert_int_equal(a.len, 6);
    assert_memory_equal(a.data, "second", 6);
    cf_secret_free(&a);
}

static void test_secret_eq_compares_contents(void **state)
{
    (void)state;
    struct cf_secret a, b, c;

    assert_int_equal(cf_secret_dup(&a, "same", 4), 0);
    assert_int_equal(cf_secret_dup(&b, "same", 4), 0);
    assert_int_equal(cf_secret_dup(&c, "samf", 4), 0);
    assert_true(cf_secret_eq(&a, &b));
    assert_false(cf_secret_eq(&a, &c));
    cf_secret_free(&a);
    cf_secret_free(&b);
    cf_secret_free(&c);
}

static void test_buf_growth_wipes_the_old_block(void **state)
{
    (void)state;
    struct cf_buf b = { 0 };

    cf_buf_append_str(&b, "secret-value");
    const void *old = b.data;
    watch(old, b.len);
    for (int i = 0; i < 100; i++)
        cf_buf_append_str(&b, "more bytes to force a reallocation");
    assert_int_equal(watched_nonzero, 0);
    watch(b.data, b.len);
    cf_buf_free(&b);
    assert_int_equal(watched_nonzero, 0);
}

static void test_json_frees_through_the_zeroing_allocator(void **state)
{
    (void)state;
    json_t *v = json_string("pair-value-to-wipe");
    const char *p = json_string_value(v);
    /* jansson copies the value into a block of its own; cf_json's header sits before it */
    const uint8_t *block = (const uint8_t *)p - alignof(max_align_t);

    watch(block, alignof(max_align_t) + strlen(p) + 1);
    json_decref(v);
    assert_int_equal(watched_nonzero, 0);
    json_t *arr = json_pack("[s]", "x");
    char *s = json_dumps(arr, 0);
    assert_string_equal(s, "[\"x\"]");
    cf_json_free_str(s);
    json_decref(arr);
}

/* --- sizes --- */

static void test_size_helpers_catch_overflow(void **state)
{
    (void)state;
    size_t out = 7;
    int i;

    assert_int_equal(cf_size_add(SIZE_MAX, 1, &out), CF_ETOOBIG);
    assert_int_equal(out, 7);
    assert_int_equal(cf_size_mul(SIZE_MAX / 2 + 1, 2, &out), CF_ETOOBIG);
    assert_int_equal(cf_size_add(2, 3, &out), 0);
    assert_int_equal(out, 5);
    assert_int_equal(cf_size_to_int((size_t)INT32_MAX + 1, &i), CF_ETOOBIG);
    assert_int_equal(cf_size_to_int(42, &i), 0);
    assert_int_equal(i, 42);
}

/* --- base64 and hex --- */

static void b64_roundtrip(enum cf_b64 v, const char *in, const char *expect)
{
    char enc[128];
    uint8_t dec[128];
    size_t n;

    assert_int_equal(cf_b64_encode(v, (const uint8_t *)in, strlen(in), enc, sizeof(enc)), 0);
    assert_string_equal(enc, expect);
    assert_int_equal(strlen(enc), cf_b64_encoded_len(v, strlen(in)));
    assert_int_equal(cf_b64_decode(v, enc, strlen(enc), dec, sizeof(dec), &n), 0);
    assert_int_equal(n, strlen(in));
    assert_memory_equal(dec, in, n);
}

static void test_base64_matches_rfc4648_vectors(void **state)
{
    (void)state;
    b64_roundtrip(CF_B64_STD, "", "");
    b64_roundtrip(CF_B64_STD, "f", "Zg==");
    b64_roundtrip(CF_B64_STD, "fo", "Zm8=");
    b64_roundtrip(CF_B64_STD, "foo", "Zm9v");
    b64_roundtrip(CF_B64_STD, "foob", "Zm9vYg==");
    b64_roundtrip(CF_B64_STD, "fooba", "Zm9vYmE=");
    b64_roundtrip(CF_B64_STD, "foobar", "Zm9vYmFy");
    b64_roundtrip(CF_B64_URL, "f", "Zg");
    b64_roundtrip(CF_B64_URL, "fo", "Zm8");
    b64_roundtrip(CF_B64_URL, "\xfb\xff", "-_8");
    b64_roundtrip(CF_B64_STD, "\xfb\xff", "+/8=");
}

static int decode(enum cf_b64 v, const char *s)
{
    uint8_t out[64];
    size_t n;
    return cf_b64_decode(v, s, strlen(s), out, sizeof(out), &n);
}

static void test_base64_strict_decoding_rejects_everything_else(void **state)
{
    (void)state;
    assert_int_equal(decode(CF_B64_STD, "Zg"), CF_EINVAL);     /* missing padding */
    assert_int_equal(decode(CF_B64_STD, "Zg="), CF_EINVAL);    /* short padding */
    assert_int_equal(decode(CF_B64_STD, "Zh=="), CF_EINVAL);   /* non-zero trailing bits */
    assert_int_equal(decode(CF_B64_STD, "Zm9v\n"), CF_EINVAL); /* whitespace */
    assert_int_equal(decode(CF_B64_STD, "Zm 9v"), CF_EINVAL);
    assert_int_equal(decode(CF_B64_STD, "Z=g="), CF_EINVAL); /* padding inside */
    assert_int_equal(decode(CF_B64_STD, "===="), CF_EINVAL);
    assert_int_equal(decode(CF_B64_STD, "-_8="), CF_EINVAL); /* URL alphabet */
    assert_int_equal(decode(CF_B64_URL, "+/8"), CF_EINVAL);  /* standard alphabet */
    assert_int_equal(decode(CF_B64_URL, "Zg=="), CF_EINVAL); /* URL form has no padding */
    assert_int_equal(decode(CF_B64_URL, "Z"), CF_EINVAL);    /* impossible length */
    assert_int_equal(decode(CF_B64_STD, "Zm9vYmFy\0"), 0);   /* strlen stops at the NUL */
}

static void test_base64_decode_refuses_a_small_output_buffer(void **state)
{
    (void)state;
    uint8_t out[2];
    size_t n;
    char enc[4];

    assert_int_equal(cf_b64_decode(CF_B64_STD, "Zm9v", 4, out, sizeof(out), &n), CF_ETOOBIG);
    assert_int_equal(cf_b64_encode(CF_B64_STD, (const uint8_t *)"foo", 3, enc, sizeof(enc)),
                     CF_ETOOBIG);
}

static void test_hex_round_trips_and_rejects_bad_digits(void **state)
{
    (void)state;
    char hex[9];
    uint8_t bytes[4];

    assert_int_equal(cf_hex_encode((const uint8_t *)"\x00\xab\xcd\xff", 4, hex, sizeof(hex)), 0);
    assert_string_equal(hex, "00abcdff");
    assert_int_equal(cf_hex_decode("00ABcdff", 8, bytes, sizeof(bytes)), 0);
    assert_memory_equal(bytes, "\x00\xab\xcd\xff", 4);
    assert_int_equal(cf_hex_decode("0g", 2, bytes, sizeof(bytes)), CF_EINVAL);
    assert_int_equal(cf_hex_decode("abc", 3, bytes, sizeof(bytes)), CF_EINVAL);
    assert_int_equal(cf_hex_decode("0011223344", 10, bytes, sizeof(bytes)), CF_ETOOBIG);
    assert_true(cf_is_lower_hex("00abcdff", 8));
    assert_false(cf_is_lower_hex("00ABcdff", 8));
    assert_false(cf_is_lower_hex("00ab", 8));
}

static void test_sha256_matches_the_known_digest(void **state)
{
    (void)state;
    char hex[CF_SHA256_HEX_LEN + 1];

    assert_int_equal(cf_sha256_hex("abc", 3, hex), 0);
    assert_string_equal(hex, "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
}

/* --- strings --- */

static void test_parse_i64_is_strict(void **state)
{
    (void)state;
    int64_t v = 0;

    assert_int_equal(cf_parse_i64("42", 0, 100, &v), 0);
    assert_int_equal(v, 42);
    assert_int_equal(cf_parse_i64("-5", -10, 10, &v), 0);
    assert_int_equal(v, -5);
    assert_int_equal(cf_parse_i64("", 0, 100, &v), CF_EINVAL);
    assert_int_equal(cf_parse_i64(" 4", 0, 100, &v), CF_EINVAL);
    assert_int_equal(cf_parse_i64("+4", 0, 100, &v), CF_EINVAL);
    assert_int_equal(cf_parse_i64("4x", 0, 100, &v), CF_EINVAL);
    assert_int_equal(cf_parse_i64("101", 0, 100, &v), CF_ETOOBIG);
    assert_int_equal(cf_parse_i64("99999999999999999999", 0, INT64_MAX, &v), CF_ETOOBIG);
}

static void test_fmt_reports_truncation(void **state)
{
    (void)state;
    char small[4];

    assert_int_equal(cf_fmt(small, sizeof(small), "%s", "abc"), 0);
    assert_int_equal(cf_fmt(small, sizeof(small), "%s", "abcd"), CF_ETOOBIG);
}

static void test_utf8_validation_and_sanitising(void **state)
{
    (void)state;
    char out[64];

    assert_true(cf_utf8_valid((const uint8_t *)"h\xc3\xa9llo \xe2\x82\xac", 10));
    assert_false(cf_utf8_valid((const uint8_t *)"\xc0\xaf", 2));         /* overlong */
    assert_false(cf_utf8_valid((const uint8_t *)"\xed\xa0\x80", 3));     /* surrogate */
    assert_false(cf_utf8_valid((const uint8_t *)"\xf4\x90\x80\x80", 4)); /* > U+10FFFF */
    assert_false(cf_utf8_valid((const uint8_t *)"\xe2\x82", 2));         /* cut */
    cf_utf8_sanitize("ab\xff"
                     "c",
                     4, 128, out, sizeof(out));
    assert_string_equal(out, "ab\xef\xbf\xbd"
                             "c");
    cf_utf8_sanitize("abcdef", 6, 3, out, sizeof(out));
    assert_string_equal(out, "abc");
}

/* --- time --- */

static void test_timestamps_always_have_six_fraction_digits(void **state)
{
    (void)state;
    char ts[CF_TIME_STR_LEN];
    int64_t us;

    cf_time_format(0, ts);
    assert_string_equal(ts, "1970-01-01T00:00:00.000000+00:00");
    assert_int_equal(cf_time_parse_rfc3339("2025-02-14T15:27:41.123456Z", &us), 0);
    cf_time_format(us, ts);
    assert_string_equal(ts, "2025-02-14T15:27:41.123456+00:00");
    assert_int_equal(cf_time_parse_rfc3339("2025-02-14T16:27:41+01:00", &us), 0);
    cf_time_format(us, ts);
    assert_string_equal(ts, "2025-02-14T15:27:41.000000+00:00");
    assert_int_equal(cf_time_parse_rfc3339("2024-02-29t00:00:00.5z", &us), 0);
}

static void test_http_dates_match_the_c_library(void **state)
{
    (void)state;
    char got[CF_HTTP_DATE_LEN], want[64];

    cf_http_date(784111777, got); /* RFC 9110's example */
    assert_string_equal(got, "Sun, 06 Nov 1994 08:49:37 GMT");
    cf_http_date(0, got);
    assert_string_equal(got, "Thu, 01 Jan 1970 00:00:00 GMT");
    cf_http_date(951782400, got); /* a leap day */
    assert_string_equal(got, "Tue, 29 Feb 2000 00:00:00 GMT");
    /* every day from 1970 to 2100 at a varying time of day, against gmtime_r in the C locale */
    for (int64_t t = 0; t < 4102444800LL; t += 86400 + 3607) {
        time_t tt = (time_t)t;
        struct tm tm;
        assert_non_null(gmtime_r(&tt, &tm));
        assert_true(strftime(want, sizeof(want), "%a, %d %b %Y %H:%M:%S GMT", &tm) > 0);
        cf_http_date(t, got);
        assert_string_equal(got, want);
    }
}

static void test_rfc3339_parsing_rejects_malformed_dates(void **state)
{
    (void)state;
    int64_t us;

    assert_int_equal(cf_time_parse_rfc3339("2025-02-14 15:27:41Z", &us), CF_EINVAL);
    assert_int_equal(cf_time_parse_rfc3339("2025-02-14T15:27:41", &us), CF_EINVAL);
    assert_int_equal(cf_time_parse_rfc3339("2025-02-30T00:00:00Z", &us), CF_EINVAL);
    assert_int_equal(cf_time_parse_rfc3339("2023-02-29T00:00:00Z", &us), CF_EINVAL);
    assert_int_equal(cf_time_parse_rfc3339("2025-13-01T00:00:00Z", &us), CF_EINVAL);
    assert_int_equal(cf_time_parse_rfc3339("2025-01-01T24:00:00Z", &us), CF_EINVAL);
    assert_int_equal(cf_time_parse_rfc3339("2025-01-01T00:00:00.Z", &us), CF_EINVAL);
    assert_int_equal(cf_time_parse_rfc3339("2025-01-01T00:00:00Zjunk", &us), CF_EINVAL);
}

static void test_durations_parse_units_and_refuse_junk(void **state)
{
    (void)state;
    int64_t s;

    assert_int_equal(cf_parse_duration("90m", &s), 0);
    assert_int_equal(s, 5400);
    assert_int_equal(cf_parse_duration("12h", &s), 0);
    assert_int_equal(s, 43200);
    assert_int_equal(cf_parse_duration("30d", &s), 0);
    assert_int_equal(s, 2592000);
    assert_int_equal(cf_parse_duration("60s", &s), 0);
    assert_int_equal(cf_parse_duration("30", &s), CF_EINVAL);
    assert_int_equal(cf_parse_duration("-3d", &s), CF_EINVAL);
    assert_int_equal(cf_parse_duration("3w", &s), CF_EINVAL);
    assert_int_equal(cf_parse_duration("99999999d", &s), CF_ETOOBIG);
}

/* --- configuration --- */

static int load(struct cf_config *cfg, int argc, char **argv, char *err, size_t cap)
{
    char *rest[16];
    int nrest;
    return cf_config_load(cfg, argc, argv, rest, &nrest, err, cap);
}

static void clear_env(void)
{
    unsetenv("COFFER_LISTEN");
    unsetenv("COFFER_THREADS");
    unsetenv("COFFER_LOG_LEVEL");
    unsetenv("COFFER_KMS_BACKEND");
    unsetenv("COFFER_DATABASE_URL");
}

static void test_config_defaults_env_and_flags_in_that_order(void **state)
{
    (void)state;
    struct cf_config cfg;
    char err[256];
    char *argv[] = { "cofferd", "--threads", "7", "serve", "--listen=:9090", NULL };
    char *rest[8];
    int nrest;

    clear_env();
    setenv("COFFER_THREADS", "3", 1);
    setenv("COFFER_LOG_LEVEL", "warn", 1);
    assert_int_equal(cf_config_load(&cfg, 5, argv, rest, &nrest, err, sizeof(err)), 0);
    assert_int_equal(cfg.threads, 7);           /* flag over env */
    assert_string_equal(cfg.log_level, "warn"); /* env over default */
    assert_string_equal(cfg.listen, ":9090");
    assert_string_equal(cfg.kms_backend, "local"); /* default */
    assert_int_equal(cfg.db_pool_size, 8);
    assert_int_equal(nrest, 1);
    assert_string_equal(rest[0], "serve");
    cf_config_free(&cfg);
    clear_env();
}

static void test_config_names_the_setting_in_every_error(void **state)
{
    (void)state;
    struct cf_config cfg;
    char err[256];
    char *bad_flag[] = { "cofferd", "--threads", "0", NULL };
    char *missing[] = { "cofferd", "--listen", NULL };

    clear_env();
    assert_int_equal(load(&cfg, 3, bad_flag, err, sizeof(err)), CF_ECONFIG);
    assert_non_null(strstr(err, "--threads"));
    cf_config_free(&cfg);
    assert_int_equal(load(&cfg, 2, missing, err, sizeof(err)), CF_ECONFIG);
    assert_non_null(strstr(err, "--listen needs a value"));
    cf_config_free(&cfg);

    setenv("COFFER_KMS_BACKEND", "vault", 1);
    assert_int_equal(load(&cfg, 1, bad_flag, err, sizeof(err)), CF_ECONFIG);
    assert_non_null(strstr(err, "COFFER_KMS_BACKEND"));
    cf_config_free(&cfg);
    clear_env();

    setenv("COFFER_LISTEN", "localhost", 1);
    assert_int_equal(load(&cfg, 1, bad_flag, err, sizeof(err)), CF_ECONFIG);
    assert_non_null(strstr(err, "COFFER_LISTEN"));
    cf_config_free(&cfg);
    clear_env();
}

static void test_config_never_echoes_a_database_url(void **state)
{
    (void)state;
    struct cf_config cfg;
    char err[256];
    char *argv[] = { "cofferd", "--database-url", "postgresql://u:s3cret@h/db", "--threads", "x",
                     NULL };

    clear_env();
    assert_int_equal(load(&cfg, 5, argv, err, sizeof(err)), CF_ECONFIG);
    assert_null(strstr(err, "s3cret"));
    cf_config_free(&cfg);
}

static void test_config_serve_checks_pairs_of_settings(void **state)
{
    (void)state;
    struct cf_config cfg;
    char err[256];
    char *tls[] = { "cofferd", "--tls-cert", "/x.pem", NULL };
    char *auth[] = { "cofferd", "--auth-key", "alias/a", NULL };

    clear_env();
    assert_int_equal(load(&cfg, 3, tls, err, sizeof(err)), 0);
    assert_int_equal(cf_config_check_serve(&cfg, err, sizeof(err)), CF_ECONFIG);
    assert_non_null(strstr(err, "COFFER_TLS_KEY"));
    cf_config_free(&cfg);
    assert_int_equal(load(&cfg, 3, auth, err, sizeof(err)), 0);
    assert_int_equal(cf_config_check_serve(&cfg, err, sizeof(err)), CF_ECONFIG);
    assert_non_null(strstr(err, "COFFER_AUTH_CONTEXT"));
    cf_config_free(&cfg);
}

static void test_listen_addresses_split_into_host_and_port(void **state)
{
    (void)state;
    char host[64];
    int port;

    assert_int_equal(cf_config_listen_parts("127.0.0.1:8080", host, sizeof(host), &port), 0);
    assert_string_equal(host, "127.0.0.1");
    assert_int_equal(port, 8080);
    assert_int_equal(cf_config_listen_parts(":80", host, sizeof(host), &port), 0);
    assert_string_equal(host, "");
    assert_int_equal(cf_config_listen_parts("[::1]:443", host, sizeof(host), &port), 0);
    assert_string_equal(host, "[::1]");
    assert_int_equal(cf_config_listen_parts("127.0.0.1", host, sizeof(host), &port), CF_EINVAL);
    assert_int_equal(cf_config_listen_parts("h:70000", host, sizeof(host), &port), CF_EINVAL);
    assert_int_equal(cf_config_listen_parts("::1:80", host, sizeof(host), &port), CF_EINVAL);
    assert_int_equal(cf_config_listen_parts("a b:80", host, sizeof(host), &port), CF_EINVAL);
}

static bool depth_ok(const char *s, size_t max)
{
    return cf_json_depth_ok(s, strlen(s), max);
}

static void test_json_depth_counts_brackets_outside_strings_only(void **state)
{
    (void)state;
    assert_true(depth_ok("", 0));
    assert_true(depth_ok("1", 0));
    assert_false(depth_ok("[]", 0));
    assert_true(depth_ok("[[]]", 2));
    assert_false(depth_ok("[[[]]]", 2));
    assert_true(depth_ok("[[],[],{\"a\":[]}]", 3)); /* siblings do not add up */
    assert_false(depth_ok("[[],[],{\"a\":[]}]", 2));
    assert_false(depth_ok("{\"a\":{\"b\":[1]}}", 2));
    assert_true(depth_ok("{\"[[[[\":\"{{{{\"}", 1)); /* brackets in strings do not count */
    assert_true(depth_ok("[\"\\\"[[[[\"]", 1));      /* nor after an escaped quote */
    assert_false(depth_ok("[\"\\\\\"[[]]", 2));      /* an escaped backslash ends no string */
    assert_true(depth_ok("]]]]][", 1));              /* unbalanced: the parser's to refuse */
    assert_true(depth_ok("[\"unterminated [[[[", 1));
}

static void test_json_parse_refuses_deep_nesting_before_jansson(void **state)
{
    (void)state;
    struct cf_buf b = { 0 };
    enum cf_json_error why = CF_JSON_OK;

    for (size_t i = 0; i < CF_JSON_MAX_DEPTH; i++)
        cf_buf_append_char(&b, '[');
    for (size_t i = 0; i < CF_JSON_MAX_DEPTH; i++)
        cf_buf_append_char(&b, ']');
    json_t *v = cf_json_parse(b.data, b.len, 0, &why);
    assert_non_null(v); /* exactly the limit parses */
    assert_int_equal(why, CF_JSON_OK);
    json_decref(v);
    cf_buf_reset(&b);
    for (size_t i = 0; i < 200000; i++) /* far past what a worker thread's stack survives */
        cf_buf_append_char(&b, '{');
    assert_null(cf_json_parse(b.data, b.len, 0, &why));
    assert_int_equal(why, CF_JSON_TOO_DEEP);
    cf_buf_free(&b);
    assert_null(cf_json_parse("{\"a\":1,\"a\":2}", 13, JSON_REJECT_DUPLICATES, &why));
    assert_int_equal(why, CF_JSON_INVALID);
    assert_null(cf_json_parse("{\"a\\u0000\":1}", 13, JSON_ALLOW_NUL, &why));
    assert_int_equal(why, CF_JSON_NUL_IN_KEY);
    assert_null(cf_json_parse(NULL, 0, 0, &why));
    assert_int_equal(why, CF_JSON_INVALID);
    assert_null(cf_json_parse("", 0, 0, NULL)); /* why_out may be NULL */
}

int main(void)
{
    cf_json_init();
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_secret_free_wipes_the_bytes_before_release),
        cmocka_unit_test(test_secret_free_empties_it_and_is_safe_to_repeat),
        cmocka_unit_test(test_secret_alloc_refuses_more_than_the_maximum),
        cmocka_unit_test(test_secret_move_leaves_the_source_empty_and_frees_the_target),
        cmocka_unit_test(test_secret_eq_compares_contents),
        cmocka_unit_test(test_buf_growth_wipes_the_old_block),
        cmocka_unit_test(test_json_frees_through_the_zeroing_allocator),
        cmocka_unit_test(test_size_helpers_catch_overflow),
        cmocka_unit_test(test_base64_matches_rfc4648_vectors),
        cmocka_unit_test(test_base64_strict_decoding_rejects_everything_else),
        cmocka_unit_test(test_base64_decode_refuses_a_small_output_buffer),
        cmocka_unit_test(test_hex_round_trips_and_rejects_bad_digits),
        cmocka_unit_test(test_sha256_matches_the_known_digest),
        cmocka_unit_test(test_parse_i64_is_strict),
        cmocka_unit_test(test_fmt_reports_truncation),
        cmocka_unit_test(test_utf8_validation_and_sanitising),
        cmocka_unit_test(test_timestamps_always_have_six_fraction_digits),
        cmocka_unit_test(test_http_dates_match_the_c_library),
        cmocka_unit_test(test_rfc3339_parsing_rejects_malformed_dates),
        cmocka_unit_test(test_durations_parse_units_and_refuse_junk),
        cmocka_unit_test(test_config_defaults_env_and_flags_in_that_order),
        cmocka_unit_test(test_config_names_the_setting_in_every_error),
        cmocka_unit_test(test_config_never_echoes_a_database_url),
        cmocka_unit_test(test_config_serve_checks_pairs_of_settings),
        cmocka_unit_test(test_listen_addresses_split_into_host_and_port),
        cmocka_unit_test(test_json_depth_counts_brackets_outside_strings_only),
        cmocka_unit_test(test_json_parse_refuses_deep_nesting_before_jansson),
    };
    return t_run_group_tests(tests, NULL, NULL);
}
