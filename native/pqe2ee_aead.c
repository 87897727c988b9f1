/* AES-256-GCM over mbed TLS: 32-byte key, 12-byte nonce, 16-byte tag appended to the ciphertext. */
#include "mbedtls/gcm.h"
#include "pqe2ee_core.h"
#include "pqe2ee_memory.h"

#define GCM_KEY_BITS 256
#define GCM_NONCE_BYTES 12
#define GCM_TAG_BYTES 16

/*
 * The GCM context (key schedule + 4 KiB GHASH table) lives in static memory rather than on the
 * stack: the core is single-threaded and non-reentrant, mbedtls_gcm_free() zeroises it after every
 * call, and the stack scrub then only has to cover the small frames below it.
 */
static mbedtls_gcm_context gcm_context;

static PQE2EE_NOINLINE int32_t encrypt_impl(uint8_t *out, const uint8_t *key, const uint8_t *nonce,
                                            const uint8_t *aad, size_t aadlen, const uint8_t *in,
                                            size_t inlen) {
    mbedtls_gcm_context *context = &gcm_context;
    mbedtls_gcm_init(context);
    int status = mbedtls_gcm_setkey(context, MBEDTLS_CIPHER_ID_AES, key, GCM_KEY_BITS);
    if (status == 0) {
        status = mbedtls_gcm_crypt_and_tag(context, MBEDTLS_GCM_ENCRYPT, inlen, nonce, GCM_NONCE_BYTES, aad,
                                           aadlen, in, out, GCM_TAG_BYTES, out + inlen);
    }
    mbedtls_gcm_free(context); /* zeroises the key schedule and GHASH table */
    return status == 0 ? PQE2EE_OK : PQE2EE_ERR_INTERNAL;
}

int32_t pqe2ee_aes256gcm_encrypt(uint8_t *out, const uint8_t *key, const uint8_t *nonce, const uint8_t *aad,
                                 size_t aadlen, const uint8_t *in, size_t inlen) {
    int32_t status = encrypt_impl(out, key, nonce, aad, aadlen, in, inlen);
    pqe2ee_scrub_stack(PQE2EE_STACK_AEAD);
    return status;
}

static PQE2EE_NOINLINE int32_t decrypt_impl(uint8_t *out, const uint8_t *key, const uint8_t *nonce,
                                            const uint8_t *aad, size_t aadlen, const uint8_t *in,
                                            size_t inlen) {
    if (inlen < GCM_TAG_BYTES) {
        return PQE2EE_ERR_INVALID_LENGTH;
    }
    const size_t ciphertext_length = inlen - GCM_TAG_BYTES;
    mbedtls_gcm_context *context = &gcm_context;
    mbedtls_gcm_init(context);
    int status = mbedtls_gcm_setkey(context, MBEDTLS_CIPHER_ID_AES, key, GCM_KEY_BITS);
    int32_t result = PQE2EE_ERR_INTERNAL;
    if (status == 0) {
        /* mbed TLS compares the tag in constant time and zeroes `out` when it does not match. */
        status = mbedtls_gcm_auth_decrypt(context, ciphertext_length, nonce, GCM_NONCE_BYTES, aad, aadlen,
                                          in + ciphertext_length, GCM_TAG_BYTES, in, out);
        result = status == 0 ? PQE2EE_OK : (status == MBEDTLS_ERR_GCM_AUTH_FAILED ? PQE2EE_ERR_AUTH : PQE2EE_ERR_INTERNAL);
    }
    mbedtls_gcm_free(context);
    return result;
}

int32_t pqe2ee_aes256gcm_decrypt(uint8_t *out, const uint8_t *key, const uint8_t *nonce, const uint8_t *aad,
                                 size_t aadlen, const uint8_t *in, size_t inlen) {
    int32_t status = decrypt_impl(out, key, nonce, aad, aadlen, in, inlen);
    pqe2ee_scrub_stack(PQE2EE_STACK_AEAD);
    return status;
}
