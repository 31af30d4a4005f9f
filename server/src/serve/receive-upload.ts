/**
 * Streaming an uploaded GeoTIFF to a temporary file, multipart (`curl -F file=@scene.tif`) or raw
 * body, with a size limit. Nothing is kept in memory, and nothing is left on disk on failure.
 */
import fs from 'node:fs';
import path from 'node:path';
import type { IncomingMessage } from 'node:http';
import { Readable, Transform } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import busboy from 'busboy';
import { HttpError } from './http-error.ts';

export interface ReceivedUpload {
  tempPath: string;
  filename: string;
  bytes: number;
}

function limitError(limit: number): HttpError {
  return new HttpError(413, 'upload too large', `the upload limit is ${(limit / 1024 ** 2).toFixed(0)} MB (SATSEG_UPLOAD_LIMIT_MB)`);
}

export async function receiveUpload(req: Request, incoming: IncomingMessage | undefined, tmpDir: string, limit: number): Promise<ReceivedUpload> {
  const declared = Number(req.headers.get('content-length') ?? 0);
  if (declared > limit + 1024 * 1024) throw limitError(limit);
  fs.mkdirSync(tmpDir, { recursive: true });
  const tempPath = path.join(tmpDir, `.upload-${process.pid}-${Date.now()}-${Math.random().toString(36).slice(2)}.tmp`);
  const type = req.headers.get('content-type') ?? '';
  const body = incoming ?? (req.body ? Readable.fromWeb(req.body as never) : null);
  if (!body) throw new HttpError(400, 'bad request', 'the upload has no body');
  try {
    if (type.startsWith('multipart/form-data')) {
      const result = await new Promise<ReceivedUpload>((resolve, reject) => {
        const headers: Record<string, string> = {};
        req.headers.forEach((v, k) => { headers[k] = v; });
        const bb = busboy({ headers, limits: { fileSize: limit, files: 1 } });
        let got: Promise<ReceivedUpload> | null = null;
        bb.on('file', (field, stream, info) => {
          if (field !== 'file' || got) { stream.resume(); return; }
          const out = fs.createWriteStream(tempPath);
          let bytes = 0;
          let truncated = false;
          stream.on('data', (d: Buffer) => { bytes += d.length; });
          stream.on('limit', () => { truncated = true; });
          got = pipeline(stream, out).then(() => {
            if (truncated) throw limitError(limit);
            return { tempPath, filename: info.filename || 'upload.tif', bytes };
          });
        });
        bb.on('error', (e: Error) => reject(new HttpError(400, 'bad request', `malformed multipart upload: ${e.message}`)));
        bb.on('close', () => {
          if (!got) reject(new HttpError(400, 'bad request', 'no file in the upload: send it as the form field "file" (curl -F file=@scene.tif)'));
          else got.then(resolve, reject);
        });
        body.pipe(bb);
      });
      return result;
    }
    // A raw body (Content-Type: image/tiff or application/octet-stream).
    let bytes = 0;
    const counter = new Transform({
      transform(chunk: Buffer, _enc, cb) {
        bytes += chunk.length;
        if (bytes > limit) cb(limitError(limit)); else cb(null, chunk);
      },
    });
    await pipeline(body, counter, fs.createWriteStream(tempPath));
    const filename = decodeURIComponent(req.headers.get('x-filename') ?? 'upload.tif');
    return { tempPath, filename, bytes };
  } catch (err) {
    await fs.promises.rm(tempPath, { force: true });
    throw err;
  }
}
