/**
 * `pnpm bench:scale`: images/s of synchronous data-parallel training with 1 and 2 worker
 * processes at global batch 64 and 256 (default model, fastest kernels), the scaling
 * efficiency, and where the time of one step goes (compute, encode/decode, wire and
 * waiting, coordinator work) with the bytes sent per step.
 *
 * A `--workers` item may be PROCESSESxTHREADS: `--workers 1,2,1x2` measures one
 * single-thread worker, two of them, and one worker with two threads (`--threads 2`), in
 * turn: the two ways `pnpm start` can use two cores (local-workers.ts, LOCAL_LAYOUT).
 *
 * The coordinator runs in this process (the library API); workers are real child
 * processes on 127.0.0.1, as `pnpm start` runs them.
 *
 * The peer, measured just before each configuration: the same number of bare compute
 * processes (bench/compute-loop.ts, the worker's gradientSum and nothing else) running at
 * once on the same slices' sizes. Their summed images/s is what the machine's cores give
 * that many compute-bound processes in that minute, the ceiling of the training figure.
 *
 * Rounds: a shared VM's speed drifts from one minute to the next by more than the effects
 * measured here, so the configurations are measured in turn, `rounds` times over (1 worker,
 * 2 workers, 1, 2...), and each round's speed-up is taken between neighbours in time. The
 * table gives the medians; the per-round speed-ups are printed with them.
 *
 * Warm-up: a process's first steps are not its steady state. Each received frame makes ws
 * allocate a 4.8 MB buffer, and until the allocator holds enough freed memory to serve it,
 * it takes fresh pages, many times slower than reused ones (bench/README.md, "Fresh
 * memory"). A training run is thousands of steps, so `warmup` steps are left out of every
 * figure.
 *
 *   pnpm bench:scale [-- --rounds 3 --steps 30 --warmup 30 --batches 64,256 --workers 1,2 --kernels auto]
 *   pnpm bench:scale -- --workers 1,2,1x2 --batches 256 --rounds 10   # pnpm start's two layouts on 2 cores
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { spawnLocalWorkers, startCoordinator, waitForExit, type StepTiming } from '../packages/coordinator/src/index.js';
import { bareCompute, benchFlags, machine, median, saveResults } from './measure.js';

/** One configuration: worker processes and compute threads in each ("2" = 2x1). */
interface Layout {
  readonly workers: number;
  readonly threads: number;
  /** As given, e.g. "2" or "1x2". */
  readonly label: string;
}

function parseLayout(item: string): Layout {
  const match = /^(\d+)(?:x(\d+))?$/.exec(item.trim());
  if (match === null) throw new Error(`--workers: "${item}" is not N or NxT (N processes of T threads)`);
  return { workers: Number(match[1]), threads: Number(match[2] ?? 1), label: item.trim() };
}

const values = benchFlags({ rounds: '3', steps: '30', warmup: '30', batches: '64,256', workers: '1,2', kernels: 'auto' });
const rounds = Number(values.rounds);
const steps = Number(values.steps);
const warmup = Number(values.warmup);
const kernels = values.kernels as 'ts' | 'wasm' | 'auto';

/** One configuration measured once: a round's training figure and its peer. */
interface Measurement {
  readonly batch: number;
  /** The layout's label ("2", "1x2"). */
  readonly layout: string;
  readonly workers: number;
  readonly threads: number;
  readonly round: number;
  readonly imagesPerSecond: number;
  /** The summed images/s of `workers` bare compute processes running at once (the peer). */
  readonly bareImagesPerSecond: number;
  /** The measured steps' timings. */
  readonly timings: StepTiming[];
}

async function measure(batch: number, layout: Layout, round: number): Promise<Measurement> {
  const { workers, threads } = layout;
  // The peer: one bare compute process per compute thread, on the slice each thread computes.
  const bareImagesPerSecond = await bareCompute({ processes: workers * threads, slice: Math.ceil(batch / (workers * threads)), steps, warmup, kernels });
  const out = mkdtempSync(join(tmpdir(), 'convoy-bench-'));
  const coordinator = await startCoordinator({
    port: 0,
    outDir: out,
    globalBatch: batch,
    maxSteps: warmup + steps,
    validationSize: 0,
    testSize: 0,
    checkpointEvery: 0,
    minWorkers: workers,
    kernels,
    localWorkers: workers,
  });
  const timings: StepTiming[] = [];
  coordinator.onStepTiming((timing) => timings.push(timing));
  const children = spawnLocalWorkers(workers, {
    url: `ws://127.0.0.1:${coordinator.port}`,
    kernels,
    threads,
    log: (index, line) => process.stderr.write(`  [worker ${index}] ${line}\n`),
  });
  await coordinator.train();
  await coordinator.close('benchmark done');
  await waitForExit(children, 5_000);
  rmSync(out, { recursive: true, force: true });
  const measured = timings.slice(warmup);
  const images = measured.reduce((sum, timing) => sum + timing.images, 0);
  const seconds = measured.reduce((sum, timing) => sum + timing.stepMs, 0) / 1000;
  return { batch, layout: layout.label, workers, threads, round, imagesPerSecond: images / seconds, bareImagesPerSecond, timings: measured };
}

/** The mean of each timing field over every measured step of every round. */
function meanTimings(timings: readonly StepTiming[]) {
  const average = (pick: (timing: StepTiming) => number) => timings.reduce((sum, timing) => sum + pick(timing), 0) / timings.length;
  const mean = {
    stepMs: average((t) => t.stepMs),
    computeMs: average((t) => t.computeMs),
    imbalanceMs: average((t) => t.computeMs - t.meanComputeMs),
    workerDecodeMs: average((t) => t.workerDecodeMs),
    encodeMs: average((t) => t.encodeMs),
    decodeMs: average((t) => t.decodeMs),
    sumMs: average((t) => t.sumMs),
    optimizerMs: average((t) => t.optimizerMs),
    bytesOut: average((t) => t.bytesOut),
    bytesIn: average((t) => t.bytesIn),
  };
  const coordinatorMs = mean.encodeMs + mean.decodeMs + mean.sumMs + mean.optimizerMs;
  return { ...mean, coordinatorMs, wireAndWaitingMs: Math.max(0, mean.stepMs - mean.computeMs - mean.workerDecodeMs - coordinatorMs) };
}

const fixed = (value: number, digits = 1) => value.toFixed(digits);
const megabytes = (bytes: number) => (bytes / 1e6).toFixed(2);

async function main(): Promise<void> {
  const host = machine();
  process.stdout.write(`convoy bench:scale: ${rounds} rounds of ${steps} measured steps after ${warmup} warm-up, kernels ${kernels}\n`);
  process.stdout.write(`machine: ${host.cpu}, ${host.cores} cores, Node ${host.node}; load average before ${host.loadBefore.join(' ')}\n`);
  const batches = values.batches.split(',').map(Number);
  const layouts = values.workers.split(',').map(parseLayout);
  const baseline = layouts[0]!;
  const measurements: Measurement[] = [];
  for (const batch of batches) {
    for (let round = 1; round <= rounds; round++) {
      for (const layout of layouts) {
        const result = await measure(batch, layout, round);
        measurements.push(result);
        const computeUnits = layout.workers * layout.threads;
        process.stdout.write(
          `  batch ${batch}, round ${round}, ${layout.workers} worker(s) of ${layout.threads} thread(s): ${fixed(result.imagesPerSecond)} images/s; ${computeUnits} bare compute process(es): ${fixed(result.bareImagesPerSecond)}\n`,
        );
      }
    }
  }
  /** Each round's figure (`pick`) for `layout` over the same round's figure of the first layout (speed-ups are against it). */
  const perRound = (batch: number, layout: string, pick: (m: Measurement) => number) =>
    measurements
      .filter((m) => m.batch === batch && m.layout === layout)
      .map((m) => pick(m) / pick(measurements.find((one) => one.batch === batch && one.layout === baseline.label && one.round === m.round)!));
  process.stdout.write(
    `\nspeed-ups against ${baseline.workers} worker(s) of ${baseline.threads} thread(s); efficiency per compute thread\n` +
    '| batch | workers x threads | images/s | speed-up | speed-up per round | efficiency | bare images/s | bare speed-up | of bare | step ms | compute ms (slowest) | imbalance ms | worker decode ms | coordinator encode ms | coordinator decode+check ms | sum ms | optimizer ms | wire+waiting ms | coordinator share | MB out/step | MB in/step |\n',
  );
  process.stdout.write('|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|\n');
  const summary = [];
  for (const batch of batches) {
    for (const layout of layouts) {
      const { workers, threads } = layout;
      const mine = measurements.filter((m) => m.batch === batch && m.layout === layout.label);
      const imagesPerSecond = median(mine.map((m) => m.imagesPerSecond));
      const bareImagesPerSecond = median(mine.map((m) => m.bareImagesPerSecond));
      const speedups = perRound(batch, layout.label, (m) => m.imagesPerSecond);
      const speedup = median(speedups);
      const bareSpeedup = median(perRound(batch, layout.label, (m) => m.bareImagesPerSecond));
      const ofBare = median(mine.map((m) => m.imagesPerSecond / m.bareImagesPerSecond));
      const m = meanTimings(mine.flatMap((one) => one.timings));
      summary.push({ batch, layout: layout.label, workers, threads, imagesPerSecond, bareImagesPerSecond, speedup, speedups, bareSpeedup, ofBare, mean: m });
      process.stdout.write(
        `| ${batch} | ${workers}x${threads} | ${fixed(imagesPerSecond)} | ${fixed(speedup, 2)}x | ${speedups.map((x) => fixed(x, 2)).join(' ')} | ${fixed((100 * speedup * baseline.workers * baseline.threads) / (workers * threads))}% | ${fixed(bareImagesPerSecond)} | ${fixed(bareSpeedup, 2)}x | ${fixed(100 * ofBare)}% | ${fixed(m.stepMs)} | ${fixed(m.computeMs)} | ${fixed(m.imbalanceMs)} | ${fixed(m.workerDecodeMs)} | ${fixed(m.encodeMs)} | ${fixed(m.decodeMs)} | ${fixed(m.sumMs)} | ${fixed(m.optimizerMs)} | ${fixed(m.wireAndWaitingMs)} | ${fixed((100 * m.coordinatorMs) / m.stepMs)}% | ${megabytes(m.bytesOut)} | ${megabytes(m.bytesIn)} |\n`,
      );
    }
  }
  const rounded = measurements.map(({ timings, ...rest }) => ({ ...rest, mean: meanTimings(timings) }));
  saveResults('scale', host, { rounds, steps, warmup, kernels, summary, measurements: rounded });
}

main().then(
  () => process.exit(0),
  (error: unknown) => {
    console.error(error);
    process.exit(1);
  },
);
