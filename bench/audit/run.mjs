#!/usr/bin/env node
// Audit log benchmark rows (issue 13, bench/README.md "Audit log rows").
//
//   npm run bench:audit                 # full run (~4-6 min), writes bench/results/audit.{md,json}
//   AUDIT_QUICK=1 node bench/audit/run.mjs   # short smoke run, writes bench/results/audit.tmp/
//   AUDIT_ONLY=append,proof node bench/audit/run.mjs   # only the matching row groups (to audit.tmp/)
//
// It measures the real code: src/ is bundled with esbuild (the Node bundle options of
// scripts/build-cli.mjs, better-sqlite3 external) into bench/results/audit-build.tmp/ (git-ignored),
// and every row calls that bundle. Row groups: append (SecurityAuditModule into a SQLite file),
// sqlite (raw better-sqlite3 peer: the same bytes, batches and pragmas), proof (inclusion),
// consistency, checkpoint (CheckpointSigner / ML-DSA-87), peer-hash (@noble/hashes and node:crypto
// verifying the same inclusion proofs).
import { createHash, randomBytes } from 'node:crypto';
import { prng } from '../prng.mjs';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { build } from 'esbuild';
import { nodeBundleOptions } from '../../scripts/build-cli.mjs';
import { sysinfo } from '../sysinfo.mjs';

const HERE = path.dirname(fileURLToPath(import.meta.url));
const ROOT = path.resolve(HERE, '../..');
const QUICK = process.env.AUDIT_QUICK === '1';
const ONLY = process.env.AUDIT_ONLY ? process.env.AUDIT_ONLY.split(',') : null;
const FULL = !QUICK && !ONLY;
const OUT_DIR = path.join(ROOT, 'bench/results', FULL ? '' : 'audit.tmp');
const log = (line) => process.stderr.write(`${line}\n`);
const wants = (group) => !ONLY || ONLY.includes(group);

// ---- knobs ---------------------------------------------------------------------------------------
const ROUNDS = QUICK ? 5 : 7; // measured rounds per row (plus one discarded warm-up round)
const APPEND_ROUNDS = 5;
const APPENDS_PER_ROUND = QUICK ? 4096 : 24_576; // a multiple of every window below
const WINDOWS = [64, 256, 4096]; // record() calls in flight
const ROUND_MS = QUICK ? 150 : 400; // timed-loop length of one round of the CPU-bound rows
const TREE_SIZES = QUICK ? [1e3, 1e5] : [1e3, 1e5, 1e6];
const QUERIES = 4096; // distinct proofs cycled through per tree size
const EVENT_TARGET_BYTES = 200;

// ---- build the real code -------------------------------------------------------------------------
const ENTRY = `
export { SecurityAuditModule } from './src/server/audit/sam.js';
export { openSqliteStore } from './src/server/store/sqlite/index.js';
export { AuditCategory } from './src/audit/categories.js';
export { LogWriter } from './src/audit/entries.js';
export { MemoryMerkleStore, MerkleTree } from './src/audit/merkle-tree.js';
export { leafHash, nodeHash, verifyConsistency, verifyInclusion } from './src/audit/merkle.js';
export { CheckpointSigner, openCheckpoint } from './src/audit/checkpoint.js';
export { noteSigner, noteVerifier } from './src/audit/signed-note.js';
export { getSuite } from './src/crypto/suites.js';
`;

async function buildBundle() {
  const dir = path.join(ROOT, 'bench/results/audit-build.tmp', String(process.pid));
  mkdirSync(dir, { recursive: true });
  const options = nodeBundleOptions([]);
  delete options.entryPoints;
  await build({
    ...options,
    stdin: { contents: ENTRY, resolveDir: ROOT, sourcefile: 'bench-audit-entry.ts', loader: 'ts' },
    outdir: undefined,
    outfile: path.join(dir, 'audit.mjs'),
    sourcemap: 'inline',
  });
  return { dir, file: path.join(dir, 'audit.mjs') };
}

// ---- statistics and timing -----------------------------------------------------------------------
const median = (xs) => {
  const s = [...xs].sort((a, b) => a - b);
  const m = s.length >> 1;
  return s.length % 2 ? s[m] : (s[m - 1] + s[m]) / 2;
};

function summarize(samples) {
  return { median: median(samples), min: Math.min(...samples), max: Math.max(...samples), rounds: samples.length, samples };
}

/** ops/s of fn(i) over ROUNDS timed rounds of ROUND_MS each, after one warm-up round. */
function timeLoop(fn, { chunk = 64 } = {}) {
  let i = 0;
  const round = () => {
    const start = performance.now();
    let n = 0;
    let now;
    do {
      for (let c = 0; c < chunk; c++) fn(i++);
      n += chunk;
      now = performance.now();
    } while (now - start < ROUND_MS);
    return n / ((now - start) / 1000);
  };
  round();
  const samples = [];
  for (let r = 0; r < ROUNDS; r++) samples.push(round());
  return summarize(samples);
}

// ---- events --------------------------------------------------------------------------------------
const SESSION_IDS = Array.from({ length: 1024 }, (_, i) => createHash('sha256').update(`session ${i}`).digest('hex'));

/** A session-setup event whose JSON is ~200 bytes; different for every i. */
function makeEvent(i) {
  const event = {
    type: 'session.setup',
    suite: 1,
    user: `user-${String((i * 7919) % 100_000).padStart(6, '0')}`,
    device: `device-${i % 16}`,
    peer: `user-${String((i * 104_729) % 100_000).padStart(6, '0')}`,
    peerDevice: `device-${(i + 3) % 16}`,
    session: SESSION_IDS[i % SESSION_IDS.length].slice(0, 32),
    at: 1_767_225_600_000 + i,
    pad: '',
  };
  const length = JSON.stringify(event).length;
  if (length < EVENT_TARGET_BYTES) event.pad = 'x'.repeat(EVENT_TARGET_BYTES - length);
  return event;
}

// ---- SQLite helpers ------------------------------------------------------------------------------
function tempDir() {
  return mkdtempSync(path.join(os.tmpdir(), 'pqe2ee-bench-audit-'));
}

function pragmasOf(db) {
  return { journal_mode: db.pragma('journal_mode', { simple: true }), synchronous: db.pragma('synchronous', { simple: true }) };
}

// ---- (a) SecurityAuditModule appends -------------------------------------------------------------
async function appendRows(m) {
  const rows = [];
  for (const visibility of ['sealed', 'public']) {
    for (const window of WINDOWS) {
      const dir = tempDir();
      const file = path.join(dir, 'audit.sqlite');
      const store = await m.openSqliteStore(file);
      let batches = 0;
      const audit = store.audit;
      // Counts transactions; every call goes straight to the real SqliteAuditStore.
      const counting = {
        load: () => audit.load(),
        create: (s) => audit.create(s),
        readEntries: (a, b) => audit.readEntries(a, b),
        findKeyEntry: (u, d) => audit.findKeyEntry(u, d),
        append: (batch) => {
          batches++;
          return audit.append(batch);
        },
      };
      const sam = await m.SecurityAuditModule.open(counting, { logId: new TextEncoder().encode('bench.pqe2ee/audit'), initialKey: () => randomBytes(32) });
      const mask = visibility === 'public' ? m.AuditCategory.KEY_PUBLICATION : m.AuditCategory.SESSION_SUITE;
      const events = Array.from({ length: APPENDS_PER_ROUND }, (_, i) => makeEvent(i));
      const round = async () => {
        let issued = 0;
        const expectedStart = sam.size;
        const start = performance.now();
        const worker = async () => {
          while (issued < APPENDS_PER_ROUND) {
            const event = events[issued++];
            await sam.record({ mask, event, visibility });
          }
        };
        await Promise.all(Array.from({ length: window }, worker));
        const seconds = (performance.now() - start) / 1000;
        if (sam.size !== expectedStart + APPENDS_PER_ROUND) throw new Error(`append round stored ${sam.size - expectedStart} entries`);
        return APPENDS_PER_ROUND / seconds;
      };
      await round(); // warm-up
      const batchesBefore = batches;
      const samples = [];
      for (let r = 0; r < APPEND_ROUNDS; r++) samples.push(await round());
      const meanBatch = (APPEND_ROUNDS * APPENDS_PER_ROUND) / (batches - batchesBefore);
      const stored = (await audit.load()).size;
      await sam.close();
      await store.close();
      rmSync(dir, { recursive: true, force: true });
      const row = {
        group: 'append',
        op: `sam.record.${visibility}`,
        inFlight: window,
        unit: 'entries/s',
        ...summarize(samples),
        meanBatch: Math.round(meanBatch),
        storedEntries: stored,
      };
      log(`  ${row.op} in-flight ${window}: ${fmt(row.median)} entries/s (mean batch ${row.meanBatch})`);
      rows.push(row);
    }
  }
  return rows;
}

// ---- the CPU ceiling of (a): sealing and tree appends without storage -------------------------------
function writerRows(m) {
  const rows = [];
  const plaintexts = Array.from({ length: QUERIES }, (_, i) => new TextEncoder().encode(JSON.stringify(makeEvent(i))));
  for (const visibility of ['sealed', 'public']) {
    const writer = m.LogWriter.create({ logId: new TextEncoder().encode('bench.pqe2ee/audit'), initialKey: randomBytes(32) });
    const store = new m.MemoryMerkleStore();
    const tree = m.MerkleTree.open(store, 0);
    const mask = visibility === 'public' ? m.AuditCategory.KEY_PUBLICATION : m.AuditCategory.SESSION_SUITE;
    const stats = timeLoop((i) => {
      const p = plaintexts[i % QUERIES];
      const r = visibility === 'public' ? writer.appendPublic(mask, p, 1_767_225_600_000 + i) : writer.append(mask, p, 1_767_225_600_000 + i);
      store.put(tree.append(r.leafHash));
      if (i % 4096 === 4095) writer.commit(); // as after a batch's transaction
    });
    writer.dispose();
    const row = { group: 'writer', op: `logwriter.append+tree.append.${visibility}`, unit: 'entries/s', ...stats };
    log(`  ${row.op}: ${fmt(row.median)} entries/s`);
    rows.push(row);
  }
  return rows;
}

// ---- (b) raw better-sqlite3 peer -----------------------------------------------------------------
async function sqliteRows(m) {
  const Database = (await import('better-sqlite3')).default;
  // The bytes the SAM writes: sealed entries of the same events, their Merkle nodes, the writer state.
  const writer = m.LogWriter.create({ logId: new TextEncoder().encode('bench.pqe2ee/audit'), initialKey: randomBytes(32) });
  const tree = m.MerkleTree.open(new m.MemoryMerkleStore(), 0);
  const total = APPENDS_PER_ROUND * (APPEND_ROUNDS + 1);
  const entries = [];
  const nodes = [];
  let state;
  for (let i = 0; i < total; i++) {
    const r = writer.append(m.AuditCategory.SESSION_SUITE, new TextEncoder().encode(JSON.stringify(makeEvent(i % APPENDS_PER_ROUND))), 1_767_225_600_000 + i);
    entries.push(r.encodedEntry);
    nodes.push(tree.append(r.leafHash));
    state = r.nextState.slice();
  }
  writer.commit();
  writer.dispose();
  const rows = [];
  let pragmas;
  for (const variant of ['entries', 'entries+nodes+state']) {
    for (const batchSize of WINDOWS) {
      const dir = tempDir();
      const file = path.join(dir, 'raw.sqlite');
      // The same schema (the store's migrations) in the same file format ...
      await (await m.openSqliteStore(file)).close();
      // ... and the same pragmas as openSqliteStore sets (src/server/store/sqlite/index.ts).
      const db = new Database(file);
      db.pragma('journal_mode = WAL');
      db.pragma('synchronous = FULL');
      db.pragma('foreign_keys = ON');
      db.pragma('busy_timeout = 5000');
      pragmas = pragmasOf(db);
      const insertEntry = db.prepare('INSERT INTO audit_entries (idx, entry) VALUES (?, ?)');
      const insertNode = db.prepare('INSERT OR REPLACE INTO audit_nodes (level, idx, hash) VALUES (?, ?, ?)');
      const putState = db.prepare('INSERT INTO audit_writer (id, state) VALUES (1, ?) ON CONFLICT (id) DO UPDATE SET state = excluded.state');
      const withNodes = variant !== 'entries';
      const writeBatch = db.transaction((from, to) => {
        for (let i = from; i < to; i++) {
          insertEntry.run(i, entries[i]);
          if (withNodes) for (const n of nodes[i]) insertNode.run(n.level, n.index, n.hash);
        }
        if (withNodes) putState.run(state);
      });
      let at = 0;
      const round = () => {
        const start = performance.now();
        for (let done = 0; done < APPENDS_PER_ROUND; done += batchSize) {
          writeBatch(at, at + batchSize);
          at += batchSize;
        }
        return APPENDS_PER_ROUND / ((performance.now() - start) / 1000);
      };
      round();
      const samples = [];
      for (let r = 0; r < APPEND_ROUNDS; r++) samples.push(round());
      db.close();
      rmSync(dir, { recursive: true, force: true });
      const row = { group: 'sqlite', op: `better-sqlite3.insert.${variant}`, inFlight: batchSize, unit: 'entries/s', ...summarize(samples), meanBatch: batchSize };
      log(`  ${row.op} batch ${batchSize}: ${fmt(row.median)} entries/s`);
      rows.push(row);
    }
  }
  return { rows, pragmas };
}

// ---- (c, d, f) Merkle proofs ---------------------------------------------------------------------
function buildTree(m, size) {
  const store = new m.MemoryMerkleStore();
  const tree = m.MerkleTree.open(store, 0);
  const leaves = new Array(size);
  const data = new Uint8Array(8);
  const view = new DataView(data.buffer);
  for (let i = 0; i < size; i++) {
    view.setFloat64(0, i);
    const leaf = m.leafHash(data);
    leaves[i] = leaf;
    store.put(tree.append(leaf));
  }
  return { tree, leaves };
}

/** RFC 9162 §2.1.3.2 with another SHA-256, for the hashing-cost peers. */
function peerRootFromInclusion(sha256, index, size, leaf, proof) {
  let fn = index;
  let sn = size - 1;
  let root = leaf;
  const input = new Uint8Array(65);
  input[0] = 1;
  const node = (l, r) => {
    input.set(l, 1);
    input.set(r, 33);
    return sha256(input);
  };
  for (const sibling of proof) {
    if (sn === 0) throw new Error('proof too long');
    if (fn % 2 === 1 || fn === sn) {
      root = node(sibling, root);
      if (fn % 2 === 0) {
        while (fn % 2 === 0 && fn !== 0) {
          fn = Math.floor(fn / 2);
          sn = Math.floor(sn / 2);
        }
      }
    } else {
      root = node(root, sibling);
    }
    fn = Math.floor(fn / 2);
    sn = Math.floor(sn / 2);
  }
  if (sn !== 0) throw new Error('proof too short');
  return root;
}

const equalBytes = (a, b) => a.length === b.length && a.every((x, i) => x === b[i]);

async function proofRows(m) {
  const { sha256: nobleSha256 } = await import('@noble/hashes/sha2.js');
  const nodeSha256 = (bytes) => createHash('sha256').update(bytes).digest();
  const rows = [];
  for (const size of TREE_SIZES) {
    const t0 = performance.now();
    const { tree, leaves } = buildTree(m, size);
    log(`  tree of ${size} leaves built in ${((performance.now() - t0) / 1000).toFixed(1)} s`);
    const root = tree.root();
    const random = prng(size);
    const indexes = Array.from({ length: QUERIES }, () => Math.floor(random() * size));
    const proofs = indexes.map((index) => tree.inclusionProof(index, size));
    proofs.forEach((proof, q) => m.verifyInclusion(indexes[q], size, leaves[indexes[q]], proof, root));
    const meanPath = proofs.reduce((a, p) => a + p.length, 0) / proofs.length;
    const extra = { treeSize: size, proofHashes: +meanPath.toFixed(1) };
    const add = (group, op, stats) => {
      const row = { group, op, unit: 'ops/s', ...extra, ...stats };
      log(`  ${op} n=${size}: ${fmt(row.median)}/s`);
      rows.push(row);
    };
    if (wants('proof')) {
      add(
        'proof',
        'inclusion.generate',
        timeLoop((i) => tree.inclusionProof(indexes[i % QUERIES], size)),
      );
      add(
        'proof',
        'inclusion.verify',
        timeLoop((i) => {
          const q = i % QUERIES;
          m.verifyInclusion(indexes[q], size, leaves[indexes[q]], proofs[q], root);
        }),
      );
    }
    if (wants('peer-hash')) {
      for (const [name, sha256] of [
        ['@noble/hashes', nobleSha256],
        ['node:crypto', nodeSha256],
      ]) {
        proofs.forEach((proof, q) => {
          if (!equalBytes(peerRootFromInclusion(sha256, indexes[q], size, leaves[indexes[q]], proof), root)) throw new Error(`${name} peer: wrong root`);
        });
        add(
          'peer-hash',
          `inclusion.verify.${name}`,
          timeLoop((i) => {
            const q = i % QUERIES;
            if (!equalBytes(peerRootFromInclusion(sha256, indexes[q], size, leaves[indexes[q]], proofs[q]), root)) throw new Error('wrong root');
          }),
        );
      }
    }
    if (wants('consistency')) {
      const olds = Array.from({ length: QUERIES }, () => 1 + Math.floor(random() * (size - 1)));
      const oldRoots = olds.map((s) => tree.rootAt(s));
      const cproofs = olds.map((s) => tree.consistencyProof(s, size));
      cproofs.forEach((proof, q) => m.verifyConsistency(olds[q], size, proof, oldRoots[q], root));
      const cextra = { treeSize: size, proofHashes: +(cproofs.reduce((a, p) => a + p.length, 0) / cproofs.length).toFixed(1) };
      const addC = (op, stats) => {
        const row = { group: 'consistency', op, unit: 'ops/s', ...cextra, ...stats };
        log(`  ${op} n=${size}: ${fmt(row.median)}/s`);
        rows.push(row);
      };
      addC(
        'consistency.generate',
        timeLoop((i) => tree.consistencyProof(olds[i % QUERIES], size)),
      );
      addC(
        'consistency.verify',
        timeLoop((i) => {
          const q = i % QUERIES;
          m.verifyConsistency(olds[q], size, cproofs[q], oldRoots[q], root);
        }),
      );
    }
  }
  return rows;
}

// ---- (e) checkpoints -----------------------------------------------------------------------------
function checkpointRows(m) {
  const origin = 'bench.pqe2ee/audit';
  const keyPair = m.getSuite(1).sig.keygenFromSeed(new Uint8Array(32).fill(7));
  const signer = m.noteSigner(1, origin, keyPair);
  const verifier = m.noteVerifier(1, origin, keyPair.publicKey);
  const size = 1e5;
  const { tree } = buildTree(m, size);
  const base = size / 2;
  const sizes = 2048;
  const heads = Array.from({ length: sizes + 1 }, (_, i) => ({ origin, size: base + i, rootHash: tree.rootAt(base + i), extensions: [] }));
  const rows = [];
  // Each round: a fresh signer that last signed size `base`, then checkpoints of growing size with
  // the tree as evidence: the TLM's real cost (consistency proof, its check, formatting, ML-DSA-87).
  let s = new m.CheckpointSigner({ signer, origin, lastSigned: heads[0] });
  const signStats = timeLoop(
    (i) => {
      const k = (i % sizes) + 1;
      if (k === 1) s = new m.CheckpointSigner({ signer, origin, lastSigned: heads[0] });
      s.sign(heads[k], { tree });
    },
    { chunk: 1 },
  );
  rows.push({ group: 'checkpoint', op: 'checkpoint.sign', unit: 'ops/s', treeSize: size, ...signStats });
  log(`  checkpoint.sign: ${fmt(signStats.median)}/s`);
  const notes = heads.slice(1, 65).map((h, i) => new m.CheckpointSigner({ signer, origin, lastSigned: heads[i] }).sign(h, { tree }));
  const verifyStats = timeLoop(
    (i) => {
      const { checkpoint } = m.openCheckpoint(notes[i % notes.length], [verifier], origin);
      if (checkpoint.size !== base + 1 + (i % notes.length)) throw new Error('wrong checkpoint');
    },
    { chunk: 1 },
  );
  rows.push({ group: 'checkpoint', op: 'checkpoint.verify', unit: 'ops/s', treeSize: size, ...verifyStats });
  log(`  checkpoint.verify: ${fmt(verifyStats.median)}/s`);
  return rows;
}

// ---- output --------------------------------------------------------------------------------------
function fmt(x) {
  if (x >= 100) return Math.round(x).toLocaleString('en-US');
  return x.toPrecision(3);
}

function table(rows) {
  const lines = ['| group | operation | in flight / batch | tree size | proof hashes | median /s | min /s | max /s | mean batch |', '|---|---|---:|---:|---:|---:|---:|---:|---:|'];
  for (const r of rows) {
    lines.push(
      `| ${r.group} | ${r.op} | ${r.inFlight ?? ''} | ${r.treeSize?.toLocaleString('en-US') ?? ''} | ${r.proofHashes ?? ''} | ${fmt(r.median)} | ${fmt(r.min)} | ${fmt(r.max)} | ${r.meanBatch ?? ''} |`,
    );
  }
  return lines.join('\n');
}

async function main() {
  const info = sysinfo();
  log(`bench/audit: ${QUICK ? 'quick' : FULL ? 'full' : 'partial'} run, ${info.cpu.cores} cores (${info.cpu.model}), node ${info.node}`);
  const bundle = await buildBundle();
  try {
    const m = await import(pathToFileURL(bundle.file).href);
    const rows = [];
    let pragmas;
    if (wants('append')) {
      log('append: SecurityAuditModule.record into a SQLite file');
      rows.push(...(await appendRows(m)));
    }
    if (wants('writer')) {
      log('writer: LogWriter + MerkleTree appends in memory (the CPU ceiling of the append rows)');
      rows.push(...writerRows(m));
    }
    if (wants('sqlite')) {
      log('sqlite: raw better-sqlite3 inserts of the same bytes');
      const peer = await sqliteRows(m);
      rows.push(...peer.rows);
      pragmas = peer.pragmas;
    }
    if (wants('proof') || wants('consistency') || wants('peer-hash')) {
      log('proofs');
      rows.push(...(await proofRows(m)));
    }
    if (wants('checkpoint')) {
      log('checkpoints');
      rows.push(...checkpointRows(m));
    }
    const settings = {
      quick: QUICK,
      only: ONLY,
      rounds: ROUNDS,
      appendRounds: APPEND_ROUNDS,
      appendsPerRound: APPENDS_PER_ROUND,
      roundMs: ROUND_MS,
      eventJsonBytes: JSON.stringify(makeEvent(0)).length,
      sqlitePragmas: pragmas,
    };
    const result = { sysinfo: { ...info, loadavgAtEnd: os.loadavg().map((x) => +x.toFixed(2)) }, settings, rows };
    const md = [
      '# Audit log rows',
      '',
      `${info.date}, node ${info.node}, ${info.cpu.cores} × ${info.cpu.model}, load average ${info.loadavgAtStart.join(' / ')} at start, ${result.sysinfo.loadavgAtEnd.join(' / ')} at end.`,
      `Medians of ${APPEND_ROUNDS} rounds (appends, ${APPENDS_PER_ROUND} entries each) or ${ROUNDS} rounds of ${ROUND_MS} ms (the rest), after one warm-up round; event JSON ${settings.eventJsonBytes} B; SQLite ${pragmas ? `journal_mode=${pragmas.journal_mode}, synchronous=${pragmas.synchronous} (2 = FULL)` : 'pragmas as openSqliteStore sets them'}.`,
      'See bench/README.md "Audit log rows" for what each row measures.',
      '',
      table(rows),
      '',
    ].join('\n');
    mkdirSync(OUT_DIR, { recursive: true });
    writeFileSync(path.join(OUT_DIR, 'audit.json'), `${JSON.stringify(result, null, 2)}\n`);
    writeFileSync(path.join(OUT_DIR, 'audit.md'), md);
    process.stdout.write(`${md}\n`);
    log(`written: ${path.relative(ROOT, path.join(OUT_DIR, 'audit.md'))}, audit.json`);
  } finally {
    rmSync(bundle.dir, { recursive: true, force: true });
  }
}

await main();
