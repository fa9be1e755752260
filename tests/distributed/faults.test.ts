/**
 * Membership faults during training, with real processes: a worker killed (SIGKILL) in the
 * middle of a step, a worker joining mid-run, a worker stopped (SIGSTOP) past its deadline.
 * After each, training finishes, every global batch is counted exactly once, and the final
 * parameters equal an undisturbed run's up to float summation order.
 *
 * The workers block 150 ms per step (--chaos-delay), so a step lasts long enough for a
 * fault to land inside it.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  checkEveryImageOnce,
  finalParams,
  readHistory,
  relativeDifference,
  smallRunArgs,
  stepRecords,
  stepsDone,
  until,
  writeSpec,
} from './helpers.js';
import { startCoordinator, startWorker, tempDir, type Proc } from '../support/processes.js';

const dir = tempDir('faults');
const spec = writeSpec(dir);
const started: Proc[] = [];
let baseline: Float32Array;
const TOTAL_STEPS = 26; // 1200 images, batch 96, 2 epochs
const SLOW = ['--chaos-delay', '150'];

function track<T extends Proc>(proc: T): T {
  started.push(proc);
  return proc;
}

afterAll(() => started.forEach((proc) => proc.child.kill('SIGKILL')));

beforeAll(async () => {
  const out = `${dir}/baseline`;
  const coordinator = track(await startCoordinator(smallRunArgs(spec, out)));
  track(startWorker(coordinator.url));
  expect(await coordinator.exited, coordinator.output()).toBe(0);
  baseline = finalParams(out);
}, 60_000);

function checkRun(out: string): void {
  expect(checkEveryImageOnce(stepRecords(out), 1200, 96, TOTAL_STEPS)).toBeNull();
  expect(relativeDifference(baseline, finalParams(out))).toBeLessThan(1e-5);
}

describe('membership faults', () => {
  it('a worker killed with SIGKILL mid-step: its slice is recomputed within the same step', async () => {
    const out = `${dir}/sigkill`;
    const coordinator = track(await startCoordinator([...smallRunArgs(spec, out), '--min-workers', '2']));
    track(startWorker(coordinator.url, SLOW));
    const victim = track(startWorker(coordinator.url, SLOW));
    await until(() => stepsDone(out) >= 4, 30_000, 'step 4');
    victim.child.kill('SIGKILL');
    expect(await coordinator.exited, coordinator.output()).toBe(0);
    const death = readHistory(out).find((line) => line.kind === 'event' && line.event === 'death');
    expect(death, 'a death event').toBeDefined();
    expect(String(death!.detail)).toMatch(/its slice of \d+ images goes to the others/);
    const steps = stepRecords(out);
    expect(steps.at(-1)!.workers).toBe(1);
    checkRun(out);
  }, 60_000);

  it('a worker that joins mid-run gets the parameters and slices from then on', async () => {
    const out = `${dir}/join`;
    const coordinator = track(await startCoordinator(smallRunArgs(spec, out)));
    track(startWorker(coordinator.url, SLOW));
    await until(() => stepsDone(out) >= 3, 30_000, 'step 3');
    track(startWorker(coordinator.url, SLOW));
    expect(await coordinator.exited, coordinator.output()).toBe(0);
    const joins = readHistory(out).filter((line) => line.kind === 'event' && line.event === 'join');
    expect(joins).toHaveLength(2);
    expect(joins[1]!.step!).toBeGreaterThanOrEqual(3);
    const steps = stepRecords(out);
    expect(steps.filter((record) => record.step! < joins[1]!.step!).every((record) => record.workers === 1)).toBe(true);
    expect(steps.at(-1)!.workers).toBe(2);
    checkRun(out);
  }, 60_000);

  it('a worker stopped with SIGSTOP misses its deadline: the others take its slice, training goes on', async () => {
    const out = `${dir}/sigstop`;
    const args = [...smallRunArgs(spec, out), '--min-workers', '2', '--deadline-min', '800', '--heartbeat', '3000'];
    const coordinator = track(await startCoordinator(args));
    track(startWorker(coordinator.url, SLOW));
    const straggler = track(startWorker(coordinator.url, SLOW));
    await until(() => stepsDone(out) >= 4, 30_000, 'step 4');
    straggler.child.kill('SIGSTOP');
    expect(await coordinator.exited, coordinator.output()).toBe(0);
    straggler.child.kill('SIGKILL');
    const events = readHistory(out).filter((line) => line.kind === 'event');
    const miss = events.find((line) => line.event === 'deadline-miss');
    expect(miss, JSON.stringify(events)).toBeDefined();
    // It names where the worker was last seen: its step frame went out, and it has been silent since.
    expect(String(miss!.detail)).toMatch(/last seen in compute \(step frame written \d+ ms after sending, silent for \d+ ms\)/);
    // The heartbeat then finds it silent and drops it.
    expect(events.some((line) => line.event === 'death' && line.workerId === miss!.workerId)).toBe(true);
    checkRun(out);
  }, 60_000);
});
