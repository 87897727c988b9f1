/* pqe2ee: SIMD128 replacement for PQClean's ML-KEM clean ntt.c (same symbols, same results).
 * Forward NTT: layers len=128..8 are whole-vector butterflies with a broadcast zeta; layers len=4
 * and len=2 work on 16 coefficients at a time after 64-bit / 32-bit lane shuffles. Every
 * intermediate value equals the value the reference computes (fqmul_v is bit-exact). */
#include "ntt.h"
#include "params.h"
#include "reduce.h"
#include "mlkem_simd.h"
#include <stdint.h>

#include "mlkem_tables.h"

const int16_t NS(zetas)[128] = {
    -1044,  -758,  -359, -1517,  1493,  1422,   287,   202,  -171,   622,  1577,   182,   962, -1202, -1474,  1468,
      573, -1325,   264,   383,  -829,  1458, -1602,  -130,  -681,  1017,   732,   608, -1542,   411,  -205, -1571,
     1223,   652,  -552,  1015, -1293,  1491,  -282, -1544,   516,    -8,  -320,  -666, -1618, -1162,   126,  1469,
     -853,   -90,  -271,   830,   107, -1421,  -247,  -951,  -398,   961, -1508,  -725,   448, -1065,   677, -1275,
    -1103,   430,   555,   843, -1251,   871,  1550,   105,   422,   587,   177,  -235,  -291,  -460,  1574,  1653,
     -246,   778,  1159,  -147,  -777,  1483,  -602,  1119, -1590,   644,  -872,   349,   418,   329,  -156,   -75,
      817,  1097,   603,   610,  1322, -1285, -1465,   384, -1215,  -136,  1218, -1335,  -874,   220, -1187, -1659,
    -1185, -1530, -1278,   794, -1510,  -854,  -870,   478,  -108,  -308,   996,   991,   958, -1460,  1522,  1628
};

#define LD(p) wasm_v128_load(p)
#define ST(p, v) wasm_v128_store(p, v)

static inline void ntt_core(int16_t r[256], int reduce) {
    unsigned int len, start, j, k = 1;

    /* len = 128 and 64 fused: 4 quarters of 64 coefficients. */
    {
        const v128_t z1 = wasm_i16x8_splat(zetas_tab[1]), z1q = wasm_i16x8_splat(zetas_qinv_tab[1]);
        const v128_t z2 = wasm_i16x8_splat(zetas_tab[2]), z2q = wasm_i16x8_splat(zetas_qinv_tab[2]);
        const v128_t z3 = wasm_i16x8_splat(zetas_tab[3]), z3q = wasm_i16x8_splat(zetas_qinv_tab[3]);
        for (j = 0; j < 64; j += 8) {
            v128_t a0 = LD(r + j), a1 = LD(r + j + 64), a2 = LD(r + j + 128), a3 = LD(r + j + 192), t;
            t = fqmul_v(a2, z1, z1q); a2 = wasm_i16x8_sub(a0, t); a0 = wasm_i16x8_add(a0, t);
            t = fqmul_v(a3, z1, z1q); a3 = wasm_i16x8_sub(a1, t); a1 = wasm_i16x8_add(a1, t);
            t = fqmul_v(a1, z2, z2q); a1 = wasm_i16x8_sub(a0, t); a0 = wasm_i16x8_add(a0, t);
            t = fqmul_v(a3, z3, z3q); a3 = wasm_i16x8_sub(a2, t); a2 = wasm_i16x8_add(a2, t);
            ST(r + j, a0); ST(r + j + 64, a1); ST(r + j + 128, a2); ST(r + j + 192, a3);
        }
        k = 4;
    }
    /* len = 32 and 16 fused per 64-coefficient block. */
    for (start = 0; start < 256; start += 64) {
        const v128_t za = wasm_i16x8_splat(zetas_tab[k]), zaq = wasm_i16x8_splat(zetas_qinv_tab[k]);
        const unsigned int k2 = 8 + 2 * (k - 4);
        const v128_t zb = wasm_i16x8_splat(zetas_tab[k2]), zbq = wasm_i16x8_splat(zetas_qinv_tab[k2]);
        const v128_t zc = wasm_i16x8_splat(zetas_tab[k2 + 1]), zcq = wasm_i16x8_splat(zetas_qinv_tab[k2 + 1]);
        k++;
        for (j = start; j < start + 16; j += 8) {
            v128_t a0 = LD(r + j), a1 = LD(r + j + 16), a2 = LD(r + j + 32), a3 = LD(r + j + 48), t;
            t = fqmul_v(a2, za, zaq); a2 = wasm_i16x8_sub(a0, t); a0 = wasm_i16x8_add(a0, t);
            t = fqmul_v(a3, za, zaq); a3 = wasm_i16x8_sub(a1, t); a1 = wasm_i16x8_add(a1, t);
            t = fqmul_v(a1, zb, zbq); a1 = wasm_i16x8_sub(a0, t); a0 = wasm_i16x8_add(a0, t);
            t = fqmul_v(a3, zc, zcq); a3 = wasm_i16x8_sub(a2, t); a2 = wasm_i16x8_add(a2, t);
            ST(r + j, a0); ST(r + j + 16, a1); ST(r + j + 32, a2); ST(r + j + 48, a3);
        }
    }
    /* len = 8, 4, 2 per 16-coefficient group g (zetas 16+g, 32+2g.., 64+4g..). */
    for (unsigned int g = 0; g < 16; g++) {
        int16_t *p = r + 16 * g;
        v128_t A = LD(p), B = LD(p + 8), t, X, Y, P, Q;
        t = fqmul_v(B, wasm_i16x8_splat(zetas_tab[16 + g]), wasm_i16x8_splat(zetas_qinv_tab[16 + g]));
        B = wasm_i16x8_sub(A, t); A = wasm_i16x8_add(A, t);
        /* len = 4: X = c0..3|c8..11, Y = c4..7|c12..15 */
        X = wasm_i64x2_shuffle(A, B, 0, 2);
        Y = wasm_i64x2_shuffle(A, B, 1, 3);
        t = fqmul_v(Y, LD(ntt_z4[g]), LD(ntt_z4_qinv[g]));
        Y = wasm_i16x8_sub(X, t); X = wasm_i16x8_add(X, t);
        /* len = 2: P = (c0,c1)(c4,c5)(c8,c9)(c12,c13), Q = (c2,c3)(c6,c7)(c10,c11)(c14,c15) */
        P = wasm_i32x4_shuffle(X, Y, 0, 4, 2, 6);
        Q = wasm_i32x4_shuffle(X, Y, 1, 5, 3, 7);
        t = fqmul_v(Q, LD(ntt_z2[g]), LD(ntt_z2_qinv[g]));
        Q = wasm_i16x8_sub(P, t); P = wasm_i16x8_add(P, t);
        if (reduce) {
            P = barrett_v(P);
            Q = barrett_v(Q);
        }
        ST(p, wasm_i32x4_shuffle(P, Q, 0, 4, 1, 5));
        ST(p + 8, wasm_i32x4_shuffle(P, Q, 2, 6, 3, 7));
    }
    (void)len;
}

void NS(ntt)(int16_t r[256]) {
    ntt_core(r, 0);
}

/* ntt followed by barrett reduction of every coefficient (= PQClean poly_ntt). */
void NS(ntt_reduce)(int16_t r[256]) {
    ntt_core(r, 1);
}

static inline void inv_bfly(v128_t *a, v128_t *b, v128_t z, v128_t zq) {
    v128_t t = *a;
    *a = barrett_v(wasm_i16x8_add(t, *b));
    *b = fqmul_v(wasm_i16x8_sub(*b, t), z, zq);
}

void NS(invntt)(int16_t r[256]) {
    unsigned int start, j, g, k;

    /* len = 2, 4, 8 per 16-coefficient group. */
    for (g = 0; g < 16; g++) {
        int16_t *p = r + 16 * g;
        v128_t A = LD(p), B = LD(p + 8), P, Q, X, Y;
        P = wasm_i32x4_shuffle(A, B, 0, 2, 4, 6);
        Q = wasm_i32x4_shuffle(A, B, 1, 3, 5, 7);
        inv_bfly(&P, &Q, LD(inv_z2[g]), LD(inv_z2_qinv[g]));
        X = wasm_i32x4_shuffle(P, Q, 0, 4, 2, 6);
        Y = wasm_i32x4_shuffle(P, Q, 1, 5, 3, 7);
        inv_bfly(&X, &Y, LD(inv_z4[g]), LD(inv_z4_qinv[g]));
        A = wasm_i64x2_shuffle(X, Y, 0, 2);
        B = wasm_i64x2_shuffle(X, Y, 1, 3);
        inv_bfly(&A, &B, wasm_i16x8_splat(zetas_tab[31 - g]), wasm_i16x8_splat(zetas_qinv_tab[31 - g]));
        ST(p, A);
        ST(p + 8, B);
    }
    /* len = 16 and 32 fused per 64-coefficient block (zetas 15-2b, 14-2b, then 7-b). */
    for (start = 0; start < 256; start += 64) {
        const unsigned int b = start / 64;
        const v128_t za = wasm_i16x8_splat(zetas_tab[15 - 2 * b]), zaq = wasm_i16x8_splat(zetas_qinv_tab[15 - 2 * b]);
        const v128_t zb = wasm_i16x8_splat(zetas_tab[14 - 2 * b]), zbq = wasm_i16x8_splat(zetas_qinv_tab[14 - 2 * b]);
        const v128_t zc = wasm_i16x8_splat(zetas_tab[7 - b]), zcq = wasm_i16x8_splat(zetas_qinv_tab[7 - b]);
        for (j = start; j < start + 16; j += 8) {
            v128_t a0 = LD(r + j), a1 = LD(r + j + 16), a2 = LD(r + j + 32), a3 = LD(r + j + 48);
            inv_bfly(&a0, &a1, za, zaq);
            inv_bfly(&a2, &a3, zb, zbq);
            inv_bfly(&a0, &a2, zc, zcq);
            inv_bfly(&a1, &a3, zc, zcq);
            ST(r + j, a0); ST(r + j + 16, a1); ST(r + j + 32, a2); ST(r + j + 48, a3);
        }
    }
    /* len = 64 and 128 fused, then the final multiplication by f = mont^2/128. */
    {
        const v128_t z3 = wasm_i16x8_splat(zetas_tab[3]), z3q = wasm_i16x8_splat(zetas_qinv_tab[3]);
        const v128_t z2 = wasm_i16x8_splat(zetas_tab[2]), z2q = wasm_i16x8_splat(zetas_qinv_tab[2]);
        const v128_t z1 = wasm_i16x8_splat(zetas_tab[1]), z1q = wasm_i16x8_splat(zetas_qinv_tab[1]);
        const v128_t f = wasm_i16x8_splat(1441), fq = wasm_i16x8_splat((int16_t)(1441 * MLKEM_QINV));
        for (j = 0; j < 64; j += 8) {
            v128_t a0 = LD(r + j), a1 = LD(r + j + 64), a2 = LD(r + j + 128), a3 = LD(r + j + 192);
            inv_bfly(&a0, &a1, z3, z3q);
            inv_bfly(&a2, &a3, z2, z2q);
            inv_bfly(&a0, &a2, z1, z1q);
            inv_bfly(&a1, &a3, z1, z1q);
            ST(r + j, fqmul_v(a0, f, fq));
            ST(r + j + 64, fqmul_v(a1, f, fq));
            ST(r + j + 128, fqmul_v(a2, f, fq));
            ST(r + j + 192, fqmul_v(a3, f, fq));
        }
    }
    (void)k;
}

void NS(basemul)(int16_t r[2], const int16_t a[2], const int16_t b[2], int16_t zeta) {
    int16_t t;
    t = NS(montgomery_reduce)((int32_t)a[1] * b[1]);
    t = NS(montgomery_reduce)((int32_t)t * zeta);
    r[0] = (int16_t)(t + NS(montgomery_reduce)((int32_t)a[0] * b[0]));
    r[1] = (int16_t)(NS(montgomery_reduce)((int32_t)a[0] * b[1]) + NS(montgomery_reduce)((int32_t)a[1] * b[0]));
}
