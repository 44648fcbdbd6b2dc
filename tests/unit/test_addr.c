/* test_addr.c - common/cf_addr.c: addresses, CIDR sets (COFFER_TRUSTED_PROXIES) and the
 * X-Forwarded-For walk. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>

#include "cf_addr.h"
#include "cf_str.h"
#include "trun.h"

static struct cf_addr addr(const char *s)
{
    struct cf_addr a;
    assert_int_equal(cf_addr_parse(s, strlen(s), &a), 0);
    return a;
}

static void test_addresses_parse_with_inet_pton_only(void **state)
{
    (void)state;
    const char *good[] = { "10.0.0.1", "0.0.0.0", "255.255.255.255", "::1", "2001:db8::7", "::" };
    const char *bad[] = { "",           "10.1",         "0x7f.0.0.1", "10.0.0.256",  "10.0.0.1 ",
                          " 10.0.0.1",  "fe80::1%eth0", "[::1]",      "10.0.0.1:80", "localhost",
                          "1.2.3.4/32", "2001:db8:::1" };
    char out[CF_ADDR_STR_MAX];
    struct cf_addr a;

    for (size_t i = 0; i < sizeof(good) / sizeof(good[0]); i++) {
        a = addr(good[i]);
        cf_addr_format(&a, out);
        assert_string_equal(out, good[i]);
    }
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        if (cf_addr_parse(bad[i], strlen(bad[i]), &a) == 0)
            fail_msg("'%s' was taken for an address", bad[i]);
    }
    /* a NUL inside the length is not an address */
    assert_int_equal(cf_addr_parse("10.0.0.1\0x", 10, &a), CF_EINVAL);
    /* IPv4-mapped IPv6 is the IPv4 address */
    a = addr("::ffff:192.0.2.9");
    assert_int_equal(a.family, 4);
    cf_addr_format(&a, out);
    assert_string_equal(out, "192.0.2.9");
    struct cf_addr b = addr("192.0.2.9");
    assert_true(cf_addr_equal(&a, &b));
}

static void test_cidrs_parse_and_refuse_what_is_ambiguous(void **state)
{
    (void)state;
    struct cf_cidr c;
    const char *bad[] = { "10.0.0.0/33",        "10.0.0.1/8",  "::/129",
                          "10.0.0.0/",          "/8",          "10.0.0.0/08",
                          "10.0.0.0/-1",        "10.0.0.0/8x", "2001:db8::1/32",
                          "::ffff:10.0.0.0/95", "10.0.0.0 /8" };

    assert_int_equal(cf_cidr_parse("10.0.0.0/8", 10, &c), 0);
    assert_int_equal(c.bits, 8);
    assert_int_equal(cf_cidr_parse("127.0.0.1", 9, &c), 0);
    assert_int_equal(c.bits, 32);
    assert_int_equal(cf_cidr_parse("2001:db8::/32", 13, &c), 0);
    assert_int_equal(c.bits, 32);
    assert_int_equal(cf_cidr_parse("::1", 3, &c), 0);
    assert_int_equal(c.bits, 128);
    assert_int_equal(cf_cidr_parse("0.0.0.0/0", 9, &c), 0);
    assert_int_equal(c.bits, 0);
    assert_int_equal(cf_cidr_parse("::ffff:10.0.0.0/104", 19, &c), 0);
    assert_int_equal(c.addr.family, 4);
    assert_int_equal(c.bits, 8);
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        if (cf_cidr_parse(bad[i], strlen(bad[i]), &c) == 0)
            fail_msg("'%s' was taken for a CIDR", bad[i]);
    }
}

static void test_sets_match_v4_v6_and_mapped_peers(void **state)
{
    (void)state;
    struct cf_cidr_set set;
    char err[200];
    struct cf_addr a;

    assert_int_equal(
        cf_cidr_set_parse(" 10.0.0.0/8, 2001:db8::/32,127.0.0.1/32 ,\t192.168.1.128/25", &set, err,
                          sizeof(err)),
        0);
    assert_int_equal(set.n, 4);
    const char *in[] = { "10.255.1.2", "::ffff:10.0.0.1", "2001:db8:ffff::1",
                         "127.0.0.1",  "192.168.1.200",   "::ffff:127.0.0.1" };
    const char *out[] = {
        "11.0.0.1",      "127.0.0.2",       "2001:db9::1", "::1",
        "192.168.1.127", "::ffff:11.0.0.1", "::a00:1" /* ::10.0.0.1, IPv4-compatible: not mapped
                                                       */
    };
    for (size_t i = 0; i < sizeof(in) / sizeof(in[0]); i++) {
        a = addr(in[i]);
        if (!cf_cidr_set_contains(&set, &a))
            fail_msg("%s should be in the set", in[i]);
    }
    for (size_t i = 0; i < sizeof(out) / sizeof(out[0]); i++) {
        a = addr(out[i]);
        if (cf_cidr_set_contains(&set, &a))
            fail_msg("%s should not be in the set", out[i]);
    }
    /* empty: nothing is trusted */
    assert_int_equal(cf_cidr_set_parse("", &set, err, sizeof(err)), 0);
    assert_int_equal(set.n, 0);
    assert_int_equal(cf_cidr_set_parse("  ", &set, err, sizeof(err)), 0);
    assert_int_equal(set.n, 0);
    a = addr("127.0.0.1");
    assert_false(cf_cidr_set_contains(&set, &a));
    /* 0.0.0.0/0 holds every IPv4 address and no IPv6 one */
    assert_int_equal(cf_cidr_set_parse("0.0.0.0/0", &set, err, sizeof(err)), 0);
    assert_true(cf_cidr_set_contains(&set, &a));
    a = addr("::1");
    assert_false(cf_cidr_set_contains(&set, &a));
}

static void test_a_bad_list_says_which_entry(void **state)
{
    (void)state;
    struct cf_cidr_set set;
    char err[200];
    struct cf_buf big = { 0 };

    assert_int_equal(cf_cidr_set_parse("10.0.0.0/8, 10.0.0.1/8", &set, err, sizeof(err)),
                     CF_ECONFIG);
    assert_non_null(strstr(err, "'10.0.0.1/8'"));
    assert_non_null(strstr(err, "write 10.0.0.0/8"));
    assert_int_equal(cf_cidr_set_parse("2001:db8::1/32", &set, err, sizeof(err)), CF_ECONFIG);
    assert_non_null(strstr(err, "write 2001:db8::/32"));
    assert_int_equal(cf_cidr_set_parse("10.0.0.0/8,,::1", &set, err, sizeof(err)), CF_ECONFIG);
    assert_non_null(strstr(err, "empty entry"));
    assert_int_equal(cf_cidr_set_parse("10.0.0.0/8,", &set, err, sizeof(err)), CF_ECONFIG);
    assert_int_equal(cf_cidr_set_parse("example.com", &set, err, sizeof(err)), CF_ECONFIG);
    assert_non_null(strstr(err, "'example.com'"));
    for (int i = 0; i <= CF_CIDR_SET_MAX; i++)
        assert_int_equal(cf_buf_printf(&big, "%s10.0.%d.0/24", i > 0 ? "," : "", i), 0);
    assert_int_equal(cf_cidr_set_parse(big.data, &set, err, sizeof(err)), CF_ETOOBIG);
    cf_buf_free(&big);
}

/* The client that the walk finds for these header lines, as text ("" when none). */
static enum cf_xff_result walk(const struct cf_cidr_set *trusted, const char *const *v, size_t n,
                               char out[CF_ADDR_STR_MAX])
{
    struct cf_addr c;
    bool found;
    enum cf_xff_result r = cf_xff_client(trusted, v, n, &c, &found);
    out[0] = '\0';
    if (found)
        cf_addr_format(&c, out);
    return r;
}

static void test_xff_walk_takes_the_rightmost_untrusted(void **state)
{
    (void)state;
    struct cf_cidr_set t;
    char err[200], got[CF_ADDR_STR_MAX];

    assert_int_equal(cf_cidr_set_parse("10.0.0.0/8, 2001:db8::/32", &t, err, sizeof(err)), 0);
    struct {
        const char *lines[3];
        size_t n;
        enum cf_xff_result r;
        const char *client;
    } cases[] = {
        { { "198.51.100.7" }, 1, CF_XFF_CLIENT, "198.51.100.7" },
        { { "203.0.113.9, 198.51.100.7, 10.0.0.5" }, 1, CF_XFF_CLIENT, "198.51.100.7" },
        /* a spoofed left part does not matter: the right-most untrusted one is taken */
        { { "1.1.1.1, 198.51.100.7" }, 1, CF_XFF_CLIENT, "198.51.100.7" },
        /* several header lines are one list, in order */
        { { "203.0.113.9", "198.51.100.7", "10.1.1.1, 10.2.2.2" },
          3,
          CF_XFF_CLIENT,
          "198.51.100.7" },
        { { "203.0.113.9, 198.51.100.7", "10.1.1.1" }, 2, CF_XFF_CLIENT, "198.51.100.7" },
        /* every entry trusted: the left-most */
        { { "10.9.9.9, 10.1.1.1", "2001:db8::1" }, 2, CF_XFF_ALL_TRUSTED, "10.9.9.9" },
        /* IPv6, ports, brackets, mapped, spaces, empty elements */
        { { "2001:db9::42" }, 1, CF_XFF_CLIENT, "2001:db9::42" },
        { { "[2001:db9::42]:4711, 10.0.0.1" }, 1, CF_XFF_CLIENT, "2001:db9::42" },
        { { "[2001:db9::42]" }, 1, CF_XFF_CLIENT, "2001:db9::42" },
        { { "198.51.100.7:4711" }, 1, CF_XFF_CLIENT, "198.51.100.7" },
        { { "::ffff:198.51.100.7" }, 1, CF_XFF_CLIENT, "198.51.100.7" },
        { { "::ffff:10.0.0.3, 198.51.100.7 ,\t" }, 1, CF_XFF_CLIENT, "198.51.100.7" },
        { { " 198.51.100.7 ,, 10.0.0.1" }, 1, CF_XFF_CLIENT, "198.51.100.7" },
        /* a malformed entry stops the walk: the last entry read before it, or the peer */
        { { "198.51.100.7, garbage, 10.0.0.1" }, 1, CF_XFF_MALFORMED, "10.0.0.1" },
        { { "198.51.100.7, unknown" }, 1, CF_XFF_MALFORMED, "" },
        { { "198.51.100.7", "10.0.0.1:99999" }, 2, CF_XFF_MALFORMED, "" },
        { { "[10.0.0.1]" }, 1, CF_XFF_MALFORMED, "" },
        { { "[2001:db9::1" }, 1, CF_XFF_MALFORMED, "" },
        { { "2001:db9::1:80" }, 1, CF_XFF_CLIENT, "2001:db9::1:80" }, /* valid IPv6 text */
        { { "198.51.100.7\x1b[2J" }, 1, CF_XFF_MALFORMED, "" },
        /* nothing at all */
        { { "" }, 1, CF_XFF_NONE, "" },
        { { " , ," }, 1, CF_XFF_NONE, "" },
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        enum cf_xff_result r = walk(&t, cases[i].lines, cases[i].n, got);
        if (r != cases[i].r || strcmp(got, cases[i].client) != 0) {
            fail_msg("case %zu ('%s'...): got %d '%s', want %d '%s'", i, cases[i].lines[0], (int)r,
                     got, (int)cases[i].r, cases[i].client);
        }
    }
    /* nothing trusted: the right-most entry */
    struct cf_cidr_set none = { .n = 0 };
    const char *v[] = { "203.0.113.9, 10.0.0.1" };
    assert_int_equal(walk(&none, v, 1, got), CF_XFF_CLIENT);
    assert_string_equal(got, "10.0.0.1");
    /* no lines */
    assert_int_equal(walk(&t, v, 0, got), CF_XFF_NONE);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_addresses_parse_with_inet_pton_only),
        cmocka_unit_test(test_cidrs_parse_and_refuse_what_is_ambiguous),
        cmocka_unit_test(test_sets_match_v4_v6_and_mapped_peers),
        cmocka_unit_test(test_a_bad_list_says_which_entry),
        cmocka_unit_test(test_xff_walk_takes_the_rightmost_untrusted),
    };
    return t_run_group_tests(tests, NULL, NULL);
}
