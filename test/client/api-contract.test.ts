// The public API's contract — lifecycle calls and input validation. Bad input must
// give typed errors (InvalidClientInputError), not TypeErrors from inside the runtime.
import { describe, expect, it } from 'vitest';
import { ClientNotStartedError, createClient, createMemoryDatabase, InvalidClientInputError } from '../../src/index.js';
import { useInProcessServer } from '../support/index.js';

const server = useInProcessServer();

describe('API contract', () => {
  it('start() called twice at once registers one account, not two', async () => {
    const registered: string[] = [];
    const client = createClient({ server: server.url, deviceId: 'twice', suite: 2, database: createMemoryDatabase() });
    server.track(client);
    client.on('registered', (e) => {
      registered.push(e.address.userId);
    });
    await Promise.all([client.start(), client.start()]);
    expect(registered, 'two accounts were registered (and two receive loops run) for one client').toHaveLength(1);
  }, 30_000);

  it('list arguments that are not lists give InvalidClientInputError, not a TypeError', async () => {
    const alice = await server.start('alice-api');
    const bob = await server.start('bob-api');
    const joined = bob.waitFor('group-created');
    const { groupId } = await alice.createGroup('g', [bob.address.userId]);
    await joined;
    const notAList = bob.address.userId as unknown as string[];
    await expect(alice.addGroupMembers(groupId, notAList)).rejects.toBeInstanceOf(InvalidClientInputError);
    await expect(alice.removeGroupMembers(groupId, notAList)).rejects.toBeInstanceOf(InvalidClientInputError);
    await expect(alice.addGroupMembers(groupId, undefined as unknown as string[])).rejects.toBeInstanceOf(InvalidClientInputError);
  }, 30_000);

  it('sendMessage with null options gives InvalidClientInputError, not a TypeError', async () => {
    const alice = await server.start('alice-opt');
    const bob = await server.start('bob-opt');
    await expect(alice.sendMessage(bob.address.userId, 'x', null as unknown as object)).rejects.toBeInstanceOf(InvalidClientInputError);
    await expect(alice.sendGroupMessage('g', 'x', null as unknown as object)).rejects.toBeInstanceOf(InvalidClientInputError);
  }, 30_000);

  it('lifecycle: start twice, stop twice, calls before start and after stop give ClientNotStartedError', async () => {
    const db = createMemoryDatabase();
    const client = createClient({ server: server.url, deviceId: 'life', suite: 2, database: db });
    server.track(client);
    await expect(client.sendMessage('u', 'x')).rejects.toBeInstanceOf(ClientNotStartedError);
    await client.start();
    await client.start();
    const userId = client.address.userId;
    await client.stop();
    await client.stop();
    await expect(client.sendMessage(userId, 'x')).rejects.toBeInstanceOf(ClientNotStartedError);
    await expect(client.messages()).rejects.toBeInstanceOf(ClientNotStartedError);
    await expect(client.groupInfo('g')).rejects.toBeInstanceOf(ClientNotStartedError);
    await expect(client.fingerprint(userId, 'x')).rejects.toBeInstanceOf(ClientNotStartedError);
  }, 30_000);
});
