// vt-pbf ships no types; this is the one function we use.
declare module 'vt-pbf' {
  interface GeojsonVtTile {
    features: unknown[];
  }
  /** Encode geojson-vt tiles, one per layer name, as one Mapbox Vector Tile. */
  export function fromGeojsonVt(layers: Record<string, GeojsonVtTile>, options?: { version?: number; extent?: number }): Uint8Array;
}
