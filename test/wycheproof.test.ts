// Wycheproof (C2SP, testvectors_v1) known-answer and negative tests, run through the public API.
// The vectors are read at run time from ../shared/vectors/wycheproof (outside the repo).
import fs from 'node:fs';
import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import {
  aes256gcm,
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
  x25519,
} from '../src/crypto/index.js';
import { checkThrows, equalBytes, errName, Failures, hex, unhex, wycheproofDir } from './support/index.js';

// ---------------------------------------------------------------------------------------------------
// File model

type Result = 'valid' | 'invalid' | 'acceptable';
interface WTest {
  tcId: number;
  comment?: string;
  flags?: string[];
  result: Result;
  [field: string]: unknown;
}
interface WGroup {
  type?: string;
  tests: WTest[];
  [field: string]: unknown;
}
interface WFile {
  algorithm: string;
  testGroups: WGroup[];
}

function str(o: Record<string, unknown>, k: string): string {
  const v = o[k];
  if (typeof v !== 'string') throw new Error(`vector field ${k} missing or not a string`);
  return v;
}
function optStr(o: Record<string, unknown>, k: string): string | undefined {
  const v = o[k];
  if (v === undefined || v === null) return undefined;
  if (typeof v !== 'string') throw new Error(`vector field ${k} not a string`);
  return v;
}
function num(o: Record<string, unknown>, k: string): number {
  const v = o[k];
  if (typeof v !== 'number') throw new Error(`vector field ${k} missing or not a number`);
  return v;
}
const bytes = (o: Record<string, unknown>, k: string): Uint8Array => unhex(str(o, k));
const optBytes = (o: Record<string, unknown>, k: string): Uint8Array | undefined => {
  const s = optStr(o, k);
  return s === undefined ? undefined : unhex(s);
};
const tcName = (t: WTest): string => `tc${t.tcId}${t.comment ? ` (${t.comment})` : ''} [${t.result}]`;

function load(file: string): WFile {
  return JSON.parse(fs.readFileSync(path.join(wycheproofDir, file), 'utf8')) as WFile;
}

const allFiles: string[] = fs.existsSync(wycheproofDir)
  ? fs
      .readdirSync(wycheproofDir)
      .filter((f) => f.endsWith('.json'))
      .sort()
  : [];

// Per-file counters: cases actually run (including refusals asserted), and cases not applicable.
const counts = new Map<string, number>();
const notApplicable = new Map<string, number>();
const bump = (file: string, n = 1): void => void counts.set(file, (counts.get(file) ?? 0) + n);
const bumpNA = (file: string): void => void notApplicable.set(file, (notApplicable.get(file) ?? 0) + 1);

afterAll(() => {
  for (const f of allFiles) {
    const na = notApplicable.get(f) ?? 0;
    console.log(`wycheproof ${f}: ${counts.get(f) ?? 0} cases${na ? ` (${na} not applicable: external-mu / internal interface)` : ''}`);
  }
});

// ---------------------------------------------------------------------------------------------------
// Handlers: one per file family. Each registers a few `it` blocks.

type Handler = (file: string, data: WFile) => void;
const handlers: Array<[RegExp, Handler]> = [];
const handle = (re: RegExp, h: Handler): void => void handlers.push([re, h]);
const handlerFor = (file: string): Handler | undefined => handlers.find(([re]) => re.test(file))?.[1];

const suite1 = () => getSuite(1);
const allSuites = () => [getSuite(1), getSuite(2), getSuite(3)];

function mlkemFor(g: WGroup) {
  const ps = str(g, 'parameterSet');
  if (ps === 'ML-KEM-1024') return { kem: mlkem1024, suiteKem: suite1().kem };
  if (ps === 'ML-KEM-768') return { kem: mlkem768, suiteKem: undefined };
  throw new Error(`unexpected parameterSet ${ps}`);
}

/** KeyGen from the 64-byte seed d||z. */
handle(/^mlkem_(1024|768)_keygen_seed_test\.json$/, (file, data) => {
  it('keygenFromSeed(d||z) reproduces ek and dk', () => {
    const fail = new Failures();
    for (const g of data.testGroups) {
      const { kem, suiteKem } = mlkemFor(g);
      for (const t of g.tests) {
        bump(file);
        fail.guard(tcName(t), () => {
          const seed = bytes(t, 'seed');
          if (t.result !== 'valid') {
            fail.add(
              tcName(t),
              checkThrows(() => kem.keygenFromSeed(seed), Pqe2eeError),
            );
            return;
          }
          const { publicKey, secretKey } = kem.keygenFromSeed(seed);
          if (hex(publicKey) !== str(t, 'ek')) fail.add(tcName(t), 'ek mismatch');
          if (hex(secretKey) !== str(t, 'dk')) fail.add(tcName(t), 'dk mismatch');
          if (suiteKem) {
            const s = suiteKem.keygenFromSeed(seed);
            if (hex(s.publicKey) !== str(t, 'ek') || hex(s.secretKey) !== str(t, 'dk')) fail.add(tcName(t), 'suite 1 kem keygen mismatch');
          }
        });
      }
    }
    fail.assert();
  });
});

/** Encaps with fixed m, including malformed (non-reduced / wrong-length) public keys. */
handle(/^mlkem_(1024|768)_encaps_test\.json$/, (file, data) => {
  it('encapsWithCoins(ek, m): valid cases give (c, K), invalid keys are refused', () => {
    const fail = new Failures();
    for (const g of data.testGroups) {
      const { kem, suiteKem } = mlkemFor(g);
      for (const t of g.tests) {
        bump(file);
        const w = tcName(t);
        fail.guard(w, () => {
          const ek = bytes(t, 'ek');
          const m = bytes(t, 'm');
          if (t.result === 'valid') {
            const r = kem.encapsWithCoins(ek, m);
            if (hex(r.ciphertext) !== str(t, 'c')) fail.add(w, 'ciphertext mismatch');
            if (hex(r.sharedSecret) !== str(t, 'K')) fail.add(w, 'shared secret mismatch');
            if (suiteKem) {
              const s = suiteKem.encapsWithCoins(ek, m);
              if (hex(s.ciphertext) !== str(t, 'c') || hex(s.sharedSecret) !== str(t, 'K')) fail.add(w, 'suite 1 kem mismatch');
            }
            return;
          }
          // invalid: wrong length → InvalidLengthError; right length but a coefficient >= q → InvalidKeyError
          const cls = ek.length !== kem.publicKeyBytes ? InvalidLengthError : InvalidKeyError;
          fail.add(
            `${w} encapsWithCoins`,
            checkThrows(() => kem.encapsWithCoins(ek, m), cls),
          );
          fail.add(
            `${w} encaps`,
            checkThrows(() => kem.encaps(ek), cls),
          );
          if (suiteKem)
            fail.add(
              `${w} suite1 encaps`,
              checkThrows(() => suiteKem.encaps(ek), cls),
            );
        });
      }
    }
    fail.assert();
  });
});

/** KeyGen from seed + Decaps, including wrong-length seeds and ciphertexts. */
handle(/^mlkem_(1024|768)_test\.json$/, (file, data) => {
  it('keygenFromSeed + decaps give K; wrong-length seed / ciphertext are refused', () => {
    const fail = new Failures();
    for (const g of data.testGroups) {
      const { kem, suiteKem } = mlkemFor(g);
      for (const t of g.tests) {
        bump(file);
        const w = tcName(t);
        fail.guard(w, () => {
          const seed = bytes(t, 'seed');
          const c = bytes(t, 'c');
          if (seed.length !== kem.seedBytes) {
            if (t.result === 'valid') fail.add(w, 'valid case with a wrong-length seed?');
            fail.add(
              w,
              checkThrows(() => kem.keygenFromSeed(seed), InvalidLengthError, 'ERR_INVALID_LENGTH'),
            );
            return;
          }
          const { publicKey, secretKey } = kem.keygenFromSeed(seed);
          const ek = optStr(t, 'ek');
          if (ek !== undefined && hex(publicKey) !== ek) fail.add(w, 'ek mismatch');
          if (c.length !== kem.ciphertextBytes) {
            if (t.result === 'valid') fail.add(w, 'valid case with a wrong-length ciphertext?');
            fail.add(
              w,
              checkThrows(() => kem.decaps(secretKey, c), InvalidLengthError, 'ERR_INVALID_LENGTH'),
            );
            if (suiteKem)
              fail.add(
                `${w} suite1`,
                checkThrows(() => suiteKem.decaps(secretKey, c), InvalidLengthError),
              );
            return;
          }
          if (t.result !== 'valid') {
            fail.add(
              w,
              checkThrows(() => kem.decaps(secretKey, c), Pqe2eeError),
            );
            return;
          }
          const k = kem.decaps(secretKey, c);
          if (hex(k) !== str(t, 'K')) fail.add(w, 'shared secret mismatch');
          if (suiteKem && hex(suiteKem.decaps(secretKey, c)) !== str(t, 'K')) fail.add(w, 'suite 1 decaps mismatch');
        });
      }
    }
    fail.assert();
  });
});

/** Decaps with an explicit (semi-expanded) dk: wrong lengths, corrupted hash / embedded ek. */
handle(/^mlkem_(1024|768)_semi_expanded_decaps_test\.json$/, (file, data) => {
  it('decaps(dk, c): valid gives K; bad lengths → InvalidLengthError; corrupted dk → InvalidKeyError', () => {
    const fail = new Failures();
    for (const g of data.testGroups) {
      const { kem } = mlkemFor(g);
      for (const t of g.tests) {
        bump(file);
        const w = tcName(t);
        fail.guard(w, () => {
          const dk = bytes(t, 'dk');
          const c = bytes(t, 'c');
          if (t.result === 'valid') {
            if (hex(kem.decaps(dk, c)) !== str(t, 'K')) fail.add(w, 'shared secret mismatch');
            return;
          }
          const flags = t.flags ?? [];
          const cls =
            dk.length !== kem.secretKeyBytes || c.length !== kem.ciphertextBytes ? InvalidLengthError : flags.includes('InvalidDecapsulationKey') ? InvalidKeyError : Pqe2eeError;
          fail.add(
            w,
            checkThrows(() => kem.decaps(dk, c), cls),
          );
        });
      }
    }
    fail.assert();
  });
});

function mldsaFor(data: WFile) {
  if (data.algorithm === 'ML-DSA-87') return { dsa: mldsa87, isSuite1: true };
  if (data.algorithm === 'ML-DSA-65') return { dsa: mldsa65, isSuite1: false };
  throw new Error(`unexpected algorithm ${data.algorithm}`);
}

/** Signing tests (seed or expanded key). Cases that only give `mu` exercise the external-mu /
 *  internal interface, which the API does not expose: counted as not applicable. */
function mldsaSignHandler(withSeed: boolean): Handler {
  return (file, data) => {
    const { dsa, isSuite1 } = mldsaFor(data);
    it(`${withSeed ? 'keygenFromSeed + ' : ''}deterministic / given-rnd signatures match; bad keys and contexts refused`, () => {
      const fail = new Failures();
      for (const g of data.testGroups) {
        // Key material for the group.
        let sk: Uint8Array | undefined;
        let keyErr: string | null = null;
        const pkHex = optStr(g, 'publicKey');
        if (withSeed) {
          const seed = bytes(g, 'privateSeed');
          if (seed.length !== dsa.seedBytes) {
            keyErr = checkThrows(() => dsa.keygenFromSeed(seed), InvalidLengthError, 'ERR_INVALID_LENGTH');
          } else {
            try {
              const kp = dsa.keygenFromSeed(seed);
              sk = kp.secretKey;
              if (pkHex !== undefined && hex(kp.publicKey) !== pkHex) fail.add(`group seed ${hex(seed).slice(0, 16)}`, 'public key mismatch');
              if (isSuite1) {
                const s = suite1().sig.keygenFromSeed(seed);
                if (!equalBytes(s.secretKey, kp.secretKey) || !equalBytes(s.publicKey, kp.publicKey)) fail.add('suite1 sig keygen', 'mismatch');
              }
            } catch (e) {
              fail.add('keygenFromSeed', `unexpected ${errName(e)}`);
            }
          }
        } else {
          sk = bytes(g, 'privateKey');
        }
        for (const t of g.tests) {
          const w = tcName(t);
          const msgHex = optStr(t, 'msg');
          if (msgHex === undefined) {
            // mu-only (external mu, "Internal" flag): not expressible through the public API.
            bumpNA(file);
            continue;
          }
          bump(file);
          fail.guard(w, () => {
            const msg = unhex(msgHex);
            const ctx = optBytes(t, 'ctx') ?? new Uint8Array(0);
            const rnd = optBytes(t, 'rnd') ?? new Uint8Array(32);
            if (withSeed && sk === undefined) {
              // wrong-length seed: the refusal was checked once for the group; record it per case.
              if (t.result === 'valid') fail.add(w, 'valid case without a usable key?');
              fail.add(w, keyErr);
              return;
            }
            const key = sk as Uint8Array;
            if (t.result === 'valid') {
              const sig = dsa.signWithRandomness(key, msg, ctx, rnd);
              if (hex(sig) !== str(t, 'sig')) fail.add(w, 'signature mismatch');
              if (pkHex !== undefined && !dsa.verify(unhex(pkHex), msg, sig, ctx)) fail.add(w, 'own signature does not verify');
              if (isSuite1 && ctx.length === 0) {
                const s = suite1().sig.signWithRandomness(key, msg, rnd);
                if (hex(s) !== str(t, 'sig')) fail.add(w, 'suite 1 signature mismatch');
              }
              return;
            }
            // invalid: context too long, wrong-length key, or malformed expanded key.
            const flags = t.flags ?? [];
            const cls = ctx.length > 255 || key.length !== dsa.secretKeyBytes ? InvalidLengthError : flags.includes('InvalidPrivateKey') ? InvalidKeyError : Pqe2eeError;
            fail.add(
              `${w} signWithRandomness`,
              checkThrows(() => dsa.signWithRandomness(key, msg, ctx, rnd), cls),
            );
            fail.add(
              `${w} sign`,
              checkThrows(() => dsa.sign(key, msg, ctx), cls),
            );
          });
        }
      }
      fail.assert();
    });
  };
}
handle(/^mldsa_(87|65)_sign_seed_test\.json$/, mldsaSignHandler(true));
handle(/^mldsa_(87|65)_sign_noseed_test\.json$/, mldsaSignHandler(false));

handle(/^mldsa_(87|65)_verify_test\.json$/, (file, data) => {
  const { dsa, isSuite1 } = mldsaFor(data);
  it('verify: valid → true; modified / malformed signatures → false; bad key length → InvalidLengthError', () => {
    const fail = new Failures();
    for (const g of data.testGroups) {
      const pk = bytes(g, 'publicKey');
      for (const t of g.tests) {
        bump(file);
        const w = tcName(t);
        fail.guard(w, () => {
          const msg = bytes(t, 'msg');
          const sig = bytes(t, 'sig');
          const ctx = optBytes(t, 'ctx') ?? new Uint8Array(0);
          if (pk.length !== dsa.publicKeyBytes) {
            if (t.result === 'valid') fail.add(w, 'valid case with a wrong-length key?');
            // The doc: verify throws only for a public key of the wrong length.
            fail.add(
              w,
              checkThrows(() => dsa.verify(pk, msg, sig, ctx), InvalidLengthError, 'ERR_INVALID_LENGTH'),
            );
            return;
          }
          if (ctx.length > 255) {
            // Rejected either by InvalidLengthError (context limit) or by returning false.
            try {
              if (dsa.verify(pk, msg, sig, ctx) !== false) fail.add(w, 'accepted a >255-byte context');
            } catch (e) {
              if (!(e instanceof InvalidLengthError)) fail.add(w, `expected InvalidLengthError or false, got ${errName(e)}`);
            }
            return;
          }
          // Any signature (whatever its length or encoding) must give a boolean, never a throw.
          const ok = dsa.verify(pk, msg, sig, ctx);
          if (typeof ok !== 'boolean') fail.add(w, `verify returned ${String(ok)}`);
          else if (ok !== (t.result === 'valid')) fail.add(w, `verify returned ${ok}`);
          if (isSuite1 && ctx.length === 0 && suite1().sig.verify(pk, msg, sig) !== (t.result === 'valid')) fail.add(w, 'suite 1 verify disagrees');
        });
      }
    }
    fail.assert();
  });
});

/** AES-GCM: only 256-bit keys, 96-bit nonces, 128-bit tags are supported; others must be refused. */
handle(/^aes_gcm_test\.json$/, (file, data) => {
  const applicable = (g: WGroup) => num(g, 'keySize') === 256 && num(g, 'ivSize') === 96 && num(g, 'tagSize') === 128;

  it('256-bit key / 96-bit nonce: encrypt and decrypt match; modified tags → DecryptionFailedError', () => {
    const fail = new Failures();
    for (const g of data.testGroups.filter(applicable)) {
      for (const t of g.tests) {
        bump(file);
        const w = tcName(t);
        fail.guard(w, () => {
          const key = bytes(t, 'key');
          const iv = bytes(t, 'iv');
          const aad = bytes(t, 'aad');
          const msg = bytes(t, 'msg');
          const ctTag = unhex(str(t, 'ct') + str(t, 'tag'));
          if (t.result === 'valid') {
            if (hex(aes256gcm.encrypt(key, iv, msg, aad)) !== hex(ctTag)) fail.add(w, 'encrypt mismatch');
            if (hex(aes256gcm.decrypt(key, iv, ctTag, aad)) !== hex(msg)) fail.add(w, 'decrypt mismatch');
            for (const s of allSuites()) {
              if (hex(s.aead.encrypt(key, iv, msg, aad)) !== hex(ctTag)) fail.add(w, `suite ${s.params.id} encrypt mismatch`);
              if (hex(s.aead.decrypt(key, iv, ctTag, aad)) !== hex(msg)) fail.add(w, `suite ${s.params.id} decrypt mismatch`);
            }
          } else {
            fail.add(
              w,
              checkThrows(() => aes256gcm.decrypt(key, iv, ctTag, aad), DecryptionFailedError, 'ERR_DECRYPTION_FAILED'),
            );
            for (const s of allSuites())
              fail.add(
                `${w} suite ${s.params.id}`,
                checkThrows(() => s.aead.decrypt(key, iv, ctTag, aad), DecryptionFailedError),
              );
          }
        });
      }
    }
    fail.assert();
  });

  it('other key / nonce sizes are refused with InvalidLengthError (encrypt and decrypt)', () => {
    const fail = new Failures();
    for (const g of data.testGroups.filter((g) => !applicable(g))) {
      for (const t of g.tests) {
        bump(file);
        const w = `${tcName(t)} key ${num(g, 'keySize')} iv ${num(g, 'ivSize')}`;
        const key = bytes(t, 'key');
        const iv = bytes(t, 'iv');
        const aad = bytes(t, 'aad');
        const ctTag = unhex(str(t, 'ct') + str(t, 'tag'));
        fail.add(
          `${w} encrypt`,
          checkThrows(() => aes256gcm.encrypt(key, iv, bytes(t, 'msg'), aad), InvalidLengthError, 'ERR_INVALID_LENGTH'),
        );
        fail.add(
          `${w} decrypt`,
          checkThrows(() => aes256gcm.decrypt(key, iv, ctTag, aad), InvalidLengthError, 'ERR_INVALID_LENGTH'),
        );
        fail.add(
          `${w} suite1 decrypt`,
          checkThrows(() => suite1().aead.decrypt(key, iv, ctTag, aad), InvalidLengthError),
        );
      }
    }
    fail.assert();
  });
});

handle(/^hkdf_sha256_test\.json$/, (file, data) => {
  it('hkdfSha256 matches okm; size > 8160 → InvalidLengthError', () => {
    const fail = new Failures();
    for (const g of data.testGroups) {
      for (const t of g.tests) {
        bump(file);
        const w = tcName(t);
        fail.guard(w, () => {
          const ikm = bytes(t, 'ikm');
          const salt = bytes(t, 'salt');
          const info = bytes(t, 'info');
          const size = num(t, 'size');
          if (t.result === 'valid') {
            if (hex(hkdfSha256(ikm, salt, info, size)) !== str(t, 'okm')) fail.add(w, 'okm mismatch');
            for (const s of allSuites()) if (hex(s.hkdf(ikm, salt, info, size)) !== str(t, 'okm')) fail.add(w, `suite ${s.params.id} okm mismatch`);
          } else {
            fail.add(
              w,
              checkThrows(() => hkdfSha256(ikm, salt, info, size), InvalidLengthError, 'ERR_INVALID_LENGTH'),
            );
            for (const s of allSuites())
              fail.add(
                `${w} suite ${s.params.id}`,
                checkThrows(() => s.hkdf(ikm, salt, info, size), InvalidLengthError),
              );
          }
        });
      }
    }
    fail.assert();
  });
});

handle(/^hmac_sha256_test\.json$/, (file, data) => {
  for (const truncated of [false, true]) {
    it(`hmacSha256 ${truncated ? 'truncated-tag groups (prefix compare)' : 'full-length tags'}`, () => {
      const fail = new Failures();
      for (const g of data.testGroups.filter((g) => num(g, 'tagSize') < 256 === truncated)) {
        const tagBytes = num(g, 'tagSize') / 8;
        for (const t of g.tests) {
          bump(file);
          const w = tcName(t);
          fail.guard(w, () => {
            const mac = hmacSha256(bytes(t, 'key'), bytes(t, 'msg'));
            if (mac.length !== 32) fail.add(w, `mac length ${mac.length}`);
            const match = hex(mac.subarray(0, tagBytes)) === str(t, 'tag');
            if (match !== (t.result === 'valid')) fail.add(w, match ? 'modified tag matched' : 'tag mismatch');
            for (const s of allSuites())
              if ((hex(s.hmac(bytes(t, 'key'), bytes(t, 'msg')).subarray(0, tagBytes)) === str(t, 'tag')) !== match) fail.add(w, `suite ${s.params.id} hmac disagrees`);
          });
        }
      }
      fail.assert();
    });
  }
});

handle(/^x25519_test\.json$/, (file, data) => {
  const isZero = (s: string) => /^(00)+$/.test(s);
  it('scalarMult gives the RFC 7748 output for every case (including low-order → zero)', () => {
    const fail = new Failures();
    for (const g of data.testGroups) {
      for (const t of g.tests) {
        bump(file);
        const w = tcName(t);
        fail.guard(w, () => {
          const out = x25519.scalarMult(bytes(t, 'private'), bytes(t, 'public'));
          if (hex(out) !== str(t, 'shared')) fail.add(w, 'scalarMult mismatch');
        });
      }
    }
    fail.assert();
  });
  it('sharedSecret: valid → shared; all-zero result → InvalidKeyError; acceptable → shared or clean refusal', () => {
    const fail = new Failures();
    let acceptableRefused = 0;
    for (const g of data.testGroups) {
      for (const t of g.tests) {
        const w = tcName(t);
        const priv = bytes(t, 'private');
        const pub = bytes(t, 'public');
        const shared = str(t, 'shared');
        if (isZero(shared)) {
          fail.add(
            w,
            checkThrows(() => x25519.sharedSecret(priv, pub), InvalidKeyError, 'ERR_INVALID_KEY'),
          );
          continue;
        }
        try {
          if (hex(x25519.sharedSecret(priv, pub)) !== shared) fail.add(w, 'sharedSecret mismatch');
        } catch (e) {
          if (t.result === 'acceptable' && e instanceof Pqe2eeError) acceptableRefused++;
          else fail.add(w, `unexpected ${errName(e)}`);
        }
      }
    }
    if (acceptableRefused) console.log(`wycheproof ${file}: ${acceptableRefused} acceptable non-zero cases refused by sharedSecret`);
    fail.assert();
  });
});

handle(/^ed25519_test\.json$/, (file, data) => {
  it('verify: valid → true, invalid (incl. wrong sig length, non-canonical, malleable) → false', () => {
    const fail = new Failures();
    const suite2 = getSuite(2);
    for (const g of data.testGroups) {
      const pk = unhex(str(g['publicKey'] as Record<string, unknown>, 'pk'));
      for (const t of g.tests) {
        bump(file);
        const w = tcName(t);
        fail.guard(w, () => {
          const msg = bytes(t, 'msg');
          const sig = bytes(t, 'sig');
          // Doc: verification never throws for a bad signature (only for a wrong-length public key).
          const ok = ed25519.verify(pk, msg, sig);
          if (ok !== (t.result === 'valid')) fail.add(w, `verify returned ${String(ok)}`);
          const ok2 = suite2.sig.verify(pk, msg, sig);
          if (ok2 !== (t.result === 'valid')) fail.add(w, `suite 2 verify returned ${String(ok2)}`);
        });
      }
    }
    fail.assert();
  });
});

// ---------------------------------------------------------------------------------------------------

describe('wycheproof vector files', () => {
  it('the vector directory exists and has files', () => {
    expect(fs.existsSync(wycheproofDir), `missing ${wycheproofDir}`).toBe(true);
    expect(allFiles.length).toBeGreaterThan(0);
  });
  it('every file in the directory has a handler (a new file must be noticed)', () => {
    expect(allFiles.filter((f) => !handlerFor(f))).toEqual([]);
  });
});

for (const file of allFiles) {
  const h = handlerFor(file);
  if (!h) continue;
  describe(`wycheproof ${file}`, () => {
    const data = load(file);
    h(file, data);
    it('ran at least one case', () => {
      expect(counts.get(file) ?? 0, `no case of ${file} was run`).toBeGreaterThan(0);
    });
  });
}
