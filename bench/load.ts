/**
 * `pnpm bench:load`: one coordinator under load on loopback: 32 worker connections (hosted
 * by one process, tests/hardening/load-clients.ts, each computing its slices with the
 * worker's ComputeEngine) and 100 dashboard viewers subscribed for the middle third of the
 * run (tests/hardening/load-run.ts). Prints, per phase, the step time and the coordinator's
 * own work per step (encoding the step frames, decoding and validating the answers,
 * summing them, the optimizer), the viewers' cost and the coordinator's memory.
 *
 *   pnpm bench:load [-- --model default|small --workers 32 --dashboards 100 --batch 512 --steps 20 --warmup 20 --wire fp32|bf16|topk]
 *
 * NOTE: the workers share one core (one process), so a step lasts as long as all the
 * slices' compute in turn; the coordinator's share is measured against that.
 */
import { MNIST_CNN_DROPOUT, isWireCodec, WIRE_CODECS, type ModelSpec } from '../packages/core/src/index.js';
import { SMALL_SPEC } from '../tests/distributed/helpers.js';
import { runLoad, type PhaseFigures } from '../tests/hardening/load-run.js';
import { benchFlags, loadAverage, machine } from './measure.js';

const values = benchFlags({ model: 'default', workers: '32', dashboards: '100', batch: '512', steps: '20', warmup: '20', wire: 'fp32' });
const wire = values.wire;
if (!isWireCodec(wire)) {
  console.error(`bench:load: --wire must be one of ${WIRE_CODECS.join(', ')}, got ${wire}`);
  process.exit(2);
}
const spec = (values.model === 'small' ? SMALL_SPEC : MNIST_CNN_DROPOUT) as ModelSpec;
const workers = Number(values.workers);
const dashboards = Number(values.dashboards);
const host = machine();
const result = await runLoad({ spec, workers, dashboards, batch: Number(values.batch), stepsPerPhase: Number(values.steps), warmupSteps: Number(values.warmup), wire });
const row = (name: string, p: PhaseFigures) =>
  `| ${name} | ${p.steps} | ${p.stepMs.toFixed(1)} | ${p.coordinatorMs.toFixed(2)} | ${p.encodeMs.toFixed(2)} | ${p.decodeMs.toFixed(2)} | ${p.sumMs.toFixed(2)} | ${p.optimizerMs.toFixed(2)} | ${p.minWorkers} | ${(p.bytesPerStep / 2 ** 20).toFixed(1)} |`;
const { before, dashboards: viewing, after } = result.phases;
console.log(
  [
    `machine: ${host.cpu}, ${host.cores} cores, Node ${host.node}`,
    `${values.model} model, ${workers} workers, --wire ${wire}, global batch ${values.batch}, ${dashboards} viewers in the middle phase; load average ${host.loadBefore[0]} -> ${loadAverage()[0]}`,
    '',
    '| phase | steps | step ms | coordinator ms | encode | decode+validate | sum | optimizer | workers/step (min) | MB/step |',
    '|---|---|---|---|---|---|---|---|---|---|',
    row('no viewers', before),
    row(`${dashboards} viewers`, viewing),
    row('no viewers again', after),
    '',
    `viewers' cost: ${result.dashboardSlowdownPercent.toFixed(1)}% of the step time (B against the mean of A and C); ` +
      `publishing to them: ${result.publishMsPerStep.toFixed(2)} ms per step = ${((100 * result.publishMsPerStep) / viewing.stepMs).toFixed(2)}% of a step`,
    `coordinator work: ${result.coordinatorSharePercent.toFixed(1)}% of a step`,
    `coordinator process RSS: ${result.coordinatorRssMb.before.toFixed(0)} MB -> peak ${result.coordinatorRssMb.peak.toFixed(0)} MB`,
    `every step counted once: ${result.imagesOnce}; viewers received ${JSON.stringify(result.dashboardSummary)} (${result.stepsWhileSubscribed} steps while all were subscribed)`,
  ].join('\n'),
);
process.exit(0);
