/**
 * A systematic maximum-distance-separable erasure code over GF(256) (Reed–Solomon by evaluation),
 * for the sparse KEM ratchet (DESIGN.md §4.1): a payload (a KEM public key or ciphertext) is cut
 * into k data chunks; chunk x, for every x in [0, 255), is the value at x of the polynomial of
 * degree < k that takes data chunk j at j (byte column by byte column). Chunks 0..k−1 are the data
 * itself, and any k distinct chunks give the payload back, so a receiver that loses a fifth of the
 * messages still completes after about k / 0.8 of them, whatever got lost, reordered or repeated.
 */
import { InvalidLengthError, MalformedMessageError } from '../../errors.js';
import { gfAddScaled, gfDiv, gfMul } from './gf256.js';

/** Distinct chunk indexes (evaluation points): 0 ≤ index < MAX_CHUNKS. */
export const MAX_CHUNKS = 255;

/** Payload size and chunk size of one coded payload. */
export interface ChunkLayout {
  readonly payloadBytes: number;
  readonly chunkBytes: number;
  /** Data chunks: any `dataChunks` distinct chunks decode. */
  readonly dataChunks: number;
}

/** The layout of a payload of `payloadBytes` in chunks of `chunkBytes` (the last data chunk zero-padded). */
export function chunkLayout(payloadBytes: number, chunkBytes: number): ChunkLayout {
  if (!Number.isSafeInteger(chunkBytes) || chunkBytes < 1 || chunkBytes > 4096) throw new InvalidLengthError('a chunk is 1 to 4096 bytes');
  if (!Number.isSafeInteger(payloadBytes) || payloadBytes < 1) throw new InvalidLengthError('a coded payload is at least 1 byte');
  const dataChunks = Math.ceil(payloadBytes / chunkBytes);
  // Room for as many repair chunks as data chunks, so loss of half still decodes.
  if (dataChunks * 2 > MAX_CHUNKS) throw new InvalidLengthError(`a payload of ${payloadBytes} B needs chunks larger than ${chunkBytes} B`);
  return { payloadBytes, chunkBytes, dataChunks };
}

/** Lagrange basis values L_j(x) for the points `points`, at `x`. */
function lagrangeAt(points: readonly number[], x: number): number[] {
  return points.map((xj, j) => {
    let numerator = 1;
    let denominator = 1;
    points.forEach((xm, m) => {
      if (m === j) return;
      numerator = gfMul(numerator, x ^ xm);
      denominator = gfMul(denominator, xj ^ xm);
    });
    return gfDiv(numerator, denominator);
  });
}

/** Makes chunks of one payload on demand. */
export class ChunkEncoder {
  readonly layout: ChunkLayout;
  private readonly data: Uint8Array[];
  private readonly dataPoints: number[];

  constructor(payload: Uint8Array, chunkBytes: number) {
    this.layout = chunkLayout(payload.length, chunkBytes);
    const { dataChunks } = this.layout;
    this.data = Array.from({ length: dataChunks }, (_, j) => {
      const chunk = new Uint8Array(chunkBytes);
      chunk.set(payload.subarray(j * chunkBytes, (j + 1) * chunkBytes));
      return chunk;
    });
    this.dataPoints = Array.from({ length: dataChunks }, (_, j) => j);
  }

  /** Chunk `index` (0 ≤ index < MAX_CHUNKS): a data chunk below `dataChunks`, a repair chunk above. */
  chunk(index: number): Uint8Array {
    if (!Number.isInteger(index) || index < 0 || index >= MAX_CHUNKS) throw new InvalidLengthError(`a chunk index is 0 to ${MAX_CHUNKS - 1}`);
    if (index < this.layout.dataChunks) return (this.data[index] as Uint8Array).slice();
    const out = new Uint8Array(this.layout.chunkBytes);
    for (const [j, factor] of lagrangeAt(this.dataPoints, index).entries()) gfAddScaled(out, this.data[j] as Uint8Array, factor);
    return out;
  }
}

/**
 * Collects chunks of one payload until any `dataChunks` distinct ones are in, then decodes.
 * Holds at most `dataChunks` chunks: repeats and chunks beyond what is needed are dropped.
 */
export class ChunkDecoder {
  readonly layout: ChunkLayout;
  private readonly received = new Map<number, Uint8Array>();

  constructor(layout: ChunkLayout) {
    this.layout = chunkLayout(layout.payloadBytes, layout.chunkBytes);
  }

  /** Distinct chunks held. */
  get count(): number {
    return this.received.size;
  }

  /** Whether enough chunks are in to decode. */
  get complete(): boolean {
    return this.received.size >= this.layout.dataChunks;
  }

  /** Adds chunk `index`; returns whether it was new and kept. */
  add(index: number, chunk: Uint8Array): boolean {
    if (!Number.isInteger(index) || index < 0 || index >= MAX_CHUNKS) throw new MalformedMessageError(`chunk index ${index} out of range`);
    if (!(chunk instanceof Uint8Array) || chunk.length !== this.layout.chunkBytes) throw new MalformedMessageError(`a chunk is ${this.layout.chunkBytes} bytes`);
    if (this.complete || this.received.has(index)) return false;
    this.received.set(index, chunk.slice());
    return true;
  }

  /** The payload, once complete (throws before). */
  decode(): Uint8Array {
    const { dataChunks, chunkBytes, payloadBytes } = this.layout;
    if (!this.complete) throw new MalformedMessageError(`${this.received.size} of ${dataChunks} chunks received`);
    const points = [...this.received.keys()].slice(0, dataChunks);
    const rows = points.map((x) => this.received.get(x) as Uint8Array);
    const payload = new Uint8Array(dataChunks * chunkBytes);
    for (let j = 0; j < dataChunks; j++) {
      const direct = this.received.get(j);
      const out = payload.subarray(j * chunkBytes, (j + 1) * chunkBytes);
      if (direct) out.set(direct);
      else for (const [t, factor] of lagrangeAt(points, j).entries()) gfAddScaled(out, rows[t] as Uint8Array, factor);
    }
    return payload.slice(0, payloadBytes);
  }
}
