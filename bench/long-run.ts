/**
 * A long run on a tiny model: does the coordinator hold a steady step time and memory over
 * 100,000 steps? (Issue 18, finding 9: checkpoints that carried the whole history, and
 * in-memory step lists without bound, made both grow with the run.)
 *
 *   pnpm bench:long -- --steps 100000 [--every 10000] [--batch 8] [--checkpoint-every 200]
 *
 * One coordinator in this process, one local worker process (reference kernels), a spec
 * of 500 parameters (max-pool 4x4, then dense 49 -> 10). Prints one line per `every` steps:
 * the wall time per step over that stretch (mean, 99th percentile, max: the max shows a
 * checkpoint's pause), the coordinator's RSS and JS heap, the steps the metrics hub keeps,
 * and the sizes of checkpoint.ckpt and history.jsonl. Then a JSON summary line.
 */
import { existsSync, mkdtempSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import type { ModelSpec } from '../packages/core/src/index.js';
import { startCoordinator } from '../packages/coordinator/src/coordinator.js';
import { spawnLocalWorkers, waitForExit } from '../packages/coordinator/src/local-workers.js';

const { values } = parseArgs({
  args: process.argv.slice(2).filter((arg) => arg !== '--'),
  options: {
    steps: { type: 'string', default: '100000' },
    every: { type: 'string', default: '10000' },
    batch: { type: 'string', default: '8' },
    'checkpoint-every': { type: 'string', default: '200' },
  },
});
const steps = Number(values.steps);
const every = Number(values.every);
const batch = Number(values.batch);
const checkpointEvery = Number(values['checkpoint-every']);
for (const [name, value] of [['--steps', steps], ['--every', every], ['--batch', batch], ['--checkpoint-every', checkpointEvery]] as const) {
  if (!Number.isInteger(value) || value < (name === '--checkpoint-every' ? 0 : 1)) {
    process.stderr.write(`bench:long: ${name} must be a positive integer\n`);
    process.exit(2);
  }
}

/** 1x28x28 -> max-pool 4x4 -> 49 -> dense 10: 500 parameters, so the coordinator's own work dominates. */
const TINY: ModelSpec = {
  input: [1, 28, 28],
  layers: [{ type: 'maxpool2d', poolSize: 4 }, { type: 'flatten' }, { type: 'dense', units: 10, activation: 'softmax' }],
};

const out = mkdtempSync(join(tmpdir(), 'convoy-bench-long-'));
const coordinator = await startCoordinator({
  spec: TINY,
  port: 0,
  outDir: out,
  kernels: 'ts',
  optimizer: { name: 'adam', learningRate: 0.001 },
  globalBatch: batch,
  // Epochs of many steps: an epoch record (validation, confusion matrix) is kept for every epoch.
  trainSize: 59_000,
  validationSize: 1_000,
  testSize: 0,
  epochs: 1_000,
  maxSteps: steps,
  checkpointEvery,
});
const workers = spawnLocalWorkers(1, { url: `ws://127.0.0.1:${coordinator.port}`, kernels: 'ts', log: () => undefined });

const MiB = 2 ** 20;
const fileMiB = (name: string) => (existsSync(join(out, name)) ? statSync(join(out, name)).size / MiB : 0);
interface Row {
  readonly step: number;
  readonly meanMs: number;
  readonly p99Ms: number;
  readonly maxMs: number;
  readonly rssMiB: number;
  readonly heapMiB: number;
  readonly stepsKept: number;
  readonly checkpointKiB: number;
  readonly historyMiB: number;
}
const rows: Row[] = [];
let intervals: number[] = [];
let last = 0;
coordinator.metrics.on('record', (record) => {
  if (record.kind !== 'step') return;
  const now = performance.now();
  if (last > 0) intervals.push(now - last);
  last = now;
  if (record.step % every !== 0) return;
  const sorted = intervals.sort((a, b) => a - b);
  const memory = process.memoryUsage();
  const row: Row = {
    step: record.step,
    meanMs: sorted.reduce((sum, ms) => sum + ms, 0) / sorted.length,
    p99Ms: sorted[Math.floor(0.99 * (sorted.length - 1))] ?? 0,
    maxMs: sorted.at(-1) ?? 0,
    rssMiB: memory.rss / MiB,
    heapMiB: memory.heapUsed / MiB,
    stepsKept: coordinator.metrics.steps.length,
    checkpointKiB: fileMiB('checkpoint.ckpt') * 1024,
    historyMiB: fileMiB('history.jsonl'),
  };
  rows.push(row);
  intervals = [];
  process.stdout.write(
    `step ${String(row.step).padStart(7)}  step ms mean ${row.meanMs.toFixed(2)} p99 ${row.p99Ms.toFixed(2)} max ${row.maxMs.toFixed(1)}` +
      `  RSS ${row.rssMiB.toFixed(0)} MiB heap ${row.heapMiB.toFixed(0)} MiB  steps kept ${row.stepsKept}` +
      `  checkpoint ${row.checkpointKiB.toFixed(1)} KiB  history.jsonl ${row.historyMiB.toFixed(1)} MiB\n`,
  );
});

const started = performance.now();
const outcome = await coordinator.train();
const seconds = (performance.now() - started) / 1000;
await coordinator.close('benchmark over');
await waitForExit(workers, 5_000);
const first = rows[0];
const final = rows.at(-1);
process.stdout.write(
  `${JSON.stringify({
    outcome,
    steps,
    seconds: Number(seconds.toFixed(1)),
    stepsPerSecond: Math.round(steps / seconds),
    firstMeanMs: first?.meanMs,
    lastMeanMs: final?.meanMs,
    firstRssMiB: first?.rssMiB,
    lastRssMiB: final?.rssMiB,
    maxStepMs: Math.max(...rows.map((row) => row.maxMs)),
  })}\n`,
);
rmSync(out, { recursive: true, force: true });
