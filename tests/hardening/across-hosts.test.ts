/**
 * Workers on other hosts: three network namespaces (scripts/netns/setup.sh), the
 * coordinator in one (`--host 0.0.0.0 --token`), a worker in each of the others, every link
 * shaped to 1 Gbit/s with 2 ms delay each way. The default model (1.2 M parameters) trains
 * with the slow-link codec (`--wire topk`: replicas on the workers, tens of KB each way per
 * worker and step instead of 4.8 MB) on a subset to a stated validation accuracy while
 * one worker's link is cut mid-run (`ip link set ... down`): training completes without it.
 * Also measures images/s with two workers (before the cut) and one (after it) under that
 * network.
 *
 * NOTE: the kernel here has no netem (CONFIG_NET_SCH_NETEM unset): setup.sh then shapes the
 * rate with tbf and the 2 ms come from a userspace relay in each worker's namespace
 * (scripts/netns/delay-relay.mjs). The test says which it used.
 *
 * Skipped with the reason printed where namespaces cannot be made (not Linux, not root, no
 * iproute2); in CI that is a failure instead (tests/support/requirements.ts).
 */
import { availableParallelism, loadavg } from 'node:os';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { checkEveryImageOnce, type HistoryLine, readHistory, stepRecords, stepsDone, until } from '../distributed/helpers.js';
import { COORDINATOR_CLI, WORKER_CLI, tempDir, type Proc } from '../support/processes.js';
import { requirement } from '../support/requirements.js';
import { RELAY, linkDown, namespaceProblem, runIn, setupNamespaces, teardownNamespaces } from './netns.js';

const namespaces = requirement('the across-hosts test', namespaceProblem());
const id = `h${process.pid % 100_000}`;
const ns = { coordinator: `convoy-${id}-c`, workers: [`convoy-${id}-w1`, `convoy-${id}-w2`] };
const TOKEN = 'across-hosts-secret';
const PORT = 7070;
let relayPort = 7071;
const TRAIN_SIZE = 4096;
const BATCH = 128;
const STEPS = TRAIN_SIZE / BATCH; // 32
const CUT_AT_STEP = 16;
/**
 * Stated accuracy: the default model after 32 steps of 128 images (Adam 0.001), on 1,000 validation
 * images, with topk. NOTE: below fp32's 0.9 for this run: all 32 steps are topk's warm-up epoch,
 * where most of each gradient still waits in the workers' residuals.
 */
const MIN_VALIDATION_ACCURACY = 0.87;

const dir = tempDir('across-hosts');
const started: Proc[] = [];
let shaping: 'netem' | 'tbf' = 'netem';

function track(proc: Proc): Proc {
  started.push(proc);
  return proc;
}

function trainArgs(out: string, extra: readonly string[]): string[] {
  return [
    '--host', '0.0.0.0', '--port', String(PORT), '--token', TOKEN, '--out', out, '--kernels', 'auto',
    '--train-size', String(TRAIN_SIZE), '--validation-size', '1000', '--test-size', '0', '--batch', String(BATCH),
    '--epochs', '1', '--seed', '3', '--optimizer', 'adam', '--lr', '0.001', '--lr-schedule', 'step', '--checkpoint-every', '0',
    '--heartbeat', '3000', '--deadline-min', '1500', '--wire', 'topk', ...extra,
  ];
}

/** Starts the worker of host k (1 or 2): straight to the coordinator, or through the delay relay. */
async function startWorker(k: 1 | 2): Promise<Proc> {
  const workerNs = ns.workers[k - 1]!;
  let url = `ws://10.77.${k}.1:${PORT}`;
  if (shaping === 'tbf') {
    const port = relayPort++;
    const relay = track(runIn(workerNs, RELAY, ['127.0.0.1', String(port), `10.77.${k}.1`, String(PORT), '2']));
    await relay.waitFor(/relay listening/);
    url = `ws://127.0.0.1:${port}`;
  }
  return track(runIn(workerNs, WORKER_CLI, ['--connect', url, '--token', TOKEN, '--name', `host-${k}`, '--retry-for', '30']));
}

/** Images per second over steps [from, to] (wall time of the steps themselves). */
function imagesPerSecond(steps: readonly HistoryLine[], from: number, to: number): number {
  const window = steps.filter((record) => record.step! >= from && record.step! <= to);
  const images = window.reduce((sum, record) => sum + record.images!, 0);
  const seconds = window.reduce((sum, record) => sum + Number(record['stepMs']), 0) / 1000;
  return images / seconds;
}

let madeNamespaces = false;
afterAll(async () => {
  await Promise.all(started.map((proc) => proc.kill()));
  if (madeNamespaces) teardownNamespaces(id);
});

describe('workers on other hosts (network namespaces, shaped links)', () => {
  describe.skipIf(namespaces.skip)('three namespaces', () => {
    beforeAll(() => {
      namespaces.check(); // in CI: fails here, with the reason, where namespaces cannot be made
      madeNamespaces = true;
      shaping = setupNamespaces(id);
      console.log(`links: 1 Gbit/s, 2 ms each way (${shaping === 'netem' ? 'tc netem' : 'tc tbf for the rate + delay-relay.mjs for the delay: this kernel has no netem'})`);
    });

    it(`two workers; worker 2's link cut at step ${CUT_AT_STEP}: training completes on worker 1 and reaches ${MIN_VALIDATION_ACCURACY * 100}%`, async () => {
      const out = `${dir}/two`;
      const coordinator = track(runIn(ns.coordinator, COORDINATOR_CLI, trainArgs(out, ['--min-workers', '2'])));
      await coordinator.waitFor(/listening on/);
      await Promise.all([startWorker(1), startWorker(2)]);
      await until(() => stepsDone(out) >= CUT_AT_STEP, 60_000, `step ${CUT_AT_STEP}`);
      linkDown(ns.workers[1]!, `cv2w-${id}`);
      expect(await coordinator.exited, coordinator.output()).toBe(0);
      const steps = stepRecords(out);
      expect(checkEveryImageOnce(steps, TRAIN_SIZE, BATCH, STEPS)).toBeNull();
      expect(steps.at(-1)!.workers).toBe(1);
      const lost = readHistory(out).filter((line) => line.kind === 'event' && (line.event === 'death' || line.event === 'deadline-miss'));
      expect(lost.length, 'worker 2 is found gone').toBeGreaterThan(0);
      const epoch = readHistory(out).find((line) => line.kind === 'epoch')!;
      // The same run gives both figures: 2 workers before the cut, 1 worker (same network) after it.
      const twoWorkers = imagesPerSecond(steps, 3, CUT_AT_STEP - 1);
      const oneWorker = imagesPerSecond(steps, CUT_AT_STEP + 3, STEPS);
      console.log(
        `across shaped links: 2 workers ${twoWorkers.toFixed(0)} images/s (steps 3-${CUT_AT_STEP - 1}), 1 worker ${oneWorker.toFixed(0)} images/s ` +
          `(steps ${CUT_AT_STEP + 3}-${STEPS}), scaling ${(twoWorkers / oneWorker).toFixed(2)}x; load average ${loadavg()[0]!.toFixed(1)} on ${availableParallelism()} cores; ` +
          `validation accuracy ${(epoch.validationAccuracy! * 100).toFixed(1)}%; events: ${lost.map((line) => `${line.event}@${line.step}`).join(', ')}`,
      );
      expect(epoch.validationAccuracy!).toBeGreaterThanOrEqual(MIN_VALIDATION_ACCURACY);
      expect(readHistory(out).filter((line) => line.kind === 'event' && line.event === 'replica-drift'), 'replicas stay bit-identical across hosts').toEqual([]);
    }, 120_000);
  });
});
