// A protocol handler standing in for a malicious server (or anyone on the path): every ProtoMsg of
// the client's stream passes through `edit` before the runtime sees it.
import { createServerTransport, type ProtocolHandler } from './library.js';
import type { ProtoMsg } from '../../src/proto/gen/service_pb.js';

export function tamperingHandler(url: string, edit: (msg: ProtoMsg) => void): ProtocolHandler {
  return streamRewritingHandler(url, (msg) => {
    edit(msg);
    return [msg];
  });
}

/** Every ProtoMsg of the stream is replaced by what `rewrite` returns (none, itself, or several). */
export function streamRewritingHandler(url: string, rewrite: (msg: ProtoMsg) => ProtoMsg[]): ProtocolHandler {
  const inner = createServerTransport(url);
  const service = new Proxy(inner.service, {
    get(target, prop, receiver) {
      if (prop !== 'subscribe') return Reflect.get(target, prop, receiver);
      return async function* (request: Parameters<typeof target.subscribe>[0], options: Parameters<typeof target.subscribe>[1]) {
        for await (const msg of target.subscribe(request, options)) yield* rewrite(msg);
      };
    },
  });
  return { service, setToken: (token) => inner.setToken(token) };
}
