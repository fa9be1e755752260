/**
 * `--chaos "kill:worker1@step20,pause:worker2@step40:5s,kill:coordinator@step8"`: fault
 * injection for tests and demos, one command per scenario. Each part is
 * ACTION:TARGET@stepN[:DURATION]; TARGET is `coordinator` or `workerK` (the K-th local
 * worker of `convoy start`, from 1). Worker parts are handed to that worker as its own
 * `--chaos ACTION@stepN[:DURATION]` (packages/worker/src/chaos.ts checks and runs them);
 * the coordinator knows one action: `kill` (SIGKILL itself once step N is recorded).
 */
import { CoordinatorError } from './defaults.js';

export interface ChaosPlan {
  /** SIGKILL the coordinator right after step N's record (0: never). */
  readonly killCoordinatorAtStep: number;
  /** The --chaos value of each local worker (index 0 = worker1); '' for none. */
  readonly workers: readonly string[];
}

export function parseChaosPlan(plan: string, localWorkers: number): ChaosPlan {
  const workers: string[][] = Array.from({ length: localWorkers }, () => []);
  let killCoordinatorAtStep = 0;
  for (const part of plan.split(',').filter((text) => text.trim() !== '')) {
    const match = /^\s*([a-z]+):(coordinator|worker(\d+))@(step\d+(?::\d+(?:\.\d+)?(?:ms|s))?)\s*$/.exec(part);
    if (match === null) throw new CoordinatorError('BAD_OPTION', `--chaos: "${part}" is not ACTION:TARGET@stepN[:DURATION], e.g. kill:worker1@step20`);
    const [, action, target, workerNumber, when] = match as unknown as [string, string, string, string | undefined, string];
    if (target === 'coordinator') {
      if (action !== 'kill' || when.includes(':')) throw new CoordinatorError('BAD_OPTION', `--chaos: "${part}": the coordinator knows only kill:coordinator@stepN`);
      killCoordinatorAtStep = Number(when.slice(4));
      continue;
    }
    const index = Number(workerNumber) - 1;
    if (!(index >= 0 && index < localWorkers)) {
      throw new CoordinatorError('BAD_OPTION', `--chaos: "${part}": there are ${localWorkers} local workers (worker1..worker${localWorkers})`);
    }
    workers[index]!.push(`${action}@${when}`);
  }
  return { killCoordinatorAtStep, workers: workers.map((parts) => parts.join(',')) };
}
