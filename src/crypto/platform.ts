/**
 * node:crypto when this runs in Node, for the hand-offs of aead.ts and hash.ts; undefined in
 * browsers (WebCrypto is async-only, so there the wasm core does everything).
 */

/** The hashing part of node:crypto (what createSuiteHash accepts as its platform). */
export interface PlatformSha256 {
  /** Incremental hashing (any Node version). */
  createHash(algorithm: string): { update(data: Uint8Array): { digest(): Uint8Array } };
  /** One-shot hashing (Node >= 20.12). */
  hash?: (algorithm: string, data: Uint8Array, outputEncoding: 'buffer') => Uint8Array;
}

/** The parts of node:crypto the hand-offs use. */
export interface NodeCrypto extends PlatformSha256 {
  createCipheriv(algorithm: string, key: Uint8Array, iv: Uint8Array, options?: { authTagLength: number }): NodeCipher;
  createDecipheriv(algorithm: string, key: Uint8Array, iv: Uint8Array, options?: { authTagLength: number }): NodeCipher;
}

/** A node:crypto AES-GCM cipher or decipher, as the AEAD hand-off uses it. */
export interface NodeCipher {
  setAAD(aad: Uint8Array): void;
  update(data: Uint8Array): Uint8Array;
  final(): Uint8Array;
  getAuthTag(): Uint8Array;
  setAuthTag(tag: Uint8Array): void;
}

function loadNodeCrypto(): NodeCrypto | undefined {
  // process.getBuiltinModule is synchronous and invisible to bundlers (Node >= 20.16).
  const nodeProcess = (globalThis as { process?: { getBuiltinModule?: (id: string) => unknown } }).process;
  try {
    return nodeProcess?.getBuiltinModule?.('node:crypto') as NodeCrypto | undefined;
  } catch {
    return undefined;
  }
}

export const nodeCrypto: NodeCrypto | undefined = loadNodeCrypto();
