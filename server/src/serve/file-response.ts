/**
 * Serving a file the way COG clients need: byte ranges (206, 416), ETag, Last-Modified and
 * conditional requests (304), so GDAL's /vsicurl/ and QGIS read masks in place.
 */
import fs from 'node:fs';
import { Readable } from 'node:stream';
import crypto from 'node:crypto';

export function fileEtag(stat: fs.Stats): string {
  return `"${crypto.createHash('sha1').update(`${stat.size}:${stat.mtimeMs}:${stat.ino}`).digest('base64url').slice(0, 20)}"`;
}

export function serveFile(file: string, headers: Headers, contentType: string, downloadName?: string): Response {
  const stat = fs.statSync(file);
  const etag = fileEtag(stat);
  const lastModified = new Date(Math.floor(stat.mtimeMs / 1000) * 1000);
  const base: Record<string, string> = {
    'Content-Type': contentType,
    'Accept-Ranges': 'bytes',
    ETag: etag,
    'Last-Modified': lastModified.toUTCString(),
    'Cache-Control': 'public, max-age=60',
  };
  if (downloadName) base['Content-Disposition'] = `attachment; filename="${downloadName.replace(/"/g, '')}"`;

  const inm = headers.get('if-none-match');
  const ims = headers.get('if-modified-since');
  if ((inm && inm.split(',').map((s) => s.trim()).some((t) => t === etag || t === '*'))
    || (!inm && ims && !Number.isNaN(Date.parse(ims)) && Date.parse(ims) >= lastModified.getTime())) {
    return new Response(null, { status: 304, headers: base });
  }

  const range = headers.get('range');
  // If-Range: only honour the range when the client's copy is still current.
  const ifRange = headers.get('if-range');
  const rangeApplies = range && (!ifRange || ifRange === etag || ifRange === lastModified.toUTCString());
  if (range && rangeApplies) {
    const m = /^bytes=(\d*)-(\d*)$/.exec(range.trim());
    let start = Number.NaN;
    let end = Number.NaN;
    if (m && (m[1] !== '' || m[2] !== '')) {
      if (m[1] === '') { start = Math.max(0, stat.size - Number(m[2])); end = stat.size - 1; }
      else { start = Number(m[1]); end = m[2] === '' ? stat.size - 1 : Math.min(Number(m[2]), stat.size - 1); }
    }
    if (!m || !(start <= end) || start >= stat.size) {
      return new Response(JSON.stringify({ error: 'range not satisfiable', detail: `cannot serve ${range} of a ${stat.size}-byte file` }), {
        status: 416, headers: { ...base, 'Content-Type': 'application/json', 'Content-Range': `bytes */${stat.size}` },
      });
    }
    const body = Readable.toWeb(fs.createReadStream(file, { start, end })) as ReadableStream;
    return new Response(body, { status: 206, headers: { ...base, 'Content-Range': `bytes ${start}-${end}/${stat.size}`, 'Content-Length': String(end - start + 1) } });
  }
  const body = Readable.toWeb(fs.createReadStream(file)) as ReadableStream;
  return new Response(body, { status: 200, headers: { ...base, 'Content-Length': String(stat.size) } });
}
