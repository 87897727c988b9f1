// Tiny HTTP servers for the browser tests, bound to 127.0.0.1 on an ephemeral port:
// startStaticServer serves the repo's dist/ and wasm/ directories, a blank HTML page, and
// test/browser/in-page.ts transpiled to /in-page.js, logging every request so tests can check what the
// page fetched; startPageServer serves a few fixed pages (a bundled page script and its HTML).
import { readFileSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import path from 'node:path';
import { transformSync } from 'esbuild';

const CONTENT_TYPES: Record<string, string> = {
  '.js': 'text/javascript; charset=utf-8',
  '.mjs': 'text/javascript; charset=utf-8',
  '.wasm': 'application/wasm',
  '.map': 'application/json; charset=utf-8',
  '.json': 'application/json; charset=utf-8',
  '.html': 'text/html; charset=utf-8',
};

export const PAGE_HTML = '<!doctype html><html><head><meta charset="utf-8"><title>pqe2ee browser test</title></head><body></body></html>';

export interface RequestRecord {
  method: string;
  path: string;
  status: number;
  contentType?: string;
}

export interface StaticServer extends LocalServer {
  requests: RequestRecord[];
}

/** Transpiles the in-page module for the browser, refusing it if it would import anything at run time. */
function transpileInPage(file: string): string {
  const { code } = transformSync(readFileSync(file, 'utf8'), {
    loader: 'ts',
    format: 'esm',
    target: 'es2022',
    sourcefile: file,
  });
  if (/^\s*import[\s{*]/m.test(code) || /\bimport\(/.test(code)) {
    throw new Error(`${file} must have only type imports (it runs in the page with no bundler)`);
  }
  return code;
}

export async function startStaticServer(repoRoot: string, inPageFile: string): Promise<StaticServer> {
  const roots: Record<string, string> = {
    '/dist/': path.join(repoRoot, 'dist'),
    '/wasm/': path.join(repoRoot, 'wasm'),
  };
  const inPage = transpileInPage(inPageFile);
  const requests: RequestRecord[] = [];

  const server: Server = createServer((req, res) => {
    const urlPath = decodeURIComponent(new URL(req.url ?? '/', 'http://x').pathname);
    const send = (status: number, body: string | Uint8Array, contentType?: string): void => {
      requests.push({ method: req.method ?? '?', path: urlPath, status, ...(contentType ? { contentType } : {}) });
      const headers: Record<string, string> = { 'Cache-Control': 'no-store' };
      if (contentType) headers['Content-Type'] = contentType;
      res.writeHead(status, headers);
      res.end(req.method === 'HEAD' ? undefined : body);
    };
    if (req.method !== 'GET' && req.method !== 'HEAD') return send(405, 'method not allowed\n', 'text/plain');
    if (urlPath === '/' || urlPath === '/index.html') return send(200, PAGE_HTML, CONTENT_TYPES['.html']);
    if (urlPath === '/in-page.js') return send(200, inPage, CONTENT_TYPES['.js']);
    const prefix = Object.keys(roots).find((p) => urlPath.startsWith(p));
    if (!prefix) return send(404, 'not found\n', 'text/plain');
    const base = roots[prefix] as string;
    const file = path.resolve(base, '.' + urlPath.slice(prefix.length - 1));
    const type = CONTENT_TYPES[path.extname(file)];
    if (!file.startsWith(base + path.sep) || !type) return send(404, 'not found\n', 'text/plain');
    readFile(file).then(
      (bytes) => send(200, bytes, type),
      () => send(404, 'not found\n', 'text/plain'),
    );
  });

  return { ...(await listenLocal(server)), requests };
}

/** One fixed response of {@link startPageServer}. */
export interface PageResponse {
  contentType: string;
  body: string;
}

export const htmlPage = (body: string): PageResponse => ({ contentType: CONTENT_TYPES['.html'] as string, body });
export const scriptPage = (body: string): PageResponse => ({ contentType: CONTENT_TYPES['.js'] as string, body });

/** Serves `pages` by path (GET and HEAD); anything else is 404. */
export async function startPageServer(pages: Record<string, PageResponse>): Promise<LocalServer> {
  const server: Server = createServer((req, res) => {
    const page = pages[new URL(req.url ?? '/', 'http://x').pathname];
    const headers = { 'Cache-Control': 'no-store' };
    if (!page) res.writeHead(404, headers).end();
    else res.writeHead(200, { ...headers, 'Content-Type': page.contentType }).end(req.method === 'HEAD' ? undefined : page.body);
  });
  return listenLocal(server);
}

export interface LocalServer {
  origin: string;
  close(): Promise<void>;
}

/** Listens on 127.0.0.1, ephemeral port; close() drops the open connections and waits for the server to close. */
async function listenLocal(server: Server): Promise<LocalServer> {
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => resolve());
  });
  const { port } = server.address() as AddressInfo;
  return {
    origin: `http://127.0.0.1:${port}`,
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}
