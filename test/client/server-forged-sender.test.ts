// A malicious or compromised server must not be able to make the
// client runtime attribute a message to the wrong sender, or send one peer's messages into another
// peer's session. These tests FAIL while the bugs exist (see the report in the commit message).
//
// Setup: in-process server; the tampering sits in a wrapped protocol handler between one client
// and the server (what a malicious server could send).
import { describe, expect, it } from 'vitest';
import { create } from '@bufbuild/protobuf';
import { createClient } from '../../src/index.js';
import type { ProtoMsg } from '../../src/proto/gen/service_pb.js';
import { E2eeAddressSchema, type E2eeAddress } from '../../src/proto/gen/wire_pb.js';
import { drainInbound, isSentinel, tamperingHandler, useInProcessServer } from '../support/index.js';

const server = useInProcessServer({ heartbeatMs: 500 });
const text = (b: Uint8Array): string => new TextDecoder().decode(b);

function addr(domain: string, userId: string, deviceId: string): E2eeAddress {
  return create(E2eeAddressSchema, { domain, peer: { case: 'user', value: { userId, deviceId } } });
}

// Sessions are looked up under the sender the routing names: a relabelled message finds no session
// of that sender (ERR_UNKNOWN_PEER) or one that authenticates another device (ERR_FORGED_ROUTING).
const refusedRouting = (e: { error: unknown }): boolean => ['ERR_FORGED_ROUTING', 'ERR_UNKNOWN_PEER'].includes((e.error as { code?: string }).code ?? '');

const fromUser = (msg: ProtoMsg): string => (msg.from?.peer.case === 'user' ? msg.from.peer.value.userId : '');

describe('client: sender attribution and session routing under a malicious server', () => {
  it('a one-to-one message whose ProtoMsg.from the server rewrites is refused, never attributed to the forged sender', async () => {
    // The relabelling target: Carol, a user Alice knows.
    let carol: { userId: string; deviceId: string } | undefined;
    let bobUser = '';
    const alice = await server.started(
      createClient({
        server: tamperingHandler(server.url, (msg) => {
          if (!carol || msg.payload.case !== 'e2eeMsg' || msg.payload.value.payload.case !== 'one2oneMsg') return;
          if (fromUser(msg) !== bobUser) return;
          // Only the routing field is rewritten; the ciphertext is Bob's, untouched.
          msg.from = addr(server.domain, carol.userId, carol.deviceId);
        }),
        deviceId: 'alice',
        suite: 2,
      }),
    );
    const bob = await server.started(createClient({ server: server.url, deviceId: 'bob', suite: 2 }));
    const carolClient = await server.started(createClient({ server: server.url, deviceId: 'carol', suite: 2 }));
    bobUser = bob.address.userId;
    carol = carolClient.address;

    const misattributed: string[] = [];
    alice.on('one2one-message', (e) => {
      if (e.message.from.userId !== bobUser && !isSentinel(text(e.message.body))) misattributed.push(e.message.from.userId);
    });
    const refused = alice.waitFor('error', refusedRouting, 15_000);
    await bob.sendMessage(alice.address.userId, 'hello from bob');
    // The message authenticates as Bob's (his session); routing that names Carol is refused, never
    // attributed to her.
    await refused;
    // Alice has finished with Bob's message (and everything before it) once a later sentinel arrives.
    await drainInbound(alice, await server.start('probe1'));
    expect(misattributed).toEqual([]);
  }, 30_000);

  it("an AcceptMsg relabelled as coming from Carol is refused: Alice's pending message for Carol never reaches Bob", async () => {
    let carol: { userId: string; deviceId: string } | undefined;
    let bobUser = '';
    const alice = await server.started(
      createClient({
        server: tamperingHandler(server.url, (msg) => {
          if (!carol || msg.payload.case !== 'acceptMsg') return;
          if (fromUser(msg) !== bobUser) return;
          const forged = addr(server.domain, carol.userId, carol.deviceId);
          msg.from = forged;
          msg.payload.value.from = forged;
        }),
        deviceId: 'alice2',
        suite: 2,
      }),
    );
    const bob = await server.started(createClient({ server: server.url, deviceId: 'bob2', suite: 2 }));
    bobUser = bob.address.userId;
    // Carol registers, then goes offline: she never accepts Alice's invite.
    const carolClient = await server.started(createClient({ server: server.url, deviceId: 'carol2', suite: 2 }));
    carol = carolClient.address;
    await carolClient.stop();

    const secrets: string[] = [];
    bob.on('one2one-message', (e) => {
      secrets.push(text(e.message.body));
    });
    const aliceErrors: string[] = [];
    alice.on('error', (e) => {
      aliceErrors.push(`${e.context}: ${e.error.message}`);
    });

    // Alice writes to Carol first (pending: no accept yet), then to Bob.
    const toCarol = await alice.sendMessage(carol.userId, 'for carol only');
    expect(toCarol.pending).toBe(1);
    // The relabelled AcceptMsg is refused (its session was opened to Bob, not Carol).
    const refused = alice.waitFor('error', refusedRouting, 15_000);
    await alice.sendMessage(bob.address.userId, 'for bob');
    await refused;
    // Alice has finished processing the relabelled accept (and sent whatever it made her send) once
    // a later sentinel arrives; then Bob has processed everything Alice sent him once another does.
    const probe = await server.start('probe2');
    await drainInbound(alice, probe);
    await drainInbound(bob, probe);

    // Bob must never be able to read what Alice wrote to Carol.
    expect(secrets).not.toContain('for carol only');
    // And Alice's record of Carol's device must not carry Bob's identity key.
    const aliceCarol = await alice.fingerprint(carol.userId, carol.deviceId);
    const aliceBob = await alice.fingerprint(bob.address.userId, bob.address.deviceId).catch(() => 'none');
    expect(aliceCarol).not.toBe(aliceBob);
  }, 30_000);

  it('a group message whose ProtoMsg.from the server rewrites is attributed to the member whose signature verified', async () => {
    let carol: { userId: string; deviceId: string } | undefined;
    let bobUser = '';
    const alice = await server.started(
      createClient({
        server: tamperingHandler(server.url, (msg) => {
          if (!carol || msg.payload.case !== 'e2eeMsg' || msg.payload.value.payload.case !== 'groupMsg') return;
          if (fromUser(msg) !== bobUser) return;
          msg.from = addr(server.domain, carol.userId, carol.deviceId);
        }),
        deviceId: 'alice3',
        suite: 2,
      }),
    );
    const bob = await server.started(createClient({ server: server.url, deviceId: 'bob3', suite: 2 }));
    const carolClient = await server.started(createClient({ server: server.url, deviceId: 'carol3', suite: 2 }));
    bobUser = bob.address.userId;
    carol = carolClient.address;

    const bobJoined = bob.waitFor('group-created', () => true, 15_000);
    const carolJoined = carolClient.waitFor('group-created', () => true, 15_000);
    const { groupId } = await alice.createGroup('g', [bob.address.userId, carol.userId]);
    await Promise.all([bobJoined, carolJoined]);

    const got = alice.waitFor('group-message', (e) => text(e.message.body) === 'bob says hi', 15_000);
    await bob.sendGroupMessage(groupId, 'bob says hi');
    const event = await got;
    // The group message is signed by Bob's identity key; the signature, not the routing field, names the sender.
    expect(event.message.from.userId).toBe(bob.address.userId);
  }, 30_000);
});
