/*
 * Polynomial vectors for ML-DSA on wasm SIMD128.
 *
 * Replaces PQClean's ml-dsa-{87,65}/clean/polyvec.c: same functions, same results. The
 * coefficient-wise arithmetic (add, sub, reduce32, caddq, shiftl, Montgomery pointwise products,
 * infinity-norm checks) is done here four lanes at a time with exactly PQClean's integer
 * operations. ExpandA and the y sampling run two SHAKE streams at once (keccakx2.h) and
 * consume them exactly as PQClean's poly_uniform / poly_uniform_gamma1 do; rounding, packing
 * and the remaining sampling still go through PQClean's poly.c.
 */
#include <stdint.h>
#include <string.h>
#include <wasm_simd128.h>

#include "params.h"
#include "poly.h"
#include "polyvec.h"
#include "mldsa_simd.h"
#include "../common/keccakx2.h"

#define LOAD(p) wasm_v128_load(p)
#define STORE(p, v) wasm_v128_store((p), (v))

static inline void vpoly_add(poly *c, const poly *a, const poly *b) {
    for (unsigned int i = 0; i < N; i += 4) {
        STORE(&c->coeffs[i], wasm_i32x4_add(LOAD(&a->coeffs[i]), LOAD(&b->coeffs[i])));
    }
}

static inline void vpoly_sub(poly *c, const poly *a, const poly *b) {
    for (unsigned int i = 0; i < N; i += 4) {
        STORE(&c->coeffs[i], wasm_i32x4_sub(LOAD(&a->coeffs[i]), LOAD(&b->coeffs[i])));
    }
}

/* reduce32: t = (a + 2^22) >> 23; a - t * Q */
static inline void vpoly_reduce(poly *a) {
    const v128_t round = wasm_i32x4_splat(1 << 22);
    const v128_t q = wasm_i32x4_splat(Q);
    for (unsigned int i = 0; i < N; i += 4) {
        v128_t x = LOAD(&a->coeffs[i]);
        v128_t t = wasm_i32x4_shr(wasm_i32x4_add(x, round), 23);
        STORE(&a->coeffs[i], wasm_i32x4_sub(x, wasm_i32x4_mul(t, q)));
    }
}

/* caddq: a + ((a >> 31) & Q) */
static inline void vpoly_caddq(poly *a) {
    const v128_t q = wasm_i32x4_splat(Q);
    for (unsigned int i = 0; i < N; i += 4) {
        v128_t x = LOAD(&a->coeffs[i]);
        STORE(&a->coeffs[i], wasm_i32x4_add(x, wasm_v128_and(wasm_i32x4_shr(x, 31), q)));
    }
}

static inline void vpoly_shiftl(poly *a) {
    for (unsigned int i = 0; i < N; i += 4) {
        STORE(&a->coeffs[i], wasm_i32x4_shl(LOAD(&a->coeffs[i]), D));
    }
}

static inline void vpoly_pointwise(poly *c, const poly *a, const poly *b) {
    for (unsigned int i = 0; i < N; i += 4) {
        STORE(&c->coeffs[i], mldsa_mont_mul2(LOAD(&a->coeffs[i]), LOAD(&b->coeffs[i])));
    }
}

/*
 * Lane mask of coefficients with |a| >= B, OR-ed into acc. |a| is computed as PQClean does
 * (a - ((a >> 31) & 2a)), which is the lane-wise wrapping absolute value.
 */
static inline v128_t vpoly_over(v128_t acc, const poly *a, v128_t bm1) {
    for (unsigned int i = 0; i < N; i += 4) {
        acc = wasm_v128_or(acc, wasm_i32x4_gt(wasm_i32x4_abs(LOAD(&a->coeffs[i])), bm1));
    }
    return acc;
}

/*
 * Two SHAKE streams seed || nonce_0 and seed || nonce_1 (seedlen a multiple of 8, rate r bytes),
 * absorbed and padded into the two lanes of s.
 */
static void keccakx2_absorb_seed_nonces(v128_t s[25], const uint8_t *seed, unsigned int seedlen,
                                        uint16_t nonce0, uint16_t nonce1, unsigned int rate) {
    unsigned int i;
    for (i = 0; i < 25; i++) {
        s[i] = wasm_i64x2_splat(0);
    }
    for (i = 0; i < seedlen / 8; i++) {
        uint64_t w;
        memcpy(&w, seed + 8 * i, 8);
        s[i] = wasm_i64x2_splat((int64_t)w);
    }
    /* nonce (2 bytes, little-endian), then the SHAKE domain/padding byte 0x1F */
    s[i] = wasm_i64x2_make((int64_t)(nonce0 | (0x1FULL << 16)), (int64_t)(nonce1 | (0x1FULL << 16)));
    /* final padding bit: byte rate - 1 */
    s[(rate - 1) / 8] = wasm_v128_xor(s[(rate - 1) / 8], wasm_i64x2_splat((int64_t)(0x80ULL << (8 * ((rate - 1) % 8)))));
}

#define EXPANDA_RATE 168
#ifndef EXPANDA_NBLOCKS
#define EXPANDA_NBLOCKS 5 /* 840 bytes: as PQClean's POLY_UNIFORM_NBLOCKS */
#endif

/* PQClean's rej_uniform: 3 little-endian bytes, 23 bits, accepted if < Q. */
static unsigned int rej_uniform(int32_t *a, unsigned int ctr, const uint8_t *buf, unsigned int buflen) {
    unsigned int pos = 0;
    while (ctr < N && pos + 3 <= buflen) {
        uint32_t t = (uint32_t)buf[pos] | ((uint32_t)buf[pos + 1] << 8) | ((uint32_t)buf[pos + 2] << 16);
        pos += 3;
        t &= 0x7FFFFF;
        if (t < Q) {
            a[ctr++] = (int32_t)t;
        }
    }
    return ctr;
}

/* poly_uniform for two polynomials at once. Blocks are multiples of 3 bytes, so consuming the
   stream block by block gives exactly PQClean's coefficients. */
static void poly_uniform_x2(poly *a0, uint16_t nonce0, poly *a1, uint16_t nonce1, const uint8_t rho[SEEDBYTES]) {
    v128_t s[25];
    uint8_t buf0[EXPANDA_NBLOCKS * EXPANDA_RATE], buf1[EXPANDA_NBLOCKS * EXPANDA_RATE];
    unsigned int c0, c1;

    keccakx2_absorb_seed_nonces(s, rho, SEEDBYTES, nonce0, nonce1, EXPANDA_RATE);
    for (unsigned int b = 0; b < EXPANDA_NBLOCKS; b++) {
        keccakx2_permute(s);
        keccakx2_extract(buf0 + b * EXPANDA_RATE, buf1 + b * EXPANDA_RATE, s, EXPANDA_RATE / 8);
    }
    c0 = rej_uniform(a0->coeffs, 0, buf0, sizeof buf0);
    c1 = rej_uniform(a1->coeffs, 0, buf1, sizeof buf1);
    while (c0 < N || c1 < N) {
        keccakx2_permute(s);
        keccakx2_extract(buf0, buf1, s, EXPANDA_RATE / 8);
        c0 = rej_uniform(a0->coeffs, c0, buf0, EXPANDA_RATE);
        c1 = rej_uniform(a1->coeffs, c1, buf1, EXPANDA_RATE);
    }
}

void MLDSA_NS(polyvec_matrix_expand)(polyvecl mat[K], const uint8_t rho[SEEDBYTES]) {
    unsigned int p = 0;
    for (; p + 2 <= K * L; p += 2) {
        unsigned int i0 = p / L, j0 = p % L, i1 = (p + 1) / L, j1 = (p + 1) % L;
        poly_uniform_x2(&mat[i0].vec[j0], (uint16_t)((i0 << 8) + j0),
                        &mat[i1].vec[j1], (uint16_t)((i1 << 8) + j1), rho);
    }
    if (p < K * L) {
        MLDSA_NS(poly_uniform)(&mat[p / L].vec[p % L], rho, (uint16_t)(((p / L) << 8) + p % L));
    }
}

void MLDSA_NS(polyvecl_pointwise_acc_montgomery)(poly *w, const polyvecl *u, const polyvecl *v) {
    /* w = sum_i montgomery(u_i * v_i), each product reduced separately as in PQClean */
    for (unsigned int c = 0; c < N; c += 4) {
        v128_t acc = mldsa_mont_mul2(LOAD(&u->vec[0].coeffs[c]), LOAD(&v->vec[0].coeffs[c]));
        for (unsigned int i = 1; i < L; ++i) {
            acc = wasm_i32x4_add(acc, mldsa_mont_mul2(LOAD(&u->vec[i].coeffs[c]), LOAD(&v->vec[i].coeffs[c])));
        }
        STORE(&w->coeffs[c], acc);
    }
}

void MLDSA_NS(polyvec_matrix_pointwise_montgomery)(polyveck *t, const polyvecl mat[K], const polyvecl *v) {
    for (unsigned int i = 0; i < K; ++i) {
        MLDSA_NS(polyvecl_pointwise_acc_montgomery)(&t->vec[i], &mat[i], v);
    }
}

void MLDSA_NS(polyvecl_uniform_eta)(polyvecl *v, const uint8_t seed[CRHBYTES], uint16_t nonce) {
    for (unsigned int i = 0; i < L; ++i) {
        MLDSA_NS(poly_uniform_eta)(&v->vec[i], seed, nonce++);
    }
}

#define GAMMA1_RATE 136
#define GAMMA1_NBLOCKS ((POLYZ_PACKEDBYTES + GAMMA1_RATE - 1) / GAMMA1_RATE)

void MLDSA_NS(polyvecl_uniform_gamma1)(polyvecl *v, const uint8_t seed[CRHBYTES], uint16_t nonce) {
    unsigned int i = 0;
    for (; i + 2 <= L; i += 2) {
        v128_t s[25];
        uint8_t buf0[GAMMA1_NBLOCKS * GAMMA1_RATE], buf1[GAMMA1_NBLOCKS * GAMMA1_RATE];
        keccakx2_absorb_seed_nonces(s, seed, CRHBYTES, (uint16_t)(L * nonce + i), (uint16_t)(L * nonce + i + 1),
                                    GAMMA1_RATE);
        for (unsigned int b = 0; b < GAMMA1_NBLOCKS; b++) {
            keccakx2_permute(s);
            keccakx2_extract(buf0 + b * GAMMA1_RATE, buf1 + b * GAMMA1_RATE, s, GAMMA1_RATE / 8);
        }
        MLDSA_NS(polyz_unpack)(&v->vec[i], buf0);
        MLDSA_NS(polyz_unpack)(&v->vec[i + 1], buf1);
    }
    if (i < L) {
        MLDSA_NS(poly_uniform_gamma1)(&v->vec[i], seed, (uint16_t)(L * nonce + i));
    }
}

void MLDSA_NS(polyvecl_reduce)(polyvecl *v) {
    for (unsigned int i = 0; i < L; ++i) {
        vpoly_reduce(&v->vec[i]);
    }
}

void MLDSA_NS(polyvecl_add)(polyvecl *w, const polyvecl *u, const polyvecl *v) {
    for (unsigned int i = 0; i < L; ++i) {
        vpoly_add(&w->vec[i], &u->vec[i], &v->vec[i]);
    }
}

void MLDSA_NS(polyvecl_ntt)(polyvecl *v) {
    for (unsigned int i = 0; i < L; ++i) {
        MLDSA_NS(poly_ntt)(&v->vec[i]);
    }
}

void MLDSA_NS(polyvecl_invntt_tomont)(polyvecl *v) {
    for (unsigned int i = 0; i < L; ++i) {
        MLDSA_NS(poly_invntt_tomont)(&v->vec[i]);
    }
}

void MLDSA_NS(polyvecl_pointwise_poly_montgomery)(polyvecl *r, const poly *a, const polyvecl *v) {
    for (unsigned int i = 0; i < L; ++i) {
        vpoly_pointwise(&r->vec[i], a, &v->vec[i]);
    }
}

int MLDSA_NS(polyvecl_chknorm)(const polyvecl *v, int32_t bound) {
    if (bound > (Q - 1) / 8) {
        return 1;
    }
    const v128_t bm1 = wasm_i32x4_splat(bound - 1);
    v128_t over = wasm_i32x4_splat(0);
    for (unsigned int i = 0; i < L; ++i) {
        over = vpoly_over(over, &v->vec[i], bm1);
    }
    return wasm_v128_any_true(over) ? 1 : 0;
}

void MLDSA_NS(polyveck_uniform_eta)(polyveck *v, const uint8_t seed[CRHBYTES], uint16_t nonce) {
    for (unsigned int i = 0; i < K; ++i) {
        MLDSA_NS(poly_uniform_eta)(&v->vec[i], seed, nonce++);
    }
}

void MLDSA_NS(polyveck_reduce)(polyveck *v) {
    for (unsigned int i = 0; i < K; ++i) {
        vpoly_reduce(&v->vec[i]);
    }
}

void MLDSA_NS(polyveck_caddq)(polyveck *v) {
    for (unsigned int i = 0; i < K; ++i) {
        vpoly_caddq(&v->vec[i]);
    }
}

void MLDSA_NS(polyveck_add)(polyveck *w, const polyveck *u, const polyveck *v) {
    for (unsigned int i = 0; i < K; ++i) {
        vpoly_add(&w->vec[i], &u->vec[i], &v->vec[i]);
    }
}

void MLDSA_NS(polyveck_sub)(polyveck *w, const polyveck *u, const polyveck *v) {
    for (unsigned int i = 0; i < K; ++i) {
        vpoly_sub(&w->vec[i], &u->vec[i], &v->vec[i]);
    }
}

void MLDSA_NS(polyveck_shiftl)(polyveck *v) {
    for (unsigned int i = 0; i < K; ++i) {
        vpoly_shiftl(&v->vec[i]);
    }
}

void MLDSA_NS(polyveck_ntt)(polyveck *v) {
    for (unsigned int i = 0; i < K; ++i) {
        MLDSA_NS(poly_ntt)(&v->vec[i]);
    }
}

void MLDSA_NS(polyveck_invntt_tomont)(polyveck *v) {
    for (unsigned int i = 0; i < K; ++i) {
        MLDSA_NS(poly_invntt_tomont)(&v->vec[i]);
    }
}

void MLDSA_NS(polyveck_pointwise_poly_montgomery)(polyveck *r, const poly *a, const polyveck *v) {
    for (unsigned int i = 0; i < K; ++i) {
        vpoly_pointwise(&r->vec[i], a, &v->vec[i]);
    }
}

int MLDSA_NS(polyveck_chknorm)(const polyveck *v, int32_t bound) {
    if (bound > (Q - 1) / 8) {
        return 1;
    }
    const v128_t bm1 = wasm_i32x4_splat(bound - 1);
    v128_t over = wasm_i32x4_splat(0);
    for (unsigned int i = 0; i < K; ++i) {
        over = vpoly_over(over, &v->vec[i], bm1);
    }
    return wasm_v128_any_true(over) ? 1 : 0;
}

void MLDSA_NS(polyveck_power2round)(polyveck *v1, polyveck *v0, const polyveck *v) {
    for (unsigned int i = 0; i < K; ++i) {
        MLDSA_NS(poly_power2round)(&v1->vec[i], &v0->vec[i], &v->vec[i]);
    }
}

void MLDSA_NS(polyveck_decompose)(polyveck *v1, polyveck *v0, const polyveck *v) {
    for (unsigned int i = 0; i < K; ++i) {
        MLDSA_NS(poly_decompose)(&v1->vec[i], &v0->vec[i], &v->vec[i]);
    }
}

unsigned int MLDSA_NS(polyveck_make_hint)(polyveck *h, const polyveck *v0, const polyveck *v1) {
    unsigned int s = 0;
    for (unsigned int i = 0; i < K; ++i) {
        s += MLDSA_NS(poly_make_hint)(&h->vec[i], &v0->vec[i], &v1->vec[i]);
    }
    return s;
}

void MLDSA_NS(polyveck_use_hint)(polyveck *w, const polyveck *v, const polyveck *h) {
    for (unsigned int i = 0; i < K; ++i) {
        MLDSA_NS(poly_use_hint)(&w->vec[i], &v->vec[i], &h->vec[i]);
    }
}

void MLDSA_NS(polyveck_pack_w1)(uint8_t r[K * POLYW1_PACKEDBYTES], const polyveck *w1) {
    for (unsigned int i = 0; i < K; ++i) {
        MLDSA_NS(polyw1_pack)(&r[i * POLYW1_PACKEDBYTES], &w1->vec[i]);
    }
}
