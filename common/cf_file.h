/*
 * cf_file.h - reading a file that holds secrets (a KMS key file, a TLS private key) into a
 * secret buffer, refusing one that others may read.
 */
#ifndef CF_FILE_H
#define CF_FILE_H

#include <stddef.h>

#include "cf_err.h"
#include "cf_secret.h"

/* Reads the regular file path (not through a symlink at its last component) into out, at most
 * max bytes (<= CF_SECRET_MAX). forbidden: the mode bits that make it refused (077: any group
 * or other access; 007: other access). what names the file in messages ("the key file").
 * CF_ECONFIG with a message in err for a missing, non-regular, empty, too large or too
 * readable file; the message names the path and the mode, never the contents. */
CF_MUST_CHECK int cf_file_read_secret(const char *path, size_t max, unsigned forbidden,
                                      const char *what, struct cf_secret *out, char *err,
                                      size_t errcap);

#endif
