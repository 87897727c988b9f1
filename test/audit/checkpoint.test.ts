// C2SP tlog-checkpoint text (strict parse, round trip), signed checkpoints under the default
// ML-DSA-87 key and Ed25519, and the CheckpointSigner's one rule: never sign a checkpoint that is
// inconsistent with the last one it signed.
import { createHash } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { type Checkpoint, CheckpointSigner, formatCheckpoint, openCheckpoint, parseCheckpoint } from '../../src/audit/checkpoint.js';
import { CheckpointFormatError, InconsistentCheckpointError, NoteSignatureError } from '../../src/errors.js';
import { MemoryMerkleStore, MerkleTree } from '../../src/audit/merkle-tree.js';
import { emptyRoot, leafHash } from '../../src/audit/merkle.js';
import { noteSigner, parseNote } from '../../src/audit/signed-note.js';
import { getSuite } from '../../src/crypto/index.js';

const ORIGIN = 'audit.pqe2ee.example/log';
const ROOT = new Uint8Array(createHash('sha256').update('root').digest());

function tlmSigner(suiteId: 1 | 2 = 1, seedByte = 1) {
  const suite = getSuite(suiteId);
  return noteSigner(suiteId, ORIGIN, suite.sig.keygenFromSeed(new Uint8Array(suite.params.sigSeedBytes).fill(seedByte)));
}

function growingTree(): { tree: MerkleTree; add: (count: number) => Checkpoint } {
  const store = new MemoryMerkleStore();
  const tree = MerkleTree.open(store, 0);
  return {
    tree,
    add: (count) => {
      for (let i = 0; i < count; i++) store.put(tree.append(leafHash(new TextEncoder().encode(`entry ${tree.size}`))));
      return { origin: ORIGIN, size: tree.size, rootHash: tree.root(), extensions: [] };
    },
  };
}

describe('checkpoint text (c2sp.org/tlog-checkpoint)', () => {
  it('formats the three lines and extensions, and parses them back', () => {
    const checkpoint: Checkpoint = { origin: ORIGIN, size: 20852163, rootHash: ROOT, extensions: [] };
    const text = formatCheckpoint(checkpoint);
    expect(text).toBe(`${ORIGIN}\n20852163\n${Buffer.from(ROOT).toString('base64')}\n`);
    expect(parseCheckpoint(text)).toEqual(checkpoint);
    const extended = { ...checkpoint, extensions: ['ext one', 'ext two'] };
    expect(parseCheckpoint(formatCheckpoint(extended))).toEqual(extended);
    expect(parseCheckpoint(`${ORIGIN}\n0\n${Buffer.from(emptyRoot()).toString('base64')}\n`).size).toBe(0);
    expect(parseCheckpoint(`${ORIGIN}\n${2 ** 53 - 1}\n${Buffer.from(ROOT).toString('base64')}\n`).size).toBe(2 ** 53 - 1);
  });

  it('parses the spec example body', () => {
    const text = 'example.com/behind-the-sofa\n20852163\nCsUYapGGPo4dkMgIAUqom/Xajj7h2fB2MPA3j2jxq2I=\n';
    expect(parseCheckpoint(text)).toMatchObject({ origin: 'example.com/behind-the-sofa', size: 20852163, extensions: [] });
  });

  it('rejects malformed text with CheckpointFormatError', () => {
    const root = Buffer.from(ROOT).toString('base64');
    const bad = [
      `${ORIGIN}\n5\n${root}`, // no final newline
      `${ORIGIN}\n5\n`, // two lines
      `\n5\n${root}\n`, // empty origin
      `${ORIGIN}\n05\n${root}\n`, // leading zero
      `${ORIGIN}\n-5\n${root}\n`,
      `${ORIGIN}\n+5\n${root}\n`,
      `${ORIGIN}\n 5\n${root}\n`,
      `${ORIGIN}\n5.0\n${root}\n`,
      `${ORIGIN}\n0x5\n${root}\n`,
      `${ORIGIN}\n${2 ** 53}\n${root}\n`, // beyond exact integers
      `${ORIGIN}\n18446744073709551615\n${root}\n`,
      `${ORIGIN}\n5\n${root.slice(0, -1)}\n`, // broken base64
      `${ORIGIN}\n5\n${Buffer.from(ROOT.slice(1)).toString('base64')}\n`, // 31-byte root
      `${ORIGIN}\n5\n${root}\n\n`, // empty extension line
      `${ORIGIN}\n5\n${root}\r\n`, // CR
      `${ORIGIN}\r\n5\n${root}\n`,
      `${ORIGIN}\n5\n${root}\n${Array.from({ length: 17 }, (_, i) => `e${i}`).join('\n')}\n`, // too many extensions
      `${'o'.repeat(513)}\n5\n${root}\n`, // origin too long
    ];
    for (const text of bad) expect(() => parseCheckpoint(text), JSON.stringify(text.slice(0, 60))).toThrow(CheckpointFormatError);
    expect(() => formatCheckpoint({ origin: 'a\nb', size: 1, rootHash: ROOT, extensions: [] })).toThrow(CheckpointFormatError);
    expect(() => formatCheckpoint({ origin: ORIGIN, size: -1, rootHash: ROOT, extensions: [] })).toThrow(CheckpointFormatError);
    expect(() => formatCheckpoint({ origin: ORIGIN, size: 1, rootHash: ROOT, extensions: [''] })).toThrow(CheckpointFormatError);
  });
});

describe('signed checkpoints and CheckpointSigner', () => {
  it.each([1, 2] as const)('signs with suite %i, round-trips, and rejects tampered notes', (suiteId) => {
    const signer = tlmSigner(suiteId);
    const { tree, add } = growingTree();
    const checkpoint = add(10);
    const note = new CheckpointSigner({ signer, origin: ORIGIN }).sign(checkpoint);
    expect(note.startsWith(formatCheckpoint(checkpoint))).toBe(true);
    const opened = openCheckpoint(note, [signer], ORIGIN);
    expect(opened.checkpoint).toEqual(checkpoint);
    expect(opened.verifiedBy).toEqual([ORIGIN]);
    expect(tree.size).toBe(10);

    const tamperedSize = note.replace(`\n10\n`, `\n11\n`);
    expect(() => openCheckpoint(tamperedSize, [signer], ORIGIN)).toThrow(NoteSignatureError);
    const otherRoot = Buffer.from(ROOT).toString('base64');
    const tamperedRoot = note.replace(Buffer.from(checkpoint.rootHash).toString('base64'), otherRoot);
    expect(() => openCheckpoint(tamperedRoot, [signer], ORIGIN)).toThrow(NoteSignatureError);
    const withExtension = note.replace('\n\n', '\nextension\n\n');
    expect(() => openCheckpoint(withExtension, [signer], ORIGIN)).toThrow(NoteSignatureError);
    expect(() => openCheckpoint(note, [tlmSigner(suiteId, 2)], ORIGIN)).toThrow(NoteSignatureError);
    expect(() => openCheckpoint(note, [signer], 'another.example/log')).toThrow(CheckpointFormatError);
    const line = parseNote(note).signatures[0];
    expect(line?.signature.length).toBe(getSuite(suiteId).params.signatureBytes);
  });

  it('signs a growing log given the tree or a proof, and refuses everything inconsistent', () => {
    const signer = tlmSigner(2);
    const tlm = new CheckpointSigner({ signer, origin: ORIGIN });
    const { tree, add } = growingTree();
    const first = add(5);
    tlm.sign(first);
    const second = add(3);
    tlm.sign(second, { tree });
    tlm.sign(second); // the same head again: same size, same root
    const third = add(9);
    tlm.sign(third, { proof: tree.consistencyProof(second.size, third.size) });
    expect(tlm.lastSigned).toEqual(third);

    // Smaller size: a log never shrinks.
    expect(() => tlm.sign(first, { tree })).toThrow(InconsistentCheckpointError);
    // Same size, other root: a fork.
    expect(() => tlm.sign({ ...third, rootHash: ROOT })).toThrow(InconsistentCheckpointError);
    // Larger, but no evidence, a proof for other sizes, or a root that the proof does not lead to.
    const fourth = add(4);
    expect(() => tlm.sign(fourth)).toThrow(InconsistentCheckpointError);
    expect(() => tlm.sign(fourth, { proof: tree.consistencyProof(second.size, fourth.size) })).toThrow(InconsistentCheckpointError);
    expect(() => tlm.sign({ ...fourth, rootHash: ROOT }, { tree })).toThrow(InconsistentCheckpointError);
    // A tree (store) that lies about the proof does not get a fork signed either.
    const liar = { consistencyProof: () => [ROOT] };
    expect(() => tlm.sign({ ...fourth, rootHash: ROOT }, { tree: liar })).toThrow(InconsistentCheckpointError);
    // Another log's checkpoint.
    expect(() => tlm.sign({ ...fourth, origin: 'other.example/log' }, { tree })).toThrow(InconsistentCheckpointError);
    // None of the refusals moved the signer.
    expect(tlm.lastSigned).toEqual(third);
    tlm.sign(fourth, { tree });
    expect(tlm.lastSigned).toEqual(fourth);
  });

  it('keeps refusing a fork after a restart from the persisted last checkpoint', () => {
    const signer = tlmSigner(2);
    const { tree, add } = growingTree();
    const signed = add(6);
    const note = new CheckpointSigner({ signer, origin: ORIGIN }).sign(signed);
    const lastSigned = openCheckpoint(note, [signer], ORIGIN).checkpoint;
    const restarted = new CheckpointSigner({ signer, origin: ORIGIN, lastSigned });
    // A forked history of the same size: same first five entries, a different sixth.
    const fork = MerkleTree.open(new MemoryMerkleStore(), 0);
    for (let i = 0; i < 5; i++) fork.append(leafHash(new TextEncoder().encode(`entry ${i}`)));
    fork.append(leafHash(new TextEncoder().encode('forged entry')));
    expect(() => restarted.sign({ origin: ORIGIN, size: 6, rootHash: fork.root(), extensions: [] })).toThrow(InconsistentCheckpointError);
    restarted.sign(add(1), { tree });
    expect(() => new CheckpointSigner({ signer, origin: 'other.example', lastSigned })).toThrow(CheckpointFormatError);
  });

  it('starts from the empty tree: size 0 must carry the empty root, and anything extends it', () => {
    const tlm = new CheckpointSigner({ signer: tlmSigner(2), origin: ORIGIN });
    expect(() => tlm.sign({ origin: ORIGIN, size: 0, rootHash: ROOT, extensions: [] })).toThrow(InconsistentCheckpointError);
    tlm.sign({ origin: ORIGIN, size: 0, rootHash: emptyRoot(), extensions: [] });
    const { add } = growingTree();
    tlm.sign(add(3));
    expect(tlm.lastSigned?.size).toBe(3);
  });
});
