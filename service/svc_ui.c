/*
 * svc_ui.c - GET /ui/ and /ui/<file>: the admins' and auditors' page (web/), built into
 * cofferd at build time and served from memory.
 *
 * Only the files of the table exist: a name is looked up, never joined to a path, so nothing
 * outside web/ can be reached. The page is public (it holds no data); everything it shows it
 * reads from the REST API with the token the person signs in with. Its Content-Security-Policy
 * allows scripts, styles and fetches from this origin only: no inline script, no framing.
 */
#include <string.h>

#include "svc.h"
#include "web_assets.h"

#define UI_CSP                                                                                     \
    "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self'; "                    \
    "connect-src 'self'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'"

static const struct web_asset *asset_find(const char *name)
{
    for (size_t i = 0; i < web_assets_count; i++) {
        if (strcmp(web_assets[i].name, name) == 0)
            return &web_assets[i];
    }
    return NULL;
}

int svc_h_ui(struct svc_req *req)
{
    /* "/ui" and "/ui/" are the page itself; "/ui/<file>" one of its files */
    const char *name = req->nseg >= 2 && req->seg[1][0] != '\0' ? req->seg[1] : "index.html";
    const struct web_asset *a = asset_find(name);

    if (a == NULL)
        return svc_reply_error(req, SVC_NOT_FOUND, "no such file of the web page", NULL);
    req->csp = UI_CSP;
    /* revalidated on every load (cheap: a 304), so a new cofferd's page is never mixed with
     * an old one's scripts */
    svc_add_header(req, "Cache-Control", "no-cache");
    svc_add_header(req, "ETag", a->etag);
    if (svc_etag_matches(svc_header(req, "If-None-Match"), a->etag))
        return svc_reply_not_modified(req);
    return svc_reply_text(req, 200, a->content_type, (const char *)a->data, a->len);
}
