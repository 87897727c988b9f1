// Quick measurement of the audit Merkle tree (issue 13 target: proof verification >= 50,000/s for a
// tree of 1e5 leaves). Bundles src/audit/ with esbuild into a temporary file, builds a tree of
// LEAVES leaves in a memory store, then times appends, proof generation and proof verification,
// and the log writer's sealing step.
// Prints rates; asserts nothing (timing belongs in bench/, not in tests).
//   node scripts/bench-audit-merkle.mjs [leaves]
import { build } from 'esbuild';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';

const repoRoot = resolve(dirname(fileURLToPath(import.meta.url)), '..');
const LEAVES = Number(process.argv[2] ?? 100_000);
const work = mkdtempSync(join(tmpdir(), 'pqe2ee-bench-audit-'));

try {
  const entry = join(work, 'entry.ts');
  writeFileSync(
    entry,
    [
      `export * from ${JSON.stringify(join(repoRoot, 'src/audit/merkle.ts'))};`,
      `export * from ${JSON.stringify(join(repoRoot, 'src/audit/merkle-tree.ts'))};`,
      `export { LogWriter } from ${JSON.stringify(join(repoRoot, 'src/audit/entries.ts'))};`,
    ].join('\n'),
  );
  const outfile = join(work, 'audit.mjs');
  await build({ entryPoints: [entry], outfile, bundle: true, format: 'esm', platform: 'node', target: 'es2022', logLevel: 'warning' });
  const audit = await import(pathToFileURL(outfile).href);

  const rate = (label, count, run) => {
    const started = performance.now();
    run();
    const seconds = (performance.now() - started) / 1000;
    console.log(
      `${label.padEnd(44)} ${Math.round(count / seconds)
        .toLocaleString('en-US')
        .padStart(12)} /s  (${count} in ${seconds.toFixed(2)} s)`,
    );
  };

  const store = new audit.MemoryMerkleStore();
  const tree = audit.MerkleTree.open(store, 0);
  const data = new Uint8Array(200);
  const view = new DataView(data.buffer);
  rate(`append (leaf hash + nodes), ${LEAVES} leaves`, LEAVES, () => {
    for (let i = 0; i < LEAVES; i++) {
      view.setUint32(0, i);
      store.put(tree.append(audit.leafHash(data)));
    }
  });
  const root = tree.root();

  const samples = 20_000;
  const indexes = Array.from({ length: samples }, (_, i) => (i * 7919) % LEAVES);
  const proofs = [];
  rate(`inclusion proof generation (n=${LEAVES})`, samples, () => {
    for (const index of indexes) proofs.push(tree.inclusionProof(index));
  });
  const leaves = indexes.map((index) => store.readNode(0, index));
  // Warm up, then time verification with the leaf hash given (what a client or verifier holds).
  for (let i = 0; i < 2000; i++) audit.verifyInclusion(indexes[i], LEAVES, leaves[i], proofs[i], root);
  rate(`inclusion proof verification (n=${LEAVES}, ${proofs[0].length} hashes)`, samples, () => {
    for (let i = 0; i < samples; i++) audit.verifyInclusion(indexes[i], LEAVES, leaves[i], proofs[i], root);
  });

  const sizes = Array.from({ length: 5000 }, (_, i) => 1 + ((i * 104729) % (LEAVES - 1)));
  const consistency = [];
  rate(`consistency proof generation (to n=${LEAVES})`, sizes.length, () => {
    for (const size of sizes) consistency.push(tree.consistencyProof(size));
  });
  const oldRoots = sizes.map((size) => tree.rootAt(size));
  rate(`consistency proof verification (to n=${LEAVES})`, sizes.length, () => {
    for (let i = 0; i < sizes.length; i++) audit.verifyConsistency(sizes[i], LEAVES, consistency[i], oldRoots[i], root);
  });
  rate(`rootAt(past size) (n=${LEAVES})`, sizes.length, () => {
    for (const size of sizes) tree.rootAt(size);
  });
  rate(`reopen (frontier from store) (n=${LEAVES})`, 10_000, () => {
    for (let i = 0; i < 10_000; i++) audit.MerkleTree.open(store, LEAVES - i);
  });

  // The SAM's sealing step alone (no disk): what a durable append adds on top of its transaction.
  const writer = audit.LogWriter.create({ logId: new TextEncoder().encode('bench.example/log'), initialKey: new Uint8Array(32).fill(7) });
  const event = new Uint8Array(200);
  rate('LogWriter.append (200-byte event, in memory)', 20_000, () => {
    for (let i = 0; i < 20_000; i++) {
      writer.append(1, event, 1_750_000_000_000 + i);
      if (i % 100 === 99) writer.commit();
    }
  });
} finally {
  rmSync(work, { recursive: true, force: true });
}
