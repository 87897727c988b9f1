/**
 * The symmetric chain that one-to-one ratchet chains and group sender chains share (DESIGN.md §4):
 * from chain key CK, message key = HKDF(HMAC(CK, 0x01), info "pqe2ee/v1/message-keys", 44 bytes)
 * split into an AES-256-GCM key (32) and nonce (12), and the next chain key = HMAC(CK, 0x02).
 * Each message key is used for exactly one message, so its nonce never repeats under its key.
 *
 * One module for both, so the two chains cannot drift apart: their bytes are fixed by the wire
 * (stored chain keys and messages of earlier versions must still decrypt).
 */
import type { CipherSuite } from '../crypto/index.js';
import { label } from './encoding.js';

const MESSAGE_KEYS_INFO = label('pqe2ee/v1/message-keys');
/** No salt: HKDF (RFC 5869) then uses 32 zero bytes, the salt DESIGN.md §4 writes. */
const NO_SALT = new Uint8Array(0);
const MESSAGE_KEY_SEED_INPUT = new Uint8Array([0x01]);
const CHAIN_KEY_INPUT = new Uint8Array([0x02]);
const AEAD_KEY_BYTES = 32;
/** AES-256-GCM key (32) ‖ nonce (12). */
export const MESSAGE_KEY_BYTES = 44;
/** Length of every chain key. */
export const CHAIN_KEY_BYTES = 32;

/** One step of the chain: the message key of this index and the next chain key (both fresh arrays). */
export function chainStep(suite: CipherSuite, chainKey: Uint8Array): { messageKey: Uint8Array; nextChainKey: Uint8Array } {
  const seed = suite.hmac(chainKey, MESSAGE_KEY_SEED_INPUT);
  const messageKey = suite.hkdf(seed, NO_SALT, MESSAGE_KEYS_INFO, MESSAGE_KEY_BYTES);
  seed.fill(0);
  return { messageKey, nextChainKey: suite.hmac(chainKey, CHAIN_KEY_INPUT) };
}

/** Message keys derived by {@link walkChain}, none of them stored anywhere yet. */
export interface ChainWalk {
  /** Keys of the indexes passed over, for messages that may still arrive. */
  skipped: Array<{ index: number; messageKey: Uint8Array }>;
  /** The key of the index walked to. */
  messageKey: Uint8Array;
  /** The chain key after that index. */
  nextChainKey: Uint8Array;
}

/**
 * Steps a chain that stands at `fromIndex` to `toIndex` (>= fromIndex). `chainKey` itself is left
 * alone (the caller replaces it only once a message authenticates); every intermediate chain key
 * is zeroed. Callers bound `toIndex - fromIndex` first: the walk costs two HMACs and an HKDF a key.
 */
export function walkChain(suite: CipherSuite, chainKey: Uint8Array, fromIndex: number, toIndex: number): ChainWalk {
  const skipped: ChainWalk['skipped'] = [];
  let key = chainKey;
  for (let index = fromIndex; index < toIndex; index++) {
    const step = chainStep(suite, key);
    if (key !== chainKey) key.fill(0);
    skipped.push({ index, messageKey: step.messageKey });
    key = step.nextChainKey;
  }
  const last = chainStep(suite, key);
  if (key !== chainKey) key.fill(0);
  return { skipped, messageKey: last.messageKey, nextChainKey: last.nextChainKey };
}

/** Zeroes everything a walk derived (the message was refused, nothing is committed). */
export function wipeWalk(walk: ChainWalk): void {
  for (const { messageKey } of walk.skipped) messageKey.fill(0);
  walk.messageKey.fill(0);
  walk.nextChainKey.fill(0);
}

/** AES-256-GCM under a message key (its first 32 bytes the key, the last 12 the nonce). */
export function sealWithMessageKey(suite: CipherSuite, messageKey: Uint8Array, plaintext: Uint8Array, associatedData: Uint8Array): Uint8Array {
  return suite.aead.encrypt(messageKey.subarray(0, AEAD_KEY_BYTES), messageKey.subarray(AEAD_KEY_BYTES, MESSAGE_KEY_BYTES), plaintext, associatedData);
}

/** Opens what {@link sealWithMessageKey} sealed; DecryptionFailedError if anything was changed. */
export function openWithMessageKey(suite: CipherSuite, messageKey: Uint8Array, ciphertext: Uint8Array, associatedData: Uint8Array): Uint8Array {
  return suite.aead.decrypt(messageKey.subarray(0, AEAD_KEY_BYTES), messageKey.subarray(AEAD_KEY_BYTES, MESSAGE_KEY_BYTES), ciphertext, associatedData);
}
