// One-to-one sessions of an adversary's raw device (test/support/raw-device.ts) with real clients:
// opened, accepted and used with the protocol layer directly, so a test can send any plaintext
// (forged group bundles, undecodable bytes) inside authentic sessions.
import { create, fromBinary, toBinary } from '@bufbuild/protobuf';
import { InboundSession, OutboundSession, type Session } from '../../src/protocol/index.js';
import { AppMessageSchema } from '../../src/proto/gen/client_pb.js';
import { AcceptMsgSchema, E2eeMsgSchema, InviteMsgSchema, PlaintextSchema, PreKeyBundleSchema, type Plaintext } from '../../src/proto/gen/wire_pb.js';
import type { RawDevice } from './raw-device.js';

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));
const key = (userId: string, deviceId: string): string => `${userId}/${deviceId}`;

export interface RawSessions {
  /** Ready sessions by `userId/deviceId`. */
  readonly sessions: Map<string, Session>;
  /** Opens sessions to every device of `userId` and waits for their AcceptMsgs. */
  openTo(userId: string, timeoutMs?: number): Promise<Session[]>;
  /** Accepts every InviteMsg received so far (answering with AcceptMsgs). */
  acceptInvites(): Promise<void>;
  /** Plaintexts decrypted from E2eeMsgs received so far that were not read yet. */
  readPlaintexts(): Plaintext[];
  /** Encrypts `plaintext` in the session with that device and sends it. */
  send(userId: string, deviceId: string, plaintext: Plaintext | Uint8Array): Promise<void>;
}

/** An application message plaintext (what the runtime sends for `sendMessage`). */
export function appPlaintext(body: string, messageId = crypto.randomUUID()): Plaintext {
  const app = create(AppMessageSchema, { messageId, sentAt: BigInt(Date.now()), body: new TextEncoder().encode(body) });
  return create(PlaintextSchema, { version: 1, payload: { case: 'commonMsg', value: toBinary(AppMessageSchema, app) } });
}

export function rawSessions(device: RawDevice): RawSessions {
  const sessions = new Map<string, Session>();
  const pending = new Map<string, Session>();
  let read = 0;
  const handled = new Set<string>();
  const completeAccepts = (): void => {
    for (const msg of device.received) {
      if (msg.payload.case !== 'acceptMsg' || handled.has(msg.id)) continue;
      handled.add(msg.id);
      const from = msg.from?.peer.case === 'user' ? msg.from.peer.value : undefined;
      const session = from && pending.get(key(from.userId, from.deviceId));
      if (!session || !from) continue;
      session.complete(device.account, toBinary(AcceptMsgSchema, msg.payload.value));
      pending.delete(key(from.userId, from.deviceId));
      sessions.set(key(from.userId, from.deviceId), session);
    }
  };
  return {
    sessions,
    async openTo(userId, timeoutMs = 15_000) {
      const response = await device.service.getPreKeyBundle({ userId });
      const opened: string[] = [];
      for (const bundle of response.preKeyBundles) {
        const peer = bundle.address?.peer.case === 'user' ? bundle.address.peer.value : undefined;
        if (!peer) continue;
        const { session, invite } = OutboundSession.initiate(device.account, toBinary(PreKeyBundleSchema, bundle));
        pending.set(key(peer.userId, peer.deviceId), session);
        opened.push(key(peer.userId, peer.deviceId));
        await device.service.invite({ msg: fromBinary(InviteMsgSchema, invite) });
      }
      const deadline = Date.now() + timeoutMs;
      while (opened.some((k) => !sessions.has(k)) && Date.now() < deadline) {
        completeAccepts();
        await sleep(25);
      }
      if (opened.some((k) => !sessions.has(k))) throw new Error(`no AcceptMsg from every device of ${userId}`);
      return opened.map((k) => sessions.get(k) as Session);
    },
    async acceptInvites() {
      for (const msg of device.received) {
        if (msg.payload.case !== 'inviteMsg' || handled.has(msg.id)) continue;
        handled.add(msg.id);
        const from = msg.payload.value.from?.peer.case === 'user' ? msg.payload.value.from.peer.value : undefined;
        if (!from) continue;
        const { session, accept } = InboundSession.accept(device.account, toBinary(InviteMsgSchema, msg.payload.value));
        sessions.set(key(from.userId, from.deviceId), session);
        await device.service.accept({ msg: fromBinary(AcceptMsgSchema, accept) });
      }
    },
    readPlaintexts() {
      const out: Plaintext[] = [];
      for (; read < device.received.length; read++) {
        const msg = device.received[read];
        if (msg?.payload.case !== 'e2eeMsg' || msg.payload.value.payload.case !== 'one2oneMsg') continue;
        const from = msg.from?.peer.case === 'user' ? msg.from.peer.value : undefined;
        const session = from && sessions.get(key(from.userId, from.deviceId));
        if (!session) continue;
        try {
          out.push(fromBinary(PlaintextSchema, session.decrypt(toBinary(E2eeMsgSchema, msg.payload.value))));
        } catch {
          // not for a session this device holds
        }
      }
      return out;
    },
    async send(userId, deviceId, plaintext) {
      const session = sessions.get(key(userId, deviceId));
      if (!session) throw new Error(`no session with ${userId}/${deviceId}`);
      const bytes = plaintext instanceof Uint8Array ? plaintext : toBinary(PlaintextSchema, plaintext);
      const wire = session.encrypt(bytes);
      const response = await device.service.sendOne2oneMsg({ msg: fromBinary(E2eeMsgSchema, wire) });
      if (response.code !== 200) throw new Error(`SendOne2oneMsg: ${response.reason}`);
    },
  };
}
