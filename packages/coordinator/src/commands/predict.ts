/**
 * `convoy predict MODEL image.png ...` and `convoy predict MODEL --idx FILE --index N[,M...]`:
 * the top classes with their probabilities for each picture.
 */
import { readFileSync } from 'node:fs';
import { readIdx } from '@convoy/core/node';
import { CliError } from './errors.js';
import { loadModel, type KernelsOption } from './load-model.js';
import { preparePng } from './image.js';

export interface PredictOptions {
  readonly kernels?: KernelsOption;
  /** An IDX images file ([count, rows, cols] unsigned bytes, plain or gzipped). */
  readonly idx?: string;
  /** Indices into the IDX file. */
  readonly indices?: readonly number[];
  /** How many classes to list per picture. */
  readonly top?: number;
}

const DEFAULT_PREDICT_OPTIONS = { kernels: 'auto', top: 3 } as const;

export interface Prediction {
  /** The file (and index) the picture came from. */
  readonly source: string;
  /** Classes by decreasing probability. */
  readonly top: ReadonlyArray<{ readonly label: number; readonly probability: number }>;
  /** True when the picture was dark on light and was inverted first (PNG only). */
  readonly inverted?: boolean;
}

interface Picture {
  readonly source: string;
  readonly pixels: Float32Array;
  readonly inverted?: boolean;
}

export function predictImages(target: string, pngFiles: readonly string[], options: PredictOptions = {}): Prediction[] {
  const { kernels, idx, indices, top } = { ...DEFAULT_PREDICT_OPTIONS, ...options };
  if (idx === undefined && indices !== undefined) throw new CliError('BAD_OPTION', 'predict: --index needs --idx FILE');
  if (idx !== undefined && (indices === undefined || indices.length === 0)) throw new CliError('BAD_OPTION', 'predict: --idx needs --index N');
  if (pngFiles.length === 0 && idx === undefined) throw new CliError('BAD_OPTION', 'predict: name PNG files, or --idx FILE with --index N');

  const { model } = loadModel(target, kernels);
  const [channels, height, width] = model.inputShape;
  if (channels !== 1) throw new CliError('BAD_OPTION', `predict: reads grey pictures, but this model takes ${channels} channels`);

  // Decode everything first, so that a bad file fails before any output.
  const pictures: Picture[] = pngFiles.map((file) => {
    const prepared = preparePng(readFile(file), file, width, height);
    return { source: file, pixels: prepared.pixels, inverted: prepared.inverted };
  });
  if (idx !== undefined) pictures.push(...readIdxPictures(idx, indices ?? [], width, height));

  const imageSize = height * width;
  const batch = new Float32Array(pictures.length * imageSize);
  pictures.forEach((picture, n) => batch.set(picture.pixels, n * imageSize));
  const probabilities = model.predict(batch);
  const classes = model.classes;
  return pictures.map((picture, n) => {
    const row = Array.from(probabilities.subarray(n * classes, (n + 1) * classes));
    const ranked = row
      .map((probability, label) => ({ label, probability }))
      .sort((a, b) => b.probability - a.probability || a.label - b.label)
      .slice(0, Math.min(top, classes));
    return { source: picture.source, top: ranked, ...(picture.inverted === undefined ? {} : { inverted: picture.inverted }) };
  });
}

function readFile(file: string): Uint8Array {
  try {
    return readFileSync(file);
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code;
    if (code === 'ENOENT') throw new CliError('FILE_NOT_FOUND', `${file}: no such file`);
    if (code === 'EISDIR') throw new CliError('BAD_IMAGE', `${file}: is a folder, not a PNG file`);
    throw new CliError('BAD_IMAGE', `${file}: cannot read (${code ?? (error as Error).message})`);
  }
}

function readIdxPictures(file: string, indices: readonly number[], width: number, height: number): Picture[] {
  let images: ReturnType<typeof readIdx>;
  try {
    images = readIdx(file, 3);
  } catch (error) {
    const message = (error as Error).message;
    throw new CliError(message.includes('file not found') ? 'FILE_NOT_FOUND' : 'BAD_IMAGE', message);
  }
  const [count, rows, columns] = images.shape as [number, number, number];
  if (rows !== height || columns !== width) {
    throw new CliError('WRONG_IMAGE_SIZE', `${file}: images are ${rows}x${columns}, the model takes ${height}x${width}`);
  }
  const imageSize = rows * columns;
  return indices.map((index) => {
    if (!Number.isInteger(index) || index < 0 || index >= count) {
      throw new CliError('BAD_INDEX', `${file}: index ${index} is outside 0..${count - 1}`);
    }
    const pixels = new Float32Array(imageSize);
    for (let p = 0; p < imageSize; p++) pixels[p] = images.data[index * imageSize + p]! / 255;
    return { source: `${file}[${index}]`, pixels };
  });
}

export function formatPrediction(prediction: Prediction): string {
  const classes = prediction.top.map(({ label, probability }) => `${label} ${(100 * probability).toFixed(2)}%`).join('   ');
  return `${prediction.source}${prediction.inverted ? ' (inverted)' : ''}: ${classes}`;
}

export function runPredict(target: string, pngFiles: readonly string[], options: PredictOptions & { readonly json?: boolean }, print: (text: string) => void): void {
  const predictions = predictImages(target, pngFiles, options);
  if (options.json) print(JSON.stringify(predictions));
  else for (const prediction of predictions) print(formatPrediction(prediction));
}
