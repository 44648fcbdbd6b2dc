/*
 * auth_internal.h - what the files of auth/ share: the authenticator's state.
 */
#ifndef AUTH_INTERNAL_H
#define AUTH_INTERNAL_H

#include "auth.h"

struct auth {
    struct db_pool *pool; /* borrowed */
};

/* Validates a kmsauth username and token (API.md 2.3). CF_EAUTH with why->reason set, or
 * CF_EUNAVAIL when KMS cannot be reached. */
CF_MUST_CHECK int auth_kmsauth(struct auth *a, const char *username, const char *token,
                               struct auth_principal *who, struct auth_failure *why);

#endif
