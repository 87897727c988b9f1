/** Known peer devices (their identity keys, sessions and whether a device of this user vouched for them). */
import { toBinary } from '@bufbuild/protobuf';
import type { KeyValueTransaction } from '../../store/database.js';
import { KnownDeviceSchema, type KnownDevice } from '../../proto/gen/client_pb.js';
import { deviceKey, getMessage, listMessages, NS } from './keys.js';
import type { SessionRecords } from './sessions.js';

export class DeviceRecords {
  constructor(
    private readonly tx: KeyValueTransaction,
    private readonly sessions: SessionRecords,
  ) {}

  get(userId: string, deviceId: string): Promise<KnownDevice | undefined> {
    return getMessage(this.tx, KnownDeviceSchema, NS.devices, deviceKey(userId, deviceId));
  }
  put(device: KnownDevice): Promise<void> {
    return this.tx.put(NS.devices, deviceKey(device.userId, device.deviceId), toBinary(KnownDeviceSchema, device));
  }
  async list(userId: string): Promise<KnownDevice[]> {
    return (await listMessages(this.tx, KnownDeviceSchema, NS.devices, `${encodeURIComponent(userId)}/`)).map((r) => r.value);
  }

  /**
   * Stores a device record after a new session with it, keeping at most `keep` sessions per device
   * (the sending one is never deleted): each accepted invite makes a session, so without a bound
   * another user could grow this store by inviting again and again.
   */
  async putWithSession(device: KnownDevice, sessionId: string, keep: number): Promise<void> {
    const ids = [...device.sessionIds.filter((id) => id !== sessionId), sessionId];
    while (ids.length > keep) {
      const index = ids.findIndex((id) => id !== device.sendingSessionId && id !== sessionId);
      if (index < 0) break;
      const [old] = ids.splice(index, 1);
      await this.sessions.delete(device, old as string);
    }
    device.sessionIds = ids;
    await this.put(device);
  }
}
