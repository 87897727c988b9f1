// Crash safety of the receive path, end to end: a receiving client in a child process (SQLite
// database file) is SIGKILLed at 'decrypted', 'persisted' or 'delivered' while the k-th of N
// messages is processed; restarted on the same database (no crash) it delivers every message
// exactly once (by messageId, in the fsync'd file its listener appends to), and the session still
// works both directions (no Bad MAC / DecryptionFailed, no 'error' events).
import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import path from 'node:path';
import { build } from 'esbuild';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { repoRoot } from '../support/index.js';
import type { ChildMessage } from './crash-messages.js';
import { errorsOf, makeClient, tempDir, text, useServerProcess, waitUntil, type TestClient } from './harness.js';

const server = useServerProcess();
let bundleDir: string;
let childScript: string;

beforeAll(async () => {
  // The bundle lives under node_modules/.cache so that better-sqlite3 (external, loaded with
  // createRequire(import.meta.url)) resolves from the repository's node_modules.
  const cache = path.join(repoRoot, 'node_modules', '.cache');
  mkdirSync(cache, { recursive: true });
  bundleDir = mkdtempSync(path.join(cache, 'pqe2ee-e2e-crash-'));
  childScript = path.join(bundleDir, 'crash-child.mjs');
  await build({
    absWorkingDir: repoRoot,
    entryPoints: [path.join(repoRoot, 'test/e2e/crash-child.ts')],
    outfile: childScript,
    bundle: true,
    platform: 'node',
    format: 'esm',
    target: 'node20',
    external: ['better-sqlite3'],
    logLevel: 'warning',
  });
});

afterAll(() => {
  if (bundleDir) rmSync(bundleDir, { recursive: true, force: true });
});

interface Child {
  process: ChildProcess;
  ready: Promise<{ userId: string; deviceId: string }>;
  exit: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
  errors: string[];
  sent: string[];
  joined: string[];
  armed: () => boolean;
  output: () => string;
}

function runChild(env: Record<string, string>): Child {
  const child = spawn(process.execPath, [childScript], {
    stdio: ['ignore', 'pipe', 'pipe', 'ipc'],
    env: { ...process.env, ...env },
  });
  let output = '';
  child.stdout?.on('data', (chunk: Buffer) => (output += chunk.toString()));
  child.stderr?.on('data', (chunk: Buffer) => (output += chunk.toString()));
  const errors: string[] = [];
  const sent: string[] = [];
  const joined: string[] = [];
  let armed = false;
  child.on('message', (raw) => {
    const message = raw as ChildMessage;
    if (message.type === 'joined') joined.push(message.groupId);
    if (message.type === 'armed') armed = true;
  });
  const exit = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve) => child.once('exit', (code, signal) => resolve({ code, signal })));
  const ready = new Promise<{ userId: string; deviceId: string }>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`child not ready within 20 s: ${output}`)), 20_000);
    child.on('message', (raw) => {
      const message = raw as ChildMessage;
      if (message.type === 'ready') {
        clearTimeout(timer);
        resolve({ userId: message.userId, deviceId: message.deviceId });
      } else if (message.type === 'error') errors.push(`${message.context}: ${message.message}`);
      else if (message.type === 'sent') sent.push(message.messageId);
      else if (message.type === 'fatal') {
        clearTimeout(timer);
        reject(new Error(`child failed: ${message.message}\n${output}`));
      }
    });
    void exit.then(({ code, signal }) => {
      clearTimeout(timer);
      reject(new Error(`child exited (${code ?? signal}) before ready: ${output}`));
    });
  });
  ready.catch(() => undefined);
  return { process: child, ready, exit, errors, sent, joined, armed: () => armed, output: () => output };
}

async function killChild(child: Child): Promise<void> {
  if (child.process.exitCode === null && child.process.signalCode === null) child.process.kill('SIGKILL');
  await child.exit;
}

function delivered(file: string): Array<{ messageId: string; body: string; groupId?: string }> {
  if (!existsSync(file)) return [];
  return readFileSync(file, 'utf8')
    .split('\n')
    .filter((line) => line !== '')
    .map((line) => JSON.parse(line) as { messageId: string; body: string; groupId?: string });
}

const N = 6;
const CASES = ['decrypted', 'persisted', 'delivered'].flatMap((point) => [1, 3].map((k) => ({ point, k })));

describe('crash safety of the receive path (child process, SQLite, SIGKILL)', () => {
  it.each(CASES)('killed at $point for message $k of 6: restart delivers every message exactly once, the session works both ways', async ({ point, k: K }) => {
    const dir = tempDir('pqe2ee-e2e-crash-');
    const outFile = path.join(dir, 'delivered.jsonl');
    const base = { SERVER_URL: server.url, DB_PATH: path.join(dir, 'receiver.sqlite'), DEVICE_ID: `receiver-${point}-${K}`, OUT_FILE: outFile, SUITE: '2' };
    const sender: TestClient = await makeClient(server, `sender-${point}-${K}`);
    const children: Child[] = [];
    try {
      // Run 1: armed to crash at `point` the K-th time it gets there.
      const first = runChild({ ...base, CRASH_AT: point, CRASH_NTH: String(K) });
      children.push(first);
      const receiver = await first.ready;
      const ids: string[] = [];
      for (let i = 0; i < N; i++) ids.push((await sender.client.sendMessage(receiver.userId, `message ${i}`)).messageId);
      const killed = await Promise.race([first.exit, new Promise<'timeout'>((resolve) => setTimeout(() => resolve('timeout'), 20_000))]);
      expect(killed).toEqual({ code: null, signal: 'SIGKILL' });
      const beforeRestart = delivered(outFile);
      // What reached the app before the crash: the first K-1 messages, plus the K-th at 'delivered'.
      expect(beforeRestart.map((m) => m.body)).toEqual(Array.from({ length: point === 'delivered' ? K : K - 1 }, (_, i) => `message ${i}`));
      expect(first.errors).toEqual([]);

      // Run 2: same database, no crash.
      const second = runChild(base);
      children.push(second);
      expect(await second.ready).toEqual(receiver);
      await waitUntil(() => delivered(outFile).length >= N, `all ${N} messages delivered after the restart`, 20_000);

      // The session still works both directions.
      await sender.client.sendMessage(receiver.userId, 'after the crash');
      await waitUntil(() => delivered(outFile).some((m) => m.body === 'after the crash'), 'the post-crash message reaching the receiver', 20_000);
      const reply = sender.client.waitFor('one2one-message', () => true, 20_000);
      second.process.send({ type: 'send', userId: sender.userId, body: 'reply after the crash' });
      expect(text((await reply).message.body)).toBe('reply after the crash');
      await new Promise((resolve) => setTimeout(resolve, 300)); // a duplicate would show up now

      const all = delivered(outFile);
      expect(all.map((m) => m.messageId)).toEqual([...ids, all[N]?.messageId]);
      expect(new Set(all.map((m) => m.messageId)).size).toBe(all.length);
      expect(all.map((m) => m.body)).toEqual([...Array.from({ length: N }, (_, i) => `message ${i}`), 'after the crash']);
      expect(sender.one2oneTexts()).toEqual(['reply after the crash']);
      expect(second.errors).toEqual([]);
      expect(errorsOf(sender)).toEqual([]);
    } finally {
      for (const child of children) await killChild(child);
      await sender.stop().catch(() => undefined);
    }
  });
});

describe('crash safety of the group receive path (child process, SQLite, SIGKILL)', () => {
  it.each(['decrypted', 'persisted', 'delivered'])(
    'killed at %s for group message 2 of 4: restart delivers every group message exactly once, the group still works',
    async (point) => {
      const K = 2;
      const GN = 4;
      const dir = tempDir('pqe2ee-e2e-crash-group-');
      const outFile = path.join(dir, 'delivered.jsonl');
      const base = { SERVER_URL: server.url, DB_PATH: path.join(dir, 'receiver.sqlite'), DEVICE_ID: `group-receiver-${point}`, OUT_FILE: outFile, SUITE: '2', CRASH_AT: point };
      const sender: TestClient = await makeClient(server, `group-sender-${point}`);
      const children: Child[] = [];
      try {
        const first = runChild(base);
        children.push(first);
        const receiver = await first.ready;
        const { groupId } = await sender.client.createGroup(`crash-${point}`, [receiver.userId]);
        await waitUntil(() => first.joined.includes(groupId), 'the child joining the group', 20_000);
        first.process.send({ type: 'arm', nth: K });
        await waitUntil(() => first.armed(), 'the child arming its crash hook', 10_000);
        const ids: string[] = [];
        for (let i = 0; i < GN; i++) ids.push((await sender.client.sendGroupMessage(groupId, `group message ${i}`)).messageId);
        const killed = await Promise.race([first.exit, new Promise<'timeout'>((resolve) => setTimeout(() => resolve('timeout'), 20_000))]);
        expect(killed).toEqual({ code: null, signal: 'SIGKILL' });
        expect(delivered(outFile).map((m) => m.body)).toEqual(Array.from({ length: point === 'delivered' ? K : K - 1 }, (_, i) => `group message ${i}`));
        expect(first.errors).toEqual([]);

        const second = runChild({ ...base, CRASH_AT: '' });
        children.push(second);
        expect(await second.ready).toEqual(receiver);
        await waitUntil(() => delivered(outFile).length >= GN, `all ${GN} group messages delivered after the restart`, 20_000);
        await sender.client.sendGroupMessage(groupId, 'group after the crash');
        await waitUntil(() => delivered(outFile).some((m) => m.body === 'group after the crash'), 'the post-crash group message', 20_000);
        await new Promise((resolve) => setTimeout(resolve, 300));

        const all = delivered(outFile);
        expect(all.map((m) => m.body)).toEqual([...Array.from({ length: GN }, (_, i) => `group message ${i}`), 'group after the crash']);
        expect(all.slice(0, GN).map((m) => m.messageId)).toEqual(ids);
        expect(all.every((m) => m.groupId === groupId)).toBe(true);
        expect(new Set(all.map((m) => m.messageId)).size).toBe(all.length);
        expect(second.errors).toEqual([]);
        expect(errorsOf(sender)).toEqual([]);
      } finally {
        for (const child of children) await killChild(child);
        await sender.stop().catch(() => undefined);
      }
    },
  );
});
