// Run configuration from the environment.
//   BENCH_QUICK=1          ~1-minute smoke run (short sampling, fewer cold-start repetitions)
//   BENCH_FILTER=a,b       only cases whose id (or compared operation) contains one of the substrings
//   BENCH_MAX_TIME=<s>     override benchmark.js maxTime per case
//   BENCH_COLD_RUNS=<n>    override the number of cold-start repetitions
//   BENCH_OUT=<dir>        override the output directory
import { fileURLToPath } from 'node:url';
import path from 'node:path';

const env = process.env;
const truthy = (v) => v !== undefined && v !== '' && v !== '0' && v.toLowerCase() !== 'false';

export const BENCH_DIR = path.dirname(fileURLToPath(import.meta.url));
export const ROOT_DIR = path.resolve(BENCH_DIR, '..');

export function loadConfig() {
  const quick = truthy(env.BENCH_QUICK);
  const filters = (env.BENCH_FILTER ?? '')
    .split(',')
    .map((s) => s.trim().toLowerCase())
    .filter(Boolean);
  const partial = quick || filters.length > 0;
  const num = (v, d) => (v !== undefined && v !== '' && Number.isFinite(Number(v)) ? Number(v) : d);
  return {
    quick,
    filters,
    partial,
    // benchmark.js: a case samples until maxTime seconds have elapsed AND minSamples are taken.
    maxTime: num(env.BENCH_MAX_TIME, quick ? 0.12 : 1.5),
    minSamples: quick ? 3 : 5,
    // one sample must last at least minTime seconds (benchmark.js default is ~0.05 s)
    minTime: quick ? 0.02 : 0.05,
    coldRuns: num(env.BENCH_COLD_RUNS, quick ? 4 : 10),
    coldStart: filters.length === 0 || filters.some((f) => f.includes('cold')),
    // Partial runs must not overwrite the commit-able results: they go to an ignored *.tmp dir.
    outDir: env.BENCH_OUT ? path.resolve(env.BENCH_OUT) : path.join(BENCH_DIR, 'results', partial ? 'partial.tmp' : ''),
  };
}

export function matchesFilter(cfg, ...names) {
  if (cfg.filters.length === 0) return true;
  const hay = names.filter(Boolean).map((n) => n.toLowerCase());
  return cfg.filters.some((f) => hay.some((h) => h.includes(f)));
}
