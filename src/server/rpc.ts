/**
 * What every RPC handler shares: the response codes of an outcome, the gate a call passes before
 * its handler runs (token, rate limits) and the net that turns an unexpected failure into
 * INTERNAL_SERVER_ERROR. Handlers stay plain `(request, caller, now) => response` functions.
 */
import { createContextKey, type HandlerContext, type ServiceImpl } from '@connectrpc/connect';
import { ResponseCode, type E2eeService } from '../proto/gen/service_pb.js';
import type { AuthState, DeviceIdentity } from './auth.js';
import type { StreamConnection } from './delivery.js';
import type { RateLimiter } from './rate-limit.js';

/** Every RPC of E2eeService (src/proto/service.proto) with its request and response types. */
export type E2eeHandlers = ServiceImpl<typeof E2eeService>;

/**
 * The slice of the service one file implements; `E2eeServer.implementation()` spreads the slices
 * into one object that the compiler checks is complete.
 */
export type HandlerGroup<K extends keyof E2eeHandlers> = Pick<E2eeHandlers, K>;

/** Context value: the remote address of the HTTP connection (set by the node adapter). */
export const remoteAddressKey = createContextKey<string>('unknown', { description: 'remote address' });

/**
 * Context value: the call's HTTP connection (set by the node adapter). A stream blocked on a write
 * its client never drains can only be ended by closing it. The default closes nothing and sends
 * nothing (transports without a connection of their own).
 */
export const callConnectionKey = createContextKey<StreamConnection>({ close: () => undefined, sentBytes: () => 0 }, { description: 'HTTP connection' });

/**
 * The part every response message has. Each response of service.proto starts with `code` and
 * `reason`, and their init shapes make every other field optional, so an Outcome is a valid
 * answer to any RPC: refusals need no per-method type.
 */
export interface Outcome {
  code: ResponseCode;
  reason: string;
}

export const fail = (code: ResponseCode, reason: string): Outcome => ({ code, reason });
export const ok = (reason = 'ok'): Outcome => ({ code: ResponseCode.OK, reason });

/**
 * Called with every failure a handler did not expect (the caller gets INTERNAL_SERVER_ERROR and the
 * server keeps serving). `rpc` is the method name. The request is never passed: it may hold
 * tokens, signatures or ciphertexts.
 */
export type RpcErrorHook = (error: unknown, rpc: string) => void;

/** What a call passes before its handler runs. */
export interface RpcGate {
  readonly auth: AuthState;
  /** Per authenticated device. */
  readonly deviceLimiter: RateLimiter;
  /** Per remote address, for calls without a valid token. */
  readonly ipLimiter: RateLimiter;
  readonly onError: RpcErrorHook;
}

/** The bearer token of a call, if its authorization header has the expected form. */
export function bearerToken(ctx: HandlerContext): string | undefined {
  const match = /^Bearer ([A-Za-z0-9_-]{1,128})$/.exec(ctx.requestHeader.get('authorization') ?? '');
  return match?.[1];
}

/** Rate-limit keys: one bucket per device, one per remote address (prefixed so they never meet). */
export const deviceBucket = (caller: DeviceIdentity): string => `device:${caller.userId}\u0000${caller.deviceId}`;
export const addressBucket = (ctx: HandlerContext): string => `ip:${ctx.values.get(remoteAddressKey)}`;

const rateLimited = (): Outcome => fail(ResponseCode.SERVICE_UNAVAILABLE, 'rate limit exceeded');

/**
 * Runs a handler; anything it throws is reported to the hook and answered INTERNAL_SERVER_ERROR, so
 * one bad request (or a busy database) never takes the server down nor leaks internals to a client.
 */
async function guarded<Res>(gate: RpcGate, ctx: HandlerContext, run: () => Promise<Res>): Promise<Res | Outcome> {
  try {
    return await run();
  } catch (error) {
    reportError(gate, error, ctx.method.name);
    return fail(ResponseCode.INTERNAL_SERVER_ERROR, 'internal server error');
  }
}

/** Hands an unexpected failure to the hook; a failing hook (a broken logger) changes nothing. */
export function reportError(gate: RpcGate, error: unknown, rpc: string): void {
  try {
    gate.onError(error, rpc);
  } catch {
    // Deliberately ignored: the answer to the client must not depend on the logger.
  }
}

/**
 * An RPC that needs a valid token. A call without one is charged to its remote address (so token
 * guessing is rate limited) and answered UNAUTHORIZED; an authenticated call is charged to its
 * device. `Req` and `Res` come from the slot of `ServiceImpl` the result is put in.
 */
export function unary<Req, Res>(
  gate: RpcGate,
  handler: (request: Req, caller: DeviceIdentity, now: number) => Promise<NoInfer<Res>>,
): (request: Req, ctx: HandlerContext) => Promise<Res | Outcome> {
  return async (request, ctx) => {
    const now = Date.now();
    const token = bearerToken(ctx);
    const identity = token === undefined ? undefined : gate.auth.verifyToken(token, now);
    if (!identity) {
      if (!gate.ipLimiter.take(addressBucket(ctx), now)) return rateLimited();
      return fail(ResponseCode.UNAUTHORIZED, 'missing, unknown or expired token');
    }
    const caller: DeviceIdentity = { userId: identity.userId, deviceId: identity.deviceId };
    if (!gate.deviceLimiter.take(deviceBucket(caller), now)) return rateLimited();
    return guarded(gate, ctx, () => handler(request, caller, now));
  };
}

/** An RPC callable without a token (GetChallenge, Authenticate, RegisterUser): charged to the remote address. */
export function publicUnary<Req, Res>(gate: RpcGate, handler: (request: Req, now: number) => Promise<NoInfer<Res>>): (request: Req, ctx: HandlerContext) => Promise<Res | Outcome> {
  return async (request, ctx) => {
    const now = Date.now();
    if (!gate.ipLimiter.take(addressBucket(ctx), now)) return rateLimited();
    return guarded(gate, ctx, () => handler(request, now));
  };
}

/**
 * One line describing an unexpected error for a log: its class, code and first line of message,
 * bounded and without control characters. No stack and nothing of the request, so no token, key or
 * message body can reach the log through it.
 */
export function describeError(error: unknown): string {
  if (!(error instanceof Error)) return `non-error value (${typeof error})`;
  const code = 'code' in error ? error.code : undefined;
  const firstLine = error.message.split('\n', 1)[0] ?? '';
  const text = `${error.name}${typeof code === 'string' ? ` [${code}]` : ''}: ${firstLine}`;
  const clean = text.replace(/[\u0000-\u001f\u007f-\u009f]/g, ' ');
  return clean.length > 200 ? `${clean.slice(0, 200)}…` : clean;
}
