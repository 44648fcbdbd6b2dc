/* cli_out.c - tables, escaped text and JSON on stdout for the coffer client. */
#include "cli_out.h"

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cf_json.h"
#include "cf_mem.h"
#include "cf_str.h"

void cli_table_init(struct cli_table *t, const char *const *head)
{
    *t = (struct cli_table){ 0 };
    while (t->ncols < CLI_TABLE_COLS && head[t->ncols] != NULL) {
        t->head[t->ncols] = head[t->ncols];
        t->ncols++;
    }
}

void cli_escape(struct cf_buf *out, const char *s, size_t len, unsigned flags)
{
    cf_text_escape(out, s, len, flags);
}

const char *cli_text(struct cf_buf *b, const char *s)
{
    cf_buf_reset(b);
    if (s == NULL)
        s = "-";
    cf_text_escape(b, s, strlen(s), 0);
    return b->data;
}

void cli_print_lines(const char *s, size_t len)
{
    struct cf_buf b = { 0 }; /* may hold values: cleansed when freed */

    for (size_t i = 0; i < len;) {
        const char *nl = memchr(s + i, '\n', len - i);
        size_t n = nl != NULL ? (size_t)(nl - (s + i)) : len - i;
        cf_text_escape(&b, s + i, n, 0);
        if (nl != NULL)
            cf_buf_append_char(&b, '\n');
        i += n + (nl != NULL ? 1 : 0);
    }
    if (b.len > 0)
        (void)fwrite(b.data, 1, b.len, stdout);
    cf_buf_free(&b);
}

static void add_row(struct cli_table *t, const char *const *cells, bool escape)
{
    t->cells = cf_xrealloc(t->cells, (t->nrows + 1) * t->ncols * sizeof(*t->cells));
    for (size_t i = 0; i < t->ncols; i++) {
        struct cf_buf b = { 0 };
        const char *s = cells[i] != NULL ? cells[i] : "-";
        if (escape) {
            cf_text_escape(&b, s, strlen(s), 0);
        } else {
            cf_buf_append_str(&b, s);
        }
        t->cells[t->nrows * t->ncols + i] = cf_xstrndup(b.data, b.len);
        cf_buf_free(&b);
    }
    t->nrows++;
}

void cli_table_row(struct cli_table *t, const char *const *cells)
{
    add_row(t, cells, true);
}

void cli_table_row_made(struct cli_table *t, const char *const *cells)
{
    add_row(t, cells, false);
}

/* The columns cp takes on a terminal: 0 for a combining mark, 2 for an East Asian wide or
 * full-width character (the common blocks; emoji), else 1. */
static size_t cp_width(uint32_t cp)
{
    static const uint32_t zero[][2] = {
        { 0x0300, 0x036f }, { 0x1ab0, 0x1aff }, { 0x1dc0, 0x1dff },
        { 0x20d0, 0x20ff }, { 0xfe00, 0xfe0f }, { 0xfe20, 0xfe2f }
    };
    static const uint32_t wide[][2] = {
        { 0x1100, 0x115f },   { 0x2e80, 0x303e },   { 0x3041, 0x33ff },   { 0x3400, 0x4dbf },
        { 0x4e00, 0x9fff },   { 0xa000, 0xa4cf },   { 0xac00, 0xd7a3 },   { 0xf900, 0xfaff },
        { 0xfe30, 0xfe4f },   { 0xff00, 0xff60 },   { 0xffe0, 0xffe6 },   { 0x1f300, 0x1f64f },
        { 0x1f900, 0x1f9ff }, { 0x20000, 0x2fffd }, { 0x30000, 0x3fffd },
    };
    for (size_t i = 0; i < sizeof(zero) / sizeof(zero[0]); i++) {
        if (cp >= zero[i][0] && cp <= zero[i][1])
            return 0;
    }
    for (size_t i = 0; i < sizeof(wide) / sizeof(wide[0]); i++) {
        if (cp >= wide[i][0] && cp <= wide[i][1])
            return 2;
    }
    return 1;
}

/* The columns an escaped cell takes (well-formed UTF-8: cells are made by cf_text_escape()
 * or are the client's own text). */
static size_t text_width(const char *s)
{
    const unsigned char *u = (const unsigned char *)s;
    size_t w = 0;

    while (*u != '\0') {
        uint32_t cp = *u;
        size_t n = *u < 0x80 ? 1 : *u < 0xe0 ? 2 : *u < 0xf0 ? 3 : 4;
        if (n > 1)
            cp = *u & (0xffu >> (n + 1));
        size_t k = 1;
        for (; k < n && (u[k] & 0xc0) == 0x80; k++)
            cp = (cp << 6) | (u[k] & 0x3fu);
        w += cp_width(cp);
        u += k;
    }
    return w;
}

void cli_table_print(struct cli_table *t)
{
    size_t width[CLI_TABLE_COLS] = { 0 };

    for (size_t c = 0; c < t->ncols; c++) {
        width[c] = text_width(t->head[c]);
        for (size_t r = 0; r < t->nrows; r++) {
            size_t n = text_width(t->cells[r * t->ncols + c]);
            width[c] = n > width[c] ? n : width[c];
        }
    }
    for (size_t r = 0; r <= t->nrows; r++) {
        for (size_t c = 0; c < t->ncols; c++) {
            const char *s = r == 0 ? t->head[c] : t->cells[(r - 1) * t->ncols + c];
            (void)fputs(s, stdout);
            if (c + 1 == t->ncols) {
                (void)fputc('\n', stdout);
                continue;
            }
            for (size_t pad = text_width(s); pad < width[c] + 2; pad++)
                (void)fputc(' ', stdout);
        }
    }
    cli_table_free(t);
}

void cli_table_free(struct cli_table *t)
{
    for (size_t i = 0; i < t->nrows * t->ncols; i++)
        free(t->cells[i]);
    free(t->cells);
    *t = (struct cli_table){ 0 };
}

void cli_print_json(const json_t *v, bool compact)
{
    struct cf_buf b = { 0 }, seen = { 0 };
    size_t flags = compact ? JSON_COMPACT : JSON_INDENT(2);
    if (cf_json_dump_buf(v, flags | JSON_ENCODE_ANY, &b) == 0) {
        if (!compact)
            cf_text_json_hidden(&seen, b.data, b.len);
        const struct cf_buf *out = compact ? &b : &seen;
        (void)fwrite(out->data, 1, out->len, stdout);
        (void)fputc('\n', stdout);
    }
    cf_buf_free(&b);
    cf_buf_free(&seen);
}

static bool is_ws(char c)
{
    return c == ' ' || c == '\t' || c == '\n' || c == '\r';
}

static size_t skip_ws(const char *s, size_t len, size_t i)
{
    while (i < len && is_ws(s[i]))
        i++;
    return i;
}

/* The end (one past the closing quote) of the string token that starts at s[i] == '"', or
 * len if it is not closed. */
static size_t string_end(const char *s, size_t len, size_t i)
{
    for (i++; i < len; i++) {
        if (s[i] == '\\') {
            i++;
        } else if (s[i] == '"') {
            return i + 1;
        }
    }
    return len;
}

/* The end of the JSON value that starts at s[i] (a string, a container with all it holds, or
 * a number or literal), or len. */
static size_t value_end(const char *s, size_t len, size_t i)
{
    size_t depth = 0;

    if (i >= len)
        return len;
    if (s[i] == '"')
        return string_end(s, len, i);
    if (s[i] != '{' && s[i] != '[') {
        while (i < len && !is_ws(s[i]) && s[i] != ',' && s[i] != ']' && s[i] != '}')
            i++;
        return i;
    }
    for (; i < len; i++) {
        if (s[i] == '"') {
            i = string_end(s, len, i) - 1;
        } else if (s[i] == '{' || s[i] == '[') {
            depth++;
        } else if ((s[i] == '}' || s[i] == ']') && --depth == 0) {
            return i + 1;
        }
    }
    return len;
}

void cli_json_compact(struct cf_buf *out, const char *s, size_t len)
{
    cf_buf_append(out, "", 0);
    for (size_t i = 0; i < len;) {
        if (s[i] == '"') {
            size_t end = string_end(s, len, i);
            cf_buf_append(out, s + i, end - i);
            i = end;
        } else {
            if (!is_ws(s[i]))
                cf_buf_append_char(out, s[i]);
            i++;
        }
    }
}

long cli_json_items(const char *json, size_t len, const char *member, struct cf_buf *lines)
{
    size_t i = skip_ws(json, len, 0), mlen = strlen(member);

    if (i >= len || json[i] != '{')
        return -1;
    for (i = skip_ws(json, len, i + 1); i < len && json[i] == '"';) {
        size_t kend = string_end(json, len, i);
        bool match = kend - i == mlen + 2 && memcmp(json + i + 1, member, mlen) == 0;
        i = skip_ws(json, len, kend);
        if (i >= len || json[i] != ':')
            return -1;
        i = skip_ws(json, len, i + 1);
        size_t vend = value_end(json, len, i);
        if (match && i < len && json[i] == '[') {
            struct cf_buf items = { 0 };
            long n = 0;
            for (size_t e = skip_ws(json, vend, i + 1); e < vend - 1;) {
                size_t eend = value_end(json, vend - 1, e);
                cli_json_compact(&items, json + e, eend - e);
                cf_buf_append_char(&items, '\n');
                n++;
                e = skip_ws(json, vend - 1, eend);
                if (e < vend - 1 && json[e] != ',') {
                    n = -1; /* not an element separator: not the shape looked for */
                    break;
                }
                if (e < vend - 1)
                    e = skip_ws(json, vend - 1, e + 1);
            }
            if (n >= 0 && items.len > 0)
                cf_buf_append(lines, items.data, items.len);
            cf_buf_free(&items);
            return n;
        }
        i = skip_ws(json, len, vend);
        if (i < len && json[i] == ',')
            i = skip_ws(json, len, i + 1);
    }
    return -1;
}

const char *cli_cell(const json_t *obj, const char *key, char *buf, size_t cap)
{
    const json_t *v = json_object_get(obj, key);
    int r = 0;

    buf[0] = '\0';
    if (json_is_string(v))
        return json_string_value(v);
    if (json_is_true(v))
        return "yes";
    if (json_is_false(v))
        return "no";
    if (json_is_integer(v)) {
        r = cf_fmt(buf, cap, "%lld", (long long)json_integer_value(v));
    } else if (json_is_array(v)) {
        size_t used = 0;
        for (size_t i = 0; i < json_array_size(v); i++) {
            const json_t *e = json_array_get(v, i);
            const char *s = json_is_string(e) ? json_string_value(e) : "?";
            int n = snprintf(buf + used, cap - used, "%s%s", i > 0 ? "," : "", s);
            if (n < 0 || (size_t)n >= cap - used) {
                r = CF_ETOOBIG;
                break;
            }
            used += (size_t)n;
        }
        if (json_array_size(v) == 0)
            return "-";
    } else {
        return "-";
    }
    if (r != 0 && cap > 4)
        memcpy(buf + cap - 4, "...", 4); /* a cut cell says so */
    return buf;
}
