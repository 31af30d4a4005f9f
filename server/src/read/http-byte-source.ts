/**
 * A remote raster (a COG on any static HTTP(S) server) as a ByteSource: HTTP range requests in
 * fixed blocks through a shared, byte-bounded LRU, with retries and backoff, a timeout per request,
 * and the first response's ETag / Last-Modified checked on every later one, so a file replaced on
 * the server is noticed instead of mixing two files' bytes.
 *
 * Written on node:http rather than fetch for two reasons: the address a request connects to can be
 * checked in the DNS lookup itself (SATSEG_URL_DENY_PRIVATE), which also pins it against DNS
 * rebinding, and a server that ignores Range can be cut off after a few bytes instead of sending
 * the whole file.
 */
import http from 'node:http';
import https from 'node:https';
import dns from 'node:dns';
import net from 'node:net';
import { LRUCache } from 'lru-cache';
import type { ByteSource } from './byte-source.ts';
import { RasterError } from '../errors.ts';
import { cacheBytes } from '../cache-size.ts';

export interface HttpSourceOptions {
  /** Refuse loopback, private, link-local and other non-public addresses (SSRF guard). */
  denyPrivate?: boolean;
  /** Per request, headers to body end (a deadline, not an idle time). */
  timeoutMs?: number;
  /** Extra tries after a network error, a 5xx or a 429. */
  retries?: number;
  /** Told when the file is found changed on the server, so whoever keeps this source open can drop it and reopen. */
  onChanged?: () => void;
}

type RequestOptions = Required<Omit<HttpSourceOptions, 'onChanged'>>;

/** Bytes per range request unit; neighbouring blocks a read needs go out as one request. */
const BLOCK = 64 * 1024;
const MAX_REDIRECTS = 3;
/** Largest single range request; a read larger than this is split. */
const MAX_REQUEST = 16 * 1024 * 1024;

const blocks = new LRUCache<string, Uint8Array>({
  maxSize: Math.max(1, cacheBytes('SATSEG_HTTP_CACHE_MB', 64)),
  sizeCalculation: (v) => Math.max(1, v.byteLength),
});

/**
 * The largest buffer an entry of the remote block cache keeps alive, for diagnostics: a view into a
 * larger reply kept all of it, beyond the bytes the cache counts.
 */
export function remoteCacheLargestBuffer(): number {
  let largest = 0;
  for (const v of blocks.values()) largest = Math.max(largest, v.buffer.byteLength);
  return largest;
}

/** The eight 16-bit groups of an IPv6 address (a dotted IPv4 tail included), or null. */
function ipv6Groups(address: string): number[] | null {
  if (!net.isIPv6(address)) return null;
  let text = address.toLowerCase().replace(/%.*$/, '');
  const dotted = /(\d+)\.(\d+)\.(\d+)\.(\d+)$/.exec(text);
  if (dotted) {
    const [a, b, c, d] = dotted.slice(1).map(Number) as [number, number, number, number];
    text = `${text.slice(0, dotted.index)}${((a << 8) | b).toString(16)}:${((c << 8) | d).toString(16)}`;
  }
  const [head, tail] = text.split('::') as [string, string | undefined];
  const part = (s: string | undefined) => (s ? s.split(':').map((g) => parseInt(g, 16)) : []);
  const front = part(head);
  const back = part(tail);
  return tail === undefined ? front : [...front, ...Array(8 - front.length - back.length).fill(0), ...back];
}

/** True for addresses a public URL should never reach (loopback, RFC 1918, link-local, ...). */
export function isPrivateAddress(address: string): boolean {
  if (net.isIPv4(address)) {
    const [a, b] = address.split('.').map(Number) as [number, number];
    return a === 0 || a === 10 || a === 127 || (a === 100 && b >= 64 && b < 128) || (a === 169 && b === 254)
      || (a === 172 && b >= 16 && b < 32) || (a === 192 && b === 168) || (a === 198 && (b === 18 || b === 19)) || a >= 224;
  }
  const g = ipv6Groups(address);
  if (!g) return true; // not an address we can read: not one to connect to
  // IPv4 inside IPv6, in any spelling: mapped (::ffff:a.b.c.d, which the URL parser writes as
  // ::ffff:7f00:1 and slipped past a check of the dotted form), compatible (::a.b.c.d) and NAT64
  // (64:ff9b::a.b.c.d) reach the IPv4 address they carry.
  const zeros = (n: number) => g.slice(0, n).every((v) => v === 0);
  const v4 = () => `${g[6]! >> 8}.${g[6]! & 255}.${g[7]! >> 8}.${g[7]! & 255}`;
  if ((zeros(5) && g[5] === 0xffff) || (g[0] === 0x64 && g[1] === 0xff9b && g.slice(2, 6).every((v) => v === 0))) return isPrivateAddress(v4());
  // 6to4 (2002:AABB:CCDD::) carries its IPv4 address in the second and third groups.
  if (g[0] === 0x2002) return isPrivateAddress(`${g[1]! >> 8}.${g[1]! & 255}.${g[2]! >> 8}.${g[2]! & 255}`);
  if (zeros(6)) return g[6] === 0 && g[7]! <= 1 ? true : isPrivateAddress(v4()); // :: and ::1, or IPv4-compatible
  // Unique local fc00::/7, link-local fe80::/10, multicast ff00::/8.
  return (g[0]! & 0xfe00) === 0xfc00 || (g[0]! & 0xffc0) === 0xfe80 || (g[0]! & 0xff00) === 0xff00;
}

function guardedLookup(hostname: string, options: dns.LookupOptions, callback: (err: NodeJS.ErrnoException | null, address: string | dns.LookupAddress[], family?: number) => void): void {
  dns.lookup(hostname, { ...options, all: true }, (err, addresses) => {
    if (err) return callback(err, '');
    const list = addresses as dns.LookupAddress[];
    const bad = list.find((a) => isPrivateAddress(a.address));
    if (bad) {
      const e = new Error(`${hostname} resolves to a private or loopback address (${bad.address}); SATSEG_URL_DENY_PRIVATE is set`) as NodeJS.ErrnoException;
      e.code = 'EPRIVATE';
      return callback(e, '');
    }
    if (options.all) return callback(null, list);
    callback(null, list[0]!.address, list[0]!.family);
  });
}

interface RangeReply {
  status: number;
  headers: http.IncomingHttpHeaders;
  body: Uint8Array;
  /** The URL that answered, after redirects. */
  url: string;
}

function publicLabel(url: URL): string {
  return `${url.protocol}//${url.host}${url.pathname}`;
}

export class HttpByteSource implements ByteSource {
  private constructor(
    private readonly url: URL,
    readonly size: number,
    readonly version: string,
    private readonly validator: { etag?: string; lastModified?: string },
    private readonly options: RequestOptions,
    private readonly onChanged?: () => void,
    /** Ends every read of this source (a job's cancel, a registration's deadline or its client leaving). */
    private readonly lifetime?: AbortSignal,
  ) {}

  /** The whole file, when the server sent it all at once (it is no larger than a block). */
  private whole: Uint8Array | null = null;

  get label(): string {
    return publicLabel(this.url);
  }

  /** `signal`: for the open and every later read of the source. */
  static async open(location: string, options: HttpSourceOptions = {}, signal?: AbortSignal): Promise<HttpByteSource> {
    let url: URL;
    try {
      url = new URL(location);
    } catch {
      throw new RasterError('bad-url', `not a valid URL: ${JSON.stringify(location.slice(0, 200))}`);
    }
    if (url.protocol !== 'http:' && url.protocol !== 'https:') throw new RasterError('bad-url', `only http and https URLs are supported (got ${url.protocol.replace(':', '')})`);
    if (url.username || url.password) throw new RasterError('bad-url', 'URLs with a user name or password are not accepted; use a signed URL or a public one');
    const opts: RequestOptions = {
      denyPrivate: options.denyPrivate ?? process.env.SATSEG_URL_DENY_PRIVATE === '1',
      timeoutMs: options.timeoutMs ?? Number(process.env.SATSEG_HTTP_TIMEOUT_MS ?? 15_000),
      retries: options.retries ?? 3,
    };
    const first = await request(url, 0, BLOCK - 1, opts, signal);
    const range = /^bytes (\d+)-(\d+)\/(\d+|\*)$/.exec(String(first.headers['content-range'] ?? ''));
    if (first.status === 200) {
      // A file no larger than the first block came whole (an .aux.xml from a server that ignores
      // Range, as satseg's own result files did): nothing more will be asked of the server.
      const declared = first.headers['content-length'];
      if (first.body.length > 0 && first.body.length <= BLOCK && (declared === undefined || Number(declared) === first.body.length)) {
        const source = new HttpByteSource(new URL(first.url), first.body.length, first.headers.etag ?? first.headers['last-modified'] ?? `size:${first.body.length}`, {}, opts, options.onChanged, signal);
        source.whole = first.body;
        return source;
      }
      throw new RasterError('no-range', `${publicLabel(url)} ignores HTTP Range requests (it answered 200 with the whole file); satseg reads remote rasters in ranges and will not download them whole`);
    }
    if (first.status === 416) throw new RasterError('not-tiff', `${publicLabel(url)} is empty`);
    if (first.status !== 206 || !range || range[3] === '*') throw new RasterError('no-range', `${publicLabel(url)} answered a Range request with status ${first.status} and no usable Content-Range`);
    const size = Number(range[3]);
    // The first answer sets the file's size for every later read: it must say what it sent.
    const end = Math.min(BLOCK, size) - 1;
    if (!Number.isSafeInteger(size) || size < 1 || Number(range[1]) !== 0 || Number(range[2]) !== end || first.body.length !== end + 1) {
      throw new RasterError('remote-failed', `${publicLabel(url)} answered the range 0-${BLOCK - 1} with ${first.body.length} bytes labelled "${String(first.headers['content-range']).slice(0, 80)}"; its ranges cannot be trusted`);
    }
    const validator = { etag: first.headers.etag, lastModified: first.headers['last-modified'] };
    const version = validator.etag ?? validator.lastModified ?? `size:${size}`;
    const source = new HttpByteSource(new URL(first.url), size, version, validator, opts, options.onChanged, signal);
    blocks.set(source.blockKey(0), first.body.subarray(0, Math.min(BLOCK, size)));
    return source;
  }

  private blockKey(index: number): string {
    return `${this.url.href}|${this.version}|${index}`;
  }

  async read(offset: number, length: number, readSignal?: AbortSignal): Promise<Uint8Array> {
    const signal = readSignal && this.lifetime ? AbortSignal.any([readSignal, this.lifetime]) : readSignal ?? this.lifetime;
    const end = Math.min(this.size, offset + length);
    if (end <= offset) return new Uint8Array(0);
    if (this.whole) return this.whole.slice(offset, end);
    const first = Math.floor(offset / BLOCK);
    const last = Math.floor((end - 1) / BLOCK);
    const parts: Uint8Array[] = [];
    // Runs of missing blocks go out as one request each.
    let b = first;
    while (b <= last) {
      const hit = blocks.get(this.blockKey(b));
      if (hit) { parts.push(hit); b++; continue; }
      let runEnd = b;
      while (runEnd < last && !blocks.has(this.blockKey(runEnd + 1)) && (runEnd + 2 - b) * BLOCK <= MAX_REQUEST) runEnd++;
      const lo = b * BLOCK;
      const hi = Math.min(this.size, (runEnd + 1) * BLOCK) - 1;
      let reply: RangeReply;
      try {
        reply = await request(this.url, lo, hi, this.options, signal);
        this.check(reply, lo, hi);
      } catch (err) {
        // Once open, the file was there and answered ranges: a 404, a refused range or a short
        // answer now is the remote server failing (502), not a bad request of our client (400).
        if (err instanceof RasterError && (err.code === 'not-found' || err.code === 'no-range' || err.code === 'truncated' || err.code === 'bad-url')) {
          throw new RasterError('remote-failed', err.message);
        }
        throw err;
      }
      for (let i = b; i <= runEnd; i++) {
        // A block of a reply that spans several is copied out: a view would keep the whole reply
        // (up to 16 MB) alive for a 64 KB entry, and the cache would hold up to 256 times its size.
        const view = reply.body.subarray((i - b) * BLOCK, Math.min(reply.body.length, (i - b + 1) * BLOCK));
        const part = runEnd > b ? view.slice() : view;
        blocks.set(this.blockKey(i), part);
        parts.push(part);
      }
      b = runEnd + 1;
    }
    const out = new Uint8Array(end - offset);
    let pos = 0;
    for (let i = 0; i < parts.length; i++) {
      const blockStart = (first + i) * BLOCK;
      const from = Math.max(offset, blockStart) - blockStart;
      const to = Math.min(end, blockStart + parts[i]!.length) - blockStart;
      if (to > from) { out.set(parts[i]!.subarray(from, to), pos); pos += to - from; }
    }
    return pos === out.length ? out : out.subarray(0, pos);
  }

  /** A reply must be the range asked for, of the same file version as when it was opened. */
  private check(reply: RangeReply, lo: number, hi: number): void {
    const etag = reply.headers.etag;
    const lastModified = reply.headers['last-modified'];
    // The validator the file was opened with (its ETag, else its Last-Modified) must come back
    // unchanged: one that differs, or that a later answer drops (a replaced file served without
    // its ETag), is another version of the file, whose blocks would be mixed with the cached ones
    // of the first. Last-Modified is not compared beside an ETag: some servers restamp it.
    if (this.validator.etag ? etag !== this.validator.etag : (this.validator.lastModified !== undefined && lastModified !== this.validator.lastModified)) {
      this.onChanged?.();
      throw new RasterError('source-changed', `${this.label} changed on the server while it was being read (ETag or Last-Modified differs); it will be reopened`);
    }
    if (reply.status !== 206) throw new RasterError('no-range', `${this.label} answered a Range request with status ${reply.status}`);
    if (reply.body.length !== hi - lo + 1) throw new RasterError('truncated', `${this.label} sent ${reply.body.length} bytes for a ${hi - lo + 1}-byte range`);
    // Bytes from elsewhere in the file (or another file's size) would be cached as these blocks:
    // wrong pixels, or tiles that stayed 422 once the server was well again.
    const range = /^bytes (\d+)-(\d+)\/(\d+|\*)$/.exec(String(reply.headers['content-range'] ?? ''));
    if (!range || Number(range[1]) !== lo || Number(range[2]) !== hi || (range[3] !== '*' && Number(range[3]) !== this.size)) {
      throw new RasterError('remote-failed', `${this.label} answered the range ${lo}-${hi} of its ${this.size} bytes with "${String(reply.headers['content-range'] ?? 'no Content-Range').slice(0, 80)}"`);
    }
  }

  async close(): Promise<void> {
    // Blocks stay in the shared LRU (keyed by URL and version) for the next open of the same file.
  }
}

function retryable(err: unknown): boolean {
  const code = (err as NodeJS.ErrnoException).code;
  return code !== 'EPRIVATE' && code !== 'ENOTFOUND' && !(err instanceof RasterError);
}

/**
 * One range request with retries and exponential backoff, all within twice the timeout: a server
 * that stalls 14 s and then answers 503 held one read 58 s over four attempts, and 226 s with a
 * stall before each of three redirects, since each attempt and each hop had a deadline of its own.
 */
async function request(url: URL, lo: number, hi: number, opts: RequestOptions, signal?: AbortSignal): Promise<RangeReply> {
  let attempt = 0;
  let timeouts = 0;
  const deadline = Date.now() + 2 * opts.timeoutMs;
  for (;;) {
    signal?.throwIfAborted();
    try {
      const reply = await requestOnce(url, lo, hi, opts, signal, 0, deadline);
      if ((reply.status >= 500 || reply.status === 429) && attempt < opts.retries) throw Object.assign(new Error(`HTTP ${reply.status}`), { code: 'ERETRY' });
      if (reply.status === 404 || reply.status === 410) throw new RasterError('not-found', `${publicLabel(url)} does not exist (HTTP ${reply.status})`);
      if (reply.status === 401 || reply.status === 403) throw new RasterError('not-found', `${publicLabel(url)} refused access (HTTP ${reply.status})`);
      if (reply.status >= 400 && reply.status !== 416) throw new RasterError('remote-failed', `${publicLabel(url)} answered HTTP ${reply.status}`);
      return reply;
    } catch (err) {
      if (signal?.aborted) throw err;
      // A server that let the whole timeout pass twice is stalled, not blinking: trying it
      // `retries` times would keep a user's request (registering a URL, a tile) waiting for
      // minutes. Refused connections and 5xx, which a restart causes, keep every retry.
      if ((err as NodeJS.ErrnoException).code === 'ETIMEDOUT') timeouts++;
      const backoff = 250 * 2 ** attempt * (0.75 + Math.random() / 2);
      const late = Date.now() + backoff >= deadline;
      if (late && (err as NodeJS.ErrnoException).code === 'ERETRY') throw new RasterError('remote-failed', `${publicLabel(url)} kept failing for ${(2 * opts.timeoutMs) / 1000} s (${(err as Error).message})`);
      if (attempt >= opts.retries || !retryable(err) || timeouts >= 2 || late) {
        if (err instanceof RasterError) throw err;
        const e = err as NodeJS.ErrnoException;
        if (e.code === 'EPRIVATE') throw new RasterError('bad-url', e.message);
        if (e.code === 'ENOTFOUND') throw new RasterError('not-found', `${url.hostname} does not resolve`);
        if (e.code === 'ETIMEDOUT') throw new RasterError('timeout', `${publicLabel(url)} did not answer within ${opts.timeoutMs / 1000} s`);
        throw new RasterError('remote-failed', `${publicLabel(url)} cannot be read: ${e.message}`);
      }
      attempt++;
      // 0.25 s, 0.5 s, 1 s, ... with jitter, so retries of many blocks do not arrive together.
      await new Promise((r) => setTimeout(r, backoff));
    }
  }
}

/** A host written as an address never goes through the DNS lookup, so the guard checks it here. */
function literalPrivateHost(url: URL): string | null {
  const host = url.hostname.replace(/^\[(.*)\]$/, '$1');
  return net.isIP(host) && isPrivateAddress(host) ? host : null;
}

function requestOnce(url: URL, lo: number, hi: number, opts: RequestOptions, signal: AbortSignal | undefined, redirects: number, until: number): Promise<RangeReply> {
  const literal = opts.denyPrivate ? literalPrivateHost(url) : null;
  if (literal) return Promise.reject(new RasterError('bad-url', `${literal} is a private or loopback address; SATSEG_URL_DENY_PRIVATE is set`));
  return new Promise<RangeReply>((resolve, reject) => {
    const lib = url.protocol === 'https:' ? https : http;
    const want = hi - lo + 1;
    const req = lib.request(url, {
      method: 'GET',
      headers: { Range: `bytes=${lo}-${hi}`, 'User-Agent': 'satseg', 'Accept-Encoding': 'identity' },
      lookup: opts.denyPrivate ? guardedLookup as never : undefined,
      signal,
    }, (res) => {
      const status = res.statusCode ?? 0;
      if (status >= 300 && status < 400 && res.headers.location) {
        res.resume();
        if (redirects >= MAX_REDIRECTS) return reject(new RasterError('remote-failed', `${publicLabel(url)}: too many redirects`));
        let next: URL;
        try { next = new URL(res.headers.location, url); } catch { return reject(new RasterError('remote-failed', `${publicLabel(url)}: bad redirect`)); }
        if (next.protocol !== 'http:' && next.protocol !== 'https:') return reject(new RasterError('bad-url', `${publicLabel(url)} redirects to a ${next.protocol} URL`));
        requestOnce(next, lo, hi, opts, signal, redirects + 1, until).then(resolve, reject);
        return;
      }
      const chunks: Buffer[] = [];
      let got = 0;
      // A server that ignores Range sends the whole file: stop after what was asked for.
      res.on('data', (c: Buffer) => {
        got += c.length;
        if (got > want + 1024) { res.destroy(); resolve({ status, headers: res.headers, body: new Uint8Array(0), url: url.href }); return; }
        chunks.push(c);
      });
      res.on('end', () => resolve({ status, headers: res.headers, body: new Uint8Array(Buffer.concat(chunks)), url: url.href }));
      res.on('error', reject);
    });
    // A deadline for the whole answer, headers to end of body: an idle timer let a server that
    // sends a byte every 2 s hold a read (and the tile or job waiting on it) for ever.
    // Each attempt has the timeout, and no more than is left of its request's (redirects included).
    const deadline = setTimeout(() => req.destroy(Object.assign(new Error('timeout'), { code: 'ETIMEDOUT' })), Math.max(0, Math.min(opts.timeoutMs, until - Date.now())));
    req.on('close', () => clearTimeout(deadline));
    req.on('error', reject);
    req.end();
  });
}
