/**
 * Resident memory of a worker computing on 1, 2, 3... threads: MNIST loaded as a worker
 * loads it (in shared memory when it has threads), the default model on the default
 * kernels, gradient sums of batch-128 slices through the worker's own engine
 * (packages/worker/src/engine.ts). Each thread count runs in a fresh process, so nothing
 * else inflates it; RSS is read after a garbage collection. Memory, not speed: the figures
 * hold on a busy machine too.
 *
 *   node --expose-gc --import tsx bench/threads-rss.ts [-- --threads 1,2,3 --steps 5]
 */
import { spawnSync } from 'node:child_process';
import { MNIST_CNN_DROPOUT, countParameters, createModel, selectKernels } from '../packages/core/src/index.js';
import { selectNodeKernels } from '../packages/core/src/node.js';
import { createEngine } from '../packages/worker/src/engine.js';
import { ComputeThreads } from '../packages/worker/src/threads/pool.js';
import { loadLocalData } from '../packages/worker/src/dataset.js';
import { benchFlags, machine, saveResults } from './measure.js';

const MiB = 2 ** 20;
const rssMiB = (): number => Math.round(process.memoryUsage().rss / MiB);

interface ChildFigures {
  readonly threads: number;
  readonly startMiB: number;
  readonly afterDataMiB: number;
  readonly afterStepsMiB: number;
}

/** In the child: load, compute `steps` slices on `threads` threads, print the figures as one JSON line. */
async function child(threads: number, steps: number): Promise<void> {
  const gc = (globalThis as { gc?: () => void }).gc;
  if (gc === undefined) throw new Error('run with node --expose-gc');
  const startMiB = rssMiB();
  const data = loadLocalData(undefined, threads > 1).data;
  gc();
  const afterDataMiB = rssMiB();
  const spec = MNIST_CNN_DROPOUT;
  const params = createModel(spec, { seed: 1, kernels: selectKernels('ts') }).params.slice();
  const pool = threads > 1 ? new ComputeThreads({ threads, kernels: 'auto' }) : null;
  await pool?.ready;
  const engine = createEngine(spec, countParameters(spec), data, pool === null ? { threads: null, takeKernels: () => selectNodeKernels('auto') } : { threads: pool });
  for (let step = 1; step <= steps; step++) {
    const indices = Uint32Array.from({ length: 128 }, (_, i) => step * 128 + i);
    await engine.step({ type: 'step', step, round: step, epoch: 1, version: step, params, indices, dropoutSeeds: indices }, 0);
  }
  gc();
  const figures: ChildFigures = { threads, startMiB, afterDataMiB, afterStepsMiB: rssMiB() };
  process.stdout.write(`${JSON.stringify(figures)}\n`);
  await engine.close();
  await pool?.close();
}

function main(): void {
  const values = benchFlags({ threads: '1,2,3', steps: '5', child: '' });
  if (values.child !== '') {
    void child(Number(values.child), Number(values.steps)).then(() => process.exit(0));
    return;
  }
  const host = machine();
  const rows: ChildFigures[] = [];
  for (const threads of values.threads.split(',').map(Number)) {
    const result = spawnSync(process.execPath, [...process.execArgv, process.argv[1]!, '--child', String(threads), '--steps', values.steps], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'inherit'] });
    if (result.status !== 0) throw new Error(`the ${threads}-thread child exited with ${result.status}`);
    rows.push(JSON.parse(result.stdout.trim().split('\n').at(-1)!) as ChildFigures);
  }
  const one = rows.find((row) => row.threads === 1);
  process.stdout.write('| threads | RSS at start MiB | after the dataset MiB | after the steps MiB | per thread added MiB |\n|---|---|---|---|---|\n');
  for (const row of rows) {
    const added = one === undefined || row.threads === 1 ? '–' : ((row.afterStepsMiB - one.afterStepsMiB) / (row.threads - 1)).toFixed(0);
    process.stdout.write(`| ${row.threads} | ${row.startMiB} | ${row.afterDataMiB} | ${row.afterStepsMiB} | ${added} |\n`);
  }
  saveResults('threads-rss', host, { steps: Number(values.steps), rows });
}

main();
