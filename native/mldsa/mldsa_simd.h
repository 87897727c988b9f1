/*
 * SIMD128 helpers shared by the pqe2ee replacements of PQClean's ML-DSA ntt.c / polyvec.c.
 * Included by those files only, after the scheme's params.h (K selects the PQClean namespace).
 *
 * Every helper computes exactly the same integers as PQClean's scalar reference code (same
 * Montgomery reduction, same representatives), only four coefficients at a time.
 */
#ifndef PQE2EE_MLDSA_SIMD_H
#define PQE2EE_MLDSA_SIMD_H

#include <stdint.h>
#include <wasm_simd128.h>

#include "params.h"

#if K == 8
#define MLDSA_NS(name) PQCLEAN_MLDSA87_CLEAN_##name
#elif K == 6
#define MLDSA_NS(name) PQCLEAN_MLDSA65_CLEAN_##name
#else
#error "unsupported ML-DSA parameter set"
#endif

#define MLDSA_QINV 58728449 /* q^-1 mod 2^32 */

/*
 * Montgomery product of four lanes: for each lane, with p = (int64) a * z,
 * t = (int32)(p * QINV mod 2^32) and r = (p - t * Q) >> 32, i.e. PQClean's
 * montgomery_reduce((int64_t)a * z). zq must be z * QINV mod 2^32 (lane-wise):
 * the low 32 bits of p * QINV equal a * zq mod 2^32. The low halves of p and t * Q
 * are equal, so r is the high half of the 64-bit difference.
 */
static inline v128_t mldsa_mont_mul(v128_t a, v128_t z, v128_t zq) {
    const v128_t q = wasm_i32x4_splat(Q);
    v128_t t = wasm_i32x4_mul(a, zq);
    v128_t lo = wasm_i64x2_sub(wasm_i64x2_extmul_low_i32x4(a, z), wasm_i64x2_extmul_low_i32x4(t, q));
    v128_t hi = wasm_i64x2_sub(wasm_i64x2_extmul_high_i32x4(a, z), wasm_i64x2_extmul_high_i32x4(t, q));
    return wasm_i32x4_shuffle(lo, hi, 1, 3, 5, 7);
}

/* Lane-wise montgomery_reduce((int64_t)a * b) for two varying operands. */
static inline v128_t mldsa_mont_mul2(v128_t a, v128_t b) {
    return mldsa_mont_mul(a, b, wasm_i32x4_mul(b, wasm_i32x4_splat(MLDSA_QINV)));
}

/* Montgomery product with a scalar constant z. */
static inline v128_t mldsa_mont_mul_scalar(v128_t a, int32_t z) {
    return mldsa_mont_mul(a, wasm_i32x4_splat(z), wasm_i32x4_splat((int32_t)((uint32_t)z * (uint32_t)MLDSA_QINV)));
}

#endif
