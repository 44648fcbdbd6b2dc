/* cf_aead.c - AES-256-GCM sealing and opening (OpenSSL EVP). */
#include "cf_aead.h"

#include <string.h>

#include <openssl/err.h>
#include <openssl/evp.h>

#include "cf_crypto.h"
#include "cf_mem.h"

/* Creates a context for AES-256-GCM with a 12-byte nonce, for encryption (enc = 1) or
 * decryption (enc = 0). */
static int gcm_init(EVP_CIPHER_CTX **out, const uint8_t *key, const uint8_t *nonce, int enc)
{
    EVP_CIPHER_CTX *c = EVP_CIPHER_CTX_new();

    *out = NULL;
    if (c == NULL)
        return cf_ossl_error("EVP_CIPHER_CTX_new");
    if (EVP_CipherInit_ex(c, EVP_aes_256_gcm(), NULL, NULL, NULL, enc) != 1 ||
        EVP_CIPHER_CTX_ctrl(c, EVP_CTRL_GCM_SET_IVLEN, CF_AEAD_NONCE_LEN, NULL) != 1 ||
        EVP_CipherInit_ex(c, NULL, NULL, key, nonce, enc) != 1) {
        EVP_CIPHER_CTX_free(c); /* frees the key schedule, cleansed by OpenSSL */
        return cf_ossl_error("EVP_CipherInit_ex");
    }
    *out = c;
    return 0;
}

static int gcm_aad(EVP_CIPHER_CTX *c, const uint8_t *aad, size_t aad_len)
{
    int n, alen;

    if (aad_len == 0)
        return 0;
    if (cf_size_to_int(aad_len, &alen) != 0)
        return CF_ETOOBIG;
    if (EVP_CipherUpdate(c, NULL, &n, aad, alen) != 1)
        return cf_ossl_error("EVP_CipherUpdate(aad)");
    return 0;
}

int cf_aead_seal(const uint8_t key[CF_AEAD_KEY_LEN], const uint8_t nonce[CF_AEAD_NONCE_LEN],
                 const uint8_t *aad, size_t aad_len, const uint8_t *plain, size_t plain_len,
                 uint8_t *out)
{
    EVP_CIPHER_CTX *c = NULL;
    int n = 0, fin = 0, plen;
    int r;

    if (cf_size_to_int(plain_len, &plen) != 0)
        return CF_ETOOBIG;
    if ((r = gcm_init(&c, key, nonce, 1)) != 0)
        return r;
    if ((r = gcm_aad(c, aad, aad_len)) != 0)
        goto out;
    if (plen > 0 && EVP_CipherUpdate(c, out, &n, plain, plen) != 1) {
        r = cf_ossl_error("EVP_CipherUpdate");
        goto out;
    }
    if (EVP_CipherFinal_ex(c, out + n, &fin) != 1 || n + fin != plen) {
        r = cf_ossl_error("EVP_CipherFinal_ex");
        goto out;
    }
    if (EVP_CIPHER_CTX_ctrl(c, EVP_CTRL_GCM_GET_TAG, CF_AEAD_TAG_LEN, out + plain_len) != 1) {
        r = cf_ossl_error("EVP_CTRL_GCM_GET_TAG");
        goto out;
    }
    r = 0;
out:
    EVP_CIPHER_CTX_free(c);
    return r;
}

int cf_aead_open(const uint8_t key[CF_AEAD_KEY_LEN], const uint8_t nonce[CF_AEAD_NONCE_LEN],
                 const uint8_t *aad, size_t aad_len, const uint8_t *sealed, size_t sealed_len,
                 struct cf_secret *plain_out)
{
    EVP_CIPHER_CTX *c = NULL;
    struct cf_secret plain = { 0 };
    uint8_t tag[CF_AEAD_TAG_LEN];
    int n = 0, fin = 0, clen;
    int r;

    *plain_out = (struct cf_secret){ 0 };
    if (sealed_len < CF_AEAD_TAG_LEN)
        return CF_EINTEGRITY;
    size_t ct_len = sealed_len - CF_AEAD_TAG_LEN;
    if (cf_size_to_int(ct_len, &clen) != 0)
        return CF_ETOOBIG;
    if ((r = cf_secret_alloc(&plain, ct_len)) != 0)
        return r;
    memcpy(tag, sealed + ct_len, CF_AEAD_TAG_LEN); /* the ctrl takes a non-const pointer */
    if ((r = gcm_init(&c, key, nonce, 0)) != 0)
        goto out;
    if ((r = gcm_aad(c, aad, aad_len)) != 0)
        goto out;
    if (clen > 0 && EVP_CipherUpdate(c, plain.data, &n, sealed, clen) != 1) {
        r = cf_ossl_error("EVP_CipherUpdate");
        goto out;
    }
    if (EVP_CIPHER_CTX_ctrl(c, EVP_CTRL_GCM_SET_TAG, CF_AEAD_TAG_LEN, tag) != 1) {
        r = cf_ossl_error("EVP_CTRL_GCM_SET_TAG");
        goto out;
    }
    if (EVP_CipherFinal_ex(c, plain.data + n, &fin) != 1 || n + fin != clen) {
        ERR_clear_error(); /* the tag did not verify: not an OpenSSL failure */
        r = CF_EINTEGRITY;
        goto out;
    }
    cf_secret_move(plain_out, &plain);
    r = 0;
out:
    EVP_CIPHER_CTX_free(c);
    cf_secret_free(&plain); /* no partial plaintext survives a failed open */
    return r;
}
