/*
 * bench_http.c - a closed-loop HTTP load generator for cofferd: THREADS clients on keep-alive
 * connections send GET URL for SECONDS (or REQUESTS in all) and report throughput and
 * latency percentiles as one JSON object.
 *
 * Usage: bench_http --url URL [--header "Name: value"]... [--threads N] [--seconds S]
 *                   [--requests N] [--label NAME]
 *        bench_http --plan FILE [--threads N] [--label NAME]
 * With --plan, each line of FILE is "URL<TAB>Name: value", and each is requested exactly once
 * (a fleet boot: every service with its own token); the run ends when all are answered.
 * Loopback only: every URL must name 127.0.0.1 or localhost.
 */
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <curl/curl.h>

#include "cf_mem.h"
#include "cf_str.h"
#include "cf_time.h"

#define MAX_HEADERS 8
#define MAX_THREADS 64

struct config {
    const char *url;
    const char *label;
    const char *headers[MAX_HEADERS];
    int nheaders;
    int threads;
    double seconds;
    long requests;                  /* 0: by time */
    char **plan_url, **plan_header; /* --plan: one request each */
    size_t nplan;
};

struct worker {
    const struct config *cfg;
    int64_t deadline_ms;
    _Atomic long *budget;
    _Atomic size_t *next; /* --plan: the next line to request */
    double *lat_ms;       /* one per request made */
    size_t n, cap;
    long ok, errors, other;
};

/* Drops the response body. */
// NOLINTNEXTLINE(readability-non-const-parameter): CURLOPT_WRITEFUNCTION's type has `char *`
static size_t discard(char *p, size_t size, size_t n, void *ud)
{
    (void)p;
    (void)ud;
    return size * n;
}

static void record(struct worker *w, double ms)
{
    if (w->n == w->cap) {
        w->cap = w->cap ? w->cap * 2 : 4096;
        w->lat_ms = cf_xrealloc(w->lat_ms, w->cap * sizeof(*w->lat_ms));
    }
    w->lat_ms[w->n++] = ms;
}

static void *run(void *arg)
{
    struct worker *w = arg;
    struct curl_slist *hl = NULL;
    CURL *h = curl_easy_init();

    for (int i = 0; i < w->cfg->nheaders; i++)
        hl = curl_slist_append(hl, w->cfg->headers[i]);
    curl_easy_setopt(h, CURLOPT_URL, w->cfg->url);
    curl_easy_setopt(h, CURLOPT_HTTPHEADER, hl);
    curl_easy_setopt(h, CURLOPT_WRITEFUNCTION, discard);
    curl_easy_setopt(h, CURLOPT_TIMEOUT, 30L);
    curl_easy_setopt(h, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(h, CURLOPT_TCP_NODELAY, 1L);
    for (;;) {
        if (w->cfg->nplan > 0) {
            size_t i = atomic_fetch_add(w->next, 1);
            if (i >= w->cfg->nplan)
                break;
            curl_slist_free_all(hl);
            hl = curl_slist_append(NULL, w->cfg->plan_header[i]);
            curl_easy_setopt(h, CURLOPT_URL, w->cfg->plan_url[i]);
            curl_easy_setopt(h, CURLOPT_HTTPHEADER, hl);
        } else if (w->cfg->requests > 0 ? atomic_fetch_sub(w->budget, 1) <= 0
                                        : cf_mono_ms() >= w->deadline_ms) {
            break;
        }
        struct timespec a, b;
        long code = 0;
        clock_gettime(CLOCK_MONOTONIC, &a);
        CURLcode rc = curl_easy_perform(h);
        clock_gettime(CLOCK_MONOTONIC, &b);
        curl_easy_getinfo(h, CURLINFO_RESPONSE_CODE, &code);
        record(w, (double)(b.tv_sec - a.tv_sec) * 1e3 + (double)(b.tv_nsec - a.tv_nsec) / 1e6);
        if (rc != CURLE_OK) {
            w->errors++;
        } else if (code == 200 || code == 304) {
            w->ok++;
        } else {
            w->other++;
        }
    }
    curl_slist_free_all(hl);
    curl_easy_cleanup(h);
    return NULL;
}

static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

static double pct(const double *v, size_t n, double p)
{
    if (n == 0)
        return 0;
    size_t i = (size_t)(p * (double)(n - 1));
    return v[i];
}

static bool loopback(const char *url)
{
    return url != NULL && (strncmp(url, "http://127.0.0.1:", 17) == 0 ||
                           strncmp(url, "http://localhost:", 17) == 0);
}

/* Reads a plan: one "URL<TAB>header" per line. */
static int read_plan(const char *path, struct config *c)
{
    FILE *f = fopen(path, "r");
    char line[8192];
    size_t cap = 0;

    if (f == NULL)
        return -1;
    while (fgets(line, sizeof(line), f) != NULL) {
        line[strcspn(line, "\r\n")] = '\0';
        char *tab = strchr(line, '\t');
        if (tab == NULL)
            continue;
        *tab = '\0';
        if (!loopback(line)) {
            (void)fclose(f);
            return -1;
        }
        if (c->nplan == cap) {
            cap = cap ? cap * 2 : 1024;
            c->plan_url = cf_xrealloc(c->plan_url, cap * sizeof(char *));
            c->plan_header = cf_xrealloc(c->plan_header, cap * sizeof(char *));
        }
        c->plan_url[c->nplan] = cf_xstrdup(line);
        c->plan_header[c->nplan++] = cf_xstrdup(tab + 1);
    }
    (void)fclose(f);
    return c->nplan > 0 ? 0 : -1;
}

static int parse(int argc, char **argv, struct config *c)
{
    int64_t n;

    *c = (struct config){ .threads = 4, .seconds = 5, .label = "bench" };
    for (int i = 1; i + 1 < argc; i += 2) {
        const char *k = argv[i], *v = argv[i + 1];
        if (strcmp(k, "--url") == 0) {
            c->url = v;
        } else if (strcmp(k, "--plan") == 0) {
            if (read_plan(v, c) != 0)
                return -1;
        } else if (strcmp(k, "--label") == 0) {
            c->label = v;
        } else if (strcmp(k, "--header") == 0 && c->nheaders < MAX_HEADERS) {
            c->headers[c->nheaders++] = v;
        } else if (strcmp(k, "--threads") == 0 && cf_parse_i64(v, 1, MAX_THREADS, &n) == 0) {
            c->threads = (int)n; /* 1..MAX_THREADS */
        } else if (strcmp(k, "--seconds") == 0) {
            c->seconds = strtod(v, NULL);
        } else if (strcmp(k, "--requests") == 0 && cf_parse_i64(v, 1, 100000000, &n) == 0) {
            c->requests = (long)n;
        } else {
            return -1;
        }
    }
    if ((c->nplan == 0 && !loopback(c->url)) || c->threads < 1 || c->threads > MAX_THREADS ||
        c->seconds <= 0)
        return -1;
    return 0;
}

int main(int argc, char **argv)
{
    struct config cfg;
    struct worker w[MAX_THREADS] = { 0 };
    pthread_t t[MAX_THREADS];
    _Atomic long budget;
    _Atomic size_t next = 0;

    if (parse(argc, argv, &cfg) != 0) {
        (void)fputs("usage: bench_http --url http://127.0.0.1:PORT/... [--header H]... "
                    "[--threads N] [--seconds S] [--requests N] [--label NAME]\n"
                    "       bench_http --plan FILE [--threads N] [--label NAME]\n",
                    stderr);
        return 2;
    }
    curl_global_init(CURL_GLOBAL_DEFAULT);
    atomic_store(&budget, cfg.requests);
    int64_t start = cf_mono_ms();
    for (int i = 0; i < cfg.threads; i++) {
        w[i] = (struct worker){ .cfg = &cfg,
                                .deadline_ms = start + (int64_t)(cfg.seconds * 1000),
                                .budget = &budget,
                                .next = &next };
        pthread_create(&t[i], NULL, run, &w[i]);
    }
    size_t total = 0;
    long ok = 0, errors = 0, other = 0;
    for (int i = 0; i < cfg.threads; i++) {
        pthread_join(t[i], NULL);
        total += w[i].n;
        ok += w[i].ok;
        errors += w[i].errors;
        other += w[i].other;
    }
    double elapsed = (double)(cf_mono_ms() - start) / 1000.0;
    double *all = cf_xcalloc(total + 1, sizeof(*all));
    size_t k = 0;
    for (int i = 0; i < cfg.threads; i++) {
        memcpy(all + k, w[i].lat_ms, w[i].n * sizeof(*all));
        k += w[i].n;
        free(w[i].lat_ms);
    }
    qsort(all, total, sizeof(*all), cmp_double);
    (void)printf("{\"bench\":\"%s\",\"threads\":%d,\"requests\":%zu,\"seconds\":%.2f,"
                 "\"rps\":%.0f,\"ok\":%ld,\"other_status\":%ld,\"errors\":%ld,"
                 "\"p50_ms\":%.3f,\"p90_ms\":%.3f,\"p99_ms\":%.3f,\"max_ms\":%.3f}\n",
                 cfg.label, cfg.threads, total, elapsed, (double)total / elapsed, ok, other, errors,
                 pct(all, total, 0.50), pct(all, total, 0.90), pct(all, total, 0.99),
                 total ? all[total - 1] : 0.0);
    free(all);
    for (size_t i = 0; i < cfg.nplan; i++) {
        free(cfg.plan_url[i]);
        cf_free_cleanse_str(cfg.plan_header[i]); /* tokens */
    }
    free(cfg.plan_url);
    free(cfg.plan_header);
    curl_global_cleanup();
    return errors == 0 && other == 0 ? 0 : 1;
}
