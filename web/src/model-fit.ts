/**
 * Which models can segment which dataset. The server is the judge (POST /jobs answers 400 with the
 * reason); this only keeps models that cannot work from being offered.
 */
import type { Dataset, Model } from './api-types.ts';
import { dataBands } from './band-presets.ts';

export interface ModelFit {
  model: Model;
  fits: boolean;
  /** Why not, in words; empty when it fits. */
  reason: string;
}

export function modelFit(model: Model, dataset: Dataset | null): ModelFit {
  if (!model.usable) return { model, fits: false, reason: `unusable: ${model.error ?? 'unknown error'}` };
  if (!dataset) return { model, fits: false, reason: 'pick a dataset first' };
  if (!dataset.usable) return { model, fits: false, reason: 'the dataset cannot be read' };
  const need = model.input_channels ?? model.bands?.length ?? 0;
  // The server feeds the first N non-alpha bands when names do not match, so counting is enough.
  const have = dataBands(dataset).length;
  if (have < need) {
    const names = model.bands?.length ? ` (${model.bands.join(', ')})` : '';
    return { model, fits: false, reason: `needs ${need} band${need === 1 ? '' : 's'}${names}; the dataset has ${have}` };
  }
  return { model, fits: true, reason: '' };
}
