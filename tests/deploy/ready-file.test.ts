/**
 * The worker's --ready-file, what the Kubernetes readiness probe and preStop hook read
 * (deploy/kubernetes/worker.yaml): it exists, holding the worker's process id, exactly
 * while the worker is joined; a lost coordinator or a leave removes it; a file left by a
 * killed worker is removed at start; a folder it cannot write is a flag error.
 */
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { readHistory, smallRunArgs, until, writeSpec } from '../distributed/helpers.js';
import { startCoordinator, startWorker, tempDir, type Proc } from '../support/processes.js';

const started: Proc[] = [];
afterEach(async () => {
  await Promise.all(started.splice(0).map((proc) => proc.kill()));
});

function track<T extends Proc>(proc: T): T {
  started.push(proc);
  return proc;
}

/** A coordinator that welcomes workers and waits for a second one (so no step runs). */
async function waitingCoordinator(dir: string) {
  return track(await startCoordinator([...smallRunArgs(writeSpec(dir), join(dir, 'run')), '--min-workers', '2']));
}

describe('worker --ready-file', () => {
  it('exists with the worker\'s pid once joined; SIGTERM leaves, removes it and exits 0', async () => {
    const dir = tempDir('ready-file');
    const readyFile = join(dir, 'ready');
    const coordinator = await waitingCoordinator(dir);
    const worker = track(startWorker(coordinator.url, ['--ready-file', readyFile]));
    await worker.waitFor(/joined/);
    await until(() => existsSync(readyFile), 10_000, 'the ready file');
    expect(readFileSync(readyFile, 'utf8')).toBe(`${worker.pid}\n`);
    worker.child.kill('SIGTERM');
    expect(await worker.exited, worker.output()).toBe(0);
    expect(existsSync(readyFile)).toBe(false);
    await until(() => readHistory(join(dir, 'run')).some((line) => line.event === 'leave'), 10_000, 'the leave event');
  });

  it('is removed when the coordinator is lost, while the worker keeps retrying', async () => {
    const dir = tempDir('ready-file');
    const readyFile = join(dir, 'ready');
    const coordinator = await waitingCoordinator(dir);
    const worker = track(startWorker(coordinator.url, ['--ready-file', readyFile, '--retry-for', '60']));
    await until(() => existsSync(readyFile), 30_000, 'the ready file');
    await coordinator.kill('SIGKILL');
    await worker.waitFor(/connection to .* lost/);
    expect(existsSync(readyFile)).toBe(false);
    expect(worker.child.exitCode).toBeNull();
  });

  it('a file left by a killed worker is removed at start, before any coordinator answers', async () => {
    const dir = tempDir('ready-file');
    const readyFile = join(dir, 'ready');
    writeFileSync(readyFile, '12345\n');
    // Port 9 (discard): nothing listens there; the worker retries and is not joined.
    const worker = track(startWorker('ws://127.0.0.1:9', ['--ready-file', readyFile]));
    await worker.waitFor(/cannot reach the coordinator/);
    expect(existsSync(readyFile)).toBe(false);
  });

  it('a folder it cannot write: one line, exit 2', async () => {
    const worker = track(startWorker('ws://127.0.0.1:9', ['--ready-file', '/nonexistent-folder/ready']));
    expect(await worker.exited).toBe(2);
    expect(worker.stderr()).toBe('convoy: --ready-file /nonexistent-folder/ready: ENOENT\n');
  });
});
