/**
 * Spec validation: every way a spec can be wrong gets a SpecError (code BAD_SPEC) whose
 * one-line message names the layer (1-based index and type) and the shapes involved.
 */
import { describe, expect, it } from 'vitest';
import { createReferenceKernels } from '../kernels/reference.js';
import { createModel } from '../model.js';
import type { ModelSpec } from '../spec.js';
import { buildLayers } from './build.js';
import { SpecError } from './layer.js';
import { LAYER_TYPES } from './registry.js';

const kernels32 = createReferenceKernels();

describe('spec validation', () => {
  const conv = { type: 'conv2d', filters: 4, kernelSize: 3 } as const;
  const head = [{ type: 'flatten' }, { type: 'dense', units: 10, activation: 'softmax' }] as const;
  const cases: Array<[string, unknown, RegExp]> = [
    ['unknown layer type', { input: [1, 8, 8], layers: [{ type: 'conv3d' }, ...head] }, new RegExp(`^layer 1: unknown layer type "conv3d" \\(known: ${LAYER_TYPES.join(', ')}\\)$`)],
    ['non-positive filters', { input: [1, 8, 8], layers: [{ ...conv, filters: 0 }, ...head] }, /^layer 1 \(conv2d\): filters must be a positive integer, got 0$/],
    ['non-integer kernel size', { input: [1, 8, 8], layers: [{ ...conv, kernelSize: [2.5, 3] }, ...head] }, /^layer 1 \(conv2d\): kernelSize\[0\] must be a positive integer, got 2.5$/],
    ['negative units', { input: [1, 8, 8], layers: [{ type: 'flatten' }, { type: 'dense', units: -3 }, head[1]] }, /^layer 2 \(dense\): units must be a positive integer, got -3$/],
    ['zero-size input', { input: [1, 0, 8], layers: [conv, ...head] }, /^model spec: input\[1\] must be a positive integer, got 0$/],
    ['kernel larger than input', { input: [1, 4, 4], layers: [{ ...conv, kernelSize: 5 }, ...head] }, /^layer 1 \(conv2d\): kernel 5x5 does not fit input \[1,4,4\] with 'valid' padding \(output 0x0\)$/],
    [
      'pool larger than its input',
      { input: [1, 8, 8], layers: [{ ...conv, filters: 32 }, { ...conv, filters: 64 }, { type: 'maxpool2d', poolSize: 5 }, ...head] },
      /^layer 3 \(maxpool2d\): pool 5x5 does not fit input \[64,4,4\]$/,
    ],
    ['dense after conv without flatten', { input: [1, 8, 8], layers: [conv, { type: 'dense', units: 10, activation: 'softmax' }] }, /^layer 2 \(dense\): expects a flat input \[features\], got \[4,6,6\]: add a flatten layer before it$/],
    ['conv after flatten', { input: [1, 8, 8], layers: [{ type: 'flatten' }, conv, ...head] }, /^layer 2 \(conv2d\): expects an image input \[channels,height,width\], got \[64\]/],
    ['last layer not dense', { input: [1, 8, 8], layers: [conv, { type: 'flatten' }] }, /^layer 2 \(flatten\): the last layer must be a dense layer with activation 'softmax'/],
    ['last dense without softmax', { input: [1, 8, 8], layers: [conv, { type: 'flatten' }, { type: 'dense', units: 10, activation: 'relu' }] }, /^layer 3 \(dense\): the last layer must be a dense layer with activation 'softmax'/],
    ['softmax before the last layer', { input: [1, 8, 8], layers: [{ type: 'flatten' }, { type: 'dense', units: 10, activation: 'softmax' }, head[1]] }, /^layer 2 \(dense\): activation 'softmax' is allowed on the last layer only/],
    ['dropout rate 1', { input: [1, 8, 8], layers: [conv, { type: 'dropout', rate: 1 }, ...head] }, /^layer 2 \(dropout\): rate must be a number in \[0, 1\), got 1$/],
    ['dropout rate -0.1', { input: [1, 8, 8], layers: [conv, { type: 'dropout', rate: -0.1 }, ...head] }, /^layer 2 \(dropout\): rate must be a number in \[0, 1\), got -0.1$/],
    ['unknown padding', { input: [1, 8, 8], layers: [{ ...conv, padding: 'full' }, ...head] }, /^layer 1 \(conv2d\): padding must be one of 'valid', 'same', got "full"$/],
    ['misspelt option', { input: [1, 8, 8], layers: [{ type: 'conv2d', filters: 4, kernel_size: 3 }, ...head] }, /^layer 1 \(conv2d\): unknown option "kernel_size"/],
    ['no layers', { input: [1, 8, 8], layers: [] }, /^model spec: layers must be a non-empty list$/],
  ];
  for (const [name, spec, message] of cases) {
    it(`rejects ${name}`, () => {
      let error: unknown;
      try {
        buildLayers(spec as ModelSpec);
      } catch (caught) {
        error = caught;
      }
      expect(error).toBeInstanceOf(SpecError);
      expect((error as SpecError).code).toBe('BAD_SPEC');
      expect((error as SpecError).message).toMatch(message);
      expect(() => createModel(spec as ModelSpec, { kernels: kernels32 })).toThrow(SpecError);
    });
  }

  it('names every registered layer type when refusing an unknown one (the registry holds at least the original six)', () => {
    expect(LAYER_TYPES.slice(0, 6)).toEqual(['conv2d', 'maxpool2d', 'dense', 'relu', 'dropout', 'flatten']);
    expect(() => buildLayers({ input: [1, 8, 8], layers: [{ type: 'toString' }] } as unknown as ModelSpec)).toThrow(/unknown layer type "toString"/);
  });

  it("accepts 'same' padding with strides, Keras's pool stride default and non-square windows", () => {
    const built = buildLayers({
      input: [3, 11, 9],
      layers: [
        { type: 'conv2d', filters: 2, kernelSize: [3, 2], stride: 2, padding: 'same' },
        { type: 'maxpool2d', poolSize: [2, 3] },
        { type: 'flatten' },
        { type: 'dense', units: 3, activation: 'softmax' },
      ],
    });
    expect(built.layers.map((layer) => layer.outputShape)).toEqual([[2, 6, 5], [2, 3, 1], [6], [3]]);
  });
});
