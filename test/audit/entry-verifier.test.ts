// What the verifier catches, end to end over the pure core: a SAM log written by LogWriter, its
// Merkle tree, a checkpoint signed by the TLM's CheckpointSigner, keys from the TLM's deriver.
// Every bit flipped in any stored entry is reported at that entry's index; a deleted middle entry
// at its index; a truncated tail against a later checkpoint or by the missing heartbeat.
import { describe, expect, it } from 'vitest';
import { AuditCategory, entitlementCovers } from '../../src/audit/categories.js';
import { CheckpointSigner, openCheckpoint } from '../../src/audit/checkpoint.js';
import { LogWriter } from '../../src/audit/entries.js';
import { type AuditEntry, decodeEntry, encodeEntry, nextChainHash } from '../../src/audit/entry-format.js';
import { verifyEntries, type VerifyEntriesOptions } from '../../src/audit/entry-verifier.js';
import { AuditFormatError } from '../../src/errors.js';
import { EntryKeyDeriver } from '../../src/audit/key-schedule.js';
import { MemoryMerkleStore, MerkleTree } from '../../src/audit/merkle-tree.js';
import { leafHash, verifyInclusion } from '../../src/audit/merkle.js';
import { noteSigner } from '../../src/audit/signed-note.js';
import { getSuite } from '../../src/crypto/index.js';

const ORIGIN = 'audit.pqe2ee.example/log';
const LOG_ID = new TextEncoder().encode(ORIGIN);
const A0 = new Uint8Array(32).fill(0x5a);
const T0 = 1_750_000_000_000;
const HEARTBEAT_MS = 60_000;
const utf8 = (text: string): Uint8Array => new TextEncoder().encode(text);

/** A small log: events between heartbeats, each minute a heartbeat; its tree and a signed checkpoint. */
function buildLog(count = 8) {
  const writer = LogWriter.create({ logId: LOG_ID, initialKey: A0 });
  const store = new MemoryMerkleStore();
  const tree = MerkleTree.open(store, 0);
  const stored: Uint8Array[] = [];
  const masks = [AuditCategory.HEARTBEAT, AuditCategory.KEY_PUBLICATION, AuditCategory.BUNDLE_HANDOUT, AuditCategory.METADATA_READ | AuditCategory.BUNDLE_HANDOUT];
  for (let i = 0; i < count; i++) {
    const mask = masks[i % masks.length] as number;
    const result = writer.append(mask, utf8(`event ${i}`), T0 + i * (HEARTBEAT_MS / 4));
    store.put(tree.append(result.leafHash));
    stored.push(result.encodedEntry.slice());
    writer.commit();
  }
  const suite = getSuite(2);
  const signer = noteSigner(2, ORIGIN, suite.sig.keygenFromSeed(new Uint8Array(32).fill(9)));
  const note = new CheckpointSigner({ signer, origin: ORIGIN }).sign({ origin: ORIGIN, size: tree.size, rootHash: tree.root(), extensions: [] });
  const { checkpoint } = openCheckpoint(note, [signer], ORIGIN);
  return { stored, tree, checkpoint, lastTime: writer.lastTime };
}

const deriver = new EntryKeyDeriver({ logId: LOG_ID, initialKey: A0, maxIndex: 63 });
// The TLM's keys, memoised (the verifier zeroes what it is given, so each call gets copies).
const keyCache = new Map<string, { entryKey: Uint8Array; macKey: Uint8Array }>();
const allKeys: VerifyEntriesOptions['keys'] = (index, mask) => {
  const id = `${index}/${mask}`;
  let keys = keyCache.get(id);
  if (!keys) {
    keys = deriver.keysFor(index, mask);
    keyCache.set(id, keys);
  }
  return { entryKey: keys.entryKey.slice(), macKey: keys.macKey.slice() };
};

/** Decodes stored bytes the way a verifier reading the log would; a decode failure is detection at that index. */
function read(stored: Uint8Array[]): { entries: AuditEntry[]; undecodable?: number } {
  const entries: AuditEntry[] = [];
  for (let j = 0; j < stored.length; j++) {
    try {
      entries.push(decodeEntry(stored[j] as Uint8Array));
    } catch (error) {
      expect(error).toBeInstanceOf(AuditFormatError);
      return { entries, undecodable: j };
    }
  }
  return { entries };
}

describe('verifyEntries', () => {
  it('accepts the intact log under every check, and decrypts it', () => {
    const { stored, checkpoint, lastTime } = buildLog();
    const report = verifyEntries({
      logId: LOG_ID,
      entries: stored.map(decodeEntry),
      keys: allKeys,
      checkpoint,
      heartbeat: { intervalMs: HEARTBEAT_MS, now: lastTime + 1000 },
    });
    expect(report.failures).toEqual([]);
    expect(report.ok).toBe(true);
    expect(report.decrypted.map((e) => new TextDecoder().decode(e.plaintext))).toEqual(stored.map((_, i) => `event ${i}`));
  });

  it('reports a bit flipped anywhere in any stored entry at that index', () => {
    const { stored, checkpoint } = buildLog(5);
    let flips = 0;
    let undecodable = 0;
    for (let j = 0; j < stored.length; j++) {
      const length = (stored[j] as Uint8Array).length;
      for (let bit = 0; bit < length * 8; bit++) {
        const tampered = stored.map((bytes) => bytes.slice());
        const target = tampered[j] as Uint8Array;
        target[bit >> 3] = (target[bit >> 3] as number) ^ (1 << (bit & 7));
        flips++;
        const { entries, undecodable: at } = read(tampered);
        if (at !== undefined) {
          expect(at).toBe(j);
          undecodable++;
          continue;
        }
        // With the TLM's keys every flip shows at j; the checkpoint root catches it as well.
        const full = verifyEntries({ logId: LOG_ID, entries, keys: allKeys, checkpoint });
        expect(full.ok, `bit ${bit} of entry ${j}`).toBe(false);
        expect(full.failures[0]?.index, `bit ${bit} of entry ${j}`).toBe(j);
        expect(full.failures.some((f) => f.reason === 'root')).toBe(true);
        // Without keys: every public field is in the chain, so the flip shows at j — except in Z_j
        // (the last 32 bytes), which only the MAC key or the checkpoint can check.
        const keyless = verifyEntries({ logId: LOG_ID, entries });
        if (bit >= (length - 32) * 8) expect(keyless.ok).toBe(true);
        else expect(keyless.failures[0]?.index, `bit ${bit} of entry ${j} without keys`).toBe(j);
      }
    }
    expect(flips).toBeGreaterThan(5 * 100 * 8);
    expect(undecodable).toBeGreaterThan(0);
  });

  it('reports a deleted middle entry at its index, and a swap', () => {
    const { stored, checkpoint } = buildLog();
    const entries = stored.map(decodeEntry);
    const deleted = [...entries.slice(0, 3), ...entries.slice(4)];
    const report = verifyEntries({ logId: LOG_ID, entries: deleted });
    expect(report.failures[0]).toMatchObject({ index: 3, reason: 'index' });
    expect(report.failures.some((f) => f.reason === 'chain' && f.index === 4)).toBe(true);
    expect(verifyEntries({ logId: LOG_ID, entries: deleted, checkpoint }).failures.map((f) => f.reason)).toContain('truncated');
    const swapped = [...entries];
    [swapped[5], swapped[6]] = [swapped[6] as AuditEntry, swapped[5] as AuditEntry];
    expect(verifyEntries({ logId: LOG_ID, entries: swapped }).failures[0]).toMatchObject({ index: 5, reason: 'index' });
  });

  it('detects a truncated tail against a later checkpoint, or by the missing heartbeat', () => {
    const { stored, checkpoint, lastTime } = buildLog(12);
    const truncated = stored.slice(0, 9).map(decodeEntry);
    // The chain alone cannot see a cut-off tail: a prefix of a valid chain is a valid chain.
    expect(verifyEntries({ logId: LOG_ID, entries: truncated }).ok).toBe(true);
    expect(verifyEntries({ logId: LOG_ID, entries: truncated, checkpoint }).failures).toEqual([expect.objectContaining({ index: 9, reason: 'truncated' })]);
    // Entries 0, 4, 8 are heartbeats, 15 s apart per entry; cut after entry 8 and check at a time
    // when entry 12's heartbeat is overdue.
    const heartbeat = { intervalMs: HEARTBEAT_MS, now: lastTime + HEARTBEAT_MS };
    const late = verifyEntries({ logId: LOG_ID, entries: truncated, heartbeat });
    expect(late.failures).toEqual([expect.objectContaining({ index: 9, reason: 'heartbeat' })]);
    const onTime = verifyEntries({ logId: LOG_ID, entries: stored.map(decodeEntry), heartbeat: { intervalMs: HEARTBEAT_MS, now: lastTime + 1000 } });
    expect(onTime.ok).toBe(true);
    // A missing heartbeat in the middle (entries 4..7 removed and the rest re-chained by an attacker
    // without keys) shows as a gap between heartbeats too.
    const gap = verifyEntries({ logId: LOG_ID, entries: [...truncated.slice(0, 4), ...truncated.slice(8)], heartbeat });
    expect(gap.failures.some((f) => f.reason === 'heartbeat' && f.index === 8)).toBe(true);
  });

  it('catches a consistently re-chained forgery only with a checkpoint or the keys, as documented', () => {
    const { stored, checkpoint } = buildLog();
    const entries = stored.map(decodeEntry);
    // An attacker without keys rewrites entry 6 and 7 with fresh ciphertext and recomputes Y.
    const forged = [...entries.slice(0, 6)];
    for (const original of entries.slice(6)) {
      const ciphertext = new Uint8Array(original.ciphertext.length).fill(0x42);
      const chainHash = nextChainHash((forged.at(-1) as AuditEntry).chainHash, { ...original, ciphertext });
      forged.push({ ...original, ciphertext, chainHash });
    }
    expect(verifyEntries({ logId: LOG_ID, entries: forged }).ok).toBe(true);
    expect(verifyEntries({ logId: LOG_ID, entries: forged, checkpoint }).failures.map((f) => f.reason)).toEqual(['root']);
    const withKeys = verifyEntries({ logId: LOG_ID, entries: forged, keys: allKeys });
    expect(withKeys.failures).toEqual([expect.objectContaining({ index: 6, reason: 'mac' }), expect.objectContaining({ index: 7, reason: 'mac' })]);
  });

  it('proves each entry against the signed checkpoint, and decrypts only what an entitlement covers', () => {
    const { stored, tree, checkpoint } = buildLog();
    stored.forEach((bytes, j) => {
      verifyInclusion(j, checkpoint.size, leafHash(bytes), tree.inclusionProof(j, checkpoint.size), checkpoint.rootHash);
    });
    const entitlement = AuditCategory.BUNDLE_HANDOUT | AuditCategory.HEARTBEAT;
    const report = verifyEntries({
      logId: LOG_ID,
      entries: stored.map(decodeEntry),
      keys: (index, mask) => (entitlementCovers(entitlement, mask) ? deriver.keysFor(index, mask) : undefined),
    });
    expect(report.ok).toBe(true);
    expect(report.decrypted.map((e) => e.index)).toEqual([0, 2, 4, 6]);
  });

  it('continues from a known chain value in the middle of the log', () => {
    const { stored } = buildLog();
    const entries = stored.map(decodeEntry);
    const tail = entries.slice(4);
    const previousChainHash = (entries[3] as AuditEntry).chainHash;
    const report = verifyEntries({ logId: LOG_ID, entries: tail, startIndex: 4, previousChainHash, keys: allKeys });
    expect(report.ok).toBe(true);
    expect(report.lastChainHash).toEqual((entries[7] as AuditEntry).chainHash);
    const wrongStart = verifyEntries({ logId: LOG_ID, entries: tail, startIndex: 4, previousChainHash: (entries[2] as AuditEntry).chainHash });
    expect(wrongStart.failures[0]).toMatchObject({ index: 4, reason: 'chain' });
    // Starting at 0 (the default), the tail is missing its first four entries.
    expect(verifyEntries({ logId: LOG_ID, entries: tail }).failures[0]).toMatchObject({ index: 0, reason: 'index' });
    expect(() => verifyEntries({ logId: LOG_ID, entries: tail, startIndex: 4 })).toThrow(AuditFormatError);
    expect(() => verifyEntries({ logId: LOG_ID, entries: tail, startIndex: 4, previousChainHash, checkpoint: { size: 8, rootHash: new Uint8Array(32) } })).toThrow(
      AuditFormatError,
    );
    // Another log's id: the genesis value differs, so entry 0 already fails.
    expect(verifyEntries({ logId: utf8('other.example/log'), entries }).failures[0]).toMatchObject({ index: 0, reason: 'chain' });
    expect(encodeEntry(entries[0] as AuditEntry)).toEqual(stored[0]);
  });
});
