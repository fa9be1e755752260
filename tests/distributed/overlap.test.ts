/**
 * `--overlap` with real coordinator and worker processes: step t+1's slices go out before step
 * t's update, so every step but an epoch's first computes with the parameters one update
 * behind (replica runs extrapolate them one update ahead: a lookahead step). The run is still
 * one run whatever the workers: 1 worker on 2 threads (whose frames wait while its threads
 * compute) and 2 workers give the same parameters and loss curve; the replicas of a topk run
 * stay bit-identical, and a drifted one is still caught. Losses of the first steps are checked
 * against the worker's engine run here on the parameters each step should have used.
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { REPLICA_CHECK_EVERY, Rng, createModel, mixSeed, selectKernels } from '../../packages/core/src/index.js';
import { extrapolate } from '../../packages/core/src/wire/lookahead.js';
import { loadMnist, readCheckpoint } from '../../packages/core/src/node.js';
import { dropoutSeedsOf } from '../../packages/coordinator/src/step-job.js';
import { SHUFFLE_STREAM } from '../../packages/coordinator/src/trainer.js';
import { ComputeEngine } from '../../packages/worker/src/compute.js';
import { checkEveryImageOnce, finalParams, readHistory, relativeDifference, smallRunArgs, stepRecords, stepsDone, until, writeSpec } from './helpers.js';
import { startCoordinator, startWorker, tempDir, type Proc } from '../support/processes.js';

const dir = tempDir('overlap');
const spec = writeSpec(dir);
const started: Proc[] = [];
afterAll(() => started.forEach((proc) => proc.child.kill('SIGKILL')));

/** A run with one worker per entry of `workers` (its extra flags); returns its folder. */
async function train(name: string, workers: readonly (readonly string[])[], extra: readonly string[]): Promise<string> {
  const out = join(dir, name);
  const coordinator = await startCoordinator([...smallRunArgs(spec, out, extra), '--min-workers', String(workers.length)]);
  started.push(coordinator);
  const procs = workers.map((flags) => startWorker(coordinator.url, [...flags]));
  started.push(...procs);
  expect(await coordinator.exited, coordinator.output()).toBe(0);
  for (const proc of procs) expect(await proc.exited, proc.output()).toBe(0);
  return out;
}

/**
 * The mean loss of step `step`'s batch (of epoch 1) with `params`, computed here on the
 * worker's engine: the order and dropout seeds the coordinator draws, from smallRunArgs' seed 7.
 */
function batchLoss(step: number, params: Float32Array): number {
  const kernels = selectKernels('ts');
  const data = loadMnist();
  const engine = new ComputeEngine(createModel(JSON.parse(readFileSync(spec, 'utf8')), { kernels }).spec, params.length, data, kernels);
  const order = new Rng(mixSeed(7, SHUFFLE_STREAM)).permutation(1200);
  const indices = order.subarray((step - 1) * 96, step * 96);
  const answer = engine.step({ type: 'step', step, round: 1, epoch: 1, version: 0, params, indices, dropoutSeeds: dropoutSeedsOf(7, step, 96) }, 0);
  return answer.lossSum / answer.count;
}

const losses = (out: string) => stepRecords(out).map((record) => record.loss!);
const driftEvents = (out: string) => readHistory(out).filter((line) => line.kind === 'event' && line.event === 'replica-drift');

describe('--overlap', () => {
  it('1 worker on 2 threads and 2 workers give the same parameters (1e-5) and loss curve; not the run without it', async () => {
    const plain = await train('plain', [[]], []);
    const one = await train('one', [['--threads', '2']], ['--overlap', '--overlap-after', '0']);
    const two = await train('two', [[], []], ['--overlap', '--overlap-after', '0']);
    // 1200 images, batch 96, 2 epochs: 13 steps per epoch.
    for (const out of [one, two]) expect(checkEveryImageOnce(stepRecords(out), 1200, 96, 26)).toBeNull();
    expect(stepRecords(two).some((record) => record.workers === 2)).toBe(true);
    expect(relativeDifference(finalParams(one), finalParams(two))).toBeLessThan(1e-5);
    for (const [i, loss] of losses(two).entries()) expect(Math.abs(loss - losses(one)[i]!) / losses(one)[i]!).toBeLessThan(1e-5);
    // Computed here: step 2 with the initial parameters under --overlap, with step 1's update
    // without it; step 3 with step 1's update under --overlap (one update behind).
    const initial = createModel(JSON.parse(readFileSync(spec, 'utf8')), { seed: 7, kernels: selectKernels('ts') }).params;
    const afterStep1 = finalParams(await train('one-step', [[]], ['--max-steps', '1']));
    const close = (actual: number, expected: number) => expect(Math.abs(actual - expected) / expected).toBeLessThan(1e-6);
    close(losses(plain)[1]!, batchLoss(2, afterStep1));
    close(losses(one)[1]!, batchLoss(2, initial));
    close(losses(one)[2]!, batchLoss(3, afterStep1));
    expect(Math.abs(losses(one)[1]! - losses(plain)[1]!) / losses(plain)[1]!).toBeGreaterThan(1e-4);
    expect(relativeDifference(finalParams(one), finalParams(plain))).toBeGreaterThan(1e-4);
    // It trained, and the run and its checkpoint say how.
    expect(losses(one).at(-1)!).toBeLessThan(losses(one)[0]! * 0.9);
    expect(readHistory(one).find((line) => line.kind === 'run')!['overlap']).toBe(true);
    expect(readHistory(plain).find((line) => line.kind === 'run')!['overlap']).toBeUndefined();
    expect(readCheckpoint(join(one, 'checkpoint.ckpt')).settings['overlap']).toBe(true);
  }, 120_000);

  it(`topk: lookahead steps compute with extrapolated parameters; replicas stay bit-identical with a step always in flight, and a drift (drift@step3) is caught at the check of version ${REPLICA_CHECK_EVERY}`, async () => {
    const steady = await train('topk', [['--threads', '2'], []], ['--wire', 'topk', '--overlap', '--overlap-after', '0', '--epochs', '4']);
    expect(checkEveryImageOnce(stepRecords(steady), 1200, 96, 52)).toBeNull();
    expect(driftEvents(steady)).toEqual([]);
    // Computed here: step 2 with the initial parameters (no update yet to extrapolate), step 3
    // with step 1's update extrapolated one update ahead (2 x after - before). The same two
    // workers' first step, alone, gives the parameters after step 1 (each worker's top-k depends on its slice).
    const initial = createModel(JSON.parse(readFileSync(spec, 'utf8')), { seed: 7, kernels: selectKernels('ts') }).params;
    const afterStep1 = finalParams(await train('topk-one-step', [[], []], ['--wire', 'topk', '--max-steps', '1']));
    const close = (actual: number, expected: number) => expect(Math.abs(actual - expected) / expected).toBeLessThan(1e-6);
    close(losses(steady)[1]!, batchLoss(2, initial));
    close(losses(steady)[2]!, batchLoss(3, extrapolate(new Float32Array(initial.length), afterStep1, initial)));
    expect(Math.abs(losses(steady)[2]! - batchLoss(3, afterStep1)) / losses(steady)[2]!).toBeGreaterThan(1e-4);
    const drifted = await train('topk-drift', [['--chaos', 'drift@step3'], []], ['--wire', 'topk', '--overlap', '--overlap-after', '0', '--epochs', '4']);
    const drifts = driftEvents(drifted);
    expect(drifts).toHaveLength(1);
    // Version 20 is step 22's: epoch 2 runs steps 14 (after the epoch's drain, version 13) to 26, step k with version k - 2.
    expect(drifts[0]!.step).toBe(REPLICA_CHECK_EVERY + 2);
    expect(drifts[0]!.detail).toMatch(new RegExp(`parameters of version ${REPLICA_CHECK_EVERY} hash to`));
    expect(checkEveryImageOnce(stepRecords(drifted), 1200, 96, 52)).toBeNull();
  }, 120_000);

  it('topk: a worker killed with two slices owed and a worker joining mid-run (full state): every image once, replicas never drifting', async () => {
    const out = join(dir, 'faults');
    const slow = ['--chaos-delay', '150'];
    // 4 epochs: time enough after the join for the joiner to start (slow under load) and compute.
    const coordinator = await startCoordinator([...smallRunArgs(spec, out, ['--wire', 'topk', '--overlap', '--overlap-after', '0', '--epochs', '4']), '--min-workers', '2']);
    started.push(coordinator);
    started.push(startWorker(coordinator.url, slow));
    const victim = startWorker(coordinator.url, slow);
    started.push(victim);
    await until(() => stepsDone(out) >= 4, 30_000, 'step 4');
    victim.child.kill('SIGKILL');
    await until(() => stepsDone(out) >= 8, 30_000, 'step 8');
    const joiner = startWorker(coordinator.url, slow);
    started.push(joiner);
    expect(await coordinator.exited, coordinator.output()).toBe(0);
    expect(await joiner.exited, joiner.output()).toBe(0);
    const events = readHistory(out).filter((line) => line.kind === 'event');
    const joins = events.filter((line) => line.event === 'join');
    expect(joins).toHaveLength(3);
    expect(events.map((line) => line.event)).toContain('death');
    expect(events.map((line) => line.event)).not.toContain('replica-drift');
    const steps = stepRecords(out);
    expect(checkEveryImageOnce(steps, 1200, 96, 52)).toBeNull();
    // The joiner computed: steps after its join had two workers again.
    expect(steps.some((record) => record.step! > joins[2]!.step! && record.workers === 2)).toBe(true);
  }, 90_000);
});
