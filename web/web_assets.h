/*
 * web_assets.h - the web page's static files, built into cofferd (web/embed.cmake writes
 * the table from the files in web/ at build time).
 */
#ifndef COFFER_WEB_ASSETS_H
#define COFFER_WEB_ASSETS_H

#include <stddef.h>

struct web_asset {
    const char *name;         /* "app.js": a file of web/, no folder */
    const char *content_type; /* from its extension */
    const unsigned char *data;
    size_t len;
    const char *etag; /* strong, quoted: the first 32 hex characters of its SHA-256 */
};

extern const struct web_asset web_assets[];
extern const size_t web_assets_count;

#endif
