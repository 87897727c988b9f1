#!/usr/bin/env node
// pqe2ee server load benchmark (see bench/load/README.md).
//
//   node scripts/build.mjs && node bench/load/run.mjs     # full matrix, ~3-4 min
//   LOAD_QUICK=1 node bench/load/run.mjs                  # short smoke run (~30 s)
//   node bench/load/run.mjs --n 10,100 --suite 1 --duration 5 --max-messages 5000 --window 1
//
// For every configuration: a fresh server process (`node dist/cli.js server`, port 0, SQLite file
// in a temporary directory, rate limits disabled) and a fresh client process (clients.mjs) holding
// N E2eeClient instances on 127.0.0.1. Results: bench/results/load.json and load.md (quick or
// custom runs: bench/results/load.tmp/, git-ignored), the table also on stdout.
import { spawn } from 'node:child_process';
import { mkdtempSync, mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';
import { DIST_CLI, ROOT_DIR, requireDist } from './dist.mjs';

const HERE = path.dirname(fileURLToPath(import.meta.url));
const log = (line) => process.stderr.write(`${line}\n`);

const USAGE = `usage: node bench/load/run.mjs [options]   (LOAD_QUICK=1 for a short run)

  --n LIST            client counts, e.g. 10,100,1000 (default: the standard matrix)
  --suite LIST        cipher suites, e.g. 2 or 1,2, or 'relay' (the unencrypted baseline) (default: the standard matrix)
  --duration S        measured window per configuration, seconds (default 10; quick 2)
  --max-messages M    cap on measured sends per configuration (default 20000; quick 2000)
  --window W          messages in flight per client (default 1)
  --body-bytes B      message body size (default 100)
  --out DIR           output directory (default bench/results for the standard matrix)
  --audit LIST        on, off or on,off: the server's audit log (default on, as the server's default)

Standard matrix: suite 2 (classic) at N = 10, 100, 1000, suite 1 (post-quantum) at N = 10, 100, and
the relay baseline (same server, raw RPC clients, bodies not encrypted) at N = 10, 100, 1000, all
with the audit log on (the server default), and suite 2 at N = 100 with --no-audit (its cost).
`;

function parseArgs(argv) {
  const quick = process.env.LOAD_QUICK === '1';
  const opts = { quick, duration: quick ? 2 : 10, maxMessages: quick ? 2000 : 20000, window: 1, bodyBytes: 100, ns: null, suites: null, out: null, audits: null };
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i];
    const value = () => {
      const v = argv[++i];
      if (v === undefined) throw new Error(`missing value for ${arg}`);
      return v;
    };
    const list = (v) =>
      v.split(',').map((x) => {
        const n = Number(x);
        if (!Number.isInteger(n) || n <= 0) throw new Error(`${arg}: '${x}' is not a positive integer`);
        return n;
      });
    if (arg === '-h' || arg === '--help') {
      process.stdout.write(USAGE);
      process.exit(0);
    } else if (arg === '--n') opts.ns = list(value());
    else if (arg === '--suite') {
      const v = value();
      opts.suites = v.split(',').map((x) => (x === 'relay' ? 'relay' : list(x)[0]));
    } else if (arg === '--duration') opts.duration = Number(value());
    else if (arg === '--max-messages') opts.maxMessages = list(value())[0];
    else if (arg === '--window') opts.window = list(value())[0];
    else if (arg === '--body-bytes') opts.bodyBytes = list(value())[0];
    else if (arg === '--out') opts.out = path.resolve(value());
    else if (arg === '--audit') {
      opts.audits = value().split(',');
      if (opts.audits.some((a) => a !== 'on' && a !== 'off')) throw new Error('--audit takes on, off or on,off');
    } else throw new Error(`unknown option ${arg}\n${USAGE}`);
  }
  if (!(opts.duration > 0 && opts.duration <= 60)) throw new Error('--duration must be in (0, 60] seconds');
  if (opts.maxMessages > 200000) throw new Error('--max-messages is capped at 200000');
  for (const n of opts.ns ?? []) if (n > 2000) throw new Error('--n is capped at 2000 clients');
  for (const s of opts.suites ?? []) if (![1, 2, 3, 'relay'].includes(s)) throw new Error('--suite must be 1, 2, 3 or relay');
  const standard = !opts.ns && !opts.suites && !opts.audits;
  let matrix;
  if (standard) {
    matrix = quick
      ? [
          { suite: 2, n: 10 },
          { suite: 2, n: 100 },
          { suite: 2, n: 1000 },
          { suite: 1, n: 10 },
          { suite: 'relay', n: 10 },
          { suite: 2, n: 100, audit: 'off' },
        ]
      : [
          { suite: 2, n: 10 },
          { suite: 2, n: 100 },
          { suite: 2, n: 1000 },
          { suite: 1, n: 10 },
          { suite: 1, n: 100 },
          { suite: 'relay', n: 10 },
          { suite: 'relay', n: 100 },
          { suite: 'relay', n: 1000 },
          { suite: 2, n: 100, audit: 'off' },
        ];
  } else {
    matrix = [];
    for (const audit of opts.audits ?? ['on']) for (const suite of opts.suites ?? [2]) for (const n of opts.ns ?? [10, 100, 1000]) matrix.push({ suite, n, audit });
  }
  opts.matrix = matrix;
  opts.official = standard && !quick && opts.duration === 10 && opts.maxMessages === 20000 && opts.window === 1 && opts.bodyBytes === 100;
  opts.out ??= opts.official ? path.join(ROOT_DIR, 'bench/results') : path.join(ROOT_DIR, 'bench/results/load.tmp');
  return opts;
}

// Linux /proc readers (the server's RSS and CPU time); null elsewhere.
const CLK_TCK = 100;
function procStatus(pid) {
  try {
    const text = readFileSync(`/proc/${pid}/status`, 'utf8');
    const kb = (key) => Number(new RegExp(`^${key}:\\s+(\\d+) kB`, 'm').exec(text)?.[1] ?? NaN);
    return { rssMiB: kb('VmRSS') / 1024, hwmMiB: kb('VmHWM') / 1024 };
  } catch {
    return null;
  }
}
function procCpuMs(pid) {
  try {
    const fields = readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1].split(' ');
    return ((Number(fields[11]) + Number(fields[12])) * 1000) / CLK_TCK; // utime + stime
  } catch {
    return null;
  }
}

/** Starts `pqe2ee server` on a free loopback port; resolves with { child, url } after its start line. */
function startServerProcess(dir, audit = 'on') {
  const args = [
    DIST_CLI,
    'server',
    '--port',
    '0',
    '--host',
    '127.0.0.1',
    '--db',
    path.join(dir, 'server.sqlite'),
    '--domain',
    'load.local',
    // Rate limits lifted for the load run: one device sends far more than 50/s, and every client
    // registers from 127.0.0.1 (GetChallenge is limited per address).
    '--rate-limit',
    '0',
    '--ip-rate-limit',
    '0',
    ...(audit === 'off' ? ['--no-audit'] : []),
  ];
  const child = spawn(process.execPath, args, { cwd: dir, stdio: ['ignore', 'pipe', 'pipe'] });
  let stderr = '';
  child.stderr.on('data', (chunk) => (stderr = (stderr + chunk).slice(-4000)));
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`server did not start within 15 s; stderr: ${stderr}`)), 15000);
    child.once('exit', (code) => reject(new Error(`server exited with ${code} before listening; stderr: ${stderr}`)));
    createInterface({ input: child.stdout }).on('line', (line) => {
      const match = /listening on (http:\/\/\S+)/.exec(line);
      if (match) {
        clearTimeout(timer);
        resolve({ child, url: match[1], stderr: () => stderr, args: args.slice(1) });
      }
    });
  });
}

function stopProcess(child, timeoutMs = 10000) {
  if (child.exitCode !== null || child.signalCode !== null) return Promise.resolve({ code: child.exitCode, signal: child.signalCode, forced: false });
  return new Promise((resolve) => {
    let forced = false;
    const timer = setTimeout(() => {
      forced = true;
      child.kill('SIGKILL');
    }, timeoutMs);
    child.once('exit', (code, signal) => {
      clearTimeout(timer);
      resolve({ code, signal, forced });
    });
    child.kill('SIGTERM');
  });
}

async function runOne(opts, { suite, n, audit = 'on' }) {
  const dir = mkdtempSync(path.join(os.tmpdir(), 'pqe2ee-load-'));
  const began = performance.now();
  const loadBefore = os.loadavg()[0];
  const server = await startServerProcess(dir, audit);
  const pid = server.child.pid;
  let serverPeakRss = 0;
  const rssTimer = setInterval(() => {
    const s = procStatus(pid);
    if (s) serverPeakRss = Math.max(serverPeakRss, s.rssMiB);
  }, 250);
  const rssIdle = procStatus(pid)?.rssMiB ?? null;
  const workerCfg = {
    url: server.url,
    n,
    suite,
    window: opts.window,
    bodyBytes: opts.bodyBytes,
    durationMs: Math.round(opts.duration * 1000),
    maxMessages: opts.maxMessages,
    drainMs: 10000,
    setupConcurrency: 32,
    setupTimeoutMs: 120000,
  };
  // Hard bound per configuration: setup + window + drain + stop, whatever happens.
  const hardLimitMs = 240000;
  log(`▶ suite ${suite}, N = ${n}, audit ${audit}: server ${server.url} (pid ${pid}), window ${workerCfg.durationMs} ms / ${workerCfg.maxMessages} messages`);
  const worker = spawn(
    process.execPath,
    [
      ...(process.env.LOAD_PROFILE ? ['--cpu-prof', '--cpu-prof-dir=' + process.env.LOAD_PROFILE] : []),
      '--max-old-space-size=4096',
      path.join(HERE, 'clients.mjs'),
      JSON.stringify(workerCfg),
    ],
    { stdio: ['ignore', 'pipe', 'inherit'] },
  );
  const killTimer = setTimeout(() => {
    log(`  !! configuration exceeded ${hardLimitMs / 1000} s: killing the client process`);
    worker.kill('SIGKILL');
  }, hardLimitMs);
  let result = null;
  let serverCpu0 = null;
  let serverCpuMs = null;
  let serverRssEnd = null;
  createInterface({ input: worker.stdout }).on('line', (line) => {
    let msg;
    try {
      msg = JSON.parse(line);
    } catch {
      return;
    }
    if (msg.event === 'measure-start') serverCpu0 = procCpuMs(pid);
    else if (msg.event === 'measure-end') {
      const c = procCpuMs(pid);
      if (c !== null && serverCpu0 !== null) serverCpuMs = c - serverCpu0;
      serverRssEnd = procStatus(pid)?.rssMiB ?? null;
    } else if (msg.event === 'result') result = msg.result;
  });
  const workerExit = await new Promise((resolve) => worker.once('exit', (code, signal) => resolve({ code, signal })));
  clearTimeout(killTimer);
  clearInterval(rssTimer);
  const hwm = procStatus(pid)?.hwmMiB ?? null;
  const serverAlive = server.child.exitCode === null && server.child.signalCode === null;
  const stopped = await stopProcess(server.child);
  rmSync(dir, { recursive: true, force: true });
  const wallMs = Math.round(performance.now() - began);
  const serverInfo = {
    aliveAtEnd: serverAlive,
    exit: stopped,
    stderrTail: server.stderr().trim().split('\n').slice(-5).filter(Boolean),
    rssIdleMiB: rssIdle === null ? null : Math.round(rssIdle),
    rssEndMiB: serverRssEnd === null ? null : Math.round(serverRssEnd),
    peakRssMiB: hwm === null ? Math.round(serverPeakRss) : Math.round(hwm),
    cpuPercent: result && serverCpuMs !== null ? Math.round((serverCpuMs / result.elapsedMs) * 100) : null,
  };
  if (!result) {
    log(`  !! client process ended without a result (exit ${workerExit.code}, signal ${workerExit.signal})`);
    return { suite, n, audit, failed: true, workerExit, server: serverInfo, wallMs };
  }
  log(
    `  ✓ ${result.delivered} delivered, ${result.msgsPerSec} msg/s, p50 ${result.latencyMs.p50} ms, p99 ${result.latencyMs.p99} ms, errors ${result.errors}; server CPU ${serverInfo.cpuPercent}%, peak RSS ${serverInfo.peakRssMiB} MiB; ${Math.round(wallMs / 1000)} s`,
  );
  // The machine may be shared: the 1-minute load average (all processes) before and after.
  const loadAverage = { before: Number(loadBefore.toFixed(2)), after: Number(os.loadavg()[0].toFixed(2)), cores: os.cpus().length };
  return { ...result, audit, server: serverInfo, loadAverage, wallMs };
}

function gitHead() {
  try {
    const head = readFileSync(path.join(ROOT_DIR, '.git/HEAD'), 'utf8').trim();
    return head.startsWith('ref: ') ? readFileSync(path.join(ROOT_DIR, '.git', head.slice(5)), 'utf8').trim() : head;
  } catch {
    return null;
  }
}

const fmt = (x) => (x === null || x === undefined ? '—' : typeof x === 'number' ? x.toLocaleString('en-US') : String(x));

function table(rows) {
  const head = ['N', 'suite', 'audit', 'delivered', 'msgs/s', 'p50 ms', 'p99 ms', 'max ms', 'errors', 'server CPU %', 'client CPU %', 'server peak RSS MiB', 'client peak RSS MiB'];
  const lines = [`| ${head.join(' | ')} |`, `|${head.map(() => '---').join('|')}|`];
  for (const r of rows) {
    if (r.failed) {
      lines.push(
        `| ${r.n} | ${r.suite} | ${r.audit ?? 'on'} | failed (client exit ${r.workerExit.code ?? r.workerExit.signal}) | — | — | — | — | — | — | — | ${fmt(r.server.peakRssMiB)} | — |`,
      );
      continue;
    }
    const undelivered = r.undelivered > 0 ? ` (+${r.undelivered} undelivered)` : '';
    lines.push(
      `| ${r.n} | ${r.suite} | ${r.audit ?? 'on'} | ${fmt(r.delivered)}${undelivered} | ${fmt(r.msgsPerSec)} | ${fmt(r.latencyMs.p50)} | ${fmt(r.latencyMs.p99)} | ${fmt(r.latencyMs.max)} | ${fmt(r.errors)} | ${fmt(r.server.cpuPercent)} | ${fmt(r.clientCpuPercent)} | ${fmt(r.server.peakRssMiB)} | ${fmt(r.clientPeakRssMiB)} |`,
    );
  }
  return lines.join('\n');
}

function setupTable(rows) {
  const lines = [
    '| N | suite | audit | register ms | sessions ms | measured window ms | sends started | p90 ms | stream reconnects | load avg before → after | wall s |',
    '|---|---|---|---|---|---|---|---|---|---|---|',
  ];
  for (const r of rows)
    if (!r.failed)
      lines.push(
        `| ${r.n} | ${r.suite} | ${r.audit ?? 'on'} | ${fmt(r.timings.registerMs)} | ${fmt(r.timings.sessionsMs)} | ${fmt(r.elapsedMs)} | ${fmt(r.sent)} | ${fmt(r.latencyMs.p90)} | ${fmt(r.streamReconnects)} | ${r.loadAverage.before} → ${r.loadAverage.after} | ${Math.round(r.wallMs / 1000)} |`,
      );
  return lines.join('\n');
}

async function main() {
  const opts = parseArgs(process.argv.slice(2));
  requireDist();
  const started = performance.now();
  const meta = {
    date: new Date().toISOString(),
    node: process.version,
    platform: `${os.platform()} ${os.release()} ${os.arch()}`,
    cpu: `${os.cpus()[0]?.model ?? 'unknown'} x${os.cpus().length}`,
    memoryGiB: Math.round(os.totalmem() / 2 ** 30),
    gitCommit: gitHead(),
    quick: opts.quick,
    durationS: opts.duration,
    maxMessages: opts.maxMessages,
    window: opts.window,
    bodyBytes: opts.bodyBytes,
    server:
      'node dist/cli.js server --port 0 --host 127.0.0.1 --db <tmp>/server.sqlite --domain load.local --rate-limit 0 --ip-rate-limit 0 (separate process; other options default)',
    clients: 'one separate node process with N E2eeClient instances (in-memory client databases), ring pairing i → (i+1) mod N',
  };
  log(`pqe2ee load bench: ${meta.cpu}, node ${meta.node}, ${opts.matrix.length} configurations${opts.quick ? ' (LOAD_QUICK)' : ''}`);
  const rows = [];
  for (const config of opts.matrix) {
    try {
      rows.push(await runOne(opts, config));
    } catch (error) {
      log(`  !! suite ${config.suite}, N = ${config.n}: ${error.message}`);
      rows.push({ ...config, failed: true, workerExit: { code: null, signal: null, error: error.message }, server: {}, wallMs: 0 });
    }
  }
  const totalS = Math.round((performance.now() - started) / 1000);
  meta.totalRunS = totalS;
  const md = [
    '# pqe2ee server load benchmark',
    '',
    `Generated by \`node bench/load/run.mjs\`${opts.quick ? ' (LOAD_QUICK=1)' : ''} on ${meta.date.slice(0, 10)}: ${meta.cpu}, ${meta.memoryGiB} GiB, node ${meta.node}, ${meta.platform}. Total run ${totalS} s.`,
    '',
    `Loopback only (127.0.0.1). One server process (SQLite file, rate limits disabled) and one client process with N E2eeClient instances in a ring (client i sends to client (i+1) mod N). Closed loop: each client keeps at most ${opts.window} message(s) of ${opts.bodyBytes} B in flight (sent, not yet received). Measured window: at most ${opts.duration} s or ${fmt(opts.maxMessages)} sends, then up to 10 s to drain. Latency = from the sendMessage call to the receiver's one2one-message event (send time embedded in the body; both clients in the same process). msgs/s = delivered / (last delivery − window start). Sessions were established before measuring. See bench/load/README.md.`,
    '',
    table(rows),
    '',
    'Setup and timing:',
    '',
    setupTable(rows),
    '',
  ].join('\n');
  mkdirSync(opts.out, { recursive: true });
  writeFileSync(path.join(opts.out, 'load.json'), `${JSON.stringify({ meta, results: rows }, null, 2)}\n`);
  writeFileSync(path.join(opts.out, 'load.md'), md);
  process.stdout.write(`\n${table(rows)}\n\n${setupTable(rows)}\n\n`);
  log(`wrote ${path.relative(ROOT_DIR, path.join(opts.out, 'load.json'))} and load.md in ${totalS} s`);
  for (const r of rows) if (!r.failed && r.errorSamples?.length) log(`errors suite ${r.suite} N=${r.n}: ${r.errorSamples.join(' | ')}`);
  if (rows.some((r) => r.failed)) process.exitCode = 1;
}

main().catch((error) => {
  log(`pqe2ee load bench: ${error.message}`);
  process.exit(1);
});
