/**
 * Job records in SQLite, so they survive restarts. Progress is written at most about once a second.
 */
import type { Db } from '../catalog/catalog-db.ts';
import type { JobProgress, JobRecord, JobStatus } from './job-types.ts';
import { NotFoundError } from '../errors.ts';
import { pageSql, splitPage, type PageRequest } from '../catalog/page.ts';

const SCHEMA = `
CREATE TABLE IF NOT EXISTS jobs (
  id TEXT PRIMARY KEY,
  status TEXT NOT NULL,
  dataset_id TEXT NOT NULL,
  model_id TEXT NOT NULL,
  area TEXT,
  options TEXT NOT NULL,
  progress TEXT NOT NULL,
  created_at TEXT NOT NULL,
  started_at TEXT,
  finished_at TEXT,
  error TEXT,
  result_id TEXT,
  notices TEXT,
  before_id TEXT,
  worker TEXT,
  extra_results TEXT
);
CREATE INDEX IF NOT EXISTS jobs_status ON jobs(status);
`;

interface Row {
  id: string; status: JobStatus; dataset_id: string; model_id: string; area: string | null; options: string; progress: string;
  created_at: string; started_at: string | null; finished_at: string | null; error: string | null; result_id: string | null;
  notices: string | null;
  before_id: string | null;
  worker: string | null;
  extra_results: string | null;
}

function fromRow(r: Row): JobRecord {
  return {
    id: r.id, status: r.status, datasetId: r.dataset_id, modelId: r.model_id, area: r.area ? JSON.parse(r.area) : null,
    options: JSON.parse(r.options), progress: JSON.parse(r.progress), createdAt: r.created_at, startedAt: r.started_at,
    finishedAt: r.finished_at, error: r.error, resultId: r.result_id, notices: r.notices ? JSON.parse(r.notices) as string[] : [],
    beforeId: r.before_id, worker: r.worker, extraResults: r.extra_results ? JSON.parse(r.extra_results) : null,
  };
}

export class JobStore {
  constructor(private readonly db: Db) {
    db.exec(SCHEMA);
    // Data folders made by earlier versions lack the newer columns.
    const columns = new Set((db.prepare('PRAGMA table_info(jobs)').all() as Array<{ name: string }>).map((c) => c.name));
    for (const column of ['notices', 'before_id', 'worker', 'extra_results']) {
      if (!columns.has(column)) db.exec(`ALTER TABLE jobs ADD COLUMN ${column} TEXT`);
    }
  }

  insert(job: JobRecord): void {
    this.db.prepare(`INSERT INTO jobs (id, status, dataset_id, model_id, area, options, progress, created_at, started_at, finished_at, error, result_id, notices, before_id, worker, extra_results)
      VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`).run(job.id, job.status, job.datasetId, job.modelId, job.area ? JSON.stringify(job.area) : null,
      JSON.stringify(job.options), JSON.stringify(job.progress), job.createdAt, job.startedAt, job.finishedAt, job.error, job.resultId, JSON.stringify(job.notices),
      job.beforeId ?? null, job.worker ?? null, job.extraResults ? JSON.stringify(job.extraResults) : null);
  }

  update(job: JobRecord): void {
    this.db.prepare('UPDATE jobs SET status = ?, progress = ?, started_at = ?, finished_at = ?, error = ?, result_id = ?, notices = ?, worker = ?, extra_results = ? WHERE id = ?')
      .run(job.status, JSON.stringify(job.progress), job.startedAt, job.finishedAt, job.error, job.resultId, JSON.stringify(job.notices), job.worker ?? null,
        job.extraResults ? JSON.stringify(job.extraResults) : null, job.id);
  }

  get(id: string): JobRecord {
    const row = this.db.prepare('SELECT * FROM jobs WHERE id = ?').get(id) as Row | undefined;
    if (!row) throw new NotFoundError('job', id);
    return fromRow(row);
  }

  /** Newest first: a page, and whether more follow. */
  list(page: PageRequest): { jobs: JobRecord[]; more: boolean } {
    const { sql, params } = pageSql('created_at', 'DESC', page);
    const { items, more } = splitPage(this.db.prepare(`SELECT * FROM jobs${sql}`).all(...params) as Row[], page.limit);
    return { jobs: items.map(fromRow), more };
  }

  count(): number {
    return (this.db.prepare('SELECT COUNT(*) AS n FROM jobs').get() as { n: number }).n;
  }

  countWithStatus(status: JobStatus): number {
    return (this.db.prepare('SELECT COUNT(*) AS n FROM jobs WHERE status = ?').get(status) as { n: number }).n;
  }

  withStatus(...statuses: JobStatus[]): JobRecord[] {
    return (this.db.prepare(`SELECT * FROM jobs WHERE status IN (${statuses.map(() => '?').join(',')}) ORDER BY created_at`).all(...statuses) as Row[]).map(fromRow);
  }
}

export function emptyProgress(stage = 'queued'): JobProgress {
  return { tilesDone: 0, tilesTotal: 0, percent: 0, mpxPerSec: 0, etaSeconds: null, stage };
}
