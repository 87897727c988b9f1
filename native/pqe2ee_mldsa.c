/*
 * ML-DSA-87 and ML-DSA-65 (FIPS 204, pure mode with a context string) over PQClean's clean
 * implementations. PQClean draws the key seed xi and the signing randomness rnd through
 * randombytes(); the deterministic forms queue the given bytes for that one call.
 */
#include "pqe2ee_core.h"
#include "pqe2ee_memory.h"
#include "pqe2ee_random.h"

int PQCLEAN_MLDSA87_CLEAN_crypto_sign_keypair(uint8_t *pk, uint8_t *sk);
int PQCLEAN_MLDSA87_CLEAN_crypto_sign_signature_ctx(uint8_t *sig, size_t *siglen, const uint8_t *m, size_t mlen,
                                                    const uint8_t *ctx, size_t ctxlen, const uint8_t *sk);
int PQCLEAN_MLDSA87_CLEAN_crypto_sign_verify_ctx(const uint8_t *sig, size_t siglen, const uint8_t *m, size_t mlen,
                                                 const uint8_t *ctx, size_t ctxlen, const uint8_t *pk);
int PQCLEAN_MLDSA65_CLEAN_crypto_sign_keypair(uint8_t *pk, uint8_t *sk);
int PQCLEAN_MLDSA65_CLEAN_crypto_sign_signature_ctx(uint8_t *sig, size_t *siglen, const uint8_t *m, size_t mlen,
                                                    const uint8_t *ctx, size_t ctxlen, const uint8_t *sk);
int PQCLEAN_MLDSA65_CLEAN_crypto_sign_verify_ctx(const uint8_t *sig, size_t siglen, const uint8_t *m, size_t mlen,
                                                 const uint8_t *ctx, size_t ctxlen, const uint8_t *pk);

#define MLDSA_SEED_BYTES 32
#define MLDSA_SK_HEADER_BYTES (32 + 32 + 64) /* rho, key, tr */
#define MLDSA_RND_BYTES 32
#define MLDSA_MAX_CONTEXT 255

/*
 * FIPS 204 does not require it, but a secret key whose s1/s2 coefficients lie outside [-eta, eta]
 * cannot come from KeyGen; signing with one may leak or produce garbage, so it is refused
 * (Wycheproof marks such keys invalid). The check runs over every coefficient without early exit.
 */
static int secret_vectors_in_range(const uint8_t *sk, unsigned polys, unsigned eta) {
    const uint8_t *packed = sk + MLDSA_SK_HEADER_BYTES;
    uint32_t out_of_range = 0;
    if (eta == 2) {
        /* 3 bits per coefficient, 8 coefficients per 3 bytes, stored as eta - c in [0, 4]. */
        for (size_t group = 0; group < (size_t)polys * 32; group++) {
            const uint32_t word = packed[3 * group] | ((uint32_t)packed[3 * group + 1] << 8) |
                                  ((uint32_t)packed[3 * group + 2] << 16);
            for (unsigned j = 0; j < 8; j++) {
                out_of_range |= (4u - ((word >> (3 * j)) & 7u)) >> 31;
            }
        }
    } else {
        /* 4 bits per coefficient, stored as eta - c in [0, 8]. */
        for (size_t i = 0; i < (size_t)polys * 128; i++) {
            out_of_range |= (8u - (packed[i] & 15u)) >> 31;
            out_of_range |= (8u - (packed[i] >> 4)) >> 31;
        }
    }
    return out_of_range == 0;
}

#define DEFINE_MLDSA(level, signature_bytes, k, l, eta)                                                             \
    static PQE2EE_NOINLINE int32_t mldsa##level##_keypair_impl(uint8_t *pk, uint8_t *sk,                 \
                                                                const uint8_t *seed) {                   \
        pqe2ee_random_queue(seed, MLDSA_SEED_BYTES);                                                     \
        int status = PQCLEAN_MLDSA##level##_CLEAN_crypto_sign_keypair(pk, sk);                           \
        pqe2ee_random_clear();                                                                           \
        return status == 0 ? PQE2EE_OK : PQE2EE_ERR_INTERNAL;                                            \
    }                                                                                                    \
    int32_t pqe2ee_mldsa##level##_keypair_seed(uint8_t *pk, uint8_t *sk, const uint8_t *seed) {         \
        int32_t status = mldsa##level##_keypair_impl(pk, sk, seed);                                     \
        pqe2ee_scrub_stack(PQE2EE_STACK_MLDSA);                                                          \
        return status;                                                                                   \
    }                                                                                                    \
    static PQE2EE_NOINLINE int32_t mldsa##level##_sign_impl(uint8_t *sig, const uint8_t *m, size_t mlen, \
                                                             const uint8_t *ctx, size_t ctxlen,          \
                                                             const uint8_t *sk, const uint8_t *rnd) {    \
        if (ctxlen > MLDSA_MAX_CONTEXT) {                                                                \
            return PQE2EE_ERR_INVALID_LENGTH;                                                            \
        }                                                                                                \
        if (!secret_vectors_in_range(sk, (k) + (l), (eta))) {                                           \
            return PQE2EE_ERR_INVALID_KEY;                                                               \
        }                                                                                                \
        size_t siglen = 0;                                                                               \
        pqe2ee_random_queue(rnd, MLDSA_RND_BYTES);                                                       \
        int status = PQCLEAN_MLDSA##level##_CLEAN_crypto_sign_signature_ctx(sig, &siglen, m, mlen, ctx,  \
                                                                            ctxlen, sk);                 \
        pqe2ee_random_clear();                                                                           \
        return (status == 0 && siglen == (signature_bytes)) ? PQE2EE_OK : PQE2EE_ERR_INTERNAL;           \
    }                                                                                                    \
    int32_t pqe2ee_mldsa##level##_sign_rnd(uint8_t *sig, const uint8_t *m, size_t mlen,                  \
                                           const uint8_t *ctx, size_t ctxlen, const uint8_t *sk,         \
                                           const uint8_t *rnd) {                                         \
        int32_t status = mldsa##level##_sign_impl(sig, m, mlen, ctx, ctxlen, sk, rnd);                  \
        pqe2ee_scrub_stack(PQE2EE_STACK_MLDSA);                                                          \
        return status;                                                                                   \
    }                                                                                                    \
    int32_t pqe2ee_mldsa##level##_verify(const uint8_t *sig, size_t siglen, const uint8_t *m,            \
                                         size_t mlen, const uint8_t *ctx, size_t ctxlen,                 \
                                         const uint8_t *pk) {                                            \
        if (ctxlen > MLDSA_MAX_CONTEXT) {                                                                \
            return PQE2EE_ERR_INVALID_LENGTH;                                                            \
        }                                                                                                \
        if (siglen != (signature_bytes)) {                                                               \
            return PQE2EE_ERR_BAD_SIGNATURE;                                                             \
        }                                                                                                \
        int status = PQCLEAN_MLDSA##level##_CLEAN_crypto_sign_verify_ctx(sig, siglen, m, mlen, ctx,      \
                                                                         ctxlen, pk);                    \
        return status == 0 ? PQE2EE_OK : PQE2EE_ERR_BAD_SIGNATURE;                                       \
    }

DEFINE_MLDSA(87, 4627, 8, 7, 2)
DEFINE_MLDSA(65, 3309, 6, 5, 4)
