/**
 * How the sparse ratchet's chunks travel in a header field: one byte of chunk index, then one
 * chunk of the erasure code (erasure-code.ts). Shared by epoch chunks (sparse-ratchet.ts) and
 * one-way step chunks (one-way-step.ts).
 */
import { create } from '@bufbuild/protobuf';
import { MalformedMessageError } from '../../errors.js';
import { EpochChunkStateSchema, type EpochChunkState } from '../../proto/gen/state_pb.js';
import { ChunkDecoder, ChunkEncoder, MAX_CHUNKS, type ChunkLayout } from './erasure-code.js';

/** A parsed chunk field. */
export interface HeaderChunk {
  index: number;
  chunk: Uint8Array;
}

/** Chunk `index` of `payload` as a header field. */
export function chunkField(payload: Uint8Array, layout: ChunkLayout, index: number): Uint8Array {
  const out = new Uint8Array(1 + layout.chunkBytes);
  out[0] = index;
  out.set(new ChunkEncoder(payload, layout.chunkBytes).chunk(index), 1);
  return out;
}

/** Parses a chunk field: undefined when empty, MalformedMessageError when of the wrong size. */
export function parseChunkField(field: Uint8Array, chunkBytes: number): HeaderChunk | undefined {
  if (field.length === 0) return undefined;
  if (field.length !== 1 + chunkBytes) throw new MalformedMessageError(`a chunk field is ${1 + chunkBytes} bytes`);
  const index = field[0] as number;
  if (index >= MAX_CHUNKS) throw new MalformedMessageError(`chunk index ${index} out of range`);
  return { index, chunk: field.subarray(1) };
}

/** A decoder holding `held` plus `chunk`, and whether the chunk was new. */
export function decoderWith(layout: ChunkLayout, held: readonly EpochChunkState[], chunk: HeaderChunk): { decoder: ChunkDecoder; added: boolean } {
  const decoder = new ChunkDecoder(layout);
  for (const c of held) decoder.add(c.index, c.chunk);
  return { decoder, added: decoder.add(chunk.index, chunk.chunk) };
}

/** `held` plus a copy of `chunk`. */
export function withChunk(held: readonly EpochChunkState[], chunk: HeaderChunk): EpochChunkState[] {
  return [...held, create(EpochChunkStateSchema, { index: chunk.index, chunk: chunk.chunk.slice() })];
}

/** The next index of a cycle through every evaluation point. */
export function nextChunkIndex(index: number): number {
  return (index + 1) % MAX_CHUNKS;
}
