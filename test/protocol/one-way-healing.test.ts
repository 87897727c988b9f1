// One-way traffic (docs/protocol.md "One-way traffic"): when only one side writes, no epoch can
// complete, and the writer heals a compromise of its own state with one-way steps to the silent
// side's kept epoch key. Attacked as a thief would: with a copy of the writer's whole state, the
// thief forges the writer's next messages; the silent side must refuse them within the stated
// bound (three budgets of messages; a budget is 2k chunks, at least 16) and from then on, while it
// keeps reading every genuine message, also under loss and reordering.
import { describe, expect, it } from 'vitest';
import { Session } from '../support/library.js';
import { acceptedByCopy, establish, Prng, SUITES, utf8 } from '../support/index.js';
import { oneWayBudget } from '../../src/protocol/sparse/one-way-step.js';

/** Some balanced traffic first (`epochs` epochs), so steps target an opened epoch's key, or (0) the accept's. */
function warmUp(suite: 1 | 2 | 3, epochs: number) {
  const pair = establish(suite);
  for (let i = 0; Math.min(pair.a.ratchetEpoch, pair.b.ratchetEpoch) < epochs; i++) {
    if (i > 1000) throw new Error('no epoch 3 in 1000 round trips');
    pair.b.decrypt(pair.a.encrypt(utf8(`a${i}`)));
    pair.a.decrypt(pair.b.encrypt(utf8(`b${i}`)));
  }
  return pair;
}

describe.each(SUITES)('one-way healing, suite %i', (suite) => {
  it.each([0, 3])('after %i epochs, a thief of the writer forges its messages only until a one-way step, within three budgets', (epochs) => {
    const { a, b } = warmUp(suite, epochs);
    const budget = oneWayBudget(a.suite);
    const thief = Session.deserialize(a.serialize());
    let healedAt = -1;
    for (let i = 0; i < 6 * budget; i++) {
      const forged = thief.encrypt(utf8(`forged ${i}`));
      const forgedAccepted = acceptedByCopy(b, forged);
      if (i === 0) expect(forgedAccepted, 'the stolen state works at first (the test can tell)').toBe(true);
      if (!forgedAccepted && healedAt < 0) healedAt = i;
      if (healedAt >= 0) expect(forgedAccepted, `forgery ${i} accepted after healing at ${healedAt}`).toBe(false);
      expect(new TextDecoder().decode(b.decrypt(a.encrypt(utf8(`genuine ${i}`))))).toBe(`genuine ${i}`);
    }
    expect(healedAt).toBeGreaterThan(0);
    expect(healedAt).toBeLessThanOrEqual(3 * budget);
  });

  it('one-way under 20% loss and reordering: every delivered message decrypts, steps still heal', () => {
    const random = new Prng(0x0e + suite);
    const { a, b } = warmUp(suite, 3);
    const budget = oneWayBudget(a.suite);
    const inFlight: { at: number; wire: Uint8Array; text: string }[] = [];
    let delivered = 0;
    const messages = 12 * budget;
    for (let tick = 0; tick < messages || inFlight.length > 0; tick++) {
      if (tick < messages) {
        const text = `m${tick}`;
        const wire = a.encrypt(utf8(text));
        if (!random.chance(0.2)) inFlight.push({ at: tick + random.int(8), wire, text });
      }
      inFlight.sort((x, y) => x.at - y.at);
      while (inFlight.length > 0 && (inFlight[0] as { at: number }).at <= tick) {
        const flight = inFlight.shift() as { wire: Uint8Array; text: string };
        expect(new TextDecoder().decode(b.decrypt(flight.wire)), flight.text).toBe(flight.text);
        delivered++;
      }
    }
    expect(delivered).toBeGreaterThan(messages * 0.7);
    // The steps happened: the writer's chain moved past step 3.
    const step = (Session.deserialize(a.serialize()) as unknown as { state: { ratchet: { sendingChain: { step: number } } } }).state.ratchet.sendingChain.step;
    expect(step).toBeGreaterThanOrEqual(3);
  });
});
