/* cf_codec.c - strict base64 and hex. */
#include "cf_codec.h"

#include <string.h>

static const char b64_std[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
static const char b64_url[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";

size_t cf_b64_encoded_len(enum cf_b64 v, size_t n)
{
    if (v == CF_B64_STD)
        return (n + 2) / 3 * 4;
    return n / 3 * 4 + (n % 3 == 0 ? 0 : n % 3 + 1);
}

int cf_b64_encode(enum cf_b64 v, const uint8_t *in, size_t n, char *out, size_t out_cap)
{
    const char *alpha = v == CF_B64_STD ? b64_std : b64_url;
    size_t need = cf_b64_encoded_len(v, n);
    size_t o = 0, i = 0;

    if (n > (SIZE_MAX / 4) * 3 - 3 || out_cap < need + 1)
        return CF_ETOOBIG;
    for (; i + 3 <= n; i += 3) {
        uint32_t w = (uint32_t)in[i] << 16 | (uint32_t)in[i + 1] << 8 | in[i + 2];
        out[o++] = alpha[(w >> 18) & 63];
        out[o++] = alpha[(w >> 12) & 63];
        out[o++] = alpha[(w >> 6) & 63];
        out[o++] = alpha[w & 63];
    }
    if (i < n) {
        uint32_t w = (uint32_t)in[i] << 16 | (i + 1 < n ? (uint32_t)in[i + 1] << 8 : 0);
        out[o++] = alpha[(w >> 18) & 63];
        out[o++] = alpha[(w >> 12) & 63];
        if (i + 1 < n) {
            out[o++] = alpha[(w >> 6) & 63];
        } else if (v == CF_B64_STD) {
            out[o++] = '=';
        }
        if (v == CF_B64_STD)
            out[o++] = '=';
    }
    out[o] = '\0';
    return 0;
}

size_t cf_b64_decoded_max(size_t len)
{
    return len / 4 * 3 + 3;
}

/* The 6-bit value of c in the alphabet, or -1. */
static int b64_value(enum cf_b64 v, char c)
{
    if (c >= 'A' && c <= 'Z')
        return c - 'A';
    if (c >= 'a' && c <= 'z')
        return c - 'a' + 26;
    if (c >= '0' && c <= '9')
        return c - '0' + 52;
    if (c == (v == CF_B64_STD ? '+' : '-'))
        return 62;
    if (c == (v == CF_B64_STD ? '/' : '_'))
        return 63;
    return -1;
}

/* Strips the padding of a standard encoding; *len_out = significant characters. */
static int b64_unpad(enum cf_b64 v, const char *in, size_t len, size_t *len_out)
{
    if (v == CF_B64_URL) {
        if (len % 4 == 1)
            return CF_EINVAL;
        *len_out = len;
        return 0;
    }
    if (len % 4 != 0)
        return CF_EINVAL;
    size_t pad = 0;
    if (len > 0 && in[len - 1] == '=')
        pad++;
    if (len > 1 && in[len - 2] == '=')
        pad++;
    *len_out = len - pad;
    return 0;
}

int cf_b64_decode(enum cf_b64 v, const char *in, size_t len, uint8_t *out, size_t out_cap,
                  size_t *out_len)
{
    size_t sig, o = 0;
    uint32_t acc = 0;
    int bits = 0;

    *out_len = 0;
    if (b64_unpad(v, in, len, &sig) != 0)
        return CF_EINVAL;
    if (sig / 4 * 3 + (sig % 4 == 0 ? 0 : sig % 4 - 1) > out_cap)
        return CF_ETOOBIG;
    for (size_t i = 0; i < sig; i++) {
        int val = b64_value(v, in[i]);
        if (val < 0)
            return CF_EINVAL; /* also catches '=' in the middle */
        acc = (acc << 6) | (uint32_t)val;
        bits += 6;
        if (bits >= 8) {
            bits -= 8;
            out[o++] = (uint8_t)(acc >> bits);
            acc &= (1u << bits) - 1;
        }
    }
    if (acc != 0)
        return CF_EINVAL; /* non-zero trailing bits: not the canonical encoding */
    *out_len = o;
    return 0;
}

int cf_hex_encode(const uint8_t *in, size_t n, char *out, size_t out_cap)
{
    static const char digits[] = "0123456789abcdef";

    if (n > (SIZE_MAX - 1) / 2 || out_cap < 2 * n + 1)
        return CF_ETOOBIG;
    for (size_t i = 0; i < n; i++) {
        out[2 * i] = digits[in[i] >> 4];
        out[2 * i + 1] = digits[in[i] & 15];
    }
    out[2 * n] = '\0';
    return 0;
}

int cf_hex_digit(char c)
{
    if (c >= '0' && c <= '9')
        return c - '0';
    if (c >= 'a' && c <= 'f')
        return c - 'a' + 10;
    if (c >= 'A' && c <= 'F')
        return c - 'A' + 10;
    return -1;
}

int cf_hex_decode(const char *in, size_t len, uint8_t *out, size_t out_cap)
{
    if (len % 2 != 0)
        return CF_EINVAL;
    if (len / 2 > out_cap)
        return CF_ETOOBIG;
    for (size_t i = 0; i < len; i += 2) {
        int hi = cf_hex_digit(in[i]), lo = cf_hex_digit(in[i + 1]);
        if (hi < 0 || lo < 0)
            return CF_EINVAL;
        out[i / 2] = (uint8_t)(hi << 4 | lo);
    }
    return 0;
}

bool cf_is_lower_hex(const char *s, size_t n)
{
    if (strlen(s) != n)
        return false;
    for (size_t i = 0; i < n; i++) {
        if (!((s[i] >= '0' && s[i] <= '9') || (s[i] >= 'a' && s[i] <= 'f')))
            return false;
    }
    return true;
}
