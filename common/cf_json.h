/*
 * cf_json.h - jansson set-up (a zeroing allocator, a fixed hash seed) and small helpers.
 *
 * cf_json_init() must run in main() before any thread starts and before any other json_ call
 * (jansson's doc/threadsafety.rst). From then on every block jansson frees is cleansed first,
 * so decrypted credential pairs held in json_t trees never linger in freed memory.
 */
#ifndef CF_JSON_H
#define CF_JSON_H

#include <stdbool.h>
#include <stddef.h>

#include <jansson.h>

#include "cf_err.h"
#include "cf_str.h"

/* Installs the zeroing allocator and seeds jansson's hash. Call once, single-threaded. */
void cf_json_init(void);

/* Frees a string returned by json_dumps() (through the zeroing allocator). Safe with NULL. */
void cf_json_free_str(char *s);

/* Deepest nesting of arrays and objects cf_json_parse() accepts. coffer's own documents need
 * 3 or 4; jansson's parser recurses once per level, so a bound far above that keeps a hostile
 * document from exhausting a worker thread's stack. */
#define CF_JSON_MAX_DEPTH 32

enum cf_json_error {
    CF_JSON_OK,
    CF_JSON_INVALID,    /* not JSON, or refused by the flags (duplicates, trailing bytes...) */
    CF_JSON_TOO_DEEP,   /* nested deeper than CF_JSON_MAX_DEPTH */
    CF_JSON_NUL_IN_KEY, /* a member name holds U+0000 (with JSON_ALLOW_NUL) */
};

/* True if the JSON text buf[0..len) nests arrays and objects at most max_depth deep. A linear
 * scan that skips strings and their escapes and checks nothing else (the parser does). */
bool cf_json_depth_ok(const void *buf, size_t len, size_t max_depth);

/* Parses buf[0..len) with json_loadb(flags) after refusing nesting deeper than
 * CF_JSON_MAX_DEPTH: the only way coffer parses JSON. Returns a new reference, or NULL with
 * *why_out (may be NULL) saying why. jansson's error text quotes the input, so it is cleansed
 * here and never returned. Thread-safe. */
json_t *cf_json_parse(const void *buf, size_t len, size_t flags, enum cf_json_error *why_out);

/* Dumps v compactly into b (appended). CF_EINVAL if jansson refuses. */
CF_MUST_CHECK int cf_json_dump_buf(const json_t *v, size_t flags, struct cf_buf *b);

/* Returns the string value of obj[key] if it is a string, else NULL. */
const char *cf_json_str(const json_t *obj, const char *key);

#endif
