/*
 * audit_writer.c - the group-commit writer of the access log.
 *
 * Tickets are shared by a submitter and the writer thread and freed by whichever lets go
 * last (refs, under the lock), so a submitter that gives up never leaves the writer holding a
 * dangling pointer. Every field of struct audit_writer above `thread` is guarded by `lock`.
 */
#include "audit_writer.h"

#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "cf_log.h"
#include "cf_mem.h"
#include "cf_str.h"
#include "cf_time.h"
#include "db.h"
#include "db_audit.h"

struct ticket {
    struct ticket *next;
    struct audit_event ev; /* its strings point into `strings` */
    struct cf_buf strings;
    pthread_cond_t finished; /* its batch committed or failed: its submitter alone wakes */
    int refs;
    bool done;
    bool abandoned;
    int result;
    int64_t id;
    int64_t catalog; /* the version its batch read */
    bool stale;      /* its catalog_limit was passed: not written (CF_ESTALE) */
};

struct audit_writer {
    pthread_mutex_t lock; /* guards the fields down to `thread` */
    pthread_cond_t work;  /* a ticket was queued, or stop */
    struct ticket *head, *tail;
    size_t queued;
    bool stop;
    pthread_t thread;
    char *conninfo; /* may hold a password: cleansed on stop */
    size_t max_batch;
    int wait_ms, timeout_ms;
    struct db_conn *conn; /* the writer thread's own */
    _Atomic uint64_t rows, batches, failures, sizes[AUDIT_BATCH_BUCKETS];
    _Atomic int64_t head_id;
};

/* Drops one reference; the last one frees. Called with the lock held. */
static void ticket_put(struct ticket *t)
{
    if (--t->refs > 0)
        return;
    pthread_cond_destroy(&t->finished);
    cf_buf_free(&t->strings);
    free(t);
}

/* Copies s into the ticket's string buffer; returns its offset (SIZE_MAX for NULL). */
static size_t keep(struct cf_buf *b, const char *s)
{
    if (s == NULL)
        return SIZE_MAX;
    size_t at = b->len;
    cf_buf_append(b, s, strlen(s) + 1);
    return at;
}

static const char *at(const struct cf_buf *b, size_t off)
{
    return off == SIZE_MAX ? NULL : b->data + off;
}

static struct ticket *ticket_new(const struct audit_event *ev)
{
    struct ticket *t = cf_xcalloc(1, sizeof(*t));
    size_t o[11];
    const char *s[11] = {
        ev->request_id,  ev->actor_type, ev->actor,  ev->source_ip, ev->action, ev->resource_type,
        ev->resource_id, ev->result,     ev->reason, ev->peer_ip,   ""
    };

    for (size_t i = 0; i < 11; i++)
        o[i] = keep(&t->strings, s[i]); /* the buffer may move: offsets first, pointers after */
    t->ev = (struct audit_event){ .request_id = at(&t->strings, o[0]),
                                  .actor_type = at(&t->strings, o[1]),
                                  .actor = at(&t->strings, o[2]),
                                  .source_ip = at(&t->strings, o[3]),
                                  .peer_ip = at(&t->strings, o[9]),
                                  .action = at(&t->strings, o[4]),
                                  .resource_type = at(&t->strings, o[5]),
                                  .resource_id = at(&t->strings, o[6]),
                                  .revision = ev->revision,
                                  .has_revision = ev->has_revision,
                                  .result = at(&t->strings, o[7]),
                                  .reason = at(&t->strings, o[8]),
                                  .catalog_limit = ev->catalog_limit,
                                  .has_catalog_limit = ev->has_catalog_limit };
    pthread_condattr_t attr;
    pthread_condattr_init(&attr);
    pthread_condattr_setclock(&attr, CLOCK_MONOTONIC);
    pthread_cond_init(&t->finished, &attr);
    pthread_condattr_destroy(&attr);
    t->refs = 2; /* the submitter and the writer */
    return t;
}

/* The JSON of one chained row for json_populate_recordset. */
static json_t *row_json(const struct db_audit_row *r)
{
    json_t *o = json_pack(
        "{s:I, s:s, s:s, s:s, s:s, s:s, s:s?, s:s, s:s?, s:s?, s:s, s:s, s:s, s:s}", "id",
        (json_int_t)r->id, "time", r->time, "request_id", r->request_id, "actor_type",
        r->actor_type, "actor", r->actor, "source_ip", r->source_ip, "peer_ip", r->peer_ip,
        "action", r->action, "resource_type", r->resource_type, "resource_id", r->resource_id,
        "result", r->result, "reason", r->reason, "prev_hash", r->prev_hash, "hash", r->hash);
    if (o != NULL) {
        json_object_set_new(o, "revision",
                            r->has_revision ? json_integer((json_int_t)r->revision) : json_null());
    }
    return o;
}

/* Chains the batch after the head and inserts it, in one transaction of two round trips (the
 * head's lock, then the rows and the commit); ids are written back into the tickets. A ticket
 * whose catalog_limit the version read under the lock has passed is left out and marked
 * stale. */
static int append_batch(struct db_conn *c, struct ticket **batch, size_t n)
{
    struct db_audit_row row = { 0 };
    int64_t head_id, now_us, catalog, next;
    int r;

    if ((r = db_audit_append_lock(c, &head_id, row.prev_hash, &now_us, &catalog)) != 0)
        return r;
    json_t *rows = json_array();
    cf_time_format(now_us, row.time);
    next = head_id + 1;
    for (size_t i = 0; i < n && r == 0; i++) {
        const struct audit_event *ev = &batch[i]->ev;
        batch[i]->catalog = catalog;
        batch[i]->stale = ev->has_catalog_limit && catalog > ev->catalog_limit;
        if (batch[i]->stale)
            continue;
        row.id = next++;
        row.request_id = ev->request_id;
        row.actor_type = ev->actor_type;
        row.actor = ev->actor;
        row.source_ip = ev->source_ip;
        row.peer_ip = ev->peer_ip;
        row.action = ev->action;
        row.resource_type = ev->resource_type;
        row.resource_id = ev->resource_id;
        row.revision = ev->revision;
        row.has_revision = ev->has_revision;
        row.result = ev->result;
        row.reason = ev->reason;
        if ((r = audit_row_hash(&row)) != 0)
            break;
        json_t *j = row_json(&row);
        if (j == NULL) {
            r = CF_EINVAL;
            break;
        }
        json_array_append_new(rows, j);
        batch[i]->id = row.id;
        memcpy(row.prev_hash, row.hash, sizeof(row.prev_hash));
    }
    r = db_audit_append_finish(c, rows, r);
    json_decref(rows);
    return r;
}

static size_t size_bucket(size_t n)
{
    size_t b = 0;
    while (b + 1 < AUDIT_BATCH_BUCKETS && ((size_t)1 << b) < n)
        b++;
    return b;
}

/* Writes one batch in one transaction on the writer's connection (remade when needed). */
static int write_batch(struct audit_writer *w, struct ticket **batch, size_t n)
{
    int r;

    if (w->conn == NULL && db_connect(w->conninfo, &w->conn) != 0)
        return CF_EUNAVAIL;
    if ((r = append_batch(w->conn, batch, n)) == 0) {
        size_t written = 0;
        for (size_t i = 0; i < n; i++) {
            if (!batch[i]->stale) {
                written++;
                atomic_store(&w->head_id, batch[i]->id);
            }
        }
        atomic_fetch_add(&w->rows, written);
        atomic_fetch_add(&w->batches, 1);
        atomic_fetch_add(&w->sizes[size_bucket(n)], 1);
        return 0;
    }
    cf_log(CF_LOG_ERROR, "access-log batch not committed", "{s:I, s:s}", "rows", (json_int_t)n,
           "error", cf_errname(r));
    db_disconnect(w->conn); /* a failed connection is not trusted again */
    w->conn = NULL;
    return CF_EUNAVAIL;
}

/* Takes up to max_batch live tickets off the queue (abandoned ones are dropped). Locked. */
static size_t take_batch(struct audit_writer *w, struct ticket **batch)
{
    size_t n = 0;
    while (w->head != NULL && n < w->max_batch) {
        struct ticket *t = w->head;
        w->head = t->next;
        if (w->head == NULL)
            w->tail = NULL;
        w->queued--;
        if (t->abandoned) {
            ticket_put(t);
            continue;
        }
        batch[n++] = t;
    }
    return n;
}

/* Waits for work; with wait_ms, gives a first row that long to gather company. Locked. */
static void wait_for_work(struct audit_writer *w)
{
    while (w->head == NULL && !w->stop)
        pthread_cond_wait(&w->work, &w->lock);
    if (w->wait_ms > 0 && w->head != NULL && w->queued < w->max_batch && !w->stop) {
        struct timespec deadline;
        cf_deadline_ms(w->wait_ms, &deadline);
        while (w->queued < w->max_batch && !w->stop &&
               pthread_cond_timedwait(&w->work, &w->lock, &deadline) == 0)
            ;
    }
}

/* Wakes the submitters of a written batch, each on its own ticket's condition (so a batch
 * wakes its own submitters only, not every waiting thread). Locked. */
static void finish_batch(struct audit_writer *w, struct ticket **batch, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        if (batch[i]->result != 0 && batch[i]->result != CF_ESTALE)
            atomic_fetch_add(&w->failures, 1);
        batch[i]->done = true;
        pthread_cond_signal(&batch[i]->finished);
        ticket_put(batch[i]); /* frees the tickets whose submitters gave up */
    }
}

/* Writes a batch; if it fails, each row alone, so that one row the database refuses (or a
 * hostile one) fails only its own request. Sets every ticket's result. Unlocked. */
static void write_all(struct audit_writer *w, struct ticket **batch, size_t n)
{
    int r = write_batch(w, batch, n);

    for (size_t i = 0; i < n; i++) {
        batch[i]->result = r == 0 || n == 1 ? r : write_batch(w, &batch[i], 1);
        if (batch[i]->result == 0 && batch[i]->stale)
            batch[i]->result = CF_ESTALE;
    }
}

static void *writer_thread(void *arg)
{
    struct audit_writer *w = arg;
    struct ticket **batch = cf_xcalloc(w->max_batch, sizeof(struct ticket *));

    pthread_mutex_lock(&w->lock);
    for (;;) {
        wait_for_work(w);
        if (w->head == NULL && w->stop)
            break;
        size_t n = take_batch(w, batch);
        if (n == 0)
            continue;
        pthread_mutex_unlock(&w->lock); /* no lock is held across SQL */
        write_all(w, batch, n);
        pthread_mutex_lock(&w->lock);
        finish_batch(w, batch, n);
    }
    pthread_mutex_unlock(&w->lock);
    free(batch);
    db_disconnect(w->conn);
    w->conn = NULL;
    return NULL;
}

int audit_writer_start(const char *conninfo, size_t max_batch, int wait_ms, int timeout_ms,
                       struct audit_writer **out)
{
    pthread_condattr_t attr;

    *out = NULL;
    if (max_batch == 0 || timeout_ms <= 0 || wait_ms < 0)
        return CF_EINVAL;
    struct audit_writer *w = cf_xcalloc(1, sizeof(*w));
    w->conninfo = cf_xstrdup(conninfo != NULL ? conninfo : "");
    w->max_batch = max_batch;
    w->wait_ms = wait_ms;
    w->timeout_ms = timeout_ms;
    pthread_mutex_init(&w->lock, NULL);
    pthread_condattr_init(&attr);
    pthread_condattr_setclock(&attr, CLOCK_MONOTONIC);
    pthread_cond_init(&w->work, &attr);
    pthread_condattr_destroy(&attr);
    if (pthread_create(&w->thread, NULL, writer_thread, w) != 0) {
        cf_free_cleanse_str(w->conninfo);
        free(w);
        return CF_EIO;
    }
    *out = w;
    return 0;
}

void audit_writer_stop(struct audit_writer *w)
{
    if (w == NULL)
        return;
    pthread_mutex_lock(&w->lock);
    w->stop = true;
    pthread_cond_signal(&w->work);
    pthread_mutex_unlock(&w->lock);
    pthread_join(w->thread, NULL);
    pthread_cond_destroy(&w->work);
    pthread_mutex_destroy(&w->lock);
    cf_free_cleanse_str(w->conninfo);
    free(w);
}

int audit_writer_submit(struct audit_writer *w, const struct audit_event *ev,
                        struct audit_receipt *out)
{
    struct timespec deadline;
    int r;

    if (!audit_event_complete(ev))
        return CF_EINVAL;
    struct ticket *t = ticket_new(ev);
    cf_deadline_ms(w->timeout_ms, &deadline);
    pthread_mutex_lock(&w->lock);
    if (w->stop) {
        t->refs = 1;
        ticket_put(t);
        pthread_mutex_unlock(&w->lock);
        return CF_EUNAVAIL;
    }
    if (w->tail != NULL) {
        w->tail->next = t;
    } else {
        w->head = t;
    }
    w->tail = t;
    w->queued++;
    pthread_cond_signal(&w->work);
    while (!t->done && pthread_cond_timedwait(&t->finished, &w->lock, &deadline) == 0)
        ;
    if (t->done) {
        r = t->result;
        if ((r == 0 || r == CF_ESTALE) && out != NULL)
            *out = (struct audit_receipt){ .id = r == 0 ? t->id : 0, .catalog = t->catalog };
    } else {
        t->abandoned = true; /* not written if the writer has not taken it yet */
        atomic_fetch_add(&w->failures, 1);
        r = CF_ETIMEOUT;
    }
    ticket_put(t);
    pthread_mutex_unlock(&w->lock);
    return r;
}

void audit_writer_stats(struct audit_writer *w, struct audit_writer_stats *out)
{
    *out = (struct audit_writer_stats){ .rows = atomic_load(&w->rows),
                                        .batches = atomic_load(&w->batches),
                                        .failures = atomic_load(&w->failures),
                                        .head_id = atomic_load(&w->head_id) };
    for (size_t i = 0; i < AUDIT_BATCH_BUCKETS; i++)
        out->batch_sizes[i] = atomic_load(&w->sizes[i]);
}
