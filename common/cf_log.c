/* cf_log.c - JSON-lines logger on stderr. A line's strings may quote what a client sent (a
 * claimed name, a path): jansson escapes the C0 controls in them, and cf_text_json_hidden()
 * the rest of what a reader of the log could not see (DEL, C1, bidirectional overrides,
 * zero-width characters), so that a line shows what it holds in a terminal, a pager or a log
 * viewer. */
#include "cf_log.h"

#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <string.h>

#include <jansson.h>

#include "cf_json.h"
#include "cf_str.h"
#include "cf_text.h"
#include "cf_time.h"

static _Atomic int log_min_level = CF_LOG_INFO;

static const char *const level_names[] = { "debug", "info", "warn", "error" };

void cf_log_set_level(enum cf_log_level level)
{
    atomic_store_explicit(&log_min_level, (int)level, memory_order_relaxed);
}

bool cf_log_enabled(enum cf_log_level level)
{
    return (int)level >= atomic_load_explicit(&log_min_level, memory_order_relaxed);
}

int cf_log_level_parse(const char *s, enum cf_log_level *out)
{
    for (size_t i = 0; i < sizeof(level_names) / sizeof(level_names[0]); i++) {
        if (strcmp(s, level_names[i]) == 0) {
            *out = (enum cf_log_level)i;
            return 0;
        }
    }
    return CF_EINVAL;
}

static void write_line(const char *line)
{
    /* one locked write per line, so lines from several threads never interleave */
    flockfile(stderr);
    /* a log line that cannot be written has nowhere else to go */
    (void)fputs(line, stderr);
    (void)fputc('\n', stderr);
    (void)fflush(stderr);
    funlockfile(stderr);
}

void cf_log(enum cf_log_level level, const char *msg, const char *fields_fmt, ...)
{
    char ts[CF_TIME_STR_LEN];
    json_t *line;

    if (!cf_log_enabled(level))
        return;
    cf_time_format(cf_now_us(), ts);
    line = json_pack("{s:s, s:s, s:s}", "time", ts, "level", level_names[level], "msg", msg);
    if (line == NULL)
        return;
    if (fields_fmt != NULL) {
        va_list ap;
        json_error_t err;
        va_start(ap, fields_fmt);
        json_t *fields = json_vpack_ex(&err, 0, fields_fmt, ap);
        va_end(ap);
        /* err.text may quote input: it is never logged */
        if (fields == NULL || json_object_update(line, fields) != 0)
            json_object_set_new(line, "log_fields_error", json_true());
        json_decref(fields);
    }
    char *s = json_dumps(line, JSON_COMPACT);
    if (s != NULL) {
        struct cf_buf b = { 0 };
        cf_text_json_hidden(&b, s, strlen(s));
        write_line(b.data);
        cf_buf_free(&b);
    }
    cf_json_free_str(s);
    json_decref(line);
}
