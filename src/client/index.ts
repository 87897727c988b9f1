export type { GroupAuthMode } from '../protocol/index.js';
export { createClient, E2eeClient, MAX_BODY_BYTES, type ClientOptions, type SendOptions, type SendResult, type DeviceLinkRequest, type DeviceLinkGrant } from './client.js';
export { defaultCommonHandler, type CommonHandler } from './common.js';
export type { ClientEvent, ClientEventType, ClientEventOf, EventHandler, DeviceRef, ReceivedMessage } from './events.js';
export {
  ClientNotStartedError,
  InvalidClientInputError,
  UnknownPeerError,
  GroupMembershipError,
  PeerIdentityChangedError,
  ForgedRoutingError,
  WaitTimeoutError,
  HeldMessageLimitError,
} from '../errors.js';
export type { CrashPoint, RuntimeLimits } from './context.js';
export type { ProtocolHandler } from '../transport/protocol-handler.js';
// The default handler with options (a custom fetch, a call timeout): what `server: url` uses.
export { createServerTransport, type ServerTransportOptions } from '../transport/server-transport.js';
