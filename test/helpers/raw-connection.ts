/**
 * A raw TCP connection to a test server, for requests no HTTP client would send (a body that
 * trickles, a forged length). The server under test cuts such connections, often with a reset
 * while the client is still writing: that is what these tests expect, and without a listener the
 * socket's ECONNRESET or EPIPE was an uncaught exception that failed a whole CI run with every test
 * passed. A cut still shows as the socket's 'close'.
 */
import net from 'node:net';

export function rawConnection(port: number | string): net.Socket {
  const socket = net.connect(Number(port), '127.0.0.1');
  socket.on('error', () => undefined);
  return socket;
}
