/**
 * `pqe2ee/crypto`: the cipher suites and the primitives of the wasm core.
 * See docs/crypto-api.md.
 */
export * from '../../bindings/index.js';
export type { Aead, CipherSuite, Kem, Signer, SuiteId, SuiteParams } from './suite.js';
export { getSuite, listSuites, DEFAULT_SUITE_ID, PQ_SUITE, CLASSIC_SUITE, HYBRID_SUITE } from './suites.js';
export { PLATFORM_AEAD_THRESHOLD, platformAeadAvailable, createSuiteAead } from './aead.js';
export { PLATFORM_HASH_THRESHOLD, createSuiteHash } from './hash.js';
export type { PlatformSha256 } from './platform.js';
export { dhkemX25519 } from './dhkem-x25519.js';
export { xwing } from './xwing.js';
export { hybridSignature, HYBRID_SIGNATURE_CONTEXT } from './hybrid-signature.js';
