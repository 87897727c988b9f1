// Attack: a thief of the silent side's state re-derives a one-way step chain from its start and
// reads messages already read, ignoring the state's bookkeeping (drops the step chain, refills the
// chunk collection from chunks it saw on the wire), as stolen-state.test.ts does for epochs. The
// receiver erases the previous step's salt once the step's chain exists, so this must fail.
import { create, fromBinary, toBinary } from '@bufbuild/protobuf';
import { describe, expect, it } from 'vitest';
import { Pqe2eeError, Session } from '../support/library.js';
import { EpochChunkStateSchema, OneWayReceiveStateSchema, SessionStateSchema } from '../../src/proto/gen/state_pb.js';
import { epochLayouts } from '../../src/protocol/sparse/kem-epoch.js';
import { establish, pbBytesAt, pbVarintAt, SUITES, utf8 } from '../support/index.js';

const text = (b: Uint8Array): string => new TextDecoder().decode(b);
const header = (wire: Uint8Array) => ({
  epoch: Number(pbVarintAt(wire, [6, 3]) ?? 0n),
  index: Number(pbVarintAt(wire, [6, 4]) ?? 0n),
  step: Number(pbVarintAt(wire, [6, 7]) ?? 0n),
  oneWayChunk: pbBytesAt(wire, [6, 8]) ?? new Uint8Array(0),
});

describe.each(SUITES)('suite %i', (suite) => {
  it('a stolen receiver state, rewound, cannot re-derive a one-way step chain and read its messages already read', () => {
    const { a, b } = establish(suite);
    const wires: Uint8Array[] = [];
    // One-way traffic until a's first step chain has carried a few messages; b reads them all.
    for (let i = 0; i < 400; i++) {
      const wire = a.encrypt(utf8(`m${i}`));
      wires.push(wire);
      expect(text(b.decrypt(wire))).toBe(`m${i}`);
      const h = header(wire);
      if (h.step === 1 && h.index >= 2) break;
    }
    const firstOfStep = wires.find((w) => header(w).step === 1 && header(w).index === 0) as Uint8Array;
    expect(firstOfStep, 'a took a one-way step (the test can tell)').toBeDefined();
    const { epoch } = header(firstOfStep);
    // Chunks of step 1's ciphertext the thief saw on the wire: on chain step 0 at index >= 8.
    const k = epochLayouts(a.suite).ciphertext.dataChunks;
    const seen = new Map<number, Uint8Array>();
    for (const w of wires) {
      const h = header(w);
      if (h.step === 0 && h.index >= 8 && h.oneWayChunk.length > 0) seen.set(h.oneWayChunk[0] as number, h.oneWayChunk.subarray(1));
    }
    // The thief: b's state as stolen now, bookkeeping ignored.
    const state = fromBinary(SessionStateSchema, b.serialize());
    const ratchet = state.ratchet!;
    ratchet.receivingChains = ratchet.receivingChains.filter((c) => !(c.epoch === epoch && c.step >= 1));
    ratchet.skippedKeys = [];
    const firstChunkIndex = header(firstOfStep).oneWayChunk[0] as number;
    const held = [...seen.entries()].filter(([index]) => index !== firstChunkIndex).slice(0, k - 1);
    ratchet.oneWayReceive = create(OneWayReceiveStateSchema, {
      epoch,
      step: 1,
      received: held.map(([index, chunk]) => create(EpochChunkStateSchema, { index, chunk: chunk.slice() })),
    });
    const thief = Session.deserialize(toBinary(SessionStateSchema, state));
    let result: string | Pqe2eeError;
    try {
      result = text(thief.decrypt(firstOfStep));
    } catch (error) {
      if (!(error instanceof Pqe2eeError)) throw error;
      result = error;
    }
    expect(result, 'the thief read a message b had already read').toBeInstanceOf(Pqe2eeError);
  });
});
