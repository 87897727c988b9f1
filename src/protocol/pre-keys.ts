/**
 * An account's pre-keys (DESIGN.md §4 "Account"): the signed pre-key with its renewal and grace
 * period, and the pool of one-time pre-keys with the rules that retire the ones nobody can still
 * use, so the pool (and the stored account) stays bounded however many bundles others fetch.
 * Functions over the AccountState; the Account validates the API's inputs and signs for them (the
 * identity secret never comes here: signing is passed in).
 */
import { create } from '@bufbuild/protobuf';
import type { CipherSuite } from '../crypto/index.js';
import {
  KeyPairStateSchema,
  OneTimePreKeyStateSchema,
  SignedPreKeyStateSchema,
  type AccountState,
  type KeyPairState,
  type OneTimePreKeyState,
  type SignedPreKeyState,
} from '../proto/gen/state_pb.js';
import { signedPreKeyMessage } from '../wire/statements.js';

/** One-time pre-keys made at creation and by default on each replenishment. */
export const ONE_TIME_PRE_KEY_BATCH = 100;
/**
 * The most one-time pre-keys an account holds after `Account.publishOneTimePreKeys` (and so
 * a bound on its serialized size: about 4.8 KB per key in suite 1, see docs/client.md "Bounds").
 * Anyone may fetch a device's bundles without inviting, so the number of keys handed out is not in
 * the device's hands: past this bound the oldest keys are retired (never an error).
 */
export const MAX_ONE_TIME_PRE_KEYS = 400;
export const SIGNED_PRE_KEY_LIFETIME_MS = 7 * 24 * 60 * 60 * 1000;
/** How long a replaced signed pre-key still accepts invites made from old bundles. */
export const SIGNED_PRE_KEY_GRACE_MS = 7 * 24 * 60 * 60 * 1000;
/**
 * How long a one-time pre-key the server handed out is kept for an invite made from it that has not
 * arrived yet (counted from when this device learned of the hand-out). The same as the signed
 * pre-key's grace: an invite older than that may name a signed pre-key that is gone anyway.
 */
export const ONE_TIME_PRE_KEY_IN_FLIGHT_MS = SIGNED_PRE_KEY_GRACE_MS;
/** The most handed-out (not yet used) one-time pre-keys kept for invites in flight; older ones are retired first. */
export const ONE_TIME_PRE_KEY_IN_FLIGHT_MAX = 200;

/** Signs with the account's identity key (Account.signWithIdentity). */
export type IdentitySigner = (message: Uint8Array) => Uint8Array;

export function keyPairState(pair: { publicKey: Uint8Array; secretKey: Uint8Array }): KeyPairState {
  return create(KeyPairStateSchema, { publicKey: pair.publicKey, secretKey: pair.secretKey });
}

/** A new signed pre-key (the next id), its public key signed by the identity. */
export function makeSignedPreKey(state: AccountState, suite: CipherSuite, sign: IdentitySigner, now: number): SignedPreKeyState {
  const spkId = state.nextSpkId++;
  const pair = suite.kem.keygen();
  const signature = sign(signedPreKeyMessage(suite.params.id, spkId, pair.publicKey));
  return create(SignedPreKeyStateSchema, { spkId, keyPair: keyPairState(pair), signature, createdAtMs: BigInt(now) });
}

/**
 * Replaces the signed pre-key once it is {@link SIGNED_PRE_KEY_LIFETIME_MS} old, keeping the old one
 * for {@link SIGNED_PRE_KEY_GRACE_MS}, and drops (zeroed) replaced keys past their grace. True if it renewed.
 */
export function renewSignedPreKey(state: AccountState, suite: CipherSuite, sign: IdentitySigner, now: number): boolean {
  const current = state.signedPreKey as SignedPreKeyState;
  let renewed = false;
  if (now - Number(current.createdAtMs) >= SIGNED_PRE_KEY_LIFETIME_MS) {
    current.replacedAtMs = BigInt(now);
    state.previousSignedPreKeys.push(current);
    state.signedPreKey = makeSignedPreKey(state, suite, sign, now);
    renewed = true;
  }
  const kept: SignedPreKeyState[] = [];
  for (const old of state.previousSignedPreKeys) {
    if (now - Number(old.replacedAtMs) < SIGNED_PRE_KEY_GRACE_MS) kept.push(old);
    else old.keyPair?.secretKey.fill(0);
  }
  state.previousSignedPreKeys = kept;
  return renewed;
}

/** Makes `count` one-time pre-keys (the next ids) and adds them to the pool. */
export function addOneTimePreKeys(state: AccountState, suite: CipherSuite, count: number): OneTimePreKeyState[] {
  const added: OneTimePreKeyState[] = [];
  for (let i = 0; i < count; i++) {
    const opk = create(OneTimePreKeyStateSchema, { opkId: state.nextOpkId++, keyPair: keyPairState(suite.kem.keygen()) });
    state.oneTimePreKeys.push(opk);
    added.push(opk);
  }
  return added;
}

/** Deletes a used one-time pre-key (its secret is zeroed). */
export function removeOneTimePreKey(state: AccountState, opkId: number): void {
  const index = state.oneTimePreKeys.findIndex((opk) => opk.opkId === opkId);
  if (index < 0) return;
  const [removed] = state.oneTimePreKeys.splice(index, 1);
  removed?.keyPair?.secretKey.fill(0);
}

/**
 * Makes room for `incoming` new one-time pre-keys by retiring (zeroing) the unused ones nobody can
 * still use, by the three rules of `Account.publishOneTimePreKeys`: with `available` (the
 * server's count, with `now`) older keys are marked handed out; with `now` handed-out keys past the
 * in-flight grace or count go; and always the oldest go until the pool fits its bound.
 */
export function retireUnusableOneTimePreKeys(state: AccountState, incoming: number, now: number | undefined, available: number | undefined, retryFromId: number | undefined): void {
  if (available !== undefined && now !== undefined) markHandedOut(state, now, available, retryFromId);
  if (now !== undefined) retireHandedOut(state, now);
  retireOldest(state, state.oneTimePreKeys.length + incoming - MAX_ONE_TIME_PRE_KEYS);
}

/**
 * Marks the keys the server no longer holds. It hands out the lowest id first and holds at most
 * `available`, so those are among the newest `available` keys made before the request (keys made
 * by earlier attempts of the same request, from `retryFromId` on, are left alone); every older key
 * was handed out. A key stays marked with the time it was first marked.
 */
function markHandedOut(state: AccountState, now: number, available: number, retryFromId: number | undefined): void {
  const before = state.oneTimePreKeys.filter((opk) => retryFromId === undefined || opk.opkId < retryFromId).sort((x, y) => y.opkId - x.opkId);
  for (const opk of before.slice(available)) {
    if (opk.handedOutAtMs <= 0n) opk.handedOutAtMs = BigInt(now);
  }
}

/** Retires handed-out keys past the in-flight grace, and the oldest beyond the in-flight count. */
function retireHandedOut(state: AccountState, now: number): void {
  const handedOut = state.oneTimePreKeys.filter((opk) => opk.handedOutAtMs > 0n).sort((x, y) => y.opkId - x.opkId);
  const retired = new Set<OneTimePreKeyState>();
  handedOut.forEach((opk, newestFirst) => {
    if (newestFirst >= ONE_TIME_PRE_KEY_IN_FLIGHT_MAX || now - Number(opk.handedOutAtMs) >= ONE_TIME_PRE_KEY_IN_FLIGHT_MS) retired.add(opk);
  });
  retire(state, retired);
}

/** Retires the `excess` oldest keys, whatever their state (the last resort that bounds the account). */
function retireOldest(state: AccountState, excess: number): void {
  if (excess <= 0) return;
  const oldestFirst = [...state.oneTimePreKeys].sort((x, y) => x.opkId - y.opkId);
  retire(state, new Set(oldestFirst.slice(0, excess)));
}

function retire(state: AccountState, keys: Set<OneTimePreKeyState>): void {
  if (keys.size === 0) return;
  for (const opk of keys) opk.keyPair?.secretKey.fill(0);
  state.oneTimePreKeys = state.oneTimePreKeys.filter((opk) => !keys.has(opk));
}
