/**
 * `pnpm start [-- flags]`: trains on the bundled MNIST with a coordinator and local workers
 * using every CPU core (`--workers N` processes of `--local-threads T` threads; the default
 * is local-workers.ts's LOCAL_LAYOUT), and leaves a run folder with history.jsonl,
 * checkpoints and the final model.
 */
import { availableParallelism } from 'node:os';
import { MAX_WORKER_THREADS } from '@convoy/core';
import { Command } from 'commander';
import { OPTION_RANGES } from '../defaults.js';
import { LOCAL_LAYOUT, localLayout } from '../local-workers.js';
import { integerFlag, rangeFlag } from './options.js';
import { runCoordinatorCli } from './run.js';

const cores = availableParallelism();
const layout = (flags: Record<string, unknown>) => localLayout({ workers: flags['workers'] as number | undefined, threads: flags['localThreads'] as number | undefined }, cores);

const program = new Command('convoy-start')
  .description('Train with a local coordinator and local workers on every core')
  .option('--workers <n>', `local worker processes (default: ${LOCAL_LAYOUT === 'threads' ? 'one, with a thread per core' : 'one per core'})`, integerFlag(0, 1024))
  .option('--local-threads <n>', 'compute threads of each local worker (default: the cores divided among --workers)', integerFlag(1, MAX_WORKER_THREADS))
  .option('--min-workers <n>', 'workers to wait for before the first step (default: --workers)', rangeFlag(OPTION_RANGES.minWorkers));

runCoordinatorCli({
  program,
  argv: process.argv.slice(2),
  helpCommand: 'pnpm start -- --help',
  localWorkers: (flags) => layout(flags).workers,
  localThreads: (flags) => layout(flags).threads,
}).then((code) => process.exit(code));
