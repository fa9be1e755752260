/**
 * `pnpm coordinator -- --host 0.0.0.0 --port 8080 --token SECRET --min-workers 3 ...`:
 * a coordinator alone; workers on any machine join with `pnpm worker -- --connect ...`.
 */
import { Command } from 'commander';
import { integerFlag } from './options.js';
import { runCoordinatorCli } from './run.js';

const program = new Command('convoy-coordinator')
  .description('Coordinate training for workers that connect over the network')
  .option('--min-workers <n>', 'workers to wait for before the first step', integerFlag(1, 100_000), 1);

runCoordinatorCli({ program, argv: process.argv.slice(2), helpCommand: 'pnpm coordinator -- --help', localWorkers: () => 0 }).then((code) => process.exit(code));
