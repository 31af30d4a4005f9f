/**
 * The vectorize defaults, in a module of their own so the CLI can show them in --help without
 * loading the vectorize stage (and the raster reader) before a command actually runs.
 */

/** Polygons and holes smaller than this (m²) are dropped / filled. */
export const DEFAULT_MIN_AREA_M2 = 20;

/** Topology-preserving simplification tolerance, in pixels. */
export const DEFAULT_SIMPLIFY_PX = 1;
