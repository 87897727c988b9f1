// A server (or anyone on the path) that announces a new device of a user without a valid device
// link must not get that device into the user's sessions or groups: the runtime checks the link
// signature against the linking device it knows. Runs an in-process server; the tampering sits in
// a wrapped protocol handler between one client and the server.
import { describe, expect, it } from 'vitest';
import { createClient } from '../../src/index.js';
import { tamperingHandler, useInProcessServer } from '../support/index.js';

const server = useInProcessServer();

function flip(bytes: Uint8Array): void {
  bytes[0] = (bytes[0] ?? 0) ^ 1;
}

describe("device links are checked by the user's other devices", () => {
  for (const tamper of ['signature', 'identity'] as const) {
    it(`a NewUserDeviceMsg with a forged ${tamper} is refused: no group membership, an error event`, async () => {
      const phone = await server.started(
        createClient({
          server: tamperingHandler(server.url, (msg) => {
            if (msg.payload.case !== 'newUserDeviceMsg') return;
            const value = msg.payload.value;
            if (tamper === 'signature' && value.deviceLink) flip(value.deviceLink.signature);
            if (tamper === 'identity' && value.identityKey) flip(value.identityKey.signPublicKey);
          }),
          deviceId: 'phone',
          suite: 2,
        }),
      );
      const bob = await server.started(createClient({ server: server.url, deviceId: 'desktop', suite: 2 }));
      const joined = bob.waitFor('group-created');
      const { groupId } = await phone.createGroup('g', [bob.address.userId]);
      await joined;

      const refused = phone.waitFor('error', (e) => e.context === 'new device', 15_000);
      const laptop = await server.started(createClient({ server: server.url, deviceId: 'laptop', suite: 2, linkDevice: (r) => phone.approveDevice(r) }));
      const error = await refused;
      expect(error.error.message).toMatch(/not vouched for/);

      // The phone did not add the laptop to the group, and has no session to it.
      const info = await phone.groupInfo(groupId);
      expect(info.members.map((m) => m.deviceId).sort()).toEqual(['desktop', 'phone']);
      await expect(phone.fingerprint(laptop.address.userId, 'laptop')).rejects.toThrow(/no session/);
    }, 30_000);
  }

  it('control: the same link untampered is accepted and the device joins the group', async () => {
    const phone = await server.started(createClient({ server: server.url, deviceId: 'phone', suite: 2 }));
    const bob = await server.started(createClient({ server: server.url, deviceId: 'desktop', suite: 2 }));
    const joined = bob.waitFor('group-created');
    const { groupId } = await phone.createGroup('g', [bob.address.userId]);
    await joined;
    const errors: string[] = [];
    phone.on('error', (e) => {
      errors.push(e.error.message);
    });
    const laptopPromise = server.started(createClient({ server: server.url, deviceId: 'laptop', suite: 2, linkDevice: (r) => phone.approveDevice(r) }));
    const laptop = await laptopPromise;
    const laptopJoins = laptop.waitFor('group-created', () => true, 15_000);
    await laptopJoins;
    const info = await phone.groupInfo(groupId);
    expect(info.members.map((m) => m.deviceId).sort()).toEqual(['desktop', 'laptop', 'phone']);
    expect(errors).toEqual([]);
  }, 30_000);
});
