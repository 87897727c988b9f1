/**
 * The account's lifecycle with the server: registration on first use (identity keys, signed
 * pre-key, 100 one-time pre-keys; a new device of an existing user with a device link), signing in
 * (a server challenge signed with the identity key), renewing the signed pre-key, and going back to
 * the stored account after a failed step.
 */
import { Account } from '../protocol/index.js';
import type { E2eeAddress } from '../proto/gen/wire_pb.js';
import { callRpc } from '../transport/call.js';
import type { ProtocolHandler } from '../transport/protocol-handler.js';
import type { RuntimeContext } from './context.js';
import { askForDeviceLink, type DeviceLinkGrant, type DeviceLinkRequest } from './device-link.js';
import { UnknownPeerError } from '../errors.js';
import { ensureSessionsToUser } from './one2one.js';

/** What registration takes from ClientOptions. */
export interface RegistrationOptions {
  deviceId: string;
  suite?: number | string;
  userName?: string;
  linkDevice?: (request: DeviceLinkRequest) => Promise<DeviceLinkGrant>;
}

/**
 * Loads the stored account and signs in (renewing the signed pre-key when due), or registers this
 * device when there is no account, or only one whose registration the server never answered.
 */
export async function openAccount(ctx: RuntimeContext, protocol: ProtocolHandler, options: RegistrationOptions): Promise<void> {
  const stored = await ctx.transaction((r) => r.account.get());
  const account = stored ? Account.deserialize(stored) : undefined;
  const address = account?.address;
  if (account && address?.peer.case === 'user') {
    ctx.account = account;
    ctx.self = { userId: address.peer.value.userId, deviceId: address.peer.value.deviceId };
    ctx.domain = address.domain;
    await authenticate(ctx, protocol);
    await renewSignedPreKeyIfDue(ctx);
  } else {
    // No account, or one stored by a run that stopped before the server answered: register it.
    await register(ctx, protocol, options, account);
  }
}

/**
 * Registers this device: a new account (or `existing`, stored by a run that stopped before the
 * server answered), stored before the server hears of it, then registered with the server (with a
 * device link when `linkDevice` is set).
 */
async function register(ctx: RuntimeContext, protocol: ProtocolHandler, options: RegistrationOptions, existing?: Account): Promise<void> {
  const deviceId = options.deviceId;
  const account = existing ?? Account.create({ suite: options.suite ?? 1, now: ctx.common.now() });
  // Stored before the server hears of it: a crash after the server registered it cannot lose the keys.
  if (!existing) await ctx.transaction((r) => r.account.put(account.serialize()));
  const challenge = await ctx.rpc('GetChallenge', () => ctx.service.getChallenge({}));
  let grant: DeviceLinkGrant | undefined;
  if (options.linkDevice) {
    grant = await askForDeviceLink(options.linkDevice, account, deviceId);
  }
  const userId = grant?.userId ?? '';
  const signature = account.signServerChallenge(challenge.domain, challenge.challenge, userId, deviceId);
  const response = await ctx.rpc('RegisterUser', () =>
    ctx.service.registerUser({
      suiteId: account.suite.params.id,
      userId,
      deviceId,
      userName: options.userName ?? '',
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
    await r.account.put(account.serialize());
    await r.meta.put('published-spk', String(account.signedPreKeyId));
  });
  protocol.setToken(response.token);
  // Sessions to this user's other devices, so sent messages reach them too.
  // At registration the server's list of this user's devices is taken as is (trust on first use).
  if (response.otherDevices.length > 0) await ensureSessionsToUser(ctx, ctx.self.userId, { vouch: true });
  await ctx.events.emit({ type: 'registered', address: ctx.self });
}

/** Signs in: the server's challenge signed with the identity key; the token goes to the protocol handler. */
export async function authenticate(ctx: RuntimeContext, protocol: ProtocolHandler): Promise<void> {
  protocol.setToken(undefined);
  const challenge = await callRpc('GetChallenge', () => ctx.service.getChallenge({}));
  if (challenge.domain !== ctx.domain) throw new UnknownPeerError(`this account belongs to server domain ${ctx.domain}, not ${challenge.domain}`);
  const signature = ctx.account.signServerChallenge(challenge.domain, challenge.challenge, ctx.self.userId, ctx.self.deviceId);
  const response = await callRpc('Authenticate', () => ctx.service.authenticate({ address: ctx.account.address as E2eeAddress, challengeId: challenge.challengeId, signature }));
  protocol.setToken(response.token);
}

/** Renews and publishes the signed pre-key when it is older than 7 days (at start-up and while running). */
export async function renewSignedPreKeyIfDue(ctx: RuntimeContext): Promise<void> {
  if (ctx.account.renewSignedPreKeyIfDue(ctx.common.now())) await ctx.transaction((r) => r.account.put(ctx.account.serialize()));
  // Publishing is tracked apart from renewing, so a failed upload is retried on the next tick.
  const current = String(ctx.account.signedPreKeyId);
  if ((await ctx.transaction((r) => r.meta.get('published-spk'))) === current) return;
  await ctx.rpc('PublishSpk', () => ctx.service.publishSpk({ signedPreKey: ctx.account.signedPreKeyPublic() }));
  await ctx.transaction((r) => r.meta.put('published-spk', current));
}

/** After a failed step the in-memory account may be ahead of the stored one: the stored one wins. */
export async function reloadAccount(ctx: RuntimeContext): Promise<void> {
  const stored = await ctx.transaction((r) => r.account.get());
  if (stored) ctx.account = Account.deserialize(stored);
}
