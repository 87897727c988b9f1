/**
 * The E2eeService implementation (src/proto/service.proto): authentication, pre-keys, routing of
 * opaque messages and group membership. It only ever handles public keys and ciphertexts. Storage
 * goes through {@link ServerStore}; live delivery through {@link DeliveryHub}.
 */
import { randomBytes } from 'node:crypto';
import { create, fromBinary, toBinary, type DescMessage, type MessageInitShape } from '@bufbuild/protobuf';
import { Code, ConnectError, createContextKey, type HandlerContext, type ServiceImpl } from '@connectrpc/connect';
import {
  E2eeService,
  GroupInfoSchema,
  GroupRole,
  ProtoMsgSchema,
  ResponseCode,
  type GroupMemberUser,
  type ProtoMsg,
} from '../proto/gen/service_pb.js';
import {
  AcceptMsgSchema,
  E2eeAddressSchema,
  E2eeMsgSchema,
  InviteMsgSchema,
  type E2eeAddress,
  type E2eeMsg,
  type OneTimePreKeyPublic,
  type SignedPreKeyPublic,
} from '../proto/gen/wire_pb.js';
import { signedPreKeyMessage, PROTOCOL_VERSION } from '../protocol/encoding.js';
import { deviceLinkStatement, serverAuthStatement } from '../protocol/server-auth.js';
import type { CipherSuite } from '../crypto/index.js';
import { AuthState, type DeviceIdentity } from './auth.js';
import { DeliveryHub, type StreamConnection } from './delivery.js';
import { RateLimiter, type RateLimit } from './rate-limit.js';
import type { DeviceRecord, GroupDeviceRecord, GroupMemberRecord, GroupRecord, NewQueuedMessage, OneTimePreKeyRecord, QueuedRef, ServerStore } from './store/types.js';
import { checkString, parseDeviceAddress, parseGroupAddress, suiteOf } from './validate.js';

/** Everything the service needs to know; see `ServerOptions` in src/server/index.ts for defaults. */
export interface ServiceConfig {
  domain: string;
  heartbeatMs: number;
  ttlMs: number;
  tokenTtlMs: number;
  challengeTtlMs: number;
  opkLowThreshold: number;
  maxOpksPerDevice: number;
  queueLimit: number;
  maxMessageBytes: number;
  maxGroupMembers: number;
  /** Devices per user at most (default {@link DEFAULT_MAX_DEVICES_PER_USER}). */
  maxDevicesPerUser?: number;
  /** Users one user watches at most, and watchers of one user at most (default {@link DEFAULT_MAX_CONTACTS_PER_USER}). */
  maxContactsPerUser?: number;
  /** Open Subscribe streams at most, one per device (default {@link DEFAULT_MAX_STREAMS}). */
  maxStreams?: number;
  /** A stream blocked on a write whose connection sends nothing for this long is cut (default {@link DEFAULT_STREAM_STALL_MS}). */
  streamStallMs?: number;
  /** Bytes of messages being written on all streams together before the longest-writing one is cut (default {@link DEFAULT_STREAM_WRITE_BYTES}). */
  streamWriteBytes?: number;
  rateLimit: RateLimit;
  ipRateLimit: RateLimit;
}

export const DEFAULT_MAX_DEVICES_PER_USER = 16;
export const DEFAULT_MAX_CONTACTS_PER_USER = 5000;
export const DEFAULT_MAX_STREAMS = 10_000;
export const DEFAULT_STREAM_STALL_MS = 120_000;
export const DEFAULT_STREAM_WRITE_BYTES = 128 * 1024 * 1024;

/** Context value: the remote address of the HTTP connection (set by the node adapter). */
export const remoteAddressKey = createContextKey<string>('unknown', { description: 'remote address' });

/**
 * Context value: the call's HTTP connection (set by the node adapter). A stream blocked on a write
 * its client never drains can only be ended by closing it. The default closes nothing and sends
 * nothing (transports without a connection of their own).
 */
export const callConnectionKey = createContextKey<StreamConnection>({ close: () => undefined, sentBytes: () => 0 }, { description: 'HTTP connection' });

type Outcome = { code: ResponseCode; reason: string };
const fail = (code: ResponseCode, reason: string): Outcome => ({ code, reason });
const ok = (reason = 'ok'): Outcome => ({ code: ResponseCode.OK, reason });

/** Longest signature accepted before checking the suite's exact size (all suites are below this). */
const MAX_SIGNATURE_BYTES = 16 * 1024;

function deviceAddress(domain: string, userId: string, deviceId: string): E2eeAddress {
  return create(E2eeAddressSchema, { domain, peer: { case: 'user', value: { userId, deviceId } } });
}

function groupAddress(domain: string, groupId: string): E2eeAddress {
  return create(E2eeAddressSchema, { domain, peer: { case: 'group', value: { groupId } } });
}

const roleOf = (role: GroupMemberRecord['role']): GroupRole => (role === 'manager' ? GroupRole.MANAGER : GroupRole.MEMBER);
const sameDevice = (a: GroupDeviceRecord, b: GroupDeviceRecord): boolean => a.userId === b.userId && a.deviceId === b.deviceId;

/** Devices that receive group traffic: devices of active members. */
function routedDevices(group: GroupRecord): GroupDeviceRecord[] {
  const active = new Set(group.members.filter((m) => m.state === 'active').map((m) => m.userId));
  return group.devices.filter((d) => active.has(d.userId));
}

/** If no active manager is left, the earliest-joined active member becomes one. */
function ensureManager(members: GroupMemberRecord[]): void {
  const active = members.filter((m) => m.state === 'active').sort((a, b) => a.joinedOrder - b.joinedOrder);
  if (active.length > 0 && !active.some((m) => m.role === 'manager')) (active[0] as GroupMemberRecord).role = 'manager';
}

export class E2eeServer {
  readonly auth: AuthState;
  readonly hub: DeliveryHub;
  private readonly deviceLimiter: RateLimiter;
  private readonly ipLimiter: RateLimiter;
  private readonly groupLocks = new Map<string, Promise<unknown>>();
  private closing = false;

  constructor(
    readonly store: ServerStore,
    readonly config: ServiceConfig,
  ) {
    this.auth = new AuthState({ challengeTtlMs: config.challengeTtlMs, tokenTtlMs: config.tokenTtlMs, maxChallenges: 100_000 });
    this.hub = new DeliveryHub({
      maxStreams: config.maxStreams ?? DEFAULT_MAX_STREAMS,
      stallMs: config.streamStallMs ?? DEFAULT_STREAM_STALL_MS,
      maxWriteBytes: config.streamWriteBytes ?? DEFAULT_STREAM_WRITE_BYTES,
    });
    this.deviceLimiter = new RateLimiter(config.rateLimit);
    this.ipLimiter = new RateLimiter(config.ipRateLimit);
  }

  /** Ends every stream; later Subscribe calls end at once. */
  shutdown(): void {
    this.closing = true;
    this.hub.endAll();
  }

  /** Periodic housekeeping: expired messages, challenges, tokens and idle rate buckets. */
  async sweep(now = Date.now()): Promise<number> {
    this.auth.prune(now);
    this.deviceLimiter.prune(now);
    this.ipLimiter.prune(now);
    return this.store.deleteExpired(now);
  }

  // ---- queueing ----

  /**
   * One message for `to`'s queue. `limited`: a client message (refused when the queue is full).
   * `bound`: for server notices, the queue length at which this recipient is skipped
   * (`noticeCap`, or `groupNoticeCap` for group state) and an optional coalescing key.
   */
  private message(
    to: GroupDeviceRecord,
    from: E2eeAddress | undefined,
    payload: MessageInitShape<typeof ProtoMsgSchema>['payload'],
    limited: boolean,
    now: number,
    bound: { queueCap?: number; coalesceKey?: string } = {},
  ): NewQueuedMessage {
    const proto = create(ProtoMsgSchema, {
      to: deviceAddress(this.config.domain, to.userId, to.deviceId),
      timestamp: BigInt(now),
      payload,
      ...(from ? { from } : {}),
    });
    return { userId: to.userId, deviceId: to.deviceId, body: toBinary(ProtoMsgSchema, proto), queuedAt: now, expiresAt: now + this.config.ttlMs, limited, ...bound };
  }

  /**
   * Server notices other than group state (UpdateUser, NewUserDevice, SupplyOpk, admin notices)
   * count against the queue limit like client messages: a recipient whose queue is full is skipped
   * (the request that caused the notice still succeeds), so nobody can grow a stranger's queue
   * past the limit with them.
   */
  private get noticeCap(): { queueCap: number } {
    return { queueCap: this.config.queueLimit };
  }

  /**
   * Group state notices are queued past the limit (group state must reach members even when their
   * queue is full of chat), but not past twice the limit: a manager cannot grow a member's queue
   * without bound by changing the group over and over. (A device that far behind misses the change;
   * it can read the epoch's devices with GetGroupEpoch.)
   */
  private get groupNoticeCap(): { queueCap: number } {
    return { queueCap: 2 * this.config.queueLimit };
  }

  private get maxDevicesPerUser(): number {
    return this.config.maxDevicesPerUser ?? DEFAULT_MAX_DEVICES_PER_USER;
  }

  private get maxContactsPerUser(): number {
    return this.config.maxContactsPerUser ?? DEFAULT_MAX_CONTACTS_PER_USER;
  }

  /** The `from` of server notices: the server's domain, no peer. */
  private get serverAddress(): E2eeAddress {
    return create(E2eeAddressSchema, { domain: this.config.domain });
  }

  private delivered(queued: QueuedRef[]): void {
    for (const ref of queued) this.hub.notify(ref.userId, ref.deviceId);
  }

  /** Queues messages (all or nothing for limited ones) and wakes the recipients' streams. */
  private async enqueue(messages: NewQueuedMessage[], now: number): Promise<Outcome | undefined> {
    if (messages.length === 0) return undefined;
    const result = await this.store.enqueue(messages, { queueLimit: this.config.queueLimit, now });
    if (!result.ok) return fail(ResponseCode.SERVICE_UNAVAILABLE, 'recipient queue full');
    this.delivered(result.queued);
    return undefined;
  }

  /** Queues server notices (each skipped for a full queue as its cap says); returns how many were queued. */
  private async enqueueNotices(messages: NewQueuedMessage[], now: number): Promise<number> {
    if (messages.length === 0) return 0;
    const result = await this.store.enqueue(messages, { queueLimit: this.config.queueLimit, now });
    if (!result.ok) return 0;
    this.delivered(result.queued);
    return result.queued.length;
  }

  /** Decodes a stored message and gives it its id. */
  private storedProtoMsg(seq: number, body: Uint8Array): ProtoMsg {
    const msg = fromBinary(ProtoMsgSchema, body);
    msg.id = String(seq);
    return msg;
  }

  // ---- admin notices (server API, not RPCs) ----

  /** Queues a SystemManagerMsg to every device; returns how many. */
  async notifySystem(notice: string): Promise<number> {
    const now = Date.now();
    const devices = await this.store.listAllDevices();
    const messages = devices.map((d) => this.message(d, this.serverAddress, { case: 'systemManagerMsg', value: { notice } }, false, now, this.noticeCap));
    return this.enqueueNotices(messages, now);
  }

  /** Queues a GroupManagerMsg to every routed device of a group; returns how many (0 if no such group). */
  async notifyGroup(groupId: string, notice: string): Promise<number> {
    const now = Date.now();
    const group = await this.store.getGroup(groupId);
    if (!group) return 0;
    const address = groupAddress(this.config.domain, groupId);
    const messages = routedDevices(group).map((d) => this.message(d, address, { case: 'groupManagerMsg', value: { groupAddress: address, notice } }, false, now, this.noticeCap));
    return this.enqueueNotices(messages, now);
  }

  /** Queues a FriendManagerMsg about `about` to every device of `userId`; returns how many. */
  async notifyFriend(userId: string, about: E2eeAddress, notice: string): Promise<number> {
    const now = Date.now();
    const devices = await this.store.listDevices(userId);
    const messages = devices.map((d) => this.message(d, this.serverAddress, { case: 'friendManagerMsg', value: { userAddress: about, notice } }, false, now, this.noticeCap));
    return this.enqueueNotices(messages, now);
  }

  // ---- request plumbing ----

  private caller(ctx: HandlerContext, now: number): DeviceIdentity | undefined {
    const token = bearerToken(ctx);
    const identity = token === undefined ? undefined : this.auth.verifyToken(token, now);
    return identity ? { userId: identity.userId, deviceId: identity.deviceId } : undefined;
  }

  /**
   * Wraps a handler: rate limit (per device, or per remote address before authentication), token
   * check, and any unexpected failure answered as INTERNAL_SERVER_ERROR (the server keeps serving).
   */
  private unary<Req, Res extends DescMessage>(
    authenticated: boolean,
    body: (request: Req, caller: DeviceIdentity, now: number) => Promise<MessageInitShape<Res>>,
  ): (request: Req, ctx: HandlerContext) => Promise<MessageInitShape<Res>> {
    return async (request, ctx) => {
      const now = Date.now();
      const ip = ctx.values.get(remoteAddressKey);
      let caller: DeviceIdentity | undefined;
      if (authenticated) {
        caller = this.caller(ctx, now);
        if (!caller) {
          if (!this.ipLimiter.take(`ip:${ip}`, now)) return fail(ResponseCode.SERVICE_UNAVAILABLE, 'rate limit exceeded') as unknown as MessageInitShape<Res>;
          return fail(ResponseCode.UNAUTHORIZED, 'missing, unknown or expired token') as unknown as unknown as MessageInitShape<Res>;
        }
        if (!this.deviceLimiter.take(`device:${caller.userId}\u0000${caller.deviceId}`, now)) {
          return fail(ResponseCode.SERVICE_UNAVAILABLE, 'rate limit exceeded') as unknown as unknown as MessageInitShape<Res>;
        }
      } else if (!this.ipLimiter.take(`ip:${ip}`, now)) {
        return fail(ResponseCode.SERVICE_UNAVAILABLE, 'rate limit exceeded') as unknown as MessageInitShape<Res>;
      }
      try {
        return await body(request, caller ?? { userId: '', deviceId: '' }, now);
      } catch {
        return fail(ResponseCode.INTERNAL_SERVER_ERROR, 'internal server error') as unknown as MessageInitShape<Res>;
      }
    };
  }

  private async withGroupLock<T>(groupId: string, fn: () => Promise<T>): Promise<T> {
    const previous = this.groupLocks.get(groupId) ?? Promise.resolve();
    const run = previous.then(fn, fn);
    const settled = run.then(
      () => undefined,
      () => undefined,
    );
    this.groupLocks.set(groupId, settled);
    try {
      return await run;
    } finally {
      if (this.groupLocks.get(groupId) === settled) this.groupLocks.delete(groupId);
    }
  }

  // ---- key checks ----

  private checkSpk(suite: CipherSuite, signPublicKey: Uint8Array, spk: SignedPreKeyPublic | undefined): string | undefined {
    if (!spk) return 'signed_pre_key is missing';
    if (spk.publicKey.length !== suite.params.kemPublicKeyBytes) return `signed pre-key must be ${suite.params.kemPublicKeyBytes} bytes for suite ${suite.params.id}`;
    if (spk.signature.length !== suite.params.signatureBytes) return `signed pre-key signature must be ${suite.params.signatureBytes} bytes for suite ${suite.params.id}`;
    if (!verify(suite, signPublicKey, signedPreKeyMessage(suite.params.id, spk.spkId, spk.publicKey), spk.signature)) return 'signed pre-key signature is invalid';
    return undefined;
  }

  private checkOpks(suite: CipherSuite, opks: OneTimePreKeyPublic[]): string | undefined {
    if (opks.length > this.config.maxOpksPerDevice) return `more than ${this.config.maxOpksPerDevice} one-time pre-keys`;
    const ids = new Set<number>();
    for (const opk of opks) {
      if (opk.publicKey.length !== suite.params.kemPublicKeyBytes) return `one-time pre-key ${opk.opkId} must be ${suite.params.kemPublicKeyBytes} bytes for suite ${suite.params.id}`;
      if (ids.has(opk.opkId)) return `one-time pre-key id ${opk.opkId} appears twice`;
      ids.add(opk.opkId);
    }
    return undefined;
  }

  /**
   * The group as server-sent messages describe it: its managers only and no device list. Every
   * member device gets one such message per change, so anything listing all members would make one
   * request queue storage growing with the square of the group size; the device that made the
   * change gets the full device list in its response instead.
   */
  private groupInfo(group: GroupRecord): MessageInitShape<typeof GroupInfoSchema> {
    return {
      groupAddress: groupAddress(this.config.domain, group.groupId),
      groupName: group.groupName,
      epoch: BigInt(group.epoch),
      members: group.members.filter((m) => m.state === 'active' && m.role === 'manager').map((m) => ({ userId: m.userId, role: roleOf(m.role) })),
    };
  }

  /**
   * Group notices are queued even past `queueLimit` (group state must reach members), so a user
   * could flood a stranger's queue by adding them to many groups: users whose devices already hold
   * twice the limit cannot be added until they catch up.
   */
  private async checkNewMembersQueues(devices: GroupDeviceRecord[], now: number): Promise<Outcome | undefined> {
    for (const d of devices) {
      if ((await this.store.countQueued(d.userId, d.deviceId, now)) >= 2 * this.config.queueLimit) {
        return fail(ResponseCode.SERVICE_UNAVAILABLE, `the queue of user ${d.userId} is full`);
      }
    }
    return undefined;
  }

  /** REQUEST_CONFLICT-free size check: a group may never have more than maxGroupMembers active members. */
  private checkGroupSize(group: GroupRecord): Outcome | undefined {
    const active = group.members.filter((m) => m.state === 'active').length;
    return active > this.config.maxGroupMembers ? fail(ResponseCode.BAD_REQUEST, `a group has at most ${this.config.maxGroupMembers} members`) : undefined;
  }

  private memberDevices(group: GroupRecord): E2eeAddress[] {
    return routedDevices(group).map((d) => deviceAddress(this.config.domain, d.userId, d.deviceId));
  }

  private parseMembers(members: GroupMemberUser[], exclude: string): { ok: true; value: { userId: string; role: 'manager' | 'member' }[] } | { ok: false; outcome: Outcome } {
    if (members.length > this.config.maxGroupMembers) return { ok: false, outcome: fail(ResponseCode.BAD_REQUEST, `more than ${this.config.maxGroupMembers} members`) };
    const seen = new Set<string>();
    const out: { userId: string; role: 'manager' | 'member' }[] = [];
    for (const m of members) {
      const bad = checkString(m.userId, 'member user id');
      if (bad) return { ok: false, outcome: fail(ResponseCode.BAD_REQUEST, bad) };
      if (m.userId === exclude) return { ok: false, outcome: fail(ResponseCode.BAD_REQUEST, 'the caller cannot be listed as a member') };
      if (seen.has(m.userId)) return { ok: false, outcome: fail(ResponseCode.BAD_REQUEST, `member ${m.userId} listed twice`) };
      seen.add(m.userId);
      if (m.role !== GroupRole.MANAGER && m.role !== GroupRole.MEMBER && m.role !== GroupRole.UNSPECIFIED) {
        return { ok: false, outcome: fail(ResponseCode.BAD_REQUEST, `unknown role ${m.role as number}`) };
      }
      out.push({ userId: m.userId, role: m.role === GroupRole.MANAGER ? 'manager' : 'member' });
    }
    return { ok: true, value: out };
  }

  /** Every device of the listed users; NOT_FOUND outcome if a user does not exist. */
  private async devicesOf(userIds: string[]): Promise<{ ok: true; value: GroupDeviceRecord[] } | { ok: false; outcome: Outcome }> {
    const out: GroupDeviceRecord[] = [];
    for (const userId of userIds) {
      const devices = await this.store.listDevices(userId);
      if (devices.length === 0) return { ok: false, outcome: fail(ResponseCode.NOT_FOUND, `unknown user ${userId}`) };
      for (const d of devices) out.push({ userId: d.userId, deviceId: d.deviceId });
    }
    return { ok: true, value: out };
  }

  /** Devices of users watching `userId`, plus that user's own devices other than `except`. */
  private async watcherDevices(userId: string, exceptDeviceId: string): Promise<GroupDeviceRecord[]> {
    const out: GroupDeviceRecord[] = [];
    for (const d of await this.store.listDevices(userId)) if (d.deviceId !== exceptDeviceId) out.push({ userId, deviceId: d.deviceId });
    for (const watcher of await this.store.listWatchers(userId)) {
      if (watcher === userId) continue;
      for (const d of await this.store.listDevices(watcher)) out.push({ userId: watcher, deviceId: d.deviceId });
    }
    return out;
  }

  /** Checks an Invite/Accept/E2eeMsg's sender and recipient; returns the recipient device. */
  private async checkDirect(caller: DeviceIdentity, from: E2eeAddress | undefined, to: E2eeAddress | undefined): Promise<{ ok: true; to: DeviceRecord } | { ok: false; outcome: Outcome }> {
    const sender = parseDeviceAddress(from, this.config.domain, 'from');
    if (!sender.ok) return { ok: false, outcome: fail(sender.foreign ? ResponseCode.FORBIDDEN : ResponseCode.BAD_REQUEST, sender.reason) };
    if (sender.value.userId !== caller.userId || sender.value.deviceId !== caller.deviceId) {
      return { ok: false, outcome: fail(ResponseCode.FORBIDDEN, 'from must be the authenticated device') };
    }
    const recipient = parseDeviceAddress(to, this.config.domain, 'to');
    if (!recipient.ok) return { ok: false, outcome: fail(recipient.foreign ? ResponseCode.NOT_FOUND : ResponseCode.BAD_REQUEST, recipient.reason) };
    const device = await this.store.getDevice(recipient.value.userId, recipient.value.deviceId);
    if (!device) return { ok: false, outcome: fail(ResponseCode.NOT_FOUND, 'unknown recipient device') };
    return { ok: true, to: device };
  }

  private checkSize(schema: DescMessage, message: Parameters<typeof toBinary>[1], name: string): Outcome | undefined {
    const size = toBinary(schema, message).length;
    return size > this.config.maxMessageBytes ? fail(ResponseCode.BAD_REQUEST, `${name} is ${size} bytes, more than the limit of ${this.config.maxMessageBytes}`) : undefined;
  }

  // ---- the service ----

  implementation(): ServiceImpl<typeof E2eeService> {
    const { domain } = this.config;
    return {
      getChallenge: this.unary(false, async (_request, _caller, now) => {
        const { challengeId, challenge } = this.auth.issueChallenge(now);
        return { ...ok(), challengeId, challenge, domain };
      }),

      authenticate: this.unary(false, async (request, _caller, now) => {
        const bad = checkString(request.challengeId, 'challenge_id');
        if (bad) return fail(ResponseCode.BAD_REQUEST, bad);
        if (request.signature.length > MAX_SIGNATURE_BYTES) return fail(ResponseCode.BAD_REQUEST, 'signature too long');
        const address = parseDeviceAddress(request.address, domain, 'address');
        if (!address.ok) return fail(address.foreign ? ResponseCode.UNAUTHORIZED : ResponseCode.BAD_REQUEST, address.reason);
        const challenge = this.auth.takeChallenge(request.challengeId, now);
        if (!challenge) return fail(ResponseCode.UNAUTHORIZED, 'unknown, used or expired challenge');
        const { userId, deviceId } = address.value;
        const device = await this.store.getDevice(userId, deviceId);
        // Same answer as a bad signature: an unauthenticated caller learns nothing about which devices exist.
        if (!device) return fail(ResponseCode.UNAUTHORIZED, 'authentication failed');
        const suite = suiteOf(device.suiteId);
        if (!suite || !verify(suite, device.signPublicKey, serverAuthStatement(domain, challenge, userId, deviceId), request.signature)) {
          return fail(ResponseCode.UNAUTHORIZED, 'authentication failed');
        }
        const { token, expiresAt } = this.auth.issueToken({ userId, deviceId }, now);
        return { ...ok(), token, expiresAt: BigInt(expiresAt) };
      }),

      registerUser: this.unary(false, async (request, _caller, now) => {
        const suite = suiteOf(request.suiteId);
        if (!suite) return fail(ResponseCode.BAD_REQUEST, `unknown suite ${request.suiteId}`);
        const bad =
          checkString(request.deviceId, 'device_id') ??
          checkString(request.userName, 'user_name', { allowEmpty: true }) ??
          checkString(request.challengeId, 'challenge_id') ??
          (request.userId !== '' ? checkString(request.userId, 'user_id') : undefined);
        if (bad) return fail(ResponseCode.BAD_REQUEST, bad);
        const identity = request.identityKey;
        const p = suite.params;
        if (!identity || identity.signPublicKey.length !== p.sigPublicKeyBytes || identity.kemPublicKey.length !== p.kemPublicKeyBytes) {
          return fail(ResponseCode.BAD_REQUEST, `identity keys must be ${p.sigPublicKeyBytes} (signature) and ${p.kemPublicKeyBytes} (KEM) bytes for suite ${p.id}`);
        }
        if (request.challengeSignature.length !== p.signatureBytes) return fail(ResponseCode.BAD_REQUEST, `challenge_signature must be ${p.signatureBytes} bytes for suite ${p.id}`);
        const keyProblem = this.checkSpk(suite, identity.signPublicKey, request.signedPreKey) ?? this.checkOpks(suite, request.oneTimePreKeys);
        if (keyProblem) return fail(ResponseCode.BAD_REQUEST, keyProblem);
        const challenge = this.auth.takeChallenge(request.challengeId, now);
        if (!challenge) return fail(ResponseCode.UNAUTHORIZED, 'unknown, used or expired challenge');
        if (!verify(suite, identity.signPublicKey, serverAuthStatement(domain, challenge, request.userId, request.deviceId), request.challengeSignature)) {
          return fail(ResponseCode.UNAUTHORIZED, 'invalid challenge signature');
        }
        // The same identity key registering again (the client stored its keys, then crashed
        // before it stored the server's answer): it gets its existing address back instead of a
        // second user. The challenge signature above proved it holds the key.
        const existing = await this.store.findDeviceBySignKey(identity.signPublicKey);
        if (existing) {
          const sameDevice =
            existing.deviceId === request.deviceId &&
            existing.suiteId === p.id &&
            Buffer.from(existing.kemPublicKey).equals(identity.kemPublicKey) &&
            (request.userId === '' || request.userId === existing.userId);
          if (!sameDevice) return fail(ResponseCode.REQUEST_CONFLICT, 'this identity key is registered to another device');
          const { token, expiresAt } = this.auth.issueToken({ userId: existing.userId, deviceId: existing.deviceId }, now);
          const others = (await this.store.listDevices(existing.userId)).filter((d) => d.deviceId !== existing.deviceId);
          return {
            code: ResponseCode.OK,
            reason: 'already registered',
            address: deviceAddress(domain, existing.userId, existing.deviceId),
            token,
            expiresAt: BigInt(expiresAt),
            otherDevices: others.map((d) => deviceAddress(domain, existing.userId, d.deviceId)),
          };
        }
        const spk = request.signedPreKey as SignedPreKeyPublic;
        const opks: OneTimePreKeyRecord[] = request.oneTimePreKeys.map((o) => ({ opkId: o.opkId, publicKey: o.publicKey }));
        const makeDevice = (userId: string): DeviceRecord => ({
          userId,
          deviceId: request.deviceId,
          suiteId: p.id,
          signPublicKey: identity.signPublicKey,
          kemPublicKey: identity.kemPublicKey,
          signedPreKey: { spkId: spk.spkId, publicKey: spk.publicKey, signature: spk.signature },
          createdAt: now,
        });

        let userId = request.userId;
        let otherDevices: E2eeAddress[] = [];
        if (userId === '') {
          userId = randomBytes(16).toString('hex');
          const created = await this.store.createUser({ userId, userName: request.userName, createdAt: now }, makeDevice(userId), opks);
          if (!created) return fail(ResponseCode.INTERNAL_SERVER_ERROR, 'user id collision, try again');
        } else {
          const link = request.deviceLink;
          if (!link) return fail(ResponseCode.UNAUTHORIZED, 'a new device of an existing user needs a device_link');
          const linkBad = checkString(link.linkingDeviceId, 'linking_device_id');
          if (linkBad) return fail(ResponseCode.BAD_REQUEST, linkBad);
          const user = await this.store.getUser(userId);
          if (!user) return fail(ResponseCode.NOT_FOUND, 'unknown user');
          const linking = await this.store.getDevice(userId, link.linkingDeviceId);
          if (!linking) return fail(ResponseCode.UNAUTHORIZED, 'unknown linking device');
          const linkingSuite = suiteOf(linking.suiteId);
          if (!linkingSuite || !verify(linkingSuite, linking.signPublicKey, deviceLinkStatement(domain, userId, request.deviceId, p.id, identity.signPublicKey, identity.kemPublicKey), link.signature)) {
            return fail(ResponseCode.UNAUTHORIZED, 'invalid device link signature');
          }
          if (await this.store.getDevice(userId, request.deviceId)) return fail(ResponseCode.REQUEST_CONFLICT, 'device id already registered');
          // Every device notifies each watcher's devices: the devices of a user are bounded.
          const tooMany = fail(ResponseCode.BAD_REQUEST, `a user has at most ${this.maxDevicesPerUser} devices`);
          if ((await this.store.listDevices(userId)).length >= this.maxDevicesPerUser) return tooMany;
          const newAddress = deviceAddress(domain, userId, request.deviceId);
          const recipients = await this.watcherDevices(userId, request.deviceId);
          const messages = recipients.map((d) =>
            this.message(d, newAddress, { case: 'newUserDeviceMsg', value: { userAddress: newAddress, suiteId: p.id, identityKey: identity, deviceLink: link } }, false, now, this.noticeCap),
          );
          const added = await this.store.addDevice(makeDevice(userId), opks, messages, { maxDevices: this.maxDevicesPerUser });
          if (!added.ok) return added.reason === 'too-many' ? tooMany : fail(ResponseCode.REQUEST_CONFLICT, 'device id already registered');
          this.delivered(added.queued);
          otherDevices = (await this.store.listDevices(userId)).filter((d) => d.deviceId !== request.deviceId).map((d) => deviceAddress(domain, userId, d.deviceId));
        }
        const { token, expiresAt } = this.auth.issueToken({ userId, deviceId: request.deviceId }, now);
        return {
          code: ResponseCode.CREATED,
          reason: 'registered',
          address: deviceAddress(domain, userId, request.deviceId),
          token,
          expiresAt: BigInt(expiresAt),
          otherDevices,
        };
      }),

      publishSpk: this.unary(true, async (request, caller) => {
        const device = await this.store.getDevice(caller.userId, caller.deviceId);
        const suite = device && suiteOf(device.suiteId);
        if (!device || !suite) return fail(ResponseCode.NOT_FOUND, 'unknown device');
        const problem = this.checkSpk(suite, device.signPublicKey, request.signedPreKey);
        if (problem) return fail(ResponseCode.BAD_REQUEST, problem);
        const spk = request.signedPreKey as SignedPreKeyPublic;
        await this.store.replaceSignedPreKey(caller.userId, caller.deviceId, { spkId: spk.spkId, publicKey: spk.publicKey, signature: spk.signature });
        return ok('signed pre-key replaced');
      }),

      supplyOpks: this.unary(true, async (request, caller) => {
        const device = await this.store.getDevice(caller.userId, caller.deviceId);
        const suite = device && suiteOf(device.suiteId);
        if (!device || !suite) return fail(ResponseCode.NOT_FOUND, 'unknown device');
        const problem = this.checkOpks(suite, request.oneTimePreKeys);
        if (problem) return fail(ResponseCode.BAD_REQUEST, problem);
        const opks = request.oneTimePreKeys.map((o) => ({ opkId: o.opkId, publicKey: o.publicKey }));
        const result = await this.store.addOneTimePreKeys(caller.userId, caller.deviceId, opks, this.config.maxOpksPerDevice, this.config.opkLowThreshold);
        if (!result.ok) {
          return result.reason === 'duplicate'
            ? { ...fail(ResponseCode.REQUEST_CONFLICT, 'a one-time pre-key id is already stored'), available: result.available }
            : { ...fail(ResponseCode.BAD_REQUEST, `a device may store at most ${this.config.maxOpksPerDevice} one-time pre-keys`), available: result.available };
        }
        return { ...ok(`${opks.length} one-time pre-keys added`), available: result.available };
      }),

      getPreKeyBundle: this.unary(true, async (request, _caller, now) => {
        const bad = checkString(request.userId, 'user_id') ?? (request.deviceId !== '' ? checkString(request.deviceId, 'device_id') : undefined);
        if (bad) return fail(ResponseCode.BAD_REQUEST, bad);
        let devices: DeviceRecord[];
        if (request.deviceId !== '') {
          const device = await this.store.getDevice(request.userId, request.deviceId);
          if (!device) return fail(ResponseCode.NOT_FOUND, 'unknown device');
          devices = [device];
        } else {
          devices = await this.store.listDevices(request.userId);
          if (devices.length === 0) return fail(ResponseCode.NOT_FOUND, 'unknown user');
        }
        const bundles = [];
        for (const device of devices) {
          const address = deviceAddress(domain, device.userId, device.deviceId);
          const taken = await this.store.takeOneTimePreKey(device.userId, device.deviceId, this.config.opkLowThreshold, (remaining) =>
            this.message(device, this.serverAddress, { case: 'supplyOpkMsg', value: { userAddress: address, available: remaining } }, false, now, this.noticeCap),
          );
          this.delivered(taken.queued);
          bundles.push({
            version: PROTOCOL_VERSION,
            suiteId: device.suiteId,
            address,
            identityKey: { signPublicKey: device.signPublicKey, kemPublicKey: device.kemPublicKey },
            signedPreKey: device.signedPreKey,
            ...(taken.opk ? { oneTimePreKey: taken.opk } : {}),
          });
        }
        return { ...ok(), preKeyBundles: bundles };
      }),

      updateUser: this.unary(true, async (request, caller, now) => {
        const bad = checkString(request.userName, 'user_name', { allowEmpty: true });
        if (bad) return fail(ResponseCode.BAD_REQUEST, bad);
        await this.store.setUserName(caller.userId, request.userName);
        const address = deviceAddress(domain, caller.userId, caller.deviceId);
        const recipients = await this.watcherDevices(caller.userId, caller.deviceId);
        // One unconsumed UpdateUserMsg per (recipient device, user it is about): the newest name
        // replaces an older notice, so renaming over and over cannot fill anybody's queue.
        const bound = { ...this.noticeCap, coalesceKey: `update-user:${caller.userId}` };
        await this.enqueueNotices(
          recipients.map((d) => this.message(d, address, { case: 'updateUserMsg', value: { userAddress: address, userName: request.userName } }, false, now, bound)),
          now,
        );
        return ok('user updated');
      }),

      invite: this.unary(true, async (request, caller, now) => {
        const msg = request.msg;
        if (!msg) return fail(ResponseCode.BAD_REQUEST, 'msg is missing');
        const tooBig = this.checkSize(InviteMsgSchema, msg, 'invite');
        if (tooBig) return tooBig;
        if (!suiteOf(msg.suiteId)) return fail(ResponseCode.BAD_REQUEST, `unknown suite ${msg.suiteId}`);
        const checked = await this.checkDirect(caller, msg.from, msg.to);
        if (!checked.ok) return checked.outcome;
        const full = await this.enqueue([this.message(checked.to, msg.from, { case: 'inviteMsg', value: msg }, true, now)], now);
        if (full) return full;
        if (checked.to.userId !== caller.userId) await this.store.addContact(caller.userId, checked.to.userId, now, this.maxContactsPerUser);
        return ok('invite queued');
      }),

      accept: this.unary(true, async (request, caller, now) => {
        const msg = request.msg;
        if (!msg) return fail(ResponseCode.BAD_REQUEST, 'msg is missing');
        const tooBig = this.checkSize(AcceptMsgSchema, msg, 'accept');
        if (tooBig) return tooBig;
        if (!suiteOf(msg.suiteId)) return fail(ResponseCode.BAD_REQUEST, `unknown suite ${msg.suiteId}`);
        const checked = await this.checkDirect(caller, msg.from, msg.to);
        if (!checked.ok) return checked.outcome;
        const full = await this.enqueue([this.message(checked.to, msg.from, { case: 'acceptMsg', value: msg }, true, now)], now);
        if (full) return full;
        if (checked.to.userId !== caller.userId) await this.store.addContact(caller.userId, checked.to.userId, now, this.maxContactsPerUser);
        return ok('accept queued');
      }),

      sendOne2oneMsg: this.unary(true, async (request, caller, now) => {
        const msg = request.msg;
        if (!msg) return fail(ResponseCode.BAD_REQUEST, 'msg is missing');
        if (msg.payload.case !== 'one2oneMsg') return fail(ResponseCode.BAD_REQUEST, 'msg must carry a one2one_msg payload');
        const tooBig = this.checkSize(E2eeMsgSchema, msg, 'message');
        if (tooBig) return tooBig;
        if (!suiteOf(msg.suiteId)) return fail(ResponseCode.BAD_REQUEST, `unknown suite ${msg.suiteId}`);
        const checked = await this.checkDirect(caller, msg.from, msg.to);
        if (!checked.ok) return checked.outcome;
        const full = await this.enqueue([this.message(checked.to, msg.from, { case: 'e2eeMsg', value: msg }, true, now)], now);
        return full ?? ok('message queued');
      }),

      createGroup: this.unary(true, async (request, caller, now) => {
        const bad = checkString(request.groupName, 'group_name', { allowEmpty: true });
        if (bad) return fail(ResponseCode.BAD_REQUEST, bad);
        const members = this.parseMembers(request.members, caller.userId);
        if (!members.ok) return members.outcome;
        const devices = await this.devicesOf([caller.userId, ...members.value.map((m) => m.userId)]);
        if (!devices.ok) return devices.outcome;
        const groupId = randomBytes(16).toString('hex');
        const group: GroupRecord = {
          groupId,
          groupName: request.groupName,
          epoch: 0,
          version: 1,
          createdAt: now,
          members: [{ userId: caller.userId, role: 'manager', state: 'active', joinedOrder: 0 }, ...members.value.map((m, i) => ({ ...m, state: 'active' as const, joinedOrder: i + 1 }))],
          devices: devices.value,
        };
        const tooLarge = this.checkGroupSize(group) ?? (await this.checkNewMembersQueues(devices.value.filter((d) => d.userId !== caller.userId), now));
        if (tooLarge) return tooLarge;
        const sender = deviceAddress(domain, caller.userId, caller.deviceId);
        const info = this.groupInfo(group);
        const messages = routedDevices(group).map((d) => this.message(d, sender, { case: 'createGroupMsg', value: { senderAddress: sender, group: info } }, false, now, this.groupNoticeCap));
        const created = await this.store.createGroup(group, messages);
        if (!created.ok) return fail(ResponseCode.INTERNAL_SERVER_ERROR, 'group id collision, try again');
        this.delivered(created.queued);
        return { code: ResponseCode.CREATED, reason: 'group created', groupAddress: groupAddress(domain, groupId), epoch: 0n, memberDevices: this.memberDevices(group) };
      }),

      addGroupMembers: this.unary(true, async (request, caller, now) => {
        const target = parseGroupAddress(request.groupAddress, domain, 'group_address');
        if (!target.ok) return fail(target.foreign ? ResponseCode.NOT_FOUND : ResponseCode.BAD_REQUEST, target.reason);
        const members = this.parseMembers(request.members, caller.userId);
        if (!members.ok) return members.outcome;
        if (members.value.length === 0) return fail(ResponseCode.BAD_REQUEST, 'no members to add');
        return this.withGroupLock(target.value, async () => {
          const group = await this.store.getGroup(target.value);
          if (!group) return fail(ResponseCode.NOT_FOUND, 'unknown group');
          const denied = this.requireRole(group, caller, 'manager') ?? this.requireEpoch(group, request.expectedEpoch);
          if (denied) return denied;
          for (const m of members.value) {
            if (group.members.some((g) => g.userId === m.userId && g.state === 'active')) return fail(ResponseCode.REQUEST_CONFLICT, `${m.userId} is already a member`);
          }
          const devices = await this.devicesOf(members.value.map((m) => m.userId));
          if (!devices.ok) return devices.outcome;
          let order = Math.max(0, ...group.members.map((m) => m.joinedOrder)) + 1;
          const next: GroupRecord = {
            ...group,
            epoch: group.epoch + 1,
            members: [...group.members.filter((g) => !members.value.some((m) => m.userId === g.userId)), ...members.value.map((m) => ({ ...m, state: 'active' as const, joinedOrder: order++ }))],
            devices: [...group.devices.filter((d) => !members.value.some((m) => m.userId === d.userId)), ...devices.value],
          };
          const tooLarge = this.checkGroupSize(next) ?? (await this.checkNewMembersQueues(devices.value, now));
          if (tooLarge) return tooLarge;
          const sender = deviceAddress(domain, caller.userId, caller.deviceId);
          const info = this.groupInfo(next);
          const added = members.value.map((m) => ({ userId: m.userId, role: roleOf(m.role) }));
          const messages = routedDevices(next).map((d) => this.message(d, sender, { case: 'addGroupMembersMsg', value: { senderAddress: sender, group: info, added } }, false, now, this.groupNoticeCap));
          return this.commitGroup(next, group.version, messages);
        });
      }),

      removeGroupMembers: this.unary(true, async (request, caller, now) => {
        const target = parseGroupAddress(request.groupAddress, domain, 'group_address');
        if (!target.ok) return fail(target.foreign ? ResponseCode.NOT_FOUND : ResponseCode.BAD_REQUEST, target.reason);
        if (request.userIds.length === 0) return fail(ResponseCode.BAD_REQUEST, 'no members to remove');
        if (request.userIds.length > this.config.maxGroupMembers) return fail(ResponseCode.BAD_REQUEST, `more than ${this.config.maxGroupMembers} members`);
        for (const userId of request.userIds) {
          const bad = checkString(userId, 'user id');
          if (bad) return fail(ResponseCode.BAD_REQUEST, bad);
        }
        const removing = new Set(request.userIds);
        if (removing.size !== request.userIds.length) return fail(ResponseCode.BAD_REQUEST, 'a user id is listed twice');
        if (removing.has(caller.userId)) return fail(ResponseCode.BAD_REQUEST, 'use LeaveGroup to leave a group');
        return this.withGroupLock(target.value, async () => {
          const group = await this.store.getGroup(target.value);
          if (!group) return fail(ResponseCode.NOT_FOUND, 'unknown group');
          const denied = this.requireRole(group, caller, 'manager') ?? this.requireEpoch(group, request.expectedEpoch);
          if (denied) return denied;
          for (const userId of removing) if (!group.members.some((m) => m.userId === userId)) return fail(ResponseCode.NOT_FOUND, `${userId} is not a member`);
          const next: GroupRecord = {
            ...group,
            epoch: group.epoch + 1,
            members: group.members.filter((m) => !removing.has(m.userId)).map((m) => ({ ...m })),
            devices: group.devices.filter((d) => !removing.has(d.userId)),
          };
          ensureManager(next.members);
          const sender = deviceAddress(domain, caller.userId, caller.deviceId);
          const info = this.groupInfo(next);
          const removedDevices = routedDevices(group).filter((d) => removing.has(d.userId));
          const recipients = [...routedDevices(next), ...removedDevices];
          const messages = recipients.map((d) =>
            this.message(d, sender, { case: 'removeGroupMembersMsg', value: { senderAddress: sender, group: info, removedUserIds: [...removing] } }, false, now, this.groupNoticeCap),
          );
          return this.commitGroup(next, group.version, messages);
        });
      }),

      addGroupMemberDevice: this.unary(true, async (request, caller, now) => {
        const target = parseGroupAddress(request.groupAddress, domain, 'group_address');
        if (!target.ok) return fail(target.foreign ? ResponseCode.NOT_FOUND : ResponseCode.BAD_REQUEST, target.reason);
        const device = parseDeviceAddress(request.device, domain, 'device');
        if (!device.ok) return fail(device.foreign ? ResponseCode.FORBIDDEN : ResponseCode.BAD_REQUEST, device.reason);
        if (device.value.userId !== caller.userId) return fail(ResponseCode.FORBIDDEN, "the device must belong to the caller's user");
        return this.withGroupLock(target.value, async () => {
          const group = await this.store.getGroup(target.value);
          if (!group) return fail(ResponseCode.NOT_FOUND, 'unknown group');
          const denied = this.requireRole(group, caller, 'member') ?? this.requireEpoch(group, request.expectedEpoch);
          if (denied) return denied;
          if (!(await this.store.getDevice(device.value.userId, device.value.deviceId))) return fail(ResponseCode.NOT_FOUND, 'unknown device');
          if (group.devices.some((d) => sameDevice(d, device.value))) return fail(ResponseCode.REQUEST_CONFLICT, 'the device is already in the group');
          const next: GroupRecord = { ...group, epoch: group.epoch + 1, devices: [...group.devices, device.value] };
          const sender = deviceAddress(domain, caller.userId, caller.deviceId);
          const info = this.groupInfo(next);
          const added = deviceAddress(domain, device.value.userId, device.value.deviceId);
          const messages = routedDevices(next).map((d) =>
            this.message(d, sender, { case: 'addGroupMemberDeviceMsg', value: { senderAddress: sender, group: info, device: added } }, false, now, this.groupNoticeCap),
          );
          return this.commitGroup(next, group.version, messages);
        });
      }),

      leaveGroup: this.unary(true, async (request, caller, now) => {
        const target = parseGroupAddress(request.groupAddress, domain, 'group_address');
        if (!target.ok) return fail(target.foreign ? ResponseCode.NOT_FOUND : ResponseCode.BAD_REQUEST, target.reason);
        return this.withGroupLock(target.value, async () => {
          const group = await this.store.getGroup(target.value);
          if (!group) return fail(ResponseCode.NOT_FOUND, 'unknown group');
          const denied = this.requireRole(group, caller, 'member');
          if (denied) return denied;
          const members = group.members.map((m) => (m.userId === caller.userId ? { ...m, state: 'left' as const } : { ...m }));
          ensureManager(members);
          const next: GroupRecord = { ...group, members };
          const sender = deviceAddress(domain, caller.userId, caller.deviceId);
          const address = groupAddress(domain, group.groupId);
          // Every remaining member device, and the leaver's own other devices (they leave too).
          const leaverDevices = group.devices.filter((d) => d.userId === caller.userId && d.deviceId !== caller.deviceId);
          const info = this.groupInfo(next);
          const messages = [...routedDevices(next), ...leaverDevices].map((d) =>
            this.message(d, sender, { case: 'leaveGroupMsg', value: { senderAddress: sender, groupAddress: address, group: info } }, false, now, this.groupNoticeCap),
          );
          const saved = await this.store.saveGroup(next, group.version, messages);
          if (!saved.ok) return fail(ResponseCode.REQUEST_CONFLICT, 'the group changed concurrently, try again');
          this.delivered(saved.queued);
          return ok('left the group');
        });
      }),

      sendGroupMsg: this.unary(true, async (request, caller, now) => {
        const msg: E2eeMsg | undefined = request.msg;
        if (!msg) return fail(ResponseCode.BAD_REQUEST, 'msg is missing');
        if (msg.payload.case !== 'groupMsg') return fail(ResponseCode.BAD_REQUEST, 'msg must carry a group_msg payload');
        const tooBig = this.checkSize(E2eeMsgSchema, msg, 'message');
        if (tooBig) return tooBig;
        if (!suiteOf(msg.suiteId)) return fail(ResponseCode.BAD_REQUEST, `unknown suite ${msg.suiteId}`);
        const sender = parseDeviceAddress(msg.from, domain, 'from');
        if (!sender.ok) return fail(sender.foreign ? ResponseCode.FORBIDDEN : ResponseCode.BAD_REQUEST, sender.reason);
        if (sender.value.userId !== caller.userId || sender.value.deviceId !== caller.deviceId) return fail(ResponseCode.FORBIDDEN, 'from must be the authenticated device');
        const target = parseGroupAddress(msg.to, domain, 'to');
        if (!target.ok) return fail(target.foreign ? ResponseCode.NOT_FOUND : ResponseCode.BAD_REQUEST, target.reason);
        if (msg.payload.value.groupId !== target.value) return fail(ResponseCode.BAD_REQUEST, 'group_msg.group_id does not match the address');
        const group = await this.store.getGroup(target.value);
        if (!group) return fail(ResponseCode.NOT_FOUND, 'unknown group');
        const denied = this.requireRole(group, caller, 'member');
        if (denied) return denied;
        const recipients = routedDevices(group).filter((d) => !(d.userId === caller.userId && d.deviceId === caller.deviceId));
        // A member whose queue is full misses this message (its group chain skips the index);
        // refusing the whole message would let one long-offline member stop the group. The store
        // checks each queue in the same transaction as the insert, so concurrent sends cannot
        // overfill it.
        const result = await this.store.enqueue(
          recipients.map((d) => this.message(d, msg.from, { case: 'e2eeMsg', value: msg }, false, now, { queueCap: this.config.queueLimit })),
          { queueLimit: this.config.queueLimit, now },
        );
        if (!result.ok) return fail(ResponseCode.SERVICE_UNAVAILABLE, 'recipient queue full');
        this.delivered(result.queued);
        const skipped = result.skipped.length;
        return { ...ok(skipped > 0 ? `message queued; ${skipped} member device(s) with a full queue skipped` : 'message queued'), recipients: result.queued.length };
      }),

      getGroupEpoch: this.unary(true, async (request, caller) => {
        const target = parseGroupAddress(request.groupAddress, domain, 'group_address');
        if (!target.ok) return fail(target.foreign ? ResponseCode.FORBIDDEN : ResponseCode.BAD_REQUEST, target.reason);
        // One answer for an unknown group, a group the caller is not in and an epoch a non-member
        // was not placed in: strangers learn nothing about which groups or epochs exist.
        const refused = fail(ResponseCode.FORBIDDEN, 'not a member of the group at that epoch');
        const group = await this.store.getGroup(target.value);
        if (!group) return refused;
        const memberNow = group.members.some((m) => m.userId === caller.userId && m.state === 'active');
        const record = request.epoch <= BigInt(Number.MAX_SAFE_INTEGER) ? await this.store.getGroupEpoch(group.groupId, Number(request.epoch)) : undefined;
        const placed = record?.devices.some((d) => d.userId === caller.userId && d.deviceId === caller.deviceId) ?? false;
        if (!memberNow && !placed) return refused;
        if (!record) return fail(ResponseCode.NOT_FOUND, `epoch ${request.epoch} of the group is unknown or no longer kept`);
        return {
          ...ok(),
          epoch: BigInt(record.epoch),
          devices: record.devices.map((d) => ({
            address: deviceAddress(domain, d.userId, d.deviceId),
            identityKey: { signPublicKey: d.signPublicKey, kemPublicKey: d.kemPublicKey },
          })),
        };
      }),

      consumeProtoMsg: this.unary(true, async (request, caller) => {
        const id = request.protoMsgId;
        if (id === '') return fail(ResponseCode.NO_CONTENT, 'nothing to consume');
        if (!/^[0-9]{1,15}$/.test(id)) return fail(ResponseCode.BAD_REQUEST, 'malformed proto_msg_id');
        const deleted = await this.store.consume(caller.userId, caller.deviceId, Number(id));
        return deleted ? ok('consumed') : fail(ResponseCode.NO_CONTENT, 'already consumed or unknown');
      }),

      subscribe: (request, ctx) => this.subscribe(ctx),
    };
  }

  private requireRole(group: GroupRecord, caller: DeviceIdentity, role: 'manager' | 'member'): Outcome | undefined {
    const member = group.members.find((m) => m.userId === caller.userId && m.state === 'active');
    if (!member) return fail(ResponseCode.FORBIDDEN, 'not a member of the group');
    if (role === 'manager' && member.role !== 'manager') return fail(ResponseCode.FORBIDDEN, 'needs the manager role');
    return undefined;
  }

  private requireEpoch(group: GroupRecord, expected: bigint): Outcome | undefined {
    return BigInt(group.epoch) === expected ? undefined : fail(ResponseCode.REQUEST_CONFLICT, `the group is at epoch ${group.epoch}`);
  }

  private async commitGroup(next: GroupRecord, expectedVersion: number, messages: NewQueuedMessage[]): Promise<Outcome & { epoch?: bigint; memberDevices?: E2eeAddress[] }> {
    const saved = await this.store.saveGroup(next, expectedVersion, messages);
    if (!saved.ok) return fail(ResponseCode.REQUEST_CONFLICT, `the group is at epoch ${saved.current?.epoch ?? 'unknown'}`);
    this.delivered(saved.queued);
    return { ...ok(`epoch ${next.epoch}`), epoch: BigInt(next.epoch), memberDevices: this.memberDevices(next) };
  }

  /**
   * Subscribe: the replay, then live delivery and heartbeats. At most one message is read ahead:
   * each is read from the store only once the previous one has drained to the connection, so a
   * client that stops reading holds one message of server memory, not a batch. The stream lasts
   * only as long as the token that opened it (checked at every wake, and woken at its expiry).
   */
  private async *subscribe(ctx: HandlerContext): AsyncGenerator<ProtoMsg> {
    const now = Date.now();
    const token = bearerToken(ctx);
    const caller = token === undefined ? undefined : this.auth.verifyToken(token, now);
    if (token === undefined || !caller) {
      this.ipLimiter.take(`ip:${ctx.values.get(remoteAddressKey)}`, now);
      throw new ConnectError('missing, unknown or expired token', Code.Unauthenticated);
    }
    if (!this.deviceLimiter.take(`device:${caller.userId}\u0000${caller.deviceId}`, now)) throw new ConnectError('rate limit exceeded', Code.ResourceExhausted);
    if (this.closing) return;
    const registered = this.hub.subscribe(caller.userId, caller.deviceId, ctx.values.get(callConnectionKey));
    if (!registered) throw new ConnectError('too many open streams', Code.ResourceExhausted);
    const { subscription, unsubscribe } = registered;
    const onAbort = (): void => unsubscribe();
    ctx.signal.addEventListener('abort', onAbort);
    const heartbeat = (): ProtoMsg =>
      create(ProtoMsgSchema, {
        id: '',
        from: this.serverAddress,
        to: deviceAddress(this.config.domain, caller.userId, caller.deviceId),
        timestamp: BigInt(Date.now()),
        payload: { case: 'serverHeartbeatMsg', value: { serverTime: BigInt(Date.now()) } },
      });
    try {
      let lastSeq = 0;
      let replaying = true;
      let nextHeartbeat = Date.now() + this.config.heartbeatMs;
      while (!subscription.ended && !ctx.signal.aborted) {
        // The token may have expired or been retired (newer sign-ins) since the last wake.
        const current = this.auth.verifyToken(token, Date.now());
        if (!current || current.userId !== caller.userId || current.deviceId !== caller.deviceId) {
          throw new ConnectError('the token of this stream expired or was retired', Code.Unauthenticated);
        }
        subscription.takePending();
        let next: ProtoMsg;
        let bytes = 0;
        const [item] = await this.store.listQueued(caller.userId, caller.deviceId, lastSeq, Date.now(), 1);
        if (item) {
          lastSeq = item.seq;
          bytes = item.body.byteLength;
          next = this.storedProtoMsg(item.seq, item.body);
        } else if (replaying || nextHeartbeat <= Date.now()) {
          // Right after the replay one heartbeat says the queue has been sent up to here.
          replaying = false;
          nextHeartbeat = Date.now() + this.config.heartbeatMs;
          next = heartbeat();
        } else {
          await subscription.wait(Math.min(nextHeartbeat, current.expiresAt) - Date.now());
          continue;
        }
        if (subscription.ended) return;
        // Suspended here until Connect has written the message out (it awaits 'drain'): a
        // superseded or stalled stream is cut by closing its connection, see DeliveryHub.
        subscription.beginWrite(bytes);
        try {
          yield next;
        } finally {
          subscription.endWrite();
        }
      }
    } finally {
      ctx.signal.removeEventListener('abort', onAbort);
      unsubscribe();
    }
  }
}

/** The bearer token of a call, if its authorization header has the expected form. */
function bearerToken(ctx: HandlerContext): string | undefined {
  const match = /^Bearer ([A-Za-z0-9_-]{1,128})$/.exec(ctx.requestHeader.get('authorization') ?? '');
  return match ? (match[1] as string) : undefined;
}

function verify(suite: CipherSuite, publicKey: Uint8Array, message: Uint8Array, signature: Uint8Array): boolean {
  if (publicKey.length !== suite.params.sigPublicKeyBytes || signature.length !== suite.params.signatureBytes) return false;
  try {
    return suite.sig.verify(publicKey, message, signature);
  } catch {
    return false;
  }
}
