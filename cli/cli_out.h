/*
 * cli_out.h - what the coffer client prints: JSON for programs (with --json or when stdout is
 * not a terminal), aligned tables and "name: value" lines for people.
 *
 * Everything printed for people that the client did not write itself (names, ids, the access
 * log's actor and resource id, values, the server's messages) goes through cli_text() or the
 * table, which escape control bytes, bidirectional overrides and other invisible code points
 * (cf_text.h), so that nothing a caller or an admin chose can move the cursor, clear the
 * screen, fake a row or reorder what follows. JSON for programs is printed as received.
 */
#ifndef CLI_OUT_H
#define CLI_OUT_H

#include <stdbool.h>
#include <stddef.h>

#include <jansson.h>

#include "cf_str.h"
#include "cf_text.h"

#define CLI_TABLE_COLS 8

/* A table: a header row, then rows; cells are copied. */
struct cli_table {
    size_t ncols;
    const char *head[CLI_TABLE_COLS];
    char **cells; /* nrows * ncols */
    size_t nrows;
};

/* Starts a table with the column titles (NULL-terminated, at most CLI_TABLE_COLS). */
void cli_table_init(struct cli_table *t, const char *const *head);

/* Adds a row of t->ncols cells of data, each escaped as cli_text() does (NULL cells print as
 * "-"). */
void cli_table_row(struct cli_table *t, const char *const *cells);

/* Adds a row of cells that are printed as they are: each made by cli_text() or cli_escape(),
 * or text of the client's own (NULL cells print as "-"). */
void cli_table_row_made(struct cli_table *t, const char *const *cells);

/* Prints it to stdout, columns padded to their widest cell (in columns of a terminal: a code
 * point is one, an East Asian wide one two, a combining mark none), and frees it. */
void cli_table_print(struct cli_table *t);

/* Frees it without printing (harmless after cli_table_print()). */
void cli_table_free(struct cli_table *t);

/* Prints v to stdout: one compact line when compact is set (for programs and JSON lines: the
 * values exactly as received), indented otherwise, for people, with the hidden code points
 * that jansson leaves raw (DEL, C1, bidirectional overrides...) written as \uXXXX escapes
 * (cf_text_json_hidden(): the same JSON value, spelled visibly). */
void cli_print_json(const json_t *v, bool compact);

/* Appends the JSON text s[0..len) to out without the whitespace between its tokens: every
 * string, number and literal stays byte for byte as it was written (one line). */
void cli_json_compact(struct cf_buf *out, const char *s, size_t len);

/* For the JSON object json[0..len) (valid JSON: cf_json_parse() accepted it), appends to lines
 * the text of each element of its array member `member` as cli_json_compact() writes it, each
 * followed by a line feed: JSON lines of the elements exactly as the server wrote them. Returns
 * the number of elements, or -1 if json is not an object with such a member (lines is then
 * unchanged). */
long cli_json_items(const char *json, size_t len, const char *member, struct cf_buf *lines);

/* Appends s[0..len) to out escaped for a terminal (cf_text_escape() with flags). */
void cli_escape(struct cf_buf *out, const char *s, size_t len, unsigned flags);

/* s (NULL: "-") escaped for a terminal, in b (reset first); returns b->data. */
const char *cli_text(struct cf_buf *b, const char *s);

/* Writes s[0..len) to stdout for a terminal: its line feeds as they are, everything else
 * escaped as cli_text() does (so a value quoted over several lines still reads as lines). For
 * text made for programs (`get --format env|dotenv|shell`) when stdout is a terminal; piped,
 * such text is written as it is. */
void cli_print_lines(const char *s, size_t len);

/* A member as text for a table cell: strings as they are, null as "-", booleans as yes/no,
 * integers in decimal, arrays of strings joined by ",". Writes into buf. The text is raw:
 * escape it (cli_table_row(), cli_text()) before it is printed. */
const char *cli_cell(const json_t *obj, const char *key, char *buf, size_t cap);

#endif
