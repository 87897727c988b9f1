/**
 * Server notices: messages the server itself queues (SupplyOpk, NewUserDevice, UpdateUser, group
 * state, and the admin notices of `RunningServer`), who receives them, and how far they may grow a
 * queue. Strangers can cause notices (one accepted invite makes the invitee a watcher), so every
 * kind is bounded; see docs/server.md, "Limits".
 */
import type { E2eeAddress } from '../proto/gen/wire_pb.js';
import { groupAddress, serverAddress } from './addresses.js';
import type { ServiceContext } from './context.js';
import { routedDevices } from './group-rules.js';
import type { QueueBound } from './outbox.js';
import type { GroupDeviceRecord, ServerStore } from './store/types.js';

/**
 * Notices other than group state count against the queue limit like client messages: a recipient
 * whose queue is full is skipped (the request that caused the notice still succeeds), so nobody
 * can grow a stranger's queue past the limit with them.
 */
export function noticeBound(queueLimit: number): QueueBound {
  return { queueCap: queueLimit };
}

/**
 * Group state notices are queued past the limit (group state must reach members even when their
 * queue is full of chat), but not past twice the limit: a manager cannot grow a member's queue
 * without bound by changing the group over and over. (A device that far behind misses the change;
 * it can read the epoch's devices with GetGroupEpoch.)
 */
export function groupNoticeBound(queueLimit: number): QueueBound {
  return { queueCap: 2 * queueLimit };
}

/**
 * Who hears about a user's new devices and names: that user's own devices other than
 * `exceptDeviceId`, and every device of the users watching it (bounded by `maxContactsPerUser`).
 */
export async function watcherDevices(store: ServerStore, userId: string, exceptDeviceId: string): Promise<GroupDeviceRecord[]> {
  const out: GroupDeviceRecord[] = [];
  for (const d of await store.listDevices(userId)) if (d.deviceId !== exceptDeviceId) out.push({ userId, deviceId: d.deviceId });
  for (const watcher of await store.listWatchers(userId)) {
    if (watcher === userId) continue;
    for (const d of await store.listDevices(watcher)) out.push({ userId: watcher, deviceId: d.deviceId });
  }
  return out;
}

/** The admin functions of `RunningServer` (not RPCs: no client can send these). */
export interface AdminNotices {
  /** Queues a SystemManagerMsg to every device; returns how many. */
  notifySystem(notice: string): Promise<number>;
  /** Queues a GroupManagerMsg to every routed device of a group; returns how many (0 if no such group). */
  notifyGroup(groupId: string, notice: string): Promise<number>;
  /** Queues a FriendManagerMsg about `about` to every device of `userId`; returns how many. */
  notifyFriend(userId: string, about: E2eeAddress, notice: string): Promise<number>;
}

export function adminNotices({ store, config, outbox }: ServiceContext): AdminNotices {
  const bound = noticeBound(config.queueLimit);
  const server = serverAddress(config.domain);
  return {
    async notifySystem(notice) {
      const now = Date.now();
      const devices = await store.listAllDevices();
      return outbox.sendSkipping(
        devices.map((d) => outbox.skippable(d, server, { case: 'systemManagerMsg', value: { notice } }, now, bound)),
        now,
      );
    },

    async notifyGroup(groupId, notice) {
      const now = Date.now();
      const group = await store.getGroup(groupId);
      if (!group) return 0;
      const address = groupAddress(config.domain, groupId);
      return outbox.sendSkipping(
        routedDevices(group).map((d) => outbox.skippable(d, address, { case: 'groupManagerMsg', value: { groupAddress: address, notice } }, now, bound)),
        now,
      );
    },

    async notifyFriend(userId, about, notice) {
      const now = Date.now();
      const devices = await store.listDevices(userId);
      return outbox.sendSkipping(
        devices.map((d) => outbox.skippable(d, server, { case: 'friendManagerMsg', value: { userAddress: about, notice } }, now, bound)),
        now,
      );
    },
  };
}
