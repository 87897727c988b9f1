// Real-browser test of the packaged crypto layer: dist/crypto.js (the esbuild bundle with the wasm
// core embedded) loaded as an ES module in headless Chromium, driven from Node by playwright-core.
//
// Needs Debian's chromium at /usr/bin/chromium (`apt-get install -y chromium`), or a Chromium binary
// in PQE2EE_CHROMIUM. Without it the test fails (it does not skip).
//
// The code run in the page lives in in-page.ts (served transpiled as /in-page.js); it is imported
// into the page with `import()` inside page.evaluate, next to `import('/dist/crypto.js')`.
import { execFileSync } from 'node:child_process';
import { createCipheriv, createHash, createHmac, createPrivateKey, createPublicKey, diffieHellman, generateKeyPairSync, hkdfSync, sign as nodeSign } from 'node:crypto';
import { existsSync, readdirSync, readFileSync, statSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { ml_dsa87 } from '@noble/post-quantum/ml-dsa.js';
import { ml_kem1024 } from '@noble/post-quantum/ml-kem.js';
import type { Browser, BrowserContext, Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import * as nodeApi from '../../src/crypto/index.js';
import { launchChromium, requireChromium, within } from './chromium.js';
import { deterministicVectors, fixedInputs, toHex, type FirstUse, type Outcome, type SuiteRoundtrip } from './in-page.js';
import { startStaticServer, type StaticServer } from './static-server.js';

const here = path.dirname(fileURLToPath(import.meta.url));
const repoRoot = path.resolve(here, '../..');
const distEntry = path.join(repoRoot, 'dist', 'crypto.js');
/** Bound on any single step in the page (page.evaluate has no timeout of its own). */
const STEP_MS = 25_000;
const TEST_MS = 40_000;

// ---------------------------------------------------------------------------------------------------
// Helpers

function sourceFiles(dir: string): string[] {
  return readdirSync(dir, { withFileTypes: true }).flatMap((entry) => {
    const full = path.join(dir, entry.name);
    return entry.isDirectory() ? sourceFiles(full) : [full];
  });
}

/** Why dist/ must be rebuilt, or undefined when dist/crypto.js and its chunks are newer than every source. */
function staleReason(): string | undefined {
  if (!existsSync(distEntry)) return 'dist/crypto.js is missing';
  const entry = readFileSync(distEntry, 'utf8');
  for (const [, chunk] of entry.matchAll(/from\s+["']\.\/([^"']+)["']/g)) {
    if (!existsSync(path.join(repoRoot, 'dist', chunk as string))) return `dist/${chunk} (imported by dist/crypto.js) is missing`;
  }
  const built = statSync(distEntry).mtimeMs;
  const sources = [
    ...sourceFiles(path.join(repoRoot, 'bindings')),
    ...sourceFiles(path.join(repoRoot, 'src')),
    path.join(repoRoot, 'scripts', 'build.mjs'),
    path.join(repoRoot, 'tsconfig.build.json'),
  ];
  const newer = sources.find((file) => statSync(file).mtimeMs > built);
  return newer ? `${path.relative(repoRoot, newer)} is newer than dist/crypto.js` : undefined;
}

const hex = (bytes: Uint8Array | Buffer): string => Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength).toString('hex');

/** node:crypto key objects from raw 32-byte keys; the DER prefixes come from keys node itself exports. */
function derPrefix(type: 'x25519' | 'ed25519') {
  const { privateKey, publicKey } = generateKeyPairSync(type as 'x25519');
  const pkcs8 = privateKey.export({ format: 'der', type: 'pkcs8' });
  const spki = publicKey.export({ format: 'der', type: 'spki' });
  return { pkcs8: pkcs8.subarray(0, pkcs8.length - 32), spki: spki.subarray(0, spki.length - 32) };
}
function nodeKeys(type: 'x25519' | 'ed25519', secret: Uint8Array) {
  const prefix = derPrefix(type);
  const privateKey = createPrivateKey({ key: Buffer.concat([prefix.pkcs8, secret]), format: 'der', type: 'pkcs8' });
  const spki = createPublicKey(privateKey).export({ format: 'der', type: 'spki' });
  const rawPublic = spki.subarray(spki.length - 32);
  const publicKeyOf = (raw: Uint8Array) => createPublicKey({ key: Buffer.concat([prefix.spki, raw]), format: 'der', type: 'spki' });
  return { privateKey, rawPublic, publicKeyOf };
}

function nodeGcm(key: Uint8Array, nonce: Uint8Array, plaintext: Uint8Array, aad?: Uint8Array): string {
  const cipher = createCipheriv('aes-256-gcm', key, nonce);
  if (aad) cipher.setAAD(aad);
  return hex(Buffer.concat([cipher.update(plaintext), cipher.final(), cipher.getAuthTag()]));
}

/** Names whose values differ (or are missing on one side), for a readable failure. */
function mismatches(actual: Record<string, string>, expected: Record<string, string>): string[] {
  const names = new Set([...Object.keys(actual), ...Object.keys(expected)]);
  return [...names].filter((name) => actual[name] !== expected[name]).sort();
}

// JS run in every page before its own scripts: records how WebAssembly was compiled, so the
// wasmUrl tests can tell streaming from the embedded-bytes fallback (which would otherwise hide a
// broken streaming path).
const WASM_PROBE = `(() => {
  const log = [];
  Object.defineProperty(window, '__wasmLog', { value: log });
  for (const name of ['instantiateStreaming', 'compileStreaming', 'compile', 'instantiate']) {
    const original = WebAssembly[name];
    WebAssembly[name] = function (...args) {
      const entry = { fn: name, outcome: 'pending' };
      log.push(entry);
      return original.apply(this, args).then(
        (value) => { entry.outcome = 'resolved'; return value; },
        (error) => { entry.outcome = 'rejected: ' + error; throw error; },
      );
    };
  }
})();`;

interface WasmLogEntry {
  fn: string;
  outcome: string;
}

// ---------------------------------------------------------------------------------------------------

describe('pqe2ee/crypto (dist/crypto.js) in headless Chromium', () => {
  let server: StaticServer | undefined;
  let browser: Browser | undefined;
  const contexts: BrowserContext[] = [];
  const nodeVectors = deterministicVectors(nodeApi);
  let browserVectors: Promise<Record<string, string>> | undefined;

  // A setup failure is recorded and re-thrown by every test, so each one FAILS with the reason
  // (a throwing beforeAll would only mark the tests as skipped under a failed suite).
  let setupError: unknown;
  function requireSetup(): { server: StaticServer; browser: Browser } {
    if (setupError !== undefined) throw setupError;
    if (!browser || !server) throw new Error('browser test setup did not complete');
    return { server, browser };
  }

  beforeAll(async () => {
    try {
      await setUp();
    } catch (error) {
      setupError = error;
    }
  }, 120_000);

  async function setUp(): Promise<void> {
    requireChromium();
    const reason = staleReason();
    if (reason) {
      console.info(`browser test: building the package (${reason})`);
      try {
        execFileSync(process.execPath, [path.join(repoRoot, 'scripts', 'build.mjs')], {
          cwd: repoRoot,
          stdio: 'pipe',
          encoding: 'utf8',
          timeout: 100_000,
        });
      } catch (error) {
        const e = error as { stdout?: string; stderr?: string; signal?: string };
        const output = `${e.stdout ?? ''}${e.stderr ?? ''}`.trim().split('\n').slice(0, 40).join('\n');
        throw new Error(`\`node scripts/build.mjs\` failed${e.signal ? ` (${e.signal})` : ''}; its output:\n${output}`);
      }
      const still = staleReason();
      if (still) throw new Error(`node scripts/build.mjs ran but dist/ is still not usable: ${still}`);
    }
    server = await startStaticServer(repoRoot, path.join(here, 'in-page.ts'));
    browser = await launchChromium();
  }

  afterAll(async () => {
    await within(
      (async () => {
        for (const context of contexts) await context.close().catch(() => undefined);
        await browser?.close();
      })(),
      15_000,
      'closing chromium',
    ).finally(() => server?.close());
  }, 20_000);

  /** A new page in a new browser context (own module map, no shared cache), showing the blank test page. */
  async function freshPage(initScript = ''): Promise<{ page: Page; pageErrors: string[] }> {
    const { browser, server } = requireSetup();
    const context = await browser.newContext();
    contexts.push(context);
    context.setDefaultTimeout(STEP_MS);
    const page = await context.newPage();
    const pageErrors: string[] = [];
    page.on('pageerror', (error) => pageErrors.push(String(error)));
    await page.addInitScript({ content: WASM_PROBE + initScript });
    await page.goto(`${server.origin}/`, { timeout: STEP_MS });
    return { page, pageErrors };
  }

  /**
   * Runs `body` in an async function in the page, with `api` = import('/dist/crypto.js') and
   * `inPage` = import('/in-page.js'). A string, so no test-runner transform touches browser code.
   */
  function run<T>(page: Page, body: string, what: string): Promise<T> {
    const script = `(async () => {
      const [api, inPage] = await Promise.all([import('/dist/crypto.js'), import('/in-page.js')]);
      ${body}
    })()`;
    return within(page.evaluate(script) as Promise<T>, STEP_MS, what);
  }

  function getBrowserVectors(): Promise<Record<string, string>> {
    requireSetup();
    browserVectors ??= freshPage().then(({ page }) => run<Record<string, string>>(page, 'await api.ready(); return inPage.deterministicVectors(api);', 'deterministic vectors'));
    return browserVectors;
  }

  const expectDecryptionFailed = (o: Outcome, where: string): void => {
    expect(o, where).toMatchObject({ threw: true, code: 'ERR_DECRYPTION_FAILED', name: 'DecryptionFailedError', isPqe2eeError: true });
  };

  it(
    'after await ready(): KEM, signature and AEAD roundtrips in suites 1, 2 and 3; tampering is rejected',
    async () => {
      const { page, pageErrors } = await freshPage();
      const result = await run<{
        platformAead: boolean;
        listed: number[];
        unknownSuite: Outcome;
        suites: SuiteRoundtrip[];
      }>(
        page,
        `await api.ready();
       return {
         platformAead: api.platformAeadAvailable,
         listed: api.listSuites().map((s) => s.params.id),
         unknownSuite: inPage.outcome(api, () => api.getSuite(9)),
         suites: inPage.suiteRoundtrips(api),
       };`,
        'suite roundtrips',
      );
      expect(result.platformAead, 'no node:crypto in a browser: the wasm core does all AES-GCM').toBe(false);
      expect(result.listed).toEqual([1, 2, 3]);
      expect(result.unknownSuite).toMatchObject({ threw: true, code: 'ERR_UNKNOWN_SUITE', isPqe2eeError: true });
      expect(result.suites.map((s) => s.id)).toEqual([1, 2, 3]);
      for (const s of result.suites) {
        const where = `suite ${s.id} (${s.name})`;
        expect(s.name).toBe(nodeApi.getSuite(s.id).params.name);
        expect(s.kemSharedSecretsEqual, `${where}: decaps(encaps) shared secret`).toBe(true);
        expect(s.kemSharedSecretLength, where).toBe(32);
        expect(s.kemFreshKeysDiffer, `${where}: two random keygens`).toBe(true);
        expect(s.sigValid, `${where}: valid signature verifies`).toBe(true);
        expect(s.sigFlippedRejected, `${where}: first-bit-flipped signature rejected`).toBe(true);
        expect(s.sigFlippedLastByteRejected, `${where}: last-byte-flipped signature rejected`).toBe(true);
        expect(s.sigWrongMessageRejected, `${where}: signature over another message rejected`).toBe(true);
        for (const a of s.aead) {
          const at = `${where}, AEAD ${a.length} bytes`;
          expect(a.roundtrip, `${at}: roundtrip`).toBe(true);
          expect(a.ciphertextLength, at).toBe(a.length + 16);
          expectDecryptionFailed(a.tamperedCiphertext, `${at}: tampered ciphertext`);
          expectDecryptionFailed(a.tamperedTag, `${at}: tampered tag`);
          expectDecryptionFailed(a.wrongAad, `${at}: wrong aad`);
        }
      }
      expect(pageErrors).toEqual([]);
    },
    TEST_MS,
  );

  it(
    'deterministic outputs in the browser equal the same computation in Node (src/)',
    async () => {
      const vectors = await getBrowserVectors();
      expect(Object.keys(vectors).length).toBeGreaterThan(60);
      expect(mismatches(vectors, nodeVectors), 'names whose browser and Node values differ').toEqual([]);
      expect(vectors).toEqual(nodeVectors);
    },
    TEST_MS,
  );

  it(
    'browser outputs equal independent implementations (node:crypto, @noble/post-quantum)',
    async () => {
      const v = await getBrowserVectors();
      const i = fixedInputs();

      // AES-256-GCM: bindings (wasm) and the suite AEAD (wasm in the browser) vs OpenSSL.
      expect(v['aes256gcm.short']).toBe(nodeGcm(i.aesKey, i.aesNonce, i.shortPlaintext, i.aad));
      expect(v['aes256gcm.long']).toBe(nodeGcm(i.aesKey, i.aesNonce, i.longPlaintext, i.aad));
      expect(v['aes256gcm.emptyPlaintext']).toBe(nodeGcm(i.aesKey, i.aesNonce, new Uint8Array(0), i.aad));
      for (const id of [1, 2, 3]) {
        expect(v[`suite${id}.aead.200`]).toBe(nodeGcm(i.aesKey, i.aesNonce, i.suitePlaintext, i.aad));
        expect(v[`suite${id}.aead.short`]).toBe(nodeGcm(i.aesKey, i.aesNonce, i.shortPlaintext));
        expect(v[`suite${id}.hash`]).toBe(createHash('sha256').update(i.message).digest('hex'));
      }

      // Hashes, HMAC, HKDF.
      expect(v['sha256']).toBe(createHash('sha256').update(i.message).digest('hex'));
      expect(v['sha256.long']).toBe(createHash('sha256').update(i.longPlaintext).digest('hex'));
      expect(v['sha256.empty']).toBe(createHash('sha256').digest('hex'));
      expect(v['sha3_256']).toBe(createHash('sha3-256').update(i.message).digest('hex'));
      expect(v['shake256.77']).toBe(createHash('shake256', { outputLength: 77 }).update(i.message).digest('hex'));
      expect(v['hmacSha256']).toBe(createHmac('sha256', i.hmacKey).update(i.message).digest('hex'));
      expect(v['hkdfSha256.42']).toBe(hex(new Uint8Array(hkdfSync('sha256', i.hkdfIkm, i.hkdfSalt, i.hkdfInfo, 42))));
      expect(v['hkdfSha256.emptySalt.100']).toBe(hex(new Uint8Array(hkdfSync('sha256', i.hkdfIkm, new Uint8Array(0), i.hkdfInfo, 100))));

      // X25519 and Ed25519 vs OpenSSL.
      const a = nodeKeys('x25519', i.x25519SecretA);
      const b = nodeKeys('x25519', i.x25519SecretB);
      expect(v['x25519.publicKeyA']).toBe(hex(a.rawPublic));
      expect(v['x25519.publicKeyB']).toBe(hex(b.rawPublic));
      expect(v['x25519.scalarMult']).toBe(hex(diffieHellman({ privateKey: a.privateKey, publicKey: b.publicKeyOf(b.rawPublic) })));
      expect(v['x25519.sharedSecret.BA']).toBe(v['x25519.scalarMult']);
      const ed = nodeKeys('ed25519', i.ed25519Seed);
      expect(v['ed25519.publicKey']).toBe(hex(ed.rawPublic));
      expect(v['ed25519.signature']).toBe(hex(nodeSign(null, i.message, ed.privateKey)));
      expect(v['ed25519.verify']).toBe('true');

      // ML-KEM-1024 and ML-DSA-87 vs @noble/post-quantum.
      const kem = ml_kem1024.keygen(i.mlkemSeed);
      expect(v['mlkem1024.publicKey']).toBe(toHex(kem.publicKey));
      expect(v['mlkem1024.secretKey']).toBe(toHex(kem.secretKey));
      const enc = ml_kem1024.encapsulate(kem.publicKey, i.mlkemCoins);
      expect(v['mlkem1024.ciphertext']).toBe(toHex(enc.cipherText));
      expect(v['mlkem1024.sharedSecret']).toBe(toHex(enc.sharedSecret));
      expect(v['mlkem1024.decaps']).toBe(toHex(enc.sharedSecret));
      const dsa = ml_dsa87.keygen(i.mldsaSeed);
      expect(v['mldsa87.publicKey']).toBe(toHex(dsa.publicKey));
      expect(v['mldsa87.signature.rnd']).toBe(toHex(ml_dsa87.sign(i.message, dsa.secretKey, { extraEntropy: i.mldsaRnd })));
      expect(v['mldsa87.signature.zeroRnd.context']).toBe(toHex(ml_dsa87.sign(i.message, dsa.secretKey, { context: i.context, extraEntropy: false })));
    },
    TEST_MS,
  );

  it(
    'ready({ wasmUrl }) streams the module from the URL in a fresh page',
    async () => {
      // The served file must be the module the bundle embeds, or this would test another core.
      const served = readFileSync(path.join(repoRoot, 'wasm', 'pqe2ee_core.wasm'));
      expect(createHash('sha256').update(served).digest('hex'), 'wasm/pqe2ee_core.wasm vs embedded core').toBe(nodeApi.coreWasmSha256);

      const { page, pageErrors } = await freshPage();
      const result = await run<{ log: WasmLogEntry[]; vectors: Record<string, string> }>(
        page,
        `await api.ready({ wasmUrl: '/wasm/pqe2ee_core.wasm' });
       return { log: window.__wasmLog, vectors: inPage.deterministicVectors(api) };`,
        'ready({ wasmUrl })',
      );
      expect(result.log, 'streamed, and not compiled from the embedded bytes').toEqual([{ fn: 'instantiateStreaming', outcome: 'resolved' }]);
      const fetched = requireSetup().server.requests.filter((r) => r.path === '/wasm/pqe2ee_core.wasm');
      expect(fetched).toEqual([{ method: 'GET', path: '/wasm/pqe2ee_core.wasm', status: 200, contentType: 'application/wasm' }]);
      expect(mismatches(result.vectors, nodeVectors)).toEqual([]);
      expect(pageErrors).toEqual([]);
    },
    TEST_MS,
  );

  it(
    'ready({ wasmUrl: "/missing.wasm" }) falls back to the embedded bytes in a fresh page',
    async () => {
      const { page, pageErrors } = await freshPage();
      const result = await run<{ log: WasmLogEntry[]; vectors: Record<string, string> }>(
        page,
        `await api.ready({ wasmUrl: '/missing.wasm' });
       return { log: window.__wasmLog, vectors: inPage.deterministicVectors(api) };`,
        'ready({ wasmUrl: missing })',
      );
      expect(result.log.map((e) => e.fn)).toEqual(['instantiateStreaming', 'compile', 'instantiate']);
      expect(result.log[0]?.outcome).toMatch(/^rejected: /);
      expect(result.log.slice(1).map((e) => e.outcome)).toEqual(['resolved', 'resolved']);
      expect(
        requireSetup()
          .server.requests.filter((r) => r.path === '/missing.wasm')
          .map((r) => r.status),
      ).toEqual([404]);
      expect(mismatches(result.vectors, nodeVectors)).toEqual([]);
      expect(pageErrors).toEqual([]);
    },
    TEST_MS,
  );

  it(
    'a synchronous first use without ready() works or throws ERR_CORE_NOT_READY',
    async () => {
      const { page, pageErrors } = await freshPage();
      const result = await run<FirstUse>(page, 'return inPage.firstUseWithoutReady(api);', 'first use without ready()');
      const expected = createHash('sha256').update(fixedInputs().message).digest('hex');
      if (result.sync.threw) {
        expect(result.sync, 'the only acceptable error').toMatchObject({
          code: 'ERR_CORE_NOT_READY',
          name: 'CoreNotReadyError',
          isPqe2eeError: true,
        });
        console.info(`browser test: synchronous first use threw ERR_CORE_NOT_READY (${result.sync.message})`);
      } else {
        expect(result.syncSha256, 'synchronous first use result').toBe(expected);
        console.info('browser test: synchronous first use compiled the core synchronously and worked');
      }
      expect(result.afterReadySha256, 'after await ready()').toBe(expected);
      expect(pageErrors).toEqual([]);
    },
    TEST_MS,
  );

  it(
    'when the browser refuses a synchronous compile, first use throws ERR_CORE_NOT_READY and ready() recovers',
    async () => {
      // Chromium refuses `new WebAssembly.Module` on the main thread only above 8 MB, more than this
      // core, so the refusal is simulated (with the RangeError Chromium throws) to reach that branch.
      const { page, pageErrors } = await freshPage(`;(() => {
      const Original = WebAssembly.Module;
      const Refusing = function Module() {
        throw new RangeError('WebAssembly.Module(): simulated refusal of a synchronous compile on the main thread');
      };
      Refusing.prototype = Original.prototype;
      WebAssembly.Module = Refusing;
    })();`);
      const result = await run<FirstUse & { log: WasmLogEntry[] }>(
        page,
        'const firstUse = await inPage.firstUseWithoutReady(api); return { ...firstUse, log: window.__wasmLog };',
        'first use with synchronous compile refused',
      );
      expect(result.sync).toMatchObject({ threw: true, code: 'ERR_CORE_NOT_READY', name: 'CoreNotReadyError', isPqe2eeError: true });
      expect(result.log).toEqual([
        { fn: 'compile', outcome: 'resolved' },
        { fn: 'instantiate', outcome: 'resolved' },
      ]);
      expect(result.afterReadySha256).toBe(createHash('sha256').update(fixedInputs().message).digest('hex'));
      expect(pageErrors).toEqual([]);
    },
    TEST_MS,
  );
});
