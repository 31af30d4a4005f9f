/**
 * The ONNX wrapper shared by the rule-based models (spectral-water, sar-water): their graphs
 * compute per-class probability planes from the input bands, and this adds what every satseg
 * segmentor carries, so the rules are all each build script has to say.
 */
import { TensorType, writeOnnxModel, type GraphNode, type Tensor } from '../server/src/infer/onnx-proto.ts';

export interface RuleModel {
  name: string;
  inputChannels: number;
  /** In output order; `plane` names the graph tensor ([N,1,H,W]) that holds the class probability. */
  classes: Array<{ name: string; color: string; plane: string }>;
  nodes: GraphNode[];
  initializers: Tensor[];
  /** Every other metadata key, in the order it is written (after model_type, class_names, class_colors). */
  metadata: Record<string, string>;
  docString: string;
}

/** Concatenate the class planes into `output` and serialise the model with its metadata. */
export function writeRuleModel(m: RuleModel): Uint8Array {
  const nodes = [...m.nodes, { op: 'Concat', inputs: m.classes.map((c) => c.plane), outputs: ['output'], attributes: { axis: 1 } }];
  return writeOnnxModel({
    name: m.name,
    nodes,
    initializers: m.initializers,
    opset: 13,
    inputs: [{ name: 'input', elemType: TensorType.FLOAT, shape: ['N', m.inputChannels, 'H', 'W'] }],
    outputs: [{ name: 'output', elemType: TensorType.FLOAT, shape: ['N', m.classes.length, 'H', 'W'] }],
    metadata: {
      model_type: '"Segmentor"',
      class_names: JSON.stringify(Object.fromEntries(m.classes.map((c, i) => [i, c.name]))),
      class_colors: JSON.stringify(m.classes.map((c) => c.color)),
      ...m.metadata,
    },
    docString: m.docString,
  });
}
