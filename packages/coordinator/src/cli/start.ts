/**
 * `pnpm start [-- flags]`: trains on the bundled MNIST with a coordinator and one local
 * worker process per CPU core (`--workers N`), and leaves a run folder with history.jsonl,
 * checkpoints and the final model.
 */
import { availableParallelism } from 'node:os';
import { Command } from 'commander';
import { OPTION_RANGES } from '../defaults.js';
import { integerFlag, rangeFlag } from './options.js';
import { runCoordinatorCli } from './run.js';

const program = new Command('convoy-start')
  .description('Train with a local coordinator and one worker process per core')
  .option('--workers <n>', 'local worker processes', integerFlag(0, 1024), availableParallelism())
  .option('--min-workers <n>', 'workers to wait for before the first step (default: --workers)', rangeFlag(OPTION_RANGES.minWorkers));

runCoordinatorCli({ program, argv: process.argv.slice(2), helpCommand: 'pnpm start -- --help', localWorkers: (flags) => flags['workers'] as number }).then((code) => process.exit(code));
