/**
 * A small static HTTP server over a folder, written for tests on node:http alone (not satseg's own
 * file-response.ts, so the remote reader is checked against an implementation it does not share
 * code with). It answers single byte ranges with 206 and Content-Range, sends a strong ETag of the
 * file's content and Last-Modified, and can misbehave on request: ignore Range, stall, fail the
 * first requests with 503, or redirect. It counts requests and body bytes sent.
 */
import fs from 'node:fs';
import http from 'node:http';
import path from 'node:path';
import crypto from 'node:crypto';
import type { AddressInfo } from 'node:net';

export interface RangeServerBehaviour {
  /** Answer 200 with the whole file, as a server without range support does. */
  ignoreRange?: boolean;
  /** Wait this long before answering (to test timeouts). */
  delayMs?: number;
  /** Answer this many requests with 503 before serving normally. */
  failFirst?: number;
  /** Redirect /redirect/<name> to /<name> with 302. */
  redirects?: boolean;
  /** Send no ETag and no Last-Modified (a server that drops them, or a file served anew without them). */
  dropValidators?: boolean;
  /** Answer every request with a 302 to this location. */
  redirectEverythingTo?: string;
  /** Answer requests for these paths with this status and no body (a 403 of S3, a 500). */
  statusOf?: Record<string, number>;
  /** Wait this long before answering requests for these paths. */
  delayOf?: Record<string, number>;
}

export interface RangeServer {
  base: string;
  behaviour: RangeServerBehaviour;
  requests: number;
  bytesSent: number;
  close(): Promise<void>;
}

function etagOf(file: string): string {
  return `"${crypto.createHash('sha1').update(fs.readFileSync(file)).digest('hex').slice(0, 16)}"`;
}

export async function startRangeServer(root: string, behaviour: RangeServerBehaviour = {}): Promise<RangeServer> {
  const state = { requests: 0, bytesSent: 0, failed: 0 };
  const sockets = new Set<import('node:net').Socket>();
  const server = http.createServer((req, res) => {
    state.requests++;
    const answer = () => {
      const url = new URL(req.url ?? '/', 'http://x');
      if (behaviour.redirectEverythingTo) {
        res.writeHead(302, { Location: behaviour.redirectEverythingTo }).end();
        return;
      }
      const forced = behaviour.statusOf?.[url.pathname];
      if (forced) {
        res.writeHead(forced).end();
        return;
      }
      if (behaviour.redirects && url.pathname.startsWith('/redirect/')) {
        res.writeHead(302, { Location: url.pathname.slice('/redirect'.length) }).end();
        return;
      }
      if (behaviour.failFirst && state.failed < behaviour.failFirst) {
        state.failed++;
        res.writeHead(503).end('busy');
        return;
      }
      const file = path.join(root, decodeURIComponent(url.pathname));
      if (!file.startsWith(root) || !fs.existsSync(file) || !fs.statSync(file).isFile()) {
        res.writeHead(404, { 'Content-Type': 'text/plain' }).end('not found');
        return;
      }
      const size = fs.statSync(file).size;
      const validators = behaviour.dropValidators ? {} : { ETag: etagOf(file), 'Last-Modified': fs.statSync(file).mtime.toUTCString() };
      const headers = { ...validators, 'Accept-Ranges': behaviour.ignoreRange ? 'none' : 'bytes' };
      const m = /^bytes=(\d+)-(\d*)$/.exec(req.headers.range ?? '');
      let start = 0;
      let end = size - 1;
      let status = 200;
      if (m && !behaviour.ignoreRange) {
        start = Number(m[1]);
        end = m[2] === '' ? size - 1 : Math.min(Number(m[2]), size - 1);
        if (start >= size) {
          res.writeHead(416, { ...headers, 'Content-Range': `bytes */${size}` }).end();
          return;
        }
        status = 206;
      }
      const body = fs.readFileSync(file).subarray(start, end + 1);
      res.writeHead(status, { ...headers, 'Content-Length': String(body.length), ...(status === 206 ? { 'Content-Range': `bytes ${start}-${end}/${size}` } : {}) });
      // Written in pieces, so a client that hangs up early stops the transfer.
      let at = 0;
      const pump = () => {
        while (at < body.length) {
          const piece = body.subarray(at, at + 16384);
          at += piece.length;
          state.bytesSent += piece.length;
          if (!res.write(piece)) { res.once('drain', pump); return; }
        }
        res.end();
      };
      res.on('close', () => { at = body.length; });
      pump();
    };
    const delay = behaviour.delayOf?.[new URL(req.url ?? '/', 'http://x').pathname] ?? behaviour.delayMs;
    if (delay) setTimeout(answer, delay); else answer();
  });
  server.on('connection', (s) => { sockets.add(s); s.on('close', () => sockets.delete(s)); });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return {
    base: `http://127.0.0.1:${(server.address() as AddressInfo).port}`,
    behaviour,
    get requests() { return state.requests; },
    get bytesSent() { return state.bytesSent; },
    close: () => new Promise<void>((resolve) => { for (const s of sockets) s.destroy(); server.close(() => resolve()); }),
  };
}
