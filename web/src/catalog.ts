/**
 * What the server has: datasets, models, results and running jobs, loaded side by side. A part
 * that fails is reported and left empty; the rest of the viewer still works.
 */
import { describeError, type ApiClient } from './api-client.ts';
import { TERMINAL_STATUSES, type BrokenResult, type Dataset, type Job, type Model, type Result } from './api-types.ts';

export interface Catalog {
  datasets: Dataset[];
  models: Model[];
  results: Result[];
  brokenResults: BrokenResult[];
  activeJobs: Job[];
}

/** Every result, a page of 500 at a time (GET /results is paged), up to 50,000. */
async function allResults(api: ApiClient): Promise<Array<Result | BrokenResult>> {
  const all: Array<Result | BrokenResult> = [];
  for (let page = 0; page < 100; page++) {
    const answer = await api.get<{ results: Array<Result | BrokenResult>; next: string | null }>(`/results?limit=500&offset=${all.length}`);
    all.push(...answer.results);
    if (!answer.next || !answer.results.length) break;
  }
  return all;
}

export async function loadCatalog(api: ApiClient, report: (message: string) => void): Promise<Catalog> {
  const part = async <T>(what: string, load: () => Promise<T>, empty: T): Promise<T> => {
    try {
      return await load();
    } catch (err) {
      report(`Could not load ${what}: ${describeError(err)}`);
      return empty;
    }
  };
  const [datasets, models, results, jobs] = await Promise.all([
    part('the datasets', async () => (await api.get<{ datasets: Dataset[] }>('/datasets')).datasets, []),
    part('the models', async () => (await api.get<{ models: Model[] }>('/models')).models, []),
    part('the results', () => allResults(api), []),
    part('the jobs', async () => (await api.get<{ jobs: Job[] }>('/jobs')).jobs, []),
  ]);
  const isBroken = (r: Result | BrokenResult): r is BrokenResult => 'usable' in r && r.usable === false;
  return {
    datasets,
    models,
    results: results.filter((r): r is Result => !isBroken(r)).sort((a, b) => a.created_at.localeCompare(b.created_at)),
    brokenResults: results.filter(isBroken),
    activeJobs: jobs.filter((j) => !TERMINAL_STATUSES.has(j.status)),
  };
}
