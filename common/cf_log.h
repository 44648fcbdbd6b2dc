/*
 * cf_log.h - structured logging: one JSON object per line on stderr.
 *
 * Every line has "time", "level" and "msg"; callers add fields with a jansson json_pack()
 * format ("{s:s, s:i}"). Never pass a secret: log ids, names, key ids, request ids, and at
 * most an 8-hex-digit SHA-256 fingerprint. Thread-safe.
 */
#ifndef CF_LOG_H
#define CF_LOG_H

#include <stdbool.h>

#include "cf_err.h"

enum cf_log_level {
    CF_LOG_DEBUG = 0,
    CF_LOG_INFO = 1,
    CF_LOG_WARN = 2,
    CF_LOG_ERROR = 3,
    CF_LOG_OFF = 4, /* only for cf_log_set_level(): nothing is written (the coffer client's
                       default, which reports what matters in its own words) */
};

/* Sets the lowest level written (default info). Call before threads start. */
void cf_log_set_level(enum cf_log_level level);

/* True if a line at `level` would be written. */
bool cf_log_enabled(enum cf_log_level level);

/* Parses "debug", "info", "warn" or "error". CF_EINVAL otherwise. */
CF_MUST_CHECK int cf_log_level_parse(const char *s, enum cf_log_level *out);

/* Writes one line. fields_fmt is a json_pack() object format for extra members, or NULL; a
 * format that fails to pack is reported as "log_fields_error": true instead of its fields. */
void cf_log(enum cf_log_level level, const char *msg, const char *fields_fmt, ...);

#endif
