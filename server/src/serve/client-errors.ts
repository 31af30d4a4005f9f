/**
 * Requests Node's HTTP parser refuses before the app sees them (headers over 16 KB, a malformed
 * request line) get the same JSON error body as every other 4xx, not Node's bare status line: a
 * client is told what was wrong.
 */
import type { ServerType } from '@hono/node-server';
import type { Duplex } from 'node:stream';

export function answerUnparsableRequests(server: ServerType): void {
  // ServerType is an HTTP/1 or HTTP/2 server; both emit 'clientError' with the socket.
  (server as import('node:http').Server).on('clientError', (err: NodeJS.ErrnoException, socket: Duplex) => {
    // A client that is already gone needs no answer; nor can one get it on a socket whose current
    // response has begun (a pipelined request): the connection is closed, as Node does.
    const current = (socket as Duplex & { _httpMessage?: { headersSent?: boolean } })._httpMessage;
    if (err.code === 'ECONNRESET' || !socket.writable || current?.headersSent) { socket.destroy(); return; }
    const tooLarge = err.code === 'HPE_HEADER_OVERFLOW';
    const timeout = err.code === 'ERR_HTTP_REQUEST_TIMEOUT';
    const [status, error, detail] = tooLarge
      ? ['431 Request Header Fields Too Large', 'request header fields too large', 'the request line and headers together exceed 16 KB: shorten the URL (its query) or the headers']
      : timeout
        ? ['408 Request Timeout', 'request timeout', 'the request did not arrive in time']
        : ['400 Bad Request', 'bad request', `the request could not be parsed as HTTP (${err.code ?? 'malformed'})`];
    const body = JSON.stringify({ error, detail });
    socket.end(`HTTP/1.1 ${status}\r\nContent-Type: application/json\r\nContent-Length: ${Buffer.byteLength(body)}\r\nConnection: close\r\n\r\n${body}`);
  });
}
