/*
 * cf_addr.h - IP addresses and CIDR sets (COFFER_TRUSTED_PROXIES), and the client address an
 * X-Forwarded-For header names behind trusted proxies.
 *
 * Addresses are parsed with inet_pton only: dotted-quad IPv4 and RFC 4291 IPv6 text, nothing
 * a resolver or inet_aton would guess at ("10.1", "0x7f.1"). An IPv4-mapped IPv6 address
 * (::ffff:a.b.c.d, what a dual-stack socket reports for an IPv4 peer) is the IPv4 address, so
 * it matches IPv4 CIDRs and is written as a.b.c.d.
 */
#ifndef CF_ADDR_H
#define CF_ADDR_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "cf_err.h"

#define CF_ADDR_STR_MAX 46 /* INET6_ADDRSTRLEN: the longest text form, with its NUL */
#define CF_CIDR_SET_MAX 64 /* CIDRs one set may hold */

/* One address: family 4 (bytes[0..4)) or 6 (bytes[0..16)). */
struct cf_addr {
    int family;
    uint8_t bytes[16];
};

/* A network: addr with its host bits zero, and the prefix length (0..32 or 0..128). */
struct cf_cidr {
    struct cf_addr addr;
    unsigned bits;
};

/* A list of networks (fixed size: no allocation, nothing to free). */
struct cf_cidr_set {
    struct cf_cidr v[CF_CIDR_SET_MAX];
    size_t n;
};

/* Parses s[0..len) (no NUL needed) as an IPv4 or IPv6 address, IPv4-mapped IPv6 becoming
 * IPv4. CF_EINVAL if it is not one (a zone "%eth0", a port or brackets included). */
CF_MUST_CHECK int cf_addr_parse(const char *s, size_t len, struct cf_addr *out);

/* The address as text ("10.0.0.1", "2001:db8::1") into out[CF_ADDR_STR_MAX]. */
void cf_addr_format(const struct cf_addr *a, char out[CF_ADDR_STR_MAX]);

/* True if a and b are the same address. */
bool cf_addr_equal(const struct cf_addr *a, const struct cf_addr *b);

/* Parses "addr/bits" or a bare address (/32 or /128) from s[0..len). CF_EINVAL when malformed,
 * the prefix is out of range or host bits are set ("10.0.0.1/8": a typo of 10.0.0.0/8 or of
 * 10.0.0.1/32, refused rather than guessed). */
CF_MUST_CHECK int cf_cidr_parse(const char *s, size_t len, struct cf_cidr *out);

/* Parses a comma-separated list of CIDRs (spaces around each allowed; "" is the empty set).
 * On CF_EINVAL or CF_ETOOBIG (more than CF_CIDR_SET_MAX) err[errcap] says which entry and
 * why. */
CF_MUST_CHECK int cf_cidr_set_parse(const char *list, struct cf_cidr_set *out, char *err,
                                    size_t errcap);

/* True if a is in one of set's networks. */
bool cf_cidr_set_contains(const struct cf_cidr_set *set, const struct cf_addr *a);

/* How an X-Forwarded-For walk ended. */
enum cf_xff_result {
    CF_XFF_NONE,        /* no entry at all: the client is the peer */
    CF_XFF_CLIENT,      /* the right-most entry that is not a trusted proxy */
    CF_XFF_ALL_TRUSTED, /* every entry is a trusted proxy: the left-most */
    CF_XFF_MALFORMED,   /* an entry is not an address: the walk stopped there, and the client is
                         * the last entry read before it (a trusted proxy), or the peer when the
                         * right-most entry is the malformed one */
};

/* The client of a request that a trusted proxy forwarded: values[0..n) are the
 * X-Forwarded-For header lines in the order they came, read as one comma-separated list. The
 * list is walked from the right; entries in trusted are skipped (each was appended by the hop
 * to its right, and a trusted proxy tells the truth about its own peer); the first entry
 * that is not trusted is the client. An entry is an address, optionally with a port
 * ("192.0.2.1:4711", "[2001:db8::1]:4711") or in brackets; empty entries are skipped.
 * Returns how the walk ended; *client_out is set for CF_XFF_CLIENT, CF_XFF_ALL_TRUSTED, and
 * for CF_XFF_MALFORMED when an entry was read before the malformed one (*found_out true). */
enum cf_xff_result cf_xff_client(const struct cf_cidr_set *trusted, const char *const *values,
                                 size_t n, struct cf_addr *client_out, bool *found_out);

#endif
