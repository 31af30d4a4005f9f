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
`;

export function openCatalogDb(dataDir: string): Db {
  fs.mkdirSync(dataDir, { recursive: true });
  const db = new Database(path.join(dataDir, 'satseg.sqlite'));
  // WAL lets tile requests read while a job writes.
  db.pragma('journal_mode = WAL');
  db.pragma('busy_timeout = 5000');
  db.exec(SCHEMA);
  return db;
}

/** Short, opaque, URL-safe ids: never derived from a path, so a request cannot name a file. */
export function newId(): string {
  const alphabet = 'abcdefghijkmnpqrstuvwxyz23456789';
  const bytes = crypto.getRandomValues(new Uint8Array(12));
  return Array.from(bytes, (b) => alphabet[b % alphabet.length]).join('');
}

export const ID_PATTERN = /^[a-z0-9]{6,40}$/;
