/** ML-KEM-1024 and ML-KEM-768 (FIPS 203) from the wasm core. */
import type { CoreExports } from './loader.js';
import { frameSize, keyPairFromSeed, requireBytes, withFrame, withRandomBytes } from './memory.js';
import { check } from './status.js';
import type { Encapsulation, KeyPair } from './types.js';

/** One ML-KEM parameter set. */
export interface MlKem {
  readonly name: string;
  readonly publicKeyBytes: number;
  readonly secretKeyBytes: number;
  readonly ciphertextBytes: number;
  readonly sharedSecretBytes: 32;
  /** d ‖ z */
  readonly seedBytes: 64;
  /** m */
  readonly coinsBytes: 32;
  keygen(): KeyPair;
  /** Deterministic key generation from the 64-byte seed d ‖ z (FIPS 203 ML-KEM.KeyGen_internal). */
  keygenFromSeed(seed: Uint8Array): KeyPair;
  /** Encapsulates to a public key; throws InvalidKeyError if the key fails the FIPS 203 modulus check. */
  encaps(publicKey: Uint8Array): Encapsulation;
  /** Deterministic encapsulation with the 32-byte randomness m (for known-answer tests). */
  encapsWithCoins(publicKey: Uint8Array, coins: Uint8Array): Encapsulation;
  /** Decapsulates; a tampered ciphertext yields an unrelated secret (implicit rejection), never an error. */
  decaps(secretKey: Uint8Array, ciphertext: Uint8Array): Uint8Array;
}

interface MlKemExports {
  keypair(core: CoreExports): (pk: number, sk: number, seed: number) => number;
  encaps(core: CoreExports): (ct: number, ss: number, pk: number, coins: number) => number;
  decaps(core: CoreExports): (ss: number, ct: number, sk: number) => number;
}

function defineMlKem(name: string, publicKeyBytes: number, secretKeyBytes: number, ciphertextBytes: number, exports: MlKemExports): MlKem {
  const seedBytes = 64;
  const coinsBytes = 32;
  const sharedSecretBytes = 32;

  function keygenFromSeed(seed: Uint8Array): KeyPair {
    return keyPairFromSeed(name, seed, { seedBytes, publicKeyBytes, secretKeyBytes }, (core, pk, sk, seedPointer) => exports.keypair(core)(pk, sk, seedPointer));
  }

  function encapsWithCoins(publicKey: Uint8Array, coins: Uint8Array): Encapsulation {
    requireBytes('publicKey', publicKey, publicKeyBytes);
    requireBytes('coins', coins, coinsBytes);
    return withFrame(frameSize(ciphertextBytes, sharedSecretBytes, publicKeyBytes, coinsBytes), (frame) => {
      const ct = frame.reserve(ciphertextBytes);
      const ss = frame.reserve(sharedSecretBytes);
      const pk = frame.input(publicKey);
      const coinsPointer = frame.input(coins);
      check(exports.encaps(frame.core)(ct, ss, pk, coinsPointer), `${name} encaps`);
      return { ciphertext: frame.read(ct, ciphertextBytes), sharedSecret: frame.read(ss, sharedSecretBytes) };
    });
  }

  return {
    name,
    publicKeyBytes,
    secretKeyBytes,
    ciphertextBytes,
    sharedSecretBytes,
    seedBytes,
    coinsBytes,
    keygen: () => withRandomBytes(seedBytes, keygenFromSeed),
    keygenFromSeed,
    encaps: (publicKey: Uint8Array) => withRandomBytes(coinsBytes, (coins) => encapsWithCoins(publicKey, coins)),
    encapsWithCoins,
    decaps(secretKey: Uint8Array, ciphertext: Uint8Array): Uint8Array {
      requireBytes('secretKey', secretKey, secretKeyBytes);
      requireBytes('ciphertext', ciphertext, ciphertextBytes);
      return withFrame(frameSize(sharedSecretBytes, ciphertextBytes, secretKeyBytes), (frame) => {
        const ss = frame.reserve(sharedSecretBytes);
        const ct = frame.input(ciphertext);
        const sk = frame.input(secretKey);
        check(exports.decaps(frame.core)(ss, ct, sk), `${name} decaps`);
        return frame.read(ss, sharedSecretBytes);
      });
    },
  };
}

/** ML-KEM-1024: public key 1568, secret key 3168, ciphertext 1568, shared secret 32 bytes. */
export const mlkem1024: MlKem = defineMlKem('ML-KEM-1024', 1568, 3168, 1568, {
  keypair: (core) => core.pqe2ee_mlkem1024_keypair_seed,
  encaps: (core) => core.pqe2ee_mlkem1024_encaps_coins,
  decaps: (core) => core.pqe2ee_mlkem1024_decaps,
});

/** ML-KEM-768 (inside X-Wing): public key 1184, secret key 2400, ciphertext 1088, shared secret 32 bytes. */
export const mlkem768: MlKem = defineMlKem('ML-KEM-768', 1184, 2400, 1088, {
  keypair: (core) => core.pqe2ee_mlkem768_keypair_seed,
  encaps: (core) => core.pqe2ee_mlkem768_encaps_coins,
  decaps: (core) => core.pqe2ee_mlkem768_decaps,
});
