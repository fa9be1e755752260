/**
 * Faults at a chosen step, each one command with --chaos (packages/coordinator/src/chaos.ts,
 * packages/worker/src/chaos.ts), with real processes on 127.0.0.1:
 *
 * - `convoy start --workers 3 --chaos kill:worker2@step4,exit:worker3@step8`: SIGKILL and a
 *   clean exit of two of three local workers in one run;
 * - a worker SIGSTOPped at step 6 and SIGCONTed 1.5 s later (it misses its deadline);
 * - a worker that answers with a NaN gradient, answers twice, re-sends a stale answer, and
 *   drops its connection in the middle of a frame (then reconnects);
 * - the coordinator SIGKILLed right after step 8 and resumed.
 *
 * After each: training finishes, history.jsonl counts every global batch exactly once
 * (per-step image counts are the answers' own counts), and the final parameters equal an
 * undisturbed run's: up to float summation order when slices were recomputed elsewhere
 * (1e-5 relative), bit for bit for the resumed one-worker run.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  checkEveryImageOnce,
  finalParams,
  readHistory,
  relativeDifference,
  smallRunArgs,
  stepRecords,
  writeSpec,
  type HistoryLine,
} from '../distributed/helpers.js';
import {
  START_CLI,
  run,
  startCoordinator,
  startWorker,
  tempDir,
  type Proc,
} from '../support/processes.js';

const dir = tempDir('hardening-faults');
const spec = writeSpec(dir);
const started: Proc[] = [];
const TOTAL_STEPS = 26; // 1200 images, batch 96, 2 epochs
let baselineOut: string;
let baseline: Float32Array;

function track<T extends Proc>(proc: T): T {
  started.push(proc);
  return proc;
}

afterAll(() => started.forEach((proc) => proc.child.kill('SIGKILL')));

beforeAll(async () => {
  baselineOut = `${dir}/baseline`;
  const coordinator = track(await startCoordinator(smallRunArgs(spec, baselineOut)));
  track(startWorker(coordinator.url));
  expect(await coordinator.exited, coordinator.output()).toBe(0);
  baseline = finalParams(baselineOut);
}, 60_000);

function events(out: string, name: string): HistoryLine[] {
  return readHistory(out).filter((line) => line.kind === 'event' && line.event === name);
}

/** The id the coordinator gave the worker whose name ends with `suffix` (from its first join event). */
function workerId(out: string, suffix: string): number {
  const join = events(out, 'join').find((event) => String(event.detail).split(' at ')[0]!.endsWith(suffix));
  if (join === undefined) throw new Error(`no join event for a worker named *${suffix}`);
  return join.workerId!;
}

function checkRun(out: string, exact = false): void {
  expect(checkEveryImageOnce(stepRecords(out), 1200, 96, TOTAL_STEPS)).toBeNull();
  const params = finalParams(out);
  expect(params.every(Number.isFinite)).toBe(true);
  if (exact) expect(Buffer.from(params.buffer, params.byteOffset, params.byteLength).equals(Buffer.from(baseline.buffer, baseline.byteOffset, baseline.byteLength))).toBe(true);
  else expect(relativeDifference(baseline, params)).toBeLessThan(1e-5);
}

describe('faults at a chosen step', () => {
  it('start --chaos: a local worker SIGKILLed at step 4 and another leaving cleanly at step 8', async () => {
    const out = `${dir}/workers`;
    const args = [...smallRunArgs(spec, out), '--port', '0', '--workers', '3', '--chaos', 'kill:worker2@step4,exit:worker3@step8'];
    const coordinator = track(run(START_CLI, args));
    expect(await coordinator.exited, coordinator.output()).toBe(0);
    for (const line of ['kill at step 4', 'exit at step 8']) expect(coordinator.output()).toContain(`worker chaos: ${line}`);
    const killed = workerId(out, 'local-2');
    const leaver = workerId(out, 'local-3');
    expect(events(out, 'death').filter((event) => event.workerId === killed).map((event) => event.step)).toEqual([4]);
    expect(events(out, 'leave').filter((event) => event.workerId === leaver).map((event) => event.step)).toEqual([8]);
    expect(stepRecords(out).at(-1)!.workers).toBe(1);
    checkRun(out);
  }, 60_000);

  it('a worker SIGSTOPped at step 6 for 1.5 s (SIGCONT after): deadline missed, late answer ignored, it works again', async () => {
    const out = `${dir}/pause`;
    const args = [...smallRunArgs(spec, out), '--min-workers', '2', '--deadline-min', '600', '--heartbeat', '5000'];
    const coordinator = track(await startCoordinator(args));
    track(startWorker(coordinator.url, ['--chaos-delay', '100']));
    const paused = track(startWorker(coordinator.url, ['--chaos-delay', '100', '--chaos', 'pause@step6:1500ms']));
    expect(await coordinator.exited, coordinator.output()).toBe(0);
    expect(await paused.exited, paused.output()).toBe(0);
    const id = workerId(out, `-${paused.pid}`);
    expect(events(out, 'deadline-miss').filter((event) => event.workerId === id).map((event) => event.step)).toEqual([6]);
    expect(events(out, 'death')).toEqual([]);
    // Back after SIGCONT: it shares the last steps again.
    expect(stepRecords(out).at(-1)!.workers).toBe(2);
    checkRun(out);
  }, 60_000);

  it('a worker answering NaN, twice, stale, and cut mid-frame: refused, told why, its slices recomputed', async () => {
    const out = `${dir}/answers`;
    const coordinator = track(await startCoordinator([...smallRunArgs(spec, out), '--min-workers', '2']));
    // NOTE: the honest worker is slowed (150 ms a step) so that the 13 steps after the cut take
    // longer than the rogue's reconnect backoff; on a quiet machine the run otherwise ended
    // before it rejoined, and the rogue, retrying a coordinator that was gone, never exited.
    track(startWorker(coordinator.url, ['--chaos-delay', '150']));
    const rogue = track(startWorker(coordinator.url, ['--chaos', 'nan@step3,double@step6,stale@step9,cut@step13', '--retry-for', '20']));
    expect(await coordinator.exited, coordinator.output()).toBe(0);
    expect(await rogue.exited, rogue.output()).toBe(0);
    const log = rogue.output();
    expect(log).toMatch(/the coordinator reports NOT_FINITE: gradient\.gradient\[\d+\] is NaN/);
    // The second copy (double) and the re-sent step-9 answer (stale) are refused and change nothing.
    expect(log.match(/the coordinator reports BAD_SLICE: answer to round \d+, which is not the round assigned/g)).toHaveLength(2);
    // Half a frame, then the TCP connection dropped: a death at step 13, and the worker rejoins.
    const id = workerId(out, `-${rogue.pid}`);
    expect(events(out, 'death').filter((event) => event.workerId === id).map((event) => event.step)).toEqual([13]);
    expect(events(out, 'join').filter((event) => String(event.detail).includes(`-${rogue.pid} `)).map((event) => event.step! >= 13)).toEqual([false, true]);
    checkRun(out);
  }, 60_000);

  it('coordinator SIGKILLed right after step 8 (--chaos kill:coordinator@step8), resumed: same final parameters', async () => {
    const out = `${dir}/coordinator`;
    const args = smallRunArgs(spec, out, ['--checkpoint-every', '3']);
    const first = track(await startCoordinator([...args, '--chaos', 'kill:coordinator@step8']));
    // Slowed steps (150 ms each): checkpoints are written off the step's path, and on a busy
    // disk step 3's (synced) write outlasted five fast steps of this small model.
    const worker = track(startWorker(first.url, ['--retry-for', '60', '--chaos-delay', '150']));
    expect(await first.exited).toBe(128 + 9);
    expect(stepRecords(out).map((record) => record.step)).toEqual([1, 2, 3, 4, 5, 6, 7, 8]);
    const second = track(await startCoordinator([...args, '--resume', '--port', String(first.port)]));
    // The newest checkpoint of steps 3 and 6: checkpoints are written off the step's path, so
    // step 6's may still be waiting for step 3's write when the coordinator is killed at step 8.
    const resumedAt = Number(/resuming at step (\d+)\b/.exec(second.output())?.[1]);
    expect([3, 6], second.output()).toContain(resumedAt);
    expect(await second.exited, second.output()).toBe(0);
    expect(await worker.exited, worker.output()).toBe(0);
    // The steps after that checkpoint were done twice, recorded once; the losses are the undisturbed run's.
    checkRun(out, true);
    expect(stepRecords(out).map((record) => record.loss)).toEqual(stepRecords(baselineOut).map((record) => record.loss));
  }, 60_000);
});
