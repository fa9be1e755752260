// Shared by the export/predict/eval tests: quick training on a slice of MNIST, real
// checkpoint files written with the checkpoint module, and running the `convoy` CLI.
import {
  createModel,
  createOptimizer,
  gatherImages,
  Rng,
  selectKernels,
  subset,
  type Dataset,
  type KernelsChoice,
  type Model,
  type ModelSpec,
  type Optimizer,
  type OptimizerConfig,
} from '../../packages/core/src/index.js';
import { datasetHash, loadMnist, writeCheckpointAtomicSync } from '../../packages/core/src/node.js';
import { CONVOY_CLI, run } from '../support/processes.js';

let mnist: { train: Dataset; test: Dataset } | undefined;
export function mnistData(): { train: Dataset; test: Dataset } {
  mnist ??= loadMnist();
  return mnist;
}

/** Images [start, start+count) of a dataset as one float batch in [0,1], with their labels. */
export function batchOf(dataset: Dataset, start: number, count: number): { images: Float32Array; labels: Uint8Array } {
  const imageSize = dataset.channels * dataset.height * dataset.width;
  const images = new Float32Array(count * imageSize);
  gatherImages(dataset, Array.from({ length: count }, (_, i) => start + i), images);
  return { images, labels: dataset.labels.slice(start, start + count) };
}

export interface QuickTraining {
  readonly spec: ModelSpec;
  readonly seed: number;
  readonly kernels: KernelsChoice;
  /** Trains on the first `trainImages` training images. */
  readonly trainImages: number;
  readonly steps: number;
  readonly batchSize: number;
  readonly optimizer: OptimizerConfig;
}

export interface Trained {
  readonly model: Model;
  readonly optimizer: Optimizer;
  readonly training: QuickTraining;
  readonly train: Dataset;
}

/** A few optimizer steps on random batches of a small training subset (seeded, deterministic). */
export function trainQuickly(training: QuickTraining): Trained {
  const model = createModel(training.spec, { seed: training.seed, kernels: selectKernels(training.kernels) });
  const optimizer = createOptimizer(training.optimizer, model.kernels, model.paramCount);
  const train = subset(mnistData().train, training.trainImages);
  const all = batchOf(train, 0, train.count);
  const imageSize = train.channels * train.height * train.width;
  const rng = new Rng(training.seed);
  const images = new Float32Array(training.batchSize * imageSize);
  const labels = new Uint8Array(training.batchSize);
  for (let step = 0; step < training.steps; step++) {
    for (let n = 0; n < training.batchSize; n++) {
      const index = rng.nextInt(train.count);
      images.set(all.images.subarray(index * imageSize, (index + 1) * imageSize), n * imageSize);
      labels[n] = all.labels[index]!;
    }
    const { gradient } = model.lossAndGradient(images, labels);
    optimizer.apply(model.params, gradient);
  }
  return { model, optimizer, training, train };
}

/** Writes the trained model as a real Convoy checkpoint file (the coordinator's format). */
export function writeTrainedCheckpoint(path: string, trained: Trained): void {
  const { model, optimizer, training, train } = trained;
  writeCheckpointAtomicSync(path, {
    createdAt: new Date().toISOString(),
    modelSpec: model.spec,
    parameters: model.params.slice(),
    optimizer: { name: optimizer.name, config: optimizer.config, iterations: optimizer.iterations, state: optimizer.state },
    epoch: 0,
    step: training.steps,
    batchInEpoch: training.steps,
    rngState: new Rng(training.seed).state(),
    seed: training.seed,
    globalBatchSize: training.batchSize,
    datasetHash: datasetHash(train),
    settings: { source: 'tests/export' },
    historyBytes: 0,
    history: [],
  });
}

export interface CliResult {
  /** Exit code (128 + signal number when a signal ended it). */
  readonly status: number;
  readonly stdout: string;
  readonly stderr: string;
}

/** Runs `convoy ...` as a real process (node with the tsx loader, as `pnpm convoy` runs it after its build step). */
export async function runConvoy(args: readonly string[]): Promise<CliResult> {
  const proc = run(CONVOY_CLI, args);
  const status = await proc.exited;
  return { status, stdout: proc.stdout(), stderr: proc.stderr() };
}
