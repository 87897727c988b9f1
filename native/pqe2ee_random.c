/*
 * Randomness comes from the host (crypto.getRandomValues) through the single import
 * env.pqe2ee_host_random.
 *
 * PQClean's ML-DSA draws its key-generation seed and its signing randomness through
 * randombytes(); to offer keygen-from-seed and sign-with-given-randomness without patching
 * PQClean, a caller may queue exactly one fixed value that the next randombytes() call of the
 * same length consumes. The core is single-threaded, so the queue cannot be raced.
 */
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "pqe2ee_random.h"

__attribute__((import_module("env"), import_name("pqe2ee_host_random")))
extern void pqe2ee_host_random(uint8_t *buffer, size_t length);

static const uint8_t *queued_bytes = NULL;
static size_t queued_length = 0;

void pqe2ee_random_queue(const uint8_t *bytes, size_t length) {
    queued_bytes = bytes;
    queued_length = length;
}

void pqe2ee_random_clear(void) {
    queued_bytes = NULL;
    queued_length = 0;
}

int PQCLEAN_randombytes(uint8_t *output, size_t n) {
    if (queued_bytes != NULL && queued_length == n) {
        memcpy(output, queued_bytes, n);
        pqe2ee_random_clear();
        return 0;
    }
    pqe2ee_host_random(output, n);
    return 0;
}

/* libsodium's ref10 code references randombytes_buf() from functions we never export. */
void randombytes_buf(void *const buffer, const size_t size) {
    pqe2ee_host_random((uint8_t *)buffer, size);
}
