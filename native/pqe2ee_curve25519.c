/*
 * X25519 (RFC 7748) and Ed25519 (RFC 8032) over libsodium's ref10 code (field arithmetic in
 * radix 2^25.5, which suits wasm's 64-bit multiplies).
 *
 * Ed25519 secret keys are libsodium's 64 bytes: the RFC 8032 seed followed by the public key;
 * signing checks that the two halves belong together.
 * Verification rejects non-canonical S, non-canonical or small-order public keys and small-order R.
 */
#include <string.h>

#include "crypto_sign_ed25519.h"
#include "pqe2ee_core.h"
#include "pqe2ee_memory.h"
#include "x25519_ref10.h"

#define X25519_BYTES 32

static PQE2EE_NOINLINE int32_t x25519_base_impl(uint8_t *pk, const uint8_t *sk) {
    return crypto_scalarmult_curve25519_ref10_implementation.mult_base(pk, sk) == 0 ? PQE2EE_OK
                                                                                    : PQE2EE_ERR_INTERNAL;
}

int32_t pqe2ee_x25519_base(uint8_t *pk, const uint8_t *sk) {
    int32_t status = x25519_base_impl(pk, sk);
    pqe2ee_scrub_stack(PQE2EE_STACK_CURVE);
    return status;
}

static PQE2EE_NOINLINE int32_t x25519_impl(uint8_t *out, const uint8_t *sk, const uint8_t *pk) {
    /* ref10 refuses points of small order before multiplying; their RFC 7748 output is all-zero. */
    if (crypto_scalarmult_curve25519_ref10_implementation.mult(out, sk, pk) != 0) {
        memset(out, 0, X25519_BYTES);
        return PQE2EE_ERR_INVALID_KEY;
    }
    uint8_t accumulated = 0;
    for (size_t i = 0; i < X25519_BYTES; i++) {
        accumulated |= out[i];
    }
    return accumulated == 0 ? PQE2EE_ERR_INVALID_KEY : PQE2EE_OK;
}

int32_t pqe2ee_x25519(uint8_t *out, const uint8_t *sk, const uint8_t *pk) {
    int32_t status = x25519_impl(out, sk, pk);
    pqe2ee_scrub_stack(PQE2EE_STACK_CURVE);
    return status;
}

static PQE2EE_NOINLINE int32_t ed25519_keypair_impl(uint8_t *pk, uint8_t *sk, const uint8_t *seed) {
    return crypto_sign_ed25519_seed_keypair(pk, sk, seed) == 0 ? PQE2EE_OK : PQE2EE_ERR_INTERNAL;
}

int32_t pqe2ee_ed25519_keypair_seed(uint8_t *pk, uint8_t *sk, const uint8_t *seed) {
    int32_t status = ed25519_keypair_impl(pk, sk, seed);
    pqe2ee_scrub_stack(PQE2EE_STACK_CURVE);
    return status;
}

static PQE2EE_NOINLINE int32_t ed25519_sign_impl(uint8_t *sig, const uint8_t *m, size_t mlen, const uint8_t *sk) {
    /*
     * ref10 signing trusts the public-key half of sk when hashing. A caller-supplied key whose
     * second half is not the seed's public key yields two signatures with the same R and
     * different S, from which the secret scalar follows; so the public key is re-derived from
     * the seed and must match.
     */
    uint8_t derived_pk[32];
    uint8_t derived_sk[64];
    int32_t status = PQE2EE_ERR_INTERNAL;
    if (crypto_sign_ed25519_seed_keypair(derived_pk, derived_sk, sk) == 0) {
        uint8_t difference = 0;
        for (size_t i = 0; i < sizeof derived_pk; i++) {
            difference |= (uint8_t)(derived_pk[i] ^ sk[32 + i]);
        }
        if (difference != 0) {
            status = PQE2EE_ERR_INVALID_KEY;
        } else {
            status = crypto_sign_ed25519_detached(sig, NULL, m, mlen, derived_sk) == 0 ? PQE2EE_OK : PQE2EE_ERR_INTERNAL;
        }
    }
    pqe2ee_wipe(derived_sk, sizeof derived_sk);
    return status;
}

int32_t pqe2ee_ed25519_sign(uint8_t *sig, const uint8_t *m, size_t mlen, const uint8_t *sk) {
    int32_t status = ed25519_sign_impl(sig, m, mlen, sk);
    pqe2ee_scrub_stack(PQE2EE_STACK_CURVE);
    return status;
}

int32_t pqe2ee_ed25519_verify(const uint8_t *sig, const uint8_t *m, size_t mlen, const uint8_t *pk) {
    /* Public inputs only: no stack scrub needed. */
    return crypto_sign_ed25519_verify_detached(sig, m, mlen, pk) == 0 ? PQE2EE_OK : PQE2EE_ERR_BAD_SIGNATURE;
}
