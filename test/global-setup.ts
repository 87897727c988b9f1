// Before the tests: build dist/cli.js once (server and end-to-end tests start `pqe2ee` as a real
// process, and a fresh clone has no dist/ yet), and make sure the browser tests have a Chromium:
// on a fresh Debian machine `npm test` installs Debian's chromium itself rather than failing 25
// browser tests (playwright's own download cannot work offline).
import { execFileSync } from 'node:child_process';
import { existsSync } from 'node:fs';

const CHROMIUM = process.env.PQE2EE_CHROMIUM ?? '/usr/bin/chromium';

function ensureChromium(): void {
  if (existsSync(CHROMIUM)) return;
  const asRoot = typeof process.getuid === 'function' && process.getuid() === 0;
  const aptGet = ['/usr/bin/apt-get', '/bin/apt-get'].find((p) => existsSync(p));
  if (!aptGet || process.env.PQE2EE_CHROMIUM) {
    throw new Error(`Chromium not found at ${CHROMIUM}, and it cannot be installed here: install a Chromium and set PQE2EE_CHROMIUM to its binary`);
  }
  const run = (args: string[]): void => {
    const [command, ...rest] = asRoot ? [aptGet, ...args] : ['sudo', '-n', aptGet, ...args];
    execFileSync(command as string, rest, { stdio: ['ignore', 'ignore', 'inherit'], env: { ...process.env, DEBIAN_FRONTEND: 'noninteractive' } });
  };
  console.log("global-setup: Chromium is missing; installing Debian's chromium (apt-get, about a minute)");
  try {
    run(['update', '-q']);
    run(['install', '-y', '-q', 'chromium']);
  } catch (error) {
    throw new Error(`Chromium not found at ${CHROMIUM} and apt-get could not install it (${(error as Error).message}); run \`apt-get install -y chromium\` as root`);
  }
  if (!existsSync(CHROMIUM)) throw new Error(`apt-get installed chromium, but ${CHROMIUM} is still missing`);
}

export default async function setup(): Promise<void> {
  ensureChromium();
  // @ts-expect-error plain ESM script without type declarations
  const { buildCli } = await import('../scripts/build-cli.mjs');
  await buildCli();
}
