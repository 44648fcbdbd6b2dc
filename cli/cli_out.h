/*
 * cli_out.h - what the coffer client prints: JSON for programs (with --json or when stdout is
 * not a terminal), aligned tables and "name: value" lines for people.
 */
#ifndef CLI_OUT_H
#define CLI_OUT_H

#include <stdbool.h>
#include <stddef.h>

#include <jansson.h>

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

/* Adds a row of t->ncols cells (NULL cells print as "-"). */
void cli_table_row(struct cli_table *t, const char *const *cells);

/* Prints it to stdout, columns padded to their widest cell, and frees it. */
void cli_table_print(struct cli_table *t);

/* Frees it without printing (harmless after cli_table_print()). */
void cli_table_free(struct cli_table *t);

/* Prints v to stdout: one compact line when json is set (for programs and JSON lines),
 * indented otherwise. */
void cli_print_json(const json_t *v, bool compact);

/* A member as text for a table cell: strings as they are, null as "-", booleans as yes/no,
 * integers in decimal, arrays of strings joined by ",". Writes into buf. */
const char *cli_cell(const json_t *obj, const char *key, char *buf, size_t cap);

#endif
