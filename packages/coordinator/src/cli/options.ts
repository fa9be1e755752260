/**
 * Command-line flags shared by `pnpm start` and `pnpm coordinator`, parsed with commander
 * into CoordinatorOptions. A bad flag is one line on stderr and exit code 2.
 */
import { existsSync, readdirSync, readFileSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { ADADELTA_DEFAULTS, ADAM_DEFAULTS, ERROR_PREFIX, MNIST_CNN, MNIST_CNN_DROPOUT, KERNELS_CHOICES, WIRE_CODECS, usageErrorLine, type ModelSpec, type OptimizerConfig, type WireCodec } from '@convoy/core';
import { Command, CommanderError, InvalidArgumentError, Option } from 'commander';
import { COORDINATOR_DEFAULTS, CoordinatorError, OPTION_RANGES, TRAIN_FILE_IMAGES, rangeProblem, type CoordinatorOptions, type OptionRange, type TrainingOptions } from '../defaults.js';
import { LR_SCHEDULES, type LrSchedule } from '../schedule.js';

export const EXIT_BAD_USAGE = 2;

export function integerFlag(min: number, max = Number.MAX_SAFE_INTEGER) {
  return (value: string): number => {
    const number = Number(value);
    const range = rangeText('an integer', min, max, Number.MAX_SAFE_INTEGER);
    if (!/^-?\d+$/.test(value.trim()) || !Number.isSafeInteger(number)) throw new InvalidArgumentError(`'${value}' is not an integer: ${range}`);
    if (number < min || number > max) throw new InvalidArgumentError(range);
    return number;
  };
}

/** "must be an integer >= 1" when there is no real upper bound (no 1.7976931348623157e+308 on screen). */
function rangeText(kind: string, min: number, max: number, unbounded: number): string {
  return max === unbounded ? `must be ${kind} >= ${min}` : `must be ${kind} in [${min}, ${max}]`;
}

export function numberFlag(min: number, max = Number.MAX_VALUE) {
  return (value: string): number => {
    const number = Number(value);
    if (value.trim() === '' || !Number.isFinite(number)) {
      throw new InvalidArgumentError(`'${value}' is not a number${value.includes(',') ? ' (write decimals with a point: 0.001)' : ''}`);
    }
    if (number < min || number > max) throw new InvalidArgumentError(rangeText('a number', min, max, Number.MAX_VALUE));
    return number;
  };
}

/** A flag parser for an option whose range defaults.ts declares (OPTION_RANGES). */
export function rangeFlag(range: OptionRange) {
  return (value: string): number => {
    const number = Number(value);
    const malformed = value.trim() === '' || !Number.isFinite(number) || (range.integer && !/^-?\d+$/.test(value.trim()));
    const problem = rangeProblem(range, malformed ? Number.NaN : number);
    if (problem === null) return number;
    throw new InvalidArgumentError(malformed ? `'${value}' is not ${range.integer ? 'an integer' : 'a number'}: ${problem}` : problem);
  };
}

/** --model: "default" (with Dropout), "plain" (the seed's layers exactly) or a JSON spec file. */
export function modelFlag(value: string): ModelSpec {
  if (value === 'default') return MNIST_CNN_DROPOUT;
  if (value === 'plain') return MNIST_CNN;
  if (!existsSync(value)) throw new InvalidArgumentError(`must be default, plain or a JSON spec file (${value} not found)`);
  try {
    return JSON.parse(readFileSync(value, 'utf8')) as ModelSpec;
  } catch (error) {
    throw new InvalidArgumentError(`${value} is not valid JSON (${(error as Error).message})`);
  }
}

/** Adds the training and server flags to `program`. */
export function addCoordinatorFlags(program: Command): Command {
  const d = COORDINATOR_DEFAULTS;
  const r = OPTION_RANGES;
  const recipe = `${d.optimizer.name} ${d.optimizer.learningRate}, the default recipe's`;
  return program
    .option('--epochs <n>', 'epochs to train', rangeFlag(r.epochs), d.epochs)
    .option('--batch <n>', 'global batch size (all workers together)', rangeFlag(r.globalBatch), d.globalBatch)
    .addOption(new Option('--optimizer <name>', 'optimizer').choices(['adadelta', 'sgd', 'adam']).default(d.optimizer.name))
    .option('--lr <rate>', `learning rate (default: ${recipe}; adadelta ${ADADELTA_DEFAULTS.learningRate}, adam ${ADAM_DEFAULTS.learningRate} otherwise; sgd needs one)`, numberFlag(0))
    .option('--momentum <m>', 'sgd momentum', numberFlag(0, 0.999999))
    .addOption(new Option('--lr-schedule <name>', 'learning rate over the run: step (times --lr-decay every --lr-decay-every epochs) or cosine (every step, from --lr down to 0 at the last step)').choices([...LR_SCHEDULES]).default(d.lrSchedule))
    .option('--lr-decay <factor>', 'step schedule: multiply the learning rate by this every --lr-decay-every epochs (above 0)', rangeFlag(r.lrDecay), d.lrDecay)
    .option('--lr-decay-every <epochs>', 'step schedule: epochs between learning-rate drops', rangeFlag(r.lrDecayEvery), d.lrDecayEvery)
    .option('--model <spec>', 'default (seed layers + Dropout), plain (seed layers) or a JSON spec file', modelFlag)
    .option('--seed <n>', 'seed of initialisation, shuffling and dropout', rangeFlag(r.seed), d.seed)
    .option('--train-size <n>', 'training images (the first n of the training file)', rangeFlag(r.trainSize), d.trainSize)
    .option('--validation-size <n>', 'validation images (the last n of the training file)', rangeFlag(r.validationSize), d.validationSize)
    .option('--test-size <n>', 'test images evaluated at the end (0: none; at most the test file)', rangeFlag(r.testSize), d.testSize)
    .option('--max-steps <n>', 'stop after this many steps in total (0: all epochs)', rangeFlag(r.maxSteps), d.maxSteps)
    .option('--host <address>', 'address to listen on', d.host)
    .option('--port <n>', 'port for workers and the dashboard (0: any free port)', rangeFlag(r.port), d.port)
    .option('--token <secret>', 'shared secret workers must present; prefer the CONVOY_TOKEN variable (a flag shows in pnpm\'s echo of the command and in ps)')
    .option('--insecure', 'allow a non-loopback --host without --token')
    .option('--tls-cert <file>', 'TLS certificate (PEM): workers connect with wss://')
    .option('--tls-key <file>', 'private key of --tls-cert (PEM)')
    .option('--out <dir>', 'run folder (default: runs/<date-time>)')
    .option('--resume', 'continue the run in --out (default: the newest in runs/) from its checkpoint')
    .option('--checkpoint-every <steps>', 'also checkpoint every this many steps (0: epoch ends only)', rangeFlag(r.checkpointEvery), d.checkpointEvery)
    .addOption(new Option('--kernels <name>', 'kernel backend (auto: native > wasm > ts)').choices(KERNELS_CHOICES).default(d.kernels))
    .addOption(new Option('--wire <codec>', 'what crosses the network each step: fp32 (exact), bf16, topk (slow links); --resume keeps the run\'s unless given').choices([...WIRE_CODECS]).default(d.wire))
    .option('--overlap', 'compute each step while the previous one\'s answers and update cross the network (one step of staleness; for slow links); --resume keeps the run\'s unless given')
    .option('--no-overlap', 'every step waits for the previous one\'s update (the default)')
    .option('--overlap-after <steps>', '--overlap: steps run one at a time before it starts (default: one epoch)', rangeFlag({ min: 0, max: Number.MAX_SAFE_INTEGER, integer: true } satisfies OptionRange))
    .option('--topk-warmup-steps <n>', 'topk: steps over which the fraction of gradient entries sent falls to its final value (default: one epoch)', rangeFlag({ min: 0, max: Number.MAX_SAFE_INTEGER, integer: true } satisfies OptionRange))
    .option('--data <dir>', 'folder with the four MNIST IDX files (default: the bundled MNIST)')
    .option('--heartbeat <ms>', 'a peer silent this long is dead', rangeFlag(r.heartbeatMs), d.heartbeatMs)
    .option('--handshake <ms>', 'a connection that has not said hello (or sent its HTTP request) this long is closed', rangeFlag(r.handshakeMs), d.handshakeMs)
    .option('--deadline-min <ms>', 'shortest deadline of a slice', rangeFlag(r.deadlineMinMs), d.deadlineMinMs)
    .option('--deadline-first <ms>', 'deadline of a worker whose speed is not yet measured', rangeFlag(r.deadlineFirstMs), d.deadlineFirstMs)
    .addOption(new Option('--chaos <plan>', 'fault injection, e.g. kill:worker1@step20,pause:worker2@step40:5s,kill:coordinator@step8 (chaos.ts)').hideHelp());
}

interface Flags {
  epochs: number;
  batch: number;
  optimizer: 'adadelta' | 'sgd' | 'adam';
  lr?: number;
  momentum?: number;
  lrSchedule: LrSchedule;
  lrDecay: number;
  lrDecayEvery: number;
  model?: ModelSpec;
  seed: number;
  trainSize: number;
  validationSize: number;
  testSize: number;
  maxSteps: number;
  host: string;
  port: number;
  token?: string;
  insecure?: boolean;
  tlsCert?: string;
  tlsKey?: string;
  out?: string;
  resume?: boolean;
  checkpointEvery: number;
  kernels: 'ts' | 'wasm' | 'auto';
  wire: WireCodec;
  overlap?: boolean;
  overlapAfter?: number;
  topkWarmupSteps?: number;
  data?: string;
  heartbeat: number;
  handshake: number;
  deadlineMin: number;
  deadlineFirst: number;
  chaos?: string;
  minWorkers?: number;
}

function optimizerConfig(flags: Flags): OptimizerConfig {
  // The recipe's optimizer without --lr is the recipe's config: its rate is tuned with its batch.
  if (flags.lr === undefined && flags.optimizer === COORDINATOR_DEFAULTS.optimizer.name) return COORDINATOR_DEFAULTS.optimizer;
  const rate = flags.lr === undefined ? {} : { learningRate: flags.lr };
  switch (flags.optimizer) {
    case 'sgd':
      if (flags.lr === undefined) throw new CoordinatorError('BAD_OPTION', '--optimizer sgd needs --lr');
      return { name: 'sgd', learningRate: flags.lr, ...(flags.momentum === undefined ? {} : { momentum: flags.momentum }) };
    case 'adam':
      return { name: 'adam', ...rate };
    case 'adadelta':
      return { name: 'adadelta', ...rate };
  }
}

/** The newest folder under runs/ that holds a checkpoint. */
function newestRun(root = 'runs'): string {
  const candidates = existsSync(root)
    ? readdirSync(root)
        .map((name) => join(root, name))
        .filter((dir) => existsSync(join(dir, 'checkpoint.ckpt')))
        .sort((a, b) => statSync(join(b, 'checkpoint.ckpt')).mtimeMs - statSync(join(a, 'checkpoint.ckpt')).mtimeMs)
    : [];
  if (candidates.length === 0) throw new CoordinatorError('NO_CHECKPOINT', '--resume: no run with a checkpoint under runs/; name one with --out DIR');
  return candidates[0]!;
}

export function defaultRunDir(): string {
  return join('runs', new Date().toISOString().replace(/[:.]/g, '-').replace('T', '_').slice(0, 19));
}

/**
 * `given`: the flags the user set (commander's value source 'cli' or 'env'). On --resume the
 * run's own settings win; --epochs is passed on only when given (more epochs continue the
 * run), and the other training flags are checked against the run by checkResumeFlags.
 */
export function coordinatorOptions(flags: Flags, localWorkers: number, given: ReadonlySet<string> = new Set()): Partial<CoordinatorOptions> {
  if (flags.momentum !== undefined && flags.optimizer !== 'sgd') throw new CoordinatorError('BAD_OPTION', '--momentum applies to --optimizer sgd only');
  if (flags.lrSchedule !== 'step') {
    const stepOnly = ['lrDecay', 'lrDecayEvery'].find((name) => given.has(name));
    if (stepOnly !== undefined) throw new CoordinatorError('BAD_OPTION', `--${stepOnly === 'lrDecay' ? 'lr-decay' : 'lr-decay-every'} applies to --lr-schedule step only`);
  }
  const outDir = flags.out ?? (flags.resume ? newestRun() : defaultRunDir());
  return {
    spec: flags.model ?? COORDINATOR_DEFAULTS.spec,
    optimizer: optimizerConfig(flags),
    lrSchedule: flags.lrSchedule,
    lrDecay: flags.lrDecay,
    lrDecayEvery: flags.lrDecayEvery,
    ...(flags.resume && !given.has('epochs') ? {} : { epochs: flags.epochs }),
    globalBatch: flags.batch,
    seed: flags.seed,
    trainSize: Math.min(flags.trainSize, TRAIN_FILE_IMAGES - flags.validationSize),
    validationSize: flags.validationSize,
    testSize: flags.testSize,
    maxSteps: flags.maxSteps,
    host: flags.host,
    port: flags.port,
    ...(flags.token ?? process.env['CONVOY_TOKEN'] ? { token: flags.token ?? process.env['CONVOY_TOKEN'] } : {}),
    insecure: flags.insecure === true,
    ...(flags.tlsCert === undefined ? {} : { tlsCert: flags.tlsCert }),
    ...(flags.tlsKey === undefined ? {} : { tlsKey: flags.tlsKey }),
    outDir,
    resume: flags.resume === true,
    checkpointEvery: flags.checkpointEvery,
    kernels: flags.kernels,
    // Like --epochs: on --resume the run keeps its codec unless --wire is given (a codec may change: workers get full state on joining anyway).
    ...(flags.resume && !given.has('wire') ? {} : { wire: flags.wire }),
    ...(flags.resume && !given.has('overlap') ? {} : { overlap: flags.overlap === true }),
    ...(flags.overlapAfter === undefined ? {} : { overlapAfter: flags.overlapAfter }),
    ...(flags.topkWarmupSteps === undefined ? {} : { topkWarmupSteps: flags.topkWarmupSteps }),
    ...(flags.data === undefined ? {} : { dataDir: flags.data }),
    heartbeatMs: flags.heartbeat,
    handshakeMs: flags.handshake,
    deadlineMinMs: flags.deadlineMin,
    deadlineFirstMs: flags.deadlineFirst,
    minWorkers: flags.minWorkers ?? Math.max(1, localWorkers),
    localWorkers,
  };
}

export { ERROR_PREFIX, usageErrorLine };

/**
 * Parses argv with `program`; returns its flags, or an exit code (help: 0, bad flag: 2)
 * after commander printed one line.
 */
export function parseFlags(program: Command, argv: readonly string[], helpCommand = '--help'): Flags | number {
  program
    .exitOverride()
    .configureOutput({ writeErr: (text) => process.stderr.write(`${usageErrorLine(text, helpCommand)}\n`) })
    .showHelpAfterError(false)
    .allowExcessArguments(false);
  // NOTE: `pnpm start -- --epochs 2` hands the script a literal "--" first; commander would
  // take everything after it as positional arguments.
  const args = argv[0] === '--' ? argv.slice(1) : argv;
  try {
    program.parse(args as string[], { from: 'user' });
  } catch (error) {
    if (error instanceof CommanderError) return error.exitCode === 0 ? 0 : EXIT_BAD_USAGE;
    throw error;
  }
  return program.opts<Flags>();
}

/** What to do about an error whose message alone does not say it. */
function hint(error: Error): string {
  if ((error as { code?: unknown }).code === 'LISTEN_FAILED' && /EADDRINUSE/.test(error.message)) {
    return ' (another program uses that port: give --port 0 for any free port, or another --port)';
  }
  return '';
}

/** A user error (any error with a string code) is one line; anything else is a bug and keeps its stack. */
export function reportError(error: unknown): number {
  if (error instanceof Error && typeof (error as { code?: unknown }).code === 'string') {
    process.stderr.write(`${ERROR_PREFIX} ${error.message}${hint(error)}\n`);
    return EXIT_BAD_USAGE;
  }
  console.error(error);
  return 1;
}

/** The flags whose value the user gave (on the command line or through the environment). */
export function givenFlags(program: Command): Set<string> {
  const names = Object.keys(program.opts());
  return new Set(names.filter((name) => ['cli', 'env'].includes(program.getOptionValueSource(name) ?? '')));
}

type Settings = Partial<TrainingOptions>;
const optimizerField = (options: Settings, field: 'name' | 'learningRate' | 'momentum') => (options.optimizer as Record<string, unknown> | undefined)?.[field];

/**
 * Training flags fixed by a run's first start, each with how to read its value from the
 * run's settings (settingsOf in trainer.ts: the same fields as the options).
 */
const FIXED_ON_RESUME: ReadonlyArray<readonly [flag: string, read: (options: Settings) => unknown]> = [
  ['--batch', (options) => options.globalBatch],
  ['--seed', (options) => options.seed],
  ['--model', (options) => options.spec],
  ['--optimizer', (options) => optimizerField(options, 'name')],
  ['--lr', (options) => optimizerField(options, 'learningRate')],
  ['--momentum', (options) => optimizerField(options, 'momentum')],
  ['--lr-schedule', (options) => options.lrSchedule],
  ['--lr-decay', (options) => options.lrDecay],
  ['--lr-decay-every', (options) => options.lrDecayEvery],
  ['--train-size', (options) => options.trainSize],
  ['--validation-size', (options) => options.validationSize],
  ['--test-size', (options) => options.testSize],
  ['--max-steps', (options) => options.maxSteps],
];

const camel = (flag: string) => flag.slice(2).replace(/-(\w)/g, (_, letter: string) => letter.toUpperCase());

/**
 * --resume continues the same run: a given training flag that differs from the run's own
 * setting is refused by name ("--batch cannot change on --resume (the run used 256)")
 * rather than silently ignored. --epochs may grow (like Keras's initial_epoch), never
 * below the epochs already trained.
 */
export function checkResumeFlags(options: Partial<CoordinatorOptions>, given: ReadonlySet<string>, settings: Settings, epochsTrained: number): void {
  for (const [flag, read] of FIXED_ON_RESUME) {
    if (!given.has(camel(flag))) continue;
    const run = read(settings);
    if (JSON.stringify(run) === JSON.stringify(read(options))) continue;
    const shown = flag === '--model' ? 'its own model spec' : run === undefined ? 'the default' : String(run);
    throw new CoordinatorError('BAD_RESUME', `${flag} cannot change on --resume (the run used ${shown})`);
  }
  if (options.epochs !== undefined && options.epochs < epochsTrained) {
    throw new CoordinatorError('BAD_RESUME', `--epochs ${options.epochs}: the run has already trained ${epochsTrained} epochs`);
  }
}
