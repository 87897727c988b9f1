// Unexpected failures inside the server (src/server/rpc.ts): a handler that throws is answered
// INTERNAL_SERVER_ERROR, the server keeps serving, and the failure reaches the `onError` hook (by
// default one line through `log`) instead of vanishing; nothing of the request is logged.
import { afterEach, describe, expect, it } from 'vitest';
import { openSqliteStore, startServer, type RunningServer, type ServerStore } from '../../src/server/index.js';
import { describeError } from '../../src/server/rpc.js';
import { connect, registerUser, ResponseCode } from '../support/index.js';

const running: RunningServer[] = [];
afterEach(async () => {
  for (const s of running.splice(0)) await s.close();
});

const noLimits = { rateLimit: { perSecond: 0, burst: 1 }, ipRateLimit: { perSecond: 0, burst: 1 } };

/** A SQLite store whose `setUserName` throws while `broken.now` is true. */
async function brokenStore(broken: { now: boolean }): Promise<ServerStore> {
  const inner = await openSqliteStore(':memory:');
  return new Proxy(inner, {
    get(target, prop, receiver) {
      const value = Reflect.get(target, prop, receiver) as unknown;
      if (prop === 'setUserName') {
        return async (...args: unknown[]) => {
          if (broken.now) throw Object.assign(new Error('disk on fire\nsecond line'), { code: 'SQLITE_IOERR' });
          return (value as (...a: unknown[]) => Promise<void>).apply(target, args);
        };
      }
      return typeof value === 'function' ? (value as (...a: unknown[]) => unknown).bind(target) : value;
    },
  }) as ServerStore;
}

describe('unexpected errors', () => {
  it('are answered INTERNAL_SERVER_ERROR and handed to onError with the RPC name; the server keeps serving', async () => {
    const broken = { now: true };
    const reported: Array<{ error: unknown; rpc: string }> = [];
    const server = await startServer({ port: 0, store: await brokenStore(broken), ...noLimits, onError: (error, rpc) => reported.push({ error, rpc }) });
    running.push(server);
    const client = connect(server.url);
    const device = await registerUser(client);

    const failed = await client.updateUser({ userName: 'secret-name' }, device.auth);
    expect(failed.code).toBe(ResponseCode.INTERNAL_SERVER_ERROR);
    expect(failed.reason).toBe('internal server error');
    expect(reported).toHaveLength(1);
    expect(reported[0]?.rpc).toBe('UpdateUser');
    expect((reported[0]?.error as Error | undefined)?.message).toMatch(/^disk on fire/);

    broken.now = false;
    expect((await client.updateUser({ userName: 'fine' }, device.auth)).code).toBe(ResponseCode.OK);
    expect(reported).toHaveLength(1);
  });

  it('are logged by default as one line: the RPC, the error class, code and first message line, nothing of the request', async () => {
    const lines: string[] = [];
    const server = await startServer({ port: 0, store: await brokenStore({ now: true }), ...noLimits, log: (line) => lines.push(line) });
    running.push(server);
    const client = connect(server.url);
    const device = await registerUser(client);
    expect((await client.updateUser({ userName: 'secret-name' }, device.auth)).code).toBe(ResponseCode.INTERNAL_SERVER_ERROR);
    const errors = lines.filter((l) => !/listening on/.test(l));
    expect(errors).toEqual(['pqe2ee server: unexpected error in UpdateUser: Error [SQLITE_IOERR]: disk on fire']);
    expect(errors.join('\n')).not.toContain('secret-name');
    expect(errors.join('\n')).not.toContain(device.token);
  });

  it('describeError keeps one bounded line without control characters', () => {
    expect(describeError(new TypeError('a\u0007b'))).toBe('TypeError: a b');
    expect(describeError('thrown string')).toBe('non-error value (string)');
    expect(describeError(new Error('x'.repeat(500))).length).toBeLessThanOrEqual(201);
  });
});
