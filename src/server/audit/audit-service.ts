/**
 * AuditService (src/proto/audit.proto) over the server's {@link ServerAuditLog}: what verifiers
 * and clients ask the log. Every call is public and charged to the caller's address, like the
 * sign-in calls; RegisterVerifier also needs the TLM's admin token. Bad input is BAD_REQUEST with
 * a reason; nothing secret is ever in a reason.
 */
import type { ServiceImpl } from '@connectrpc/connect';
import { AttestationError, AuditAccessDeniedError, AuditFormatError, AuditStateError, MerkleProofError } from '../../errors.js';
import type { AuditService } from '../../proto/gen/audit_pb.js';
import { ResponseCode } from '../../proto/gen/service_pb.js';
import { fail, ok, publicUnary, type Outcome, type RpcGate } from '../rpc.js';
import type { ServerStore } from '../store/types.js';
import { checkString } from '../validate.js';
import { MAX_AUDIT_PAGE, publishedDevice, type ServerAuditLog } from './audit-log.js';

type AuditHandlers = ServiceImpl<typeof AuditService>;

/** A uint64 from the wire as a safe integer, or undefined. */
function safeInteger(value: bigint): number | undefined {
  return value <= BigInt(Number.MAX_SAFE_INTEGER) ? Number(value) : undefined;
}

/** What a failure of the log's own checks means for the caller. */
function refusal(error: unknown): Outcome {
  if (error instanceof AuditAccessDeniedError) return fail(ResponseCode.FORBIDDEN, error.message);
  if (error instanceof AuditFormatError || error instanceof MerkleProofError || error instanceof AttestationError) return fail(ResponseCode.BAD_REQUEST, error.message);
  if (error instanceof AuditStateError) return fail(ResponseCode.EXPECTATION_FAILED, error.message);
  throw error;
}

/** Runs `answer`, turning the log's typed refusals into response codes (anything else is a 500). */
async function answering<Res>(answer: () => Promise<Res> | Res): Promise<Res | Outcome> {
  try {
    return await answer();
  } catch (error) {
    return refusal(error);
  }
}

export function auditService(gate: RpcGate, log: ServerAuditLog, store: ServerStore): AuditHandlers {
  const badSize = fail(ResponseCode.BAD_REQUEST, 'a size or index beyond 2^53');
  return {
    getAttestation: publicUnary(gate, async (request) => answering(() => ({ ...ok(), attestation: log.attest(request.nonce) }))),

    // Covers every stored entry, signed at most once per checkpoint interval (signing is the costly part).
    getCheckpoint: publicUnary(gate, async () => answering(() => ({ ...ok(), checkpoint: log.checkpoint(0).note }))),

    getConsistencyProof: publicUnary(gate, async (request) => {
      const from = safeInteger(request.fromSize);
      const to = safeInteger(request.toSize);
      if (from === undefined || to === undefined) return badSize;
      return answering(() => ({ ...ok(), proof: log.consistencyProof(from, to) }));
    }),

    getEntries: publicUnary(gate, async (request) => {
      const start = safeInteger(request.start);
      if (start === undefined) return badSize;
      if (request.count === 0 || request.count > MAX_AUDIT_PAGE) return fail(ResponseCode.BAD_REQUEST, `count must be 1 to ${MAX_AUDIT_PAGE}`);
      return { ...ok(), entries: await log.readEntries(start, request.count) };
    }),

    getInclusionProof: publicUnary(gate, async (request) => {
      const index = safeInteger(request.index);
      const size = safeInteger(request.treeSize);
      if (index === undefined || size === undefined) return badSize;
      return answering(() => ({ ...ok(), proof: log.inclusionProof(index, size) }));
    }),

    registerVerifier: publicUnary(gate, async (request) => {
      // Checked first and in constant time: a wrong token learns nothing about the request.
      if (!log.isAdmin(request.adminToken)) return fail(ResponseCode.UNAUTHORIZED, 'wrong admin token');
      return answering(() => {
        log.registerVerifier({ id: request.verifierId, kemPublicKey: request.kemPublicKey, entitlement: request.entitlement }, request.accessToken);
        return { ...ok('verifier registered') };
      });
    }),

    releaseKeys: publicUnary(gate, async (request) => {
      // First, and before anything is derived: only the verifier itself may make the TLM work for it.
      if (!log.verifierTokenMatches(request.verifierId, request.accessToken)) return fail(ResponseCode.UNAUTHORIZED, 'unknown verifier or wrong access token');
      if (request.indexes.length === 0 || request.indexes.length > MAX_AUDIT_PAGE) return fail(ResponseCode.BAD_REQUEST, `1 to ${MAX_AUDIT_PAGE} indexes per call`);
      const indexes: number[] = [];
      for (const value of request.indexes) {
        const index = safeInteger(value);
        if (index === undefined) return badSize;
        indexes.push(index);
      }
      return answering(async () => {
        const { keys, denied } = await log.releaseKeys(request.verifierId, indexes);
        const code = keys.length === 0 ? ResponseCode.FORBIDDEN : ResponseCode.OK;
        return {
          code,
          reason: keys.length === 0 ? 'no key of these entries may be released to this verifier' : `${keys.length} keys released, ${denied.length} denied`,
          keys: keys.map((k) => ({ index: BigInt(k.index), categoryMask: k.categoryMask, kemCiphertext: k.kemCiphertext, sealedKey: k.sealedKey })),
          denied: denied.map((i) => BigInt(i)),
        };
      });
    }),

    getMacStatement: publicUnary(gate, async () => answering(async () => ({ ...ok(), statement: await log.macStatement() }))),

    // For a device a client meets without a bundle (an invite, a group's member list): the same
    // evidence a bundle carries. A stored device without an entry gets one, as for bundles.
    getKeyInclusion: publicUnary(gate, async (request) => {
      const bad = checkString(request.userId, 'user_id') ?? checkString(request.deviceId, 'device_id');
      if (bad) return fail(ResponseCode.BAD_REQUEST, bad);
      const device = await store.getDevice(request.userId, request.deviceId);
      if (!device) return fail(ResponseCode.NOT_FOUND, 'unknown device');
      return answering(async () => {
        const index = await log.keyEntryFor(publishedDevice(device));
        const { note, size } = await log.checkpointCovering(index + 1);
        const inclusion = await log.keyInclusion(device.userId, device.deviceId, size);
        if (!inclusion) throw new Error('a key entry just recorded is not in the checkpoint');
        return { ...ok(), checkpoint: note, keyInclusion: { entry: inclusion.entry, index: BigInt(inclusion.index), proof: [...inclusion.proof] } };
      });
    }),
  };
}
