/**
 * Model metadata and the registry: valid metadata, a missing key, bad JSON, wrong shapes, and
 * models dropped into the folder.
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { readOnnxSummary, withMetadata } from '../../server/src/infer/onnx-proto.ts';
import { modelSpecFromOnnx, parseMetadataValue } from '../../server/src/infer/model-spec.ts';
import { ModelRegistry } from '../../server/src/infer/model-registry.ts';
import { buildTestModel, installTestModel, TEST_MODEL_CLASSES } from '../fixtures/test-model.ts';
import { ModelMetadataError, UnknownModelError } from '../../server/src/errors.ts';

const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'satseg-models-'));
afterAll(() => fs.rmSync(tmp, { recursive: true, force: true }));

function spec(options: Parameters<typeof buildTestModel>[0] = {}) {
  return modelSpecFromOnnx('m', '/x/model.onnx', readOnnxSummary(buildTestModel(options)));
}

function metadataError(options: Parameters<typeof buildTestModel>[0]): ModelMetadataError {
  try {
    spec(options);
  } catch (err) {
    expect(err).toBeInstanceOf(ModelMetadataError);
    return err as ModelMetadataError;
  }
  throw new Error('expected a ModelMetadataError');
}

describe('ONNX metadata', () => {
  it('reads Deepness-style metadata into a spec', () => {
    const s = spec();
    expect(s.classNames).toEqual(TEST_MODEL_CLASSES);
    expect(s.classColors).toEqual(['#1F78B4', '#33A02C', '#E6AB02', '#E31A1C']);
    expect(s.inputChannels).toBe(3);
    expect(s.tileSize).toBe(256);
    expect(s.fixedTileSize).toBe(false);
    expect(s.overlapPercent).toBe(12.5);
    expect(s.resolutionCm).toBe(500);
    expect(s.inputScale).toBeCloseTo(1 / 255, 12);
    expect(s.mean).toEqual([0.4, 0.4, 0.4]);
    expect(s.bands.names).toEqual(['red', 'green', 'blue']);
    expect(s.inputName).toBe('input');
    expect(s.outputName).toBe('output');
  });

  it('takes the tile size from a fixed ONNX input shape', () => {
    const s = spec({ fixedSize: 128 });
    expect(s.tileSize).toBe(128);
    expect(s.fixedTileSize).toBe(true);
  });

  it('accepts Python-literal class dicts and plain strings, as Deepness users write them', () => {
    expect(parseMetadataValue("{0: 'water', 1: 'land'}")).toEqual({ 0: 'water', 1: 'land' });
    expect(parseMetadataValue('segmentor')).toBe('segmentor');
    const s = spec({ metadata: { class_names: "{0: 'a', 1: 'b', 2: 'c', 3: 'd'}", model_type: 'segmentor' } });
    expect(s.classNames).toEqual(['a', 'b', 'c', 'd']);
  });

  it('names a missing key', () => {
    expect(metadataError({ omit: ['class_names'] }).message).toMatch(/"class_names" is missing/);
    expect(metadataError({ omit: ['model_type'] }).message).toMatch(/"model_type" is missing/);
  });

  it('names the key holding bad JSON or bad values', () => {
    expect(metadataError({ metadata: { class_colors: '["#1F78B4", oops' } }).message).toMatch(/"class_colors" is invalid/);
    expect(metadataError({ metadata: { standardization_std: '[0.2, 0, 0.2]' } }).message).toMatch(/"standardization_std" is invalid: must not be 0/);
    expect(metadataError({ metadata: { input_scale: 'lots' } }).message).toMatch(/"input_scale" is invalid/);
    expect(metadataError({ metadata: { class_names: '{"0": "a", "2": "b", "3": "c", "4": "d"}' } }).message).toMatch(/consecutive/);
  });

  it('reads input_alignment (tile origins on multiples of it), 1 when absent', () => {
    expect(spec().inputAlignment).toBe(1);
    expect(spec({ metadata: { input_alignment: '2' } }).inputAlignment).toBe(2);
    expect(spec({ metadata: { input_alignment: '4' } }).inputAlignment).toBe(4);
    expect(metadataError({ metadata: { input_alignment: '0' } }).message).toMatch(/"input_alignment" is invalid: must be at least 1/);
    expect(metadataError({ metadata: { input_alignment: '1.5' } }).message).toMatch(/"input_alignment" is invalid: must be a whole number/);
    expect(metadataError({ metadata: { input_alignment: 'even' } }).message).toMatch(/"input_alignment" is invalid/);
    expect(metadataError({ metadata: { input_alignment: '512' } }).message).toMatch(/"input_alignment" is 512 px, more than the 256 px tile/);
  });

  it('reads receptive_field (1: a per-pixel model), null when absent', () => {
    expect(spec().receptiveField).toBeNull();
    expect(spec({ metadata: { receptive_field: '1' } }).receptiveField).toBe(1);
    expect(metadataError({ metadata: { receptive_field: '0' } }).message).toMatch(/"receptive_field" is invalid: must be at least 1/);
    expect(metadataError({ metadata: { receptive_field: '2.5' } }).message).toMatch(/"receptive_field" is invalid: must be a whole number/);
  });

  it('rejects metadata that contradicts the graph', () => {
    expect(metadataError({ metadata: { class_names: '["a","b"]' } }).message).toMatch(/lists 2 classes but the model outputs 4 channels/);
    expect(metadataError({ metadata: { bands: '["red","green"]' } }).message).toMatch(/"bands" names 2 bands but the model takes 3/);
    expect(metadataError({ metadata: { model_type: '"Detector"' } }).message).toMatch(/only segmentor/);
  });

  it('rewrites metadata without touching the graph', () => {
    const model = buildTestModel();
    const rewritten = withMetadata(model, { model_type: '"Segmentor"', class_names: '["p","q","r","s"]' });
    const before = readOnnxSummary(model);
    const after = readOnnxSummary(rewritten);
    expect(after.metadata).toEqual({ model_type: '"Segmentor"', class_names: '["p","q","r","s"]' });
    expect(after.inputs).toEqual(before.inputs);
    expect(after.outputs).toEqual(before.outputs);
  });
});

describe('model registry', () => {
  const dir = path.join(tmp, 'models');
  installTestModel(dir, 'good');
  fs.writeFileSync(path.join(dir, 'dropped.onnx'), buildTestModel({ metadata: { description: 'dropped in' } }));
  fs.writeFileSync(path.join(dir, 'no-classes.onnx'), buildTestModel({ omit: ['class_names'] }));
  fs.writeFileSync(path.join(dir, 'garbage.onnx'), 'not a model');
  const registry = new ModelRegistry(dir);

  it('lists folder models and dropped-in files, usable or not', () => {
    const entries = registry.list();
    expect(entries.map((e) => e.id).sort()).toEqual(['dropped', 'garbage', 'good', 'no-classes']);
    expect(entries.find((e) => e.id === 'dropped')!.spec!.description).toBe('dropped in');
    expect(entries.find((e) => e.id === 'no-classes')!.error).toMatch(/"class_names" is missing/);
    expect(entries.find((e) => e.id === 'garbage')!.error).toMatch(/^model garbage: cannot read garbage.onnx/);
  });

  it('gets a usable model and explains an unusable or unknown one', () => {
    expect(registry.get('good').classNames).toEqual(TEST_MODEL_CLASSES);
    expect(() => registry.get('no-classes')).toThrow(/"class_names" is missing/);
    expect(() => registry.get('nope')).toThrow(UnknownModelError);
    expect(() => registry.get('nope')).toThrow(/installed: dropped, garbage, good, no-classes/);
  });

  it('sees a model the moment its file lands', () => {
    expect(registry.list().some((e) => e.id === 'late')).toBe(false);
    installTestModel(dir, 'late');
    expect(registry.get('late').id).toBe('late');
  });
});
