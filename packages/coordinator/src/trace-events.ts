/**
 * A run's timing records as a Chrome trace (the Trace Event Format that Perfetto and
 * chrome://tracing open): one process for the run, a track (thread) for the coordinator and
 * one per worker.
 *
 *   "M" metadata   process and track names, track order
 *   "X" complete   the coordinator's step and its phases (nested); each worker's segments
 *                  as core's timeline.ts lays them out (idle, to worker, decode, compute,
 *                  encode, send, to coordinator, wait)
 *   "i" instant    an arrival tick on a worker's track when its answer is in
 *   "C" counter    each worker's CPU % and RSS (MB), the step's time (ms)
 *
 * Times are microseconds from the first traced step's start (`ts`, `dur`). The straggler
 * (core's stragglerScores over every traced step) is named in each step's args and in
 * otherData.
 */
import { coordinatorSegments, stragglerScores, workerSegments, workersOf, type StragglerScore, type TimingRecord } from '@convoy/core';

/** One event of the Trace Event Format (only the fields Convoy writes). */
export interface TraceEvent {
  readonly name: string;
  readonly ph: 'X' | 'i' | 'C' | 'M';
  readonly pid: number;
  readonly tid: number;
  readonly ts?: number;
  readonly dur?: number;
  readonly cat?: string;
  /** Instant events: their scope ('t': the track). */
  readonly s?: 't';
  readonly args?: Readonly<Record<string, unknown>>;
}

export interface ChromeTrace {
  readonly traceEvents: TraceEvent[];
  readonly displayTimeUnit: 'ms';
  readonly otherData: {
    readonly run: string;
    readonly steps: number;
    readonly workers: number[];
    /** Scores of every worker, the straggler last (null when no worker answered). */
    readonly stragglers: StragglerScore[];
    readonly straggler: StragglerScore | null;
  };
}

/** The single process of the trace; the coordinator's track is tid 0, worker N's is tid N. */
const PID = 1;
const COORDINATOR_TID = 0;

/** The records by step, the last of each step kept (a resumed run appends the steps it repeats), in step order. */
export function latestPerStep(records: readonly TimingRecord[]): TimingRecord[] {
  const byStep = new Map<number, TimingRecord>();
  for (const record of records) byStep.set(record.step, record);
  return [...byStep.values()].sort((a, b) => a.step - b.step);
}

const microseconds = (ms: number): number => Math.round(ms * 1000 * 1000) / 1000;

export function chromeTrace(runName: string, all: readonly TimingRecord[]): ChromeTrace {
  const records = latestPerStep(all);
  const origin = records[0]?.startTime ?? 0;
  const workers = [...new Set(records.flatMap((record) => workersOf(record)))].sort((a, b) => a - b);
  const stragglers = stragglerScores(records);
  const straggler = stragglers.length > 1 ? stragglers.at(-1)! : null;
  const events: TraceEvent[] = [
    { name: 'process_name', ph: 'M', pid: PID, tid: COORDINATOR_TID, args: { name: `convoy run ${runName}` } },
    { name: 'thread_name', ph: 'M', pid: PID, tid: COORDINATOR_TID, args: { name: 'coordinator' } },
    { name: 'thread_sort_index', ph: 'M', pid: PID, tid: COORDINATOR_TID, args: { sort_index: 0 } },
  ];
  for (const workerId of workers) {
    events.push({ name: 'thread_name', ph: 'M', pid: PID, tid: workerId, args: { name: `worker ${workerId}` } });
    events.push({ name: 'thread_sort_index', ph: 'M', pid: PID, tid: workerId, args: { sort_index: workerId } });
  }
  records.forEach((record, i) => {
    const start = record.startTime - origin;
    const at = (ms: number): number => microseconds(start + ms);
    // NOTE: every slice is cut at rounded boundaries (its end is the next one's start), and the
    // coordinator's phases end within the step: Perfetto drops slices that do not nest.
    const stepEnd = at(record.stepMs);
    const slice = (startMs: number, durationMs: number, end = Infinity) => {
      const ts = at(startMs);
      return { ts, dur: Math.max(0, Math.min(end, at(startMs + durationMs)) - ts) };
    };
    const slowest = [...record.workers].sort((a, b) => b.arrivedMs - a.arrivedMs)[0];
    events.push({
      name: `step ${record.step}`,
      cat: 'step',
      ph: 'X',
      pid: PID,
      tid: COORDINATOR_TID,
      ...slice(0, record.stepMs),
      args: { step: record.step, workers: record.workers.length, lastAnswerFrom: slowest === undefined ? null : `worker ${slowest.workerId}` },
    });
    for (const segment of coordinatorSegments(record)) {
      events.push({ name: segment.name, cat: 'coordinator', ph: 'X', pid: PID, tid: COORDINATOR_TID, ...slice(segment.startMs, segment.durationMs, stepEnd), args: { step: record.step } });
    }
    events.push({ name: 'step ms', ph: 'C', pid: PID, tid: COORDINATOR_TID, ts: at(0), args: { step: record.step, ms: record.stepMs } });
    const next = records[i + 1]?.step === record.step + 1 ? records[i + 1]! : null;
    for (const workerId of workersOf(record)) {
      for (const segment of workerSegments(record, workerId, next)) {
        if (segment.durationMs <= 0) continue;
        events.push({ name: segment.name, cat: 'worker', ph: 'X', pid: PID, tid: workerId, ...slice(segment.startMs, segment.durationMs), args: { step: record.step } });
      }
    }
    const cpu: Record<string, number> = {};
    const rss: Record<string, number> = {};
    for (const entry of record.workers) {
      events.push({ name: 'arrival', cat: 'arrival', ph: 'i', s: 't', pid: PID, tid: entry.workerId, ts: at(entry.arrivedMs), args: { step: record.step, images: entry.images } });
      if (entry.phases === null) continue;
      cpu[`worker ${entry.workerId}`] = Math.round(entry.phases.cpuPercent * 10) / 10;
      rss[`worker ${entry.workerId}`] = Math.round(entry.phases.rssBytes / 1e5) / 10;
    }
    if (Object.keys(cpu).length > 0) {
      events.push({ name: 'worker CPU %', ph: 'C', pid: PID, tid: COORDINATOR_TID, ts: at(0), args: cpu });
      events.push({ name: 'worker RSS MB', ph: 'C', pid: PID, tid: COORDINATOR_TID, ts: at(0), args: rss });
    }
  });
  return { traceEvents: events, displayTimeUnit: 'ms', otherData: { run: runName, steps: records.length, workers, stragglers, straggler } };
}
