// Fixed-seed protocol transcript vectors (test/vectors/transcript-v2.json, made by
// test/support/transcript.ts). Three checks per cipher suite:
//   1. re-derivation: the same seed and `now` give every committed byte again (bundle, invite,
//      session id, accept, session states, every one-to-one and group message). A change to the
//      wire format, the key schedule, the order randomness is drawn in, or any primitive shows here.
//   2. decrypt-only: the committed messages decrypt, in order, from the committed receiver session
//      states to the committed plaintexts (independent of the random source).
//   3. the committed group bundle is joined by Carol (her account re-derived from the seed) and
//      every committed group message decrypts to its plaintext, its signature naming its sender.
// PQE2EE_WRITE_VECTORS=1 (node scripts/gen-transcript-vectors.mjs) rewrites the file instead of
// comparing; do that only for a deliberate protocol change, and say so in the commit.
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import { ready } from '../../src/crypto/index.js';
import { GroupSession, Session } from '../../src/protocol/index.js';
import {
  createAccounts,
  flipBit,
  hex,
  makeSuiteTranscript,
  makeTranscript,
  ownVectorsDir,
  TRANSCRIPT_FILE,
  TRANSCRIPT_NOW,
  TRANSCRIPT_SUITES,
  TRANSCRIPT_VERSION,
  transcriptSeed,
  unhex,
  withSeededRandom,
  type SuiteTranscript,
  type Transcript,
} from '../support/index.js';

const file = path.join(ownVectorsDir, TRANSCRIPT_FILE);
const WRITE = process.env['PQE2EE_WRITE_VECTORS'] === '1';

/** Paths (a.b[2].c) where two JSON values differ, with both sides shortened. */
function differences(expected: unknown, actual: unknown, at = ''): string[] {
  if (typeof expected !== typeof actual || Array.isArray(expected) !== Array.isArray(actual)) return [`${at}: ${typeof expected} vs ${typeof actual}`];
  if (expected && typeof expected === 'object') {
    const e = expected as Record<string, unknown>;
    const a = actual as Record<string, unknown>;
    const keys = [...new Set([...Object.keys(e), ...Object.keys(a)])];
    return keys.flatMap((k) => differences(e[k], a[k], at ? `${at}.${k}` : k));
  }
  if (expected === actual) return [];
  const short = (v: unknown): string => (typeof v === 'string' && v.length > 40 ? `${v.slice(0, 40)}…(${v.length / 2} bytes)` : String(v));
  return [`${at}: committed ${short(expected)}, now ${short(actual)}`];
}

describe('fixed-seed protocol transcript', () => {
  if (WRITE) {
    it(`writes test/vectors/${TRANSCRIPT_FILE}`, async () => {
      const transcript = await makeTranscript();
      if (!existsSync(ownVectorsDir)) mkdirSync(ownVectorsDir, { recursive: true });
      writeFileSync(file, `${JSON.stringify(transcript, null, 1)}\n`);
      console.log(`wrote ${file}`);
    }, 120_000);
    return;
  }

  let committed: Transcript;
  beforeAll(async () => {
    await ready();
    committed = JSON.parse(readFileSync(file, 'utf8')) as Transcript;
  });
  const suiteOf = (suite: number): SuiteTranscript => {
    const s = committed.suites.find((x) => x.suite === suite);
    if (!s) throw new Error(`no suite ${suite} in ${TRANSCRIPT_FILE}`);
    return s;
  };

  it('the committed file is version 1 and covers every suite', () => {
    expect(committed.version).toBe(TRANSCRIPT_VERSION);
    expect(committed.suites.map((s) => s.suite)).toEqual([...TRANSCRIPT_SUITES]);
    for (const s of committed.suites) {
      expect(s.seed).toBe(hex(transcriptSeed(s.suite)));
      expect(s.now).toBe(TRANSCRIPT_NOW);
      expect(s.messages.length).toBeGreaterThan(0);
      expect(s.group.messages.length).toBeGreaterThan(0);
    }
  });

  for (const suite of TRANSCRIPT_SUITES) {
    it(`suite ${suite}: the same seed re-derives every committed byte`, () => {
      const now = makeSuiteTranscript(suite);
      expect(differences(suiteOf(suite), now)).toEqual([]);
      expect(now).toEqual(suiteOf(suite));
    }, 60_000);

    it(`suite ${suite}: the committed messages decrypt from the committed session states`, () => {
      const t = suiteOf(suite);
      expect(t.messages[0]?.receiverState, "the first message carries its receiver's state").toBeDefined();
      let receiver: Session | undefined;
      for (const [i, m] of t.messages.entries()) {
        if (m.receiverState) {
          receiver = Session.deserialize(unhex(m.receiverState));
          expect(receiver.sessionId).toBe(t.sessionId);
        }
        if (!receiver) throw new Error('no receiver state');
        const session = receiver;
        const wire = unhex(m.wire);
        // One flipped byte is refused (and changes nothing), so the check below is not vacuous.
        expect(() => session.decrypt(flipBit(wire, wire.length - 1)), `message ${i} with a flipped bit`).toThrow();
        expect(hex(session.decrypt(wire)), `message ${i} from ${m.from}`).toBe(m.plaintext);
      }
    }, 60_000);

    it(`suite ${suite}: a member re-derived from the seed joins the committed group bundle and reads every committed group message`, () => {
      const t = suiteOf(suite);
      const { alice, bob, carol } = withSeededRandom(transcriptSeed(suite), () => createAccounts(suite));
      expect(hex(alice.identityPublicKey.signPublicKey)).toBe(t.alice.identitySignPublicKey);
      expect(hex(bob.identityPublicKey.signPublicKey)).toBe(t.bob.identitySignPublicKey);
      expect(hex(carol.identityPublicKey.signPublicKey)).toBe(t.carol.identitySignPublicKey);
      const reader = GroupSession.join(carol, unhex(t.group.bundle), { userId: 'carol', deviceId: 'phone', now: TRANSCRIPT_NOW, expectedEpoch: 0 });
      expect(reader.epoch).toBe(0n);
      expect(reader.members.map((m) => `${m.userId}/${m.deviceId}`).sort()).toEqual(['alice/phone', 'bob/phone', 'carol/phone']);
      for (const [i, m] of t.group.messages.entries()) {
        const wire = unhex(m.wire);
        expect(() => reader.decrypt(flipBit(wire, wire.length - 1)), `group message ${i} with a flipped bit`).toThrow();
        const got = reader.decrypt(wire);
        expect(hex(got.plaintext), `group message ${i} from ${m.from}`).toBe(m.plaintext);
        expect(got.sender.userId).toBe(m.from);
        expect(hex(got.sender.signPublicKey)).toBe(m.from === 'alice' ? t.alice.identitySignPublicKey : t.bob.identitySignPublicKey);
        expect(got.epoch).toBe(0n);
      }
    }, 60_000);
  }
});
