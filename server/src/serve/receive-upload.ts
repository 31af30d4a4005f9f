/**
 * Streaming an uploaded GeoTIFF to a temporary file, multipart (`curl -F file=@scene.tif`) or raw
 * body, with a size limit and a free-disk check. Nothing is kept in memory, and nothing is left on
 * disk on failure, abort included: the temp file is removed whatever ends the request (and the
 * folder it lives in is wiped on start, should the process die mid-upload).
 */
import fs from 'node:fs';
import path from 'node:path';
import crypto from 'node:crypto';
import type { IncomingMessage } from 'node:http';
import { Readable, Transform } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import busboy from 'busboy';
import { LimitError, RequestError } from '../errors.ts';
import type { Limits } from './limits.ts';
import { megabytes } from '../amounts.ts';

export interface ReceivedUpload {
  tempPath: string;
  filename: string;
  bytes: number;
}

/** `name`: what a limit other than the upload limit's setting is called. */
function limitError(limit: number, name?: string): LimitError {
  const mb = megabytes(limit);
  return new LimitError('too-large', name ? `${name} ${mb}` : `the upload limit is ${mb} (SATSEG_UPLOAD_LIMIT_MB)`);
}

/** X-Filename as sent: percent-encoded UTF-8 when it decodes, else taken literally. */
export function headerFilename(value: string | null): string {
  if (!value) return 'upload.tif';
  try {
    return decodeURIComponent(value);
  } catch {
    return value; // "100%.tif" is a name, not a broken escape
  }
}

/** Counts bytes through a stream and fails it past the limit, or when onBytes throws (the disk check). */
function byteCounter(limit: number, onBytes: (n: number) => void, limitName?: string): Transform {
  let bytes = 0;
  return new Transform({
    transform(chunk: Buffer, _enc, cb) {
      bytes += chunk.length;
      if (bytes > limit) { cb(limitError(limit, limitName)); return; }
      try {
        onBytes(bytes);
      } catch (err) {
        cb(err as Error);
        return;
      }
      cb(null, chunk);
    },
  });
}

/** `limitName`: what a smaller `limit` than the upload limit is called in the 413 (e.g. "a stats.json may be at most"). */
export async function receiveUpload(req: Request, incoming: IncomingMessage | undefined, tmpDir: string, limit: number, limits?: Limits, limitName?: string): Promise<ReceivedUpload> {
  const length = Number(req.headers.get('content-length') ?? 0);
  const declared = Number.isFinite(length) && length > 0 ? length : 0;
  if (declared > limit + 1024 * 1024) throw limitError(limit, limitName);
  const ticket = limits?.admitUpload(tmpDir, declared);
  try {
    return await receiveAdmitted(req, incoming, tmpDir, limit, limits, ticket, limitName);
  } finally {
    ticket?.end();
  }
}

async function receiveAdmitted(req: Request, incoming: IncomingMessage | undefined, tmpDir: string, limit: number, limits: Limits | undefined, ticket: ReturnType<Limits['admitUpload']> | undefined, limitName?: string): Promise<ReceivedUpload> {
  fs.mkdirSync(tmpDir, { recursive: true });
  const tempPath = path.join(tmpDir, `upload-${crypto.randomBytes(8).toString('hex')}.tmp`);
  const type = req.headers.get('content-type') ?? '';
  const body = incoming ?? (req.body ? Readable.fromWeb(req.body as never) : null);
  if (!body) throw new RequestError('the upload has no body');
  let bytes = 0;
  const counted = (n: number) => { bytes = n; ticket?.received(n); };
  // A client that stops sending holds its upload slot and temp file: after SATSEG_UPLOAD_IDLE_S
  // without a byte its connection is closed, which ends the body as an abort (cleaned up below).
  // One that sends a few bytes now and then never goes idle (16 of them, 8 bytes every 5 s, held
  // every slot): over each such period it must also send SATSEG_UPLOAD_MIN_KBPS on average.
  let pace: NodeJS.Timeout | undefined;
  if (incoming && limits) {
    incoming.setTimeout(limits.values.uploadIdleMs, () => incoming.destroy());
    let before = incoming.socket?.bytesRead ?? 0;
    pace = setInterval(() => {
      const now = incoming.socket?.bytesRead ?? before;
      if (now - before < (limits.values.uploadMinBytesPerSecond * limits.values.uploadIdleMs) / 1000) incoming.destroy();
      before = now;
    }, limits.values.uploadIdleMs);
  }
  const receive = async (): Promise<ReceivedUpload> => {
    if (type.startsWith('multipart/form-data')) {
      return new Promise<ReceivedUpload>((resolve, reject) => {
        const headers: Record<string, string> = {};
        req.headers.forEach((v, k) => { headers[k] = v; });
        let bb: busboy.Busboy;
        try {
          bb = busboy({ headers, limits: { fileSize: limit, files: 1, fields: 10, parts: 20 } });
        } catch (e) {
          reject(new RequestError(`malformed multipart upload: ${(e as Error).message}`));
          return;
        }
        let got: Promise<ReceivedUpload> | null = null;
        // A client that goes away mid-upload ends the body without closing the form: reject, so
        // the temp file is removed below (busboy alone would wait for ever).
        body.on('aborted', () => reject(new RequestError('the upload was aborted by the client')));
        body.on('error', (e: Error) => reject(new RequestError(`the upload failed: ${e.message}`)));
        bb.on('file', (field, stream, info) => {
          if (field !== 'file' || got) { stream.resume(); return; }
          let truncated = false;
          stream.on('limit', () => { truncated = true; });
          got = pipeline(stream, byteCounter(limit, counted, limitName), fs.createWriteStream(tempPath)).then(() => {
            if (truncated) throw limitError(limit, limitName);
            return { tempPath, filename: info.filename || 'upload.tif', bytes };
          });
          got.catch(reject);
        });
        bb.on('error', (e: Error) => reject(new RequestError(`malformed multipart upload: ${e.message}`)));
        // Past busboy's limits parts are dropped unread: say so, rather than "no file" later.
        let overLimit: string | null = null;
        bb.on('partsLimit', () => { overLimit ??= 'more than 20 parts'; });
        bb.on('fieldsLimit', () => { overLimit ??= 'more than 10 text fields'; });
        bb.on('close', () => {
          if (!got && overLimit) reject(new RequestError(`the upload has ${overLimit} before its file; send the file as the form field "file", with few other fields`));
          else if (!got) reject(new RequestError('no file in the upload: send it as the form field "file" (curl -F file=@scene.tif)'));
          else got.then(resolve, reject);
        });
        body.pipe(bb);
      });
    }
    // A raw body (Content-Type: image/tiff or application/octet-stream).
    await pipeline(body, byteCounter(limit, counted, limitName), fs.createWriteStream(tempPath)).catch((err: NodeJS.ErrnoException) => {
      // The client went away, or was cut off for stalling: a request error, as for a form (not a 500 in the log).
      if (err.code === 'ERR_STREAM_PREMATURE_CLOSE' || err.code === 'ECONNRESET') throw new RequestError('the upload was aborted by the client, or stalled');
      throw err;
    });
    return { tempPath, filename: headerFilename(req.headers.get('x-filename')), bytes };
  };
  try {
    const received = await receive();
    // Checked again now the size is known: a chunked upload declares none.
    limits?.checkDisk(tmpDir, 0, received.bytes);
    return received;
  } catch (err) {
    await fs.promises.rm(tempPath, { force: true });
    throw err;
  } finally {
    // Not on a connection already gone (an upload over a limit mid-stream): that threw here and
    // turned its 413 or 507 into a 500.
    if (incoming?.socket && limits) incoming.setTimeout(0);
    clearInterval(pace);
  }
}
