/**
 * The coordinator killed with SIGKILL mid-run and restarted with --resume: the worker
 * reconnects by itself (backoff), training continues from the last checkpoint, and the
 * final parameters are bit-for-bit those of an uninterrupted run (one worker, so even the
 * summation order is the same).
 */
import { afterAll, describe, expect, it } from 'vitest';
import {
  checkEveryImageOnce,
  finalParams,
  readHistory,
  smallRunArgs,
  stepRecords,
  stepsDone,
  until,
  writeSpec,
} from './helpers.js';
import { startCoordinator, startWorker, tempDir, type Proc } from '../support/processes.js';

const dir = tempDir('resume');
const spec = writeSpec(dir);
const started: Proc[] = [];
afterAll(() => started.forEach((proc) => proc.child.kill('SIGKILL')));

describe('coordinator crash and --resume', () => {
  // --overlap sends no step ahead of a checkpoint, so a resumed run computes what the run that wrote it did.
  it.each([
    ['', []],
    [' with --overlap', ['--overlap', '--overlap-after', '0']],
  ] as const)('reaches the same final parameters as an uninterrupted run%s', async (name, flags) => {
    const baselineOut = `${dir}/baseline${name.length}`;
    // The same checkpoints: under --overlap they shape the run (no step is sent ahead of one).
    const baseline = await startCoordinator(smallRunArgs(spec, baselineOut, ['--checkpoint-every', '3', ...flags]));
    started.push(baseline, startWorker(baseline.url));
    expect(await baseline.exited, baseline.output()).toBe(0);

    const out = `${dir}/crashed${name.length}`;
    const args = smallRunArgs(spec, out, ['--checkpoint-every', '3', ...flags]);
    const first = await startCoordinator(args);
    started.push(first);
    const worker = startWorker(first.url, ['--chaos-delay', '100', '--retry-for', '60']);
    started.push(worker);
    await until(() => stepsDone(out) >= 8, 30_000, 'step 8');
    first.child.kill('SIGKILL');
    expect(await first.exited).toBe(128 + 9);

    const second = await startCoordinator([...args, '--resume', '--port', String(first.port)]);
    started.push(second);
    expect(second.port).toBe(first.port);
    expect(await second.exited, second.output()).toBe(0);
    expect(await worker.exited, worker.output()).toBe(0);
    expect(second.output()).toMatch(/resuming at step (6|9)\b/);

    const params = finalParams(out);
    const expected = finalParams(baselineOut);
    expect(params.length).toBe(expected.length);
    expect(Buffer.from(params.buffer, params.byteOffset, params.byteLength).equals(Buffer.from(expected.buffer, expected.byteOffset, expected.byteLength))).toBe(true);
    // history.jsonl: steps 1..26 once each (the steps after the last checkpoint were redone, not duplicated).
    expect(checkEveryImageOnce(stepRecords(out), 1200, 96, 26)).toBeNull();
    const losses = stepRecords(out).map((record) => record.loss);
    expect(losses).toEqual(stepRecords(baselineOut).map((record) => record.loss));
    expect(readHistory(out).some((line) => line.kind === 'event' && line.event === 'coordinator-restart')).toBe(true);
  }, 90_000);
});
