/*
 * svc_client.c - who a request comes from: the TCP peer, or the client a trusted proxy
 * (COFFER_TRUSTED_PROXIES) names in a PROXY protocol header (COFFER_PROXY_PROTOCOL=on) or in
 * X-Forwarded-For.
 *
 * A peer that is not a trusted proxy is the client, whatever it says: its X-Forwarded-For is
 * only shown in the request's log line (bounded, valid UTF-8) and its PROXY header is read and
 * discarded. With the PROXY protocol on, X-Forwarded-For is ignored from everyone: the proxy
 * works at layer 4 and never wrote it.
 */
#include <errno.h>
#include <poll.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>

#include "cf_addr.h"
#include "cf_log.h"
#include "cf_proxyproto.h"
#include "cf_str.h"
#include "cf_time.h"
#include "svc.h"

/* Copies s (at most cap - 1 bytes, else nothing) into out[cap]. */
static void copy_addr(char *out, size_t cap, const char *s, size_t scap)
{
    size_t n = strnlen(s, scap);

    out[0] = '\0';
    if (n < cap) {
        memcpy(out, s, n);
        out[n] = '\0';
    }
}

static bool proxy_protocol_on(const struct cf_config *cfg)
{
    return cfg != NULL && cfg->proxy_protocol != NULL && strcmp(cfg->proxy_protocol, "on") == 0;
}

/* The X-Forwarded-For lines of an untrusted peer, joined with ", ", kept for its log line. */
static void keep_ignored(struct svc_req *req, const char *const *values, size_t n)
{
    char joined[SVC_FORWARDED_LOG_MAX + 1];
    size_t len = 0;

    for (size_t i = 0; i < n && len < SVC_FORWARDED_LOG_MAX; i++) {
        const char *v = values[i];
        if (i > 0) {
            joined[len++] = ',';
            if (len < SVC_FORWARDED_LOG_MAX)
                joined[len++] = ' ';
        }
        size_t take = strnlen(v, SVC_FORWARDED_LOG_MAX - len);
        memcpy(joined + len, v, take);
        len += take;
    }
    cf_utf8_sanitize(joined, len, SVC_FORWARDED_LOG_MAX, req->forwarded_ignored,
                     sizeof(req->forwarded_ignored));
    if (req->forwarded_ignored[0] == '\0' && n > 0)
        memcpy(req->forwarded_ignored, "\"\"", 3); /* an empty header still shows */
}

void svc_client_init(struct svc_req *req, const struct mg_request_info *ri, bool parsed)
{
    const struct cf_config *cfg = req->ctx != NULL ? req->ctx->cfg : NULL;
    const char *values[MG_MAX_HEADERS];
    struct cf_addr peer, client;
    size_t n = 0;
    bool found;

    req->forwarded_ignored[0] = '\0';
    bool peer_ok = cf_addr_parse(ri->remote_addr, strnlen(ri->remote_addr, sizeof(ri->remote_addr)),
                                 &peer) == 0;
    if (peer_ok) {
        cf_addr_format(&peer, req->peer_addr); /* ::ffff:10.0.0.1 shows as 10.0.0.1 */
    } else {
        copy_addr(req->peer_addr, sizeof(req->peer_addr), ri->remote_addr, sizeof(ri->remote_addr));
    }
    memcpy(req->client_addr, req->peer_addr, sizeof(req->client_addr));
    if (proxy_protocol_on(cfg)) {
        /* set by svc_client_read_proxy_header, for a trusted peer only */
        if (ri->proxy_client_addr[0] != '\0') {
            copy_addr(req->client_addr, sizeof(req->client_addr), ri->proxy_client_addr,
                      sizeof(ri->proxy_client_addr));
        }
        return;
    }
    if (!parsed)
        return;
    for (int i = 0; i < ri->num_headers && i < MG_MAX_HEADERS; i++) {
        const char *name = ri->http_headers[i].name;
        if (name != NULL && strcasecmp(name, "X-Forwarded-For") == 0)
            values[n++] = ri->http_headers[i].value != NULL ? ri->http_headers[i].value : "";
    }
    if (n == 0)
        return;
    if (cfg == NULL || !peer_ok || !cf_cidr_set_contains(&cfg->trusted, &peer)) {
        keep_ignored(req, values, n);
        return;
    }
    (void)cf_xff_client(&cfg->trusted, values, n, &client, &found);
    if (found)
        cf_addr_format(&client, req->client_addr);
}

const char *svc_client_peer_ip(const struct svc_req *req)
{
    if (req->peer_addr[0] == '\0' || strcmp(req->peer_addr, req->client_addr) == 0)
        return NULL;
    return req->peer_addr;
}

/* Where a read stops: the request timeout, or cofferd stopping (civetweb waits for its workers,
 * and this one is not in civetweb's own reads, which watch its stop flag). */
struct deadline {
    int64_t at; /* cf_mono_ms() */
    const atomic_bool *stopping;
};

/* Waits until sock is readable, the deadline passes or cofferd stops. */
static int wait_readable(int sock, const struct deadline *dl)
{
    for (;;) {
        int64_t left = dl->at - cf_mono_ms();
        if (left <= 0)
            return CF_ETIMEOUT;
        if (atomic_load(dl->stopping))
            return CF_EUNAVAIL;
        struct pollfd p = { .fd = sock, .events = POLLIN };
        int r = poll(&p, 1, left > 200 ? 200 : (int)left);
        if (r > 0)
            return 0;
        if (r < 0 && errno != EINTR)
            return CF_EIO;
    }
}

/* Reads exactly len bytes (into buf, or discarded when buf is NULL) before the deadline. */
static int read_exact(int sock, uint8_t *buf, size_t len, const struct deadline *dl)
{
    uint8_t scratch[512];
    int r;

    while (len > 0) {
        size_t want = buf != NULL ? len : (len < sizeof(scratch) ? len : sizeof(scratch));
        ssize_t got = recv(sock, buf != NULL ? buf : scratch, want, 0);
        if (got > 0) {
            len -= (size_t)got;
            if (buf != NULL)
                buf += got;
            continue;
        }
        if (got == 0)
            return CF_EIO; /* closed */
        if (errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR)
            return CF_EIO;
        if ((r = wait_readable(sock, dl)) != 0)
            return r;
    }
    return 0;
}

/* Reads a PROXY header off sock and not one byte more: what has arrived is peeked at, the
 * bytes of the header are then taken (a v2 header's TLVs discarded unread). */
static int read_header(int sock, const struct deadline *dl, struct cf_pp_header *h)
{
    uint8_t buf[CF_PP_V2_FIXED + CF_PP_V2_ADDR_MAX]; /* > CF_PP_V1_MAX */
    size_t have = 0;
    int r;

    for (;;) {
        if ((r = wait_readable(sock, dl)) != 0)
            return r;
        ssize_t got = recv(sock, buf + have, sizeof(buf) - have, MSG_PEEK);
        if (got == 0)
            return CF_EIO;
        if (got < 0) {
            if (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR)
                continue;
            return CF_EIO;
        }
        size_t avail = have + (size_t)got;
        if ((r = cf_pp_parse(buf, avail, h)) != 0)
            return r;
        /* all of it belongs to the header while it is incomplete */
        size_t upto = h->complete && h->len < avail ? h->len : avail;
        if ((r = read_exact(sock, buf + have, upto - have, dl)) != 0)
            return r;
        have = upto;
        if (h->complete)
            return read_exact(sock, NULL, h->len - have, dl);
        if (have == sizeof(buf))
            return CF_EINVAL; /* cannot happen: the parser decides within these bytes */
    }
}

int svc_client_read_proxy_header(const struct mg_connection *conn, int sock, const char *peer,
                                 char *client, size_t client_len)
{
    struct svc_ctx *ctx = mg_get_user_data(mg_get_context(conn));
    struct cf_pp_header h;
    struct cf_addr peer_addr;
    char src[CF_ADDR_STR_MAX], shown[CF_ADDR_STR_MAX] = "";

    if (client_len > 0)
        client[0] = '\0';
    bool peer_ok = cf_addr_parse(peer, strnlen(peer, 48), &peer_addr) == 0;
    if (peer_ok)
        cf_addr_format(&peer_addr, shown);
    const struct deadline dl = { .at = cf_mono_ms() + ctx->cfg->request_timeout_ms,
                                 .stopping = &ctx->stopping };
    int r = read_header(sock, &dl, &h);
    if (r != 0) {
        cf_log(CF_LOG_INFO, "connection closed: no valid PROXY protocol header", "{s:s, s:s}",
               "peer", shown, "why",
               r == CF_ETIMEOUT   ? "timeout"
               : r == CF_EINVAL   ? "malformed"
               : r == CF_EUNAVAIL ? "stopping"
                                  : "closed");
        return 1;
    }
    if (h.kind != CF_PP_ADDRESSES)
        return 0; /* LOCAL, UNKNOWN: the peer is the client */
    cf_addr_format(&h.src, src);
    if (!peer_ok || !cf_cidr_set_contains(&ctx->cfg->trusted, &peer_addr)) {
        cf_log(CF_LOG_WARN,
               "PROXY protocol header from a peer that is not a trusted proxy: ignored",
               "{s:s, s:s}", "peer", shown, "claimed", src);
        return 0;
    }
    if (strlen(src) < client_len)
        memcpy(client, src, strlen(src) + 1);
    return 0;
}
