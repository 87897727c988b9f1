// Builds dist/cli.js once before the tests: server and end-to-end tests start `pqe2ee` as a real
// process, and a fresh clone has no dist/ yet.
export default async function setup(): Promise<void> {
  // @ts-expect-error plain ESM script without type declarations
  const { buildCli } = await import('../scripts/build-cli.mjs');
  await buildCli();
}
