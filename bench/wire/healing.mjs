// Healing time of the sparse KEM ratchet (docs/protocol.md "Healing"), from a chaos harness over
// the public protocol API (dist/protocol.js): two sessions exchange `messages` 100-byte messages
// through a channel that loses `loss` of them and delays each by up to 8 ticks (so they reorder).
// Two figures per row:
//   - epoch interval: messages sent (both directions together) between two moments at which both
//     sides hold a new epoch root;
//   - reader healed: a thief copies one side's whole session state (serialize) at a random moment
//     and from then on tries every message delivered to that side; the count is the messages sent
//     until the first one the victim reads and the thief cannot. A thief that never loses track in
//     the rest of the run counts as unhealed.
//   - writer healed: a thief copies the state of the side that writes (A) and forges each of its
//     next messages; the count is the messages sent until a copy of the peer's state refuses the
//     forgery (one-way steps heal this side even when the peer never writes).
// Traffic patterns: balanced (each tick either side with p = 1/2), mostly one-sided (A 90%),
// one-sided (only A; B never writes), and intermittent (B offline for stretches of 50-300 ticks:
// it sends nothing and what is sent to it arrives when it comes back).
import { prng } from '../prng.mjs';

const BODY = 100;
export const PATTERNS = ['balanced', 'mostly-one-sided', 'one-sided', 'intermittent'];

function quantile(sorted, q) {
  if (sorted.length === 0) return null;
  return sorted[Math.min(sorted.length - 1, Math.floor(q * sorted.length))];
}

function summary(values) {
  const sorted = [...values].sort((x, y) => x - y);
  return { n: sorted.length, median: quantile(sorted, 0.5), p90: quantile(sorted, 0.9), max: sorted.at(-1) ?? null };
}

function sessionsFor(P, suite) {
  const now = Date.UTC(2026, 0, 1);
  const alice = P.Account.create({ suite, now });
  const bob = P.Account.create({ suite, now });
  const { session: a, invite } = P.OutboundSession.initiate(alice, bob.preKeyBundle({ withOneTimePreKey: false }));
  const { session: b, accept } = P.InboundSession.accept(bob, invite);
  a.complete(alice, accept);
  return { a, b };
}

/** One chaos run; returns the epoch intervals and the compromise → healed counts. */
export function healingRun(P, { suite, pattern, loss, messages, seed }) {
  const next = prng(seed);
  const random = { chance: (p) => next() < p, int: (n) => Math.floor(next() * n) };
  const sides = sessionsFor(P, suite);
  const inFlight = [];
  const intervals = [];
  const heals = [];
  const writerHeals = [];
  let unhealed = 0;
  let writerUnhealed = 0;
  let writerThief = null;
  let nextWriterTheft = 300 + random.int(300);
  let sent = 0;
  let lastEpochAt = 0;
  let epoch = 0;
  let offlineUntil = -1;
  let thief = null;
  let nextTheft = 200 + random.int(300);
  const body = new Uint8Array(BODY);
  for (let tick = 0; sent < messages || inFlight.length > 0; tick++) {
    if (tick > messages * 20) throw new Error(`healing ${pattern}: the run did not drain`);
    const bOnline = tick >= offlineUntil;
    if (pattern === 'intermittent' && bOnline && random.chance(0.005)) offlineUntil = tick + 50 + random.int(250);
    if (sent < messages) {
      let from;
      if (pattern === 'balanced' || pattern === 'intermittent') from = random.chance(0.5) ? 'a' : 'b';
      else if (pattern === 'mostly-one-sided') from = random.chance(0.9) ? 'a' : 'b';
      else from = 'a';
      if (from === 'b' && !bOnline) from = 'a';
      if (!thief && sent >= nextTheft) {
        const victim = random.chance(0.5) ? 'a' : 'b';
        thief = { victim, session: P.Session.deserialize(sides[victim].serialize()), since: sent };
      }
      if (!writerThief && from === 'a' && sent >= nextWriterTheft) writerThief = { session: P.Session.deserialize(sides.a.serialize()), since: sent };
      body[0] = sent & 0xff;
      if (writerThief && from === 'a') {
        const forged = writerThief.session.encrypt(body);
        let accepted = true;
        try {
          P.Session.deserialize(sides.b.serialize()).decrypt(forged);
        } catch {
          accepted = false;
        }
        if (!accepted) {
          writerHeals.push(sent - writerThief.since);
          writerThief = null;
          nextWriterTheft = sent + 300 + random.int(600);
        }
      }
      const wire = sides[from].encrypt(body);
      sent++;
      if (!random.chance(loss)) inFlight.push({ at: tick + random.int(8), to: from === 'a' ? 'b' : 'a', wire });
    }
    inFlight.sort((x, y) => x.at - y.at);
    const held = [];
    while (inFlight.length > 0 && inFlight[0].at <= tick) {
      const flight = inFlight.shift();
      if (flight.to === 'b' && !(tick >= offlineUntil)) {
        held.push({ ...flight, at: offlineUntil });
        continue;
      }
      sides[flight.to].decrypt(flight.wire);
      if (thief && thief.victim === flight.to) {
        let readable = true;
        try {
          thief.session.decrypt(flight.wire);
        } catch {
          readable = false;
        }
        if (!readable) {
          heals.push(sent - thief.since);
          thief = null;
          nextTheft = sent + 100 + random.int(400);
        }
      }
    }
    inFlight.push(...held);
    const both = Math.min(sides.a.ratchetEpoch, sides.b.ratchetEpoch);
    if (both > epoch) {
      intervals.push(sent - lastEpochAt);
      lastEpochAt = sent;
      epoch = both;
    }
  }
  if (thief) unhealed++;
  if (writerThief) writerUnhealed++;
  return { intervals, heals, unhealed, writerHeals, writerUnhealed, epochs: epoch, sent };
}

/** Rows for every suite × pattern × loss, each from one run of `messages` messages. */
export function healingRows(P, { suites, messages, log = () => {} }) {
  const rows = [];
  for (const suite of suites) {
    for (const pattern of PATTERNS) {
      for (const loss of [0, 0.2]) {
        const run = healingRun(P, { suite, pattern, loss, messages, seed: suite * 1000 + PATTERNS.indexOf(pattern) * 10 + (loss > 0 ? 1 : 0) });
        log(`healing suite ${suite} ${pattern} loss ${loss}: ${run.epochs} epochs, ${run.heals.length} heals, ${run.unhealed} unhealed`);
        rows.push({
          suite,
          pattern,
          loss,
          messages: run.sent,
          epochs: run.epochs,
          interval: summary(run.intervals),
          heal: summary(run.heals),
          unhealed: run.unhealed,
          writerHeal: summary(run.writerHeals),
          writerUnhealed: run.writerUnhealed,
        });
      }
    }
  }
  return rows;
}
