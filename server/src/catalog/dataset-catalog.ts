/**
 * The datasets of a data folder: every GeoTIFF dropped into it, plus uploads.
 *
 * Ids are random and live in SQLite; files are found by id only, so no request ever names a path.
 * Open sources are kept in a small LRU, each with the version (size and modification time) of the
 * file it opened: a file replaced in the data folder is reopened on its next request, and caches
 * keyed by that version (tiles, statistics) stop answering for the old one. A file that fails to
 * open is listed with its reason and only its own requests fail.
 */
import fs from 'node:fs';
import path from 'node:path';
import { LRUCache } from 'lru-cache';
import { openRaster, type RasterSource } from '../read/raster-source.ts';
import { computeStatistics, type StatisticsResult } from './band-statistics.ts';
import { newId, type Db } from './catalog-db.ts';
import { InFlight } from '../in-flight.ts';

export class NotFoundError extends Error {
  constructor(what: string, id: string) {
    super(`${what} ${JSON.stringify(id)} not found`);
    this.name = 'NotFoundError';
  }
}

export interface DatasetRecord {
  id: string;
  path: string;
  name: string;
  origin: 'folder' | 'upload';
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

export interface OpenDataset {
  source: RasterSource;
  /** The file version the source reads: part of every cache key derived from its pixels. */
  version: string;
}

export class DatasetCatalog {
  private readonly statisticsInFlight = new InFlight<StatisticsResult>();
  private readonly sources = new LRUCache<string, { version: string; source: Promise<RasterSource> }>({
    max: 32,
    dispose: (entry) => { void entry.source.then((s) => s.close(), () => undefined); },
  });
  private lastSync = 0;

  constructor(private readonly db: Db, readonly dataDir: string) {
    fs.mkdirSync(path.join(dataDir, UPLOADS_DIR), { recursive: true });
  }

  /** Pick up files dropped into (or removed from) the data folder. Cheap; throttled to once a second. */
  sync(force = false): void {
    if (!force && Date.now() - this.lastSync < 1000) return;
    this.lastSync = Date.now();
    const found = new Set<string>();
    for (const dir of [this.dataDir, path.join(this.dataDir, UPLOADS_DIR)]) {
      for (const name of fs.readdirSync(dir)) {
        if (!TIFF_FILE.test(name) || name.startsWith('.')) continue;
        const full = path.join(dir, name);
        if (fs.statSync(full).isFile()) found.add(path.relative(this.dataDir, full));
      }
    }
    const rows = this.db.prepare('SELECT id, path FROM datasets').all() as Array<{ id: string; path: string }>;
    const known = new Set(rows.map((r) => r.path));
    const insert = this.db.prepare('INSERT INTO datasets (id, path, name, origin, added_at) VALUES (?, ?, ?, ?, ?)');
    for (const rel of found) {
      if (!known.has(rel)) insert.run(newId(), rel, path.basename(rel), rel.startsWith(`${UPLOADS_DIR}${path.sep}`) ? 'upload' : 'folder', new Date().toISOString());
    }
    const remove = this.db.prepare('DELETE FROM datasets WHERE id = ?');
    for (const r of rows) {
      if (!found.has(r.path)) { remove.run(r.id); this.sources.delete(r.id); }
    }
  }

  list(): DatasetRecord[] {
    this.sync();
    return (this.db.prepare('SELECT id, path, name, origin, added_at AS addedAt FROM datasets ORDER BY name, id').all() as DatasetRecord[]);
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

  filePath(record: DatasetRecord): string {
    return path.join(this.dataDir, record.path);
  }

  /** The open source of a dataset; a file that cannot be read throws its RasterError. */
  async open(id: string): Promise<RasterSource> {
    return (await this.openVersion(id)).source;
  }

  /** The open source of a dataset with the version of the file it reads. */
  async openVersion(id: string): Promise<OpenDataset> {
    const record = this.get(id);
    const file = this.filePath(record);
    const version = fileVersion(file);
    let entry = this.sources.get(id);
    // Replaced (or rewritten) since it was opened: the old source goes (dispose closes it).
    if (entry && entry.version !== version) {
      this.sources.delete(id);
      entry = undefined;
    }
    if (!entry) {
      const opened = { version, source: openRaster(file) };
      // A failed open is not cached: the user may fix or replace the file.
      opened.source.catch(() => { if (this.sources.get(id) === opened) this.sources.delete(id); });
      this.sources.set(id, opened);
      entry = opened;
    }
    return { source: await entry.source, version: entry.version };
  }

  async statistics(id: string): Promise<StatisticsResult> {
    const record = this.get(id);
    const key = fileVersion(this.filePath(record));
    const row = this.db.prepare('SELECT stats, stats_key FROM datasets WHERE id = ?').get(id) as { stats: string | null; stats_key: string | null };
    if (row.stats && row.stats_key === key) return JSON.parse(row.stats) as StatisticsResult;
    // The first tile requests for a new dataset arrive together; they share one computation.
    return this.statisticsInFlight.run(`${id}:${key}`, () => this.open(id).then(computeStatistics).then((stats) => {
      this.db.prepare('UPDATE datasets SET stats = ?, stats_key = ? WHERE id = ?').run(JSON.stringify(stats), key, id);
      return stats;
    }));
  }

  /**
   * Register an uploaded file (already fully on disk at `tempPath`): validated with the same reader
   * as everything else, then moved into uploads/. Throws the reader's error; the temp file is gone
   * either way.
   */
  async addUpload(tempPath: string, originalName: string): Promise<DatasetRecord> {
    try {
      const source = await openRaster(tempPath);
      await source.close();
      const id = newId();
      const base = path.basename(originalName).replace(/[^\w.-]+/g, '_').replace(/^\.+/, '') || 'upload.tif';
      const name = TIFF_FILE.test(base) ? base : `${base}.tif`;
      const rel = path.join(UPLOADS_DIR, `${id}-${name}`);
      await fs.promises.rename(tempPath, path.join(this.dataDir, rel));
      this.db.prepare('INSERT INTO datasets (id, path, name, origin, added_at) VALUES (?, ?, ?, ?, ?)').run(id, rel, name, 'upload', new Date().toISOString());
      return this.get(id);
    } finally {
      await fs.promises.rm(tempPath, { force: true });
    }
  }

  /** Forget a dataset and delete its file. */
  async remove(id: string): Promise<void> {
    const record = this.get(id);
    const entry = this.sources.get(id);
    // Awaited here (the LRU's dispose does not wait), so the file is released before it is deleted.
    this.sources.delete(id);
    if (entry) await entry.source.then((s) => s.close(), () => undefined);
    await fs.promises.rm(this.filePath(record), { force: true });
    this.db.prepare('DELETE FROM datasets WHERE id = ?').run(id);
  }
}
