/**
 * `satseg models`: what is installed, and why a model is unusable.
 */
import { ModelRegistry, type ModelEntry } from '../infer/model-registry.ts';

export function describeModels(entries: ModelEntry[]): string {
  if (!entries.length) return 'No models installed. Put <id>/model.onnx (or <id>.onnx) in the models folder.';
  return entries.map((e) => {
    if (!e.spec) return `${e.id}\n  UNUSABLE: ${e.error}`;
    const s = e.spec;
    const bands = s.bands.names.length ? s.bands.names.join(', ') : `${s.inputChannels} bands`;
    const res = s.resolutionCm ? `${s.resolutionCm / 100} m/px` : 'any resolution';
    return [
      `${e.id}${s.description ? ` - ${s.description}` : ''}`,
      `  classes: ${s.classNames.join(', ')}`,
      `  input: ${bands}; ${res}; tile ${s.tileSize}${s.fixedTileSize ? ' (fixed)' : ''}, overlap ${s.overlapPercent}%`,
    ].join('\n');
  }).join('\n');
}

export function runModels(json: boolean, registry = new ModelRegistry()): string {
  const entries = registry.list();
  if (json) {
    return JSON.stringify(entries.map((e) => (e.spec ? {
      id: e.id,
      description: e.spec.description,
      classes: e.spec.classNames,
      colors: e.spec.classColors,
      bands: e.spec.bands,
      input_channels: e.spec.inputChannels,
      resolution_cm: e.spec.resolutionCm,
      tile_size: e.spec.tileSize,
      fixed_tile_size: e.spec.fixedTileSize,
      tiles_overlap_percent: e.spec.overlapPercent,
      usable: true,
    } : { id: e.id, usable: false, error: e.error })), null, 2);
  }
  return describeModels(entries);
}
