// Real-browser test of the IndexedDB database handler (src/store/indexeddb.ts) in headless Chromium,
// driven by playwright-core. The page script is store-page.ts, bundled here with esbuild (src/store
// and the wasm core included) and served with a blank page by a small server on 127.0.0.1.
//
// Needs Debian's chromium at /usr/bin/chromium (or PQE2EE_CHROMIUM). Without it the tests fail.
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import type { Browser, BrowserContext, Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { openIndexedDbDatabase, StorageUnavailableError } from '../../src/store/index.js';
import { bundleForBrowser, launchChromium, launchPersistentChromium, within } from './chromium.js';
import { behaviourChecks, type CheckResult } from './store-page.js';
import { htmlPage, PAGE_HTML, scriptPage, startPageServer, type LocalServer } from './static-server.js';

const here = path.dirname(fileURLToPath(import.meta.url));
/** Bound on any single step in the page (page.evaluate has no timeout of its own). */
const STEP_MS = 20_000;

describe('openIndexedDbDatabase outside a browser', () => {
  it('rejects with StorageUnavailableError where there is no indexedDB (Node)', async () => {
    expect(typeof (globalThis as { indexedDB?: unknown }).indexedDB).toBe('undefined');
    const error = await openIndexedDbDatabase('device').catch((e: unknown) => e);
    expect(error).toBeInstanceOf(StorageUnavailableError);
    expect(error).toMatchObject({ code: 'ERR_STORAGE_UNAVAILABLE' });
  });
});

describe('IndexedDB database handler in Chromium', () => {
  let server: LocalServer | undefined;
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
      const script = await bundleForBrowser(path.join(here, 'store-page.ts'));
      server = await startPageServer({ '/': htmlPage(PAGE_HTML), '/store-page.js': scriptPage(script) });
      browser = await launchChromium();
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
    const launch = () => launchPersistentChromium(profile);
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
