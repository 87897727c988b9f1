// A registration whose answer is lost (the client crashed, or the connection dropped, after the
// server registered it): the keys were stored first, so the next start registers the same keys again
// and the server hands back the same address instead of making a second user.
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { Account, createClient, createServerTransport, type ProtocolHandler } from '../support/library.js';
import { ResponseCode } from '../../src/proto/gen/service_pb.js';
import { openSqliteDatabase } from '../../src/store/node.js';
import { useInProcessServer } from '../support/index.js';

const server = useInProcessServer();
const dir = mkdtempSync(path.join(tmpdir(), 'pqe2ee-registration-'));

afterAll(async () => {
  rmSync(dir, { recursive: true, force: true });
});

/** A handler that lets RegisterUser reach the server, then loses its answer (once). */
function losingRegisterAnswer(url: string, seen: { userId?: string }): ProtocolHandler {
  const inner = createServerTransport(url);
  const service = new Proxy(inner.service, {
    get(target, prop, receiver) {
      if (prop !== 'registerUser') return Reflect.get(target, prop, receiver);
      return async (...args: Parameters<typeof target.registerUser>) => {
        const response = await target.registerUser(...args);
        if (seen.userId === undefined) {
          seen.userId = response.address?.peer.case === 'user' ? response.address.peer.value.userId : '';
          throw new Error('connection lost before the answer arrived');
        }
        return response;
      };
    },
  });
  return { service, setToken: (token) => inner.setToken(token) };
}

describe('registration', () => {
  it('a lost registration answer: the next start gets the same address back, no second user', async () => {
    const file = path.join(dir, 'phone.sqlite');
    const seen: { userId?: string } = {};
    const first = createClient({ server: losingRegisterAnswer(server.url, seen), deviceId: 'phone', suite: 2, database: await openSqliteDatabase(file) });
    await expect(first.start()).rejects.toThrow(/connection lost/);
    expect(seen.userId).toMatch(/^[0-9a-f]{32}$/);

    const second = createClient({ server: server.url, deviceId: 'phone', suite: 2, database: await openSqliteDatabase(file) });
    server.track(second);
    await second.start();
    expect(second.address.userId).toBe(seen.userId);
    // It works as that device: a peer reaches it.
    const peer = createClient({ server: server.url, deviceId: 'peer', suite: 2 });
    server.track(peer);
    await peer.start();
    const got = second.waitFor('one2one-message', () => true, 15_000);
    await peer.sendMessage(second.address.userId, 'hello');
    expect(new TextDecoder().decode((await got).message.body)).toBe('hello');
  }, 30_000);

  it('the same identity key cannot be registered as another device', async () => {
    const transport = createServerTransport(server.url);
    const account = Account.create({ suite: 2, now: Date.now() });
    const register = async (deviceId: string) => {
      const challenge = await transport.service.getChallenge({});
      return transport.service.registerUser({
        suiteId: 2,
        userId: '',
        deviceId,
        identityKey: account.identityPublicKey,
        signedPreKey: account.signedPreKeyPublic(),
        oneTimePreKeys: account.oneTimePreKeyPublics().slice(0, 5),
        challengeId: challenge.challengeId,
        challengeSignature: account.signServerChallenge(challenge.domain, challenge.challenge, '', deviceId),
      });
    };
    const created = await register('one');
    expect(created.code).toBe(ResponseCode.CREATED);
    const again = await register('one');
    expect(again.code).toBe(ResponseCode.OK);
    expect(again.address).toEqual(created.address);
    const elsewhere = await register('two');
    expect(elsewhere.code).toBe(ResponseCode.REQUEST_CONFLICT);
  }, 30_000);
});
