/**
 * The Kubernetes base run without a cluster: the coordinator's and the workers' containers,
 * command and args exactly as deploy/kubernetes writes them (a small run's flags appended,
 * as an overlay would), each pod its own node: a network namespace of
 * scripts/netns/cluster.sh, where the coordinator's Service name resolves. The pods are
 * run as the kubelet runs them (pods.ts: env and Secret, volumes, readiness probe,
 * preStop then SIGTERM, restarts, a container's processes ending with it).
 *
 * The scenario: two workers start before the coordinator (not ready: nothing to join); the
 * coordinator starts a new run on an empty volume; both become ready and train. The
 * coordinator's pod is deleted mid-run (SIGTERM: it checkpoints) while the workers are
 * scaled 2 -> 3; the replacement coordinator, same command, same volume, resumes the run and
 * the three workers join it. Worker 2 is then scaled away (its preStop hook, then SIGTERM)
 * and leaves cleanly. The run finishes with every image counted once, and the coordinator
 * restarted after the finish stays idle and leaves the run as it is.
 *
 * NOTE: the order makes the test's length independent of the machine's load. A pod takes
 * seconds to start (more under load) and training goes on meanwhile, so a pod started while
 * steps run would need a run long enough for the slowest start. Here every start falls where
 * the run waits anyway: before the first step and while the coordinator is replaced (a
 * resumed coordinator waits for --min-workers). A small model and a fixed pace per step
 * (--chaos-delay, an overlay's patch of the workers' args) give the run a known length.
 *
 * Every wait is bounded and names what it waited for; a failure prints every pod's
 * timeline (starts, output lines, probes, exits, with times).
 *
 * Skipped with the reason printed where namespaces cannot be made (not Linux, not root, no
 * iproute2); in CI that is a failure instead (tests/support/requirements.ts).
 */
import { execFileSync, spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, readFileSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it, onTestFailed } from 'vitest';
import { checkEveryImageOnce, readHistory, stepRecords, stepsDone, until, writeSpec, type HistoryLine } from '../distributed/helpers.js';
import { namespaceProblem } from '../hardening/netns.js';
import { ROOT, tempDir } from '../support/processes.js';
import { requirement } from '../support/requirements.js';
import { findObject, renderedObjects, type Deployment } from './manifests.js';
import { Pod, Timeline } from './pods.js';

const namespaces = requirement('the deployment test in network namespaces', namespaceProblem());
const CLUSTER = join(ROOT, 'scripts/netns/cluster.sh');
/** NOTE: k + this process's id: `cluster.sh prune` removes a cluster whose process is gone. */
const id = `k${process.pid}`;
const NODES = 3;
const SERVICE = 'convoy-coordinator';
const TOKEN = 'deploy-test-token-7f3a';
const TRAIN_SIZE = 2048;
const BATCH = 32;
const STEPS = TRAIN_SIZE / BATCH; // 64, one epoch
/** Each worker holds its answer this long: a step takes at least this, whatever the machine. */
const STEP_PACE_MS = 150;
/** How long one pod may take to start and join (seconds on a quiet machine; a loaded CI shares 2 cores). */
const START_MS = 60_000;

const objects = renderedObjects();
const coordinatorDeployment = findObject<Deployment>(objects, 'Deployment', 'convoy-coordinator');
const workerDeployment = findObject<Deployment>(objects, 'Deployment', 'convoy-worker');
const secrets = { 'convoy-token': { token: TOKEN } };
const dir = tempDir('deploy');
/** The claim convoy-runs: one folder for every coordinator pod. */
const runsVolume = join(dir, 'convoy-runs');
mkdirSync(runsVolume);
writeSpec(runsVolume);
/**
 * A small run on a small model: what an overlay's patch of the coordinator's args would add.
 * The model's spec lies on the claim (/runs, a container path: pods.ts maps it to runsVolume).
 */
const RUN_FLAGS = ['--model', '/runs/spec.json', '--train-size', String(TRAIN_SIZE), '--validation-size', '200', '--test-size', '0', '--batch', String(BATCH), '--epochs', '1', '--seed', '5'];
const WORKER_FLAGS = ['--chaos-delay', String(STEP_PACE_MS)];
const timeline = new Timeline();
const pods: Pod[] = [];

function emptyDir(pod: string): string {
  const folder = join(dir, pod, 'tmp');
  mkdirSync(folder, { recursive: true });
  return folder;
}

function coordinatorPod(name: string): Pod {
  const pod = new Pod(name, coordinatorDeployment, { ns: `convoy-${id}-c`, volumes: { runs: runsVolume, tmp: emptyDir(name) }, secrets, extraArgs: RUN_FLAGS, timeline });
  pods.push(pod);
  return pod;
}

function workerPod(name: string, node: number): Pod {
  const pod = new Pod(name, workerDeployment, { ns: `convoy-${id}-n${node}`, volumes: { tmp: emptyDir(name) }, secrets, extraArgs: WORKER_FLAGS, timeline });
  pods.push(pod);
  return pod;
}

/** The coordinator's number for a worker pod, from its latest "worker N: joined" line. */
function workerId(pod: Pod): number {
  const joins = [...pod.output().matchAll(/worker (\d+): joined/g)];
  if (joins.length === 0) throw new Error(`${pod.name} never joined:\n${pod.output()}`);
  return Number(joins.at(-1)![1]);
}

/** `promise`, or an error naming `what` after `ms`. */
async function within<T>(promise: Promise<T>, ms: number, what: string): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_resolve, reject) => (timer = setTimeout(() => reject(new Error(`timed out after ${ms} ms waiting for ${what}`)), ms)));
  try {
    return await Promise.race([promise, timeout]);
  } finally {
    clearTimeout(timer);
  }
}

let madeCluster = false;
afterAll(async () => {
  // Also ends what a pod's process left running in its node (as a container's end would).
  const killed = pods.map((pod) => pod.kill());
  if (madeCluster) spawnSync(CLUSTER, ['down', id, String(NODES)], { stdio: 'ignore' });
  await within(Promise.all(killed), 10_000, 'the pods to end');
  rmSync(dir, { recursive: true, force: true });
});

describe('the Kubernetes base, its pods as processes on separate nodes (network namespaces)', () => {
  describe.skipIf(namespaces.skip)('a coordinator node and three worker nodes', () => {
    beforeAll(() => {
      namespaces.check(); // in CI: fails here, with the reason, where namespaces cannot be made
      spawnSync(CLUSTER, ['prune'], { stdio: 'ignore' }); // a killed earlier run's nodes
      madeCluster = true;
      execFileSync(CLUSTER, ['up', id, String(NODES), SERVICE]);
    });

    it('the coordinator replaced and workers scaled up and down mid-run: the run finishes with every image counted once', async () => {
      onTestFailed(() => console.error(`deploy run, every pod's timeline:\n${timeline}`));
      const began = Date.now();
      const marks: string[] = [];
      const mark = (what: string) => {
        marks.push(`${what} ${((Date.now() - began) / 1000).toFixed(1)} s`);
        timeline.note('test', what);
      };
      const runDir = coordinatorDeployment.spec.template.spec.containers[0]!.env!.find((variable) => variable.name === 'CONVOY_RUN_DIR')!.value!;
      const w1 = workerPod('convoy-worker-1', 1);
      const w2 = workerPod('convoy-worker-2', 2);
      // Workers first: Kubernetes starts pods in no order. Retrying, not joined: not ready.
      w1.start();
      w2.start();
      await Promise.all([w1, w2].map((pod) => pod.current.waitFor(/cannot reach the coordinator/, START_MS)));
      expect([await w1.ready(), await w2.ready()]).toEqual([false, false]);

      const c1 = coordinatorPod('convoy-coordinator-1');
      const out = c1.mapPaths(runDir);
      c1.start();
      await c1.current.waitFor(/listening on/, START_MS);
      expect(c1.output(), 'an empty volume starts a new run').toMatch(/convoy: training in /);
      await Promise.all([w1.waitReady(true, START_MS), w2.waitReady(true, START_MS)]);
      mark('both ready');

      // The coordinator's pod deleted mid-run (a drained node) while the workers are scaled 2 -> 3:
      // it finishes its step, checkpoints, exits 0; the new worker pod starts on a third node meanwhile.
      await until(() => stepsDone(out) >= 3, 30_000, 'step 3');
      const w3 = workerPod('convoy-worker-3', 3);
      w3.start();
      const replaced = await c1.delete();
      mark('coordinator 1 gone');
      expect(replaced.exit, c1.output()).toBe(0);
      const stoppedAt = Number(/stopped at step (\d+)/.exec(c1.output())?.[1]);
      expect(stoppedAt).toBeGreaterThanOrEqual(3);
      expect(stoppedAt).toBeLessThan(STEPS);
      // Its workers were told to stop; restarted by their kubelet, they wait for a coordinator, not ready.
      await Promise.all([w1.waitReady(false, 10_000), w2.waitReady(false, 10_000)]);

      // Its replacement: the same command on the same volume resumes, and all three workers join it.
      const c2 = coordinatorPod('convoy-coordinator-2');
      c2.start();
      await c2.current.waitFor(/listening on/, START_MS);
      expect(c2.output()).toContain(`convoy: resuming at step ${stoppedAt} in `);
      await Promise.all([w1, w2, w3].map((pod) => pod.waitReady(true, START_MS)));
      mark('resumed, three ready');
      await until(() => stepRecords(out).some((line) => line.step! > stoppedAt && line.workers === 3), 30_000, 'a step with three workers');
      expect(stepsDone(out), 'the run is still going with three workers').toBeLessThan(STEPS - 2);

      // Scale 3 -> 2 mid-run: the pod deleted as the kubelet does it.
      const leavingId = workerId(w2);
      const scaledDown = await w2.delete();
      expect(scaledDown, w2.output()).toMatchObject({ exit: 0, hookExit: 0 });
      expect(await w2.ready()).toBe(false);
      const leftAtStep = stepsDone(out);
      mark('worker 2 gone');
      expect(leftAtStep, 'the run is still going when worker 2 has left').toBeLessThan(STEPS);

      expect(await within(c2.runs[0]!.exited, 60_000, 'the run to finish'), c2.output()).toBe(0);
      mark('finished');
      expect(c2.output()).toMatch(/convoy: finished 1 epochs/);
      const finishedHistory = readFileSync(join(out, 'history.jsonl'), 'utf8');
      // Restarted by its kubelet after the finish: idle, the run left as it is; a deletion ends it at once.
      await until(() => c2.runs.length >= 2, 10_000, 'the restart after the finish');
      await c2.current.waitFor(/has finished; idle/, START_MS);
      const idle = await c2.delete();
      expect(idle.exit).toBe(0);
      expect(idle.ms).toBeLessThan(5_000);
      expect(c2.runs).toHaveLength(2);
      expect(readFileSync(join(out, 'history.jsonl'), 'utf8')).toBe(finishedHistory);

      // history.jsonl: every global batch once, the scale events as Convoy saw them.
      const steps = stepRecords(out);
      expect(checkEveryImageOnce(steps, TRAIN_SIZE, BATCH, STEPS)).toBeNull();
      const events = readHistory(out).filter((line) => line.kind === 'event');
      const named = (event: string) => events.filter((line) => line.event === event);
      expect(named('leave').map((line) => line.workerId), 'worker 2 left, said so').toEqual([leavingId]);
      expect([...named('death'), ...named('deadline-miss')], 'nobody was lost: every departure was a leave').toEqual([]);
      expect(named('coordinator-restart').map((line) => line.step)).toEqual([stoppedAt]);
      const leaveStep = named('leave')[0]!.step!;
      // Steps (from, to]: the step of an event is the last one completed when it happened; the next may already be under way.
      const workersAt = (from: number, to: number) => new Set(steps.filter((line) => line.step! > from && line.step! <= to).map((line: HistoryLine) => line.workers));
      // Workers may join a step apart at the start: some step before the replacement had both.
      expect(workersAt(0, stoppedAt).has(2), 'two workers before the coordinator was replaced').toBe(true);
      expect(workersAt(stoppedAt, leaveStep).has(3), 'three workers after the resume').toBe(true);
      expect(workersAt(leaveStep + 1, STEPS), 'two workers after the scale-down').toEqual(new Set([2]));
      expect(existsSync(join(out, 'model.ckpt'))).toBe(true);
      const stepMs = steps.map((line) => Number(line['stepMs']));
      console.log(
        `deploy run: ${STEPS} steps, median step ${stepMs.sort((a, b) => a - b)[stepMs.length >> 1]!.toFixed(0)} ms; coordinator replaced: stopped at step ${stoppedAt} in ${replaced.ms} ms, resumed there; ` +
          `scale-down (preStop + SIGTERM) took ${scaledDown.ms} ms, worker 2 left after step ${leftAtStep}; at: ${marks.join(', ')}`,
      );
    }, 150_000);
  });
});
