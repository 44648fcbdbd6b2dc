/*
 * bench_kms.c - throughput of the local KMS backend, envelope sealing and opening (data-key
 * cache hit and miss) and the data-key cache itself, in operations per second.
 *
 * Usage: bench_kms [--seconds S] [--payload BYTES]
 * Prints one JSON object per benchmark. Timings live here, never in tests.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cf_json.h"
#include "cf_mem.h"
#include "cf_time.h"
#include "kms.h"
#include "kms_cache.h"
#include "kms_envelope.h"
#include "kms_local.h"

struct bench {
    struct kms_client *k;
    struct kms_dkcache *cache;
    struct kms_context ctx;
    struct kms_blob blob;     /* a local blob of a data key, for decrypt */
    struct kms_sealed sealed; /* a sealed payload, for open */
    uint8_t *payload;
    size_t payload_len;
};

static const char *const cred = "0123456789abcdef0123456789abcdef";

typedef int (*bench_fn)(struct bench *b);

static int op_encrypt(struct bench *b)
{
    struct kms_blob out;
    char arn[64];
    int r =
        kms_encrypt(b->k, "alias/coffer-master", b->payload, 32, &b->ctx, &out, arn, sizeof(arn));
    kms_blob_free(&out);
    return r;
}

static int op_decrypt(struct bench *b)
{
    struct cf_secret out;
    char arn[64];
    int r = kms_decrypt(b->k, b->blob.data, b->blob.len, &b->ctx, &out, arn, sizeof(arn));
    cf_secret_free(&out);
    return r;
}

static int op_generate(struct bench *b)
{
    struct cf_secret dk;
    struct kms_blob out;
    char arn[64];
    int r =
        kms_generate_data_key(b->k, "alias/coffer-master", &b->ctx, &dk, &out, arn, sizeof(arn));
    cf_secret_free(&dk);
    kms_blob_free(&out);
    return r;
}

static int op_seal(struct bench *b)
{
    struct kms_sealed s;
    int r = kms_envelope_seal(b->k, NULL, "alias/coffer-master", cred, 1, b->payload,
                              b->payload_len, &s);
    kms_sealed_free(&s);
    return r;
}

static int open_with(struct bench *b, struct kms_dkcache *cache)
{
    struct cf_secret out;
    int r = kms_envelope_open(b->k, cache, cred, 1, &b->sealed, &out);
    cf_secret_free(&out);
    return r;
}

static int op_open_hit(struct bench *b)
{
    return open_with(b, b->cache);
}

static int op_open_miss(struct bench *b)
{
    return open_with(b, NULL); /* no cache: one Decrypt per open */
}

/* Runs fn for about `seconds` and prints its rate; 0, or -1 if an operation failed. */
static int run(const char *name, bench_fn fn, struct bench *b, double seconds)
{
    int64_t start = cf_mono_ms(), deadline = start + (int64_t)(seconds * 1000.0);
    uint64_t n = 0;

    do {
        for (int i = 0; i < 64; i++) {
            if (fn(b) != 0) {
                (void)fprintf(stderr, "bench_kms: %s failed\n", name);
                return -1;
            }
        }
        n += 64;
    } while (cf_mono_ms() < deadline);
    double elapsed = (double)(cf_mono_ms() - start) / 1000.0;
    (void)printf("{\"bench\":\"%s\",\"ops\":%llu,\"seconds\":%.3f,\"ops_per_sec\":%.0f,"
                 "\"payload_bytes\":%zu}\n",
                 name, (unsigned long long)n, elapsed, (double)n / elapsed, b->payload_len);
    (void)fflush(stdout);
    return 0;
}

/* A local KMS client, a cache, a data-key blob and a sealed payload; 0, or -1 on failure. */
static int setup(struct bench *b, size_t payload_len)
{
    char dir[] = "/tmp/coffer-bench-XXXXXX", path[64], err[256];
    struct kms_local *kl = NULL;
    struct cf_secret dk = { 0 };
    char arn[64];

    if (mkdtemp(dir) == NULL || snprintf(path, sizeof(path), "%s/keys.json", dir) < 0 ||
        kms_local_init_file(path, err, sizeof(err)) != 0 ||
        kms_local_open(path, &kl, err, sizeof(err)) != 0) {
        (void)fprintf(stderr, "bench_kms: cannot make a key file\n");
        return -1;
    }
    unlink(path);
    rmdir(dir);
    b->k = kms_client_wrap(&kms_local_ops, kl);
    if (kms_context_add(&b->ctx, "id", cred) != 0 || kms_dkcache_new(10000, 900, &b->cache) != 0)
        return -1;
    b->payload_len = payload_len;
    b->payload = cf_xcalloc(1, payload_len < 32 ? 32 : payload_len);
    if (kms_generate_data_key(b->k, "alias/coffer-master", &b->ctx, &dk, &b->blob, arn,
                              sizeof(arn)) != 0 ||
        kms_envelope_seal(b->k, b->cache, "alias/coffer-master", cred, 1, b->payload,
                          b->payload_len, &b->sealed) != 0) {
        cf_secret_free(&dk);
        return -1;
    }
    cf_secret_free(&dk);
    return 0;
}

/* Every benchmark, in the order they run. */
static const struct {
    const char *name;
    bench_fn fn;
} benches[] = {
    { .name = "local_encrypt_32B", .fn = op_encrypt },
    { .name = "local_decrypt_32B", .fn = op_decrypt },
    { .name = "local_generate_data_key", .fn = op_generate },
    { .name = "envelope_seal", .fn = op_seal },
    { .name = "envelope_open_cache_hit", .fn = op_open_hit },
    { .name = "envelope_open_cache_miss", .fn = op_open_miss },
};

int main(int argc, char **argv)
{
    double seconds = 1.0;
    size_t payload = 512;
    struct bench b = { 0 };

    cf_json_init();
    for (int i = 1; i + 1 < argc; i += 2) {
        if (strcmp(argv[i], "--seconds") == 0) {
            seconds = strtod(argv[i + 1], NULL);
        } else if (strcmp(argv[i], "--payload") == 0) {
            payload = (size_t)strtoul(argv[i + 1], NULL, 10);
        }
    }
    if (seconds <= 0 || payload == 0 || payload > 65536) {
        (void)fprintf(stderr, "usage: bench_kms [--seconds S] [--payload 1..65536]\n");
        return 2;
    }
    if (setup(&b, payload) != 0)
        return 1;
    for (size_t i = 0; i < sizeof(benches) / sizeof(benches[0]); i++) {
        if (run(benches[i].name, benches[i].fn, &b, seconds) != 0)
            return 1; /* the first failure ends the run */
    }
    kms_sealed_free(&b.sealed);
    kms_blob_free(&b.blob);
    kms_dkcache_free(b.cache);
    kms_client_free(b.k);
    free(b.payload);
    return 0;
}
