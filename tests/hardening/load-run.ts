/**
 * One load measurement, shared by tests/hardening/load.test.ts (light) and bench/load.ts:
 * a coordinator in this process (its per-step timing events give the coordinator's own
 * work: encoding step frames, decoding and validating answers, summing, the optimizer),
 * W worker connections hosted by one child process (load-clients.ts), and D dashboard
 * viewers in another, connected for the middle third of the run only:
 *
 *   phase A: steps without dashboards | phase B: D dashboards subscribed | phase C: none again
 *
 * The dashboards' cost is B's step time against the mean of A and C (which brackets B in
 * time, so a drift in the machine's load cancels to first order).
 */
import { fileURLToPath } from 'node:url';
import { startCoordinator, type StepTiming } from '../../packages/coordinator/src/index.js';
import type { ModelSpec, WireCodec } from '../../packages/core/src/index.js';
import { run, tempDir, type Proc } from '../support/processes.js';

const CLIENTS = fileURLToPath(new URL('./load-clients.ts', import.meta.url));

export interface LoadOptions {
  readonly spec: ModelSpec;
  readonly workers: number;
  readonly dashboards: number;
  readonly batch: number;
  readonly stepsPerPhase: number;
  readonly warmupSteps: number;
  /** The run's wire codec (default fp32); topk's density warm-up ends with the warm-up steps, so the phases measure its steady state. */
  readonly wire?: WireCodec;
}

export interface PhaseFigures {
  readonly steps: number;
  /** Mean wall time from one step's end to the next one's, ms. */
  readonly stepMs: number;
  /** Mean coordinator work per step (encode + decode/validate + sum + optimizer), ms. */
  readonly coordinatorMs: number;
  readonly encodeMs: number;
  readonly decodeMs: number;
  readonly sumMs: number;
  readonly optimizerMs: number;
  /** Fewest workers that contributed to a step in the phase. */
  readonly minWorkers: number;
  readonly bytesPerStep: number;
}

export interface LoadResult {
  readonly phases: { readonly before: PhaseFigures; readonly dashboards: PhaseFigures; readonly after: PhaseFigures };
  /** (B - mean(A, C)) / mean(A, C), in percent. */
  readonly dashboardSlowdownPercent: number;
  /** Coordinator time spent publishing records to the viewers, per step of phase B, ms. */
  readonly publishMsPerStep: number;
  /** Coordinator work as a share of the step, all phases, percent. */
  readonly coordinatorSharePercent: number;
  readonly dashboardSummary: Record<string, number>;
  readonly workerSummary: Record<string, number>;
  /** Step records published while all D dashboards were subscribed. */
  readonly stepsWhileSubscribed: number;
  readonly coordinatorRssMb: { readonly before: number; readonly peak: number };
  readonly imagesOnce: boolean;
  /** Workers that joined. */
  readonly joined: number;
}

interface Clients {
  readonly proc: Proc;
  /** Resolves once every connection is in (workers: welcomed). */
  readonly ready: Promise<unknown>;
  /** Per-kind counts, printed when the process is told to stop (SIGTERM) or the coordinator stops it. */
  readonly summary: Promise<Record<string, number>>;
}

function startClients(role: 'workers' | 'dashboards', count: number, url: string): Clients {
  const proc = run(CLIENTS, [role, String(count), url]);
  // NOTE: no timeout: with the default model (bench:load) a run lasts minutes; a client process
  // that dies rejects these with its output instead.
  return {
    proc,
    ready: proc.waitFor(/ready \d+/, Infinity),
    summary: proc.waitFor(/summary (\{.*\})\n/, Infinity).then((match) => JSON.parse(match[1]!) as Record<string, number>),
  };
}

function mean(values: readonly number[]): number {
  return values.reduce((sum, value) => sum + value, 0) / Math.max(1, values.length);
}

function figures(timings: readonly StepTiming[]): PhaseFigures {
  const pick = (key: keyof StepTiming) => mean(timings.map((timing) => timing[key] as number));
  const encodeMs = pick('encodeMs');
  const decodeMs = pick('decodeMs');
  const sumMs = pick('sumMs');
  const optimizerMs = pick('optimizerMs');
  return {
    steps: timings.length,
    stepMs: pick('stepMs'),
    coordinatorMs: encodeMs + decodeMs + sumMs + optimizerMs,
    encodeMs,
    decodeMs,
    sumMs,
    optimizerMs,
    minWorkers: Math.min(...timings.map((timing) => timing.workers)),
    bytesPerStep: pick('bytesOut') + pick('bytesIn'),
  };
}

export async function runLoad(options: LoadOptions): Promise<LoadResult> {
  const { workers, dashboards, batch, stepsPerPhase, warmupSteps } = options;
  const coordinator = await startCoordinator({
    spec: options.spec,
    port: 0,
    outDir: tempDir('load'),
    globalBatch: batch,
    epochs: 1_000,
    // A whole number of batches, so every step has the full batch.
    trainSize: Math.floor(50_000 / batch) * batch,
    validationSize: 0,
    testSize: 0,
    checkpointEvery: 0,
    minWorkers: workers,
    kernels: 'auto',
    wire: options.wire ?? 'fp32',
    topkWarmupSteps: warmupSteps,
    // One process computes every slice in turn: deadlines sized for the whole batch.
    deadlineMinMs: 60_000,
  });
  const url = `ws://127.0.0.1:${coordinator.port}`;
  const rssBefore = process.memoryUsage().rss / 2 ** 20;
  let rssPeak = rssBefore;
  const timings: StepTiming[] = [];
  const phaseOf = new Map<number, 'warmup' | 'before' | 'joining' | 'dashboards' | 'leaving' | 'after'>();
  let phase: 'warmup' | 'before' | 'joining' | 'dashboards' | 'leaving' | 'after' = 'warmup';
  let viewers: Clients | null = null;
  let stepsWhileSubscribed = 0;
  // The viewers' direct cost: time the coordinator spends publishing records (encode once, send to each).
  const publishMs = { dashboards: 0, other: 0 };
  // NOTE: step records are sent by a deferred flush (metrics.ts), the others within publish: time both.
  const hub = coordinator.metrics as unknown as Record<'publish' | 'flush', (...args: unknown[]) => void>;
  for (const name of ['publish', 'flush'] as const) {
    const original = hub[name].bind(hub);
    hub[name] = (...args: unknown[]) => {
      const started = performance.now();
      original(...args);
      publishMs[phase === 'dashboards' ? 'dashboards' : 'other'] += performance.now() - started;
    };
  }
  coordinator.metrics.on('record', (record) => {
    if (record.kind === 'step' && phase === 'dashboards') stepsWhileSubscribed++;
  });
  // NOTE: a timing's stepMs runs from sending the slices to the update; publishing the step's
  // record to the viewers comes after it. The figures use the wall time from one step's end
  // to the next's, which includes everything.
  let lastEnd = 0;
  coordinator.onStepTiming((timing) => {
    const now = performance.now();
    timings.push(lastEnd === 0 ? timing : { ...timing, stepMs: now - lastEnd });
    lastEnd = now;
    phaseOf.set(timing.step, phase);
    rssPeak = Math.max(rssPeak, process.memoryUsage().rss / 2 ** 20);
    const done = (from: 'before' | 'dashboards' | 'after') => timings.filter((t) => phaseOf.get(t.step) === from).length;
    if (phase === 'warmup' && timing.step >= warmupSteps) phase = 'before';
    else if (phase === 'before' && done('before') >= stepsPerPhase) {
      phase = 'joining';
      viewers = startClients('dashboards', dashboards, url);
      viewers.ready.then(() => (phase = 'dashboards'));
    } else if (phase === 'dashboards' && done('dashboards') >= stepsPerPhase) {
      phase = 'leaving';
      void viewers!.proc.kill('SIGTERM').then(() => (phase = 'after'));
    } else if (phase === 'after' && done('after') >= stepsPerPhase) coordinator.requestStop();
  });
  const workerClients = startClients('workers', workers, url);
  const outcome = await coordinator.train();
  const dashboardSummary = viewers === null ? {} : await (viewers as Clients).summary;
  await coordinator.close('load run over');
  const workerSummary = await workerClients.summary;
  if (outcome !== 'stopped') throw new Error(`load run ended ${outcome}`);
  const steps = coordinator.metrics.steps;
  const imagesOnce = steps.every((record, i) => record.step === i + 1 && record.images === batch);
  const byPhase = (name: string) => figures(timings.filter((t) => phaseOf.get(t.step) === name));
  const before = byPhase('before');
  const withDashboards = byPhase('dashboards');
  const after = byPhase('after');
  const baseline = (before.stepMs + after.stepMs) / 2;
  const measured = [before, withDashboards, after];
  return {
    phases: { before, dashboards: withDashboards, after },
    dashboardSlowdownPercent: (100 * (withDashboards.stepMs - baseline)) / baseline,
    publishMsPerStep: publishMs.dashboards / Math.max(1, withDashboards.steps),
    coordinatorSharePercent: (100 * mean(measured.map((p) => p.coordinatorMs))) / mean(measured.map((p) => p.stepMs)),
    dashboardSummary,
    workerSummary,
    stepsWhileSubscribed,
    coordinatorRssMb: { before: rssBefore, peak: rssPeak },
    imagesOnce,
    joined: coordinator.metrics.events.filter((event) => event.event === 'join').length,
  };
}
