/**
 * MapLibre style documents (style spec v8) for a dataset or a result, so any MapLibre/Mapbox client
 * (and QGIS's "vector tiles" style import) shows it with our colours and class names, from one URL.
 *
 * Sources point at our TileJSON documents rather than copying tile URLs, so bounds and zoom range
 * stay the server's. The result polygons' vector tiles have one source-layer per class, named by
 * the class (vectorize/vector-tiles.ts), so there is one fill and one outline layer per class; each
 * colours by a `match` on the `class` property, which keeps the colours right if the tiles are ever
 * served as one layer. The polygon fill is light (the mask raster under it colours the same pixels);
 * a client that hides the raster still sees every class in its colour.
 */

import { NO_COLOR } from '../write/class-mask-sidecars.ts';

export interface StyleClass {
  id: number;
  name: string;
  /** '#rrggbb', or null when the mask has none. */
  color: string | null;
}

/** A vector source: a TileJSON URL, or the tile template with its zoom range. */
export type VectorSourceRef = { tilejson: string } | { tiles: string[]; minzoom: number; maxzoom: number; bounds?: [number, number, number, number] };

export interface DatasetStyleInput {
  name: string;
  /** The dataset's raster TileJSON URL (GET /datasets/{id}/tilejson.json, absolute). */
  imageryTileJson: string;
  /** Where the map opens: [lon, lat] and zoom (from the dataset's info). */
  center?: [number, number];
  zoom?: number;
}

export interface ResultStyleInput extends Omit<DatasetStyleInput, 'imageryTileJson'> {
  /** The dataset's raster TileJSON URL, or null when there is no imagery to draw under the result (its dataset is gone, or the CLI made it). */
  imageryTileJson: string | null;
  /** The result's class raster TileJSON URL (GET /results/{id}/tilejson.json, absolute). */
  maskTileJson: string;
  /** The result's polygons as vector tiles; omitted when none are made yet. */
  polygons?: VectorSourceRef;
  classes: StyleClass[];
  /** Opacity of the class raster over the imagery. */
  maskOpacity?: number;
}

export interface MapStyle {
  version: 8;
  name: string;
  metadata: Record<string, unknown>;
  center?: [number, number];
  zoom?: number;
  sources: Record<string, Record<string, unknown>>;
  layers: Array<Record<string, unknown>>;
}

const LEGEND_KEY = 'satseg:legend';

function rasterSource(tilejson: string): Record<string, unknown> {
  return { type: 'raster', url: tilejson, tileSize: 256 };
}

function vectorSource(ref: VectorSourceRef): Record<string, unknown> {
  return 'tilejson' in ref ? { type: 'vector', url: ref.tilejson } : { type: 'vector', ...ref };
}

function camera(input: Pick<DatasetStyleInput, 'center' | 'zoom'>): Pick<MapStyle, 'center' | 'zoom'> {
  return { ...(input.center ? { center: input.center } : {}), ...(input.zoom !== undefined ? { zoom: input.zoom } : {}) };
}

/** `['match', ['get', 'class'], name, colour, ..., fallback]`; names repeated later are skipped (match labels must be unique). */
function classColorExpression(classes: StyleClass[]): unknown {
  const seen = new Set<string>();
  const pairs: string[] = [];
  for (const c of classes) {
    if (seen.has(c.name)) continue;
    seen.add(c.name);
    pairs.push(c.name, c.color ?? NO_COLOR);
  }
  return ['match', ['get', 'class'], ...pairs, NO_COLOR];
}

/** A style showing a dataset's imagery alone. */
export function datasetMapLibreStyle(input: DatasetStyleInput): MapStyle {
  return {
    version: 8,
    name: input.name,
    metadata: {},
    ...camera(input),
    sources: { imagery: rasterSource(input.imageryTileJson) },
    layers: [{ id: 'imagery', type: 'raster', source: 'imagery' }],
  };
}

/** A style for a result: imagery (when there is some), the class raster over it, the polygons, and the legend in metadata. */
export function mapLibreStyle(input: ResultStyleInput): MapStyle {
  const imagery = input.imageryTileJson ? datasetMapLibreStyle({ ...input, imageryTileJson: input.imageryTileJson }) : null;
  const legend = input.classes.map((c) => ({ id: c.id, name: c.name, color: c.color ?? NO_COLOR }));
  const sources: MapStyle['sources'] = { ...imagery?.sources, mask: rasterSource(input.maskTileJson) };
  const layers: MapStyle['layers'] = [
    ...(imagery?.layers ?? []),
    { id: 'mask', type: 'raster', source: 'mask', paint: { 'raster-opacity': input.maskOpacity ?? 0.6, 'raster-resampling': 'nearest' } },
  ];
  if (input.polygons) {
    sources.polygons = vectorSource(input.polygons);
    const color = classColorExpression(input.classes);
    const layerNames = [...new Set(input.classes.map((c) => c.name))];
    layerNames.forEach((name, i) => {
      layers.push({ id: `polygons-fill-${i}`, type: 'fill', source: 'polygons', 'source-layer': name, paint: { 'fill-color': color, 'fill-opacity': 0.35 } });
    });
    layerNames.forEach((name, i) => {
      layers.push({ id: `polygons-outline-${i}`, type: 'line', source: 'polygons', 'source-layer': name, paint: { 'line-color': color, 'line-width': 1.5 } });
    });
  }
  return { version: 8, name: input.name, metadata: { [LEGEND_KEY]: legend }, ...camera(input), sources, layers };
}
