/**
 * `pnpm bench:links`: training across shaped network links. Worker hosts and the coordinator
 * are network namespaces on one switch (scripts/netns/shared-link.sh): every host's link is
 * shaped, the coordinator's too, so the workers share the coordinator's link as they would
 * share its network card. One-way delay comes from netem, or from scripts/netns/delay-relay.mjs
 * in each worker host when the kernel has no netem. Each simulated host runs on one core
 * (taskset): worker host k on core k-1, the coordinator on the last core.
 *
 * For each link (rate and one-way delay), 1 and 2 worker hosts, and each codec (`--wire`):
 * images/s at global batch 256 with the default model, bytes per step each way per worker
 * (from history.jsonl), the link figures the coordinator measured (round trip, bandwidth),
 * and the speed-up against ONE host with no network: coordinator and one worker on
 * 127.0.0.1 sharing one core, measured in the same round.
 *
 * Rounds: the baseline opens every round and the configurations follow, in reverse order
 * every other round, so a drift of the machine's speed does not favour one; the table gives
 * medians over the rounds, speed-ups taken within a round. The first `warmup` steps of every
 * run are left out (a process's first steps are not its steady state: bench/README.md).
 *
 * Codecs: those the coordinator's `--wire` accepts (read from its --help), or fp32 alone when
 * it has no `--wire`; a codec named with `+overlap` (topk+overlap) also runs `--overlap` from
 * the end of the warm-up. Workers get `--threads 1` when they accept it.
 *
 *   pnpm bench:links [-- --rounds 3 --steps 20 --warmup 5 --codecs fp32,bf16,topk,topk+overlap
 *                       --links 1gbit/2,100mbit/20,20mbit/40 --hosts 1,2 --kernels auto --keep DIR]
 *
 * --keep DIR keeps each run's folder under DIR (its trace.jsonl shows where a step's time went).
 */
import { mkdirSync, mkdtempSync, readFileSync, renameSync, rmSync } from 'node:fs';
import { availableParallelism, tmpdir } from 'node:os';
import { join } from 'node:path';
import type { StepRecord } from '../packages/core/src/index.js';
import {
  COORDINATOR_CLI, WORKER_CLI, describeLink, flagChoices, helpOf, parseLink, setupSharedLink, startIn, startRelay, teardown, teardownOnExit, type Link, type Started,
} from './links-hosts.js';
import { benchFlags, machine, median, saveResults } from './measure.js';

const values = benchFlags({ rounds: '3', steps: '20', warmup: '5', codecs: '', links: '1gbit/2,100mbit/20,20mbit/40', hosts: '1,2', kernels: 'auto', batch: '256', keep: '' });
/** --keep DIR: each run's folder (history.jsonl, trace.jsonl) is moved there, for `pnpm convoy trace`. */
const keep = values.keep === '' ? null : values.keep;
const rounds = Number(values.rounds);
const steps = Number(values.steps);
const warmup = Number(values.warmup);
const batch = Number(values.batch);
const links = values.links.split(',').map(parseLink);
const hostCounts = values.hosts.split(',').map(Number);
const cores = availableParallelism();
const coordinatorCore = String(cores - 1);
const COORDINATOR_PORT = 7080;
const RELAY_PORT = 7090;
/** Workers present the token; the coordinator listens on a non-loopback address only with one. */
const TOKEN = { CONVOY_TOKEN: 'bench-links' };

/** One configuration; `link` null is the baseline (one host, no network). */
interface Config {
  readonly link: Link | null;
  readonly hosts: number;
  /** A --wire codec, with `+overlap` for --overlap. */
  readonly codec: string;
}

const OVERLAP = '+overlap';
/** The --wire codec of a configuration's codec name. */
const wireOf = (codec: string) => (codec.endsWith(OVERLAP) ? codec.slice(0, -OVERLAP.length) : codec);

interface Run {
  readonly config: Config;
  readonly round: number;
  readonly imagesPerSecond: number;
  /** Means over the measured steps, per worker. */
  readonly bytesDownPerWorker: number;
  readonly bytesUpPerWorker: number;
  /** The coordinator's view of the links at the last step (medians over the workers). */
  readonly rttMs: number;
  readonly downMbps: number;
  readonly upMbps: number;
  readonly shaping: string;
}

let runCount = 0;

let topkWarmupFlag: boolean | null = null;
/** Whether this coordinator has --topk-warmup-steps (older ones warm up for a whole epoch). */
function hasTopkWarmupFlag(): boolean {
  topkWarmupFlag ??= /--topk-warmup-steps\b/.test(helpOf(COORDINATOR_CLI));
  return topkWarmupFlag;
}

async function runOnce(config: Config, round: number, wire: boolean, threads: boolean): Promise<Run> {
  const out = mkdtempSync(join(tmpdir(), 'convoy-links-'));
  const started: Started[] = [];
  try {
    const id = `l${process.pid % 100_000}${runCount++}`;
    const shaping = config.link === null ? 'none' : setupSharedLink(id, config.hosts, config.link);
    const coordinatorArgs = [
      '--out', out, '--batch', String(batch), '--max-steps', String(warmup + steps), '--epochs', '1', '--validation-size', '0',
      '--test-size', '0', '--checkpoint-every', '0', '--min-workers', String(config.hosts), '--kernels', values.kernels,
      ...(wire ? ['--wire', wireOf(config.codec)] : []),
      // topk's density warm-up ends with the bench's warm-up steps, so the measured steps are its steady state; so does --overlap's.
      ...(wire && wireOf(config.codec) === 'topk' && hasTopkWarmupFlag() ? ['--topk-warmup-steps', String(warmup)] : []),
      ...(wire && config.codec.endsWith(OVERLAP) ? ['--overlap', '--overlap-after', String(warmup)] : []),
    ];
    const workerArgs = (k: number) => ['--kernels', values.kernels, '--name', `host-${k}`, ...(threads ? ['--threads', '1'] : [])];
    let coordinator: Started;
    if (config.link === null) {
      // The baseline: coordinator and worker on this host's loopback, sharing core 0.
      coordinator = startIn(null, '0', COORDINATOR_CLI, [...coordinatorArgs, '--host', '127.0.0.1', '--port', '0']);
      started.push(coordinator);
      const port = (await coordinator.waitFor(/listening on ws:\/\/[^\s]+:(\d+)/, 60_000))[1]!;
      started.push(startIn(null, '0', WORKER_CLI, ['--connect', `ws://127.0.0.1:${port}`, ...workerArgs(1)]));
    } else {
      coordinator = startIn(`convoy-${id}-c`, coordinatorCore, COORDINATOR_CLI, [...coordinatorArgs, '--host', '10.78.0.1', '--port', String(COORDINATOR_PORT)], TOKEN);
      started.push(coordinator);
      await coordinator.waitFor(/listening on/, 60_000);
      for (let k = 1; k <= config.hosts; k++) {
        const ns = `convoy-${id}-w${k}`;
        const core = String((k - 1) % cores);
        let url = `ws://10.78.0.1:${COORDINATOR_PORT}`;
        if (shaping === 'tbf' && config.link.delayMs > 0) {
          started.push(await startRelay(ns, core, RELAY_PORT, '10.78.0.1', COORDINATOR_PORT, config.link.delayMs));
          url = `ws://127.0.0.1:${RELAY_PORT}`;
        }
        started.push(startIn(ns, core, WORKER_CLI, ['--connect', url, ...workerArgs(k)], TOKEN));
      }
    }
    // A worker that ends first (a crash, a refused connection) would leave the coordinator
    // waiting for it forever: that, or a run far past any plausible length, fails the run.
    // (A worker told to stop at the end exits 0, maybe before the coordinator: not a failure.)
    const workerEnded = started.slice(1).map((proc) =>
      proc.exited.then((code) => (code === 0 ? new Promise<never>(() => undefined) : `a worker or relay exited with ${code} before the run ended:\n${proc.output().slice(-3000)}`)),
    );
    const limitMs = 120_000 + 60_000 * (warmup + steps);
    let timer: NodeJS.Timeout | undefined;
    const tooLong = new Promise<string>((resolve) => (timer = setTimeout(() => resolve(`the run took over ${limitMs / 1000} s`), limitMs)));
    const ended = await Promise.race([coordinator.exited.then((code) => (code === 0 ? null : `the coordinator exited with ${code}`)), ...workerEnded, tooLong]);
    clearTimeout(timer);
    if (ended !== null) throw new Error(`${ended}\ncoordinator output:\n${coordinator.output().slice(-3000)}`);
    const result = { config, round, shaping, ...figures(out) };
    if (keep !== null) {
      const kept = join(keep, `round${round}-${config.link === null ? 'alone' : describeLink(config.link).replace(/[^\w]+/g, '')}-${config.hosts}h-${config.codec}`);
      mkdirSync(keep, { recursive: true });
      renameSync(out, kept);
    }
    return result;
  } finally {
    teardown();
    rmSync(out, { recursive: true, force: true });
  }
}

/** images/s, bytes per worker and link figures from the run's history.jsonl (steps after the warm-up). */
function figures(out: string): Omit<Run, 'config' | 'round' | 'shaping'> {
  const records = readFileSync(join(out, 'history.jsonl'), 'utf8').split('\n').filter((line) => line.length > 0).map((line) => JSON.parse(line) as { kind: string });
  const measured = (records.filter((record) => record.kind === 'step') as StepRecord[]).filter((record) => record.step > warmup);
  if (measured.length === 0) throw new Error('no step after the warm-up in history.jsonl');
  const images = measured.reduce((sum, record) => sum + record.images, 0);
  const seconds = measured.reduce((sum, record) => sum + record.stepMs, 0) / 1000;
  const perLink = measured.flatMap((record) => record.links ?? []);
  const mean = (pick: (link: (typeof perLink)[number]) => number) => (perLink.length === 0 ? 0 : perLink.reduce((sum, link) => sum + pick(link), 0) / perLink.length);
  const last = measured.at(-1)!.links ?? [];
  const middle = (pick: (link: (typeof last)[number]) => number) => (last.length === 0 ? 0 : median(last.map(pick)));
  return {
    imagesPerSecond: images / seconds,
    bytesDownPerWorker: mean((link) => link.bytesDown),
    bytesUpPerWorker: mean((link) => link.bytesUp),
    rttMs: middle((link) => link.rttMs),
    downMbps: middle((link) => link.downMbps),
    upMbps: middle((link) => link.upMbps),
  };
}

const fixed = (value: number, digits = 1) => value.toFixed(digits);
const megabytes = (bytes: number) => (bytes / 1e6).toFixed(3);

async function main(): Promise<void> {
  teardownOnExit();
  const host = machine();
  const accepted = flagChoices(helpOf(COORDINATOR_CLI), '--wire');
  const wire = accepted === null || accepted.length > 0;
  const acceptedCodecs = accepted === null ? [] : accepted;
  // A --wire whose help lists no choices: fp32 unless --codecs names others.
  const overlap = /--overlap\b/.test(helpOf(COORDINATOR_CLI));
  const asked = values.codecs === '' ? (acceptedCodecs.length > 0 ? [...acceptedCodecs, ...(overlap ? [`topk${OVERLAP}`] : [])] : ['fp32']) : values.codecs.split(',');
  const codecs = wire ? asked.filter((codec) => (acceptedCodecs.length === 0 || acceptedCodecs.includes(wireOf(codec))) && (overlap || !codec.endsWith(OVERLAP))) : ['fp32'];
  const skipped = asked.filter((codec) => !codecs.includes(codec));
  const threads = /^\s+--threads\b/m.test(helpOf(WORKER_CLI));
  process.stdout.write(`convoy bench:links: ${rounds} rounds of ${steps} measured steps after ${warmup} warm-up, global batch ${batch}, kernels ${values.kernels}\n`);
  process.stdout.write(`machine: ${host.cpu}, ${host.cores} cores, Node ${host.node}; load average before ${host.loadBefore.join(' ')}\n`);
  process.stdout.write(`codecs: ${codecs.join(', ')}${wire ? '' : ' (this coordinator has no --wire)'}${skipped.length > 0 ? `; not accepted here: ${skipped.join(', ')}` : ''}; workers ${threads ? 'with --threads 1' : 'single-threaded (no --threads)'}\n`);
  process.stdout.write(`cores: worker host k on core k-1 (mod ${cores}), the coordinator on core ${coordinatorCore}; the baseline's coordinator and worker share core 0\n`);
  const configs: Config[] = links.flatMap((link) => hostCounts.flatMap((hosts) => codecs.map((codec) => ({ link, hosts, codec }))));
  const runs: Run[] = [];
  const started = performance.now();
  for (let round = 1; round <= rounds; round++) {
    const order = round % 2 === 1 ? configs : [...configs].reverse();
    for (const config of [{ link: null, hosts: 1, codec: 'fp32' }, ...order]) {
      const result = await runOnce(config, round, wire && config.link !== null, threads);
      runs.push(result);
      process.stdout.write(
        `  round ${round}, link ${describeLink(config.link)}, ${config.hosts} host(s), ${config.codec}: ${fixed(result.imagesPerSecond)} images/s, ` +
          `${megabytes(result.bytesDownPerWorker)} MB down / ${megabytes(result.bytesUpPerWorker)} MB up per worker and step` +
          `${config.link === null ? '' : `; measured round trip ${fixed(result.rttMs, 2)} ms, down ${fixed(result.downMbps)} / up ${fixed(result.upMbps)} Mbit/s (${result.shaping})`}\n`,
      );
    }
  }
  const baselineOf = (round: number) => runs.find((run) => run.config.link === null && run.round === round)!.imagesPerSecond;
  const baseline = median(runs.filter((run) => run.config.link === null).map((run) => run.imagesPerSecond));
  process.stdout.write(`\none host alone, no network (1 core): ${fixed(baseline)} images/s (median of ${rounds})\n\n`);
  process.stdout.write('| link (shared by the workers) | worker hosts | codec | images/s | speed-up vs one host alone | per round | MB down/step/worker | MB up/step/worker | round trip ms | down Mbit/s | up Mbit/s |\n');
  process.stdout.write('|---|---|---|---|---|---|---|---|---|---|---|\n');
  const summary = configs.map((config) => {
    const mine = runs.filter((run) => run.config === config);
    const speedups = mine.map((run) => run.imagesPerSecond / baselineOf(run.round));
    const row = {
      link: describeLink(config.link), hosts: config.hosts, codec: config.codec,
      imagesPerSecond: median(mine.map((run) => run.imagesPerSecond)), speedup: median(speedups), speedups,
      bytesDownPerWorker: median(mine.map((run) => run.bytesDownPerWorker)), bytesUpPerWorker: median(mine.map((run) => run.bytesUpPerWorker)),
      rttMs: median(mine.map((run) => run.rttMs)), downMbps: median(mine.map((run) => run.downMbps)), upMbps: median(mine.map((run) => run.upMbps)),
    };
    process.stdout.write(
      `| ${row.link} | ${row.hosts} | ${row.codec} | ${fixed(row.imagesPerSecond)} | ${fixed(row.speedup, 2)}x | ${speedups.map((x) => fixed(x, 2)).join(' ')} | ` +
        `${megabytes(row.bytesDownPerWorker)} | ${megabytes(row.bytesUpPerWorker)} | ${fixed(row.rttMs, 2)} | ${fixed(row.downMbps)} | ${fixed(row.upMbps)} |\n`,
    );
    return row;
  });
  process.stdout.write(`took ${fixed((performance.now() - started) / 60_000)} minutes\n`);
  const shaping = [...new Set(runs.filter((run) => run.config.link !== null).map((run) => run.shaping))];
  saveResults('links', host, { rounds, steps, warmup, batch, kernels: values.kernels, codecs, threads, shaping, cores: { workers: 'k-1 mod cores', coordinator: coordinatorCore }, baseline, summary, runs });
}

main().then(
  () => process.exit(0),
  (error: unknown) => {
    teardown();
    console.error(error instanceof Error ? error.message : error);
    process.exit(1);
  },
);
