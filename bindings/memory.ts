/**
 * Moving bytes in and out of wasm memory.
 *
 * Each call lays its inputs and outputs out in one scratch region of wasm memory, runs, copies
 * the outputs out and zeroes the whole region (inputs may be secret keys, outputs shared secrets).
 * The region is allocated once and reused, grown only when a call needs more, and given back when
 * an unusually large call is over, so repeated operations keep the module's memory flat.
 */
import { CoreError, InvalidLengthError, InvalidTypeError } from '../src/errors.js';
import { getCore, type CoreExports } from './loader.js';

/** Upper bound on any single input, to keep attacker-sized inputs from exhausting memory. */
export const MAX_INPUT_BYTES = 256 * 1024 * 1024;
/** Scratch kept between calls; larger regions are freed after use. */
const RETAINED_SCRATCH_BYTES = 256 * 1024;
/** Alignment of each slot in the region (the core reads words from these buffers). */
const SLOT_ALIGNMENT = 16;

let scratchPointer = 0;
let scratchCapacity = 0;
// One view of wasm memory, replaced only when growth swaps the underlying buffer.
let heapBuffer: ArrayBuffer | undefined;
let heapView = new Uint8Array(0);

function currentHeap(core: CoreExports): Uint8Array {
  const buffer = core.memory.buffer;
  if (buffer !== heapBuffer) {
    heapBuffer = buffer;
    heapView = new Uint8Array(buffer);
  }
  return heapView;
}

/** A laid-out call: pointers of each slot, filled inputs, and readers for outputs. */
export class Frame {
  readonly core: CoreExports;
  private readonly base: number;
  private used = 0;
  private readonly size: number;

  constructor(core: CoreExports, base: number, size: number) {
    this.core = core;
    this.base = base;
    this.size = size;
  }

  /** The current view of wasm memory (checked on every use: growth replaces the buffer). */
  heap(): Uint8Array {
    return currentHeap(this.core);
  }

  /** Reserves `length` bytes and returns their pointer. */
  reserve(length: number): number {
    const pointer = this.base + this.used;
    this.used += align(length);
    if (this.used > this.size) throw new CoreError('internal: scratch frame overflow');
    return pointer;
  }

  /** Copies `bytes` into a new slot and returns its pointer. */
  input(bytes: Uint8Array): number {
    const pointer = this.reserve(bytes.length);
    if (bytes.length > 0) this.heap().set(bytes, pointer);
    return pointer;
  }

  /** Copies `length` bytes at `pointer` out of wasm memory. */
  read(pointer: number, length: number): Uint8Array {
    return this.heap().slice(pointer, pointer + length);
  }

  /** Zeroes everything this frame used. */
  wipe(): void {
    this.heap().fill(0, this.base, this.base + this.used);
  }
}

function align(length: number): number {
  return Math.ceil(Math.max(length, 1) / SLOT_ALIGNMENT) * SLOT_ALIGNMENT;
}

/** Total scratch needed for slots of these lengths. */
export function frameSize(...lengths: number[]): number {
  let total = 0;
  for (const length of lengths) total += align(length);
  return total;
}

/**
 * Runs `body` with a frame of `size` bytes of wasm scratch; always zeroes the frame afterwards,
 * whether `body` returns or throws.
 */
export function withFrame<T>(size: number, body: (frame: Frame) => T): T {
  const core = getCore();
  if (size > scratchCapacity) {
    if (scratchPointer) core.pqe2ee_free(scratchPointer);
    scratchPointer = 0;
    scratchCapacity = 0;
    const capacity = Math.max(RETAINED_SCRATCH_BYTES, 2 ** Math.ceil(Math.log2(size)));
    const pointer = core.pqe2ee_alloc(capacity);
    if (pointer === 0) throw new CoreError(`out of wasm memory allocating ${capacity} bytes`);
    scratchPointer = pointer;
    scratchCapacity = capacity;
  }
  const frame = new Frame(core, scratchPointer, size);
  try {
    return body(frame);
  } finally {
    frame.wipe();
    if (scratchCapacity > RETAINED_SCRATCH_BYTES) {
      core.pqe2ee_free(scratchPointer);
      scratchPointer = 0;
      scratchCapacity = 0;
    }
  }
}

/** Throws unless `value` is a Uint8Array (of exactly `length` bytes, when given). */
export function requireBytes(name: string, value: unknown, length?: number): Uint8Array {
  if (!(value instanceof Uint8Array)) {
    throw new InvalidTypeError(`${name} must be a Uint8Array`);
  }
  if (length !== undefined && value.length !== length) {
    throw new InvalidLengthError(`${name} must be ${length} bytes, got ${value.length}`);
  }
  if (value.length > MAX_INPUT_BYTES) {
    throw new InvalidLengthError(`${name} exceeds the ${MAX_INPUT_BYTES}-byte input limit`);
  }
  return value;
}

/** Throws unless `value` is an integer in [min, max]. */
export function requireInteger(name: string, value: unknown, min: number, max: number): number {
  if (typeof value !== 'number' || !Number.isInteger(value)) {
    throw new InvalidTypeError(`${name} must be an integer`);
  }
  if (value < min || value > max) {
    throw new InvalidLengthError(`${name} must be between ${min} and ${max}, got ${value}`);
  }
  return value;
}

/** Cryptographically secure random bytes from the platform (crypto.getRandomValues). */
export function randomBytes(length: number): Uint8Array {
  requireInteger('length', length, 0, MAX_INPUT_BYTES);
  const bytes = new Uint8Array(length);
  for (let offset = 0; offset < length; offset += 65_536) {
    globalThis.crypto.getRandomValues(bytes.subarray(offset, Math.min(length, offset + 65_536)));
  }
  return bytes;
}

/** Runs `use` with fresh random bytes and zeroes them afterwards (seeds and coins are secrets). */
export function withRandomBytes<T>(length: number, use: (bytes: Uint8Array) => T): T {
  const bytes = randomBytes(length);
  try {
    return use(bytes);
  } finally {
    bytes.fill(0);
  }
}

/** Calls a core key-generation export `run(pk, sk, seed)` and returns the key pair it wrote. */
export function keyPairFromSeed(
  what: string,
  seed: Uint8Array,
  sizes: { seedBytes: number; publicKeyBytes: number; secretKeyBytes: number },
  run: (core: CoreExports, pk: number, sk: number, seed: number) => number,
): { publicKey: Uint8Array; secretKey: Uint8Array } {
  requireBytes('seed', seed, sizes.seedBytes);
  return withFrame(frameSize(sizes.publicKeyBytes, sizes.secretKeyBytes, sizes.seedBytes), (frame) => {
    const pk = frame.reserve(sizes.publicKeyBytes);
    const sk = frame.reserve(sizes.secretKeyBytes);
    const seedPointer = frame.input(seed);
    const status = run(frame.core, pk, sk, seedPointer);
    if (status !== 0) throw new CoreError(`${what} keygen: core status ${status}`);
    return { publicKey: frame.read(pk, sizes.publicKeyBytes), secretKey: frame.read(sk, sizes.secretKeyBytes) };
  });
}

/** Current size of the core's linear memory in bytes (for leak checks). */
export function coreMemoryBytes(): number {
  return getCore().memory.buffer.byteLength;
}
