#ifndef PQE2EE_RANDOM_H
#define PQE2EE_RANDOM_H

#include <stddef.h>
#include <stdint.h>

/* Makes the next randombytes() call of exactly `length` bytes return `bytes` instead. */
void pqe2ee_random_queue(const uint8_t *bytes, size_t length);
void pqe2ee_random_clear(void);

#endif
