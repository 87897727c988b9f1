/**
 * `E2eeClient`: the runtime an app uses (DESIGN.md §5). It is built from the white paper's four
 * plugin handlers — common (time, ids), event, database, protocol (transport) — each with a
 * default, so `createClient({ server: 'http://127.0.0.1:8080', deviceId: 'phone' })` works in Node.
 *
 * This class is the facade: it checks what the app passes (input.ts), serialises every call on the
 * runtime's lock, and leaves the work to the parts: registration.ts (account and sign-in),
 * receive-loop.ts (the server's stream and maintenance), inbound/ (each server message),
 * send.ts and one2one.ts (one-to-one messages), group-operations.ts and groups.ts (groups),
 * device-link.ts (new devices of this user), history.ts (received messages).
 */
import { Session, fingerprint as sessionFingerprint, type GroupAuthMode } from '../protocol/index.js';
import type { DatabaseHandler } from '../store/database.js';
import { encryptDatabase } from '../store/encrypted.js';
import { countingDatabase, StorageStatementReporter } from './storage-statement.js';
import { ResponseCode } from '../proto/gen/service_pb.js';
import { createMemoryDatabase } from '../store/memory.js';
import { createServerTransport } from '../transport/server-transport.js';
import type { ProtocolHandler } from '../transport/protocol-handler.js';
import { defaultCommonHandler, type CommonHandler } from './common.js';
import { RuntimeContext, type CrashPoint, type RuntimeLimits } from './context.js';
import { approveDevice, type DeviceLinkGrant, type DeviceLinkRequest } from './device-link.js';
import { ClientNotStartedError, InvalidClientInputError, UnknownPeerError, WaitTimeoutError } from '../errors.js';
import { EventBus, type ClientEvent, type ClientEventOf, type ClientEventType, type DeviceRef, type EventHandler } from './events.js';
import { addMembers, groupInfo, leave, removeMembers, retryOnConflict, sendToGroup } from './group-operations.js';
import { createGroup } from './groups.js';
import { deliverStored, purgeExpired, storedMessages } from './history.js';
import { bodyBytes, DEVICE_ID, expiry, requireId, requireIds, requireOptions, runtimeLimits } from './input.js';
import { enableKeyTransparency, trustedAuditLog, type TrustedAuditLog } from './key-transparency.js';
import { flushOutbox } from './one2one.js';
import { ReceiveLoop } from './receive-loop.js';
import { authenticate, openAccount, reloadAccount } from './registration.js';
import { sendDirectMessage, type SendOptions, type SendResult } from './send.js';

export type { DeviceLinkGrant, DeviceLinkRequest } from './device-link.js';
export { MAX_BODY_BYTES } from './input.js';
export type { SendOptions, SendResult } from './send.js';
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
  /**
   * Key transparency (DESIGN.md §6.1, docs/audit.md): the key of the server's audit log, as its
   * operator publishes it — verifier-key text `<name>+<key ID>+<key>` (`formatVerifierKey`); the
   * name is the log's origin. When set, no pre-key bundle is used unless its response carries a
   * checkpoint signed by this key and, for each bundle, an inclusion proof of the log entry that
   * published exactly that device's identity keys; the newest checkpoint accepted is kept in the
   * database and every later one must be consistent with it (proofs from the server's
   * AuditService, so `server` must offer one: a URL does). A failed check throws a
   * KeyTransparencyError (`ERR_KEY_TRANSPARENCY`) from the call that needed the bundle (in the
   * background, e.g. a new device announced: an 'error' event), and nothing of that response is used.
   *
   * Devices met without a bundle are checked the same way (AuditService.GetKeyInclusion for that
   * device, its checkpoint through the same consistency rule) before their keys are first trusted:
   * a device that invites this one, a group member this device holds no key for (from the server's
   * member list of a new epoch, GetGroupEpoch), and a new device of this user announced with a
   * device link. A refusal there is an 'error' event and the message is dropped: no session, no
   * stored device, no group joined; if the log cannot be reached, the message stays queued and is
   * retried. Devices already known (checked when first met) are not checked again.
   *
   * What it catches: a server that hands out a key or device it never logged, or that shows this
   * client a log forked from one it showed it before (and, since every client keeps its own
   * newest checkpoint, two clients shown two logs disagree as soon as their checkpoints are compared).
   * What it does not: a server that *logs* a device of its own making hands it out with a valid
   * proof — that is caught only by whoever reads the log (auditors, or the user's own devices
   * looking for devices they never linked). The first checkpoint is trusted on first use: a server
   * can fork this client's view from its very first contact, and only comparing checkpoints with
   * others shows it. Not set (the default): bundles are used as the server sends them.
   */
  auditLogKey?: string;
  /** @internal test hook: called at each step of the receive path (crash-safety tests). */
  crashHook?: (point: CrashPoint) => void;
}

/** Creates a client; call `start()` to register (first run) or sign in, and to begin receiving. */
export function createClient(options: ClientOptions): E2eeClient {
  return new E2eeClient(options);
}

export class E2eeClient {
  private readonly options: ClientOptions;
  private readonly bus: EventBus;
  private readonly protocol: ProtocolHandler;
  private readonly receiver = new ReceiveLoop();
  private readonly auditLog: TrustedAuditLog | undefined;
  private ctx: RuntimeContext | undefined;
  private running = false;
  private starting: Promise<void> | undefined;
  private lastAddress: DeviceRef | undefined;
  private storageStatements: StorageStatementReporter | undefined;
  constructor(options: ClientOptions) {
    if (!options || typeof options !== 'object') throw new InvalidClientInputError('options are required');
    if (typeof options.deviceId !== 'string' || !DEVICE_ID.test(options.deviceId)) throw new InvalidClientInputError('deviceId must be 1-64 characters of [A-Za-z0-9._-]');
    if (typeof options.server !== 'string' && (typeof options.server !== 'object' || options.server === null))
      throw new InvalidClientInputError('server must be a URL or a protocol handler');
    this.options = options;
    this.bus = new EventBus(options.events);
    this.protocol = typeof options.server === 'string' ? createServerTransport(options.server) : options.server;
    this.auditLog = options.auditLogKey === undefined ? undefined : trustedAuditLog(options.auditLogKey, this.protocol);
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
      const counted = countingDatabase(db);
      db = counted.database;
      const ctx = new RuntimeContext(db, this.protocol.service, this.options.common ?? defaultCommonHandler, this.bus, () => this.authenticate(), this.options.crashHook);
      ctx.acceptIdentityChanges = this.options.acceptIdentityChanges === true;
      ctx.limits = runtimeLimits(this.options.limits);
      // Before openAccount: a new device of an existing user fetches its own user's bundles there.
      if (this.auditLog) enableKeyTransparency(ctx, this.auditLog);
      this.ctx = ctx;
      await openAccount(ctx, this.protocol, this.options);
      this.running = true;
      await ctx.transaction((r) => r.sessions.migrateLegacy(peerOfSession));
      await flushOutbox(ctx);
      await deliverStored(ctx);
      await purgeExpired(ctx);
      this.receiver.start(ctx);
      this.storageStatements = new StorageStatementReporter(counted, this.options.storage !== undefined, (recordsWritten, sealed) =>
        this.sendStorageStatement(recordsWritten, sealed),
      );
      this.storageStatements.start();
    } catch (error) {
      // A failed start leaves nothing open (the database handler is closed: pass a new one to retry).
      this.running = false;
      this.ctx = undefined;
      await db.close().catch(() => undefined);
      throw error;
    }
  }

  /** Stops receiving and closes the database. State is already persisted after every step. */
  async stop(): Promise<void> {
    await this.starting?.catch(() => undefined);
    if (!this.ctx) return;
    if (this.ctx.account) this.lastAddress = this.ctx.self;
    this.running = false;
    await this.receiver.stop();
    await this.storageStatements?.stop();
    this.storageStatements = undefined;
    const ctx = this.ctx;
    await ctx.locked(async () => undefined);
    await ctx.db.close();
    this.ctx = undefined;
  }

  private get context(): RuntimeContext {
    if (!this.ctx?.account) throw new ClientNotStartedError();
    return this.ctx;
  }

  /** One STORAGE_SEALED statement (docs/audit.md); false when the server keeps no audit log. */
  private async sendStorageStatement(recordsWritten: number, sealed: boolean): Promise<boolean> {
    const ctx = this.ctx;
    if (!ctx) return true;
    const response = await ctx.rpc('RecordStorageStatement', () => this.protocol.service.recordStorageStatement({ recordsWritten: BigInt(recordsWritten), sealed }));
    return response.code !== ResponseCode.NO_CONTENT;
  }

  private authenticate(): Promise<void> {
    return authenticate(this.ctx as RuntimeContext, this.protocol);
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
        await reloadAccount(ctx);
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
    return this.run((ctx) => sendDirectMessage(ctx, userId, bytes, expiresInMs));
  }

  /**
   * Creates a group with this device's user as manager and the listed users as members (`managers`:
   * those of them who are managers too). `groupAuth` fixes, for the group's whole life, how its
   * messages are authenticated: 'sender-key' (default: a per-epoch Ed25519 key per member, 64-byte
   * signatures; a device's stolen group state can forge its messages until the next epoch) or
   * 'identity' (every message signed with the sender's identity key: 4,627 bytes each in suite 1;
   * a stolen group state cannot forge messages). docs/protocol.md "Group sessions".
   */
  async createGroup(groupName: string, userIds: string[], options: { managers?: string[]; groupAuth?: GroupAuthMode } = {}): Promise<{ groupId: string; epoch: bigint }> {
    requireId(groupName, 'groupName');
    if (!Array.isArray(userIds)) throw new InvalidClientInputError('userIds must be a list');
    for (const u of userIds) requireId(u, 'userId');
    const checked = requireOptions(options);
    const managers = checked.managers ?? [];
    if (!Array.isArray(managers) || managers.some((m) => !userIds.includes(m))) throw new InvalidClientInputError('managers must be a subset of userIds');
    const groupAuth = checked.groupAuth ?? 'sender-key';
    if (groupAuth !== 'sender-key' && groupAuth !== 'identity') throw new InvalidClientInputError("groupAuth must be 'sender-key' or 'identity'");
    const result = await this.run((ctx) => createGroup(ctx, groupName, userIds, managers, groupAuth));
    await this.bus.emit({ type: 'group-created', groupId: result.groupId, groupName, epoch: result.epoch });
    return result;
  }

  /** Adds users to a group (needs the manager role): a new epoch that they can read and earlier ones they cannot. */
  async addGroupMembers(groupId: string, userIds: string[]): Promise<{ epoch: bigint }> {
    requireId(groupId, 'groupId');
    requireIds(userIds, 'userIds');
    return retryOnConflict(
      () => this.context,
      groupId,
      () => this.run((ctx) => addMembers(ctx, groupId, userIds)),
    );
  }

  /** Removes users from a group (needs the manager role): they cannot read the new epoch. */
  async removeGroupMembers(groupId: string, userIds: string[]): Promise<{ epoch: bigint }> {
    requireId(groupId, 'groupId');
    requireIds(userIds, 'userIds');
    return retryOnConflict(
      () => this.context,
      groupId,
      () => this.run((ctx) => removeMembers(ctx, groupId, userIds)),
    );
  }

  /** Leaves a group: the server stops routing it here, and a manager's device starts a new epoch without this user. */
  async leaveGroup(groupId: string): Promise<void> {
    requireId(groupId, 'groupId');
    await this.run((ctx) => leave(ctx, groupId));
    await this.bus.emit({ type: 'group-left', groupId });
  }

  /** Sends `body` to a group's current epoch. */
  async sendGroupMessage(groupId: string, body: Uint8Array | string, options: SendOptions = {}): Promise<{ messageId: string; wireBytes: number }> {
    requireId(groupId, 'groupId');
    const bytes = bodyBytes(body);
    const expiresInMs = expiry(options);
    return this.run((ctx) => sendToGroup(ctx, groupId, bytes, expiresInMs));
  }

  /** The group's epoch, member devices and auth mode as this device holds them. */
  async groupInfo(groupId: string): Promise<{ epoch: bigint; members: DeviceRef[]; groupAuth: GroupAuthMode }> {
    requireId(groupId, 'groupId');
    return groupInfo(this.context, groupId);
  }

  /** Approves a new device of this user (see ClientOptions.linkDevice): signs its identity key. */
  async approveDevice(request: DeviceLinkRequest): Promise<DeviceLinkGrant> {
    return approveDevice(this.context, request);
  }

  /** The 60-digit safety number of this device and a peer device (compare it out of band). */
  async fingerprint(userId: string, deviceId: string): Promise<string> {
    requireId(userId, 'userId');
    requireId(deviceId, 'deviceId');
    const ctx = this.context;
    const device = await ctx.locked(() => ctx.transaction((r) => r.devices.get(userId, deviceId)));
    if (!device?.identityKey) throw new UnknownPeerError('no session with that device');
    return sessionFingerprint(ctx.account.identityPublicKey, device.identityKey, ctx.account.suite.params.id);
  }

  /** Messages received and kept (disappearing ones until they expire), oldest first. */
  async messages(): Promise<Array<ClientEventOf<'one2one-message'>['message'] & { kind: string; groupId: string; conversationUserId: string }>> {
    return storedMessages(this.context);
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
