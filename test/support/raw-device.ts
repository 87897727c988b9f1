// An adversary's device: an Account registered with raw RPCs (no runtime), so a test can send
// hand-made protocol messages through the real server and read its own queue.
import { Account } from '../../src/protocol/index.js';
import { createServerTransport } from './library.js';
import type { ProtoMsg } from '../../src/proto/gen/service_pb.js';
import type { E2eeAddress } from '../../src/proto/gen/wire_pb.js';

export interface RawDevice {
  account: Account;
  service: ReturnType<typeof createServerTransport>['service'];
  address: E2eeAddress;
  userId: string;
  deviceId: string;
  /** ProtoMsgs received so far (a background Subscribe appends to it after `listen()`). */
  received: ProtoMsg[];
  /** Starts reading this device's stream (consuming what it reads); stops with `close()`. */
  listen(): void;
  close(): void;
}

/** Registers a new user's device with `suite` and signs it in. */
export async function rawDevice(url: string, deviceId: string, suite = 2): Promise<RawDevice> {
  const transport = createServerTransport(url);
  const account = Account.create({ suite, now: Date.now() });
  const challenge = await transport.service.getChallenge({});
  const registered = await transport.service.registerUser({
    suiteId: suite,
    userId: '',
    deviceId,
    identityKey: account.identityPublicKey,
    signedPreKey: account.signedPreKeyPublic(),
    oneTimePreKeys: account.oneTimePreKeyPublics(),
    challengeId: challenge.challengeId,
    challengeSignature: account.signServerChallenge(challenge.domain, challenge.challenge, '', deviceId),
  });
  const address = registered.address as E2eeAddress;
  const userId = address.peer.case === 'user' ? address.peer.value.userId : '';
  account.setAddress(challenge.domain, userId, deviceId);
  transport.setToken(registered.token);
  const abort = new AbortController();
  const device: RawDevice = {
    account,
    service: transport.service,
    address,
    userId,
    deviceId,
    received: [],
    listen() {
      void (async () => {
        try {
          for await (const msg of transport.service.subscribe({}, { signal: abort.signal, timeoutMs: 0 })) {
            if (msg.payload.case === 'serverHeartbeatMsg') continue;
            device.received.push(msg);
            await transport.service.consumeProtoMsg({ protoMsgId: msg.id });
          }
        } catch {
          // aborted
        }
      })();
    },
    close() {
      abort.abort();
    },
  };
  return device;
}
