/**
 * Secrets must not outlive a call in wasm memory: every export that touches secret material scrubs
 * the stack it used, and the bindings zero their scratch frame. These tests zero the stack region
 * first, run one operation, and require the region to be zero again afterwards — so they fail if
 * a scrub depth in native/pqe2ee_memory.h is smaller than what the code really uses.
 */
import { describe, expect, it } from 'vitest';
import { getCore } from '../bindings/loader.js';
import { aes256gcm, ed25519, hkdfSha256, hmacSha256, mldsa65, mldsa87, mlkem1024, mlkem768, randomBytes, sha3_256, shake256, x25519 } from '../src/crypto/index.js';

/** Deep enough for the largest measured use (ML-DSA-87 signing, ~120 KiB) with margin. */
const REGION = 200 * 1024;

function leftoverAfter(operation: () => unknown): number {
  const core = getCore();
  const stackPointer = core.stackSave();
  new Uint8Array(core.memory.buffer).fill(0, stackPointer - REGION, stackPointer);
  operation();
  const heap = new Uint8Array(core.memory.buffer, stackPointer - REGION, REGION);
  let nonZero = 0;
  for (const byte of heap) if (byte !== 0) nonZero++;
  return nonZero;
}

describe('stack scrubbing', () => {
  const kem = mlkem1024.keygen();
  const kem768 = mlkem768.keygen();
  const encapsulated = mlkem1024.encaps(kem.publicKey);
  const dsa = mldsa87.keygen();
  const dsa65 = mldsa65.keygen();
  const ed = ed25519.keygen();
  const dh = x25519.keygen();
  const key = randomBytes(32);
  const nonce = randomBytes(12);
  const message = randomBytes(1000);

  const cases: Array<[string, () => unknown]> = [
    ['ML-KEM-1024 keygen', () => mlkem1024.keygen()],
    ['ML-KEM-1024 encaps', () => mlkem1024.encaps(kem.publicKey)],
    ['ML-KEM-1024 decaps', () => mlkem1024.decaps(kem.secretKey, encapsulated.ciphertext)],
    ['ML-KEM-768 decaps', () => mlkem768.decaps(kem768.secretKey, mlkem768.encaps(kem768.publicKey).ciphertext)],
    ['ML-DSA-87 keygen', () => mldsa87.keygen()],
    ['ML-DSA-87 sign', () => mldsa87.sign(dsa.secretKey, message)],
    ['ML-DSA-65 sign', () => mldsa65.sign(dsa65.secretKey, message)],
    ['AES-256-GCM encrypt', () => aes256gcm.encrypt(key, nonce, message)],
    ['AES-256-GCM decrypt', () => aes256gcm.decrypt(key, nonce, aes256gcm.encrypt(key, nonce, message))],
    ['HKDF-SHA256', () => hkdfSha256(key, nonce, message, 64)],
    ['HMAC-SHA256', () => hmacSha256(key, message)],
    ['SHA3-256', () => sha3_256(key)],
    ['SHAKE256', () => shake256(key, 96)],
    ['X25519', () => x25519.sharedSecret(dh.secretKey, x25519.keygen().publicKey)],
    ['Ed25519 keygen', () => ed25519.keygen()],
    ['Ed25519 sign', () => ed25519.sign(ed.secretKey, message)],
  ];

  for (const [name, operation] of cases) {
    it(`${name} leaves no bytes on the stack`, () => {
      expect(leftoverAfter(operation)).toBe(0);
    });
  }

  it('the check detects leftovers (a public-input verify is not scrubbed)', () => {
    const signature = mldsa87.sign(dsa.secretKey, message);
    expect(leftoverAfter(() => mldsa87.verify(dsa.publicKey, message, signature))).toBeGreaterThan(0);
  });
});

describe('static state', () => {
  it('AES-256-GCM leaves no copy of its key (schedule starts with the key) anywhere in wasm memory', () => {
    const core = getCore();
    const key = randomBytes(32);
    const sealed = aes256gcm.encrypt(key, randomBytes(12), randomBytes(100));
    expect(sealed.length).toBe(116);
    const heap = Buffer.from(new Uint8Array(core.memory.buffer));
    expect(heap.indexOf(Buffer.from(key.subarray(0, 16)))).toBe(-1);
    expect(heap.indexOf(Buffer.from(key.subarray(16, 32)))).toBe(-1);
  });
});

describe('scratch frames', () => {
  it('are zeroed after each call, also when the call throws', () => {
    const core = getCore();
    const secretKey = mlkem1024.keygen().secretKey;
    const pattern = secretKey.subarray(100, 132);
    mlkem1024.decaps(secretKey, new Uint8Array(mlkem1024.ciphertextBytes));
    expect(() => aes256gcm.decrypt(randomBytes(32), randomBytes(12), randomBytes(64))).toThrow();
    const heap = new Uint8Array(core.memory.buffer);
    const hex = Buffer.from(pattern).toString('hex');
    expect(Buffer.from(heap).toString('hex').includes(hex)).toBe(false);
  });
});
