/* test_bundles.c - the bundle cache (service/svc_bundles.c) without a server: least recently
 * used eviction by count and by bytes, expiry with an injected clock, clear, the cache off,
 * and that every dropped body is cleansed before it is freed. */
#include <malloc.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "cf_err.h"
#include "cf_mem.h"
#include "cf_str.h"
#include "svc_bundles.h"
#include "trun.h"

/* --- free() is wrapped: a test can ask whether any freed block still held a pattern --- */

void __real_free(void *p);
void __wrap_free(void *p);

static const char *scan_pattern;
static size_t scan_len;
static int scan_hits;

void __wrap_free(void *p)
{
    if (p != NULL && scan_pattern != NULL) {
        size_t n = malloc_usable_size(p);
        const char *b = p;
        for (size_t i = 0; n >= scan_len && i <= n - scan_len; i++) {
            if (memcmp(b + i, scan_pattern, scan_len) == 0) {
                scan_hits++;
                break;
            }
        }
    }
    __real_free(p);
}

static void scan_for(const char *pattern)
{
    scan_pattern = pattern;
    scan_len = pattern != NULL ? strlen(pattern) : 0;
    scan_hits = 0;
}

/* --- helpers ------------------------------------------------------------------------------ */

#define MINUTE_MS 60000

static struct svc_bundles *cache_new(size_t max_entries, size_t max_bytes, int64_t ttl_ms)
{
    const struct svc_bundles_limits lim = { max_entries, max_bytes, ttl_ms };
    struct svc_bundles *c = NULL;
    assert_int_equal(svc_bundles_new(&lim, &c), 0);
    assert_non_null(c);
    return c;
}

/* The body of key: len bytes, the key's first letter repeated (every key here starts with a
 * letter of its own). */
static void body_of(const char *key, size_t len, char *out)
{
    memset(out, key[0], len);
    out[len] = '\0';
}

/* Stores a body of len bytes under key at now, built at catalog version catalog. */
static void put_at(struct svc_bundles *c, const char *key, size_t len, int64_t catalog, int64_t now)
{
    char body[1024];
    struct svc_bundle b = { .catalog = catalog, .revision = 7 };

    assert_true(len < sizeof(body));
    body_of(key, len, body);
    cf_buf_append(&b.body, body, len);
    snprintf(b.etag, sizeof(b.etag), "\"etag-%s-%lld\"", key, (long long)catalog);
    svc_bundles_put(c, key, &b, now);
    svc_bundle_free(&b);
}

static void put(struct svc_bundles *c, const char *key, size_t len, int64_t now)
{
    put_at(c, key, len, 1, now);
}

/* Looks key up at now: true on a hit, whose body, length and ETag must be key's. */
static bool hit(struct svc_bundles *c, const char *key, size_t len, int64_t now)
{
    struct svc_bundle b = { 0 };
    char want[1024];

    int r = svc_bundles_get(c, key, now, &b);
    if (r == CF_ENOTFOUND) {
        assert_int_equal(b.body.len, 0);
        return false;
    }
    assert_int_equal(r, 0);
    assert_int_equal(b.body.len, len);
    body_of(key, len, want);
    assert_memory_equal(b.body.data, want, len);
    assert_int_equal(b.revision, 7);
    assert_non_null(strstr(b.etag, key));
    svc_bundle_free(&b);
    return true;
}

static struct svc_bundles_stats stats(struct svc_bundles *c)
{
    struct svc_bundles_stats st;
    svc_bundles_stats(c, &st);
    return st;
}

/* --- eviction ------------------------------------------------------------------------------ */

static void test_a_full_cache_evicts_the_least_recently_used_entry_by_count(void **state)
{
    (void)state;
    struct svc_bundles *c = cache_new(2, 1 << 20, MINUTE_MS);

    put(c, "alpha", 10, 0);
    put(c, "bravo", 10, 1);
    assert_true(hit(c, "alpha", 10, 2)); /* alpha is the most recently used now */
    put(c, "charlie", 10, 3);            /* the oldest entry, alpha, is not the one to go */
    struct svc_bundles_stats st = stats(c);
    assert_int_equal(st.entries, 2);
    assert_int_equal(st.bytes, 20);
    assert_int_equal(st.evictions, 1);
    assert_false(hit(c, "bravo", 10, 4));
    assert_true(hit(c, "alpha", 10, 5));
    assert_true(hit(c, "charlie", 10, 6));

    /* replacing an entry makes it the most recently used and evicts nothing */
    put(c, "alpha", 12, 7);
    st = stats(c);
    assert_int_equal(st.entries, 2);
    assert_int_equal(st.bytes, 22);
    assert_int_equal(st.evictions, 1);
    put(c, "delta", 10, 8); /* charlie is the least recently used */
    assert_false(hit(c, "charlie", 10, 9));
    assert_true(hit(c, "alpha", 12, 10));
    assert_true(hit(c, "delta", 10, 11));
    st = stats(c);
    assert_int_equal(st.evictions, 2);
    assert_int_equal(st.hits, 5);
    assert_int_equal(st.misses, 2);
    svc_bundles_free(c);
}

static void test_a_full_cache_evicts_least_recently_used_entries_by_bytes(void **state)
{
    (void)state;
    /* 400 bytes: eight bodies of 50; the count limit is far away */
    struct svc_bundles *c = cache_new(100, 400, MINUTE_MS);
    static const char *const keys[] = { "a1", "b2", "c3", "d4", "e5", "f6", "g7", "h8" };

    for (size_t i = 0; i < 8; i++)
        put(c, keys[i], 50, (int64_t)i);
    assert_int_equal(stats(c).bytes, 400);
    assert_int_equal(stats(c).evictions, 0);
    assert_true(hit(c, "a1", 50, 10)); /* a1 is the most recently used now */
    put(c, "x9", 100, 11);             /* needs 100 bytes: b2 and c3 go, in that order */
    struct svc_bundles_stats st = stats(c);
    assert_int_equal(st.entries, 7);
    assert_int_equal(st.bytes, 400);
    assert_int_equal(st.evictions, 2);
    assert_false(hit(c, "b2", 50, 12));
    assert_false(hit(c, "c3", 50, 13));
    assert_true(hit(c, "a1", 50, 14));
    for (size_t i = 3; i < 8; i++)
        assert_true(hit(c, keys[i], 50, 15));
    assert_true(hit(c, "x9", 100, 16));

    /* 1 byte more than a quarter of the limit is never cached, and evicts nothing */
    put(c, "y0", 101, 17);
    assert_false(hit(c, "y0", 101, 18));
    st = stats(c);
    assert_int_equal(st.entries, 7);
    assert_int_equal(st.bytes, 400);
    assert_int_equal(st.evictions, 2);
    svc_bundles_free(c);
}

/* --- age ----------------------------------------------------------------------------------- */

static void test_an_entry_expires_at_its_ttl_and_a_hit_does_not_renew_it(void **state)
{
    (void)state;
    struct svc_bundles *c = cache_new(10, 1 << 20, 1000);

    put(c, "alpha", 10, 5000);
    put(c, "bravo", 10, 5500);
    assert_true(hit(c, "alpha", 10, 5000));
    assert_true(hit(c, "alpha", 10, 5999));  /* one millisecond short of its TTL */
    assert_false(hit(c, "alpha", 10, 6000)); /* its age counts from the put, not the last hit */
    struct svc_bundles_stats st = stats(c);
    assert_int_equal(st.hits, 2);
    assert_int_equal(st.misses, 1);
    assert_int_equal(st.evictions, 1); /* dropped, not just skipped */
    assert_int_equal(st.entries, 1);
    assert_int_equal(st.bytes, 10);
    assert_true(hit(c, "bravo", 10, 6499));
    assert_false(hit(c, "bravo", 10, 6500));
    assert_int_equal(stats(c).entries, 0);

    /* stored again, it lives a full TTL from then */
    put(c, "alpha", 10, 7000);
    assert_true(hit(c, "alpha", 10, 7999));
    assert_false(hit(c, "alpha", 10, 8000));
    svc_bundles_free(c);
}

/* --- clear, versions, off ------------------------------------------------------------------ */

static void test_clear_drops_every_entry(void **state)
{
    (void)state;
    struct svc_bundles *c = cache_new(10, 1 << 20, MINUTE_MS);

    put(c, "alpha", 10, 0);
    put(c, "bravo", 20, 0);
    assert_int_equal(stats(c).entries, 2);
    svc_bundles_clear(c);
    struct svc_bundles_stats st = stats(c);
    assert_int_equal(st.entries, 0);
    assert_int_equal(st.bytes, 0);
    assert_false(hit(c, "alpha", 10, 1));
    assert_false(hit(c, "bravo", 20, 1));
    put(c, "alpha", 10, 2); /* and it still works */
    assert_true(hit(c, "alpha", 10, 3));
    svc_bundles_free(c);
}

static void test_an_entry_built_at_a_later_catalog_version_is_not_replaced(void **state)
{
    (void)state;
    struct svc_bundles *c = cache_new(10, 1 << 20, MINUTE_MS);
    struct svc_bundle b = { 0 };

    put_at(c, "alpha", 10, 5, 0);
    put_at(c, "alpha", 20, 4, 1); /* a slower build from before a write: stays out */
    assert_int_equal(svc_bundles_get(c, "alpha", 2, &b), 0);
    assert_int_equal(b.catalog, 5);
    assert_int_equal(b.body.len, 10);
    svc_bundle_free(&b);
    put_at(c, "alpha", 20, 6, 3);
    assert_true(hit(c, "alpha", 20, 4));
    assert_int_equal(stats(c).entries, 1);
    svc_bundles_free(c);
}

static void test_a_cache_of_size_or_bytes_zero_is_off(void **state)
{
    (void)state;
    const struct svc_bundles_limits no_entries = { 0, 1 << 20, MINUTE_MS };
    const struct svc_bundles_limits no_bytes = { 10, 0, MINUTE_MS };
    const struct svc_bundles_limits no_ttl = { 10, 1 << 20, 0 };
    static int not_a_cache;
    struct svc_bundles *c = (struct svc_bundles *)(void *)&not_a_cache; /* set to NULL */
    struct svc_bundles_stats st;

    assert_int_equal(svc_bundles_new(&no_entries, &c), 0);
    assert_null(c);
    c = (struct svc_bundles *)(void *)&not_a_cache;
    assert_int_equal(svc_bundles_new(&no_bytes, &c), 0);
    assert_null(c);
    assert_int_equal(svc_bundles_new(&no_ttl, &c), CF_EINVAL);
    assert_null(c);
    /* every call takes the NULL cache: nothing is stored, every lookup misses */
    put(NULL, "alpha", 10, 0);
    assert_false(hit(NULL, "alpha", 10, 0));
    svc_bundles_count_rebuild(NULL);
    svc_bundles_clear(NULL);
    svc_bundles_stats(NULL, &st);
    assert_int_equal(st.hits + st.misses + st.rebuilds + st.evictions, 0);
    assert_int_equal(st.entries + st.bytes, 0);
    svc_bundles_free(NULL);
}

/* --- cleansing ----------------------------------------------------------------------------- */

/* Each way a body leaves the cache, with a body of its own; scan_hits counts the freed blocks
 * that still held 64 bytes of it. */
static void test_every_dropped_body_is_cleansed_before_it_is_freed(void **state)
{
    (void)state;
    char pattern[65];
    struct svc_bundles *c = cache_new(2, 1 << 20, 1000);

    /* evicted by count: kilo is the least recently used of three */
    body_of("kilo", 64, pattern);
    scan_for(pattern);
    put(c, "kilo", 64, 0);
    put(c, "lima", 10, 0);
    put(c, "mike", 10, 0);
    assert_int_equal(stats(c).evictions, 1);
    assert_false(hit(c, "kilo", 64, 1));
    assert_int_equal(scan_hits, 0);
    svc_bundles_free(c);

    /* evicted by bytes: 500 bytes in a cache of 400, november the least recently used */
    c = cache_new(10, 400, 1000);
    body_of("november", 64, pattern);
    scan_for(pattern);
    put(c, "november", 100, 10);
    put(c, "oscar", 100, 10);
    put(c, "papa", 100, 10);
    put(c, "quebec", 100, 10);
    put(c, "romeo", 100, 10);
    assert_int_equal(stats(c).evictions, 1);
    assert_false(hit(c, "november", 100, 11));
    assert_int_equal(scan_hits, 0);
    svc_bundles_clear(c);

    /* expired */
    body_of("sierra", 64, pattern);
    scan_for(pattern);
    put(c, "sierra", 64, 20);
    assert_false(hit(c, "sierra", 64, 1020));
    assert_int_equal(stats(c).evictions, 2);
    assert_int_equal(scan_hits, 0);

    /* replaced by a later build, and a stale build refused */
    body_of("tango", 64, pattern);
    scan_for(pattern);
    put_at(c, "tango", 64, 1, 30);
    put_at(c, "tango", 60, 2, 30); /* a shorter body: no 64-byte run of t left in the cache */
    put_at(c, "tango", 64, 1, 30); /* older than the entry: refused, its copy freed */
    assert_true(hit(c, "tango", 60, 31));
    assert_int_equal(scan_hits, 0);

    /* cleared */
    body_of("uniform", 64, pattern);
    scan_for(pattern);
    put(c, "uniform", 64, 40);
    svc_bundles_clear(c);
    assert_int_equal(stats(c).entries, 0);
    assert_int_equal(scan_hits, 0);

    /* freed with the cache */
    body_of("victor", 64, pattern);
    scan_for(pattern);
    put(c, "victor", 64, 50);
    assert_true(hit(c, "victor", 64, 51));
    svc_bundles_free(c);
    assert_int_equal(scan_hits, 0);

    /* the scan itself works: a block freed without cleansing is seen */
    body_of("whiskey", 64, pattern);
    scan_for(pattern);
    char *raw = cf_xmalloc(65);
    volatile char *v = raw; /* stores the compiler may not drop before free() */
    for (size_t i = 0; i < 65; i++)
        v[i] = 'w';
    free(raw);
    assert_int_equal(scan_hits, 1);
    scan_for(NULL);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_a_full_cache_evicts_the_least_recently_used_entry_by_count),
        cmocka_unit_test(test_a_full_cache_evicts_least_recently_used_entries_by_bytes),
        cmocka_unit_test(test_an_entry_expires_at_its_ttl_and_a_hit_does_not_renew_it),
        cmocka_unit_test(test_clear_drops_every_entry),
        cmocka_unit_test(test_an_entry_built_at_a_later_catalog_version_is_not_replaced),
        cmocka_unit_test(test_a_cache_of_size_or_bytes_zero_is_off),
        cmocka_unit_test(test_every_dropped_body_is_cleansed_before_it_is_freed),
    };
    return t_run_group_tests(tests, NULL, NULL);
}
