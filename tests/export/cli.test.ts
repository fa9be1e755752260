// The `convoy` command line as a user meets it (real processes): predict on real PNG files
// and on an IDX file, eval's table, and every user error as one line on stderr with exit
// code 2. (Run-folder resolution is commands/load-model.test.ts's.)
import { createHash } from 'node:crypto';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { PNG } from 'pngjs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { argmaxRow, type Model, type ModelSpec } from '../../packages/core/src/index.js';
import { checkpointMessageType, defaultMnistDir, MNIST_FILES } from '../../packages/core/src/node.js';
import { batchOf, mnistData, runConvoy, trainQuickly, writeTrainedCheckpoint } from './fixtures.js';

const SMALL_CNN: ModelSpec = {
  input: [1, 28, 28],
  layers: [
    { type: 'conv2d', filters: 8, kernelSize: 3, activation: 'relu' },
    { type: 'maxpool2d', poolSize: 2 },
    { type: 'conv2d', filters: 16, kernelSize: 3, activation: 'relu' },
    { type: 'maxpool2d', poolSize: 2 },
    { type: 'flatten' },
    { type: 'dense', units: 10, activation: 'softmax' },
  ],
};

const TEST_IMAGES = join(defaultMnistDir(), MNIST_FILES.testImages);

let folder: string;
let run: string;
let model: Model;

beforeAll(() => {
  folder = mkdtempSync(join(tmpdir(), 'convoy-cli-'));
  // A run folder as the coordinator leaves it: its final model is model.ckpt.
  run = join(folder, 'run');
  mkdirSync(run);
  const trained = trainQuickly({
    spec: SMALL_CNN,
    seed: 5,
    kernels: 'auto',
    trainImages: 5000,
    steps: 300,
    batchSize: 32,
    optimizer: { name: 'adam', learningRate: 0.005 },
  });
  model = trained.model;
  writeTrainedCheckpoint(join(run, 'model.ckpt'), trained);
});

afterAll(() => {
  rmSync(folder, { recursive: true, force: true });
});

function writePng(name: string, width: number, height: number, rgba: (x: number, y: number) => number[], colorType: 0 | 2 | 6 = 6): string {
  const png = new PNG({ width, height });
  for (let y = 0; y < height; y++) {
    for (let x = 0; x < width; x++) png.data.set(rgba(x, y), 4 * (y * width + x));
  }
  const path = join(folder, name);
  writeFileSync(path, PNG.sync.write(png, { colorType }));
  return path;
}

interface JsonPrediction {
  source: string;
  inverted?: boolean;
  top: Array<{ label: number; probability: number }>;
}

describe('convoy predict', () => {
  it('real PNG files (grey dark-on-light 28x28, colour light-on-dark 84x84, blue ink on transparent 40x56) give the right class', async () => {
    const { test } = mnistData();
    // Test digits that the model reads confidently as they are, one per class, five classes.
    const { images } = batchOf(test, 0, 200);
    const probabilities = model.predict(images);
    const chosen: number[] = [];
    for (let n = 0; n < 200 && chosen.length < 5; n++) {
      const label = test.labels[n]!;
      if (argmaxRow(probabilities, n, 10) === label && probabilities[n * 10 + label]! > 0.95 && !chosen.some((i) => test.labels[i] === label)) chosen.push(n);
    }
    expect(chosen).toHaveLength(5);

    const files: string[] = [];
    for (const index of chosen) {
      const byte = (x: number, y: number) => test.pixels[index * 784 + y * 28 + x]!;
      files.push(writePng(`grey-${index}.png`, 28, 28, (x, y) => [255 - byte(x, y), 255 - byte(x, y), 255 - byte(x, y), 255], 0));
      files.push(writePng(`colour-${index}.png`, 84, 84, (x, y) => [byte((x / 3) | 0, (y / 3) | 0), 0.6 * byte((x / 3) | 0, (y / 3) | 0), 0, 255], 2));
      files.push(
        writePng(`alpha-${index}.png`, 40, 56, (x, y) => {
          const inside = x >= 6 && x < 34 && y >= 14 && y < 42;
          return [30, 30, 120, inside ? byte(x - 6, y - 14) : 0];
        }),
      );
    }
    const result = await runConvoy(['predict', run, ...files, '--json']);
    expect(result.stderr).toBe('');
    expect(result.status).toBe(0);
    const predictions = JSON.parse(result.stdout) as JsonPrediction[];
    expect(predictions.map((prediction) => prediction.source)).toEqual(files);
    predictions.forEach((prediction, i) => {
      const index = chosen[Math.floor(i / 3)]!;
      expect({ file: prediction.source, label: prediction.top[0]!.label }).toEqual({ file: prediction.source, label: test.labels[index] });
      expect(prediction.top).toHaveLength(3);
      expect(prediction.top[0]!.probability).toBeGreaterThanOrEqual(prediction.top[1]!.probability);
      // grey and blue-on-transparent are dark on light; the colour one is light on dark
      expect(prediction.inverted).toBe(i % 3 !== 1);
    });
  });

  it('--idx FILE --index N gives the probabilities of the model on that test image, as a 3-line text table', async () => {
    const { test } = mnistData();
    const result = await runConvoy(['predict', join(run, 'model.ckpt'), '--idx', TEST_IMAGES, '--index', '0,1', '--index', '2']);
    expect(result.stderr).toBe('');
    expect(result.status).toBe(0);
    const lines = result.stdout.trim().split('\n');
    expect(lines).toHaveLength(3);
    const probabilities = model.predict(batchOf(test, 0, 3).images);
    lines.forEach((line, n) => {
      const row = Array.from(probabilities.subarray(n * 10, n * 10 + 10));
      const ranked = row.map((probability, label) => ({ probability, label })).sort((a, b) => b.probability - a.probability);
      const expected = ranked.slice(0, 3).map(({ label, probability }) => `${label} ${(100 * probability).toFixed(2)}%`).join('   ');
      expect(line).toBe(`${TEST_IMAGES}[${n}]: ${expected}`);
    });
  });
});

describe('convoy eval', () => {
  it('prints loss, accuracy, per-class precision/recall and a confusion matrix that match the model on the first 500 test images', async () => {
    const { test } = mnistData();
    const { images, labels } = batchOf(test, 0, 500);
    const probabilities = model.predict(images);
    let correct = 0;
    let lossSum = 0;
    for (let n = 0; n < 500; n++) {
      if (argmaxRow(probabilities, n, 10) === labels[n]) correct++;
      lossSum -= Math.log(probabilities[n * 10 + labels[n]!]!);
    }
    const result = await runConvoy(['eval', run, '--limit', '500', '--kernels', 'ts']);
    expect(result.stderr).toBe('');
    expect(result.status).toBe(0);
    const output = result.stdout;
    expect(output).toContain(`model     ${join(run, 'model.ckpt')}\nkernels   ts (reference, float32)\n`);
    expect(output).toContain('images    500');
    expect(output).toContain(`accuracy  ${((100 * correct) / 500).toFixed(2)}%`);
    expect(output).toContain(`loss      ${(lossSum / 500).toFixed(4)}`);
    // The confusion matrix: 10 rows of 10 counts after the header, summing to 500, trace = correct.
    const matrixStart = output.split('\n').findIndex((line) => line.startsWith('confusion matrix'));
    const rows = output.split('\n').slice(matrixStart + 2, matrixStart + 12).map((line) => line.trim().split(/\s+/).map(Number));
    expect(rows.map((row) => row[0])).toEqual([0, 1, 2, 3, 4, 5, 6, 7, 8, 9]);
    const counts = rows.map((row) => row.slice(1));
    expect(counts.flat().reduce((a, b) => a + b, 0)).toBe(500);
    expect(counts.reduce((sum, row, k) => sum + row[k]!, 0)).toBe(correct);
    // Recall of class k = diagonal / row sum, printed with two decimals.
    const recallLines = output.split('\n').filter((line) => /^\s+\d\s+(\d+\.\d\d%|-)\s+/.test(line));
    expect(recallLines).toHaveLength(10);
    counts.forEach((row, k) => {
      const recall = `${((100 * row[k]!) / row.reduce((a, b) => a + b, 0)).toFixed(2)}%`;
      expect(recallLines[k]!.trim().split(/\s+/)[2]).toBe(recall);
    });
  });
});

describe('user errors: one line on stderr, exit code 2, no stack trace', () => {
  beforeAll(() => {
    writeFileSync(join(folder, 'notes.txt'), 'these are notes, not a model\n');
    mkdirSync(join(folder, 'empty'));
    // A real PNG cut after 40 bytes: the signature is right, the data is not there.
    const png = readFileSync(writePng('white.png', 28, 28, () => [255, 255, 255, 255]));
    writeFileSync(join(folder, 'truncated.png'), png.subarray(0, 40));
    // IDX images file holding 2 images of 32x30 (magic 0x00000803, sizes big-endian).
    const header = Buffer.alloc(16);
    [0x00000803, 2, 32, 30].forEach((value, i) => header.writeUInt32BE(value, 4 * i));
    writeFileSync(join(folder, 'big-idx3-ubyte'), Buffer.concat([header, Buffer.alloc(2 * 32 * 30)]));
    // The real checkpoint re-sealed with format version 2, and with a spec that needs other parameters.
    const body = readFileSync(join(run, 'model.ckpt')).subarray(0, -35);
    const type = checkpointMessageType();
    const reseal = (change: (message: Record<string, unknown>) => void): Uint8Array => {
      const message = type.decode(body) as unknown as Record<string, unknown>;
      change(message);
      const bytes = type.encode(message).finish();
      return Uint8Array.from([...bytes, 0xc2, 0x3e, 0x20, ...createHash('sha256').update(bytes).digest()]);
    };
    writeFileSync(join(folder, 'newer.ckpt'), reseal((message) => (message.formatVersion = 2)));
    const wider = { ...SMALL_CNN, layers: SMALL_CNN.layers.map((layer) => (layer.type === 'dense' ? { ...layer, units: 12 } : layer)) };
    writeFileSync(join(folder, 'mismatch.ckpt'), reseal((message) => (message.modelSpecJson = JSON.stringify(wider))));
  });

  it.concurrent.each([
    ['missing checkpoint', () => ['eval', join(folder, 'nothere.ckpt')], /^convoy: .*nothere\.ckpt: no such file or run folder$/],
    ['not a Convoy checkpoint', () => ['eval', join(folder, 'notes.txt')], /^convoy: .*notes\.txt: not a Convoy checkpoint/],
    ['newer checkpoint format', () => ['eval', join(folder, 'newer.ckpt')], /^convoy: .*newer\.ckpt: checkpoint format version 2 \(newer\), this Convoy reads version 1$/],
    ['spec and parameters disagree', () => ['export', join(folder, 'mismatch.ckpt'), '--onnx', join(folder, 'x.onnx')], /^convoy: .*mismatch\.ckpt: holds 5258 parameters, its model spec needs 6060$/],
    ['run folder without a model', () => ['export', join(folder, 'empty'), '--onnx', join(folder, 'x.onnx')], /^convoy: .*empty: a folder without model\.ckpt/],
    ['PNG that is not a PNG', () => ['predict', run, join(folder, 'notes.txt')], /^convoy: .*notes\.txt: not a PNG file/],
    ['truncated PNG', () => ['predict', run, join(folder, 'truncated.png')], /^convoy: .*truncated\.png: cannot decode PNG/],
    ['missing PNG', () => ['predict', run, join(folder, 'nothere.png')], /^convoy: .*nothere\.png: no such file$/],
    ['IDX images of the wrong size', () => ['predict', run, '--idx', join(folder, 'big-idx3-ubyte'), '--index', '0'], /^convoy: .*big-idx3-ubyte: images are 32x30, the model takes 28x28$/],
    ['IDX index out of range', () => ['predict', run, '--idx', TEST_IMAGES, '--index', '10000'], /^convoy: .*t10k-images-idx3-ubyte: index 10000 is outside 0\.\.9999$/],
    ['export without --onnx', () => ['export', run], /^convoy: required option '--onnx <file>' not specified; see pnpm convoy --help$/],
  ] as const)('%s', async (_, args, message) => {
    const result = await runConvoy(args());
    expect(result.stdout).toBe('');
    expect(result.stderr.endsWith('\n')).toBe(true);
    const lines = result.stderr.trimEnd().split('\n');
    expect(lines).toHaveLength(1);
    expect(lines[0]).toMatch(message);
    expect(result.stderr).not.toMatch(/\n\s+at /);
    expect(result.status).toBe(2);
  });
});
