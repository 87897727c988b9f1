/*
 * ML-KEM-1024 and ML-KEM-768 (FIPS 203) over PQClean's clean implementations, plus the two input
 * checks FIPS 203 requires and PQClean leaves to the caller:
 *  - encapsulation key check (§7.2): every 12-bit coefficient of the public key is < q;
 *  - decapsulation key check (§7.3): H(ek) stored in the secret key matches the embedded ek.
 */
#include <string.h>

#include "fips202.h"
#include "pqe2ee_core.h"
#include "pqe2ee_memory.h"

int PQCLEAN_MLKEM1024_CLEAN_crypto_kem_keypair_derand(uint8_t *pk, uint8_t *sk, const uint8_t *coins);
int PQCLEAN_MLKEM1024_CLEAN_crypto_kem_enc_derand(uint8_t *ct, uint8_t *ss, const uint8_t *pk, const uint8_t *coins);
int PQCLEAN_MLKEM1024_CLEAN_crypto_kem_dec(uint8_t *ss, const uint8_t *ct, const uint8_t *sk);
int PQCLEAN_MLKEM768_CLEAN_crypto_kem_keypair_derand(uint8_t *pk, uint8_t *sk, const uint8_t *coins);
int PQCLEAN_MLKEM768_CLEAN_crypto_kem_enc_derand(uint8_t *ct, uint8_t *ss, const uint8_t *pk, const uint8_t *coins);
int PQCLEAN_MLKEM768_CLEAN_crypto_kem_dec(uint8_t *ss, const uint8_t *ct, const uint8_t *sk);

#define MLKEM_Q 3329
#define MLKEM_POLY_BYTES 384
#define MLKEM_SYM_BYTES 32

/* Sizes for rank k: ek = 384k + 32, dk = 768k + 96. */
#define EK_BYTES(k) (MLKEM_POLY_BYTES * (k) + MLKEM_SYM_BYTES)
#define DK_PKE_BYTES(k) (MLKEM_POLY_BYTES * (k))

static int encapsulation_key_is_valid(const uint8_t *pk, unsigned rank) {
    /* Constant time is not needed: the public key is public. */
    const size_t bytes = (size_t)MLKEM_POLY_BYTES * rank;
    for (size_t i = 0; i < bytes; i += 3) {
        const uint16_t a = (uint16_t)(pk[i] | ((uint16_t)(pk[i + 1] & 0x0f) << 8));
        const uint16_t b = (uint16_t)((pk[i + 1] >> 4) | ((uint16_t)pk[i + 2] << 4));
        if (a >= MLKEM_Q || b >= MLKEM_Q) {
            return 0;
        }
    }
    return 1;
}

static int decapsulation_key_is_valid(const uint8_t *sk, unsigned rank) {
    uint8_t digest[32];
    const uint8_t *ek = sk + DK_PKE_BYTES(rank);
    const uint8_t *stored = ek + EK_BYTES(rank);
    sha3_256(digest, ek, EK_BYTES(rank));
    uint8_t difference = 0;
    for (size_t i = 0; i < sizeof digest; i++) {
        difference |= (uint8_t)(digest[i] ^ stored[i]);
    }
    return difference == 0;
}

#define DEFINE_MLKEM(level, rank)                                                                        \
    static PQE2EE_NOINLINE int32_t mlkem##level##_keypair_impl(uint8_t *pk, uint8_t *sk,                 \
                                                                const uint8_t *seed) {                   \
        PQCLEAN_MLKEM##level##_CLEAN_crypto_kem_keypair_derand(pk, sk, seed);                           \
        return PQE2EE_OK;                                                                                \
    }                                                                                                    \
    int32_t pqe2ee_mlkem##level##_keypair_seed(uint8_t *pk, uint8_t *sk, const uint8_t *seed) {         \
        int32_t status = mlkem##level##_keypair_impl(pk, sk, seed);                                     \
        pqe2ee_scrub_stack(PQE2EE_STACK_MLKEM);                                                          \
        return status;                                                                                   \
    }                                                                                                    \
    static PQE2EE_NOINLINE int32_t mlkem##level##_encaps_impl(uint8_t *ct, uint8_t *ss,                  \
                                                               const uint8_t *pk, const uint8_t *coins) { \
        if (!encapsulation_key_is_valid(pk, rank)) {                                                     \
            return PQE2EE_ERR_INVALID_KEY;                                                               \
        }                                                                                                \
        PQCLEAN_MLKEM##level##_CLEAN_crypto_kem_enc_derand(ct, ss, pk, coins);                          \
        return PQE2EE_OK;                                                                                \
    }                                                                                                    \
    int32_t pqe2ee_mlkem##level##_encaps_coins(uint8_t *ct, uint8_t *ss, const uint8_t *pk,              \
                                               const uint8_t *coins) {                                   \
        int32_t status = mlkem##level##_encaps_impl(ct, ss, pk, coins);                                 \
        pqe2ee_scrub_stack(PQE2EE_STACK_MLKEM);                                                          \
        return status;                                                                                   \
    }                                                                                                    \
    static PQE2EE_NOINLINE int32_t mlkem##level##_decaps_impl(uint8_t *ss, const uint8_t *ct,            \
                                                               const uint8_t *sk) {                      \
        if (!decapsulation_key_is_valid(sk, rank)) {                                                     \
            return PQE2EE_ERR_INVALID_KEY;                                                               \
        }                                                                                                \
        PQCLEAN_MLKEM##level##_CLEAN_crypto_kem_dec(ss, ct, sk);                                        \
        return PQE2EE_OK;                                                                                \
    }                                                                                                    \
    int32_t pqe2ee_mlkem##level##_decaps(uint8_t *ss, const uint8_t *ct, const uint8_t *sk) {           \
        int32_t status = mlkem##level##_decaps_impl(ss, ct, sk);                                        \
        pqe2ee_scrub_stack(PQE2EE_STACK_MLKEM);                                                          \
        return status;                                                                                   \
    }

DEFINE_MLKEM(1024, 4)
DEFINE_MLKEM(768, 3)
