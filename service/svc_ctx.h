/*
 * svc_ctx.h - the server context's life: everything a serving cofferd needs, opened in order
 * and closed in reverse (see svc_ctx.c).
 */
#ifndef SVC_CTX_H
#define SVC_CTX_H

#include "svc.h"
#include "svc_listen.h"

/* Opens the TLS certificate and key (when COFFER_TLS_CERT is set), the KMS client and data-key
 * cache, the pool (checking that the schema is current),
 * authentication (auth keys resolved if KMS answers), the access-log writer and the change
 * listener into ctx (reset first). Returns 0, or the process exit status: 2 when the
 * configuration cannot work, 1 on a runtime failure. Close with svc_ctx_close() either way. */
int svc_ctx_open(const struct cf_config *cfg, struct svc_ctx *ctx);

/* Stops and frees what svc_ctx_open() opened (safe on a partly opened context); after the
 * HTTP server has stopped, so that every answered request has its access-log row. */
void svc_ctx_close(struct svc_ctx *ctx);

#endif
