/* cf_addr.c - IP addresses, CIDR sets and the X-Forwarded-For walk (inet_pton only). */
#include "cf_addr.h"

#include <arpa/inet.h>
#include <string.h>

#include "cf_str.h"

static const uint8_t v4_mapped_prefix[12] = { 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff };

int cf_addr_parse(const char *s, size_t len, struct cf_addr *out)
{
    char text[CF_ADDR_STR_MAX];
    uint8_t b[16];

    *out = (struct cf_addr){ 0 };
    if (len == 0 || len >= sizeof(text) || memchr(s, '\0', len) != NULL)
        return CF_EINVAL;
    memcpy(text, s, len);
    text[len] = '\0';
    if (inet_pton(AF_INET, text, b) == 1) {
        out->family = 4;
        memcpy(out->bytes, b, 4);
        return 0;
    }
    if (inet_pton(AF_INET6, text, b) != 1)
        return CF_EINVAL;
    if (memcmp(b, v4_mapped_prefix, sizeof(v4_mapped_prefix)) == 0) {
        out->family = 4;
        memcpy(out->bytes, b + 12, 4);
        return 0;
    }
    out->family = 6;
    memcpy(out->bytes, b, 16);
    return 0;
}

void cf_addr_format(const struct cf_addr *a, char out[CF_ADDR_STR_MAX])
{
    out[0] = '\0';
    if (a->family != 4 && a->family != 6)
        return;
    if (inet_ntop(a->family == 4 ? AF_INET : AF_INET6, a->bytes, out, CF_ADDR_STR_MAX) == NULL)
        out[0] = '\0';
}

bool cf_addr_equal(const struct cf_addr *a, const struct cf_addr *b)
{
    size_t n = a->family == 4 ? 4 : 16;
    return a->family == b->family && memcmp(a->bytes, b->bytes, n) == 0;
}

/* True if the first bits bits of a and b agree (bits within the family's width). */
static bool prefix_equal(const uint8_t *a, const uint8_t *b, unsigned bits)
{
    unsigned whole = bits / 8, rest = bits % 8;

    if (memcmp(a, b, whole) != 0)
        return false;
    if (rest == 0)
        return true;
    uint8_t mask = (uint8_t)(0xffu << (8 - rest));
    return (a[whole] & mask) == (b[whole] & mask);
}

/* True if no bit past the first bits is set in a (of width bytes). */
static bool host_bits_zero(const uint8_t *a, size_t width, unsigned bits)
{
    for (size_t i = 0; i < width * 8; i++) {
        if (i >= bits && (a[i / 8] & (0x80u >> (i % 8))) != 0)
            return false;
    }
    return true;
}

int cf_cidr_parse(const char *s, size_t len, struct cf_cidr *out)
{
    const char *slash = memchr(s, '/', len);
    size_t alen = slash != NULL ? (size_t)(slash - s) : len;
    char text[CF_ADDR_STR_MAX + 8];
    uint8_t raw[16];
    int64_t bits;

    *out = (struct cf_cidr){ 0 };
    if (alen == 0 || alen >= sizeof(text) || memchr(s, '\0', len) != NULL)
        return CF_EINVAL;
    memcpy(text, s, alen);
    text[alen] = '\0';
    /* an IPv4-mapped network (::ffff:10.0.0.0/104) is the IPv4 network /8 */
    bool mapped = inet_pton(AF_INET6, text, raw) == 1 &&
                  memcmp(raw, v4_mapped_prefix, sizeof(v4_mapped_prefix)) == 0;
    if (cf_addr_parse(s, alen, &out->addr) != 0)
        return CF_EINVAL;
    unsigned width = out->addr.family == 4 ? 32 : 128;
    if (slash == NULL) {
        out->bits = width;
        return 0;
    }
    size_t blen = len - alen - 1;
    char num[4];
    if (blen == 0 || blen >= sizeof(num))
        return CF_EINVAL;
    memcpy(num, slash + 1, blen);
    num[blen] = '\0';
    if ((num[0] == '0' && blen > 1) || cf_parse_i64(num, 0, 128, &bits) != 0 || num[0] == '-')
        return CF_EINVAL;
    if (mapped) {
        if (bits < 96)
            return CF_EINVAL; /* wider than the mapped space: not an IPv4 network */
        bits -= 96;
    }
    if ((unsigned)bits > width || !host_bits_zero(out->addr.bytes, width / 8, (unsigned)bits))
        return CF_EINVAL;
    out->bits = (unsigned)bits;
    return 0;
}

static bool is_ows(char c)
{
    return c == ' ' || c == '\t';
}

/* Trims spaces and tabs around s[0..*len). */
static const char *trim(const char *s, size_t *len)
{
    while (*len > 0 && is_ows(s[0])) {
        s++;
        (*len)--;
    }
    while (*len > 0 && is_ows(s[*len - 1]))
        (*len)--;
    return s;
}

/* True if s[0..len) is "address/bits" that fails only because host bits are set: net gets
 * the network those bits name. */
static bool masked_network(const char *s, size_t len, char net[CF_ADDR_STR_MAX], unsigned *bits)
{
    const char *slash = memchr(s, '/', len);
    struct cf_cidr c;
    struct cf_addr a;

    if (slash == NULL || cf_addr_parse(s, (size_t)(slash - s), &a) != 0)
        return false;
    for (unsigned b = 0; b <= (a.family == 4 ? 32u : 128u); b++) {
        char want[8];
        if (cf_fmt(want, sizeof(want), "%u", b) != 0 ||
            strlen(want) != len - (size_t)(slash - s) - 1 ||
            memcmp(want, slash + 1, strlen(want)) != 0)
            continue;
        for (unsigned i = b; i < (a.family == 4 ? 32u : 128u); i++)
            a.bytes[i / 8] &= (uint8_t) ~(0x80u >> (i % 8));
        cf_addr_format(&a, net);
        *bits = b;
        char text[CF_ADDR_STR_MAX + 8];
        return cf_fmt(text, sizeof(text), "%s/%u", net, b) == 0 &&
               cf_cidr_parse(text, strlen(text), &c) == 0;
    }
    return false;
}

int cf_cidr_set_parse(const char *list, struct cf_cidr_set *out, char *err, size_t errcap)
{
    out->n = 0;
    if (err != NULL && errcap > 0)
        err[0] = '\0';
    if (list[strspn(list, " \t")] == '\0')
        return 0; /* nothing but spaces: the empty set */
    size_t all = strlen(list);
    const char *whole = trim(list, &all);
    if (whole[all - 1] == ',')
        return cf_config_error(err, errcap, "an empty entry (two commas, or one at an end)");
    for (const char *p = list; *p != '\0';) {
        size_t len = strcspn(p, ",");
        size_t elen = len;
        const char *e = trim(p, &elen);
        p += len;
        if (*p == ',')
            p++;
        if (elen == 0)
            return cf_config_error(err, errcap, "an empty entry (two commas, or one at an end)");
        if (out->n == CF_CIDR_SET_MAX) {
            (void)cf_config_error(err, errcap, "more than %d entries", CF_CIDR_SET_MAX);
            return CF_ETOOBIG;
        }
        if (cf_cidr_parse(e, elen, &out->v[out->n]) != 0) {
            char net[CF_ADDR_STR_MAX];
            unsigned bits;
            if (masked_network(e, elen, net, &bits)) {
                return cf_config_error(err, errcap,
                                       "'%.*s' has bits set past its prefix: write %s/%u for the "
                                       "network, or the address alone",
                                       (int)(elen > 60 ? 60 : elen), e, net, bits);
            }
            return cf_config_error(err, errcap,
                                   "'%.*s' is not an IPv4 or IPv6 address or a network "
                                   "address/prefix-length with no host bits set",
                                   (int)(elen > 60 ? 60 : elen), e);
        }
        out->n++;
    }
    return 0;
}

bool cf_cidr_set_contains(const struct cf_cidr_set *set, const struct cf_addr *a)
{
    for (size_t i = 0; i < set->n; i++) {
        const struct cf_cidr *c = &set->v[i];
        if (c->addr.family == a->family && prefix_equal(c->addr.bytes, a->bytes, c->bits))
            return true;
    }
    return false;
}

/* True if s[0..len) is a port: 1 to 5 digits, at most 65535. */
static bool is_port(const char *s, size_t len)
{
    unsigned long v = 0;

    if (len == 0 || len > 5)
        return false;
    for (size_t i = 0; i < len; i++) {
        if (s[i] < '0' || s[i] > '9')
            return false;
        v = v * 10 + (unsigned long)(s[i] - '0');
    }
    return v <= 65535;
}

/* One X-Forwarded-For entry: an address, "[v6]", "[v6]:port" or "v4:port". */
static int xff_entry(const char *s, size_t len, struct cf_addr *out)
{
    if (len > 0 && s[0] == '[') {
        const char *close = memchr(s, ']', len);
        if (close == NULL)
            return CF_EINVAL;
        size_t in = (size_t)(close - s) - 1, after = len - in - 2;
        if (after != 0 && (close[1] != ':' || !is_port(close + 2, after - 1)))
            return CF_EINVAL;
        if (cf_addr_parse(s + 1, in, out) != 0 || memchr(s + 1, ':', in) == NULL)
            return CF_EINVAL; /* brackets hold IPv6 text only */
        return 0;
    }
    const char *colon = memchr(s, ':', len);
    if (colon != NULL && memchr(colon + 1, ':', len - (size_t)(colon - s) - 1) == NULL) {
        size_t alen = (size_t)(colon - s);
        if (!is_port(colon + 1, len - alen - 1) || cf_addr_parse(s, alen, out) != 0 ||
            out->family != 4)
            return CF_EINVAL;
        return 0;
    }
    return cf_addr_parse(s, len, out);
}

enum cf_xff_result cf_xff_client(const struct cf_cidr_set *trusted, const char *const *values,
                                 size_t n, struct cf_addr *client_out, bool *found_out)
{
    struct cf_addr last = { 0 };
    bool found = false;

    *client_out = (struct cf_addr){ 0 };
    *found_out = false;
    for (size_t i = n; i-- > 0;) {
        const char *v = values[i] != NULL ? values[i] : "";
        size_t end = strlen(v);
        for (;;) {
            size_t start = end;
            while (start > 0 && v[start - 1] != ',')
                start--;
            size_t elen = end - start;
            const char *e = trim(v + start, &elen);
            if (elen > 0) {
                struct cf_addr a;
                if (xff_entry(e, elen, &a) != 0) {
                    *client_out = last;
                    *found_out = found;
                    return CF_XFF_MALFORMED;
                }
                last = a;
                found = true;
                if (!cf_cidr_set_contains(trusted, &a)) {
                    *client_out = a;
                    *found_out = true;
                    return CF_XFF_CLIENT;
                }
            }
            if (start == 0)
                break;
            end = start - 1; /* before the comma */
        }
    }
    *client_out = last;
    *found_out = found;
    return found ? CF_XFF_ALL_TRUSTED : CF_XFF_NONE;
}
