/*
 * svc_ctx.c - opening and closing what cofferd serves with: the KMS client and the data-key
 * cache, the database pool and the schema check, authentication, the access-log writer, the
 * change listener, and the TLS certificate. `cofferd serve` and the HTTP fuzz target open the same
 * context.
 */
#include "svc_ctx.h"

#include <stdio.h>

#include "cf_log.h"
#include "db_migrate.h"
#include "svc_admit.h"
#include "svc_bundles.h"
#include "svc_gate.h"
#include "svc_ratelimit.h"
#include "svc_tls.h"

/* The KMS client and the data-key cache; exit status 2 when the configuration cannot work. */
static int open_kms(const struct cf_config *cfg, struct svc_ctx *ctx)
{
    char err[512];

    if (kms_client_new(cfg, &ctx->kms, err, sizeof(err)) != 0) {
        (void)fprintf(stderr, "cofferd: %s\n", err);
        return 2;
    }
    if (cfg->datakey_cache_size > 0 && kms_dkcache_new((size_t)cfg->datakey_cache_size,
                                                       cfg->datakey_cache_ttl, &ctx->dkcache) != 0)
        return 2;
    ctx->master_key = cf_config_master_key(cfg);
    cf_log(CF_LOG_INFO, "kms ready", "{s:s, s:s, s:I}", "backend", cfg->kms_backend, "master_key",
           ctx->master_key, "datakey_cache_size", (json_int_t)cfg->datakey_cache_size);
    return 0;
}

/* 0 when the database answers and its schema is current; else the exit status. */
static int check_database(const struct cf_config *cfg, struct svc_ctx *ctx)
{
    struct db_conn *c = NULL;
    char err[512];

    if (db_acquire(ctx->pool, &c) != 0) {
        cf_log(CF_LOG_ERROR, "cannot reach the database at start", NULL);
        return 1;
    }
    int sr = db_schema_check(c, cfg->migrations_dir, err, sizeof(err));
    db_release(ctx->pool, c);
    if (sr != 0) {
        cf_log(CF_LOG_ERROR, "the database schema is not current", "{s:s}", "problem",
               sr == CF_ECONFLICT ? err : "cannot read the schema or the migrations");
        return 1;
    }
    return 0;
}

int svc_ctx_open(const struct cf_config *cfg, struct svc_ctx *ctx)
{
    char err[512];
    int rc;

    *ctx = (struct svc_ctx){ .cfg = cfg };
    if (cfg->tls_cert != NULL && svc_tls_new(cfg, &ctx->tls, err, sizeof(err)) != 0) {
        (void)fprintf(stderr, "cofferd: %s\n", err);
        return 2;
    }
    ctx->limits =
        (struct svc_limits){ .pairs = (size_t)cfg->max_pairs,
                             .credential_bytes = (size_t)cfg->max_credential_bytes,
                             .service_credentials = (size_t)cfg->max_service_credentials };
    ctx->ratelimit = svc_ratelimit_new(cfg->auth_failures_per_minute, cfg->auth_failure_burst);
    ctx->verify_gate = svc_gate_new((size_t)cfg->auth_verify_concurrency);
    ctx->admit = svc_admit_new();
    if ((rc = open_kms(cfg, ctx)) != 0)
        return rc;
    if (db_pool_open(cfg->database_url, (size_t)cfg->db_pool_size, (int)cfg->db_pool_timeout_ms,
                     &ctx->pool) != 0)
        return 1;
    db_pool_set_statement_timeout(ctx->pool, (int)cfg->request_deadline_ms); /* <= 600000 */
    if (auth_new(ctx->pool, ctx->kms, cfg, &ctx->auth) != 0)
        return 1;
    if (auth_resolve_keys(ctx->auth) != 0) {
        cf_log(CF_LOG_WARN,
               "auth keys not resolved yet: KMS is unreachable; kmsauth requests "
               "answer 503 until it answers",
               NULL);
    }
    if ((rc = check_database(cfg, ctx)) != 0)
        return rc;
    const struct svc_bundles_limits bl = { .max_entries = (size_t)cfg->bundle_cache_size,
                                           .max_bytes = (size_t)cfg->bundle_cache_bytes,
                                           .ttl_ms = cfg->bundle_cache_ttl * 1000 };
    if (svc_bundles_new(&bl, &ctx->bundles) != 0)
        return 2;
    if (audit_writer_start(cfg->database_url, (size_t)cfg->audit_batch_max,
                           (int)cfg->audit_batch_wait_ms, (int)cfg->audit_timeout_ms,
                           &ctx->audit) != 0 ||
        svc_listen_start(ctx, &ctx->listener) != 0)
        return 1;
    return 0;
}

void svc_ctx_close(struct svc_ctx *ctx)
{
    svc_listen_stop(ctx->listener);
    audit_writer_stop(ctx->audit); /* after the drain: every answered request has its row */
    auth_free(ctx->auth);
    db_pool_close(ctx->pool);
    svc_bundles_free(ctx->bundles);
    kms_dkcache_free(ctx->dkcache);
    kms_client_free(ctx->kms);
    svc_tls_free(ctx->tls);
    svc_admit_free(ctx->admit);
    svc_ratelimit_free(ctx->ratelimit);
    svc_gate_free(ctx->verify_gate);
    *ctx = (struct svc_ctx){ 0 };
}
