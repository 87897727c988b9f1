/**
 * Loads the one shared instance of the wasm core.
 *
 * The module's bytes are embedded (core-wasm-base64.ts), so loading needs no fetch, no file
 * access and no flags, in Node and in any bundler. `ready()` compiles asynchronously (browsers may
 * restrict synchronous compilation on the main thread) and may instead stream the module from a
 * URL, falling back to the embedded bytes if that fails. Otherwise first use compiles synchronously.
 */
import { CORE_WASM_BASE64, CORE_WASM_SHA256 } from './core-wasm-base64.js';
import { CoreError, CoreNotReadyError } from '../src/errors.js';

/** The raw exports of the core (see native/pqe2ee_core.h). Pointers and sizes are wasm32 numbers. */
export interface CoreExports {
  readonly memory: WebAssembly.Memory;
  _initialize(): void;
  pqe2ee_alloc(length: number): number;
  pqe2ee_free(pointer: number): void;
  pqe2ee_abi_version(): number;
  /** Current stack pointer (emscripten runtime export); used by the stack-scrub test. */
  stackSave(): number;
  pqe2ee_mlkem1024_keypair_seed(pk: number, sk: number, seed: number): number;
  pqe2ee_mlkem1024_encaps_coins(ct: number, ss: number, pk: number, coins: number): number;
  pqe2ee_mlkem1024_decaps(ss: number, ct: number, sk: number): number;
  pqe2ee_mlkem768_keypair_seed(pk: number, sk: number, seed: number): number;
  pqe2ee_mlkem768_encaps_coins(ct: number, ss: number, pk: number, coins: number): number;
  pqe2ee_mlkem768_decaps(ss: number, ct: number, sk: number): number;
  pqe2ee_mldsa87_keypair_seed(pk: number, sk: number, seed: number): number;
  pqe2ee_mldsa87_sign_rnd(sig: number, m: number, mlen: number, ctx: number, ctxlen: number, sk: number, rnd: number): number;
  pqe2ee_mldsa87_verify(sig: number, siglen: number, m: number, mlen: number, ctx: number, ctxlen: number, pk: number): number;
  pqe2ee_mldsa65_keypair_seed(pk: number, sk: number, seed: number): number;
  pqe2ee_mldsa65_sign_rnd(sig: number, m: number, mlen: number, ctx: number, ctxlen: number, sk: number, rnd: number): number;
  pqe2ee_mldsa65_verify(sig: number, siglen: number, m: number, mlen: number, ctx: number, ctxlen: number, pk: number): number;
  pqe2ee_aes256gcm_encrypt(out: number, key: number, nonce: number, aad: number, aadlen: number, input: number, inlen: number): number;
  pqe2ee_aes256gcm_decrypt(out: number, key: number, nonce: number, aad: number, aadlen: number, input: number, inlen: number): number;
  pqe2ee_sha256(out: number, m: number, mlen: number): number;
  pqe2ee_sha3_256(out: number, m: number, mlen: number): number;
  pqe2ee_shake256(out: number, outlen: number, m: number, mlen: number): number;
  pqe2ee_hmac_sha256(out: number, key: number, keylen: number, m: number, mlen: number): number;
  pqe2ee_hkdf_sha256(out: number, outlen: number, ikm: number, ikmlen: number, salt: number, saltlen: number, info: number, infolen: number): number;
  pqe2ee_x25519_base(pk: number, sk: number): number;
  pqe2ee_x25519(out: number, sk: number, pk: number): number;
  pqe2ee_ed25519_keypair_seed(pk: number, sk: number, seed: number): number;
  pqe2ee_ed25519_sign(sig: number, m: number, mlen: number, sk: number): number;
  pqe2ee_ed25519_verify(sig: number, m: number, mlen: number, pk: number): number;
}

const EXPECTED_ABI_VERSION = 1;
/** crypto.getRandomValues fills at most 65 536 bytes per call. */
const MAX_RANDOM_CHUNK = 65_536;

let core: CoreExports | undefined;
let pending: Promise<CoreExports> | undefined;

/** Options of {@link ready}. */
export interface ReadyOptions {
  /**
   * Stream the module from this URL (the package's `wasm/pqe2ee_core.wasm`, served by your app,
   * lets the browser cache the compiled module). On any failure — network, MIME type, a module of
   * another ABI version — the embedded bytes are used instead. The streamed module is not hashed:
   * serve it from the same origin you trust for your JavaScript.
   */
  wasmUrl?: string | URL;
}

function decodeBase64(text: string): Uint8Array<ArrayBuffer> {
  const bufferClass = (globalThis as { Buffer?: { from(s: string, e: string): Uint8Array } }).Buffer;
  if (bufferClass) return new Uint8Array(bufferClass.from(text, 'base64'));
  const binary = atob(text);
  const bytes = new Uint8Array(binary.length);
  for (let i = 0; i < binary.length; i++) bytes[i] = binary.charCodeAt(i);
  return bytes;
}

/** The embedded module bytes (a fresh copy). */
export function coreWasmBytes(): Uint8Array<ArrayBuffer> {
  return decodeBase64(CORE_WASM_BASE64);
}

/** SHA-256 of the embedded module, as recorded in wasm/BUILD.json. */
export const coreWasmSha256: string = CORE_WASM_SHA256;

function importObject(getMemory: () => WebAssembly.Memory): WebAssembly.Imports {
  return {
    env: {
      pqe2ee_host_random(pointer: number, length: number): void {
        const memory = getMemory();
        for (let offset = 0; offset < length; offset += MAX_RANDOM_CHUNK) {
          const chunk = Math.min(MAX_RANDOM_CHUNK, length - offset);
          globalThis.crypto.getRandomValues(new Uint8Array(memory.buffer, pointer + offset, chunk));
        }
      },
      // Memory views are refreshed on every access (bindings/memory.ts), so growth needs no action.
      emscripten_notify_memory_growth(): void {},
    },
    wasi_snapshot_preview1: {
      // Reached only if C code aborts, which the core never does by design; surface it as an error.
      proc_exit(code: number): never {
        throw new CoreError(`wasm core aborted (exit ${code})`);
      },
    },
  };
}

function start(instance: WebAssembly.Instance): CoreExports {
  const exports = instance.exports as unknown as CoreExports;
  exports._initialize();
  const version = exports.pqe2ee_abi_version();
  if (version !== EXPECTED_ABI_VERSION) {
    throw new CoreError(`wasm core ABI version ${version}, bindings expect ${EXPECTED_ABI_VERSION}`);
  }
  return exports;
}

function requireRandomSource(): void {
  if (typeof globalThis.crypto?.getRandomValues !== 'function') {
    throw new CoreError('no crypto.getRandomValues in this environment: a secure random source is required');
  }
}

async function instantiateAsync(options: ReadyOptions): Promise<CoreExports> {
  requireRandomSource();
  if (options.wasmUrl !== undefined && typeof fetch === 'function') {
    try {
      let memory: WebAssembly.Memory | undefined;
      const imports = importObject(() => memory as WebAssembly.Memory);
      const { instance } = await WebAssembly.instantiateStreaming(fetch(options.wasmUrl), imports);
      memory = (instance.exports as unknown as CoreExports).memory;
      // A stale or foreign module fails here (missing exports, other ABI) and falls back too.
      return start(instance);
    } catch {
      // fall through to the embedded bytes
    }
  }
  let memory: WebAssembly.Memory | undefined;
  const module = await WebAssembly.compile(coreWasmBytes());
  const instance = await WebAssembly.instantiate(
    module,
    importObject(() => memory as WebAssembly.Memory),
  );
  memory = (instance.exports as unknown as CoreExports).memory;
  return start(instance);
}

/**
 * Compiles and starts the wasm core once; later calls return the same promise. Call it once before
 * using any primitive in a browser. In Node it is optional.
 */
export function ready(options: ReadyOptions = {}): Promise<void> {
  if (core) return Promise.resolve();
  pending ??= instantiateAsync(options).then(
    (exports) => {
      core ??= exports;
      return core;
    },
    (error: unknown) => {
      pending = undefined;
      throw error;
    },
  );
  return pending.then(() => undefined);
}

/** The started core, starting it synchronously on first use where the platform allows. */
export function getCore(): CoreExports {
  if (core) return core;
  requireRandomSource();
  let memory: WebAssembly.Memory | undefined;
  try {
    const module = new WebAssembly.Module(coreWasmBytes());
    const instance = new WebAssembly.Instance(
      module,
      importObject(() => memory as WebAssembly.Memory),
    );
    memory = (instance.exports as unknown as CoreExports).memory;
    core = start(instance);
    return core;
  } catch (error) {
    if (error instanceof CoreError) throw error;
    throw new CoreNotReadyError('the wasm core could not be compiled synchronously here (browsers refuse it on the main thread): call `await ready()` first');
  }
}
