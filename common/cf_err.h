/*
 * cf_err.h - coffer's error codes.
 *
 * A fallible function returns an int: 0 on success or a negative enum cf_err. Codes are never
 * renumbered; new ones are appended. cf_strerror() is the only code-to-text function and its
 * texts are fixed strings, so an error message can never carry a secret.
 */
#ifndef CF_ERR_H
#define CF_ERR_H

/* Marks a result that the caller must read (GCC ignores a (void) cast on these). */
#define CF_MUST_CHECK __attribute__((warn_unused_result))

enum cf_err {
    CF_OK = 0,
    CF_EINVAL = -1,        /* input is malformed */
    CF_ETOOBIG = -2,       /* input exceeds a limit */
    CF_EAUTH = -3,         /* caller could not be authenticated */
    CF_EDENIED = -4,       /* caller is known but not allowed */
    CF_ENOTFOUND = -5,     /* no such credential, service, revision or row */
    CF_ECONFLICT = -6,     /* stale revision or duplicate */
    CF_EINTEGRITY = -7,    /* GCM tag, checksum or audit chain does not verify */
    CF_EKMS = -8,          /* KMS refused the request */
    CF_EUNAVAIL = -9,      /* a dependency is down or throttling: retry later */
    CF_EDB = -10,          /* the database answered with an unexpected error */
    CF_EIO = -11,          /* a system call failed */
    CF_ECRYPTO = -12,      /* an OpenSSL call failed */
    CF_EINTERNAL = -13,    /* a broken invariant: a bug */
    CF_ETIMEOUT = -14,     /* a wait ran out of time */
    CF_ECONFIG = -15,      /* configuration is missing or invalid */
    CF_ETHROTTLED = -16,   /* a dependency refused for load (after retries): retry later */
    CF_EBADRESPONSE = -17, /* a dependency answered something that cannot be understood */
    CF_ESTALE = -18,       /* what a caller built is older than the database now: build again */
};

/* Returns a fixed, human-readable text for a cf_err code. Never NULL; thread-safe. */
const char *cf_strerror(int err);

/* Returns the stable symbolic name of a code ("CF_EINVAL"), for logs. Never NULL. */
const char *cf_errname(int err);

#endif
