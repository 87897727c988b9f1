#!/usr/bin/env node
// pqe2ee benchmark harness — entry point (`npm run bench` builds dist/ first, then runs this).
// See bench/README.md. Environment: BENCH_QUICK=1, BENCH_FILTER=<substr>[,<substr>...],
// BENCH_MAX_TIME=<s>, BENCH_COLD_RUNS=<n>, BENCH_OUT=<dir>.
import { mkdirSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import os from 'node:os';
import { loadConfig, matchesFilter, ROOT_DIR } from './config.mjs';
import { sysinfo } from './sysinfo.mjs';
import { loadImplementation, DIST_ENTRY } from './impl.mjs';
import { makeInputs } from './inputs.mjs';
import { collectCases } from './cases/index.mjs';
import { PROTOCOL_OPS } from './cases/protocol.mjs';
import { orderCases, runCases } from './runner.mjs';
import { measureSizes } from './sizes.mjs';
import { measureColdStart } from './coldstart.mjs';
import { computeRatios } from './ratios.mjs';
import { isContended, CONTENDED_CORES } from './contention.mjs';
import { evaluateTargets, LIBSIGNAL_REFERENCE } from './targets.mjs';
import { renderConsole } from './report/console.mjs';
import { renderMarkdown } from './report/markdown.mjs';
import { renderJson } from './report/json.mjs';
import { renderSvg } from './report/svg.mjs';

const log = (s) => process.stderr.write(s + '\n');

async function main() {
  const started = performance.now();
  const cfg = loadConfig();
  const meta = sysinfo();
  const { api, protocolApi, info: implementation } = await loadImplementation();
  log(
    `pqe2ee bench: implementation = ${implementation.source} (${implementation.entry}${implementation.protocolEntry ? `, protocol: ${implementation.protocolEntry}` : ''}), node ${meta.node}, ${meta.cpu.model} x${meta.cpu.cores}`,
  );
  if (implementation.note) log(`!! ${implementation.note}`);

  const inputs = makeInputs();
  // the protocol cases set up accounts and sessions: only when the filter selects one of them
  const wantProtocol = PROTOCOL_OPS.some((op) => matchesFilter(cfg, op));
  const { cases: all, peers, protocol } = await collectCases(api, inputs, wantProtocol ? protocolApi : null, implementation.protocolUnavailable);
  for (const p of peers) log(p.available ? `peer ${p.name}: ${p.cases} cases${p.notes.length ? ` (${p.notes.join('; ')})` : ''}` : `peer ${p.name}: UNAVAILABLE — ${p.reason}`);
  if (!protocol.available && wantProtocol) log(`!! protocol cases: UNAVAILABLE — ${protocol.reason}`);
  const cases = orderCases(all.filter((c) => matchesFilter(cfg, c.id, c.compareTo)));
  log(
    `${cases.length} cases${cfg.filters.length ? ` (filter: ${cfg.filters.join(',')})` : ''}; maxTime ${cfg.maxTime}s, minSamples ${cfg.minSamples}${cfg.quick ? ' [quick]' : ''}`,
  );

  const coldStart = cfg.coldStart ? await measureColdStart({ runs: cfg.coldRuns, implEntry: DIST_ENTRY }) : null;
  const rows = await runCases(cases, cfg);
  const sizes = await measureSizes();
  const ratios = computeRatios(rows);
  const targets = evaluateTargets({ ratios, sizes, coldStart, peers, rows });

  meta.loadavgAtEnd = os.loadavg().map((x) => +x.toFixed(2));
  const results = {
    schema: 'pqe2ee-bench/1',
    meta,
    implementation,
    config: { quick: cfg.quick, filters: cfg.filters, maxTime: cfg.maxTime, minSamples: cfg.minSamples, minTime: cfg.minTime, coldRuns: cfg.coldRuns },
    durationSec: (performance.now() - started) / 1000,
    summary: {
      cases: rows.length,
      errors: rows.filter((r) => r.error).length,
      casesContended: rows.filter(isContended).length,
      targetsPassed: targets.filter((t) => t.pass === true).length,
      targetsFailed: targets.filter((t) => t.pass === false).length,
      targetsNotMeasured: targets.filter((t) => t.pass == null).length,
    },
    targets,
    ratios,
    rows,
    peers,
    sizes,
    coldStart,
    // protocol layer: wire sizes (not timed), notes and the reference figures quoted by the issue;
    // null when the run selected no protocol case
    protocol: wantProtocol ? { ...protocol, reference: LIBSIGNAL_REFERENCE } : null,
  };

  mkdirSync(cfg.outDir, { recursive: true });
  const files = {
    'latest.json': renderJson(results),
    'latest.md': renderMarkdown(results),
    'ratios.svg': renderSvg(results),
  };
  for (const [name, text] of Object.entries(files)) writeFileSync(path.join(cfg.outDir, name), text);
  process.stdout.write('\n' + renderConsole(results));
  if (results.summary.casesContended)
    log(
      `!! ${results.summary.casesContended} of ${rows.length} cases ran while other processes used > ${CONTENDED_CORES} core: treat their ratios with care (otherCores per row in latest.json)`,
    );
  log(
    `\nwrote ${Object.keys(files)
      .map((f) => path.relative(ROOT_DIR, path.join(cfg.outDir, f)))
      .join(', ')}${cfg.partial ? ' (partial run: not bench/results/latest.*)' : ''}`,
  );
}

main().catch((err) => {
  process.stderr.write(`bench failed: ${err?.stack ?? err}\n`);
  process.exitCode = 1;
});
