/**
 * The embedded store: one SQLite file in the data folder holds datasets, results and jobs, so a
 * restarted server finds everything where it left it.
 */
import path from 'node:path';
import fs from 'node:fs';
import Database from 'better-sqlite3';

export type Db = Database.Database;

const SCHEMA = `
CREATE TABLE IF NOT EXISTS datasets (
  id TEXT PRIMARY KEY,
  path TEXT NOT NULL UNIQUE,
  name TEXT NOT NULL,
  origin TEXT NOT NULL,          -- 'folder' (dropped into the data folder) or 'upload'
  added_at TEXT NOT NULL,
  stats TEXT,                    -- cached per-band statistics (JSON)
  stats_key TEXT                 -- size:mtime of the file the statistics were computed from
);
CREATE TABLE IF NOT EXISTS results (
  id TEXT PRIMARY KEY,
  dataset_id TEXT,
  model_id TEXT NOT NULL,
  dir TEXT NOT NULL,
  name TEXT NOT NULL,
  classes TEXT NOT NULL,         -- JSON list of class names
  colors TEXT NOT NULL,          -- JSON list of hex colours
  created_at TEXT NOT NULL,
  summary TEXT                   -- JSON: the segmentation summary and statistics
);
CREATE TABLE IF NOT EXISTS write_check (
  at INTEGER                     -- never holds a row: openCatalogDb writes one and takes it back
);
`;

/**
 * Open (or create) the data folder's catalog, and check that it can be written: a read-only one
 * started without a word and failed every job and listing later (500 "attempt to write a readonly
 * database"). `busyTimeoutMs`: how long a write waits for another process's lock. better-sqlite3
 * waits synchronously, so in a server every other request waits too: a 5 s wait held GET /models
 * 15 s behind three listings. The server waits little and answers 503; a CLI command may wait longer.
 */
export function openCatalogDb(dataDir: string, busyTimeoutMs = 5000): Db {
  const madeDir = fs.mkdirSync(dataDir, { recursive: true });
  const file = path.join(dataDir, 'satseg.sqlite');
  // Whether this call makes the catalog, claimed by creating the file exclusively: two processes
  // starting on a fresh folder must not both take it for theirs (one failing would remove the
  // other's catalog).
  let created = false;
  try {
    fs.closeSync(fs.openSync(file, 'wx'));
    created = true;
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'EEXIST') throw new Error(`the catalog ${file} cannot be used: ${(err as Error).message}`);
  }
  let db: Db | null = null;
  try {
    db = new Database(file);
    // WAL lets tile requests read while a job writes.
    db.pragma('journal_mode = WAL');
    db.pragma(`busy_timeout = ${Math.max(0, Math.round(busyTimeoutMs))}`);
    db.exec(SCHEMA);
    // A row written and taken back: refused at once where the catalog cannot be written (a
    // transaction alone, or CREATE TABLE IF NOT EXISTS, passes on a read-only file).
    db.exec('BEGIN IMMEDIATE; INSERT INTO write_check (at) VALUES (0); ROLLBACK;');
    return db;
  } catch (err) {
    db?.close();
    // A catalog this call created and could not finish (a full disk) is not left behind, empty,
    // for the next run to trip on; nor the data folder it made for it, if nothing else is in it.
    if (created) {
      for (const f of [file, `${file}-wal`, `${file}-shm`]) if (fs.statSync(f, { throwIfNoEntry: false })?.isFile()) fs.rmSync(f, { force: true });
      // Empty folders only, from the data folder up to the first this call made.
      for (let dir = path.resolve(dataDir); madeDir && dir.startsWith(path.resolve(madeDir)); dir = path.dirname(dir)) {
        try { fs.rmdirSync(dir); } catch { break; }
      }
    }
    throw new Error(`the catalog ${file} cannot be used: ${(err as Error).message}`);
  }
}

/** Short, opaque, URL-safe ids: never derived from a path, so a request cannot name a file. */
export function newId(): string {
  const alphabet = 'abcdefghijkmnpqrstuvwxyz23456789';
  const bytes = crypto.getRandomValues(new Uint8Array(12));
  return Array.from(bytes, (b) => alphabet[b % alphabet.length]).join('');
}

export const ID_PATTERN = /^[a-z0-9]{6,40}$/;
