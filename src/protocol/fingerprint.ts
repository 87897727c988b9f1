/**
 * Safety numbers: 60 digits both sides compute from the two identities and compare out of band.
 * Each identity contributes 30 digits from 1024 iterations of SHA-256 (slowing down a search for a
 * colliding identity); the two halves are sorted so the order of the arguments does not matter.
 */
import { InvalidTypeError } from '../errors.js';
import { getSuite } from '../crypto/index.js';
import type { IdentityKeyPublic } from '../proto/gen/wire_pb.js';
import { identityBytes, label, lengthPrefixed, u32 } from './encoding.js';

const ITERATIONS = 1024;

function identityDigits(suiteId: number, identity: IdentityKeyPublic): string {
  const suite = getSuite(suiteId);
  const encoded = identityBytes(identity);
  let digest = suite.hash(lengthPrefixed(label('pqe2ee/v1/fingerprint'), u32(suiteId), encoded));
  for (let i = 1; i < ITERATIONS; i++) digest = suite.hash(lengthPrefixed(digest, encoded));
  let digits = '';
  for (let chunk = 0; chunk < 6; chunk++) {
    let value = 0;
    for (let i = 0; i < 5; i++) value = value * 256 + (digest[chunk * 5 + i] as number);
    digits += String(value % 100000).padStart(5, '0');
  }
  return digits;
}

/** The safety number of two identities (same for both argument orders): 12 groups of 5 digits. */
export function fingerprint(ours: IdentityKeyPublic, theirs: IdentityKeyPublic, suiteId = 1): string {
  for (const identity of [ours, theirs]) {
    if (!(identity?.signPublicKey instanceof Uint8Array) || !(identity.kemPublicKey instanceof Uint8Array)) {
      throw new InvalidTypeError('fingerprint needs two identities { signPublicKey, kemPublicKey }');
    }
  }
  const halves = [identityDigits(suiteId, ours), identityDigits(suiteId, theirs)].sort();
  return (halves.join('').match(/.{5}/g) ?? []).join(' ');
}
