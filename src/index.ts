/**
 * pqe2ee: post-quantum end-to-end encryption for messaging apps.
 * The crypto layer (also at `pqe2ee/crypto`) and the protocol layer (accounts, sessions).
 */
export * from './crypto/index.js';
export * from './protocol/index.js';
export * from './client/index.js';
export * from './transport/index.js';
export * from './store/index.js';
