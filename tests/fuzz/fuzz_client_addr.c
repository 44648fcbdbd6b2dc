/*
 * fuzz_client_addr.c - who a request comes from: the PROXY protocol header parser
 * (cf_pp_parse), COFFER_TRUSTED_PROXIES (cf_cidr_set_parse) and the X-Forwarded-For walk
 * (cf_xff_client).
 *
 * The whole input is offered to the PROXY parser, and so is every prefix of its first 240
 * bytes: a prefix of a header must never be refused where the whole is taken, a header never
 * ends past the bytes it was given (v1) or outside 16 + 65535 (v2), and an incomplete one holds
 * only header bytes. The input's first line is then a CIDR list and the rest X-Forwarded-For
 * lines, walked with that list (or a fixed one when the list does not parse).
 */
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "cf_addr.h"
#include "cf_proxyproto.h"

#define LINES_MAX 16

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void proxy_header(const uint8_t *data, size_t size)
{
    struct cf_pp_header whole, part;
    int r = cf_pp_parse(data, size, &whole);

    if (r == 0 && whole.complete) {
        if (whole.version == 1 && (whole.len > size || whole.len > CF_PP_V1_MAX))
            abort();
        if (whole.version == 2 && (whole.len < CF_PP_V2_FIXED || whole.len > 16 + 65535))
            abort();
    }
    if (r == 0 && !whole.complete && size >= CF_PP_V2_FIXED + CF_PP_V2_ADDR_MAX)
        abort(); /* the parser decides within these bytes */
    for (size_t n = 0; n < size && n <= 240; n++) {
        int rp = cf_pp_parse(data, n, &part);
        if (r == 0 && rp != 0)
            abort(); /* a prefix of an accepted input refused */
        if (rp == 0 && part.complete && whole.complete && part.len != whole.len)
            abort();
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct cf_cidr_set set;
    char err[200];
    const char *lines[LINES_MAX];
    size_t n = 0;

    proxy_header(data, size);
    char *text = malloc(size + 1);
    if (text == NULL)
        return 0;
    memcpy(text, data, size);
    text[size] = '\0';
    char *rest = text + strcspn(text, "\n");
    if (*rest != '\0')
        *rest++ = '\0';
    if (cf_cidr_set_parse(text, &set, err, sizeof(err)) != 0 &&
        cf_cidr_set_parse("10.0.0.0/8, 2001:db8::/32, 127.0.0.1", &set, err, sizeof(err)) != 0)
        abort();
    while (n < LINES_MAX) {
        lines[n++] = rest;
        char *end = rest + strcspn(rest, "\n");
        if (*end == '\0')
            break;
        *end = '\0';
        rest = end + 1;
    }
    struct cf_addr client;
    bool found;
    enum cf_xff_result xr = cf_xff_client(&set, lines, n, &client, &found);
    if (xr == CF_XFF_CLIENT && (!found || cf_cidr_set_contains(&set, &client)))
        abort(); /* the client named is never a trusted proxy */
    if (xr == CF_XFF_ALL_TRUSTED && (!found || !cf_cidr_set_contains(&set, &client)))
        abort();
    if (found) {
        char s[CF_ADDR_STR_MAX];
        struct cf_addr again;
        cf_addr_format(&client, s);
        if (cf_addr_parse(s, strlen(s), &again) != 0 || !cf_addr_equal(&client, &again))
            abort(); /* the text written for the log reads back as the same address */
    }
    free(text);
    return 0;
}
