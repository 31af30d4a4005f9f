/**
 * Serving a file the way COG clients need: byte ranges (206, 416), ETag, Last-Modified and
 * conditional requests (304), so GDAL's /vsicurl/ and QGIS read masks in place.
 *
 * Several ranges in one request get a multipart/byteranges 206 (RFC 9110 §14.6), at most
 * MAX_RANGES of them; If-None-Match compares weakly, as RFC 9110 asks for GET (W/"x" matches "x").
 */
import fs from 'node:fs';
import { Readable } from 'node:stream';
import crypto from 'node:crypto';
import { contentDisposition } from './content-disposition.ts';
import path from 'node:path';
import { NotFoundError } from '../errors.ts';

const MAX_RANGES = 64;

export function fileEtag(stat: fs.Stats): string {
  return `"${crypto.createHash('sha1').update(`${stat.size}:${stat.mtimeMs}:${stat.ino}`).digest('base64url').slice(0, 20)}"`;
}

/** Weak comparison of an If-None-Match list with an ETag. */
export function etagMatches(header: string, etag: string): boolean {
  const opaque = (t: string) => t.trim().replace(/^W\//, '');
  return header.split(',').some((t) => t.trim() === '*' || opaque(t) === opaque(etag));
}

/** [start, end] pairs of a Range header for a file of `size` bytes; null when none is satisfiable or the header is malformed. */
export function parseRanges(header: string, size: number): Array<[number, number]> | null {
  const m = /^bytes=(.+)$/.exec(header.trim());
  if (!m) return null;
  const out: Array<[number, number]> = [];
  for (const part of m[1]!.split(',')) {
    const r = /^\s*(\d*)-(\d*)\s*$/.exec(part);
    if (!r || (r[1] === '' && r[2] === '')) return null;
    let start: number;
    let end: number;
    if (r[1] === '') { start = Math.max(0, size - Number(r[2])); end = size - 1; }
    else { start = Number(r[1]); end = r[2] === '' ? size - 1 : Math.min(Number(r[2]), size - 1); }
    if (r[1] !== '' && r[2] !== '' && Number(r[2]) < start) return null;
    if (start < size && start <= end) out.push([start, end]);
  }
  if (!out.length || out.length > MAX_RANGES) return null;
  return coalesceOverlaps(out);
}

/**
 * Overlapping ranges merged (sorted by start), as RFC 9110 14.2 allows: sixty-four times `0-` would
 * otherwise send the whole file sixty-four times in one answer. Ranges that do not overlap keep the
 * order they were asked in.
 */
function coalesceOverlaps(ranges: Array<[number, number]>): Array<[number, number]> {
  const sorted = [...ranges].sort((a, b) => a[0] - b[0]);
  if (sorted.every((r, i) => i === 0 || r[0] > sorted[i - 1]![1])) return ranges;
  const merged: Array<[number, number]> = [];
  for (const [start, end] of sorted) {
    const last = merged[merged.length - 1];
    if (last && start <= last[1] + 1) last[1] = Math.max(last[1], end);
    else merged.push([start, end]);
  }
  return merged;
}

/** The file as the answer to `req` (a GET or a HEAD: a HEAD gets the same headers and no body). */
export function serveFile(file: string, req: Request, contentType: string, downloadName?: string): Response {
  const { headers } = req;
  const headOnly = req.method === 'HEAD';
  const stat = fs.statSync(file, { throwIfNoEntry: false });
  // Gone between the catalog's answer and this read (deleted behind the server's back): a 404, not a 500.
  if (!stat) throw new NotFoundError('file', downloadName ?? path.basename(file), 'is no longer on the server');
  const etag = fileEtag(stat);
  const lastModified = new Date(Math.floor(stat.mtimeMs / 1000) * 1000);
  const base: Record<string, string> = {
    'Content-Type': contentType,
    'Accept-Ranges': 'bytes',
    ETag: etag,
    'Last-Modified': lastModified.toUTCString(),
    'Cache-Control': 'public, max-age=60',
  };
  if (downloadName) base['Content-Disposition'] = contentDisposition(downloadName);

  const inm = headers.get('if-none-match');
  // A date in the future is not a valid If-Modified-Since (RFC 9110, 13.1.3): ignored, not a 304.
  const imsIsCurrent = (t: number, modified: Date) => !Number.isNaN(t) && t <= Date.now() && t >= modified.getTime();
  const ims = headers.get('if-modified-since');
  if ((inm && etagMatches(inm, etag))
    || (!inm && ims && imsIsCurrent(Date.parse(ims), lastModified))) {
    return new Response(null, { status: 304, headers: base });
  }
  const stream = (start?: number, end?: number) => Readable.toWeb(fs.createReadStream(file, { start, end })) as ReadableStream;

  const range = headers.get('range');
  // If-Range: only honour the range when the client's copy is still current.
  const ifRange = headers.get('if-range');
  const rangeApplies = range && (!ifRange || ifRange === etag || ifRange === lastModified.toUTCString());
  if (range && rangeApplies) {
    const ranges = parseRanges(range, stat.size);
    if (!ranges) {
      return new Response(JSON.stringify({ error: 'range not satisfiable', detail: `cannot serve ${range.slice(0, 100)} of a ${stat.size}-byte file` }), {
        status: 416, headers: { ...base, 'Content-Type': 'application/json', 'Content-Range': `bytes */${stat.size}` },
      });
    }
    if (ranges.length === 1) {
      const [start, end] = ranges[0]!;
      return new Response(headOnly ? null : stream(start, end), { status: 206, headers: { ...base, 'Content-Range': `bytes ${start}-${end}/${stat.size}`, 'Content-Length': String(end - start + 1) } });
    }
    return multipartRanges(file, ranges, stat.size, base, contentType, headOnly);
  }
  return new Response(headOnly ? null : stream(), { status: 200, headers: { ...base, 'Content-Length': String(stat.size) } });
}

function multipartRanges(file: string, ranges: Array<[number, number]>, size: number, base: Record<string, string>, contentType: string, headOnly: boolean): Response {
  const boundary = `satseg-${crypto.randomBytes(12).toString('hex')}`;
  const heads = ranges.map(([s, e], i) => Buffer.from(`${i ? '\r\n' : ''}--${boundary}\r\nContent-Type: ${contentType}\r\nContent-Range: bytes ${s}-${e}/${size}\r\n\r\n`));
  const tail = Buffer.from(`\r\n--${boundary}--\r\n`);
  const length = heads.reduce((n, h) => n + h.length, 0) + ranges.reduce((n, [s, e]) => n + e - s + 1, 0) + tail.length;
  const headers = { ...base, 'Content-Type': `multipart/byteranges; boundary=${boundary}`, 'Content-Length': String(length) };
  if (headOnly) return new Response(null, { status: 206, headers });
  async function* parts() {
    for (let i = 0; i < ranges.length; i++) {
      yield heads[i]!;
      for await (const chunk of fs.createReadStream(file, { start: ranges[i]![0], end: ranges[i]![1] })) yield chunk as Buffer;
    }
    yield tail;
  }
  return new Response(Readable.toWeb(Readable.from(parts())) as ReadableStream, { status: 206, headers });
}
