/* Memory helpers shared by the core's translation units. */
#ifndef PQE2EE_MEMORY_H
#define PQE2EE_MEMORY_H

#include <stddef.h>
#include <stdint.h>

/* Zeroes memory in a way the optimiser may not remove. */
void pqe2ee_wipe(void *pointer, size_t length);

/*
 * Zeroes `depth` bytes of stack just below the caller's frame, where the callee that just returned
 * kept its locals. Each export calls its implementation through a non-inlined function and then
 * scrubs the depth that implementation is known to use (measured per primitive, rounded up).
 */
void pqe2ee_scrub_stack(size_t depth);

#define PQE2EE_NOINLINE __attribute__((noinline))

/*
 * Scrub depths (bytes): each family's stack use measured on a build with -DPQE2EE_STACK_SCALE=0
 * (ML-KEM-1024 decaps 14.6 KiB, ML-DSA-87 sign 120.7 KiB, AES-GCM 0.6 KiB, HKDF 0.7 KiB,
 * Ed25519 sign 1.4 KiB), rounded up. test/scrub.test.ts fails if any export leaves stack behind.
 */
#ifndef PQE2EE_STACK_SCALE
#define PQE2EE_STACK_SCALE 1
#endif
#define PQE2EE_STACK_MLKEM (PQE2EE_STACK_SCALE * 20 * 1024)
#define PQE2EE_STACK_MLDSA (PQE2EE_STACK_SCALE * 128 * 1024)
#define PQE2EE_STACK_SMALL (PQE2EE_STACK_SCALE * 1 * 1024)
#define PQE2EE_STACK_AEAD (PQE2EE_STACK_SCALE * 1 * 1024)
#define PQE2EE_STACK_CURVE (PQE2EE_STACK_SCALE * 2 * 1024)

#endif
