/*
 * audit_verify.h - walking the access log's hash chain (API.md 8.2, "verify").
 */
#ifndef AUDIT_VERIFY_H
#define AUDIT_VERIFY_H

#include <stdbool.h>
#include <stdint.h>

#include "cf_crypto.h"
#include "cf_err.h"
#include "db.h"

#define AUDIT_VERIFY_MAX_ROWS 1000000 /* rows one call walks at most */

struct audit_verify_result {
    bool ok;
    int64_t from_id;
    int64_t to_id;
    int64_t checked;
    int64_t head_id;
    char head_hash[CF_SHA256_HEX_LEN + 1];
    int64_t first_bad_id; /* when !ok */
    const char *problem;  /* hash_mismatch, prev_hash_mismatch, missing_row, head_mismatch */
};

/* Walks rows from_id..to_id (to_id <= 0 or past the head: up to the head; at most
 * AUDIT_VERIFY_MAX_ROWS) in pages, in bounded memory: ids contiguous, each prev_hash equal to the
 * previous row's hash (zeros before row 1; the row before from_id is read), each hash recomputed,
 * and, when the walk reaches the head, the head agreeing with the last row and no row past it.
 * CF_EINVAL for a bad range; CF_EUNAVAIL when the deadline of the request the thread serves
 * (cf_request_deadline_set) passes mid-walk; database errors as usual. */
CF_MUST_CHECK int audit_verify(struct db_conn *c, int64_t from_id, int64_t to_id,
                               struct audit_verify_result *out);

#endif
