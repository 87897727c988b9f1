/**
 * `E2eeClient`: the runtime an app uses (DESIGN.md §5). It is built from the white paper's four
 * plugin handlers — common (time, ids), event, database, protocol (transport) — each with a
 * default, so `createClient({ server: 'http://127.0.0.1:8080', deviceId: 'phone' })` works in Node.
 */
import { create, toBinary } from '@bufbuild/protobuf';
import { ConnectError } from '@connectrpc/connect';
import { Account, Session, fingerprint as sessionFingerprint } from '../protocol/index.js';
import { AppMessageSchema } from '../proto/gen/client_pb.js';
import { GroupRole, ResponseCode, type ProtoMsg } from '../proto/gen/service_pb.js';
import { PlaintextSchema, type E2eeAddress } from '../proto/gen/wire_pb.js';
import type { DatabaseHandler } from '../store/database.js';
import { encryptDatabase } from '../store/encrypted.js';
import { createMemoryDatabase } from '../store/memory.js';
import { createServerTransport } from '../transport/server-transport.js';
import { callRpc } from '../transport/call.js';
import { ServerResponseError } from '../transport/errors.js';
import type { ProtocolHandler } from '../transport/protocol-handler.js';
import { defaultCommonHandler, type CommonHandler } from './common.js';
import { DEFAULT_RUNTIME_LIMITS, RuntimeContext, type CrashPoint, type RuntimeLimits } from './context.js';
import { ClientNotStartedError, GroupMembershipError, InvalidClientInputError, UnknownPeerError, WaitTimeoutError } from './errors.js';
import { EventBus, type ClientEvent, type ClientEventOf, type ClientEventType, type DeviceRef, type EventHandler } from './events.js';
import { applyOrderedChange, createGroup, loadGroup, orderedEpoch, sendGroupPlaintext } from './groups.js';
import { deliverStored, handleProtoMsg, isTransient, purgeExpired } from './inbound.js';
import { ensureSessionsToUser, flushOutbox, purgeStalledCopies, sendPlaintextToDevice } from './one2one.js';

/** What a new device asks an existing device of the same user to sign (see {@link E2eeClient.approveDevice}). */
export interface DeviceLinkRequest {
  deviceId: string;
  suiteId: number;
  /** The new device's identity public keys. */
  signPublicKey: Uint8Array;
  kemPublicKey: Uint8Array;
}

/** An existing device's approval of a new device. */
export interface DeviceLinkGrant {
  userId: string;
  linkingDeviceId: string;
  signature: Uint8Array;
}

export interface ClientOptions {
  /** The server's base URL, or a custom protocol handler. */
  server: string | ProtocolHandler;
  /** This device's id (chosen by the app, unique per user): 1–64 characters of [A-Za-z0-9._-]. */
  deviceId: string;
  /** Cipher suite of a new account: id or name (default 1, post-quantum). */
  suite?: number | string;
  /** Display name sent at registration. */
  userName?: string;
  /** Database handler (default: in memory, lost when the process ends). */
  database?: DatabaseHandler;
  /** Encrypts the database at rest: a 32-byte key from the app, or a passphrase (PBKDF2-SHA256). */
  storage?: { key: Uint8Array } | { passphrase: string; iterations?: number };
  /** Event handler plugin (in addition to `client.on`). */
  events?: EventHandler;
  /** Common handler plugin (time and ids). */
  common?: CommonHandler;
  /**
   * For a new device of an existing user: obtains an existing device's approval (the app carries
   * the request to that device out of band, e.g. a QR code, and returns its `approveDevice` answer).
   */
  linkDevice?: (request: DeviceLinkRequest) => Promise<DeviceLinkGrant>;
  /**
   * Accept a known device presenting a new identity key (default false: the invite or bundle is
   * refused and a 'peer-identity-changed' event tells the app to have the user compare fingerprints).
   */
  acceptIdentityChanges?: boolean;
  /**
   * Bounds on copies kept for devices whose session is not accepted yet (defaults: 1000 per device,
   * kept 30 days). Past them copies are dropped and reported as 'copies-dropped' events.
   */
  limits?: Partial<RuntimeLimits>;
  /** @internal test hook: called at each step of the receive path (crash-safety tests). */
  crashHook?: (point: CrashPoint) => void;
}

/** Options of a sent message. */
export interface SendOptions {
  /** Disappearing message: receivers delete it this long after delivery. */
  expiresInMs?: number;
}

/** What a one-to-one send did. */
export interface SendResult {
  messageId: string;
  /** Device copies encrypted and sent now. */
  sent: number;
  /** Device copies waiting for their session's AcceptMsg (sent automatically when it arrives). */
  pending: number;
  /** Device copies not kept: that device never accepted its session and its backlog is full (see 'copies-dropped'). */
  dropped: number;
  /** Bytes of the largest encrypted copy. */
  wireBytes: number;
}

const DEVICE_ID = /^[A-Za-z0-9._-]{1,64}$/;
/** Processed ProtoMsg ids remembered after consuming (replays of recent messages are recognised). */
const PROCESSED_IDS_KEPT = 1000;
/** Largest message body; the protocol limit is higher, this keeps one message per request well under the server's. */
export const MAX_BODY_BYTES = 1024 * 1024;
const ID_LIMIT = 256;
/** ProtoMsg ids the runtime accepts (the reference server's are decimal). */
const PROTO_MSG_ID = /^[A-Za-z0-9_-]{1,64}$/;

function runtimeLimits(limits: Partial<RuntimeLimits> | undefined): RuntimeLimits {
  if (limits === undefined) return DEFAULT_RUNTIME_LIMITS;
  if (typeof limits !== 'object' || limits === null) throw new InvalidClientInputError('limits must be an object');
  const resolved = { ...DEFAULT_RUNTIME_LIMITS, ...limits };
  for (const [name, value] of Object.entries(resolved)) {
    if (!Number.isSafeInteger(value) || value < 1) throw new InvalidClientInputError(`limits.${name} must be a positive integer`);
  }
  return resolved;
}

function requireId(value: unknown, what: string): string {
  if (typeof value !== 'string' || value.length === 0 || value.length > ID_LIMIT) throw new InvalidClientInputError(`${what} must be a string of 1 to ${ID_LIMIT} characters`);
  return value;
}

function requireIds(value: unknown, what: string): string[] {
  if (!Array.isArray(value) || value.length === 0) throw new InvalidClientInputError(`${what} must be a non-empty list`);
  if (value.length > 1000) throw new InvalidClientInputError(`${what} lists more than 1000 entries`);
  return value.map((v) => requireId(v, what));
}

function requireOptions<T extends object>(options: T | undefined): T | Record<string, never> {
  if (options === undefined) return {};
  if (typeof options !== 'object' || options === null) throw new InvalidClientInputError('options must be an object (or left out)');
  return options;
}

function bodyBytes(body: unknown): Uint8Array {
  const bytes = typeof body === 'string' ? new TextEncoder().encode(body) : body;
  if (!(bytes instanceof Uint8Array)) throw new InvalidClientInputError('body must be a string or a Uint8Array');
  if (bytes.length > MAX_BODY_BYTES) throw new InvalidClientInputError(`body is over ${MAX_BODY_BYTES} bytes`);
  return bytes;
}

function expiry(options: SendOptions | undefined): bigint {
  const ms = (requireOptions(options) as SendOptions).expiresInMs ?? 0;
  if (!Number.isSafeInteger(ms) || ms < 0) throw new InvalidClientInputError('expiresInMs must be a non-negative integer');
  return BigInt(ms);
}

function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

/** Creates a client; call `start()` to register (first run) or sign in, and to begin receiving. */
export function createClient(options: ClientOptions): E2eeClient {
  return new E2eeClient(options);
}

export class E2eeClient {
  private readonly options: ClientOptions;
  private readonly bus: EventBus;
  private readonly protocol: ProtocolHandler;
  private ctx: RuntimeContext | undefined;
  private running = false;
  private streamAbort: AbortController | undefined;
  private streamDone: Promise<void> | undefined;
  private timer: ReturnType<typeof setInterval> | undefined;
  private processedSincePrune = 0;
  private starting: Promise<void> | undefined;
  private lastAddress: DeviceRef | undefined;

  constructor(options: ClientOptions) {
    if (!options || typeof options !== 'object') throw new InvalidClientInputError('options are required');
    if (typeof options.deviceId !== 'string' || !DEVICE_ID.test(options.deviceId)) throw new InvalidClientInputError('deviceId must be 1-64 characters of [A-Za-z0-9._-]');
    if (typeof options.server !== 'string' && (typeof options.server !== 'object' || options.server === null)) throw new InvalidClientInputError('server must be a URL or a protocol handler');
    this.options = options;
    this.bus = new EventBus(options.events);
    this.protocol = typeof options.server === 'string' ? createServerTransport(options.server) : options.server;
  }

  /** This device's address (after start). */
  get address(): DeviceRef {
    // After stop() the address stays readable (it is needed to restart or to tell others).
    if (!this.ctx?.account && this.lastAddress) return this.lastAddress;
    return this.context.self;
  }

  /** The account's cipher suite id (after start). */
  get suiteId(): number {
    return this.context.account.suite.params.id;
  }

  /** Listens to one event type; returns a function that removes the listener. */
  on<T extends ClientEventType>(type: T, listener: (event: ClientEventOf<T>) => void | Promise<void>): () => void {
    return this.bus.on(type, listener);
  }

  /** Resolves with the next event of `type` that passes `filter` (rejects after `timeoutMs`). */
  waitFor<T extends ClientEventType>(type: T, filter: (event: ClientEventOf<T>) => boolean = () => true, timeoutMs = 30_000): Promise<ClientEventOf<T>> {
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => {
        off();
        reject(new WaitTimeoutError(`timed out after ${timeoutMs} ms waiting for ${type}`));
      }, timeoutMs);
      const off = this.bus.on(type, (event) => {
        if (!filter(event)) return;
        clearTimeout(timer);
        off();
        resolve(event);
      });
    });
  }

  /**
   * Opens the database, registers this device on first use (identity keys, signed pre-key, 100
   * one-time pre-keys) or signs in, renews the signed pre-key when due, sends what the last run left
   * in the outbox, hands undelivered messages to the app, and starts receiving.
   */
  start(): Promise<void> {
    // Concurrent calls share one start: two would register two accounts.
    this.starting ??= this.startOnce().finally(() => {
      this.starting = undefined;
    });
    return this.starting;
  }

  private async startOnce(): Promise<void> {
    if (this.running) return;
    let db = this.options.database ?? createMemoryDatabase();
    try {
      if (this.options.storage) db = await encryptDatabase(db, this.options.storage);
      const ctx = new RuntimeContext(db, this.protocol.service, this.options.common ?? defaultCommonHandler, this.bus, () => this.authenticate(), this.options.crashHook);
      ctx.acceptIdentityChanges = this.options.acceptIdentityChanges === true;
      ctx.limits = runtimeLimits(this.options.limits);
      this.ctx = ctx;
      const stored = await ctx.transaction((r) => r.getAccount());
      const account = stored ? Account.deserialize(stored) : undefined;
      const address = account?.address;
      if (account && address?.peer.case === 'user') {
        ctx.account = account;
        ctx.self = { userId: address.peer.value.userId, deviceId: address.peer.value.deviceId };
        ctx.domain = address.domain;
        await this.authenticate();
        await this.renewSignedPreKeyIfDue();
      } else {
        // No account, or one stored by a run that stopped before the server answered: register it.
        await this.register(account);
      }
      this.running = true;
      await ctx.transaction((r) => r.migrateLegacySessions(peerOfSession));
      await flushOutbox(ctx);
      await deliverStored(ctx);
      await purgeExpired(ctx);
      this.timer = setInterval(() => {
        void ctx
          .locked(async () => {
            await purgeExpired(ctx);
            await purgeStalledCopies(ctx);
            await ctx.reportDroppedCopies();
            await flushOutbox(ctx);
            await this.renewSignedPreKeyIfDue();
          })
          .catch((error: unknown) => this.bus.emit({ type: 'error', error: error as Error, context: 'background maintenance' }));
      }, 1000);
      (this.timer as { unref?: () => void }).unref?.();
      this.streamDone = this.receiveLoop();
    } catch (error) {
      // A failed start leaves nothing open (the database handler is closed: pass a new one to retry).
      this.running = false;
      this.ctx = undefined;
      await db.close().catch(() => undefined);
      throw error;
    }
  }

  /** Renews and publishes the signed pre-key when it is older than 7 days (at start-up and while running). */
  private async renewSignedPreKeyIfDue(): Promise<void> {
    const ctx = this.ctx as RuntimeContext;
    if (ctx.account.renewSignedPreKeyIfDue(ctx.common.now())) await ctx.transaction((r) => r.putAccount(ctx.account.serialize()));
    // Publishing is tracked apart from renewing, so a failed upload is retried on the next tick.
    const current = String(ctx.account.signedPreKeyId);
    if ((await ctx.transaction((r) => r.getMeta('published-spk'))) === current) return;
    await ctx.rpc('PublishSpk', () => ctx.service.publishSpk({ signedPreKey: ctx.account.signedPreKeyPublic() }));
    await ctx.transaction((r) => r.putMeta('published-spk', current));
  }

  /** Stops receiving and closes the database. State is already persisted after every step. */
  async stop(): Promise<void> {
    await this.starting?.catch(() => undefined);
    if (!this.ctx) return;
    if (this.ctx.account) this.lastAddress = this.ctx.self;
    this.running = false;
    if (this.timer) clearInterval(this.timer);
    this.streamAbort?.abort();
    await this.streamDone?.catch(() => undefined);
    const ctx = this.ctx;
    await ctx.locked(async () => undefined);
    await ctx.db.close();
    this.ctx = undefined;
  }

  private get context(): RuntimeContext {
    if (!this.ctx || !this.ctx.account) throw new ClientNotStartedError();
    return this.ctx;
  }

  private async register(existing?: Account): Promise<void> {
    const ctx = this.ctx as RuntimeContext;
    const deviceId = this.options.deviceId;
    const account = existing ?? Account.create({ suite: this.options.suite ?? 1, now: ctx.common.now() });
    // Stored before the server hears of it: a crash after the server registered it cannot lose the keys.
    if (!existing) await ctx.transaction((r) => r.putAccount(account.serialize()));
    const challenge = await ctx.rpc('GetChallenge', () => ctx.service.getChallenge({}));
    let grant: DeviceLinkGrant | undefined;
    if (this.options.linkDevice) {
      grant = await this.options.linkDevice({ deviceId, suiteId: account.suite.params.id, signPublicKey: account.identityPublicKey.signPublicKey, kemPublicKey: account.identityPublicKey.kemPublicKey });
    }
    const userId = grant?.userId ?? '';
    const signature = account.signServerChallenge(challenge.domain, challenge.challenge, userId, deviceId);
    const response = await ctx.rpc('RegisterUser', () =>
      ctx.service.registerUser({
        suiteId: account.suite.params.id,
        userId,
        deviceId,
        userName: this.options.userName ?? '',
        identityKey: account.identityPublicKey,
        signedPreKey: account.signedPreKeyPublic(),
        oneTimePreKeys: account.oneTimePreKeyPublics(),
        challengeId: challenge.challengeId,
        challengeSignature: signature,
        ...(grant ? { deviceLink: { linkingDeviceId: grant.linkingDeviceId, signature: grant.signature } } : {}),
      }),
    );
    const address = response.address;
    if (address?.peer.case !== 'user') throw new UnknownPeerError('the server registered this device without an address');
    account.setAddress(challenge.domain, address.peer.value.userId, deviceId);
    ctx.account = account;
    ctx.self = { userId: address.peer.value.userId, deviceId };
    ctx.domain = challenge.domain;
    await ctx.transaction(async (r) => {
      await r.putAccount(account.serialize());
      await r.putMeta('published-spk', String(account.signedPreKeyId));
    });
    this.protocol.setToken(response.token);
    // Sessions to this user's other devices, so sent messages reach them too.
    // At registration the server's list of this user's devices is taken as is (trust on first use).
    if (response.otherDevices.length > 0) await ensureSessionsToUser(ctx, ctx.self.userId, { vouch: true });
    await this.bus.emit({ type: 'registered', address: ctx.self });
  }

  private async authenticate(): Promise<void> {
    const ctx = this.ctx as RuntimeContext;
    this.protocol.setToken(undefined);
    const challenge = await callRpc('GetChallenge', () => ctx.service.getChallenge({}));
    if (challenge.domain !== ctx.domain) throw new UnknownPeerError(`this account belongs to server domain ${ctx.domain}, not ${challenge.domain}`);
    const signature = ctx.account.signServerChallenge(challenge.domain, challenge.challenge, ctx.self.userId, ctx.self.deviceId);
    const response = await callRpc('Authenticate', () =>
      ctx.service.authenticate({ address: ctx.account.address as E2eeAddress, challengeId: challenge.challengeId, signature }),
    );
    this.protocol.setToken(response.token);
  }

  /** Receives the server's stream until stopped; reconnects (signing in again) with backoff. */
  private async receiveLoop(): Promise<void> {
    const ctx = this.context;
    let backoff = 100;
    let lastAuthFailure = '';
    while (this.running) {
      const abort = new AbortController();
      this.streamAbort = abort;
      try {
        for await (const msg of ctx.service.subscribe({}, { signal: abort.signal, timeoutMs: 0 })) {
          backoff = 100;
          if (msg.payload.case === 'serverHeartbeatMsg') continue;
          await ctx.locked(() => this.process(msg));
        }
      } catch (error) {
        if (!this.running) return;
        // A broken stream (server restart, network loss, expired token) is the normal case the loop
        // recovers from by reconnecting; only failures of the runtime itself are reported.
        if (!(error instanceof ConnectError) && !ctx.isRetryable(error)) await this.bus.emit({ type: 'error', error: error as Error, context: 'message stream' });
      }
      if (!this.running) return;
      await sleep(backoff);
      backoff = Math.min(backoff * 2, 5000);
      await ctx.locked(() => this.authenticate()).catch(async (error: unknown) => {
        // Unreachable servers are retried quietly; a refusal (e.g. the device is unknown to this
        // server) is told to the app, once per distinct reason, while the loop keeps trying.
        const reason = error instanceof Error ? error.message : String(error);
        if (ctx.isRetryable(error) || reason === lastAuthFailure) return;
        lastAuthFailure = reason;
        await this.bus.emit({ type: 'error', error: error instanceof Error ? error : new Error(reason), context: 'signing in again' });
      });
    }
  }

  /** One ProtoMsg: handled, delivered, consumed. A transient failure leaves it queued for the next attempt. */
  private async process(msg: ProtoMsg): Promise<void> {
    const ctx = this.context;
    if (!PROTO_MSG_ID.test(msg.id)) {
      // The id becomes a storage key and the consume argument: one the store cannot take would make
      // this message fail for ever and block the stream behind it. Reported and skipped.
      await this.bus.emit({ type: 'error', error: new UnknownPeerError('the server sent a message with a malformed id'), context: `processing ${msg.payload.case ?? 'message'}` });
      return;
    }
    try {
      await handleProtoMsg(ctx, msg);
    } catch (error) {
      await this.reloadAccount();
      if (isTransient(ctx, error)) throw error;
      // A message that can never be processed (forged, for a session this device never had) is
      // reported and dropped, so one bad message cannot block the queue.
      await this.bus.emit({ type: 'error', error: error as Error, context: `processing ${msg.payload.case ?? 'message'} ${msg.id}` });
      await ctx.transaction((r) => r.markProcessed(msg.id));
    }
    await deliverStored(ctx);
    await ctx.reportDroppedCopies();
    await flushOutbox(ctx);
    await ctx.rpc('ConsumeProtoMsg', () => ctx.service.consumeProtoMsg({ protoMsgId: msg.id }));
    if (++this.processedSincePrune >= 100) {
      this.processedSincePrune = 0;
      await ctx.transaction((r) => r.pruneProcessed(PROCESSED_IDS_KEPT));
    }
  }

  /** After a failed step the in-memory account may be ahead of the stored one: the stored one wins. */
  private async reloadAccount(): Promise<void> {
    const ctx = this.context;
    const stored = await ctx.transaction((r) => r.getAccount());
    if (stored) ctx.account = Account.deserialize(stored);
  }

  private async run<T>(fn: (ctx: RuntimeContext) => Promise<T>): Promise<T> {
    const ctx = this.context;
    if (!this.running) throw new ClientNotStartedError();
    return ctx.locked(async () => {
      try {
        const result = await fn(ctx);
        await ctx.reportDroppedCopies();
        await flushOutbox(ctx);
        return result;
      } catch (error) {
        await this.reloadAccount();
        throw error;
      }
    });
  }

  /**
   * Sends `body` to every device of `userId`, and a copy to this user's other devices. Devices
   * whose session is not accepted yet get it when their AcceptMsg arrives.
   */
  async sendMessage(userId: string, body: Uint8Array | string, options: SendOptions = {}): Promise<SendResult> {
    requireId(userId, 'userId');
    const bytes = bodyBytes(body);
    const expiresInMs = expiry(options);
    return this.run(async (ctx) => {
      const peers = await ensureSessionsToUser(ctx, userId);
      if (peers.length === 0) throw new UnknownPeerError(`user ${userId} has no devices`);
      const own = userId === ctx.self.userId ? [] : await ensureSessionsToUser(ctx, ctx.self.userId);
      const messageId = ctx.common.randomUuid();
      const app = (copyFor: string) =>
        create(PlaintextSchema, {
          version: 1,
          payload: { case: 'commonMsg', value: toAppBytes({ messageId, sentAt: BigInt(ctx.common.now()), expiresInMs, body: bytes, conversationUserId: copyFor }) },
        });
      const result: SendResult = { messageId, sent: 0, pending: 0, dropped: 0, wireBytes: 0 };
      await ctx.transaction(async (r) => {
        const targets = [...peers.map((d) => ({ d, copyFor: '' })), ...own.map((d) => ({ d, copyFor: userId }))];
        for (const { d, copyFor } of targets) {
          const sent = await sendPlaintextToDevice(ctx, r, d.userId, d.deviceId, app(copyFor));
          if (sent.status === 'sent') {
            result.sent++;
            result.wireBytes = Math.max(result.wireBytes, sent.bytes);
          } else if (sent.status === 'pending') result.pending++;
          else result.dropped++;
        }
      });
      return result;
    });
  }

  /** Creates a group with this device's user as manager and the listed users as members (`managers`: those of them who are managers too). */
  async createGroup(groupName: string, userIds: string[], options: { managers?: string[] } = {}): Promise<{ groupId: string; epoch: bigint }> {
    requireId(groupName, 'groupName');
    if (!Array.isArray(userIds)) throw new InvalidClientInputError('userIds must be a list');
    userIds.forEach((u) => requireId(u, 'userId'));
    const managers = requireOptions(options).managers ?? [];
    if (!Array.isArray(managers) || managers.some((m) => !userIds.includes(m))) throw new InvalidClientInputError('managers must be a subset of userIds');
    const result = await this.run((ctx) => createGroup(ctx, groupName, userIds, managers));
    await this.bus.emit({ type: 'group-created', groupId: result.groupId, groupName, epoch: result.epoch });
    return result;
  }

  /** Adds users to a group (needs the manager role): a new epoch that they can read and earlier ones they cannot. */
  async addGroupMembers(groupId: string, userIds: string[]): Promise<{ epoch: bigint }> {
    requireId(groupId, 'groupId');
    requireIds(userIds, 'userIds');
    return this.retryOnConflict(groupId, () => this.run(async (ctx) => {
      for (const userId of userIds) await ensureSessionsToUser(ctx, userId);
      const group = await ctx.transaction((r) => loadGroup(ctx, r, groupId));
      const expectedEpoch = await orderedEpoch(ctx, group);
      const response = await ctx.rpc('AddGroupMembers', () =>
        ctx.service.addGroupMembers({ groupAddress: group.state.groupAddress, expectedEpoch, members: userIds.map((userId) => ({ userId, role: GroupRole.MEMBER })) }),
      );
      await applyOrderedChange(ctx, groupId, response.epoch, response.memberDevices);
      return { epoch: response.epoch };
    }));
  }

  /**
   * Runs a membership change; when another change won the epoch (REQUEST_CONFLICT), waits briefly
   * for the server's announcement of it to be processed (outside the lock, so the stream can run)
   * and tries again on top of it, at most 3 times.
   */
  private async retryOnConflict<T>(groupId: string, change: () => Promise<T>): Promise<T> {
    for (let attempt = 1; ; attempt++) {
      try {
        return await change();
      } catch (error) {
        if (!(error instanceof ServerResponseError) || error.responseCode !== ResponseCode.REQUEST_CONFLICT || attempt >= 3) throw error;
        const ctx = this.context;
        const before = (await ctx.locked(() => ctx.transaction((r) => r.getGroup(groupId))))?.info?.epoch ?? 0n;
        const deadline = Date.now() + 2000;
        while (Date.now() < deadline) {
          await sleep(25);
          const now = (await ctx.locked(() => ctx.transaction((r) => r.getGroup(groupId))))?.info?.epoch ?? 0n;
          if (now > before) break;
        }
      }
    }
  }

  /** Removes users from a group (needs the manager role): they cannot read the new epoch. */
  async removeGroupMembers(groupId: string, userIds: string[]): Promise<{ epoch: bigint }> {
    requireId(groupId, 'groupId');
    requireIds(userIds, 'userIds');
    return this.retryOnConflict(groupId, () => this.run(async (ctx) => {
      if (userIds.includes(ctx.self.userId)) throw new GroupMembershipError('to leave a group use leaveGroup()');
      const group = await ctx.transaction((r) => loadGroup(ctx, r, groupId));
      const expectedEpoch = await orderedEpoch(ctx, group);
      const response = await ctx.rpc('RemoveGroupMembers', () => ctx.service.removeGroupMembers({ groupAddress: group.state.groupAddress, expectedEpoch, userIds }));
      await applyOrderedChange(ctx, groupId, response.epoch, response.memberDevices);
      return { epoch: response.epoch };
    }));
  }

  /** Leaves a group: the server stops routing it here, and a manager's device starts a new epoch without this user. */
  async leaveGroup(groupId: string): Promise<void> {
    requireId(groupId, 'groupId');
    await this.run(async (ctx) => {
      const group = await ctx.transaction((r) => loadGroup(ctx, r, groupId));
      await ctx.rpc('LeaveGroup', () => ctx.service.leaveGroup({ groupAddress: group.state.groupAddress }));
      await ctx.transaction(async (r) => {
        await r.deleteGroupSession(groupId);
        const record = await r.getGroup(groupId);
        if (record) {
          record.left = true;
          await r.putGroup(groupId, record);
        }
      });
    });
    await this.bus.emit({ type: 'group-left', groupId });
  }

  /** Sends `body` to a group's current epoch. */
  async sendGroupMessage(groupId: string, body: Uint8Array | string, options: SendOptions = {}): Promise<{ messageId: string; wireBytes: number }> {
    requireId(groupId, 'groupId');
    const bytes = bodyBytes(body);
    const expiresInMs = expiry(options);
    return this.run(async (ctx) => {
      const messageId = ctx.common.randomUuid();
      const plaintext = create(PlaintextSchema, {
        version: 1,
        payload: { case: 'commonMsg', value: toAppBytes({ messageId, sentAt: BigInt(ctx.common.now()), expiresInMs, body: bytes, conversationUserId: '' }) },
      });
      const wireBytes = await sendGroupPlaintext(ctx, groupId, plaintext);
      return { messageId, wireBytes };
    });
  }

  /** The group's epoch and member devices as this device holds them. */
  async groupInfo(groupId: string): Promise<{ epoch: bigint; members: DeviceRef[] }> {
    requireId(groupId, 'groupId');
    const ctx = this.context;
    return ctx.locked(async () => {
      const group = await ctx.transaction((r) => loadGroup(ctx, r, groupId));
      return { epoch: group.epoch, members: group.members.map((m) => ({ userId: m.userId, deviceId: m.deviceId })) };
    });
  }

  /** Approves a new device of this user (see ClientOptions.linkDevice): signs its identity key. */
  async approveDevice(request: DeviceLinkRequest): Promise<DeviceLinkGrant> {
    const ctx = this.context;
    if (!request || typeof request.deviceId !== 'string' || !DEVICE_ID.test(request.deviceId)) throw new InvalidClientInputError('the request needs a valid deviceId');
    if (request.suiteId !== ctx.account.suite.params.id) throw new InvalidClientInputError('the new device must use the same suite');
    const signature = ctx.account.signDeviceLink(ctx.domain, ctx.self.userId, request.deviceId, { signPublicKey: request.signPublicKey, kemPublicKey: request.kemPublicKey });
    return { userId: ctx.self.userId, linkingDeviceId: ctx.self.deviceId, signature };
  }

  /** The 60-digit safety number of this device and a peer device (compare it out of band). */
  async fingerprint(userId: string, deviceId: string): Promise<string> {
    requireId(userId, 'userId');
    requireId(deviceId, 'deviceId');
    const ctx = this.context;
    const device = await ctx.locked(() => ctx.transaction((r) => r.getDevice(userId, deviceId)));
    if (!device?.identityKey) throw new UnknownPeerError('no session with that device');
    return sessionFingerprint(ctx.account.identityPublicKey, device.identityKey, ctx.account.suite.params.id);
  }

  /** Messages received and kept (disappearing ones until they expire), oldest first. */
  async messages(): Promise<Array<ClientEventOf<'one2one-message'>['message'] & { kind: string; groupId: string; conversationUserId: string }>> {
    const ctx = this.context;
    const rows = await ctx.locked(() => ctx.transaction((r) => r.listStoredMessages()));
    const now = BigInt(ctx.common.now());
    return rows
      .filter(({ value }) => value.delivered && (value.expiresAt === 0n || value.expiresAt > now))
      .map(({ value }) => ({
        messageId: value.messageId,
        from: value.from?.peer.case === 'user' ? { userId: value.from.peer.value.userId, deviceId: value.from.peer.value.deviceId } : { userId: '', deviceId: '' },
        body: value.body,
        sentAt: Number(value.sentAt),
        receivedAt: Number(value.receivedAt),
        expiresAt: Number(value.expiresAt),
        kind: value.kind,
        groupId: value.groupId,
        conversationUserId: value.conversationUserId,
      }));
  }

  /** Updates this user's display name; users who invited it are told. */
  async updateUser(userName: string): Promise<void> {
    requireId(userName, 'userName');
    await this.run((ctx) => ctx.rpc('UpdateUser', () => ctx.service.updateUser({ userName })));
  }

  /** @internal emits an event (used by the runtime's parts). */
  emit(event: ClientEvent): Promise<void> {
    return this.bus.emit(event);
  }
}

/** The peer device of a stored session (for moving sessions stored before they were keyed by peer). */
function peerOfSession(bytes: Uint8Array): DeviceRef | undefined {
  try {
    const peer = Session.deserialize(bytes).peerAddress;
    return peer?.peer.case === 'user' ? { userId: peer.peer.value.userId, deviceId: peer.peer.value.deviceId } : undefined;
  } catch {
    return undefined;
  }
}

function toAppBytes(fields: { messageId: string; sentAt: bigint; expiresInMs: bigint; body: Uint8Array; conversationUserId: string }): Uint8Array {
  return toBinary(AppMessageSchema, create(AppMessageSchema, fields));
}
