/*
 * pqe2ee core ABI: flat functions over PQClean (ML-KEM, ML-DSA, SHA-3), mbed TLS (AES-256-GCM,
 * SHA-256) and libsodium's ref10 curve code (X25519, Ed25519), exported from one wasm module.
 *
 * Conventions (every export):
 *  - returns an int32 status, PQE2EE_OK (0) or a negative PQE2EE_ERR_* code; never aborts;
 *  - lengths are checked by the TypeScript bindings before the call and again here where a
 *    wrong length could read or write out of bounds;
 *  - output buffers are written only on success, except where documented;
 *  - secret intermediates on the stack are wiped before returning (see pqe2ee_memory.h).
 */
#ifndef PQE2EE_CORE_H
#define PQE2EE_CORE_H

#include <stddef.h>
#include <stdint.h>

#define PQE2EE_OK 0
#define PQE2EE_ERR_INVALID_LENGTH (-1)
#define PQE2EE_ERR_INVALID_KEY (-2)
#define PQE2EE_ERR_AUTH (-3)          /* AEAD tag mismatch */
#define PQE2EE_ERR_BAD_SIGNATURE (-4) /* signature does not verify */
#define PQE2EE_ERR_INTERNAL (-5)

#define PQE2EE_EXPORT(name) __attribute__((export_name(#name), visibility("default"))) name

/* memory (pqe2ee_memory.c) */
void *PQE2EE_EXPORT(pqe2ee_alloc)(size_t length);
void PQE2EE_EXPORT(pqe2ee_free)(void *pointer);
int32_t PQE2EE_EXPORT(pqe2ee_abi_version)(void);

/* ML-KEM (pqe2ee_mlkem.c): seed = d || z (64 bytes), coins = m (32 bytes) */
int32_t PQE2EE_EXPORT(pqe2ee_mlkem1024_keypair_seed)(uint8_t *pk, uint8_t *sk, const uint8_t *seed);
int32_t PQE2EE_EXPORT(pqe2ee_mlkem1024_encaps_coins)(uint8_t *ct, uint8_t *ss, const uint8_t *pk, const uint8_t *coins);
int32_t PQE2EE_EXPORT(pqe2ee_mlkem1024_decaps)(uint8_t *ss, const uint8_t *ct, const uint8_t *sk);
int32_t PQE2EE_EXPORT(pqe2ee_mlkem768_keypair_seed)(uint8_t *pk, uint8_t *sk, const uint8_t *seed);
int32_t PQE2EE_EXPORT(pqe2ee_mlkem768_encaps_coins)(uint8_t *ct, uint8_t *ss, const uint8_t *pk, const uint8_t *coins);
int32_t PQE2EE_EXPORT(pqe2ee_mlkem768_decaps)(uint8_t *ss, const uint8_t *ct, const uint8_t *sk);

/* ML-DSA (pqe2ee_mldsa.c): seed = xi (32 bytes); rnd (32 bytes, all-zero = deterministic) */
int32_t PQE2EE_EXPORT(pqe2ee_mldsa87_keypair_seed)(uint8_t *pk, uint8_t *sk, const uint8_t *seed);
int32_t PQE2EE_EXPORT(pqe2ee_mldsa87_sign_rnd)(uint8_t *sig, const uint8_t *m, size_t mlen, const uint8_t *ctx,
                                               size_t ctxlen, const uint8_t *sk, const uint8_t *rnd);
int32_t PQE2EE_EXPORT(pqe2ee_mldsa87_verify)(const uint8_t *sig, size_t siglen, const uint8_t *m, size_t mlen,
                                             const uint8_t *ctx, size_t ctxlen, const uint8_t *pk);
int32_t PQE2EE_EXPORT(pqe2ee_mldsa65_keypair_seed)(uint8_t *pk, uint8_t *sk, const uint8_t *seed);
int32_t PQE2EE_EXPORT(pqe2ee_mldsa65_sign_rnd)(uint8_t *sig, const uint8_t *m, size_t mlen, const uint8_t *ctx,
                                               size_t ctxlen, const uint8_t *sk, const uint8_t *rnd);
int32_t PQE2EE_EXPORT(pqe2ee_mldsa65_verify)(const uint8_t *sig, size_t siglen, const uint8_t *m, size_t mlen,
                                             const uint8_t *ctx, size_t ctxlen, const uint8_t *pk);

/* AES-256-GCM (pqe2ee_aead.c): 32-byte key, 12-byte nonce, 16-byte tag appended to the ciphertext */
int32_t PQE2EE_EXPORT(pqe2ee_aes256gcm_encrypt)(uint8_t *out, const uint8_t *key, const uint8_t *nonce,
                                                const uint8_t *aad, size_t aadlen, const uint8_t *in, size_t inlen);
int32_t PQE2EE_EXPORT(pqe2ee_aes256gcm_decrypt)(uint8_t *out, const uint8_t *key, const uint8_t *nonce,
                                                const uint8_t *aad, size_t aadlen, const uint8_t *in, size_t inlen);

/* hashes and KDFs (pqe2ee_hash.c) */
int32_t PQE2EE_EXPORT(pqe2ee_sha256)(uint8_t *out, const uint8_t *m, size_t mlen);
int32_t PQE2EE_EXPORT(pqe2ee_sha3_256)(uint8_t *out, const uint8_t *m, size_t mlen);
int32_t PQE2EE_EXPORT(pqe2ee_shake256)(uint8_t *out, size_t outlen, const uint8_t *m, size_t mlen);
int32_t PQE2EE_EXPORT(pqe2ee_hmac_sha256)(uint8_t *out, const uint8_t *key, size_t keylen, const uint8_t *m, size_t mlen);
int32_t PQE2EE_EXPORT(pqe2ee_hkdf_sha256)(uint8_t *out, size_t outlen, const uint8_t *ikm, size_t ikmlen,
                                          const uint8_t *salt, size_t saltlen, const uint8_t *info, size_t infolen);

/* Curve25519 (pqe2ee_curve25519.c) */
int32_t PQE2EE_EXPORT(pqe2ee_x25519_base)(uint8_t *pk, const uint8_t *sk);
/* Writes the RFC 7748 output (all-zero for low-order points) and returns PQE2EE_ERR_INVALID_KEY if it is all-zero. */
int32_t PQE2EE_EXPORT(pqe2ee_x25519)(uint8_t *out, const uint8_t *sk, const uint8_t *pk);
int32_t PQE2EE_EXPORT(pqe2ee_ed25519_keypair_seed)(uint8_t *pk, uint8_t *sk, const uint8_t *seed);
int32_t PQE2EE_EXPORT(pqe2ee_ed25519_sign)(uint8_t *sig, const uint8_t *m, size_t mlen, const uint8_t *sk);
int32_t PQE2EE_EXPORT(pqe2ee_ed25519_verify)(const uint8_t *sig, const uint8_t *m, size_t mlen, const uint8_t *pk);

#endif
