/**
 * The verifier's connection to a log's AuditService (src/proto/audit.proto), and the checks every
 * answer goes through before any other code looks at it: the response code, and the sizes of
 * what the server sent (proof lengths, hash lengths, indexes). The server is the party under
 * audit, so nothing it returns is trusted until checked.
 */
import { type Client, ConnectError, createClient } from '@connectrpc/connect';
import { createConnectTransport } from '@connectrpc/connect-node';
import { MAX_PROOF_HASHES, MERKLE_HASH_BYTES } from '../../audit/merkle.js';
import { ServerResponseError, TransportError } from '../../errors.js';
import { AuditService } from '../../proto/gen/audit_pb.js';
import { ResponseCode } from '../../proto/gen/service_pb.js';
import { printable } from './printable.js';

/** A Connect client of AuditService (a real one, or any object with the same methods in tests). */
export type AuditServiceClient = Client<typeof AuditService>;

/** Most entries asked for in one GetEntries, and most indexes in one ReleaseKeys (the service's limit). */
export const MAX_AUDIT_PAGE = 1000;

/**
 * Largest response accepted. A page is at most 1000 entries; one entry is at most 64 KiB of event
 * plus ~100 bytes, so this admits any valid page and refuses a server that streams without end.
 */
export const MAX_RESPONSE_BYTES = 72 * 1024 * 1024;

/** How long one call may take. */
export const DEFAULT_CALL_TIMEOUT_MS = 60_000;

/** A client of the AuditService at `baseUrl` (the server's base URL, as for E2eeService). */
export function connectAuditService(baseUrl: string): AuditServiceClient {
  const transport = createConnectTransport({ baseUrl, httpVersion: '1.1', readMaxBytes: MAX_RESPONSE_BYTES, defaultTimeoutMs: DEFAULT_CALL_TIMEOUT_MS });
  return createClient(AuditService, transport);
}

/** What every AuditService response carries. */
interface CodedResponse {
  code: ResponseCode;
  reason: string;
}

/**
 * Runs one call and returns its answer if its code is one of `accepted` (default OK). A Connect
 * error becomes a TransportError, another code a ServerResponseError; both with printable text.
 */
export async function callAudit<R extends CodedResponse>(rpc: string, call: () => Promise<R>, accepted: readonly ResponseCode[] = [ResponseCode.OK]): Promise<R> {
  let response: R;
  try {
    response = await call();
  } catch (error) {
    if (error instanceof ConnectError) throw new TransportError(rpc, ResponseCode.UNKNOWN, printable(error.message));
    throw error;
  }
  if (!accepted.includes(response.code)) {
    throw new ServerResponseError(rpc, response.code, ResponseCode[response.code] ?? String(response.code), printable(response.reason));
  }
  return response;
}

/** A uint64 from the server as a JS number; throws when it cannot be an index or size (≥ 2^53). */
export function wireInteger(value: bigint, what: string): number {
  if (value < 0n || value > BigInt(Number.MAX_SAFE_INTEGER))
    throw new ServerResponseError('AuditService', ResponseCode.UNKNOWN, 'UNKNOWN', `${what} ${printable(String(value), 24)} is beyond 2^53`);
  return Number(value);
}

/**
 * A proof from the server, checked for shape before any hashing: at most MAX_PROOF_HASHES hashes
 * (enough for any tree of 2^53 − 1 leaves), each exactly 32 bytes.
 */
export function requireProofShape(rpc: string, proof: readonly Uint8Array[]): Uint8Array[] {
  if (proof.length > MAX_PROOF_HASHES) throw new ServerResponseError(rpc, ResponseCode.UNKNOWN, 'UNKNOWN', `a proof of ${proof.length} hashes (at most ${MAX_PROOF_HASHES})`);
  if (proof.some((hash) => hash.length !== MERKLE_HASH_BYTES))
    throw new ServerResponseError(rpc, ResponseCode.UNKNOWN, 'UNKNOWN', `a proof hash that is not ${MERKLE_HASH_BYTES} bytes`);
  return [...proof];
}
