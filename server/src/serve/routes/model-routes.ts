/**
 * /models: the installed models, what each needs, and (with ?dataset=) how well each suits a
 * dataset: by bands and by resolution.
 */
import { createRoute, z, type OpenAPIHono } from '@hono/zod-openapi';
import type { ServerContext } from '../server-context.ts';
import type { ModelEntry } from '../../infer/model-registry.ts';
import type { RasterInfo } from '../../read/raster.ts';
import { modelFit } from '../../segment/model-fit.ts';
import { Id, Model, ModelList } from '../api-schemas.ts';
import { errors, jsonResponse } from '../openapi.ts';

export function describeModel(e: ModelEntry, scene?: RasterInfo): z.infer<typeof Model> {
  if (!e.spec) return { id: e.id, usable: false, error: e.error };
  const s = e.spec;
  const fit = scene ? modelFit(s, scene) : null;
  return {
    id: e.id,
    usable: true,
    description: s.description,
    license: s.license,
    classes: s.classNames.map((name, i) => ({ id: i, name, color: s.classColors[i]! })),
    bands: s.bands.names,
    sensors: s.bands.sensors,
    input_channels: s.inputChannels,
    resolution_m: s.resolutionCm === null ? null : s.resolutionCm / 100,
    tile_size: s.tileSize,
    fixed_tile_size: s.fixedTileSize,
    tiles_overlap_percent: s.overlapPercent,
    input_alignment: s.inputAlignment,
    ...(fit ? { fit: { fit: fit.fit, reason: fit.reason } } : {}),
  };
}

const ORDER = { good: 0, resampled: 1, unsuitable: 2 } as const;

export function registerModelRoutes(app: OpenAPIHono, ctx: ServerContext): void {
  app.openapi(createRoute({
    method: 'get', path: '/models', tags: ['model'], operationId: 'listModels',
    summary: 'Installed models; with ?dataset=<id>, each with its fit to that dataset, best first',
    request: { query: z.object({ dataset: Id.optional() }) },
    responses: { 200: jsonResponse(ModelList, 'models'), ...errors(400, 404, 413, 422) },
  }), async (c) => {
    const { dataset } = c.req.valid('query');
    const scene = dataset ? (await ctx.datasets.open(dataset)).info : undefined;
    const models = ctx.models.list().map((e) => describeModel(e, scene));
    if (scene) models.sort((a, b) => (a.fit ? ORDER[a.fit.fit] : 3) - (b.fit ? ORDER[b.fit.fit] : 3));
    return c.json({ models }, 200);
  });

  app.openapi(createRoute({
    method: 'get', path: '/models/{id}', tags: ['model'], operationId: 'getModel', summary: 'One model',
    request: { params: z.object({ id: z.string().regex(/^[\w.-]{1,100}$/) }) },
    responses: { 200: jsonResponse(Model, 'model'), ...errors(400, 404, 422) },
  }), (c) => {
    const spec = ctx.models.get(c.req.valid('param').id);
    return c.json(describeModel({ id: spec.id, path: spec.path, spec, error: null }), 200);
  });
}
