/**
 * Authenticated workers that lie (issue 18, finding 12), each beside one honest worker
 * process, against a coordinator in this process on 127.0.0.1 port 0 (real sockets):
 *
 * - one that reports computeMs 0 gets slices by its measured speed, not most of the batch;
 * - one that answers later and later stretches a few steps at most, each within its
 *   deadline, then is demoted (no work for a while);
 * - one that joins and never answers delays the first step by a deadline taken from the
 *   honest worker's measured speed (a few seconds here), not by deadlineFirstMs (120 s);
 * - one that sends finite gradients of 1e30 is refused, its slices recomputed by the honest
 *   worker, and the parameters stay finite and sane.
 */
import { afterAll, describe, expect, it } from 'vitest';
import { startCoordinator, type Coordinator } from '../../packages/coordinator/src/index.js';
import type { EventRecord, MetricsRecord, ModelSpec, StepRecord } from '../../packages/core/src/index.js';
import { SMALL_SPEC } from '../distributed/helpers.js';
import { startWorker, tempDir, type Proc } from '../support/processes.js';
import { startLiar, type Liar, type Lies } from './liar-client.js';

const BATCH = 64;
const processes: Proc[] = [];
const liars: Liar[] = [];
afterAll(() => {
  processes.forEach((proc) => proc.child.kill('SIGKILL'));
  liars.forEach((liar) => liar.close());
});

interface Run {
  readonly coordinator: Coordinator;
  readonly liar: Liar;
  readonly steps: StepRecord[];
  readonly events: EventRecord[];
  readonly trained: Promise<unknown>;
}

/** A coordinator with one honest worker process and one liar; training runs `maxSteps` steps of BATCH images. */
async function runWithLiar(name: string, lies: Lies, options: { maxSteps: number; deadlineMinMs?: number; optimizer?: 'sgd' | 'adam' }): Promise<Run> {
  const coordinator = await startCoordinator({
    spec: SMALL_SPEC as unknown as ModelSpec,
    port: 0,
    outDir: tempDir(`liars-${name}`),
    kernels: 'ts',
    trainSize: 20 * BATCH, // every step a full batch
    validationSize: 0,
    testSize: 0,
    globalBatch: BATCH,
    epochs: 5,
    seed: 7,
    maxSteps: options.maxSteps,
    minWorkers: 2,
    optimizer: options.optimizer === 'sgd' ? { name: 'sgd', learningRate: 0.05 } : { name: 'adam', learningRate: 0.01 },
    ...(options.deadlineMinMs === undefined ? {} : { deadlineMinMs: options.deadlineMinMs }),
  });
  const steps: StepRecord[] = [];
  const events: EventRecord[] = [];
  coordinator.metrics.on('record', (record: MetricsRecord) => {
    if (record.kind === 'step') steps.push(record);
    if (record.kind === 'event') events.push(record);
  });
  const liar = await startLiar(coordinator.url, lies);
  liars.push(liar);
  processes.push(startWorker(coordinator.url));
  const trained = coordinator.train().finally(() => coordinator.close());
  return { coordinator, liar, steps, events, trained };
}

const median = (values: readonly number[]) => [...values].sort((a, b) => a - b)[Math.floor(values.length / 2)]!;

describe('liars among the workers', () => {
  it('a worker reporting computeMs 0 gets slices by its measured round trip, not 59 of 64 images', async () => {
    const { liar, steps, trained } = await runWithLiar('compute-zero', { computeMs: 0 }, { maxSteps: 16 });
    await trained;
    expect(steps).toHaveLength(16);
    // The first steps are cut equally while nothing is measured; look at the rest.
    const share = median(liar.slices.slice(4));
    expect(share, `liar's slices: ${liar.slices.join(' ')}`).toBeLessThan(54);
    expect(steps.every((step) => step.images === BATCH)).toBe(true);
  }, 60_000);

  it('a worker answering later and later stretches a few steps at most, each within its deadline, then is demoted', async () => {
    // 300 ms, 600 ms, 1.2 s, 2.4 s, then 4 s for every answer: always under the default 5 s deadline floor.
    const lies: Lies = { delayMs: (answer) => Math.min(4_000, 300 * 2 ** answer) };
    const { liar, steps, events, trained } = await runWithLiar('slow', lies, { maxSteps: 40 });
    await trained;
    expect(steps).toHaveLength(40);
    const times = `step times (ms): ${steps.map((step) => Math.round(step.stepMs)).join(' ')}; liar's slices: ${liar.slices.join(' ')}`;
    // Strikes exclude it (or its measured speed leaves it almost nothing): from step 10 on it stretches nothing.
    expect(steps.slice(9).every((step) => step.stepMs < 1_000), times).toBe(true);
    expect(liar.slices.length, times).toBeLessThanOrEqual(9);
    const demotion = events.find((event) => event.event === 'demotion' && event.workerId === liar.workerId());
    expect(demotion?.detail, times).toMatch(/, 3 strikes in a row: given no work for 10 s/);
    // Before that, each stretched step is within its deadline (deadlineMinMs, 5 s, here).
    expect(steps.every((step) => step.stepMs < 5_000 + 1_000), times).toBe(true);
    expect(steps.every((step) => step.images === BATCH)).toBe(true);
  }, 60_000);

  it('a worker that joins and never answers delays the first step by a deadline from the measured speed, not deadlineFirstMs', async () => {
    const { liar, steps, events, trained } = await runWithLiar('silent', { silent: true }, { maxSteps: 5, deadlineMinMs: 1_000 });
    await trained;
    expect(steps).toHaveLength(5);
    const miss = events.find((event) => event.event === 'deadline-miss' && event.workerId === liar.workerId());
    // Its first deadline: max(deadlineMinMs, deadlineFactor x its slice / the measured speed), not deadlineFirstMs.
    const deadlineMs = Number(miss?.detail.match(/within (\d+) ms/)?.[1]);
    expect(deadlineMs, miss?.detail).toBeGreaterThanOrEqual(1_000);
    expect(deadlineMs, miss?.detail).toBeLessThan(10_000);
    // The deadline from the send, then the honest worker recomputes the silent slice.
    expect(steps[0]!.stepMs).toBeLessThan(deadlineMs + 2_000);
    expect(steps.every((step) => step.images === BATCH)).toBe(true);
  }, 60_000);

  it('finite gradients of 1e30 are refused and recomputed by the others; the parameters stay finite and sane', async () => {
    const { coordinator, liar, steps, events, trained } = await runWithLiar('huge', { gradientValue: 1e30 }, { maxSteps: 12, optimizer: 'sgd' });
    await trained;
    expect(steps).toHaveLength(12);
    const refused = events.filter((event) => event.event === 'refused-answer' && event.workerId === liar.workerId());
    expect(refused.length).toBeGreaterThanOrEqual(1);
    expect(refused[0]!.detail).toMatch(/gradient for \d+ images refused: its size \d\.\d+e\+30 per image is over 1000x the others' \(\d\.\d+e[-+]\d+\); recomputed by other workers/);
    expect(steps.every((step) => step.images === BATCH && Number.isFinite(step.loss))).toBe(true);
    let largest = 0;
    for (const value of coordinator.model.params) largest = Math.max(largest, Math.abs(value));
    expect(Number.isFinite(largest)).toBe(true);
    expect(largest).toBeLessThan(10);
    // Learning went on with the honest gradients only.
    expect(steps.at(-1)!.loss).toBeLessThan(steps[0]!.loss);
  }, 60_000);
});
