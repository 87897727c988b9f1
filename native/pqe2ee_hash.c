/*
 * SHA-256 (mbed TLS), SHA3-256 and SHAKE256 (PQClean's FIPS 202), and HMAC-SHA256 / HKDF-SHA256 (RFC 2104 /
 * RFC 5869) composed here on mbed TLS's SHA-256 context.
 *
 * Why not mbedtls_md_hmac / mbedtls_hkdf: they heap-allocate an HMAC context on every call and
 * re-derive the padded key for every HKDF-Expand block. Keeping the inner and outer states keyed
 * once and cloning them per block costs half the compressions and no allocation, which is what
 * the hot path (one HKDF per message in the ratchet) needs. Correctness is checked against
 * Wycheproof and node:crypto.
 */
#include <string.h>

#include "fips202.h"
#include "mbedtls/sha256.h"
#include "pqe2ee_core.h"
#include "pqe2ee_memory.h"

#define SHA256_BLOCK_BYTES 64
#define SHA256_DIGEST_BYTES 32
#define HKDF_MAX_OUTPUT (255 * SHA256_DIGEST_BYTES)

typedef struct {
    mbedtls_sha256_context inner; /* SHA-256 state after absorbing key ^ ipad */
    mbedtls_sha256_context outer; /* SHA-256 state after absorbing key ^ opad */
} hmac_key_state;

static void hmac_key(hmac_key_state *state, const uint8_t *key, size_t keylen) {
    uint8_t block[SHA256_BLOCK_BYTES] = {0};
    if (keylen > SHA256_BLOCK_BYTES) {
        mbedtls_sha256(key, keylen, block, 0);
    } else if (keylen > 0) {
        memcpy(block, key, keylen);
    }
    for (size_t i = 0; i < SHA256_BLOCK_BYTES; i++) block[i] ^= 0x36;
    mbedtls_sha256_init(&state->inner);
    mbedtls_sha256_starts(&state->inner, 0);
    mbedtls_sha256_update(&state->inner, block, SHA256_BLOCK_BYTES);
    for (size_t i = 0; i < SHA256_BLOCK_BYTES; i++) block[i] ^= 0x36 ^ 0x5c;
    mbedtls_sha256_init(&state->outer);
    mbedtls_sha256_starts(&state->outer, 0);
    mbedtls_sha256_update(&state->outer, block, SHA256_BLOCK_BYTES);
    pqe2ee_wipe(block, sizeof block);
}

/* MAC over up to three concatenated parts, leaving the keyed state reusable. */
static void hmac_parts(const hmac_key_state *state, uint8_t out[SHA256_DIGEST_BYTES], const uint8_t *a,
                       size_t alen, const uint8_t *b, size_t blen, const uint8_t *c, size_t clen) {
    mbedtls_sha256_context context;
    uint8_t inner_digest[SHA256_DIGEST_BYTES];
    mbedtls_sha256_clone(&context, &state->inner);
    if (alen) mbedtls_sha256_update(&context, a, alen);
    if (blen) mbedtls_sha256_update(&context, b, blen);
    if (clen) mbedtls_sha256_update(&context, c, clen);
    mbedtls_sha256_finish(&context, inner_digest);
    mbedtls_sha256_clone(&context, &state->outer);
    mbedtls_sha256_update(&context, inner_digest, SHA256_DIGEST_BYTES);
    mbedtls_sha256_finish(&context, out);
    pqe2ee_wipe(inner_digest, sizeof inner_digest);
    pqe2ee_wipe(&context, sizeof context);
}

static void hmac_key_wipe(hmac_key_state *state) {
    pqe2ee_wipe(state, sizeof *state);
}

static PQE2EE_NOINLINE int32_t sha256_impl(uint8_t *out, const uint8_t *m, size_t mlen) {
    return mbedtls_sha256(m, mlen, out, 0) == 0 ? PQE2EE_OK : PQE2EE_ERR_INTERNAL;
}

int32_t pqe2ee_sha256(uint8_t *out, const uint8_t *m, size_t mlen) {
    int32_t status = sha256_impl(out, m, mlen);
    pqe2ee_scrub_stack(PQE2EE_STACK_SMALL);
    return status;
}

static PQE2EE_NOINLINE int32_t sha3_256_impl(uint8_t *out, const uint8_t *m, size_t mlen) {
    sha3_256(out, m, mlen);
    return PQE2EE_OK;
}

int32_t pqe2ee_sha3_256(uint8_t *out, const uint8_t *m, size_t mlen) {
    int32_t status = sha3_256_impl(out, m, mlen);
    pqe2ee_scrub_stack(PQE2EE_STACK_SMALL);
    return status;
}

static PQE2EE_NOINLINE int32_t shake256_impl(uint8_t *out, size_t outlen, const uint8_t *m, size_t mlen) {
    shake256(out, outlen, m, mlen);
    return PQE2EE_OK;
}

int32_t pqe2ee_shake256(uint8_t *out, size_t outlen, const uint8_t *m, size_t mlen) {
    /* X-Wing expands its secret seed with SHAKE256, so the sponge state is scrubbed. */
    int32_t status = shake256_impl(out, outlen, m, mlen);
    pqe2ee_scrub_stack(PQE2EE_STACK_SMALL);
    return status;
}

static PQE2EE_NOINLINE int32_t hmac_impl(uint8_t *out, const uint8_t *key, size_t keylen, const uint8_t *m,
                                         size_t mlen) {
    hmac_key_state state;
    hmac_key(&state, key, keylen);
    hmac_parts(&state, out, m, mlen, NULL, 0, NULL, 0);
    hmac_key_wipe(&state);
    return PQE2EE_OK;
}

int32_t pqe2ee_hmac_sha256(uint8_t *out, const uint8_t *key, size_t keylen, const uint8_t *m, size_t mlen) {
    int32_t status = hmac_impl(out, key, keylen, m, mlen);
    pqe2ee_scrub_stack(PQE2EE_STACK_SMALL);
    return status;
}

static PQE2EE_NOINLINE int32_t hkdf_impl(uint8_t *out, size_t outlen, const uint8_t *ikm, size_t ikmlen,
                                         const uint8_t *salt, size_t saltlen, const uint8_t *info,
                                         size_t infolen) {
    if (outlen == 0 || outlen > HKDF_MAX_OUTPUT) {
        return PQE2EE_ERR_INVALID_LENGTH;
    }
    hmac_key_state state;
    uint8_t prk[SHA256_DIGEST_BYTES];
    uint8_t block[SHA256_DIGEST_BYTES];

    /* Extract: an empty salt is HashLen zero bytes, which HMAC's zero padding already gives. */
    hmac_key(&state, salt, saltlen);
    hmac_parts(&state, prk, ikm, ikmlen, NULL, 0, NULL, 0);

    /* Expand: T(i) = HMAC(PRK, T(i-1) || info || i) */
    hmac_key(&state, prk, sizeof prk);
    size_t written = 0;
    for (uint8_t counter = 1; written < outlen; counter++) {
        const size_t previous_length = counter == 1 ? 0 : SHA256_DIGEST_BYTES;
        hmac_parts(&state, block, block, previous_length, info, infolen, &counter, 1);
        const size_t take = outlen - written < SHA256_DIGEST_BYTES ? outlen - written : SHA256_DIGEST_BYTES;
        memcpy(out + written, block, take);
        written += take;
    }
    pqe2ee_wipe(prk, sizeof prk);
    pqe2ee_wipe(block, sizeof block);
    hmac_key_wipe(&state);
    return PQE2EE_OK;
}

int32_t pqe2ee_hkdf_sha256(uint8_t *out, size_t outlen, const uint8_t *ikm, size_t ikmlen, const uint8_t *salt,
                           size_t saltlen, const uint8_t *info, size_t infolen) {
    int32_t status = hkdf_impl(out, outlen, ikm, ikmlen, salt, saltlen, info, infolen);
    pqe2ee_scrub_stack(PQE2EE_STACK_SMALL);
    return status;
}
