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

/* Scrub depths (bytes); generous upper bounds of each family's stack use. */
#define PQE2EE_STACK_MLKEM (48 * 1024)
#define PQE2EE_STACK_MLDSA (160 * 1024)
#define PQE2EE_STACK_SMALL (4 * 1024)
#define PQE2EE_STACK_AEAD (8 * 1024) /* GCM context with 8-bit tables lives on the stack */
#define PQE2EE_STACK_CURVE (8 * 1024)

#endif
