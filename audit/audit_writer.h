/*
 * audit_writer.h - group commit for the access log.
 *
 * Request threads submit their row and wait; one writer thread takes every row waiting (up to
 * a batch size, optionally after a short wait for more), appends them under a single lock of
 * the chain head in one transaction, commits once, and wakes each submitter with its own
 * outcome. Durability costs one commit per batch, not per request, and a request never
 * answers before its row is committed: a submitter that times out gets CF_ETIMEOUT and must
 * fail closed.
 */
#ifndef AUDIT_WRITER_H
#define AUDIT_WRITER_H

#include <stddef.h>
#include <stdint.h>

#include "audit.h"
#include "cf_err.h"

#define AUDIT_BATCH_BUCKETS 10 /* batch sizes 1, 2, 4, ... 256, more */

struct audit_writer;

struct audit_writer_stats {
    uint64_t rows;     /* committed */
    uint64_t batches;  /* committed */
    uint64_t failures; /* rows whose batch failed or whose submitter gave up */
    uint64_t batch_sizes[AUDIT_BATCH_BUCKETS]; /* committed batches by size: <=1, <=2, <=4... */
    int64_t head_id; /* the last id this writer committed (0 before any) */
};

/* Starts the writer with a connection of its own to conninfo (copied; made lazily and remade
 * after a failure). max_batch rows at most per transaction; wait_ms (0 for none) to gather
 * more once the first row arrives; timeout_ms bounds how long a submitter waits. */
CF_MUST_CHECK int audit_writer_start(const char *conninfo, size_t max_batch, int wait_ms,
                                     int timeout_ms, struct audit_writer **out);

/* Writes what is queued, stops the thread and frees the writer. Safe with NULL. */
void audit_writer_stop(struct audit_writer *w);

/* Queues ev (its strings are copied) and waits until its row is committed: 0 and *out (the
 * row's id and the catalog version its batch read; may be NULL);
 * CF_EUNAVAIL when the batch could not be committed; CF_ETIMEOUT when timeout_ms passed
 * first (the row may still be written later; the caller fails closed either way).
 * Thread-safe. */
CF_MUST_CHECK int audit_writer_submit(struct audit_writer *w, const struct audit_event *ev,
                                      struct audit_receipt *out);

void audit_writer_stats(struct audit_writer *w, struct audit_writer_stats *out);

#endif
