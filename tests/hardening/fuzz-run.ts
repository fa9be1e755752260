/**
 * An honest run under fuzzing, shared by the suite's fuzz test and `pnpm fuzz`: a real
 * coordinator process trains with one real worker (slowed by --chaos-delay so the run
 * outlasts the fuzzing) while a Fuzzer attacks its port; then the checks that the run is
 * untouched: the same final parameters as the run without the fuzzer, every image counted
 * once, the coordinator alive throughout and its exit clean. Checks return failures as text
 * so the command can print them all and the test can assert on each.
 */
import { readFileSync } from 'node:fs';
import {
  DEFAULT_LIMITS,
  FROM_COORDINATOR_TO_DASHBOARD,
  PROTOCOL_VERSION,
  datasetId,
  decodeMessage,
  encodeMessage,
} from '../../packages/core/src/index.js';
import { datasetHash, loadMnist } from '../../packages/core/src/node.js';
import {
  checkEveryImageOnce,
  finalParams,
  relativeDifference,
  smallRunArgs,
  stepRecords,
  stepsDone,
  WebSocket,
} from '../distributed/helpers.js';
import { startCoordinator, startWorker, type Proc } from '../support/processes.js';
import { MESSAGE_MUTATIONS, MUTATIONS, CELLS } from './fuzz-fields.js';
import { Fuzzer, type FuzzCounts } from './fuzzer.js';

export const FUZZ_TOKEN = 'fuzz-secret-token';
/** SMALL_SPEC's parameters (tests/distributed/helpers.ts). */
export const PARAM_COUNT = 1490;
export const TRAIN_SIZE = 1200;
export const BATCH = 96;
/** The coordinator's evaluation chunk (defaults.ts), the largest slice it accepts besides the batch. */
const EVALUATE_CHUNK = 1000;
/** The coordinator's frame limit for this run (server.ts): 4 bytes a parameter, 64 KiB of fields, 2 bytes an image of the largest slice. */
export const MAX_PAYLOAD = 4 * PARAM_COUNT + 64 * 1024 + 2 * Math.max(BATCH, EVALUATE_CHUNK);
/**
 * Relative parameter difference allowed when admitted fuzzing workers took slices: their slices
 * were recomputed elsewhere, so the same sums were added in other pieces (summation order).
 */
export const SUMMATION_TOLERANCE = 1e-5;

export interface HonestRun {
  readonly specPath: string;
  readonly epochs: number;
}

export const totalSteps = (run: HonestRun): number => run.epochs * Math.ceil(TRAIN_SIZE / BATCH);

export function honestArgs(run: HonestRun, out: string): string[] {
  const args = smallRunArgs(run.specPath, out, ['--token', FUZZ_TOKEN, '--deadline-first', '3000', '--deadline-min', '1000']);
  const epochs = args.indexOf('--epochs');
  args[epochs + 1] = String(run.epochs);
  return args;
}

/** The coordinator's dataset id, which an admitted fuzzing worker presents so it is not sent the dataset. */
export function mnistId(): string {
  const { train, test } = loadMnist();
  return datasetId(datasetHash(train), datasetHash(test));
}

/** The run without a fuzzer and without the delay: the parameters every fuzzed run must end with. */
export async function baselineRun(run: HonestRun, out: string, track: (proc: Proc) => void): Promise<{ params: Float32Array; exitCode: number; output: string }> {
  const coordinator = await startCoordinator(honestArgs(run, out));
  track(coordinator);
  track(startWorker(coordinator.url, ['--token', FUZZ_TOKEN]));
  const exitCode = await coordinator.exited;
  return { params: exitCode === 0 ? finalParams(out) : new Float32Array(0), exitCode, output: coordinator.output() };
}

/** Resident memory of a process, MB (Linux /proc); 0 once it has exited. */
export function rssMb(pid: number): number {
  try {
    const match = /VmRSS:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
    return match === null ? 0 : Number(match[1]) / 1024;
  } catch {
    return 0;
  }
}

async function healthy(port: number): Promise<boolean> {
  try {
    const response = await fetch(`http://127.0.0.1:${port}/health`, { signal: AbortSignal.timeout(10_000) });
    return ((await response.json()) as { ok?: unknown }).ok === true;
  } catch {
    return false;
  }
}

/**
 * What a dashboard opened now sees: null when its snapshot passes the page's parser, the
 * reason otherwise (a fuzzed frame that left an event the page refuses breaks every page
 * opened later).
 */
function freshDashboard(port: number): Promise<string | null> {
  return new Promise((resolve) => {
    const socket = new WebSocket(`ws://127.0.0.1:${port}`, { perMessageDeflate: false, maxPayload: 256 * 1024 * 1024 });
    const finish = (problem: string | null) => {
      clearTimeout(timer);
      socket.terminate();
      resolve(problem);
    };
    const timer = setTimeout(() => finish('no snapshot within 10 s'), 10_000);
    socket.on('error', (error: Error) => finish(`socket error: ${error.message}`));
    socket.on('open', () => socket.send(encodeMessage({ type: 'subscribe', protocol: PROTOCOL_VERSION, token: FUZZ_TOKEN })));
    socket.on('message', (data: Buffer) => {
      try {
        const message = decodeMessage(data, { ...DEFAULT_LIMITS, accept: FROM_COORDINATOR_TO_DASHBOARD });
        finish(message.type === 'snapshot' ? null : `answered ${message.type} instead of a snapshot`);
      } catch (error) {
        finish(`snapshot refused: ${(error as Error).message.slice(0, 200)}`);
      }
    });
  });
}

export interface FuzzedRun {
  readonly out: string;
  readonly fuzzer: Fuzzer;
  readonly seconds: number;
  /** Coordinator RSS, MB: when fuzzing began, the highest seen, and 2 s after it ended. */
  readonly rss: { readonly before: number; readonly peak: number; readonly after: number };
  readonly healthMidFuzz: boolean;
  readonly healthAfterFuzz: boolean;
  /** A dashboard opened after the fuzzing (while training): null when its snapshot parsed. */
  readonly dashboardAfterFuzz: string | null;
  readonly stepAtStart: number;
  /** Whether the run was still training when the fuzzer finished. */
  readonly trainingAtEnd: boolean;
  readonly coordinatorExit: number;
  readonly workerExit: number;
  readonly coordinatorOutput: string;
  readonly workerOutput: string;
}

/**
 * Starts the honest run with its worker slowed by `chaosDelayMs` a step, waits for its first
 * step, and runs `attack` with a predicate that is true while the run trains (and the coordinator's pid).
 */
export async function fuzzedRun(
  run: HonestRun,
  out: string,
  seed: number,
  chaosDelayMs: number,
  track: (proc: Proc) => void,
  attack: (fuzzer: Fuzzer, running: () => boolean, coordinatorPid: number) => Promise<void>,
): Promise<FuzzedRun> {
  const coordinator = await startCoordinator(honestArgs(run, out));
  track(coordinator);
  const worker = startWorker(coordinator.url, ['--token', FUZZ_TOKEN, '--chaos-delay', String(chaosDelayMs)]);
  track(worker);
  const steps = totalSteps(run);
  // NOTE: reading history.jsonl on every frame would cost more than the frames: it is polled.
  let done = 0;
  let exited = false;
  void coordinator.exited.then(() => (exited = true));
  const poll = setInterval(() => (done = stepsDone(out)), 200);
  while (done < 1 && !exited) await new Promise((resolve) => setTimeout(resolve, 50));
  const before = rssMb(coordinator.pid);
  let peak = before;
  const sampler = setInterval(() => (peak = Math.max(peak, rssMb(coordinator.pid))), 100);
  const fuzzer = new Fuzzer({ host: '127.0.0.1', port: coordinator.port, token: FUZZ_TOKEN, datasetId: mnistId(), paramCount: PARAM_COUNT, seed, maxPayload: MAX_PAYLOAD });
  const startedAt = Date.now();
  const stepAtStart = stepsDone(out);
  const running = () => !exited && done < steps;
  const attacking = attack(fuzzer, running, coordinator.pid);
  // Still serving mid-fuzz and mid-run: asked while the fuzzer's first frames are in flight.
  const healthMidFuzz = await healthy(coordinator.port);
  await attacking;
  const seconds = (Date.now() - startedAt) / 1000;
  const trainingAtEnd = running();
  const healthAfterFuzz = trainingAtEnd ? await healthy(coordinator.port) : true;
  const dashboardAfterFuzz = trainingAtEnd ? await freshDashboard(coordinator.port) : null;
  await new Promise((resolve) => setTimeout(resolve, 2_000));
  const after = rssMb(coordinator.pid);
  const coordinatorExit = await coordinator.exited;
  const workerExit = await worker.exited;
  clearInterval(sampler);
  clearInterval(poll);
  return {
    out, fuzzer, seconds, rss: { before, peak, after: after > 0 ? after : Number.NaN }, healthMidFuzz, healthAfterFuzz, dashboardAfterFuzz, stepAtStart, trainingAtEnd,
    coordinatorExit, workerExit, coordinatorOutput: coordinator.output(), workerOutput: worker.output(),
  };
}

/** A stack trace in a process's output: a crash, or an error printed as more than one line. */
const STACK_TRACE = /\n\s+at .+:\d+:\d+\)?\n/;

/** Every check of a fuzzed run; an empty list when all pass. */
export function runFailures(result: FuzzedRun, run: HonestRun, baseline: Float32Array, bitForBit: boolean): string[] {
  const failures: string[] = [];
  const fail = (condition: boolean, what: string) => condition || failures.push(what);
  fail(result.coordinatorExit === 0, `the coordinator exited with ${result.coordinatorExit}`);
  fail(result.workerExit === 0, `the honest worker exited with ${result.workerExit}`);
  fail(!STACK_TRACE.test(result.coordinatorOutput), 'the coordinator printed a stack trace');
  fail(result.healthMidFuzz && result.healthAfterFuzz, '/health did not answer ok while fuzzing');
  fail(result.dashboardAfterFuzz === null, `a dashboard opened after the fuzzing: ${result.dashboardAfterFuzz}`);
  fail(result.stepAtStart < totalSteps(run), 'the fuzzing began after training ended');
  fail(!/reports/.test(result.workerOutput), 'the honest worker heard of the fuzzers\' frames');
  if (result.coordinatorExit !== 0) return failures;
  const once = checkEveryImageOnce(stepRecords(result.out), TRAIN_SIZE, BATCH, totalSteps(run));
  fail(once === null, `images not counted once: ${once}`);
  const params = finalParams(result.out);
  if (bitForBit) {
    const same = Buffer.from(params.buffer, params.byteOffset, params.byteLength).equals(Buffer.from(baseline.buffer, baseline.byteOffset, baseline.byteLength));
    fail(same, `final parameters differ from the run without the fuzzer (relative ${relativeDifference(baseline, params).toExponential(2)})`);
  } else {
    const difference = relativeDifference(baseline, params);
    fail(difference < SUMMATION_TOLERANCE, `final parameters differ from the run without the fuzzer by ${difference.toExponential(2)} (relative), above ${SUMMATION_TOLERANCE}`);
  }
  return failures;
}

/** Frames sent by kind, how the coordinator answered and closed, and RSS. */
export function summary(name: string, counts: FuzzCounts, seconds: number, rss: FuzzedRun['rss']): string {
  const sent = Object.entries(counts).filter(([kind]) => !kind.startsWith('closed') && !kind.startsWith('answered'));
  const closes = Object.entries(counts).filter(([kind]) => kind.startsWith('closed'));
  const answers = Object.entries(counts).filter(([kind]) => kind.startsWith('answered'));
  const total = sent.filter(([kind]) => kind !== 'silent connections').reduce((sum, [, n]) => sum + n, 0);
  return (
    `fuzz ${name}: ${total} frames in ${seconds.toFixed(1)} s; coordinator RSS ${rss.before.toFixed(0)} -> peak ${rss.peak.toFixed(0)} -> after ${rss.after.toFixed(0)} MB\n` +
    sent.map(([kind, n]) => `  ${kind.padEnd(36)} ${n}`).join('\n') +
    `\n  connections ${closes.map(([kind, n]) => `${kind}: ${n}`).join(', ')}` +
    `\n  coordinator ${answers.map(([kind, n]) => `${kind.replace('answered ', '')}: ${n}`).join(', ')}`
  );
}

/** The coverage table: one row per `type.field`, one column per mutation ('.' where it does not apply). */
export function coverageTable(fuzzer: Fuzzer): string {
  const columns = [...MUTATIONS, ...MESSAGE_MUTATIONS];
  const applies = new Set(CELLS.map((cell) => `${cell.type}.${cell.field}|${cell.mutation}`));
  const rows = [...new Set(CELLS.map((cell) => `${cell.type}.${cell.field}`))];
  const width = 13;
  const lines = [`${'type.field'.padEnd(24)}${columns.map((column) => column.padStart(width)).join('')}`];
  for (const row of rows) {
    const counts = fuzzer.coverage.get(row);
    const cells = columns.map((column) => (applies.has(`${row}|${column}`) ? String(counts?.get(column) ?? 0) : '.').padStart(width));
    lines.push(`${row.padEnd(24)}${cells.join('')}`);
  }
  return lines.join('\n');
}

/** Cells the campaign never sent (an empty list when coverage is complete). */
export function uncovered(fuzzer: Fuzzer): string[] {
  return CELLS.filter((cell) => (fuzzer.coverage.get(`${cell.type}.${cell.field}`)?.get(cell.mutation) ?? 0) === 0).map(
    (cell) => `${cell.type}.${cell.field} ${cell.mutation}`,
  );
}
