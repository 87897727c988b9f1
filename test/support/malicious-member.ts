// A device driven by the test through the protocol layer and raw RPCs instead of the client
// runtime: a malicious member (test/security) that behaves like a client where it suits her
// (accepts invites, joins groups, sends valid messages) and crafts what a client never would
// (invites reusing another session's id, bundles with made-up member lists, messages signed by
// her but naming other senders, plaintexts that do not decode). Everything she manages to
// decrypt — from her own stream, or from the copies a colluding server gives her — is recorded
// in `learned`, so a test can check she never read what was not meant for her.
import { create, fromBinary, toBinary } from '@bufbuild/protobuf';
import {
  Account,
  GroupSession,
  InboundSession,
  OutboundSession,
  type Session,
  createServerTransport,
  randomBytes,
  sessionTagMatches,
  type GroupMemberInfo,
  type ProtocolHandler,
} from './library.js';
import { AppMessageSchema } from '../../src/proto/gen/client_pb.js';
import type { ProtoMsg } from '../../src/proto/gen/service_pb.js';
import {
  AcceptMsgSchema,
  E2eeMsgSchema,
  GroupPreKeyBundleSchema,
  InviteMsgSchema,
  PlaintextSchema,
  PreKeyBundleSchema,
  type E2eeAddress,
  type E2eeMsg,
  type Plaintext,
} from '../../src/proto/gen/wire_pb.js';

/** A group epoch's seed she obtained (whoever it was meant for). */
export interface LearnedSeed {
  groupId: string;
  epoch: bigint;
  via: 'stream' | 'tap';
  at: number;
}

export interface Learned {
  body: string;
  /** 'stream' (delivered to her) or 'tap' (a copy of someone else's traffic). */
  via: 'stream' | 'tap';
  what: 'one2one' | 'group';
  at: number;
}

const ok = (code: number): boolean => code >= 200 && code < 300;
const text = (b: Uint8Array): string => new TextDecoder().decode(b);
export const deviceKeyOf = (userId: string, deviceId: string): string => `${userId}/${deviceId}`;

export class MaliciousMember {
  readonly handler: ProtocolHandler;
  account!: Account;
  userId = '';
  domain = '';
  readonly sessions = new Map<string, Session>();
  /** Responded sessions per peer device ("userId/deviceId"), newest last. */
  readonly peers = new Map<string, string[]>();
  readonly groups = new Map<string, GroupSession>();
  readonly learned: Learned[] = [];
  readonly seeds: LearnedSeed[] = [];
  readonly problems: string[] = [];
  private abort: AbortController | undefined;
  private loop: Promise<void> | undefined;
  private queue: Promise<unknown> = Promise.resolve();

  constructor(
    readonly url: string,
    readonly deviceId: string,
    readonly suite: number,
  ) {
    this.handler = createServerTransport(url);
  }

  get service(): ProtocolHandler['service'] {
    return this.handler.service;
  }

  get address(): E2eeAddress {
    return this.account.address as E2eeAddress;
  }

  /** Registers a new user with this device and starts reading its stream. */
  async start(): Promise<void> {
    const account = Account.create({ suite: this.suite, now: Date.now() });
    const challenge = await this.service.getChallenge({});
    const response = await this.service.registerUser({
      suiteId: this.suite,
      userId: '',
      deviceId: this.deviceId,
      userName: 'raw',
      identityKey: account.identityPublicKey,
      signedPreKey: account.signedPreKeyPublic(),
      oneTimePreKeys: account.oneTimePreKeyPublics(),
      challengeId: challenge.challengeId,
      challengeSignature: account.signServerChallenge(challenge.domain, challenge.challenge, '', this.deviceId),
    });
    if (!ok(response.code) || response.address?.peer.case !== 'user') throw new Error(`raw registration failed: ${response.code} ${response.reason}`);
    this.userId = response.address.peer.value.userId;
    this.domain = challenge.domain;
    account.setAddress(challenge.domain, this.userId, this.deviceId);
    this.account = account;
    this.handler.setToken(response.token);
    this.abort = new AbortController();
    this.loop = this.receive(this.abort.signal);
  }

  async stop(): Promise<void> {
    this.abort?.abort();
    await this.loop?.catch(() => undefined);
  }

  /** Runs `fn` after everything queued before it (stream handling and the test's actions share one order). */
  serial<T>(fn: () => Promise<T>): Promise<T> {
    const run = this.queue.then(fn, fn);
    this.queue = run.catch(() => undefined);
    return run;
  }

  private async receive(signal: AbortSignal): Promise<void> {
    while (!signal.aborted) {
      try {
        for await (const msg of this.service.subscribe({}, { signal, timeoutMs: 0 })) {
          if (msg.payload.case === 'serverHeartbeatMsg') continue;
          await this.serial(() => this.process(msg));
        }
      } catch {
        if (signal.aborted) return;
        await new Promise((r) => setTimeout(r, 100));
      }
    }
  }

  private async process(msg: ProtoMsg): Promise<void> {
    try {
      const p = msg.payload;
      if (p.case === 'inviteMsg') {
        const { session, accept } = InboundSession.accept(this.account, toBinary(InviteMsgSchema, p.value));
        this.addSession(session);
        const res = await this.service.accept({ msg: fromBinary(AcceptMsgSchema, accept) });
        if (!ok(res.code)) this.problems.push(`accept refused: ${res.reason}`);
      } else if (p.case === 'acceptMsg') {
        const session = this.sessions.get(p.value.sessionId);
        if (session && !session.responded) {
          session.complete(this.account, toBinary(AcceptMsgSchema, p.value));
          this.addSession(session);
        }
      } else if (p.case === 'e2eeMsg') {
        this.read(p.value, 'stream');
      }
    } catch {
      // She is not an honest client: what she cannot use she drops.
    }
    await this.service.consumeProtoMsg({ protoMsgId: msg.id }).catch(() => undefined);
  }

  private addSession(session: Session): void {
    this.sessions.set(session.sessionId, session);
    const peer = session.peerAddress?.peer.case === 'user' ? deviceKeyOf(session.peerAddress.peer.value.userId, session.peerAddress.peer.value.deviceId) : '';
    if (!peer || !session.responded) return;
    const list = (this.peers.get(peer) ?? []).filter((id) => id !== session.sessionId);
    list.push(session.sessionId);
    this.peers.set(peer, list);
  }

  /** A copy of someone else's message, as a colluding server would hand it over. */
  tap(msg: E2eeMsg): void {
    void this.serial(async () => {
      try {
        this.read(create(E2eeMsgSchema, msg), 'tap');
      } catch {
        // not hers to read
      }
    });
  }

  /** Decrypts whatever she can of an E2eeMsg; throws when she cannot. */
  private read(msg: E2eeMsg, via: Learned['via']): void {
    if (msg.payload.case === 'groupMsg') {
      const group = this.groups.get(msg.to?.peer.case === 'group' ? msg.to.peer.value.groupId : '');
      if (!group) return;
      msg.from = undefined;
      const { plaintext } = group.decrypt(toBinary(E2eeMsgSchema, msg));
      this.learn(fromBinary(PlaintextSchema, plaintext), via, 'group');
      return;
    }
    // v2 messages name their session by a tag: the first 8 bytes of its id.
    const session = [...this.sessions.values()].find((candidate) => sessionTagMatches(candidate.sessionId, msg.sessionTag));
    if (!session?.responded) return;
    const plaintext = fromBinary(PlaintextSchema, session.decrypt(toBinary(E2eeMsgSchema, msg)));
    if (plaintext.payload.case === 'groupPreKeyBundle') {
      const bundle = plaintext.payload.value;
      const groupId = bundle.groupAddress?.peer.case === 'group' ? bundle.groupAddress.peer.value.groupId : '';
      // The seed is every member's chain: holding it is reading the epoch, listed or not.
      this.seeds.push({ groupId, epoch: bundle.epoch, via, at: Date.now() });
      this.takeBundle(toBinary(GroupPreKeyBundleSchema, bundle));
    } else this.learn(plaintext, via, 'one2one');
  }

  private learn(plaintext: Plaintext, via: Learned['via'], what: Learned['what']): void {
    if (plaintext.payload.case !== 'commonMsg') return;
    const app = fromBinary(AppMessageSchema, plaintext.payload.value);
    this.learned.push({ body: text(app.body), via, what, at: Date.now() });
  }

  /** Any bundle that names her is good enough for her. */
  private takeBundle(bytes: Uint8Array): void {
    const bundle = fromBinary(GroupPreKeyBundleSchema, bytes);
    const groupId = bundle.groupAddress?.peer.case === 'group' ? bundle.groupAddress.peer.value.groupId : '';
    const existing = this.groups.get(groupId);
    if (existing) {
      if (bundle.epoch > existing.epoch) existing.applyBundle(bytes, Date.now(), { allowUnknownCreator: true });
      return;
    }
    this.groups.set(groupId, GroupSession.join(this.account, bytes, { userId: this.userId, deviceId: this.deviceId, now: Date.now() }));
  }

  // ---- sending ----

  /** The newest responded session with a device, if any. */
  sessionWith(userId: string, deviceId: string): Session | undefined {
    const id = this.peers.get(deviceKeyOf(userId, deviceId))?.at(-1);
    return id ? this.sessions.get(id) : undefined;
  }

  /** Devices of `userId` she has a session with. */
  devicesOf(userId: string): string[] {
    return [...this.peers.keys()].filter((k) => k.startsWith(`${userId}/`)).map((k) => k.slice(userId.length + 1));
  }

  /** Sends a plaintext (any bytes) through her session with one device. */
  async sendPlaintextBytes(userId: string, deviceId: string, plaintext: Uint8Array): Promise<boolean> {
    const session = this.sessionWith(userId, deviceId);
    if (!session) return false;
    const msg = fromBinary(E2eeMsgSchema, session.encrypt(plaintext));
    const res = await this.service.sendOne2oneMsg({ msg });
    return ok(res.code);
  }

  static appPlaintext(body: string, conversationUserId = ''): Uint8Array {
    const app = create(AppMessageSchema, { messageId: crypto.randomUUID(), sentAt: BigInt(Date.now()), body: new TextEncoder().encode(body), conversationUserId });
    return toBinary(PlaintextSchema, create(PlaintextSchema, { version: 1, payload: { case: 'commonMsg', value: toBinary(AppMessageSchema, app) } }));
  }

  static bundlePlaintext(bundle: Uint8Array): Uint8Array {
    return toBinary(PlaintextSchema, create(PlaintextSchema, { version: 1, payload: { case: 'groupPreKeyBundle', value: fromBinary(GroupPreKeyBundleSchema, bundle) } }));
  }

  /** A valid one-to-one message to every device of `userId` she has a session with; returns those devices. */
  async sendMessage(userId: string, body: string): Promise<string[]> {
    const sent: string[] = [];
    for (const deviceId of this.devicesOf(userId)) if (await this.sendPlaintextBytes(userId, deviceId, MaliciousMember.appPlaintext(body))) sent.push(deviceId);
    return sent;
  }

  /**
   * Session-id collision: an invite to `victim` whose session id is one the victim already uses
   * (with someone else). Resolves once the invite is queued; the session completes when accepted.
   */
  async inviteWithSessionId(victim: { userId: string; deviceId: string }, sessionId: string): Promise<boolean> {
    const res = await this.service.getPreKeyBundle({ userId: victim.userId, deviceId: victim.deviceId });
    const bundle = res.preKeyBundles[0];
    if (!ok(res.code) || !bundle) return false;
    const { session, invite } = OutboundSession.initiate(this.account, toBinary(PreKeyBundleSchema, bundle));
    const msg = fromBinary(InviteMsgSchema, invite);
    msg.sessionId = sessionId;
    session.state.sessionId = sessionId;
    if (session.state.pending?.invite) session.state.pending.invite.sessionId = sessionId;
    this.sessions.set(sessionId, session);
    const sent = await this.service.invite({ msg });
    return ok(sent.code);
  }

  /** Sends a group E2eeMsg (bytes from a GroupSession, possibly edited) through the server. */
  async sendGroupWire(wire: Uint8Array): Promise<boolean> {
    const msg = fromBinary(E2eeMsgSchema, wire);
    msg.from = this.address;
    const res = await this.service.sendGroupMsg({ msg });
    return ok(res.code);
  }

  /** Identity signature keys she knows: her sessions' peers and the members of her groups. */
  signKeyOf(userId: string, deviceId: string): Uint8Array | undefined {
    const session = this.sessionWith(userId, deviceId);
    if (session) return session.peerIdentityKey.signPublicKey;
    for (const g of this.groups.values()) {
      const m = g.members.find((x) => x.userId === userId && x.deviceId === deviceId);
      if (m) return m.signPublicKey;
    }
    return undefined;
  }

  /** A random plaintext that is not a Plaintext message (or a Plaintext that carries garbage). */
  static garbagePlaintext(kind: number): Uint8Array {
    if (kind % 3 === 0) return randomBytes(40);
    if (kind % 3 === 1) return toBinary(PlaintextSchema, create(PlaintextSchema, { version: 1, payload: { case: 'commonMsg', value: randomBytes(33) } }));
    return new Uint8Array([0x12, 0xff, 0xff, 0xff, 0x0f, 0x01]);
  }

  /** Members of a new epoch she makes: the group's current members, plus/minus what is asked. */
  makeEpoch(groupId: string, epoch: bigint, members: GroupMemberInfo[]): { bundle: Uint8Array; recipients: GroupMemberInfo[] } {
    const group = this.groups.get(groupId);
    if (!group) throw new Error('mallory is not in the group');
    const key = (m: { userId: string; deviceId: string }) => deviceKeyOf(m.userId, m.deviceId);
    const wanted = new Set(members.map(key));
    const current = new Set(group.members.map(key));
    return group.changeMembers({
      add: members.filter((m) => !current.has(key(m))),
      remove: group.members
        .filter((m) => !wanted.has(key(m)) && !(m.userId === this.userId && m.deviceId === this.deviceId))
        .map((m) => ({ userId: m.userId, deviceId: m.deviceId })),
      epoch,
      now: Date.now(),
    });
  }
}
