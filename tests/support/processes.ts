/**
 * The one way tests start a process: Convoy's command lines run as `pnpm start` runs them
 * (node with the tsx loader, from the repository root), their output collected, and one
 * exit-code convention everywhere: `exited` resolves with the exit code, or 128 + the
 * signal's number when a signal ended the process (as a shell reports it: SIGKILL is 137).
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync } from 'node:fs';
import { createRequire } from 'node:module';
import { constants, tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';

const require = createRequire(import.meta.url);
export const ROOT = fileURLToPath(new URL('../..', import.meta.url));
const LOADER = pathToFileURL(require.resolve('tsx')).href;

export const COORDINATOR_CLI = join(ROOT, 'packages/coordinator/src/cli/coordinator.ts');
export const START_CLI = join(ROOT, 'packages/coordinator/src/cli/start.ts');
export const CONVOY_CLI = join(ROOT, 'packages/coordinator/src/cli/convoy.ts');
export const WORKER_CLI = join(ROOT, 'packages/worker/src/cli.ts');

/** A fresh folder under the system's temporary directory, named convoy-PREFIX-XXXXXX. */
export function tempDir(prefix: string): string {
  return mkdtempSync(join(tmpdir(), `convoy-${prefix}-`));
}

export interface Proc {
  readonly child: ChildProcess;
  readonly pid: number;
  /** stdout and stderr interleaved as they arrived. */
  output(): string;
  stdout(): string;
  stderr(): string;
  /**
   * Resolves once the process has exited and its output is all read: the exit code, or
   * 128 + signal number.
   */
  readonly exited: Promise<number>;
  /**
   * Resolves with the first match of `pattern` in the output so far or to come; rejects
   * after `timeoutMs` (Infinity: never) or when the process exits without printing it.
   */
  waitFor(pattern: RegExp, timeoutMs?: number): Promise<RegExpMatchArray>;
  /** Sends `signal` (default SIGKILL) unless the process has exited; resolves with `exited`. */
  kill(signal?: NodeJS.Signals): Promise<number>;
}

export interface RunOptions {
  /** Added to this process's environment (NO_COLOR=1 is always set). */
  readonly env?: Readonly<Record<string, string>>;
  /** A command that runs node for us, e.g. ['ip', 'netns', 'exec', NS]: it must exec node, not fork it. */
  readonly prefix?: readonly string[];
}

function exitStatus(code: number | null, signal: NodeJS.Signals | null): number {
  // Node gives the exit code, or null and the signal that ended the process (never both null).
  if (code !== null || signal === null) return code ?? 128;
  return 128 + constants.signals[signal];
}

/**
 * Runs `script` (a .ts file through the tsx loader, anything else as plain JavaScript) with
 * node, from the repository root, stdin a pipe the test may write to.
 */
export function run(script: string, args: readonly string[] = [], options: RunOptions = {}): Proc {
  const nodeArgs = [...(script.endsWith('.ts') ? ['--import', LOADER] : []), script, ...args];
  const [command, ...commandArgs] = [...(options.prefix ?? []), process.execPath, ...nodeArgs] as [string, ...string[]];
  return spawnProc(command, commandArgs, { ...process.env, NO_COLOR: '1', ...options.env });
}

/** Any command (not only node), from the repository root, with exactly the environment `env`. */
export function spawnProc(command: string, commandArgs: readonly string[], env: NodeJS.ProcessEnv): Proc {
  const child = spawn(command, commandArgs, { cwd: ROOT, stdio: ['pipe', 'pipe', 'pipe'], env });
  const text = { all: '', stdout: '', stderr: '' };
  const listeners = new Set<() => void>();
  const collect = (stream: 'stdout' | 'stderr') => (chunk: Buffer) => {
    const piece = chunk.toString('utf8');
    text[stream] += piece;
    text.all += piece;
    for (const listener of listeners) listener();
  };
  child.stdout!.on('data', collect('stdout'));
  child.stderr!.on('data', collect('stderr'));
  // A command that cannot start (ENOENT) is an 'error', then a 'close': keep the reason in the output.
  child.once('error', (error) => (text.all += `${error.message}\n`));
  // NOTE: 'close', not 'exit': after 'exit' the pipes may still hold output that assertions read.
  const exited = new Promise<number>((resolve) => child.once('close', (code, signal) => resolve(exitStatus(code, signal))));
  let done = false;
  void exited.then(() => {
    done = true;
    for (const listener of listeners) listener();
  });
  return {
    child,
    pid: child.pid!,
    output: () => text.all,
    stdout: () => text.stdout,
    stderr: () => text.stderr,
    exited,
    waitFor(pattern, timeoutMs = 30_000) {
      return new Promise((resolve, reject) => {
        const finish = (outcome: () => void) => {
          listeners.delete(check);
          if (timer !== undefined) clearTimeout(timer);
          outcome();
        };
        const check = () => {
          const match = text.all.match(pattern);
          if (match !== null) finish(() => resolve(match));
          else if (done) finish(() => reject(new Error(`exited before printing ${pattern}; its output:\n${text.all}`)));
        };
        const timer = Number.isFinite(timeoutMs)
          ? setTimeout(() => finish(() => reject(new Error(`timed out waiting for ${pattern}; output so far:\n${text.all}`))), timeoutMs)
          : undefined;
        listeners.add(check);
        check();
      });
    },
    kill(signal = 'SIGKILL') {
      if (child.exitCode === null && child.signalCode === null) child.kill(signal);
      return exited;
    },
  };
}

/** Starts a bare coordinator (`convoy-coordinator --port 0 ...args`; a later --port wins) and waits for its port. */
export async function startCoordinator(args: readonly string[], options: RunOptions = {}): Promise<Proc & { port: number; url: string }> {
  const proc = run(COORDINATOR_CLI, ['--port', '0', ...args], options);
  const match = await proc.waitFor(/listening on ws:\/\/127\.0\.0\.1:(\d+)/);
  const port = Number(match[1]);
  return Object.assign(proc, { port, url: `ws://127.0.0.1:${port}` });
}

/** A worker process connecting to `url`, with the reference kernels and one thread unless `args` choose others (a later flag wins). */
export function startWorker(url: string, args: readonly string[] = []): Proc {
  return run(WORKER_CLI, ['--connect', url, '--kernels', 'ts', '--threads', '1', ...args]);
}
