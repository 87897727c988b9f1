/** SHA-256, SHA3-256, SHAKE256, HMAC-SHA256 and HKDF-SHA256 from the wasm core. */
import { frameSize, requireBytes, requireInteger, withFrame } from './memory.js';
import { check } from './status.js';

const DIGEST_BYTES = 32;
/** RFC 5869: at most 255 blocks of output. */
export const HKDF_SHA256_MAX_LENGTH = 255 * DIGEST_BYTES;
const MAX_SHAKE_OUTPUT = 1 << 20;

/** SHA-256 (FIPS 180-4). */
export function sha256(message: Uint8Array): Uint8Array {
  requireBytes('message', message);
  return withFrame(frameSize(DIGEST_BYTES, message.length), (frame) => {
    const out = frame.reserve(DIGEST_BYTES);
    const m = frame.input(message);
    check(frame.core.pqe2ee_sha256(out, m, message.length), 'SHA-256');
    return frame.read(out, DIGEST_BYTES);
  });
}

/** SHA3-256 (FIPS 202). */
export function sha3_256(message: Uint8Array): Uint8Array {
  requireBytes('message', message);
  return withFrame(frameSize(DIGEST_BYTES, message.length), (frame) => {
    const out = frame.reserve(DIGEST_BYTES);
    const m = frame.input(message);
    check(frame.core.pqe2ee_sha3_256(out, m, message.length), 'SHA3-256');
    return frame.read(out, DIGEST_BYTES);
  });
}

/** SHAKE256 (FIPS 202) with `length` bytes of output (1..2^20). */
export function shake256(message: Uint8Array, length: number): Uint8Array {
  requireBytes('message', message);
  requireInteger('length', length, 1, MAX_SHAKE_OUTPUT);
  return withFrame(frameSize(length, message.length), (frame) => {
    const out = frame.reserve(length);
    const m = frame.input(message);
    check(frame.core.pqe2ee_shake256(out, length, m, message.length), 'SHAKE256');
    return frame.read(out, length);
  });
}

/** HMAC-SHA256 (RFC 2104); any key length. */
export function hmacSha256(key: Uint8Array, message: Uint8Array): Uint8Array {
  requireBytes('key', key);
  requireBytes('message', message);
  return withFrame(frameSize(DIGEST_BYTES, key.length, message.length), (frame) => {
    const out = frame.reserve(DIGEST_BYTES);
    const k = frame.input(key);
    const m = frame.input(message);
    check(frame.core.pqe2ee_hmac_sha256(out, k, key.length, m, message.length), 'HMAC-SHA256');
    return frame.read(out, DIGEST_BYTES);
  });
}

/** HKDF-SHA256 (RFC 5869) extract-then-expand; an empty salt means 32 zero bytes. */
export function hkdfSha256(ikm: Uint8Array, salt: Uint8Array, info: Uint8Array, length: number): Uint8Array {
  requireBytes('ikm', ikm);
  requireBytes('salt', salt);
  requireBytes('info', info);
  requireInteger('length', length, 1, HKDF_SHA256_MAX_LENGTH);
  return withFrame(frameSize(length, ikm.length, salt.length, info.length), (frame) => {
    const out = frame.reserve(length);
    const ikmPointer = frame.input(ikm);
    const saltPointer = frame.input(salt);
    const infoPointer = frame.input(info);
    check(frame.core.pqe2ee_hkdf_sha256(out, length, ikmPointer, ikm.length, saltPointer, salt.length, infoPointer, info.length), 'HKDF-SHA256');
    return frame.read(out, length);
  });
}
