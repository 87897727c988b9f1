/* pqe2ee: SIMD128 replacement for PQClean's ML-KEM clean poly.c (same symbols, same outputs).
 * Compress/Decompress follow FIPS 203 (4.7)/(4.8) directly: Compress_d(x) = round(2^d x / q) mod 2^d
 * computed as ((x << d) + (q-1)/2) / q on the canonical representative (q is odd, so no ties). */
#include "cbd.h"
#include "ntt.h"
#include "params.h"
#include "poly.h"
#include "reduce.h"
#include "symmetric.h"
#include "verify.h"
#include "mlkem_simd.h"
#include <stdint.h>

#include "mlkem_tables.h"

#define LD(p) wasm_v128_load(p)
#define ST(p, v) wasm_v128_store(p, v)

/* canonical representative in [0, q) of a value in (-q, q) */
static inline uint32_t canon(int16_t x) {
    return (uint32_t)(int32_t)(x + ((x >> 15) & KYBER_Q));
}

void NS(poly_compress)(uint8_t r[KYBER_POLYCOMPRESSEDBYTES], const poly *a) {
    unsigned int i, j;
    uint8_t t[8];
    for (i = 0; i < KYBER_N / 8; i++) {
        for (j = 0; j < 8; j++) {
#if KYBER_POLYCOMPRESSEDBYTES == 160
            t[j] = (uint8_t)((((canon(a->coeffs[8 * i + j]) << 5) + 1664) / KYBER_Q) & 31);
#else
            t[j] = (uint8_t)((((canon(a->coeffs[8 * i + j]) << 4) + 1664) / KYBER_Q) & 15);
#endif
        }
#if KYBER_POLYCOMPRESSEDBYTES == 160
        r[0] = (uint8_t)(t[0] | (t[1] << 5));
        r[1] = (uint8_t)((t[1] >> 3) | (t[2] << 2) | (t[3] << 7));
        r[2] = (uint8_t)((t[3] >> 1) | (t[4] << 4));
        r[3] = (uint8_t)((t[4] >> 4) | (t[5] << 1) | (t[6] << 6));
        r[4] = (uint8_t)((t[6] >> 2) | (t[7] << 3));
        r += 5;
#elif KYBER_POLYCOMPRESSEDBYTES == 128
        r[0] = (uint8_t)(t[0] | (t[1] << 4));
        r[1] = (uint8_t)(t[2] | (t[3] << 4));
        r[2] = (uint8_t)(t[4] | (t[5] << 4));
        r[3] = (uint8_t)(t[6] | (t[7] << 4));
        r += 4;
#else
#error "unsupported KYBER_POLYCOMPRESSEDBYTES"
#endif
    }
}

void NS(poly_decompress)(poly *r, const uint8_t a[KYBER_POLYCOMPRESSEDBYTES]) {
    unsigned int i, j;
    uint32_t t[8];
    for (i = 0; i < KYBER_N / 8; i++) {
#if KYBER_POLYCOMPRESSEDBYTES == 160
        uint64_t w = (uint64_t)a[0] | ((uint64_t)a[1] << 8) | ((uint64_t)a[2] << 16) | ((uint64_t)a[3] << 24) |
                     ((uint64_t)a[4] << 32);
        for (j = 0; j < 8; j++) {
            t[j] = (uint32_t)(w >> (5 * j)) & 31;
            r->coeffs[8 * i + j] = (int16_t)((t[j] * KYBER_Q + 16) >> 5);
        }
        a += 5;
#else
        uint32_t w = (uint32_t)a[0] | ((uint32_t)a[1] << 8) | ((uint32_t)a[2] << 16) | ((uint32_t)a[3] << 24);
        for (j = 0; j < 8; j++) {
            t[j] = (w >> (4 * j)) & 15;
            r->coeffs[8 * i + j] = (int16_t)((t[j] * KYBER_Q + 8) >> 4);
        }
        a += 4;
#endif
    }
}

void NS(poly_tobytes)(uint8_t r[KYBER_POLYBYTES], const poly *a) {
    unsigned int i;
    for (i = 0; i < KYBER_N / 2; i++) {
        uint32_t t0 = canon(a->coeffs[2 * i]), t1 = canon(a->coeffs[2 * i + 1]);
        r[3 * i + 0] = (uint8_t)t0;
        r[3 * i + 1] = (uint8_t)((t0 >> 8) | (t1 << 4));
        r[3 * i + 2] = (uint8_t)(t1 >> 4);
    }
}

void NS(poly_frombytes)(poly *r, const uint8_t a[KYBER_POLYBYTES]) {
    unsigned int i;
    for (i = 0; i < KYBER_N / 2; i++) {
        uint32_t w = (uint32_t)a[3 * i] | ((uint32_t)a[3 * i + 1] << 8) | ((uint32_t)a[3 * i + 2] << 16);
        r->coeffs[2 * i] = (int16_t)(w & 0xFFF);
        r->coeffs[2 * i + 1] = (int16_t)(w >> 12);
    }
}

/* Decompress_1: bit b -> b * (q+1)/2, constant time (mask from a lane compare). */
void NS(poly_frommsg)(poly *r, const uint8_t msg[KYBER_INDCPA_MSGBYTES]) {
    const v128_t bits = wasm_i16x8_make(1, 2, 4, 8, 16, 32, 64, 128);
    const v128_t half = wasm_i16x8_splat((KYBER_Q + 1) / 2);
    for (unsigned int i = 0; i < KYBER_N / 8; i++) {
        v128_t m = wasm_v128_and(wasm_i16x8_splat(msg[i]), bits);
        m = wasm_i16x8_eq(m, bits);
        ST(&r->coeffs[8 * i], wasm_v128_and(m, half));
    }
}

/* Compress_1: bit = 1 iff the canonical representative lies in [833, 2496] (round(2x/q) == 1),
 * constant time (lane compares + bitmask). Input in (-q, q). */
void NS(poly_tomsg)(uint8_t msg[KYBER_INDCPA_MSGBYTES], const poly *a) {
    const v128_t q = wasm_i16x8_splat(KYBER_Q);
    const v128_t lo = wasm_i16x8_splat(832), hi = wasm_i16x8_splat(2497);
    for (unsigned int i = 0; i < KYBER_N / 8; i++) {
        v128_t x = LD(&a->coeffs[8 * i]);
        x = wasm_i16x8_add(x, wasm_v128_and(wasm_i16x8_shr(x, 15), q));
        v128_t m = wasm_v128_and(wasm_i16x8_gt(x, lo), wasm_i16x8_lt(x, hi));
        msg[i] = (uint8_t)wasm_i16x8_bitmask(m);
    }
}

void NS(poly_getnoise_eta1)(poly *r, const uint8_t seed[KYBER_SYMBYTES], uint8_t nonce) {
    uint8_t buf[KYBER_ETA1 * KYBER_N / 4];
    prf(buf, sizeof(buf), seed, nonce);
    NS(poly_cbd_eta1)(r, buf);
}

void NS(poly_getnoise_eta2)(poly *r, const uint8_t seed[KYBER_SYMBYTES], uint8_t nonce) {
    uint8_t buf[KYBER_ETA2 * KYBER_N / 4];
    prf(buf, sizeof(buf), seed, nonce);
    NS(poly_cbd_eta2)(r, buf);
}

void NS(poly_ntt)(poly *r) {
    NS(ntt_reduce)(r->coeffs);
}

void NS(poly_invntt_tomont)(poly *r) {
    NS(invntt)(r->coeffs);
}

/* Same values as PQClean's per-pair basemul: r0 = fqmul(fqmul(a1,b1),zeta) + fqmul(a0,b0),
 * r1 = fqmul(a0,b1) + fqmul(a1,b0), 8 coefficients (4 pairs) per step. */
void NS(poly_basemul_montgomery)(poly *r, const poly *a, const poly *b) {
    const v128_t qinv = wasm_i16x8_splat(MLKEM_QINV);
    for (unsigned int i = 0; i < KYBER_N; i += 8) {
        v128_t A = LD(&a->coeffs[i]), B = LD(&b->coeffs[i]);
        v128_t Z = LD(&basemul_zz[i]), Zq = LD(&basemul_zz_qinv[i]);
        v128_t As = wasm_i16x8_shuffle(A, A, 1, 0, 3, 2, 5, 4, 7, 6); /* a1 a0 ... */
        v128_t Bs = wasm_i16x8_shuffle(B, B, 1, 0, 3, 2, 5, 4, 7, 6); /* b1 b0 ... */
        v128_t p = fqmul_v(A, B, wasm_i16x8_mul(B, qinv));             /* a0b0, a1b1 */
        v128_t pz = fqmul_v(p, Z, Zq);                                  /* -, fqmul(a1b1, zeta) */
        v128_t c = fqmul_v(As, B, wasm_i16x8_mul(B, qinv));           /* a1b0, a0b1 */
        (void)Bs;
        /* even lanes: p[even] + pz[odd]; odd lanes: c[even] + c[odd] (a1b0 + a0b1) */
        v128_t ev = wasm_i16x8_add(p, wasm_i16x8_shuffle(pz, pz, 1, 0, 3, 2, 5, 4, 7, 6));
        v128_t od = wasm_i16x8_add(c, wasm_i16x8_shuffle(c, c, 1, 0, 3, 2, 5, 4, 7, 6));
        ST(&r->coeffs[i], wasm_i16x8_shuffle(ev, od, 0, 9, 2, 11, 4, 13, 6, 15));
    }
}

void NS(poly_tomont)(poly *r) {
    const v128_t f = wasm_i16x8_splat(1353), fq = wasm_i16x8_splat((int16_t)(1353 * MLKEM_QINV));
    for (unsigned int i = 0; i < KYBER_N; i += 8) {
        ST(&r->coeffs[i], fqmul_v(LD(&r->coeffs[i]), f, fq));
    }
}

void NS(poly_reduce)(poly *r) {
    for (unsigned int i = 0; i < KYBER_N; i += 8) {
        ST(&r->coeffs[i], barrett_v(LD(&r->coeffs[i])));
    }
}

void NS(poly_add)(poly *r, const poly *a, const poly *b) {
    for (unsigned int i = 0; i < KYBER_N; i += 8) {
        ST(&r->coeffs[i], wasm_i16x8_add(LD(&a->coeffs[i]), LD(&b->coeffs[i])));
    }
}

void NS(poly_sub)(poly *r, const poly *a, const poly *b) {
    for (unsigned int i = 0; i < KYBER_N; i += 8) {
        ST(&r->coeffs[i], wasm_i16x8_sub(LD(&a->coeffs[i]), LD(&b->coeffs[i])));
    }
}
