// Key transparency for devices met without a bundle (security review: requireLoggedBundles ran only
// on GetPreKeyBundle responses). With ClientOptions.auditLogKey, a device that first shows up in an
// invite, or in a group epoch's member list, must have its identity keys proved logged
// (AuditService.GetKeyInclusion) before they are trusted. The real in-process server and its own
// audit log; a proxy in front of Alice's connection plays the lying server: it relabels an
// attacker's invite as coming from a device of Bob that the server made up, or answers
// GetKeyInclusion as a server with no (or another device's) entry would.
import { create, fromBinary, toBinary } from '@bufbuild/protobuf';
import { Code, ConnectError } from '@connectrpc/connect';
import { describe, expect, it } from 'vitest';
import { GetKeyInclusionResponseSchema, type GetKeyInclusionRequest, type GetKeyInclusionResponse } from '../../src/proto/gen/audit_pb.js';
import { type ProtoMsg, ResponseCode } from '../../src/proto/gen/service_pb.js';
import { E2eeAddressSchema, InviteMsgSchema, PreKeyBundleSchema } from '../../src/proto/gen/wire_pb.js';
import { OutboundSession } from '../../src/protocol/index.js';
import { type AuditServiceClient, createServerTransport, type E2eeClient, type ProtocolHandler } from '../support/library.js';
import { drainInbound, rawDevice, text, useInProcessServer } from '../support/index.js';

const server = useInProcessServer({ heartbeatMs: 500 });

const logKey = (): string => {
  const key = server.audit?.logKey;
  if (!key) throw new Error('the in-process server keeps no audit log');
  return key;
};

/** Answers GetKeyInclusion; `real` asks the real server (for `request`, or another device). */
type Inclusion = (request: GetKeyInclusionRequest, real: (asked?: { userId: string; deviceId: string }) => Promise<GetKeyInclusionResponse>) => Promise<GetKeyInclusionResponse>;

/** What the proxy does and saw: stream rewriting, GetKeyInclusion answers, and where one-to-one messages went. */
interface LyingServer {
  handler: ProtocolHandler;
  rewrite?: (msg: ProtoMsg) => void;
  inclusion?: Inclusion;
  /** `userId/deviceId` of every GetKeyInclusion asked. */
  inclusionCalls: string[];
  /** `userId/deviceId` of every SendOne2oneMsg. */
  sentTo: string[];
}

function lyingServer(): LyingServer {
  const inner = createServerTransport(server.url);
  const state: LyingServer = { handler: undefined as unknown as ProtocolHandler, inclusionCalls: [], sentTo: [] };
  const service = new Proxy(inner.service, {
    get(target, prop, receiver) {
      if (prop === 'subscribe') {
        return async function* (request: Parameters<typeof target.subscribe>[0], options: Parameters<typeof target.subscribe>[1]) {
          for await (const msg of target.subscribe(request, options)) {
            state.rewrite?.(msg);
            yield msg;
          }
        };
      }
      if (prop === 'sendOne2oneMsg') {
        return (...args: Parameters<typeof target.sendOne2oneMsg>) => {
          const to = args[0].msg?.to?.peer;
          if (to?.case === 'user') state.sentTo.push(`${to.value.userId}/${to.value.deviceId}`);
          return target.sendOne2oneMsg(...args);
        };
      }
      return Reflect.get(target, prop, receiver);
    },
  });
  const audit = new Proxy(inner.audit as AuditServiceClient, {
    get(target, prop, receiver) {
      if (prop !== 'getKeyInclusion') return Reflect.get(target, prop, receiver);
      return (request: GetKeyInclusionRequest) => {
        state.inclusionCalls.push(`${request.userId}/${request.deviceId}`);
        const real = (asked: { userId: string; deviceId: string } = request) => target.getKeyInclusion({ userId: asked.userId, deviceId: asked.deviceId });
        return state.inclusion ? state.inclusion(request, real) : real();
      };
    },
  });
  state.handler = { service, audit, setToken: (token) => inner.setToken(token) };
  return state;
}

const notFound = async (): Promise<GetKeyInclusionResponse> => create(GetKeyInclusionResponseSchema, { code: ResponseCode.NOT_FOUND, reason: 'unknown device' });
const isKtError = (event: { error: { code: string } }): boolean => event.error.code === 'ERR_KEY_TRANSPARENCY';

/** Whether `client` holds a record (identity key) of that device. */
function knowsDevice(client: E2eeClient, userId: string, deviceId: string): Promise<boolean> {
  return client.fingerprint(userId, deviceId).then(
    () => true,
    () => false,
  );
}

/**
 * An attacker's raw device invites `victim`; the lying proxy in front of the victim relabels the
 * invite (ProtoMsg and InviteMsg) as coming from device `deviceId` of `userId`: a device the server
 * made up, with keys no bundle ever carried.
 */
async function inventedDeviceInvites(liar: LyingServer, victim: E2eeClient, userId: string, deviceId: string): Promise<void> {
  const attacker = await rawDevice(server.url, `attacker-${deviceId}`);
  const forged = create(E2eeAddressSchema, { domain: server.domain, peer: { case: 'user', value: { userId, deviceId } } });
  const previous = liar.rewrite;
  liar.rewrite = (msg) => {
    previous?.(msg);
    if (msg.payload.case !== 'inviteMsg' || msg.from?.peer.case !== 'user' || msg.from.peer.value.userId !== attacker.userId) return;
    msg.from = forged;
    msg.payload.value.from = forged;
  };
  const response = await attacker.service.getPreKeyBundle({ userId: victim.address.userId, deviceId: victim.address.deviceId });
  const bundle = response.preKeyBundles[0];
  if (!bundle) throw new Error('no bundle of the victim');
  const { invite } = OutboundSession.initiate(attacker.account, toBinary(PreKeyBundleSchema, bundle));
  await attacker.service.invite({ msg: fromBinary(InviteMsgSchema, invite) });
  attacker.close();
}

describe('key transparency for a device met in an invite', () => {
  it("(a) an invite from a server-invented device of Bob is refused: no session, no known device, Bob's next message skips it", async () => {
    const liar = lyingServer();
    const alice = await server.start('alice', { server: liar.handler, auditLogKey: logKey() });
    const bob = await server.start('bob');
    const probe = await server.start('probe');

    const refusals: string[] = [];
    alice.on('error', (event) => {
      if (isKtError(event)) refusals.push(event.error.message);
    });

    // The server has no such device, so GetKeyInclusion answers NOT_FOUND (the honest log's answer).
    await inventedDeviceInvites(liar, alice, bob.address.userId, 'evil');
    await drainInbound(alice, probe);
    expect(refusals).toEqual([expect.stringMatching(/no proof/)]);
    expect(liar.inclusionCalls).toContain(`${bob.address.userId}/evil`);
    expect(await knowsDevice(alice, bob.address.userId, 'evil')).toBe(false);

    // A server that answers with the valid entry of Bob's real device for the invented one is refused too.
    liar.inclusion = (request, real) => real({ userId: request.userId, deviceId: bob.address.deviceId });
    await inventedDeviceInvites(liar, alice, bob.address.userId, 'evil2');
    await drainInbound(alice, probe);
    expect(refusals).toEqual([expect.stringMatching(/no proof/), expect.stringMatching(/other keys/)]);
    expect(await knowsDevice(alice, bob.address.userId, 'evil2')).toBe(false);
    liar.inclusion = undefined;

    // Alice's next message to Bob goes to his real device only.
    liar.sentTo.length = 0;
    const atBob = bob.waitFor('one2one-message');
    const result = await alice.sendMessage(bob.address.userId, 'for bob only');
    expect(result.sent + result.pending).toBe(1);
    expect(text((await atBob).message.body)).toBe('for bob only');
    expect(liar.sentTo.filter((to) => to.startsWith(`${bob.address.userId}/`))).toEqual([`${bob.address.userId}/${bob.address.deviceId}`]);
  }, 60_000);

  it('(b) an honest new device of Bob that invites Alice first is checked and accepted; a network failure only delays it', async () => {
    const liar = lyingServer();
    const alice = await server.start('alice', { server: liar.handler, auditLogKey: logKey() });
    const bob = await server.start('bob');
    const bobPhone = await server.link(bob, 'phone');

    // The first check fails on the network: the invite stays queued and is checked again.
    let failures = 1;
    liar.inclusion = (_request, real) => (failures-- > 0 ? Promise.reject(new ConnectError('unreachable', Code.Unavailable)) : real());
    const atAlice = alice.waitFor('one2one-message', () => true, 30_000);
    await bobPhone.sendMessage(alice.address.userId, 'hello from the phone');
    const delivered = await atAlice;
    expect(text(delivered.message.body)).toBe('hello from the phone');
    expect(delivered.message.from).toEqual(bobPhone.address);
    expect(liar.inclusionCalls.filter((c) => c === `${bob.address.userId}/phone`).length).toBeGreaterThanOrEqual(2);
    expect(await knowsDevice(alice, bob.address.userId, 'phone')).toBe(true);

    // Known and proved now: later messages from it ask nothing again.
    const calls = liar.inclusionCalls.length;
    const again = alice.waitFor('one2one-message');
    await bobPhone.sendMessage(alice.address.userId, 'again');
    expect(text((await again).message.body)).toBe('again');
    expect(liar.inclusionCalls.length).toBe(calls);
  }, 60_000);
});

describe('key transparency for a group epoch member list', () => {
  it('(c) a group whose member list holds a device the log does not prove is refused; an honest one is joined', async () => {
    const liar = lyingServer();
    const alice = await server.start('alice', { server: liar.handler, auditLogKey: logKey() });
    const bob = await server.start('bob');
    const carol = await server.start('carol');

    // Bob is unknown to Alice: his key comes only from GetGroupEpoch, and the log "has no entry" for it.
    liar.inclusion = (request, real) => (request.userId === bob.address.userId ? notFound() : real());
    const created: string[] = [];
    alice.on('group-created', (event) => {
      created.push(event.groupId);
    });
    // Whichever comes first: with the check, the refusal; without it, Alice would join.
    const outcome = Promise.race([alice.waitFor('error', isKtError, 20_000).then(() => 'refused'), alice.waitFor('group-created', () => true, 20_000).then(() => 'joined')]);
    const { groupId } = await carol.createGroup('unlogged member', [alice.address.userId, bob.address.userId]);
    expect(await outcome).toBe('refused');
    expect(liar.inclusionCalls).toContain(`${bob.address.userId}/${bob.address.deviceId}`);
    expect(created).not.toContain(groupId);
    await expect(alice.groupInfo(groupId)).rejects.toThrow();

    // The same group shape with Bob's key proved: Alice joins.
    liar.inclusion = undefined;
    const joined = alice.waitFor('group-created', () => true, 20_000);
    const honest = await carol.createGroup('logged members', [alice.address.userId, bob.address.userId]);
    expect((await joined).groupId).toBe(honest.groupId);
    expect((await alice.groupInfo(honest.groupId)).members).toHaveLength(3);
  }, 60_000);
});
