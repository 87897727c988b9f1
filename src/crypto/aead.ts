/**
 * The suites' AES-256-GCM: the wasm core for small payloads, the platform's AES-GCM (node:crypto,
 * hardware AES) for large ones when running in Node. Output is byte-identical either way (tested).
 *
 * Why a hand-off: table-based AES in wasm runs at tens of MB/s, while node:crypto uses AES-NI at
 * GB/s but pays a few microseconds of fixed cost per call; the benchmark (bench/) shows the wasm
 * core winning below PLATFORM_AEAD_THRESHOLD bytes and node:crypto above it. Browsers' WebCrypto
 * is async-only, so in browsers the wasm core handles every size.
 */
import { aes256gcm, DecryptionFailedError, type Aes256Gcm } from '../../bindings/index.js';
import { requireBytes } from '../../bindings/memory.js';
import { concatBytes } from './bytes.js';
import { nodeCrypto, type NodeCrypto } from './platform.js';
import type { Aead } from './suite.js';

/** Calls whose plaintext plus associated data reach this many bytes go to node:crypto when it is available. */
export const PLATFORM_AEAD_THRESHOLD = 128;

const EMPTY = new Uint8Array(0);

interface NodeBufferClass {
  allocUnsafeSlow(size: number): Uint8Array;
}
const nodeBuffer = (globalThis as { Buffer?: NodeBufferClass }).Buffer;

function platformEncrypt(platform: NodeCrypto, key: Uint8Array, nonce: Uint8Array, plaintext: Uint8Array, aad: Uint8Array): Uint8Array {
  const cipher = platform.createCipheriv('aes-256-gcm', key, nonce, { authTagLength: 16 });
  if (aad.length > 0) cipher.setAAD(aad);
  const body = cipher.update(plaintext);
  const tail = cipher.final();
  const tag = cipher.getAuthTag();
  const total = plaintext.length + 16;
  if (!nodeBuffer || body.length + tail.length + tag.length !== total) return concatBytes(body, tail, tag);
  // Unpooled and not zero-filled (every byte is written below): saves a page-faulting memset per MiB.
  const out = nodeBuffer.allocUnsafeSlow(total);
  out.set(body, 0);
  out.set(tail, body.length);
  out.set(tag, body.length + tail.length);
  return new Uint8Array(out.buffer, out.byteOffset, total);
}

/**
 * A plain Uint8Array over the bytes of a node Buffer, without copying when the Buffer owns its
 * whole ArrayBuffer (large outputs do); a pooled small Buffer is copied so that the caller's
 * `.buffer` never exposes other data sharing the pool.
 */
function asOwnedUint8Array(bytes: Uint8Array): Uint8Array {
  if (bytes.byteOffset === 0 && bytes.buffer.byteLength === bytes.byteLength) {
    return new Uint8Array(bytes.buffer, 0, bytes.byteLength);
  }
  return new Uint8Array(bytes);
}

function platformDecrypt(platform: NodeCrypto, key: Uint8Array, nonce: Uint8Array, input: Uint8Array, aad: Uint8Array): Uint8Array {
  const ciphertextLength = input.length - 16;
  const decipher = platform.createDecipheriv('aes-256-gcm', key, nonce, { authTagLength: 16 });
  decipher.setAuthTag(input.subarray(ciphertextLength));
  if (aad.length > 0) decipher.setAAD(aad);
  const body = decipher.update(input.subarray(0, ciphertextLength));
  try {
    const tail = decipher.final(); // empty for GCM: all plaintext came from update()
    return tail.length === 0 ? asOwnedUint8Array(body) : concatBytes(body, tail);
  } catch {
    body.fill(0); // unauthenticated plaintext never leaves
    throw new DecryptionFailedError();
  }
}

/** Creates the suite AEAD; `threshold` is exposed for tests and benchmarks. */
export function createSuiteAead(wasm: Aes256Gcm = aes256gcm, threshold = PLATFORM_AEAD_THRESHOLD): Aead {
  const platform = nodeCrypto;
  return {
    encrypt(key, nonce, plaintext, aad = EMPTY) {
      // GHASH runs over the associated data too: large AAD (protocol headers) favours the platform as well.
      if (platform && plaintext instanceof Uint8Array && plaintext.length + (aad instanceof Uint8Array ? aad.length : 0) >= threshold) {
        // Same argument checks as the core so errors do not depend on the path taken.
        requireBytes('key', key, 32);
        requireBytes('nonce', nonce, 12);
        requireBytes('plaintext', plaintext);
        requireBytes('aad', aad);
        return platformEncrypt(platform, key, nonce, plaintext, aad);
      }
      return wasm.encrypt(key, nonce, plaintext, aad);
    },
    decrypt(key, nonce, ciphertextAndTag, aad = EMPTY) {
      if (
        platform &&
        ciphertextAndTag instanceof Uint8Array &&
        ciphertextAndTag.length >= 16 &&
        ciphertextAndTag.length - 16 + (aad instanceof Uint8Array ? aad.length : 0) >= threshold
      ) {
        requireBytes('key', key, 32);
        requireBytes('nonce', nonce, 12);
        requireBytes('ciphertext', ciphertextAndTag);
        requireBytes('aad', aad);
        return platformDecrypt(platform, key, nonce, ciphertextAndTag, aad);
      }
      return wasm.decrypt(key, nonce, ciphertextAndTag, aad);
    },
  };
}

/** True when large payloads are handed to node:crypto in this environment. */
export const platformAeadAvailable: boolean = nodeCrypto !== undefined;
