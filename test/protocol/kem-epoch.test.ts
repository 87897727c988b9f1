// One KEM epoch of the sparse ratchet (src/protocol/sparse/kem-epoch.ts): both sides reach the
// same root over a channel that loses, reorders and repeats messages; the root is bound to the
// previous root and the transcript; chunks of another epoch or kind are refused; and the healing
// delay in messages (what docs/protocol-v2.md budgets) is what the arithmetic says.
import { describe, expect, it } from 'vitest';
import { getSuite } from '../../src/crypto/index.js';
import { MalformedMessageError } from '../../src/errors.js';
import { EpochAnswer, type EpochChunk, EpochOffer, epochRoot } from '../../src/protocol/sparse/kem-epoch.js';
import { Prng } from '../support/index.js';

const context = (suiteId: 1 | 2 | 3, chunkBytes: number, transcript = new Uint8Array([1, 2, 3])) => ({
  suite: getSuite(suiteId),
  epoch: 7,
  previousRoot: new Uint8Array(32).fill(9),
  transcript,
  chunkBytes,
});

/**
 * Alternating traffic A, B, A, B…: each A message carries the next key chunk until A has the root,
 * each B message the next ciphertext chunk once B has the key. `loss` of the messages are dropped;
 * the rest arrive in order, or (with `shuffle`) each delayed by up to a few messages, some twice.
 * Returns how many messages each side sent until A had the root.
 */
function run(suiteId: 1 | 2 | 3, chunkBytes: number, loss: number, random: Prng, shuffle = false) {
  const offer = new EpochOffer(context(suiteId, chunkBytes));
  const answer = new EpochAnswer(context(suiteId, chunkBytes));
  const inFlight: { at: number; to: 'a' | 'b'; chunk: EpochChunk }[] = [];
  let sentA = 0;
  let sentB = 0;
  for (let tick = 0; offer.root === undefined; tick++) {
    if (tick > 10_000) throw new Error('no root after 10,000 messages');
    const fromA = tick % 2 === 0;
    const chunk = fromA ? offer.nextChunk() : answer.nextChunk();
    if (fromA) sentA++;
    else sentB++;
    if (chunk && !random.chance(loss)) {
      const delay = shuffle ? random.int(6) : 0;
      inFlight.push({ at: tick + delay, to: fromA ? 'b' : 'a', chunk });
      if (shuffle && random.chance(0.1)) inFlight.push({ at: tick + random.int(10), to: fromA ? 'b' : 'a', chunk });
    }
    for (const message of inFlight.filter((m) => m.at <= tick)) {
      inFlight.splice(inFlight.indexOf(message), 1);
      if (message.to === 'b') answer.receive(message.chunk);
      else offer.receive(message.chunk);
    }
  }
  return { sentA, sentB, offerRoot: offer.root as Uint8Array, answerRoot: answer.root as Uint8Array };
}

const median = (values: number[]): number => [...values].sort((a, b) => a - b)[Math.floor(values.length / 2)] as number;
const p90 = (values: number[]): number => [...values].sort((a, b) => a - b)[Math.floor(values.length * 0.9)] as number;

describe('KEM epoch', () => {
  it.each([1, 2, 3] as const)('suite %i: both sides derive the same root, also under loss, reordering and repeats', (suiteId) => {
    const random = new Prng(suiteId);
    for (let i = 0; i < 5; i++) {
      const result = run(suiteId, 48, 0.2, random, true);
      expect(result.answerRoot).toEqual(result.offerRoot);
      expect(result.offerRoot).toHaveLength(32);
    }
  });

  it('derives the root from every input: secret, previous root, epoch, transcript, key and ciphertext', () => {
    const base = context(1, 48);
    const secret = new Uint8Array(32).fill(1);
    const key = new Uint8Array(1568).fill(2);
    const ciphertext = new Uint8Array(1568).fill(3);
    const root = epochRoot(base, secret, key, ciphertext);
    const flip = (bytes: Uint8Array): Uint8Array => {
      const copy = bytes.slice();
      copy[0] = (copy[0] as number) ^ 1;
      return copy;
    };
    expect(epochRoot(base, secret, key, ciphertext)).toEqual(root);
    expect(epochRoot(base, flip(secret), key, ciphertext)).not.toEqual(root);
    expect(epochRoot({ ...base, previousRoot: flip(base.previousRoot) }, secret, key, ciphertext)).not.toEqual(root);
    expect(epochRoot({ ...base, epoch: 8 }, secret, key, ciphertext)).not.toEqual(root);
    expect(epochRoot({ ...base, transcript: flip(base.transcript) }, secret, key, ciphertext)).not.toEqual(root);
    expect(epochRoot(base, secret, flip(key), ciphertext)).not.toEqual(root);
    expect(epochRoot(base, secret, key, flip(ciphertext))).not.toEqual(root);
  });

  it('an answer made for another transcript or previous root does not agree with the offer', () => {
    const offer = new EpochOffer(context(1, 48));
    const answers = [
      new EpochAnswer(context(1, 48)),
      new EpochAnswer(context(1, 48, new Uint8Array([1, 2, 4]))),
      new EpochAnswer({ ...context(1, 48), previousRoot: new Uint8Array(32).fill(8) }),
    ];
    const roots: Uint8Array[] = [];
    for (const answer of answers) {
      let root: Uint8Array | undefined;
      while (root === undefined) root = answer.receive(offer.nextChunk());
      roots.push(root);
    }
    expect(roots[1]).not.toEqual(roots[0]);
    expect(roots[2]).not.toEqual(roots[0]);
    // The offer decapsulates the first answer's ciphertext and agrees with it only.
    let offerRoot: Uint8Array | undefined;
    while (offerRoot === undefined) offerRoot = offer.receive(answers[0]?.nextChunk() as EpochChunk);
    expect(offerRoot).toEqual(roots[0]);
  });

  it('refuses chunks of another epoch or kind, and never hands out a ciphertext before the key is in', () => {
    const offer = new EpochOffer(context(1, 48));
    const answer = new EpochAnswer(context(1, 48));
    expect(answer.nextChunk()).toBeUndefined();
    const chunk = offer.nextChunk();
    expect(() => answer.receive({ ...chunk, epoch: 8 })).toThrow(MalformedMessageError);
    expect(() => answer.receive({ ...chunk, kind: 'ciphertext' })).toThrow(MalformedMessageError);
    expect(() => offer.receive(chunk)).toThrow(MalformedMessageError);
    expect(() => answer.receive({ ...chunk, bytes: chunk.bytes.subarray(1) })).toThrow(MalformedMessageError);
  });

  it('healing delay in balanced traffic: about k key chunks from one side, then k ciphertext chunks from the other', () => {
    const random = new Prng(42);
    const rows: string[] = [];
    for (const chunkBytes of [32, 48, 64]) {
      for (const loss of [0, 0.2]) {
        const perSide = Array.from({ length: 40 }, () => run(1, chunkBytes, loss, random).sentA);
        const k = Math.ceil(1568 / chunkBytes);
        rows.push(`suite 1, ${chunkBytes} B chunks, ${loss * 100}% loss: median ${median(perSide)}, p90 ${p90(perSide)} messages each way (k = ${k})`);
        // Lossless: k key messages from A, then k ciphertext messages from B; A has sent 2k − 1 by then.
        if (loss === 0) expect(median(perSide)).toBe(2 * k - 1);
        else {
          expect(median(perSide)).toBeGreaterThan(2 * k);
          expect(median(perSide)).toBeLessThan((2 * k) / 0.8 + 10);
        }
      }
    }
    console.log(rows.join('\n'));
  });
});
