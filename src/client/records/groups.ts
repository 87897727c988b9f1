/**
 * Groups: this device's group sessions, the record of what the server said each group looks like
 * (GroupRecord), and the bound on records of groups this device has not joined.
 */
import { toBinary } from '@bufbuild/protobuf';
import type { KeyValueTransaction } from '../../store/database.js';
import { GroupRecordSchema, type GroupRecord } from '../../proto/gen/client_pb.js';
import type { HeldRecords } from './held.js';
import { getMessage, NS, sortable } from './keys.js';
import type { MetaRecords } from './meta.js';

/** Meta key of the count and order of records of groups this device has not joined. */
const UNJOINED_GROUPS_KEY = 'unjoined-groups';
function unjoinedGroupKey(groupId: string): string {
  return `unjoined-group/${encodeURIComponent(groupId)}`;
}

export class GroupRecords {
  constructor(
    private readonly tx: KeyValueTransaction,
    private readonly meta: MetaRecords,
    private readonly held: HeldRecords,
  ) {}

  getSession(groupId: string): Promise<Uint8Array | undefined> {
    return this.tx.get(NS.groupSessions, groupId);
  }
  putSession(groupId: string, bytes: Uint8Array): Promise<void> {
    return this.tx.put(NS.groupSessions, groupId, bytes);
  }
  deleteSession(groupId: string): Promise<void> {
    return this.tx.delete(NS.groupSessions, groupId);
  }
  /** Ids of the groups this device has a session of. */
  async listIds(): Promise<string[]> {
    return (await this.tx.list(NS.groupSessions)).map((r) => r.key);
  }

  get(groupId: string): Promise<GroupRecord | undefined> {
    return getMessage(this.tx, GroupRecordSchema, NS.groups, groupId);
  }
  put(groupId: string, record: GroupRecord): Promise<void> {
    return this.tx.put(NS.groups, groupId, toBinary(GroupRecordSchema, record));
  }

  /**
   * This device is out of the group because this user left it: its session is deleted and its
   * record kept, marked left (the group's history; a left group is never counted as not joined).
   * Returns whether this device had the group's session.
   */
  async markLeft(groupId: string): Promise<boolean> {
    const hadSession = (await this.getSession(groupId)) !== undefined;
    await this.deleteSession(groupId);
    const record = await this.get(groupId);
    if (record) {
      record.left = true;
      await this.put(groupId, record);
    }
    return hadSession;
  }

  // Records of groups this device has not joined (a CreateGroupMsg, or any group notice, naming a
  // group it has no session of: possibly a stranger's). Counted and ordered so the bound costs no
  // scan:
  //   unjoined-groups <seq>          the group id, in the order first noted
  //   meta "unjoined-group/<group>"  its <seq> (so joining takes it out with one read)
  //   meta "unjoined-groups"         "<count> <head> <next>": how many, the lowest <seq> that may
  //                                  still be there, the next <seq>
  // Eviction walks from head, skipping once each gap that joined groups left.

  /**
   * Counts the record of a group this device has not joined (once; the caller stored it), and
   * forgets the oldest such records beyond `max`, with their held messages. A group that has a
   * session by then is only taken off the count. Reads two small records, plus what it evicts.
   * Returns the groups forgotten and how many held messages went with each.
   */
  async noteUnjoined(groupId: string, max: number): Promise<Array<{ groupId: string; heldDropped: number }>> {
    const own = unjoinedGroupKey(groupId);
    if ((await this.meta.get(own)) !== undefined) return [];
    const state = await this.unjoinedGroupsState();
    const sequence = state.next;
    await this.tx.put(NS.unjoinedGroups, sortable(sequence), new TextEncoder().encode(groupId));
    await this.meta.put(own, sequence.toString());
    state.next = sequence + 1n;
    state.count += 1;
    const forgotten: Array<{ groupId: string; heldDropped: number }> = [];
    while (state.count > max && state.head < state.next) {
      const key = sortable(state.head);
      state.head += 1n;
      const bytes = await this.tx.get(NS.unjoinedGroups, key);
      if (!bytes) continue;
      const oldest = new TextDecoder().decode(bytes);
      await this.tx.delete(NS.unjoinedGroups, key);
      await this.tx.delete(NS.meta, unjoinedGroupKey(oldest));
      state.count -= 1;
      if (oldest === groupId || (await this.tx.get(NS.groupSessions, oldest)) !== undefined) continue;
      await this.tx.delete(NS.groups, oldest);
      forgotten.push({ groupId: oldest, heldDropped: await this.held.dropGroup(oldest) });
    }
    if (state.head >= state.next) state.count = 0;
    await this.meta.put(UNJOINED_GROUPS_KEY, `${state.count} ${state.head} ${state.next}`);
    return forgotten;
  }

  /** The group is joined (this device has its session): its record no longer counts as not joined. One read otherwise. */
  async forgetUnjoined(groupId: string): Promise<void> {
    const own = unjoinedGroupKey(groupId);
    const sequence = await this.meta.get(own);
    if (sequence === undefined) return;
    await this.tx.delete(NS.meta, own);
    if (/^[0-9]{1,20}$/.test(sequence)) await this.tx.delete(NS.unjoinedGroups, sortable(BigInt(sequence)));
    const state = await this.unjoinedGroupsState();
    state.count = Math.max(0, state.count - 1);
    await this.meta.put(UNJOINED_GROUPS_KEY, `${state.count} ${state.head} ${state.next}`);
  }

  /** How many records of groups this device has not joined are counted (one record read). */
  async countUnjoined(): Promise<number> {
    return (await this.unjoinedGroupsState()).count;
  }

  private async unjoinedGroupsState(): Promise<{ count: number; head: bigint; next: bigint }> {
    const parts = ((await this.meta.get(UNJOINED_GROUPS_KEY)) ?? '').split(' ');
    if (parts.length === 3 && parts.every((p) => /^[0-9]{1,20}$/.test(p))) {
      return { count: Number(parts[0]), head: BigInt(parts[1] as string), next: BigInt(parts[2] as string) };
    }
    return { count: 0, head: 0n, next: 0n };
  }
}
