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

/* Dumps v compactly into b (appended). CF_EINVAL if jansson refuses. */
CF_MUST_CHECK int cf_json_dump_buf(const json_t *v, size_t flags, struct cf_buf *b);

/* Returns the string value of obj[key] if it is a string, else NULL. */
const char *cf_json_str(const json_t *obj, const char *key);

#endif
