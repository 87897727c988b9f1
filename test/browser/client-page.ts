// Runs in Chromium: the client runtime (bundled for the browser) talks to the reference server on
// another origin, over fetch (Connect), with the memory database encrypted under a passphrase.
import { createClient, createMemoryDatabase, openIndexedDbDatabase } from '../../src/index.js';

export interface ClientScenarioResult {
  oneToOne: string;
  reply: string;
  group: string;
  fingerprintsMatch: boolean;
  errors: string[];
}

async function runClientScenario(server: string, suite: number, store: 'memory' | 'indexeddb'): Promise<ClientScenarioResult> {
  const errors: string[] = [];
  const make = async (deviceId: string) => {
    const client = createClient({
      server,
      deviceId,
      suite,
      database: store === 'indexeddb' ? await openIndexedDbDatabase(`${deviceId}-suite${suite}`) : createMemoryDatabase(),
      storage: { passphrase: `passphrase of ${deviceId}`, iterations: 1000 },
    });
    client.on('error', (event) => {
      errors.push(`${deviceId}: ${event.context}: ${event.error.message}`);
    });
    return client;
  };
  const alice = await make('browser-alice');
  const bob = await make('browser-bob');
  await alice.start();
  await bob.start();
  const decode = (b: Uint8Array) => new TextDecoder().decode(b);

  const atBob = bob.waitFor('one2one-message');
  await alice.sendMessage(bob.address.userId, 'hello from a browser tab');
  const oneToOne = decode((await atBob).message.body);

  const atAlice = alice.waitFor('one2one-message');
  await bob.sendMessage(alice.address.userId, 'and back');
  const reply = decode((await atAlice).message.body);

  const joined = bob.waitFor('group-created');
  const { groupId } = await alice.createGroup('browser group', [bob.address.userId]);
  await joined;
  const atBobGroup = bob.waitFor('group-message');
  await alice.sendGroupMessage(groupId, 'group hello');
  const group = decode((await atBobGroup).message.body);

  const fingerprintsMatch = (await alice.fingerprint(bob.address.userId, 'browser-bob')) === (await bob.fingerprint(alice.address.userId, 'browser-alice'));
  await alice.stop();
  await bob.stop();
  return { oneToOne, reply, group, fingerprintsMatch, errors };
}

/** Starting a client against a server that does not allow this origin must fail (no CORS headers). */
async function startWithoutCors(server: string): Promise<string> {
  const client = createClient({ server, deviceId: 'browser-refused' });
  try {
    await client.start();
    return 'started';
  } catch (error) {
    return error instanceof Error ? `${error.name}: ${error.message}` : String(error);
  }
}

(globalThis as Record<string, unknown>).pqe2eeClientTest = { runClientScenario, startWithoutCors };
