/**
 * `pnpm coordinator -- --host 0.0.0.0 --port 8080 --token SECRET --min-workers 3 ...`:
 * a coordinator alone; workers on any machine join with `pnpm worker -- --connect ...`.
 */
import { Command } from 'commander';
import { COORDINATOR_DEFAULTS, OPTION_RANGES } from '../defaults.js';
import { rangeFlag } from './options.js';
import { runCoordinatorCli } from './run.js';

const program = new Command('convoy-coordinator')
  .description('Coordinate training for workers that connect over the network')
  .option('--min-workers <n>', 'workers to wait for before the first step', rangeFlag(OPTION_RANGES.minWorkers), COORDINATOR_DEFAULTS.minWorkers);

runCoordinatorCli({ program, argv: process.argv.slice(2), helpCommand: 'pnpm coordinator -- --help', localWorkers: () => 0 }).then((code) => process.exit(code));
