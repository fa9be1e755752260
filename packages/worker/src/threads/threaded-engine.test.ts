/**
 * The threaded engine against the one-thread engine: real worker threads, real kernels,
 * the real MNIST files. Two threads must give the one-thread gradient up to float
 * summation order, and a thread that fails or dies must fail the job (never hang).
 */
import { MNIST_CNN_DROPOUT, countParameters, createModel, type StepMessage, selectKernels } from '@convoy/core';
import { afterAll, describe, expect, it } from 'vitest';
import { ComputeEngine, type WorkerData } from '../compute.js';
import { loadLocalData } from '../dataset.js';
import { ComputeThreads } from './pool.js';
import { ThreadedEngine } from './threaded-engine.js';
import { relativeDifference } from '../../../../tests/distributed/helpers.js';

const spec = MNIST_CNN_DROPOUT;
const paramCount = countParameters(spec);
const data: WorkerData = loadLocalData(undefined, true).data;
const params = createModel(spec, { seed: 3, kernels: selectKernels('ts') }).params.slice();
const pools: ComputeThreads[] = [];
afterAll(() => Promise.all(pools.map((pool) => pool.close())));

/** An engine on `threads` fresh compute threads (the last one exiting at step `exitAtStep`). */
function threaded(threads: number, exitAtStep?: number): ThreadedEngine {
  const pool = new ComputeThreads({ threads, kernels: 'auto', ...(exitAtStep === undefined ? {} : { exitAtStep }) });
  pools.push(pool);
  return new ThreadedEngine(spec, paramCount, data, pool);
}

/** A step over `count` training images from `first` on (every 7th image), with dropout seeds. */
function stepMessage(step: number, count: number, withParams: boolean): StepMessage {
  const indices = Uint32Array.from({ length: count }, (_, i) => (step * 1000 + i * 7) % data.train.count);
  const dropoutSeeds = Uint32Array.from({ length: count }, (_, i) => step * 7919 + i);
  return { type: 'step', step, round: step, epoch: 1, version: step, ...(withParams ? { params } : {}), indices, dropoutSeeds };
}

describe('a slice on 1 thread and on 2 threads (default model with dropout, real worker threads)', () => {
  it('give the same gradient (1e-6 relative), loss and count of correct images', async () => {
    const one = new ComputeEngine(spec, paramCount, data, selectKernels('auto'));
    const two = threaded(2);
    const message = stepMessage(1, 75, true);
    const expected = one.step(message, 0);
    const expectedGradient = expected.gradient.slice();
    const answer = await two.step(message, 0);
    expect(answer.count).toBe(75);
    expect(answer.correct).toBe(expected.correct);
    expect(Math.abs(answer.lossSum - expected.lossSum) / expected.lossSum).toBeLessThan(1e-6);
    expect(relativeDifference(expectedGradient, answer.gradient)).toBeLessThan(1e-6);
    // Not a zero or constant gradient: the comparison above means something.
    expect(expectedGradient.some((value) => Math.abs(value) > 1e-3)).toBe(true);
  });

  it('the next step on the same parameters (none sent) and 3 uneven parts agree too', async () => {
    const one = new ComputeEngine(spec, paramCount, data, selectKernels('auto'));
    const three = threaded(3);
    const first = stepMessage(2, 10, true);
    one.step(first, 0);
    await three.step(first, 0);
    const second = { ...stepMessage(2, 31, false), step: 3, round: 3 };
    const expected = one.step(second, 0);
    const expectedGradient = expected.gradient.slice();
    const answer = await three.step(second, 0);
    expect(answer.correct).toBe(expected.correct);
    expect(relativeDifference(expectedGradient, answer.gradient)).toBeLessThan(1e-6);
    // Fewer images than threads: two parts of one image, the third thread idle.
    const tiny = await three.step({ ...stepMessage(4, 2, false), version: 2 }, 0);
    expect(tiny.count).toBe(2);
    const oneTiny = one.step({ ...stepMessage(4, 2, false), version: 2 }, 0);
    expect(relativeDifference(oneTiny.gradient.slice(), tiny.gradient)).toBeLessThan(1e-6);
  });

  it('evaluate: the same predictions in slice order, loss and correct count', async () => {
    const one = new ComputeEngine(spec, paramCount, data, selectKernels('auto'));
    const two = threaded(2);
    const message = { type: 'evaluate', round: 1, split: 'test', version: 5, params, indices: Uint32Array.from({ length: 101 }, (_, i) => i * 13) } as const;
    const expected = one.evaluate(message);
    const answer = await two.evaluate(message);
    expect([...answer.predictions]).toEqual([...expected.predictions]);
    expect(answer.correct).toBe(expected.correct);
    expect(Math.abs(answer.lossSum - expected.lossSum) / expected.lossSum).toBeLessThan(1e-9);
  });

  it('refuses stale parameters like the one-thread engine', async () => {
    const two = threaded(2);
    await expect(two.step(stepMessage(1, 4, false), 0)).rejects.toMatchObject({ code: 'STALE_PARAMETERS' });
  });
});

describe('a failing compute thread', () => {
  it('an error in a thread fails the job with its code and the thread named', async () => {
    const two = threaded(2);
    const message = stepMessage(1, 6, true);
    // Image 60000 does not exist: the second part's thread throws (the protocol refuses it before a real worker sees it).
    message.indices[5] = data.train.count;
    await expect(two.step(message, 0)).rejects.toMatchObject({ code: 'BAD_DATA', message: expect.stringMatching(/^compute thread 2: .*image index 60000/) });
    // The threads live on: the next job is answered.
    expect((await two.step({ ...stepMessage(2, 6, false), version: 1 }, 0)).count).toBe(6);
  });

  it('a thread that dies fails the job in progress and every later one with THREAD_FAILED, without hanging', async () => {
    const two = threaded(2, 2);
    expect((await two.step(stepMessage(1, 8, true), 0)).count).toBe(8);
    await expect(two.step(stepMessage(2, 8, true), 0)).rejects.toMatchObject({ code: 'THREAD_FAILED', message: 'compute thread 2 exited (code 1)' });
    await expect(two.step(stepMessage(3, 8, true), 0)).rejects.toMatchObject({ code: 'THREAD_FAILED' });
    // An engine for another model on the same threads fails too, at once.
    await expect(new ThreadedEngine(spec, paramCount, data, pools.at(-1)!).step(stepMessage(4, 8, true), 0)).rejects.toMatchObject({ code: 'THREAD_FAILED' });
  });

  it('a thread that cannot start (no such kernels) fails the threads before any job', async () => {
    const pool = new ComputeThreads({ threads: 2, kernels: 'no-such-kernels' as 'auto' });
    pools.push(pool);
    await expect(pool.ready).rejects.toMatchObject({ code: 'THREAD_FAILED', message: expect.stringMatching(/^compute thread \d failed: unknown kernels 'no-such-kernels'/) });
  });

  it('a new engine (another model) on the same threads: the threads build it and answer with it', async () => {
    const pool = new ComputeThreads({ threads: 2, kernels: 'auto' });
    pools.push(pool);
    await new ThreadedEngine(spec, paramCount, data, pool).step(stepMessage(1, 4, true), 0);
    const other = { ...spec, layers: spec.layers.map((layer) => (layer.type === 'dense' && layer.activation !== 'softmax' ? { ...layer, units: 64 } : layer)) };
    const otherCount = countParameters(other);
    const otherParams = createModel(other, { seed: 4, kernels: selectKernels('ts') }).params.slice();
    const message = { ...stepMessage(2, 9, true), params: otherParams };
    const expected = new ComputeEngine(other, otherCount, data, selectKernels('auto')).step(message, 0);
    const expectedGradient = expected.gradient.slice();
    const answer = await new ThreadedEngine(other, otherCount, data, pool).step(message, 0);
    expect(answer.gradient.length).toBe(otherCount);
    expect(relativeDifference(expectedGradient, answer.gradient)).toBeLessThan(1e-6);
  });
});
