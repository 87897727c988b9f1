/** Typed wrappers of the wasm core's exports: marshalling, length checks, zeroisation, errors. */
export * from '../src/errors.js';
export { ready, coreWasmBytes, coreWasmSha256, type ReadyOptions } from './loader.js';
export { randomBytes, coreMemoryBytes, MAX_INPUT_BYTES } from './memory.js';
export type { KeyPair, Encapsulation } from './types.js';
export { mlkem1024, mlkem768, type MlKem } from './mlkem.js';
export { mldsa87, mldsa65, MAX_CONTEXT_BYTES, type MlDsa } from './mldsa.js';
export { aes256gcm, type Aes256Gcm } from './aead.js';
export { sha256, sha3_256, shake256, hmacSha256, hkdfSha256, HKDF_SHA256_MAX_LENGTH } from './hash.js';
export { x25519, ed25519, type X25519, type Ed25519 } from './curve25519.js';
