/**
 * The run folder under stress, through the real command line.
 *
 * A full disk never loses the run: --out on a small tmpfs, filled until the coordinator
 * hits ENOSPC (in history.jsonl or a checkpoint while training; in history.jsonl from a
 * worker's leave while waiting). The coordinator stops with one line saying why, a non-zero
 * exit and no stack trace; the last checkpoint it wrote stays good, and the run resumes from
 * it once there is room (checkpoint temporaries of a dead coordinator are removed then).
 * Mounting needs root: elsewhere these skip (and fail in CI).
 *
 * A folder that cannot be made (--out /proc/convoy) fails at once with one line. A
 * checkpoint of an older Convoy, which carried the history itself, still resumes.
 */
import { execFileSync, spawnSync } from 'node:child_process';
import { appendFileSync, cpSync, existsSync, mkdirSync, readFileSync, readdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { once } from 'node:events';
import { PROTOCOL_VERSION, datasetId, encodeMessage } from '../../packages/core/src/index.js';
import { datasetHash, loadMnist, readCheckpoint, writeCheckpointAtomicSync } from '../../packages/core/src/node.js';
import { WebSocket, smallRunArgs, writeSpec } from '../distributed/helpers.js';
import { requirement } from '../support/requirements.js';
import { COORDINATOR_CLI, run, startCoordinator, startWorker, tempDir, type Proc } from '../support/processes.js';

const root = requirement('the full-disk tests', process.getuid?.() === 0 ? null : 'mounting a tmpfs needs root');
const dir = tempDir('full-disk');
const spec = writeSpec(dir);
const mounts: string[] = [];
const started: Proc[] = [];

afterAll(() => {
  for (const proc of started) proc.child.kill('SIGKILL');
  for (const mount of mounts) execFileSync('umount', ['-l', mount]);
});

/** A fresh tmpfs of `size` (e.g. '192k') under the test's folder. */
function smallDisk(name: string, size: string): string {
  const mount = join(dir, name);
  mkdirSync(mount);
  execFileSync('mount', ['-t', 'tmpfs', '-o', `size=${size}`, 'tmpfs', mount]);
  mounts.push(mount);
  return mount;
}

/** A pid no process has: one that has just exited. */
function deadPid(): number {
  return Number(spawnSync(process.execPath, ['-e', 'process.stdout.write(String(process.pid))'], { encoding: 'utf8' }).stdout);
}

/** Writes into `path` until the disk is full. */
function fill(path: string): void {
  const chunk = Buffer.alloc(4096, 1);
  for (;;) {
    try {
      appendFileSync(path, chunk);
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code === 'ENOSPC') return;
      throw error;
    }
  }
}

const { train, test } = loadMnist();
const hello = { type: 'hello', protocol: PROTOCOL_VERSION, name: 'short-lived', datasetHash: datasetId(datasetHash(train), datasetHash(test)), kernels: 'ts' } as const;

/** A worker that joins (hello, welcome: a join event) and leaves at once (a leave event); false when the coordinator is gone. */
async function joinAndLeave(url: string): Promise<boolean> {
  const socket = new WebSocket(url);
  // NOTE: `once` rejects on 'error' only: a coordinator that exits mid-cycle (the disk is full)
  // may just close the socket, and the cycle must end then too.
  const closed = once(socket, 'close').then(() => Promise.reject(new Error('closed')));
  closed.catch(() => undefined);
  try {
    await Promise.race([once(socket, 'open'), closed]);
    socket.send(encodeMessage(hello));
    await Promise.race([once(socket, 'message'), closed]);
    // A coordinator that is stopping may not answer the close handshake: ws would wait 30 s.
    socket.close();
    await Promise.race([once(socket, 'close'), new Promise((resolve) => setTimeout(resolve, 2_000))]);
    socket.terminate();
    return true;
  } catch {
    socket.terminate();
    return false;
  }
}

/** The coordinator's failure as a user sees it: non-zero exit, one line on stderr matching `message`, no stack trace. */
function expectOneLineFailure(code: number, proc: Proc, message: RegExp): void {
  const lines = proc.stderr().split('\n').filter((line) => line.trim() !== '');
  expect(code, proc.output()).not.toBe(0);
  expect(lines, proc.output()).toHaveLength(1);
  expect(lines[0]).toMatch(message);
  expect(proc.output(), 'no stack trace').not.toMatch(/^\s+at /m);
}

describe.skipIf(root.skip)('a full disk under --out', () => {
  it('while training: stops with one line, the last checkpoint good, and the run resumes from it', async () => {
    root.check();
    const out = join(smallDisk('training', '160k'), 'run');
    const args = smallRunArgs(spec, out, ['--test-size', '0', '--checkpoint-every', '5', '--epochs', '1000']);
    const coordinator = await startCoordinator(args);
    started.push(coordinator, startWorker(coordinator.url, ['--retry-for', '1']));
    const code = await coordinator.exited;
    expectOneLineFailure(code, coordinator, /^convoy: cannot write .*\/run\/(history\.jsonl|checkpoint\.ckpt): no space left on device \(ENOSPC\): stopped at step \d+; the last checkpoint stays: continue with --resume --out /);

    // The checkpoint decodes, and its history ends at a line end within what history.jsonl holds.
    const checkpoint = readCheckpoint(join(out, 'checkpoint.ckpt'));
    expect(checkpoint.step).toBeGreaterThan(0);
    const history = readFileSync(join(out, 'history.jsonl'));
    expect(checkpoint.historyBytes).toBeLessThanOrEqual(history.length);
    expect(history[checkpoint.historyBytes - 1]).toBe(0x0a);
    // No checkpoint temporaries are left behind on the full disk.
    expect(readdirSync(out).filter((name) => name.endsWith('.tmp'))).toEqual([]);

    // With room again (a copy on the big disk) the run continues from that checkpoint through one more epoch.
    const roomy = join(dir, 'roomy');
    cpSync(out, roomy, { recursive: true });
    const stale = `.checkpoint.ckpt.${deadPid()}.0123456789ab.tmp`;
    writeFileSync(join(roomy, stale), 'half a checkpoint of a coordinator killed mid-write');
    const resumeArgs = smallRunArgs(spec, roomy, ['--test-size', '0', '--checkpoint-every', '5', '--epochs', String(checkpoint.epoch + 2), '--resume']);
    const resumed = await startCoordinator(resumeArgs);
    started.push(resumed, startWorker(resumed.url));
    expect(await resumed.exited, resumed.output()).toBe(0);
    expect(resumed.output()).toContain(`resuming at step ${checkpoint.step}`);
    expect(existsSync(join(roomy, stale))).toBe(false);
    const steps = readFileSync(join(roomy, 'history.jsonl'), 'utf8')
      .trim()
      .split('\n')
      .map((line) => JSON.parse(line) as { kind: string; step?: number })
      .filter((record) => record.kind === 'step')
      .map((record) => record.step);
    // Every step once: the records after the checkpoint were cut, the steps redone.
    expect(steps).toEqual(Array.from({ length: steps.length }, (_, i) => i + 1));
  }, 120_000);

  it('from workers joining and leaving while it waits for workers: one line, no stack trace', async () => {
    root.check();
    const disk = smallDisk('waiting', '64k');
    const out = join(disk, 'run');
    const coordinator = await startCoordinator(smallRunArgs(spec, out, ['--min-workers', '2']));
    started.push(coordinator);
    fill(join(disk, 'filler'));
    let exited = false;
    void coordinator.exited.then(() => (exited = true));
    // NOTE: history.jsonl's last page of the tmpfs still has room: join and leave until a record needs a new one.
    for (let cycle = 0; cycle < 200 && !exited; cycle++) await joinAndLeave(coordinator.url);
    const code = await coordinator.exited;
    expectOneLineFailure(code, coordinator, /^convoy: cannot write .*\/run\/history\.jsonl: no space left on device \(ENOSPC\): stopped at step 0$/);
    expect(existsSync(join(out, 'checkpoint.ckpt'))).toBe(false);
  }, 60_000);
});

describe('--out', () => {
  it('a folder that cannot be made (/proc/convoy) fails at once: one line, exit 2, no stack trace, nothing left', async () => {
    const started = performance.now();
    const proc = run(COORDINATOR_CLI, ['--port', '0', '--model', spec, '--out', '/proc/convoy']);
    const code = await Promise.race([proc.exited, new Promise<number>((resolve) => setTimeout(() => resolve(-1), 20_000))]);
    if (code === -1) await proc.kill();
    expect(code, `still running after 20 s\n${proc.output()}`).toBe(2);
    expect(proc.output().trim()).toBe('convoy: cannot write the run folder /proc/convoy: no such file or directory (ENOENT)');
    expect(performance.now() - started).toBeLessThan(20_000);
  }, 30_000);

  it('--resume of a checkpoint written by an older Convoy (the history inside it) starts history.jsonl afresh from it', async () => {
    const out = join(dir, 'older');
    const first = await startCoordinator(smallRunArgs(spec, out, ['--test-size', '0']));
    started.push(first, startWorker(first.url));
    expect(await first.exited, first.output()).toBe(0);
    const records = readFileSync(join(out, 'history.jsonl'), 'utf8')
      .trim()
      .split('\n')
      .map((line) => JSON.parse(line) as { kind: string; step?: number })
      .filter((record) => record.kind !== 'run' && record.kind !== 'end');
    const checkpoint = readCheckpoint(join(out, 'checkpoint.ckpt'));
    writeCheckpointAtomicSync(join(out, 'checkpoint.ckpt'), { ...checkpoint, historyBytes: 0, history: records });
    writeFileSync(join(out, 'history.jsonl'), 'not this run\n');

    const resumed = await startCoordinator(smallRunArgs(spec, out, ['--test-size', '0', '--epochs', '3', '--resume']));
    started.push(resumed, startWorker(resumed.url));
    expect(await resumed.exited, resumed.output()).toBe(0);
    const steps = readFileSync(join(out, 'history.jsonl'), 'utf8')
      .trim()
      .split('\n')
      .map((line) => JSON.parse(line) as { kind: string; step?: number })
      .filter((record) => record.kind === 'step')
      .map((record) => record.step);
    expect(steps).toEqual(Array.from({ length: 39 }, (_, i) => i + 1));
  }, 60_000);
});
