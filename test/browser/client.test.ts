// Real-browser test of the client runtime: two clients in a Chromium page (the runtime bundled for
// the browser by esbuild) register with the reference server on another origin, exchange one-to-one
// and group messages, and compare fingerprints. The server allows the page's origin through its
// CORS option; a second server without it must refuse the page.
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { build } from 'esbuild';
import { chromium, type Browser } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startServer, type RunningServer } from '../../src/server/index.js';
import type { ClientScenarioResult } from './client-page.js';

const here = path.dirname(fileURLToPath(import.meta.url));
const CHROMIUM = process.env.PQE2EE_CHROMIUM ?? '/usr/bin/chromium';
const CHROMIUM_ARGS = ['--headless', '--no-sandbox', '--disable-gpu', '--no-first-run', '--disable-background-networking', '--disable-component-update', '--disable-sync'];

let pageServer: Server;
let origin: string;
let allowing: RunningServer;
let refusing: RunningServer;
let browser: Browser;

beforeAll(async () => {
  const bundle = await build({
    entryPoints: [path.join(here, 'client-page.ts')],
    bundle: true,
    write: false,
    format: 'esm',
    platform: 'browser',
    target: 'es2022',
    logLevel: 'silent',
  });
  const script = bundle.outputFiles[0]?.text ?? '';
  pageServer = createServer((req, res) => {
    if (req.url === '/client-page.js') {
      res.writeHead(200, { 'content-type': 'text/javascript; charset=utf-8' });
      res.end(script);
    } else {
      res.writeHead(200, { 'content-type': 'text/html; charset=utf-8' });
      res.end('<!doctype html><html><head><meta charset="utf-8"><script type="module" src="/client-page.js"></script></head><body></body></html>');
    }
  });
  await new Promise<void>((resolve) => pageServer.listen(0, '127.0.0.1', resolve));
  origin = `http://127.0.0.1:${(pageServer.address() as AddressInfo).port}`;
  allowing = await startServer({ port: 0, dbPath: ':memory:', corsOrigins: [origin] });
  refusing = await startServer({ port: 0, dbPath: ':memory:' });
  browser = await chromium.launch({ executablePath: CHROMIUM, args: CHROMIUM_ARGS, timeout: 30_000 });
}, 60_000);

afterAll(async () => {
  await browser?.close();
  await allowing?.close();
  await refusing?.close();
  await new Promise<void>((resolve) => (pageServer ? pageServer.close(() => resolve()) : resolve()));
});

async function openPage() {
  const page = await browser.newPage();
  await page.goto(`${origin}/`);
  await page.waitForFunction(() => 'pqe2eeClientTest' in globalThis, undefined, { timeout: 15_000 });
  return page;
}

describe('client runtime in Chromium', () => {
  for (const suite of [1, 2]) {
    it(`suite ${suite}: register, one-to-one both ways, group message, matching fingerprints`, async () => {
      const page = await openPage();
      const result = (await page.evaluate(
        ([server, s]) => (globalThis as unknown as { pqe2eeClientTest: { runClientScenario(u: string, s: number): Promise<unknown> } }).pqe2eeClientTest.runClientScenario(server as string, s as number),
        [allowing.url, suite] as const,
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
