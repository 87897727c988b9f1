#!/usr/bin/env node
// Wire cost rows of issue 14 (bench/README.md "Wire cost rows"): bytes on the wire per 100-byte
// message for pqe2ee (protocol v1, suites 1–3) and libsignal in the same run, one-to-one (burst,
// ping-pong, first message) and group, plus the operation rates and pqe2ee/libsignal ratios.
//
//   npm run bench:wire                  # builds dist/, full run (~2 min), writes bench/results/wire.{md,json}
//   WIRE_QUICK=1 node bench/wire/run.mjs   # short rate rounds, writes bench/results/wire.tmp/
//
// Progress goes to stderr, the tables to stdout.
import { execFileSync } from 'node:child_process';
import { mkdirSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { ROOT_DIR } from '../config.mjs';
import { sysinfo } from '../sysinfo.mjs';
import { libsignalBreakdowns, pqe2eeBreakdowns } from './breakdown-rows.mjs';
import { clientRuntimeRows } from './client-runtime.mjs';
import { healingRows } from './healing.mjs';
import { BODY_BYTES, conversationRows, MESSAGES } from './conversation.mjs';
import { libsignalGroupRows } from './libsignal-group.mjs';
import { libsignalPair } from './libsignal-pair.mjs';
import { loadLibsignal, loadPqe2ee } from './load.mjs';
import { pqe2eeGroupRows } from './pqe2ee-group.mjs';
import { pqe2eePair } from './pqe2ee-pair.mjs';
import { RATE_OPS, rateRows } from './rate-rows.mjs';
import { markdown } from './report.mjs';

const QUICK = process.env.WIRE_QUICK === '1';
const OUT_DIR = path.join(ROOT_DIR, 'bench/results', QUICK ? 'wire.tmp' : '');
const SUITES = [1, 2, 3];
// Sizes are cheap and exact, so quick mode keeps all 200 messages; it shortens only the rates and
// the client-runtime rows (which go through a real server).
const TIMING = QUICK ? { rounds: 3, roundMs: 100, warmupMs: 50 } : { rounds: 9, roundMs: 400, warmupMs: 200 };
const RUNTIME_MESSAGES = QUICK ? 6 : 40;
// Issue 14 asks for at least 10,000 messages per healing row.
const HEALING_MESSAGES = QUICK ? 2000 : 10_000;
const log = (line) => process.stderr.write(`${line}\n`);
const loadavg = () => os.loadavg().map((x) => +x.toFixed(2));

function git(...args) {
  try {
    return execFileSync('git', args, { cwd: ROOT_DIR, encoding: 'utf8' }).trim();
  } catch {
    return null;
  }
}

const SUITE_LABEL = {
  1: 'pqe2ee suite 1 (ML-KEM-1024, ML-DSA-87)',
  2: 'pqe2ee suite 2 (X25519, Ed25519)',
  3: 'pqe2ee suite 3 (X-Wing, ML-DSA-65+Ed25519)',
};
const LIBSIGNAL_LABEL = 'libsignal (PQXDH Kyber-1024 + SPQR ML-KEM-768; sender keys)';

async function main() {
  const t0 = performance.now();
  const loadavgBefore = loadavg();
  const { P, runtime, runtimeUnavailable } = await loadPqe2ee();
  const ls = await loadLibsignal();
  if (!ls.S) log(`libsignal NOT LOADED (${ls.reason}): only the pqe2ee rows are measured`);

  log('wire: one-to-one');
  const oneToOne = [];
  for (const s of SUITES) oneToOne.push({ id: `pqe2ee.suite${s}`, label: SUITE_LABEL[s], rows: await conversationRows(pqe2eePair(P, s)) });
  if (ls.S) oneToOne.push({ id: 'libsignal', label: LIBSIGNAL_LABEL, rows: await conversationRows(libsignalPair(ls.S)) });
  log('wire: group');
  const group = [];
  for (const s of SUITES) group.push({ id: `pqe2ee.suite${s}`, label: SUITE_LABEL[s], rows: pqe2eeGroupRows(P, s) });
  if (ls.S) group.push({ id: 'libsignal', label: LIBSIGNAL_LABEL, rows: await libsignalGroupRows(ls.S) });
  const breakdown = [...SUITES.flatMap((s) => pqe2eeBreakdowns(P, s)), ...(ls.S ? await libsignalBreakdowns(ls.S) : [])];

  log('wire: client runtime (in-process server)');
  const clientRuntime = { messages: RUNTIME_MESSAGES, unavailable: runtimeUnavailable, rows: [] };
  if (runtime) {
    for (const s of SUITES) {
      try {
        clientRuntime.rows.push({ suite: s, label: SUITE_LABEL[s], ...(await clientRuntimeRows(runtime.I, runtime.N, s, RUNTIME_MESSAGES)) });
      } catch (err) {
        clientRuntime.rows.push({ suite: s, label: SUITE_LABEL[s], error: `${err?.name ?? 'Error'}: ${err?.message ?? err}` });
      }
    }
  }

  log('healing (chaos harness)');
  const healing = { messages: HEALING_MESSAGES, rows: healingRows(P, { suites: SUITES, messages: HEALING_MESSAGES, log }) };

  log('rates');
  const rates = { timing: TIMING, ops: RATE_OPS, ...(await rateRows({ P, S: ls.S, suites: SUITES, timing: TIMING, log })) };

  const info = sysinfo();
  const results = {
    meta: {
      ...info,
      date: new Date().toISOString(),
      quick: QUICK,
      commit: git('rev-parse', '--short', 'HEAD'),
      srcDirty: Boolean(git('status', '--porcelain', '--', 'src')),
      loadavgBefore,
      loadavgAfter: loadavg(),
      seconds: +((performance.now() - t0) / 1e3).toFixed(1),
    },
    libsignal: { available: Boolean(ls.S), version: ls.version, reason: ls.reason },
    wire: { bodyBytes: BODY_BYTES, messages: MESSAGES, oneToOne, group, breakdown },
    clientRuntime,
    healing,
    rates,
  };
  const md = markdown(results);
  process.stdout.write(md);
  mkdirSync(OUT_DIR, { recursive: true });
  writeFileSync(path.join(OUT_DIR, 'wire.md'), md);
  writeFileSync(path.join(OUT_DIR, 'wire.json'), `${JSON.stringify(results, null, 2)}\n`);
  log(`wrote ${path.relative(ROOT_DIR, OUT_DIR) || '.'}/wire.{md,json} in ${results.meta.seconds} s`);
}

main().catch((err) => {
  log(err?.stack ?? String(err));
  process.exit(1);
});
