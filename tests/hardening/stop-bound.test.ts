/**
 * Graceful stop is bounded (issue 18, finding 13): SIGTERM while the only worker is
 * SIGSTOPped in the middle of a step. The coordinator must not wait for that step (its
 * deadline here is 10 minutes): within STOP_WAIT_MS plus the shutdown it checkpoints the last
 * completed step, records end 'stopped' and exits 0.
 */
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { STOP_WAIT_MS } from '../../packages/coordinator/src/trainer.js';
import { readCheckpoint } from '../../packages/core/src/node.js';
import { readHistory, smallRunArgs, stepsDone, until, writeSpec } from '../distributed/helpers.js';
import { startCoordinator, startWorker, tempDir, type Proc } from '../support/processes.js';

const dir = tempDir('stop-bound');
const spec = writeSpec(dir);
const started: Proc[] = [];
afterAll(() => started.forEach((proc) => proc.child.kill('SIGKILL')));

/** What the coordinator may take beyond STOP_WAIT_MS: closing sockets (a stopped worker never answers the close: 2 s), the checkpoint, process exit. */
const SHUTDOWN_ALLOWANCE_MS = 5_000;

describe('graceful stop with the only worker silent', () => {
  it(`SIGTERM with the worker SIGSTOPped mid-step: exit 0 within STOP_WAIT_MS + ${SHUTDOWN_ALLOWANCE_MS / 1000} s, checkpoint of the last completed step, end 'stopped'`, async () => {
    const out = join(dir, 'run');
    // Long deadlines and heartbeat: nothing but the stop bound can end the step in progress.
    const coordinator = await startCoordinator([...smallRunArgs(spec, out), '--deadline-min', '600000', '--deadline-first', '600000', '--heartbeat', '600000']);
    started.push(coordinator);
    // Each answer takes at least 300 ms, so the SIGSTOP lands inside a step.
    const worker = startWorker(coordinator.url, ['--chaos-delay', '300']);
    started.push(worker);
    await until(() => stepsDone(out) >= 2, 30_000, 'step 2');
    worker.child.kill('SIGSTOP');
    await new Promise((resolve) => setTimeout(resolve, 400));
    const completed = stepsDone(out);
    const signalledAt = performance.now();
    coordinator.child.kill('SIGTERM');
    const code = await Promise.race([coordinator.exited, new Promise<string>((resolve) => setTimeout(() => resolve('still running'), 60_000))]);
    const stopMs = performance.now() - signalledAt;
    expect(code, coordinator.output()).toBe(0);
    expect(stopMs).toBeLessThan(STOP_WAIT_MS + SHUTDOWN_ALLOWANCE_MS);
    expect(coordinator.output()).toMatch(new RegExp(`stopped at step ${completed}; continue with --resume`));
    expect(readCheckpoint(join(out, 'checkpoint.ckpt')).step).toBe(completed);
    const history = readHistory(out);
    expect(history.filter((line) => line.kind === 'step')).toHaveLength(completed);
    expect(history.at(-1)).toMatchObject({ kind: 'end', reason: 'stopped', step: completed });
    worker.child.kill('SIGCONT');
  }, 120_000);
});
