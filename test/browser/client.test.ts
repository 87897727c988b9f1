// Real-browser test of the client runtime: two clients in a Chromium page (the runtime bundled for
// the browser by esbuild) register with the reference server on another origin, exchange one-to-one
// and group messages, and compare fingerprints. The server allows the page's origin through its
// CORS option; a second server without it must refuse the page.
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import type { Browser } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startServer, type RunningServer } from '../../src/server/index.js';
import { bundleForBrowser, launchChromium } from './chromium.js';
import type { ClientScenarioResult } from './client-page.js';
import { htmlPage, scriptPage, startPageServer, type LocalServer } from './static-server.js';

const here = path.dirname(fileURLToPath(import.meta.url));

let pageServer: LocalServer;
let origin: string;
let allowing: RunningServer;
let refusing: RunningServer;
let browser: Browser;

beforeAll(async () => {
  pageServer = await startPageServer({
    '/': htmlPage('<!doctype html><html><head><meta charset="utf-8"><script type="module" src="/client-page.js"></script></head><body></body></html>'),
    '/client-page.js': scriptPage(await bundleForBrowser(path.join(here, 'client-page.ts'))),
  });
  origin = pageServer.origin;
  allowing = await startServer({ port: 0, dbPath: ':memory:', corsOrigins: [origin] });
  refusing = await startServer({ port: 0, dbPath: ':memory:' });
  browser = await launchChromium();
}, 60_000);

afterAll(async () => {
  await browser?.close();
  await allowing?.close();
  await refusing?.close();
  await pageServer?.close();
});

async function openPage() {
  const page = await browser.newPage();
  await page.goto(`${origin}/`);
  await page.waitForFunction(() => 'pqe2eeClientTest' in globalThis, undefined, { timeout: 15_000 });
  return page;
}

describe('client runtime in Chromium', () => {
  for (const [suite, store] of [
    [1, 'indexeddb'],
    [2, 'memory'],
  ] as const) {
    it(`suite ${suite}, ${store} database: register, one-to-one both ways, group message, matching fingerprints`, async () => {
      const page = await openPage();
      const result = (await page.evaluate(
        ([server, s, d]) =>
          (globalThis as unknown as { pqe2eeClientTest: { runClientScenario(u: string, s: number, d: string): Promise<unknown> } }).pqe2eeClientTest.runClientScenario(
            server as string,
            s as number,
            d as string,
          ),
        [allowing.url, suite, store] as const,
      )) as ClientScenarioResult;
      await page.close();
      expect(result).toEqual({ oneToOne: 'hello from a browser tab', reply: 'and back', group: 'group hello', fingerprintsMatch: true, errors: [] });
    }, 60_000);
  }

  it('a server without the page origin in corsOrigins is unreachable from the page', async () => {
    const page = await openPage();
    const outcome = (await page.evaluate(
      (server) => (globalThis as unknown as { pqe2eeClientTest: { startWithoutCors(u: string): Promise<string> } }).pqe2eeClientTest.startWithoutCors(server),
      refusing.url,
    )) as string;
    await page.close();
    expect(outcome).not.toBe('started');
    expect(outcome).toMatch(/TransportError/);
  }, 30_000);
});
