/**
 * `pqe2ee server`: runs the reference E2EE server until SIGINT/SIGTERM (docs/server.md).
 */
import type { ServerOptions } from '../server/index.js';

const USAGE = `usage: pqe2ee server [options]

Runs the reference E2EE server (Connect over HTTP/1.1, SQLite storage).

options:
  --port N              TCP port (default 8080; 0 picks a free port)
  --host HOST           interface to listen on (default 127.0.0.1)
  --db PATH             SQLite file (default ./pqe2ee.sqlite; ':memory:' for none)
  --domain NAME         server domain in addresses and auth statements (default localhost)
  --heartbeat-ms N      heartbeat interval on open streams (default 15000)
  --ttl-ms N            time-to-live of undelivered messages (default 30 days)
  --token-ttl-ms N      auth token lifetime (default 24 h; tokens do not survive a restart)
  --queue-limit N       queued messages per device before senders get 503 (default 10000)
  --opk-low N           SupplyOpkMsg when a device has fewer one-time pre-keys (default 10)
  --max-opks N          one-time pre-keys stored per device at most (default 1000)
  --max-message-bytes N largest message accepted (default 1048576)
  --max-request-bytes N largest request body (default 4194304)
  --max-devices N       devices per user at most (default 16)
  --max-contacts N      users one user watches, and watchers of one user, at most (default 5000)
  --group-epochs N      newest epochs per group kept for GetGroupEpoch (default 32)
  --max-streams N       open Subscribe streams at most, one per device (default 10000)
  --stream-stall-ms N   cut a stream blocked on a write that sends nothing for N ms (default 120000)
  --stream-write-bytes N  bytes being written on all streams together before the stream writing
                        longest is cut (default 134217728)
  --rate-limit N        requests per second per device (default 50; 0 disables)
  --rate-burst N        burst per device (default 100)
  --ip-rate-limit N     unauthenticated requests per second per address (default 20; 0 disables)
  --ip-rate-burst N     burst per address (default 100)
  --cors-origin ORIGIN  allow browser pages of ORIGIN (repeatable; '*' for any; default none)
  --audit-key-file PATH the audit log's TLM key file (default <db>.tlm.json; in memory for ':memory:')
  --audit-heartbeat-ms N  interval of audit HEARTBEAT entries and checkpoints (default 60000)
  --no-audit            keep no audit log (no key transparency for pre-key bundles)
  -h, --help            show this help
`;

type NumericFlag = Exclude<keyof ServerOptions, 'host' | 'dbPath' | 'domain' | 'store' | 'log' | 'onError' | 'rateLimit' | 'ipRateLimit' | 'corsOrigins' | 'audit'>;

const NUMERIC: Record<string, NumericFlag | 'rate' | 'burst' | 'ipRate' | 'ipBurst' | 'auditHeartbeat'> = {
  '--port': 'port',
  '--heartbeat-ms': 'heartbeatMs',
  '--ttl-ms': 'ttlMs',
  '--token-ttl-ms': 'tokenTtlMs',
  '--queue-limit': 'queueLimit',
  '--opk-low': 'opkLowThreshold',
  '--max-opks': 'maxOpksPerDevice',
  '--max-message-bytes': 'maxMessageBytes',
  '--max-request-bytes': 'maxRequestBytes',
  '--max-devices': 'maxDevicesPerUser',
  '--max-contacts': 'maxContactsPerUser',
  '--group-epochs': 'groupEpochHistory',
  '--max-streams': 'maxStreams',
  '--stream-stall-ms': 'streamStallMs',
  '--stream-write-bytes': 'streamWriteBytes',
  '--rate-limit': 'rate',
  '--rate-burst': 'burst',
  '--ip-rate-limit': 'ipRate',
  '--ip-rate-burst': 'ipBurst',
  '--audit-heartbeat-ms': 'auditHeartbeat',
};

function parseArgs(args: string[]): ServerOptions | string {
  const options: ServerOptions = {};
  const rate = { perSecond: 50, burst: 100 };
  const ipRate = { perSecond: 20, burst: 100 };
  const audit: { keyFile?: string; heartbeatMs?: number } = {};
  let auditOff = false;
  for (let i = 0; i < args.length; i++) {
    const arg = args[i] as string;
    if (arg === '--no-audit') {
      auditOff = true;
      continue;
    }
    const [flag, inline] = arg.startsWith('--') && arg.includes('=') ? [arg.slice(0, arg.indexOf('=')), arg.slice(arg.indexOf('=') + 1)] : [arg, undefined];
    const value = inline ?? args[i + 1];
    if (flag === '-h' || flag === '--help') return 'help';
    if (value === undefined) return `missing value for ${flag}`;
    if (inline === undefined) i++;
    if (flag === '--host') options.host = value;
    else if (flag === '--db') options.dbPath = value;
    else if (flag === '--domain') options.domain = value;
    else if (flag === '--audit-key-file') audit.keyFile = value;
    else if (flag === '--cors-origin') options.corsOrigins = [...(options.corsOrigins ?? []), value];
    else if (flag in NUMERIC) {
      const n = Number(value);
      if (!/^[0-9]+(\.[0-9]+)?$/.test(value) || !Number.isFinite(n)) return `${flag} needs a non-negative number, got '${value}'`;
      const key = NUMERIC[flag] as string;
      if (key === 'rate') rate.perSecond = n;
      else if (key === 'burst') rate.burst = n;
      else if (key === 'ipRate') ipRate.perSecond = n;
      else if (key === 'ipBurst') ipRate.burst = n;
      else if (key === 'auditHeartbeat') audit.heartbeatMs = n;
      else options[key as NumericFlag] = n;
    } else return `unknown option ${flag}`;
  }
  options.rateLimit = rate;
  options.ipRateLimit = ipRate;
  options.audit = auditOff ? false : audit;
  return options;
}

export async function runServerCommand(args: string[]): Promise<number> {
  const parsed = parseArgs(args);
  if (parsed === 'help') {
    process.stdout.write(USAGE);
    return 0;
  }
  if (typeof parsed === 'string') {
    process.stderr.write(`pqe2ee server: ${parsed}\n${USAGE}`);
    return 2;
  }
  const { startServer } = await import('../server/index.js');
  const server = await startServer({ ...parsed, log: (line) => process.stdout.write(`${line}\n`) });
  if (server.audit) {
    // The log key is public: clients (auditLogKey) and verifiers (--log-key) need it. The admin
    // token is a secret: it stays in the key file, and is shown only when there is no file.
    process.stdout.write(`audit log ${server.audit.origin}, key: ${server.audit.logKey}\n`);
    const keyFile = parsed.audit ? parsed.audit.keyFile : undefined;
    const dbPath = parsed.dbPath ?? './pqe2ee.sqlite';
    if (keyFile === undefined && dbPath === ':memory:') process.stdout.write(`audit admin token (in memory only, gone at exit): ${server.audit.adminToken}\n`);
    else process.stdout.write(`audit admin token: "adminToken" in ${keyFile ?? `${dbPath}.tlm.json`}\n`);
  }
  await new Promise<void>((resolve) => {
    const stop = (): void => {
      process.off('SIGINT', stop);
      process.off('SIGTERM', stop);
      resolve();
    };
    process.on('SIGINT', stop);
    process.on('SIGTERM', stop);
  });
  await server.close();
  return 0;
}
