// The programmatic API (startServer) in-process: admin notices (SystemManagerMsg, GroupManagerMsg,
// FriendManagerMsg), message time-to-live, and the SQLite file's schema version and pragmas.
import { spawnSync } from 'node:child_process';
import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { cleanupDirs, connect, one2one, registerUser, repoRoot, sleep, StreamReader, tempDb } from '../support/index.js';
import { startServer, MIGRATIONS, type RunningServer } from '../../src/server/index.js';

const running: RunningServer[] = [];
afterAll(async () => {
  await Promise.all(running.map((s) => s.close()));
  cleanupDirs();
});

describe('startServer', () => {
  it('admin notices reach every device, the group, or one user', async () => {
    const server = await startServer({ port: 0, dbPath: ':memory:', domain: 'example.test' });
    running.push(server);
    expect(server.url).toBe(`http://127.0.0.1:${server.port}`);
    const client = connect(server.url);
    const alice = await registerUser(client);
    const bob = await registerUser(client);
    expect(alice.address.domain).toBe('example.test');
    const group = await client.createGroup({ groupName: 'g', members: [{ userId: bob.userId }] }, alice.auth);
    const groupId = group.groupAddress?.peer.case === 'group' ? group.groupAddress.peer.value.groupId : '';
    expect(await server.notifySystem('maintenance at noon')).toBe(2);
    expect(await server.notifyGroup(groupId, 'group notice')).toBe(2);
    expect(await server.notifyGroup('no-such-group', 'x')).toBe(0);
    expect(await server.notifyFriend(bob.userId, alice.address, 'alice is a friend')).toBe(1);
    const stream = new StreamReader(client, bob);
    await stream.count(4);
    expect(stream.messages.map((m) => m.payload.case)).toEqual(['createGroupMsg', 'systemManagerMsg', 'groupManagerMsg', 'friendManagerMsg']);
    const friend = stream.messages[3]!;
    expect(friend.payload.case === 'friendManagerMsg' && friend.payload.value.notice).toBe('alice is a friend');
    stream.close();
    await server.close();
    await server.close(); // idempotent
  });

  it('undelivered messages expire after the time-to-live', async () => {
    const server = await startServer({ port: 0, dbPath: ':memory:', ttlMs: 300 });
    running.push(server);
    const client = connect(server.url);
    const alice = await registerUser(client);
    const bob = await registerUser(client);
    await client.sendOne2oneMsg({ msg: one2one(alice, bob.address, 'old') }, alice.auth);
    await sleep(400);
    await client.sendOne2oneMsg({ msg: one2one(alice, bob.address, 'new') }, alice.auth);
    // The periodic sweep (every min(ttl, 60 s)) may already have run: either way nothing expired is left.
    await server.sweep();
    expect(await server.sweep()).toBe(0);
    const stream = new StreamReader(client, bob);
    await stream.until((r) => r.heartbeats >= 1);
    expect(stream.messages).toHaveLength(1);
    const only = stream.messages[0]!;
    expect(
      only.payload.case === 'e2eeMsg' &&
        new TextDecoder().decode(only.payload.value.payload.case === 'one2oneMsg' ? only.payload.value.payload.value.ciphertext : new Uint8Array(0)),
    ).toBe('new');
    stream.close();
  });

  it('the SQLite file is migrated (user_version), in WAL mode, and reopens', async () => {
    const dbPath = tempDb();
    const first = await startServer({ port: 0, dbPath });
    await first.close();
    const second = await startServer({ port: 0, dbPath });
    running.push(second);
    const Database = (await import('better-sqlite3')).default;
    const db = new Database(dbPath, { readonly: true });
    expect(db.pragma('user_version', { simple: true })).toBe(MIGRATIONS.length);
    expect(db.pragma('journal_mode', { simple: true })).toBe('wal');
    db.close();
  });

  it('rejects bad options', async () => {
    await expect(startServer({ port: 0, dbPath: ':memory:', heartbeatMs: 0 })).rejects.toThrow(RangeError);
    await expect(startServer({ port: 70000, dbPath: ':memory:' })).rejects.toThrow(RangeError);
  });
});

describe('pqe2ee server command line', () => {
  const cli = (...args: string[]) => spawnSync(process.execPath, [path.join(repoRoot, 'dist/cli.js'), 'server', ...args], { encoding: 'utf8', timeout: 10_000 });

  it('--help prints the options and exits 0; unknown options and bad values exit 2', () => {
    const help = cli('--help');
    expect(help.status).toBe(0);
    expect(help.stdout).toMatch(/--port N/);
    expect(help.stdout).toMatch(/--heartbeat-ms/);
    const unknown = cli('--bogus', '1');
    expect(unknown.status).toBe(2);
    expect(unknown.stderr).toMatch(/unknown option --bogus/);
    const bad = cli('--port', 'abc');
    expect(bad.status).toBe(2);
    const range = cli('--port', '0', '--db', ':memory:', '--heartbeat-ms', '0');
    expect(range.status).toBe(1);
    expect(range.stderr).toMatch(/heartbeatMs/);
  });
});
