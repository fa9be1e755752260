/**
 * The trainer with the real scheduler and worker table over an in-memory network (no
 * sockets): fake workers answer with integer gradients, so the expected update is computed
 * independently here and compared exactly.
 */
import { createModel, selectKernels, type Dataset, type ModelSpec, type StepMessage } from '@convoy/core';
import type { Checkpoint } from '@convoy/core/node';
import { afterEach, describe, expect, it, vi } from 'vitest';
import { resolveOptions, type CoordinatorOptions } from './defaults.js';
import { MemoryNetwork, contribution } from './memory-network.js';
import type { MetricsHub } from './metrics.js';
import { storableRecord } from './persistence.js';
import { Trainer, type CheckpointStore } from './trainer.js';

/** 4 pixels -> 3 classes: 15 parameters. */
const SPEC: ModelSpec = { input: [1, 2, 2], layers: [{ type: 'flatten' }, { type: 'dense', units: 3, activation: 'softmax' }] };

function memoryDataset(count: number): Dataset {
  return {
    name: 'memory',
    count,
    channels: 1,
    height: 2,
    width: 2,
    pixels: Uint8Array.from({ length: count * 4 }, (_, i) => (i * 37) % 256),
    labels: Uint8Array.from({ length: count }, (_, i) => (i % 5 === 0 ? (i + 1) % 3 : i % 3)),
    classes: 3,
  };
}

/** A run folder in memory: history lines as RunFolder stores them, checkpoints as written. */
class MemoryStore implements CheckpointStore {
  readonly checkpoints: Checkpoint[] = [];
  readonly historyLines: string[] = [];
  historyBytes = 0;
  finalModel: Checkpoint | null = null;
  /** Set by a test: each write waits for this (a slow disk), or fails with it. */
  writeDelay: (() => Promise<void>) | null = null;
  writesInFlight = 0;
  maxWritesInFlight = 0;
  constructor(metrics: MetricsHub) {
    metrics.on('record', (record) => {
      if (record.kind === 'workers') return;
      const line = `${JSON.stringify(storableRecord(record))}\n`;
      this.historyLines.push(line);
      this.historyBytes += Buffer.byteLength(line);
    });
  }
  async writeCheckpoint(checkpoint: Checkpoint): Promise<void> {
    this.maxWritesInFlight = Math.max(this.maxWritesInFlight, ++this.writesInFlight);
    try {
      await this.writeDelay?.();
      this.checkpoints.push(checkpoint);
    } finally {
      this.writesInFlight--;
    }
  }
  async writeFinalModel(checkpoint: Checkpoint): Promise<void> {
    this.finalModel = checkpoint;
  }
}

function setup(overrides: Partial<CoordinatorOptions>, workers: number) {
  const options = resolveOptions({
    spec: SPEC,
    optimizer: { name: 'sgd', learningRate: 0.5 },
    lrSchedule: 'step',
    lrDecay: 1,
    globalBatch: 12,
    trainSize: 12,
    validationSize: 6,
    testSize: 0,
    epochs: 1,
    checkpointEvery: 0,
    minWorkers: workers,
    evaluateChunk: 2,
    kernels: 'ts',
    ...overrides,
  });
  const model = createModel(SPEC, { seed: options.seed, kernels: selectKernels('ts') });
  const initial = Float32Array.from(model.params);
  let trainer: Trainer | null = null;
  const network = new MemoryNetwork(options, model.paramCount, () => trainer?.currentStep ?? 0);
  const store = new MemoryStore(network.metrics);
  const train = memoryDataset(options.trainSize + options.validationSize);
  trainer = new Trainer({
    options,
    model,
    optimizer: Trainer.createOptimizer(options, model),
    train,
    test: memoryDataset(10),
    datasetId: 'memory',
    scheduler: network.table.scheduler,
    workers: network.table,
    metrics: network.metrics,
    store,
    position: null,
    elapsedBefore: 0,
  });
  const connections = Array.from({ length: workers }, () => network.join());
  return { options, model, initial, store, network, trainer, connections };
}

/** Lets the trainer's awaits and the network's setImmediate run. */
const settle = () => new Promise<void>((resolve) => setImmediate(resolve));

/** Settles turns until `condition` holds (at most 1,000). */
async function until(condition: () => boolean): Promise<void> {
  for (let turn = 0; turn < 1_000 && !condition(); turn++) await settle();
  expect(condition()).toBe(true);
}

/** params after one SGD step (lr 0.5) over images 0..11: p0 - 0.5 * (sum of contributions) / 12. */
function expectedAfterOneStep(initial: Float32Array): Float32Array {
  return initial.map((value, j) => {
    let sum = 0;
    for (let index = 0; index < 12; index++) sum += contribution(index, j);
    return Math.fround(value - Math.fround(0.5 * Math.fround(sum / 12)));
  });
}

afterEach(() => vi.useRealTimers());

describe('Trainer over in-memory workers', () => {
  it('sums answers arriving in reverse order in slice order: the update is -lr x the batch mean, each image counted once', async () => {
    const { model, initial, store, network, trainer } = setup({}, 3);
    network.auto = true;
    await expect(trainer.run()).resolves.toBe('finished');
    for (const [j, value] of expectedAfterOneStep(initial).entries()) expect(model.params[j]).toBeCloseTo(value, 6);
    const [record] = network.metrics.steps;
    expect(record).toMatchObject({ step: 1, images: 12, workers: 3 });
    expect(network.metrics.end).toMatchObject({ reason: 'finished', step: 1 });
    expect(store.finalModel?.step).toBe(1);
    // A copy taken at the step boundary (the next steps go on changing model.params).
    expect(store.finalModel?.parameters).not.toBe(model.params);
    expect(store.finalModel?.parameters).toEqual(model.params);
  });

  it('recomputes the slice of a worker lost mid-step once, without resending parameters to a worker that has them', async () => {
    const { model, initial, network, trainer, connections } = setup({}, 3);
    const outcome = trainer.run();
    await settle();
    const first = network.take();
    expect(first.map((sent) => [sent.connection.workerId, sent.message.indices.length, sent.message.params !== undefined])).toEqual([[1, 4, true], [2, 4, true], [3, 4, true]]);
    network.answer(first[0]!);
    network.lose(connections[1]!);
    const again = network.take();
    // Worker 1 is the only free one: it takes the lost range, and already holds version 0.
    expect(again.map((sent) => [sent.connection.workerId, Array.from(sent.message.indices), sent.message.params])).toEqual([[1, Array.from(first[1]!.message.indices), undefined]]);
    network.answer(first[2]!);
    network.answer(again[0]!);
    network.auto = true;
    await expect(outcome).resolves.toBe('finished');
    expect(network.metrics.steps[0]).toMatchObject({ images: 12, workers: 2 });
    for (const [j, value] of expectedAfterOneStep(initial).entries()) expect(model.params[j]).toBeCloseTo(value, 6);
    expect(network.metrics.events.map((event) => event.event)).toEqual(['join', 'join', 'join', 'death']);
  });

  it('sends the parameters with an evaluation chunk only to a worker whose copy is older', async () => {
    const { network, trainer } = setup({ validationSize: 12 }, 2);
    const outcome = trainer.run();
    await settle();
    for (const sent of network.take()) network.answer(sent);
    await settle();
    // Validation: 12 images in chunks of 2 over 2 workers; each holds version 0 and needs 1.
    const withParams: boolean[] = [];
    for (let round = 0; round < 6 && withParams.length < 6; round++) {
      for (const sent of network.take()) {
        expect(sent.message.type).toBe('evaluate');
        withParams.push(sent.message.params !== undefined);
        network.answer(sent);
      }
    }
    expect(withParams).toEqual([true, true, false, false, false, false]);
    await expect(outcome).resolves.toBe('finished');
    // Accuracy is the answers' own `correct` (even indices: 6 of 12 to 23); the confusion comes
    // from the predictions (x % 3, wrong for 15 and 20).
    const epoch = network.metrics.epochs[0]!;
    expect(epoch.validationAccuracy).toBe(6 / 12);
    expect(epoch.confusion.reduce((sum, cell) => sum + cell, 0)).toBe(12);
    expect([0, 4, 8].reduce((sum, cell) => sum + epoch.confusion[cell]!, 0)).toBe(10);
    expect(epoch.misclassified.map((sample) => sample.index)).toEqual([15, 20]);
  });

  it('stops on requestStop while waiting for workers, with no timer polling', async () => {
    vi.useFakeTimers({ toFake: ['setInterval', 'setTimeout'] });
    const { store, network, trainer } = setup({ minWorkers: 2 }, 1);
    const outcome = trainer.run();
    trainer.requestStop();
    await expect(outcome).resolves.toBe('stopped');
    expect(network.metrics.end).toMatchObject({ reason: 'stopped', step: 0 });
    expect(store.checkpoints.map((checkpoint) => checkpoint.step)).toEqual([0]);
  });

  it('sets the schedule\'s rate before every step: cosine over 2 epochs x 2 steps gives 0.5, 0.5 x (1 + cos(pi/4)) / 2, 0.25, 0.5 x (1 - cos(pi/4)) / 2', async () => {
    const { network, trainer } = setup({ trainSize: 24, globalBatch: 12, epochs: 2, lrSchedule: 'cosine' }, 2);
    network.auto = true;
    await expect(trainer.run()).resolves.toBe('finished');
    const rates = network.metrics.steps.map((record) => record.learningRate);
    const expected = [0.5, (0.5 * (1 + Math.SQRT1_2)) / 2, 0.25, (0.5 * (1 - Math.SQRT1_2)) / 2];
    expect(rates).toHaveLength(4);
    rates.forEach((rate, index) => expect(rate).toBeCloseTo(expected[index]!, 12));
  });

  it('finishes the step in progress on requestStop, checkpoints it and stops', async () => {
    const { store, network, trainer } = setup({ trainSize: 24, globalBatch: 4, checkpointEvery: 0 }, 2);
    network.auto = true;
    network.metrics.on('record', (record) => record.kind === 'step' && record.step === 2 && trainer.requestStop());
    await expect(trainer.run()).resolves.toBe('stopped');
    expect(trainer.completedSteps).toBe(2);
    expect(store.checkpoints.at(-1)).toMatchObject({ step: 2, epoch: 0, batchInEpoch: 2, globalBatchSize: 4 });
    expect(network.metrics.end).toMatchObject({ reason: 'stopped', step: 2 });
  });

  it('abandons the step when stopping with no live worker left', async () => {
    const { network, trainer, connections } = setup({}, 1);
    const outcome = trainer.run();
    await settle();
    expect(network.take()).toHaveLength(1);
    network.lose(connections[0]!);
    trainer.requestStop();
    await expect(outcome).resolves.toBe('stopped');
    expect(trainer.completedSteps).toBe(0);
  });

  it('publishes end "failed" when every answer is refused (a diverged model), and rejects', async () => {
    const { network, trainer, store } = setup({}, 2);
    network.auto = true;
    network.corrupt = (answer) => ({ ...answer, count: answer.count + 1 });
    await expect(trainer.run()).rejects.toMatchObject({ code: 'BAD_ANSWERS' });
    expect(network.metrics.end).toMatchObject({ reason: 'failed', step: 0 });
    expect(network.metrics.end?.detail).toMatch(/answers refused/);
    expect(store.checkpoints).toHaveLength(0);
  });

  it('builds core\'s Checkpoint: position, optimizer, the history\'s length (whose misclassified samples carry no pixels)', async () => {
    const { network, trainer, store, model } = setup({}, 2);
    network.auto = true;
    await trainer.run();
    const checkpoint = store.checkpoints.at(-1)!;
    expect(checkpoint).toMatchObject({ step: 1, epoch: 1, batchInEpoch: 0, seed: 1, globalBatchSize: 12, datasetHash: 'memory', modelSpec: SPEC });
    expect(checkpoint.optimizer).toMatchObject({ name: 'sgd', iterations: 1 });
    expect(checkpoint.parameters).toEqual(model.params);
    expect(checkpoint.rngState.every((word) => Number.isInteger(word) && word >= 0 && word < 2 ** 32)).toBe(true);
    // The history is not in the checkpoint: its length in history.jsonl is, taken before the end record.
    expect(checkpoint.history).toEqual([]);
    const kept = store.historyLines.slice(0, -1);
    expect(JSON.parse(store.historyLines.at(-1)!)).toMatchObject({ kind: 'end', reason: 'finished' });
    expect(checkpoint.historyBytes).toBe(Buffer.byteLength(kept.join('')));
    const epoch = kept.map((line) => JSON.parse(line) as { kind: string; misclassified: object[] }).find((record) => record.kind === 'epoch')!;
    expect(epoch.misclassified.length).toBeGreaterThan(0);
    for (const sample of epoch.misclassified) expect(Object.keys(sample).sort()).toEqual(['index', 'label', 'predicted']);
    // The live record keeps its pixels (the dashboard shows them).
    expect(network.metrics.epochs[0]!.misclassified[0]!.pixels).toHaveLength(4);
  });

  it('writes checkpoints off the step\'s path: steps go on during a slow write, never two writes at once, each a copy of its own step', async () => {
    const { network, trainer, store } = setup({ trainSize: 24, globalBatch: 2, checkpointEvery: 1, validationSize: 0 }, 2);
    network.auto = true;
    const releases: (() => void)[] = [];
    store.writeDelay = () => new Promise((resolve) => releases.push(resolve));
    const parametersAt = new Map<number, Float32Array>();
    network.metrics.on('record', (record) => record.kind === 'step' && parametersAt.set(record.step, Float32Array.from(trainer.checkpoint().parameters)));
    const outcome = trainer.run();
    await until(() => trainer.completedSteps >= 6);
    // Step 1's write is still waiting for the disk, and the steps went on.
    expect(store.checkpoints).toHaveLength(0);
    expect(releases).toHaveLength(1);
    store.writeDelay = null;
    releases[0]!();
    await expect(outcome).resolves.toBe('finished');
    expect(store.maxWritesInFlight).toBe(1);
    // The first write held step 1; the ones due while it waited were replaced by newer ones; the last is the final step's.
    expect(store.checkpoints[0]!.step).toBe(1);
    expect(store.checkpoints.length).toBeLessThan(12);
    expect(store.checkpoints.at(-1)!.step).toBe(12);
    for (const checkpoint of store.checkpoints) expect(checkpoint.parameters).toEqual(parametersAt.get(checkpoint.step));
  });

  it('fails the run when a checkpoint write fails: the run rejects with that error, end "failed", no write after it', async () => {
    const { network, trainer, store } = setup({ trainSize: 24, globalBatch: 2, checkpointEvery: 3, validationSize: 0 }, 2);
    network.auto = true;
    const full = Object.assign(new Error('cannot write checkpoint.ckpt: no space left on device (ENOSPC)'), { code: 'RUN_FOLDER' });
    let writes = 0;
    store.writeDelay = async () => {
      if (++writes === 2) throw full;
    };
    await expect(trainer.run()).rejects.toBe(full);
    expect(network.metrics.end).toMatchObject({ reason: 'failed', detail: full.message });
    expect(store.checkpoints.map((checkpoint) => checkpoint.step)).toEqual([3]);
    expect(writes).toBe(2);
    expect(trainer.completedSteps).toBeLessThan(12);
  });

  it('fail() from elsewhere (history.jsonl full) ends the run after the step in progress, writing no checkpoint', async () => {
    const { network, trainer, store } = setup({ trainSize: 24, globalBatch: 2, checkpointEvery: 0, validationSize: 0 }, 2);
    network.auto = true;
    const full = new Error('cannot write history.jsonl: no space left on device (ENOSPC)');
    network.metrics.on('record', (record) => record.kind === 'step' && record.step === 4 && trainer.fail(full));
    await expect(trainer.run()).rejects.toBe(full);
    expect(trainer.completedSteps).toBe(4);
    expect(network.metrics.end).toMatchObject({ reason: 'failed', step: 4 });
    expect(store.checkpoints).toHaveLength(0);
  });
});

describe('Trainer with --overlap', () => {
  /** [step, version] of every step message, in the order sent (one per worker and step). */
  const stepVersions = (network: MemoryNetwork) => [...new Set(network.log.filter((sent) => sent.message.type === 'step').map((sent) => `${(sent.message as StepMessage).step}@${sent.message.version}`))];

  it('sends step t+1 with the parameters before step t\'s update, and drains at checkpoints and the epoch\'s end', async () => {
    // 2 epochs x 4 steps, a checkpoint every 3 steps: steps 3 and 6 are checkpointed, 4 and 8 end epochs.
    const { network, trainer } = setup({ trainSize: 48, globalBatch: 12, epochs: 2, checkpointEvery: 3, overlap: true, overlapAfter: 0 }, 2);
    network.auto = true;
    await expect(trainer.run()).resolves.toBe('finished');
    expect(stepVersions(network)).toEqual(['1@0', '2@0', '3@1', '4@3', '5@4', '6@4', '7@6', '8@6']);
    expect(network.metrics.steps.map((record) => [record.step, record.images])).toEqual([1, 2, 3, 4, 5, 6, 7, 8].map((step) => [step, 12]));
  });

  it('starts after --overlap-after steps, by default one epoch', async () => {
    const versions = await Promise.all(
      [undefined, 2].map(async (overlapAfter) => {
        const { network, trainer } = setup({ trainSize: 48, globalBatch: 12, epochs: 2, overlap: true, ...(overlapAfter === undefined ? {} : { overlapAfter }) }, 2);
        network.auto = true;
        await expect(trainer.run()).resolves.toBe('finished');
        return stepVersions(network);
      }),
    );
    expect(versions[0]).toEqual(['1@0', '2@1', '3@2', '4@3', '5@4', '6@4', '7@5', '8@6']);
    expect(versions[1]).toEqual(['1@0', '2@1', '3@2', '4@2', '5@4', '6@4', '7@5', '8@6']);
  });

  it('applies the same updates as a run without it when gradients do not depend on the parameters', async () => {
    const runs = await Promise.all(
      [false, true].map(async (overlap) => {
        const { network, trainer, model } = setup({ trainSize: 48, globalBatch: 12, epochs: 2, overlap, overlapAfter: 0 }, 3);
        network.auto = true;
        await expect(trainer.run()).resolves.toBe('finished');
        return { params: model.params, steps: network.metrics.steps.length };
      }),
    );
    expect(runs[1]!.steps).toBe(8);
    expect(runs[1]!.params).toEqual(runs[0]!.params);
  });

  it('answers in flight when a stop is requested: the step run ahead is dropped, the stop checkpoint is the last step applied', async () => {
    const { network, trainer, store } = setup({ trainSize: 48, globalBatch: 12, checkpointEvery: 0, overlap: true, overlapAfter: 0 }, 2);
    const outcome = trainer.run();
    await settle();
    const out = network.take();
    expect(out.map((sent) => `${(sent.message as StepMessage).step}@${sent.message.version}`)).toEqual(['1@0', '1@0', '2@0', '2@0']);
    trainer.requestStop();
    network.answer(out[0]!);
    network.answer(out[1]!);
    await expect(outcome).resolves.toBe('stopped');
    expect(store.checkpoints.map((checkpoint) => checkpoint.step)).toEqual([1]);
    // The workers' answers to step 2 come late and are ignored.
    expect(network.answer(out[2]!)).toBeNull();
    expect(network.answer(out[3]!)).toBeNull();
    expect(network.table.scheduler.lateAnswers).toBe(2);
  });

  it('a worker lost with slices of two steps owed: the others compute them, each image once, the same updates', async () => {
    const { network, trainer, model, connections } = setup({ trainSize: 24, globalBatch: 12, validationSize: 0, overlap: true, overlapAfter: 0 }, 2);
    const reference = setup({ trainSize: 24, globalBatch: 12, validationSize: 0 }, 1);
    reference.network.auto = true;
    await reference.trainer.run();
    const outcome = trainer.run();
    await settle();
    expect(network.take()).toHaveLength(4);
    network.lose(connections[1]!);
    network.auto = true;
    // Worker 1's own messages were taken above: answer them as it would, in order.
    for (const sent of network.log.slice(0, 4)) if (sent.connection === connections[0]) network.answer(sent);
    await expect(outcome).resolves.toBe('finished');
    expect(network.metrics.steps.map((record) => record.images)).toEqual([12, 12]);
    expect(model.params).toEqual(reference.model.params);
  });
});
