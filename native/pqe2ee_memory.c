#include <stdlib.h>
#include <string.h>

#include "pqe2ee_core.h"
#include "pqe2ee_memory.h"

/* A volatile function pointer keeps the compiler from proving the memset dead. */
static void *(*const volatile memset_volatile)(void *, int, size_t) = memset;

void pqe2ee_wipe(void *pointer, size_t length) {
    if (pointer != NULL && length > 0) {
        memset_volatile(pointer, 0, length);
    }
}

PQE2EE_NOINLINE void pqe2ee_scrub_stack(size_t depth) {
    if (depth == 0) {
        return;
    }
    /* A VLA is placed right below this frame, i.e. over the frames of the callee that just ran. */
    uint8_t region[depth];
    memset_volatile(region, 0, depth);
    __asm__ __volatile__("" : : "r"(region) : "memory");
}

void *pqe2ee_alloc(size_t length) {
    return malloc(length == 0 ? 1 : length);
}

void pqe2ee_free(void *pointer) {
    free(pointer);
}

int32_t pqe2ee_abi_version(void) {
    return 1;
}
