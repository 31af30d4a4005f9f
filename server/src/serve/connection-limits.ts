/**
 * The HTTP server's own limits, set where it is created (satseg serve, and the tests' servers).
 *
 * Node cuts any request whose whole body has not arrived within 300 s (requestTimeout) with a 408:
 * a 2 GB upload over a link under 55 Mbit/s failed that way. Uploads keep their own rules instead
 * (an idle time and a minimum pace, receive-upload.ts) and JSON bodies a 30 s deadline (app.ts);
 * headers keep Node's 60 s. Connections are capped: thousands of event streams or stalled
 * downloads, which need no API key, used every file descriptor (the jobs then failed with EMFILE).
 */
import type { ServerType } from '@hono/node-server';
import type { Server } from 'node:http';
import type { ServerLimits } from './limits.ts';

export function applyConnectionLimits(server: ServerType, limits: Pick<ServerLimits, 'maxConnections'>): void {
  const http = server as Server;
  http.requestTimeout = 0;
  http.maxConnections = limits.maxConnections;
}
