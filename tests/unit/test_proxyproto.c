/* test_proxyproto.c - common/cf_proxyproto.c: PROXY protocol v1 and v2 headers, whole, cut at
 * every byte, and broken. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "cf_proxyproto.h"
#include "trun.h"

static const uint8_t sig[12] = { 0x0d, 0x0a, 0x0d, 0x0a, 0x00, 0x0d,
                                 0x0a, 0x51, 0x55, 0x49, 0x54, 0x0a };

/* Every proper prefix of a valid header is a valid beginning (complete false, and never an
 * error), and the whole is complete. */
static void check_prefixes(const uint8_t *h, size_t n, size_t complete_at)
{
    struct cf_pp_header out;

    for (size_t i = 0; i < complete_at; i++) {
        int r = cf_pp_parse(h, i, &out);
        if (r != 0 || out.complete)
            fail_msg("prefix of %zu bytes: r %d complete %d", i, r, (int)out.complete);
    }
    for (size_t i = complete_at; i <= n; i++) {
        assert_int_equal(cf_pp_parse(h, i, &out), 0);
        assert_true(out.complete);
    }
}

static void src_is(const struct cf_pp_header *h, const char *want)
{
    char s[CF_ADDR_STR_MAX];
    cf_addr_format(&h->src, s);
    assert_string_equal(s, want);
}

static void test_v1_valid(void **state)
{
    (void)state;
    struct cf_pp_header h;
    const char *tcp4 = "PROXY TCP4 198.51.100.7 10.0.0.2 56324 443\r\nGET / HTTP/1.1\r\n";
    const char *tcp6 = "PROXY TCP6 2001:db8::7 2001:db8::1 65535 0\r\n\x16\x03\x01";
    const char *unk = "PROXY UNKNOWN\r\n";
    const char *unk2 = "PROXY UNKNOWN ffff:f...f:ffff ffff:f...f:ffff 65535 65535\r\n";

    assert_int_equal(cf_pp_parse((const uint8_t *)tcp4, strlen(tcp4), &h), 0);
    assert_true(h.complete);
    assert_int_equal(h.version, 1);
    assert_int_equal(h.kind, CF_PP_ADDRESSES);
    assert_int_equal(h.len, strlen("PROXY TCP4 198.51.100.7 10.0.0.2 56324 443\r\n"));
    src_is(&h, "198.51.100.7");
    assert_int_equal(h.src_port, 56324);
    assert_int_equal(h.dst_port, 443);
    check_prefixes((const uint8_t *)tcp4, strlen(tcp4), h.len);

    assert_int_equal(cf_pp_parse((const uint8_t *)tcp6, strlen(tcp6), &h), 0);
    assert_int_equal(h.kind, CF_PP_ADDRESSES);
    src_is(&h, "2001:db8::7");
    assert_int_equal(h.src_port, 65535);
    assert_int_equal(h.len, strlen(tcp6) - 3);
    check_prefixes((const uint8_t *)tcp6, strlen(tcp6), h.len);

    assert_int_equal(cf_pp_parse((const uint8_t *)unk, strlen(unk), &h), 0);
    assert_int_equal(h.kind, CF_PP_UNKNOWN);
    assert_int_equal(h.len, 15);
    check_prefixes((const uint8_t *)unk, strlen(unk), 15);
    assert_int_equal(cf_pp_parse((const uint8_t *)unk2, strlen(unk2), &h), 0);
    assert_int_equal(h.kind, CF_PP_UNKNOWN);

    /* the longest header the spec allows: 107 bytes */
    char longest[200];
    memset(longest, 0, sizeof(longest));
    memcpy(longest, "PROXY UNKNOWN ", 14);
    memset(longest + 14, 'x', 107 - 14 - 2);
    memcpy(longest + 105, "\r\n", 2);
    assert_int_equal(cf_pp_parse((const uint8_t *)longest, 107, &h), 0);
    assert_int_equal(h.len, 107);
    /* one more byte before CR LF is too long */
    memset(longest + 105, 'x', 1);
    memcpy(longest + 106, "\r\n", 2);
    assert_int_equal(cf_pp_parse((const uint8_t *)longest, 108, &h), CF_EINVAL);
    assert_int_equal(cf_pp_parse((const uint8_t *)longest, 107, &h), CF_EINVAL);
}

static void test_v1_malformed(void **state)
{
    (void)state;
    struct cf_pp_header h;
    const char *bad[] = {
        "GET / HTTP/1.1\r\n\r\n",
        "PROXY\r\n",
        "PROXY \r\n",
        "PROXY TCP4\r\n",
        "PROXY TCP5 1.2.3.4 5.6.7.8 1 2\r\n",
        "proxy TCP4 1.2.3.4 5.6.7.8 1 2\r\n",
        "PROXY TCP4 1.2.3.4 5.6.7.8 1 2\n",
        "PROXY TCP4 1.2.3.4 5.6.7.8 1 2 \r\n",
        "PROXY TCP4 1.2.3.4  5.6.7.8 1 2\r\n",
        "PROXY TCP4 1.2.3.4 5.6.7.8 1\r\n",
        "PROXY TCP4 1.2.3.4 5.6.7.8 1 2 3\r\n",
        "PROXY TCP4 1.2.3.4 5.6.7.8 65536 2\r\n",
        "PROXY TCP4 1.2.3.4 5.6.7.8 01 2\r\n",
        "PROXY TCP4 1.2.3.4 5.6.7.8 -1 2\r\n",
        "PROXY TCP4 1.2.3 5.6.7.8 1 2\r\n",
        "PROXY TCP4 ::1 5.6.7.8 1 2\r\n",
        "PROXY TCP6 1.2.3.4 ::1 1 2\r\n",
        "PROXY TCP6 ::1 ::g 1 2\r\n",
        "PROXY TCP4 1.2.3.4 5.6.7.8 1 2\r\r\n",
        "PROXY TCP4 1.2.3.4\x1b 5.6.7.8 1 2\r\n",
        "PROXY TCP4 1.2.3.4\t5.6.7.8 1 2\r\n",
    };
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        if (cf_pp_parse((const uint8_t *)bad[i], strlen(bad[i]), &h) != CF_EINVAL)
            fail_msg("case %zu was accepted: %s", i, bad[i]);
    }
    /* a NUL and other bytes never in a header are refused before the line ends */
    assert_int_equal(cf_pp_parse((const uint8_t *)"PROXY TCP4 \0", 12, &h), CF_EINVAL);
    assert_int_equal(cf_pp_parse((const uint8_t *)"PROXY TCP4 \xff", 12, &h), CF_EINVAL);
    /* 107 bytes and no LF: not a header, however the line goes on */
    char junk[300];
    memcpy(junk, "PROXY ", 6);
    memset(junk + 6, 'A', sizeof(junk) - 6);
    assert_int_equal(cf_pp_parse((const uint8_t *)junk, 106, &h), 0);
    assert_false(h.complete);
    assert_int_equal(cf_pp_parse((const uint8_t *)junk, 107, &h), CF_EINVAL);
    assert_int_equal(cf_pp_parse((const uint8_t *)junk, sizeof(junk), &h), CF_EINVAL);
}

/* A v2 header: signature, ver_cmd, fam, the address block and extra bytes (TLVs). */
static size_t v2(uint8_t *out, uint8_t ver_cmd, uint8_t fam, const uint8_t *addrs, size_t alen,
                 size_t extra, size_t declared_len)
{
    memcpy(out, sig, 12);
    out[12] = ver_cmd;
    out[13] = fam;
    out[14] = (uint8_t)(declared_len >> 8);
    out[15] = (uint8_t)(declared_len & 0xff);
    if (alen > 0)
        memcpy(out + 16, addrs, alen);
    memset(out + 16 + alen, 0xee, extra);
    return 16 + alen + extra;
}

static void test_v2_valid(void **state)
{
    (void)state;
    uint8_t buf[600];
    struct cf_pp_header h;
    const uint8_t a4[12] = { 198, 51, 100, 7, 10, 0, 0, 2, 0xdc, 0x04, 0x01, 0xbb };
    uint8_t a6[36] = { 0 };

    /* TCP4 */
    size_t n = v2(buf, 0x21, 0x11, a4, 12, 0, 12);
    assert_int_equal(cf_pp_parse(buf, n, &h), 0);
    assert_true(h.complete);
    assert_int_equal(h.version, 2);
    assert_int_equal(h.kind, CF_PP_ADDRESSES);
    assert_int_equal(h.len, 28);
    src_is(&h, "198.51.100.7");
    assert_int_equal(h.src_port, 56324);
    assert_int_equal(h.dst_port, 443);
    check_prefixes(buf, n, 28);

    /* TCP6, with TLVs: complete once the addresses are there; len covers the TLVs */
    a6[0] = 0x20;
    a6[1] = 0x01;
    a6[2] = 0x0d;
    a6[3] = 0xb8;
    a6[15] = 7;
    a6[32] = 0x12;
    a6[33] = 0x34;
    n = v2(buf, 0x21, 0x21, a6, 36, 40, 76);
    assert_int_equal(cf_pp_parse(buf, n, &h), 0);
    assert_int_equal(h.len, 16 + 76);
    src_is(&h, "2001:db8::7");
    assert_int_equal(h.src_port, 0x1234);
    check_prefixes(buf, n, 52);

    /* TCP6 carrying an IPv4-mapped source: the IPv4 address */
    memset(a6, 0, 16);
    a6[10] = a6[11] = 0xff;
    a6[12] = 192;
    a6[13] = 0;
    a6[14] = 2;
    a6[15] = 9;
    n = v2(buf, 0x21, 0x21, a6, 36, 0, 36);
    assert_int_equal(cf_pp_parse(buf, n, &h), 0);
    src_is(&h, "192.0.2.9");

    /* LOCAL: the peer is used, whatever the family; the block is skipped */
    n = v2(buf, 0x20, 0x00, NULL, 0, 0, 0);
    assert_int_equal(cf_pp_parse(buf, n, &h), 0);
    assert_int_equal(h.kind, CF_PP_LOCAL);
    assert_int_equal(h.len, 16);
    check_prefixes(buf, n, 16);
    n = v2(buf, 0x20, 0x11, a4, 12, 0, 12);
    assert_int_equal(cf_pp_parse(buf, n, &h), 0);
    assert_int_equal(h.kind, CF_PP_LOCAL);
    assert_int_equal(h.len, 28);

    /* PROXY with UNSPEC, UDP or UNIX: the peer is used */
    n = v2(buf, 0x21, 0x00, NULL, 0, 0, 0);
    assert_int_equal(cf_pp_parse(buf, n, &h), 0);
    assert_int_equal(h.kind, CF_PP_UNKNOWN);
    n = v2(buf, 0x21, 0x12, a4, 12, 0, 12);
    assert_int_equal(cf_pp_parse(buf, n, &h), 0);
    assert_int_equal(h.kind, CF_PP_UNKNOWN);
    uint8_t unix_block[216] = { 0 };
    n = v2(buf, 0x21, 0x31, unix_block, 216, 0, 216);
    assert_int_equal(cf_pp_parse(buf, n, &h), 0);
    assert_int_equal(h.kind, CF_PP_UNKNOWN);
    check_prefixes(buf, n, 16 + 216);
}

static void test_v2_malformed_and_huge(void **state)
{
    (void)state;
    uint8_t buf[600];
    struct cf_pp_header h;
    const uint8_t a4[12] = { 198, 51, 100, 7, 10, 0, 0, 2, 0, 1, 0, 2 };
    size_t n;

    /* version 1 in the binary form, commands 2..15, families not defined */
    for (unsigned vc = 0; vc < 256; vc++) {
        if (vc == 0x20 || vc == 0x21)
            continue;
        n = v2(buf, (uint8_t)vc, 0x11, a4, 12, 0, 12);
        if (cf_pp_parse(buf, n, &h) != CF_EINVAL || cf_pp_parse(buf, 13, &h) != CF_EINVAL)
            fail_msg("ver_cmd 0x%02x was accepted", vc);
    }
    for (unsigned fam = 0; fam < 256; fam++) {
        bool defined = fam == 0x00 || fam == 0x11 || fam == 0x12 || fam == 0x21 || fam == 0x22 ||
                       fam == 0x31 || fam == 0x32;
        n = v2(buf, 0x21, (uint8_t)fam, a4, 12, 300, 312);
        int r = cf_pp_parse(buf, n, &h);
        if (defined != (r == 0))
            fail_msg("family 0x%02x: %d", fam, r);
    }
    /* a length too short for the family's addresses */
    n = v2(buf, 0x21, 0x11, a4, 12, 0, 11);
    assert_int_equal(cf_pp_parse(buf, n, &h), CF_EINVAL);
    n = v2(buf, 0x21, 0x21, a4, 12, 0, 35);
    assert_int_equal(cf_pp_parse(buf, n, &h), CF_EINVAL);
    /* a broken signature, at each byte */
    for (size_t i = 0; i < 12; i++) {
        n = v2(buf, 0x21, 0x11, a4, 12, 0, 12);
        buf[i] ^= 0x40;
        if (cf_pp_parse(buf, n, &h) != CF_EINVAL || cf_pp_parse(buf, i + 1, &h) != CF_EINVAL)
            fail_msg("signature byte %zu changed was accepted", i);
    }
    /* the largest length: complete once the addresses are read, len 16 + 65535 */
    n = v2(buf, 0x21, 0x11, a4, 12, 0, 65535);
    assert_int_equal(cf_pp_parse(buf, n, &h), 0);
    assert_true(h.complete);
    assert_int_equal(h.len, 16 + 65535);
    n = v2(buf, 0x20, 0x00, NULL, 0, 0, 65535);
    assert_int_equal(cf_pp_parse(buf, n, &h), 0);
    assert_int_equal(h.len, 16 + 65535);
    /* nothing at all, and random garbage */
    assert_int_equal(cf_pp_parse(buf, 0, &h), 0);
    assert_false(h.complete);
    srand(7);
    for (int round = 0; round < 20000; round++) {
        size_t len = (size_t)(rand() % 64);
        for (size_t i = 0; i < len; i++)
            buf[i] = (uint8_t)rand();
        if (round % 2 == 0 && len >= 12)
            memcpy(buf, sig, 12);
        if (cf_pp_parse(buf, len, &h) == 0 && h.complete && h.len < 16)
            fail_msg("garbage of %zu bytes parsed as a short v2 header", len);
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_v1_valid),
        cmocka_unit_test(test_v1_malformed),
        cmocka_unit_test(test_v2_valid),
        cmocka_unit_test(test_v2_malformed_and_huge),
    };
    return t_run_group_tests(tests, NULL, NULL);
}
