/**
 * How the coordinator's command line starts, refuses and resumes, as real processes:
 * a failed start leaves no run folder; --resume honours --epochs and refuses by name the
 * flags that cannot change; errors are one `convoy:` line that says what to do.
 */
import { existsSync, mkdirSync, readlinkSync, writeFileSync } from 'node:fs';
import { createServer, type Server } from 'node:net';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { Worker } from '../../packages/worker/src/worker.js';
import { readHistory, smallRunArgs, writeSpec } from '../distributed/helpers.js';
import { COORDINATOR_CLI, run, startWorker, tempDir, WORKER_CLI, type Proc } from '../support/processes.js';

const dir = tempDir('starts');
const spec = writeSpec(dir);
const started: Proc[] = [];
const track = (proc: Proc) => (started.push(proc), proc);

afterAll(() => {
  for (const proc of started) proc.child.kill('SIGKILL');
});

/** One line on stderr+stdout, starting "convoy: " and matching `message`; a non-zero exit; no stack. */
async function expectRefusal(proc: Proc, message: RegExp): Promise<string> {
  const code = await proc.exited;
  const lines = proc.output().split('\n').filter((line) => line.trim() !== '');
  expect(code, proc.output()).not.toBe(0);
  expect(lines, proc.output()).toHaveLength(1);
  expect(lines[0]).toMatch(/^convoy: /);
  expect(lines[0]).toMatch(message);
  return lines[0]!;
}

async function finishedRun(out: string, extra: readonly string[]): Promise<void> {
  const coordinator = track(run(COORDINATOR_CLI, [...smallRunArgs(spec, out, extra), '--port', '0']));
  const port = Number((await coordinator.waitFor(/listening on ws:\/\/127\.0\.0\.1:(\d+)/))[1]);
  track(startWorker(`ws://127.0.0.1:${port}`));
  expect(await coordinator.exited, coordinator.output()).toBe(0);
}

describe('a failed start leaves no run folder', () => {
  it('missing data, a bad spec, sgd without --lr, a busy port', async () => {
    const badSpec = join(dir, 'bad-spec.json');
    writeFileSync(badSpec, JSON.stringify({ input: [1, 28, 28], layers: [{ type: 'conv9d' }] }));
    const busy: Server = createServer();
    await new Promise<void>((resolve) => busy.listen(0, '127.0.0.1', resolve));
    const busyPort = (busy.address() as { port: number }).port;
    try {
      const cases: Array<[string, string[], RegExp]> = [
        ['data', ['--data', join(dir, 'no-such-folder')], /no-such-folder/],
        ['spec', ['--model', badSpec], /conv9d/],
        ['sgd', ['--optimizer', 'sgd'], /--optimizer sgd needs --lr/],
        ['port', ['--port', String(busyPort)], /--port 0/],
      ];
      for (const [name, args, message] of cases) {
        const out = join(dir, `failed-${name}`);
        const proc = track(run(COORDINATOR_CLI, ['--port', '0', '--out', out, '--kernels', 'ts', ...args]));
        await expectRefusal(proc, message);
        expect(existsSync(out), `${name}: ${out} created`).toBe(false);
      }
    } finally {
      busy.close();
    }
  }, 120_000);
});

describe('--resume with flags', () => {
  it('--epochs continues a finished run; --batch, --seed and --model are refused by name', async () => {
    const out = join(dir, 'resume');
    await finishedRun(out, ['--epochs', '1']);
    const firstEnd = readHistory(out).at(-1)!;
    expect(firstEnd).toMatchObject({ kind: 'end', reason: 'finished', step: 13 });

    const again = track(run(COORDINATOR_CLI, [...smallRunArgs(spec, out, ['--epochs', '1']), '--resume', '--port', '0']));
    expect(await again.exited, again.output()).toBe(0);
    expect(again.output()).toMatch(/already trained all 1 epochs; give --epochs 2 or more/);
    // Nothing was reopened: the finished run's history still ends with its end record.
    expect(readHistory(out).at(-1)).toEqual(firstEnd);

    for (const [flag, value, used] of [['--batch', '64', '96'], ['--seed', '8', '7']] as const) {
      const refused = track(run(COORDINATOR_CLI, ['--resume', '--out', out, '--port', '0', flag, value]));
      await expectRefusal(refused, new RegExp(`${flag} cannot change on --resume \\(the run used ${used}\\)`));
    }
    const otherModel = track(run(COORDINATOR_CLI, ['--resume', '--out', out, '--port', '0', '--model', 'plain']));
    await expectRefusal(otherModel, /--model cannot change on --resume/);
    const otherRate = track(run(COORDINATOR_CLI, ['--resume', '--out', out, '--port', '0', '--optimizer', 'adam', '--lr', '0.02']));
    await expectRefusal(otherRate, /--lr cannot change on --resume \(the run used 0\.01\)/);

    const more = track(run(COORDINATOR_CLI, ['--resume', '--out', out, '--port', '0', '--epochs', '2']));
    const port = Number((await more.waitFor(/listening on ws:\/\/127\.0\.0\.1:(\d+)/))[1]);
    expect(more.output()).toMatch(/resuming at step 13\b/);
    track(startWorker(`ws://127.0.0.1:${port}`));
    expect(await more.exited, more.output()).toBe(0);
    const history = readHistory(out);
    const restart = history.findIndex((record) => record.kind === 'event' && record.event === 'coordinator-restart');
    const resumedSteps = history.slice(restart).filter((record) => record.kind === 'step').map((record) => record.step);
    expect(resumedSteps).toEqual(Array.from({ length: 13 }, (_, i) => 14 + i));
    expect(history.at(-1)).toMatchObject({ kind: 'end', reason: 'finished', step: 26 });
    expect(history.filter((record) => record.kind === 'epoch').map((record) => record['epoch'])).toEqual([1, 2]);
  }, 180_000);
});

describe('runs/latest and the join hint', () => {
  it('a run under runs/ is linked as runs/latest; a waiting coordinator prints the join command', async () => {
    const runs = join(dir, 'runs');
    mkdirSync(runs);
    const out = join(runs, 'first');
    const coordinator = track(run(COORDINATOR_CLI, [...smallRunArgs(spec, out, ['--epochs', '1', '--max-steps', '2', '--test-size', '0']), '--port', '0', '--min-workers', '2']));
    const port = Number((await coordinator.waitFor(/listening on ws:\/\/127\.0\.0\.1:(\d+)/))[1]);
    await coordinator.waitFor(/waiting for 2 more workers \(--min-workers 2\); in another terminal run:\n {2}pnpm worker -- --connect ws:\/\/127\.0\.0\.1:\d+\n/);
    expect(readlinkSync(join(runs, 'latest'))).toBe('first');
    track(startWorker(`ws://127.0.0.1:${port}`));
    track(startWorker(`ws://127.0.0.1:${port}`));
    expect(await coordinator.exited, coordinator.output()).toBe(0);
    expect(coordinator.output()).toMatch(/test: {2}none/);
  }, 120_000);
});

describe('a worker that cannot reach its coordinator', () => {
  it('says refused, and gives up after --retry-for; an unknown host ends at once', async () => {
    const closed: Server = createServer();
    await new Promise<void>((resolve) => closed.listen(0, '127.0.0.1', resolve));
    const port = (closed.address() as { port: number }).port;
    await new Promise<void>((resolve) => closed.close(() => resolve()));
    const refused = track(run(WORKER_CLI, ['--connect', `ws://127.0.0.1:${port}`, '--kernels', 'ts', '--retry-for', '1']));
    expect(await refused.exited).toBe(1);
    expect(refused.output()).toMatch(/cannot reach the coordinator at ws:\/\/127\.0\.0\.1:\d+ \(connection refused: nothing listens on that port\); retrying for 1 s/);
    expect(refused.output()).toMatch(/^convoy: coordinator at .* unreachable: never connected in 1 s/m);
    const started = Date.now();
    const unknown = track(run(WORKER_CLI, ['--connect', 'ws://no-such-host.invalid:8080', '--kernels', 'ts']));
    expect(await unknown.exited).toBe(1);
    expect(unknown.output()).toMatch(/^convoy: coordinator at ws:\/\/no-such-host\.invalid:8080 unreachable: never connected \(unknown host "no-such-host\.invalid"\)$/m);
    expect(Date.now() - started).toBeLessThan(20_000);
  }, 60_000);
});

describe("a remote worker's progress", () => {
  it('prints a line (epoch, slices, images/s) at most every progressEveryMs while it works', async () => {
    const out = join(dir, 'progress');
    const coordinator = track(run(COORDINATOR_CLI, [...smallRunArgs(spec, out, ['--epochs', '1', '--test-size', '0']), '--port', '0']));
    const port = Number((await coordinator.waitFor(/listening on ws:\/\/127\.0\.0\.1:(\d+)/))[1]);
    const lines: string[] = [];
    const worker = new Worker({ url: `ws://127.0.0.1:${port}`, kernels: 'ts', name: 'progress-test', progressEveryMs: 1, log: (line) => lines.push(line) });
    expect((await worker.start()).code).toBe(0);
    expect(await coordinator.exited, coordinator.output()).toBe(0);
    const progress = lines.filter((line) => /^worker \d+: epoch 1, \d+ slices \(\d+ images\) in \d+ s, \d+ images\/s$/.test(line));
    expect(progress.length, lines.join('\n')).toBeGreaterThan(0);
  }, 60_000);
});
