// Runs the cases with benchmark.js (Suite API): correctness check first, then timing. Cases of
// the same operation (ours and every peer) are run back to back so that machine-load drift
// affects them alike. One progress line per case goes to stderr.
import { createRequire } from 'node:module';
import { fmtOps } from './format.mjs';
import { contentionProbe, isContended } from './contention.mjs';

const require = createRequire(import.meta.url);
const Benchmark = require('benchmark');
// benchmark.js inlines the *source* of fn/setup/teardown into its compiled test loop when a case has
// a setup or teardown ("decompilation"), which breaks closures. With it off, the loop calls
// `bench.setup()` and `bench.fn()` as methods instead. Cases without setup/teardown compile to the
// same loop either way (benchmark.js only decompiles functions when a setup/teardown is present).
Benchmark.support.decompilation = false;

/** Order: grouped by compared operation (first-appearance order), pqe2ee rows first in a group. */
export function orderCases(cases) {
  const groupIndex = new Map();
  cases.forEach((c) => {
    if (!groupIndex.has(c.compareTo)) groupIndex.set(c.compareTo, groupIndex.size);
  });
  return cases
    .map((c, i) => ({ c, i }))
    .sort((a, b) => groupIndex.get(a.c.compareTo) - groupIndex.get(b.c.compareTo) || (a.c.impl === 'pqe2ee' ? 0 : 1) - (b.c.impl === 'pqe2ee' ? 0 : 1) || a.i - b.i)
    .map((x) => x.c);
}

function baseRow(c) {
  return { id: c.id, op: c.op, impl: c.impl, compareTo: c.compareTo, bytes: c.bytes ?? null, async: c.async, note: c.note };
}

async function runCheck(c) {
  try {
    const ok = await c.check?.();
    return ok === undefined || ok === true ? null : 'correctness check failed (output differs from the reference)';
  } catch (err) {
    return `correctness check threw: ${err?.name ?? 'Error'}: ${err?.message ?? err}`;
  }
}

const log = (s) => process.stderr.write(s + '\n');

export async function runCases(cases, cfg) {
  const total = cases.length;
  const rows = new Array(total);
  const runnable = [];
  let done = 0;
  const t0 = performance.now();
  const stamp = () => `${((performance.now() - t0) / 1000).toFixed(0).padStart(4)}s`;

  for (let i = 0; i < total; i++) {
    const c = cases[i];
    const err = await runCheck(c);
    if (err) {
      rows[i] = { ...baseRow(c), error: err, opsPerSec: null };
      log(`[check] ${c.id}: ${err}`);
    } else {
      runnable.push(i);
    }
  }

  const asyncErrors = new Map();
  const byName = new Map();
  const suite = new Benchmark.Suite('pqe2ee');
  for (const i of runnable) {
    const c = cases[i];
    const opts = { maxTime: cfg.maxTime, minSamples: cfg.minSamples, minTime: cfg.minTime, defer: c.async };
    // Called by benchmark.js right before each timed loop (also before its 1-call pretest), outside
    // the timer; `this` is the benchmark and `this.count` the number of fn calls the loop will make.
    if (c.setup)
      opts.setup = function setup() {
        c.setup(this.count);
      };
    const fn = c.async
      ? (deferred) => {
          c.fn().then(
            () => deferred.resolve(),
            (e) => {
              asyncErrors.set(i, e);
              deferred.resolve();
            },
          );
        }
      : c.fn;
    suite.add(c.id, fn, opts);
    byName.set(c.id, i);
  }

  // rows whose check failed count as done; report them in the numbering
  done = total - runnable.length;
  await new Promise((resolve) => {
    suite.on('cycle', (event) => {
      const b = event.target;
      const contention = lap();
      const i = byName.get(b.name);
      const c = cases[i];
      done++;
      const error = b.error ?? asyncErrors.get(i);
      if (error) {
        rows[i] = { ...baseRow(c), error: `${error?.name ?? 'Error'}: ${error?.message ?? error}`, opsPerSec: null };
        log(`[${done}/${total}] ${stamp()} ${c.op} ${c.impl} ... ERROR ${rows[i].error}`);
        return;
      }
      const hz = b.hz;
      rows[i] = {
        ...baseRow(c),
        opsPerSec: hz,
        rme: b.stats.rme,
        samples: b.stats.sample.length,
        meanMs: b.stats.mean * 1e3,
        mbPerSec: c.bytes ? (hz * c.bytes) / 1e6 : null,
        // CPU used by other processes / the hypervisor while the case ran (cores)
        ...contention,
      };
      const mb = c.bytes && c.bytes >= 1024 ? `  ${rows[i].mbPerSec.toFixed(1)} MB/s` : '';
      log(
        `[${done}/${total}] ${stamp()} ${c.op} ${c.impl} ... ${fmtOps(hz)} ops/s ±${b.stats.rme.toFixed(1)}% (${rows[i].samples} samples)${mb}${isContended(rows[i]) ? `  [contended: others used ${rows[i].otherCores} + steal ${rows[i].stealCores} cores]` : ''}`,
      );
    });
    suite.on('complete', resolve);
    const lap = contentionProbe();
    if (runnable.length === 0) resolve();
    else suite.run({ async: true });
  });
  return rows;
}
