// SQLite durability: a child process commits transactions through the built store code, reports each
// one after transaction() resolved, and is SIGKILLed mid-stream; every reported transaction must be
// in the reopened file, and the file must be consistent (each transaction's writes all or none).
import { spawn } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { build } from 'esbuild';
import { beforeAll, describe, expect, it } from 'vitest';
import { openSqliteDatabase } from '../../src/store/node.js';
import { useTempDir } from './tmp.js';

const temp = useTempDir('durability');
const repoNodeModules = resolve(import.meta.dirname, '../../node_modules');
const bundle = join(temp.dir, 'store.mjs');
const writer = join(temp.dir, 'writer.mjs');
const opener = join(temp.dir, 'opener.mjs');

/** Value of log entry i: 1 KiB derived from i. */
function entryValue(i: number): Uint8Array {
  return Uint8Array.from({ length: 1024 }, (_, j) => (i * 31 + j) & 0xff);
}

beforeAll(async () => {
  await build({
    entryPoints: [resolve(import.meta.dirname, '../../src/store/node.ts')],
    bundle: true,
    platform: 'node',
    format: 'esm',
    target: 'node20',
    external: ['better-sqlite3'],
    outfile: bundle,
    logLevel: 'silent',
  });
  writeFileSync(
    writer,
    `import { openSqliteDatabase } from './store.mjs';
const entryValue = ${entryValue.toString()};
const db = await openSqliteDatabase(process.argv[2]);
const stored = await db.transaction((tx) => tx.get('state', 'count'));
let count = stored ? new DataView(stored.buffer).getUint32(0) : 0;
process.stdout.write('ready ' + count + '\\n');
for (;;) {
  const next = count + 1;
  await db.transaction(async (tx) => {
    await tx.put('log', String(next).padStart(8, '0'), entryValue(next));
    const counter = new Uint8Array(4);
    new DataView(counter.buffer).setUint32(0, next);
    await tx.put('state', 'count', counter);
  });
  count = next;
  process.stdout.write('committed ' + count + '\\n');
}
`,
  );
  writeFileSync(
    opener,
    `import { openSqliteDatabase } from './store.mjs';
try { await openSqliteDatabase(process.argv[2]); process.stdout.write('opened'); }
catch (error) { process.stdout.write(error.name + ' ' + error.code); }
`,
  );
});

/** Runs the writer until it has reported `commits` more transactions, then SIGKILLs it; returns the last reported count. */
function runAndKill(path: string, commits: number): Promise<number> {
  return new Promise((resolvePromise, reject) => {
    const child = spawn(process.execPath, [writer, path], {
      env: { ...process.env, NODE_PATH: repoNodeModules },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let stderr = '';
    let buffered = '';
    let start: number | undefined;
    let last = -1;
    child.stderr.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
    child.stdout.on('data', (chunk: Buffer) => {
      buffered += chunk.toString();
      const lines = buffered.split('\n');
      buffered = lines.pop()!;
      for (const line of lines) {
        const [word, number] = line.split(' ');
        if (word === 'ready') start = Number(number);
        if (word === 'committed') last = Number(number);
      }
      if (start !== undefined && last >= start + commits) child.kill('SIGKILL');
    });
    child.on('error', reject);
    child.on('exit', (code, signal) => {
      if (signal !== 'SIGKILL') reject(new Error(`writer exited with ${code ?? signal}: ${stderr}`));
      else resolvePromise(last);
    });
  });
}

describe('sqlite durability', () => {
  it('every transaction reported before a SIGKILL is in the file, and the file is consistent', async () => {
    const path = temp.nextPath();
    let reported = 0;
    for (let round = 0; round < 3; round++) {
      const last = await runAndKill(path, 150);
      expect(last).toBeGreaterThanOrEqual(reported + 150);
      reported = last;

      const db = await openSqliteDatabase(path);
      const { count, log } = await db.transaction(async (tx) => {
        const stored = await tx.get('state', 'count');
        return { count: new DataView(stored!.buffer).getUint32(0), log: await tx.list('log') };
      });
      await db.close();
      // Reported ones are all there; at most one more (committed, killed before it was printed).
      expect(count).toBeGreaterThanOrEqual(reported);
      expect(count).toBeLessThanOrEqual(reported + 1);
      expect(log.length).toBe(count);
      log.forEach((entry, index) => {
        expect(entry.key).toBe(String(index + 1).padStart(8, '0'));
        expect(entry.value).toEqual(entryValue(index + 1));
      });
      reported = count;
    }
  });

  it('a child without better-sqlite3 gets StorageUnavailableError', async () => {
    const { NODE_PATH: _ignored, ...env } = process.env;
    const output = await new Promise<string>((resolvePromise, reject) => {
      const child = spawn(process.execPath, [opener, temp.nextPath()], { env, stdio: ['ignore', 'pipe', 'inherit'] });
      let stdout = '';
      child.stdout.on('data', (chunk: Buffer) => (stdout += chunk.toString()));
      child.on('error', reject);
      child.on('exit', () => resolvePromise(stdout));
    });
    expect(output).toBe('StorageUnavailableError ERR_STORAGE_UNAVAILABLE');
  });

  it('the same child opens the store when better-sqlite3 is resolvable (the check above is not vacuous)', async () => {
    const output = await new Promise<string>((resolvePromise, reject) => {
      const child = spawn(process.execPath, [opener, temp.nextPath()], {
        env: { ...process.env, NODE_PATH: repoNodeModules },
        stdio: ['ignore', 'pipe', 'inherit'],
      });
      let stdout = '';
      child.stdout.on('data', (chunk: Buffer) => (stdout += chunk.toString()));
      child.on('error', reject);
      child.on('exit', () => resolvePromise(stdout));
    });
    expect(output).toBe('opened');
  });
});
