/** The three cipher suites (DESIGN.md §3) and lookup by id or name. */
import { ed25519, hkdfSha256, hmacSha256, mldsa87, mlkem1024, UnknownSuiteError, type MlDsa } from '../../bindings/index.js';
import { requireBytes } from '../../bindings/memory.js';
import { createSuiteAead } from './aead.js';
import { suiteSha256 } from './hash.js';
import { dhkemX25519, DHKEM_X25519_SEED_BYTES } from './dhkem-x25519.js';
import { HYBRID_SIG_PUBLIC_KEY_BYTES, HYBRID_SIG_SECRET_KEY_BYTES, HYBRID_SIG_SEED_BYTES, HYBRID_SIGNATURE_BYTES, hybridSignature } from './hybrid-signature.js';
import type { CipherSuite, SuiteId, Signer } from './suite.js';
import { XWING_CIPHERTEXT_BYTES, XWING_COINS_BYTES, XWING_PUBLIC_KEY_BYTES, XWING_SEED_BYTES, xwing } from './xwing.js';

const SYMMETRIC = { aeadKeyBytes: 32, aeadNonceBytes: 12, aeadTagBytes: 16, hashBytes: 32 } as const;
const aead = createSuiteAead();
const hashing = { hkdf: hkdfSha256, hmac: hmacSha256, hash: suiteSha256 };

/** ML-DSA with an empty context, as a suite signer. */
function mldsaSigner(scheme: MlDsa): Signer {
  const noContext = new Uint8Array(0);
  return {
    keygen: () => scheme.keygen(),
    keygenFromSeed: (seed) => scheme.keygenFromSeed(seed),
    sign: (secretKey, message) => scheme.sign(secretKey, message, noContext),
    signWithRandomness: (secretKey, message, randomness) => scheme.signWithRandomness(secretKey, message, noContext, randomness),
    verify: (publicKey, message, signature) => scheme.verify(publicKey, message, signature, noContext),
  };
}

/** Ed25519 as a suite signer: deterministic, so the randomness must be empty (sigRandomnessBytes 0). */
const ed25519Signer: Signer = {
  keygen: () => ed25519.keygen(),
  keygenFromSeed: (seed) => ed25519.keygenFromSeed(seed),
  sign: (secretKey, message) => ed25519.sign(secretKey, message),
  signWithRandomness: (secretKey, message, randomness) => {
    requireBytes('randomness', randomness, 0);
    return ed25519.sign(secretKey, message);
  },
  verify: (publicKey, message, signature) => ed25519.verify(publicKey, message, signature),
};

function freeze(suite: CipherSuite): CipherSuite {
  Object.freeze(suite.params);
  return Object.freeze(suite);
}

/** Suite 1 (default): ML-KEM-1024, ML-DSA-87, AES-256-GCM, SHA-256. */
export const PQ_SUITE: CipherSuite = freeze({
  params: {
    id: 1,
    name: 'PQ_MLDSA87_MLKEM1024_AES256GCM_SHA256',
    kemName: 'ML-KEM-1024',
    sigName: 'ML-DSA-87',
    kemPublicKeyBytes: mlkem1024.publicKeyBytes,
    kemSecretKeyBytes: mlkem1024.secretKeyBytes,
    kemCiphertextBytes: mlkem1024.ciphertextBytes,
    kemSeedBytes: mlkem1024.seedBytes,
    kemCoinsBytes: mlkem1024.coinsBytes,
    sharedSecretBytes: 32,
    sigPublicKeyBytes: mldsa87.publicKeyBytes,
    sigSecretKeyBytes: mldsa87.secretKeyBytes,
    signatureBytes: mldsa87.signatureBytes,
    sigSeedBytes: mldsa87.seedBytes,
    sigRandomnessBytes: mldsa87.randomnessBytes,
    ...SYMMETRIC,
  },
  kem: mlkem1024,
  sig: mldsaSigner(mldsa87),
  aead,
  ...hashing,
});

/** Suite 2: DHKEM(X25519, HKDF-SHA256), Ed25519, AES-256-GCM, SHA-256. Not post-quantum. */
export const CLASSIC_SUITE: CipherSuite = freeze({
  params: {
    id: 2,
    name: 'CLASSIC_ED25519_X25519_AES256GCM_SHA256',
    kemName: 'DHKEM(X25519, HKDF-SHA256)',
    sigName: 'Ed25519',
    kemPublicKeyBytes: 32,
    kemSecretKeyBytes: 32,
    kemCiphertextBytes: 32,
    kemSeedBytes: DHKEM_X25519_SEED_BYTES,
    kemCoinsBytes: DHKEM_X25519_SEED_BYTES,
    sharedSecretBytes: 32,
    sigPublicKeyBytes: ed25519.publicKeyBytes,
    sigSecretKeyBytes: ed25519.secretKeyBytes,
    signatureBytes: ed25519.signatureBytes,
    sigSeedBytes: ed25519.seedBytes,
    sigRandomnessBytes: 0,
    ...SYMMETRIC,
  },
  kem: dhkemX25519,
  sig: ed25519Signer,
  aead,
  ...hashing,
});

/** Suite 3: X-Wing (ML-KEM-768 + X25519), ML-DSA-65 + Ed25519, AES-256-GCM, SHA-256. */
export const HYBRID_SUITE: CipherSuite = freeze({
  params: {
    id: 3,
    name: 'HYBRID_MLDSA65ED25519_XWING_AES256GCM_SHA256',
    kemName: 'X-Wing',
    sigName: 'ML-DSA-65+Ed25519',
    kemPublicKeyBytes: XWING_PUBLIC_KEY_BYTES,
    kemSecretKeyBytes: XWING_SEED_BYTES,
    kemCiphertextBytes: XWING_CIPHERTEXT_BYTES,
    kemSeedBytes: XWING_SEED_BYTES,
    kemCoinsBytes: XWING_COINS_BYTES,
    sharedSecretBytes: 32,
    sigPublicKeyBytes: HYBRID_SIG_PUBLIC_KEY_BYTES,
    sigSecretKeyBytes: HYBRID_SIG_SECRET_KEY_BYTES,
    signatureBytes: HYBRID_SIGNATURE_BYTES,
    sigSeedBytes: HYBRID_SIG_SEED_BYTES,
    sigRandomnessBytes: 32,
    ...SYMMETRIC,
  },
  kem: xwing,
  sig: hybridSignature,
  aead,
  ...hashing,
});

const SUITES: readonly CipherSuite[] = [PQ_SUITE, CLASSIC_SUITE, HYBRID_SUITE];

/** The default suite id (post-quantum). */
export const DEFAULT_SUITE_ID: SuiteId = 1;

/** Every suite, in id order. */
export function listSuites(): CipherSuite[] {
  return [...SUITES];
}

/** The suite with this id (1, 2, 3) or name; throws UnknownSuiteError otherwise. */
export function getSuite(idOrName: number | string = DEFAULT_SUITE_ID): CipherSuite {
  const found = SUITES.find((suite) => suite.params.id === idOrName || suite.params.name === idOrName);
  if (!found) {
    const shown = typeof idOrName === 'string' ? JSON.stringify(idOrName.slice(0, 64)) : String(idOrName);
    throw new UnknownSuiteError(`unknown cipher suite ${shown}; known: ${SUITES.map((s) => `${s.params.id} ${s.params.name}`).join(', ')}`);
  }
  return found;
}
