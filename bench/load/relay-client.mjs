// The baseline the E2EE rows are compared with: a client with the same surface as E2eeClient
// (start, stop, address, sendMessage, on('one2one-message')) that talks to the same server with
// raw RPCs and puts the body in the E2eeMsg unencrypted. It registers and signs in like the
// runtime (an identity key signs the challenge), reads the stream, and consumes each message after
// handing it over — so the E2EE/relay ratio is the cost of the client runtime (sessions, ratchet,
// storage transactions, outbox) on top of the same transport and server.
import { loadPackage } from './dist.mjs';

const { Account, createServerTransport } = await loadPackage();

export function createRelayClient({ url, fetch, deviceId, userName }) {
  const transport = createServerTransport(url, { fetch });
  const service = transport.service;
  const listeners = [];
  let self;
  let abort;
  let loop;
  const address = (userId, device) => ({ domain: self.domain, peer: { case: 'user', value: { userId, deviceId: device } } });
  return {
    get address() {
      return { userId: self.userId, deviceId };
    },
    on(type, listener) {
      if (type === 'one2one-message') listeners.push(listener);
    },
    async start() {
      const account = Account.create({ suite: 2, now: Date.now() });
      const challenge = await service.getChallenge({});
      const response = await service.registerUser({
        suiteId: 2,
        deviceId,
        userName,
        identityKey: account.identityPublicKey,
        signedPreKey: account.signedPreKeyPublic(),
        oneTimePreKeys: account.oneTimePreKeyPublics(),
        challengeId: challenge.challengeId,
        challengeSignature: account.signServerChallenge(challenge.domain, challenge.challenge, '', deviceId),
      });
      if (response.address?.peer.case !== 'user') throw new Error(`relay register: ${response.code} ${response.reason}`);
      self = { domain: challenge.domain, userId: response.address.peer.value.userId };
      transport.setToken(response.token);
      abort = new AbortController();
      // Like the runtime: a broken stream is reopened, and a message is handed over once even if
      // its consume failed and the server sends it again.
      const delivered = new Set();
      loop = (async () => {
        while (!abort.signal.aborted) {
          try {
            for await (const msg of service.subscribe({}, { signal: abort.signal, timeoutMs: 0 })) {
              if (msg.payload.case !== 'e2eeMsg' || msg.payload.value.payload.case !== 'one2oneMsg') continue;
              if (!delivered.has(msg.id)) {
                delivered.add(msg.id);
                const body = msg.payload.value.payload.value.ciphertext;
                for (const listener of listeners) listener({ message: { body } });
              }
              await service.consumeProtoMsg({ protoMsgId: msg.id });
            }
          } catch {
            if (!abort.signal.aborted) await new Promise((resolve) => setTimeout(resolve, 100));
          }
        }
      })();
    },
    async sendMessage(userId, body) {
      const msg = {
        version: 1,
        suiteId: 2,
        sessionId: 'relay',
        from: address(self.userId, deviceId),
        to: address(userId, deviceId),
        payload: { case: 'one2oneMsg', value: { ciphertext: body } },
      };
      // Like the runtime's outbox: a request that got no answer is sent again (up to 5 times).
      for (let attempt = 1; ; attempt++) {
        try {
          const response = await service.sendOne2oneMsg({ msg });
          if (response.code !== 200) throw new Error(`relay send: ${response.code} ${response.reason}`);
          return;
        } catch (error) {
          if (attempt >= 5 || String(error?.message).startsWith('relay send')) throw error;
          await new Promise((resolve) => setTimeout(resolve, 100 * attempt));
        }
      }
    },
    async stop() {
      abort?.abort();
      await loop?.catch(() => undefined);
    },
  };
}
