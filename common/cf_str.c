/* cf_str.c - checked formatting and parsing, UTF-8 validation, the growable buffer. */
#include "cf_str.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/crypto.h>

#include "cf_mem.h"

int cf_fmt(char *buf, size_t cap, const char *fmt, ...)
{
    va_list ap;

    va_start(ap, fmt);
    /* clang-tidy 14's valist checker loses track of va_start in every file after the first of
     * a multi-file run (each file checked alone is clean) and flags the v*printf call after it.
     * The same NOLINT is in cf_buf_printf(), cf_config_error() and svc_cmd_usage(). */
    // NOLINTNEXTLINE(clang-analyzer-valist.Uninitialized): false positive, see above
    int n = vsnprintf(buf, cap, fmt, ap);
    va_end(ap);
    if (n < 0)
        return CF_EINVAL;
    if ((size_t)n >= cap) /* n >= 0: checked above */
        return CF_ETOOBIG;
    return 0;
}

int cf_config_error(char *err, size_t errcap, const char *fmt, ...)
{
    va_list ap;

    va_start(ap, fmt);
    // NOLINTNEXTLINE(clang-analyzer-valist.Uninitialized): false positive, see cf_fmt()
    int n = vsnprintf(err, errcap, fmt, ap);
    va_end(ap);
    if (n < 0 && errcap > 0)
        err[0] = '\0';
    return CF_ECONFIG;
}

int cf_parse_i64(const char *s, int64_t min, int64_t max, int64_t *out)
{
    const char *p = s;
    char *end = NULL;

    if (s == NULL || *s == '\0')
        return CF_EINVAL;
    if (*p == '-')
        p++;
    if (*p < '0' || *p > '9')
        return CF_EINVAL; /* strtoll would also accept spaces and '+' */
    errno = 0;
    long long v = strtoll(s, &end, 10);
    if (errno == ERANGE)
        return CF_ETOOBIG;
    if (end == s || *end != '\0')
        return CF_EINVAL;
    if (v < min || v > max)
        return CF_ETOOBIG;
    *out = (int64_t)v;
    return 0;
}

static size_t utf8_seq_len(uint8_t c, uint32_t *min_out)
{
    if (c < 0x80) {
        *min_out = 0;
        return 1;
    }
    if (c >= 0xc2 && c <= 0xdf) {
        *min_out = 0x80;
        return 2;
    }
    if (c >= 0xe0 && c <= 0xef) {
        *min_out = 0x800;
        return 3;
    }
    if (c >= 0xf0 && c <= 0xf4) {
        *min_out = 0x10000;
        return 4;
    }
    return 0;
}

bool cf_utf8_valid(const uint8_t *s, size_t len)
{
    size_t i = 0;

    while (i < len) {
        uint32_t min;
        size_t n = utf8_seq_len(s[i], &min);
        if (n == 0 || n > len - i)
            return false;
        if (n == 1) {
            i++;
            continue;
        }
        uint32_t cp = s[i] & (0x7fu >> n);
        for (size_t k = 1; k < n; k++) {
            if ((s[i + k] & 0xc0) != 0x80)
                return false;
            cp = (cp << 6) | (s[i + k] & 0x3fu);
        }
        if (cp < min || cp > 0x10ffff || (cp >= 0xd800 && cp <= 0xdfff))
            return false;
        i += n;
    }
    return true;
}

void cf_utf8_sanitize(const char *in, size_t len, size_t maxbytes, char *out, size_t outcap)
{
    static const char replacement[] = "\xef\xbf\xbd"; /* U+FFFD */
    const uint8_t *u = (const uint8_t *)in;
    size_t o = 0;

    if (outcap == 0)
        return;
    if (len > maxbytes)
        len = maxbytes;
    for (size_t i = 0; i < len;) {
        uint32_t min;
        size_t n = utf8_seq_len(u[i], &min);
        bool ok = n > 0 && n <= len - i && u[i] != 0 && cf_utf8_valid(u + i, n);
        if (!ok)
            n = 1;
        size_t w = ok ? n : 3;
        if (o + w >= outcap)
            break;
        memcpy(out + o, ok ? in + i : replacement, w);
        o += w;
        i += n;
    }
    out[o] = '\0';
}

bool cf_has_prefix(const char *s, const char *prefix)
{
    return strncmp(s, prefix, strlen(prefix)) == 0;
}

static void cf_buf_reserve(struct cf_buf *b, size_t extra)
{
    size_t need;

    if (cf_size_add(b->len, extra, &need) != 0 || cf_size_add(need, 1, &need) != 0)
        abort(); /* a buffer near SIZE_MAX is a bug, not input: inputs are capped earlier */
    if (need <= b->cap)
        return;
    size_t cap = b->cap < 64 ? 64 : b->cap;
    while (cap < need)
        cap = cap > SIZE_MAX / 2 ? need : cap * 2;
    char *p = cf_xmalloc(cap);
    if (b->data != NULL) {
        memcpy(p, b->data, b->len + 1);
        OPENSSL_cleanse(b->data, b->cap);
        free(b->data);
    }
    b->data = p;
    b->cap = cap;
}

void cf_buf_append(struct cf_buf *b, const void *p, size_t n)
{
    cf_buf_reserve(b, n);
    if (n > 0)
        memcpy(b->data + b->len, p, n);
    b->len += n;
    b->data[b->len] = '\0';
}

void cf_buf_append_str(struct cf_buf *b, const char *s)
{
    cf_buf_append(b, s, strlen(s));
}

void cf_buf_append_char(struct cf_buf *b, char c)
{
    cf_buf_append(b, &c, 1);
}

int cf_buf_printf(struct cf_buf *b, const char *fmt, ...)
{
    va_list ap;

    va_start(ap, fmt);
    // NOLINTNEXTLINE(clang-analyzer-valist.Uninitialized): false positive, see cf_fmt()
    int n = vsnprintf(NULL, 0, fmt, ap);
    va_end(ap);
    if (n < 0)
        return CF_EINVAL;
    cf_buf_reserve(b, (size_t)n); /* n >= 0: checked above */
    va_start(ap, fmt);
    n = vsnprintf(b->data + b->len, b->cap - b->len, fmt, ap);
    va_end(ap);
    if (n < 0)
        return CF_EINVAL;
    b->len += (size_t)n;
    return 0;
}

void cf_buf_reset(struct cf_buf *b)
{
    if (b->data != NULL) {
        OPENSSL_cleanse(b->data, b->cap);
        b->data[0] = '\0';
    }
    b->len = 0;
}

void cf_buf_free(struct cf_buf *b)
{
    if (b->data != NULL) {
        OPENSSL_cleanse(b->data, b->cap);
        free(b->data);
    }
    *b = (struct cf_buf){ 0 };
}
