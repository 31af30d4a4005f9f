/**
 * The installed models: every `models/<id>/model.onnx` and every `models/<id>.onnx` dropped in.
 * Metadata is read from the file itself, so a model is usable the moment its file lands; a model
 * with bad metadata is listed with the reason instead of being hidden.
 */
import fs from 'node:fs';
import path from 'node:path';
import { readOnnxSummary } from './onnx-proto.ts';
import { modelSpecFromOnnx, type ModelSpec } from './model-spec.ts';
import { repoRoot } from '../runtime-paths.ts';
import { ModelMetadataError, UnknownModelError } from '../errors.ts';
import { keepOnnxRuntimeOffline } from './ort-telemetry.ts';

export interface ModelEntry {
  id: string;
  path: string;
  spec: ModelSpec | null;
  /** Why the model cannot be used, when spec is null. */
  error: string | null;
}

export const defaultModelsDir = process.env.SATSEG_MODELS
  ?? path.join(repoRoot, 'models');

export class ModelRegistry {
  private cache = new Map<string, { stamp: string; entry: ModelEntry }>();

  constructor(readonly dir: string = defaultModelsDir) {
    // Before any thread this process starts opens a session.
    keepOnnxRuntimeOffline();
  }

  private candidates(): Array<{ id: string; path: string }> {
    if (!fs.existsSync(this.dir)) return [];
    const found: Array<{ id: string; path: string }> = [];
    for (const name of fs.readdirSync(this.dir).sort()) {
      const full = path.join(this.dir, name);
      if (name.endsWith('.onnx') && fs.statSync(full).isFile()) {
        found.push({ id: name.slice(0, -5), path: full });
      } else if (fs.existsSync(path.join(full, 'model.onnx'))) {
        found.push({ id: name, path: path.join(full, 'model.onnx') });
      }
    }
    return found;
  }

  private load(id: string, file: string): ModelEntry {
    const stat = fs.statSync(file);
    const stamp = `${stat.size}:${stat.mtimeMs}`;
    const hit = this.cache.get(file);
    if (hit && hit.stamp === stamp) return hit.entry;
    let entry: ModelEntry;
    try {
      const spec = modelSpecFromOnnx(id, file, readOnnxSummary(fs.readFileSync(file)));
      entry = { id, path: file, spec, error: null };
    } catch (err) {
      const message = err instanceof ModelMetadataError ? err.message : `model ${id}: cannot read ${path.basename(file)}: ${(err as Error).message}`;
      entry = { id, path: file, spec: null, error: message };
    }
    this.cache.set(file, { stamp, entry });
    return entry;
  }

  list(): ModelEntry[] {
    return this.candidates().map((c) => this.load(c.id, c.path));
  }

  /** The spec of a usable model; throws naming the problem otherwise. */
  get(id: string): ModelSpec {
    const all = this.list();
    const entry = all.find((e) => e.id === id);
    if (!entry) throw new UnknownModelError(id, all.map((e) => e.id));
    if (!entry.spec) throw new Error(entry.error ?? `model ${id} is unusable`);
    return entry.spec;
  }
}
