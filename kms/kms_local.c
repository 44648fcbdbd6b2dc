/*
 * kms_local.c - the `local` KMS backend: master keys from a key file (API.md 9.4).
 *
 * Key file: {"version": 1, "keys": [{"id", "aliases": [...], "material": base64 of 32 bytes,
 * "created_at"}]}, mode 0600. A blob is "CLK1" || n || key id (n bytes) || 12-byte nonce ||
 * AES-256-GCM ciphertext || 16-byte tag, with associated data "CLK1" || n || key id ||
 * canonical JSON of the encryption context. The keys are read-only after loading, so every
 * operation is thread-safe without a lock.
 */
#include "kms_local.h"

#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <jansson.h>
#include <openssl/crypto.h>

#include "cf_aead.h"
#include "cf_codec.h"
#include "cf_crypto.h"
#include "cf_file.h"
#include "cf_json.h"
#include "cf_log.h"
#include "cf_mem.h"
#include "cf_str.h"
#include "cf_time.h"

#define LOCAL_MAGIC        "CLK1"
#define LOCAL_MAGIC_LEN    4
#define LOCAL_FILE_MAX     (1u << 20)
#define LOCAL_KEYS_MAX     256
#define LOCAL_ALIASES_MAX  16
#define LOCAL_ARN_PREFIX   "local:key/"
#define LOCAL_ALIAS_PREFIX "alias/"

struct local_key {
    char id[KMS_LOCAL_ID_MAX + 1];
    char *aliases[LOCAL_ALIASES_MAX];
    size_t naliases;
    uint8_t material[KMS_LOCAL_KEY_LEN]; /* cleansed in kms_local_free() */
};

struct kms_local {
    struct local_key *keys;
    size_t nkeys;
};

static bool id_valid(const char *s)
{
    size_t n = strlen(s);
    if (n == 0 || n > KMS_LOCAL_ID_MAX)
        return false;
    for (size_t i = 0; i < n; i++) {
        char c = s[i];
        if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
              c == '-' || c == '_'))
            return false;
    }
    return true;
}

static bool alias_valid(const char *s)
{
    size_t plen = strlen(LOCAL_ALIAS_PREFIX);
    return strncmp(s, LOCAL_ALIAS_PREFIX, plen) == 0 && id_valid(s + plen);
}

void kms_local_free(struct kms_local *kl)
{
    if (kl == NULL)
        return;
    for (size_t i = 0; i < kl->nkeys; i++) {
        OPENSSL_cleanse(kl->keys[i].material, sizeof(kl->keys[i].material));
        for (size_t a = 0; a < kl->keys[i].naliases; a++)
            free(kl->keys[i].aliases[a]);
    }
    free(kl->keys);
    free(kl);
}

/* Finds a key by id, alias or local:key/<id>. */
static const struct local_key *find_key(const struct kms_local *kl, const char *name)
{
    size_t plen = strlen(LOCAL_ARN_PREFIX);
    const char *id = strncmp(name, LOCAL_ARN_PREFIX, plen) == 0 ? name + plen : name;

    for (size_t i = 0; i < kl->nkeys; i++) {
        const struct local_key *k = &kl->keys[i];
        if (strcmp(k->id, id) == 0)
            return k;
        for (size_t a = 0; id == name && a < k->naliases; a++) {
            if (strcmp(k->aliases[a], name) == 0)
                return k;
        }
    }
    return NULL;
}

static int key_arn(const struct local_key *k, char *out, size_t cap)
{
    if (out == NULL)
        return 0;
    return cf_fmt(out, cap, "%s%s", LOCAL_ARN_PREFIX, k->id) == 0 ? 0 : CF_ETOOBIG;
}

/* Reads the whole key file into a secret buffer, refusing one that others may read. */
static int parse_aliases(const json_t *arr, struct local_key *k)
{
    size_t i;
    const json_t *v;

    if (arr == NULL)
        return 0;
    if (!json_is_array(arr) || json_array_size(arr) > LOCAL_ALIASES_MAX)
        return CF_EINVAL;
    json_array_foreach(arr, i, v)
    {
        if (!json_is_string(v) || !alias_valid(json_string_value(v)))
            return CF_EINVAL;
        k->aliases[k->naliases++] = cf_xstrdup(json_string_value(v));
    }
    return 0;
}

static int parse_key(const json_t *obj, struct local_key *k)
{
    const char *id = cf_json_str(obj, "id");
    const char *material = cf_json_str(obj, "material");
    size_t n = 0;

    if (!json_is_object(obj) || id == NULL || !id_valid(id) || material == NULL)
        return CF_EINVAL;
    memcpy(k->id, id, strlen(id) + 1); /* id_valid: at most KMS_LOCAL_ID_MAX bytes */
    if (cf_b64_decode(CF_B64_STD, material, strlen(material), k->material, sizeof(k->material),
                      &n) != 0 ||
        n != KMS_LOCAL_KEY_LEN)
        return CF_EINVAL;
    return parse_aliases(json_object_get(obj, "aliases"), k);
}

/* Every id and alias names one key only. */
static bool names_unique(const struct kms_local *kl)
{
    for (size_t i = 0; i < kl->nkeys; i++) {
        for (size_t j = 0; j < kl->nkeys; j++) {
            if (i != j && strcmp(kl->keys[i].id, kl->keys[j].id) == 0)
                return false;
            for (size_t a = 0; a < kl->keys[j].naliases; a++) {
                for (size_t b = 0; b < kl->keys[i].naliases; b++) {
                    if ((i != j || a != b) &&
                        strcmp(kl->keys[i].aliases[b], kl->keys[j].aliases[a]) == 0)
                        return false;
                }
            }
        }
    }
    return true;
}

static int parse_key_file(const json_t *root, struct kms_local *kl)
{
    const json_t *keys = json_object_get(root, "keys");
    const json_t *version = json_object_get(root, "version");
    size_t i;
    const json_t *k;

    if (!json_is_integer(version) || json_integer_value(version) != 1 || !json_is_array(keys) ||
        json_array_size(keys) == 0 || json_array_size(keys) > LOCAL_KEYS_MAX)
        return CF_EINVAL;
    kl->keys = cf_xcalloc(json_array_size(keys), sizeof(*kl->keys));
    json_array_foreach(keys, i, k)
    {
        kl->nkeys++;
        if (parse_key(k, &kl->keys[i]) != 0)
            return CF_EINVAL;
    }
    return names_unique(kl) ? 0 : CF_EINVAL;
}

int kms_local_open(const char *path, struct kms_local **out, char *err, size_t errcap)
{
    struct cf_secret text = { 0 };
    json_t *root = NULL;
    int r;

    *out = NULL;
    if (path == NULL || *path == '\0')
        return cf_config_error(err, errcap, "COFFER_LOCAL_KEY_FILE is not set");
    if ((r = cf_file_read_secret(path, LOCAL_FILE_MAX, 077, "the key file", &text, err, errcap)) !=
        0)
        return r;
    struct kms_local *kl = cf_xcalloc(1, sizeof(*kl));
    root = cf_json_parse(text.data, text.len, JSON_REJECT_DUPLICATES, NULL);
    if (root == NULL || parse_key_file(root, kl) != 0) {
        r = cf_config_error(err, errcap,
                            "the key file %s is malformed (expected version 1 with "
                            "keys of id, aliases and 32-byte base64 material)",
                            path);
        kms_local_free(kl);
        goto out;
    }
    *out = kl;
    r = 0;
out:
    json_decref(root); /* freed through the zeroing allocator */
    cf_secret_free(&text);
    return r;
}

/* AAD = "CLK1" || n || key id || canonical context. */
static void build_aad(const struct local_key *k, const struct kms_context *ctx, struct cf_buf *aad)
{
    uint8_t n = (uint8_t)strlen(k->id); /* id_valid: at most 64 */

    cf_buf_append(aad, LOCAL_MAGIC, LOCAL_MAGIC_LEN);
    cf_buf_append(aad, &n, 1);
    cf_buf_append(aad, k->id, n);
    if (ctx != NULL) {
        kms_context_canonical(ctx, aad);
    } else {
        cf_buf_append_str(aad, "{}");
    }
}

static int local_seal(const struct local_key *k, const uint8_t *plain, size_t len,
                      const struct kms_context *ctx, struct kms_blob *out)
{
    struct cf_buf aad = { 0 };
    size_t idlen = strlen(k->id);
    size_t head = LOCAL_MAGIC_LEN + 1 + idlen;
    size_t total = head + CF_AEAD_NONCE_LEN + len + CF_AEAD_TAG_LEN;
    uint8_t *b = cf_xmalloc(total);
    int r;

    memcpy(b, LOCAL_MAGIC, LOCAL_MAGIC_LEN);
    b[LOCAL_MAGIC_LEN] = (uint8_t)idlen;
    memcpy(b + LOCAL_MAGIC_LEN + 1, k->id, idlen);
    if ((r = cf_rand_bytes(b + head, CF_AEAD_NONCE_LEN)) != 0)
        goto out;
    build_aad(k, ctx, &aad);
    r = cf_aead_seal(k->material, b + head, (const uint8_t *)aad.data, aad.len, plain, len,
                     b + head + CF_AEAD_NONCE_LEN);
out:
    cf_buf_free(&aad);
    if (r != 0) {
        free(b);
        return r;
    }
    *out = (struct kms_blob){ .data = b, .len = total };
    return 0;
}

static int local_encrypt(void *impl, const char *key_id, const uint8_t *plain, size_t plain_len,
                         const struct kms_context *ctx, struct kms_blob *blob_out,
                         char *key_arn_out, size_t key_arn_cap)
{
    const struct local_key *k = find_key(impl, key_id);

    if (k == NULL)
        return CF_ENOTFOUND;
    int r = local_seal(k, plain, plain_len, ctx, blob_out);
    if (r == 0 && (r = key_arn(k, key_arn_out, key_arn_cap)) != 0)
        kms_blob_free(blob_out);
    return r;
}

static int local_decrypt(void *impl, const uint8_t *blob, size_t len, const struct kms_context *ctx,
                         struct cf_secret *plain_out, char *key_arn_out, size_t key_arn_cap)
{
    const struct kms_local *kl = impl;
    char id[KMS_LOCAL_ID_MAX + 1];
    struct cf_buf aad = { 0 };

    if (len < LOCAL_MAGIC_LEN + 1 || memcmp(blob, LOCAL_MAGIC, LOCAL_MAGIC_LEN) != 0)
        return CF_EINTEGRITY;
    size_t idlen = blob[LOCAL_MAGIC_LEN];
    size_t head = LOCAL_MAGIC_LEN + 1 + idlen;
    if (idlen == 0 || idlen > KMS_LOCAL_ID_MAX || len < head + CF_AEAD_NONCE_LEN + CF_AEAD_TAG_LEN)
        return CF_EINTEGRITY;
    memcpy(id, blob + LOCAL_MAGIC_LEN + 1, idlen);
    id[idlen] = '\0';
    const struct local_key *k = id_valid(id) ? find_key(kl, id) : NULL;
    if (k == NULL || strcmp(k->id, id) != 0)
        return CF_EINTEGRITY; /* a blob naming no key of ours is not our ciphertext */
    build_aad(k, ctx, &aad);
    int r =
        cf_aead_open(k->material, blob + head, (const uint8_t *)aad.data, aad.len,
                     blob + head + CF_AEAD_NONCE_LEN, len - head - CF_AEAD_NONCE_LEN, plain_out);
    cf_buf_free(&aad);
    if (r == 0 && (r = key_arn(k, key_arn_out, key_arn_cap)) != 0)
        cf_secret_free(plain_out);
    return r;
}

static int local_generate_data_key(void *impl, const char *key_id, const struct kms_context *ctx,
                                   struct cf_secret *plain_out, struct kms_blob *blob_out,
                                   char *key_arn_out, size_t key_arn_cap)
{
    struct cf_secret dk = { 0 };
    int r;

    if ((r = cf_secret_alloc(&dk, KMS_DATA_KEY_LEN)) != 0)
        return r;
    if ((r = cf_rand_priv_bytes(dk.data, dk.len)) != 0)
        goto out;
    if ((r = local_encrypt(impl, key_id, dk.data, dk.len, ctx, blob_out, key_arn_out,
                           key_arn_cap)) != 0)
        goto out;
    cf_secret_move(plain_out, &dk);
out:
    cf_secret_free(&dk);
    return r;
}

static int local_describe_key(void *impl, const char *key_id, char *arn_out, size_t arn_cap)
{
    const struct local_key *k = find_key(impl, key_id);
    if (k == NULL)
        return CF_ENOTFOUND;
    return key_arn(k, arn_out, arn_cap);
}

static void local_destroy(void *impl)
{
    kms_local_free(impl);
}

const struct kms_backend_ops kms_local_ops = {
    .generate_data_key = local_generate_data_key,
    .decrypt = local_decrypt,
    .encrypt = local_encrypt,
    .describe_key = local_describe_key,
    .destroy = local_destroy,
};

/* One key of a new file: 32 fresh bytes from the private DRBG. */
static int new_key_json(const char *id, const char *created, json_t *keys)
{
    uint8_t material[KMS_LOCAL_KEY_LEN];
    char b64[64], alias[KMS_LOCAL_ID_MAX + 8];
    int r;

    if ((r = cf_rand_priv_bytes(material, sizeof(material))) != 0)
        goto out;
    if ((r = cf_b64_encode(CF_B64_STD, material, sizeof(material), b64, sizeof(b64))) != 0 ||
        (r = cf_fmt(alias, sizeof(alias), "%s%s", LOCAL_ALIAS_PREFIX, id)) != 0)
        goto out;
    json_array_append_new(keys, json_pack("{s:s, s:[s], s:s, s:s}", "id", id, "aliases", alias,
                                          "material", b64, "created_at", created));
out:
    OPENSSL_cleanse(material, sizeof(material));
    OPENSSL_cleanse(b64, sizeof(b64));
    return r;
}

static int write_all(int fd, const char *s, size_t len)
{
    size_t done = 0;
    while (done < len) {
        ssize_t n = write(fd, s + done, len - done);
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0)
            return CF_EIO;
        done += (size_t)n; /* n > 0 */
    }
    return 0;
}

int kms_local_init_file(const char *path, char *err, size_t errcap)
{
    static const char *const ids[] = { "coffer-master", "coffer-auth", "coffer-user-auth" };
    char created[CF_TIME_STR_LEN];
    json_t *root = json_pack("{s:i, s:[]}", "version", 1, "keys");
    char *text = NULL;
    int fd = -1, r = 0;

    cf_time_format(cf_now_us(), created);
    for (size_t i = 0; i < 3 && r == 0; i++)
        r = new_key_json(ids[i], created, json_object_get(root, "keys"));
    if (r != 0 || (text = json_dumps(root, JSON_INDENT(2))) == NULL) {
        r = cf_config_error(err, errcap, "cannot make new keys");
        goto out;
    }
    fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC | O_NOFOLLOW, 0600);
    if (fd < 0) {
        r = errno == EEXIST ? CF_ECONFLICT : CF_EIO;
        (void)cf_config_error(err, errcap, "cannot create %s: %s", path,
                              errno == EEXIST ? "it exists already (refusing to overwrite)"
                                              : "open failed");
        goto out;
    }
    if (fchmod(fd, 0600) != 0 || write_all(fd, text, strlen(text)) != 0 ||
        write_all(fd, "\n", 1) != 0 || fsync(fd) != 0) {
        r = cf_config_error(err, errcap, "cannot write %s", path);
        unlink(path);
    }
out:
    if (fd >= 0)
        close(fd);
    cf_json_free_str(text); /* cleansed: it held the key material */
    json_decref(root);
    return r;
}
