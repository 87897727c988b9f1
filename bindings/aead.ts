/** AES-256-GCM from the wasm core: 32-byte key, 12-byte nonce, 16-byte tag appended. */
import { InvalidLengthError } from '../src/errors.js';
import { frameSize, requireBytes, withFrame } from './memory.js';
import { check } from './status.js';

const EMPTY = new Uint8Array(0);
export const AES256GCM_KEY_BYTES = 32;
export const AES256GCM_NONCE_BYTES = 12;
export const AES256GCM_TAG_BYTES = 16;

/** AES-256-GCM. Never reuse a (key, nonce) pair: doing so reveals plaintext and the GHASH key. */
export interface Aes256Gcm {
  readonly keyBytes: 32;
  readonly nonceBytes: 12;
  readonly tagBytes: 16;
  /** Returns ciphertext ‖ tag (plaintext length + 16). */
  encrypt(key: Uint8Array, nonce: Uint8Array, plaintext: Uint8Array, aad?: Uint8Array): Uint8Array;
  /** Returns the plaintext; throws DecryptionFailedError if the tag does not verify. */
  decrypt(key: Uint8Array, nonce: Uint8Array, ciphertextAndTag: Uint8Array, aad?: Uint8Array): Uint8Array;
}

export const aes256gcm: Aes256Gcm = {
  keyBytes: 32,
  nonceBytes: 12,
  tagBytes: 16,
  encrypt(key: Uint8Array, nonce: Uint8Array, plaintext: Uint8Array, aad: Uint8Array = EMPTY): Uint8Array {
    requireBytes('key', key, AES256GCM_KEY_BYTES);
    requireBytes('nonce', nonce, AES256GCM_NONCE_BYTES);
    requireBytes('plaintext', plaintext);
    requireBytes('aad', aad);
    const outLength = plaintext.length + AES256GCM_TAG_BYTES;
    const size = frameSize(outLength, AES256GCM_KEY_BYTES, AES256GCM_NONCE_BYTES, aad.length, plaintext.length);
    return withFrame(size, (frame) => {
      const out = frame.reserve(outLength);
      const keyPointer = frame.input(key);
      const noncePointer = frame.input(nonce);
      const aadPointer = frame.input(aad);
      const input = frame.input(plaintext);
      check(frame.core.pqe2ee_aes256gcm_encrypt(out, keyPointer, noncePointer, aadPointer, aad.length, input, plaintext.length), 'AES-256-GCM encrypt');
      return frame.read(out, outLength);
    });
  },
  decrypt(key: Uint8Array, nonce: Uint8Array, ciphertextAndTag: Uint8Array, aad: Uint8Array = EMPTY): Uint8Array {
    requireBytes('key', key, AES256GCM_KEY_BYTES);
    requireBytes('nonce', nonce, AES256GCM_NONCE_BYTES);
    requireBytes('ciphertext', ciphertextAndTag);
    requireBytes('aad', aad);
    if (ciphertextAndTag.length < AES256GCM_TAG_BYTES) {
      throw new InvalidLengthError(`ciphertext must hold at least the ${AES256GCM_TAG_BYTES}-byte tag, got ${ciphertextAndTag.length} bytes`);
    }
    const outLength = ciphertextAndTag.length - AES256GCM_TAG_BYTES;
    const size = frameSize(outLength, AES256GCM_KEY_BYTES, AES256GCM_NONCE_BYTES, aad.length, ciphertextAndTag.length);
    return withFrame(size, (frame) => {
      const out = frame.reserve(outLength);
      const keyPointer = frame.input(key);
      const noncePointer = frame.input(nonce);
      const aadPointer = frame.input(aad);
      const input = frame.input(ciphertextAndTag);
      check(frame.core.pqe2ee_aes256gcm_decrypt(out, keyPointer, noncePointer, aadPointer, aad.length, input, ciphertextAndTag.length), 'AES-256-GCM decrypt');
      return frame.read(out, outLength);
    });
  },
};
