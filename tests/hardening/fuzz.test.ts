/**
 * Bad input while an honest run trains: a fuzzer (fuzzer.ts) sends random bytes, truncated,
 * oversized and mistyped msgpack, wrong lengths, huge counts, unknown and out-of-order
 * messages, raw TCP garbage and a flood of hellos, a bounded number in bounded time.
 *
 * - Unauthenticated (no or a wrong token): everything is refused before the handshake, so
 *   the honest run ends with bit-for-bit the parameters of a run without the fuzzer.
 * - Authenticated (the right token, admitted as workers, then bad answers): the coordinator
 *   tells them why, recomputes their slices elsewhere and drops them after 16 bad frames;
 *   the parameters equal the undisturbed run's up to float summation order.
 * In both, the coordinator stays up (and answers /health mid-fuzz), its memory stays
 * bounded, and every global batch is counted once. The counts per kind are printed.
 */
import { readFileSync } from 'node:fs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { datasetId } from '../../packages/core/src/index.js';
import { datasetHash, loadMnist } from '../../packages/core/src/node.js';
import {
  checkEveryImageOnce,
  finalParams,
  relativeDifference,
  smallRunArgs,
  stepRecords,
  stepsDone,
  until,
  writeSpec,
} from '../distributed/helpers.js';
import { startCoordinator, startWorker, tempDir, type Proc } from '../support/processes.js';
import { Fuzzer, type FuzzCounts } from './fuzzer.js';

const dir = tempDir('hardening-fuzz');
const spec = writeSpec(dir);
const TOKEN = 'fuzz-secret-token';
const TOTAL_STEPS = 26;
const PARAM_COUNT = 1490; // SMALL_SPEC
const started: Proc[] = [];
let baseline: Float32Array;
let id: string;

function track<T extends Proc>(proc: T): T {
  started.push(proc);
  return proc;
}
afterAll(() => started.forEach((proc) => proc.child.kill('SIGKILL')));

/** The honest run: one worker slowed to ~300 ms a step (~8 s in all), so the fuzzing (~6 s) overlaps training. */
function honestArgs(out: string): string[] {
  return [...smallRunArgs(spec, out), '--token', TOKEN, '--deadline-first', '3000', '--deadline-min', '1000'];
}

beforeAll(async () => {
  const { train, test } = loadMnist();
  id = datasetId(datasetHash(train), datasetHash(test));
  const out = `${dir}/baseline`;
  const coordinator = track(await startCoordinator(honestArgs(out)));
  track(startWorker(coordinator.url, ['--token', TOKEN]));
  expect(await coordinator.exited, coordinator.output()).toBe(0);
  baseline = finalParams(out);
}, 60_000);

/** Resident memory of a process, MB (Linux /proc); 0 once it has exited. */
function rssMb(pid: number): number {
  try {
    const match = /VmRSS:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
    return match === null ? 0 : Number(match[1]) / 1024;
  } catch {
    return 0;
  }
}

async function fuzzedRun(name: string, attack: (fuzzer: Fuzzer, running: () => boolean) => Promise<void>) {
  const out = `${dir}/${name}`;
  const coordinator = track(await startCoordinator(honestArgs(out)));
  const worker = track(startWorker(coordinator.url, ['--token', TOKEN, '--chaos-delay', '300']));
  await until(() => stepsDone(out) >= 1, 30_000, 'the first step');
  const rssBefore = rssMb(coordinator.pid);
  let rssPeak = rssBefore;
  const sampler = setInterval(() => (rssPeak = Math.max(rssPeak, rssMb(coordinator.pid))), 100);
  const fuzzer = new Fuzzer({ host: '127.0.0.1', port: coordinator.port, token: TOKEN, datasetId: id, paramCount: PARAM_COUNT, seed: 12345 });
  const startedAt = Date.now();
  const stepAtStart = stepsDone(out);
  const attacking = attack(fuzzer, () => stepsDone(out) < TOTAL_STEPS);
  // Still serving mid-fuzz and mid-run: asked while the fuzzer's first frames are in flight.
  const health = (await (await fetch(`http://127.0.0.1:${coordinator.port}/health`)).json()) as { ok: boolean };
  await attacking;
  const fuzzSeconds = (Date.now() - startedAt) / 1000;
  expect(await coordinator.exited, coordinator.output()).toBe(0);
  expect(await worker.exited, worker.output()).toBe(0);
  clearInterval(sampler);
  report(name, fuzzer.counts, fuzzSeconds, rssBefore, rssPeak);
  expect(health.ok).toBe(true);
  expect(stepAtStart, 'the fuzzing began while training ran').toBeLessThan(TOTAL_STEPS);
  expect(checkEveryImageOnce(stepRecords(out), 1200, 96, TOTAL_STEPS)).toBeNull();
  // The honest worker never heard of the fuzzers' frames.
  expect(worker.output()).not.toMatch(/reports/);
  return { out, counts: fuzzer.counts, rssGrowthMb: rssPeak - rssBefore };
}

function report(name: string, counts: FuzzCounts, seconds: number, rssBefore: number, rssPeak: number): void {
  const sent = Object.entries(counts).filter(([kind]) => !kind.startsWith('closed') && !kind.startsWith('answered'));
  const closes = Object.entries(counts).filter(([kind]) => kind.startsWith('closed'));
  const answers = Object.entries(counts).filter(([kind]) => kind.startsWith('answered'));
  const total = sent.filter(([kind]) => kind !== 'silent connections').reduce((sum, [, n]) => sum + n, 0);
  console.log(
    `fuzz ${name}: ${total} frames in ${seconds.toFixed(1)} s; coordinator RSS ${rssBefore.toFixed(0)} -> peak ${rssPeak.toFixed(0)} MB\n` +
      sent.map(([kind, n]) => `  ${kind.padEnd(36)} ${n}`).join('\n') +
      `\n  connections ${closes.map(([kind, n]) => `${kind}: ${n}`).join(', ')}` +
      `\n  coordinator ${answers.map(([kind, n]) => `${kind.replace('answered ', '')}: ${n}`).join(', ')}`,
  );
}

describe('fuzzing the coordinator while an honest run trains', () => {
  it('unauthenticated: every frame refused before the handshake; same parameters bit for bit', async () => {
    const { out, counts, rssGrowthMb } = await fuzzedRun('unauthenticated', async (fuzzer) => {
      // NOTE: the open-ended phase last: on a fast machine the run can end while it goes on.
      await fuzzer.silentFlood(300); // more than MAX_HANDSHAKING (256) at once: the rest are refused as BUSY
      await fuzzer.rawTcp(30);
      await fuzzer.helloFlood(400);
      await fuzzer.unauthenticated(300, 8);
    });
    const params = finalParams(out);
    expect(Buffer.from(params.buffer, params.byteOffset, params.byteLength).equals(Buffer.from(baseline.buffer, baseline.byteOffset, baseline.byteLength))).toBe(true);
    for (const kind of ['silent connections', 'random bytes', 'truncated msgpack', 'wrong types', 'wrong lengths', 'huge counts', 'unknown types', 'out of order', 'oversized', 'bad token', 'hello flood', 'text frames', 'raw TCP garbage']) {
      expect(counts[kind] ?? 0, kind).toBeGreaterThan(0);
    }
    expect(counts['closed with 1008'] ?? 0, 'policy-violation closes').toBeGreaterThan(100);
    expect(counts['closed with 1009'] ?? 0, 'too-big closes').toBeGreaterThan(0);
    // Connections beyond MAX_HANDSHAKING (256) that have not said hello are turned away at once.
    expect(counts['answered error BUSY'] ?? 0).toBeGreaterThan(0);
    expect(counts['answered error BAD_TOKEN'] ?? 0).toBeGreaterThan(0);
    expect(counts['answered welcome'] ?? 0, 'nobody without the token got in').toBe(0);
    expect(rssGrowthMb).toBeLessThan(150);
  }, 90_000);

  it('authenticated workers sending bad answers: told why, slices recomputed, dropped; same parameters up to summation order', async () => {
    const { out, counts, rssGrowthMb } = await fuzzedRun('authenticated', async (fuzzer, running) => {
      for (let round = 0; round < 4 && running(); round++) {
        await fuzzer.authenticated(3, 24);
        await fuzzer.dashboardSendingTraining(3);
      }
    });
    expect(relativeDifference(baseline, finalParams(out))).toBeLessThan(1e-5);
    expect(counts['NaN/Inf gradient'] ?? 0).toBeGreaterThan(0);
    expect(counts['dashboard sending training messages'] ?? 0).toBeGreaterThan(0);
    // Told why: a NaN is NOT_FINITE, a wrong length BAD_LENGTH, a stale answer BAD_SLICE.
    for (const code of ['NOT_FINITE', 'BAD_LENGTH', 'BAD_FIELD', 'BAD_SLICE', 'UNEXPECTED_MESSAGE']) expect(counts[`answered error ${code}`] ?? 0, code).toBeGreaterThan(0);
    // Each fuzzing worker is dropped after 16 invalid frames; a dashboard after its first training message.
    expect(counts['closed with 1008']).toBe(counts['hello (token)']! + counts['subscribe (token)']!);
    expect(rssGrowthMb).toBeLessThan(150);
  }, 90_000);
});
