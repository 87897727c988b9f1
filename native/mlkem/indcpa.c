/* pqe2ee: replacement for PQClean's ML-KEM clean indcpa.c (K-PKE of FIPS 203; same symbols and
 * outputs). Differences from the reference: the matrix is generated one row at a time and consumed
 * at once (less stack), the NTT-domain products use the cached lazy multiply-accumulate from
 * polyvec.c, and the element-wise tails are fused SIMD loops. */
#include "indcpa.h"
#include "ntt.h"
#include "params.h"
#include "poly.h"
#include "polyvec.h"
#include "randombytes.h"
#include "symmetric.h"
#include "cbd.h"
#include "mlkem_simd.h"
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#define LD(p) wasm_v128_load(p)
#define ST(p, v) wasm_v128_store(p, v)

/* SampleNTT rejection step: 12-bit candidates < q are kept, in order. */
static unsigned int rej_uniform(int16_t *r, unsigned int len, const uint8_t *buf, unsigned int buflen) {
    unsigned int ctr = 0, pos = 0;
    /* branch-free while two more outputs surely fit (public data: timing is irrelevant here) */
    while (ctr + 2 <= len && pos + 3 <= buflen) {
        uint32_t w = (uint32_t)buf[pos] | ((uint32_t)buf[pos + 1] << 8) | ((uint32_t)buf[pos + 2] << 16);
        uint32_t v0 = w & 0xFFF, v1 = w >> 12;
        pos += 3;
        r[ctr] = (int16_t)v0;
        ctr += v0 < KYBER_Q;
        r[ctr] = (int16_t)v1;
        ctr += v1 < KYBER_Q;
    }
    while (ctr < len && pos + 3 <= buflen) {
        uint32_t w = (uint32_t)buf[pos] | ((uint32_t)buf[pos + 1] << 8) | ((uint32_t)buf[pos + 2] << 16);
        uint32_t v0 = w & 0xFFF, v1 = w >> 12;
        pos += 3;
        if (v0 < KYBER_Q) {
            r[ctr++] = (int16_t)v0;
        }
        if (ctr < len && v1 < KYBER_Q) {
            r[ctr++] = (int16_t)v1;
        }
    }
    return ctr;
}


/* ---- Two SHAKE128 instances side by side in i64x2 lanes (FIPS 202 Keccak-f[1600]) ----
 * Used only for SampleNTT of the public matrix: two matrix entries per permutation call. */
#include "../common/keccakx2.h"

static uint64_t load64_le(const uint8_t *p) {
    uint64_t r = 0;
    for (unsigned int i = 0; i < 8; i++) {
        r |= (uint64_t)p[i] << (8 * i);
    }
    return r;
}

/* absorb seed || x0 || y0 (lane 0) and seed || x1 || y1 (lane 1), SHAKE padding, rate 168 */
static void shake128x2_absorb(v128_t A[25], const uint8_t seed[KYBER_SYMBYTES], uint8_t x0, uint8_t y0, uint8_t x1, uint8_t y1) {
    for (unsigned int i = 0; i < 25; i++) {
        A[i] = wasm_i64x2_splat(0);
    }
    for (unsigned int i = 0; i < KYBER_SYMBYTES / 8; i++) {
        A[i] = wasm_i64x2_splat((int64_t)load64_le(seed + 8 * i));
    }
    A[4] = wasm_i64x2_make((int64_t)(x0 | ((uint64_t)y0 << 8) | (0x1FULL << 16)),
                           (int64_t)(x1 | ((uint64_t)y1 << 8) | (0x1FULL << 16)));
    A[20] = wasm_i64x2_splat((int64_t)0x8000000000000000ULL);
}

static void shake128x2_squeezeblocks(uint8_t *out0, uint8_t *out1, unsigned int nblocks, v128_t A[25]) {
    while (nblocks--) {
        keccakx2_permute(A);
        for (unsigned int i = 0; i < XOF_BLOCKBYTES / 8; i++) {
            wasm_v128_store64_lane(out0 + 8 * i, A[i], 0);
            wasm_v128_store64_lane(out1 + 8 * i, A[i], 1);
        }
        out0 += XOF_BLOCKBYTES;
        out1 += XOF_BLOCKBYTES;
    }
}


/* Two PRF_eta calls at once: SHAKE256(key || n0) and SHAKE256(key || n1), 128 output bytes each
 * (one block at rate 136), then SamplePolyCBD_2 (eta1 = eta2 = 2 for ML-KEM-768/1024). */
static void getnoise_x2(poly *r0, poly *r1, const uint8_t key[KYBER_SYMBYTES], uint8_t n0, uint8_t n1) {
    uint8_t buf0[2 * KYBER_N / 4], buf1[2 * KYBER_N / 4];
    v128_t A[25];
    unsigned int i;
    for (i = 0; i < 25; i++) {
        A[i] = wasm_i64x2_splat(0);
    }
    for (i = 0; i < KYBER_SYMBYTES / 8; i++) {
        A[i] = wasm_i64x2_splat((int64_t)load64_le(key + 8 * i));
    }
    A[4] = wasm_i64x2_make((int64_t)(n0 | (0x1FULL << 8)), (int64_t)(n1 | (0x1FULL << 8)));
    A[16] = wasm_i64x2_splat((int64_t)0x8000000000000000ULL); /* last byte of the 136-byte rate */
    keccakx2_permute(A);
    for (i = 0; i < sizeof(buf0) / 8; i++) {
        wasm_v128_store64_lane(buf0 + 8 * i, A[i], 0);
        wasm_v128_store64_lane(buf1 + 8 * i, A[i], 1);
    }
    NS(poly_cbd_eta1)(r0, buf0);
    NS(poly_cbd_eta1)(r1, buf1);
}

#define GEN_MATRIX_NBLOCKS ((12 * KYBER_N / 8 * (1 << 12) / KYBER_Q + XOF_BLOCKBYTES) / XOF_BLOCKBYTES)

/* Entry (i,j) of A is sampled from SHAKE128(seed || j || i), of A^T from SHAKE128(seed || i || j). */
static void gen_entry(poly *r, const uint8_t seed[KYBER_SYMBYTES], unsigned int i, unsigned int j, int transposed) {
    uint8_t buf[GEN_MATRIX_NBLOCKS * XOF_BLOCKBYTES];
    xof_state state;
    unsigned int ctr;
    if (transposed) {
        xof_absorb(&state, seed, (uint8_t)i, (uint8_t)j);
    } else {
        xof_absorb(&state, seed, (uint8_t)j, (uint8_t)i);
    }
    xof_squeezeblocks(buf, GEN_MATRIX_NBLOCKS, &state);
    ctr = rej_uniform(r->coeffs, KYBER_N, buf, sizeof(buf));
    while (ctr < KYBER_N) {
        xof_squeezeblocks(buf, 1, &state);
        ctr += rej_uniform(r->coeffs + ctr, KYBER_N - ctr, buf, XOF_BLOCKBYTES);
    }
    xof_ctx_release(&state);
}

/* Entries (i,j) and (i,j+1) with one two-way permutation per block. */
static void gen_entry_x2(poly *r0, poly *r1, const uint8_t seed[KYBER_SYMBYTES], unsigned int i, unsigned int j, int transposed) {
    uint8_t buf0[GEN_MATRIX_NBLOCKS * XOF_BLOCKBYTES], buf1[GEN_MATRIX_NBLOCKS * XOF_BLOCKBYTES];
    v128_t A[25];
    unsigned int c0, c1;
    if (transposed) {
        shake128x2_absorb(A, seed, (uint8_t)i, (uint8_t)j, (uint8_t)i, (uint8_t)(j + 1));
    } else {
        shake128x2_absorb(A, seed, (uint8_t)j, (uint8_t)i, (uint8_t)(j + 1), (uint8_t)i);
    }
    shake128x2_squeezeblocks(buf0, buf1, GEN_MATRIX_NBLOCKS, A);
    c0 = rej_uniform(r0->coeffs, KYBER_N, buf0, sizeof(buf0));
    c1 = rej_uniform(r1->coeffs, KYBER_N, buf1, sizeof(buf1));
    while (c0 < KYBER_N || c1 < KYBER_N) {
        shake128x2_squeezeblocks(buf0, buf1, 1, A);
        c0 += rej_uniform(r0->coeffs + c0, KYBER_N - c0, buf0, XOF_BLOCKBYTES);
        c1 += rej_uniform(r1->coeffs + c1, KYBER_N - c1, buf1, XOF_BLOCKBYTES);
    }
}

/* Row i of A (transposed = 0) or of A^T (transposed = 1). */
static void gen_row(polyvec *row, const uint8_t seed[KYBER_SYMBYTES], unsigned int i, int transposed) {
    unsigned int j;
    for (j = 0; j + 1 < KYBER_K; j += 2) {
        gen_entry_x2(&row->vec[j], &row->vec[j + 1], seed, i, j, transposed);
    }
    if (j < KYBER_K) {
        gen_entry(&row->vec[j], seed, i, j, transposed);
    }
}

void NS(gen_matrix)(polyvec *a, const uint8_t seed[KYBER_SYMBYTES], int transposed) {
    for (unsigned int i = 0; i < KYBER_K; i++) {
        gen_row(&a[i], seed, i, transposed);
    }
}

void NS(indcpa_keypair_derand)(uint8_t pk[KYBER_INDCPA_PUBLICKEYBYTES],
                               uint8_t sk[KYBER_INDCPA_SECRETKEYBYTES],
                               const uint8_t coins[KYBER_SYMBYTES]) {
    unsigned int i;
    uint8_t buf[2 * KYBER_SYMBYTES];
    const uint8_t *publicseed = buf;
    const uint8_t *noiseseed = buf + KYBER_SYMBYTES;
    uint8_t nonce = 0;
    polyvec row, e, skpv, cache;
    poly t;

    memcpy(buf, coins, KYBER_SYMBYTES);
    buf[KYBER_SYMBYTES] = KYBER_K;
    hash_g(buf, buf, KYBER_SYMBYTES + 1);

    /* s_i uses nonce i, e_i uses nonce K + i */
    for (i = 0; i + 1 < KYBER_K; i += 2) {
        getnoise_x2(&skpv.vec[i], &skpv.vec[i + 1], noiseseed, (uint8_t)i, (uint8_t)(i + 1));
        getnoise_x2(&e.vec[i], &e.vec[i + 1], noiseseed, (uint8_t)(KYBER_K + i), (uint8_t)(KYBER_K + i + 1));
    }
    if (i < KYBER_K) {
        getnoise_x2(&skpv.vec[i], &e.vec[i], noiseseed, (uint8_t)i, (uint8_t)(KYBER_K + i));
    }
    (void)nonce;
    NS(polyvec_ntt)(&skpv);
    NS(polyvec_ntt)(&e);
    for (i = 0; i < KYBER_K; i++) {
        NS(poly_bcache)(cache.vec[i].coeffs, skpv.vec[i].coeffs);
    }

    NS(polyvec_tobytes)(sk, &skpv);

    /* t_i = reduce(tomont(A_i . s) + e_i), exactly the reference's sequence per coefficient */
    {
        const v128_t f = wasm_i16x8_splat(1353), fq = wasm_i16x8_splat((int16_t)(1353 * MLKEM_QINV));
        for (i = 0; i < KYBER_K; i++) {
            gen_row(&row, publicseed, i, 0);
            NS(polyvec_basemul_acc_cached)(t.coeffs, row.vec[0].coeffs, skpv.vec[0].coeffs, cache.vec[0].coeffs);
            for (unsigned int c = 0; c < KYBER_N; c += 8) {
                v128_t x = fqmul_v(LD(&t.coeffs[c]), f, fq);
                x = wasm_i16x8_add(x, LD(&e.vec[i].coeffs[c]));
                ST(&t.coeffs[c], barrett_v(x));
            }
            NS(poly_tobytes)(pk + i * KYBER_POLYBYTES, &t);
        }
    }
    memcpy(pk + KYBER_POLYVECBYTES, publicseed, KYBER_SYMBYTES);
}

void NS(indcpa_enc)(uint8_t c[KYBER_INDCPA_BYTES],
                    const uint8_t m[KYBER_INDCPA_MSGBYTES],
                    const uint8_t pk[KYBER_INDCPA_PUBLICKEYBYTES],
                    const uint8_t coins[KYBER_SYMBYTES]) {
    unsigned int i;
    const uint8_t *seed = pk + KYBER_POLYVECBYTES;
    uint8_t nonce = 0;
    polyvec sp, ep, b, row, cache;
    poly v, k, epp;

    /* r_i uses nonce i, e1_i nonce K + i, e2 nonce 2K (eta1 = eta2 = 2) */
    for (i = 0; i + 1 < KYBER_K; i += 2) {
        getnoise_x2(&sp.vec[i], &sp.vec[i + 1], coins, (uint8_t)i, (uint8_t)(i + 1));
        getnoise_x2(&ep.vec[i], &ep.vec[i + 1], coins, (uint8_t)(KYBER_K + i), (uint8_t)(KYBER_K + i + 1));
    }
    if (i < KYBER_K) {
        getnoise_x2(&sp.vec[i], &ep.vec[i], coins, (uint8_t)i, (uint8_t)(KYBER_K + i));
    }
    NS(poly_getnoise_eta2)(&epp, coins, (uint8_t)(2 * KYBER_K));
    (void)nonce;

    NS(polyvec_ntt)(&sp);
    for (i = 0; i < KYBER_K; i++) {
        NS(poly_bcache)(cache.vec[i].coeffs, sp.vec[i].coeffs);
    }

    for (i = 0; i < KYBER_K; i++) {
        gen_row(&row, seed, i, 1);
        NS(polyvec_basemul_acc_cached)(b.vec[i].coeffs, row.vec[0].coeffs, sp.vec[0].coeffs, cache.vec[0].coeffs);
    }
    /* row is free now: decode t-hat into it */
    NS(polyvec_frombytes)(&row, pk);
    NS(polyvec_basemul_acc_cached)(v.coeffs, row.vec[0].coeffs, sp.vec[0].coeffs, cache.vec[0].coeffs);

    NS(polyvec_invntt_tomont)(&b);
    NS(poly_invntt_tomont)(&v);

    NS(poly_frommsg)(&k, m);
    for (i = 0; i < KYBER_K; i++) {
        for (unsigned int j = 0; j < KYBER_N; j += 8) {
            ST(&b.vec[i].coeffs[j], barrett_v(wasm_i16x8_add(LD(&b.vec[i].coeffs[j]), LD(&ep.vec[i].coeffs[j]))));
        }
    }
    for (unsigned int j = 0; j < KYBER_N; j += 8) {
        v128_t x = wasm_i16x8_add(LD(&v.coeffs[j]), LD(&epp.coeffs[j]));
        x = wasm_i16x8_add(x, LD(&k.coeffs[j]));
        ST(&v.coeffs[j], barrett_v(x));
    }

    NS(polyvec_compress)(c, &b);
    NS(poly_compress)(c + KYBER_POLYVECCOMPRESSEDBYTES, &v);
}

void NS(indcpa_dec)(uint8_t m[KYBER_INDCPA_MSGBYTES],
                    const uint8_t c[KYBER_INDCPA_BYTES],
                    const uint8_t sk[KYBER_INDCPA_SECRETKEYBYTES]) {
    polyvec b, skpv, cache;
    poly v, mp;

    NS(polyvec_decompress)(&b, c);
    NS(poly_decompress)(&v, c + KYBER_POLYVECCOMPRESSEDBYTES);
    NS(polyvec_frombytes)(&skpv, sk);

    NS(polyvec_ntt)(&b);
    for (unsigned int i = 0; i < KYBER_K; i++) {
        NS(poly_bcache)(cache.vec[i].coeffs, b.vec[i].coeffs);
    }
    NS(polyvec_basemul_acc_cached)(mp.coeffs, skpv.vec[0].coeffs, b.vec[0].coeffs, cache.vec[0].coeffs);
    NS(poly_invntt_tomont)(&mp);

    for (unsigned int j = 0; j < KYBER_N; j += 8) {
        ST(&mp.coeffs[j], barrett_v(wasm_i16x8_sub(LD(&v.coeffs[j]), LD(&mp.coeffs[j]))));
    }
    NS(poly_tomsg)(m, &mp);
}
