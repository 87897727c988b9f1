// What another user can make a client store without limit. Every InviteMsg is
// accepted automatically and stores a new session; the session it replaces as the device's
// sending session is never deleted. One peer device can therefore grow a victim's database by one
// session per invite, forever (the server's only limits are its rate limit and the queue length,
// which the victim drains).
import { describe, expect, it } from 'vitest';
import { createClient, createMemoryDatabase, OutboundSession, type E2eeClient } from '../support/library.js';
import { InviteMsgSchema, PreKeyBundleSchema } from '../../src/proto/gen/wire_pb.js';
import { fromBinary, toBinary } from '@bufbuild/protobuf';
import { connect, registerUser, ResponseCode, until, useInProcessServer } from '../support/index.js';

const server = useInProcessServer({ rateLimit: { perSecond: 0, burst: 1 }, ipRateLimit: { perSecond: 0, burst: 1 } });
let victim: E2eeClient | undefined;

describe('resource bounds', () => {
  it('repeated invites from one peer device do not grow the stored sessions without bound', async () => {
    const db = createMemoryDatabase();
    victim = createClient({ server: server.url, deviceId: 'victim', suite: 2, database: db });
    await victim.start();
    const rpc = connect(server.url);
    const attacker = await registerUser(rpc, 2);
    const invites = 60;
    let accepted = 0;
    victim.on('inbound-session-ready', () => {
      accepted++;
    });
    for (let i = 0; i < invites; i++) {
      const bundles = await rpc.getPreKeyBundle({ userId: victim.address.userId }, attacker.auth);
      const bundle = bundles.preKeyBundles[0];
      if (!bundle) throw new Error('no bundle');
      const { invite } = OutboundSession.initiate(attacker.account, toBinary(PreKeyBundleSchema, bundle));
      const sent = await rpc.invite({ msg: fromBinary(InviteMsgSchema, invite) }, attacker.auth);
      expect(sent.code).toBe(ResponseCode.OK);
    }
    await until(() => accepted >= invites, 20_000);
    expect(accepted).toBe(invites);
    const sessions = await db.transaction(async (tx) => (await tx.list('sessions')).length);
    expect(sessions, `${invites} invites from one device left ${sessions} sessions in the victim's database`).toBeLessThanOrEqual(10);
  }, 30_000);
});
