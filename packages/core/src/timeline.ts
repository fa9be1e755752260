/**
 * A step's timeline laid out from its timing record (protocol records.ts TimingRecord): the
 * one layout the dashboard's timeline draws and `convoy trace` writes, and the straggler
 * score both name. Pure and browser-safe.
 *
 * A worker's row, on the coordinator's clock from the step's start:
 *
 *   idle | to worker | decode | compute | encode | send | to coordinator | wait
 *   0    sentMs                                           arrivedMs        stepMs
 *
 * The worker's own durations (decode, compute; encode and send as its next gradient reports
 * them) are measured on its clock; what the round trip holds beyond them is the network both
 * ways plus frame handling at the coordinator, split evenly between "to worker" and "to
 * coordinator". NOTE: an even split is an assumption (the two clocks are not synchronised);
 * each half's width, not where the line between them falls, is what the trace can vouch for.
 */
import type { TimingRecord, WorkerStepTiming } from './protocol/records.js';

export const WORKER_SEGMENTS = ['idle', 'to worker', 'decode', 'compute', 'encode', 'send', 'to coordinator', 'wait'] as const;
export type WorkerSegmentName = (typeof WORKER_SEGMENTS)[number];
export const COORDINATOR_SEGMENTS = ['wait for answers', 'sum', 'optimizer', 'publish'] as const;
export type CoordinatorSegmentName = (typeof COORDINATOR_SEGMENTS)[number];

export interface Segment<Name extends string> {
  readonly name: Name;
  /** ms from the step's start. */
  readonly startMs: number;
  readonly durationMs: number;
}

/** The coordinator's phases of a step, back to back from 0 (they add up to stepMs). */
export function coordinatorSegments(record: TimingRecord): Segment<CoordinatorSegmentName>[] {
  const durations: readonly [CoordinatorSegmentName, number][] = [
    ['wait for answers', record.waitMs],
    ['sum', record.sumMs],
    ['optimizer', record.optimizerMs],
    ['publish', record.publishMs],
  ];
  let at = 0;
  return durations.map(([name, durationMs]) => {
    const segment = { name, startMs: at, durationMs };
    at += durationMs;
    return segment;
  });
}

/** The ids of the workers that answered in `record`, ascending. */
export function workersOf(record: TimingRecord): number[] {
  return [...new Set(record.workers.map((entry) => entry.workerId))].sort((a, b) => a - b);
}

/**
 * Worker `workerId`'s row in step `record`: its answers (a reassigned slice makes two) with
 * idle before each and wait after the last. `next` is the following step's record, whose
 * answers carry this step's encode and send times (0 when it is not known).
 */
export function workerSegments(record: TimingRecord, workerId: number, next: TimingRecord | null): Segment<WorkerSegmentName>[] {
  const answers = record.workers.filter((entry) => entry.workerId === workerId).sort((a, b) => a.sentMs - b.sentMs);
  const reported = next?.workers.find((entry) => entry.workerId === workerId)?.phases ?? null;
  const segments: Segment<WorkerSegmentName>[] = [];
  let at = 0;
  const push = (name: WorkerSegmentName, durationMs: number): void => {
    segments.push({ name, startMs: at, durationMs });
    at += durationMs;
  };
  answers.forEach((entry, i) => {
    const last = i === answers.length - 1;
    push('idle', Math.max(0, entry.sentMs - at));
    const roundTripMs = entry.arrivedMs - entry.sentMs;
    const encodeMs = last ? (reported?.previousEncodeMs ?? 0) : 0;
    // NOTE: the worker times a send until its socket confirms the write, which can come after
    // the bytes arrived here: the answer's arrival bounds it.
    const sendMs = last ? Math.min(reported?.previousSendMs ?? 0, Math.max(0, roundTripMs - entry.decodeMs - entry.computeMs - encodeMs)) : 0;
    // NOTE: clamped at 0, so a worker whose decode and compute exceed the round trip shows a row
    // longer than the step: the trace test's tolerance catches a worker clock that runs wrong.
    const transferMs = Math.max(0, roundTripMs - entry.decodeMs - entry.computeMs - encodeMs - sendMs);
    push('to worker', transferMs / 2);
    push('decode', entry.decodeMs);
    push('compute', entry.computeMs);
    push('encode', encodeMs);
    push('send', sendMs);
    push('to coordinator', transferMs / 2);
  });
  push('wait', Math.max(0, record.stepMs - at));
  return segments;
}

export interface StragglerScore {
  readonly workerId: number;
  /** Steps it answered in among those scored. */
  readonly steps: number;
  /** Its mean time per step: from its first slice sent to its last answer in (ms). */
  readonly meanStepMs: number;
  /** meanStepMs over the fastest worker's: 1 for the fastest, 2 for one that takes twice as long. */
  readonly score: number;
}

/** A worker's time in one step: its first slice sent to its last answer in. */
function workerStepMs(entries: readonly WorkerStepTiming[]): number {
  return Math.max(...entries.map((entry) => entry.arrivedMs)) - Math.min(...entries.map((entry) => entry.sentMs));
}

/**
 * Each worker's straggler score over `records` (e.g. the newest steps): its mean step time
 * against the fastest worker's. Sorted by score, the straggler last. A step is waited for by
 * its slowest answer, so the worker with the top score is the one the steps wait on.
 */
export function stragglerScores(records: readonly TimingRecord[]): StragglerScore[] {
  const sums = new Map<number, { total: number; steps: number }>();
  for (const record of records) {
    for (const workerId of workersOf(record)) {
      const entries = record.workers.filter((entry) => entry.workerId === workerId);
      const sum = sums.get(workerId) ?? { total: 0, steps: 0 };
      sum.total += workerStepMs(entries);
      sum.steps++;
      sums.set(workerId, sum);
    }
  }
  const means = [...sums].map(([workerId, { total, steps }]) => ({ workerId, steps, meanStepMs: total / steps }));
  const fastest = Math.min(...means.map((mean) => mean.meanStepMs));
  return means
    .map((mean) => ({ ...mean, score: fastest > 0 ? mean.meanStepMs / fastest : 1 }))
    .sort((a, b) => a.score - b.score || a.workerId - b.workerId);
}
