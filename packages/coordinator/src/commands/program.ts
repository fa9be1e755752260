/**
 * The model commands of the `convoy` command line: what a user does with the model a run
 * leaves. The entry point is cli/convoy.ts.
 *
 *   convoy eval RUN_OR_CHECKPOINT [--data DIR] [--kernels ts|wasm|auto] [--limit N]
 *   convoy predict MODEL [image.png ...] [--idx FILE --index N[,M...]] [--json]
 *   convoy export MODEL --onnx model.onnx
 *   convoy trace RUN [--out FILE]
 *
 * User errors (missing file, not a checkpoint, undecodable PNG, wrong image size, bad
 * option) print one line on stderr and exit 2; anything else is a bug and keeps its stack.
 */
import { KERNELS_CHOICES, usageErrorLine } from '@convoy/core';
import { Command, CommanderError, InvalidArgumentError, Option } from 'commander';
import { USER_ERROR_EXIT_CODE, errorCode } from './errors.js';
import { runEval } from './eval.js';
import { runExport } from './export.js';
import { runPredict } from './predict.js';
import { runTrace } from './trace.js';
import type { KernelsOption } from './load-model.js';

const print = (text: string): void => {
  process.stdout.write(`${text}\n`);
};

function nonNegativeInteger(value: string): number {
  const parsed = Number(value);
  if (!/^\d+$/.test(value.trim()) || !Number.isSafeInteger(parsed)) throw new InvalidArgumentError(`'${value}' is not a non-negative integer`);
  return parsed;
}

function positiveInteger(value: string): number {
  const parsed = nonNegativeInteger(value);
  if (parsed === 0) throw new InvalidArgumentError(`'${value}' must be at least 1`);
  return parsed;
}

/** "3,17,42" (and repeated --index options) -> [3, 17, 42]. */
function indexList(value: string, previous: number[] = []): number[] {
  return [...previous, ...value.split(',').map((part) => nonNegativeInteger(part))];
}

function kernelsOption(): Option {
  return new Option('--kernels <backend>', 'kernel backend (auto: native > wasm > ts)').choices(KERNELS_CHOICES).default('auto');
}

/** Adds eval, predict and export to `program` (kept separate so other commands can share the program). */
export function addModelCommands(program: Command): Command {
  program
    .command('eval')
    .description("test-set loss, accuracy, per-class precision/recall and confusion matrix of a run's model or a checkpoint")
    .argument('<run-or-checkpoint>', 'a run folder (its final model, else its newest checkpoint) or a checkpoint file')
    .option('--data <dir>', 'folder with the MNIST IDX files (default: the bundled MNIST)')
    .addOption(kernelsOption())
    .option('--limit <count>', 'evaluate only the first <count> test images', positiveInteger)
    .action((target: string, options: { data?: string; kernels: KernelsOption; limit?: number }) => {
      runEval(target, options, print);
    });

  program
    .command('predict')
    .description('top-3 classes with probabilities for PNG pictures of digits, or for images of an IDX file')
    .argument('<model>', 'a run folder or a checkpoint file')
    .argument('[images...]', 'PNG files (any size, grey or colour; dark-on-light pictures are inverted)')
    .option('--idx <file>', 'an IDX images file (e.g. t10k-images-idx3-ubyte)')
    .option('--index <n>', 'image index in the --idx file (comma-separated or repeated for several)', indexList)
    .addOption(kernelsOption())
    .option('--json', 'print the predictions as JSON')
    .action((target: string, images: string[], options: { idx?: string; index?: number[]; kernels: KernelsOption; json?: boolean }) => {
      runPredict(target, images, { kernels: options.kernels, idx: options.idx, indices: options.index, json: options.json }, print);
    });

  program
    .command('export')
    .description('write the model as a standard ONNX file (opset 13, input "input" [N,C,H,W], output "probabilities")')
    .argument('<model>', 'a run folder or a checkpoint file')
    .requiredOption('--onnx <file>', 'the .onnx file to write')
    .action((target: string, options: { onnx: string }) => {
      runExport(target, options, print);
    });

  program
    .command('trace')
    .description("a run's step timeline (coordinator and every worker) as a Chrome trace-event JSON file for Perfetto")
    .argument('<run>', 'a run folder (e.g. runs/latest)')
    .option('--out <file>', 'the JSON file to write (default: RUN/trace.json)')
    .action((run: string, options: { out?: string }) => {
      runTrace(run, options, print);
    });
  return program;
}

/** Training has its own scripts (separate processes, tuned node flags): named here so `convoy --help` leads to them. */
const TRAINING_COMMANDS = `
The commands above take a run folder (runs/latest is the newest run). Training has its
own commands, each with its own --help:
  pnpm start -- [flags]         train with a local coordinator and one worker per core
  pnpm coordinator -- [flags]   a coordinator alone, for workers on other machines
  pnpm worker -- --connect URL  a worker that joins a coordinator`;

export async function main(argv: readonly string[]): Promise<number> {
  const program = new Command('convoy')
    .description('Convoy: data-parallel CNN training on MNIST')
    .usage('<command> [options]')
    .exitOverride()
    .configureOutput({ writeErr: (text) => process.stderr.write(`${usageErrorLine(text, 'pnpm convoy --help')}\n`) })
    .showSuggestionAfterError(true)
    .addHelpText('after', TRAINING_COMMANDS);
  addModelCommands(program);
  for (const command of program.commands) command.exitOverride();
  try {
    await program.parseAsync(argv, { from: 'user' });
    return 0;
  } catch (error) {
    // Commander has already printed its own message (or the help).
    if (error instanceof CommanderError) return error.exitCode === 0 ? 0 : USER_ERROR_EXIT_CODE;
    if (isUserError(error)) {
      process.stderr.write(`convoy: ${error.message.split('\n')[0]}\n`);
      return USER_ERROR_EXIT_CODE;
    }
    throw error;
  }
}

/**
 * Errors from Convoy's own modules carry a string `code` (CliError, DataError, checkpoint and
 * spec errors); Node's ERR_* codes are bugs, not user input.
 */
function isUserError(error: unknown): error is Error {
  const code = errorCode(error);
  return code !== undefined && !code.startsWith('ERR_');
}
