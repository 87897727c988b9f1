// The verifier as an operator runs it: a real `pqe2ee server` process, clients talking through it,
// then `pqe2ee audit register` (admin token from the TLM key file, passed in the environment, not
// on the command line) and `pqe2ee audit verify` as
// processes. verify exits 0 and reports every check passed; after the database is replaced by a
// log that forks from what the verifier saw (a second server on the same port), it exits 1.
import { execFile } from 'node:child_process';
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { promisify } from 'node:util';
import { afterAll, expect, it } from 'vitest';
import { repoRoot } from '../support/index.js';
import { cleanupTempDirs, makeClient, startServerProcess, stopAllClients, tempDir, waitUntil } from './harness.js';

const run = promisify(execFile);
const cli = path.join(repoRoot, 'dist/cli.js');

afterAll(async () => {
  await stopAllClients();
  cleanupTempDirs();
});

/** Runs `pqe2ee audit …`; resolves with the exit code and output (a non-zero exit is not thrown). */
async function audit(args: string[], env: Record<string, string> = {}): Promise<{ code: number; out: string }> {
  try {
    const { stdout, stderr } = await run(process.execPath, [cli, 'audit', ...args], { timeout: 60_000, env: { ...process.env, ...env } });
    return { code: 0, out: stdout + stderr };
  } catch (error) {
    const failed = error as { code?: number; stdout?: string; stderr?: string };
    return { code: typeof failed.code === 'number' ? failed.code : -1, out: `${failed.stdout ?? ''}${failed.stderr ?? ''}` };
  }
}

it('pqe2ee audit verify passes against a running pqe2ee server, and fails once the log forks', async () => {
  const server = await startServerProcess();
  await waitUntil(() => server.output().includes('audit log '), 'the server printing its log key');
  const logKey = /audit log \S+, key: (\S+)/.exec(server.output())?.[1] as string;
  const adminToken = (JSON.parse(readFileSync(`${server.dbPath}.tlm.json`, 'utf8')) as { adminToken: string }).adminToken;

  const alice = await makeClient(server, 'alice');
  const bob = await makeClient(server, 'bob');
  await alice.client.sendMessage(bob.userId, 'audited hello');
  await waitUntil(() => bob.one2one.length >= 1, 'bob receiving');

  const dir = tempDir('pqe2ee-e2e-auditor-');
  const keyFile = path.join(dir, 'auditor.json');
  const stateFile = path.join(dir, 'auditor.state');
  const registered = await audit(
    ['register', '--server', server.url, '--id', 'auditor-1', '--entitlement', 'BUNDLE_HANDOUT,SESSION_SUITE', '--log-key', logKey, '--out', keyFile],
    { PQE2EE_AUDIT_ADMIN_TOKEN: adminToken },
  );
  expect(registered.code, registered.out).toBe(0);
  // The key file holds the access token ReleaseKeys needs (the verify below decrypts with it).
  expect(Buffer.from((JSON.parse(readFileSync(keyFile, 'utf8')) as { accessToken: string }).accessToken, 'base64')).toHaveLength(32);

  // Checkpoints may be a second old: let one cover the conversation.
  await new Promise((resolve) => setTimeout(resolve, 1100));
  const verified = await audit(['verify', '--server', server.url, '--key', keyFile, '--state', stateFile]);
  expect(verified.code, verified.out).toBe(0);
  expect(verified.out).toContain('result: every check passed');
  expect(verified.out).toMatch(/keys +ok +[1-9]\d* of \d+ sealed entries decrypted/);
  expect(verified.out).toMatch(/SESSION_SUITE \d+/);
  const again = await audit(['verify', '--server', server.url, '--key', keyFile, '--state', stateFile, '--json']);
  expect(again.code, again.out).toBe(0);
  expect(JSON.parse(again.out).ok).toBe(true);

  // Another server (new database, new TLM) on the same URL: a log the verifier never saw, signed
  // with another key. The verifier refuses it.
  await stopAllClients();
  await server.stop();
  const impostor = await startServerProcess(['--port', String(server.port)]);
  try {
    const forked = await audit(['verify', '--server', impostor.url, '--key', keyFile, '--state', stateFile]);
    expect(forked.code, forked.out).toBe(1);
    expect(forked.out).toContain('result: FAILED');
  } finally {
    await impostor.stop();
  }
}, 120_000);
