/**
 * Workers with compute threads (`--threads N`) in real runs: real coordinator and worker
 * processes on 127.0.0.1, real worker threads. A 2-thread worker beside a 1-thread one
 * trains to the parameters one worker reaches alone (up to float summation order) with
 * every image counted once; the coordinator's throughput-sized slices give it the larger
 * share; and a compute thread that dies ends its worker with one clear line while the
 * run goes on without it.
 */
import { afterAll, describe, expect, it } from 'vitest';
import { PROTOCOL_VERSION, decodeFrame, encodeMessage, type WorkerRow } from '../../packages/core/src/index.js';
import { WebSocket, checkEveryImageOnce, finalParams, readHistory, relativeDifference, smallRunArgs, stepRecords, writeSpec } from './helpers.js';
import { startCoordinator, startWorker, tempDir, type Proc } from '../support/processes.js';

const dir = tempDir('threads');
const spec = writeSpec(dir);
const started: Proc[] = [];
const sockets: WebSocket[] = [];
afterAll(() => {
  sockets.forEach((socket) => socket.terminate());
  started.forEach((proc) => proc.child.kill('SIGKILL'));
});

/** Every workers-table row a dashboard viewer receives, with the last step completed when it came. */
function watchWorkers(url: string): Array<{ afterStep: number; row: WorkerRow }> {
  const seen: Array<{ afterStep: number; row: WorkerRow }> = [];
  let afterStep = 0;
  const socket = new WebSocket(url, { perMessageDeflate: false, maxPayload: 256 * 1024 * 1024 });
  sockets.push(socket);
  socket.on('error', () => undefined);
  socket.once('open', () => socket.send(encodeMessage({ type: 'subscribe', protocol: PROTOCOL_VERSION })));
  socket.on('message', (data: Buffer) => {
    const message = decodeFrame(data) as { type: string; record?: { kind: string; step?: number; workers?: WorkerRow[] } };
    const record = message.record;
    if (message.type !== 'metrics' || record === undefined) return;
    if (record.kind === 'step') afterStep = record.step!;
    if (record.kind === 'workers') for (const row of record.workers!) seen.push({ afterStep, row });
  });
  return seen;
}

/** A run of `args` (with its --out) waiting for one worker per entry of `workers` (each its flags). */
async function train(args: readonly string[], workers: ReadonlyArray<readonly string[]>): Promise<{ coordinator: Proc; workers: Proc[]; rows: Array<{ afterStep: number; row: WorkerRow }> }> {
  const coordinator = await startCoordinator([...args, '--min-workers', String(workers.length)]);
  started.push(coordinator);
  const rows = watchWorkers(coordinator.url);
  const procs = workers.map((workerArgs) => startWorker(coordinator.url, workerArgs));
  started.push(...procs);
  expect(await coordinator.exited, coordinator.output()).toBe(0);
  return { coordinator, workers: procs, rows };
}

describe('a worker with 2 compute threads', () => {
  it('beside a 1-thread worker: the parameters of one worker alone (1e-5), every image counted once, its threads on the workers table', async () => {
    const alone = `${dir}/alone`;
    await train(smallRunArgs(spec, alone), [['--threads', '1']]);
    const mixed = `${dir}/mixed`;
    const run = await train(smallRunArgs(spec, mixed), [
      ['--threads', '2', '--name', 'two-threads'],
      ['--threads', '1', '--name', 'one-thread'],
    ]);
    for (const proc of run.workers) expect(await proc.exited, proc.output()).toBe(0);
    // 1200 images, batch 96, 2 epochs: 13 steps per epoch (the last with 48 images).
    expect(checkEveryImageOnce(stepRecords(mixed), 1200, 96, 26)).toBeNull();
    expect(stepRecords(mixed).some((record) => record.workers === 2)).toBe(true);
    expect(relativeDifference(finalParams(alone), finalParams(mixed))).toBeLessThan(1e-5);
    const threadsOf = (name: string) => run.rows.find(({ row }) => row.name === name)?.row.threads;
    expect(threadsOf('two-threads')).toBe(2);
    expect(threadsOf('one-thread')).toBe(1);
  }, 240_000);

  it('gets the larger slices once the coordinator has measured both (default model, wasm kernels)', async () => {
    const out = `${dir}/sizes`;
    // 3072 images, batch 256: 12 steps, each slice a real computation (tens of ms per image under load).
    // wasm, not auto: with the native kernels a slice is so short that messaging blurs the rates.
    const args = ['--out', out, '--kernels', 'wasm', '--train-size', '3072', '--validation-size', '256', '--test-size', '0', '--batch', '256', '--epochs', '1', '--seed', '5'];
    const run = await train(args, [
      ['--threads', '2', '--name', 'two-threads', '--kernels', 'wasm'],
      ['--threads', '1', '--name', 'one-thread', '--kernels', 'wasm'],
    ]);
    expect(checkEveryImageOnce(stepRecords(out), 3072, 256, 12)).toBeNull();
    // Training slices once both are measured: after step 5, before the last step's record (then come evaluation slices).
    const late = (name: string) => run.rows.filter(({ afterStep, row }) => afterStep >= 5 && afterStep < 12 && row.name === name && row.sliceSize > 0).map(({ row }) => row.sliceSize);
    const mean = (values: number[]) => values.reduce((a, b) => a + b, 0) / values.length;
    const [two, one] = [late('two-threads'), late('one-thread')];
    expect(two.length, JSON.stringify(run.rows)).toBeGreaterThan(0);
    expect(one.length, JSON.stringify(run.rows)).toBeGreaterThan(0);
    // Three compute threads sharing the cores evenly would make the 2-thread worker twice as
    // fast; beside the rest of the suite's processes it measured 1.18x to 1.6x. Above 1.1x the
    // coordinator has told the two apart (equal slices would give 1.0x).
    expect(mean(two) / mean(one), `slices: two threads ${two.join(' ')}; one thread ${one.join(' ')}`).toBeGreaterThan(1.1);
  }, 300_000);

  it('a compute thread that dies (--chaos thread-exit@step3) ends its worker with one line and exit code 1; the run finishes without it', async () => {
    const out = `${dir}/thread-exit`;
    const run = await train(smallRunArgs(spec, out), [
      ['--threads', '2', '--chaos', 'thread-exit@step3', '--name', 'crashing'],
      ['--threads', '1', '--name', 'healthy'],
    ]);
    const [crashing, healthy] = run.workers as [Proc, Proc];
    expect(await crashing.exited, crashing.output()).toBe(1);
    expect(await healthy.exited, healthy.output()).toBe(0);
    expect(crashing.stderr()).toMatch(/^convoy: compute thread 2 exited \(code 1\)$/m);
    expect(crashing.stderr()).not.toMatch(/\n\s+at /);
    expect(checkEveryImageOnce(stepRecords(out), 1200, 96, 26)).toBeNull();
    const history = readHistory(out);
    const crashingId = history.find((line) => line.kind === 'event' && line.event === 'join' && String(line['detail']).startsWith('crashing '))?.workerId;
    expect(crashingId).toBeDefined();
    // It told the coordinator before leaving (a leave, not a silent death): its slice of step 3 went to the healthy worker.
    const leave = history.find((line) => line.kind === 'event' && line.workerId === crashingId && line.event === 'leave');
    expect(leave?.step).toBe(3);
    expect(String(leave?.['detail'])).toMatch(/THREAD_FAILED: compute thread 2 exited \(code 1\)/);
    expect(stepRecords(out).at(-1)!.workers).toBe(1);
  }, 180_000);
});
