/**
 * End to end: `convoy start` with 2 local worker processes trains on a subset for a bounded
 * number of steps and reaches a stated validation accuracy; and a worker without local
 * data receives the dataset from the coordinator once and trains.
 */
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { CONV8_SPEC, readHistory, smallRunArgs, writeSpec } from './helpers.js';
import { START_CLI, run, startCoordinator, startWorker, tempDir, type Proc } from '../support/processes.js';

const dir = tempDir('e2e');
const started: Proc[] = [];
afterAll(() => started.forEach((proc) => proc.child.kill('SIGKILL')));

/** One conv layer, 13,610 parameters: enough for well over 90% on MNIST in two short epochs. */
describe('end to end', () => {
  it('pnpm start with 2 local workers reaches 93% validation accuracy in 188 steps on 6,000 images', async () => {
    const out = join(dir, 'start');
    const spec = writeSpec(join(dir), CONV8_SPEC);
    const args = ['--workers', '2', '--port', '0', '--model', spec, '--kernels', 'ts', '--out', out, '--train-size', '6000',
      '--validation-size', '2000', '--test-size', '2000', '--batch', '64', '--epochs', '2', '--optimizer', 'adam', '--lr', '0.005', '--lr-schedule', 'step', '--seed', '3'];
    const proc = run(START_CLI, args);
    started.push(proc);
    expect(await proc.exited, proc.output()).toBe(0);
    const history = readHistory(out);
    const epochs = history.filter((line) => line.kind === 'epoch');
    expect(epochs).toHaveLength(2);
    expect(epochs[1]!.validationAccuracy!).toBeGreaterThanOrEqual(0.93);
    const steps = history.filter((line) => line.kind === 'step');
    expect(steps).toHaveLength(2 * Math.ceil(6000 / 64));
    expect(steps.filter((record) => record.workers === 2).length).toBeGreaterThan(steps.length / 2);
    // Bytes per step: each worker that took part sent a float32 gradient (13,610 x 4 bytes) and
    // got the parameters as large, except in an epoch's first step (the validation before it
    // may have sent them); the step's totals are its workers' sum.
    expect(history.find((line) => line.kind === 'run')!['wire']).toBe('fp32');
    const floatBytes = 4 * 13_610;
    for (const record of steps) {
      const links = record['links'] as { workerId: number; bytesDown: number; bytesUp: number; rttMs: number }[];
      expect(links.length).toBeGreaterThanOrEqual(1);
      expect(record['bytesDown']).toBe(links.reduce((sum, link) => sum + link.bytesDown, 0));
      expect(record['bytesUp']).toBe(links.reduce((sum, link) => sum + link.bytesUp, 0));
      const afterValidation = epochs.some((epoch) => epoch.step === Number(record.step) - 1);
      for (const link of links) {
        expect(link.bytesUp).toBeGreaterThan(floatBytes);
        if (!afterValidation) expect(link.bytesDown).toBeGreaterThan(floatBytes);
      }
    }
    expect(steps.at(-1)!['links']).toEqual(expect.arrayContaining([expect.objectContaining({ rttMs: expect.any(Number) })]));
    const test = history.find((line) => line.kind === 'test');
    expect(test!.accuracy!).toBeGreaterThanOrEqual(0.9);
    for (const file of ['history.jsonl', 'checkpoint.ckpt', 'model.ckpt']) expect(existsSync(join(out, file))).toBe(true);
  }, 90_000);

  it('a worker without local data receives the dataset once and trains', async () => {
    const out = join(dir, 'no-local-data');
    const coordinator = await startCoordinator(smallRunArgs(writeSpec(dir), out, ['--max-steps', '6']));
    started.push(coordinator);
    const worker = startWorker(coordinator.url, ['--no-local-data']);
    started.push(worker);
    expect(await coordinator.exited, coordinator.output()).toBe(0);
    expect(await worker.exited, worker.output()).toBe(0);
    const history = readHistory(out);
    const join_ = history.find((line) => line.kind === 'event' && line.event === 'join');
    expect(String(join_!.detail)).toMatch(/dataset sent/);
    expect(history.filter((line) => line.kind === 'step')).toHaveLength(6);
    expect(history.find((line) => line.kind === 'test')).toBeDefined();
  }, 60_000);
});
