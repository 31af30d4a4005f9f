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

/**
 * Every item of a paged list (GET /datasets, /results), 500 a page, up to 50,000, following each
 * page's `next` cursor (its query, on this viewer's own path to the API); an item is kept once.
 */
async function allPages<K extends string, T extends { id: string }>(api: ApiClient, path: string, key: K): Promise<T[]> {
  const all = new Map<string, T>();
  let query = 'limit=500';
  for (let page = 0; page < 100; page++) {
    const answer = await api.get<Record<K, T[]> & { next: string | null }>(`${path}?${query}`);
    for (const item of answer[key]) all.set(item.id, item);
    if (!answer.next || !answer[key].length) break;
    query = new URL(answer.next, window.location.href).search.slice(1);
  }
  return [...all.values()];
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
    part('the datasets', () => allPages<'datasets', Dataset>(api, '/datasets', 'datasets'), []),
    part('the models', async () => (await api.get<{ models: Model[] }>('/models')).models, []),
    part('the results', () => allPages<'results', Result | BrokenResult>(api, '/results', 'results'), []),
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
