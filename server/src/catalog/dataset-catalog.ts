/**
 * The datasets of a data folder: every GeoTIFF dropped into it, uploads, and remote COGs
 * registered by URL.
 *
 * Ids are random and live in SQLite; files are found by id only, so no request ever names a path.
 * Open readers are kept in a small LRU, each with the version of the bytes it reads (size and
 * modification time of a file, ETag of a URL): a file replaced in the data folder is reopened on
 * its next request, and caches keyed by that version (tiles, statistics) stop answering for the old
 * one. A file that fails to open is listed with its reason and only its own requests fail.
 */
import fs from 'node:fs';
import path from 'node:path';
import { LRUCache } from 'lru-cache';
import { isRemote, openBytes, openRaster, type OpenOptions } from '../read/open-raster.ts';
import { RasterReader } from '../read/raster-reader.ts';
import type { StatisticsResult } from '../read/band-statistics.ts';
import { newId, type Db } from './catalog-db.ts';
import { InFlight } from '../in-flight.ts';
import { errorCode, NotFoundError, RasterError, RequestError, StorageError } from '../errors.ts';
import { pageSql, splitPage, type PageKey, type PageRequest } from './page.ts';

export type DatasetOrigin = 'folder' | 'upload' | 'url' | 'sample';

export interface DatasetRecord {
  id: string;
  /** Relative to the data folder (folder, upload), absolute (sample), or a URL. */
  path: string;
  name: string;
  origin: DatasetOrigin;
  addedAt: string;
}

const TIFF_FILE = /\.(tif|tiff)$/i;
export const UPLOADS_DIR = 'uploads';
export const RESULTS_DIR = 'results';

/** Size and modification time; '' for a file that is gone (its open then fails with the reason). */
function fileVersion(file: string): string {
  const st = fs.statSync(file, { throwIfNoEntry: false });
  return st ? `${st.size}:${st.mtimeMs}` : '';
}

export interface DatasetCatalogOptions {
  /** How remote datasets are read (SSRF guard, timeouts). */
  open?: OpenOptions;
  /** Read-only sample scenes shown beside the data folder's own (absolute paths). */
  samples?: string[];
  /** Checks an opened raster before it is used (size limits); throws a RasterError to refuse it. */
  admit?: (reader: RasterReader) => void;
}

/** An open reader, with the version of the bytes it reads and (for a URL) when that was last checked. */
interface OpenReader {
  version: string;
  reader: Promise<RasterReader>;
  checkedAt: number;
  /** When a remote open failed: the failure is answered again until FAILED_REMOTE_MS has passed. */
  failedAt?: number;
}

/**
 * How long a remote dataset's failed open is remembered. Not remembered, every listing asked a
 * dead server again: 48 URL datasets held each GET /datasets 26 s with a 2 s timeout (with the
 * default 15 s, minutes). Long enough for a listing and the viewer's requests after it, short
 * enough that a server back up is used again soon.
 */
const FAILED_REMOTE_MS = 30_000;

/** How long a reader pushed out of the cache stays open for the reads already using it. */
const EVICTED_READER_GRACE_MS = 60_000;

/** How often a remote dataset's ETag is checked again (SATSEG_HTTP_REVALIDATE_S, default 60 s). */
function revalidateMs(): number {
  const s = Number(process.env.SATSEG_HTTP_REVALIDATE_S ?? 60);
  return Number.isFinite(s) && s >= 0 ? s * 1000 : 60_000;
}

export class DatasetCatalog {
  private readonly statisticsInFlight = new InFlight<StatisticsResult>();
  private readonly registering = new InFlight<DatasetRecord>();
  private readonly readers = new LRUCache<string, OpenReader>({
    max: 32,
    // Closed a while after it leaves the cache, not at once: whoever took it a moment ago may still
    // be reading (a listing of 500 datasets evicted readers mid-statistics, and 466 were marked
    // unusable with 'file closed'). Reads finish within their own deadlines.
    dispose: (entry, _key, reason) => {
      const close = () => { void entry.reader.then((r) => r.close(), () => undefined); };
      if (reason === 'evict') setTimeout(close, EVICTED_READER_GRACE_MS).unref();
      else close();
    },
  });
  private lastSync = 0;

  constructor(private readonly db: Db, readonly dataDir: string, private readonly options: DatasetCatalogOptions = {}) {
    fs.mkdirSync(path.join(dataDir, UPLOADS_DIR), { recursive: true });
    this.registerSamples(options.samples ?? []);
  }

  private registerSamples(samples: string[]): void {
    const rows = this.db.prepare("SELECT id, path FROM datasets WHERE origin = 'sample'").all() as Array<{ id: string; path: string }>;
    const wanted = new Set(samples);
    for (const r of rows) if (!wanted.has(r.path)) this.db.prepare('DELETE FROM datasets WHERE id = ?').run(r.id);
    const known = new Set(rows.map((r) => r.path));
    for (const file of samples) {
      if (!known.has(file) && fs.existsSync(file)) {
        this.db.prepare('INSERT INTO datasets (id, path, name, origin, added_at) VALUES (?, ?, ?, ?, ?)').run(newId(), file, path.basename(file), 'sample', new Date().toISOString());
      }
    }
  }

  /** Pick up files dropped into (or removed from) the data folder. Cheap; throttled to once a second. */
  sync(force = false): void {
    if (!force && Date.now() - this.lastSync < 1000) return;
    this.lastSync = Date.now();
    const found = new Set<string>();
    // Deleted or unmounted under the running server: said so (it was a 500 naming scandir).
    if (!fs.existsSync(this.dataDir)) throw new StorageError('the server\'s data folder is gone (deleted or unmounted); restart the server once it is back');
    fs.mkdirSync(path.join(this.dataDir, UPLOADS_DIR), { recursive: true });
    for (const dir of [this.dataDir, path.join(this.dataDir, UPLOADS_DIR)]) {
      for (const name of fs.readdirSync(dir)) {
        if (!TIFF_FILE.test(name) || name.startsWith('.')) continue;
        const full = path.join(dir, name);
        if (fs.statSync(full, { throwIfNoEntry: false })?.isFile()) found.add(path.relative(this.dataDir, full));
      }
    }
    const rows = this.db.prepare("SELECT id, path FROM datasets WHERE origin IN ('folder', 'upload')").all() as Array<{ id: string; path: string }>;
    const known = new Set(rows.map((r) => r.path));
    try {
      const insert = this.db.prepare('INSERT INTO datasets (id, path, name, origin, added_at) VALUES (?, ?, ?, ?, ?)');
      for (const rel of found) {
        if (!known.has(rel)) insert.run(newId(), rel, path.basename(rel), rel.startsWith(`${UPLOADS_DIR}${path.sep}`) ? 'upload' : 'folder', new Date().toISOString());
      }
      const remove = this.db.prepare('DELETE FROM datasets WHERE id = ?');
      for (const r of rows) {
        if (!found.has(r.path)) { remove.run(r.id); this.readers.delete(r.id); }
      }
    } catch (err) {
      // The catalog refuses writes now (another process's lock, a full disk): listings go on with
      // the datasets it knows, and the folder is looked at again on the next one.
      if (!errorCode(err).startsWith('SQLITE_')) throw err;
      this.lastSync = 0;
    }
  }

  /** By name; every one, or a page of them and whether more follow. */
  list(): DatasetRecord[];
  list(page: PageRequest): { items: DatasetRecord[]; more: boolean };
  list(page?: PageRequest): DatasetRecord[] | { items: DatasetRecord[]; more: boolean } {
    this.sync();
    const select = 'SELECT id, path, name, origin, added_at AS addedAt FROM datasets';
    if (!page) return this.db.prepare(`${select} ORDER BY name, id`).all() as DatasetRecord[];
    const { sql, params } = pageSql('name', 'ASC', page);
    return splitPage(this.db.prepare(`${select}${sql}`).all(...params) as DatasetRecord[], page.limit);
  }

  /** Where a dataset sorts in the list (its page cursor). */
  pageKey(d: DatasetRecord): PageKey {
    return [d.name, d.id];
  }

  /** Datasets registered (after list(), which syncs the folder). */
  count(): number {
    return (this.db.prepare('SELECT COUNT(*) AS n FROM datasets').get() as { n: number }).n;
  }

  /** Whether a dataset is registered (the folder synced as for list()), without loading every row. */
  has(id: string): boolean {
    this.sync();
    return this.db.prepare('SELECT 1 FROM datasets WHERE id = ?').get(id) !== undefined;
  }

  get(id: string): DatasetRecord {
    let row = this.db.prepare('SELECT id, path, name, origin, added_at AS addedAt FROM datasets WHERE id = ?').get(id) as DatasetRecord | undefined;
    if (!row) {
      this.sync(true);
      row = this.db.prepare('SELECT id, path, name, origin, added_at AS addedAt FROM datasets WHERE id = ?').get(id) as DatasetRecord | undefined;
    }
    if (!row) throw new NotFoundError('dataset', id);
    return row;
  }

  /** Where the dataset's bytes are: a local path or a URL (never shown to clients). */
  location(record: DatasetRecord): string {
    if (record.origin === 'url' || record.origin === 'sample') return record.path;
    return path.join(this.dataDir, record.path);
  }

  /** The local file of a dataset, or null for a remote one. */
  localFile(record: DatasetRecord): string | null {
    return record.origin === 'url' ? null : this.location(record);
  }

  private currentVersion(record: DatasetRecord): string | null {
    // A URL's version is its ETag, known only by asking: the open reader checks it on every request
    // it sends, and remoteChanged() asks again now and then.
    return record.origin === 'url' ? null : fileVersion(this.location(record));
  }

  /** The open reader of a dataset; a raster that cannot be read throws its RasterError. */
  async open(id: string): Promise<RasterReader> {
    const record = this.get(id);
    if (record.origin !== 'url' && !fs.existsSync(this.location(record))) {
      // Removed behind the server's back: forgotten now (it was a 400 "no such file" on every tile).
      this.sync(true);
      throw new NotFoundError('dataset', id, 'is gone: its file is no longer in the data folder');
    }
    const version = this.currentVersion(record);
    let entry = this.readers.get(id);
    // Replaced (or rewritten) since it was opened: the old reader goes (dispose closes it).
    if (entry && version !== null && entry.version !== version) {
      this.readers.delete(id);
      entry = undefined;
    }
    // Asked in the background: awaited here, a silent server held GET /datasets (every open of
    // every dataset) for its timeout once a minute. The reader goes when the answer says so; reads
    // of a changed file fail with 'source-changed' meanwhile, and drop it too.
    if (entry?.failedAt !== undefined && Date.now() - entry.failedAt > FAILED_REMOTE_MS) {
      this.readers.delete(id);
      entry = undefined;
    }
    if (entry && record.origin === 'url' && entry.failedAt === undefined) this.revalidate(id, record, entry);
    if (!entry) {
      // A remote file replaced on its server is found out by the reader (its ETag changed): that
      // read fails with 'source-changed', and this entry goes so that the next request reopens it.
      const forget = () => { if (this.readers.get(id) === opened) this.readers.delete(id); };
      const open: OpenOptions = { ...this.options.open, http: { ...this.options.open?.http, onChanged: forget } };
      const opened: OpenReader = {
        version: version ?? '',
        checkedAt: Date.now(),
        reader: openRaster(this.location(record), open).then((source) => {
          const reader = new RasterReader(source);
          try {
            this.options.admit?.(reader);
          } catch (err) {
            void reader.close();
            throw err;
          }
          if (version === null) opened.version = reader.version;
          return reader;
        }),
      };
      // A failed open of a local file is not cached: the user may fix or replace it. A remote one
      // is, for FAILED_REMOTE_MS, when its server failed to answer (not when the file is bad).
      opened.reader.catch((err: unknown) => {
        const unanswered = err instanceof RasterError && (err.code === 'timeout' || err.code === 'remote-failed');
        if (record.origin === 'url' && unanswered) opened.failedAt = Date.now();
        else forget();
      });
      this.readers.set(id, opened);
      entry = opened;
    }
    return entry.reader;
  }

  /**
   * Whether a remote file has a new ETag (or Last-Modified) since its reader opened. Blocks read
   * earlier stay cached, so a read alone may never ask the server again; revalidate() asks, at most
   * once per SATSEG_HTTP_REVALIDATE_S for each dataset (one small range request).
   */
  private revalidate(id: string, record: DatasetRecord, entry: OpenReader): void {
    if (Date.now() - entry.checkedAt < revalidateMs()) return;
    entry.checkedAt = Date.now();
    void this.remoteChanged(record, entry).then((changed) => {
      if (changed && this.readers.get(id) === entry) this.readers.delete(id);
    });
  }

  private async remoteChanged(record: DatasetRecord, entry: OpenReader): Promise<boolean> {
    const opened = await entry.reader.catch(() => null);
    if (!opened) return false;
    try {
      const bytes = await openBytes(this.location(record), this.options.open);
      await bytes.close();
      return bytes.version !== entry.version;
    } catch {
      // The server is unreachable now: keep the reader; its own reads report the failure.
      return false;
    }
  }

  async statistics(id: string): Promise<StatisticsResult> {
    const reader = await this.open(id);
    const key = reader.version;
    const row = this.db.prepare('SELECT stats, stats_key FROM datasets WHERE id = ?').get(id) as { stats: string | null; stats_key: string | null };
    if (row.stats && row.stats_key === key) return JSON.parse(row.stats) as StatisticsResult;
    // The first tile requests for a new dataset arrive together; they share one computation.
    return this.statisticsInFlight.run(`${id}:${key}`, () => reader.statistics().then((stats) => {
      this.db.prepare('UPDATE datasets SET stats = ?, stats_key = ? WHERE id = ?').run(JSON.stringify(stats), key, id);
      return stats;
    }));
  }

  /**
   * Register an uploaded file (already fully on disk at `tempPath`): validated with the same reader
   * as everything else (and `validate`, which may decode sample blocks), then moved into uploads/.
   * Throws the reader's error; the temp file is gone either way.
   */
  async addUpload(tempPath: string, originalName: string, validate?: (reader: RasterReader) => Promise<void>): Promise<DatasetRecord> {
    try {
      await this.check(tempPath, {}, validate);
      const id = newId();
      const name = safeFileName(originalName);
      const rel = path.join(UPLOADS_DIR, `${id}-${name}`);
      // The data folder deleted or unmounted under the server: its fault, not the file's (it was a
      // 400 "invalid GeoTIFF ... ENOENT rename").
      if (!fs.existsSync(this.dataDir)) throw new StorageError('the server\'s data folder is gone (deleted or unmounted); restart the server once it is back');
      await fs.promises.mkdir(path.join(this.dataDir, UPLOADS_DIR), { recursive: true });
      await fs.promises.rename(tempPath, path.join(this.dataDir, rel));
      try {
        this.db.prepare('INSERT INTO datasets (id, path, name, origin, added_at) VALUES (?, ?, ?, ?, ?)').run(id, rel, name, 'upload', new Date().toISOString());
      } catch (err) {
        // Not registered (a locked or full catalog): not kept either, or the next listing found it
        // and listed an upload its sender was told had failed.
        await fs.promises.rm(path.join(this.dataDir, rel), { force: true });
        throw err;
      }
      return this.get(id);
    } finally {
      await fs.promises.rm(tempPath, { force: true });
    }
  }

  /**
   * Register a remote COG by URL, once it has been opened (and `validate`d) over HTTP ranges (or
   * give the dataset it already is). `signal` ends the checks for this caller (a deadline, the
   * client leaving). The same URL registered by several requests at once is checked once and
   * registered once (the others used to get 'UNIQUE constraint failed'); the check stops only
   * when every one of them has gone.
   */
  addUrl(url: string, validate?: (reader: RasterReader) => Promise<void>, signal?: AbortSignal): Promise<DatasetRecord> {
    // Only a URL: a path here would open a file on the server (and say whether it exists).
    if (!isRemote(url)) {
      return Promise.reject(new RasterError('bad-url', /^[a-z][a-z0-9+.-]*:/i.test(url) ? `only http and https URLs can be registered (got ${url.split(':')[0]}:)` : 'not a valid URL: give an http(s) URL of a COG'));
    }
    const existing = this.db.prepare("SELECT id FROM datasets WHERE origin = 'url' AND path = ?").get(url) as { id: string } | undefined;
    if (existing) return Promise.resolve(this.get(existing.id));
    return this.registering.runAbortable(url, signal, async (shared) => {
      await this.check(url, { ...this.options.open, signal: shared }, validate);
      const again = this.db.prepare("SELECT id FROM datasets WHERE origin = 'url' AND path = ?").get(url) as { id: string } | undefined;
      if (again) return this.get(again.id);
      const id = newId();
      this.db.prepare('INSERT INTO datasets (id, path, name, origin, added_at) VALUES (?, ?, ?, ?, ?)').run(id, url, urlFileName(url), 'url', new Date().toISOString());
      return this.get(id);
    });
  }

  /** Open a raster once to admit and validate it before it is registered. */
  private async check(location: string, open: OpenOptions, validate?: (reader: RasterReader) => Promise<void>): Promise<void> {
    const reader = new RasterReader(await openRaster(location, open));
    try {
      this.options.admit?.(reader);
      await validate?.(reader);
    } finally {
      await reader.close();
    }
  }

  /** Close every open reader (the next open of each dataset starts afresh, as after a restart). */
  dropReaders(): void {
    this.readers.clear();
  }

  /** Forget a dataset; its file is deleted too, unless it is a remote or a sample one. */
  async remove(id: string): Promise<void> {
    const record = this.get(id);
    if (record.origin === 'sample') throw new RequestError('sample datasets are read-only; start the server with --no-samples to hide them', 'read-only');
    const entry = this.readers.get(id);
    // Awaited here (the LRU's dispose does not wait), so the file is released before it is deleted.
    this.readers.delete(id);
    if (entry) await entry.reader.then((r) => r.close(), () => undefined);
    if (record.origin !== 'url') await fs.promises.rm(this.location(record), { force: true });
    this.db.prepare('DELETE FROM datasets WHERE id = ?').run(id);
  }
}

/** The name a URL's dataset is shown by: its file name, decoded where its escapes decode ("%E0%A4%A" does not). */
export function urlFileName(url: string): string {
  const last = new URL(url).pathname.split('/').pop() || 'remote.tif';
  let name = last;
  try {
    name = decodeURIComponent(last);
  } catch {
    // kept as written
  }
  return safeFileName(name);
}

/** A file name safe to keep on disk and show: no folders, no odd characters, at most 120 bytes. */
export function safeFileName(original: string): string {
  let base = path.basename(original.replace(/\\/g, '/')).replace(/[^\w.-]+/g, '_').replace(/^\.+/, '');
  if (base.length > 120) {
    const ext = /\.(tiff?)$/i.exec(base)?.[0] ?? '';
    base = base.slice(0, 120 - ext.length) + ext;
  }
  base ||= 'upload.tif';
  return TIFF_FILE.test(base) ? base : `${base}.tif`;
}
