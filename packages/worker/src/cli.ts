/**
 * `pnpm worker -- --connect ws://HOST:PORT [--token SECRET] [--data DIR | --no-local-data] [--ready-file PATH] [--threads N]`
 * Exit codes: 0 stopped by the coordinator or Ctrl-C, 1 refused/unreachable, 2 bad flags.
 */
import { KERNELS_CHOICES, MAX_WORKER_THREADS, usageErrorLine, type KernelsChoice } from '@convoy/core';
import { Command, CommanderError, InvalidArgumentError, Option } from 'commander';
import { WORKER_DEFAULTS } from './options.js';
import { Worker } from './worker.js';

function positiveNumber(value: string): number {
  const number = Number(value);
  if (!Number.isFinite(number) || number <= 0) throw new InvalidArgumentError('must be a positive number');
  return number;
}

function threadCount(value: string): number {
  const number = Number(value);
  if (!/^\d+$/.test(value.trim()) || !(number >= 1 && number <= MAX_WORKER_THREADS)) throw new InvalidArgumentError(`must be an integer in [1, ${MAX_WORKER_THREADS}]`);
  return number;
}

function kernelsChoice(value: string): KernelsChoice {
  const choice = KERNELS_CHOICES.find((name) => name === value);
  if (choice === undefined) throw new InvalidArgumentError(`must be ${KERNELS_CHOICES.join(', ')}`);
  return choice;
}

export async function main(argv: readonly string[]): Promise<number> {
  const program = new Command('convoy-worker')
    .description('Computes gradient sums for a Convoy coordinator')
    .requiredOption('--connect <url>', 'coordinator address, ws://HOST:PORT')
    .option('--token <secret>', "shared secret of the coordinator; prefer the CONVOY_TOKEN variable (a flag shows in pnpm's echo of the command and in ps)")
    // NOTE: no default shown: it would print this machine's hostname into every --help.
    .option('--name <name>', 'name shown on the dashboard (default: HOSTNAME-PID)')
    .option('--data <dir>', 'folder with the four MNIST IDX files (default: the bundled MNIST)')
    .option('--no-local-data', 'load no dataset; receive it from the coordinator')
    .option('--kernels <name>', `${KERNELS_CHOICES.join(' | ')} (auto: native > wasm > ts)`, kernelsChoice, 'auto')
    // NOTE: no default shown: it would print this machine's core count into every --help.
    .option('--threads <n>', 'compute threads, each with its own kernels (default: every core of this machine)', threadCount)
    .option('--retry-for <seconds>', 'give up after this long without a coordinator (never reached, or lost)', positiveNumber, WORKER_DEFAULTS.retryForMs / 1000)
    .addOption(new Option('--exit-with-stdin', 'exit when stdin closes (local workers of `convoy start`)').hideHelp())
    .addOption(new Option('--chaos-delay <ms>', 'fault injection: block this long before answering each step').argParser(positiveNumber).hideHelp())
    .option('--ready-file <path>', 'a file that exists while joined (holding this process id), for a readiness probe: test -f PATH')
    .option('--tls-ca <file>', 'certificate (PEM) to trust for a wss:// coordinator with a self-signed --tls-cert')
    .addOption(new Option('--chaos <plan>', 'fault injection, e.g. kill@step20,pause@step40:5s (see chaos.ts)').hideHelp())
    .exitOverride()
    .configureOutput({ writeErr: (text) => process.stderr.write(`${usageErrorLine(text, 'pnpm worker -- --help')}\n`) })
    .showHelpAfterError(false);
  try {
    // NOTE: `pnpm worker -- --connect ...` hands the script a literal "--" first.
    program.parse((argv[0] === '--' ? argv.slice(1) : argv) as string[], { from: 'user' });
  } catch (error) {
    if (error instanceof CommanderError) return error.exitCode === 0 ? 0 : 2;
    throw error;
  }
  const options = program.opts<{
    connect: string;
    token?: string;
    name?: string;
    data?: string;
    localData: boolean;
    kernels: KernelsChoice;
    retryFor: number;
    threads?: number;
    exitWithStdin?: boolean;
    chaosDelay?: number;
    chaos?: string;
    tlsCa?: string;
    readyFile?: string;
  }>();
  let worker: Worker;
  try {
    worker = new Worker({
      url: options.connect,
      token: options.token ?? process.env['CONVOY_TOKEN'],
      name: options.name ?? WORKER_DEFAULTS.name,
      dataDir: options.data,
      localData: options.localData,
      kernels: options.kernels,
      threads: options.threads ?? WORKER_DEFAULTS.threads,
      retryForMs: options.retryFor * 1000,
      // Local workers of `pnpm start` stay quiet: the coordinator's own progress covers them.
      progressEveryMs: options.exitWithStdin ? 0 : WORKER_DEFAULTS.progressEveryMs,
      stepDelayMs: options.chaosDelay ?? 0,
      chaos: options.chaos ?? '',
      ...(options.tlsCa === undefined ? {} : { tlsCa: options.tlsCa }),
      ...(options.readyFile === undefined ? {} : { readyFile: options.readyFile }),
    });
  } catch (error) {
    process.stderr.write(`convoy: ${(error as Error).message}\n`);
    return 2;
  }
  process.on('SIGINT', () => worker.leave('Ctrl-C'));
  process.on('SIGTERM', () => worker.leave('SIGTERM'));
  if (options.exitWithStdin) {
    process.stdin.on('close', () => worker.leave('parent exited'));
    process.stdin.on('end', () => worker.leave('parent exited'));
    process.stdin.resume();
  }
  try {
    const exit = await worker.start();
    if (exit.code !== 0) process.stderr.write(`convoy: ${exit.reason}\n`);
    return exit.code;
  } catch (error) {
    if (error instanceof Error && 'code' in error && typeof error.code === 'string') {
      process.stderr.write(`convoy: ${error.message}\n`);
      return 1;
    }
    throw error;
  }
}

main(process.argv.slice(2)).then((code) => process.exit(code));
