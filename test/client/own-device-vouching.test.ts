// Red team 3: this user's own devices. docs/security.md §4 guarantees that "this user's own devices
// are only those vouched for by a device link this device verified". A malicious server lists a
// device X it controls under the victim's own user in a group it orders; the runtime refuses the
// group, but it has already opened a session to X and stored X's (unvouched) identity key. The
// server then announces device Y with a device link signed by X: checkDeviceLink accepts any stored
// record as the linking device, so Y becomes vouched and gets a copy of everything the victim sends.
import { create, fromBinary, toBinary } from '@bufbuild/protobuf';
import { describe, expect, it } from 'vitest';
import { createClient, createServerTransport, type ProtocolHandler } from '../support/library.js';
import { Account, InboundSession, type Session } from '../../src/protocol/index.js';
import { AppMessageSchema } from '../../src/proto/gen/client_pb.js';
import { GetPreKeyBundleResponseSchema, ProtoMsgSchema, ResponseCode, type ProtoMsg } from '../../src/proto/gen/service_pb.js';
import {
  AcceptMsgSchema,
  E2eeAddressSchema,
  E2eeMsgSchema,
  InviteMsgSchema,
  PlaintextSchema,
  PreKeyBundleSchema,
  type E2eeAddress,
  type E2eeMsg,
  type InviteMsg,
} from '../../src/proto/gen/wire_pb.js';
import { drainInbound, until, useInProcessServer } from '../support/index.js';

const server = useInProcessServer({ heartbeatMs: 100 });

function userAddress(domain: string, userId: string, deviceId: string): E2eeAddress {
  return create(E2eeAddressSchema, { domain, peer: { case: 'user', value: { userId, deviceId } } });
}
function deviceOf(a: E2eeAddress | undefined): string {
  return a?.peer.case === 'user' ? a.peer.value.deviceId : '';
}

describe('own devices of the victim', () => {
  it('a device linked by a device nobody vouched for never receives copies of what this device sends', async () => {
    const bob = await server.start('bob-phone');
    let nextId = 900_000_000_000_000n;
    const inject: ProtoMsg[] = [];
    const invitesToFakes: InviteMsg[] = [];
    const copiesToY: E2eeMsg[] = [];
    const consumed = new Set<string>();
    /** Resolves once the victim has processed (and consumed) the injected `msg`. */
    const processed = async (msg: ProtoMsg): Promise<void> => {
      expect(await until(() => consumed.has(msg.id), 10_000, 10), `the victim processed injected ${msg.payload.case}`).toBe(true);
    };
    let victimUser = '';
    let armed = false;
    const fakes = new Map<string, Account>();
    const inner = createServerTransport(server.url);
    const service = new Proxy(inner.service, {
      get(target, prop, receiver) {
        if (prop === 'createGroup') {
          return async (req: Parameters<typeof target.createGroup>[0]) => {
            const res = await target.createGroup(req);
            // The malicious server lists a device X it controls under the caller's own user.
            if (armed) res.memberDevices.push(userAddress(server.domain, victimUser, 'X'));
            return res;
          };
        }
        if (prop === 'getPreKeyBundle') {
          return async (req: Parameters<typeof target.getPreKeyBundle>[0]) => {
            const fake = req.userId === victimUser ? fakes.get(req.deviceId ?? '') : undefined;
            if (!fake) return target.getPreKeyBundle(req);
            const bundle = create(PreKeyBundleSchema, {
              version: 1,
              suiteId: 2,
              address: userAddress(server.domain, victimUser, req.deviceId ?? ''),
              identityKey: fake.identityPublicKey,
              signedPreKey: fake.signedPreKeyPublic(),
            });
            return create(GetPreKeyBundleResponseSchema, { code: ResponseCode.OK, reason: 'ok', preKeyBundles: [bundle] });
          };
        }
        if (prop === 'invite') {
          return async (req: Parameters<typeof target.invite>[0]) => {
            const msg = req.msg as InviteMsg | undefined;
            if (msg && fakes.has(deviceOf(msg.to))) {
              invitesToFakes.push(msg);
              return { code: ResponseCode.OK, reason: 'ok' };
            }
            return target.invite(req);
          };
        }
        if (prop === 'sendOne2oneMsg') {
          return async (req: Parameters<typeof target.sendOne2oneMsg>[0]) => {
            const msg = req.msg as E2eeMsg | undefined;
            if (msg && fakes.has(deviceOf(msg.to))) {
              copiesToY.push(msg);
              return { code: ResponseCode.OK, reason: 'ok' };
            }
            return target.sendOne2oneMsg(req);
          };
        }
        if (prop === 'consumeProtoMsg') {
          // The runtime consumes each ProtoMsg once it has processed it: the test's processed counter.
          return async (req: Parameters<typeof target.consumeProtoMsg>[0]) => {
            consumed.add(req.protoMsgId ?? '');
            return target.consumeProtoMsg(req);
          };
        }
        if (prop === 'subscribe') {
          return async function* (request: Parameters<typeof target.subscribe>[0], options: Parameters<typeof target.subscribe>[1]) {
            for await (const msg of target.subscribe(request, options)) {
              yield msg;
              while (inject.length > 0) yield inject.shift() as ProtoMsg;
            }
          };
        }
        return Reflect.get(target, prop, receiver);
      },
    });
    const handler: ProtocolHandler = { service, setToken: (t) => inner.setToken(t) };
    const victim = await server.started(createClient({ server: handler, deviceId: 'phone', suite: 2 }));
    victimUser = victim.address.userId;
    const domain = server.domain;
    const x = Account.create({ suite: 2, now: Date.now() });
    x.setAddress(domain, victimUser, 'X');
    const y = Account.create({ suite: 2, now: Date.now() });
    y.setAddress(domain, victimUser, 'Y');
    fakes.set('X', x);
    fakes.set('Y', y);

    // 1. A group the server "orders" with X among the victim's devices: refused, but X is now stored.
    armed = true;
    await victim.createGroup('g', [bob.address.userId]).catch(() => undefined);
    armed = false;

    // 2. Y announced, linked by X.
    const yAddress = userAddress(domain, victimUser, 'Y');
    const link = x.signDeviceLink(domain, victimUser, 'Y', y.identityPublicKey);
    const announce = create(ProtoMsgSchema, {
      id: String(nextId++),
      from: yAddress,
      to: userAddress(domain, victimUser, 'phone'),
      timestamp: BigInt(Date.now()),
      payload: { case: 'newUserDeviceMsg', value: { userAddress: yAddress, suiteId: 2, identityKey: y.identityPublicKey, deviceLink: { linkingDeviceId: 'X', signature: link } } },
    });
    inject.push(announce);
    await processed(announce);

    // 3. Y (the server) accepts whatever invite the victim sent it.
    let ySession: Session | undefined;
    const invite = invitesToFakes.find((m) => deviceOf(m.to) === 'Y');
    if (invite) {
      const { session, accept } = InboundSession.accept(y, toBinary(InviteMsgSchema, invite));
      ySession = session;
      const accepted = create(ProtoMsgSchema, {
        id: String(nextId++),
        from: yAddress,
        to: userAddress(domain, victimUser, 'phone'),
        timestamp: BigInt(Date.now()),
        payload: { case: 'acceptMsg', value: fromBinary(AcceptMsgSchema, accept) },
      });
      inject.push(accepted);
      await processed(accepted);
    }

    // 4. The victim writes to Bob; whatever copy went to Y is read by the server. A later sentinel
    // from Bob makes the victim process its queue and flush its outbox before the copies are read.
    const sent = await victim.sendMessage(bob.address.userId, 'the secret');
    await drainInbound(victim, bob);
    const leaked: string[] = [];
    for (const copy of copiesToY) {
      try {
        const plaintext = fromBinary(PlaintextSchema, (ySession as Session).decrypt(toBinary(E2eeMsgSchema, copy)));
        if (plaintext.payload.case === 'commonMsg') leaked.push(new TextDecoder().decode(fromBinary(AppMessageSchema, plaintext.payload.value).body));
      } catch {
        // not readable
      }
    }
    expect(leaked).toEqual([]);
    expect(invitesToFakes.filter((m) => deviceOf(m.to) === 'Y')).toEqual([]);
    // Only Bob's device gets a copy (the victim has no vouched device of its own).
    expect(sent.sent + sent.pending + sent.dropped).toBe(1);
  }, 20_000);
});
