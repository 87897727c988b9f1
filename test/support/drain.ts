// A deterministic "everything queued so far has been processed" signal for client tests, instead
// of sleeping and hoping: tests that check that something did NOT happen (a message not
// delivered, a state not changed) wait for this first, so they cannot pass just because the
// client had not got round to the attacker's messages yet.
//
// The server queues a device's messages in order and the client handles them one at a time
// (handled, events emitted, consumed), so once a message sent *after* the ones under test has been
// delivered, every earlier one has been processed. The sentinel is a one-to-one message from a
// `probe` client (any started client of another user); its body starts with SENTINEL_PREFIX,
// which `collect` (client-events.ts) leaves out.
import { randomUUID } from 'node:crypto';
import { create } from '@bufbuild/protobuf';
import type { E2eeClient } from '../../src/index.js';
import type { ProtoMsg } from '../../src/proto/gen/service_pb.js';
import { E2eeMsgSchema } from '../../src/proto/gen/wire_pb.js';
import type { RawDevice } from './raw-device.js';
import { until } from './timing.js';

export const SENTINEL_PREFIX = '\u0000sentinel:';
export const isSentinel = (body: string): boolean => body.startsWith(SENTINEL_PREFIX);

/**
 * Sends `receiver` a sentinel from `probe` and resolves when `receiver` has delivered it, i.e.
 * after `receiver` processed everything the server had queued for it before this call.
 */
export async function drainInbound(receiver: E2eeClient, probe: E2eeClient, timeoutMs = 15_000): Promise<void> {
  const body = `${SENTINEL_PREFIX}${randomUUID()}`;
  const arrived = receiver.waitFor('one2one-message', (e) => new TextDecoder().decode(e.message.body) === body, timeoutMs);
  await probe.sendMessage(receiver.address.userId, body);
  await arrived;
}

/** True for the ProtoMsg `drainRawInbound` sends (to leave it out of what a raw device received). */
export const isSentinelMsg = (msg: ProtoMsg): boolean => msg.payload.case === 'e2eeMsg' && msg.payload.value.sessionId.startsWith('sentinel-');

/**
 * The same for a raw device that is `listen()`ing: `probe` (another raw device) sends it an opaque
 * one-to-one E2eeMsg, and this resolves when it is in `device.received`, i.e. after everything the
 * server had queued for `device` before this call.
 */
export async function drainRawInbound(device: RawDevice, probe: RawDevice, timeoutMs = 15_000): Promise<void> {
  const sessionId = `sentinel-${randomUUID()}`;
  const msg = create(E2eeMsgSchema, {
    version: 1,
    suiteId: 2,
    sessionId,
    from: probe.address,
    to: device.address,
    payload: { case: 'one2oneMsg', value: { messageIndex: 0, ciphertext: new Uint8Array(16) } },
  });
  const sent = await probe.service.sendOne2oneMsg({ msg });
  if (sent.code !== 200) throw new Error(`the sentinel was refused: ${sent.code} ${sent.reason}`);
  const arrived = (): boolean => device.received.some((m) => m.payload.case === 'e2eeMsg' && m.payload.value.sessionId === sessionId);
  if (!(await until(arrived, timeoutMs, 10))) throw new Error(`the sentinel did not reach ${device.deviceId} in ${timeoutMs} ms`);
}
