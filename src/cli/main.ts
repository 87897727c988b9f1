/**
 * The `pqe2ee` command. Subcommands load lazily so `pqe2ee --help` stays fast and the server's
 * SQLite dependency is only loaded by the commands that need it.
 */
const USAGE = `usage: pqe2ee <command> [options]

commands:
  server   run the reference E2EE server (pqe2ee server --help)
  demo     run the end-to-end demo against an embedded server (pqe2ee demo --help)
  audit    register a verifier, verify or inspect a server's audit log (pqe2ee audit --help)
`;

async function main(argv: string[]): Promise<number> {
  const [command, ...rest] = argv;
  switch (command) {
    case 'server':
      return (await import('./server-command.js')).runServerCommand(rest);
    case 'demo':
      return (await import('./demo-command.js')).runDemoCommand(rest);
    case 'audit':
      return (await import('./audit/command.js')).runAuditCommand(rest);
    case undefined:
    case '-h':
    case '--help':
    case 'help':
      process.stdout.write(USAGE);
      return command === undefined ? 2 : 0;
    default:
      process.stderr.write(`pqe2ee: unknown command '${command}'\n${USAGE}`);
      return 2;
  }
}

main(process.argv.slice(2)).then(
  (code) => {
    if (code !== 0) process.exitCode = code;
  },
  (error: unknown) => {
    process.stderr.write(`pqe2ee: ${error instanceof Error ? error.message : String(error)}\n`);
    process.exitCode = 1;
  },
);
