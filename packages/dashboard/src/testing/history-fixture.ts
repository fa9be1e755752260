/**
 * Test fixture (not used by the page): a run's history built from simple formulas, so
 * tests know every value. Steps 1..steps, `stepsPerEpoch` steps an epoch, one image
 * batch of 32, loss 2/(1+step/10), accuracy 1 - 0.9/(1+step/10), 100 ms apart.
 */
import type { EpochRecord, EventRecord, RunRecord, StepRecord, WorkerRow } from '@convoy/core';
import type { History } from '../history-export.js';

export const START_TIME = 1_700_000_000_000;

export function runRecord(overrides: Partial<RunRecord> = {}): RunRecord {
  return {
    kind: 'run',
    runId: 'fixture-run',
    startTime: START_TIME,
    spec: { input: [1, 28, 28], layers: [{ type: 'flatten' }, { type: 'dense', units: 10, activation: 'softmax' }] },
    paramCount: 7850,
    optimizer: { name: 'sgd', learningRate: 0.1 },
    globalBatch: 32,
    epochs: 3,
    stepsPerEpoch: 10,
    totalSteps: 30,
    seed: 1,
    trainSize: 320,
    validationSize: 100,
    testSize: 100,
    kernels: 'ts',
    localWorkers: 2,
    resumedFromStep: 0,
    outDir: '/tmp/run',
    ...overrides,
  };
}

export function stepRecord(step: number, stepsPerEpoch = 10): StepRecord {
  return {
    kind: 'step',
    step,
    epoch: Math.floor((step - 1) / stepsPerEpoch) + 1,
    loss: 2 / (1 + step / 10),
    accuracy: 1 - 0.9 / (1 + step / 10),
    images: 32,
    imagesSeen: 32 * step,
    imagesPerSecond: 320,
    learningRate: 0.1,
    stepMs: 100,
    workers: 2,
    time: START_TIME + 100 * step,
  };
}

export function epochRecord(epoch: number, step: number): EpochRecord {
  const confusion = Array.from({ length: 100 }, (_, i) => (i % 11 === 0 ? 9 : i === 17 ? 1 : 0));
  return {
    kind: 'epoch',
    epoch,
    step,
    trainLoss: 1 / epoch,
    trainAccuracy: 1 - 0.1 / epoch,
    validationLoss: 1.1 / epoch,
    validationAccuracy: 1 - 0.11 / epoch,
    confusion,
    misclassified: [{ index: 59_917, label: 1, predicted: 7, pixels: new Uint8Array(784).fill(200) }],
    elapsedSeconds: step / 10,
    time: START_TIME + 100 * step + 50,
  };
}

export function workerRow(id: number, state: WorkerRow['state'] = 'idle'): WorkerRow {
  return {
    id,
    name: `local-${id}`,
    address: `127.0.0.1:${40_000 + id}`,
    state,
    kernels: 'ts',
    imagesPerSecond: 160,
    lastStepMs: 100,
    sliceSize: 16,
    bytesIn: 1000 * id,
    bytesOut: 2000 * id,
    heartbeatAgeMs: 250,
  };
}

export function eventRecord(event: EventRecord['event'], step: number, workerId: number | null, detail: string): EventRecord {
  return { kind: 'event', event, step, workerId, detail, time: START_TIME + 100 * step + 10 };
}

/** `steps` steps with an epoch record every stepsPerEpoch steps. */
export function fixtureHistory(steps: number, stepsPerEpoch = 10): History {
  const stepRecords = Array.from({ length: steps }, (_, i) => stepRecord(i + 1, stepsPerEpoch));
  const epochs = Array.from({ length: Math.floor(steps / stepsPerEpoch) }, (_, i) => epochRecord(i + 1, (i + 1) * stepsPerEpoch));
  return {
    run: runRecord({ stepsPerEpoch, totalSteps: Math.max(steps, 1), epochs: Math.max(1, Math.ceil(steps / stepsPerEpoch)) }),
    steps: stepRecords,
    epochs,
    test: null,
    workers: [workerRow(1), workerRow(2)],
    events: [eventRecord('join', 0, 1, 'local-1 at 127.0.0.1:40001'), eventRecord('join', 0, 2, 'local-2 at 127.0.0.1:40002')],
    end: null,
  };
}
