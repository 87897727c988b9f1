/*
 * Two Keccak-f[1600] states in wasm SIMD128 lanes (lane 0 = first instance, lane 1 = second),
 * used to run two independent SHAKE streams at once (ML-DSA ExpandA and y sampling, ML-KEM
 * SampleNTT of the public matrix). Written for pqe2ee from
 * FIPS 202; results equal two separate scalar permutations.
 */
#ifndef PQE2EE_KECCAKX2_H
#define PQE2EE_KECCAKX2_H

#include <stdint.h>
#include <string.h>
#include <wasm_simd128.h>

#define KX2_ROL(v, n) wasm_v128_or(wasm_i64x2_shl((v), (n)), wasm_u64x2_shr((v), 64 - (n)))
#define KX2_CHI(b0, b1, b2) wasm_v128_xor((b0), wasm_v128_andnot((b2), (b1)))

#define KX2_ROUND(X, Y, rc) \
    do { \
        v128_t Ca = wasm_v128_xor(wasm_v128_xor(wasm_v128_xor(X##ba, X##ga), wasm_v128_xor(X##ka, X##ma)), X##sa); \
        v128_t Ce = wasm_v128_xor(wasm_v128_xor(wasm_v128_xor(X##be, X##ge), wasm_v128_xor(X##ke, X##me)), X##se); \
        v128_t Ci = wasm_v128_xor(wasm_v128_xor(wasm_v128_xor(X##bi, X##gi), wasm_v128_xor(X##ki, X##mi)), X##si); \
        v128_t Co = wasm_v128_xor(wasm_v128_xor(wasm_v128_xor(X##bo, X##go), wasm_v128_xor(X##ko, X##mo)), X##so); \
        v128_t Cu = wasm_v128_xor(wasm_v128_xor(wasm_v128_xor(X##bu, X##gu), wasm_v128_xor(X##ku, X##mu)), X##su); \
        v128_t Da = wasm_v128_xor(Cu, KX2_ROL(Ce, 1)); \
        v128_t De = wasm_v128_xor(Ca, KX2_ROL(Ci, 1)); \
        v128_t Di = wasm_v128_xor(Ce, KX2_ROL(Co, 1)); \
        v128_t Do = wasm_v128_xor(Ci, KX2_ROL(Cu, 1)); \
        v128_t Du = wasm_v128_xor(Co, KX2_ROL(Ca, 1)); \
        v128_t B0, B1, B2, B3, B4; \
        B0 = wasm_v128_xor(X##ba, Da); \
        B1 = KX2_ROL(wasm_v128_xor(X##ge, De), 44); \
        B2 = KX2_ROL(wasm_v128_xor(X##ki, Di), 43); \
        B3 = KX2_ROL(wasm_v128_xor(X##mo, Do), 21); \
        B4 = KX2_ROL(wasm_v128_xor(X##su, Du), 14); \
        Y##ba = wasm_v128_xor(KX2_CHI(B0, B1, B2), wasm_i64x2_splat((int64_t)(rc))); \
        Y##be = KX2_CHI(B1, B2, B3); \
        Y##bi = KX2_CHI(B2, B3, B4); \
        Y##bo = KX2_CHI(B3, B4, B0); \
        Y##bu = KX2_CHI(B4, B0, B1); \
        B0 = KX2_ROL(wasm_v128_xor(X##bo, Do), 28); \
        B1 = KX2_ROL(wasm_v128_xor(X##gu, Du), 20); \
        B2 = KX2_ROL(wasm_v128_xor(X##ka, Da), 3); \
        B3 = KX2_ROL(wasm_v128_xor(X##me, De), 45); \
        B4 = KX2_ROL(wasm_v128_xor(X##si, Di), 61); \
        Y##ga = KX2_CHI(B0, B1, B2); \
        Y##ge = KX2_CHI(B1, B2, B3); \
        Y##gi = KX2_CHI(B2, B3, B4); \
        Y##go = KX2_CHI(B3, B4, B0); \
        Y##gu = KX2_CHI(B4, B0, B1); \
        B0 = KX2_ROL(wasm_v128_xor(X##be, De), 1); \
        B1 = KX2_ROL(wasm_v128_xor(X##gi, Di), 6); \
        B2 = KX2_ROL(wasm_v128_xor(X##ko, Do), 25); \
        B3 = KX2_ROL(wasm_v128_xor(X##mu, Du), 8); \
        B4 = KX2_ROL(wasm_v128_xor(X##sa, Da), 18); \
        Y##ka = KX2_CHI(B0, B1, B2); \
        Y##ke = KX2_CHI(B1, B2, B3); \
        Y##ki = KX2_CHI(B2, B3, B4); \
        Y##ko = KX2_CHI(B3, B4, B0); \
        Y##ku = KX2_CHI(B4, B0, B1); \
        B0 = KX2_ROL(wasm_v128_xor(X##bu, Du), 27); \
        B1 = KX2_ROL(wasm_v128_xor(X##ga, Da), 36); \
        B2 = KX2_ROL(wasm_v128_xor(X##ke, De), 10); \
        B3 = KX2_ROL(wasm_v128_xor(X##mi, Di), 15); \
        B4 = KX2_ROL(wasm_v128_xor(X##so, Do), 56); \
        Y##ma = KX2_CHI(B0, B1, B2); \
        Y##me = KX2_CHI(B1, B2, B3); \
        Y##mi = KX2_CHI(B2, B3, B4); \
        Y##mo = KX2_CHI(B3, B4, B0); \
        Y##mu = KX2_CHI(B4, B0, B1); \
        B0 = KX2_ROL(wasm_v128_xor(X##bi, Di), 62); \
        B1 = KX2_ROL(wasm_v128_xor(X##go, Do), 55); \
        B2 = KX2_ROL(wasm_v128_xor(X##ku, Du), 39); \
        B3 = KX2_ROL(wasm_v128_xor(X##ma, Da), 41); \
        B4 = KX2_ROL(wasm_v128_xor(X##se, De), 2); \
        Y##sa = KX2_CHI(B0, B1, B2); \
        Y##se = KX2_CHI(B1, B2, B3); \
        Y##si = KX2_CHI(B2, B3, B4); \
        Y##so = KX2_CHI(B3, B4, B0); \
        Y##su = KX2_CHI(B4, B0, B1); \
    } while (0)

static const uint64_t keccakx2_rc[24] = {
    0x0000000000000001ULL, 0x0000000000008082ULL, 0x800000000000808aULL, 0x8000000080008000ULL,
    0x000000000000808bULL, 0x0000000080000001ULL, 0x8000000080008081ULL, 0x8000000000008009ULL,
    0x000000000000008aULL, 0x0000000000000088ULL, 0x0000000080008009ULL, 0x000000008000000aULL,
    0x000000008000808bULL, 0x800000000000008bULL, 0x8000000000008089ULL, 0x8000000000008003ULL,
    0x8000000000008002ULL, 0x8000000000000080ULL, 0x000000000000800aULL, 0x800000008000000aULL,
    0x8000000080008081ULL, 0x8000000000008080ULL, 0x0000000080000001ULL, 0x8000000080008008ULL
};

static void keccakx2_permute(v128_t s[25]) {
    v128_t Aba = s[0], Abe = s[1], Abi = s[2], Abo = s[3], Abu = s[4];
    v128_t Aga = s[5], Age = s[6], Agi = s[7], Ago = s[8], Agu = s[9];
    v128_t Aka = s[10], Ake = s[11], Aki = s[12], Ako = s[13], Aku = s[14];
    v128_t Ama = s[15], Ame = s[16], Ami = s[17], Amo = s[18], Amu = s[19];
    v128_t Asa = s[20], Ase = s[21], Asi = s[22], Aso = s[23], Asu = s[24];
    v128_t Eba, Ebe, Ebi, Ebo, Ebu, Ega, Ege, Egi, Ego, Egu, Eka, Eke, Eki, Eko, Eku;
    v128_t Ema, Eme, Emi, Emo, Emu, Esa, Ese, Esi, Eso, Esu;

    for (int round = 0; round < 24; round += 2) {
        KX2_ROUND(A, E, keccakx2_rc[round]);
        KX2_ROUND(E, A, keccakx2_rc[round + 1]);
    }

    s[0] = Aba; s[1] = Abe; s[2] = Abi; s[3] = Abo; s[4] = Abu;
    s[5] = Aga; s[6] = Age; s[7] = Agi; s[8] = Ago; s[9] = Agu;
    s[10] = Aka; s[11] = Ake; s[12] = Aki; s[13] = Ako; s[14] = Aku;
    s[15] = Ama; s[16] = Ame; s[17] = Ami; s[18] = Amo; s[19] = Amu;
    s[20] = Asa; s[21] = Ase; s[22] = Asi; s[23] = Aso; s[24] = Asu;
}

/* Copies the first `lanes` lanes (8 bytes each) of both instances to out0 / out1. */
static inline void keccakx2_extract(uint8_t *out0, uint8_t *out1, const v128_t s[25], unsigned int lanes) {
    unsigned int i = 0;
    for (; i + 2 <= lanes; i += 2) {
        wasm_v128_store(out0 + 8 * i, wasm_i64x2_shuffle(s[i], s[i + 1], 0, 2));
        wasm_v128_store(out1 + 8 * i, wasm_i64x2_shuffle(s[i], s[i + 1], 1, 3));
    }
    if (i < lanes) {
        wasm_v128_store64_lane(out0 + 8 * i, s[i], 0);
        wasm_v128_store64_lane(out1 + 8 * i, s[i], 1);
    }
}

#endif
