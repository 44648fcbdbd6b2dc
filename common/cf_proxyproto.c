/* cf_proxyproto.c - the PROXY protocol v1 (text) and v2 (binary) header parser. */
#include "cf_proxyproto.h"

#include <string.h>

static const uint8_t v2_sig[12] = { 0x0d, 0x0a, 0x0d, 0x0a, 0x00, 0x0d,
                                    0x0a, 0x51, 0x55, 0x49, 0x54, 0x0a };
static const char v1_prefix[] = "PROXY ";

/* A port of v1: decimal, 0..65535, no leading zero. */
static int v1_port(const char *s, size_t len, uint16_t *out)
{
    unsigned long v = 0;

    if (len == 0 || len > 5 || (s[0] == '0' && len > 1))
        return CF_EINVAL;
    for (size_t i = 0; i < len; i++) {
        if (s[i] < '0' || s[i] > '9')
            return CF_EINVAL;
        v = v * 10 + (unsigned long)(s[i] - '0');
    }
    if (v > 65535)
        return CF_EINVAL;
    *out = (uint16_t)v;
    return 0;
}

/* An address of v1 for family 4 (dotted quad only) or 6 (IPv6 text only). */
static int v1_addr(const char *s, size_t len, int family, struct cf_addr *out)
{
    bool has_colon = memchr(s, ':', len) != NULL;

    if ((family == 4) == has_colon)
        return CF_EINVAL;
    return cf_addr_parse(s, len, out);
}

/* The whole v1 line, buf[0..n) ending in CR LF. */
static int v1_line(const char *buf, size_t n, struct cf_pp_header *out)
{
    const char *tok[6];
    size_t toklen[6], ntok = 0;
    size_t end = n - 2; /* without CR LF */

    if (buf[end] != '\r')
        return CF_EINVAL;
    for (size_t i = 0; i < end;) {
        size_t j = i;
        while (j < end && buf[j] != ' ')
            j++;
        if (j == i)
            return CF_EINVAL; /* two spaces, or one at an end */
        if (ntok == 6)
            return CF_EINVAL;
        tok[ntok] = buf + i;
        toklen[ntok++] = j - i;
        if (ntok == 2 && toklen[1] == 7 && memcmp(tok[1], "UNKNOWN", 7) == 0) {
            out->kind = CF_PP_UNKNOWN; /* what follows UNKNOWN is ignored (the spec says so) */
            return 0;
        }
        i = j < end ? j + 1 : j;
        if (j < end && j + 1 == end)
            return CF_EINVAL; /* a space before CR LF */
    }
    if (ntok < 2)
        return CF_EINVAL;
    int family;
    if (toklen[1] == 4 && memcmp(tok[1], "TCP4", 4) == 0) {
        family = 4;
    } else if (toklen[1] == 4 && memcmp(tok[1], "TCP6", 4) == 0) {
        family = 6;
    } else {
        return CF_EINVAL;
    }
    if (ntok != 6 || v1_addr(tok[2], toklen[2], family, &out->src) != 0 ||
        v1_addr(tok[3], toklen[3], family, &out->dst) != 0 ||
        v1_port(tok[4], toklen[4], &out->src_port) != 0 ||
        v1_port(tok[5], toklen[5], &out->dst_port) != 0)
        return CF_EINVAL;
    out->kind = CF_PP_ADDRESSES;
    return 0;
}

static int parse_v1(const uint8_t *buf, size_t n, struct cf_pp_header *out)
{
    size_t pl = sizeof(v1_prefix) - 1;

    out->version = 1;
    if (memcmp(buf, v1_prefix, n < pl ? n : pl) != 0)
        return CF_EINVAL;
    for (size_t i = 0; i < n; i++) {
        if (buf[i] == '\n') {
            if (i < pl + 1)
                return CF_EINVAL;
            out->len = i + 1;
            out->complete = true;
            return v1_line((const char *)buf, i + 1, out);
        }
        if (i + 1 >= CF_PP_V1_MAX)
            return CF_EINVAL; /* no LF within 107 bytes */
        /* printable ASCII, and CR only right before LF */
        bool ok = (buf[i] >= 0x20 && buf[i] < 0x7f) ||
                  (buf[i] == '\r' && (i + 1 == n || buf[i + 1] == '\n'));
        if (!ok)
            return CF_EINVAL;
    }
    return 0; /* a valid beginning */
}

static int parse_v2(const uint8_t *buf, size_t n, struct cf_pp_header *out)
{
    size_t need_addr;

    out->version = 2;
    if (memcmp(buf, v2_sig, n < sizeof(v2_sig) ? n : sizeof(v2_sig)) != 0)
        return CF_EINVAL;
    if (n >= 13 && (buf[12] >> 4) != 2)
        return CF_EINVAL; /* version */
    if (n >= 13 && (buf[12] & 0x0f) > 1)
        return CF_EINVAL; /* command: LOCAL or PROXY */
    if (n >= 14) {
        switch (buf[13]) {
        case 0x00: /* UNSPEC */
        case 0x11: /* TCP over IPv4 */
        case 0x12: /* UDP over IPv4 */
        case 0x21: /* TCP over IPv6 */
        case 0x22: /* UDP over IPv6 */
        case 0x31: /* UNIX stream */
        case 0x32: /* UNIX datagram */
            break;
        default:
            return CF_EINVAL;
        }
    }
    if (n < CF_PP_V2_FIXED)
        return 0;
    size_t len = ((size_t)buf[14] << 8) | buf[15];
    bool local = (buf[12] & 0x0f) == 0;
    uint8_t fam = buf[13];
    need_addr = 0; /* LOCAL and UNSPEC: no addresses */
    if (!local && (fam == 0x11 || fam == 0x12))
        need_addr = 12;
    if (!local && (fam == 0x21 || fam == 0x22))
        need_addr = 36;
    if (!local && (fam == 0x31 || fam == 0x32))
        need_addr = CF_PP_V2_ADDR_MAX;
    if (len < need_addr)
        return CF_EINVAL; /* the length cannot hold the family's addresses */
    out->len = CF_PP_V2_FIXED + len;
    if (n < CF_PP_V2_FIXED + need_addr)
        return 0;
    out->complete = true;
    if (local) {
        out->kind = CF_PP_LOCAL;
        return 0;
    }
    const uint8_t *a = buf + CF_PP_V2_FIXED;
    if (fam == 0x11) {
        out->src.family = out->dst.family = 4;
        memcpy(out->src.bytes, a, 4);
        memcpy(out->dst.bytes, a + 4, 4);
        out->src_port = (uint16_t)((a[8] << 8) | a[9]);
        out->dst_port = (uint16_t)((a[10] << 8) | a[11]);
    } else if (fam == 0x21) {
        char s[CF_ADDR_STR_MAX], d[CF_ADDR_STR_MAX];
        struct cf_addr raw = { .family = 6 };
        memcpy(raw.bytes, a, 16);
        cf_addr_format(&raw, s);
        memcpy(raw.bytes, a + 16, 16);
        cf_addr_format(&raw, d);
        /* through the text form: an IPv4-mapped source becomes the IPv4 address */
        if (cf_addr_parse(s, strlen(s), &out->src) != 0 ||
            cf_addr_parse(d, strlen(d), &out->dst) != 0)
            return CF_EINVAL;
        out->src_port = (uint16_t)((a[32] << 8) | a[33]);
        out->dst_port = (uint16_t)((a[34] << 8) | a[35]);
    } else {
        out->kind = CF_PP_UNKNOWN; /* UNSPEC, UDP or UNIX: the peer is used */
        return 0;
    }
    out->kind = CF_PP_ADDRESSES;
    return 0;
}

int cf_pp_parse(const uint8_t *buf, size_t n, struct cf_pp_header *out)
{
    *out = (struct cf_pp_header){ 0 };
    if (n == 0)
        return 0;
    int r = buf[0] == v2_sig[0] ? parse_v2(buf, n, out) : parse_v1(buf, n, out);
    if (r != 0)
        *out = (struct cf_pp_header){ 0 };
    return r;
}
