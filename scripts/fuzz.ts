/**
 * `pnpm fuzz -- --frames N [--seed S] [--connections C] [--unauthenticated]`: the long,
 * seeded protocol fuzzer. It trains a small run without the fuzzer (the reference), then the
 * same run again while N frames of the field-level campaign (tests/hardening/fuzz-fields.ts:
 * every message type x field x mutation, in every role) hit the coordinator, and checks that
 * the run is untouched: the reference's final parameters (bit for bit when only
 * unauthenticated roles were used, up to summation order when admitted fuzzing workers took
 * slices), every image counted once, the coordinator alive and its exit clean. Prints the
 * coverage table, the coordinator's answers and closes, RSS before/peak/after; exits 1 when
 * a check fails. Bounded: it stops at N frames, or at --max-seconds with a failure.
 */
import { parseArgs } from 'node:util';
import { finalParams, relativeDifference, stepRecords, writeSpec } from '../tests/distributed/helpers.js';
import { tempDir, type Proc } from '../tests/support/processes.js';
import { CELLS } from '../tests/hardening/fuzz-fields.js';
import { ROLES, UNAUTHENTICATED_ROLES, type Fuzzer } from '../tests/hardening/fuzzer.js';
import {
  baselineRun,
  coverageTable,
  fuzzedRun,
  rssMb,
  runFailures,
  summary,
  totalSteps,
  uncovered,
  type HonestRun,
} from '../tests/hardening/fuzz-run.js';

const DEFAULTS = { frames: 100_000, seed: 1, connections: 16, maxSeconds: 1_800 };
/** The honest worker's delay a step, ms: slow enough that the run outlasts the fuzzing. */
const CHAOS_DELAY_MS = 300;
/**
 * Frames the campaign sends per epoch of the honest run (13 steps, at least 13 x CHAOS_DELAY_MS
 * plus a validation round): ~250 frames/s, which a loaded 2-core machine exceeds, so the frames
 * end before the run does (the checks fail otherwise: raise --epochs).
 */
const FRAMES_PER_EPOCH = 1_000;

function usageError(message: string): never {
  process.stderr.write(`fuzz: ${message} (usage: pnpm fuzz -- --frames N [--seed S] [--connections C] [--epochs E] [--max-seconds T] [--unauthenticated])\n`);
  process.exit(2);
}

function positiveInteger(name: string, text: string | undefined, fallback: number): number {
  if (text === undefined) return fallback;
  const value = Number(text);
  if (!Number.isSafeInteger(value) || value < 1) usageError(`--${name} must be a positive integer, not "${text}"`);
  return value;
}

function options() {
  const args = process.argv.slice(2);
  // NOTE: `pnpm fuzz -- --frames N` hands the `--` through.
  if (args[0] === '--') args.shift();
  try {
    const { values } = parseArgs({
      args,
      options: {
        frames: { type: 'string' }, seed: { type: 'string' }, connections: { type: 'string' }, epochs: { type: 'string' },
        'max-seconds': { type: 'string' }, unauthenticated: { type: 'boolean', default: false },
      },
      strict: true,
    });
    const frames = positiveInteger('frames', values.frames, DEFAULTS.frames);
    return {
      frames,
      seed: positiveInteger('seed', values.seed, DEFAULTS.seed),
      connections: positiveInteger('connections', values.connections, DEFAULTS.connections),
      epochs: positiveInteger('epochs', values.epochs, Math.ceil(frames / FRAMES_PER_EPOCH) + 1),
      maxSeconds: positiveInteger('max-seconds', values['max-seconds'], DEFAULTS.maxSeconds),
      unauthenticated: values.unauthenticated === true,
    };
  } catch (error) {
    return usageError((error as Error).message.split('\n')[0]!);
  }
}

/** Median and largest step time of a run, ms (history.jsonl's stepMs). */
function stepTimes(out: string): string {
  const times = stepRecords(out).map((record) => Number(record['stepMs'])).sort((a, b) => a - b);
  return `median ${times[times.length >> 1]?.toFixed(0)} ms, max ${times.at(-1)?.toFixed(0)} ms`;
}

/** Replies and closes seen, roles used: the lines of the summary that say what the coordinator did. */
function roleLines(fuzzer: Fuzzer): string {
  const roles = Object.entries(fuzzer.counts).filter(([kind]) => kind.startsWith('fuzzed ('));
  return `campaign frames by role: ${roles.map(([kind, n]) => `${kind.slice(8, -1)} ${n}`).join(', ')}`;
}

async function main(): Promise<number> {
  const settings = options();
  const started: Proc[] = [];
  const track = (proc: Proc) => void started.push(proc);
  const killAll = () => started.forEach((proc) => proc.child.kill('SIGKILL'));
  process.on('exit', killAll);
  for (const signal of ['SIGINT', 'SIGTERM'] as const) process.on(signal, () => process.exit(130));

  const dir = tempDir('fuzz');
  const run: HonestRun = { specPath: writeSpec(dir), epochs: settings.epochs };
  const roles = settings.unauthenticated ? UNAUTHENTICATED_ROLES : ROLES;
  console.log(
    `fuzz: ${settings.frames} frames, seed ${settings.seed}, ${settings.connections} connections, roles ${roles.join(' / ')}; ` +
      `honest run ${run.epochs} epochs (${totalSteps(run)} steps); ${CELLS.length} coverage cells; runs in ${dir}`,
  );

  const reference = await baselineRun(run, `${dir}/reference`, track);
  if (reference.exitCode !== 0) {
    process.stderr.write(`fuzz: the reference run (no fuzzer) failed with exit ${reference.exitCode}:\n${reference.output}\n`);
    return 1;
  }
  console.log('reference run done; fuzzing the same run');

  const deadline = Date.now() + settings.maxSeconds * 1000;
  // A coordinator that hangs instead of finishing must not hang the fuzzer: a bound on the whole
  // run, generous (2 s a step) beyond the fuzzing's own.
  const watchdogMs = settings.maxSeconds * 1000 + totalSteps(run) * 2_000 + 60_000;
  setTimeout(() => {
    console.log(`fuzz: FAIL the fuzzed run did not finish within ${(watchdogMs / 1000).toFixed(0)} s (coordinator hung?)`);
    process.exit(1);
  }, watchdogMs).unref();
  let progress: NodeJS.Timeout | undefined;
  const result = await fuzzedRun(run, `${dir}/fuzzed`, settings.seed, CHAOS_DELAY_MS, track, async (fuzzer, running, pid) => {
    const startedAt = Date.now();
    progress = setInterval(() => {
      const seconds = (Date.now() - startedAt) / 1000;
      console.log(`  ${seconds.toFixed(0)} s: ${fuzzer.campaignFrames} frames (${(fuzzer.campaignFrames / seconds).toFixed(0)}/s), coordinator RSS ${rssMb(pid).toFixed(0)} MB`);
    }, 15_000);
    await fuzzer.silentFlood(300); // past the coordinator's limit of connections handshaking at once
    await fuzzer.rawTcp(30);
    await fuzzer.helloFlood(400);
    await fuzzer.campaign({ frames: settings.frames, connections: settings.connections, roles, deadline, running });
    clearInterval(progress);
  });
  clearInterval(progress);

  const { fuzzer } = result;
  const admitted = (fuzzer.counts['answered welcome'] ?? 0) > 0;
  const failures = runFailures(result, run, reference.params, !admitted);
  if (fuzzer.campaignFrames < settings.frames) {
    failures.push(`sent ${fuzzer.campaignFrames} of ${settings.frames} frames (${result.trainingAtEnd ? `stopped at --max-seconds ${settings.maxSeconds}` : 'the honest run ended first: raise --epochs'})`);
  }
  if (settings.unauthenticated && admitted) failures.push('a connection without the token was admitted');
  const missing = uncovered(fuzzer);
  if (missing.length > 0) failures.push(`${missing.length} coverage cells never sent (first: ${missing.slice(0, 3).join('; ')})`);

  console.log(`\n${summary('campaign', fuzzer.counts, result.seconds, result.rss)}`);
  console.log(roleLines(fuzzer));
  console.log(`\nframes per message type x field x mutation ('.': does not apply)\n${coverageTable(fuzzer)}\n`);
  if (result.coordinatorExit === 0) {
    console.log(`honest run: relative parameter difference ${relativeDifference(reference.params, finalParams(result.out)).toExponential(2)}; step time ${stepTimes(result.out)} (without the fuzzer: ${stepTimes(`${dir}/reference`)})`);
  }
  console.log(`final parameters compared ${admitted ? 'up to summation order (admitted fuzzing workers took slices)' : 'bit for bit (nothing was admitted)'}`);
  if (failures.length === 0) {
    console.log(`fuzz: PASS (${fuzzer.campaignFrames} campaign frames, seed ${settings.seed})`);
    return 0;
  }
  for (const failure of failures) console.log(`fuzz: FAIL ${failure}`);
  console.log(`coordinator output (last 3000 characters):\n${result.coordinatorOutput.slice(-3000)}`);
  return 1;
}

process.exitCode = await main();
