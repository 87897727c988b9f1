/**
 * One KEM epoch of the sparse ratchet (docs/protocol-v2.md), pure: the side that opens the epoch
 * (`EpochOffer`) makes a fresh KEM key pair and streams its public key in erasure-coded chunks;
 * the other side (`EpochAnswer`), once any k chunks are in, encapsulates to it and streams the
 * ciphertext back the same way; both then hold the epoch's root
 *
 *   RK_{e+1} = HKDF(ss, salt = RK_e, info = "pqe2ee/v2/epoch" ‖ e+1 ‖ transcript ‖ H(pk) ‖ H(ct)).
 *
 * Chunks are public data; the caller carries them inside authenticated messages and hands a chunk
 * to `receive` only after its message authenticated. Nothing here touches the chains: the caller
 * switches them when it has the root (the offer side at once, the answer side when the first
 * message under the new root authenticates).
 */
import type { CipherSuite } from '../../crypto/index.js';
import { wipe } from '../../crypto/bytes.js';
import { InvalidLengthError, MalformedMessageError, SessionStateError } from '../../errors.js';
import { label, lengthPrefixed, u32 } from '../encoding.js';
import { ChunkDecoder, ChunkEncoder, chunkLayout, MAX_CHUNKS } from './erasure-code.js';

const EPOCH_INFO = label('pqe2ee/v2/epoch');
/** Roots are 32 bytes, like the v1 root keys. */
export const EPOCH_ROOT_BYTES = 32;

/** What a chunk carries: which epoch, which payload, which evaluation point. */
export interface EpochChunk {
  readonly epoch: number;
  readonly kind: 'key' | 'ciphertext';
  readonly index: number;
  readonly bytes: Uint8Array;
}

/** What both sides agree on before the epoch starts. */
export interface EpochContext {
  readonly suite: CipherSuite;
  /** The epoch being opened (the previous one plus one). */
  readonly epoch: number;
  /** RK_e; copied. */
  readonly previousRoot: Uint8Array;
  /** Binds the epoch to the session (e.g. both identities and the session id); copied. */
  readonly transcript: Uint8Array;
  /** Bytes of payload per chunk. */
  readonly chunkBytes: number;
}

function requireContext(context: EpochContext): void {
  if (!Number.isSafeInteger(context.epoch) || context.epoch < 1) throw new InvalidLengthError('an epoch number is a positive integer');
  if (!(context.previousRoot instanceof Uint8Array) || context.previousRoot.length !== EPOCH_ROOT_BYTES) throw new InvalidLengthError(`a root is ${EPOCH_ROOT_BYTES} bytes`);
  if (!(context.transcript instanceof Uint8Array)) throw new InvalidLengthError('the transcript is bytes');
  chunkLayout(context.suite.params.kemPublicKeyBytes, context.chunkBytes);
  chunkLayout(context.suite.params.kemCiphertextBytes, context.chunkBytes);
}

/** RK_{e+1} from the KEM secret, bound to the epoch, the transcript and both public values. */
export function epochRoot(context: EpochContext, sharedSecret: Uint8Array, publicKey: Uint8Array, ciphertext: Uint8Array): Uint8Array {
  const { suite } = context;
  const info = lengthPrefixed(EPOCH_INFO, u32(context.epoch), context.transcript, suite.hash(publicKey), suite.hash(ciphertext));
  return suite.hkdf(sharedSecret, context.previousRoot, info, EPOCH_ROOT_BYTES);
}

/** Checks that `chunk` belongs to this epoch and kind; the decoder checks index and size. */
function requireChunk(chunk: EpochChunk, epoch: number, kind: EpochChunk['kind']): void {
  if (chunk.epoch !== epoch) throw new MalformedMessageError(`a chunk of epoch ${chunk.epoch}, not ${epoch}`);
  if (chunk.kind !== kind) throw new MalformedMessageError(`a ${chunk.kind} chunk where a ${kind} chunk was expected`);
}

/** Round-robin over every evaluation point: repair chunks follow the data, then it starts again. */
class ChunkCursor {
  private next = 0;
  take(): number {
    const index = this.next;
    this.next = (this.next + 1) % MAX_CHUNKS;
    return index;
  }
}

/** The side that opens the epoch. */
export class EpochOffer {
  private readonly context: EpochContext;
  private readonly publicKey: Uint8Array;
  private secretKey: Uint8Array | undefined;
  private readonly encoder: ChunkEncoder;
  private readonly cursor = new ChunkCursor();
  private readonly answer: ChunkDecoder;
  private result: Uint8Array | undefined;

  constructor(context: EpochContext) {
    requireContext(context);
    this.context = { ...context, previousRoot: context.previousRoot.slice(), transcript: context.transcript.slice() };
    const pair = context.suite.kem.keygen();
    this.publicKey = pair.publicKey;
    this.secretKey = pair.secretKey;
    this.encoder = new ChunkEncoder(pair.publicKey, context.chunkBytes);
    this.answer = new ChunkDecoder(chunkLayout(context.suite.params.kemCiphertextBytes, context.chunkBytes));
  }

  /** The next chunk of the public key to send (cycling, so lost chunks are made up by others). */
  nextChunk(): EpochChunk {
    const index = this.cursor.take();
    return { epoch: this.context.epoch, kind: 'key', index, bytes: this.encoder.chunk(index) };
  }

  /** The root, once the ciphertext is complete; undefined before. */
  get root(): Uint8Array | undefined {
    return this.result?.slice();
  }

  /**
   * Takes an authenticated ciphertext chunk; returns the root when this chunk completed the
   * ciphertext (decapsulated and the secret key erased), undefined otherwise.
   */
  receive(chunk: EpochChunk): Uint8Array | undefined {
    requireChunk(chunk, this.context.epoch, 'ciphertext');
    if (this.result) return undefined;
    if (!this.secretKey) throw new SessionStateError('the epoch offer was disposed');
    if (!this.answer.add(chunk.index, chunk.bytes) || !this.answer.complete) return undefined;
    const ciphertext = this.answer.decode();
    const sharedSecret = this.context.suite.kem.decaps(this.secretKey, ciphertext);
    try {
      this.result = epochRoot(this.context, sharedSecret, this.publicKey, ciphertext);
    } finally {
      wipe(sharedSecret);
      this.dispose();
    }
    return this.result.slice();
  }

  /** Erases the secret key (an epoch given up, or done). */
  dispose(): void {
    if (this.secretKey) wipe(this.secretKey);
    this.secretKey = undefined;
  }
}

/** The side that answers the epoch. */
export class EpochAnswer {
  private readonly context: EpochContext;
  private readonly offer: ChunkDecoder;
  private encoder: ChunkEncoder | undefined;
  private readonly cursor = new ChunkCursor();
  private result: Uint8Array | undefined;

  constructor(context: EpochContext) {
    requireContext(context);
    this.context = { ...context, previousRoot: context.previousRoot.slice(), transcript: context.transcript.slice() };
    this.offer = new ChunkDecoder(chunkLayout(context.suite.params.kemPublicKeyBytes, context.chunkBytes));
  }

  /** The root, once the public key is complete (encapsulated); undefined before. */
  get root(): Uint8Array | undefined {
    return this.result?.slice();
  }

  /**
   * Takes an authenticated public-key chunk; when it completes the key, encapsulates to it and
   * returns the root. A public key the KEM refuses (e.g. ML-KEM's modulus check) throws, and the
   * epoch stays unanswered: the peer's next epoch replaces it.
   */
  receive(chunk: EpochChunk): Uint8Array | undefined {
    requireChunk(chunk, this.context.epoch, 'key');
    if (this.result) return undefined;
    if (!this.offer.add(chunk.index, chunk.bytes) || !this.offer.complete) return undefined;
    const publicKey = this.offer.decode();
    const { ciphertext, sharedSecret } = this.context.suite.kem.encaps(publicKey);
    try {
      this.result = epochRoot(this.context, sharedSecret, publicKey, ciphertext);
    } finally {
      wipe(sharedSecret);
    }
    this.encoder = new ChunkEncoder(ciphertext, this.context.chunkBytes);
    return this.result.slice();
  }

  /** The next ciphertext chunk to send, once the key is complete; undefined before. */
  nextChunk(): EpochChunk | undefined {
    if (!this.encoder) return undefined;
    const index = this.cursor.take();
    return { epoch: this.context.epoch, kind: 'ciphertext', index, bytes: this.encoder.chunk(index) };
  }
}
