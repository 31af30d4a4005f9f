/**
 * /models: the installed models and what each needs.
 */
import type { OpenAPIHono } from '@hono/zod-openapi';
import type { ServerContext } from '../server-context.ts';
import type { ModelEntry } from '../../infer/model-registry.ts';

export function describeModel(e: ModelEntry) {
  if (!e.spec) return { id: e.id, usable: false, error: e.error };
  const s = e.spec;
  return {
    id: e.id,
    usable: true,
    description: s.description,
    license: s.license,
    classes: s.classNames.map((name, i) => ({ id: i, name, color: s.classColors[i] })),
    bands: s.bands.names,
    sensors: s.bands.sensors,
    input_channels: s.inputChannels,
    resolution_m: s.resolutionCm === null ? null : s.resolutionCm / 100,
    tile_size: s.tileSize,
    fixed_tile_size: s.fixedTileSize,
    tiles_overlap_percent: s.overlapPercent,
  };
}

export function registerModelRoutes(app: OpenAPIHono, ctx: ServerContext): void {
  app.get('/models', (c) => c.json({ models: ctx.models.list().map(describeModel) }));
  app.get('/models/:id', (c) => {
    const spec = ctx.models.get(c.req.param('id'));
    return c.json(describeModel({ id: spec.id, path: spec.path, spec, error: null }));
  });
}
