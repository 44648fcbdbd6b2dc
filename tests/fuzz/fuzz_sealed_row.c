/*
 * fuzz_sealed_row.c - opening a sealed credential revision as read from the database
 * (kms_envelope_open over the local KMS backend, with and without the data-key cache), and the
 * local backend's blob decrypt (kms_decrypt).
 *
 * At start-up the target writes a key file in a new folder under /tmp (both removed once the
 * keys are loaded) and seals one real revision. The input is a selector byte, then eight
 * fields, each a 2-byte big-endian length and that many bytes (a field the input does not
 * reach is empty): format version (big-endian, at most 4 bytes), KMS key id, data-key blob,
 * nonce (cut or zero-padded to 12 bytes), ciphertext + tag, credential id, revision
 * (big-endian two's complement, at most 8 bytes), and an encryption context (NUL-separated
 * key, value, key, value..., at most 4 pairs). Bits 0-2 of the selector pick the field of the
 * real row that the input's field replaces (7: none); bit 7 empties the data-key cache first.
 * Each input opens the input's row as is and the real row with that one field replaced, each
 * without and with the cache, and decrypts the input's blob and the real blob under the
 * input's context with kms_decrypt.
 *
 * Properties (abort() on violation):
 * - an open succeeds exactly when version, data-key blob, nonce, ciphertext, credential id
 *   and revision are the sealed ones, and the plaintext is then exactly what was sealed. The
 *   KMS key id is not checked: kms_envelope_open does not read it.
 * - a failed open returns CF_EINTEGRITY, or CF_EINVAL when the credential id or revision is
 *   one no revision can be sealed for (id empty or longer than KMS_ENVELOPE_ID_MAX, revision
 *   outside 1..UINT32_MAX); its plaintext is left empty.
 * - kms_decrypt succeeds exactly when the blob is the real one and the context is the one
 *   pair id = <the real credential id>, giving the real data key and local:key/coffer-master;
 *   otherwise it returns CF_EINTEGRITY with the plaintext empty.
 */
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cf_json.h"
#include "cf_mem.h"
#include "cf_str.h"
#include "kms.h"
#include "kms_cache.h"
#include "kms_envelope.h"
#include "kms_local.h"

#define MASTER_KEY     "alias/coffer-master"
#define MASTER_ARN     "local:key/coffer-master"
#define REAL_ID        "0123456789abcdef0123456789abcdef"
#define REAL_REVISION  3
#define REAL_PLAIN     "{\"password\":\"s3cr3t\",\"username\":\"web\"}"
#define ROW_ID_CAP     (KMS_ENVELOPE_ID_MAX + 16) /* longer ids are cut: still too long */
#define CTX_PAIRS_MAX  4
#define SELECT_FIELD   0x07 /* bits 0-2: the field of the real row to replace */
#define SELECT_NONE    7    /* ... or none */
#define SELECT_COLD    0x80
#define NUM_BYTES_MAX  8 /* the widest numeric field: the revision */
#define SENTINEL_LEN   ((size_t)0x5eed)
#define DK_CACHE_SIZE  16
#define DK_CACHE_TTL_S 3600

enum field {
    F_VERSION,
    F_KEY_ID,
    F_DATA_KEY,
    F_NONCE,
    F_CIPHERTEXT,
    F_CRED_ID,
    F_REVISION,
    F_CONTEXT,
    F_COUNT
};

/* The fields of a row, as slices of the input (or of the real row's encoding). */
struct fields {
    const uint8_t *p[F_COUNT];
    size_t len[F_COUNT];
};

/* A decoded row: what the database layer hands to kms_envelope_open, and what it asks for. */
struct row {
    struct kms_sealed sealed; /* blobs are exact-size copies, so ASan sees any overread */
    char id[ROW_ID_CAP + 1];
    int64_t revision;
};

/* Set up once in LLVMFuzzerInitialize, read-only afterwards (the target is single-threaded). */
static struct kms_client *kms;
static struct kms_dkcache *cache;
static struct kms_sealed real;
static struct cf_secret real_dk; /* the plaintext data key, to check kms_decrypt's answer */
static struct fields real_fields;
static uint8_t real_version_be[4], real_revision_be[8];

int LLVMFuzzerInitialize(int *argc, char ***argv);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void die(const char *what)
{
    (void)fprintf(stderr, "fuzz_sealed_row: %s\n", what);
    abort();
}

static bool bytes_eq(const uint8_t *a, size_t alen, const uint8_t *b, size_t blen)
{
    return alen == blen && (alen == 0 || memcmp(a, b, alen) == 0);
}

static uint64_t be_value(const uint8_t *p, size_t len)
{
    uint64_t v = 0;

    for (size_t i = 0; i < len && i < NUM_BYTES_MAX; i++)
        v = v << 8 | p[i];
    return v;
}

static void be_bytes(uint64_t v, uint8_t *out, size_t len)
{
    for (size_t i = 0; i < len; i++)
        out[i] = (uint8_t)(v >> (8 * (len - 1 - i)));
}

/* Splits the input after the selector byte into length-prefixed fields. */
static void split_fields(const uint8_t *data, size_t size, struct fields *f)
{
    size_t at = 0;

    for (size_t i = 0; i < F_COUNT; i++) {
        size_t n = 0;
        if (size - at >= 2) {
            n = (size_t)data[at] << 8 | data[at + 1];
            at += 2;
            if (n > size - at)
                n = size - at;
        }
        f->p[i] = data + at;
        f->len[i] = n;
        at += n;
    }
}

static struct kms_blob blob_copy(const uint8_t *p, size_t len)
{
    struct kms_blob b = { 0 }; /* an empty field is an empty blob, as kms_blob_free leaves one */

    if (len > 0) {
        b.data = cf_xmalloc(len);
        memcpy(b.data, p, len);
        b.len = len;
    }
    return b;
}

static void text_copy(const uint8_t *p, size_t len, char *out, size_t cap)
{
    size_t n = len < cap - 1 ? len : cap - 1;

    if (n > 0)
        memcpy(out, p, n);
    out[n] = '\0'; /* a NUL inside the field ends the text, as it would for the caller */
}

static void row_decode(const struct fields *f, struct row *r)
{
    size_t version_len = f->len[F_VERSION] < 4 ? f->len[F_VERSION] : 4;
    uint32_t version = (uint32_t)be_value(f->p[F_VERSION], version_len); /* 4 bytes: fits */
    uint64_t revision = be_value(f->p[F_REVISION], f->len[F_REVISION]);
    int32_t sversion;
    size_t nonce_len = f->len[F_NONCE] < CF_AEAD_NONCE_LEN ? f->len[F_NONCE] : CF_AEAD_NONCE_LEN;

    *r = (struct row){ 0 };
    memcpy(&sversion, &version, sizeof(sversion)); /* two's complement: any int32_t */
    r->sealed.version = sversion;
    text_copy(f->p[F_KEY_ID], f->len[F_KEY_ID], r->sealed.kms_key_id, sizeof(r->sealed.kms_key_id));
    r->sealed.data_key = blob_copy(f->p[F_DATA_KEY], f->len[F_DATA_KEY]);
    if (nonce_len > 0)
        memcpy(r->sealed.nonce, f->p[F_NONCE], nonce_len);
    r->sealed.ciphertext = blob_copy(f->p[F_CIPHERTEXT], f->len[F_CIPHERTEXT]);
    text_copy(f->p[F_CRED_ID], f->len[F_CRED_ID], r->id, sizeof(r->id));
    memcpy(&r->revision, &revision, sizeof(r->revision)); /* two's complement: any int64_t */
}

/* Every field open authenticates matches the real row (the KMS key id is not one). */
static bool row_is_real(const struct row *r)
{
    return r->sealed.version == real.version &&
           bytes_eq(r->sealed.data_key.data, r->sealed.data_key.len, real.data_key.data,
                    real.data_key.len) &&
           memcmp(r->sealed.nonce, real.nonce, CF_AEAD_NONCE_LEN) == 0 &&
           bytes_eq(r->sealed.ciphertext.data, r->sealed.ciphertext.len, real.ciphertext.data,
                    real.ciphertext.len) &&
           strcmp(r->id, REAL_ID) == 0 && r->revision == REAL_REVISION;
}

/* No revision can be sealed for this id and revision (build_aad's limits). */
static bool row_args_bad(const struct row *r)
{
    size_t n = strlen(r->id);
    return n == 0 || n > KMS_ENVELOPE_ID_MAX || r->revision < 1 || r->revision > UINT32_MAX;
}

static void check_open(const struct row *r, struct kms_dkcache *c)
{
    struct cf_secret out = { .data = NULL, .len = SENTINEL_LEN }; /* must be reset */
    int rc = kms_envelope_open(kms, c, r->id, r->revision, &r->sealed, &out);

    if (row_is_real(r)) {
        if (rc != 0)
            die("the real row did not open");
        if (!bytes_eq(out.data, out.len, (const uint8_t *)REAL_PLAIN, strlen(REAL_PLAIN)))
            die("the real row opened to another plaintext");
    } else {
        if (rc == 0)
            die("an altered row opened");
        if (rc != CF_EINTEGRITY && !(rc == CF_EINVAL && row_args_bad(r)))
            die("a failed open returned an unexpected code");
        if (out.data != NULL || out.len != 0)
            die("a failed open left plaintext behind");
    }
    cf_secret_free(&out);
}

static void check_opens(const struct fields *f)
{
    struct row r;

    row_decode(f, &r);
    check_open(&r, NULL);
    check_open(&r, cache);
    kms_sealed_free(&r.sealed);
}

/* The context field: NUL-separated strings, paired as key, value (a lone last key gets ""). */
static void context_decode(const struct fields *f, char *text, struct kms_context *ctx)
{
    const char *s[2 * CTX_PAIRS_MAX];
    size_t n = 0, len = f->len[F_CONTEXT];

    *ctx = (struct kms_context){ 0 };
    if (len == 0)
        return;
    memcpy(text, f->p[F_CONTEXT], len);
    text[len] = '\0';
    for (size_t at = 0; at <= len && n < 2 * CTX_PAIRS_MAX; at += strlen(text + at) + 1)
        s[n++] = text + at;
    for (size_t i = 0; i < n; i += 2) {
        if (kms_context_add(ctx, s[i], i + 1 < n ? s[i + 1] : "") != 0)
            die("kms_context_add refused a pair under KMS_CONTEXT_MAX");
    }
}

static bool context_is_real(const struct kms_context *ctx)
{
    return ctx->n == 1 && strcmp(ctx->pairs[0].key, "id") == 0 &&
           strcmp(ctx->pairs[0].value, REAL_ID) == 0;
}

static void check_decrypt(const uint8_t *blob, size_t len, const struct kms_context *ctx)
{
    struct cf_secret out = { .data = NULL, .len = SENTINEL_LEN };
    char arn[KMS_KEY_ID_MAX + 1];
    int rc = kms_decrypt(kms, blob, len, ctx, &out, arn, sizeof(arn));

    if (bytes_eq(blob, len, real.data_key.data, real.data_key.len) && context_is_real(ctx)) {
        if (rc != 0)
            die("the real blob did not decrypt under its context");
        if (!bytes_eq(out.data, out.len, real_dk.data, real_dk.len) || strcmp(arn, MASTER_ARN) != 0)
            die("the real blob decrypted to another key or ARN");
    } else {
        if (rc != CF_EINTEGRITY)
            die("a foreign blob or context did not fail with CF_EINTEGRITY");
        if (out.data != NULL || out.len != 0)
            die("a failed decrypt left plaintext behind");
    }
    cf_secret_free(&out);
}

static void check_decrypts(const struct fields *f)
{
    struct kms_context ctx;
    char *text = cf_xmalloc(f->len[F_CONTEXT] + 1);
    uint8_t *blob = NULL; /* an exact-size copy: ASan sees any overread */

    context_decode(f, text, &ctx);
    if (f->len[F_DATA_KEY] > 0) {
        blob = cf_xmalloc(f->len[F_DATA_KEY]);
        memcpy(blob, f->p[F_DATA_KEY], f->len[F_DATA_KEY]);
    }
    check_decrypt(blob, f->len[F_DATA_KEY], &ctx);
    check_decrypt(real.data_key.data, real.data_key.len, &ctx);
    free(blob);
    free(text);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct fields in, mixed = real_fields;

    if (size == 0)
        return 0;
    split_fields(data + 1, size - 1, &in);
    size_t pick = data[0] & SELECT_FIELD;
    if (pick != SELECT_NONE) {
        mixed.p[pick] = in.p[pick];
        mixed.len[pick] = in.len[pick];
    }
    if ((data[0] & SELECT_COLD) != 0)
        kms_dkcache_clear(cache);
    check_opens(&in);
    check_opens(&mixed);
    check_decrypts(&in);
    return 0;
}

/* Start-up: a key file, a client, a cache, and one real sealed revision. */

static void make_client(void)
{
    char dir[] = "/tmp/coffer-fuzz-sealed-XXXXXX", path[sizeof(dir) + 16], err[256];
    struct kms_local *kl = NULL;

    if (mkdtemp(dir) == NULL || cf_fmt(path, sizeof(path), "%s/keys.json", dir) != 0)
        die("cannot make a folder for the key file");
    if (kms_local_init_file(path, err, sizeof(err)) != 0 ||
        kms_local_open(path, &kl, err, sizeof(err)) != 0)
        die(err);
    if (unlink(path) != 0 || rmdir(dir) != 0) /* the keys live on in memory only */
        die("cannot remove the key file");
    kms = kms_client_wrap(&kms_local_ops, kl);
}

static void seal_real_row(void)
{
    struct kms_context ctx = { 0 };
    char arn[KMS_KEY_ID_MAX + 1];

    if (kms_dkcache_new(DK_CACHE_SIZE, DK_CACHE_TTL_S, &cache) != 0)
        die("kms_dkcache_new failed");
    if (kms_envelope_seal(kms, cache, MASTER_KEY, REAL_ID, REAL_REVISION,
                          (const uint8_t *)REAL_PLAIN, strlen(REAL_PLAIN), &real) != 0)
        die("kms_envelope_seal failed");
    if (kms_context_add(&ctx, "id", REAL_ID) != 0 ||
        kms_decrypt(kms, real.data_key.data, real.data_key.len, &ctx, &real_dk, arn, sizeof(arn)) !=
            0 ||
        real_dk.len != KMS_DATA_KEY_LEN)
        die("the real data key does not decrypt");
}

static void encode_real_fields(void)
{
    be_bytes(KMS_ENVELOPE_VERSION, real_version_be, sizeof(real_version_be));
    be_bytes(REAL_REVISION, real_revision_be, sizeof(real_revision_be));
    real_fields = (struct fields){ 0 };
    real_fields.p[F_VERSION] = real_version_be;
    real_fields.len[F_VERSION] = sizeof(real_version_be);
    real_fields.p[F_KEY_ID] = (const uint8_t *)real.kms_key_id;
    real_fields.len[F_KEY_ID] = strlen(real.kms_key_id);
    real_fields.p[F_DATA_KEY] = real.data_key.data;
    real_fields.len[F_DATA_KEY] = real.data_key.len;
    real_fields.p[F_NONCE] = real.nonce;
    real_fields.len[F_NONCE] = sizeof(real.nonce);
    real_fields.p[F_CIPHERTEXT] = real.ciphertext.data;
    real_fields.len[F_CIPHERTEXT] = real.ciphertext.len;
    real_fields.p[F_CRED_ID] = (const uint8_t *)REAL_ID;
    real_fields.len[F_CRED_ID] = strlen(REAL_ID);
    real_fields.p[F_REVISION] = real_revision_be;
    real_fields.len[F_REVISION] = sizeof(real_revision_be);
}

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
    (void)argc;
    (void)argv;
    cf_json_init(); /* before any json_ call: the key file is written through jansson */
    make_client();
    seal_real_row();
    encode_real_fields();
    return 0;
}
