// The SAM's log writer: entries recomputed independently with node:crypto (HKDF, HMAC, AES-256-GCM,
// SHA-256), the key schedule of the TLM's deriver, and the state machine — no state repeats, keys are
// zeroed, a rolled-back writer refuses to go on, a restored writer continues the same chain.
import { createCipheriv, createHash, createHmac, hkdfSync } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { AuditCategory } from '../../src/audit/categories.js';
import { LogWriter } from '../../src/audit/entries.js';
import { decodeEntry, encodeEntry } from '../../src/audit/entry-format.js';
import { verifyEntries } from '../../src/audit/entry-verifier.js';
import { AuditFormatError, AuditStateError } from '../../src/errors.js';
import { EntryKeyDeriver } from '../../src/audit/key-schedule.js';
import { leafHash } from '../../src/audit/merkle.js';

const LOG_ID = new TextEncoder().encode('audit.pqe2ee.example/log');
const A0 = Uint8Array.from({ length: 32 }, (_, i) => i + 1);
const T0 = 1_750_000_000_000;
const utf8 = (text: string): Uint8Array => new TextEncoder().encode(text);

// --- An independent re-implementation of the format with node:crypto. -----------------------------
const lp = (...parts: Uint8Array[]): Buffer =>
  Buffer.concat(parts.flatMap((part) => [Buffer.from([part.length >>> 24, (part.length >>> 16) & 255, (part.length >>> 8) & 255, part.length & 255]), Buffer.from(part)]));
const be = (value: number, bytes: number): Uint8Array => {
  const out = Buffer.alloc(bytes);
  if (bytes === 8) out.writeBigUInt64BE(BigInt(value));
  else out.writeUInt32BE(value);
  return out;
};
const hkdf = (key: Uint8Array, info: Uint8Array): Buffer => Buffer.from(hkdfSync('sha256', key, Buffer.alloc(0), info, 32));
const hmac = (key: Uint8Array, data: Uint8Array): Buffer => createHmac('sha256', key).update(data).digest();
const sha = (data: Uint8Array): Buffer => createHash('sha256').update(data).digest();

function referenceEntry(a: Uint8Array, index: number, time: number, mask: number, previous: Uint8Array, plaintext: Uint8Array) {
  const k = hkdf(a, lp(utf8('pqe2ee/v1/audit-entry'), LOG_ID, be(mask, 4), be(index, 8)));
  const m = hkdf(a, lp(utf8('pqe2ee/v1/audit-mac'), LOG_ID, be(index, 8)));
  const n = hkdf(a, lp(utf8('pqe2ee/v1/audit-nonce'), LOG_ID, be(index, 8)));
  const ad = lp(utf8('pqe2ee/v1/audit-ad'), LOG_ID, be(index, 8), be(time, 8), be(mask, 4), previous);
  const nonce = hmac(n, lp(ad, plaintext)).subarray(0, 12);
  const cipher = createCipheriv('aes-256-gcm', k, nonce);
  cipher.setAAD(ad);
  const ciphertext = Buffer.concat([cipher.update(plaintext), cipher.final(), cipher.getAuthTag()]);
  const chainHash = sha(lp(utf8('pqe2ee/v1/audit-chain'), previous, be(index, 8), be(time, 8), be(mask, 4), nonce, ciphertext));
  const mac = hmac(m, chainHash);
  const encoded = Buffer.concat([Buffer.from([1]), be(index, 8), be(time, 8), be(mask, 4), nonce, be(ciphertext.length, 4), ciphertext, chainHash, mac]);
  return { encoded, chainHash, nextKey: hkdf(a, lp(utf8('pqe2ee/v1/audit-evolve'), LOG_ID)), entryKey: k, macKey: m };
}

function freshWriter(): LogWriter {
  return LogWriter.create({ logId: LOG_ID, initialKey: A0 });
}

describe('LogWriter', () => {
  it('produces exactly the entries an independent node:crypto implementation computes', () => {
    const writer = freshWriter();
    let a: Uint8Array = A0;
    let previous: Uint8Array = sha(lp(utf8('pqe2ee/v1/audit-genesis'), LOG_ID));
    expect(Buffer.from(writer.chainHash).equals(previous)).toBe(true);
    const events: [number, string][] = [
      [AuditCategory.SESSION_SUITE, 'session suite=1'],
      [AuditCategory.KEY_PUBLICATION | AuditCategory.METADATA_READ, 'spk published'],
      [AuditCategory.HEARTBEAT, ''],
    ];
    const deriver = new EntryKeyDeriver({ logId: LOG_ID, initialKey: A0 });
    events.forEach(([mask, text], index) => {
      const result = writer.append(mask, utf8(text), T0 + index);
      writer.commit();
      const expected = referenceEntry(a, index, T0 + index, mask, previous, utf8(text));
      expect(Buffer.from(result.encodedEntry).toString('hex')).toBe(expected.encoded.toString('hex'));
      expect(Buffer.from(result.leafHash).equals(sha(Buffer.concat([Buffer.from([0]), expected.encoded])))).toBe(true);
      const keys = deriver.keysFor(index, mask);
      expect(Buffer.from(keys.entryKey).equals(expected.entryKey)).toBe(true);
      expect(Buffer.from(keys.macKey).equals(expected.macKey)).toBe(true);
      a = expected.nextKey;
      previous = expected.chainHash;
    });
  });

  it('never returns to a state it was in, and zeroes the state buffers it handed out on commit', () => {
    const writer = freshWriter();
    const seen = new Set<string>([Buffer.from(writer.exportState()).toString('hex')]);
    const handedOut: Uint8Array[] = [];
    for (let i = 0; i < 20; i++) {
      // Same event, same clock: the state still moves (index, key and chain all advance).
      const before = writer.exportState();
      const { nextState } = writer.append(AuditCategory.HEARTBEAT, utf8('tick'), T0);
      expect(Buffer.from(nextState).equals(Buffer.from(before))).toBe(false);
      const hex = Buffer.from(nextState).toString('hex');
      expect(seen.has(hex)).toBe(false);
      seen.add(hex);
      handedOut.push(nextState);
      if (i % 5 === 4) {
        writer.commit();
        for (const buffer of handedOut.splice(0)) expect(buffer.every((byte) => byte === 0)).toBe(true);
      }
    }
    expect(writer.nextIndex).toBe(20);
  });

  it('a restored writer continues the chain; a rolled-back one refuses to append', () => {
    const deriver = new EntryKeyDeriver({ logId: LOG_ID, initialKey: A0 });
    const writer = freshWriter();
    const stored: Uint8Array[] = [];
    let storedState = writer.exportState();
    // A batch of three in one "transaction".
    for (let i = 0; i < 3; i++) {
      const result = writer.append(AuditCategory.GROUP, utf8(`group event ${i}`), T0 + i);
      stored.push(result.encodedEntry.slice());
      storedState = result.nextState.slice();
    }
    writer.commit();
    // The next append's transaction fails: nothing of it is stored.
    writer.append(AuditCategory.GROUP, utf8('lost'), T0 + 10);
    writer.rollback();
    expect(() => writer.append(AuditCategory.GROUP, utf8('after rollback'), T0 + 11)).toThrow(AuditStateError);
    expect(() => writer.exportState()).toThrow(AuditStateError);

    const restored = LogWriter.restore(storedState);
    expect(restored.nextIndex).toBe(3);
    const next = restored.append(AuditCategory.GROUP, utf8('group event 3'), T0 + 12);
    restored.commit();
    stored.push(next.encodedEntry);
    const report = verifyEntries({ logId: LOG_ID, entries: stored.map(decodeEntry), keys: (j, mask) => deriver.keysFor(j, mask) });
    expect(report.failures).toEqual([]);
    expect(report.decrypted.map((e) => new TextDecoder().decode(e.plaintext))).toEqual(['group event 0', 'group event 1', 'group event 2', 'group event 3']);
    expect(report.decrypted.every((e) => e.macChecked)).toBe(true);
  });

  it('even a caller that reuses an old state cannot reuse a key with a nonce (synthetic nonces)', () => {
    const writer = freshWriter();
    const state = writer.exportState();
    const first = writer.append(AuditCategory.METADATA_READ, utf8('alice looked up bob'), T0);
    // Misuse: two writers from one state seal different events at the same index.
    const again = LogWriter.restore(state).append(AuditCategory.METADATA_READ, utf8('alice looked up carol'), T0);
    expect(again.entry.index).toBe(first.entry.index);
    expect(Buffer.from(again.entry.nonce).equals(Buffer.from(first.entry.nonce))).toBe(false);
    // The same event from the same state is the same entry, byte for byte (a harmless replay).
    const replay = LogWriter.restore(state).append(AuditCategory.METADATA_READ, utf8('alice looked up bob'), T0);
    expect(Buffer.from(replay.encodedEntry).equals(Buffer.from(first.encodedEntry))).toBe(true);
  });

  it('keeps times non-decreasing when the clock goes back', () => {
    const writer = freshWriter();
    writer.append(AuditCategory.HEARTBEAT, utf8(''), T0 + 1000);
    const earlier = writer.append(AuditCategory.HEARTBEAT, utf8(''), T0);
    expect(earlier.entry.time).toBe(T0 + 1000);
    expect(writer.lastTime).toBe(T0 + 1000);
  });

  it('refuses bad input with typed errors', () => {
    const writer = freshWriter();
    expect(() => writer.append(0, utf8('x'), T0)).toThrow(AuditFormatError);
    expect(() => writer.append(1 << 20, utf8('x'), T0)).toThrow(AuditFormatError);
    expect(() => writer.append(AuditCategory.GROUP, new Uint8Array(64 * 1024 + 1), T0)).toThrow(AuditFormatError);
    expect(() => writer.append(AuditCategory.GROUP, utf8('x'), -1)).toThrow(AuditFormatError);
    expect(() => writer.append(AuditCategory.GROUP, utf8('x'), 1.5)).toThrow(AuditFormatError);
    expect(writer.nextIndex).toBe(0);
    expect(() => LogWriter.create({ logId: new Uint8Array(0), initialKey: A0 })).toThrow(AuditFormatError);
    expect(() => LogWriter.create({ logId: LOG_ID, initialKey: A0.slice(1) })).toThrow(AuditFormatError);
    const state = writer.exportState();
    for (const bad of [state.slice(1), new Uint8Array([...state, 0]), new Uint8Array([2, ...state.slice(1)])]) {
      expect(() => LogWriter.restore(bad)).toThrow(AuditFormatError);
    }
    const { encodedEntry } = writer.append(AuditCategory.GROUP, utf8('x'), T0);
    expect(encodeEntry(decodeEntry(encodedEntry))).toEqual(encodedEntry);
    for (const bad of [encodedEntry.slice(0, -1), new Uint8Array([...encodedEntry, 0]), new Uint8Array([9, ...encodedEntry.slice(1)])]) {
      expect(() => decodeEntry(bad)).toThrow(AuditFormatError);
    }
    writer.dispose();
    expect(() => writer.append(AuditCategory.GROUP, utf8('x'), T0)).toThrow(AuditStateError);
  });
});

describe('EntryKeyDeriver', () => {
  it('derives the same keys in any access order, across snapshot boundaries', () => {
    const writer = freshWriter();
    const masks: number[] = [];
    const entries = [];
    for (let i = 0; i < 40; i++) {
      const mask = [AuditCategory.GROUP, AuditCategory.BUNDLE_HANDOUT, AuditCategory.HEARTBEAT][i % 3] as number;
      masks.push(mask);
      entries.push(writer.append(mask, utf8(`event ${i}`), T0 + i).entry);
    }
    const sequential = new EntryKeyDeriver({ logId: LOG_ID, initialKey: A0, snapshotInterval: 1 << 20 });
    const expected = masks.map((mask, j) => Buffer.from(sequential.keysFor(j, mask).entryKey).toString('hex'));
    const random = new EntryKeyDeriver({ logId: LOG_ID, initialKey: A0, snapshotInterval: 7 });
    for (const j of [39, 3, 21, 21, 0, 38, 7, 6, 14, 13, 1]) {
      expect(Buffer.from(random.keysFor(j, masks[j] as number).entryKey).toString('hex')).toBe(expected[j]);
    }
    // The entry key is bound to the mask: the key released for another mask opens nothing.
    const wrongMask = verifyEntries({ logId: LOG_ID, entries, keys: (j) => random.keysFor(j, AuditCategory.METADATA_READ) });
    expect(wrongMask.decrypted).toEqual([]);
    expect(new Set(wrongMask.failures.map((f) => f.reason))).toEqual(new Set(['decrypt']));
    // Indexes beyond the log are refused rather than walked to (a tampered index could be 2^50).
    expect(() => random.keysFor(2 ** 50, AuditCategory.GROUP)).toThrow(AuditFormatError);
    expect(() => random.keysFor(40, AuditCategory.GROUP, 39)).toThrow(AuditFormatError);
    random.dispose();
    expect(() => random.keysFor(0, AuditCategory.GROUP)).toThrow(AuditStateError);
  });

  it('produces leaf hashes that match leafHash(encodedEntry)', () => {
    const result = freshWriter().append(AuditCategory.STORAGE_SEALED, utf8('record sealed'), T0);
    expect(result.leafHash).toEqual(leafHash(result.encodedEntry));
  });
});
