/**
 * Remote rasters over HTTP ranges, end to end against a local static server (test/helpers/
 * range-server.ts): the bytes equal the file's, tiles and masks from the URL equal those from the
 * file, every bad URL the issue lists is refused with a clear 4xx, the SSRF guard refuses loopback,
 * and a file replaced on its server is noticed and reopened.
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { HttpByteSource, isPrivateAddress, remoteCacheLargestBuffer } from '../../server/src/read/http-byte-source.ts';
import { openRaster } from '../../server/src/read/open-raster.ts';
import { tileRange } from '../../server/src/read/web-mercator.ts';
import { RasterError, statusOf } from '../../server/src/errors.ts';
import { DatasetCatalog, urlFileName } from '../../server/src/catalog/dataset-catalog.ts';
import { openCatalogDb } from '../../server/src/catalog/catalog-db.ts';
import { syntheticScene, writeTestTiff } from '../fixtures/write-tiff.ts';
import { installTestModel } from '../fixtures/test-model.ts';
import { createTestServer, type TestServer } from '../helpers/test-server.ts';
import { startRangeServer, type RangeServer } from '../helpers/range-server.ts';
import { repoRoot } from '../helpers/shared-data.ts';

const run = promisify(execFile);
const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'satseg-remote-'));
const www = path.join(tmp, 'www');
fs.mkdirSync(www);
const GT: [number, number, number, number, number, number] = [400000, 5, 0, 5000000, 0, -5];

/** A 3-band scene in strips of 16 rows, so a window needs only some of the file's bytes. */
function writeScene(file: string, seed = 1, width = 600, height = 400): void {
  writeTestTiff(file, { width, height, bands: syntheticScene(width, height, seed), geoTransform: GT, epsg: 32618, rowsPerStrip: 16 });
}

let http: RangeServer;
beforeAll(async () => {
  writeScene(path.join(www, 'scene.tif'));
  fs.writeFileSync(path.join(www, 'page.tif'), `<!doctype html><html><body>${'not a tiff '.repeat(10_000)}</body></html>`);
  http = await startRangeServer(www, { redirects: true });
});
afterAll(async () => {
  await http?.close();
  fs.rmSync(tmp, { recursive: true, force: true });
});

async function rasterError(p: Promise<unknown>): Promise<RasterError> {
  const err = await p.then(() => null, (e: unknown) => e);
  expect(err).toBeInstanceOf(RasterError);
  return err as RasterError;
}

describe('HttpByteSource', () => {
  it('reads the same bytes as the file, across block boundaries and at the end, and carries the ETag as its version', async () => {
    const file = path.join(www, 'scene.tif');
    const bytes = fs.readFileSync(file);
    const source = await HttpByteSource.open(`${http.base}/scene.tif`);
    expect(source.size).toBe(bytes.length);
    expect(source.version).toMatch(/^"[0-9a-f]{16}"$/);
    expect(source.label).toBe(`${http.base}/scene.tif`);
    const cases: Array<[number, number]> = [[0, 8], [65_530, 20], [65_536, 65_536], [100_000, 300_000], [bytes.length - 10, 100], [3, bytes.length - 3]];
    for (const [offset, length] of cases) {
      const got = await source.read(offset, length);
      expect(Buffer.from(got).equals(bytes.subarray(offset, offset + length))).toBe(true);
    }
    expect((await source.read(bytes.length, 10)).length).toBe(0);
  });

  it('follows redirects, and retries a server that answers 503 before it works', async () => {
    const moved = await HttpByteSource.open(`${http.base}/redirect/scene.tif`);
    expect(moved.label).toBe(`${http.base}/scene.tif`);
    const flaky = await startRangeServer(www, { failFirst: 2 });
    try {
      const source = await HttpByteSource.open(`${flaky.base}/scene.tif`, { retries: 3 });
      expect(source.size).toBe(fs.statSync(path.join(www, 'scene.tif')).size);
      expect(flaky.requests).toBe(3);
    } finally {
      await flaky.close();
    }
  });

  it('refuses a server that ignores Range after a few bytes, instead of downloading the whole file', async () => {
    const big = path.join(tmp, 'big');
    fs.mkdirSync(big);
    const size = 64 * 2 ** 20;
    fs.writeFileSync(path.join(big, 'large.tif'), Buffer.alloc(size, 7));
    const noRange = await startRangeServer(big, { ignoreRange: true });
    try {
      const err = await rasterError(HttpByteSource.open(`${noRange.base}/large.tif`));
      expect(err.code).toBe('no-range');
      expect(err.message).toMatch(/ignores HTTP Range requests.*will not download them whole/);
      // What the server wrote before the client hung up (socket buffers included): far from all of it.
      await new Promise((r) => setTimeout(r, 300));
      expect(noRange.bytesSent).toBeLessThan(size / 4);
      // A file no larger than the first block (an .aux.xml) comes whole in that answer: read, and
      // no request more; one block and a byte is refused as above.
      fs.writeFileSync(path.join(big, 'small.aux.xml'), Buffer.alloc(64 * 1024, 'a'));
      fs.writeFileSync(path.join(big, 'over.aux.xml'), Buffer.alloc(64 * 1024 + 1, 'a'));
      const small = await HttpByteSource.open(`${noRange.base}/small.aux.xml`);
      const before = noRange.requests;
      expect(small.size).toBe(64 * 1024);
      expect(Buffer.from(await small.read(100, 10)).toString()).toBe('aaaaaaaaaa');
      expect(noRange.requests).toBe(before);
      await small.close();
      expect((await rasterError(HttpByteSource.open(`${noRange.base}/over.aux.xml`))).code).toBe('no-range');
    } finally {
      await noRange.close();
    }
  });

  it('names the problem of each bad URL', async () => {
    expect((await rasterError(HttpByteSource.open(`${http.base}/missing.tif`))).message).toMatch(/missing\.tif does not exist \(HTTP 404\)/);
    expect((await rasterError(openRaster(`${http.base}/page.tif`))).code).toBe('not-tiff');
    expect((await rasterError(HttpByteSource.open('ftp://example.org/a.tif'))).code).toBe('bad-url');
    expect((await rasterError(openRaster('s3://bucket/a.tif'))).message).toMatch(/only local paths and http\(s\) URLs/);
    expect((await rasterError(HttpByteSource.open(`http://user:pw@127.0.0.1:1/a.tif`))).message).toMatch(/user name or password/);
    const slow = await startRangeServer(www, { delayMs: 3000 });
    try {
      const started = Date.now();
      const err = await rasterError(HttpByteSource.open(`${slow.base}/scene.tif`, { timeoutMs: 200, retries: 1 }));
      expect(err.message).toMatch(/did not answer within 0\.2 s/);
      expect(err.code).toBe('timeout');
      expect(Date.now() - started).toBeLessThan(2500);
      // With the default retries, a stalled server is tried twice, not four times.
      const stalled = Date.now();
      const again = await rasterError(HttpByteSource.open(`${slow.base}/scene.tif`, { timeoutMs: 400 }));
      expect(again.code).toBe('timeout');
      const waited = Date.now() - stalled;
      expect(waited).toBeGreaterThanOrEqual(800);
      expect(waited).toBeLessThan(1500);
    } finally {
      await slow.close();
    }
  });

  it('notices a file replaced on the server (ETag changed) and says so', async () => {
    const file = path.join(www, 'replaced.tif');
    writeScene(file, 1);
    let told = 0;
    const source = await HttpByteSource.open(`${http.base}/replaced.tif`, { onChanged: () => { told++; } });
    await source.read(0, 1000);
    writeScene(file, 2); // same size, other bytes
    const err = await rasterError(source.read(300_000, 1000));
    expect(err.code).toBe('source-changed');
    expect(err.message).toMatch(/changed on the server while it was being read/);
    expect(told).toBe(1);
  });
});

describe('remote servers that misbehave', () => {
  /** A server of `file` whose answer to each range `answer` writes (status, headers, body). */
  async function misbehaving(answer: (res: import('node:http').ServerResponse, lo: number, hi: number, bytes: Buffer) => void) {
    const { createServer } = await import('node:http');
    const bytes = fs.readFileSync(path.join(www, 'scene.tif'));
    const server = createServer((req, res) => {
      const m = /bytes=(\d+)-(\d+)/.exec(req.headers.range ?? '');
      answer(res, Number(m?.[1] ?? 0), Math.min(bytes.length - 1, Number(m?.[2] ?? bytes.length - 1)), bytes);
    });
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', () => r()));
    const { port } = server.address() as import('node:net').AddressInfo;
    return { url: `http://127.0.0.1:${port}/scene.tif`, close: () => new Promise<void>((r) => server.close(() => r())), bytes };
  }
  const honest = (res: import('node:http').ServerResponse, lo: number, hi: number, bytes: Buffer) => {
    res.writeHead(206, { 'Content-Range': `bytes ${lo}-${hi}/${bytes.length}`, 'Content-Length': hi - lo + 1, ETag: '"v1"' });
    res.end(bytes.subarray(lo, hi + 1));
  };

  it('gives up on a server that trickles its answer within the deadline (an idle timer let it hold a read for ever)', async () => {
    let trickle = false;
    const s = await misbehaving((res, lo, hi, bytes) => {
      if (!trickle) return honest(res, lo, hi, bytes);
      res.writeHead(206, { 'Content-Range': `bytes ${lo}-${hi}/${bytes.length}`, 'Content-Length': hi - lo + 1, ETag: '"v1"' });
      let at = lo;
      const timer = setInterval(() => { if (at > hi || res.destroyed) { clearInterval(timer); return; } res.write(bytes.subarray(at, at + 1)); at++; }, 50);
      res.on('close', () => clearInterval(timer));
    });
    try {
      const source = await HttpByteSource.open(s.url, { timeoutMs: 400, retries: 3 });
      trickle = true;
      const err = await rasterError(source.read(300_000, 1000));
      expect(err.code).toBe('timeout');
      expect(err.message).toMatch(/did not answer within 0\.4 s/);
    } finally {
      await s.close();
    }
  });

  it('refuses bytes labelled as another range, and does not keep them', async () => {
    let lying = true;
    const s = await misbehaving((res, lo, hi, bytes) => {
      if (!lying || lo === 0) return honest(res, lo, hi, bytes);
      // The right length, from the start of the file, labelled as such.
      res.writeHead(206, { 'Content-Range': `bytes 0-${hi - lo}/${bytes.length}`, 'Content-Length': hi - lo + 1, ETag: '"v1"' });
      res.end(bytes.subarray(0, hi - lo + 1));
    });
    try {
      const source = await HttpByteSource.open(s.url, { retries: 0 });
      const err = await rasterError(source.read(200_000, 1000));
      expect(err.code).toBe('remote-failed');
      expect(err.message).toMatch(/answered the range \d+-\d+ of its \d+ bytes with "bytes 0-/);
      lying = false;
      // Healed: the same read now gives the file's bytes (nothing wrong was cached).
      expect(Buffer.from(await source.read(200_000, 1000)).equals(s.bytes.subarray(200_000, 201_000))).toBe(true);
    } finally {
      await s.close();
    }
  });

  it('refuses a first answer whose Content-Range does not describe what it sent', async () => {
    for (const label of ['bytes 5-2/400000', 'bytes 0-65535/999999999999999999999']) {
      const s = await misbehaving((res, lo, hi, bytes) => {
        res.writeHead(206, { 'Content-Range': label, 'Content-Length': hi - lo + 1 });
        res.end(bytes.subarray(lo, hi + 1));
      });
      try {
        const err = await rasterError(HttpByteSource.open(s.url, { retries: 0 }));
        expect(err.code, label).toBe('remote-failed');
        expect(err.message).toMatch(/its ranges cannot be trusted/);
      } finally {
        await s.close();
      }
    }
  });

  it('calls a 404 or a refused range after the open the remote failing (502), not a bad request (400)', async () => {
    let gone = false;
    const s2 = await misbehaving((res, lo, hi, bytes) => {
      if (gone) { res.writeHead(404).end(); return; }
      honest(res, lo, hi, bytes);
    });
    try {
      const source = await HttpByteSource.open(s2.url, { retries: 0 });
      gone = true;
      const err = await rasterError(source.read(400_000, 1000));
      expect(err.code).toBe('remote-failed');
      expect(err.message).toMatch(/does not exist \(HTTP 404\)/);
      expect(statusOf(err)).toBe(502);
      expect(statusOf(new RasterError('timeout', 'x'))).toBe(504);
    } finally {
      await s2.close();
    }
  });

  it('refuses an IPv4-mapped IPv6 literal of loopback, however it is written', async () => {
    const port = new URL(http.base).port;
    for (const host of ['[::ffff:127.0.0.1]', '[0:0:0:0:0:ffff:7f00:1]']) {
      const err = await rasterError(HttpByteSource.open(`http://${host}:${port}/scene.tif`, { denyPrivate: true }));
      expect(err.code, host).toBe('bad-url');
    }
  });
});

describe('SATSEG_URL_DENY_PRIVATE', () => {
  it('classes loopback, private, link-local and mapped addresses as private, public ones not', () => {
    // IPv4 in IPv6 in every spelling: the URL parser writes [::ffff:127.0.0.1] as ::ffff:7f00:1,
    // which passed a check of the dotted form alone; NAT64 and IPv4-compatible forms carry one too.
    for (const a of ['127.0.0.1', '10.1.2.3', '172.16.0.1', '172.31.255.255', '192.168.1.1', '169.254.169.254', '100.64.0.1', '0.0.0.0', '::1', '::', 'fd00::1', 'fe80::1', '::ffff:127.0.0.1', '::ffff:10.0.0.1',
      '::ffff:7f00:1', '0:0:0:0:0:ffff:7f00:1', '::ffff:a9fe:a9fe', '64:ff9b::a9fe:a9fe', '::127.0.0.1', 'fc00::1', 'ff02::1', '2002:7f00:1::', '2002:a9fe:a9fe::1']) {
      expect(isPrivateAddress(a), a).toBe(true);
    }
    for (const a of ['8.8.8.8', '172.32.0.1', '192.169.0.1', '100.128.0.1', '2001:4860:4860::8888', '::ffff:8.8.8.8', '::ffff:808:808', 'fc::1', '2002:808:808::1']) {
      expect(isPrivateAddress(a), a).toBe(false);
    }
  });

  it('refuses 127.0.0.1 and localhost when asked to, by option or by the environment, before any request is sent', async () => {
    const before = http.requests;
    for (const host of ['127.0.0.1', 'localhost']) {
      const url = `${http.base.replace('127.0.0.1', host)}/scene.tif`;
      const err = await rasterError(HttpByteSource.open(url, { denyPrivate: true }));
      expect(err.code).toBe('bad-url');
      expect(err.message).toMatch(/(resolves to|is) a private or loopback address.*SATSEG_URL_DENY_PRIVATE/);
    }
    const saved = process.env.SATSEG_URL_DENY_PRIVATE;
    process.env.SATSEG_URL_DENY_PRIVATE = '1';
    try {
      expect((await rasterError(HttpByteSource.open(`${http.base}/scene.tif`))).code).toBe('bad-url');
    } finally {
      if (saved === undefined) delete process.env.SATSEG_URL_DENY_PRIVATE; else process.env.SATSEG_URL_DENY_PRIVATE = saved;
    }
    expect(http.requests).toBe(before);
  });
});

describe('remote datasets through the API', () => {
  let s: TestServer;
  let local: string;
  let remote: string;
  let bounds: [number, number, number, number];

  /** An HTTP server answering byte ranges of `file`, each `delayMs` late, on a free port. */
  async function slowRangeServer(file: string, delayMs: number): Promise<import('node:http').Server> {
    const { createServer } = await import('node:http');
    const bytes = fs.readFileSync(file);
    const slow = createServer((req, res) => {
      const m = /bytes=(\d+)-(\d+)/.exec(req.headers.range ?? '');
      const lo = Number(m?.[1] ?? 0);
      const hi = Math.min(bytes.length - 1, Number(m?.[2] ?? 0));
      res.writeHead(206, { 'Content-Range': `bytes ${lo}-${hi}/${bytes.length}`, 'Content-Length': hi - lo + 1 });
      setTimeout(() => res.end(bytes.subarray(lo, hi + 1)), delayMs);
    });
    await new Promise<void>((r) => slow.listen(0, '127.0.0.1', () => r()));
    return slow;
  }

  async function addUrl(server: TestServer, url: string) {
    const res = await server.get('/datasets', { method: 'POST', headers: { 'Content-Type': 'application/json' }, body: JSON.stringify({ url }) });
    return { status: res.status, body: await res.json() as Record<string, any> };
  }

  beforeAll(async () => {
    s = createTestServer({ 'scene.tif': (f) => fs.copyFileSync(path.join(www, 'scene.tif'), f) });
    local = s.datasetId('scene.tif');
    const added = await addUrl(s, `${http.base}/scene.tif`);
    expect(added.status).toBe(201);
    remote = added.body.id;
    bounds = added.body.bounds;
  });
  afterAll(async () => { await s?.close(); });

  it('lists the URL dataset like a local one, without a source.tif link, and its metadata equals the file\'s', async () => {
    const a = await (await s.get(`/datasets/${local}`)).json();
    const b = await (await s.get(`/datasets/${remote}`)).json();
    expect(b.origin).toBe('url');
    expect(b.links.source).toBeUndefined();
    expect(a.links.source).toMatch(/\/source\.tif$/);
    for (const key of ['width', 'height', 'band_count', 'dtype', 'crs', 'geotransform', 'bounds', 'bands']) expect(b[key], key).toEqual(a[key]);
    const again = await addUrl(s, `${http.base}/scene.tif`);
    expect(again.body.id).toBe(remote);
  });

  it('refuses a URL over 2048 characters by saying so, and other bodies by what the body should be', async () => {
    const long = await addUrl(s, `${http.base}/${'a'.repeat(20_000)}.tif`);
    expect(long.status).toBe(400);
    expect(long.body.detail).toBe('the url is over 2048 characters; register a shorter URL');
    const res = await s.get('/datasets', { method: 'POST', headers: { 'Content-Type': 'application/json' }, body: JSON.stringify({ href: 'x' }) });
    expect((await res.json() as { detail: string }).detail).toBe('the body must be {"url": "https://..."}');
  });

  it('registers a URL asked for by several requests at once once, and names a URL whose escapes do not decode', async () => {
    const url = `${http.base}/scene.tif?copy=1`;
    const answers = await Promise.all(Array.from({ length: 5 }, () => addUrl(s, url)));
    expect(answers.map((a) => a.status)).toEqual([201, 201, 201, 201, 201]);
    expect(new Set(answers.map((a) => a.body.id)).size).toBe(1);
    // A file name whose escapes do not decode is kept as written (it was a 400 "URI malformed"
    // after every check had passed); one that decodes is decoded.
    expect(urlFileName('https://example.org/cogs/odd%E0%A4%A.tif')).toBe('odd_E0_A4_A.tif');
    expect(urlFileName('https://example.org/cogs/caf%C3%A9%20map.tif?x=1')).toBe('caf_map.tif');
  });

  it('gives a registration a deadline for all its checks: a server that trickles is refused, and the server keeps answering', async () => {
    // Each answer in time for its own deadline, but slowly: many of them take long together.
    const slow = await slowRangeServer(path.join(www, 'scene.tif'), 300);
    const quick = createTestServer({}, { limits: { registrationTimeoutMs: 500 } });
    try {
      const { port } = slow.address() as import('node:net').AddressInfo;
      const res = await quick.get('/datasets', { method: 'POST', headers: { 'Content-Type': 'application/json' }, body: JSON.stringify({ url: `http://127.0.0.1:${port}/scene.tif` }) });
      expect(res.status).toBe(400);
      expect(((await res.json()) as { detail: string }).detail).toMatch(/was rejected: checking it took over 0\.5 s \(the server answers too slowly\)$/);
      expect((await quick.get('/models')).status).toBe(200);
    } finally {
      await quick.close();
      await new Promise<void>((r) => slow.close(() => r()));
    }
  });

  it('goes on registering a URL for the requests still waiting when the first one leaves', async () => {
    const slow = await slowRangeServer(path.join(www, 'scene.tif'), 100);
    try {
      const { port } = slow.address() as import('node:net').AddressInfo;
      const body = JSON.stringify({ url: `http://127.0.0.1:${port}/scene.tif` });
      const init = { method: 'POST', headers: { 'Content-Type': 'application/json' }, body };
      const leaving = new AbortController();
      const first = s.get('/datasets', { ...init, signal: leaving.signal }).catch((e: unknown) => e);
      const second = s.get('/datasets', init);
      setTimeout(() => leaving.abort(), 50);
      // The check ran under the first request's signal: its client leaving failed the second too.
      const res = await second;
      expect(res.status).toBe(201);
      expect(((await res.json()) as { origin: string }).origin).toBe('url');
      await first;
    } finally {
      await new Promise<void>((r) => slow.close(() => r()));
    }
  });

  it('serves the same tile bytes from the URL as from the file', async () => {
    let compared = 0;
    for (const z of [13, 15]) {
      const r = tileRange(bounds, z);
      for (let x = r.minX; x <= r.maxX; x += Math.max(1, Math.floor((r.maxX - r.minX) / 3))) {
        for (let y = r.minY; y <= r.maxY; y += Math.max(1, Math.floor((r.maxY - r.minY) / 3))) {
          const [fa, fb] = await Promise.all([s.get(`/datasets/${local}/tiles/${z}/${x}/${y}.png`), s.get(`/datasets/${remote}/tiles/${z}/${x}/${y}.png`)]);
          expect(fb.status).toBe(fa.status);
          if (fa.status !== 200) continue;
          expect(Buffer.from(await fb.arrayBuffer()).equals(Buffer.from(await fa.arrayBuffer()))).toBe(true);
          compared++;
        }
      }
    }
    expect(compared).toBeGreaterThan(4);
  });

  it('segments the URL dataset into the same mask as the file', async () => {
    const masks: Uint8Array[] = [];
    for (const dataset of [local, remote]) {
      const res = await s.get('/jobs', { method: 'POST', headers: { 'Content-Type': 'application/json' }, body: JSON.stringify({ dataset, model: 'test-rgb', options: { device: 'cpu' } }) });
      expect(res.status).toBe(202);
      const { id } = await res.json();
      let job;
      for (let i = 0; i < 600; i++) {
        job = await (await s.get(`/jobs/${id}`)).json();
        if (['succeeded', 'failed', 'cancelled'].includes(job.status)) break;
        await new Promise((r) => setTimeout(r, 100));
      }
      expect(job.status, job.error).toBe('succeeded');
      const mask = await openRaster(s.ctx.results.file(s.ctx.results.get(job.result_id ?? id), 'mask'));
      masks.push((await mask.read({ x: 0, y: 0, width: mask.info.width, height: mask.info.height })).bands[0] as Uint8Array);
      await mask.close();
    }
    expect(masks[0]!.length).toBe(600 * 400);
    expect(Buffer.from(masks[1]!).equals(Buffer.from(masks[0]!))).toBe(true);
  });

  it('refuses each bad URL with a clear 4xx', async () => {
    const cases: Array<[string, RegExp]> = [
      [`${http.base}/missing.tif`, /missing\.tif was rejected: .*does not exist \(HTTP 404\)/],
      [`${http.base}/page.tif`, /page\.tif was rejected: /],
      ['ftp://example.org/scene.tif', /only http and https URLs can be registered \(got ftp:\)/],
      ['not a url', /not a valid URL/],
      // A path would open a file on the server: refused before anything is opened.
      [path.join(s.dir, 'data', 'scene.tif'), /not a valid URL: give an http\(s\) URL/],
      ['/etc/hosts', /not a valid URL/],
    ];
    for (const [url, detail] of cases) {
      const r = await addUrl(s, url);
      expect(r.status, url).toBe(400);
      expect(r.body.detail, url).toMatch(detail);
    }
    const noRange = await startRangeServer(www, { ignoreRange: true });
    const slow = await startRangeServer(www, { delayMs: 2000 });
    const saved = process.env.SATSEG_HTTP_TIMEOUT_MS;
    process.env.SATSEG_HTTP_TIMEOUT_MS = '150';
    try {
      const r1 = await addUrl(s, `${noRange.base}/scene.tif`);
      expect(r1.status).toBe(400);
      expect(r1.body.detail).toMatch(/ignores HTTP Range requests/);
      const r2 = await addUrl(s, `${slow.base}/scene.tif`);
      expect(r2.status).toBeGreaterThanOrEqual(400);
      expect(r2.status).toBeLessThan(500);
      expect(r2.body.detail).toMatch(/did not answer within 0\.15 s/);
    } finally {
      if (saved === undefined) delete process.env.SATSEG_HTTP_TIMEOUT_MS; else process.env.SATSEG_HTTP_TIMEOUT_MS = saved;
      await noRange.close();
      await slow.close();
    }
  });

  it('refuses a loopback URL with 400 when the server denies private addresses', async () => {
    const guarded = createTestServer({}, { denyPrivateUrls: true });
    try {
      const r = await addUrl(guarded, `${http.base}/scene.tif`);
      expect(r.status).toBe(400);
      expect(r.body.detail).toMatch(/127\.0\.0\.1 is a private or loopback address; SATSEG_URL_DENY_PRIVATE is set/);
      expect(guarded.ctx.datasets.list().filter((d) => d.origin === 'url')).toEqual([]);
    } finally {
      await guarded.close();
    }
  });

  it('answers GET /datasets while a registered remote is silent (its recheck no longer holds the listing)', async () => {
    const { createServer } = await import('node:http');
    const bytes = fs.readFileSync(path.join(www, 'scene.tif'));
    let silent = false;
    const remoteServer = createServer((req, res) => {
      if (silent) return; // never answers
      const m = /bytes=(\d+)-(\d+)/.exec(req.headers.range ?? '');
      const lo = Number(m?.[1] ?? 0);
      const hi = Math.min(bytes.length - 1, Number(m?.[2] ?? 0));
      res.writeHead(206, { 'Content-Range': `bytes ${lo}-${hi}/${bytes.length}`, 'Content-Length': hi - lo + 1, ETag: '"quiet"' });
      res.end(bytes.subarray(lo, hi + 1));
    });
    await new Promise<void>((r) => remoteServer.listen(0, '127.0.0.1', () => r()));
    const saved = process.env.SATSEG_HTTP_REVALIDATE_S;
    try {
      const { port } = remoteServer.address() as import('node:net').AddressInfo;
      const added = await addUrl(s, `http://127.0.0.1:${port}/scene.tif`);
      expect(added.status).toBe(201);
      silent = true;
      process.env.SATSEG_HTTP_REVALIDATE_S = '0';
      // The recheck would wait out the 15 s request deadline: the listing answers meanwhile.
      const listed = await Promise.race([s.get('/datasets').then((r) => r.status), new Promise((r) => setTimeout(() => r('held'), 5000))]);
      expect(listed).toBe(200);
    } finally {
      if (saved === undefined) delete process.env.SATSEG_HTTP_REVALIDATE_S; else process.env.SATSEG_HTTP_REVALIDATE_S = saved;
      remoteServer.closeAllConnections();
      await new Promise<void>((r) => remoteServer.close(() => r()));
    }
  });

  it('reopens a remote dataset whose file was replaced on its server (checked every SATSEG_HTTP_REVALIDATE_S)', async () => {
    const file = path.join(www, 'changing.tif');
    writeScene(file, 1);
    const { body } = await addUrl(s, `${http.base}/changing.tif`);
    const id = body.id as string;
    const r = tileRange(body.bounds, 15);
    const tile = `/datasets/${id}/tiles/15/${r.minX + 1}/${r.minY + 1}.png`;
    const old = await s.get(tile);
    expect(old.status).toBe(200);
    const oldBytes = Buffer.from(await old.arrayBuffer());
    writeScene(file, 2);
    // Within the interval the cached blocks still answer, consistently, for the old file.
    expect(Buffer.from(await (await s.get(tile)).arrayBuffer()).equals(oldBytes)).toBe(true);
    const saved = process.env.SATSEG_HTTP_REVALIDATE_S;
    process.env.SATSEG_HTTP_REVALIDATE_S = '0';
    try {
      // The check runs in the background (a silent server must not hold the request): a request
      // or two later the tile is the new file's.
      let changed = false;
      for (let i = 0; i < 20 && !changed; i++) {
        const fresh = await s.get(tile);
        expect(fresh.status).toBe(200);
        changed = !Buffer.from(await fresh.arrayBuffer()).equals(oldBytes);
        if (!changed) await new Promise((r) => setTimeout(r, 50));
      }
      expect(changed).toBe(true);
      const stats = await (await s.get(`/datasets/${id}`)).json();
      expect(stats.usable).toBe(true);
    } finally {
      if (saved === undefined) delete process.env.SATSEG_HTTP_REVALIDATE_S; else process.env.SATSEG_HTTP_REVALIDATE_S = saved;
    }
  });
});

describe('a remote file replaced while it is read', () => {
  it('fails that read with source-changed, and the catalog reopens the dataset on its next open', async () => {
    const dir = path.join(tmp, 'catalog');
    fs.mkdirSync(dir);
    const db = openCatalogDb(dir);
    const catalog = new DatasetCatalog(db, dir);
    try {
      const file = path.join(www, 'swapped.tif');
      writeScene(file, 1);
      const record = await catalog.addUrl(`${http.base}/swapped.tif`);
      const first = await catalog.open(record.id);
      await first.part({ x: 0, y: 0, width: 600, height: 32 });
      writeScene(file, 2);
      const err = await rasterError(first.part({ x: 0, y: 360, width: 600, height: 32 }));
      expect(err.code).toBe('source-changed');
      const second = await catalog.open(record.id);
      expect(second).not.toBe(first);
      expect(second.version).not.toBe(first.version);
      const got = await second.part({ x: 0, y: 360, width: 600, height: 32 });
      const want = syntheticScene(600, 400, 2)[0]!.subarray(360 * 600, 392 * 600);
      expect(Buffer.from(got.bands[0] as Uint8Array).equals(Buffer.from(want))).toBe(true);
    } finally {
      db.close();
    }
  });
});

describe('satseg segment https://...', () => {
  it('writes the same mask from the URL as from the file', async () => {
    const models = installTestModel(path.join(tmp, 'models'));
    const out = { file: path.join(tmp, 'cli-file.tif'), url: path.join(tmp, 'cli-url.tif') };
    // Not spawnSync: the range server answering the CLI runs in this process.
    const satseg = (...args: string[]) => run(process.execPath, ['--import', 'tsx', path.join(repoRoot, 'server/src/cli/main.ts'), ...args], { cwd: repoRoot, env: { ...process.env, SATSEG_MODELS: models } });
    await satseg('segment', path.join(www, 'scene.tif'), '-m', 'test-rgb', '-o', out.file, '--device', 'cpu', '--no-progress');
    await satseg('segment', `${http.base}/scene.tif`, '-m', 'test-rgb', '-o', out.url, '--device', 'cpu', '--no-progress');
    const pixels = async (f: string) => {
      const m = await openRaster(f);
      const b = await m.read({ x: 0, y: 0, width: m.info.width, height: m.info.height });
      await m.close();
      return Buffer.from(b.bands[0] as Uint8Array);
    };
    const fromFile = await pixels(out.file);
    expect(fromFile.length).toBe(600 * 400);
    expect((await pixels(out.url)).equals(fromFile)).toBe(true);
  });
});

describe('a hostile or failing remote server (found by fuzzing)', () => {
  it('caches a reply of many blocks as copies: the cache holds what it counts, not every 16 MB reply its entries came from', async () => {
    const big = path.join(www, 'big.bin');
    fs.writeFileSync(big, Buffer.alloc(4 << 20, 7));
    const source = await HttpByteSource.open(`${http.base}/big.bin`);
    // One 4 MB read: one reply of 64 blocks. Each cached block is its own 64 KB buffer: a view into
    // the reply kept all 4 MB alive for as long as any one block stayed in the cache.
    expect(Buffer.from(await source.read(0, 4 << 20)).every((v) => v === 7)).toBe(true);
    expect(remoteCacheLargestBuffer()).toBeLessThanOrEqual(65_536);
  });

  it('notices a file served anew without the ETag and Last-Modified it was opened with (blocks of two files were mixed)', async () => {
    // Large enough that the rows read last are not among the bytes fetched first.
    const file = path.join(www, 'dropped.tif');
    writeScene(file, 3, 2000, 2000);
    const server = await startRangeServer(www);
    try {
      const source = await openRaster(`${server.base}/dropped.tif`);
      try {
        await source.read({ x: 0, y: 0, width: 2000, height: 16 });
        writeScene(file, 4, 2000, 2000);
        server.behaviour.dropValidators = true;
        const err = await rasterError(source.read({ x: 0, y: 1900, width: 2000, height: 16 }));
        expect(err.code).toBe('source-changed');
      } finally {
        await source.close();
      }
    } finally {
      await server.close();
    }
  });

  it('ends a request that keeps failing within twice the timeout, retries and redirects included', async () => {
    // Each answer takes 0.9 s and is a 503: four attempts of their own took 5.4 s.
    const server = await startRangeServer(www, { delayMs: 900, failFirst: 1000, redirects: true });
    try {
      const started = performance.now();
      const err = await rasterError(HttpByteSource.open(`${server.base}/redirect/scene.tif`, { timeoutMs: 1000, retries: 3 }));
      const seconds = (performance.now() - started) / 1000;
      expect(err.code).toMatch(/remote-failed|timeout/);
      expect(seconds).toBeLessThan(3.5);
    } finally {
      await server.close();
    }
  });

  it('lists datasets whose server stopped answering as unusable within the listing deadline, and remembers the failure', async () => {
    const saved = process.env.SATSEG_HTTP_TIMEOUT_MS;
    const stalling = await startRangeServer(www);
    const quick = createTestServer({ 'scene.tif': (f) => fs.copyFileSync(path.join(www, 'scene.tif'), f) }, { limits: { listingDeadlineMs: 800 } });
    try {
      const ids: string[] = [];
      for (let i = 0; i < 3; i++) {
        const res = await quick.get('/datasets', { method: 'POST', headers: { 'Content-Type': 'application/json' }, body: JSON.stringify({ url: `${stalling.base}/scene.tif?copy=${i}` }) });
        expect(res.status).toBe(201);
        ids.push(((await res.json()) as { id: string }).id);
      }
      // The server stops answering, and the readers are gone (as after a restart).
      stalling.behaviour.delayMs = 60_000;
      process.env.SATSEG_HTTP_TIMEOUT_MS = '400';
      quick.ctx.datasets.dropReaders();
      let started = performance.now();
      const first = (await (await quick.get('/datasets')).json()) as { datasets: Array<{ id: string; usable: boolean; error?: string }> };
      expect(performance.now() - started).toBeLessThan(3_000);
      // The local dataset (not under the deadline: a local file's first statistics may take longer).
      expect(first.datasets.filter((d) => !ids.includes(d.id)).map((d) => d.usable)).toEqual([true]);
      for (const id of ids) expect(first.datasets.find((d) => d.id === id)).toMatchObject({ usable: false });
      // Once the opens have failed, a listing answers at once, with their failure.
      await new Promise((r) => setTimeout(r, 1_200));
      started = performance.now();
      const second = (await (await quick.get('/datasets')).json()) as typeof first;
      expect(performance.now() - started).toBeLessThan(500);
      for (const id of ids) expect(second.datasets.find((d) => d.id === id)).toMatchObject({ usable: false, error: expect.stringMatching(/did not answer within 0\.4 s/) });
    } finally {
      if (saved === undefined) delete process.env.SATSEG_HTTP_TIMEOUT_MS; else process.env.SATSEG_HTTP_TIMEOUT_MS = saved;
      await quick.close();
      await stalling.close();
    }
  });

  it('answers a redirect to a refused URL after the file opened as the remote server failing (502), not a bad request (400)', async () => {
    const server = await startRangeServer(www);
    try {
      const source = await HttpByteSource.open(`${server.base}/scene.tif`);
      server.behaviour.redirectEverythingTo = 'file:///etc/passwd';
      const err = await rasterError(source.read(600_000, 1000));
      expect([err.code, statusOf(err)]).toEqual(['remote-failed', 502]);
      expect(err.message).toMatch(/redirects to a file: URL/);
    } finally {
      await server.close();
    }
  });

  it('answers a registration whose client left without a logged 500 (the abort reason is a string, not an Error)', async () => {
    const slow = await startRangeServer(www, { delayMs: 2_000 });
    const quick = createTestServer({});
    try {
      const controller = new AbortController();
      const answer = quick.get('/datasets', { method: 'POST', headers: { 'Content-Type': 'application/json' }, body: JSON.stringify({ url: `${slow.base}/scene.tif` }), signal: controller.signal });
      // As @hono/node-server aborts a request whose client left: with a string.
      setTimeout(() => controller.abort('Client connection prematurely closed.'), 200);
      const res = await answer;
      expect(res.status).toBe(400);
      expect(((await res.json()) as { detail: string }).detail).toBe('the client closed the connection');
    } finally {
      await quick.close();
      await slow.close();
    }
  });
});
