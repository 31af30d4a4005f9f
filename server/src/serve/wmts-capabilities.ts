/**
 * WMTS 1.0.0 capabilities (RESTful binding) for our XYZ PNG tiles, so desktop GIS (QGIS, ArcGIS,
 * GDAL's WMTS driver) can add a dataset or result from one URL instead of a hand-typed XYZ template.
 *
 * Our tiles are exactly the OGC WebMercatorQuad matrix set, declared with the well-known scale set
 * GoogleMapsCompatible; WMTS's {TileRow} counts from the top like XYZ's y, so the REST template maps
 * straight onto /{z}/{x}/{y}.png. Each layer's TileMatrixSetLimits name its zoom range and the tiles
 * that cover its bounds, so clients neither ask for empty tiles nor zoom past the data.
 */
import { HALF_WORLD, MAX_ZOOM, TILE_SIZE, Z0_RESOLUTION, tileRange } from '../read/web-mercator.ts';
import { xmlEscape } from '../write/xml-text.ts';

export interface WmtsLayer {
  /** Unique in the document; the layer's ows:Identifier (clients select layers by it). */
  identifier: string;
  title: string;
  abstract?: string;
  /** Where the layer's tiles live under the base URL, e.g. 'datasets/abc' for datasets/abc/tiles/{z}/{x}/{y}.png. */
  path: string;
  /** [west, south, east, north] in WGS 84 degrees. */
  bounds: [number, number, number, number];
  minzoom: number;
  maxzoom: number;
}

export const TILE_MATRIX_SET = 'GoogleMapsCompatible';
// OGC's standardized rendering pixel size (0.28 mm) turns metres per pixel into a scale denominator.
const PIXEL_SIZE_M = 0.00028;

function checkLayer(l: WmtsLayer): void {
  const [w, s, e, n] = l.bounds;
  if (!(w >= -180 && e <= 180 && s >= -90 && n <= 90 && w < e && s < n)) throw new RangeError(`layer ${l.identifier}: bounds ${l.bounds.join(',')} are not [west, south, east, north] in degrees`);
  if (!Number.isInteger(l.minzoom) || !Number.isInteger(l.maxzoom) || l.minzoom < 0 || l.maxzoom > MAX_ZOOM || l.minzoom > l.maxzoom) {
    throw new RangeError(`layer ${l.identifier}: zoom range ${l.minzoom}..${l.maxzoom} is not within 0..${MAX_ZOOM}`);
  }
}

function tileMatrix(z: number): string {
  const n = 2 ** z;
  return [
    '      <TileMatrix>',
    `        <ows:Identifier>${z}</ows:Identifier>`,
    `        <ScaleDenominator>${Z0_RESOLUTION / n / PIXEL_SIZE_M}</ScaleDenominator>`,
    `        <TopLeftCorner>${-HALF_WORLD} ${HALF_WORLD}</TopLeftCorner>`,
    `        <TileWidth>${TILE_SIZE}</TileWidth>`,
    `        <TileHeight>${TILE_SIZE}</TileHeight>`,
    `        <MatrixWidth>${n}</MatrixWidth>`,
    `        <MatrixHeight>${n}</MatrixHeight>`,
    '      </TileMatrix>',
  ].join('\n');
}

function layerXml(l: WmtsLayer, baseUrl: string): string {
  const limits: string[] = [];
  for (let z = l.minzoom; z <= l.maxzoom; z++) {
    const r = tileRange(l.bounds, z);
    limits.push(
      `          <TileMatrixLimits><TileMatrix>${z}</TileMatrix><MinTileRow>${r.minY}</MinTileRow><MaxTileRow>${r.maxY}</MaxTileRow><MinTileCol>${r.minX}</MinTileCol><MaxTileCol>${r.maxX}</MaxTileCol></TileMatrixLimits>`,
    );
  }
  const template = `${baseUrl}/${l.path.split('/').map(encodeURIComponent).join('/')}/tiles/{TileMatrix}/{TileCol}/{TileRow}.png`;
  return [
    '    <Layer>',
    `      <ows:Title>${xmlEscape(l.title)}</ows:Title>`,
    ...(l.abstract ? [`      <ows:Abstract>${xmlEscape(l.abstract)}</ows:Abstract>`] : []),
    '      <ows:WGS84BoundingBox>',
    `        <ows:LowerCorner>${l.bounds[0]} ${l.bounds[1]}</ows:LowerCorner>`,
    `        <ows:UpperCorner>${l.bounds[2]} ${l.bounds[3]}</ows:UpperCorner>`,
    '      </ows:WGS84BoundingBox>',
    `      <ows:Identifier>${xmlEscape(l.identifier)}</ows:Identifier>`,
    '      <Style isDefault="true"><ows:Identifier>default</ows:Identifier></Style>',
    '      <Format>image/png</Format>',
    '      <TileMatrixSetLink>',
    `        <TileMatrixSet>${TILE_MATRIX_SET}</TileMatrixSet>`,
    '        <TileMatrixSetLimits>',
    ...limits,
    '        </TileMatrixSetLimits>',
    '      </TileMatrixSetLink>',
    `      <ResourceURL format="image/png" resourceType="tile" template="${xmlEscape(template)}"/>`,
    '    </Layer>',
  ].join('\n');
}

/**
 * The capabilities document for `layers`, served at {baseUrl}/wmts/WMTSCapabilities.xml.
 * `baseUrl` is the server's public origin (and path prefix, if any), without a trailing slash.
 */
export function wmtsCapabilities(layers: WmtsLayer[], baseUrl: string, title = 'satseg'): string {
  const base = baseUrl.replace(/\/+$/, '');
  const ids = new Set<string>();
  for (const l of layers) {
    checkLayer(l);
    if (ids.has(l.identifier)) throw new RangeError(`layer identifier ${l.identifier} is used twice`);
    ids.add(l.identifier);
  }
  // One matrix set for all layers, as deep as the deepest; each layer's limits say where it stops.
  const deepest = layers.reduce((m, l) => Math.max(m, l.maxzoom), 0);
  const matrices = Array.from({ length: deepest + 1 }, (_, z) => tileMatrix(z));
  return [
    '<?xml version="1.0" encoding="UTF-8"?>',
    '<Capabilities xmlns="http://www.opengis.net/wmts/1.0" xmlns:ows="http://www.opengis.net/ows/1.1"',
    '    xmlns:xlink="http://www.w3.org/1999/xlink" xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance"',
    '    xsi:schemaLocation="http://www.opengis.net/wmts/1.0 http://schemas.opengis.net/wmts/1.0/wmtsGetCapabilities_response.xsd" version="1.0.0">',
    '  <ows:ServiceIdentification>',
    `    <ows:Title>${xmlEscape(title)}</ows:Title>`,
    '    <ows:ServiceType>OGC WMTS</ows:ServiceType>',
    '    <ows:ServiceTypeVersion>1.0.0</ows:ServiceTypeVersion>',
    '  </ows:ServiceIdentification>',
    '  <Contents>',
    ...layers.map((l) => layerXml(l, base)),
    '    <TileMatrixSet>',
    `      <ows:Identifier>${TILE_MATRIX_SET}</ows:Identifier>`,
    '      <ows:SupportedCRS>urn:ogc:def:crs:EPSG::3857</ows:SupportedCRS>',
    '      <WellKnownScaleSet>urn:ogc:def:wkss:OGC:1.0:GoogleMapsCompatible</WellKnownScaleSet>',
    ...matrices,
    '    </TileMatrixSet>',
    '  </Contents>',
    `  <ServiceMetadataURL xlink:href="${xmlEscape(`${base}/wmts/WMTSCapabilities.xml`)}"/>`,
    '</Capabilities>',
    '',
  ].join('\n');
}
