// Shared set-up of the browser tests: which Chromium they drive (playwright-core) and how, a bound on
// any step (page.evaluate has no timeout of its own), and esbuild bundling of a page script.
import { existsSync } from 'node:fs';
import { build } from 'esbuild';
import { chromium, type Browser, type BrowserContext } from 'playwright-core';

/** Debian's chromium, or the binary named by PQE2EE_CHROMIUM. */
export const CHROMIUM = process.env.PQE2EE_CHROMIUM ?? '/usr/bin/chromium';

export const CHROMIUM_ARGS = [
  '--headless',
  '--no-sandbox',
  '--disable-gpu',
  '--no-first-run',
  '--disable-background-networking',
  '--disable-component-update',
  '--disable-sync',
  '--disable-quic',
];

const LAUNCH_MS = 30_000;

/** Throws, saying how to install it, when there is no Chromium binary (the browser tests fail then; they do not skip). */
export function requireChromium(): void {
  if (!existsSync(CHROMIUM)) {
    throw new Error(
      `Chromium not found at ${CHROMIUM}. This browser test needs it: install Debian's chromium with ` +
        '`apt-get update && apt-get install -y chromium` (or set PQE2EE_CHROMIUM to a Chromium binary). ' +
        '`npx playwright install` is not needed (and cannot work offline).',
    );
  }
}

/** Launches headless Chromium. */
export function launchChromium(): Promise<Browser> {
  requireChromium();
  return chromium.launch({ executablePath: CHROMIUM, args: CHROMIUM_ARGS, timeout: LAUNCH_MS });
}

/** Launches headless Chromium on a profile directory kept on disk (IndexedDB survives a restart). */
export function launchPersistentChromium(profile: string): Promise<BrowserContext> {
  requireChromium();
  return chromium.launchPersistentContext(profile, { executablePath: CHROMIUM, args: CHROMIUM_ARGS, timeout: LAUNCH_MS });
}

/** `promise`, or a rejection naming `what` after `ms`. */
export async function within<T>(promise: Promise<T>, ms: number, what: string): Promise<T> {
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

/** `entry` and everything it imports (src/ and the wasm core included), as one ES module for the browser. */
export async function bundleForBrowser(entry: string): Promise<string> {
  const result = await build({
    entryPoints: [entry],
    bundle: true,
    write: false,
    format: 'esm',
    platform: 'browser',
    target: 'es2022',
    logLevel: 'silent',
  });
  const output = result.outputFiles[0];
  if (!output) throw new Error(`esbuild produced no bundle for ${entry}`);
  return output.text;
}
