/**
 * Checks of the public keys a device registers or renews: exact sizes for its suite and valid
 * signatures. A key that passes here is stored and handed out to peers as it is, so a malformed one
 * must never get this far.
 */
import type { CipherSuite } from '../crypto/index.js';
import type { OneTimePreKeyPublic, SignedPreKeyPublic } from '../proto/gen/wire_pb.js';
import { signedPreKeyMessage } from '../wire/statements.js';

/** A signature check that answers false, never throws, for inputs of the wrong size. */
export function verifySignature(suite: CipherSuite, publicKey: Uint8Array, message: Uint8Array, signature: Uint8Array): boolean {
  if (publicKey.length !== suite.params.sigPublicKeyBytes || signature.length !== suite.params.signatureBytes) return false;
  try {
    return suite.sig.verify(publicKey, message, signature);
  } catch {
    return false;
  }
}

/** The reason given when a request has no signed pre-key. */
export const MISSING_SIGNED_PRE_KEY = 'signed_pre_key is missing';

/** The problem with a signed pre-key (sizes, signature by `signPublicKey`), or undefined. */
export function checkSignedPreKey(suite: CipherSuite, signPublicKey: Uint8Array, spk: SignedPreKeyPublic): string | undefined {
  const p = suite.params;
  if (spk.publicKey.length !== p.kemPublicKeyBytes) return `signed pre-key must be ${p.kemPublicKeyBytes} bytes for suite ${p.id}`;
  if (spk.signature.length !== p.signatureBytes) return `signed pre-key signature must be ${p.signatureBytes} bytes for suite ${p.id}`;
  if (!verifySignature(suite, signPublicKey, signedPreKeyMessage(p.id, spk.spkId, spk.publicKey), spk.signature)) return 'signed pre-key signature is invalid';
  return undefined;
}

/** The problem with a batch of one-time pre-keys (count, sizes, ids repeated within it), or undefined. */
export function checkOneTimePreKeys(suite: CipherSuite, opks: OneTimePreKeyPublic[], maxPerDevice: number): string | undefined {
  if (opks.length > maxPerDevice) return `more than ${maxPerDevice} one-time pre-keys`;
  const ids = new Set<number>();
  for (const opk of opks) {
    if (opk.publicKey.length !== suite.params.kemPublicKeyBytes)
      return `one-time pre-key ${opk.opkId} must be ${suite.params.kemPublicKeyBytes} bytes for suite ${suite.params.id}`;
    if (ids.has(opk.opkId)) return `one-time pre-key id ${opk.opkId} appears twice`;
    ids.add(opk.opkId);
  }
  return undefined;
}
