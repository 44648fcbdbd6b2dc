/* cf_crypto.c - SHA-256, random bytes and the OpenSSL error queue. */
#include "cf_crypto.h"

#include <openssl/crypto.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/rand.h>

#include "cf_codec.h"
#include "cf_log.h"
#include "cf_mem.h"

int cf_ossl_error(const char *what)
{
    unsigned long e;
    char codes[128] = "";
    size_t used = 0;

    while ((e = ERR_get_error()) != 0) {
        if (used + 20 < sizeof(codes)) {
            int n = snprintf(codes + used, sizeof(codes) - used, "%s%lx", used ? "," : "", e);
            if (n > 0)
                used += (size_t)n; /* bounded by the check above */
        }
    }
    cf_log(CF_LOG_ERROR, "openssl failure", "{s:s, s:s}", "what", what, "codes", codes);
    return CF_ECRYPTO;
}

int cf_sha256_parts(const struct cf_sha256_part *parts, size_t n, uint8_t out[CF_SHA256_LEN])
{
    EVP_MD_CTX *md = EVP_MD_CTX_new();
    unsigned int outlen = 0;
    int r = CF_ECRYPTO;

    if (md == NULL)
        return cf_ossl_error("EVP_MD_CTX_new");
    if (EVP_DigestInit_ex(md, EVP_sha256(), NULL) != 1) {
        r = cf_ossl_error("EVP_DigestInit_ex");
        goto out;
    }
    for (size_t i = 0; i < n; i++) {
        if (parts[i].len == 0)
            continue;
        if (EVP_DigestUpdate(md, parts[i].data, parts[i].len) != 1) {
            r = cf_ossl_error("EVP_DigestUpdate");
            goto out;
        }
    }
    if (EVP_DigestFinal_ex(md, out, &outlen) != 1 || outlen != CF_SHA256_LEN) {
        r = cf_ossl_error("EVP_DigestFinal_ex");
        goto out;
    }
    r = 0;
out:
    EVP_MD_CTX_free(md);
    return r;
}

int cf_sha256(const void *data, size_t len, uint8_t out[CF_SHA256_LEN])
{
    const struct cf_sha256_part part = { data, len };
    return cf_sha256_parts(&part, 1, out);
}

int cf_sha256_hex(const void *data, size_t len, char out[CF_SHA256_HEX_LEN + 1])
{
    uint8_t d[CF_SHA256_LEN];
    int r = cf_sha256(data, len, d);
    if (r == 0)
        r = cf_hex_encode(d, sizeof(d), out, CF_SHA256_HEX_LEN + 1);
    OPENSSL_cleanse(d, sizeof(d));
    return r;
}

int cf_rand_bytes(void *buf, size_t n)
{
    int in;
    if (cf_size_to_int(n, &in) != 0)
        return CF_ETOOBIG;
    if (RAND_bytes(buf, in) != 1)
        return cf_ossl_error("RAND_bytes");
    return 0;
}

int cf_rand_priv_bytes(void *buf, size_t n)
{
    int in;
    if (cf_size_to_int(n, &in) != 0)
        return CF_ETOOBIG;
    if (RAND_priv_bytes(buf, in) != 1)
        return cf_ossl_error("RAND_priv_bytes");
    return 0;
}

int cf_rand_hex(size_t nbytes, char *out, size_t out_cap)
{
    uint8_t buf[64];
    int r;

    if (nbytes > sizeof(buf))
        return CF_ETOOBIG;
    if ((r = cf_rand_bytes(buf, nbytes)) != 0)
        return r;
    return cf_hex_encode(buf, nbytes, out, out_cap);
}
