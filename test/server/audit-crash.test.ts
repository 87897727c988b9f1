// kill -9 of the real server process while it records audit events: after the restart the log
// is one unbroken chain (no gap, no reused key: the TLM re-derives every key and re-checks every
// MAC), it reproduces the signed checkpoint, and every registration the server acknowledged has
// its key publication in the log.
import { createClient } from '@connectrpc/connect';
import { createConnectTransport } from '@connectrpc/connect-node';
import { afterAll, expect, it } from 'vitest';
import { openCheckpoint } from '../../src/audit/checkpoint.js';
import { decodeEntry, isPublicEntry } from '../../src/audit/entry-format.js';
import { verifyEntries } from '../../src/audit/entry-verifier.js';
import { parseVerifierKey } from '../../src/audit/signed-note.js';
import { AuditService } from '../../src/proto/gen/audit_pb.js';
import { ResponseCode } from '../../src/proto/gen/service_pb.js';
import { cleanupDirs, rawDevice, spawnServer, tempDb } from '../support/index.js';

afterAll(cleanupDirs);

it('a SIGKILL during appends leaves no gap and no reused key, and loses no acknowledged key publication', async () => {
  const dbPath = tempDb();
  let server = await spawnServer(['--audit-heartbeat-ms', '200'], dbPath);
  // Printed right after the "listening" line the fixture waits for.
  for (let i = 0; i < 100 && !server.output().includes('audit log'); i++) await new Promise((resolve) => setTimeout(resolve, 20));
  const logKey = /audit log (\S+), key: (\S+)/.exec(server.output());
  expect(logKey).not.toBeNull();
  const [, origin, keyText] = logKey as RegExpExecArray;

  // Bundles of one device registered first: the workers' own devices never get a key entry
  // back-filled by a bundle hand-out, so only their registration can have written it.
  const anchor = await rawDevice(server.url, 'anchor');
  const acknowledged: string[] = [];
  let stop = false;
  const worker = async (w: number): Promise<void> => {
    for (let i = 0; !stop; i++) {
      try {
        const device = await rawDevice(server.url, `w${w}-${i}`);
        acknowledged.push(device.userId);
        await device.service.getPreKeyBundle({ userId: anchor.userId }).catch(() => undefined);
        device.close();
      } catch {
        return; // the server is gone
      }
    }
  };
  const workers = Array.from({ length: 8 }, (_, w) => worker(w));
  // Kill once registrations are flowing, at an arbitrary point of a batch.
  while (acknowledged.length < 40) await new Promise((resolve) => setTimeout(resolve, 20));
  await server.stop('SIGKILL');
  stop = true;
  await Promise.all(workers);
  anchor.close();

  server = await spawnServer([], dbPath);
  try {
    const audit = createClient(AuditService, createConnectTransport({ baseUrl: server.url, httpVersion: '1.1' }));
    for (let i = 0; i < 100 && !server.output().includes('audit log'); i++) await new Promise((resolve) => setTimeout(resolve, 20));
    expect(server.output()).toContain(keyText);
    const answer = await audit.getCheckpoint({});
    expect(answer.code).toBe(ResponseCode.OK);
    const checkpoint = openCheckpoint(answer.checkpoint, [parseVerifierKey(keyText as string)], origin as string).checkpoint;
    const bytes: Uint8Array[] = [];
    for (let start = 0; start < checkpoint.size; start += 1000) {
      const page = await audit.getEntries({ start: BigInt(start), count: Math.min(1000, checkpoint.size - start) });
      bytes.push(...page.entries);
    }
    const entries = bytes.map((b) => decodeEntry(b));
    const report = verifyEntries({ logId: new TextEncoder().encode(origin), entries, checkpoint });
    expect(report.failures).toEqual([]);
    // The TLM derives every entry's MAC key from A_0 and checks all of them: a reused or skipped key would fail here.
    const mac = await audit.getMacStatement({});
    expect(mac.code).toBe(ResponseCode.OK);
    expect(mac.statement).toContain(`up-to ${checkpoint.size - 1}`);
    const published = new Set(entries.filter((e) => isPublicEntry(e)).map((e) => (JSON.parse(new TextDecoder().decode(e.ciphertext)) as { user?: string }).user));
    for (const userId of acknowledged) expect(published).toContain(userId);
  } finally {
    await server.stop();
  }
}, 60_000);
