/* pqe2ee: SIMD128 replacement for PQClean's ML-KEM clean cbd.c (FIPS 203 SamplePolyCBD_2).
 * Each input byte gives two coefficients: (b0+b1)-(b2+b3) and (b4+b5)-(b6+b7). */
#include "cbd.h"
#include "params.h"
#include "mlkem_simd.h"
#include <stdint.h>

#if KYBER_ETA1 != 2 || KYBER_ETA2 != 2
#error "native/mlkem/cbd.c only implements eta = 2"
#endif

static void cbd2(poly *r, const uint8_t buf[2 * KYBER_N / 4]) {
    const v128_t m55 = wasm_i8x16_splat(0x55), m3 = wasm_i8x16_splat(3);
    for (unsigned int i = 0; i < 2 * KYBER_N / 4; i += 16) {
        v128_t x = wasm_v128_load(buf + i);
        /* per byte: d = 2-bit pair sums in fields 0..3 */
        v128_t d = wasm_i8x16_add(wasm_v128_and(x, m55), wasm_v128_and(wasm_u16x8_shr(x, 1), m55));
        v128_t ev = wasm_i8x16_sub(wasm_v128_and(d, m3), wasm_v128_and(wasm_u16x8_shr(d, 2), m3));
        v128_t od = wasm_i8x16_sub(wasm_v128_and(wasm_u16x8_shr(d, 4), m3), wasm_v128_and(wasm_u16x8_shr(d, 6), m3));
        v128_t lo = wasm_i8x16_shuffle(ev, od, 0, 16, 1, 17, 2, 18, 3, 19, 4, 20, 5, 21, 6, 22, 7, 23);
        v128_t hi = wasm_i8x16_shuffle(ev, od, 8, 24, 9, 25, 10, 26, 11, 27, 12, 28, 13, 29, 14, 30, 15, 31);
        int16_t *p = r->coeffs + 2 * i;
        wasm_v128_store(p, wasm_i16x8_extend_low_i8x16(lo));
        wasm_v128_store(p + 8, wasm_i16x8_extend_high_i8x16(lo));
        wasm_v128_store(p + 16, wasm_i16x8_extend_low_i8x16(hi));
        wasm_v128_store(p + 24, wasm_i16x8_extend_high_i8x16(hi));
    }
}

void NS(poly_cbd_eta1)(poly *r, const uint8_t buf[KYBER_ETA1 * KYBER_N / 4]) {
    cbd2(r, buf);
}

void NS(poly_cbd_eta2)(poly *r, const uint8_t buf[KYBER_ETA2 * KYBER_N / 4]) {
    cbd2(r, buf);
}
