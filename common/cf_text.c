/* cf_text.c - hidden code points, and text and JSON that show them as escapes. */
#include "cf_text.h"

/* The code point of the well-formed UTF-8 sequence at s[0..len) and its length, or 0 if s
 * does not start with one (a stray continuation byte, a cut or overlong sequence, a surrogate,
 * past U+10FFFF). */
static size_t utf8_next(const uint8_t *s, size_t len, uint32_t *cp_out)
{
    uint32_t cp, min;
    size_t n;

    if (s[0] < 0x80) {
        *cp_out = s[0];
        return 1;
    }
    if (s[0] >= 0xc2 && s[0] <= 0xdf) {
        n = 2;
        min = 0x80;
        cp = s[0] & 0x1fu;
    } else if (s[0] >= 0xe0 && s[0] <= 0xef) {
        n = 3;
        min = 0x800;
        cp = s[0] & 0x0fu;
    } else if (s[0] >= 0xf0 && s[0] <= 0xf4) {
        n = 4;
        min = 0x10000;
        cp = s[0] & 0x07u;
    } else {
        return 0;
    }
    if (n > len)
        return 0;
    for (size_t k = 1; k < n; k++) {
        if ((s[k] & 0xc0) != 0x80)
            return 0;
        cp = (cp << 6) | (s[k] & 0x3fu);
    }
    if (cp < min || cp > 0x10ffff || (cp >= 0xd800 && cp <= 0xdfff))
        return 0;
    *cp_out = cp;
    return n;
}

bool cf_text_hidden(uint32_t cp)
{
    static const uint32_t ranges[][2] = {
        { 0x0000, 0x001f },   { 0x007f, 0x009f },   { 0x00ad, 0x00ad }, { 0x034f, 0x034f },
        { 0x061c, 0x061c },   { 0x115f, 0x1160 },   { 0x17b4, 0x17b5 }, { 0x180b, 0x180f },
        { 0x200b, 0x200f },   { 0x2028, 0x202e },   { 0x2060, 0x206f }, { 0x3164, 0x3164 },
        { 0xfeff, 0xfeff },   { 0xffa0, 0xffa0 },   { 0xfff0, 0xfffb }, { 0x1bca0, 0x1bca3 },
        { 0x1d173, 0x1d17a }, { 0xe0000, 0xe007f },
    };

    for (size_t i = 0; i < sizeof(ranges) / sizeof(ranges[0]); i++) {
        if (cp >= ranges[i][0] && cp <= ranges[i][1])
            return true;
    }
    return false;
}

static void append_hex(struct cf_buf *out, const char *prefix, uint32_t v, int digits)
{
    static const char hex[] = "0123456789abcdef";
    char s[8];

    cf_buf_append_str(out, prefix);
    for (int i = 0; i < digits; i++)
        s[i] = hex[(v >> (4 * (digits - 1 - i))) & 15u];
    cf_buf_append(out, s, (size_t)digits);
}

void cf_text_escape(struct cf_buf *out, const char *s, size_t len, unsigned flags)
{
    const uint8_t *u = (const uint8_t *)s;

    cf_buf_append(out, "", 0); /* out->data is a string even when nothing is appended */
    for (size_t i = 0; i < len;) {
        uint32_t cp = 0;
        size_t n = utf8_next(u + i, len - i, &cp);
        if (n == 0) {
            append_hex(out, "\\x", u[i], 2); /* not UTF-8: the byte itself */
            i++;
            continue;
        }
        if (cp == '\\' || (cp == '"' && (flags & CF_TEXT_QUOTE) != 0)) {
            cf_buf_append_char(out, '\\');
            cf_buf_append_char(out, (char)cp);
        } else if (cp == '\n' || cp == '\r' || cp == '\t') {
            cf_buf_append_str(out, cp == '\n' ? "\\n" : cp == '\r' ? "\\r" : "\\t");
        } else if (cp < 0x20 || cp == 0x7f) {
            append_hex(out, "\\x", cp, 2);
        } else if (!cf_text_hidden(cp)) {
            cf_buf_append(out, s + i, n);
        } else if (cp <= 0xffff) {
            append_hex(out, "\\u", cp, 4);
        } else {
            append_hex(out, "\\U", cp, 8);
        }
        i += n;
    }
}

void cf_text_json_hidden(struct cf_buf *out, const char *json, size_t len)
{
    const uint8_t *u = (const uint8_t *)json;

    cf_buf_append(out, "", 0);
    for (size_t i = 0; i < len;) {
        uint32_t cp = 0;
        size_t n = utf8_next(u + i, len - i, &cp);
        if (n == 0) {
            cf_buf_append_str(out, "\\ufffd");
            i++;
            continue;
        }
        if (cp < 0x7f || !cf_text_hidden(cp)) {
            cf_buf_append(out, json + i, n);
        } else if (cp <= 0xffff) {
            append_hex(out, "\\u", cp, 4);
        } else { /* UTF-16 surrogates, as JSON spells a code point past U+FFFF */
            append_hex(out, "\\u", 0xd800 + ((cp - 0x10000) >> 10), 4);
            append_hex(out, "\\u", 0xdc00 + ((cp - 0x10000) & 0x3ffu), 4);
        }
        i += n;
    }
}
