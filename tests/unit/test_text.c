/*
 * test_text.c - common/cf_text.c (text that others wrote, shown to people) and the JSON log
 * lines of common/cf_log.c that use it: which code points are hidden, their escapes, every
 * code point and every byte, and JSON that keeps its value while it shows them.
 */
#define _GNU_SOURCE /* memmem */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>
#include <jansson.h>

#include "cf_json.h"
#include "cf_log.h"
#include "cf_str.h"
#include "cf_text.h"
#include "trun.h"

/* cf_text_escape() of s[0..len) as a new string (free() it). */
static char *esc(const char *s, size_t len, unsigned flags)
{
    struct cf_buf b = { 0 };
    cf_text_escape(&b, s, len, flags);
    char *out = strdup(b.data);
    cf_buf_free(&b);
    return out;
}

static void assert_escape(const char *in, size_t len, unsigned flags, const char *want)
{
    char *got = esc(in, len, flags);
    bool same = strcmp(got, want) == 0;
    if (!same)
        print_error("escaped as [%s], expected [%s]\n", got, want);
    free(got);
    assert_true(same);
}

/* assert_escape() of a string literal, NULs included. */
#define ESCAPED(lit, flags, want) assert_escape(lit, sizeof(lit) - 1, flags, want)

/* The UTF-8 of cp into out; its length. */
static size_t utf8_of(uint32_t cp, char out[4])
{
    if (cp < 0x80) {
        out[0] = (char)cp;
        return 1;
    }
    if (cp < 0x800) {
        out[0] = (char)(0xc0 | cp >> 6);
        out[1] = (char)(0x80 | (cp & 0x3f));
        return 2;
    }
    if (cp < 0x10000) {
        out[0] = (char)(0xe0 | cp >> 12);
        out[1] = (char)(0x80 | ((cp >> 6) & 0x3f));
        out[2] = (char)(0x80 | (cp & 0x3f));
        return 3;
    }
    out[0] = (char)(0xf0 | cp >> 18);
    out[1] = (char)(0x80 | ((cp >> 12) & 0x3f));
    out[2] = (char)(0x80 | ((cp >> 6) & 0x3f));
    out[3] = (char)(0x80 | (cp & 0x3f));
    return 4;
}

static void test_hidden_holds_controls_bidi_and_invisibles_but_not_text(void **state)
{
    (void)state;
    static const uint32_t hidden[] = {
        0x00,   0x07,   0x09,   0x0a,    0x0d,    0x1b,    0x1f,    0x7f,    0x80,
        0x85,   0x9b,   0x9f,   0xad,    0x061c,  0x115f,  0x180e,  0x200b,  0x200c,
        0x200d, 0x200e, 0x200f, 0x2028,  0x2029,  0x202a,  0x202b,  0x202c,  0x202d,
        0x202e, 0x2060, 0x2066, 0x2067,  0x2068,  0x2069,  0x206f,  0x3164,  0xfeff,
        0xffa0, 0xfff9, 0xfffb, 0x1bca0, 0x1d173, 0xe0000, 0xe0001, 0xe0041, 0xe007f,
    };
    static const uint32_t shown[] = {
        0x20,   0x41,   0x7e,   0xa0,   0xa9,   0xe9,   0x0301, 0x05d0,  0x0627,  0x2010,
        0x2027, 0x202f, 0x2070, 0x4e2d, 0xac00, 0xfe0f, 0xfffd, 0x1f600, 0xe0080, 0xe0100,
    };
    for (size_t i = 0; i < sizeof(hidden) / sizeof(hidden[0]); i++) {
        if (!cf_text_hidden(hidden[i]))
            fail_msg("U+%04X is not hidden", (unsigned)hidden[i]);
    }
    for (size_t i = 0; i < sizeof(shown) / sizeof(shown[0]); i++) {
        if (cf_text_hidden(shown[i]))
            fail_msg("U+%04X is hidden", (unsigned)shown[i]);
    }
}

static void test_escape_names_every_kind_and_keeps_text(void **state)
{
    (void)state;
    /* C0: the three named ones, the rest as \xHH; NUL inside the length */
    ESCAPED("a\nb\rc\td", 0, "a\\nb\\rc\\td");
    ESCAPED("\x1b[2J\x1b[1;1H", 0, "\\x1b[2J\\x1b[1;1H");
    ESCAPED("x\0y", 0, "x\\x00y");
    ESCAPED("\x07\x08\x0b\x0c\x1f", 0, "\\x07\\x08\\x0b\\x0c\\x1f");
    ESCAPED("del\x7f", 0, "del\\x7f");
    /* C1 (well-formed UTF-8) as a code point, apart from a stray byte 0x85 */
    ESCAPED("\xc2\x85\xc2\x9b", 0, "\\u0085\\u009b");
    ESCAPED("\x85", 0, "\\x85");
    /* bidirectional overrides, isolates and marks; zero-width; separators; BOM; tags */
    ESCAPED("admin\xe2\x80\xaegnp.exe", 0, "admin\\u202egnp.exe");
    ESCAPED("\xe2\x80\xaa\xe2\x80\xab\xe2\x80\xac\xe2\x80\xad", 0, "\\u202a\\u202b\\u202c\\u202d");
    ESCAPED("\xe2\x81\xa6\xe2\x81\xa7\xe2\x81\xa8\xe2\x81\xa9", 0, "\\u2066\\u2067\\u2068\\u2069");
    ESCAPED("a\xe2\x80\x8b"
            "b\xe2\x80\x8d"
            "c\xe2\x80\x8f",
            0, "a\\u200bb\\u200dc\\u200f");
    ESCAPED("\xe2\x80\xa8\xe2\x80\xa9\xef\xbb\xbf", 0, "\\u2028\\u2029\\ufeff");
    ESCAPED("\xf3\xa0\x81\x81\xf3\xa0\x81\xbf", 0, "\\U000e0041\\U000e007f");
    /* text stays: accents, combining marks, Hebrew, CJK, Hangul, emoji with its selector */
    const char *text = "caf\xc3\xa9 e\xcc\x81 \xd7\xa9\xd7\x9c\xd7\x95\xd7\x9d \xe4\xb8\xad\xe6\x96"
                       "\x87 \xed\x95\x9c \xe2\x9d\xa4\xef\xb8\x8f \xf0\x9f\x98\x80 \xef\xbf\xbd";
    assert_escape(text, strlen(text), 0, text);
    /* backslash doubled, so that the escaped text reads back unambiguously; quotes on request */
    ESCAPED("a\\x1b\"", 0, "a\\\\x1b\"");
    ESCAPED("say \"hi\"", CF_TEXT_QUOTE, "say \\\"hi\\\"");
    /* what is not UTF-8, byte by byte: stray continuation, overlong, surrogate, cut, past
     * U+10FFFF, 0xff */
    ESCAPED("\x80", 0, "\\x80");
    ESCAPED("\xc0\xaf", 0, "\\xc0\\xaf");
    ESCAPED("\xed\xa0\x80", 0, "\\xed\\xa0\\x80");
    ESCAPED("ab\xe2\x80", 0, "ab\\xe2\\x80");
    ESCAPED("\xf4\x90\x80\x80", 0, "\\xf4\\x90\\x80\\x80");
    ESCAPED("\xff\xfe", 0, "\\xff\\xfe");
    ESCAPED("", 0, "");
}

/* Every code point, alone and between letters: the escaped text is printable ASCII and text
 * that is not hidden, and a code point is kept exactly when it is not hidden. */
static void test_every_code_point_and_byte_comes_out_visible(void **state)
{
    (void)state;
    struct cf_buf b = { 0 };

    for (uint32_t cp = 0; cp <= 0x10ffff; cp++) {
        if (cp >= 0xd800 && cp <= 0xdfff)
            continue;
        char u[4];
        size_t n = utf8_of(cp, u);
        cf_buf_reset(&b);
        cf_text_escape(&b, u, n, 0);
        bool kept = b.len == n && memcmp(b.data, u, n) == 0;
        if (cp == '\\') {
            assert_string_equal(b.data, "\\\\");
        } else if (kept == cf_text_hidden(cp)) {
            fail_msg("U+%04X %s", (unsigned)cp, kept ? "kept though hidden" : "escaped");
        } else if (!kept) {
            for (size_t i = 0; i < b.len; i++) {
                if (b.data[i] < 0x20 || b.data[i] > 0x7e)
                    fail_msg("U+%04X escaped as non-ASCII %s", (unsigned)cp, b.data);
            }
        }
    }
    for (unsigned c = 0; c < 256; c++) { /* every byte alone */
        char one = (char)c;
        cf_buf_reset(&b);
        cf_text_escape(&b, &one, 1, 0);
        for (size_t i = 0; i < b.len; i++) {
            unsigned char o = (unsigned char)b.data[i];
            if (o < 0x20 || o == 0x7f || (c >= 0x80 && o >= 0x80))
                fail_msg("byte 0x%02x escaped as %s", c, b.data);
        }
    }
    cf_buf_free(&b);
}

static void test_json_hidden_escapes_what_jansson_leaves_raw_and_keeps_the_value(void **state)
{
    (void)state;
    const char value[] = "a\x1b\x7f\xc2\x85\xe2\x80\xae\xe2\x81\xa6\xf3\xa0\x81\x81\xe4\xb8\xad"
                         "\xc3\xa9\n";
    json_t *v = json_pack("{s:s, s:[s]}", "k\xe2\x80\x8b", value, "list", value);
    char *dumped = json_dumps(v, JSON_INDENT(2));
    struct cf_buf b = { 0 };

    cf_text_json_hidden(&b, dumped, strlen(dumped));
    /* the escapes, and nothing hidden left raw but the layout's own line feeds */
    assert_non_null(strstr(b.data, "\"a\\u001B\\u007f\\u0085\\u202e\\u2066\\udb40\\udc41"
                                   "\xe4\xb8\xad\xc3\xa9\\n\""));
    assert_non_null(strstr(b.data, "\"k\\u200b\""));
    for (size_t i = 0; i < b.len; i++) {
        unsigned char c = (unsigned char)b.data[i];
        assert_true((c >= 0x20 && c != 0x7f) || c == '\n');
    }
    assert_null(memmem(b.data, b.len, "\xe2\x80\xae", 3));
    /* the same value */
    json_t *back = cf_json_parse(b.data, b.len, 0, NULL);
    assert_non_null(back);
    assert_true(json_equal(v, back));
    /* JSON without hidden code points is unchanged */
    cf_buf_reset(&b);
    cf_text_json_hidden(&b, "{\"a\": \"caf\xc3\xa9 \xf0\x9f\x98\x80\"}", 20);
    assert_string_equal(b.data, "{\"a\": \"caf\xc3\xa9 \xf0\x9f\x98\x80\"}");
    /* a byte that is not UTF-8 */
    cf_buf_reset(&b);
    cf_text_json_hidden(&b, "\"\xff\"", 3);
    assert_string_equal(b.data, "\"\\ufffd\"");
    json_decref(back);
    cf_json_free_str(dumped);
    json_decref(v);
    cf_buf_free(&b);
}

/* cofferd's log: a line that quotes what a client sent shows it escaped, with its value. */
static void test_log_lines_show_hidden_code_points_escaped(void **state)
{
    (void)state;
    char path[] = "/tmp/coffer-test-text-XXXXXX";
    int fd = mkstemp(path);
    assert_true(fd >= 0);
    (void)fflush(stderr);
    int saved = dup(STDERR_FILENO);
    assert_true(saved >= 0);
    assert_true(dup2(fd, STDERR_FILENO) >= 0);
    cf_log_set_level(CF_LOG_INFO);
    cf_log(CF_LOG_WARN, "claimed \xe2\x80\xae", "{s:s}", "actor",
           "\x1b[2J\r\ntoken:admin\x7f\xc2\x9b\xe2\x81\xa6\xef\xbb\xbf");
    (void)fflush(stderr);
    assert_true(dup2(saved, STDERR_FILENO) >= 0);
    close(saved);

    char line[1024];
    ssize_t n = pread(fd, line, sizeof(line) - 1, 0);
    close(fd);
    unlink(path);
    assert_true(n > 0);
    line[n] = '\0';
    assert_int_equal(line[n - 1], '\n');
    for (ssize_t i = 0; i < n - 1; i++) {
        unsigned char c = (unsigned char)line[i];
        if (c < 0x20 || c == 0x7f || c >= 0x80)
            fail_msg("raw byte 0x%02x at %zd in the log line: %s", c, i, line);
    }
    assert_non_null(strstr(line, "\"msg\":\"claimed \\u202e\""));
    assert_non_null(
        strstr(line, "\"actor\":\"\\u001B[2J\\r\\ntoken:admin\\u007f\\u009b\\u2066\\ufeff\""));
    json_t *o = cf_json_parse(line, (size_t)n, 0, NULL);
    assert_non_null(o);
    assert_string_equal(cf_json_str(o, "actor"),
                        "\x1b[2J\r\ntoken:admin\x7f\xc2\x9b\xe2\x81\xa6\xef\xbb\xbf");
    json_decref(o);
}

int main(void)
{
    cf_json_init();
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_hidden_holds_controls_bidi_and_invisibles_but_not_text),
        cmocka_unit_test(test_escape_names_every_kind_and_keeps_text),
        cmocka_unit_test(test_every_code_point_and_byte_comes_out_visible),
        cmocka_unit_test(test_json_hidden_escapes_what_jansson_leaves_raw_and_keeps_the_value),
        cmocka_unit_test(test_log_lines_show_hidden_code_points_escaped),
    };
    return t_run_group_tests(tests, NULL, NULL);
}
