/** One-to-one session states, stored under the peer device they belong to. */
import type { KeyValueTransaction } from '../../store/database.js';
import { deviceKey, NS, type PeerDevice } from './keys.js';

/**
 * Key of a session record: the peer device first, then the session id. A session id travels in
 * clear and another party could try to reuse one; keyed by its owner, a session of one peer can
 * never be read or replaced through another peer's messages.
 */
function sessionKey(peer: PeerDevice, sessionId: string): string {
  return `${deviceKey(peer.userId, peer.deviceId)}/${encodeURIComponent(sessionId)}`;
}

export class SessionRecords {
  constructor(private readonly tx: KeyValueTransaction) {}

  /** The session `sessionId` with `peer` (undefined if this device has no such session with that peer). */
  get(peer: PeerDevice, sessionId: string): Promise<Uint8Array | undefined> {
    return this.tx.get(NS.sessions, sessionKey(peer, sessionId));
  }
  put(peer: PeerDevice, sessionId: string, bytes: Uint8Array): Promise<void> {
    return this.tx.put(NS.sessions, sessionKey(peer, sessionId), bytes);
  }
  /** Deletes a session with `peer` (an old one past the sessions a device keeps, see DeviceRecords.putWithSession). */
  delete(peer: PeerDevice, sessionId: string): Promise<void> {
    return this.tx.delete(NS.sessions, sessionKey(peer, sessionId));
  }

  /**
   * Moves sessions stored by bare id (before they were keyed by peer) under their peer; `peerOf`
   * reads a session's peer from its state. Returns how many were moved.
   */
  async migrateLegacy(peerOf: (bytes: Uint8Array) => PeerDevice | undefined): Promise<number> {
    let moved = 0;
    for (const { key, value } of await this.tx.list(NS.legacySessions)) {
      const peer = peerOf(value);
      if (peer) {
        await this.put(peer, key, value);
        moved++;
      }
      await this.tx.delete(NS.legacySessions, key);
    }
    return moved;
  }
}
