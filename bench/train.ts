/**
 * `pnpm bench`: images/s of one training step (forward + backward + Adadelta update) and
 * of inference for the default model on one core, for Convoy's kernels and for TF.js,
 * PyTorch and onnxruntime-node (inference) on the identical model in the same run, with each
 * figure's ratio to Convoy-wasm. Also a per-layer time breakdown (with the GFLOP/s of the
 * matrix products) of one step on the native and wasm kernels, and a worker's resident memory.
 * Writes bench/results/<time>.json. `--quick` shortens every measurement (smoke test).
 *
 * NOTE: the figures depend on the machine's load (printed with them): on a shared
 * machine they are pessimistic.
 */
import { spawnSync } from 'node:child_process';
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { createModel, createOptimizer, createWasmKernels, selectKernels, MNIST_CNN, type Kernels } from '../packages/core/src/index.js';
import { createNativeKernels, nativeKernelsStatus } from '../packages/core/src/node.js';
import { benchOnnxRuntime } from './onnxruntime.js';
import { profileStep, timedKernels, type KernelTiming } from './profile.js';
import { imagesPerSecond, loadAverage, machine as describeMachine, type Rate } from './measure.js';
import { benchTfjs } from './tfjs.js';

const quick = process.argv.includes('--quick');
const SECONDS = quick ? 0.5 : 3;
const BATCHES = [1, 32, 64, 128] as const;
const INFERENCE_BATCH = 64;
const here = fileURLToPath(new URL('.', import.meta.url));

interface Row {
  readonly name: string;
  readonly train: Record<number, Rate | null>;
  readonly inference: Rate | null;
  readonly note: string;
}

function log(message: string): void {
  process.stderr.write(`[bench] ${message}\n`);
}

function randomBatch(batch: number): { images: Float32Array; labels: Uint8Array } {
  const images = new Float32Array(batch * 784);
  for (let i = 0; i < images.length; i++) images[i] = ((i * 2654435761) % 1000) / 1000;
  return { images, labels: Uint8Array.from({ length: batch }, (_, i) => (i * 7) % 10) };
}

/** Convoy on `kernels`: training step = lossAndGradient + Adadelta (in the kernels) on the model's params. */
function benchConvoy(name: string, kernels: Kernels, seconds: number, maxSteps: number, warmUp: boolean, note: string): Row {
  const model = createModel(MNIST_CNN, { seed: 1, kernels });
  const optimizer = createOptimizer({ name: 'adadelta', learningRate: 1, rho: 0.95, epsilon: 1e-7 }, kernels, model.paramCount);
  const train: Record<number, Rate> = {};
  for (const batch of BATCHES) {
    const { images, labels } = randomBatch(batch);
    train[batch] = imagesPerSecond(batch, seconds, maxSteps, () => optimizer.apply(model.params, model.lossAndGradient(images, labels).gradient), warmUp);
    log(`${name} train batch ${batch}: ${JSON.stringify(train[batch])} images/s`);
  }
  const { images } = randomBatch(INFERENCE_BATCH);
  const inference = imagesPerSecond(INFERENCE_BATCH, seconds, maxSteps * 4, () => model.predict(images), warmUp);
  log(`${name} inference: ${JSON.stringify(inference)} images/s`);
  return { name, train, inference, note };
}

interface Breakdown {
  readonly kernels: string;
  readonly rows: KernelTiming[];
  readonly stepMilliseconds: number;
}

function breakdown(kernels: Kernels): Breakdown {
  const timed = timedKernels(kernels);
  const model = createModel(MNIST_CNN, { seed: 1, kernels: timed.kernels });
  const optimizer = createOptimizer({ name: 'adadelta' }, timed.kernels, model.paramCount);
  const { images, labels } = randomBatch(64);
  const { rows, totalMilliseconds } = profileStep(model, timed.timings, timed.reset, () => optimizer.apply(model.params, model.lossAndGradient(images, labels).gradient), quick ? 2 : 10);
  return { kernels: kernels.description, rows, stepMilliseconds: totalMilliseconds };
}

function breakdownLines(steps: Breakdown): string[] {
  const gflops = (r: KernelTiming): string => (r.flops > 0 && r.milliseconds > 0 ? `${(r.flops / r.milliseconds / 1e6).toFixed(1).padStart(6)} GFLOP/s` : '');
  const matrix = steps.rows.filter((r) => r.flops > 0);
  const matrixMs = matrix.reduce((sum, r) => sum + r.milliseconds, 0);
  const matrixFlops = matrix.reduce((sum, r) => sum + r.flops, 0);
  return [
    `Convoy ${steps.kernels}, one training step at batch 64 (${steps.stepMilliseconds.toFixed(1)} ms of CPU time), time per kernel call site:`,
    ...steps.rows.map((r) => `  ${r.label.padEnd(34)} ${r.milliseconds.toFixed(2).padStart(8)} ms  ${((100 * r.milliseconds) / steps.stepMilliseconds).toFixed(1).padStart(5)}%  ${gflops(r)}`),
    `  conv + dense (matrix products): ${((100 * matrixMs) / steps.stepMilliseconds).toFixed(1)}% of the step at ${(matrixFlops / matrixMs / 1e6).toFixed(1)} GFLOP/s`,
  ];
}

interface RssResult {
  readonly chunkSize: number;
  readonly rssBytes: number;
  readonly kernels: string;
  readonly startMiB: number;
  readonly afterDataMiB: number;
}

/** bench/rss.ts in a fresh process, with the model processing `chunkSize` images at a time. */
function workerRss(chunkSize: number, kernels: 'auto' | 'wasm' = 'auto'): RssResult | null {
  const result = spawnSync(process.execPath, ['--import', 'tsx', `${here}rss.ts`], {
    encoding: 'utf8',
    env: { ...process.env, CONVOY_BENCH_CHUNK: String(chunkSize), CONVOY_BENCH_KERNELS: kernels },
  });
  if (result.status !== 0) {
    log(`worker RSS measurement failed: ${result.stderr.trim().split('\n').pop() ?? ''}`);
    return null;
  }
  return { chunkSize, ...(JSON.parse(result.stdout.trim().split('\n').pop()!) as Omit<RssResult, 'chunkSize'>) };
}

/** The first python with torch: the shim's python3 may lack Debian's dist-packages. */
function findTorchPython(): string | null {
  for (const python of ['python3', '/usr/bin/python3']) {
    if (spawnSync(python, ['-c', 'import torch'], { stdio: 'ignore' }).status === 0) return python;
  }
  return null;
}

function benchTorch(python: string, libraryPath: string, name: string, note: string, extraEnv: Record<string, string> = {}): Row | null {
  const batches = BATCHES.map(String);
  const result = spawnSync(python, [`${here}torch_bench.py`, String(SECONDS), ...batches], {
    encoding: 'utf8',
    env: { ...process.env, LD_LIBRARY_PATH: libraryPath, OMP_NUM_THREADS: '1', OPENBLAS_NUM_THREADS: '1', ...extraEnv },
  });
  if (result.status !== 0) {
    log(`${name} failed: ${result.stderr.trim().split('\n').pop() ?? ''}`);
    return null;
  }
  const parsed = JSON.parse(result.stdout.trim()) as { torch: string; blas: string; train: Record<string, Rate>; inference: Rate };
  const train: Record<number, Rate> = {};
  for (const [batch, value] of Object.entries(parsed.train)) train[Number(batch)] = value;
  log(`${name}: ${JSON.stringify(parsed)}`);
  return { name, train, inference: parsed.inference, note: `PyTorch ${parsed.torch}, ${parsed.blas} (detected), 1 thread; ${note}` };
}

function figure(value: number): string {
  return value >= 100 ? value.toFixed(0) : value >= 10 ? value.toFixed(1) : value.toFixed(2);
}

/** "wall / cpu (ratio)": the ratio to Convoy wasm is taken on the CPU-time figures. */
function format(value: Rate | null | undefined, reference: Rate | null | undefined): string {
  if (value === null || value === undefined) return 'n/a';
  const text = `${figure(value.wall)} / ${figure(value.cpu)}`;
  if (reference === null || reference === undefined) return text;
  return `${text} (${(value.cpu / reference.cpu).toFixed(2)}x)`;
}

async function main(): Promise<void> {
  const started = new Date();
  const machine = describeMachine();
  log(`machine: ${JSON.stringify(machine)}`);
  const rows: Row[] = [];
  const wasm = selectKernels('wasm');
  rows.push(benchConvoy('Convoy wasm', wasm, SECONDS, 10_000, true, wasm.description));
  if (wasm.description.includes('relaxed')) {
    const plain = createWasmKernels({ variant: 'simd' });
    rows.push(benchConvoy('Convoy wasm (plain SIMD)', plain, SECONDS, 10_000, true, `${plain.description}: the fallback where relaxed SIMD is not available`));
  }
  const nativeStatus = nativeKernelsStatus();
  const native = nativeStatus.available ? createNativeKernels() : null;
  if (native === null) log(`Convoy native: unavailable (${nativeStatus.available ? '' : nativeStatus.reason})`);
  else rows.push(benchConvoy('Convoy native', native, SECONDS, 10_000, true, `${native.description}: C++ addon built for this CPU at install`));
  const onnx = await benchOnnxRuntime(INFERENCE_BATCH, SECONDS).catch((error: unknown) => ({ inference: null, note: `failed: ${String(error)}` }));
  rows.push({ name: 'onnxruntime-node', train: {}, inference: onnx.inference, note: `${onnx.note}; inference only` });
  log(`onnxruntime-node: ${JSON.stringify(onnx)}`);
  // The reference is slow (a few images/s): one timed step per batch after one warm-up at batch 1.
  rows.push(benchConvoy('Convoy ts', selectKernels('ts'), 0, 1, false, 'TypeScript reference kernels, one timed step per batch (no warm-up beyond batch 1)'));
  const tfWasm = await benchTfjs('wasm', BATCHES, SECONDS, 50).catch((error: unknown) => ({ backend: 'wasm', train: {}, inference: null, note: `failed: ${String(error)}` }));
  rows.push({ name: 'TF.js wasm', train: tfWasm.train, inference: tfWasm.inference, note: tfWasm.note });
  log(`TF.js wasm: ${JSON.stringify(tfWasm)}`);
  // The pure-JS backend takes seconds per image: batch 1 only, one step.
  const tfCpu = await benchTfjs('cpu', [1], 0, 1).catch((error: unknown) => ({ backend: 'cpu', train: {}, inference: null, note: `failed: ${String(error)}` }));
  rows.push({ name: 'TF.js cpu', train: tfCpu.train, inference: tfCpu.inference, note: `${tfCpu.note}; batch 1 only (seconds per image), one step` });
  log(`TF.js cpu: ${JSON.stringify(tfCpu)}`);
  const python = findTorchPython();
  if (python === null) {
    log('PyTorch: `import torch` fails; see bench/torch_bench.py for how to install it');
  } else {
    const reference = benchTorch(python, '/usr/lib/x86_64-linux-gnu/blas:/usr/lib/x86_64-linux-gnu/lapack', 'PyTorch (reference BLAS)', "Debian's python3-torch with libblas3 (LD_LIBRARY_PATH)");
    if (reference !== null) rows.push(reference);
    // NOTE: OPENBLAS_CORETYPE=Haswell: the fastest core type that computes correctly on this AVX-512 EPYC (SkylakeX is slower; see bench/README.md).
    const openblas = benchTorch(
      python,
      '/usr/lib/x86_64-linux-gnu/openblas-openmp',
      'PyTorch (OpenBLAS)',
      "Debian's python3-torch with libopenblas0-openmp (LD_LIBRARY_PATH), OPENBLAS_CORETYPE=Haswell",
      { OPENBLAS_CORETYPE: 'Haswell' },
    );
    if (openblas !== null) rows.push(openblas);
  }
  const profiles = [...(native === null ? [] : [breakdown(createNativeKernels())]), breakdown(selectKernels('wasm'))];
  const rss = [workerRss(64), workerRss(32), ...(native === null ? [] : [workerRss(64, 'wasm')])].filter((r): r is RssResult => r !== null);
  const machineAfter = loadAverage();

  const convoy = rows[0]!;
  const header = ['', ...BATCHES.map((b) => `train b=${b}`), `infer b=${INFERENCE_BATCH}`];
  const table = rows.map((row) => [row.name, ...BATCHES.map((b) => format(row.train[b], row === convoy ? null : convoy.train[b])), format(row.inference, row === convoy ? null : convoy.inference)]);
  const widths = header.map((_, column) => Math.max(header[column]!.length, ...table.map((line) => line[column]!.length)));
  const render = (line: string[]): string => line.map((cell, column) => (column === 0 ? cell.padEnd(widths[column]!) : cell.padStart(widths[column]!))).join('  ');
  const lines = [
    `Convoy benchmark, ${started.toISOString()} — images/s on one core: wall clock / per CPU-second of the process (ratio to Convoy wasm in the same run, on CPU time)`,
    `machine: ${machine.cpu}, ${machine.cores} cores, Node ${machine.node}; load average ${machine.loadBefore.join(' ')} before, ${machineAfter.join(' ')} after`,
    '',
    render(header),
    ...table.map(render),
    '',
    ...rows.map((row) => `${row.name}: ${row.note}`),
    '',
    ...nativeRatios(rows),
    '',
    ...profiles.flatMap((steps) => [...breakdownLines(steps), '']),
    ...rss.map(
      (r) =>
        `worker RSS, MNIST train+test loaded, default model (${r.kernels}) in chunks of ${r.chunkSize}, batch-64 gradient sums and evaluation: ` +
        `${(r.rssBytes / 2 ** 20).toFixed(0)} MiB (${r.startMiB} at start under tsx, ${r.afterDataMiB} with the data)`,
    ),
  ];
  process.stdout.write(`${lines.join('\n')}\n`);
  const directory = `${here}results/`;
  mkdirSync(directory, { recursive: true });
  const file = `${directory}${started.toISOString().replace(/[:.]/g, '-')}${quick ? '-quick' : ''}.json`;
  writeFileSync(file, `${JSON.stringify({ date: started.toISOString(), quick, machine: { ...machine, loadAfter: machineAfter }, rows, breakdown: profiles, workerRss: rss, table: lines }, null, 2)}\n`);
  log(`wrote ${file}`);
  if (!quick) updateReadme(lines);
}

/** Convoy native against the yardsticks of issue 21 (CPU-time figures of this run). */
function nativeRatios(rows: readonly Row[]): string[] {
  const find = (name: string): Row | undefined => rows.find((row) => row.name === name);
  const native = find('Convoy native');
  if (native === undefined) return [];
  const lines: string[] = [];
  const ratio = (a: Rate | null | undefined, b: Rate | null | undefined): string => (a && b ? `${(a.cpu / b.cpu).toFixed(2)}x` : 'n/a');
  const torch = find('PyTorch (OpenBLAS)');
  lines.push(`Convoy native / PyTorch (OpenBLAS): training b=64 ${ratio(native.train[64], torch?.train[64])}, inference ${ratio(native.inference, torch?.inference)}`);
  lines.push(`Convoy native / onnxruntime-node: inference ${ratio(native.inference, find('onnxruntime-node')?.inference)}`);
  return lines;
}

/** Puts the table between the markers of bench/README.md (the README shows the latest full run). */
function updateReadme(lines: readonly string[]): void {
  const path = `${here}README.md`;
  const text = readFileSync(path, 'utf8');
  const start = text.indexOf('<!-- bench:start -->');
  const end = text.indexOf('<!-- bench:end -->');
  if (start < 0 || end < start) {
    log(`${path} has no bench markers; not updated`);
    return;
  }
  const block = ['<!-- bench:start -->', '```', ...lines, '```', ''].join('\n');
  writeFileSync(path, text.slice(0, start) + block + text.slice(end));
  log(`updated ${path}`);
}

await main();
