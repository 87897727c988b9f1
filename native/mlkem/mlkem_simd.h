/* pqe2ee: shared helpers for the SIMD128 ML-KEM arithmetic (included by the native/mlkem/ *.c
 * replacements of PQClean's clean ML-KEM files; compiled once per parameter set). */
#ifndef PQE2EE_MLKEM_SIMD_H
#define PQE2EE_MLKEM_SIMD_H
#include "params.h"
#include <stdint.h>
#include <wasm_simd128.h>

#if KYBER_K == 4
#define NS(x) PQCLEAN_MLKEM1024_CLEAN_##x
#elif KYBER_K == 3
#define NS(x) PQCLEAN_MLKEM768_CLEAN_##x
#else
#error "unsupported KYBER_K"
#endif

#define MLKEM_Q 3329
#define MLKEM_QINV (-3327) /* q^-1 mod 2^16 */

/* Montgomery multiplication a*b*2^-16 mod q for 8 int16 lanes, where bqinv = (int16)(b*QINV).
 * Exactly PQClean's fqmul/montgomery_reduce, lane-wise:
 *   t = low16(a*b*QINV); result = (a*b - t*q) >> 16 = hi16(a*b) - hi16(t*q)   (the low halves cancel).
 * wasm has no i16 mulhi; i16x8.q15mulr_sat_s gives round(2xy/2^16). Because a*b == t*q (mod 2^16),
 * both rounded quotients have the same fractional part, so
 *   q15mulr(a,b) - q15mulr(t,q) = 2*(a*b - t*q)/2^16  exactly, and one arithmetic shift finishes.
 * (q15mulr only saturates for -32768*-32768; q and all b here are small, |a| < 2^15.)
 * Result range as for montgomery_reduce: |r| < q when |a*b| < q*2^15. */
static inline v128_t fqmul_v(v128_t a, v128_t b, v128_t bqinv) {
    v128_t t = wasm_i16x8_mul(a, bqinv);
    v128_t hi = wasm_i16x8_q15mulr_sat(a, b);
    v128_t tq = wasm_i16x8_q15mulr_sat(t, wasm_i16x8_splat(MLKEM_Q));
    return wasm_i16x8_shr(wasm_i16x8_sub(hi, tq), 1);
}

/* Barrett reduction, bit-identical to PQClean's barrett_reduce:
 *   t = (v*a + 2^25) >> 26 with v = 20159, r = a - t*q, r in [-(q-1)/2, (q-1)/2]. */
static inline v128_t barrett_v(v128_t a) {
    const v128_t v = wasm_i16x8_splat(20159);
    const v128_t rnd = wasm_i32x4_splat(1 << 25);
    v128_t lo = wasm_i32x4_extmul_low_i16x8(a, v);
    v128_t hi = wasm_i32x4_extmul_high_i16x8(a, v);
    lo = wasm_i32x4_shr(wasm_i32x4_add(lo, rnd), 26);
    hi = wasm_i32x4_shr(wasm_i32x4_add(hi, rnd), 26);
    v128_t t = wasm_i16x8_narrow_i32x4(lo, hi);
    return wasm_i16x8_sub(a, wasm_i16x8_mul(t, wasm_i16x8_splat(MLKEM_Q)));
}

/* Montgomery reduction of int32 lanes (|a| < q*2^15) -> int32 lanes in (-q, q). */
static inline v128_t montred32_v(v128_t a) {
    v128_t t = wasm_i32x4_mul(a, wasm_i32x4_splat(MLKEM_QINV));
    t = wasm_i32x4_shr(wasm_i32x4_shl(t, 16), 16);
    return wasm_i32x4_shr(wasm_i32x4_sub(a, wasm_i32x4_mul(t, wasm_i32x4_splat(MLKEM_Q))), 16);
}

/* Internal (non-PQClean) entry points shared between the replaced files. */
void NS(ntt_reduce)(int16_t r[256]);
void NS(poly_bcache)(int16_t cache[256], const int16_t b[256]);
void NS(polyvec_basemul_acc_cached)(int16_t r[256], const int16_t *a, const int16_t *b,
                                    const int16_t *bcache);
#endif
