/*
 * cf_proxyproto.h - the PROXY protocol header (HAProxy's proxy-protocol.txt, versions 1 and 2)
 * that a layer-4 load balancer sends before the connection's own bytes, parsed from a buffer.
 *
 * Pure: no socket here. A reader (service/svc_client.c) feeds what has arrived so far; the
 * parser says whether that is a header, the valid beginning of one, or not one at all, and
 * how long the header is, so that the reader never consumes a byte of what follows it (the
 * TLS handshake or the first request).
 */
#ifndef CF_PROXYPROTO_H
#define CF_PROXYPROTO_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "cf_addr.h"
#include "cf_err.h"

#define CF_PP_V1_MAX      107 /* the longest version 1 header, CR LF included */
#define CF_PP_V2_FIXED    16  /* signature, version and command, family, length */
#define CF_PP_V2_ADDR_MAX 216 /* the largest address block read (AF_UNIX); TLVs are skipped */

/* What the header says about the connection. */
enum cf_pp_kind {
    CF_PP_ADDRESSES, /* v1 TCP4/TCP6, v2 PROXY over TCP: src is the client */
    CF_PP_UNKNOWN,   /* v1 UNKNOWN, v2 PROXY of another family: use the connection's peer */
    CF_PP_LOCAL,     /* v2 LOCAL (the proxy's own health check): use the connection's peer */
};

struct cf_pp_header {
    bool complete; /* false: buf is a valid beginning of a header, more bytes are needed */
    int version;   /* 1 or 2; 0 while not yet known */
    enum cf_pp_kind kind;
    struct cf_addr src, dst; /* CF_PP_ADDRESSES only */
    uint16_t src_port, dst_port;
    size_t len; /* complete: the header's whole length (a v2 header's TLVs included), up to
                 * 16 + 65535; the reader consumes exactly this many bytes */
};

/* Parses buf[0..n), the first n bytes of a connection. Returns 0 with out->complete true (the
 * header is whole and decoded; out->len may exceed n for a v2 header whose TLVs, which are
 * not read, have not all arrived) or false (a valid beginning: read more, at least one byte;
 * every byte of buf belongs to the header), or CF_EINVAL: not a PROXY header, a malformed or
 * over-long one, or a version, command, family or address the protocol does not define. */
CF_MUST_CHECK int cf_pp_parse(const uint8_t *buf, size_t n, struct cf_pp_header *out);

#endif
