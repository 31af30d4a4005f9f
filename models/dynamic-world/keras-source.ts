/**
 * Google's Dynamic World forward model as published: the Keras functional config and each layer's
 * weights, read from the SavedModel's tensor bundle without TensorFlow.
 *
 * The checkpoint stores tensors under opaque keys (`variables/17/...`); its object graph says
 * which Keras layer owns each one (`layer-12` of the inner model → `kernel`), and the config says
 * what `layer-12` is called. Going through both, rather than trusting the key order, means a
 * wrong mapping fails here instead of producing a plausible-looking but wrong model.
 */
import fs from 'node:fs';
import path from 'node:path';
import { TensorBundle, type FloatTensor, type TrackableObject } from './tf-bundle.ts';

export interface KerasLayer {
  className: string;
  name: string;
  // The config is Keras's JSON; each consumer checks the fields it relies on.
  config: Record<string, unknown>;
  inboundNodes: unknown[];
}

export interface KerasModel {
  name: string;
  layers: KerasLayer[];
  inputLayers: Array<[string, number, number]>;
  outputLayers: Array<[string, number, number]>;
}

export interface DynamicWorldSource {
  /** The inner functional model (the outer one only wraps it). */
  model: KerasModel;
  /** Layer name → variable name (kernel, bias, gamma, ...) → tensor. */
  weights: Map<string, Record<string, FloatTensor>>;
  /** Layer name → variable name → checkpoint key, to check the published key order. */
  checkpointKeys: Map<string, Record<string, string>>;
}

interface RawLayer {
  class_name: string;
  name?: string;
  config: Record<string, unknown> & { name: string; layers?: RawLayer[]; input_layers?: unknown; output_layers?: unknown };
  inbound_nodes?: unknown[];
}

function toModel(cfg: RawLayer['config']): KerasModel {
  return {
    name: cfg.name,
    layers: (cfg.layers ?? []).map((l) => ({ className: l.class_name, name: l.config.name, config: l.config, inboundNodes: l.inbound_nodes ?? [] })),
    inputLayers: cfg.input_layers as KerasModel['inputLayers'],
    outputLayers: cfg.output_layers as KerasModel['outputLayers'],
  };
}

/** The variables a layer object owns directly: its children that are variables. */
function layerVariables(graph: TrackableObject[], node: TrackableObject): Record<string, string> {
  const out: Record<string, string> = {};
  for (const [name, id] of node.children) {
    const key = graph[id]?.checkpointKey;
    if (key) out[name] = key;
  }
  return out;
}

/**
 * Read `<dir>/forward_keras_config.json` and `<dir>/forward/variables`. The outer model wraps one
 * functional model (`functional_1`); its layers are the object graph's `layer-N` children.
 */
export function loadDynamicWorldSource(dir: string): DynamicWorldSource {
  const outer = JSON.parse(fs.readFileSync(path.join(dir, 'forward_keras_config.json'), 'utf8')) as RawLayer;
  const outerLayers = outer.config.layers ?? [];
  const innerIndex = outerLayers.findIndex((l) => l.class_name === 'Functional');
  if (innerIndex < 0) throw new Error('forward_keras_config.json: no Functional model inside the outer model');
  const model = toModel(outerLayers[innerIndex]!.config);

  const bundle = TensorBundle.open(path.join(dir, 'forward', 'variables'));
  const graph = bundle.objectGraph();
  const child = (node: TrackableObject, name: string): TrackableObject => {
    const id = node.children.get(name);
    if (id === undefined || !graph[id]) throw new Error(`object graph: no child "${name}"`);
    return graph[id]!;
  };
  const inner = child(graph[0]!, `layer-${innerIndex}`);
  const weights = new Map<string, Record<string, FloatTensor>>();
  const checkpointKeys = new Map<string, Record<string, string>>();
  let tensors = 0;
  model.layers.forEach((layer, i) => {
    const vars = layerVariables(graph, child(inner, `layer-${i}`));
    if (!Object.keys(vars).length) return;
    checkpointKeys.set(layer.name, vars);
    weights.set(layer.name, Object.fromEntries(Object.entries(vars).map(([name, key]) => [name, bundle.float(key)])));
    tensors += Object.keys(vars).length;
  });
  const floatEntries = [...bundle.entries.values()].filter((e) => e.dtype === 1).length;
  if (tensors !== floatEntries) throw new Error(`the object graph ties ${tensors} tensors to layers, but the bundle holds ${floatEntries}`);
  return { model, weights, checkpointKeys };
}

/** One layer's variable, with a clear error when the checkpoint lacks it or its shape is off. */
export function layerWeight(source: DynamicWorldSource, layer: string, variable: string, shape?: number[]): FloatTensor {
  const t = source.weights.get(layer)?.[variable];
  if (!t) throw new Error(`Dynamic World checkpoint has no ${layer}/${variable}`);
  if (shape && (t.shape.length !== shape.length || t.shape.some((d, i) => d !== shape[i]))) {
    throw new Error(`${layer}/${variable} has shape [${t.shape.join(', ')}], expected [${shape.join(', ')}]`);
  }
  return t;
}
