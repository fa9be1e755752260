/**
 * Who is refused, and how it is told: a worker whose MNIST differs from the coordinator's,
 * a peer speaking another protocol version, a wrong token, bad command-line flags. Also the
 * clean ways out: Ctrl-C on a worker (it leaves, training goes on) and on the coordinator
 * (the step finishes, a checkpoint is written, workers are stopped, all exit 0).
 */
import { copyFileSync, existsSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { PROTOCOL_VERSION, decodeFrame, encodeMessage } from '../../packages/core/src/index.js';
import { defaultMnistDir, MNIST_FILES } from '../../packages/core/src/node.js';
import {
  WebSocket,
  readHistory,
  smallRunArgs,
  stepsDone,
  until,
  writeSpec,
} from './helpers.js';
import {
  COORDINATOR_CLI,
  WORKER_CLI,
  run,
  startCoordinator,
  startWorker,
  tempDir,
  type Proc,
} from '../support/processes.js';

const dir = tempDir('refusals');
const spec = writeSpec(dir);
const started: Proc[] = [];
afterAll(() => started.forEach((proc) => proc.child.kill('SIGKILL')));

/** Opens a raw connection, sends one message, returns the coordinator's answer and the close code. */
async function rawHello(url: string, message: Record<string, unknown>): Promise<{ answer: Record<string, unknown>; closeCode: number }> {
  const socket = new WebSocket(url);
  await new Promise((resolve, reject) => socket.once('open', resolve).once('error', reject));
  const answer = new Promise<Record<string, unknown>>((resolve) => socket.once('message', (data: Buffer) => resolve(decodeFrame(data) as Record<string, unknown>)));
  const closed = new Promise<number>((resolve) => socket.once('close', (code) => resolve(code)));
  socket.send(encodeMessage(message as never));
  return { answer: await answer, closeCode: await closed };
}

describe('refusals', () => {
  it('a worker with a different dataset is refused with a clear message, and exits 1', async () => {
    const data = join(dir, 'other-mnist');
    const { mkdirSync } = await import('node:fs');
    mkdirSync(data);
    for (const file of Object.values(MNIST_FILES)) copyFileSync(join(defaultMnistDir(), file), join(data, file));
    const labels = readFileSync(join(data, MNIST_FILES.trainLabels));
    labels[8] = (labels[8]! + 1) % 10; // one label changed: the content hash differs
    writeFileSync(join(data, MNIST_FILES.trainLabels), labels);

    const coordinator = await startCoordinator(smallRunArgs(spec, join(dir, 'mismatch')));
    started.push(coordinator);
    const worker = startWorker(coordinator.url, ['--data', data]);
    started.push(worker);
    expect(await worker.exited).toBe(1);
    expect(worker.output()).toMatch(/dataset mismatch: the worker's data \(id [0-9a-f-]+\) differs from the coordinator's/);
    expect(worker.output()).not.toMatch(/\n\s+at /); // no stack trace
    coordinator.child.kill('SIGKILL');
  }, 30_000);

  it('another protocol version and a wrong token are refused with coded errors', async () => {
    const coordinator = await startCoordinator([...smallRunArgs(spec, join(dir, 'version')), '--token', 's3cret']);
    started.push(coordinator);
    const hello = { type: 'hello', name: 'raw', datasetHash: null, kernels: 'ts' };
    const version = await rawHello(coordinator.url, { ...hello, protocol: PROTOCOL_VERSION + 1, token: 's3cret' });
    expect(version.answer).toMatchObject({ type: 'error', code: 'PROTOCOL_VERSION', fatal: true });
    expect(String(version.answer['message'])).toMatch(/protocol version mismatch: the coordinator speaks 1, this peer 2/);
    expect(version.closeCode).toBe(1008);
    const token = await rawHello(coordinator.url, { ...hello, protocol: PROTOCOL_VERSION, token: 'guess' });
    expect(token.answer).toMatchObject({ type: 'error', code: 'BAD_TOKEN', fatal: true });
    const garbage = await rawHello(coordinator.url, { type: 'gradient', step: 1 });
    expect(garbage.answer).toMatchObject({ type: 'error', code: 'UNEXPECTED_MESSAGE', fatal: true });
    coordinator.child.kill('SIGKILL');
  }, 30_000);

  it('bad flags: one line, exit code 2, no stack trace', async () => {
    for (const [cli, args, pattern] of [
      [COORDINATOR_CLI, ['--epochs', 'three'], /--epochs.*must be an integer/],
      [COORDINATOR_CLI, ['--optimizer', 'rmsprop'], /Allowed choices are adadelta, sgd, adam/],
      [COORDINATOR_CLI, ['--batch', '2000', '--train-size', '1000'], /global batch 2000 is larger than the training set/],
      [COORDINATOR_CLI, ['--resume', '--out', join(dir, 'nothing-here')], /no checkpoint in/],
      [WORKER_CLI, ['--connect', 'http://x'], /must be a ws:\/\/ or wss:\/\/ URL/],
    ] as const) {
      const proc = run(cli, args);
      expect(await proc.exited, proc.output()).toBe(2);
      const output = proc.output().trim();
      expect(output).toMatch(pattern);
      expect(output.split('\n')).toHaveLength(1);
    }
  }, 30_000);
});

describe('Ctrl-C', () => {
  it('on a worker: it leaves cleanly (exit 0) and training goes on; on the coordinator: checkpoint, workers stopped, exit 0', async () => {
    const out = join(dir, 'ctrl-c');
    const coordinator = await startCoordinator([...smallRunArgs(spec, out), '--min-workers', '2']);
    started.push(coordinator);
    const stays = startWorker(coordinator.url, ['--chaos-delay', '100']);
    const leaves = startWorker(coordinator.url, ['--chaos-delay', '100']);
    started.push(stays, leaves);
    await until(() => stepsDone(out) >= 3, 30_000, 'step 3');
    leaves.child.kill('SIGINT');
    expect(await leaves.exited, leaves.output()).toBe(0);
    const leftAt = stepsDone(out);
    await until(() => stepsDone(out) >= leftAt + 3, 30_000, 'three more steps');
    coordinator.child.kill('SIGINT');
    expect(await coordinator.exited, coordinator.output()).toBe(0);
    expect(await stays.exited, stays.output()).toBe(0);
    expect(coordinator.output()).toMatch(/stopped at step (\d+); continue with --resume/);
    const stoppedAt = Number(coordinator.output().match(/stopped at step (\d+)/)![1]);
    expect(stoppedAt).toBeLessThan(26);
    expect(existsSync(join(out, 'checkpoint.ckpt'))).toBe(true);
    const history = readHistory(out);
    expect(history.some((line) => line.kind === 'event' && line.event === 'leave')).toBe(true);
    expect(history.filter((line) => line.kind === 'step')).toHaveLength(stoppedAt);
    expect(history.at(-1)).toMatchObject({ kind: 'end', reason: 'stopped', step: stoppedAt });
  }, 60_000);
});
