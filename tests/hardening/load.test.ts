/**
 * Load, light version (bench/load.ts has the full figures): 32 worker connections (one
 * process hosting them all, each with its own ComputeEngine; the small CNN, 16 images each
 * per step) and 100 dashboard viewers subscribed for the middle third of the run. The
 * coordinator keeps up (every step counted once, all 32 workers admitted and used), every
 * viewer gets every step record, memory stays bounded; the step times, the coordinator's
 * share and the viewers' cost are printed. The viewers' cost is measured by `pnpm
 * bench:load` (docs/hardening.md), not asserted here: the steps last ~10-20 ms, the viewers'
 * process shares the 2 cores, and in the suite other test files run alongside, so step
 * times swing by more than the 5% to be checked (measured: -20% to +85% between phases).
 */
import { describe, expect, it } from 'vitest';
import { SMALL_SPEC } from '../distributed/helpers.js';
import { runLoad } from './load-run.js';
import type { ModelSpec } from '../../packages/core/src/index.js';

describe('load', () => {
  it('32 workers and 100 dashboard viewers on one coordinator', async () => {
    const result = await runLoad({ spec: SMALL_SPEC as unknown as ModelSpec, workers: 32, dashboards: 100, batch: 512, stepsPerPhase: 15, warmupSteps: 3 });
    const { before, dashboards, after } = result.phases;
    const row = (name: string, p: typeof before) =>
      `  ${name.padEnd(16)} ${p.stepMs.toFixed(1).padStart(6)} ms/step, coordinator ${p.coordinatorMs.toFixed(2)} ms (encode ${p.encodeMs.toFixed(2)}, decode ${p.decodeMs.toFixed(2)}, sum ${p.sumMs.toFixed(2)}, optimizer ${p.optimizerMs.toFixed(2)}), >= ${p.minWorkers} workers/step`;
    console.log(
      `load: 32 workers, batch 512, small CNN\n${row('no viewers', before)}\n${row('100 viewers', dashboards)}\n${row('no viewers again', after)}\n` +
        `  viewers' cost ${result.dashboardSlowdownPercent.toFixed(1)}% (publishing to them ${result.publishMsPerStep.toFixed(2)} ms/step), coordinator share ${result.coordinatorSharePercent.toFixed(1)}% of a step, ` +
        `coordinator process RSS ${result.coordinatorRssMb.before.toFixed(0)} -> peak ${result.coordinatorRssMb.peak.toFixed(0)} MB\n  viewers got ${JSON.stringify(result.dashboardSummary)}`,
    );
    expect(result.imagesOnce).toBe(true);
    expect(result.joined).toBe(32);
    for (const phase of [before, dashboards, after]) expect(phase.minWorkers).toBeGreaterThanOrEqual(16);
    expect(result.dashboardSummary['snapshots']).toBe(100);
    expect(result.dashboardSummary['step records']!).toBeGreaterThanOrEqual(100 * result.stepsWhileSubscribed);
    // The phase ends at the 15th step's timing event, just before that step's record goes out.
    expect(result.stepsWhileSubscribed).toBeGreaterThanOrEqual(14);
    expect(result.coordinatorRssMb.peak - result.coordinatorRssMb.before).toBeLessThan(200);
  }, 60_000);
});
