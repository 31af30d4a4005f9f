/**
 * A change result: what became what between two dates. Its classes are the transitions
 * "from → to" coded from * N + to; the unchanged ones (from = to) are not drawn (the server leaves
 * them out unless asked), so this layer offers only the changed ones, coloured by their "to" class.
 */
import type { ModelClass, Result } from './api-types.ts';
import { ResultLayer } from './result-layer.ts';

export class ChangeLayer extends ResultLayer {
  private readonly changed: ModelClass[];

  constructor(result: Result) {
    super(result);
    const n = this.modelClasses.length;
    // Code from * n + to is unchanged exactly when it is a multiple of n + 1.
    this.changed = n ? result.classes.filter((c) => c.id % (n + 1) !== 0) : result.classes;
  }

  override get classes(): ModelClass[] {
    return this.changed;
  }

  /** The compared model's classes, in id order. */
  get modelClasses(): string[] {
    return this.result.summary?.change_classes ?? [];
  }

  /** The colour the map gives pixels that became `className` (that of every transition to it). */
  colourOf(className: string): string | null {
    return this.changed.find((c) => c.name.endsWith(` → ${className}`))?.color ?? null;
  }

  /** The class masks of the two dates, as results of their own. */
  get beforeResultId(): string | null {
    return this.result.summary?.before_result ?? null;
  }

  get afterResultId(): string | null {
    return this.result.summary?.after_result ?? null;
  }
}
