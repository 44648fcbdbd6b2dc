/*
 * cf_time.h - clocks, coffer's timestamp format, RFC 3339 parsing and durations.
 *
 * Times are int64_t microseconds since the Unix epoch (UTC) unless a name says otherwise.
 */
#ifndef CF_TIME_H
#define CF_TIME_H

#include <stddef.h>
#include <stdint.h>
#include <time.h>

#include "cf_err.h"

/* "YYYY-MM-DDTHH:MM:SS.ffffff+00:00" and its NUL */
#define CF_TIME_STR_LEN 33

/* Wall-clock time in microseconds since the epoch. */
int64_t cf_now_us(void);

/* A monotonic clock in milliseconds, for durations and deadlines. */
int64_t cf_mono_ms(void);

/* The same clock in microseconds, for short durations. */
int64_t cf_mono_us(void);

/* An absolute CLOCK_MONOTONIC time ms from now, for pthread_cond_timedwait on a condition
 * variable set to that clock. */
void cf_deadline_ms(int ms, struct timespec *ts);

/* The deadline of the request the calling thread works on, on the cf_mono_ms() clock (0:
 * none). cofferd's dispatcher sets it when a request starts and clears it when it ends; the
 * calls that wait (a KMS request and its retries, a pooled database connection, a statement)
 * take no longer than what is left. Per thread: each worker serves one request at a time. */
void cf_request_deadline_set(int64_t at_ms);

/* limit_ms, or what is left of the calling thread's deadline if that is less: 0 when the
 * deadline has passed. limit_ms when there is none. */
int64_t cf_request_budget_ms(int64_t limit_ms);

/* Formats us as API.md's timestamp (UTC, always six fraction digits). */
void cf_time_format(int64_t us, char out[CF_TIME_STR_LEN]);

/* "Sun, 06 Nov 1994 08:49:37 GMT" and its NUL */
#define CF_HTTP_DATE_LEN 30

/* Formats secs (since the epoch) as an HTTP date (RFC 9110's IMF-fixdate), independent of the
 * locale and safe in any thread, unlike gmtime(). */
void cf_http_date(int64_t secs, char out[CF_HTTP_DATE_LEN]);

/* Parses an RFC 3339 date-time ("2025-02-14T15:27:41Z", "...41.5+01:00", lowercase t/z too)
 * into microseconds since the epoch; fractions past six digits are truncated. CF_EINVAL when
 * malformed or out of range (years 1970-9999). */
CF_MUST_CHECK int cf_time_parse_rfc3339(const char *s, int64_t *us_out);

/* Parses a duration "<n><unit>" with unit s, m, h or d (e.g. "90m", "30d") into seconds.
 * CF_EINVAL when malformed, CF_ETOOBIG when over 100 years. */
CF_MUST_CHECK int cf_parse_duration(const char *s, int64_t *seconds_out);

/* Days since 1970-01-01 of a proleptic Gregorian date (no range check). */
int64_t cf_days_from_civil(int64_t y, unsigned m, unsigned d);

#endif
