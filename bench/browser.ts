/**
 * `pnpm bench:browser`: training images/s of a browser tab as the only worker (Debian's
 * Chromium, headless, the /worker page: one Web Worker on the wasm kernels) against a Node
 * worker process as the only worker, on the same machine, same model (the default CNN),
 * same global batch, same coordinator. Both compute on one thread.
 *
 * Each trial is one short run (`--max-steps warmup+steps`) with one worker; the figure is
 * the images of the steps after the warm-up over their wall time, from the run's
 * history.jsonl (so it includes what every step costs: the parameters sent, the gradient
 * returned, the coordinator's update). Node and browser trials alternate, `rounds` times,
 * starting with the other kind each round, because a shared machine's speed drifts; the
 * medians and their ratio are printed (target: the browser at least 80% of Node).
 *
 * Every coordinator listens on the same port, so from the second browser trial on the tab
 * reads the dataset from its Cache Storage (per origin) instead of the socket.
 *
 *   pnpm bench:browser [-- --rounds 3 --steps 60 --warmup 15 --batch 64 --node-kernels wasm --wire fp32]
 *
 * The Node worker runs one thread on `--node-kernels` (wasm by default: the same kernels as
 * the tab, so the ratio is the browser's cost; `native` compares with the fastest Node worker).
 * `--wire` is the run's codec for both kinds (topk's sparsity warm-up is the bench's warm-up
 * steps, so the measured steps send its final density).
 */
import { readFileSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import type { TimingRecord } from '../packages/core/src/index.js';
import { launchChromium } from '../tests/support/chromium.js';
import { startCoordinator, startWorker, tempDir, type Proc } from '../tests/support/processes.js';
import { readHistory } from '../tests/distributed/helpers.js';
import { benchFlags, machine, median, saveResults } from './measure.js';

const values = benchFlags({ rounds: '3', steps: '60', warmup: '15', batch: '64', 'node-kernels': 'wasm', wire: 'fp32' });
const rounds = Number(values.rounds);
const steps = Number(values.steps);
const warmup = Number(values.warmup);
const batch = Number(values.batch);

type Kind = 'node' | 'browser';

const host = machine();
const dir = tempDir('bench-browser');
const context = await launchChromium();
let port = 0;

/** One run with one worker of `kind`; its training images/s after the warm-up. */
async function trial(kind: Kind, round: number): Promise<number> {
  const out = join(dir, `${kind}-${round}`);
  const coordinator = await startCoordinator([
    '--kernels', 'auto', '--out', out, '--batch', String(batch), '--epochs', '1', '--max-steps', String(warmup + steps),
    '--train-size', String(batch * (warmup + steps)), '--validation-size', '100', '--test-size', '0', '--min-workers', '1',
    '--wire', values.wire, ...(values.wire === 'topk' ? ['--topk-warmup-steps', String(warmup)] : []),
    ...(port === 0 ? [] : ['--port', String(port)]),
  ]);
  port = coordinator.port;
  let worker: Proc | null = null;
  const page = kind === 'browser' ? await context.newPage() : null;
  // NOTE: one thread each: the Node worker computes on its main thread, the tab in one Web Worker.
  if (page === null) worker = startWorker(coordinator.url, ['--kernels', values['node-kernels'], '--threads', '1']);
  else await page.goto(`http://127.0.0.1:${port}/worker#name=bench-tab`);
  const code = await coordinator.exited;
  if (page !== null) {
    // The tab's own compute rate (forward and backward only), to tell compute from transport.
    const compute = (await page.evaluate('1000 * Number(document.body.dataset.images) / Number(document.body.dataset.computeMs)')) as number;
    process.stdout.write(`  (the tab computed at ${compute.toFixed(0)} images/s, forward and backward alone)\n`);
  }
  await page?.close();
  await worker?.exited;
  if (code !== 0) throw new Error(`the ${kind} trial's coordinator exited with ${code}:\n${coordinator.output()}`);
  const records = readHistory(out).filter((line) => line.kind === 'step');
  const measured = records.slice(warmup);
  const first = records[warmup - 1]!;
  const last = records.at(-1)!;
  const images = measured.reduce((sum, record) => sum + (record.images ?? 0), 0);
  process.stdout.write(`  (a step's time outside the worker's forward and backward: median ${outsideCompute(out).toFixed(0)} ms)\n`);
  return images / (((last['time'] as number) - (first['time'] as number)) / 1000);
}

/**
 * Median over the measured steps of the time from the coordinator sending the job to the
 * answer arriving, less the worker's forward and backward (trace.jsonl's timing records): the
 * parameters' and the gradient's transfer, their encoding and decoding.
 */
function outsideCompute(out: string): number {
  const timings = readFileSync(join(out, 'trace.jsonl'), 'utf8').trim().split('\n').map((line) => JSON.parse(line) as TimingRecord);
  const answers = timings.filter((record) => record.kind === 'timing').slice(warmup).flatMap((record) => record.workers);
  return median(answers.map((answer) => answer.arrivedMs - answer.sentMs - answer.computeMs));
}

const figures: Record<Kind, number[]> = { node: [], browser: [] };
try {
  for (let round = 1; round <= rounds; round++) {
    const order: Kind[] = round % 2 === 1 ? ['node', 'browser'] : ['browser', 'node'];
    for (const kind of order) {
      const rate = await trial(kind, round);
      figures[kind].push(rate);
      process.stdout.write(`round ${round} ${kind.padEnd(7)} ${rate.toFixed(0).padStart(6)} images/s\n`);
    }
  }
} finally {
  await context.close();
  rmSync(dir, { recursive: true, force: true });
}

const node = median(figures.node);
const browser = median(figures.browser);
process.stdout.write(`\nmedian over ${rounds} rounds (batch ${batch}, ${steps} steps after ${warmup} of warm-up, one thread each, wire ${values.wire}):\n`);
process.stdout.write(`  node worker     ${node.toFixed(0)} images/s\n  browser worker  ${browser.toFixed(0)} images/s (${((100 * browser) / node).toFixed(0)}% of node; target >= 80%)\n`);
saveResults('browser', host, { batch, steps, warmup, rounds, wire: values.wire, node: figures.node, browser: figures.browser, medianNode: node, medianBrowser: browser, ratio: browser / node });
