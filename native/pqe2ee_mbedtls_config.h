/*
 * Minimal mbed TLS configuration for the pqe2ee core: AES-256-GCM and SHA-256 only.
 * No platform entropy, no file system, no threading, no PSA: randomness comes from the host.
 */
#ifndef PQE2EE_MBEDTLS_CONFIG_H
#define PQE2EE_MBEDTLS_CONFIG_H

#define MBEDTLS_AES_C
#define MBEDTLS_GCM_C
#define MBEDTLS_SHA256_C

/*
 * Without MBEDTLS_CIPHER_C, GCM drives AES through the thin block-cipher layer instead of the
 * generic cipher layer: fewer indirections per 16-byte block.
 */

/* 8-bit GHASH tables (4 KiB per key, zeroised on free): about 1.5x faster GHASH than 4-bit. */
#define MBEDTLS_GCM_LARGE_TABLE

#define MBEDTLS_NO_PLATFORM_ENTROPY

#endif
