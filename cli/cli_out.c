/* cli_out.c - tables and JSON on stdout for the coffer client. */
#include "cli_out.h"

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

void cli_table_row(struct cli_table *t, const char *const *cells)
{
    t->cells = cf_xrealloc(t->cells, (t->nrows + 1) * t->ncols * sizeof(*t->cells));
    for (size_t i = 0; i < t->ncols; i++)
        t->cells[t->nrows * t->ncols + i] = cf_xstrdup(cells[i] != NULL ? cells[i] : "-");
    t->nrows++;
}

void cli_table_print(struct cli_table *t)
{
    size_t width[CLI_TABLE_COLS] = { 0 };

    for (size_t c = 0; c < t->ncols; c++) {
        width[c] = strlen(t->head[c]);
        for (size_t r = 0; r < t->nrows; r++) {
            size_t n = strlen(t->cells[r * t->ncols + c]);
            width[c] = n > width[c] ? n : width[c];
        }
    }
    for (size_t r = 0; r <= t->nrows; r++) {
        for (size_t c = 0; c < t->ncols; c++) {
            const char *s = r == 0 ? t->head[c] : t->cells[(r - 1) * t->ncols + c];
            if (c + 1 == t->ncols) {
                (void)printf("%s\n", s);
            } else {
                (void)printf("%-*s  ", (int)width[c], s);
            }
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
    struct cf_buf b = { 0 };
    size_t flags = compact ? JSON_COMPACT : JSON_INDENT(2);
    if (cf_json_dump_buf(v, flags | JSON_ENCODE_ANY, &b) == 0) {
        (void)fwrite(b.data, 1, b.len, stdout);
        (void)fputc('\n', stdout);
    }
    cf_buf_free(&b);
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
