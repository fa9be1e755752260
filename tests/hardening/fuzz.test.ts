/**
 * Bad input while an honest run trains: a fuzzer (fuzzer.ts) sends random bytes, truncated,
 * oversized and mistyped msgpack, wrong lengths, huge counts, unknown and out-of-order
 * messages, raw TCP garbage and a flood of hellos, then the field-level campaign that
 * `pnpm fuzz` runs at scale (every message type x field x mutation, fuzz-fields.ts), a
 * bounded number in bounded time.
 *
 * - Unauthenticated (no or a wrong token): everything is refused before the handshake, so
 *   the honest run ends with bit-for-bit the parameters of a run without the fuzzer.
 * - Authenticated (the right token, admitted as workers or dashboards, then bad frames): the
 *   coordinator tells them why, recomputes their slices elsewhere and drops them after 16 bad
 *   frames; the parameters equal the undisturbed run's up to float summation order.
 * In both, the coordinator stays up (and answers /health mid-fuzz), its memory stays
 * bounded, and every global batch is counted once. The counts per kind are printed.
 */
import { createHash } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { writeSpec } from '../distributed/helpers.js';
import { tempDir, type Proc } from '../support/processes.js';
import { Fuzzer, ROLES, UNAUTHENTICATED_ROLES, type FuzzCounts } from './fuzzer.js';
import { CELLS } from './fuzz-fields.js';
import { FUZZ_TOKEN, MAX_PAYLOAD, PARAM_COUNT, baselineRun, coverageTable, fuzzedRun, runFailures, summary, totalSteps, uncovered, type HonestRun } from './fuzz-run.js';

const dir = tempDir('hardening-fuzz');
const run: HonestRun = { specPath: writeSpec(dir), epochs: 2 };
const SEED = 12345;
/** The honest worker's delay a step: ~13 s of training in all, so the fuzzing (~6 s, longer on a loaded machine) overlaps it. */
const CHAOS_DELAY_MS = 500;
const started: Proc[] = [];
let baseline: Float32Array;

const track = (proc: Proc) => void started.push(proc);
afterAll(() => started.forEach((proc) => proc.child.kill('SIGKILL')));

async function fuzzed(name: string, attack: (fuzzer: Fuzzer, running: () => boolean) => Promise<void>, bitForBit: boolean) {
  const result = await fuzzedRun(run, `${dir}/${name}`, SEED, CHAOS_DELAY_MS, track, attack);
  console.log(`${summary(name, result.fuzzer.counts, result.seconds, result.rss)}\n${coverageTable(result.fuzzer)}`);
  expect(result.coordinatorExit, result.coordinatorOutput).toBe(0);
  expect(result.workerExit, result.workerOutput).toBe(0);
  expect(result.healthMidFuzz).toBe(true);
  expect(result.stepAtStart, 'the fuzzing began while training ran').toBeLessThan(totalSteps(run));
  // Every global batch counted once, the parameters as without the fuzzer, no stack trace,
  // the honest worker never heard of the fuzzers' frames.
  expect(runFailures(result, run, baseline, bitForBit)).toEqual([]);
  return { counts: result.fuzzer.counts, rssGrowthMb: result.rss.peak - result.rss.before, fuzzer: result.fuzzer };
}

/** A digest of every frame the campaign's plan would send for `seed` (no socket involved). */
function planDigest(seed: number, frames: number): string {
  const fuzzer = new Fuzzer({ host: '127.0.0.1', port: 1, token: FUZZ_TOKEN, datasetId: 'id', paramCount: PARAM_COUNT, seed, maxPayload: MAX_PAYLOAD });
  const hash = createHash('sha256');
  for (const session of fuzzer.plan(frames, ROLES)) {
    hash.update(session.role);
    for (const [kind, frame] of session.frames) hash.update(kind).update(frame);
  }
  return hash.digest('hex');
}

describe('the campaign is seeded', () => {
  it('the same seed plans the same frames, another seed others', () => {
    const frames = 2 * CELLS.length;
    expect(planDigest(7, frames)).toBe(planDigest(7, frames));
    expect(planDigest(8, frames)).not.toBe(planDigest(7, frames));
  });
});

describe('fuzzing the coordinator while an honest run trains', () => {
  beforeAll(async () => {
    const result = await baselineRun(run, `${dir}/baseline`, track);
    expect(result.exitCode, result.output).toBe(0);
    baseline = result.params;
  }, 60_000);

  it('unauthenticated: every frame refused before the handshake; same parameters bit for bit', async () => {
    const { counts, rssGrowthMb, fuzzer } = await fuzzed('unauthenticated', async (fuzzer, running) => {
      // First the campaign, whose coverage is checked: it stops when the run ends.
      await fuzzer.campaign({ frames: CELLS.length, connections: 8, roles: UNAUTHENTICATED_ROLES, deadline: Date.now() + 20_000, running });
      await fuzzer.silentFlood(300); // more than MAX_HANDSHAKING (256) at once: the rest are refused as BUSY
      await fuzzer.rawTcp(30);
      await fuzzer.helloFlood(400);
      // NOTE: the open-ended phase last: on a fast machine the run can end while it goes on.
      await fuzzer.unauthenticated(150, 8);
    }, true);
    for (const kind of ['silent connections', 'random bytes', 'truncated msgpack', 'wrong types', 'wrong lengths', 'huge counts', 'unknown types', 'out of order', 'oversized', 'bad token', 'hello flood', 'text frames', 'raw TCP garbage']) {
      expect(counts[kind] ?? 0, kind).toBeGreaterThan(0);
    }
    expect(uncovered(fuzzer), 'every message type x field x mutation sent').toEqual([]);
    expect(counts['closed with 1008'] ?? 0, 'policy-violation closes').toBeGreaterThan(100);
    expect(counts['closed with 1009'] ?? 0, 'too-big closes').toBeGreaterThan(0);
    // Connections beyond MAX_HANDSHAKING (256) that have not said hello are turned away at once.
    expect(counts['answered error BUSY'] ?? 0).toBeGreaterThan(0);
    expect(counts['answered error BAD_TOKEN'] ?? 0).toBeGreaterThan(0);
    expect(counts['answered error BAD_FRAME'] ?? 0).toBeGreaterThan(0);
    expect(counts['answered welcome'] ?? 0, 'nobody without the token got in').toBe(0);
    expect(rssGrowthMb).toBeLessThan(150);
  }, 90_000);

  it('authenticated workers sending bad answers: told why, slices recomputed, dropped; same parameters up to summation order', async () => {
    let first: FuzzCounts = {};
    const { counts, rssGrowthMb, fuzzer } = await fuzzed('authenticated', async (fuzzer, running) => {
      for (let round = 0; round < 4 && running(); round++) {
        await fuzzer.authenticated(3, 24);
        await fuzzer.dashboardSendingTraining(3);
      }
      first = { ...fuzzer.counts };
      await fuzzer.campaign({ frames: CELLS.length, connections: 4, roles: ROLES, deadline: Date.now() + 20_000, running });
    }, false);
    expect(counts['NaN/Inf gradient'] ?? 0).toBeGreaterThan(0);
    expect(counts['dashboard sending training messages'] ?? 0).toBeGreaterThan(0);
    expect(fuzzer.campaignFrames, 'the campaign ran while training').toBeGreaterThan(0);
    // Told why: a NaN is NOT_FINITE, a wrong length BAD_LENGTH, a stale answer BAD_SLICE.
    for (const code of ['NOT_FINITE', 'BAD_LENGTH', 'BAD_FIELD', 'BAD_SLICE', 'UNEXPECTED_MESSAGE']) expect(counts[`answered error ${code}`] ?? 0, code).toBeGreaterThan(0);
    // Each fuzzing worker is dropped after 16 invalid frames; a dashboard after its first training message
    // (counted before the campaign, whose workers may also leave or close first).
    expect(first['closed with 1008']).toBe(first['hello (token)']! + first['subscribe (token)']!);
    expect(counts['answered welcome'], 'the campaign admitted workers').toBeGreaterThan(first['answered welcome']!);
    expect(rssGrowthMb).toBeLessThan(150);
  }, 90_000);
});
