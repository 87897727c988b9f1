/**
 * `pqe2ee audit register`, as a library function: makes a verifier's ML-KEM-1024 key pair and
 * registers its public half with the log's TLM (AuditService.RegisterVerifier, which needs the
 * TLM's admin token), with the categories the verifier may read and a fresh 32-byte access token:
 * the TLM keeps its SHA-256 and releases entry keys only to whoever shows the token again.
 */
import { randomFillSync } from 'node:crypto';
import { auditPrimitives } from '../../audit/key-schedule.js';
import { wipe } from '../../crypto/bytes.js';
import { InvalidClientInputError } from '../../errors.js';
import { ResponseCode } from '../../proto/gen/service_pb.js';
import { type AuditServiceClient, callAudit } from './audit-client.js';
import { ACCESS_TOKEN_BYTES, makeVerifierKey, VERIFIER_ID_PATTERN, type VerifierKey } from './key-file.js';

/** Options of {@link registerAuditVerifier}. */
export interface RegisterAuditVerifierOptions {
  readonly client: AuditServiceClient;
  /** The server's base URL, recorded in the key file. */
  readonly server: string;
  readonly adminToken: string;
  readonly verifierId: string;
  /** Category mask the verifier may read (see parseEntitlement). */
  readonly entitlement: number;
  /** The log's note verifier key text, given by the operator. */
  readonly logKeyText: string;
}

/**
 * Generates the verifier's KEM key pair and access token, registers them, and returns the key to
 * store (its `kemSecretKey` and `accessToken` are secret: the caller writes them to a 0600 file
 * and zeroes them). Throws ServerResponseError when the TLM refuses (wrong admin token, id taken
 * with another key or token, …).
 */
export async function registerAuditVerifier(options: RegisterAuditVerifierOptions): Promise<VerifierKey> {
  if (!VERIFIER_ID_PATTERN.test(options.verifierId)) throw new InvalidClientInputError('a verifier id is 1 to 128 printable ASCII characters without spaces');
  const { publicKey, secretKey } = auditPrimitives.kem.keygen();
  // Filled in place: no second copy of the token is left in a Buffer nobody zeroes.
  const accessToken = randomFillSync(new Uint8Array(ACCESS_TOKEN_BYTES));
  try {
    // Checked before registering, so a bad log key never leaves a registration without a key file.
    const key = makeVerifierKey({
      server: options.server,
      verifierId: options.verifierId,
      entitlement: options.entitlement,
      kemPublicKey: publicKey,
      kemSecretKey: secretKey,
      accessToken,
      logKeyText: options.logKeyText,
    });
    await callAudit(
      'RegisterVerifier',
      () =>
        options.client.registerVerifier({ adminToken: options.adminToken, verifierId: options.verifierId, kemPublicKey: publicKey, entitlement: options.entitlement, accessToken }),
      [ResponseCode.OK, ResponseCode.CREATED],
    );
    return key;
  } catch (error) {
    wipe(secretKey, accessToken);
    throw error;
  }
}
