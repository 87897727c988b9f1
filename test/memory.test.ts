// Memory-flat test: a long run of mixed operations (including failing calls that throw) must not grow
// the wasm core's memory once warmed up. Results are spot-checked against node:crypto so that the
// operations are known to really run.
import { createCipheriv, createHash, createHmac, hkdfSync } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import {
  aes256gcm,
  coreMemoryBytes,
  DecryptionFailedError,
  ed25519,
  getSuite,
  hkdfSha256,
  hmacSha256,
  InvalidKeyError,
  InvalidLengthError,
  mldsa65,
  mldsa87,
  mlkem1024,
  mlkem768,
  Pqe2eeError,
  sha256,
  x25519,
} from '../src/crypto/index.js';
import { Drbg, equalBytes, hex } from './support/index.js';

const TOTAL = 100_000;
const HEAVY_EVERY = 500; // → 200 heavy (PQ / curve) operations
const FAIL_EVERY = 97; // → ~1000 failing calls

type ErrorClass = abstract new (...args: never[]) => Error;

describe('wasm memory stays flat', () => {
  it(`${TOTAL} mixed operations leave coreMemoryBytes() unchanged after warm-up`, () => {
    const rng = Drbg.fromEnv('memory');
    const key = rng.bytes(32);
    const nonce = rng.bytes(12);
    const msg64 = rng.bytes(64);
    const aad = rng.bytes(16);
    const refCt = (() => {
      const c = createCipheriv('aes-256-gcm', key, nonce);
      c.setAAD(aad);
      return new Uint8Array(Buffer.concat([c.update(msg64), c.final(), c.getAuthTag()]));
    })();
    const refSha = hex(new Uint8Array(createHash('sha256').update(msg64).digest()));
    const refHmac = hex(new Uint8Array(createHmac('sha256', key).update(msg64).digest()));
    const refHkdf = hex(new Uint8Array(hkdfSync('sha256', key, nonce, aad, 42)));
    const suite1 = getSuite(1);

    // Light operations (the bulk): AES-GCM 64 B, SHA-256, HKDF, HMAC, all verified.
    let mismatches = 0;
    const light: Array<() => void> = [
      () => {
        if (!equalBytes(aes256gcm.encrypt(key, nonce, msg64, aad), refCt)) mismatches++;
      },
      () => {
        if (!equalBytes(aes256gcm.decrypt(key, nonce, refCt, aad), msg64)) mismatches++;
      },
      () => {
        if (hex(sha256(msg64)) !== refSha) mismatches++;
      },
      () => {
        if (hex(hkdfSha256(key, nonce, aad, 42)) !== refHkdf) mismatches++;
      },
      () => {
        if (hex(hmacSha256(key, msg64)) !== refHmac) mismatches++;
      },
      () => {
        if (!equalBytes(suite1.aead.decrypt(key, nonce, suite1.aead.encrypt(key, nonce, msg64, aad), aad), msg64)) mismatches++;
      },
    ];

    // Heavy operations, interleaved.
    const kem1024 = mlkem1024.keygen();
    const kem768 = mlkem768.keygen();
    const dsa87 = mldsa87.keygen();
    const dsa65 = mldsa65.keygen();
    const xa = x25519.keygen();
    const xb = x25519.keygen();
    const ed = ed25519.keygen();
    const s2 = getSuite(2);
    const s3 = getSuite(3);
    const s2kp = s2.kem.keygen();
    const s3kp = s3.kem.keygen();
    const s3sig = s3.sig.keygen();
    const heavy: Array<() => void> = [
      () => {
        const e = mlkem1024.encaps(kem1024.publicKey);
        if (!equalBytes(mlkem1024.decaps(kem1024.secretKey, e.ciphertext), e.sharedSecret)) mismatches++;
      },
      () => {
        const e = mlkem768.encaps(kem768.publicKey);
        if (!equalBytes(mlkem768.decaps(kem768.secretKey, e.ciphertext), e.sharedSecret)) mismatches++;
      },
      () => void mlkem1024.keygen(),
      () => {
        if (!mldsa87.verify(dsa87.publicKey, msg64, mldsa87.sign(dsa87.secretKey, msg64))) mismatches++;
      },
      () => {
        if (!mldsa65.verify(dsa65.publicKey, msg64, mldsa65.sign(dsa65.secretKey, msg64, aad), aad)) mismatches++;
      },
      () => {
        if (!equalBytes(x25519.sharedSecret(xa.secretKey, xb.publicKey), x25519.sharedSecret(xb.secretKey, xa.publicKey))) mismatches++;
      },
      () => {
        if (!ed25519.verify(ed.publicKey, msg64, ed25519.sign(ed.secretKey, msg64))) mismatches++;
      },
      () => {
        const e = s2.kem.encaps(s2kp.publicKey);
        if (!equalBytes(s2.kem.decaps(s2kp.secretKey, e.ciphertext), e.sharedSecret)) mismatches++;
      },
      () => {
        const e = s3.kem.encaps(s3kp.publicKey);
        if (!equalBytes(s3.kem.decaps(s3kp.secretKey, e.ciphertext), e.sharedSecret)) mismatches++;
      },
      () => {
        if (!s3.sig.verify(s3sig.publicKey, msg64, s3.sig.sign(s3sig.secretKey, msg64))) mismatches++;
      },
      () => void mldsa87.keygen(),
    ];

    // Failing calls, each with the error it must raise.
    const badTag = Uint8Array.from(refCt);
    badTag[badTag.length - 1] = (badTag[badTag.length - 1] ?? 0) ^ 1;
    const badPk = Uint8Array.from(kem768.publicKey);
    badPk[0] = 0xff;
    badPk[1] = (badPk[1] ?? 0) | 0x0f; // first coefficient = 4095 >= q
    const failing: Array<[ErrorClass, () => unknown]> = [
      [DecryptionFailedError, () => aes256gcm.decrypt(key, nonce, badTag, aad)],
      [DecryptionFailedError, () => suite1.aead.decrypt(key, nonce, badTag, aad)],
      [InvalidLengthError, () => aes256gcm.encrypt(key.subarray(1), nonce, msg64)],
      [InvalidLengthError, () => hkdfSha256(key, nonce, aad, 0)],
      [InvalidLengthError, () => hkdfSha256(key, nonce, aad, 8161)],
      [InvalidLengthError, () => mlkem1024.decaps(kem1024.secretKey, msg64)],
      [InvalidLengthError, () => mldsa87.sign(dsa87.secretKey, msg64, new Uint8Array(256))],
      [InvalidKeyError, () => x25519.sharedSecret(xa.secretKey, new Uint8Array(32))],
      [InvalidKeyError, () => mlkem768.encaps(badPk)],
      [Pqe2eeError, () => sha256('not bytes' as unknown as Uint8Array)],
    ];
    let failed = 0;
    const runFailing = (i: number) => {
      const [cls, fn] = failing[i % failing.length] as [ErrorClass, () => unknown];
      try {
        fn();
      } catch (e) {
        if (e instanceof cls || (cls === Pqe2eeError && e instanceof TypeError)) {
          failed++;
          return;
        }
        throw e;
      }
      throw new Error(`failing call #${i % failing.length} did not throw`);
    };

    const step = (i: number) => {
      if (i % HEAVY_EVERY === HEAVY_EVERY - 1) (heavy[Math.floor(i / HEAVY_EVERY) % heavy.length] as () => void)();
      else if (i % FAIL_EVERY === FAIL_EVERY - 1) runFailing(Math.floor(i / FAIL_EVERY));
      else (light[i % light.length] as () => void)();
    };

    // Warm-up: every heavy and failing kind twice, then 1000 mixed operations.
    for (let r = 0; r < 2; r++) {
      heavy.forEach((h) => h());
      failing.forEach((_, i) => runFailing(i));
    }
    for (let i = 0; i < 1000; i++) step(i);
    const before = coreMemoryBytes();
    expect(before).toBeGreaterThan(0);
    expect(before % 65536, 'wasm memory is a whole number of pages').toBe(0);

    failed = 0;
    const t0 = performance.now();
    for (let i = 0; i < TOTAL; i++) step(i);
    const ms = performance.now() - t0;
    const after = coreMemoryBytes();
    console.log(`memory: ${TOTAL} ops in ${(ms / 1000).toFixed(1)} s, ${failed} failing calls; coreMemoryBytes ${before} → ${after}`);

    expect(mismatches, 'operations returned wrong results').toBe(0);
    expect(failed).toBeGreaterThan(900);
    expect(after, 'core memory grew during the run').toBe(before);
  });
});
