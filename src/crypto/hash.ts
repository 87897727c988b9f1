/**
 * The suites' SHA-256: the wasm core for short inputs, node:crypto (SHA extensions) for long ones
 * when running in Node. Output is the same either way (tested against FIPS 180-4 vectors on both
 * paths). Why: the key agreement binds 4–6 KiB values (identities, KEM keys and ciphertexts), which
 * the wasm core hashes at about 300 MB/s and node:crypto at over 1.5 GB/s; below
 * PLATFORM_HASH_THRESHOLD bytes the fixed cost of the call into node:crypto wins no time.
 */
import { sha256 as wasmSha256 } from '../../bindings/index.js';
import { requireBytes } from '../../bindings/memory.js';
import { nodeCrypto, type PlatformSha256 } from './platform.js';

/** Inputs of at least this many bytes go to node:crypto when it is available. */
export const PLATFORM_HASH_THRESHOLD = 512;

function platformSha256(platform: PlatformSha256, message: Uint8Array): Uint8Array {
  const digest = platform.hash ? platform.hash('sha256', message, 'buffer') : platform.createHash('sha256').update(message).digest();
  // A copy as a plain Uint8Array: a pooled node Buffer's slice() would be a view, not a copy.
  return new Uint8Array(digest);
}

/** Creates the suite hash; `threshold` and `platform` are exposed for tests. */
export function createSuiteHash(platform: PlatformSha256 | undefined = nodeCrypto, threshold = PLATFORM_HASH_THRESHOLD): (message: Uint8Array) => Uint8Array {
  return (message) => {
    if (platform && message instanceof Uint8Array && message.length >= threshold) {
      requireBytes('message', message);
      return platformSha256(platform, message);
    }
    return wasmSha256(message);
  };
}

/** The suites' SHA-256. */
export const suiteSha256 = createSuiteHash();
