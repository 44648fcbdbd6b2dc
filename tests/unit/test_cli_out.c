/*
 * test_cli_out.c - cli/cli_out.c and cli_errorf(): tables and lines for people escape what
 * others wrote and stay aligned; JSON for programs keeps the server's bytes; the messages on
 * stderr are one line of visible text.
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
#include "cf_str.h"
#include "cli_http.h"
#include "cli_out.h"
#include "trun.h"

/* --- what a function writes to stdout or stderr ------------------------------------------- */

struct capture {
    int fd, saved, target;
    char path[64];
};

static void capture_start(struct capture *c, int target)
{
    snprintf(c->path, sizeof(c->path), "/tmp/coffer-test-cli-out-XXXXXX");
    c->fd = mkstemp(c->path);
    assert_true(c->fd >= 0);
    c->target = target;
    (void)fflush(stdout);
    (void)fflush(stderr);
    c->saved = dup(target);
    assert_true(c->saved >= 0);
    assert_true(dup2(c->fd, target) >= 0);
}

/* Restores the stream and returns what was written (free() it); *len_out its length. */
static char *capture_end(struct capture *c, size_t *len_out)
{
    (void)fflush(stdout);
    (void)fflush(stderr);
    assert_true(dup2(c->saved, c->target) >= 0);
    close(c->saved);
    off_t n = lseek(c->fd, 0, SEEK_END);
    assert_true(n >= 0);
    char *out = malloc((size_t)n + 1);
    assert_int_equal(pread(c->fd, out, (size_t)n, 0), n);
    out[n] = '\0';
    close(c->fd);
    unlink(c->path);
    *len_out = (size_t)n;
    return out;
}

/* No byte below 0x20 but line feeds, no DEL, no raw U+202E, U+2066 or C1. */
static void assert_visible(const char *s, size_t len)
{
    for (size_t i = 0; i < len; i++) {
        unsigned char c = (unsigned char)s[i];
        if ((c < 0x20 && c != '\n') || c == 0x7f)
            fail_msg("raw byte 0x%02x at %zu: %s", c, i, s);
    }
    assert_null(memmem(s, len, "\xe2\x80\xae", 3));
    assert_null(memmem(s, len, "\xe2\x81\xa6", 3));
    assert_null(memmem(s, len, "\xc2\x85", 2));
}

/* --- tables ------------------------------------------------------------------------------- */

static void test_table_escapes_cells_and_aligns_by_columns_on_screen(void **state)
{
    (void)state;
    static const char *const head[] = { "NAME", "NOTE", "END", NULL };
    struct cli_table t;
    struct capture c;
    size_t len;

    capture_start(&c, STDOUT_FILENO);
    cli_table_init(&t, head);
    cli_table_row(&t, (const char *const[]){ "\x1b[2J\r\nfake",
                                             "a\xe2\x80\xae"
                                             "b",
                                             "1" });
    cli_table_row(&t, (const char *const[]){ "\xe4\xb8\xad\xe6\x96\x87", "caf\xc3\xa9", "2" });
    cli_table_row(&t, (const char *const[]){ NULL, "x\xc2\x85\xe2\x81\xa6\xff", "3" });
    cli_table_row_made(&t, (const char *const[]){ "(made)", "\\u202e kept as made", "4" });
    cli_table_print(&t);
    char *out = capture_end(&c, &len);

    assert_visible(out, len);
    /* NAME is 15 columns wide ("\x1b[2J\r\nfake" escaped); a CJK character takes two */
    assert_string_equal(out, "NAME             NOTE                 END\n"
                             "\\x1b[2J\\r\\nfake  a\\u202eb             1\n"
                             "\xe4\xb8\xad\xe6\x96\x87             caf\xc3\xa9                 2\n"
                             "-                x\\u0085\\u2066\\xff    3\n"
                             "(made)           \\u202e kept as made  4\n");
    free(out);
}

static void test_cli_text_escapes_and_null_is_a_dash(void **state)
{
    (void)state;
    struct cf_buf b = { 0 };

    assert_string_equal(cli_text(&b, "ok \xe2\x80\xae\x1b"), "ok \\u202e\\x1b");
    assert_string_equal(cli_text(&b, NULL), "-");
    assert_string_equal(cli_text(&b, "\xc3\xa9t\xc3\xa9"), "\xc3\xa9t\xc3\xa9");
    cf_buf_reset(&b);
    cli_escape(&b, "say \"x\"\n", 8, CF_TEXT_QUOTE);
    assert_string_equal(b.data, "say \\\"x\\\"\\n");
    cf_buf_free(&b);
}

static void test_lines_for_a_terminal_keep_line_feeds_only(void **state)
{
    (void)state;
    const char text[] = "export A='x\x1b[2J\ny'\nexport B='\xe2\x80\xae\r\\'\n";
    struct capture c;
    size_t len;

    capture_start(&c, STDOUT_FILENO);
    cli_print_lines(text, sizeof(text) - 1);
    char *out = capture_end(&c, &len);
    assert_visible(out, len);
    assert_string_equal(out, "export A='x\\x1b[2J\ny'\nexport B='\\u202e\\r\\\\'\n");
    free(out);
}

/* --- JSON ----------------------------------------------------------------------------------- */

static void test_json_for_programs_is_exact_and_for_people_visible(void **state)
{
    (void)state;
    const char value[] = "\x1b[31m\xe2\x80\xae\x7f\xc2\x85";
    json_t *v = json_pack("{s:s}", "actor", value);
    struct capture c;
    size_t len;

    /* compact: the value as it is (jansson escapes the C0 only) */
    capture_start(&c, STDOUT_FILENO);
    cli_print_json(v, true);
    char *out = capture_end(&c, &len);
    assert_string_equal(out, "{\"actor\":\"\\u001B[31m\xe2\x80\xae\x7f\xc2\x85\"}\n");
    free(out);
    /* indented, for people: the same value with every hidden code point spelled \uXXXX */
    capture_start(&c, STDOUT_FILENO);
    cli_print_json(v, false);
    out = capture_end(&c, &len);
    assert_visible(out, len);
    assert_non_null(strstr(out, "\"\\u001B[31m\\u202e\\u007f\\u0085\""));
    json_t *back = cf_json_parse(out, len, 0, NULL);
    assert_true(json_equal(v, back));
    json_decref(back);
    free(out);
    json_decref(v);
}

static void test_json_items_are_the_servers_bytes_one_a_line(void **state)
{
    (void)state;
    /* as cofferd writes a page: PostgreSQL's spacing and lowercase escapes */
    const char body[] = "{\"events\":[{\"id\" : 2, \"actor\" : \"\\u001b[2J\\r\\n \xe2\x80\xae\","
                        " \"n\" : [1, {\"a\" : \"]}\\\" ,\"}]}, \n {\"id\" : 1, \"actor\" : "
                        "\"x\"}],\"next_cursor\":\"abc\"}";
    struct cf_buf lines = { 0 };

    assert_int_equal(cli_json_items(body, strlen(body), "events", &lines), 2);
    assert_string_equal(lines.data,
                        "{\"id\":2,\"actor\":\"\\u001b[2J\\r\\n \xe2\x80\xae\",\"n\":[1,{\"a\":"
                        "\"]}\\\" ,\"}]}\n{\"id\":1,\"actor\":\"x\"}\n");
    /* each line is the same value as the element the parser sees */
    json_t *all = cf_json_parse(body, strlen(body), 0, NULL);
    const char *p = lines.data;
    for (size_t i = 0; i < 2; i++) {
        const char *nl = strchr(p, '\n');
        json_t *line = cf_json_parse(p, (size_t)(nl - p), 0, NULL);
        assert_true(json_equal(line, json_array_get(json_object_get(all, "events"), i)));
        json_decref(line);
        p = nl + 1;
    }
    json_decref(all);
    cf_buf_reset(&lines);
    /* an empty array, a member that comes later, and shapes that are not the member's */
    assert_int_equal(cli_json_items("{\"events\": [ ]}", 15, "events", &lines), 0);
    assert_int_equal(lines.len, 0);
    const char later[] = "{\"x\": {\"events\": [9]}, \"events\": [ 7 , \"s\" ]}";
    assert_int_equal(cli_json_items(later, strlen(later), "events", &lines), 2);
    assert_string_equal(lines.data, "7\n\"s\"\n");
    cf_buf_reset(&lines);
    assert_int_equal(cli_json_items("{\"events\": {}}", 14, "events", &lines), -1);
    assert_int_equal(cli_json_items("[]", 2, "events", &lines), -1);
    assert_int_equal(cli_json_items("{\"other\": []}", 13, "events", &lines), -1);
    assert_int_equal(lines.len, 0);
    cf_buf_free(&lines);
}

/* --- messages ----------------------------------------------------------------------------- */

static void test_messages_are_one_line_of_visible_text(void **state)
{
    (void)state;
    struct capture c;
    size_t len;

    capture_start(&c, STDERR_FILENO);
    cli_errorf("%s (%s, HTTP %d)", "no such thing\x1b[2J\r\ncoffer: fine\xe2\x80\xae",
               "not_found\x07", 404);
    char *out = capture_end(&c, &len);
    assert_string_equal(out, "coffer: no such thing\\x1b[2J\\r\\ncoffer: fine\\u202e "
                             "(not_found\\x07, HTTP 404)\n");
    free(out);
}

int main(void)
{
    cf_json_init();
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_table_escapes_cells_and_aligns_by_columns_on_screen),
        cmocka_unit_test(test_cli_text_escapes_and_null_is_a_dash),
        cmocka_unit_test(test_lines_for_a_terminal_keep_line_feeds_only),
        cmocka_unit_test(test_json_for_programs_is_exact_and_for_people_visible),
        cmocka_unit_test(test_json_items_are_the_servers_bytes_one_a_line),
        cmocka_unit_test(test_messages_are_one_line_of_visible_text),
    };
    return t_run_group_tests(tests, NULL, NULL);
}
