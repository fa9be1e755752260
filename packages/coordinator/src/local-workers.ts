/**
 * The local worker processes of `convoy start`: real child processes (node with the tsx
 * loader on the worker's command line), each computing on `threads` threads (localLayout
 * says how many of each `pnpm start` runs by default). They are put in their
 * own process group (detached), so a Ctrl-C on the terminal reaches only the coordinator
 * (which finishes the step, checkpoints, and then tells them to stop: a clean leave, not
 * a death in the middle of a step); and they exit when
 * their stdin closes, so a coordinator killed with -9 leaves no orphans.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { createRequire } from 'node:module';
import { availableParallelism } from 'node:os';
import { pathToFileURL } from 'node:url';

export interface LocalWorkerOptions {
  readonly url: string;
  readonly token?: string;
  readonly kernels: string;
  /** Compute threads of each worker (its --threads); default 1. */
  readonly threads?: number;
  readonly dataDir?: string;
  /** Fault injection: the --chaos value of each worker (index 0 = the first), from chaos.ts. */
  readonly chaos?: readonly string[];
  /** The coordinator's TLS certificate, for workers to trust (wss://). */
  readonly tlsCa?: string;
  /**
   * Each line a worker writes to stderr, with the worker's name (local-K, K = its place in
   * --chaos's workerK). NOTE: the name is a name; workers are numbered by the coordinator
   * alone ("worker N" in every record and line), which need not follow K.
   */
  readonly log: (name: string, line: string) => void;
}

const require = createRequire(import.meta.url);

/**
 * V8's heap sized for a worker: with the default limits a small JS heap next to 4.8 MB
 * frames every step starts a mark-compact on every step, between a worker's answer and its
 * next parameters; 64 MB makes that rare (scripts/run-tuned.sh gives `pnpm worker` and the
 * coordinator the same).
 */
const WORKER_NODE_FLAGS = ['--initial-old-space-size=64'];

/** The command that runs a worker: [executable, ...arguments]. */
export function workerCommand(args: readonly string[]): [string, string[]] {
  const loader = pathToFileURL(require.resolve('tsx')).href;
  const cli = require.resolve('@convoy/worker/cli');
  return [process.execPath, [...WORKER_NODE_FLAGS, '--import', loader, cli, ...args]];
}

export function spawnLocalWorkers(count: number, options: LocalWorkerOptions): ChildProcess[] {
  const children: ChildProcess[] = [];
  for (let index = 0; index < count; index++) {
    const name = `local-${index + 1}`;
    // NOTE: always given: a worker's own default is every core of the host, which N local workers would each take.
    const args = ['--connect', options.url, '--kernels', options.kernels, '--threads', String(options.threads ?? 1), '--exit-with-stdin', '--name', name];
    if (options.dataDir !== undefined) args.push('--data', options.dataDir);
    if (options.tlsCa !== undefined) args.push('--tls-ca', options.tlsCa);
    const chaos = options.chaos?.[index];
    if (chaos) args.push('--chaos', chaos);
    const [command, commandArgs] = workerCommand(args);
    // The token goes in the environment: a command line is visible to every user in ps.
    const env = options.token === undefined ? process.env : { ...process.env, CONVOY_TOKEN: options.token };
    const child = spawn(command, commandArgs, { stdio: ['pipe', 'ignore', 'pipe'], detached: true, env });
    let buffered = '';
    child.stderr!.setEncoding('utf8');
    child.stderr!.on('data', (text: string) => {
      buffered += text;
      const lines = buffered.split('\n');
      buffered = lines.pop()!;
      for (const line of lines) if (line.length > 0) options.log(name, line);
    });
    children.push(child);
  }
  return children;
}

/**
 * How `pnpm start` uses this machine's cores when no flag says: 'threads' runs one worker
 * process with a thread per core (one copy of the dataset and one frame each way per step),
 * 'processes' one single-thread worker process per core. On 2 cores, `pnpm bench:scale --
 * --workers 2,1x2` measures both in turn; README.md ("Training") says which runs and why.
 */
export const LOCAL_LAYOUT: 'threads' | 'processes' = 'threads';

/** Local worker processes and threads of each for `cores` cores (flags given win; threads default to the cores each worker's share). */
export function localLayout(given: { workers?: number; threads?: number }, cores = availableParallelism()): { workers: number; threads: number } {
  const workers = given.workers ?? (LOCAL_LAYOUT === 'threads' ? 1 : cores);
  const threads = given.threads ?? Math.max(1, Math.floor(cores / Math.max(1, workers)));
  return { workers, threads };
}

/** Resolves when every child has exited (or after `timeoutMs`, killing the rest). */
export async function waitForExit(children: readonly ChildProcess[], timeoutMs: number): Promise<void> {
  await Promise.all(
    children.map(
      (child) =>
        new Promise<void>((resolve) => {
          if (child.exitCode !== null || child.signalCode !== null) return resolve();
          const timer = setTimeout(() => {
            child.kill('SIGKILL');
            resolve();
          }, timeoutMs);
          child.once('exit', () => {
            clearTimeout(timer);
            resolve();
          });
        }),
    ),
  );
}
