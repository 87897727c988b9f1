// STORAGE_SEALED: a running client tells the server's audit log how many records it wrote and
// whether it sealed them; an entitled auditor reads those statements, attributed to the device
// that signed in (never to an address the request names).
import { createClient as createConnectClient } from '@connectrpc/connect';
import { createConnectTransport } from '@connectrpc/connect-node';
import { describe, expect, it } from 'vitest';
import { AuditCategory } from '../../src/audit/categories.js';
import { decodeEntry } from '../../src/audit/entry-format.js';
import { auditPrimitives } from '../../src/audit/key-schedule.js';
import { createClient, createServerTransport } from '../../src/index.js';
import { AuditService } from '../../src/proto/gen/audit_pb.js';
import { ResponseCode } from '../../src/proto/gen/service_pb.js';
import { openReleasedEntries } from '../support/audit-reader.js';
import { rawDevice, useInProcessServer } from '../support/index.js';

const server = useInProcessServer({ audit: { checkpointIntervalMs: 1 } });

/** Every STORAGE_SEALED statement in the log, decrypted with keys released to an entitled auditor. */
async function statements(): Promise<{ by: string; sealed: boolean; recordsWritten: number }[]> {
  const audit = createConnectClient(AuditService, createConnectTransport({ baseUrl: server.url, httpVersion: '1.1' }));
  const kem = auditPrimitives.kem.keygen();
  const id = `auditor-${Math.random().toString(36).slice(2)}`;
  const accessToken = crypto.getRandomValues(new Uint8Array(32));
  const registered = await audit.registerVerifier({
    accessToken,
    adminToken: server.audit?.adminToken ?? '',
    verifierId: id,
    kemPublicKey: kem.publicKey,
    entitlement: AuditCategory.STORAGE_SEALED,
  });
  expect(registered.code).toBe(ResponseCode.OK);
  const size = Number((await audit.getCheckpoint({})).checkpoint.split('\n')[1]);
  const entries = [];
  for (let start = 0; start < size; start += 1000)
    entries.push(...(await audit.getEntries({ start: BigInt(start), count: Math.min(1000, size - start) })).entries.map(decodeEntry));
  const sealedStatements = entries.filter((e) => e.categoryMask === AuditCategory.STORAGE_SEALED);
  if (sealedStatements.length === 0) return [];
  const released = await audit.releaseKeys({ verifierId: id, indexes: sealedStatements.map((e) => BigInt(e.index)), accessToken });
  const report = openReleasedEntries(kem.secretKey, server.audit?.origin ?? '', entries, released.keys);
  expect(report.failures).toEqual([]);
  return report.decrypted.filter((d) => d.categoryMask === AuditCategory.STORAGE_SEALED).map((d) => JSON.parse(new TextDecoder().decode(d.plaintext)));
}

describe('storage statements', () => {
  it('records, per signed-in device, whether its records are sealed and how many it wrote', async () => {
    const sealed = createClient({ server: server.url, deviceId: 'sealed', suite: 2, storage: { key: new Uint8Array(32).fill(7) } });
    const plain = createClient({ server: server.url, deviceId: 'plain', suite: 2 });
    await sealed.start();
    await plain.start();
    await sealed.sendMessage(plain.address.userId, 'hello');
    await plain.waitFor('one2one-message');
    await sealed.stop();
    await plain.stop();

    const all = await statements();
    const of = (userId: string, deviceId: string) => all.filter((s) => s.by === `${userId}/${deviceId}`);
    const sealedOnes = of(sealed.address.userId, 'sealed');
    const plainOnes = of(plain.address.userId, 'plain');
    expect(sealedOnes.length).toBeGreaterThanOrEqual(2); // at start and at stop
    expect(plainOnes.length).toBeGreaterThanOrEqual(2);
    expect(sealedOnes.every((s) => s.sealed === true)).toBe(true);
    // A device without encryption at rest says so: the log does not claim what did not happen.
    expect(plainOnes.every((s) => s.sealed === false)).toBe(true);
    // Registration, the session and the message were all written (and counted) before stop.
    expect(sealedOnes.reduce((n, s) => n + s.recordsWritten, 0)).toBeGreaterThan(5);
    expect(plainOnes.reduce((n, s) => n + s.recordsWritten, 0)).toBeGreaterThan(5);
  });

  it('lets one device add a burst of statements, not a flood', async () => {
    const flooder = await rawDevice(server.url, 'flooder');
    const answers = [];
    for (let i = 0; i < 25; i++) answers.push((await flooder.service.recordStorageStatement({ recordsWritten: 1n, sealed: true })).code);
    expect(answers.filter((code) => code === ResponseCode.OK)).toHaveLength(10);
    expect(answers.slice(10).every((code) => code === ResponseCode.SERVICE_UNAVAILABLE)).toBe(true);
    const recorded = (await statements()).filter((s) => s.by === `${flooder.userId}/flooder`);
    expect(recorded).toHaveLength(10);
    flooder.close();
  });

  it('stop() does not wait for a statement the server never answers', async () => {
    const inner = createServerTransport(server.url);
    let hung = 0;
    const service = new Proxy(inner.service, {
      get(target, prop, receiver) {
        if (prop !== 'recordStorageStatement') return Reflect.get(target, prop, receiver);
        return () => {
          hung++;
          return new Promise(() => undefined);
        };
      },
    });
    const client = createClient({ server: { ...inner, service, setToken: (token) => inner.setToken(token) }, deviceId: 'hanging', suite: 2 });
    await client.start();
    await client.stop(); // bounded by the test's timeout below, not by the transport's 30 s
    expect(hung).toBeGreaterThanOrEqual(1);
  }, 10_000);
});
