/*
 * Minimal mbed TLS configuration for the pqe2ee core: AES-256-GCM and SHA-256 only.
 * No platform entropy, no file system, no threading, no PSA: randomness comes from the host.
 */
#ifndef PQE2EE_MBEDTLS_CONFIG_H
#define PQE2EE_MBEDTLS_CONFIG_H

#define MBEDTLS_AES_C
#define MBEDTLS_CIPHER_C
#define MBEDTLS_GCM_C
#define MBEDTLS_SHA256_C

#define MBEDTLS_NO_PLATFORM_ENTROPY

#endif
