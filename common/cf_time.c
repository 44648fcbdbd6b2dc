/* cf_time.c - clocks, timestamp formatting and parsing. */
#include "cf_time.h"

#include <stdbool.h>
#include <string.h>
#include <time.h>

#include "cf_str.h"

int64_t cf_now_us(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (int64_t)ts.tv_sec * 1000000 + ts.tv_nsec / 1000;
}

int64_t cf_mono_us(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000000 + ts.tv_nsec / 1000;
}

int64_t cf_mono_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static _Thread_local int64_t request_deadline_ms; /* this thread's own: no lock */

void cf_request_deadline_set(int64_t at_ms)
{
    request_deadline_ms = at_ms;
}

int64_t cf_request_budget_ms(int64_t limit_ms)
{
    if (request_deadline_ms == 0)
        return limit_ms;
    int64_t left = request_deadline_ms - cf_mono_ms();
    if (left <= 0)
        return 0;
    return left < limit_ms ? left : limit_ms;
}

void cf_deadline_ms(int ms, struct timespec *ts)
{
    clock_gettime(CLOCK_MONOTONIC, ts);
    ts->tv_sec += ms / 1000;
    ts->tv_nsec += (long)(ms % 1000) * 1000000L;
    if (ts->tv_nsec >= 1000000000L) {
        ts->tv_sec++;
        ts->tv_nsec -= 1000000000L;
    }
}

/* Howard Hinnant's days_from_civil / civil_from_days: exact for the proleptic calendar. */
int64_t cf_days_from_civil(int64_t y, unsigned m, unsigned d)
{
    y -= m <= 2;
    const int64_t era = (y >= 0 ? y : y - 399) / 400;
    const int64_t yoe = y - era * 400;
    const int64_t doy = (153 * (m > 2 ? m - 3 : m + 9) + 2) / 5 + d - 1;
    const int64_t doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    return era * 146097 + doe - 719468;
}

static void civil_from_days(int64_t z, int64_t *y, unsigned *m, unsigned *d)
{
    z += 719468;
    const int64_t era = (z >= 0 ? z : z - 146096) / 146097;
    const int64_t doe = z - era * 146097;
    const int64_t yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
    const int64_t doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    const int64_t mp = (5 * doy + 2) / 153;
    *d = (unsigned)(doy - (153 * mp + 2) / 5 + 1);
    *m = (unsigned)(mp < 10 ? mp + 3 : mp - 9);
    *y = yoe + era * 400 + (*m <= 2);
}

/* Seconds since the epoch into whole days and the second of the day (0-86399). */
static void split_seconds(int64_t secs, int64_t *days, int64_t *sod)
{
    *days = secs / 86400;
    *sod = secs % 86400;
    if (*sod < 0) {
        *sod += 86400;
        *days -= 1;
    }
}

void cf_time_format(int64_t us, char out[CF_TIME_STR_LEN])
{
    int64_t secs = us / 1000000, frac = us % 1000000;
    if (frac < 0) {
        frac += 1000000;
        secs -= 1;
    }
    int64_t days, sod, y;
    unsigned m, d;
    split_seconds(secs, &days, &sod);
    civil_from_days(days, &y, &m, &d);
    int r =
        cf_fmt(out, CF_TIME_STR_LEN, "%04lld-%02u-%02uT%02d:%02d:%02d.%06lld+00:00", (long long)y,
               m, d, (int)(sod / 3600), (int)(sod / 60 % 60), (int)(sod % 60), (long long)frac);
    if (r != 0) /* only years past 9999 can get here */
        memcpy(out, "9999-12-31T23:59:59.999999+00:00", CF_TIME_STR_LEN);
}

void cf_http_date(int64_t secs, char out[CF_HTTP_DATE_LEN])
{
    static const char wdays[7][4] = { "Thu", "Fri", "Sat", "Sun", "Mon", "Tue", "Wed" };
    static const char months[12][4] = { "Jan", "Feb", "Mar", "Apr", "May", "Jun",
                                        "Jul", "Aug", "Sep", "Oct", "Nov", "Dec" };
    int64_t days, sod, y;
    unsigned m, d;
    split_seconds(secs, &days, &sod);
    civil_from_days(days, &y, &m, &d);
    int64_t wd = days % 7; /* day 0, 1970-01-01, was a Thursday */
    if (wd < 0)
        wd += 7;
    int r = cf_fmt(out, CF_HTTP_DATE_LEN, "%s, %02u %s %04lld %02d:%02d:%02d GMT", wdays[wd], d,
                   months[m - 1], (long long)y, (int)(sod / 3600), (int)(sod / 60 % 60),
                   (int)(sod % 60));
    if (r != 0) /* only years past 9999 can get here */
        memcpy(out, "Fri, 31 Dec 9999 23:59:59 GMT", CF_HTTP_DATE_LEN);
}

/* Reads exactly n digits at *p into *v, advancing *p. */
static int read_digits(const char **p, int n, int *v)
{
    int x = 0;
    for (int i = 0; i < n; i++) {
        char c = (*p)[i];
        if (c < '0' || c > '9')
            return CF_EINVAL;
        x = x * 10 + (c - '0');
    }
    *p += n;
    *v = x;
    return 0;
}

static int expect(const char **p, char a, char b)
{
    if (**p != a && **p != b)
        return CF_EINVAL;
    (*p)++;
    return 0;
}

static bool leap(int y)
{
    return (y % 4 == 0 && y % 100 != 0) || y % 400 == 0;
}

static int parse_date(const char **p, int *y, int *mo, int *d)
{
    static const int mdays[] = { 31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31 };
    if (read_digits(p, 4, y) != 0 || expect(p, '-', '-') != 0 || read_digits(p, 2, mo) != 0 ||
        expect(p, '-', '-') != 0 || read_digits(p, 2, d) != 0)
        return CF_EINVAL;
    if (*y < 1970 || *mo < 1 || *mo > 12 || *d < 1)
        return CF_EINVAL;
    if (*d > mdays[*mo - 1] + (*mo == 2 && leap(*y) ? 1 : 0))
        return CF_EINVAL;
    return 0;
}

static int parse_offset(const char **p, int64_t *off_s)
{
    int oh, om;
    char sign = **p;

    if (sign == 'Z' || sign == 'z') {
        (*p)++;
        *off_s = 0;
        return 0;
    }
    if (sign != '+' && sign != '-')
        return CF_EINVAL;
    (*p)++;
    if (read_digits(p, 2, &oh) != 0 || expect(p, ':', ':') != 0 || read_digits(p, 2, &om) != 0)
        return CF_EINVAL;
    if (oh > 23 || om > 59)
        return CF_EINVAL;
    *off_s = (sign == '-' ? -1 : 1) * (int64_t)(oh * 3600 + om * 60);
    return 0;
}

int cf_time_parse_rfc3339(const char *s, int64_t *us_out)
{
    const char *p = s;
    int y, mo, d, h, mi, sec;
    int64_t frac = 0, off;

    if (parse_date(&p, &y, &mo, &d) != 0 || expect(&p, 'T', 't') != 0 ||
        read_digits(&p, 2, &h) != 0 || expect(&p, ':', ':') != 0 || read_digits(&p, 2, &mi) != 0 ||
        expect(&p, ':', ':') != 0 || read_digits(&p, 2, &sec) != 0)
        return CF_EINVAL;
    if (h > 23 || mi > 59 || sec > 60) /* 60: a leap second, folded into the next */
        return CF_EINVAL;
    if (*p == '.') {
        p++;
        int digits = 0;
        while (*p >= '0' && *p <= '9') {
            if (digits < 6)
                frac = frac * 10 + (*p - '0');
            digits++;
            p++;
        }
        if (digits == 0)
            return CF_EINVAL;
        for (; digits < 6; digits++)
            frac *= 10;
    }
    if (parse_offset(&p, &off) != 0 || *p != '\0')
        return CF_EINVAL;
    int64_t days = cf_days_from_civil(y, (unsigned)mo, (unsigned)d);
    int64_t secs = days * 86400 + (int64_t)h * 3600 + (int64_t)mi * 60 + sec - off;
    *us_out = secs * 1000000 + frac;
    return 0;
}

int cf_parse_duration(const char *s, int64_t *seconds_out)
{
    char num[24];
    size_t len = strlen(s);
    int64_t n, unit;

    if (len < 2 || len > sizeof(num))
        return CF_EINVAL;
    switch (s[len - 1]) {
    case 's':
        unit = 1;
        break;
    case 'm':
        unit = 60;
        break;
    case 'h':
        unit = 3600;
        break;
    case 'd':
        unit = 86400;
        break;
    default:
        return CF_EINVAL;
    }
    memcpy(num, s, len - 1);
    num[len - 1] = '\0';
    if (num[0] == '-')
        return CF_EINVAL;
    int r = cf_parse_i64(num, 0, INT64_C(100) * 366 * 86400, &n);
    if (r != 0)
        return r;
    if (n > INT64_C(100) * 366 * 86400 / unit)
        return CF_ETOOBIG;
    *seconds_out = n * unit;
    return 0;
}
