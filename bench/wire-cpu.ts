/**
 * `pnpm bench:wire-cpu`: the CPU a `--wire topk` step spends around the compute, piece by
 * piece, at the default model's size (one process, no sockets):
 *
 *   upload     a worker's UploadEncoder.encode of its gradient sum (residual add, top-k
 *              selection, bf16 pack with the rounding error kept in the residual)
 *   parseUp    the coordinator's decodeSparseEntries of an answer's packed gradient
 *   sum        the coordinator's sumInSliceOrder of the workers' sparse answers
 *   encode     CoordinatorWire.encode (the union of the answers, bf16 with its residual)
 *   apply      CoordinatorWire.apply (the coordinator's replica's Adam update; with a baseline
 *              from before its arrays were the model's, the copies in and out too)
 *   parseDown  a worker's decodeSparseEntries of the update's packed gradient
 *   onUpdate   a worker's WorkerWire.onUpdate of the broadcast update (scatter, Adam)
 *
 * The inputs are real: gradient sums of the default model over `--slices` MNIST slices of
 * `--batch` images (a worker's share of a step), one engine's, cycled; each density gets
 * pipelines of `--workers` workers and a coordinator that run `--warmup` steps before any
 * is timed, so the residuals hold what they hold in a run. Densities: the final one (after
 * the warm-up) and two of the warm-up's (codecs.ts), or those `--densities` lists.
 * `--workers 32 --batch 16 --slices 64` is `pnpm bench:load`'s step (32 answers of a
 * 512-image batch): the coordinator then unites and sums 32 answers.
 *
 * The coordinator's encode gets the answers' indices (gradient-sum.ts, sparseAnswerIndices)
 * when the code has them; `--union scan` leaves them out (encode then scans every entry).
 *
 * With `--baseline <git ref>` the same pipelines also run on that commit's code (its core
 * package and gradient-sum.ts, extracted into a temporary folder), alternated with this
 * tree's within every round, fed the same inputs; every frame both send is compared byte
 * for byte (the bench stops at the first difference). Figures on a shared machine are
 * only good as the ratios within one run: each round's ratio is taken between the two
 * sides measured back to back, and the table gives medians over rounds.
 *
 *   pnpm bench:wire-cpu [-- --baseline 56ca912 --rounds 9 --steps 8 --warmup 12 --slices 4 --batch 128 --workers 2
 *                          --densities 0.01,0.05,0.25 --kernels auto --union answers]
 */
import { execFileSync } from 'node:child_process';
import { mkdtempSync, rmSync, symlinkSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { pathToFileURL } from 'node:url';
import { COORDINATOR_DEFAULTS } from '../packages/coordinator/src/index.js';
import type { Piece } from '../packages/coordinator/src/scheduler.js';
import { createModel, type GradientMessage, type KernelsChoice, type ResolvedOptimizerConfig, type StepMessage, type UpdateMessage, type WelcomeMessage } from '../packages/core/src/index.js';
import { loadMnist, selectNodeKernels } from '../packages/core/src/node.js';
import { ComputeEngine } from '../packages/worker/src/index.js';
import { benchFlags, machine, median, saveResults } from './measure.js';

type WireModule = typeof import('../packages/core/src/wire/index.js');
type SumModule = typeof import('../packages/coordinator/src/gradient-sum.js');
interface Code {
  readonly name: string;
  readonly wire: WireModule;
  readonly sum: SumModule;
}

const PIECES = ['upload', 'parseUp', 'sum', 'encode', 'apply', 'parseDown', 'onUpdate'] as const;
type PieceName = (typeof PIECES)[number];
const OPTIMIZER: ResolvedOptimizerConfig = { name: 'adam', learningRate: 0.004, beta1: 0.9, beta2: 0.999, epsilon: 1e-7 };

// Densities by default: after the warm-up (TOPK_DENSITY.final) and two points of the warm-up.
const flags = benchFlags({ baseline: '', rounds: '9', steps: '8', warmup: '12', slices: '4', batch: '128', workers: '2', densities: '0.01,0.05,0.25', kernels: 'auto', union: 'answers' });
if (flags.union !== 'answers' && flags.union !== 'scan') fail(`--union is answers or scan, not ${flags.union}`);
const [rounds, stepsPerRound, warmup, sliceCount, batch, workerCount] = [flags.rounds, flags.steps, flags.warmup, flags.slices, flags.batch, flags.workers].map(Number) as [number, number, number, number, number, number];
if (![rounds, stepsPerRound, sliceCount, batch, workerCount].every((value) => Number.isInteger(value) && value >= 1) || !Number.isInteger(warmup) || warmup < 0) {
  fail('--rounds, --steps, --slices, --batch and --workers are whole numbers from 1, --warmup from 0');
}
const densities = flags.densities.split(',').map(Number);
if (!densities.every((density) => density > 0 && density <= 1)) fail(`--densities are fractions in (0, 1], not ${flags.densities}`);
const host = machine();

const codes: Code[] = [];
if (flags.baseline !== '') codes.push(await loadCode(`baseline ${flags.baseline}`, extractBaseline(flags.baseline)));
codes.push(await loadCode('this tree', resolve('.')));

const spec = COORDINATOR_DEFAULTS.spec;
const initial = createModel(spec, { seed: 1 }).params;
const paramCount = initial.length;
process.stdout.write(`convoy bench:wire-cpu: topk's CPU around a step, ${paramCount} parameters, ${workerCount} workers' answers of ${batch} images, Adam, union from ${flags.union}; ${rounds} rounds of ${stepsPerRound} steps per side after ${warmup}\n`);
process.stdout.write(`machine: ${host.cpu}, ${host.cores} cores, Node ${host.node}; load average before ${host.loadBefore.join(' ')}\n`);
const gradients = realGradients(sliceCount);

interface Pipeline {
  readonly uploads: InstanceType<WireModule['UploadEncoder']>[];
  readonly coordinator: InstanceType<WireModule['CoordinatorWire']>;
  readonly worker: InstanceType<WireModule['WorkerWire']>;
  readonly params: Float32Array;
  readonly state: Record<string, Float32Array>;
  readonly sum: Float32Array;
  step: number;
}

function pipeline(code: Code): Pipeline {
  const { UploadEncoder, CoordinatorWire, WorkerWire, replicaStateNames } = code.wire;
  // As a coordinator on the native kernels holds them, where this side's code can: the model's
  // and the optimizer's arrays are its replica's, and apply() updates them in place.
  const replica = (code.wire as Partial<WireModule>).createReplicaArrays?.(OPTIMIZER, paramCount) ?? null;
  const params = replica?.params ?? new Float32Array(paramCount);
  params.set(initial);
  const state = Object.fromEntries(replicaStateNames(OPTIMIZER).map((name, i) => [name, replica?.state[i] ?? new Float32Array(paramCount)]));
  const worker = new WorkerWire();
  const welcome: WelcomeMessage = { type: 'welcome', protocol: 1, workerId: 1, spec, paramCount, datasetHash: 'h', sendingDataset: false, heartbeatMs: 1000, wire: 'topk', optimizer: OPTIMIZER };
  worker.onWelcome(welcome);
  worker.onJob(job(0, { params, state: Object.values(state), iterations: 0 }));
  return {
    uploads: Array.from({ length: workerCount }, () => new UploadEncoder('topk', paramCount)),
    coordinator: new CoordinatorWire('topk', paramCount, 0, replica),
    worker, params, state, sum: new Float32Array(paramCount), step: 0,
  };
}

function job(version: number, full: Partial<StepMessage>): StepMessage {
  return { type: 'step', step: version + 1, round: version + 1, epoch: 1, version, indices: Uint32Array.of(0), dropoutSeeds: Uint32Array.of(0), ...full };
}

/** One step of a pipeline at `density`: the milliseconds of each piece, and the frames sent. */
function runStep(code: Code, p: Pipeline, density: number): { ms: Record<PieceName, number>; frames: Uint8Array[] } {
  const { decodeSparseEntries } = code.wire;
  const step = ++p.step;
  const ms: Record<PieceName, number> = { upload: 0, parseUp: 0, sum: 0, encode: 0, apply: 0, parseDown: 0, onUpdate: 0 };
  const frames: Uint8Array[] = [];
  const pieces: Piece[] = p.uploads.map((upload, w) => {
    const gradient = gradients[(step * workerCount + w) % gradients.length]!;
    let t = performance.now();
    const packed = upload.encode(gradient, density);
    ms.upload += performance.now() - t;
    frames.push(packed);
    // Parsed as the coordinator's parseMessage does.
    t = performance.now();
    const entries = decodeSparseEntries(packed, paramCount, 'gradient.packed') ?? undefined;
    ms.parseUp += performance.now() - t;
    const answer: GradientMessage = { type: 'gradient', step, round: step, count: batch, lossSum: 0, correct: 0, gradient: new Float32Array(0), computeMs: 0, decodeMs: 0, packed, ...(entries === undefined ? {} : { entries }) };
    if (entries === undefined) throw new Error(`density ${density}: a dense answer (the bench expects sparse ones)`);
    return { start: w * batch, end: (w + 1) * batch, workerId: w + 1, version: step - 1, answer, roundTripMs: 0, sentAt: 0, arrivedAt: 0, scale: 1 };
  });
  ms.upload /= workerCount;
  ms.parseUp /= workerCount;
  let t = performance.now();
  code.sum.sumInSliceOrder(pieces, p.sum, step);
  ms.sum = performance.now() - t;
  t = performance.now();
  // The answers' indices, where this side's code takes them (with `--union scan`, never).
  const answerIndices = flags.union === 'answers' ? (code.sum as Partial<SumModule>).sparseAnswerIndices?.(pieces) : undefined;
  const update = p.coordinator.encode(step, OPTIMIZER, OPTIMIZER.learningRate, step - 1, p.sum, workerCount * batch, answerIndices);
  ms.encode = performance.now() - t;
  frames.push(update.packed);
  t = performance.now();
  p.coordinator.apply(p.params, p.state);
  ms.apply = performance.now() - t;
  t = performance.now();
  const entries = decodeSparseEntries(update.packed, paramCount, 'update.packed');
  ms.parseDown = performance.now() - t;
  const received: UpdateMessage = entries === null ? { ...update, gradient: decodeDense(code, update.packed) } : { ...update, entries };
  t = performance.now();
  p.worker.onUpdate(received);
  ms.onUpdate = performance.now() - t;
  return { ms, frames };
}

function decodeDense(code: Code, packed: Uint8Array): Float32Array {
  const into = new Float32Array(paramCount);
  code.wire.decodePacked(packed, into, 'update.packed');
  return into;
}

// One pipeline per side and density, each warmed up on the same inputs.
const pipelines = densities.map((density) => codes.map((code) => {
  const p = pipeline(code);
  for (let i = 0; i < warmup; i++) runStep(code, p, density);
  return p;
}));

/** times[density][side][piece]: the per-round medians. */
const times = densities.map(() => codes.map(() => Object.fromEntries(PIECES.map((piece) => [piece, [] as number[]])) as Record<PieceName, number[]>));
for (let round = 0; round < rounds; round++) {
  for (const [d, density] of densities.entries()) {
    // Alternate which side goes first, so neither always runs in the other's wake.
    const order = round % 2 === 0 ? codes.map((_, i) => i) : codes.map((_, i) => codes.length - 1 - i);
    const frames: Uint8Array[][][] = codes.map(() => []);
    for (const side of order) {
      const perStep: Record<PieceName, number[]> = Object.fromEntries(PIECES.map((piece) => [piece, [] as number[]])) as Record<PieceName, number[]>;
      for (let s = 0; s < stepsPerRound; s++) {
        const result = runStep(codes[side]!, pipelines[d]![side]!, density);
        for (const piece of PIECES) perStep[piece].push(result.ms[piece]);
        frames[side]!.push(result.frames);
      }
      for (const piece of PIECES) times[d]![side]![piece].push(median(perStep[piece]));
    }
    if (codes.length === 2) compareFrames(frames[0]!, frames[1]!, density, round);
  }
}

function compareFrames(a: Uint8Array[][], b: Uint8Array[][], density: number, round: number): void {
  for (const [s, stepFrames] of a.entries()) {
    for (const [f, frame] of stepFrames.entries()) {
      const other = b[s]![f]!;
      if (frame.length !== other.length || !frame.every((byte, i) => byte === other[i])) {
        throw new Error(`density ${density}, round ${round}, step ${s}: frame ${f} differs between ${codes[0]!.name} and ${codes[1]!.name}`);
      }
    }
  }
}

const summary: Record<string, unknown> = {};
for (const [d, density] of densities.entries()) {
  process.stdout.write(`\ndensity ${density}: median ms per call${codes.length === 2 ? ` (${codes[0]!.name} | ${codes[1]!.name} | median of the rounds' ratios)` : ''}\n`);
  const rows: Record<string, unknown> = {};
  for (const piece of [...PIECES, 'total'] as const) {
    const series = codes.map((_, side) => (piece === 'total' ? totals(times[d]![side]!) : times[d]![side]![piece]));
    const medians = series.map((list) => median(list));
    const ratio = series.length === 2 ? median(series[0]!.map((old, i) => old / series[1]![i]!)) : null;
    process.stdout.write(`  ${piece.padEnd(9)} ${medians.map((m) => m.toFixed(2).padStart(7)).join(' | ')}${ratio === null ? '' : ` | ${ratio.toFixed(2)}x`}\n`);
    rows[piece] = { medians, ratio, rounds: series };
  }
  summary[String(density)] = rows;
}
if (codes.length === 2) process.stdout.write(`\nevery frame sent (${workerCount} uploads and the update, ${rounds * stepsPerRound} steps per density) was byte-identical between the two sides\n`);
saveResults('wire-cpu', host, { baseline: flags.baseline, union: flags.union, workers: workerCount, rounds, stepsPerRound, warmup, batch, paramCount, densities: densities, sides: codes.map((code) => code.name), summary });

/** Per round, the sum of the pieces' medians: a step's CPU around the compute (the upload and its parse once: one worker's). */
function totals(pieces: Record<PieceName, number[]>): number[] {
  return pieces.upload.map((_, round) => PIECES.reduce((sum, piece) => sum + pieces[piece][round]!, 0));
}

function fail(message: string): never {
  process.stderr.write(`${message}\n`);
  process.exit(2);
}

/** Gradient sums of the default model over `count` different MNIST slices of `batch` images. */
function realGradients(count: number): Float32Array[] {
  const data = loadMnist();
  const engine = new ComputeEngine(spec, paramCount, data, selectNodeKernels(flags.kernels as KernelsChoice));
  return Array.from({ length: count }, (_, call) => {
    const positions = Array.from({ length: batch }, (_, i) => call * batch + i);
    const answer = engine.step(
      {
        ...job(0, call === 0 ? { params: initial } : {}),
        indices: Uint32Array.from(positions, (position) => position % data.train.count),
        dropoutSeeds: Uint32Array.from(positions, (position) => position + 1),
      },
      0,
    );
    return answer.gradient.slice();
  });
}

/**
 * A new temporary folder holding `ref`'s packages/core (its src and package.json; this
 * tree's build/ and node_modules linked in: the WebAssembly build only grows by new
 * exports) and gradient-sum.ts; removed when the process exits.
 */
function extractBaseline(ref: string): string {
  const commit = execFileSync('git', ['rev-parse', '--verify', `${ref}^{commit}`], { encoding: 'utf8' }).trim();
  const folder = mkdtempSync(join(tmpdir(), `convoy-bench-baseline-${commit.slice(0, 12)}-`));
  // NOTE: rmSync removes the links, never what they point to.
  process.on('exit', () => rmSync(folder, { recursive: true, force: true }));
  const archive = execFileSync('git', ['archive', commit, 'packages/core/src', 'packages/core/package.json', 'packages/coordinator/src/gradient-sum.ts']);
  execFileSync('tar', ['-x', '-C', folder], { input: archive });
  symlinkSync(resolve('packages/core/node_modules'), join(folder, 'packages/core/node_modules'));
  symlinkSync(resolve('packages/core/build'), join(folder, 'packages/core/build'));
  return folder;
}

async function loadCode(name: string, root: string): Promise<Code> {
  const wire = (await import(pathToFileURL(join(root, 'packages/core/src/wire/index.ts')).href)) as WireModule;
  const sum = (await import(pathToFileURL(join(root, 'packages/coordinator/src/gradient-sum.ts')).href)) as SumModule;
  return { name, wire, sum };
}
