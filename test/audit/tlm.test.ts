// Adversarial tests of the Trusted Log Module over the pure core: a SAM log written by LogWriter,
// its Merkle tree, the TLM (attestation, verifier registry, KEM-wrapped key release, the fork rule
// for checkpoints, "MAC-verified up to j"). Every refusal is asserted by its typed error and code.
import { describe, expect, it } from 'vitest';
import { ATTESTATION_HEADER, MAX_NONCE_BYTES, MIN_NONCE_BYTES, verifyAttestation } from '../../src/audit/attestation.js';
import { AuditCategory } from '../../src/audit/categories.js';
import { openCheckpoint, parseCheckpoint } from '../../src/audit/checkpoint.js';
import { LogWriter } from '../../src/audit/entries.js';
import type { AuditEntry } from '../../src/audit/entry-format.js';
import { verifyEntries } from '../../src/audit/entry-verifier.js';
import { unwrapEntryKey, type WrappedEntryKey } from '../../src/audit/key-release.js';
import { MemoryMerkleStore, MerkleTree } from '../../src/audit/merkle-tree.js';
import { emptyRoot } from '../../src/audit/merkle.js';
import { formatVerifierKey, type NoteSigner, noteSigner, noteVerifier, openNote, signNote } from '../../src/audit/signed-note.js';
import { MAC_STATEMENT_HEADER, TrustedLogModule, type TrustedLogModuleOptions } from '../../src/audit/tlm.js';
import { getSuite } from '../../src/crypto/index.js';
import {
  AttestationError,
  AuditAccessDeniedError,
  AuditFormatError,
  AuditStateError,
  CheckpointFormatError,
  DecryptionFailedError,
  InconsistentCheckpointError,
  type Pqe2eeError,
} from '../../src/errors.js';

const ORIGIN = 'audit.pqe2ee.example/log';
const utf8 = (text: string): Uint8Array => new TextEncoder().encode(text);
const LOG_ID = utf8(ORIGIN);
const A0 = new Uint8Array(32).fill(0x5a);
const T0 = 1_750_000_000_000;
const CODE_DIGEST = 'c0de'.repeat(16);
const OTHER_DIGEST = 'beef'.repeat(16);
const MASKS = [AuditCategory.HEARTBEAT, AuditCategory.KEY_PUBLICATION, AuditCategory.BUNDLE_HANDOUT, AuditCategory.METADATA_READ | AuditCategory.BUNDLE_HANDOUT];

const sigSuite = getSuite(2);
const kemSuite = getSuite(1);
const makeSigner = (seedByte: number, name = ORIGIN): NoteSigner => noteSigner(2, name, sigSuite.sig.keygenFromSeed(new Uint8Array(32).fill(seedByte)));
const SIGNER = makeSigner(9);
/** The TLM key as a verifier configures it: public key only, never taken from an answer. */
const TLM_KEY = noteVerifier(2, ORIGIN, SIGNER.publicKey);
/** Another TLM's key under the same name. */
const OTHER_SIGNER = makeSigner(10);
const OTHER_KEY = noteVerifier(2, ORIGIN, OTHER_SIGNER.publicKey);

const ALICE = kemSuite.kem.keygen();
const BOB = kemSuite.kem.keygen();
/** Alice may read everything the test log holds; Bob only bundle hand-outs. */
const ALICE_ENTITLEMENT = AuditCategory.HEARTBEAT | AuditCategory.KEY_PUBLICATION | AuditCategory.BUNDLE_HANDOUT | AuditCategory.METADATA_READ;
const BOB_ENTITLEMENT = AuditCategory.BUNDLE_HANDOUT;

type ErrorClass = abstract new (...args: never[]) => Pqe2eeError;

/** Runs `fn`, which must throw an instance of `type` carrying `code`; returns the error. */
function expectError(fn: () => unknown, type: ErrorClass, code: string): Pqe2eeError {
  let caught: unknown;
  try {
    fn();
  } catch (error) {
    caught = error;
  }
  expect(caught, `expected ${type.name} (${code})`).toBeInstanceOf(type);
  expect((caught as Pqe2eeError).code).toBe(code);
  return caught as Pqe2eeError;
}

/** A signer that counts its signatures, to check that a refused request signs nothing. */
function countingSigner(): { signer: NoteSigner; count: () => number } {
  let signatures = 0;
  const signer: NoteSigner = {
    ...SIGNER,
    sign: (text) => {
      signatures++;
      return SIGNER.sign(text);
    },
  };
  return { signer, count: () => signatures };
}

function newTlm(extra: Partial<TrustedLogModuleOptions> = {}): TrustedLogModule {
  return new TrustedLogModule({ logId: LOG_ID, origin: ORIGIN, initialKey: A0, signer: SIGNER, codeDigest: CODE_DIGEST, ...extra });
}

function registerBoth(tlm: TrustedLogModule): void {
  tlm.registerVerifier({ id: 'alice', kemPublicKey: ALICE.publicKey, entitlement: ALICE_ENTITLEMENT });
  tlm.registerVerifier({ id: 'bob', kemPublicKey: BOB.publicKey, entitlement: BOB_ENTITLEMENT });
}

/** A log of `count` entries (masks cycling through MASKS), its tree and the plaintexts. */
function buildLog(count = 8, label = 'event') {
  const writer = LogWriter.create({ logId: LOG_ID, initialKey: A0 });
  const store = new MemoryMerkleStore();
  const tree = MerkleTree.open(store, 0);
  const entries: AuditEntry[] = [];
  const plaintexts: string[] = [];
  for (let i = 0; i < count; i++) {
    const text = `${label} ${i}`;
    const result = writer.append(MASKS[i % MASKS.length] as number, utf8(text), T0 + i * 15_000);
    store.put(tree.append(result.leafHash));
    entries.push(result.entry);
    plaintexts.push(text);
    writer.commit();
  }
  writer.dispose();
  return { entries, plaintexts, tree };
}

/** A TLM with both verifiers registered and a checkpoint of the whole log signed. */
function tlmWithLog(count = 8) {
  const log = buildLog(count);
  const tlm = newTlm();
  registerBoth(tlm);
  tlm.signCheckpoint(log.tree.size, log.tree.root());
  return { ...log, tlm };
}

const nonce = (byte: number, length = 32): Uint8Array => new Uint8Array(length).fill(byte);
const entryAt = (entries: readonly AuditEntry[], i: number): AuditEntry => entries[i] as AuditEntry;
const flipBit = (bytes: Uint8Array, bit: number): Uint8Array => {
  const out = bytes.slice();
  out[bit >> 3] = (out[bit >> 3] as number) ^ (1 << (bit & 7));
  return out;
};

describe('TLM attestation', () => {
  it('answers a nonce with a statement that verifies and names the last signed checkpoint', () => {
    const tlm = newTlm();
    const before = verifyAttestation(tlm.attest(nonce(1)), { key: TLM_KEY, nonce: nonce(1), expectedCodeDigest: CODE_DIGEST });
    expect(before.checkpoint.size).toBe(0);
    expect(before.checkpoint.rootHash).toEqual(emptyRoot());

    const { tree } = buildLog(8);
    tlm.signCheckpoint(5, tree.rootAt(5));
    tlm.signCheckpoint(8, tree.root(), { tree });
    const statement = verifyAttestation(tlm.attest(nonce(2)), { key: TLM_KEY, nonce: nonce(2), expectedCodeDigest: CODE_DIGEST });
    expect(statement.checkpoint.size).toBe(8);
    expect(statement.checkpoint.rootHash).toEqual(tree.root());
    expect(statement.codeDigest).toBe(CODE_DIGEST);
    expect(statement.checkpointKey).toBe(formatVerifierKey(TLM_KEY));
    expect(statement.nonce).toEqual(nonce(2));
    // Without an expected digest it still verifies, and reports the digest the TLM claims.
    expect(verifyAttestation(tlm.attest(nonce(3)), { key: TLM_KEY, nonce: nonce(3) }).codeDigest).toBe(CODE_DIGEST);
  });

  it('rejects a replayed answer to an older nonce', () => {
    const tlm = newTlm();
    const old = tlm.attest(nonce(1));
    expectError(() => verifyAttestation(old, { key: TLM_KEY, nonce: nonce(2) }), AttestationError, 'ERR_AUDIT_ATTESTATION');
    // Same bytes but another length is another nonce, too.
    expectError(() => verifyAttestation(old, { key: TLM_KEY, nonce: nonce(1, 33) }), AttestationError, 'ERR_AUDIT_ATTESTATION');
    const fresh = new Uint8Array(32).fill(1);
    fresh[31] = 2;
    expectError(() => verifyAttestation(old, { key: TLM_KEY, nonce: fresh }), AttestationError, 'ERR_AUDIT_ATTESTATION');
  });

  it("rejects an attestation checked with another TLM's key, and one that names another key", () => {
    const tlm = newTlm();
    const note = tlm.attest(nonce(4));
    expectError(() => verifyAttestation(note, { key: OTHER_KEY, nonce: nonce(4) }), AttestationError, 'ERR_AUDIT_ATTESTATION');
    // Another TLM answering the same nonce is not this TLM.
    const impostor = newTlm({ signer: OTHER_SIGNER }).attest(nonce(4));
    expectError(() => verifyAttestation(impostor, { key: TLM_KEY, nonce: nonce(4) }), AttestationError, 'ERR_AUDIT_ATTESTATION');
    // Signed by the trusted key but naming another checkpoint key: refused.
    const text = openNote(note, [TLM_KEY]).text.replace(formatVerifierKey(TLM_KEY), formatVerifierKey(OTHER_KEY));
    expect(text).toContain(formatVerifierKey(OTHER_KEY));
    expectError(() => verifyAttestation(signNote(text, [SIGNER]), { key: TLM_KEY, nonce: nonce(4) }), AttestationError, 'ERR_AUDIT_ATTESTATION');
  });

  it('rejects a tampered line (code digest, checkpoint size, nonce, root)', () => {
    const { tree } = buildLog(8);
    const tlm = newTlm();
    tlm.signCheckpoint(8, tree.root());
    const note = tlm.attest(nonce(5));
    const text = openNote(note, [TLM_KEY]).text;
    const sizeLine = text.split('\n')[4] as string;
    expect(sizeLine.startsWith('checkpoint 8 ')).toBe(true);
    const tampered = [
      note.replace(`code ${CODE_DIGEST}`, `code ${OTHER_DIGEST}`),
      note.replace(sizeLine, sizeLine.replace('checkpoint 8 ', 'checkpoint 9 ')),
      note.replace(sizeLine, `checkpoint 8 ${Buffer.from(new Uint8Array(32)).toString('base64')}`),
      note.replace(text.split('\n')[1] as string, `nonce ${Buffer.from(nonce(6)).toString('base64')}`),
    ];
    for (const forged of tampered) {
      expect(forged).not.toBe(note);
      expectError(() => verifyAttestation(forged, { key: TLM_KEY, nonce: nonce(5) }), AttestationError, 'ERR_AUDIT_ATTESTATION');
    }
    // A tampered nonce line does not become a valid answer to the new nonce either.
    expectError(() => verifyAttestation(tampered[3] as string, { key: TLM_KEY, nonce: nonce(6) }), AttestationError, 'ERR_AUDIT_ATTESTATION');
    // A signature line cut off or altered.
    const [body, signature] = note.split('\n\n') as [string, string];
    expectError(() => verifyAttestation(`${body}\n\n`, { key: TLM_KEY, nonce: nonce(5) }), AttestationError, 'ERR_AUDIT_ATTESTATION');
    const altered = `${body}\n\n${signature.slice(0, -6)}${signature.slice(-6, -5) === 'A' ? 'B' : 'A'}${signature.slice(-5)}`;
    expectError(() => verifyAttestation(altered, { key: TLM_KEY, nonce: nonce(5) }), AttestationError, 'ERR_AUDIT_ATTESTATION');
    expect(verifyAttestation(note, { key: TLM_KEY, nonce: nonce(5) }).checkpoint.size).toBe(8);
  });

  it('rejects malformed statements even when the trusted key signed them', () => {
    const text = openNote(newTlm().attest(nonce(7)), [TLM_KEY]).text;
    const lines = text.split('\n');
    const variants = [
      text.replace(ATTESTATION_HEADER, 'pqe2ee-attestation/v2'),
      `${lines.slice(0, 4).join('\n')}\n`,
      `${text}extra line\n`,
      text.replace(`code ${CODE_DIGEST}`, `code ${CODE_DIGEST.toUpperCase()}`),
      text.replace(/checkpoint 0 /, 'checkpoint 00 '),
      text.replace(/checkpoint 0 /, 'checkpoint -1 '),
      text.replace(/checkpoint 0 (\S+)/, `checkpoint 0 ${Buffer.from(new Uint8Array(31)).toString('base64')}`),
      text.replace('nonce ', 'nonce  '),
    ];
    for (const variant of variants) {
      expect(variant).not.toBe(text);
      expectError(() => verifyAttestation(signNote(variant, [SIGNER]), { key: TLM_KEY, nonce: nonce(7) }), AttestationError, 'ERR_AUDIT_ATTESTATION');
    }
  });

  it('refuses a code digest other than the expected one', () => {
    const note = newTlm().attest(nonce(8));
    expectError(() => verifyAttestation(note, { key: TLM_KEY, nonce: nonce(8), expectedCodeDigest: OTHER_DIGEST }), AttestationError, 'ERR_AUDIT_ATTESTATION');
    expectError(() => verifyAttestation(note, { key: TLM_KEY, nonce: nonce(8), expectedCodeDigest: CODE_DIGEST.toUpperCase() }), AttestationError, 'ERR_AUDIT_ATTESTATION');
    // A TLM running other code says so, and is refused by a verifier expecting ours.
    const other = newTlm({ codeDigest: OTHER_DIGEST }).attest(nonce(8));
    expectError(() => verifyAttestation(other, { key: TLM_KEY, nonce: nonce(8), expectedCodeDigest: CODE_DIGEST }), AttestationError, 'ERR_AUDIT_ATTESTATION');
    // A TLM configured with a digest that is not 64 lowercase hex digits cannot attest at all.
    expectError(() => newTlm({ codeDigest: 'not-a-digest' }).attest(nonce(8)), AttestationError, 'ERR_AUDIT_ATTESTATION');
  });

  it(`refuses nonces shorter than ${MIN_NONCE_BYTES} or longer than ${MAX_NONCE_BYTES} bytes`, () => {
    const tlm = newTlm();
    expect(MIN_NONCE_BYTES).toBe(16);
    expect(MAX_NONCE_BYTES).toBe(64);
    for (const length of [MIN_NONCE_BYTES, MAX_NONCE_BYTES]) {
      const n = nonce(9, length);
      expect(verifyAttestation(tlm.attest(n), { key: TLM_KEY, nonce: n }).nonce).toEqual(n);
    }
    for (const length of [0, 1, MIN_NONCE_BYTES - 1, MAX_NONCE_BYTES + 1, 1024]) {
      expectError(() => tlm.attest(nonce(9, length)), AttestationError, 'ERR_AUDIT_ATTESTATION');
      expectError(() => verifyAttestation(tlm.attest(nonce(9)), { key: TLM_KEY, nonce: nonce(9, length) }), AttestationError, 'ERR_AUDIT_ATTESTATION');
    }
    expectError(() => tlm.attest('0123456789abcdef0123' as unknown as Uint8Array), AttestationError, 'ERR_AUDIT_ATTESTATION');
  });

  it('never lets an attestation, a checkpoint and a MAC statement stand for one another', () => {
    const { entries, tree, tlm } = tlmWithLog(8);
    const attestation = tlm.attest(nonce(10));
    const checkpoint = tlm.signCheckpoint(tree.size, tree.root());
    const macStatement = tlm.verifyMacs(entries);
    // All three are signed by the same key.
    for (const note of [attestation, checkpoint, macStatement]) expect(openNote(note, [TLM_KEY]).verifiedBy).toEqual([ORIGIN]);

    expectError(() => openCheckpoint(attestation, [TLM_KEY], ORIGIN), CheckpointFormatError, 'ERR_AUDIT_CHECKPOINT_FORMAT');
    expectError(() => parseCheckpoint(openNote(attestation, [TLM_KEY]).text), CheckpointFormatError, 'ERR_AUDIT_CHECKPOINT_FORMAT');
    expectError(() => openCheckpoint(attestation, [TLM_KEY], ATTESTATION_HEADER), CheckpointFormatError, 'ERR_AUDIT_CHECKPOINT_FORMAT');
    expectError(() => openCheckpoint(macStatement, [TLM_KEY], ORIGIN), CheckpointFormatError, 'ERR_AUDIT_CHECKPOINT_FORMAT');
    expectError(() => openCheckpoint(macStatement, [TLM_KEY], MAC_STATEMENT_HEADER), CheckpointFormatError, 'ERR_AUDIT_CHECKPOINT_FORMAT');
    expect(openCheckpoint(checkpoint, [TLM_KEY], ORIGIN).checkpoint.size).toBe(8);

    expectError(() => verifyAttestation(checkpoint, { key: TLM_KEY, nonce: nonce(10) }), AttestationError, 'ERR_AUDIT_ATTESTATION');
    expectError(() => verifyAttestation(macStatement, { key: TLM_KEY, nonce: nonce(10) }), AttestationError, 'ERR_AUDIT_ATTESTATION');

    // Even a log whose origin is the attestation header cannot pass a checkpoint off as an attestation.
    const confusing = newTlm({ origin: ATTESTATION_HEADER });
    const confusingCheckpoint = confusing.signCheckpoint(tree.size, tree.root());
    expect(openCheckpoint(confusingCheckpoint, [TLM_KEY], ATTESTATION_HEADER).checkpoint.size).toBe(8);
    expectError(() => verifyAttestation(confusingCheckpoint, { key: TLM_KEY, nonce: nonce(10) }), AttestationError, 'ERR_AUDIT_ATTESTATION');
    expectError(() => openCheckpoint(confusing.attest(nonce(10)), [TLM_KEY], ATTESTATION_HEADER), CheckpointFormatError, 'ERR_AUDIT_CHECKPOINT_FORMAT');
  });
});

describe('TLM verifier registry and access control', () => {
  it('denies an entry to a verifier whose entitlement lacks one of its categories', () => {
    const { entries, tree, tlm } = tlmWithLog(8);
    // Entry 3 is METADATA_READ | BUNDLE_HANDOUT: Bob has only BUNDLE_HANDOUT.
    const mixed = entryAt(entries, 3);
    expect(mixed.categoryMask).toBe(AuditCategory.METADATA_READ | AuditCategory.BUNDLE_HANDOUT);
    expectError(() => tlm.releaseKey('bob', 3, mixed.categoryMask, tree.size), AuditAccessDeniedError, 'ERR_AUDIT_ACCESS_DENIED');
    for (const j of [0, 1, 4, 5, 7]) {
      expectError(() => tlm.releaseKey('bob', j, entryAt(entries, j).categoryMask, tree.size), AuditAccessDeniedError, 'ERR_AUDIT_ACCESS_DENIED');
    }
    // A category Alice lacks (GROUP) is refused to her too, even alongside ones she has.
    expectError(() => tlm.releaseKey('alice', 3, mixed.categoryMask | AuditCategory.GROUP, tree.size), AuditAccessDeniedError, 'ERR_AUDIT_ACCESS_DENIED');
    expectError(() => tlm.releaseKey('alice', 3, 0x8000_0000, tree.size), AuditAccessDeniedError, 'ERR_AUDIT_ACCESS_DENIED');
    // What Bob may read, he gets; what Alice may read, she gets.
    expect(tlm.releaseKey('bob', 2, entryAt(entries, 2).categoryMask, tree.size).index).toBe(2);
    expect(tlm.releaseKey('alice', 3, mixed.categoryMask, tree.size).index).toBe(3);
  });

  it('denies an unregistered verifier, whatever id it claims', () => {
    const { entries, tree, tlm } = tlmWithLog(4);
    const mask = entryAt(entries, 2).categoryMask;
    for (const id of ['carol', 'Alice', 'alice ', '', 'bob\n', '__proto__', 'constructor']) {
      expectError(() => tlm.releaseKey(id, 2, mask, tree.size), AuditAccessDeniedError, 'ERR_AUDIT_ACCESS_DENIED');
    }
    expectError(() => tlm.releaseKey(undefined as unknown as string, 2, mask, tree.size), AuditAccessDeniedError, 'ERR_AUDIT_ACCESS_DENIED');
    expectError(() => newTlm().releaseKey('alice', 0, AuditCategory.HEARTBEAT, 1), AuditAccessDeniedError, 'ERR_AUDIT_ACCESS_DENIED');
  });

  it('refuses to re-register an id with another key or entitlement, and keeps the first registration', () => {
    const { entries, tree, tlm } = tlmWithLog(4);
    expectError(() => tlm.registerVerifier({ id: 'bob', kemPublicKey: ALICE.publicKey, entitlement: BOB_ENTITLEMENT }), AuditStateError, 'ERR_AUDIT_STATE');
    expectError(() => tlm.registerVerifier({ id: 'bob', kemPublicKey: BOB.publicKey, entitlement: ALICE_ENTITLEMENT }), AuditStateError, 'ERR_AUDIT_STATE');
    expectError(() => tlm.registerVerifier({ id: 'bob', kemPublicKey: flipBit(BOB.publicKey, 8 * 100), entitlement: BOB_ENTITLEMENT }), AuditStateError, 'ERR_AUDIT_STATE');
    // Registering the same verifier again is a no-op.
    tlm.registerVerifier({ id: 'bob', kemPublicKey: BOB.publicKey.slice(), entitlement: BOB_ENTITLEMENT });
    expect(tlm.verifiers().map((v) => v.id)).toEqual(['alice', 'bob']);
    // Bob is still Bob: still denied Alice's categories, his key still opens only with his secret.
    expectError(() => tlm.releaseKey('bob', 3, entryAt(entries, 3).categoryMask, tree.size), AuditAccessDeniedError, 'ERR_AUDIT_ACCESS_DENIED');
    const wrapped = tlm.releaseKey('bob', 2, entryAt(entries, 2).categoryMask, tree.size);
    expect(unwrapEntryKey(BOB.secretKey, LOG_ID, 2, entryAt(entries, 2).categoryMask, wrapped)).toHaveLength(32);
    expectError(() => unwrapEntryKey(ALICE.secretKey, LOG_ID, 2, entryAt(entries, 2).categoryMask, wrapped), DecryptionFailedError, 'ERR_DECRYPTION_FAILED');
  });

  it('refuses malformed registrations', () => {
    const tlm = newTlm();
    const good = { id: 'dave', kemPublicKey: ALICE.publicKey, entitlement: AuditCategory.GROUP };
    const badIds = ['', 'has space', 'tab\there', 'new\nline', 'x'.repeat(129), 'caf\u00e9', '\u0000', 42 as unknown as string];
    for (const id of badIds) expectError(() => tlm.registerVerifier({ ...good, id }), AuditFormatError, 'ERR_AUDIT_FORMAT');
    const publicKeyBytes = kemSuite.params.kemPublicKeyBytes;
    const badKeys = [
      new Uint8Array(0),
      new Uint8Array(publicKeyBytes - 1),
      new Uint8Array(publicKeyBytes + 1),
      getSuite(2).kem.keygen().publicKey,
      Array.from(ALICE.publicKey) as unknown as Uint8Array,
    ];
    for (const kemPublicKey of badKeys) expectError(() => tlm.registerVerifier({ ...good, kemPublicKey }), AuditFormatError, 'ERR_AUDIT_FORMAT');
    for (const entitlement of [0, -1, 1.5, 2 ** 32, Number.NaN, '4' as unknown as number]) {
      expectError(() => tlm.registerVerifier({ ...good, entitlement }), AuditFormatError, 'ERR_AUDIT_FORMAT');
    }
    expect(tlm.verifiers()).toEqual([]);
    // The bounds themselves are accepted.
    tlm.registerVerifier({ ...good, id: 'y'.repeat(128) });
    tlm.registerVerifier({ ...good, id: '!~', entitlement: 0xffff_ffff });
    expect(tlm.verifiers().map((v) => v.id)).toEqual(['y'.repeat(128), '!~']);
    // A bad registration handed back at restart is refused as well.
    expectError(() => newTlm({ verifiers: [{ ...good, entitlement: 0 }] }), AuditFormatError, 'ERR_AUDIT_FORMAT');
  });

  it('keeps its own copy of a registered key and of A_0', () => {
    const { entries, tree } = buildLog(4);
    const initialKey = A0.slice();
    const kemPublicKey = ALICE.publicKey.slice();
    const tlm = newTlm({ initialKey, verifiers: [{ id: 'alice', kemPublicKey, entitlement: ALICE_ENTITLEMENT }] });
    tlm.signCheckpoint(tree.size, tree.root());
    initialKey.fill(0);
    kemPublicKey.fill(0);
    const exported = tlm.verifiers();
    (exported[0] as { kemPublicKey: Uint8Array }).kemPublicKey.fill(0);
    const mask = entryAt(entries, 1).categoryMask;
    const key = unwrapEntryKey(ALICE.secretKey, LOG_ID, 1, mask, tlm.releaseKey('alice', 1, mask, tree.size));
    const report = verifyEntries({ logId: LOG_ID, entries, keys: (i) => (i === 1 ? { entryKey: key } : undefined) });
    expect(report.ok).toBe(true);
    expect(report.decrypted.map((e) => new TextDecoder().decode(e.plaintext))).toEqual(['event 1']);
  });
});

describe('TLM key release', () => {
  it('releases to an entitled verifier the key that decrypts exactly that entry', () => {
    const { entries, plaintexts, tree, tlm } = tlmWithLog(8);
    for (let i = 0; i < entries.length; i++) {
      const { categoryMask } = entryAt(entries, i);
      const wrapped = tlm.releaseKey('alice', i, categoryMask, tree.size);
      expect(wrapped).toMatchObject({ index: i, categoryMask });
      const entryKey = unwrapEntryKey(ALICE.secretKey, LOG_ID, i, categoryMask, wrapped);
      const asked: number[] = [];
      const report = verifyEntries({
        logId: LOG_ID,
        entries,
        checkpoint: { size: tree.size, rootHash: tree.root() },
        keys: (index, mask) => {
          asked.push(index);
          return index === i && mask === categoryMask ? { entryKey: entryKey.slice() } : undefined;
        },
      });
      expect(report.failures).toEqual([]);
      expect(report.decrypted).toHaveLength(1);
      expect(report.decrypted[0]).toMatchObject({ index: i, categoryMask, macChecked: false });
      expect(new TextDecoder().decode(report.decrypted[0]?.plaintext)).toBe(plaintexts[i]);
      expect(asked).toEqual(entries.map((_, j) => j));
      // K_i opens no other entry.
      for (let k = 0; k < entries.length; k++) {
        if (k === i) continue;
        const other = verifyEntries({ logId: LOG_ID, entries, keys: (index) => (index === k ? { entryKey: entryKey.slice() } : undefined) });
        expect(other.failures, `K_${i} on entry ${k}`).toEqual([expect.objectContaining({ index: k, reason: 'decrypt' })]);
      }
    }
  });

  it("cannot be opened with another verifier's secret key, nor after tampering", () => {
    const { entries, tree, tlm } = tlmWithLog(4);
    const { categoryMask } = entryAt(entries, 2);
    const forAlice = tlm.releaseKey('alice', 2, categoryMask, tree.size);
    const forBob = tlm.releaseKey('bob', 2, categoryMask, tree.size);
    // Both open to the same K_2, each only with its own secret key.
    expect(unwrapEntryKey(ALICE.secretKey, LOG_ID, 2, categoryMask, forAlice)).toEqual(unwrapEntryKey(BOB.secretKey, LOG_ID, 2, categoryMask, forBob));
    expectError(() => unwrapEntryKey(BOB.secretKey, LOG_ID, 2, categoryMask, forAlice), DecryptionFailedError, 'ERR_DECRYPTION_FAILED');
    expectError(() => unwrapEntryKey(ALICE.secretKey, LOG_ID, 2, categoryMask, forBob), DecryptionFailedError, 'ERR_DECRYPTION_FAILED');
    // Mixing Bob's KEM ciphertext with Alice's sealed key (or the other way) fails too.
    const spliced: WrappedEntryKey = { ...forAlice, kemCiphertext: forBob.kemCiphertext };
    expectError(() => unwrapEntryKey(ALICE.secretKey, LOG_ID, 2, categoryMask, spliced), DecryptionFailedError, 'ERR_DECRYPTION_FAILED');
    expectError(() => unwrapEntryKey(BOB.secretKey, LOG_ID, 2, categoryMask, spliced), DecryptionFailedError, 'ERR_DECRYPTION_FAILED');
    // One flipped bit anywhere in the KEM ciphertext or the sealed key.
    for (const bit of [0, 7, 8 * 100 + 3, forAlice.kemCiphertext.length * 8 - 1]) {
      const tampered = { ...forAlice, kemCiphertext: flipBit(forAlice.kemCiphertext, bit) };
      expectError(() => unwrapEntryKey(ALICE.secretKey, LOG_ID, 2, categoryMask, tampered), DecryptionFailedError, 'ERR_DECRYPTION_FAILED');
    }
    for (let bit = 0; bit < forAlice.sealedKey.length * 8; bit += 13) {
      const tampered = { ...forAlice, sealedKey: flipBit(forAlice.sealedKey, bit) };
      expectError(() => unwrapEntryKey(ALICE.secretKey, LOG_ID, 2, categoryMask, tampered), DecryptionFailedError, 'ERR_DECRYPTION_FAILED');
    }
    // Each release is a fresh encapsulation.
    const again = tlm.releaseKey('alice', 2, categoryMask, tree.size);
    expect(again.kemCiphertext).not.toEqual(forAlice.kemCiphertext);
    expect(again.sealedKey).not.toEqual(forAlice.sealedKey);
  });

  it('does not open as the key of another entry, another mask or another log', () => {
    const { entries, tree, tlm } = tlmWithLog(8);
    const { categoryMask } = entryAt(entries, 2);
    const wrapped = tlm.releaseKey('alice', 2, categoryMask, tree.size);
    // Asked as entry 6 (same mask) or with another mask: the label does not match the request.
    expectError(() => unwrapEntryKey(ALICE.secretKey, LOG_ID, 6, categoryMask, wrapped), AuditFormatError, 'ERR_AUDIT_FORMAT');
    expectError(() => unwrapEntryKey(ALICE.secretKey, LOG_ID, 2, AuditCategory.HEARTBEAT, wrapped), AuditFormatError, 'ERR_AUDIT_FORMAT');
    // Relabelled to match the request: the binding in the KEM info and the AEAD's AD refuses it.
    expectError(() => unwrapEntryKey(ALICE.secretKey, LOG_ID, 6, categoryMask, { ...wrapped, index: 6 }), DecryptionFailedError, 'ERR_DECRYPTION_FAILED');
    const otherMask = AuditCategory.METADATA_READ | AuditCategory.BUNDLE_HANDOUT;
    expectError(() => unwrapEntryKey(ALICE.secretKey, LOG_ID, 3, otherMask, { ...wrapped, index: 3, categoryMask: otherMask }), DecryptionFailedError, 'ERR_DECRYPTION_FAILED');
    expectError(
      () => unwrapEntryKey(ALICE.secretKey, LOG_ID, 2, AuditCategory.HEARTBEAT, { ...wrapped, categoryMask: AuditCategory.HEARTBEAT }),
      DecryptionFailedError,
      'ERR_DECRYPTION_FAILED',
    );
    // Another log (another id, even a prefix of this one).
    for (const logId of [utf8('other.example/log'), LOG_ID.slice(0, -1), utf8(`${ORIGIN}/`)]) {
      expectError(() => unwrapEntryKey(ALICE.secretKey, logId, 2, categoryMask, wrapped), DecryptionFailedError, 'ERR_DECRYPTION_FAILED');
    }
    // The untampered answer still opens.
    expect(unwrapEntryKey(ALICE.secretKey, LOG_ID, 2, categoryMask, wrapped)).toHaveLength(32);
  });

  it('releases under a claimed mask only a key that opens no entry stored with another mask', () => {
    const { entries, tree, tlm } = tlmWithLog(8);
    // Entry 3 is METADATA_READ | BUNDLE_HANDOUT. Bob claims it is a plain BUNDLE_HANDOUT entry:
    // the TLM cannot tell from the request, but K_3 under that mask does not open the entry.
    const claimed = AuditCategory.BUNDLE_HANDOUT;
    const wrapped = tlm.releaseKey('bob', 3, claimed, tree.size);
    const key = unwrapEntryKey(BOB.secretKey, LOG_ID, 3, claimed, wrapped);
    const report = verifyEntries({ logId: LOG_ID, entries, keys: (index) => (index === 3 ? { entryKey: key } : undefined) });
    expect(report.decrypted).toEqual([]);
    expect(report.failures).toEqual([expect.objectContaining({ index: 3, reason: 'decrypt' })]);
    // A relabelled entry (mask set to what Bob may read) breaks the chain and still does not decrypt.
    const relabelled = entries.map((e, i) => (i === 3 ? { ...e, categoryMask: claimed } : e));
    const key2 = unwrapEntryKey(BOB.secretKey, LOG_ID, 3, claimed, tlm.releaseKey('bob', 3, claimed, tree.size));
    const forged = verifyEntries({ logId: LOG_ID, entries: relabelled, keys: (index) => (index === 3 ? { entryKey: key2 } : undefined) });
    expect(forged.decrypted).toEqual([]);
    expect(forged.failures.map((f) => [f.index, f.reason])).toEqual([
      [3, 'chain'],
      [3, 'decrypt'],
    ]);
  });

  it('refuses an index beyond the log size, a size beyond the last checkpoint, and bad indexes', () => {
    const { entries, tree, tlm } = tlmWithLog(8);
    const mask = AuditCategory.HEARTBEAT;
    expect(entryAt(entries, 4).categoryMask).toBe(mask);
    expectError(() => tlm.releaseKey('alice', 8, mask, 8), AuditFormatError, 'ERR_AUDIT_FORMAT');
    expectError(() => tlm.releaseKey('alice', 4, mask, 4), AuditFormatError, 'ERR_AUDIT_FORMAT');
    expectError(() => tlm.releaseKey('alice', 2 ** 40, mask, 8), AuditFormatError, 'ERR_AUDIT_FORMAT');
    for (const logSize of [0, -1, 1.5, Number.NaN, 2 ** 53]) {
      expectError(() => tlm.releaseKey('alice', 0, mask, logSize), AuditFormatError, 'ERR_AUDIT_FORMAT');
    }
    for (const index of [-1, 0.5, Number.NaN]) expectError(() => tlm.releaseKey('alice', index, mask, 8), AuditFormatError, 'ERR_AUDIT_FORMAT');
    // A caller claiming a larger log than the TLM checkpointed cannot make it derive keys that far.
    expectError(() => tlm.releaseKey('alice', 8, mask, 9), AuditStateError, 'ERR_AUDIT_STATE');
    expectError(() => tlm.releaseKey('alice', 2 ** 40, mask, 2 ** 40 + 1), AuditStateError, 'ERR_AUDIT_STATE');
    const fresh = newTlm();
    registerBoth(fresh);
    expectError(() => fresh.releaseKey('alice', 0, mask, 1), AuditStateError, 'ERR_AUDIT_STATE');
    // The last entry of the checkpointed log is released.
    const last = tlm.releaseKey('alice', 7, entryAt(entries, 7).categoryMask, tree.size);
    expect(unwrapEntryKey(ALICE.secretKey, LOG_ID, 7, entryAt(entries, 7).categoryMask, last)).toHaveLength(32);
  });
});

describe('TLM checkpoints', () => {
  it('refuses to sign a fork of the last checkpoint it signed', () => {
    const { tree } = buildLog(8);
    const { tree: forkTree } = buildLog(8, 'forged');
    const { signer, count } = countingSigner();
    const tlm = newTlm({ signer });
    const first = tlm.signCheckpoint(4, tree.rootAt(4));
    expect(openCheckpoint(first, [TLM_KEY], ORIGIN).checkpoint.size).toBe(4);
    expect(count()).toBe(1);

    const refusals: [string, () => unknown][] = [
      ['same size, other root', () => tlm.signCheckpoint(4, forkTree.rootAt(4))],
      ['smaller size', () => tlm.signCheckpoint(3, tree.rootAt(3))],
      ['empty tree', () => tlm.signCheckpoint(0, emptyRoot())],
      ['larger, no evidence', () => tlm.signCheckpoint(8, tree.root())],
      ['larger, fork with its own tree as evidence', () => tlm.signCheckpoint(8, forkTree.root(), { tree: forkTree })],
      ['larger, fork with a proof from its own tree', () => tlm.signCheckpoint(8, forkTree.root(), { proof: forkTree.consistencyProof(4, 8) })],
      ['larger, right root, proof of the fork', () => tlm.signCheckpoint(8, tree.root(), { proof: forkTree.consistencyProof(4, 8) })],
      ['larger, fork root with the honest proof', () => tlm.signCheckpoint(8, forkTree.root(), { proof: tree.consistencyProof(4, 8) })],
      ['larger, empty proof', () => tlm.signCheckpoint(8, tree.root(), { proof: [] })],
      ['larger, proof with a flipped bit', () => tlm.signCheckpoint(8, tree.root(), { proof: tree.consistencyProof(4, 8).map((h, i) => (i === 0 ? flipBit(h, 5) : h)) })],
    ];
    for (const [what, attempt] of refusals) {
      const error = expectError(attempt, InconsistentCheckpointError, 'ERR_AUDIT_CHECKPOINT_INCONSISTENT');
      expect(error.message, what).not.toBe('');
    }
    expect(count()).toBe(1);
    expect(tlm.lastSigned?.size).toBe(4);
    expect(tlm.lastSigned?.rootHash).toEqual(tree.rootAt(4));

    // Same checkpoint again, and a real extension with its proof, are signed.
    tlm.signCheckpoint(4, tree.rootAt(4));
    const extended = tlm.signCheckpoint(8, tree.root(), { proof: tree.consistencyProof(4, 8) });
    expect(openCheckpoint(extended, [TLM_KEY], ORIGIN).checkpoint.rootHash).toEqual(tree.root());
    expect(count()).toBe(3);
    // The returned lastSigned is a copy: mutating it changes nothing.
    const copy = tlm.lastSigned;
    expect(copy).toBeDefined();
    copy?.rootHash.fill(0);
    expect(tlm.lastSigned?.rootHash).toEqual(tree.root());
    // Malformed requests are refused without a signature.
    expectError(() => tlm.signCheckpoint(9, new Uint8Array(31)), CheckpointFormatError, 'ERR_AUDIT_CHECKPOINT_FORMAT');
    expectError(() => tlm.signCheckpoint(-1, tree.root()), CheckpointFormatError, 'ERR_AUDIT_CHECKPOINT_FORMAT');
    expectError(() => newTlm().signCheckpoint(0, tree.root()), InconsistentCheckpointError, 'ERR_AUDIT_CHECKPOINT_INCONSISTENT');
    expect(count()).toBe(3);
  });

  it('keeps the fork rule and the registry across a restart', () => {
    const { entries, tree } = buildLog(8);
    const { tree: forkTree } = buildLog(8, 'forged');
    const before = newTlm();
    registerBoth(before);
    before.signCheckpoint(6, tree.rootAt(6));
    const persisted = { lastSigned: before.lastSigned, verifiers: before.verifiers() };
    before.dispose();

    const after = newTlm({ ...(persisted.lastSigned ? { lastSigned: persisted.lastSigned } : {}), verifiers: persisted.verifiers });
    expect(after.lastSigned?.size).toBe(6);
    expectError(() => after.signCheckpoint(6, forkTree.rootAt(6)), InconsistentCheckpointError, 'ERR_AUDIT_CHECKPOINT_INCONSISTENT');
    expectError(() => after.signCheckpoint(5, tree.rootAt(5)), InconsistentCheckpointError, 'ERR_AUDIT_CHECKPOINT_INCONSISTENT');
    expectError(() => after.signCheckpoint(8, tree.root()), InconsistentCheckpointError, 'ERR_AUDIT_CHECKPOINT_INCONSISTENT');
    expectError(() => after.signCheckpoint(8, forkTree.root(), { tree: forkTree }), InconsistentCheckpointError, 'ERR_AUDIT_CHECKPOINT_INCONSISTENT');
    // The attestation after the restart names the checkpoint signed before it.
    const statement = verifyAttestation(after.attest(nonce(11)), { key: TLM_KEY, nonce: nonce(11), expectedCodeDigest: CODE_DIGEST });
    expect(statement.checkpoint).toEqual({ size: 6, rootHash: tree.rootAt(6) });

    // The verifiers are still registered, with the same entitlements and keys.
    expect(after.verifiers()).toEqual(persisted.verifiers);
    expectError(() => after.releaseKey('bob', 3, entryAt(entries, 3).categoryMask, 6), AuditAccessDeniedError, 'ERR_AUDIT_ACCESS_DENIED');
    expectError(() => after.releaseKey('carol', 2, entryAt(entries, 2).categoryMask, 6), AuditAccessDeniedError, 'ERR_AUDIT_ACCESS_DENIED');
    expectError(() => after.registerVerifier({ id: 'alice', kemPublicKey: BOB.publicKey, entitlement: ALICE_ENTITLEMENT }), AuditStateError, 'ERR_AUDIT_STATE');
    const { categoryMask } = entryAt(entries, 3);
    const key = unwrapEntryKey(ALICE.secretKey, LOG_ID, 3, categoryMask, after.releaseKey('alice', 3, categoryMask, 6));
    const report = verifyEntries({ logId: LOG_ID, entries, keys: (i) => (i === 3 ? { entryKey: key } : undefined) });
    expect(report.decrypted.map((e) => new TextDecoder().decode(e.plaintext))).toEqual(['event 3']);

    // Growing the log with a proof still works after the restart.
    after.signCheckpoint(8, tree.root(), { tree });
    expect(after.lastSigned?.size).toBe(8);
    // A lastSigned of another log is refused at restart.
    expectError(
      () => newTlm({ lastSigned: { origin: 'other.example/log', size: 6, rootHash: tree.rootAt(6), extensions: [] } }),
      CheckpointFormatError,
      'ERR_AUDIT_CHECKPOINT_FORMAT',
    );
  });
});

describe('TLM MAC verification', () => {
  it('signs "MAC-verified up to n-1" over a good log', () => {
    const { entries, tlm } = tlmWithLog(8);
    for (const n of [1, 5, 8]) {
      const note = tlm.verifyMacs(entries.slice(0, n));
      const { text, verifiedBy } = openNote(note, [TLM_KEY]);
      expect(verifiedBy).toEqual([ORIGIN]);
      expect(text).toBe(`${MAC_STATEMENT_HEADER}\n${ORIGIN}\nup-to ${n - 1}\n`);
      expect(() => openNote(note, [OTHER_KEY])).toThrow();
    }
    expectError(() => tlm.verifyMacs([]), AuditFormatError, 'ERR_AUDIT_FORMAT');
  });

  it('checks a log page by page, each entry once, and signs the same statement as a whole pass', () => {
    const { entries, tlm } = tlmWithLog(8);
    expectError(() => tlm.signMacStatement(), AuditFormatError, 'ERR_AUDIT_FORMAT');
    expect(tlm.verifyMacsContinuing(entries.slice(0, 3))).toBe(3);
    expect(tlm.verifyMacsContinuing(entries.slice(3, 5))).toBe(5);
    expect(openNote(tlm.signMacStatement(), [TLM_KEY]).text).toBe(`${MAC_STATEMENT_HEADER}\n${ORIGIN}\nup-to 4\n`);
    // A page that does not continue where the last ended (a gap, a repeat) fails and advances nothing.
    expectError(() => tlm.verifyMacsContinuing(entries.slice(6, 8)), AuditStateError, 'ERR_AUDIT_STATE');
    expectError(() => tlm.verifyMacsContinuing(entries.slice(4, 6)), AuditStateError, 'ERR_AUDIT_STATE');
    expect(tlm.macVerifiedCount).toBe(5);
    // A tampered entry in the next page fails there; the good page after it is then accepted.
    const tampered = { ...entryAt(entries, 5), mac: flipBit(entryAt(entries, 5).mac, 3) };
    const error = expectError(() => tlm.verifyMacsContinuing([tampered, entryAt(entries, 6)]), AuditStateError, 'ERR_AUDIT_STATE');
    expect(error.message).toContain('entry 5 ');
    // A rewritten earlier entry cannot be slipped in: the chain continues from the stored Y_4.
    const { entries: otherLog } = buildLog(8, 'other');
    expectError(() => tlm.verifyMacsContinuing(otherLog.slice(5, 8)), AuditStateError, 'ERR_AUDIT_STATE');
    expect(tlm.verifyMacsContinuing(entries.slice(5, 8))).toBe(8);
    expect(openNote(tlm.signMacStatement(), [TLM_KEY]).text).toBe(`${MAC_STATEMENT_HEADER}\n${ORIGIN}\nup-to 7\n`);
  });

  it('throws and signs nothing when one bit of any entry is flipped', () => {
    const { entries } = buildLog(6);
    const { signer, count } = countingSigner();
    const tlm = newTlm({ signer });
    expect(openNote(tlm.verifyMacs(entries), [TLM_KEY]).text).toContain('up-to 5');
    expect(count()).toBe(1);
    let attempts = 0;
    for (let j = 0; j < entries.length; j++) {
      const entry = entryAt(entries, j);
      const fields: [keyof AuditEntry, Uint8Array][] = [
        ['mac', entry.mac],
        ['ciphertext', entry.ciphertext],
        ['nonce', entry.nonce],
        ['chainHash', entry.chainHash],
      ];
      for (const [field, bytes] of fields) {
        for (const bit of [0, bytes.length * 4 + 1, bytes.length * 8 - 1]) {
          const tampered = entries.map((e, i) => (i === j ? { ...e, [field]: flipBit(bytes, bit) } : e));
          const error = expectError(() => tlm.verifyMacs(tampered), AuditStateError, 'ERR_AUDIT_STATE');
          expect(error.message, `${field} bit ${bit} of entry ${j}`).toContain(`entry ${j} `);
          attempts++;
        }
      }
      // A changed time or mask, too.
      const later = entries.map((e, i) => (i === j ? { ...e, time: e.time + 1 } : e));
      expectError(() => tlm.verifyMacs(later), AuditStateError, 'ERR_AUDIT_STATE');
      const relabelled = entries.map((e, i) => (i === j ? { ...e, categoryMask: e.categoryMask ^ AuditCategory.GROUP } : e));
      expectError(() => tlm.verifyMacs(relabelled), AuditStateError, 'ERR_AUDIT_STATE');
    }
    expect(attempts).toBe(6 * 4 * 3);
    // Deleted, reordered or foreign entries.
    expectError(() => tlm.verifyMacs([...entries.slice(0, 2), ...entries.slice(3)]), AuditStateError, 'ERR_AUDIT_STATE');
    expectError(() => tlm.verifyMacs(entries.slice(1)), AuditStateError, 'ERR_AUDIT_STATE');
    const swapped = [...entries];
    [swapped[1], swapped[2]] = [entryAt(entries, 2), entryAt(entries, 1)];
    expect(() => tlm.verifyMacs(swapped)).toThrow(AuditStateError);
    const otherLog = LogWriter.create({ logId: LOG_ID, initialKey: new Uint8Array(32).fill(0x11) });
    const foreign = otherLog.append(AuditCategory.HEARTBEAT, utf8('event 0'), T0).entry;
    expectError(() => tlm.verifyMacs([foreign]), AuditStateError, 'ERR_AUDIT_STATE');
    expect(count()).toBe(1);
    // The intact log still verifies afterwards.
    expect(openNote(tlm.verifyMacs(entries), [TLM_KEY]).text).toContain('up-to 5');
    expect(count()).toBe(2);
  });
});

describe('TLM dispose', () => {
  it('refuses every later call', () => {
    const { entries, tree, tlm } = tlmWithLog(4);
    const { signer, count } = countingSigner();
    const counted = newTlm({ signer, verifiers: tlm.verifiers(), ...(tlm.lastSigned ? { lastSigned: tlm.lastSigned } : {}) });
    const signedBefore = count();
    for (const module of [tlm, counted]) {
      module.dispose();
      const mask = entryAt(entries, 2).categoryMask;
      expectError(() => module.releaseKey('alice', 2, mask, tree.size), AuditStateError, 'ERR_AUDIT_STATE');
      expectError(() => module.verifyMacs(entries), AuditStateError, 'ERR_AUDIT_STATE');
      expectError(() => module.attest(nonce(12)), AuditStateError, 'ERR_AUDIT_STATE');
      expectError(() => module.signCheckpoint(tree.size, tree.root()), AuditStateError, 'ERR_AUDIT_STATE');
      expectError(() => module.registerVerifier({ id: 'carol', kemPublicKey: BOB.publicKey, entitlement: AuditCategory.GROUP }), AuditStateError, 'ERR_AUDIT_STATE');
      // A second dispose is harmless, and still refuses.
      module.dispose();
      expectError(() => module.releaseKey('alice', 2, mask, tree.size), AuditStateError, 'ERR_AUDIT_STATE');
    }
    expect(count()).toBe(signedBefore);
  });
});
