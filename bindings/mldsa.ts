/** ML-DSA-87 and ML-DSA-65 (FIPS 204, pure signing with an optional context) from the wasm core. */
import { InvalidLengthError } from '../src/errors.js';
import type { CoreExports } from './loader.js';
import { frameSize, keyPairFromSeed, requireBytes, withFrame, withRandomBytes } from './memory.js';
import { check, STATUS_BAD_SIGNATURE, STATUS_OK } from './status.js';
import type { KeyPair } from './types.js';

const EMPTY = new Uint8Array(0);
/** FIPS 204 limits the context string to 255 bytes. */
export const MAX_CONTEXT_BYTES = 255;

/** One ML-DSA parameter set. */
export interface MlDsa {
  readonly name: string;
  readonly publicKeyBytes: number;
  readonly secretKeyBytes: number;
  readonly signatureBytes: number;
  /** xi */
  readonly seedBytes: 32;
  /** rnd */
  readonly randomnessBytes: 32;
  keygen(): KeyPair;
  /** Deterministic key generation from the 32-byte seed xi (FIPS 204 ML-DSA.KeyGen_internal). */
  keygenFromSeed(seed: Uint8Array): KeyPair;
  /** Hedged signature (fresh randomness) over `message` with `context` (at most 255 bytes). */
  sign(secretKey: Uint8Array, message: Uint8Array, context?: Uint8Array): Uint8Array;
  /** Signature with the given 32-byte rnd; all-zero rnd is FIPS 204's deterministic variant. */
  signWithRandomness(secretKey: Uint8Array, message: Uint8Array, context: Uint8Array, rnd: Uint8Array): Uint8Array;
  /** True only for a valid signature; false for any malformed or wrong signature. */
  verify(publicKey: Uint8Array, message: Uint8Array, signature: Uint8Array, context?: Uint8Array): boolean;
}

type SignExport = (sig: number, m: number, mlen: number, ctx: number, ctxlen: number, sk: number, rnd: number) => number;
type VerifyExport = (sig: number, siglen: number, m: number, mlen: number, ctx: number, ctxlen: number, pk: number) => number;

interface MlDsaExports {
  keypair(core: CoreExports): (pk: number, sk: number, seed: number) => number;
  sign(core: CoreExports): SignExport;
  verify(core: CoreExports): VerifyExport;
}

function requireContext(context: unknown): Uint8Array {
  const bytes = requireBytes('context', context);
  if (bytes.length > MAX_CONTEXT_BYTES) {
    throw new InvalidLengthError(`context must be at most ${MAX_CONTEXT_BYTES} bytes, got ${bytes.length}`);
  }
  return bytes;
}

function defineMlDsa(name: string, publicKeyBytes: number, secretKeyBytes: number, signatureBytes: number, exports: MlDsaExports): MlDsa {
  const seedBytes = 32;
  const randomnessBytes = 32;

  function keygenFromSeed(seed: Uint8Array): KeyPair {
    return keyPairFromSeed(name, seed, { seedBytes, publicKeyBytes, secretKeyBytes }, (core, pk, sk, seedPointer) => exports.keypair(core)(pk, sk, seedPointer));
  }

  function signWithRandomness(secretKey: Uint8Array, message: Uint8Array, context: Uint8Array, rnd: Uint8Array): Uint8Array {
    requireBytes('secretKey', secretKey, secretKeyBytes);
    requireBytes('message', message);
    requireContext(context);
    requireBytes('rnd', rnd, randomnessBytes);
    const size = frameSize(signatureBytes, message.length, context.length, secretKeyBytes, randomnessBytes);
    return withFrame(size, (frame) => {
      const sig = frame.reserve(signatureBytes);
      const m = frame.input(message);
      const ctx = frame.input(context);
      const sk = frame.input(secretKey);
      const rndPointer = frame.input(rnd);
      check(exports.sign(frame.core)(sig, m, message.length, ctx, context.length, sk, rndPointer), `${name} sign`);
      return frame.read(sig, signatureBytes);
    });
  }

  return {
    name,
    publicKeyBytes,
    secretKeyBytes,
    signatureBytes,
    seedBytes,
    randomnessBytes,
    keygen: () => withRandomBytes(seedBytes, keygenFromSeed),
    keygenFromSeed,
    sign: (secretKey: Uint8Array, message: Uint8Array, context: Uint8Array = EMPTY) =>
      withRandomBytes(randomnessBytes, (rnd) => signWithRandomness(secretKey, message, context, rnd)),
    signWithRandomness,
    verify(publicKey: Uint8Array, message: Uint8Array, signature: Uint8Array, context: Uint8Array = EMPTY): boolean {
      requireBytes('publicKey', publicKey, publicKeyBytes);
      requireBytes('message', message);
      requireBytes('signature', signature);
      requireContext(context);
      if (signature.length !== signatureBytes) return false;
      const size = frameSize(signatureBytes, message.length, context.length, publicKeyBytes);
      return withFrame(size, (frame) => {
        const sig = frame.input(signature);
        const m = frame.input(message);
        const ctx = frame.input(context);
        const pk = frame.input(publicKey);
        const status = exports.verify(frame.core)(sig, signatureBytes, m, message.length, ctx, context.length, pk);
        if (status === STATUS_OK) return true;
        if (status === STATUS_BAD_SIGNATURE) return false;
        check(status, `${name} verify`);
        return false;
      });
    },
  };
}

/** ML-DSA-87: public key 2592, secret key 4896, signature 4627 bytes. */
export const mldsa87: MlDsa = defineMlDsa('ML-DSA-87', 2592, 4896, 4627, {
  keypair: (core) => core.pqe2ee_mldsa87_keypair_seed,
  sign: (core) => core.pqe2ee_mldsa87_sign_rnd,
  verify: (core) => core.pqe2ee_mldsa87_verify,
});

/** ML-DSA-65 (inside the hybrid suite): public key 1952, secret key 4032, signature 3309 bytes. */
export const mldsa65: MlDsa = defineMlDsa('ML-DSA-65', 1952, 4032, 3309, {
  keypair: (core) => core.pqe2ee_mldsa65_keypair_seed,
  sign: (core) => core.pqe2ee_mldsa65_sign_rnd,
  verify: (core) => core.pqe2ee_mldsa65_verify,
});
