/*
 * auth_kmsauth.c - kmsauth tokens (API.md 2.2, 2.3): username forms and user types.
 *
 * Token decryption arrives with the KMS module; until an auth key is configured every
 * kmsauth user type is disabled, which answers 401 with reason kmsauth_user_type.
 */
#include <string.h>

#include "auth_internal.h"

/* Splits and checks the username: one segment (v1, service) or "2/<type>/<from>" (v2). */
static int parse_username(const char *u, int *version, const char **type, size_t *type_len,
                          const char **from)
{
    const char *s1 = strchr(u, '/');

    if (s1 == NULL) {
        *version = 1;
        *type = "service";
        *type_len = 7;
        *from = u;
        return 0;
    }
    const char *s2 = strchr(s1 + 1, '/');
    if (s1 - u != 1 || u[0] != '2' || s2 == NULL || strchr(s2 + 1, '/') != NULL || s2 == s1 + 1 ||
        s2[1] == '\0')
        return CF_EAUTH;
    *version = 2;
    *type = s1 + 1;
    *type_len = (size_t)(s2 - s1 - 1); /* s2 > s1: found after it */
    *from = s2 + 1;
    return 0;
}

static bool from_valid(const char *from)
{
    size_t n = strlen(from);
    if (n == 0 || n > 128)
        return false;
    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)from[i];
        if (c < 0x21 || c > 0x7e || c == '/' || c == ':')
            return false;
    }
    return true;
}

int auth_kmsauth(struct auth *a, const char *username, const char *token,
                 struct auth_principal *who, struct auth_failure *why)
{
    const char *type, *from;
    size_t type_len;
    int version;

    (void)a;
    (void)token;
    (void)who;
    why->reason = "kmsauth_bad_username";
    if (parse_username(username, &version, &type, &type_len, &from) != 0 || !from_valid(from))
        return CF_EAUTH;
    /* No auth key is configured (kmsauth arrives with the KMS module): every type is off. */
    why->reason = "kmsauth_user_type";
    return CF_EAUTH;
}
