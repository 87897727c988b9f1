// Child process of crash.test.ts (bundled with esbuild, run with node): a receiving client with a
// SQLite database that SIGKILLs itself at a receive-path point (CRASH_AT) the CRASH_NTH-th time it
// gets there (or the nth time after an 'arm' message), and appends every delivered one-to-one and group message to OUT_FILE (fsync'd) from its
// listener. Talks to the test over IPC (crash-messages.ts): 'ready', 'error', 'sent' out; 'send' in.
import { closeSync, fsyncSync, openSync, writeSync } from 'node:fs';
import { createClient } from '../../src/client/index.js';
import { openSqliteDatabase } from '../../src/store/node.js';
import type { ChildMessage, ParentMessage } from './crash-messages.js';

const env = (name: string): string => {
  const value = process.env[name];
  if (value === undefined) throw new Error(`${name} is not set`);
  return value;
};

const send = (message: ChildMessage): void => {
  process.send?.(message);
};

const crashAt = process.env.CRASH_AT ?? '';
let crashNth = Number(process.env.CRASH_NTH ?? '0');
let hits = 0;
const shouldCrashNow = (): boolean => crashNth > 0 && ++hits === crashNth;

function append(path: string, line: string): void {
  const fd = openSync(path, 'a');
  try {
    writeSync(fd, `${line}\n`);
    fsyncSync(fd);
  } finally {
    closeSync(fd);
  }
}

async function main(): Promise<void> {
  const outFile = env('OUT_FILE');
  const client = createClient({
    server: env('SERVER_URL'),
    deviceId: env('DEVICE_ID'),
    suite: Number(process.env.SUITE ?? '2'),
    database: await openSqliteDatabase(env('DB_PATH')),
    crashHook: (point) => {
      if (point === crashAt && shouldCrashNow()) process.kill(process.pid, 'SIGKILL');
    },
  });
  client.on('one2one-message', (event) => {
    append(outFile, JSON.stringify({ messageId: event.message.messageId, body: new TextDecoder().decode(event.message.body) }));
  });
  client.on('group-message', (event) => {
    append(outFile, JSON.stringify({ messageId: event.message.messageId, body: new TextDecoder().decode(event.message.body), groupId: event.groupId }));
  });
  client.on('group-created', (event) => send({ type: 'joined', groupId: event.groupId }));
  client.on('error', (event) => send({ type: 'error', context: event.context, message: `${event.error.name}: ${event.error.message}` }));
  process.on('message', (raw) => {
    const message = raw as ParentMessage;
    if (message.type === 'send') {
      client
        .sendMessage(message.userId, message.body)
        .then((r) => send({ type: 'sent', messageId: r.messageId }))
        .catch((error: Error) => send({ type: 'error', context: 'send', message: error.message }));
    } else if (message.type === 'arm') {
      // Counting starts now (e.g. once the group is joined, so the bundle's own steps do not count).
      hits = 0;
      crashNth = message.nth;
      send({ type: 'armed' });
    } else if (message.type === 'stop') {
      void client.stop().finally(() => process.exit(0));
    }
  });
  await client.start();
  send({ type: 'ready', userId: client.address.userId, deviceId: client.address.deviceId });
}

main().catch((error: Error) => {
  send({ type: 'fatal', message: `${error.name}: ${error.message}` });
  setTimeout(() => process.exit(1), 50);
});
