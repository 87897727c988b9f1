// Real-browser test of the IndexedDB database handler (src/store/indexeddb.ts) in headless Chromium,
// driven by playwright-core. The page script is store-page.ts, bundled here with esbuild (src/store
// and the wasm core included) and served with a blank page by a small server on 127.0.0.1.
//
// Needs Debian's chromium at /usr/bin/chromium (or PQE2EE_CHROMIUM). Without it the tests fail.
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { build } from 'esbuild';
import { chromium, type Browser, type BrowserContext, type Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { openIndexedDbDatabase, StorageUnavailableError } from '../../src/store/index.js';
import { behaviourChecks, type CheckResult } from './store-page.js';
import { PAGE_HTML } from './static-server.js';

const here = path.dirname(fileURLToPath(import.meta.url));
const CHROMIUM = process.env.PQE2EE_CHROMIUM ?? '/usr/bin/chromium';
const CHROMIUM_ARGS = [
  '--headless',
  '--no-sandbox',
  '--disable-gpu',
  '--no-first-run',
  '--disable-background-networking',
  '--disable-component-update',
  '--disable-sync',
];
/** Bound on any single step in the page (page.evaluate has no timeout of its own). */
const STEP_MS = 20_000;

async function within<T>(promise: Promise<T>, ms: number, what: string): Promise<T> {
  let timer: ReturnType<typeof setTimeout> | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`${what}: timed out after ${ms} ms`)), ms);
  });
  try {
    return await Promise.race([promise, timeout]);
  } finally {
    clearTimeout(timer);
  }
}

/** store-page.ts and everything it imports, as one ES module for the browser. */
async function bundlePage(): Promise<string> {
  const result = await build({
    entryPoints: [path.join(here, 'store-page.ts')],
    bundle: true,
    write: false,
    format: 'esm',
    platform: 'browser',
    target: 'es2022',
    logLevel: 'silent',
  });
  const output = result.outputFiles[0];
  if (!output) throw new Error('esbuild produced no bundle for store-page.ts');
  return output.text;
}

async function startServer(script: string): Promise<{ origin: string; close(): Promise<void> }> {
  const server: Server = createServer((req, res) => {
    const urlPath = new URL(req.url ?? '/', 'http://x').pathname;
    const headers = { 'Cache-Control': 'no-store' };
    if (urlPath === '/') res.writeHead(200, { ...headers, 'Content-Type': 'text/html; charset=utf-8' }).end(PAGE_HTML);
    else if (urlPath === '/store-page.js') res.writeHead(200, { ...headers, 'Content-Type': 'text/javascript; charset=utf-8' }).end(script);
    else res.writeHead(404, headers).end();
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => resolve());
  });
  const { port } = server.address() as AddressInfo;
  return {
    origin: `http://127.0.0.1:${port}`,
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}

describe('openIndexedDbDatabase outside a browser', () => {
  it('rejects with StorageUnavailableError where there is no indexedDB (Node)', async () => {
    expect(typeof (globalThis as { indexedDB?: unknown }).indexedDB).toBe('undefined');
    const error = await openIndexedDbDatabase('device').catch((e: unknown) => e);
    expect(error).toBeInstanceOf(StorageUnavailableError);
    expect(error).toMatchObject({ code: 'ERR_STORAGE_UNAVAILABLE' });
  });
});

describe('IndexedDB database handler in Chromium', () => {
  let server: Awaited<ReturnType<typeof startServer>> | undefined;
  let browser: Browser | undefined;
  let context: BrowserContext | undefined;
  let page: Page | undefined;
  const pageErrors: string[] = [];
  const profiles: string[] = [];

  // A setup failure is re-thrown by every test, so each one FAILS with the reason.
  let setupError: unknown;
  function requirePage(): Page {
    if (setupError !== undefined) throw setupError;
    if (!page) throw new Error('browser test setup did not complete');
    return page;
  }

  beforeAll(async () => {
    try {
      if (!existsSync(CHROMIUM)) {
        throw new Error(`Chromium not found at ${CHROMIUM}: \`apt-get install -y chromium\` (or set PQE2EE_CHROMIUM).`);
      }
      server = await startServer(await bundlePage());
      browser = await chromium.launch({ executablePath: CHROMIUM, args: CHROMIUM_ARGS, timeout: 30_000 });
      context = await browser.newContext();
      context.setDefaultTimeout(STEP_MS);
      page = await context.newPage();
      page.on('pageerror', (error) => pageErrors.push(String(error)));
      await page.goto(`${server.origin}/`, { timeout: STEP_MS });
    } catch (error) {
      setupError = error;
    }
  }, 60_000);

  afterAll(async () => {
    await within(
      (async () => {
        await context?.close().catch(() => undefined);
        await browser?.close();
      })(),
      15_000,
      'closing chromium',
    ).finally(async () => {
      await server?.close();
      for (const dir of profiles) rmSync(dir, { recursive: true, force: true });
    });
  }, 20_000);

  /** Calls `storePage.<call>` in the page (a string, so no test-runner transform touches browser code). */
  function inPage<T>(target: Page, call: string, what: string): Promise<T> {
    const script = `(async () => (await import('/store-page.js')).storePage.${call})()`;
    return within(target.evaluate(script) as Promise<T>, STEP_MS, what);
  }

  function expectPassed(result: CheckResult, what: string): void {
    expect(result.failure, what).toBeUndefined();
    expect(result.ok, what).toBe(true);
    expect(result.assertions, what).toBeGreaterThan(0);
  }

  it('the page has IndexedDB and Web Locks, and the harness reports a failing assertion as a failure', async () => {
    const target = requirePage();
    expect(await inPage(target, 'environment()', 'environment')).toEqual({ indexedDB: true, locks: true, secure: true });
    const result = await inPage<CheckResult>(target, 'deliberateFailure()', 'deliberate failure');
    expect(result.ok).toBe(false);
    expect(result.failure).toBe('deliberately wrong expectation: expected Uint8Array[2], got Uint8Array[1]');
    const missing = await inPage<CheckResult>(target, `runBehaviour("noSuchCheck")`, 'unknown check');
    expect(missing.ok).toBe(false);
  });

  it('runs every behavioural check of test/store/behaviour.ts (ported), plus input checks and the lock', async () => {
    expect(behaviourChecks).toEqual([
      'putGetOverwriteDelete',
      'emptyAndLargeValues',
      'listSortedByUtf8',
      'readsOwnWrites',
      'nothingWrittenOnThrow',
      'returnsFnResult',
      'serialisedIncrements',
      'runsInOrder',
      'copiesInAndOut',
      'finishedTransactionRefused',
      'closeSemantics',
      'invalidInputs',
      'secondHandlerLocked',
    ]);
  });

  for (const check of behaviourChecks) {
    it(`behaviour: ${check}`, async () => {
      const result = await inPage<CheckResult>(requirePage(), `runBehaviour(${JSON.stringify(check)})`, check);
      expectPassed(result, check);
      if (check === 'serialisedIncrements') expect(result.details).toEqual({ total: 200 });
    });
  }

  it('keeps committed transactions across a page reload (handler left open), and not the rolled-back one', async () => {
    const target = requirePage();
    const name = `reload-${Date.now()}`;
    expectPassed(await inPage<CheckResult>(target, `writeBeforeReload(${JSON.stringify(name)})`, 'write'), 'before reload');
    await target.reload({ timeout: STEP_MS });
    const after = await inPage<CheckResult>(target, `readAfterReload(${JSON.stringify(name)})`, 'read');
    expectPassed(after, 'after reload');
    expect(after.details).toEqual(['alice', 'carol']);
  });

  it('keeps committed transactions across a browser restart (same profile on disk)', async () => {
    requirePage();
    const profile = mkdtempSync(path.join(tmpdir(), 'pqe2ee-idb-'));
    profiles.push(profile);
    const name = 'restart';
    const launch = () => chromium.launchPersistentContext(profile, { executablePath: CHROMIUM, args: CHROMIUM_ARGS, timeout: 30_000 });
    const first = await launch();
    try {
      const target = await first.newPage();
      await target.goto(`${server!.origin}/`, { timeout: STEP_MS });
      expectPassed(await inPage<CheckResult>(target, `writeBeforeReload(${JSON.stringify(name)})`, 'write'), 'before restart');
    } finally {
      await within(first.close(), 15_000, 'closing the first browser');
    }
    const second = await launch();
    try {
      const target = await second.newPage();
      await target.goto(`${server!.origin}/`, { timeout: STEP_MS });
      const after = await inPage<CheckResult>(target, `readAfterReload(${JSON.stringify(name)})`, 'read');
      expectPassed(after, 'after restart');
      expect(after.details).toEqual(['alice', 'carol']);
    } finally {
      await within(second.close(), 15_000, 'closing the second browser');
    }
  });

  it('encryptDatabase over IndexedDB: passphrase round trip, sealed at rest, wrong passphrase → WrongStorageKeyError', async () => {
    const result = await inPage<CheckResult>(requirePage(), 'encryptedRoundTrip()', 'encrypted round trip');
    expectPassed(result, 'encrypted');
    expect(result.details).toEqual({ wrongPassphraseCode: 'ERR_WRONG_STORAGE_KEY', sealedLength: 26 + 29 });
  });

  it('raised no uncaught error in the page', () => {
    requirePage();
    expect(pageErrors).toEqual([]);
  });
});
