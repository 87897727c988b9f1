/**
 * pqe2ee: post-quantum end-to-end encryption for messaging apps.
 * This entry re-exports the crypto layer; protocol, client and server layers are added on top.
 */
export * from './crypto/index.js';
