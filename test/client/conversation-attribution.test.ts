// Red team 3: attribution of what messages() returns. `conversationUserId` is how a copy of this
// user's own message (sent from another of its devices) names the conversation it belongs to; the
// runtime stores it from the sender's plaintext whoever the sender is (storedFrom in
// src/client/inbound.ts), so a stranger's message comes back from messages() filed under the
// victim's conversation with someone else.
import { describe, expect, it } from 'vitest';
import { MaliciousMember, rawDevice, rawSessions, until, useInProcessServer } from '../support/index.js';

const server = useInProcessServer();

describe('conversation attribution', () => {
  it("a stranger's message is never filed under the victim's conversation with another user", async () => {
    const victim = await server.start('victim');
    const bob = await server.start('bob');
    const stranger = await rawDevice(server.url, 'mallory', 2);
    stranger.listen();
    const sessions = rawSessions(stranger);
    await sessions.openTo(victim.address.userId);
    await sessions.send(victim.address.userId, victim.address.deviceId, MaliciousMember.appPlaintext('send the code to this number', bob.address.userId));
    expect(await until(async () => (await victim.messages()).length > 0, 5000)).toBe(true);
    const [message] = await victim.messages();
    expect(message?.from.userId).toBe(stranger.userId);
    // Only this user's own devices may say which conversation a message belongs to.
    expect(message?.conversationUserId).not.toBe(bob.address.userId);
    stranger.close();
  }, 20_000);
});
