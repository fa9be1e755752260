/** Throughput measurement, flags and the machine's description, shared by the benchmark scripts. */
import { execFileSync, spawn } from 'node:child_process';
import { mkdirSync, writeFileSync } from 'node:fs';
import { cpus, loadavg } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { COORDINATOR_DEFAULTS } from '../packages/coordinator/src/index.js';
import { createModel } from '../packages/core/src/index.js';

export interface Machine {
  cpu: string;
  cores: number;
  node: string;
  loadBefore: number[];
}

/** What every benchmark prints and stores beside its figures: CPU model, cores, Node, load average now. */
export function machine(): Machine {
  return { cpu: cpuModel(), cores: cpus().length, node: process.version, loadBefore: loadAverage() };
}

/**
 * Prints the load average now and stores `figures` with the machine in
 * bench/results/<name>-<time>.json; prints the path.
 */
export function saveResults(name: string, host: Machine, figures: Record<string, unknown>): void {
  const loadAfter = loadAverage();
  process.stdout.write(`load average after ${loadAfter.join(' ')}\n`);
  mkdirSync('bench/results', { recursive: true });
  const path = join('bench/results', `${name}-${new Date().toISOString().slice(0, 19).replace(/[:T]/g, '-')}.json`);
  writeFileSync(path, JSON.stringify({ ...figures, machine: { ...host, loadAfter } }, null, 2));
  process.stdout.write(`results: ${path}\n`);
}

/** The default model's parameter count: a step's gradient and parameters are this many float32s. */
export function defaultParamCount(): number {
  return createModel(COORDINATOR_DEFAULTS.spec).paramCount;
}

/** The 1, 5 and 15 minute load averages, two decimals. */
export function loadAverage(): number[] {
  return loadavg().map((l) => Number(l.toFixed(2)));
}

function cpuModel(): string {
  try {
    const line = execFileSync('lscpu', { encoding: 'utf8' }).split('\n').find((l) => l.startsWith('Model name:'));
    if (line !== undefined) return line.replace('Model name:', '').trim();
  } catch {
    // lscpu missing: fall back to Node's view
  }
  return cpus()[0]?.model ?? 'unknown';
}

/**
 * images/s by the wall clock and per second of this process's CPU time. On a machine
 * shared with other work the CPU-time figure is the fair one: it does not count the time
 * the process waited for a core (it still pays for caches shared with other processes).
 */
export interface Rate {
  readonly wall: number;
  readonly cpu: number;
}

function cpuSeconds(): number {
  const usage = process.cpuUsage();
  return (usage.user + usage.system) / 1e6;
}

/** Runs `step` (one warm-up first unless told) until `seconds` have passed or `maxSteps` ran (at least one). */
export function imagesPerSecond(batch: number, seconds: number, maxSteps: number, step: () => void, warmUp = true): Rate {
  if (warmUp) step();
  let steps = 0;
  const start = performance.now();
  const startCpu = cpuSeconds();
  while (steps < maxSteps && (steps === 0 || performance.now() - start < seconds * 1000)) {
    step();
    steps++;
  }
  return { wall: (steps * batch) / ((performance.now() - start) / 1000), cpu: (steps * batch) / (cpuSeconds() - startCpu) };
}

/**
 * A benchmark script's flags, all strings with defaults (`--steps 40`). `pnpm bench:x --
 * --steps 40` passes the `--` through, so a leading one is dropped; an unknown flag or a
 * missing value is one line on stderr and exit 2.
 */
export function benchFlags<K extends string>(defaults: Record<K, string>): Record<K, string> {
  const options = Object.fromEntries(Object.entries<string>(defaults).map(([name, value]) => [name, { type: 'string' as const, default: value }]));
  try {
    const args = process.argv.slice(2).filter((arg, i) => !(i === 0 && arg === '--'));
    return parseArgs({ args, options }).values as Record<K, string>;
  } catch (error) {
    process.stderr.write(`${(error as Error).message}\n`);
    process.exit(2);
  }
}

/** The median (the mean of the middle two for an even count). */
export function median(values: readonly number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  const middle = Math.floor(sorted.length / 2);
  return sorted.length % 2 === 1 ? sorted[middle]! : (sorted[middle - 1]! + sorted[middle]!) / 2;
}

const COMPUTE_LOOP = fileURLToPath(new URL('./compute-loop.ts', import.meta.url));

export interface BareComputeOptions {
  /** Compute processes running at once. */
  readonly processes: number;
  /** Images per call in each process. */
  readonly slice: number;
  readonly steps: number;
  readonly warmup: number;
  readonly kernels: string;
}

/**
 * The summed images/s of `processes` bench/compute-loop.ts processes running at once (a
 * worker's compute and nothing else), started with this process's Node flags: what the
 * machine's cores give that many compute-bound processes right now.
 */
export async function bareCompute(options: BareComputeOptions): Promise<number> {
  const { slice, steps, warmup, kernels } = options;
  const args = [...process.execArgv, COMPUTE_LOOP, '--batch', String(slice), '--steps', String(steps), '--warmup', String(warmup), '--kernels', kernels];
  const one = () =>
    new Promise<number>((resolve, reject) => {
      const child = spawn(process.execPath, args, { stdio: ['ignore', 'pipe', 'inherit'] });
      let output = '';
      child.stdout.setEncoding('utf8').on('data', (text: string) => (output += text));
      child.on('exit', (code) => (code === 0 ? resolve((JSON.parse(output) as { imagesPerSecond: number }).imagesPerSecond) : reject(new Error(`bench/compute-loop.ts exited with ${code}`))));
    });
  const rates = await Promise.all(Array.from({ length: options.processes }, one));
  return rates.reduce((a, b) => a + b, 0);
}
