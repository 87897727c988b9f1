/**
 * Asking the TLM for the keys of sealed entries (AuditService.ReleaseKeys) and checking the answer
 * is one: every key is for an index we asked for, at most once, and every index we asked for is
 * either answered or refused. Keys arrive wrapped to this verifier's KEM key; they are opened only
 * when their entry is checked (verify.ts), so a page's keys are never all in the clear at once.
 * Every call shows the verifier's access token: without it the TLM answers UNAUTHORIZED.
 */
import type { CallOptions } from '@connectrpc/connect';
import type { WrappedEntryKey } from '../../audit/key-release.js';
import { ServerResponseError } from '../../errors.js';
import { ResponseCode } from '../../proto/gen/service_pb.js';
import { type AuditServiceClient, callAudit, MAX_AUDIT_PAGE, wireInteger } from './audit-client.js';

/** The TLM's answer for one batch of indexes. */
export interface ReleasedKeys {
  readonly wrapped: ReadonlyMap<number, WrappedEntryKey>;
  /** Indexes the TLM refused: the verifier's entitlement does not cover the entry. */
  readonly denied: ReadonlySet<number>;
  /** Indexes neither answered nor refused. */
  readonly withheld: readonly number[];
}

/** Who asks: the verifier id and the access token it registered (secret; not zeroed here). */
export interface KeyRequester {
  readonly verifierId: string;
  readonly accessToken: Uint8Array;
}

/**
 * Asks for the keys of `indexes` (distinct, at most MAX_AUDIT_PAGE); throws on a malformed answer,
 * and a ServerResponseError (code UNAUTHORIZED) when the TLM does not accept the token.
 */
export async function releaseEntryKeys(client: AuditServiceClient, requester: KeyRequester, indexes: readonly number[], callOptions?: CallOptions): Promise<ReleasedKeys> {
  if (indexes.length === 0) return { wrapped: new Map(), denied: new Set(), withheld: [] };
  if (indexes.length > MAX_AUDIT_PAGE) throw new RangeError(`at most ${MAX_AUDIT_PAGE} indexes per ReleaseKeys`);
  const asked = new Set(indexes);
  // FORBIDDEN is the answer when every index was refused: an outcome, not an error.
  const response = await callAudit(
    'ReleaseKeys',
    () => client.releaseKeys({ verifierId: requester.verifierId, accessToken: requester.accessToken, indexes: indexes.map((i) => BigInt(i)) }, callOptions),
    [ResponseCode.OK, ResponseCode.FORBIDDEN],
  );
  const bad = (message: string): ServerResponseError => new ServerResponseError('ReleaseKeys', response.code, ResponseCode[response.code] ?? 'UNKNOWN', message);
  if (response.keys.length + response.denied.length > indexes.length) throw bad('more keys and refusals than indexes asked for');
  const wrapped = new Map<number, WrappedEntryKey>();
  for (const key of response.keys) {
    const index = wireInteger(key.index, 'released key index');
    if (!asked.has(index) || wrapped.has(index)) throw bad(`a key for entry ${index}, which was not asked for (or twice)`);
    wrapped.set(index, { index, categoryMask: key.categoryMask, kemCiphertext: key.kemCiphertext, sealedKey: key.sealedKey });
  }
  const denied = new Set<number>();
  for (const value of response.denied) {
    const index = wireInteger(value, 'denied index');
    if (!asked.has(index) || wrapped.has(index) || denied.has(index)) throw bad(`entry ${index} refused, but it was not asked for (or was answered)`);
    denied.add(index);
  }
  if (response.code === ResponseCode.FORBIDDEN && response.denied.length === 0) {
    // A FORBIDDEN without a list refuses everything asked for.
    for (const index of indexes) denied.add(index);
  }
  const withheld = indexes.filter((index) => !wrapped.has(index) && !denied.has(index));
  return { wrapped, denied, withheld };
}
