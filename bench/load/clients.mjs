#!/usr/bin/env node
// Load worker: N E2eeClient instances in this one process against a running server (started by
// run.mjs in another process). Argument: one JSON object (see run.mjs, `worker config`).
// Progress goes to stderr; the result is the last stdout line, one JSON object.
//
// Phases: register N devices (bounded concurrency) → pair them in a ring (client i sends to
// client (i+1) mod N) and establish every session with one unmeasured message → measured window
// (closed loop: each client keeps at most `window` messages in flight, "in flight" meaning sent
// but not yet seen by the receiver) until `durationMs` passes or `maxMessages` sends have started
// → drain (wait for what is still in flight, at most `drainMs`) → stop every client.
import { loadPackage } from './dist.mjs';
import { createRelayClient } from './relay-client.mjs';

const cfg = JSON.parse(process.argv[2] ?? '{}');
const { createClient, createServerTransport } = await loadPackage();
const log = (line) => process.stderr.write(`  [clients] ${line}\n`);
const now = () => performance.now();
const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms));

const N = cfg.n;
const BODY_BYTES = cfg.bodyBytes;
const encoder = new TextEncoder();
const decoder = new TextDecoder();

/** 100-byte body: JSON header {s, q, t} (sender, sequence, send time in ms) padded with spaces. */
function body(sender, seq, t) {
  const head = JSON.stringify({ s: sender, q: seq, t });
  if (head.length > BODY_BYTES) throw new Error(`body header longer than ${BODY_BYTES} bytes`);
  return encoder.encode(head.padEnd(BODY_BYTES, ' '));
}

let peakRss = 0;
const rssTimer = setInterval(() => {
  peakRss = Math.max(peakRss, process.memoryUsage().rss);
}, 250);

/** Runs fn over items with at most `limit` running at once. */
async function pool(items, limit, fn) {
  let next = 0;
  const workers = Array.from({ length: Math.min(limit, items.length) }, async () => {
    while (next < items.length) {
      const i = next++;
      await fn(items[i], i);
    }
  });
  await Promise.all(workers);
}

const errors = { send: 0, background: 0, samples: [] };
function noteError(kind, message) {
  errors[kind]++;
  if (errors.samples.length < 10) errors.samples.push(`${kind}: ${message}`);
}

const clients = new Array(N);
const subscribes = new Int32Array(N);
const rpcFailures = {};
function noteRpcFailure(rpc, error) {
  const key = `${rpc}: ${error?.cause?.code ?? error?.cause?.message ?? error?.message ?? error}`;
  rpcFailures[key] = (rpcFailures[key] ?? 0) + 1;
}
// Measurement state.
let phase = 'setup';
const latencies = []; // ms, measured messages only
const inFlight = new Int32Array(N); // per sender
const wakers = new Array(N).fill(null); // resolves a sender waiting for a free slot
let warmupReceived = 0;
let warmupResolve;
const warmupDone = new Promise((resolve) => (warmupResolve = resolve));
let sent = 0; // measured sends started
let sendsOk = 0;
let delivered = 0; // measured messages received
let duplicates = 0;
let lastDelivery = 0;
const seen = new Array(N).fill(0).map(() => new Set());
let drainResolve;

function onMessage(receiver, event) {
  const t = now();
  let header;
  try {
    header = JSON.parse(decoder.decode(event.message.body));
  } catch {
    noteError('background', `client ${receiver}: unparsable body`);
    return;
  }
  const sender = header.s;
  if (sender !== (receiver - 1 + N) % N) noteError('background', `client ${receiver}: message from unexpected sender ${sender}`);
  if (header.q < 0) {
    // Warm-up (session establishment) message.
    if (++warmupReceived === N) warmupResolve();
    return;
  }
  if (seen[sender].has(header.q)) {
    duplicates++;
    return;
  }
  seen[sender].add(header.q);
  latencies.push(t - header.t);
  delivered++;
  lastDelivery = t;
  inFlight[sender]--;
  const wake = wakers[sender];
  if (wake) {
    wakers[sender] = null;
    wake();
  }
  if (drainResolve && delivered >= sendsOk) drainResolve();
}

const timings = {};
const mark = (name, since) => (timings[name] = Math.round(now() - since));

// 1. Register.
let t0 = now();
await pool(
  Array.from({ length: N }, (_, i) => i),
  cfg.setupConcurrency,
  async (i) => {
    // The default transport, with fetch wrapped only to count Subscribe calls (stream (re)connects)
    // and failed RPCs.
    const countingFetch = async (input, init) => {
      const rpc = String(input?.url ?? input).slice(String(input?.url ?? input).lastIndexOf('/') + 1);
      if (rpc === 'Subscribe') subscribes[i]++;
      try {
        return await fetch(input, init);
      } catch (error) {
        if (!(rpc === 'Subscribe' && phase === 'stop')) noteRpcFailure(rpc, error);
        throw error;
      }
    };
    const client =
      cfg.suite === 'relay'
        ? createRelayClient({ url: cfg.url, fetch: countingFetch, deviceId: 'load', userName: `load-${i}` })
        : createClient({ server: createServerTransport(cfg.url, { fetch: countingFetch }), deviceId: 'load', suite: cfg.suite, userName: `load-${i}` });
    client.on('error', (event) => noteError('background', `client ${i}: ${event.context}: ${event.error?.message ?? event.error}`));
    client.on('one2one-message', (event) => onMessage(i, event));
    await client.start();
    clients[i] = client;
    if ((i + 1) % Math.max(1, Math.floor(N / 4)) === 0) log(`registered ${i + 1}/${N}`);
  },
);
mark('registerMs', t0);
log(`registered ${N} clients (suite ${cfg.suite}) in ${timings.registerMs} ms`);

// 2. Sessions: one unmeasured message per ring edge (invite → accept → the queued message).
t0 = now();
await pool(
  Array.from({ length: N }, (_, i) => i),
  cfg.setupConcurrency,
  async (i) => {
    await clients[i].sendMessage(clients[(i + 1) % N].address.userId, body(i, -1, now()));
  },
);
const warmupTimeout = sleep(cfg.setupTimeoutMs).then(() => 'timeout');
if ((await Promise.race([warmupDone, warmupTimeout])) === 'timeout') {
  log(`sessions: only ${warmupReceived}/${N} warm-up messages arrived within ${cfg.setupTimeoutMs} ms`);
  throw new Error(`session establishment timed out (${warmupReceived}/${N})`);
}
mark('sessionsMs', t0);
log(`sessions established for ${N} ring edges in ${timings.sessionsMs} ms`);

// 3. Measured window.
const cpu0 = process.cpuUsage();
process.stdout.write(`${JSON.stringify({ event: 'measure-start' })}\n`);
phase = 'measure';
const start = now();
const deadline = start + cfg.durationMs;
let sendEnd = 0;
async function sender(i) {
  const to = clients[(i + 1) % N].address.userId;
  let seq = 0;
  while (now() < deadline && sent < cfg.maxMessages) {
    if (inFlight[i] >= cfg.window) {
      // Wait for a delivery from this sender, but never past the deadline (a lost message must not hang the run).
      await new Promise((resolve) => {
        const timer = setTimeout(resolve, Math.max(1, deadline - now()));
        wakers[i] = () => {
          clearTimeout(timer);
          resolve();
        };
      });
      continue;
    }
    sent++;
    inFlight[i]++;
    const q = seq++;
    try {
      await clients[i].sendMessage(to, body(i, q, now()));
      sendsOk++;
    } catch (error) {
      inFlight[i]--;
      noteError('send', `client ${i}: ${error?.message ?? error}`);
      await sleep(50);
    }
  }
}
await Promise.all(clients.map((_, i) => sender(i)));
sendEnd = now();
phase = 'drain';
log(`sends finished: ${sent} started, ${sendsOk} accepted by the server, ${delivered} delivered so far`);

// 4. Drain.
if (delivered < sendsOk) {
  await Promise.race([new Promise((resolve) => (drainResolve = resolve)), sleep(cfg.drainMs)]);
}
const cpu = process.cpuUsage(cpu0);
process.stdout.write(`${JSON.stringify({ event: 'measure-end' })}\n`);
const end = lastDelivery > 0 ? lastDelivery : now();

// 5. Stop.
phase = 'stop';
const subscribeCalls = subscribes.reduce((a, b) => a + b, 0);
t0 = now();
await pool(clients, 50, (c) => c.stop().catch((error) => noteError('background', `stop: ${error?.message ?? error}`)));
mark('stopMs', t0);
clearInterval(rssTimer);

latencies.sort((a, b) => a - b);
const pct = (p) => (latencies.length ? latencies[Math.min(latencies.length - 1, Math.ceil((p / 100) * latencies.length) - 1)] : null);
const round = (x, d = 2) => (x === null ? null : Number(x.toFixed(d)));
const elapsedMs = end - start;
const result = {
  n: N,
  suite: cfg.suite,
  window: cfg.window,
  bodyBytes: BODY_BYTES,
  sent,
  accepted: sendsOk,
  delivered,
  undelivered: sendsOk - delivered,
  duplicates,
  errors: errors.send + errors.background,
  sendErrors: errors.send,
  backgroundErrors: errors.background,
  errorSamples: errors.samples,
  streamReconnects: subscribeCalls - N,
  fetchFailures: rpcFailures,
  sendWindowMs: Math.round(sendEnd - start),
  elapsedMs: Math.round(elapsedMs),
  msgsPerSec: round(delivered / (elapsedMs / 1000), 1),
  latencyMs: {
    p50: round(pct(50)),
    p90: round(pct(90)),
    p99: round(pct(99)),
    max: round(latencies.at(-1) ?? null),
    mean: round(latencies.length ? latencies.reduce((a, b) => a + b, 0) / latencies.length : null),
  },
  clientCpuPercent: round(((cpu.user + cpu.system) / 1000 / elapsedMs) * 100, 0),
  clientPeakRssMiB: round(Math.max(peakRss, process.memoryUsage().rss) / 2 ** 20, 0),
  timings,
};
process.stdout.write(`${JSON.stringify({ event: 'result', result })}\n`);
process.exit(0);
