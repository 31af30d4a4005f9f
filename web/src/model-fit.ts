/**
 * Which models suit which dataset. The server is the judge: GET /models?dataset=<id> gives each
 * model a fit (good, resampled, unsuitable) by bands and by ground resolution, with the reason,
 * best first. Only a server that sends no fit gets the old local rule (enough bands).
 */
import { describeError, type ApiClient } from './api-client.ts';
import type { Dataset, Fit, Model } from './api-types.ts';
import { dataBands } from './band-presets.ts';

export interface ModelFit {
  model: Model;
  fit: Fit;
  /** Why, in words: how bands and resolutions compare, or what is wrong. */
  reason: string;
}

const RANK: Record<Fit, number> = { good: 0, resampled: 1, unsuitable: 2 };

/** Enough bands, or not: what a viewer can judge alone, for servers that send no fit. */
function localFit(model: Model, dataset: Dataset): ModelFit {
  const need = model.input_channels ?? model.bands?.length ?? 0;
  // The server feeds the first N non-alpha bands when names do not match, so counting is a floor.
  const have = dataBands(dataset).length;
  if (have < need) {
    const names = model.bands?.length ? ` (${model.bands.join(', ')})` : '';
    return { model, fit: 'unsuitable', reason: `needs ${need} band${need === 1 ? '' : 's'}${names}; the dataset has ${have}` };
  }
  return { model, fit: 'good', reason: '' };
}

/** The fit of one model to one dataset, from the server's listing for that dataset when it has one. */
export function modelFit(model: Model, dataset: Dataset): ModelFit {
  if (!model.usable) return { model, fit: 'unsuitable', reason: `the model cannot be loaded: ${model.error ?? 'unknown error'}` };
  if (!dataset.usable) return { model, fit: 'unsuitable', reason: 'the dataset cannot be read' };
  if (model.fit) return { model, fit: model.fit.fit, reason: model.fit.reason };
  return localFit(model, dataset);
}

/**
 * A model for a change job must suit both dates: the worse fit wins, and the reason says which
 * scene it concerns.
 */
export function combinedFit(after: ModelFit, before: ModelFit): ModelFit {
  const worst = RANK[before.fit] > RANK[after.fit] ? before.fit : after.fit;
  const parts = (worst === 'good' ? [] : [['before', before], ['after', after]] as const)
    .filter(([, f]) => f.fit === worst)
    .map(([side, f]) => `${side}: ${f.reason}`);
  return { model: after.model, fit: worst, reason: parts.join('; ') || after.reason };
}

/** Fitting models first (the server's order within a fit), unsuitable ones last. */
export function byFit(fits: ModelFit[]): ModelFit[] {
  return fits.map((f, i) => ({ f, i })).sort((a, b) => RANK[a.f.fit] - RANK[b.f.fit] || a.i - b.i).map(({ f }) => f);
}

/**
 * GET /models?dataset= per dataset, asked once and kept: a fit changes only when models are
 * installed, which needs a restart of the server anyway.
 */
export class ModelFits {
  private readonly cache = new Map<string, Promise<Model[]>>();

  constructor(private readonly api: ApiClient) {}

  /**
   * The models as listed for this dataset; if that listing fails, `fallback` (the plain list)
   * judged locally, with the failure as `problem` so the viewer can say so.
   */
  async forDataset(dataset: Dataset, fallback: Model[]): Promise<{ fits: ModelFit[]; problem: string | null }> {
    let listed = this.cache.get(dataset.id);
    if (!listed) {
      listed = this.api.get<{ models: Model[] }>(`/models?dataset=${encodeURIComponent(dataset.id)}`).then((r) => r.models);
      this.cache.set(dataset.id, listed);
      listed.catch(() => this.cache.delete(dataset.id));
    }
    try {
      return { fits: (await listed).map((m) => modelFit(m, dataset)), problem: null };
    } catch (err) {
      return { fits: fallback.map((m) => modelFit(m, dataset)), problem: describeError(err) };
    }
  }
}
