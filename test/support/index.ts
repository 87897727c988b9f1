// The shared test helpers, one import for every suite: `import { … } from '../support/index.js'`.
// Not a test file itself (vitest only picks up *.test.ts). Each focused file below holds one concern:
//
//   paths.ts              repoRoot, the third-party and own vector directories
//   bytes.ts              hex/unhex, utf8, concat, equalBytes, flipBit, resize, indexOfBytes, sha256
//   seeded-random.ts      Drbg and Rng: SHAKE256-based seeded generators for test loops
//   prng.ts               Prng: the fast seeded generator of the adversarial fuzzer
//   failures.ts           expectThrow/checkThrow(s), describeError, show, Failures
//   timing.ts             sleep, until (poll a condition)
//   protocol.ts           SUITES, clocks, accounts and established one-to-one sessions
//   protobuf-wire.ts      an independent protobuf reader/writer to find and edit wire fields
//   group-world.ts        GroupDevice and World: group sessions driven without a server
//   rpc-server.ts         spawn the real server process; raw Connect clients and RpcDevice
//   in-process-server.ts  a server in this process plus client factories (useInProcessServer)
//   client-events.ts      collect what an E2eeClient delivers
//   drain.ts              drainInbound: wait until a client processed all it was sent (a sentinel)
//   raw-device.ts         a registered device speaking the protocol without the client
//   raw-sessions.ts       one-to-one sessions of a raw device
//   malicious-member.ts   a group member that misbehaves on purpose
//   tampering.ts          a transport that edits what the server sends
//   adversary.ts          an adversarial server for the fuzzer
//   counting-database.ts  a database wrapper that counts row reads
//   transcript.ts         the fixed-seed protocol transcript (test/vectors/transcript-v2.json)
export * from './paths.js';
export * from './bytes.js';
export * from './seeded-random.js';
export * from './prng.js';
export * from './failures.js';
export * from './timing.js';
export * from './protocol.js';
export * from './protobuf-wire.js';
export * from './group-world.js';
export * from './rpc-server.js';
export * from './in-process-server.js';
export * from './client-events.js';
export * from './drain.js';
export * from './raw-device.js';
export * from './raw-sessions.js';
export * from './malicious-member.js';
export * from './tampering.js';
export * from './adversary.js';
export * from './counting-database.js';
export * from './transcript.js';
