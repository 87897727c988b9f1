/**
 * CORS for browser clients served from another origin. Off by default: only the origins listed
 * get Access-Control headers, and '*' must be asked for explicitly. Preflight requests are answered
 * here; everything else goes on to the Connect handler.
 */
import type { IncomingMessage, ServerResponse } from 'node:http';

/** Request headers a Connect client sends (plus the bearer token). */
const ALLOWED_HEADERS = 'authorization, content-type, connect-protocol-version, connect-timeout-ms, connect-content-encoding, connect-accept-encoding';

export type NodeHandler = (req: IncomingMessage, res: ServerResponse) => void;

/** Wraps `next` with CORS for `origins` (exact origins like 'http://127.0.0.1:5173', or '*'). */
export function withCors(origins: readonly string[], next: NodeHandler): NodeHandler {
  if (origins.length === 0) return next;
  const any = origins.includes('*');
  return (req, res) => {
    const origin = req.headers.origin;
    const allowed = typeof origin === 'string' && (any || origins.includes(origin));
    if (allowed) {
      res.setHeader('access-control-allow-origin', any ? '*' : origin);
      res.setHeader('vary', 'origin');
      res.setHeader('access-control-expose-headers', 'connect-content-encoding, grpc-status, grpc-message');
    }
    if (req.method === 'OPTIONS') {
      if (allowed) {
        res.setHeader('access-control-allow-methods', 'POST, GET, OPTIONS');
        res.setHeader('access-control-allow-headers', ALLOWED_HEADERS);
        res.setHeader('access-control-max-age', '600');
      }
      res.statusCode = allowed ? 204 : 403;
      res.end();
      return;
    }
    next(req, res);
  };
}
