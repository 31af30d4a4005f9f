/**
 * The result store: a folder per result under results/, described by a row in SQLite. Every
 * producer (in-process jobs, remote workers, `satseg segment --register`) reserves a folder here,
 * writes into it, and registers it; a result is registered only once its files are complete, so no
 * half-written mask is served, and registering the same id twice keeps one result.
 */
import fs from 'node:fs';
import path from 'node:path';
import { LRUCache } from 'lru-cache';
import { openRaster } from '../read/open-raster.ts';
import { RasterReader } from '../read/raster-reader.ts';
import { newId, type Db } from './catalog-db.ts';
import { RESULTS_DIR } from './dataset-catalog.ts';
import { NotFoundError, StorageError } from '../errors.ts';
import { copyFileAtomic, TEMP_MARK, writeFileAtomic } from '../write/atomic-file.ts';
import { pageSql, splitPage, type PageKey, type PageRequest } from './page.ts';

export const RESULT_FILES = {
  mask: 'mask.tif',
  scores: 'scores.tif',
  features: 'features.geojson',
  flatgeobuf: 'features.fgb',
  stats: 'stats.json',
} as const;

export type ResultKind = 'segmentation' | 'change';

export interface ResultRecord {
  id: string;
  /** A class mask, or a change mask whose "classes" are the transitions from * N + to. */
  kind: ResultKind;
  datasetId: string | null;
  modelId: string;
  /** Folder relative to the data folder. */
  dir: string;
  name: string;
  classes: string[];
  colors: string[];
  createdAt: string;
  summary: Record<string, unknown> | null;
}

/** A result's classes by id, with their colours (null where the mask has none). */
export function resultClasses(r: ResultRecord): Array<{ id: number; name: string; color: string | null }> {
  return r.classes.map((name, id) => ({ id, name, color: r.colors[id] ?? null }));
}

interface ResultRow {
  id: string;
  kind: string | null;
  dataset_id: string | null;
  model_id: string;
  dir: string;
  name: string;
  classes: string;
  colors: string;
  created_at: string;
  summary: string | null;
}

function fromRow(r: ResultRow): ResultRecord {
  return {
    id: r.id, kind: r.kind === 'change' ? 'change' : 'segmentation', datasetId: r.dataset_id, modelId: r.model_id, dir: r.dir, name: r.name,
    classes: JSON.parse(r.classes), colors: JSON.parse(r.colors), createdAt: r.created_at,
    summary: r.summary ? JSON.parse(r.summary) : null,
  };
}

export class ResultCatalog {
  private readonly readers = new LRUCache<string, Promise<RasterReader>>({
    max: 32,
    dispose: (p) => { void p.then((r) => r.close(), () => undefined); },
  });

  constructor(private readonly db: Db, readonly dataDir: string) {
    fs.mkdirSync(path.join(dataDir, RESULTS_DIR), { recursive: true });
    // Data folders made before change results existed.
    const columns = new Set((db.prepare('PRAGMA table_info(results)').all() as Array<{ name: string }>).map((c) => c.name));
    if (!columns.has('kind')) db.exec('ALTER TABLE results ADD COLUMN kind TEXT');
    if (!columns.has('reuse_key')) db.exec('ALTER TABLE results ADD COLUMN reuse_key TEXT');
  }

  /**
   * For a server starting, before it runs jobs (never from a command beside a running server,
   * whose jobs' folders are empty for their first moments): result folders no record names and no
   * unfinished job will fill (`pending`: their ids) go. Empty ones (a job that could not write on a
   * read-only folder left one), and others an hour old (an upload that landed as its job failed
   * left a mask no record names); younger ones stay, in case another process (`satseg segment
   * --register`) is registering them now.
   */
  removeOrphanFolders(pending: ReadonlySet<string>): number {
    let removed = 0;
    const hourAgo = Date.now() - 3600_000;
    for (const name of fs.readdirSync(path.join(this.dataDir, RESULTS_DIR))) {
      if (pending.has(name) || this.has(name)) continue;
      const dir = path.join(this.dataDir, RESULTS_DIR, name);
      try {
        const stat = fs.statSync(dir);
        if (!stat.isDirectory()) continue;
        if (fs.readdirSync(dir).length === 0) fs.rmdirSync(dir);
        else if (stat.mtimeMs < hourAgo) fs.rmSync(dir, { recursive: true, force: true });
        else continue;
        removed++;
      } catch {
        // Not removable now (read-only): harmless.
      }
    }
    return removed;
  }

  /**
   * Throws a StorageError when results cannot be written now (the data folder read-only or gone):
   * checked before a job is accepted, which otherwise ran to fail on "ENOENT mkdir" (probe).
   */
  checkWritable(): void {
    try {
      fs.accessSync(path.join(this.dataDir, RESULTS_DIR), fs.constants.W_OK);
    } catch (err) {
      throw new StorageError(`the server cannot write results now: its results folder is ${(err as NodeJS.ErrnoException).code === 'ENOENT' ? 'gone (deleted or unmounted)' : 'read-only'}`);
    }
  }

  /** A fresh, empty folder for a result that is about to be written (its id: the job's, or a new one). */
  allocate(id: string = newId()): { id: string; dir: string } {
    const dir = this.dirOf(id);
    fs.mkdirSync(dir, { recursive: true });
    return { id, dir };
  }

  /** The folder a result with this id is (or will be) written to. */
  dirOf(id: string): string {
    return path.join(this.dataDir, RESULTS_DIR, id);
  }

  /** Remove the folder of a result that will not be registered (failed or cancelled). */
  discard(id: string): void {
    if (this.db.prepare('SELECT 1 FROM results WHERE id = ?').get(id)) return;
    fs.rmSync(this.dirOf(id), { recursive: true, force: true });
  }

  /**
   * Register a finished result folder. Registering an id again replaces the row, never adds a
   * second result: a job retried after its worker died ends with exactly one. `reuseKey` marks a
   * class mask that a later job with the same key (dataset, model, area, options) may reuse.
   */
  register(r: Omit<ResultRecord, 'dir' | 'createdAt' | 'kind'> & { kind?: ResultKind; createdAt?: string; reuseKey?: string }): ResultRecord {
    const dir = path.join(RESULTS_DIR, r.id);
    if (!fs.existsSync(path.join(this.dataDir, dir, RESULT_FILES.mask))) throw new Error(`result ${r.id} has no mask`);
    this.db.prepare('INSERT OR REPLACE INTO results (id, kind, dataset_id, model_id, dir, name, classes, colors, created_at, summary, reuse_key) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)')
      .run(r.id, r.kind ?? 'segmentation', r.datasetId, r.modelId, dir, r.name, JSON.stringify(r.classes), JSON.stringify(r.colors), r.createdAt ?? new Date().toISOString(), r.summary ? JSON.stringify(r.summary) : null, r.reuseKey ?? null);
    return this.get(r.id);
  }

  /** A registered class mask made with this reuse key, if any (newest first). */
  findReusable(reuseKey: string): ResultRecord | null {
    const row = this.db.prepare("SELECT * FROM results WHERE reuse_key = ? AND (kind IS NULL OR kind = 'segmentation') ORDER BY created_at DESC LIMIT 1").get(reuseKey) as ResultRow | undefined;
    if (!row) return null;
    const record = fromRow(row);
    return fs.existsSync(this.file(record, 'mask')) ? record : null;
  }

  /**
   * Copy finished files (a mask, maybe scores) into a new result folder, with its statistics, and
   * register it. Used by `satseg segment --register`; jobs write into allocate()'d folders directly.
   */
  async importFiles(files: { mask: string; scores?: string | null; stats?: string }, meta: Omit<ResultRecord, 'id' | 'dir' | 'createdAt' | 'kind'>): Promise<ResultRecord> {
    const { id, dir } = this.allocate();
    try {
      await copyFileAtomic(files.mask, path.join(dir, RESULT_FILES.mask));
      if (files.scores) await copyFileAtomic(files.scores, path.join(dir, RESULT_FILES.scores));
      if (files.stats) await writeFileAtomic(path.join(dir, RESULT_FILES.stats), files.stats);
      return this.register({ id, ...meta });
    } catch (err) {
      await fs.promises.rm(dir, { recursive: true, force: true });
      throw err;
    }
  }

  /** Newest first; every one, or a page of them and whether more follow. */
  list(): ResultRecord[];
  list(page: PageRequest): { items: ResultRecord[]; more: boolean };
  list(page?: PageRequest): ResultRecord[] | { items: ResultRecord[]; more: boolean } {
    if (!page) return (this.db.prepare('SELECT * FROM results ORDER BY created_at DESC, id').all() as ResultRow[]).map(fromRow);
    const { sql, params } = pageSql('created_at', 'DESC', page);
    const { items, more } = splitPage(this.db.prepare(`SELECT * FROM results${sql}`).all(...params) as ResultRow[], page.limit);
    return { items: items.map(fromRow), more };
  }

  /** Where a result sorts in the list (its page cursor). */
  pageKey(r: ResultRecord): PageKey {
    return [r.createdAt, r.id];
  }

  count(): number {
    return (this.db.prepare('SELECT COUNT(*) AS n FROM results').get() as { n: number }).n;
  }

  /** Whether a result of this id is registered. */
  has(id: string): boolean {
    return this.db.prepare('SELECT 1 FROM results WHERE id = ?').get(id) !== undefined;
  }

  get(id: string): ResultRecord {
    const row = this.db.prepare('SELECT * FROM results WHERE id = ?').get(id) as ResultRow | undefined;
    if (!row) throw new NotFoundError('result', id);
    return fromRow(row);
  }

  /**
   * The record, when its folder is still there; else a 404 saying its files are gone (a folder
   * removed behind the server's back gave 500s on its mask and 400 "output folder does not
   * exist" on its polygons).
   */
  withFiles(record: ResultRecord): ResultRecord {
    if (!fs.existsSync(path.join(this.dataDir, record.dir, RESULT_FILES.mask))) {
      throw new NotFoundError('result', record.id, 'is gone: its files are no longer in the data folder; delete it');
    }
    return record;
  }

  file(record: ResultRecord, which: keyof typeof RESULT_FILES): string {
    return path.join(this.dataDir, record.dir, RESULT_FILES[which]);
  }

  open(id: string): Promise<RasterReader> {
    const record = this.withFiles(this.get(id));
    let p = this.readers.get(id);
    if (!p) {
      p = openRaster(this.file(record, 'mask')).then((s) => new RasterReader(s));
      p.catch(() => this.readers.delete(id));
      this.readers.set(id, p);
    }
    return p;
  }

  /**
   * Forget a result and delete its folder. The folder is first moved aside (one rename): where
   * that fails (a read-only folder), nothing has changed and the error says why. The row was
   * deleted first, and a folder that then could not be removed was never listed or removed again.
   * A folder moved aside that cannot be removed now is a temporary of its own, swept at start.
   */
  async remove(id: string): Promise<void> {
    const record = this.get(id);
    const p = this.readers.get(id);
    this.readers.delete(id);
    if (p) await p.then((s) => s.close(), () => undefined);
    const dir = path.join(this.dataDir, record.dir);
    const aside = path.join(path.dirname(dir), `.${id}${TEMP_MARK}deleted`);
    const moved = await fs.promises.rename(dir, aside).then(() => true, (err: NodeJS.ErrnoException) => {
      if (err.code === 'ENOENT') return false; // already gone: only the row is left to delete
      throw err;
    });
    try {
      this.db.prepare('DELETE FROM results WHERE id = ?').run(id);
    } catch (err) {
      if (moved) await fs.promises.rename(aside, dir).catch(() => undefined);
      throw err;
    }
    if (moved) await fs.promises.rm(aside, { recursive: true, force: true }).catch(() => undefined);
  }
}
