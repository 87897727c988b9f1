// The fixed-seed protocol transcript (test/vectors/transcript-v2.json): for each cipher suite,
// Bob's pre-key bundle, Alice's invite, Bob's accept, messages both ways, and a group bundle (Alice,
// Bob and a reading member Carol) with group messages, all made from a seeded random source, so the same code makes the same bytes.
//
// Randomness: every random byte the protocol draws comes from globalThis.crypto.getRandomValues,
// looked up at each call: bindings/memory.ts randomBytes (keys, seeds, nonces drawn in
// TypeScript) and the wasm core's only entropy import, `pqe2ee_host_random` (bindings/loader.ts),
// through which ML-KEM and ML-DSA (hedged signing) inside wasm draw theirs. `withSeededRandom`
// replaces that one function, for the duration of a synchronous call, by SHAKE256(seed || counter),
// so no seam in src/ is needed. Time is a fixed `now`.
//
// Regenerate after a deliberate protocol change: `node scripts/gen-transcript-vectors.mjs`.
import { shake256 } from '@noble/hashes/sha3.js';
import { ready } from '../../src/crypto/index.js';
import { Account, fingerprint, GroupSession, InboundSession, OutboundSession, type GroupMemberInfo } from '../../src/protocol/index.js';
import { concatBytes, hex, utf8 } from './bytes.js';

export const TRANSCRIPT_VERSION = 2;
export const TRANSCRIPT_FILE = 'transcript-v2.json';
/** 2025-01-01T00:00:00Z: the `now` of every account, bundle and join. */
export const TRANSCRIPT_NOW = Date.UTC(2025, 0, 1);
export const TRANSCRIPT_SUITES = [1, 2, 3] as const;

/** The seed of one suite's transcript. */
export const transcriptSeed = (suite: number): Uint8Array => shake256(utf8(`pqe2ee transcript v${TRANSCRIPT_VERSION}/suite ${suite}`), { dkLen: 32 });

export interface TranscriptMessage {
  /** Who encrypted it: 'alice' or 'bob'. */
  from: 'alice' | 'bob';
  plaintext: string; // hex
  wire: string; // hex: the serialized E2eeMsg
  /**
   * One-to-one only, on the first message of each run from one side: the receiver's session state
   * just before it decrypts this message (the following ones of the run continue from there). With
   * these, the messages decrypt without re-deriving anything.
   */
  receiverState?: string; // hex
}

export interface SuiteTranscript {
  suite: number;
  seed: string; // hex
  now: number;
  alice: { identitySignPublicKey: string; identityKemPublicKey: string };
  bob: { identitySignPublicKey: string; identityKemPublicKey: string };
  carol: { identitySignPublicKey: string; identityKemPublicKey: string };
  /** fingerprint(alice, bob): the safety number both compare. */
  safetyNumber: string;
  /** Bob's PreKeyBundle (with a one-time pre-key). */
  bundle: string;
  /** Alice's InviteMsg to that bundle, and the session id both sides derive. */
  invite: string;
  sessionId: string;
  /** Bob's AcceptMsg. */
  accept: string;
  /** In the order they were made; each decrypted by the other side in that order. */
  messages: TranscriptMessage[];
  group: {
    groupId: string;
    /** Alice's GroupPreKeyBundle for epoch 0 (members: alice/phone, bob/phone, carol/phone; Carol only reads). */
    bundle: string;
    /** Group messages in order; each decrypted by the other sender and by Carol. */
    messages: TranscriptMessage[];
  };
}

export interface Transcript {
  version: number;
  description: string;
  suites: SuiteTranscript[];
}

const ONE_TO_ONE: Array<{ from: 'alice' | 'bob'; text: string }> = [
  { from: 'alice', text: 'hello bob' },
  { from: 'alice', text: 'second from alice, before any reply' },
  { from: 'bob', text: 'hello alice' },
  { from: 'bob', text: '' },
  { from: 'alice', text: 'alice again, after the replies' },
];
const GROUP: Array<{ from: 'alice' | 'bob'; text: string }> = [
  { from: 'alice', text: 'hello group' },
  { from: 'bob', text: 'bob to the group' },
  { from: 'alice', text: 'alice again' },
];
export const TRANSCRIPT_GROUP_ID = 'transcript-group';

/**
 * Runs `fn` with globalThis.crypto.getRandomValues drawing from SHAKE256(seed || counter) (64-byte
 * blocks, counter big-endian), and restores the platform source afterwards. `fn` must be
 * synchronous: nothing else may draw randomness while the seeded source is installed.
 */
export function withSeededRandom<T>(seed: Uint8Array, fn: () => T): T {
  const target = globalThis.crypto as Crypto & { getRandomValues: Crypto['getRandomValues'] };
  const own = Object.getOwnPropertyDescriptor(target, 'getRandomValues');
  let counter = 0n;
  let pool = new Uint8Array(0);
  let offset = 0;
  const next = (): void => {
    const ctr = new Uint8Array(8);
    new DataView(ctr.buffer).setBigUint64(0, counter++);
    pool = shake256(concatBytes(seed, ctr), { dkLen: 64 });
    offset = 0;
  };
  const seeded = <A extends ArrayBufferView | null>(array: A): A => {
    if (!array) return array;
    const out = new Uint8Array(array.buffer, array.byteOffset, array.byteLength);
    for (let i = 0; i < out.length; i++) {
      if (offset >= pool.length) next();
      out[i] = pool[offset++] as number;
    }
    return array;
  };
  Object.defineProperty(target, 'getRandomValues', { value: seeded, configurable: true, writable: true });
  try {
    const result = fn();
    if (result instanceof Promise) throw new Error('withSeededRandom takes a synchronous function');
    return result;
  } finally {
    if (own) Object.defineProperty(target, 'getRandomValues', own);
    else delete (target as { getRandomValues?: unknown }).getRandomValues;
  }
}

/**
 * The transcript's three accounts, made first from the seeded source (so re-running just this under
 * `withSeededRandom(transcriptSeed(suite), …)` gives the same accounts as the transcript's).
 */
export function createAccounts(suite: number): { alice: Account; bob: Account; carol: Account } {
  const now = TRANSCRIPT_NOW;
  return { alice: Account.create({ suite, now }), bob: Account.create({ suite, now }), carol: Account.create({ suite, now }) };
}

const member = (account: Account, userId: string): GroupMemberInfo => ({ userId, deviceId: 'phone', signPublicKey: account.identityPublicKey.signPublicKey });

function identity(account: Account): SuiteTranscript['alice'] {
  return {
    identitySignPublicKey: hex(account.identityPublicKey.signPublicKey),
    identityKemPublicKey: hex(account.identityPublicKey.kemPublicKey),
  };
}

/**
 * One suite's transcript, made with the seeded source. Every step is also checked as it is made
 * (each message decrypts on the other side to its plaintext, each group message names its sender).
 */
export function makeSuiteTranscript(suite: number): SuiteTranscript {
  const seed = transcriptSeed(suite);
  return withSeededRandom(seed, () => {
    const now = TRANSCRIPT_NOW;
    const { alice, bob, carol } = createAccounts(suite);
    const bundle = bob.preKeyBundle({ withOneTimePreKey: true });
    const { session: a, invite } = OutboundSession.initiate(alice, bundle);
    const { session: b, accept } = InboundSession.accept(bob, invite);
    a.complete(alice, accept);
    if (a.sessionId !== b.sessionId) throw new Error('the two sides derived different session ids');
    const messages = ONE_TO_ONE.map(({ from, text }, i): TranscriptMessage => {
      const plaintext = utf8(text);
      const [sender, receiver] = from === 'alice' ? [a, b] : [b, a];
      const wire = sender.encrypt(plaintext);
      const runStarts = i === 0 || ONE_TO_ONE[i - 1]?.from !== from;
      const receiverState = runStarts ? hex(receiver.serialize()) : undefined;
      if (hex(receiver.decrypt(wire)) !== hex(plaintext)) throw new Error(`transcript: ${from}'s "${text}" did not decrypt`);
      return { from, plaintext: hex(plaintext), wire: hex(wire), ...(receiverState ? { receiverState } : {}) };
    });

    const created = GroupSession.create(alice, { groupId: TRANSCRIPT_GROUP_ID, userId: 'alice', deviceId: 'phone', members: [member(bob, 'bob'), member(carol, 'carol')] });
    const ga = created.session;
    const gb = GroupSession.join(bob, created.bundle, { userId: 'bob', deviceId: 'phone', now, expectedEpoch: 0 });
    const gc = GroupSession.join(carol, created.bundle, { userId: 'carol', deviceId: 'phone', now, expectedEpoch: 0 });
    const groupMessages = GROUP.map(({ from, text }) => {
      const plaintext = utf8(text);
      const [sender, receiver] = from === 'alice' ? [ga, gb] : [gb, ga];
      const wire = sender.encrypt(plaintext);
      for (const r of [receiver, gc]) {
        const got = r.decrypt(wire);
        if (hex(got.plaintext) !== hex(plaintext) || got.sender.userId !== from) throw new Error(`transcript: ${from}'s group message "${text}" did not decrypt`);
      }
      return { from, plaintext: hex(plaintext), wire: hex(wire) };
    });
    return {
      suite,
      seed: hex(seed),
      now,
      alice: identity(alice),
      bob: identity(bob),
      carol: identity(carol),
      safetyNumber: fingerprint(alice.identityPublicKey, bob.identityPublicKey, suite),
      bundle: hex(bundle),
      invite: hex(invite),
      sessionId: a.sessionId,
      accept: hex(accept),
      messages,
      group: { groupId: TRANSCRIPT_GROUP_ID, bundle: hex(created.bundle), messages: groupMessages },
    };
  });
}

/** The whole transcript (waits for the wasm core first, so loading it draws nothing seeded). */
export async function makeTranscript(): Promise<Transcript> {
  await ready();
  return {
    version: TRANSCRIPT_VERSION,
    description:
      "pqe2ee fixed-seed protocol transcript: per suite, Bob's PreKeyBundle, Alice's InviteMsg, Bob's AcceptMsg, one-to-one messages both ways, " +
      'and an epoch-0 GroupPreKeyBundle with group messages, made by test/support/transcript.ts with globalThis.crypto.getRandomValues replaced by ' +
      'SHAKE256(seed || counter64be) in 64-byte blocks and now = 2025-01-01T00:00:00Z. All byte strings are hex. Regenerate with node scripts/gen-transcript-vectors.mjs.',
    suites: TRANSCRIPT_SUITES.map((suite) => makeSuiteTranscript(suite)),
  };
}
