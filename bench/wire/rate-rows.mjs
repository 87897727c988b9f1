// The rate rows. Per operation, libsignal and pqe2ee suites 1, 2, 3 take turns round by round
// (libsignal, s1, s2, s3, libsignal, s1, …), so a burst of load from other processes on this
// shared machine hits all four alike; each rate is the median round, and each pqe2ee/libsignal
// ratio is the median of the ratios of rounds taken side by side. The CPU other processes took
// while an operation ran is recorded with it.
import os from 'node:os';
import { contentionProbe } from '../contention.mjs';
import { calibrate, round } from './rates.mjs';
import { median } from './stats.mjs';
import { pqe2eeOps } from './pqe2ee-ops.mjs';
import { libsignalOps } from './libsignal-ops.mjs';

export const RATE_OPS = ['setup', 'encrypt', 'decrypt', 'groupEncrypt'];

export async function rateRows({ P, S, suites, timing, log }) {
  const impls = [];
  if (S) impls.push({ id: 'libsignal', ops: await libsignalOps(S) });
  for (const suite of suites) impls.push({ id: `pqe2ee.suite${suite}`, ops: pqe2eeOps(P, suite) });

  const rows = [];
  const ratios = [];
  const lap = contentionProbe();
  for (const op of RATE_OPS) {
    lap();
    const counts = [];
    for (const impl of impls) counts.push(await calibrate(impl.ops[op], timing));
    const perRound = impls.map(() => []);
    for (let r = 0; r < timing.rounds; r++) {
      for (let i = 0; i < impls.length; i++) perRound[i].push(await round(impls[i].ops[op], counts[i]));
    }
    const load = { ...lap(), loadavg1: +os.loadavg()[0].toFixed(2) };
    impls.forEach((impl, i) => {
      const rates = perRound[i];
      const row = { op, impl: impl.id, opsPerSec: Math.round(median(rates)), min: Math.round(Math.min(...rates)), max: Math.round(Math.max(...rates)), count: counts[i], ...load };
      rows.push(row);
      log(`rate ${op.padEnd(12)} ${impl.id.padEnd(16)} ${String(row.opsPerSec).padStart(7)}/s  (rounds ${row.min}–${row.max}, other cores ${load.otherCores ?? '?'})`);
    });
    if (S) {
      impls.forEach((impl, i) => {
        if (impl.id === 'libsignal') return;
        const paired = perRound[i].map((x, r) => x / perRound[0][r]);
        ratios.push({ suite: Number(impl.id.slice(-1)), op, ratio: +median(paired).toFixed(2), min: +Math.min(...paired).toFixed(2), max: +Math.max(...paired).toFixed(2) });
      });
    }
  }
  return { rows, ratios };
}
