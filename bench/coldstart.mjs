// Cold start: spawn a fresh `node` per measurement (coldstart-child.mjs), for pqe2ee and peers,
// round-robin so that load drift hits all alike; one discarded warm-up run per target (fills the
// OS file cache); report the median. Measured: before import → after first ML-KEM-1024 keygen.
import { spawnSync } from 'node:child_process';
import path from 'node:path';
import { pathToFileURL } from 'node:url';
import { BENCH_DIR, ROOT_DIR } from './config.mjs';

const CHILD = path.join(BENCH_DIR, 'coldstart-child.mjs');

const median = (xs) => {
  const s = [...xs].sort((a, b) => a - b);
  const m = s.length >> 1;
  return s.length % 2 ? s[m] : (s[m - 1] + s[m]) / 2;
};

function once(target, moduleUrl) {
  const r = spawnSync(process.execPath, [CHILD, target, moduleUrl ?? ''], { cwd: ROOT_DIR, encoding: 'utf8', timeout: 60_000 });
  if (r.status !== 0) throw new Error((r.stderr || r.error?.message || `exit ${r.status}`).trim().split('\n').slice(-3).join(' | '));
  return JSON.parse(r.stdout.trim().split('\n').pop());
}

export async function measureColdStart({ runs, implEntry }) {
  const targets = [
    { impl: 'pqe2ee', target: 'pqe2ee', url: pathToFileURL(implEntry).href, what: `import('${path.relative(BENCH_DIR, implEntry)}') + mlkem1024.keygen()` },
    { impl: '@noble/post-quantum', target: 'noble', what: "import('@noble/post-quantum/ml-kem.js') + ml_kem1024.keygen()" },
    { impl: '@oqs/liboqs-js', target: 'liboqs', what: "import('@oqs/liboqs-js/kem') + await createMLKEM1024() + generateKeyPair()" },
  ];
  const state = targets.map((t) => ({ ...t, samples: [], sinceStart: [], error: null }));
  for (const s of state) {
    try {
      once(s.target, s.url);
    } catch (err) {
      s.error = err.message;
    }
  }
  for (let i = 0; i < runs; i++) {
    for (const s of state) {
      if (s.error) continue;
      try {
        const r = once(s.target, s.url);
        s.samples.push(r.ms);
        s.sinceStart.push(r.sinceProcessStartMs);
      } catch (err) {
        s.error = err.message;
      }
    }
  }
  const results = state.map((s) => ({
    impl: s.impl,
    what: s.what,
    runs: s.samples.length,
    medianMs: s.samples.length ? median(s.samples) : null,
    minMs: s.samples.length ? Math.min(...s.samples) : null,
    maxMs: s.samples.length ? Math.max(...s.samples) : null,
    medianSinceProcessStartMs: s.sinceStart.length ? median(s.sinceStart) : null,
    samplesMs: s.samples.map((x) => +x.toFixed(2)),
    error: s.error ?? undefined,
  }));
  for (const r of results) {
    process.stderr.write(
      `[coldstart] ${r.impl}: ${r.medianMs == null ? `ERROR ${r.error}` : `median ${r.medianMs.toFixed(1)} ms (min ${r.minMs.toFixed(1)}, max ${r.maxMs.toFixed(1)}, n=${r.runs}; ${r.medianSinceProcessStartMs.toFixed(0)} ms since process start)`}\n`,
    );
  }
  return { runs, definition: 'fresh node process; time from before the dynamic import to after the first ML-KEM-1024 keygen; median of runs after one discarded warm-up', results };
}
